/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "chronofs/log.h"

static enum cfs_log_level max_level = CFS_LOG_INFO;
static const char *program = "chronofs";
static bool use_syslog;
/* The live status line on stderr (a terminal), "" when none. */
static char status[512];
/* The text of the last error this thread logged (cfs_log_last_error). */
static _Thread_local char last_error[1024];

const char *cfs_log_last_error(void) { return last_error; }

void cfs_log_set_level(enum cfs_log_level level) { max_level = level; }
enum cfs_log_level cfs_log_get_level(void) { return max_level; }
void cfs_log_set_program(const char *prog) { program = prog; }

void cfs_log_use_syslog(bool on)
{
	if (on && !use_syslog)
		openlog(program, LOG_PID, LOG_DAEMON);
	use_syslog = on;
}

/*
 * Formats into one buffer and writes it with a single fputs so lines from
 * several threads never interleave. "%m" means strerror(-error), not errno:
 * the callers pass the error they got, not a stale errno.
 */
int cfs_log_internal(enum cfs_log_level level, int error, const char *fmt, ...)
{
	char fmtbuf[1024], line[4096];
	const char *prefix;
	size_t o = 0;
	int saved = errno;

	if (level > max_level) {
		errno = saved;
		return error;
	}

	/* Expand %m ourselves (glibc's %m uses errno). */
	for (const char *f = fmt; *f && o + 128 < sizeof(fmtbuf); f++) {
		if (f[0] == '%' && f[1] == '%') {
			fmtbuf[o++] = '%';
			fmtbuf[o++] = '%';
			f++;
		} else if (f[0] == '%' && f[1] == 'm') {
			const char *s = strerror(error < 0 ? -error : error);
			for (; *s && o + 8 < sizeof(fmtbuf); s++) {
				if (*s == '%')
					fmtbuf[o++] = '%';
				fmtbuf[o++] = *s;
			}
			f++;
		} else {
			fmtbuf[o++] = *f;
		}
	}
	fmtbuf[o] = 0;

	switch (level) {
	case CFS_LOG_ERROR:
		prefix = "error: ";
		break;
	case CFS_LOG_WARNING:
		prefix = "warning: ";
		break;
	default:
		prefix = "";
		break;
	}

	/* A line longer than the buffer (a path thousands of directories
	 * deep) is formatted again into one of its size, so the reason at its
	 * end is never cut off; without memory, it is cut. */
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	char *big = NULL, *out = line;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int n = snprintf(line, sizeof(line), "%s: %s", program, prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmtbuf, ap);
	size_t len = strlen(line);
	if (m > 0 && (size_t)n + (size_t)m + 2 > sizeof(line)) {
		big = malloc((size_t)n + (size_t)m + 2);
		if (big) {
			memcpy(big, line, (size_t)n);
			vsnprintf(big + n, (size_t)m + 1, fmtbuf, again);
			out = big;
			len = (size_t)n + (size_t)m;
		}
	}
#pragma GCC diagnostic pop
	va_end(again);
	va_end(ap);
	if (out == line && len + 2 > sizeof(line))
		len = sizeof(line) - 2;
	if (level == CFS_LOG_ERROR) {
		size_t k = len > (size_t)n ? len - (size_t)n : 0;
		if (k >= sizeof(last_error))
			k = sizeof(last_error) - 1;
		memcpy(last_error, out + n, k);
		last_error[k] = 0;
	}
	if (use_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		/* Drop the "program: " prefix: syslog adds its own. */
		size_t skip = strlen(program) + 2;
		syslog(prio[level], "%s", len > skip ? out + skip : out);
	} else {
		out[len] = '\n';
		out[len + 1] = 0;
		/* A message goes above the status line, which is then redrawn. */
		if (status[0])
			fputs("\r\033[K", stderr);
		fputs(out, stderr);
		if (status[0])
			fputs(status, stderr);
	}
	free(big);
	errno = saved;
	return error;
}

void cfs_log_status(const char *text)
{
	if (!text || !*text) {
		if (status[0])
			fputs("\r\033[K", stderr);
		status[0] = 0;
	} else {
		snprintf(status, sizeof(status), "%s", text);
		fprintf(stderr, "\r\033[K%s", status);
	}
	fflush(stderr);
}
