/* SPDX-License-Identifier: MIT */
/*
 * crypto-internal.h — the steps of cfs_keyfile_open(), exported for the
 * unit tests and the key file fuzz target only (other modules call
 * cfs_keyfile_open()): parsing is cheap and pure, the KDF is deliberately
 * expensive, so a fuzzer that exercises parse and unwrap without the KDF
 * covers every byte the file controls in a millionth of the time.
 */
#pragma once

#include "chronofs/crypto.h"

/* A key file's checked header; salt borrows from the parsed bytes. */
struct cfs_keyfile_header {
	struct cfs_kdf_params kdf;
	const uint8_t *salt; /* CFS_KEYFILE_SALT_SIZE bytes */
};
#define CFS_KEYFILE_SALT_SIZE 32

/* Step 1: magic and version first (-EPROTONOSUPPORT for a newer one), then
 * the size and KDF parameters (-EPROTO): every check that needs no key. */
int cfs_keyfile_parse(const void *p, size_t n, struct cfs_keyfile_header *ret);
/* Step 2: the KEK, scrypt(pass, salt) at the header's cost. */
int cfs_keyfile_derive_kek(const struct cfs_keyfile_header *h, const void *pass, size_t pass_len,
			   uint8_t kek[CFS_KEY_SIZE]);
/* Step 3: open the sealed keys of a key file that step 1 accepted under
 * kek: -EACCES if they do not authenticate (a wrong passphrase, or any
 * byte of the file changed), -EPROTO if the payload is not three keys. */
int cfs_keyfile_unwrap(const void *p, size_t n, const uint8_t kek[CFS_KEY_SIZE], struct cfs_keys *ret);
