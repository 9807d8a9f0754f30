/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

/*
 * One process per catalog: RocksDB refuses a second opener anyway, but with a
 * flock we can wait for the holder (a second `snapshot create` queues behind
 * the first instead of failing) and the kernel drops it when the holder dies,
 * even by kill -9, so there is no stale-lock cleanup.
 */
int cfs_repo_lock_cache(const char *dir, int wait_sec, int *ret_fd)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int64_t deadline = cfs_mono_ns() + (int64_t)CFS_MAX(wait_sec, 0) * 1000000000;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (cfs_mono_ns() >= deadline)
			return -EBUSY;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
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
