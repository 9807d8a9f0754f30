/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "chronofs/log.h"
#include "progress.h"

#define JSON_INTERVAL_NS (1000 * 1000 * 1000ll)
#define DELAY_NS (1000 * 1000 * 1000ll)

void progress_display_init(struct progress_display *d, bool json_stream)
{
	*d = (struct progress_display){
		.json = json_stream,
		.tty = !json_stream && isatty(STDERR_FILENO) && cfs_log_get_level() >= CFS_LOG_INFO,
		.delay_ns = DELAY_NS,
		.json_interval_ns = JSON_INTERVAL_NS,
	};
	/* Tests: short jobs with status lines, and every status in JSON. */
	const char *env = getenv("CHRONOFS_PROGRESS_DELAY_MS");
	if (env && *env) {
		char *end;
		long ms = strtol(env, &end, 10);
		if (!*end && ms >= 0 && ms <= 3600 * 1000)
			d->delay_ns = d->json_interval_ns = ms * 1000 * 1000ll;
	}
	d->next_ns = d->delay_ns;
}

void progress_display_update(struct progress_display *d, const struct cfs_progress *p, bool done)
{
	if (done) {
		if (d->shown)
			cfs_log_status(NULL);
		d->shown = false;
		if (d->json) {
			cfs_progress_json(stdout, p);
			putchar('\n');
			fflush(stdout);
		}
		return;
	}
	if (p->elapsed_ns < d->next_ns)
		return;
	if (d->tty) {
		char line[256];
		cfs_progress_format(p, line, sizeof(line));
		cfs_log_status(line);
		d->shown = true;
		d->next_ns = p->elapsed_ns + CFS_PROGRESS_INTERVAL_NS;
	} else if (d->json) {
		cfs_progress_json(stdout, p);
		putchar('\n');
		fflush(stdout);
		d->next_ns = p->elapsed_ns + d->json_interval_ns;
	}
}

const char *progress_display_json_open(const struct progress_display *d)
{
	return d->json ? "{\"message_type\":\"summary\"," : "{";
}
