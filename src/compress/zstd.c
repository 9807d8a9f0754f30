/* SPDX-License-Identifier: MIT */
/*
 * zstd.c — the only zstd user. One ZSTD_CCtx and one ZSTD_DCtx per
 * cfs_compressor, created once: zstd's own advice for repeated small jobs,
 * and it keeps the ingest hot path free of allocations.
 */
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "chronofs/compress.h"

struct cfs_compressor {
	ZSTD_CCtx *cctx; /* owned; level set once in cfs_compressor_new() */
	ZSTD_DCtx *dctx; /* owned */
};

struct cfs_compressor *cfs_compressor_free(struct cfs_compressor *c)
{
	if (!c)
		return NULL;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
	return NULL;
}

int cfs_compressor_new(int level, struct cfs_compressor **ret)
{
	_cleanup_(cfs_compressor_freep) struct cfs_compressor *c = NULL;

	if (level < 1 || level > 19)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->cctx || !c->dctx)
		return -ENOMEM;
	/* The content size in the frame header lets cfs_decompress() cross-
	 * check raw_len before decoding; no zstd checksum, since every stored
	 * blob is already covered by its id (and the AEAD tag). */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0)))
		return -EINVAL;
	*ret = TAKE_PTR(c);
	return 0;
}

/*
 * The destination capacity is the largest size worth keeping, n - n/64:
 * when zstd cannot fit the frame into it (dstSize_tooSmall) the input is
 * stored raw, so incompressible data never costs a full-size compression
 * buffer or an inflated copy.
 */
int cfs_compress(struct cfs_compressor *c, const void *p, size_t n, struct cfs_buf *out,
		 enum cfs_codec *ret_codec)
{
	size_t limit = n - n / 64, z;
	int r;

	cfs_buf_reset(out);
	if (n > 0 && limit > 0) {
		r = cfs_buf_reserve(out, limit);
		if (r < 0)
			return r;
		z = ZSTD_compress2(c->cctx, out->data, limit, p, n);
		if (!ZSTD_isError(z) && z <= limit) {
			out->len = z;
			*ret_codec = CFS_CODEC_ZSTD;
			return 0;
		}
		if (ZSTD_isError(z) && ZSTD_getErrorCode(z) != ZSTD_error_dstSize_tooSmall) {
			/* Leaves the context in a clean state for the next call. */
			ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
			return ZSTD_getErrorCode(z) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
		}
		ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
	}
	r = cfs_buf_append(out, p, n);
	if (r < 0)
		return r;
	*ret_codec = CFS_CODEC_RAW;
	return 0;
}

/* On failure out is left empty: no partially decoded bytes are exposed. */
int cfs_decompress(struct cfs_compressor *c, enum cfs_codec codec, const void *p, size_t n,
		   size_t raw_len, struct cfs_buf *out)
{
	unsigned long long fcs;
	size_t z;
	int r;

	cfs_buf_reset(out);
	switch (codec) {
	case CFS_CODEC_RAW:
		if (n != raw_len)
			return -EBADMSG;
		return cfs_buf_append(out, p, n);
	case CFS_CODEC_ZSTD:
		break;
	default:
		return -EPROTO;
	}

	/* Cheap header check before allocating raw_len bytes. The content
	 * size may be absent (frames from other encoders); then the decoded
	 * length is checked below instead. */
	fcs = ZSTD_getFrameContentSize(p, n);
	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return -EBADMSG;
	if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != (unsigned long long)raw_len)
		return -EBADMSG;

	r = cfs_buf_reserve(out, raw_len);
	if (r < 0)
		return r;
	/* dstCapacity is exactly raw_len: zstd fails rather than write past it. */
	z = ZSTD_decompressDCtx(c->dctx, out->data, raw_len, p, n);
	if (ZSTD_isError(z)) {
		ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_only);
		return ZSTD_getErrorCode(z) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
	}
	if (z != raw_len)
		return -EBADMSG;
	out->len = raw_len;
	return 0;
}
