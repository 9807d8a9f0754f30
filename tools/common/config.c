/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (config.h, chronofs.conf(5)), parsed by libinih.
 *
 * Method. libinih splits lines into sections and KEY = VALUE pairs; the
 * line reader we give it (config_read) hands it one whole line at a time,
 * so it knows the line number of every pair, and looks at each line first
 * to do what libinih cannot: report EVERY syntax error with its line (not
 * only the first), see section headers (libinih calls back only for pairs,
 * so an empty section or a repeated [job a] would go unseen), refuse a
 * line that is too long instead of cutting it, and refuse NUL bytes.
 * Those lines reach libinih as empty lines. Phase 1 (reader + handler)
 * records sections and their pairs, checking section names, unknown and
 * repeated keys; phase 2 (build) turns the pairs into values and checks
 * them and the references between sections. Errors are collected with
 * their line and logged together, sorted, at the end; any error returns
 * nothing.
 *
 * libinih's options (Debian's libinih 55 exports them as variables, set
 * for each load): no multi-line values (an indented line is an error, not
 * a continuation); no inline comments, so a value may hold " ; " (a shell
 * command in a hook or a stream); heap line buffer growing up to
 * CONFIG_MAX_LINE, since its fixed stack buffer of 200 bytes would cut
 * longer lines silently.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "chronofs/calendar.h"
#include "chronofs/log.h"
#include "chronofs/objstore.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "cli.h"
#include "config.h"

#define NS_PER_SEC INT64_C(1000000000)
/* Longest line (bytes, without the newline) and file taken. */
#define CONFIG_MAX_LINE 16384
#define CONFIG_MAX_BYTES (4u << 20)
/* Errors logged at most; the count of the rest is said. */
#define CONFIG_MAX_ERRORS_LOGGED 100
#define CONFIG_NAME_MAX 64
#define CONFIG_JOBS_MAX 256
#define CONFIG_COPIES_MAX 16

enum sec_type { SEC_GLOBAL, SEC_REPOSITORY, SEC_TIER, SEC_JOB, N_SEC_TYPES };

enum { G_STATE_DIR, G_JOBS, N_G };
enum { R_LOCATION, R_PASSWORD_FILE, R_CACHE_DIR, R_OFFSITE, R_TRANSFERS, R_LIMIT_UPLOAD, R_LIMIT_DOWNLOAD,
       R_DISK_CACHE_SIZE, R_S3_ENDPOINT, R_S3_REGION, R_S3_PATH_STYLE, R_S3_CA_BUNDLE, R_S3_CREDENTIALS_FILE, N_R };
enum { T_SCHEDULE, T_FULL, T_DIFFERENTIAL, T_INCREMENTAL, T_KEEP, T_PRUNE, T_COPIES, T_RPO, T_RTO, N_T };
enum { J_TIER, J_REPOSITORY, J_PATH, J_EXCLUDE, J_STREAM, J_TAG, J_ONE_FILE_SYSTEM, J_EXCLUDE_CACHES, J_PRE_HOOK,
       J_POST_HOOK, J_HOOK_TIMEOUT, N_J };
/* The most keys a section type has: the size of the name list that
 * did-you-mean weighs. A key added to a type is counted by the asserts. */
#define KEYS_MAX 16
_Static_assert(N_G <= KEYS_MAX && N_R <= KEYS_MAX && N_T <= KEYS_MAX && N_J <= KEYS_MAX,
	       "a section type has more keys than KEYS_MAX");

struct key {
	const char *name;
	bool repeat; /* may be given several times, each adding to a list */
};

static const struct key global_keys[N_G] = {[G_STATE_DIR] = {"state_dir"}, [G_JOBS] = {"jobs"}};
static const struct key repo_keys[N_R] = {
	[R_LOCATION] = {"location"},
	[R_PASSWORD_FILE] = {"password_file"},
	[R_CACHE_DIR] = {"cache_dir"},
	[R_OFFSITE] = {"offsite"},
	[R_TRANSFERS] = {"transfers"},
	[R_LIMIT_UPLOAD] = {"limit_upload"},
	[R_LIMIT_DOWNLOAD] = {"limit_download"},
	[R_DISK_CACHE_SIZE] = {"disk_cache_size"},
	[R_S3_ENDPOINT] = {"s3_endpoint"},
	[R_S3_REGION] = {"s3_region"},
	[R_S3_PATH_STYLE] = {"s3_path_style"},
	[R_S3_CA_BUNDLE] = {"s3_ca_bundle"},
	[R_S3_CREDENTIALS_FILE] = {"s3_credentials_file"},
};
static const struct key tier_keys[N_T] = {
	[T_SCHEDULE] = {"schedule"}, [T_FULL] = {"full"}, [T_DIFFERENTIAL] = {"differential"},
	[T_INCREMENTAL] = {"incremental"}, [T_KEEP] = {"keep"}, [T_PRUNE] = {"prune"},
	[T_COPIES] = {"copies"}, [T_RPO] = {"rpo"}, [T_RTO] = {"rto"},
};
static const struct key job_keys[N_J] = {
	[J_TIER] = {"tier"},
	[J_REPOSITORY] = {"repository", true},
	[J_PATH] = {"path", true},
	[J_EXCLUDE] = {"exclude", true},
	[J_STREAM] = {"stream", true},
	[J_TAG] = {"tag", true},
	[J_ONE_FILE_SYSTEM] = {"one_file_system"},
	[J_EXCLUDE_CACHES] = {"exclude_caches"},
	[J_PRE_HOOK] = {"pre_hook"},
	[J_POST_HOOK] = {"post_hook"},
	[J_HOOK_TIMEOUT] = {"hook_timeout"},
};

static const struct sec_def {
	const char *name;
	bool named; /* [TYPE NAME] rather than [TYPE] */
	const struct key *keys;
	size_t n_keys;
} sec_defs[N_SEC_TYPES] = {
	[SEC_GLOBAL] = {"global", false, global_keys, N_G},
	[SEC_REPOSITORY] = {"repository", true, repo_keys, N_R},
	[SEC_TIER] = {"tier", true, tier_keys, N_T},
	[SEC_JOB] = {"job", true, job_keys, N_J},
};

/*
 * The built-in tiers, as the values of their keys in the file's words
 * (chronofs.conf(5) TIERS says what they mean). A [tier NAME] section of
 * one of these names overrides key by key; a tier of another name starts
 * from `normal` as listed here.
 */
static const struct builtin_tier {
	const char *name;
	const char *v[N_T];
} builtin_tiers[] = {
	{"critical",
	 {[T_SCHEDULE] = "hourly", [T_FULL] = "weekly", [T_DIFFERENTIAL] = "*-*-* 00/6:00:00",
	  [T_INCREMENTAL] = "hourly", [T_KEEP] = "forever", [T_PRUNE] = "never", [T_COPIES] = "1",
	  [T_RPO] = "5min", [T_RTO] = "30min"}},
	{"important",
	 {[T_SCHEDULE] = "*-*-* 00/6:00:00", [T_FULL] = "weekly", [T_DIFFERENTIAL] = "never",
	  [T_INCREMENTAL] = "*-*-* 00/6:00:00", [T_KEEP] = "last:4 daily:30 weekly:26 monthly:24",
	  [T_PRUNE] = "weekly", [T_COPIES] = "1", [T_RPO] = "30min", [T_RTO] = "2h"}},
	{"normal",
	 {[T_SCHEDULE] = "daily", [T_FULL] = "weekly", [T_DIFFERENTIAL] = "never", [T_INCREMENTAL] = "daily",
	  [T_KEEP] = "daily:31 weekly:13 monthly:3", [T_PRUNE] = "weekly", [T_COPIES] = "1", [T_RPO] = "4h",
	  [T_RTO] = "8h"}},
	{"archive",
	 {[T_SCHEDULE] = "weekly", [T_FULL] = "weekly", [T_DIFFERENTIAL] = "never", [T_INCREMENTAL] = "never",
	  [T_KEEP] = "weekly:8 monthly:84", [T_PRUNE] = "monthly", [T_COPIES] = "1", [T_RPO] = "none",
	  [T_RTO] = "none"}},
};
#define NORMAL_TIER 2

struct entry {
	unsigned key;
	char *value; /* owned */
	unsigned line;
};

struct section {
	enum sec_type type;
	char *name; /* owned; NULL for [global] */
	unsigned line;
	bool bad; /* its header was refused: its keys are not looked at */
	struct entry *e;
	size_t n, cap;
};

struct error {
	unsigned line;
	size_t seq; /* order of discovery, for a stable sort */
	char *msg;  /* owned */
};

struct loader {
	const char *path;
	FILE *f;
	/* The reader's line: buf[off..len) is what libinih has not taken. */
	char *buf;
	size_t cap, len, off, total;
	unsigned line;
	int read_error; /* -errno of a failed read */
	bool oom;
	struct section *secs;
	size_t n_secs, cap_secs;
	ssize_t cur; /* the section the current line is in; -1: none yet */
	struct error *errs;
	size_t n_errs, cap_errs;
	const char *builtin; /* name of the built-in tier being set up, for its errors */
};

static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 8;
	void *np = reallocarray(*p, c, size);
	if (!np)
		return false;
	*p = np;
	*cap = c;
	return true;
}

/* Record an error at line (0: in a built-in tier). */
_printf_(3, 4) static void config_error(struct loader *l, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow((void **)&l->errs, &l->cap_errs, l->n_errs, sizeof(*l->errs))) {
		if (n >= 0)
			free(msg);
		l->oom = true;
		return;
	}
	l->errs[l->n_errs] = (struct error){l->builtin ? 0 : line, l->n_errs, msg};
	l->n_errs++;
}

static int cmp_error(const void *a, const void *b)
{
	const struct error *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "[job db]" for messages. */
static const char *sec_label(const struct section *s, char *buf, size_t n)
{
	if (s->name)
		snprintf(buf, n, "[%s %s]", sec_defs[s->type].name, s->name);
	else
		snprintf(buf, n, "[%s]", sec_defs[s->type].name);
	return buf;
}

#define LABEL_MAX (CONFIG_NAME_MAX + 32)

/* Names of sections end up in file names (state_dir/jobs/NAME.lock) and
 * systemd unit names (chronofs-run@NAME.timer): a safe, short alphabet. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CONFIG_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

static char *strip(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static const char *sec_type_names[N_SEC_TYPES] = {"global", "repository", "tier", "job"};

/* A section header's inside ("job db"): start a section, or say why not. */
static void section_header(struct loader *l, char *inner)
{
	char *type = strip(inner), *name = type + strcspn(type, " \t");
	if (*name)
		*name++ = 0;
	name = strip(name);
	size_t t;
	for (t = 0; t < N_SEC_TYPES; t++)
		if (strcmp(type, sec_defs[t].name) == 0)
			break;
	if (!grow((void **)&l->secs, &l->cap_secs, l->n_secs, sizeof(*l->secs))) {
		l->oom = true;
		return;
	}
	struct section *s = &l->secs[l->n_secs];
	*s = (struct section){.type = (enum sec_type)t, .line = l->line, .bad = true};
	l->cur = (ssize_t)l->n_secs++;
	if (t == N_SEC_TYPES) {
		s->type = SEC_GLOBAL; /* not looked at: bad */
		const char *near = cli_did_you_mean(type, sec_type_names, N_SEC_TYPES);
		if (near)
			config_error(l, l->line, "unknown section type [%s] (did you mean [%s%s]?)", type, near,
				     strcmp(near, "global") != 0 ? " NAME" : "");
		else
			config_error(l, l->line,
				     "unknown section type [%s]: [global], [repository NAME], [tier NAME] or [job NAME] "
				     "expected",
				     type);
		return;
	}
	if (!sec_defs[t].named) {
		if (*name) {
			config_error(l, l->line, "[%s] takes no name (\"%s\")", type, name);
			return;
		}
	} else {
		if (!*name) {
			config_error(l, l->line, "[%s] needs a name: [%s NAME]", type, type);
			return;
		}
		if (!valid_name(name)) {
			config_error(l, l->line,
				     "invalid %s name \"%s\": 1 to %d letters, digits, '-', '_' and '.', not "
				     "starting with '-' or '.'",
				     type, name, CONFIG_NAME_MAX);
			return;
		}
	}
	for (size_t i = 0; i + 1 < l->n_secs; i++) {
		const struct section *o = &l->secs[i];
		if (!o->bad && o->type == t && (!sec_defs[t].named || strcmp(o->name, name) == 0)) {
			char lb[LABEL_MAX];
			config_error(l, l->line, "duplicate section %s (first at line %u)", sec_label(o, lb, sizeof(lb)),
				     o->line);
			return;
		}
	}
	if (sec_defs[t].named && !(s->name = strdup(name))) {
		l->oom = true;
		return;
	}
	s->bad = false;
}

/*
 * Look at the line libinih is about to get (buf[0..len)): headers start a
 * section; what libinih would refuse, or cut, is reported here and handed
 * on as an empty line.
 */
static void classify_line(struct loader *l)
{
	char *p = l->buf;
	bool refuse = false;
	if (l->line == 1 && l->len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* a UTF-8 byte order mark, which libinih skips */
	if (memchr(l->buf, 0, l->len)) {
		config_error(l, l->line, "NUL byte in the line");
		refuse = true;
	} else if (l->len > CONFIG_MAX_LINE + 1 || (l->len == CONFIG_MAX_LINE + 1 && l->buf[l->len - 1] != '\n')) {
		config_error(l, l->line, "line longer than %d bytes", CONFIG_MAX_LINE);
		refuse = true;
	} else {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '[') {
			char *end = strchr(p, ']');
			if (!end) {
				config_error(l, l->line, "section header without ']'");
			} else if (*strip(end + 1)) {
				config_error(l, l->line, "text after the section header's ']'");
			} else {
				_cleanup_free_ char *inner = strndup(p + 1, (size_t)(end - p - 1));
				if (!inner)
					l->oom = true;
				else
					section_header(l, inner);
			}
			refuse = true; /* libinih's own idea of the section is not used */
		} else if (*p && !strchr(";#", *p) && !strpbrk(p, "=:")) {
			char *s = strip(p);
			if (strlen(s) > 60)
				s[60] = 0;
			config_error(l, l->line, "\"%s\": KEY = VALUE, [SECTION] or a comment expected", s);
			refuse = true;
		}
	}
	if (refuse) {
		l->buf[0] = '\n';
		l->buf[1] = 0;
		l->len = 1;
	}
}

/* libinih's ini_reader: fgets() semantics, one whole line per call when it
 * fits (it does: ini_max_line is above CONFIG_MAX_LINE). */
static char *config_read(char *str, int num, void *stream)
{
	struct loader *l = stream;
	if (num <= 1)
		return NULL;
	if (l->off >= l->len) {
		errno = 0;
		ssize_t n = getline(&l->buf, &l->cap, l->f);
		if (n < 0) {
			if (ferror(l->f))
				l->read_error = errno ? -errno : -EIO;
			return NULL;
		}
		l->total += (size_t)n;
		if (l->total > CONFIG_MAX_BYTES) {
			l->read_error = -EFBIG;
			return NULL;
		}
		l->line++;
		l->len = (size_t)n;
		l->off = 0;
		classify_line(l);
	}
	size_t k = CFS_MIN((size_t)num - 1, l->len - l->off);
	memcpy(str, l->buf + l->off, k);
	str[k] = 0;
	l->off += k;
	return str;
}

/* libinih's handler: one KEY = VALUE of the line the reader gave last. */
static int config_pair(void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;
	(void)section; /* ours is l->cur: libinih cuts names at 50 bytes */
	if (l->cur < 0) {
		config_error(l, l->line, "\"%s\" outside any section: start with [global], [repository NAME], [tier NAME] "
					 "or [job NAME]",
			     name);
		return 1;
	}
	struct section *s = &l->secs[l->cur];
	if (s->bad)
		return 1; /* its header is reported */
	const struct sec_def *d = &sec_defs[s->type];
	char lb[LABEL_MAX];
	size_t k;
	for (k = 0; k < d->n_keys; k++)
		if (strcmp(name, d->keys[k].name) == 0)
			break;
	if (k == d->n_keys) {
		const char *names[KEYS_MAX];
		for (size_t i = 0; i < d->n_keys; i++)
			names[i] = d->keys[i].name;
		const char *near = *name ? cli_did_you_mean(name, names, d->n_keys) : NULL;
		if (!*name)
			config_error(l, l->line, "no key before '='");
		else if (near)
			config_error(l, l->line, "unknown key \"%s\" in %s (did you mean \"%s\"?)", name,
				     sec_label(s, lb, sizeof(lb)), near);
		else
			config_error(l, l->line, "unknown key \"%s\" in %s", name, sec_label(s, lb, sizeof(lb)));
		return 1;
	}
	if (!*value) {
		config_error(l, l->line, "%s has no value", name);
		return 1;
	}
	if (!d->keys[k].repeat)
		for (size_t i = 0; i < s->n; i++)
			if (s->e[i].key == k) {
				config_error(l, l->line, "%s given twice in %s (first at line %u)", name,
					     sec_label(s, lb, sizeof(lb)), s->e[i].line);
				return 1;
			}
	char *v = strdup(value);
	if (!v || !grow((void **)&s->e, &s->cap, s->n, sizeof(*s->e))) {
		free(v);
		l->oom = true;
		return 0;
	}
	s->e[s->n++] = (struct entry){(unsigned)k, v, l->line};
	return 1;
}

/* ---- values ---- */

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || errno || n < min || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

/* An absolute path, normalized ("//a/./b/" -> "/a/b"), without "..". */
static int parse_path(struct loader *l, const struct entry *e, const char *key, bool root_ok, char **ret)
{
	_cleanup_free_ char *norm = NULL;
	int r = e->value[0] == '/' ? cfs_path_normalize(e->value, &norm) : -EINVAL;
	if (r == -ENOMEM) {
		l->oom = true;
		return r;
	}
	if (r < 0) {
		config_error(l, e->line, "%s \"%s\": an absolute path without \"..\" expected", key, e->value);
		return -EINVAL;
	}
	if (!root_ok && strcmp(norm, "/") == 0) {
		config_error(l, e->line, "%s \"%s\": the root directory cannot be one", key, e->value);
		return -EINVAL;
	}
	free(*ret);
	*ret = TAKE_PTR(norm);
	return 0;
}

static int set_string(struct loader *l, const char *v, char **ret)
{
	char *s = strdup(v);
	if (!s) {
		l->oom = true;
		return -ENOMEM;
	}
	free(*ret);
	*ret = s;
	return 0;
}

static int add_string(struct loader *l, char ***v, size_t *n, char *s /* takes */)
{
	char **nv = s ? reallocarray(*v, *n + 1, sizeof(**v)) : NULL;
	if (!nv) {
		free(s);
		l->oom = true;
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

static const char *key_name(const struct section *s, const struct entry *e)
{
	return sec_defs[s->type].keys[e->key].name;
}

/* Durations print in the largest units that add up exactly, in words
 * cfs_duration_parse takes back: d, h, min, s (never m or y, whose length
 * people would have to look up). */
static void format_duration(int64_t ns, char *out, size_t n)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {{"d", 86400 * NS_PER_SEC}, {"h", 3600 * NS_PER_SEC}, {"min", 60 * NS_PER_SEC}, {"s", NS_PER_SEC}};
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(units) && o < n; i++) {
		if (ns < units[i].ns)
			continue;
		int w = snprintf(out + o, n - o, "%" PRId64 "%s", ns / units[i].ns, units[i].unit);
		if (w < 0)
			return;
		o += (size_t)w;
		ns %= units[i].ns;
	}
	if (!o)
		snprintf(out, n, "0s");
}

static int parse_duration_value(struct loader *l, const struct entry *e, const char *key, bool none_ok,
				int64_t *ret)
{
	if (none_ok && strcmp(e->value, "none") == 0) {
		*ret = 0;
		return 0;
	}
	int r = cfs_duration_parse(e->value, ret);
	if (r < 0)
		config_error(l, e->line, "%s \"%s\": %s duration such as 30min, 4h, 2d or 1h30min expected%s", key,
			     e->value, r == -ERANGE ? "too long;" : "a", none_ok ? " (or none)" : "");
	return r;
}

/* ---- tiers ---- */

static void tier_release(struct cli_config_tier *t)
{
	free(t->name);
	cfs_calendar_free(t->schedule);
	cfs_calendar_free(t->full);
	cfs_calendar_free(t->differential);
	cfs_calendar_free(t->incremental);
	cfs_calendar_free(t->prune);
	free(t->keep_text);
	free(t->keep_storage);
}

/* Rules as the file writes them, in a fixed order (within in d/h/min/s). */
static int keep_text(const struct cfs_keep_rules *k, char **ret)
{
	const unsigned counts[] = {k->last, k->hourly, k->daily, k->weekly, k->monthly, k->yearly};
	char *text = NULL, tmp[64];
	size_t size = 0;
	const char *sep = "";
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++, sep = counts[i - 1] ? " " : sep)
		if (counts[i])
			fprintf(f, "%s%s:%u", sep, cfs_keep_reason_name(1u << i), counts[i]);
	if (k->within_ns) {
		format_duration(k->within_ns, tmp, sizeof(tmp));
		fprintf(f, "%swithin:%s", sep, tmp);
		sep = " ";
	}
	for (size_t i = 0; i < k->n_tags; i++, sep = " ")
		fprintf(f, "%stag:%s", sep, k->tags[i]);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret = text;
	return 0;
}

static const char *const keep_words[] = {"last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "tag"};

static void parse_keep(struct loader *l, struct cli_config_tier *t, const struct entry *e)
{
	struct cfs_keep_rules k;
	void *storage = NULL;
	char *text = NULL;
	size_t off = 0, len = 0;
	if (strcmp(e->value, "forever") == 0) {
		if (set_string(l, "forever", &text) < 0)
			return;
		free(t->keep_storage);
		free(t->keep_text);
		t->keep = (struct cfs_keep_rules){0};
		t->keep_storage = NULL;
		t->keep_text = text;
		t->keep_forever = true;
		return;
	}
	int r = cfs_keep_rules_parse(e->value, &k, &storage, &off, &len);
	if (r == -ENOMEM) {
		l->oom = true;
		return;
	}
	if (r < 0) {
		if (!len) {
			config_error(l, e->line, "keep has no rule: forever, or words such as daily:30 weekly:52");
			return;
		}
		const char *w = e->value + off;
		size_t wlen = strcspn(w, ":");
		char word[32] = "";
		if (wlen < len && wlen < sizeof(word))
			memcpy(word, w, wlen);
		else if (len < sizeof(word))
			memcpy(word, w, len);
		word[sizeof(word) - 1] = 0;
		const char *near = cli_did_you_mean(word, keep_words, ARRAY_SIZE(keep_words));
		bool known = near && strcmp(near, word) == 0;
		/* Known: a repeat when the word came before, else its value. */
		char prefix[40];
		snprintf(prefix, sizeof(prefix), "%s:", word);
		bool repeat = false;
		for (const char *q = e->value; known && (q = strstr(q, prefix)) && q < w; q++)
			repeat |= q == e->value || strchr(" \t", q[-1]);
		if (known && repeat)
			config_error(l, e->line, "keep rule %s given twice (only tag: may repeat)", word);
		else if (known && strcmp(word, "within") == 0)
			config_error(l, e->line, "keep rule \"%.*s\": %s duration such as 7d, 1y6m or 36h expected",
				     (int)len, w, r == -ERANGE ? "too long;" : "a");
		else if (known && strcmp(word, "tag") == 0)
			config_error(l, e->line, "keep rule \"%.*s\": a tag name expected after tag:", (int)len, w);
		else if (known)
			config_error(l, e->line, "keep rule \"%.*s\": %s", (int)len, w,
				     r == -ERANGE ? "count too large" : "a count of 1 or more expected after the ':'");
		else if (near)
			config_error(l, e->line, "unknown keep rule \"%.*s\" (did you mean \"%s:\"?)", (int)len, w, near);
		else
			config_error(l, e->line,
				     "unknown keep rule \"%.*s\": forever, or last/hourly/daily/weekly/monthly/yearly:N, "
				     "within:DURATION, tag:NAME",
				     (int)len, w);
		return;
	}
	if (keep_text(&k, &text) < 0) {
		free(storage);
		l->oom = true;
		return;
	}
	free(t->keep_storage);
	free(t->keep_text);
	t->keep = k;
	t->keep_storage = storage;
	t->keep_text = text;
	t->keep_forever = false;
}

static void parse_calendar(struct loader *l, const struct entry *e, const char *key, bool never_ok,
			   struct cfs_calendar **slot)
{
	struct cfs_calendar *c = NULL;
	if (strcmp(e->value, "never") == 0) {
		if (!never_ok) {
			config_error(l, e->line, "%s cannot be never: a tier runs on a schedule", key);
			return;
		}
	} else {
		int r = cfs_calendar_parse(e->value, &c);
		if (r == -ENOMEM) {
			l->oom = true;
			return;
		}
		if (r < 0) {
			config_error(l, e->line,
				     "%s \"%s\": not a calendar expression (systemd.time(7) OnCalendar syntax, such as "
				     "daily, hourly, Mon..Fri *-*-* 02:00%s)",
				     key, e->value, never_ok ? ", or never" : "");
			return;
		}
	}
	cfs_calendar_free(*slot);
	*slot = c;
}

static void tier_set(struct loader *l, struct cli_config_tier *t, const struct section *s, const struct entry *e)
{
	const char *key = tier_keys[e->key].name;
	struct cfs_calendar **cal[N_T] = {[T_SCHEDULE] = &t->schedule,
					  [T_FULL] = &t->full,
					  [T_DIFFERENTIAL] = &t->differential,
					  [T_INCREMENTAL] = &t->incremental,
					  [T_PRUNE] = &t->prune};
	(void)s;
	if (cal[e->key]) {
		parse_calendar(l, e, key, e->key != T_SCHEDULE, cal[e->key]);
		return;
	}
	switch (e->key) {
	case T_KEEP:
		parse_keep(l, t, e);
		break;
	case T_COPIES:
		if (parse_uint(e->value, 1, CONFIG_COPIES_MAX, &t->copies) < 0)
			config_error(l, e->line, "copies \"%s\": a number from 1 to %d expected", e->value,
				     CONFIG_COPIES_MAX);
		break;
	case T_RPO:
		parse_duration_value(l, e, key, true, &t->rpo_ns);
		break;
	case T_RTO:
		parse_duration_value(l, e, key, true, &t->rto_ns);
		break;
	}
}

/* t from a built-in table (its name already set). */
static void tier_from_builtin(struct loader *l, struct cli_config_tier *t, const struct builtin_tier *b)
{
	l->builtin = b->name;
	for (unsigned k = 0; k < N_T; k++) {
		struct entry e = {k, (char *)b->v[k], 0};
		tier_set(l, t, NULL, &e);
	}
	l->builtin = NULL;
}

/* ---- repositories, global, jobs ---- */

/* The one of n names, at base + i * stride, that `name` is most likely a
 * typo of (cli_did_you_mean, over the first 64), or NULL. */
static const char *near_name(const char *name, char *const *base, size_t n, size_t stride)
{
	const char *names[64];
	n = CFS_MIN(n, ARRAY_SIZE(names));
	for (size_t i = 0; i < n; i++)
		names[i] = *(char *const *)((const char *)base + i * stride);
	return cli_did_you_mean(name, names, n);
}

const char *cli_config_repo_near(const struct cli_config *c, const char *name)
{
	return c->n_repos ? near_name(name, &c->repos[0].name, c->n_repos, sizeof(*c->repos)) : NULL;
}

static void repo_build(struct loader *l, const struct section *s, struct cli_config_repo *r)
{
	char lb[LABEL_MAX];
	bool has_location = false;
	unsigned s3_line = 0; /* the first s3_* key */
	const char *s3_key = NULL;
	r->line = s->line;
	if (set_string(l, s->name, &r->name) < 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->e[i];
		const char *v = e->value;
		uint64_t n;
		switch (e->key) {
		case R_LOCATION:
			has_location = true;
			if (v[0] != '/' && !strstr(v, "://"))
				config_error(l, e->line,
					     "location \"%s\": an absolute path or a URL (s3://BUCKET/PREFIX, "
					     "file:///PATH) expected",
					     v);
			else
				set_string(l, v, &r->location);
			break;
		case R_PASSWORD_FILE:
			parse_path(l, e, "password_file", false, &r->password_file);
			break;
		case R_CACHE_DIR:
			parse_path(l, e, "cache_dir", false, &r->cache_dir);
			break;
		case R_OFFSITE:
			if (parse_bool(v, &r->offsite) < 0)
				config_error(l, e->line, "offsite \"%s\": yes or no expected", v);
			break;
		case R_TRANSFERS:
			if (parse_uint(v, 1, CFS_OBJSTORE_TRANSFERS_MAX, &r->transfers) < 0)
				config_error(l, e->line, "transfers \"%s\": a number from 1 to %d expected", v,
					     CFS_OBJSTORE_TRANSFERS_MAX);
			break;
		case R_LIMIT_UPLOAD:
		case R_LIMIT_DOWNLOAD:
			if (cli_parse_scaled(v, 1024, &n) < 0)
				config_error(l, e->line, "%s \"%s\": KiB per second expected (0: no limit)",
					     key_name(s, e), v);
			else if (e->key == R_LIMIT_UPLOAD)
				r->limit_upload = n;
			else
				r->limit_download = n;
			break;
		case R_DISK_CACHE_SIZE:
			if (cli_parse_scaled(v, 1u << 20, &r->disk_cache_bytes) < 0)
				config_error(l, e->line, "disk_cache_size \"%s\": MiB expected (0: none)", v);
			else
				r->has_disk_cache = true;
			break;
		case R_S3_ENDPOINT:
			/* As AWS_ENDPOINT_URL_S3: a scheme, a host, perhaps a port. */
			if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
			    !strstr(v, "://")[3] || strpbrk(v, " \t\"'\\"))
				config_error(l, e->line,
					     "s3_endpoint \"%s\": a URL http://HOST[:PORT] or https://HOST[:PORT] expected",
					     v);
			else
				set_string(l, v, &r->s3_endpoint);
			break;
		case R_S3_REGION:
			if (!*v || strpbrk(v, " \t\"'\\/"))
				config_error(l, e->line, "s3_region \"%s\": a region name (us-east-1) expected", v);
			else
				set_string(l, v, &r->s3_region);
			break;
		case R_S3_PATH_STYLE: {
			bool on;
			if (strcmp(v, "auto") == 0)
				r->s3_path_style = CFS_S3_PATH_STYLE_AUTO;
			else if (parse_bool(v, &on) == 0)
				r->s3_path_style = on ? CFS_S3_PATH_STYLE_ON : CFS_S3_PATH_STYLE_OFF;
			else
				config_error(l, e->line, "s3_path_style \"%s\": yes, no or auto expected", v);
			break;
		}
		case R_S3_CA_BUNDLE:
			parse_path(l, e, "s3_ca_bundle", false, &r->s3_ca_bundle);
			break;
		case R_S3_CREDENTIALS_FILE:
			parse_path(l, e, "s3_credentials_file", false, &r->s3_credentials_file);
			break;
		}
		if (e->key >= R_S3_ENDPOINT && e->key <= R_S3_CREDENTIALS_FILE && (!s3_key || e->line < s3_line)) {
			s3_key = key_name(s, e);
			s3_line = e->line;
		}
	}
	if (!has_location)
		config_error(l, s->line, "%s has no location", sec_label(s, lb, sizeof(lb)));
	else if (s3_key && r->location && strncasecmp(r->location, "s3://", 5) != 0)
		config_error(l, s3_line, "%s: only for an s3:// location (%s is at %s)", s3_key,
			     sec_label(s, lb, sizeof(lb)), r->location);
}

void cli_config_repo_store(const struct cli_config_repo *r, struct cfs_objstore_options *o)
{
	o->s3_endpoint = r->s3_endpoint;
	o->s3_region = r->s3_region;
	o->s3_ca_bundle = r->s3_ca_bundle;
	o->s3_credentials_file = r->s3_credentials_file;
	o->s3_path_style = r->s3_path_style;
}

static int default_state_dir(char **ret)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		*ret = strdup("/var/lib/chronofs");
	else if (xdg && xdg[0] == '/')
		return asprintf(ret, "%s/chronofs", xdg) < 0 ? -ENOMEM : 0;
	else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());
			home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/";
		}
		return asprintf(ret, "%s/.local/state/chronofs", strcmp(home, "/") == 0 ? "" : home) < 0 ? -ENOMEM : 0;
	}
	return *ret ? 0 : -ENOMEM;
}

static void global_build(struct loader *l, const struct section *s, struct cli_config *c)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->e[i];
		if (e->key == G_STATE_DIR)
			parse_path(l, e, "state_dir", false, &c->state_dir);
		else if (parse_uint(e->value, 1, CONFIG_JOBS_MAX, &c->jobs) < 0)
			config_error(l, e->line, "jobs \"%s\": a number from 1 to %d expected", e->value, CONFIG_JOBS_MAX);
	}
}

static void job_release(struct cli_config_job *j)
{
	free(j->name);
	free(j->repos);
	for (size_t i = 0; i < j->n_paths; i++)
		free(j->paths[i]);
	free(j->paths);
	for (size_t i = 0; i < j->n_excludes; i++)
		free(j->excludes[i]);
	free(j->excludes);
	for (size_t i = 0; i < j->n_streams; i++) {
		free(j->streams[i].path);
		free(j->streams[i].command);
	}
	free(j->streams);
	for (size_t i = 0; i < j->n_tags; i++)
		free(j->tags[i]);
	free(j->tags);
	free(j->pre_hook);
	free(j->post_hook);
}

static void job_add_repos(struct loader *l, const struct cli_config *c, struct cli_config_job *j,
			  const struct entry *e)
{
	const char *p = e->value;
	while (*(p += strspn(p, " \t"))) {
		size_t n = strcspn(p, " \t");
		_cleanup_free_ char *name = strndup(p, n);
		p += n;
		if (!name) {
			l->oom = true;
			return;
		}
		const struct cli_config_repo *r = cli_config_repo(c, name);
		if (!r) {
			const char *near = cli_config_repo_near(c, name);
			if (near)
				config_error(l, e->line, "repository \"%s\" is not defined (did you mean \"%s\"?)", name,
					     near);
			else
				config_error(l, e->line, "repository \"%s\" is not defined: no [repository %s] section",
					     name, name);
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < j->n_repos; i++)
			dup |= j->repos[i] == r;
		if (dup) {
			config_error(l, e->line, "repository \"%s\" named twice", name);
			continue;
		}
		const struct cli_config_repo **nv = reallocarray(j->repos, j->n_repos + 1, sizeof(*nv));
		if (!nv) {
			l->oom = true;
			return;
		}
		j->repos = nv;
		nv[j->n_repos++] = r;
	}
}

/* Whether path p is dir or lies under it (both normalized). */
static bool path_within(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return strcmp(dir, "/") == 0 || (strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/'));
}

/* A stream's file must not collide with a source path or another stream:
 * snapshot create refuses that at run time; say it at load, with the line. */
static bool stream_collides(struct loader *l, const struct cli_config_job *j, const char *spath, unsigned line)
{
	for (size_t i = 0; i < j->n_streams; i++)
		if (strcmp(j->streams[i].path, spath) == 0) {
			config_error(l, line, "stream path %s given twice", spath);
			return true;
		}
	for (size_t i = 0; i < j->n_paths; i++)
		if (path_within(spath, j->paths[i])) {
			config_error(l, line, "stream path %s lies inside path %s of the job", spath, j->paths[i]);
			return true;
		}
	return false;
}

static void job_add_path(struct loader *l, struct cli_config_job *j, const struct entry *e)
{
	char *p = NULL;
	if (parse_path(l, e, "path", true, &p) < 0)
		return;
	for (size_t i = 0; i < j->n_paths; i++)
		if (strcmp(j->paths[i], p) == 0) {
			config_error(l, e->line, "path %s given twice", p);
			free(p);
			return;
		}
	for (size_t i = 0; i < j->n_streams; i++)
		if (path_within(j->streams[i].path, p)) {
			config_error(l, e->line, "path %s holds the path of stream %s", p, j->streams[i].path);
			free(p);
			return;
		}
	add_string(l, &j->paths, &j->n_paths, p);
}

static void job_add_stream(struct loader *l, struct cli_config_job *j, const struct entry *e)
{
	const char *eq = strchr(e->value, '=');
	_cleanup_free_ char *path = NULL, *norm = NULL;
	if (!eq || eq == e->value || !eq[1]) {
		config_error(l, e->line, "stream \"%s\": PATH=COMMAND expected", e->value);
		return;
	}
	path = strndup(e->value, (size_t)(eq - e->value));
	if (!path) {
		l->oom = true;
		return;
	}
	int r = path[0] == '/' ? cfs_path_normalize(strip(path), &norm) : -EINVAL;
	if (r == -ENOMEM) {
		l->oom = true;
		return;
	}
	if (r < 0 || strcmp(norm, "/") == 0) {
		config_error(l, e->line, "stream \"%s\": its PATH \"%s\" is not an absolute file path without \"..\"",
			     e->value, strip(path));
		return;
	}
	if (stream_collides(l, j, norm, e->line))
		return;
	char *cmd = strdup(eq + 1);
	struct cli_config_stream *nv = cmd ? reallocarray(j->streams, j->n_streams + 1, sizeof(*nv)) : NULL;
	if (!nv) {
		free(cmd);
		l->oom = true;
		return;
	}
	j->streams = nv;
	nv[j->n_streams++] = (struct cli_config_stream){TAKE_PTR(norm), cmd};
}

static void job_build(struct loader *l, const struct section *s, const struct cli_config *c,
		      struct cli_config_job *j)
{
	char lb[LABEL_MAX];
	const struct entry *tier_e = NULL, *repo_e = NULL;
	bool sources = false; /* a path or stream key, good or not */
	size_t errors = l->n_errs;
	j->line = s->line;
	j->hook_timeout_ns = CLI_CONFIG_HOOK_TIMEOUT_NS;
	if (set_string(l, s->name, &j->name) < 0)
		return;
	j->tier = cli_config_tier(c, "normal");
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->e[i];
		switch (e->key) {
		case J_TIER:
			tier_e = e;
			j->tier = cli_config_tier(c, e->value);
			if (!j->tier) {
				const char *near = near_name(e->value, &c->tiers[0].name, c->n_tiers, sizeof(*c->tiers));
				if (near)
					config_error(l, e->line, "tier \"%s\" is not defined (did you mean \"%s\"?)",
						     e->value, near);
				else
					config_error(l, e->line,
						     "tier \"%s\" is not defined: critical, important, normal, archive or a "
						     "[tier %s] section",
						     e->value, e->value);
			}
			break;
		case J_REPOSITORY:
			repo_e = repo_e ? repo_e : e;
			job_add_repos(l, c, j, e);
			break;
		case J_PATH:
			sources = true;
			job_add_path(l, j, e);
			break;
		case J_EXCLUDE: {
			size_t n = strlen(e->value);
			while (n > 1 && e->value[n - 1] == '/')
				n--; /* as snapshot create: a trailing '/' means nothing more */
			add_string(l, &j->excludes, &j->n_excludes, strndup(e->value, n));
			break;
		}
		case J_STREAM:
			sources = true;
			job_add_stream(l, j, e);
			break;
		case J_TAG:
			if (strlen(e->value) > 255)
				config_error(l, e->line, "tag \"%.40s...\": 1..255 bytes", e->value);
			else
				add_string(l, &j->tags, &j->n_tags, strdup(e->value));
			break;
		case J_ONE_FILE_SYSTEM:
		case J_EXCLUDE_CACHES:
			if (parse_bool(e->value, e->key == J_ONE_FILE_SYSTEM ? &j->one_file_system : &j->exclude_caches) < 0)
				config_error(l, e->line, "%s \"%s\": yes or no expected", key_name(s, e), e->value);
			break;
		case J_PRE_HOOK:
			set_string(l, e->value, &j->pre_hook);
			break;
		case J_POST_HOOK:
			set_string(l, e->value, &j->post_hook);
			break;
		case J_HOOK_TIMEOUT:
			parse_duration_value(l, e, "hook_timeout", false, &j->hook_timeout_ns);
			break;
		}
	}
	sec_label(s, lb, sizeof(lb));
	if (!repo_e)
		config_error(l, s->line, "%s has no repository", lb);
	if (!sources)
		config_error(l, s->line, "%s has neither path nor stream: nothing to back up", lb);
	/* Only when every repository it names was found: one more would not say much. */
	if (j->tier && j->n_repos && errors == l->n_errs && j->tier->copies > j->n_repos)
		config_error(l, tier_e ? tier_e->line : s->line,
			     "%s: tier %s wants copies = %u, but the job has %zu repositor%s (name one per copy)", lb,
			     j->tier->name, j->tier->copies, j->n_repos, j->n_repos == 1 ? "y" : "ies");
}

/* ---- load ---- */

static void loader_release(struct loader *l)
{
	for (size_t i = 0; i < l->n_secs; i++) {
		for (size_t k = 0; k < l->secs[i].n; k++)
			free(l->secs[i].e[k].value);
		free(l->secs[i].e);
		free(l->secs[i].name);
	}
	free(l->secs);
	for (size_t i = 0; i < l->n_errs; i++)
		free(l->errs[i].msg);
	free(l->errs);
	free(l->buf);
	if (l->f)
		fclose(l->f);
}

static int build(struct loader *l, struct cli_config *c)
{
	size_t n_repos = 0, n_tiers = ARRAY_SIZE(builtin_tiers), n_jobs = 0;
	for (size_t i = 0; i < l->n_secs; i++) {
		const struct section *s = &l->secs[i];
		if (s->bad)
			continue;
		n_repos += s->type == SEC_REPOSITORY;
		n_jobs += s->type == SEC_JOB;
		if (s->type == SEC_TIER) {
			bool builtin = false;
			for (size_t b = 0; b < ARRAY_SIZE(builtin_tiers); b++)
				builtin |= strcmp(s->name, builtin_tiers[b].name) == 0;
			n_tiers += !builtin;
		}
	}
	c->repos = calloc(n_repos + 1, sizeof(*c->repos));
	c->tiers = calloc(n_tiers, sizeof(*c->tiers));
	c->jobs_v = calloc(n_jobs + 1, sizeof(*c->jobs_v));
	if (!c->repos || !c->tiers || !c->jobs_v)
		return -ENOMEM;
	c->jobs = 1;
	for (size_t b = 0; b < ARRAY_SIZE(builtin_tiers); b++) {
		struct cli_config_tier *t = &c->tiers[c->n_tiers++];
		t->builtin_only = true;
		if (set_string(l, builtin_tiers[b].name, &t->name) < 0)
			return -ENOMEM;
		tier_from_builtin(l, t, &builtin_tiers[b]);
	}
	/* Repositories and tiers first: jobs may name them before they come. */
	for (size_t i = 0; i < l->n_secs && !l->oom; i++) {
		const struct section *s = &l->secs[i];
		if (s->bad)
			continue;
		if (s->type == SEC_GLOBAL) {
			global_build(l, s, c);
		} else if (s->type == SEC_REPOSITORY) {
			repo_build(l, s, &c->repos[c->n_repos++]);
		} else if (s->type == SEC_TIER) {
			struct cli_config_tier *t = (struct cli_config_tier *)cli_config_tier(c, s->name);
			if (!t) {
				t = &c->tiers[c->n_tiers++];
				if (set_string(l, s->name, &t->name) < 0)
					return -ENOMEM;
				tier_from_builtin(l, t, &builtin_tiers[NORMAL_TIER]);
			}
			t->builtin_only = false;
			t->line = s->line;
			for (size_t k = 0; k < s->n; k++)
				tier_set(l, t, s, &s->e[k]);
		}
	}
	for (size_t i = 0; i < l->n_secs && !l->oom; i++)
		if (!l->secs[i].bad && l->secs[i].type == SEC_JOB)
			job_build(l, &l->secs[i], c, &c->jobs_v[c->n_jobs++]);
	if (!c->state_dir && !l->oom && default_state_dir(&c->state_dir) < 0)
		return -ENOMEM;
	return l->oom ? -ENOMEM : 0;
}

int cli_config_load(const char *path, struct cli_config **ret)
{
	const char *env = getenv("CHRONOFS_CONFIG");
	_cleanup_(cli_config_freep) struct cli_config *c = NULL;
	struct loader l = {.cur = -1};
	int r;

	if (!path)
		path = env && *env ? env : CLI_CONFIG_DEFAULT_PATH;
	l.path = path;
	l.f = fopen(path, "re");
	if (!l.f)
		return log_error_errno(-errno, "Cannot read configuration file %s: %m", path);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		loader_release(&l);
		return log_error_errno(-ENOMEM, "Cannot load configuration file %s: %m", path);
	}
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_allow_bom = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_initial_alloc = 256;
	ini_max_line = CONFIG_MAX_LINE + 3; /* + '\r', '\n', NUL, as ini.h asks */
	r = ini_parse_stream(config_read, &l, config_pair, &l);
	if (l.read_error) {
		r = l.read_error == -EFBIG
			    ? log_error_errno(-EFBIG, "Cannot load configuration file %s: larger than %u MiB", path,
					      CONFIG_MAX_BYTES >> 20)
			    : log_error_errno(l.read_error, "Cannot read configuration file %s: %m", path);
		loader_release(&l);
		return r;
	}
	if (r > 0 && !l.n_errs)
		config_error(&l, (unsigned)r, "cannot parse this line");
	if (r == -2 || l.oom || (r >= 0 && build(&l, c) < 0) || l.oom) {
		loader_release(&l);
		return log_error_errno(-ENOMEM, "Cannot load configuration file %s: %m", path);
	}
	if (l.n_errs) {
		qsort(l.errs, l.n_errs, sizeof(*l.errs), cmp_error);
		for (size_t i = 0; i < l.n_errs && i < CONFIG_MAX_ERRORS_LOGGED; i++) {
			if (l.errs[i].line)
				log_error("%s:%u: %s", path, l.errs[i].line, l.errs[i].msg);
			else
				log_error("%s: built-in tier: %s", path, l.errs[i].msg);
		}
		if (l.n_errs > CONFIG_MAX_ERRORS_LOGGED)
			log_error("%s: %zu more errors", path, l.n_errs - CONFIG_MAX_ERRORS_LOGGED);
		log_error("%s: %zu error%s: configuration not loaded", path, l.n_errs, l.n_errs == 1 ? "" : "s");
		loader_release(&l);
		return -EINVAL;
	}
	loader_release(&l);
	*ret = TAKE_PTR(c);
	return 0;
}

struct cli_config *cli_config_free(struct cli_config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_repos; i++) {
		free(c->repos[i].name);
		free(c->repos[i].location);
		free(c->repos[i].password_file);
		free(c->repos[i].cache_dir);
		free(c->repos[i].s3_endpoint);
		free(c->repos[i].s3_region);
		free(c->repos[i].s3_ca_bundle);
		free(c->repos[i].s3_credentials_file);
	}
	free(c->repos);
	for (size_t i = 0; i < c->n_tiers; i++)
		tier_release(&c->tiers[i]);
	free(c->tiers);
	for (size_t i = 0; i < c->n_jobs; i++)
		job_release(&c->jobs_v[i]);
	free(c->jobs_v);
	free(c->path);
	free(c->state_dir);
	free(c);
	return NULL;
}

void cli_config_freep(struct cli_config **c)
{
	*c = cli_config_free(*c);
}

const struct cli_config_job *cli_config_job(const struct cli_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_jobs; i++)
		if (c->jobs_v[i].name && strcmp(c->jobs_v[i].name, name) == 0)
			return &c->jobs_v[i];
	return NULL;
}

const struct cli_config_tier *cli_config_tier(const struct cli_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_tiers; i++)
		if (c->tiers[i].name && strcmp(c->tiers[i].name, name) == 0)
			return &c->tiers[i];
	return NULL;
}

const struct cli_config_repo *cli_config_repo(const struct cli_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_repos; i++)
		if (c->repos[i].name && strcmp(c->repos[i].name, name) == 0)
			return &c->repos[i];
	return NULL;
}

/* ---- printing ---- */

struct printer {
	FILE *f;
	bool json;
	bool first; /* no member printed yet in the current JSON object */
};

/*
 * A value in the text form. libinih strips blanks at the end of a value,
 * and only a path (or an exclude pattern) can end in one here: "/srv/a /"
 * is normalized to "/srv/a ". Such a value gets its '/' back, which loading
 * removes again, so the text loads to the same configuration.
 */
static void p_text(FILE *f, const char *v)
{
	size_t n = strlen(v);
	fputs(v, f);
	if (n && isspace((unsigned char)v[n - 1]))
		fputc('/', f);
}

static void p_key(struct printer *p, const char *key)
{
	if (p->json) {
		fputs(p->first ? "" : ",", p->f);
		cfs_json_string(p->f, key);
		fputc(':', p->f);
	} else {
		fprintf(p->f, "%s = ", key);
	}
	p->first = false;
}

/* A string value; NULL: JSON null, nothing in text. */
static void p_str(struct printer *p, const char *key, const char *v)
{
	if (!v && !p->json)
		return;
	p_key(p, key);
	if (!p->json) {
		p_text(p->f, v);
		fputc('\n', p->f);
	} else if (v)
		cfs_json_string(p->f, v);
	else
		fputs("null", p->f);
}

static void p_uint(struct printer *p, const char *key, uint64_t v)
{
	p_key(p, key);
	fprintf(p->f, p->json ? "%" PRIu64 : "%" PRIu64 "\n", v);
}

static void p_bool(struct printer *p, const char *key, bool v)
{
	p_key(p, key);
	fputs(p->json ? (v ? "true" : "false") : (v ? "yes\n" : "no\n"), p->f);
}

/* A duration: text "4h" (or "none" when none_ok and 0); JSON the text and
 * KEY_s, its seconds (null for none). */
static void p_duration(struct printer *p, const char *key, int64_t ns)
{
	char buf[64], k[64];
	format_duration(ns, buf, sizeof(buf));
	p_str(p, key, ns ? buf : p->json ? NULL : "none");
	if (!p->json)
		return;
	snprintf(k, sizeof(k), "%s_s", key);
	p_key(p, k);
	if (ns)
		fprintf(p->f, "%" PRId64, ns / NS_PER_SEC);
	else
		fputs("null", p->f);
}

static int p_calendar(struct printer *p, const char *key, const struct cfs_calendar *cal)
{
	_cleanup_free_ char *s = NULL;
	if (cal) {
		int r = cfs_calendar_format(cal, &s);
		if (r < 0)
			return r;
	}
	p_str(p, key, s ? s : p->json ? NULL : "never");
	return 0;
}

/* A list: JSON an array, text one KEY = VALUE per element (or all on one
 * line, blank-separated, when joined). */
static void p_list(struct printer *p, const char *key, const char *const *v, size_t n, bool joined)
{
	if (p->json) {
		p_key(p, key);
		fputc('[', p->f);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? "," : "", p->f);
			cfs_json_string(p->f, v[i]);
		}
		fputc(']', p->f);
	} else if (joined && n) {
		fprintf(p->f, "%s =", key);
		for (size_t i = 0; i < n; i++)
			fprintf(p->f, " %s", v[i]);
		fputc('\n', p->f);
	} else {
		for (size_t i = 0; i < n; i++) {
			fprintf(p->f, "%s = ", key);
			p_text(p->f, v[i]);
			fputc('\n', p->f);
		}
	}
}

static void p_open(struct printer *p, const char *type, const char *name, unsigned line)
{
	if (p->json) {
		fputc('{', p->f);
		p->first = true;
		if (name)
			p_str(p, "name", name);
		p_key(p, "line");
		if (line)
			fprintf(p->f, "%u", line);
		else
			fputs("null", p->f);
		return;
	}
	fputc('\n', p->f);
	if (!line && strcmp(type, "tier") == 0)
		fputs("# built in, not in the file\n", p->f);
	else if (line)
		fprintf(p->f, "# line %u\n", line);
	if (name)
		fprintf(p->f, "[%s %s]\n", type, name);
	else
		fprintf(p->f, "[%s]\n", type);
}

static void p_close(struct printer *p)
{
	if (p->json)
		fputc('}', p->f);
}

/* JSON: ,"name":[ before the objects of a list, ',' between them, ']'
 * after; nothing in text. */
static void p_array_open(struct printer *p, const char *name)
{
	if (!p->json)
		return;
	fputc(',', p->f);
	cfs_json_string(p->f, name);
	fputs(":[", p->f);
}

static void p_array_next(struct printer *p, size_t i)
{
	if (p->json && i)
		fputc(',', p->f);
}

static void p_array_close(struct printer *p)
{
	if (p->json)
		fputc(']', p->f);
}

static void p_keep(struct printer *p, const struct cli_config_tier *t)
{
	p_str(p, "keep", t->keep_text);
	if (!p->json)
		return;
	const unsigned counts[] = {t->keep.last,   t->keep.hourly,  t->keep.daily,
				   t->keep.weekly, t->keep.monthly, t->keep.yearly};
	p_key(p, "keep_rules");
	if (t->keep_forever) {
		fputs("null", p->f);
		return;
	}
	fputc('{', p->f);
	p->first = true;
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		if (counts[i])
			p_uint(p, cfs_keep_reason_name(1u << i), counts[i]);
	if (t->keep.within_ns)
		p_duration(p, "within", t->keep.within_ns);
	if (t->keep.n_tags)
		p_list(p, "tags", t->keep.tags, t->keep.n_tags, false);
	fputc('}', p->f);
	p->first = false;
}

static int print_tier(struct printer *p, const struct cli_config_tier *t)
{
	int r;
	p_open(p, "tier", t->name, t->line);
	if (p->json)
		p_bool(p, "builtin_only", t->builtin_only);
	if ((r = p_calendar(p, "schedule", t->schedule)) < 0 || (r = p_calendar(p, "full", t->full)) < 0 ||
	    (r = p_calendar(p, "differential", t->differential)) < 0 ||
	    (r = p_calendar(p, "incremental", t->incremental)) < 0)
		return r;
	p_keep(p, t);
	if ((r = p_calendar(p, "prune", t->prune)) < 0)
		return r;
	p_uint(p, "copies", t->copies);
	p_duration(p, "rpo", t->rpo_ns);
	p_duration(p, "rto", t->rto_ns);
	p_close(p);
	return 0;
}

static void print_repo(struct printer *p, const struct cli_config_repo *r)
{
	p_open(p, "repository", r->name, r->line);
	p_str(p, "location", r->location);
	p_str(p, "password_file", r->password_file);
	p_str(p, "cache_dir", r->cache_dir);
	p_bool(p, "offsite", r->offsite);
	if (r->transfers || p->json)
		p_uint(p, "transfers", r->transfers);
	if (r->limit_upload || p->json)
		p_uint(p, "limit_upload", r->limit_upload / 1024);
	if (r->limit_download || p->json)
		p_uint(p, "limit_download", r->limit_download / 1024);
	if (r->has_disk_cache) {
		p_uint(p, "disk_cache_size", r->disk_cache_bytes >> 20);
	} else if (p->json) {
		p_key(p, "disk_cache_size");
		fputs("null", p->f);
	}
	/* Where the credentials are, never what they are (nothing here
	 * reads the file). */
	p_str(p, "s3_endpoint", r->s3_endpoint);
	p_str(p, "s3_region", r->s3_region);
	static const char *const style[] = {[CFS_S3_PATH_STYLE_ENV] = NULL,
					    [CFS_S3_PATH_STYLE_AUTO] = "auto",
					    [CFS_S3_PATH_STYLE_ON] = "yes",
					    [CFS_S3_PATH_STYLE_OFF] = "no"};
	p_str(p, "s3_path_style", style[r->s3_path_style]);
	p_str(p, "s3_ca_bundle", r->s3_ca_bundle);
	p_str(p, "s3_credentials_file", r->s3_credentials_file);
	p_close(p);
}

static int print_job(struct printer *p, const struct cli_config_job *j)
{
	_cleanup_free_ const char **names = calloc(j->n_repos + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < j->n_repos; i++)
		names[i] = j->repos[i]->name;
	p_open(p, "job", j->name, j->line);
	p_str(p, "tier", j->tier->name);
	p_list(p, "repository", names, j->n_repos, true);
	p_list(p, "path", (const char *const *)j->paths, j->n_paths, false);
	p_list(p, "exclude", (const char *const *)j->excludes, j->n_excludes, false);
	p_array_open(p, "stream");
	for (size_t i = 0; i < j->n_streams; i++) {
		p_array_next(p, i);
		if (p->json) {
			fputc('{', p->f);
			p->first = true;
			p_str(p, "path", j->streams[i].path);
			p_str(p, "command", j->streams[i].command);
			fputc('}', p->f);
		} else {
			fputs("stream = ", p->f);
			p_text(p->f, j->streams[i].path);
			fprintf(p->f, "=%s\n", j->streams[i].command);
		}
	}
	p_array_close(p);
	p->first = false;
	p_list(p, "tag", (const char *const *)j->tags, j->n_tags, false);
	p_bool(p, "one_file_system", j->one_file_system);
	p_bool(p, "exclude_caches", j->exclude_caches);
	p_str(p, "pre_hook", j->pre_hook);
	p_str(p, "post_hook", j->post_hook);
	p_duration(p, "hook_timeout", j->hook_timeout_ns);
	p_close(p);
	return 0;
}

int cli_config_print(const struct cli_config *c, FILE *f, bool json)
{
	struct printer p = {f, json, true};
	int r;
	if (json) {
		fputc('{', f);
		p_str(&p, "path", c->path);
		p_key(&p, "global");
		fputc('{', f);
		p.first = true;
	} else {
		fprintf(f, "# The effective configuration of %s (chronoctl config check)\n", c->path);
		p_open(&p, "global", NULL, 0);
	}
	p_str(&p, "state_dir", c->state_dir);
	p_uint(&p, "jobs", c->jobs);
	if (json)
		fputc('}', f);
	p_array_open(&p, "repositories");
	for (size_t i = 0; i < c->n_repos; i++) {
		p_array_next(&p, i);
		print_repo(&p, &c->repos[i]);
	}
	p_array_close(&p);
	p_array_open(&p, "tiers");
	for (size_t i = 0; i < c->n_tiers; i++) {
		p_array_next(&p, i);
		if ((r = print_tier(&p, &c->tiers[i])) < 0)
			return r;
	}
	p_array_close(&p);
	p_array_open(&p, "jobs");
	for (size_t i = 0; i < c->n_jobs; i++) {
		p_array_next(&p, i);
		if ((r = print_job(&p, &c->jobs_v[i])) < 0)
			return r;
	}
	p_array_close(&p);
	if (json)
		fputs("}\n", f);
	return 0;
}
