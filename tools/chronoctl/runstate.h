/* SPDX-License-Identifier: MIT */
/*
 * runstate.h — what `chronoctl run` keeps under the config's state_dir, and
 * `status` reads (chronoctl(8), FILES):
 *
 *   jobs/<job>.lock   flock(2)ed by the process that runs the job, for as
 *                     long as it runs; holds that process's PID (text). The
 *                     file stays: removing a lock file others may have open
 *                     would let two processes lock two different files.
 *   jobs/<job>.last   the last attempt, "key=value" lines: time, time_ns,
 *                     result (ok, partial, failed), type, snapshot, reason;
 *                     and the last failure: failure_time_ns, failure_reason,
 *                     failing_since_ns (the first failure of the attempts
 *                     that failed in a row up to the last; 0 once one
 *                     succeeds). Replaced atomically (temp, fsync, rename).
 *   repos/<name>.prune  the time (time_ns=) of the last prune `run` made of
 *                     that repository.
 *
 * A job's last success is not kept here: it is the newest snapshot of the
 * job in its repository (the repository is the record, which another host
 * reads the same).
 */
#pragma once

#include <stdint.h>

struct job_last {
	int64_t time_ns; /* the attempt's start; 0: none recorded */
	char result[16]; /* "ok", "partial", "failed" */
	char type[16];   /* the snapshot type taken, "" */
	char snapshot[80]; /* its name, "" (CFS_SNAPSHOT_NAME_MAX + 1 at most) */
	char reason[1024]; /* why it failed, "" */
	int64_t failure_ns; /* the last failed attempt, 0: none */
	char failure_reason[1024];
	int64_t failing_since_ns; /* 0 when the last attempt did not fail */
};

/* Read jobs/<job>.last; -ENOENT when there is none (*ret zeroed), other
 * errors unlogged. Unknown keys are ignored. */
int job_last_read(const char *state_dir, const char *job, struct job_last *ret);
/* Replace jobs/<job>.last with l (directories made as needed). Unlogged. */
int job_last_write(const char *state_dir, const char *job, const struct job_last *l);

/* Take jobs/<job>.lock without waiting: 0 and *ret_fd (close it to
 * release; O_CLOEXEC, so hooks and streams do not hold it), or -EBUSY with
 * *ret_holder the PID the holder wrote (0: none written). Unlogged. */
int job_lock(const char *state_dir, const char *job, int *ret_fd, long *ret_holder);

/* repos/<name>.prune: -ENOENT when no prune is recorded. Unlogged. */
int prune_last_read(const char *state_dir, const char *repo, int64_t *ret_ns);
int prune_last_write(const char *state_dir, const char *repo, int64_t ns);
/* Whether jobs/<job>.lock is held, without taking it (which could make a
 * `run` starting meanwhile skip the job): 1 and *ret_pid (the PID written
 * in the file, else the locker /proc/locks names) when held, 0 when not (or no such file),
 * -errno when /proc/locks cannot be read. Linux only. Unlogged. */
int job_running(const char *state_dir, const char *job, long *ret_pid);
