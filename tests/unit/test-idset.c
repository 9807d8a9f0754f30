/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the id set (idset.h): add, contains and remove against a
 * plain array model, with ids forced into long probe runs and wrap-around.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "chronofs/idset.h"

#define NIDS 3000

/* An id whose home slot (first 8 bytes, little-endian) is `home`, made
 * unique by its other bytes. */
static void make_id(uint8_t *id, uint64_t home, uint32_t uniq)
{
	memset(id, 0, CFS_IDSET_KEY_SIZE);
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(home >> (8 * i));
	memcpy(id + 8, &uniq, sizeof(uniq));
	id[31] = 1;
}

Test(idset, add_contains_remove_model)
{
	static uint8_t ids[NIDS][CFS_IDSET_KEY_SIZE];
	static bool in[NIDS];
	struct cfs_idset s = CFS_IDSET_INIT;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	/* Few distinct homes, some at the top of the table: long runs that
	 * wrap around the end. */
	for (uint32_t i = 0; i < NIDS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		make_id(ids[i], (i % 3 == 0) ? ~0ull - (x % 4) : x % 64, i);
	}
	for (int round = 0; round < 20000; round++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t k = x % NIDS;
		if ((x >> 32) % 3) {
			int r = cfs_idset_add(&s, ids[k]);
			cr_assert_eq(r, in[k] ? 0 : 1, "add of id %zu returned %d", k, r);
			in[k] = true;
		} else {
			int r = cfs_idset_remove(&s, ids[k]);
			cr_assert_eq(r, in[k] ? 1 : 0, "remove of id %zu returned %d", k, r);
			in[k] = false;
		}
		if (round % 997 == 0) {
			size_t n = 0;
			for (size_t i = 0; i < NIDS; i++) {
				cr_assert_eq(cfs_idset_contains(&s, ids[i]), in[i], "id %zu after round %d", i, round);
				n += in[i];
			}
			cr_assert_eq(cfs_idset_count(&s), n);
		}
	}
	cfs_idset_release(&s);
}

Test(idset, zero_id)
{
	uint8_t z[CFS_IDSET_KEY_SIZE] = {0};
	struct cfs_idset s = CFS_IDSET_INIT;
	cr_assert_eq(cfs_idset_remove(&s, z), 0);
	cr_assert_eq(cfs_idset_add(&s, z), 1);
	cr_assert(cfs_idset_contains(&s, z));
	cr_assert_eq(cfs_idset_count(&s), 1);
	cr_assert_eq(cfs_idset_remove(&s, z), 1);
	cr_assert(!cfs_idset_contains(&s, z));
	cr_assert_eq(cfs_idset_count(&s), 0);
	cfs_idset_release(&s);
}
