/* SPDX-License-Identifier: MIT */
/*
 * ingest-internal.h — the hashing and sealing pipeline of ingest.
 *
 * The walking thread reads and chunks (finding the cut points is cheap).
 * A large chunk goes to worker threads that compute its id, claim it
 * (cfs_repo_sealer_claim), compress, encrypt and append it to a pack when it
 * is new (cfs_repo_put_sealed), and write the id into the file's extent; a
 * directory's tree is encoded only once the jobs of its files are done
 * (pipeline_wait on its group). A small chunk is hashed and claimed by the
 * walker (a job would cost more than the hash), and only sealed by the
 * workers when new: no waiting at the end of a directory of small files. The queue holds at most `budget` bytes of
 * chunk data, so memory does not grow with file or corpus size.
 */
#pragma once

#include <sys/stat.h>

#include "chronofs/repo.h"
#include "chronofs/tree.h"

struct pipeline;

/* A stat answered from the inode cache takes a microsecond or two, one that
 * waits for the disk far longer than this: how uring.c decides between in
 * line and in flight, and prefetch.c between a warm and a cold directory. */
#define INGEST_STAT_CACHED_NS 40000

/* The jobs of one directory's files; protected by the pipeline's lock. */
struct pipeline_group {
	size_t n; /* queued or running */
};

/* workers: threads (>= 1); budget: bytes of queued chunk data. */
int pipeline_new(struct cfs_repo *r, unsigned workers, size_t budget, struct pipeline **ret);
/* Stops the workers; queued chunks are dropped (call pipeline_drain first
 * to keep them). */
struct pipeline *pipeline_free(struct pipeline *p);
/* Queue a chunk (the bytes are copied); its id lands in slot->id, which
 * must stay in place until the group is waited for. Waits while the queue
 * is full. Returns the first error a worker met, if any. */
int pipeline_put_chunk(struct pipeline *p, struct pipeline_group *g, struct cfs_extent *slot, const void *data,
		       size_t n);
/* Queue a chunk the caller has claimed (cfs_repo_claim_blob) for sealing. */
int pipeline_put_claimed(struct pipeline *p, const struct cfs_id *id, const void *data, size_t n);
/* Wait until the group's jobs are done; the first error, if any. */
int pipeline_wait(struct pipeline *p, struct pipeline_group *g);
/* Wait until every queued chunk is done; the first error, if any. */
int pipeline_drain(struct pipeline *p);
/* Bytes stored (sealed sizes) and blobs added by the workers so far. */
void pipeline_stats(struct pipeline *p, uint64_t *ret_bytes, uint64_t *ret_blobs);

/*
 * prefetch.c — metadata read-ahead: threads that list the source trees and
 * stat every entry ahead of the walk, so that on a cold cache the disk
 * reads of directories and inodes overlap instead of coming one at a time.
 * Only caches are warmed; nothing read is used.
 */
#define PREFETCH_THREADS_MAX 8
struct prefetch;
/* Return true to leave a directory (and what is below it) alone. count.c
 * asks about every entry, and gives no st (NULL). Called from several
 * threads at once. */
typedef bool (*prefetch_skip_fn)(void *ud, const char *path, const char *name, const struct stat *st);
/* one_fs: do not enter other file systems below an added path. */
int prefetch_new(unsigned threads, bool one_fs, prefetch_skip_fn skip, void *ud, struct prefetch **ret);
/* Warm path (absolute) and everything below it. */
void prefetch_add(struct prefetch *p, const char *path);
/* Stops the threads (a directory being read is finished first). */
struct prefetch *prefetch_free(struct prefetch *p);

/*
 * count.c — count-ahead for progress: a thread that counts the entries and
 * file bytes below the source paths, for a backup without a parent (which
 * has no other total). Bounded memory; see count.c for what it cannot see.
 */
struct counter;
struct counter_options {
	bool one_fs;         /* do not count other file systems' contents */
	bool exclude_caches; /* count only the tag of a cache directory */
	prefetch_skip_fn skip; /* excluded names (NULL: none) */
	void *ud;
};
/* Starts the thread over paths (absolute; copied). */
int counter_new(const char *const *paths, size_t n, const struct counter_options *o, struct counter **ret);
/* The counts so far (they only grow) and whether the walk is complete.
 * Any thread. */
void counter_get(struct counter *k, uint64_t *ret_entries, uint64_t *ret_bytes, bool *ret_finished);
/* Stops the thread at its next entry, joins it, frees. NULL is fine. */
struct counter *counter_free(struct counter *k);

/* A cache directory as www.brynosaurus.com/cachedir defines it: it holds
 * a CACHEDIR.TAG file that starts with the signature. */
#define INGEST_CACHEDIR_TAG "CACHEDIR.TAG"
bool ingest_is_cache_dir(int dirfd);

/*
 * uring.c — batched file system calls through io_uring (the only file
 * that uses liburing): many statx, openat and read requests in flight at
 * once, so a cold cache or a slow disk does not serialise the walk, and the
 * block layer gets the reads of a whole directory in one submission.
 */
struct uring;

/* -ENOSYS (or another error) when io_uring cannot be used here: the caller
 * falls back to plain system calls. */
int uring_new(unsigned depth, struct uring **ret);
struct uring *uring_free(struct uring *u);

/* lstat of each name relative to dirfd; errors per entry. */
struct uring_stat {
	const char *name;
	struct stat st;
	int error; /* 0 or -errno */
};
int uring_stat(struct uring *u, int dirfd, struct uring_stat *v, size_t n);

/*
 * Open each file (O_RDONLY | O_NOFOLLOW | O_NOATIME, without O_NOATIME
 * where that gives EPERM) and read it from offset 0 into buf, up to cap
 * bytes (give cap = expected size + 1 to see growth). The caller closes
 * the fds.
 */
struct uring_file {
	const char *name;
	uint8_t *buf;
	size_t cap;
	int fd;      /* result: the open fd, or -1 */
	int error;   /* result: 0 or -errno of the open or a read */
	size_t len;  /* result: bytes read (< cap only at end of file) */
	bool eof;    /* result: a read returned 0 */
};
int uring_load(struct uring *u, int dirfd, struct uring_file *v, size_t n);

/*
 * The names of one directory, sorted and each once, in memory that does
 * not grow with the directory (names.c): up to `run` names stay in memory;
 * a larger listing spills sorted runs to a scratch file in scratch_dir and
 * merges them as it is read.
 *
 * names_add() while listing, names_seal() once, then names_get(i) reads
 * forward: i at or above the index last given to names_forget_below(),
 * which frees the names below it (at most one past the last index read).
 */
struct names;
int names_new(const char *scratch_dir, size_t run, struct names **ret);
struct names *names_free(struct names *n);
/* -ENAMETOOLONG for an empty name or one over 255 bytes. */
int names_add(struct names *n, const char *name);
int names_seal(struct names *n);
/* 0 and *ret (valid until forgotten), *ret NULL past the last name; or
 * -errno (the scratch file could not be read back). */
int names_get(struct names *n, size_t i, const char **ret);
void names_forget_below(struct names *n, size_t i);
/* Sorted runs written to the scratch file (0: all in memory). */
size_t names_runs(const struct names *n);
