/* SPDX-License-Identifier: MIT */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronofs/catalog.h"
#include "chronofs/ingest.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "../common/config.h"
#include "../common/copies.h"
#include "progress.h"
#include "streams.h"
#include "../common/snap.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl snapshot create [OPTIONS] PATH...   (relative PATHs are made absolute)\n"
	      "         --type full|incremental|differential   (default incremental)\n"
	      "         --exclude PATTERN, --exclude-file FILE, --exclude-caches, --exclude-nodump,\n"
	      "         --one-file-system\n"
	      "         --stdin-path PATH, --stream PATH=COMMAND   (store a stream as the file PATH)\n"
	      "         --tag TAG, --json, --json-progress, --quiet\n"
	       "       chronoctl snapshot list [--host HOST]... [--tag TAG]... [--path PATH]... [--json]\n"
	       "         (--host: any of them; --tag, --path: every one of them)\n"
	       "       chronoctl snapshot show SNAP [--json]\n"
	       "       chronoctl snapshot hold SNAP --reason TEXT   (never forgotten until released)\n"
	       "       chronoctl snapshot release SNAP\n"
	       "       chronoctl snapshot holds [--json]\n"
	       "SNAP is \"latest\", a snapshot name (its UTC time), a unique id prefix, or a time\n"
	       "(the snapshot in effect then): 2026-12-06T23:17:03Z, 2026-12-06T23:17+01:00,\n"
	       "20261206T231703Z, 2026-12-06 (the end of that day, local time), now, -2h, -3d,\n"
	       "yesterday; see chronoctl(8).\n",
	       f);
}

/* open: how the object starts ("{", or the JSON stream's summary); more:
 * keys to add at its end (",\"copies\":2,..."), or "". */
static void print_json_more(const struct cfs_snapshot *s, const struct cfs_id *id, const char *open, const char *more)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(id, hex);
	printf("%s\"id\":\"%s\",\"name\":", open, hex);
	cfs_json_string(stdout, s->name);
	printf(",\"time\":");
	cfs_json_string(stdout, s->name);
	printf(",\"time_ns\":%lld,\"type\":\"%s\",\"parent\":", (long long)s->time_ns, cfs_snapshot_type_name(s->type));
	if (s->has_parent) {
		cfs_id_hex(&s->parent, hex);
		printf("\"%s\"", hex);
	} else {
		printf("null");
	}
	printf(",\"host\":");
	cfs_json_string(stdout, s->host ? s->host : "");
	printf(",\"job\":");
	cfs_json_string(stdout, s->job ? s->job : "");
	printf(",\"origin\":");
	if (s->has_origin) {
		cfs_id_hex(&s->origin.repo, hex);
		printf("{\"repository\":\"%s\",", hex);
		cfs_id_hex(&s->origin.snapshot, hex);
		printf("\"snapshot\":\"%s\"}", hex);
	} else {
		printf("null");
	}
	printf(",\"paths\":[");
	for (size_t i = 0; i < s->n_paths; i++) {
		if (i)
			putchar(',');
		cfs_json_string(stdout, s->paths[i]);
	}
	printf("],\"tags\":[");
	for (size_t i = 0; i < s->n_tags; i++) {
		if (i)
			putchar(',');
		cfs_json_string(stdout, s->tags[i]);
	}
	cfs_id_hex(&s->root, hex);
	const struct cfs_snapshot_stats *st = &s->stats;
	printf("],\"root\":\"%s\",\"nodes\":%llu,\"bytes_total\":", hex, (unsigned long long)s->root_nodes);
	if (st->has_bytes_total)
		printf("%llu", (unsigned long long)st->bytes_total);
	else
		printf("null"); /* recorded since 2026-12 only */
	printf(",\"stats\":{\"files_new\":%llu,\"files_changed\":%llu,"
	       "\"files_unchanged\":%llu,\"files_skipped\":%llu,\"dirs\":%llu,\"bytes_read\":%llu,"
	       "\"bytes_added\":%llu,\"blobs_added\":%llu,\"duration_ns\":%llu}%s}",
	       (unsigned long long)st->files_new,
	       (unsigned long long)st->files_changed, (unsigned long long)st->files_unchanged,
	       (unsigned long long)st->files_skipped, (unsigned long long)st->dirs,
	       (unsigned long long)st->bytes_read, (unsigned long long)st->bytes_added,
	       (unsigned long long)st->blobs_added, (unsigned long long)st->duration_ns, more);
}

static void print_json_open(const struct cfs_snapshot *s, const struct cfs_id *id, const char *open)
{
	print_json_more(s, id, open, "");
}

static void print_json(const struct cfs_snapshot *s, const struct cfs_id *id)
{
	print_json_open(s, id, "{");
}

static void print_human(const struct cfs_snapshot *s, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE], rd[32], add[32];
	const struct cfs_snapshot_stats *st = &s->stats;
	cfs_id_hex(id, hex);
	cfs_format_bytes(st->bytes_read, rd, sizeof(rd));
	cfs_format_bytes(st->bytes_added, add, sizeof(add));
	printf("snapshot %s\nid       %s\ntype     %s\nhost     %s\npaths   ", s->name, hex,
	       cfs_snapshot_type_name(s->type), s->host);
	for (size_t i = 0; i < s->n_paths; i++) {
		putchar(' ');
		cfs_print_escaped(stdout, s->paths[i]);
	}
	if (s->job && *s->job) {
		printf("\njob      ");
		cfs_print_escaped(stdout, s->job);
	}
	if (s->has_origin) {
		char o1[CFS_ID_HEX_SIZE], o2[CFS_ID_HEX_SIZE];
		cfs_id_hex(&s->origin.repo, o1);
		cfs_id_hex(&s->origin.snapshot, o2);
		printf("\norigin   snapshot %s of repository %s (this is a copy)", o2, o1);
	}
	if (s->n_tags) {
		printf("\ntags    ");
		for (size_t i = 0; i < s->n_tags; i++) {
			putchar(' ');
			cfs_print_escaped(stdout, s->tags[i]);
		}
	}
	if (st->has_bytes_total) {
		char tot[32];
		cfs_format_bytes(st->bytes_total, tot, sizeof(tot));
		printf("\nsize     %s in regular files", tot);
	}
	printf("\nfiles    %llu new, %llu changed, %llu unchanged, %llu skipped; %llu directories\n"
	       "data     %s read, %s added to the repository (%llu blobs) in %.2f s\n",
	       (unsigned long long)st->files_new, (unsigned long long)st->files_changed,
	       (unsigned long long)st->files_unchanged, (unsigned long long)st->files_skipped,
	       (unsigned long long)st->dirs, rd, add, (unsigned long long)st->blobs_added,
	       (double)st->duration_ns / 1e9);
}

/* The progress of `snapshot create`: percentage and ETA by bytes where
 * the byte total is known (no parent: counted ahead), else by entries. */
static void show_progress(void *ud, const struct cfs_backup_progress *p)
{
	const struct cfs_progress_field extra[] = {
		{"files_read", p->files_read},
		{"bytes_added", p->bytes_added},
	};
	const struct cfs_progress cp = {
		.action = "backup",
		.unit = "entries",
		.done = p->entries,
		.total = p->entries_total,
		.bytes = p->bytes_read,
		.bytes_total = p->bytes_total,
		.partial = p->totals_partial,
		.elapsed_ns = p->elapsed_ns,
		.extra = extra,
		.n_extra = ARRAY_SIZE(extra),
	};
	progress_display_update(ud, &cp, p->done);
}

void backup_tune_memory(void)
{
	/* The catalog is read in point lookups by blob id (dedup): a small
	 * block cache does, and keeps ingest within its memory budget. */
	cfs_catalog_set_cache_budget(8u << 20);
	/* Freed memory goes back to the system: glibc's default thresholds
	 * grow with the largest blocks freed (chunks of megabytes), and then
	 * keep tens of MiB of a walk's churn resident (115 vs 80 MiB peak on a
	 * 200,000-file data set). Also fixes the mmap threshold at 128 KiB. */
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

/* Append the patterns of an exclude file: one per line, '#' comments and
 * blank lines skipped. */
static int read_exclude_file(const char *path, char ***pats, size_t *n, size_t *cap)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int e = cfs_read_file(path, false, &text, &len);
	if (e < 0)
		return log_error_errno(e, "Cannot read exclude file %s: %m", path);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = 0;
		if (!l || line[0] == '#')
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			char **np = realloc(*pats, ncap * sizeof(*np));
			if (!np)
				return log_error_errno(-ENOMEM, "Cannot read exclude file %s: %m", path);
			*pats = np;
			*cap = ncap;
		}
		(*pats)[*n] = strdup(line);
		if (!(*pats)[*n])
			return log_error_errno(-ENOMEM, "Cannot read exclude file %s: %m", path);
		(*n)++;
	}
	return 0;
}

static int parse_type(const char *s, uint8_t *ret)
{
	if (strcmp(s, "full") == 0)
		*ret = CFS_SNAP_FULL;
	else if (strcmp(s, "incremental") == 0)
		*ret = CFS_SNAP_INCREMENTAL;
	else if (strcmp(s, "differential") == 0)
		*ret = CFS_SNAP_DIFFERENTIAL;
	else
		return log_error_errno(-EINVAL, "Unknown snapshot type \"%s\" (full, incremental or differential)", s);
	return 0;
}

/* A path inside the snapshot: absolute, normalised, not "/". */
static int check_snapshot_path(const char *opt, const char *p)
{
	_cleanup_free_ char *norm = NULL;
	int e = p[0] == '/' ? cfs_path_normalize(p, &norm) : -EINVAL;
	if (e == -ENOMEM)
		return log_error_errno(e, "Cannot check %s %s: %m", opt, p);
	if (e < 0 || strcmp(norm, "/") == 0)
		return log_error_errno(-EINVAL, "%s %s: give an absolute file path without \"..\"", opt, p);
	return 0;
}

/*
 * A source PATH as the snapshot records it and the walk reads it. An
 * absolute one is normalised ("//a/./b/" -> "/a/b"; ".." refused, since it
 * is recorded as given). A relative one is made absolute against the
 * current directory the way the kernel resolves it: its directory part by
 * realpath(3) (symbolic links and ".." followed, so "../x" from a directory
 * reached through a link names what `ls ../x` shows), its last name kept as
 * given, so that a symbolic link given is captured as the link, as it is
 * when given absolutely; a last name of "." or ".." resolves the whole.
 * Logs why it failed.
 */
static int resolve_source_path(const char *arg, char **ret)
{
	if (arg[0] == '/')
		return cfs_path_normalize(arg, ret); /* -EINVAL: ".." */
	_cleanup_free_ char *copy = strdup(arg), *dir = NULL;
	if (!copy)
		return -ENOMEM;
	size_t l = strlen(copy);
	while (l > 1 && copy[l - 1] == '/')
		copy[--l] = 0;
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	bool whole = l == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0;
	if (!whole && slash)
		*slash = 0;
	dir = realpath(whole ? (l ? copy : ".") : slash ? copy : ".", NULL);
	if (!dir)
		return -errno;
	if (whole) {
		*ret = TAKE_PTR(dir);
		return 0;
	}
	if (asprintf(ret, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base) < 0)
		return -ENOMEM;
	return 0;
}

int resolve_source_paths(char *const *args, size_t n, struct strs *ret)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		_cleanup_free_ char *abs = NULL;
		int e = resolve_source_path(args[i], &abs);
		if (e == -EINVAL)
			return log_error_errno(e, "%s: an absolute path must not contain \"..\"", args[i]);
		if (e < 0)
			return log_error_errno(e, "Cannot make %s absolute against the current directory: %m", args[i]);
		if (lstat(abs, &st) < 0) {
			if (strcmp(abs, args[i]) == 0)
				return log_error_errno(-errno, "%s: %m", abs);
			return log_error_errno(-errno, "%s (%s made absolute): %m", abs, args[i]);
		}
		if (strcmp(abs, args[i]) != 0)
			log_debug("Source path %s is %s", args[i], abs);
		if ((e = strs_add(ret, abs)) < 0)
			return log_error_errno(e, "Cannot take the source paths: %m");
	}
	return 0;
}

/* The streams' finish callback, keeping the reason of a failure for the
 * caller (ingest logs it too). */
struct backup_streams {
	struct streams *streams;
	const struct stream_src *srcs;
	char *reason;
	size_t reason_size;
};

static int finish_stream(void *ud, size_t i, char *msg, size_t msg_size)
{
	struct backup_streams *bs = ud;
	int e = streams_finish(bs->streams, i, msg, msg_size);
	if (e < 0 && bs->reason && bs->reason_size)
		snprintf(bs->reason, bs->reason_size, "the stream for %s failed: %s", bs->srcs[i].path,
			 msg[0] ? msg : strerror(-e));
	return e;
}

static int open_stream(void *ud, size_t i, int *ret_fd)
{
	struct backup_streams *bs = ud;
	return streams_open(bs->streams, i, ret_fd);
}

int backup_take(struct cfs_repo *r, const struct backup_request *b, struct cfs_backup_result *ret, char *reason,
		size_t reason_size)
{
	_cleanup_free_ const char **spaths = calloc(b->n_streams + 1, sizeof(*spaths));
	struct backup_streams bs = {.srcs = b->streams, .reason = reason, .reason_size = reason_size};
	struct cfs_backup_options o = {
		.paths = b->paths,
		.n_paths = b->n_paths,
		.tags = b->tags,
		.n_tags = b->n_tags,
		.job = b->job,
		.tier = b->tier,
		.type = b->type,
		.interrupted = &g_interrupted,
		.excludes = b->excludes,
		.n_excludes = b->n_excludes,
		.exclude_caches = b->exclude_caches,
		.exclude_nodump = b->exclude_nodump,
		.one_file_system = b->one_file_system,
		.n_streams = b->n_streams,
		.stream_open = open_stream,
		.stream_finish = finish_stream,
		.stream_ud = &bs,
	};
	int e;

	if (reason_size)
		reason[0] = 0;
	if (!spaths)
		return log_error_errno(-ENOMEM, "Cannot set up the streams: %m");
	for (size_t i = 0; i < b->n_streams; i++)
		spaths[i] = b->streams[i].path;
	o.stream_paths = spaths;
	e = streams_new(b->streams, b->n_streams, &bs.streams);
	if (e < 0)
		return log_error_errno(e, "Cannot set up the streams: %m");
	if (b->progress && progress_display_active(b->progress)) {
		o.progress = show_progress;
		o.progress_ud = b->progress;
	}
	e = cfs_backup_run(r, &o, ret);
	cfs_log_status(NULL);
	streams_free(bs.streams);
	if (e == -EINTR)
		return log_error_errno(e, "Interrupted: no snapshot was created (data already written is reused next time)");
	if (e == -ECANCELED)
		return log_error_errno(e, "Snapshot failed (a stream failed, see above): nothing was committed");
	if (e == -EEXIST)
		return log_error_errno(-EINVAL, "Snapshot failed: a stream path collides with a source path or another stream");
	if (e < 0)
		return log_error_errno(e, "Snapshot failed, nothing was committed: %m");
	if (ret->n_unreadable) {
		log_error("%u file(s) could not be read, or changed while being read (listed above); "
			  "the snapshot was committed with everything else",
			  ret->n_unreadable);
		return CFS_EXIT_PARTIAL;
	}
	return 0;
}

static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int verb_create(int argc, char **argv)
{
	enum {
		OPT_TYPE = 0x100,
		OPT_EXCLUDE,
		OPT_EXCLUDE_FILE,
		OPT_EXCLUDE_CACHES,
		OPT_EXCLUDE_NODUMP,
		OPT_ONE_FS,
		OPT_STDIN_PATH,
		OPT_STREAM,
		OPT_JSON_PROGRESS,
	};
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"tag", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"type", required_argument, NULL, OPT_TYPE},
		{"exclude", required_argument, NULL, OPT_EXCLUDE},
		{"exclude-file", required_argument, NULL, OPT_EXCLUDE_FILE},
		{"exclude-caches", no_argument, NULL, OPT_EXCLUDE_CACHES},
		{"exclude-nodump", no_argument, NULL, OPT_EXCLUDE_NODUMP},
		{"one-file-system", no_argument, NULL, OPT_ONE_FS},
		{"stdin-path", required_argument, NULL, OPT_STDIN_PATH},
		{"stream", required_argument, NULL, OPT_STREAM},
		{"json-progress", no_argument, NULL, OPT_JSON_PROGRESS},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_free_ const char **tags = NULL;
	_cleanup_free_ struct stream_src *srcs = NULL;
	char **pats = NULL;
	struct strs sources = {0};
	size_t n_tags = 0, n_pats = 0, cap_pats = 0, n_srcs = 0;
	struct backup_request b = {.type = CFS_SNAP_INCREMENTAL};
	bool json = false, json_progress = false, have_stdin = false;
	struct progress_display pd;
	int c, e;

	tags = calloc((size_t)argc + 1, sizeof(*tags));
	srcs = calloc((size_t)argc + 1, sizeof(*srcs));
	if (!tags || !srcs)
		return log_error_errno(-ENOMEM, "Cannot parse the command line: %m");
	while ((c = getopt_long(argc, argv, "ht:", opts, NULL)) >= 0) {
		if ((e = handle_global_option(c, optarg)) != 0) {
			if (e < 0)
				goto out;
			continue;
		}
		e = 0;
		switch (c) {
		case 't':
			if (!*optarg || strlen(optarg) > 255)
				e = log_error_errno(-EINVAL, "Invalid tag \"%s\": 1..255 bytes", optarg);
			else
				tags[n_tags++] = optarg;
			break;
		case 'j':
			json = true;
			break;
		case OPT_JSON_PROGRESS:
			json = json_progress = true;
			break;
		case OPT_TYPE:
			e = parse_type(optarg, &b.type);
			break;
		case OPT_EXCLUDE: {
			char *p = strdup(optarg);
			char **np = n_pats == cap_pats ? realloc(pats, (cap_pats = cap_pats * 2 + 8) * sizeof(*np)) : pats;
			if (!p || !np) {
				free(p);
				e = log_error_errno(-ENOMEM, "Cannot parse the command line: %m");
				break;
			}
			pats = np;
			pats[n_pats++] = p;
			break;
		}
		case OPT_EXCLUDE_FILE:
			e = read_exclude_file(optarg, &pats, &n_pats, &cap_pats);
			break;
		case OPT_EXCLUDE_CACHES:
			b.exclude_caches = true;
			break;
		case OPT_EXCLUDE_NODUMP:
			b.exclude_nodump = true;
			break;
		case OPT_ONE_FS:
			b.one_file_system = true;
			break;
		case OPT_STDIN_PATH:
			if (have_stdin) {
				e = log_error_errno(-EINVAL, "--stdin-path given twice (standard input is one stream)");
				break;
			}
			if (isatty(STDIN_FILENO)) {
				e = log_error_errno(-EINVAL, "--stdin-path: standard input is a terminal; pipe the data in");
				break;
			}
			e = check_snapshot_path("--stdin-path", optarg);
			if (e == 0) {
				have_stdin = true;
				srcs[n_srcs++] = (struct stream_src){.path = optarg};
			}
			break;
		case OPT_STREAM: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1]) {
				e = log_error_errno(-EINVAL, "--stream %s: expected PATH=COMMAND", optarg);
				break;
			}
			*eq = 0;
			e = check_snapshot_path("--stream", optarg);
			if (e == 0)
				srcs[n_srcs++] = (struct stream_src){.path = optarg, .command = eq + 1};
			break;
		}
		case 'h':
			usage(stdout);
			goto out;
		default:
			usage(stderr);
			e = -EINVAL;
		}
		if (e < 0)
			goto out;
	}
	if (optind >= argc && n_srcs == 0) {
		usage(stderr);
		e = log_error_errno(-EINVAL, "snapshot create: no PATH given");
		goto out;
	}
	/* Refuse bad paths before anything is written; relative ones become
	 * absolute (snapshots record absolute paths). */
	e = resolve_source_paths(argv + optind, (size_t)(argc - optind), &sources);
	if (e < 0)
		goto out;
	/* A trailing '/' on a pattern means nothing more than without it. */
	for (size_t i = 0; i < n_pats; i++) {
		size_t l = strlen(pats[i]);
		while (l > 1 && pats[i][l - 1] == '/')
			pats[i][--l] = 0;
	}
	backup_tune_memory();
	e = open_repo(true, &r);
	if (e < 0)
		goto out;

	b.paths = (const char *const *)sources.v;
	b.n_paths = sources.n;
	b.tags = tags;
	b.n_tags = n_tags;
	b.excludes = (const char *const *)pats;
	b.n_excludes = n_pats;
	b.streams = srcs;
	b.n_streams = n_srcs;
	progress_display_init(&pd, json_progress);
	b.progress = &pd;

	struct cfs_backup_result res;
	e = backup_take(r, &b, &res, NULL, 0);
	if (e < 0)
		goto out;
	if (json) {
		print_json_open(&res.snapshot, &res.id, progress_display_json_open(&pd));
		putchar('\n');
	} else if (cfs_log_get_level() >= CFS_LOG_INFO) {
		print_human(&res.snapshot, &res.id);
	}
	cfs_snapshot_release(&res.snapshot);
out:
	strv_free_n(pats, n_pats);
	strs_release(&sources);
	return e;
}

/* What `snapshot list` shows: every snapshot whose host is one of hosts
 * (any, when none is given), that has every tag of tags, and whose source
 * set includes every path of paths (a recorded path equal to it or above
 * it; stream paths count too). */
struct list_filter {
	struct strs hosts, tags, paths;
};

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool path_includes(const char *src, const char *p)
{
	size_t l = strlen(src);
	if (strcmp(src, "/") == 0)
		return true;
	return strncmp(src, p, l) == 0 && (p[l] == 0 || p[l] == '/');
}

static bool list_match(const struct cfs_snapshot *s, const struct list_filter *f)
{
	if (f->hosts.n && !strv_has(f->hosts.v, f->hosts.n, s->host ? s->host : ""))
		return false;
	for (size_t i = 0; i < f->tags.n; i++)
		if (!strv_has(s->tags, s->n_tags, f->tags.v[i]))
			return false;
	for (size_t i = 0; i < f->paths.n; i++) {
		bool in = false;
		for (size_t k = 0; k < s->n_paths && !in; k++)
			in = path_includes(s->paths[k], f->paths.v[i]);
		if (!in)
			return false;
	}
	return true;
}

/* --path: made absolute as snapshot create makes its PATHs, so that the
 * same argument finds the snapshots it made. */
static int add_list_path(void *ud, const char *p)
{
	_cleanup_free_ char *abs = NULL;
	int e = resolve_source_path(p, &abs); /* logged by the caller */
	return e < 0 ? e : strs_add(ud, abs);
}

/* s, escaped as cfs_print_escaped prints it, padded with blanks to width
 * bytes of the unescaped string. */
static void print_padded(const char *s, size_t width)
{
	cfs_print_escaped(stdout, s);
	for (size_t l = strlen(s); l < width; l++)
		putchar(' ');
}

static char *join_tags(const struct cfs_snapshot *s)
{
	size_t len = 1;
	for (size_t i = 0; i < s->n_tags; i++)
		len += strlen(s->tags[i]) + 1;
	char *t = malloc(len), *p = t;
	if (!t)
		return NULL;
	*p = 0;
	for (size_t i = 0; i < s->n_tags; i++) {
		size_t tl = strlen(s->tags[i]);
		if (i)
			*p++ = ',';
		memcpy(p, s->tags[i], tl + 1);
		p += tl;
	}
	return t;
}

static int verb_list(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	_cleanup_free_ bool *shown = NULL;
	_cleanup_free_ char **tagstr = NULL;
	_cleanup_(cli_config_freep) struct cli_config *cfg = NULL;
	_cleanup_(cli_copies_freep) struct cli_copies *cc = NULL;
	struct list_filter f = {0};
	bool json = false;
	const struct verb_flag flags[] = {
		{"json", &json},
		{"host", NULL, NULL, strs_add, &f.hosts},
		{"tag", NULL, NULL, strs_add, &f.tags},
		{"path", NULL, NULL, add_list_path, &f.paths},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 0);
	if (e != 0)
		goto out;
	e = open_repo(false, &r);
	if (e < 0)
		goto out;
	e = cfs_repo_list_snapshots(r, &l);
	if (e < 0) {
		e = log_error_errno(e, "Cannot list snapshots: %m");
		goto out;
	}
	/* Copies: when a configuration file names this repository, in how
	 * many of its repositories each snapshot exists. */
	if (load_config(false, &cfg) == 0 && cfg && cli_copies_load_config(cfg, r, &cc) == 0 &&
	    !cli_copies_listed_known(cc))
		cc = cli_copies_free(cc);
	shown = calloc(l.n + 1, sizeof(*shown));
	tagstr = calloc(l.n + 1, sizeof(*tagstr));
	if (!shown || !tagstr) {
		e = log_error_errno(-ENOMEM, "Cannot list snapshots: %m");
		goto out;
	}
	size_t host_w = 4, tags_w = 4;
	for (size_t i = 0; i < l.n; i++) {
		shown[i] = list_match(&l.items[i], &f);
		if (!shown[i] || json)
			continue;
		tagstr[i] = join_tags(&l.items[i]);
		if (!tagstr[i]) {
			e = log_error_errno(-ENOMEM, "Cannot list snapshots: %m");
			goto out;
		}
		size_t hl = strlen(l.items[i].host ? l.items[i].host : "");
		host_w = hl > host_w ? hl : host_w;
		tags_w = strlen(tagstr[i]) > tags_w ? strlen(tagstr[i]) : tags_w;
	}
	if (json) {
		putchar('[');
		for (size_t i = 0, k = 0; i < l.n; i++) {
			if (!shown[i])
				continue;
			if (k++)
				putchar(',');
			char more[64] = "";
			if (cc) {
				unsigned nc;
				bool off;
				cli_copies_count(cc, &l.items[i], &l.ids[i], &nc, &off);
				snprintf(more, sizeof(more), ",\"copies\":%u,\"offsite\":%s", nc, off ? "true" : "false");
			}
			print_json_more(&l.items[i], &l.ids[i], "{", more);
		}
		puts("]");
		goto out;
	}
	printf("%-30s %-12s %-12s ", "NAME", "ID", "TYPE");
	if (cc)
		printf("%-10s ", "COPIES");
	print_padded("HOST", host_w);
	putchar(' ');
	print_padded("TAGS", tags_w);
	printf(" %10s %10s  %s\n", "SIZE", "ADDED", "PATHS");
	for (size_t i = 0; i < l.n; i++) {
		char hex[CFS_ID_HEX_SIZE], add[32], tot[32] = "?";
		if (!shown[i])
			continue;
		cfs_id_hex(&l.ids[i], hex);
		hex[12] = 0;
		cfs_format_bytes(l.items[i].stats.bytes_added, add, sizeof(add));
		if (l.items[i].stats.has_bytes_total)
			cfs_format_bytes(l.items[i].stats.bytes_total, tot, sizeof(tot));
		printf("%-30s %-12s %-12s ", l.items[i].name, hex, cfs_snapshot_type_name(l.items[i].type));
		if (cc) {
			unsigned nc;
			bool off;
			char cp[32];
			cli_copies_count(cc, &l.items[i], &l.ids[i], &nc, &off);
			snprintf(cp, sizeof(cp), "%u%s", nc, off ? "+offsite" : "");
			printf("%-10s ", cp);
		}
		print_padded(l.items[i].host ? l.items[i].host : "", host_w);
		putchar(' ');
		print_padded(tagstr[i][0] ? tagstr[i] : "-", tags_w);
		printf(" %10s %10s ", tot, add);
		for (size_t k = 0; k < l.items[i].n_paths; k++) {
			putchar(' ');
			cfs_print_escaped(stdout, l.items[i].paths[k]);
		}
		putchar('\n');
	}
	/* What the last check or prune from this cache measured. */
	struct cfs_repo_space sp;
	if (cfs_repo_space_last(r, &sp) == 0) {
		char b1[32], b2[32], when[64] = "";
		cfs_format_bytes(sp.bytes, b1, sizeof(b1));
		cfs_format_bytes(sp.bytes_unused, b2, sizeof(b2));
		(void)cfs_time_format(sp.measured_ns, when, sizeof(when));
		printf("repository: %s in %llu packs, %s held by no snapshot", b1, (unsigned long long)sp.packs, b2);
		if (sp.packs_condemned)
			printf(", %llu pack(s) condemned", (unsigned long long)sp.packs_condemned);
		printf(" (as of %s)\n", when);
	}
out:
	for (size_t i = 0; tagstr && i < l.n; i++)
		free(tagstr[i]);
	strs_release(&f.hosts);
	strs_release(&f.tags);
	strs_release(&f.paths);
	return e < 0 ? e : 0;
}

static int verb_show(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_snapshot s;
	struct cfs_id id;
	bool json = false;
	int e = parse_simple_options(argc, argv, usage, &json, 1);
	if (e != 0)
		return e < 0 ? e : 0;
	const char *spec = argv[optind];
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cli_find_snapshot(r, spec, &s, &id);
	if (e < 0)
		return e;
	if (json) {
		print_json(&s, &id);
		putchar('\n');
	} else {
		print_human(&s, &id);
	}
	cfs_snapshot_release(&s);
	return 0;
}

static int verb_hold(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	const char *reason = NULL;
	struct cfs_snapshot s;
	struct cfs_id id;
	const struct verb_flag flags[] = {{"reason", NULL, &reason}};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), -1);
	if (e != 0)
		return e < 0 ? e : 0;
	if (optind + 1 != argc || !reason || !*reason) {
		log_error("snapshot hold takes one SNAP and --reason TEXT (why it is kept, for whoever meets the hold)");
		return -EINVAL;
	}
	e = open_repo(false, &r);
	if (e == 0)
		e = cli_find_snapshot(r, argv[optind], &s, &id);
	if (e < 0)
		return e;
	e = cfs_repo_hold(r, &id, reason);
	if (e == -EEXIST) {
		struct cfs_repo_hold h;
		if (cfs_repo_hold_get(r, &id, &h) == 0)
			log_error("Snapshot %s is held already (%s, by %s)", s.name, h.reason, h.host);
		else
			log_error("Snapshot %s is held already", s.name);
	} else if (e == -EINVAL) {
		log_error("The reason of a hold is 1 to 1023 bytes");
	} else if (e < 0) {
		log_error_errno(e, "Cannot hold snapshot %s in %s: %m", s.name, cfs_repo_location(r));
	} else {
		printf("held %s: %s\n", s.name, reason);
	}
	cfs_snapshot_release(&s);
	return e;
}

static int verb_release(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_snapshot s;
	struct cfs_id id;
	int e = parse_simple_options(argc, argv, usage, NULL, 1);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo(false, &r);
	if (e == 0)
		e = cli_find_snapshot(r, argv[optind], &s, &id);
	if (e < 0)
		return e;
	e = cfs_repo_release(r, &id);
	if (e == -ENOENT)
		log_error("Snapshot %s is not held", s.name);
	else if (e < 0)
		log_error_errno(e, "Cannot release snapshot %s in %s: %m", s.name, cfs_repo_location(r));
	else
		printf("released %s\n", s.name);
	cfs_snapshot_release(&s);
	return e;
}

struct holds_print {
	struct cfs_repo *r;
	bool json;
	size_t n;
};

static int print_hold_cb(const struct cfs_repo_hold *h, void *ud)
{
	struct holds_print *hp = ud;
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	struct cfs_snapshot s;
	char hex[CFS_ID_HEX_SIZE], when[64] = "";
	const char *name = "(forgotten or unknown)";
	bool have = cfs_catalog_snapshot_get(cfs_repo_catalog(hp->r), &h->snapshot, &v) == 0 &&
		    cfs_snapshot_decode(v.data, v.len, &s) == 0;
	if (have)
		name = s.name;
	cfs_id_hex(&h->snapshot, hex);
	if (h->time_ns)
		(void)cfs_time_format(h->time_ns, when, sizeof(when));
	if (hp->json) {
		printf("%s{\"snapshot\":", hp->n ? "," : "");
		cfs_json_string(stdout, name);
		printf(",\"id\":\"%s\",\"time\":", hex);
		cfs_json_string(stdout, when);
		printf(",\"host\":");
		cfs_json_string(stdout, h->host);
		printf(",\"reason\":");
		cfs_json_string(stdout, h->reason);
		putchar('}');
	} else {
		hex[12] = 0;
		printf("%-30s %-12s %-20s %s  ", name, hex, when, h->host);
		cfs_print_escaped(stdout, h->reason);
		putchar('\n');
	}
	hp->n++;
	if (have)
		cfs_snapshot_release(&s);
	return 0;
}

static int verb_holds(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct holds_print hp = {0};
	int e = parse_simple_options(argc, argv, usage, &hp.json, 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	hp.r = r;
	if (hp.json)
		putchar('[');
	e = cfs_repo_holds_foreach(r, print_hold_cb, &hp);
	if (hp.json)
		puts("]");
	if (e < 0)
		return log_error_errno(e, "Cannot list the holds of %s: %m", cfs_repo_location(r));
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct subverb verbs[] = {
		{"create", verb_create},
		{"list", verb_list},
		{"show", verb_show},
		{"hold", verb_hold},
		{"release", verb_release},
		{"holds", verb_holds},
	};
	return dispatch_subverb("snapshot", argc, argv, verbs, ARRAY_SIZE(verbs), usage);
}
