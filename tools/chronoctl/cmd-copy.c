/* SPDX-License-Identifier: MIT */
/*
 * chronoctl copy — snapshots into a second repository (3-2-1).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/catalog.h"
#include "chronofs/copy.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "progress.h"
#include "../common/cli.h"
#include "../common/config.h"
#include "../common/snap.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl copy [--from REPO] --to REPO2 [--to-password-file FILE] [--to-cache-dir DIR]\n"
	      "                      [--json] [--json-progress] [SNAP...|--job JOB]\n"
	      "Copy snapshots (all of them by default, or those named, or those of a job) from REPO\n"
	      "(without --from: the global --repo, --password-file and --cache-dir) into REPO2,\n"
	      "moving only the data REPO2 lacks. A snapshot REPO2 already holds (the same origin)\n"
	      "is not copied again. When REPO2 was created with `init --copy-params-from REPO`,\n"
	      "only the chunks REPO2 lacks are read and sent; otherwise every file is read and\n"
	      "cut again into REPO2's chunks (said once).\n"
	      "REPO and REPO2 are locations or names of [repository NAME] sections of the\n"
	      "configuration file (chronofs.conf(5)), which give their password files.\n"
	      "REPO2's passphrase: --to-password-file, CHRONOFS_TO_PASSWORD_FILE,\n"
	      "CHRONOFS_TO_PASSWORD, the config's password_file.\n"
	      "  --json           a summary object on stdout\n"
	      "  --json-progress  JSON status objects, one per line, then the summary\n"
	      "Exit status 0 when every snapshot is copied or present, 1 otherwise (also when\n"
	      "interrupted: run it again, what was stored is not sent again).\n",
	      f);
}

static void show_progress(void *ud, const struct cfs_copy_progress *p)
{
	const struct cfs_progress_field extra[] = {
		{"blobs", p->blobs},
		{"bytes_read", p->bytes_read},
		{"bytes_sent", p->bytes_sent},
	};
	const struct cfs_progress cp = {
		.action = "copy",
		.unit = "snapshots",
		.done = p->snapshots_done,
		.total = p->snapshots_total,
		.bytes = p->bytes_sent,
		.elapsed_ns = p->elapsed_ns,
		.extra = extra,
		.n_extra = ARRAY_SIZE(extra),
	};
	progress_display_update(ud, &cp, p->done);
}

/* REPO2's passphrase, when one is configured: --to-password-file,
 * $CHRONOFS_TO_PASSWORD_FILE, $CHRONOFS_TO_PASSWORD, the config's
 * password_file (config_file); NULL in *ret otherwise. */
static int dest_password(const char *file, const char *config_file, char **ret, size_t *ret_len)
{
	const char *env = getenv("CHRONOFS_TO_PASSWORD");
	*ret = NULL;
	*ret_len = 0;
	if (!file)
		file = getenv("CHRONOFS_TO_PASSWORD_FILE");
	if (!file && !(env && *env))
		file = config_file;
	if (file && !*file)
		return log_error_errno(-EINVAL, "Empty password file name (--to-password-file or "
						"CHRONOFS_TO_PASSWORD_FILE)");
	if (file) {
		int r = cfs_read_file(file, true, ret, ret_len);
		if (r < 0)
			return log_error_errno(r, "Cannot read password file %s: %m", file);
		return 0;
	}
	if (env && *env) {
		*ret = strdup(env);
		if (!*ret)
			return log_error_errno(-ENOMEM, "Cannot copy the passphrase from CHRONOFS_TO_PASSWORD: %m");
		*ret_len = strlen(env);
	}
	return 0;
}

/*
 * Open REPO2 as a writer. A configured passphrase goes in from the start
 * (never decided by the unauthenticated config); without one, an encrypted
 * REPO2 is an error that says where to give it (the source's passphrase is
 * never tried on it).
 */
static int open_dest(const char *loc, const char *pwfile, const char *cache_dir, struct cfs_repo **ret)
{
	_cleanup_(cli_config_freep) struct cli_config *c = NULL;
	const struct cli_config_repo *cr = NULL;
	struct cfs_objstore_options store = g_opts.store;
	_cleanup_free_ char *pw = NULL;
	size_t pw_len = 0;
	struct cfs_repo_open_error why = {0};
	int r = config_repo(loc, &c, &cr);
	if (r < 0)
		return r;
	if (cr) {
		/* A [repository NAME] fills in what the command line and the
		 * environment left unsaid. */
		loc = cr->location;
		cache_dir = cache_dir ? cache_dir : cr->cache_dir;
		store.transfers = store.transfers ? store.transfers : cr->transfers;
		if (!g_opts.limit_upload_set)
			store.limit_upload = cr->limit_upload;
		if (!g_opts.limit_download_set)
			store.limit_download = cr->limit_download;
		cli_config_repo_store(cr, &store);
	}
	r = dest_password(pwfile, cr ? cr->password_file : NULL, &pw, &pw_len);
	if (r < 0)
		return r;
	struct cfs_repo_open_options o = {
		.location = loc,
		.cache_dir = cache_dir,
		.lock_wait_sec = g_opts.lock_wait_sec,
		.writer = true,
		.store = &store,
		.password = pw,
		.password_len = pw_len,
		.error = &why,
	};
	if (pw) {
		r = cli_open_repo(&o, NULL, ret);
		explicit_bzero(pw, pw_len);
		return r;
	}
	r = cfs_repo_open(&o, ret);
	if (r == -ENOKEY)
		return log_error_errno(r, "%s is encrypted: give its passphrase with --to-password-file, "
					  "CHRONOFS_TO_PASSWORD_FILE, CHRONOFS_TO_PASSWORD or the password_file of its "
					  "[repository] section in the configuration file",
				       loc);
	return r < 0 ? cli_open_error(loc, r, &why, o.lock_wait_sec) : 0;
}

/* The source: --from REPO, else the global --repo; a config repository's
 * name stands for its location, password file and settings as --repo's
 * does. */
static int open_source(const char *from, struct cfs_repo **ret)
{
	const char *saved = g_opts.repo;
	if (from)
		g_opts.repo = from;
	int r = open_repo(false, ret);
	g_opts.repo = saved;
	return r;
}

/* Whether two locations are the same local directory (a writer open of
 * the source's own catalog would wait for the reader's lock). */
static bool same_location(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	_cleanup_free_ char *ra = realpath(a, NULL);
	_cleanup_free_ char *rb = realpath(b, NULL);
	return ra && rb && strcmp(ra, rb) == 0;
}

/* The source snapshots to copy: those named, those of a job, or all. */
static int pick(struct cfs_repo *r, const char *job, int argc, char **argv, struct cfs_id **ret, size_t *ret_n)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	size_t n = 0;
	int e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		return log_error_errno(e, "Cannot list the snapshots of %s: %m", cfs_repo_location(r));
	size_t want = job ? l.n : (size_t)argc;
	if (!job && argc == 0)
		want = l.n;
	struct cfs_id *v = calloc(want + 1, sizeof(*v));
	if (!v)
		return log_error_errno(-ENOMEM, "Cannot list the snapshots to copy: %m");
	if (argc) {
		for (int i = 0; i < argc; i++) {
			struct cfs_snapshot s;
			e = cli_find_snapshot(r, argv[i], &s, &v[n]);
			if (e < 0) {
				free(v);
				return e;
			}
			cfs_snapshot_release(&s);
			n++;
		}
	} else {
		for (size_t i = 0; i < l.n; i++)
			if (!job || strcmp(l.items[i].job ? l.items[i].job : "", job) == 0)
				v[n++] = l.ids[i];
		if (job && n == 0) {
			free(v);
			return log_error_errno(-ENOENT, "%s has no snapshot of job \"%s\"", cfs_repo_location(r), job);
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void print_summary(const struct cfs_copy_result *res, const struct progress_display *pd, bool json,
			  double secs, const char *to)
{
	if (json) {
		printf("%s\"snapshots_copied\":%llu,\"snapshots_present\":%llu,\"blobs_sent\":%llu,"
		       "\"bytes_sent\":%llu,\"blobs_present\":%llu,\"bytes_read\":%llu,\"params_shared\":%s,"
		       "\"seconds\":%.3f}\n",
		       progress_display_json_open(pd), (unsigned long long)res->snapshots_copied,
		       (unsigned long long)res->snapshots_present, (unsigned long long)res->blobs_sent,
		       (unsigned long long)res->bytes_sent, (unsigned long long)res->blobs_present,
		       (unsigned long long)res->bytes_read, res->params_shared ? "true" : "false", secs);
		return;
	}
	char sent[32];
	cfs_format_bytes(res->bytes_sent, sent, sizeof(sent));
	printf("copied %llu snapshot(s) to %s, %llu already there; sent %llu blobs (%s), %llu blobs already there "
	       "(%.1f s)\n",
	       (unsigned long long)res->snapshots_copied, to, (unsigned long long)res->snapshots_present,
	       (unsigned long long)res->blobs_sent, sent, (unsigned long long)res->blobs_present, secs);
}

int cmd_copy(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *from = NULL;
	_cleanup_(cfs_repo_freep) struct cfs_repo *to = NULL;
	_cleanup_free_ struct cfs_id *ids = NULL;
	struct cfs_copy_result res = {0};
	struct progress_display pd;
	const char *from_loc = NULL, *to_loc = NULL, *to_pw = NULL, *to_cache = NULL, *job = NULL;
	bool json = false, json_progress = false;
	size_t n = 0;
	const struct verb_flag flags[] = {
		{"from", NULL, &from_loc},
		{"to", NULL, &to_loc},
		{"to-password-file", NULL, &to_pw},
		{"to-cache-dir", NULL, &to_cache},
		{"job", NULL, &job},
		{"json", &json},
		{"json-progress", &json_progress},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), -1);
	if (e != 0)
		return e < 0 ? e : 0;
	if (!to_loc) {
		usage(stderr);
		return log_error_errno(-EINVAL, "No destination: give --to REPO2");
	}
	if (job && optind < argc)
		return log_error_errno(-EINVAL, "Give snapshots or --job, not both");
	if (!from_loc && !cli_repo_location(g_opts.repo))
		return log_error_errno(-EINVAL, "No source repository: give --from REPO, --repo PATH or set "
						"CHRONOFS_REPO");
	json = json || json_progress;
	progress_display_init(&pd, json_progress);

	/* As snapshot create: both catalogs are read in point lookups by blob
	 * id, so a small block cache does; and freed chunk buffers go back to
	 * the system (glibc's thresholds otherwise grow with the megabyte
	 * blocks the workers free and keep their churn resident: 134 vs 96
	 * MiB peak copying a 1.1 GB corpus locally). */
	cfs_catalog_set_cache_budget(8u << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 20);

	e = open_source(from_loc, &from);
	if (e < 0)
		return e;
	const char *src_loc = cfs_repo_location(from);
	{
		_cleanup_(cli_config_freep) struct cli_config *c = NULL;
		const struct cli_config_repo *cr = NULL;
		e = config_repo(to_loc, &c, &cr);
		if (e < 0)
			return e;
		if (same_location(src_loc, cr ? cr->location : to_loc))
			return log_error_errno(-EINVAL, "Source and destination are the same repository (%s)",
					       src_loc);
	}
	e = open_dest(to_loc, to_pw, to_cache ? to_cache : g_opts.cache_dir, &to);
	if (e < 0)
		return e;
	to_loc = cfs_repo_location(to);
	if (memcmp(cfs_repo_id(from), cfs_repo_id(to), sizeof(struct cfs_id)) == 0)
		return log_error_errno(-EINVAL, "%s and %s are the same repository (the same repository id)", src_loc,
				       to_loc);
	e = pick(from, job, argc - optind, argv + optind, &ids, &n);
	if (e < 0)
		return e;
	if (!cfs_repo_params_shared(from, to))
		log_warning("%s and %s do not share chunker and blob id parameters: every file is read and cut "
			    "again into %s's chunks, and nothing can be skipped by id, so each copy reads all the "
			    "data of its snapshots (a repository created with `chronoctl init --copy-params-from "
			    "%s` shares them; see chronoctl(8), copy)",
			    src_loc, to_loc, to_loc, src_loc);

	struct cfs_copy_options o = {
		.snapshots = ids,
		.n = n,
		.interrupted = &g_interrupted,
	};
	if (progress_display_active(&pd)) {
		o.progress = show_progress;
		o.progress_ud = &pd;
	}
	if (n == 0) {
		/* Nothing to copy: an empty source. */
		res.params_shared = cfs_repo_params_shared(from, to);
		print_summary(&res, &pd, json, 0, to_loc);
		return 0;
	}
	int64_t t0 = cfs_mono_ns();
	e = cfs_copy_run(from, to, &o, &res);
	cfs_log_status(NULL);
	double secs = (double)(cfs_mono_ns() - t0) / 1e9;
	if (e == -EINTR) {
		log_error("Copy from %s to %s interrupted after %llu snapshot(s); run it again to go on (what was "
			  "stored is not sent again)",
			  src_loc, to_loc, (unsigned long long)res.snapshots_copied);
	} else if (e < 0) {
		char snap[CFS_ID_HEX_SIZE] = "?", obj[CFS_ID_HEX_SIZE] = "";
		if (res.has_error_snapshot)
			cfs_id_hex(&res.error_snapshot, snap);
		if (res.has_error_object)
			cfs_id_hex(&res.error_object, obj);
		if (res.error_kind && res.has_error_object)
			log_error_errno(e, "Cannot copy snapshot %s of %s to %s: %s %s%s%s%s: %m", snap, src_loc, to_loc,
					res.error_kind, obj, res.error_path ? " (used by " : "",
					res.error_path ? res.error_path : "", res.error_path ? ")" : "");
		else if (res.error_kind)
			log_error_errno(e, "Cannot copy snapshot %s of %s to %s: cannot commit its %s in %s: %m", snap,
					src_loc, to_loc, res.error_kind, to_loc);
		else if (res.has_error_snapshot)
			log_error_errno(e, "Cannot copy snapshot %s of %s to %s: %m", snap, src_loc, to_loc);
		else
			log_error_errno(e, "Cannot copy from %s to %s: %m", src_loc, to_loc);
	} else {
		print_summary(&res, &pd, json, secs, to_loc);
	}
	cfs_copy_result_release(&res);
	return e < 0 ? e : 0;
}
