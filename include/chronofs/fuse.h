/* SPDX-License-Identifier: MIT */
/*
 * fuse.h — the read-only mount of a repository (libfuse3 low-level API,
 * multi-threaded). The only libfuse user is src/fuse/.
 *
 * Layout: the root holds one directory per snapshot, named by its UTC time
 * as `chronoctl snapshot list` prints it, and a `latest` symlink; looking up
 * any other absolute time (cfs_time_parse_as_of() without flags: an offset
 * or UTC) gives a symlink to the snapshot current at that moment. With
 * `snapshot` set (resolved by cfs_repo_find_snapshot(); chronofs passes a
 * full id), that snapshot's tree alone is the root.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "chronofs/repo.h"

struct cfs_fuse_options {
	const char *mountpoint;
	const char *snapshot;      /* NULL: all snapshots; else mount this one alone */
	const char *fsname;        /* shown in /proc/mounts (the repository location) */
	bool allow_other;
	bool debug;
	size_t chunk_cache_bytes;  /* decoded file chunks; 0: default (24 MiB) */
	size_t tree_cache_bytes;   /* decoded directories; 0: default (12 MiB) */
	unsigned threads;          /* FUSE worker threads; 0: default */
	/* Called once the mount is live (for daemonising); may be NULL. */
	void (*ready)(void *userdata);
	void *ready_userdata;
};

/*
 * Mount and serve until unmounted or signalled (SIGINT, SIGTERM, SIGHUP).
 * Returns 0 after a clean unmount, or a negative errno: -ENOENT unknown
 * snapshot, -EBUSY/-ENOTDIR/-EACCES mount point problems, -EIO otherwise
 * (the reason is logged).
 */
int cfs_fuse_run(struct cfs_repo *r, const struct cfs_fuse_options *o);
