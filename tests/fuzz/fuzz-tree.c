/* SPDX-License-Identifier: MIT */
/*
 * fuzz-tree.c — cfs_tree_decode() on arbitrary bytes.
 *
 * Invariants checked beyond "no crash, no leak":
 *  - a failed decode leaves *ret empty (tree.h);
 *  - an accepted tree re-encodes to exactly the input bytes (the encoding is
 *    canonical: one tree, one id);
 *  - every entry is found at its own index and the node count matches.
 */
#include <string.h>

#include "chronofs/tree.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfs_tree t;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	int r;

	r = cfs_tree_decode(data, size, &t);
	if (r < 0) {
		FUZZ_CHECK(r == -EPROTO || r == -ENOMEM);
		FUZZ_CHECK(t.n == 0 && t.entries == NULL);
		return 0;
	}

	FUZZ_CHECK(size >= 20);
	FUZZ_CHECK(cfs_tree_node_count(&t) == cfs_get_le64(data + 12));
	for (size_t i = 0; i < t.n; i++) {
		const struct cfs_tree_entry *e = &t.entries[i];
		FUZZ_CHECK(e->name[e->name_len] == 0);
		FUZZ_CHECK(cfs_tree_find(&t, e->name, e->name_len) == (int)i);
	}

	r = cfs_tree_encode(&t, &out);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(out.len == size);
	FUZZ_CHECK(memcmp(out.data, data, size) == 0);

	cfs_tree_release(&t);
	return 0;
}
