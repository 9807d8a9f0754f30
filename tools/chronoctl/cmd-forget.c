/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl forget [--dry-run] [--json] SNAP...\n"
	      "Remove snapshots from the repository (a name, a unique id prefix, or latest).\n"
	      "Their data stays until chronoctl prune; a held snapshot is never forgotten\n"
	      "(chronoctl snapshot release first).\n"
	      "  --dry-run  only say what would be forgotten\n"
	      "  --json     one JSON object per snapshot\n",
	      f);
}

struct forget_item {
	struct cfs_snapshot s;
	struct cfs_id id;
};

static void print_item(const struct forget_item *it, bool json, bool dry_run)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(&it->id, hex);
	if (json) {
		printf("{\"name\":");
		cfs_json_string(stdout, it->s.name);
		printf(",\"id\":\"%s\",\"action\":\"remove\",\"reasons\":[\"named\"]}\n", hex);
		return;
	}
	hex[12] = 0;
	printf("%s %-30s %s\n", dry_run ? "would remove" : "removed", it->s.name, hex);
}

int cmd_forget(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct forget_item *items = NULL;
	struct cfs_id *ids = NULL;
	size_t n = 0;
	bool dry_run = false, json = false;
	const struct verb_flag flags[] = {{"dry-run", &dry_run, NULL}, {"json", &json, NULL}};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), -1);
	if (e != 0)
		return e < 0 ? e : 0;
	if (optind >= argc) {
		usage(stderr);
		return -EINVAL;
	}
	e = open_repo(!dry_run, &r);
	if (e < 0)
		return e;
	items = calloc((size_t)(argc - optind), sizeof(*items));
	ids = calloc((size_t)(argc - optind), sizeof(*ids));
	if (!items || !ids) {
		e = -ENOMEM;
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		struct forget_item *it = &items[n];
		struct cfs_repo_hold h;
		e = cfs_repo_find_snapshot(r, argv[i], &it->s, &it->id);
		if (e == -ENOENT) {
			log_error("No snapshot \"%s\" (use a name from `snapshot list`, an id prefix, or latest)", argv[i]);
			goto out;
		}
		if (e < 0) {
			if (e != -ENOTUNIQ)
				log_error_errno(e, "Cannot read snapshot %s: %m", argv[i]);
			goto out;
		}
		n++;
		e = cfs_repo_hold_get(r, &it->id, &h);
		if (e != -ENOENT) {
			if (e == 0)
				log_error("Snapshot %s is held (%s, by %s): nothing is forgotten; release it first with "
					  "chronoctl snapshot release %s",
					  it->s.name, h.reason, h.host, it->s.name);
			else
				log_error("Snapshot %s is held (its hold object cannot be read: %s): nothing is forgotten",
					  it->s.name, strerror(-e));
			e = -EPERM;
			goto out;
		}
		ids[n - 1] = it->id;
	}
	if (!dry_run) {
		e = cfs_repo_forget(r, ids, n);
		if (e == -EPERM) {
			log_error("A snapshot was held while this forget ran: nothing is forgotten");
			goto out;
		}
		if (e < 0) {
			log_error_errno(e, "Cannot forget in %s: %m", cfs_repo_location(r));
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		print_item(&items[i], json, dry_run);
	e = 0;
out:
	for (size_t i = 0; i < n; i++)
		cfs_snapshot_release(&items[i].s);
	free(items);
	free(ids);
	return e;
}
