/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the pack module: round trips in both encryption modes,
 * determinism, and a reader that rejects every malformed pack we can build
 * (truncation, bad trailer, flipped bytes, hand-crafted headers with entries
 * out of bounds or overlapping) with the documented errno and without
 * crashing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/crypto.h"
#include "chronofs/pack.h"
#include "pack/pack-internal.h"

static struct cfs_crypto *new_crypto(enum cfs_encryption mode)
{
	struct cfs_keys k;
	struct cfs_crypto *c = NULL;

	cr_assert_eq(cfs_keys_generate(mode, &k), 0);
	cr_assert_eq(cfs_crypto_new(&k, &c), 0);
	cfs_keys_wipe(&k);
	return c;
}

/* Deterministic plaintext for blob i (sizes vary, some are 1 byte). */
static void blob_plain(size_t i, struct cfs_buf *out)
{
	size_t len = 1 + (i * 37) % 300;
	cfs_buf_reset(out);
	for (size_t j = 0; j < len; j++)
		cr_assert_eq(cfs_buf_append_u8(out, (uint8_t)(i * 7 + j)), 0);
}

/* Seal blob i the way the repository does (blob id as AAD) and add it. */
static void add_blob(struct cfs_pack_writer *w, struct cfs_crypto *c, size_t i)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	struct cfs_pack_entry e = {0};
	uint64_t off = 12345;
	size_t before = cfs_pack_writer_size(w);

	blob_plain(i, &plain);
	cr_assert_eq(cfs_crypto_blob_id(c, plain.data, plain.len, &e.id), 0);
	cr_assert_eq(cfs_crypto_seal(c, plain.data, plain.len, e.id.b, CFS_ID_SIZE, &sealed), 0);
	e.type = (i % 3 == 0) ? CFS_BLOB_TREE : CFS_BLOB_DATA;
	e.codec = (uint8_t)(i % 2);
	e.raw_len = (uint32_t)plain.len;
	e.stored_len = (uint32_t)sealed.len;
	e.offset = 999999; /* ignored by the writer */
	cr_assert_eq(cfs_pack_writer_add(w, &e, sealed.data, sealed.len, &off), 0);
	cr_assert_eq(off, before);
	cr_assert_eq(cfs_pack_writer_size(w), before + sealed.len);
}

static void build_pack(struct cfs_crypto *c, size_t count, struct cfs_buf *out, struct cfs_id *id)
{
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;

	cr_assert_eq(cfs_pack_writer_new(&w), 0);
	for (size_t i = 0; i < count; i++)
		add_blob(w, c, i);
	cr_assert_eq(cfs_pack_writer_finish(w, c, out, id), 0);
}

static void round_trip(enum cfs_encryption mode, size_t count)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(mode);
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;
	_cleanup_buf_ struct cfs_buf pack = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;
	_cleanup_free_ struct cfs_pack_entry *want = NULL;
	_cleanup_free_ struct cfs_pack_entry *got = NULL;
	struct cfs_id id, check;
	size_t got_count = 99, blobs_len;

	cr_assert_eq(cfs_pack_writer_new(&w), 0);
	cr_assert_eq(cfs_pack_writer_count(w), 0);
	for (size_t i = 0; i < count; i++)
		add_blob(w, c, i);
	cr_assert_eq(cfs_pack_writer_count(w), count);
	blobs_len = cfs_pack_writer_size(w);
	want = calloc(count + 1, sizeof(*want));
	cr_assert_not_null(want);
	if (count)
		memcpy(want, cfs_pack_writer_entries(w), count * sizeof(*want));

	/* Stale content in out must be replaced, not appended to. */
	cr_assert_eq(cfs_buf_append(&pack, "garbage", 7), 0);
	cr_assert_eq(cfs_pack_writer_finish(w, c, &pack, &id), 0);
	cr_assert_eq(cfs_pack_writer_count(w), 0, "writer not reset");
	cr_assert_eq(cfs_pack_writer_size(w), 0, "writer not reset");

	/* Layout: blobs, sealed header, u32 length, magic; id = SHA-256. */
	cr_assert_geq(pack.len, blobs_len + CFS_PACK_TRAILER_SIZE + CFS_PACK_HEADER_FIXED);
	cr_assert_eq(memcmp(pack.data + pack.len - 8, "CFSPACK\x01", 8), 0);
	uint32_t hdr_len = cfs_get_le32(pack.data + pack.len - 12);
	cr_assert_eq(blobs_len + hdr_len + CFS_PACK_TRAILER_SIZE, pack.len);
	cr_assert_eq(hdr_len, CFS_PACK_HEADER_FIXED + count * CFS_PACK_ENTRY_SIZE +
				      cfs_crypto_overhead(c));
	cr_assert_eq(cfs_sha256(pack.data, pack.len, check.b), 0);
	cr_assert_eq(memcmp(id.b, check.b, CFS_ID_SIZE), 0);

	cr_assert_eq(cfs_pack_parse(c, pack.data, pack.len, &got, &got_count), 0);
	cr_assert_not_null(got);
	cr_assert_eq(got_count, count);
	for (size_t i = 0; i < count; i++) {
		cr_assert_eq(memcmp(&got[i].id, &want[i].id, CFS_ID_SIZE), 0, "entry %zu", i);
		cr_assert_eq(got[i].type, want[i].type);
		cr_assert_eq(got[i].codec, want[i].codec);
		cr_assert_eq(got[i].raw_len, want[i].raw_len);
		cr_assert_eq(got[i].stored_len, want[i].stored_len);
		cr_assert_eq(got[i].offset, want[i].offset);
		/* Each blob opens on its own from its range. */
		cfs_buf_reset(&opened);
		cr_assert_eq(cfs_crypto_open(c, pack.data + got[i].offset, got[i].stored_len,
					     got[i].id.b, CFS_ID_SIZE, &opened),
			     0);
		blob_plain(i, &plain);
		cr_assert_eq(opened.len, plain.len);
		cr_assert_eq(memcmp(opened.data, plain.data, plain.len), 0);
	}

	/* The two-step reader (two range reads) agrees with the one-shot one. */
	uint32_t hl = 0;
	_cleanup_free_ struct cfs_pack_entry *got2 = NULL;
	size_t got2_count = 0;
	cr_assert_eq(cfs_pack_parse_trailer(pack.data + pack.len - 12, 12, pack.len, &hl), 0);
	cr_assert_eq(hl, hdr_len);
	cr_assert_eq(cfs_pack_parse_header(c, pack.data + pack.len - 12 - hl, hl, pack.len, &got2,
					   &got2_count),
		     0);
	cr_assert_eq(got2_count, count);
	if (count)
		cr_assert_eq(memcmp(got, got2, count * sizeof(*got)), 0);

	/* The writer is reusable after finish. */
	_cleanup_buf_ struct cfs_buf pack2 = CFS_BUF_INIT;
	add_blob(w, c, 0);
	cr_assert_eq(cfs_pack_writer_finish(w, c, &pack2, NULL), 0);
	free(got);
	got = NULL;
	cr_assert_eq(cfs_pack_parse(c, pack2.data, pack2.len, &got, &got_count), 0);
	cr_assert_eq(got_count, 1);
	cr_assert_eq(got[0].offset, 0);
}

Test(pack, round_trip_none)
{
	round_trip(CFS_ENC_NONE, 0);
	round_trip(CFS_ENC_NONE, 1);
	round_trip(CFS_ENC_NONE, 2);
	round_trip(CFS_ENC_NONE, 777);
}

Test(pack, round_trip_aes)
{
	round_trip(CFS_ENC_AES256GCM, 0);
	round_trip(CFS_ENC_AES256GCM, 1);
	round_trip(CFS_ENC_AES256GCM, 2);
	round_trip(CFS_ENC_AES256GCM, 777);
}

Test(pack, deterministic_none)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	_cleanup_buf_ struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT, again = CFS_BUF_INIT;
	_cleanup_free_ struct cfs_pack_entry *e = NULL;
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;
	struct cfs_id ida, idb, idc;
	size_t n;

	build_pack(c, 50, &a, &ida);
	build_pack(c, 50, &b, &idb);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
	cr_assert_eq(memcmp(ida.b, idb.b, CFS_ID_SIZE), 0);

	/* decode -> encode gives the same bytes again. */
	cr_assert_eq(cfs_pack_parse(c, a.data, a.len, &e, &n), 0);
	cr_assert_eq(cfs_pack_writer_new(&w), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(cfs_pack_writer_add(w, &e[i], a.data + e[i].offset, e[i].stored_len, NULL),
			     0);
	cr_assert_eq(cfs_pack_writer_finish(w, c, &again, &idc), 0);
	cr_assert_eq(again.len, a.len);
	cr_assert_eq(memcmp(again.data, a.data, a.len), 0);
	cr_assert_eq(memcmp(idc.b, ida.b, CFS_ID_SIZE), 0);

	/* A different input gives a different id. */
	build_pack(c, 51, &b, &idb);
	cr_assert_neq(memcmp(ida.b, idb.b, CFS_ID_SIZE), 0);
}

static int sink_to_buf(void *ud, const void *p, size_t n)
{
	return cfs_buf_append(ud, p, n);
}

/* A streamed pack is byte for byte the in-memory one, with the same id. */
Test(pack, streamed_equals_in_memory)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;
	_cleanup_buf_ struct cfs_buf mem = CFS_BUF_INIT, streamed = CFS_BUF_INIT, none = CFS_BUF_INIT;
	struct cfs_id id_mem, id_streamed;

	build_pack(c, 40, &mem, &id_mem);
	cr_assert_eq(cfs_pack_writer_new(&w), 0);
	for (int round = 0; round < 2; round++) {
		/* Twice: the writer streams again after a finish. */
		cfs_buf_reset(&streamed);
		cr_assert_eq(cfs_pack_writer_stream(w, sink_to_buf, &streamed), 0);
		cr_assert_eq(cfs_pack_writer_stream(w, sink_to_buf, &streamed), -EINVAL, "already streaming");
		for (size_t i = 0; i < 40; i++)
			add_blob(w, c, i);
		cr_assert_eq(cfs_pack_writer_size(w), streamed.len);
		cr_assert_eq(cfs_pack_writer_finish(w, c, &none, &id_streamed), 0);
		cr_assert_eq(none.len, 0);
		cr_assert_eq(streamed.len, mem.len);
		cr_assert_eq(memcmp(streamed.data, mem.data, mem.len), 0);
		cr_assert_eq(memcmp(id_streamed.b, id_mem.b, CFS_ID_SIZE), 0);
	}
	/* Not on a writer that holds blobs in memory. */
	add_blob(w, c, 0);
	cr_assert_eq(cfs_pack_writer_stream(w, sink_to_buf, &streamed), -EINVAL);
}

Test(pack, encrypted_header_hides_entries)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_AES256GCM);
	_cleanup_buf_ struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;
	struct cfs_id ida, idb;

	build_pack(c, 3, &a, &ida);
	build_pack(c, 3, &b, &idb);
	/* Fresh nonce per seal: same blobs, different packs. */
	cr_assert_neq(memcmp(ida.b, idb.b, CFS_ID_SIZE), 0);
	cr_assert_null(memmem(a.data, a.len, CFS_PACK_HDR_MAGIC, CFS_PACK_HDR_MAGIC_SIZE));
}

Test(pack, writer_rejects_bad_entries)
{
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;
	struct cfs_pack_entry e = {.type = CFS_BLOB_DATA, .codec = 0, .raw_len = 4, .stored_len = 4};
	struct cfs_pack_entry bad;
	uint64_t off = 77;

	cr_assert_eq(cfs_pack_writer_new(&w), 0);
	bad = e;
	bad.stored_len = 5;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "abcd", 4, &off), -EINVAL);
	bad = e;
	bad.type = 0;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "abcd", 4, &off), -EINVAL);
	bad.type = 3;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "abcd", 4, &off), -EINVAL);
	bad = e;
	bad.codec = 2;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "abcd", 4, &off), -EINVAL);
	bad = e;
	bad.raw_len = CFS_BLOB_MAX_SIZE + 1;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "abcd", 4, &off), -EINVAL);
	bad = e;
	bad.stored_len = 0;
	cr_assert_eq(cfs_pack_writer_add(w, &bad, "", 0, &off), -EINVAL);
	cr_assert_eq(cfs_pack_writer_add(w, &e, NULL, 4, &off), -EINVAL);
	cr_assert_eq(off, 77, "ret_offset written on failure");
	cr_assert_eq(cfs_pack_writer_count(w), 0);
	cr_assert_eq(cfs_pack_writer_size(w), 0);

	cr_assert_eq(cfs_pack_writer_add(w, &e, "abcd", 4, &off), 0);
	cr_assert_eq(off, 0);
	cr_assert_eq(cfs_pack_writer_add(w, &e, "efgh", 4, &off), 0);
	cr_assert_eq(off, 4);
	cr_assert_eq(cfs_pack_writer_entries(w)[1].offset, 4);
	cr_assert_null(cfs_pack_writer_free(NULL));
}

/* ---- malformed packs ---- */

Test(pack, bad_trailer_magic)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	struct cfs_pack_entry *e = NULL;
	size_t n;

	build_pack(c, 3, &p, NULL);
	for (size_t i = p.len - 8; i < p.len; i++) {
		p.data[i] ^= 0x20;
		cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EPROTO, "byte %zu", i);
		cr_assert_null(e);
		p.data[i] ^= 0x20;
	}
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), 0);
	free(e);
}

static void check_truncations(enum cfs_encryption mode, size_t count)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(mode);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	struct cfs_pack_entry *e = NULL;
	size_t n;

	build_pack(c, count, &p, NULL);
	for (size_t k = 0; k <= 100; k++) {
		size_t len = k <= p.len ? p.len - k : 0;
		int r;

		/* Copy so ASan sees any read past the truncated end. */
		uint8_t *tail = malloc(len ? len : 1);
		cr_assert_not_null(tail);
		memcpy(tail, p.data, len);
		r = cfs_pack_parse(c, tail, len, &e, &n);
		if (k == 0) {
			cr_assert_eq(r, 0);
			free(e);
			e = NULL;
		} else {
			cr_assert_lt(r, 0, "%zu bytes short parsed", k);
			cr_assert(r == -EPROTO || r == -EBADMSG, "%zu short: %d", k, r);
			cr_assert_null(e);
		}
		/* Dropping bytes from the front shrinks the blob area under
		 * the entries, so only an empty pack may still parse. */
		if (k > 0 && k <= p.len) {
			memcpy(tail, p.data + k, len);
			r = cfs_pack_parse(c, tail, len, &e, &n);
			if (count > 0)
				cr_assert_lt(r, 0, "front %zu", k);
			free(e);
			e = NULL;
		}
		free(tail);
	}
}

Test(pack, truncated)
{
	check_truncations(CFS_ENC_NONE, 0);
	check_truncations(CFS_ENC_NONE, 1);
	check_truncations(CFS_ENC_NONE, 5);
	check_truncations(CFS_ENC_AES256GCM, 0);
	check_truncations(CFS_ENC_AES256GCM, 1);
	check_truncations(CFS_ENC_AES256GCM, 5);
}

Test(pack, header_length_out_of_range)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	struct cfs_pack_entry *e = NULL;
	uint32_t hl, orig;
	size_t n;
	const uint32_t bad[] = {0, 1, CFS_PACK_HEADER_FIXED - 1, 0, 0, UINT32_MAX,
				(uint32_t)CFS_PACK_MAX_SEALED_HEADER + 1};

	build_pack(c, 2, &p, NULL);
	orig = cfs_get_le32(p.data + p.len - 12);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint32_t v = bad[i];
		if (i == 3)
			v = (uint32_t)p.len - 11; /* one more than fits */
		if (i == 4)
			v = (uint32_t)p.len;
		cfs_put_le32(p.data + p.len - 12, v);
		cr_assert_eq(cfs_pack_parse_trailer(p.data + p.len - 12, 12, p.len, &hl), -EPROTO,
			     "len %u", v);
		cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EPROTO, "len %u", v);
		cr_assert_null(e);
	}
	/* Exactly pack_size - 12 fits the trailer, but then the blob area is
	 * empty and the header no longer parses (its bytes start with blobs). */
	cfs_put_le32(p.data + p.len - 12, (uint32_t)p.len - 12);
	cr_assert_eq(cfs_pack_parse_trailer(p.data + p.len - 12, 12, p.len, &hl), 0);
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EPROTO);
	/* One byte too long or short: header shifted, rejected. */
	cfs_put_le32(p.data + p.len - 12, orig + 1);
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EPROTO);
	cfs_put_le32(p.data + p.len - 12, orig - 1);
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EPROTO);
	cfs_put_le32(p.data + p.len - 12, orig);
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), 0);
	free(e);

	/* Trailer parsing on its own. */
	cr_assert_eq(cfs_pack_parse_trailer(p.data + p.len - 12, 11, p.len, &hl), -EPROTO);
	cr_assert_eq(cfs_pack_parse_trailer(p.data + p.len - 12, 12, 11, &hl), -EPROTO);
	/* A larger tail read is fine: the last 12 bytes are used. */
	cr_assert_eq(cfs_pack_parse_trailer(p.data + p.len - 40, 40, p.len, &hl), 0);
	cr_assert_eq(hl, orig);
	/* The header alone must leave room for the trailer in pack_size. */
	cr_assert_eq(cfs_pack_parse_header(c, p.data + p.len - 12 - orig, orig, orig + 11, &e, &n),
		     -EPROTO);
}

Test(pack, flipped_header_byte_encrypted)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_AES256GCM);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *other = new_crypto(CFS_ENC_AES256GCM);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	struct cfs_pack_entry *e = NULL;
	size_t n;
	uint32_t hl;

	build_pack(c, 4, &p, NULL);
	hl = cfs_get_le32(p.data + p.len - 12);
	for (size_t i = p.len - 12 - hl; i < p.len - 12; i++) {
		for (uint8_t bit = 1; bit; bit <<= 1) {
			p.data[i] ^= bit;
			cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), -EBADMSG,
				     "byte %zu bit %u", i, bit);
			cr_assert_null(e);
			p.data[i] ^= bit;
		}
	}
	/* Wrong key: does not authenticate either. */
	cr_assert_eq(cfs_pack_parse(other, p.data, p.len, &e, &n), -EBADMSG);
	/* Flipped bytes in the blob area are not the header's business (each
	 * blob is authenticated on its own read). */
	p.data[0] ^= 1;
	cr_assert_eq(cfs_pack_parse(c, p.data, p.len, &e, &n), 0);
	free(e);
}

Test(pack, plaintext_header_in_encrypted_pack)
{
	/* A NONE-mode pack handed to an encrypting reader must not parse. */
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *none = new_crypto(CFS_ENC_NONE);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *aes = new_crypto(CFS_ENC_AES256GCM);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	struct cfs_pack_entry *e = NULL;
	size_t n;

	build_pack(none, 3, &p, NULL);
	cr_assert_eq(cfs_pack_parse(aes, p.data, p.len, &e, &n), -EBADMSG);
	cr_assert_null(e);
}

/* ---- hand-crafted headers (NONE mode: the sealed header is the plaintext) ---- */

struct craft {
	struct cfs_buf hdr; /* plaintext header */
	uint64_t h;         /* blob area size */
};

static void craft_init(struct craft *k, uint64_t h, uint32_t count)
{
	k->hdr = (struct cfs_buf)CFS_BUF_INIT;
	k->h = h;
	cr_assert_eq(cfs_buf_append(&k->hdr, "CFSPHDR\x01", 8), 0);
	cr_assert_eq(cfs_buf_append_le32(&k->hdr, 1), 0);
	cr_assert_eq(cfs_buf_append_le32(&k->hdr, count), 0);
}

static void craft_entry(struct craft *k, uint8_t type, uint8_t codec, uint32_t raw_len,
			uint32_t stored_len, uint64_t offset)
{
	uint8_t rec[56] = {0};
	memset(rec, 0xab, 32);
	rec[0] = (uint8_t)k->hdr.len; /* distinct ids */
	rec[32] = type;
	rec[33] = codec;
	cfs_put_le32(rec + 36, raw_len);
	cfs_put_le32(rec + 40, stored_len);
	cfs_put_le64(rec + 44, offset);
	cr_assert_eq(cfs_buf_append(&k->hdr, rec, sizeof(rec)), 0);
}

/* Assemble blob area (zeros) + header + trailer and parse it. */
static int craft_parse(struct craft *k, struct cfs_pack_entry **ret, size_t *ret_count)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	_cleanup_buf_ struct cfs_buf p = CFS_BUF_INIT;
	int r;

	cr_assert_eq(cfs_buf_resize(&p, k->h), 0);
	if (k->h)
		memset(p.data, 0, k->h);
	cr_assert_eq(cfs_buf_append(&p, k->hdr.data, k->hdr.len), 0);
	cr_assert_eq(cfs_buf_append_le32(&p, (uint32_t)k->hdr.len), 0);
	cr_assert_eq(cfs_buf_append(&p, "CFSPACK\x01", 8), 0);
	*ret = NULL;
	r = cfs_pack_parse(c, p.data, p.len, ret, ret_count);
	if (r < 0)
		cr_assert_null(*ret, "entries returned on failure");
	return r;
}

static int craft_parse_free(struct craft *k)
{
	struct cfs_pack_entry *e = NULL;
	size_t n;
	int r = craft_parse(k, &e, &n);
	free(e);
	cfs_buf_release(&k->hdr);
	return r;
}

/* One-entry header with the given fields in a blob area of h bytes. */
static int one_entry(uint64_t h, uint8_t type, uint8_t codec, uint32_t raw, uint32_t stored,
		     uint64_t off)
{
	struct craft k;
	craft_init(&k, h, 1);
	craft_entry(&k, type, codec, raw, stored, off);
	return craft_parse_free(&k);
}

Test(pack, crafted_valid)
{
	struct craft k;
	struct cfs_pack_entry *e = NULL;
	size_t n = 0;

	/* Header order is kept even when offsets are not ascending; gaps
	 * between blobs are allowed. */
	craft_init(&k, 100, 3);
	craft_entry(&k, CFS_BLOB_DATA, 1, 10, 20, 50);
	craft_entry(&k, CFS_BLOB_TREE, 0, 10, 10, 0);
	craft_entry(&k, CFS_BLOB_DATA, 0, 30, 30, 70);
	cr_assert_eq(craft_parse(&k, &e, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(e[0].offset, 50);
	cr_assert_eq(e[0].stored_len, 20);
	cr_assert_eq(e[0].codec, 1);
	cr_assert_eq(e[1].offset, 0);
	cr_assert_eq(e[1].type, CFS_BLOB_TREE);
	cr_assert_eq(e[2].offset, 70);
	free(e);
	cfs_buf_release(&k.hdr);

	cr_assert_eq(one_entry(100, CFS_BLOB_DATA, 0, CFS_BLOB_MAX_SIZE, 100, 0), 0);
	cr_assert_eq(one_entry(100, CFS_BLOB_DATA, 0, 0, 1, 99), 0);
}

Test(pack, crafted_out_of_bounds)
{
	cr_assert_eq(one_entry(100, 1, 0, 10, 101, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, 1, 100), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, 2, 99), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, 10, 1000), -EPROTO);
	/* offset + stored_len wraps around 2^64. */
	cr_assert_eq(one_entry(100, 1, 0, 10, 0x20, UINT64_MAX - 0xf), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, UINT32_MAX, UINT64_MAX - UINT32_MAX + 1), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, 1, UINT64_MAX), -EPROTO);
	/* Empty blob area: nothing fits. */
	cr_assert_eq(one_entry(0, 1, 0, 10, 1, 0), -EPROTO);
}

Test(pack, crafted_overlapping)
{
	struct craft k;

	craft_init(&k, 100, 2);
	craft_entry(&k, 1, 0, 10, 20, 0);
	craft_entry(&k, 1, 0, 10, 20, 19);
	cr_assert_eq(craft_parse_free(&k), -EPROTO);

	/* Same, in the opposite header order. */
	craft_init(&k, 100, 2);
	craft_entry(&k, 1, 0, 10, 20, 19);
	craft_entry(&k, 1, 0, 10, 20, 0);
	cr_assert_eq(craft_parse_free(&k), -EPROTO);

	/* Same offset twice. */
	craft_init(&k, 100, 2);
	craft_entry(&k, 1, 0, 10, 5, 40);
	craft_entry(&k, 1, 0, 10, 5, 40);
	cr_assert_eq(craft_parse_free(&k), -EPROTO);

	/* One blob inside another, with a non-overlapping one between them in
	 * header order. */
	craft_init(&k, 100, 3);
	craft_entry(&k, 1, 0, 10, 50, 10);
	craft_entry(&k, 1, 0, 10, 10, 80);
	craft_entry(&k, 1, 0, 10, 5, 30);
	cr_assert_eq(craft_parse_free(&k), -EPROTO);

	/* Touching is fine. */
	craft_init(&k, 100, 2);
	craft_entry(&k, 1, 0, 10, 20, 0);
	craft_entry(&k, 1, 0, 10, 20, 20);
	cr_assert_eq(craft_parse_free(&k), 0);
}

Test(pack, crafted_bad_fields)
{
	cr_assert_eq(one_entry(100, 0, 0, 10, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 3, 0, 10, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 255, 0, 10, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 2, 10, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, CFS_BLOB_MAX_SIZE + 1, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, UINT32_MAX, 10, 0), -EPROTO);
	cr_assert_eq(one_entry(100, 1, 0, 10, 0, 0), -EPROTO);

	/* Each reserved byte must be zero. */
	const size_t reserved[] = {34, 35, 52, 53, 54, 55};
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
		struct craft k;
		craft_init(&k, 100, 1);
		craft_entry(&k, 1, 0, 10, 10, 0);
		k.hdr.data[CFS_PACK_HEADER_FIXED + reserved[i]] = 1;
		cr_assert_eq(craft_parse_free(&k), -EPROTO, "reserved byte %zu", reserved[i]);
	}
}

Test(pack, crafted_bad_header)
{
	struct craft k;

	/* Magic. */
	for (size_t i = 0; i < 8; i++) {
		craft_init(&k, 10, 1);
		craft_entry(&k, 1, 0, 10, 10, 0);
		k.hdr.data[i] ^= 0x01;
		cr_assert_eq(craft_parse_free(&k), -EPROTO, "magic byte %zu", i);
	}

	/* Versions: 0 is malformed, newer is unsupported. */
	craft_init(&k, 10, 1);
	craft_entry(&k, 1, 0, 10, 10, 0);
	cfs_put_le32(k.hdr.data + 8, 0);
	cr_assert_eq(craft_parse_free(&k), -EPROTO);
	craft_init(&k, 10, 1);
	craft_entry(&k, 1, 0, 10, 10, 0);
	cfs_put_le32(k.hdr.data + 8, 2);
	cr_assert_eq(craft_parse_free(&k), -EPROTONOSUPPORT);
	craft_init(&k, 10, 1);
	craft_entry(&k, 1, 0, 10, 10, 0);
	cfs_put_le32(k.hdr.data + 8, UINT32_MAX);
	cr_assert_eq(craft_parse_free(&k), -EPROTONOSUPPORT);

	/* Count must match the header length exactly. */
	const uint32_t counts[] = {0, 2, 3, CFS_PACK_MAX_ENTRIES + 1, UINT32_MAX,
				   /* count * 56 wraps a 32-bit product to 56 */
				   (uint32_t)(((uint64_t)1 << 32) / 56 + 1)};
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		craft_init(&k, 10, counts[i]);
		craft_entry(&k, 1, 0, 10, 10, 0);
		cr_assert_eq(craft_parse_free(&k), -EPROTO, "count %u", counts[i]);
	}

	/* A header that ends mid-entry. */
	craft_init(&k, 10, 1);
	craft_entry(&k, 1, 0, 10, 10, 0);
	k.hdr.len -= 1;
	cr_assert_eq(craft_parse_free(&k), -EPROTO);

	/* Just the fixed part, shorter, and an empty pack that is valid. */
	craft_init(&k, 0, 0);
	cr_assert_eq(craft_parse_free(&k), 0);
	craft_init(&k, 0, 0);
	k.hdr.len = 15;
	cr_assert_eq(craft_parse_free(&k), -EPROTO);
}

Test(pack, garbage_never_crashes)
{
	/* Short random-ish inputs with a valid trailer magic and every
	 * plausible header length: must fail cleanly, never crash. */
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(CFS_ENC_NONE);
	uint8_t buf[200];
	struct cfs_pack_entry *e = NULL;
	size_t n;
	uint32_t seed = 1;

	for (size_t len = 0; len <= sizeof(buf); len += 7) {
		for (uint32_t hl = 0; hl <= 200; hl += 3) {
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = (uint8_t)(seed >> 16);
			}
			if (len >= 12) {
				cfs_put_le32(buf + len - 12, hl);
				memcpy(buf + len - 8, "CFSPACK\x01", 8);
			}
			int r = cfs_pack_parse(c, buf, len, &e, &n);
			cr_assert_lt(r, 0);
			cr_assert_null(e);
		}
	}
}

/* ---- index objects (the codec in pack.h) ---- */

static struct cfs_pack_entry index_entry(uint8_t seed, uint8_t codec, uint64_t offset, uint32_t stored)
{
	struct cfs_pack_entry e;
	memset(&e, 0, sizeof(e)); /* padding too: entries compare with memcmp */
	memset(e.id.b, seed, CFS_ID_SIZE);
	e.type = seed & 1 ? CFS_BLOB_DATA : CFS_BLOB_TREE;
	e.codec = codec;
	e.dict = codec == CFS_CODEC_ZSTD_DICT ? 0x1234 : 0;
	e.raw_len = 1000u + seed;
	e.stored_len = stored;
	e.offset = offset;
	return e;
}

/* What the decoder handed out, re-encoded on the fly. */
struct index_seen {
	struct cfs_pack_index_enc enc;
	struct cfs_buf out;
	struct cfs_pack_entry e[8];
	struct cfs_id packs[4];
	size_t ne, np;
	int stop_at; /* entry callback returns -ECANCELED at this entry (0: never) */
};

static int seen_pack(void *ud, const struct cfs_id *pack, uint64_t size, uint32_t count)
{
	struct index_seen *s = ud;
	cr_assert_lt(s->np, 4);
	s->packs[s->np++] = *pack;
	return cfs_pack_index_enc_pack(&s->enc, pack, size, count);
}

static int seen_entry(void *ud, const struct cfs_id *pack, const struct cfs_pack_entry *e)
{
	struct index_seen *s = ud;
	cr_assert_lt(s->ne, 8);
	cr_assert_eq(memcmp(pack, &s->packs[s->np - 1], sizeof(*pack)), 0);
	s->e[s->ne++] = *e;
	if (s->stop_at && (int)s->ne == s->stop_at)
		return -ECANCELED;
	return cfs_pack_index_enc_entry(&s->enc, e);
}

/* Two packs (3 entries and none) with the encoder. */
static void build_index(struct cfs_buf *out, struct cfs_pack_entry e[3])
{
	struct cfs_pack_index_enc enc;
	struct cfs_id p1, p2;
	memset(p1.b, 0x11, CFS_ID_SIZE);
	memset(p2.b, 0x22, CFS_ID_SIZE);
	e[0] = index_entry(1, CFS_CODEC_ZSTD, 0, 100);
	e[1] = index_entry(2, CFS_CODEC_RAW, 100, 50);
	e[2] = index_entry(3, CFS_CODEC_ZSTD_DICT, 150, 850); /* ends at the pack's end */
	cr_assert_eq(cfs_pack_index_enc_init(&enc, out), 0);
	cr_assert_eq(cfs_pack_index_enc_pack(&enc, &p1, 1000, 3), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(cfs_pack_index_enc_entry(&enc, &e[i]), 0);
	cr_assert_eq(cfs_pack_index_enc_pack(&enc, &p2, 12, 0), 0);
	cr_assert_eq(enc.npacks, 2);
	cr_assert_eq(enc.left, 0);
}

/* encode -> decode -> encode is byte-identical, the layout is pack.h's. */
Test(pack_index, round_trip)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct index_seen s = {.out = CFS_BUF_INIT};
	struct cfs_pack_entry e[3];

	build_index(&out, e);
	cr_assert_eq(out.len, 16 + 2 * 44 + 3 * 56);
	cr_assert_eq(memcmp(out.data, "CFSINDX\x01", 8), 0);
	cr_assert_eq(cfs_get_le32(out.data + 8), 1);
	cr_assert_eq(cfs_get_le32(out.data + 12), 2);
	cr_assert_eq(cfs_get_le64(out.data + 16 + 32), 1000);
	cr_assert_eq(cfs_get_le32(out.data + 16 + 40), 3);
	uint8_t rec[56];
	cfs_pack_entry_encode(&e[0], rec);
	cr_assert_eq(memcmp(out.data + 16 + 44, rec, 56), 0);

	cr_assert_eq(cfs_pack_index_enc_init(&s.enc, &s.out), 0);
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, seen_pack, seen_entry, &s), 0);
	cr_assert_eq(s.np, 2);
	cr_assert_eq(s.ne, 3);
	cr_assert_eq(memcmp(s.e, e, sizeof(e)), 0);
	cr_assert_eq(s.out.len, out.len);
	cr_assert_eq(memcmp(s.out.data, out.data, out.len), 0);
	cfs_buf_release(&s.out);

	/* No callbacks: a check alone. An empty index object is valid. */
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, NULL, NULL, NULL), 0);
	struct cfs_pack_index_enc enc;
	cr_assert_eq(cfs_pack_index_enc_init(&enc, &out), 0);
	cr_assert_eq(out.len, 16);
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, NULL, NULL, NULL), 0);
}

/* Each way an index object can be wrong, one byte or count at a time. */
Test(pack_index, rejects)
{
	_cleanup_buf_ struct cfs_buf good = CFS_BUF_INIT, bad = CFS_BUF_INIT;
	struct cfs_pack_entry e[3];
	build_index(&good, e);
	const size_t entry0 = 16 + 44, pack2 = entry0 + 3 * 56;

#define MUTATE(stmt, expect)                                                                        \
	do {                                                                                        \
		cfs_buf_reset(&bad);                                                                \
		cr_assert_eq(cfs_buf_append(&bad, good.data, good.len), 0);                         \
		stmt;                                                                               \
		cr_assert_eq(cfs_pack_index_decode(bad.data, bad.len, NULL, NULL, NULL), expect, "%s", \
			     #stmt);                                                                \
	} while (0)

	for (size_t n = 0; n < good.len; n++)
		MUTATE(bad.len = n, -EPROTO);
	MUTATE(bad.data[0] ^= 1, -EPROTO);
	MUTATE(bad.data[7] = 2, -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 8, 0), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 8, 2), -EPROTONOSUPPORT);
	MUTATE(bad.len = 12; cfs_put_le32(bad.data + 8, 2), -EPROTONOSUPPORT);
	MUTATE(cfs_put_le32(bad.data + 12, 3), -EPROTO);          /* more packs than bytes */
	MUTATE(cfs_put_le32(bad.data + 12, 0xffffffff), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 12, 1), -EPROTO);          /* trailing bytes */
	MUTATE(cfs_buf_append_u8(&bad, 0), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 16 + 40, 4), -EPROTO);     /* more entries than bytes */
	MUTATE(cfs_put_le32(bad.data + 16 + 40, 0xffffffff), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 16 + 40, 2), -EPROTO);     /* the rest misparses */
	MUTATE(cfs_put_le64(bad.data + 16 + 32, 999), -EPROTO);   /* last entry past the pack's end */
	MUTATE(cfs_put_le64(bad.data + entry0 + 44, UINT64_MAX), -EPROTO); /* offset */
	MUTATE(cfs_put_le32(bad.data + entry0 + 40, 0), -EPROTO);  /* stored_len 0 */
	MUTATE(bad.data[entry0 + 32] = 3, -EPROTO);                /* type */
	MUTATE(bad.data[entry0 + 33] = 3, -EPROTO);                /* codec */
	MUTATE(bad.data[entry0 + 34] = 1, -EPROTO);                /* reserved */
	MUTATE(cfs_put_le32(bad.data + entry0 + 52, 7), -EPROTO);  /* a dictionary without its codec */
	MUTATE(cfs_put_le32(bad.data + pack2 + 40, 1), -EPROTO);
	/* Still fine: another pack size that holds every entry. */
	MUTATE(cfs_put_le64(bad.data + 16 + 32, UINT64_MAX), 0);
#undef MUTATE
}

/* A callback's non-zero return stops the walk and is what decode returns. */
Test(pack_index, callback_stops)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct index_seen s = {.out = CFS_BUF_INIT, .stop_at = 2};
	struct cfs_pack_entry e[3];

	build_index(&out, e);
	cr_assert_eq(cfs_pack_index_enc_init(&s.enc, &s.out), 0);
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, seen_pack, seen_entry, &s), -ECANCELED);
	cr_assert_eq(s.ne, 2);
	cr_assert_eq(s.np, 1);
	cfs_buf_release(&s.out);
}

/* The encoder writes nothing the decoder would refuse. */
Test(pack_index, encoder_refuses)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct cfs_pack_index_enc enc;
	struct cfs_id p;
	memset(p.b, 0x33, CFS_ID_SIZE);
	struct cfs_pack_entry ok = index_entry(1, CFS_CODEC_RAW, 0, 10), e;

	cr_assert_eq(cfs_pack_index_enc_init(&enc, &out), 0);
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &ok), -EINVAL); /* no pack yet */
	cr_assert_eq(cfs_pack_index_enc_pack(&enc, &p, 100, 1), 0);
	size_t len = out.len;
	cr_assert_eq(cfs_pack_index_enc_pack(&enc, &p, 100, 1), -EINVAL); /* an entry is owed */
	e = index_entry(1, CFS_CODEC_RAW, 95, 10);
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &e), -EINVAL); /* past the pack's end */
	e = ok;
	e.codec = 9;
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &e), -EINVAL);
	e = ok;
	e.stored_len = 0;
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &e), -EINVAL);
	e = ok;
	e.dict = 5;
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &e), -EINVAL);
	cr_assert_eq(out.len, len);
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &ok), 0);
	cr_assert_eq(cfs_pack_index_enc_entry(&enc, &ok), -EINVAL); /* none owed */
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, NULL, NULL, NULL), 0);
}

/* Records as a pack writer's caller keeps them: the same bytes as entry by
 * entry, and a pack with one bad record leaves nothing behind. */
Test(pack_index, encoder_records)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT, recs = CFS_BUF_INIT, good = CFS_BUF_INIT;
	struct cfs_pack_index_enc enc;
	struct cfs_pack_entry e[3];
	struct cfs_id p1, p2;
	uint8_t rec[CFS_PACK_ENTRY_SIZE];

	build_index(&good, e);
	memset(p1.b, 0x11, CFS_ID_SIZE);
	memset(p2.b, 0x22, CFS_ID_SIZE);
	for (int i = 0; i < 3; i++) {
		cfs_pack_entry_encode(&e[i], rec);
		cr_assert_eq(cfs_buf_append(&recs, rec, sizeof(rec)), 0);
	}
	cr_assert_eq(cfs_pack_index_enc_init(&enc, &out), 0);
	cr_assert_eq(cfs_pack_index_enc_records(&enc, &p1, 1000, recs.data, 3), 0);
	cr_assert_eq(cfs_pack_index_enc_records(&enc, &p2, 12, NULL, 0), 0);
	cr_assert_eq(out.len, good.len);
	cr_assert_eq(memcmp(out.data, good.data, good.len), 0);

	/* A bad record (reserved byte), an entry past the pack's end. */
	recs.data[56 + 34] = 1;
	cr_assert_eq(cfs_pack_index_enc_records(&enc, &p1, 1000, recs.data, 3), -EINVAL);
	recs.data[56 + 34] = 0;
	cr_assert_eq(cfs_pack_index_enc_records(&enc, &p1, 999, recs.data, 3), -EINVAL);
	cr_assert_eq(enc.npacks, 2);
	cr_assert_eq(enc.left, 0);
	cr_assert_eq(out.len, good.len);
	cr_assert_eq(memcmp(out.data, good.data, good.len), 0);
	cr_assert_eq(cfs_pack_index_decode(out.data, out.len, NULL, NULL, NULL), 0);
}
