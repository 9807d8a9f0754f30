/* SPDX-License-Identifier: MIT */
/*
 * ingest-internal.h — the sealing pipeline of ingest.
 *
 * The walking thread reads, chunks, hashes and claims (cfs_repo_claim_blob:
 * ids are known at once, so trees can be built without waiting); the blobs
 * it claims go to worker threads that compress, encrypt and append them to
 * packs (cfs_repo_put_sealed). The queue holds at most `budget` bytes of
 * chunk data, so memory does not grow with file or corpus size.
 */
#pragma once

#include <sys/stat.h>

#include "chronofs/repo.h"

struct pipeline;

/* workers: sealing threads (>= 1); budget: bytes of queued chunk data. */
int pipeline_new(struct cfs_repo *r, unsigned workers, size_t budget, struct pipeline **ret);
/* Stops the workers; queued blobs are dropped (call pipeline_drain first to
 * keep them). */
struct pipeline *pipeline_free(struct pipeline *p);
/* Queue a claimed blob (the bytes are copied); waits while the queue is
 * full. Returns the first error a worker met, if any. */
int pipeline_put(struct pipeline *p, enum cfs_blob_type type, const struct cfs_id *id, const void *data, size_t n);
/* Wait until every queued blob is in a pack; the first error, if any. */
int pipeline_drain(struct pipeline *p);
/* Bytes stored (sealed sizes) and blobs added by the workers so far. */
void pipeline_stats(struct pipeline *p, uint64_t *ret_bytes, uint64_t *ret_blobs);

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
