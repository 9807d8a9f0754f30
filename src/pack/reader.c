/* SPDX-License-Identifier: MIT */
/*
 * reader.c — strict parsing of pack trailers and headers.
 *
 * Everything here reads bytes from the store and trusts none of them: every
 * length is checked against what was actually given and against the pack
 * size before it is used, arithmetic is done in uint64_t after checks that
 * rule out overflow, and nothing is allocated on the word of an unchecked
 * length. A pack that passes guarantees to the caller: every entry's
 * [offset, offset + stored_len) lies inside the blob area [0, H), entries do
 * not overlap, and every field holds a value this version knows.
 */
#include <string.h>

#include "chronofs/compress.h"
#include "pack/pack-internal.h"

/*
 * Accepts n >= CFS_PACK_TRAILER_SIZE and reads the last 12 bytes given, so a
 * caller may pass a larger tail read of the pack. The header length must
 * leave room for the trailer within pack_size and be between the smallest
 * and largest header a valid pack can have.
 */
int cfs_pack_parse_trailer(const void *trailer, size_t n, uint64_t pack_size, uint32_t *ret_hdr_len)
{
	const uint8_t *t;
	uint32_t hdr_len;

	if (!trailer || n < CFS_PACK_TRAILER_SIZE || pack_size < CFS_PACK_TRAILER_SIZE ||
	    (uint64_t)n > pack_size)
		return -EPROTO;
	t = (const uint8_t *)trailer + n - CFS_PACK_TRAILER_SIZE;
	if (memcmp(t + 4, CFS_PACK_MAGIC, CFS_PACK_MAGIC_SIZE) != 0)
		return -EPROTO;
	hdr_len = cfs_get_le32(t);
	if (hdr_len < CFS_PACK_HEADER_FIXED || hdr_len > CFS_PACK_MAX_SEALED_HEADER ||
	    hdr_len > pack_size - CFS_PACK_TRAILER_SIZE)
		return -EPROTO;
	*ret_hdr_len = hdr_len;
	return 0;
}

static int entry_cmp_offset(const void *a, const void *b)
{
	const struct cfs_pack_entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int cfs_pack_entry_decode(const uint8_t rec[CFS_PACK_ENTRY_SIZE], struct cfs_pack_entry *ret)
{
	struct cfs_pack_entry *e = ret;

	/* Written in place, padding zeroed: entries compare with memcmp. */
	memset(e, 0, sizeof(*e));
	memcpy(e->id.b, rec, CFS_ID_SIZE);
	e->type = rec[32];
	e->codec = rec[33];
	e->raw_len = cfs_get_le32(rec + 36);
	e->stored_len = cfs_get_le32(rec + 40);
	e->offset = cfs_get_le64(rec + 44);
	e->dict = cfs_get_le32(rec + 52);
	if (!cfs_pack_entry_fields_ok(e))
		return -EPROTO;
	/* Reserved bytes must be zero so a future version can give them a
	 * meaning that old readers refuse rather than ignore. */
	if (rec[34] || rec[35])
		return -EPROTO;
	if (e->raw_len > CFS_BLOB_MAX_SIZE || e->stored_len == 0)
		return -EPROTO;
	return 0;
}

/* Decode and check one 56-byte record against the blob area size h. */
static int parse_entry(const uint8_t *rec, uint64_t h, struct cfs_pack_entry *e)
{
	int r = cfs_pack_entry_decode(rec, e);
	if (r < 0)
		return r;
	if (e->offset > h || e->stored_len > h - e->offset)
		return -EPROTO;
	return 0;
}

int cfs_pack_parse_header(struct cfs_crypto *c, const void *sealed, size_t n, uint64_t pack_size,
			  struct cfs_pack_entry **ret, size_t *ret_count)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	_cleanup_free_ struct cfs_pack_entry *entries = NULL, *sorted = NULL;
	uint32_t version, count;
	uint64_t h;
	int r;

	if (!c || !ret || !ret_count || (!sealed && n > 0))
		return -EINVAL;
	if (n < CFS_PACK_HEADER_FIXED || (uint64_t)n > CFS_PACK_MAX_SEALED_HEADER ||
	    pack_size < CFS_PACK_TRAILER_SIZE || (uint64_t)n > pack_size - CFS_PACK_TRAILER_SIZE)
		return -EPROTO;
	h = pack_size - CFS_PACK_TRAILER_SIZE - n;

	r = cfs_crypto_open(c, sealed, n, CFS_PACK_MAGIC, CFS_PACK_MAGIC_SIZE, &plain);
	if (r < 0)
		return r;

	if (plain.len < CFS_PACK_HEADER_FIXED ||
	    memcmp(plain.data, CFS_PACK_HDR_MAGIC, CFS_PACK_HDR_MAGIC_SIZE) != 0)
		return -EPROTO;
	version = cfs_get_le32(plain.data + 8);
	if (version == 0)
		return -EPROTO;
	if (version > CFS_PACK_VERSION)
		return -EPROTONOSUPPORT;
	count = cfs_get_le32(plain.data + 12);
	if (count > CFS_PACK_MAX_ENTRIES ||
	    (uint64_t)CFS_PACK_HEADER_FIXED + (uint64_t)count * CFS_PACK_ENTRY_SIZE != plain.len)
		return -EPROTO;

	/* Never hand back NULL on success, even for an empty pack. */
	entries = calloc(CFS_MAX(count, 1u), sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		r = parse_entry(plain.data + CFS_PACK_HEADER_FIXED + (size_t)i * CFS_PACK_ENTRY_SIZE, h,
				&entries[i]);
		if (r < 0)
			return r;
	}

	/* Overlap check on a copy sorted by offset; entries keep header order.
	 * Each end is <= h (checked above), so the sum cannot overflow. Equal
	 * offsets overlap because stored_len > 0. */
	if (count > 1) {
		sorted = malloc((size_t)count * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, entries, (size_t)count * sizeof(*sorted));
		qsort(sorted, count, sizeof(*sorted), entry_cmp_offset);
		for (uint32_t i = 0; i + 1 < count; i++)
			if (sorted[i].offset + sorted[i].stored_len > sorted[i + 1].offset)
				return -EPROTO;
	}

	*ret = TAKE_PTR(entries);
	*ret_count = count;
	return 0;
}

int cfs_pack_parse(struct cfs_crypto *c, const void *pack, size_t n, struct cfs_pack_entry **ret,
		   size_t *ret_count)
{
	uint32_t hdr_len;
	int r;

	if (!pack && n > 0)
		return -EINVAL;
	if (n < CFS_PACK_TRAILER_SIZE)
		return -EPROTO;
	r = cfs_pack_parse_trailer((const uint8_t *)pack + n - CFS_PACK_TRAILER_SIZE,
				   CFS_PACK_TRAILER_SIZE, n, &hdr_len);
	if (r < 0)
		return r;
	return cfs_pack_parse_header(c, (const uint8_t *)pack + n - CFS_PACK_TRAILER_SIZE - hdr_len,
				     hdr_len, n, ret, ret_count);
}
