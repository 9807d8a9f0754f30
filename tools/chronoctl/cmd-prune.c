/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/catalog.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronoctl.h"

/* Added to the prune's nice value (chronoctl(8), PRUNE). */
#define PRUNE_NICE 10

static void usage(FILE *f)
{
	fputs("Usage: chronoctl prune [--max-unused PERCENT] [--dry-run] [--json]\n"
	      "Reclaim the space of data that no snapshot references (after chronoctl forget),\n"
	      "while backups, mounts and restores go on. Packs that hold nothing a snapshot\n"
	      "uses are condemned and deleted; packs whose unused share exceeds PERCENT have\n"
	      "their live blobs moved to new packs first. Packs condemned while a backup runs\n"
	      "are deleted by the next prune after that backup ended.\n"
	      "  --max-unused PERCENT  repack packs with more unused bytes than this (10)\n"
	      "  --dry-run             only count (reads trees; writes and deletes nothing)\n"
	      "  --json                the result as one JSON object\n",
	      f);
}

static void print_json(const struct cfs_repo_prune_result *s, bool dry_run)
{
	printf("{\"dry_run\":%s,\"snapshots\":%llu,\"trees\":%llu,\"blobs_live\":%llu,\"packs\":%llu,\"bytes\":%llu,"
	       "\"bytes_unused\":%llu,\"packs_unused\":%llu,\"bytes_packs_unused\":%llu,\"packs_repacked\":%llu,"
	       "\"blobs_moved\":%llu,\"bytes_moved\":%llu,\"packs_condemned\":%llu,\"bytes_condemned\":%llu,"
	       "\"packs_deleted\":%llu,\"bytes_deleted\":%llu,\"packs_released\":%llu,\"indexes_written\":%llu,"
	       "\"indexes_deleted\":%llu,\"records_finished\":%llu,\"records_waiting\":%llu,\"writers_waiting\":%llu,"
	       "\"snapshots_deleted\":%llu}\n",
	       dry_run ? "true" : "false", (unsigned long long)s->snapshots, (unsigned long long)s->trees,
	       (unsigned long long)s->blobs_live, (unsigned long long)s->packs, (unsigned long long)s->bytes,
	       (unsigned long long)s->bytes_unused, (unsigned long long)s->packs_unused,
	       (unsigned long long)s->bytes_packs_unused, (unsigned long long)s->packs_repacked,
	       (unsigned long long)s->blobs_moved, (unsigned long long)s->bytes_moved,
	       (unsigned long long)s->packs_condemned, (unsigned long long)s->bytes_condemned,
	       (unsigned long long)s->packs_deleted, (unsigned long long)s->bytes_deleted,
	       (unsigned long long)s->packs_released, (unsigned long long)s->indexes_written,
	       (unsigned long long)s->indexes_deleted, (unsigned long long)s->records_finished,
	       (unsigned long long)s->records_waiting, (unsigned long long)s->writers_waiting,
	       (unsigned long long)s->snapshots_deleted);
}

static void print_human(const struct cfs_repo_prune_result *s, bool dry_run, const char *loc)
{
	char b1[32], b2[32], b3[32], b4[32];
	cfs_format_bytes(s->bytes, b1, sizeof(b1));
	cfs_format_bytes(s->bytes_unused, b2, sizeof(b2));
	printf("%s of %s: %llu snapshot(s), %llu tree(s) read, %llu live blob(s)\n", dry_run ? "prune --dry-run" : "prune",
	       loc, (unsigned long long)s->snapshots, (unsigned long long)s->trees, (unsigned long long)s->blobs_live);
	printf("packs: %llu (%s), unused %s; %llu pack(s) hold nothing live\n", (unsigned long long)s->packs, b1, b2,
	       (unsigned long long)s->packs_unused);
	if (dry_run)
		return;
	cfs_format_bytes(s->bytes_moved, b1, sizeof(b1));
	cfs_format_bytes(s->bytes_condemned, b3, sizeof(b3));
	cfs_format_bytes(s->bytes_deleted, b4, sizeof(b4));
	printf("repacked %llu pack(s): %llu blob(s), %s moved\n", (unsigned long long)s->packs_repacked,
	       (unsigned long long)s->blobs_moved, b1);
	printf("condemned %llu pack(s) (%s); deleted %llu pack(s) (%s), released %llu\n",
	       (unsigned long long)s->packs_condemned, b3, (unsigned long long)s->packs_deleted, b4,
	       (unsigned long long)s->packs_released);
	if (s->records_waiting)
		printf("%llu condemnation(s) wait for %llu running writer(s): the next prune after they end deletes "
		       "their packs\n",
		       (unsigned long long)s->records_waiting, (unsigned long long)s->writers_waiting);
}

int cmd_prune(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_repo_prune_options o = {.max_unused_pct = 10, .interrupted = &g_interrupted};
	struct cfs_repo_prune_result res;
	const char *max_unused = NULL;
	bool json = false;
	const struct verb_flag flags[] = {
		{"max-unused", NULL, &max_unused},
		{"dry-run", &o.dry_run, NULL},
		{"json", &json, NULL},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), 0);
	if (e != 0)
		return e < 0 ? e : 0;
	if (max_unused) {
		char *end;
		long v = strtol(max_unused, &end, 10);
		if (!*max_unused || (*end && strcmp(end, "%") != 0) || v < 0 || v > 100)
			return log_error_errno(-EINVAL, "Invalid --max-unused \"%s\": a percentage 0-100 expected",
					       max_unused);
		o.max_unused_pct = (unsigned)v;
	}
	/* As snapshot create: the catalog is read in point lookups (a tree's
	 * location) and one scan that does not fill the cache, so a small
	 * block cache does; freed memory goes back to the system. */
	cfs_catalog_set_cache_budget(8u << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
	/* Maintenance yields the CPU to backups beside it (its threads,
	 * RocksDB's too, are made after this and inherit it); alone it runs
	 * as fast. On the bench's history, a backup started during a prune
	 * took 28 % longer than alone with the prune at the same priority,
	 * 14-22 % with it 10 lower (medians of 3, 2 vCPUs). Best effort. */
	errno = 0;
	if (nice(PRUNE_NICE) == -1 && errno)
		log_debug_errno(-errno, "Cannot lower the prune's CPU priority: %m");
	e = open_repo(true, &r);
	if (e < 0)
		return e;
	e = cfs_repo_prune(r, &o, &res);
	if (e == -EINTR)
		return log_error_errno(e, "Prune interrupted: nothing is lost; the next prune goes on where this one "
					  "stopped");
	if (e == -EBUSY || e == -EUCLEAN)
		return e; /* named */
	if (e < 0)
		return log_error_errno(e, "Prune of %s failed: %m (nothing a snapshot uses was deleted; run it again)",
				       cfs_repo_location(r));
	if (json)
		print_json(&res, o.dry_run);
	else
		print_human(&res, o.dry_run, cfs_repo_location(r));
	return 0;
}
