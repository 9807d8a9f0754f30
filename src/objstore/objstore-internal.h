/* SPDX-License-Identifier: MIT */
/*
 * objstore-internal.h — the backend vtable behind include/chronofs/objstore.h.
 *
 * Only src/objstore/ and tests/unit/test-objstore.c include this header.
 *
 * Division of labour: the public wrappers in objstore.c validate every name
 * and prefix (cfs_objstore_name_valid()) and argument pointers before calling
 * a backend, so backends may assume a name is a non-empty, relative,
 * '/'-separated path of at most CFS_OBJSTORE_NAME_MAX bytes whose components
 * are non-empty, not "." or "..", at most CFS_OBJSTORE_COMPONENT_MAX bytes and
 * do not start with the reserved CFS_OBJSTORE_TMP_PREFIX. After every put,
 * put_new and upload_commit that returned 0 the wrappers call head on the
 * name and compare the size with what was written (objstore.h), so head
 * must see a put that has returned (read-after-write consistency).
 *
 * Every callback returns 0 (or, for list, the callback's non-zero value) on
 * success and a negative errno on failure; out-parameters are written only on
 * success unless stated. Every callback may be called from several threads at
 * once on the same store: a backend has no shared mutable state or protects
 * it with its own lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/objstore.h"
#include "chronofs/ratelimit.h"

/* Longest object name, in bytes (without the terminating NUL). */
#define CFS_OBJSTORE_NAME_MAX 1024
/* Longest single component: the local backend maps components to file names
 * and NAME_MAX is 255 on every Linux filesystem we target; enforcing it for all
 * backends keeps a repository copyable between them. */
#define CFS_OBJSTORE_COMPONENT_MAX 255
/* Components starting with this are reserved for the temporary files of
 * unfinished puts (local backend), which list() never reports. Rejecting them
 * as names keeps "put succeeded" and "list shows it" equivalent everywhere. */
#define CFS_OBJSTORE_TMP_PREFIX ".tmp."

struct cfs_objstore_ops {
	/*
	 * put: store n bytes (n may be 0; p may then be NULL) under name,
	 * replacing any existing object. Returns only once the object is
	 * durable; atomic (readers see the old object, the new one, or none,
	 * never a mix). Idempotent: repeating it with the same bytes is
	 * harmless. On failure the previous object, if any, is unchanged.
	 */
	int (*put)(void *impl, const char *name, const void *p, size_t n);
	/*
	 * put_new: as put, but -EEXIST (and no change) if name already exists.
	 * Atomic against concurrent put_new of the same name: exactly one wins.
	 */
	int (*put_new)(void *impl, const char *name, const void *p, size_t n);
	/*
	 * get: the whole object into out, which is reset first. -ENOENT if
	 * absent. On failure out->len is 0. A backend that reads fewer bytes than
	 * the object's recorded size returns -EIO, never a short object.
	 */
	int (*get)(void *impl, const char *name, struct cfs_buf *out);
	/*
	 * get_range: exactly n bytes at off into out (n may be 0). -ENOENT if
	 * absent; -ERANGE if the object ends before off + n (including when off
	 * + n overflows). A short read is never padded and never reported as
	 * success; the contents of out are unspecified on failure.
	 */
	int (*get_range)(void *impl, const char *name, uint64_t off, size_t n, void *out);
	/*
	 * get_upto (optional): up to n bytes (n > 0) at off into out, their
	 * number in *ret_got: fewer than n only where the object ends. -ENOENT
	 * if absent, -ERANGE if off is at or past the end. One request where
	 * get_range would need the size first; the disk cache reads blocks
	 * with it (without it: head, then get_range).
	 */
	int (*get_upto)(void *impl, const char *name, uint64_t off, size_t n, void *out, size_t *ret_got);
	/* head: the object's size in *ret_size. -ENOENT if absent. */
	int (*head)(void *impl, const char *name, uint64_t *ret_size);
	/*
	 * list: call cb(name, size, userdata) once for every object whose name
	 * starts with prefix ("" for all), in no particular order; prefix is
	 * validated by the caller (its part up to the last '/' is a valid name
	 * or empty). Objects put or deleted during the walk may or may not be
	 * reported. cb is called without any backend lock held, so it may call
	 * back into the store. A non-zero return from cb stops the walk and is
	 * returned as is.
	 */
	int (*list)(void *impl, const char *prefix, cfs_objstore_list_cb cb, void *userdata);
	/* delete: remove name. -ENOENT if absent. Durable on return. */
	int (*delete)(void *impl, const char *name);
	/*
	 * delete_many (optional; without it the wrappers call delete once per
	 * name, cfs_objstore_ops_delete_many()): remove names[0..n), n >= 1,
	 * every name valid, duplicates allowed, trying every name whatever
	 * happens to the others. A missing name counts as deleted. errs gets n
	 * results: 0 for a name gone (durable), else its error. Returns 0 when
	 * all are gone, else the error of the first name (in array order) not
	 * gone. Idempotent. Not atomic, no order: a crash leaves any subset
	 * deleted.
	 */
	int (*delete_many)(void *impl, const char *const *names, size_t n, int *errs);
	/*
	 * Streamed puts (optional; without them the wrapper buffers and calls
	 * put). upload_begin makes a backend handle; upload_append adds bytes;
	 * upload_commit makes them the object name with put's guarantees;
	 * upload_free releases the handle, dropping the bytes if uncommitted.
	 */
	int (*upload_begin)(void *impl, void **ret_handle);
	int (*upload_append)(void *impl, void *handle, const void *p, size_t n);
	int (*upload_commit)(void *impl, void *handle, const char *name);
	void (*upload_free)(void *impl, void *handle);
	/* free: release impl. Called once, with no other call in flight. */
	void (*free)(void *impl);
	/* The backend applies the byte-rate limits itself, smoothly within
	 * each transfer (s3); otherwise the wrappers do, per call. */
	bool limits_itself;
	/* transfers when the options leave it 0. */
	unsigned default_transfers;
	/* Across a network: worth a disk cache. */
	bool remote;
};

struct cfs_objstore {
	const struct cfs_objstore_ops *ops;
	char *location; /* owned; for messages */
	void *impl;     /* owned by the backend, released by ops->free */
	unsigned transfers;
	struct cfs_ratelimit up, down; /* unless ops->limits_itself */
	struct cfs_diskcache *dcache;  /* owned, or NULL */
};

/* The disk cache of blocks (diskcache.c); see cfs_objstore_disk_cache(). */
struct cfs_diskcache;
int cfs_diskcache_open(const char *dir, uint64_t budget, bool ephemeral, struct cfs_diskcache **ret);
struct cfs_diskcache *cfs_diskcache_free(struct cfs_diskcache *c);
CFS_DEFINE_FREEP(struct cfs_diskcache, cfs_diskcache_free)
/*
 * Ranges of data/ objects are kept in aligned blocks of
 * CFS_DISKCACHE_BLOCK bytes (the last one of an object shorter): a read
 * that misses fetches whole blocks with fetch(), one request per block
 * however many blobs the block holds, and threads that miss the same
 * block at once share one fetch. 0 and exactly n bytes in out; the
 * fetch's error; -ERANGE when the object ends before off + n.
 */
#define CFS_DISKCACHE_BLOCK (4u << 20)
typedef int (*cfs_diskcache_fetch_fn)(void *ud, const char *object, uint64_t off, size_t n, void *out,
				      size_t *ret_got);
int cfs_diskcache_read(struct cfs_diskcache *c, const char *object, uint64_t off, size_t n, void *out,
		       cfs_diskcache_fetch_fn fetch, void *ud);
void cfs_diskcache_stats(struct cfs_diskcache *c, struct cfs_objstore_cache_stats *ret);

/*
 * Backend constructors. cfs_objstore_open() is the public entry point; these
 * are exported for objstore.c and tests.
 *
 * local: dir is a filesystem path. With create, it is made (mkdir -p, 0700
 * for directories created); without, it must exist (-ENOENT, -ENOTDIR).
 */
int cfs_objstore_local_new(const char *dir, bool create, struct cfs_objstore **ret);
/* mem: an empty in-memory store; contents die with it. */
int cfs_objstore_mem_new(struct cfs_objstore **ret);
/* s3: location "s3://BUCKET[/PREFIX]"; credentials and endpoint from the
 * environment (s3.c); the rate limits of o (never NULL). The bucket must exist. -EINVAL (logged) without
 * credentials or with a malformed location. */
int cfs_objstore_s3_new(const char *location, const struct cfs_objstore_options *o, struct cfs_objstore **ret);

/* S3 pieces, exported for tests. */
struct cfs_s3_config {
	char *bucket, *prefix; /* prefix: "" or without leading/trailing '/' */
	char *endpoint;        /* scheme://host[:port], no trailing '/' */
	char *region, *key_id, *secret;
	char *token, *ca_file; /* or NULL */
	char *credentials_file; /* where key_id, secret and token come from; NULL: the environment */
	bool path_style;       /* endpoint/bucket/key rather than bucket.host/key */
};
int cfs_s3_config_parse(const char *location, struct cfs_s3_config *c);
/* The endpoint, region, credentials, CA bundle and path style: o's
 * overrides (o may be NULL), else the environment's (objstore.h). -ENOKEY
 * without credentials, -EINVAL for an endpoint that is not http(s)://,
 * and a credentials file's errors (logged, naming it), -ENOMEM. */
int cfs_s3_config_from_env(struct cfs_s3_config *c, const struct cfs_objstore_options *o);
void cfs_s3_config_release(struct cfs_s3_config *c);
/* RFC 3986 percent-encoding; keep_slash leaves '/' as is. Appends. */
int cfs_s3_uri_encode(const char *s, bool keep_slash, struct cfs_buf *out);
/* A request's URL, NUL-terminated, appended to out: base (the bucket's URL
 * with its trailing '/': "http://host/bucket/" in path style,
 * "https://bucket.host/" otherwise) + key encoded, or for the bucket itself
 * (key NULL) "http://host/bucket" or "https://bucket.host/" as the AWS SDKs
 * send it; then "?query" (already canonical) unless query is NULL. */
int cfs_s3_url(const char *base, bool path_style, const char *key, const char *query, struct cfs_buf *out);
/*
 * S3's XML (s3xml.c, expat; what is accepted is written there). Pure
 * functions over the body as received.
 *
 * A ListObjectsV2 result: cb per object (key NUL-terminated, size) in
 * document order, called only once the whole document has parsed, so a
 * malformed page is refused before anything of it is used; a non-zero
 * return of cb stops and is returned. *ret_truncated tells whether another
 * page follows, and then ret_token (reset first) holds its continuation
 * token (NUL-terminated, len without it); both are written only on
 * success. -EPROTO if malformed or not a ListBucketResult, -ENOMEM.
 */
typedef int (*cfs_s3_list_cb)(const char *key, uint64_t size, void *ud);
int cfs_s3_parse_list(const char *xml, size_t n, cfs_s3_list_cb cb, void *ud, bool *ret_truncated,
		      struct cfs_buf *ret_token);
/*
 * A DeleteObjects (multi-object delete) result, <DeleteResult> with
 * <Deleted><Key>..</Key>...</Deleted> and <Error><Key>..</Key><Code>..</Code>
 * <Message>..</Message>...</Error> children: cb per Deleted (code and
 * message NULL) and per Error (code, and message "" where absent) in
 * document order, every text NUL-terminated UTF-8, called only once the
 * whole document has parsed, as for a listing; a non-zero return of cb
 * stops and is returned. Keys are as the server wrote them: nothing says
 * they are keys that were asked for, or that each appears once.
 * -EPROTO if malformed, not a DeleteResult, or a Deleted without Key or an
 * Error without Key or Code; -ENOMEM.
 */
typedef int (*cfs_s3_delete_cb)(const char *key, const char *code, const char *message, void *ud);
int cfs_s3_parse_delete(const char *xml, size_t n, cfs_s3_delete_cb cb, void *ud);
/*
 * s escaped as XML character data (s3xml.c), appended to out unless out is
 * NULL; its length added to *len. -EINVAL (nothing appended) if XML 1.0
 * cannot carry it: a control character other than tab, LF and CR (not
 * even as a character reference), bytes that are not UTF-8, U+FFFE or
 * U+FFFF. & < > " ' become entities; tab, LF and CR references (a
 * literal CR would be read back as LF). -ENOMEM.
 */
int cfs_s3_xml_escape(const char *s, struct cfs_buf *out, size_t *len);
/* An error body (<Error><Code>..</Code><Message>..</Message>...</Error>):
 * ret_code and ret_message (reset first) get the texts, NUL-terminated and
 * empty where absent. -EPROTO if malformed or not an Error, -ENOMEM. */
int cfs_s3_parse_error(const char *xml, size_t n, struct cfs_buf *ret_code, struct cfs_buf *ret_message);

/*
 * The fault-injecting wrapper (faulty.c; the kinds, what counts and the
 * durability modelled are described there). Only in -Dfault_injection
 * builds; otherwise cfs_objstore_faulty_from_env() is 0 and does nothing.
 *
 * cfs_objstore_faulty_arm: wrap s's backend in place per spec
 * ("KIND@N[,...]", "trace=PATH"); local_root: the directory of a local
 * store (for powerloss-tmp), else NULL. -EINVAL for a malformed spec (s
 * unchanged). With CFS_FAULTY_NO_EXIT a power loss does not end the
 * process: that operation and every later mutating one return -ECANCELED
 * (for unit tests, which then inspect the store).
 * cfs_objstore_faulty_from_env: the same per $CHRONOFS_OBJSTORE_FAULT, if
 * set (cfs_objstore_open()'s hook; local: s is a local directory). A
 * malformed spec is logged and returned.
 */
enum cfs_faulty_flags {
	CFS_FAULTY_NO_EXIT = (1 << 0),
};
#ifdef CFS_FAULT_INJECTION
int cfs_objstore_faulty_arm(struct cfs_objstore *s, const char *spec, const char *local_root,
			    enum cfs_faulty_flags flags);
int cfs_objstore_faulty_from_env(struct cfs_objstore *s, bool local);
#else
#define cfs_objstore_faulty_from_env(s, local) 0
#endif

/* delete_many through ops: ops->delete_many where the backend has one,
 * else ops->delete name by name (-ENOENT counted as deleted), with the
 * contract of the delete_many op; n may be 0. For objstore.c and the
 * fault-injecting wrapper, which hands runs of names to its inner
 * backend. */
int cfs_objstore_ops_delete_many(const struct cfs_objstore_ops *ops, void *impl, const char *const *names, size_t n,
				 int *errs);

/* Wrap a backend in a store; takes ownership of impl on success only.
 * location is copied. */
int cfs_objstore_new_internal(const struct cfs_objstore_ops *ops, void *impl, const char *location,
			      struct cfs_objstore **ret);

/* The validation the public wrappers apply: 0 if name is a valid object
 * name, -EINVAL otherwise. Exported for tests. */
int cfs_objstore_name_valid(const char *name);
