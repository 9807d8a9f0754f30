/* SPDX-License-Identifier: MIT */
/*
 * Inodes to entries: descent through the snapshot's trees by depth-first
 * index, the hard-link table, and stat.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "fuse/fuse-internal.h"

/* ---- per-thread readers and cache loaders ----------------------------- */

struct cfs_repo_reader *fs_reader(struct cfs_fs *fs)
{
	struct cfs_repo_reader *rd = pthread_getspecific(fs->reader_key);
	if (rd)
		return rd;
	if (cfs_repo_reader_new(fs->repo, &rd) < 0)
		return NULL;
	/* Twenty-odd loading threads must not each pin 8 MiB of scratch:
	 * the daemon's memory is its cache budgets. */
	cfs_repo_reader_set_scratch_limit(rd, 1u << 20);
	pthread_setspecific(fs->reader_key, rd);
	return rd;
}

static int load_tree(void *ud, const void *id, void **ret, size_t *ret_cost)
{
	struct cfs_fs *fs = ud;
	struct cfs_repo_reader *rd = fs_reader(fs);
	if (!rd)
		return -ENOMEM;
	struct ftree *ft = calloc(1, sizeof(*ft));
	if (!ft)
		return -ENOMEM;
	/* A large directory's fragments are joined into one listing. */
	int e = cfs_repo_reader_get_tree(rd, id, &ft->t);
	/* A pack gone: prune may have moved the tree or a fragment. */
	if (e == -ENOENT && fs_blob_moved(fs, NULL, NULL))
		e = cfs_repo_reader_get_tree(rd, id, &ft->t);
	if (e < 0) {
		free(ft);
		return e;
	}
	ft->start = malloc((ft->t.n + 1) * sizeof(*ft->start));
	if (!ft->start) {
		cfs_tree_release(&ft->t);
		free(ft);
		return -ENOMEM;
	}
	uint64_t pos = 1;
	for (size_t i = 0; i < ft->t.n; i++) {
		ft->start[i] = pos;
		pos += 1 + (ft->t.entries[i].type == CFS_FT_DIR ? ft->t.entries[i].subtree_nodes : 0);
	}
	ft->start[ft->t.n] = pos;
	*ret = ft;
	/* What the decoded entries hold, plus the index. */
	size_t cost = (ft->t.n + 1) * (sizeof(*ft->start) + sizeof(struct cfs_tree_entry));
	for (size_t i = 0; i < ft->t.n; i++)
		cost += cfs_tree_entry_size(&ft->t.entries[i]);
	*ret_cost = cost;
	return 0;
}

int fs_tree_loader(void *ud, const void *id, void **ret, size_t *ret_cost)
{
	return load_tree(ud, id, ret, ret_cost);
}

static void free_tree(void *p)
{
	struct ftree *ft = p;
	cfs_tree_release(&ft->t);
	free(ft->start);
	free(ft);
}

__thread bool fs_inline;

/* Log a directory that cannot be read, once per tree blob. */
static void report_tree(struct cfs_fs *fs, const struct cfs_id *id, int err)
{
	pthread_mutex_lock(&fs->report_lock);
	int fresh = cfs_idset_add(&fs->reported, id);
	pthread_mutex_unlock(&fs->report_lock);
	if (fresh != 1)
		return;
	char hex[CFS_ID_HEX_SIZE], pname[96] = "(no pack)";
	struct cfs_blob_loc loc;
	cfs_id_hex(id, hex);
	if (cfs_repo_blob_loc(fs->repo, id, &loc) == 0)
		cfs_repo_pack_name(&loc.pack, pname, sizeof(pname));
	log_error_errno(err, "directory tree %s in %s: %s (listing it fails with EIO)", hex, pname,
			err == -EBADMSG ? "integrity error" : err == -ENOENT ? "missing" : err == -EPROTO ? "malformed" : "cannot be read");
}

int fs_tree_get(struct cfs_fs *fs, const struct cfs_id *id, struct cfs_cache_entry **ret)
{
	if (fs_inline)
		return cfs_cache_peek(fs->trees, id, ret) == 0 ? 0 : -EWOULDBLOCK;
	int e = cfs_cache_get(fs->trees, id, load_tree, fs, ret);
	if (e < 0 && e != -ENOMEM) {
		/* Whatever is wrong with the stored directory (missing pack,
		 * damage, truncation), the reader sees an I/O error: never
		 * "no such file" or an empty directory. */
		report_tree(fs, id, e);
		return -EIO;
	}
	return e;
}

int fs_chunk_get(struct cfs_fs *fs, const struct cfs_id *id, struct cfs_cache_entry **ret)
{
	if (fs_inline)
		return cfs_cache_peek(fs->chunks, id, ret) == 0 ? 0 : -EWOULDBLOCK;
	return cfs_cache_get(fs->chunks, id, fs_chunk_loader, fs, ret);
}

int fs_caches_new(struct cfs_fs *fs, size_t tree_bytes, size_t chunk_bytes)
{
	int e = fs_decode_init(fs);
	if (e < 0)
		return e;
	e = cfs_cache_new(tree_bytes, free_tree, &fs->trees);
	if (e < 0)
		return e;
	return cfs_cache_new(chunk_bytes, fs_chunk_free, &fs->chunks);
}

/* ---- descent ---------------------------------------------------------- */

/*
 * Find entry `index` (>= 1) of snapshot s. With path, also build its
 * absolute path inside the snapshot (NUL-terminated, however long).
 */
static int descend(struct cfs_fs *fs, struct snapinfo *s, uint64_t index, struct node *ret, struct cfs_buf *path)
{
	struct cfs_id cur = s->root;
	uint64_t base = 0, expect = s->nodes;
	int e;

	for (;;) {
		struct cfs_cache_entry *tref;
		e = fs_tree_get(fs, &cur, &tref);
		if (e < 0)
			return e;
		struct ftree *ft = cfs_cache_entry_obj(tref);
		/* The parent's claim must match the tree: a damaged repository
		 * must not send the descent astray. */
		if (ft->start[ft->t.n] - 1 != expect) {
			cfs_cache_put(fs->trees, tref);
			return -EBADMSG;
		}
		uint64_t rel = index - base;
		/* Largest i with start[i] <= rel. */
		size_t lo = 0, hi = ft->t.n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (ft->start[mid] <= rel)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0) {
			cfs_cache_put(fs->trees, tref);
			return -ENOENT;
		}
		size_t i = lo - 1;
		const struct cfs_tree_entry *en = &ft->t.entries[i];
		if (path && (cfs_buf_append(path, "/", 1) < 0 || cfs_buf_append(path, en->name, en->name_len) < 0)) {
			cfs_cache_put(fs->trees, tref);
			return -ENOMEM;
		}
		if (ft->start[i] == rel) {
			ret->snap = s;
			ret->index = index;
			ret->parent_index = base;
			ret->tref = tref;
			ret->e = en;
			return 0;
		}
		if (en->type != CFS_FT_DIR || rel >= ft->start[i + 1]) {
			cfs_cache_put(fs->trees, tref);
			return -ENOENT;
		}
		base += ft->start[i];
		cur = en->subtree;
		expect = en->subtree_nodes;
		cfs_cache_put(fs->trees, tref);
	}
}

int node_resolve(struct cfs_fs *fs, fuse_ino_t ino, struct node *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (ino == INO_ROOT && fs->single) {
		ret->snap = fs->single;
		return 0;
	}
	if (ino == INO_ROOT)
		return 0;
	struct snapinfo *s = fs_snap_by_ord(fs, ino_ord(ino));
	if (!s)
		return -ENOENT;
	uint64_t index = ino_index(ino);
	if (index > s->nodes && index != INDEX_MAX)
		return -ENOENT;
	ret->snap = s;
	ret->index = index;
	if (index == 0 || index == INDEX_MAX)
		return 0;
	return descend(fs, s, index, ret, NULL);
}

void node_release(struct cfs_fs *fs, struct node *n)
{
	if (n->tref)
		cfs_cache_put(fs->trees, n->tref);
	n->tref = NULL;
	n->e = NULL;
}

char *node_path(struct cfs_fs *fs, const struct node *n)
{
	struct cfs_buf b = CFS_BUF_INIT;
	struct node tmp;
	if (!n->snap || n->index == 0 || n->index == INDEX_MAX)
		return strdup("/");
	if (descend(fs, n->snap, n->index, &tmp, &b) < 0 || cfs_buf_append_u8(&b, 0) < 0) {
		cfs_buf_release(&b);
		return strdup("(unknown path)");
	}
	node_release(fs, &tmp);
	return (char *)cfs_buf_detach(&b);
}

/* ---- hard links ------------------------------------------------------- */

struct link_builder {
	struct link_ent *v;
	size_t n, cap;
};

/* A directory of the walk below: its tree, from the cache (tref) or decoded
 * for the walk alone. */
struct walk_level {
	struct cfs_cache_entry *tref;
	struct ftree *ft;
	size_t i;      /* next entry */
	uint64_t base; /* index of the directory itself */
};

static void walk_level_drop(struct cfs_fs *fs, struct walk_level *l)
{
	if (l->tref)
		cfs_cache_put(fs->trees, l->tref);
	else if (l->ft)
		free_tree(l->ft);
}

/* Push tree id (the directory at index base) onto the walk's stack. */
static int walk_push(struct cfs_fs *fs, struct walk_level **v, size_t *n, size_t *cap, const struct cfs_id *id,
		     uint64_t base)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct walk_level *nv = reallocarray(*v, ncap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	struct walk_level *l = &(*v)[*n];
	*l = (struct walk_level){.base = base};
	if (cfs_cache_peek(fs->trees, id, &l->tref) == 0) {
		l->ft = cfs_cache_entry_obj(l->tref);
	} else {
		void *obj;
		size_t cost;
		l->tref = NULL;
		int e = load_tree(fs, id, &obj, &cost);
		if (e < 0) {
			if (e == -ENOMEM)
				return e;
			report_tree(fs, id, e);
			return -EIO;
		}
		l->ft = obj;
	}
	(*n)++;
	return 0;
}

/*
 * The walk visits every directory of the snapshot once, depth first, with
 * its own stack on the heap (as deep as the snapshot): trees already cached
 * are used from the cache, the others are decoded for the walk alone and
 * dropped, so building the table does not evict what a reader is using.
 */
static int walk_links(struct cfs_fs *fs, const struct cfs_id *root, struct link_builder *lb)
{
	struct walk_level *v = NULL;
	size_t n = 0, cap = 0;
	int e = walk_push(fs, &v, &n, &cap, root, 0);
	while (e == 0 && n > 0) {
		struct walk_level *l = &v[n - 1];
		if (l->i == l->ft->t.n) {
			walk_level_drop(fs, l);
			n--;
			continue;
		}
		size_t i = l->i++;
		const struct cfs_tree_entry *en = &l->ft->t.entries[i];
		uint64_t index = l->base + l->ft->start[i];
		if (en->type == CFS_FT_DIR) {
			e = walk_push(fs, &v, &n, &cap, &en->subtree, index);
		} else if (en->nlink > 1) {
			if (lb->n == lb->cap) {
				size_t ncap = lb->cap ? lb->cap * 2 : 64;
				struct link_ent *nv = realloc(lb->v, ncap * sizeof(*nv));
				if (!nv) {
					e = -ENOMEM;
					break;
				}
				lb->v = nv;
				lb->cap = ncap;
			}
			lb->v[lb->n++] = (struct link_ent){en->dev, en->ino, index};
		}
	}
	while (n > 0)
		walk_level_drop(fs, &v[--n]);
	free(v);
	return e;
}

static int link_cmp(const void *a, const void *b)
{
	const struct link_ent *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Build the snapshot's link table once: one walk over its trees, only for
 * snapshots that have hard links at all (the first nlink > 1 entry met). */
static int links_build(struct cfs_fs *fs, struct snapinfo *s)
{
	struct link_builder lb = {0};
	int e = walk_links(fs, &s->root, &lb);
	if (e < 0) {
		free(lb.v);
		return e;
	}
	qsort(lb.v, lb.n, sizeof(*lb.v), link_cmp);
	/* Keep the first (lowest index) of each group. */
	size_t n = 0;
	for (size_t i = 0; i < lb.n; i++)
		if (n == 0 || lb.v[n - 1].dev != lb.v[i].dev || lb.v[n - 1].ino != lb.v[i].ino)
			lb.v[n++] = lb.v[i];
	s->links = lb.v;
	s->n_links = n;
	s->links_built = true;
	return 0;
}

int entry_ino(struct cfs_fs *fs, struct snapinfo *s, uint64_t index, const struct cfs_tree_entry *e,
	      fuse_ino_t *ret)
{
	*ret = make_ino(s->ord, index);
	if (!e || e->type == CFS_FT_DIR || e->nlink <= 1)
		return 0;
	pthread_mutex_lock(&s->links_lock);
	/* Building reads the snapshot's trees: never on a loop thread. */
	int r = s->links_built ? 0 : fs_inline ? -EWOULDBLOCK : links_build(fs, s);
	pthread_mutex_unlock(&s->links_lock);
	if (r < 0)
		return r;
	size_t lo = 0, hi = s->n_links;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct link_ent *m = &s->links[mid];
		if (m->dev < e->dev || (m->dev == e->dev && m->ino < e->ino))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n_links && s->links[lo].dev == e->dev && s->links[lo].ino == e->ino)
		*ret = make_ino(s->ord, s->links[lo].first);
	return 0;
}

/* ---- attributes ------------------------------------------------------- */

static mode_t type_bits(uint8_t t)
{
	switch (t) {
	case CFS_FT_REG:
		return S_IFREG;
	case CFS_FT_DIR:
		return S_IFDIR;
	case CFS_FT_SYMLINK:
		return S_IFLNK;
	case CFS_FT_FIFO:
		return S_IFIFO;
	case CFS_FT_CHR:
		return S_IFCHR;
	default:
		return S_IFBLK;
	}
}

void node_stat(struct cfs_fs *fs, const struct node *n, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_blksize = 128 * 1024;
	if (ino == INO_ROOT && !fs->single) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		cfs_ns_to_timespec(fs_root_mtime(fs), &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		return;
	}
	if (n->snap && n->index == INDEX_MAX) {
		struct snapinfo *t = n->snap;
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		st->st_size = t ? (off_t)strlen(t->name) : 0;
		if (t)
			cfs_ns_to_timespec(t->time_ns, &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		return;
	}
	if (!n->e) {
		/* A snapshot's root: "/" itself is not recorded. */
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		cfs_ns_to_timespec(n->snap->time_ns, &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		return;
	}
	const struct cfs_tree_entry *e = n->e;
	st->st_mode = type_bits(e->type) | (e->mode & 07777);
	st->st_nlink = e->nlink ? e->nlink : 1;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	st->st_rdev = (dev_t)e->rdev;
	st->st_size = (off_t)e->size;
	uint64_t stored = 0;
	for (uint32_t i = 0; i < e->n_extents; i++)
		stored += e->extents[i].len;
	if (e->type == CFS_FT_REG)
		st->st_blocks = (blkcnt_t)((stored + 511) / 512);
	cfs_ns_to_timespec(e->mtime_ns, &st->st_mtim);
	cfs_ns_to_timespec(e->ctime_ns, &st->st_ctim);
	st->st_atim = st->st_mtim;
}

int node_children(struct cfs_fs *fs, const struct node *n, struct cfs_cache_entry **ret_tree)
{
	if (!n->snap)
		return -ENOTDIR;
	if (!n->e) {
		if (n->index == INDEX_MAX)
			return -ENOTDIR;
		return fs_tree_get(fs, &n->snap->root, ret_tree);
	}
	if (n->e->type != CFS_FT_DIR)
		return -ENOTDIR;
	int e = fs_tree_get(fs, &n->e->subtree, ret_tree);
	if (e < 0)
		return e;
	struct ftree *ft = cfs_cache_entry_obj(*ret_tree);
	if (ft->start[ft->t.n] - 1 != n->e->subtree_nodes) {
		cfs_cache_put(fs->trees, *ret_tree);
		return -EBADMSG;
	}
	return 0;
}

void fs_report_blob(struct cfs_fs *fs, const struct snapinfo *s, uint64_t index, const struct cfs_id *blob, int err)
{
	pthread_mutex_lock(&fs->report_lock);
	int fresh = cfs_idset_add(&fs->reported, blob);
	pthread_mutex_unlock(&fs->report_lock);
	if (fresh != 1)
		return;
	char hex[CFS_ID_HEX_SIZE], pname[96] = "(no pack)";
	struct cfs_blob_loc loc;
	struct node n = {.snap = (struct snapinfo *)s, .index = index};
	_cleanup_free_ char *path = node_path(fs, &n);
	cfs_id_hex(blob, hex);
	if (cfs_repo_blob_loc(fs->repo, blob, &loc) == 0)
		cfs_repo_pack_name(&loc.pack, pname, sizeof(pname));
	log_error_errno(err, "snapshot %s: %s: blob %s in %s: %s (reads of it fail with EIO)", s->name,
			path ? path : "?", hex, pname,
			err == -EBADMSG ? "integrity error" : err == -ENOENT ? "missing" : "cannot be read");
}
