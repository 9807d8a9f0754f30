/* SPDX-License-Identifier: MIT */
/*
 * crypto.c — blob ids (HMAC-SHA-256 / SHA-256), AES-256-GCM sealing, key
 * generation. Together with keyfile.c the only OpenSSL user in chronofs.
 *
 * Context reuse (hot path: every chunk is hashed and sealed once, every read
 * opened once): the HMAC context gets its key once in cfs_crypto_new(), and
 * EVP_MAC_init(ctx, NULL, 0, NULL) afterwards only restores the precomputed
 * inner/outer pads. The cipher contexts get cipher and key once; per message
 * EVP_{En,De}cryptInit_ex(ctx, NULL, NULL, NULL, iv) only resets the IV and
 * the GCM state, so no key schedule is recomputed and nothing is allocated.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "chronofs/crypto.h"

/* NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per GCM invocation. */
#define GCM_MAX_PLAINTEXT ((UINT64_C(1) << 36) - 32)

/* OpenSSL's update functions take int lengths; feed them in steps of this. */
#define UPDATE_STEP (1u << 30)

struct cfs_crypto {
	enum cfs_encryption mode;
	EVP_MAC *mac;		  /* owned; HMAC, AES mode only */
	EVP_MAC_CTX *mac_ctx;	  /* owned; keyed with id_key */
	EVP_MD *md;		  /* owned; SHA-256, NONE mode only */
	EVP_MD_CTX *md_ctx;	  /* owned */
	EVP_CIPHER *cipher;	  /* owned; AES-256-GCM */
	EVP_CIPHER_CTX *enc_ctx;  /* owned; keyed with enc_key for encryption */
	EVP_CIPHER_CTX *dec_ctx;  /* owned; keyed with enc_key for decryption */
};

int cfs_random_bytes(void *p, size_t n)
{
	uint8_t *q = p;

	while (n > 0) {
		size_t step = CFS_MIN(n, (size_t)UPDATE_STEP);
		if (RAND_bytes(q, (int)step) != 1)
			return -EIO;
		q += step;
		n -= (size_t)step;
	}
	return 0;
}

int cfs_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -EIO;
	return 0;
}

struct cfs_sha256_ctx {
	EVP_MD_CTX *md; /* owned */
};

int cfs_sha256_new(struct cfs_sha256_ctx **ret)
{
	struct cfs_sha256_ctx *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->md = EVP_MD_CTX_new();
	if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		cfs_sha256_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

struct cfs_sha256_ctx *cfs_sha256_free(struct cfs_sha256_ctx *h)
{
	if (h) {
		EVP_MD_CTX_free(h->md);
		free(h);
	}
	return NULL;
}

int cfs_sha256_update(struct cfs_sha256_ctx *h, const void *p, size_t n)
{
	return EVP_DigestUpdate(h->md, p, n) == 1 ? 0 : -EIO;
}

int cfs_sha256_final(struct cfs_sha256_ctx *h, uint8_t out[32])
{
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(h->md, out, &len) != 1 || len != 32)
		return -EIO;
	return EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

int cfs_keys_generate(enum cfs_encryption mode, struct cfs_keys *ret)
{
	struct cfs_keys k = {.mode = mode};
	int r;

	if (mode != CFS_ENC_NONE && mode != CFS_ENC_AES256GCM)
		return -EINVAL;
	/* The gear seed is secret in both modes; the id and encryption keys
	 * are unused without encryption but cost nothing to fill. */
	r = cfs_random_bytes(k.id_key, sizeof(k.id_key));
	if (r >= 0)
		r = cfs_random_bytes(k.enc_key, sizeof(k.enc_key));
	if (r >= 0)
		r = cfs_random_bytes(k.gear_seed, sizeof(k.gear_seed));
	if (r < 0) {
		cfs_keys_wipe(&k);
		return r;
	}
	*ret = k;
	cfs_keys_wipe(&k);
	return 0;
}

void cfs_keys_wipe(struct cfs_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

struct cfs_crypto *cfs_crypto_free(struct cfs_crypto *c)
{
	if (!c)
		return NULL;
	EVP_MAC_CTX_free(c->mac_ctx);
	EVP_MAC_free(c->mac);
	EVP_MD_CTX_free(c->md_ctx);
	EVP_MD_free(c->md);
	EVP_CIPHER_CTX_free(c->enc_ctx);
	EVP_CIPHER_CTX_free(c->dec_ctx);
	EVP_CIPHER_free(c->cipher);
	free(c);
	return NULL;
}

static int crypto_setup_aes(struct cfs_crypto *c, const struct cfs_keys *keys)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};

	c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!c->mac)
		return -EIO;
	c->mac_ctx = EVP_MAC_CTX_new(c->mac);
	if (!c->mac_ctx)
		return -ENOMEM;
	if (EVP_MAC_init(c->mac_ctx, keys->id_key, sizeof(keys->id_key), params) != 1)
		return -EIO;

	c->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (!c->cipher)
		return -EIO;
	c->enc_ctx = EVP_CIPHER_CTX_new();
	c->dec_ctx = EVP_CIPHER_CTX_new();
	if (!c->enc_ctx || !c->dec_ctx)
		return -ENOMEM;
	/* 12-byte IVs are the GCM default; no EVP_CTRL_GCM_SET_IVLEN needed. */
	if (EVP_EncryptInit_ex(c->enc_ctx, c->cipher, NULL, keys->enc_key, NULL) != 1 ||
	    EVP_DecryptInit_ex(c->dec_ctx, c->cipher, NULL, keys->enc_key, NULL) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_get_iv_length(c->enc_ctx) != CFS_AEAD_NONCE_SIZE)
		return -EIO;
	return 0;
}

int cfs_crypto_new(const struct cfs_keys *keys, struct cfs_crypto **ret)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	int r;

	if (!keys || (keys->mode != CFS_ENC_NONE && keys->mode != CFS_ENC_AES256GCM))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->mode = keys->mode;

	if (c->mode == CFS_ENC_AES256GCM) {
		r = crypto_setup_aes(c, keys);
		if (r < 0)
			return r;
	} else {
		c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (!c->md)
			return -EIO;
		c->md_ctx = EVP_MD_CTX_new();
		if (!c->md_ctx)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

enum cfs_encryption cfs_crypto_mode(const struct cfs_crypto *c)
{
	return c->mode;
}

int cfs_crypto_blob_id(struct cfs_crypto *c, const void *p, size_t n, struct cfs_id *ret)
{
	struct cfs_id id;

	if (c->mode == CFS_ENC_NONE) {
		unsigned int len = 0;
		if (EVP_DigestInit_ex(c->md_ctx, c->md, NULL) != 1 ||
		    EVP_DigestUpdate(c->md_ctx, p, n) != 1 ||
		    EVP_DigestFinal_ex(c->md_ctx, id.b, &len) != 1 || len != CFS_ID_SIZE)
			return -EIO;
	} else {
		size_t len = 0;
		/* NULL key: restart with the key set in cfs_crypto_new(). */
		if (EVP_MAC_init(c->mac_ctx, NULL, 0, NULL) != 1 ||
		    EVP_MAC_update(c->mac_ctx, p, n) != 1 ||
		    EVP_MAC_final(c->mac_ctx, id.b, &len, sizeof(id.b)) != 1 || len != CFS_ID_SIZE)
			return -EIO;
	}
	*ret = id;
	return 0;
}

size_t cfs_crypto_overhead(const struct cfs_crypto *c)
{
	return c->mode == CFS_ENC_NONE ? 0 : CFS_AEAD_OVERHEAD;
}

/* Feed the AAD in int-sized steps. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *aad, size_t aad_len)
{
	while (aad_len > 0) {
		int step = (int)CFS_MIN(aad_len, (size_t)UPDATE_STEP), outl = 0;
		int ok = enc ? EVP_EncryptUpdate(ctx, NULL, &outl, aad, step)
			     : EVP_DecryptUpdate(ctx, NULL, &outl, aad, step);
		if (ok != 1)
			return -EIO;
		aad += step;
		aad_len -= (size_t)step;
	}
	return 0;
}

/* Run the cipher over n bytes in int-sized steps; GCM is a stream mode, so
 * output length equals input length at every step. */
static int gcm_update(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *in, size_t n, uint8_t *out)
{
	while (n > 0) {
		int step = (int)CFS_MIN(n, (size_t)UPDATE_STEP), outl = 0;
		int ok = enc ? EVP_EncryptUpdate(ctx, out, &outl, in, step)
			     : EVP_DecryptUpdate(ctx, out, &outl, in, step);
		if (ok != 1 || outl != step)
			return -EIO;
		in += step;
		out += step;
		n -= (size_t)step;
	}
	return 0;
}

/*
 * p must not point into out: appending may move out's storage.
 * On failure nothing is appended (out->len is unchanged).
 */
int cfs_crypto_seal(struct cfs_crypto *c, const void *p, size_t n, const void *aad, size_t aad_len,
		    struct cfs_buf *out)
{
	uint8_t *nonce, *ct;
	int outl = 0, r;

	if (c->mode == CFS_ENC_NONE)
		return cfs_buf_append(out, p, n);
	if ((uint64_t)n > GCM_MAX_PLAINTEXT)
		return -EMSGSIZE;
	if (n > SIZE_MAX - CFS_AEAD_OVERHEAD)
		return -ENOMEM;
	r = cfs_buf_reserve(out, n + CFS_AEAD_OVERHEAD);
	if (r < 0)
		return r;

	nonce = out->data + out->len;
	ct = nonce + CFS_AEAD_NONCE_SIZE;
	r = cfs_random_bytes(nonce, CFS_AEAD_NONCE_SIZE);
	if (r < 0)
		return r;
	if (EVP_EncryptInit_ex(c->enc_ctx, NULL, NULL, NULL, nonce) != 1)
		return -EIO;
	r = gcm_aad(c->enc_ctx, true, aad, aad_len);
	if (r < 0)
		return r;
	r = gcm_update(c->enc_ctx, true, p, n, ct);
	if (r < 0)
		return r;
	if (EVP_EncryptFinal_ex(c->enc_ctx, ct + n, &outl) != 1 || outl != 0)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(c->enc_ctx, EVP_CTRL_GCM_GET_TAG, CFS_AEAD_TAG_SIZE, ct + n) != 1)
		return -EIO;
	out->len += n + CFS_AEAD_OVERHEAD;
	return 0;
}

/*
 * p must not point into out. Plaintext is decrypted into out's spare
 * capacity and only becomes part of out (len advanced) once the tag has
 * verified; on failure the unauthenticated bytes are wiped.
 */
/*
 * Decrypt ptlen bytes at ct into pt (pt == ct decrypts in place) and check
 * the tag. On failure pt is wiped: unauthenticated plaintext is never left
 * for anyone to use.
 */
static int gcm_open(struct cfs_crypto *c, const uint8_t *nonce, const uint8_t *ct, size_t ptlen,
		    const uint8_t *tag, const void *aad, size_t aad_len, uint8_t *pt)
{
	uint8_t tagbuf[CFS_AEAD_TAG_SIZE];
	int outl = 0, r;

	/* The ctrl takes a non-const pointer: copy rather than cast away const. */
	memcpy(tagbuf, tag, sizeof(tagbuf));
	if (EVP_DecryptInit_ex(c->dec_ctx, NULL, NULL, NULL, nonce) != 1)
		return -EIO;
	r = gcm_aad(c->dec_ctx, false, aad, aad_len);
	if (r >= 0)
		r = gcm_update(c->dec_ctx, false, ct, ptlen, pt);
	if (r >= 0 &&
	    EVP_CIPHER_CTX_ctrl(c->dec_ctx, EVP_CTRL_GCM_SET_TAG, CFS_AEAD_TAG_SIZE, tagbuf) != 1)
		r = -EIO;
	if (r >= 0 && (EVP_DecryptFinal_ex(c->dec_ctx, pt ? pt + ptlen : tagbuf, &outl) != 1 || outl != 0))
		r = -EBADMSG;
	if (r < 0 && pt && ptlen)
		OPENSSL_cleanse(pt, ptlen);
	return r;
}

int cfs_crypto_open(struct cfs_crypto *c, const void *p, size_t n, const void *aad, size_t aad_len,
		    struct cfs_buf *out)
{
	const uint8_t *nonce = p;
	size_t ptlen;
	int r;

	if (c->mode == CFS_ENC_NONE)
		return cfs_buf_append(out, p, n);
	if (n < CFS_AEAD_OVERHEAD)
		return -EBADMSG;
	ptlen = n - CFS_AEAD_OVERHEAD;
	if ((uint64_t)ptlen > GCM_MAX_PLAINTEXT)
		return -EBADMSG;
	r = cfs_buf_reserve(out, ptlen);
	if (r < 0)
		return r;
	uint8_t *pt = out->data ? out->data + out->len : NULL;
	const uint8_t *ct = nonce + CFS_AEAD_NONCE_SIZE;
	r = gcm_open(c, nonce, ct, ptlen, ct + ptlen, aad, aad_len, pt);
	if (r < 0)
		return r;
	out->len += ptlen;
	return 0;
}

int cfs_crypto_open_inplace(struct cfs_crypto *c, void *p, size_t n, const void *aad, size_t aad_len,
			    uint8_t **ret_plain, size_t *ret_len)
{
	uint8_t *nonce = p;
	size_t ptlen;

	if (c->mode == CFS_ENC_NONE) {
		*ret_plain = p;
		*ret_len = n;
		return 0;
	}
	if (n < CFS_AEAD_OVERHEAD)
		return -EBADMSG;
	ptlen = n - CFS_AEAD_OVERHEAD;
	if ((uint64_t)ptlen > GCM_MAX_PLAINTEXT)
		return -EBADMSG;
	uint8_t *ct = nonce + CFS_AEAD_NONCE_SIZE;
	/* GCM decrypts in place when input and output are the same bytes. */
	int r = gcm_open(c, nonce, ct, ptlen, ct + ptlen, aad, aad_len, ct);
	if (r < 0)
		return r;
	*ret_plain = ct;
	*ret_len = ptlen;
	return 0;
}
