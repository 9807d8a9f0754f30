/* SPDX-License-Identifier: MIT */
/*
 * log.h — the only place that writes diagnostics to stderr.
 *
 * log_*_errno(r, fmt, ...) logs and returns r (which must be negative), so a
 * caller decides and returns in one statement:
 *     return log_error_errno(r, "Cannot read pack %s: %m", name);
 * "%m" is replaced by strerror(-r). Thread-safe: one line per call.
 */
#pragma once

#include <stdbool.h>

#include "chronofs/base.h"

enum cfs_log_level {
	CFS_LOG_ERROR = 0,
	CFS_LOG_WARNING = 1,
	CFS_LOG_INFO = 2,
	CFS_LOG_DEBUG = 3,
};

/* Messages above this level are dropped (default CFS_LOG_INFO). */
void cfs_log_set_level(enum cfs_log_level level);
enum cfs_log_level cfs_log_get_level(void);
/* Prefix every line with "PROG: " (default "chronofs"). Borrowed pointer. */
void cfs_log_set_program(const char *prog);

/* Send messages to syslog (LOG_DAEMON) instead of stderr: for daemons
 * once they detach from the terminal. */
void cfs_log_use_syslog(bool on);

/*
 * A live status line at the bottom of stderr (progress on a terminal; the
 * caller checks isatty): each call replaces it; messages are printed above
 * it. NULL or "" removes it. Single-threaded use.
 */
void cfs_log_status(const char *text);

/*
 * The text of the last error message this thread logged, without the
 * "PROG: error: " prefix and cut at 1023 bytes; "" before the first. For a
 * caller that records why something failed after a lower layer has said it
 * (chronoctl run keeps a job's failure reason for status). Valid until the
 * thread logs its next error.
 */
const char *cfs_log_last_error(void);

/* Returns `error` (expected negative, or 0 for plain messages). */
int cfs_log_internal(enum cfs_log_level level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_error_errno(r, ...) cfs_log_internal(CFS_LOG_ERROR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) cfs_log_internal(CFS_LOG_WARNING, (r), __VA_ARGS__)
#define log_info_errno(r, ...) cfs_log_internal(CFS_LOG_INFO, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) cfs_log_internal(CFS_LOG_DEBUG, (r), __VA_ARGS__)
#define log_error(...) (void)cfs_log_internal(CFS_LOG_ERROR, 0, __VA_ARGS__)
#define log_warning(...) (void)cfs_log_internal(CFS_LOG_WARNING, 0, __VA_ARGS__)
#define log_info(...) (void)cfs_log_internal(CFS_LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void)cfs_log_internal(CFS_LOG_DEBUG, 0, __VA_ARGS__)
