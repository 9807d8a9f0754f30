/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <string.h>

#include "chronofs/log.h"
#include "ingest/ingest-internal.h"

struct job {
	struct job *next;
	struct cfs_id id;             /* a claimed chunk's id (slot NULL) */
	struct cfs_extent *slot;      /* NULL, or gets the chunk's id */
	struct pipeline_group *group; /* NULL, or counts the job until it is done */
	size_t cap; /* bytes of data[] */
	size_t n;
	uint8_t data[];
};

struct pipeline {
	struct cfs_repo *r; /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a job was queued, or stop */
	pthread_cond_t space; /* a job finished: room in the queue, maybe drained */
	struct job *head, *tail; /* FIFO; protected by lock */
	struct job *spare;       /* done large jobs to reuse; protected by lock */
	size_t spare_bytes;
	size_t queued_bytes;     /* data of queued and running jobs */
	size_t pending;          /* queued and running jobs */
	size_t budget;
	size_t untaken_bytes; /* data of queued jobs no worker has taken */
	unsigned idle;        /* workers waiting for work */
	int error; /* first error; protected by lock */
	bool stop;
	uint64_t bytes_added, blobs_added; /* protected by lock */
	pthread_t *threads;
	unsigned n_threads;
};

/*
 * Large jobs' buffers are reused: freshly allocated megabytes cost a page
 * fault per 4 KiB (the walker would touch ~1 GB of new pages for a 1 GB
 * corpus), and glibc would keep trimming and regrowing its heap under the
 * queue's churn. Their sizes are powers of two from SPARE_MIN, so that a
 * spare fits any job of its class; at most twice the queue's budget is
 * kept (the classes round up), the most recently used first (the list's
 * head).
 */
#define SPARE_MIN (64u << 10)
#define SPARE_BUDGET(p) (2 * (p)->budget)

static size_t job_class(size_t n)
{
	size_t cap = SPARE_MIN;
	while (cap < n)
		cap *= 2;
	return cap;
}

/* Keep j as a spare, or hand it back to be freed (with the oldest spares
 * beyond the budget through *ret_drop). */
static struct job *recycle_locked(struct pipeline *p, struct job *j, struct job **ret_drop)
{
	*ret_drop = NULL;
	if (j->cap < SPARE_MIN || j->cap > SPARE_BUDGET(p))
		return j;
	j->next = p->spare;
	p->spare = j;
	p->spare_bytes += j->cap;
	if (p->spare_bytes > SPARE_BUDGET(p)) {
		/* Cut the list where it exceeds the budget. */
		size_t kept = 0;
		struct job **pp = &p->spare;
		while (*pp && kept + (*pp)->cap <= SPARE_BUDGET(p)) {
			kept += (*pp)->cap;
			pp = &(*pp)->next;
		}
		*ret_drop = *pp;
		*pp = NULL;
		p->spare_bytes = kept;
	}
	return NULL;
}

/* A spare job of n's size class (NULL: none). */
static struct job *reuse_locked(struct pipeline *p, size_t n)
{
	size_t cap = job_class(n);
	for (struct job **pp = &p->spare; *pp; pp = &(*pp)->next) {
		struct job *j = *pp;
		if (j->cap == cap) {
			*pp = j->next;
			p->spare_bytes -= j->cap;
			return j;
		}
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct pipeline *p = arg;
	struct cfs_repo_sealer *s = NULL;
	struct cfs_sealed_blob b = {.data = CFS_BUF_INIT};
	int serr = cfs_repo_sealer_new(p->r, &s);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->head) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (p->stop)
			break;
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->untaken_bytes -= j->n;
		bool skip = p->error != 0;
		pthread_mutex_unlock(&p->lock);

		int e = skip ? 0 : serr;
		uint64_t stored = 0;
		bool added = false;
		struct cfs_id id = j->id;
		if (!skip && e == 0)
			e = j->slot ? cfs_repo_sealer_claim(s, j->data, j->n, &id) : 1;
		if (!skip && e >= 0 && j->slot)
			j->slot->id = id;
		if (!skip && e == 1) {
			e = cfs_repo_sealer_seal(s, CFS_BLOB_DATA, &id, j->data, j->n, &b);
			if (e == 0)
				e = cfs_repo_put_sealed(p->r, &b, &stored);
			added = e == 0;
		}

		pthread_mutex_lock(&p->lock);
		if (e < 0 && !p->error)
			p->error = e;
		if (added) {
			p->bytes_added += stored;
			p->blobs_added++;
		}
		p->queued_bytes -= j->n;
		p->pending--;
		if (j->group)
			j->group->n--;
		struct job *drop;
		j = recycle_locked(p, j, &drop);
		pthread_cond_broadcast(&p->space);
		if (j || drop) {
			pthread_mutex_unlock(&p->lock);
			free(j);
			while (drop) {
				struct job *next = drop->next;
				free(drop);
				drop = next;
			}
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	cfs_buf_release(&b.data);
	cfs_repo_sealer_free(s);
	return NULL;
}

int pipeline_new(struct cfs_repo *r, unsigned workers, size_t budget, struct pipeline **ret)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->r = r;
	p->budget = budget;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->space, NULL);
	p->threads = calloc(workers ? workers : 1, sizeof(*p->threads));
	if (!p->threads) {
		pipeline_free(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < (workers ? workers : 1); i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			break;
		p->n_threads++;
	}
	if (!p->n_threads) {
		pipeline_free(p);
		return -EAGAIN;
	}
	*ret = p;
	return 0;
}

struct pipeline *pipeline_free(struct pipeline *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head) {
		struct job *j = p->head;
		p->head = j->next;
		free(j);
	}
	while (p->spare) {
		struct job *j = p->spare;
		p->spare = j->next;
		free(j);
	}
	free(p->threads);
	pthread_cond_destroy(&p->space);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

/*
 * Waking a worker costs a context switch (tens of microseconds on a virtual
 * machine), more than sealing a small file. So idle workers are woken once
 * WAKE_BYTES of jobs wait, or when the walker is about to wait itself
 * (kick_locked); a worker that is awake takes jobs until the queue is empty.
 */
#define WAKE_BYTES (1u << 20)

static void kick_locked(struct pipeline *p)
{
	if (p->head && p->idle)
		pthread_cond_broadcast(&p->work);
}

static int put(struct pipeline *p, struct pipeline_group *g, struct cfs_extent *slot, const struct cfs_id *id,
	       const void *data, size_t n)
{
	struct job *j = NULL;
	if (n >= SPARE_MIN) {
		pthread_mutex_lock(&p->lock);
		j = reuse_locked(p, n);
		pthread_mutex_unlock(&p->lock);
	}
	if (!j) {
		size_t cap = n >= SPARE_MIN ? job_class(n) : n;
		j = malloc(sizeof(*j) + cap);
		if (!j)
			return -ENOMEM;
		j->cap = cap;
	}
	j->next = NULL;
	if (id)
		j->id = *id;
	j->slot = slot;
	j->group = g;
	j->n = n;
	memcpy(j->data, data, n);

	pthread_mutex_lock(&p->lock);
	/* One job always fits, however large, so progress never stops. */
	while (!p->error && p->pending && p->queued_bytes + n > p->budget) {
		kick_locked(p);
		pthread_cond_wait(&p->space, &p->lock);
	}
	int e = p->error;
	if (!e) {
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->queued_bytes += n;
		p->untaken_bytes += n;
		p->pending++;
		if (g)
			g->n++;
		j = NULL;
		if (p->idle && p->untaken_bytes >= WAKE_BYTES)
			pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	free(j);
	return e;
}

int pipeline_put_chunk(struct pipeline *p, struct pipeline_group *g, struct cfs_extent *slot, const void *data,
		       size_t n)
{
	return put(p, g, slot, NULL, data, n);
}

int pipeline_put_claimed(struct pipeline *p, const struct cfs_id *id, const void *data, size_t n)
{
	return put(p, NULL, NULL, id, data, n);
}

/* Wait until *count (protected by the lock) is 0; the first error. */
static int wait_zero(struct pipeline *p, const size_t *count)
{
	pthread_mutex_lock(&p->lock);
	while (*count) {
		kick_locked(p);
		pthread_cond_wait(&p->space, &p->lock);
	}
	int e = p->error;
	pthread_mutex_unlock(&p->lock);
	return e;
}

int pipeline_wait(struct pipeline *p, struct pipeline_group *g)
{
	return wait_zero(p, &g->n);
}

int pipeline_drain(struct pipeline *p)
{
	return wait_zero(p, &p->pending);
}

void pipeline_stats(struct pipeline *p, uint64_t *ret_bytes, uint64_t *ret_blobs)
{
	pthread_mutex_lock(&p->lock);
	*ret_bytes = p->bytes_added;
	*ret_blobs = p->blobs_added;
	pthread_mutex_unlock(&p->lock);
}
