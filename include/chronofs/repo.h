/* SPDX-License-Identifier: MIT */
/*
 * repo.h — a repository: the object store, its keys and config, and the
 * local catalog tied together. Dedup on write, the commit protocol, verified
 * reads.
 *
 * Object store layout (see man/chronofs-repository.5):
 *   config                plain: magic, version, encryption, repository id,
 *                         chunker sizes, zstd level (src/repo/config.c)
 *   keys/<hex>            wrapped master keys (CFS_ENC_AES256GCM only)
 *   data/<xx>/<hex>       packs (pack.h), named by the SHA-256 of their bytes
 *   index/<hex>           sealed lists of blob -> pack locations, one per commit
 *   dicts/<hex>           sealed zstd dictionaries for small blobs (format 2)
 *   snapshots/<hex>       sealed manifests (snapshot.h), id = blob id of plaintext
 *   names/<hex>           sealed snapshot-name reservations, <hex> = blob id
 *                         of the name, holding the snapshot id
 *   locks/<hex>           one per running writer (host, pid, time)
 *
 * Commit protocol (why a crash at any point is safe):
 *   1. a pack is put (durable, atomic) before any of its blobs enters the
 *      catalog; its blobs are then committed to the catalog together with a
 *      "pending/<pack>" marker;
 *   2. commit: the last pack is flushed, index/<id> listing every pending pack
 *      is put, then the name is reserved (names/<hex>, create-only), then
 *      snapshots/<id>, then one catalog batch adds the snapshot and clears
 *      the pending markers.
 *   A snapshot is therefore listed only when every blob it references is in a
 *   durable pack. Packs left by a killed run are found on the next write open
 *   (listed under data/ but unknown to the catalog), their headers read, and
 *   their blobs reused.
 *
 * The store, not the catalog, is the truth for dedup: a writer reuses only
 * blobs whose pack its open listed with the recorded size (see
 * cfs_repo_open, cfs_repo_blob_state, cfs_repo_get_tree).
 *
 * Locking: opening takes an exclusive flock on the cache directory of the
 * repository (one process per catalog), waiting up to lock_wait_sec. Writers
 * also put locks/<id> so that a future garbage collector sees them.
 *
 * Threading: a struct cfs_repo is used by one thread at a time, except
 * that each thread may read through its own struct cfs_repo_reader (the
 * catalog and the object store are thread-safe), and seal and put blobs
 * through its own struct cfs_repo_sealer (see "Parallel writes").
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/catalog.h"
#include "chronofs/chunker.h"
#include "chronofs/crypto.h"
#include "chronofs/objstore.h"
#include "chronofs/pack.h"
#include "chronofs/snapshot.h"
#include "chronofs/tree.h"

/* Written by init; versions 1 (no dictionaries), 2 (trees of version 1) and
 * 3 are read and written (chronofs-repository(5), VERSION POLICY): each
 * repository keeps being written in its own version until `chronoctl
 * upgrade`. `--version` of every tool prints the range. */
#define CFS_REPO_FORMAT_VERSION 3
#define CFS_REPO_FORMAT_VERSION_MIN 1

struct cfs_repo;

struct cfs_repo_init_options {
	const char *location;
	enum cfs_encryption encryption;
	const void *password; /* required for CFS_ENC_AES256GCM */
	size_t password_len;
	struct cfs_kdf_params kdf;
	struct cfs_chunker_params chunker; /* sizes only; the seed is generated */
	int zstd_level;
	/*
	 * NULL, or an open repository whose parameters the new one takes
	 * (`init --copy-params-from`): its id key, gear seed and chunker
	 * sizes, and its zstd level unless zstd_level is set, so that the same
	 * data gets the same chunk boundaries and blob ids in both and `copy`
	 * between them moves only what the other lacks. The new repository
	 * still has its own repository id, encryption key and passphrase.
	 * Both must be encrypted (-EINVAL otherwise: an unencrypted
	 * repository's ids are plain SHA-256 and its gear seed is derived
	 * from its repository id, so there is nothing to share), and chunker
	 * sizes must not be given too (-EINVAL).
	 */
	const struct cfs_repo *params_from;
	const struct cfs_objstore_options *store; /* the store's settings (S3 service); NULL: defaults */
};

/* Create a new repository. -EEXIST if `location` already holds a config,
 * -ENOTEMPTY if it holds other objects, -ESOCKTNOSUPPORT for a location
 * scheme this build does not serve. */
int cfs_repo_init(const struct cfs_repo_init_options *o, struct cfs_id *ret_repo_id);

/*
 * What cfs_repo_open() (or cfs_repo_probe()) was doing when it failed and
 * on which path, so that the caller can say it: the library does not print.
 * Filled on failure only; stage CFS_REPO_STAGE_NONE when the failure has
 * no single path (out of memory, a malformed config).
 */
enum cfs_repo_open_stage {
	CFS_REPO_STAGE_NONE = 0,
	CFS_REPO_STAGE_STORE,      /* reaching or reading the store; path: an object name, or "" */
	CFS_REPO_STAGE_KEYS,       /* listing keys/ or reading a key file; path: the object name */
	CFS_REPO_STAGE_CACHE_HOME, /* no default cache directory (-ENOENT); path: $HOME, which does not exist */
	CFS_REPO_STAGE_CACHE_DIR,  /* creating or entering the cache directory; path: that directory */
	CFS_REPO_STAGE_LOCK,       /* the cache lock; path: the lock file */
	CFS_REPO_STAGE_CATALOG,    /* the local catalog; path: its directory */
};

struct cfs_repo_open_error {
	enum cfs_repo_open_stage stage;
	bool remote;    /* the store is remote (S3): -EACCES there is the server's HTTP 403 */
	long lock_pid;  /* CFS_REPO_STAGE_LOCK: the holder's PID as its lock file says (0: unknown) */
	char path[4096];
};

/*
 * Waiting for the cache lock (another process holds it): called when the
 * wait starts (waited_ms 0), about once a second while it lasts, and once
 * with done set when it ends (the lock taken or the wait given up), so that
 * a caller can say for whom it waits and clear what it showed. Called from
 * the opening thread; holder_pid is re-read from the lock file each time.
 */
struct cfs_repo_lock_wait {
	const char *lock_path;
	long holder_pid; /* 0: the lock file names none (yet) */
	int64_t waited_ms;
	int wait_sec;    /* the limit (lock_wait_sec) */
	bool done;
};
typedef void (*cfs_repo_lock_wait_fn)(const struct cfs_repo_lock_wait *w, void *ud);

struct cfs_repo_open_options {
	const char *location;
	const char *cache_dir; /* parent of per-repository catalogs; NULL: default */
	const void *password;
	size_t password_len;
	int lock_wait_sec; /* how long to wait for another process's lock */
	bool writer;       /* will write: sync orphan packs, put a lock object */
	const struct cfs_objstore_options *store; /* transfers, limits; NULL: defaults */
	/* Writers only: throw the local catalog away and rebuild it from the
	 * store (index/ objects, snapshots/, and the headers of packs no index
	 * covers). */
	bool rebuild_catalog;
	/* Remote stores only: keep what is read of packs in <cache>/<repo
	 * id>/packs, at most this many bytes (0: none). Another process using
	 * it only means this one goes without (logged). */
	uint64_t disk_cache_bytes;
	/* Writers only: open even when listed packs cannot be read (their
	 * headers do not parse, and no index object describes them), which
	 * is refused otherwise (-EUCLEAN): for repair and catalog rebuild. */
	bool allow_damaged;
	/* NULL, or told what failed and on which path when open fails. */
	struct cfs_repo_open_error *error;
	/* NULL, or called while the open waits for another process's cache
	 * lock (lock_wait_sec > 0 only; see struct cfs_repo_lock_wait). */
	cfs_repo_lock_wait_fn lock_wait;
	void *lock_wait_ud;
};

/* What bringing the catalog up to date with the store found, since open. */
struct cfs_repo_sync_stats {
	uint64_t indexes_loaded;   /* index/ objects new to the catalog */
	uint64_t indexes_bad;      /* index/ objects that could not be read */
	uint64_t packs_adopted;    /* packs no index covered, read from their headers */
	uint64_t packs_bad;        /* such packs whose header could not be read */
	uint64_t packs_missing;    /* packs the catalog or an index object names that the store lacks */
	uint64_t packs_damaged;    /* packs the store has with another size than recorded */
	uint64_t snapshots_loaded; /* snapshots/ objects new to the catalog */
	/* What the catalog knew that the store no longer lists (each named
	 * in a warning when found; the catalog then forgets it, so only the
	 * first open after the loss counts it). */
	uint64_t snapshots_gone, indexes_gone;
	/* 1: the config differs from the one the catalog first saw, other
	 * than by an upgrade (named in a warning at every open). */
	uint64_t config_changed;
};
void cfs_repo_sync_stats(const struct cfs_repo *r, struct cfs_repo_sync_stats *ret);
/* Write index/ objects for the packs the catalog knows that no index/
 * object covers yet (packs adopted from their headers): snapshot commit
 * does it too (step 2a of the commit protocol). Writers only. */
int cfs_repo_write_pending_index(struct cfs_repo *r);

/*
 * Open. -EMEDIUMTYPE: not a repository (no config, or bad magic).
 * -EPROTONOSUPPORT: newer format version. -EKEYEXPIRED: wrong passphrase:
 * no key file authenticates with it (nothing is written; an errno of its
 * own, so that -EACCES and -EPERM always mean a path that was refused, named
 * in o->error). -EBUSY: the cache directory stayed locked for lock_wait_sec
 * (o->error names the holder). -ENOENT with stage CFS_REPO_STAGE_CACHE_HOME:
 * no cache directory given and $HOME does not exist (see
 * cfs_repo_default_cache_dir()).
 * -ENOKEY: an encrypted repository and no password given.
 * -EKEYREVOKED: the config says "no encryption" but a password was given:
 * refused, whatever else the store holds, so that no arrangement of
 * objects an attacker can write turns a passphrase into plain text.
 * -EKEYREJECTED: the config says "no encryption" but key files exist, or
 * this cache knew the repository as encrypted (the unauthenticated config
 * was altered; nothing is written).
 * -EUCLEAN (writers without allow_damaged): packs in the store whose
 * headers cannot be read (each logged by name); nothing is written.
 * -ENOSPC, -EDQUOT, -EROFS: the cache directory's file system.
 * -ESOCKTNOSUPPORT: a location scheme this build does not serve.
 *
 * The catalog is synchronised with the store: new index/ and snapshots/
 * objects loaded, vanished ones dropped. Writers (and a reader filling a
 * catalog) list data/ first and hold it as the truth: index entries of
 * packs the store lacks never replace a good location, packs the catalog
 * knows that the store lacks are forgotten and packs it has with another
 * size are damaged; a warning names what vanished. Nothing in a missing or
 * damaged pack is ever deduplicated against (cfs_repo_blob_state()).
 */
int cfs_repo_open(const struct cfs_repo_open_options *o, struct cfs_repo **ret);
/*
 * Read only the config of the repository at location: its encryption, so a
 * caller can ask for a passphrase before it forks or detaches. Errors as for
 * cfs_repo_open(); ret_error (may be NULL) as o->error there. Writes nothing.
 */
int cfs_repo_probe(const char *location, enum cfs_encryption *ret, struct cfs_repo_open_error *ret_error);
/* The same with the store's settings (an S3 repository's service; NULL:
 * the defaults, as cfs_repo_probe()). */
int cfs_repo_probe_with(const char *location, const struct cfs_objstore_options *store, enum cfs_encryption *ret,
			struct cfs_repo_open_error *ret_error);

/*
 * For a long-running reader (the mount): pick up snapshots committed since
 * the open, by this host's writers (catalog catch-up) or any other (store
 * sync, when no writer holds the cache). Not concurrent with itself; safe
 * while other threads read through their cfs_repo_reader. No-op for writers.
 */
int cfs_repo_refresh(struct cfs_repo *r);
/* Releases the lock; unflushed blobs are discarded (no snapshot refers to them). */
struct cfs_repo *cfs_repo_free(struct cfs_repo *r);
CFS_DEFINE_FREEP(struct cfs_repo, cfs_repo_free)

/* The default cache directory: $CHRONOFS_CACHE_DIR, $XDG_CACHE_HOME/chronofs,
 * $HOME/.cache/chronofs, else /var/cache/chronofs. A $HOME that does not
 * exist (HOME=/nonexistent of system users) is never created: root falls
 * back to /var/cache/chronofs, anyone else gets -ENOENT (the caller says
 * which variables to set). Caller frees. */
int cfs_repo_default_cache_dir(char **ret);

/* Borrowed accessors. */
const struct cfs_chunker *cfs_repo_chunker(const struct cfs_repo *r);
/* The repository id (its config), which names it in copies' origins. */
const struct cfs_id *cfs_repo_id(const struct cfs_repo *r);
enum cfs_encryption cfs_repo_encryption(const struct cfs_repo *r);
/* Whether a and b cut the same data into the same chunks with the same
 * blob ids: the same id key, gear seed and chunker sizes (`init
 * --copy-params-from`). Two unencrypted repositories never do (their gear
 * seeds derive from their ids). */
bool cfs_repo_params_shared(const struct cfs_repo *a, const struct cfs_repo *b);
struct cfs_objstore *cfs_repo_store(struct cfs_repo *r);
struct cfs_catalog *cfs_repo_catalog(struct cfs_repo *r);
const char *cfs_repo_location(const struct cfs_repo *r);
/* Its directory in the cache (<cache>/<repo id hex>), the catalog's home. */
const char *cfs_repo_cache_path(const struct cfs_repo *r);
/* The repository format version (its config). */
uint32_t cfs_repo_format(const struct cfs_repo *r);
/* The tree version written into it (tree.h): 2 from format 3 on (inode
 * flags, large directories in fragments), else 1. */
unsigned cfs_repo_tree_version(const struct cfs_repo *r);

/*
 * Raise the repository format to CFS_REPO_FORMAT_VERSION (writers only):
 * the config is rewritten with the new version, nothing else changes.
 * Programs that know only older versions then refuse the repository with a
 * clear message rather than misread what newer writers store. 0 also when
 * it is current already (*ret_from tells the version it had).
 */
int cfs_repo_upgrade(struct cfs_repo *r, uint32_t *ret_from);

/*
 * Store a blob unless one with the same id exists (dedup). *ret_added tells
 * whether bytes were added; *ret_stored (may be NULL) how many.
 */
int cfs_repo_put_blob(struct cfs_repo *r, enum cfs_blob_type type, const void *p, size_t n,
		      struct cfs_id *ret_id, bool *ret_added, uint64_t *ret_stored);
/*
 * Parallel writes (an ingest pipeline). Each blob is claimed first:
 * cfs_repo_claim_blob() (the repository's own hash context: one thread) or
 * cfs_repo_sealer_claim() (the sealer's: any thread, each with its own
 * sealer) computes its id and returns 1 when nobody has stored or claimed
 * it yet (the caller must now store it), 0 otherwise.
 * Any thread then seals a claimed blob with its own cfs_repo_sealer
 * (compression, cipher and scratch per thread) and hands it to
 * cfs_repo_put_sealed(), which is thread-safe and flushes full packs.
 * Every claimed blob must be put before cfs_repo_commit_snapshot() (-EBUSY
 * otherwise). cfs_repo_put_blob() is claim + seal + put on one thread.
 */
struct cfs_repo_sealer;
struct cfs_sealed_blob {
	struct cfs_id id;
	uint8_t type, codec;
	uint32_t raw_len;
	uint32_t dict;       /* the dictionary's number for CFS_CODEC_ZSTD_DICT */
	struct cfs_buf data; /* the sealed bytes (owned by the caller) */
};
int cfs_repo_claim_blob(struct cfs_repo *r, const void *p, size_t n, struct cfs_id *ret_id);
int cfs_repo_sealer_new(struct cfs_repo *r, struct cfs_repo_sealer **ret);
struct cfs_repo_sealer *cfs_repo_sealer_free(struct cfs_repo_sealer *s);
CFS_DEFINE_FREEP(struct cfs_repo_sealer, cfs_repo_sealer_free)
int cfs_repo_sealer_claim(struct cfs_repo_sealer *s, const void *p, size_t n, struct cfs_id *ret_id);
int cfs_repo_sealer_seal(struct cfs_repo_sealer *s, enum cfs_blob_type type, const struct cfs_id *id, const void *p,
			 size_t n, struct cfs_sealed_blob *out);
int cfs_repo_put_sealed(struct cfs_repo *r, const struct cfs_sealed_blob *b, uint64_t *ret_stored);
/*
 * For copies between repositories that share the id key (chronoctl copy,
 * cfs_repo_params_shared): claim a blob by an id already verified against
 * its bytes under that key (1 the caller must store it, 0 not, as for
 * cfs_repo_sealer_claim); and seal a blob as another repository's pack
 * stores it, compressed already (cfs_repo_reader_get_blob_packed): codec
 * CFS_CODEC_RAW or CFS_CODEC_ZSTD (-EINVAL otherwise), packed its n
 * compressed bytes, raw_len the plaintext's length. No compression is done
 * again, so the copy is stored at the source's zstd level.
 */
int cfs_repo_sealer_claim_id(struct cfs_repo_sealer *s, const struct cfs_id *id);
int cfs_repo_sealer_seal_packed(struct cfs_repo_sealer *s, enum cfs_blob_type type, const struct cfs_id *id,
				uint8_t codec, uint32_t raw_len, const void *packed, size_t n,
				struct cfs_sealed_blob *out);

/* Encode and store a tree. stored: NULL, or the id of a tree known to be in
 * the repository (a parent snapshot's); a tree that encodes to it is not
 * looked up again. */
int cfs_repo_put_tree(struct cfs_repo *r, const struct cfs_tree *t, const struct cfs_id *stored, struct cfs_id *ret_id,
		      uint64_t *ret_stored);
/*
 * Commit a snapshot (steps 2 of the protocol above). The manifest's name is
 * made unique in the repository (seconds, then ".mmm" milliseconds, then
 * nanoseconds) and written back into s->name: a form is skipped when a
 * snapshot the catalog knows has it, and taken only once it is reserved in
 * the store by a create-only put of names/<hex> (whoever puts it first has
 * the name: two hosts committing in the same second get two names).
 * -EEXIST when every form is taken. ret_id may be NULL. Once the manifest is
 * in the store the snapshot is committed: a catalog that cannot record it
 * after that is a warning (the next open loads it), and 0 is returned.
 */
int cfs_repo_commit_snapshot(struct cfs_repo *r, struct cfs_snapshot *s, struct cfs_id *ret_id);

/* Where a blob lives. -ENOENT if unknown. */
int cfs_repo_blob_loc(struct cfs_repo *r, const struct cfs_id *id, struct cfs_blob_loc *ret);
/*
 * Whether a new snapshot may reference a blob without storing it again, as
 * far as the catalog and the open's listing of data/ tell (no read):
 * CFS_BLOB_USABLE, or why not. Dedup uses it for every claim. ret_loc may
 * be NULL. < 0 on a catalog error.
 */
enum cfs_blob_state {
	CFS_BLOB_USABLE = 0,
	CFS_BLOB_UNKNOWN,        /* not indexed */
	CFS_BLOB_PACK_MISSING,   /* its pack is not in the repository */
	CFS_BLOB_PACK_DAMAGED,   /* its pack has another size than recorded, or no readable header */
	CFS_BLOB_DICT_MISSING,   /* compressed with a dictionary the repository does not have */
	CFS_BLOB_CONDEMNED,      /* its pack is condemned by a prune (cfs_repo_prune) */
};
int cfs_repo_blob_state(struct cfs_repo *r, const struct cfs_id *id, struct cfs_blob_loc *ret_loc);
const char *cfs_repo_blob_state_name(int state);

/*
 * The dicts/ object in which a writer with this cache last saw dictionary
 * number (out: at least 96 bytes), for naming one that is gone. -ENOENT
 * when this cache never saw it.
 */
int cfs_repo_dict_object_name(struct cfs_repo *r, uint32_t number, char *out, size_t outlen);

/*
 * Objects of an unencrypted repository that do not start with the
 * plaintext magic of their kind: index/, snapshots/ and dicts/ objects, and
 * pack headers. Such objects look sealed: the config was probably switched
 * to "none" by someone who could write the store. 0 for encrypted
 * repositories. Reads a few bytes of every object (a pack: two ranges).
 */
int cfs_repo_count_sealed_looking(struct cfs_repo *r, uint64_t *ret);
/*
 * Read, decrypt, decompress and verify a blob into out (reset first).
 * -ENOENT unknown blob or missing pack, -EBADMSG integrity failure (tag, size
 * or id mismatch), -ERANGE truncated pack, -EIO backend failure.
 */
int cfs_repo_get_blob(struct cfs_repo *r, const struct cfs_id *id, struct cfs_buf *out);
/*
 * A per-thread read context (its own cipher, hash and zstd contexts and
 * scratch buffers) over a repository, for readers on several threads at
 * once. The repository must outlive it.
 */
struct cfs_repo_reader;
int cfs_repo_reader_new(struct cfs_repo *r, struct cfs_repo_reader **ret);
struct cfs_repo_reader *cfs_repo_reader_free(struct cfs_repo_reader *rd);
CFS_DEFINE_FREEP(struct cfs_repo_reader, cfs_repo_reader_free)
/* Scratch memory a reader keeps between calls (default: two of the largest
 * chunks). Processes with many reader threads lower it to bound memory. */
void cfs_repo_reader_set_scratch_limit(struct cfs_repo_reader *rd, size_t bytes);
/*
 * As cfs_repo_reader_get_blob_at(), verified the same way (tag, size, id
 * re-hash) into out; packed (reset first) also gets the blob's compressed
 * bytes, as its pack holds them once opened, when loc->codec is
 * CFS_CODEC_RAW or CFS_CODEC_ZSTD (and stays empty for a blob compressed
 * with one of this repository's dictionaries): for a copy to seal them
 * again without compressing them again (cfs_repo_sealer_seal_packed).
 */
int cfs_repo_reader_get_blob_packed(struct cfs_repo_reader *rd, const struct cfs_id *id,
				    const struct cfs_blob_loc *loc, struct cfs_buf *out, struct cfs_buf *packed);
/* As cfs_repo_get_blob(), for a blob whose location the caller looked up
 * already (cfs_repo_blob_loc), e.g. to size out first: one catalog
 * look-up. Thread-safe across readers. out's capacity is used when it
 * suffices (callers may hand in a recycled buffer). */
int cfs_repo_reader_get_blob_at(struct cfs_repo_reader *rd, const struct cfs_id *id, const struct cfs_blob_loc *loc,
				struct cfs_buf *out);

/*
 * Read and decode a directory's tree (verified): its entries, also for a
 * large directory stored in fragments (tree.h), which are read and joined,
 * each checked against the index. -EPROTO if anything does not decode or a
 * fragment does not match its index record.
 * A writer reads trees only to build on them (a parent snapshot's, whose
 * unchanged files keep their chunk lists): for a writer, a tree that names
 * a file blob the repository cannot provide (cfs_repo_blob_state() not
 * usable) is -ENODATA, so that ingest reads that directory from the sources
 * again instead of carrying the loss into the new snapshot.
 */
int cfs_repo_get_tree(struct cfs_repo *r, const struct cfs_id *id, struct cfs_tree *ret);
/* The same through a reader (any thread). */
int cfs_repo_reader_get_tree(struct cfs_repo_reader *rd, const struct cfs_id *id, struct cfs_tree *ret);
/* A tree object as stored: entries, or a fragment index (its fragments
 * not read); no check of what it names. */
int cfs_repo_get_tree_object(struct cfs_repo *r, const struct cfs_id *id, struct cfs_tree *ret);
/*
 * Writers only, for a tree object t (id) read to build on: 0 when the tree
 * blob and every file blob its entries name are usable (a catalog memo per
 * tree, else cfs_repo_blob_state() of each), -ENODATA when one is not (its
 * files must be read from the sources again, its directory entries can
 * still lead to their own subtrees).
 */
int cfs_repo_tree_usable(struct cfs_repo *r, const struct cfs_id *id, const struct cfs_tree *t);

/* Snapshot listing, sorted by time (oldest first). */
struct cfs_snapshot_list {
	struct cfs_snapshot *items; /* owned */
	struct cfs_id *ids;         /* owned */
	size_t n;
};
void cfs_snapshot_list_release(struct cfs_snapshot_list *l);
int cfs_repo_list_snapshots(struct cfs_repo *r, struct cfs_snapshot_list *ret);
/* How cfs_repo_resolve_snapshot() matched. */
enum cfs_snapshot_match {
	CFS_SNAPSHOT_MATCH_LATEST,
	CFS_SNAPSHOT_MATCH_NAME,
	CFS_SNAPSHOT_MATCH_ID,
	CFS_SNAPSHOT_MATCH_TIME,
};
/*
 * Resolve SNAP, in this order (the first that matches wins):
 *   1. "latest": the newest snapshot;
 *   2. a snapshot name, exactly;
 *   3. a unique hex id prefix (4 to 64 digits, any case): note that a
 *      basic-form date such as 20261206 is hex too, and is an id prefix
 *      when some id starts with it;
 *   4. a time, cfs_time_parse_as_of(spec, time_flags, now_ns): the snapshot
 *      in effect then, the newest whose time is at or before that instant.
 * -ENOENT none matches (a time before the first snapshot included);
 * -ENOTUNIQ a prefix matches several, or a name is held by several
 * snapshots (older versions or another writer made duplicates): logged with
 * each one's id prefix and host, and no time is tried then. ret (released
 * by the caller), *ret_id and *ret_how may each be NULL and are written
 * only on success.
 */
int cfs_repo_resolve_snapshot(struct cfs_repo *r, const char *spec, unsigned time_flags, int64_t now_ns,
			      struct cfs_snapshot *ret, struct cfs_id *ret_id, enum cfs_snapshot_match *ret_how);
/* The same with absolute times, those without an offset read as UTC (the
 * names of the mount's root). */
int cfs_repo_find_snapshot(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret,
			   struct cfs_id *ret_id);

/*
 * Read a whole pack and verify it: its bytes hash to its name, the header
 * authenticates and parses, and every blob in it decrypts, decompresses to
 * its recorded size and has the id it is filed under. cb is called once per
 * bad blob with the reason (-EBADMSG or -EPROTO; -ECANCELED from cb stops
 * the blobs); *ret_blobs counts the blobs checked. Returns < 0 when the
 * pack as a whole cannot be used (-ENOENT missing, -ERANGE/-EPROTO
 * truncated or malformed, -EBADMSG header does not authenticate), or, once
 * its blobs were checked, -EUCLEAN when its bytes do not hash to its name
 * (damaged where no tag or id covers it, or replaced).
 */
typedef int (*cfs_repo_bad_blob_cb)(const struct cfs_id *blob, uint64_t offset, int error, void *ud);
int cfs_repo_verify_pack(struct cfs_repo *r, const struct cfs_id *pack, cfs_repo_bad_blob_cb cb, void *ud,
			 uint64_t *ret_blobs);

/*
 * What reading found (check --read-data): each of packs[i] that damaged[i]
 * says is recorded in the catalog as damaged, so that no backup from this
 * cache deduplicates against its blobs (they are stored again, and the
 * catalog then points to the new copies) while the store lists it, check
 * names it, and repair removes it; the others lose such a record. A reader
 * writes through a primary handle of its own: -EBUSY (nothing recorded)
 * when another process holds the cache.
 */
int cfs_repo_mark_damaged(struct cfs_repo *r, const struct cfs_id *packs, const bool *damaged, size_t n);
/* Whether pack is recorded as damaged (no store access). */
bool cfs_repo_pack_marked_damaged(struct cfs_repo *r, const struct cfs_id *pack);
/* Whether pack is condemned by a prune: a condemn record the catalog
 * applied names it, and no done record yet. The store may have deleted it
 * already (the prune is past its deletes, or was killed among them). No
 * store access; no lock: the set changes only in syncs. */
bool cfs_repo_pack_condemned(const struct cfs_repo *r, const struct cfs_id *pack);

/*
 * Read and verify a metadata object: "index/<hex>" and "dicts/<hex>" (its
 * bytes hash to its name, it authenticates and parses), "snapshots/<hex>"
 * (authenticates, its id is its name, parses) or "names/<hex>"
 * (authenticates, parses, and the snapshot it reserves the name for, if
 * the catalog has it, has that name: else -ENOTUNIQ).
 * -EBADMSG, -EPROTO, -EPROTONOSUPPORT, -ENOENT as for blobs.
 */
int cfs_repo_verify_object(struct cfs_repo *r, const char *name);

/*
 * Repair: make the repository describe only data it has, in this order.
 *   1. Refuse when the config says "none" over objects that look sealed
 *      (-EKEYREJECTED), or when another writer holds a locks/ object
 *      (-EBUSY, each named; a lock of this host whose process is gone is
 *      stale and removed).
 *   2. Bad packs: named by the catalog, blob locations or index objects
 *      but missing; present with another size than recorded; listed with
 *      a header that cannot be read (nothing else describes them);
 *      recorded as damaged by an earlier check --read-data
 *      (cfs_repo_mark_damaged); with read_data, any pack whose bytes,
 *      header or a blob does not verify.
 *   3. Every blob whose location is in a bad pack is read back and
 *      verified; those that verify are stored again in new packs through
 *      the normal write path (bypassing dedup), the others are lost.
 *   4. Index objects naming a bad or missing pack, or that cannot be read,
 *      are doomed; their good packs are listed in new index objects, put
 *      with those of the new packs.
 *   5. Only then: the doomed index objects and the bad packs are deleted,
 *      and the catalog forgets them and the lost blobs.
 * Snapshots are never changed: those that use lost blobs stay incomplete
 * (cfs_check_run() names their paths) until a backup of their sources
 * stores the same content again. With dry_run, steps 2-4 only find and
 * count (blobs are read and verified) and nothing is written or deleted.
 * The repository must be open as a writer with allow_damaged.
 */
struct cfs_repo_repair_options {
	bool dry_run;
	bool read_data;
	volatile sig_atomic_t *interrupted;
};
struct cfs_repo_repair_result {
	uint64_t packs_missing, packs_damaged, packs_unreadable, packs_bad_blobs;
	uint64_t blobs_salvaged, bytes_salvaged, blobs_lost;
	uint64_t indexes_deleted, packs_deleted; /* with dry_run: would be */
	uint64_t locks_removed;
};
int cfs_repo_repair(struct cfs_repo *r, const struct cfs_repo_repair_options *o, struct cfs_repo_repair_result *ret);

/* Object name of a pack: "data/xx/<hex>" (out: at least 72 bytes). */
void cfs_repo_pack_name(const struct cfs_id *pack, char *out, size_t outlen);

/*
 * Retention: holds, forget and prune (gc.c, prune.c; the deletion protocol
 * is in chronofs-repository(5), DELETION). They live in repo, not in a
 * module above it, because the protocol is one with the dedup rule it must
 * hold against (cfs_repo_blob_state) and with the catalog's sync.
 *
 * Holds: holds/<snapshot id hex>, one per held snapshot, sealed. A held
 * snapshot is never forgotten.
 */
struct cfs_repo_hold {
	struct cfs_id snapshot;
	int64_t time_ns; /* when it was put */
	char host[256];  /* where */
	char reason[1024];
};
/* Put a hold (reason: 1..1023 bytes, -EINVAL otherwise). -EEXIST: held
 * already (cfs_repo_hold_get tells by whom and why). */
int cfs_repo_hold(struct cfs_repo *r, const struct cfs_id *snapshot, const char *reason);
/* -ENOENT: not held. */
int cfs_repo_release(struct cfs_repo *r, const struct cfs_id *snapshot);
/* -ENOENT not held; -EBADMSG, -EPROTO a damaged hold object (which still
 * holds: forget asks whether the object exists). */
int cfs_repo_hold_get(struct cfs_repo *r, const struct cfs_id *snapshot, struct cfs_repo_hold *ret);
/* Every hold (one that cannot be read is passed with a reason saying so);
 * a non-zero return of cb stops and is returned. */
typedef int (*cfs_repo_hold_cb)(const struct cfs_repo_hold *h, void *ud);
int cfs_repo_holds_foreach(struct cfs_repo *r, cfs_repo_hold_cb cb, void *ud);

/*
 * Forget snapshots (writers only): a forget record (gc/<hex>) is put,
 * which every catalog applies at its next sync (the snapshots leave
 * listings and mounts, without the "vanished" warning of a loss), then
 * their manifests are deleted. Their data stays until a prune. -EPERM:
 * one of them is held (checked in the store right before; nothing is
 * forgotten). After the record is put, 0 is returned even when a manifest
 * could not be deleted (logged; prune deletes it).
 */
int cfs_repo_forget(struct cfs_repo *r, const struct cfs_id *ids, size_t n);

/*
 * Prune (writers only): reclaim the space of data no snapshot references,
 * while backups, mounts and restores go on (no exclusive lock but one
 * prune at a time: locks/prune). In this order:
 *   1. condemn records of earlier prunes whose writers (the lock objects
 *      that existed when they were put) have all ended are finished: the
 *      catalog is synchronised again, every snapshot marked, and each
 *      condemned pack that holds a blob a snapshot now uses is released,
 *      the others deleted (then the index objects that went with them, a
 *      done record, and the condemn record);
 *   2. every live snapshot's trees are read (each unique tree once) and
 *      the blobs they reach marked, in a disk-backed set;
 *   3. packs are accounted from the catalog (no pack is read): a pack no
 *      marked blob is located in is garbage; one whose unused bytes exceed
 *      max_unused_pct of its size has its live blobs read, verified and
 *      stored again in new packs (repacked), and is garbage too;
 *   4. index objects that name garbage packs are listed again without
 *      them, then a condemn record names the garbage packs and those index
 *      objects; if no other writer's lock object exists once it is put,
 *      it is finished at once as in 1, else by a later prune.
 * dry_run: steps 1-3 only count (nothing is read but trees, nothing
 * written). -EBUSY: another prune holds locks/prune (named).
 */
struct cfs_repo_prune_options {
	unsigned max_unused_pct; /* 0..100 */
	bool dry_run;
	volatile sig_atomic_t *interrupted;
};
struct cfs_repo_prune_result {
	uint64_t snapshots, trees, blobs_live;  /* marked */
	uint64_t packs, bytes;                   /* in the repository before */
	uint64_t bytes_unused;                   /* held by no snapshot, before */
	uint64_t packs_unused, bytes_packs_unused; /* packs holding nothing live */
	uint64_t packs_repacked, blobs_moved, bytes_moved;
	uint64_t packs_condemned, bytes_condemned; /* by this prune */
	uint64_t packs_deleted, bytes_deleted, packs_released;
	uint64_t indexes_written, indexes_deleted;
	uint64_t records_finished; /* condemn records finished (this one included) */
	uint64_t records_waiting;  /* condemn records left for a later prune */
	uint64_t writers_waiting;  /* lock objects they wait for */
	uint64_t snapshots_deleted; /* manifests of forgotten snapshots deleted late */
};
int cfs_repo_prune(struct cfs_repo *r, const struct cfs_repo_prune_options *o, struct cfs_repo_prune_result *ret);

/*
 * What the repository's space holds, measured as prune's steps 2-3 do it
 * (every live snapshot's trees read, packs accounted from the catalog; no
 * pack read, nothing written but the catalog's memo below), by any open:
 * check reports it. The result is remembered in the catalog when it can
 * be written (cfs_repo_space_last), with when it was measured.
 */
struct cfs_repo_space {
	int64_t measured_ns; /* when (UTC ns) */
	uint64_t packs, bytes;
	uint64_t bytes_unused;      /* held by no snapshot (whole packs and parts) */
	uint64_t packs_unused, bytes_packs_unused; /* packs holding nothing live */
	uint64_t packs_condemned, bytes_condemned; /* condemned, waiting for writers to end */
	uint64_t snapshots, trees, blobs_live;
};
int cfs_repo_space(struct cfs_repo *r, volatile sig_atomic_t *interrupted, struct cfs_repo_space *ret);
/* The last measure this catalog remembers (by check or prune). -ENOENT none. */
int cfs_repo_space_last(struct cfs_repo *r, struct cfs_repo_space *ret);
/* The packs the catalog knows and their stored bytes, summed now (one pass
 * over its pack records, no object read). Catalog errors as catalog.h. */
int cfs_repo_pack_totals(struct cfs_repo *r, uint64_t *ret_packs, uint64_t *ret_bytes);
