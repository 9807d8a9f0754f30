/* SPDX-License-Identifier: MIT */
/*
 * base.h — small helpers every module uses: cleanup attributes, ownership
 * hand-off, array sizes.
 *
 * Error convention for the whole codebase (stated once, here):
 *   functions return 0 (or a count / "found" flag >= 0) on success and a
 *   negative errno on failure. Fixed meanings:
 *     -EBADMSG  integrity failure: AEAD tag or blob id mismatch
 *     -EPROTO   malformed encoding (bad magic, length or offset out of bounds)
 *     -ENOENT   missing object or entry
 *     -EIO      backend failure after retries
 *     -EACCES   wrong passphrase (cannot unwrap any key)
 *     -EPROTONOSUPPORT  repository or object of a newer format version
 *     -EMEDIUMTYPE      the location is not a chronofs repository
 *   Library modules never print; callers log once where they decide.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CFS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CFS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Move ownership out of a cleanup-managed local: the local becomes NULL/-1. */
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _tp_ = (p);    \
		(p) = NULL;                  \
		_tp_;                        \
	})
#define TAKE_FD(fd)                  \
	({                           \
		int _tf_ = (fd);     \
		(fd) = -1;           \
		_tf_;                \
	})

/* Cleanup helpers: idempotent and errno-preserving. */
static inline void cfs_freep(void *p)
{
	int saved = errno;
	free(*(void **)p);
	*(void **)p = NULL;
	errno = saved;
}
static inline void cfs_closep(int *fd)
{
	int saved = errno;
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = saved;
}
#define _cleanup_free_ _cleanup_(cfs_freep)
#define _cleanup_close_ _cleanup_(cfs_closep)

/* Declare `static inline void NAMEp(T **p)` calling `T *NAME(T *)` (our
 * `_free` functions return NULL). */
#define CFS_DEFINE_FREEP(type, func)                  \
	static inline void func##p(type **p)          \
	{                                             \
		int _saved_ = errno;                  \
		if (*p)                               \
			*p = func(*p);                \
		errno = _saved_;                      \
	}

/* Read/write little-endian integers at unaligned addresses. */
static inline void cfs_put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void cfs_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void cfs_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t cfs_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t cfs_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t cfs_get_le64(const uint8_t *p)
{
	return (uint64_t)cfs_get_le32(p) | ((uint64_t)cfs_get_le32(p + 4) << 32);
}
