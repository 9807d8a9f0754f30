/* SPDX-License-Identifier: MIT */
/*
 * progress.h — where and when the progress of a long job (backup, restore,
 * check) is shown; report.h formats it.
 *
 * On a terminal (stderr, at log level info or more): a status line,
 * redrawn at most every 250 ms, from the job's first second on
 * (cfs_log_status). With --json-progress: a JSON status object per line on
 * stdout, at most one a second from the first second on, and one more at
 * the end; the verb then prints its summary object last. Otherwise
 * nothing, so logs and pipes stay clean.
 *
 * CHRONOFS_PROGRESS_DELAY_MS (for tests) changes the first second, and the
 * JSON stream's interval, to that many milliseconds (0: every status the
 * job gives, about every 250 ms).
 *
 * Single-threaded: the job's callbacks come from the thread that runs it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/report.h"

struct progress_display {
	bool tty;  /* a status line on stderr */
	bool json; /* status objects on stdout */
	bool shown; /* a status line is on the terminal */
	int64_t delay_ns, next_ns; /* in the job's elapsed time */
	int64_t json_interval_ns;
};

/* json_stream: --json-progress was given. */
void progress_display_init(struct progress_display *d, bool json_stream);
/* Whether anything will be shown: callers skip the callback otherwise. */
static inline bool progress_display_active(const struct progress_display *d)
{
	return d->tty || d->json;
}
/* Show p if it is time to; done: the job's last call (the status line
 * goes, the JSON stream gets its last status). */
void progress_display_update(struct progress_display *d, const struct cfs_progress *p, bool done);
/* How the verb's final object starts: "{" alone, or in the JSON stream
 * `{"message_type":"summary",` (the same object otherwise, so that it reads
 * as plain --json's). */
const char *progress_display_json_open(const struct progress_display *d);
