/* SPDX-License-Identifier: MIT */
#include "chronofs/fault.h"

#ifdef CFS_FAULT_INJECTION
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cfs_fault_check(const char *point)
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
		unsigned long want = strtoul(p + plen + 1, &end, 10);
		if (want != n)
			continue;
		if (strncmp(end, ":crash", 6) == 0)
			_exit(CFS_FAULT_CRASH_STATUS);
		return -EIO;
	}
	return 0;
}
#endif
