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
