/* SPDX-License-Identifier: MIT */
#include "chronofs/fault.h"

#ifdef CFS_FAULT_INJECTION
#include <errno.h>
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
 * count and the path in its environment; waited for. */
static void run_hook(const char *point, unsigned long n, const char *path)
{
	const char *cmd = getenv("CHRONOFS_FAULT_RUN");
	if (!cmd || !*cmd)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char count[32];
		snprintf(count, sizeof(count), "%lu", n);
		setenv("CFS_FAULT_POINT", point, 1);
		setenv("CFS_FAULT_COUNT", count, 1);
		setenv("CFS_FAULT_PATH", path ? path : "", 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
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
