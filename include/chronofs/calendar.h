/* SPDX-License-Identifier: MIT */
/*
 * calendar.h — systemd.time(7) calendar events, the syntax of OnCalendar=,
 * as systemd 252 parses, normalizes and evaluates them, so that a tier's
 * `schedule = Mon..Fri *-*-* 02:00` means in chronofs exactly what it means
 * in the timer `chronoctl systemd generate` writes for it. The differential
 * test tests/integration/t0028-calendar-systemd.sh holds us to
 * `systemd-analyze calendar` on the normalized form and the next elapses.
 *
 * The language, in short (systemd.time(7) has the full text):
 *
 *   [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [ZONE]
 *
 *   WEEKDAYS   Mon..Sun or the full English names, any case, as a comma
 *              list of days and ranges ("Mon..Fri", "Sat,Sun").
 *   components each a '*' or a comma list of VALUE, VALUE..VALUE (a range)
 *              and VALUE/REPEAT or VALUE..VALUE/REPEAT (every REPEAT from
 *              VALUE); years 1970..2199 (two digits: 70..99 are 19xx,
 *              00..69 20xx); seconds may have up to six decimals.
 *   MONTH~DAY  DAY counted from the end of the month: "*-*~01" is the last
 *              day, "*-02~03" the third last day of February.
 *   omitted    no date: every day; no time: 00:00:00; no seconds: :00.
 *   ZONE       "UTC" (any case) or a name under /usr/share/zoneinfo
 *              ("Europe/Berlin"); without one, local time, that is the TZ
 *              environment variable at the time of cfs_calendar_next().
 *   @SECONDS   one instant (UTC).
 *   shorthands minutely, hourly, daily, weekly, monthly, yearly, annually,
 *              quarterly, semiannually (and systemd's spellings anually,
 *              biannually, bi-annually, semi-annually), any case.
 *
 * Known gaps, all rare in practice (each refused or documented, never
 * silently misread):
 *   - A trailing abbreviation of the LOCAL zone ("12:00 CET" under
 *     TZ=Europe/Berlin) makes systemd force standard or daylight time for
 *     that expression, with odd results (systemd 252 finds no elapse at
 *     all for "12:00 CET" from a summer day). We read "CET" as the zoneinfo
 *     zone of that name when one exists (same normalized form, 12:00 local
 *     time in that zone all year) and refuse the text (-EINVAL) when none
 *     does ("CEST").
 *   - Zones with leap seconds ("right/...") are read without them.
 *   - A component list is limited to 241 items, as systemd's.
 *
 * Daylight saving time (local zone and named zones alike), as systemd does
 * it with glibc's mktime(), which the tests check against systemd-analyze:
 *   - the search walks local wall-clock time forward from the wall-clock
 *     time just after `after`; a wall-clock time that does not exist (the
 *     hour skipped in spring) is not an elapse: the walk continues with the
 *     first time after the gap ("*-*-* 02:30" skips the day of the change);
 *   - a repeated wall-clock time (autumn) elapses once: at its first
 *     occurrence when the walk starts before the change, at the second when
 *     `after` is already in the repeated hour with the later offset; the
 *     walk does not go back, so "*:30" runs at 02:30 summer time and then
 *     03:30 winter time, not also at 02:30 winter time;
 *   - systemd's quirks included: where a component overflows (hour 30 from
 *     "0/10" after 22:00, month 16 from "4/6" after October) and the
 *     normalized time is cut back to the start of its day or year, the
 *     summer/winter flag of the normalized time is kept for the cut one
 *     (glibc then reads 00:00 of a winter day "in summer time" as 23:00 of
 *     the day before). So "0/10,7,21:23" in Berlin skips 00:23 on the day
 *     summer time ends, and "*-4/6-23" from October finds nothing (systemd
 *     reports an infinite loop; we -ENOENT). t0028 checks these against
 *     systemd too.
 *
 * Named zones are read from /usr/share/zoneinfo (TZif, with its POSIX TZ
 * rule for the years after the file's last transition) at parse time and
 * kept in the object: cfs_calendar_next() does no I/O, never changes TZ,
 * and is pure for them. For the local zone it uses localtime_r() after
 * tzset().
 *
 * Threading: a parsed calendar is immutable; cfs_calendar_format() and
 * cfs_calendar_next() may be called from several threads at once (for the
 * local zone, as long as no thread changes TZ meanwhile).
 */
#pragma once

#include <stdint.h>

#include "chronofs/base.h"

struct cfs_calendar;

/*
 * Parse one expression (NUL-terminated text, untrusted: any bytes, any
 * length; bounded work and memory, no recursion). Leading blanks are an
 * error, as in systemd; the caller strips what its file format allows.
 * *ret (owned by the caller) written only on success.
 *
 * Returns 0; -EINVAL for a bad expression or an unknown zone (nothing
 * logged: the caller names the file, line and key); -ENOMEM.
 */
int cfs_calendar_parse(const char *s, struct cfs_calendar **ret);

/* Frees c; NULL is fine; returns NULL. */
struct cfs_calendar *cfs_calendar_free(struct cfs_calendar *c);
CFS_DEFINE_FREEP(struct cfs_calendar, cfs_calendar_free)

/*
 * The normalized form, as `systemd-analyze calendar` prints it after
 * "Normalized form: " ("daily" → "*-*-* 00:00:00", "Sat,Sun 12:00
 * Europe/Berlin" → "Sat,Sun *-*-* 12:00:00 Europe/Berlin"). Parsing it
 * again gives the same form. *ret malloc'ed (caller frees), written only
 * on success. Returns 0 or -ENOMEM.
 */
int cfs_calendar_format(const struct cfs_calendar *c, char **ret);

/*
 * The first elapse strictly after after_ns (UTC ns since the epoch), in
 * *ret_ns (written only on success). Elapses are whole microseconds, as in
 * systemd. The zone is the expression's, else local time (TZ, re-read with
 * tzset() at each call).
 *
 * Returns 0; -ENOENT when there is none: the expression never elapses
 * ("*-02-30"), its years are past, or the search (bounded to the years up
 * to 2199 and to 1000 steps, as systemd's) finds nothing.
 * Cost: at most 1000 steps of a few date conversions each.
 */
int cfs_calendar_next(const struct cfs_calendar *c, int64_t after_ns, int64_t *ret_ns);
