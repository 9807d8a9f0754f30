/* SPDX-License-Identifier: MIT */
/*
 * Repository-level tests: init/open errors, dedup, the commit protocol and
 * what a crash leaves, verified reads of damaged packs, the cache lock.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/repo.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

static char tmp[256], repo_dir[300], cache_dir[300];

static void setup(void)
{
	strcpy(tmp, "/tmp/cfs-test-repo.XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(repo_dir, sizeof(repo_dir), "%s/repo", tmp);
	snprintf(cache_dir, sizeof(cache_dir), "%s/cache", tmp);
}

static void teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

static void init_repo(enum cfs_encryption enc)
{
	struct cfs_repo_init_options o = {
		.location = repo_dir,
		.encryption = enc,
		.password = "secret",
		.password_len = 6,
		.kdf = {10, 8, 1},
		/* Small chunks and packs are irrelevant here; defaults. */
	};
	struct cfs_id id;
	cr_assert_eq(cfs_repo_init(&o, &id), 0);
}

static int open_repo_with(const char *pw, const char *cache, bool writer, struct cfs_repo **ret)
{
	struct cfs_repo_open_options o = {
		.location = repo_dir,
		.cache_dir = cache,
		.password = pw,
		.password_len = pw ? strlen(pw) : 0,
		.lock_wait_sec = 0,
		.writer = writer,
	};
	return cfs_repo_open(&o, ret);
}

static struct cfs_repo *open_ok(bool writer)
{
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with("secret", cache_dir, writer, &r), 0);
	return r;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Commit a snapshot whose root tree holds one file with the given blobs. */
static void commit_with_blobs(struct cfs_repo *r, const struct cfs_id *ids, const uint32_t *lens, size_t n,
			      struct cfs_id *ret_id, char *ret_name)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_tree_entry e = {0};
	e.name = (uint8_t *)strdup("file");
	e.name_len = 4;
	e.type = CFS_FT_REG;
	e.mode = 0644;
	e.extents = calloc(n ? n : 1, sizeof(*e.extents));
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		e.extents[i] = (struct cfs_extent){off, lens[i], ids[i]};
		off += lens[i];
	}
	e.n_extents = (uint32_t)n;
	e.size = off;
	cr_assert_eq(cfs_tree_add(&t, &e), 0);
	struct cfs_snapshot s = {0};
	s.time_ns = 1795579004000000000LL;
	s.host = strdup("h");
	s.tier = strdup("");
	s.paths = calloc(1, sizeof(char *));
	s.paths[0] = strdup("/x");
	s.n_paths = 1;
	cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &s.root, NULL), 0);
	s.root_nodes = cfs_tree_node_count(&t);
	cr_assert_eq(cfs_repo_commit_snapshot(r, &s, ret_id), 0);
	if (ret_name)
		strcpy(ret_name, s.name);
	cfs_snapshot_release(&s);
	cfs_tree_release(&t);
}

/* The largest pack: the data blobs' one (trees have packs of their own). */
static void data_pack_path(char *out, size_t n)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "find '%s/data' -type f -printf '%%s %%p\\n' | sort -rn | head -1 | cut -d' ' -f2-",
		 repo_dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)n, f));
	out[strcspn(out, "\n")] = 0;
	pclose(f);
}

TestSuite(repo, .init = setup, .fini = teardown, .timeout = 60);

Test(repo, open_errors)
{
	struct cfs_repo *r = NULL;
	/* Not a repository. */
	mkdir(repo_dir, 0700);
	cr_assert_eq(open_repo_with("secret", cache_dir, false, &r), -EMEDIUMTYPE);
	init_repo(CFS_ENC_AES256GCM);
	/* Twice. */
	struct cfs_repo_init_options o = {.location = repo_dir, .encryption = CFS_ENC_NONE};
	cr_assert_eq(cfs_repo_init(&o, NULL), -EEXIST);
	cr_assert_eq(open_repo_with("wrong", cache_dir, false, &r), -EACCES);
	cr_assert_eq(open_repo_with(NULL, cache_dir, false, &r), -ENOKEY);
	cr_assert_null(r);
	r = open_ok(false);
	r = cfs_repo_free(r);

	/* A newer format version is named as such, not as garbage. */
	char path[400];
	snprintf(path, sizeof(path), "%s/config", repo_dir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t v[4];
	cfs_put_le32(v, CFS_REPO_FORMAT_VERSION + 1);
	cr_assert_eq(pwrite(fd, v, 4, 8), 4);
	close(fd);
	cr_assert_eq(open_repo_with("secret", cache_dir, false, &r), -EPROTONOSUPPORT);
}

Test(repo, none_mode_needs_no_password)
{
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r), 0);
	cr_assert_eq(cfs_repo_encryption(r), CFS_ENC_NONE);
	cfs_repo_free(r);
}

Test(repo, dedup_and_roundtrip)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	size_t n = 300000;
	uint8_t *a = malloc(n);
	fill(a, n, 1);
	struct cfs_id id1, id2;
	bool added;
	uint64_t stored;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id1, &added, &stored), 0);
	cr_assert(added);
	cr_assert_geq(stored, n); /* random: stored raw + AEAD overhead */
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id2, &added, NULL), 0);
	cr_assert_not(added, "same bytes in the open pack must dedup");
	cr_assert_eq(memcmp(&id1, &id2, sizeof(id1)), 0);
	uint32_t len = (uint32_t)n;
	struct cfs_id sid;
	char name[80];
	commit_with_blobs(r, &id1, &len, 1, &sid, name);
	/* After the commit the catalog dedups. */
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id2, &added, NULL), 0);
	cr_assert_not(added);
	r = cfs_repo_free(r);

	/* A fresh cache directory rebuilds everything from index/ and snapshots/. */
	char other[400];
	snprintf(other, sizeof(other), "%s/other-cache", tmp);
	cr_assert_eq(open_repo_with("secret", other, false, &r), 0);
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_repo_get_blob(r, &id1, &b), 0);
	cr_assert_eq(b.len, n);
	cr_assert_eq(memcmp(b.data, a, n), 0);
	struct cfs_snapshot s;
	struct cfs_id got;
	cr_assert_eq(cfs_repo_find_snapshot(r, "latest", &s, &got), 0);
	cr_assert_str_eq(s.name, name);
	cfs_snapshot_release(&s);
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(&sid, hex);
	hex[8] = 0;
	cr_assert_eq(cfs_repo_find_snapshot(r, hex, NULL, &got), 0);
	cr_assert_eq(memcmp(&got, &sid, sizeof(sid)), 0);
	cr_assert_eq(cfs_repo_find_snapshot(r, name, NULL, NULL), 0);
	cr_assert_eq(cfs_repo_find_snapshot(r, "2000-01-01T00:00:00Z", NULL, NULL), -ENOENT);
	cfs_buf_release(&b);
	cfs_repo_free(r);
	free(a);
}

Test(repo, compressible_data_shrinks)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	size_t n = 1 << 20;
	char *t = malloc(n);
	for (size_t i = 0; i < n; i++)
		t[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44];
	struct cfs_id id;
	bool added;
	uint64_t stored;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, t, n, &id, &added, &stored), 0);
	cr_assert_lt(stored, n / 20);
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_repo_flush(r), 0);
	cr_assert_eq(cfs_repo_get_blob(r, &id, &b), 0);
	cr_assert_eq(memcmp(b.data, t, n), 0);
	cfs_buf_release(&b);
	cfs_repo_free(r);
	free(t);
}

Test(repo, distinct_names_in_one_second)
{
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r), 0);
	char n1[80], n2[80], n3[80];
	struct cfs_id s1, s2, s3;
	commit_with_blobs(r, NULL, NULL, 0, &s1, n1);
	commit_with_blobs(r, NULL, NULL, 0, &s2, n2);
	commit_with_blobs(r, NULL, NULL, 0, &s3, n3);
	cr_assert_str_eq(n1, "2026-11-25T03:56:44Z");
	cr_assert_str_neq(n1, n2);
	cr_assert_str_neq(n2, n3);
	cr_assert_str_neq(n1, n3);
	int64_t t;
	cr_assert_eq(cfs_time_parse(n2, &t), 0, "%s is not RFC 3339", n2);
	cr_assert_eq(cfs_time_parse(n3, &t), 0, "%s is not RFC 3339", n3);
	cfs_repo_free(r);
}

/*
 * A run killed after a pack became durable but before its snapshot was
 * committed: the pack is adopted by the next writer and its blobs reused;
 * no snapshot is listed for the dead run.
 */
Test(repo, crash_leaves_reusable_pack)
{
	init_repo(CFS_ENC_AES256GCM);
	size_t n = 200000;
	uint8_t *a = malloc(n);
	fill(a, n, 7);
	struct cfs_id id;
	bool added;

	/* The dead run: flushed but never committed; its catalog is lost too
	 * (a different cache directory stands for another host or a wiped
	 * cache, the harder case). */
	char dead_cache[400];
	snprintf(dead_cache, sizeof(dead_cache), "%s/dead-cache", tmp);
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with("secret", dead_cache, true, &r), 0);
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, &added, NULL), 0);
	cr_assert_eq(cfs_repo_flush(r), 0);
	cfs_repo_free(r);

	r = open_ok(true);
	struct cfs_snapshot_list l;
	cr_assert_eq(cfs_repo_list_snapshots(r, &l), 0);
	cr_assert_eq(l.n, 0, "a run that never committed must not be listed");
	cfs_snapshot_list_release(&l);
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, &added, NULL), 0);
	cr_assert_not(added, "the orphan pack's blob must be reused");
	uint32_t len = (uint32_t)n;
	commit_with_blobs(r, &id, &len, 1, NULL, NULL);
	r = cfs_repo_free(r);

	/* The adopted pack is now covered by an index: a reader with an empty
	 * cache (which never adopts packs) finds the blob. */
	char reader_cache[400];
	snprintf(reader_cache, sizeof(reader_cache), "%s/reader-cache", tmp);
	cr_assert_eq(open_repo_with("secret", reader_cache, false, &r), 0);
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_repo_get_blob(r, &id, &b), 0);
	cr_assert_eq(memcmp(b.data, a, n), 0);
	cfs_buf_release(&b);
	cfs_repo_free(r);
	free(a);
}

/* A commit of many new blobs writes several index objects (each bounded in
 * size), and a reader with an empty cache finds blobs from all of them. */
Test(repo, index_objects_are_cut)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	struct cfs_id first, last;
	uint32_t lens[2] = {8, 8};
	uint64_t v = 0;

	/* 5 packs of 10,000 blobs: 56-byte entries make ~2.8 MB of index. */
	for (int p = 0; p < 5; p++) {
		for (int i = 0; i < 10000; i++, v++) {
			struct cfs_id id;
			cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, &v, sizeof(v), &id, NULL, NULL), 0);
			if (v == 0)
				first = id;
			last = id;
		}
		cr_assert_eq(cfs_repo_flush(r), 0);
	}
	struct cfs_id ids[2] = {first, last};
	commit_with_blobs(r, ids, lens, 2, NULL, NULL);
	cfs_repo_free(r);

	char cmd[400], line[64] = "";
	snprintf(cmd, sizeof(cmd), "ls '%s/index' | wc -l", repo_dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	pclose(f);
	cr_assert_geq(atoi(line), 2, "one index object for 50,000 entries: %s", line);

	char reader_cache[400];
	snprintf(reader_cache, sizeof(reader_cache), "%s/reader-cache", tmp);
	cr_assert_eq(open_repo_with("secret", reader_cache, false, &r), 0);
	struct cfs_buf b = CFS_BUF_INIT;
	for (int k = 0; k < 2; k++) {
		uint64_t want = k ? v - 1 : 0;
		cr_assert_eq(cfs_repo_get_blob(r, &ids[k], &b), 0);
		cr_assert_eq(b.len, sizeof(want));
		cr_assert_eq(memcmp(b.data, &want, sizeof(want)), 0);
	}
	cfs_buf_release(&b);
	cfs_repo_free(r);
}

static void damage_and_read(const char *how, int expected)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	size_t n = 100000;
	uint8_t *a = malloc(n);
	fill(a, n, 3);
	struct cfs_id id;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, NULL, NULL), 0);
	uint32_t len = (uint32_t)n;
	commit_with_blobs(r, &id, &len, 1, NULL, NULL);
	char pack[512];
	data_pack_path(pack, sizeof(pack));
	if (strcmp(how, "flip") == 0) {
		int fd = open(pack, O_RDWR);
		uint8_t c;
		cr_assert_eq(pread(fd, &c, 1, 5000), 1);
		c ^= 0x01;
		cr_assert_eq(pwrite(fd, &c, 1, 5000), 1);
		close(fd);
	} else if (strcmp(how, "truncate") == 0) {
		cr_assert_eq(truncate(pack, 50000), 0);
	} else {
		cr_assert_eq(unlink(pack), 0);
	}
	struct cfs_buf b = CFS_BUF_INIT;
	int e = cfs_repo_get_blob(r, &id, &b);
	cr_assert_eq(e, expected, "%s: got %d (%s), expected %d", how, e, strerror(-e), expected);
	cfs_buf_release(&b);
	cfs_repo_free(r);
	free(a);
}

Test(repo, flipped_byte_is_ebadmsg) { damage_and_read("flip", -EBADMSG); }
Test(repo, truncated_pack_is_erange) { damage_and_read("truncate", -ERANGE); }
Test(repo, missing_pack_is_enoent) { damage_and_read("delete", -ENOENT); }

Test(repo, cache_lock_is_exclusive)
{
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r1 = NULL, *r2 = NULL;
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r1), 0);
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r2), -EBUSY);
	cfs_repo_free(r1);
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r2), 0);
	cfs_repo_free(r2);
}

Test(repo, cache_and_files_are_private)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	struct cfs_id id;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, "x", 1, &id, NULL, NULL), 0);
	commit_with_blobs(r, &id, (uint32_t[]){1}, 1, NULL, NULL);
	cfs_repo_free(r);
	char cmd[1200];
	/* Nothing in the repository is group/other accessible; the cache's
	 * per-repository directories are 0700 (RocksDB creates its own files
	 * with the umask, inside them). */
	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -perm /077 -print | head -1)\"", repo_dir);
	cr_assert_eq(system(cmd), 0, "some repository file or directory is group/other accessible");
	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -type d -perm /077 -print | head -1)\"", cache_dir);
	cr_assert_eq(system(cmd), 0, "some cache directory is group/other accessible");
}

/* Readers never wait for a writer: they read through a secondary view. */
Test(repo, reader_alongside_writer)
{
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *w = NULL, *rd = NULL;
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &w), 0);
	struct cfs_id s1;
	commit_with_blobs(w, NULL, NULL, 0, &s1, NULL);
	cr_assert_eq(open_repo_with(NULL, cache_dir, false, &rd), 0, "a reader must not wait for the writer");
	struct cfs_snapshot_list l;
	cr_assert_eq(cfs_repo_list_snapshots(rd, &l), 0);
	cr_assert_eq(l.n, 1);
	cfs_snapshot_list_release(&l);
	/* The writer commits more; the reader sees it after catching up. */
	commit_with_blobs(w, NULL, NULL, 0, NULL, NULL);
	cr_assert_eq(cfs_catalog_catch_up(cfs_repo_catalog(rd)), 0);
	cr_assert_eq(cfs_repo_list_snapshots(rd, &l), 0);
	cr_assert_eq(l.n, 2);
	cfs_snapshot_list_release(&l);
	/* A reader cannot write. */
	struct cfs_catalog_batch *b;
	cr_assert_eq(cfs_catalog_batch_new(&b), 0);
	cfs_catalog_batch_put_meta(b, "x", "y", 1);
	cr_assert_eq(cfs_catalog_commit(cfs_repo_catalog(rd), b), -EROFS);
	cfs_catalog_batch_free(b);
	cfs_repo_free(rd);
	cfs_repo_free(w);
	/* The reader's secondary directory is gone. */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -path '*/readers/*' -print | head -1)\"", cache_dir);
	cr_assert_eq(system(cmd), 0, "reader directory left behind");
}
