/* SPDX-License-Identifier: MIT */
/*
 * catalog.h — the local RocksDB index of a repository. The only RocksDB user
 * (src/catalog/). It is a cache of the object store plus local state: it can
 * always be rebuilt from index/ objects and pack headers.
 *
 * Column families and key layout (documented in src/catalog/catalog.c):
 *   blobs      blob id (32)      -> struct cfs_blob_loc (56 bytes, LE)
 *   packs      pack id (32)      -> u64 size, u32 blob count
 *   snapshots  snapshot id (32)  -> plaintext manifest (cfs_snapshot_encode)
 *   meta       UTF-8 key         -> bytes (e.g. "index/<name>" markers)
 *
 * All writes go through a batch committed atomically with a synced WAL write:
 * after cfs_catalog_commit() returns, the batch survives a crash whole, and a
 * crash before it leaves none of it.
 *
 * Threading: a struct cfs_catalog may be used from several threads (RocksDB
 * is thread-safe); a batch belongs to one thread. Only one process may open a
 * catalog directory at a time: a second open gets -EBUSY.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/crypto.h"

struct cfs_blob_loc {
	struct cfs_id pack;
	uint64_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t type;  /* enum cfs_blob_type */
	uint8_t codec; /* enum cfs_codec */
	uint32_t dict; /* dictionary number for CFS_CODEC_ZSTD_DICT, else 0 */
};

struct cfs_pack_info {
	uint64_t size;
	uint32_t count;
};

struct cfs_catalog;
/* The RocksDB block cache of catalogs opened from now on in this process
 * (default 32 MiB): the mount lowers it to keep its memory within budget. */
void cfs_catalog_set_cache_budget(size_t bytes);
/* Open or create the catalog in dir (created 0700, also when it exists with
 * looser modes it is chmod'ed 0700). -EBUSY if another process has it open. */
int cfs_catalog_open(const char *dir, struct cfs_catalog **ret);
/*
 * Open a read-only view of a catalog that another process may hold open for
 * writing (a RocksDB secondary instance; its own bookkeeping goes to
 * secondary_dir, created 0700). It sees what the primary had committed at
 * open time; cfs_catalog_catch_up() refreshes it. Commits fail with -EROFS.
 * -ENOENT if there is no catalog in dir yet.
 */
int cfs_catalog_open_secondary(const char *dir, const char *secondary_dir, struct cfs_catalog **ret);
/* Refresh a secondary with the primary's latest commits (no-op otherwise). */
int cfs_catalog_catch_up(struct cfs_catalog *c);
struct cfs_catalog *cfs_catalog_free(struct cfs_catalog *c); /* accepts NULL */
CFS_DEFINE_FREEP(struct cfs_catalog, cfs_catalog_free)

/*
 * Errors of every call below: -EIO for a RocksDB failure, except those a
 * user can act on: -ENOSPC (the cache's disk is full), -EDQUOT, -EROFS,
 * -EACCES, -EMFILE. Callers name the catalog's directory in messages.
 */

/* Point reads: 0 and *ret filled, or -ENOENT. -EPROTO if a stored value has
 * the wrong size (a damaged catalog: rebuild it). */
int cfs_catalog_blob_get(struct cfs_catalog *c, const struct cfs_id *id, struct cfs_blob_loc *ret);
int cfs_catalog_pack_get(struct cfs_catalog *c, const struct cfs_id *pack, struct cfs_pack_info *ret);
int cfs_catalog_snapshot_get(struct cfs_catalog *c, const struct cfs_id *id, struct cfs_buf *out);
int cfs_catalog_meta_get(struct cfs_catalog *c, const char *key, struct cfs_buf *out);

/* Iteration in key order; a non-zero return from cb stops and is returned. */
typedef int (*cfs_catalog_blob_cb)(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud);
typedef int (*cfs_catalog_pack_cb)(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud);
typedef int (*cfs_catalog_kv_cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ud);
int cfs_catalog_blob_foreach(struct cfs_catalog *c, cfs_catalog_blob_cb cb, void *ud);
int cfs_catalog_pack_foreach(struct cfs_catalog *c, cfs_catalog_pack_cb cb, void *ud);
/* key = 32-byte snapshot id, val = manifest bytes. */
int cfs_catalog_snapshot_foreach(struct cfs_catalog *c, cfs_catalog_kv_cb cb, void *ud);
/* Meta keys starting with prefix. */
int cfs_catalog_meta_foreach(struct cfs_catalog *c, const char *prefix, cfs_catalog_kv_cb cb, void *ud);

/*
 * Blob look-ups in ascending id order (prune judging a condemned pack's
 * entries, sorted): one iterator seeks from key to key, so each block of
 * the catalog is read once, where point reads of a cold catalog read one
 * at random for each id. Answers as cfs_catalog_blob_get(), in any order;
 * the view is the catalog as it was at cfs_catalog_cursor_new(). One
 * thread at a time.
 */
struct cfs_catalog_cursor;
int cfs_catalog_cursor_new(struct cfs_catalog *c, struct cfs_catalog_cursor **ret);
struct cfs_catalog_cursor *cfs_catalog_cursor_free(struct cfs_catalog_cursor *cur); /* accepts NULL */
CFS_DEFINE_FREEP(struct cfs_catalog_cursor, cfs_catalog_cursor_free)
int cfs_catalog_cursor_blob_get(struct cfs_catalog_cursor *cur, const struct cfs_id *id, struct cfs_blob_loc *ret);

/* Write batches. */
struct cfs_catalog_batch;
int cfs_catalog_batch_new(struct cfs_catalog_batch **ret);
struct cfs_catalog_batch *cfs_catalog_batch_free(struct cfs_catalog_batch *b);
CFS_DEFINE_FREEP(struct cfs_catalog_batch, cfs_catalog_batch_free)
void cfs_catalog_batch_put_blob(struct cfs_catalog_batch *b, const struct cfs_id *id,
				const struct cfs_blob_loc *loc);
void cfs_catalog_batch_put_pack(struct cfs_catalog_batch *b, const struct cfs_id *pack,
				const struct cfs_pack_info *info);
void cfs_catalog_batch_put_snapshot(struct cfs_catalog_batch *b, const struct cfs_id *id,
				    const void *manifest, size_t n);
void cfs_catalog_batch_delete_snapshot(struct cfs_catalog_batch *b, const struct cfs_id *id);
/* Forget a blob's location / a pack (repair: data the store no longer has). */
void cfs_catalog_batch_delete_blob(struct cfs_catalog_batch *b, const struct cfs_id *id);
void cfs_catalog_batch_delete_pack(struct cfs_catalog_batch *b, const struct cfs_id *pack);
void cfs_catalog_batch_put_meta(struct cfs_catalog_batch *b, const char *key, const void *p, size_t n);
void cfs_catalog_batch_delete_meta(struct cfs_catalog_batch *b, const char *key);
size_t cfs_catalog_batch_count(const struct cfs_catalog_batch *b);
/* Apply atomically and durably (sync). The batch is left empty. -EIO (or
 * -ENOSPC, ... as above) on failure: nothing applied. */
int cfs_catalog_commit(struct cfs_catalog *c, struct cfs_catalog_batch *b);

/*
 * A set of 32-byte ids for sets as large as a repository (prune's
 * reachable blobs) in memory bounded by settings (src/catalog/idstore.c):
 * up to mem_ids ids in memory alone (64 bytes an id at most, reserved up
 * front), beyond that on disk in dir (~24 MiB of memory then, whatever the
 * set's size). Scratch: dir is emptied at creation and removed at free;
 * nothing is durable. One thread at a time.
 */
struct cfs_catalog_idstore;
int cfs_catalog_idstore_new(const char *dir, size_t mem_ids, struct cfs_catalog_idstore **ret);
struct cfs_catalog_idstore *cfs_catalog_idstore_free(struct cfs_catalog_idstore *s); /* accepts NULL */
CFS_DEFINE_FREEP(struct cfs_catalog_idstore, cfs_catalog_idstore_free)
/* 1 when added, 0 when it was in the set already, < 0 on error. */
int cfs_catalog_idstore_add(struct cfs_catalog_idstore *s, const struct cfs_id *id);
/* 1 in the set, 0 not, < 0 on error. */
int cfs_catalog_idstore_contains(struct cfs_catalog_idstore *s, const struct cfs_id *id);
/* As add, without saying whether it was new: once the set spilled to disk
 * it does not look there (a write alone), for ids whose newness nothing
 * depends on (the data blobs prune marks). Not counted. 0 or < 0. */
int cfs_catalog_idstore_put(struct cfs_catalog_idstore *s, const struct cfs_id *id);
/* As contains, fast for ids asked in ascending byte order (a walk through
 * the set beside a catalog scan); any order is answered right. */
int cfs_catalog_idstore_contains_sorted(struct cfs_catalog_idstore *s, const struct cfs_id *id);
/* Ids cfs_catalog_idstore_add() added (each counted once). */
uint64_t cfs_catalog_idstore_count(const struct cfs_catalog_idstore *s);
