/* SPDX-License-Identifier: MIT */
/*
 * A hash table of entries (chained, keyed by the id's first 8 bytes: ids are
 * hashes) plus an LRU list of resident, loaded entries.
 *
 * Entry states: LOADING (in the table, not in the LRU, waiters sleep on
 * c->loaded), READY (in the table and the LRU), and detached (evicted or
 * failed: out of both, freed when its last reference goes).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/cache.h"
#include "chronofs/lru.h"

#define ID_SIZE 32

struct cfs_cache_entry {
	uint8_t id[ID_SIZE];
	void *obj;    /* owned, NULL while loading */
	size_t cost;
	unsigned refs;
	bool loading, failed, in_table;
	int error;
	struct cfs_cache_entry *hnext;       /* hash chain */
	struct cfs_lru_link lru;             /* in the cache's lru while READY */
};

struct cfs_cache {
	pthread_mutex_t lock;
	pthread_cond_t loaded; /* broadcast when any load finishes */
	cfs_cache_free_fn free_fn;
	struct cfs_cache_entry **buckets; /* protected by lock */
	size_t n_buckets, n_entries;
	struct cfs_lru lru;                  /* READY entries, most recent at head */
	size_t bytes, budget;
	uint64_t hits, misses, evictions;
};

static size_t bucket_of(const struct cfs_cache *c, const void *id)
{
	return (size_t)(cfs_get_le64(id) % c->n_buckets);
}

int cfs_cache_new(size_t budget_bytes, cfs_cache_free_fn free_fn, struct cfs_cache **ret)
{
	struct cfs_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_buckets = 4093;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->loaded, NULL);
	c->free_fn = free_fn;
	c->budget = budget_bytes;
	*ret = c;
	return 0;
}

static void entry_destroy(struct cfs_cache *c, struct cfs_cache_entry *e)
{
	if (e->obj && c->free_fn)
		c->free_fn(e->obj);
	free(e);
}

struct cfs_cache *cfs_cache_free(struct cfs_cache *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct cfs_cache_entry *e = c->buckets[i];
		while (e) {
			struct cfs_cache_entry *n = e->hnext;
			entry_destroy(c, e);
			e = n;
		}
	}
	free(c->buckets);
	pthread_cond_destroy(&c->loaded);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

static struct cfs_cache_entry *find(struct cfs_cache *c, const void *id)
{
	for (struct cfs_cache_entry *e = c->buckets[bucket_of(c, id)]; e; e = e->hnext)
		if (memcmp(e->id, id, ID_SIZE) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct cfs_cache *c, struct cfs_cache_entry *e)
{
	cfs_lru_unlink(&c->lru, &e->lru);
}

static void lru_push_head(struct cfs_cache *c, struct cfs_cache_entry *e)
{
	cfs_lru_push_head(&c->lru, &e->lru);
}

static void table_remove(struct cfs_cache *c, struct cfs_cache_entry *e)
{
	struct cfs_cache_entry **pp = &c->buckets[bucket_of(c, e->id)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
	e->in_table = false;
	c->n_entries--;
}

/* Evict from the LRU tail until within budget. Called with the lock held. */
static void shrink(struct cfs_cache *c)
{
	while (c->bytes > c->budget && c->lru.tail) {
		struct cfs_cache_entry *e = cfs_container_of(c->lru.tail, struct cfs_cache_entry, lru);
		lru_unlink(c, e);
		table_remove(c, e);
		c->bytes -= e->cost;
		c->evictions++;
		if (e->refs == 0)
			entry_destroy(c, e);
	}
}

static int get(struct cfs_cache *c, const void *id, cfs_cache_load_fn load, void *ud,
	       struct cfs_cache_entry **ret)
{
	struct cfs_cache_entry *e;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = find(c, id);
		if (!e)
			break;
		if (!e->loading) {
			/* Found in the table and loaded: it is in the LRU. */
			e->refs++;
			lru_unlink(c, e);
			lru_push_head(c, e);
			c->hits++;
			pthread_mutex_unlock(&c->lock);
			*ret = e;
			return 0;
		}
		if (!load) {
			pthread_mutex_unlock(&c->lock);
			return -ENOENT;
		}
		/* Someone is loading it: wait for the result. */
		e->refs++;
		while (e->loading)
			pthread_cond_wait(&c->loaded, &c->lock);
		if (!e->failed) {
			c->hits++;
			/* It may have been evicted right away (cost over budget). */
			if (e->in_table) {
				lru_unlink(c, e);
				lru_push_head(c, e);
			}
			pthread_mutex_unlock(&c->lock);
			*ret = e;
			return 0;
		}
		int err = e->error;
		if (--e->refs == 0 && !e->in_table)
			entry_destroy(c, e);
		pthread_mutex_unlock(&c->lock);
		return err;
	}
	if (!load) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	memcpy(e->id, id, ID_SIZE);
	e->loading = true;
	e->refs = 1;
	e->in_table = true;
	size_t b = bucket_of(c, id);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	c->n_entries++;
	c->misses++;
	pthread_mutex_unlock(&c->lock);

	void *obj = NULL;
	size_t cost = 0;
	int r = load(ud, id, &obj, &cost);

	pthread_mutex_lock(&c->lock);
	e->loading = false;
	if (r < 0) {
		e->failed = true;
		e->error = r;
		table_remove(c, e);
		pthread_cond_broadcast(&c->loaded);
		if (--e->refs == 0)
			entry_destroy(c, e);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	e->obj = obj;
	e->cost = cost + sizeof(*e);
	c->bytes += e->cost;
	lru_push_head(c, e);
	pthread_cond_broadcast(&c->loaded);
	shrink(c);
	pthread_mutex_unlock(&c->lock);
	*ret = e;
	return 0;
}

int cfs_cache_get(struct cfs_cache *c, const void *id, cfs_cache_load_fn load, void *userdata,
		  struct cfs_cache_entry **ret)
{
	if (!load)
		return -EINVAL;
	return get(c, id, load, userdata, ret);
}

int cfs_cache_peek(struct cfs_cache *c, const void *id, struct cfs_cache_entry **ret)
{
	return get(c, id, NULL, NULL, ret);
}

bool cfs_cache_has(struct cfs_cache *c, const void *id)
{
	pthread_mutex_lock(&c->lock);
	bool r = find(c, id) != NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void cfs_cache_put(struct cfs_cache *c, struct cfs_cache_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	if (--e->refs == 0 && !e->in_table)
		entry_destroy(c, e);
	pthread_mutex_unlock(&c->lock);
}

void *cfs_cache_entry_obj(const struct cfs_cache_entry *e) { return e->obj; }
size_t cfs_cache_entry_cost(const struct cfs_cache_entry *e) { return e->cost; }

void cfs_cache_stats(struct cfs_cache *c, struct cfs_cache_stats *ret)
{
	pthread_mutex_lock(&c->lock);
	*ret = (struct cfs_cache_stats){c->hits, c->misses, c->evictions, c->bytes, c->n_entries, c->budget};
	pthread_mutex_unlock(&c->lock);
}
