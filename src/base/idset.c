/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "chronofs/idset.h"

static const uint8_t zero[CFS_IDSET_KEY_SIZE];

static size_t slot_of(const void *id, size_t cap)
{
	return (size_t)(cfs_get_le64(id) & (cap - 1));
}

static bool is_zero(const void *id)
{
	return memcmp(id, zero, CFS_IDSET_KEY_SIZE) == 0;
}

bool cfs_idset_contains(const struct cfs_idset *s, const void *id)
{
	if (is_zero(id))
		return s->has_zero;
	if (!s->cap)
		return false;
	for (size_t i = slot_of(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (is_zero(s->slots[i]))
			return false;
		if (memcmp(s->slots[i], id, CFS_IDSET_KEY_SIZE) == 0)
			return true;
	}
}

static int rehash(struct cfs_idset *s, size_t ncap)
{
	uint8_t(*ns)[CFS_IDSET_KEY_SIZE] = calloc(ncap, CFS_IDSET_KEY_SIZE);
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (is_zero(s->slots[i]))
			continue;
		size_t j = slot_of(s->slots[i], ncap);
		while (!is_zero(ns[j]))
			j = (j + 1) & (ncap - 1);
		memcpy(ns[j], s->slots[i], CFS_IDSET_KEY_SIZE);
	}
	free(s->slots);
	s->slots = ns;
	s->cap = ncap;
	return 0;
}

static int grow(struct cfs_idset *s)
{
	return rehash(s, s->cap ? s->cap * 2 : 1024);
}

int cfs_idset_reserve(struct cfs_idset *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 1024;
	while (cap / 2 < n) {
		if (cap > SIZE_MAX / 2 / CFS_IDSET_KEY_SIZE)
			return -ENOMEM;
		cap *= 2;
	}
	return cap == s->cap ? 0 : rehash(s, cap);
}

int cfs_idset_foreach(const struct cfs_idset *s, int (*cb)(const void *id, void *ud), void *ud)
{
	int e = s->has_zero ? cb(zero, ud) : 0;
	for (size_t i = 0; i < s->cap && e >= 0; i++)
		if (!is_zero(s->slots[i]))
			e = cb(s->slots[i], ud);
	return e < 0 ? e : 0;
}

int cfs_idset_add(struct cfs_idset *s, const void *id)
{
	if (is_zero(id)) {
		bool had = s->has_zero;
		s->has_zero = true;
		return had ? 0 : 1;
	}
	if ((s->n + 1) * 2 > s->cap) {
		int r = grow(s);
		if (r < 0)
			return r;
	}
	size_t i = slot_of(id, s->cap);
	while (!is_zero(s->slots[i])) {
		if (memcmp(s->slots[i], id, CFS_IDSET_KEY_SIZE) == 0)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	memcpy(s->slots[i], id, CFS_IDSET_KEY_SIZE);
	s->n++;
	return 1;
}

int cfs_idset_remove(struct cfs_idset *s, const void *id)
{
	if (is_zero(id)) {
		bool had = s->has_zero;
		s->has_zero = false;
		return had ? 1 : 0;
	}
	if (!s->cap)
		return 0;
	size_t i = slot_of(id, s->cap), mask = s->cap - 1;
	while (memcmp(s->slots[i], id, CFS_IDSET_KEY_SIZE) != 0) {
		if (is_zero(s->slots[i]))
			return 0;
		i = (i + 1) & mask;
	}
	/* Backward-shift deletion: move later members of the probe run into
	 * the hole when their home slot does not lie between hole and them. */
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (is_zero(s->slots[j]))
			break;
		size_t home = slot_of(s->slots[j], s->cap);
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		memcpy(s->slots[i], s->slots[j], CFS_IDSET_KEY_SIZE);
		i = j;
	}
	memset(s->slots[i], 0, CFS_IDSET_KEY_SIZE);
	s->n--;
	return 1;
}

size_t cfs_idset_count(const struct cfs_idset *s)
{
	return s->n + (s->has_zero ? 1 : 0);
}

void cfs_idset_clear(struct cfs_idset *s)
{
	if (s->slots)
		memset(s->slots, 0, s->cap * CFS_IDSET_KEY_SIZE);
	s->n = 0;
	s->has_zero = false;
}

void cfs_idset_release(struct cfs_idset *s)
{
	free(s->slots);
	*s = (struct cfs_idset)CFS_IDSET_INIT;
}
