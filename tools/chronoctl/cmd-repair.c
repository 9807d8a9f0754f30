/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/check.h"
#include "chronofs/log.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl repair [--dry-run] [--read-data]\n"
	      "Make a damaged repository describe only data it has: for packs that are missing,\n"
	      "truncated or unreadable (with --read-data also packs whose blobs do not verify),\n"
	      "store the blobs that still verify again in new packs, write index objects for\n"
	      "the good state, then delete the index objects that described the bad state and\n"
	      "the bad packs. Snapshots are not changed: the paths that still use lost data are\n"
	      "listed at the end, and the next backup of their sources stores them again.\n"
	      "Refuses while another writer holds the repository.\n"
	      "  --dry-run    only say what would be done (nothing is written or deleted)\n"
	      "  --read-data  also read every pack whole and verify every blob\n"
	      "Exit status 0 when the repository is whole afterwards, 1 otherwise.\n",
	      f);
}

static void print_result(const struct cfs_repo_repair_result *res, bool dry_run, const char *loc)
{
	uint64_t bad = res->packs_missing + res->packs_damaged + res->packs_unreadable + res->packs_bad_blobs;
	printf("%s of %s: %llu bad pack(s) (%llu missing, %llu with another size, %llu unreadable, %llu with "
	       "damaged data)\n",
	       dry_run ? "repair --dry-run" : "repair", loc, (unsigned long long)bad,
	       (unsigned long long)res->packs_missing, (unsigned long long)res->packs_damaged,
	       (unsigned long long)res->packs_unreadable, (unsigned long long)res->packs_bad_blobs);
	printf("blobs: %llu %ssalvaged into new packs (%llu bytes), %llu lost\n",
	       (unsigned long long)res->blobs_salvaged, dry_run ? "can be " : "", (unsigned long long)res->bytes_salvaged,
	       (unsigned long long)res->blobs_lost);
	printf("%s %llu index object(s) and %llu pack(s)", dry_run ? "would delete" : "deleted",
	       (unsigned long long)res->indexes_deleted, (unsigned long long)res->packs_deleted);
	if (res->locks_removed)
		printf(", %llu stale lock(s)", (unsigned long long)res->locks_removed);
	printf("\n");
}

int cmd_repair(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_repo_repair_options o = {.interrupted = &g_interrupted};
	struct cfs_repo_repair_result res;
	struct cfs_check_options co = {.interrupted = &g_interrupted};
	struct cfs_check_result cres;
	const struct verb_flag flags[] = {{"dry-run", &o.dry_run}, {"read-data", &o.read_data}};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo_flags(true, OPEN_ALLOW_DAMAGED, &r);
	if (e < 0)
		return e;
	e = cfs_repo_repair(r, &o, &res);
	if (e == -EINTR)
		return log_error_errno(e, "Repair interrupted: nothing was deleted unless its replacement was stored; run "
					  "it again");
	if (e < 0)
		return e == -EBUSY || e == -EKEYREJECTED ? e : log_error_errno(e, "Repair of %s failed: %m",
									      cfs_repo_location(r));
	print_result(&res, o.dry_run, cfs_repo_location(r));
	if (o.dry_run)
		return 0;
	/* What is still damaged: every snapshot path that uses lost data. As
	 * a reader: a writer refuses trees that name lost blobs. */
	r = cfs_repo_free(r);
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_check_run(r, &co, &cres);
	if (e < 0)
		return log_error_errno(e, "Cannot check %s after the repair: %m", cfs_repo_location(r));
	if (cres.problems) {
		log_error("%u problem(s) remain (listed above): snapshots that use lost data stay incomplete; the next "
			  "backup of their sources stores again what the sources still hold",
			  cres.problems);
		return -EBADMSG;
	}
	printf("the repository is whole\n");
	return 0;
}
