/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the OnCalendar= reader (calendar.h). Normalized forms and
 * elapses are literal tables: the forms are what `systemd-analyze calendar`
 * (systemd 252) printed for the same text, the elapses were worked out by
 * hand (weekdays, month lengths, DST dates in the comments) and agree with
 * systemd-analyze; t0028 compares many more against systemd itself.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chronofs/calendar.h"
#include "chronofs/util.h"

static void set_tz(const char *tz)
{
	cr_assert_eq(setenv("TZ", tz, 1), 0);
	tzset();
}

static void setup_utc(void)
{
	set_tz("UTC");
}

TestSuite(calendar, .init = setup_utc);

/* Tables are parameterized by index, not by case: Criterion copies the
 * parameters to the test's process, pointers and all (test-policy too). */
#define INDEX_PARAMS(test, table)                                             \
	ParameterizedTestParameters(calendar, test)                           \
	{                                                                     \
		static size_t index[ARRAY_SIZE(table)];                       \
		for (size_t i = 0; i < ARRAY_SIZE(table); i++)                \
			index[i] = i;                                         \
		return cr_make_param_array(size_t, index, ARRAY_SIZE(index)); \
	}

static int64_t at(const char *utc)
{
	int64_t ns;
	cr_assert_eq(cfs_time_parse(utc, &ns), 0, "bad test time %s", utc);
	return ns;
}

static char *fmt_ns(int64_t ns)
{
	static char buf[4][64];
	static int k;
	char *b = buf[k++ % 4];
	cr_assert_eq(cfs_time_format(ns, b, 64), 0);
	if (ns % 1000000000) {
		size_t l = strlen(b);
		snprintf(b + l - 1, 64 - (l - 1), ".%06dZ", (int)(ns % 1000000000 / 1000));
	}
	return b;
}

/* ---- parse + format ---- */

struct form_case {
	const char *in, *out;
};

static const struct form_case forms[] = {
	{ "minutely", "*-*-* *:*:00" },
	{ "hourly", "*-*-* *:00:00" },
	{ "daily", "*-*-* 00:00:00" },
	{ "DAILY", "*-*-* 00:00:00" },
	{ "weekly", "Mon *-*-* 00:00:00" },
	{ "monthly", "*-*-01 00:00:00" },
	{ "yearly", "*-01-01 00:00:00" },
	{ "annually", "*-01-01 00:00:00" },
	{ "quarterly", "*-01,04,07,10-01 00:00:00" },
	{ "semiannually", "*-01,07-01 00:00:00" },
	{ "Mon..Fri *-*-* 00/6:00", "Mon..Fri *-*-* 00/6:00:00" },
	{ "*-*-* 00/6:00:00", "*-*-* 00/6:00:00" },
	{ "*:0/15", "*-*-* *:00/15:00" },
	{ "Sat,Sun 12:00", "Sat,Sun *-*-* 12:00:00" },
	{ "Monday,Wednesday..Friday 08:30", "Mon,Wed..Fri *-*-* 08:30:00" },
	{ "Mon-Wed 3:4", "Mon..Wed *-*-* 03:04:00" },
	{ "Sat,Mon,Tue,Wed,Sun 1:00", "Mon..Wed,Sat,Sun *-*-* 01:00:00" },
	{ "Mon,Tue,Wed,Thu,Fri,Sat,Sun", "*-*-* 00:00:00" },
	{ "fri *-*-13", "Fri *-*-13 00:00:00" },
	{ "27..30-01-01", "2027..2030-01-01 00:00:00" },
	{ "*-1,4,7,10-1", "*-01,04,07,10-01 00:00:00" },
	{ "*-*-1,15,1 6,18:00", "*-*-01,15 06,18:00:00" },
	{ "*-*~01", "*-*~01 00:00:00" },
	{ "*-*~07/1 12:00", "*-*~07/1 12:00:00" },
	{ "*-*~1,2,3,4,5,6,7", "*-*~01,02,03,04,05,06,07 00:00:00" },
	{ "*-*~1,2,20", "*-*~01,02,20 00:00:00" },
	{ "*-*-* *:*:*", "*-*-* *:*:*" },
	{ "*:0:1.25/30", "*-*-* *:00:01.250000/30" },
	{ "*-*-* 00:00:00.5", "*-*-* 00:00:00.500000" },
	{ "*-*-* 12:00:00.1234567", "*-*-* 12:00:00.123457" },
	{ "2027..2199/50-1-1", "2027..2177/50-01-01 00:00:00" },
	{ "0..10/3:00", "*-*-* 00..09/3:00:00" },
	{ "5..5:00", "*-*-* 05:00:00" },
	{ "*-*-* 1..5:0/20", "*-*-* 01..05:00/20:00" },
	{ "@1800000000", "2027-01-15 08:00:00 UTC" },
	{ "Sat,Sun 12:00 Europe/Berlin", "Sat,Sun *-*-* 12:00:00 Europe/Berlin" },
	{ "10:00 utc", "*-*-* 10:00:00 UTC" },
	{ "daily Etc/UTC", "*-*-* 00:00:00 Etc/UTC" },
};

INDEX_PARAMS(format, forms)

ParameterizedTest(size_t *idx, calendar, format)
{
	const struct form_case *tc = &forms[*idx];
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *c = NULL, *again = NULL;
	_cleanup_free_ char *s = NULL, *s2 = NULL;

	cr_assert_eq(cfs_calendar_parse(tc->in, &c), 0, "parse '%s'", tc->in);
	cr_assert_eq(cfs_calendar_format(c, &s), 0);
	cr_expect_str_eq(s, tc->out, "'%s' normalized to '%s', not '%s'", tc->in, s, tc->out);
	/* The normalized form reads back as itself. */
	cr_assert_eq(cfs_calendar_parse(s, &again), 0, "parse normalized '%s'", s);
	cr_assert_eq(cfs_calendar_format(again, &s2), 0);
	cr_expect_str_eq(s2, s);
}

/* ---- errors ---- */

static const char *const bad[] = {
	"", " daily", "daily ", "Mon..", "Mon.. Fri", "Fri..Mon", "Mon,Wed,,Fri", "Mond",
	"xyz", "*-13-01", "*-00-01", "*-*-32", "*-*-00", "25:00", "12:60", "12:00:60",
	"*-*-* 00/24:00", "*:0/0", "*:*/5", "*-*~29", "12:00:00..00.5", "2200-01-01",
	"1969-12-31", "12:00 Nowhere/Zone", "12:00 ../etc/passwd", "12:00 /etc/localtime",
	"12:00 Europe//Berlin", "12:00 Europe/", "12", "12:", ":00", "*-*-*-* 00:00",
	"2026-01-01T00:00", "@", "@-5", "@99999999999", "1:2:3:4", "Mon..Fri..Sun",
	"99999999999:00", "12:00:00.", "*-*-* 12:00 UTC UTC", "daily\n",
	/* systemd's shrinking bound for '~' lists (calendar.c, chain_valid) */
	"*-03~07,26", "*-*~1,2,3,4,5,6,7,8",
};

INDEX_PARAMS(invalid, bad)

ParameterizedTest(size_t *idx, calendar, invalid)
{
	const char *const *in = &bad[*idx];
	struct cfs_calendar *c = (void *)0x1;
	cr_expect_eq(cfs_calendar_parse(*in, &c), -EINVAL, "'%s' accepted", *in);
	cr_expect_eq(c, (void *)0x1, "written on failure");
}

Test(calendar, limits)
{
	struct cfs_calendar *c = NULL;
	char buf[8192];

	/* 241 items in one list are fine, the 242nd is refused, as systemd. */
	for (int items = 241; items <= 242; items++) {
		size_t n = 0;
		for (int i = 0; i < items; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? "," : "", i % 24);
		snprintf(buf + n, sizeof(buf) - n, ":00");
		cr_assert_eq(cfs_calendar_parse(buf, &c), items == 241 ? 0 : -EINVAL, "%d items", items);
		c = cfs_calendar_free(c);
	}

	/* Text longer than 4096 bytes is refused without being read to its end. */
	memset(buf, ',', sizeof(buf) - 1);
	memcpy(buf, "Mon", 3);
	buf[sizeof(buf) - 1] = 0;
	cr_assert_eq(cfs_calendar_parse(buf, &c), -EINVAL);
	cr_assert_null(cfs_calendar_free(NULL));
}

/* ---- next elapses ---- */

struct next_case {
	const char *tz, *expr, *after;
	const char *want[5]; /* NULL-terminated early when fewer; "never": -ENOENT */
};

static const struct next_case nexts[] = {
	/* Sat 2026-03-28 12:00Z. */
	{ "UTC", "*-*-* 00/6:00:00", "2026-03-28T12:00:00Z",
	  { "2026-03-28T18:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T06:00:00Z" } },
	{ "UTC", "Mon..Fri *-*-* 00/6:00", "2026-03-28T12:00:00Z",
	  { "2026-03-30T00:00:00Z", "2026-03-30T06:00:00Z", "2026-03-30T12:00:00Z" } },
	{ "UTC", "weekly", "2026-03-28T12:00:00Z", { "2026-03-30T00:00:00Z", "2026-04-06T00:00:00Z" } },
	/* Strictly after: at 13:00:00 exactly the next is 14:00. */
	{ "UTC", "hourly", "2026-03-28T13:00:00Z", { "2026-03-28T14:00:00Z", "2026-03-28T15:00:00Z" } },
	{ "UTC", "*:0/15", "2026-03-28T12:59:59Z", { "2026-03-28T13:00:00Z", "2026-03-28T13:15:00Z" } },
	{ "UTC", "monthly", "2026-12-31T23:59:59Z", { "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z" } },
	/* Leap years: 2028 and 2032, not 2100 (not a leap year) — 2096 then 2104. */
	{ "UTC", "*-02-29 12:00", "2026-03-01T00:00:00Z",
	  { "2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z", "2036-02-29T12:00:00Z" } },
	{ "UTC", "*-02-29 12:00", "2096-03-01T00:00:00Z", { "2104-02-29T12:00:00Z" } },
	/* Last day of the month: Feb 29 in 2028, Mar 31, Apr 30. */
	{ "UTC", "*-*~01", "2028-02-01T00:00:00Z",
	  { "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z", "2028-04-30T00:00:00Z" } },
	/* Third last day of February: 26 (2027), 27 (2028). */
	{ "UTC", "*-02~03", "2027-01-01T00:00:00Z", { "2027-02-26T00:00:00Z", "2028-02-27T00:00:00Z" } },
	/* The 31st only in months that have one. */
	{ "UTC", "*-*-31", "2026-03-31T00:00:00Z",
	  { "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z" } },
	/* Friday the 13th: 2026-11-13, 2027-08-13. */
	{ "UTC", "Fri *-*-13", "2026-03-28T00:00:00Z", { "2026-11-13T00:00:00Z", "2027-08-13T00:00:00Z" } },
	{ "UTC", "*-*-* 00:00:00.5", "2026-03-28T12:00:00Z", { "2026-03-29T00:00:00.500000Z" } },
	{ "UTC", "27..30-01-01", "2029-06-01T00:00:00Z", { "2030-01-01T00:00:00Z", "never" } },
	/* Never: no Feb 30, April 31, a year gone, an instant gone. */
	{ "UTC", "*-02-30", "2026-01-01T00:00:00Z", { "never" } },
	{ "UTC", "*-04-31 12:00", "2026-01-01T00:00:00Z", { "never" } },
	{ "UTC", "2019-*-* 00:00", "2026-01-01T00:00:00Z", { "never" } },
	{ "UTC", "@1800000000", "2027-01-15T08:00:00Z", { "never" } },
	{ "UTC", "@1800000000", "2027-01-15T07:59:59Z", { "2027-01-15T08:00:00Z", "never" } },
	/* Berlin, spring forward Sun 2026-03-29 02:00 CET → 03:00 CEST: 02:30
	 * does not exist that day; 03:30 CEST is 01:30Z. */
	{ "Europe/Berlin", "*-*-* 02:30", "2026-03-28T12:00:00Z",
	  { "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z" } },
	{ "Europe/Berlin", "*:30", "2026-03-29T00:00:00Z",
	  { "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z" } },
	{ "Europe/Berlin", "daily", "2026-03-28T12:00:00Z",
	  { "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z" } },
	/* Fall back Sun 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens at
	 * 00:30Z (CEST) and 01:30Z (CET); a walk from summer takes the first
	 * only, one from the repeated hour the second. */
	{ "Europe/Berlin", "*-*-* 02:30", "2026-10-24T12:00:00Z",
	  { "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z" } },
	{ "Europe/Berlin", "*-*-* 02:30", "2026-10-25T01:10:00Z",
	  { "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z" } },
	{ "Europe/Berlin", "*:0/20", "2026-10-25T00:10:00Z",
	  { "2026-10-25T00:20:00Z", "2026-10-25T00:40:00Z", "2026-10-25T02:00:00Z" } },
	/* systemd's quirks, kept: hour 30 (0/10 after 22:00) normalizes to
	 * 06:00 CET of the 25th, cut to 00:00 with CET kept, which is 01:00
	 * CEST: 00:23 is skipped, the next is 07:23 CET (06:23Z). And
	 * "*-4/6-23" from October loops (April of the next year read as
	 * summer time in January) until the step limit: none. */
	{ "Europe/Berlin", "0/10,7,21:23", "2026-10-24T12:00:00Z",
	  { "2026-10-24T18:23:00Z", "2026-10-24T19:23:00Z", "2026-10-25T06:23:00Z" } },
	{ "Europe/Berlin", "*-4/6-23", "2026-10-24T12:00:00Z", { "never" } },
	{ "UTC", "*-4/6-23", "2026-10-24T12:00:00Z", { "2027-04-23T00:00:00Z", "2027-10-23T00:00:00Z" } },
	/* A named zone does not care about TZ. */
	{ "UTC", "Sat,Sun 12:00 Europe/Berlin", "2026-03-28T12:00:00Z",
	  { "2026-03-29T10:00:00Z", "2026-04-04T10:00:00Z" } },
	{ "America/New_York", "Sat,Sun 12:00 Europe/Berlin", "2026-03-28T12:00:00Z",
	  { "2026-03-29T10:00:00Z", "2026-04-04T10:00:00Z" } },
	/* Past the last transition of the file: the footer's POSIX rule
	 * (Sunday 2190-03-28 is the last Sunday of March: CEST from then). */
	{ "UTC", "*-03-27 12:00 Europe/Berlin", "2190-01-01T00:00:00Z", { "2190-03-27T11:00:00Z" } },
	{ "UTC", "*-03-29 12:00 Europe/Berlin", "2190-01-01T00:00:00Z", { "2190-03-29T10:00:00Z" } },
	/* Explicit UTC under a local zone. */
	{ "Europe/Berlin", "10:00 UTC", "2026-07-01T00:00:00Z", { "2026-07-01T10:00:00Z" } },
	{ "Europe/Berlin", "10:00", "2026-07-01T00:00:00Z", { "2026-07-01T08:00:00Z" } },
};

INDEX_PARAMS(next, nexts)

ParameterizedTest(size_t *idx, calendar, next)
{
	const struct next_case *tc = &nexts[*idx];
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *c = NULL;
	int64_t t = at(tc->after);

	set_tz(tc->tz);
	cr_assert_eq(cfs_calendar_parse(tc->expr, &c), 0, "parse '%s'", tc->expr);
	for (size_t i = 0; i < 5 && tc->want[i]; i++) {
		int64_t got = 7;
		int r = cfs_calendar_next(c, t, &got);
		if (strcmp(tc->want[i], "never") == 0) {
			cr_expect_eq(r, -ENOENT, "'%s' TZ=%s after %s: %s, not never", tc->expr, tc->tz,
				     fmt_ns(t), r == 0 ? fmt_ns(got) : strerror(-r));
			cr_expect_eq(got, 7, "written on failure");
			return;
		}
		cr_assert_eq(r, 0, "'%s' TZ=%s after %s: %s", tc->expr, tc->tz, fmt_ns(t), strerror(-r));
		cr_expect_str_eq(fmt_ns(got), tc->want[i], "'%s' TZ=%s elapse %zu after %s", tc->expr,
				 tc->tz, i + 1, fmt_ns(t));
		t = got;
	}
}

/* Sub-second `after`: the elapse is strictly after it, on whole µs. */
Test(calendar, fractions)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *c = NULL;
	int64_t t;

	cr_assert_eq(cfs_calendar_parse("*:*:*", &c), 0);
	cr_assert_eq(cfs_calendar_next(c, at("2026-03-28T12:00:00Z") - 1, &t), 0);
	cr_expect_eq(t, at("2026-03-28T12:00:00Z"));
	cr_assert_eq(cfs_calendar_next(c, at("2026-03-28T12:00:00Z"), &t), 0);
	cr_expect_eq(t, at("2026-03-28T12:00:01Z"));
	cr_assert_eq(cfs_calendar_next(c, at("2026-03-28T12:00:00Z") + 999999999, &t), 0);
	cr_expect_eq(t, at("2026-03-28T12:00:01Z"));
	/* Before 1970 too (years below 1970 only in the search, never in a
	 * component). */
	cr_assert_eq(cfs_calendar_next(c, -1500, &t), 0);
	cr_expect_eq(t, 0);
}

/* Every day of a DST year in Berlin, against the offsets glibc gives: the
 * local 12:00 of each day is 11:00Z in winter and 10:00Z in summer, and
 * consecutive elapses are 23, 24 or 25 hours apart. */
Test(calendar, dst_year)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *local = NULL, *named = NULL;
	int64_t t = at("2026-01-01T00:00:00Z"), tn = t;

	set_tz("Europe/Berlin");
	cr_assert_eq(cfs_calendar_parse("*-*-* 02:30", &local), 0);
	cr_assert_eq(cfs_calendar_parse("*-*-* 02:30 Europe/Berlin", &named), 0);
	for (int day = 0; day < 364; day++) {
		int64_t prev = t;
		cr_assert_eq(cfs_calendar_next(local, t, &t), 0);
		cr_assert_eq(cfs_calendar_next(named, tn, &tn), 0);
		cr_assert_eq(t, tn, "local and named differ at %s / %s", fmt_ns(t), fmt_ns(tn));
		time_t s = (time_t)(t / 1000000000);
		struct tm tm;
		cr_assert_not_null(localtime_r(&s, &tm));
		cr_assert_eq(tm.tm_hour * 60 + tm.tm_min, 2 * 60 + 30, "%s is not 02:30 local", fmt_ns(t));
		int64_t gap = (t - prev) / (3600 * INT64_C(1000000000));
		if (day > 0)
			cr_assert(gap == 23 || gap == 24 || gap == 25 || gap == 47, "gap %" PRId64 " h at %s",
				  gap, fmt_ns(t));
	}
}

Test(calendar, unknown_zone_is_text)
{
	struct cfs_calendar *c = NULL;
	/* Not a zone: read as part of the expression, which then fails. */
	cr_expect_eq(cfs_calendar_parse("12:00 Mars/Olympus", &c), -EINVAL);
	/* A directory under zoneinfo is not a zone either. */
	cr_expect_eq(cfs_calendar_parse("12:00 Europe", &c), -EINVAL);
	cr_expect_null(c);
}

#ifdef CFS_ALLOC_FAILURE
#include "chronofs/fault.h"

/* Every allocation of a parse (a named zone: the file, its tables, the
 * lists) and of a format fails in turn: -ENOMEM, nothing written; the first
 * count no failure reaches succeeds. */
Test(calendar, every_allocation_failure)
{
	unsigned long failed = 0;

	for (unsigned long n = 1;; n++) {
		struct cfs_calendar *c = (void *)1;
		char *s = (void *)1;
		cfs_alloc_fail_arm(n, false);
		int r = cfs_calendar_parse("Mon..Fri,Sun *-*~01,3 0/6:0,30 Europe/Berlin", &c);
		int rf = r == 0 ? cfs_calendar_format(c, &s) : 0;
		unsigned long injected = cfs_alloc_fail_injected();
		cfs_alloc_fail_arm(0, false);
		if (!injected) {
			cr_assert_eq(r, 0);
			cr_assert_eq(rf, 0);
			cr_assert_str_eq(s, "Mon..Fri,Sun *-*~01,03 00/6:00,30:00 Europe/Berlin");
			free(s);
			cfs_calendar_free(c);
			break;
		}
		if (r == 0) {
			cr_assert_eq(rf, -ENOMEM, "allocation %lu: %d", n, rf);
			cr_assert_eq(s, (void *)1);
			cfs_calendar_free(c);
		} else {
			cr_assert_eq(r, -ENOMEM, "allocation %lu: %d", n, r);
			cr_assert_eq(c, (void *)1);
		}
		failed++;
	}
	cr_assert(failed >= 8, "%lu", failed);
}
#endif
