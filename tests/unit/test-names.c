/* SPDX-License-Identifier: MIT */
/* A directory's names, sorted in bounded memory (src/ingest/names.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

static char dir[] = "/tmp/cfs-test-names.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	cfs_rm_rf(dir);
}

TestSuite(names, .init = setup, .fini = teardown);

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A name of 1..maxlen bytes from 1..255 (no NUL), high bytes included. */
static char *random_name(size_t maxlen)
{
	size_t l = 1 + next_rand() % maxlen;
	char *s = malloc(l + 1);
	cr_assert_not_null(s);
	for (size_t i = 0; i < l; i++)
		s[i] = (char)(1 + next_rand() % 255);
	s[l] = '\0';
	return s;
}

/* Add v[0, n) (repeats allowed) with runs of `run`, and read them back
 * forward, forgetting behind: they come out as qsort + unique gives. */
static void roundtrip(char **v, size_t n, size_t run, bool expect_spill)
{
	struct names *nm;
	cr_assert_eq(names_new(dir, run, &nm), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(names_add(nm, v[i]), 0);
	cr_assert_eq(names_seal(nm), 0);
	cr_assert_eq(names_runs(nm) > 0, expect_spill, "runs %zu", names_runs(nm));

	char **want = malloc(n * sizeof(*want));
	cr_assert_not_null(want);
	memcpy(want, v, n * sizeof(*want));
	qsort(want, n, sizeof(*want), cfs_strptr_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || strcmp(want[i], want[m - 1]) != 0)
			want[m++] = want[i];

	for (size_t i = 0; i < m; i++) {
		const char *s;
		/* Read a little ahead, as the walk's stat batches do. */
		if (i % 7 == 0 && i + 5 < m) {
			cr_assert_eq(names_get(nm, i + 5, &s), 0);
			cr_assert_str_eq(s, want[i + 5]);
		}
		cr_assert_eq(names_get(nm, i, &s), 0);
		cr_assert_not_null(s, "name %zu of %zu missing", i, m);
		cr_assert_str_eq(s, want[i], "name %zu", i);
		names_forget_below(nm, i);
	}
	const char *s = "x";
	cr_assert_eq(names_get(nm, m, &s), 0);
	cr_assert_null(s);
	cr_assert_eq(names_get(nm, m + 3, &s), 0);
	cr_assert_null(s);
	if (m > 1)
		cr_assert_eq(names_get(nm, 0, &s), -EINVAL, "a forgotten name is not given");
	names_free(nm);
	free(want);
}

static void roundtrip_random(size_t n, size_t maxlen, size_t run, bool expect_spill, unsigned repeats)
{
	char **v = malloc(n * sizeof(*v));
	cr_assert_not_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (repeats && i >= repeats && next_rand() % 4 == 0) ? strdup(v[next_rand() % i]) : random_name(maxlen);
	roundtrip(v, n, run, expect_spill);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

Test(names, in_memory_sorted_unique)
{
	roundtrip_random(5000, 40, 16384, false, 1);
}

Test(names, spilled_runs_merge_in_order)
{
	roundtrip_random(20000, 40, 1000, true, 1);
}

Test(names, spilled_long_names_cut_by_small_buffers)
{
	/* 3,000 runs of one name each: every run's buffer is the smallest,
	 * and records of up to 255 bytes straddle its end. */
	roundtrip_random(3000, 255, 1, true, 0);
}

Test(names, repeats_across_runs_come_out_once)
{
	char *v[600];
	for (size_t i = 0; i < 600; i++) {
		char b[32];
		snprintf(b, sizeof(b), "name-%03zu", i % 200);
		v[i] = strdup(b);
	}
	roundtrip(v, 600, 50, true);
	for (size_t i = 0; i < 600; i++)
		free(v[i]);
}

Test(names, empty_and_exact_run)
{
	struct names *nm;
	const char *s = "x";
	cr_assert_eq(names_new(dir, 4, &nm), 0);
	cr_assert_eq(names_seal(nm), 0);
	cr_assert_eq(names_get(nm, 0, &s), 0);
	cr_assert_null(s);
	names_free(nm);

	char *v[4] = {"d", "c", "b", "a"};
	roundtrip(v, 4, 4, false); /* exactly one run: nothing spilled */
}

Test(names, bad_input_and_unusable_scratch_dir)
{
	struct names *nm;
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(names_new(dir, 2, &nm), 0);
	cr_assert_eq(names_add(nm, ""), -ENAMETOOLONG);
	cr_assert_eq(names_add(nm, longname), -ENAMETOOLONG);
	names_free(nm);

	char missing[sizeof(dir) + 16];
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	/* The third name spills, where it cannot: the names stay in memory. */
	cr_assert_eq(names_new(missing, 2, &nm), 0);
	const char *v[] = {"c", "a", "d", "b"};
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(names_add(nm, v[i]), 0);
	cr_assert_eq(names_seal(nm), 0);
	cr_assert_eq(names_runs(nm), 0);
	for (size_t i = 0; i < 4; i++) {
		const char *s;
		cr_assert_eq(names_get(nm, i, &s), 0);
		cr_assert_not_null(s);
		cr_assert_eq(s[0], (char)('a' + i));
	}
	names_free(nm);
}

Test(names, scratch_file_leaves_nothing)
{
	roundtrip_random(2000, 20, 100, true, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", dir);
	cr_assert_eq(system(cmd), 0, "a scratch file was left in %s", dir);
}
