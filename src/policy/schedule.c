/* SPDX-License-Identifier: MIT */
/*
 * schedule.c — backup type rotation and due times (contract: policy.h,
 * "Rotation and due"). Both are decisions over calendar elapses, so that a
 * missed run (the machine was off) is caught up by the next one without
 * any state but the snapshots the repository holds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "chronofs/calendar.h"
#include "chronofs/policy.h"
#include "chronofs/snapshot.h"

/* 1 when `cal` has an elapse in (after_ns, now_ns], 0 when not (also when
 * it never elapses again), or a negative errno. */
static int elapsed_between(const struct cfs_calendar *cal, int64_t after_ns, int64_t now_ns)
{
	int64_t e;
	int r = cfs_calendar_next(cal, after_ns, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return e <= now_ns;
}

int cfs_rotation_type(const struct cfs_rotation *r, const struct cfs_rotation_snap *hist, size_t n,
		      int64_t now_ns, uint8_t *ret_type)
{
	int64_t last_full = INT64_MIN, last_fd = INT64_MIN;
	bool have_full = false;
	int k;

	if (!r || (n > 0 && !hist) || !ret_type)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		switch (hist[i].type) {
		case CFS_SNAP_FULL:
			have_full = true;
			if (hist[i].time_ns > last_full)
				last_full = hist[i].time_ns;
			break;
		case CFS_SNAP_DIFFERENTIAL:
			if (hist[i].time_ns > last_fd)
				last_fd = hist[i].time_ns;
			break;
		case CFS_SNAP_INCREMENTAL:
			break;
		default:
			return -EINVAL;
		}
	}
	if (!have_full) {
		*ret_type = CFS_SNAP_FULL;
		return 0;
	}
	if (r->full) {
		if ((k = elapsed_between(r->full, last_full, now_ns)) < 0)
			return k;
		if (k) {
			*ret_type = CFS_SNAP_FULL;
			return 0;
		}
	}
	if (last_full > last_fd)
		last_fd = last_full;
	if (r->differential) {
		if ((k = elapsed_between(r->differential, last_fd, now_ns)) < 0)
			return k;
		if (k) {
			*ret_type = CFS_SNAP_DIFFERENTIAL;
			return 0;
		}
	}
	if (r->incremental)
		*ret_type = CFS_SNAP_INCREMENTAL;
	else
		*ret_type = r->differential ? CFS_SNAP_DIFFERENTIAL : CFS_SNAP_FULL;
	return 0;
}

int cfs_schedule_due(const struct cfs_calendar *schedule, int64_t last_ns, int64_t now_ns,
		     int64_t *ret_next_ns)
{
	int64_t e;
	int r;

	if (!schedule)
		return -EINVAL;
	if (last_ns == INT64_MIN) {
		if (ret_next_ns)
			*ret_next_ns = now_ns;
		return 1;
	}
	r = cfs_calendar_next(schedule, last_ns, &e);
	if (r == -ENOENT) {
		if (ret_next_ns)
			*ret_next_ns = INT64_MAX;
		return 0;
	}
	if (r < 0)
		return r;
	if (ret_next_ns)
		*ret_next_ns = e;
	return e <= now_ns;
}
