/* SPDX-License-Identifier: MIT */
/*
 * check.h — verify a repository.
 *
 * Structure: every pack the catalog knows exists with its recorded size;
 * every snapshot's trees read and verify; every blob they reference is
 * indexed. With read_data, every pack is read whole, its header
 * authenticated, and every blob in it decrypted, decompressed and its id
 * recomputed.
 *
 * Each problem is logged once with the object (pack, blob, tree) and, for
 * damaged data, the snapshot paths that use it.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "chronofs/repo.h"

struct cfs_check_options {
	bool read_data;
	volatile sig_atomic_t *interrupted;
};

struct cfs_check_result {
	unsigned problems;
	uint64_t snapshots, trees, packs, blobs_read;
};

int cfs_check_run(struct cfs_repo *r, const struct cfs_check_options *o, struct cfs_check_result *ret);
