/* SPDX-License-Identifier: MIT */
#include "chronofs/fault.h"

#ifdef CFS_FAULT_INJECTION
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chronofs/base.h"

/* Counters per point name, process-wide. A handful of points: a small
 * array searched linearly under atomics is enough. */
#define MAX_POINTS 16
static struct {
	char name[48];
	unsigned long count;
} points[MAX_POINTS];
static int n_points;

static unsigned long bump(const char *point)
{
	for (int i = 0; i < __atomic_load_n(&n_points, __ATOMIC_ACQUIRE); i++)
		if (strcmp(points[i].name, point) == 0)
			return __atomic_add_fetch(&points[i].count, 1, __ATOMIC_SEQ_CST);
	/* First use of this point: register it (rare; a race only loses a
	 * count, and test runs are single-writer per point). */
	int i = __atomic_fetch_add(&n_points, 1, __ATOMIC_SEQ_CST);
	if (i >= MAX_POINTS)
		return 0;
	snprintf(points[i].name, sizeof(points[i].name), "%s", point);
	return __atomic_add_fetch(&points[i].count, 1, __ATOMIC_SEQ_CST);
}

/* The "run" action: $CHRONOFS_FAULT_RUN through sh, with the point, the
 * count and the path in its environment; waited for. Spawned with an
 * environment made beforehand: a child forked from a process whose other
 * threads may hold the allocator's locks must not allocate (under ASan, a
 * prune whose tree readers ran beside a hook hung there in setenv). */
static void run_hook(const char *point, unsigned long n, const char *path)
{
	extern char **environ;
	const char *cmd = getenv("CHRONOFS_FAULT_RUN");
	if (!cmd || !*cmd)
		return;
	size_t count = 0;
	while (environ[count])
		count++;
	char **envp = calloc(count + 4, sizeof(*envp));
	char *vars[3] = {NULL, NULL, NULL};
	if (!envp || asprintf(&vars[0], "CFS_FAULT_POINT=%s", point) < 0 ||
	    asprintf(&vars[1], "CFS_FAULT_COUNT=%lu", n) < 0 ||
	    asprintf(&vars[2], "CFS_FAULT_PATH=%s", path ? path : "") < 0)
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < count; i++)
		if (strncmp(environ[i], "CFS_FAULT_", 10) != 0)
			envp[k++] = environ[i];
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		envp[k++] = vars[i];
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	pid_t pid;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, envp) == 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
out:
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		free(vars[i]);
	free(envp);
}

int cfs_fault_check_at(const char *point, const char *path)
{
	const char *spec = getenv("CHRONOFS_FAULTS");
	if (!spec || !*spec)
		return 0;
	unsigned long n = bump(point);
	size_t plen = strlen(point);
	for (const char *p = spec; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, point, plen) != 0 || p[plen] != ':')
			continue;
		char *end;
		const char *q = p + plen + 1;
		if (*q == '*') {
			end = (char *)q + 1;
		} else {
			unsigned long want = strtoul(q, &end, 10);
			if (want != n)
				continue;
		}
		if (strncmp(end, ":crash", 6) == 0)
			_exit(CFS_FAULT_CRASH_STATUS);
		if (strncmp(end, ":run", 4) == 0) {
			run_hook(point, n, path);
			return 0;
		}
		return -EIO;
	}
	return 0;
}

int cfs_fault_check(const char *point)
{
	return cfs_fault_check_at(point, NULL);
}
#endif
