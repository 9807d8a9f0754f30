/* SPDX-License-Identifier: MIT */
/*
 * local.c — the directory backend: object "a/b/c" is the file <root>/a/b/c.
 *
 * All access goes through *at() calls relative to one directory fd opened at
 * construction, so a concurrent rename of the root's path cannot redirect us
 * half-way and names (validated by objstore.c: relative, no "..") cannot
 * leave the tree except through symlinks someone placed inside it, which we
 * follow on purpose (e.g. "data" moved to another disk).
 *
 * Durability (put): write "<dir>/.tmp.<base>.<random>" (cfs_tmpfile), fsync
 * it, rename it over the final name, fsync the directory. Directories created
 * on the way are 0700 and their parent is fsynced, so the new entry survives a
 * crash. A crash leaves at most a ".tmp.*" file, which list() ignores.
 *
 * Threading: the state is the immutable root fd and dir_lock, so every
 * callback may run concurrently. Concurrent puts of one name each write their
 * own temp file and the last rename wins, which is what "replace" means.
 *
 * Open files for ranged reads (fd_lock). The mount reads packs a blob at a
 * time: an openat + fstat + close around every pread cost more than the
 * pread itself for small blobs, and a fresh file description loses the
 * kernel's read-ahead state. So get_range keeps the last FD_SLOTS objects
 * open (least recently used goes). A cached descriptor names the inode it
 * opened: this process's put and delete of that name drop it, and objects
 * are only ever replaced by rename, so a reader sees one whole version.
 * get_range is used on packs, which are immutable (named by their
 * content), so a pack replaced or deleted by another process reads the same
 * bytes or, once gone, as it was.
 *
 * dir_lock closes one durability window: a directory is visible as soon as
 * mkdirat() returns, before its parent is fsynced, so another thread could
 * put into it and return "durable" while the directory entry itself is not.
 * Creation (mkdirat + parent fsync) therefore happens under dir_lock, and
 * every put takes and drops dir_lock after its own fsyncs: if the directory
 * it used was still being made durable, that waits for it. No other lock is
 * taken while dir_lock is held. (Two processes writing one repository are
 * excluded by the repository lock, so this is only needed within a process.)
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/fault.h"
#include "chronofs/util.h"
#include "objstore/objstore-internal.h"

#define FD_SLOTS 32

struct fd_slot {
	char *name;     /* owned; NULL: free slot */
	int fd;
	uint64_t size;
	unsigned refs;  /* get_range calls using fd now */
	bool dropped;   /* put/delete of name: close when refs reach 0 */
	uint64_t used;  /* fd_tick at the last use */
};

struct local {
	int root_fd;               /* O_DIRECTORY, immutable after construction */
	pthread_mutex_t dir_lock; /* held across directory creation + parent fsync */
	pthread_mutex_t fd_lock;  /* protects fds and fd_tick; nothing taken after it */
	struct fd_slot fds[FD_SLOTS];
	uint64_t fd_tick;
};

/* An object that is missing, or whose path runs through a non-directory, or
 * that names a directory, is simply not there. */
static int map_missing(int err)
{
	return (err == ENOENT || err == ENOTDIR || err == EISDIR) ? -ENOENT : -err;
}

/* Split a validated name into its directory part (copied into dir, "." for
 * top-level names) and a borrowed pointer to the last component. */
static const char *split_name(const char *name, char dir[CFS_OBJSTORE_NAME_MAX + 1])
{
	const char *slash = strrchr(name, '/');
	if (!slash) {
		memcpy(dir, ".", 2);
		return name;
	}
	memcpy(dir, name, (size_t)(slash - name));
	dir[slash - name] = 0;
	return slash + 1;
}

static int open_dir_at(int root_fd, const char *dir)
{
	int fd = openat(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int fsync_fd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

/* Slow path of open_parent(), called with dir_lock held: walk the components and
 * make what is missing. EEXIST (made earlier, or by another process) is fine. */
static int mkdirs_locked(struct local *l, const char *dir)
{
	char path[CFS_OBJSTORE_NAME_MAX + 1];
	int r;

	size_t len = strlen(dir);
	memcpy(path, dir, len + 1);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		path[i] = 0;
		if (mkdirat(l->root_fd, path, 0700) == 0) {
			_cleanup_close_ int pfd = -1;
			char *last = strrchr(path, '/');
			if (last) {
				*last = 0;
				pfd = open_dir_at(l->root_fd, path);
				*last = '/';
			} else {
				pfd = open_dir_at(l->root_fd, ".");
			}
			if (pfd < 0)
				return pfd;
			r = fsync_fd(pfd);
			if (r < 0)
				return r;
		} else if (errno != EEXIST) {
			return -errno;
		}
		if (i < len)
			path[i] = '/';
	}
	return 0;
}

/*
 * Open the directory dir (relative to root, "." for root itself), creating
 * missing components with mode 0700 when create. Each directory created is
 * made durable by fsyncing its parent. Returns the fd or -errno.
 * Takes dir_lock when it has to create anything.
 */
static int open_parent(struct local *l, const char *dir, bool create)
{
	int fd, r;

	fd = open_dir_at(l->root_fd, dir);
	if (fd != -ENOENT || !create)
		return fd;

	pthread_mutex_lock(&l->dir_lock);
	r = mkdirs_locked(l, dir);
	pthread_mutex_unlock(&l->dir_lock);
	if (r < 0)
		return r;
	return open_dir_at(l->root_fd, dir);
}

/* The last step of every put: the directory holding the new name is made
 * durable, and a concurrent creation of a directory we used is waited out
 * (see the comment at the top). */
static int dir_durable(struct local *l, int dir_fd)
{
	int r = fsync_fd(dir_fd);
	if (r < 0)
		return r;
	pthread_mutex_lock(&l->dir_lock);
	pthread_mutex_unlock(&l->dir_lock);
	return 0;
}

static int local_put_common(struct local *l, const char *name, const void *p, size_t n,
			    bool noreplace)
{
	char dir[CFS_OBJSTORE_NAME_MAX + 1];
	const char *base = split_name(name, dir);
	_cleanup_close_ int dir_fd = -1;
	struct cfs_tmpfile t = CFS_TMPFILE_INIT;
	int r;

	dir_fd = open_parent(l, dir, true);
	if (dir_fd < 0)
		return dir_fd;

	/* Cheap early answer for locks; the rename below is what decides. */
	if (noreplace && faccessat(dir_fd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;

	r = cfs_tmpfile_open(dir_fd, CFS_OBJSTORE_TMP_PREFIX, base, false, &t);
	if (r < 0)
		return r;
	r = cfs_write_all(t.fd, p, n);
	if (r >= 0)
		r = fsync_fd(t.fd);
	if (r >= 0)
		r = cfs_tmpfile_link(&t, dir_fd, base, noreplace);
	cfs_tmpfile_release(&t);
	if (r < 0)
		return r;
	return dir_durable(l, dir_fd);
}

static void fd_forget(struct local *l, const char *name);

static int local_put(void *impl, const char *name, const void *p, size_t n)
{
	int r = local_put_common(impl, name, p, n, false);
	fd_forget(impl, name);
	return r;
}

static int local_put_new(void *impl, const char *name, const void *p, size_t n)
{
	int r = local_put_common(impl, name, p, n, true);
	fd_forget(impl, name);
	return r;
}

/*
 * A streamed put: an unnamed file (O_TMPFILE) in the root, so that a crash
 * mid-upload leaves nothing behind; at commit it is linked into its
 * directory under a temporary name and renamed into place (the directory is
 * known only then). Where O_TMPFILE or /proc is missing, a named temporary
 * file in the root instead (a crash then leaves a ".tmp.*" file, as put).
 */
struct local_upload {
	struct cfs_tmpfile t; /* in the root */
	struct cfs_buf pending; /* appended, not written yet */
	bool committed;
};

/* Appends are gathered up to this many bytes a write: packs are appended a
 * blob at a time, and a write per blob was a system call per 1.2 KiB on
 * prune's repack of the bench's forget 20 (101,723 of them, made under the
 * open pack's lock its threads share). */
#define UPLOAD_WRITE_BYTES (256u * 1024)

static int upload_write_pending(struct local_upload *u)
{
	if (u->t.fd < 0)
		return -EBADF;
	int r = u->pending.len ? cfs_write_all(u->t.fd, u->pending.data, u->pending.len) : 0;
	cfs_buf_reset(&u->pending);
	return r;
}

static int local_upload_begin(void *impl, void **ret_handle)
{
	struct local *l = impl;
	struct local_upload *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	/* The fault point stands for a file system without O_TMPFILE in
	 * tests. */
	int r = cfs_tmpfile_open(l->root_fd, CFS_OBJSTORE_TMP_PREFIX, "upload", CFS_FAULT("objstore.tmpfile") == 0,
				 &u->t);
	if (r < 0) {
		free(u);
		return r;
	}
	*ret_handle = u;
	return 0;
}

static int local_upload_append(void *impl, void *handle, const void *p, size_t n)
{
	(void)impl;
	struct local_upload *u = handle;
	if (u->t.fd < 0)
		return -EBADF;
	if (u->pending.len + n > UPLOAD_WRITE_BYTES) {
		int r = upload_write_pending(u);
		if (r < 0 || n >= UPLOAD_WRITE_BYTES)
			return r < 0 ? r : cfs_write_all(u->t.fd, p, n);
	}
	return cfs_buf_append(&u->pending, p, n);
}

static int local_upload_commit(void *impl, void *handle, const char *name)
{
	struct local *l = impl;
	struct local_upload *u = handle;
	char dir[CFS_OBJSTORE_NAME_MAX + 1];
	const char *base = split_name(name, dir);
	_cleanup_close_ int dir_fd = -1;

	if (u->t.fd < 0 || u->committed)
		return -EBADF;
	int r = upload_write_pending(u);
	if (r == 0)
		r = fsync_fd(u->t.fd);
	if (r < 0)
		return r;
	dir_fd = open_parent(l, dir, true);
	if (dir_fd < 0)
		return dir_fd;
	/* Replacing, as put does. */
	r = cfs_tmpfile_link(&u->t, dir_fd, base, false);
	if (r < 0)
		return r;
	u->committed = true;
	cfs_tmpfile_release(&u->t);
	fd_forget(l, name);
	/* The root lost a named temporary: make that durable too, so a crash
	 * never leaves both names. */
	if (!u->t.unnamed) {
		r = fsync_fd(l->root_fd);
		if (r < 0)
			return r;
	}
	return dir_durable(l, dir_fd);
}

static void local_upload_free(void *impl, void *handle)
{
	(void)impl;
	struct local_upload *u = handle;
	cfs_tmpfile_release(&u->t);
	cfs_buf_release(&u->pending);
	free(u);
}

/* Open a regular file for reading; -ENOENT for anything that is not one.
 * O_NONBLOCK keeps a FIFO planted in the repository from hanging the open; it
 * has no effect on reads of regular files. */
static int open_object(struct local *l, const char *name, struct stat *st)
{
	_cleanup_close_ int fd =
		openat(l->root_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return map_missing(errno);
	if (fstat(fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	return TAKE_FD(fd);
}

static int local_get(void *impl, const char *name, struct cfs_buf *out)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t got;
	int r;

	cfs_buf_reset(out);
	fd = open_object(impl, name, &st);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > SIZE_MAX)
		return -EFBIG;
	r = cfs_buf_resize(out, (size_t)st.st_size);
	if (r < 0)
		return r;
	got = cfs_pread_full(fd, out->data, (size_t)st.st_size, 0);
	/* Objects are replaced by rename, never rewritten in place, so the
	 * inode we opened cannot shrink unless something outside chronofs
	 * truncated it: report that, never return a short object. */
	if (got != (ssize_t)st.st_size) {
		cfs_buf_reset(out);
		return got < 0 ? (int)got : -EIO;
	}
	return 0;
}

/* fd_lock held: forget the slot, closing its fd unless a reader still uses
 * it (the last one closes it). */
static void fd_slot_drop_locked(struct fd_slot *sl)
{
	if (!sl->name)
		return;
	if (sl->refs > 0) {
		sl->dropped = true;
		return;
	}
	close(sl->fd);
	free(sl->name);
	*sl = (struct fd_slot){.fd = -1};
}

/* fd_lock held: the slot holding name open, or NULL. */
static struct fd_slot *fd_find_locked(struct local *l, const char *name)
{
	for (size_t i = 0; i < FD_SLOTS; i++) {
		struct fd_slot *sl = &l->fds[i];
		if (sl->name && !sl->dropped && strcmp(sl->name, name) == 0)
			return sl;
	}
	return NULL;
}

static void fd_forget(struct local *l, const char *name)
{
	pthread_mutex_lock(&l->fd_lock);
	struct fd_slot *sl = fd_find_locked(l, name);
	if (sl)
		fd_slot_drop_locked(sl);
	pthread_mutex_unlock(&l->fd_lock);
}

/*
 * A slot holding name open, with a reference taken (0), or, when every slot
 * is in use, a descriptor of the caller's own in *ret_fd with the object's
 * size (1).
 */
static int fd_get(struct local *l, const char *name, struct fd_slot **ret, int *ret_fd, uint64_t *ret_size)
{
	struct fd_slot *sl;
	struct stat st;

	pthread_mutex_lock(&l->fd_lock);
	sl = fd_find_locked(l, name);
	if (sl) {
		sl->refs++;
		sl->used = ++l->fd_tick;
		*ret = sl;
		pthread_mutex_unlock(&l->fd_lock);
		return 0;
	}
	pthread_mutex_unlock(&l->fd_lock);

	_cleanup_close_ int fd = open_object(l, name, &st);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;

	pthread_mutex_lock(&l->fd_lock);
	/* Another reader may have opened it meanwhile: share its slot. */
	sl = fd_find_locked(l, name);
	if (!sl) {
		/* A free slot, else the least recently used one nobody reads from. */
		for (size_t i = 0; i < FD_SLOTS; i++) {
			struct fd_slot *c = &l->fds[i];
			if (!c->name) {
				sl = c;
				break;
			}
			if (c->refs == 0 && (!sl || c->used < sl->used))
				sl = c;
		}
		if (!sl) {
			/* Every slot busy: this read keeps its own descriptor. */
			pthread_mutex_unlock(&l->fd_lock);
			*ret_fd = TAKE_FD(fd);
			*ret_size = (uint64_t)st.st_size;
			return 1;
		}
		fd_slot_drop_locked(sl);
		*sl = (struct fd_slot){.name = TAKE_PTR(copy), .fd = TAKE_FD(fd), .size = (uint64_t)st.st_size};
	}
	sl->refs++;
	sl->used = ++l->fd_tick;
	*ret = sl;
	pthread_mutex_unlock(&l->fd_lock);
	return 0;
}

static void fd_put(struct local *l, struct fd_slot *sl)
{
	pthread_mutex_lock(&l->fd_lock);
	sl->refs--;
	if (sl->dropped && sl->refs == 0) {
		sl->dropped = false;
		fd_slot_drop_locked(sl);
	}
	pthread_mutex_unlock(&l->fd_lock);
}

static int pread_range(int fd, uint64_t size, uint64_t off, size_t n, void *out)
{
	if (off > size || n > size - off)
		return -ERANGE;
	ssize_t got = cfs_pread_full(fd, out, n, off);
	if (got < 0)
		return (int)got;
	return (size_t)got == n ? 0 : -ERANGE;
}

static int local_get_range(void *impl, const char *name, uint64_t off, size_t n, void *out)
{
	struct local *l = impl;
	struct fd_slot *sl;
	_cleanup_close_ int own_fd = -1;
	uint64_t size;
	int r = fd_get(l, name, &sl, &own_fd, &size);
	if (r < 0)
		return r;
	if (r == 1)
		return pread_range(own_fd, size, off, n, out);
	r = pread_range(sl->fd, sl->size, off, n, out);
	fd_put(l, sl);
	return r;
}

static int local_head(void *impl, const char *name, uint64_t *ret_size)
{
	struct local *l = impl;
	struct stat st;

	if (fstatat(l->root_fd, name, &st, 0) < 0)
		return map_missing(errno);
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

static int local_delete(void *impl, const char *name)
{
	struct local *l = impl;
	char dir[CFS_OBJSTORE_NAME_MAX + 1];
	const char *base = split_name(name, dir);
	_cleanup_close_ int dir_fd = -1;

	fd_forget(l, name);
	dir_fd = open_parent(l, dir, false);
	if (dir_fd < 0)
		return dir_fd == -ENOTDIR ? -ENOENT : dir_fd;
	/* unlinkat without AT_REMOVEDIR fails with EISDIR on a directory. */
	if (unlinkat(dir_fd, base, 0) < 0)
		return map_missing(errno);
	return fsync_fd(dir_fd);
}

/*
 * delete_many: unlink name by name, in order, then fsync every directory
 * that lost an entry, once, where delete fsyncs once per object: prune
 * removes thousands of packs spread over the 256 directories data/00..ff,
 * and an fsync costs a journal commit (milliseconds) where an unlink costs
 * microseconds. A name is therefore gone durably only once its directory's
 * fsync has returned: when that fails, every name unlinked from the
 * directory gets its error. A name found missing is taken as deleted
 * without an fsync, as delete's -ENOENT is.
 *
 * The directories touched are found by a linear search from the most
 * recent one: prune's names are grouped by directory, and there are at
 * most a few hundred directories.
 */
static int touched_add(char ***v, size_t *n, size_t *cap, const char *dir, size_t *ret_idx)
{
	for (size_t k = *n; k > 0; k--)
		if (strcmp((*v)[k - 1], dir) == 0) {
			*ret_idx = k - 1;
			return 0;
		}
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **nv = reallocarray(*v, c, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	char *copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	*ret_idx = *n;
	(*v)[(*n)++] = copy;
	return 0;
}

static int local_delete_many(void *impl, const char *const *names, size_t n, int *errs)
{
	struct local *l = impl;
	_cleanup_free_ size_t *dir_of = calloc(n, sizeof(*dir_of)); /* SIZE_MAX: no fsync needed */
	char **dirs = NULL;
	size_t n_dirs = 0, cap = 0;
	int first = 0;

	if (!dir_of) {
		for (size_t i = 0; i < n; i++)
			errs[i] = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char dir[CFS_OBJSTORE_NAME_MAX + 1];
		errs[i] = 0;
		dir_of[i] = SIZE_MAX;
		fd_forget(l, names[i]);
		/* unlinkat without AT_REMOVEDIR fails with EISDIR on a
		 * directory: not an object, so not there. */
		if (unlinkat(l->root_fd, names[i], 0) < 0) {
			int e = map_missing(errno);
			errs[i] = e == -ENOENT ? 0 : e;
			continue;
		}
		split_name(names[i], dir);
		errs[i] = touched_add(&dirs, &n_dirs, &cap, dir, &dir_of[i]); /* else not fsynced */
	}
	for (size_t k = 0; k < n_dirs; k++) {
		int fd = open_dir_at(l->root_fd, dirs[k]);
		int e = fd < 0 ? fd : fsync_fd(fd);
		if (fd >= 0)
			close(fd);
		for (size_t i = 0; e < 0 && i < n; i++)
			if (dir_of[i] == k && errs[i] == 0)
				errs[i] = e;
		free(dirs[k]);
	}
	free(dirs);
	for (size_t i = 0; i < n && first == 0; i++)
		first = errs[i];
	return first;
}

/*
 * list: a depth-first walk starting at the directory part of the prefix. A
 * directory is entered only if its path + "/" and the prefix agree on their
 * common length, so listing "data/ab" reads only "data/" and "data/ab*".
 *
 * Each directory is read completely and closed before callbacks run and
 * before descending, so at most one directory stream is open at a time and
 * a callback may modify the store. Depth is bounded because a path longer
 * than CFS_OBJSTORE_NAME_MAX cannot be an object and is not entered.
 */
struct walk {
	int root_fd;
	const char *prefix;
	size_t prefix_len;
	cfs_objstore_list_cb cb;
	void *userdata;
};

struct walk_entry {
	char *path; /* owned; relative to the root */
	uint64_t size;
	bool is_dir;
};

struct walk_entries {
	struct walk_entry *v; /* owned */
	size_t n, cap;
};

static void walk_entries_release(struct walk_entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].path);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

static int walk_entries_add(struct walk_entries *e, char *path, uint64_t size, bool is_dir)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		struct walk_entry *v = reallocarray(e->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct walk_entry){path, size, is_dir};
	return 0;
}

static void closedirp(DIR **d)
{
	int saved = errno;
	if (*d)
		closedir(*d);
	*d = NULL;
	errno = saved;
}

/* Read directory rel ("" for the root) and collect what matches the prefix. */
static int walk_read(struct walk *w, const char *rel, struct walk_entries *out)
{
	__attribute__((cleanup(closedirp))) DIR *d = NULL;
	size_t rel_len = strlen(rel);
	struct dirent *de;
	int fd;

	fd = open_dir_at(w->root_fd, rel[0] ? rel : ".");
	if (fd < 0)
		return (fd == -ENOENT || fd == -ENOTDIR) ? 0 : fd;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}

	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 ||
		    strncmp(nm, CFS_OBJSTORE_TMP_PREFIX, strlen(CFS_OBJSTORE_TMP_PREFIX)) == 0)
			continue;

		size_t nm_len = strlen(nm);
		size_t path_len = rel_len + (rel_len ? 1 : 0) + nm_len;
		if (path_len > CFS_OBJSTORE_NAME_MAX)
			continue;
		_cleanup_free_ char *path = malloc(path_len + 2);
		if (!path)
			return -ENOMEM;
		snprintf(path, path_len + 2, "%s%s%s", rel, rel_len ? "/" : "", nm);

		struct stat st;
		if (fstatat(dirfd(d), nm, &st, 0) < 0) {
			/* Deleted under us, or a dangling symlink: not an object. */
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (S_ISREG(st.st_mode)) {
			if (strncmp(path, w->prefix, w->prefix_len) != 0)
				continue;
			int r = walk_entries_add(out, path, (uint64_t)st.st_size, false);
			if (r < 0)
				return r;
			path = NULL;
		} else if (S_ISDIR(st.st_mode)) {
			path[path_len] = '/';
			path[path_len + 1] = 0;
			if (strncmp(path, w->prefix, CFS_MIN(path_len + 1, w->prefix_len)) != 0)
				continue;
			path[path_len] = 0;
			int r = walk_entries_add(out, path, 0, true);
			if (r < 0)
				return r;
			path = NULL;
		}
	}
	return 0;
}

static int walk_dir(struct walk *w, const char *rel)
{
	struct walk_entries e = {0};
	int r;

	r = walk_read(w, rel, &e);
	for (size_t i = 0; r == 0 && i < e.n; i++)
		if (!e.v[i].is_dir)
			r = w->cb(e.v[i].path, e.v[i].size, w->userdata);
	for (size_t i = 0; r == 0 && i < e.n; i++)
		if (e.v[i].is_dir)
			r = walk_dir(w, e.v[i].path);
	walk_entries_release(&e);
	return r;
}

static int local_list(void *impl, const char *prefix, cfs_objstore_list_cb cb, void *userdata)
{
	struct local *l = impl;
	struct walk w = {l->root_fd, prefix, strlen(prefix), cb, userdata};
	const char *slash = strrchr(prefix, '/');
	_cleanup_free_ char *start = strndup(prefix, slash ? (size_t)(slash - prefix) : 0);

	if (!start)
		return -ENOMEM;
	return walk_dir(&w, start);
}

static void local_free(void *impl)
{
	struct local *l = impl;
	for (size_t i = 0; i < FD_SLOTS; i++)
		fd_slot_drop_locked(&l->fds[i]);
	if (l->root_fd >= 0)
		close(l->root_fd);
	pthread_mutex_destroy(&l->fd_lock);
	pthread_mutex_destroy(&l->dir_lock);
	free(l);
}

static const struct cfs_objstore_ops local_ops = {
	.put = local_put,
	.put_new = local_put_new,
	.get = local_get,
	.get_range = local_get_range,
	.head = local_head,
	.list = local_list,
	.delete = local_delete,
	.delete_many = local_delete_many,
	.upload_begin = local_upload_begin,
	.upload_append = local_upload_append,
	.upload_commit = local_upload_commit,
	.upload_free = local_upload_free,
	.free = local_free,
};

/* Make the root (mkdir -p, 0700) and fsync its parent so the new directory
 * entry is durable; directories further up that mkdir -p made are not
 * fsynced (they are the user's, typically pre-existing mount points). */
static int create_root(const char *dir)
{
	struct stat st;
	int r;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	r = cfs_mkdir_p(dir, 0700);
	if (r < 0)
		return r;

	_cleanup_free_ char *parent = strdup(dir);
	if (!parent)
		return -ENOMEM;
	/* Strip trailing slashes, then the last component. */
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = 0;
	char *slash = strrchr(parent, '/');
	if (!slash)
		return cfs_fsync_dir(".");
	if (slash == parent)
		slash[1] = 0;
	else
		*slash = 0;
	return cfs_fsync_dir(parent);
}

int cfs_objstore_local_new(const char *dir, bool create, struct cfs_objstore **ret)
{
	struct local *l;
	int r;

	if (!dir || !dir[0])
		return -EINVAL;
	if (create) {
		r = create_root(dir);
		if (r < 0)
			return r;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = pthread_mutex_init(&l->dir_lock, NULL);
	if (r != 0) {
		free(l);
		return -r;
	}
	r = pthread_mutex_init(&l->fd_lock, NULL);
	if (r != 0) {
		pthread_mutex_destroy(&l->dir_lock);
		free(l);
		return -r;
	}
	l->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0) {
		r = -errno;
		local_free(l);
		return r;
	}
	r = cfs_objstore_new_internal(&local_ops, l, dir, ret);
	if (r < 0)
		local_free(l);
	return r;
}
