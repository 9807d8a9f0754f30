/* SPDX-License-Identifier: MIT */
/*
 * Inline answers on the loop thread, and the worker pool for requests that
 * must load something (see fuse-internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "chronofs/log.h"
#include "fuse/fuse-internal.h"

void fs_dispatch(struct cfs_fs *fs, struct job *j)
{
	fs_inline = true;
	int e = fs_try_op(fs, j);
	fs_inline = false;
	if (e != -EWOULDBLOCK)
		return;
	struct job *q = malloc(sizeof(*q));
	if (!q) {
		fuse_reply_err(j->req, ENOMEM);
		return;
	}
	*q = *j;
	q->next = NULL;
	if (j->name) {
		q->name = strdup(j->name);
		if (!q->name) {
			free(q);
			fuse_reply_err(j->req, ENOMEM);
			return;
		}
	}
	pthread_mutex_lock(&fs->pool_lock);
	if (fs->pool_tail)
		fs->pool_tail->next = q;
	else
		fs->pool_head = q;
	fs->pool_tail = q;
	pthread_cond_signal(&fs->pool_cond);
	pthread_mutex_unlock(&fs->pool_lock);
}

static void *pool_main(void *p)
{
	struct cfs_fs *fs = p;
	pthread_mutex_lock(&fs->pool_lock);
	for (;;) {
		while (!fs->pool_stop && !fs->pool_head)
			pthread_cond_wait(&fs->pool_cond, &fs->pool_lock);
		struct job *j = fs->pool_head;
		if (!j)
			break; /* stopping, queue drained */
		fs->pool_head = j->next;
		if (!fs->pool_head)
			fs->pool_tail = NULL;
		pthread_mutex_unlock(&fs->pool_lock);
		(void)fs_try_op(fs, j); /* not inline: it answers */
		free(j->name);
		free(j);
		pthread_mutex_lock(&fs->pool_lock);
	}
	pthread_mutex_unlock(&fs->pool_lock);
	/* This thread's reader goes with it: reader_key's destructor. */
	return NULL;
}

int fs_pool_start(struct cfs_fs *fs, unsigned n)
{
	pthread_mutex_init(&fs->pool_lock, NULL);
	pthread_cond_init(&fs->pool_cond, NULL);
	fs->pool_threads = calloc(n, sizeof(*fs->pool_threads));
	if (!fs->pool_threads)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&fs->pool_threads[i], NULL, pool_main, fs) != 0)
			break;
		fs->n_pool_threads++;
	}
	return fs->n_pool_threads ? 0 : -EAGAIN;
}

/* Answers whatever is queued, then joins the workers. */
void fs_pool_stop(struct cfs_fs *fs)
{
	pthread_mutex_lock(&fs->pool_lock);
	fs->pool_stop = true;
	pthread_cond_broadcast(&fs->pool_cond);
	pthread_mutex_unlock(&fs->pool_lock);
	for (unsigned i = 0; i < fs->n_pool_threads; i++)
		pthread_join(fs->pool_threads[i], NULL);
	free(fs->pool_threads);
	pthread_cond_destroy(&fs->pool_cond);
	pthread_mutex_destroy(&fs->pool_lock);
}
