/* SPDX-License-Identifier: MIT */
/*
 * idstore.c — a set of 32-byte ids for sets as large as a repository, in
 * memory bounded by settings: prune's reachable blobs (src/repo/prune.c).
 * Scratch state, never durable.
 *
 * The first mem_ids ids live in memory alone (an idset reserved for them
 * up front: 64 bytes an id at most, no second table while it grows), the
 * fast path for most repositories: no database at all. The set that
 * outgrows them spills: its ids go to a RocksDB database in dir (no WAL,
 * no sync), the big table is freed, and from then on adds are gathered
 * PENDING_MAX at a time (fewer if mem_ids is: tests) and written; a
 * look-up checks the pending ids first, then the database, whose bloom
 * filter answers most misses without a read. Memory after a spill:
 * PENDING_MAX ids twice (~8 MiB), an 8 MiB block cache and 8 MiB memtables
 * (two at most), whatever the set's size. dir is emptied at creation and
 * removed at free; a process killed meanwhile leaves it for the next
 * creation to empty.
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
	struct cfs_idset pending; /* before a spill: every id; after: the ids in batch */
	size_t pending_max;       /* ids pending holds before it spills or is written */
	size_t batch_max;         /* pending_max after the spill */
	bool spilled;             /* db holds the ids that are not pending */
	rocksdb_iterator_t *iter; /* cfs_catalog_idstore_contains_sorted(); NULL after a write */
	struct cfs_id last;       /* the id it was last asked */
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
	if (s->iter)
		rocksdb_iter_destroy(s->iter);
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

int cfs_catalog_idstore_new(const char *dir, size_t mem_ids, struct cfs_catalog_idstore **ret)
{
	_cleanup_(cfs_catalog_idstore_freep) struct cfs_catalog_idstore *s = calloc(1, sizeof(*s));
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
	s->pending_max = mem_ids ? mem_ids : 1;
	s->batch_max = s->pending_max < PENDING_MAX ? s->pending_max : PENDING_MAX;
	e = cfs_idset_reserve(&s->pending, s->pending_max);
	if (e < 0)
		return e;
	*ret = TAKE_PTR(s);
	return 0;
}

/* The database, at the first spill. */
static int idstore_open_db(struct cfs_catalog_idstore *s)
{
	char *err = NULL;
	s->cache = rocksdb_cache_create_lru(IDSTORE_CACHE_BYTES);
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_write_buffer_size(s->opts, IDSTORE_WRITE_BUFFER_BYTES);
	rocksdb_options_set_max_write_buffer_number(s->opts, 2);
	rocksdb_options_set_max_open_files(s->opts, 64);
	rocksdb_options_set_keep_log_file_num(s->opts, 1);
	rocksdb_options_set_info_log_level(s->opts, 4 /* FATAL: see catalog.c */);
	rocksdb_options_set_max_file_opening_threads(s->opts, 1);
	/* Most look-ups while marking are of ids not in the set yet: a bloom
	 * filter over each memtable answers them without a skiplist search. */
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(s->opts, 0.1);
	rocksdb_options_set_memtable_whole_key_filtering(s->opts, 1);
	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(t, s->cache);
	rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
	rocksdb_options_set_block_based_table_factory(s->opts, t);
	rocksdb_block_based_options_destroy(t);
	s->read_opts = rocksdb_readoptions_create();
	s->write_opts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(s->write_opts, 1);
	s->batch = rocksdb_writebatch_create();
	s->db = rocksdb_open(s->opts, s->dir, &err);
	if (err) {
		s->db = NULL;
		return idstore_error(err);
	}
	return 0;
}

static int batch_write(struct cfs_catalog_idstore *s)
{
	char *err = NULL;
	if (s->iter) {
		rocksdb_iter_destroy(s->iter);
		s->iter = NULL;
	}
	rocksdb_write(s->db, s->write_opts, s->batch, &err);
	if (err)
		return idstore_error(err);
	rocksdb_writebatch_clear(s->batch);
	return 0;
}

static int spill_cb(const void *id, void *ud)
{
	struct cfs_catalog_idstore *s = ud;
	rocksdb_writebatch_put(s->batch, id, CFS_ID_SIZE, "", 0);
	return (size_t)rocksdb_writebatch_count(s->batch) >= s->batch_max ? batch_write(s) : 0;
}

/* The in-memory set is full: every id to the database, the table freed;
 * from now on ids are pending PENDING_MAX at a time. */
static int idstore_spill(struct cfs_catalog_idstore *s)
{
	int e = idstore_open_db(s);
	if (e == 0)
		e = cfs_idset_foreach(&s->pending, spill_cb, s);
	if (e == 0)
		e = batch_write(s);
	if (e < 0)
		return e;
	cfs_idset_release(&s->pending);
	s->pending_max = s->batch_max;
	s->spilled = true;
	return 0;
}

static int idstore_flush(struct cfs_catalog_idstore *s)
{
	int e = batch_write(s);
	if (e == 0)
		cfs_idset_clear(&s->pending);
	return e;
}

int cfs_catalog_idstore_contains(struct cfs_catalog_idstore *s, const struct cfs_id *id)
{
	char *err = NULL;
	size_t vlen = 0;
	if (cfs_idset_contains(&s->pending, id))
		return 1;
	if (!s->spilled)
		return 0;
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
	if (s->spilled)
		rocksdb_writebatch_put(s->batch, (const char *)id->b, CFS_ID_SIZE, "", 0);
	s->count++;
	if (cfs_idset_count(&s->pending) >= s->pending_max) {
		e = s->spilled ? idstore_flush(s) : idstore_spill(s);
		if (e < 0)
			return e;
	}
	return 1;
}

int cfs_catalog_idstore_put(struct cfs_catalog_idstore *s, const struct cfs_id *id)
{
	if (!s->spilled)
		return cfs_catalog_idstore_add(s, id) < 0 ? -ENOMEM : 0;
	if (cfs_idset_contains(&s->pending, id))
		return 0;
	if (cfs_idset_add(&s->pending, id) < 0)
		return -ENOMEM;
	rocksdb_writebatch_put(s->batch, (const char *)id->b, CFS_ID_SIZE, "", 0);
	return cfs_idset_count(&s->pending) >= s->pending_max ? idstore_flush(s) : 0;
}

/* Steps an iterator takes forward before it seeks instead. */
#define SORTED_STEPS 8

int cfs_catalog_idstore_contains_sorted(struct cfs_catalog_idstore *s, const struct cfs_id *id)
{
	if (cfs_idset_contains(&s->pending, id))
		return 1;
	if (!s->spilled)
		return 0;
	if (cfs_idset_count(&s->pending)) {
		int e = idstore_flush(s); /* the iterator sees the database only */
		if (e < 0)
			return e;
	}
	/* The iterator stands at the first id >= the last one asked. */
	if (!s->iter || memcmp(id->b, s->last.b, CFS_ID_SIZE) < 0) {
		if (!s->iter)
			s->iter = rocksdb_create_iterator(s->db, s->read_opts);
		rocksdb_iter_seek(s->iter, (const char *)id->b, CFS_ID_SIZE);
	} else {
		for (int k = 0; rocksdb_iter_valid(s->iter); k++) {
			size_t klen;
			if (memcmp(rocksdb_iter_key(s->iter, &klen), id->b, CFS_ID_SIZE) >= 0)
				break;
			if (k == SORTED_STEPS) {
				rocksdb_iter_seek(s->iter, (const char *)id->b, CFS_ID_SIZE);
				break;
			}
			rocksdb_iter_next(s->iter);
		}
	}
	s->last = *id;
	size_t klen;
	return rocksdb_iter_valid(s->iter) && memcmp(rocksdb_iter_key(s->iter, &klen), id->b, CFS_ID_SIZE) == 0;
}

uint64_t cfs_catalog_idstore_count(const struct cfs_catalog_idstore *s)
{
	return s->count;
}
