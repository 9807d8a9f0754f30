/* SPDX-License-Identifier: MIT */
/*
 * File reads: offsets map to chunks through the file's extent list; chunks
 * come verified from the bounded chunk cache; holes read as zeros; a
 * sequential reader gets the next chunks decoded ahead by the read-ahead
 * threads, so decryption and decompression of later chunks overlap with the
 * reader on both cores. A random reader asks for a few pages but costs a
 * whole chunk decode: the rest of that chunk goes into the kernel's page
 * cache (notify_store), so the next random reads that land in it are page
 * cache hits.
 */
#include <assert.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "chronofs/log.h"
#include "fuse/fuse-internal.h"

/* How far ahead of a sequential reader chunks are decoded: a third of the
 * chunk cache, at most 16 MiB. A window near the cache size gets chunks
 * decoded ahead evicted before the reader reaches them (measured: a 16 MiB
 * window in a 24 MiB cache halves cold cat throughput). */
#define RA_WINDOW_MAX (16u << 20)
/* Enough for the subdirectories of a big directory. */
#define RA_QUEUE 1024

/*
 * Files are stateless: the kernel opens them without asking us when it
 * can (FUSE_CAP_NO_OPEN_SUPPORT: no OPEN and RELEASE round trips, page
 * cache kept), so every read resolves its inode (cached trees make that a
 * few binary searches). What a sequential reader needs between reads lives
 * in a small table by inode; a slot taken by another inode only costs the
 * read-ahead of one request.
 */
#define SEQ_SLOTS 256

struct seqslot {
	fuse_ino_t ino;
	uint64_t next_off; /* where a sequential reader goes next */
	uint32_t ra_next;  /* first extent not yet sent to read-ahead */
};

struct fseq {
	pthread_mutex_t lock;
	struct seqslot slot[SEQ_SLOTS];
};

/* Resolves a regular file; answers and returns 0 when it is not one. */
static int file_resolve(struct cfs_fs *fs, fuse_req_t req, fuse_ino_t ino, struct node *n)
{
	int e = node_resolve(fs, ino, n);
	if (e == -EWOULDBLOCK)
		return e;
	if (e < 0) {
		fuse_reply_err(req, -e);
		return 0;
	}
	if (!n->e || n->e->type != CFS_FT_REG) {
		int err = n->e && n->e->type == CFS_FT_DIR ? EISDIR : EINVAL;
		node_release(fs, n);
		fuse_reply_err(req, err);
		return 0;
	}
	return 1;
}

int fs_try_open(struct cfs_fs *fs, struct job *j)
{
	struct fuse_file_info *fi = &j->fi;
	struct node n;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(j->req, EROFS);
		return 0;
	}
	if (fs->no_open) {
		/* The kernel takes this as success and stops asking. */
		fuse_reply_err(j->req, ENOSYS);
		return 0;
	}
	int e = file_resolve(fs, j->req, j->ino, &n);
	if (e <= 0)
		return e;
	node_release(fs, &n);
	fi->fh = 0;
	/* Snapshots never change: the page cache stays valid across opens. */
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(j->req, fi);
	return 0;
}

/* First extent that ends after off. */
static uint32_t extent_at(const struct cfs_tree_entry *f, uint64_t off)
{
	uint32_t lo = 0, hi = f->n_extents;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (f->extents[mid].offset + f->extents[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Returns whether the read continues a sequential stream. */
static bool read_ahead(struct cfs_fs *fs, fuse_ino_t ino, const struct cfs_tree_entry *f, uint64_t off,
		       uint64_t end)
{
	struct fseq *q = fs->seq;
	struct seqslot *sl = &q->slot[((ino * UINT64_C(0x9E3779B97F4A7C15)) >> 56) % SEQ_SLOTS];
	pthread_mutex_lock(&q->lock);
	if (sl->ino != ino)
		*sl = (struct seqslot){.ino = ino};
	bool sequential = off == 0 || off == sl->next_off;
	sl->next_off = end;
	uint32_t from = extent_at(f, end);
	if (!sequential) {
		sl->ra_next = from;
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	if (sl->ra_next < from)
		sl->ra_next = from;
	struct cfs_cache_stats cs;
	cfs_cache_stats(fs->chunks, &cs);
	uint64_t limit = end + CFS_MIN((uint64_t)RA_WINDOW_MAX, (uint64_t)cs.budget / 3);
	uint32_t i = sl->ra_next;
	for (; i < f->n_extents && f->extents[i].offset < limit; i++)
		fs_ra_enqueue(fs, &f->extents[i].id, RA_CHUNK, 0);
	sl->ra_next = i;
	pthread_mutex_unlock(&q->lock);
	return true;
}

int fs_seq_new(struct cfs_fs *fs)
{
	fs->seq = calloc(1, sizeof(*fs->seq));
	if (!fs->seq)
		return -ENOMEM;
	pthread_mutex_init(&fs->seq->lock, NULL);
	return 0;
}

void fs_seq_free(struct cfs_fs *fs)
{
	if (fs->seq)
		pthread_mutex_destroy(&fs->seq->lock);
	free(fs->seq);
	fs->seq = NULL;
}

static void store_enqueue(struct cfs_fs *fs, fuse_ino_t ino, const struct cfs_extent *x, uint64_t file_size,
			  struct cfs_cache_entry *ce);
#define SMALL_FILE_MAX (256u * 1024)

/*
 * A read's reply: pieces of cached chunks (each holding a reference) and
 * runs of zeros for holes, written to the kernel straight from where they
 * are (fuse_reply_iov): no per-request buffer to allocate, fault in and
 * copy into. The pieces are counted before they are gathered (a sparse
 * file may have many small extents in one request); the usual few fit in
 * READ_SEGS on the stack. Holes are cut into ZERO_RUN pieces.
 */
#define READ_SEGS 16
#define ZERO_RUN (64u * 1024)
static const char zeros[ZERO_RUN];

struct read_seg {
	struct cfs_cache_entry *ce; /* the chunk behind the piece, or NULL */
	const struct cfs_extent *x;
};

struct read_reply {
	struct iovec *iov;
	struct read_seg *seg;
	unsigned n, cap;
	struct iovec iov_s[READ_SEGS];
	struct read_seg seg_s[READ_SEGS];
};

/* Room for the pieces of a read of len bytes over n_extents extents. */
static int reply_init(struct read_reply *rr, uint32_t n_extents, uint64_t len)
{
	uint64_t cap = 2 * (uint64_t)n_extents + 2 + len / ZERO_RUN;
	rr->n = 0;
	rr->iov = rr->iov_s;
	rr->seg = rr->seg_s;
	rr->cap = READ_SEGS;
	if (cap <= READ_SEGS)
		return 0;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	rr->iov = malloc(cap * sizeof(*rr->iov));
	rr->seg = malloc(cap * sizeof(*rr->seg));
	rr->cap = (unsigned)cap;
	return rr->iov && rr->seg ? 0 : -ENOMEM;
}

static void reply_add(struct read_reply *rr, const void *p, size_t len, struct cfs_cache_entry *ce,
		      const struct cfs_extent *x)
{
	assert(rr->n < rr->cap);
	rr->iov[rr->n] = (struct iovec){(void *)p, len};
	rr->seg[rr->n] = (struct read_seg){ce, x};
	rr->n++;
}

static void reply_zeros(struct read_reply *rr, uint64_t len)
{
	while (len > 0) {
		size_t l = (size_t)CFS_MIN(len, (uint64_t)ZERO_RUN);
		reply_add(rr, zeros, l, NULL, NULL);
		len -= l;
	}
}

/* Drops the chunk references still held, and the arrays. */
static void reply_release(struct cfs_fs *fs, struct read_reply *rr)
{
	for (unsigned i = 0; i < rr->n; i++)
		if (rr->seg[i].ce)
			cfs_cache_put(fs->chunks, rr->seg[i].ce);
	rr->n = 0;
	if (rr->iov != rr->iov_s)
		free(rr->iov);
	if (rr->seg != rr->seg_s)
		free(rr->seg);
	rr->iov = rr->iov_s;
	rr->seg = rr->seg_s;
}

int fs_try_read(struct cfs_fs *fs, struct job *j)
{
	fuse_req_t req = j->req;
	struct node n;
	int r = file_resolve(fs, req, j->ino, &n);
	if (r <= 0)
		return r;
	const struct cfs_tree_entry *f = n.e;
	off_t off = j->off;

	if (off < 0 || (uint64_t)off >= f->size) {
		node_release(fs, &n);
		fuse_reply_buf(req, NULL, 0);
		return 0;
	}
	uint64_t start = (uint64_t)off;
	uint64_t end = start + j->size;
	if (end > f->size || end < start)
		end = f->size;
	if (!j->ra_done) {
		/* Once per request, whether it is answered here or by a worker. */
		j->random = !read_ahead(fs, j->ino, f, start, end);
		if (start == 0 && f->size <= SMALL_FILE_MAX)
			fs_ra_small_files(fs, make_ino(n.snap->ord, n.parent_index),
					  &((const struct ftree *)cfs_cache_entry_obj(n.tref))->t);
		j->ra_done = true;
	}

	struct read_reply rr;
	uint64_t pos = start; /* everything before pos is in rr */
	uint32_t first = extent_at(f, start), last = first;
	while (last < f->n_extents && f->extents[last].offset < end)
		last++;
	int err = reply_init(&rr, last - first, end - start) < 0 ? ENOMEM : 0;
	for (uint32_t i = first; !err && i < last; i++) {
		const struct cfs_extent *x = &f->extents[i];
		struct cfs_cache_entry *ce;
		int e = fs_chunk_get(fs, &x->id, &ce);
		if (e == -EWOULDBLOCK) {
			reply_release(fs, &rr);
			node_release(fs, &n);
			return e;
		}
		if (e == 0) {
			const struct cfs_buf *b = &((const struct fchunk *)cfs_cache_entry_obj(ce))->b;
			uint64_t a = CFS_MAX(start, x->offset);
			uint64_t z = CFS_MIN(end, x->offset + x->len);
			if (b->len != x->len) {
				e = -EBADMSG;
				cfs_cache_put(fs->chunks, ce);
			} else {
				reply_zeros(&rr, a - pos);
				reply_add(&rr, b->data + (a - x->offset), z - a, ce, x);
			}
			pos = z;
		}
		if (e < 0) {
			/* Memory running out is no fault of the blob. */
			if (e != -ENOMEM)
				fs_report_blob(fs, n.snap, n.index, &x->id, e);
			/* Fail the whole request, never answer short: FUSE takes a
			 * short read for end of file and would shrink the file.
			 * The kernel re-reads the pages a reader waits for one by
			 * one, so only reads touching the damaged chunk fail. */
			err = e == -ENOMEM ? ENOMEM : EIO;
			break;
		}
	}
	if (!err)
		reply_zeros(&rr, end - pos); /* holes read as zeros */
	if (err) {
		reply_release(fs, &rr);
		fuse_reply_err(req, err);
	} else if (rr.n < IOV_MAX) {
		fuse_reply_iov(req, rr.iov, (int)rr.n);
		/* A random reader's chunks go on to the page cache. */
		for (unsigned i = 0; j->random && i < rr.n; i++)
			if (rr.seg[i].ce) {
				store_enqueue(fs, j->ino, rr.seg[i].x, f->size, rr.seg[i].ce); /* takes the reference */
				rr.seg[i].ce = NULL;
			}
		reply_release(fs, &rr);
	} else {
		/* More pieces than one writev takes (tiny extents of a sparse
		 * file): gather them into one buffer. */
		char *buf = malloc(end - start), *p = buf;
		for (unsigned i = 0; buf && i < rr.n; i++)
			p = mempcpy(p, rr.iov[i].iov_base, rr.iov[i].iov_len);
		if (buf)
			fuse_reply_buf(req, buf, end - start);
		else
			fuse_reply_err(req, ENOMEM);
		free(buf);
		reply_release(fs, &rr);
	}
	node_release(fs, &n);
	return 0;
}

/* SEEK_DATA / SEEK_HOLE from the extent list (whence in j->size). */
int fs_try_lseek(struct cfs_fs *fs, struct job *j)
{
	fuse_req_t req = j->req;
	int whence = (int)j->size;
	if (j->off < 0 || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		fuse_reply_err(req, EINVAL);
		return 0;
	}
	struct node n;
	int r = file_resolve(fs, req, j->ino, &n);
	if (r <= 0)
		return r;
	const struct cfs_tree_entry *f = n.e;
	uint64_t o = (uint64_t)j->off, size = f->size;
	uint32_t i = extent_at(f, o);
	off_t res = -1;
	if (o >= size || (whence == SEEK_DATA && i == f->n_extents))
		res = -1; /* ENXIO */
	else if (whence == SEEK_DATA)
		res = (off_t)CFS_MAX(o, f->extents[i].offset);
	else if (i == f->n_extents || f->extents[i].offset > o)
		res = j->off; /* in a hole */
	else {
		/* SEEK_HOLE: the end of the run of contiguous extents holding o. */
		uint64_t h = f->extents[i].offset + f->extents[i].len;
		while (++i < f->n_extents && f->extents[i].offset == h)
			h += f->extents[i].len;
		res = (off_t)CFS_MIN(h, size);
	}
	node_release(fs, &n);
	if (res < 0)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, res);
	return 0;
}

/* ---- page-cache stores ---------------------------------------------------- */

/*
 * A dedicated thread pushes the chunks, never a loop thread or a worker:
 * the kernel locks each page it stores into, and a page may be locked by a
 * read that a loop thread or worker has yet to answer. This thread answers
 * nothing, so waiting there cannot deadlock.
 */
#define STORE_QUEUE 8 /* chunk references held at most: a full queue drops */

struct store_item {
	fuse_ino_t ino;
	uint64_t off, len; /* page-aligned range of the file */
	struct cfs_cache_entry *ce;
	uint64_t chunk_off; /* file offset of the chunk's first byte */
};

static void store_enqueue(struct cfs_fs *fs, fuse_ino_t ino, const struct cfs_extent *x, uint64_t file_size,
			  struct cfs_cache_entry *ce)
{
	const uint64_t page = 4096;
	uint64_t a = (x->offset + page - 1) & ~(page - 1);
	uint64_t z = x->offset + x->len;
	/* Only whole pages become up to date; the page at end of file is whole. */
	if (z < file_size)
		z &= ~(page - 1);
	if (!fs->store_running || z <= a) {
		cfs_cache_put(fs->chunks, ce);
		return;
	}
	pthread_mutex_lock(&fs->store_lock);
	if (fs->store_len < STORE_QUEUE && !fs->store_stop) {
		struct store_item *it = &fs->store_queue[(fs->store_head + fs->store_len) % STORE_QUEUE];
		*it = (struct store_item){.ino = ino, .off = a, .len = z - a, .ce = ce, .chunk_off = x->offset};
		fs->store_len++;
		ce = NULL;
		pthread_cond_signal(&fs->store_cond);
	}
	pthread_mutex_unlock(&fs->store_lock);
	if (ce)
		cfs_cache_put(fs->chunks, ce);
}

static void *store_main(void *p)
{
	struct cfs_fs *fs = p;
	pthread_mutex_lock(&fs->store_lock);
	for (;;) {
		while (!fs->store_stop && fs->store_len == 0)
			pthread_cond_wait(&fs->store_cond, &fs->store_lock);
		if (fs->store_len == 0)
			break; /* stopping, queue drained */
		struct store_item it = fs->store_queue[fs->store_head];
		fs->store_head = (fs->store_head + 1) % STORE_QUEUE;
		fs->store_len--;
		bool stopping = fs->store_stop;
		pthread_mutex_unlock(&fs->store_lock);
		if (!stopping) {
			const struct cfs_buf *b = &((const struct fchunk *)cfs_cache_entry_obj(it.ce))->b;
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT(it.len);
			bv.buf[0].mem = (char *)b->data + (it.off - it.chunk_off);
			/* A hint: an inode the kernel has forgotten gives ENOENT. */
			(void)fuse_lowlevel_notify_store(fs->se, it.ino, (off_t)it.off, &bv, 0);
		}
		cfs_cache_put(fs->chunks, it.ce);
		pthread_mutex_lock(&fs->store_lock);
	}
	pthread_mutex_unlock(&fs->store_lock);
	return NULL;
}

int fs_store_start(struct cfs_fs *fs)
{
	pthread_mutex_init(&fs->store_lock, NULL);
	pthread_cond_init(&fs->store_cond, NULL);
	fs->store_queue = calloc(STORE_QUEUE, sizeof(*fs->store_queue));
	if (!fs->store_queue)
		return -ENOMEM;
	if (pthread_create(&fs->store_thread, NULL, store_main, fs) != 0)
		return -EAGAIN;
	fs->store_running = true;
	return 0;
}

/*
 * Before the session goes: drops what is queued, joins the thread. Once the
 * loop has stopped, a store can wait forever on a page locked by a read
 * nobody will answer (and the kernel ends such reads only when the device
 * is closed, which the waiting store itself prevents): so while the thread
 * has not finished, leftover requests are answered with EIO.
 */
void fs_store_stop(struct cfs_fs *fs)
{
	if (fs->store_running) {
		pthread_mutex_lock(&fs->store_lock);
		fs->store_stop = true;
		pthread_cond_broadcast(&fs->store_cond);
		pthread_mutex_unlock(&fs->store_lock);
		for (;;) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(fs->store_thread, NULL, &ts) == 0)
				break;
			fs_drain_requests(fs, 100);
		}
		fs->store_running = false;
	}
	free(fs->store_queue);
	fs->store_queue = NULL;
	pthread_cond_destroy(&fs->store_cond);
	pthread_mutex_destroy(&fs->store_lock);
}

/* ---- read-ahead threads -------------------------------------------------- */

/*
 * Trees ahead of a walker. find, ls -R, du, cp -a and rsync list a
 * directory and then descend into its subdirectories in name order, which
 * is tree order. So listing a directory queues its subdirectories' trees
 * with one more level below each (RA_TREE_DEPTH), at the front of the
 * queue and first child first: the next trees the walker asks for are the
 * next ones loaded, and it finds them cached (answered on the loop thread,
 * no hand-off), while a directory it skips costs one tree decode.
 */
#define RA_TREE_DEPTH 1

void fs_ra_dir(struct cfs_fs *fs, const struct ftree *ft)
{
	for (size_t i = ft->t.n; i-- > 0;)
		if (ft->t.entries[i].type == CFS_FT_DIR)
			fs_ra_enqueue(fs, &ft->t.entries[i].subtree, RA_TREE, RA_TREE_DEPTH);
}

/*
 * Small files ahead of a copier. cp -a, rsync, tar and grep -r read a
 * directory's small files one after the other, each waiting for a chunk
 * load. When such a file is first read, decode the small files of its
 * directory ahead, up to a third of the chunk cache; once per directory
 * among the last few seen (a walker that only lists, like find or du, never
 * pays for it).
 */
void fs_ra_small_files(struct cfs_fs *fs, fuse_ino_t dir, const struct cfs_tree *t)
{
	fuse_ino_t *slot = &fs->ra_dirs[((dir * UINT64_C(0x9E3779B97F4A7C15)) >> 58) % ARRAY_SIZE(fs->ra_dirs)];
	pthread_mutex_lock(&fs->ra_lock);
	bool seen = *slot == dir;
	*slot = dir;
	pthread_mutex_unlock(&fs->ra_lock);
	if (seen)
		return;
	struct cfs_cache_stats cs;
	cfs_cache_stats(fs->chunks, &cs);
	uint64_t budget = cs.budget / 3, queued = 0;
	for (size_t i = 0; i < t->n && queued < budget; i++) {
		const struct cfs_tree_entry *en = &t->entries[i];
		if (en->type != CFS_FT_REG || en->size > SMALL_FILE_MAX)
			continue;
		for (uint32_t k = 0; k < en->n_extents && queued < budget; k++) {
			fs_ra_enqueue(fs, &en->extents[k].id, RA_CHUNK, 0);
			queued += en->extents[k].len;
		}
	}
}

void fs_ra_enqueue(struct cfs_fs *fs, const struct cfs_id *id, enum ra_kind kind, unsigned depth)
{
	/* A cached tree may still have levels to prefetch below it. */
	if ((kind == RA_CHUNK || depth == 0) && cfs_cache_has(kind == RA_CHUNK ? fs->chunks : fs->trees, id))
		return;
	pthread_mutex_lock(&fs->ra_lock);
	/* A full queue drops the request: read-ahead is a hint. */
	if (fs->ra_len < fs->ra_cap) {
		size_t at;
		if (kind == RA_TREE) {
			fs->ra_head = (fs->ra_head + fs->ra_cap - 1) % fs->ra_cap;
			at = fs->ra_head;
		} else {
			at = (fs->ra_head + fs->ra_len) % fs->ra_cap;
		}
		fs->ra_queue[at] = (struct ra_item){.id = *id, .kind = kind, .depth = (uint8_t)depth};
		fs->ra_len++;
		pthread_cond_signal(&fs->ra_cond);
	}
	pthread_mutex_unlock(&fs->ra_lock);
}

static void *ra_main(void *p)
{
	struct cfs_fs *fs = p;
	pthread_mutex_lock(&fs->ra_lock);
	for (;;) {
		while (!fs->ra_stop && fs->ra_len == 0)
			pthread_cond_wait(&fs->ra_cond, &fs->ra_lock);
		if (fs->ra_stop)
			break;
		struct ra_item it = fs->ra_queue[fs->ra_head];
		fs->ra_head = (fs->ra_head + 1) % fs->ra_cap;
		fs->ra_len--;
		pthread_mutex_unlock(&fs->ra_lock);
		struct cfs_cache_entry *ce;
		/* Errors are reported when a reader gets there. The cache
		 * loads an id once, however many ask at the same time. */
		if (it.kind == RA_CHUNK) {
			if (fs_chunk_get(fs, &it.id, &ce) == 0)
				cfs_cache_put(fs->chunks, ce);
		} else if (cfs_cache_get(fs->trees, &it.id, fs_tree_loader, fs, &ce) == 0) {
			const struct ftree *ft = cfs_cache_entry_obj(ce);
			for (size_t i = ft->t.n; it.depth > 0 && i-- > 0;)
				if (ft->t.entries[i].type == CFS_FT_DIR)
					fs_ra_enqueue(fs, &ft->t.entries[i].subtree, RA_TREE, it.depth - 1u);
			cfs_cache_put(fs->trees, ce);
		}
		pthread_mutex_lock(&fs->ra_lock);
	}
	pthread_mutex_unlock(&fs->ra_lock);
	/* This thread's reader goes with it: reader_key's destructor. */
	return NULL;
}

int fs_ra_start(struct cfs_fs *fs)
{
	pthread_mutex_init(&fs->ra_lock, NULL);
	pthread_cond_init(&fs->ra_cond, NULL);
	fs->ra_cap = RA_QUEUE;
	fs->ra_queue = calloc(fs->ra_cap, sizeof(*fs->ra_queue));
	if (!fs->ra_queue)
		return -ENOMEM;
	/* Decoding keeps the cores busy; cold loads wait on I/O: twice the
	 * cores, at most four, and at least as many as the store's transfers
	 * (each thread has one read in flight; over S3 that is what hides a
	 * request's latency). */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus < 1 ? 2 : cpus > 2 ? 4 : 2 * (unsigned)cpus;
	n = CFS_MAX(n, cfs_objstore_transfers(cfs_repo_store(fs->repo)));
	for (unsigned i = 0; i < n && i < ARRAY_SIZE(fs->ra_threads); i++) {
		if (pthread_create(&fs->ra_threads[i], NULL, ra_main, fs) != 0)
			break;
		fs->n_ra_threads++;
	}
	return fs->n_ra_threads ? 0 : -EAGAIN;
}

void fs_ra_stop(struct cfs_fs *fs)
{
	pthread_mutex_lock(&fs->ra_lock);
	fs->ra_stop = true;
	pthread_cond_broadcast(&fs->ra_cond);
	pthread_mutex_unlock(&fs->ra_lock);
	for (unsigned i = 0; i < fs->n_ra_threads; i++)
		pthread_join(fs->ra_threads[i], NULL);
	free(fs->ra_queue);
	pthread_cond_destroy(&fs->ra_cond);
	pthread_mutex_destroy(&fs->ra_lock);
}
