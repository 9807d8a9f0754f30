/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the id set (idset.h): add, contains and remove against a
 * plain array model, with ids forced into long probe runs and wrap-around.
 */
#include <criterion/criterion.h>
#include <errno.h>
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

/* foreach visits each member once, the zero id too, and stops at an error. */
struct visit {
	size_t n, zeros, stop_at;
	uint8_t seen[NIDS];
};

static int visit_cb(const void *id, void *ud)
{
	struct visit *v = ud;
	const uint8_t *b = id;
	if (v->stop_at && v->n + v->zeros == v->stop_at)
		return -ECANCELED;
	if (b[31] == 0) {
		v->zeros++;
		return 0;
	}
	uint32_t uniq;
	memcpy(&uniq, b + 8, sizeof(uniq));
	cr_assert_lt(uniq, NIDS);
	v->seen[uniq]++;
	v->n++;
	return 0;
}

/* reserve makes room without changing the members, and adds up to the
 * reserved count never grow the table (no second table in memory). */
Test(idset, reserve_and_foreach)
{
	static struct visit v;
	uint8_t id[CFS_IDSET_KEY_SIZE], zero[CFS_IDSET_KEY_SIZE] = {0};
	struct cfs_idset s = CFS_IDSET_INIT;
	for (uint32_t i = 0; i < 10; i++) {
		make_id(id, i * 7, i);
		cr_assert_eq(cfs_idset_add(&s, id), 1);
	}
	cr_assert_eq(cfs_idset_reserve(&s, NIDS), 0);
	size_t cap = s.cap;
	cr_assert_geq(cap / 2, NIDS);
	for (uint32_t i = 0; i < 10; i++) {
		make_id(id, i * 7, i);
		cr_assert(cfs_idset_contains(&s, id), "member %u lost by reserve", i);
	}
	for (uint32_t i = 10; i < NIDS; i++) {
		make_id(id, (uint64_t)i * 0x9e3779b97f4a7c15ull, i);
		cr_assert_eq(cfs_idset_add(&s, id), 1);
	}
	cr_assert_eq(s.cap, cap, "the table grew within the reserved count");
	cr_assert_eq(cfs_idset_reserve(&s, 10), 0);
	cr_assert_eq(s.cap, cap, "reserve shrank the table");
	cr_assert_eq(cfs_idset_add(&s, zero), 1);

	memset(&v, 0, sizeof(v));
	cr_assert_eq(cfs_idset_foreach(&s, visit_cb, &v), 0);
	cr_assert_eq(v.n, NIDS);
	cr_assert_eq(v.zeros, 1);
	for (size_t i = 0; i < NIDS; i++)
		cr_assert_eq(v.seen[i], 1, "id %zu visited %u times", i, v.seen[i]);

	memset(&v, 0, sizeof(v));
	v.stop_at = 100;
	cr_assert_eq(cfs_idset_foreach(&s, visit_cb, &v), -ECANCELED);
	cr_assert_eq(v.n + v.zeros, 100);
	cfs_idset_release(&s);
}
