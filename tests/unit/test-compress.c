/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/compress.h"

static struct cfs_compressor *comp;

static void setup(void)
{
	cr_assert_eq(cfs_compressor_new(3, &comp), 0);
	cr_assert_not_null(comp);
}

static void teardown(void)
{
	comp = cfs_compressor_free(comp);
}

static uint8_t *text_data(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	size_t off = 0;
	unsigned i = 0;

	cr_assert_not_null(p);
	while (off < n) {
		char line[96];
		int len = snprintf(line, sizeof(line), "line %u: the quick brown fox jumps over %u lazy dogs\n",
				   i, i * 7 % 13);
		size_t k = CFS_MIN((size_t)len, n - off);
		memcpy(p + off, line, k);
		off += k;
		i++;
	}
	return p;
}

/* xorshift64*: deterministic, incompressible enough for zstd. */
static uint8_t *random_data(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint64_t x = seed | 1;

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 56);
	}
	return p;
}

static void round_trip(const uint8_t *p, size_t n, enum cfs_codec expect)
{
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
	enum cfs_codec codec = 99;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
	cr_assert_eq(codec, expect, "n=%zu", n);
	if (codec == CFS_CODEC_RAW) {
		cr_assert_eq(z.len, n);
	} else {
		cr_assert_leq(z.len, n - n / 64);
	}
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d), 0);
	cr_assert_eq(d.len, n);
	if (n)
		cr_assert_eq(memcmp(d.data, p, n), 0);
}

Test(compress, text_compresses, .init = setup, .fini = teardown)
{
	const size_t n = 1u << 20;
	_cleanup_free_ uint8_t *p = text_data(n);
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	enum cfs_codec codec;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);
	cr_assert_lt(z.len, n / 5, "text should compress at least 5x, got %zu", z.len);
	round_trip(p, n, CFS_CODEC_ZSTD);
}

Test(compress, random_stored_raw, .init = setup, .fini = teardown)
{
	const size_t sizes[] = {1, 100, 4096, 1u << 20};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		_cleanup_free_ uint8_t *p = random_data(sizes[i], i + 1);
		round_trip(p, sizes[i], CFS_CODEC_RAW);
	}
}

Test(compress, empty_and_tiny, .init = setup, .fini = teardown)
{
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
	enum cfs_codec codec = 99;

	cr_assert_eq(cfs_compress(comp, NULL, NULL, 0, &z, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_RAW);
	cr_assert_eq(z.len, 0);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_RAW, NULL, NULL, 0, 0, &d), 0);
	cr_assert_eq(d.len, 0);
	round_trip((const uint8_t *)"a", 1, CFS_CODEC_RAW);
	round_trip((const uint8_t *)"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		   71, CFS_CODEC_ZSTD);
}

Test(compress, boundary_is_one_64th, .init = setup, .fini = teardown)
{
	/* Mostly random data with a compressible tail: the saving decides. */
	const size_t n = 64 * 1024;
	for (size_t zeros = 0; zeros <= 4096; zeros += 256) {
		_cleanup_free_ uint8_t *p = random_data(n, 42);
		_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
		_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
		enum cfs_codec codec;

		memset(p + n - zeros, 0, zeros);
		cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
		if (codec == CFS_CODEC_ZSTD)
			cr_assert_leq(z.len, n - n / 64);
		else
			cr_assert_eq(z.len, n);
		if (zeros == 0)
			cr_assert_eq(codec, CFS_CODEC_RAW);
		if (zeros == 4096)
			cr_assert_eq(codec, CFS_CODEC_ZSTD);
		cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d), 0);
		cr_assert_eq(memcmp(d.data, p, n), 0);
	}
}

Test(compress, reuse_is_deterministic, .init = setup, .fini = teardown)
{
	const size_t n = 300000;
	_cleanup_free_ uint8_t *p = text_data(n);
	_cleanup_free_ uint8_t *q = random_data(n, 7);
	_cleanup_buf_ struct cfs_buf a = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	enum cfs_codec ca, cb;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &a, &ca), 0);
	cr_assert_eq(cfs_compress(comp, NULL, q, n, &b, &cb), 0);
	cr_assert_eq(cfs_compress(comp, NULL, p, n, &b, &cb), 0);
	cr_assert_eq(ca, cb);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
}

Test(compress, corrupt_frame, .init = setup, .fini = teardown)
{
	const size_t n = 200000;
	_cleanup_free_ uint8_t *p = text_data(n);
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
	enum cfs_codec codec;
	int r;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);

	/* Bad magic. */
	z.data[0] ^= 0xff;
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
	z.data[0] ^= 0xff;

	/* Truncated frame, at several lengths including inside the header. */
	const size_t cuts[] = {0, 1, 4, 5, 8, z.len / 2, z.len - 1};
	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
		cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, cuts[i], n, &d), -EBADMSG,
			     "cut %zu", cuts[i]);
		cr_assert_eq(d.len, 0);
	}

	/* Trailing garbage. */
	cr_assert_eq(cfs_buf_append(&z, "junk", 4), 0);
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d), -EBADMSG);
	z.len -= 4;

	/* Damage the body: zstd either detects it or decodes to something
	 * else; it must never report success with the wrong length, and
	 * flipping block headers must be caught. Without a checksum, a
	 * literal byte flip can decode "successfully" to other bytes — the
	 * blob id check above this layer catches that. */
	for (size_t off = 6; off < z.len; off += 97) {
		z.data[off] ^= 0x5a;
		r = cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d);
		cr_assert(r == 0 || r == -EBADMSG, "off %zu: %d", off, r);
		if (r == 0)
			cr_assert_eq(d.len, n);
		else
			cr_assert_eq(d.len, 0);
		z.data[off] ^= 0x5a;
	}
	/* Context still healthy afterwards. */
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n, &d), 0);
	cr_assert_eq(memcmp(d.data, p, n), 0);
}

Test(compress, wrong_raw_len, .init = setup, .fini = teardown)
{
	const size_t n = 100000;
	_cleanup_free_ uint8_t *p = text_data(n);
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
	enum cfs_codec codec;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n - 1, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, n + 1, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, 0, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, codec, NULL, z.data, z.len, SIZE_MAX / 2, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);

	/* Raw codec: the stored length must equal raw_len. */
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_RAW, NULL, p, n, n - 1, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_RAW, NULL, p, n - 1, n, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
}

Test(compress, content_size_absent_still_checked, .init = setup, .fini = teardown)
{
	/* A hand-built frame without a content size: magic, FHD 0x00 (no
	 * content size, not single-segment), window descriptor 0x00 (1 KiB),
	 * one last raw block of 3 bytes (header 0x19 0x00 0x00), "abc". */
	static const uint8_t frame[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00,
					0x19, 0x00, 0x00, 'a',	'b',  'c'};
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;

	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 3, &d), 0);
	cr_assert_eq(d.len, 3);
	cr_assert_eq(memcmp(d.data, "abc", 3), 0);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 4, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 2, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 0, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
}

Test(compress, empty_zstd_frame, .init = setup, .fini = teardown)
{
	/* Single-segment frame, 1-byte content size 0, one empty raw block. */
	static const uint8_t frame[] = {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00};
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;

	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 0, &d), 0);
	cr_assert_eq(d.len, 0);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, NULL, frame, sizeof(frame), 1, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
}

Test(compress, concatenated_frames, .init = setup, .fini = teardown)
{
	const size_t n = 5000;
	_cleanup_free_ uint8_t *p = text_data(n);
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf zz = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;
	enum cfs_codec codec;

	cr_assert_eq(cfs_compress(comp, NULL, p, n, &z, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);
	cr_assert_eq(cfs_buf_append(&zz, z.data, z.len), 0);
	cr_assert_eq(cfs_buf_append(&zz, z.data, z.len), 0);
	/* The first frame header says n: a 2n claim is refused up front. */
	cr_assert_eq(cfs_decompress(comp, codec, NULL, zz.data, zz.len, 2 * n, &d), -EBADMSG);
	/* n matches the header but the input decodes to more than n: zstd
	 * must stop at the buffer end rather than write past it. */
	cr_assert_eq(cfs_decompress(comp, codec, NULL, zz.data, zz.len, n, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
}

Test(compress, unknown_codec, .init = setup, .fini = teardown)
{
	_cleanup_buf_ struct cfs_buf d = CFS_BUF_INIT;

	cr_assert_eq(cfs_decompress(comp, (enum cfs_codec)3, NULL, "abc", 3, 3, &d), -EPROTO);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD_DICT, NULL, "abc", 3, 3, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, (enum cfs_codec)255, NULL, "abc", 3, 3, &d), -EPROTO);
	cr_assert_eq(d.len, 0);
}

Test(compress, bad_level)
{
	struct cfs_compressor *c = NULL;

	cr_assert_eq(cfs_compressor_new(0, &c), -EINVAL);
	cr_assert_eq(cfs_compressor_new(20, &c), -EINVAL);
	cr_assert_null(c);
	cr_assert_eq(cfs_compressor_new(19, &c), 0);
	c = cfs_compressor_free(c);
	cr_assert_null(c);
	cr_assert_null(cfs_compressor_free(NULL));
}

/* Samples shaped like a directory of small text files: similar, not equal. */
static void make_samples(unsigned count, struct cfs_buf *all, size_t *sizes)
{
	for (unsigned k = 0; k < count; k++) {
		size_t n = 200 + (k * 37) % 900;
		_cleanup_free_ uint8_t *p = text_data(n + k % 50);
		sizes[k] = n;
		cr_assert_eq(cfs_buf_append(all, p + k % 50, n), 0);
	}
}

/* A dictionary's bytes (ZDICT format), trained on make_samples(). */
static void trained_bytes(struct cfs_buf *dict)
{
	_cleanup_buf_ struct cfs_buf all = CFS_BUF_INIT;
	static size_t sizes[2000];

	make_samples(2000, &all, sizes);
	cr_assert_eq(cfs_zdict_train(all.data, sizes, 2000, 16384, dict), 0);
	cr_assert_gt(dict->len, 0);
	cr_assert_leq(dict->len, 16384);
}

static struct cfs_zdict *trained(int level)
{
	_cleanup_buf_ struct cfs_buf dict = CFS_BUF_INIT;
	struct cfs_zdict *d = NULL;

	trained_bytes(&dict);
	cr_assert_eq(cfs_zdict_new(dict.data, dict.len, level, &d), 0);
	cr_assert_neq(cfs_zdict_number(d), 0);
	return d;
}

Test(compress, dictionary_round_trip, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_zdict_freep) struct cfs_zdict *dict = trained(3);
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT, withd = CFS_BUF_INIT, d = CFS_BUF_INIT;
	const size_t n = 700;
	_cleanup_free_ uint8_t *p = text_data(n + 11);
	enum cfs_codec codec;

	cr_assert_eq(cfs_compress(comp, NULL, p + 11, n, &plain, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);
	cr_assert_eq(cfs_compress(comp, dict, p + 11, n, &withd, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD_DICT);
	cr_assert_lt(withd.len, plain.len, "dictionary %zu bytes vs plain %zu", withd.len, plain.len);
	cr_assert_eq(cfs_decompress(comp, codec, dict, withd.data, withd.len, n, &d), 0);
	cr_assert_eq(d.len, n);
	cr_assert_eq(memcmp(d.data, p + 11, n), 0);
	/* The context forgets the dictionary when compressing without one. */
	cr_assert_eq(cfs_compress(comp, NULL, p + 11, n, &d, &codec), 0);
	cr_assert_eq(codec, CFS_CODEC_ZSTD);
	cr_assert_eq(d.len, plain.len);
	cr_assert_eq(memcmp(d.data, plain.data, plain.len), 0);
	/* Without its dictionary the frame does not decode. */
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD_DICT, NULL, withd.data, withd.len, n, &d), -EBADMSG);
	cr_assert_eq(cfs_decompress(comp, CFS_CODEC_ZSTD, dict, withd.data, withd.len, n, &d), -EBADMSG);
	cr_assert_eq(d.len, 0);
}

Test(compress, dictionary_for_decoding_only, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_zdict_freep) struct cfs_zdict *dict = trained(0);
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	enum cfs_codec codec;

	cr_assert_eq(cfs_compress(comp, dict, "abc", 3, &z, &codec), -EINVAL);
}

Test(compress, dictionary_rejects, .init = setup, .fini = teardown)
{
	_cleanup_buf_ struct cfs_buf dict = CFS_BUF_INIT;
	struct cfs_zdict *d = NULL;
	size_t sizes[3] = {5, 5, 5};
	uint8_t junk[256] = {0x37, 0xa4, 0x30, 0xec};

	/* Not a dictionary; a dictionary magic with id 0. */
	cr_assert_eq(cfs_zdict_new("not a dictionary", 16, 3, &d), -EPROTO);
	cr_assert_eq(cfs_zdict_new(junk, sizeof(junk), 3, &d), -EPROTO);
	cr_assert_null(d);
	/* Three tiny samples are not enough to train on. */
	cr_assert_eq(cfs_zdict_train("aaaaabbbbbccccc", sizes, 3, 4096, &dict), -EINVAL);
	cr_assert_null(cfs_zdict_free(NULL));
}

/* ---- dictionary objects (the codec in compress.h) ---- */

/* encode -> decode -> encode is byte-identical, the layout is compress.h's,
 * and the number is the dictionary's own id. */
Test(compress, dict_object_round_trip)
{
	_cleanup_buf_ struct cfs_buf dict = CFS_BUF_INIT, obj = CFS_BUF_INIT, again = CFS_BUF_INIT;
	_cleanup_(cfs_zdict_freep) struct cfs_zdict *zd = NULL;
	struct cfs_zdict_object o;

	trained_bytes(&dict);
	cr_assert_eq(cfs_zdict_new(dict.data, dict.len, 0, &zd), 0);
	cr_assert_eq(cfs_zdict_object_encode(dict.data, dict.len, &obj), 0);
	cr_assert_eq(obj.len, 20 + dict.len);
	cr_assert_eq(memcmp(obj.data, "CFSDICT\x01", 8), 0);
	cr_assert_eq(cfs_get_le32(obj.data + 8), 1);
	cr_assert_eq(cfs_get_le32(obj.data + 12), cfs_zdict_number(zd));
	cr_assert_eq(cfs_get_le32(obj.data + 16), dict.len);

	cr_assert_eq(cfs_zdict_object_decode(obj.data, obj.len, &o), 0);
	cr_assert_eq(o.number, cfs_zdict_number(zd));
	cr_assert_eq(o.dict, obj.data + 20);
	cr_assert_eq(o.len, dict.len);
	cr_assert_eq(cfs_zdict_object_encode(o.dict, o.len, &again), 0);
	cr_assert_eq(again.len, obj.len);
	cr_assert_eq(memcmp(again.data, obj.data, obj.len), 0);
}

Test(compress, dict_object_rejects)
{
	_cleanup_buf_ struct cfs_buf dict = CFS_BUF_INIT, good = CFS_BUF_INIT, bad = CFS_BUF_INIT;
	struct cfs_zdict_object o;

	trained_bytes(&dict);
	cr_assert_eq(cfs_zdict_object_encode(dict.data, dict.len, &good), 0);

#define MUTATE(stmt, expect)                                                                            \
	do {                                                                                            \
		cfs_buf_reset(&bad);                                                                    \
		cr_assert_eq(cfs_buf_append(&bad, good.data, good.len), 0);                             \
		stmt;                                                                                   \
		cr_assert_eq(cfs_zdict_object_decode(bad.data, bad.len, &o), expect, "%s", #stmt);    \
	} while (0)

	for (size_t n = 0; n < 21; n++)
		MUTATE(bad.len = n, -EPROTO);
	MUTATE(bad.len--, -EPROTO);
	MUTATE(cfs_buf_append_u8(&bad, 0), -EPROTO); /* trailing byte */
	MUTATE(bad.data[3] ^= 1, -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 8, 0), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 8, 2), -EPROTONOSUPPORT);
	MUTATE(cfs_put_le32(bad.data + 8, 2); bad.len = 12, -EPROTONOSUPPORT);
	MUTATE(cfs_put_le32(bad.data + 12, cfs_get_le32(bad.data + 12) + 1), -EPROTO); /* not its id */
	MUTATE(cfs_put_le32(bad.data + 12, 0), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 16, 0), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 16, (uint32_t)dict.len + 1), -EPROTO);
	MUTATE(cfs_put_le32(bad.data + 16, 0xffffffff), -EPROTO);
	MUTATE(bad.data[20] ^= 1, -EPROTO); /* not a ZDICT dictionary */
	/* Larger than CFS_ZDICT_MAX_SIZE, though consistent. */
	MUTATE(cfs_buf_resize(&bad, 20 + CFS_ZDICT_MAX_SIZE + 1);
	       cfs_put_le32(bad.data + 16, CFS_ZDICT_MAX_SIZE + 1), -EPROTO);
#undef MUTATE

	/* The encoder takes only ZDICT dictionaries of an allowed size. */
	cr_assert_eq(cfs_zdict_object_encode("not a dictionary", 16, &bad), -EINVAL);
	cr_assert_eq(cfs_zdict_object_encode(dict.data, 0, &bad), -EINVAL);
	cr_assert_eq(cfs_buf_resize(&dict, CFS_ZDICT_MAX_SIZE + 1), 0);
	cr_assert_eq(cfs_zdict_object_encode(dict.data, dict.len, &bad), -EINVAL);
}
