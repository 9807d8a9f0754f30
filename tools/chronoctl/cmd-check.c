/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/check.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronoctl.h"
#include "progress.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl check [--read-data] [--json] [--json-progress]\n"
	      "Verify the repository structure: packs present with their recorded sizes, every\n"
	      "snapshot's trees readable and every referenced blob indexed. With --read-data, read\n"
	      "every pack and verify every blob (decrypt, decompress, recompute its id).\n"
	      "Then say how much of the repository no snapshot uses (prune reclaims it) and how\n"
	      "much prune condemned and waits to delete.\n"
	      "  --json  the result as one JSON object (problems are still logged on stderr)\n"
	      "  --json-progress  JSON status objects, one per line, then the result (see chronoctl(8))\n"
	      "Exit status 0 when no problem is found, 1 otherwise (each problem is named).\n",
	      f);
}

static void show_progress(void *ud, const struct cfs_check_progress *p)
{
	bool packs = p->snapshots_total == 0 && !p->done;
	const struct cfs_progress cp = {
		.action = "check",
		.phase = p->phase,
		.unit = packs ? "packs" : "snapshots",
		.done = packs ? p->packs : p->snapshots,
		.total = packs ? p->packs_total : p->snapshots_total,
		.bytes = packs ? p->bytes : 0,
		.bytes_total = packs ? p->bytes_total : 0,
		.elapsed_ns = p->elapsed_ns,
	};
	progress_display_update(ud, &cp, p->done);
}

int cmd_check(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_check_options o = {.interrupted = &g_interrupted};
	struct cfs_check_result res;
	struct cfs_repo_space sp;
	struct progress_display pd;
	bool json = false, json_progress = false;
	const struct verb_flag flags[] = {
		{"read-data", &o.read_data},
		{"json", &json},
		{"json-progress", &json_progress},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 0);
	if (e != 0)
		return e < 0 ? e : 0;
	json = json || json_progress;
	progress_display_init(&pd, json_progress);
	if (progress_display_active(&pd)) {
		o.progress = show_progress;
		o.progress_ud = &pd;
	}
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_check_run(r, &o, &res);
	cfs_log_status(NULL);
	if (e < 0)
		return log_error_errno(e, "Check aborted: %m");
	/* A repository whose trees cannot all be read has no measure. */
	int se = res.problems ? -EUCLEAN : cfs_repo_space(r, &g_interrupted, &sp);
	if (se == -EINTR)
		return log_error_errno(se, "Check aborted: %m");
	if (json) {
		printf("%s\"problems\":%u,\"snapshots\":%llu,\"trees\":%llu,\"packs\":%llu,\"blobs_read\":%llu",
		       progress_display_json_open(&pd), res.problems, (unsigned long long)res.snapshots, (unsigned long long)res.trees,
		       (unsigned long long)res.packs, (unsigned long long)res.blobs_read);
		if (se == 0)
			printf(",\"bytes\":%llu,\"bytes_unused\":%llu,\"packs_unused\":%llu,\"bytes_packs_unused\":%llu,"
			       "\"packs_condemned\":%llu,\"bytes_condemned\":%llu",
			       (unsigned long long)sp.bytes, (unsigned long long)sp.bytes_unused,
			       (unsigned long long)sp.packs_unused, (unsigned long long)sp.bytes_packs_unused,
			       (unsigned long long)sp.packs_condemned, (unsigned long long)sp.bytes_condemned);
		printf("}\n");
		return res.problems ? -EBADMSG : 0;
	}
	if (se == 0) {
		char b1[32], b2[32], b3[32];
		cfs_format_bytes(sp.bytes, b1, sizeof(b1));
		cfs_format_bytes(sp.bytes_unused, b2, sizeof(b2));
		cfs_format_bytes(sp.bytes_condemned, b3, sizeof(b3));
		printf("space: %s in %llu packs, %s of it held by no snapshot (prune reclaims it)", b1,
		       (unsigned long long)sp.packs, b2);
		if (sp.packs_condemned)
			printf("; %llu pack(s) (%s) condemned, deleted by the next prune once the backups that ran "
			       "meanwhile ended",
			       (unsigned long long)sp.packs_condemned, b3);
		putchar('\n');
	} else if (se != -EUCLEAN) {
		log_warning_errno(se, "Cannot measure the unused space: %m");
	}
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
