/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h — snapshot manifests.
 *
 * Stored as objects snapshots/<id>, sealed (AAD "snapshot"); the id is the
 * blob id (keyed hash) of the plaintext manifest.
 *
 * Byte layout (frozen, version 1; integers little-endian; strings are u16
 * length + bytes, no NUL):
 *   0  8  magic "CFSSNAP\x01"
 *   8  4  version = 1
 *  12  8  time_ns (i64, UTC ns since the epoch)
 *  20  str name   (RFC 3339 UTC, e.g. "2026-11-23T20:00:00Z")
 *      u8  type (enum cfs_snapshot_type)
 *      u8  has_parent, id[32] parent (zeros if none)
 *      str host
 *      str tier (may be empty)
 *      u32 path count, str paths...   (absolute source paths, as given)
 *      u32 tag count, str tags...
 *      id[32] root tree, u64 root node count
 *      stats: u64 files_new, files_changed, files_unchanged, files_skipped,
 *             dirs, bytes_read, bytes_added, blobs_added, duration_ns
 *      u32 extension length, then that many bytes: room for growth without
 *          breaking old readers, which skip it whole. Since 2026-12 (issue
 *          14) it is a sequence of records: u16 tag, u16 length, that many
 *          bytes; readers skip records with tags they do not know, and a
 *          record that runs past the extension is malformed. Tags:
 *            1  u64 bytes_total (stats.bytes_total below; length 8)
 *            2  job: the name of the config job that took it, 1 to
 *               CFS_SNAPSHOT_JOB_MAX bytes, no NUL (absent: "", not a job's)
 *            3  origin: repository id[32], snapshot id[32] of the snapshot
 *               this one is a copy of (`chronoctl copy`; length 64)
 *          Manifests written before hold an empty extension (their
 *          bytes_total is unknown: has_bytes_total false), and a manifest
 *          without a known total is still written with an empty one, so its
 *          bytes and id stay what they were.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/crypto.h"

#define CFS_SNAPSHOT_NAME_MAX 64
#define CFS_SNAPSHOT_JOB_MAX 255

enum cfs_snapshot_type {
	CFS_SNAP_FULL = 0,
	CFS_SNAP_INCREMENTAL = 1,
	CFS_SNAP_DIFFERENTIAL = 2,
};

struct cfs_snapshot_stats {
	uint64_t files_new, files_changed, files_unchanged, files_skipped;
	uint64_t dirs;
	uint64_t bytes_read;  /* bytes of file content read from the sources */
	uint64_t bytes_added; /* bytes written to the repository (packs) */
	uint64_t blobs_added;
	uint64_t duration_ns;
	/* The snapshot's logical size: the sum of the sizes of its regular
	 * files (streams included), a hard-linked file once; recorded since
	 * 2026-12 (extension tag 1), unknown (has_bytes_total false) in older
	 * snapshots. */
	uint64_t bytes_total;
	bool has_bytes_total;
};

/* Where a copied snapshot came from: the repository that took it and its id
 * there. A copy of a copy keeps the first origin, so that (origin, or this
 * repository's id and this snapshot's id when there is none) names the same
 * snapshot in every repository that holds it. */
struct cfs_snapshot_origin {
	struct cfs_id repo;
	struct cfs_id snapshot;
};

struct cfs_snapshot {
	int64_t time_ns;
	char name[CFS_SNAPSHOT_NAME_MAX + 1];
	uint8_t type; /* enum cfs_snapshot_type */
	bool has_parent;
	struct cfs_id parent;
	char *host;  /* owned */
	char *tier;  /* owned, may be "" */
	char *job;   /* owned, may be "" (NULL is encoded as ""); extension tag 2 */
	bool has_origin;                  /* extension tag 3 */
	struct cfs_snapshot_origin origin;
	char **paths; /* owned array of owned strings */
	size_t n_paths;
	char **tags; /* owned */
	size_t n_tags;
	struct cfs_id root;
	uint64_t root_nodes;
	struct cfs_snapshot_stats stats;
};

void cfs_snapshot_release(struct cfs_snapshot *s);
/* Deep copy. */
int cfs_snapshot_copy(const struct cfs_snapshot *s, struct cfs_snapshot *ret);
/* Pure encoding (out reset first); -EINVAL if a string is too long. */
int cfs_snapshot_encode(const struct cfs_snapshot *s, struct cfs_buf *out);
/* Decode untrusted bytes; -EPROTO if malformed, -EPROTONOSUPPORT for a newer
 * version. On failure *ret is zeroed. */
int cfs_snapshot_decode(const void *p, size_t n, struct cfs_snapshot *ret);
const char *cfs_snapshot_type_name(uint8_t type); /* "full", "incremental", ... */
