/* SPDX-License-Identifier: MIT */
/*
 * restore.c — the walk that writes a snapshot back (contract: restore.h).
 *
 * The walk is iterative: a stack of frames on the heap, one per directory
 * being restored, each holding that directory's decoded tree and how far it
 * got. Nothing about it grows with depth but the frames (a tree each) and
 * the path, so a snapshot 10,000 directories deep restores like a flat one
 * (STYLE.md: no recursion over untrusted depth).
 *
 * Directory descriptors. Every entry is created relative to its directory's
 * descriptor, never through a path, so no component can be redirected by a
 * symlink (directories are opened O_NOFOLLOW). Only the innermost DIR_FDS
 * frames keep theirs open, plus the target's: a frame that falls out of
 * that window going down is closed, and reopened on the way back up as ".."
 * of its child (which is open, being the innermost) — ".." is never a
 * symlink, and the directory found must have the st_dev/st_ino recorded
 * when it was created, else the target was changed under the restore and
 * it stops (-ESTALE). That costs one openat per level going up, where
 * walking down again from the nearest open ancestor would cost the depth.
 *
 * Paths exist only for messages: c->path holds the snapshot path of the
 * entry at hand, in a growable buffer, so a message names it in full however
 * deep it is.
 *
 * Files appear complete or not at all: each regular file is written to a
 * temporary in its directory (cfs_tmpfile: O_TMPFILE, else a named
 * ".chronofs-restore.*" file), verified chunk by chunk (cfs_repo_get_blob
 * checks tag and id), given its owner, mode, xattrs and times, and only then
 * linked under its name, never replacing one (-EEXIST). An interruption
 * (checked between chunks) or an error discards the temporary.
 *
 * Privileges: a file is never given a setuid or setgid bit whose owner or
 * group could not be set (a restore by a user who is not root). Directories
 * keep theirs: setgid on a directory passes its group on to new entries,
 * which grants nothing (man chronoctl(8), "restore").
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/fs.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "chronofs/restore.h"
#include "chronofs/util.h"

/* Directory descriptors kept open besides the target's (see above). */
#define DIR_FDS 32
#define TMP_PREFIX ".chronofs-restore."

/* Hard-link groups: (dev, ino) of the source -> path of the first member
 * restored, relative to the target directory (never an absolute path: that
 * would name the live source file, not the restored copy). */
struct link_ent {
	uint64_t dev, ino;
	char *path; /* owned, relative to rctx.tfd */
};

struct frame {
	struct cfs_tree tree; /* owned: the directory's entries */
	size_t next, end;     /* entries [next, end) are still to be restored */
	size_t path_len;      /* the directory's path is c->path.data[0, path_len) */
	int fd;               /* the restored directory; -1 while out of the window */
	dev_t dev;            /* what fd was when the directory was made */
	ino_t ino;
	const struct cfs_tree_entry *self; /* borrowed from the parent frame's
					      tree; NULL for the target */
	bool on_way;                       /* above a sub-path: not counted */
};

/* A tree on the way to a sub-path and the index of the path's next
 * component in it. */
struct step {
	struct cfs_tree tree; /* owned until a frame takes it */
	size_t idx;
};

/* A file or directory that gets immutable or append-only last. */
struct flags_ent {
	char *path; /* owned, relative to the target */
	uint32_t flags;
};

struct rctx {
	struct cfs_repo *r;
	const struct cfs_restore_options *o;
	struct cfs_restore_stats *st;
	volatile sig_atomic_t *interrupted;
	struct cfs_restore_progress prog;
	int64_t t0, next_progress;
	int tfd; /* the target directory (frames[0].fd) */
	struct frame *frames; /* owned: [0] the target, the last the innermost */
	size_t n_frames, cap_frames;
	struct step *steps; /* owned: the trees down to a sub-path */
	size_t n_steps, cap_steps;
	struct cfs_buf path; /* the snapshot path of the entry at hand, NUL-terminated */
	struct link_ent *links;
	size_t n_links, cap_links;
	struct flags_ent *flags; /* in the order restored */
	size_t n_flags, cap_flags;
	struct cfs_buf data;
};

static bool interrupted(const struct rctx *c)
{
	return c->interrupted && *c->interrupted;
}

/* Tell the caller how far the walk got: at most every 250 ms, and once
 * with done. */
static void progress(struct rctx *c, bool done)
{
	if (!c->o->progress)
		return;
	int64_t now = cfs_mono_ns();
	if (!done && now < c->next_progress)
		return;
	c->next_progress = now + 250 * 1000 * 1000;
	c->prog.elapsed_ns = now - c->t0;
	c->prog.done = done;
	c->o->progress(c->o->progress_ud, &c->prog);
}

/* Make room for one more element in an array of n: the array, moved if it
 * had to grow, or NULL (the old one untouched). */
static void *grow_array(void *p, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return p;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *np = realloc(p, ncap * sz);
	if (np)
		*cap = ncap;
	return np;
}
#define GROW(arr, n, cap)                                                    \
	({                                                                   \
		void *np_ = grow_array((arr), (n), &(cap), sizeof(*(arr)));  \
		if (np_)                                                     \
			(arr) = np_;                                         \
		np_ ? 0 : -ENOMEM;                                           \
	})

/* The path becomes that of entry `name` in the directory whose path is the
 * first len bytes. */
static int path_set(struct rctx *c, size_t len, const void *name, size_t n)
{
	c->path.len = len;
	int r = cfs_buf_reserve(&c->path, n + 2);
	if (r < 0)
		return r;
	c->path.data[c->path.len++] = '/';
	memcpy(c->path.data + c->path.len, name, n);
	c->path.len += n;
	c->path.data[c->path.len] = 0;
	return 0;
}

static void path_cut(struct rctx *c, size_t len)
{
	c->path.len = len;
	if (c->path.data)
		c->path.data[len] = 0;
}

static const char *path_str(const struct rctx *c)
{
	return c->path.len ? (const char *)c->path.data : "/";
}

static const char *find_link(struct rctx *c, uint64_t dev, uint64_t ino)
{
	/* Linear: link groups are rare; a hash map if profiles say so. */
	for (size_t i = 0; i < c->n_links; i++)
		if (c->links[i].dev == dev && c->links[i].ino == ino)
			return c->links[i].path;
	return NULL;
}

/* The entry at hand (c->path) is the first restored member of its group. */
static int add_link(struct rctx *c, uint64_t dev, uint64_t ino)
{
	int r = GROW(c->links, c->n_links, c->cap_links);
	if (r < 0)
		return r;
	char *p = strdup((const char *)c->path.data + 1);
	if (!p)
		return -ENOMEM;
	c->links[c->n_links++] = (struct link_ent){dev, ino, p};
	return 0;
}

/*
 * The directory holding rel (a path relative to the target, "a/b/c"): its
 * directories are opened one by one from the target without following
 * symlinks, since the path may be longer than a system call takes, and a
 * symlink planted in the target must not lead us elsewhere. *ret_fd: the
 * directory (-1: the target itself), *ret_last: rel's last component.
 */
static int open_parent(struct rctx *c, const char *rel, int *ret_fd, const char **ret_last)
{
	_cleanup_close_ int pfd = -1;
	char comp[NAME_MAX + 1];
	const char *p = rel, *slash;

	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = 0;
		int fd = openat(pfd >= 0 ? pfd : c->tfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		cfs_closep(&pfd);
		pfd = fd;
		p = slash + 1;
	}
	*ret_fd = TAKE_FD(pfd);
	*ret_last = p;
	return 0;
}

/* Hard-link `first` (relative to the target) as name in dirfd. */
static int link_first(struct rctx *c, const char *first, int dirfd, const char *name)
{
	_cleanup_close_ int pfd = -1;
	const char *last;
	int r = open_parent(c, first, &pfd, &last);
	if (r < 0)
		return r;
	return linkat(pfd >= 0 ? pfd : c->tfd, last, dirfd, name, 0) < 0 ? -errno : 0;
}

/*
 * Inode flags (chattr): set on an open file or directory, leaving the flags
 * the snapshot does not keep (a file system's own, as ext4's extents) as
 * they are. Immutable and append-only forbid what the rest of the restore
 * does (linking, setting times, adding entries to a directory): those are
 * set last, once everything is in place (deferred_flags).
 */
#define FSFLAGS_LAST (CFS_FSFLAG_IMMUTABLE | CFS_FSFLAG_APPEND)

static int set_fsflags(int fd, uint32_t want)
{
	int cur = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &cur) < 0) {
		if (!want)
			return 0;
		cur = 0;
	}
	int f = (int)(((uint32_t)cur & ~(uint32_t)CFS_FSFLAGS_KEPT) | (want & CFS_FSFLAGS_KEPT));
	if (f == cur)
		return 0;
	return ioctl(fd, FS_IOC_SETFLAGS, &f) < 0 ? -errno : 0;
}

/* The flags of e but the last ones, on fd (a warning when they cannot be
 * set). */
static void apply_fsflags(struct rctx *c, int fd, const struct cfs_tree_entry *e)
{
	int r = set_fsflags(fd, e->fsflags & ~(uint32_t)FSFLAGS_LAST);
	if (r < 0)
		log_warning_errno(r, "Cannot set the inode flags of %s (chattr): %m", path_str(c));
}

/* Queue the last flags of e, restored at c->path (only once it is ours in
 * place: never the flags of a file that was there before). */
static int queue_fsflags(struct rctx *c, const struct cfs_tree_entry *e)
{
	if (!(e->fsflags & FSFLAGS_LAST))
		return 0;
	int r = GROW(c->flags, c->n_flags, c->cap_flags);
	if (r < 0)
		return r;
	char *p = strdup(path_str(c) + 1);
	if (!p)
		return -ENOMEM;
	c->flags[c->n_flags++] = (struct flags_ent){p, e->fsflags};
	return 0;
}

/* Immutable and append-only flags, after everything else (innermost
 * first: a directory's flags after those of what it holds). */
static void deferred_flags(struct rctx *c)
{
	for (size_t i = c->n_flags; i-- > 0;) {
		const struct flags_ent *fe = &c->flags[i];
		_cleanup_close_ int pfd = -1, fd = -1;
		const char *last;
		int r = open_parent(c, fe->path, &pfd, &last);
		if (r == 0) {
			fd = openat(pfd >= 0 ? pfd : c->tfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
			r = fd < 0 ? -errno : set_fsflags(fd, fe->flags);
		}
		if (r < 0)
			log_warning_errno(r, "Cannot set the inode flags of /%s (chattr +%s%s): %m", fe->path,
					  fe->flags & CFS_FSFLAG_IMMUTABLE ? "i" : "",
					  fe->flags & CFS_FSFLAG_APPEND ? "a" : "");
	}
}

/*
 * Metadata is applied to a node restored by us: through its own descriptor
 * (fd >= 0: regular files and directories), else by name in dirfd, never
 * following a symlink (symlinks, FIFOs, devices, which cannot be opened
 * without side effects).
 */
struct node {
	int fd;
	int dirfd;
	const char *name;
};

static int node_chown(const struct node *n, uid_t uid, gid_t gid)
{
	int r = n->fd >= 0 ? fchown(n->fd, uid, gid) : fchownat(n->dirfd, n->name, uid, gid, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

static int node_stat(const struct node *n, struct stat *st)
{
	int r = n->fd >= 0 ? fstat(n->fd, st) : fstatat(n->dirfd, n->name, st, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

static int node_chmod(const struct node *n, mode_t mode)
{
	int r = n->fd >= 0 ? fchmod(n->fd, mode) : fchmodat(n->dirfd, n->name, mode, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

static int node_setxattr(const struct node *n, const struct cfs_xattr *x)
{
	if (n->fd >= 0)
		return fsetxattr(n->fd, x->name, x->value, x->len, 0) < 0 ? -errno : 0;
	/* The l* call on /proc/self/fd/<dirfd>/<name> acts on the node itself
	 * (there is no xattr call relative to a directory descriptor). */
	char p[32 + NAME_MAX];
	if (snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", n->dirfd, n->name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return lsetxattr(p, x->name, x->value, x->len, 0) < 0 ? -errno : 0;
}

static int node_utimes(const struct node *n, const struct timespec ts[2])
{
	int r = n->fd >= 0 ? futimens(n->fd, ts) : utimensat(n->dirfd, n->name, ts, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

/*
 * Apply owner, mode, xattrs and times of e to the node at hand (c->path).
 * Order matters: chown clears setuid bits, so chmod comes after it; ACL
 * xattrs after chmod (chmod rewrites the ACL mask); times last.
 *
 * Owner: set when permitted (root); otherwise the group alone, when the
 * user is a member of it, and silently the user's own otherwise. A setuid
 * bit is then kept only if the owner is the snapshot's, a setgid bit only if
 * the group is (for all but directories), and a warning names what was
 * dropped. Other failures are warnings: the data is there.
 */
static void apply_meta(struct rctx *c, const struct node *n, const struct cfs_tree_entry *e)
{
	const char *path = path_str(c);
	struct stat st;
	int r;

	int owner = node_chown(n, e->uid, e->gid);
	if (owner == -EPERM)
		(void)node_chown(n, (uid_t)-1, e->gid);
	else if (owner < 0)
		log_warning_errno(owner, "Cannot set owner of %s: %m", path);
	if (e->type != CFS_FT_SYMLINK) {
		mode_t mode = e->mode & 07777, drop = 0;
		/* Only where the owner could not be set is there anything to
		 * check (no stat in the common case). */
		if (owner < 0 && e->type != CFS_FT_DIR && (mode & (S_ISUID | S_ISGID))) {
			r = node_stat(n, &st);
			if (r < 0) {
				/* Owner unknown: grant nothing it might not have. */
				log_warning_errno(r, "Cannot examine %s: %m", path);
				st.st_uid = (uid_t)-1;
				st.st_gid = (gid_t)-1;
			}
			if ((mode & S_ISUID) && st.st_uid != e->uid)
				drop |= S_ISUID;
			if ((mode & S_ISGID) && st.st_gid != e->gid)
				drop |= S_ISGID;
		}
		if (drop) {
			log_warning("%s: %s dropped: it belongs to %u:%u here, not to %u:%u as in the snapshot", path,
				    drop == (S_ISUID | S_ISGID) ? "setuid and setgid bits"
				    : drop == S_ISUID	      ? "setuid bit"
							      : "setgid bit",
				    (unsigned)st.st_uid, (unsigned)st.st_gid, e->uid, e->gid);
			mode &= ~drop;
		}
		r = node_chmod(n, mode);
		if (r < 0)
			log_warning_errno(r, "Cannot set mode of %s: %m", path);
	}
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		r = node_setxattr(n, &e->xattrs[i]);
		if (r < 0)
			log_warning_errno(r, "Cannot set extended attribute %s of %s: %m", e->xattrs[i].name, path);
	}
	struct timespec ts[2];
	cfs_ns_to_timespec(e->mtime_ns, &ts[1]);
	ts[0] = ts[1]; /* atime is not stored: use mtime */
	r = node_utimes(n, ts);
	if (r < 0)
		log_warning_errno(r, "Cannot set times of %s: %m", path);
}

static void tmpfile_releasep(struct cfs_tmpfile *t)
{
	cfs_tmpfile_release(t);
}

/* 1 when the entry was restored as a hard link to an earlier member of its
 * group, 0 when it is to be made, < 0 (logged) on failure. */
static int try_link(struct rctx *c, int dirfd, const struct cfs_tree_entry *e)
{
	if (e->nlink <= 1)
		return 0;
	const char *first = find_link(c, e->dev, e->ino);
	if (!first)
		return 0;
	int r = link_first(c, first, dirfd, (const char *)e->name);
	if (r == 0)
		return 1;
	if (r == -EEXIST)
		return log_error_errno(r, "Cannot create %s: %m", path_str(c));
	log_warning_errno(r, "Cannot hard-link %s to /%s: %m; restoring a copy", path_str(c), first);
	return 0;
}

/* Regular file: through a temporary, linked under its name when complete
 * (see the top). 0, or < 0 (logged). */
static int restore_file(struct rctx *c, int dirfd, const struct cfs_tree_entry *e)
{
	_cleanup_(tmpfile_releasep) struct cfs_tmpfile t = CFS_TMPFILE_INIT;
	const char *name = (const char *)e->name, *path = path_str(c);
	uint64_t data_bytes = 0;
	struct stat st;
	int r;

	r = try_link(c, dirfd, e);
	if (r != 0)
		return r < 0 ? r : 0;
	/* Early, before any data is read; the final link decides. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return log_error_errno(-EEXIST, "Cannot create %s: %m", path);
	/* The fault point stands for a file system without O_TMPFILE. */
	r = cfs_tmpfile_open(dirfd, TMP_PREFIX, name, CFS_FAULT("restore.tmpfile") == 0, &t);
	if (r < 0)
		return log_error_errno(r, "Cannot create a temporary file for %s: %m", path);
	/* Before the data: no copy-on-write works only on an empty file. */
	if (e->fsflags)
		apply_fsflags(c, t.fd, e);
	for (uint32_t i = 0; i < e->n_extents; i++) {
		const struct cfs_extent *x = &e->extents[i];
		if (interrupted(c))
			return -EINTR;
		r = cfs_repo_get_blob(c->r, &x->id, &c->data);
		if (r == 0 && c->data.len != x->len)
			r = -EBADMSG;
		if (r < 0) {
			char hex[CFS_ID_HEX_SIZE], pname[96] = "(unknown pack)";
			struct cfs_blob_loc loc;
			cfs_id_hex(&x->id, hex);
			if (cfs_repo_blob_loc(c->r, &x->id, &loc) == 0)
				cfs_repo_pack_name(&loc.pack, pname, sizeof(pname));
			const char *why = r == -EBADMSG ? "integrity error (data damaged)"
					  : r == -ENOENT ? "blob or pack missing"
					  : r == -ERANGE ? "pack truncated"
							 : "read error";
			/* Never a file with wrong or missing bytes: the
			 * temporary goes. */
			return log_error_errno(r, "Cannot restore %s: %s in blob %s at offset %llu, pack %s: %m", path,
					       why, hex, (unsigned long long)x->offset, pname);
		}
		r = cfs_pwrite_all(t.fd, c->data.data, c->data.len, x->offset);
		if (r < 0)
			return log_error_errno(r, "Cannot write %s: %m", path);
		data_bytes += x->len;
		c->prog.bytes += x->len;
		progress(c, false);
	}
	if (ftruncate(t.fd, (off_t)e->size) < 0)
		return log_error_errno(-errno, "Cannot set size of %s: %m", path);
	if (interrupted(c))
		return -EINTR;
	apply_meta(c, &(struct node){.fd = t.fd}, e);
	r = cfs_tmpfile_link(&t, dirfd, name, true);
	if (r < 0)
		return log_error_errno(r, "Cannot create %s: %m", path);
	c->st->bytes += data_bytes; /* holes are not counted */
	r = queue_fsflags(c, e);
	if (r < 0)
		return r;
	if (e->nlink > 1)
		return add_link(c, e->dev, e->ino);
	return 0;
}

/* Symlinks, FIFOs, devices. 0, or < 0 (logged). */
static int restore_special(struct rctx *c, int dirfd, const struct cfs_tree_entry *e)
{
	const char *name = (const char *)e->name, *path = path_str(c);
	int r;

	if (e->type == CFS_FT_SYMLINK) {
		if (symlinkat(e->target, dirfd, name) < 0)
			return log_error_errno(-errno, "Cannot create symlink %s: %m", path);
	} else {
		r = try_link(c, dirfd, e);
		if (r != 0)
			return r < 0 ? r : 0;
		mode_t t = e->type == CFS_FT_FIFO ? S_IFIFO : e->type == CFS_FT_CHR ? S_IFCHR : S_IFBLK;
		if (mknodat(dirfd, name, t | 0600, (dev_t)e->rdev) < 0)
			return log_error_errno(-errno, "Cannot create %s: %m", path);
		if (e->nlink > 1) {
			r = add_link(c, e->dev, e->ino);
			if (r < 0)
				return r;
		}
	}
	apply_meta(c, &(struct node){.fd = -1, .dirfd = dirfd, .name = name}, e);
	return 0;
}

/* A non-directory entry of the innermost frame. Failures of the entry are
 * counted and the walk goes on; < 0 only for what stops it. */
static int restore_leaf(struct rctx *c, int dirfd, const struct cfs_tree_entry *e)
{
	int r;

	switch (e->type) {
	case CFS_FT_REG:
		r = restore_file(c, dirfd, e);
		break;
	case CFS_FT_SYMLINK:
	case CFS_FT_FIFO:
	case CFS_FT_CHR:
	case CFS_FT_BLK:
		r = restore_special(c, dirfd, e);
		break;
	default:
		r = log_error_errno(-EPROTO, "Cannot restore %s: unknown type %u", path_str(c), e->type);
		break;
	}
	if (r == -ENOMEM || r == -EINTR)
		return r;
	if (r < 0)
		c->st->errors++;
	else
		c->st->files++;
	return 0;
}

/* The nodes below directory e, which is not walked, count as dealt with
 * (on the way to a sub-path: the whole sub-path, none of it counted yet). */
static void skip_nodes(struct rctx *c, const struct cfs_tree_entry *e)
{
	c->prog.entries += c->n_frames < c->n_steps ? c->prog.entries_total : e->subtree_nodes;
}

/*
 * Make the directory entry e of the innermost frame (or reuse one that
 * exists) and push a frame for it. A directory that cannot be made or
 * opened is counted as failed with all it holds; one whose tree cannot be
 * read is made, empty, and counted as failed.
 */
static int enter_dir(struct rctx *c, const struct cfs_tree_entry *e)
{
	const char *name = (const char *)e->name, *path = path_str(c);
	int pfd = c->frames[c->n_frames - 1].fd;
	struct stat st;
	int r;

	if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST) {
		c->st->errors++;
		log_error_errno(-errno, "Cannot create directory %s: %m", path);
		skip_nodes(c, e);
		return 0;
	}
	_cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		c->st->errors++;
		log_error_errno(-errno, "Cannot open directory %s: %m", path);
		skip_nodes(c, e);
		return 0;
	}
	/* Owner-writable while children are created; final mode after. */
	(void)fchmod(fd, 0700);

	r = GROW(c->frames, c->n_frames, c->cap_frames);
	if (r < 0)
		return r;
	struct frame f = {
		.tree = CFS_TREE_INIT,
		.path_len = c->path.len,
		.dev = st.st_dev,
		.ino = st.st_ino,
		.self = e,
	};
	if (c->n_frames < c->n_steps) {
		/* On the way to a sub-path: only its next component. */
		struct step *s = &c->steps[c->n_frames];
		f.tree = s->tree;
		s->tree = (struct cfs_tree)CFS_TREE_INIT;
		f.next = s->idx;
		f.end = s->idx + 1;
		f.on_way = true;
	} else {
		r = cfs_repo_get_tree(c->r, &e->subtree, &f.tree);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&e->subtree, hex);
			c->st->errors++;
			log_error_errno(r, "Cannot restore the contents of %s: tree %s unreadable: %m", path, hex);
			c->prog.entries += e->subtree_nodes;
		}
		f.end = f.tree.n;
	}
	f.fd = TAKE_FD(fd);
	c->frames[c->n_frames++] = f;
	/* Keep the window: the frame DIR_FDS above this one closes. */
	if (c->n_frames - 1 > DIR_FDS)
		cfs_closep(&c->frames[c->n_frames - 1 - DIR_FDS].fd);
	return 0;
}

/* Reopen the directory of frame p as ".." of its child's descriptor, and
 * make sure it is the one we made (see the top). */
static int reopen_parent(struct rctx *c, const struct frame *child, struct frame *p)
{
	struct stat st;
	_cleanup_close_ int fd = openat(child->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot reopen directory %.*s: %m", (int)p->path_len,
				       (const char *)c->path.data);
	if (st.st_dev != p->dev || st.st_ino != p->ino)
		return log_error_errno(-ESTALE,
				       "Directory %.*s was moved or replaced while it was being restored; stopping",
				       (int)p->path_len, (const char *)c->path.data);
	p->fd = TAKE_FD(fd);
	return 0;
}

/* The innermost directory is complete: its metadata now, then pop it. */
static int leave_dir(struct rctx *c)
{
	struct frame *f = &c->frames[c->n_frames - 1], *p = f - 1;
	int r;

	path_cut(c, f->path_len);
	/* Before the metadata, which may take away our search permission. */
	if (p->fd < 0) {
		r = reopen_parent(c, f, p);
		if (r < 0)
			return r;
	}
	apply_meta(c, &(struct node){.fd = f->fd}, f->self);
	if (f->self->fsflags) {
		apply_fsflags(c, f->fd, f->self);
		r = queue_fsflags(c, f->self);
		if (r < 0)
			return r;
	}
	if (!f->on_way)
		c->st->dirs++;
	cfs_closep(&f->fd);
	cfs_tree_release(&f->tree);
	c->n_frames--;
	return 0;
}

static int walk(struct rctx *c)
{
	int r;

	for (;;) {
		if (interrupted(c))
			return -EINTR;
		struct frame *f = &c->frames[c->n_frames - 1];
		if (f->next < f->end) {
			const struct cfs_tree_entry *e = &f->tree.entries[f->next++];
			r = path_set(c, f->path_len, e->name, e->name_len);
			if (r < 0)
				return r;
			/* Entries on the way to a sub-path are not in it. */
			if (c->n_frames >= c->n_steps)
				c->prog.entries++;
			progress(c, false);
			/* f may move: enter_dir grows the stack. */
			r = e->type == CFS_FT_DIR ? enter_dir(c, e) : restore_leaf(c, f->fd, e);
		} else if (c->n_frames > 1) {
			r = leave_dir(c);
		} else {
			return 0;
		}
		if (r < 0)
			return r;
	}
}

/*
 * Look up every component of the sub-path norm ("/a/b") first, so that a
 * path that is not in the snapshot creates nothing: c->steps[i] is the tree
 * of the directory at depth i and the index of the next component in it.
 */
static int find_sub_path(struct rctx *c, const struct cfs_snapshot *s, const char *norm, const char *subpath)
{
	struct cfs_id cur = s->root;
	const char *p = norm + 1;
	int r;

	for (;;) {
		const char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		r = GROW(c->steps, c->n_steps, c->cap_steps);
		if (r < 0)
			return r;
		struct step *st = &c->steps[c->n_steps];
		st->tree = (struct cfs_tree)CFS_TREE_INIT;
		r = cfs_repo_get_tree(c->r, &cur, &st->tree);
		if (r < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&cur, hex);
			int upto = (int)(p - 1 - norm);
			return log_error_errno(r, "Cannot read tree %s of %.*s: %m", hex, upto ? upto : 1, norm);
		}
		c->n_steps++;
		r = cfs_tree_find(&st->tree, p, n);
		if (r < 0)
			return log_error_errno(-ENOENT, "%s: not in snapshot %s", subpath, s->name);
		st->idx = (size_t)r;
		const struct cfs_tree_entry *e = &st->tree.entries[r];
		if (!q)
			return 0;
		if (e->type != CFS_FT_DIR)
			return log_error_errno(-ENOTDIR, "%s: %.*s is not a directory in the snapshot", subpath,
					       (int)(q - norm), norm);
		cur = e->subtree;
		p = q + 1;
	}
}

int cfs_restore_run(struct cfs_repo *r, const struct cfs_snapshot *s, const struct cfs_restore_options *o,
		    struct cfs_restore_stats *stats)
{
	struct rctx c = {.r = r, .o = o, .st = stats, .interrupted = o->interrupted, .tfd = -1};
	const char *subpath = o->subpath, *target = o->target;
	_cleanup_free_ char *norm = NULL;
	int e;

	c.t0 = cfs_mono_ns();

	memset(stats, 0, sizeof(*stats));
	if (subpath) {
		e = cfs_path_normalize(subpath, &norm);
		if (e < 0)
			return log_error_errno(e, "Invalid path %s: must be absolute, without \"..\"", subpath);
	}
	e = cfs_mkdir_p(target, 0755);
	if (e < 0)
		return log_error_errno(e, "Cannot create target directory %s: %m", target);
	c.tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.tfd < 0)
		return log_error_errno(-errno, "Cannot open target directory %s: %m", target);

	e = GROW(c.frames, 0, c.cap_frames);
	if (e < 0)
		goto out;
	c.frames[0] = (struct frame){.tree = CFS_TREE_INIT, .fd = c.tfd};
	c.n_frames = 1;
	if (norm && strcmp(norm, "/") != 0) {
		e = find_sub_path(&c, s, norm, subpath);
		if (e < 0)
			goto out;
		const struct step *last = &c.steps[c.n_steps - 1];
		const struct cfs_tree_entry *se = &last->tree.entries[last->idx];
		c.prog.entries_total = 1 + (se->type == CFS_FT_DIR ? se->subtree_nodes : 0);
		c.frames[0].tree = c.steps[0].tree;
		c.steps[0].tree = (struct cfs_tree)CFS_TREE_INIT;
		c.frames[0].next = c.steps[0].idx;
		c.frames[0].end = c.steps[0].idx + 1;
	} else {
		c.prog.entries_total = s->root_nodes;
		/* A full snapshot read every byte it holds. */
		if (s->type == CFS_SNAP_FULL)
			c.prog.bytes_total = s->stats.bytes_read;
		e = cfs_repo_get_tree(r, &s->root, &c.frames[0].tree);
		if (e == -ENOMEM)
			goto out;
		if (e < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&s->root, hex);
			stats->errors++;
			log_error_errno(e, "Cannot restore the contents of /: tree %s unreadable: %m", hex);
			c.prog.entries = s->root_nodes;
		}
		c.frames[0].end = c.frames[0].tree.n;
	}
	e = walk(&c);
	if (e == 0 || e == -EINTR)
		deferred_flags(&c);
	/* A signal after the last entry still means "stop": say so. */
	if (e == 0 && interrupted(&c))
		e = -EINTR;
	/* Complete: now the bytes are known (the total was an estimate). */
	if (e == 0 && c.prog.bytes_total)
		c.prog.bytes_total = c.prog.bytes;
out:
	progress(&c, true);
	/* After a stop, the directories still open keep mode 0700 and no
	 * metadata of their own: nothing more permissive than the user's. */
	for (size_t i = 0; i < c.n_frames; i++) {
		if (i > 0)
			cfs_closep(&c.frames[i].fd);
		cfs_tree_release(&c.frames[i].tree);
	}
	free(c.frames);
	for (size_t i = 0; i < c.n_steps; i++)
		cfs_tree_release(&c.steps[i].tree);
	free(c.steps);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	for (size_t i = 0; i < c.n_flags; i++)
		free(c.flags[i].path);
	free(c.flags);
	cfs_buf_release(&c.path);
	cfs_buf_release(&c.data);
	if (c.tfd >= 0)
		close(c.tfd);
	return e;
}
