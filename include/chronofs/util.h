/* SPDX-License-Identifier: MIT */
/*
 * util.h — hex, time and path helpers shared by every layer.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "chronofs/base.h"

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void cfs_hex_encode(const void *p, size_t n, char *out);
/* Parse exactly 2n hex digits into out; -EINVAL on bad input. */
int cfs_hex_decode(const char *s, void *out, size_t n);

/*
 * Base64 (RFC 4648, with '=' padding) of n bytes into out, which holds
 * CFS_BASE64_SIZE(n) bytes (NUL-terminated).
 */
#define CFS_BASE64_SIZE(n) (4 * (((n) + 2) / 3) + 1)
void cfs_base64_encode(const void *p, size_t n, char *out);

/* MD5 (RFC 1321) of n bytes: only for checksums that protocols demand (S3's
 * Content-MD5), never where collisions matter (src/base/md5.c says why it
 * is here). */
#define CFS_MD5_SIZE 16
void cfs_md5(const void *p, size_t n, uint8_t out[CFS_MD5_SIZE]);

/* Length of the valid UTF-8 sequence at p (1..4: no overlong forms, no
 * surrogates, at most U+10FFFF), or 0 if there is none. p is
 * NUL-terminated; nothing past its NUL is read. */
size_t cfs_utf8_len(const char *p);

/* qsort(3) comparator for an array of C strings (char *), by strcmp. */
int cfs_strptr_cmp(const void *a, const void *b);

/*
 * Current wall-clock time in ns since the epoch (UTC): snapshot times and
 * names, hold and record times, "now" and "-2h" of SNAP, and the decisions
 * of `chronoctl run` and `status` (what is due, what is overdue).
 *
 * The fake clock. In builds with -Dfault_injection=true (CFS_FAULT_INJECTION,
 * the test build) and only there, a non-empty $CHRONOFS_TEST_NOW stands for
 * the time: an RFC 3339 UTC time (2026-03-02T06:00:00Z, a fraction allowed)
 * or @SECONDS since the epoch (@1772431200). It stays still: every call
 * returns the same instant, so a test knows the names its snapshots get.
 * Durations never use it (cfs_mono_ns), nor do file times, which the
 * kernel sets: the ingest therefore trusts no parent entry under a fake
 * clock (its racy-clean check compares the parent's time with file ctimes,
 * see src/ingest/backup.c). A value that does not parse is ignored here
 * (the real time); programs check it at start with cfs_now_fake() and
 * refuse it. Other builds ignore the variable.
 */
int64_t cfs_now_ns(void);
/* 1 and *ret_ns when the fake clock is in effect, 0 when not (unset, empty,
 * or a build without fault injection), -EINVAL when $CHRONOFS_TEST_NOW is
 * set but is no such time (*ret_ns untouched but for 1). Reads the
 * environment at each call: thread-safe as long as nobody calls setenv. */
int cfs_now_fake(int64_t *ret_ns);
/* Monotonic ns, for durations. */
int64_t cfs_mono_ns(void);
/* ns since the epoch (may be negative) to a timespec with 0 <= tv_nsec < 1e9. */
void cfs_ns_to_timespec(int64_t ns, struct timespec *ret);
/* Format ns-since-epoch as RFC 3339 UTC to the second, "2026-11-23T20:00:00Z".
 * out must hold 32 bytes. Returns -ERANGE for years outside 0000-9999. */
int cfs_time_format(int64_t ns, char *out, size_t outlen);
/* Parse "YYYY-MM-DDTHH:MM:SS[.frac]Z" (also "+00:00"); -EINVAL otherwise,
 * -ERANGE if the instant does not fit int64 ns (before 1677 or after 2262). */
int cfs_time_parse(const char *s, int64_t *ret_ns);

/* Flags of cfs_time_parse_as_of(). */
enum cfs_time_parse_flags {
	/* A time without an offset is the machine's local time (TZ
	 * honoured); without this flag it is UTC. */
	CFS_TIME_LOCAL = 1 << 0,
	/* Also the relative forms "now", "today", "yesterday" and "-N<unit>"
	 * or "now-N<unit>" (units s m h d w; a day is 86400 s, a week 7 days),
	 * counted from now_ns. */
	CFS_TIME_RELATIVE = 1 << 1,
};
/*
 * A time as people type it (ISO 8601 / RFC 3339), read "as of": *ret_ns is
 * the LAST nanosecond the text covers, so that the snapshot in effect at
 * *ret_ns is the one in effect at the end of the day, hour, minute, second
 * or fraction given ("2026-12-06" -> 2026-12-06T23:59:59.999999999 in the
 * zone; "...T23:17:03Z" -> 23:17:03.999999999Z; ".5Z" -> .599999999Z).
 *   date    YYYY-MM-DD or YYYYMMDD, alone or followed by
 *   time    T (or t or one space) hh[:mm[:ss[.fff]]] after an extended
 *           date, hh[mm[ss[.fff]]] after a basic one (',' also starts a
 *           fraction), then an optional
 *   offset  Z, z, +hh:mm, +hhmm, +hh (or -).
 * A time without an offset (a date alone included) is UTC, or local time
 * with CFS_TIME_LOCAL: in a DST overlap the later of the two instants the
 * clock showed it, in a gap the last instant before the clocks jumped.
 * Instants int64 ns cannot hold are clamped to INT64_MIN / INT64_MAX
 * (years before 1677, after 2262): never -ERANGE. now_ns is read only by
 * the relative forms. Returns 0, or -EINVAL when s is no such time
 * (*ret_ns untouched).
 */
int cfs_time_parse_as_of(const char *s, unsigned flags, int64_t now_ns, int64_t *ret_ns);

/* Write all / read all, retrying EINTR and short counts. */
int cfs_write_all(int fd, const void *p, size_t n);
int cfs_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* Reads up to n bytes; returns bytes read (< n only at EOF) or -errno. */
ssize_t cfs_pread_full(int fd, void *p, size_t n, uint64_t off);
/* The same from the current position (pipes, terminals). */
ssize_t cfs_read_full(int fd, void *p, size_t n);
/* mkdir -p with the given mode for created directories. */
int cfs_mkdir_p(const char *path, mode_t mode);
/* fsync a directory by path. */
int cfs_fsync_dir(const char *path);
/* Read a whole small file (e.g. a password file); strips one trailing newline
 * when strip_nl. Caller frees *ret. */
int cfs_read_file(const char *path, bool strip_nl, char **ret, size_t *ret_len);

/*
 * Normalise an absolute path lexically ("//a/./b/" -> "/a/b", "/" stays).
 * -EINVAL if it is relative or contains "..". *ret is malloc'ed.
 */
int cfs_path_normalize(const char *path, char **ret);

/* Remove a directory tree (not following symlinks). Absent: 0. */
int cfs_rm_rf(const char *path);

/* 16 lower-case hex digits, random enough that names made with them do not
 * collide between threads and processes (O_EXCL catches the rest). */
void cfs_random_suffix(char out[17]);

/*
 * A file that appears under its final name only when complete (the local
 * object store's puts, restore's files).
 *
 * Where the file system has O_TMPFILE and /proc is mounted, it is an unnamed
 * file in dir_fd, so that nothing is left behind whatever happens to the
 * process (kill -9 included); it gets its name by linkat() through
 * /proc/self/fd, which needs no privilege (AT_EMPTY_PATH would need
 * CAP_DAC_READ_SEARCH). Otherwise, or when the caller asks for it
 * (!unnamed), a named temporary "<prefix><hint>.<16 hex>" (hint cut to 64
 * bytes) in dir_fd, created O_EXCL|O_NOFOLLOW, which only a crash leaves.
 * Either way the file is open O_WRONLY with mode 0600 and owned by the
 * caller.
 */
struct cfs_tmpfile {
	int fd;                 /* -1 once released */
	int dir_fd;             /* borrowed: where the file was made */
	const char *prefix;     /* borrowed: must outlive the file */
	bool unnamed;           /* O_TMPFILE */
	bool linked;            /* it has its final name */
	char name[NAME_MAX + 1]; /* the named temporary; for an unnamed file the
				   name it passes through when it replaces
				   ("<prefix><final name>.<16 hex>") */
};
#define CFS_TMPFILE_INIT {.fd = -1, .dir_fd = -1}

/* Returns 0 and fills *ret, or -errno (nothing is left then). prefix is
 * kept (a string literal, say). */
int cfs_tmpfile_open(int dir_fd, const char *prefix, const char *hint, bool unnamed, struct cfs_tmpfile *ret);
/*
 * Give the file the name `name` in to_fd (any directory of the same file
 * system). noreplace: -EEXIST if the name exists, which is never replaced
 * (linkat(), or renameat2(RENAME_NOREPLACE), or link + unlink where the
 * file system lacks that); otherwise an existing name is replaced
 * atomically. The fd stays open; -EBUSY if already linked.
 */
int cfs_tmpfile_link(struct cfs_tmpfile *t, int to_fd, const char *name, bool noreplace);
/*
 * A scratch file in dir (spilled working data): open read-write with mode
 * 0600 and already without a name, so that nothing outlives its fd, a
 * kill -9 included (O_TMPFILE | O_EXCL; where the file system lacks it, a
 * named temporary removed at once). Returns the fd or -errno.
 */
int cfs_scratch_open(const char *dir);

/* Close the file; a named temporary that was not linked is removed. Safe
 * on CFS_TMPFILE_INIT and twice; preserves errno. */
void cfs_tmpfile_release(struct cfs_tmpfile *t);
