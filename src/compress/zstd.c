/* SPDX-License-Identifier: MIT */
/*
 * zstd.c — the only zstd user. One ZSTD_CCtx and one ZSTD_DCtx per
 * cfs_compressor, created once: zstd's own advice for repeated small jobs,
 * and it keeps the ingest hot path free of allocations. Dictionaries
 * (cfs_zdict) are digested once and referenced by every context.
 */
#include <string.h>

#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "chronofs/compress.h"

struct cfs_compressor {
	ZSTD_CCtx *cctx; /* owned; level set once in cfs_compressor_new() */
	ZSTD_DCtx *dctx; /* owned */
};

struct cfs_zdict {
	uint32_t number;
	ZSTD_CDict *cdict; /* owned; NULL when made for decompression only */
	ZSTD_DDict *ddict; /* owned */
};

struct cfs_zdict *cfs_zdict_free(struct cfs_zdict *d)
{
	if (!d)
		return NULL;
	ZSTD_freeCDict(d->cdict);
	ZSTD_freeDDict(d->ddict);
	free(d);
	return NULL;
}

int cfs_zdict_new(const void *p, size_t n, int level, struct cfs_zdict **ret)
{
	_cleanup_(cfs_zdict_freep) struct cfs_zdict *d = NULL;

	if (level < 0 || level > 19)
		return -EINVAL;
	/* Only ZDICT-format dictionaries: a raw-content one has no id, and
	 * pack entries name a dictionary by its id. */
	uint32_t number = ZDICT_getDictID(p, n);
	if (number == 0)
		return -EPROTO;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->number = number;
	d->ddict = ZSTD_createDDict(p, n);
	if (!d->ddict)
		return -EPROTO;
	if (level > 0) {
		d->cdict = ZSTD_createCDict(p, n, level);
		if (!d->cdict)
			return -EPROTO;
	}
	*ret = TAKE_PTR(d);
	return 0;
}

int cfs_zdict_object_decode(const void *p, size_t n, struct cfs_zdict_object *ret)
{
	const uint8_t *b = p;

	if (!p && n > 0)
		return -EINVAL;
	if (n < 12 || memcmp(b, CFS_ZDICT_OBJECT_MAGIC, 8) != 0)
		return -EPROTO;
	uint32_t version = cfs_get_le32(b + 8);
	if (version == 0)
		return -EPROTO;
	if (version > CFS_ZDICT_OBJECT_VERSION)
		return -EPROTONOSUPPORT;
	if (n < CFS_ZDICT_OBJECT_FIXED)
		return -EPROTO;
	uint32_t number = cfs_get_le32(b + 12), len = cfs_get_le32(b + 16);
	if (len == 0 || len > CFS_ZDICT_MAX_SIZE || len != n - CFS_ZDICT_OBJECT_FIXED)
		return -EPROTO;
	/* The id is read from the dictionary's own header (a number of 0 is
	 * what ZDICT_getDictID() says for "none"). */
	if (number == 0 || ZDICT_getDictID(b + CFS_ZDICT_OBJECT_FIXED, len) != number)
		return -EPROTO;
	*ret = (struct cfs_zdict_object){number, b + CFS_ZDICT_OBJECT_FIXED, len};
	return 0;
}

int cfs_zdict_object_encode(const void *dict, size_t len, struct cfs_buf *out)
{
	uint8_t fixed[CFS_ZDICT_OBJECT_FIXED];

	uint32_t number = len ? ZDICT_getDictID(dict, len) : 0;
	if (number == 0 || len > CFS_ZDICT_MAX_SIZE)
		return -EINVAL;
	memcpy(fixed, CFS_ZDICT_OBJECT_MAGIC, 8);
	cfs_put_le32(fixed + 8, CFS_ZDICT_OBJECT_VERSION);
	cfs_put_le32(fixed + 12, number);
	cfs_put_le32(fixed + 16, (uint32_t)len);
	cfs_buf_reset(out);
	int r = cfs_buf_reserve(out, sizeof(fixed) + len);
	if (r == 0)
		r = cfs_buf_append(out, fixed, sizeof(fixed));
	if (r == 0)
		r = cfs_buf_append(out, dict, len);
	return r;
}

uint32_t cfs_zdict_number(const struct cfs_zdict *d)
{
	return d->number;
}

int cfs_zdict_train(const void *samples, const size_t *sizes, unsigned count, size_t cap, struct cfs_buf *out)
{
	cfs_buf_reset(out);
	int r = cfs_buf_reserve(out, cap);
	if (r < 0)
		return r;
	/* zstd's default trainer (fastCover, tuned for level 3); its id is a
	 * hash of the content, so equal dictionaries get equal ids. */
	size_t z = ZDICT_trainFromBuffer(out->data, cap, samples, sizes, count);
	if (ZDICT_isError(z) || ZDICT_getDictID(out->data, z) == 0)
		return -EINVAL;
	out->len = z;
	return 0;
}

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
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0)) ||
	    /* The dictionary's number is in the pack entry: 4 bytes saved
	     * per blob, and a frame never names a dictionary by itself. */
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_dictIDFlag, 0)))
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
int cfs_compress(struct cfs_compressor *c, const struct cfs_zdict *d, const void *p, size_t n, struct cfs_buf *out,
		 enum cfs_codec *ret_codec)
{
	size_t limit = n - n / 64, z;
	int r;

	if (d && !d->cdict)
		return -EINVAL;
	cfs_buf_reset(out);
	if (n > 0 && limit > 0) {
		r = cfs_buf_reserve(out, limit);
		if (r < 0)
			return r;
		/* Sticky until changed: set for every call (a pointer store). */
		z = ZSTD_CCtx_refCDict(c->cctx, d ? d->cdict : NULL);
		if (ZSTD_isError(z))
			return -EIO;
		z = ZSTD_compress2(c->cctx, out->data, limit, p, n);
		if (!ZSTD_isError(z) && z <= limit) {
			out->len = z;
			*ret_codec = d ? CFS_CODEC_ZSTD_DICT : CFS_CODEC_ZSTD;
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
int cfs_decompress(struct cfs_compressor *c, enum cfs_codec codec, const struct cfs_zdict *d, const void *p,
		   size_t n, size_t raw_len, struct cfs_buf *out)
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
		d = NULL;
		break;
	case CFS_CODEC_ZSTD_DICT:
		if (!d)
			return -EBADMSG;
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
	if (d)
		z = ZSTD_decompress_usingDDict(c->dctx, out->data, raw_len, p, n, d->ddict);
	else
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
