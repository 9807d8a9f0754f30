/* SPDX-License-Identifier: MIT */
/*
 * Retention rules (policy.h): groups, newest-first order, calendar buckets.
 *
 * Method: one entry per item holds its canonical group key (host, sorted
 * and de-duplicated paths and tags, pointing into one pointer pool) and its
 * five bucket keys. Entries are sorted by group key (then index) to number
 * the groups in order of first appearance, sorted again by (group, time
 * descending, index descending), and each group's run is walked once,
 * newest first, with a countdown and the last kept bucket per rule.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chronofs/policy.h"
#include "chronofs/util.h"

#define NS_PER_SEC INT64_C(1000000000)

static const char *const reason_names[] = {
	"last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "tag", "hold",
};

const char *cfs_keep_reason_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(reason_names); i++)
		if (bit == 1u << i)
			return reason_names[i];
	return NULL;
}

bool cfs_keep_rules_empty(const struct cfs_keep_rules *r)
{
	return !r->last && !r->hourly && !r->daily && !r->weekly && !r->monthly && !r->yearly &&
	       !r->within_ns && !r->n_tags;
}

/* Whether s[0..len) is exactly word. */
static bool word_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(word, s, len) == 0;
}

int cfs_group_by_parse(const char *s, unsigned *ret)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {
		{"host", CFS_GROUP_HOST},
		{"paths", CFS_GROUP_PATHS},
		{"tags", CFS_GROUP_TAGS},
	};
	unsigned v = 0;

	if (!s)
		return -EINVAL;
	if (!*s) {
		*ret = 0;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(s, ",");
		unsigned bit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(words); i++)
			if (word_is(s, len, words[i].word))
				bit = words[i].bit;
		if (!bit || (v & bit))
			return -EINVAL;
		v |= bit;
		if (!s[len])
			break;
		s += len + 1;
	}
	*ret = v;
	return 0;
}

/* A count 1..UINT_MAX in s[0..len): what forget's --keep-* take. */
static int parse_count(const char *s, size_t len, unsigned *ret)
{
	uint64_t v = 0;
	if (!len || strspn(s, "0123456789") < len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v) ||
		    v > UINT_MAX)
			return -ERANGE;
	if (!v)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

#define KEEP_BLANKS " \t"

int cfs_keep_rules_parse(const char *s, struct cfs_keep_rules *ret, void **ret_storage, size_t *ret_bad_off,
			 size_t *ret_bad_len)
{
	struct cfs_keep_rules r = {0};
	unsigned *counts[] = {&r.last, &r.hourly, &r.daily, &r.weekly, &r.monthly, &r.yearly};
	/* reason_names[0..5] are the count words, in the order of counts[]. */
	size_t n_tags = 0, tag_bytes = 0, off = 0, len = 0;
	bool within = false;
	int e = 0;

	if (!s) {
		e = -EINVAL;
		goto bad;
	}
	/* Pass 1: check every word and count the tags' storage. */
	for (const char *p = s + strspn(s, KEEP_BLANKS); *p; p += len, p += strspn(p, KEEP_BLANKS)) {
		len = strcspn(p, KEEP_BLANKS);
		off = (size_t)(p - s);
		const char *colon = memchr(p, ':', len);
		size_t wlen = colon ? (size_t)(colon - p) : len, vlen = colon ? len - wlen - 1 : 0;
		const char *v = colon ? colon + 1 : NULL;
		size_t i;
		if (!colon || !vlen) {
			e = -EINVAL;
			goto bad;
		}
		for (i = 0; i < ARRAY_SIZE(counts); i++)
			if (word_is(p, wlen, reason_names[i]))
				break;
		if (i < ARRAY_SIZE(counts)) {
			unsigned n = 0;
			if (*counts[i] || (e = parse_count(v, vlen, &n)) < 0) {
				e = e ? e : -EINVAL;
				goto bad;
			}
			*counts[i] = n;
		} else if (word_is(p, wlen, "within")) {
			char buf[64];
			if (within || vlen >= sizeof(buf)) {
				e = within ? -EINVAL : -ERANGE;
				goto bad;
			}
			memcpy(buf, v, vlen);
			buf[vlen] = 0;
			if ((e = cfs_duration_parse(buf, &r.within_ns)) < 0)
				goto bad;
			within = true;
		} else if (word_is(p, wlen, "tag")) {
			n_tags++;
			tag_bytes += vlen + 1;
		} else {
			e = -EINVAL;
			goto bad;
		}
	}
	if (cfs_keep_rules_empty(&r) && !n_tags) {
		off = len = 0;
		e = -EINVAL;
		goto bad;
	}
	/* Pass 2: the tags, pointers then strings, in one block. */
	char **tags = NULL;
	if (n_tags) {
		tags = malloc(n_tags * sizeof(*tags) + tag_bytes);
		if (!tags)
			return -ENOMEM;
		char *str = (char *)(tags + n_tags);
		size_t k = 0;
		for (const char *p = s + strspn(s, KEEP_BLANKS); *p; p += len, p += strspn(p, KEEP_BLANKS)) {
			len = strcspn(p, KEEP_BLANKS);
			if (len < 4 || memcmp(p, "tag:", 4) != 0)
				continue;
			tags[k++] = str;
			memcpy(str, p + 4, len - 4);
			str[len - 4] = 0;
			str += len - 3;
		}
	}
	r.tags = (const char *const *)tags;
	r.n_tags = n_tags;
	*ret = r;
	*ret_storage = tags;
	return 0;
bad:
	if (ret_bad_off)
		*ret_bad_off = off;
	if (ret_bad_len)
		*ret_bad_len = len;
	return e;
}

/* Calendar buckets, in the order of the count fields and reason bits. */
enum { B_HOUR, B_DAY, B_WEEK, B_MONTH, B_YEAR, N_BUCKETS };

struct entry {
	size_t idx;
	size_t rep; /* index of the first item of its group */
	size_t group;
	int64_t time_ns;
	const char *host;           /* "" when not grouped by host */
	const char **paths, **tags; /* sorted, unique, in the pool; none when not grouped by them */
	size_t n_paths, n_tags;
	int64_t bucket[N_BUCKETS]; /* larger = later */
};

static int days_in_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365;
}

/*
 * ISO 8601 week: weeks start on Monday and belong to the year of their
 * Thursday (so 2020-12-31, a Thursday, and 2021-01-03, a Sunday, are in
 * week 53 of 2020; 2021-01-04 starts week 1 of 2021). The week number is
 * the 0-based day of the year of that Thursday / 7 + 1.
 */
static int64_t iso_week_key(const struct tm *tm)
{
	int64_t year = (int64_t)tm->tm_year + 1900;
	int monday_based = (tm->tm_wday + 6) % 7;
	int thursday = tm->tm_yday - monday_based + 3;

	if (thursday < 0) {
		year--;
		thursday += days_in_year(year);
	} else if (thursday >= days_in_year(year)) {
		thursday -= days_in_year(year);
		year++;
	}
	return year * 100 + thursday / 7 + 1;
}

static int fill_buckets(struct entry *e)
{
	struct timespec ts;
	struct tm tm;

	cfs_ns_to_timespec(e->time_ns, &ts);
	if (!localtime_r(&ts.tv_sec, &tm))
		return -EOVERFLOW;
	int64_t y = (int64_t)tm.tm_year + 1900;
	e->bucket[B_YEAR] = y;
	e->bucket[B_MONTH] = y * 100 + tm.tm_mon + 1;
	e->bucket[B_DAY] = e->bucket[B_MONTH] * 100 + tm.tm_mday;
	e->bucket[B_HOUR] = e->bucket[B_DAY] * 100 + tm.tm_hour;
	e->bucket[B_WEEK] = iso_week_key(&tm);
	return 0;
}

/* Sort v[0..n) and drop repeats; returns the new count. */
static size_t sort_unique(const char **v, size_t n)
{
	size_t m = 0;

	qsort(v, n, sizeof(*v), cfs_strptr_cmp);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || strcmp(v[i], v[m - 1]) != 0)
			v[m++] = v[i];
	return m;
}

static int strv_cmp(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++) {
		int c = strcmp(a[i], b[i]);
		if (c)
			return c;
	}
	return na < nb ? -1 : na > nb;
}

static int cmp_idx(size_t a, size_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_key(const struct entry *a, const struct entry *b)
{
	int c = strcmp(a->host, b->host);
	if (!c)
		c = strv_cmp(a->paths, a->n_paths, b->paths, b->n_paths);
	if (!c)
		c = strv_cmp(a->tags, a->n_tags, b->tags, b->n_tags);
	return c;
}

/* Group key, then input index: the first of each run of equal keys is the
 * group's first appearance. */
static int cmp_key_then_idx(const void *pa, const void *pb)
{
	const struct entry *a = *(struct entry *const *)pa, *b = *(struct entry *const *)pb;
	int c = cmp_key(a, b);
	return c ? c : cmp_idx(a->idx, b->idx);
}

/* Group, then newest first; a tie in time goes to the later index. */
static int cmp_newest_first(const void *pa, const void *pb)
{
	const struct entry *a = *(struct entry *const *)pa, *b = *(struct entry *const *)pb;
	if (a->group != b->group)
		return cmp_idx(a->group, b->group);
	if (a->time_ns != b->time_ns)
		return a->time_ns > b->time_ns ? -1 : 1;
	return -cmp_idx(a->idx, b->idx);
}

static bool has_any_tag(const struct cfs_retention_item *it, const struct cfs_keep_rules *rules)
{
	for (size_t i = 0; i < it->n_tags; i++)
		for (size_t j = 0; j < rules->n_tags; j++)
			if (strcmp(it->tags[i], rules->tags[j]) == 0)
				return true;
	return false;
}

/* Copy a string array into the pool at *pos and canonicalise it there. */
static const char **take_set(const char **pool, size_t *pos, const char *const *v, size_t n, size_t *ret_n)
{
	const char **set = pool + *pos;
	if (n)
		memcpy(set, v, n * sizeof(*v));
	*ret_n = sort_unique(set, n);
	*pos += n;
	return set;
}

/* Decide for one group: order[0..n) is the group, newest first. Returns
 * whether any snapshot of it is kept. */
static bool judge_group(const struct cfs_keep_rules *rules, const struct cfs_retention_item *items,
			struct entry *const *order, size_t n, struct cfs_retention_result *results)
{
	const unsigned counts[N_BUCKETS] = {rules->hourly, rules->daily, rules->weekly, rules->monthly, rules->yearly};
	static const unsigned bits[N_BUCKETS] = {CFS_KEEP_HOURLY, CFS_KEEP_DAILY, CFS_KEEP_WEEKLY,
						 CFS_KEEP_MONTHLY, CFS_KEEP_YEARLY};
	unsigned left[N_BUCKETS], last_left = rules->last;
	int64_t last_kept[N_BUCKETS];
	bool any_kept[N_BUCKETS] = {false}, group_kept = false;
	int64_t newest = order[0]->time_ns;

	memcpy(left, counts, sizeof(left));
	for (size_t k = 0; k < n; k++) {
		const struct entry *e = order[k];
		const struct cfs_retention_item *it = &items[e->idx];
		unsigned reasons = it->held ? CFS_KEEP_HOLD : 0;
		int64_t age;

		if (last_left) {
			reasons |= CFS_KEEP_LAST;
			last_left--;
		}
		for (int b = 0; b < N_BUCKETS; b++) {
			if (!left[b] || (any_kept[b] && e->bucket[b] >= last_kept[b]))
				continue;
			reasons |= bits[b];
			left[b]--;
			last_kept[b] = e->bucket[b];
			any_kept[b] = true;
		}
		/* Past int64 the age is far beyond any duration. */
		if (rules->within_ns && !__builtin_sub_overflow(newest, e->time_ns, &age) && age <= rules->within_ns)
			reasons |= CFS_KEEP_WITHIN;
		if (rules->n_tags && has_any_tag(it, rules))
			reasons |= CFS_KEEP_TAG;
		results[e->idx] = (struct cfs_retention_result){
			.keep = reasons != 0,
			.reasons = reasons,
			.group = e->group,
		};
		group_kept |= reasons != 0;
	}
	return group_kept;
}

int cfs_retention_apply(const struct cfs_keep_rules *rules, unsigned group_by,
			const struct cfs_retention_item *items, size_t n,
			struct cfs_retention_result *results, size_t *ret_n_groups, bool *ret_emptied)
{
	const unsigned known = CFS_GROUP_HOST | CFS_GROUP_PATHS | CFS_GROUP_TAGS;
	_cleanup_free_ struct entry *entries = NULL;
	_cleanup_free_ struct entry **order = NULL;
	_cleanup_free_ const char **pool = NULL;
	size_t pool_n = 0, pos = 0, n_groups = 0;
	int r;

	if (cfs_keep_rules_empty(rules) || rules->within_ns < 0 || (group_by & ~known))
		return -EINVAL;
	if (n == 0) {
		*ret_n_groups = 0;
		return 0;
	}
	/* localtime_r() need not look at TZ again (glibc's does not): the
	 * zone is the one TZ names now, as policy.h promises. */
	tzset();

	for (size_t i = 0; i < n; i++) {
		size_t add = ((group_by & CFS_GROUP_PATHS) ? items[i].n_paths : 0) +
			     ((group_by & CFS_GROUP_TAGS) ? items[i].n_tags : 0);
		if (__builtin_add_overflow(pool_n, add, &pool_n))
			return -ENOMEM;
	}
	entries = calloc(n, sizeof(*entries));
	order = calloc(n, sizeof(*order));
	if (!entries || !order)
		return -ENOMEM;
	if (pool_n) {
		pool = calloc(pool_n, sizeof(*pool));
		if (!pool)
			return -ENOMEM;
	}

	for (size_t i = 0; i < n; i++) {
		struct entry *e = &entries[i];
		e->idx = i;
		e->time_ns = items[i].time_ns;
		e->host = (group_by & CFS_GROUP_HOST) && items[i].host ? items[i].host : "";
		if (group_by & CFS_GROUP_PATHS)
			e->paths = take_set(pool, &pos, items[i].paths, items[i].n_paths, &e->n_paths);
		if (group_by & CFS_GROUP_TAGS)
			e->tags = take_set(pool, &pos, items[i].tags, items[i].n_tags, &e->n_tags);
		r = fill_buckets(e);
		if (r < 0)
			return r;
		order[i] = e;
	}

	/* Number the groups by first appearance: sorted by key and index, the
	 * first entry of a run of equal keys (its "rep") has the smallest index
	 * of its group; numbering in index order, a rep gets the next number and
	 * any other entry its rep's, which has a smaller index, so it is set. */
	qsort(order, n, sizeof(*order), cmp_key_then_idx);
	for (size_t k = 0, start = 0; k < n; k++) {
		if (cmp_key(order[start], order[k]) != 0)
			start = k;
		order[k]->rep = order[start]->idx;
	}
	for (size_t i = 0; i < n; i++)
		entries[i].group = entries[i].rep == i ? n_groups++ : entries[entries[i].rep].group;

	qsort(order, n, sizeof(*order), cmp_newest_first);
	for (size_t k = 0; k < n;) {
		size_t end = k + 1;
		while (end < n && order[end]->group == order[k]->group)
			end++;
		bool kept = judge_group(rules, items, order + k, end - k, results);
		if (ret_emptied)
			ret_emptied[order[k]->group] = !kept;
		k = end;
	}
	*ret_n_groups = n_groups;
	return 0;
}

int cfs_duration_parse(const char *s, int64_t *ret_ns)
{
	/* Largest first: a unit must come after every larger one used. */
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
		{"y", 365 * 86400 * NS_PER_SEC},
		{"m", 30 * 86400 * NS_PER_SEC},
		{"w", 7 * 86400 * NS_PER_SEC},
		{"d", 86400 * NS_PER_SEC},
		{"h", 3600 * NS_PER_SEC},
		{"min", 60 * NS_PER_SEC},
		{"s", NS_PER_SEC},
	};
	size_t next_unit = 0;
	int64_t total = 0;
	bool range = false;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		int64_t num = 0, part;
		size_t digits = strspn(s, "0123456789"), len, u;

		if (!digits)
			return -EINVAL;
		for (size_t i = 0; i < digits; i++)
			if (__builtin_mul_overflow(num, 10, &num) || __builtin_add_overflow(num, s[i] - '0', &num))
				range = true;
		s += digits;
		len = strspn(s, "abcdefghijklmnopqrstuvwxyz");
		for (u = next_unit; u < ARRAY_SIZE(units); u++)
			if (word_is(s, len, units[u].name))
				break;
		if (u == ARRAY_SIZE(units))
			return -EINVAL; /* missing, unknown, repeated or out of order */
		next_unit = u + 1;
		s += len;
		if (range || __builtin_mul_overflow(num, units[u].ns, &part) ||
		    __builtin_add_overflow(total, part, &total))
			range = true; /* the syntax is still checked to the end */
	}
	if (range)
		return -ERANGE;
	if (total == 0)
		return -EINVAL;
	*ret_ns = total;
	return 0;
}
