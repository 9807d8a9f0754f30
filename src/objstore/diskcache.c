/* SPDX-License-Identifier: MIT */
/*
 * The on-disk cache of immutable objects (data/ packs of a remote store), in
 * aligned blocks of CFS_DISKCACHE_BLOCK bytes: a read fetches the blocks it
 * touches whole (one request brings the neighbours of a blob too, which a
 * restore or a cp -a reads next: packs hold blobs in the order they were
 * written), and what was read once is read from local disk after, across
 * remounts, within a byte budget.
 *
 * One file per block: <dir>/<xx>/<pack>.<block number> (the object name
 * data/<xx>/<pack> with the block), the last block of a pack shorter.
 * Written to a temporary name and renamed. An in-memory index keeps
 * the files in least-recently-used order (a hit sets the file's mtime, so
 * the order survives a restart) and the total under the budget.
 *
 * Crashes: a process killed in this boot leaves whole files (the page cache
 * has them) and temporary ones, removed at open. A machine crash may leave
 * renamed files whose data never reached the disk, so <dir>/state holds the
 * boot id while the cache is open (synced and removed at close): found with
 * another boot id at open, the cache is emptied. Bytes that are wrong anyway
 * are caught by the AEAD of every blob, as for the store itself.
 *
 * One process at a time: the cache holds an flock on <dir>/lock; a second
 * process gets -EBUSY and uses an ephemeral one of its own (removed at
 * free) or none.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronofs/log.h"
#include "chronofs/lru.h"
#include "chronofs/util.h"
#include "objstore/objstore-internal.h"

#define DC_NAME_MAX 128

struct dc_entry {
	struct cfs_lru_link lru;
	struct dc_entry *hnext; /* hash chain */
	uint64_t size;
	int64_t mtime_ns; /* for ordering at open only */
	char name[DC_NAME_MAX]; /* relative to dir: "<xx>/<pack>.<off>.<len>" */
};

struct cfs_diskcache {
	char *dir;
	int lock_fd;
	bool ephemeral; /* dir goes at free */
	uint64_t budget;
	pthread_mutex_t lock; /* protects everything below */
	uint64_t bytes;
	struct cfs_lru lru; /* most recently used at the head */
	struct dc_entry **table;
	size_t nbuckets, count;
	uint64_t hits, misses, evictions;
	pthread_cond_t loaded;      /* a block fetch finished */
	char (*loading)[DC_NAME_MAX]; /* blocks being fetched */
	size_t nloading, loading_cap;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static struct dc_entry **bucket(struct cfs_diskcache *c, const char *name)
{
	return &c->table[name_hash(name) & (c->nbuckets - 1)];
}

static struct dc_entry *lookup(struct cfs_diskcache *c, const char *name)
{
	for (struct dc_entry *e = *bucket(c, name); e; e = e->hnext)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static int grow(struct cfs_diskcache *c)
{
	size_t n = c->nbuckets ? c->nbuckets * 2 : 1024;
	struct dc_entry **t = calloc(n, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct dc_entry *e = c->table[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			struct dc_entry **b = &t[name_hash(e->name) & (n - 1)];
			e->hnext = *b;
			*b = e;
		}
	}
	free(c->table);
	c->table = t;
	c->nbuckets = n;
	return 0;
}

/* Takes e into the index (front of the LRU); lock held. */
static int insert(struct cfs_diskcache *c, struct dc_entry *e)
{
	if (c->count + 1 > c->nbuckets / 2 * 3) {
		int r = grow(c);
		if (r < 0)
			return r;
	}
	struct dc_entry **b = bucket(c, e->name);
	e->hnext = *b;
	*b = e;
	cfs_lru_push_head(&c->lru, &e->lru);
	c->count++;
	c->bytes += e->size;
	return 0;
}

/* Drops e from the index and frees it; lock held. */
static void drop(struct cfs_diskcache *c, struct dc_entry *e)
{
	struct dc_entry **pp = bucket(c, e->name);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	cfs_lru_unlink(&c->lru, &e->lru);
	c->count--;
	c->bytes -= e->size;
	free(e);
}

/* Evict least recently used files until the total is within the budget;
 * lock held (unlink is quick, and keeps the count exact). */
static void evict(struct cfs_diskcache *c)
{
	char path[4096];
	while (c->bytes > c->budget && c->lru.tail) {
		struct dc_entry *e = cfs_container_of(c->lru.tail, struct dc_entry, lru);
		snprintf(path, sizeof(path), "%s/%s", c->dir, e->name);
		(void)unlink(path);
		c->evictions++;
		drop(c, e);
	}
}

/* "data/<xx>/<pack>" and a block number to the relative file name. */
static int file_name(const char *object, uint64_t block, char *out, size_t outlen)
{
	if (strncmp(object, "data/", 5) != 0)
		return -EINVAL;
	int l = snprintf(out, outlen, "%s.%llu", object + 5, (unsigned long long)block);
	return l < 0 || (size_t)l >= outlen ? -ENAMETOOLONG : 0;
}

static int boot_id(char *out, size_t outlen)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = cfs_read_full(fd, out, outlen - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? (int)n : -EIO;
	out[n] = 0;
	return 0;
}

static int cmp_mtime(const void *a, const void *b)
{
	const struct dc_entry *x = *(struct dc_entry *const *)a, *y = *(struct dc_entry *const *)b;
	return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Index the files there, removing temporary ones (and all, with wipe). */
static int scan(struct cfs_diskcache *c, bool wipe)
{
	_cleanup_free_ struct dc_entry **found = NULL;
	size_t nfound = 0, cap = 0;
	DIR *top = opendir(c->dir);
	if (!top)
		return -errno;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(top))) {
		char sub[4096];
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", c->dir, de->d_name);
		DIR *d = opendir(sub);
		if (!d)
			continue;
		struct dirent *fe;
		while (r == 0 && (fe = readdir(d))) {
			struct stat st;
			if (fe->d_name[0] == '.' && (fe->d_name[1] == 0 || strcmp(fe->d_name, "..") == 0))
				continue;
			if (wipe || strncmp(fe->d_name, CFS_OBJSTORE_TMP_PREFIX, strlen(CFS_OBJSTORE_TMP_PREFIX)) == 0 ||
			    strlen(fe->d_name) + 4 > DC_NAME_MAX) {
				(void)unlinkat(dirfd(d), fe->d_name, 0);
				continue;
			}
			if (fstatat(dirfd(d), fe->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
				continue;
			struct dc_entry *e = calloc(1, sizeof(*e));
			if (!e || (nfound == cap && !(found = reallocarray(found, cap = cap ? cap * 2 : 256,
									     sizeof(*found))))) {
				free(e);
				r = -ENOMEM;
				break;
			}
			snprintf(e->name, sizeof(e->name), "%s/%s", de->d_name, fe->d_name);
			e->size = (uint64_t)st.st_size;
			e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			found[nfound++] = e;
		}
		closedir(d);
	}
	closedir(top);
	if (r < 0) {
		for (size_t i = 0; i < nfound; i++)
			free(found[i]);
		return r;
	}
	/* Oldest first, so the most recent end up at the front. */
	if (nfound)
		qsort(found, nfound, sizeof(*found), cmp_mtime);
	for (size_t i = 0; i < nfound; i++) {
		if (r == 0)
			r = insert(c, found[i]);
		else
			free(found[i]);
	}
	if (r == 0)
		evict(c); /* the budget may be smaller than last time */
	return r;
}

struct cfs_diskcache *cfs_diskcache_free(struct cfs_diskcache *c)
{
	if (!c)
		return NULL;
	if (c->ephemeral) {
		if (c->lock_fd >= 0)
			close(c->lock_fd);
		c->lock_fd = -1;
		(void)cfs_rm_rf(c->dir);
	}
	if (c->lock_fd >= 0) {
		/* Clean close: what is there is on disk, the boot id can go. */
		char state[4096];
		(void)syncfs(c->lock_fd);
		snprintf(state, sizeof(state), "%s/state", c->dir);
		(void)unlink(state);
		close(c->lock_fd);
	}
	while (c->lru.head) {
		struct dc_entry *e = cfs_container_of(c->lru.head, struct dc_entry, lru);
		cfs_lru_unlink(&c->lru, &e->lru);
		free(e);
	}
	free(c->table);
	free(c->loading);
	pthread_cond_destroy(&c->loaded);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
	return NULL;
}

int cfs_diskcache_open(const char *dir, uint64_t budget, bool ephemeral, struct cfs_diskcache **ret)
{
	_cleanup_(cfs_diskcache_freep) struct cfs_diskcache *c = calloc(1, sizeof(*c));
	char path[4096], boot[64] = "", old[64] = "";
	if (!c)
		return -ENOMEM;
	c->lock_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->loaded, NULL);
	c->budget = budget;
	c->ephemeral = ephemeral;
	c->dir = strdup(dir);
	if (!c->dir)
		return -ENOMEM;
	int r = cfs_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		close(fd);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	c->lock_fd = fd;
	r = grow(c);
	if (r < 0)
		return r;
	(void)boot_id(boot, sizeof(boot));
	snprintf(path, sizeof(path), "%s/state", dir);
	int sfd = open(path, O_RDONLY | O_CLOEXEC);
	if (sfd >= 0) {
		ssize_t n = cfs_read_full(sfd, old, sizeof(old) - 1);
		close(sfd);
		old[n > 0 ? n : 0] = 0;
	}
	bool wipe = sfd >= 0 && strcmp(old, boot) != 0;
	if (wipe)
		log_info("Disk cache %s was in use when the machine stopped: emptied", dir);
	r = scan(c, wipe);
	if (r < 0)
		return r;
	sfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sfd < 0)
		return -errno;
	r = cfs_write_all(sfd, boot, strlen(boot));
	if (r == 0 && fsync(sfd) < 0)
		r = -errno;
	close(sfd);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

/* Keep a fetched block (if the budget can hold it at all); failures only
 * cost the caching. */
static void keep(struct cfs_diskcache *c, const char *name, const void *p, size_t n)
{
	char path[4096], tmp[4200];
	if (n == 0 || n > c->budget)
		return;
	struct dc_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->size = n;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	/* "<dir>/<xx>/.tmp.<tid>": per thread, so writers never share one. */
	char *slash = strrchr(path, '/');
	snprintf(tmp, sizeof(tmp), "%.*s/%s%lx", (int)(slash - path), path, CFS_OBJSTORE_TMP_PREFIX,
		 (unsigned long)pthread_self());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		*slash = 0;
		(void)mkdir(path, 0700);
		*slash = '/';
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	int r = fd < 0 ? -errno : cfs_write_all(fd, p, n);
	if (fd >= 0)
		close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		/* A full disk or a read-only cache: the read itself succeeded. */
		log_debug_errno(r, "Disk cache %s: cannot keep %s: %m", c->dir, name);
		(void)unlink(tmp);
		free(e);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (lookup(c, name) || insert(c, e) < 0)
		free(e); /* kept already (same bytes), or no memory */
	evict(c);
	pthread_mutex_unlock(&c->lock);
}

/* Bytes [boff, boff + n) of a kept block from its file: 0, -ERANGE when
 * the block (the object's last) ends before, -ENOENT when the file is gone
 * or unreadable. */
static int read_kept(struct cfs_diskcache *c, const char *name, size_t boff, size_t n, void *out)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	int r = -ENOENT;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		if ((uint64_t)st.st_size < (uint64_t)boff + n)
			r = -ERANGE;
		else if (cfs_pread_full(fd, out, n, boff) == (ssize_t)n)
			r = 0;
	}
	if (r == 0)
		(void)futimens(fd, NULL); /* the LRU order, for the next open */
	close(fd);
	return r;
}

static bool loading_has(struct cfs_diskcache *c, const char *name)
{
	for (size_t i = 0; i < c->nloading; i++)
		if (strcmp(c->loading[i], name) == 0)
			return true;
	return false;
}

/* Bytes [boff, boff + n) of block `block` of object. */
static int block_read(struct cfs_diskcache *c, const char *object, uint64_t block, size_t boff, size_t n,
		      uint8_t *out, cfs_diskcache_fetch_fn fetch, void *ud)
{
	char name[DC_NAME_MAX];
	int r = file_name(object, block, name, sizeof(name));
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct dc_entry *e = lookup(c, name);
		if (e) {
			cfs_lru_unlink(&c->lru, &e->lru);
			cfs_lru_push_head(&c->lru, &e->lru);
			pthread_mutex_unlock(&c->lock);
			r = read_kept(c, name, boff, n, out);
			pthread_mutex_lock(&c->lock);
			if (r != -ENOENT) {
				if (r == 0)
					c->hits++;
				pthread_mutex_unlock(&c->lock);
				return r;
			}
			/* Evicted meanwhile, or damaged: forget it, fetch again. */
			if ((e = lookup(c, name)))
				drop(c, e);
			continue;
		}
		if (!loading_has(c, name))
			break;
		pthread_cond_wait(&c->loaded, &c->lock);
	}
	/* This thread fetches the block; others that miss it wait. */
	if (c->nloading == c->loading_cap) {
		size_t cap = c->loading_cap ? c->loading_cap * 2 : 16;
		char(*v)[DC_NAME_MAX] = reallocarray(c->loading, cap, sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		c->loading = v;
		c->loading_cap = cap;
	}
	memcpy(c->loading[c->nloading++], name, DC_NAME_MAX);
	c->misses++;
	pthread_mutex_unlock(&c->lock);

	size_t got = 0;
	uint8_t *buf = malloc(CFS_DISKCACHE_BLOCK);
	r = buf ? fetch(ud, object, block * CFS_DISKCACHE_BLOCK, CFS_DISKCACHE_BLOCK, buf, &got) : -ENOMEM;
	if (r == 0) {
		if ((uint64_t)boff + n > got)
			r = -ERANGE;
		else
			memcpy(out, buf + boff, n);
		keep(c, name, buf, got);
	}
	free(buf);

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nloading; i++) {
		if (strcmp(c->loading[i], name) == 0) {
			memcpy(c->loading[i], c->loading[--c->nloading], DC_NAME_MAX);
			break;
		}
	}
	pthread_cond_broadcast(&c->loaded);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cfs_diskcache_read(struct cfs_diskcache *c, const char *object, uint64_t off, size_t n, void *out,
		       cfs_diskcache_fetch_fn fetch, void *ud)
{
	uint8_t *o = out;
	if (off + n < off)
		return -ERANGE;
	while (n > 0) {
		uint64_t block = off / CFS_DISKCACHE_BLOCK;
		size_t boff = (size_t)(off % CFS_DISKCACHE_BLOCK);
		size_t take = CFS_MIN(n, CFS_DISKCACHE_BLOCK - boff);
		int r = block_read(c, object, block, boff, take, o, fetch, ud);
		if (r < 0)
			return r;
		off += take;
		o += take;
		n -= take;
	}
	return 0;
}

void cfs_diskcache_stats(struct cfs_diskcache *c, struct cfs_objstore_cache_stats *ret)
{
	pthread_mutex_lock(&c->lock);
	ret->hits = c->hits;
	ret->misses = c->misses;
	ret->evictions = c->evictions;
	ret->bytes = c->bytes;
	ret->files = c->count;
	ret->budget = c->budget;
	pthread_mutex_unlock(&c->lock);
}
