/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

/* The PID the holder wrote into the lock file (0: none yet, or garbage). */
static long lock_holder(int fd)
{
	char b[32];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = 0;
	char *end;
	long pid = strtol(b, &end, 10);
	return pid > 0 && (*end == '\n' || *end == 0) ? pid : 0;
}

/*
 * One process per catalog: RocksDB refuses a second opener anyway, but with a
 * flock we can wait for the holder (a second `snapshot create` queues behind
 * the first instead of failing) and the kernel drops it when the holder dies,
 * even by kill -9, so there is no stale-lock cleanup. The holder writes its
 * PID into the lock file, so that a waiter can say for whom it waits.
 */
int cfs_repo_lock_cache(const char *dir, int wait_sec, const struct cfs_repo_open_options *o, int *ret_fd)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_LOCK, path, -errno);
	int64_t start = cfs_mono_ns();
	int64_t deadline = start + (int64_t)CFS_MAX(wait_sec, 0) * 1000000000;
	int64_t next_report = start;
	bool reported = false;
	struct cfs_repo_lock_wait w = {.lock_path = path, .wait_sec = wait_sec};
	int e = 0;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			e = -errno;
			break;
		}
		int64_t now = cfs_mono_ns();
		if (now >= deadline) {
			e = -EBUSY;
			break;
		}
		if (o && o->lock_wait && now >= next_report) {
			w.holder_pid = lock_holder(fd);
			w.waited_ms = (now - start) / 1000000;
			o->lock_wait(&w, o->lock_wait_ud);
			reported = true;
			next_report = now + 1000000000;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	long holder = e == -EBUSY ? lock_holder(fd) : 0;
	if (reported) {
		w.holder_pid = holder;
		w.waited_ms = (cfs_mono_ns() - start) / 1000000;
		w.done = true;
		o->lock_wait(&w, o->lock_wait_ud);
	}
	if (e < 0) {
		e = cfs_repo_open_fail(o, CFS_REPO_STAGE_LOCK, path, e);
		if (o && o->error && o->error->stage == CFS_REPO_STAGE_LOCK)
			o->error->lock_pid = holder;
		return e;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)cfs_pwrite_all(fd, pid, (size_t)len, 0);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cfs_repo_lock_object_put(struct cfs_repo *r)
{
	uint8_t rnd[16];
	char hex[33], host[256] = "", name[64], body[512];
	int r_;

	r_ = cfs_random_bytes(rnd, sizeof(rnd));
	if (r_ < 0)
		return r_;
	cfs_hex_encode(rnd, sizeof(rnd), hex);
	snprintf(name, sizeof(name), "locks/%s", hex);
	(void)gethostname(host, sizeof(host) - 1);
	int n = snprintf(body, sizeof(body), "host=%s\npid=%ld\ntime_ns=%lld\nkind=writer\n", host,
			 (long)getpid(), (long long)cfs_now_ns());
	r_ = cfs_objstore_put_new(r->store, name, body, (size_t)n);
	if (r_ < 0)
		return log_error_errno(r_, "Cannot store the lock object %s in %s: %m", name,
				       cfs_objstore_location(r->store));
	r->lock_obj = strdup(name);
	if (!r->lock_obj) {
		(void)cfs_objstore_delete(r->store, name);
		return -ENOMEM;
	}
	return 0;
}

void cfs_repo_lock_object_delete(struct cfs_repo *r)
{
	if (!r->lock_obj)
		return;
	int e = cfs_objstore_delete(r->store, r->lock_obj);
	if (e < 0 && e != -ENOENT)
		(void)log_warning_errno(e, "Cannot remove the lock object %s from %s: %m (it stays behind, as after a crash)",
					r->lock_obj, cfs_objstore_location(r->store));
	free(r->lock_obj);
	r->lock_obj = NULL;
}

/* The value of "key=" in a lock object's body, as a string (out, NUL-terminated). */
static void lock_field(const struct cfs_buf *b, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = (const char *)b->data, *end = p + b->len;
	out[0] = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = CFS_MIN(len - klen - 1, outlen - 1);
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = 0;
			for (size_t i = 0; i < vlen; i++)
				if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
					out[i] = '?'; /* written by anyone: no control bytes in messages */
			return;
		}
		p += len + 1;
	}
}

/* Every lock object but ours, read and judged (lock.c's one walk). */
struct locks_walk {
	struct cfs_repo *r;
	cfs_repo_lock_cb cb;
	void *ud;
	char host[256];
};

static int locks_walk_cb(const char *name, uint64_t size, void *ud)
{
	struct locks_walk *w = ud;
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	struct repo_lock_info l = {.name = name};
	char pid[32];
	(void)size;
	if (w->r->lock_obj && strcmp(name, w->r->lock_obj) == 0)
		return 0; /* ours */
	int e = cfs_objstore_get(w->r->store, name, &b);
	if (e == -ENOENT)
		return 0; /* its writer just ended */
	if (e < 0)
		return e;
	lock_field(&b, "host", l.host, sizeof(l.host));
	lock_field(&b, "pid", pid, sizeof(pid));
	lock_field(&b, "kind", l.kind, sizeof(l.kind));
	char *end;
	l.pid = strtol(pid, &end, 10);
	if (!pid[0] || *end || l.pid <= 0)
		l.pid = 0;
	l.stale = l.host[0] && strcmp(l.host, w->host) == 0 && l.pid > 0 && kill((pid_t)l.pid, 0) < 0 &&
		  errno == ESRCH;
	return w->cb(&l, w->ud);
}

int cfs_repo_locks_foreach(struct cfs_repo *r, cfs_repo_lock_cb cb, void *ud)
{
	struct locks_walk w = {.r = r, .cb = cb, .ud = ud};
	(void)gethostname(w.host, sizeof(w.host) - 1);
	return cfs_objstore_list(r->store, "locks/", locks_walk_cb, &w);
}

int cfs_repo_lock_remove_stale(struct cfs_repo *r, const struct repo_lock_info *l)
{
	int e = cfs_objstore_delete(r->store, l->name);
	if (e < 0 && e != -ENOENT)
		return log_error_errno(e, "Cannot remove stale lock %s in %s: %m", l->name,
				       cfs_objstore_location(r->store));
	log_info("Removed %s in %s: a lock of process %ld on this host, which no longer runs", l->name,
		 cfs_objstore_location(r->store), l->pid);
	return 0;
}

struct locks_state {
	struct cfs_repo *r;
	bool remove_stale;
	uint64_t removed, live;
};

static int locks_cb(const struct repo_lock_info *l, void *ud)
{
	struct locks_state *st = ud;
	if (l->stale && st->remove_stale) {
		int e = cfs_repo_lock_remove_stale(st->r, l);
		if (e < 0)
			return e;
		st->removed++;
		return 0;
	}
	if (l->stale) {
		log_info("%s in %s is a stale lock (process %ld on this host no longer runs)", l->name,
			 cfs_objstore_location(st->r->store), l->pid);
		return 0;
	}
	st->live++;
	log_error("%s in %s: %s process %ld on host %s holds the repository (if it is gone, delete that object)",
		  l->name, cfs_objstore_location(st->r->store), l->kind[0] ? l->kind : "a", l->pid,
		  l->host[0] ? l->host : "?");
	return 0;
}

int cfs_repo_locks_check(struct cfs_repo *r, bool remove_stale, uint64_t *ret_removed)
{
	struct locks_state st = {.r = r, .remove_stale = remove_stale};
	int e = cfs_repo_locks_foreach(r, locks_cb, &st);
	if (ret_removed)
		*ret_removed = st.removed;
	if (e < 0)
		return e;
	return st.live ? -EBUSY : 0;
}

/*
 * One prune at a time: locks/prune, created exclusively. One left by a
 * prune of this host whose process is gone is taken over; any other
 * makes this one -EBUSY (named).
 */
#define PRUNE_LOCK "locks/prune"

int cfs_repo_prune_lock(struct cfs_repo *r)
{
	char host[256] = "", body[512];
	(void)gethostname(host, sizeof(host) - 1);
	int n = snprintf(body, sizeof(body), "host=%s\npid=%ld\ntime_ns=%lld\nkind=prune\n", host, (long)getpid(),
			 (long long)cfs_now_ns());
	for (int attempt = 0;; attempt++) {
		int e = cfs_objstore_put_new(r->store, PRUNE_LOCK, body, (size_t)n);
		if (e != -EEXIST)
			return e;
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		char ohost[256], opid[32];
		e = cfs_objstore_get(r->store, PRUNE_LOCK, &b);
		if (e == -ENOENT && attempt < 3)
			continue;
		if (e < 0)
			return e;
		lock_field(&b, "host", ohost, sizeof(ohost));
		lock_field(&b, "pid", opid, sizeof(opid));
		char *end;
		long pid = strtol(opid, &end, 10);
		bool stale = strcmp(ohost, host) == 0 && opid[0] && !*end && pid > 0 && kill((pid_t)pid, 0) < 0 &&
			     errno == ESRCH;
		if (!stale || attempt >= 3) {
			log_error("%s in %s: prune process %s on host %s is running (if it is gone, delete that object)",
				  PRUNE_LOCK, cfs_objstore_location(r->store), opid[0] ? opid : "?",
				  ohost[0] ? ohost : "?");
			return -EBUSY;
		}
		log_info("Taking over %s in %s: prune process %ld on this host no longer runs", PRUNE_LOCK,
			 cfs_objstore_location(r->store), pid);
		e = cfs_objstore_delete(r->store, PRUNE_LOCK);
		if (e < 0 && e != -ENOENT)
			return e;
	}
}

void cfs_repo_prune_unlock(struct cfs_repo *r)
{
	int e = cfs_objstore_delete(r->store, PRUNE_LOCK);
	if (e < 0 && e != -ENOENT)
		(void)log_warning_errno(e, "Cannot remove %s from %s: %m (the next prune on this host takes it over)",
					PRUNE_LOCK, cfs_objstore_location(r->store));
}

bool cfs_repo_lock_is_prune(const char *name)
{
	return strcmp(name, PRUNE_LOCK) == 0;
}
