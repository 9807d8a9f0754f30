/* SPDX-License-Identifier: MIT */
/*
 * Batched statx / openat / read through liburing. Requests are submitted in
 * batches of up to the ring depth and reaped together; each completion
 * carries the index of its entry in user_data.
 */
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

struct uring {
	struct io_uring ring;
	unsigned depth;
	struct statx *stx; /* depth entries of scratch for uring_stat */
};

int uring_new(unsigned depth, struct uring **ret)
{
	struct uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->depth = depth;
	u->stx = calloc(depth, sizeof(*u->stx));
	if (!u->stx) {
		free(u);
		return -ENOMEM;
	}
	/* Completions are posted only when this (the only submitting) thread
	 * waits for them: no inter-processor interrupt per request, which on
	 * virtual machines costs more than a cached statx itself. Kernels
	 * before 6.1 reject the flags: plain ring then. */
	int e = io_uring_queue_init(depth, &u->ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (e == -EINVAL)
		e = io_uring_queue_init(depth, &u->ring, 0);
	if (e < 0) {
		free(u->stx);
		free(u);
		return e;
	}
	*ret = u;
	return 0;
}

struct uring *uring_free(struct uring *u)
{
	if (!u)
		return NULL;
	io_uring_queue_exit(&u->ring);
	free(u->stx);
	free(u);
	return NULL;
}

/* Submit what is queued and reap `inflight` completions through cb. */
typedef void (*reap_fn)(void *ud, size_t idx, int res);

static int submit_and_reap(struct uring *u, unsigned inflight, reap_fn cb, void *ud)
{
	int e = io_uring_submit(&u->ring);
	if (e < 0)
		return e;
	while (inflight) {
		struct io_uring_cqe *cqe;
		e = io_uring_wait_cqe(&u->ring, &cqe);
		if (e == -EINTR)
			continue;
		if (e < 0)
			return e;
		cb(ud, (size_t)io_uring_cqe_get_data64(cqe), cqe->res);
		io_uring_cqe_seen(&u->ring, cqe);
		inflight--;
	}
	return 0;
}

static void stx_to_stat(const struct statx *x, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
	st->st_ino = x->stx_ino;
	st->st_mode = x->stx_mode;
	st->st_nlink = x->stx_nlink;
	st->st_uid = x->stx_uid;
	st->st_gid = x->stx_gid;
	st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
	st->st_size = (off_t)x->stx_size;
	st->st_blksize = x->stx_blksize;
	st->st_blocks = (blkcnt_t)x->stx_blocks;
	st->st_atim.tv_sec = x->stx_atime.tv_sec;
	st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

struct stat_batch {
	struct uring *u;
	struct uring_stat *v;
	size_t base;
};

static void stat_done(void *ud, size_t idx, int res)
{
	struct stat_batch *b = ud;
	struct uring_stat *s = &b->v[b->base + idx];
	if (res < 0)
		s->error = res;
	else
		stx_to_stat(&b->u->stx[idx], &s->st);
}

int uring_stat(struct uring *u, int dirfd, struct uring_stat *v, size_t n)
{
	/*
	 * io_uring always hands a statx to a kernel worker thread: worth it
	 * when the inodes must come from the disk (the reads overlap), ten
	 * times the cost of the call itself when they are cached. So the
	 * entries are stat'ed in line while each answer comes from the cache,
	 * and the rest go to the ring, all in flight, at the first that had
	 * to wait.
	 */
	size_t done = 0;
	while (done < n) {
		struct uring_stat *s = &v[done++];
		int64_t t0 = cfs_mono_ns();
		s->error = fstatat(dirfd, s->name, &s->st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) < 0 ? -errno : 0;
		if (cfs_mono_ns() - t0 > INGEST_STAT_CACHED_NS)
			break;
	}
	v += done;
	n -= done;
	for (size_t base = 0; base < n; base += u->depth) {
		unsigned k = (unsigned)CFS_MIN((size_t)u->depth, n - base);
		for (unsigned i = 0; i < k; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
			v[base + i].error = 0;
			io_uring_prep_statx(sqe, dirfd, v[base + i].name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
					    STATX_BASIC_STATS, &u->stx[i]);
			io_uring_sqe_set_data64(sqe, i);
		}
		struct stat_batch b = {u, v, base};
		int e = submit_and_reap(u, k, stat_done, &b);
		if (e < 0)
			return e;
	}
	return 0;
}

#define OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct load_batch {
	struct uring_file *v;
	size_t base;
	bool retry; /* some open failed with EPERM (O_NOATIME on a file not ours) */
	bool again; /* some read was short of cap and not at end of file */
};

static void open_done(void *ud, size_t idx, int res)
{
	struct load_batch *b = ud;
	struct uring_file *f = &b->v[b->base + idx];
	if (res >= 0) {
		f->fd = res;
		f->error = 0;
	} else {
		f->error = res;
		if (res == -EPERM)
			b->retry = true;
	}
}

static void read_done(void *ud, size_t idx, int res)
{
	struct load_batch *b = ud;
	struct uring_file *f = &b->v[b->base + idx];
	if (res < 0) {
		f->error = res;
	} else if (res == 0) {
		f->eof = true;
	} else {
		f->len += (size_t)res;
		if (f->len < f->cap)
			b->again = true;
	}
}

int uring_load(struct uring *u, int dirfd, struct uring_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		v[i].fd = -1;
		v[i].error = 0;
		v[i].len = 0;
		v[i].eof = false;
	}
	for (size_t base = 0; base < n; base += u->depth) {
		unsigned k = (unsigned)CFS_MIN((size_t)u->depth, n - base);
		struct load_batch b = {.v = v, .base = base};
		for (int pass = 0; pass < 2; pass++) {
			unsigned q = 0;
			for (unsigned i = 0; i < k; i++) {
				struct uring_file *f = &v[base + i];
				if (f->fd >= 0 || (pass == 1 && f->error != -EPERM))
					continue;
				struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
				io_uring_prep_openat(sqe, dirfd, f->name, OPEN_FLAGS | (pass == 0 ? O_NOATIME : 0), 0);
				io_uring_sqe_set_data64(sqe, i);
				q++;
			}
			int e = submit_and_reap(u, q, open_done, &b);
			if (e < 0)
				return e;
			if (!b.retry)
				break;
		}
		/* Reads until every file is full or at its end. */
		do {
			b.again = false;
			unsigned q = 0;
			for (unsigned i = 0; i < k; i++) {
				struct uring_file *f = &v[base + i];
				if (f->fd < 0 || f->error || f->eof || f->len >= f->cap)
					continue;
				struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
				io_uring_prep_read(sqe, f->fd, f->buf + f->len, (unsigned)CFS_MIN(f->cap - f->len, (size_t)1 << 30),
						   f->len);
				io_uring_sqe_set_data64(sqe, i);
				q++;
			}
			int e = submit_and_reap(u, q, read_done, &b);
			if (e < 0)
				return e;
		} while (b.again);
	}
	return 0;
}
