/* SPDX-License-Identifier: MIT */
/*
 * chronoctl forget: by name, or by keep rules (src/policy/retention.c
 * decides; this file lists, prints and refuses). Holds are read from the
 * store once here, and again by cfs_repo_forget() right before the record.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/idset.h"
#include "chronofs/log.h"
#include "chronofs/policy.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "../common/snap.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl forget [--dry-run] [--json] SNAP...\n"
	      "       chronoctl forget [--dry-run] [--json] [--group-by host,paths,tags] [--allow-empty]\n"
	      "                        [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]\n"
	      "                        [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION]\n"
	      "                        [--keep-tag TAG]...\n"
	      "Remove snapshots from the repository: those named (a name, a unique id prefix or\n"
	      "latest; never a time, whose snapshot moves once one is forgotten), or every snapshot\n"
	      "no keep rule keeps. Their data stays until chronoctl prune. A held snapshot is never\n"
	      "forgotten (chronoctl snapshot release first).\n"
	      "  --keep-last N        the N newest of each group\n"
	      "  --keep-hourly N ...  the newest of each of the N most recent hours (days, ISO\n"
	      "                       weeks, months, years) that have snapshots, in local time (TZ)\n"
	      "  --keep-within D      every snapshot at most D older than its group's newest\n"
	      "                       (D: 1y2m3w4d5h6min7s; m is 30 days, y 365)\n"
	      "  --keep-tag TAG       every snapshot with that tag (repeat for more tags)\n"
	      "  --group-by LIST      judge each group apart: host, paths, tags (host,paths);\n"
	      "                       \"\" for one group\n"
	      "  --allow-empty        let the rules remove every snapshot of a group (refused\n"
	      "                       otherwise)\n"
	      "  --dry-run            only print what would be kept and removed, and why\n"
	      "  --json               a JSON array, one object per snapshot\n",
	      f);
}

struct forget {
	struct cfs_repo *r;
	bool dry_run, json, allow_empty;
	bool log_only; /* a job's forget (run): removals logged, nothing printed */
	size_t removed;
	struct cfs_snapshot_list snaps; /* every snapshot, oldest first */
	bool *held;                     /* per snapshot */
	struct cfs_retention_result *res; /* per snapshot */
	struct cfs_idset held_ids;
};

static int hold_cb(const struct cfs_repo_hold *h, void *ud)
{
	struct forget *f = ud;
	return cfs_idset_add(&f->held_ids, &h->snapshot) < 0 ? -ENOMEM : 0;
}

static int parse_count(const char *opt, const char *s, unsigned *ret)
{
	char *end;
	unsigned long v = s ? strtoul(s, &end, 10) : 0;
	if (!s)
		return 0;
	if (!*s || *end || *s == '-' || v == 0 || v > UINT_MAX)
		return log_error_errno(-EINVAL, "Invalid %s \"%s\": a count of 1 or more expected", opt, s);
	*ret = (unsigned)v;
	return 0;
}

static void print_reasons(unsigned reasons, bool json)
{
	bool first = true;
	for (unsigned bit = 1; bit <= CFS_KEEP_REASON_ALL; bit <<= 1) {
		if (!(reasons & bit))
			continue;
		if (json)
			printf("%s\"%s\"", first ? "" : ",", cfs_keep_reason_name(bit));
		else
			printf("%s%s", first ? "" : ",", cfs_keep_reason_name(bit));
		first = false;
	}
}

static void print_one(const struct forget *f, size_t i, bool first)
{
	const struct cfs_snapshot *s = &f->snaps.items[i];
	const struct cfs_retention_result *res = &f->res[i];
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(&f->snaps.ids[i], hex);
	if (f->json) {
		printf("%s{\"name\":", first ? "" : ",");
		cfs_json_string(stdout, s->name);
		printf(",\"id\":\"%s\",\"host\":", hex);
		cfs_json_string(stdout, s->host ? s->host : "");
		printf(",\"paths\":[");
		for (size_t k = 0; k < s->n_paths; k++) {
			if (k)
				putchar(',');
			cfs_json_string(stdout, s->paths[k]);
		}
		printf("],\"group\":%zu,\"action\":\"%s\",\"reasons\":[", res->group, res->keep ? "keep" : "remove");
		print_reasons(res->reasons, true);
		printf("]}");
		return;
	}
	hex[12] = 0;
	printf("%-6s %-30s %-12s ", res->keep ? "keep" : f->dry_run ? "remove" : "removed", s->name, hex);
	print_reasons(res->reasons, false);
	putchar('\n');
}

/* The group's key as people read it, from its first snapshot. */
static void print_group(const struct forget *f, size_t g)
{
	for (size_t i = 0; i < f->snaps.n; i++) {
		if (f->res[i].group != g)
			continue;
		const struct cfs_snapshot *s = &f->snaps.items[i];
		printf("group %zu: host %s, paths", g + 1, s->host ? s->host : "");
		for (size_t k = 0; k < s->n_paths; k++) {
			putchar(' ');
			cfs_print_escaped(stdout, s->paths[k]);
		}
		putchar('\n');
		return;
	}
}

static void print_all(const struct forget *f, size_t n_groups)
{
	if (f->json)
		putchar('[');
	for (size_t g = 0, printed = 0; g < n_groups; g++) {
		if (!f->json)
			print_group(f, g);
		/* Newest first, as the rules read them. */
		for (size_t i = f->snaps.n; i-- > 0;)
			if (f->res[i].group == g)
				print_one(f, i, printed++ == 0);
	}
	if (f->json)
		puts("]");
}

/* The ids to remove; refuse (-EPERM) if any is held. */
static int forget_marked(struct forget *f)
{
	_cleanup_free_ struct cfs_id *ids = calloc(f->snaps.n + 1, sizeof(*ids));
	size_t n = 0;
	if (!ids)
		return log_error_errno(-ENOMEM, "Cannot forget in %s: %m", cfs_repo_location(f->r));
	for (size_t i = 0; i < f->snaps.n; i++)
		if (!f->res[i].keep)
			ids[n++] = f->snaps.ids[i];
	if (f->dry_run || !n)
		return 0;
	int e = cfs_repo_forget(f->r, ids, n);
	if (e == -EPERM)
		return log_error_errno(e, "A snapshot was held while this forget ran: nothing is forgotten");
	if (e < 0)
		return log_error_errno(e, "Cannot forget in %s: %m", cfs_repo_location(f->r));
	f->removed = n;
	return 0;
}

static int by_rules(struct forget *f, const struct cfs_keep_rules *rules, unsigned group_by)
{
	_cleanup_free_ struct cfs_retention_item *items = calloc(f->snaps.n + 1, sizeof(*items));
	_cleanup_free_ bool *emptied = calloc(f->snaps.n + 1, sizeof(*emptied));
	size_t n_groups = 0;
	if (!items || !emptied)
		return log_error_errno(-ENOMEM, "Cannot apply the keep rules: %m");
	for (size_t i = 0; i < f->snaps.n; i++) {
		const struct cfs_snapshot *s = &f->snaps.items[i];
		items[i] = (struct cfs_retention_item){s->time_ns,
						       s->host,
						       (const char *const *)s->paths,
						       s->n_paths,
						       (const char *const *)s->tags,
						       s->n_tags,
						       cfs_idset_contains(&f->held_ids, &f->snaps.ids[i])};
	}
	int e = cfs_retention_apply(rules, group_by, items, f->snaps.n, f->res, &n_groups, emptied);
	if (e < 0)
		return log_error_errno(e, "Cannot apply the keep rules: %m");
	bool refuse = false;
	for (size_t g = 0; g < n_groups && !f->allow_empty; g++) {
		if (!emptied[g])
			continue;
		for (size_t i = 0; i < f->snaps.n; i++) {
			if (f->res[i].group != g)
				continue;
			log_error("These rules would remove every snapshot of group %zu (host %s, %zu path(s), newest %s): "
				  "nothing is forgotten; keep more, or pass --allow-empty",
				  g + 1, f->snaps.items[i].host, f->snaps.items[i].n_paths, f->snaps.items[f->snaps.n - 1].name);
			break;
		}
		refuse = true;
	}
	if (refuse)
		return -ENOTEMPTY;
	e = forget_marked(f);
	if (e == 0 && !f->log_only)
		print_all(f, n_groups);
	for (size_t i = 0; e == 0 && f->log_only && i < f->snaps.n; i++)
		if (!f->res[i].keep)
			log_info("Forgot snapshot %s of job %s (no keep rule keeps it)", f->snaps.items[i].name,
				 f->snaps.items[i].job);
	return e;
}

static void keep_job_only(struct cfs_snapshot_list *l, const char *job, const char *host);

/* List f->r's snapshots (only those of job on host when job is not NULL),
 * its holds, and make room for the decisions. Logs what failed. */
static int forget_load(struct forget *f, const char *job, const char *host)
{
	int e = cfs_repo_list_snapshots(f->r, &f->snaps);
	if (e < 0)
		return log_error_errno(e, "Cannot list the snapshots of %s: %m", cfs_repo_location(f->r));
	if (job)
		keep_job_only(&f->snaps, job, host);
	e = cfs_repo_holds_foreach(f->r, hold_cb, f);
	if (e < 0)
		return log_error_errno(e, "Cannot list the holds of %s: %m", cfs_repo_location(f->r));
	f->res = calloc(f->snaps.n + 1, sizeof(*f->res));
	if (!f->res)
		return log_error_errno(-ENOMEM, "Cannot judge %zu snapshots: %m", f->snaps.n);
	return 0;
}

static void forget_release(struct forget *f)
{
	cfs_snapshot_list_release(&f->snaps);
	cfs_idset_release(&f->held_ids);
	free(f->res);
	f->res = NULL;
}

/* Keep in l only the snapshots of job on host (the others released). */
static void keep_job_only(struct cfs_snapshot_list *l, const char *job, const char *host)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct cfs_snapshot *s = &l->items[i];
		if (strcmp(s->job ? s->job : "", job) != 0 || strcmp(s->host ? s->host : "", host) != 0) {
			cfs_snapshot_release(&l->items[i]);
			continue;
		}
		l->items[k] = l->items[i];
		l->ids[k++] = l->ids[i];
	}
	l->n = k;
}

int forget_job(struct cfs_repo *r, const char *job, const struct cfs_keep_rules *rules, size_t *ret_removed)
{
	struct forget f = {.r = r, .log_only = true, .held_ids = CFS_IDSET_INIT};
	char host[256] = "";
	(void)gethostname(host, sizeof(host) - 1); /* as cfs_backup_run names the host */
	int e = forget_load(&f, job, host);
	/* The rotation's anchors stay as if held: the newest full snapshot,
	 * and the newest differential one after it. cfs_rotation_type judges
	 * from them, so rules that drop them (a daily rule keeps the last of
	 * the day, not the full of midnight) would make the next run take a
	 * full (or differential) again that the schedule did not ask for. */
	size_t full = SIZE_MAX, diff = SIZE_MAX;
	for (size_t i = 0; e == 0 && i < f.snaps.n; i++) { /* time order */
		if (f.snaps.items[i].type == CFS_SNAP_FULL) {
			full = i;
			diff = SIZE_MAX;
		} else if (f.snaps.items[i].type == CFS_SNAP_DIFFERENTIAL && full != SIZE_MAX) {
			diff = i;
		}
	}
	if (e == 0 && full != SIZE_MAX && cfs_idset_add(&f.held_ids, &f.snaps.ids[full]) < 0)
		e = -ENOMEM;
	if (e == 0 && diff != SIZE_MAX && cfs_idset_add(&f.held_ids, &f.snaps.ids[diff]) < 0)
		e = -ENOMEM;
	if (e == 0 && f.snaps.n)
		e = by_rules(&f, rules, 0);
	if (e == 0 && ret_removed)
		*ret_removed = f.removed;
	forget_release(&f);
	return e;
}

static int by_name(struct forget *f, char **specs, size_t n)
{
	for (size_t i = 0; i < f->snaps.n; i++)
		f->res[i] = (struct cfs_retention_result){.keep = true};
	for (size_t k = 0; k < n; k++) {
		struct cfs_snapshot s;
		struct cfs_id id;
		enum cfs_snapshot_match how;
		int e = cli_find_snapshot_how(f->r, specs[k], &s, &id, &how);
		if (e < 0)
			return e;
		/* Not a time: the snapshot in effect at a time moves once the one
		 * of that name is gone, so the same forget run twice (a retried
		 * script) would forget an older snapshot the second time. */
		if (how == CFS_SNAPSHOT_MATCH_TIME) {
			log_error("\"%s\" is no snapshot's name, id or latest: forget takes only those, never a time "
				  "(the snapshot in effect then is %s; give its name if you mean it). Nothing is "
				  "forgotten",
				  specs[k], s.name);
			cfs_snapshot_release(&s);
			return -EINVAL;
		}
		if (cfs_idset_contains(&f->held_ids, &id)) {
			struct cfs_repo_hold h = {0};
			(void)cfs_repo_hold_get(f->r, &id, &h);
			log_error("Snapshot %s is held (%s, by %s): nothing is forgotten; release it first with chronoctl "
				  "snapshot release %s",
				  s.name, h.reason[0] ? h.reason : "reason unreadable", h.host[0] ? h.host : "?", s.name);
			cfs_snapshot_release(&s);
			return -EPERM;
		}
		cfs_snapshot_release(&s);
		for (size_t i = 0; i < f->snaps.n; i++)
			if (memcmp(f->snaps.ids[i].b, id.b, CFS_ID_SIZE) == 0)
				f->res[i].keep = false;
	}
	int e = forget_marked(f);
	if (e < 0)
		return e;
	if (f->json)
		putchar('[');
	for (size_t i = 0, printed = 0; i < f->snaps.n; i++) {
		if (f->res[i].keep)
			continue;
		if (f->json)
			print_one(f, i, printed++ == 0);
		else
			printf("%s %s\n", f->dry_run ? "would remove" : "removed", f->snaps.items[i].name);
	}
	if (f->json)
		puts("]");
	return 0;
}

int cmd_forget(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct forget f = {.held_ids = CFS_IDSET_INIT};
	struct cfs_keep_rules rules = {0};
	struct strs tags = {0};
	const char *last = NULL, *hourly = NULL, *daily = NULL, *weekly = NULL, *monthly = NULL, *yearly = NULL;
	const char *within = NULL, *group = "host,paths";
	unsigned group_by = 0;
	const struct verb_flag flags[] = {
		{"dry-run", &f.dry_run},
		{"json", &f.json},
		{"allow-empty", &f.allow_empty},
		{"keep-last", NULL, &last},
		{"keep-hourly", NULL, &hourly},
		{"keep-daily", NULL, &daily},
		{"keep-weekly", NULL, &weekly},
		{"keep-monthly", NULL, &monthly},
		{"keep-yearly", NULL, &yearly},
		{"keep-within", NULL, &within},
		{"keep-tag", NULL, NULL, strs_add, &tags},
		{"group-by", NULL, &group},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), -1);
	if (e != 0)
		goto out;
	e = parse_count("--keep-last", last, &rules.last);
	if (e == 0)
		e = parse_count("--keep-hourly", hourly, &rules.hourly);
	if (e == 0)
		e = parse_count("--keep-daily", daily, &rules.daily);
	if (e == 0)
		e = parse_count("--keep-weekly", weekly, &rules.weekly);
	if (e == 0)
		e = parse_count("--keep-monthly", monthly, &rules.monthly);
	if (e == 0)
		e = parse_count("--keep-yearly", yearly, &rules.yearly);
	if (e == 0 && within && cfs_duration_parse(within, &rules.within_ns) < 0)
		e = log_error_errno(-EINVAL, "Invalid --keep-within \"%s\": a duration such as 7d, 1y6m or 36h expected",
				    within);
	if (e == 0 && cfs_group_by_parse(group, &group_by) < 0)
		e = log_error_errno(-EINVAL, "Invalid --group-by \"%s\": host, paths and tags, comma-separated", group);
	if (e < 0)
		goto out;
	rules.tags = (const char *const *)tags.v;
	rules.n_tags = tags.n;
	bool have_rules = !cfs_keep_rules_empty(&rules);
	if (have_rules == (optind < argc)) {
		log_error(have_rules ? "forget takes SNAP... or --keep-* rules, not both"
				     : "forget needs SNAP... or at least one --keep-* rule");
		usage(stderr);
		e = -EINVAL;
		goto out;
	}
	e = open_repo(!f.dry_run, &r);
	if (e < 0)
		goto out;
	f.r = r;
	e = forget_load(&f, NULL, NULL);
	if (e < 0)
		goto out;
	if (have_rules)
		e = by_rules(&f, &rules, group_by);
	else
		e = by_name(&f, argv + optind, (size_t)(argc - optind));
out:
	forget_release(&f);
	strs_release(&tags);
	return e < 0 ? e : 0;
}
