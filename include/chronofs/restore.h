/* SPDX-License-Identifier: MIT */
/*
 * restore.h — write a snapshot (or one path inside it) back to a directory.
 *
 * The snapshot's absolute paths are recreated under the target: restoring
 * /etc/hosts into /tmp/r writes /tmp/r/etc/hosts. Owners, modes (incl.
 * setuid/setgid/sticky), ns times, xattrs and ACLs, hard links, devices,
 * FIFOs and holes are restored. Directories get their metadata after their
 * children, so their mtimes and restrictive modes stick.
 *
 * Never wrong bytes: a file whose data cannot be read and verified is
 * removed again and reported (path, blob, pack, reason); the rest goes on.
 * Existing files are never overwritten (reported as errors); existing
 * directories are reused.
 */
#pragma once

#include <signal.h>

#include "chronofs/repo.h"

struct cfs_restore_stats {
	uint64_t files, dirs, bytes;
	unsigned errors; /* entries that could not be restored (reported) */
};

/*
 * subpath: NULL or "/" for everything, else an absolute path inside the
 * snapshot. -ENOENT if subpath is not in the snapshot. Returns 0 even when
 * some entries failed: see stats->errors.
 */
int cfs_restore_run(struct cfs_repo *r, const struct cfs_snapshot *s, const char *subpath, const char *target,
		    volatile sig_atomic_t *interrupted, struct cfs_restore_stats *stats);
