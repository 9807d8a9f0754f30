/* SPDX-License-Identifier: MIT */
/*
 * fuzz-keyfile.c — the key file parser and unwrap on arbitrary bytes,
 * passphrase "x", without spending the run in scrypt.
 *
 * cfs_keyfile_open() is parse -> derive the KEK (scrypt, deliberately slow)
 * -> unwrap (crypto-internal.h). Every input goes through parse; one that
 * parses is unwrapped under a KEK that is derived for real only for the
 * first REAL_KEKS distinct headers of the cheapest cost met (the seeds are
 * sealed at it), cached by header: ~1 ms each, and room for every seed
 * however many other cheap headers a replay meets first. Any other header
 * gets a fixed wrong KEK: the real one would fail just the same, since the
 * header is the seal's AAD and no sealed keys were ever made for it. The
 * KDF's bound on untrusted costs is the parser's job (parse refuses log2n >
 * 22, r or p > 32, too much memory) and is covered here; its timing is the
 * unit tests'.
 *
 * Invariants: only the documented errors; unwrap under a wrong KEK is
 * -EACCES; a successful unwrap reports CFS_ENC_AES256GCM and the same keys
 * as cfs_keyfile_open().
 */
#include <string.h>

#include "crypto/crypto-internal.h"
#include "fuzz.h"

#define HEADER_SIZE 48
#define REAL_KEKS 64

static struct {
	uint8_t header[HEADER_SIZE];
	uint8_t kek[CFS_KEY_SIZE];
} real[REAL_KEKS];
static size_t nreal;

/* The real KEK for this header if it is (or can still be) one of the few
 * derived for real; NULL otherwise. */
static const uint8_t *real_kek(const uint8_t *data, const struct cfs_keyfile_header *h)
{
	for (size_t i = 0; i < nreal; i++)
		if (memcmp(real[i].header, data, HEADER_SIZE) == 0)
			return real[i].kek;
	if (nreal == REAL_KEKS || h->kdf.log2n != 10 || h->kdf.r != 1 || h->kdf.p != 1)
		return NULL;
	if (cfs_keyfile_derive_kek(h, "x", 1, real[nreal].kek) < 0)
		abort();
	memcpy(real[nreal].header, data, HEADER_SIZE);
	return real[nreal++].kek;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t wrong[CFS_KEY_SIZE] = {0x5a};
	struct cfs_keyfile_header h;
	struct cfs_keys k, k2;
	int r;

	r = cfs_keyfile_parse(data, size, &h);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT);
	if (r < 0)
		return 0;
	FUZZ_CHECK(size >= HEADER_SIZE && h.salt == data + 16);
	FUZZ_CHECK(h.kdf.log2n >= 10 && h.kdf.log2n <= 22);

	const uint8_t *kek = real_kek(data, &h);
	memset(&k, 0xaa, sizeof(k));
	r = cfs_keyfile_unwrap(data, size, kek ? kek : wrong, &k);
	FUZZ_CHECK(r == 0 || r == -EACCES || r == -ENOMEM);
	if (!kek)
		FUZZ_CHECK(r == -EACCES || r == -ENOMEM);
	if (r == 0) {
		FUZZ_CHECK(k.mode == CFS_ENC_AES256GCM);
		FUZZ_CHECK(cfs_keyfile_open(data, size, "x", 1, &k2) == 0);
		FUZZ_CHECK(memcmp(&k, &k2, sizeof(k)) == 0);
		cfs_keys_wipe(&k2);
	}
	cfs_keys_wipe(&k);
	return 0;
}
