/* SPDX-License-Identifier: MIT */
/*
 * chronoctl status: how the jobs of the config file stand against their
 * tiers' targets, and how full their repositories are.
 *
 * Sources: each job's snapshots in its first repository (the record: last
 * success, snapshots held, bytes, next due), the snapshots of its other
 * repositories (copies), and jobs/<job>.last (the last attempt and the last
 * failure, runstate.h). Repositories are opened read-only, waiting at most
 * STATUS_LOCK_WAIT_SEC for the cache lock a running job holds; a
 * repository that stays busy is reported as such, and its jobs' fields
 * that need it are unknown (null).
 *
 * Overdue (the exit status 2): a job whose tier has an RPO target is
 * overdue when
 *   it has a snapshot, and now > next_due + rpo, where next_due is the
 *   first elapse of the tier's schedule after its newest snapshot (the run
 *   that should have been taken then has not succeeded within the RPO), or
 *   it has none, and its attempts have failed since failing_since with
 *   now > failing_since + rpo.
 * A job that never ran and never failed is not overdue (it has not been
 * scheduled yet); a tier without an RPO target is never overdue.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "chronofs/calendar.h"
#include "chronofs/log.h"
#include "chronofs/policy.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "runstate.h"
#include "../common/config.h"
#include "../common/copies.h"

#define STATUS_LOCK_WAIT_SEC 10
#define GROWTH_WINDOW_NS (7LL * 24 * 3600 * 1000000000LL)

static void usage(FILE *f)
{
	fputs("Usage: chronoctl status [--json] [JOB...]\n"
	      "How each job of the config file stands: last success and its age against the\n"
	      "tier's RPO, last failure and why, next due, snapshots held, bytes, copies; and\n"
	      "each repository's size, growth over 7 days and free space where it can be known.\n"
	      "Exit status: 0, 2 when a job is overdue past its RPO (chronoctl(8), STATUS),\n"
	      "1 when the status cannot be read.\n",
	      f);
}

/* One opened repository of the config (NULL handle: could not be opened). */
struct status_repo {
	const struct cli_config_repo *cr;
	struct cfs_repo *r;
	struct cfs_snapshot_list snaps;
	bool listed;
};

struct job_status {
	size_t n_snaps;
	bool known; /* the first repository could be read */
	int64_t newest_ns; /* INT64_MIN: none */
	char newest_name[CFS_SNAPSHOT_NAME_MAX + 1];
	bool has_bytes;
	uint64_t bytes;
	int64_t next_due_ns;
	bool overdue;
	bool have_last;
	struct job_last last;
	long running_pid; /* 0: not running */
	size_t below_copies; /* snapshots held in fewer than tier->copies repositories */
	size_t min_copies;
	size_t offsite;            /* snapshots with a copy in an off-site repository */
	unsigned copies_unreachable; /* copy repositories that could not be read */
};

struct status {
	const struct cli_config *cfg;
	struct status_repo *repos; /* one per config repository */
	int64_t now;
	bool json;
};

static struct status_repo *find_repo(struct status *st, const struct cli_config_repo *cr)
{
	for (size_t i = 0; i < st->cfg->n_repos; i++)
		if (st->repos[i].cr == cr || strcmp(st->repos[i].cr->name, cr->name) == 0)
			return &st->repos[i];
	return NULL;
}

/* Open and list cr once; NULL when it cannot be (logged). */
static struct status_repo *get_repo(struct status *st, const struct cli_config_repo *cr)
{
	struct status_repo *sr = find_repo(st, cr);
	if (!sr)
		return NULL;
	if (sr->listed)
		return sr->r ? sr : NULL;
	sr->listed = true;
	int wait = CFS_MIN(g_opts.lock_wait_sec, STATUS_LOCK_WAIT_SEC);
	int e = open_config_repo(cr, false, wait, &sr->r);
	if (e == 0 && (e = cfs_repo_list_snapshots(sr->r, &sr->snaps)) < 0) {
		log_error_errno(e, "Cannot list the snapshots of %s: %m", cfs_repo_location(sr->r));
		sr->r = cfs_repo_free(sr->r);
	}
	if (e < 0) {
		sr->r = NULL;
		return NULL;
	}
	return sr;
}

static void judge_job(struct status *st, const struct cli_config_job *j, struct job_status *js)
{
	const struct cli_config_tier *t = j->tier;
	*js = (struct job_status){.newest_ns = INT64_MIN, .next_due_ns = INT64_MIN};
	js->have_last = job_last_read(st->cfg->state_dir, j->name, &js->last) == 0;
	if (job_running(st->cfg->state_dir, j->name, &js->running_pid) <= 0)
		js->running_pid = 0;
	struct status_repo *sr = get_repo(st, j->repos[0]);
	_cleanup_(cli_copies_freep) struct cli_copies *copies = NULL;
	if (sr) {
		/* Copies: the job's other repositories, read once each. */
		_cleanup_free_ struct cli_copies_list *others = calloc(j->n_repos, sizeof(*others));
		for (size_t k = 1; others && k < j->n_repos; k++) {
			struct status_repo *o = get_repo(st, j->repos[k]);
			others[k - 1] = (struct cli_copies_list){o ? cfs_repo_id(o->r) : NULL, o ? &o->snaps : NULL,
								 j->repos[k]->offsite};
		}
		if (!others || cli_copies_from_lists(cfs_repo_id(sr->r), others, j->n_repos - 1, &copies) < 0)
			copies = NULL; /* -ENOMEM: copies unknown (counted as 1) */
		js->copies_unreachable = copies ? cli_copies_unreachable(copies) : 0;
	}
	if (sr) {
		js->known = true;
		js->min_copies = SIZE_MAX;
		for (size_t i = 0; i < sr->snaps.n; i++) {
			const struct cfs_snapshot *s = &sr->snaps.items[i];
			if (strcmp(s->job ? s->job : "", j->name) != 0)
				continue;
			js->n_snaps++;
			if (s->time_ns >= js->newest_ns) {
				js->newest_ns = s->time_ns;
				snprintf(js->newest_name, sizeof(js->newest_name), "%s", s->name);
				js->has_bytes = s->stats.has_bytes_total;
				js->bytes = s->stats.bytes_total;
			}
			unsigned n = 1;
			bool offsite = j->repos[0]->offsite;
			if (copies)
				cli_copies_count(copies, s, &sr->snaps.ids[i], &n, &offsite);
			js->below_copies += n < t->copies;
			js->offsite += offsite;
			js->min_copies = CFS_MIN(js->min_copies, n);
		}
		if (!js->n_snaps)
			js->min_copies = 0;
		if (cfs_schedule_due(t->schedule, js->newest_ns, st->now, &js->next_due_ns) < 0)
			js->next_due_ns = INT64_MIN;
	}
	if (t->rpo_ns <= 0)
		return;
	if (js->known && js->newest_ns != INT64_MIN)
		js->overdue = js->next_due_ns != INT64_MIN && st->now > js->next_due_ns && st->now - js->next_due_ns > t->rpo_ns;
	else if (js->have_last && js->last.failing_since_ns)
		js->overdue = st->now - js->last.failing_since_ns > t->rpo_ns;
}

static void json_time(const char *key, int64_t ns, bool known)
{
	char when[64];
	printf(",\"%s\":", key);
	if (!known || cfs_time_format(ns, when, sizeof(when)) < 0)
		printf("null");
	else
		printf("\"%s\"", when);
}

static void print_job_json(const struct status *st, const struct cli_config_job *j, const struct job_status *js,
			   bool first)
{
	const struct cli_config_tier *t = j->tier;
	bool have = js->known && js->newest_ns != INT64_MIN;
	printf("%s{\"job\":", first ? "" : ",");
	cfs_json_string(stdout, j->name);
	printf(",\"tier\":");
	cfs_json_string(stdout, t->name);
	printf(",\"repository\":");
	cfs_json_string(stdout, j->repos[0]->name);
	printf(",\"known\":%s,\"running_pid\":", js->known ? "true" : "false");
	if (js->running_pid)
		printf("%ld", js->running_pid);
	else
		printf("null");
	if (js->known)
		printf(",\"snapshots\":%zu", js->n_snaps);
	else
		printf(",\"snapshots\":null");
	json_time("last_success", js->newest_ns, have);
	if (have)
		printf(",\"last_success_snapshot\":\"%s\",\"age_seconds\":%" PRId64, js->newest_name,
		       (st->now - js->newest_ns) / 1000000000);
	else
		printf(",\"last_success_snapshot\":null,\"age_seconds\":null");
	if (t->rpo_ns > 0)
		printf(",\"rpo_seconds\":%" PRId64, t->rpo_ns / 1000000000);
	else
		printf(",\"rpo_seconds\":null");
	json_time("next_due", js->next_due_ns, js->known && js->next_due_ns != INT64_MIN);
	printf(",\"overdue\":%s,\"bytes\":", js->overdue ? "true" : "false");
	if (have && js->has_bytes)
		printf("%" PRIu64, js->bytes);
	else
		printf("null");
	printf(",\"last_attempt\":");
	if (js->have_last && js->last.time_ns) {
		printf("{\"result\":\"%s\"", js->last.result);
		json_time("time", js->last.time_ns, true);
		printf(",\"snapshot\":");
		if (js->last.snapshot[0])
			cfs_json_string(stdout, js->last.snapshot);
		else
			printf("null");
		printf(",\"reason\":");
		if (js->last.reason[0])
			cfs_json_string(stdout, js->last.reason);
		else
			printf("null");
		putchar('}');
	} else {
		printf("null");
	}
	printf(",\"last_failure\":");
	if (js->have_last && js->last.failure_ns) {
		printf("{\"reason\":");
		cfs_json_string(stdout, js->last.failure_reason);
		json_time("time", js->last.failure_ns, true);
		putchar('}');
	} else {
		printf("null");
	}
	json_time("failing_since", js->last.failing_since_ns, js->have_last && js->last.failing_since_ns);
	printf(",\"copies_wanted\":%u,\"repositories\":%zu", t->copies, j->n_repos);
	if (js->known)
		printf(",\"min_copies\":%zu,\"snapshots_below_copies\":%zu,\"snapshots_offsite\":%zu,"
		       "\"copy_repositories_unreadable\":%u}",
		       js->min_copies, js->below_copies, js->offsite, js->copies_unreachable);
	else
		printf(",\"min_copies\":null,\"snapshots_below_copies\":null,\"snapshots_offsite\":null,"
		       "\"copy_repositories_unreadable\":null}");
}

/* A span for people: "45 s", "12 min", "5 h 3 min", "3 d 2 h". */
static void format_span(int64_t ns, char *out, size_t n)
{
	int64_t s = ns / 1000000000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, n, "%" PRId64 " s", s);
	else if (s < 3600)
		snprintf(out, n, "%" PRId64 " min", s / 60);
	else if (s < 86400 * 2)
		snprintf(out, n, "%" PRId64 " h %" PRId64 " min", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%" PRId64 " d %" PRId64 " h", s / 86400, s % 86400 / 3600);
}

static void print_job_human(const struct status *st, const struct cli_config_job *j, const struct job_status *js)
{
	const struct cli_config_tier *t = j->tier;
	char when[64] = "?", age[64] = "", rpo[64] = "none", b[32];
	printf("job %s (tier %s, repository %s): %s\n", j->name, t->name, j->repos[0]->name,
	       js->overdue		     ? "OVERDUE"
	       : !js->known		     ? "unknown (repository not readable)"
	       : js->last.failing_since_ns ? "failing"
	       : js->n_snaps		     ? "ok"
					     : "never run");
	if (js->running_pid)
		printf("  running        now (PID %ld)\n", js->running_pid);
	if (t->rpo_ns > 0)
		format_span(t->rpo_ns, rpo, sizeof(rpo));
	if (js->known && js->newest_ns != INT64_MIN) {
		(void)cfs_time_format(js->newest_ns, when, sizeof(when));
		format_span(st->now - js->newest_ns, age, sizeof(age));
		printf("  last success   %s (%s ago; RPO %s)\n", when, age, rpo);
	} else if (js->known) {
		printf("  last success   never (RPO %s)\n", rpo);
	}
	if (js->have_last && js->last.failure_ns) {
		(void)cfs_time_format(js->last.failure_ns, when, sizeof(when));
		printf("  last failure   %s: %s\n", when, js->last.failure_reason);
	}
	if (js->known && js->next_due_ns != INT64_MIN) {
		(void)cfs_time_format(js->next_due_ns, when, sizeof(when));
		printf("  next due       %s%s\n", when, js->next_due_ns <= st->now ? " (due now)" : "");
	}
	if (js->known) {
		cfs_format_bytes(js->bytes, b, sizeof(b));
		printf("  snapshots      %zu", js->n_snaps);
		if (js->n_snaps && js->has_bytes)
			printf(", newest %s", b);
		printf("\n  copies         %u wanted", t->copies);
		if (js->n_snaps)
			printf(", %zu snapshot(s) below (fewest copies: %zu), %zu with an off-site copy",
			       js->below_copies, js->min_copies, js->offsite);
		if (js->copies_unreachable)
			printf(" (%u copy repositor%s could not be read)", js->copies_unreachable,
			       js->copies_unreachable == 1 ? "y" : "ies");
		putchar('\n');
	}
}

/* --- repositories ------------------------------------------------------- */

static bool local_path(const char *loc, const char **ret)
{
	if (strncmp(loc, "file://", 7) == 0)
		loc += 7;
	*ret = loc;
	return loc[0] == '/';
}

/*
 * Size: the packs the catalog knows (it was caught up with the store when
 * the repository was opened), summed now: one pass over its pack records,
 * no object read. What part of it no snapshot holds needs every live tree
 * read: that is the last measure check or prune recorded, with its time.
 */
static void print_repo(const struct status *st, const struct status_repo *sr, bool first)
{
	const struct cli_config_repo *cr = sr->cr;
	struct cfs_repo_space sp;
	bool have_space = sr->r && cfs_repo_space_last(sr->r, &sp) == 0;
	struct {
		uint64_t packs, bytes;
	} sum = {0};
	bool have_size = sr->r && cfs_repo_pack_totals(sr->r, &sum.packs, &sum.bytes) >= 0;
	uint64_t growth = 0;
	for (size_t i = 0; sr->r && i < sr->snaps.n; i++)
		if (sr->snaps.items[i].time_ns > st->now - GROWTH_WINDOW_NS)
			growth += sr->snaps.items[i].stats.bytes_added;
	const char *path;
	struct statvfs sv;
	bool have_free = local_path(cr->location, &path) && statvfs(path, &sv) == 0;
	uint64_t free_bytes = have_free ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
	if (st->json) {
		printf("%s{\"name\":", first ? "" : ",");
		cfs_json_string(stdout, cr->name);
		printf(",\"location\":");
		cfs_json_string(stdout, cr->location);
		printf(",\"readable\":%s,\"bytes\":", sr->r ? "true" : "false");
		if (have_size)
			printf("%" PRIu64 ",\"packs\":%" PRIu64, sum.bytes, sum.packs);
		else
			printf("null,\"packs\":null");
		if (have_space)
			printf(",\"bytes_unused\":%" PRIu64, sp.bytes_unused);
		else
			printf(",\"bytes_unused\":null");
		json_time("measured", have_space ? sp.measured_ns : 0, have_space);
		if (sr->r)
			printf(",\"growth_7d\":%" PRIu64, growth);
		else
			printf(",\"growth_7d\":null");
		if (have_free)
			printf(",\"free_bytes\":%" PRIu64 "}", free_bytes);
		else
			printf(",\"free_bytes\":null}");
		return;
	}
	char b1[32], when[64] = "";
	printf("repository %s (%s)%s\n", cr->name, cr->location, sr->r ? "" : ": not readable");
	if (have_size) {
		cfs_format_bytes(sum.bytes, b1, sizeof(b1));
		printf("  size           %s in %" PRIu64 " pack%s\n", b1, sum.packs, sum.packs == 1 ? "" : "s");
	}
	if (have_space) {
		cfs_format_bytes(sp.bytes_unused, b1, sizeof(b1));
		(void)cfs_time_format(sp.measured_ns, when, sizeof(when));
		printf("  unused         %s held by no snapshot (as of %s: check or prune measures it)\n", b1, when);
	} else if (sr->r) {
		printf("  unused         unknown (chronoctl check or prune measures it)\n");
	}
	if (sr->r) {
		cfs_format_bytes(growth, b1, sizeof(b1));
		printf("  growth 7 days  %s added by snapshots\n", b1);
	}
	if (have_free) {
		cfs_format_bytes(free_bytes, b1, sizeof(b1));
		printf("  free           %s\n", b1);
	} else {
		printf("  free           unknown\n");
	}
}

int cmd_status(int argc, char **argv)
{
	_cleanup_(cli_config_freep) struct cli_config *cfg = NULL;
	_cleanup_free_ const struct cli_config_job **jobs = NULL;
	struct status st = {0};
	size_t n_jobs = 0;
	bool json = false, overdue = false;
	int e = parse_simple_options(argc, argv, usage, &json, -1);
	if (e != 0)
		return e < 0 ? e : 0;
	e = load_config(true, &cfg);
	if (e < 0)
		return e;
	st.cfg = cfg;
	st.json = json;
	st.now = cfs_now_ns();
	jobs = calloc(cfg->n_jobs + (size_t)argc + 1, sizeof(*jobs));
	st.repos = calloc(cfg->n_repos + 1, sizeof(*st.repos));
	if (!jobs || !st.repos) {
		e = log_error_errno(-ENOMEM, "Cannot read the status: %m");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_repos; i++)
		st.repos[i].cr = &cfg->repos[i];
	for (int i = optind; i < argc; i++) {
		jobs[n_jobs] = cli_config_job(cfg, argv[i]);
		if (!jobs[n_jobs]) {
			e = log_error_errno(-EINVAL, "No job \"%s\" in %s", argv[i], cfg->path);
			goto out;
		}
		n_jobs++;
	}
	if (optind == argc)
		for (size_t i = 0; i < cfg->n_jobs; i++)
			jobs[n_jobs++] = &cfg->jobs_v[i];
	if (json) {
		char now[64] = "";
		(void)cfs_time_format(st.now, now, sizeof(now));
		printf("{\"time\":\"%s\",\"jobs\":[", now);
	}
	for (size_t i = 0; i < n_jobs; i++) {
		struct job_status js;
		judge_job(&st, jobs[i], &js);
		overdue |= js.overdue;
		if (json)
			print_job_json(&st, jobs[i], &js, i == 0);
		else
			print_job_human(&st, jobs[i], &js);
	}
	if (json)
		printf("],\"repositories\":[");
	for (size_t i = 0, k = 0; i < cfg->n_repos; i++) {
		bool used = false;
		for (size_t n = 0; n < n_jobs && !used; n++)
			for (size_t r = 0; r < jobs[n]->n_repos && !used; r++)
				used = jobs[n]->repos[r] == &cfg->repos[i] ||
				       strcmp(jobs[n]->repos[r]->name, cfg->repos[i].name) == 0;
		if (!used)
			continue;
		(void)get_repo(&st, &cfg->repos[i]);
		print_repo(&st, &st.repos[i], k++ == 0);
	}
	if (json)
		printf("],\"overdue\":%s}\n", overdue ? "true" : "false");
	e = overdue ? CFS_EXIT_OVERDUE : 0;
out:
	for (size_t i = 0; st.repos && i < cfg->n_repos; i++) {
		cfs_snapshot_list_release(&st.repos[i].snaps);
		cfs_repo_free(st.repos[i].r);
	}
	free(st.repos);
	return e;
}
