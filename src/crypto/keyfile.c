/* SPDX-License-Identifier: MIT */
/*
 * keyfile.c — master keys wrapped under a passphrase. The byte layout is
 * frozen in include/chronofs/crypto.h (version 1); this file must match it.
 *
 * The KEK is scrypt(passphrase, salt, 2^log2n, r, p). The sealed part is an
 * ordinary cfs_crypto seal under the KEK with the 48-byte header as AAD, so a
 * tampered header (e.g. a lowered cost) fails just like a wrong passphrase.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/crypto-internal.h"

#define KEYFILE_MAGIC "CFSKEY\0\1"
#define KEYFILE_MAGIC_SIZE 8
#define KEYFILE_VERSION 1
#define KEYFILE_KDF_SCRYPT 1
#define KEYFILE_HEADER_SIZE 48
#define KEYFILE_SALT_OFF 16
#define KEYFILE_SALT_SIZE CFS_KEYFILE_SALT_SIZE
#define KEYFILE_PAYLOAD_SIZE (3 * CFS_KEY_SIZE)
#define KEYFILE_SIZE (KEYFILE_HEADER_SIZE + CFS_AEAD_OVERHEAD + KEYFILE_PAYLOAD_SIZE)

#define KDF_LOG2N_MIN 10
#define KDF_LOG2N_MAX 22
/*
 * scrypt needs about 128 * r * (N + p + 2) bytes. Allow what the largest
 * supported cost with r = 8 needs (4 GiB at log2n = 22) plus slack, and no
 * more: the parameters of a key file being opened are untrusted, and a forged
 * r or p must not make us allocate or compute without bound.
 */
#define KDF_MAXMEM ((UINT64_C(128) * 8 << KDF_LOG2N_MAX) + (UINT64_C(1) << 24))
#define KDF_RP_MAX 32

static bool kdf_params_valid(uint8_t log2n, uint8_t r, uint8_t p)
{
	uint64_t mem;

	if (log2n < KDF_LOG2N_MIN || log2n > KDF_LOG2N_MAX)
		return false;
	if (r < 1 || p < 1 || r > KDF_RP_MAX || p > KDF_RP_MAX)
		return false;
	/* scrypt's own constraint N < 2^(16 r), which OpenSSL enforces. */
	if (log2n >= 16 * r)
		return false;
	mem = UINT64_C(128) * r * ((UINT64_C(1) << log2n) + p + 2);
	return mem <= KDF_MAXMEM;
}

static int derive_kek(const void *pass, size_t pass_len, const uint8_t salt[KEYFILE_SALT_SIZE],
		      uint8_t log2n, uint8_t r, uint8_t p, uint8_t kek[CFS_KEY_SIZE])
{
	static const char empty[1] = "";
	uint64_t n_val = UINT64_C(1) << log2n, maxmem = KDF_MAXMEM;
	uint32_t r_val = r, p_val = p;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	int ret = -EIO;

	OSSL_PARAM params[] = {
		/* OpenSSL wants a non-NULL pointer even for an empty passphrase. */
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						  (void *)(pass_len ? pass : empty), pass_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
						  KEYFILE_SALT_SIZE),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n_val),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r_val),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p_val),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};

	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (!kdf)
		goto out;
	ctx = EVP_KDF_CTX_new(kdf);
	if (!ctx) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_KDF_derive(ctx, kek, CFS_KEY_SIZE, params) != 1)
		goto out;
	ret = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* A cfs_crypto whose enc_key is the KEK; the id key is unused. */
static int kek_crypto(const uint8_t kek[CFS_KEY_SIZE], struct cfs_crypto **ret)
{
	struct cfs_keys k = {.mode = CFS_ENC_AES256GCM};
	int r;

	memcpy(k.enc_key, kek, CFS_KEY_SIZE);
	r = cfs_crypto_new(&k, ret);
	cfs_keys_wipe(&k);
	return r;
}

/* kdf may be NULL for CFS_KDF_DEFAULT. On failure out is unchanged. */
int cfs_keyfile_seal(const struct cfs_keys *k, const struct cfs_kdf_params *kdf,
		     const void *pass, size_t pass_len, struct cfs_buf *out)
{
	static const struct cfs_kdf_params def = CFS_KDF_DEFAULT;
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	uint8_t hdr[KEYFILE_HEADER_SIZE] = {0};
	uint8_t payload[KEYFILE_PAYLOAD_SIZE];
	uint8_t kek[CFS_KEY_SIZE];
	size_t start = out->len;
	int r;

	if (!kdf)
		kdf = &def;
	if (!kdf_params_valid(kdf->log2n, kdf->r, kdf->p))
		return -EINVAL;

	memcpy(hdr, KEYFILE_MAGIC, KEYFILE_MAGIC_SIZE);
	cfs_put_le32(hdr + 8, KEYFILE_VERSION);
	hdr[12] = KEYFILE_KDF_SCRYPT;
	hdr[13] = kdf->log2n;
	hdr[14] = kdf->r;
	hdr[15] = kdf->p;
	r = cfs_random_bytes(hdr + KEYFILE_SALT_OFF, KEYFILE_SALT_SIZE);
	if (r < 0)
		return r;

	r = derive_kek(pass, pass_len, hdr + KEYFILE_SALT_OFF, kdf->log2n, kdf->r, kdf->p, kek);
	if (r >= 0)
		r = kek_crypto(kek, &c);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (r < 0)
		return r;

	r = cfs_buf_reserve(out, KEYFILE_SIZE);
	if (r < 0)
		return r;
	memcpy(payload, k->id_key, CFS_KEY_SIZE);
	memcpy(payload + CFS_KEY_SIZE, k->enc_key, CFS_KEY_SIZE);
	memcpy(payload + 2 * CFS_KEY_SIZE, k->gear_seed, CFS_KEY_SIZE);
	r = cfs_buf_append(out, hdr, sizeof(hdr));
	if (r >= 0)
		r = cfs_crypto_seal(c, payload, sizeof(payload), hdr, sizeof(hdr), out);
	OPENSSL_cleanse(payload, sizeof(payload));
	if (r < 0) {
		out->len = start;
		return r;
	}
	return 0;
}

int cfs_keyfile_parse(const void *p, size_t n, struct cfs_keyfile_header *ret)
{
	const uint8_t *b = p;
	uint32_t version;

	if (!p && n > 0)
		return -EINVAL;
	/* Magic and version first, so a newer (possibly longer or shorter)
	 * format is reported as such rather than as malformed. */
	if (n < 12 || memcmp(b, KEYFILE_MAGIC, KEYFILE_MAGIC_SIZE) != 0)
		return -EPROTO;
	version = cfs_get_le32(b + 8);
	if (version > KEYFILE_VERSION)
		return -EPROTONOSUPPORT;
	if (version != KEYFILE_VERSION)
		return -EPROTO;
	if (n != KEYFILE_SIZE)
		return -EPROTO;
	if (b[12] != KEYFILE_KDF_SCRYPT || !kdf_params_valid(b[13], b[14], b[15]))
		return -EPROTO;
	*ret = (struct cfs_keyfile_header){{b[13], b[14], b[15]}, b + KEYFILE_SALT_OFF};
	return 0;
}

int cfs_keyfile_derive_kek(const struct cfs_keyfile_header *h, const void *pass, size_t pass_len,
			   uint8_t kek[CFS_KEY_SIZE])
{
	return derive_kek(pass, pass_len, h->salt, h->kdf.log2n, h->kdf.r, h->kdf.p, kek);
}

int cfs_keyfile_unwrap(const void *p, size_t n, const uint8_t kek[CFS_KEY_SIZE], struct cfs_keys *ret)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	const uint8_t *b = p;
	struct cfs_keys k = {.mode = CFS_ENC_AES256GCM};
	int r;

	if (n != KEYFILE_SIZE)
		return -EPROTO;
	r = kek_crypto(kek, &c);
	if (r < 0)
		return r;
	/* Reserve up front so the plaintext is never copied by a realloc
	 * that would leave an unwiped copy behind. */
	r = cfs_buf_reserve(&plain, KEYFILE_PAYLOAD_SIZE);
	if (r < 0)
		return r;
	r = cfs_crypto_open(c, b + KEYFILE_HEADER_SIZE, n - KEYFILE_HEADER_SIZE, b,
			    KEYFILE_HEADER_SIZE, &plain);
	if (r == -EBADMSG)
		return -EACCES;
	if (r < 0)
		return r;
	if (plain.len != KEYFILE_PAYLOAD_SIZE) {
		OPENSSL_cleanse(plain.data, plain.len);
		return -EPROTO;
	}
	memcpy(k.id_key, plain.data, CFS_KEY_SIZE);
	memcpy(k.enc_key, plain.data + CFS_KEY_SIZE, CFS_KEY_SIZE);
	memcpy(k.gear_seed, plain.data + 2 * CFS_KEY_SIZE, CFS_KEY_SIZE);
	OPENSSL_cleanse(plain.data, plain.len);
	*ret = k;
	cfs_keys_wipe(&k);
	return 0;
}

int cfs_keyfile_open(const void *p, size_t n, const void *pass, size_t pass_len,
		     struct cfs_keys *ret)
{
	struct cfs_keyfile_header h;
	uint8_t kek[CFS_KEY_SIZE];

	int r = cfs_keyfile_parse(p, n, &h);
	if (r < 0)
		return r;
	r = cfs_keyfile_derive_kek(&h, pass, pass_len, kek);
	if (r >= 0)
		r = cfs_keyfile_unwrap(p, n, kek, ret);
	OPENSSL_cleanse(kek, sizeof(kek));
	return r;
}
