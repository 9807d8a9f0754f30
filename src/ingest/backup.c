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
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <linux/fs.h>

#include "chronofs/fault.h"
#include "chronofs/ingest.h"
#include "chronofs/log.h"
#include "chronofs/pack.h"
#include "chronofs/pattern.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

/*
 * Hard-link groups met during this run: (dev, ino) -> the entry of the first
 * name captured (metadata from before its read, extents, xattrs). Every later
 * name of the group gets exactly that entry under its own name: a group has
 * one content per snapshot, whichever of its paths is asked for.
 */
struct link_slot {
	uint64_t dev, ino; /* ino 0 = empty */
	struct cfs_tree_entry e; /* owned copy (its name is the first name's) */
	bool reported;           /* a change since the first name was reported */
};

struct link_map {
	struct link_slot *slots;
	size_t cap, n;
};

/* A node of the path skeleton: a directory on the way to captured paths. */
struct vnode {
	char *name;           /* owned component */
	bool captured;        /* the whole subtree is captured here */
	size_t stream;        /* 1 + index of the stream stored here; 0: none */
	struct vnode *kids;   /* owned array */
	size_t n_kids;
};

struct ctx {
	struct cfs_repo *r;
	const struct cfs_backup_options *o;
	struct cfs_backup_result *res;
	struct cfs_snapshot_stats *st;
	struct link_map links;
	struct pipeline *pipe; /* owned: hashes, seals and packs chunks */
	struct pipeline_group *group; /* the jobs of the directory being captured */
	struct frame **stack;  /* owned: the directories being captured, "/" first */
	size_t depth, cap;
	struct cfs_buf path;   /* the path of what is being captured, NUL-terminated */
	struct uring *ring;    /* owned: batched stat/open/read; NULL: plain calls */
	const char *read_hook; /* the file whose first read fires "ingest.read" (tests) */
	uint8_t *buf; /* owned read window */
	size_t buf_cap;
	bool have_parent;
	bool tree_v2;        /* the repository takes trees of version 2 */
	bool flags_warned;   /* inode flags that version 1 cannot hold were seen */
	/* The parent's start: an entry whose ctime is within
	 * racy_window_ns() of it, or after it, may have missed a change. */
	int64_t parent_time_ns;
	/* Under the fake clock of test builds (util.h, cfs_now_fake) snapshot
	 * times and file ctimes come from different clocks: a parent "taken"
	 * at a fake time later than its real read would pass entries that are
	 * racily clean. Then no parent entry is trusted: every file is read
	 * again (dedup stores nothing twice). */
	bool parent_untrusted;
	uint32_t uid, gid; /* owner of made-up entries (streams, their dirs) */
	int64_t t0;        /* monotonic start */
	int64_t next_progress;
	struct cfs_backup_progress prog;
	struct counter *counter; /* owned: count-ahead (no parent, progress asked) */
};

/* A small file of a directory, opened and read ahead through io_uring. */
struct loaded {
	int fd;       /* -1: not loaded (or handed over) */
	int error;    /* of the open or a read */
	uint8_t *buf; /* owned */
	size_t len;
};

/* The path of what is being captured. */
static const char *cur_path(const struct ctx *c)
{
	return (const char *)c->path.data;
}

/* Cut c->path back to an ancestor's path (of length len). */
static void path_set_len(struct ctx *c, size_t len)
{
	c->path.len = len;
	c->path.data[len] = 0;
}

static void progress(struct ctx *c, bool done)
{
	if (!c->o->progress)
		return;
	int64_t now = cfs_mono_ns();
	if (!cfs_progress_due(&c->next_progress, now, done))
		return;
	uint64_t added = 0, blobs = 0;
	if (c->pipe)
		pipeline_stats(c->pipe, &added, &blobs);
	if (c->counter) {
		uint64_t entries, bytes;
		bool finished;
		counter_get(c->counter, &entries, &bytes, &finished);
		c->prog.entries_total = entries + c->o->n_streams;
		c->prog.bytes_total = bytes;
		c->prog.totals_partial = !finished;
	}
	c->prog.elapsed_ns = now - c->t0;
	c->prog.bytes_read = c->st->bytes_read;
	c->prog.bytes_added = c->st->bytes_added + added;
	c->prog.done = done;
	c->o->progress(c->o->progress_ud, &c->prog);
}

static void link_map_release(struct link_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		cfs_tree_entry_release(&m->slots[i].e);
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

/* Remember e (complete: its extents' ids are known) as the entry of the
 * group (dev, ino). */
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
	int r = cfs_tree_entry_copy(e, &s->e);
	if (r < 0)
		return r;
	s->dev = dev;
	s->ino = ino;
	s->reported = false;
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

/* Place stream i at path (normalised). Paths are inserted first: a stream
 * inside a captured path, or at the same place as another, is -EEXIST. */
static int vnode_insert_stream(struct vnode *root, const char *path, size_t i)
{
	struct vnode *v = root;
	const char *p = path;
	while (*p == '/')
		p++;
	if (!*p)
		return -EINVAL;
	while (*p) {
		if (v->captured || v->stream)
			return -EEXIST;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		while (*p == '/')
			p++;
		struct vnode *k = NULL;
		for (size_t j = 0; j < v->n_kids; j++)
			if (strlen(v->kids[j].name) == n && memcmp(v->kids[j].name, s, n) == 0)
				k = &v->kids[j];
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
		} else if (!*p) {
			return -EEXIST; /* something is already stored there */
		}
		v = k;
	}
	v->stream = i + 1;
	return 0;
}

/* Whether a skeleton node leads to captured source paths (else it only
 * leads to streams, and may be made up when it does not exist). */
static bool vnode_has_capture(const struct vnode *v)
{
	if (v->captured)
		return true;
	for (size_t i = 0; i < v->n_kids; i++)
		if (vnode_has_capture(&v->kids[i]))
			return true;
	return false;
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
 * not captured completely (exit 3); the entry is kept without them, and 0
 * returned. Memory running out is no property of the file: -ENOMEM fails the
 * run (the entry's xattrs are then released as well). */
static int xattrs_or_report(struct ctx *c, int fd, int dirfd, const char *name, const char *path,
			    struct cfs_tree_entry *e)
{
	int r = read_xattrs(fd, dirfd, name, e);
	if (r == 0)
		return 0;
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	e->xattrs = NULL;
	e->n_xattrs = 0;
	if (r == -ENOMEM)
		return log_error_errno(r, "Cannot read extended attributes of %s: %m", path);
	log_error_errno(r, "Cannot read extended attributes of %s: %m (stored without them)", path);
	c->res->n_unreadable++;
	return 0;
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

/* The inode flags of an open regular file or directory that a snapshot
 * keeps (tree.h); 0 where the file system has none. Trees of version 1
 * (repositories of format 2 and older) cannot hold them: said once. */
static uint32_t read_fsflags(struct ctx *c, int fd, const char *path)
{
	int f = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &f) < 0)
		return 0;
	uint32_t kept = (uint32_t)f & CFS_FSFLAGS_KEPT;
	if (kept && !c->tree_v2 && !c->flags_warned) {
		log_warning("%s has inode flags (chattr), which a repository of format %u cannot hold: they are not "
			    "stored (chronoctl upgrade raises the format)",
			    path, (unsigned)cfs_repo_format(c->r));
		c->flags_warned = true;
	}
	return kept;
}

/* The inode flags of regular file name in dirfd, opened for them alone. */
static uint32_t flags_of(struct ctx *c, int dirfd, const char *name, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? 0 : read_fsflags(c, fd, path);
}

/* Room for n extents in e. Pipeline jobs write into the array: it moves only
 * once they are done. */
static int reserve_extents(struct ctx *c, struct cfs_tree_entry *e, size_t n, size_t *cap)
{
	if (n <= *cap)
		return 0;
	/* Jobs write ids into the array: it may move only once they are
	 * done (none refer to an array without extents yet). */
	if (e->n_extents) {
		int r = pipeline_wait(c->pipe, c->group);
		if (r < 0)
			return r;
	}
	struct cfs_extent *nx = reallocarray(e->extents, n, sizeof(*nx));
	if (!nx)
		return -ENOMEM;
	e->extents = nx;
	*cap = n;
	return 0;
}

/* Release an entry whose extents pipeline jobs may still be writing. */
static void drop_entry(struct ctx *c, struct cfs_tree_entry *e)
{
	(void)pipeline_wait(c->pipe, c->group);
	cfs_tree_entry_release(e);
}

/* Chunks from this size on are hashed by the workers. */
#define HASH_JOB_MIN (64u << 10)

/* One chunk at file offset off, appended to e's extents. */
static int store_chunk(struct ctx *c, const uint8_t *p, size_t n, uint64_t off, struct cfs_tree_entry *e,
		       size_t *ext_cap)
{
	if (e->n_extents == *ext_cap) {
		int r = reserve_extents(c, e, *ext_cap ? *ext_cap * 2 : 8, ext_cap);
		if (r < 0)
			return r;
	}
	struct cfs_extent *x = &e->extents[e->n_extents];
	*x = (struct cfs_extent){.offset = off, .len = (uint32_t)n};
	if (n >= HASH_JOB_MIN) {
		e->n_extents++;
		return pipeline_put_chunk(c->pipe, c->group, x, p, n);
	}
	int r = cfs_repo_claim_blob(c->r, p, n, &x->id);
	if (r == 1)
		r = pipeline_put_claimed(c->pipe, &x->id, p, n);
	if (r < 0)
		return r;
	e->n_extents++;
	return 0;
}

/* A whole file already in memory (loaded through io_uring). */
static int chunk_mem(struct ctx *c, const uint8_t *p, size_t n, struct cfs_tree_entry *e, size_t *ext_cap)
{
	const struct cfs_chunker *ch = cfs_repo_chunker(c->r);
	size_t done = 0;
	c->st->bytes_read += n;
	while (done < n) {
		size_t cut = cfs_chunker_next(ch, p + done, n - done, true);
		if (cut == 0)
			return -EIO; /* the chunker always cuts at end of data */
		int r = store_chunk(c, p + done, cut, done, e, ext_cap);
		if (r < 0)
			return r;
		done += cut;
	}
	return 0;
}

#define STREAM_READ_MAX (1u << 20)

/*
 * Chunk [start, end) of fd into e's extents (stream: read(2) from the current
 * position instead of pread). A read error (a source problem, reported per
 * file) comes back through *ret_src_err, repository errors as the return
 * value. A read that ends early (the file shrank, or end is UINT64_MAX: read
 * to the end) sets *ret_eof to the offset of the end of file.
 */
static int read_region(struct ctx *c, int fd, bool stream, uint64_t start, uint64_t end,
		       struct cfs_tree_entry *e, size_t *ext_cap, int *ret_src_err, uint64_t *ret_eof)
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
			/* Pseudo-files allocate a kernel buffer of the size asked
			 * for (/proc/sys answers ENOMEM above 4 MiB). */
			if (stream)
				want = CFS_MIN(want, (size_t)STREAM_READ_MAX);
			ssize_t n = stream ? cfs_read_full(fd, c->buf + have, want)
					   : cfs_pread_full(fd, c->buf + have, want, pos);
			if (n < 0) {
				*ret_src_err = (int)n;
				return 0;
			}
			c->st->bytes_read += (uint64_t)n;
			have += (size_t)n;
			pos += (uint64_t)n;
			if (c->read_hook && n > 0) {
				(void)CFS_FAULT_AT("ingest.read", c->read_hook);
				c->read_hook = NULL;
			}
			if ((size_t)n < want) {
				/* The end of the file came first: store what is
				 * there, and say where the file ends. */
				end = pos;
				*ret_eof = pos;
			}
			eof = pos >= end;
		}
		size_t done = 0;
		while (done < have) {
			size_t cut = cfs_chunker_next(ch, c->buf + done, have - done, eof);
			if (cut == 0)
				break;
			e_ = store_chunk(c, c->buf + done, cut, cut_off + done, e, ext_cap);
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
		progress(c, false);
	}
}

static bool stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Whether st still shows what entry e recorded (size, mtime, ctime). */
static bool entry_matches_stat(const struct cfs_tree_entry *e, const struct stat *st)
{
	return e->size == (uint64_t)st->st_size &&
	       e->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
	       e->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/*
 * Another name of a hard-link group whose first name was captured in this
 * run: it gets the first name's entry (content, metadata from before that
 * read, xattrs) under its own name. If the file changed since (st, its
 * metadata now, differs), the group is reported once as changed during the
 * snapshot (exit 3); what was recorded is its state before the change, so
 * the next incremental snapshot reads it again.
 */
static int link_member(struct ctx *c, struct link_slot *s, const char *name, const char *path,
		       const struct stat *st, struct cfs_tree_entry *e)
{
	int r = cfs_tree_entry_copy(&s->e, e);
	if (r < 0)
		return r;
	free(e->name);
	e->name = (uint8_t *)strdup(name);
	if (!e->name) {
		cfs_tree_entry_release(e);
		return -ENOMEM;
	}
	e->name_len = (uint16_t)strlen(name);
	if (!s->reported && !entry_matches_stat(&s->e, st)) {
		log_error("%s changed while the snapshot was taken (it is a hard link of %s, captured before the "
			  "change); the snapshot holds the state before the change for every name of the file",
			  path, (const char *)s->e.name);
		c->res->n_unreadable++;
		s->reported = true;
	}
	return 0;
}

/*
 * Read a regular file. pre: its lstat from the listing, taken before
 * anything was read (or NULL). The entry records the metadata from before
 * the read (pre, or fstat of the open file when the name now leads to
 * another inode), and the bytes read: a file that shrank is stored with the
 * size read, a file that grew with the size it had, and a file whose size,
 * mtime or ctime differ before and after the read is reported (exit 3).
 * Since the recorded times are the ones from before, an incremental
 * snapshot that follows sees such a file as changed and reads it again.
 * Pseudo-files that report a size of 0 (/proc) are read to their end.
 *
 * Returns a repository error (< 0) to abort, 0 when the entry is complete,
 * 1 when the file was reported and must be left out, 2 when it vanished
 * (left out, a warning only), 3 when it is marked nodump and those are
 * excluded.
 */
static int backup_file(struct ctx *c, int dirfd, const char *name, const char *path, const struct stat *pre,
		       struct cfs_tree_entry *e, struct loaded *pl)
{
	_cleanup_close_ int fd = -1;
	struct stat fst, after;
	size_t ext_cap = 0;
	int src_err = 0, r;
	bool in_mem = false;

	if (pl && pl->fd >= 0) {
		/* Opened and read through io_uring with its directory. */
		fd = pl->fd;
		pl->fd = -1;
		in_mem = true;
	} else {
		(void)CFS_FAULT_AT("ingest.open", path);
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
	}
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		/* Deleted between listing and opening: it is not part of the
		 * tree any more, as if readdir had not seen it. */
		log_warning("%s vanished while the snapshot was taken", path);
		c->res->n_warnings++;
		return 2;
	}
	if (fd < 0 && errno == ELOOP) {
		log_error("Cannot read %s: replaced by a symbolic link while being opened (left out of the snapshot)",
			  path);
		return 1;
	}
	if (fd < 0) {
		log_error_errno(-errno, "Cannot read %s: %m (left out of the snapshot)", path);
		return 1;
	}
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
		log_error("Cannot read %s: replaced while being opened (left out of the snapshot)", path);
		return 1;
	}
	/* The "before" of this read: the listing's stat if the name still
	 * leads to that file; else (replaced since) the open file's, taken
	 * now, before it is read again below. */
	const struct stat *st = pre;
	if (!pre || pre->st_dev != fst.st_dev || pre->st_ino != fst.st_ino) {
		st = &fst;
		in_mem = false; /* loaded bytes of a file whose "before" is unknown */
	}
	fill_stat(e, st);
	e->size = (uint64_t)st->st_size;
	e->fsflags = read_fsflags(c, fd, path);
	if (c->o->exclude_nodump && (e->fsflags & CFS_FSFLAG_NODUMP))
		return 3;

	r = xattrs_or_report(c, fd, dirfd, name, path, e);
	if (r < 0)
		return r;

	/* The extents' room up front (every chunk is at least min_size but the
	 * last), so the array rarely moves under the pipeline's jobs. */
	uint64_t want = e->size / cfs_repo_chunker(c->r)->min_size + 2;
	r = reserve_extents(c, e, (size_t)CFS_MIN(want, (uint64_t)4096), &ext_cap);
	if (r < 0)
		return r;

	/* Loaded through io_uring up to size + 1 bytes: fewer means the file
	 * ended early (it shrank), more that it grew (only its size is kept). */
	if (in_mem && !pl->error) {
		(void)CFS_FAULT_AT("ingest.read", path);
		size_t n = (size_t)CFS_MIN((uint64_t)pl->len, e->size);
		e->size = n;
		r = chunk_mem(c, pl->buf, n, e, &ext_cap);
		if (r < 0)
			return r;
		goto read_done;
	}

	/* Let the kernel read ahead while we hash and compress: without it a
	 * cold-cache backup alternates between waiting for the disk and using
	 * the CPU. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	c->read_hook = path;
	uint64_t eof_at = UINT64_MAX;
	if (e->size == 0) {
		/* Empty, or a pseudo-file whose size is not known before it is
		 * read (/proc): read to the end. */
		r = read_region(c, fd, true, 0, UINT64_MAX, e, &ext_cap, &src_err, &eof_at);
		if (r < 0)
			return r;
		if (!src_err)
			e->size = eof_at;
	}
	/* Data regions via SEEK_DATA/SEEK_HOLE: holes are never read. */
	uint64_t size = e->size, off = 0;
	while (off < size && !src_err && eof_at == UINT64_MAX) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				break; /* only a hole remains (or the file shrank) */
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
		r = read_region(c, fd, false, (uint64_t)d, (uint64_t)h, e, &ext_cap, &src_err, &eof_at);
		if (r < 0)
			return r;
		off = (uint64_t)h;
	}
	c->read_hook = NULL;
	if (src_err) {
		log_error_errno(src_err, "Cannot read %s: %m (left out of the snapshot)", path);
		return 1;
	}
	/* Shrunk while read: the snapshot holds the bytes read, no more
	 * (never a tail of zeros that was not in the file). */
	if (eof_at < e->size)
		e->size = eof_at;
read_done:
	if (fstat(fd, &after) == 0 && stat_changed(st, &after)) {
		log_error("%s changed while it was being read (size, mtime or ctime differ before and after); "
			  "the snapshot holds the bytes read and the metadata from before the read",
			  path);
		c->res->n_unreadable++;
	}
	c->prog.files_read++;
	return 0;
}

/*
 * A parent's entry stands for a file only if its times cannot have missed a
 * change. File times come from a coarse clock, so a file changed again in the
 * same clock step after the parent read it keeps the mtime and ctime the
 * parent recorded ("racily clean", as git calls such index entries). A change
 * made two steps or more after the read always shows: an entry whose ctime
 * lies within two steps of the parent's start, or after it, is read again.
 * The step is the kernel's tick (at most 10 ms: 50 ms is the margin) where
 * times have sub-millisecond digits, and up to 2 s on file systems that keep
 * whole seconds (ext4 with small inodes, FAT). A file that changed during
 * the parent's read was recorded with its times from before the read, so it
 * differs anyway. (Times of a network file system come from the server's
 * clock: a skew between the two is not covered.)
 */
static int64_t racy_window_ns(int64_t ctime_ns)
{
	return ctime_ns % 1000000 == 0 ? 2000000000 : 50000000;
}

/* Same type, size, times, inode and mode as in the parent: not changed. */
static bool unchanged(const struct cfs_tree_entry *pe, uint8_t type, const struct stat *st)
{
	return pe->type == type && pe->size == (uint64_t)st->st_size &&
	       pe->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
	       pe->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec &&
	       pe->ino == (uint64_t)st->st_ino && pe->mode == (st->st_mode & 07777);
}

/* An unchanged entry of the parent that is not racily clean. */
static bool parent_trusted(const struct ctx *c, const struct cfs_tree_entry *pe)
{
	return !c->parent_untrusted && pe->ctime_ns < c->parent_time_ns - racy_window_ns(pe->ctime_ns);
}

static void count_file(struct ctx *c, const struct cfs_tree_entry *pe, bool same)
{
	if (!pe)
		c->st->files_new++;
	else if (same)
		c->st->files_unchanged++;
	else
		c->st->files_changed++;
}

static int made_up_entry(struct ctx *c, const char *name, uint8_t type, struct cfs_tree_entry *e)
{
	*e = (struct cfs_tree_entry){0};
	e->name = (uint8_t *)strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->name_len = (uint16_t)strlen(name);
	e->type = type;
	e->mode = type == CFS_FT_DIR ? 0755 : 0600;
	e->uid = c->uid;
	e->gid = c->gid;
	e->mtime_ns = e->ctime_ns = c->res->snapshot.time_ns;
	e->nlink = type == CFS_FT_DIR ? 2 : 1;
	return 0;
}

/* How a directory is captured. */
struct dirspec {
	const struct vnode *only; /* skeleton node: capture only its children */
	uint64_t root_dev;        /* device of the source path it lies in */
	bool contents;            /* false: stored empty (other file system) */
	bool made_up;             /* not on disk: leads only to streams */
};

/*
 * The parent snapshot's tree of a directory, looked up by name. A large
 * directory's tree is a fragment index: its fragments are loaded as the
 * names looked up reach them (in order, give or take a batch read ahead),
 * the last two kept, so memory does not grow with the directory.
 */
struct pfrag {
	struct cfs_tree t; /* owned: fragment k (empty if it could not be read) */
	size_t k;
	bool have;
	bool usable; /* its files' blobs are all usable (cfs_repo_tree_usable) */
};

/*
 * A parent's file entry stands for the file only if the repository still
 * has every blob it names: a tree (or fragment) that names a lost blob
 * gives its directories (for their subtrees) but not its files, which are
 * read again (chronofs-repository(5), what a writer dedups against).
 */
struct pcursor {
	struct cfs_tree t; /* owned: the parent's tree: entries, or fragments */
	struct cfs_id id;  /* its id (stored in the repository) */
	bool have;
	bool usable;          /* t's files' blobs are all usable */
	struct pfrag frag[2]; /* for an index */
	unsigned lru;         /* frag[lru] goes next */
};

/* Whether tree t (id) read to build on names only usable blobs; an error
 * other than a lost blob is returned. */
static int tree_usable(struct ctx *c, const struct cfs_id *id, const struct cfs_tree *t, const char *path,
		       bool *ret)
{
	int r = cfs_repo_tree_usable(c->r, id, t);
	*ret = r == 0;
	if (r == -ENODATA) {
		log_info("%s: the parent snapshot's entries name data the repository no longer holds: its files are "
			 "read again", path);
		return 0;
	}
	return r;
}

static void pcursor_release(struct pcursor *pc)
{
	cfs_tree_release(&pc->t);
	for (size_t i = 0; i < ARRAY_SIZE(pc->frag); i++) {
		cfs_tree_release(&pc->frag[i].t);
		pc->frag[i].have = false;
	}
	pc->have = false;
}

/* Load the parent's tree of directory path from its entry pe (NULL: none). */
static void pcursor_open(struct ctx *c, struct pcursor *pc, const struct cfs_tree_entry *pe, const char *path)
{
	if (!pe || pe->type != CFS_FT_DIR)
		return;
	int r = cfs_repo_get_tree_object(c->r, &pe->subtree, &pc->t);
	if (r == 0)
		r = tree_usable(c, &pe->subtree, &pc->t, path, &pc->usable);
	if (r < 0) {
		/* Not fatal: the directory is read as if it were new. */
		cfs_tree_release(&pc->t);
		log_warning_errno(r, "Cannot read the parent snapshot's tree of %s: %m (its files are read again)",
				  path);
		return;
	}
	pc->id = pe->subtree;
	pc->have = true;
}

/* Fragment k of the parent's index, loaded if need be (a fragment that
 * cannot be read is warned about once and stands empty). */
static const struct cfs_tree *pcursor_frag(struct ctx *c, struct pcursor *pc, size_t k)
{
	for (size_t i = 0; i < ARRAY_SIZE(pc->frag); i++)
		if (pc->frag[i].have && pc->frag[i].k == k)
			return &pc->frag[i].t;
	struct pfrag *f = &pc->frag[pc->lru];
	pc->lru = (pc->lru + 1) % ARRAY_SIZE(pc->frag);
	cfs_tree_release(&f->t);
	f->k = k;
	f->have = true;
	const struct cfs_tree_frag *rec = &pc->t.frags[k];
	int r = cfs_repo_get_tree_object(c->r, &rec->id, &f->t);
	if (r == 0)
		r = cfs_tree_frag_check(&f->t, rec, k + 1 < pc->t.n_frags ? rec + 1 : NULL);
	if (r == 0)
		r = tree_usable(c, &rec->id, &f->t, cur_path(c), &f->usable);
	if (r < 0) {
		char hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(&rec->id, hex);
		cfs_tree_release(&f->t);
		log_warning_errno(r, "Cannot read fragment %s of the parent snapshot's tree of %s: %m (its files are "
				  "read again)", hex, cur_path(c));
	}
	return &f->t;
}

/* The parent's entry named name, or NULL; *ret_usable: whether a file
 * entry may stand for the file (its tree names only usable blobs). */
static const struct cfs_tree_entry *pcursor_find(struct ctx *c, struct pcursor *pc, const char *name, size_t len,
						 bool *ret_usable)
{
	*ret_usable = false;
	if (!pc->have)
		return NULL;
	const struct cfs_tree *t = &pc->t;
	bool usable = pc->usable;
	if (t->n_frags) {
		int k = cfs_tree_find_frag(t, name, len);
		if (k < 0)
			return NULL;
		t = pcursor_frag(c, pc, (size_t)k);
		for (size_t i = 0; i < ARRAY_SIZE(pc->frag); i++)
			if (&pc->frag[i].t == t)
				usable = pc->frag[i].usable;
	}
	int k = cfs_tree_find(t, name, len);
	*ret_usable = usable;
	return k >= 0 ? &t->entries[k] : NULL;
}

/*
 * A directory being captured. The walk keeps one per level on a stack on
 * the heap (a tree any user can make may be deeper than any thread's
 * stack), and a directory is stored as a tree after its children.
 */
struct frame {
	struct cfs_tree_entry e; /* its own entry (unused for the snapshot root) */
	struct dirspec ds;
	struct pcursor pc;       /* the parent snapshot's tree of it */
	int fd;                  /* -1: made up, or closed to bound open fds (FD_KEEP) */
	uint64_t dev, ino;       /* the directory: a reopened fd must lead to it */
	size_t path_len;         /* its path is c->path.data[0, path_len) */
	struct cfs_tree t;       /* the entries captured so far (of its last fragment) */
	size_t t_bytes;          /* their encoding's size */
	struct cfs_tree idx;     /* a large directory: the fragments stored so far */
	struct pipeline_group g; /* the jobs of its files; frames never move */
	/* What is left to capture: the kids of ds.only, or names from next. */
	size_t next;
	struct names *names; /* owned: the listing, sorted, without what is
				excluded (bounded memory); NULL: none left */
	struct uring_stat *sts; /* owned: names [sts_base, sts_base + n_sts) stat'ed */
	size_t sts_base, n_sts;
	struct loaded *ld;  /* owned, parallel to sts: small files read ahead */
	size_t loaded_upto; /* names below this were considered for reading ahead */
};

/* Directory fds kept open along the path (the innermost ones): deeper
 * trees reopen an ancestor when the walk comes back to it. */
#define FD_KEEP 32
/* Entries stat'ed at once, and how many levels up such a batch is kept
 * while the walk is below (the others are stat'ed again on the way back). */
#define STAT_BATCH 512
#define STAT_KEEP 16

static void frame_drop_batch(struct frame *f)
{
	for (size_t i = 0; f->ld && i < f->n_sts; i++) {
		if (f->ld[i].fd >= 0)
			close(f->ld[i].fd);
		free(f->ld[i].buf);
	}
	free(f->ld);
	free(f->sts);
	f->ld = NULL;
	f->sts = NULL;
	f->sts_base = f->n_sts = 0;
}

/* Free a frame; its files' jobs must be done (or the pipeline gone). */
static void frame_free(struct frame *f)
{
	if (!f)
		return;
	frame_drop_batch(f);
	names_free(f->names);
	cfs_tree_release(&f->t);
	cfs_tree_release(&f->idx);
	cfs_tree_entry_release(&f->e);
	pcursor_release(&f->pc);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* Store a tree; its blob counts in the run's figures. */
static int put_tree(struct ctx *c, const struct cfs_tree *t, const struct cfs_id *stored, struct cfs_id *ret_id)
{
	uint64_t added = 0;
	int r = cfs_repo_put_tree(c->r, t, stored, ret_id, &added);
	if (r < 0)
		return r;
	c->st->bytes_added += added;
	if (added)
		c->st->blobs_added++;
	return 0;
}

/*
 * Store the entries of f captured so far as a fragment of its directory
 * (a large one: memory does not grow with it). Its files' chunk ids must
 * be known first.
 */
static int frame_cut(struct ctx *c, struct frame *f)
{
	struct cfs_id id;
	int r = pipeline_wait(c->pipe, &f->g);
	if (r == 0)
		r = put_tree(c, &f->t, NULL, &id);
	if (r == 0)
		r = cfs_tree_add_frag(&f->idx, f->t.entries[0].name, f->t.entries[0].name_len, &id, (uint32_t)f->t.n,
				      cfs_tree_node_count(&f->t));
	if (r < 0)
		return r;
	log_debug("%.*s: fragment %zu of the directory stored (%zu entries, %zu bytes)", (int)f->path_len,
		  cur_path(c), f->idx.n_frags, f->t.n, f->t_bytes);
	cfs_tree_release(&f->t);
	f->t_bytes = 0;
	return 0;
}

/* Add a captured entry to directory f (it takes e's fields; on failure e
 * keeps them), and cut a fragment where the format says so. */
static int frame_add(struct ctx *c, struct frame *f, struct cfs_tree_entry *e)
{
	size_t bytes = cfs_tree_entry_size(e);
	int r = cfs_tree_add(&f->t, e);
	if (r < 0)
		return r;
	f->t_bytes += bytes;
	/* Only a listing comes in name order; the way to the source paths is
	 * sorted at the end, and is never large. */
	if (!f->ds.only && c->tree_v2 && cfs_tree_cut_after(&f->t.entries[f->t.n - 1], f->t.n, f->t_bytes))
		return frame_cut(c, f);
	return 0;
}

static struct frame *top(struct ctx *c)
{
	return c->depth ? c->stack[c->depth - 1] : NULL;
}

/* Set c->path to the path of the top frame plus "/name". */
static int path_push(struct ctx *c, const char *name)
{
	struct frame *f = top(c);
	path_set_len(c, f->path_len);
	int r = 0;
	if (f->path_len != 1) /* "/" + name, not "//" + name */
		r = cfs_buf_append(&c->path, "/", 1);
	if (r == 0)
		r = cfs_buf_append(&c->path, name, strlen(name) + 1);
	if (r == 0)
		c->path.len--; /* keep the NUL after the path, not in it */
	return r;
}


/*
 * An ancestor's fd, closed to bound open fds, is needed again: reopen it
 * from the nearest level above that is open (or "/"), one name at a time
 * without following symlinks, and check every step leads to the directory
 * captured there. 1 (reported) when a directory on the way was moved or
 * replaced meanwhile.
 */
static int frame_reopen(struct ctx *c, size_t level)
{
	size_t j = level;
	while (j > 0 && c->stack[j - 1]->fd < 0 && !c->stack[j - 1]->ds.made_up)
		j--;
	int fd = j > 0 ? c->stack[j - 1]->fd : -1;
	for (size_t m = j; m <= level; m++) {
		struct frame *f = c->stack[m];
		int nfd = m == 0 ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
				 : openat(fd, (const char *)f->e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (nfd < 0 || fstat(nfd, &st) < 0 || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
			int r = nfd < 0 ? -errno : -ESTALE;
			if (nfd >= 0)
				close(nfd);
			path_set_len(c, f->path_len);
			log_error_errno(r, "Cannot go back to directory %s: %s (the rest of its contents is left out)",
					cur_path(c),
					r == -ESTALE ? "it was moved or replaced while the snapshot was taken" : "%m");
			c->res->n_unreadable++;
			return 1;
		}
		f->fd = nfd;
		fd = nfd;
	}
	for (size_t m = j; m + FD_KEEP <= level; m++) {
		close(c->stack[m]->fd);
		c->stack[m]->fd = -1;
	}
	return 0;
}

/* Leave only the kids of ds.only, or no names, to capture. */
static void frame_stop(struct frame *f)
{
	frame_drop_batch(f);
	f->names = names_free(f->names);
	if (f->ds.only)
		f->next = f->ds.only->n_kids;
}

/*
 * Push a directory to capture (k, filled but for its fd, path_len and
 * group): keeps at most FD_KEEP fds and STAT_KEEP stat batches open along
 * the path. The frame is owned by the stack from here on, also on failure.
 */
static int frame_push(struct ctx *c, struct frame *k)
{
	if (c->depth == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 64;
		struct frame **v = reallocarray(c->stack, ncap, sizeof(*v));
		if (!v) {
			frame_free(k);
			return -ENOMEM;
		}
		c->stack = v;
		c->cap = ncap;
	}
	c->stack[c->depth++] = k;
	k->path_len = c->path.len;
	c->group = &k->g;
	if (c->depth > FD_KEEP) {
		struct frame *old = c->stack[c->depth - 1 - FD_KEEP];
		if (old->fd >= 0) {
			close(old->fd);
			old->fd = -1;
		}
	}
	if (c->depth > STAT_KEEP)
		frame_drop_batch(c->stack[c->depth - 1 - STAT_KEEP]);
	return 0;
}

static int list_frame(struct ctx *c, struct frame *k);

/*
 * Open directory name (of the top frame) whose lstat is st, list it and push
 * it (e: its entry, consumed). Returns 1 when it cannot be read (reported,
 * e released), 3 when it is marked nodump and those are excluded.
 */
static int push_dir(struct ctx *c, const char *name, const struct vnode *only, const struct stat *st,
		    const struct cfs_tree_entry *pe, struct cfs_tree_entry *e)
{
	struct frame *f = top(c);
	struct frame *k = calloc(1, sizeof(*k));
	if (!k) {
		cfs_tree_entry_release(e);
		return -ENOMEM;
	}
	k->e = *e;
	*e = (struct cfs_tree_entry){0};
	k->fd = -1;
	k->t = (struct cfs_tree)CFS_TREE_INIT;
	k->idx = (struct cfs_tree)CFS_TREE_INIT;
	k->ds = (struct dirspec){
		.only = only && !only->captured ? only : NULL,
		/* A source path sets the file system its subtree stays on. */
		.root_dev = only ? (uint64_t)st->st_dev : f->ds.root_dev,
		.contents = true,
	};
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	const char *path = cur_path(c);
	k->fd = openat(f->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (k->fd < 0 && errno == EPERM)
		k->fd = openat(f->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* A directory on the way to a source path is only passed through:
	 * searching it is enough (a home directory of mode 0711, say). */
	bool pass = false;
	if (k->fd < 0 && errno == EACCES && k->ds.only) {
		k->fd = openat(f->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		pass = true;
	}
	struct stat fst;
	if (k->fd < 0 || fstat(k->fd, &fst) < 0) {
		log_error_errno(-errno, "Cannot open directory %s: %m (left out of the snapshot)", path);
		frame_free(k);
		return 1;
	}
	if (fst.st_dev != st->st_dev || fst.st_ino != st->st_ino) {
		/* Replaced between the listing and now: record what is read. */
		fill_stat(&k->e, &fst);
		k->e.size = (uint64_t)fst.st_size;
		k->dev = fst.st_dev;
		k->ino = fst.st_ino;
	}
	k->e.fsflags = pass ? 0 : read_fsflags(c, k->fd, path);
	if (!only && c->o->exclude_nodump && (k->e.fsflags & CFS_FSFLAG_NODUMP)) {
		frame_free(k);
		return 3;
	}
	int r = pass ? xattrs_or_report(c, -1, f->fd, name, path, &k->e)
		     : xattrs_or_report(c, k->fd, -1, NULL, path, &k->e);
	if (r < 0) {
		frame_free(k);
		return r;
	}
	if (!only && c->o->one_file_system && k->dev != f->ds.root_dev) {
		log_info("Not crossing into another file system at %s (stored empty)", path);
		k->ds.contents = false;
	}
	if (k->ds.contents)
		pcursor_open(c, &k->pc, pe, path);
	r = frame_push(c, k);
	if (r < 0)
		return r;
	c->st->dirs++;
	r = list_frame(c, k);
	(void)CFS_FAULT_AT("ingest.dir", cur_path(c));
	return r;
}

/*
 * A stream source: read to its end, then ask how it ended. Any failure
 * fails the snapshot (-ECANCELED, reason logged). c->path is its path.
 */
static int backup_stream(struct ctx *c, const struct vnode *v, struct frame *f)
{
	size_t i = v->stream - 1;
	char msg[1024] = "";
	struct cfs_tree_entry e;
	size_t ext_cap = 0;
	int fd = -1, src_err = 0;

	int r = made_up_entry(c, v->name, CFS_FT_REG, &e);
	if (r < 0)
		return r;
	r = c->o->stream_open(c->o->stream_ud, i, &fd);
	if (r < 0) {
		cfs_tree_entry_release(&e);
		log_error_errno(r, "Cannot start the stream for %s: %m", cur_path(c));
		return -ECANCELED;
	}
	uint64_t eof_at = 0;
	r = read_region(c, fd, true, 0, UINT64_MAX, &e, &ext_cap, &src_err, &eof_at);
	close(fd);
	e.size = eof_at;
	int fin = c->o->stream_finish(c->o->stream_ud, i, msg, sizeof(msg));
	if (r < 0) {
		drop_entry(c, &e);
		return r;
	}
	if (src_err || fin < 0) {
		drop_entry(c, &e);
		if (src_err)
			log_error_errno(src_err, "Cannot read the stream for %s: %m", cur_path(c));
		else
			log_error("The stream for %s failed: %s", cur_path(c), msg[0] ? msg : strerror(-fin));
		return -ECANCELED;
	}
	c->st->files_new++;
	c->st->bytes_total += e.size;
	c->prog.entries++;
	c->prog.files_read++;
	r = frame_add(c, f, &e);
	if (r < 0)
		drop_entry(c, &e);
	return r;
}

/* A directory that is not on disk and leads only to streams. */
static int push_made_up_dir(struct ctx *c, const char *name, const struct vnode *v)
{
	struct frame *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = -1;
	k->t = (struct cfs_tree)CFS_TREE_INIT;
	k->idx = (struct cfs_tree)CFS_TREE_INIT;
	k->ds = (struct dirspec){.only = v, .contents = true, .made_up = true};
	int r = made_up_entry(c, name, CFS_FT_DIR, &k->e);
	if (r < 0) {
		frame_free(k);
		return r;
	}
	c->st->dirs++;
	return frame_push(c, k);
}

/*
 * Capture entry name of the top frame: added to its tree, or pushed as a
 * directory to capture next. Source problems are reported and the entry
 * left out; only repository errors (and failed streams) are returned.
 * only: the skeleton node of this entry (NULL below the source paths);
 * pre: its lstat from a batch, or NULL.
 */
static int capture(struct ctx *c, const char *name, const struct vnode *only, const struct stat *pre,
		   struct loaded *pl)
{
	struct frame *f = top(c);
	struct cfs_tree_entry e = {0};
	struct stat st;
	int r;

	r = path_push(c, name);
	if (r < 0)
		return r;
	const char *path = cur_path(c);
	if (only && only->stream)
		return backup_stream(c, only, f);
	if (pre)
		st = *pre;
	else if (f->fd < 0 || fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = f->fd < 0 ? -ENOENT : -errno;
		if (r == -ENOENT && only && !vnode_has_capture(only))
			return push_made_up_dir(c, name, only);
		if (r == -ENOENT && !only) {
			/* Vanished between readdir and stat: not part of the tree
			 * any more, as if readdir had not seen it. */
			log_warning("%s vanished while the snapshot was taken", path);
			c->res->n_warnings++;
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
	c->prog.entries++;
	progress(c, false);

	bool pe_usable;
	const struct cfs_tree_entry *pe = pcursor_find(c, &f->pc, name, nlen, &pe_usable);

	if (only && !only->captured && !S_ISDIR(st.st_mode)) {
		c->res->n_unreadable++;
		log_error("Cannot capture paths below %s: not a directory", path);
		return 0;
	}

	if (S_ISREG(st.st_mode)) {
		struct link_slot *ls = st.st_nlink > 1 ? link_find(&c->links, st.st_dev, st.st_ino) : NULL;
		bool same = pe && unchanged(pe, CFS_FT_REG, &st);
		if (ls) {
			/* Another name of a file captured in this run. */
			r = link_member(c, ls, name, path, &st, &e);
			if (r < 0)
				return r;
			count_file(c, pe, same);
			goto add;
		}
		if (same && pe_usable && parent_trusted(c, pe)) {
			/* Incremental: the parent's entry as it is, file not opened
			 * (its inode flags too: changing them changes the ctime). */
			r = cfs_tree_entry_copy(pe, &e);
			if (r < 0)
				return r;
			fill_stat(&e, &st);
			if (c->tree_v2 && f->pc.t.version == 1)
				/* A parent from before the repository could hold
				 * them: the file is opened for its flags alone. */
				e.fsflags = flags_of(c, f->fd, name, path);
			if (c->o->exclude_nodump && (e.fsflags & CFS_FSFLAG_NODUMP)) {
				cfs_tree_entry_release(&e);
				return 0;
			}
			c->st->files_unchanged++;
		} else {
			e.name = (uint8_t *)strdup(name);
			if (!e.name)
				return -ENOMEM;
			e.name_len = (uint16_t)nlen;
			e.type = CFS_FT_REG;
			r = backup_file(c, f->fd, name, path, &st, &e, pl);
			if (r < 0)
				goto fail;
			if (r > 0) {
				if (r == 1) {
					c->res->n_unreadable++;
					c->st->files_skipped++;
				}
				drop_entry(c, &e);
				return 0; /* 2: vanished, 3: nodump */
			}
			count_file(c, pe, same);
		}
		if (st.st_nlink > 1) {
			/* The group's entry, with its extents' ids: wait for them. */
			r = pipeline_wait(c->pipe, c->group);
			if (r == 0)
				r = link_add(&c->links, st.st_dev, st.st_ino, &e);
			if (r < 0)
				goto fail;
		}
		/* The first name of a hard-linked file: its size counts once. */
		c->st->bytes_total += e.size;
		goto add;
	}

	e.name = (uint8_t *)strdup(name);
	if (!e.name)
		return -ENOMEM;
	e.name_len = (uint16_t)nlen;
	fill_stat(&e, &st);

	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		e.type = CFS_FT_DIR;
		e.size = (uint64_t)st.st_size; /* as `ls -l` shows it */
		r = push_dir(c, name, only, &st, pe, &e);
		if (r == 1) {
			c->res->n_unreadable++;
			c->st->files_skipped++;
		}
		return r > 0 ? 0 : r;
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
		ssize_t n = readlinkat(f->fd, name, e.target, cap);
		if (n < 0 || (size_t)n >= cap - 1 || n == 0) {
			log_error_errno(n < 0 ? -errno : -ENAMETOOLONG,
					"Cannot read symlink %s: %m (left out of the snapshot)", path);
			c->res->n_unreadable++;
			c->st->files_skipped++;
			cfs_tree_entry_release(&e);
			return 0;
		}
		e.target[n] = 0;
		e.target_len = (uint32_t)n;
		e.size = (uint64_t)n;
		if ((r = xattrs_or_report(c, -1, f->fd, name, path, &e)) < 0)
			return cfs_tree_entry_release(&e), r;
		count_file(c, pe, pe && unchanged(pe, CFS_FT_SYMLINK, &st));
		break;
	}
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
		e.type = S_ISFIFO(st.st_mode) ? CFS_FT_FIFO : S_ISCHR(st.st_mode) ? CFS_FT_CHR : CFS_FT_BLK;
		if ((r = xattrs_or_report(c, -1, f->fd, name, path, &e)) < 0)
			return cfs_tree_entry_release(&e), r;
		count_file(c, pe, pe && unchanged(pe, e.type, &st));
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
add:
	r = frame_add(c, f, &e);
	if (r == 0)
		return 0;
fail:
	drop_entry(c, &e);
	return r;
}

/* See ingest.h (and pattern.h) for the three kinds of pattern. */
static bool excluded(const struct ctx *c, const char *path, const char *name)
{
	return cfs_patterns_match(c->o->excludes, c->o->n_excludes, path, name);
}

/* The metadata read-ahead leaves out what the walk will leave out. */
static bool prefetch_skip(void *ud, const char *path, const char *name, const struct stat *st)
{
	(void)st;
	const struct ctx *c = ud;
	return c->o->n_excludes && excluded(c, path, name);
}

#define CACHEDIR_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

bool ingest_is_cache_dir(int dirfd)
{
	char b[sizeof(CACHEDIR_SIGNATURE) - 1];
	_cleanup_close_ int fd =
		openat(dirfd, INGEST_CACHEDIR_TAG, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return false;
	return cfs_pread_full(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) && memcmp(b, CACHEDIR_SIGNATURE, sizeof(b)) == 0;
}

/* A directory's names are sorted in memory up to this many; a larger one
 * spills sorted runs to a scratch file in the cache (names.c). */
#define NAMES_RUN 16384

/* List the directory of frame k (the top frame) into k->names,
 * without "." and ".." and what is excluded. An error of the listing part
 * way is reported (the names read are kept); -errno when the names cannot
 * be kept. */
static int list_dir(struct ctx *c, struct frame *k)
{
	int r = 0;
	int dfd = dup(k->fd);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	bool cache = c->o->exclude_caches && ingest_is_cache_dir(k->fd);
	if (cache)
		log_info("%s is a cache directory (CACHEDIR.TAG): only the tag is stored", cur_path(c));
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		bool keep = !cache || strcmp(name, INGEST_CACHEDIR_TAG) == 0;
		if (keep && c->o->n_excludes) {
			r = path_push(c, name);
			keep = r == 0 && !excluded(c, cur_path(c), name);
			path_set_len(c, k->path_len);
		}
		if (keep && r == 0)
			r = names_add(k->names, name);
		if (r < 0)
			break;
		errno = 0;
	}
	if (r == 0 && errno != 0) {
		log_error_errno(-errno, "Cannot list directory %s: %m (entries may be missing)", cur_path(c));
		c->res->n_unreadable++;
	}
	closedir(d);
	return r;
}

/* Small files of a directory are read ahead in batches of this many bytes
 * and files, through io_uring. */
#define LOAD_MAX_FILE (1u << 20)
#define LOAD_BATCH_BYTES (2u << 20)
#define LOAD_BATCH_FILES 256

/* Whether entry st (name) of directory f is worth reading ahead: a small,
 * dense regular file that the parent snapshot does not already hold, not a
 * second link of a file. */
static bool load_candidate(struct ctx *c, struct frame *f, const char *name, const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || st->st_size <= 0 || st->st_size > (off_t)LOAD_MAX_FILE || st->st_nlink > 1 ||
	    (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
		return false;
	bool usable;
	const struct cfs_tree_entry *pe = pcursor_find(c, &f->pc, name, strlen(name), &usable);
	return !(pe && usable && unchanged(pe, CFS_FT_REG, st) && parent_trusted(c, pe));
}

/*
 * Read ahead the candidates among the entries of f's stat batch from
 * `from` on, up to the next directory (so that nothing read ahead waits
 * while the walk is below it), in one batch through io_uring; returns the
 * first entry not considered.
 */
static size_t load_batch(struct ctx *c, struct frame *f, size_t from)
{
	struct uring_file v[LOAD_BATCH_FILES];
	size_t idx[LOAD_BATCH_FILES], k = 0, bytes = 0, i;
	size_t end = f->sts_base + f->n_sts;
	for (i = from; i < end && k < LOAD_BATCH_FILES && bytes < LOAD_BATCH_BYTES; i++) {
		const struct uring_stat *s = &f->sts[i - f->sts_base];
		if (!s->error && S_ISDIR(s->st.st_mode))
			break;
		if (s->error || !load_candidate(c, f, s->name, &s->st))
			continue;
		struct loaded *l = &f->ld[i - f->sts_base];
		size_t cap = (size_t)s->st.st_size + 1;
		l->buf = malloc(cap);
		if (!l->buf)
			continue; /* read the plain way */
		v[k] = (struct uring_file){.name = s->name, .buf = l->buf, .cap = cap};
		idx[k++] = i - f->sts_base;
		bytes += cap;
#ifdef CFS_FAULT_INJECTION
		if (path_push(c, s->name) == 0)
			(void)CFS_FAULT_AT("ingest.open", cur_path(c));
		path_set_len(c, f->path_len);
#endif
	}
	if (k && uring_load(c->ring, f->fd, v, k) < 0) {
		for (size_t j = 0; j < k; j++)
			if (v[j].fd >= 0)
				close(v[j].fd);
		return i; /* the ring failed: these files are read the plain way */
	}
	for (size_t j = 0; j < k; j++) {
		struct loaded *l = &f->ld[idx[j]];
		l->fd = v[j].fd;
		l->error = v[j].error;
		l->len = v[j].len;
	}
	return i;
}

/* Stat names [from, from + STAT_BATCH) of f in one batch through io_uring
 * (replacing the batch before). Without the ring, or when it fails, the
 * entries are stat'ed one by one as they are captured. */
static int stat_batch(struct ctx *c, struct frame *f, size_t from)
{
	frame_drop_batch(f);
	f->sts = calloc(STAT_BATCH, sizeof(*f->sts));
	f->ld = calloc(STAT_BATCH, sizeof(*f->ld));
	if (!f->sts || !f->ld) {
		frame_drop_batch(f);
		return -ENOMEM;
	}
	size_t n = 0;
	while (n < STAT_BATCH) {
		const char *name;
		int r = names_get(f->names, from + n, &name);
		if (r < 0) {
			frame_drop_batch(f);
			return r;
		}
		if (!name)
			break;
		f->sts[n].name = name;
		f->ld[n++].fd = -1;
	}
	f->sts_base = from;
	f->n_sts = n;
	f->loaded_upto = from;
	if (uring_stat(c->ring, f->fd, f->sts, n) < 0) {
		frame_drop_batch(f); /* the ring failed: plain system calls */
		f->sts_base = from;
		f->n_sts = n; /* not again for these */
	}
	return 0;
}

/* List the directory of the top frame k, sorted, without what is excluded. */
static int list_frame(struct ctx *c, struct frame *k)
{
	if (k->ds.only || !k->ds.contents)
		return 0;
	int r = names_new(cfs_repo_cache_path(c->r), NAMES_RUN, &k->names);
	if (r < 0)
		return r;
	r = list_dir(c, k);
	if (r == 0)
		r = names_seal(k->names);
	if (r == 0 && names_runs(k->names))
		log_debug("%s: a large directory, its names sorted on disk (%zu runs)", cur_path(c),
			  names_runs(k->names));
	return r;
}

/* Capture the next child of the top frame f; 1 when none is left. */
static int frame_step(struct ctx *c, struct frame *f)
{
	if (f->ds.only) {
		if (f->next >= f->ds.only->n_kids)
			return 1;
		const struct vnode *k = &f->ds.only->kids[f->next++];
		return capture(c, k->name, k, NULL, NULL);
	}
	if (!f->names)
		return 1;
	size_t i = f->next;
	const char *name;
	names_forget_below(f->names, i); /* the entries before are captured */
	int r = names_get(f->names, i, &name);
	if (r < 0)
		return log_error_errno(r, "Cannot read back the names of directory %.*s: %m", (int)f->path_len,
				       cur_path(c));
	if (!name) {
		f->names = names_free(f->names);
		return 1;
	}
	f->next++;
	const struct stat *pre = NULL;
	struct loaded *pl = NULL;
	if (c->ring) {
		if (i < f->sts_base || i >= f->sts_base + f->n_sts) {
			r = stat_batch(c, f, i);
			if (r < 0)
				return r;
		}
		if (f->sts) {
			const struct uring_stat *s = &f->sts[i - f->sts_base];
			/* An entry the batch could not stat (gone since the
			 * listing, say) is stat'ed again on its own, and its
			 * error reported there. */
			if (!s->error)
				pre = &s->st;
			if (pre && i >= f->loaded_upto && load_candidate(c, f, name, pre))
				f->loaded_upto = load_batch(c, f, i);
			pl = &f->ld[i - f->sts_base];
		}
	}
	r = capture(c, name, NULL, pre, pl);
	if (pl && f->ld) {
		/* Whatever capture() did not take; f's batch is still there
		 * (frame_push drops only batches STAT_KEEP levels up). */
		if (pl->fd >= 0)
			close(pl->fd);
		free(pl->buf);
		*pl = (struct loaded){.fd = -1};
	}
	return r < 0 ? r : 0;
}

/* Store the tree of the completed top frame f: its entries, or for a large
 * directory its last fragment and the fragment index. */
static int frame_finish(struct ctx *c, struct frame *f, struct cfs_id *ret_id, uint64_t *ret_nodes)
{
	/* The files' ids are in their extents once their jobs are done. */
	int r = pipeline_wait(c->pipe, &f->g);
	if (r < 0)
		return r;
	/* The parent's tree id may stand for this one unclaimed only if it
	 * names nothing lost (else every file was read and claimed again). */
	const struct cfs_id *stored = f->pc.have && f->pc.usable ? &f->pc.id : NULL;
	if (f->idx.n_frags == 0) {
		r = cfs_tree_sort(&f->t);
		if (r == 0)
			r = put_tree(c, &f->t, stored, ret_id);
		*ret_nodes = cfs_tree_node_count(&f->t);
		return r;
	}
	if (f->t.n) {
		r = frame_cut(c, f);
		if (r < 0)
			return r;
	}
	if (f->idx.n_frags == 1) {
		/* Cut right at its last entry, once: one fragment is the tree. */
		*ret_id = f->idx.frags[0].id;
		*ret_nodes = f->idx.frags[0].nodes;
		return 0;
	}
	*ret_nodes = cfs_tree_node_count(&f->idx);
	return put_tree(c, &f->idx, stored, ret_id);
}

/* The top frame's fd, closed to bound open fds, is needed again: ".." of
 * the child just left when that leads to it, else from further up. */
static int reopen_top(struct ctx *c, const struct frame *child)
{
	struct frame *p = top(c);
	if (child->fd >= 0) {
		int fd = openat(child->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == p->dev && (uint64_t)st.st_ino == p->ino) {
			p->fd = fd;
			return 0;
		}
		if (fd >= 0)
			close(fd);
	}
	return frame_reopen(c, c->depth - 1);
}

/*
 * The walk: capture the children of the top frame one by one, descending
 * into directories by pushing them; a completed directory is stored and
 * added to its parent. Returns once the root frame is stored (its tree is
 * the snapshot's root). On failure the frames stay on the stack (the
 * pipeline may still write into their entries: the caller frees them after
 * it).
 */
static int walk(struct ctx *c)
{
	for (;;) {
		if (c->o->interrupted && *c->o->interrupted)
			return -EINTR;
		struct frame *f = top(c);
		int r = frame_step(c, f);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		struct cfs_id id;
		uint64_t nodes;
		path_set_len(c, f->path_len);
		(void)CFS_FAULT_AT("ingest.leave", cur_path(c));
		r = frame_finish(c, f, &id, &nodes);
		if (r < 0)
			return r;
		c->depth--;
		if (c->depth == 0) {
			c->res->snapshot.root = id;
			c->res->snapshot.root_nodes = nodes;
			frame_free(f);
			return 0;
		}
		struct frame *p = top(c);
		c->group = &p->g;
		path_set_len(c, p->path_len);
		f->e.subtree = id;
		f->e.subtree_nodes = nodes;
		r = frame_add(c, p, &f->e);
		if (r == 0 && p->fd < 0 && !p->ds.made_up && reopen_top(c, f) == 1)
			frame_stop(p);
		frame_free(f);
		if (r < 0)
			return r;
	}
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

/* The normalised, sorted source set: paths and stream paths. */
static int source_set(const char *const *a, size_t na, const char *const *b, size_t nb, char ***ret, size_t *ret_n)
{
	char **v = calloc(na + nb + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < na + nb; i++) {
		int e = cfs_path_normalize(i < na ? a[i] : b[i - na], &v[i]);
		if (e < 0) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return e;
		}
	}
	if (na + nb > 1)
		qsort(v, na + nb, sizeof(*v), cfs_strptr_cmp);
	*ret = v;
	*ret_n = na + nb;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The parent for an incremental (newest of the same host and source set)
 * or differential (newest full one of those) snapshot; for a job's
 * snapshot (job not ""), only among that job's snapshots, so that its
 * rotation (full, then differentials against that full) holds even when
 * another job or a manual snapshot covers the same paths. -ENOENT: none.
 */
static int find_parent(struct cfs_repo *r, uint8_t type, const char *host, const char *job, char **set,
		       size_t n_set, struct cfs_snapshot *ret, struct cfs_id *ret_id)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	int e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		return e;
	for (size_t i = l.n; i-- > 0;) {
		const struct cfs_snapshot *s = &l.items[i];
		if (strcmp(s->host, host) != 0 || s->n_paths != n_set)
			continue;
		if (job[0] && strcmp(s->job ? s->job : "", job) != 0)
			continue;
		if (type == CFS_SNAP_DIFFERENTIAL && s->type != CFS_SNAP_FULL)
			continue;
		char **v;
		size_t n;
		e = source_set((const char *const *)s->paths, s->n_paths, NULL, 0, &v, &n);
		if (e < 0)
			continue; /* a manifest from elsewhere with odd paths: not ours */
		bool same = true;
		for (size_t k = 0; k < n && same; k++)
			same = strcmp(v[k], set[k]) == 0;
		strv_free(v, n);
		if (!same)
			continue;
		*ret_id = l.ids[i];
		return cfs_snapshot_copy(s, ret);
	}
	return -ENOENT;
}

int cfs_backup_run(struct cfs_repo *r, const struct cfs_backup_options *o, struct cfs_backup_result *ret)
{
	_cleanup_(cfs_tree_release) struct cfs_tree proot = CFS_TREE_INIT;
	bool proot_usable = false;
	struct cfs_snapshot parent = {0};
	struct vnode root = {0};
	struct ctx c = {0};
	struct prefetch *pf = NULL;
	char host[256] = "";
	char **set = NULL;
	size_t n_set = 0;
	int e;

	memset(ret, 0, sizeof(*ret));
	struct cfs_snapshot *s = &ret->snapshot;
	int64_t t0 = cfs_mono_ns();
	s->time_ns = cfs_now_ns();
	s->type = CFS_SNAP_FULL;

	if (o->n_paths + o->n_streams == 0 || (o->n_streams && (!o->stream_open || !o->stream_finish)))
		return -EINVAL;
	for (size_t i = 0; i < o->n_paths; i++) {
		_cleanup_free_ char *norm = NULL;
		e = cfs_path_normalize(o->paths[i], &norm);
		if (e == 0)
			e = vnode_insert(&root, norm);
		if (e < 0)
			goto out;
	}
	for (size_t i = 0; i < o->n_streams; i++) {
		_cleanup_free_ char *norm = NULL;
		e = cfs_path_normalize(o->stream_paths[i], &norm);
		if (e == 0)
			e = vnode_insert_stream(&root, norm, i);
		if (e == -EEXIST)
			log_error("Stream path %s lies inside a source path, or is given twice", o->stream_paths[i]);
		if (e < 0)
			goto out;
	}
	if (o->host)
		snprintf(host, sizeof(host), "%s", o->host);
	else
		(void)gethostname(host, sizeof(host) - 1);
	s->host = strdup(host);
	s->tier = strdup(o->tier ? o->tier : "");
	s->job = strdup(o->job ? o->job : "");
	if (!s->host || !s->tier || !s->job) {
		e = -ENOMEM;
		goto out;
	}
	e = source_set(o->paths, o->n_paths, o->stream_paths, o->n_streams, &set, &n_set);
	if (e < 0)
		goto out;
	/* The manifest lists the source set as given: paths, then streams. */
	s->paths = calloc(n_set + 1, sizeof(*s->paths));
	if (!s->paths) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_set; i++) {
		s->paths[i] = strdup(i < o->n_paths ? o->paths[i] : o->stream_paths[i - o->n_paths]);
		if (!s->paths[i]) {
			e = -ENOMEM;
			goto out;
		}
		s->n_paths++;
	}
	e = strv_dup(o->tags, o->n_tags, &s->tags);
	if (e < 0)
		goto out;
	s->n_tags = o->n_tags;

	c.r = r;
	c.o = o;
	c.res = ret;
	c.st = &s->stats;
	c.uid = (uint32_t)geteuid();
	c.gid = (uint32_t)getegid();
	c.t0 = t0;
	c.tree_v2 = cfs_repo_tree_version(r) >= 2;

	if (o->type == CFS_SNAP_INCREMENTAL || o->type == CFS_SNAP_DIFFERENTIAL) {
		e = find_parent(r, o->type, host, s->job, set, n_set, &parent, &s->parent);
		bool found = e == 0;
		if (e == -ENOENT)
			e = 0;
		else if (e < 0) {
			log_error_errno(e, "Cannot look for a parent snapshot: %m");
			goto out;
		}
		if (found) {
			e = cfs_repo_get_tree_object(r, &parent.root, &proot);
			if (e == 0)
				e = tree_usable(&c, &parent.root, &proot, "/", &proot_usable);
		}
		if (e < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&s->parent, hex);
			if (e == -ENOMEM) {
				log_error_errno(e, "Cannot read the root tree of parent snapshot %s (%s): %m", parent.name,
						hex);
				goto out;
			}
			/* Not fatal, as for any directory of the parent: a
			 * repository that lost the parent's root tree (rolled
			 * back, damaged) gets a snapshot read whole from the
			 * sources, as a first one is (t3004). */
			log_warning_errno(e, "Cannot read the root tree of parent snapshot %s (%s): %m; every file is "
					  "read again", parent.name, hex);
			cfs_tree_release(&proot);
			s->parent = (struct cfs_id){{0}};
			found = false;
			e = 0;
		}
		if (found) {
			s->type = o->type;
			s->has_parent = true;
			c.have_parent = true;
			c.parent_time_ns = parent.time_ns;
			int64_t fake;
			c.parent_untrusted = cfs_now_fake(&fake) != 0;
			c.prog.entries_total = parent.root_nodes;
		}
	}

	/* Without a parent, the sources are counted ahead of the walk for
	 * a percentage and an ETA. A failure only costs those. */
	if (!c.have_parent && o->progress && o->n_paths) {
		struct counter_options co = {
			.one_fs = o->one_file_system,
			.exclude_caches = o->exclude_caches,
			.skip = prefetch_skip,
			.ud = &c,
		};
		int ce = counter_new(o->paths, o->n_paths, &co, &c.counter);
		if (ce < 0)
			log_debug_errno(ce, "Cannot count the sources ahead (%m): progress without totals");
	}

	/* Read window: one maximal chunk plus 1 MiB, so reads stay large. */
	c.buf_cap = (size_t)cfs_repo_chunker(r)->max_size + (1u << 20);
	c.buf = malloc(c.buf_cap);
	if (!c.buf) {
		e = -ENOMEM;
		goto out;
	}
	/* Sealing (zstd + AES-GCM) on every core; the walking thread reads,
	 * chunks and hashes. 8 MiB of chunks queued at most. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	e = pipeline_new(r, cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus, 8u << 20, &c.pipe);
	if (e < 0)
		goto out;
	/* Metadata read-ahead: four threads keep disk reads in flight for a
	 * cold walk (they mostly wait for the disk). */
	if (prefetch_new(4, o->one_file_system, prefetch_skip, &c, &pf) == 0)
		for (size_t i = 0; i < o->n_paths; i++)
			prefetch_add(pf, o->paths[i]);
	e = uring_new(LOAD_BATCH_FILES, &c.ring);
	if (e < 0) {
		log_debug_errno(e, "io_uring unavailable (%m): reading with plain system calls");
		c.ring = NULL;
	}

	/* The walk starts at "/" (captured whole, or only the way to the
	 * source paths). */
	struct frame *rf = calloc(1, sizeof(*rf));
	if (!rf) {
		e = -ENOMEM;
		goto out;
	}
	rf->t = (struct cfs_tree)CFS_TREE_INIT;
	rf->idx = (struct cfs_tree)CFS_TREE_INIT;
	if (c.have_parent) {
		rf->pc.t = proot;
		proot = (struct cfs_tree)CFS_TREE_INIT;
		rf->pc.id = parent.root;
		rf->pc.have = true;
		rf->pc.usable = proot_usable;
	}
	struct stat rst;
	rf->fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rf->fd < 0 || fstat(rf->fd, &rst) < 0) {
		e = log_error_errno(-errno, "Cannot open /: %m");
		frame_free(rf);
		goto out;
	}
	rf->dev = rst.st_dev;
	rf->ino = rst.st_ino;
	rf->ds = (struct dirspec){
		.only = root.captured ? NULL : &root,
		.root_dev = (uint64_t)rst.st_dev,
		.contents = true,
	};
	e = cfs_buf_append(&c.path, "/", 2);
	if (e < 0) {
		frame_free(rf);
		goto out;
	}
	c.path.len = 1;
	e = frame_push(&c, rf);
	if (e < 0)
		goto out;
	c.st->dirs++;
	e = list_frame(&c, rf);
	if (e == 0)
		e = walk(&c);
	pf = prefetch_free(pf);
	if (e < 0)
		goto out;
	e = pipeline_drain(c.pipe);
	if (e < 0)
		goto out;
	uint64_t added, blobs;
	pipeline_stats(c.pipe, &added, &blobs);
	s->stats.bytes_added += added;
	s->stats.blobs_added += blobs;
	s->stats.has_bytes_total = true;
	c.counter = counter_free(c.counter);
	/* The last call has the totals of what was met. */
	c.prog.entries_total = c.prog.entries;
	c.prog.bytes_total = c.have_parent ? 0 : c.st->bytes_read;
	c.prog.totals_partial = false;
	progress(&c, true);
	s->stats.duration_ns = (uint64_t)(cfs_mono_ns() - t0);
	e = cfs_repo_commit_snapshot(r, s, &ret->id);
out:
	/* On failure queued chunks are dropped: nothing names them. The
	 * pipeline goes first: its jobs write into the frames' entries. */
	prefetch_free(pf);
	counter_free(c.counter);
	pipeline_free(c.pipe);
	for (size_t i = 0; i < c.depth; i++)
		frame_free(c.stack[i]);
	free(c.stack);
	cfs_buf_release(&c.path);
	uring_free(c.ring);
	free(c.buf);
	link_map_release(&c.links);
	vnode_release(&root);
	strv_free(set, n_set);
	cfs_snapshot_release(&parent);
	if (e < 0)
		cfs_snapshot_release(s);
	return e;
}
