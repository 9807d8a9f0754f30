/* SPDX-License-Identifier: MIT */
/*
 * The allocation-failure countdown: the --wrap targets of fault.h. Built
 * only with -Dalloc_failure=true. Nothing here may allocate through the
 * wrappers (it would count itself); getenv, strtoul, open and write do not
 * allocate, and backtrace() loads libgcc through libc's own malloc.
 */
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/base.h"
#include "chronofs/fault.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_reallocarray(void *p, size_t k, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **ret, const char *fmt, va_list ap);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **ret, size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_reallocarray(void *p, size_t k, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **ret, const char *fmt, ...) _printf_(2, 3);
int __wrap_vasprintf(char **ret, const char *fmt, va_list ap) _printf_(2, 0);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **ret, size_t align, size_t n);

enum { UNREAD, OFF, COUNTING };

/* Written once by the first allocation (before any thread exists in our
 * programs; a race would only parse the same environment twice). */
static int state = UNREAD;
static unsigned long fail_at;  /* 0: never */
static bool fail_after;        /* "N+": every allocation from N on */
static bool trace;
static const char *count_file; /* NULL: no report at exit */
static unsigned long count, injected;

static void read_env(void)
{
	const char *f = getenv("CHRONOFS_ALLOC_FAIL");
	if (f && *f) {
		char *end;
		fail_at = strtoul(f, &end, 10);
		fail_after = *end == '+';
	}
	const char *t = getenv("CHRONOFS_ALLOC_TRACE");
	trace = t && *t && strcmp(t, "0") != 0;
	count_file = getenv("CHRONOFS_ALLOC_COUNT");
	if (count_file && !*count_file)
		count_file = NULL;
	__atomic_store_n(&state, fail_at || count_file ? COUNTING : OFF, __ATOMIC_RELEASE);
}

/* True if this allocation is to fail (errno is then ENOMEM). */
static bool fail_now(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	if (unlikely(s == UNREAD)) {
		read_env();
		s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	}
	if (s == OFF)
		return false;
	unsigned long n = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
	if (!fail_at || n < fail_at || (n > fail_at && !fail_after))
		return false;
	__atomic_add_fetch(&injected, 1, __ATOMIC_RELAXED);
	if (trace) {
		void *frames[32];
		char head[64];
		int len = snprintf(head, sizeof(head), "alloc-fail: allocation %lu fails\n", n);
		if (len > 0 && write(STDERR_FILENO, head, (size_t)len) < 0)
			return true;
		backtrace_symbols_fd(frames, backtrace(frames, ARRAY_SIZE(frames)), STDERR_FILENO);
	}
	errno = ENOMEM;
	return true;
}

void cfs_alloc_fail_arm(unsigned long n, bool persist)
{
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == UNREAD)
		read_env();
	fail_at = n;
	fail_after = persist;
	__atomic_store_n(&count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&injected, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&state, n || count_file ? COUNTING : OFF, __ATOMIC_RELEASE);
}

unsigned long cfs_alloc_fail_injected(void)
{
	return __atomic_load_n(&injected, __ATOMIC_RELAXED);
}

__attribute__((destructor)) static void report_count(void)
{
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == UNREAD)
		read_env();
	if (!count_file)
		return;
	int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	char line[96];
	int len = snprintf(line, sizeof(line), "allocations %lu\ninjected %lu\n",
			   __atomic_load_n(&count, __ATOMIC_RELAXED), __atomic_load_n(&injected, __ATOMIC_RELAXED));
	if (len > 0)
		(void)!write(fd, line, (size_t)len);
	close(fd);
}

void *__wrap_malloc(size_t n)
{
	return n && fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return k && n && fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return n && fail_now() ? NULL : __real_realloc(p, n);
}

void *__wrap_reallocarray(void *p, size_t k, size_t n)
{
	return k && n && fail_now() ? NULL : __real_reallocarray(p, k, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **ret, const char *fmt, va_list ap)
{
	return fail_now() ? -1 : __real_vasprintf(ret, fmt, ap);
}

int __wrap_asprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = __wrap_vasprintf(ret, fmt, ap);
	va_end(ap);
	return r;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return n && fail_now() ? NULL : __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **ret, size_t align, size_t n)
{
	return n && fail_now() ? ENOMEM : __real_posix_memalign(ret, align, n);
}
