/* SPDX-License-Identifier: MIT */
/*
 * fuzz-pack.c — the pack reader on arbitrary bytes, three ways:
 *  1. the input as a whole pack: cfs_pack_parse(), and the same through the
 *     two steps (cfs_pack_parse_trailer() on the last 12 bytes and on the
 *     whole input as a larger tail read, then cfs_pack_parse_header()); both
 *     must agree;
 *  2. the input as a sealed header alone, in a pack with a blob area in
 *     front of it, so mutations reach the header parser without having to
 *     keep a trailer consistent.
 * Keys are CFS_ENC_NONE, so "sealed" is plain and the header is parsed.
 *
 * Invariants checked on every accepted header (pack.h): entries lie inside
 * the blob area [0, H), do not overlap, and hold known types and codecs (a
 * dictionary number exactly with the dictionary codec); each entry's
 * 56-byte record re-encodes to the bytes in the header.
 */
#include <string.h>

#include "chronofs/compress.h"
#include "chronofs/pack.h"
#include "pack/pack-internal.h"
#include "fuzz.h"

/* Blob area size in front of the header in mode 2. */
#define BLOB_AREA 4096

static const struct cfs_keys keys = {.mode = CFS_ENC_NONE};

/* One for the whole run: reachable until exit, so not a leak. */
static struct cfs_crypto *crypto(void)
{
	static struct cfs_crypto *c;
	if (!c && cfs_crypto_new(&keys, &c) < 0)
		abort();
	return c;
}

static int offset_cmp(const void *a, const void *b)
{
	const struct cfs_pack_entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Independent check of what an accepted header promises; h is the size of
 * the blob area, hdr the plaintext header (CFS_ENC_NONE: the sealed bytes). */
static void check_entries(const struct cfs_pack_entry *e, size_t n, uint64_t h, const uint8_t *hdr)
{
	uint8_t rec[CFS_PACK_ENTRY_SIZE];

	FUZZ_CHECK(e != NULL);
	FUZZ_CHECK(n <= CFS_PACK_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		cfs_pack_entry_encode(&e[i], rec);
		FUZZ_CHECK(memcmp(rec, hdr + CFS_PACK_HEADER_FIXED + i * CFS_PACK_ENTRY_SIZE, sizeof(rec)) == 0);
		FUZZ_CHECK(e[i].type == CFS_BLOB_DATA || e[i].type == CFS_BLOB_TREE);
		FUZZ_CHECK(e[i].codec == CFS_CODEC_RAW || e[i].codec == CFS_CODEC_ZSTD ||
			   e[i].codec == CFS_CODEC_ZSTD_DICT);
		FUZZ_CHECK((e[i].codec == CFS_CODEC_ZSTD_DICT) == (e[i].dict != 0));
		FUZZ_CHECK(e[i].raw_len <= CFS_BLOB_MAX_SIZE);
		FUZZ_CHECK(e[i].stored_len > 0);
		FUZZ_CHECK(e[i].offset <= h && e[i].stored_len <= h - e[i].offset);
	}
	if (n < 2)
		return;
	struct cfs_pack_entry *s = malloc(n * sizeof(*s));
	if (!s)
		return;
	memcpy(s, e, n * sizeof(*s));
	qsort(s, n, sizeof(*s), offset_cmp);
	for (size_t i = 0; i + 1 < n; i++)
		FUZZ_CHECK(s[i].offset + s[i].stored_len <= s[i + 1].offset);
	free(s);
}

static void as_pack(const uint8_t *data, size_t size)
{
	_cleanup_free_ struct cfs_pack_entry *e1 = NULL, *e2 = NULL;
	size_t n1 = 0, n2 = 0;
	uint32_t hdr_len = 0, hdr_len2 = 0;
	int r1, r2, rt, rt2;

	r1 = cfs_pack_parse(crypto(), data, size, &e1, &n1);
	FUZZ_CHECK(r1 == 0 || r1 == -EPROTO || r1 == -EPROTONOSUPPORT || r1 == -EBADMSG ||
		   r1 == -ENOMEM);

	/* Step 1, on the exact trailer and on the whole input as a tail read. */
	if (size >= CFS_PACK_TRAILER_SIZE) {
		rt = cfs_pack_parse_trailer(data + size - CFS_PACK_TRAILER_SIZE,
					    CFS_PACK_TRAILER_SIZE, size, &hdr_len);
		rt2 = cfs_pack_parse_trailer(data, size, size, &hdr_len2);
		FUZZ_CHECK(rt == rt2);
		if (rt == 0)
			FUZZ_CHECK(hdr_len == hdr_len2);
	} else {
		rt = cfs_pack_parse_trailer(data, size, size, &hdr_len);
		FUZZ_CHECK(rt == -EPROTO);
	}
	if (rt < 0) {
		FUZZ_CHECK(r1 == rt);
		return;
	}
	FUZZ_CHECK(hdr_len >= CFS_PACK_HEADER_FIXED && hdr_len <= size - CFS_PACK_TRAILER_SIZE);

	/* Step 2 must agree with the one-call parse. */
	r2 = cfs_pack_parse_header(crypto(), data + size - CFS_PACK_TRAILER_SIZE - hdr_len, hdr_len,
				   size, &e2, &n2);
	FUZZ_CHECK(r1 == r2);
	if (r1 < 0)
		return;
	FUZZ_CHECK(n1 == n2 && memcmp(e1, e2, n1 * sizeof(*e1)) == 0);
	check_entries(e1, n1, size - CFS_PACK_TRAILER_SIZE - hdr_len, data + size - CFS_PACK_TRAILER_SIZE - hdr_len);
}

static void as_header(const uint8_t *data, size_t size)
{
	_cleanup_free_ struct cfs_pack_entry *e = NULL;
	uint64_t pack_size = (uint64_t)BLOB_AREA + size + CFS_PACK_TRAILER_SIZE;
	size_t n = 0;
	int r;

	r = cfs_pack_parse_header(crypto(), data, size, pack_size, &e, &n);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT || r == -EBADMSG ||
		   r == -ENOMEM);
	if (r == 0)
		check_entries(e, n, BLOB_AREA, data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_pack(data, size);
	as_header(data, size);
	return 0;
}
