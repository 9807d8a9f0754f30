/* SPDX-License-Identifier: MIT */
/*
 * index.c — the index object codec (layout in include/chronofs/pack.h): pure
 * functions over buffers; the repository reads, authenticates and stores the
 * objects (repo.c, write.c).
 *
 * The decoder trusts no byte: every count is checked against the bytes left
 * before anything is read or handed on, and every entry is checked as the
 * pack header's entries are (cfs_pack_entry_decode) plus its bounds within
 * the pack's size.
 */
#include <string.h>

#include "pack/pack-internal.h"

_Static_assert(sizeof(CFS_PACK_INDEX_MAGIC) - 1 == 8, "index magic size");
_Static_assert(CFS_PACK_INDEX_PACK_FIXED == CFS_ID_SIZE + 8 + 4, "index pack record layout");

/* An entry's sealed bytes lie within a pack of the given size. */
static bool entry_in_pack(const struct cfs_pack_entry *e, uint64_t size)
{
	return e->offset <= size && e->stored_len <= size - e->offset;
}

int cfs_pack_index_decode(const void *p, size_t n, cfs_pack_index_pack_fn on_pack, cfs_pack_index_entry_fn on_entry,
			  void *ud)
{
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	const uint8_t *magic = NULL;
	uint32_t version = 0, npacks = 0;
	int r;

	if (!p && n > 0)
		return -EINVAL;
	/* Magic and version first: a newer version, whatever its length, is
	 * reported as such rather than as malformed. */
	cfs_rd_ptr(&rd, 8, &magic);
	cfs_rd_le32(&rd, &version);
	if (rd.err || memcmp(magic, CFS_PACK_INDEX_MAGIC, 8) != 0 || version == 0)
		return -EPROTO;
	if (version > CFS_PACK_INDEX_VERSION)
		return -EPROTONOSUPPORT;
	if (cfs_rd_le32(&rd, &npacks) < 0 || npacks > cfs_rd_left(&rd) / CFS_PACK_INDEX_PACK_FIXED)
		return -EPROTO;
	for (uint32_t i = 0; i < npacks; i++) {
		struct cfs_id pack;
		uint64_t size;
		uint32_t count;

		cfs_rd_bytes(&rd, pack.b, CFS_ID_SIZE);
		cfs_rd_le64(&rd, &size);
		if (cfs_rd_le32(&rd, &count) < 0 || count > cfs_rd_left(&rd) / CFS_PACK_ENTRY_SIZE)
			return -EPROTO;
		if (on_pack && (r = on_pack(ud, &pack, size, count)) != 0)
			return r;
		for (uint32_t j = 0; j < count; j++) {
			struct cfs_pack_entry e;
			const uint8_t *rec;

			cfs_rd_ptr(&rd, CFS_PACK_ENTRY_SIZE, &rec); /* cannot fail: count checked */
			r = cfs_pack_entry_decode(rec, &e);
			if (r < 0)
				return r;
			if (!entry_in_pack(&e, size))
				return -EPROTO;
			if (on_entry && (r = on_entry(ud, &pack, &e)) != 0)
				return r;
		}
	}
	return cfs_rd_left(&rd) == 0 ? 0 : -EPROTO;
}

int cfs_pack_index_enc_init(struct cfs_pack_index_enc *enc, struct cfs_buf *out)
{
	uint8_t fixed[CFS_PACK_INDEX_FIXED];

	memcpy(fixed, CFS_PACK_INDEX_MAGIC, 8);
	cfs_put_le32(fixed + 8, CFS_PACK_INDEX_VERSION);
	cfs_put_le32(fixed + 12, 0);
	cfs_buf_reset(out);
	int r = cfs_buf_append(out, fixed, sizeof(fixed));
	if (r < 0)
		return r;
	*enc = (struct cfs_pack_index_enc){.out = out};
	return 0;
}

int cfs_pack_index_enc_pack(struct cfs_pack_index_enc *enc, const struct cfs_id *pack, uint64_t size,
			    uint32_t count)
{
	uint8_t rec[CFS_PACK_INDEX_PACK_FIXED];

	if (enc->left != 0)
		return -EINVAL;
	if (enc->npacks == UINT32_MAX)
		return -E2BIG;
	memcpy(rec, pack->b, CFS_ID_SIZE);
	cfs_put_le64(rec + CFS_ID_SIZE, size);
	cfs_put_le32(rec + CFS_ID_SIZE + 8, count);
	int r = cfs_buf_append(enc->out, rec, sizeof(rec));
	if (r < 0)
		return r;
	enc->npacks++;
	cfs_put_le32(enc->out->data + 12, enc->npacks);
	enc->left = count;
	enc->pack_size = size;
	return 0;
}

int cfs_pack_index_enc_entry(struct cfs_pack_index_enc *enc, const struct cfs_pack_entry *e)
{
	uint8_t rec[CFS_PACK_ENTRY_SIZE];
	struct cfs_pack_entry check;

	if (enc->left == 0 || !entry_in_pack(e, enc->pack_size))
		return -EINVAL;
	cfs_pack_entry_encode(e, rec);
	/* What the decoder checks, on the record itself: an entry the decoder
	 * would refuse never reaches the store. */
	if (cfs_pack_entry_decode(rec, &check) < 0)
		return -EINVAL;
	int r = cfs_buf_append(enc->out, rec, sizeof(rec));
	if (r < 0)
		return r;
	enc->left--;
	return 0;
}

int cfs_pack_index_enc_records(struct cfs_pack_index_enc *enc, const struct cfs_id *pack, uint64_t size,
			       const uint8_t *recs, size_t count)
{
	const struct cfs_pack_index_enc saved = *enc;
	const size_t len = enc->out->len;

	if (count > UINT32_MAX)
		return -EINVAL;
	int r = cfs_pack_index_enc_pack(enc, pack, size, (uint32_t)count);
	for (size_t i = 0; i < count && r == 0; i++) {
		struct cfs_pack_entry e;
		r = cfs_pack_entry_decode(recs + i * CFS_PACK_ENTRY_SIZE, &e) < 0 ? -EINVAL
										  : cfs_pack_index_enc_entry(enc, &e);
	}
	if (r < 0 && enc->npacks != saved.npacks) {
		*enc = saved;
		enc->out->len = len;
		cfs_put_le32(enc->out->data + 12, saved.npacks);
	}
	return r;
}
