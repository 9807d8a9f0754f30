/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <string.h>

#include "chronofs/crypto.h"
#include "crypto/crypto-internal.h"

static const struct cfs_kdf_params fast_kdf = {10, 8, 1};

static struct cfs_keys test_keys(uint8_t fill)
{
	struct cfs_keys k = {.mode = CFS_ENC_AES256GCM};
	memset(k.id_key, fill, sizeof(k.id_key));
	memset(k.enc_key, fill + 1, sizeof(k.enc_key));
	memset(k.gear_seed, fill + 2, sizeof(k.gear_seed));
	return k;
}

static struct cfs_crypto *new_crypto(const struct cfs_keys *k)
{
	struct cfs_crypto *c = NULL;
	cr_assert_eq(cfs_crypto_new(k, &c), 0);
	cr_assert_not_null(c);
	return c;
}

static uint8_t *random_data(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	cr_assert_not_null(p);
	cr_assert_eq(cfs_random_bytes(p, n), 0);
	return p;
}

Test(crypto, sha256_known_answer)
{
	static const char *hex_abc =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	struct cfs_id id;
	char hex[CFS_ID_HEX_SIZE];

	cr_assert_eq(cfs_sha256("abc", 3, id.b), 0);
	cfs_id_hex(&id, hex);
	cr_assert_str_eq(hex, hex_abc);
}

Test(crypto, sha256_in_pieces)
{
	uint8_t data[100000], one[32], pieces[32];
	struct cfs_sha256_ctx *h = NULL;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(cfs_sha256(data, sizeof(data), one), 0);
	cr_assert_eq(cfs_sha256_new(&h), 0);
	for (int round = 0; round < 2; round++) {
		/* final() starts the next digest afresh. */
		for (size_t off = 0, step = 1; off < sizeof(data); off += step, step = step * 3 + 1)
			cr_assert_eq(cfs_sha256_update(h, data + off, CFS_MIN(step, sizeof(data) - off)), 0);
		cr_assert_eq(cfs_sha256_final(h, pieces), 0);
		cr_assert_eq(memcmp(one, pieces, 32), 0);
	}
	cfs_sha256_free(h);
}

Test(crypto, hmac_known_answer)
{
	/* RFC 4231 test case 1 with a 32-byte key (0x0b * 32) over "Hi There";
	 * expectation computed independently with Python's hmac module. */
	static const char *expect =
		"198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7";
	struct cfs_keys k = test_keys(0);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	struct cfs_id id;
	char hex[CFS_ID_HEX_SIZE];

	memset(k.id_key, 0x0b, sizeof(k.id_key));
	c = new_crypto(&k);
	cr_assert_eq(cfs_crypto_blob_id(c, "Hi There", 8, &id), 0);
	cfs_id_hex(&id, hex);
	cr_assert_str_eq(hex, expect);
}

Test(crypto, ids_deterministic_and_keyed)
{
	struct cfs_keys k1 = test_keys(1), k2 = test_keys(1), k3 = test_keys(9);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c1 = new_crypto(&k1);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c2 = NULL;
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c3 = NULL;
	struct cfs_id a, b, d, e, f;
	uint8_t plain[32];

	k2.enc_key[0] ^= 1; /* only the id key matters for ids */
	c2 = new_crypto(&k2);
	c3 = new_crypto(&k3);

	cr_assert_eq(cfs_crypto_blob_id(c1, "hello", 5, &a), 0);
	cr_assert_eq(cfs_crypto_blob_id(c1, "hello", 5, &b), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "same input, same context: same id");
	cr_assert_eq(cfs_crypto_blob_id(c2, "hello", 5, &d), 0);
	cr_assert_eq(memcmp(&a, &d, sizeof(a)), 0, "same id key: same id");
	cr_assert_eq(cfs_crypto_blob_id(c3, "hello", 5, &e), 0);
	cr_assert_neq(memcmp(&a, &e, sizeof(a)), 0, "different id key: different id");
	cr_assert_eq(cfs_crypto_blob_id(c1, "hellp", 5, &f), 0);
	cr_assert_neq(memcmp(&a, &f, sizeof(a)), 0);

	/* Keyed: not the plain SHA-256. */
	cr_assert_eq(cfs_sha256("hello", 5, plain), 0);
	cr_assert_neq(memcmp(a.b, plain, 32), 0);

	/* Empty input, with or without a pointer. */
	cr_assert_eq(cfs_crypto_blob_id(c1, NULL, 0, &e), 0);
	cr_assert_eq(cfs_crypto_blob_id(c1, "", 0, &f), 0);
	cr_assert_eq(memcmp(&e, &f, sizeof(e)), 0);

	/* Interleaving other work does not disturb the reused context. */
	cr_assert_eq(cfs_crypto_blob_id(c1, "", 0, &f), 0);
	cr_assert_eq(cfs_crypto_blob_id(c1, "hello", 5, &b), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
}

Test(crypto, none_mode)
{
	struct cfs_keys k = test_keys(3);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;
	struct cfs_id id;
	uint8_t sha[32];

	k.mode = CFS_ENC_NONE;
	c = new_crypto(&k);
	cr_assert_eq(cfs_crypto_mode(c), CFS_ENC_NONE);
	cr_assert_eq(cfs_crypto_overhead(c), 0);
	cr_assert_eq(cfs_crypto_blob_id(c, "data", 4, &id), 0);
	cr_assert_eq(cfs_sha256("data", 4, sha), 0);
	cr_assert_eq(memcmp(id.b, sha, 32), 0, "NONE mode id is plain SHA-256");
	cr_assert_eq(cfs_crypto_blob_id(c, "data", 4, &id), 0);
	cr_assert_eq(memcmp(id.b, sha, 32), 0);

	cr_assert_eq(cfs_crypto_seal(c, "data", 4, "aad", 3, &sealed), 0);
	cr_assert_eq(sealed.len, 4);
	cr_assert_eq(memcmp(sealed.data, "data", 4), 0);
	cr_assert_eq(cfs_crypto_open(c, sealed.data, sealed.len, NULL, 0, &opened), 0);
	cr_assert_eq(opened.len, 4);
	cr_assert_eq(memcmp(opened.data, "data", 4), 0);
}

Test(crypto, bad_mode_rejected)
{
	struct cfs_keys k = test_keys(3);
	struct cfs_crypto *c = NULL;

	k.mode = (enum cfs_encryption)7;
	cr_assert_eq(cfs_crypto_new(&k, &c), -EINVAL);
	cr_assert_null(c);
	cr_assert_eq(cfs_keys_generate((enum cfs_encryption)7, &k), -EINVAL);
	cr_assert_null(cfs_crypto_free(NULL));
}

static void round_trip(struct cfs_crypto *c, size_t n)
{
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;
	_cleanup_free_ uint8_t *p = random_data(n);

	/* Appends after existing content. */
	cr_assert_eq(cfs_buf_append(&sealed, "XY", 2), 0);
	cr_assert_eq(cfs_crypto_seal(c, p, n, "ctx", 3, &sealed), 0);
	cr_assert_eq(sealed.len, 2 + n + CFS_AEAD_OVERHEAD);
	cr_assert_eq(memcmp(sealed.data, "XY", 2), 0);
	if (n >= 16)
		cr_assert_neq(memcmp(sealed.data + 2 + CFS_AEAD_NONCE_SIZE, p, 16), 0,
			      "ciphertext must differ from plaintext");

	cr_assert_eq(cfs_buf_append(&opened, "Z", 1), 0);
	cr_assert_eq(cfs_crypto_open(c, sealed.data + 2, sealed.len - 2, "ctx", 3, &opened), 0);
	cr_assert_eq(opened.len, 1 + n);
	cr_assert_eq(opened.data[0], 'Z');
	if (n)
		cr_assert_eq(memcmp(opened.data + 1, p, n), 0);
}

Test(crypto, seal_open_round_trip)
{
	struct cfs_keys k = test_keys(5);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(&k);
	const size_t sizes[] = {0, 1, 15, 16, 17, 4096, 4u << 20};

	cr_assert_eq(cfs_crypto_mode(c), CFS_ENC_AES256GCM);
	cr_assert_eq(cfs_crypto_overhead(c), CFS_AEAD_OVERHEAD);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		round_trip(c, sizes[i]);
}

Test(crypto, fresh_nonce_per_seal)
{
	struct cfs_keys k = test_keys(5);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(&k);
	_cleanup_buf_ struct cfs_buf a = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;

	cr_assert_eq(cfs_crypto_seal(c, "same", 4, NULL, 0, &a), 0);
	cr_assert_eq(cfs_crypto_seal(c, "same", 4, NULL, 0, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_neq(memcmp(a.data, b.data, CFS_AEAD_NONCE_SIZE), 0);
	cr_assert_neq(memcmp(a.data, b.data, a.len), 0);
}

Test(crypto, other_key_cannot_open)
{
	struct cfs_keys k1 = test_keys(5), k2 = test_keys(5);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c1 = new_crypto(&k1);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c2 = NULL;
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;

	k2.enc_key[31] ^= 0x80;
	c2 = new_crypto(&k2);
	cr_assert_eq(cfs_crypto_seal(c1, "secret", 6, NULL, 0, &sealed), 0);
	cr_assert_eq(cfs_crypto_open(c2, sealed.data, sealed.len, NULL, 0, &opened), -EBADMSG);
	cr_assert_eq(opened.len, 0);
}

Test(crypto, tamper_detected)
{
	struct cfs_keys k = test_keys(7);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(&k);
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;
	_cleanup_free_ uint8_t *p = random_data(1000);
	const size_t n = 1000 + CFS_AEAD_OVERHEAD;
	/* nonce, first/last ciphertext byte, first/last tag byte */
	const size_t offs[] = {0, CFS_AEAD_NONCE_SIZE - 1, CFS_AEAD_NONCE_SIZE, n - CFS_AEAD_TAG_SIZE - 1,
			       n - CFS_AEAD_TAG_SIZE, n - 1};

	cr_assert_eq(cfs_crypto_seal(c, p, 1000, "aad", 3, &sealed), 0);
	cr_assert_eq(sealed.len, n);

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		sealed.data[offs[i]] ^= 0x01;
		cr_assert_eq(cfs_buf_append(&opened, "keep", 4), 0);
		cr_assert_eq(cfs_crypto_open(c, sealed.data, n, "aad", 3, &opened), -EBADMSG,
			     "flip at %zu", offs[i]);
		cr_assert_eq(opened.len, 4, "nothing appended on failure");
		cr_assert_eq(memcmp(opened.data, "keep", 4), 0);
		cfs_buf_reset(&opened);
		sealed.data[offs[i]] ^= 0x01;
	}

	/* Wrong, missing and extra AAD. */
	cr_assert_eq(cfs_crypto_open(c, sealed.data, n, "aae", 3, &opened), -EBADMSG);
	cr_assert_eq(cfs_crypto_open(c, sealed.data, n, NULL, 0, &opened), -EBADMSG);
	cr_assert_eq(cfs_crypto_open(c, sealed.data, n, "aadx", 4, &opened), -EBADMSG);
	/* Truncated by one byte, and shorter than the overhead. */
	cr_assert_eq(cfs_crypto_open(c, sealed.data, n - 1, "aad", 3, &opened), -EBADMSG);
	cr_assert_eq(cfs_crypto_open(c, sealed.data, CFS_AEAD_OVERHEAD - 1, "aad", 3, &opened),
		     -EBADMSG);
	cr_assert_eq(cfs_crypto_open(c, sealed.data, 0, "aad", 3, &opened), -EBADMSG);
	cr_assert_eq(opened.len, 0);

	/* Intact input still opens after all the failures (context reset). */
	cr_assert_eq(cfs_crypto_open(c, sealed.data, n, "aad", 3, &opened), 0);
	cr_assert_eq(opened.len, 1000);
	cr_assert_eq(memcmp(opened.data, p, 1000), 0);
}

Test(crypto, empty_plaintext_tamper)
{
	struct cfs_keys k = test_keys(7);
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = new_crypto(&k);
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf opened = CFS_BUF_INIT;

	cr_assert_eq(cfs_crypto_seal(c, NULL, 0, NULL, 0, &sealed), 0);
	cr_assert_eq(sealed.len, CFS_AEAD_OVERHEAD);
	sealed.data[CFS_AEAD_OVERHEAD - 1] ^= 0x40;
	cr_assert_eq(cfs_crypto_open(c, sealed.data, sealed.len, NULL, 0, &opened), -EBADMSG);
	sealed.data[CFS_AEAD_OVERHEAD - 1] ^= 0x40;
	cr_assert_eq(cfs_crypto_open(c, sealed.data, sealed.len, NULL, 0, &opened), 0);
	cr_assert_eq(opened.len, 0);
}

Test(crypto, keys_generate)
{
	struct cfs_keys a, b;
	static const uint8_t zero[CFS_KEY_SIZE];

	cr_assert_eq(cfs_keys_generate(CFS_ENC_AES256GCM, &a), 0);
	cr_assert_eq(cfs_keys_generate(CFS_ENC_AES256GCM, &b), 0);
	cr_assert_eq(a.mode, CFS_ENC_AES256GCM);
	cr_assert_neq(memcmp(a.id_key, b.id_key, CFS_KEY_SIZE), 0);
	cr_assert_neq(memcmp(a.enc_key, b.enc_key, CFS_KEY_SIZE), 0);
	cr_assert_neq(memcmp(a.gear_seed, b.gear_seed, CFS_KEY_SIZE), 0);
	cr_assert_neq(memcmp(a.id_key, a.enc_key, CFS_KEY_SIZE), 0);
	cr_assert_eq(cfs_keys_generate(CFS_ENC_NONE, &b), 0);
	cr_assert_eq(b.mode, CFS_ENC_NONE);
	cr_assert_neq(memcmp(b.gear_seed, zero, CFS_KEY_SIZE), 0);

	cfs_keys_wipe(&a);
	cr_assert_eq(memcmp(a.id_key, zero, CFS_KEY_SIZE), 0);
	cr_assert_eq(memcmp(a.enc_key, zero, CFS_KEY_SIZE), 0);
	cr_assert_eq(memcmp(a.gear_seed, zero, CFS_KEY_SIZE), 0);
	cfs_keys_wipe(NULL);
}

static void seal_keyfile(const struct cfs_keys *k, const char *pass, struct cfs_buf *out)
{
	cr_assert_eq(cfs_keyfile_seal(k, &fast_kdf, pass, strlen(pass), out), 0);
	cr_assert_eq(out->len, 48 + CFS_AEAD_OVERHEAD + 96);
}

Test(crypto, keyfile_round_trip)
{
	struct cfs_keys k = test_keys(11), got;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf g = CFS_BUF_INIT;

	memset(&got, 0xee, sizeof(got));
	seal_keyfile(&k, "correct horse", &f);

	/* Header layout as documented in crypto.h. */
	cr_assert_eq(memcmp(f.data, "CFSKEY\0\1", 8), 0);
	cr_assert_eq(cfs_get_le32(f.data + 8), 1);
	cr_assert_eq(f.data[12], 1);
	cr_assert_eq(f.data[13], 10);
	cr_assert_eq(f.data[14], 8);
	cr_assert_eq(f.data[15], 1);
	/* The keys do not appear in the clear. */
	cr_assert_null(memmem(f.data, f.len, k.id_key, 8));

	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "correct horse", 13, &got), 0);
	cr_assert_eq(got.mode, CFS_ENC_AES256GCM);
	cr_assert_eq(memcmp(got.id_key, k.id_key, CFS_KEY_SIZE), 0);
	cr_assert_eq(memcmp(got.enc_key, k.enc_key, CFS_KEY_SIZE), 0);
	cr_assert_eq(memcmp(got.gear_seed, k.gear_seed, CFS_KEY_SIZE), 0);

	/* Fresh salt and nonce each time. */
	seal_keyfile(&k, "correct horse", &g);
	cr_assert_neq(memcmp(f.data + 16, g.data + 16, 32), 0);

	/* Empty passphrase works too. */
	cfs_buf_reset(&g);
	seal_keyfile(&k, "", &g);
	cr_assert_eq(cfs_keyfile_open(g.data, g.len, "", 0, &got), 0);
	cr_assert_eq(memcmp(got.enc_key, k.enc_key, CFS_KEY_SIZE), 0);
	cr_assert_eq(cfs_keyfile_open(g.data, g.len, "x", 1, &got), -EACCES);
}

/* cfs_keyfile_open() in its three steps (crypto-internal.h): the same keys,
 * and a wrong KEK is a wrong passphrase. */
Test(crypto, keyfile_steps)
{
	struct cfs_keys k = test_keys(11), got, whole;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;
	struct cfs_keyfile_header h;
	uint8_t kek[CFS_KEY_SIZE];

	seal_keyfile(&k, "pw", &f);
	cr_assert_eq(cfs_keyfile_parse(f.data, f.len, &h), 0);
	cr_assert_eq(h.kdf.log2n, 10);
	cr_assert_eq(h.kdf.r, 8);
	cr_assert_eq(h.kdf.p, 1);
	cr_assert_eq(h.salt, f.data + 16);
	cr_assert_eq(cfs_keyfile_derive_kek(&h, "pw", 2, kek), 0);
	cr_assert_eq(cfs_keyfile_unwrap(f.data, f.len, kek, &got), 0);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &whole), 0);
	cr_assert_eq(memcmp(&got, &whole, sizeof(got)), 0);
	cr_assert_eq(memcmp(got.enc_key, k.enc_key, CFS_KEY_SIZE), 0);
	kek[0] ^= 1;
	cr_assert_eq(cfs_keyfile_unwrap(f.data, f.len, kek, &got), -EACCES);
	cr_assert_eq(cfs_keyfile_unwrap(f.data, f.len - 1, kek, &got), -EPROTO);
	cr_assert_eq(cfs_keyfile_parse(f.data, 12, &h), -EPROTO);
}

Test(crypto, keyfile_wrong_passphrase)
{
	struct cfs_keys k = test_keys(11), got;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;

	memset(&got, 0xee, sizeof(got));
	seal_keyfile(&k, "correct horse", &f);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "correct horsf", 13, &got), -EACCES);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "correct hors", 12, &got), -EACCES);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "", 0, &got), -EACCES);
	cr_assert_eq(got.id_key[0], 0xee, "ret untouched on failure");
}

Test(crypto, keyfile_tampered)
{
	struct cfs_keys k = test_keys(11), got;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;

	seal_keyfile(&k, "pw", &f);
	/* Salt, sealed payload, tag: the KEK or the tag no longer matches. */
	const size_t offs[] = {16, 47, 48, 70, f.len - 1};
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		f.data[offs[i]] ^= 0x10;
		cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EACCES,
			     "flip at %zu", offs[i]);
		f.data[offs[i]] ^= 0x10;
	}
	/* A still-valid but different cost in the header: bound by AAD. */
	f.data[15] = 2;
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EACCES);
	f.data[15] = 1;
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), 0);
}

Test(crypto, keyfile_malformed)
{
	struct cfs_keys k = test_keys(11), got;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;

	seal_keyfile(&k, "pw", &f);
	/* Truncated at every length, including inside the header. */
	for (size_t n = 0; n < f.len; n++)
		cr_assert_eq(cfs_keyfile_open(f.data, n, "pw", 2, &got), -EPROTO, "len %zu", n);
	/* Trailing garbage. */
	cr_assert_eq(cfs_buf_append_u8(&f, 0), 0);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EPROTO);
	f.len--;

	/* Bad magic, version 0, unknown kdf, out-of-range costs. */
	struct {
		size_t off;
		uint8_t val;
	} bad[] = {{0, 'X'}, {7, 2}, {8, 0}, {12, 2}, {13, 9}, {13, 23}, {14, 0}, {15, 0}};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t old = f.data[bad[i].off];
		f.data[bad[i].off] = bad[i].val;
		cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EPROTO, "case %zu", i);
		f.data[bad[i].off] = old;
	}
	/* A forged huge r must be refused before scrypt runs. */
	f.data[14] = 255;
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EPROTO);
	f.data[14] = 8;
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), 0);
}

Test(crypto, keyfile_newer_version)
{
	struct cfs_keys k = test_keys(11), got;
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;

	seal_keyfile(&k, "pw", &f);
	cfs_put_le32(f.data + 8, 2);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EPROTONOSUPPORT);
	/* Newer versions may have another length: still reported as newer. */
	cr_assert_eq(cfs_keyfile_open(f.data, 12, "pw", 2, &got), -EPROTONOSUPPORT);
	cfs_put_le32(f.data + 8, 0xffffffffu);
	cr_assert_eq(cfs_keyfile_open(f.data, f.len, "pw", 2, &got), -EPROTONOSUPPORT);
}

Test(crypto, keyfile_bad_params)
{
	struct cfs_keys k = test_keys(11);
	_cleanup_buf_ struct cfs_buf f = CFS_BUF_INIT;
	const struct cfs_kdf_params bad[] = {{9, 8, 1}, {23, 8, 1}, {10, 0, 1}, {10, 8, 0}, {22, 200, 1}};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_assert_eq(cfs_keyfile_seal(&k, &bad[i], "pw", 2, &f), -EINVAL, "case %zu", i);
		cr_assert_eq(f.len, 0);
	}
}

Test(crypto, open_inplace)
{
	struct cfs_keys k = test_keys(0x42);
	struct cfs_crypto *c = new_crypto(&k);
	struct cfs_buf sealed = CFS_BUF_INIT;
	uint8_t msg[5000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	cr_assert_eq(cfs_crypto_seal(c, msg, sizeof(msg), "aad", 3, &sealed), 0);

	/* Good: plaintext in place, inside the input buffer. */
	struct cfs_buf copy = CFS_BUF_INIT;
	cr_assert_eq(cfs_buf_append(&copy, sealed.data, sealed.len), 0);
	uint8_t *plain;
	size_t len;
	cr_assert_eq(cfs_crypto_open_inplace(c, copy.data, copy.len, "aad", 3, &plain, &len), 0);
	cr_assert_eq(len, sizeof(msg));
	cr_assert(plain >= copy.data && plain + len <= copy.data + copy.len);
	cr_assert_eq(memcmp(plain, msg, len), 0);

	/* Flipped byte: -EBADMSG, and no unauthenticated plaintext left. */
	cfs_buf_reset(&copy);
	cr_assert_eq(cfs_buf_append(&copy, sealed.data, sealed.len), 0);
	copy.data[CFS_AEAD_NONCE_SIZE + 100] ^= 1;
	cr_assert_eq(cfs_crypto_open_inplace(c, copy.data, copy.len, "aad", 3, &plain, &len), -EBADMSG);
	cr_assert_eq(memmem(copy.data, copy.len, msg + 200, 64), NULL, "plaintext survived a failed open");
	/* Wrong AAD and a short input. */
	cfs_buf_reset(&copy);
	cr_assert_eq(cfs_buf_append(&copy, sealed.data, sealed.len), 0);
	cr_assert_eq(cfs_crypto_open_inplace(c, copy.data, copy.len, "aaX", 3, &plain, &len), -EBADMSG);
	cr_assert_eq(cfs_crypto_open_inplace(c, copy.data, CFS_AEAD_OVERHEAD - 1, "aad", 3, &plain, &len),
		     -EBADMSG);
	cfs_buf_release(&copy);
	cfs_buf_release(&sealed);
	cfs_crypto_free(c);
}
