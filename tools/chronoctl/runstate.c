/* SPDX-License-Identifier: MIT */
/*
 * The state files of `chronoctl run` (runstate.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "chronofs/base.h"
#include "chronofs/util.h"
#include "runstate.h"

#define STATE_FILE_MAX (16 << 10)

static int state_path(const char *state_dir, const char *sub, const char *name, const char *ext, bool mkdirs,
		      char **ret)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/%s", state_dir, sub) < 0)
		return -ENOMEM;
	if (mkdirs) {
		int e = cfs_mkdir_p(dir, 0755);
		if (e < 0)
			return e;
	}
	if (asprintf(ret, "%s/%s%s", dir, name, ext) < 0)
		return -ENOMEM;
	return 0;
}

/* One "key=value" line, the value on one line (newlines become blanks). */
static void put_kv(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s=", key);
	for (; *v; v++)
		fputc(*v == '\n' || *v == '\r' ? ' ' : *v, f);
	fputc('\n', f);
}

/* Write text to path through a temporary beside it, fsync'ed and renamed
 * over it. */
static int replace_file(const char *path, const char *text, size_t len)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp%ld", path, (long)getpid()) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int e = cfs_write_all(fd, text, len);
	if (e == 0 && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0)
		(void)unlink(tmp);
	return e;
}

static int read_kv_file(const char *path, char **ret)
{
	size_t len;
	int e = cfs_read_file(path, false, ret, &len);
	if (e == 0 && len > STATE_FILE_MAX) {
		free(*ret);
		*ret = NULL;
		return -EFBIG;
	}
	return e;
}

static void copy_value(char *dst, size_t n, const char *v)
{
	snprintf(dst, n, "%s", v);
}

static int64_t parse_ns(const char *v)
{
	char *end;
	long long x = strtoll(v, &end, 10);
	return *v && (!*end || *end == '\n') ? (int64_t)x : 0;
}

int job_last_read(const char *state_dir, const char *job, struct job_last *ret)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	*ret = (struct job_last){0};
	int e = state_path(state_dir, "jobs", job, ".last", false, &path);
	if (e < 0)
		return e;
	e = read_kv_file(path, &text);
	if (e < 0)
		return e;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *v = eq + 1;
		if (strcmp(line, "time_ns") == 0)
			ret->time_ns = parse_ns(v);
		else if (strcmp(line, "result") == 0)
			copy_value(ret->result, sizeof(ret->result), v);
		else if (strcmp(line, "type") == 0)
			copy_value(ret->type, sizeof(ret->type), v);
		else if (strcmp(line, "snapshot") == 0)
			copy_value(ret->snapshot, sizeof(ret->snapshot), v);
		else if (strcmp(line, "reason") == 0)
			copy_value(ret->reason, sizeof(ret->reason), v);
		else if (strcmp(line, "failure_time_ns") == 0)
			ret->failure_ns = parse_ns(v);
		else if (strcmp(line, "failure_reason") == 0)
			copy_value(ret->failure_reason, sizeof(ret->failure_reason), v);
		else if (strcmp(line, "failing_since_ns") == 0)
			ret->failing_since_ns = parse_ns(v);
	}
	return 0;
}

int job_last_write(const char *state_dir, const char *job, const struct job_last *l)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	char when[64] = "", fwhen[64] = "";
	size_t len = 0;
	int e = state_path(state_dir, "jobs", job, ".last", true, &path);
	if (e < 0)
		return e;
	(void)cfs_time_format(l->time_ns, when, sizeof(when));
	if (l->failure_ns)
		(void)cfs_time_format(l->failure_ns, fwhen, sizeof(fwhen));
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	put_kv(f, "time", when);
	fprintf(f, "time_ns=%" PRId64 "\n", l->time_ns);
	put_kv(f, "result", l->result);
	put_kv(f, "type", l->type);
	put_kv(f, "snapshot", l->snapshot);
	put_kv(f, "reason", l->reason);
	put_kv(f, "failure_time", fwhen);
	fprintf(f, "failure_time_ns=%" PRId64 "\n", l->failure_ns);
	put_kv(f, "failure_reason", l->failure_reason);
	fprintf(f, "failing_since_ns=%" PRId64 "\n", l->failing_since_ns);
	if (fclose(f) != 0)
		return -ENOMEM;
	return replace_file(path, text, len);
}

int job_lock(const char *state_dir, const char *job, int *ret_fd, long *ret_holder)
{
	_cleanup_free_ char *path = NULL;
	int e = state_path(state_dir, "jobs", job, ".lock", true, &path);
	if (e < 0)
		return e;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return -errno;
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		*ret_holder = n > 0 ? strtol(buf, NULL, 10) : 0;
		return -EBUSY;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || cfs_pwrite_all(fd, pid, (size_t)n, 0) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int prune_last_read(const char *state_dir, const char *repo, int64_t *ret_ns)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	int e = state_path(state_dir, "repos", repo, ".prune", false, &path);
	if (e < 0)
		return e;
	e = read_kv_file(path, &text);
	if (e < 0)
		return e;
	const char *p = strstr(text, "time_ns=");
	if (!p)
		return -ENOENT;
	*ret_ns = parse_ns(p + 8);
	return 0;
}

int prune_last_write(const char *state_dir, const char *repo, int64_t ns)
{
	_cleanup_free_ char *path = NULL;
	char when[64] = "", text[160];
	int e = state_path(state_dir, "repos", repo, ".prune", true, &path);
	if (e < 0)
		return e;
	(void)cfs_time_format(ns, when, sizeof(when));
	int n = snprintf(text, sizeof(text), "time=%s\ntime_ns=%" PRId64 "\n", when, ns);
	return replace_file(path, text, (size_t)n);
}

int job_running(const char *state_dir, const char *job, long *ret_pid)
{
	_cleanup_free_ char *path = NULL, *locks = NULL;
	struct stat st;
	size_t len;
	int e = state_path(state_dir, "jobs", job, ".lock", false, &path);
	if (e < 0)
		return e;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	e = cfs_read_file("/proc/locks", false, &locks, &len);
	if (e < 0)
		return e;
	/* "1: FLOCK  ADVISORY  WRITE 9432 fe:00:10952840 0 EOF" */
	char dev[64];
	snprintf(dev, sizeof(dev), "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino);
	for (char *line = locks, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char kind[16], adv[16], mode[16], where[64];
		long pid;
		if (strstr(line, "->")) /* a waiter, not a holder */
			continue;
		if (sscanf(line, "%*[^:]: %15s %15s %15s %ld %63s", kind, adv, mode, &pid, where) != 5)
			continue;
		if (strcmp(kind, "FLOCK") == 0 && strcmp(where, dev) == 0) {
			/* /proc/locks names the process that called flock(); the
			 * holder is who wrote its PID in the file (run does both). */
			_cleanup_free_ char *text = NULL;
			long written = 0;
			if (cfs_read_file(path, true, &text, &len) == 0)
				written = strtol(text, NULL, 10);
			*ret_pid = written > 0 ? written : pid;
			return 1;
		}
	}
	return 0;
}
