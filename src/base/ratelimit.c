/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "chronofs/ratelimit.h"
#include "chronofs/util.h"

#define BURST_NS CFS_RATELIMIT_BURST_NS

void cfs_ratelimit_init(struct cfs_ratelimit *l, uint64_t rate)
{
	pthread_mutex_init(&l->lock, NULL);
	l->rate = rate;
	l->clock_ns = 0;
}

void cfs_ratelimit_release(struct cfs_ratelimit *l)
{
	pthread_mutex_destroy(&l->lock);
}

int64_t cfs_ratelimit_reserve(struct cfs_ratelimit *l, size_t n, int64_t now)
{
	if (l->rate == 0 || n == 0)
		return 0;
	pthread_mutex_lock(&l->lock);
	if (l->clock_ns < now - BURST_NS)
		l->clock_ns = now - BURST_NS;
	/* n / rate seconds, without overflow for any n this process moves. */
	l->clock_ns += (int64_t)((double)n * 1e9 / (double)l->rate);
	int64_t wait = l->clock_ns - now;
	pthread_mutex_unlock(&l->lock);
	return wait > 0 ? wait : 0;
}

void cfs_ratelimit_take(struct cfs_ratelimit *l, size_t n)
{
	if (l->rate == 0 || n == 0)
		return;
	int64_t wait = cfs_ratelimit_reserve(l, n, cfs_mono_ns());
	if (wait <= 0)
		return;
	struct timespec ts;
	cfs_ns_to_timespec(wait, &ts);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

size_t cfs_ratelimit_step(const struct cfs_ratelimit *l)
{
	if (l->rate == 0)
		return SIZE_MAX;
	uint64_t q = l->rate / 4;
	return q < 1024 ? 1024 : q > SIZE_MAX ? SIZE_MAX : (size_t)q;
}
