/* SPDX-License-Identifier: MIT */
/*
 * Progress of long jobs: the status line and the JSON status object
 * (report.h). Pure formatting: the callers decide when and where.
 */
#include <stdio.h>
#include <string.h>

#include "chronofs/report.h"

void cfs_format_count(uint64_t n, char *out, size_t outlen)
{
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	char tmp[32];
	size_t k = 0;
	for (int i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			tmp[k++] = ',';
		tmp[k++] = digits[i];
	}
	tmp[k] = 0;
	snprintf(out, outlen, "%s", tmp);
}

bool cfs_progress_due(int64_t *next_ns, int64_t now, bool done)
{
	if (!done && now < *next_ns)
		return false;
	*next_ns = now + CFS_PROGRESS_INTERVAL_NS;
	return true;
}

bool cfs_progress_fraction(const struct cfs_progress *p, double *ret)
{
	double f;
	if (p->partial)
		return false;
	if (p->bytes_total)
		f = (double)p->bytes / (double)p->bytes_total;
	else if (p->total)
		f = (double)p->done / (double)p->total;
	else
		return false;
	*ret = f < 0 ? 0 : f > 1 ? 1 : f;
	return true;
}

/* Seconds left, from the rate so far; false when it cannot be told: nothing
 * done yet, or done, or too early for the rate to mean anything (under a
 * second and under 5%: the first pack or file says little). */
static bool seconds_left(const struct cfs_progress *p, double *ret)
{
	double f;
	if (!cfs_progress_fraction(p, &f) || f <= 0 || f >= 1 || p->elapsed_ns <= 0 ||
	    (p->elapsed_ns < 1000 * 1000 * 1000ll && f < 0.05))
		return false;
	*ret = (double)p->elapsed_ns / 1e9 * (1 - f) / f;
	return true;
}

void cfs_progress_format(const struct cfs_progress *p, char *out, size_t outlen)
{
	char done[32], total[40] = "", b[32], bt[32], rate[48] = "", pct[16] = "", eta[32] = "", bytes[80] = "";
	double f, left, secs = (double)p->elapsed_ns / 1e9;

	cfs_format_count(p->done, done, sizeof(done));
	if (p->total) {
		char t[32];
		cfs_format_count(p->total, t, sizeof(t));
		snprintf(total, sizeof(total), "/%s%s", t, p->partial ? "+" : "");
	}
	if (cfs_progress_fraction(p, &f))
		snprintf(pct, sizeof(pct), " (%d%%)", (int)(f * 100));
	if (p->bytes || p->bytes_total) {
		cfs_format_bytes(p->bytes, b, sizeof(b));
		if (p->bytes_total) {
			cfs_format_bytes(p->bytes_total, bt, sizeof(bt));
			snprintf(bytes, sizeof(bytes), ", %s/%s%s", b, bt, p->partial ? "+" : "");
		} else {
			snprintf(bytes, sizeof(bytes), ", %s", b);
		}
	}
	if (secs > 0 && p->bytes) {
		cfs_format_bytes((uint64_t)((double)p->bytes / secs), b, sizeof(b));
		snprintf(rate, sizeof(rate), ", %s/s", b);
	} else if (secs > 0 && p->done) {
		cfs_format_count((uint64_t)((double)p->done / secs), b, sizeof(b));
		snprintf(rate, sizeof(rate), ", %s %s/s", b, p->unit);
	}
	if (seconds_left(p, &left)) {
		unsigned long s = left > 359999 ? 359999 : (unsigned long)(left + 0.5);
		if (s >= 3600)
			snprintf(eta, sizeof(eta), ", ETA %lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
		else
			snprintf(eta, sizeof(eta), ", ETA %lu:%02lu", s / 60, s % 60);
	}
	snprintf(out, outlen, "%s%s%s%s %s%s%s%s%s", p->phase ? p->phase : "", p->phase ? ": " : "", done, total,
		 p->unit, pct, bytes, rate, eta);
}

static void json_u64_or_null(FILE *f, const char *prefix, const char *key, uint64_t v, bool known)
{
	fprintf(f, ",\"%s%s\":", prefix, key);
	if (known)
		fprintf(f, "%llu", (unsigned long long)v);
	else
		fputs("null", f);
}

void cfs_progress_json(FILE *f, const struct cfs_progress *p)
{
	double frac, left;
	fputs("{\"message_type\":\"status\",\"action\":", f);
	cfs_json_string(f, p->action);
	fputs(",\"phase\":", f);
	if (p->phase)
		cfs_json_string(f, p->phase);
	else
		fputs("null", f);
	fprintf(f, ",\"seconds_elapsed\":%.3f,\"seconds_remaining\":", (double)p->elapsed_ns / 1e9);
	if (seconds_left(p, &left))
		fprintf(f, "%.0f", left);
	else
		fputs("null", f);
	fputs(",\"percent_done\":", f);
	if (cfs_progress_fraction(p, &frac))
		fprintf(f, "%.4f", frac);
	else
		fputs("null", f);
	json_u64_or_null(f, p->unit, "_done", p->done, true);
	json_u64_or_null(f, p->unit, "_total", p->total, p->total != 0);
	json_u64_or_null(f, "", "bytes_done", p->bytes, true);
	json_u64_or_null(f, "", "bytes_total", p->bytes_total, p->bytes_total != 0);
	fprintf(f, ",\"totals_partial\":%s", p->partial ? "true" : "false");
	for (size_t i = 0; i < p->n_extra; i++)
		json_u64_or_null(f, "", p->extra[i].name, p->extra[i].value, true);
	fputc('}', f);
}
