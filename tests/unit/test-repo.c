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

#include "chronofs/check.h"
#include "chronofs/repo.h"
#include "chronofs/restore.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

static char tmp[256], repo_dir[300], cache_dir[300];
static enum cfs_encryption repo_enc;

/* The passphrase of the repository init_repo() made: none for an
 * unencrypted one (a passphrase given to one is refused). */
static const char *repo_pw(void)
{
	return repo_enc == CFS_ENC_NONE ? NULL : "secret";
}

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
	repo_enc = enc;
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
	cr_assert_eq(open_repo_with(repo_pw(), cache_dir, writer, &r), 0);
	return r;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Commit a snapshot of the tree root (nodes entries), at a fixed time. */
static void commit_root(struct cfs_repo *r, const struct cfs_id *root, uint64_t nodes, struct cfs_id *ret_id,
			char *ret_name)
{
	struct cfs_snapshot s = {0};
	s.time_ns = 1795579004000000000LL;
	s.host = strdup("h");
	s.tier = strdup("");
	s.paths = calloc(1, sizeof(char *));
	s.paths[0] = strdup("/x");
	s.n_paths = 1;
	s.root = *root;
	s.root_nodes = nodes;
	cr_assert_eq(cfs_repo_commit_snapshot(r, &s, ret_id), 0);
	if (ret_name)
		strcpy(ret_name, s.name);
	cfs_snapshot_release(&s);
}

/* Commit a snapshot whose root tree holds one file with the given blobs. */
/* A tree of one file "file" made of blobs ids (lens). */
static void one_file_tree(struct cfs_tree *t, const struct cfs_id *ids, const uint32_t *lens, size_t n)
{
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
	cr_assert_eq(cfs_tree_add(t, &e), 0);
}

static void commit_with_blobs(struct cfs_repo *r, const struct cfs_id *ids, const uint32_t *lens, size_t n,
			      struct cfs_id *ret_id, char *ret_name)
{
	struct cfs_tree t = CFS_TREE_INIT;
	one_file_tree(&t, ids, lens, n);
	struct cfs_id root;
	cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &root, NULL), 0);
	commit_root(r, &root, cfs_tree_node_count(&t), ret_id, ret_name);
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
	cr_assert_eq(r->config.encryption, CFS_ENC_NONE);
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
	cr_assert_eq(open_repo_with(repo_pw(), other, false, &r), 0);
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
	cr_assert_eq(open_repo_with(repo_pw(), dead_cache, true, &r), 0);
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
	cr_assert_eq(open_repo_with(repo_pw(), reader_cache, false, &r), 0);
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
	cr_assert_eq(open_repo_with(repo_pw(), reader_cache, false, &r), 0);
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

struct sealed_seen {
	int fd;             /* the pack file */
	size_t n;           /* blobs handed over */
	uint64_t last_off;  /* they come in offset order */
	bool put_again;     /* and are copied to a new pack */
	uint64_t stored;
};

static int sealed_seen_cb(const struct cfs_pack_entry *pe, const void *sealed, void *ud)
{
	struct sealed_seen *st = ud;
	uint8_t *file = malloc(pe->stored_len);
	cr_assert_not_null(file);
	cr_assert_eq(pread(st->fd, file, pe->stored_len, (off_t)pe->offset), (ssize_t)pe->stored_len);
	cr_assert_eq(memcmp(file, sealed, pe->stored_len), 0, "the sealed bytes as stored");
	free(file);
	cr_assert(st->n == 0 || pe->offset > st->last_off);
	st->last_off = pe->offset;
	st->n++;
	return 0;
}

static int put_again_cb(const struct cfs_pack_entry *pe, const void *sealed, void *ud)
{
	struct cfs_repo *r = ud;
	uint64_t stored = 1;
	cr_assert_eq(cfs_repo_put_sealed_again(r, pe, sealed, &stored), 0);
	cr_assert_eq(stored, pe->stored_len);
	/* Being stored already: not twice. */
	cr_assert_eq(cfs_repo_put_sealed_again(r, pe, sealed, &stored), 0);
	cr_assert_eq(stored, 0);
	return 0;
}

/* Prune's repack: a pack's blobs read in one span, each verified, handed
 * over as stored and copied to a new pack as they are; damage is named by
 * the blob it hits. */
Test(repo, pack_blobs_read_verified_and_copied)
{
	enum { N = 3, LEN = 100000 };
	struct cfs_id ids[N];
	uint32_t lens[N];
	struct cfs_blob_loc loc, moved;
	uint8_t *a = malloc(LEN);
	cr_assert_not_null(a);

	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	for (uint32_t i = 0; i < N; i++) {
		fill(a, LEN, 40 + i);
		cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, LEN, &ids[i], NULL, NULL), 0);
		lens[i] = LEN;
	}
	commit_with_blobs(r, ids, lens, N, NULL, NULL);
	cr_assert_eq(cfs_repo_blob_loc(r, &ids[0], &loc), 0);
	char name[96], path[512];
	cfs_repo_pack_name(&loc.pack, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", repo_dir, name);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	uint64_t size = (uint64_t)sb.st_size;

	_cleanup_free_ struct cfs_pack_entry *entries = NULL;
	size_t count = 0, bad = 99;
	cr_assert_eq(cfs_repo_pack_header_read(r, &loc.pack, size, &entries, &count), 0);
	cr_assert_eq(count, N);
	/* Handed over in offset order whatever the order asked. */
	struct cfs_pack_entry t = entries[0];
	entries[0] = entries[N - 1];
	entries[N - 1] = t;
	struct sealed_seen st = {.fd = open(path, O_RDONLY)};
	cr_assert_geq(st.fd, 0);
	cr_assert_eq(cfs_repo_pack_read_blobs(r, &loc.pack, size, entries, count, sealed_seen_cb, &st, &bad), 0);
	cr_assert_eq(st.n, N);
	cr_assert_eq(bad, N);

	/* Copied as sealed: the catalog points to the new pack once it is
	 * flushed, and each blob reads back (tag and id). */
	cr_assert_eq(cfs_repo_pack_read_blobs(r, &loc.pack, size, entries, count, put_again_cb, r, &bad), 0);
	cr_assert_eq(cfs_repo_flush(r), 0);
	for (uint32_t i = 0; i < N; i++) {
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		cr_assert_eq(cfs_repo_blob_loc(r, &ids[i], &moved), 0);
		cr_assert_neq(memcmp(&moved.pack, &loc.pack, sizeof(loc.pack)), 0);
		cr_assert_eq(cfs_repo_get_blob(r, &ids[i], &b), 0);
		fill(a, LEN, 40 + i);
		cr_assert_eq(b.len, LEN);
		cr_assert_eq(memcmp(b.data, a, LEN), 0);
	}

	/* A flipped byte in the middle blob: -EBADMSG, that blob named, the
	 * one before it handed over, none after. */
	uint8_t c;
	uint64_t at = entries[1].offset + entries[1].stored_len / 2;
	int fd = open(path, O_RDWR);
	cr_assert_eq(pread(fd, &c, 1, (off_t)at), 1);
	c ^= 0x01;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)at), 1);
	close(fd);
	st.n = 0;
	cr_assert_eq(cfs_repo_pack_read_blobs(r, &loc.pack, size, entries, count, sealed_seen_cb, &st, &bad), -EBADMSG);
	cr_assert_eq(bad, 1);
	cr_assert_eq(st.n, 1);
	cr_assert_eq(memcmp(&entries[1].id, &ids[1], sizeof(ids[1])), 0);

	/* An entry that does not lie in the pack: -EPROTO, named. */
	entries[2].offset = size - 1;
	cr_assert_eq(cfs_repo_pack_read_blobs(r, &loc.pack, size, entries, count, sealed_seen_cb, &st, &bad), -EPROTO);
	cr_assert_eq(bad, 2);

	/* A truncated pack: the store's -ERANGE, for the span's first blob. */
	free(entries);
	entries = NULL;
	cr_assert_eq(cfs_repo_pack_header_read(r, &loc.pack, size, &entries, &count), 0);
	cr_assert_eq(truncate(path, (off_t)(size / 2)), 0);
	cr_assert_eq(cfs_repo_pack_read_blobs(r, &loc.pack, size, entries, count, sealed_seen_cb, &st, &bad), -ERANGE);
	cr_assert_eq(bad, 0);
	close(st.fd);
	cfs_repo_free(r);
	free(a);
}

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

/* ---- dictionaries ------------------------------------------------------ */

/* Word text like a small source or config file: blob k of about 800 bytes. */
static size_t small_text(uint32_t k, char *out, size_t cap)
{
	static const char *const words[] = {"config", "value", "return", "static", "struct", "buffer",
					    "length", "error",  "server", "client", "update", "delete",
					    "insert", "select", "where",  "order",  "table",  "index"};
	uint32_t x = k * 2654435761u + 1;
	size_t n = 0, want = 600 + k % 400;
	n += (size_t)snprintf(out, cap, "# file %u\n", k);
	while (n + 16 < want && n + 16 < cap) {
		x = x * 1103515245u + 12345u;
		const char *w = words[(x >> 16) % (sizeof(words) / sizeof(*words))];
		n += (size_t)snprintf(out + n, cap - n, "%s%s", w, (x >> 8) % 7 == 0 ? "\n" : " ");
	}
	return n;
}

static unsigned count_dicts(void)
{
	char cmd[400];
	unsigned n = 0;
	snprintf(cmd, sizeof(cmd), "find '%s' -path '*/dicts/*' -type f | wc -l", repo_dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%u", &n), 1);
	pclose(f);
	return n;
}

/* Put blobs first..first+count-1 and commit them as one file. */
static void put_small_texts(struct cfs_repo *r, uint32_t first, uint32_t count, struct cfs_id *ids)
{
	uint32_t *lens = calloc(count, sizeof(*lens));
	char buf[1100];
	cr_assert_not_null(lens);
	for (uint32_t i = 0; i < count; i++) {
		size_t n = small_text(first + i, buf, sizeof(buf));
		cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, buf, n, &ids[i], NULL, NULL), 0);
		lens[i] = (uint32_t)n;
	}
	commit_with_blobs(r, ids, lens, count, NULL, NULL);
	free(lens);
}

static void check_small_texts(struct cfs_repo *r, uint32_t first, uint32_t count, const struct cfs_id *ids)
{
	struct cfs_buf b = CFS_BUF_INIT;
	char buf[1100];
	for (uint32_t i = 0; i < count; i++) {
		size_t n = small_text(first + i, buf, sizeof(buf));
		cr_assert_eq(cfs_repo_get_blob(r, &ids[i], &b), 0, "blob %u", first + i);
		cr_assert_eq(b.len, n);
		cr_assert_eq(memcmp(b.data, buf, n), 0);
	}
	cfs_buf_release(&b);
}

static int no_bad_blob(const struct cfs_id *blob, uint64_t offset, int error, void *ud)
{
	(void)blob;
	(void)offset;
	(void)ud;
	cr_assert_fail("a blob does not verify: %d", error);
	return 0;
}

Test(repo, dictionary_trained_then_used)
{
	enum { FIRST = 1600, LATER = 300 };
	static struct cfs_id ids[FIRST + LATER];
	struct cfs_blob_loc loc;

	init_repo(CFS_ENC_AES256GCM);
	/* A first run of ~1.3 MiB of small files: no dictionary to use yet,
	 * one trained from them at commit. */
	struct cfs_repo *r = open_ok(true);
	put_small_texts(r, 0, FIRST, ids);
	cr_assert_eq(cfs_repo_blob_loc(r, &ids[0], &loc), 0);
	cr_assert_eq(loc.codec, CFS_CODEC_ZSTD);
	cr_assert_eq(loc.dict, 0);
	r = cfs_repo_free(r);
	cr_assert_eq(count_dicts(), 1);

	/* The next run compresses small data blobs with it, smaller. */
	r = open_ok(true);
	uint64_t plain = 0, with = 0;
	for (uint32_t i = 0; i < LATER; i++) {
		char buf[1100];
		size_t n = small_text(FIRST + i, buf, sizeof(buf));
		struct cfs_sealed_blob sb = {0};
		_cleanup_(cfs_repo_sealer_freep) struct cfs_repo_sealer *s = NULL;
		if (i == 0) {
			cr_assert_eq(cfs_repo_sealer_new(r, &s), 0);
			cr_assert_eq(cfs_repo_sealer_seal(s, CFS_BLOB_DATA, &ids[0], buf, n, &sb), 0);
			cr_assert_eq(sb.codec, CFS_CODEC_ZSTD_DICT);
			cr_assert_neq(sb.dict, 0);
			cfs_buf_release(&sb.data);
		}
		_cleanup_(cfs_compressor_freep) struct cfs_compressor *zc = NULL;
		_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
		enum cfs_codec codec;
		cr_assert_eq(cfs_compressor_new(3, &zc), 0);
		cr_assert_eq(cfs_compress(zc, NULL, buf, n, &z, &codec), 0);
		plain += z.len;
	}
	put_small_texts(r, FIRST, LATER, ids + FIRST);
	for (uint32_t i = 0; i < LATER; i++) {
		cr_assert_eq(cfs_repo_blob_loc(r, &ids[FIRST + i], &loc), 0);
		cr_assert_eq(loc.codec, CFS_CODEC_ZSTD_DICT);
		cr_assert_neq(loc.dict, 0);
		with += loc.stored_len - CFS_AEAD_OVERHEAD;
	}
	cr_assert_lt(with, plain * 9 / 10, "with the dictionary %llu bytes, without %llu", (unsigned long long)with,
		     (unsigned long long)plain);
	r = cfs_repo_free(r);
	cr_assert_eq(count_dicts(), 1, "a repository with a dictionary trains no other");

	/* A machine that never saw the repository: the catalog (dictionary
	 * numbers included) comes from index objects; every blob reads back
	 * and every pack verifies. */
	char other[400];
	snprintf(other, sizeof(other), "%s/other-cache", tmp);
	cr_assert_eq(open_repo_with(repo_pw(), other, false, &r), 0);
	check_small_texts(r, 0, FIRST + LATER, ids);
	cr_assert_eq(cfs_repo_blob_loc(r, &ids[FIRST], &loc), 0);
	cr_assert_eq(loc.codec, CFS_CODEC_ZSTD_DICT);
	uint64_t blobs = 0;
	cr_assert_eq(cfs_repo_verify_pack(r, &loc.pack, no_bad_blob, NULL, &blobs), 0);
	cr_assert_gt(blobs, 0);
	r = cfs_repo_free(r);
}

Test(repo, missing_dictionary_is_an_integrity_error)
{
	enum { FIRST = 1600 };
	static struct cfs_id ids[FIRST + 1];
	struct cfs_buf b = CFS_BUF_INIT;
	char cmd[600];

	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = open_ok(true);
	put_small_texts(r, 0, FIRST, ids);
	r = cfs_repo_free(r);
	r = open_ok(true);
	put_small_texts(r, FIRST, 1, ids + FIRST);
	r = cfs_repo_free(r);

	/* A damaged dictionary object does not verify: its bytes no longer
	 * hash to its name (unencrypted: that is all there is to catch it). */
	snprintf(cmd, sizeof(cmd), "cd '%s' && f=$(ls dicts/*) && printf 'X' | dd of=$f bs=1 seek=30 conv=notrunc 2>/dev/null",
		 repo_dir);
	cr_assert_eq(system(cmd), 0);
	r = open_ok(false);
	snprintf(cmd, sizeof(cmd), "cd '%s' && ls dicts/*", repo_dir);
	FILE *f = popen(cmd, "r");
	char name[200] = "";
	cr_assert_not_null(fgets(name, sizeof(name), f));
	pclose(f);
	name[strcspn(name, "\n")] = 0;
	cr_assert_eq(cfs_repo_verify_object(r, name), -EBADMSG);
	r = cfs_repo_free(r);

	/* Gone: blobs compressed with it fail as damaged, the others read. */
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/dicts/*", repo_dir);
	cr_assert_eq(system(cmd), 0);
	char other[400];
	snprintf(other, sizeof(other), "%s/other-cache", tmp);
	cr_assert_eq(open_repo_with(NULL, other, false, &r), 0);
	cr_assert_eq(cfs_repo_get_blob(r, &ids[FIRST], &b), -EBADMSG);
	check_small_texts(r, 0, 10, ids);
	cfs_buf_release(&b);
	r = cfs_repo_free(r);
}

/* A format 1 repository stays readable by the chronofs that made it: its
 * writers never add a dictionary. */
Test(repo, format1_repository_gets_no_dictionary)
{
	enum { FIRST = 1600 };
	static struct cfs_id ids[FIRST];
	char path[400];

	init_repo(CFS_ENC_NONE);
	snprintf(path, sizeof(path), "%s/config", repo_dir);
	int fd = open(path, O_RDWR);
	uint8_t v[4];
	cfs_put_le32(v, 1);
	cr_assert_eq(pwrite(fd, v, 4, 8), 4);
	close(fd);
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r), 0);
	put_small_texts(r, 0, FIRST, ids);
	r = cfs_repo_free(r);
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r), 0);
	put_small_texts(r, FIRST / 2, 1, ids);
	r = cfs_repo_free(r);
	cr_assert_eq(count_dicts(), 0);
}

/* A passphrase given to a repository whose config says "none" is refused
 * before anything is read or written (the config is not authenticated). */
Test(repo, passphrase_for_unencrypted_is_refused)
{
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = NULL;
	cr_assert_eq(open_repo_with("secret", cache_dir, true, &r), -EKEYREVOKED);
	cr_assert_eq(open_repo_with("secret", cache_dir, false, &r), -EKEYREVOKED);
	cr_assert_eq(open_repo_with(NULL, cache_dir, true, &r), 0);
	cfs_repo_free(r);
}

/* Dedup reuses a blob only while its pack is in the store with the size
 * recorded: a deleted or truncated pack's blobs are stored again, and the
 * catalog then points to the new copy. */
static void lost_pack_is_not_reused(const char *how)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	size_t n = 200000;
	uint8_t *a = malloc(n);
	fill(a, n, 7);
	struct cfs_id id, sid;
	struct cfs_blob_loc before, after;
	bool added;
	uint32_t len = (uint32_t)n;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, &added, NULL), 0);
	commit_with_blobs(r, &id, &len, 1, &sid, NULL);
	cr_assert_eq(cfs_repo_blob_state(r, &id, &before), CFS_BLOB_USABLE);
	r = cfs_repo_free(r);

	char path[600], cmd[700];
	data_pack_path(path, sizeof(path));
	if (strcmp(how, "delete") == 0)
		snprintf(cmd, sizeof(cmd), "rm -f '%s'", path);
	else
		snprintf(cmd, sizeof(cmd), "truncate -s 1000 '%s'", path);
	cr_assert_eq(system(cmd), 0);

	r = open_ok(true);
	int st = cfs_repo_blob_state(r, &id, NULL);
	cr_assert(st == CFS_BLOB_PACK_MISSING || st == CFS_BLOB_PACK_DAMAGED, "state %d", st);
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, &added, NULL), 0);
	cr_assert(added, "a blob whose pack is %sd must be stored again", how);
	cr_assert_eq(cfs_repo_flush(r), 0);
	cr_assert_eq(cfs_repo_blob_state(r, &id, &after), CFS_BLOB_USABLE);
	cr_assert_neq(memcmp(&before.pack, &after.pack, sizeof(before.pack)), 0);
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_repo_get_blob(r, &id, &b), 0);
	cr_assert_eq(memcmp(b.data, a, n), 0);
	cfs_buf_release(&b);
	cfs_repo_free(r);
	free(a);
}

Test(repo, deleted_pack_is_not_reused) { lost_pack_is_not_reused("delete"); }
Test(repo, truncated_pack_is_not_reused) { lost_pack_is_not_reused("truncate"); }

/* Two writers (two caches) in one second: the second does not know the
 * first's snapshot, the names/ reservation gives it the next form; a name
 * held by two snapshots (an older version wrote them) never resolves. */
Test(repo, names_are_reserved_in_the_store)
{
	init_repo(CFS_ENC_AES256GCM);
	char other[400], hidden[700], cmd[1600], hex[CFS_ID_HEX_SIZE];
	char n1[80], n2[80];
	struct cfs_id s1, s2;
	struct cfs_repo *r = open_ok(true);
	commit_with_blobs(r, NULL, NULL, 0, &s1, n1);
	r = cfs_repo_free(r);
	cr_assert_str_eq(n1, "2026-11-25T03:56:44Z");

	cfs_id_hex(&s1, hex);
	snprintf(hidden, sizeof(hidden), "%s/hidden", tmp);
	snprintf(cmd, sizeof(cmd), "mv '%s/snapshots/%s' '%s'", repo_dir, hex, hidden);
	cr_assert_eq(system(cmd), 0);
	snprintf(other, sizeof(other), "%s/other-cache", tmp);
	cr_assert_eq(open_repo_with(repo_pw(), other, true, &r), 0);
	commit_with_blobs(r, NULL, NULL, 0, &s2, n2);
	r = cfs_repo_free(r);
	cr_assert_str_eq(n2, "2026-11-25T03:56:44.000Z");
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s/snapshots/%s'", hidden, repo_dir, hex);
	cr_assert_eq(system(cmd), 0);

	/* The names/ object verifies and holds the snapshot id. */
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/names' | wc -l) = 2", repo_dir);
	cr_assert_eq(system(cmd), 0);

	/* Duplicates made without names/ (an older version). */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/names' && mv '%s/snapshots/%s' '%s'", repo_dir, repo_dir, hex, hidden);
	cr_assert_eq(system(cmd), 0);
	char third[400], n3[80];
	struct cfs_id s3;
	snprintf(third, sizeof(third), "%s/third-cache", tmp);
	cr_assert_eq(open_repo_with(repo_pw(), third, true, &r), 0);
	/* This cache knows the millisecond snapshot but not the other: it
	 * takes the bare name (another manifest: one with a blob). */
	struct cfs_id bid;
	uint32_t blen = 5;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, "third", 5, &bid, NULL, NULL), 0);
	commit_with_blobs(r, &bid, &blen, 1, &s3, n3);
	r = cfs_repo_free(r);
	cr_assert_str_eq(n3, "2026-11-25T03:56:44Z");
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s/snapshots/%s'", hidden, repo_dir, hex);
	cr_assert_eq(system(cmd), 0);
	r = open_ok(false);
	cr_assert_eq(cfs_repo_find_snapshot(r, "2026-11-25T03:56:44Z", NULL, NULL), -ENOTUNIQ);
	struct cfs_id got;
	cr_assert_eq(cfs_repo_find_snapshot(r, "2026-11-25T03:56:44.000Z", NULL, &got), 0);
	cr_assert_eq(memcmp(&got, &s2, sizeof(got)), 0);
	cfs_repo_free(r);
}

/*
 * check walks a tree of any depth: 3000 nested directories (a path of
 * 15,000 bytes; the old recursive walk used 8 KiB of stack per level and
 * crashed), with a file at the bottom whose blob is not in the repository:
 * one problem, named with its path.
 */
Test(repo, check_walks_deep_trees)
{
	enum { DEPTH = 3000 };
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = open_ok(true);
	struct cfs_id id, missing;
	uint64_t nodes = 0;
	memset(missing.b, 0x5a, sizeof(missing.b));
	for (int level = DEPTH; level >= 0; level--) {
		struct cfs_tree t = CFS_TREE_INIT;
		struct cfs_tree_entry e = {0};
		char name[8];
		snprintf(name, sizeof(name), level == DEPTH ? "file" : "dddd");
		e.name = (uint8_t *)strdup(name);
		e.name_len = 4;
		e.mode = 0755;
		if (level == DEPTH) {
			e.type = CFS_FT_REG;
			e.size = 10;
			e.extents = calloc(1, sizeof(*e.extents));
			e.extents[0] = (struct cfs_extent){0, 10, missing};
			e.n_extents = 1;
		} else {
			e.type = CFS_FT_DIR;
			e.subtree = id;
			e.subtree_nodes = nodes;
		}
		cr_assert_eq(cfs_tree_add(&t, &e), 0);
		nodes = cfs_tree_node_count(&t);
		cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &id, NULL), 0);
		cfs_tree_release(&t);
	}
	commit_root(r, &id, nodes, NULL, NULL);
	r = cfs_repo_free(r);

	/* The report goes to stderr: catch it. */
	char log[400];
	snprintf(log, sizeof(log), "%s/check.log", tmp);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	dup2(fd, 2);
	close(fd);
	r = open_ok(false);
	struct cfs_check_options o = {0};
	struct cfs_check_result res;
	int e = cfs_check_run(r, &o, &res);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	cr_assert_eq(e, 0);
	cr_assert_eq(res.problems, 1);
	cr_assert_eq(res.trees, DEPTH + 1);
	cfs_repo_free(r);

	struct cfs_buf b = CFS_BUF_INIT;
	size_t n;
	char *text = NULL;
	cr_assert_eq(cfs_read_file(log, false, &text, &n), 0);
	char *p = strstr(text, "/dddd/dddd");
	cr_assert_not_null(p, "%s", text);
	/* The logger cuts a line at 4 KiB: the path fills it. */
	size_t plen = strcspn(p, " \n");
	cr_assert_gt(plen, 4000, "path of %zu bytes reported", plen);
	free(text);
	cfs_buf_release(&b);
}

/*
 * The tree fetcher (prune's marking): every tree submitted comes back once,
 * decoded, on threads or on the caller's own; a tree the catalog does not
 * have comes back as -ENOENT naming it; nothing in flight is -EINVAL; and
 * freeing it with trees in flight or waiting loses nothing to the leak
 * checker.
 */
Test(repo, fetch_returns_every_tree_once)
{
	enum { N = 300 };
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	struct cfs_id ids[N + 1];
	for (int i = 0; i < N; i++) {
		struct cfs_tree t = CFS_TREE_INIT;
		struct cfs_tree_entry e = {0};
		char name[16];
		int len = snprintf(name, sizeof(name), "f%05d", i);
		e.name = (uint8_t *)strdup(name);
		e.name_len = (uint32_t)len;
		e.type = CFS_FT_REG;
		e.mode = 0644;
		cr_assert_eq(cfs_tree_add(&t, &e), 0);
		cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &ids[i], NULL), 0);
		cfs_tree_release(&t);
	}
	commit_root(r, &ids[0], 1, NULL, NULL);
	memset(ids[N].b, 0x77, sizeof(ids[N].b)); /* no such tree */

	for (unsigned threads = 0; threads <= 3; threads += 3) {
		struct cfs_repo_fetch *f = NULL;
		bool seen[N + 1] = {false};
		cr_assert_eq(cfs_repo_fetch_new(r, threads, &f), 0);
		cr_assert_eq(cfs_repo_fetch_next(f, &ids[0], &(struct cfs_tree)CFS_TREE_INIT), -EINVAL);
		for (int i = 0; i <= N; i++)
			cr_assert_eq(cfs_repo_fetch_submit(f, &ids[i]), 0);
		cr_assert_eq(cfs_repo_fetch_in_flight(f), N + 1);
		for (int k = 0; k <= N; k++) {
			struct cfs_id id;
			struct cfs_tree t = CFS_TREE_INIT;
			int e = cfs_repo_fetch_next(f, &id, &t);
			int i = 0;
			while (i <= N && memcmp(ids[i].b, id.b, CFS_ID_SIZE) != 0)
				i++;
			cr_assert_leq(i, N, "an id that was not submitted");
			cr_assert(!seen[i], "tree %d twice", i);
			seen[i] = true;
			if (i == N) {
				cr_assert_eq(e, -ENOENT);
				cr_assert_eq(t.n, 0);
				continue;
			}
			cr_assert_eq(e, 0, "tree %d: %d", i, e);
			char name[16];
			snprintf(name, sizeof(name), "f%05d", i);
			cr_assert_eq(t.n, 1);
			cr_assert(memcmp(t.entries[0].name, name, 6) == 0);
			cfs_tree_release(&t);
		}
		cr_assert_eq(cfs_repo_fetch_in_flight(f), 0);
		/* Freed with trees submitted and not taken. */
		for (int i = 0; i < 50; i++)
			cr_assert_eq(cfs_repo_fetch_submit(f, &ids[i]), 0);
		struct cfs_id id;
		struct cfs_tree t = CFS_TREE_INIT;
		cr_assert_eq(cfs_repo_fetch_next(f, &id, &t), 0);
		cfs_tree_release(&t);
		cr_assert_null(cfs_repo_fetch_free(f));
	}
	cr_assert_null(cfs_repo_fetch_free(NULL));
	cfs_repo_free(r);
}

#ifdef CFS_FAULT_INJECTION
/* Count the objects under repo_dir/dir (the fault tests below). */
static int count_objects(const char *dir)
{
	char cmd[400], line[64];
	snprintf(cmd, sizeof(cmd), "find '%s/%s' -type f 2>/dev/null | wc -l", repo_dir, dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	pclose(f);
	return atoi(line);
}
#endif

/*
 * The uploaders (a store of several transfers): flushed packs go to the
 * pool, the flush waits for them all and says if one failed; the failure
 * sticks (no index or manifest may follow a lost pack) and freeing the
 * repository joins the pool.
 */
Test(repo, uploaders_fail_the_flush)
{
#ifndef CFS_FAULT_INJECTION
	cr_skip_test("needs -Dfault_injection=true");
#else
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_objstore_options so = {.transfers = 4};
	struct cfs_repo_open_options o = {.location = repo_dir, .cache_dir = cache_dir, .password = "secret",
					  .password_len = 6, .writer = true, .store = &so};
	struct cfs_repo *r = NULL;
	cr_assert_eq(cfs_repo_open(&o, &r), 0);
	static uint8_t a[100000];
	struct cfs_id id;
	/* Good packs first: the pool writes them, the flush waits. */
	for (uint32_t i = 0; i < 3; i++) {
		fill(a, sizeof(a), i);
		cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, sizeof(a), &id, NULL, NULL), 0);
		cr_assert_eq(cfs_repo_flush(r), 0);
	}
	cr_assert_eq(r->uploaders.n, 4);
	cr_assert_eq(count_objects("data"), 3);
	/* Then every put fails. */
	setenv("CHRONOFS_FAULTS", "objstore.put:*", 1);
	fill(a, sizeof(a), 99);
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, sizeof(a), &id, NULL, NULL), 0);
	cr_assert_eq(cfs_repo_flush(r), -EIO);
	unsetenv("CHRONOFS_FAULTS");
	cr_assert_eq(count_objects("data"), 3);
	struct cfs_id root = {{0}};
	struct cfs_snapshot s = {.time_ns = 1795579004000000000LL, .root = root};
	cr_assert_eq(cfs_repo_commit_snapshot(r, &s, NULL), -EIO);
	cfs_snapshot_release(&s);
	cr_assert_eq(count_objects("index"), 0);
	cr_assert_eq(count_objects("snapshots"), 0);
	cfs_repo_free(r);
#endif
}

/* The config is not authenticated: the catalog remembers the one it saw
 * and names any change but an upgrade, at every open. */
Test(repo, changed_config_is_named)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	struct cfs_repo_sync_stats st;
	cfs_repo_sync_stats(r, &st);
	cr_assert_eq(st.config_changed, 0);
	r = cfs_repo_free(r);

	char path[400];
	snprintf(path, sizeof(path), "%s/config", repo_dir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t orig[4], v[4];
	cr_assert_eq(pread(fd, orig, 4, 48), 4);
	cfs_put_le32(v, cfs_get_le32(orig) + 4096); /* the minimum chunk size */
	cr_assert_eq(pwrite(fd, v, 4, 48), 4);
	for (int writer = 0; writer < 2; writer++) {
		r = open_ok(writer);
		cfs_repo_sync_stats(r, &st);
		cr_assert_eq(st.config_changed, 1, "writer %d", writer);
		r = cfs_repo_free(r);
	}
	cr_assert_eq(pwrite(fd, orig, 4, 48), 4);
	/* An older version: a rollback of an upgrade. */
	cfs_put_le32(v, CFS_REPO_FORMAT_VERSION - 1);
	cr_assert_eq(pwrite(fd, v, 4, 8), 4);
	r = open_ok(false);
	cfs_repo_sync_stats(r, &st);
	cr_assert_eq(st.config_changed, 1);
	r = cfs_repo_free(r);
	/* Upgraded again: remembered, not named. */
	r = open_ok(true);
	uint32_t from;
	cr_assert_eq(cfs_repo_upgrade(r, &from), 0);
	cr_assert_eq(from, CFS_REPO_FORMAT_VERSION - 1);
	r = cfs_repo_free(r);
	r = open_ok(false);
	cfs_repo_sync_stats(r, &st);
	cr_assert_eq(st.config_changed, 0);
	r = cfs_repo_free(r);
	close(fd);
}

/* A pack check --read-data found damaged is not deduplicated against by
 * writers of that cache while the store lists it; a good read clears it. */
Test(repo, marked_damaged_pack_is_not_reused)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	static uint8_t a[5000];
	struct cfs_id id;
	struct cfs_blob_loc loc;
	fill(a, sizeof(a), 7);
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, sizeof(a), &id, NULL, NULL), 0);
	commit_with_blobs(r, &id, (uint32_t[]){sizeof(a)}, 1, NULL, NULL);
	cr_assert_eq(cfs_repo_blob_state(r, &id, &loc), CFS_BLOB_USABLE);
	r = cfs_repo_free(r);

	/* A reader records it (through a primary of its own). */
	r = open_ok(false);
	bool bad = true;
	cr_assert_eq(cfs_repo_mark_damaged(r, &loc.pack, &bad, 1), 0);
	r = cfs_repo_free(r);
	r = open_ok(true);
	cr_assert(cfs_repo_pack_marked_damaged(r, &loc.pack));
	cr_assert_eq(cfs_repo_blob_state(r, &id, NULL), CFS_BLOB_PACK_DAMAGED);
	/* The writer stores it again; the catalog points to the new copy. */
	bool added = false;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, sizeof(a), &id, &added, NULL), 0);
	cr_assert(added);
	cr_assert_eq(cfs_repo_flush(r), 0);
	struct cfs_blob_loc now;
	cr_assert_eq(cfs_repo_blob_loc(r, &id, &now), 0);
	cr_assert_neq(memcmp(&now.pack, &loc.pack, sizeof(now.pack)), 0);
	/* Read whole again: the mark goes. */
	bad = false;
	cr_assert_eq(cfs_repo_mark_damaged(r, &loc.pack, &bad, 1), 0);
	cr_assert_not(cfs_repo_pack_marked_damaged(r, &loc.pack));
	r = cfs_repo_free(r);
}

/* A tree blob whose one entry is named `bad`: encoded with a placeholder of
 * its length, then patched, as someone who can write the repository (and,
 * unencrypted, compute ids) could. */
static struct cfs_id hostile_tree(struct cfs_repo *r, const char *bad, uint8_t type, const struct cfs_id *sub)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_tree_entry e = {0};
	size_t n = strlen(bad);
	e.name = (uint8_t *)strndup("QQQQQQQQ", n);
	e.name_len = (uint16_t)n;
	e.type = type;
	e.mode = type == CFS_FT_DIR ? 0755 : 0644;
	if (sub) {
		e.subtree = *sub;
		e.subtree_nodes = 1;
	}
	cr_assert_eq(cfs_tree_add(&t, &e), 0);
	struct cfs_buf enc = CFS_BUF_INIT;
	cr_assert_eq(cfs_tree_encode_version(&t, cfs_repo_tree_version(r), &enc), 0);
	uint8_t *at = memmem(enc.data, enc.len, "QQQQQQQQ", n);
	cr_assert_not_null(at);
	memcpy(at, bad, n);
	struct cfs_id id;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_TREE, enc.data, enc.len, &id, NULL, NULL), 0);
	cfs_buf_release(&enc);
	cfs_tree_release(&t);
	return id;
}

/*
 * A hostile repository's trees never lead restore outside its target: an
 * entry named "..", ".", or with a '/' in it makes the tree malformed
 * (-EPROTO, named), and nothing is created but under the target.
 */
Test(repo, hostile_names_stay_inside_the_target)
{
	static const struct {
		const char *name;
		uint8_t type;
	} bad[] = {{"..", CFS_FT_DIR}, {".", CFS_FT_DIR}, {"../x", CFS_FT_REG}, {"a/b", CFS_FT_REG}};
	init_repo(CFS_ENC_NONE);
	struct cfs_repo *r = open_ok(true);
	/* A subtree for the directories: one empty file named "escaped". */
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_tree_entry e = {.name = (uint8_t *)strdup("escaped"), .name_len = 7, .type = CFS_FT_REG,
				   .mode = 0644};
	cr_assert_eq(cfs_tree_add(&t, &e), 0);
	struct cfs_id sub, roots[ARRAY_SIZE(bad)];
	char names[ARRAY_SIZE(bad)][64];
	cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &sub, NULL), 0);
	cfs_tree_release(&t);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		roots[i] = hostile_tree(r, bad[i].name, bad[i].type, bad[i].type == CFS_FT_DIR ? &sub : NULL);
		struct cfs_snapshot s = {0};
		s.time_ns = 1795579004000000000LL + (int64_t)i * 1000000000LL;
		s.host = strdup("h");
		s.tier = strdup("");
		s.paths = calloc(1, sizeof(char *));
		s.paths[0] = strdup("/x");
		s.n_paths = 1;
		s.root = roots[i];
		s.root_nodes = 3;
		cr_assert_eq(cfs_repo_commit_snapshot(r, &s, NULL), 0);
		strcpy(names[i], s.name);
		cfs_snapshot_release(&s);
	}
	r = cfs_repo_free(r);

	r = open_ok(false);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct cfs_tree got = CFS_TREE_INIT;
		cr_assert_eq(cfs_repo_get_tree(r, &roots[i], &got), -EPROTO, "%s", bad[i].name);
		char parent[400], target[450], cmd[1000];
		snprintf(parent, sizeof(parent), "%s/p%zu", tmp, i);
		snprintf(target, sizeof(target), "%s/target", parent);
		cr_assert_eq(mkdir(parent, 0700), 0);
		cr_assert_eq(mkdir(target, 0700), 0);
		struct cfs_snapshot s;
		cr_assert_eq(cfs_repo_find_snapshot(r, names[i], &s, NULL), 0);
		struct cfs_restore_stats st = {0};
		int e2 = cfs_restore_run(r, &s, &(struct cfs_restore_options){.target = target}, &st);
		cr_assert(e2 < 0 || st.errors > 0, "%s: restored without an error", bad[i].name);
		cfs_snapshot_release(&s);
		/* Nothing beside the target, nothing named "escaped" anywhere. */
		snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = target && ! find '%s' -name escaped | grep -q .",
			 parent, tmp);
		cr_assert_eq(system(cmd), 0, "%s: restore wrote outside its target", bad[i].name);
	}
	r = cfs_repo_free(r);
}

/* Whether the catalog holds a usable mark of the current generation for
 * tree id. */
static bool marked_usable(struct cfs_repo *r, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE], key[96];
	struct cfs_buf v = CFS_BUF_INIT;
	cfs_id_hex(id, hex);
	snprintf(key, sizeof(key), "%s%s", CFS_REPO_META_USABLE, hex);
	int e = cfs_catalog_meta_get(cfs_repo_catalog(r), key, &v);
	bool ok = e == 0 && v.len == 8 && cfs_get_le64(v.data) == r->usable_gen;
	cfs_buf_release(&v);
	return ok;
}

/* The trees a writer puts are marked usable when the snapshot naming them
 * commits (not before: their blobs are durable only then), so the next
 * incremental does not check their chunks; a loss of data voids the marks. */
Test(repo, put_trees_are_marked_usable_at_commit)
{
	init_repo(CFS_ENC_AES256GCM);
	struct cfs_repo *r = open_ok(true);
	size_t n = 200000;
	uint8_t *a = malloc(n);
	fill(a, n, 11);
	struct cfs_id id, tid, sid;
	bool added;
	uint32_t len = (uint32_t)n;
	cr_assert_eq(cfs_repo_put_blob(r, CFS_BLOB_DATA, a, n, &id, &added, NULL), 0);

	struct cfs_tree t = CFS_TREE_INIT;
	one_file_tree(&t, &id, &len, 1);
	cr_assert_eq(cfs_repo_put_tree(r, &t, NULL, &tid, NULL), 0);
	cr_assert_eq(cfs_repo_usable_commit(r), 0);
	cr_assert_not(marked_usable(r, &tid), "a tree is marked before its blobs are durable");

	commit_root(r, &tid, cfs_tree_node_count(&t), &sid, NULL);
	cr_assert(marked_usable(r, &tid), "a committed tree is not marked usable");
	r = cfs_repo_free(r);

	r = open_ok(true);
	cr_assert(marked_usable(r, &tid), "the mark did not last");
	cr_assert_eq(cfs_repo_tree_usable(r, &tid, &t), 0);
	r = cfs_repo_free(r);

	char path[600], cmd[700];
	data_pack_path(path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "rm -f '%s'", path);
	cr_assert_eq(system(cmd), 0);
	r = open_ok(true);
	cr_assert_not(marked_usable(r, &tid), "a loss of data left the mark valid");
	cr_assert_eq(cfs_repo_tree_usable(r, &tid, &t), -ENODATA);
	cfs_tree_release(&t);
	cfs_repo_free(r);
	free(a);
}
