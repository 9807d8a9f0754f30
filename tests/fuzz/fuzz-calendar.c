/* SPDX-License-Identifier: MIT */
/*
 * fuzz-calendar.c — cfs_calendar_parse() on arbitrary text (schedules come
 * from configuration files), and the TZif reader behind named zones on
 * arbitrary bytes (inputs starting with "TZif").
 *
 * Invariants: only 0, -EINVAL (or -ENOMEM) from the parser, nothing
 * written on failure; an accepted expression's normalized form parses
 * again to the same form; the elapses after a few fixed instants are
 * strictly after them and strictly increasing, or -ENOENT; a TZif file
 * either fails or gives offsets within ±26 h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/calendar-internal.h"
#include "chronofs/calendar.h"
#include "fuzz.h"

#define NS INT64_C(1000000000)

static void check_tzif(const uint8_t *data, size_t size)
{
	static const int64_t t[] = { INT64_MIN / NS, -1, 0, 1774747800, 2147483648, 6949969200,
				     INT64_MAX / NS };
	int32_t off[ARRAY_SIZE(t)];
	memset(off, 0x55, sizeof(off));
	int r = cfs_calendar_tzif_offsets(data, size, t, ARRAY_SIZE(t), off);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(t); i++)
		FUZZ_CHECK(off[i] >= -26 * 3600 && off[i] <= 26 * 3600);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool tz_set;
	static const int64_t from[] = { 0, INT64_C(1774699200) * NS, INT64_C(1792891800) * NS + 1,
					INT64_C(6949969200) * NS };
	char s[512];

	if (!tz_set) {
		/* Local time with DST, so the walk meets gaps and repeats. */
		setenv("TZ", "Europe/Berlin", 1);
		tzset();
		tz_set = true;
	}
	if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
		check_tzif(data, size);
		return 0;
	}
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;

	struct cfs_calendar *c = (void *)1;
	int r = cfs_calendar_parse(s, &c);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(c == (void *)1);
		return 0;
	}

	char *form = NULL, *form2 = NULL;
	struct cfs_calendar *again = NULL;
	if (cfs_calendar_format(c, &form) == 0) {
		r = cfs_calendar_parse(form, &again);
		FUZZ_CHECK(r == 0 || r == -ENOMEM);
		if (r == 0 && cfs_calendar_format(again, &form2) == 0)
			FUZZ_CHECK(strcmp(form, form2) == 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
		int64_t t = from[i];
		for (int k = 0; k < 3; k++) {
			int64_t e = 7;
			r = cfs_calendar_next(c, t, &e);
			FUZZ_CHECK(r == 0 || r == -ENOENT);
			if (r < 0) {
				FUZZ_CHECK(e == 7);
				break;
			}
			FUZZ_CHECK(e > t);
			/* Same answer from the normalized form. */
			if (again) {
				int64_t e2;
				FUZZ_CHECK(cfs_calendar_next(again, t, &e2) == 0 && e2 == e);
			}
			t = e;
		}
	}
	free(form);
	free(form2);
	cfs_calendar_free(again);
	cfs_calendar_free(c);
	return 0;
}
