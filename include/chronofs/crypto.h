/* SPDX-License-Identifier: MIT */
/*
 * crypto.h — keyed blob ids, authenticated encryption, master keys wrapped
 * under a passphrase. The only module that uses OpenSSL (src/crypto/).
 *
 * Blob id:   HMAC-SHA-256(id_key, plaintext). In CFS_ENC_NONE mode the id is
 *            plain SHA-256 (there is no secret to key it with).
 * Sealing:   AES-256-GCM under enc_key; sealed = nonce(12) || ciphertext ||
 *            tag(16); a fresh random 96-bit nonce per call. Optional AAD binds
 *            context. In CFS_ENC_NONE mode sealing is a plain copy.
 * Key file:  (frozen, version 1; changing it needs a format bump)
 *              0  8  magic "CFSKEY\0\1"
 *              8  4  version (LE) = 1
 *             12  1  kdf = 1 (scrypt)
 *             13  1  log2(N)   (scrypt cost; 15 by default)
 *             14  1  r         (8)
 *             15  1  p         (1)
 *             16 32  salt (random)
 *             48  .. sealed master keys: nonce(12) || AES-256-GCM(KEK,
 *                    id_key(32) || enc_key(32) || gear_seed(32)) || tag(16),
 *                    AAD = bytes 0..47 (header bound to the keys)
 *            KEK = scrypt(passphrase, salt, N, r, p), 32 bytes.
 *
 * Threading: struct cfs_crypto holds reusable OpenSSL contexts and is NOT
 * thread-safe; create one per worker thread (keys are copied in).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chronofs/buf.h"

#define CFS_ID_SIZE 32
#define CFS_KEY_SIZE 32
#define CFS_AEAD_NONCE_SIZE 12
#define CFS_AEAD_TAG_SIZE 16
#define CFS_AEAD_OVERHEAD (CFS_AEAD_NONCE_SIZE + CFS_AEAD_TAG_SIZE)
#define CFS_ID_HEX_SIZE (2 * CFS_ID_SIZE + 1)

struct cfs_id {
	uint8_t b[CFS_ID_SIZE];
};

enum cfs_encryption {
	CFS_ENC_NONE = 0,
	CFS_ENC_AES256GCM = 1,
};

/* The repository's master key material. Plain value type; wipe with
 * cfs_keys_wipe() when done. */
struct cfs_keys {
	enum cfs_encryption mode;
	uint8_t id_key[CFS_KEY_SIZE];
	uint8_t enc_key[CFS_KEY_SIZE];
	uint8_t gear_seed[CFS_KEY_SIZE]; /* seeds the chunker's gear table */
};

/* Fresh random keys for a new repository. */
int cfs_keys_generate(enum cfs_encryption mode, struct cfs_keys *ret);
void cfs_keys_wipe(struct cfs_keys *k);

/* scrypt cost for new key files; tests lower it to keep suites fast.
 * log2n in [10, 22]. */
struct cfs_kdf_params {
	uint8_t log2n, r, p;
};
#define CFS_KDF_DEFAULT {15, 8, 1}

/* Wrap keys under the passphrase into a key file (format above). */
int cfs_keyfile_seal(const struct cfs_keys *k, const struct cfs_kdf_params *kdf,
		     const void *pass, size_t pass_len, struct cfs_buf *out);
/* Unwrap. -EACCES: wrong passphrase (tag mismatch). -EPROTO: malformed.
 * -EPROTONOSUPPORT: newer version. ret->mode is set to CFS_ENC_AES256GCM. */
int cfs_keyfile_open(const void *p, size_t n, const void *pass, size_t pass_len,
		     struct cfs_keys *ret);

struct cfs_crypto;
int cfs_crypto_new(const struct cfs_keys *keys, struct cfs_crypto **ret);
struct cfs_crypto *cfs_crypto_free(struct cfs_crypto *c); /* accepts NULL, returns NULL */
CFS_DEFINE_FREEP(struct cfs_crypto, cfs_crypto_free)
enum cfs_encryption cfs_crypto_mode(const struct cfs_crypto *c);

/* Blob id of plaintext. */
int cfs_crypto_blob_id(struct cfs_crypto *c, const void *p, size_t n, struct cfs_id *ret);
/* Bytes that sealing adds: CFS_AEAD_OVERHEAD, or 0 in CFS_ENC_NONE mode. */
size_t cfs_crypto_overhead(const struct cfs_crypto *c);
/* Append the sealed form of p to out. */
int cfs_crypto_seal(struct cfs_crypto *c, const void *p, size_t n, const void *aad, size_t aad_len,
		    struct cfs_buf *out);
/* Open sealed bytes into out (appended). -EBADMSG on tag mismatch or input
 * shorter than the overhead. */
int cfs_crypto_open(struct cfs_crypto *c, const void *p, size_t n, const void *aad, size_t aad_len,
		    struct cfs_buf *out);

/*
 * Open sealed bytes in place (no second buffer): on success *ret_plain
 * points into p at the plaintext (ret_len bytes). On failure the bytes are
 * wiped and -EBADMSG returned, as for cfs_crypto_open().
 */
int cfs_crypto_open_inplace(struct cfs_crypto *c, void *p, size_t n, const void *aad, size_t aad_len,
			    uint8_t **ret_plain, size_t *ret_len);

/* Unkeyed helpers. */
int cfs_random_bytes(void *p, size_t n);
int cfs_sha256(const void *p, size_t n, uint8_t out[32]);
/* SHA-256 of bytes that arrive in pieces; final() starts the next digest. */
struct cfs_sha256_ctx;
int cfs_sha256_new(struct cfs_sha256_ctx **ret);
struct cfs_sha256_ctx *cfs_sha256_free(struct cfs_sha256_ctx *h);
int cfs_sha256_update(struct cfs_sha256_ctx *h, const void *p, size_t n);
int cfs_sha256_final(struct cfs_sha256_ctx *h, uint8_t out[32]);

static inline void cfs_id_hex(const struct cfs_id *id, char out[CFS_ID_HEX_SIZE])
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < CFS_ID_SIZE; i++) {
		out[2 * i] = d[id->b[i] >> 4];
		out[2 * i + 1] = d[id->b[i] & 15];
	}
	out[2 * CFS_ID_SIZE] = 0;
}
