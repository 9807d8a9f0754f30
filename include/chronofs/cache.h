/* SPDX-License-Identifier: MIT */
/*
 * cache.h — a bounded, thread-safe cache of objects keyed by 32-byte ids
 * (blob plaintexts, decoded trees), with a byte budget and LRU eviction.
 *
 * Objects are loaded through a caller-supplied callback on a miss; when
 * several threads miss the same id at once, one loads and the others wait
 * for its result (a read-ahead thread and the reader never decode one chunk
 * twice). Load failures are not cached: every waiter gets the error.
 *
 * An entry handed out is referenced and stays valid, even if evicted, until
 * cfs_cache_put(). The budget counts the cost of resident entries; entries
 * still referenced after eviction are freed by their last put.
 *
 * Locking: one mutex per cache, never held while a load callback runs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/base.h"

struct cfs_cache;
struct cfs_cache_entry;

/* Frees an object the cache owns. */
typedef void (*cfs_cache_free_fn)(void *obj);
/* Loads the object for id: *ret_obj (owned by the cache afterwards) and its
 * cost in bytes. Returns 0 or a negative errno. */
typedef int (*cfs_cache_load_fn)(void *userdata, const void *id, void **ret_obj, size_t *ret_cost);

int cfs_cache_new(size_t budget_bytes, cfs_cache_free_fn free_fn, struct cfs_cache **ret);
/* All entries must have been put back. Accepts NULL. */
struct cfs_cache *cfs_cache_free(struct cfs_cache *c);
CFS_DEFINE_FREEP(struct cfs_cache, cfs_cache_free)

/* Get the entry for id, loading it on a miss. */
int cfs_cache_get(struct cfs_cache *c, const void *id, cfs_cache_load_fn load, void *userdata,
		  struct cfs_cache_entry **ret);
/* Like get, but never loads: 0 and *ret on a hit, -ENOENT otherwise. */
int cfs_cache_peek(struct cfs_cache *c, const void *id, struct cfs_cache_entry **ret);
/* True if id is resident or being loaded (for read-ahead decisions). */
bool cfs_cache_has(struct cfs_cache *c, const void *id);
void cfs_cache_put(struct cfs_cache *c, struct cfs_cache_entry *e);
void *cfs_cache_entry_obj(const struct cfs_cache_entry *e);
size_t cfs_cache_entry_cost(const struct cfs_cache_entry *e);

struct cfs_cache_stats {
	uint64_t hits, misses, evictions;
	size_t bytes, entries, budget;
};
void cfs_cache_stats(struct cfs_cache *c, struct cfs_cache_stats *ret);
