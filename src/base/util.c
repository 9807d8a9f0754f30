/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "chronofs/util.h"

void cfs_hex_encode(const void *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

void cfs_base64_encode(const void *p, size_t n, char *out)
{
	static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *b = p;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)b[i + 1] << 8;
		if (i + 2 < n)
			v |= b[i + 2];
		out[o++] = d[v >> 18];
		out[o++] = d[(v >> 12) & 63];
		out[o++] = i + 1 < n ? d[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? d[v & 63] : '=';
	}
	out[o] = 0;
}

size_t cfs_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	/* Each test of a continuation byte fails on the NUL, which ends the
	 * && chain before anything past it is read. */
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (p[0] == 0xe0 && p[1] < 0xa0)
			return 0; /* overlong */
		if (p[0] == 0xed && p[1] >= 0xa0)
			return 0; /* surrogates */
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
			return 0; /* overlong, or past U+10FFFF */
		return 4;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cfs_hex_decode(const char *s, void *out, size_t n)
{
	uint8_t *b = out;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]);
		if (hi < 0)
			return -EINVAL;
		int lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == 0 ? 0 : -EINVAL;
}

int cfs_now_fake(int64_t *ret_ns)
{
#ifdef CFS_FAULT_INJECTION
	const char *v = getenv("CHRONOFS_TEST_NOW");
	if (!v || !*v)
		return 0;
	if (v[0] == '@') {
		char *end;
		errno = 0;
		long long sec = strtoll(v + 1, &end, 10);
		/* whole seconds that int64 ns can hold (1677..2262) */
		if (!isdigit((unsigned char)v[1]) || *end || errno || sec > INT64_MAX / 1000000000)
			return -EINVAL;
		*ret_ns = (int64_t)sec * 1000000000;
		return 1;
	}
	int64_t ns;
	if (cfs_time_parse(v, &ns) < 0)
		return -EINVAL;
	*ret_ns = ns;
	return 1;
#else
	(void)ret_ns;
	return 0;
#endif
}

int64_t cfs_now_ns(void)
{
	struct timespec ts;
	int64_t fake;
	if (cfs_now_fake(&fake) > 0)
		return fake;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cfs_strptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int64_t cfs_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cfs_ns_to_timespec(int64_t ns, struct timespec *ret)
{
	int64_t sec = ns / 1000000000, n = ns % 1000000000;
	if (n < 0) {
		n += 1000000000;
		sec--;
	}
	ret->tv_sec = (time_t)sec;
	ret->tv_nsec = (long)n;
}

int cfs_time_format(int64_t ns, char *out, size_t outlen)
{
	int64_t sec = ns / 1000000000;
	if (ns < 0 && ns % 1000000000)
		sec--;
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -ERANGE;
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -ERANGE;
	if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -ERANGE;
	return 0;
}

/* Exactly n ASCII digits (sscanf's %d would also take spaces and signs). */
static bool parse_digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* sec seconds plus frac (0..999999999) ns since the epoch, in int64 ns;
 * -ERANGE when that does not fit. For negative sec go through sec + 1 so
 * that instants just above INT64_MIN, whose whole second alone would not
 * fit, still do. */
static int sec_to_ns(int64_t sec, int64_t frac, int64_t *ret_ns)
{
	int64_t ns;
	if (sec >= 0) {
		if (__builtin_mul_overflow(sec, (int64_t)1000000000, &ns) || __builtin_add_overflow(ns, frac, &ns))
			return -ERANGE;
	} else {
		if (__builtin_mul_overflow(sec + 1, (int64_t)1000000000, &ns) ||
		    __builtin_sub_overflow(ns, 1000000000 - frac, &ns))
			return -ERANGE;
	}
	*ret_ns = ns;
	return 0;
}

/* The same, clamped to what int64 ns hold. */
static int64_t sec_to_ns_clamped(int64_t sec, int64_t frac)
{
	int64_t ns;
	if (sec_to_ns(sec, frac, &ns) < 0)
		return sec < 0 ? INT64_MIN : INT64_MAX;
	return ns;
}

/*
 * Strict: fixed-width fields, a real calendar date (timegm() would quietly
 * turn Feb 31 into Mar 3), and -ERANGE when the instant does not fit int64
 * nanoseconds (years before 1677 or after 2262) instead of overflowing.
 */
int cfs_time_parse(const char *s, int64_t *ret_ns)
{
	int Y, M, D, h, m, sec;
	if (strlen(s) < 20)
		return -EINVAL;
	if (!parse_digits(s, 4, &Y) || s[4] != '-' || !parse_digits(s + 5, 2, &M) || s[7] != '-' ||
	    !parse_digits(s + 8, 2, &D) || s[10] != 'T' || !parse_digits(s + 11, 2, &h) || s[13] != ':' ||
	    !parse_digits(s + 14, 2, &m) || s[16] != ':' || !parse_digits(s + 17, 2, &sec))
		return -EINVAL;
	/* sec == 60 is a leap second (RFC 3339); timegm() folds it into the next minute */
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (digits < 9) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		while (digits++ < 9)
			frac *= 10;
	}
	if (!(strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "+00:00") == 0))
		return -EINVAL;
	struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
	return sec_to_ns((int64_t)timegm(&tm), frac, ret_ns);
}

/* ---- times as people type them ------------------------------------------ */

/* A local clock reading (as seconds of timegm() of its fields) to the
 * instant, by the rules of the zone in effect (TZ honoured): the largest
 * instant t at which the clock showed at most `wall`. That is the instant
 * itself where the reading is unique; in an overlap (clocks set back) the
 * later of its two occurrences, as the "as of" of a reading is its last
 * moment; in a gap (clocks set forward past it) the last second before the
 * jump, when the clock last read less. */
static int64_t local_gmtoff(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return tm.tm_gmtoff;
}

static int64_t local_to_utc(int64_t wall)
{
	tzset(); /* TZ as it is now: localtime_r() need not read it again */
	/* Offsets lie within +-26 h: every one that applies near `wall` is
	 * seen by sampling each hour of the 52 h around it. */
	int64_t offs[56];
	size_t n = 0;
	for (int64_t k = -26; k <= 26; k++) {
		int64_t o = local_gmtoff(wall + k * 3600);
		bool seen = false;
		for (size_t i = 0; i < n; i++)
			seen = seen || offs[i] == o;
		if (!seen && n < ARRAY_SIZE(offs))
			offs[n++] = o;
	}
	int64_t best = INT64_MIN, lo = INT64_MAX, hi = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		int64_t t = wall - offs[i];
		if (local_gmtoff(t) == offs[i] && t > best)
			best = t;
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	if (best != INT64_MIN)
		return best;
	/* A gap: at lo the clock read less than wall, at hi more; find the
	 * last second at which it read at most wall. */
	if (lo + local_gmtoff(lo) > wall)
		return lo;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + local_gmtoff(mid) <= wall)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* "now", "today", "yesterday", "-2h", "now-2h". -EINVAL if s is none. */
static int parse_relative(const char *s, unsigned flags, int64_t now_ns, int64_t *ret_ns)
{
	if (strcasecmp(s, "now") == 0) {
		*ret_ns = now_ns;
		return 0;
	}
	if (strcasecmp(s, "today") == 0 || strcasecmp(s, "yesterday") == 0) {
		/* The end of that calendar day, in the zone offset-less times
		 * are read in. */
		int64_t sec = now_ns / 1000000000 - (now_ns < 0 && now_ns % 1000000000 ? 1 : 0);
		time_t tt = (time_t)sec;
		struct tm tm;
		tzset();
		if (!((flags & CFS_TIME_LOCAL) ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)))
			return -EINVAL;
		struct tm end = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday, .tm_hour = 23,
				 .tm_min = 59, .tm_sec = 59};
		if (tolower((unsigned char)s[0]) == 'y')
			end.tm_mday--; /* timegm() carries into the month before */
		int64_t wall = (int64_t)timegm(&end);
		*ret_ns = sec_to_ns_clamped((flags & CFS_TIME_LOCAL) ? local_to_utc(wall) : wall, 999999999);
		return 0;
	}
	if (strncasecmp(s, "now", 3) == 0)
		s += 3;
	if (*s != '-' || !(s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	int64_t n = 0, unit;
	const char *p = s + 1;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(n, (int64_t)10, &n) || __builtin_add_overflow(n, (int64_t)(*p - '0'), &n))
			n = INT64_MAX / 10; /* saturates: the result clamps anyway */
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -EINVAL;
	}
	if (p[1] != 0)
		return -EINVAL;
	int64_t back;
	if (__builtin_mul_overflow(n, unit * 1000000000, &back) || __builtin_sub_overflow(now_ns, back, ret_ns))
		*ret_ns = INT64_MIN;
	return 0;
}

/*
 * date    YYYY-MM-DD | YYYYMMDD
 * time    hh[:mm[:ss[(.|,)f+]]] after an extended date,
 *         hh[mm[ss[(.|,)f+]]] after a basic one
 * offset  Z | z | (+|-)hh[[:]mm]
 * s       date | date (T|t|' ') time [offset]
 * The fields are checked as cfs_time_parse() checks them (a real date,
 * hh <= 23, mm <= 59, ss <= 60); an offset's hours are <= 23.
 */
int cfs_time_parse_as_of(const char *s, unsigned flags, int64_t now_ns, int64_t *ret_ns)
{
	int Y, M, D, h = 23, m = 59, sec = 59;
	int64_t frac = 0, span = 999999999; /* the ns the last second or the fraction covers */
	const char *p = s;
	bool ext;

	if ((flags & CFS_TIME_RELATIVE) && parse_relative(s, flags, now_ns, ret_ns) == 0)
		return 0;
	if (parse_digits(p, 4, &Y) && p[4] == '-') {
		ext = true;
		if (!parse_digits(p + 5, 2, &M) || p[7] != '-' || !parse_digits(p + 8, 2, &D))
			return -EINVAL;
		p += 10;
	} else if (parse_digits(p, 4, &Y) && parse_digits(p + 4, 2, &M) && parse_digits(p + 6, 2, &D)) {
		ext = false;
		p += 8;
	} else {
		return -EINVAL;
	}
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M))
		return -EINVAL;
	int64_t off = 0;
	bool has_off = false;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -EINVAL;
		if (!parse_digits(++p, 2, &h))
			return -EINVAL;
		p += 2;
		if (ext ? (*p == ':' && parse_digits(p + 1, 2, &m)) : parse_digits(p, 2, &m)) {
			p += ext ? 3 : 2;
			if (ext ? (*p == ':' && parse_digits(p + 1, 2, &sec)) : parse_digits(p, 2, &sec)) {
				p += ext ? 3 : 2;
				span = 0;
				if (*p == '.' || *p == ',') {
					int digits = 0;
					int64_t unit = 1000000000;
					for (p++; *p >= '0' && *p <= '9'; p++, digits++)
						if (digits < 9) {
							unit /= 10;
							frac += unit * (*p - '0');
						}
					if (digits == 0)
						return -EINVAL;
					span = unit - 1;
				} else {
					span = 999999999;
				}
			}
		}
		if (h > 23 || m > 59 || sec > 60)
			return -EINVAL;
		if (*p == 'Z' || *p == 'z') {
			has_off = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om = 0;
			int sign = *p == '-' ? -1 : 1;
			if (!parse_digits(p + 1, 2, &oh))
				return -EINVAL;
			p += 3;
			if (*p == ':') {
				if (!parse_digits(p + 1, 2, &om))
					return -EINVAL;
				p += 3;
			} else if (parse_digits(p, 2, &om)) {
				p += 2;
			}
			if (oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (oh * 3600 + om * 60);
			has_off = true;
		}
		if (*p)
			return -EINVAL;
	}
	struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
	int64_t wall = (int64_t)timegm(&tm), t;
	if (has_off)
		t = wall - off;
	else if (flags & CFS_TIME_LOCAL)
		t = local_to_utc(wall);
	else
		t = wall;
	*ret_ns = sec_to_ns_clamped(t, frac + span);
	return 0;
}

int cfs_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int cfs_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* off < 0: read() from the current position (pipes). */
static ssize_t read_full(int fd, void *p, size_t n, int64_t off)
{
	uint8_t *b = p;
	size_t done = 0;
	while (done < n) {
		ssize_t r = off < 0 ? read(fd, b + done, n - done) : pread(fd, b + done, n - done, (off_t)off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t cfs_pread_full(int fd, void *p, size_t n, uint64_t off)
{
	return read_full(fd, p, n, (int64_t)off);
}

ssize_t cfs_read_full(int fd, void *p, size_t n)
{
	return read_full(fd, p, n, -1);
}

int cfs_mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;
			*p = 0;
			if (mkdir(tmp, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == 0)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int cfs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int cfs_read_file(const char *path, bool strip_nl, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 256, len = 0;
	_cleanup_free_ char *b = malloc(cap);
	if (!b)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > (16u << 20))
				return -EFBIG;
			char *nb = realloc(b, cap * 2);
			if (!nb)
				return -ENOMEM;
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	/* One newline, LF or CRLF; a lone trailing CR is content (it may be
	 * part of a passphrase). */
	if (strip_nl && len > 0 && b[len - 1] == '\n') {
		len--;
		if (len > 0 && b[len - 1] == '\r')
			len--;
	}
	b[len] = 0;
	*ret = TAKE_PTR(b);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int cfs_path_normalize(const char *path, char **ret)
{
	size_t len = strlen(path);
	if (path[0] != '/')
		return -EINVAL;
	char *out = malloc(len + 2);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 1 && s[0] == '.')
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			free(out);
			return -EINVAL;
		}
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	*ret = out;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int cfs_rm_rf(const char *path)
{
	int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (r < 0)
		return errno == ENOENT ? 0 : -errno;
	return r;
}

void cfs_random_suffix(char out[17])
{
	static atomic_uint_fast64_t counter;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		    atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull;
	}
	cfs_hex_encode(&v, sizeof(v), out);
}

static void tmpfile_name(struct cfs_tmpfile *t, const char *hint)
{
	char rnd[17];
	cfs_random_suffix(rnd);
	/* Within NAME_MAX however long the hint is: its only job is to help a
	 * human see what a stray temporary was. */
	snprintf(t->name, sizeof(t->name), "%.64s%.64s.%s", t->prefix, hint, rnd);
}

/* Without /proc an unnamed file could never be given a name. Asked once
 * per process (a restore makes a temporary per file). */
static bool proc_fd_usable(void)
{
	static atomic_int known; /* 0 not asked yet, 1 yes, -1 no */
	int v = atomic_load(&known);
	if (v == 0) {
		v = access("/proc/self/fd", X_OK) == 0 ? 1 : -1;
		atomic_store(&known, v);
	}
	return v > 0;
}

int cfs_tmpfile_open(int dir_fd, const char *prefix, const char *hint, bool unnamed, struct cfs_tmpfile *ret)
{
	struct cfs_tmpfile t = CFS_TMPFILE_INIT;

	t.dir_fd = dir_fd;
	t.prefix = prefix;
	if (unnamed && proc_fd_usable()) {
		t.fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (t.fd >= 0) {
			t.unnamed = true;
			*ret = t;
			return 0;
		}
		/* EOPNOTSUPP, EISDIR (kernels before 3.11), ...: a named one. */
	}
	for (int attempt = 0; attempt < 16; attempt++) {
		tmpfile_name(&t, hint);
		t.fd = openat(dir_fd, t.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (t.fd >= 0) {
			*ret = t;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int cfs_scratch_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (int attempt = 0; attempt < 16; attempt++) {
		char rnd[17], name[64];
		cfs_random_suffix(rnd);
		snprintf(name, sizeof(name), ".scratch.%s", rnd);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)unlinkat(dfd, name, 0);
			break;
		}
		if (errno != EEXIST)
			break;
	}
	int e = fd >= 0 ? 0 : -errno;
	close(dfd);
	return fd >= 0 ? fd : e;
}

/* Move from to name without replacing: RENAME_NOREPLACE where the file
 * system supports it, else link + unlink, which is as atomic for "exactly
 * one creator wins" (link fails with EEXIST). */
static int rename_noreplace(int from_fd, const char *from, int to_fd, const char *name)
{
	if (renameat2(from_fd, from, to_fd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;
	if (linkat(from_fd, from, to_fd, name, 0) < 0)
		return -errno;
	(void)unlinkat(from_fd, from, 0);
	return 0;
}

/* Link an unnamed file through /proc/self/fd, which needs no privilege
 * (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH before Linux 6.10). */
static int link_unnamed(int fd, int to_fd, const char *name)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, to_fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int cfs_tmpfile_link(struct cfs_tmpfile *t, int to_fd, const char *name, bool noreplace)
{
	int r;

	if (t->fd < 0 || t->linked)
		return -EBUSY;
	if (!t->unnamed) {
		if (noreplace)
			r = rename_noreplace(t->dir_fd, t->name, to_fd, name);
		else
			r = renameat(t->dir_fd, t->name, to_fd, name) < 0 ? -errno : 0;
		if (r == 0)
			t->linked = true;
		return r;
	}
	if (noreplace) {
		r = link_unnamed(t->fd, to_fd, name);
		if (r < 0)
			return r;
		t->linked = true;
		return 0;
	}
	/* Replacing: link under a temporary name, then rename over. */
	tmpfile_name(t, name);
	r = link_unnamed(t->fd, to_fd, t->name);
	if (r < 0)
		return r;
	if (renameat(to_fd, t->name, to_fd, name) < 0) {
		r = -errno;
		(void)unlinkat(to_fd, t->name, 0);
		return r;
	}
	t->linked = true;
	return 0;
}

void cfs_tmpfile_release(struct cfs_tmpfile *t)
{
	int saved = errno;
	if (t->fd >= 0) {
		close(t->fd);
		if (!t->unnamed && !t->linked)
			(void)unlinkat(t->dir_fd, t->name, 0);
	}
	t->fd = -1;
	errno = saved;
}
