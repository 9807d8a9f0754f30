/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <string.h>

#include "chronofs/log.h"
#include "ingest/ingest-internal.h"

struct job {
	struct job *next;
	struct cfs_id id;
	enum cfs_blob_type type;
	size_t n;
	uint8_t data[];
};

struct pipeline {
	struct cfs_repo *r; /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a job was queued, or stop */
	pthread_cond_t space; /* a job finished: room in the queue, maybe drained */
	struct job *head, *tail; /* FIFO; protected by lock */
	size_t queued_bytes;     /* data of queued and running jobs */
	size_t pending;          /* queued and running jobs */
	size_t budget;
	int error; /* first error; protected by lock */
	bool stop;
	uint64_t bytes_added, blobs_added; /* protected by lock */
	pthread_t *threads;
	unsigned n_threads;
};

static void *worker_main(void *arg)
{
	struct pipeline *p = arg;
	struct cfs_repo_sealer *s = NULL;
	struct cfs_sealed_blob b = {.data = CFS_BUF_INIT};
	int serr = cfs_repo_sealer_new(p->r, &s);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->head)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		bool skip = p->error != 0;
		pthread_mutex_unlock(&p->lock);

		int e = skip ? 0 : serr;
		uint64_t stored = 0;
		if (!skip && e == 0)
			e = cfs_repo_sealer_seal(s, j->type, &j->id, j->data, j->n, &b);
		if (!skip && e == 0)
			e = cfs_repo_put_sealed(p->r, &b, &stored);

		pthread_mutex_lock(&p->lock);
		if (e < 0 && !p->error)
			p->error = e;
		if (!skip && e == 0) {
			p->bytes_added += stored;
			p->blobs_added++;
		}
		p->queued_bytes -= j->n;
		p->pending--;
		free(j);
		pthread_cond_broadcast(&p->space);
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
	free(p->threads);
	pthread_cond_destroy(&p->space);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

int pipeline_put(struct pipeline *p, enum cfs_blob_type type, const struct cfs_id *id, const void *data, size_t n)
{
	struct job *j = malloc(sizeof(*j) + n);
	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->id = *id;
	j->type = type;
	j->n = n;
	memcpy(j->data, data, n);

	pthread_mutex_lock(&p->lock);
	/* One job always fits, however large, so progress never stops. */
	while (!p->error && p->pending && p->queued_bytes + n > p->budget)
		pthread_cond_wait(&p->space, &p->lock);
	int e = p->error;
	if (!e) {
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->queued_bytes += n;
		p->pending++;
		j = NULL;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	free(j);
	return e;
}

int pipeline_drain(struct pipeline *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->pending)
		pthread_cond_wait(&p->space, &p->lock);
	int e = p->error;
	pthread_mutex_unlock(&p->lock);
	return e;
}

void pipeline_stats(struct pipeline *p, uint64_t *ret_bytes, uint64_t *ret_blobs)
{
	pthread_mutex_lock(&p->lock);
	*ret_bytes = p->bytes_added;
	*ret_blobs = p->blobs_added;
	pthread_mutex_unlock(&p->lock);
}
