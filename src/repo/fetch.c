/* SPDX-License-Identifier: MIT */
/*
 * fetch.c — tree objects read on a few threads ahead of one consumer
 * (prune's marking): the consumer submits ids and takes back decoded
 * trees in whatever order they are ready, while it works on the last one.
 * Reading a tree is a catalog look-up, a read from its pack (a disk read
 * on a cold cache, a request to S3), decryption and decoding: one at a
 * time, the marking thread waited for each (the bench's forget 20: 27,444
 * trees, 2.7 s of a 8.7 s prune).
 *
 * Memory: the trees submitted and not taken back, bounded by the caller
 * (prune keeps FETCH_WINDOW in flight), and each thread's reader scratch.
 * Should no thread start, trees are read on the consumer's thread, in
 * cfs_repo_fetch_next(): slower, never wrong.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

struct fetch_item {
	struct cfs_id id;
	struct cfs_tree tree;
	uint64_t weight; /* its stored size, counted in reserved while held */
	int err;
	struct fetch_item *next;
};

struct cfs_repo_fetch {
	struct cfs_repo *r; /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t work; /* todo not empty, or stop */
	pthread_cond_t done; /* ready not empty */
	pthread_cond_t room; /* reserved went down */
	struct fetch_item *todo, *todo_tail; /* FIFO: submitted, not read */
	struct fetch_item *ready;            /* read, not taken */
	size_t in_flight;                    /* submitted, not taken */
	uint64_t reserved;                   /* weights of the trees being read and ready */
	bool stop;
	unsigned n_threads;
	pthread_t threads[CFS_REPO_FETCH_THREADS_MAX];
	struct cfs_repo_reader *readers[CFS_REPO_FETCH_THREADS_MAX + 1]; /* owned; the last for the consumer */
};

struct fetch_thread {
	struct cfs_repo_fetch *f;
	struct cfs_repo_reader *rd;
};

/* Trees are small: a reader keeps this much scratch between them. */
#define FETCH_SCRATCH (1u << 20)
/* Stored bytes of the trees being read or ready at once (decoded, a few
 * times that): a tree larger than that alone is read when nothing else is
 * held. A directory's fragment is 8 MiB encoded at most. */
#define FETCH_RESERVE_MAX (16u << 20)

/* Read it->id: its location, room for it (when wait), its bytes, decoded.
 * Called unlocked; takes the lock to reserve. */
static void read_item(struct cfs_repo_fetch *f, struct cfs_repo_reader *rd, struct fetch_item *it, bool wait)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	struct cfs_blob_loc loc;
	it->err = cfs_catalog_blob_get(f->r->catalog, &it->id, &loc);
	if (it->err < 0)
		return;
	pthread_mutex_lock(&f->lock);
	while (wait && !f->stop && f->reserved && f->reserved + loc.stored_len > FETCH_RESERVE_MAX)
		pthread_cond_wait(&f->room, &f->lock);
	if (f->stop) {
		pthread_mutex_unlock(&f->lock);
		it->err = -ECANCELED; /* nobody takes it */
		return;
	}
	it->weight = loc.stored_len;
	f->reserved += it->weight;
	pthread_mutex_unlock(&f->lock);
	it->err = cfs_repo_reader_get_blob_at(rd, &it->id, &loc, &b);
	if (it->err == 0)
		it->err = cfs_tree_decode(b.data, b.len, &it->tree);
}

static struct fetch_item *todo_pop_locked(struct cfs_repo_fetch *f)
{
	struct fetch_item *it = f->todo;
	if (it) {
		f->todo = it->next;
		if (!f->todo)
			f->todo_tail = NULL;
		it->next = NULL;
	}
	return it;
}

static void *fetch_main(void *arg)
{
	struct cfs_repo_fetch *f = ((struct fetch_thread *)arg)->f;
	struct cfs_repo_reader *rd = ((struct fetch_thread *)arg)->rd;
	free(arg);
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->stop && !f->todo)
			pthread_cond_wait(&f->work, &f->lock);
		if (f->stop)
			break;
		struct fetch_item *it = todo_pop_locked(f);
		pthread_mutex_unlock(&f->lock);
		read_item(f, rd, it, true);
		pthread_mutex_lock(&f->lock);
		it->next = f->ready;
		f->ready = it;
		pthread_cond_signal(&f->done);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int cfs_repo_fetch_new(struct cfs_repo *r, unsigned threads, struct cfs_repo_fetch **ret)
{
	struct cfs_repo_fetch *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->r = r;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->work, NULL);
	pthread_cond_init(&f->done, NULL);
	pthread_cond_init(&f->room, NULL);
	threads = CFS_MIN(threads, (unsigned)CFS_REPO_FETCH_THREADS_MAX);
	int e = cfs_repo_reader_new(r, &f->readers[CFS_REPO_FETCH_THREADS_MAX]);
	for (unsigned i = 0; i < threads && e == 0; i++) {
		struct fetch_thread *t = malloc(sizeof(*t));
		e = t ? cfs_repo_reader_new(r, &f->readers[i]) : -ENOMEM;
		if (e < 0) {
			free(t);
			break;
		}
		cfs_repo_reader_set_scratch_limit(f->readers[i], FETCH_SCRATCH);
		*t = (struct fetch_thread){f, f->readers[i]};
		int pe = pthread_create(&f->threads[f->n_threads], NULL, fetch_main, t);
		if (pe != 0) {
			/* Fewer threads (none: the consumer reads): slower only. */
			log_debug_errno(-pe, "Cannot start a tree reader thread for %s: %m (%u of %u run)",
					cfs_objstore_location(r->store), f->n_threads, threads);
			free(t);
			break;
		}
		f->n_threads++;
	}
	if (e < 0) {
		cfs_repo_fetch_free(f);
		return e;
	}
	cfs_repo_reader_set_scratch_limit(f->readers[CFS_REPO_FETCH_THREADS_MAX], FETCH_SCRATCH);
	*ret = f;
	return 0;
}

static void items_free(struct fetch_item *it)
{
	while (it) {
		struct fetch_item *next = it->next;
		cfs_tree_release(&it->tree);
		free(it);
		it = next;
	}
}

struct cfs_repo_fetch *cfs_repo_fetch_free(struct cfs_repo_fetch *f)
{
	if (!f)
		return NULL;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->work);
	pthread_cond_broadcast(&f->room);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->n_threads; i++)
		pthread_join(f->threads[i], NULL);
	items_free(f->todo);
	items_free(f->ready);
	for (size_t i = 0; i < ARRAY_SIZE(f->readers); i++)
		cfs_repo_reader_free(f->readers[i]);
	pthread_cond_destroy(&f->room);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->work);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return NULL;
}

int cfs_repo_fetch_submit(struct cfs_repo_fetch *f, const struct cfs_id *id)
{
	struct fetch_item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->id = *id;
	it->tree = (struct cfs_tree)CFS_TREE_INIT;
	pthread_mutex_lock(&f->lock);
	if (f->todo_tail)
		f->todo_tail->next = it;
	else
		f->todo = it;
	f->todo_tail = it;
	f->in_flight++;
	pthread_cond_signal(&f->work);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

size_t cfs_repo_fetch_in_flight(const struct cfs_repo_fetch *f)
{
	return f->in_flight; /* written by the consumer's thread only */
}

int cfs_repo_fetch_next(struct cfs_repo_fetch *f, struct cfs_id *ret_id, struct cfs_tree *ret_tree)
{
	struct fetch_item *it = NULL;
	pthread_mutex_lock(&f->lock);
	if (f->in_flight == 0) {
		pthread_mutex_unlock(&f->lock);
		return -EINVAL;
	}
	if (f->n_threads == 0)
		it = todo_pop_locked(f);
	while (!it && !f->ready)
		pthread_cond_wait(&f->done, &f->lock);
	if (!it) {
		it = f->ready;
		f->ready = it->next;
	}
	pthread_mutex_unlock(&f->lock);
	if (f->n_threads == 0)
		read_item(f, f->readers[CFS_REPO_FETCH_THREADS_MAX], it, false);
	pthread_mutex_lock(&f->lock);
	f->in_flight--;
	f->reserved -= it->weight;
	pthread_cond_broadcast(&f->room);
	pthread_mutex_unlock(&f->lock);
	int e = it->err;
	*ret_id = it->id;
	*ret_tree = it->tree;
	if (e < 0)
		cfs_tree_release(ret_tree);
	free(it);
	return e;
}
