/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/restore.h"
#include "chronoctl.h"
#include "../common/snap.h"
#include "progress.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl restore [OPTIONS] SNAP[:PATH] TARGET\n"
	      "Restore snapshot SNAP (a name, an id prefix, latest, or a time such as 2026-12-06 or -2h:\n"
	      "see snapshot --help), or only PATH inside it, under TARGET, recreating the absolute paths:\n"
	      "restore latest:/etc/hosts /tmp/r writes /tmp/r/etc/hosts.\n"
	      "Each file appears under its name only when complete; nothing is written outside TARGET.\n"
	      "  --overwrite WHEN   an entry that exists in TARGET where a file, symlink, FIFO or\n"
	      "                     device is to be restored: never (the default: an error, left\n"
	      "                     alone), if-changed (replaced unless it holds the snapshot's\n"
	      "                     data: same size and mtime, or same bytes; kept ones get the\n"
	      "                     snapshot's owner, mode and times), always (replaced)\n"
	      "  --skip-existing    leave existing entries as they are, silently (resumes a restore)\n"
	      "  --include PATTERN  restore only what matches (with the directories leading to it,\n"
	      "                     without their other entries); repeatable\n"
	      "  --exclude PATTERN  leave out what matches (a directory with all below); repeatable\n"
	      "Patterns are those of snapshot create --exclude, matched against the path in the\n"
	      "snapshot: NAME-GLOB, /ABSOLUTE/GLOB or PART/OF/PATH. A replacement is written beside\n"
	      "the old entry and renamed over it; a directory in the way is never removed (an error).\n"
	      "The summary counts files restored (replacements included), existing entries skipped\n"
	      "and replaced. SIGINT, SIGTERM and SIGHUP stop it (exit status 1).\n"
	      "  --json-progress    JSON status objects on stdout, one per line, then a summary\n"
	      "                     object (see chronoctl(8) PROGRESS)\n",
	      f);
}

/* "1 file", "2 files". */
static const char *count(char *buf, size_t size, uint64_t n, const char *one, const char *many)
{
	snprintf(buf, size, "%llu %s", (unsigned long long)n, n == 1 ? one : many);
	return buf;
}

/* A trailing '/' on a pattern means nothing more than without it. */
static void drop_trailing_slashes(struct strs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->v[i]);
		while (len > 1 && l->v[i][len - 1] == '/')
			l->v[i][--len] = 0;
	}
}

static int parse_overwrite(const char *s, enum cfs_restore_overwrite *ret)
{
	if (strcmp(s, "never") == 0)
		*ret = CFS_RESTORE_OVERWRITE_NEVER;
	else if (strcmp(s, "if-changed") == 0)
		*ret = CFS_RESTORE_OVERWRITE_IF_CHANGED;
	else if (strcmp(s, "always") == 0)
		*ret = CFS_RESTORE_OVERWRITE_ALWAYS;
	else
		return log_error_errno(-EINVAL, "Unknown --overwrite \"%s\" (never, if-changed or always)", s);
	return 0;
}

/* "3 files and 1 directory (12 KiB) under T[; skipped 2 existing, replaced 1]" */
static void summary(const struct cfs_restore_stats *st, const char *target, bool counts, char *out, size_t size)
{
	char files[48], dirs[48], b[32];
	cfs_format_bytes(st->bytes, b, sizeof(b));
	int n = snprintf(out, size, "%s and %s (%s) under %s", count(files, sizeof(files), st->files, "file", "files"),
			 count(dirs, sizeof(dirs), st->dirs, "directory", "directories"), b, target);
	if ((counts || st->skipped || st->replaced) && n > 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, "; skipped %llu existing, replaced %llu",
			 (unsigned long long)st->skipped, (unsigned long long)st->replaced);
}

/* Percentage and ETA by bytes where the byte total is known (a whole full
 * snapshot), else by entries. */
static void show_progress(void *ud, const struct cfs_restore_progress *p)
{
	const struct cfs_progress cp = {
		.action = "restore",
		.unit = "entries",
		.done = p->entries,
		.total = p->entries_total,
		.bytes = p->bytes,
		.bytes_total = p->bytes_total,
		.elapsed_ns = p->elapsed_ns,
	};
	progress_display_update(ud, &cp, p->done);
}

static void print_summary_json(const struct progress_display *pd, const struct cfs_restore_stats *st,
			       const char *target)
{
	printf("%s\"target\":", progress_display_json_open(pd));
	cfs_json_string(stdout, target);
	printf(",\"files\":%llu,\"dirs\":%llu,\"bytes\":%llu,\"skipped\":%llu,\"replaced\":%llu,\"errors\":%u}\n",
	       (unsigned long long)st->files, (unsigned long long)st->dirs, (unsigned long long)st->bytes,
	       (unsigned long long)st->skipped, (unsigned long long)st->replaced, st->errors);
}

static int restore(int argc, char **argv, struct strs *inc, struct strs *exc)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_free_ char *spec = NULL;
	const char *overwrite = NULL;
	bool skip_existing = false, json_progress = false;
	struct progress_display pd;
	struct cfs_restore_options o = {.interrupted = &g_interrupted};
	struct cfs_restore_stats st;
	struct cfs_snapshot s;
	const struct verb_flag flags[] = {
		{"overwrite", .arg = &overwrite},
		{"skip-existing", &skip_existing},
		{"include", .add = strs_add, .ud = inc},
		{"exclude", .add = strs_add, .ud = exc},
		{"json-progress", &json_progress},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 2);
	if (e != 0)
		return e < 0 ? e : 0;
	if (overwrite && (e = parse_overwrite(overwrite, &o.overwrite)) < 0)
		return e;
	if (skip_existing && o.overwrite != CFS_RESTORE_OVERWRITE_NEVER)
		return log_error_errno(-EINVAL, "--skip-existing keeps existing entries, --overwrite %s replaces them: "
						"give one of them",
				       overwrite);
	o.skip_existing = skip_existing;
	drop_trailing_slashes(inc);
	drop_trailing_slashes(exc);
	o.includes = (const char *const *)inc->v;
	o.n_includes = inc->n;
	o.excludes = (const char *const *)exc->v;
	o.n_excludes = exc->n;

	spec = strdup(argv[optind]);
	if (!spec)
		return log_error_errno(-ENOMEM, "Cannot parse the command line: %m");
	o.target = argv[optind + 1];
	/* SNAP:PATH — PATH is absolute, so split at the first ":/". Names
	 * contain ':' themselves (RFC 3339). */
	char *path = strstr(spec, ":/");
	if (path) {
		*path = 0;
		path++;
	}
	o.subpath = path;
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	struct cfs_id id;
	e = cli_find_snapshot(r, spec, &s, &id);
	if (e < 0)
		return e;
	progress_display_init(&pd, json_progress);
	if (progress_display_active(&pd)) {
		o.progress = show_progress;
		o.progress_ud = &pd;
	}
	e = cfs_restore_run(r, &s, &o, &st);
	cfs_log_status(NULL);
	cfs_snapshot_release(&s);
	if (e == 0 && json_progress)
		print_summary_json(&pd, &st, o.target);
	bool counts = o.overwrite != CFS_RESTORE_OVERWRITE_NEVER || o.skip_existing;
	char line[512];
	summary(&st, o.target, counts, line, sizeof(line));
	if (e == -EINTR)
		return log_error_errno(e,
				       "Restore interrupted by a signal: %s so far; a file being written was discarded "
				       "(run it again with --skip-existing to finish)",
				       line);
	if (e == -ENOMEM)
		return log_error_errno(e, "Restore stopped: %m; %s so far", line);
	if (e < 0)
		return e;
	if (st.errors) {
		char failed[48];
		log_error("Restored %s; %s FAILED (listed above)", line,
			  count(failed, sizeof(failed), st.errors, "entry", "entries"));
		if (st.existed)
			log_info("%u of them existed in %s: --skip-existing keeps existing entries, --overwrite "
				 "if-changed or always replaces them",
				 st.existed, o.target);
		return -EIO;
	}
	log_info("Restored %s", line);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	struct strs inc = {0}, exc = {0};
	int e = restore(argc, argv, &inc, &exc);
	strs_release(&inc);
	strs_release(&exc);
	return e;
}
