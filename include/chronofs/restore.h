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
 * Never wrong bytes, never half a file: each regular file is written to a
 * temporary in its directory (unnamed where the file system has O_TMPFILE,
 * else ".chronofs-restore.<name>.<random>"), its data verified, its
 * metadata set, and only then linked under its name. A file whose data
 * cannot be read and verified is discarded and reported (path, blob, pack,
 * reason); the rest goes on. Existing files are never overwritten (reported
 * as errors); existing directories are reused.
 *
 * Never outside the target: everything is created relative to the
 * descriptor of its directory, opened without following symlinks.
 *
 * Never more privilege than the user has: where the recorded owner (group)
 * cannot be set, a file (anything but a directory) loses its setuid
 * (setgid) bit, with a warning naming the path and the bit. A directory
 * keeps its setgid bit (group inheritance grants nothing).
 *
 * Any depth: the walk keeps its stack on the heap and at most a fixed number
 * of directory descriptors open, so the depth of a snapshot is bounded only
 * by memory (one decoded tree per level on the current path).
 *
 * Threading: one thread; r is used by it alone for the call.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "chronofs/repo.h"

struct cfs_restore_stats {
	uint64_t files, dirs, bytes;
	unsigned errors; /* entries that could not be restored (reported) */
};

struct cfs_restore_progress {
	uint64_t entries, entries_total; /* entries restored or skipped / in the restored subtree (tree node counts) */
	uint64_t bytes, bytes_total;     /* file bytes written / to write (0: not known) */
	int64_t elapsed_ns;
	bool done;                       /* the last call */
};

struct cfs_restore_options {
	/* NULL or "/" for everything, else an absolute path inside the
	 * snapshot, of any length; -ENOENT (-ENOTDIR) if it is not in the
	 * snapshot, found before anything is created. */
	const char *subpath;
	const char *target; /* the directory restored into; made if missing */
	/* NULL, or a flag a signal handler sets: it is checked between entries
	 * and between the chunks of a file; once set, the file being written
	 * is discarded and -EINTR returned (stats say what was restored). */
	volatile sig_atomic_t *interrupted;

	/*
	 * Progress: entries counts every node of the restored subtree once it
	 * is dealt with (restored, failed, or a directory's whole subtree when
	 * it cannot be entered), so it reaches entries_total (the snapshot's
	 * root node count, or 1 + the sub-path's subtree node count) when the
	 * walk completes. bytes counts the file data written (holes and the
	 * second names of hard links are not written). bytes_total is known
	 * only for a whole-snapshot restore of a full snapshot (its bytes
	 * read: an estimate, a file re-read while it changed counts twice)
	 * and is 0 otherwise; the last call of a completed walk has
	 * bytes_total = bytes.
	 */
	void (*progress)(void *ud, const struct cfs_restore_progress *p); /* NULL: none; at most every 250 ms, and once with done */
	void *progress_ud;
};

/*
 * Restore snapshot s (or o->subpath inside it) under o->target. -ESTALE: a
 * directory being restored was moved or replaced by someone else, and the
 * restore stopped. Every error is logged with its path. Returns 0 even when
 * some entries failed: see stats->errors.
 */
int cfs_restore_run(struct cfs_repo *r, const struct cfs_snapshot *s, const struct cfs_restore_options *o,
		    struct cfs_restore_stats *stats);
