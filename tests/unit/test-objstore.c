/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the objstore module: every behaviour is checked on both the
 * local and the mem backend through the public API; local-only tests check
 * modes, temp files and persistence on disk.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/fault.h"
#include "chronofs/objstore.h"
#include "chronofs/util.h"
#include "objstore/objstore-internal.h"

static char tmpdir[64];
static char repodir[128];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cfs-test-objstore-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(repodir, sizeof(repodir), "%s/repo/sub", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct cfs_objstore *open_local(void)
{
	struct cfs_objstore *s = NULL;
	cr_assert_eq(cfs_objstore_open(repodir, true, &s), 0);
	cr_assert_not_null(s);
	return s;
}

static struct cfs_objstore *open_mem(void)
{
	struct cfs_objstore *s = NULL;
	cr_assert_eq(cfs_objstore_open("mem:", false, &s), 0);
	cr_assert_not_null(s);
	return s;
}

static void expect_content(struct cfs_objstore *s, const char *name, const char *want)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	uint64_t size = 0;

	cr_assert_eq(cfs_objstore_get(s, name, &b), 0, "get %s", name);
	cr_assert_eq(b.len, strlen(want), "%s: len %zu", name, b.len);
	cr_assert(b.len == 0 || memcmp(b.data, want, b.len) == 0);
	cr_assert_eq(cfs_objstore_head(s, name, &size), 0);
	cr_assert_eq(size, strlen(want));
}

/* ---- behaviour shared by every backend ---- */

static void check_basic(struct cfs_objstore *s)
{
	const char *msg = "hello, world";
	char range[5] = {0};

	cr_assert_eq(cfs_objstore_put(s, "config", msg, strlen(msg)), 0);
	expect_content(s, "config", msg);

	cr_assert_eq(cfs_objstore_get_range(s, "config", 7, 5, range), 0);
	cr_assert_eq(memcmp(range, "world", 5), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "config", 0, 5, range), 0);
	cr_assert_eq(memcmp(range, "hello", 5), 0);
	/* Zero bytes at the very end is a valid, empty range. */
	cr_assert_eq(cfs_objstore_get_range(s, "config", strlen(msg), 0, range), 0);

	/* Nested names create their directories. */
	cr_assert_eq(cfs_objstore_put(s, "data/ab/abcdef", "x", 1), 0);
	expect_content(s, "data/ab/abcdef", "x");

	/* Empty objects are objects. */
	cr_assert_eq(cfs_objstore_put(s, "locks/empty", NULL, 0), 0);
	expect_content(s, "locks/empty", "");

	cr_assert_eq(cfs_objstore_delete(s, "config"), 0);
	cr_assert_eq(cfs_objstore_delete(s, "config"), -ENOENT);
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_objstore_get(s, "config", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_delete(s, "data/ab/abcdef"), 0);
	cr_assert_eq(cfs_objstore_delete(s, "locks/empty"), 0);
}

static void check_overwrite(struct cfs_objstore *s)
{
	cr_assert_eq(cfs_objstore_put(s, "index/1", "first version", 13), 0);
	cr_assert_eq(cfs_objstore_put(s, "index/1", "second", 6), 0);
	expect_content(s, "index/1", "second");
	/* Idempotent. */
	cr_assert_eq(cfs_objstore_put(s, "index/1", "second", 6), 0);
	expect_content(s, "index/1", "second");
	cr_assert_eq(cfs_objstore_put(s, "index/1", "a much longer third version", 27), 0);
	expect_content(s, "index/1", "a much longer third version");
}

static void check_put_new(struct cfs_objstore *s)
{
	cr_assert_eq(cfs_objstore_put_new(s, "locks/a", "owner1", 6), 0);
	cr_assert_eq(cfs_objstore_put_new(s, "locks/a", "owner2", 6), -EEXIST);
	expect_content(s, "locks/a", "owner1");
	cr_assert_eq(cfs_objstore_put_new(s, "toplevel", "t", 1), 0);
	cr_assert_eq(cfs_objstore_put_new(s, "toplevel", "u", 1), -EEXIST);
	expect_content(s, "toplevel", "t");
	cr_assert_eq(cfs_objstore_delete(s, "locks/a"), 0);
	cr_assert_eq(cfs_objstore_put_new(s, "locks/a", "owner3", 6), 0);
	expect_content(s, "locks/a", "owner3");
}

static void check_missing(struct cfs_objstore *s)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	uint64_t size = 42;
	char c;

	cr_assert_eq(cfs_objstore_get(s, "nope", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_get(s, "no/such/dir/obj", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_head(s, "nope", &size), -ENOENT);
	cr_assert_eq(size, 42, "out-param written on failure");
	cr_assert_eq(cfs_objstore_get_range(s, "nope", 0, 1, &c), -ENOENT);
	cr_assert_eq(cfs_objstore_delete(s, "nope"), -ENOENT);
	cr_assert_eq(cfs_objstore_delete(s, "no/such/obj"), -ENOENT);

	/* A path through an object is not an object either. */
	cr_assert_eq(cfs_objstore_put(s, "file", "f", 1), 0);
	cr_assert_eq(cfs_objstore_get(s, "file/below", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_head(s, "file/below", &size), -ENOENT);
	cr_assert_eq(cfs_objstore_delete(s, "file/below"), -ENOENT);
}

static void check_range(struct cfs_objstore *s)
{
	char out[16];

	cr_assert_eq(cfs_objstore_put(s, "data/r", "0123456789", 10), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", 8, 2, out), 0);
	cr_assert_eq(memcmp(out, "89", 2), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", 8, 3, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", 10, 1, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", 11, 0, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", 0, 11, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", UINT64_MAX, 2, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", UINT64_MAX - 1, 2, out), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, "data/r", (uint64_t)1 << 62, 1, out), -ERANGE);
}

static const char *const bad_names[] = {
	"", "/abs", "/", "a/", "a//b", "//", ".", "..", "./a", "a/.", "a/./b", "../a", "a/..",
	"a/../b", ".tmp.x", "data/.tmp.abc", NULL /* placeholders for the long ones */,
};

static void check_invalid_names(struct cfs_objstore *s)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	char longname[1100], longcomp[300];
	uint64_t size;
	char c;

	/* Names of exactly 1024 bytes are fine, 1025 is too long. */
	for (size_t i = 0; i < 1024; i++)
		longname[i] = (i % 200 == 199) ? '/' : 'a';
	longname[1024] = 0;
	cr_assert_eq(cfs_objstore_name_valid(longname), 0);
	longname[1024] = 'b';
	longname[1025] = 0;
	memset(longcomp, 'c', 256);
	longcomp[256] = 0;

	const char *names[ARRAY_SIZE(bad_names) + 1];
	size_t n = 0;
	for (size_t i = 0; bad_names[i]; i++)
		names[n++] = bad_names[i];
	names[n++] = longname;
	names[n++] = longcomp;

	for (size_t i = 0; i < n; i++) {
		const char *nm = names[i];
		cr_assert_eq(cfs_objstore_name_valid(nm), -EINVAL, "'%s'", nm);
		cr_assert_eq(cfs_objstore_put(s, nm, "x", 1), -EINVAL, "put '%s'", nm);
		cr_assert_eq(cfs_objstore_put_new(s, nm, "x", 1), -EINVAL, "put_new '%s'", nm);
		cr_assert_eq(cfs_objstore_get(s, nm, &b), -EINVAL, "get '%s'", nm);
		cr_assert_eq(cfs_objstore_get_range(s, nm, 0, 1, &c), -EINVAL, "range '%s'", nm);
		cr_assert_eq(cfs_objstore_head(s, nm, &size), -EINVAL, "head '%s'", nm);
		cr_assert_eq(cfs_objstore_delete(s, nm), -EINVAL, "delete '%s'", nm);
	}
	cr_assert_eq(cfs_objstore_put(s, NULL, "x", 1), -EINVAL);
	cr_assert_eq(cfs_objstore_put(s, "ok", NULL, 1), -EINVAL);

	/* Names that look odd but are valid. */
	cr_assert_eq(cfs_objstore_put(s, "..a/b..", "v", 1), 0);
	expect_content(s, "..a/b..", "v");
	cr_assert_eq(cfs_objstore_put(s, ".hidden", "h", 1), 0);
	expect_content(s, ".hidden", "h");
	memset(longcomp, 'c', 255);
	longcomp[255] = 0;
	cr_assert_eq(cfs_objstore_put(s, longcomp, "l", 1), 0);
	expect_content(s, longcomp, "l");
}

struct collected {
	char names[32][64];
	uint64_t sizes[32];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect_cb(const char *name, uint64_t size, void *userdata)
{
	struct collected *c = userdata;
	cr_assert_lt(c->n, ARRAY_SIZE(c->names));
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
	c->sizes[c->n++] = size;
	if (c->stop_after && c->n == c->stop_after)
		return 7;
	return 0;
}

static bool collected_has(const struct collected *c, const char *name, uint64_t size)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->sizes[i] == size;
	return false;
}

static size_t list_count(struct cfs_objstore *s, const char *prefix, struct collected *c)
{
	memset(c, 0, sizeof(*c));
	cr_assert_eq(cfs_objstore_list(s, prefix, collect_cb, c), 0, "list '%s'", prefix);
	return c->n;
}

static void check_list(struct cfs_objstore *s)
{
	struct collected c;

	cr_assert_eq(list_count(s, "", &c), 0);
	cr_assert_eq(cfs_objstore_put(s, "config", "cfg", 3), 0);
	cr_assert_eq(cfs_objstore_put(s, "data/ab/ab01", "pack1", 5), 0);
	cr_assert_eq(cfs_objstore_put(s, "data/ab/ab02", "pack22", 6), 0);
	cr_assert_eq(cfs_objstore_put(s, "data/cd/cd01", "p", 1), 0);
	cr_assert_eq(cfs_objstore_put(s, "index/i1", "idx", 3), 0);
	cr_assert_eq(cfs_objstore_put(s, "indexes", "no", 2), 0);
	cr_assert_eq(cfs_objstore_put(s, "snapshots/s1", "", 0), 0);

	cr_assert_eq(list_count(s, "", &c), 7);
	cr_assert(collected_has(&c, "config", 3));
	cr_assert(collected_has(&c, "snapshots/s1", 0));

	cr_assert_eq(list_count(s, "data/", &c), 3);
	cr_assert(collected_has(&c, "data/ab/ab01", 5));
	cr_assert(collected_has(&c, "data/ab/ab02", 6));
	cr_assert(collected_has(&c, "data/cd/cd01", 1));

	cr_assert_eq(list_count(s, "index/", &c), 1);
	cr_assert(collected_has(&c, "index/i1", 3));
	cr_assert_eq(list_count(s, "index", &c), 2);
	cr_assert(collected_has(&c, "indexes", 2));

	cr_assert_eq(list_count(s, "dat", &c), 3);
	cr_assert_eq(list_count(s, "data/a", &c), 2);
	cr_assert_eq(list_count(s, "data/ab/ab0", &c), 2);
	cr_assert_eq(list_count(s, "data/ab/ab02", &c), 1);
	cr_assert_eq(list_count(s, "data/ab/ab021", &c), 0);
	cr_assert_eq(list_count(s, "config", &c), 1);
	cr_assert_eq(list_count(s, "keys/", &c), 0);
	cr_assert_eq(list_count(s, "nothing/here/", &c), 0);
	/* "config" is an object, not a directory. */
	cr_assert_eq(list_count(s, "config/", &c), 0);

	/* A non-zero callback return stops the walk and is returned. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	cr_assert_eq(cfs_objstore_list(s, "", collect_cb, &c), 7);
	cr_assert_eq(c.n, 2);

	cr_assert_eq(cfs_objstore_list(s, "/data", collect_cb, &c), -EINVAL);
	cr_assert_eq(cfs_objstore_list(s, "../", collect_cb, &c), -EINVAL);
	cr_assert_eq(cfs_objstore_list(s, "a//", collect_cb, &c), -EINVAL);
	cr_assert_eq(cfs_objstore_list(s, "", NULL, &c), -EINVAL);
}

/* The callback may call back into the store (gc deletes while listing). */
static int delete_cb(const char *name, uint64_t size, void *userdata)
{
	(void)size;
	return cfs_objstore_delete(userdata, name);
}

static void check_list_reentrant(struct cfs_objstore *s)
{
	struct collected c;
	char name[32];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "data/%02x/obj%d", i % 4, i);
		cr_assert_eq(cfs_objstore_put(s, name, name, strlen(name)), 0);
	}
	cr_assert_eq(cfs_objstore_put(s, "keep", "k", 1), 0);
	cr_assert_eq(cfs_objstore_list(s, "data/", delete_cb, s), 0);
	cr_assert_eq(list_count(s, "", &c), 1);
	cr_assert(collected_has(&c, "keep", 1));
}

struct thread_arg {
	struct cfs_objstore *s;
	int id;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct cfs_buf b = CFS_BUF_INIT;
	char name[64], body[64];

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "data/%02d/t%d-%d", i % 8, a->id, i);
		/* One length for every body: a put checks the size it left
		 * (objstore.c), and callers never put bytes of another size
		 * under a name another thread is putting. */
		snprintf(body, sizeof(body), "thread %d object %02d", a->id, i);
		if (cfs_objstore_put(a->s, name, body, strlen(body)) < 0)
			a->failures++;
		/* Everyone also hammers one shared name. */
		if (cfs_objstore_put(a->s, "shared", body, strlen(body)) < 0)
			a->failures++;
		if (cfs_objstore_get(a->s, name, &b) < 0 || b.len != strlen(body) ||
		    memcmp(b.data, body, b.len) != 0)
			a->failures++;
		if (cfs_objstore_get(a->s, "shared", &b) < 0 || memcmp(b.data, "thread ", 7) != 0)
			a->failures++;
	}
	cfs_buf_release(&b);
	return NULL;
}

static void check_threads(struct cfs_objstore *s)
{
	pthread_t t[4];
	struct thread_arg args[4];
	struct collected c;

	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){s, i, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(args[i].failures, 0, "thread %d", i);
	}
	memset(&c, 0, sizeof(c));
	c.stop_after = 0;
	size_t n = 0;
	cr_assert_eq(cfs_objstore_list(s, "data/00/", collect_cb, &c), 0);
	n = c.n;
	cr_assert_eq(n, 4 * 7, "got %zu", n); /* i % 8 == 0 for 7 of 50 */
}

/*
 * delete_many: missing names and duplicates count as deleted, names spread
 * over directories and the root, n == 0, and an invalid name fails alone
 * (-EINVAL in its place) while every other name is deleted.
 */
static void check_delete_many(struct cfs_objstore *s)
{
	static const char *const keep[] = {"config", "data/00/keep", "index/keep"};
	char names[40][32];
	const char *v[48];
	int errs[48];
	size_t n = 0;
	struct collected c;

	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		cr_assert_eq(cfs_objstore_put(s, keep[i], "k", 1), 0);
	for (int i = 0; i < 40; i++) {
		if (i % 10 == 9)
			snprintf(names[i], sizeof(names[i]), "top%d", i);
		else
			snprintf(names[i], sizeof(names[i]), "data/%02x/p%d", i % 3, i);
		cr_assert_eq(cfs_objstore_put(s, names[i], names[i], strlen(names[i])), 0);
		v[n++] = names[i];
		if (i % 13 == 0)
			v[n++] = names[i]; /* twice */
	}
	v[n++] = "data/07/never-there";
	v[n++] = "no/such/dir/obj";
	v[n++] = "config/below"; /* through an object */
	memset(errs, 0x55, sizeof(errs));
	cr_assert_eq(cfs_objstore_delete_many(s, v, n, errs), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(errs[i], 0, "%s: %d", v[i], errs[i]);
	cr_assert_eq(list_count(s, "", &c), ARRAY_SIZE(keep));
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		cr_assert(collected_has(&c, keep[i], 1), "%s", keep[i]);
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_objstore_get(s, names[5], &b), -ENOENT);
	/* Again: all missing now, which is success; ret_errs may be NULL. */
	cr_assert_eq(cfs_objstore_delete_many(s, v, n, NULL), 0);

	cr_assert_eq(cfs_objstore_delete_many(s, NULL, 0, errs), 0);
	cr_assert_eq(cfs_objstore_delete_many(s, NULL, 1, errs), -EINVAL);

	/* Invalid names fail in their places; all the others go. */
	cr_assert_eq(cfs_objstore_put(s, "a", "a", 1), 0);
	cr_assert_eq(cfs_objstore_put(s, "data/b", "b", 1), 0);
	const char *bad[] = {"a", "data/../x", "data/b", "/abs", "config"};
	cr_assert_eq(cfs_objstore_delete_many(s, bad, ARRAY_SIZE(bad), errs), -EINVAL);
	cr_assert(errs[0] == 0 && errs[1] == -EINVAL && errs[2] == 0 && errs[3] == -EINVAL && errs[4] == 0);
	cr_assert_eq(list_count(s, "", &c), ARRAY_SIZE(keep) - 1);
	for (size_t i = 0; bad_names[i]; i++) {
		const char *one[] = {bad_names[i]};
		cr_assert_eq(cfs_objstore_delete_many(s, one, 1, errs), -EINVAL, "'%s'", bad_names[i]);
		cr_assert_eq(errs[0], -EINVAL);
	}
	const char *null_name[] = {NULL, "index/keep"};
	cr_assert_eq(cfs_objstore_delete_many(s, null_name, 2, errs), -EINVAL);
	cr_assert(errs[0] == -EINVAL && errs[1] == 0);
	cr_assert_eq(cfs_objstore_get(s, "index/keep", &b), -ENOENT);
}

#define BOTH_BACKENDS(name, fn)                                               \
	Test(objstore_local, name, .init = setup, .fini = teardown)           \
	{                                                                     \
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local(); \
		fn(s);                                                        \
	}                                                                     \
	Test(objstore_mem, name, .init = setup, .fini = teardown)             \
	{                                                                     \
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_mem(); \
		fn(s);                                                        \
	}

BOTH_BACKENDS(basic, check_basic)
BOTH_BACKENDS(overwrite, check_overwrite)
BOTH_BACKENDS(put_new, check_put_new)
BOTH_BACKENDS(missing, check_missing)
BOTH_BACKENDS(range, check_range)
BOTH_BACKENDS(invalid_names, check_invalid_names)
BOTH_BACKENDS(list, check_list)
BOTH_BACKENDS(list_reentrant, check_list_reentrant)
BOTH_BACKENDS(threads, check_threads)
BOTH_BACKENDS(delete_many, check_delete_many)

/*
 * The wrappers' fallback for a backend without delete_many: delete name by
 * name, -ENOENT counted as deleted, a failure in its place and the rest
 * tried all the same. A mem store whose ops lack delete_many and whose delete fails
 * for names containing "fail".
 */
static const struct cfs_objstore_ops *fallback_inner;
static size_t fallback_deletes;

static int fallback_delete(void *impl, const char *name)
{
	fallback_deletes++;
	if (strstr(name, "fail"))
		return -EIO;
	return fallback_inner->delete(impl, name);
}

Test(objstore_mem, delete_many_fallback, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_mem();
	struct cfs_objstore_ops ops = *s->ops;
	const struct cfs_objstore_ops *saved = s->ops;
	struct collected c;
	int errs[5];

	ops.delete_many = NULL;
	ops.delete = fallback_delete;
	fallback_inner = saved;
	s->ops = &ops;
	check_delete_many(s);

	const char *v[] = {"x/1", "missing", "x/2", "x/fail", "x/3"};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (strcmp(v[i], "missing") != 0)
			cr_assert_eq(cfs_objstore_put(s, v[i], "v", 1), 0);
	fallback_deletes = 0;
	cr_assert_eq(cfs_objstore_delete_many(s, v, ARRAY_SIZE(v), errs), -EIO);
	cr_assert(errs[0] == 0 && errs[1] == 0 && errs[2] == 0 && errs[3] == -EIO && errs[4] == 0);
	cr_assert_eq(fallback_deletes, 5, "the fallback stopped at the failure");
	cr_assert_eq(list_count(s, "x/", &c), 1);
	cr_assert(collected_has(&c, "x/fail", 1));
	s->ops = saved;
}

/* Open descriptors of this process (the directory stream's own included,
 * the same each time). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The local backend's batch: no descriptor left open (one per directory
 * while fsyncing), a range read's cached descriptor dropped, and an
 * emptied directory left in place (as delete leaves it). */
Test(objstore_local, delete_many_on_disk, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	char names[300][32], out[4], path[256];
	const char *v[300];

	for (int i = 0; i < 300; i++) {
		snprintf(names[i], sizeof(names[i]), "data/%02x/pack%03d", i % 100, i);
		cr_assert_eq(cfs_objstore_put(s, names[i], "pack", 4), 0);
		v[i] = names[i];
	}
	cr_assert_eq(cfs_objstore_get_range(s, names[7], 0, 4, out), 0);
	int fds = count_fds();
	cr_assert_eq(cfs_objstore_delete_many(s, v, 300, NULL), 0);
	cr_assert_eq(count_fds(), fds - 1, "descriptors: only the cached one is gone");
	cr_assert_eq(cfs_objstore_get_range(s, names[7], 0, 4, out), -ENOENT);
	snprintf(path, sizeof(path), "%s/data/07", repodir);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	struct collected c;
	cr_assert_eq(list_count(s, "", &c), 0);
}

/* ---- local backend on disk ---- */

static mode_t mode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_mode & 07777;
}

static size_t count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d, "opendir %s", dir);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".tmp.", 5) == 0)
			n++;
	closedir(d);
	return n;
}

Test(objstore_local, modes, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = NULL;
	char path[256];
	mode_t old = umask(022);

	s = open_local();
	cr_assert_eq(mode_of(repodir), 0700);
	cr_assert_eq(cfs_objstore_put(s, "data/ab/pack", "p", 1), 0);
	cr_assert_eq(cfs_objstore_put_new(s, "locks/l", "l", 1), 0);
	cr_assert_eq(cfs_objstore_put(s, "config", "c", 1), 0);

	snprintf(path, sizeof(path), "%s/data", repodir);
	cr_assert_eq(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/data/ab", repodir);
	cr_assert_eq(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/data/ab/pack", repodir);
	cr_assert_eq(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/locks/l", repodir);
	cr_assert_eq(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/config", repodir);
	cr_assert_eq(mode_of(path), 0600);

	/* No temp files left behind by successful puts. */
	cr_assert_eq(count_tmp_files(repodir), 0);
	snprintf(path, sizeof(path), "%s/data/ab", repodir);
	cr_assert_eq(count_tmp_files(path), 0);
	snprintf(path, sizeof(path), "%s/locks", repodir);
	cr_assert_eq(count_tmp_files(path), 0);
	umask(old);
}

Test(objstore_local, tmp_files_not_listed, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	struct collected c;
	char path[256];
	int fd;

	cr_assert_eq(cfs_objstore_put(s, "data/ab/real", "r", 1), 0);
	/* What a crash in the middle of a put leaves behind. */
	snprintf(path, sizeof(path), "%s/data/ab/.tmp.real.0123456789abcdef", repodir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/.tmp.config.00", repodir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);

	cr_assert_eq(list_count(s, "", &c), 1);
	cr_assert(collected_has(&c, "data/ab/real", 1));
	cr_assert_eq(list_count(s, "data/", &c), 1);
	cr_assert_eq(list_count(s, "data/ab/", &c), 1);
	cr_assert_eq(list_count(s, "data/ab/.", &c), 0);
	cr_assert_eq(list_count(s, ".", &c), 0);
}

static void upload_round_trip(struct cfs_objstore *s)
{
	struct cfs_objstore_upload *u = NULL;
	_cleanup_buf_ struct cfs_buf got = CFS_BUF_INIT;
	struct collected c;

	/* Nothing is visible before commit; pieces arrive in order. */
	cr_assert_eq(cfs_objstore_upload_begin(s, &u), 0);
	cr_assert_eq(cfs_objstore_upload_append(u, "hello ", 6), 0);
	cr_assert_eq(cfs_objstore_upload_append(u, "world", 5), 0);
	cr_assert_eq(cfs_objstore_upload_size(u), 11);
	cr_assert_eq(list_count(s, "", &c), 0);
	cr_assert_eq(cfs_objstore_upload_commit(u, "bad/../name"), -EINVAL);
	cr_assert_eq(cfs_objstore_upload_commit(u, "data/7f/streamed"), 0);
	u = cfs_objstore_upload_free(u);
	cr_assert_eq(cfs_objstore_get(s, "data/7f/streamed", &got), 0);
	cr_assert_eq(got.len, 11);
	cr_assert_eq(memcmp(got.data, "hello world", 11), 0);

	/* Commit replaces, as put does. */
	cr_assert_eq(cfs_objstore_upload_begin(s, &u), 0);
	cr_assert_eq(cfs_objstore_upload_append(u, "again", 5), 0);
	cr_assert_eq(cfs_objstore_upload_commit(u, "data/7f/streamed"), 0);
	u = cfs_objstore_upload_free(u);
	cr_assert_eq(cfs_objstore_get(s, "data/7f/streamed", &got), 0);
	cr_assert_eq(got.len, 5);

	/* Abandoned: nothing appears. */
	cr_assert_eq(cfs_objstore_upload_begin(s, &u), 0);
	cr_assert_eq(cfs_objstore_upload_append(u, "lost", 4), 0);
	u = cfs_objstore_upload_free(u);
	cr_assert_eq(list_count(s, "", &c), 1);
	cr_assert(collected_has(&c, "data/7f/streamed", 5));
}

/* The number a shell pipeline prints. */
static int shell_count(const char *cmd)
{
	char line[64] = "";
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	pclose(f);
	return atoi(line);
}

/* Temporary files anywhere in the store. */
static int count_tmp(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "find '%s' -name '.tmp.*' | wc -l", repodir);
	return shell_count(cmd);
}

Test(objstore_local, streamed_upload, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	upload_round_trip(s);
	/* No temporary file is left anywhere, committed or abandoned. */
	cr_assert_eq(count_tmp(), 0);
}

/* Without O_TMPFILE: a named temporary file in the root, renamed into its
 * directory at commit, removed when abandoned. */
Test(objstore_local, streamed_upload_named_temp, .init = setup, .fini = teardown)
{
	cr_assert_eq(setenv("CHRONOFS_FAULTS", "objstore.tmpfile:1,objstore.tmpfile:2,objstore.tmpfile:3", 1), 0);
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	struct cfs_objstore_upload *u = NULL;
	char path[300];

	cr_assert_eq(cfs_objstore_upload_begin(s, &u), 0);
	cr_assert_eq(cfs_objstore_upload_append(u, "x", 1), 0);
	/* While uploading, the bytes are in a named ".tmp." file in the root. */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -c '^\\.tmp\\.upload\\.'", repodir);
	cr_assert_eq(shell_count(cmd), 1);
	cfs_objstore_upload_free(u);
	upload_round_trip(s);
	snprintf(path, sizeof(path), "%s/data/7f/streamed", repodir);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(count_tmp(), 0);
}

Test(objstore_mem, streamed_upload, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_mem();
	upload_round_trip(s);
}

Test(objstore_local, directories_are_not_objects, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	uint64_t size;
	char c;

	cr_assert_eq(cfs_objstore_put(s, "data/ab/p", "p", 1), 0);
	cr_assert_eq(cfs_objstore_get(s, "data", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_get(s, "data/ab", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_head(s, "data", &size), -ENOENT);
	cr_assert_eq(cfs_objstore_get_range(s, "data", 0, 1, &c), -ENOENT);
	cr_assert_eq(cfs_objstore_delete(s, "data/ab"), -ENOENT);
	expect_content(s, "data/ab/p", "p");

	/* Nor is a FIFO someone planted: reading it must not hang. */
	char path[256];
	snprintf(path, sizeof(path), "%s/data/fifo", repodir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(cfs_objstore_get(s, "data/fifo", &b), -ENOENT);
	cr_assert_eq(cfs_objstore_get_range(s, "data/fifo", 0, 1, &c), -ENOENT);
	cr_assert_eq(cfs_objstore_head(s, "data/fifo", &size), -ENOENT);
	struct collected col;
	cr_assert_eq(list_count(s, "data/", &col), 1);
}

/* get_range keeps descriptors open: a put or delete through the store must
 * never leave a range read on the old object; more objects than the
 * descriptor slots still read right. */
Test(objstore_local, range_reads_follow_put_and_delete, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = open_local();
	char out[8], name[64];

	cr_assert_eq(cfs_objstore_put(s, "data/p", "version1", 8), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/p", 0, 8, out), 0);
	cr_assert_eq(memcmp(out, "version1", 8), 0);
	cr_assert_eq(cfs_objstore_put(s, "data/p", "second", 6), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/p", 0, 6, out), 0);
	cr_assert_eq(memcmp(out, "second", 6), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/p", 0, 8, out), -ERANGE);
	cr_assert_eq(cfs_objstore_delete(s, "data/p"), 0);
	cr_assert_eq(cfs_objstore_get_range(s, "data/p", 0, 1, out), -ENOENT);

	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "data/o%03d", i);
			if (round == 0)
				cr_assert_eq(cfs_objstore_put(s, name, name + 5, 4), 0);
			cr_assert_eq(cfs_objstore_get_range(s, name, 1, 3, out), 0);
			cr_assert_eq(memcmp(out, name + 6, 3), 0, "%s", name);
		}
	s = cfs_objstore_free(s);
}

Test(objstore_local, survives_reopen, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = open_local();
	char url[256];

	cr_assert_eq(cfs_objstore_put(s, "config", "persist", 7), 0);
	cr_assert_eq(cfs_objstore_put(s, "snapshots/one", "snap", 4), 0);
	s = cfs_objstore_free(s);
	cr_assert_null(s);

	/* Plain path without create: must already exist. */
	cr_assert_eq(cfs_objstore_open(repodir, false, &s), 0);
	expect_content(s, "config", "persist");
	expect_content(s, "snapshots/one", "snap");
	cr_assert_str_eq(cfs_objstore_location(s), repodir);
	s = cfs_objstore_free(s);

	/* The same directory as a file:// URL. */
	snprintf(url, sizeof(url), "file://%s", repodir);
	cr_assert_eq(cfs_objstore_open(url, false, &s), 0);
	expect_content(s, "snapshots/one", "snap");
	s = cfs_objstore_free(s);

	snprintf(url, sizeof(url), "file://localhost%s", repodir);
	cr_assert_eq(cfs_objstore_open(url, false, &s), 0);
	expect_content(s, "config", "persist");
	s = cfs_objstore_free(s);
}

Test(objstore_local, open_errors, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = NULL;
	char path[256];

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	cr_assert_eq(cfs_objstore_open(path, false, &s), -ENOENT);
	cr_assert_null(s);

	/* A regular file is not a store, with or without create. */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(cfs_objstore_open(path, false, &s), -ENOTDIR);
	cr_assert_eq(cfs_objstore_open(path, true, &s), -ENOTDIR);

	cr_assert_eq(cfs_objstore_open("", true, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open(NULL, true, &s), -EINVAL);
	/* S3 without credentials, or with a malformed bucket. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	cr_assert_eq(cfs_objstore_open("s3://bucket/prefix", false, &s), -EINVAL);
	setenv("AWS_ACCESS_KEY_ID", "k", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	cr_assert_eq(cfs_objstore_open("s3://B/prefix", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("s3://ab", false, &s), -EINVAL);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	cr_assert_eq(cfs_objstore_open("ftp://host/dir", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("file://otherhost/dir", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("file://relative", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("file:///tmp/bad%zz", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("file:///tmp/nul%00", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("file:///tmp/trunc%2", false, &s), -EINVAL);
	cr_assert_eq(cfs_objstore_open("mem:x", false, &s), -EINVAL);
	cr_assert_null(s);
}

Test(objstore_local, file_url_percent_decoding, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = NULL;
	char url[256], path[256];
	struct stat st;

	snprintf(url, sizeof(url), "file://%s/with%%20space", tmpdir);
	cr_assert_eq(cfs_objstore_open(url, true, &s), 0);
	cr_assert_eq(cfs_objstore_put(s, "config", "c", 1), 0);
	s = cfs_objstore_free(s);
	snprintf(path, sizeof(path), "%s/with space/config", tmpdir);
	cr_assert_eq(stat(path, &st), 0);
}

Test(objstore_local, create_is_mkdir_p, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = NULL;

	/* repodir's parent does not exist yet; create makes both. */
	cr_assert_eq(cfs_objstore_open(repodir, true, &s), 0);
	s = cfs_objstore_free(s);
	/* Opening an existing directory with create is fine too. */
	cr_assert_eq(cfs_objstore_open(repodir, true, &s), 0);
	s = cfs_objstore_free(s);
	cr_assert_null(cfs_objstore_free(NULL));
}

Test(objstore_mem, fresh_and_independent, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *a = open_mem();
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *b = open_mem();
	uint64_t size;

	cr_assert_str_eq(cfs_objstore_location(a), "mem:");
	cr_assert_eq(cfs_objstore_put(a, "x", "1", 1), 0);
	cr_assert_eq(cfs_objstore_head(b, "x", &size), -ENOENT);
}

/* ---- S3: the pieces that need no server (t6001 runs a real one) ---------- */

static void clear_aws_env(void)
{
	const char *v[] = {"AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
			   "AWS_REGION",          "AWS_DEFAULT_REGION",    "AWS_ENDPOINT_URL_S3",
			   "AWS_ENDPOINT_URL",    "AWS_CA_BUNDLE",         "CHRONOFS_S3_PATH_STYLE"};
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
		unsetenv(v[i]);
}

Test(objstore_s3, location_and_environment)
{
	struct cfs_s3_config c;

	cr_assert_eq(cfs_s3_config_parse("s3://my-bucket.1/a/b/", &c), 0);
	cr_assert_str_eq(c.bucket, "my-bucket.1");
	cr_assert_str_eq(c.prefix, "a/b");
	cfs_s3_config_release(&c);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket", &c), 0);
	cr_assert_str_eq(c.prefix, "");
	cfs_s3_config_release(&c);
	cr_assert_eq(cfs_s3_config_parse("s3://Bucket/x", &c), -EINVAL);
	cr_assert_eq(cfs_s3_config_parse("s3://ab/x", &c), -EINVAL);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/a//b", &c), -EINVAL);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/../x", &c), -EINVAL);

	clear_aws_env();
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, NULL), -ENOKEY);
	cfs_s3_config_release(&c);

	/* AWS defaults: region, endpoint from it, virtual-host addressing. */
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
	setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, NULL), 0);
	cr_assert_str_eq(c.region, "eu-west-3");
	cr_assert_str_eq(c.endpoint, "https://s3.eu-west-3.amazonaws.com");
	cr_assert_not(c.path_style);
	cr_assert_null(c.token);
	cfs_s3_config_release(&c);

	/* A loopback endpoint: path style by default, unless told otherwise;
	 * AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL. */
	setenv("AWS_ENDPOINT_URL", "http://elsewhere:1", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7480/", 1);
	setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, NULL), 0);
	cr_assert_str_eq(c.endpoint, "http://127.0.0.1:7480");
	cr_assert(c.path_style);
	cr_assert_str_eq(c.token, "TOKEN");
	cfs_s3_config_release(&c);
	setenv("CHRONOFS_S3_PATH_STYLE", "0", 1);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, NULL), 0);
	cr_assert_not(c.path_style);
	cfs_s3_config_release(&c);
	setenv("AWS_ENDPOINT_URL_S3", "ftp://x", 1);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, NULL), -EINVAL);
	cfs_s3_config_release(&c);
	clear_aws_env();
}

/* A credentials file in the fixture's directory with mode `mode`. */
static char *write_credentials(const char *dir, const char *text, mode_t mode)
{
	char *path = NULL;
	cr_assert_geq(asprintf(&path, "%s/credentials", dir), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

Test(objstore_s3, options_override_environment)
{
	struct cfs_s3_config c;
	char dir[] = "/tmp/cfs-s3cred-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));

	/* Each override wins over its variable; the rest stays the
	 * environment's. */
	clear_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "ENVID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
	setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1", 1);
	setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
	setenv("CHRONOFS_S3_PATH_STYLE", "1", 1);
	struct cfs_objstore_options o = {.s3_endpoint = "https://s3.example.net/", .s3_ca_bundle = "/etc/ca.pem"};
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), 0);
	cr_assert_str_eq(c.endpoint, "https://s3.example.net");
	cr_assert_str_eq(c.region, "eu-west-3");
	cr_assert_str_eq(c.ca_file, "/etc/ca.pem");
	cr_assert_str_eq(c.key_id, "ENVID");
	cr_assert(c.path_style); /* CHRONOFS_S3_PATH_STYLE=1 */
	cfs_s3_config_release(&c);
	o.s3_path_style = CFS_S3_PATH_STYLE_AUTO; /* a host name: virtual host */
	o.s3_region = "auto";
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), 0);
	cr_assert_not(c.path_style);
	cr_assert_str_eq(c.region, "auto");
	cfs_s3_config_release(&c);
	o.s3_path_style = CFS_S3_PATH_STYLE_ON;
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), 0);
	cr_assert(c.path_style);
	cfs_s3_config_release(&c);

	/* A credentials file replaces all three credential variables: no
	 * token of the environment goes with its keys. Comments, blanks,
	 * quotes and other variables as systemd's EnvironmentFile= has them. */
	_cleanup_free_ char *cred = write_credentials(dir,
						      "# far\n; also a comment\n\n AWS_ACCESS_KEY_ID=FILEID\n"
						      "AWS_SECRET_ACCESS_KEY=\"FILE SECRET\"\nAWS_REGION=ignored\n",
						      0600);
	o.s3_credentials_file = cred;
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), 0);
	cr_assert_str_eq(c.key_id, "FILEID");
	cr_assert_str_eq(c.secret, "FILE SECRET");
	cr_assert_null(c.token);
	cr_assert_str_eq(c.region, "auto");
	cfs_s3_config_release(&c);

	/* Readable by others: refused, as ssh refuses such a key. */
	cr_assert_eq(chmod(cred, 0640), 0);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), -EACCES);
	cfs_s3_config_release(&c);
	/* No secret, a line that is no assignment, no file. */
	free(write_credentials(dir, "AWS_ACCESS_KEY_ID=X\n", 0600));
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), -EINVAL);
	cfs_s3_config_release(&c);
	free(write_credentials(dir, "AWS_ACCESS_KEY_ID=X\nAWS_SECRET_ACCESS_KEY=Y\ngarbage\n", 0600));
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), -EINVAL);
	cfs_s3_config_release(&c);
	cr_assert_eq(unlink(cred), 0);
	cr_assert_eq(cfs_s3_config_parse("s3://bucket/p", &c), 0);
	cr_assert_eq(cfs_s3_config_from_env(&c, &o), -ENOENT);
	cfs_s3_config_release(&c);
	cr_assert_eq(rmdir(dir), 0);
	clear_aws_env();
}

Test(objstore_s3, uri_encoding)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_s3_uri_encode("a/b c+d=é~_.-", true, &b), 0);
	cr_assert_eq(cfs_buf_append_u8(&b, 0), 0);
	cr_assert_str_eq((char *)b.data, "a/b%20c%2Bd%3D%C3%A9~_.-");
	cfs_buf_reset(&b);
	cr_assert_eq(cfs_s3_uri_encode("repos/one/", false, &b), 0);
	cr_assert_eq(cfs_buf_append_u8(&b, 0), 0);
	cr_assert_str_eq((char *)b.data, "repos%2Fone%2F");
}

/* The URLs sent: a bucket's own requests as the AWS SDKs send them
 * (/BUCKET?QUERY in path style: s3rver refuses a signed /BUCKET/?QUERY). */
Test(objstore_s3, request_urls)
{
	static const struct {
		const char *base;
		bool path_style;
		const char *key, *query, *want;
	} cases[] = {
		{"http://127.0.0.1:7480/bkt/", true, NULL, "list-type=2&prefix=p%2F",
		 "http://127.0.0.1:7480/bkt?list-type=2&prefix=p%2F"},
		{"http://127.0.0.1:7480/bkt/", true, NULL, "delete=", "http://127.0.0.1:7480/bkt?delete="},
		{"http://127.0.0.1:7480/bkt/", true, "p/data/a b", NULL, "http://127.0.0.1:7480/bkt/p/data/a%20b"},
		{"https://bkt.s3.eu-west-3.amazonaws.com/", false, NULL, "list-type=2",
		 "https://bkt.s3.eu-west-3.amazonaws.com/?list-type=2"},
		{"https://bkt.s3.eu-west-3.amazonaws.com/", false, "config", NULL,
		 "https://bkt.s3.eu-west-3.amazonaws.com/config"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		cr_assert_eq(cfs_s3_url(cases[i].base, cases[i].path_style, cases[i].key, cases[i].query, &b), 0);
		cr_assert_str_eq((char *)b.data, cases[i].want, "case %zu", i);
	}
}

struct listed {
	char names[8][64];
	uint64_t sizes[8];
	int n;
};

static int collect(const char *key, uint64_t size, void *ud)
{
	struct listed *l = ud;
	cr_assert_lt(l->n, 8);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", key);
	l->sizes[l->n++] = size;
	return 0;
}

Test(objstore_s3, list_parsing)
{
	_cleanup_buf_ struct cfs_buf token = CFS_BUF_INIT;
	struct listed l = {0};
	bool truncated;
	const char *page = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			   "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
			   "<NextContinuationToken>1ab&amp;/=</NextContinuationToken>"
			   "<Contents><Key>p/config</Key><LastModified>x</LastModified><Size>64</Size></Contents>"
			   "<Contents><Key>p/a&amp;b&#x20;c</Key><Size>12345678901</Size></Contents>"
			   "</ListBucketResult>";
	cr_assert_eq(cfs_s3_parse_list(page, strlen(page), collect, &l, &truncated, &token), 0);
	cr_assert(truncated);
	cr_assert_eq(token.len, 6);
	cr_assert_eq(memcmp(token.data, "1ab&/=", 6), 0);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.names[0], "p/config");
	cr_assert_eq(l.sizes[0], 64);
	cr_assert_str_eq(l.names[1], "p/a&b c");
	cr_assert_eq(l.sizes[1], 12345678901ull);

	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
	l.n = 0;
	cr_assert_eq(cfs_s3_parse_list(last, strlen(last), collect, &l, &truncated, &token), 0);
	cr_assert_not(truncated);
	cr_assert_eq(l.n, 0);
	/* Malformed: not a listing, a size that is not a number, truncated
	 * without a token, an unknown entity. */
	const char *bad[] = {
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&nbsp;b</Key><Size>1</Size></Contents></ListBucketResult>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert_eq(cfs_s3_parse_list(bad[i], strlen(bad[i]), collect, &l, &truncated, &token), -EPROTO,
			     "case %zu", i);
}

static int parse_list(const char *xml, struct listed *l, bool *truncated, struct cfs_buf *token)
{
	l->n = 0;
	return cfs_s3_parse_list(xml, strlen(xml), collect, l, truncated, token);
}

/* expat decodes what XML allows in a key: predefined entities, character
 * references, CDATA, UTF-8; any namespace prefix; unknown elements, however
 * deep, are skipped. */
Test(objstore_s3, list_xml_forms)
{
	_cleanup_buf_ struct cfs_buf token = CFS_BUF_INIT;
	struct listed l;
	bool truncated = true;

	const char *page =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<!-- a comment --><?pi data?>"
		"<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:Contents><s3:Key>a&amp;b&lt;c&gt;&quot;&apos;</s3:Key><s3:Size>1</s3:Size></s3:Contents>"
		"<s3:Contents><s3:Owner><s3:ID>x</s3:ID><s3:Key>decoy</s3:Key></s3:Owner>"
		"<s3:Key><![CDATA[p/<raw> & ]]>x</s3:Key><s3:Size> </s3:Size></s3:Contents>"
		"</s3:ListBucketResult>";
	/* A Size of a space is not a number. */
	cr_assert_eq(parse_list(page, &l, &truncated, &token), -EPROTO);

	page = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	       "<Contents><Key>a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;</Key><Size>1</Size></Contents>"
	       "<Contents><Owner><ID>x</ID><Key>decoy</Key></Owner><Key><![CDATA[p/<raw> & ]]>x</Key>"
	       "<Unknown><Deep><Deeper/></Deep></Unknown><Size>18446744073709551615</Size></Contents>"
	       "<Contents><Key>d\xc3\xa9j\xc3\xa0/\xe2\x82\xac</Key><Size>0</Size></Contents>"
	       "<IsTruncated>false</IsTruncated><Contents2><Key>no</Key><Size>1</Size></Contents2>"
	       "</ListBucketResult>";
	cr_assert_eq(parse_list(page, &l, &truncated, &token), 0);
	cr_assert_not(truncated);
	cr_assert_eq(token.len, 0);
	cr_assert_eq(l.n, 3);
	cr_assert_str_eq(l.names[0], "a&b<c>\"'AB");
	cr_assert_eq(l.sizes[0], 1);
	cr_assert_str_eq(l.names[1], "p/<raw> & x");
	cr_assert_eq(l.sizes[1], UINT64_MAX);
	cr_assert_str_eq(l.names[2], "d\xc3\xa9j\xc3\xa0/\xe2\x82\xac");
	cr_assert_eq(l.sizes[2], 0);

	/* An empty listing, with or without IsTruncated; a truncated one. */
	cr_assert_eq(parse_list("<ListBucketResult/>", &l, &truncated, &token), 0);
	cr_assert_not(truncated);
	cr_assert_eq(l.n, 0);
	cr_assert_eq(parse_list("<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>", &l, &truncated,
				&token), 0);
	cr_assert_eq(parse_list("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
				"t&lt;1</NextContinuationToken><Contents><Key>k</Key><Size>5</Size></Contents>"
				"</ListBucketResult>", &l, &truncated, &token), 0);
	cr_assert(truncated);
	cr_assert_str_eq((char *)token.data, "t<1");
	cr_assert_eq(token.len, 3);
	cr_assert_eq(l.n, 1);
}

static int stop_at_second(const char *key, uint64_t size, void *ud)
{
	int *calls = ud;
	(void)key;
	(void)size;
	return ++*calls == 2 ? -ECANCELED : 0;
}

Test(objstore_s3, list_xml_rejects)
{
	_cleanup_buf_ struct cfs_buf token = CFS_BUF_INIT;
	struct listed l;
	bool truncated = false;
	const char *bad[] = {
		"",
		"not xml",
		"<ListBucketResult>",                                   /* unterminated */
		"<ListBucketResult></ListBucketresult>",                /* mismatched */
		"<ListBucketResult></ListBucketResult><x/>",            /* two roots */
		"<Error><Code>AccessDenied</Code></Error>",             /* another root */
		"<x><ListBucketResult></ListBucketResult></x>",         /* not the root */
		"<p:ListBucketResult></p:ListBucketResult>",            /* unbound prefix */
		"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",   /* no Size */
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no Key */
		"<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size></Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents>"
		"</ListBucketResult>",                                  /* 2^64 */
		"<ListBucketResult><Contents><Key>k</Key><Key>k</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a<b/>c</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&nbsp;b</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",     /* no token */
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken/></ListBucketResult>",
		"<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><IsTruncated>false</IsTruncated></ListBucketResult>",
		/* a document type: entity expansion is refused before it starts */
		"<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
		"<ListBucketResult><Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<!DOCTYPE ListBucketResult SYSTEM \"file:///etc/passwd\"><ListBucketResult/>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_assert_eq(parse_list(bad[i], &l, &truncated, &token), -EPROTO, "case %zu", i);
		cr_assert_eq(l.n, 0, "case %zu: the callback ran on a refused page", i);
	}

	/* A key longer than any S3 key. */
	_cleanup_buf_ struct cfs_buf big = CFS_BUF_INIT;
	cr_assert_eq(cfs_buf_append(&big, "<ListBucketResult><Contents><Key>", 33), 0);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(cfs_buf_append_u8(&big, 'k'), 0);
	const char *tail = "</Key><Size>1</Size></Contents></ListBucketResult>";
	cr_assert_eq(cfs_buf_append(&big, tail, strlen(tail)), 0);
	cr_assert_eq(cfs_s3_parse_list((char *)big.data, big.len, collect, &l, &truncated, &token), -EPROTO);

	/* The callback's non-zero return stops the walk and is returned. */
	int calls = 0;
	const char *two = "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>"
			  "<Contents><Key>b</Key><Size>2</Size></Contents>"
			  "<Contents><Key>c</Key><Size>3</Size></Contents></ListBucketResult>";
	cr_assert_eq(cfs_s3_parse_list(two, strlen(two), stop_at_second, &calls, &truncated, &token), -ECANCELED);
	cr_assert_eq(calls, 2);
}

Test(objstore_s3, error_xml)
{
	_cleanup_buf_ struct cfs_buf code = CFS_BUF_INIT, msg = CFS_BUF_INIT;
	const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			   "<Error><Code>NoSuchKey</Code><Message>The key &lt;x&gt; does not exist.</Message>"
			   "<Resource>/b/x</Resource><RequestId>1</RequestId></Error>";

	cr_assert_eq(cfs_s3_parse_error(body, strlen(body), &code, &msg), 0);
	cr_assert_str_eq((char *)code.data, "NoSuchKey");
	cr_assert_str_eq((char *)msg.data, "The key <x> does not exist.");
	/* Fields may be missing: empty, NUL-terminated. */
	body = "<Error><Code>SlowDown</Code></Error>";
	cr_assert_eq(cfs_s3_parse_error(body, strlen(body), &code, &msg), 0);
	cr_assert_str_eq((char *)code.data, "SlowDown");
	cr_assert_eq(msg.len, 0);
	cr_assert_str_eq((char *)msg.data, "");
	const char *bad[] = {"", "<html>502 Bad Gateway</html>", "<Error><Code>x</Code>",
			     "<Error><Code>a</Code><Code>b</Code></Error>",
			     "<ListBucketResult/>"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(cfs_s3_parse_error(bad[i], strlen(bad[i]), &code, &msg), -EPROTO, "case %zu", i);
}

/* DeleteObjects answers: what each record says, in document order. */
struct del_records {
	char keys[8][64], codes[8][32], messages[8][64];
	bool error[8];
	size_t n, stop_at; /* stop_at: return -ECANCELED at that record (1-based), 0 never */
};

static int del_collect(const char *key, const char *code, const char *message, void *ud)
{
	struct del_records *d = ud;
	cr_assert_lt(d->n, 8);
	cr_assert_eq(code == NULL, message == NULL);
	snprintf(d->keys[d->n], sizeof(d->keys[0]), "%s", key);
	d->error[d->n] = code != NULL;
	snprintf(d->codes[d->n], sizeof(d->codes[0]), "%s", code ? code : "");
	snprintf(d->messages[d->n], sizeof(d->messages[0]), "%s", message ? message : "");
	d->n++;
	return d->stop_at && d->n == d->stop_at ? -ECANCELED : 0;
}

static int parse_delete(const char *xml, struct del_records *d)
{
	size_t stop = d->stop_at;
	memset(d, 0, sizeof(*d));
	d->stop_at = stop;
	return cfs_s3_parse_delete(xml, strlen(xml), del_collect, d);
}

Test(objstore_s3, delete_xml)
{
	struct del_records d = {0};

	/* As radosgw 16.2.15 answered (tests/integration/t6004): missing and
	 * duplicate keys are Deleted, an error has an empty VersionId. */
	const char *rgw = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			  "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<Error><Key>r4/locked/b</Key><VersionId></VersionId><Code>AccessDenied</Code>"
			  "<Message>AccessDenied</Message></Error>"
			  "<Deleted><Key>r4/c</Key></Deleted><Deleted><Key>r4/c</Key></Deleted></DeleteResult>";
	cr_assert_eq(parse_delete(rgw, &d), 0);
	cr_assert_eq(d.n, 3);
	cr_assert(d.error[0]);
	cr_assert_str_eq(d.keys[0], "r4/locked/b");
	cr_assert_str_eq(d.codes[0], "AccessDenied");
	cr_assert_str_eq(d.messages[0], "AccessDenied");
	cr_assert_not(d.error[1]);
	cr_assert_str_eq(d.keys[1], "r4/c");
	cr_assert_str_eq(d.keys[2], "r4/c");

	/* AWS's forms: version ids and delete markers, a prefix, entities and
	 * CDATA in keys, an Error without Message (""), decoys deeper down,
	 * an empty Key (a key, if not one asked for), a Quiet answer. */
	const char *aws = "<s3:DeleteResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<s3:Deleted><s3:Key>a&amp;b&lt;&#x41;</s3:Key><s3:VersionId>v1</s3:VersionId>"
			  "<s3:DeleteMarker>true</s3:DeleteMarker><s3:DeleteMarkerVersionId>m</s3:DeleteMarkerVersionId>"
			  "</s3:Deleted>"
			  "<s3:Error><s3:Key><![CDATA[x<y]]>\xc3\xa9</s3:Key><s3:Code>InternalError</s3:Code></s3:Error>"
			  "<s3:Other><s3:Deleted><s3:Key>decoy</s3:Key></s3:Deleted></s3:Other>"
			  "<s3:Deleted><s3:Info><s3:Key>decoy</s3:Key></s3:Info><s3:Key></s3:Key></s3:Deleted>"
			  "</s3:DeleteResult>";
	cr_assert_eq(parse_delete(aws, &d), 0);
	cr_assert_eq(d.n, 3);
	cr_assert_str_eq(d.keys[0], "a&b<A");
	cr_assert(d.error[1]);
	cr_assert_str_eq(d.keys[1], "x<y\xc3\xa9");
	cr_assert_str_eq(d.codes[1], "InternalError");
	cr_assert_str_eq(d.messages[1], "");
	cr_assert_str_eq(d.keys[2], "");
	cr_assert_eq(parse_delete("<DeleteResult/>", &d), 0);
	cr_assert_eq(d.n, 0);
	/* A Message of one record never shows in the next. */
	const char *two = "<DeleteResult><Error><Key>a</Key><Code>C</Code><Message>first</Message></Error>"
			  "<Error><Key>b</Key><Code>D</Code></Error></DeleteResult>";
	cr_assert_eq(parse_delete(two, &d), 0);
	cr_assert_str_eq(d.messages[0], "first");
	cr_assert_str_eq(d.messages[1], "");

	/* The callback's non-zero return stops and is returned. */
	d.stop_at = 2;
	cr_assert_eq(parse_delete(rgw, &d), -ECANCELED);
	cr_assert_eq(d.n, 2);
	d.stop_at = 0;

	/* Refused, and then the callback never ran (the good records before
	 * the fault included). */
	char long_key[5000];
	memcpy(long_key, "<DeleteResult><Deleted><Key>", 28);
	memset(long_key + 28, 'k', 4097);
	snprintf(long_key + 28 + 4097, sizeof(long_key) - 28 - 4097, "</Key></Deleted></DeleteResult>");
	const char *bad[] = {
		"",
		"<html>502 Bad Gateway</html>",
		"<Error><Code>InternalError</Code></Error>", /* an error body, not a result */
		"<ListBucketResult/>",
		"<DeleteResult><Deleted><Key>a</Key></Deleted>",       /* cut short */
		"<DeleteResult><Deleted><Key>a</Key></Deleted><Deleted></Deleted></DeleteResult>", /* no Key */
		"<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Code>X</Code></Error></DeleteResult>",
		"<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key></Error></DeleteResult>", /* no Code */
		"<DeleteResult><Deleted><Key>a</Key><Key>b</Key></Deleted></DeleteResult>",
		"<DeleteResult><Error><Key>a</Key><Code>X</Code><Code>Y</Code></Error></DeleteResult>",
		"<DeleteResult><Deleted><Key>a<b/></Key></Deleted></DeleteResult>",
		"<DeleteResult><Deleted><Key>a&nbsp;</Key></Deleted></DeleteResult>",
		"<DeleteResult><Deleted><Key>a&#0;</Key></Deleted></DeleteResult>",
		"<DeleteResult><Deleted><Key>a&#1;</Key></Deleted></DeleteResult>",
		"<DeleteResult><Deleted><Key>\xff</Key></Deleted></DeleteResult>",
		"<!DOCTYPE d [<!ENTITY e \"x\">]><DeleteResult><Deleted><Key>&e;</Key></Deleted></DeleteResult>",
		"<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult><DeleteResult/>",
		long_key,
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_assert_eq(parse_delete(bad[i], &d), -EPROTO, "case %zu", i);
		cr_assert_eq(d.n, 0, "case %zu: the callback ran", i);
	}
	/* Embedded NUL: the body's length, not strlen, is what is parsed. */
	const char nul[] = "<DeleteResult><Deleted><Key>a\0b</Key></Deleted></DeleteResult>";
	cr_assert_eq(cfs_s3_parse_delete(nul, sizeof(nul) - 1, del_collect, &d), -EPROTO);
	cr_assert_eq(cfs_s3_parse_delete(NULL, 0, del_collect, &d), -EPROTO);
	cr_assert_eq(cfs_s3_parse_delete(NULL, 1, del_collect, &d), -EINVAL);
}

/* Keys for a DeleteObjects request: what XML 1.0 can carry, escaped so that
 * the parser gives back the same bytes; the rest refused. */
Test(objstore_s3, xml_escape)
{
	static const char *const good[] = {
		"data/ab/0123", "a&b", "<x>", "\"q\" 'a'", "tab\there", "lf\nhere", "cr\rhere", "]]>",
		"\xc3\xa9t\xc3\xa9", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\x7f", "",
	};
	static const char *const bad[] = {
		"\x01", "a\x1f", "\x0b", "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xef\xbf\xbe", "\xef\xbf\xbf",
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		_cleanup_buf_ struct cfs_buf xml = CFS_BUF_INIT;
		struct del_records d = {0};
		size_t len = 5, len2 = 0;
		cr_assert_eq(cfs_buf_append(&xml, "<DeleteResult><Deleted><Key>", 28), 0);
		size_t before = xml.len;
		cr_assert_eq(cfs_s3_xml_escape(good[i], &xml, &len), 0, "case %zu", i);
		cr_assert_eq(len - 5, xml.len - before, "case %zu: the length is not what was appended", i);
		cr_assert_eq(cfs_s3_xml_escape(good[i], NULL, &len2), 0);
		cr_assert_eq(len2, len - 5, "case %zu: a different length without out", i);
		cr_assert_eq(cfs_buf_append(&xml, "</Key></Deleted></DeleteResult>", 31), 0);
		cr_assert_eq(cfs_s3_parse_delete((const char *)xml.data, xml.len, del_collect, &d), 0, "case %zu", i);
		cr_assert_eq(d.n, 1);
		cr_assert_str_eq(d.keys[0], good[i], "case %zu", i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_buf_ struct cfs_buf xml = CFS_BUF_INIT;
		size_t len = 0;
		cr_assert_eq(cfs_s3_xml_escape(bad[i], &xml, &len), -EINVAL, "case %zu", i);
		cr_assert_eq(xml.len, 0);
		cr_assert_eq(len, 0);
	}
}

/* The disk cache of blocks: a read fetches whole 4 MiB blocks and later
 * reads of them come from disk (here: after the object is gone from the
 * store), reads span blocks and stop at the object's end, the budget
 * holds (least recently used out), the order survives a reopen, a second
 * process is refused, and a cache left open by another boot is emptied. */
Test(objstore_diskcache, blocks_budget_reopen, .init = setup, .fini = teardown)
{
	const char *pack = "data/ab/abcdef";
	const size_t B = CFS_DISKCACHE_BLOCK, size = 2 * B + B / 2;
	char dir[256], path[512];
	struct cfs_objstore_cache_stats st;
	uint8_t *obj = malloc(size), *buf = malloc(2 * B);
	cr_assert(obj && buf);
	for (size_t i = 0; i < size; i++)
		obj[i] = (uint8_t)(i * 7 + i / 4099);
	snprintf(dir, sizeof(dir), "%s/dc", tmpdir);

	struct cfs_objstore *s = open_mem();
	cr_assert_eq(cfs_objstore_put(s, pack, obj, size), 0);
	cr_assert_eq(cfs_objstore_put(s, "index/x", obj, 10), 0);
	cr_assert_eq(cfs_objstore_disk_cache(s, dir, 2 * B + B / 4, false), 0);
	cr_assert_eq(cfs_objstore_disk_cache(s, dir, 100, false), -EINVAL); /* once */
	struct cfs_objstore *s2 = open_mem();
	cr_assert_eq(cfs_objstore_disk_cache(s2, dir, 100, false), -EBUSY);
	cfs_objstore_free(s2);

	/* Two small reads of block 0: one fetch. */
	cr_assert_eq(cfs_objstore_get_range(s, pack, 10, 12, buf), 0);
	cr_assert_arr_eq(buf, obj + 10, 12);
	cr_assert_eq(cfs_objstore_get_range(s, pack, B - 5, 5, buf), 0);
	cr_assert_arr_eq(buf, obj + B - 5, 5);
	cfs_objstore_disk_cache_stats(s, &st);
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.files, 1);
	cr_assert_eq(st.bytes, B);
	/* Across blocks 1 and 2 (the short last one), then past the end. */
	cr_assert_eq(cfs_objstore_get_range(s, pack, 2 * B - 100, 200, buf), 0);
	cr_assert_arr_eq(buf, obj + 2 * B - 100, 200);
	cr_assert_eq(cfs_objstore_get_range(s, pack, size - 10, 11, buf), -ERANGE);
	cr_assert_eq(cfs_objstore_get_range(s, pack, size, 1, buf), -ERANGE);
	cfs_objstore_disk_cache_stats(s, &st);
	/* 2.5 blocks do not fit 2.25: block 0, the least recently used, went. */
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.files, 2);
	cr_assert_eq(st.bytes, B + B / 2);

	/* Gone from the store, still read from disk; not data/: never kept. */
	cr_assert_eq(cfs_objstore_get_range(s, "index/x", 0, 10, buf), 0);
	cr_assert_eq(cfs_objstore_delete(s, pack), 0);
	cr_assert_eq(cfs_objstore_delete(s, "index/x"), 0);
	cr_assert_eq(cfs_objstore_get_range(s, pack, B + 1, B + B / 2 - 1, buf), 0);
	cr_assert_arr_eq(buf, obj + B + 1, B + B / 2 - 1);
	cr_assert_eq(cfs_objstore_get_range(s, pack, 0, 1, buf), -ENOENT); /* evicted, and gone */
	cr_assert_eq(cfs_objstore_get_range(s, "index/x", 0, 10, buf), -ENOENT);
	cfs_objstore_free(s);

	/* Reopened (a remount): what was kept is still there. */
	s = open_mem();
	cr_assert_eq(cfs_objstore_disk_cache(s, dir, 2 * B + B / 4, false), 0);
	cfs_objstore_disk_cache_stats(s, &st);
	cr_assert_eq(st.files, 2);
	cr_assert_eq(cfs_objstore_get_range(s, pack, 2 * B + 3, 30, buf), 0);
	cr_assert_arr_eq(buf, obj + 2 * B + 3, 30);
	cfs_objstore_free(s);

	/* Left open by another boot (the machine crashed): emptied. */
	snprintf(path, sizeof(path), "%s/state", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("00000000-0000-0000-0000-000000000000\n", f);
	fclose(f);
	s = open_mem();
	cr_assert_eq(cfs_objstore_disk_cache(s, dir, 2 * B + B / 4, false), 0);
	cfs_objstore_disk_cache_stats(s, &st);
	cr_assert_eq(st.files, 0);
	cr_assert_eq(cfs_objstore_get_range(s, pack, 10, 12, buf), -ENOENT);
	cfs_objstore_free(s);
	free(obj);
	free(buf);
}

/* Threads that miss the same block at once share one fetch. */
struct dc_thread {
	struct cfs_objstore *s;
	int result;
	uint8_t out[64];
};

static void *dc_reader(void *arg)
{
	struct dc_thread *t = arg;
	t->result = cfs_objstore_get_range(t->s, "data/cd/cdef", 1000, sizeof(t->out), t->out);
	return NULL;
}

Test(objstore_diskcache, one_fetch_per_block, .init = setup, .fini = teardown)
{
	char dir[256];
	struct cfs_objstore_cache_stats st;
	static uint8_t obj[100000];
	for (size_t i = 0; i < sizeof(obj); i++)
		obj[i] = (uint8_t)(i * 13);
	snprintf(dir, sizeof(dir), "%s/dc", tmpdir);
	struct cfs_objstore *s = open_mem();
	cr_assert_eq(cfs_objstore_put(s, "data/cd/cdef", obj, sizeof(obj)), 0);
	cr_assert_eq(cfs_objstore_disk_cache(s, dir, 64u << 20, false), 0);
	pthread_t th[8];
	struct dc_thread t[8];
	for (int i = 0; i < 8; i++) {
		t[i].s = s;
		cr_assert_eq(pthread_create(&th[i], NULL, dc_reader, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].result, 0);
		cr_assert_arr_eq(t[i].out, obj + 1000, sizeof(t[i].out));
	}
	cfs_objstore_disk_cache_stats(s, &st);
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.hits, 7);
	cfs_objstore_free(s);
}

/* ---- the fault-injecting wrapper (faulty.c) ---- */

#ifdef CFS_FAULT_INJECTION
#include <sys/wait.h>

/*
 * A fixed sequence of mutating operations, through the backend's own calls
 * (below objstore.c's checks, so what is seen is faulty.c's doing). A
 * commit is a streamed upload where the backend has them, else the put
 * objstore.c would make of it.
 */
enum seq_op { SEQ_PUT, SEQ_PUT_NEW, SEQ_COMMIT, SEQ_DELETE };
static const struct {
	enum seq_op op;
	const char *name, *text;
} seq[] = {
	{SEQ_PUT, "config", "config bytes"},
	{SEQ_PUT_NEW, "locks/l1", "lock one"},
	{SEQ_COMMIT, "data/ab/pack1", "the bytes of pack one"},
	{SEQ_DELETE, "locks/l1", NULL},
	{SEQ_PUT, "index/i1", "index object"},
};
#define SEQ_N ARRAY_SIZE(seq)

static int raw_op(struct cfs_objstore *s, size_t i)
{
	const char *name = seq[i].name, *text = seq[i].text;
	void *h = NULL;
	int r;

	switch (seq[i].op) {
	case SEQ_PUT:
		return s->ops->put(s->impl, name, text, strlen(text));
	case SEQ_PUT_NEW:
		return s->ops->put_new(s->impl, name, text, strlen(text));
	case SEQ_DELETE:
		return s->ops->delete(s->impl, name);
	case SEQ_COMMIT:
		if (!s->ops->upload_begin)
			return s->ops->put(s->impl, name, text, strlen(text));
		r = s->ops->upload_begin(s->impl, &h);
		if (r == 0)
			r = s->ops->upload_append(s->impl, h, text, strlen(text));
		if (r == 0)
			r = s->ops->upload_commit(s->impl, h, name);
		if (h)
			s->ops->upload_free(s->impl, h);
		return r;
	}
	return -EINVAL;
}

/* What name should hold after the sequence with kind at operation n
 * (1-based; kind "" for none): its bytes in *want (NULL: absent). */
static size_t expected(const char *kind, size_t n, const char *name, const char **want)
{
	size_t len = 0;
	*want = NULL;
	bool off = false; /* the power went */
	for (size_t i = 0; i < SEQ_N; i++) {
		bool here = i + 1 == n, power = strcmp(kind, "powerloss") == 0 || strcmp(kind, "powerloss-tmp") == 0 ||
						strcmp(kind, "torn") == 0;
		if (off)
			break;
		if (here && power)
			off = true;
		if (strcmp(seq[i].name, name) != 0)
			continue;
		if (seq[i].op == SEQ_DELETE) {
			if (!(here && (power || strcmp(kind, "fail") == 0)))
				*want = NULL;
			continue;
		}
		if (here && (strcmp(kind, "fail") == 0 || strcmp(kind, "powerloss") == 0 ||
			     strcmp(kind, "powerloss-tmp") == 0))
			continue;
		*want = seq[i].text;
		len = strlen(seq[i].text);
		if (here && (strcmp(kind, "short") == 0 || strcmp(kind, "torn") == 0))
			len /= 2;
	}
	return len;
}

static void expect_state(struct cfs_objstore *s, const char *kind, size_t n)
{
	static const char *const names[] = {"config", "locks/l1", "data/ab/pack1", "index/i1"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		const char *want;
		size_t len = expected(kind, n, names[i], &want);
		int r = cfs_objstore_get(s, names[i], &b);
		if (!want) {
			cr_assert_eq(r, -ENOENT, "%s@%zu: %s should be absent (get: %d)", kind, n, names[i], r);
			continue;
		}
		cr_assert_eq(r, 0, "%s@%zu: %s missing", kind, n, names[i]);
		cr_assert_eq(b.len, len, "%s@%zu: %s has %zu bytes, expected %zu", kind, n, names[i], b.len, len);
		cr_assert(len == 0 || memcmp(b.data, want, len) == 0, "%s@%zu: %s: wrong bytes", kind, n, names[i]);
	}
}

static void run_kind(struct cfs_objstore *(*open_fn)(void), const char *kind)
{
	for (size_t n = 1; n <= SEQ_N + 1; n++) {
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_fn();
		char spec[64];
		bool power = strcmp(kind, "powerloss") == 0 || strcmp(kind, "powerloss-tmp") == 0 ||
			     strcmp(kind, "torn") == 0;
		snprintf(spec, sizeof(spec), "%s@%zu", kind, n);
		cr_assert_eq(cfs_objstore_faulty_arm(s, spec, NULL, CFS_FAULTY_NO_EXIT), 0, "%s", spec);
		for (size_t i = 0; i < SEQ_N; i++) {
			int r = raw_op(s, i), want = 0;
			if (i + 1 == n && strcmp(kind, "fail") == 0)
				want = -EIO;
			/* The delete of a lock whose put_new failed. */
			if (seq[i].op == SEQ_DELETE && n < i + 1 && strcmp(seq[n - 1].name, seq[i].name) == 0 &&
			    strcmp(kind, "fail") == 0)
				want = -ENOENT;
			if (i + 1 >= n && power)
				want = -ECANCELED;
			cr_assert_eq(r, want, "%s: operation %zu (%s) returned %d, expected %d", spec, i + 1, seq[i].name,
				     r, want);
		}
		expect_state(s, kind, n);
		/* Without a local root, powerloss-tmp leaves no file anywhere. */
		if (open_fn == open_local)
			cr_assert_eq(count_tmp(), 0, "%s", spec);
		s = cfs_objstore_free(s);
		teardown();
		setup();
	}
}

#define FAULTY_KIND(kind_id, kind)                                             \
	Test(objstore_faulty, kind_id##_mem, .init = setup, .fini = teardown)  \
	{                                                                      \
		run_kind(open_mem, kind);                                      \
	}                                                                      \
	Test(objstore_faulty, kind_id##_local, .init = setup, .fini = teardown) \
	{                                                                      \
		run_kind(open_local, kind);                                    \
	}

FAULTY_KIND(fail, "fail")
FAULTY_KIND(short, "short")
FAULTY_KIND(powerloss, "powerloss")
FAULTY_KIND(powerloss_tmp, "powerloss-tmp")
FAULTY_KIND(torn, "torn")

Test(objstore_faulty, spec_syntax, .init = setup, .fini = teardown)
{
	static const char *const bad[] = {
		"fail", "fail@", "fail@0", "fail@-1", "fail@1x", "@3", "crash@1", "fail@1,,short@2", ",fail@1",
		"trace=", "FAIL@1", "fail@ 1", "fail@99999999999999999999999",
	};
	char good[300];
	snprintf(good, sizeof(good), "fail@1,short@2,powerloss@3,powerloss-tmp@4,torn@5,trace=%s/trace", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_mem();
		const struct cfs_objstore_ops *ops = s->ops;
		cr_assert_eq(cfs_objstore_faulty_arm(s, bad[i], NULL, 0), -EINVAL, "\"%s\" accepted", bad[i]);
		cr_assert_eq(s->ops, ops, "\"%s\": the store changed although refused", bad[i]);
	}
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_mem();
	cr_assert_eq(cfs_objstore_faulty_arm(s, good, NULL, 0), 0);
	/* A trailing comma is tolerated (specs are often built in loops). */
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *t = open_mem();
	cr_assert_eq(cfs_objstore_faulty_arm(t, "fail@1,", NULL, 0), 0);
}

/* The hook in cfs_objstore_open(): unset, nothing is wrapped; malformed,
 * the open fails; set, the store fails where told, reads pass through. */
Test(objstore_faulty, armed_by_environment, .init = setup, .fini = teardown)
{
	struct cfs_objstore *s = NULL;
	const struct cfs_objstore_ops *plain;

	unsetenv("CHRONOFS_OBJSTORE_FAULT");
	s = open_mem();
	plain = s->ops;
	cfs_objstore_free(s);
	setenv("CHRONOFS_OBJSTORE_FAULT", "fail@", 1);
	s = NULL;
	cr_assert_eq(cfs_objstore_open("mem:", false, &s), -EINVAL);
	cr_assert_null(s);
	setenv("CHRONOFS_OBJSTORE_FAULT", "fail@2", 1);
	s = open_local();
	cr_assert_neq(s->ops, plain);
	cr_assert_eq(cfs_objstore_put(s, "a", "1", 1), 0);
	cr_assert_eq(cfs_objstore_put(s, "b", "2", 1), -EIO);
	cr_assert_eq(cfs_objstore_put(s, "c", "3", 1), 0);
	expect_content(s, "a", "1");
	expect_content(s, "c", "3");
	struct collected c;
	cr_assert_eq(list_count(s, "", &c), 2);
	cfs_objstore_free(s);
	unsetenv("CHRONOFS_OBJSTORE_FAULT");
}

Test(objstore_faulty, trace, .init = setup, .fini = teardown)
{
	char spec[300], path[200], line[256];
	snprintf(path, sizeof(path), "%s/trace", tmpdir);
	snprintf(spec, sizeof(spec), "trace=%s,fail@3", path);
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
	cr_assert_eq(cfs_objstore_faulty_arm(s, spec, NULL, 0), 0);
	for (size_t i = 0; i < SEQ_N; i++)
		(void)raw_op(s, i);
	/* Reads are not counted. */
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_objstore_get(s, "config", &b), 0);
	static const char *const want[] = {
		"1 put config 12 - 0\n",
		"2 put_new locks/l1 8 - 0\n",
		"3 commit data/ab/pack1 21 fail -5\n",
		"4 delete locks/l1 0 - 0\n",
		"5 put index/i1 12 - 0\n",
	};
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		cr_assert_not_null(fgets(line, sizeof(line), f), "trace line %zu missing", i + 1);
		cr_assert_str_eq(line, want[i]);
	}
	cr_assert_null(fgets(line, sizeof(line), f), "extra trace line: %s", line);
	fclose(f);

	/* The operation the power went in says so; nothing follows it. */
	snprintf(path, sizeof(path), "%s/trace2", tmpdir);
	snprintf(spec, sizeof(spec), "powerloss@2,trace=%s", path);
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *t = open_mem();
	cr_assert_eq(cfs_objstore_faulty_arm(t, spec, NULL, CFS_FAULTY_NO_EXIT), 0);
	for (size_t i = 0; i < SEQ_N; i++)
		(void)raw_op(t, i);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	cr_assert_str_eq(line, "1 put config 12 - 0\n");
	cr_assert_not_null(fgets(line, sizeof(line), f));
	cr_assert_str_eq(line, "2 put_new locks/l1 8 powerloss lost\n");
	cr_assert_null(fgets(line, sizeof(line), f), "extra trace line: %s", line);
	fclose(f);
}

/*
 * What objstore.c makes of a store that keeps only part of an object and
 * says it kept it all: a put, put_new or buffered commit stores it again
 * (the bytes are at hand) and fails with -EIO if that is short too; a
 * streamed commit removes what the store kept and fails.
 */
static void check_short_puts(struct cfs_objstore *(*open_fn)(void), bool streams)
{
	struct cfs_objstore_upload *u = NULL;
	struct collected c;
	{
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_fn();
		cr_assert_eq(cfs_objstore_faulty_arm(s, "short@1,short@3,short@5", NULL, 0), 0);
		cr_assert_eq(cfs_objstore_put(s, "index/a", "twelve bytes", 12), 0);
		expect_content(s, "index/a", "twelve bytes");
		cr_assert_eq(cfs_objstore_put_new(s, "locks/b", "lock body", 9), 0);
		expect_content(s, "locks/b", "lock body");
		cr_assert_eq(cfs_objstore_upload_begin(s, &u), 0);
		cr_assert_eq(cfs_objstore_upload_append(u, "pack bytes", 10), 0);
		int r = cfs_objstore_upload_commit(u, "data/cc/c");
		u = cfs_objstore_upload_free(u);
		if (streams) {
			cr_assert_eq(r, -EIO);
			cr_assert_eq(list_count(s, "data/", &c), 0, "the short pack was left");
		} else {
			cr_assert_eq(r, 0);
			expect_content(s, "data/cc/c", "pack bytes");
		}
	}
	{
		/* Short twice in a row: given up. */
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_fn();
		cr_assert_eq(cfs_objstore_faulty_arm(s, "short@1,short@2", NULL, 0), 0);
		cr_assert_eq(cfs_objstore_put(s, "index/a", "twelve bytes", 12), -EIO);
	}
}

Test(objstore_faulty, short_puts_are_caught_mem, .init = setup, .fini = teardown)
{
	check_short_puts(open_mem, false);
}

Test(objstore_faulty, short_puts_are_caught_local, .init = setup, .fini = teardown)
{
	check_short_puts(open_local, true);
}

/*
 * The real thing: the process ends with CFS_FAULT_CRASH_STATUS at the Nth
 * operation, armed through the environment as chronoctl is; the parent
 * finds on disk what a power loss would have left.
 */
static int crash_child(const char *spec)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct cfs_objstore *s = NULL;
		setenv("CHRONOFS_OBJSTORE_FAULT", spec, 1);
		if (cfs_objstore_open(repodir, true, &s) < 0)
			_exit(2);
		for (size_t i = 0; i < SEQ_N; i++)
			if (raw_op(s, i) < 0)
				_exit(3);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "%s: the child did not exit", spec);
	return WEXITSTATUS(status);
}

/* The temporary files under the root, and the bytes of the one there is. */
static int tmp_files(char *ret_path, size_t len)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "find '%s' -name '.tmp.*' | head -n 1", repodir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	ret_path[0] = 0;
	if (fgets(ret_path, (int)len, f))
		ret_path[strcspn(ret_path, "\n")] = 0;
	pclose(f);
	return count_tmp();
}

Test(objstore_faulty, local_power_loss_ends_the_process, .init = setup, .fini = teardown)
{
	static const char *const kinds[] = {"powerloss", "powerloss-tmp", "torn"};
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		for (size_t n = 1; n <= SEQ_N; n++) {
			char spec[64], tmp[512];
			snprintf(spec, sizeof(spec), "%s@%zu", kinds[k], n);
			cr_assert_eq(crash_child(spec), CFS_FAULT_CRASH_STATUS, "%s", spec);
			_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_local();
			expect_state(s, kinds[k], n);
			int tmps = tmp_files(tmp, sizeof(tmp));
			bool leaves_tmp = strcmp(kinds[k], "powerloss-tmp") == 0 && seq[n - 1].op != SEQ_DELETE;
			cr_assert_eq(tmps, leaves_tmp ? 1 : 0, "%s: %d temporary files", spec, tmps);
			if (leaves_tmp) {
				/* The whole object, fsynced, in the directory the put
				 * would have renamed it in (a streamed upload: the
				 * root), and never listed. */
				char dir[256], *slash = strrchr(tmp, '/');
				const char *name = seq[n - 1].name, *nslash = strrchr(name, '/');
				cr_assert_not_null(slash);
				if (seq[n - 1].op == SEQ_COMMIT || !nslash)
					snprintf(dir, sizeof(dir), "%s", repodir);
				else
					snprintf(dir, sizeof(dir), "%s/%.*s", repodir, (int)(nslash - name), name);
				cr_assert_eq((size_t)(slash - tmp), strlen(dir), "%s: temporary %s", spec, tmp);
				cr_assert_eq(strncmp(tmp, dir, strlen(dir)), 0, "%s: temporary %s", spec, tmp);
				_cleanup_free_ char *bytes = NULL;
				size_t len = 0;
				cr_assert_eq(cfs_read_file(tmp, false, &bytes, &len), 0);
				cr_assert_eq(len, strlen(seq[n - 1].text));
				cr_assert_eq(memcmp(bytes, seq[n - 1].text, len), 0);
			}
			s = cfs_objstore_free(s);
			teardown();
			setup();
		}
	}
	/* Armed past the end: the child runs through. */
	cr_assert_eq(crash_child("powerloss@6"), 0);
}
/*
 * A batched delete counts one mutating operation per name: a fault at N
 * in the middle of a batch fails that name; fail (-EIO) leaves every
 * other name deleted, a power loss (-ECANCELED, and then every later
 * operation) leaves the names before N deleted and N and the rest not.
 * The same over a backend with its own delete_many (mem, local) and over
 * one without (the wrappers' fallback underneath).
 */
static void check_delete_many_faults(struct cfs_objstore *(*open_fn)(void), bool strip_batch)
{
	static const char *const kinds[] = {"fail", "powerloss", "short"};
	char names[10][32], path[256], spec[300], line[128];
	const char *v[10];
	int errs[10];

	for (size_t i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "data/%02zx/p%zu", i % 3, i);
		v[i] = names[i];
	}
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = open_fn();
		struct cfs_objstore_ops ops = *s->ops;
		bool fail = strcmp(kinds[k], "fail") == 0, power = strcmp(kinds[k], "powerloss") == 0;
		if (strip_batch) {
			ops.delete_many = NULL;
			s->ops = &ops;
		}
		for (size_t i = 0; i < 10; i++)
			if (i != 2) /* one missing: still an operation */
				cr_assert_eq(cfs_objstore_put(s, names[i], "p", 1), 0);
		/* Counting starts when armed. */
		snprintf(path, sizeof(path), "%s/trace-%s", tmpdir, kinds[k]);
		snprintf(spec, sizeof(spec), "%s@5,trace=%s", kinds[k], path);
		cr_assert_eq(cfs_objstore_faulty_arm(s, spec, NULL, CFS_FAULTY_NO_EXIT), 0);
		int r = cfs_objstore_delete_many(s, v, 10, errs);
		cr_assert_eq(r, fail ? -EIO : power ? -ECANCELED : 0, "%s: %d", spec, r);
		for (size_t i = 0; i < 10; i++) {
			int want = i < 4 || (!power && i > 4) ? 0 : fail ? -EIO : power ? -ECANCELED : 0;
			cr_assert_eq(errs[i], want, "%s: %s: %d", spec, names[i], errs[i]);
		}
		struct collected c;
		size_t left = fail ? 1 : power ? 6 : 0;
		cr_assert_eq(list_count(s, "data/", &c), left, "%s", spec);
		for (size_t i = 0; i < left; i++)
			cr_assert(collected_has(&c, names[4 + i], 1), "%s: %s", spec, names[4 + i]);

		/* One trace line per name that reached a decision, in order. */
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f);
		for (size_t i = 0; i < (power ? 5 : 10); i++) {
			char expect[128];
			const char *end = i != 4 ? "- 0" : fail ? "fail -5" : power ? "powerloss lost" : "short 0";
			snprintf(expect, sizeof(expect), "%zu delete %s 0 %s\n", i + 1, names[i], end);
			cr_assert_not_null(fgets(line, sizeof(line), f), "%s: trace line %zu missing", spec, i + 1);
			cr_assert_str_eq(line, expect, "%s", spec);
		}
		cr_assert_null(fgets(line, sizeof(line), f), "%s: extra trace line: %s", spec, line);
		fclose(f);

		/* Again: the rest goes, unless the power is off. */
		r = cfs_objstore_delete_many(s, v, 10, errs);
		if (power) {
			cr_assert_eq(r, -ECANCELED);
			cr_assert_eq(errs[0], -ECANCELED);
		} else {
			cr_assert_eq(r, 0, "%s: again %d", spec, r);
			cr_assert_eq(list_count(s, "data/", &c), 0);
		}
	}
}

Test(objstore_faulty, delete_many_mid_batch_mem, .init = setup, .fini = teardown)
{
	check_delete_many_faults(open_mem, false);
}

Test(objstore_faulty, delete_many_mid_batch_local, .init = setup, .fini = teardown)
{
	check_delete_many_faults(open_local, false);
}

Test(objstore_faulty, delete_many_mid_batch_fallback, .init = setup, .fini = teardown)
{
	check_delete_many_faults(open_mem, true);
}
#endif
