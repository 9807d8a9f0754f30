/* SPDX-License-Identifier: MIT */
/*
 * Count-ahead for backup progress (src/ingest/count.c): entries and file
 * bytes below the source paths, with what the walk leaves out left out
 * (excluded names, cache directories' contents), sparse files by their
 * allocation, hard links by share, and the depth limit.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

static char dir[] = "/tmp/cfs-test-count.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	cfs_rm_rf(dir);
}

TestSuite(count, .init = setup, .fini = teardown);

static void put(const char *rel, size_t n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0, "%s: %m", p);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
		cr_assert_eq(write(fd, buf, k), (ssize_t)k);
		done += k;
	}
	close(fd);
}

static void mk(const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "%s: %m", p);
}

/* Components of dir: the entries on the way to it, itself included. */
static uint64_t components(const char *path)
{
	uint64_t n = 0;
	for (const char *s = path; *s; s++)
		n += *s == '/';
	return n;
}

static bool skip_named_skip(void *ud, const char *path, const char *name, const struct stat *st)
{
	(void)ud;
	(void)path;
	(void)st;
	return strcmp(name, "skip") == 0;
}

static void count(const char *const *paths, size_t n, const struct counter_options *o, uint64_t *entries,
		  uint64_t *bytes)
{
	struct counter *k = NULL;
	bool finished = false;
	cr_assert_eq(counter_new(paths, n, o, &k), 0);
	for (int i = 0; i < 10000 && !finished; i++) {
		counter_get(k, entries, bytes, &finished);
		if (!finished)
			usleep(1000);
	}
	cr_assert(finished, "the count did not finish");
	counter_free(k);
}

Test(count, what_the_walk_meets)
{
	char src[4096], p[4096], q[4096];
	mk("src");
	mk("src/a");
	put("src/a/f1", 100);
	put("src/a/f2", 1000);
	mk("src/b");
	snprintf(p, sizeof(p), "%s/src/a/f1", dir);
	snprintf(q, sizeof(q), "%s/src/b/link", dir);
	cr_assert_eq(link(p, q), 0);
	mk("src/skip");
	put("src/skip/big", 50000);
	mk("src/c");
	put("src/c/blob", 7000);
	snprintf(p, sizeof(p), "%s/src/c/CACHEDIR.TAG", dir);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	static const char tag[] = "Signature: 8a477f597d28d172789f06886806bc55\n";
	fputs(tag, f);
	fclose(f);
	cr_assert_eq(symlink("a/f1", strcat(strcpy(q, dir), "/src/sl")), 0);
	/* Sparse: 8 MiB long, one 4 KiB block of data. */
	snprintf(p, sizeof(p), "%s/src/sparse", dir);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	cr_assert(fd >= 0);
	char blk[4096];
	memset(blk, 's', sizeof(blk));
	cr_assert_eq(pwrite(fd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	cr_assert_eq(ftruncate(fd, 8 << 20), 0);
	fsync(fd);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	uint64_t sparse = (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size ? (uint64_t)st.st_blocks * 512
										: (uint64_t)st.st_size;

	snprintf(src, sizeof(src), "%s/src", dir);
	const char *paths[] = {src};
	uint64_t entries, bytes;
	struct counter_options o = {.skip = skip_named_skip, .exclude_caches = true};
	count(paths, 1, &o, &entries, &bytes);
	/* a, f1, f2, b, link, c, CACHEDIR.TAG, sl, sparse: not skip, big, blob. */
	cr_expect_eq(entries, components(src) + 9, "entries %llu", (unsigned long long)entries);
	/* f1 and its link: 50 each; the tag; the sparse file's data. */
	cr_expect_eq(bytes, 50 + 1000 + 50 + strlen(tag) + sparse, "bytes %llu", (unsigned long long)bytes);

	/* Without the exclusions, all of it; a path given twice or inside
	 * another counts once. */
	struct counter_options all = {0};
	snprintf(p, sizeof(p), "%s/src/a", dir);
	const char *twice[] = {src, p, src};
	count(twice, 3, &all, &entries, &bytes);
	cr_expect_eq(entries, components(src) + 12);
	cr_expect_eq(bytes, 50 + 1000 + 50 + 50000 + 7000 + strlen(tag) + sparse);
}

Test(count, depth_limit)
{
	char p[8192];
	int n = snprintf(p, sizeof(p), "%s/src", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	for (int i = 0; i < 130; i++) {
		n += snprintf(p + n, sizeof(p) - (size_t)n, "/d");
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %m", p);
	}
	char src[4096];
	snprintf(src, sizeof(src), "%s/src", dir);
	const char *paths[] = {src};
	uint64_t entries, bytes;
	struct counter_options o = {0};
	count(paths, 1, &o, &entries, &bytes);
	/* 128 levels are listed (the source and 127 below it): 128 of the 130
	 * directories are met, the two deepest are not. */
	cr_expect_eq(entries, components(src) + 128, "entries %llu", (unsigned long long)entries);
	cr_expect_eq(bytes, 0);
}

Test(count, missing_paths_and_early_free)
{
	char src[4096];
	mk("src");
	for (int i = 0; i < 2000; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "src/f%d", i);
		put(rel, 1);
	}
	snprintf(src, sizeof(src), "%s/src", dir);
	/* A path that is gone counts as the entries on the way to it. */
	const char *gone[] = {"/nonexistent-cfs-count/x"};
	uint64_t entries, bytes;
	struct counter_options o = {0};
	count(gone, 1, &o, &entries, &bytes);
	cr_expect_eq(entries, 2);
	cr_expect_eq(bytes, 0);
	/* Freed at once, mid-walk or not: the thread is stopped and joined. */
	const char *paths[] = {src};
	struct counter *k = NULL;
	cr_assert_eq(counter_new(paths, 1, &o, &k), 0);
	k = counter_free(k);
	cr_expect_null(k);
}
