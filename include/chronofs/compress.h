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
	CFS_CODEC_ZSTD_DICT = 2, /* zstd with a repository dictionary (format 2) */
};

/*
 * A zstd dictionary: its number (the zstd dictionary id, which pack entries
 * name) and the digested forms for compressing and decompressing. Read-only
 * once made, so one is shared by every thread.
 */
struct cfs_zdict;
/* Digest dictionary bytes (ZDICT format). level > 0 also prepares it for
 * compressing at that level; 0 for decompression only. -EPROTO if the bytes
 * are not a zstd dictionary with a non-zero id. */
int cfs_zdict_new(const void *p, size_t n, int level, struct cfs_zdict **ret);
struct cfs_zdict *cfs_zdict_free(struct cfs_zdict *d);
CFS_DEFINE_FREEP(struct cfs_zdict, cfs_zdict_free)
uint32_t cfs_zdict_number(const struct cfs_zdict *d);
/*
 * Train a dictionary of at most cap bytes from count samples laid out back
 * to back in samples (sizes[i] bytes each) into out (reset first).
 * -EINVAL if zstd cannot make one from them (too few or too alike).
 */
int cfs_zdict_train(const void *samples, const size_t *sizes, unsigned count, size_t cap, struct cfs_buf *out);

struct cfs_compressor;
/* level: zstd level (1..19); 3 is the repository default. */
int cfs_compressor_new(int level, struct cfs_compressor **ret);
struct cfs_compressor *cfs_compressor_free(struct cfs_compressor *c);
CFS_DEFINE_FREEP(struct cfs_compressor, cfs_compressor_free)

/*
 * Compress p into out (out is reset first), with dictionary d (made with a
 * level) or none (NULL). If the compressed form is not at least 1/64 smaller
 * than the input, out holds a raw copy and *ret_codec is CFS_CODEC_RAW:
 * random data is never inflated. Otherwise *ret_codec is CFS_CODEC_ZSTD, or
 * CFS_CODEC_ZSTD_DICT with d (the frame does not repeat the dictionary id:
 * the caller records cfs_zdict_number(d) beside the codec).
 */
int cfs_compress(struct cfs_compressor *c, const struct cfs_zdict *d, const void *p, size_t n, struct cfs_buf *out,
		 enum cfs_codec *ret_codec);
/*
 * Decode into out (reset first), which must come out exactly raw_len bytes
 * long; d is the blob's dictionary for CFS_CODEC_ZSTD_DICT (ignored
 * otherwise). -EBADMSG if the zstd frame is corrupt, the size differs or the
 * dictionary is missing, -EPROTO for an unknown codec. Never writes more than
 * raw_len bytes.
 */
int cfs_decompress(struct cfs_compressor *c, enum cfs_codec codec, const struct cfs_zdict *d, const void *p,
		   size_t n, size_t raw_len, struct cfs_buf *out);
