/* SPDX-License-Identifier: MIT */
/*
 * fuse-internal.h — state shared by the files of src/fuse/.
 *
 * Inode numbers (stable across remounts and daemon restarts, no table):
 *
 *   1                        the mount root (FUSE_ROOT_ID)
 *   ord << 34 | 0            a snapshot's root directory
 *   ord << 34 | i            entry i (1-based depth-first index) of that
 *                            snapshot; entries are numbered in tree order,
 *                            a directory's descendants right after it, so
 *                            trees' node counts let an index be found by
 *                            descent (binary search per level)
 *   ord << 34 | INDEX_MAX    a symlink naming that snapshot: what `latest`
 *                            and time lookups resolve to (so when `latest`
 *                            moves, it is another inode, and no cached
 *                            symlink body can be stale)
 *
 * ord (1 .. 2^30-1) comes from the snapshot id (its first 30 bits; 0 is
 * skipped; a clash goes to the next free value, in snapshot time order), so
 * it does not depend on which other snapshots exist. Members of a hard-link
 * group (same source dev/ino, nlink > 1) all answer with the inode of the
 * group's first member in depth-first order.
 *
 * Locking: fs->snap_lock (rwlock) protects the snapshot table; snapinfo
 * objects are never freed while mounted, so a pointer taken under the lock
 * stays valid. snapinfo->links_lock protects the lazily built link table.
 * fs->refresh_lock serialises cfs_repo_refresh(). Caches lock themselves.
 * Lock order: refresh_lock, then snap_lock.
 */
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>

#include "chronofs/cache.h"
#include "chronofs/fuse.h"
#include "chronofs/idset.h"
#include "chronofs/repo.h"

_Static_assert(sizeof(fuse_ino_t) >= 8, "inode numbers need 64 bits");

#define INO_ROOT ((fuse_ino_t)1)
#define INDEX_BITS 34
#define ORD_BITS 30
#define INDEX_MAX ((UINT64_C(1) << INDEX_BITS) - 1) /* reserved: time symlink */
#define ORD_MAX ((UINT64_C(1) << ORD_BITS) - 1)

static inline fuse_ino_t make_ino(uint32_t ord, uint64_t index)
{
	return ((fuse_ino_t)ord << INDEX_BITS) | index;
}
static inline uint32_t ino_ord(fuse_ino_t ino) { return (uint32_t)(ino >> INDEX_BITS); }
static inline uint64_t ino_index(fuse_ino_t ino) { return ino & INDEX_MAX; }

/* (dev, ino) of a hard-link group -> index of its first member. */
struct link_ent {
	uint64_t dev, ino, first;
};

struct snapinfo {
	struct cfs_id id;
	struct cfs_id root;
	uint64_t nodes;
	int64_t time_ns;
	char name[CFS_SNAPSHOT_NAME_MAX + 1];
	uint32_t ord;
	bool live; /* still in the repository */
	pthread_mutex_t links_lock;
	bool links_built;          /* protected by links_lock */
	struct link_ent *links;    /* sorted by (dev, ino); protected by links_lock until built */
	size_t n_links;
};

struct cfs_fs {
	struct cfs_repo *repo;
	const struct cfs_fuse_options *o;
	struct fuse_session *se;
	struct cfs_cache *trees;  /* id -> struct ftree */
	struct cfs_cache *chunks; /* id -> struct fchunk */
	pthread_key_t reader_key; /* per-thread struct cfs_repo_reader (trees) */

	/* chunk decoding (decode.c) */
	pthread_mutex_t dec_lock;
	pthread_cond_t dec_cond;
	struct cfs_repo_reader **dec_free; /* idle decoders (a stack); dec_lock */
	unsigned n_dec_free;               /* dec_lock */
	struct cfs_buf *idle;              /* recycled chunk buffers; dec_lock */
	size_t n_idle, idle_bytes;         /* dec_lock */
	bool dec_ready;

	pthread_mutex_t refresh_lock;
	int64_t last_refresh_ns;       /* when the last refresh ended; refresh_lock */
	int64_t last_refresh_start_ns; /* when it began; refresh_lock */
	/* How old the snapshot list may get before a look at the root
	 * refreshes it: 1 s, 10 s for a remote store (each refresh lists
	 * index/ and snapshots/ there: requests billed by the provider). */
	int64_t refresh_every_ns;

	pthread_rwlock_t snap_lock;
	struct snapinfo **all;  /* every snapinfo ever seen (owned), by ord lookup */
	size_t n_all, cap_all;
	struct snapinfo **live; /* live ones sorted by (time, name) (array owned) */
	size_t n_live;
	struct snapinfo *single; /* -o snapshot=: the one mounted snapshot */
	int64_t root_mtime_ns;   /* the root's mtime (snaps.c); snap_lock */
	uid_t uid;
	gid_t gid;

	pthread_mutex_t report_lock;
	struct cfs_idset reported; /* blobs whose damage was logged (once each) */

	/* read-ahead */
	pthread_mutex_t ra_lock;
	pthread_cond_t ra_cond;
	struct ra_item *ra_queue; /* ring, protected by ra_lock */
	size_t ra_head, ra_len, ra_cap;
	bool ra_stop;
	pthread_t ra_threads[CFS_OBJSTORE_TRANSFERS_MAX];
	unsigned n_ra_threads;

	/* directories whose small files were decoded ahead (read.c), by inode;
	 * protected by ra_lock */
	fuse_ino_t ra_dirs[64];

	bool no_open;       /* the kernel opens files without asking us */
	bool no_opendir;    /* ... and directories */
	struct fseq *seq;   /* sequential-reader state by inode (read.c) */

	/* page-cache stores of whole chunks for random readers (read.c) */
	pthread_mutex_t store_lock;
	pthread_cond_t store_cond;
	struct store_item *store_queue; /* ring, protected by store_lock */
	size_t store_head, store_len;
	bool store_stop;
	pthread_t store_thread;
	bool store_running;

	/* worker pool */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct job *pool_head, *pool_tail; /* protected by pool_lock */
	bool pool_stop;
	pthread_t *pool_threads;
	unsigned n_pool_threads;
};

/*
 * Request dispatch. The FUSE loop threads (one per CPU, at most 4) answer
 * every request they can from the caches ("inline": a cache miss returns
 * -EWOULDBLOCK instead of loading); a request that would block goes, copied,
 * to the worker pool, which answers it. So cached requests never wait behind
 * a slow load, and loads run in parallel.
 */
enum job_op {
	J_LOOKUP,
	J_GETATTR,
	J_READLINK,
	J_READDIR,
	J_READDIRPLUS,
	J_GETXATTR,
	J_LISTXATTR,
	J_OPEN,
	J_READ,
	J_LSEEK,
};

struct job {
	enum job_op op;
	fuse_req_t req;
	fuse_ino_t ino;
	char *name; /* borrowed inline; owned (copied) once queued */
	size_t size; /* J_LSEEK: whence */
	off_t off;
	struct fuse_file_info fi;
	bool ra_done; /* read-ahead already requested for this read */
	bool random;  /* not where the file's last read ended */
	struct job *next;
};

/* True on loop threads while they try a request: loads are not allowed. */
extern __thread bool fs_inline;

/* dispatch.c */
void fs_dispatch(struct cfs_fs *fs, struct job *j);
int fs_pool_start(struct cfs_fs *fs, unsigned n);
void fs_pool_stop(struct cfs_fs *fs);
/* Per op: answer the request and return 0, or return -EWOULDBLOCK (inline
 * only, nothing answered). */
int fs_try_op(struct cfs_fs *fs, struct job *j);
int fs_try_open(struct cfs_fs *fs, struct job *j);
int fs_try_read(struct cfs_fs *fs, struct job *j);
int fs_try_lseek(struct cfs_fs *fs, struct job *j);

/* Read-ahead work: a file chunk, or a directory tree a walker will want. */
enum ra_kind {
	RA_CHUNK,
	RA_TREE,
};
struct ra_item {
	struct cfs_id id;
	enum ra_kind kind;
	uint8_t depth; /* RA_TREE: levels of subdirectories to prefetch below it */
};

/* A decoded directory and where each entry's index starts. */
struct ftree {
	struct cfs_tree t;
	uint64_t *start; /* start[i]: offset of entry i's index from the directory's own index */
};

/* A resolved inode: borrowed pointers valid until node_release(). */
struct node {
	struct snapinfo *snap;       /* NULL for INO_ROOT */
	uint64_t index;              /* 0: the snapshot's root directory */
	uint64_t parent_index;       /* of the directory holding the entry */
	struct cfs_cache_entry *tref; /* the tree holding the entry */
	const struct cfs_tree_entry *e; /* NULL for a snapshot root */
};

/* A decoded chunk in the chunk cache (decode.c). */
struct fchunk {
	struct cfs_buf b;
	struct cfs_fs *fs; /* where the buffer goes back to */
};

/* decode.c */
int fs_decode_init(struct cfs_fs *fs);
/* After the chunk cache is gone. */
void fs_decode_free(struct cfs_fs *fs);
/* The chunk cache's load and free callbacks. */
int fs_chunk_loader(void *ud, const void *id, void **ret, size_t *ret_cost);
void fs_chunk_free(void *p);

/* snaps.c */
int fs_snaps_init(struct cfs_fs *fs);
void fs_snaps_free(struct cfs_fs *fs);
/* Re-read the snapshot list if older than max_age_ns (0: always).
 * -EWOULDBLOCK on the loop thread when a refresh is due. */
int fs_snaps_refresh(struct cfs_fs *fs, int64_t max_age_ns);
/* A read met a pack that is not there (-ENOENT): a prune may have moved
 * what it held to new packs and deleted it. Refresh (one that begins after
 * this call, at most one a second: it may wait up to a second; never on
 * the loop thread) and say whether the repository now locates blob id
 * elsewhere than in old_pack: 1 (read it again), else 0.
 * id NULL: refresh, and 1 unless on the loop thread (a large directory
 * names many blobs: read it again). */
int fs_blob_moved(struct cfs_fs *fs, const struct cfs_id *id, const struct cfs_id *old_pack);
struct snapinfo *fs_snap_by_ord(struct cfs_fs *fs, uint32_t ord);
struct snapinfo *fs_snap_by_name(struct cfs_fs *fs, const char *name);
/* The newest live snapshot with time <= t_ns; NULL if none. */
struct snapinfo *fs_snap_at(struct cfs_fs *fs, int64_t t_ns);
struct snapinfo *fs_snap_latest(struct cfs_fs *fs);
/* The root directory's mtime: changes whenever the snapshot list does. */
int64_t fs_root_mtime(struct cfs_fs *fs);
/* Copy of the live list (caller frees the array, not the elements). */
int fs_snaps_live(struct cfs_fs *fs, struct snapinfo ***ret, size_t *ret_n);

/* node.c */
int fs_caches_new(struct cfs_fs *fs, size_t tree_bytes, size_t chunk_bytes);
struct cfs_repo_reader *fs_reader(struct cfs_fs *fs);
int fs_tree_get(struct cfs_fs *fs, const struct cfs_id *id, struct cfs_cache_entry **ret);
/* The tree cache's load callback (for read-ahead threads). */
int fs_tree_loader(void *ud, const void *id, void **ret, size_t *ret_cost);
int fs_chunk_get(struct cfs_fs *fs, const struct cfs_id *id, struct cfs_cache_entry **ret);
int node_resolve(struct cfs_fs *fs, fuse_ino_t ino, struct node *ret);
void node_release(struct cfs_fs *fs, struct node *n);
/* The inode number of entry `index` of snap (hard links: the group's first). */
int entry_ino(struct cfs_fs *fs, struct snapinfo *s, uint64_t index, const struct cfs_tree_entry *e,
	      fuse_ino_t *ret);
void node_stat(struct cfs_fs *fs, const struct node *n, fuse_ino_t ino, struct stat *st);
/* The tree listing a directory node's children and the index base. */
int node_children(struct cfs_fs *fs, const struct node *n, struct cfs_cache_entry **ret_tree);
/* Absolute path of a node inside its snapshot, for messages (malloc'ed). */
char *node_path(struct cfs_fs *fs, const struct node *n);
/* Log a data error once per blob. */
void fs_report_blob(struct cfs_fs *fs, const struct snapinfo *s, uint64_t index, const struct cfs_id *blob, int err);

/* read.c */
int fs_ra_start(struct cfs_fs *fs);
void fs_ra_stop(struct cfs_fs *fs);
/* The page-cache store thread (read.c); needs fs->se set. */
int fs_store_start(struct cfs_fs *fs);
void fs_store_stop(struct cfs_fs *fs);
/* session.c: answer leftover requests with EIO once the loop has stopped. */
void fs_drain_requests(struct cfs_fs *fs, int timeout_ms);
void fs_ra_enqueue(struct cfs_fs *fs, const struct cfs_id *id, enum ra_kind kind, unsigned depth);
/* A directory is being listed: load its subdirectories' trees ahead. */
void fs_ra_dir(struct cfs_fs *fs, const struct ftree *ft);
/* A small file of directory dir (inode) is read: decode its directory's
 * small files ahead, once per directory among the last few. */
void fs_ra_small_files(struct cfs_fs *fs, fuse_ino_t dir, const struct cfs_tree *t);
extern const struct fuse_lowlevel_ops fs_ops;
int fs_seq_new(struct cfs_fs *fs);
void fs_seq_free(struct cfs_fs *fs);
