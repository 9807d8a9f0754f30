/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/restore.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl restore SNAP[:PATH] TARGET\n"
	      "Restore snapshot SNAP (name, id prefix or latest), or only PATH inside it, under TARGET,\n"
	      "recreating the absolute paths: restore latest:/etc/hosts /tmp/r writes /tmp/r/etc/hosts.\n"
	      "Existing files are never overwritten; each file appears under its name only when complete.\n"
	      "SIGINT, SIGTERM and SIGHUP stop it (exit status 1).\n",
	      f);
}

int cmd_restore(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_free_ char *spec = NULL;
	struct cfs_restore_stats st;
	struct cfs_snapshot s;
	int e = parse_simple_options(argc, argv, usage, NULL, 2);
	if (e != 0)
		return e < 0 ? e : 0;
	spec = strdup(argv[optind]);
	if (!spec)
		return log_error_errno(-ENOMEM, "Cannot parse the command line: %m");
	const char *target = argv[optind + 1];
	/* SNAP:PATH — PATH is absolute, so split at the first ":/". Names
	 * contain ':' themselves (RFC 3339). */
	char *path = strstr(spec, ":/");
	if (path) {
		*path = 0;
		path++;
	}
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_repo_find_snapshot(r, spec, &s, NULL);
	if (e == -ENOENT)
		return log_error_errno(e, "No snapshot \"%s\"", spec);
	if (e == -ENOTUNIQ)
		return e; /* the matches are named */
	if (e < 0)
		return log_error_errno(e, "Cannot read snapshot %s: %m", spec);
	struct cfs_restore_options o = {.subpath = path, .target = target, .interrupted = &g_interrupted};
	e = cfs_restore_run(r, &s, &o, &st);
	cfs_snapshot_release(&s);
	char b[32];
	cfs_format_bytes(st.bytes, b, sizeof(b));
	if (e == -EINTR)
		return log_error_errno(e,
				       "Restore interrupted by a signal: %llu files and %llu directories (%s) restored "
				       "under %s so far; a file being written was discarded",
				       (unsigned long long)st.files, (unsigned long long)st.dirs, b, target);
	if (e == -ENOMEM)
		return log_error_errno(e,
				       "Restore stopped: %m; %llu files and %llu directories (%s) restored under %s "
				       "so far",
				       (unsigned long long)st.files, (unsigned long long)st.dirs, b, target);
	if (e < 0)
		return e;
	if (st.errors) {
		log_error("Restored %llu files and %llu directories (%s) under %s; %u entries FAILED (listed above)",
			  (unsigned long long)st.files, (unsigned long long)st.dirs, b, target, st.errors);
		return -EIO;
	}
	log_info("Restored %llu files and %llu directories (%s) under %s", (unsigned long long)st.files,
		 (unsigned long long)st.dirs, b, target);
	return 0;
}
