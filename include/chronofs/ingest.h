/* SPDX-License-Identifier: MIT */
/*
 * ingest.h — capture source paths into a snapshot.
 *
 * The sources are walked depth-first with openat/fstatat; each directory is
 * stored as a tree after its children, each file as content-defined chunks.
 * Holes in sparse files are found with SEEK_DATA/SEEK_HOLE and never read.
 *
 * Snapshot types (enum cfs_snapshot_type, recorded in the manifest with the
 * parent's id):
 *   full          reads every file;
 *   incremental   the parent is the newest snapshot of the same host and
 *                 source set (the same PATHs and stream paths, in any
 *                 order); a file whose type, size, mtime, ctime, inode and
 *                 mode equal the parent's entry is not opened: its entry
 *                 (chunk list and extended attributes) is taken from the
 *                 parent. An unchanged directory encodes to the same tree,
 *                 so it has the same id and costs nothing;
 *   differential  the same against the newest *full* snapshot of that set.
 * Without a suitable parent the snapshot is full, and recorded as such.
 * Every snapshot is a complete tree: nothing ever needs its parent to be
 * read.
 *
 * Exclusions (fnmatch(3) globs, pattern.h; a trailing '/' is dropped by the caller):
 *   - a pattern without '/' is matched against every entry's name:
 *     "*.tmp", "node_modules";
 *   - a pattern starting with '/' against the whole absolute path, with
 *     FNM_PATHNAME ('*' does not cross '/'): "/var/cache";
 *   - any other pattern with '/' against every trailing part of the path
 *     that starts at a component: "build/x.o" matches /src/build/x.o.
 * (More examples in chronoctl(8).)
 * An excluded directory is left out with everything under it.
 * exclude_caches keeps a directory holding a valid CACHEDIR.TAG and that tag
 * file, and leaves the rest of its contents out. one_file_system stores a
 * mount point met below a source path as an empty directory (the source
 * paths themselves are always entered). exclude_nodump leaves out files
 * and directories (with all below) whose inode carries the nodump flag.
 *
 * Inode flags (chattr: immutable, append-only, nodump...) of regular files
 * and directories are recorded (tree.h, CFS_FSFLAGS_KEPT); other types
 * cannot be opened safely to read them and record none.
 *
 * Stream sources: each stream becomes a regular file at its absolute path in
 * the snapshot (mode 0600, owned by the running user, time of the
 * snapshot), with missing parent directories made up (mode 0755, same owner
 * and time). The caller opens the stream when ingest reaches it and says at
 * its end whether it succeeded (a command's exit status); a failed stream
 * fails the whole snapshot, nothing is committed.
 *
 * Per-file problems (unreadable file or directory, file changed while read,
 * socket skipped) are logged with the path and reason, counted, and the rest
 * of the snapshot goes on; only repository errors and failed streams abort
 * the run.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "chronofs/repo.h"

/*
 * Totals: with a parent snapshot, entries_total is the parent's entry count
 * and bytes_total unknown (only changed files are read). Without one (a
 * first backup, --type full), a thread counts the sources ahead of the walk
 * (count-ahead, see src/ingest/count.c) when a progress callback is given:
 * both totals grow while totals_partial is set, and are close estimates
 * (they may fall short, or exceed, what the walk then meets) once it is
 * clear.
 */
struct cfs_backup_progress {
	uint64_t entries;       /* entries captured so far */
	uint64_t entries_total; /* 0 when unknown */
	uint64_t bytes_total;   /* file bytes to read; 0 when unknown */
	bool totals_partial;    /* the totals are still being counted */
	uint64_t files_read;    /* files whose contents were read */
	uint64_t bytes_read;
	uint64_t bytes_added;
	int64_t elapsed_ns;
	bool done; /* the last call, after the walk */
};

struct cfs_backup_options {
	const char *const *paths; /* absolute, existing; may be empty with streams */
	size_t n_paths;
	const char *const *tags;
	size_t n_tags;
	const char *host;                   /* NULL: gethostname() */
	/* The config job and tier that take the snapshot (manifest fields; NULL:
	 * ""). A job's incremental and differential snapshots take their parent
	 * among that job's snapshots only. */
	const char *job;
	const char *tier;
	uint8_t type;                       /* enum cfs_snapshot_type asked for */
	volatile sig_atomic_t *interrupted; /* optional: abort with -EINTR when set */

	const char *const *excludes; /* patterns, see above */
	size_t n_excludes;
	bool exclude_caches;
	bool exclude_nodump; /* leave out files and directories marked nodump (chattr +d) */
	bool one_file_system;

	/* Streams: absolute paths in the snapshot. stream_open gives the fd to
	 * read stream i from (ingest closes it); stream_finish is called at its
	 * end of file and returns 0, or a negative errno with a one-line reason
	 * in msg (a command's exit status and the end of its stderr). */
	const char *const *stream_paths;
	size_t n_streams;
	int (*stream_open)(void *ud, size_t i, int *ret_fd);
	int (*stream_finish)(void *ud, size_t i, char *msg, size_t msg_size);
	void *stream_ud;

	/* Called about every 250 ms during the walk, and once at its end. */
	void (*progress)(void *ud, const struct cfs_backup_progress *p);
	void *progress_ud;
};

struct cfs_backup_result {
	struct cfs_snapshot snapshot; /* owned by the caller on success */
	struct cfs_id id;
	unsigned n_unreadable; /* files/dirs left out or changed while read */
	unsigned n_warnings;   /* e.g. sockets skipped */
};

/*
 * Take a snapshot and commit it. -EINTR when interrupted, -ECANCELED when a
 * stream failed (its reason logged); nothing is committed then.
 */
int cfs_backup_run(struct cfs_repo *r, const struct cfs_backup_options *o, struct cfs_backup_result *ret);
