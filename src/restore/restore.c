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
 * Paths exist only for messages and patterns: c->path holds the target,
 * then the snapshot path of the entry at hand (c->path.data + c->prefix_len),
 * in a growable buffer, so a message names it in full however deep it is.
 *
 * Directories made on demand. With include patterns, a directory that does
 * not match but may hold a match is walked without being made (a pending
 * frame, without a descriptor), as are the directories on the way to a
 * sub-path (which patterns may leave out); the pending frames are made, outermost
 * first, when the first entry below them is restored (materialize()). Made
 * frames are thus always a prefix of the stack, pending ones the rest, and
 * the innermost made frame always has its descriptor open.
 *
 * Existing entries are examined (existing()) before anything is written;
 * what replaces one is made complete under a temporary name and renamed
 * over it, so the name holds the old entry or the new one, never half of
 * one, and never follows a symlink (rename replaces the link itself; a
 * directory in the way makes rename fail, and is never removed).
 *
 * Files appear complete or not at all: each regular file is written to a
 * temporary in its directory (cfs_tmpfile: O_TMPFILE, else a named
 * ".chronofs-restore.*" file), verified chunk by chunk (cfs_repo_get_blob
 * checks tag and id), given its owner, mode, xattrs and times, and only then
 * linked under its name, never replacing one (-EEXIST) unless told to. An
 * interruption (checked between chunks) or an error discards the temporary.
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
#include "chronofs/pattern.h"
#include "chronofs/report.h"
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
	bool included;                     /* everything below is restored
					      (no include patterns, or one
					      matched here or above) */
	bool pending;                      /* not made (yet): see the top */
	bool failed;                       /* could not be made: popped as
					      it is, its rest skipped */
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
	struct cfs_buf path; /* the target, then the snapshot path of the entry
				at hand, NUL-terminated */
	size_t prefix_len;   /* the target's part of path */
	struct link_ent *links;
	size_t n_links, cap_links;
	struct flags_ent *flags; /* in the order restored */
	size_t n_flags, cap_flags;
	struct cfs_buf data;
	struct cfs_buf cmp; /* an existing file's bytes, being compared */
};

static bool interrupted(const struct rctx *c)
{
	return c->interrupted && *c->interrupted;
}

/* Tell the caller how far the walk got: at most every
 * CFS_PROGRESS_INTERVAL_NS, and once with done. */
static void progress(struct rctx *c, bool done)
{
	if (!c->o->progress)
		return;
	int64_t now = cfs_mono_ns();
	if (!cfs_progress_due(&c->next_progress, now, done))
		return;
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

/* The entry at hand in the target (for messages). */
static const char *path_str(const struct rctx *c)
{
	return c->path.len ? (const char *)c->path.data : "/";
}

/* The entry at hand in the snapshot (for patterns and messages). */
static const char *snap_path(const struct rctx *c)
{
	return c->path.len > c->prefix_len ? (const char *)c->path.data + c->prefix_len : "/";
}

/* The entry at hand relative to the target ("a/b"). */
static const char *rel_path(const struct rctx *c)
{
	return snap_path(c) + 1;
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
	char *p = strdup(rel_path(c));
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
	char *p = strdup(rel_path(c));
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
			log_warning_errno(r, "Cannot set the inode flags of %.*s/%s (chattr +%s%s): %m",
					  (int)c->prefix_len, (const char *)c->path.data, fe->path,
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

/* A temporary name beside name, for what replaces it. */
static void tmp_name(const char *name, char out[NAME_MAX + 1])
{
	char rnd[17];
	cfs_random_suffix(rnd);
	snprintf(out, NAME_MAX + 1, "%s%.64s.%s", TMP_PREFIX, name, rnd);
}

/* Move the complete entry tmp over name in dirfd (replacing what is there,
 * a directory excepted); tmp is gone either way. */
static int rename_over(int dirfd, const char *tmp, const char *name)
{
	int r = renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
	/* Failed, or tmp and name were links of one file already (rename
	 * then does nothing). */
	(void)unlinkat(dirfd, tmp, 0);
	return r;
}

/* A chunk of e's data into c->data, verified; failures logged with the
 * blob, its pack and the reason. */
static int get_extent(struct rctx *c, const struct cfs_extent *x)
{
	int r = cfs_repo_get_blob(c->r, &x->id, &c->data);
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
		return log_error_errno(r, "Cannot restore %s (%s in the snapshot): %s in blob %s at offset %llu, pack %s: %m",
				       path_str(c), snap_path(c), why, hex, (unsigned long long)x->offset, pname);
	}
	return 0;
}

/* The data bytes of a regular file (holes not counted). */
static uint64_t data_size(const struct cfs_tree_entry *e)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < e->n_extents; i++)
		n += e->extents[i].len;
	return n;
}

#define CMP_STEP (1u << 16)

/* Whether [pos, end) of fd reads as zeros: 1 yes, 0 no (or unreadable). */
static int zeros_in(struct rctx *c, int fd, uint64_t pos, uint64_t end)
{
	int r = cfs_buf_reserve(&c->cmp, CMP_STEP);
	if (r < 0)
		return r;
	while (pos < end) {
		/* Holes of the existing file need not be read. */
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			return 1;
		if (d >= 0) {
			if ((uint64_t)d >= end)
				return 1;
			pos = (uint64_t)d;
		}
		size_t want = (size_t)CFS_MIN((uint64_t)CMP_STEP, end - pos);
		ssize_t n = cfs_pread_full(fd, c->cmp.data, want, pos);
		if (n != (ssize_t)want)
			return 0;
		for (size_t i = 0; i < want; i++)
			if (c->cmp.data[i])
				return 0;
		pos += want;
	}
	return 1;
}

/* Whether the existing regular file fd holds e's data: 1 yes, 0 no (or
 * it cannot be read: then it is replaced), < 0 (logged) when the
 * snapshot's data cannot be read. */
static int same_content(struct rctx *c, int fd, const struct cfs_tree_entry *e)
{
	uint64_t pos = 0;
	int r;

	for (uint32_t i = 0; i < e->n_extents; i++) {
		const struct cfs_extent *x = &e->extents[i];
		if (interrupted(c))
			return -EINTR;
		r = zeros_in(c, fd, pos, x->offset);
		if (r <= 0)
			return r;
		r = get_extent(c, x);
		if (r < 0)
			return r;
		r = cfs_buf_reserve(&c->cmp, x->len);
		if (r < 0)
			return r;
		if (cfs_pread_full(fd, c->cmp.data, x->len, x->offset) != (ssize_t)x->len ||
		    memcmp(c->cmp.data, c->data.data, x->len) != 0)
			return 0;
		pos = x->offset + x->len;
		progress(c, false);
	}
	return zeros_in(c, fd, pos, e->size);
}

/*
 * --overwrite if-changed: whether the existing entry st (not a directory)
 * holds what e holds; 1 yes, 0 no, < 0 (logged) on a failure of the
 * snapshot's side. A regular file is opened (*ret_fd), for its metadata
 * to be set through it when kept. first: the target path of e's hard-link
 * group's first name, or NULL.
 */
static int unchanged(struct rctx *c, int dirfd, const struct cfs_tree_entry *e, const struct stat *st,
		     const char *first, int *ret_fd)
{
	const char *name = (const char *)e->name;
	static const mode_t fmt[] = {[CFS_FT_REG] = S_IFREG,  [CFS_FT_SYMLINK] = S_IFLNK, [CFS_FT_FIFO] = S_IFIFO,
				     [CFS_FT_CHR] = S_IFCHR, [CFS_FT_BLK] = S_IFBLK};
	int r;

	if (e->type >= ARRAY_SIZE(fmt) || (st->st_mode & S_IFMT) != fmt[e->type])
		return 0;
	if (first) {
		/* Another name of a group: unchanged if it is the first's
		 * file already. */
		_cleanup_close_ int pfd = -1;
		const char *last;
		struct stat fst;
		r = open_parent(c, first, &pfd, &last);
		if (r == 0 && fstatat(pfd >= 0 ? pfd : c->tfd, last, &fst, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		return r == 0 && fst.st_dev == st->st_dev && fst.st_ino == st->st_ino;
	}
	switch (e->type) {
	case CFS_FT_SYMLINK: {
		char buf[CFS_TREE_TARGET_MAX + 2];
		ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf));
		return n == (ssize_t)e->target_len && memcmp(buf, e->target, e->target_len) == 0;
	}
	case CFS_FT_CHR:
	case CFS_FT_BLK:
		return st->st_rdev == (dev_t)e->rdev;
	case CFS_FT_FIFO:
		return 1;
	default:
		break;
	}
	if ((uint64_t)st->st_size != e->size)
		return 0;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat fst;
	if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino)
		return 0; /* unreadable, or replaced meanwhile: restore it */
	if ((int64_t)fst.st_mtim.tv_sec * 1000000000 + fst.st_mtim.tv_nsec != e->mtime_ns) {
		r = same_content(c, fd, e);
		if (r <= 0)
			return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 1;
}

enum { EXIST_NONE, EXIST_KEEP, EXIST_REPLACE };

/*
 * What to do about what is at e's name in dirfd already (restore.h):
 * EXIST_NONE (nothing there), EXIST_KEEP, EXIST_REPLACE, or < 0 (logged).
 * *ret_fd: an open kept regular file (if-changed), else -1.
 */
static int existing(struct rctx *c, int dirfd, const struct cfs_tree_entry *e, const char *first, int *ret_fd)
{
	const char *path = path_str(c);
	struct stat st;

	*ret_fd = -1;
	if (fstatat(dirfd, (const char *)e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? EXIST_NONE : log_error_errno(-errno, "Cannot examine %s: %m", path);
	if (S_ISDIR(st.st_mode))
		return log_error_errno(-EISDIR, "Cannot restore %s: a directory is in its place (never removed)", path);
	if (c->o->skip_existing)
		return EXIST_KEEP;
	switch (c->o->overwrite) {
	case CFS_RESTORE_OVERWRITE_ALWAYS:
		return EXIST_REPLACE;
	case CFS_RESTORE_OVERWRITE_IF_CHANGED: {
		int r = unchanged(c, dirfd, e, &st, first, ret_fd);
		return r < 0 ? r : r ? EXIST_KEEP : EXIST_REPLACE;
	}
	default:
		c->st->existed++;
		return log_error_errno(-EEXIST, "Cannot create %s: %m", path);
	}
}

/* Link e's name in dirfd to first (relative to the target); replace: over
 * what is there. 0, or < 0 (not logged). */
static int make_link(struct rctx *c, const char *first, int dirfd, const char *name, bool replace)
{
	if (!replace)
		return link_first(c, first, dirfd, name);
	char tmp[NAME_MAX + 1];
	tmp_name(name, tmp);
	int r = link_first(c, first, dirfd, tmp);
	return r < 0 ? r : rename_over(dirfd, tmp, name);
}

/* Regular file: through a temporary, linked under its name when complete
 * (see the top), over the existing entry when replace. 0, or < 0
 * (logged). */
static int restore_file(struct rctx *c, int dirfd, const struct cfs_tree_entry *e, bool replace)
{
	_cleanup_(tmpfile_releasep) struct cfs_tmpfile t = CFS_TMPFILE_INIT;
	const char *name = (const char *)e->name, *path = path_str(c);
	uint64_t data_bytes = 0;
	int r;

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
		/* Never a file with wrong or missing bytes: on failure the
		 * temporary goes. */
		r = get_extent(c, x);
		if (r < 0)
			return r;
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
	r = cfs_tmpfile_link(&t, dirfd, name, !replace);
	if (r < 0) {
		if (r == -EEXIST)
			c->st->existed++;
		return log_error_errno(r, "Cannot create %s: %m", path);
	}
	c->st->bytes += data_bytes; /* holes are not counted */
	return queue_fsflags(c, e);
}

/* Symlinks, FIFOs, devices: made under their name, or under a temporary
 * name renamed over the existing entry when replace. 0, or < 0 (logged). */
static int restore_special(struct rctx *c, int dirfd, const struct cfs_tree_entry *e, bool replace)
{
	const char *name = (const char *)e->name, *path = path_str(c);
	char tmp[NAME_MAX + 1];
	const char *at = name;
	int r = 0;

	if (replace) {
		tmp_name(name, tmp);
		at = tmp;
	}
	if (e->type == CFS_FT_SYMLINK) {
		if (symlinkat(e->target, dirfd, at) < 0)
			r = -errno;
	} else {
		mode_t t = e->type == CFS_FT_FIFO ? S_IFIFO : e->type == CFS_FT_CHR ? S_IFCHR : S_IFBLK;
		if (mknodat(dirfd, at, t | 0600, (dev_t)e->rdev) < 0)
			r = -errno;
	}
	if (r < 0) {
		if (r == -EEXIST)
			c->st->existed++;
		return log_error_errno(r, "Cannot create %s%s: %m", e->type == CFS_FT_SYMLINK ? "symlink " : "",
				       path);
	}
	apply_meta(c, &(struct node){.fd = -1, .dirfd = dirfd, .name = at}, e);
	if (replace) {
		r = rename_over(dirfd, tmp, name);
		if (r < 0)
			return log_error_errno(r, "Cannot replace %s: %m", path);
	}
	return 0;
}

/* The existing entry e is kept: with if-changed its metadata becomes the
 * snapshot's (through fd for a regular file), with --skip-existing it is
 * not touched. */
static int keep_leaf(struct rctx *c, int dirfd, int fd, const struct cfs_tree_entry *e, bool linked)
{
	if (!c->o->skip_existing) {
		apply_meta(c, &(struct node){.fd = fd, .dirfd = dirfd, .name = (const char *)e->name}, e);
		if (fd >= 0 && e->fsflags)
			apply_fsflags(c, fd, e);
		int r = fd >= 0 ? queue_fsflags(c, e) : 0;
		if (r < 0)
			return r;
	}
	if (e->type == CFS_FT_REG && !linked)
		c->prog.bytes += data_size(e);
	c->st->skipped++;
	return 0;
}

/* A non-directory entry of the innermost frame: made, kept or replaced as
 * existing() says. Failures of the entry are counted and the walk goes on;
 * < 0 only for what stops it. */
static int restore_leaf(struct rctx *c, int dirfd, const struct cfs_tree_entry *e)
{
	const char *name = (const char *)e->name;
	bool grouped = e->type != CFS_FT_SYMLINK && e->nlink > 1;
	const char *first = grouped ? find_link(c, e->dev, e->ino) : NULL;
	_cleanup_close_ int kfd = -1;
	bool replace = false;
	int r;

	if (e->type < CFS_FT_REG || e->type > CFS_FT_BLK || e->type == CFS_FT_DIR) {
		r = log_error_errno(-EPROTO, "Cannot restore %s: unknown type %u", path_str(c), e->type);
		goto out;
	}
	r = existing(c, dirfd, e, first, &kfd);
	if (r < 0)
		goto out;
	if (r == EXIST_KEEP) {
		r = keep_leaf(c, dirfd, kfd, e, first != NULL);
		if (r == 0 && grouped && !first)
			r = add_link(c, e->dev, e->ino);
		return r == -ENOMEM ? r : 0;
	}
	replace = r == EXIST_REPLACE;
	if (first) {
		r = make_link(c, first, dirfd, name, replace);
		if (r == 0)
			goto out;
		if (r == -EEXIST) {
			c->st->existed++;
			r = log_error_errno(r, "Cannot create %s: %m", path_str(c));
			goto out;
		}
		log_warning_errno(r, "Cannot hard-link %s to %.*s/%s: %m; restoring a copy", path_str(c),
				  (int)c->prefix_len, (const char *)c->path.data, first);
	}
	r = e->type == CFS_FT_REG ? restore_file(c, dirfd, e, replace) : restore_special(c, dirfd, e, replace);
	if (r == 0 && grouped)
		r = add_link(c, e->dev, e->ino);
out:
	if (r == -ENOMEM || r == -EINTR)
		return r;
	if (r < 0) {
		c->st->errors++;
	} else {
		c->st->files++;
		if (replace)
			c->st->replaced++;
	}
	return 0;
}

/* The nodes below directory e, which is not walked, count as dealt with
 * (on the way to a sub-path: the whole sub-path, none of it counted yet). */
static void skip_nodes(struct rctx *c, const struct cfs_tree_entry *e)
{
	c->prog.entries += c->n_frames < c->n_steps ? c->prog.entries_total : e->subtree_nodes;
}

/* Close the descriptors of made frames that fell out of the window (see
 * the top): those DIR_FDS and more below the innermost, outermost last. */
static void keep_window(struct rctx *c)
{
	for (size_t j = c->n_frames - 1; j > DIR_FDS && c->frames[j - DIR_FDS].fd >= 0; j--)
		cfs_closep(&c->frames[j - DIR_FDS].fd);
}

/*
 * Make (or reuse) directory e in pfd, its target path the first len bytes
 * of c->path, and open it: *ret_fd, *ret_st. A non-directory in its place
 * is an error, but with --overwrite always, which removes that one entry
 * (unlinkat never removes a directory, nor follows a symlink). < 0
 * (logged) on failure.
 */
static int make_dir(struct rctx *c, int pfd, const struct cfs_tree_entry *e, size_t len, int *ret_fd,
		    struct stat *ret_st)
{
	const char *name = (const char *)e->name, *path = (const char *)c->path.data;
	struct stat st;
	bool replaced = false;
	int fd;

	for (;;) {
		if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
			return log_error_errno(-errno, "Cannot create directory %.*s: %m", (int)len, path);
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			break;
		int r = -errno;
		if ((r != -ENOTDIR && r != -ELOOP) || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			return log_error_errno(r, "Cannot open directory %.*s: %m", (int)len, path);
		const char *what = S_ISLNK(st.st_mode)	 ? "a symbolic link (not followed)"
				   : S_ISREG(st.st_mode) ? "a file"
							 : "a special file";
		if (c->o->overwrite != CFS_RESTORE_OVERWRITE_ALWAYS || replaced)
			return log_error_errno(-ENOTDIR, "Cannot restore directory %.*s: %s is in its place", (int)len,
					       path, what);
		if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
			return log_error_errno(-errno, "Cannot replace %s %.*s by a directory: %m", what, (int)len,
					       path);
		replaced = true;
	}
	if (fstat(fd, ret_st) < 0) {
		int r = -errno;
		close(fd);
		return log_error_errno(r, "Cannot open directory %.*s: %m", (int)len, path);
	}
	if (replaced)
		c->st->replaced++;
	/* Owner-writable while children are created; final mode after. */
	(void)fchmod(fd, 0700);
	*ret_fd = fd;
	return 0;
}

/* The remaining entries of frames [from, top] are not restored: count
 * them as dealt with. */
static void fail_frames(struct rctx *c, size_t from)
{
	for (size_t j = from; j < c->n_frames; j++) {
		struct frame *f = &c->frames[j];
		for (; f->next < f->end; f->next++) {
			const struct cfs_tree_entry *e = &f->tree.entries[f->next];
			c->prog.entries += 1 + (e->type == CFS_FT_DIR ? e->subtree_nodes : 0);
		}
		f->failed = true;
		f->pending = false;
	}
}

/*
 * Make the pending frames (see the top), outermost first, before an entry
 * is restored in the innermost. 0; 1 (logged, counted) when one could not
 * be made: it and the frames below it are failed, the entry at hand is not
 * to be restored.
 */
static int materialize(struct rctx *c)
{
	size_t i = c->n_frames;
	while (i > 1 && c->frames[i - 1].pending)
		i--;
	if (i == c->n_frames)
		return c->frames[i - 1].failed;
	for (; i < c->n_frames; i++) {
		struct frame *f = &c->frames[i];
		struct stat st;
		int r = make_dir(c, c->frames[i - 1].fd, f->self, f->path_len, &f->fd, &st);
		if (r < 0) {
			c->st->errors++;
			fail_frames(c, i);
			return 1;
		}
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->pending = false;
		/* The window, as each is made: a chain of any length. */
		if (i > DIR_FDS)
			cfs_closep(&c->frames[i - DIR_FDS].fd);
	}
	return 0;
}

/*
 * Enter the directory entry e of the innermost frame: make it (or reuse
 * one that exists), unless pending (it is made when something below it
 * is restored), and push a frame for it. A directory that cannot be made
 * or opened is counted as failed with all it holds; one whose tree cannot
 * be read is made, empty, and counted as failed.
 */
static int enter_dir(struct rctx *c, const struct cfs_tree_entry *e, bool included, bool pending)
{
	const char *path = path_str(c);
	_cleanup_close_ int fd = -1;
	struct stat st = {0};
	int r;

	if (!pending) {
		r = materialize(c);
		if (r == 0) {
			r = make_dir(c, c->frames[c->n_frames - 1].fd, e, c->path.len, &fd, &st);
			if (r < 0)
				c->st->errors++;
		} /* else counted with the parent */
		if (r != 0) {
			skip_nodes(c, e);
			return 0;
		}
	}
	r = GROW(c->frames, c->n_frames, c->cap_frames);
	if (r < 0)
		return r;
	struct frame f = {
		.tree = CFS_TREE_INIT,
		.path_len = c->path.len,
		.fd = -1,
		.dev = st.st_dev,
		.ino = st.st_ino,
		.self = e,
		.included = included,
		.pending = pending,
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
			log_error_errno(r, "Cannot restore the contents of %s (%s in the snapshot): tree %s unreadable: %m",
					path, snap_path(c), hex);
			c->prog.entries += e->subtree_nodes;
		}
		f.end = f.tree.n;
	}
	f.fd = TAKE_FD(fd);
	c->frames[c->n_frames++] = f;
	if (!pending)
		keep_window(c);
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

/* The innermost directory is complete: its metadata now, then pop it (a
 * pending or failed one was never made: only popped). */
static int leave_dir(struct rctx *c)
{
	struct frame *f = &c->frames[c->n_frames - 1], *p = f - 1;
	int r;

	path_cut(c, f->path_len);
	if (f->fd >= 0) {
		/* Before the metadata, which may take away our search
		 * permission. */
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
	}
	cfs_tree_release(&f->tree);
	c->n_frames--;
	return 0;
}

/* One entry of the innermost frame f, c->path set to it: left out by the
 * patterns, entered, or restored. */
static int visit(struct rctx *c, struct frame *f, const struct cfs_tree_entry *e)
{
	const struct cfs_restore_options *o = c->o;
	const char *name = (const char *)e->name;
	bool is_dir = e->type == CFS_FT_DIR;

	bool on_way = c->n_frames < c->n_steps;
	if (o->n_excludes && cfs_patterns_match(o->excludes, o->n_excludes, snap_path(c), name)) {
		/* On the way to a sub-path: all of it left out. */
		c->prog.entries += on_way ? c->prog.entries_total : is_dir ? e->subtree_nodes : 0;
		return 0;
	}
	bool included = f->included || cfs_patterns_match(o->includes, o->n_includes, snap_path(c), name);
	if (on_way) /* the way to a sub-path: made when something in it is */
		return enter_dir(c, e, included, true);
	if (!included) {
		if (is_dir)
			for (size_t i = 0; i < o->n_includes; i++)
				if (cfs_pattern_may_match_below(o->includes[i], snap_path(c)))
					return enter_dir(c, e, false, true);
		if (is_dir)
			c->prog.entries += e->subtree_nodes;
		return 0;
	}
	if (is_dir)
		return enter_dir(c, e, true, false);
	if (materialize(c) != 0)
		return 0; /* counted with the directory */
	return restore_leaf(c, f->fd, e);
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
			r = visit(c, f, e);
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
	if (o->skip_existing && o->overwrite != CFS_RESTORE_OVERWRITE_NEVER)
		return log_error_errno(-EINVAL, "Cannot restore into %s: existing entries cannot be both kept and replaced",
				       o->target);
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
	/* Messages name target + snapshot path: "/t" + "/etc/hosts" (a
	 * trailing '/' of the target dropped, "/" giving ""). */
	c.prefix_len = strlen(target);
	while (c.prefix_len && target[c.prefix_len - 1] == '/')
		c.prefix_len--;
	e = cfs_buf_append(&c.path, target, c.prefix_len);
	if (e == 0)
		e = cfs_buf_reserve(&c.path, 1);
	if (e < 0)
		goto out;
	c.path.data[c.prefix_len] = 0;

	e = GROW(c.frames, 0, c.cap_frames);
	if (e < 0)
		goto out;
	c.frames[0] = (struct frame){
		.tree = CFS_TREE_INIT, .fd = c.tfd, .path_len = c.prefix_len, .included = !o->n_includes};
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
		if (s->type == CFS_SNAP_FULL && !o->n_includes && !o->n_excludes)
			c.prog.bytes_total = s->stats.bytes_read;
		e = cfs_repo_get_tree(r, &s->root, &c.frames[0].tree);
		if (e == -ENOMEM)
			goto out;
		if (e < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&s->root, hex);
			stats->errors++;
			log_error_errno(e, "Cannot restore the contents of %s (/ in the snapshot): tree %s unreadable: %m",
					target, hex);
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
	cfs_buf_release(&c.cmp);
	if (c.tfd >= 0)
		close(c.tfd);
	return e;
}
