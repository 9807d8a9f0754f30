/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h — a byte-rate limit shared by several threads
 * (--limit-upload, --limit-download).
 *
 * A virtual clock: every byte taken moves it on by 1/rate seconds, and a
 * taker sleeps until the clock is no further ahead of real time than the
 * burst allowance. Idle time is not saved up beyond that allowance, so a
 * limit of R bytes/s never lets more than R * (t + burst) bytes through in
 * any t seconds, however many threads take at once.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct cfs_ratelimit {
	pthread_mutex_t lock;
	uint64_t rate;   /* bytes per second; 0: unlimited */
	int64_t clock_ns; /* cfs_mono_ns() by which the bytes taken so far are due */
};

/* rate in bytes per second, 0 for none. */
void cfs_ratelimit_init(struct cfs_ratelimit *l, uint64_t rate);
void cfs_ratelimit_release(struct cfs_ratelimit *l);
/* Account for n bytes, sleeping as long as the limit requires. */
void cfs_ratelimit_take(struct cfs_ratelimit *l, size_t n);
/* The bookkeeping of take at time now (cfs_mono_ns()): account for n bytes
 * and return how many ns to wait before they may go (0: at once). */
int64_t cfs_ratelimit_reserve(struct cfs_ratelimit *l, size_t n, int64_t now);
/* BURST: how far behind real time the clock may fall (idle time saved up). */
#define CFS_RATELIMIT_BURST_NS (100 * 1000000LL)
/* How many bytes one step of a streamed transfer should take at most, so
 * that no single sleep is long (a quarter of a second's worth, >= 1 KiB);
 * SIZE_MAX when unlimited. */
size_t cfs_ratelimit_step(const struct cfs_ratelimit *l);
