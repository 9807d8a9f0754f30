/* SPDX-License-Identifier: MIT */
/*
 * fuzz-keyfile.c — cfs_keyfile_open() on arbitrary key files, passphrase "x".
 *
 * The scrypt cost comes from the (untrusted) file and the library accepts up
 * to log2n 22, r and p 32: legitimately seconds and gigabytes per call. That
 * bound is the parser's job and is checked by the unit tests; here inputs
 * whose cost would exceed 2^14 block mixes (N * r * p) are skipped, so the
 * fuzzer spends its time on the parsing around the KDF rather than in it.
 * The seeds are sealed at the cheapest cost (log2n 10, r 1, p 1).
 *
 * Invariants: only the documented errors, and a successful open reports
 * CFS_ENC_AES256GCM.
 */
#include <string.h>

#include "chronofs/crypto.h"
#include "fuzz.h"

#define KEYFILE_COST_MAX (1u << 14)
/* Header, AEAD overhead, three keys: the only size that reaches the KDF. */
#define KEYFILE_SIZE (48 + CFS_AEAD_OVERHEAD + 3 * CFS_KEY_SIZE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfs_keys k;
	int r;

	/* Bytes 13..15 are log2n, r, p (crypto.h). Only a file of the right
	 * size reaches the KDF, and log2n above 22 must be refused before it:
	 * if it is not, the run times out, which is a finding too. */
	if (size == KEYFILE_SIZE && data[13] <= 22 &&
	    ((uint64_t)1 << data[13]) * data[14] * data[15] > KEYFILE_COST_MAX)
		return 0;

	memset(&k, 0xaa, sizeof(k));
	r = cfs_keyfile_open(data, size, "x", 1, &k);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT || r == -EACCES || r == -ENOMEM);
	if (r == 0)
		FUZZ_CHECK(k.mode == CFS_ENC_AES256GCM);
	cfs_keys_wipe(&k);
	return 0;
}
