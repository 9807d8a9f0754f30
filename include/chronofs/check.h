/* SPDX-License-Identifier: MIT */
/*
 * check.h — verify a repository.
 *
 * Structure: every snapshots/, index/, dicts/ and names/ object verifies
 * (cfs_repo_verify_object); every pack the catalog knows exists with its
 * recorded size and is not recorded as damaged; every snapshot's trees
 * read and verify; every blob they reference is usable
 * (cfs_repo_blob_state: indexed, its pack known, its dictionary there); an
 * unencrypted config is not over objects that look sealed; the config is
 * the one the catalog saw before; nothing the catalog knew vanished (what
 * this open's synchronisation found: cfs_repo_sync_stats). With read_data,
 * every pack is read whole, its bytes hashed against its name, its header
 * authenticated, and every blob in it decrypted, decompressed and its id
 * recomputed; what that finds is recorded (cfs_repo_mark_damaged), so
 * that backups from this cache do not reuse a damaged pack.
 *
 * Each problem is logged once with the object (pack, blob, tree,
 * dictionary) and, for damaged data, the snapshot paths that use it. The
 * walk keeps its stack on the heap: any depth. Returns < 0 only when it
 * cannot go on (-ENOMEM, -EINTR, a store or catalog failure).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "chronofs/repo.h"

/*
 * Progress, in two phases: the packs (each one's presence and size, or with
 * read_data each one read whole: bytes of bytes_total), then the snapshots
 * (their trees walked). Totals are known from the catalog before a phase
 * starts.
 */
struct cfs_check_progress {
	const char *phase; /* "checking packs", "reading packs", "checking snapshots" */
	uint64_t packs, packs_total;
	uint64_t bytes, bytes_total; /* pack bytes read; 0 without read_data */
	uint64_t snapshots, snapshots_total;
	int64_t elapsed_ns;
	bool done; /* the last call, when the check completed */
};

struct cfs_check_options {
	bool read_data;
	volatile sig_atomic_t *interrupted;
	/* Optional: called about every 250 ms from the calling thread, and
	 * once at the end. */
	void (*progress)(void *ud, const struct cfs_check_progress *p);
	void *progress_ud;
};

struct cfs_check_result {
	unsigned problems;
	uint64_t snapshots, trees, packs, blobs_read;
};

int cfs_check_run(struct cfs_repo *r, const struct cfs_check_options *o, struct cfs_check_result *ret);
