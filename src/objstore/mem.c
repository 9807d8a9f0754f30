/* SPDX-License-Identifier: MIT */
/*
 * mem.c — an in-memory backend for tests: a sorted array of name -> bytes.
 *
 * Locking: one mutex (mem->lock) protects objs/n/cap and every object's
 * bytes; no other lock is taken while it is held, and list() calls the
 * user's callback only after dropping it. Copies in and out are made so no
 * caller ever holds a pointer into the store.
 */
#include <pthread.h>
#include <string.h>

#include "objstore/objstore-internal.h"

struct mem_obj {
	char *name;    /* owned */
	uint8_t *data; /* owned; NULL when len == 0 */
	size_t len;
};

struct mem {
	pthread_mutex_t lock;
	struct mem_obj *objs; /* owned, sorted by strcmp(name); protected by lock */
	size_t n, cap;        /* protected by lock */
};

/* Index of name, or of where it would be inserted; *found says which.
 * Caller holds m->lock. */
static size_t mem_find(const struct mem *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->objs[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int mem_put_common(struct mem *m, const char *name, const void *p, size_t n, bool noreplace)
{
	_cleanup_free_ char *nm = strdup(name);
	_cleanup_free_ uint8_t *data = NULL;
	bool found;
	size_t i;
	int r = 0;

	if (!nm)
		return -ENOMEM;
	if (n > 0) {
		data = malloc(n);
		if (!data)
			return -ENOMEM;
		memcpy(data, p, n);
	}

	pthread_mutex_lock(&m->lock);
	i = mem_find(m, name, &found);
	if (found) {
		if (noreplace) {
			r = -EEXIST;
		} else {
			free(m->objs[i].data);
			m->objs[i].data = TAKE_PTR(data);
			m->objs[i].len = n;
		}
		goto out;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mem_obj *v = reallocarray(m->objs, cap, sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		m->objs = v;
		m->cap = cap;
	}
	memmove(m->objs + i + 1, m->objs + i, (m->n - i) * sizeof(*m->objs));
	m->objs[i] = (struct mem_obj){TAKE_PTR(nm), TAKE_PTR(data), n};
	m->n++;
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int mem_put(void *impl, const char *name, const void *p, size_t n)
{
	return mem_put_common(impl, name, p, n, false);
}

static int mem_put_new(void *impl, const char *name, const void *p, size_t n)
{
	return mem_put_common(impl, name, p, n, true);
}

static int mem_get(void *impl, const char *name, struct cfs_buf *out)
{
	struct mem *m = impl;
	bool found;
	size_t i;
	int r = 0;

	cfs_buf_reset(out);
	pthread_mutex_lock(&m->lock);
	i = mem_find(m, name, &found);
	if (!found)
		r = -ENOENT;
	else
		r = cfs_buf_append(out, m->objs[i].data, m->objs[i].len);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int mem_get_range(void *impl, const char *name, uint64_t off, size_t n, void *out)
{
	struct mem *m = impl;
	bool found;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	i = mem_find(m, name, &found);
	if (!found)
		r = -ENOENT;
	else if (off > m->objs[i].len || n > m->objs[i].len - off)
		r = -ERANGE;
	else if (n > 0)
		memcpy(out, m->objs[i].data + off, n);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int mem_head(void *impl, const char *name, uint64_t *ret_size)
{
	struct mem *m = impl;
	bool found;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	i = mem_find(m, name, &found);
	if (!found)
		r = -ENOENT;
	else
		*ret_size = m->objs[i].len;
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Remove name; -ENOENT if absent. Caller holds m->lock. */
static int mem_remove_locked(struct mem *m, const char *name)
{
	bool found;
	size_t i = mem_find(m, name, &found);

	if (!found)
		return -ENOENT;
	free(m->objs[i].name);
	free(m->objs[i].data);
	memmove(m->objs + i, m->objs + i + 1, (m->n - i - 1) * sizeof(*m->objs));
	m->n--;
	return 0;
}

static int mem_delete(void *impl, const char *name)
{
	struct mem *m = impl;

	pthread_mutex_lock(&m->lock);
	int r = mem_remove_locked(m, name);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* All under one hold of the lock: nothing else sees half a batch, which is
 * more than the contract asks and costs nothing here. */
static int mem_delete_many(void *impl, const char *const *names, size_t n, int *errs)
{
	struct mem *m = impl;

	pthread_mutex_lock(&m->lock);
	for (size_t k = 0; k < n; k++) {
		(void)mem_remove_locked(m, names[k]); /* absent: deleted */
		errs[k] = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

struct mem_listing {
	char **names;    /* owned, each owned */
	uint64_t *sizes; /* owned */
	size_t n;
};

static void mem_listing_release(struct mem_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->sizes);
}

/* Names are sorted, so the matches form one run starting at prefix's
 * insertion point. Copy it under the lock, then call back without it. */
static int mem_list(void *impl, const char *prefix, cfs_objstore_list_cb cb, void *userdata)
{
	struct mem *m = impl;
	struct mem_listing l = {0};
	size_t plen = strlen(prefix), first, end;
	bool found;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	first = mem_find(m, prefix, &found);
	for (end = first; end < m->n && strncmp(m->objs[end].name, prefix, plen) == 0; end++)
		;
	if (end > first) {
		l.names = calloc(end - first, sizeof(*l.names));
		l.sizes = calloc(end - first, sizeof(*l.sizes));
		if (!l.names || !l.sizes)
			r = -ENOMEM;
		for (size_t i = first; r == 0 && i < end; i++) {
			l.names[l.n] = strdup(m->objs[i].name);
			if (!l.names[l.n]) {
				r = -ENOMEM;
				break;
			}
			l.sizes[l.n++] = m->objs[i].len;
		}
	}
	pthread_mutex_unlock(&m->lock);

	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = cb(l.names[i], l.sizes[i], userdata);
	mem_listing_release(&l);
	return r;
}

static void mem_free(void *impl)
{
	struct mem *m = impl;
	for (size_t i = 0; i < m->n; i++) {
		free(m->objs[i].name);
		free(m->objs[i].data);
	}
	free(m->objs);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct cfs_objstore_ops mem_ops = {
	.put = mem_put,
	.put_new = mem_put_new,
	.get = mem_get,
	.get_range = mem_get_range,
	.head = mem_head,
	.list = mem_list,
	.delete = mem_delete,
	.delete_many = mem_delete_many,
	.free = mem_free,
};

int cfs_objstore_mem_new(struct cfs_objstore **ret)
{
	struct mem *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = pthread_mutex_init(&m->lock, NULL);
	if (r != 0) {
		free(m);
		return -r;
	}
	r = cfs_objstore_new_internal(&mem_ops, m, "mem:", ret);
	if (r < 0)
		mem_free(m);
	return r;
}
