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
 * reason); the rest goes on.
 *
 * Existing entries (o->overwrite, o->skip_existing): an entry of the
 * target where the snapshot holds a file, symlink, FIFO or device is
 *   - an error by default (CFS_RESTORE_OVERWRITE_NEVER; stats->existed);
 *   - left as it is, untouched, with skip_existing (stats->skipped): a
 *     restore that was stopped can be run again to finish;
 *   - with CFS_RESTORE_OVERWRITE_IF_CHANGED, left as it is when it holds
 *     what the snapshot holds (stats->skipped), its metadata (owner, mode,
 *     xattrs, times) set to the snapshot's: a regular file of the same
 *     size and mtime (ns) is taken as unchanged, one of the same size and
 *     another mtime is compared byte for byte with the snapshot's data
 *     (holes read as zeros); a symlink with the same target, a FIFO, a
 *     device with the same type and number, another name of a hard-link
 *     group that is already a link to the group's file in the target are
 *     unchanged; anything else is replaced (stats->replaced);
 *   - replaced with CFS_RESTORE_OVERWRITE_ALWAYS.
 * A replacement is made complete under a temporary name in the same
 * directory and renamed over the old entry (atomic: the name never holds
 * half a file, and a symlink in the way is replaced, never followed). A
 * directory where anything else is to be restored is an error in every
 * mode: nothing is ever deleted recursively. Existing directories are
 * reused in every mode and get the snapshot's owner, mode, xattrs and
 * times after their contents (xattrs they have besides are kept); a
 * non-directory where a directory is to be restored is an error (its
 * contents are not restored), except with ..._ALWAYS, which removes that
 * one entry (a file, a symlink: never followed) and makes the directory.
 * Hard links: a name of a hard-link group is linked to the group's first
 * name as it is in the target after this restore (restored, replaced or
 * kept).
 *
 * Partial restores (o->includes, o->excludes; the pattern language of
 * pattern.h, matched against each entry's absolute path in the snapshot):
 * an excluded entry is not restored, and an excluded directory not
 * descended. With includes, only what matches one is restored, a matching
 * directory with all below it (but what is excluded); the directories
 * above a match are made (with their metadata) to reach it, but not their
 * other entries, and a directory in which nothing matches is not made
 * (nor are the directories above a sub-path, when nothing in it is
 * restored). An include that matches a directory above the sub-path
 * includes all of it, an exclude leaves all of it out.
 * Directories that may hold a match are walked: for an include pattern
 * that starts with '/', those along the pattern's leading components
 * only; for any other, every directory.
 *
 * Never outside the target: everything is created relative to the
 * descriptor of its directory, opened without following symlinks.
 *
 * Messages name the entry's path in the target (the target, then the
 * snapshot path: /srv/r/etc/hosts for /etc/hosts restored into /srv/r),
 * and where the snapshot is at fault (data or tree unreadable) the
 * snapshot path too.
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
	uint64_t files;    /* non-directories written, replacements included */
	uint64_t dirs;     /* directories made or reused */
	uint64_t bytes;    /* file data written (holes and hard links are not) */
	uint64_t skipped;  /* existing entries left as they were */
	uint64_t replaced; /* existing entries replaced (of files; and of dirs
			      for a non-directory replaced by a directory) */
	unsigned errors;   /* entries that could not be restored (reported) */
	unsigned existed;  /* of errors: entries that existed (OVERWRITE_NEVER) */
};

enum cfs_restore_overwrite {
	CFS_RESTORE_OVERWRITE_NEVER = 0, /* an existing entry is an error */
	CFS_RESTORE_OVERWRITE_IF_CHANGED,
	CFS_RESTORE_OVERWRITE_ALWAYS,
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

	/* Existing entries (see the top). skip_existing goes with
	 * OVERWRITE_NEVER only (-EINVAL, logged, otherwise). */
	enum cfs_restore_overwrite overwrite;
	bool skip_existing;
	/* Partial restores (see the top); a trailing '/' must be dropped. */
	const char *const *includes;
	size_t n_includes;
	const char *const *excludes;
	size_t n_excludes;

	/*
	 * Progress: entries counts every node of the restored subtree once it
	 * is dealt with (restored, failed, or a directory's whole subtree when
	 * it cannot be entered), so it reaches entries_total (the snapshot's
	 * root node count, or 1 + the sub-path's subtree node count) when the
	 * walk completes. bytes counts the file data written or found in
	 * place (existing files kept; holes and the second names of hard
	 * links are not written). bytes_total is known only for a
	 * whole-snapshot restore of a full snapshot without patterns (its
	 * bytes read: an estimate, a file re-read while it changed counts
	 * twice) and is 0 otherwise; the last call of a completed walk has
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
