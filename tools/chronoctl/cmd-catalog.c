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
	int e = parse_simple_options(argc, argv, usage, NULL, 0);
	if (e != 0)
		return e < 0 ? e : 0;
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
	if (st.indexes_bad)
		log_error("%llu index object(s) could not be read (chronoctl check names them); their packs were read "
			  "from their own headers",
			  (unsigned long long)st.indexes_bad);
	if (st.packs_bad)
		log_error("%llu pack(s) no index object covers could not be read (named above)",
			  (unsigned long long)st.packs_bad);
	if (st.indexes_bad || st.packs_bad)
		return -EBADMSG;
	return 0;
}

int cmd_catalog(int argc, char **argv)
{
	static const struct subverb verbs[] = {{"rebuild", verb_rebuild}};
	return dispatch_subverb("catalog", argc, argv, verbs, ARRAY_SIZE(verbs), usage);
}
