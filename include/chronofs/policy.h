/* SPDX-License-Identifier: MIT */
/*
 * policy.h — retention rules: which snapshots a `forget --keep-*` keeps.
 *
 * Pure logic: the caller lists the snapshots (time, host, source paths,
 * tags, hold) and gets one decision per snapshot, with the reasons it is
 * kept. No repository access, no I/O, no logging; the only outside input is
 * the process's time zone (TZ), which places snapshots in hours, days,
 * weeks, months and years.
 *
 * Semantics, as restic's `forget` users know them:
 *
 *   Groups. Snapshots are split into groups by a key made of the host
 *   (CFS_GROUP_HOST), the set of source paths (CFS_GROUP_PATHS) and the
 *   set of tags (CFS_GROUP_TAGS): sets, so order and repeats do not matter.
 *   group_by 0 makes one group. Each group is judged on its own: "keep the
 *   last 7" keeps 7 per group.
 *
 *   Order. Within a group snapshots are taken newest first; of two with the
 *   same time_ns, the one later in the items array counts as newer (a list
 *   in commit order has the later commit later).
 *
 *   last N      the N newest snapshots.
 *   hourly N, daily N, weekly N, monthly N, yearly N
 *               walking newest first, a snapshot is kept when its bucket
 *               (local year-month-day-hour, year-month-day, ISO 8601
 *               week-year and week, year-month, year) is older than the
 *               bucket of the last snapshot this rule kept (or the rule has
 *               kept none yet), until the rule has kept N. So each rule
 *               keeps the newest snapshot of each of its N most recent
 *               buckets that have snapshots; empty buckets cost nothing.
 *               ("Older than", not just "other than": the two agree while
 *               local time runs forward; where a zone's clock is set back
 *               across a bucket boundary, e.g. a DST end at 00:30 that
 *               repeats half an hour of the previous day, a bucket seen
 *               again later in the walk does not get a second keeper.)
 *               N = UINT_MAX means every bucket.
 *   within D    every snapshot whose time is at most D before the NEWEST
 *               snapshot of its group (t >= newest - D). Relative to the
 *               newest snapshot, not to now: when backups stop (a machine
 *               retired, a broken schedule), running forget later does not
 *               expire everything the rule was meant to protect.
 *   tag         every snapshot carrying at least one of the tags.
 *   hold        a held snapshot is always kept (CFS_KEEP_HOLD). It ALSO
 *               goes through the rules like any other snapshot: it counts
 *               against last N and takes its bucket as any snapshot would,
 *               so its reasons may include others. Consequence, and the
 *               point of the choice: placing or lifting a hold changes the
 *               fate of that one snapshot only, never of another.
 *
 *   A snapshot kept by several rules has all their bits in `reasons`;
 *   every snapshot no rule keeps is to be removed.
 *
 * Local time. Buckets are taken in the process's local time (localtime_r
 * after tzset(), so the TZ environment variable as it is at the call):
 * operators think of "daily" as their own calendar day, and restic and
 * borg do the same. Daylight saving time: in the autumn the repeated hour
 * is ONE hourly bucket (both occurrences read 02:xx); in the spring the
 * skipped hour has no bucket (no snapshot can be in it); days, months and
 * years are calendar ones, so a 23- or 25-hour day is one daily bucket.
 * The same snapshots may thus be judged differently under another TZ; the
 * caller that wants repeatable results runs with a fixed TZ (UTC).
 *
 * Threading: no shared state apart from the time zone; callable from
 * several threads as long as none changes TZ meanwhile.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chronofs/base.h"

/* Why a snapshot is kept: bit flags, OR'ed in cfs_retention_result.reasons. */
enum cfs_keep_reason {
	CFS_KEEP_LAST = 1 << 0,
	CFS_KEEP_HOURLY = 1 << 1,
	CFS_KEEP_DAILY = 1 << 2,
	CFS_KEEP_WEEKLY = 1 << 3,
	CFS_KEEP_MONTHLY = 1 << 4,
	CFS_KEEP_YEARLY = 1 << 5,
	CFS_KEEP_WITHIN = 1 << 6,
	CFS_KEEP_TAG = 1 << 7,
	CFS_KEEP_HOLD = 1 << 8,
};
#define CFS_KEEP_REASON_ALL ((1u << 9) - 1)

/* "last", "hourly", "daily", "weekly", "monthly", "yearly", "within",
 * "tag", "hold" for one bit of enum cfs_keep_reason; NULL for anything
 * else (0, several bits, unknown bits). Static strings. */
const char *cfs_keep_reason_name(unsigned bit);

struct cfs_keep_rules {
	/* Counts; 0: the rule is not used. */
	unsigned last, hourly, daily, weekly, monthly, yearly;
	int64_t within_ns;        /* 0: not used; negative: -EINVAL */
	const char *const *tags;  /* borrowed; any of them keeps a snapshot */
	size_t n_tags;            /* 0: not used */
};

/* True when no rule is used (every count, within_ns and n_tags 0): such
 * rules would remove every snapshot not held, so apply refuses them. */
bool cfs_keep_rules_empty(const struct cfs_keep_rules *r);

/*
 * Parse keep rules in the words of the config file's `keep =`: blank-
 * separated (spaces, tabs) words, each
 *   last:N  hourly:N  daily:N  weekly:N  monthly:N  yearly:N
 *                      the rule of forget's --keep-<word> N: N a decimal
 *                      count 1..UINT_MAX, as forget takes it
 *   within:DURATION    --keep-within (cfs_duration_parse)
 *   tag:NAME           --keep-tag NAME (repeatable; NAME non-empty)
 * in any order, each word but tag at most once, at least one word. On
 * success fills *ret; its tags point into *ret_storage, one malloc'ed
 * block the caller frees when done with *ret (NULL when there are no
 * tags). Outputs written only on success, except ret_bad_off/ret_bad_len
 * (may be NULL), which on -EINVAL and -ERANGE say which word is at fault
 * (offset and length in s; 0,0 for an empty s).
 * Errors: -EINVAL for NULL or blank s, an unknown word, a missing or bad
 * value, a repeat, a count of 0; -ERANGE for a count or duration too
 * large; -ENOMEM. Nothing is logged: the caller names the word.
 */
int cfs_keep_rules_parse(const char *s, struct cfs_keep_rules *ret, void **ret_storage, size_t *ret_bad_off,
			 size_t *ret_bad_len);

enum cfs_group_by {
	CFS_GROUP_HOST = 1 << 0,
	CFS_GROUP_PATHS = 1 << 1,
	CFS_GROUP_TAGS = 1 << 2,
};

/*
 * Parse a --group-by value: comma-separated "host", "paths", "tags", in
 * any order, each at most once, lower case, no blanks; "" is 0 (one
 * group). *ret written only on success. -EINVAL for anything else (NULL,
 * an unknown or repeated word, an empty element as in "host," or ",,");
 * the error names nothing: the caller logs the value it passed.
 */
int cfs_group_by_parse(const char *s, unsigned *ret);

/* One snapshot. Every pointer is borrowed for the call. */
struct cfs_retention_item {
	int64_t time_ns;              /* UTC ns since the epoch */
	const char *host;             /* NULL reads as "" */
	const char *const *paths;     /* the source set, any order */
	size_t n_paths;
	const char *const *tags;      /* any order */
	size_t n_tags;
	bool held;
};

struct cfs_retention_result {
	bool keep;        /* reasons != 0 */
	unsigned reasons; /* enum cfs_keep_reason bits; 0 when removed */
	size_t group;     /* 0..n_groups-1, numbered in order of first
			     appearance in items */
};

/*
 * Decide for items[0..n) under rules, grouped by group_by (enum
 * cfs_group_by bits). On success returns 0, fills results[0..n) (index i
 * is items[i]), sets *ret_n_groups, and, when ret_emptied is not NULL
 * (a caller-owned array of at least n bools, as n_groups <= n), sets
 * ret_emptied[g] for g in [0, n_groups) to whether every snapshot of group
 * g is to be removed; entries from n_groups on are not touched. n = 0 is
 * fine (no groups). Outputs are written only on success.
 *
 * Errors: -EINVAL when the rules are empty (cfs_keep_rules_empty), when
 * within_ns < 0 or when group_by has unknown bits; -ENOMEM; -EOVERFLOW if
 * the C library cannot convert a time to local time (it can for every
 * int64 ns with a 64-bit time_t).
 *
 * Memory: O(n + total paths and tags) for the call, freed before return.
 * Time: O(n log n) comparisons of group keys.
 */
int cfs_retention_apply(const struct cfs_keep_rules *rules, unsigned group_by,
			const struct cfs_retention_item *items, size_t n,
			struct cfs_retention_result *results, size_t *ret_n_groups, bool *ret_emptied);

/*
 * Parse a duration for --keep-within: one or more <decimal number><unit>,
 * units from largest to smallest, each at most once, nothing between
 * them ("90d", "1y6m", "1d12h", "2w", "1h30min"). Units are fixed lengths,
 * as the result is elapsed ns and not calendar arithmetic:
 *   y    year   = 365 d
 *   m    month  = 30 d   (as restic; so "12m" is 360 d, not "1y")
 *   w    week   = 7 d
 *   d    day    = 24 h
 *   h    hour
 *   min  minute (never "m", which is the month)
 *   s    second
 * Case-sensitive. *ret_ns written only on success. -EINVAL for NULL, "",
 * a unit missing, unknown, repeated or out of order, any other character
 * (signs, blanks, fractions) and for a total of zero (within_ns 0 means
 * "rule not used", which "0d" surely did not mean); -ERANGE when the total
 * does not fit int64 ns (about 292 years).
 */
int cfs_duration_parse(const char *s, int64_t *ret_ns);

/* ---------------------------------------------------------------------
 * Rotation and due (src/policy/schedule.c): which backup type a job's run
 * takes, and whether a run is due. Pure logic over calendars (calendar.h)
 * and the job's snapshot history; no I/O, no logging. Local time as
 * cfs_calendar_next() has it (the expression's zone, else TZ).
 */
struct cfs_calendar;

/* A tier's rotation. Borrowed calendars; NULL: never. */
struct cfs_rotation {
	const struct cfs_calendar *full, *differential, *incremental;
};

/* One committed snapshot of the job, as the repository has it. */
struct cfs_rotation_snap {
	int64_t time_ns; /* UTC ns since the epoch */
	uint8_t type;    /* enum cfs_snapshot_type */
};

/*
 * The type of a backup taken at now_ns (enum cfs_snapshot_type in
 * *ret_type, written only on success), given the job's committed
 * snapshots hist[0..n) in any order:
 *   full         when hist has no full snapshot, or `full` has an elapse e
 *                with last_full.time < e <= now;
 *   differential when `differential` has an elapse in (max(last full,
 *                last differential).time, now];
 *   incremental  otherwise, when `incremental` is set;
 *   otherwise differential if `differential` is set, else full.
 * "Last" is the latest time_ns of that type. The elapses are the
 * calendars' own (cfs_calendar_next() after the last snapshot), not the
 * run's schedule: a weekly `full` of Mon 00:00 makes the first run after
 * each Monday 00:00 full, however late it comes, and one run catches up
 * any number of missed elapses.
 *
 * Returns 0; -EINVAL for r NULL, hist NULL with n > 0, or a type other
 * than full, incremental, differential in hist; any other error of
 * cfs_calendar_next() but -ENOENT (which means "no elapse": not due).
 * Cost: O(n) and at most two cfs_calendar_next() calls.
 */
int cfs_rotation_type(const struct cfs_rotation *r, const struct cfs_rotation_snap *hist, size_t n,
		      int64_t now_ns, uint8_t *ret_type);

/*
 * Whether a job with `schedule` whose last run was at last_ns is due at
 * now_ns: 1 when it is, 0 when not.
 *   - never run (last_ns == INT64_MIN): due, *ret_next_ns = now_ns;
 *   - otherwise the first elapse e of `schedule` after last_ns is the next
 *     due time (*ret_next_ns = e) and the job is due when e <= now_ns. A
 *     run after downtime thus catches up every missed elapse with ONE run
 *     (the next due time is then computed from that run).
 *   - a schedule that never elapses again: 0, *ret_next_ns = INT64_MAX.
 * ret_next_ns may be NULL. Returns the 1 or 0; -EINVAL for a NULL
 * schedule; any error of cfs_calendar_next() but -ENOENT.
 */
int cfs_schedule_due(const struct cfs_calendar *schedule, int64_t last_ns, int64_t now_ns,
		     int64_t *ret_next_ns);
