/* SPDX-License-Identifier: MIT */
/*
 * Restore of trees deeper than any fixed buffer (issue 12, finding 9): a
 * snapshot 10,000 directories deep with 200-byte names (a 2 MB path) is put
 * together through the repository API and restored with 256 file
 * descriptors, whole and from a sub-path ~5,000 levels down; the bytes at the
 * bottom, a hard link from the top to the bottom, the directories' metadata
 * (applied after their contents) and the depth are checked by walking down
 * with openat(), since no path to the bottom fits a system call.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "chronofs/restore.h"
#include "chronofs/util.h"

#define DEPTH 10000
#define SUB_DEPTH 5000 /* the sub-path restore starts at this level */
#define NAME_LEN 200
#define DIR_MODE 0750
#define DIR_MTIME_NS 1700000000123456789LL

static char tmp[256], repo_dir[300], cache_dir[300];
static struct cfs_repo *repo;
static const char file_bytes[] = "the bottom of a very deep tree\n";

static void setup(void)
{
	strcpy(tmp, "/tmp/cfs-test-restore.XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(repo_dir, sizeof(repo_dir), "%s/repo", tmp);
	snprintf(cache_dir, sizeof(cache_dir), "%s/cache", tmp);
	struct cfs_repo_init_options io = {.location = repo_dir, .encryption = CFS_ENC_NONE};
	struct cfs_id id;
	cr_assert_eq(cfs_repo_init(&io, &id), 0);
	struct cfs_repo_open_options oo = {.location = repo_dir, .cache_dir = cache_dir, .writer = true};
	cr_assert_eq(cfs_repo_open(&oo, &repo), 0);
}

static void teardown(void)
{
	repo = cfs_repo_free(repo);
	/* GNU rm walks by descriptor, so it copes with any depth. */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

/* The name of the directory at depth i (1-based): 200 bytes, unique. */
static void level_name(unsigned i, char out[NAME_LEN + 1])
{
	int n = snprintf(out, NAME_LEN + 1, "d%05u-", i);
	memset(out + n, 'x', NAME_LEN - (size_t)n);
	out[NAME_LEN] = 0;
}

static void add_entry(struct cfs_tree *t, const char *name, uint8_t type, uint32_t mode)
{
	struct cfs_tree_entry e = {0};
	e.name = (uint8_t *)strdup(name);
	e.name_len = (uint16_t)strlen(name);
	e.type = type;
	e.mode = mode;
	e.uid = 0;
	e.gid = 0;
	e.mtime_ns = e.ctime_ns = DIR_MTIME_NS;
	cr_assert_eq(cfs_tree_add(t, &e), 0);
}

static void add_file(struct cfs_tree *t, const char *name, const struct cfs_id *blob, uint32_t len, uint32_t nlink)
{
	add_entry(t, name, CFS_FT_REG, 0640);
	struct cfs_tree_entry *e = &t->entries[t->n - 1];
	e->extents = calloc(1, sizeof(*e->extents));
	e->extents[0] = (struct cfs_extent){0, len, *blob};
	e->n_extents = 1;
	e->size = len;
	e->nlink = nlink;
	e->dev = 7;
	e->ino = 42;
}

/*
 * Build the snapshot, bottom up: the directory at depth DEPTH holds "f"
 * (two links: the other is "z-link" in the root), the one at SUB_DEPTH also
 * "other", which a sub-path restore below it must leave out.
 */
static void commit_deep(struct cfs_snapshot *s)
{
	struct cfs_id blob, child;
	uint64_t child_nodes = 0;
	bool added;
	char name[NAME_LEN + 1];

	cr_assert_eq(cfs_repo_put_blob(repo, CFS_BLOB_DATA, file_bytes, sizeof(file_bytes) - 1, &blob, &added, NULL),
		     0);
	for (unsigned depth = DEPTH + 1; depth-- > 0;) {
		struct cfs_tree t = CFS_TREE_INIT;
		if (depth == DEPTH) {
			add_file(&t, "f", &blob, sizeof(file_bytes) - 1, 2);
		} else {
			level_name(depth + 1, name);
			add_entry(&t, name, CFS_FT_DIR, DIR_MODE);
			t.entries[t.n - 1].subtree = child;
			t.entries[t.n - 1].subtree_nodes = child_nodes;
		}
		if (depth == SUB_DEPTH)
			add_file(&t, "other", &blob, sizeof(file_bytes) - 1, 1);
		if (depth == 0)
			add_file(&t, "z-link", &blob, sizeof(file_bytes) - 1, 2);
		cr_assert_eq(cfs_tree_sort(&t), 0);
		cr_assert_eq(cfs_repo_put_tree(repo, &t, NULL, &child, NULL), 0);
		child_nodes = cfs_tree_node_count(&t);
		cfs_tree_release(&t);
	}
	*s = (struct cfs_snapshot){.time_ns = 1795579004000000000LL};
	s->host = strdup("h");
	s->tier = strdup("");
	s->paths = calloc(1, sizeof(char *));
	s->paths[0] = strdup("/deep");
	s->n_paths = 1;
	s->root = child;
	s->root_nodes = child_nodes;
	cr_assert_eq(cfs_repo_commit_snapshot(repo, s, NULL), 0);
}

static void limit_fds(void)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 256;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Walk down from dir through levels from..DEPTH, checking names, modes and
 * times; returns an fd of the bottom directory. */
static int walk_down(int dir, unsigned from)
{
	char name[NAME_LEN + 1];
	int fd = dup(dir);
	for (unsigned i = from; i <= DEPTH; i++) {
		level_name(i, name);
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cr_assert_geq(nfd, 0, "level %u is missing: %s", i, strerror(errno));
		close(fd);
		fd = nfd;
		struct stat st;
		cr_assert_eq(fstat(fd, &st), 0);
		cr_assert_eq(st.st_mode & 07777, DIR_MODE, "level %u has mode %o", i, st.st_mode & 07777);
		cr_assert_eq((int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, DIR_MTIME_NS,
			     "level %u: the directory's mtime was not applied after its contents", i);
	}
	/* Nothing deeper than DEPTH. */
	level_name(DEPTH + 1, name);
	cr_assert_lt(openat(fd, name, O_RDONLY | O_DIRECTORY), 0);
	return fd;
}

static void check_file(int dir, const char *name, struct stat *ret)
{
	char buf[256];
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s is missing: %s", name, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf));
	cr_assert_eq(n, (ssize_t)sizeof(file_bytes) - 1);
	cr_assert_eq(memcmp(buf, file_bytes, (size_t)n), 0);
	cr_assert_eq(fstat(fd, ret), 0);
	cr_assert_eq(ret->st_mode & 07777, 0640);
	close(fd);
}

Test(restore, deep_tree, .init = setup, .fini = teardown, .timeout = 240)
{
	struct cfs_snapshot s;
	struct cfs_restore_stats st;
	char target[300];
	struct stat bottom, top;

	commit_deep(&s);
	limit_fds();
	snprintf(target, sizeof(target), "%s/t", tmp);
	cr_assert_eq(cfs_restore_run(repo, &s, &(struct cfs_restore_options){.target = target}, &st), 0);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.dirs, DEPTH);
	cr_assert_eq(st.files, 3); /* f, other, z-link */

	int tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tfd, 0);
	int fd = walk_down(tfd, 1);
	check_file(fd, "f", &bottom);
	check_file(tfd, "z-link", &top);
	cr_assert_eq(bottom.st_ino, top.st_ino, "z-link is not a hard link of the file 10,000 levels down");
	cr_assert_eq(bottom.st_nlink, 2);
	close(fd);
	close(tfd);
	cfs_snapshot_release(&s);
}

Test(restore, deep_sub_path, .init = setup, .fini = teardown, .timeout = 240)
{
	struct cfs_snapshot s;
	struct cfs_restore_stats st;
	char target[300], name[NAME_LEN + 1];
	struct stat bottom;

	commit_deep(&s);
	limit_fds();
	/* "/<level 1>/.../<level SUB_DEPTH + 1>": ~1 MB. */
	size_t cap = (size_t)(SUB_DEPTH + 1) * (NAME_LEN + 1) + 1, len = 0;
	char *sub = malloc(cap);
	cr_assert_not_null(sub);
	for (unsigned i = 1; i <= SUB_DEPTH + 1; i++) {
		level_name(i, name);
		sub[len++] = '/';
		memcpy(sub + len, name, NAME_LEN);
		len += NAME_LEN;
	}
	sub[len] = 0;
	snprintf(target, sizeof(target), "%s/t", tmp);
	cr_assert_eq(cfs_restore_run(repo, &s, &(struct cfs_restore_options){.subpath = sub, .target = target}, &st), 0);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.files, 1); /* f; not "other", not "z-link" */
	cr_assert_eq(st.dirs, DEPTH - SUB_DEPTH);

	int tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tfd, 0);
	cr_assert_lt(faccessat(tfd, "z-link", F_OK, AT_SYMLINK_NOFOLLOW), 0);
	int fd = walk_down(tfd, 1);
	check_file(fd, "f", &bottom);
	close(fd);
	/* "other" sits beside level SUB_DEPTH + 1: not restored. */
	fd = dup(tfd);
	for (unsigned i = 1; i <= SUB_DEPTH; i++) {
		level_name(i, name);
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cr_assert_geq(nfd, 0);
		close(fd);
		fd = nfd;
	}
	cr_assert_lt(faccessat(fd, "other", F_OK, AT_SYMLINK_NOFOLLOW), 0, "a sibling of the sub-path was restored");
	close(fd);

	/* A path that is not in the snapshot, deep down: -ENOENT, nothing made. */
	sub[len - 1] = 'y';
	char target2[320];
	snprintf(target2, sizeof(target2), "%s/t2", tmp);
	cr_assert_eq(cfs_restore_run(repo, &s, &(struct cfs_restore_options){.subpath = sub, .target = target2}, &st), -ENOENT);
	int t2 = open(target2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(t2, 0);
	level_name(1, name);
	cr_assert_lt(faccessat(t2, name, F_OK, AT_SYMLINK_NOFOLLOW), 0, "a failed sub-path restore created directories");
	close(t2);
	close(tfd);
	free(sub);
	cfs_snapshot_release(&s);
}

/* Interrupted before it starts: -EINTR, and nothing under a final name. */
Test(restore, interrupted, .init = setup, .fini = teardown, .timeout = 240)
{
	struct cfs_snapshot s;
	struct cfs_restore_stats st;
	char target[300];
	volatile sig_atomic_t stop = 1;

	commit_deep(&s);
	snprintf(target, sizeof(target), "%s/t", tmp);
	cr_assert_eq(cfs_restore_run(repo, &s, &(struct cfs_restore_options){.target = target, .interrupted = &stop}, &st), -EINTR);
	cr_assert_eq(st.files, 0);
	cfs_snapshot_release(&s);
}

/* Progress calls as the caller sees them. */
struct prog_log {
	unsigned calls, done_calls;
	struct cfs_restore_progress last;
	bool monotonic;
};

static void on_progress(void *ud, const struct cfs_restore_progress *p)
{
	struct prog_log *l = ud;
	if (l->calls && (p->entries < l->last.entries || p->bytes < l->last.bytes || p->elapsed_ns < l->last.elapsed_ns))
		l->monotonic = false;
	cr_assert(!l->done_calls, "a progress call after the one with done");
	l->calls++;
	l->done_calls += p->done;
	l->last = *p;
}

/*
 * A small full snapshot: /a/x (three chunks), /a/h1 and /a/h2 (one hard-link
 * group: its data is written once), /a/sub/empty, /l (a symlink): 7 nodes,
 * 3 * CHUNK + 5 bytes of data, as its stats say it read.
 */
#define CHUNK 4096
static void commit_small(struct cfs_snapshot *s)
{
	static uint8_t data[CHUNK];
	struct cfs_id blob, small, sub, a;
	bool added;
	struct cfs_tree t = CFS_TREE_INIT;

	memset(data, 'd', sizeof(data));
	cr_assert_eq(cfs_repo_put_blob(repo, CFS_BLOB_DATA, data, CHUNK, &blob, &added, NULL), 0);
	cr_assert_eq(cfs_repo_put_blob(repo, CFS_BLOB_DATA, "small", 5, &small, &added, NULL), 0);
	add_entry(&t, "empty", CFS_FT_REG, 0600);
	cr_assert_eq(cfs_repo_put_tree(repo, &t, NULL, &sub, NULL), 0);
	cfs_tree_release(&t);

	add_entry(&t, "x", CFS_FT_REG, 0644);
	struct cfs_tree_entry *e = &t.entries[t.n - 1];
	e->extents = calloc(3, sizeof(*e->extents));
	for (unsigned i = 0; i < 3; i++)
		e->extents[i] = (struct cfs_extent){(uint64_t)i * CHUNK, CHUNK, blob};
	e->n_extents = 3;
	e->size = 3 * CHUNK;
	e->nlink = 1;
	add_file(&t, "h1", &small, 5, 2);
	add_file(&t, "h2", &small, 5, 2);
	add_entry(&t, "sub", CFS_FT_DIR, 0755);
	t.entries[t.n - 1].subtree = sub;
	t.entries[t.n - 1].subtree_nodes = 1;
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_repo_put_tree(repo, &t, NULL, &a, NULL), 0);
	uint64_t a_nodes = cfs_tree_node_count(&t);
	cfs_tree_release(&t);

	add_entry(&t, "a", CFS_FT_DIR, 0755);
	t.entries[0].subtree = a;
	t.entries[0].subtree_nodes = a_nodes;
	add_entry(&t, "l", CFS_FT_SYMLINK, 0777);
	t.entries[1].target = strdup("a/x");
	t.entries[1].target_len = 3;
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_repo_put_tree(repo, &t, NULL, &s->root, NULL), 0);
	s->root_nodes = cfs_tree_node_count(&t);
	cfs_tree_release(&t);
	cr_assert_eq(s->root_nodes, 7);

	s->time_ns = 1795579004000000000LL;
	s->type = CFS_SNAP_FULL;
	s->stats.bytes_read = 3 * CHUNK + 5;
	s->host = strdup("h");
	s->tier = strdup("");
	s->paths = calloc(1, sizeof(char *));
	s->paths[0] = strdup("/a");
	s->n_paths = 1;
	cr_assert_eq(cfs_repo_commit_snapshot(repo, s, NULL), 0);
}

/* The callback reaches its totals, once with done, counts never going back. */
/* No .timeout of its own (meson's 300 s stands): Criterion 2.4 leaks its
 * timer records (2 x 48 bytes, LeakSanitizer in the runner) when tests
 * with different timeouts share a --jobs 2 run. */
Test(restore, progress_totals, .init = setup, .fini = teardown)
{
	struct cfs_snapshot s = {0};
	struct cfs_restore_stats st;
	char target[300];

	commit_small(&s);
	snprintf(target, sizeof(target), "%s/t", tmp);
	struct prog_log l = {.monotonic = true};
	struct cfs_restore_options o = {.target = target, .progress = on_progress, .progress_ud = &l};
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.files, 5);
	cr_assert_eq(st.dirs, 2);
	cr_assert_eq(l.done_calls, 1);
	cr_assert(l.last.done);
	cr_assert(l.monotonic);
	cr_assert_eq(l.last.entries_total, 7);
	cr_assert_eq(l.last.entries, 7);
	cr_assert_eq(l.last.bytes, 3 * CHUNK + 5);
	cr_assert_eq(l.last.bytes_total, 3 * CHUNK + 5);
	cr_assert_eq(st.bytes, l.last.bytes);

	/* A sub-path: its own node count, the bytes total unknown. */
	snprintf(target, sizeof(target), "%s/t2", tmp);
	l = (struct prog_log){.monotonic = true};
	o.target = target;
	o.subpath = "/a";
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(l.done_calls, 1);
	cr_assert_eq(l.last.entries_total, 6); /* /a and the 5 below it */
	cr_assert_eq(l.last.entries, 6);
	cr_assert_eq(l.last.bytes_total, 0);
	cr_assert_eq(l.last.bytes, 3 * CHUNK + 5);

	/* A sub-path two levels down: the entries on the way do not count. */
	snprintf(target, sizeof(target), "%s/t3", tmp);
	l = (struct prog_log){.monotonic = true};
	o.target = target;
	o.subpath = "/a/sub/empty";
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(l.last.entries_total, 1);
	cr_assert_eq(l.last.entries, 1);
	cr_assert_eq(l.done_calls, 1);

	/* Interrupted: the last call still says done, short of the totals. */
	snprintf(target, sizeof(target), "%s/t4", tmp);
	volatile sig_atomic_t stop = 1;
	l = (struct prog_log){.monotonic = true};
	o = (struct cfs_restore_options){
		.target = target, .interrupted = &stop, .progress = on_progress, .progress_ud = &l};
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), -EINTR);
	cr_assert_eq(l.done_calls, 1);
	cr_assert_lt(l.last.entries, l.last.entries_total);
	cfs_snapshot_release(&s);
}

/*
 * --include of a name found only at the bottom: the 10,000 directories
 * above it are walked without being made, then made at once when "f" is
 * reached (with 256 descriptors: the window closes as they are made), and
 * get their metadata; nothing else is restored. The progress still
 * reaches its total, in calls spaced as promised.
 */
Test(restore, include_deep, .init = setup, .fini = teardown, .timeout = 240)
{
	struct cfs_snapshot s;
	struct cfs_restore_stats st;
	char target[300];
	struct stat bottom;
	const char *const inc[] = {"f"}, *const exc[] = {"other"};

	commit_deep(&s);
	limit_fds();
	snprintf(target, sizeof(target), "%s/t", tmp);
	struct prog_log l = {.monotonic = true};
	struct cfs_restore_options o = {.target = target,
					.includes = inc,
					.n_includes = 1,
					.excludes = exc,
					.n_excludes = 1,
					.progress = on_progress,
					.progress_ud = &l};
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.files, 1);
	cr_assert_eq(st.dirs, DEPTH);
	cr_assert_eq(l.last.entries, DEPTH + 3);
	cr_assert_eq(l.last.entries_total, DEPTH + 3);
	cr_assert_eq(l.last.bytes_total, 0); /* not known with patterns */
	/* Calls are spaced: at most one per 250 ms, plus the first and the
	 * last. */
	cr_assert(l.monotonic);
	cr_assert_leq(l.calls, 2 + (unsigned)(l.last.elapsed_ns / (250 * 1000 * 1000)), "%u calls in %lld ns", l.calls,
		      (long long)l.last.elapsed_ns);

	int tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tfd, 0);
	cr_assert_lt(faccessat(tfd, "z-link", F_OK, AT_SYMLINK_NOFOLLOW), 0, "z-link does not match the include");
	int fd = walk_down(tfd, 1);
	check_file(fd, "f", &bottom);
	cr_assert_eq(bottom.st_nlink, 1);
	close(fd);
	close(tfd);

	/* "other" is excluded: an include matching it and nothing else makes
	 * nothing at all. */
	snprintf(target, sizeof(target), "%s/t2", tmp);
	const char *const inc2[] = {"other"};
	o = (struct cfs_restore_options){
		.target = target, .includes = inc2, .n_includes = 1, .excludes = exc, .n_excludes = 1};
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.files + st.dirs + st.errors, 0);
	char name[NAME_LEN + 1];
	level_name(1, name);
	tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tfd, 0);
	cr_assert_lt(faccessat(tfd, name, F_OK, AT_SYMLINK_NOFOLLOW), 0, "a directory holding nothing included was made");
	close(tfd);
	cfs_snapshot_release(&s);
}

/* Existing entries through the API: an existing file is an error by
 * default (counted as existed), kept with skip_existing, and skip_existing
 * with another overwrite mode is refused. */
Test(restore, existing, .init = setup, .fini = teardown)
{
	struct cfs_snapshot s = {0};
	struct cfs_restore_stats st;
	char target[300];

	commit_small(&s);
	snprintf(target, sizeof(target), "%s/t", tmp);
	struct cfs_restore_options o = {.target = target};
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.errors, 5);
	cr_assert_eq(st.existed, 5);
	cr_assert_eq(st.files, 0);
	o.skip_existing = true;
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.skipped, 5);
	o.overwrite = CFS_RESTORE_OVERWRITE_ALWAYS;
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), -EINVAL);
	o.skip_existing = false;
	cr_assert_eq(cfs_restore_run(repo, &s, &o, &st), 0);
	cr_assert_eq(st.replaced, 5);
	cr_assert_eq(st.files, 5);
	cr_assert_eq(st.errors, 0);
	cfs_snapshot_release(&s);
}
