/* SPDX-License-Identifier: MIT */
/*
 * calendar-internal.h — for tests only (tests/fuzz/fuzz-calendar.c): the
 * TZif reader of calendar.c on bytes in memory, which otherwise reads only
 * files under /usr/share/zoneinfo.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Parse p[0..n) as a TZif file (RFC 8536, its footer rule included); on
 * success put the UTC offset (seconds east) at each of t[0..n_t) in
 * ret_off[]. Returns 0, -EINVAL for a malformed file, -ENOMEM. */
int cfs_calendar_tzif_offsets(const void *p, size_t n, const int64_t *t, size_t n_t, int32_t *ret_off);
