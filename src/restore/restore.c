/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "chronofs/log.h"
#include "chronofs/restore.h"
#include "chronofs/util.h"

/* Hard-link groups: (dev, ino) of the source -> path of the first member
 * restored, relative to the target directory (never an absolute path: that
 * would name the live source file, not the restored copy). */
struct link_ent {
	uint64_t dev, ino;
	char *path; /* owned, relative to rctx.tfd */
};

struct rctx {
	struct cfs_repo *r;
	struct cfs_restore_stats *st;
	volatile sig_atomic_t *interrupted;
	int tfd; /* the target directory */
	struct link_ent *links;
	size_t n_links, cap_links;
	struct cfs_buf data;
};

static const char *find_link(struct rctx *c, uint64_t dev, uint64_t ino)
{
	/* Linear: link groups are rare; a hash map if profiles say so. */
	for (size_t i = 0; i < c->n_links; i++)
		if (c->links[i].dev == dev && c->links[i].ino == ino)
			return c->links[i].path;
	return NULL;
}

/* path: the snapshot path of the entry ("/a/b"); the restored copy is at the
 * same path relative to the target. */
static int add_link(struct rctx *c, uint64_t dev, uint64_t ino, const char *path)
{
	while (*path == '/')
		path++;
	if (c->n_links == c->cap_links) {
		size_t ncap = c->cap_links ? c->cap_links * 2 : 32;
		struct link_ent *n = realloc(c->links, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->links = n;
		c->cap_links = ncap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	c->links[c->n_links++] = (struct link_ent){dev, ino, p};
	return 0;
}

/*
 * Apply owner, mode, xattrs and times. Order matters: chown clears setuid
 * bits, so chmod comes after it; ACL xattrs after chmod (chmod rewrites the
 * ACL mask); times last (xattr changes do not touch mtime, but be safe).
 */
static int apply_meta(int dirfd, const char *name, const char *path, const struct cfs_tree_entry *e)
{
	struct timespec ts[2];
	char ppath[4200];
	int r = 0;

	snprintf(ppath, sizeof(ppath), "/proc/self/fd/%d/%s", dirfd, name);
	if (fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
		r = log_warning_errno(-errno, "Cannot set owner of %s: %m", path);
	if (e->type != CFS_FT_SYMLINK && fchmodat(dirfd, name, e->mode, 0) < 0)
		r = log_warning_errno(-errno, "Cannot set mode of %s: %m", path);
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		if (lsetxattr(ppath, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len, 0) < 0)
			r = log_warning_errno(-errno, "Cannot set extended attribute %s of %s: %m", e->xattrs[i].name,
					      path);
	}
	cfs_ns_to_timespec(e->mtime_ns, &ts[1]);
	ts[0] = ts[1]; /* atime is not stored: use mtime */
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		r = log_warning_errno(-errno, "Cannot set times of %s: %m", path);
	return r;
}

static int restore_file(struct rctx *c, int dirfd, const char *name, const char *path, const struct cfs_tree_entry *e)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (e->nlink > 1) {
		const char *first = find_link(c, e->dev, e->ino);
		if (first) {
			if (linkat(c->tfd, first, dirfd, name, 0) == 0)
				return 0;
			log_warning_errno(-errno, "Cannot hard-link %s to %s: %m; restoring a copy", path, first);
		}
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s: %m", path);
	for (uint32_t i = 0; i < e->n_extents; i++) {
		const struct cfs_extent *x = &e->extents[i];
		r = cfs_repo_get_blob(c->r, &x->id, &c->data);
		if (r == 0 && c->data.len != x->len)
			r = -EBADMSG;
		if (r == 0)
			r = cfs_pwrite_all(fd, c->data.data, c->data.len, x->offset);
		if (r < 0) {
			char hex[CFS_ID_HEX_SIZE], pname[96] = "(unknown pack)";
			struct cfs_blob_loc loc;
			cfs_id_hex(&x->id, hex);
			if (cfs_repo_blob_loc(c->r, &x->id, &loc) == 0)
				cfs_repo_pack_name(&loc.pack, pname, sizeof(pname));
			/* Never leave a file with wrong or missing bytes behind. */
			(void)unlinkat(dirfd, name, 0);
			const char *why = r == -EBADMSG ? "integrity error (data damaged)"
					  : r == -ENOENT ? "blob or pack missing"
					  : r == -ERANGE ? "pack truncated"
							 : "read error";
			return log_error_errno(r, "Cannot restore %s: %s in blob %s at offset %llu, pack %s: %m", path,
					       why, hex, (unsigned long long)x->offset, pname);
		}
		c->st->bytes += x->len;
	}
	if (ftruncate(fd, (off_t)e->size) < 0) {
		r = -errno;
		(void)unlinkat(dirfd, name, 0);
		return log_error_errno(r, "Cannot set size of %s: %m", path);
	}
	if (e->nlink > 1) {
		r = add_link(c, e->dev, e->ino, path);
		if (r < 0)
			return r;
	}
	return 0;
}

static int restore_tree(struct rctx *c, int dirfd, const char *dirpath, const struct cfs_id *id);

static int restore_entry(struct rctx *c, int dirfd, const char *dirpath, const struct cfs_tree_entry *e)
{
	char path[8192];
	const char *name = (const char *)e->name;
	int r = 0;

	if (c->interrupted && *c->interrupted)
		return -EINTR;
	/* dirpath is "" for the snapshot root. */
	snprintf(path, sizeof(path), "%s/%s", strcmp(dirpath, "/") == 0 ? "" : dirpath, name);

	switch (e->type) {
	case CFS_FT_DIR: {
		if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST) {
			c->st->errors++;
			log_error_errno(-errno, "Cannot create directory %s: %m", path);
			return 0;
		}
		_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			c->st->errors++;
			log_error_errno(-errno, "Cannot open directory %s: %m", path);
			return 0;
		}
		/* Owner-writable while children are created; final mode after. */
		(void)fchmod(fd, 0700);
		r = restore_tree(c, fd, path, &e->subtree);
		if (r < 0)
			return r;
		c->st->dirs++;
		break;
	}
	case CFS_FT_REG:
		r = restore_file(c, dirfd, name, path, e);
		if (r < 0) {
			if (r == -ENOMEM || r == -EINTR)
				return r;
			c->st->errors++;
			return 0;
		}
		c->st->files++;
		break;
	case CFS_FT_SYMLINK:
		if (symlinkat(e->target, dirfd, name) < 0) {
			c->st->errors++;
			log_error_errno(-errno, "Cannot create symlink %s: %m", path);
			return 0;
		}
		c->st->files++;
		break;
	case CFS_FT_FIFO:
	case CFS_FT_CHR:
	case CFS_FT_BLK: {
		mode_t t = e->type == CFS_FT_FIFO ? S_IFIFO : e->type == CFS_FT_CHR ? S_IFCHR : S_IFBLK;
		if (e->nlink > 1) {
			const char *first = find_link(c, e->dev, e->ino);
			if (first && linkat(c->tfd, first, dirfd, name, 0) == 0) {
				c->st->files++;
				return 0;
			}
		}
		if (mknodat(dirfd, name, t | 0600, (dev_t)e->rdev) < 0) {
			c->st->errors++;
			log_error_errno(-errno, "Cannot create %s: %m", path);
			return 0;
		}
		if (e->nlink > 1 && add_link(c, e->dev, e->ino, path) < 0)
			return -ENOMEM;
		c->st->files++;
		break;
	}
	default:
		c->st->errors++;
		log_error("Cannot restore %s: unknown type %u", path, e->type);
		return 0;
	}
	/* A second link of a group already carries the metadata. */
	(void)apply_meta(dirfd, name, path, e);
	return 0;
}

static int restore_tree(struct rctx *c, int dirfd, const char *dirpath, const struct cfs_id *id)
{
	_cleanup_(cfs_tree_release) struct cfs_tree t = CFS_TREE_INIT;
	char hex[CFS_ID_HEX_SIZE];
	int r = cfs_repo_get_tree(c->r, id, &t);
	if (r < 0) {
		cfs_id_hex(id, hex);
		c->st->errors++;
		log_error_errno(r, "Cannot restore the contents of %s: tree %s unreadable: %m", dirpath, hex);
		return 0;
	}
	for (size_t i = 0; i < t.n; i++) {
		r = restore_entry(c, dirfd, dirpath, &t.entries[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Find the entry for subpath by descent; the directories on the way are
 * created under target (with their snapshot metadata applied at the end). */
struct step {
	struct cfs_tree tree; /* owned */
	size_t idx;
	int fd; /* the directory containing the entry */
};

int cfs_restore_run(struct cfs_repo *r, const struct cfs_snapshot *s, const char *subpath, const char *target,
		    volatile sig_atomic_t *interrupted, struct cfs_restore_stats *stats)
{
	struct rctx c = {.r = r, .st = stats, .interrupted = interrupted};
	_cleanup_free_ char *norm = NULL;
	_cleanup_close_ int tfd = -1;
	struct step steps[512];
	size_t n_steps = 0;
	int e;

	memset(stats, 0, sizeof(*stats));
	e = cfs_mkdir_p(target, 0755);
	if (e < 0)
		return log_error_errno(e, "Cannot create target directory %s: %m", target);
	tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return log_error_errno(-errno, "Cannot open target directory %s: %m", target);
	c.tfd = tfd;

	if (subpath) {
		e = cfs_path_normalize(subpath, &norm);
		if (e < 0)
			return log_error_errno(e, "Invalid path %s: must be absolute, without \"..\"", subpath);
	}
	if (!norm || strcmp(norm, "/") == 0) {
		e = restore_tree(&c, tfd, "", &s->root);
		goto out;
	}

	struct cfs_id cur = s->root;
	int curfd = tfd;
	char sofar[8192] = "";
	const char *p = norm + 1;
	e = 0;
	while (*p) {
		const char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		if (n_steps == ARRAY_SIZE(steps)) {
			e = -ENAMETOOLONG;
			break;
		}
		struct step *st = &steps[n_steps];
		st->tree = (struct cfs_tree)CFS_TREE_INIT;
		st->fd = -1;
		e = cfs_repo_get_tree(r, &cur, &st->tree);
		if (e < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&cur, hex);
			log_error_errno(e, "Cannot read tree %s of %s: %m", hex, sofar[0] ? sofar : "/");
			break;
		}
		n_steps++;
		int idx = cfs_tree_find(&st->tree, p, n);
		if (idx < 0) {
			e = log_error_errno(-ENOENT, "%s: not in snapshot %s", subpath, s->name);
			break;
		}
		st->idx = (size_t)idx;
		const struct cfs_tree_entry *en = &st->tree.entries[idx];
		size_t l = strlen(sofar);
		snprintf(sofar + l, sizeof(sofar) - l, "/%s", (const char *)en->name);
		if (!q || !q[1]) {
			/* The entry itself: restore_entry applies its metadata. */
			sofar[l] = 0;
			e = restore_entry(&c, curfd, sofar, en);
			n_steps--;
			cfs_tree_release(&steps[n_steps].tree);
			break;
		}
		if (en->type != CFS_FT_DIR) {
			e = log_error_errno(-ENOTDIR, "%s: %s is not a directory in the snapshot", subpath, sofar);
			break;
		}
		if (mkdirat(curfd, (const char *)en->name, 0700) < 0 && errno != EEXIST) {
			e = log_error_errno(-errno, "Cannot create directory %s under %s: %m", sofar, target);
			break;
		}
		int nfd = openat(curfd, (const char *)en->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			e = log_error_errno(-errno, "Cannot open directory %s under %s: %m", sofar, target);
			break;
		}
		st->fd = curfd;
		curfd = nfd;
		cur = en->subtree;
		p = q + 1;
	}
	/* Apply the metadata of the directories on the way, innermost first. */
	while (n_steps > 0) {
		struct step *st = &steps[--n_steps];
		if (st->fd >= 0) {
			const struct cfs_tree_entry *en = &st->tree.entries[st->idx];
			(void)apply_meta(st->fd, (const char *)en->name, (const char *)en->name, en);
			if (st->fd != tfd)
				close(st->fd);
		}
		cfs_tree_release(&st->tree);
	}
	/* Each step's fd is the parent of the next; the innermost is curfd. */
	if (curfd != tfd)
		close(curfd);
out:
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	cfs_buf_release(&c.data);
	return e;
}
