/* SPDX-License-Identifier: MIT */
/*
 * copy: snapshots into a second repository. Repositories are local stores
 * in a temp directory, snapshots taken by ingest from a small source tree:
 * with shared parameters ids and trees carry over and nothing is sent
 * twice; present snapshots are skipped; without shared parameters files
 * are cut again and still restore byte for byte; a damaged source blob
 * fails the copy, named, and nothing is committed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronofs/copy.h"
#include "chronofs/ingest.h"
#include "chronofs/restore.h"
#include "chronofs/util.h"

static char tmp[256], src[300];
static const char pw[] = "pass phrase";

static void setup(void)
{
	strcpy(tmp, "/tmp/cfs-test-copy.XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(src, sizeof(src), "%s/src", tmp);
	cr_assert_eq(mkdir(src, 0755), 0);
}

static void teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

/* A file of n pseudo-random bytes from seed (incompressible, no repeats). */
static void write_file(const char *name, size_t n, uint32_t seed)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", src, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	uint64_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fputc((int)(x & 0xff), f);
	}
	cr_assert_eq(fclose(f), 0);
}

static void repo_path(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", tmp, name);
}

static struct cfs_repo *open_repo(const char *name, bool writer)
{
	char loc[300], cache[300];
	repo_path(name, loc, sizeof(loc));
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct cfs_repo_open_options o = {.location = loc, .cache_dir = cache, .writer = writer, .password = pw,
					  .password_len = strlen(pw)};
	struct cfs_repo *r = NULL;
	cr_assert_eq(cfs_repo_open(&o, &r), 0, "open %s", name);
	return r;
}

/* A new repository; params_from: the one whose parameters it takes. */
static void init_repo(const char *name, const char *params_from, uint32_t avg)
{
	char loc[300];
	repo_path(name, loc, sizeof(loc));
	struct cfs_repo_init_options o = {.location = loc, .encryption = CFS_ENC_AES256GCM, .password = pw,
					  .password_len = strlen(pw), .kdf = {10, 8, 1}};
	if (avg)
		o.chunker = (struct cfs_chunker_params){avg / 4, avg, avg * 4, {0}};
	struct cfs_repo *from = params_from ? open_repo(params_from, false) : NULL;
	o.params_from = from;
	cr_assert_eq(cfs_repo_init(&o, NULL), 0);
	cfs_repo_free(from);
}

static void backup(const char *name, struct cfs_id *ret)
{
	struct cfs_repo *r = open_repo(name, true);
	const char *paths[] = {src};
	struct cfs_backup_options o = {.paths = paths, .n_paths = 1, .host = "h", .job = "j",
				       .type = CFS_SNAP_INCREMENTAL};
	struct cfs_backup_result res = {0};
	cr_assert_eq(cfs_backup_run(r, &o, &res), 0);
	*ret = res.id;
	cfs_snapshot_release(&res.snapshot);
	cfs_repo_free(r);
}

/* Copy every snapshot of a into b. */
static int copy(const char *a, const char *b, struct cfs_copy_result *res)
{
	struct cfs_repo *from = open_repo(a, false), *to = open_repo(b, true);
	struct cfs_copy_options o = {0};
	int e = cfs_copy_run(from, to, &o, res);
	cfs_repo_free(to);
	cfs_repo_free(from);
	return e;
}

static void list(const char *name, struct cfs_snapshot_list *l)
{
	struct cfs_repo *r = open_repo(name, false);
	cr_assert_eq(cfs_repo_list_snapshots(r, l), 0);
	cfs_repo_free(r);
}

static struct cfs_id repo_id(const char *name)
{
	struct cfs_repo *r = open_repo(name, false);
	struct cfs_id id = *cfs_repo_id(r);
	cfs_repo_free(r);
	return id;
}

/* No .timeout on these tests (meson's 300 s stands): Criterion 2.4 leaks its
 * timer records (48 bytes each, LeakSanitizer in the runner) when tests with
 * different timeouts share a --jobs 2 run, as test-restore found. */
Test(copy, shared_params, .init = setup, .fini = teardown)
{
	struct cfs_id s1, s2;
	struct cfs_copy_result res;
	struct cfs_snapshot_list la = {0}, lb = {0};

	write_file("big", 6 << 20, 1);
	write_file("small", 5000, 2);
	init_repo("a", NULL, 64 * 1024);
	init_repo("b", "a", 0);
	backup("a", &s1);

	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert(res.params_shared);
	cr_assert_eq(res.snapshots_copied, 1);
	cr_assert_eq(res.snapshots_present, 0);
	cr_assert_gt(res.blobs_sent, 10);
	cr_assert_eq(res.blobs_present, 0);
	uint64_t first_sent = res.bytes_sent;
	cr_assert_gt(first_sent, 6 << 20);
	struct cfs_id b1 = res.new_ids[0];
	cfs_copy_result_release(&res);

	/* The same trees, so the same root id; the origin names a's snapshot. */
	list("a", &la);
	list("b", &lb);
	cr_assert_eq(lb.n, 1);
	cr_assert_eq(memcmp(&lb.items[0].root, &la.items[0].root, sizeof(struct cfs_id)), 0);
	cr_assert_eq(memcmp(&lb.ids[0], &b1, sizeof(b1)), 0);
	cr_assert(lb.items[0].has_origin);
	struct cfs_id aid = repo_id("a");
	cr_assert_eq(memcmp(&lb.items[0].origin.repo, &aid, sizeof(aid)), 0);
	cr_assert_eq(memcmp(&lb.items[0].origin.snapshot, &s1, sizeof(s1)), 0);
	cr_assert_str_eq(lb.items[0].job, "j");
	cr_assert_str_eq(lb.items[0].name, la.items[0].name);
	cr_assert_eq(lb.items[0].stats.bytes_added, la.items[0].stats.bytes_added);
	cfs_snapshot_list_release(&la);
	cfs_snapshot_list_release(&lb);

	/* Again: present, nothing sent. */
	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert_eq(res.snapshots_copied, 0);
	cr_assert_eq(res.snapshots_present, 1);
	cr_assert_eq(res.blobs_sent, 0);
	cr_assert_eq(res.bytes_sent, 0);
	cr_assert_eq(memcmp(&res.new_ids[0], &b1, sizeof(b1)), 0);
	cfs_copy_result_release(&res);

	/* A new file: only it (and the trees above it) is sent, and the
	 * new snapshot's parent is b's copy of the first. */
	write_file("new", 300000, 3);
	backup("a", &s2);
	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert_eq(res.snapshots_copied, 1);
	cr_assert_eq(res.snapshots_present, 1);
	cr_assert_lt(res.bytes_sent, 300000 + 64 * 1024, "sent %llu", (unsigned long long)res.bytes_sent);
	cr_assert_gt(res.blobs_present, 0);
	cfs_copy_result_release(&res);
	list("b", &lb);
	cr_assert_eq(lb.n, 2);
	cr_assert(lb.items[1].has_parent);
	cr_assert_eq(memcmp(&lb.items[1].parent, &b1, sizeof(b1)), 0);
	cr_assert_eq(memcmp(&lb.items[1].origin.snapshot, &s2, sizeof(s2)), 0);
	cfs_snapshot_list_release(&lb);
}

Test(copy, copy_of_copy_keeps_origin, .init = setup, .fini = teardown)
{
	struct cfs_id s1;
	struct cfs_copy_result res;
	struct cfs_snapshot_list lc = {0};

	write_file("f", 200000, 4);
	init_repo("a", NULL, 0);
	init_repo("b", "a", 0);
	init_repo("c", "a", 0);
	backup("a", &s1);
	cr_assert_eq(copy("a", "b", &res), 0);
	cfs_copy_result_release(&res);
	cr_assert_eq(copy("b", "c", &res), 0);
	cr_assert_eq(res.snapshots_copied, 1);
	cfs_copy_result_release(&res);
	list("c", &lc);
	struct cfs_id aid = repo_id("a");
	cr_assert(lc.items[0].has_origin);
	cr_assert_eq(memcmp(&lc.items[0].origin.repo, &aid, sizeof(aid)), 0);
	cr_assert_eq(memcmp(&lc.items[0].origin.snapshot, &s1, sizeof(s1)), 0);
	cfs_snapshot_list_release(&lc);
	/* a's own snapshot, copied back from c: present. And a → c too. */
	cr_assert_eq(copy("c", "a", &res), 0);
	cr_assert_eq(res.snapshots_copied, 0);
	cr_assert_eq(res.snapshots_present, 1);
	cr_assert_eq(memcmp(&res.new_ids[0], &s1, sizeof(s1)), 0);
	cfs_copy_result_release(&res);
	cr_assert_eq(copy("a", "c", &res), 0);
	cr_assert_eq(res.snapshots_present, 1);
	cr_assert_eq(res.bytes_sent, 0);
	cfs_copy_result_release(&res);
}

/* Compare file name under src with the same under the restore target. */
static void same_file(const char *target, const char *name)
{
	char a[700], b[1000];
	snprintf(a, sizeof(a), "%s/%s", src, name);
	snprintf(b, sizeof(b), "%s%s/%s", target, src, name);
	char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	cr_assert_eq(cfs_read_file(a, false, &x, &nx), 0);
	cr_assert_eq(cfs_read_file(b, false, &y, &ny), 0, "read %s", b);
	cr_assert_eq(nx, ny, "%s: %zu vs %zu bytes", name, nx, ny);
	cr_assert_eq(memcmp(x, y, nx), 0, "%s differs", name);
	free(x);
	free(y);
}

Test(copy, rechunk, .init = setup, .fini = teardown)
{
	struct cfs_id s1;
	struct cfs_copy_result res;
	struct cfs_snapshot_list la = {0}, lb = {0};

	write_file("big", 3 << 20, 5);
	write_file("small", 100, 6);
	write_file("empty", 0, 7);
	/* A sparse file: a hole between two data regions. */
	char path[400];
	snprintf(path, sizeof(path), "%s/sparse", src);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "head", 4, 0), 4);
	cr_assert_eq(pwrite(fd, "tail", 4, 8 << 20), 4);
	close(fd);
	init_repo("a", NULL, 64 * 1024);
	init_repo("b", NULL, 256 * 1024);
	backup("a", &s1);
	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert_not(res.params_shared);
	cr_assert_eq(res.snapshots_copied, 1);
	cfs_copy_result_release(&res);
	list("a", &la);
	list("b", &lb);
	cr_assert_neq(memcmp(&lb.items[0].root, &la.items[0].root, sizeof(struct cfs_id)), 0);

	struct cfs_repo *b = open_repo("b", false);
	char target[400];
	snprintf(target, sizeof(target), "%s/out", tmp);
	struct cfs_restore_options ro = {.target = target};
	struct cfs_restore_stats st;
	cr_assert_eq(cfs_restore_run(b, &lb.items[0], &ro, &st), 0);
	cfs_repo_free(b);
	same_file(target, "big");
	same_file(target, "small");
	same_file(target, "empty");
	same_file(target, "sparse");
	cfs_snapshot_list_release(&la);
	cfs_snapshot_list_release(&lb);

	/* Copied again: present. */
	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert_eq(res.snapshots_present, 1);
	cr_assert_eq(res.bytes_sent, 0);
	cfs_copy_result_release(&res);
}

/* The largest pack of repository name (data/xx/...), into out. */
static void largest_pack(const char *name, char *out, size_t n)
{
	char data[400];
	off_t best = -1;
	snprintf(data, sizeof(data), "%s/%s/data", tmp, name);
	DIR *d = opendir(data);
	cr_assert_not_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[700];
		snprintf(sub, sizeof(sub), "%s/%s", data, de->d_name);
		DIR *d2 = opendir(sub);
		struct dirent *f;
		while (d2 && (f = readdir(d2))) {
			char p[1000];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", sub, f->d_name);
			if (f->d_name[0] != '.' && stat(p, &st) == 0 && st.st_size > best) {
				best = st.st_size;
				snprintf(out, n, "%s", p);
			}
		}
		if (d2)
			closedir(d2);
	}
	closedir(d);
	cr_assert_gt(best, 0);
}

Test(copy, damaged_source_blob, .init = setup, .fini = teardown)
{
	struct cfs_id s1;
	struct cfs_copy_result res;
	struct cfs_snapshot_list lb = {0};
	char pack[1000];

	write_file("big", 2 << 20, 8);
	init_repo("a", NULL, 0);
	init_repo("b", "a", 0);
	backup("a", &s1);
	largest_pack("a", pack, sizeof(pack));
	int fd = open(pack, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t c;
	cr_assert_eq(pread(fd, &c, 1, 1000), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, 1000), 1);
	close(fd);

	int e = copy("a", "b", &res);
	cr_assert_eq(e, -EBADMSG, "copy: %d", e);
	cr_assert_not_null(res.error_kind);
	cr_assert_str_eq(res.error_kind, "blob");
	cr_assert(res.has_error_object);
	cr_assert(res.has_error_snapshot);
	cr_assert_eq(memcmp(&res.error_snapshot, &s1, sizeof(s1)), 0);
	cr_assert_not_null(res.error_path);
	cr_assert_not_null(strstr(res.error_path, "/big"), "path %s", res.error_path);
	cfs_copy_result_release(&res);
	list("b", &lb);
	cr_assert_eq(lb.n, 0);
	cfs_snapshot_list_release(&lb);
}

Test(copy, unknown_snapshot, .init = setup, .fini = teardown)
{
	struct cfs_copy_result res;
	init_repo("a", NULL, 0);
	init_repo("b", "a", 0);
	struct cfs_repo *from = open_repo("a", false), *to = open_repo("b", true);
	struct cfs_id bogus;
	memset(&bogus, 0x5a, sizeof(bogus));
	struct cfs_copy_options o = {.snapshots = &bogus, .n = 1};
	cr_assert_eq(cfs_copy_run(from, to, &o, &res), -ENOENT);
	cr_assert(res.has_error_snapshot);
	cfs_copy_result_release(&res);
	cfs_repo_free(to);
	cfs_repo_free(from);
}

Test(copy, params_from_needs_encryption, .init = setup, .fini = teardown)
{
	char loc[300];
	init_repo("a", NULL, 0);
	struct cfs_repo *from = open_repo("a", false);
	repo_path("n", loc, sizeof(loc));
	struct cfs_repo_init_options o = {.location = loc, .encryption = CFS_ENC_NONE, .params_from = from};
	cr_assert_eq(cfs_repo_init(&o, NULL), -EINVAL);
	repo_path("s", loc, sizeof(loc));
	o = (struct cfs_repo_init_options){.location = loc, .encryption = CFS_ENC_AES256GCM, .password = pw,
					   .password_len = strlen(pw), .kdf = {10, 8, 1}, .params_from = from,
					   .chunker = {65536, 262144, 1048576, {0}}};
	cr_assert_eq(cfs_repo_init(&o, NULL), -EINVAL);
	cfs_repo_free(from);
}

/* A directory large enough to be stored in fragments (tree.h): read and
 * written a fragment at a time, it keeps its id with shared parameters
 * and restores whole from a re-chunked copy. */
Test(copy, large_directory, .init = setup, .fini = teardown)
{
	struct cfs_id s1;
	struct cfs_copy_result res;
	struct cfs_snapshot_list la = {0}, lb = {0}, lc = {0};
	enum { N = 3 * CFS_TREE_FRAG_MIN };
	char name[32];

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%06u", i);
		write_file(name, 1 + i % 200, i);
	}
	init_repo("a", NULL, 0);
	init_repo("b", "a", 0);
	init_repo("c", NULL, 256 * 1024);
	backup("a", &s1);

	/* The source really has fragments: its directory is an index. */
	struct cfs_repo *a = open_repo("a", false);
	struct cfs_tree root = CFS_TREE_INIT;
	cr_assert_eq(cfs_repo_list_snapshots(a, &la), 0);
	struct cfs_id dir = la.items[0].root;
	/* Down the source path ("/tmp/cfs-test-copy.XXXXXX/src"). */
	for (int level = 0;; level++) {
		cr_assert_eq(cfs_repo_get_tree_object(a, &dir, &root), 0);
		if (root.n_frags)
			break;
		cr_assert_eq(root.n, 1, "level %d: %zu entries", level, root.n);
		dir = root.entries[0].subtree;
		cfs_tree_release(&root);
	}
	cr_assert_geq(root.n_frags, 2);
	cfs_tree_release(&root);
	cfs_repo_free(a);

	cr_assert_eq(copy("a", "b", &res), 0);
	cr_assert(res.params_shared);
	cfs_copy_result_release(&res);
	list("b", &lb);
	cr_assert_eq(memcmp(&lb.items[0].root, &la.items[0].root, sizeof(struct cfs_id)), 0);
	cr_assert_eq(lb.items[0].root_nodes, la.items[0].root_nodes);

	cr_assert_eq(copy("a", "c", &res), 0);
	cr_assert_not(res.params_shared);
	cfs_copy_result_release(&res);
	list("c", &lc);
	cr_assert_eq(lc.items[0].root_nodes, la.items[0].root_nodes);
	struct cfs_repo *c = open_repo("c", false);
	char target[400];
	snprintf(target, sizeof(target), "%s/out", tmp);
	struct cfs_restore_options ro = {.target = target};
	struct cfs_restore_stats st;
	cr_assert_eq(cfs_restore_run(c, &lc.items[0], &ro, &st), 0);
	cfs_repo_free(c);
	same_file(target, "f000000");
	same_file(target, "f012345");
	snprintf(name, sizeof(name), "f%06u", N - 1);
	same_file(target, name);
	char dirpath[700];
	snprintf(dirpath, sizeof(dirpath), "%s%s", target, src);
	DIR *d = opendir(dirpath);
	cr_assert_not_null(d);
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(n, N);
	cfs_snapshot_list_release(&la);
	cfs_snapshot_list_release(&lb);
	cfs_snapshot_list_release(&lc);
}
