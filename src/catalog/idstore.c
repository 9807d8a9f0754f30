/* SPDX-License-Identifier: MIT */
/*
 * idstore.c — a set of 32-byte ids kept on disk (RocksDB), for sets as
 * large as a repository in memory bounded by settings: prune's reachable
 * blobs (src/repo/prune.c). Scratch state, never durable: no WAL, no
 * sync; the directory is emptied at creation and removed at free, and a
 * process killed meanwhile leaves it for the next creation to empty.
 *
 * Adds are gathered in memory (an idset and a write batch) and written
 * PENDING_MAX at a time; a look-up checks the pending ids first, then the
 * database, whose bloom filter answers most misses without a read.
 * Memory: PENDING_MAX ids twice (~4 MiB), an 8 MiB block cache and 8 MiB
 * memtables (two at most), whatever the set's size.
 */
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog-internal.h"
#include "chronofs/idset.h"
#include "chronofs/util.h"

#define PENDING_MAX 65536
#define IDSTORE_CACHE_BYTES (8u << 20)
#define IDSTORE_WRITE_BUFFER_BYTES (8u << 20)

struct cfs_catalog_idstore {
	char *dir; /* owned */
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_cache_t *cache;
	rocksdb_readoptions_t *read_opts;
	rocksdb_writeoptions_t *write_opts;
	rocksdb_writebatch_t *batch;
	struct cfs_idset pending; /* the ids in batch */
	uint64_t count;
};

static int idstore_error(char *err)
{
	int e = cfs_catalog_error_from_text(err, -EIO);
	rocksdb_free(err);
	return e;
}

struct cfs_catalog_idstore *cfs_catalog_idstore_free(struct cfs_catalog_idstore *s)
{
	if (!s)
		return NULL;
	if (s->db)
		rocksdb_close(s->db);
	if (s->opts)
		rocksdb_options_destroy(s->opts);
	if (s->cache)
		rocksdb_cache_destroy(s->cache);
	if (s->read_opts)
		rocksdb_readoptions_destroy(s->read_opts);
	if (s->write_opts)
		rocksdb_writeoptions_destroy(s->write_opts);
	if (s->batch)
		rocksdb_writebatch_destroy(s->batch);
	cfs_idset_release(&s->pending);
	if (s->dir) {
		(void)cfs_rm_rf(s->dir);
		free(s->dir);
	}
	free(s);
	return NULL;
}

int cfs_catalog_idstore_new(const char *dir, struct cfs_catalog_idstore **ret)
{
	_cleanup_(cfs_catalog_idstore_freep) struct cfs_catalog_idstore *s = calloc(1, sizeof(*s));
	char *err = NULL;
	if (!s)
		return -ENOMEM;
	int e = cfs_rm_rf(dir);
	if (e < 0 && e != -ENOENT)
		return e;
	e = cfs_mkdir_p(dir, 0700);
	if (e < 0)
		return e;
	s->dir = strdup(dir);
	if (!s->dir)
		return -ENOMEM;
	s->pending = (struct cfs_idset)CFS_IDSET_INIT;
	s->cache = rocksdb_cache_create_lru(IDSTORE_CACHE_BYTES);
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_write_buffer_size(s->opts, IDSTORE_WRITE_BUFFER_BYTES);
	rocksdb_options_set_max_write_buffer_number(s->opts, 2);
	rocksdb_options_set_max_open_files(s->opts, 64);
	rocksdb_options_set_keep_log_file_num(s->opts, 1);
	rocksdb_options_set_info_log_level(s->opts, 4 /* FATAL: see catalog.c */);
	rocksdb_options_set_max_file_opening_threads(s->opts, 1);
	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(t, s->cache);
	rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
	rocksdb_options_set_block_based_table_factory(s->opts, t);
	rocksdb_block_based_options_destroy(t);
	s->read_opts = rocksdb_readoptions_create();
	s->write_opts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(s->write_opts, 1);
	s->batch = rocksdb_writebatch_create();
	s->db = rocksdb_open(s->opts, dir, &err);
	if (err) {
		s->db = NULL;
		return idstore_error(err);
	}
	*ret = TAKE_PTR(s);
	return 0;
}

static int idstore_flush(struct cfs_catalog_idstore *s)
{
	char *err = NULL;
	if (!cfs_idset_count(&s->pending))
		return 0;
	rocksdb_write(s->db, s->write_opts, s->batch, &err);
	if (err)
		return idstore_error(err);
	rocksdb_writebatch_clear(s->batch);
	cfs_idset_clear(&s->pending);
	return 0;
}

int cfs_catalog_idstore_contains(struct cfs_catalog_idstore *s, const struct cfs_id *id)
{
	char *err = NULL;
	size_t vlen = 0;
	if (cfs_idset_contains(&s->pending, id))
		return 1;
	char *v = rocksdb_get(s->db, s->read_opts, (const char *)id->b, CFS_ID_SIZE, &vlen, &err);
	if (err) {
		rocksdb_free(v);
		return idstore_error(err);
	}
	rocksdb_free(v);
	return v != NULL;
}

int cfs_catalog_idstore_add(struct cfs_catalog_idstore *s, const struct cfs_id *id)
{
	int e = cfs_catalog_idstore_contains(s, id);
	if (e != 0)
		return e < 0 ? e : 0;
	if (cfs_idset_add(&s->pending, id) < 0)
		return -ENOMEM;
	rocksdb_writebatch_put(s->batch, (const char *)id->b, CFS_ID_SIZE, "", 0);
	s->count++;
	if (cfs_idset_count(&s->pending) >= PENDING_MAX) {
		e = idstore_flush(s);
		if (e < 0)
			return e;
	}
	return 1;
}

uint64_t cfs_catalog_idstore_count(const struct cfs_catalog_idstore *s)
{
	return s->count;
}
