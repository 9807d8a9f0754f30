/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/check.h"
#include "chronofs/log.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl check [--read-data]\n"
	      "Verify the repository structure: packs present with their recorded sizes, every\n"
	      "snapshot's trees readable and every referenced blob indexed. With --read-data, read\n"
	      "every pack and verify every blob (decrypt, decompress, recompute its id).\n"
	      "Exit status 0 when no problem is found, 1 otherwise (each problem is named).\n",
	      f);
}

int cmd_check(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_check_options o = {.interrupted = &g_interrupted};
	struct cfs_check_result res;
	const struct verb_flag flags[] = {{"read-data", &o.read_data}};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_check_run(r, &o, &res);
	if (e < 0)
		return log_error_errno(e, "Check aborted: %m");
	printf("checked %llu snapshots, %llu trees, %llu packs%s", (unsigned long long)res.snapshots,
	       (unsigned long long)res.trees, (unsigned long long)res.packs, o.read_data ? "" : "\n");
	if (o.read_data)
		printf(", %llu blobs read and verified\n", (unsigned long long)res.blobs_read);
	if (res.problems) {
		log_error("%u problem(s) found (listed above)", res.problems);
		return -EBADMSG;
	}
	printf("no problems found\n");
	return 0;
}
