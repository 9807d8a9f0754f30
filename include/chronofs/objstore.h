/* SPDX-License-Identifier: MIT */
/*
 * objstore.h — named objects in a flat namespace ("config", "keys/<id>",
 * "data/<xx>/<pack>", "index/<id>", "snapshots/<id>", "locks/<id>").
 *
 * Backends (src/objstore/): `local` (a directory; the embedded default), `s3`
 * (s3://BUCKET[/PREFIX], s3.c) and `mem` (tests); in -Dfault_injection
 * builds, `faulty` (faulty.c) wraps any of them when
 * CHRONOFS_OBJSTORE_FAULT is set (tests: failures, short and torn writes,
 * power loss at the Nth operation). Names are '/'-separated,
 * never start with '/', never contain "..", '\0' or empty components;
 * anything else is -EINVAL.
 *
 * Durability: put() returns only once the object is durable (local: written
 * to a temporary name, fsynced, renamed, directory fsynced), and it is atomic:
 * a reader sees the old object, the new one, or none, never a torn one.
 * Local files are created 0600 in 0700 directories.
 *
 * Every put (put, put_new, upload commit) then checks that the store holds
 * the object with all its bytes (a head: a stat, or a HEAD request on S3),
 * so that a store which reports success for part of an object is caught
 * while the bytes are at hand (objstore.c). Callers therefore never put
 * bytes of different sizes under one name at the same time: chronofs names
 * objects by their contents (packs, index, snapshot, dictionary objects) or
 * owns the name (locks, config).
 *
 * Threading: every call is safe from several threads at once.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"

struct cfs_objstore;

/*
 * Open the store at `location`: "file:///abs/dir" or a plain path (local
 * backend), or "mem:" (a fresh in-memory store, for tests). The local
 * directory must exist unless `create`, in which case it is made (0700).
 */
int cfs_objstore_open(const char *location, bool create, struct cfs_objstore **ret);

/* Tuning, for every backend; zeroes mean the defaults. */
struct cfs_objstore_options {
	/* How many transfers callers should run at once (the write path keeps
	 * this many packs in flight). Default: 1 for a local directory (its
	 * fsyncs gain nothing from more), 4 for S3 (hides each request's
	 * latency); at most CFS_OBJSTORE_TRANSFERS_MAX. */
	unsigned transfers;
	/* Bytes per second into / out of the store, over all threads; 0: none. */
	uint64_t limit_upload, limit_download;
	/*
	 * S3 only (src/objstore/s3.c; other backends ignore them): settings
	 * of this store that override the environment's, so that one process
	 * can open repositories on different services. Borrowed, read only
	 * during the open; NULL (CFS_S3_PATH_STYLE_ENV) takes the
	 * environment's setting as s3.c's header lists them.
	 *   s3_endpoint   for AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
	 *                 (http:// or https://, else the open fails -EINVAL)
	 *   s3_region     for AWS_REGION / AWS_DEFAULT_REGION
	 *   s3_ca_bundle  for AWS_CA_BUNDLE
	 *   s3_credentials_file  for AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
	 *                 and AWS_SESSION_TOKEN, all three: the file's lines
	 *                 VAR=VALUE (systemd's EnvironmentFile= format: '#'
	 *                 and ';' comments, values optionally quoted; other
	 *                 variables are ignored) are read at the open, and
	 *                 the environment's credentials are not used. The open
	 *                 fails (logged, naming the file) -EACCES when group
	 *                 or others have any permission on the file (as ssh
	 *                 refuses such a key: chmod 600), -EINVAL when it
	 *                 lacks the key id or the secret, or the errno of
	 *                 reading it.
	 */
	const char *s3_endpoint, *s3_region, *s3_ca_bundle, *s3_credentials_file;
	enum cfs_s3_path_style {
		CFS_S3_PATH_STYLE_ENV = 0, /* CHRONOFS_S3_PATH_STYLE, else auto */
		CFS_S3_PATH_STYLE_AUTO,    /* on for an IP address or localhost endpoint */
		CFS_S3_PATH_STYLE_ON,      /* endpoint/bucket/key */
		CFS_S3_PATH_STYLE_OFF,     /* bucket.host/key */
	} s3_path_style;
};
#define CFS_OBJSTORE_TRANSFERS_MAX 64
/* cfs_objstore_open with options (NULL: the defaults). */
int cfs_objstore_open_with(const char *location, bool create, const struct cfs_objstore_options *o,
			   struct cfs_objstore **ret);
/* The number of transfers callers should run at once (>= 1). */
unsigned cfs_objstore_transfers(const struct cfs_objstore *s);
/* True for stores across a network (s3), where a local copy of what was
 * read pays. */
bool cfs_objstore_remote(const struct cfs_objstore *s);

/*
 * Read data/ objects (packs: immutable once written) in aligned blocks of
 * 4 MiB and keep them in files under dir, at most budget bytes, least
 * recently used out first: one request brings a block's blobs, and later
 * reads come from local disk, also after a restart
 * (src/objstore/diskcache.c). -EBUSY when another process uses dir. With
 * ephemeral, dir is this process's alone and goes when the store is freed.
 * Call before the store is shared between threads.
 */
int cfs_objstore_disk_cache(struct cfs_objstore *s, const char *dir, uint64_t budget, bool ephemeral);
struct cfs_objstore_cache_stats {
	uint64_t hits, misses, evictions;
	uint64_t bytes, files, budget;
};
/* All zero without a disk cache. */
void cfs_objstore_disk_cache_stats(struct cfs_objstore *s, struct cfs_objstore_cache_stats *ret);
struct cfs_objstore *cfs_objstore_free(struct cfs_objstore *s); /* accepts NULL */
CFS_DEFINE_FREEP(struct cfs_objstore, cfs_objstore_free)

/* Human-readable location for messages (borrowed). */
const char *cfs_objstore_location(const struct cfs_objstore *s);

/* Store an object, replacing any previous one. Idempotent. If the store
 * then holds another size, the bytes are put once more; -EIO (logged,
 * naming the object and both sizes) if it still does. */
int cfs_objstore_put(struct cfs_objstore *s, const char *name, const void *p, size_t n);
/*
 * A streamed put, for objects built piece by piece whose name is known only
 * at the end (packs: named by their hash). Nothing is visible before
 * commit, which gives the guarantees of put (durable, atomic, replaces);
 * free without commit abandons the bytes. A commit after which the store
 * holds another size than was appended removes the object and returns
 * -EIO (logged): the bytes cannot be put again, and a partial object under
 * a name that promises its contents must not stay. Backends that cannot stream keep
 * the bytes in memory and put them at commit. One thread at a time per
 * upload.
 */
struct cfs_objstore_upload;
int cfs_objstore_upload_begin(struct cfs_objstore *s, struct cfs_objstore_upload **ret);
int cfs_objstore_upload_append(struct cfs_objstore_upload *u, const void *p, size_t n);
int cfs_objstore_upload_commit(struct cfs_objstore_upload *u, const char *name);
/* Bytes appended so far. */
uint64_t cfs_objstore_upload_size(const struct cfs_objstore_upload *u);
struct cfs_objstore_upload *cfs_objstore_upload_free(struct cfs_objstore_upload *u); /* accepts NULL */

/* Store only if absent: -EEXIST if the name exists (used for locks). The
 * size is checked as for put (a second put replaces: the name is ours). */
int cfs_objstore_put_new(struct cfs_objstore *s, const char *name, const void *p, size_t n);
/* Whole object into out (reset first). -ENOENT if absent. */
int cfs_objstore_get(struct cfs_objstore *s, const char *name, struct cfs_buf *out);
/* Exactly n bytes at off into out. -ENOENT if absent; -ERANGE if the object
 * ends before off+n (a truncated object is never padded). */
int cfs_objstore_get_range(struct cfs_objstore *s, const char *name, uint64_t off, size_t n,
			   void *out);
/* Size of an object. -ENOENT if absent. */
int cfs_objstore_head(struct cfs_objstore *s, const char *name, uint64_t *ret_size);
/* Remove. -ENOENT if absent. */
int cfs_objstore_delete(struct cfs_objstore *s, const char *name);
/*
 * Remove many objects, in as few requests as the backend allows (S3: one
 * multi-object delete per 1000 names; a local directory: one fsync per
 * directory; prune deletes its packs and index objects with it).
 *
 * Every name is tried, whatever happens to the others: a failure of one
 * name, or of one batch, does not stop the rest. A name is done when it is
 * absent: deleted now, or missing already (a missing object counts as
 * deleted, where cfs_objstore_delete() says -ENOENT; deleting again is
 * harmless). Returns 0 when every name is done, else the error of the
 * first name (in the order given) that is not: -EINVAL for an invalid
 * name (never sent), -EACCES (the store refused), -EIO (a backend failure
 * after retries, or a name the store's answer did not account for),
 * -EPROTO (an answer that does not parse), -ENOMEM, or the local
 * backend's errno.
 *
 * ret_errs (may be NULL) gets n results, always: ret_errs[i] is 0 when
 * names[i] is gone, durably as after cfs_objstore_delete(), else its
 * error (the state of that object is then unknown: a retry deletes it
 * again). The S3 backend logs each name the server refused, with the
 * server's code and message; callers log what they decide.
 *
 * The same name twice is allowed. n may be 0 (names may then be NULL).
 * Atomic per object only, in no particular order: a crash or power loss
 * in the middle leaves any subset of the names deleted (the
 * fault-injecting backend counts each name as one mutating operation, so
 * power-loss tests stop between two of them). A caller for whom order
 * matters (a pack before the index object that lists it) makes two calls.
 */
int cfs_objstore_delete_many(struct cfs_objstore *s, const char *const *names, size_t n, int *ret_errs);

/*
 * Call cb for every object whose name starts with `prefix` ("" lists all),
 * in no particular order; temporary files of unfinished puts are never
 * listed. A non-zero return from cb stops the walk and is returned.
 */
typedef int (*cfs_objstore_list_cb)(const char *name, uint64_t size, void *userdata);
int cfs_objstore_list(struct cfs_objstore *s, const char *prefix, cfs_objstore_list_cb cb,
		      void *userdata);
