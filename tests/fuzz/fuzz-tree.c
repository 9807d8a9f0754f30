/* SPDX-License-Identifier: MIT */
/*
 * fuzz-tree.c — cfs_tree_decode() on arbitrary bytes.
 *
 * Invariants checked beyond "no crash, no leak":
 *  - a failed decode leaves *ret empty (tree.h);
 *  - an accepted version 2 tree re-encodes to exactly the input bytes (the
 *    encoding is canonical: one tree, one id); a version 1 tree re-encodes
 *    to a version 2 tree that decodes to the same entries;
 *  - every entry is found at its own index, every fragment of an index at
 *    its own, and the node count matches.
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
		FUZZ_CHECK(t.n == 0 && t.entries == NULL && t.n_frags == 0 && t.frags == NULL);
		return 0;
	}

	bool v1 = data[7] == 1;
	FUZZ_CHECK(size >= (v1 ? 20u : 21u));
	FUZZ_CHECK(cfs_tree_node_count(&t) == cfs_get_le64(data + (v1 ? 12 : 13)));
	FUZZ_CHECK(t.n == 0 || t.n_frags == 0);
	for (size_t i = 0; i < t.n; i++) {
		const struct cfs_tree_entry *e = &t.entries[i];
		FUZZ_CHECK(e->name[e->name_len] == 0);
		FUZZ_CHECK(cfs_tree_find(&t, e->name, e->name_len) == (int)i);
		FUZZ_CHECK(!v1 || e->fsflags == 0);
	}
	for (size_t i = 0; i < t.n_frags; i++) {
		const struct cfs_tree_frag *f = &t.frags[i];
		FUZZ_CHECK(f->name[f->name_len] == 0);
		FUZZ_CHECK(cfs_tree_find_frag(&t, f->name, f->name_len) == (int)i);
	}

	r = cfs_tree_encode(&t, &out);
	FUZZ_CHECK(r == 0);
	if (v1) {
		struct cfs_tree u;
		FUZZ_CHECK(cfs_tree_decode(out.data, out.len, &u) == 0);
		FUZZ_CHECK(u.n == t.n && u.n_frags == 0);
		cfs_tree_release(&u);
	} else {
		FUZZ_CHECK(out.len == size);
		FUZZ_CHECK(memcmp(out.data, data, size) == 0);
	}

	cfs_tree_release(&t);
	return 0;
}
