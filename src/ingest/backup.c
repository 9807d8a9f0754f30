/* SPDX-License-Identifier: MIT */
/*
 * Snapshot capture: walk the sources depth-first, store each directory as a
 * tree blob after its children, each file as content-defined chunks.
 *
 * The captured paths are arranged under one root tree for "/": for
 * `/srv/data` and `/etc`, the root holds "etc" (captured whole) and "srv" (a
 * directory with /srv's own metadata holding only "data").
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "chronofs/ingest.h"
#include "chronofs/log.h"
#include "chronofs/pack.h"
#include "chronofs/util.h"

/* Hard-link groups met during this run: (dev, ino) -> extents, so a second
 * link reuses the first one's chunk list instead of reading the file again. */
struct link_slot {
	uint64_t dev, ino; /* ino 0 = empty */
	struct cfs_extent *extents;
	uint32_t n_extents;
	uint64_t size;
};

struct link_map {
	struct link_slot *slots;
	size_t cap, n;
};

/* A node of the path skeleton: a directory on the way to captured paths. */
struct vnode {
	char *name;           /* owned component */
	bool captured;        /* the whole subtree is captured here */
	struct vnode *kids;   /* owned array */
	size_t n_kids;
};

struct ctx {
	struct cfs_repo *r;
	const struct cfs_backup_options *o;
	struct cfs_backup_result *res;
	struct cfs_snapshot_stats *st;
	struct link_map links;
	uint8_t *buf; /* owned read window */
	size_t buf_cap;
};

static void link_map_release(struct link_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].extents);
	free(m->slots);
	*m = (struct link_map){0};
}

static size_t link_hash(uint64_t dev, uint64_t ino, size_t cap)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full);
	return (size_t)((h ^ (h >> 29)) & (cap - 1));
}

static struct link_slot *link_find(struct link_map *m, uint64_t dev, uint64_t ino)
{
	if (!m->cap)
		return NULL;
	for (size_t i = link_hash(dev, ino, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].ino == 0)
			return NULL;
		if (m->slots[i].dev == dev && m->slots[i].ino == ino)
			return &m->slots[i];
	}
}

static int link_add(struct link_map *m, uint64_t dev, uint64_t ino, const struct cfs_tree_entry *e)
{
	if (ino == 0)
		return 0;
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 256;
		struct link_slot *ns = calloc(ncap, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slots[i].ino)
				continue;
			size_t j = link_hash(m->slots[i].dev, m->slots[i].ino, ncap);
			while (ns[j].ino)
				j = (j + 1) & (ncap - 1);
			ns[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = ns;
		m->cap = ncap;
	}
	size_t i = link_hash(dev, ino, m->cap);
	while (m->slots[i].ino)
		i = (i + 1) & (m->cap - 1);
	struct link_slot *s = &m->slots[i];
	if (e->n_extents) {
		s->extents = malloc(e->n_extents * sizeof(*e->extents));
		if (!s->extents)
			return -ENOMEM;
		memcpy(s->extents, e->extents, e->n_extents * sizeof(*e->extents));
	}
	s->dev = dev;
	s->ino = ino;
	s->n_extents = e->n_extents;
	s->size = e->size;
	m->n++;
	return 0;
}

static void vnode_release(struct vnode *v)
{
	for (size_t i = 0; i < v->n_kids; i++)
		vnode_release(&v->kids[i]);
	free(v->kids);
	free(v->name);
	*v = (struct vnode){0};
}

/* Insert path (normalised) into the skeleton. */
static int vnode_insert(struct vnode *root, const char *path)
{
	struct vnode *v = root;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p && !v->captured) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		while (*p == '/')
			p++;
		struct vnode *k = NULL;
		for (size_t i = 0; i < v->n_kids; i++)
			if (strlen(v->kids[i].name) == n && memcmp(v->kids[i].name, s, n) == 0)
				k = &v->kids[i];
		if (!k) {
			struct vnode *nk = realloc(v->kids, (v->n_kids + 1) * sizeof(*nk));
			if (!nk)
				return -ENOMEM;
			v->kids = nk;
			k = &v->kids[v->n_kids];
			*k = (struct vnode){0};
			k->name = strndup(s, n);
			if (!k->name)
				return -ENOMEM;
			v->n_kids++;
		}
		v = k;
	}
	if (!v->captured) {
		/* A path that covers paths given earlier replaces them. */
		for (size_t i = 0; i < v->n_kids; i++)
			vnode_release(&v->kids[i]);
		free(v->kids);
		v->kids = NULL;
		v->n_kids = 0;
		v->captured = true;
	}
	return 0;
}

static void path_join(char *out, size_t outlen, const char *dir, const char *name)
{
	if (strcmp(dir, "/") == 0)
		snprintf(out, outlen, "/%s", name);
	else
		snprintf(out, outlen, "%s/%s", dir, name);
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cfs_xattr *)a)->name, ((const struct cfs_xattr *)b)->name);
}

/*
 * Read all xattrs of an entry. fd >= 0: through the fd; else through
 * /proc/self/fd/<dirfd>/<name> with the l* calls (symlinks, devices and FIFOs
 * must not be opened or followed).
 */
static int read_xattrs(int fd, int dirfd, const char *name, struct cfs_tree_entry *e)
{
	char ppath[4200];
	_cleanup_free_ char *list = NULL;
	ssize_t n;

	if (fd < 0)
		snprintf(ppath, sizeof(ppath), "/proc/self/fd/%d/%s", dirfd, name);
	for (;;) {
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(ppath, NULL, 0);
		if (n < 0)
			return (errno == ENOTSUP || errno == ENOSYS) ? 0 : -errno;
		if (n == 0)
			return 0;
		free(list);
		list = malloc((size_t)n);
		if (!list)
			return -ENOMEM;
		ssize_t m = fd >= 0 ? flistxattr(fd, list, (size_t)n) : llistxattr(ppath, list, (size_t)n);
		if (m < 0 && errno == ERANGE)
			continue;
		if (m < 0)
			return -errno;
		n = m;
		break;
	}
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		if (!*k)
			continue;
		ssize_t vl;
		uint8_t *val = NULL;
		for (;;) {
			vl = fd >= 0 ? fgetxattr(fd, k, NULL, 0) : lgetxattr(ppath, k, NULL, 0);
			if (vl < 0)
				break;
			free(val);
			val = malloc(vl ? (size_t)vl : 1);
			if (!val)
				return -ENOMEM;
			ssize_t m = fd >= 0 ? fgetxattr(fd, k, val, (size_t)vl) : lgetxattr(ppath, k, val, (size_t)vl);
			if (m < 0 && errno == ERANGE)
				continue;
			vl = m;
			break;
		}
		if (vl < 0) {
			free(val);
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			return -errno;
		}
		if ((size_t)vl > CFS_TREE_XATTR_VALUE_MAX || strlen(k) > CFS_TREE_XATTR_NAME_MAX) {
			free(val);
			return -E2BIG;
		}
		struct cfs_xattr *nx = realloc(e->xattrs, (e->n_xattrs + 1) * sizeof(*nx));
		if (!nx) {
			free(val);
			return -ENOMEM;
		}
		e->xattrs = nx;
		nx[e->n_xattrs].name = strdup(k);
		if (!nx[e->n_xattrs].name) {
			free(val);
			return -ENOMEM;
		}
		nx[e->n_xattrs].value = val;
		nx[e->n_xattrs].len = (uint32_t)vl;
		e->n_xattrs++;
	}
	if (e->n_xattrs > 1)
		qsort(e->xattrs, e->n_xattrs, sizeof(*e->xattrs), xattr_cmp);
	return 0;
}

/* Extended attributes that cannot be read are reported and count as a file
 * not captured completely (exit 3); the entry is kept without them. */
static void xattrs_or_report(struct ctx *c, int fd, int dirfd, const char *name, const char *path,
			     struct cfs_tree_entry *e)
{
	int r = read_xattrs(fd, dirfd, name, e);
	if (r == 0)
		return;
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	e->xattrs = NULL;
	e->n_xattrs = 0;
	log_error_errno(r, "Cannot read extended attributes of %s: %m (stored without them)", path);
	c->res->n_unreadable++;
}

static void fill_stat(struct cfs_tree_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->nlink = (uint32_t)st->st_nlink;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		e->rdev = st->st_rdev;
}

static int add_extent(struct cfs_tree_entry *e, uint64_t off, uint32_t len, const struct cfs_id *id, size_t *cap)
{
	if (e->n_extents == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct cfs_extent *nx = realloc(e->extents, ncap * sizeof(*nx));
		if (!nx)
			return -ENOMEM;
		e->extents = nx;
		*cap = ncap;
	}
	e->extents[e->n_extents++] = (struct cfs_extent){off, len, *id};
	return 0;
}

/* Chunk [start, end) of fd into e's extents. Returns -errno of a read
 * (source problem, reported per file) as a positive-flagged error through
 * *ret_src_err, repository errors as the return value. */
static int read_region(struct ctx *c, int fd, uint64_t start, uint64_t end, struct cfs_tree_entry *e,
		       size_t *ext_cap, int *ret_src_err)
{
	const struct cfs_chunker *ch = cfs_repo_chunker(c->r);
	size_t have = 0; /* bytes in buf not yet chunked */
	uint64_t pos = start;     /* next file offset to read */
	uint64_t cut_off = start; /* file offset of buf[0] */
	int e_;

	for (;;) {
		bool eof = pos >= end;
		while (!eof && have < c->buf_cap) {
			size_t want = (size_t)CFS_MIN((uint64_t)(c->buf_cap - have), end - pos);
			ssize_t n = cfs_pread_full(fd, c->buf + have, want, pos);
			if (n < 0) {
				*ret_src_err = (int)n;
				return 0;
			}
			c->st->bytes_read += (uint64_t)n;
			have += (size_t)n;
			pos += (uint64_t)n;
			if ((size_t)n < want) {
				/* Shrunk while reading: store what is there; the
				 * caller's stat comparison reports it. */
				end = pos;
			}
			eof = pos >= end;
		}
		size_t done = 0;
		while (done < have) {
			size_t cut = cfs_chunker_next(ch, c->buf + done, have - done, eof);
			if (cut == 0)
				break;
			struct cfs_id id;
			bool added;
			uint64_t stored;
			e_ = cfs_repo_put_blob(c->r, CFS_BLOB_DATA, c->buf + done, cut, &id, &added, &stored);
			if (e_ < 0)
				return e_;
			if (added) {
				c->st->bytes_added += stored;
				c->st->blobs_added++;
			}
			e_ = add_extent(e, cut_off + done, (uint32_t)cut, &id, ext_cap);
			if (e_ < 0)
				return e_;
			done += cut;
		}
		memmove(c->buf, c->buf + done, have - done);
		have -= done;
		cut_off += done;
		if (eof && have == 0)
			return 0;
		if (c->o->interrupted && *c->o->interrupted)
			return -EINTR;
	}
}

static bool stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/*
 * Read a regular file. Returns a repository error (< 0) to abort, 0 when the
 * entry is complete, 1 when the file was reported and must be left out, 2
 * when it vanished (left out, a warning only).
 */
static int backup_file(struct ctx *c, int dirfd, const char *name, const char *path, struct cfs_tree_entry *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st, st2;
	size_t ext_cap = 0;
	int src_err = 0, r;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		/* Deleted between listing and opening: it is not part of the
		 * tree any more, as if readdir had not seen it. */
		log_warning("%s vanished while the snapshot was taken", path);
		c->res->n_warnings++;
		return 2;
	}
	if (fd < 0) {
		log_error_errno(-errno, "Cannot read %s: %m (left out of the snapshot)", path);
		return 1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("Cannot read %s: replaced while being opened (left out of the snapshot)", path);
		return 1;
	}
	fill_stat(e, &st);
	e->size = (uint64_t)st.st_size;

	if (st.st_nlink > 1) {
		struct link_slot *s = link_find(&c->links, st.st_dev, st.st_ino);
		if (s && s->size == e->size) {
			if (s->n_extents) {
				e->extents = malloc(s->n_extents * sizeof(*s->extents));
				if (!e->extents)
					return -ENOMEM;
				memcpy(e->extents, s->extents, s->n_extents * sizeof(*s->extents));
			}
			e->n_extents = s->n_extents;
			c->st->files_unchanged++;
			xattrs_or_report(c, fd, dirfd, name, path, e);
			return 0;
		}
	}

	xattrs_or_report(c, fd, dirfd, name, path, e);

	/* Let the kernel read ahead while we hash and compress: without it a
	 * cold-cache backup alternates between waiting for the disk and using
	 * the CPU. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	/* Data regions via SEEK_DATA/SEEK_HOLE: holes are never read. */
	uint64_t size = e->size, off = 0;
	while (off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				break; /* only a hole remains */
			if (errno != EINVAL && errno != EOPNOTSUPP) {
				src_err = -errno;
				break;
			}
			d = (off_t)off; /* no hole support: all data */
		}
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)size;
		if ((uint64_t)h > size)
			h = (off_t)size;
		if ((uint64_t)d >= size)
			break;
		(void)posix_fadvise(fd, d, h - d, POSIX_FADV_WILLNEED);
		r = read_region(c, fd, (uint64_t)d, (uint64_t)h, e, &ext_cap, &src_err);
		if (r < 0)
			return r;
		if (src_err)
			break;
		off = (uint64_t)h;
	}
	if (src_err) {
		log_error_errno(src_err, "Cannot read %s: %m (left out of the snapshot)", path);
		return 1;
	}
	if (fstat(fd, &st2) == 0 && stat_changed(&st, &st2)) {
		log_error("%s changed while it was being read (size, mtime or ctime differ before and after); "
			  "the snapshot holds the bytes read", path);
		c->res->n_unreadable++;
	}
	c->st->files_new++;
	if (st.st_nlink > 1) {
		r = link_add(&c->links, st.st_dev, st.st_ino, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int backup_dir(struct ctx *c, int dirfd, const char *path, const struct vnode *only,
		      struct cfs_tree_entry *e);

/*
 * Capture one directory entry into t. Source problems are reported and the
 * entry left out; only repository errors are returned.
 */
static int backup_entry(struct ctx *c, int dirfd, const char *name, const char *dirpath, const struct vnode *only,
			struct cfs_tree *t)
{
	char path[8192];
	struct cfs_tree_entry e = {0};
	struct stat st;
	int r;

	if (c->o->interrupted && *c->o->interrupted)
		return -EINTR;
	path_join(path, sizeof(path), dirpath, name);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		if (r == -ENOENT && !only) {
			/* Vanished between readdir and stat: nothing to capture. */
			return 0;
		}
		c->res->n_unreadable++;
		log_error_errno(r, "Cannot stat %s: %m (left out of the snapshot)", path);
		return 0;
	}
	size_t nlen = strlen(name);
	if (nlen > CFS_TREE_NAME_MAX) {
		c->res->n_unreadable++;
		log_error("Cannot store %s: name too long", path);
		return 0;
	}
	e.name = (uint8_t *)strdup(name);
	if (!e.name)
		return -ENOMEM;
	e.name_len = (uint16_t)nlen;
	fill_stat(&e, &st);

	if (only && !only->captured && !S_ISDIR(st.st_mode)) {
		c->res->n_unreadable++;
		log_error("Cannot capture paths below %s: not a directory", path);
		cfs_tree_entry_release(&e);
		return 0;
	}

	r = 0;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		e.type = CFS_FT_REG;
		r = backup_file(c, dirfd, name, path, &e);
		break;
	case S_IFDIR:
		e.type = CFS_FT_DIR;
		e.size = (uint64_t)st.st_size; /* as `ls -l` shows it */
		r = backup_dir(c, dirfd, path, only && !only->captured ? only : NULL, &e);
		break;
	case S_IFLNK: {
		e.type = CFS_FT_SYMLINK;
		size_t cap = (size_t)st.st_size + 2;
		if (cap < 64)
			cap = 64;
		if (cap > CFS_TREE_TARGET_MAX + 2)
			cap = CFS_TREE_TARGET_MAX + 2;
		e.target = malloc(cap);
		if (!e.target)
			return cfs_tree_entry_release(&e), -ENOMEM;
		ssize_t n = readlinkat(dirfd, name, e.target, cap);
		if (n < 0 || (size_t)n >= cap - 1 || n == 0) {
			log_error_errno(n < 0 ? -errno : -ENAMETOOLONG, "Cannot read symlink %s: %m (left out of the snapshot)", path);
			r = 1;
			break;
		}
		e.target[n] = 0;
		e.target_len = (uint32_t)n;
		e.size = (uint64_t)n;
		xattrs_or_report(c, -1, dirfd, name, path, &e);
		c->st->files_new++;
		break;
	}
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
		e.type = S_ISFIFO(st.st_mode) ? CFS_FT_FIFO : S_ISCHR(st.st_mode) ? CFS_FT_CHR : CFS_FT_BLK;
		xattrs_or_report(c, -1, dirfd, name, path, &e);
		c->st->files_new++;
		break;
	case S_IFSOCK:
		log_warning("Skipping socket %s (sockets cannot be backed up)", path);
		c->res->n_warnings++;
		c->st->files_skipped++;
		cfs_tree_entry_release(&e);
		return 0;
	default:
		log_warning("Skipping %s: unknown file type", path);
		c->res->n_warnings++;
		c->st->files_skipped++;
		cfs_tree_entry_release(&e);
		return 0;
	}
	if (r < 0) {
		cfs_tree_entry_release(&e);
		return r;
	}
	if (r == 1 || r == 2) {
		if (r == 1) {
			c->res->n_unreadable++;
			c->st->files_skipped++;
		}
		cfs_tree_entry_release(&e);
		return 0;
	}
	r = cfs_tree_add(t, &e);
	if (r < 0)
		cfs_tree_entry_release(&e);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Capture the directory `path` (opened relative to dirfd as the last
 * component of path, or "/" when dirfd < 0) into e->subtree. `only`
 * restricts the children to the skeleton's (NULL: all). Returns 1 when the
 * directory could not be read (reported).
 */
static int backup_dir(struct ctx *c, int dirfd, const char *path, const struct vnode *only,
		      struct cfs_tree_entry *e)
{
	_cleanup_(cfs_tree_release) struct cfs_tree t = CFS_TREE_INIT;
	_cleanup_close_ int fd = -1;
	char **names = NULL;
	size_t n_names = 0, cap = 0;
	int r = 0;

	const char *last = strrchr(path, '/');
	last = last ? last + 1 : path;
	if (dirfd < 0)
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		fd = openat(dirfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error_errno(-errno, "Cannot open directory %s: %m (left out of the snapshot)", path);
		return 1;
	}
	c->st->dirs++;
	if (e)
		xattrs_or_report(c, fd, -1, NULL, path, e);

	if (only) {
		for (size_t i = 0; i < only->n_kids; i++) {
			r = backup_entry(c, fd, only->kids[i].name, path, &only->kids[i], &t);
			if (r < 0)
				return r;
		}
	} else {
		int dfd = dup(fd);
		if (dfd < 0)
			return -errno;
		DIR *d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			return -errno;
		}
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (n_names == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				char **nn = realloc(names, ncap * sizeof(*nn));
				if (!nn) {
					r = -ENOMEM;
					break;
				}
				names = nn;
				cap = ncap;
			}
			names[n_names] = strdup(de->d_name);
			if (!names[n_names]) {
				r = -ENOMEM;
				break;
			}
			n_names++;
			errno = 0;
		}
		if (r == 0 && errno != 0) {
			log_error_errno(-errno, "Cannot list directory %s: %m (entries may be missing)", path);
			c->res->n_unreadable++;
		}
		closedir(d);
		if (r == 0 && n_names > 1)
			qsort(names, n_names, sizeof(*names), name_cmp);
		for (size_t i = 0; i < n_names && r == 0; i++)
			r = backup_entry(c, fd, names[i], path, NULL, &t);
		for (size_t i = 0; i < n_names; i++)
			free(names[i]);
		free(names);
		if (r < 0)
			return r;
	}

	r = cfs_tree_sort(&t);
	if (r < 0)
		return r;
	struct cfs_id id;
	uint64_t stored = 0;
	r = cfs_repo_put_tree(c->r, &t, &id, &stored);
	if (r < 0)
		return r;
	c->st->bytes_added += stored;
	if (stored)
		c->st->blobs_added++;
	if (e) {
		e->subtree = id;
		e->subtree_nodes = cfs_tree_node_count(&t);
	} else {
		c->res->snapshot.root = id;
		c->res->snapshot.root_nodes = cfs_tree_node_count(&t);
	}
	return 0;
}

static int strv_dup(const char *const *v, size_t n, char ***ret)
{
	char **o = calloc(n ? n : 1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		o[i] = strdup(v[i]);
		if (!o[i]) {
			for (size_t j = 0; j < i; j++)
				free(o[j]);
			free(o);
			return -ENOMEM;
		}
	}
	*ret = o;
	return 0;
}

int cfs_backup_run(struct cfs_repo *r, const struct cfs_backup_options *o, struct cfs_backup_result *ret)
{
	struct vnode root = {0};
	struct ctx c = {0};
	char host[256] = "";
	int e;

	memset(ret, 0, sizeof(*ret));
	struct cfs_snapshot *s = &ret->snapshot;
	int64_t t0 = cfs_mono_ns();
	s->time_ns = cfs_now_ns();
	s->type = CFS_SNAP_FULL;

	for (size_t i = 0; i < o->n_paths; i++) {
		_cleanup_free_ char *norm = NULL;
		e = cfs_path_normalize(o->paths[i], &norm);
		if (e == 0)
			e = vnode_insert(&root, norm);
		if (e < 0)
			goto out;
	}
	if (o->host)
		snprintf(host, sizeof(host), "%s", o->host);
	else
		(void)gethostname(host, sizeof(host) - 1);
	s->host = strdup(host);
	s->tier = strdup("");
	if (!s->host || !s->tier) {
		e = -ENOMEM;
		goto out;
	}
	e = strv_dup(o->paths, o->n_paths, &s->paths);
	if (e < 0)
		goto out;
	s->n_paths = o->n_paths;
	e = strv_dup(o->tags, o->n_tags, &s->tags);
	if (e < 0)
		goto out;
	s->n_tags = o->n_tags;

	c.r = r;
	c.o = o;
	c.res = ret;
	c.st = &s->stats;
	/* Read window: one maximal chunk plus room to read ahead in big reads. */
	c.buf_cap = (size_t)cfs_repo_chunker(r)->max_size * 2;
	c.buf = malloc(c.buf_cap);
	if (!c.buf) {
		e = -ENOMEM;
		goto out;
	}

	e = backup_dir(&c, -1, "/", root.captured ? NULL : &root, NULL);
	if (e == 1) {
		e = -EIO;
		goto out;
	}
	if (e < 0)
		goto out;
	s->stats.duration_ns = (uint64_t)(cfs_mono_ns() - t0);
	e = cfs_repo_commit_snapshot(r, s, &ret->id);
out:
	free(c.buf);
	link_map_release(&c.links);
	vnode_release(&root);
	if (e < 0)
		cfs_snapshot_release(s);
	return e;
}
