/* SPDX-License-Identifier: MIT */
/*
 * report.h — output formatting for humans and scripts. Callers pass data; this
 * module calls nobody.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Write s as a JSON string literal (with quotes). Control characters are
 * escaped; bytes that are not valid UTF-8 (file names may be any bytes) are
 * written as \u00XX of the byte, so output is always valid JSON.
 */
void cfs_json_string(FILE *f, const char *s);
/* Human-readable byte count: "0 B", "1.5 KiB", "12.0 MiB". out >= 32 bytes. */
void cfs_format_bytes(uint64_t n, char *out, size_t outlen);
/* Write s with non-printable bytes escaped (\n, \xff), for messages. */
void cfs_print_escaped(FILE *f, const char *s);
/* n with thousands separators: "1,234,567". out >= 32 bytes. */
void cfs_format_count(uint64_t n, char *out, size_t outlen);

/*
 * Progress of one long job (backup, restore, check), as a status line for a
 * terminal or a JSON status object for wrappers. The caller fills it; these
 * functions only format it.
 *
 * What is counted is `unit` ("entries", "packs"): `done` of `total`, and
 * `bytes` of `bytes_total`. A total of 0 is unknown. `partial` says the
 * totals are still being counted (they only grow, and are lower bounds): no
 * percentage or ETA is given from them then. The fraction done is the bytes'
 * where bytes_total is known, else the units', clamped to [0, 1] (a total
 * counted ahead can fall short of what the job then meets).
 */
struct cfs_progress_field {
	const char *name; /* a JSON key */
	uint64_t value;
};

struct cfs_progress {
	const char *action; /* "backup", "restore", "check" */
	const char *phase;  /* NULL, or what the job does now ("packs", "snapshots") */
	const char *unit;   /* plural noun of what is counted */
	uint64_t done, total;
	uint64_t bytes, bytes_total;
	bool partial;
	int64_t elapsed_ns;
	/* More counters for the JSON object only (e.g. "files_read"). */
	const struct cfs_progress_field *extra;
	size_t n_extra;
};

/* How often a job calls its progress callback at most. */
#define CFS_PROGRESS_INTERVAL_NS (250 * 1000 * 1000ll)
/* Whether a job's progress callback is due at time now (monotonic ns):
 * when *next_ns is reached (then moved on by the interval), and always for
 * the last call (done). Start with *next_ns = 0. */
bool cfs_progress_due(int64_t *next_ns, int64_t now, bool done);

/* The fraction done in [0, 1]; false when it cannot be told. */
bool cfs_progress_fraction(const struct cfs_progress *p, double *ret);
/*
 * The human status line, e.g.
 *   "1,234/100,000 entries (12%), 1.2 GiB/9.8 GiB, 45.0 MiB/s, ETA 3:12"
 * ("/5,000+" while the totals are partial; no percentage or ETA then).
 * Truncated to outlen.
 */
void cfs_progress_format(const struct cfs_progress *p, char *out, size_t outlen);
/*
 * One JSON status object, without a newline:
 *   {"message_type":"status","action":"backup","phase":null,
 *    "seconds_elapsed":12.5,"seconds_remaining":40,"percent_done":0.24,
 *    "entries_done":1234,"entries_total":5000,"bytes_done":...,
 *    "bytes_total":...,"totals_partial":false, EXTRA...}
 * The key prefix of done/total is the unit; unknown values are null;
 * percent_done is a fraction (0..1), as restic's.
 */
void cfs_progress_json(FILE *f, const struct cfs_progress *p);
