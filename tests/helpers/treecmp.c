/* SPDX-License-Identifier: MIT */
/*
 * treecmp — compare two directory trees the way a restore must reproduce them.
 *
 * Usage: treecmp [--no-ino-check] A B
 *
 * Walks A and B in parallel (entries sorted by name bytes; names may hold any
 * byte but '/' and NUL) and compares, for the two roots and every entry below
 * them: type, mode (07777), uid, gid, size, mtime in ns (directories and
 * symlinks too, via lstat), content, symlink target, rdev of devices, the
 * xattrs user.*, trusted.* and system.posix_acl_{access,default}, st_nlink of
 * non-directories, the hard-link structure (entries sharing an inode in A
 * share one in B and vice versa) and sparseness (a file whose allocation in A
 * is below half its size must be below half its size in B too).
 *
 * Contents are compared region by region with SEEK_DATA/SEEK_HOLE, so holes
 * present in both files are never read: a 6 GiB file with a few data islands
 * is compared in milliseconds. A file system without SEEK_DATA reports the
 * whole file as data, which is merely slower.
 *
 * --no-ino-check skips the st_nlink and inode-sharing checks, for trees whose
 * inode numbers do not reflect hard links (some FUSE mounts).
 *
 * Every difference is printed on stdout as "path: what: A=... B=..." with
 * non-printable bytes escaped as \xHH; the exit status is 0 if the trees are
 * identical, 1 if they differ, 2 on usage or I/O errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CMP_BUF_SIZE (1u << 20)

static bool no_ino_check;
static unsigned long n_diffs;
static unsigned long n_errors;
static unsigned char *buf_a;
static unsigned char *buf_b;

/* One inode pairing seen while walking: A's (dev, ino) maps to B's. */
struct ino_pair {
	dev_t dev_a;
	ino_t ino_a;
	dev_t dev_b;
	ino_t ino_b;
	char *path; /* owned; first path where the pair was seen */
};

static struct ino_pair *pairs;
static size_t n_pairs;
static size_t cap_pairs;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	return p;
}

/* Writes s[0..n) with backslash and non-printable bytes escaped as \xHH. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void put_path(FILE *f, const char *rel)
{
	if (rel[0] == '\0')
		fputc('.', f);
	else {
		fputs("./", f);
		put_escaped(f, rel, strlen(rel));
	}
}

/* Reports one difference; a and b are already-formatted, printable values. */
static void diff(const char *rel, const char *what, const char *a, const char *b)
{
	put_path(stdout, rel);
	printf(": %s: A=%s B=%s\n", what, a, b);
	n_diffs++;
}

/* As diff(), but the values are raw bytes that get escaped. */
static void diff_bytes(const char *rel, const char *what, const char *a, size_t na,
		       const char *b, size_t nb)
{
	put_path(stdout, rel);
	printf(": %s: A=", what);
	if (a)
		put_escaped(stdout, a, na);
	else
		fputs("(none)", stdout);
	fputs(" B=", stdout);
	if (b)
		put_escaped(stdout, b, nb);
	else
		fputs("(none)", stdout);
	fputc('\n', stdout);
	n_diffs++;
}

static void error(const char *rel, const char *what, int err)
{
	fputs("treecmp: ", stderr);
	put_path(stderr, rel);
	fprintf(stderr, ": %s: %s\n", what, strerror(err));
	n_errors++;
}

static void diff_u64(const char *rel, const char *what, uint64_t a, uint64_t b)
{
	char sa[32], sb[32];

	snprintf(sa, sizeof(sa), "%" PRIu64, a);
	snprintf(sb, sizeof(sb), "%" PRIu64, b);
	diff(rel, what, sa, sb);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	default: return "unknown";
	}
}

static char *join(const char *rel, const char *name)
{
	size_t nr = strlen(rel), nn = strlen(name);
	char *p = xmalloc(nr + 1 + nn + 1);

	if (nr == 0) {
		memcpy(p, name, nn + 1);
	} else {
		memcpy(p, rel, nr);
		p[nr] = '/';
		memcpy(p + nr + 1, name, nn + 1);
	}
	return p;
}

/*
 * Path usable with the l*xattr() calls for entry `name` in the directory open
 * as `dfd`: the /proc magic link resolves the directory, and the final
 * component is not followed, so this works for symlinks and at any depth
 * (a full path could exceed PATH_MAX). Roots are reached through their
 * parent directory the same way.
 */
static char *xattr_path(int dfd, const char *name)
{
	size_t n = strlen(name) + 64;
	char *p = xmalloc(n);

	snprintf(p, n, "/proc/self/fd/%d/%s", dfd, name);
	return p;
}

static bool xattr_interesting(const char *name)
{
	return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	       strcmp(name, "system.posix_acl_access") == 0 ||
	       strcmp(name, "system.posix_acl_default") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists the interesting xattr names of path into a sorted array of pointers
 * into *ret_blob. Returns the count, or -errno.
 */
static ssize_t list_xattrs(const char *path, char **ret_blob, char ***ret_names)
{
	ssize_t n;
	char *blob = NULL;

	for (;;) {
		n = llistxattr(path, NULL, 0);
		if (n < 0) {
			if (errno == ENOTSUP) {
				n = 0;
				break;
			}
			return -errno;
		}
		blob = xrealloc(blob, (size_t)n + 1);
		n = llistxattr(path, blob, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE) {
			int r = -errno;

			free(blob);
			return r;
		}
	}
	if (!blob)
		blob = xmalloc(1);

	size_t count = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(blob + i) + 1)
		count++;
	char **names = xmalloc(sizeof(char *) * (count + 1));
	size_t k = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(blob + i) + 1)
		if (xattr_interesting(blob + i))
			names[k++] = blob + i;
	qsort(names, k, sizeof(char *), cmp_str);
	*ret_blob = blob;
	*ret_names = names;
	return (ssize_t)k;
}

/* Reads one xattr value; returns its length or -errno. */
static ssize_t get_xattr(const char *path, const char *name, char **ret)
{
	char *v = NULL;

	for (;;) {
		ssize_t n = lgetxattr(path, name, NULL, 0);

		if (n < 0)
			return -errno;
		v = xrealloc(v, (size_t)n + 1);
		n = lgetxattr(path, name, v, (size_t)n);
		if (n >= 0) {
			*ret = v;
			return n;
		}
		if (errno != ERANGE) {
			int r = -errno;

			free(v);
			return r;
		}
	}
}

static void compare_xattrs(const char *rel, int dfd_a, int dfd_b, const char *name_a,
			   const char *name_b)
{
	char *pa = xattr_path(dfd_a, name_a), *pb = xattr_path(dfd_b, name_b);
	char *blob_a = NULL, *blob_b = NULL, **na = NULL, **nb = NULL;
	ssize_t ca, cb;

	ca = list_xattrs(pa, &blob_a, &na);
	if (ca < 0) {
		error(rel, "llistxattr in A", (int)-ca);
		goto out;
	}
	cb = list_xattrs(pb, &blob_b, &nb);
	if (cb < 0) {
		error(rel, "llistxattr in B", (int)-cb);
		goto out;
	}

	ssize_t i = 0, j = 0;
	while (i < ca || j < cb) {
		int c = i >= ca ? 1 : j >= cb ? -1 : strcmp(na[i], nb[j]);
		char what[300];

		if (c < 0) {
			snprintf(what, sizeof(what), "xattr %s", na[i]);
			diff(rel, what, "present", "missing");
			i++;
		} else if (c > 0) {
			snprintf(what, sizeof(what), "xattr %s", nb[j]);
			diff(rel, what, "missing", "present");
			j++;
		} else {
			char *va = NULL, *vb = NULL;
			ssize_t la = get_xattr(pa, na[i], &va);
			ssize_t lb = get_xattr(pb, nb[j], &vb);

			snprintf(what, sizeof(what), "xattr %s", na[i]);
			if (la < 0)
				error(rel, what, (int)-la);
			else if (lb < 0)
				error(rel, what, (int)-lb);
			else if (la != lb || memcmp(va, vb, (size_t)la) != 0)
				diff_bytes(rel, what, va, (size_t)la, vb, (size_t)lb);
			free(va);
			free(vb);
			i++;
			j++;
		}
	}
out:
	free(na);
	free(nb);
	free(blob_a);
	free(blob_b);
	free(pa);
	free(pb);
}

/*
 * Where the next region boundary after pos lies in fd, and whether pos is in
 * data. Falls back to "all data" when SEEK_DATA is unsupported.
 */
static void region_at(int fd, off_t pos, off_t size, bool *ret_data, off_t *ret_end)
{
	off_t d = lseek(fd, pos, SEEK_DATA);

	if (d < 0) {
		if (errno == ENXIO) {
			*ret_data = false;
			*ret_end = size;
		} else {
			*ret_data = true;
			*ret_end = size;
		}
		return;
	}
	if (d > pos) {
		*ret_data = false;
		*ret_end = d < size ? d : size;
		return;
	}
	off_t h = lseek(fd, pos, SEEK_HOLE);
	*ret_data = true;
	*ret_end = (h < 0 || h > size) ? size : h;
}

static bool read_full(int fd, unsigned char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (r == 0) {
			errno = EIO; /* shorter than its st_size */
			return false;
		}
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return true;
}

/* Compares the contents of two regular files of equal size. */
static void compare_content(const char *rel, int dfd_a, int dfd_b, const char *name_a,
			    const char *name_b, off_t size)
{
	int fa = openat(dfd_a, name_a, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int fb = -1;

	if (fa < 0) {
		error(rel, "open in A", errno);
		return;
	}
	fb = openat(dfd_b, name_b, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fb < 0) {
		error(rel, "open in B", errno);
		close(fa);
		return;
	}

	off_t pos = 0;
	while (pos < size) {
		bool da, db;
		off_t ea, eb, end;

		region_at(fa, pos, size, &da, &ea);
		region_at(fb, pos, size, &db, &eb);
		end = ea < eb ? ea : eb;
		if (end <= pos)
			end = size; /* defensive: never loop without progress */
		if (!da && !db) {
			pos = end;
			continue;
		}
		while (pos < end) {
			size_t n = (size_t)(end - pos) < CMP_BUF_SIZE ? (size_t)(end - pos) : CMP_BUF_SIZE;

			if (!read_full(fa, buf_a, n, pos)) {
				error(rel, "read in A", errno);
				goto out;
			}
			if (!read_full(fb, buf_b, n, pos)) {
				error(rel, "read in B", errno);
				goto out;
			}
			if (memcmp(buf_a, buf_b, n) != 0) {
				size_t k = 0;
				char sa[64], sb[64];

				while (buf_a[k] == buf_b[k])
					k++;
				snprintf(sa, sizeof(sa), "0x%02x@%" PRIu64, buf_a[k], (uint64_t)(pos + (off_t)k));
				snprintf(sb, sizeof(sb), "0x%02x@%" PRIu64, buf_b[k], (uint64_t)(pos + (off_t)k));
				diff(rel, "content (first differing byte)", sa, sb);
				goto out;
			}
			pos += (off_t)n;
		}
	}
out:
	close(fa);
	close(fb);
}

static void compare_symlinks(const char *rel, int dfd_a, int dfd_b, const char *name_a,
			     const char *name_b, const struct stat *sa, const struct stat *sb)
{
	size_t la = (size_t)sa->st_size + 2, lb = (size_t)sb->st_size + 2;
	char *ta = xmalloc(la < 4098 ? 4098 : la), *tb = xmalloc(lb < 4098 ? 4098 : lb);
	ssize_t na = readlinkat(dfd_a, name_a, ta, la < 4098 ? 4098 : la);
	ssize_t nb = readlinkat(dfd_b, name_b, tb, lb < 4098 ? 4098 : lb);

	if (na < 0)
		error(rel, "readlink in A", errno);
	else if (nb < 0)
		error(rel, "readlink in B", errno);
	else if (na != nb || memcmp(ta, tb, (size_t)na) != 0)
		diff_bytes(rel, "symlink target", ta, (size_t)na, tb, (size_t)nb);
	free(ta);
	free(tb);
}

/*
 * Records the A->B inode pairing of a multiply-linked entry and checks that
 * the pairing is one-to-one: an inode of A seen before must map to the same
 * inode of B, and an inode of B must not be reached from two inodes of A.
 */
static void check_hardlinks(const char *rel, const struct stat *sa, const struct stat *sb)
{
	if (no_ino_check || S_ISDIR(sa->st_mode))
		return;
	if (sa->st_nlink != sb->st_nlink)
		diff_u64(rel, "nlink", sa->st_nlink, sb->st_nlink);
	if (sa->st_nlink <= 1 && sb->st_nlink <= 1)
		return;

	for (size_t i = 0; i < n_pairs; i++) {
		const struct ino_pair *p = &pairs[i];
		bool same_a = p->dev_a == sa->st_dev && p->ino_a == sa->st_ino;
		bool same_b = p->dev_b == sb->st_dev && p->ino_b == sb->st_ino;
		char *esc = NULL, *va = NULL, *vb = NULL;
		size_t esc_len = 0;
		FILE *f;

		if (same_a && same_b)
			return;
		if (!same_a && !same_b)
			continue;
		f = open_memstream(&esc, &esc_len);
		if (!f) {
			fprintf(stderr, "treecmp: out of memory\n");
			exit(2);
		}
		put_path(f, p->path);
		fclose(f);
		if (asprintf(&va, "%s %s", same_a ? "linked to" : "not linked to", esc) < 0 ||
		    asprintf(&vb, "%s %s", same_b ? "linked to" : "not linked to", esc) < 0) {
			fprintf(stderr, "treecmp: out of memory\n");
			exit(2);
		}
		diff(rel, "hard link", va, vb);
		free(esc);
		free(va);
		free(vb);
		return;
	}
	if (n_pairs == cap_pairs) {
		cap_pairs = cap_pairs ? cap_pairs * 2 : 64;
		pairs = xrealloc(pairs, cap_pairs * sizeof(*pairs));
	}
	pairs[n_pairs] = (struct ino_pair){
		.dev_a = sa->st_dev, .ino_a = sa->st_ino,
		.dev_b = sb->st_dev, .ino_b = sb->st_ino,
		.path = strdup(rel),
	};
	if (!pairs[n_pairs].path) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	n_pairs++;
}

static void format_ts(char *out, size_t n, const struct timespec *ts)
{
	snprintf(out, n, "%" PRId64 ".%09ld", (int64_t)ts->tv_sec, ts->tv_nsec);
}

static void compare_dirs(const char *rel, int dfd_a, int dfd_b);

/*
 * Compares entry name_a in dfd_a with name_b in dfd_b (the same name except
 * for the roots). rel is the path relative to the roots, for messages.
 */
static void compare_entry(const char *rel, int dfd_a, int dfd_b, const char *name_a,
			  const char *name_b)
{
	struct stat sa, sb;
	char va[64], vb[64];

	if (fstatat(dfd_a, name_a, &sa, AT_SYMLINK_NOFOLLOW) < 0) {
		error(rel, "lstat in A", errno);
		return;
	}
	if (fstatat(dfd_b, name_b, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		error(rel, "lstat in B", errno);
		return;
	}

	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		diff(rel, "type", type_name(sa.st_mode), type_name(sb.st_mode));
		return;
	}
	if ((sa.st_mode & 07777) != (sb.st_mode & 07777)) {
		snprintf(va, sizeof(va), "%04o", (unsigned)(sa.st_mode & 07777));
		snprintf(vb, sizeof(vb), "%04o", (unsigned)(sb.st_mode & 07777));
		diff(rel, "mode", va, vb);
	}
	if (sa.st_uid != sb.st_uid)
		diff_u64(rel, "uid", sa.st_uid, sb.st_uid);
	if (sa.st_gid != sb.st_gid)
		diff_u64(rel, "gid", sa.st_gid, sb.st_gid);
	/* Directory sizes depend on the file system's layout, not on content. */
	if (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size)
		diff_u64(rel, "size", (uint64_t)sa.st_size, (uint64_t)sb.st_size);
	if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
		format_ts(va, sizeof(va), &sa.st_mtim);
		format_ts(vb, sizeof(vb), &sb.st_mtim);
		diff(rel, "mtime", va, vb);
	}
	if ((S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) && sa.st_rdev != sb.st_rdev) {
		snprintf(va, sizeof(va), "%u:%u", major(sa.st_rdev), minor(sa.st_rdev));
		snprintf(vb, sizeof(vb), "%u:%u", major(sb.st_rdev), minor(sb.st_rdev));
		diff(rel, "rdev", va, vb);
	}

	compare_xattrs(rel, dfd_a, dfd_b, name_a, name_b);
	check_hardlinks(rel, &sa, &sb);

	if (S_ISLNK(sa.st_mode)) {
		compare_symlinks(rel, dfd_a, dfd_b, name_a, name_b, &sa, &sb);
	} else if (S_ISREG(sa.st_mode)) {
		/* A file is "sparse" when under half of it is allocated. */
		bool sparse_a = (uint64_t)sa.st_blocks * 512 < (uint64_t)sa.st_size / 2;
		bool sparse_b = (uint64_t)sb.st_blocks * 512 < (uint64_t)sb.st_size / 2;

		if (sparse_a && !sparse_b) {
			snprintf(va, sizeof(va), "%" PRIu64 " bytes allocated", (uint64_t)sa.st_blocks * 512);
			snprintf(vb, sizeof(vb), "%" PRIu64 " bytes allocated", (uint64_t)sb.st_blocks * 512);
			diff(rel, "sparseness", va, vb);
		}
		if (sa.st_size == sb.st_size && sa.st_size > 0)
			compare_content(rel, dfd_a, dfd_b, name_a, name_b, sa.st_size);
	} else if (S_ISDIR(sa.st_mode)) {
		int da = openat(dfd_a, name_a, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int db;

		if (da < 0) {
			error(rel, "open directory in A", errno);
			return;
		}
		db = openat(dfd_b, name_b, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (db < 0) {
			error(rel, "open directory in B", errno);
			close(da);
			return;
		}
		compare_dirs(rel, da, db);
		close(da);
		close(db);
	}
}

/* Reads all names of the directory open as dfd (except . and ..), sorted. */
static int read_names(int dfd, char ***ret, size_t *ret_n)
{
	int fd = dup(dfd);
	DIR *d;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;

		close(fd);
		return r;
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(char *));
		}
		names[n++] = strdup(de->d_name);
		if (!names[n - 1]) {
			fprintf(stderr, "treecmp: out of memory\n");
			exit(2);
		}
		errno = 0;
	}
	if (errno != 0) {
		int r = -errno;

		closedir(d);
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), cmp_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void compare_dirs(const char *rel, int dfd_a, int dfd_b)
{
	char **na = NULL, **nb = NULL;
	size_t ca = 0, cb = 0;
	int r;

	r = read_names(dfd_a, &na, &ca);
	if (r < 0) {
		error(rel, "readdir in A", -r);
		return;
	}
	r = read_names(dfd_b, &nb, &cb);
	if (r < 0) {
		error(rel, "readdir in B", -r);
		free_names(na, ca);
		return;
	}

	size_t i = 0, j = 0;
	while (i < ca || j < cb) {
		int c = i >= ca ? 1 : j >= cb ? -1 : strcmp(na[i], nb[j]);
		char *child;

		if (c < 0) {
			struct stat st;

			child = join(rel, na[i]);
			if (fstatat(dfd_a, na[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
				diff(child, "exists", type_name(st.st_mode), "missing");
			else
				diff(child, "exists", "yes", "missing");
			i++;
		} else if (c > 0) {
			struct stat st;

			child = join(rel, nb[j]);
			if (fstatat(dfd_b, nb[j], &st, AT_SYMLINK_NOFOLLOW) == 0)
				diff(child, "exists", "missing", type_name(st.st_mode));
			else
				diff(child, "exists", "missing", "yes");
			j++;
		} else {
			child = join(rel, na[i]);
			compare_entry(child, dfd_a, dfd_b, na[i], nb[j]);
			i++;
			j++;
		}
		free(child);
	}
	free_names(na, ca);
	free_names(nb, cb);
}

/*
 * Opens the parent directory of path and returns the last component in
 * *ret_name (owned), so that roots are examined with the same *at() calls
 * as every other entry. A trailing slash is ignored.
 */
static int open_parent(const char *path, char **ret_name)
{
	char *p = strdup(path);
	size_t n;
	char *slash;
	int fd;

	if (!p)
		return -ENOMEM;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*ret_name = p;
	} else if (slash == p && p[1] == '\0') {
		/* The root directory itself: "/" has no parent name; use "." in "/". */
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*ret_name = strdup(".");
		free(p);
	} else {
		*slash = '\0';
		fd = open(slash == p ? "/" : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*ret_name = strdup(slash + 1);
		free(p);
	}
	if (fd < 0) {
		int r = -errno;

		free(*ret_name);
		return r;
	}
	if (!*ret_name) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

static void usage(FILE *f)
{
	fputs("Usage: treecmp [--no-ino-check] A B\n"
	      "Compare two trees (metadata, contents, xattrs, ACLs, hard links, sparseness).\n"
	      "Exit status: 0 identical, 1 different, 2 error.\n", f);
}

int main(int argc, char **argv)
{
	const char *a = NULL, *b = NULL;
	char *name_a = NULL, *name_b = NULL;
	int pa, pb;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-ino-check") == 0) {
			no_ino_check = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--") == 0 && i + 3 == argc) {
			a = argv[i + 1];
			b = argv[i + 2];
			break;
		} else if (!a) {
			a = argv[i];
		} else if (!b) {
			b = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!a || !b) {
		usage(stderr);
		return 2;
	}

	buf_a = xmalloc(CMP_BUF_SIZE);
	buf_b = xmalloc(CMP_BUF_SIZE);

	pa = open_parent(a, &name_a);
	if (pa < 0) {
		fprintf(stderr, "treecmp: %s: %s\n", a, strerror(-pa));
		return 2;
	}
	pb = open_parent(b, &name_b);
	if (pb < 0) {
		fprintf(stderr, "treecmp: %s: %s\n", b, strerror(-pb));
		return 2;
	}

	compare_entry("", pa, pb, name_a, name_b);

	close(pa);
	close(pb);
	free(name_a);
	free(name_b);
	free(buf_a);
	free(buf_b);
	for (size_t i = 0; i < n_pairs; i++)
		free(pairs[i].path);
	free(pairs);

	if (n_errors > 0) {
		fprintf(stderr, "treecmp: %lu error(s), %lu difference(s)\n", n_errors, n_diffs);
		return 2;
	}
	if (n_diffs > 0) {
		fprintf(stderr, "treecmp: %lu difference(s)\n", n_diffs);
		return 1;
	}
	return 0;
}
