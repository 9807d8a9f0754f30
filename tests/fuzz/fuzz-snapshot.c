/* SPDX-License-Identifier: MIT */
/*
 * fuzz-snapshot.c — cfs_snapshot_decode() on arbitrary bytes.
 *
 * Invariants checked beyond "no crash, no leak":
 *  - a failed decode leaves *ret zeroed (snapshot.h);
 *  - an accepted manifest re-encodes to exactly the input bytes, except for
 *    the extension area: version 1 skips its contents and writes it empty,
 *    so the re-encoding must equal the input up to the extension length field
 *    followed by a zero length;
 *  - a deep copy encodes to the same bytes as the original.
 */
#include <string.h>

#include "chronofs/snapshot.h"
#include "fuzz.h"

/* The re-encoding ends with an empty extension (a zero u32 length). All
 * before it must equal the input, which must continue with an extension
 * length that covers exactly the rest of the input. */
static void check_round_trip(const uint8_t *data, size_t size, const struct cfs_buf *out)
{
	FUZZ_CHECK(out->len >= 4 && out->len <= size);
	size_t prefix = out->len - 4;
	FUZZ_CHECK(memcmp(out->data, data, prefix) == 0);
	FUZZ_CHECK(cfs_get_le32(out->data + prefix) == 0);
	/* The input's extension: its length field, then exactly that many bytes. */
	FUZZ_CHECK(cfs_get_le32(data + prefix) == size - prefix - 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfs_snapshot s, copy;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf out2 = CFS_BUF_INIT;
	int r;

	r = cfs_snapshot_decode(data, size, &s);
	if (r < 0) {
		FUZZ_CHECK(r == -EPROTO || r == -EPROTONOSUPPORT || r == -ENOMEM);
		FUZZ_CHECK(!s.host && !s.tier && !s.paths && !s.tags);
		FUZZ_CHECK(s.n_paths == 0 && s.n_tags == 0 && s.name[0] == 0);
		return 0;
	}

	FUZZ_CHECK(s.host && s.tier);
	FUZZ_CHECK(s.n_paths == 0 || s.paths);
	FUZZ_CHECK(s.n_tags == 0 || s.tags);
	FUZZ_CHECK(strcmp(cfs_snapshot_type_name(s.type), "unknown") != 0);

	r = cfs_snapshot_encode(&s, &out);
	FUZZ_CHECK(r == 0);
	check_round_trip(data, size, &out);

	r = cfs_snapshot_copy(&s, &copy);
	if (r == 0) {
		FUZZ_CHECK(cfs_snapshot_encode(&copy, &out2) == 0);
		FUZZ_CHECK(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);
		cfs_snapshot_release(&copy);
	} else {
		FUZZ_CHECK(r == -ENOMEM);
	}

	cfs_snapshot_release(&s);
	return 0;
}
