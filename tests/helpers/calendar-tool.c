/* SPDX-License-Identifier: MIT */
/*
 * calendar-tool — cfs_calendar_parse/format/next on the command line, for
 * the differential test against `systemd-analyze calendar`
 * (tests/integration/t0028-calendar-systemd.sh).
 *
 * Usage:
 *   calendar-tool BASE N EXPR...
 *
 * BASE is seconds since the epoch ("@SECONDS" also accepted, as
 * systemd-analyze's --base-time takes it); for each EXPR, in order:
 *
 *   Normalized form: FORM
 *   Next elapse: SECONDS[.USEC]          (or "Next elapse: never")
 *   Iter. #2: SECONDS[.USEC]             ... up to N elapses
 *
 * (as systemd-analyze, "never" only for the first: the list just ends)
 * or "invalid: EXPR" when it does not parse. Each elapse is searched after
 * the previous one, as systemd-analyze does. Exit status: 0 when every EXPR
 * parsed, 1 when one did not, 2 on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/calendar.h"

int main(int argc, char **argv)
{
	char *end;
	int status = 0;

	if (argc < 4) {
		fputs("usage: calendar-tool BASE N EXPR...\n", stdout);
		return 2;
	}
	const char *b = argv[1][0] == '@' ? argv[1] + 1 : argv[1];
	errno = 0;
	long long base = strtoll(b, &end, 10);
	long n = strtol(argv[2], NULL, 10);
	if (errno || *end || n < 1 || n > 1000) {
		fputs("calendar-tool: bad BASE or N\n", stdout);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		_cleanup_(cfs_calendar_freep) struct cfs_calendar *c = NULL;
		_cleanup_free_ char *form = NULL;
		int64_t t = (int64_t)base * 1000000000;

		if (cfs_calendar_parse(argv[i], &c) < 0) {
			printf("invalid: %s\n", argv[i]);
			status = 1;
			continue;
		}
		if (cfs_calendar_format(c, &form) < 0)
			return 2;
		printf("Normalized form: %s\n", form);
		for (long k = 0; k < n; k++) {
			int r = cfs_calendar_next(c, t, &t);
			if (r == -ENOENT && k > 0)
				break;
			if (k == 0)
				printf("Next elapse: ");
			else
				printf("Iter. #%ld: ", k + 1);
			if (r == -ENOENT) {
				printf("never\n");
				break;
			}
			if (r < 0) {
				printf("error %d\n", r);
				return 2;
			}
			int64_t us = t / 1000;
			if (us % 1000000)
				printf("%" PRId64 ".%06" PRId64 "\n", us / 1000000, us % 1000000);
			else
				printf("%" PRId64 "\n", us / 1000000);
		}
	}
	return status;
}
