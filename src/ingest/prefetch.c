/* SPDX-License-Identifier: MIT */
/*
 * Metadata read-ahead for the walk: a few threads list the source trees
 * and stat every entry ahead of the walking thread, so that the directory
 * blocks and inodes it needs next are already in the kernel's caches. On a
 * cold cache the walk otherwise waits for one disk read at a time (each
 * directory block, each inode table block); these threads keep several in
 * flight. They only warm caches: nothing they read is used, so they may lag,
 * skip or stop at any time without changing a snapshot.
 *
 * Pending directories form a stack (the first subdirectory on top, so the
 * read-ahead goes depth first in the walk's order) of at most PENDING_MAX
 * paths; when it is full, the oldest (the farthest ahead of the walk) are
 * dropped, so memory stays bounded whatever the tree.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

#define PENDING_MAX 8192

struct prefetch {
	pthread_mutex_t lock;
	pthread_cond_t work;
	char *ring[PENDING_MAX]; /* owned paths; the stack's top is ring[(bottom + n - 1) % MAX] */
	size_t bottom, n;
	bool stop;
	bool one_fs; /* do not enter mount points */
	prefetch_skip_fn skip;
	void *ud;
	pthread_t threads[PREFETCH_THREADS_MAX];
	unsigned n_threads;
};

static void push_locked(struct prefetch *p, char *path)
{
	if (p->n == PENDING_MAX) {
		free(p->ring[p->bottom]);
		p->bottom = (p->bottom + 1) % PENDING_MAX;
		p->n--;
	}
	p->ring[(p->bottom + p->n) % PENDING_MAX] = path;
	p->n++;
	pthread_cond_signal(&p->work);
}

static char *pop_locked(struct prefetch *p)
{
	p->n--;
	return p->ring[(p->bottom + p->n) % PENDING_MAX];
}

/* List path, stat its entries, queue its subdirectories (last name first,
 * so the first is on top). */
static void warm(struct prefetch *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	char **subdirs = NULL;
	size_t n_sub = 0, cap = 0;
	struct dirent *de;
	struct stat dst;
	if (fstat(dirfd(d), &dst) < 0) {
		closedir(d);
		return;
	}
	/* Entries are stat'ed (their inodes read) while that has to wait for
	 * the disk; once one answers from the inode cache, the directory is
	 * taken as warm and only its subdirectories are stat'ed. */
	bool cold = true;
	while ((de = readdir(d)) != NULL && !__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		const char *nm = de->d_name;
		if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0)))
			continue;
		if (!cold && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		struct stat st;
		int64_t t0 = cold ? cfs_mono_ns() : 0;
		int r = fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW);
		if (cold && cfs_mono_ns() - t0 <= INGEST_STAT_CACHED_NS)
			cold = false;
		if (r < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (p->one_fs && st.st_dev != dst.st_dev)
			continue;
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s%s%s", path, strcmp(path, "/") ? "/" : "", nm) >= (int)sizeof(sub))
			continue;
		if (p->skip && p->skip(p->ud, sub, nm, &st))
			continue;
		if (n_sub == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **v = reallocarray(subdirs, ncap, sizeof(*v));
			if (!v)
				break;
			subdirs = v;
			cap = ncap;
		}
		if (!(subdirs[n_sub] = strdup(sub)))
			break;
		n_sub++;
	}
	closedir(d);
	if (n_sub > 1)
		qsort(subdirs, n_sub, sizeof(*subdirs), cfs_strptr_cmp);
	pthread_mutex_lock(&p->lock);
	for (size_t i = n_sub; i-- > 0;) {
		if (p->stop)
			free(subdirs[i]);
		else
			push_locked(p, subdirs[i]);
	}
	pthread_mutex_unlock(&p->lock);
	free(subdirs);
}

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->n == 0)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		char *path = pop_locked(p);
		pthread_mutex_unlock(&p->lock);
		warm(p, path);
		free(path);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int prefetch_new(unsigned threads, bool one_fs, prefetch_skip_fn skip, void *ud, struct prefetch **ret)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->one_fs = one_fs;
	p->skip = skip;
	p->ud = ud;
	for (unsigned i = 0; i < CFS_MIN(threads, (unsigned)PREFETCH_THREADS_MAX); i++) {
		if (pthread_create(&p->threads[i], NULL, prefetch_main, p) != 0)
			break;
		p->n_threads++;
	}
	if (!p->n_threads) {
		prefetch_free(p);
		return -EAGAIN;
	}
	*ret = p;
	return 0;
}

void prefetch_add(struct prefetch *p, const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return; /* only a read-ahead */
	pthread_mutex_lock(&p->lock);
	push_locked(p, copy);
	pthread_mutex_unlock(&p->lock);
}

struct prefetch *prefetch_free(struct prefetch *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->n)
		free(pop_locked(p));
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}
