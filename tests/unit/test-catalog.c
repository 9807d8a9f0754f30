/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Only to write a catalog as older versions did (old_catalog_with_trees_opens). */
#include <rocksdb/c.h>

#include "catalog/catalog-internal.h"
#include "chronofs/catalog.h"
#include "chronofs/util.h"

/* The fixture owns a temp directory; the catalog lives in <tmp>/cat. */
static char tmpdir[64];
static char catdir[128];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test-catalog-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(catdir, sizeof(catdir), "%s/cat", tmpdir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct cfs_id make_id(uint8_t tag, uint32_t n)
{
	struct cfs_id id;
	memset(id.b, tag, sizeof(id.b));
	/* Big-endian counter at the front so key order follows n. */
	id.b[0] = (uint8_t)(n >> 24);
	id.b[1] = (uint8_t)(n >> 16);
	id.b[2] = (uint8_t)(n >> 8);
	id.b[3] = (uint8_t)n;
	return id;
}

static struct cfs_blob_loc make_loc(uint32_t n)
{
	struct cfs_blob_loc loc = {
		.pack = make_id(0xab, n),
		.offset = 0x0102030405060708ull + n,
		.stored_len = 0x11223344u + n,
		.raw_len = 0x55667788u + n,
		.type = (uint8_t)(1 + n % 3),
		.codec = (uint8_t)(n % 2),
	};
	return loc;
}

static void assert_loc_eq(const struct cfs_blob_loc *a, const struct cfs_blob_loc *b)
{
	cr_assert(memcmp(a->pack.b, b->pack.b, CFS_ID_SIZE) == 0);
	cr_assert_eq(a->offset, b->offset);
	cr_assert_eq(a->stored_len, b->stored_len);
	cr_assert_eq(a->raw_len, b->raw_len);
	cr_assert_eq(a->type, b->type);
	cr_assert_eq(a->codec, b->codec);
}

static struct cfs_catalog *open_cat(void)
{
	struct cfs_catalog *c = NULL;
	cr_assert_eq(cfs_catalog_open(catdir, &c), 0);
	cr_assert_not_null(c);
	return c;
}

static void commit(struct cfs_catalog *c, struct cfs_catalog_batch *b)
{
	cr_assert_eq(cfs_catalog_commit(c, b), 0);
	cr_assert_eq(cfs_catalog_batch_count(b), 0);
}

static mode_t dir_mode(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	return st.st_mode & 07777;
}

Test(catalog, open_creates_dir_0700, .init = setup, .fini = teardown)
{
	snprintf(catdir, sizeof(catdir), "%s/a/b/cat", tmpdir);
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	cr_assert_eq(dir_mode(catdir), 0700);
}

Test(catalog, open_tightens_loose_dir, .init = setup, .fini = teardown)
{
	cr_assert_eq(mkdir(catdir, 0755), 0);
	cr_assert_eq(chmod(catdir, 0755), 0);
	cr_assert_eq(dir_mode(catdir), 0755);
	struct cfs_catalog *c = open_cat();
	cr_assert_eq(dir_mode(catdir), 0700);
	c = cfs_catalog_free(c);
	cr_assert_null(c);

	/* Loosened again between runs: the next open fixes it again. */
	cr_assert_eq(chmod(catdir, 0777), 0);
	c = open_cat();
	cr_assert_eq(dir_mode(catdir), 0700);
	cfs_catalog_free(c);
}

Test(catalog, open_errors, .init = setup, .fini = teardown)
{
	struct cfs_catalog *c = NULL;
	cr_assert_eq(cfs_catalog_open(NULL, &c), -EINVAL);
	cr_assert_eq(cfs_catalog_open(catdir, NULL), -EINVAL);

	/* A regular file where the directory should be. */
	int fd = open(catdir, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(cfs_catalog_open(catdir, &c), -ENOTDIR);
	cr_assert_null(c);
	cr_assert_eq(unlink(catdir), 0);

	/* A directory RocksDB cannot make sense of (CURRENT names a missing
	 * manifest): a backend failure, not -EBUSY. */
	cr_assert_eq(mkdir(catdir, 0700), 0);
	char p[192];
	snprintf(p, sizeof(p), "%s/CURRENT", catdir);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "MANIFEST-000099\n", 16), 16);
	close(fd);
	cr_assert_eq(cfs_catalog_open(catdir, &c), -EIO);
	cr_assert_null(c);
}

Test(catalog, free_accepts_null)
{
	cr_assert_null(cfs_catalog_free(NULL));
	cr_assert_null(cfs_catalog_batch_free(NULL));
	struct cfs_catalog *c = NULL;
	cfs_catalog_freep(&c);
	cr_assert_eq(cfs_catalog_batch_count(NULL), 0);
}

Test(catalog, blob_put_get, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	struct cfs_id id = make_id(1, 7), other = make_id(1, 8);
	struct cfs_blob_loc loc = make_loc(7), got;
	/* Extreme values survive the fixed-width encoding. */
	loc.offset = UINT64_MAX;
	loc.stored_len = UINT32_MAX;
	loc.raw_len = 0;
	loc.type = 0xff;
	loc.codec = 0xfe;
	cfs_catalog_batch_put_blob(b, &id, &loc);
	cr_assert_eq(cfs_catalog_batch_count(b), 1);
	commit(c, b);

	memset(&got, 0, sizeof(got));
	cr_assert_eq(cfs_catalog_blob_get(c, &id, &got), 0);
	assert_loc_eq(&got, &loc);

	struct cfs_blob_loc untouched = make_loc(99), before = untouched;
	cr_assert_eq(cfs_catalog_blob_get(c, &other, &untouched), -ENOENT);
	assert_loc_eq(&untouched, &before); /* out-param written only on success */

	/* Overwrite. */
	struct cfs_blob_loc loc2 = make_loc(3);
	cfs_catalog_batch_put_blob(b, &id, &loc2);
	commit(c, b);
	cr_assert_eq(cfs_catalog_blob_get(c, &id, &got), 0);
	assert_loc_eq(&got, &loc2);

	cr_assert_eq(cfs_catalog_blob_get(NULL, &id, &got), -EINVAL);
	cr_assert_eq(cfs_catalog_blob_get(c, NULL, &got), -EINVAL);
}

/* The cursor answers as point reads: ascending, the same id twice, going
 * back, missing ids between, before and after every key, and a value
 * damaged on disk; its view is the catalog at its creation. */
Test(catalog, cursor_blob_get_answers_as_point_reads, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_(cfs_catalog_cursor_freep) struct cfs_catalog_cursor *cur = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);
	for (uint32_t n = 10; n < 1000; n += 2) {
		struct cfs_id id = make_id(2, n);
		struct cfs_blob_loc loc = make_loc(n);
		cfs_catalog_batch_put_blob(b, &id, &loc);
	}
	struct cfs_id bad = make_id(2, 501);
	uint8_t v[64] = {0};
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, bad.b, CFS_ID_SIZE, v, 55);
	commit(c, b);

	cr_assert_eq(cfs_catalog_cursor_new(c, &cur), 0);
	/* Written after the cursor: not in its view. */
	struct cfs_id later = make_id(2, 11);
	struct cfs_blob_loc later_loc = make_loc(11);
	cfs_catalog_batch_put_blob(b, &later, &later_loc);
	commit(c, b);

	uint32_t order[] = {0, 9, 10, 10, 11, 12, 13, 500, 501, 502, 998, 999, 5000, 12, 10, 600, 2};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct cfs_id id = make_id(2, order[i]);
		struct cfs_blob_loc got = make_loc(7), want = make_loc(order[i]), untouched = got;
		int r = cfs_catalog_cursor_blob_get(cur, &id, &got);
		if (order[i] == 501) {
			cr_assert_eq(r, -EPROTO);
			assert_loc_eq(&got, &untouched);
		} else if (order[i] >= 10 && order[i] < 1000 && order[i] % 2 == 0) {
			cr_assert_eq(r, 0, "id %u: %d", order[i], r);
			assert_loc_eq(&got, &want);
		} else {
			cr_assert_eq(r, -ENOENT, "id %u", order[i]);
			assert_loc_eq(&got, &untouched);
		}
	}
	struct cfs_blob_loc got;
	cr_assert_eq(cfs_catalog_blob_get(c, &later, &got), 0);
	cr_assert_eq(cfs_catalog_cursor_blob_get(NULL, &later, &got), -EINVAL);
	cr_assert_eq(cfs_catalog_cursor_new(NULL, &cur), -EINVAL);
	cr_assert_null(cfs_catalog_cursor_free(NULL));
}

Test(catalog, pack_put_get, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	struct cfs_id p = make_id(2, 1);
	struct cfs_pack_info info = {.size = 0xfedcba9876543210ull, .count = 0x89abcdefu}, got = {0};
	cfs_catalog_batch_put_pack(b, &p, &info);
	commit(c, b);
	cr_assert_eq(cfs_catalog_pack_get(c, &p, &got), 0);
	cr_assert_eq(got.size, info.size);
	cr_assert_eq(got.count, info.count);

	struct cfs_id absent = make_id(2, 2);
	cr_assert_eq(cfs_catalog_pack_get(c, &absent, &got), -ENOENT);
	/* Same id in another column family is a different key. */
	cr_assert_eq(cfs_catalog_blob_get(c, &p, &(struct cfs_blob_loc){0}), -ENOENT);
}

Test(catalog, snapshot_meta_put_get_delete, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	struct cfs_id s = make_id(3, 1), t = make_id(4, 1);
	static const char manifest[] = "manifest bytes\0with a NUL";
	uint8_t big[5000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	cfs_catalog_batch_put_snapshot(b, &s, manifest, sizeof(manifest));
	cfs_catalog_batch_put_meta(b, "big", big, sizeof(big));
	cfs_catalog_batch_put_meta(b, "index/abc", "x", 1);
	cfs_catalog_batch_put_meta(b, "empty", NULL, 0);
	cr_assert_eq(cfs_catalog_batch_count(b), 4);
	commit(c, b);

	/* out is reset first: stale contents must not leak into the result. */
	cr_assert_eq(cfs_buf_append(&out, "junkjunk", 8), 0);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), 0);
	cr_assert_eq(out.len, sizeof(manifest));
	cr_assert(memcmp(out.data, manifest, sizeof(manifest)) == 0);

	cr_assert_eq(cfs_catalog_meta_get(c, "big", &out), 0);
	cr_assert_eq(out.len, sizeof(big));
	cr_assert(memcmp(out.data, big, sizeof(big)) == 0);

	cr_assert_eq(cfs_catalog_meta_get(c, "index/abc", &out), 0);
	cr_assert_eq(out.len, 1);
	cr_assert_eq(out.data[0], 'x');
	cr_assert_eq(cfs_catalog_meta_get(c, "empty", &out), 0);
	cr_assert_eq(out.len, 0);

	/* Absent keys, including ids present in other column families. */
	cr_assert_eq(cfs_catalog_snapshot_get(c, &t, &out), -ENOENT);
	cr_assert_eq(out.len, 0);
	cr_assert_eq(cfs_catalog_meta_get(c, "index/ab", &out), -ENOENT);
	cr_assert_eq(cfs_catalog_meta_get(c, "index/abcd", &out), -ENOENT);

	cfs_catalog_batch_delete_snapshot(b, &s);
	cfs_catalog_batch_delete_meta(b, "index/abc");
	/* Deleting an absent key is fine. */
	cfs_catalog_batch_delete_meta(b, "never-there");
	commit(c, b);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), -ENOENT);
	cr_assert_eq(cfs_catalog_meta_get(c, "index/abc", &out), -ENOENT);
	cr_assert_eq(cfs_catalog_meta_get(c, "big", &out), 0);

	cr_assert_eq(cfs_catalog_meta_get(c, NULL, &out), -EINVAL);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, NULL), -EINVAL);
}

struct collect {
	size_t n;
	size_t stop_at; /* return stop_ret at this visit (1-based); 0 = never */
	int stop_ret;
	struct cfs_id ids[64];
	char keys[16][40];
	size_t vlens[64];
};

static int blob_cb(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud)
{
	struct collect *col = ud;
	cr_assert_lt(col->n, ARRAY_SIZE(col->ids));
	col->ids[col->n++] = *id;
	uint32_t n = (uint32_t)id->b[0] << 24 | (uint32_t)id->b[1] << 16 | (uint32_t)id->b[2] << 8 | id->b[3];
	struct cfs_blob_loc want = make_loc(n);
	assert_loc_eq(loc, &want);
	return col->n == col->stop_at ? col->stop_ret : 0;
}

Test(catalog, blob_foreach_order_and_stop, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	/* Empty column family: no calls, 0. */
	struct collect col = {0};
	cr_assert_eq(cfs_catalog_blob_foreach(c, blob_cb, &col), 0);
	cr_assert_eq(col.n, 0);

	/* Insert out of order; iteration must come back sorted. */
	static const uint32_t order[] = {5, 1, 9, 3, 7, 2, 8, 0, 6, 4};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct cfs_id id = make_id(9, order[i]);
		struct cfs_blob_loc loc = make_loc(order[i]);
		cfs_catalog_batch_put_blob(b, &id, &loc);
	}
	commit(c, b);

	cr_assert_eq(cfs_catalog_blob_foreach(c, blob_cb, &col), 0);
	cr_assert_eq(col.n, 10);
	for (uint32_t i = 0; i < 10; i++) {
		struct cfs_id want = make_id(9, i);
		cr_assert(memcmp(col.ids[i].b, want.b, CFS_ID_SIZE) == 0, "position %u", i);
	}

	/* Early stop: a positive value and a negative errno both come back. */
	col = (struct collect){.stop_at = 4, .stop_ret = 42};
	cr_assert_eq(cfs_catalog_blob_foreach(c, blob_cb, &col), 42);
	cr_assert_eq(col.n, 4);
	col = (struct collect){.stop_at = 1, .stop_ret = -ECANCELED};
	cr_assert_eq(cfs_catalog_blob_foreach(c, blob_cb, &col), -ECANCELED);
	cr_assert_eq(col.n, 1);

	cr_assert_eq(cfs_catalog_blob_foreach(c, NULL, &col), -EINVAL);
}

static int pack_cb(const struct cfs_id *id, const struct cfs_pack_info *info, void *ud)
{
	struct collect *col = ud;
	cr_assert_lt(col->n, ARRAY_SIZE(col->ids));
	cr_assert_eq(info->size, 1000u + id->b[3]);
	cr_assert_eq(info->count, 10u + id->b[3]);
	col->ids[col->n++] = *id;
	return col->n == col->stop_at ? col->stop_ret : 0;
}

static int kv_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct collect *col = ud;
	cr_assert_lt(col->n, ARRAY_SIZE(col->keys));
	cr_assert_lt(klen, sizeof(col->keys[0]));
	memcpy(col->keys[col->n], key, klen);
	col->keys[col->n][klen] = 0;
	if (klen == CFS_ID_SIZE)
		memcpy(col->ids[col->n].b, key, CFS_ID_SIZE);
	col->vlens[col->n] = vlen;
	(void)val;
	col->n++;
	return col->n == col->stop_at ? col->stop_ret : 0;
}

Test(catalog, pack_and_snapshot_foreach, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	for (uint32_t i = 3; i > 0; i--) {
		struct cfs_id p = make_id(5, i);
		struct cfs_pack_info info = {.size = 1000 + i, .count = 10 + i};
		cfs_catalog_batch_put_pack(b, &p, &info);
		struct cfs_id s = make_id(6, i);
		char m[8];
		memset(m, 'm', sizeof(m));
		cfs_catalog_batch_put_snapshot(b, &s, m, i);
	}
	commit(c, b);

	struct collect col = {0};
	cr_assert_eq(cfs_catalog_pack_foreach(c, pack_cb, &col), 0);
	cr_assert_eq(col.n, 3);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(col.ids[i].b[3], i + 1);
	col = (struct collect){.stop_at = 2, .stop_ret = 7};
	cr_assert_eq(cfs_catalog_pack_foreach(c, pack_cb, &col), 7);
	cr_assert_eq(col.n, 2);

	col = (struct collect){0};
	cr_assert_eq(cfs_catalog_snapshot_foreach(c, kv_cb, &col), 0);
	cr_assert_eq(col.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct cfs_id want = make_id(6, i + 1);
		cr_assert(memcmp(col.ids[i].b, want.b, CFS_ID_SIZE) == 0);
		cr_assert_eq(col.vlens[i], i + 1);
	}
	col = (struct collect){.stop_at = 1, .stop_ret = -EINTR};
	cr_assert_eq(cfs_catalog_snapshot_foreach(c, kv_cb, &col), -EINTR);
	cr_assert_eq(col.n, 1);
}

Test(catalog, meta_prefix_iteration, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	/* Neighbours on both sides of "index/" in byte order: '.' < '/' < '0'. */
	static const char *const keys[] = {"index/b", "index.z", "index0", "index", "a",
					   "index/a", "zzz", "index/", "index/c/d", "indey"};
	static const char vals[16] = "0123456789abcdef";
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		cfs_catalog_batch_put_meta(b, keys[i], vals, i);
	commit(c, b);

	struct collect col = {0};
	cr_assert_eq(cfs_catalog_meta_foreach(c, "index/", kv_cb, &col), 0);
	cr_assert_eq(col.n, 4);
	cr_assert_str_eq(col.keys[0], "index/");
	cr_assert_str_eq(col.keys[1], "index/a");
	cr_assert_str_eq(col.keys[2], "index/b");
	cr_assert_str_eq(col.keys[3], "index/c/d");
	cr_assert_eq(col.vlens[1], 5); /* "index/a" was put with n = 5 */

	col = (struct collect){.stop_at = 2, .stop_ret = 1};
	cr_assert_eq(cfs_catalog_meta_foreach(c, "index/", kv_cb, &col), 1);
	cr_assert_eq(col.n, 2);

	/* No match at all, a prefix past the last key, and everything. */
	col = (struct collect){0};
	cr_assert_eq(cfs_catalog_meta_foreach(c, "nope/", kv_cb, &col), 0);
	cr_assert_eq(col.n, 0);
	cr_assert_eq(cfs_catalog_meta_foreach(c, "zzzz", kv_cb, &col), 0);
	cr_assert_eq(col.n, 0);
	cr_assert_eq(cfs_catalog_meta_foreach(c, "", kv_cb, &col), 0);
	cr_assert_eq(col.n, ARRAY_SIZE(keys));
	cr_assert_str_eq(col.keys[0], "a");
	cr_assert_str_eq(col.keys[ARRAY_SIZE(keys) - 1], "zzz");
	col = (struct collect){0};
	cr_assert_eq(cfs_catalog_meta_foreach(c, NULL, kv_cb, &col), 0);
	cr_assert_eq(col.n, ARRAY_SIZE(keys));
}

Test(catalog, batch_is_atomic_and_reusable, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	enum { N = 2000 };
	struct cfs_id first_absent = make_id(7, N);
	for (uint32_t i = 0; i < N; i++) {
		struct cfs_id id = make_id(7, i);
		struct cfs_blob_loc loc = make_loc(i);
		cfs_catalog_batch_put_blob(b, &id, &loc);
	}
	struct cfs_id p = make_id(8, 0), s = make_id(8, 1);
	cfs_catalog_batch_put_pack(b, &p, &(struct cfs_pack_info){.size = 1, .count = N});
	cfs_catalog_batch_put_snapshot(b, &s, "snap", 4);
	cfs_catalog_batch_delete_blob(b, &first_absent);
	cfs_catalog_batch_put_meta(b, "index/p", "", 0);
	cr_assert_eq(cfs_catalog_batch_count(b), N + 4);

	/* Nothing is visible before the commit. */
	struct cfs_blob_loc got;
	struct cfs_id first = make_id(7, 0), last = make_id(7, N - 1);
	cr_assert_eq(cfs_catalog_blob_get(c, &first, &got), -ENOENT);
	cr_assert_eq(cfs_catalog_blob_get(c, &last, &got), -ENOENT);
	cr_assert_eq(cfs_catalog_pack_get(c, &p, &(struct cfs_pack_info){0}), -ENOENT);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), -ENOENT);
	cr_assert_eq(cfs_catalog_meta_get(c, "index/p", &out), -ENOENT);

	commit(c, b);

	for (uint32_t i = 0; i < N; i++) {
		struct cfs_id id = make_id(7, i);
		struct cfs_blob_loc want = make_loc(i);
		cr_assert_eq(cfs_catalog_blob_get(c, &id, &got), 0, "blob %u", i);
		assert_loc_eq(&got, &want);
	}
	cr_assert_eq(cfs_catalog_pack_get(c, &p, &(struct cfs_pack_info){0}), 0);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), 0);
	cr_assert_eq(cfs_catalog_meta_get(c, "index/p", &out), 0);

	/* Committing the emptied batch again is a no-op that succeeds. */
	cr_assert_eq(cfs_catalog_commit(c, b), 0);

	/* The batch is reusable; later ops in a batch win over earlier ones. */
	cfs_catalog_batch_put_meta(b, "k", "1", 1);
	cfs_catalog_batch_put_meta(b, "k", "2", 1);
	cfs_catalog_batch_delete_snapshot(b, &s);
	cfs_catalog_batch_put_snapshot(b, &s, "again", 5);
	commit(c, b);
	cr_assert_eq(cfs_catalog_meta_get(c, "k", &out), 0);
	cr_assert_eq(out.len, 1);
	cr_assert_eq(out.data[0], '2');
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), 0);
	cr_assert_eq(out.len, 5);

	cr_assert_eq(cfs_catalog_commit(NULL, b), -EINVAL);
	cr_assert_eq(cfs_catalog_commit(c, NULL), -EINVAL);
	cr_assert_eq(cfs_catalog_batch_new(NULL), -EINVAL);
}

Test(catalog, batch_sticky_error_applies_nothing, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	struct cfs_id a = make_id(10, 1), t = make_id(10, 2), z = make_id(10, 3);
	struct cfs_blob_loc loc = make_loc(1);
	cfs_catalog_batch_put_blob(b, &a, &loc);
	/* A record whose size cannot be represented fails without reading p
	 * (it cannot be allocated): the batch must remember it, not drop it. */
	static const uint8_t small[1];
	cfs_catalog_batch_put_snapshot(b, &t, small, SIZE_MAX - 8);
	cfs_catalog_batch_put_blob(b, &z, &loc);
	cr_assert_eq(cfs_catalog_commit(c, b), -ENOMEM);
	cr_assert_eq(cfs_catalog_batch_count(b), 0);
	cr_assert_eq(cfs_catalog_blob_get(c, &a, &loc), -ENOENT);
	cr_assert_eq(cfs_catalog_blob_get(c, &z, &loc), -ENOENT);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &t, &out), -ENOENT);

	/* NULL meta keys are a sticky -EINVAL. */
	cfs_catalog_batch_put_meta(b, "ok", "v", 1);
	cfs_catalog_batch_put_meta(b, NULL, "v", 1);
	cr_assert_eq(cfs_catalog_commit(c, b), -EINVAL);
	cr_assert_eq(cfs_catalog_meta_get(c, "ok", &out), -ENOENT);
	cfs_catalog_batch_delete_meta(b, NULL);
	cr_assert_eq(cfs_catalog_commit(c, b), -EINVAL);

	/* The error is cleared with the batch: it works again. */
	cfs_catalog_batch_put_blob(b, &a, &loc);
	commit(c, b);
	cr_assert_eq(cfs_catalog_blob_get(c, &a, &loc), 0);
}

Test(catalog, reopen_persists, .init = setup, .fini = teardown)
{
	struct cfs_id id = make_id(11, 1), p = make_id(11, 2), s = make_id(11, 3);
	struct cfs_blob_loc loc = make_loc(11), got;
	{
		_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
		_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
		cr_assert_eq(cfs_catalog_batch_new(&b), 0);
		cfs_catalog_batch_put_blob(b, &id, &loc);
		cfs_catalog_batch_put_pack(b, &p, &(struct cfs_pack_info){.size = 77, .count = 3});
		cfs_catalog_batch_put_snapshot(b, &s, "S", 1);
		cfs_catalog_batch_put_meta(b, "m", "M", 1);
		commit(c, b);
	}
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	cr_assert_eq(cfs_catalog_blob_get(c, &id, &got), 0);
	assert_loc_eq(&got, &loc);
	struct cfs_pack_info info;
	cr_assert_eq(cfs_catalog_pack_get(c, &p, &info), 0);
	cr_assert_eq(info.size, 77);
	cr_assert_eq(info.count, 3);
	cr_assert_eq(cfs_catalog_snapshot_get(c, &s, &out), 0);
	cr_assert(out.len == 1 && out.data[0] == 'S');
	cr_assert_eq(cfs_catalog_meta_get(c, "m", &out), 0);
	cr_assert(out.len == 1 && out.data[0] == 'M');
}

Test(catalog, second_open_in_process_is_busy, .init = setup, .fini = teardown)
{
	struct cfs_catalog *c = open_cat(), *c2 = NULL;
	cr_assert_eq(cfs_catalog_open(catdir, &c2), -EBUSY);
	cr_assert_null(c2);
	/* The failed open must not have disturbed the first handle. */
	struct cfs_blob_loc loc;
	struct cfs_id id = make_id(12, 0);
	cr_assert_eq(cfs_catalog_blob_get(c, &id, &loc), -ENOENT);
	c = cfs_catalog_free(c);
	/* Released on free. */
	c = open_cat();
	cfs_catalog_free(c);
}

Test(catalog, open_from_other_process_is_busy, .init = setup, .fini = teardown)
{
	/* Fork before the parent opens, so the child has no RocksDB state
	 * (threads, in-process lock table) and sees only the file lock. */
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char ch;
		close(go[1]);
		if (read(go[0], &ch, 1) != 1)
			_exit(2);
		struct cfs_catalog *cc = NULL;
		int r = cfs_catalog_open(catdir, &cc);
		_exit(r == -EBUSY && !cc ? 0 : 1);
	}
	close(go[0]);
	struct cfs_catalog *c = open_cat();
	cr_assert_eq(write(go[1], "x", 1), 1);
	close(go[1]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child's open was not -EBUSY");
	cfs_catalog_free(c);
}

static int count_kv(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(size_t *)ud;
	return 0;
}

static int count_blob(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud)
{
	(void)id, (void)loc;
	++*(size_t *)ud;
	return 0;
}

static int count_pack(const struct cfs_id *id, const struct cfs_pack_info *info, void *ud)
{
	(void)id, (void)info;
	++*(size_t *)ud;
	return 0;
}

static size_t count_all(struct cfs_catalog *c)
{
	size_t n = 0;
	cr_assert_eq(cfs_catalog_blob_foreach(c, count_blob, &n), 0);
	cr_assert_eq(cfs_catalog_pack_foreach(c, count_pack, &n), 0);
	cr_assert_eq(cfs_catalog_snapshot_foreach(c, count_kv, &n), 0);
	cr_assert_eq(cfs_catalog_meta_foreach(c, NULL, count_kv, &n), 0);
	return n;
}

/* A catalog as versions before issue 12 left it: six column families,
 * "trees" among them, written with RocksDB directly. */
static void make_old_catalog(void)
{
	static const char *const names[] = {"default", "blobs", "packs", "snapshots", "trees", "meta"};
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	const rocksdb_options_t *opts[6] = {o, o, o, o, o, o};
	rocksdb_column_family_handle_t *h[6];
	char *err = NULL;
	cr_assert_eq(mkdir(catdir, 0700), 0);
	rocksdb_t *db = rocksdb_open_column_families(o, catdir, 6, names, opts, h, &err);
	cr_assert_null(err, "%s", err);
	rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
	rocksdb_put_cf(db, w, h[4], "tree-id", 7, "tree bytes", 10, &err);
	cr_assert_null(err);
	rocksdb_put_cf(db, w, h[5], "m", 1, "M", 1, &err);
	cr_assert_null(err);
	rocksdb_writeoptions_destroy(w);
	for (int i = 0; i < 6; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_options_destroy(o);
}

static bool old_catalog_has(const char *cf)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	size_t n = 0;
	char **v = rocksdb_list_column_families(o, catdir, &n, &err);
	cr_assert_null(err, "%s", err);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found = found || strcmp(v[i], cf) == 0;
	rocksdb_list_column_families_destroy(v, n);
	rocksdb_options_destroy(o);
	return found;
}

/* The retired "trees" column family: an old catalog still opens, as a
 * secondary (which leaves it) and as the primary (which drops it), and
 * keeps everything else. */
Test(catalog, old_catalog_with_trees_opens, .init = setup, .fini = teardown)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	char secdir[160];
	make_old_catalog();
	snprintf(secdir, sizeof(secdir), "%s/secondary", tmpdir);
	{
		_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = NULL;
		cr_assert_eq(cfs_catalog_open_secondary(catdir, secdir, &c), 0);
		cr_assert_eq(cfs_catalog_meta_get(c, "m", &out), 0);
	}
	cr_assert(old_catalog_has("trees"));
	{
		_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
		cr_assert_eq(cfs_catalog_meta_get(c, "m", &out), 0);
		cr_assert(out.len == 1 && out.data[0] == 'M');
		cr_assert_eq(count_all(c), 1);
	}
	cr_assert_not(old_catalog_has("trees"));
	cr_assert(old_catalog_has("meta"));
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	cr_assert_eq(cfs_catalog_meta_get(c, "m", &out), 0);
}

Test(catalog, damaged_values_are_eproto, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	struct cfs_id shortv = make_id(14, 1), longv = make_id(14, 2), resv = make_id(14, 3);
	struct cfs_id good = make_id(14, 4);
	uint8_t v[64] = {0};
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, shortv.b, CFS_ID_SIZE, v, 55);
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, longv.b, CFS_ID_SIZE, v, 57);
	v[51] = 1; /* last reserved byte */
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, resv.b, CFS_ID_SIZE, v, 56);
	v[51] = 0;
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, good.b, CFS_ID_SIZE, v, 56);
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_PACKS, shortv.b, CFS_ID_SIZE, v, 11);
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_PACKS, longv.b, CFS_ID_SIZE, v, 0);
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_PACKS, good.b, CFS_ID_SIZE, v, 12);
	commit(c, b);

	struct cfs_blob_loc loc = make_loc(5), before = loc;
	cr_assert_eq(cfs_catalog_blob_get(c, &shortv, &loc), -EPROTO);
	cr_assert_eq(cfs_catalog_blob_get(c, &longv, &loc), -EPROTO);
	cr_assert_eq(cfs_catalog_blob_get(c, &resv, &loc), -EPROTO);
	assert_loc_eq(&loc, &before);
	cr_assert_eq(cfs_catalog_blob_get(c, &good, &loc), 0);
	cr_assert_eq(loc.offset, 0);
	struct cfs_pack_info info;
	cr_assert_eq(cfs_catalog_pack_get(c, &shortv, &info), -EPROTO);
	cr_assert_eq(cfs_catalog_pack_get(c, &longv, &info), -EPROTO);
	cr_assert_eq(cfs_catalog_pack_get(c, &good, &info), 0);

	/* Iteration stops at the first damaged entry (shortv sorts first). */
	size_t n = 0;
	cr_assert_eq(cfs_catalog_blob_foreach(c, count_blob, &n), -EPROTO);
	cr_assert_eq(n, 0);
	cr_assert_eq(cfs_catalog_pack_foreach(c, count_pack, &n), -EPROTO);
}

Test(catalog, damaged_keys_are_eproto, .init = setup, .fini = teardown)
{
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *c = open_cat();
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);

	uint8_t k[33] = {0}, v[56] = {0};
	size_t n = 0;
	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_BLOBS, k, 31, v, 56);
	commit(c, b);
	cr_assert_eq(cfs_catalog_blob_foreach(c, count_blob, &n), -EPROTO);

	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_PACKS, k, 33, v, 12);
	commit(c, b);
	cr_assert_eq(cfs_catalog_pack_foreach(c, count_pack, &n), -EPROTO);

	cfs_catalog_batch_put_raw_for_testing(b, CFS_CATALOG_CF_SNAPSHOTS, k, 0, v, 3);
	commit(c, b);
	cr_assert_eq(cfs_catalog_snapshot_foreach(c, count_kv, &n), -EPROTO);
	cr_assert_eq(n, 0);

	/* An out-of-range column family index is a sticky -EINVAL. */
	cfs_catalog_batch_put_raw_for_testing(b, _CFS_CATALOG_CF_MAX, k, 1, v, 1);
	cr_assert_eq(cfs_catalog_commit(c, b), -EINVAL);
}

/* The tuning is part of the contract (bounded memory, bloom filters for
 * dedup misses); RocksDB writes the options it runs with to OPTIONS-*. */
Test(catalog, options_file_shows_tuning, .init = setup, .fini = teardown)
{
	struct cfs_catalog *c = open_cat();
	DIR *d = opendir(catdir);
	cr_assert_not_null(d);
	char path[512] = "";
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "OPTIONS-", 8) == 0)
			snprintf(path, sizeof(path), "%s/%s", catdir, de->d_name);
	closedir(d);
	cr_assert_neq(path[0], 0, "no OPTIONS file");
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(cfs_read_file(path, false, &text, &len), 0);
	cr_assert_not_null(strstr(text, "max_open_files=256"));
	cr_assert_not_null(strstr(text, "write_buffer_size=16777216"));
	cr_assert_not_null(strstr(text, "keep_log_file_num=2"));
	/* Every column family is there; only blobs has a bloom filter. */
	static const char *const cfs[] = {"default", "blobs", "packs", "snapshots", "meta"};
	for (size_t i = 0; i < ARRAY_SIZE(cfs); i++) {
		char hdr[64];
		snprintf(hdr, sizeof(hdr), "[CFOptions \"%s\"]", cfs[i]);
		cr_assert_not_null(strstr(text, hdr), "%s", hdr);
	}
	const char *blobs = strstr(text, "[TableOptions/BlockBasedTable \"blobs\"]");
	cr_assert_not_null(blobs);
	const char *next = strstr(blobs + 1, "[CFOptions");
	const char *bloom = strstr(blobs, "filter_policy=bloomfilter");
	cr_assert(bloom && (!next || bloom < next), "blobs has no bloom filter");
	const char *meta = strstr(text, "[TableOptions/BlockBasedTable \"meta\"]");
	cr_assert_not_null(meta);
	next = strstr(meta + 1, "[CFOptions");
	bloom = strstr(meta, "filter_policy=bloomfilter");
	cr_assert(!bloom || (next && bloom > next), "meta has a bloom filter");
	free(text);
	cfs_catalog_free(c);
}

/* RocksDB's error texts that a user can act on get their errno. */
Test(catalog, error_texts_map_to_errno)
{
	cr_assert_eq(cfs_catalog_error_from_text("IO error: While appending to file: /c/000012.log: No space left on device",
						 -EIO),
		     -ENOSPC);
	cr_assert_eq(cfs_catalog_error_from_text("IO error: While open a file for appending: /c/LOG: Read-only file system",
						 -EIO),
		     -EROFS);
	cr_assert_eq(cfs_catalog_error_from_text("IO error: /c/x: Disk quota exceeded", -EIO), -EDQUOT);
	cr_assert_eq(cfs_catalog_error_from_text("IO error: /c/x: Permission denied", -EIO), -EACCES);
	cr_assert_eq(cfs_catalog_error_from_text("Corruption: block checksum mismatch", -EIO), -EIO);
	cr_assert_eq(cfs_catalog_error_from_text(NULL, -EIO), -EIO);
}

/* Forgetting a blob and a pack (repair). */
Test(catalog, delete_blob_and_pack, .init = setup, .fini = teardown)
{
	struct cfs_catalog *c = open_cat();
	struct cfs_catalog_batch *b = NULL;
	struct cfs_id id = make_id(1, 1), pack = make_id(2, 2);
	struct cfs_blob_loc loc = make_loc(1), got;
	struct cfs_pack_info info = {100, 1}, ginfo;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);
	cfs_catalog_batch_put_blob(b, &id, &loc);
	cfs_catalog_batch_put_pack(b, &pack, &info);
	cr_assert_eq(cfs_catalog_commit(c, b), 0);
	cfs_catalog_batch_delete_blob(b, &id);
	cfs_catalog_batch_delete_pack(b, &pack);
	cr_assert_eq(cfs_catalog_commit(c, b), 0);
	cr_assert_eq(cfs_catalog_blob_get(c, &id, &got), -ENOENT);
	cr_assert_eq(cfs_catalog_pack_get(c, &pack, &ginfo), -ENOENT);
	cfs_catalog_batch_free(b);
	cfs_catalog_free(c);
}

/* Whether dir holds anything. */
static bool dir_has_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false;
	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d)))
		any |= strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return any;
}

/* A set that fits its in-memory share never touches the disk; the one
 * that outgrows it spills, and keeps every member. */
Test(catalog, idstore_memory_then_disk, .init = setup, .fini = teardown)
{
	char dir[128];
	struct cfs_catalog_idstore *s = NULL;
	struct cfs_id id;
	const uint32_t mem = 70000; /* more than one batch of 65,536 */
	snprintf(dir, sizeof(dir), "%s/marks", tmpdir);
	cr_assert_eq(cfs_catalog_idstore_new(dir, mem, &s), 0);
	for (uint32_t i = 0; i < mem - 1; i++) {
		memset(&id, 0, sizeof(id));
		cfs_put_le32(id.b, i * 2654435761u);
		cfs_put_le32(id.b + 28, i);
		cr_assert_eq(cfs_catalog_idstore_add(s, &id), 1);
	}
	cr_assert(!dir_has_files(dir), "a set within its memory share wrote to %s", dir);
	for (uint32_t i = mem - 1; i < 3 * mem; i++) {
		memset(&id, 0, sizeof(id));
		cfs_put_le32(id.b, i * 2654435761u);
		cfs_put_le32(id.b + 28, i);
		cr_assert_eq(cfs_catalog_idstore_add(s, &id), 1);
	}
	cr_assert(dir_has_files(dir), "a set past its memory share did not spill to %s", dir);
	for (uint32_t i = 0; i < 3 * mem + 100; i++) {
		memset(&id, 0, sizeof(id));
		cfs_put_le32(id.b, i * 2654435761u);
		cfs_put_le32(id.b + 28, i);
		cr_assert_eq(cfs_catalog_idstore_contains(s, &id), i < 3 * mem, "id %u", i);
		if (i % 997 == 0 && i < 3 * mem)
			cr_assert_eq(cfs_catalog_idstore_add(s, &id), 0, "id %u added twice", i);
	}
	cr_assert_eq(cfs_catalog_idstore_count(s), 3 * mem);
	cfs_catalog_idstore_free(s);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CFS_ID_SIZE);
}

/* put (blind once spilled) keeps every id; contains_sorted answers as
 * contains, for ids asked in ascending order (members and not, runs longer
 * than its steps, past the last member) and out of order, also after more
 * ids were put between two questions. */
Test(catalog, idstore_put_and_sorted_lookups, .init = setup, .fini = teardown)
{
	char dir[128];
	struct cfs_catalog_idstore *s = NULL;
	const uint32_t n = 200000;
	struct cfs_id *ids = calloc(n, sizeof(*ids));
	cr_assert_not_null(ids);
	for (uint32_t i = 0; i < n; i++) {
		cfs_put_le32(ids[i].b, i * 2654435761u);
		cfs_put_le32(ids[i].b + 4, i * 40503u);
		cfs_put_le32(ids[i].b + 28, i);
	}
	snprintf(dir, sizeof(dir), "%s/marks", tmpdir);
	cr_assert_eq(cfs_catalog_idstore_new(dir, 1000, &s), 0);
	/* Members: every third id, some put twice; a few added. */
	for (uint32_t i = 0; i < n; i += 3) {
		cr_assert_eq(i % 999 == 0 ? cfs_catalog_idstore_add(s, &ids[i]) < 0 : cfs_catalog_idstore_put(s, &ids[i]), 0);
		if (i % 10 == 0)
			cr_assert_eq(cfs_catalog_idstore_put(s, &ids[i]), 0);
	}
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(cfs_catalog_idstore_contains_sorted(s, &ids[i]), cfs_get_le32(ids[i].b + 28) % 3 == 0,
			     "sorted %u", i);
	/* Out of order, and after a write. */
	for (uint32_t i = n; i-- > n - 2000;)
		cr_assert_eq(cfs_catalog_idstore_contains_sorted(s, &ids[i]), cfs_get_le32(ids[i].b + 28) % 3 == 0,
			     "backwards %u", i);
	cr_assert_eq(cfs_catalog_idstore_put(s, &ids[5]), 0);
	cr_assert_eq(cfs_catalog_idstore_contains_sorted(s, &ids[5]), 1);
	for (uint32_t i = 0; i < n; i += 7)
		cr_assert_eq(cfs_catalog_idstore_contains_sorted(s, &ids[i]),
			     i == 5 || cfs_get_le32(ids[i].b + 28) % 3 == 0, "sorted again %u", i);
	cfs_catalog_idstore_free(s);
	free(ids);
}

/* The disk-backed id set: membership across its in-memory batch and the
 * database (more ids than one batch holds), each id counted once, and its
 * directory emptied at creation and gone at free. */
Test(catalog, idstore_add_contains_count, .init = setup, .fini = teardown)
{
	char dir[128], junk[160];
	struct cfs_catalog_idstore *s = NULL;
	struct cfs_id id;
	const uint32_t n = 150000; /* 1,000 in memory, then batches of 1,000 */
	snprintf(dir, sizeof(dir), "%s/marks", tmpdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	cr_assert_eq(mkdir(junk, 0700), 0);
	cr_assert_eq(cfs_catalog_idstore_new(dir, 1000, &s), 0);
	struct stat st;
	cr_assert_neq(stat(junk, &st), 0, "an old set's files survived");
	for (uint32_t i = 0; i < n; i += 2) {
		memset(&id, 0, sizeof(id));
		cfs_put_le32(id.b, i * 2654435761u);
		cfs_put_le32(id.b + 28, i);
		cr_assert_eq(cfs_catalog_idstore_add(s, &id), 1);
	}
	for (uint32_t i = 0; i < n; i++) {
		memset(&id, 0, sizeof(id));
		cfs_put_le32(id.b, i * 2654435761u);
		cfs_put_le32(id.b + 28, i);
		cr_assert_eq(cfs_catalog_idstore_contains(s, &id), i % 2 == 0, "id %u", i);
		if (i % 2 == 0 && i % 1000 == 0)
			cr_assert_eq(cfs_catalog_idstore_add(s, &id), 0, "id %u added twice", i);
	}
	cr_assert_eq(cfs_catalog_idstore_count(s), n / 2);
	s = cfs_catalog_idstore_free(s);
	cr_assert_null(s);
	cr_assert_neq(stat(dir, &st), 0, "the set's directory is left behind");
	cfs_catalog_idstore_free(NULL);
}
