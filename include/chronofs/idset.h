/* SPDX-License-Identifier: MIT */
/*
 * idset.h — a set of 32-byte ids (blob, tree or pack ids), open addressing.
 * Ids are uniformly distributed hashes, so their first bytes serve as the
 * hash. Memory: 32 bytes per slot, load factor at most 1/2.
 * Not thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/base.h"

#define CFS_IDSET_KEY_SIZE 32

struct cfs_idset {
	uint8_t (*slots)[CFS_IDSET_KEY_SIZE]; /* owned; all-zero slot = empty */
	size_t cap, n;
	bool has_zero; /* the all-zero id itself */
};
#define CFS_IDSET_INIT {NULL, 0, 0, false}

/* 1 added, 0 already present, -ENOMEM. */
int cfs_idset_add(struct cfs_idset *s, const void *id);
bool cfs_idset_contains(const struct cfs_idset *s, const void *id);
/* 1 removed, 0 was not there. */
int cfs_idset_remove(struct cfs_idset *s, const void *id);
size_t cfs_idset_count(const struct cfs_idset *s);
/* Room for n ids without growing (no copy of the table, and so no second
 * table in memory, while they are added). 0 or -ENOMEM. */
int cfs_idset_reserve(struct cfs_idset *s, size_t n);
/* cb on each id, in no particular order; stops at the first cb < 0 and
 * returns it. The set must not change meanwhile. */
int cfs_idset_foreach(const struct cfs_idset *s, int (*cb)(const void *id, void *ud), void *ud);
/* Empty the set, keep the allocation. */
void cfs_idset_clear(struct cfs_idset *s);
void cfs_idset_release(struct cfs_idset *s);
