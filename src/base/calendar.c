/* SPDX-License-Identifier: MIT */
/*
 * calendar.c — systemd.time(7) calendar events (contract: calendar.h).
 *
 * Written from systemd.time(7) and from the behaviour of systemd 252's
 * `systemd-analyze calendar`, which tests/integration/t0028 compares with
 * ours expression by expression; where the manual is silent (what a chain
 * normalizes to, how a repeat is clipped, what a DST gap does) the
 * behaviour observed there is what we do.
 *
 * Representation. Six components (year, month, day, hour, minute and the
 * second in microseconds); each is a list of items {start, stop, repeat}:
 * a value is start, start+repeat, start+2·repeat, ... up to stop (stop -1:
 * no upper end; repeat 0: start only). An empty list is '*'. The second's
 * '*' is the item {0, -1, 1 s}, so fractional seconds stay possible.
 *
 * The search (cfs_calendar_next). Wall-clock time is a struct civ whose
 * fields may run out of range (day 31 of April, hour 24) until it is
 * normalized through the zone: cal_mktime() is our mktime(). From the wall
 * clock just after `after`, the components are matched from the year down
 * to the second; whenever a component has no value left in its parent
 * (no minute at or after :50 in "*:0/20"), the parent is advanced and the
 * walk restarts from there; whenever normalizing moves the wall clock
 * (April 31 is May 1; 02:30 in a DST gap is 03:30) the walk restarts from
 * the normalized time with the lower fields at their minimum, so a value
 * that does not exist is skipped and never matched by overflow. The years
 * are bounded (2199, the last one a component may name) and so are the
 * steps (1000), which is how "*-02-30" ends with -ENOENT.
 *
 * Zones. An offset source gives the UTC offset at an instant: 0 for UTC,
 * localtime_r()'s tm_gmtoff for the local zone, our own reading of the
 * TZif file for a named zone (loaded at parse time, so the search does no
 * I/O and never touches the process's TZ). Wall clock → instant
 * (zone_to_utc) follows glibc's mktime() with tm_isdst = -1, which systemd
 * uses: an ambiguous time takes the offset of the previous conversion in
 * the same search (so a walk that starts in summer time gets the first
 * 02:30 of the autumn change, one that starts in the repeated hour gets the
 * second); a time in a gap is read with the offset before the gap, which
 * lands after it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chronofs/base.h"
#include "chronofs/calendar.h"
#include "base/calendar-internal.h"

#define USEC_PER_SEC 1000000
#define YEAR_MIN 1970
#define YEAR_MAX 2199
/* systemd refuses the 242nd item of a component list (its parser recursed
 * per item); we take the same limit so that both accept the same text. */
#define ITEMS_MAX 241
/* Not in systemd (which has no limit): the longest expression we read.
 * A real one is well under 200 bytes; this bounds the weekday loop and
 * the copies. */
#define TEXT_MAX 4096
/* The search's step limit, systemd's MAX_CALENDAR_ITERATIONS. */
#define STEPS_MAX 1000
#define ZONEINFO_DIR "/usr/share/zoneinfo/"
/* TZif files are a few KiB; anything much larger is not one. */
#define TZIF_MAX (1 << 20)
#define TZIF_TRANS_MAX 100000
#define TZIF_TYPES_MAX 256

enum { C_YEAR, C_MONTH, C_DAY, C_HOUR, C_MINUTE, C_USEC, C_N };

struct cal_item {
	int start, stop, repeat;
};

struct cal_chain {
	struct cal_item *v; /* owned; sorted by (start, stop, repeat), unique */
	size_t n;           /* 0: '*' */
};

/* The POSIX TZ rule of a TZif footer ("CET-1CEST,M3.5.0,M10.5.0/3"). */
struct tz_date {
	char kind;        /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' */
	int n, m, w, d;   /* J/D: n; M: month, week 1..5, weekday 0..6 (Sunday 0) */
	int32_t time;     /* seconds after local midnight, may be <0 or >24 h */
};

struct tz_rule {
	int32_t std_off, dst_off; /* seconds east of UTC */
	bool has_dst;
	struct tz_date start, end;
};

struct cal_zone {
	int64_t *trans;     /* owned, ascending */
	uint8_t *idx;       /* owned, type of each transition */
	size_t n_trans;
	int32_t *types;     /* owned, UTC offsets of the local time types */
	size_t n_types;
	bool has_rule;
	struct tz_rule rule;
};

struct cfs_calendar {
	int weekdays;        /* bit 0 Monday .. bit 6 Sunday; -1: every day */
	bool end_of_month;   /* the day counts from the end ("~") */
	bool utc;
	struct cal_chain chain[C_N];
	char *zone_name;     /* owned; NULL: local time or UTC */
	struct cal_zone *zone; /* owned; with zone_name */
};

/* ---------------------------------------------------------------------
 * Civil time
 */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*ret_m = m;
	*ret_y = yoe + era * 400 + (m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int mon0)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return mon0 == 1 && is_leap(y) ? 29 : dim[mon0];
}

/* Wall-clock time as struct tm has it (mon 0..11, wday 0 = Sunday), with
 * the full year. Between normalizations fields may be out of range. */
struct civ {
	int64_t year;
	int mon, mday, hour, min, sec, wday;
};

/* The wall clock as seconds "since the epoch" of local time. The fields are
 * small (a few units out of range at most; years bounded by the search), so
 * no overflow. */
static int64_t civ_to_local(const struct civ *c)
{
	int64_t y = c->year + floor_div(c->mon, 12);
	int m = (int)(c->mon - floor_div(c->mon, 12) * 12);
	int64_t days = days_from_civil(y, m + 1, 1) + c->mday - 1;
	return days * 86400 + (int64_t)c->hour * 3600 + (int64_t)c->min * 60 + c->sec;
}

static void civ_from_local(int64_t l, struct civ *c)
{
	int64_t days = floor_div(l, 86400), secs = l - days * 86400;
	int m, d;
	civil_from_days(days, &c->year, &m, &d);
	c->mon = m - 1;
	c->mday = d;
	c->hour = (int)(secs / 3600);
	c->min = (int)(secs / 60 % 60);
	c->sec = (int)(secs % 60);
	c->wday = (int)(days - floor_div(days + 4, 7) * 7 + 4) % 7; /* 1970-01-01: Thursday */
}

/* ---------------------------------------------------------------------
 * Zones: TZif files and POSIX TZ rules
 */

static struct cal_zone *zone_free(struct cal_zone *z)
{
	if (!z)
		return NULL;
	free(z->trans);
	free(z->idx);
	free(z->types);
	free(z);
	return NULL;
}
CFS_DEFINE_FREEP(struct cal_zone, zone_free)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* POSIX TZ pieces; each advances *p past what it read, -EINVAL on a bad
 * one. Names: three or more letters, or <anything but '>'>. */
static int tz_name(const char **p)
{
	const char *s = *p;
	if (*s == '<') {
		const char *e = strchr(s, '>');
		if (!e || e - s < 4)
			return -EINVAL;
		*p = e + 1;
		return 0;
	}
	while (isalpha((unsigned char)*s))
		s++;
	if (s - *p < 3)
		return -EINVAL;
	*p = s;
	return 0;
}

/* [+-]hh[:mm[:ss]], hh <= max_h; seconds, signed as written. */
static int tz_hms(const char **p, int max_h, int32_t *ret)
{
	const char *s = *p;
	int sign = 1, v[3] = { 0, 0, 0 };
	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (*s != ':')
				break;
			s++;
		}
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (int k = 0; k < 3 && isdigit((unsigned char)*s); k++)
			v[i] = v[i] * 10 + (*s++ - '0');
		if (isdigit((unsigned char)*s) || v[i] > (i == 0 ? max_h : 59))
			return -EINVAL;
	}
	*ret = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
	*p = s;
	return 0;
}

static int tz_num(const char **p, int lo, int hi, int *ret)
{
	const char *s = *p;
	int v = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (int k = 0; isdigit((unsigned char)*s); k++) {
		if (k >= 3)
			return -EINVAL;
		v = v * 10 + (*s++ - '0');
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	*p = s;
	return 0;
}

static int tz_date(const char **p, struct tz_date *d)
{
	int r;
	*d = (struct tz_date){ .time = 7200 };
	if (**p == 'J') {
		(*p)++;
		d->kind = 'J';
		r = tz_num(p, 1, 365, &d->n);
	} else if (**p == 'M') {
		(*p)++;
		d->kind = 'M';
		r = tz_num(p, 1, 12, &d->m);
		if (r >= 0 && *(*p)++ != '.')
			r = -EINVAL;
		if (r >= 0)
			r = tz_num(p, 1, 5, &d->w);
		if (r >= 0 && *(*p)++ != '.')
			r = -EINVAL;
		if (r >= 0)
			r = tz_num(p, 0, 6, &d->d);
	} else {
		d->kind = 'D';
		r = tz_num(p, 0, 365, &d->n);
	}
	if (r < 0)
		return r;
	if (**p == '/') {
		(*p)++;
		r = tz_hms(p, 167, &d->time);
	}
	return r;
}

static int tz_rule_parse(const char *s, struct tz_rule *ret)
{
	struct tz_rule r = { 0 };
	int32_t off;
	int k;

	if ((k = tz_name(&s)) < 0 || (k = tz_hms(&s, 24, &off)) < 0)
		return k;
	r.std_off = -off; /* POSIX offsets count west */
	if (*s) {
		if ((k = tz_name(&s)) < 0)
			return k;
		r.has_dst = true;
		r.dst_off = r.std_off + 3600;
		if (*s && *s != ',') {
			if ((k = tz_hms(&s, 24, &off)) < 0)
				return k;
			r.dst_off = -off;
		}
		if (*s == ',') {
			s++;
			if ((k = tz_date(&s, &r.start)) < 0)
				return k;
			if (*s++ != ',')
				return -EINVAL;
			if ((k = tz_date(&s, &r.end)) < 0)
				return k;
		} else {
			/* POSIX leaves the default to the implementation; glibc's
			 * is the US rule. TZif footers always name a rule. */
			r.start = (struct tz_date){ .kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200 };
			r.end = (struct tz_date){ .kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200 };
		}
	}
	if (*s)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* The local (wall-clock) second of year y at which the rule date falls. */
static int64_t tz_date_local(const struct tz_date *d, int64_t y)
{
	int64_t day;
	if (d->kind == 'J')
		day = days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
	else if (d->kind == 'D')
		day = days_from_civil(y, 1, 1) + d->n;
	else {
		int64_t first = days_from_civil(y, d->m, 1);
		int wd_first = (int)((first % 7 + 7 + 4) % 7);
		int mday = (d->d - wd_first + 7) % 7 + 1 + 7 * (d->w - 1);
		if (mday > days_in_month(y, d->m - 1))
			mday -= 7;
		day = first + mday - 1;
	}
	return day * 86400 + d->time;
}

static int32_t tz_rule_offset(const struct tz_rule *r, int64_t u)
{
	if (!r->has_dst)
		return r->std_off;
	int64_t days, y;
	int m, d;
	days = floor_div(u + r->std_off, 86400);
	civil_from_days(days, &y, &m, &d);
	/* The start is in standard time, the end in daylight time. */
	int64_t s = tz_date_local(&r->start, y) - r->std_off;
	int64_t e = tz_date_local(&r->end, y) - r->dst_off;
	bool dst = s < e ? (u >= s && u < e) : !(u >= e && u < s);
	return dst ? r->dst_off : r->std_off;
}

static int32_t zone_offset(const struct cal_zone *z, int64_t u)
{
	if (z->n_trans == 0 || u >= z->trans[z->n_trans - 1]) {
		if (z->has_rule)
			return tz_rule_offset(&z->rule, u);
		return z->n_trans == 0 ? z->types[0] : z->types[z->idx[z->n_trans - 1]];
	}
	if (u < z->trans[0])
		return z->types[0]; /* RFC 8536: type 0 before the first transition */
	size_t lo = 0, hi = z->n_trans - 1; /* trans[lo] <= u < trans[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= u)
			lo = mid;
		else
			hi = mid;
	}
	return z->types[z->idx[lo]];
}

/* RFC 8536. Version 1 files are read from their 32-bit block; later ones
 * from the 64-bit block and the footer. Every count and offset is checked
 * against the bytes read. */
static int tzif_parse(const uint8_t *p, size_t n, struct cal_zone **ret)
{
	_cleanup_(zone_freep) struct cal_zone *z = NULL;
	size_t off = 0;
	int tsize = 4;

	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	bool v2 = p[4] >= '2';
	for (int pass = 0; pass < (v2 ? 2 : 1); pass++) {
		if (n - off < 44 || memcmp(p + off, "TZif", 4) != 0)
			return -EINVAL;
		const uint8_t *h = p + off + 20;
		uint32_t isut = be32(h), isstd = be32(h + 4), leap = be32(h + 8);
		uint32_t timecnt = be32(h + 12), typecnt = be32(h + 16), charcnt = be32(h + 20);
		if (timecnt > TZIF_TRANS_MAX || typecnt == 0 || typecnt > TZIF_TYPES_MAX ||
		    leap > TZIF_TRANS_MAX || isut > typecnt || isstd > typecnt || charcnt > 65536)
			return -EINVAL;
		off += 44;
		size_t block = (size_t)timecnt * (tsize + 1) + (size_t)typecnt * 6 + charcnt +
			       (size_t)leap * (tsize + 4) + isstd + isut;
		if (n - off < block)
			return -EINVAL;
		if (pass == 0 && v2) {
			off += block;
			tsize = 8;
			continue;
		}
		z = calloc(1, sizeof(*z));
		if (!z)
			return -ENOMEM;
		z->trans = calloc(timecnt ? timecnt : 1, sizeof(*z->trans));
		z->idx = calloc(timecnt ? timecnt : 1, 1);
		z->types = calloc(typecnt, sizeof(*z->types));
		if (!z->trans || !z->idx || !z->types)
			return -ENOMEM;
		const uint8_t *t = p + off, *ix = t + (size_t)timecnt * tsize, *ty = ix + timecnt;
		for (uint32_t i = 0; i < timecnt; i++) {
			z->trans[i] = tsize == 8 ? (int64_t)be64(t + 8 * i) : (int32_t)be32(t + 4 * i);
			if (ix[i] >= typecnt || (i > 0 && z->trans[i] <= z->trans[i - 1]))
				return -EINVAL;
			z->idx[i] = ix[i];
		}
		for (uint32_t i = 0; i < typecnt; i++) {
			int32_t o = (int32_t)be32(ty + 6 * i);
			if (o < -26 * 3600 || o > 26 * 3600)
				return -EINVAL;
			z->types[i] = o;
		}
		z->n_trans = timecnt;
		z->n_types = typecnt;
		off += block;
	}
	if (v2 && off < n && p[off] == '\n') {
		const uint8_t *e = memchr(p + off + 1, '\n', n - off - 1);
		size_t len = e ? (size_t)(e - (p + off + 1)) : 0;
		if (!e || len >= 256)
			return -EINVAL;
		if (len > 0) {
			char footer[256];
			memcpy(footer, p + off + 1, len);
			footer[len] = 0;
			if (memchr(footer, 0, len) || tz_rule_parse(footer, &z->rule) < 0)
				return -EINVAL;
			z->has_rule = true;
		}
	}
	*ret = TAKE_PTR(z);
	return 0;
}

/* The name rules of systemd's timezone_is_valid(): letters, digits, "-_+/",
 * no leading '/', no empty component, then a regular file under
 * /usr/share/zoneinfo that starts with "TZif". -EINVAL when it is not a
 * zone (the caller then reads the text as part of the expression). */
static int zone_load(const char *name, struct cal_zone **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	char path[sizeof(ZONEINFO_DIR) + 256];
	bool slash = false;
	struct stat st;
	size_t len = strlen(name);

	if (len == 0 || len >= 256 || name[0] == '/')
		return -EINVAL;
	for (const char *s = name; *s; s++) {
		if (!isascii((unsigned char)*s) ||
		    !(isalnum((unsigned char)*s) || strchr("-_+/", *s)))
			return -EINVAL;
		if (*s == '/' && slash)
			return -EINVAL;
		slash = *s == '/';
	}
	if (slash)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s%s", ZONEINFO_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZIF_MAX)
		return -EINVAL;
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EINVAL;
		got += (size_t)k;
	}
	return tzif_parse(buf, got, ret);
}

/* ---------------------------------------------------------------------
 * Parsing
 */

static struct cfs_calendar *calendar_new(void)
{
	struct cfs_calendar *c = calloc(1, sizeof(*c));
	if (c)
		c->weekdays = 0;
	return c;
}

struct cfs_calendar *cfs_calendar_free(struct cfs_calendar *c)
{
	if (!c)
		return NULL;
	for (int i = 0; i < C_N; i++)
		free(c->chain[i].v);
	free(c->zone_name);
	zone_free(c->zone);
	free(c);
	return NULL;
}

static int chain_set(struct cal_chain *ch, const struct cal_item *items, size_t n)
{
	struct cal_item *v = NULL;
	if (n > 0) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, items, n * sizeof(*v));
	}
	free(ch->v);
	ch->v = v;
	ch->n = n;
	return 0;
}

/* Shorthands: constant values, as one item each. */
static int chain_const(struct cal_chain *ch, const int *values, size_t n)
{
	struct cal_item items[4];
	for (size_t i = 0; i < n; i++)
		items[i] = (struct cal_item){ values[i], -1, 0 };
	return chain_set(ch, items, n);
}

/* A decimal component value. For the second (usec), in microseconds with up
 * to six decimals (a seventh rounds, the rest is skipped; one '.' is the
 * decimal point, ".." a range). Values above INT_MAX are refused. */
static int parse_value(const char **p, bool usec, int *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > INT_MAX)
			return -EINVAL;
	}
	if (usec) {
		v *= USEC_PER_SEC;
		if (s[0] == '.' && s[1] != '.') {
			unsigned frac = 0;
			int i;
			s++;
			if (!isdigit((unsigned char)*s))
				return -EINVAL;
			for (i = 0; i < 6 && isdigit((unsigned char)*s); i++)
				frac = frac * 10 + (unsigned)(*s++ - '0');
			for (; i < 6; i++)
				frac *= 10;
			if (*s >= '5' && *s <= '9')
				frac++;
			while (isdigit((unsigned char)*s))
				s++;
			v += frac;
		}
		if (v > INT_MAX)
			return -EINVAL;
	}
	*ret = (int)v;
	*p = s;
	return 0;
}

/* One component: '*' or a comma list of VALUE[..VALUE][/REPEAT]. Leaves *p
 * on the first character after it. */
static int parse_chain(const char **p, bool usec, struct cal_chain *ch)
{
	struct cal_item items[ITEMS_MAX];
	const char *s = *p;
	size_t n = 0;

	if (*s == '*') {
		*p = s + 1;
		if (usec) {
			items[0] = (struct cal_item){ 0, -1, USEC_PER_SEC };
			return chain_set(ch, items, 1);
		}
		return chain_set(ch, NULL, 0);
	}
	for (;;) {
		int start, stop = -1, repeat = 0, r;

		if (n >= ITEMS_MAX)
			return -EINVAL;
		if ((r = parse_value(&s, usec, &start)) < 0)
			return r;
		if (s[0] == '.' && s[1] == '.') {
			s += 2;
			if ((r = parse_value(&s, usec, &stop)) < 0)
				return r;
			repeat = usec ? USEC_PER_SEC : 1;
		}
		if (*s == '/') {
			s++;
			if ((r = parse_value(&s, usec, &repeat)) < 0)
				return r;
			if (repeat == 0)
				return -EINVAL;
		} else {
			if (start > INT_MAX - repeat)
				return -EINVAL;
			/* A range of seconds needs a repeat below one second
			 * written out: the default step is one second. */
			if (usec && stop >= 0 && start + repeat > stop)
				return -EINVAL;
		}
		if (!strchr(" ,-~:", *s)) /* includes the NUL */
			return -EINVAL;
		items[n++] = (struct cal_item){ start, stop, repeat };
		if (*s != ',')
			break;
		s++;
	}
	*p = s;
	return chain_set(ch, items, n);
}

static const struct {
	const char *name;
	int nr;
} weekday_names[] = {
	{ "Monday", 0 },   { "Mon", 0 }, { "Tuesday", 1 }, { "Tue", 1 },  { "Wednesday", 2 },
	{ "Wed", 2 },      { "Thursday", 3 }, { "Thu", 3 }, { "Friday", 4 }, { "Fri", 4 },
	{ "Saturday", 5 }, { "Sat", 5 }, { "Sunday", 6 },  { "Sun", 6 },
};

static const char *skip_blanks(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* WEEKDAYS: a comma list of days and DAY..DAY (or the old DAY-DAY) ranges;
 * no weekday at all is fine. A trailing comma is accepted, as systemd does. */
static int parse_weekdays(const char **p, struct cfs_calendar *c)
{
	int l = -1;
	bool first = true;

	for (;;) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(weekday_names); i++) {
			size_t k = strlen(weekday_names[i].name);
			if (strncasecmp(*p, weekday_names[i].name, k) != 0)
				continue;
			if (!strchr("-., ", (*p)[k])) /* includes the NUL */
				return -EINVAL;
			int nr = weekday_names[i].nr;
			c->weekdays |= 1 << nr;
			if (l >= 0) {
				if (l > nr)
					return -EINVAL;
				for (int j = l + 1; j < nr; j++)
					c->weekdays |= 1 << j;
			}
			*p += k;
			break;
		}
		if (i >= ARRAY_SIZE(weekday_names))
			return first ? 0 : -EINVAL;
		int nr = weekday_names[i].nr;
		if (**p == 0)
			return 0;
		if (**p == ' ') {
			*p = skip_blanks(*p);
			return 0;
		}
		if (**p == '.') {
			if (l >= 0 || (*p)[1] != '.')
				return -EINVAL;
			l = nr;
			*p += 2;
		} else if (**p == '-') {
			if (l >= 0)
				return -EINVAL;
			l = nr;
			*p += 1;
		} else if (**p == ',') {
			l = -1;
			*p += 1;
		}
		if (**p == 0 || **p == ' ') {
			*p = skip_blanks(*p);
			return l < 0 ? 0 : -EINVAL;
		}
		first = false;
	}
}

/* "@SECONDS": one instant, in UTC. */
static int parse_timestamp(const char **p, struct cfs_calendar *c)
{
	const char *s = *p + 1;
	uint64_t v = 0;
	int r;

	/* strtoul() in systemd: blanks and a '+' may lead; '-' wraps to a
	 * time before 1970, which the year check refuses anyway. */
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > (uint64_t)INT64_MAX / 1000000000) /* far past year 2199 */
			return -EINVAL;
	}
	struct civ t;
	civ_from_local((int64_t)v, &t);
	int vals[C_N] = { (int)t.year, t.mon + 1, t.mday, t.hour, t.min, t.sec * USEC_PER_SEC };
	for (int i = 0; i < C_N; i++)
		if ((r = chain_const(&c->chain[i], &vals[i], 1)) < 0)
			return r;
	c->utc = true;
	*p = s;
	return 0;
}

/* [[YEAR-]MONTH-DAY]; returns 1 after "@SECONDS" (no time may follow). */
static int parse_date(const char **p, struct cfs_calendar *c)
{
	struct cal_chain first = { 0 }, second = { 0 }, third = { 0 };
	const char *t = *p;
	int r;

	if (*t == 0)
		return 0;
	if (*t == '@') {
		r = parse_timestamp(p, c);
		return r < 0 ? r : 1;
	}
	if ((r = parse_chain(&t, false, &first)) < 0)
		goto out;
	/* The end, or a ':': that was a time, to be read again as one. */
	if (*t == 0 || *t == ':') {
		r = 0;
		goto out;
	}
	r = -EINVAL;
	if (*t == '~')
		c->end_of_month = true;
	else if (*t != '-')
		goto out;
	t++;
	if ((r = parse_chain(&t, false, &second)) < 0)
		goto out;
	if (*t == 0 || *t == ' ') {
		*p = skip_blanks(t);
		c->chain[C_MONTH] = first;
		c->chain[C_DAY] = second;
		return 0;
	}
	r = -EINVAL;
	if (c->end_of_month)
		goto out;
	if (*t == '~')
		c->end_of_month = true;
	else if (*t != '-')
		goto out;
	t++;
	if ((r = parse_chain(&t, false, &third)) < 0)
		goto out;
	r = -EINVAL;
	if (*t != 0 && *t != ' ')
		goto out;
	*p = skip_blanks(t);
	c->chain[C_YEAR] = first;
	c->chain[C_MONTH] = second;
	c->chain[C_DAY] = third;
	return 0;
out:
	free(first.v);
	free(second.v);
	free(third.v);
	return r;
}

/* [HOUR:MINUTE[:SECOND]]; nothing is 00:00:00. */
static int parse_time(const char **p, struct cfs_calendar *c)
{
	static const int zero = 0;
	const char *t = *p;
	int r;

	if (*t == 0) {
		for (int i = C_HOUR; i <= C_USEC; i++)
			if ((r = chain_const(&c->chain[i], &zero, 1)) < 0)
				return r;
		return 0;
	}
	if ((r = parse_chain(&t, false, &c->chain[C_HOUR])) < 0)
		return r;
	if (*t++ != ':')
		return -EINVAL;
	if ((r = parse_chain(&t, false, &c->chain[C_MINUTE])) < 0)
		return r;
	if (*t == 0)
		r = chain_const(&c->chain[C_USEC], &zero, 1);
	else if (*t++ != ':')
		return -EINVAL;
	else
		r = parse_chain(&t, true, &c->chain[C_USEC]);
	if (r < 0)
		return r;
	if (*t != 0)
		return -EINVAL;
	*p = t;
	return 0;
}

static int shorthand(const char *s, struct cfs_calendar *c)
{
	static const int zero = 0, one = 1, quarters[] = { 1, 4, 7, 10 }, halves[] = { 1, 7 };
	static const struct {
		const char *name;
		int level; /* the components below it are 0 or 1; it and above '*' */
		const int *months;
		size_t n_months;
	} table[] = {
		{ "minutely", C_USEC, NULL, 0 },     { "hourly", C_MINUTE, NULL, 0 },
		{ "daily", C_HOUR, NULL, 0 },        { "weekly", C_HOUR, NULL, 0 },
		{ "monthly", C_DAY, NULL, 0 },       { "yearly", C_MONTH, &one, 1 },
		{ "annually", C_MONTH, &one, 1 },    { "anually", C_MONTH, &one, 1 },
		{ "quarterly", C_MONTH, quarters, 4 }, { "semiannually", C_MONTH, halves, 2 },
		{ "semi-annually", C_MONTH, halves, 2 }, { "biannually", C_MONTH, halves, 2 },
		{ "bi-annually", C_MONTH, halves, 2 },
	};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		if (strcasecmp(s, table[i].name) != 0)
			continue;
		for (int k = table[i].level; k <= C_USEC; k++) {
			if (k == C_MONTH)
				r = chain_const(&c->chain[k], table[i].months, table[i].n_months);
			else
				r = chain_const(&c->chain[k], k == C_DAY ? &one : &zero, 1);
			if (r < 0)
				return r;
		}
		if (strcmp(table[i].name, "weekly") == 0)
			c->weekdays = 1; /* Monday */
		return 1;
	}
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct cal_item *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->stop != y->stop)
		return x->stop < y->stop ? -1 : 1;
	return x->repeat < y->repeat ? -1 : x->repeat > y->repeat;
}

/* As systemd: a range is cut to a whole number of repeats; a repeat that
 * cannot happen even once, and a range of one value, become a plain value;
 * the list is sorted and duplicates dropped. */
static void normalize_chain(struct cal_chain *ch)
{
	for (size_t i = 0; i < ch->n; i++) {
		struct cal_item *it = &ch->v[i];
		if (it->stop > it->start && it->repeat > 0)
			it->stop -= (it->stop - it->start) % it->repeat;
		if ((it->stop > it->start && it->repeat > 0 && it->start + it->repeat > it->stop) ||
		    it->start == it->stop) {
			it->repeat = 0;
			it->stop = -1;
		}
	}
	if (ch->n <= 1)
		return;
	qsort(ch->v, ch->n, sizeof(ch->v[0]), item_cmp);
	size_t k = 1;
	for (size_t i = 1; i < ch->n; i++)
		if (item_cmp(&ch->v[i], &ch->v[k - 1]) != 0)
			ch->v[k++] = ch->v[i];
	ch->n = k;
}

static bool chain_valid(const struct cal_chain *ch, int from, int to, bool end_of_month)
{
	/* "~" counts at most 28 days back: every month has them. */
	if (end_of_month)
		to -= 3;
	for (size_t i = 0; i < ch->n; i++) {
		const struct cal_item *it = &ch->v[i];
		if (it->start < from || it->start > to || it->repeat > to - from)
			return false;
		if (it->stop >= 0) {
			if (it->stop < from || it->stop > to || it->start + it->repeat > it->stop)
				return false;
		} else if (end_of_month ? it->start - it->repeat < from : it->start + it->repeat > to)
			return false;
	}
	return true;
}

int cfs_calendar_parse(const char *s, struct cfs_calendar **ret)
{
	_cleanup_(cfs_calendar_freep) struct cfs_calendar *c = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (!s || !ret)
		return -EINVAL;
	len = strnlen(s, TEXT_MAX + 1);
	if (len > TEXT_MAX)
		return -EINVAL;
	text = strndup(s, len);
	c = calendar_new();
	if (!text || !c)
		return -ENOMEM;

	/* The zone: " UTC" (any case), else a zoneinfo name after the last
	 * blank. */
	if (len >= 4 && strcasecmp(text + len - 4, " UTC") == 0) {
		c->utc = true;
		text[len - 4] = 0;
	} else {
		char *blank = strrchr(text, ' ');
		if (blank) {
			r = zone_load(blank + 1, &c->zone);
			if (r == -ENOMEM)
				return r;
			if (r >= 0) {
				c->zone_name = strdup(blank + 1);
				if (!c->zone_name)
					return -ENOMEM;
				*blank = 0;
			}
		}
	}
	if (!*text)
		return -EINVAL;

	const char *p = text;
	r = shorthand(p, c);
	if (r < 0)
		return r;
	if (r == 0) {
		if ((r = parse_weekdays(&p, c)) < 0)
			return r;
		if ((r = parse_date(&p, c)) < 0)
			return r;
		if (r == 0 && (r = parse_time(&p, c)) < 0)
			return r;
		if (*p != 0)
			return -EINVAL;
	}

	/* Normalize as systemd does, then check the ranges. */
	if (c->zone_name && strcmp(c->zone_name, "UTC") == 0) {
		c->utc = true;
		free(c->zone_name);
		c->zone_name = NULL;
		c->zone = zone_free(c->zone);
	}
	if (c->weekdays <= 0 || c->weekdays >= 127)
		c->weekdays = -1;
	if (c->end_of_month && c->chain[C_DAY].n == 0)
		c->end_of_month = false;
	for (size_t i = 0; i < c->chain[C_YEAR].n; i++) {
		struct cal_item *it = &c->chain[C_YEAR].v[i];
		if (it->start >= 0 && it->start < 70)
			it->start += 2000;
		else if (it->start >= 70 && it->start < 100)
			it->start += 1900;
		if (it->stop >= 0 && it->stop < 70)
			it->stop += 2000;
		else if (it->stop >= 70 && it->stop < 100)
			it->stop += 1900;
	}
	for (int i = 0; i < C_N; i++)
		normalize_chain(&c->chain[i]);
	if (!chain_valid(&c->chain[C_YEAR], YEAR_MIN, YEAR_MAX, false) ||
	    !chain_valid(&c->chain[C_MONTH], 1, 12, false) ||
	    !chain_valid(&c->chain[C_DAY], 1, 31, c->end_of_month) ||
	    !chain_valid(&c->chain[C_HOUR], 0, 23, false) ||
	    !chain_valid(&c->chain[C_MINUTE], 0, 59, false) ||
	    !chain_valid(&c->chain[C_USEC], 0, 60 * USEC_PER_SEC - 1, false))
		return -EINVAL;

	*ret = TAKE_PTR(c);
	return 0;
}

/* ---------------------------------------------------------------------
 * Formatting
 */

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void out_add(struct out *o, const char *fmt, ...) _printf_(2, 3);
static void out_add(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (o->oom || k < 0)
		return;
	/* Every piece is a number or a name of at most 255 bytes. */
	const char *src = tmp;
	size_t n = (size_t)k;
	if (n >= sizeof(tmp))
		return; /* not reached: pieces are short */
	if (o->len + n + 1 > o->cap) {
		size_t cap = CFS_MAX(o->cap * 2, o->len + n + 64);
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, src, n + 1);
	o->len += n;
}

static void format_weekdays(struct out *o, int bits)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	bool comma = false;
	int l = -1, x;

	for (x = 0; x < 7; x++) {
		if (bits & (1 << x)) {
			if (l < 0) {
				out_add(o, "%s%s", comma ? "," : "", days[x]);
				comma = true;
				l = x;
			}
		} else if (l >= 0) {
			if (x > l + 1)
				out_add(o, "%s%s", x > l + 2 ? ".." : ",", days[x - 1]);
			l = -1;
		}
	}
	if (l >= 0 && x > l + 1)
		out_add(o, "%s%s", x > l + 2 ? ".." : ",", days[x - 1]);
}

static void format_chain(struct out *o, int width, const struct cal_chain *ch, bool usec)
{
	int d = usec ? USEC_PER_SEC : 1;
	bool star = ch->n == 0;

	for (size_t i = 0; usec && i < ch->n; i++)
		if (ch->v[i].start == 0 && ch->v[i].stop < 0 && ch->v[i].repeat == USEC_PER_SEC)
			star = true;
	if (star) {
		out_add(o, "*");
		return;
	}
	for (size_t i = 0; i < ch->n; i++) {
		const struct cal_item *it = &ch->v[i];
		if (i > 0)
			out_add(o, ",");
		out_add(o, "%0*d", width, it->start / d);
		if (it->start % d > 0)
			out_add(o, ".%06d", it->start % d);
		if (it->stop > 0)
			out_add(o, "..%0*d", width, it->stop / d);
		if (it->stop % d > 0)
			out_add(o, ".%06d", it->stop % d);
		if (it->repeat > 0 && !(it->stop > 0 && it->repeat == d))
			out_add(o, "/%d", it->repeat / d);
		if (it->repeat % d > 0)
			out_add(o, ".%06d", it->repeat % d);
	}
}

int cfs_calendar_format(const struct cfs_calendar *c, char **ret)
{
	struct out o = { 0 };

	if (c->weekdays > 0 && c->weekdays < 127) {
		format_weekdays(&o, c->weekdays);
		out_add(&o, " ");
	}
	format_chain(&o, 4, &c->chain[C_YEAR], false);
	out_add(&o, "-");
	format_chain(&o, 2, &c->chain[C_MONTH], false);
	out_add(&o, "%c", c->end_of_month ? '~' : '-');
	format_chain(&o, 2, &c->chain[C_DAY], false);
	out_add(&o, " ");
	format_chain(&o, 2, &c->chain[C_HOUR], false);
	out_add(&o, ":");
	format_chain(&o, 2, &c->chain[C_MINUTE], false);
	out_add(&o, ":");
	format_chain(&o, 2, &c->chain[C_USEC], true);
	if (c->utc)
		out_add(&o, " UTC");
	else if (c->zone_name)
		out_add(&o, " %s", c->zone_name);
	if (o.oom || !o.buf) {
		free(o.buf);
		return -ENOMEM;
	}
	*ret = o.buf;
	return 0;
}

/* ---------------------------------------------------------------------
 * The search
 */

struct search {
	const struct cfs_calendar *cal;
	int32_t hint; /* the offset of the last conversion: glibc's guess */
};

static int32_t offset_at(const struct search *s, int64_t u)
{
	if (s->cal->utc)
		return 0;
	if (s->cal->zone)
		return zone_offset(s->cal->zone, u);
	time_t t = (time_t)u;
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

/* Wall clock (as local seconds) → instant, as mktime() with tm_isdst -1:
 * glibc starts from the previous conversion's offset and follows the
 * offsets until they agree; an ambiguous time thus keeps the previous
 * offset when it is one of its two. When they never agree, the time is in
 * a gap, and glibc reads it with the smaller offset (the one before a
 * spring change), which lands after the gap. */
static int64_t zone_to_utc(struct search *s, int64_t l)
{
	int64_t t = l - s->hint;
	int32_t seen_min = INT32_MAX;

	for (int i = 0; i < 6; i++) {
		int32_t o = offset_at(s, t);
		seen_min = CFS_MIN(seen_min, o);
		if (l - o == t) {
			s->hint = o;
			return t;
		}
		t = l - o;
	}
	t = l - seen_min;
	s->hint = offset_at(s, t);
	return t;
}

/* mktime(): normalizes *c in place (fields in range, wday set) and returns
 * the instant. */
static int64_t cal_mktime(struct search *s, struct civ *c)
{
	int64_t l = civ_to_local(c);
	int64_t u = s->cal->utc ? l : zone_to_utc(s, l);
	civ_from_local(u + (s->cal->utc ? 0 : offset_at(s, u)), c);
	return u;
}

/* The smallest value of component `comp` at or after *val; 1 when it is
 * not *val, 0 when it is, -ENOENT when there is none. */
static int match_component(const struct cfs_calendar *cal, int comp, const struct civ *c, int *val)
{
	const struct cal_chain *ch = &cal->chain[comp];
	bool eom = cal->end_of_month && comp == C_DAY;
	int64_t best = -1;
	bool found = false;

	if (ch->n == 0)
		return 0;
	for (size_t i = 0; i < ch->n; i++) {
		int64_t start = ch->v[i].start, stop = ch->v[i].stop, k;
		if (eom) {
			/* Day d from the end is dim + 1 - d; -1 when that is not
			 * in this month (and for "no stop"). */
			int dim = days_in_month(c->year, c->mon);
			start = start >= 1 && start <= dim ? dim + 1 - start : -1;
			stop = stop >= 1 && stop <= dim ? dim + 1 - stop : -1;
			if (stop > 0) {
				int64_t x = start;
				start = stop;
				stop = x;
			}
		}
		if (start >= *val)
			k = start;
		else if (ch->v[i].repeat > 0) {
			int64_t rep = ch->v[i].repeat;
			k = start + rep * ((*val - start + rep - 1) / rep);
			if (stop >= 0 && k > stop)
				continue;
		} else
			continue;
		if (!found || k < best) {
			best = k;
			found = true;
		}
	}
	if (!found)
		return -ENOENT;
	int changed = *val != best;
	*val = (int)best;
	return changed;
}

/* After setting a field: 1 when *c is a real time as it stands; 0 when
 * normalizing moved it forward (*c is then the normalized time, with the
 * field below the one that moved at its minimum: the walk restarts there);
 * -ERANGE past the last year; -EDEADLK when normalizing went backward. */
static int within_bounds(struct search *s, struct civ *c)
{
	if (c->year > YEAR_MAX)
		return -ERANGE;
	struct civ t = *c;
	(void)cal_mktime(s, &t);
	int cmp;
#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b))
	if ((cmp = CMP(t.year, c->year)) != 0)
		t.mon = 0;
	else if ((cmp = CMP(t.mon, c->mon)) != 0)
		t.mday = 1;
	else if ((cmp = CMP(t.mday, c->mday)) != 0)
		t.hour = 0;
	else if ((cmp = CMP(t.hour, c->hour)) != 0)
		t.min = 0;
	else if ((cmp = CMP(t.min, c->min)) != 0)
		t.sec = 0;
	else
		cmp = CMP(t.sec, c->sec);
#undef CMP
	if (cmp < 0)
		return -EDEADLK;
	if (cmp > 0)
		*c = t;
	return cmp == 0;
}

static bool weekday_matches(struct search *s, const struct civ *c)
{
	int bits = s->cal->weekdays;
	if (bits < 0 || bits >= 127)
		return true;
	struct civ t = *c;
	(void)cal_mktime(s, &t);
	return bits & (1 << (t.wday == 0 ? 6 : t.wday - 1));
}

static void reset_below(struct civ *c, int *usec, int comp)
{
	if (comp < C_MONTH)
		c->mon = 0;
	if (comp < C_DAY)
		c->mday = 1;
	if (comp < C_HOUR)
		c->hour = 0;
	if (comp < C_MINUTE)
		c->min = 0;
	if (comp < C_USEC) {
		c->sec = 0;
		*usec = 0;
	}
}

/* The next value of component `comp` (its parent, when the component has
 * no value left): one more, the fields below at their minimum. */
static void advance(struct civ *c, int *usec, int comp)
{
	if (comp == C_YEAR)
		c->year++;
	else if (comp == C_MONTH)
		c->mon++;
	else if (comp == C_DAY)
		c->mday++;
	else if (comp == C_HOUR)
		c->hour++;
	else
		c->min++;
	reset_below(c, usec, comp);
}

/* Component `comp` of *c as the calendar counts it (months from 1, the
 * second in µs), and back. */
static int get_field(const struct civ *c, int usec, int comp)
{
	switch (comp) {
	case C_MONTH:
		return c->mon + 1;
	case C_DAY:
		return c->mday;
	case C_HOUR:
		return c->hour;
	case C_MINUTE:
		return c->min;
	default:
		return c->sec * USEC_PER_SEC + usec;
	}
}

static void set_field(struct civ *c, int *usec, int comp, int v)
{
	switch (comp) {
	case C_MONTH:
		c->mon = v - 1;
		break;
	case C_DAY:
		c->mday = v;
		break;
	case C_HOUR:
		c->hour = v;
		break;
	case C_MINUTE:
		c->min = v;
		break;
	default:
		c->sec = v / USEC_PER_SEC;
		*usec = v % USEC_PER_SEC;
	}
}

/* The walk (see the top of the file). Each step either matches every
 * component or moves the wall clock forward: when a component has no value
 * left (or normalizing went backward), its parent advances; when
 * normalizing moved the time forward, the walk restarts from there. */
static int find_next(struct search *s, struct civ *c, int *usec)
{
	const struct cfs_calendar *cal = s->cal;
	int r;

	for (int step = 0; step < STEPS_MAX; step++) {
		(void)cal_mktime(s, c);

		int year = (int)CFS_MIN(c->year, (int64_t)INT_MAX / 2);
		r = match_component(cal, C_YEAR, c, &year);
		if (r < 0)
			return -ENOENT;
		c->year = year;
		if (r > 0)
			reset_below(c, usec, C_YEAR);
		if (within_bounds(s, c) <= 0)
			return -ENOENT;

		int comp;
		for (comp = C_MONTH; comp <= C_USEC; comp++) {
			if (comp == C_HOUR && !weekday_matches(s, c)) {
				advance(c, usec, C_DAY);
				break;
			}
			int v = get_field(c, *usec, comp);
			r = match_component(cal, comp, c, &v);
			set_field(c, usec, comp, v);
			if (r > 0)
				reset_below(c, usec, comp);
			if (r < 0 || (r = within_bounds(s, c)) < 0) {
				advance(c, usec, comp - 1);
				break;
			}
			/* 0: normalizing moved the time (a day past the month's
			 * end, an hour in a DST gap): go on from there. */
			if (r == 0)
				break;
		}
		if (comp > C_USEC)
			return 0;
	}
	return -ENOENT;
}

int cfs_calendar_next(const struct cfs_calendar *cal, int64_t after_ns, int64_t *ret_ns)
{
	struct search s = { .cal = cal };
	struct civ c;
	int r;

	if (!cal || !ret_ns)
		return -EINVAL;
	if (!cal->utc && !cal->zone)
		tzset(); /* localtime_r() need not read TZ again (glibc's does not) */

	/* Elapses are whole microseconds: the first one after after_ns is the
	 * first one after floor(after_ns / 1000) µs. */
	int64_t from_us = floor_div(after_ns, 1000) + 1;
	int64_t t = floor_div(from_us, USEC_PER_SEC);
	int usec = (int)(from_us - t * USEC_PER_SEC);
	s.hint = offset_at(&s, t);
	civ_from_local(t + s.hint, &c);

	r = find_next(&s, &c, &usec);
	if (r < 0)
		return r;
	int64_t u = cal_mktime(&s, &c);
	/* Years are at most 2199 here, far inside int64 ns. Never report a
	 * time at or before `after`: the walk goes forward in wall-clock
	 * time, and the offsets could only betray that in a zone that moves
	 * its clock back by more than the walk advanced. */
	int64_t ns = (u * USEC_PER_SEC + usec) * 1000;
	if (ns <= after_ns)
		return -ENOENT;
	*ret_ns = ns;
	return 0;
}

int cfs_calendar_tzif_offsets(const void *p, size_t n, const int64_t *t, size_t n_t, int32_t *ret_off)
{
	_cleanup_(zone_freep) struct cal_zone *z = NULL;
	int r = tzif_parse(p, n, &z);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_t; i++)
		ret_off[i] = zone_offset(z, t[i]);
	return 0;
}
