/* SPDX-License-Identifier: MIT */
/*
 * copy.h — copy snapshots into another repository (3-2-1: a second copy,
 * typically off-site), moving only the blobs it lacks.
 *
 * What moves: for each snapshot, its trees are walked (an explicit stack,
 * never recursion) and decoded; every file's chunks are then
 *   - with shared parameters (cfs_repo_params_shared(): the same id key,
 *     gear seed and chunker sizes, `init --copy-params-from`): looked up in
 *     the destination by id; one it has is neither read nor sent, one it
 *     lacks is read from the source with full verification (GCM tag and
 *     id re-hash, DESIGN.md "Blob encoding") and stored in the destination,
 *     sealed on worker threads under the destination's keys: its
 *     compressed bytes as the source's pack holds them (no second
 *     compression), or, for a blob compressed with one of the source's
 *     dictionaries, compressed again;
 *   - without: every chunk is read and verified the same way, and the
 *     file's content is cut again with the destination's chunker, region
 *     by region (holes stay holes), as a backup into the destination would
 *     cut it: the chunks the destination holds already are not sent, but
 *     nothing can be skipped by id, so all the data is read every time.
 * Trees are encoded again in the destination's tree version (large
 * directories cut into fragments as a backup cuts them) and stored: with
 * shared parameters and the same tree version they are the same bytes, so
 * the same ids. The manifest is committed last with `origin` set: the
 * source snapshot's own origin if it is already a copy, else (the source's
 * repository id, its id); job, tier, host, paths, tags, time, type, name
 * (made unique as any commit does) and stats are the original's; the
 * parent is the destination's copy of the parent when there is one, else
 * none.
 *
 * Identity: a snapshot is the same in two repositories when its origin, or
 * else (its repository id, its id), is. One whose identity the destination
 * has already is "present" and not copied again.
 *
 * Crashes and interruption: the destination is written through the normal
 * write path, so the commit protocol of repo.h holds (a snapshot is listed
 * only once all its data is durable), and packs stored before a kill are
 * adopted by the next writer open and their blobs not sent again. On
 * interruption (*interrupted set) the open packs are flushed and indexed
 * before -EINTR is returned, so nothing read so far is sent again.
 *
 * Memory: bounded by the decoded trees of one path from the root (a large
 * directory one fragment at a time, as a backup writes it; a directory of
 * a tree version 1 source, which has no fragments, whole), a queue of
 * COPY_QUEUE_BYTES, and per worker a few buffers of the largest blob.
 *
 * Threading: cfs_copy_run uses both repositories from the calling thread
 * and its own worker threads; neither may be used by anyone else
 * meanwhile. `from` may be open read-only; `to` must be open as a writer.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "chronofs/repo.h"

struct cfs_copy_progress {
	uint64_t snapshots_done, snapshots_total;
	uint64_t blobs;               /* file chunks handled (sent or present) */
	uint64_t bytes_read;          /* stored bytes read from `from` */
	uint64_t bytes_sent;          /* stored bytes written to `to` */
	int64_t elapsed_ns;
	bool done;                    /* the last call */
};

struct cfs_copy_options {
	/* In the source repository, copied in time order (oldest first, so
	 * that parents come before children). n == 0: every snapshot of the
	 * source. */
	const struct cfs_id *snapshots;
	size_t n;
	volatile sig_atomic_t *interrupted; /* NULL, or set to stop: -EINTR */
	/* NULL, or called on the calling thread about every 250 ms, and once
	 * with done set at the end. */
	void (*progress)(void *ud, const struct cfs_copy_progress *p);
	void *progress_ud;
};

struct cfs_copy_result {
	uint64_t snapshots_copied, snapshots_present; /* present: already in `to` (same origin) */
	uint64_t blobs_sent, bytes_sent;              /* stored bytes written to `to` */
	uint64_t blobs_present;                       /* already in `to`: not sent */
	bool params_shared;                           /* same id key, gear seed and chunker sizes */
	struct cfs_id *new_ids; /* owned: the id in `to` of each copied/present snapshot, n of them */
	/* Set when cfs_copy_run fails, for the caller's message (all owned
	 * by the result): the source snapshot it was copying, the blob or
	 * tree that failed and the path in the snapshot where it is used
	 * (NULL when the failure was not about one). */
	bool has_error_snapshot, has_error_object;
	struct cfs_id error_snapshot;
	struct cfs_id error_object;
	const char *error_kind; /* "blob", "tree", "manifest", or NULL (static) */
	char *error_path;
	uint64_t bytes_read;    /* stored bytes read from `from` */
};

/*
 * Copy the snapshots o names from `from` into `to`. 0 when every one is
 * copied or present; ret->new_ids then holds, in o->snapshots' order
 * (or the source's time order when o->n == 0), the destination's id of
 * each. Errors: -ENOENT a snapshot id the source does not list, or a blob
 * a tree names that the source does not have; -EBADMSG/-EPROTO a source
 * object that does not verify or decode (ret names it); -EINTR
 * interrupted; -EFBIG a tree that does not fit a blob in the destination's
 * tree version; the stores' and catalogs' errors. On failure the snapshot
 * being copied is not committed (those before it are), and ret (released
 * by the caller either way) says what failed.
 */
int cfs_copy_run(struct cfs_repo *from, struct cfs_repo *to, const struct cfs_copy_options *o,
		 struct cfs_copy_result *ret);
void cfs_copy_result_release(struct cfs_copy_result *r);
