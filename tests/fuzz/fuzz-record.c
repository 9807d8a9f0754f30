/* SPDX-License-Identifier: MIT */
/*
 * fuzz-record.c — the decoders of deletion records (gc/ objects) and hold
 * objects (holds/) on arbitrary plaintexts (the sealing is the
 * repository's and is not fuzzed here).
 *
 * Invariants beyond "no crash, no leak":
 *  - only the documented errors (-EPROTO, -EPROTONOSUPPORT, -ENOMEM);
 *  - an accepted record or hold re-encodes to exactly the input bytes
 *    (decode -> encode is the identity: the encoding is canonical);
 *  - an accepted record's kind is one of the four, and its strings hold
 *    no NUL (they are C strings as decoded).
 */
#include <errno.h>
#include <string.h>

#include "chronofs/buf.h"
#include "fuzz.h"
#include "repo/repo-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repo_record rec;
	struct cfs_repo_hold h;
	struct cfs_buf out = CFS_BUF_INIT;

	int r = cfs_repo_record_decode(data, size, &rec);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT || r == -ENOMEM);
	if (r == 0) {
		FUZZ_CHECK(rec.kind >= REPO_RECORD_FORGET && rec.kind <= REPO_RECORD_DONE);
		if (cfs_repo_record_encode(&rec, &out) == 0)
			FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
		cfs_repo_record_release(&rec);
	}
	r = cfs_repo_hold_decode(data, size, &h);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT || r == -ENOMEM);
	if (r == 0 && cfs_repo_hold_encode(&h, &out) == 0)
		FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
	cfs_buf_release(&out);
	return 0;
}
