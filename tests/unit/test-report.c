/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the progress formatting of report.h: the status line
 * (counts, totals, percentage by bytes or by count, rate, ETA, partial
 * totals) and the JSON status object.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/report.h"

#define SEC (1000 * 1000 * 1000ll)

Test(report, format_count)
{
	static const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"}, {1234567, "1,234,567"},
		{UINT64_MAX, "18,446,744,073,709,551,615"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32];
		cfs_format_count(cases[i].n, out, sizeof(out));
		cr_expect_str_eq(out, cases[i].want, "%llu", (unsigned long long)cases[i].n);
	}
}

Test(report, line_by_bytes_with_eta)
{
	struct cfs_progress p = {
		.action = "backup", .unit = "entries", .done = 1234, .total = 100000,
		.bytes = 1ull << 30, .bytes_total = 4ull << 30, .elapsed_ns = 10 * SEC,
	};
	char line[256];
	cfs_progress_format(&p, line, sizeof(line));
	/* 25% by bytes (not 1% by entries); 30 s left at the rate so far. */
	cr_expect_str_eq(line, "1,234/100,000 entries (25%), 1.0 GiB/4.0 GiB, 102.4 MiB/s, ETA 0:30");
	double f;
	cr_expect(cfs_progress_fraction(&p, &f));
	cr_expect_float_eq(f, 0.25, 1e-9);
}

Test(report, line_by_count_hours)
{
	struct cfs_progress p = {
		.action = "check", .phase = "checking packs", .unit = "packs", .done = 1, .total = 100,
		.elapsed_ns = 60 * SEC,
	};
	char line[256];
	cfs_progress_format(&p, line, sizeof(line));
	cr_expect_str_eq(line, "checking packs: 1/100 packs (1%), 0 packs/s, ETA 1:39:00");
}

Test(report, partial_totals_give_no_percentage)
{
	struct cfs_progress p = {
		.action = "backup", .unit = "entries", .done = 10, .total = 5000, .partial = true,
		.bytes = 2048, .bytes_total = 1 << 20, .elapsed_ns = 2 * SEC,
	};
	char line[256];
	double f;
	cfs_progress_format(&p, line, sizeof(line));
	cr_expect_str_eq(line, "10/5,000+ entries, 2.0 KiB/1.0 MiB+, 1.0 KiB/s");
	cr_expect_not(cfs_progress_fraction(&p, &f));
}

Test(report, clamped_and_unknown)
{
	char line[256];
	double f;
	/* Counted ahead too low: 100%, no ETA. */
	struct cfs_progress over = {.action = "backup", .unit = "entries", .done = 120, .total = 100, .elapsed_ns = SEC};
	cfs_progress_format(&over, line, sizeof(line));
	cr_expect_str_eq(line, "120/100 entries (100%), 120 entries/s");
	cr_expect(cfs_progress_fraction(&over, &f));
	cr_expect_float_eq(f, 1.0, 1e-9);
	/* No totals: counts and rate only. */
	struct cfs_progress none = {.action = "backup", .unit = "entries", .done = 7, .bytes = 100, .elapsed_ns = 0};
	cfs_progress_format(&none, line, sizeof(line));
	cr_expect_str_eq(line, "7 entries, 100 B");
	cr_expect_not(cfs_progress_fraction(&none, &f));
	/* Too early for an ETA: under a second and under 5%. */
	struct cfs_progress early = {.action = "restore", .unit = "entries", .done = 1, .total = 100,
				     .elapsed_ns = SEC / 10};
	cfs_progress_format(&early, line, sizeof(line));
	cr_expect_str_eq(line, "1/100 entries (1%), 10 entries/s");
}

Test(report, json_status_object)
{
	const struct cfs_progress_field extra[] = {{"files_read", 3}};
	struct cfs_progress p = {
		.action = "backup", .unit = "entries", .done = 50, .total = 200, .bytes = 10, .elapsed_ns = 2 * SEC,
		.extra = extra, .n_extra = 1,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	cfs_progress_json(f, &p);
	fclose(f);
	cr_expect_str_eq(buf, "{\"message_type\":\"status\",\"action\":\"backup\",\"phase\":null,"
			      "\"seconds_elapsed\":2.000,\"seconds_remaining\":6,\"percent_done\":0.2500,"
			      "\"entries_done\":50,\"entries_total\":200,\"bytes_done\":10,\"bytes_total\":null,"
			      "\"totals_partial\":false,\"files_read\":3}");
	free(buf);
}
