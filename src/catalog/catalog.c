/* SPDX-License-Identifier: MIT */
/*
 * catalog.c — the repository's local index on RocksDB (the only RocksDB user).
 *
 * The catalog is a cache of the object store plus local state; it can always
 * be rebuilt, so a damaged value is reported (-EPROTO), never repaired here.
 *
 * Column families and key/value layout (all integers little-endian; changing
 * any value layout needs a rebuild of existing catalogs, so treat as frozen):
 *
 *   default    unused; RocksDB requires it to exist.
 *   blobs      key: blob id (32 bytes)
 *              value (56 bytes):
 *                 0 32  pack id
 *                32  8  offset of the blob in the pack, u64
 *                40  4  stored_len (bytes in the pack), u32
 *                44  4  raw_len (plaintext length), u32
 *                48  1  type (enum cfs_blob_type)
 *                49  1  codec (enum cfs_codec)
 *                50  2  reserved, zero (a reader rejects non-zero)
 *                52  4  dictionary number (codec 2), else 0
 *   packs      key: pack id (32 bytes)
 *              value (12 bytes): size u64 | blob count u32
 *   snapshots  key: snapshot id (32 bytes); value: plaintext manifest bytes
 *   meta       key: UTF-8 string without its NUL; value: opaque bytes
 *
 * Retired column families, which catalogs written by older versions still
 * have: "trees" (plaintext trees; written and read by nobody but the unit
 * tests, removed in issue 12). RocksDB opens a database only with every
 * column family it has named, so an open names them too, and a primary
 * drops them.
 *
 * A blobs/packs value of the wrong size, or a blobs/packs/snapshots key that
 * is not 32 bytes, is malformed: -EPROTO.
 *
 * Memory is bounded by settings, not by repository size: one shared 32 MiB
 * LRU block cache for every column family, 16 MiB memtables with a 64 MiB
 * cap over all of them, 256 open files, full scans that bypass the block
 * cache, and at most two background threads.
 *
 * Threading: struct cfs_catalog is immutable after open (RocksDB handles and
 * option objects are only read), so reads and commits may come from several
 * threads. A struct cfs_catalog_batch is owned by one thread.
 */
#include <fcntl.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "catalog/catalog-internal.h"
#include "chronofs/compress.h"
#include "chronofs/fault.h"
#include "chronofs/util.h"

#define BLOB_LOC_SIZE 56
#define PACK_INFO_SIZE 12

#define CACHE_BYTES (32u << 20) /* default; cfs_catalog_set_cache_budget() */
/* Memtables: small, so that a writer's memory does not grow with the number
 * of blobs a run adds (a 4 MiB memtable holds ~30,000 blob entries; flushes
 * and compactions run in RocksDB's background threads). */
#define WRITE_BUFFER_BYTES (4u << 20)
/* Caps memtables over all five column families (5 x 2 x 4 MiB otherwise). */
#define DB_WRITE_BUFFER_BYTES (16u << 20)
/* Forces flushes of quiet column families so the WAL cannot grow unbounded. */
#define MAX_TOTAL_WAL_BYTES (64u << 20)
#define MAX_OPEN_FILES 256
#define KEEP_LOG_FILES 2
#define MAX_LOG_FILE_BYTES (1u << 20)
#define BACKGROUND_THREADS 2
#define BLOOM_BITS_PER_KEY 10
/* RocksDB's own LOG file gets fatal errors only: its errors reach us as
 * return values anyway, and when the cache's disk is full a second failed
 * write to that LOG aborts the process (an assertion in the RocksDB 7.8
 * Debian ships: WritableFileWriter::AssertFalseAndGetStatusForPrevError),
 * seen with 9-10 MiB tmpfs caches at WARN level. */
#define INFO_LOG_LEVEL_FATAL 4 /* rocksdb::InfoLogLevel::FATAL_LEVEL */

/* A reused batch keeps its buffer unless it grew past this. */
#define BATCH_KEEP_BYTES (1u << 20)

static const char *const cf_names[_CFS_CATALOG_CF_MAX] = {
	[CFS_CATALOG_CF_DEFAULT] = "default",
	[CFS_CATALOG_CF_BLOBS] = "blobs",
	[CFS_CATALOG_CF_PACKS] = "packs",
	[CFS_CATALOG_CF_SNAPSHOTS] = "snapshots",
	[CFS_CATALOG_CF_META] = "meta",
};

static const char *const retired_cf_names[] = {"trees"};
#define CF_OPEN_MAX (_CFS_CATALOG_CF_MAX + ARRAY_SIZE(retired_cf_names))

struct cfs_catalog {
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[_CFS_CATALOG_CF_MAX];
	/* Options of the DB and of every column family but blobs. The block
	 * based table factories inside the options hold (shared) references to
	 * the cache and, for blob_opts, the bloom filter policy, which they
	 * release when destroyed. */
	rocksdb_options_t *opts;
	rocksdb_options_t *blob_opts;
	rocksdb_cache_t *cache; /* our reference to the shared block cache */
	rocksdb_readoptions_t *read_opts;
	rocksdb_readoptions_t *scan_opts; /* fill_cache = 0: scans must not evict hot blocks */
	rocksdb_writeoptions_t *write_opts; /* sync = 1 */
	bool secondary; /* read-only view of another process's catalog */
};

enum batch_op {
	BATCH_PUT,
	BATCH_DELETE,
};

/* A batch is recorded in a neutral form (the header's batch API does not
 * know the catalog, and a rocksdb_writebatch_t needs its column family
 * handles): a sequence of records, each a struct batch_rec copied in
 * unaligned, followed by klen key bytes and vlen value bytes. */
struct batch_rec {
	uint8_t op;
	uint8_t cf;
	size_t klen;
	size_t vlen;
};

struct cfs_catalog_batch {
	struct cfs_buf recs; /* owned */
	size_t count;
	int err; /* sticky: the first failed put; commit returns it */
};

/* RocksDB reports a held LOCK file as an IOError:
 *   "While lock file: <dir>/LOCK: Resource temporarily unavailable"
 *       when another process holds it (fcntl F_SETLK failed), and
 *   "lock hold by current process, acquire time ...: <dir>/LOCK: No locks available"
 *       when this process already has the catalog open.
 * Matching the fixed wording rather than a bare "lock" keeps unrelated
 * errors (a path containing "lock", "block checksum mismatch") at -EIO. */
static bool is_lock_error(const char *msg)
{
	return strstr(msg, "While lock file") || strstr(msg, "lock hold by current process");
}

/*
 * RocksDB reports failures as text ("IO error: While appending to file:
 * <path>: No space left on device"); the errno of the system call is only
 * in the wording. The conditions a user can act on get their own errno, so
 * that a full cache disk says ENOSPC, not "Input/output error"; anything
 * else is dflt. The mapping is in one place for every RocksDB call.
 */
static const struct {
	const char *text;
	int error;
} rocks_errors[] = {
	{"No space left on device", -ENOSPC},
	{"Disk quota exceeded", -EDQUOT},
	{"Read-only file system", -EROFS},
	{"Permission denied", -EACCES},
	{"Too many open files", -EMFILE},
};

int cfs_catalog_error_from_text(const char *msg, int dflt)
{
	for (size_t i = 0; msg && i < ARRAY_SIZE(rocks_errors); i++)
		if (strstr(msg, rocks_errors[i].text))
			return rocks_errors[i].error;
	return dflt;
}

/* The errno of a RocksDB error string (which it frees). */
static int rocks_error(char *err, int dflt)
{
	int r = cfs_catalog_error_from_text(err, dflt);
	rocksdb_free(err);
	return r;
}

/*
 * Space a catalog open needs at the least: RocksDB writes its info log
 * header (the options dump, which no log level silences), MANIFEST and
 * OPTIONS files. With less, the RocksDB 7.8 that Debian ships does not fail
 * cleanly: a failed write of that header is followed by an assertion
 * (abort) in WritableFileWriter (a 64 KiB tmpfs). Refusing with -ENOSPC
 * first turns that into an error the caller can name; from 1 MiB up, every
 * tmpfs size tried (1.1-8 MiB) failed cleanly with ENOSPC (t0018).
 */
#define MIN_FREE_BYTES (1u << 20)

/* Create dir if needed and make sure nobody but us can look inside: the
 * catalog lists every blob and holds plaintext manifests. */
static int prepare_dir(const char *dir)
{
	int r = cfs_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		return -errno;
	struct statvfs vfs;
	if (fstatvfs(fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < MIN_FREE_BYTES)
		return -ENOSPC;
	return 0;
}

struct cfs_catalog *cfs_catalog_free(struct cfs_catalog *c)
{
	if (!c)
		return NULL;
	/*
	 * A primary flushes its memtables on close: otherwise the data of the
	 * last run stays in the WAL, and every reader's secondary instance
	 * replays it into memory of its own (tens of MiB after a big backup).
	 * Best effort: a failed flush loses nothing, the WAL still has it.
	 */
	if (c->db && !c->secondary) {
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		rocksdb_flushoptions_set_wait(fo, 1);
		for (size_t i = 0; i < ARRAY_SIZE(c->cf); i++) {
			char *err = NULL;
			if (c->cf[i])
				rocksdb_flush_cf(c->db, fo, c->cf[i], &err);
			rocksdb_free(err);
		}
		rocksdb_flushoptions_destroy(fo);
	}
	/* Handles go before the DB: RocksDB requires it. */
	for (size_t i = 0; i < ARRAY_SIZE(c->cf); i++)
		if (c->cf[i])
			rocksdb_column_family_handle_destroy(c->cf[i]);
	if (c->db)
		rocksdb_close(c->db);
	if (c->opts)
		rocksdb_options_destroy(c->opts);
	if (c->blob_opts)
		rocksdb_options_destroy(c->blob_opts);
	if (c->cache)
		rocksdb_cache_destroy(c->cache);
	if (c->read_opts)
		rocksdb_readoptions_destroy(c->read_opts);
	if (c->scan_opts)
		rocksdb_readoptions_destroy(c->scan_opts);
	if (c->write_opts)
		rocksdb_writeoptions_destroy(c->write_opts);
	free(c);
	return NULL;
}

/* Build c->opts and c->blob_opts. The RocksDB C API has no allocation
 * failure reporting (it throws), so these cannot fail visibly. */
static size_t cache_budget = CACHE_BYTES;

void cfs_catalog_set_cache_budget(size_t bytes)
{
	__atomic_store_n(&cache_budget, bytes, __ATOMIC_RELAXED);
}

static void setup_options(struct cfs_catalog *c)
{
	c->cache = rocksdb_cache_create_lru(__atomic_load_n(&cache_budget, __ATOMIC_RELAXED));

	c->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(c->opts, 1);
	rocksdb_options_set_create_missing_column_families(c->opts, 1);
	rocksdb_options_increase_parallelism(c->opts, BACKGROUND_THREADS);
	/* Table files are opened on the opening thread: RocksDB's default (16
	 * threads per column family and version) started about 400 threads in
	 * every open of a small catalog, a third of what `chronoctl snapshot
	 * list` cost (102 -> 70 ms). */
	rocksdb_options_set_max_file_opening_threads(c->opts, 1);
	rocksdb_options_set_write_buffer_size(c->opts, WRITE_BUFFER_BYTES);
	rocksdb_options_set_db_write_buffer_size(c->opts, DB_WRITE_BUFFER_BYTES);
	rocksdb_options_set_max_total_wal_size(c->opts, MAX_TOTAL_WAL_BYTES);
	rocksdb_options_set_max_open_files(c->opts, MAX_OPEN_FILES);
	rocksdb_options_set_keep_log_file_num(c->opts, KEEP_LOG_FILES);
	rocksdb_options_set_max_log_file_size(c->opts, MAX_LOG_FILE_BYTES);
	rocksdb_options_set_info_log_level(c->opts, INFO_LOG_LEVEL_FATAL);

	/* The table factory copies the table options (sharing the cache and
	 * the filter), so the table options objects can go right away. */
	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(t, c->cache);
	rocksdb_options_set_block_based_table_factory(c->opts, t);
	rocksdb_block_based_options_destroy(t);

	/* Point lookups of absent blob ids are the common case (dedup misses):
	 * a bloom filter answers most of them without reading a data block. */
	c->blob_opts = rocksdb_options_create_copy(c->opts);
	t = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(t, c->cache);
	/* Takes ownership of the filter policy. */
	rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(BLOOM_BITS_PER_KEY));
	rocksdb_options_set_block_based_table_factory(c->blob_opts, t);
	rocksdb_block_based_options_destroy(t);

	c->read_opts = rocksdb_readoptions_create();
	c->scan_opts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(c->scan_opts, 0);
	c->write_opts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(c->write_opts, 1);
}

/* Whether the database in dir has column family name (false also when
 * there is no database yet, or it cannot be listed: the open says why). */
static bool has_cf(const rocksdb_options_t *opts, const char *dir, const char *name)
{
	char *err = NULL;
	size_t n = 0;
	char **v = rocksdb_list_column_families(opts, dir, &n, &err);
	bool found = false;
	for (size_t i = 0; v && i < n && !found; i++)
		found = strcmp(v[i], name) == 0;
	if (v)
		rocksdb_list_column_families_destroy(v, n);
	rocksdb_free(err);
	return found;
}

/*
 * Open the database in dir: as the primary (secondary_dir NULL), or as a
 * secondary instance keeping its own files in secondary_dir.
 */
static int open_db(const char *dir, const char *secondary_dir, struct cfs_catalog **ret)
{
	if (!dir || !ret)
		return -EINVAL;
	int r = prepare_dir(secondary_dir ? secondary_dir : dir);
	if (r < 0)
		return r;

	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	setup_options(c);
	if (secondary_dir) {
		/* A secondary must not create anything in the primary's
		 * directory and must keep every table file open (RocksDB's
		 * requirement: the primary may delete files the secondary still
		 * reads). */
		rocksdb_options_set_create_if_missing(c->opts, 0);
		rocksdb_options_set_create_missing_column_families(c->opts, 0);
		rocksdb_options_set_max_open_files(c->opts, -1);
		rocksdb_options_set_max_open_files(c->blob_opts, -1);
		c->secondary = true;
	}

	/* Ours, then the retired ones the database still has. */
	const char *names[CF_OPEN_MAX];
	const rocksdb_options_t *cf_opts[CF_OPEN_MAX];
	rocksdb_column_family_handle_t *handles[CF_OPEN_MAX] = {0};
	size_t n = 0;
	for (; n < _CFS_CATALOG_CF_MAX; n++) {
		names[n] = cf_names[n];
		cf_opts[n] = n == CFS_CATALOG_CF_BLOBS ? c->blob_opts : c->opts;
	}
	for (size_t i = 0; i < ARRAY_SIZE(retired_cf_names); i++)
		if (has_cf(c->opts, dir, retired_cf_names[i])) {
			names[n] = retired_cf_names[i];
			cf_opts[n++] = c->opts;
		}

	char *err = NULL;
	if (secondary_dir)
		c->db = rocksdb_open_as_secondary_column_families(c->opts, dir, secondary_dir, (int)n, names, cf_opts,
								  handles, &err);
	else
		c->db = rocksdb_open_column_families(c->opts, dir, (int)n, names, cf_opts, handles, &err);
	if (err) {
		if (secondary_dir && (strstr(err, "does not exist") || strstr(err, "No such file")))
			r = -ENOENT; /* no catalog there yet is the common reason */
		else
			r = is_lock_error(err) ? -EBUSY : cfs_catalog_error_from_text(err, -EIO);
		rocksdb_free(err);
		/* On failure the handles array is not filled; do not destroy
		 * whatever it holds. */
		if (c->db) {
			rocksdb_close(c->db);
			c->db = NULL;
		}
		return r;
	}
	if (!c->db)
		return -EIO;
	memcpy(c->cf, handles, sizeof(c->cf));
	/* A retired column family goes with its contents; a failure leaves it
	 * for the next open (it costs a little disk, nothing else). A
	 * secondary cannot drop anything: its primary does. */
	for (size_t i = _CFS_CATALOG_CF_MAX; i < n; i++) {
		if (!secondary_dir) {
			rocksdb_drop_column_family(c->db, handles[i], &err);
			rocksdb_free(err);
			err = NULL;
		}
		rocksdb_column_family_handle_destroy(handles[i]);
	}

	*ret = TAKE_PTR(c);
	return 0;
}

int cfs_catalog_open(const char *dir, struct cfs_catalog **ret)
{
	return open_db(dir, NULL, ret);
}

int cfs_catalog_open_secondary(const char *dir, const char *secondary_dir, struct cfs_catalog **ret)
{
	if (!secondary_dir)
		return -EINVAL;
	return open_db(dir, secondary_dir, ret);
}

int cfs_catalog_catch_up(struct cfs_catalog *c)
{
	if (!c)
		return -EINVAL;
	if (!c->secondary)
		return 0;
	char *err = NULL;
	rocksdb_try_catch_up_with_primary(c->db, &err);
	if (err)
		return rocks_error(err, -EIO);
	return 0;
}

/* Point read of one key. On success *ret is a rocksdb-allocated copy the
 * caller frees with rocksdb_free(). */
static int get_raw(struct cfs_catalog *c, enum cfs_catalog_cf cf, const void *key, size_t klen,
		   char **ret, size_t *ret_len)
{
	char *err = NULL;
	size_t vlen = 0;
	char *v = rocksdb_get_cf(c->db, c->read_opts, c->cf[cf], key, klen, &vlen, &err);
	if (err) {
		rocksdb_free(v);
		return rocks_error(err, -EIO);
	}
	if (!v)
		return -ENOENT;
	*ret = v;
	*ret_len = vlen;
	return 0;
}

static void encode_blob_loc(const struct cfs_blob_loc *loc, uint8_t out[BLOB_LOC_SIZE])
{
	memcpy(out, loc->pack.b, CFS_ID_SIZE);
	cfs_put_le64(out + 32, loc->offset);
	cfs_put_le32(out + 40, loc->stored_len);
	cfs_put_le32(out + 44, loc->raw_len);
	out[48] = loc->type;
	out[49] = loc->codec;
	memset(out + 50, 0, 2);
	cfs_put_le32(out + 52, loc->dict);
}

static int decode_blob_loc(const void *p, size_t n, struct cfs_blob_loc *ret)
{
	const uint8_t *b = p;
	if (n != BLOB_LOC_SIZE || b[50] || b[51])
		return -EPROTO;
	memcpy(ret->pack.b, b, CFS_ID_SIZE);
	ret->offset = cfs_get_le64(b + 32);
	ret->stored_len = cfs_get_le32(b + 40);
	ret->raw_len = cfs_get_le32(b + 44);
	ret->type = b[48];
	ret->codec = b[49];
	ret->dict = cfs_get_le32(b + 52);
	/* A dictionary number exactly with the dictionary codec. */
	if ((ret->codec == CFS_CODEC_ZSTD_DICT) != (ret->dict != 0))
		return -EPROTO;
	return 0;
}

static void encode_pack_info(const struct cfs_pack_info *info, uint8_t out[PACK_INFO_SIZE])
{
	cfs_put_le64(out, info->size);
	cfs_put_le32(out + 8, info->count);
}

static int decode_pack_info(const void *p, size_t n, struct cfs_pack_info *ret)
{
	if (n != PACK_INFO_SIZE)
		return -EPROTO;
	ret->size = cfs_get_le64(p);
	ret->count = cfs_get_le32((const uint8_t *)p + 8);
	return 0;
}

int cfs_catalog_blob_get(struct cfs_catalog *c, const struct cfs_id *id, struct cfs_blob_loc *ret)
{
	if (!c || !id || !ret)
		return -EINVAL;
	char *v;
	size_t n;
	int r = get_raw(c, CFS_CATALOG_CF_BLOBS, id->b, CFS_ID_SIZE, &v, &n);
	if (r < 0)
		return r;
	struct cfs_blob_loc loc;
	r = decode_blob_loc(v, n, &loc);
	rocksdb_free(v);
	if (r < 0)
		return r;
	*ret = loc;
	return 0;
}

int cfs_catalog_pack_get(struct cfs_catalog *c, const struct cfs_id *pack, struct cfs_pack_info *ret)
{
	if (!c || !pack || !ret)
		return -EINVAL;
	char *v;
	size_t n;
	int r = get_raw(c, CFS_CATALOG_CF_PACKS, pack->b, CFS_ID_SIZE, &v, &n);
	if (r < 0)
		return r;
	struct cfs_pack_info info;
	r = decode_pack_info(v, n, &info);
	rocksdb_free(v);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

/* Copy a value into out (reset first). On failure out is left empty. */
static int get_into_buf(struct cfs_catalog *c, enum cfs_catalog_cf cf, const void *key, size_t klen,
			struct cfs_buf *out)
{
	char *v;
	size_t n;
	cfs_buf_reset(out);
	int r = get_raw(c, cf, key, klen, &v, &n);
	if (r < 0)
		return r;
	r = cfs_buf_append(out, v, n);
	rocksdb_free(v);
	return r;
}

int cfs_catalog_snapshot_get(struct cfs_catalog *c, const struct cfs_id *id, struct cfs_buf *out)
{
	if (!c || !id || !out)
		return -EINVAL;
	return get_into_buf(c, CFS_CATALOG_CF_SNAPSHOTS, id->b, CFS_ID_SIZE, out);
}

int cfs_catalog_meta_get(struct cfs_catalog *c, const char *key, struct cfs_buf *out)
{
	if (!c || !key || !out)
		return -EINVAL;
	return get_into_buf(c, CFS_CATALOG_CF_META, key, strlen(key), out);
}

/* Called per key/value by iterate(); a non-zero return stops iteration and
 * becomes iterate()'s result. */
typedef int (*visit_fn)(const char *k, size_t klen, const char *v, size_t vlen, void *ctx);

/* Visit cf in key order, from the first key or, with a prefix, from the
 * first key >= prefix while keys start with it. Iterator errors: -EIO. */
static int iterate(struct cfs_catalog *c, enum cfs_catalog_cf cf, const void *prefix, size_t plen,
		   visit_fn visit, void *ctx)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->db, c->scan_opts, c->cf[cf]);
	int r = 0;
	if (plen)
		rocksdb_iter_seek(it, prefix, plen);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		if (plen && (klen < plen || memcmp(k, prefix, plen) != 0))
			break;
		const char *v = rocksdb_iter_value(it, &vlen);
		r = visit(k, klen, v, vlen, ctx);
		if (r != 0)
			break;
	}
	if (r == 0) {
		char *err = NULL;
		rocksdb_iter_get_error(it, &err);
		if (err)
			r = rocks_error(err, -EIO);
	}
	rocksdb_iter_destroy(it);
	return r;
}

struct user_cb {
	union {
		cfs_catalog_blob_cb blob;
		cfs_catalog_pack_cb pack;
		cfs_catalog_kv_cb kv;
	};
	void *ud;
};

static int visit_blob(const char *k, size_t klen, const char *v, size_t vlen, void *ctx)
{
	struct user_cb *u = ctx;
	struct cfs_id id;
	struct cfs_blob_loc loc;
	if (klen != CFS_ID_SIZE)
		return -EPROTO;
	int r = decode_blob_loc(v, vlen, &loc);
	if (r < 0)
		return r;
	memcpy(id.b, k, CFS_ID_SIZE);
	return u->blob(&id, &loc, u->ud);
}

static int visit_pack(const char *k, size_t klen, const char *v, size_t vlen, void *ctx)
{
	struct user_cb *u = ctx;
	struct cfs_id id;
	struct cfs_pack_info info;
	if (klen != CFS_ID_SIZE)
		return -EPROTO;
	int r = decode_pack_info(v, vlen, &info);
	if (r < 0)
		return r;
	memcpy(id.b, k, CFS_ID_SIZE);
	return u->pack(&id, &info, u->ud);
}

static int visit_snapshot(const char *k, size_t klen, const char *v, size_t vlen, void *ctx)
{
	struct user_cb *u = ctx;
	if (klen != CFS_ID_SIZE)
		return -EPROTO;
	return u->kv(k, klen, v, vlen, u->ud);
}

static int visit_kv(const char *k, size_t klen, const char *v, size_t vlen, void *ctx)
{
	struct user_cb *u = ctx;
	return u->kv(k, klen, v, vlen, u->ud);
}

int cfs_catalog_blob_foreach(struct cfs_catalog *c, cfs_catalog_blob_cb cb, void *ud)
{
	if (!c || !cb)
		return -EINVAL;
	struct user_cb u = {.blob = cb, .ud = ud};
	return iterate(c, CFS_CATALOG_CF_BLOBS, NULL, 0, visit_blob, &u);
}

struct cfs_catalog_cursor {
	rocksdb_iterator_t *it;
};

int cfs_catalog_cursor_new(struct cfs_catalog *c, struct cfs_catalog_cursor **ret)
{
	if (!c || !ret)
		return -EINVAL;
	struct cfs_catalog_cursor *cur = calloc(1, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	/* scan_opts: the blocks it reads are read once, in order; they do
	 * not evict hot ones from the cache. */
	cur->it = rocksdb_create_iterator_cf(c->db, c->scan_opts, c->cf[CFS_CATALOG_CF_BLOBS]);
	*ret = cur;
	return 0;
}

struct cfs_catalog_cursor *cfs_catalog_cursor_free(struct cfs_catalog_cursor *cur)
{
	if (cur) {
		rocksdb_iter_destroy(cur->it);
		free(cur);
	}
	return NULL;
}

/* Where the cursor's key is against id: < 0 before it, 0 at it, > 0 past
 * it or at the end. */
static int cursor_cmp(struct cfs_catalog_cursor *cur, const struct cfs_id *id)
{
	size_t klen = 0;
	if (!rocksdb_iter_valid(cur->it))
		return 1;
	const char *k = rocksdb_iter_key(cur->it, &klen);
	int c = memcmp(k, id->b, CFS_MIN(klen, (size_t)CFS_ID_SIZE));
	return c ? c : klen < CFS_ID_SIZE ? -1 : klen > CFS_ID_SIZE;
}

/* Steps a cursor takes towards an id before it seeks. */
#define CURSOR_STEPS 16

int cfs_catalog_cursor_blob_get(struct cfs_catalog_cursor *cur, const struct cfs_id *id, struct cfs_blob_loc *ret)
{
	if (!cur || !id || !ret)
		return -EINVAL;
	/* An id a few keys ahead is reached by steps, each far cheaper than
	 * a seek (which searches the memtables and every level again): the
	 * bench's forget 20 asks for a quarter of the catalog's ids. The
	 * same id twice (a blob in two condemned packs) needs neither. */
	int c = cursor_cmp(cur, id);
	bool below = c < 0;
	for (int steps = 0; c < 0 && steps < CURSOR_STEPS; steps++) {
		rocksdb_iter_next(cur->it);
		c = cursor_cmp(cur, id);
	}
	if (c != 0 && !(below && c > 0 && rocksdb_iter_valid(cur->it))) {
		rocksdb_iter_seek(cur->it, (const char *)id->b, CFS_ID_SIZE);
		c = cursor_cmp(cur, id);
	}
	if (!rocksdb_iter_valid(cur->it)) {
		char *err = NULL;
		rocksdb_iter_get_error(cur->it, &err);
		if (err)
			return rocks_error(err, -EIO);
	}
	if (c != 0)
		return -ENOENT; /* stepped or sought past it: not in the catalog */
	size_t vlen;
	struct cfs_blob_loc loc;
	const char *v = rocksdb_iter_value(cur->it, &vlen);
	int r = decode_blob_loc(v, vlen, &loc);
	if (r == 0)
		*ret = loc;
	return r;
}

int cfs_catalog_pack_foreach(struct cfs_catalog *c, cfs_catalog_pack_cb cb, void *ud)
{
	if (!c || !cb)
		return -EINVAL;
	struct user_cb u = {.pack = cb, .ud = ud};
	return iterate(c, CFS_CATALOG_CF_PACKS, NULL, 0, visit_pack, &u);
}

int cfs_catalog_snapshot_foreach(struct cfs_catalog *c, cfs_catalog_kv_cb cb, void *ud)
{
	if (!c || !cb)
		return -EINVAL;
	struct user_cb u = {.kv = cb, .ud = ud};
	return iterate(c, CFS_CATALOG_CF_SNAPSHOTS, NULL, 0, visit_snapshot, &u);
}

int cfs_catalog_meta_foreach(struct cfs_catalog *c, const char *prefix, cfs_catalog_kv_cb cb, void *ud)
{
	if (!c || !cb)
		return -EINVAL;
	struct user_cb u = {.kv = cb, .ud = ud};
	return iterate(c, CFS_CATALOG_CF_META, prefix, prefix ? strlen(prefix) : 0, visit_kv, &u);
}

int cfs_catalog_batch_new(struct cfs_catalog_batch **ret)
{
	if (!ret)
		return -EINVAL;
	struct cfs_catalog_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

struct cfs_catalog_batch *cfs_catalog_batch_free(struct cfs_catalog_batch *b)
{
	if (!b)
		return NULL;
	cfs_buf_release(&b->recs);
	free(b);
	return NULL;
}

static void batch_reset(struct cfs_catalog_batch *b)
{
	if (b->recs.cap > BATCH_KEEP_BYTES)
		cfs_buf_release(&b->recs);
	else
		cfs_buf_reset(&b->recs);
	b->count = 0;
	b->err = 0;
}

/* Append one record, all or nothing. After the first failure the batch only
 * remembers the error: a commit must not apply a batch with a hole in it. */
static void batch_add(struct cfs_catalog_batch *b, enum batch_op op, enum cfs_catalog_cf cf,
		      const void *key, size_t klen, const void *val, size_t vlen)
{
	if (b->err)
		return;
	struct batch_rec rec = {.op = op, .cf = cf, .klen = klen, .vlen = vlen};
	if (klen > SIZE_MAX - sizeof(rec) || vlen > SIZE_MAX - sizeof(rec) - klen) {
		b->err = -ENOMEM;
		return;
	}
	int r = cfs_buf_reserve(&b->recs, sizeof(rec) + klen + vlen);
	if (r < 0) {
		b->err = r;
		return;
	}
	/* Cannot fail after the reserve. */
	(void)cfs_buf_append(&b->recs, &rec, sizeof(rec));
	(void)cfs_buf_append(&b->recs, key, klen);
	(void)cfs_buf_append(&b->recs, val, vlen);
	b->count++;
}

void cfs_catalog_batch_put_raw_for_testing(struct cfs_catalog_batch *b, enum cfs_catalog_cf cf,
					   const void *key, size_t klen, const void *val, size_t vlen)
{
	if ((unsigned)cf >= _CFS_CATALOG_CF_MAX) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	batch_add(b, BATCH_PUT, cf, key, klen, val, vlen);
}

void cfs_catalog_batch_put_blob(struct cfs_catalog_batch *b, const struct cfs_id *id,
				const struct cfs_blob_loc *loc)
{
	uint8_t v[BLOB_LOC_SIZE];
	encode_blob_loc(loc, v);
	batch_add(b, BATCH_PUT, CFS_CATALOG_CF_BLOBS, id->b, CFS_ID_SIZE, v, sizeof(v));
}

void cfs_catalog_batch_put_pack(struct cfs_catalog_batch *b, const struct cfs_id *pack,
				const struct cfs_pack_info *info)
{
	uint8_t v[PACK_INFO_SIZE];
	encode_pack_info(info, v);
	batch_add(b, BATCH_PUT, CFS_CATALOG_CF_PACKS, pack->b, CFS_ID_SIZE, v, sizeof(v));
}

void cfs_catalog_batch_put_snapshot(struct cfs_catalog_batch *b, const struct cfs_id *id,
				    const void *manifest, size_t n)
{
	batch_add(b, BATCH_PUT, CFS_CATALOG_CF_SNAPSHOTS, id->b, CFS_ID_SIZE, manifest, n);
}

void cfs_catalog_batch_delete_snapshot(struct cfs_catalog_batch *b, const struct cfs_id *id)
{
	batch_add(b, BATCH_DELETE, CFS_CATALOG_CF_SNAPSHOTS, id->b, CFS_ID_SIZE, NULL, 0);
}

void cfs_catalog_batch_delete_blob(struct cfs_catalog_batch *b, const struct cfs_id *id)
{
	batch_add(b, BATCH_DELETE, CFS_CATALOG_CF_BLOBS, id->b, CFS_ID_SIZE, NULL, 0);
}

void cfs_catalog_batch_delete_pack(struct cfs_catalog_batch *b, const struct cfs_id *pack)
{
	batch_add(b, BATCH_DELETE, CFS_CATALOG_CF_PACKS, pack->b, CFS_ID_SIZE, NULL, 0);
}

void cfs_catalog_batch_put_meta(struct cfs_catalog_batch *b, const char *key, const void *p, size_t n)
{
	if (!key) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	batch_add(b, BATCH_PUT, CFS_CATALOG_CF_META, key, strlen(key), p, n);
}

void cfs_catalog_batch_delete_meta(struct cfs_catalog_batch *b, const char *key)
{
	if (!key) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	batch_add(b, BATCH_DELETE, CFS_CATALOG_CF_META, key, strlen(key), NULL, 0);
}

size_t cfs_catalog_batch_count(const struct cfs_catalog_batch *b)
{
	return b ? b->count : 0;
}

/* Apply the batch. It is emptied whatever the outcome, so a failed batch
 * can be rebuilt and committed again: on a sticky error (-ENOMEM, -EINVAL)
 * nothing is written and that error is returned; on a RocksDB write failure
 * nothing is applied (the write is atomic) and -EIO (-ENOSPC, ...: see
 * rocks_errors) is returned. */
int cfs_catalog_commit(struct cfs_catalog *c, struct cfs_catalog_batch *b)
{
	if (!c || !b)
		return -EINVAL;
	if (c->secondary) {
		batch_reset(b);
		return -EROFS;
	}
	int r = CFS_FAULT("catalog.commit");
	if (r < 0) {
		batch_reset(b);
		return r;
	}
	r = b->err;
	if (r < 0 || b->count == 0) {
		batch_reset(b);
		return r;
	}

	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	const uint8_t *p = b->recs.data, *end = p + b->recs.len;
	while (p < end) {
		struct batch_rec rec;
		memcpy(&rec, p, sizeof(rec));
		const char *k = (const char *)p + sizeof(rec);
		const char *v = k + rec.klen;
		if (rec.op == BATCH_PUT)
			rocksdb_writebatch_put_cf(wb, c->cf[rec.cf], k, rec.klen, v, rec.vlen);
		else
			rocksdb_writebatch_delete_cf(wb, c->cf[rec.cf], k, rec.klen);
		p = (const uint8_t *)v + rec.vlen;
	}

	char *err = NULL;
	rocksdb_write(c->db, c->write_opts, wb, &err);
	rocksdb_writebatch_destroy(wb);
	batch_reset(b);
	return err ? rocks_error(err, -EIO) : 0;
}
