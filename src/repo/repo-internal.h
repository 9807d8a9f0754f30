/* SPDX-License-Identifier: MIT */
/*
 * repo-internal.h — what the repo sources share; tests may include it,
 * other modules must not.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "chronofs/compress.h"
#include "chronofs/idset.h"
#include "chronofs/pack.h"
#include "chronofs/repo.h"

/*
 * config object (frozen, version 1; 64 bytes, integers LE):
 *   0  8  magic "CFSCONF\x01"
 *   8  4  format version (CFS_REPO_FORMAT_VERSION)
 *  12  1  encryption (enum cfs_encryption)
 *  13  1  zstd level
 *  14  2  reserved, 0
 *  16 32  repository id (random)
 *  48  4  chunker min size
 *  52  4  chunker avg size
 *  56  4  chunker max size
 *  60  4  reserved, 0
 * The magic and version come first and never move, so any later version can
 * tell an old binary "newer format" instead of "not a repository".
 */
#define CFS_CONFIG_SIZE 64
#define CFS_CONFIG_MAGIC "CFSCONF\x01"

struct cfs_repo_config {
	uint32_t version;
	enum cfs_encryption encryption;
	int zstd_level;
	struct cfs_id repo_id;
	uint32_t chunk_min, chunk_avg, chunk_max;
};

int cfs_repo_config_encode(const struct cfs_repo_config *c, uint8_t out[CFS_CONFIG_SIZE]);
/* -EMEDIUMTYPE bad magic/short, -EPROTONOSUPPORT newer version, -EPROTO malformed. */
int cfs_repo_config_decode(const void *p, size_t n, struct cfs_repo_config *ret);

/* index/<id> objects: the codec and their layout are in chronofs/pack.h. */

/*
 * names/<hex> object plaintext (sealed with AAD "name"; version 1; <hex> =
 * blob id of the snapshot name, put create-only when the name is taken):
 *   0  8  magic "CFSNAME\x01"
 *   8  4  version = 1
 *  12 32  id of the snapshot the name was reserved for
 */
#define CFS_NAME_MAGIC "CFSNAME\x01"

/* dicts/<hex> objects: the codec and their layout are in chronofs/compress.h. */
/* The first repository format whose writers may use dictionaries. */
#define CFS_REPO_FORMAT_DICTS 2
/* The first repository format whose writers write trees of version 2. */
#define CFS_REPO_FORMAT_TREES2 3
/* Data blobs up to this size are compressed with the dictionary. */
#define CFS_DICT_BLOB_MAX (64u * 1024)

/* The repository's dictionaries (dict.c). */
struct repo_dicts {
	pthread_mutex_t lock;        /* protects everything below but wdict */
	pthread_mutex_t reload_lock; /* one reload of dicts/ at a time; protects seen */
	char **seen;                 /* owned: dicts/ objects already loaded or found bad */
	size_t nseen;
	int64_t reloaded_ns;         /* when a reader last listed dicts/ (cfs_mono_ns) */
	struct cfs_zdict **v;        /* owned: every dictionary loaded */
	char **names;                /* owned: v[i]'s dicts/ object name */
	size_t n, cap;
	/* What new small data blobs are compressed with (one of v, or NULL);
	 * set once, read without the lock (atomic). */
	struct cfs_zdict *_Atomic wdict;
	/* A writer of a repository without a dictionary samples small data
	 * blobs until it has enough to train one. */
	_Atomic bool sampling; /* read outside the lock */
	struct cfs_buf samples;
	size_t *sizes;
	unsigned count, sizes_cap;
	bool training; /* the trainer thread runs (or ran) and is not joined */
	_Atomic bool trainer_busy; /* it runs: small data blobs wait for it */
	pthread_cond_t trained;    /* trainer_busy became false */
	pthread_t trainer;
};

/* The packs being filled: data blobs and trees apart, so that the trees of
 * a snapshot sit together in a few packs (a walk of the parent snapshot,
 * cold, reads them in a few sequential runs, not one seek per directory). */
enum { CFS_REPO_OPEN_DATA, CFS_REPO_OPEN_TREE, CFS_REPO_OPEN_PACKS };
struct repo_open_pack {
	pthread_mutex_t lock;       /* protects pw and up (taken before write_lock) */
	struct cfs_pack_writer *pw; /* owned */
	struct cfs_objstore_upload *up; /* owned: where pw streams its bytes, or NULL */
	struct cfs_idset ids;       /* the blobs in pw; under write_lock */
};

/* A finished pack on its way to the store and the catalog; committed
 * without write_lock, so sealing and claims go on meanwhile. */
struct repo_flight {
	struct repo_flight *next;  /* r->flights; under write_lock */
	struct repo_flight *qnext; /* the uploaders' queue; under uploaders.lock */
	struct cfs_objstore_upload *up; /* owned: the pack's bytes */
	uint64_t size;
	struct cfs_id pack;
	struct cfs_pack_entry *entries; /* owned */
	size_t count;
	struct cfs_idset ids; /* the blobs in the pack, until the catalog has them */
};

/*
 * The uploaders (write.c): a fixed pool of max_flights threads that end
 * flights (write the pack, then index its blobs), started at the first
 * pack that needs one and joined by cfs_repo_free(). Only for a store that
 * takes several transfers at once: with one (a local directory) a pack is
 * ended on the thread that filled it.
 */
struct repo_uploaders {
	pthread_mutex_t lock; /* protects everything below; a leaf: nothing is taken under it */
	pthread_cond_t work;  /* a flight was queued, or stop was set */
	struct repo_flight *head, *tail; /* queued, not taken yet (all of them are in r->flights too) */
	pthread_t *threads;   /* owned: n running uploaders */
	unsigned n;
	bool started;         /* the pool was started (n may be 0 if no thread could be made) */
	bool stop;            /* cfs_repo_free(): leave when the queue is empty */
};

/*
 * What a listing of data/ found, the truth a writer dedups against: every
 * pack with its size, sorted by id, plus the packs a HEAD found later
 * (written by another writer after the listing) in an unsorted tail. It
 * lives for one sync (or a repair), 40 bytes per pack: 4 MB for 100,000
 * packs (1.6 TB of data).
 */
struct repo_listed_pack {
	struct cfs_id id;
	uint64_t size;
};
struct repo_pack_listing {
	struct repo_listed_pack *v; /* owned */
	size_t n, cap, sorted;
	struct cfs_idset absent; /* packs a HEAD did not find (asked once each) */
};
/* List data/ into l (initialised here; release it either way). */
int cfs_repo_listing_fill(struct cfs_repo *r, struct repo_pack_listing *l);
const struct repo_listed_pack *cfs_repo_listing_find(const struct repo_pack_listing *l, const struct cfs_id *id);
void cfs_repo_listing_release(struct repo_pack_listing *l);

/* A pack the repository cannot use (sync): its header cannot be read. */
struct repo_bad_pack {
	struct cfs_id id;
	uint64_t size;
	int error;
};

struct cfs_repo {
	struct cfs_objstore *store;  /* owned */
	struct cfs_catalog *catalog; /* owned */
	struct cfs_crypto *crypto;   /* owned */
	struct cfs_compressor *zc;   /* owned */
	struct cfs_keys keys;
	struct cfs_repo_config config;
	struct cfs_chunker chunker;
	char *cache_dir;  /* owned: <cache>/<repo id hex> */
	int lock_fd;      /* flock on cache_dir/lock */
	char *lock_obj;   /* owned: locks/<hex>, NULL if none put */
	char *secondary_dir; /* owned: a reader's RocksDB secondary dir, removed on free */
	bool writer;

	/* write side: flights, claimed, crypto_w and the open packs' ids are
	 * protected by write_lock (sealed blobs arrive from pipeline threads);
	 * an open pack's writer by its own lock, so that writing blobs to the
	 * store never holds up claims. A blob being
	 * stored is in exactly one of claimed, an open pack's ids or a
	 * flight's ids until the catalog has it.
	 * Lock order: open[i].lock, then write_lock, then uploaders.lock (a
	 * leaf); never two open packs' locks at once. */
	pthread_mutex_t write_lock;
	pthread_cond_t flights_done; /* a flight ended */
	struct cfs_crypto *crypto_w; /* owned: pack headers, under write_lock */
	struct repo_open_pack open[CFS_REPO_OPEN_PACKS];
	struct repo_flight *flights; /* owned: packs being written to the store */
	unsigned nflights, max_flights; /* max: the store's transfers */
	/* The first failure of a pack written in the background: set under
	 * write_lock, read anywhere (atomic), sticky for the repository's
	 * life (no index or manifest may follow a lost pack). */
	_Atomic int flight_error;
	struct repo_uploaders uploaders;
	struct cfs_idset claimed;   /* ids claimed for storing, not yet in a pack */
	struct cfs_buf zbuf, sbuf; /* scratch: compressed, sealed bytes */
	/* read side */
	struct cfs_repo_reader *reader; /* owned: the reader of cfs_repo_get_blob() */
	struct repo_dicts dicts;
	struct cfs_repo_sync_stats sync_stats; /* what synchronising the catalog found */
	/* What the open's listing of data/ found (written during open only):
	 * packs the catalog knows that the store has with another size, and
	 * listed packs whose header cannot be read. Nothing in them is
	 * deduplicated against. */
	struct cfs_idset bad_packs;
	/* Packs a prune condemned (gc.c, from the catalog at every sync):
	 * never deduplicated against, and an index entry in one never
	 * replaces a location (chronofs-repository(5), DELETION). */
	struct cfs_idset condemned;
	struct repo_bad_pack *unreadable; /* owned */
	size_t n_unreadable;
	bool allow_damaged; /* a writer opens despite unreadable packs (repair) */
	/* A writer's memo of the trees whose blob and file blobs it found
	 * usable (write.c, "usable trees"): valid while their generation is
	 * usable_gen, which a loss of data bumps; new marks wait in marks
	 * (under write_lock) for the next commit. */
	uint64_t usable_gen;
	struct cfs_catalog_batch *marks; /* owned */
	/* The trees this writer put since its last snapshot commit (at most
	 * PUT_TREES_MAX; under write_lock): marked usable once that commit
	 * made every blob they name durable. */
	struct cfs_id *put_trees; /* owned */
	size_t n_put_trees, cap_put_trees;
	/* blob_state_locked()'s memo of the last pack found good; under
	 * write_lock */
	struct cfs_id last_good_pack;
	bool have_last_good_pack;
};

/* The AAD each kind of sealed object is sealed with (frozen:
 * chronofs-repository(5), "Sealing"). */
#define CFS_REPO_AAD_INDEX "index"
#define CFS_REPO_AAD_DICT "dict"
#define CFS_REPO_AAD_SNAPSHOT "snapshot"
#define CFS_REPO_AAD_NAME "name"

/* Seal plaintext with crypto (AAD aad) and store it as <dir>/<hex of the
 * SHA-256 of the sealed bytes>; the name goes to name (>= 96 bytes). */
int cfs_repo_put_sealed_object(struct cfs_repo *r, struct cfs_crypto *crypto, const char *dir, const char *aad,
			       const void *p, size_t n, char *name, size_t namelen);
/*
 * Its read side, for every sealed object (index/, dicts/, snapshots/,
 * names/): get object name from the store, check that an object named by
 * the SHA-256 of its bytes (index/, dicts/: the ones
 * cfs_repo_put_sealed_object() writes) has those bytes, and open it with
 * crypto (AAD aad) into plain (reset first). The name check is what
 * catches an object swapped with another valid one of its kind, and any
 * damage at all in an unencrypted repository, where sealing is a copy.
 * What the plaintext says (magic, version, layout) is for the kind's pure
 * decoder. crypto: the caller's thread's. -ENOENT missing, the store's
 * errors, -EBADMSG it does not authenticate or its bytes are not its name,
 * -EPROTO shorter than a tag.
 */
int cfs_repo_get_sealed_object(struct cfs_repo *r, struct cfs_crypto *crypto, const char *name, const char *aad,
			       struct cfs_buf *plain);

/* Dictionaries (dict.c). init before anything else touches r->dicts. */
void cfs_repo_dicts_init(struct cfs_repo *r);
/* Load every dicts/ object not loaded yet (a damaged one is logged and
 * skipped; `check` names it). At open, a writer then picks the dictionary
 * it compresses with, or starts sampling. */
int cfs_repo_dicts_load(struct cfs_repo *r);
/* The dictionary with that number, loading dicts/ again if it is not
 * known yet (another writer made it). -ENOENT if there is none. */
int cfs_repo_dict_find(struct cfs_repo *r, uint32_t number, const struct cfs_zdict **ret);
/* For sealing a blob: the dictionary to compress it with, or NULL; a
 * blob the dictionary could be trained on is sampled. Thread-safe. */
const struct cfs_zdict *cfs_repo_dict_for_blob(struct cfs_repo *r, enum cfs_blob_type type, const void *p,
					       size_t n);
/* Wait for a running training; with train, train now on what was
 * sampled if it is enough (commit time). */
void cfs_repo_dicts_settle(struct cfs_repo *r, bool train);
void cfs_repo_dicts_release(struct cfs_repo *r);
int cfs_repo_dict_verify_object(struct cfs_repo *r, const char *name);

/* Append a pack entry in the 56-byte layout shared with pack headers. */
int cfs_repo_entry_encode(struct cfs_buf *out, const struct cfs_pack_entry *e);

/* Store a blob whose bytes were read back and verified in a new pack,
 * bypassing dedup (repair: the catalog names a copy that is going away);
 * the catalog points to the new copy once its pack is flushed. 0 also when
 * it is being stored already. */
int cfs_repo_put_blob_again(struct cfs_repo *r, enum cfs_blob_type type, const struct cfs_id *id, const void *p,
			    size_t n, uint64_t *ret_stored);
/* The same for a blob as its pack stores it, verified by the caller
 * (cfs_repo_pack_read_blobs): its sealed bytes (pe->stored_len of them) go
 * to a new pack as they are, with pe's type, codec, dictionary and raw_len
 * (its offset is ignored). The seal binds them to the id alone (AAD), not
 * to a pack or an offset, so no recompression or re-encryption is needed.
 * sealed is borrowed for the call. */
int cfs_repo_put_sealed_again(struct cfs_repo *r, const struct cfs_pack_entry *pe, const void *sealed,
			      uint64_t *ret_stored);

/* Flush the open packs (if any) to the store and the catalog, and wait
 * for every pack in flight: 0, or the first failure of any of them
 * (sticky). Snapshot commit and cfs_repo_write_pending_index() do it. */
int cfs_repo_flush(struct cfs_repo *r);
/* Let the uploaders finish what is queued, then join them (cfs_repo_free,
 * after every flight ended; write.c). */
void cfs_repo_uploaders_stop(struct cfs_repo *r);

/* Flock the per-repository cache dir, waiting up to wait_sec (o, which
 * may be NULL: its lock_wait callback is told of the wait, its error of a
 * failure: the lock file, and the holder on -EBUSY). */
int cfs_repo_lock_cache(const char *dir, int wait_sec, const struct cfs_repo_open_options *o, int *ret_fd);
/* Note in o->error (o and o->error may be NULL) what failed on which path,
 * unless a deeper step noted it first; returns e. */
int cfs_repo_open_fail(const struct cfs_repo_open_options *o, enum cfs_repo_open_stage stage, const char *path,
		       int e);
/* Put / delete locks/<id>. */
int cfs_repo_lock_object_put(struct cfs_repo *r);
void cfs_repo_lock_object_delete(struct cfs_repo *r);
/* Other processes' locks/ objects: one of this host whose process is gone
 * is stale and removed (with remove_stale; counted in *ret_removed), any
 * other is logged with its host and PID. -EBUSY if any is held. */
int cfs_repo_locks_check(struct cfs_repo *r, bool remove_stale, uint64_t *ret_removed);
/* Other processes' lock objects, each read: its host, PID and kind, and
 * whether it is stale (this host, process gone). */
struct repo_lock_info {
	const char *name; /* locks/... */
	char host[256];
	long pid; /* 0: none or malformed */
	char kind[32];
	bool stale;
};
typedef int (*cfs_repo_lock_cb)(const struct repo_lock_info *l, void *ud);
int cfs_repo_locks_foreach(struct cfs_repo *r, cfs_repo_lock_cb cb, void *ud);
int cfs_repo_lock_remove_stale(struct cfs_repo *r, const struct repo_lock_info *l);
/* locks/prune: one prune at a time (-EBUSY, named, when another runs). */
int cfs_repo_prune_lock(struct cfs_repo *r);
void cfs_repo_prune_unlock(struct cfs_repo *r);
bool cfs_repo_lock_is_prune(const char *name);

/* Bring the catalog up to date with the store (repo.c). */
int cfs_repo_sync_catalog(struct cfs_repo *r);
/* Read pack's trailer and sealed header (two range reads): its entries
 * (*ret owned by the caller). Errors as cfs_pack_parse_header() and the
 * store's. */
int cfs_repo_pack_header_read(struct cfs_repo *r, const struct cfs_id *pack, uint64_t size,
			      struct cfs_pack_entry **ret, size_t *ret_count);
/* The same with a reader's contexts (any thread), and with given ones. */
int cfs_repo_reader_pack_header_read(struct cfs_repo_reader *rd, const struct cfs_id *pack, uint64_t size,
				     struct cfs_pack_entry **ret, size_t *ret_count);
int repo_pack_header_read(struct cfs_repo *r, struct cfs_crypto *crypto, const struct cfs_id *pack, uint64_t size,
			  struct cfs_pack_entry **ret, size_t *ret_count);
/*
 * Read blobs of pack (size bytes) for copying (prune's repack; read.c):
 * entries[0..n), entries of its header (cfs_repo_pack_header_read), are
 * sorted by offset in place and read in a few range reads, as spans of
 * neighbouring blobs (one per pack for the packs this writer makes),
 * instead of one read per blob. Each is verified as strongly as any read
 * (tag with the id as AAD, decompression to raw_len, id re-hash) on a copy
 * of its sealed bytes, then handed to cb with the sealed bytes as stored
 * (pe->stored_len of them; borrowed, valid during the call). Memory: one
 * span (at most 32 MiB, or one blob when that is larger), one blob's copy
 * and its plaintext; nothing is kept after the call.
 * Returns 0, cb's first error (which stops the reads), or -errno, with
 * *ret_bad the index (in the sorted entries) of the blob that failed: the
 * store's errors for a span (the span's first blob: -ENOENT, -ERANGE
 * truncated, -EIO), -EPROTO for an entry that does not lie in the pack or
 * overlaps another, -EBADMSG for one that does not verify. *ret_bad is n
 * when no blob is to blame (cb, -ENOMEM). The caller logs, naming the pack
 * and the blob.
 */
typedef int (*cfs_repo_sealed_blob_cb)(const struct cfs_pack_entry *pe, const void *sealed, void *ud);
int cfs_repo_pack_read_blobs(struct cfs_repo *r, const struct cfs_id *pack, uint64_t size,
			     struct cfs_pack_entry *entries, size_t n, cfs_repo_sealed_blob_cb cb, void *ud,
			     size_t *ret_bad);
/* The same through a reader (any thread; cb runs on it). */
int cfs_repo_reader_pack_read_blobs(struct cfs_repo_reader *rd, const struct cfs_id *pack, uint64_t size,
				    struct cfs_pack_entry *entries, size_t n, cfs_repo_sealed_blob_cb cb, void *ud,
				    size_t *ret_bad);
/* Verify a names/<hex> object (write.c); *ret_snapshot (may be NULL) gets
 * the snapshot id it reserves the name for. -ENOTUNIQ: the catalog has
 * that snapshot, under a name the object is not named after (swapped). */
int cfs_repo_name_verify_object(struct cfs_repo *r, const char *name, struct cfs_id *ret_snapshot);
/* Whether a dictionary with that number is loaded (no reload; dict.c). */
bool cfs_repo_dict_have(struct cfs_repo *r, uint32_t number);
/* The id in a catalog meta key "<prefix><64 hex digits>": 0, or -EINVAL
 * when key is not of that form. */
int cfs_repo_meta_key_id(const void *key, size_t klen, const char *prefix, struct cfs_id *ret);
/* Catalog meta key: data/ was listed for packs no index covers. */
#define CFS_REPO_META_PACKS_SCANNED "synced/packs-scanned"
/* Catalog meta keys of the usable-tree memo (write.c): "usable/<tree
 * hex>" -> u64 generation, and the current generation. */
#define CFS_REPO_META_USABLE "usable/"
#define CFS_REPO_META_USABLE_GEN "state/usable-generation"
/* The repository lost data (a sync found missing or damaged packs, a
 * dictionary vanished, repair found bad packs): every usable-tree mark of
 * catalog cat is void from now on (b, committed by the caller, says so). */
int cfs_repo_data_lost(struct cfs_repo *r, struct cfs_catalog *cat, struct cfs_catalog_batch *b);
/* Load the generation at a writer's open. */
int cfs_repo_usable_init(struct cfs_repo *r);
/* Commit the marks gathered since the last call (snapshot commit). */
int cfs_repo_usable_commit(struct cfs_repo *r);
/* Catalog meta keys "damaged/<pack hex>": packs a check --read-data found
 * damaged (cfs_repo_mark_damaged). */
#define CFS_REPO_META_DAMAGED "damaged/"
/* Catalog meta key: the config as the catalog first saw it (64 bytes;
 * repo.c, check_mode). */
#define CFS_REPO_META_CONFIG "config"
/* Catalog meta keys "dict/<number>": the dictionaries seen, so that one
 * that vanishes is noticed. */
#define CFS_REPO_META_DICT "dict/"

/*
 * Deletion records: gc/<hex> objects (gc.c; sealed with AAD "gc", <hex> =
 * the SHA-256 of the sealed bytes, as index/ objects), what forget and
 * prune tell every other catalog (chronofs-repository(5), DELETION).
 * Plaintext (version 1, integers LE, str = u16 length + bytes):
 *   0  8  magic "CFSGCRD\x01"
 *   8  4  version = 1
 *  12  1  kind (enum repo_record_kind)
 *  13  8  i64 time_ns
 *  21     str host
 *         record (32): arm, done: the SHA-256 naming the condemn record
 *                      they belong to; zeros otherwise
 *         u32 n, n x snapshot id (32)         forget: the snapshots
 *         u32 n, n x (pack id (32), u64 size) condemn: the packs condemned;
 *                                             done: those deleted
 *         u32 n, n x pack id (32)             done: the packs released
 *         u32 n, n x index id (32)            condemn: index objects to go
 *                                             with the packs; done: gone
 *         u32 n, n x index id (32)            condemn: index objects written
 *                                             for what moved (re-applied)
 *         u32 n, n x str                      arm: lock objects to wait for
 * Frozen: a change needs a new version.
 */
#define CFS_RECORD_MAGIC "CFSGCRD\x01"
#define CFS_REPO_AAD_RECORD "gc"
#define CFS_REPO_AAD_HOLD "hold"
enum repo_record_kind {
	REPO_RECORD_FORGET = 1,
	REPO_RECORD_CONDEMN = 2,
	REPO_RECORD_ARM = 3,
	REPO_RECORD_DONE = 4,
};
struct repo_record_pack {
	struct cfs_id id;
	uint64_t size;
};
struct repo_record {
	uint8_t kind;
	int64_t time_ns;
	char host[256];
	struct cfs_id of; /* arm, done: the condemn record */
	struct cfs_id *snapshots; /* owned */
	size_t n_snapshots;
	struct repo_record_pack *packs; /* owned */
	size_t n_packs;
	struct cfs_id *released; /* owned */
	size_t n_released;
	struct cfs_id *indexes; /* owned */
	size_t n_indexes;
	struct cfs_id *written; /* owned */
	size_t n_written;
	char **locks; /* owned */
	size_t n_locks;
};
void cfs_repo_record_release(struct repo_record *rec);
int cfs_repo_record_encode(const struct repo_record *rec, struct cfs_buf *out);
/* Untrusted bytes: -EPROTO malformed, -EPROTONOSUPPORT a newer version. */
int cfs_repo_record_decode(const void *p, size_t n, struct repo_record *ret);
/* Put rec (time and host filled in here); *ret_id: the SHA-256 naming it. */
int cfs_repo_record_put(struct cfs_repo *r, struct repo_record *rec, struct cfs_id *ret_id);
/* Read and verify gc/<hex of id>. */
int cfs_repo_record_get(struct cfs_repo *r, const struct cfs_id *id, struct repo_record *ret);
/* Hold objects (holds/<snapshot hex>, sealed with AAD "hold"; gc.c):
 *   0  8 magic "CFSHOLD\x01"   8  4 version = 1
 *  12 32 snapshot id           44  8 i64 time_ns
 *  52    str host (< 256 bytes), str reason (1..1023 bytes)
 * Pure codec; decode takes untrusted bytes (-EPROTO, -EPROTONOSUPPORT). */
int cfs_repo_hold_encode(const struct cfs_repo_hold *h, struct cfs_buf *out);
int cfs_repo_hold_decode(const void *p, size_t n, struct cfs_repo_hold *ret);
/* Catalog meta keys: "gc/<hex>" a record applied (value: its kind);
 * "forgot/<snapshot hex>" a forgotten snapshot (never loaded again);
 * "condemned/<pack hex>" -> the condemn record's id (32 bytes); "retiring/
 * <index hex>" an index object a condemn record lets go. */
#define CFS_REPO_META_RECORD "gc/"
#define CFS_REPO_META_FORGOT "forgot/"
#define CFS_REPO_META_CONDEMNED "condemned/"
#define CFS_REPO_META_RETIRING "retiring/"
/* Apply a record to catalog batch b of cat (the caller commits). *ret_lost:
 * it condemned packs (trees found usable may name them). A done record
 * reads cat: the condemn records applied before it must be committed. */
int cfs_repo_record_apply(struct cfs_catalog *cat, const struct cfs_id *id, const struct repo_record *rec,
			  struct cfs_catalog_batch *b, bool *ret_lost);
/* r->condemned from the catalog's condemned/ keys. */
int cfs_repo_condemned_load(struct cfs_repo *r, struct cfs_catalog *cat);
/* Walk index object name a pack at a time (repair.c): cb gets each pack's
 * record as the object has it (u64 size, u32 count, count entries). */
typedef int (*cfs_repo_index_pack_cb)(const struct cfs_id *pack, const uint8_t *rec, size_t rec_len, void *ud);
int cfs_repo_index_foreach_pack(struct cfs_repo *r, const char *name, cfs_repo_index_pack_cb cb, void *ud);
/*
 * An index object whose packs partly go (goes(pack, ud) true): the others
 * are marked pending in b, so that the next index object written lists
 * them again. 1 when it names a pack that goes (the caller deletes it once
 * b is committed and the new index objects are put), 0 when not, < 0 as
 * cfs_repo_index_foreach_pack (-EBADMSG, -EPROTO: it cannot be read).
 */
typedef bool (*cfs_repo_pack_pred)(const struct cfs_id *pack, void *ud);
int cfs_repo_index_relist(struct cfs_repo *r, const char *name, cfs_repo_pack_pred goes, void *ud,
			  struct cfs_catalog_batch *b);
/* Index objects for the pending packs, as a commit writes them; the
 * 32-byte ids of those written are appended to ids (may be NULL). */
int cfs_repo_write_pending_index_ids(struct cfs_repo *r, struct cfs_buf *ids);

/*
 * Tree objects read ahead on threads (fetch.c) for one consumer thread:
 * it submits ids and takes the trees back as they are read, in any order.
 * threads: at most CFS_REPO_FETCH_THREADS_MAX (0: read in next(), on the
 * consumer's thread). next(): 0 and the tree (the caller releases it), or
 * the read's error (-ENOENT: not in the catalog) with *ret_id naming the
 * tree; -EINVAL when nothing is in flight. Free stops the threads and drops
 * what was not taken.
 */
#define CFS_REPO_FETCH_THREADS_MAX 8
struct cfs_repo_fetch;
int cfs_repo_fetch_new(struct cfs_repo *r, unsigned threads, struct cfs_repo_fetch **ret);
struct cfs_repo_fetch *cfs_repo_fetch_free(struct cfs_repo_fetch *f); /* accepts NULL */
CFS_DEFINE_FREEP(struct cfs_repo_fetch, cfs_repo_fetch_free)
int cfs_repo_fetch_submit(struct cfs_repo_fetch *f, const struct cfs_id *id);
size_t cfs_repo_fetch_in_flight(const struct cfs_repo_fetch *f);
int cfs_repo_fetch_next(struct cfs_repo_fetch *f, struct cfs_id *ret_id, struct cfs_tree *ret_tree);
