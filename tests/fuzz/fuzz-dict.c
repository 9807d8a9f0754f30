/* SPDX-License-Identifier: MIT */
/*
 * fuzz-dict.c — cfs_zdict_object_decode() on arbitrary dictionary object
 * plaintexts, then the digestion the repository does next (cfs_zdict_new,
 * for decompression only, as a reader loads it).
 *
 * Invariants checked beyond "no crash, no leak":
 *  - only the documented errors;
 *  - an accepted object borrows its dictionary from the input, right after
 *    the 20 fixed bytes, with a length in range, and re-encodes to exactly
 *    the input bytes;
 *  - a dictionary zstd digests has the object's number.
 */
#include <string.h>

#include "chronofs/compress.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct cfs_zdict *zd = NULL;
	struct cfs_zdict_object o;
	int r;

	r = cfs_zdict_object_decode(data, size, &o);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT);
	if (r < 0)
		return 0;

	FUZZ_CHECK(o.number != 0);
	FUZZ_CHECK(o.dict == data + CFS_ZDICT_OBJECT_FIXED);
	FUZZ_CHECK(o.len >= 1 && o.len <= CFS_ZDICT_MAX_SIZE && o.len == size - CFS_ZDICT_OBJECT_FIXED);
	FUZZ_CHECK(cfs_zdict_object_encode(o.dict, o.len, &out) == 0);
	FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);

	r = cfs_zdict_new(o.dict, o.len, 0, &zd);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	if (r == 0)
		FUZZ_CHECK(cfs_zdict_number(zd) == o.number);
	cfs_zdict_free(zd);
	return 0;
}
