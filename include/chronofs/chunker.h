/* SPDX-License-Identifier: MIT */
/*
 * chunker.h — FastCDC content-defined chunking with normalized chunking
 * (Xia et al., 2016/2020): a gear rolling hash, a stricter mask below the
 * average size and a looser one above it, so chunk sizes cluster near avg.
 *
 * The gear table is derived deterministically from the repository's secret
 * gear seed (so chunk boundaries do not fingerprint content across
 * repositories); min/avg/max are fixed per repository in `config`.
 * Changing the gear derivation or the masks changes every boundary and needs a
 * format bump.
 *
 * Stateless per call: the caller keeps a window of input and asks where the
 * next chunk ends. Thread-safe for concurrent reads of one initialised struct.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFS_CHUNKER_MIN_DEFAULT (256u * 1024)
#define CFS_CHUNKER_AVG_DEFAULT (1024u * 1024)
#define CFS_CHUNKER_MAX_DEFAULT (4096u * 1024)

struct cfs_chunker_params {
	uint32_t min_size, avg_size, max_size;
	uint8_t seed[32];
};

struct cfs_chunker {
	uint64_t gear[256];
	uint32_t min_size, avg_size, max_size;
	uint64_t mask_s, mask_l; /* strict (below avg) and loose (above avg) */
};

/*
 * -EINVAL unless 64 <= min < avg < max <= 64 MiB and avg is a power of two.
 */
int cfs_chunker_init(struct cfs_chunker *c, const struct cfs_chunker_params *p);

/*
 * Given the next n bytes of the stream, return the length of the next chunk
 * (1..max_size), or 0 when no boundary is found in n < max_size bytes and
 * !eof (the caller must supply more data). With eof, returns min(n, cut) and
 * n == 0 returns 0.
 */
size_t cfs_chunker_next(const struct cfs_chunker *c, const uint8_t *p, size_t n, bool eof);
