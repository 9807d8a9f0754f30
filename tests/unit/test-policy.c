/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the retention rules (policy.h). Every expectation is a
 * hand-computed table written out literally (weekdays, ISO weeks and DST
 * offsets worked out in the comments), never derived by the code under
 * test. Times are given in UTC; tests that need local time set TZ.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chronofs/calendar.h"
#include "chronofs/policy.h"
#include "chronofs/snapshot.h"
#include "chronofs/util.h"

#define NS INT64_C(1000000000)
#define HOUR (3600 * NS)
#define DAY (24 * HOUR)
#define BERLIN "/usr/share/zoneinfo/Europe/Berlin"

/* Without tzset(): cfs_retention_apply() must follow TZ as it is at the
 * call, although the setup loaded UTC already. */
static void set_tz(const char *tz)
{
	cr_assert_eq(setenv("TZ", tz, 1), 0);
}

/* Every test starts in UTC; Criterion runs each in its own process, so a
 * test that changes TZ changes it for itself only. */
static void setup_utc(void)
{
	set_tz("UTC");
	tzset();
}

TestSuite(policy, .init = setup_utc);

static int64_t at(const char *utc)
{
	int64_t ns;
	cr_assert_eq(cfs_time_parse(utc, &ns), 0, "bad test time %s", utc);
	return ns;
}

/* The reasons as names in bit order, "" for none: tables compare strings,
 * so a failure shows both sides readably. */
static const char *reasons_str(unsigned reasons, char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned bit = 1; bit <= CFS_KEEP_HOLD; bit <<= 1) {
		if (!(reasons & bit))
			continue;
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s", l ? "," : "", cfs_keep_reason_name(bit));
	}
	return buf;
}

/* One snapshot of a table and what must become of it. */
struct row {
	const char *time;     /* UTC */
	const char *want;     /* reasons in bit order, "" = removed */
	size_t group;         /* the group it must get */
	const char *host;
	const char *paths[4]; /* NULL-terminated */
	const char *tags[4];
	bool held;
};

static size_t strv_len(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

/*
 * A realistic history: 2 snapshots a day (08:00 and 20:00 UTC) for the 60
 * days 2025-11-15 .. 2026-01-13 (16 + 31 + 13 days), 120 snapshots.
 * Calendar: 2026-01-01 is a Thursday, so ISO week 1 of 2026 is Mon
 * 2025-12-29 .. Sun 2026-01-04, week 2 is 01-05 .. 01-11, week 3 starts on
 * Mon 01-12 (01-13 is a Tuesday), and 2025-12-22 .. 12-28 is week 52 of
 * 2025.
 */
#define HISTORY_N 120
static void history(struct cfs_retention_item *items)
{
	int64_t day0 = at("2025-11-15T00:00:00Z");
	for (size_t i = 0; i < HISTORY_N; i++)
		items[i] = (struct cfs_retention_item){
			.time_ns = day0 + (int64_t)(i / 2) * DAY + (i % 2 ? 20 : 8) * HOUR,
			.host = "h",
		};
}

/* The history under one set of rules: the kept snapshots with their
 * reasons; all others must be removed. */
struct history_case {
	const char *name;
	struct cfs_keep_rules rules;
	const struct row *kept; /* only time and want are used */
	size_t n_kept;
};
#define HISTORY_CASE(name, kept, ...) {name, {__VA_ARGS__}, kept, ARRAY_SIZE(kept)}

static const struct row last_2[] = {
	{"2026-01-13T20:00:00Z", "last"},
	{"2026-01-13T08:00:00Z", "last"},
};
static const struct row hourly_3[] = {
	{"2026-01-13T20:00:00Z", "hourly"},
	{"2026-01-13T08:00:00Z", "hourly"},
	{"2026-01-12T20:00:00Z", "hourly"},
};
/* The evening one of each of the 7 newest days. */
static const struct row daily_7[] = {
	{"2026-01-13T20:00:00Z", "daily"}, {"2026-01-12T20:00:00Z", "daily"},
	{"2026-01-11T20:00:00Z", "daily"}, {"2026-01-10T20:00:00Z", "daily"},
	{"2026-01-09T20:00:00Z", "daily"}, {"2026-01-08T20:00:00Z", "daily"},
	{"2026-01-07T20:00:00Z", "daily"},
};
/* Weeks 2026-W03 (newest: Tue 01-13), W02 (Sun 01-11), W01 (Sun 01-04),
 * 2025-W52 (Sun 12-28): across the new year. */
static const struct row weekly_4[] = {
	{"2026-01-13T20:00:00Z", "weekly"},
	{"2026-01-11T20:00:00Z", "weekly"},
	{"2026-01-04T20:00:00Z", "weekly"},
	{"2025-12-28T20:00:00Z", "weekly"},
};
/* Three months have snapshots; two are asked for. */
static const struct row monthly_2[] = {
	{"2026-01-13T20:00:00Z", "monthly"},
	{"2025-12-31T20:00:00Z", "monthly"},
};
/* Five years asked for, two have snapshots. */
static const struct row yearly_5[] = {
	{"2026-01-13T20:00:00Z", "yearly"},
	{"2025-12-31T20:00:00Z", "yearly"},
};
/* Reasons OR'ed; within 36 h of the newest (01-13 20:00): from 01-12
 * 08:00 on. */
static const struct row combined[] = {
	{"2026-01-13T20:00:00Z", "last,daily,weekly,monthly,yearly,within"},
	{"2026-01-13T08:00:00Z", "within"},
	{"2026-01-12T20:00:00Z", "daily,within"},
	{"2026-01-12T08:00:00Z", "within"},
	{"2026-01-11T20:00:00Z", "daily,weekly"},
	{"2025-12-31T20:00:00Z", "monthly"},
	{"2025-11-30T20:00:00Z", "monthly"},
};
/* UINT_MAX: one per bucket, every bucket (3 months, 2 years). */
static const struct row unlimited[] = {
	{"2026-01-13T20:00:00Z", "monthly,yearly"},
	{"2025-12-31T20:00:00Z", "monthly,yearly"},
	{"2025-11-30T20:00:00Z", "monthly"},
};

static const struct history_case history_cases[] = {
	HISTORY_CASE("last 2", last_2, .last = 2),
	HISTORY_CASE("hourly 3", hourly_3, .hourly = 3),
	HISTORY_CASE("daily 7", daily_7, .daily = 7),
	HISTORY_CASE("weekly 4", weekly_4, .weekly = 4),
	HISTORY_CASE("monthly 2", monthly_2, .monthly = 2),
	HISTORY_CASE("yearly 5", yearly_5, .yearly = 5),
	HISTORY_CASE("combined", combined, .last = 1, .daily = 3, .weekly = 2, .monthly = 3, .yearly = 1,
		     .within_ns = 36 * HOUR),
	HISTORY_CASE("unlimited", unlimited, .monthly = UINT_MAX, .yearly = UINT_MAX),
};

/* Each case with the input oldest first and newest first. */
Test(policy, history)
{
	struct cfs_retention_item items[HISTORY_N], rev[HISTORY_N];
	struct cfs_retention_result res[HISTORY_N], rres[HISTORY_N];

	history(items);
	for (size_t i = 0; i < HISTORY_N; i++)
		rev[i] = items[HISTORY_N - 1 - i];
	for (size_t c = 0; c < ARRAY_SIZE(history_cases); c++) {
		const struct history_case *hc = &history_cases[c];
		size_t n_groups, found = 0;

		cr_assert_eq(cfs_retention_apply(&hc->rules, 0, items, HISTORY_N, res, &n_groups, NULL), 0);
		cr_assert_eq(n_groups, 1);
		cr_assert_eq(cfs_retention_apply(&hc->rules, 0, rev, HISTORY_N, rres, &n_groups, NULL), 0);
		for (size_t i = 0; i < HISTORY_N; i++) {
			char t[32], buf[128], rbuf[128];
			const char *want = "";
			cr_assert_eq(cfs_time_format(items[i].time_ns, t, sizeof(t)), 0);
			for (size_t k = 0; k < hc->n_kept; k++)
				if (strcmp(hc->kept[k].time, t) == 0) {
					want = hc->kept[k].want;
					found++;
				}
			cr_expect_str_eq(reasons_str(res[i].reasons, buf, sizeof(buf)), want, "%s: %s", hc->name, t);
			cr_expect_str_eq(reasons_str(rres[HISTORY_N - 1 - i].reasons, rbuf, sizeof(rbuf)), want,
					 "%s: %s (input newest first)", hc->name, t);
		}
		cr_assert_eq(found, hc->n_kept, "%s: a kept time of the table is not in the history", hc->name);
	}
}

/*
 * The tables. Each case: rules and grouping, the zone (NULL: UTC), rows
 * given in this order, the group count and which groups are emptied ("10":
 * group 0 emptied, group 1 not).
 */
struct table {
	const char *name;
	const char *tz;
	struct cfs_keep_rules rules;
	unsigned group_by;
	const struct row *rows;
	size_t n;
	size_t groups;
	const char *emptied;
};
#define ROWS(a) .rows = (a), .n = ARRAY_SIZE(a)
#define ONE_GROUP .groups = 1, .emptied = "0"

/* Given out of order: the newest three are 03-05, 03-04, 03-02. */
static const struct row keep_last[] = {
	{"2026-03-01T10:00:00Z", ""},
	{"2026-03-05T10:00:00Z", "last"},
	{"2026-03-02T10:00:00Z", "last"},
	{"2026-02-01T10:00:00Z", ""},
	{"2026-03-04T10:00:00Z", "last"},
};
/* More asked for than there are: everything. */
static const struct row keep_last_all[] = {
	{"2026-03-01T10:00:00Z", "last"},
	{"2026-03-05T10:00:00Z", "last"},
};

/*
 * 2021-01-01 is a Friday: 2020-12-28 (Mon) .. 2021-01-03 (Sun) is week 53
 * of 2020, 2021-01-04 (Mon) starts week 1 of 2021. 2009-01-01 is a
 * Thursday: 2008-12-29 (Mon) .. 2009-01-04 (Sun) is week 1 of 2009;
 * 2008-12-28 (Sun) is in week 52 of 2008. Yearly buckets are calendar
 * years, not ISO week-years.
 */
static const struct row iso_weeks[] = {
	{"2021-01-11T12:00:00Z", "weekly,yearly"}, /* 2021-W02 */
	{"2021-01-10T12:00:00Z", "weekly"},        /* 2021-W01 */
	{"2021-01-04T12:00:00Z", ""},              /* 2021-W01 */
	{"2021-01-03T12:00:00Z", "weekly"},        /* 2020-W53 */
	{"2020-12-31T12:00:00Z", "yearly"},        /* 2020-W53 */
	{"2020-12-28T12:00:00Z", ""},              /* 2020-W53 */
	{"2020-12-27T12:00:00Z", "weekly"},        /* 2020-W52 */
	{"2009-01-04T12:00:00Z", "weekly,yearly"}, /* 2009-W01 */
	{"2008-12-29T12:00:00Z", "yearly"},        /* 2009-W01 */
	{"2008-12-28T12:00:00Z", "weekly"},        /* 2008-W52 */
};

static const struct row leap_day[] = {
	{"2024-01-31T12:00:00Z", "daily,monthly"},
	{"2024-02-28T12:00:00Z", "daily"},
	{"2024-02-29T09:00:00Z", ""},
	{"2024-02-29T18:00:00Z", "daily,monthly"},
	{"2024-03-01T06:00:00Z", "daily,monthly"},
};

/* Rows 1 and 2 have the same time: both count, row 2 is the newer. */
static const struct row same_time[] = {
	{"2026-05-05T09:00:00Z", ""},
	{"2026-05-05T10:00:00Z", "last"},
	{"2026-05-05T10:00:00Z", "last,daily"},
	{"2026-05-04T10:00:00Z", "daily"},
};
static const struct row same_time_last_1[] = {
	{"2026-05-05T10:00:00Z", ""},
	{"2026-05-05T10:00:00Z", "last,hourly"},
};

/*
 * Europe/Berlin, autumn 2026: on Sun 10-25 at 03:00 CEST (UTC+2) clocks go
 * back to 02:00 CET (UTC+1), so 02:00-03:00 happens twice: 00:00-01:00 UTC
 * and 01:00-02:00 UTC. All four rows are on 10-25 local time.
 */
static const struct row berlin_autumn[] = {
	{"2026-10-24T23:30:00Z", "hourly"},       /* 01:30 CEST */
	{"2026-10-25T00:30:00Z", ""},             /* 02:30 CEST, first 02 */
	{"2026-10-25T01:30:00Z", "hourly"},       /* 02:30 CET, same hour bucket */
	{"2026-10-25T02:30:00Z", "hourly,daily"}, /* 03:30 CET */
};
/* The same instants in UTC: four hours, two days (10-24, 10-25). */
static const struct row berlin_autumn_in_utc[] = {
	{"2026-10-24T23:30:00Z", "hourly,daily"},
	{"2026-10-25T00:30:00Z", "hourly"},
	{"2026-10-25T01:30:00Z", "hourly"},
	{"2026-10-25T02:30:00Z", "hourly,daily"},
};

/*
 * Europe/Berlin, spring 2026: on Sun 03-29 at 02:00 CET (UTC+1) clocks
 * jump to 03:00 CEST (UTC+2); 02:00-03:00 has no instant and no bucket.
 * Day 03-29 runs from 03-28 23:00 UTC to 03-29 22:00 UTC, 23 hours.
 */
static const struct row berlin_spring[] = {
	{"2026-03-28T22:30:00Z", "hourly,daily"}, /* 03-28 23:30 CET */
	{"2026-03-28T23:30:00Z", "hourly"},       /* 03-29 00:30 CET */
	{"2026-03-29T00:59:59Z", "hourly"},       /* 03-29 01:59:59 CET */
	{"2026-03-29T01:00:00Z", ""},             /* 03-29 03:00:00 CEST, one second later */
	{"2026-03-29T01:30:00Z", "hourly"},       /* 03-29 03:30 CEST */
	{"2026-03-29T21:30:00Z", "hourly,daily"}, /* 03-29 23:30 CEST */
	{"2026-03-29T22:30:00Z", "hourly,daily"}, /* 03-30 00:30 CEST */
};

/*
 * A POSIX TZ (no zone file needed) whose DST (UTC+1) ends on the last
 * Sunday of October at 00:30 local DST time: on 2026-10-25 the clock reads
 * 00:00-00:30 of the 25th, then 23:30-24:00 of the 24th again, then the
 * 25th. Day 24 (and hour 24-23) is seen again after day 25 began: walking
 * newest first, the first day-25 snapshot finds the rule's last kept
 * bucket (day 24) older than its own and gets no second keeper. (In UTC,
 * 22:30 would be the keeper of hour 22.)
 */
#define SET_BACK_TZ "AAA0BBB,M3.5.0/1,M10.5.0/0:30"
static const struct row set_back[] = {
	{"2026-10-24T22:30:00Z", ""},             /* 10-24 23:30 DST */
	{"2026-10-24T23:10:00Z", ""},             /* 10-25 00:10 DST */
	{"2026-10-24T23:40:00Z", "hourly,daily"}, /* 10-24 23:40 standard */
	{"2026-10-25T00:10:00Z", "hourly,daily"}, /* 10-25 00:10 standard */
};

/* Long past, so "within 3 days of now" would keep nothing. Per group: host
 * a's newest is 06-10 12:00 (bound 06-07 12:00, inclusive), host b's is
 * 2020-01-01 00:00 (bound 2019-12-29 00:00). */
static const struct row within[] = {
	{"2020-06-10T12:00:00Z", "within", 0, "a"},
	{"2020-06-08T00:00:00Z", "within", 0, "a"},
	{"2020-06-07T12:00:00Z", "within", 0, "a"},
	{"2020-06-07T11:59:59Z", "", 0, "a"},
	{"2020-05-01T00:00:00Z", "", 0, "a"},
	{"2019-12-29T00:00:00Z", "within", 1, "b"},
	{"2020-01-01T00:00:00Z", "within", 1, "b"},
	{"2019-12-28T23:00:00Z", "", 1, "b"},
};
/* 1678 to 2262: the age does not fit int64 ns, so it is not within. */
static const struct row within_int64[] = {
	{"2262-01-01T00:00:00Z", "within"},
	{"1678-01-01T00:00:00Z", ""},
};

/* Exact, case-sensitive matches of any rule tag. */
static const char *const keep_archive[] = {"keep", "archive"};
static const struct row tag[] = {
	{"2026-01-01T00:00:00Z", "", .tags = {"a"}},
	{"2026-01-02T00:00:00Z", "tag", .tags = {"keep"}},
	{"2026-01-03T00:00:00Z", "tag", .tags = {"x", "archive"}},
	{"2026-01-04T00:00:00Z", "", .tags = {NULL}},
	{"2026-01-05T00:00:00Z", "tag", .tags = {"archive", "keep"}},
	{"2026-01-06T00:00:00Z", "", .tags = {"Keep", "keeper"}},
};
/* With last 2: 01-06 and 01-05 are the newest. */
static const struct row tag_last_2[] = {
	{"2026-01-02T00:00:00Z", "tag", .tags = {"keep"}},
	{"2026-01-04T00:00:00Z", "", .tags = {NULL}},
	{"2026-01-05T00:00:00Z", "last,tag", .tags = {"archive", "keep"}},
	{"2026-01-06T00:00:00Z", "last", .tags = {"Keep", "keeper"}},
};

/* 05 is held and is one of the last 2, so 03 is not; 02 is held and kept
 * for that alone. */
static const struct row held[] = {
	{"2026-02-01T00:00:00Z", ""},
	{"2026-02-02T00:00:00Z", "hold", .held = true},
	{"2026-02-03T00:00:00Z", ""},
	{"2026-02-04T00:00:00Z", "last"},
	{"2026-02-05T00:00:00Z", "last,hold", .held = true},
};
/* Without the holds, the others are judged the same. */
static const struct row unheld[] = {
	{"2026-02-01T00:00:00Z", ""},
	{"2026-02-02T00:00:00Z", ""},
	{"2026-02-03T00:00:00Z", ""},
	{"2026-02-04T00:00:00Z", "last"},
	{"2026-02-05T00:00:00Z", "last"},
};
/* A held snapshot takes its bucket like any other: 02-05 09:00 is the
 * newest of its day, so 02-05 08:00 is not the daily one. */
static const struct row held_bucket[] = {
	{"2026-02-05T08:00:00Z", ""},
	{"2026-02-05T09:00:00Z", "daily,hold", .held = true},
	{"2026-02-04T09:00:00Z", "daily"},
};

static const struct row by_host[] = {
	{"2026-01-01T00:00:00Z", "", 0, "a"},
	{"2026-01-01T00:00:00Z", "last", 1, "b"},
	{"2026-01-02T00:00:00Z", "last", 0, "a"},
	{"2026-01-01T00:00:00Z", "last", 2, "c"},
	{"2025-12-01T00:00:00Z", "", 1, "b"},
	{"2026-01-01T00:00:00Z", "", 3, NULL}, /* no host: "" */
	{"2026-01-02T00:00:00Z", "last", 3, ""},
};
static const struct row ungrouped[] = {
	{"2026-01-01T00:00:00Z", "", 0, "a", {"/etc"}, {"x"}},
	{"2026-01-03T00:00:00Z", "last", 0, "b", {"/home"}, {"y"}},
	{"2026-01-02T00:00:00Z", "", 0, "c", {NULL}, {NULL}},
};
/* Order and repeats do not matter; {"/etc"} is another set. */
static const struct row by_paths[] = {
	{"2026-01-01T00:00:00Z", "", 0, "a", {"/etc", "/home"}},
	{"2026-01-04T00:00:00Z", "last", 0, "b", {"/home", "/etc"}},
	{"2026-01-02T00:00:00Z", "last", 1, "a", {"/etc"}},
	{"2026-01-03T00:00:00Z", "", 0, "a", {"/home", "/etc", "/etc"}},
	{"2026-01-01T00:00:00Z", "last", 2, "a", {NULL}},
};
static const struct row by_tags[] = {
	{"2026-01-01T00:00:00Z", "", 0, "a", .tags = {"x", "y"}},
	{"2026-01-02T00:00:00Z", "last", 0, "a", .tags = {"y", "x"}},
	{"2026-01-03T00:00:00Z", "last", 1, "a", .tags = {NULL}},
	{"2026-01-04T00:00:00Z", "last", 2, "a", .tags = {"x"}},
	{"2026-01-05T00:00:00Z", "last", 3, "a", .tags = {"x", "x", "y", "z"}},
};
/* "/a" + "/b" as paths is not "/ab"; a path "x" is not a tag "x". */
static const struct row by_all[] = {
	{"2026-01-01T00:00:00Z", "", 0, "h", {"/a", "/b"}, {"t"}},
	{"2026-01-02T00:00:00Z", "last", 1, "g", {"/a", "/b"}, {"t"}},
	{"2026-01-03T00:00:00Z", "last", 0, "h", {"/b", "/a"}, {"t"}},
	{"2026-01-04T00:00:00Z", "last", 2, "h", {"/a"}, {"t"}},
	{"2026-01-05T00:00:00Z", "last", 3, "h", {"/a", "/b"}, {"t", "u"}},
	{"2026-01-06T00:00:00Z", "last", 4, "h", {"/ab"}, {"t"}},
	{"2026-01-07T00:00:00Z", "last", 5, "h", {"x"}, {NULL}},
	{"2026-01-08T00:00:00Z", "last", 6, "h", {NULL}, {"x"}},
};

/* Only tag "keep" is kept: host b loses everything, host c keeps its held
 * snapshot. */
static const char *const keep_only[] = {"keep"};
static const struct row emptied_groups[] = {
	{"2026-01-01T00:00:00Z", "", 0, "a"},
	{"2026-01-01T00:00:00Z", "", 1, "b", .tags = {"other"}},
	{"2026-01-02T00:00:00Z", "tag", 0, "a", .tags = {"keep"}},
	{"2026-01-02T00:00:00Z", "", 1, "b"},
	{"2026-01-03T00:00:00Z", "hold", 2, "c", .held = true},
	{"2026-01-04T00:00:00Z", "", 2, "c"},
	{"2026-01-04T00:00:00Z", "", 3, "d"},
};

static const struct table cases[] = {
	{"keep last 3", .rules = {.last = 3}, ROWS(keep_last), ONE_GROUP},
	{"keep last 10 of 2", .rules = {.last = 10}, ROWS(keep_last_all), ONE_GROUP},
	{"ISO weeks across year boundaries", .rules = {.weekly = 100, .yearly = 100}, ROWS(iso_weeks), ONE_GROUP},
	{"leap day", .rules = {.daily = 10, .monthly = 10}, ROWS(leap_day), ONE_GROUP},
	{"same time: later index newer", .rules = {.last = 2, .daily = 2}, ROWS(same_time), ONE_GROUP},
	{"same time, last 1", .rules = {.last = 1, .hourly = 5}, ROWS(same_time_last_1), ONE_GROUP},
	{"DST autumn: repeated hour is one bucket", "Europe/Berlin", {.hourly = 10, .daily = 10},
	 ROWS(berlin_autumn), ONE_GROUP},
	{"the autumn rows in UTC", "UTC", {.hourly = 10, .daily = 10}, ROWS(berlin_autumn_in_utc), ONE_GROUP},
	{"DST spring: a day of 23 hours", "Europe/Berlin", {.hourly = 10, .daily = 10}, ROWS(berlin_spring),
	 ONE_GROUP},
	{"clock set back across midnight", SET_BACK_TZ, {.hourly = 10, .daily = 10}, ROWS(set_back), ONE_GROUP},
	{"within counts from the newest", .rules = {.within_ns = 3 * DAY}, .group_by = CFS_GROUP_HOST,
	 ROWS(within), .groups = 2, .emptied = "00"},
	{"within past int64", .rules = {.within_ns = INT64_MAX}, ROWS(within_int64), ONE_GROUP},
	{"keep tag", .rules = {.tags = keep_archive, .n_tags = 2}, ROWS(tag), ONE_GROUP},
	{"keep tag, last 2", .rules = {.last = 2, .tags = keep_archive, .n_tags = 2}, ROWS(tag_last_2), ONE_GROUP},
	{"held", .rules = {.last = 2}, ROWS(held), ONE_GROUP},
	{"not held", .rules = {.last = 2}, ROWS(unheld), ONE_GROUP},
	{"held takes its bucket", .rules = {.daily = 5}, ROWS(held_bucket), ONE_GROUP},
	{"group by host", .rules = {.last = 1}, .group_by = CFS_GROUP_HOST, ROWS(by_host), .groups = 4,
	 .emptied = "0000"},
	{"no grouping: one group", .rules = {.last = 1}, ROWS(ungrouped), ONE_GROUP},
	{"group by paths: a set", .rules = {.last = 1}, .group_by = CFS_GROUP_PATHS, ROWS(by_paths), .groups = 3,
	 .emptied = "000"},
	{"group by tags: a set", .rules = {.last = 1}, .group_by = CFS_GROUP_TAGS, ROWS(by_tags), .groups = 4,
	 .emptied = "0000"},
	{"group by host,paths,tags", .rules = {.last = 1},
	 .group_by = CFS_GROUP_HOST | CFS_GROUP_PATHS | CFS_GROUP_TAGS, ROWS(by_all), .groups = 7,
	 .emptied = "0000000"},
	{"emptied groups", .rules = {.tags = keep_only, .n_tags = 1}, .group_by = CFS_GROUP_HOST, ROWS(emptied_groups),
	 .groups = 4, .emptied = "0101"},
};

/* The parameter is the case's index: Criterion copies parameters into
 * workers that are other processes, where pointers into this one (names,
 * rows) would not hold. */
ParameterizedTestParameters(policy, tables)
{
	static size_t index[ARRAY_SIZE(cases)];
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		index[i] = i;
	return cr_make_param_array(size_t, index, ARRAY_SIZE(index));
}

/* Apply the case's rules to its rows (in their order); check every row's
 * reasons and group, the group count and the emptied flags. */
ParameterizedTest(size_t *param, policy, tables)
{
	const struct table *t = &cases[*param];
	struct cfs_retention_item items[16];
	struct cfs_retention_result res[16];
	bool emptied_out[16];
	size_t n_groups = 12345;

	if (t->tz && strcmp(t->tz, "Europe/Berlin") == 0 && access(BERLIN, R_OK) != 0)
		cr_skip_test("%s: no time zone data (%s): install tzdata", t->name, BERLIN);
	if (t->tz)
		set_tz(t->tz);
	cr_assert(t->n <= ARRAY_SIZE(items) && strlen(t->emptied) == t->groups);
	for (size_t i = 0; i < t->n; i++)
		items[i] = (struct cfs_retention_item){
			.time_ns = at(t->rows[i].time),
			.host = t->rows[i].host,
			.paths = t->rows[i].paths,
			.n_paths = strv_len(t->rows[i].paths),
			.tags = t->rows[i].tags,
			.n_tags = strv_len(t->rows[i].tags),
			.held = t->rows[i].held,
		};
	memset(emptied_out, 0x55, sizeof(emptied_out)); /* neither true nor false */
	cr_assert_eq(cfs_retention_apply(&t->rules, t->group_by, items, t->n, res, &n_groups, emptied_out), 0,
		     "%s", t->name);
	cr_assert_eq(n_groups, t->groups, "%s: groups: %zu, want %zu", t->name, n_groups, t->groups);
	for (size_t i = 0; i < t->n; i++) {
		const struct row *r = &t->rows[i];
		char buf[128];
		cr_expect_str_eq(reasons_str(res[i].reasons, buf, sizeof(buf)), r->want, "%s: row %zu (%s)", t->name, i,
				 r->time);
		cr_expect_eq(res[i].keep, res[i].reasons != 0, "%s: row %zu", t->name, i);
		cr_expect_eq(res[i].group, r->group, "%s: row %zu (%s): group %zu, want %zu", t->name, i, r->time,
			     res[i].group, r->group);
	}
	for (size_t g = 0; g < t->groups; g++)
		cr_expect_eq(emptied_out[g], t->emptied[g] == '1', "%s: group %zu emptied: %d", t->name, g,
			     emptied_out[g]);
	unsigned char untouched;
	memcpy(&untouched, &emptied_out[t->groups], 1);
	cr_expect_eq(untouched, 0x55, "%s: emptied[n_groups] was written", t->name);
}

Test(policy, errors_and_empty_input)
{
	struct cfs_retention_item it = {.time_ns = 0, .host = "h"};
	struct cfs_retention_result res = {.keep = true, .reasons = 77, .group = 99};
	bool emptied = true;
	size_t n_groups = 42;

	cr_assert_eq(cfs_retention_apply(&(struct cfs_keep_rules){0}, 0, &it, 1, &res, &n_groups, &emptied),
		     -EINVAL);
	cr_assert_eq(cfs_retention_apply(&(struct cfs_keep_rules){0}, 0, NULL, 0, NULL, &n_groups, NULL), -EINVAL);
	cr_assert_eq(cfs_retention_apply(&(struct cfs_keep_rules){.within_ns = -1}, 0, &it, 1, &res, &n_groups,
					 &emptied),
		     -EINVAL);
	cr_assert_eq(cfs_retention_apply(&(struct cfs_keep_rules){.last = 1}, 1 << 3, &it, 1, &res, &n_groups,
					 &emptied),
		     -EINVAL);
	/* Nothing written on failure. */
	cr_assert(res.keep && res.reasons == 77 && res.group == 99 && emptied && n_groups == 42);

	cr_assert_eq(cfs_retention_apply(&(struct cfs_keep_rules){.last = 1}, CFS_GROUP_HOST, NULL, 0, NULL,
					 &n_groups, NULL),
		     0);
	cr_assert_eq(n_groups, 0);
}

Test(policy, rules_empty)
{
	static const char *const tags[] = {"t"};
	cr_assert(cfs_keep_rules_empty(&(struct cfs_keep_rules){0}));
	/* n_tags counts, not the pointer. */
	cr_assert(cfs_keep_rules_empty(&(struct cfs_keep_rules){.tags = tags}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.last = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.hourly = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.daily = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.weekly = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.monthly = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.yearly = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.within_ns = 1}));
	cr_assert(!cfs_keep_rules_empty(&(struct cfs_keep_rules){.tags = tags, .n_tags = 1}));
}

Test(policy, keep_reason_names)
{
	static const struct {
		unsigned bit;
		const char *name;
	} t[] = {
		{CFS_KEEP_LAST, "last"},       {CFS_KEEP_HOURLY, "hourly"}, {CFS_KEEP_DAILY, "daily"},
		{CFS_KEEP_WEEKLY, "weekly"},   {CFS_KEEP_MONTHLY, "monthly"}, {CFS_KEEP_YEARLY, "yearly"},
		{CFS_KEEP_WITHIN, "within"},   {CFS_KEEP_TAG, "tag"},       {CFS_KEEP_HOLD, "hold"},
		{0, NULL}, {CFS_KEEP_LAST | CFS_KEEP_TAG, NULL}, {1u << 9, NULL}, {1u << 31, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		const char *s = cfs_keep_reason_name(t[i].bit);
		if (t[i].name)
			cr_expect_str_eq(s, t[i].name, "bit %#x", t[i].bit);
		else
			cr_expect_null(s, "bit %#x: %s", t[i].bit, s);
	}
	cr_assert_eq(CFS_KEEP_REASON_ALL, 0x1ffu);
}

Test(policy, group_by_parse)
{
	static const struct {
		const char *s;
		int r;
		unsigned v;
	} t[] = {
		{"", 0, 0},
		{"host", 0, CFS_GROUP_HOST},
		{"paths", 0, CFS_GROUP_PATHS},
		{"tags", 0, CFS_GROUP_TAGS},
		{"host,paths", 0, CFS_GROUP_HOST | CFS_GROUP_PATHS},
		{"tags,host", 0, CFS_GROUP_TAGS | CFS_GROUP_HOST},
		{"host,paths,tags", 0, CFS_GROUP_HOST | CFS_GROUP_PATHS | CFS_GROUP_TAGS},
		{"paths,tags,host", 0, CFS_GROUP_HOST | CFS_GROUP_PATHS | CFS_GROUP_TAGS},
		{"host,", -EINVAL, 0},
		{",host", -EINVAL, 0},
		{",", -EINVAL, 0},
		{"host,,paths", -EINVAL, 0},
		{"host,host", -EINVAL, 0},
		{"Host", -EINVAL, 0},
		{"hosts", -EINVAL, 0},
		{"hos", -EINVAL, 0},
		{"path", -EINVAL, 0},
		{"tag", -EINVAL, 0},
		{" host", -EINVAL, 0},
		{"host ", -EINVAL, 0},
		{"host, paths", -EINVAL, 0},
		{"host;paths", -EINVAL, 0},
		{"none", -EINVAL, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		unsigned v = 0xdead;
		int r = cfs_group_by_parse(t[i].s, &v);
		cr_expect_eq(r, t[i].r, "\"%s\": %d, want %d", t[i].s, r, t[i].r);
		cr_expect_eq(v, r == 0 ? t[i].v : 0xdead, "\"%s\": %#x", t[i].s, v);
	}
	unsigned v = 0xdead;
	cr_assert_eq(cfs_group_by_parse(NULL, &v), -EINVAL);
	cr_assert_eq(v, 0xdead);
}

Test(policy, duration_parse)
{
	static const struct {
		const char *s;
		int r;
		int64_t ns;
	} t[] = {
		{"90d", 0, INT64_C(7776000) * NS},
		{"1y6m", 0, INT64_C(47088000) * NS},  /* (365 + 180) d */
		{"1d12h", 0, INT64_C(129600) * NS},
		{"2w", 0, INT64_C(1209600) * NS},
		{"1h30min", 0, INT64_C(5400) * NS},
		{"45s", 0, INT64_C(45) * NS},
		{"1min", 0, INT64_C(60) * NS},
		{"1m", 0, INT64_C(2592000) * NS},     /* a month, 30 d */
		{"1m1min", 0, INT64_C(2592060) * NS},
		{"12m", 0, INT64_C(31104000) * NS},   /* 360 d, not a year */
		{"1y", 0, INT64_C(31536000) * NS},
		{"1y1m1w1d1h1min1s", 0, INT64_C(34822861) * NS},
		{"0d12h", 0, INT64_C(43200) * NS},
		{"007d", 0, INT64_C(604800) * NS},
		{"1s", 0, NS},
		{"292y", 0, INT64_C(9208512000) * NS},
		{"9223372036s", 0, INT64_C(9223372036) * NS},
		{"", -EINVAL, 0},
		{"d", -EINVAL, 0},
		{"90", -EINVAL, 0},
		{"1d12", -EINVAL, 0},
		{"90D", -EINVAL, 0},
		{"1d1y", -EINVAL, 0},
		{"1h1d", -EINVAL, 0},
		{"1s1min", -EINVAL, 0},
		{"1d1d", -EINVAL, 0},
		{"1mo", -EINVAL, 0},
		{"1mins", -EINVAL, 0},
		{"1dd", -EINVAL, 0},
		{"1x", -EINVAL, 0},
		{"1 d", -EINVAL, 0},
		{" 1d", -EINVAL, 0},
		{"1d ", -EINVAL, 0},
		{"-1d", -EINVAL, 0},
		{"+1d", -EINVAL, 0},
		{"1.5d", -EINVAL, 0},
		{"0d", -EINVAL, 0},
		{"0h0s", -EINVAL, 0},
		{"293y", -ERANGE, 0},
		{"292y10m", -ERANGE, 0},
		{"9223372037s", -ERANGE, 0},
		{"99999999999999999999999d", -ERANGE, 0},
		{"293y1x", -EINVAL, 0}, /* bad syntax wins over the range */
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int64_t ns = -7;
		int r = cfs_duration_parse(t[i].s, &ns);
		cr_expect_eq(r, t[i].r, "\"%s\": %d, want %d", t[i].s, r, t[i].r);
		cr_expect_eq(ns, r == 0 ? t[i].ns : -7, "\"%s\": %" PRId64, t[i].s, ns);
	}
	int64_t ns = -7;
	cr_assert_eq(cfs_duration_parse(NULL, &ns), -EINVAL);
	cr_assert_eq(ns, -7);
}

Test(policy, keep_rules_parse)
{
	static const struct {
		const char *s;
		int r;
		struct cfs_keep_rules k;     /* tags not compared here */
		size_t n_tags, bad_off, bad_len; /* bad_*: on failure */
	} t[] = {
		{"hourly:48 daily:30 weekly:52", 0, {.hourly = 48, .daily = 30, .weekly = 52}, 0, 0, 0},
		{"last:4 daily:30 weekly:26 monthly:24", 0, {.last = 4, .daily = 30, .weekly = 26, .monthly = 24}, 0, 0, 0},
		{"  yearly:7\tmonthly:1  ", 0, {.yearly = 7, .monthly = 1}, 0, 0, 0},
		{"within:1y6m", 0, {.within_ns = INT64_C(47088000) * NS}, 0, 0, 0},
		{"tag:keep tag:audit", 0, {0}, 2, 0, 0},
		{"daily:4294967295", 0, {.daily = UINT_MAX}, 0, 0, 0},
		{"daily:007", 0, {.daily = 7}, 0, 0, 0},
		{"", -EINVAL, {0}, 0, 0, 0},
		{"   ", -EINVAL, {0}, 0, 0, 0},
		{"daily:0", -EINVAL, {0}, 0, 0, 7},
		{"daily:4294967296", -ERANGE, {0}, 0, 0, 16},
		{"daily:30 houry:48", -EINVAL, {0}, 0, 9, 8},
		{"daily:30 daily:31", -EINVAL, {0}, 0, 9, 8},
		{"daily", -EINVAL, {0}, 0, 0, 5},
		{"daily:", -EINVAL, {0}, 0, 0, 6},
		{"daily=3", -EINVAL, {0}, 0, 0, 7},
		{"Daily:3", -EINVAL, {0}, 0, 0, 7},
		{"daily:-3", -EINVAL, {0}, 0, 0, 8},
		{"daily:3x", -EINVAL, {0}, 0, 0, 8},
		{"daily: 3", -EINVAL, {0}, 0, 0, 6},
		{"within:3", -EINVAL, {0}, 0, 0, 8},
		{"within:1d within:2d", -EINVAL, {0}, 0, 10, 9},
		{"within:293y", -ERANGE, {0}, 0, 0, 11},
		{"tag:", -EINVAL, {0}, 0, 0, 4},
		{"forever", -EINVAL, {0}, 0, 0, 7},
		{"last:1:2", -EINVAL, {0}, 0, 0, 8},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct cfs_keep_rules k = {.last = 99};
		void *storage = (void *)&k;
		size_t off = 77, len = 77;
		int r = cfs_keep_rules_parse(t[i].s, &k, &storage, &off, &len);
		cr_expect_eq(r, t[i].r, "\"%s\": %d, want %d", t[i].s, r, t[i].r);
		if (r < 0) {
			cr_expect_eq(k.last, 99, "\"%s\": output written on failure", t[i].s);
			cr_expect_eq(storage, (void *)&k, "\"%s\": storage written on failure", t[i].s);
			cr_expect(off == t[i].bad_off && len == t[i].bad_len, "\"%s\": bad word at %zu+%zu, want %zu+%zu",
				  t[i].s, off, len, t[i].bad_off, t[i].bad_len);
			continue;
		}
		cr_expect(k.last == t[i].k.last && k.hourly == t[i].k.hourly && k.daily == t[i].k.daily &&
				  k.weekly == t[i].k.weekly && k.monthly == t[i].k.monthly && k.yearly == t[i].k.yearly &&
				  k.within_ns == t[i].k.within_ns && k.n_tags == t[i].n_tags,
			  "\"%s\": rules differ", t[i].s);
		cr_expect_eq(storage == NULL, t[i].n_tags == 0, "\"%s\": storage", t[i].s);
		free(storage);
	}
	struct cfs_keep_rules k;
	void *storage = NULL;
	cr_assert_eq(cfs_keep_rules_parse(NULL, &k, &storage, NULL, NULL), -EINVAL);
	/* Tags keep their order and bytes, and the parsed rules keep a snapshot
	 * exactly as forget's --keep-tag would. */
	cr_assert_eq(cfs_keep_rules_parse("tag:a:b daily:2 tag:x", &k, &storage, NULL, NULL), 0);
	cr_assert_eq(k.n_tags, 2);
	cr_expect_str_eq(k.tags[0], "a:b");
	cr_expect_str_eq(k.tags[1], "x");
	const char *const t_x[] = {"x"};
	struct cfs_retention_item items[3] = {
		{.time_ns = 1 * NS, .tags = t_x, .n_tags = 1},
		{.time_ns = 2 * NS},
		{.time_ns = 3 * NS},
	};
	struct cfs_retention_result res[3];
	size_t n_groups;
	cr_assert_eq(cfs_retention_apply(&k, 0, items, 3, res, &n_groups, NULL), 0);
	cr_expect(res[0].keep && res[0].reasons == CFS_KEEP_TAG); /* day 1970-01-01 taken by item 2 */
	cr_expect(res[2].keep && (res[2].reasons & CFS_KEEP_DAILY));
	cr_expect(!res[1].keep);
	free(storage);
}

/* ---- rotation and due (schedule.c) ---- */

static struct cfs_calendar *cal(const char *expr)
{
	struct cfs_calendar *c = NULL;
	cr_assert_eq(cfs_calendar_parse(expr, &c), 0, "parse '%s'", expr);
	return c;
}

static const char type_letter[] = {[CFS_SNAP_FULL] = 'F', [CFS_SNAP_INCREMENTAL] = 'i',
				   [CFS_SNAP_DIFFERENTIAL] = 'D'};

/* Hourly runs at start + k h + late for k in [0, n), each committing the
 * type the rotation gives; the types as letters (F full, D differential,
 * i incremental), one per run. */
static void simulate(const struct cfs_rotation *r, const char *start, int64_t late, size_t n,
		     char *out)
{
	struct cfs_rotation_snap *hist = calloc(n, sizeof(*hist));
	cr_assert_not_null(hist);
	for (size_t k = 0; k < n; k++) {
		int64_t now = at(start) + (int64_t)k * HOUR + late;
		uint8_t type = 99;
		cr_assert_eq(cfs_rotation_type(r, hist, k, now, &type), 0);
		cr_assert(type <= CFS_SNAP_DIFFERENTIAL);
		hist[k] = (struct cfs_rotation_snap){ now, type };
		out[k] = type_letter[type];
	}
	out[n] = 0;
	free(hist);
}

/* The critical tier: full weekly (Mon 00:00), differential every 6 h,
 * incremental hourly. Two weeks of hourly runs from Monday 2026-03-02
 * 00:00Z (a Monday: 2026-03-28 is a Saturday), on time and 5 minutes late:
 * the first run and each Monday 00:00 are full, every 6th hour
 * differential, the rest incremental. */
Test(policy, rotation_critical)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *full = cal("weekly"),
							 *diff = cal("*-*-* 00/6:00:00"),
							 *inc = cal("hourly");
	struct cfs_rotation r = { full, diff, inc };
	char want[2 * 168 + 1], got[2 * 168 + 1];

	for (int h = 0; h < 2 * 168; h++)
		want[h] = h % 168 == 0 ? 'F' : h % 6 == 0 ? 'D' : 'i';
	want[2 * 168] = 0;
	/* The day as the hand-written pattern, to show the table's shape. */
	cr_assert_eq(strncmp(want, "FiiiiiDiiiiiDiiiiiDiiiii" "DiiiiiDiiiiiDiiiiiDiiiii", 48), 0);
	for (int64_t late = 0; late <= 5 * 60 * NS; late += 5 * 60 * NS) {
		simulate(&r, "2026-03-02T00:00:00Z", late, 2 * 168, got);
		cr_expect_str_eq(got, want, "late %" PRId64 " s", late / NS);
	}
	/* Starting on a Wednesday: the first run is full (no full yet), then
	 * differentials and incrementals until Monday. */
	simulate(&r, "2026-03-04T15:00:00Z", 0, 4 * 24 + 18, got);
	cr_expect_eq(got[0], 'F');
	cr_expect_eq(got[3], 'D', "%s", got); /* 18:00 */
	cr_expect_eq(got[4 * 24 + 9], 'F', "%s", got); /* Mon 2026-03-09 00:00 */
	cr_expect_eq(strchr(got + 1, 'F'), got + 4 * 24 + 9, "%s", got);
}

/* The archive tier: full only: every run is full. The important tier (full
 * weekly, incremental): one full a week. A rotation with a differential
 * and no incremental takes differentials between fulls. */
Test(policy, rotation_full_only_and_others)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *weekly = cal("weekly"), *inc = cal("hourly"),
							 *diff = cal("daily");
	char got[2 * 168 + 1];

	simulate(&(struct cfs_rotation){ .full = weekly }, "2026-03-04T15:00:00Z", 0, 2 * 168, got);
	cr_expect_eq(strspn(got, "F"), 2 * 168, "%s", got);
	/* No calendar at all: full, always. */
	simulate(&(struct cfs_rotation){ 0 }, "2026-03-04T15:00:00Z", 0, 10, got);
	cr_expect_str_eq(got, "FFFFFFFFFF");

	simulate(&(struct cfs_rotation){ .full = weekly, .incremental = inc }, "2026-03-02T00:00:00Z", 0,
		 2 * 168, got);
	for (int h = 0; h < 2 * 168; h++)
		cr_expect_eq(got[h], h % 168 == 0 ? 'F' : 'i', "hour %d: %s", h, got);

	/* Full weekly, differential daily, nothing else: between the daily
	 * elapses the runs are differentials too (never incremental). */
	simulate(&(struct cfs_rotation){ .full = weekly, .differential = diff }, "2026-03-02T00:00:00Z",
		 0, 48, got);
	cr_expect_eq(got[0], 'F');
	cr_expect_eq(strspn(got + 1, "D"), 47, "%s", got);
}

/* A machine off from Sunday 20:00 to Tuesday 09:00 misses Monday's full
 * and the differentials: the first run back is full, ONE run, and the
 * next differential is 6 h of elapses after it (12:00). */
Test(policy, rotation_catch_up)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *full = cal("weekly"),
							 *diff = cal("*-*-* 00/6:00:00"),
							 *inc = cal("hourly");
	struct cfs_rotation r = { full, diff, inc };
	struct cfs_rotation_snap hist[] = {
		{ at("2026-03-02T00:00:00Z"), CFS_SNAP_FULL },
		{ at("2026-03-08T18:00:00Z"), CFS_SNAP_DIFFERENTIAL },
		{ at("2026-03-08T20:00:00Z"), CFS_SNAP_INCREMENTAL },
		{ at("2026-03-10T09:00:00Z"), 0 },
		{ at("2026-03-10T10:00:00Z"), 0 },
		{ at("2026-03-10T12:00:00Z"), 0 },
	};
	static const uint8_t want[] = { CFS_SNAP_FULL, CFS_SNAP_INCREMENTAL, CFS_SNAP_DIFFERENTIAL };
	for (size_t k = 3; k < ARRAY_SIZE(hist); k++) {
		uint8_t type = 99;
		cr_assert_eq(cfs_rotation_type(&r, hist, k, hist[k].time_ns, &type), 0);
		cr_expect_eq(type, want[k - 3], "run %zu: %d", k, type);
		hist[k].type = type;
	}
	/* Missed differentials only (Monday's full done): a differential. */
	struct cfs_rotation_snap h2[] = {
		{ at("2026-03-09T00:00:00Z"), CFS_SNAP_FULL },
		{ at("2026-03-09T01:00:00Z"), CFS_SNAP_INCREMENTAL },
	};
	uint8_t type = 99;
	cr_assert_eq(cfs_rotation_type(&r, h2, 2, at("2026-03-09T19:00:00Z"), &type), 0);
	cr_expect_eq(type, CFS_SNAP_DIFFERENTIAL);
	/* History in any order. */
	struct cfs_rotation_snap h3[] = { h2[1], h2[0] };
	cr_assert_eq(cfs_rotation_type(&r, h3, 2, at("2026-03-09T02:00:00Z"), &type), 0);
	cr_expect_eq(type, CFS_SNAP_INCREMENTAL);
}

Test(policy, rotation_errors)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *full = cal("weekly");
	struct cfs_rotation r = { .full = full };
	struct cfs_rotation_snap bad = { 0, 3 };
	uint8_t type = 99;

	cr_expect_eq(cfs_rotation_type(&r, &bad, 1, 0, &type), -EINVAL);
	cr_expect_eq(cfs_rotation_type(&r, NULL, 1, 0, &type), -EINVAL);
	cr_expect_eq(cfs_rotation_type(NULL, NULL, 0, 0, &type), -EINVAL);
	cr_expect_eq(type, 99);
	/* A full calendar that never elapses again: no more fulls. */
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *never = cal("2019-01-01");
	struct cfs_rotation_snap h = { at("2026-03-02T00:00:00Z"), CFS_SNAP_FULL };
	cr_assert_eq(cfs_rotation_type(&(struct cfs_rotation){ .full = never, .incremental = full }, &h, 1,
				       at("2027-01-01T00:00:00Z"), &type), 0);
	cr_expect_eq(type, CFS_SNAP_INCREMENTAL);
}

/* Due: never run is due now; on time; a missed run (machine off for
 * hours) is caught up by one run, after which the next due time is the
 * next elapse after that run, not the backlog. */
Test(policy, schedule_due)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *hourly = cal("hourly"), *daily = cal("daily"),
							 *never = cal("*-02-30");
	int64_t next = 7;

	cr_expect_eq(cfs_schedule_due(hourly, INT64_MIN, at("2026-03-02T10:17:00Z"), &next), 1);
	cr_expect_eq(next, at("2026-03-02T10:17:00Z"));

	cr_expect_eq(cfs_schedule_due(hourly, at("2026-03-02T10:00:00Z"), at("2026-03-02T10:59:59Z"), &next), 0);
	cr_expect_eq(next, at("2026-03-02T11:00:00Z"));
	cr_expect_eq(cfs_schedule_due(hourly, at("2026-03-02T10:00:00Z"), at("2026-03-02T11:00:00Z"), &next), 1);
	cr_expect_eq(next, at("2026-03-02T11:00:00Z"));

	/* Off from 10:00 to 15:30: due once at 15:30 ... */
	cr_expect_eq(cfs_schedule_due(hourly, at("2026-03-02T10:00:00Z"), at("2026-03-02T15:30:00Z"), &next), 1);
	cr_expect_eq(next, at("2026-03-02T11:00:00Z"));
	/* ... and once run then, not again until 16:00. */
	cr_expect_eq(cfs_schedule_due(hourly, at("2026-03-02T15:30:00Z"), at("2026-03-02T15:59:00Z"), &next), 0);
	cr_expect_eq(next, at("2026-03-02T16:00:00Z"));

	/* Daily: a run late in the day does not make the next day's early. */
	cr_expect_eq(cfs_schedule_due(daily, at("2026-03-02T23:30:00Z"), at("2026-03-03T00:00:00Z"), NULL), 1);
	cr_expect_eq(cfs_schedule_due(daily, at("2026-03-03T00:00:05Z"), at("2026-03-03T23:59:00Z"), &next), 0);
	cr_expect_eq(next, at("2026-03-04T00:00:00Z"));

	/* Never again: not due, next INT64_MAX; never run: due all the same. */
	cr_expect_eq(cfs_schedule_due(never, at("2026-03-02T00:00:00Z"), at("2030-01-01T00:00:00Z"), &next), 0);
	cr_expect_eq(next, INT64_MAX);
	cr_expect_eq(cfs_schedule_due(never, INT64_MIN, 5, &next), 1);
	cr_expect_eq(next, 5);
	cr_expect_eq(cfs_schedule_due(NULL, 0, 0, &next), -EINVAL);
}

/* Two weeks of a driver that runs whatever is due every 10 minutes, with
 * the machine off for a day: hourly schedule, critical rotation. Counts:
 * one run per hour while up, one catch-up run after the downtime. */
Test(policy, schedule_two_weeks)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *full = cal("weekly"),
							 *diff = cal("*-*-* 00/6:00:00"),
							 *inc = cal("hourly");
	struct cfs_rotation r = { full, diff, inc };
	struct cfs_rotation_snap hist[400];
	size_t n = 0, counts[3] = { 0 };
	int64_t last = INT64_MIN, start = at("2026-03-02T00:00:00Z");
	int64_t off_from = at("2026-03-10T03:00:00Z"), off_to = at("2026-03-11T07:05:00Z");

	for (int64_t now = start; now < start + 14 * DAY; now += 10 * 60 * NS) {
		if (now > off_from && now < off_to)
			continue;
		int64_t next;
		int due = cfs_schedule_due(inc, last, now, &next);
		cr_assert(due >= 0);
		if (!due)
			continue;
		cr_assert_lt(n, ARRAY_SIZE(hist));
		uint8_t type;
		cr_assert_eq(cfs_rotation_type(&r, hist, n, now, &type), 0);
		hist[n++] = (struct cfs_rotation_snap){ now, type };
		counts[type]++;
		last = now;
	}
	/* 336 hours, 28 of them without a run (04:00 of the 10th to 07:00 of
	 * the 11th: 20 + 8), and 1 catch-up run at 07:10 of the 11th. */
	cr_expect_eq(n, 336 - 28 + 1, "%zu runs", n);
	cr_expect_eq(counts[CFS_SNAP_FULL], 2);
	/* Every 6 h: 56 elapses; 5 fell in the downtime (06, 12, 18 of the
	 * 10th, 00 and 06 of the 11th) and ONE catch-up run covers them. */
	cr_expect_eq(counts[CFS_SNAP_DIFFERENTIAL], 56 - 2 - 5 + 1, "%zu", counts[CFS_SNAP_DIFFERENTIAL]);
}

#ifdef CFS_ALLOC_FAILURE
#include "chronofs/fault.h"

/* Every allocation of a grouped apply fails in turn: -ENOMEM, outputs
 * untouched; the first call no failure reaches succeeds. */
Test(policy, every_allocation_failure)
{
	static const char *const paths[] = {"/b", "/a"};
	struct cfs_retention_item items[3] = {
		{.time_ns = 1, .host = "a", .paths = paths, .n_paths = 2},
		{.time_ns = 2, .host = "b", .paths = paths, .n_paths = 1},
		{.time_ns = 3, .host = "a", .paths = paths, .n_paths = 2},
	};
	unsigned long failed = 0;

	for (unsigned long n = 1;; n++) {
		struct cfs_retention_result res[3] = {{.reasons = 77}, {.reasons = 77}, {.reasons = 77}};
		size_t n_groups = 42;
		cfs_alloc_fail_arm(n, false);
		int r = cfs_retention_apply(&(struct cfs_keep_rules){.last = 1}, CFS_GROUP_HOST | CFS_GROUP_PATHS,
					    items, 3, res, &n_groups, NULL);
		unsigned long injected = cfs_alloc_fail_injected();
		cfs_alloc_fail_arm(0, false);
		if (!injected) {
			cr_assert_eq(r, 0);
			cr_assert_eq(n_groups, 2);
			cr_assert(!res[0].keep && res[1].keep && res[2].keep);
			break;
		}
		cr_assert_eq(r, -ENOMEM, "allocation %lu: %d", n, r);
		cr_assert(res[0].reasons == 77 && n_groups == 42);
		failed++;
	}
	cr_assert(failed >= 3, "%lu", failed);
}
#endif
