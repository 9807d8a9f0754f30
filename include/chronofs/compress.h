/* SPDX-License-Identifier: MIT */
/*
 * compress.h — zstd, skipped when it does not help. The only zstd user.
 *
 * Threading: a struct cfs_compressor holds one ZSTD_CCtx and one ZSTD_DCtx,
 * created once and reused; not thread-safe, one per worker.
 */
#pragma once

#include "chronofs/buf.h"

/* Stored in pack headers and the catalog: frozen values. */
enum cfs_codec {
	CFS_CODEC_RAW = 0,
	CFS_CODEC_ZSTD = 1,
};

struct cfs_compressor;
/* level: zstd level (1..19); 3 is the repository default. */
int cfs_compressor_new(int level, struct cfs_compressor **ret);
struct cfs_compressor *cfs_compressor_free(struct cfs_compressor *c);
CFS_DEFINE_FREEP(struct cfs_compressor, cfs_compressor_free)

/*
 * Compress p into out (out is reset first). If the compressed form is not at
 * least 1/64 smaller than the input, out holds a raw copy and *ret_codec is
 * CFS_CODEC_RAW: random data is never inflated.
 */
int cfs_compress(struct cfs_compressor *c, const void *p, size_t n, struct cfs_buf *out,
		 enum cfs_codec *ret_codec);
/*
 * Decode into out (reset first), which must come out exactly raw_len bytes
 * long. -EBADMSG if the zstd frame is corrupt or the size differs, -EPROTO for
 * an unknown codec. Never writes more than raw_len bytes.
 */
int cfs_decompress(struct cfs_compressor *c, enum cfs_codec codec, const void *p, size_t n,
		   size_t raw_len, struct cfs_buf *out);
