/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/cache.h"

static int loads;
static pthread_mutex_t loads_lock = PTHREAD_MUTEX_INITIALIZER;

static void id_of(int n, uint8_t id[32])
{
	memset(id, 0, 32);
	/* ids are hashes: make the first bytes vary */
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)((n * 2654435761u) >> (i * 4));
	id[31] = (uint8_t)n;
	id[30] = (uint8_t)(n >> 8);
}

static int load_value(void *ud, const void *id, void **ret, size_t *cost)
{
	size_t size = (size_t)(uintptr_t)ud;
	pthread_mutex_lock(&loads_lock);
	loads++;
	pthread_mutex_unlock(&loads_lock);
	if (((const uint8_t *)id)[31] == 0xee)
		return -EBADMSG;
	usleep(20000); /* long enough for concurrent misses to pile up */
	char *p = malloc(size);
	memset(p, ((const uint8_t *)id)[31], size);
	*ret = p;
	*cost = size;
	return 0;
}

Test(cache, hit_miss_and_budget)
{
	struct cfs_cache *c;
	cr_assert_eq(cfs_cache_new(10000, free, &c), 0);
	uint8_t id[32];
	struct cfs_cache_entry *e;
	loads = 0;
	for (int i = 0; i < 20; i++) {
		id_of(i, id);
		cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)1000, &e), 0);
		cr_assert_eq(((char *)cfs_cache_entry_obj(e))[0], (char)i);
		cfs_cache_put(c, e);
	}
	struct cfs_cache_stats st;
	cfs_cache_stats(c, &st);
	cr_assert_leq(st.bytes, 10000, "over budget: %zu", st.bytes);
	cr_assert_gt(st.evictions, 0);
	/* The most recent is resident, the oldest evicted. */
	id_of(19, id);
	cr_assert_eq(cfs_cache_peek(c, id, &e), 0);
	cfs_cache_put(c, e);
	id_of(0, id);
	cr_assert_eq(cfs_cache_peek(c, id, &e), -ENOENT);
	cr_assert_eq(loads, 20);
	cfs_cache_free(c);
}

Test(cache, referenced_entry_survives_eviction)
{
	struct cfs_cache *c;
	cr_assert_eq(cfs_cache_new(3000, free, &c), 0);
	uint8_t id[32];
	struct cfs_cache_entry *held, *e;
	id_of(1, id);
	cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)1000, &held), 0);
	for (int i = 2; i < 10; i++) {
		id_of(i, id);
		cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)1000, &e), 0);
		cfs_cache_put(c, e);
	}
	/* Evicted but still readable (ASan would catch a use after free). */
	cr_assert_eq(((char *)cfs_cache_entry_obj(held))[999], 1);
	cfs_cache_put(c, held);
	cfs_cache_free(c);
}

Test(cache, failures_are_not_cached)
{
	struct cfs_cache *c;
	cr_assert_eq(cfs_cache_new(100000, free, &c), 0);
	uint8_t id[32];
	struct cfs_cache_entry *e;
	id_of(0xee, id);
	loads = 0;
	cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)10, &e), -EBADMSG);
	cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)10, &e), -EBADMSG);
	cr_assert_eq(loads, 2);
	cfs_cache_free(c);
}

struct worker_arg {
	struct cfs_cache *c;
	int ok;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	uint8_t id[32];
	id_of(7, id);
	struct cfs_cache_entry *e;
	if (cfs_cache_get(a->c, id, load_value, (void *)(uintptr_t)500, &e) == 0) {
		a->ok = ((char *)cfs_cache_entry_obj(e))[499] == 7;
		cfs_cache_put(a->c, e);
	}
	return NULL;
}

Test(cache, concurrent_misses_load_once)
{
	struct cfs_cache *c;
	cr_assert_eq(cfs_cache_new(100000, free, &c), 0);
	pthread_t t[8];
	struct worker_arg a[8];
	loads = 0;
	for (int i = 0; i < 8; i++) {
		a[i] = (struct worker_arg){c, 0};
		pthread_create(&t[i], NULL, worker, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		cr_assert(a[i].ok);
	}
	cr_assert_eq(loads, 1, "8 concurrent misses loaded %d times", loads);
	cfs_cache_free(c);
}

Test(cache, oversized_entry_is_served_then_dropped)
{
	struct cfs_cache *c;
	cr_assert_eq(cfs_cache_new(100, free, &c), 0);
	uint8_t id[32];
	struct cfs_cache_entry *e;
	id_of(3, id);
	cr_assert_eq(cfs_cache_get(c, id, load_value, (void *)(uintptr_t)5000, &e), 0);
	cr_assert_eq(((char *)cfs_cache_entry_obj(e))[4999], 3);
	cfs_cache_put(c, e);
	struct cfs_cache_stats st;
	cfs_cache_stats(c, &st);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.entries, 0);
	cfs_cache_free(c);
}
