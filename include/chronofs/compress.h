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

/*
 * Dictionary objects (dicts/<hex>, repository format 2 and later): one zstd
 * dictionary each. Plaintext layout (frozen, version 1; changing it needs a
 * format bump; the repository seals it with AAD "dict" and names it by the
 * SHA-256 of the sealed bytes; integers LE):
 *
 *    0  8  magic "CFSDICT\x01"
 *    8  4  version = 1
 *   12  4  number: the zstd dictionary id, non-zero (what pack entries name)
 *   16  4  length of the dictionary, 1..CFS_ZDICT_MAX_SIZE
 *   20     the zstd dictionary (ZDICT format), exactly that long: nothing
 *          follows it
 */
#define CFS_ZDICT_OBJECT_MAGIC "CFSDICT\x01"
#define CFS_ZDICT_OBJECT_VERSION 1
#define CFS_ZDICT_OBJECT_FIXED 20
#define CFS_ZDICT_MAX_SIZE (1u << 20)

/* A decoded dictionary object; dict points into the decoded bytes. */
struct cfs_zdict_object {
	uint32_t number;
	const uint8_t *dict; /* borrowed */
	size_t len;
};
/*
 * Check and decode a dictionary object's plaintext (pure: no digestion,
 * see cfs_zdict_new()). -EPROTO if malformed (short, bad magic, version 0,
 * a length out of range or not that of the rest, a dictionary whose zstd id
 * is not the number), -EPROTONOSUPPORT for a newer version.
 */
int cfs_zdict_object_decode(const void *p, size_t n, struct cfs_zdict_object *ret);
/* The object of ZDICT-format dictionary bytes into out (reset first); the
 * number is the dictionary's zstd id. -EINVAL if the bytes have no id or a
 * length out of range. decode -> encode gives back the same bytes. */
int cfs_zdict_object_encode(const void *dict, size_t len, struct cfs_buf *out);

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
