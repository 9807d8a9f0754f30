/* SPDX-License-Identifier: MIT */
/*
 * fuzz-time.c — cfs_time_parse() and cfs_time_parse_as_of() on arbitrary
 * text (names looked up in the mount's root come from any user).
 *
 * Invariants: only 0 or the documented errors; nothing is written on
 * failure; every time the strict parser accepts, the as-of parser accepts
 * too, as the end of the same second (or fraction); a time without an
 * offset is the same instant in UTC and, with TZ=UTC, as local time;
 * relative forms are accepted only with CFS_TIME_RELATIVE.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/util.h"
#include "fuzz.h"

#define NOW (INT64_C(1796558400) * 1000000000 + 250000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool tz_set;
	char s[128];
	int64_t strict = 7, utc = 7, local = 7, rel = 7;

	if (!tz_set) {
		setenv("TZ", "UTC", 1);
		tzset();
		tz_set = true;
	}
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;

	int rs = cfs_time_parse(s, &strict);
	int ru = cfs_time_parse_as_of(s, 0, NOW, &utc);
	int rl = cfs_time_parse_as_of(s, CFS_TIME_LOCAL, NOW, &local);
	int rr = cfs_time_parse_as_of(s, CFS_TIME_LOCAL | CFS_TIME_RELATIVE, NOW, &rel);
	FUZZ_CHECK(rs == 0 || rs == -EINVAL || rs == -ERANGE);
	FUZZ_CHECK(ru == 0 || ru == -EINVAL);
	FUZZ_CHECK(rl == ru);
	FUZZ_CHECK(rs == 0 || strict == 7);
	FUZZ_CHECK(ru == 0 || (utc == 7 && local == 7));
	FUZZ_CHECK(rr == 0 || rel == 7);
	if (rs == 0) {
		FUZZ_CHECK(ru == 0);
		FUZZ_CHECK(utc >= strict && utc - strict < 1000000000);
	}
	if (ru == 0) {
		FUZZ_CHECK(local == utc);
		FUZZ_CHECK(rr == 0 && rel == utc);
	}
	return 0;
}
