/* SPDX-License-Identifier: MIT */
/*
 * chronoctl run: the jobs of the config file (tools/common/config.h), each
 * backed up into its first repository with the type the tier's rotation
 * gives, then forgotten by the tier's keep rules, pruned when the tier's
 * prune calendar says, and copied to the job's other repositories.
 *
 * Parallelism. Jobs are grouped by the location of their first repository;
 * a group's jobs run one after another in one process (they would queue on
 * the repository's cache lock anyway, and one open serves them all). With
 * more than one group and --jobs N > 1, each group runs in a child process,
 * at most N at once: a crash, a leak or a hung stream of one repository's
 * job cannot take the others down, each child has its own signal handling
 * and repository handles (nothing is shared across fork but the config,
 * read before any repository is opened), and the parent only waits, passes
 * SIGINT/SIGTERM on, and reports. Results come back through a shared
 * anonymous mapping, one fixed-size slot per job, written by the child
 * that owns the job and read by the parent after that child is reaped.
 *
 * Per job (the job lock held throughout, runstate.h):
 *   1. --due: due by the tier's schedule from the job's newest snapshot in
 *      its repository (cfs_schedule_due); not due: nothing happens, no
 *      line is printed.
 *   2. pre_hook (sh -c, hook_timeout): failing or timing out fails the job,
 *      nothing is backed up.
 *   3. the backup (backup_take), its type from cfs_rotation_type over the
 *      job's snapshots in the repository.
 *   4. forget (forget_job) unless the tier keeps forever; prune when the
 *      tier's prune calendar has an elapse since the last recorded prune.
 *   5. post_hook, whenever the job got as far as pre_hook (set or not;
 *      also after a failed one: it undoes what pre_hook did), not when the
 *      repository could not be opened before; its failure fails the job,
 *      the snapshot stays.
 *   6. jobs/<job>.last records the attempt.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chronofs/calendar.h"
#include "chronofs/copy.h"
#include "chronofs/log.h"
#include "chronofs/policy.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "runstate.h"
#include "streams.h"
#include "../common/cli.h"
#include "../common/config.h"

extern char **environ;

static void usage(FILE *f)
{
	fputs("Usage: chronoctl run [--due] [--jobs N] [--json] JOB...\n"
	      "       chronoctl run [--due] [--jobs N] [--json] --tier TIER\n"
	      "       chronoctl run --due [--jobs N] [--json]\n"
	      "Run jobs of the config file: back up with the type the tier's rotation gives,\n"
	      "forget by the tier's keep rules, prune when the tier says, copy to the job's\n"
	      "other repositories. A job another process is running is skipped.\n"
	      "  --due      only the jobs whose schedule says a run is due (from their newest\n"
	      "             snapshot in the repository: a missed run is caught up by one run)\n"
	      "  --tier T   the jobs of tier T\n"
	      "  --jobs N   jobs of different repositories at once (default: [global] jobs)\n"
	      "  --json     a JSON array, one object per job run\n"
	      "Exit status: 0 every job succeeded or was skipped, 1 a job failed, 3 a snapshot\n"
	      "was committed without some files that could not be read.\n",
	      f);
}

enum job_outcome {
	JOB_PENDING = 0, /* never started (its worker died first) */
	JOB_NOT_DUE,
	JOB_SKIPPED, /* running elsewhere */
	JOB_OK,
	JOB_PARTIAL,
	JOB_FAILED,
};

/* One job's result; a plain struct in the shared mapping. */
struct job_result {
	enum job_outcome outcome;
	uint8_t type;
	bool have_snapshot;
	char snapshot[CFS_SNAPSHOT_NAME_MAX + 1];
	char id[CFS_ID_HEX_SIZE];
	uint64_t files, bytes_added;
	double seconds;
	uint64_t forgotten;
	bool pruned;
	unsigned copies_ok, copies_failed;
	long holder; /* JOB_SKIPPED: the PID in the lock file */
	int64_t next_due_ns;
	bool done; /* the job's process got to its end (a crash leaves it unset) */
	char reason[1024];
};

struct run {
	const struct cli_config *cfg;
	bool due;
	const struct cli_config_job **jobs; /* selected, in config order */
	size_t n_jobs;
	size_t *group; /* per job: its group */
	size_t n_groups;
	struct job_result *res; /* shared mapping, n_jobs slots */
	bool json;
	size_t printed;
};

static const char *outcome_name(enum job_outcome o)
{
	switch (o) {
	case JOB_NOT_DUE:
		return "not_due";
	case JOB_SKIPPED:
		return "skipped";
	case JOB_OK:
		return "ok";
	case JOB_PARTIAL:
		return "partial";
	case JOB_FAILED:
		return "failed";
	default:
		return "failed";
	}
}

int job_snapshots(struct cfs_repo *r, const char *job, struct cfs_snapshot_list *all, size_t **ret_idx,
		  size_t *ret_n)
{
	int e = cfs_repo_list_snapshots(r, all);
	if (e < 0)
		return log_error_errno(e, "Cannot list the snapshots of %s: %m", cfs_repo_location(r));
	size_t *idx = calloc(all->n + 1, sizeof(*idx)), n = 0;
	if (!idx)
		return log_error_errno(-ENOMEM, "Cannot list the snapshots of %s: %m", cfs_repo_location(r));
	for (size_t i = 0; i < all->n; i++)
		if (strcmp(all->items[i].job ? all->items[i].job : "", job) == 0)
			idx[n++] = i;
	*ret_idx = idx;
	*ret_n = n;
	return 0;
}

/* --- hooks ------------------------------------------------------------- */

/* environ plus extra (NULL-terminated), built before fork: the child of a
 * multi-threaded process may only call async-signal-safe functions. */
static char **hook_env(char *const *extra)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	while (extra[k])
		k++;
	char **v = calloc(n + k + 1, sizeof(*v));
	if (!v)
		return NULL;
	memcpy(v, extra, k * sizeof(*v));
	/* Without the inherited entries of those names: of two, getenv(3)
	 * takes the first and dash the last. */
	for (size_t i = 0, out = k; i < n; i++) {
		bool dup = false;
		for (size_t x = 0; x < k && !dup; x++) {
			size_t l = strcspn(extra[x], "=") + 1;
			dup = strncmp(environ[i], extra[x], l) == 0;
		}
		if (!dup)
			v[out++] = environ[i];
	}
	return v;
}

/*
 * Run `sh -c cmd` with stdin from /dev/null and stdout to our stderr (our
 * stdout is the run's report), in a process group of its own so that a
 * timeout (or an interrupt) kills the hook and whatever it started: SIGTERM,
 * then SIGKILL 5 s later. 0 when it exited 0; -EIO with the reason in
 * `reason` otherwise.
 */
static int run_hook(const char *what, const char *cmd, int64_t timeout_ns, char *const *extra, char *reason,
		    size_t reason_size)
{
	_cleanup_free_ char **env = hook_env(extra);
	if (!env) {
		snprintf(reason, reason_size, "%s: cannot start `%s`: %s", what, cmd, strerror(ENOMEM));
		return -ENOMEM;
	}
	log_debug("Running %s `%s`", what, cmd);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		snprintf(reason, reason_size, "%s: cannot start `%s`: %s", what, cmd, strerror(errno));
		return e;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		struct sigaction sa = {.sa_handler = SIG_DFL};
		sigaction(SIGPIPE, &sa, NULL);
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
		_exit(127);
	}
	(void)setpgid(pid, pid); /* either side may win the race */
	int64_t deadline = cfs_mono_ns() + timeout_ns, kill_at = 0;
	bool timed_out = false, interrupted = false;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			int e = -errno;
			snprintf(reason, reason_size, "%s: cannot wait for `%s`: %s", what, cmd, strerror(errno));
			return e;
		}
		int64_t now = cfs_mono_ns();
		if (!kill_at && (now >= deadline || g_interrupted)) {
			timed_out = !g_interrupted;
			interrupted = g_interrupted;
			(void)kill(-pid, SIGTERM);
			kill_at = now + 5000000000LL;
		} else if (kill_at && now >= kill_at) {
			(void)kill(-pid, SIGKILL);
			kill_at = INT64_MAX;
		}
		(void)poll(NULL, 0, 20);
	}
	if (timed_out) {
		snprintf(reason, reason_size, "%s `%s` timed out after %.0f s (killed)", what, cmd,
			 (double)timeout_ns / 1e9);
		return -ETIMEDOUT;
	}
	if (interrupted) {
		snprintf(reason, reason_size, "%s `%s` interrupted (killed)", what, cmd);
		return -EINTR;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(reason, reason_size, "%s `%s` exited with status %d", what, cmd, WEXITSTATUS(status));
	else
		snprintf(reason, reason_size, "%s `%s` was killed by signal %d (%s)", what, cmd, WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	return -EIO;
}

/* --- one job ----------------------------------------------------------- */

static void fail_job(struct job_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_job(struct job_result *res, const char *fmt, ...)
{
	va_list ap;
	bool first = res->outcome != JOB_FAILED; /* a partial backup's note gives way */
	res->outcome = JOB_FAILED;
	if (!first) /* the first failure is the reason; later ones are logged */
		return;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/* The job's newest snapshot time (INT64_MIN: none) and its rotation
 * history. */
static int job_history(struct cfs_repo *r, const char *job, struct cfs_rotation_snap **ret_hist, size_t *ret_n,
		       int64_t *ret_newest)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list all = {0};
	_cleanup_free_ size_t *idx = NULL;
	size_t n;
	int e = job_snapshots(r, job, &all, &idx, &n);
	if (e < 0)
		return e;
	struct cfs_rotation_snap *h = calloc(n + 1, sizeof(*h));
	if (!h)
		return log_error_errno(-ENOMEM, "Cannot read the history of job %s: %m", job);
	int64_t newest = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		const struct cfs_snapshot *s = &all.items[idx[i]];
		h[i] = (struct cfs_rotation_snap){s->time_ns, s->type};
		newest = CFS_MAX(newest, s->time_ns);
	}
	if (ret_hist)
		*ret_hist = h;
	else
		free(h);
	if (ret_n)
		*ret_n = n;
	*ret_newest = newest;
	return 0;
}

static void prune_if_due(struct cfs_repo *r, const struct cli_config *cfg, const struct cli_config_job *j,
			 int64_t now, struct job_result *res)
{
	const struct cli_config_tier *t = j->tier;
	const char *rname = j->repos[0]->name;
	int64_t last = INT64_MIN, next;
	if (!t->prune)
		return;
	int e = prune_last_read(cfg->state_dir, rname, &last);
	if (e < 0 && e != -ENOENT) {
		log_warning_errno(e, "Cannot read when %s was last pruned (%s/repos/%s.prune): %m; pruning now",
				  rname, cfg->state_dir, rname);
		last = INT64_MIN;
	}
	e = cfs_schedule_due(t->prune, last, now, &next);
	if (e < 0) {
		fail_job(res, "cannot tell when %s is to be pruned: %s", rname, strerror(-e));
		return;
	}
	if (e == 0)
		return;
	struct cfs_repo_prune_options o = {.max_unused_pct = 10, .interrupted = &g_interrupted};
	struct cfs_repo_prune_result pr;
	e = cfs_repo_prune(r, &o, &pr);
	if (e == -EBUSY) {
		log_warning("Repository %s is being pruned by another process: not pruned by job %s this time", rname,
			    j->name);
		return;
	}
	if (e < 0) {
		log_error_errno(e, "Prune of %s (job %s) failed: %m", cfs_repo_location(r), j->name);
		fail_job(res, "prune of %s failed: %s", rname, strerror(-e));
		return;
	}
	res->pruned = true;
	e = prune_last_write(cfg->state_dir, rname, now);
	if (e < 0)
		log_warning_errno(e, "Cannot record the prune of %s in %s/repos: %m", rname, cfg->state_dir);
}

static int strs_from(struct strs *l, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int e = strs_add(l, v[i]);
		if (e < 0)
			return e;
	}
	return 0;
}

/* The backup of job j into r; fills res. */
static void backup_job(struct cfs_repo *r, const struct cli_config_job *j, int64_t now, struct job_result *res)
{
	_cleanup_free_ struct cfs_rotation_snap *hist = NULL;
	_cleanup_free_ struct stream_src *srcs = calloc(j->n_streams + 1, sizeof(*srcs));
	struct strs paths = {0}, excl = {0};
	size_t n_hist = 0;
	int64_t newest;
	uint8_t type;
	int e;

	if (!srcs) {
		fail_job(res, "%s", strerror(ENOMEM));
		return;
	}
	e = job_history(r, j->name, &hist, &n_hist, &newest);
	if (e < 0) {
		fail_job(res, "cannot list its snapshots in %s: %s", j->repos[0]->name, strerror(-e));
		goto out;
	}
	const struct cfs_rotation rot = {j->tier->full, j->tier->differential, j->tier->incremental};
	e = cfs_rotation_type(&rot, hist, n_hist, now, &type);
	if (e < 0) {
		fail_job(res, "cannot tell the snapshot type to take: %s", strerror(-e));
		goto out;
	}
	e = resolve_source_paths(j->paths, j->n_paths, &paths);
	if (e == 0)
		e = strs_from(&excl, j->excludes, j->n_excludes);
	if (e < 0) {
		fail_job(res, "a source path cannot be backed up (see above): %s", strerror(-e));
		goto out;
	}
	for (size_t i = 0; i < excl.n; i++) { /* as snapshot create: a trailing '/' means nothing */
		size_t l = strlen(excl.v[i]);
		while (l > 1 && excl.v[i][l - 1] == '/')
			excl.v[i][--l] = 0;
	}
	for (size_t i = 0; i < j->n_streams; i++)
		srcs[i] = (struct stream_src){j->streams[i].path, j->streams[i].command};
	const struct backup_request b = {
		.paths = (const char *const *)paths.v,
		.n_paths = paths.n,
		.excludes = (const char *const *)excl.v,
		.n_excludes = excl.n,
		.streams = srcs,
		.n_streams = j->n_streams,
		.tags = (const char *const *)j->tags,
		.n_tags = j->n_tags,
		.type = type,
		.job = j->name,
		.tier = j->tier->name,
		.exclude_caches = j->exclude_caches,
		.one_file_system = j->one_file_system,
	};
	struct cfs_backup_result br;
	char why[1024];
	int64_t t0 = cfs_mono_ns();
	e = backup_take(r, &b, &br, why, sizeof(why));
	res->seconds = (double)(cfs_mono_ns() - t0) / 1e9;
	if (e < 0) {
		if (e == -ECANCELED && why[0])
			fail_job(res, "%s; nothing was committed", why);
		else if (e == -EINTR)
			fail_job(res, "interrupted; nothing was committed");
		else
			fail_job(res, "backup failed, nothing was committed: %s", strerror(-e));
		goto out;
	}
	const struct cfs_snapshot_stats *st = &br.snapshot.stats;
	res->outcome = e == CFS_EXIT_PARTIAL ? JOB_PARTIAL : JOB_OK;
	if (e == CFS_EXIT_PARTIAL)
		snprintf(res->reason, sizeof(res->reason), "%u file(s) could not be read (logged)", br.n_unreadable);
	res->type = br.snapshot.type;
	res->have_snapshot = true;
	snprintf(res->snapshot, sizeof(res->snapshot), "%s", br.snapshot.name);
	cfs_id_hex(&br.id, res->id);
	res->files = st->files_new + st->files_changed + st->files_unchanged;
	res->bytes_added = st->bytes_added;
	cfs_snapshot_release(&br.snapshot);
out:
	strs_release(&paths);
	strs_release(&excl);
}

/*
 * Copy every snapshot of job j in `from` (the new one, and any earlier one
 * missing there: cfs_copy_run skips those `to` has) into repository cr,
 * then forget there by the same keep rules, so that both hold the same
 * set. A failure fails the job (the snapshot in `from` stays).
 */
static void copy_job(struct cfs_repo *from, const struct cli_config_job *j, const struct cli_config_repo *cr,
		     struct job_result *res)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *to = NULL;
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list all = {0};
	_cleanup_(cfs_copy_result_release) struct cfs_copy_result cr_res = {0};
	_cleanup_free_ size_t *idx = NULL;
	_cleanup_free_ struct cfs_id *ids = NULL;
	size_t n;
	int e = job_snapshots(from, j->name, &all, &idx, &n);
	if (e < 0) {
		fail_job(res, "cannot list its snapshots for the copy to %s: %s", cr->name, strerror(-e));
		goto failed;
	}
	ids = calloc(n + 1, sizeof(*ids));
	if (!ids) {
		fail_job(res, "copy to %s: %s", cr->name, strerror(ENOMEM));
		goto failed;
	}
	for (size_t i = 0; i < n; i++) /* the list is in time order, as the copy wants it */
		ids[i] = all.ids[idx[i]];
	e = open_config_repo(cr, true, g_opts.lock_wait_sec, &to);
	if (e < 0) {
		fail_job(res, "cannot open repository %s to copy to: %s", cr->name,
			 cfs_log_last_error()[0] ? cfs_log_last_error() : strerror(-e));
		goto failed;
	}
	if (n) {
		const struct cfs_copy_options o = {.snapshots = ids, .n = n, .interrupted = &g_interrupted};
		e = cfs_copy_run(from, to, &o, &cr_res);
		if (e < 0) {
			log_error_errno(e, "Job %s: the copy to %s (%s) failed: %m", j->name, cr->name, cr->location);
			fail_job(res, "copy to %s failed: %s", cr->name, strerror(-e));
			goto failed;
		}
		log_info("Job %s: %" PRIu64 " snapshot(s) copied to %s, %" PRIu64 " there already", j->name,
			 cr_res.snapshots_copied, cr->name, cr_res.snapshots_present);
	}
	if (!j->tier->keep_forever) {
		e = forget_job(to, j->name, &j->tier->keep, NULL);
		if (e < 0) {
			fail_job(res, "forget in %s by the keep rules of tier %s failed: %s", cr->name, j->tier->name,
				 strerror(-e));
			goto failed;
		}
	}
	res->copies_ok++;
	return;
failed:
	res->copies_failed++;
}

/* Everything after the backup that needs the repository. */
static void after_backup(struct cfs_repo *r, const struct cli_config *cfg, const struct cli_config_job *j,
			 int64_t now, struct job_result *res)
{
	if (!j->tier->keep_forever) {
		size_t removed = 0;
		int e = forget_job(r, j->name, &j->tier->keep, &removed);
		if (e < 0)
			fail_job(res, "forget by the keep rules of tier %s failed: %s", j->tier->name, strerror(-e));
		res->forgotten = removed;
	}
	prune_if_due(r, cfg, j, now, res);
	for (size_t k = 1; k < j->n_repos && !g_interrupted; k++)
		copy_job(r, j, j->repos[k], res);
}

/* Record the attempt in jobs/<job>.last, keeping the last failure. */
static void record_attempt(const struct cli_config *cfg, const struct cli_config_job *j, int64_t now,
			   const struct job_result *res)
{
	struct job_last prev, l = {.time_ns = now};
	(void)job_last_read(cfg->state_dir, j->name, &prev); /* zeroed when there is none */
	snprintf(l.result, sizeof(l.result), "%s", outcome_name(res->outcome));
	if (res->have_snapshot) {
		snprintf(l.type, sizeof(l.type), "%s", cfs_snapshot_type_name(res->type));
		snprintf(l.snapshot, sizeof(l.snapshot), "%s", res->snapshot);
	}
	snprintf(l.reason, sizeof(l.reason), "%s", res->reason);
	if (res->outcome == JOB_FAILED) {
		l.failure_ns = now;
		snprintf(l.failure_reason, sizeof(l.failure_reason), "%s", res->reason);
		l.failing_since_ns = prev.failing_since_ns ? prev.failing_since_ns : now;
	} else {
		l.failure_ns = prev.failure_ns;
		memcpy(l.failure_reason, prev.failure_reason, sizeof(l.failure_reason));
	}
	int e = job_last_write(cfg->state_dir, j->name, &l);
	if (e < 0)
		log_warning_errno(e, "Cannot record the run of job %s in %s/jobs/%s.last: %m", j->name, cfg->state_dir,
				  j->name);
}

/*
 * Whether job j is due at now (1) or not (0), from its newest snapshot in
 * its first repository: r when the group has it open already, else a
 * read-only open of its own, closed before returning (it holds the cache
 * lock the writer will want), so that a `run --due` that finds nothing
 * due writes nothing, not even a lock object in the store.
 */
static int job_due(const struct cli_config_job *j, struct cfs_repo *r, int64_t now, int64_t *ret_next)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *reader = NULL;
	int64_t newest;
	int e;
	if (!r) {
		e = open_config_repo(j->repos[0], false, g_opts.lock_wait_sec, &reader);
		if (e < 0)
			return e; /* logged */
		r = reader;
	}
	e = job_history(r, j->name, NULL, NULL, &newest);
	if (e < 0)
		return e;
	return cfs_schedule_due(j->tier->schedule, newest, now, ret_next);
}

/*
 * Job j with the lock held. *r is the group's repository, opened here as a
 * writer on first need (NULL until then; a failed open fails this job and
 * is tried again for the next).
 */
static void run_locked(const struct run *run, const struct cli_config_job *j, struct cfs_repo **r,
		       struct job_result *res)
{
	const struct cli_config *cfg = run->cfg;
	int64_t now = cfs_now_ns();
	char hook_reason[1024] = "";
	int e;

	if (run->due) {
		e = job_due(j, *r, now, &res->next_due_ns);
		if (e < 0) {
			fail_job(res, "cannot tell whether it is due: %s", strerror(-e));
			goto record;
		}
		if (e == 0) {
			res->outcome = JOB_NOT_DUE;
			return; /* not an attempt: nothing recorded */
		}
	}
	if (!*r) {
		e = open_config_repo(j->repos[0], true, g_opts.lock_wait_sec, r);
		if (e < 0) {
			/* open_config_repo said why, naming the path and cause
			 * (wrong passphrase, not a repository, the lock's
			 * holder): that line, not the errno's words, is the
			 * reason status shows later. */
			fail_job(res, "cannot open repository %s: %s", j->repos[0]->name,
				 cfs_log_last_error()[0] ? cfs_log_last_error() : strerror(-e));
			goto record;
		}
	}

	char env_job[512], env_tier[512], env_repo[4200];
	snprintf(env_job, sizeof(env_job), "CHRONOFS_JOB=%s", j->name);
	snprintf(env_tier, sizeof(env_tier), "CHRONOFS_TIER=%s", j->tier->name);
	snprintf(env_repo, sizeof(env_repo), "CHRONOFS_JOB_REPOSITORY=%s", j->repos[0]->location);
	if (j->pre_hook) {
		char *const extra[] = {env_job, env_tier, env_repo, (char *)"CHRONOFS_HOOK=pre", NULL};
		e = run_hook("pre_hook", j->pre_hook, j->hook_timeout_ns, extra, hook_reason, sizeof(hook_reason));
		if (e < 0) {
			log_error("Job %s: %s: nothing is backed up", j->name, hook_reason);
			fail_job(res, "%s; nothing was backed up", hook_reason);
		}
	}
	if (res->outcome != JOB_FAILED) {
		backup_job(*r, j, now, res);
		if (res->outcome != JOB_FAILED)
			after_backup(*r, cfg, j, now, res);
	}
	if (j->post_hook) {
		char env_result[64], env_snap[128];
		snprintf(env_result, sizeof(env_result), "CHRONOFS_RESULT=%s", outcome_name(res->outcome));
		snprintf(env_snap, sizeof(env_snap), "CHRONOFS_SNAPSHOT=%s", res->snapshot);
		char *const extra[] = {env_job,  env_tier, env_repo, (char *)"CHRONOFS_HOOK=post",
				       env_result, env_snap, NULL};
		e = run_hook("post_hook", j->post_hook, j->hook_timeout_ns, extra, hook_reason, sizeof(hook_reason));
		if (e < 0) {
			log_error("Job %s: %s", j->name, hook_reason);
			fail_job(res, "%s", hook_reason);
		}
	}
record:
	record_attempt(cfg, j, now, res);
}

static void run_job(const struct run *run, size_t i, struct cfs_repo **r)
{
	const struct cli_config_job *j = run->jobs[i];
	struct job_result *res = &run->res[i];
	int fd = -1;
	*res = (struct job_result){0};
	int e = job_lock(run->cfg->state_dir, j->name, &fd, &res->holder);
	if (e == -EBUSY) {
		res->outcome = JOB_SKIPPED;
		if (res->holder > 0)
			log_info("Job %s is already running (PID %ld), skipped", j->name, res->holder);
		else
			log_info("Job %s is already running, skipped", j->name);
		return;
	}
	if (e < 0) {
		log_error_errno(e, "Cannot lock job %s (%s/jobs/%s.lock): %m", j->name, run->cfg->state_dir, j->name);
		fail_job(res, "cannot take its lock in %s/jobs: %s", run->cfg->state_dir, strerror(-e));
		record_attempt(run->cfg, j, cfs_now_ns(), res);
		return;
	}
	run_locked(run, j, r, res);
	close(fd);
}

static void run_job_done(const struct run *run, size_t i, struct cfs_repo **r)
{
	run_job(run, i, r);
	run->res[i].done = true;
}

/* The jobs of group g, one after another, with one repository handle. */
static void run_group(const struct run *run, size_t g)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	for (size_t i = 0; i < run->n_jobs; i++) {
		if (run->group[i] != g)
			continue;
		if (g_interrupted) {
			fail_job(&run->res[i], "interrupted before it started");
			run->res[i].done = true;
			continue;
		}
		run_job_done(run, i, &r);
	}
}

/* --- report ------------------------------------------------------------ */

static void print_result(struct run *run, size_t i)
{
	const struct cli_config_job *j = run->jobs[i];
	const struct job_result *res = &run->res[i];
	if (res->outcome == JOB_NOT_DUE)
		return;
	if (run->json) {
		printf("%s{\"job\":", run->printed++ ? "," : "");
		cfs_json_string(stdout, j->name);
		printf(",\"tier\":");
		cfs_json_string(stdout, j->tier->name);
		printf(",\"repository\":");
		cfs_json_string(stdout, j->repos[0]->name);
		printf(",\"result\":\"%s\",\"type\":", outcome_name(res->outcome));
		if (res->have_snapshot) {
			printf("\"%s\",\"snapshot\":", cfs_snapshot_type_name(res->type));
			cfs_json_string(stdout, res->snapshot);
			printf(",\"id\":\"%s\"", res->id);
		} else {
			printf("null,\"snapshot\":null,\"id\":null");
		}
		printf(",\"files\":%" PRIu64 ",\"bytes_added\":%" PRIu64 ",\"seconds\":%.3f,\"forgotten\":%" PRIu64
		       ",\"pruned\":%s,\"copies_ok\":%u,\"copies_failed\":%u,\"reason\":",
		       res->files, res->bytes_added, res->seconds, res->forgotten, res->pruned ? "true" : "false",
		       res->copies_ok, res->copies_failed);
		if (res->reason[0])
			cfs_json_string(stdout, res->reason);
		else
			printf("null");
		if (res->outcome == JOB_SKIPPED && res->holder > 0)
			printf(",\"running_pid\":%ld", res->holder);
		putchar('}');
		return;
	}
	char add[32];
	switch (res->outcome) {
	case JOB_SKIPPED:
		if (res->holder > 0)
			printf("%s: skipped: already running (PID %ld)\n", j->name, res->holder);
		else
			printf("%s: skipped: already running\n", j->name);
		return;
	case JOB_OK:
	case JOB_PARTIAL:
		cfs_format_bytes(res->bytes_added, add, sizeof(add));
		printf("%s: %s %s, %" PRIu64 " files, %s added, %.1f s", j->name, cfs_snapshot_type_name(res->type),
		       res->snapshot, res->files, add, res->seconds);
		if (res->forgotten)
			printf(", %" PRIu64 " forgotten", res->forgotten);
		if (res->pruned)
			printf(", pruned");
		if (res->copies_ok)
			printf(", copied to %u more repositor%s", res->copies_ok, res->copies_ok == 1 ? "y" : "ies");
		if (res->outcome == JOB_PARTIAL)
			printf(" (%s)", res->reason);
		putchar('\n');
		return;
	default:
		printf("%s: failed: %s", j->name, res->reason[0] ? res->reason : "its worker process died (see above)");
		if (res->have_snapshot)
			printf(" (snapshot %s was committed)", res->snapshot);
		putchar('\n');
	}
}

/* --- selection and workers ---------------------------------------------- */

static int select_jobs(struct run *run, char **names, size_t n_names, const char *tier)
{
	const struct cli_config *cfg = run->cfg;
	run->jobs = calloc(cfg->n_jobs + n_names + 1, sizeof(*run->jobs));
	if (!run->jobs)
		return log_error_errno(-ENOMEM, "Cannot select the jobs: %m");
	if (tier && !cli_config_tier(cfg, tier))
		return log_error_errno(-EINVAL, "No tier \"%s\" in %s", tier, cfg->path);
	for (size_t k = 0; k < n_names; k++) {
		const struct cli_config_job *j = cli_config_job(cfg, names[k]);
		if (!j)
			return log_error_errno(-EINVAL, "No job \"%s\" in %s", names[k], cfg->path);
		bool dup = false;
		for (size_t i = 0; i < run->n_jobs; i++)
			dup |= run->jobs[i] == j;
		if (!dup)
			run->jobs[run->n_jobs++] = j;
	}
	if (n_names == 0)
		for (size_t i = 0; i < cfg->n_jobs; i++)
			if (!tier || strcmp(cfg->jobs_v[i].tier->name, tier) == 0)
				run->jobs[run->n_jobs++] = &cfg->jobs_v[i];
	if (tier && n_names) {
		size_t k = 0;
		for (size_t i = 0; i < run->n_jobs; i++)
			if (strcmp(run->jobs[i]->tier->name, tier) == 0)
				run->jobs[k++] = run->jobs[i];
		run->n_jobs = k;
	}
	/* Groups: the jobs whose first repository is at one location. */
	run->group = calloc(run->n_jobs + 1, sizeof(*run->group));
	if (!run->group)
		return log_error_errno(-ENOMEM, "Cannot select the jobs: %m");
	for (size_t i = 0; i < run->n_jobs; i++) {
		run->group[i] = run->n_groups;
		for (size_t k = 0; k < i; k++)
			if (strcmp(run->jobs[k]->repos[0]->location, run->jobs[i]->repos[0]->location) == 0) {
				run->group[i] = run->group[k];
				break;
			}
		if (run->group[i] == run->n_groups)
			run->n_groups++;
	}
	return 0;
}

static void print_group(struct run *run, size_t g)
{
	for (size_t i = 0; i < run->n_jobs; i++)
		if (run->group[i] == g)
			print_result(run, i);
	fflush(stdout);
}

/* Run the groups in child processes, at most max_children at once. */
static int run_forked(struct run *run, unsigned max_children)
{
	_cleanup_free_ pid_t *pids = calloc(run->n_groups + 1, sizeof(*pids));
	size_t next = 0, running = 0;
	bool forwarded = false;
	if (!pids)
		return log_error_errno(-ENOMEM, "Cannot start the jobs: %m");
	fflush(stdout);
	fflush(stderr);
	while (next < run->n_groups || running) {
		while (next < run->n_groups && running < max_children && !g_interrupted) {
			pid_t pid = fork();
			if (pid < 0) {
				log_error_errno(-errno, "Cannot start a process for the jobs of %s: %m",
						run->jobs[0]->repos[0]->location);
				break;
			}
			if (pid == 0) {
				run_group(run, next);
				fflush(stdout);
				_exit(0);
			}
			pids[next++] = pid;
			running++;
		}
		if (!running)
			break;
		int status;
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0) {
			if (errno != EINTR)
				return log_error_errno(-errno, "Cannot wait for the jobs: %m");
			if (g_interrupted && !forwarded) {
				for (size_t g = 0; g < next; g++)
					if (pids[g] > 0)
						(void)kill(pids[g], SIGTERM);
				forwarded = true;
			}
			continue;
		}
		for (size_t g = 0; g < next; g++) {
			if (pids[g] != w)
				continue;
			pids[g] = 0;
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char why[128];
				if (WIFSIGNALED(status))
					snprintf(why, sizeof(why), "was killed by signal %d (%s)", WTERMSIG(status),
						 strsignal(WTERMSIG(status)));
				else
					snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
				for (size_t i = 0; i < run->n_jobs; i++)
					if (run->group[i] == g && !run->res[i].done) {
						log_error("Job %s: its process %s", run->jobs[i]->name, why);
						run->res[i].outcome = JOB_PENDING; /* whatever it had got to */
						fail_job(&run->res[i], "its process %s", why);
						record_attempt(run->cfg, run->jobs[i], cfs_now_ns(), &run->res[i]);
					}
			}
			print_group(run, g);
		}
	}
	for (size_t g = next; g < run->n_groups; g++) {
		for (size_t i = 0; i < run->n_jobs; i++)
			if (run->group[i] == g)
				fail_job(&run->res[i], g_interrupted ? "interrupted before it started"
								     : "no process could be started for it");
		print_group(run, g);
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(cli_config_freep) struct cli_config *cfg = NULL;
	struct run run = {0};
	const char *tier = NULL, *jobs_arg = NULL;
	bool due = false, json = false;
	unsigned max_children;
	const struct verb_flag flags[] = {
		{"due", &due},
		{"json", &json},
		{"tier", NULL, &tier},
		{"jobs", NULL, &jobs_arg},
	};
	int e = parse_flag_options(argc, argv, usage, flags, ARRAY_SIZE(flags), -1);
	if (e != 0)
		return e < 0 ? e : 0;
	if (optind == argc && !tier && !due) {
		usage(stderr);
		return log_error_errno(-EINVAL, "run: name the JOBs, or give --tier TIER or --due");
	}
	e = load_config(true, &cfg);
	if (e < 0)
		return e; /* logged */
	max_children = cfg->jobs ? cfg->jobs : 1;
	if (jobs_arg) {
		char *end;
		unsigned long v = strtoul(jobs_arg, &end, 10);
		if (!*jobs_arg || *end || *jobs_arg == '-' || v == 0 || v > 1024)
			return log_error_errno(-EINVAL, "Invalid --jobs \"%s\": 1 to 1024 expected", jobs_arg);
		max_children = (unsigned)v;
	}
	run.cfg = cfg;
	run.due = due;
	run.json = json;
	e = select_jobs(&run, argv + optind, (size_t)(argc - optind), tier);
	if (e < 0)
		goto out;
	if (run.n_jobs == 0) {
		log_info("No job of tier %s in %s: nothing to run", tier, cfg->path);
		if (json)
			puts("[]");
		goto out;
	}
	run.res = mmap(NULL, run.n_jobs * sizeof(*run.res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (run.res == MAP_FAILED) {
		run.res = NULL;
		e = log_error_errno(-errno, "Cannot set up the jobs' results: %m");
		goto out;
	}
	backup_tune_memory();
	if (json)
		putchar('[');
	if (run.n_groups > 1 && max_children > 1) {
		e = run_forked(&run, max_children);
	} else {
		for (size_t g = 0; g < run.n_groups; g++) {
			run_group(&run, g);
			print_group(&run, g);
		}
	}
	if (json)
		puts("]");
	if (e < 0)
		goto out;
	bool failed = false, partial = false;
	for (size_t i = 0; i < run.n_jobs; i++) {
		failed |= run.res[i].outcome == JOB_FAILED || run.res[i].outcome == JOB_PENDING;
		partial |= run.res[i].outcome == JOB_PARTIAL;
	}
	e = failed ? -EIO : partial ? CFS_EXIT_PARTIAL : 0;
out:
	if (run.res)
		munmap(run.res, run.n_jobs * sizeof(*run.res));
	free(run.jobs);
	free(run.group);
	return e;
}
