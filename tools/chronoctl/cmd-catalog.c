/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl catalog rebuild\n"
	      "Throw the local catalog of the repository away and rebuild it from the store\n"
	      "alone: index/ objects, snapshots/ manifests, and the headers of packs that no\n"
	      "index/ object covers (those get index/ objects again). Needs the passphrase;\n"
	      "waits for other chronoctl processes on the same cache like a backup does.\n"
	      "Any open of a fresh cache directory does the same; this forces it.\n",
	      f);
}

static int verb_rebuild(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_repo_sync_stats st;
	int e = parse_global_only(argc, argv, usage);
	if (e != 0)
		return e < 0 ? e : 0;
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	e = open_repo_with(true, true, &r);
	if (e < 0)
		return e;
	cfs_repo_sync_stats(r, &st);
	e = cfs_repo_write_pending_index(r);
	if (e < 0)
		return log_error_errno(e, "Cannot write index objects for the packs read from their headers to %s: %m",
				       cfs_repo_location(r));
	printf("catalog of %s rebuilt: %llu snapshots, %llu index objects read, %llu packs read from their "
	       "headers\n",
	       cfs_repo_location(r), (unsigned long long)st.snapshots_loaded, (unsigned long long)st.indexes_loaded,
	       (unsigned long long)st.packs_adopted);
	if (st.indexes_bad) {
		log_error("%llu index object(s) could not be read (chronoctl check names them); their packs were read "
			  "from their own headers",
			  (unsigned long long)st.indexes_bad);
		return -EBADMSG;
	}
	return 0;
}

int cmd_catalog(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return -EINVAL;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "rebuild") == 0)
		return verb_rebuild(argc - 1, argv + 1);
	usage(stderr);
	return log_error_errno(-EINVAL, "Unknown catalog verb \"%s\"", argv[1]);
}
