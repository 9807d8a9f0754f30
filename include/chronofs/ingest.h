/* SPDX-License-Identifier: MIT */
/*
 * ingest.h — capture source paths into a snapshot.
 *
 * This version walks the sources with openat/fstatat and reads files with
 * pread (the io_uring pipeline is a later step behind the same interface).
 * Holes in sparse files are found with SEEK_DATA/SEEK_HOLE and never read.
 *
 * Per-file problems (unreadable file or directory, file changed while read,
 * socket skipped) are logged with the path and reason, counted, and the rest
 * of the snapshot goes on; only repository errors abort the run.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "chronofs/repo.h"

struct cfs_backup_options {
	const char *const *paths; /* absolute, existing */
	size_t n_paths;
	const char *const *tags;
	size_t n_tags;
	const char *host;                   /* NULL: gethostname() */
	volatile sig_atomic_t *interrupted; /* optional: abort with -EINTR when set */
};

struct cfs_backup_result {
	struct cfs_snapshot snapshot; /* owned by the caller on success */
	struct cfs_id id;
	unsigned n_unreadable; /* files/dirs left out or changed while read */
	unsigned n_warnings;   /* e.g. sockets skipped */
};

/* Run a full snapshot and commit it. */
int cfs_backup_run(struct cfs_repo *r, const struct cfs_backup_options *o, struct cfs_backup_result *ret);
