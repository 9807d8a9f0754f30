/* SPDX-License-Identifier: MIT */
/*
 * copy.c — snapshots from one repository into another (copy.h).
 *
 * The calling thread walks each snapshot's trees and decides, chunk by
 * chunk, what the destination lacks; worker threads do the heavy part:
 * read and verify a source blob (tag and id re-hash), compress and seal it
 * under the destination's keys, and hand it to the destination's packs
 * (cfs_repo_put_sealed, thread-safe; full packs go out with the
 * destination's transfers).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/compress.h"
#include "chronofs/copy.h"
#include "chronofs/idset.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/util.h"

/* Bytes of work queued for the workers at most (one job always fits). */
#define COPY_QUEUE_BYTES (32u << 20)
#define COPY_WORKERS_MAX 8
/* Source trees already copied in this run (shared parameters: the
 * destination's tree has the same id), so that the unchanged directories
 * of the next snapshots are not walked again: at most this many ids
 * (64 bytes each in the set, 4 MiB), then the memo starts afresh. */
#define COPY_TREE_MEMO_MAX (64u * 1024)
/* Chunks sent in this snapshot, so that a chunk used twice is read once
 * while its first copy is still on its way; bounded the same way. */
#define COPY_SENT_MEMO_MAX (64u * 1024)

enum job_kind {
	JOB_READ, /* read blob id at loc from the source, store it in the destination */
	JOB_SEAL, /* data[] is a chunk claimed in the destination as id: seal and store it */
};

struct job {
	struct job *next;
	enum job_kind kind;
	struct cfs_id id;
	struct cfs_blob_loc loc; /* JOB_READ */
	size_t weight;           /* what it counts against the queue's budget */
	size_t n;                /* bytes of data[]: the chunk, or the path (JOB_READ) */
	uint8_t data[];
};

struct pool {
	struct cfs_repo *from, *to; /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a job was queued, or stop */
	pthread_cond_t space; /* a job ended */
	struct job *head, *tail; /* protected by lock */
	size_t queued;           /* weight of queued and running jobs; under lock */
	size_t pending;          /* queued and running jobs; under lock */
	bool stop;               /* under lock */
	/* The first failure, what it was about; under lock. */
	int error;
	struct cfs_id error_id;
	bool has_error_id;
	char *error_path; /* owned */
	/* Figures; under lock. */
	uint64_t blobs_sent, bytes_sent, blobs_present, bytes_read;
	pthread_t threads[COPY_WORKERS_MAX];
	unsigned n_threads;
};

static void job_fail_locked(struct pool *p, int e, const struct job *j)
{
	if (p->error)
		return;
	p->error = e;
	p->error_id = j->id;
	p->has_error_id = true;
	if (j->kind == JOB_READ) {
		p->error_path = malloc(j->n + 1);
		if (p->error_path) {
			memcpy(p->error_path, j->data, j->n);
			p->error_path[j->n] = 0;
		}
	}
}

/* One job on a worker: 0, or the error (the job's blob is its object). */
static int job_run(struct pool *p, struct job *j, struct cfs_repo_reader *rd, struct cfs_repo_sealer *s,
		   struct cfs_buf *plain, struct cfs_buf *packed, struct cfs_sealed_blob *b, uint64_t *ret_stored,
		   bool *ret_sent)
{
	int e;

	*ret_stored = 0;
	*ret_sent = false;
	if (j->kind == JOB_READ) {
		/* Verified as every read is (tag, id re-hash); with shared
		 * parameters the id is the destination's too (the same id
		 * key). The compressed bytes are sealed again as they are:
		 * compressing again was half of a copy's CPU time (perf, 1.1
		 * GB bench corpus: 55 % in zstd), for the same bytes. */
		e = cfs_repo_reader_get_blob_packed(rd, &j->id, &j->loc, plain, packed);
		if (e == 0)
			e = cfs_repo_sealer_claim_id(s, &j->id);
		if (e <= 0)
			return e; /* 0: stored meanwhile (another job, another snapshot) */
		if (j->loc.codec == CFS_CODEC_RAW || j->loc.codec == CFS_CODEC_ZSTD)
			e = cfs_repo_sealer_seal_packed(s, CFS_BLOB_DATA, &j->id, j->loc.codec, (uint32_t)plain->len,
							packed->data, packed->len, b);
		else /* a dictionary of the source's: compressed again */
			e = cfs_repo_sealer_seal(s, CFS_BLOB_DATA, &j->id, plain->data, plain->len, b);
	} else {
		e = cfs_repo_sealer_seal(s, CFS_BLOB_DATA, &j->id, j->data, j->n, b);
	}
	if (e == 0)
		e = cfs_repo_put_sealed(p->to, b, ret_stored);
	if (e == 0)
		*ret_sent = true;
	return e;
}

static void *worker_main(void *arg)
{
	struct pool *p = arg;
	struct cfs_repo_reader *rd = NULL;
	struct cfs_repo_sealer *s = NULL;
	struct cfs_buf plain = CFS_BUF_INIT, packed = CFS_BUF_INIT;
	struct cfs_sealed_blob b = {.data = CFS_BUF_INIT};
	int setup = cfs_repo_reader_new(p->from, &rd);
	if (setup == 0)
		setup = cfs_repo_sealer_new(p->to, &s);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->head)
			pthread_cond_wait(&p->work, &p->lock);
		if (!p->head)
			break; /* stop, and nothing left */
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		bool skip = p->error != 0;
		pthread_mutex_unlock(&p->lock);

		uint64_t stored = 0;
		bool sent = false;
		int e = skip ? 0 : setup;
		if (!skip && e == 0)
			e = job_run(p, j, rd, s, &plain, &packed, &b, &stored, &sent);

		pthread_mutex_lock(&p->lock);
		if (e < 0)
			job_fail_locked(p, e, j);
		else if (!skip && sent) {
			p->blobs_sent++;
			p->bytes_sent += stored;
		} else if (!skip) {
			p->blobs_present++;
		}
		if (!skip && j->kind == JOB_READ && e == 0)
			p->bytes_read += j->loc.stored_len;
		p->queued -= j->weight;
		p->pending--;
		pthread_cond_broadcast(&p->space);
		pthread_mutex_unlock(&p->lock);
		free(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	cfs_buf_release(&plain);
	cfs_buf_release(&packed);
	cfs_buf_release(&b.data);
	cfs_repo_sealer_free(s);
	cfs_repo_reader_free(rd);
	return NULL;
}

static int pool_start(struct pool *p, struct cfs_repo *from, struct cfs_repo *to)
{
	*p = (struct pool){.from = from, .to = to};
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->space, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus < 1 ? 1 : cpus > COPY_WORKERS_MAX ? COPY_WORKERS_MAX : (unsigned)cpus;
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			break;
		p->n_threads++;
	}
	return p->n_threads ? 0 : -EAGAIN;
}

/* Let the workers end what is queued, join them. */
static void pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	p->n_threads = 0;
	while (p->head) {
		struct job *j = p->head;
		p->head = j->next;
		free(j);
	}
	free(p->error_path);
	pthread_cond_destroy(&p->space);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
}

/* Queue a job (takes it, also on failure); the workers' first error. */
static int pool_put(struct pool *p, struct job *j)
{
	pthread_mutex_lock(&p->lock);
	while (!p->error && p->pending && p->queued + j->weight > COPY_QUEUE_BYTES)
		pthread_cond_wait(&p->space, &p->lock);
	int e = p->error;
	if (!e) {
		j->next = NULL;
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->queued += j->weight;
		p->pending++;
		pthread_cond_signal(&p->work);
		j = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	free(j);
	return e;
}

/* Wait until every queued job ended; the first error. */
static int pool_drain(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->pending)
		pthread_cond_wait(&p->space, &p->lock);
	int e = p->error;
	pthread_mutex_unlock(&p->lock);
	return e;
}

/* ---- the walk ----------------------------------------------------------- */

/* One directory on the way from the root: its entries as the source has
 * them, updated in place (subtree ids, and extents when chunks are cut
 * again) before they are stored in the destination. */
/*
 * One directory on the way from the root. A large directory is read one
 * source fragment at a time and written one destination fragment at a
 * time, so that memory holds at most a fragment or two of it (a fragment
 * is at most CFS_TREE_FRAG_MAX entries or CFS_TREE_FRAG_BYTES), whatever
 * its size.
 */
struct frame {
	struct cfs_tree in;      /* owned: the source's entries (the directory, or its current fragment) */
	struct cfs_tree src_idx; /* owned: the source's fragment index, or empty */
	size_t next_frag;        /* the next of src_idx's fragments to read */
	struct cfs_id src;       /* its id in the source */
	size_t i;                /* the entry of `in` being handled */
	struct cfs_tree out;     /* owned: entries handled (subtree ids, extents updated), not yet stored */
	size_t out_bytes;        /* their encoding */
	struct cfs_tree idx;     /* owned: the destination's fragments stored so far */
	size_t path_len;         /* of its path in ctx.path */
};

struct identity {
	struct cfs_id repo, snap;
};

struct ctx {
	struct cfs_repo *from, *to; /* borrowed */
	const struct cfs_copy_options *o;
	struct cfs_copy_result *res;
	struct pool pool;
	bool shared;
	bool same_trees;  /* shared: a tree's id carries over when its version is the destination's */
	bool tree_v2;     /* the destination cuts large directories into fragments */
	struct frame **stack;
	size_t depth, cap;
	struct cfs_buf path; /* the path of the entry being handled, NUL after it */
	struct cfs_idset tree_memo; /* shared + same_trees: source trees done in this run */
	struct cfs_idset sent;      /* chunks queued in this snapshot */
	struct cfs_repo_reader *rd; /* the calling thread's reader of the source (re-chunking) */
	struct cfs_buf stream;      /* re-chunking: bytes of a region not cut yet */
	struct cfs_buf blob;        /* re-chunking: one source chunk */
	/* progress */
	int64_t start_ns, next_ns;
	uint64_t snapshots_done, snapshots_total, blobs_main, bytes_read_main;
	uint64_t blobs_present_main, blobs_sent_main, bytes_sent_main; /* decided on this thread */
};

static void progress(struct ctx *c, bool done)
{
	if (!c->o->progress)
		return;
	int64_t now = cfs_mono_ns();
	if (!cfs_progress_due(&c->next_ns, now, done))
		return;
	struct cfs_copy_progress pr = {
		.snapshots_done = c->snapshots_done,
		.snapshots_total = c->snapshots_total,
		.elapsed_ns = now - c->start_ns,
		.done = done,
	};
	pthread_mutex_lock(&c->pool.lock);
	pr.blobs = c->blobs_main;
	pr.bytes_read = c->bytes_read_main + c->pool.bytes_read;
	pr.bytes_sent = c->pool.bytes_sent + c->bytes_sent_main;
	pthread_mutex_unlock(&c->pool.lock);
	c->o->progress(c->o->progress_ud, &pr);
}

static int fail_at(struct ctx *c, int e, const char *kind, const struct cfs_id *id)
{
	if (c->res->error_kind)
		return e;
	c->res->error_kind = kind;
	if (id) {
		c->res->error_object = *id;
		c->res->has_error_object = true;
	}
	free(c->res->error_path);
	c->res->error_path = strndup((const char *)c->path.data, c->path.len);
	return e;
}

/* Set c->path to that of frame f plus "/name". */
static int path_enter(struct ctx *c, const struct frame *f, const uint8_t *name, size_t len)
{
	c->path.len = f->path_len;
	int e = f->path_len == 1 ? 0 : cfs_buf_append(&c->path, "/", 1);
	if (e == 0)
		e = cfs_buf_append(&c->path, name, len);
	if (e == 0)
		e = cfs_buf_append(&c->path, "", 1);
	if (e == 0)
		c->path.len--;
	return e;
}

static void frame_free(struct frame *f)
{
	if (!f)
		return;
	cfs_tree_release(&f->in);
	cfs_tree_release(&f->src_idx);
	cfs_tree_release(&f->out);
	cfs_tree_release(&f->idx);
	free(f);
}

/* Read the next fragment of f's source directory into f->in, checked
 * against its index record as a reader checks it. */
static int frame_next_frag(struct ctx *c, struct frame *f)
{
	const struct cfs_tree_frag *rec = &f->src_idx.frags[f->next_frag];
	const struct cfs_tree_frag *next = f->next_frag + 1 < f->src_idx.n_frags ? rec + 1 : NULL;
	cfs_tree_release(&f->in);
	f->i = 0;
	int e = cfs_repo_get_tree_object(c->from, &rec->id, &f->in);
	if (e == 0 && f->in.n_frags)
		e = -EPROTO; /* a fragment that is an index itself */
	if (e == 0)
		e = cfs_tree_frag_check(&f->in, rec, next);
	if (e < 0)
		return fail_at(c, e, "tree", &rec->id);
	f->next_frag++;
	return 0;
}

/* Read source tree id and push it. */
static int push_tree(struct ctx *c, const struct cfs_id *id, size_t path_len)
{
	if (c->depth == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		struct frame **s = reallocarray(c->stack, cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		c->stack = s;
		c->cap = cap;
	}
	struct frame *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->in = (struct cfs_tree)CFS_TREE_INIT;
	f->src_idx = (struct cfs_tree)CFS_TREE_INIT;
	f->out = (struct cfs_tree)CFS_TREE_INIT;
	f->idx = (struct cfs_tree)CFS_TREE_INIT;
	f->src = *id;
	f->path_len = path_len;
	int e = cfs_repo_get_tree_object(c->from, id, &f->in);
	if (e < 0) {
		frame_free(f);
		return fail_at(c, e, "tree", id);
	}
	if (f->in.n_frags) {
		f->src_idx = f->in;
		f->in = (struct cfs_tree)CFS_TREE_INIT;
		e = frame_next_frag(c, f);
		if (e < 0) {
			frame_free(f);
			return e;
		}
	}
	c->stack[c->depth++] = f;
	return 0;
}

/* The queue weight of a job: its bytes, or those it will hold. */
static struct job *job_new(enum job_kind kind, const struct cfs_id *id, size_t n)
{
	struct job *j = malloc(sizeof(*j) + n);
	if (!j)
		return NULL;
	*j = (struct job){.kind = kind, .id = *id, .n = n};
	return j;
}

static void memo_add(struct cfs_idset *s, const struct cfs_id *id, size_t max)
{
	if (cfs_idset_count(s) >= max)
		cfs_idset_clear(s);
	(void)cfs_idset_add(s, id); /* a memo: -ENOMEM only costs work */
}

/* Shared parameters: send each chunk of file e the destination lacks. */
static int copy_extents(struct ctx *c, const struct cfs_tree_entry *e)
{
	for (uint32_t k = 0; k < e->n_extents; k++) {
		const struct cfs_id *id = &e->extents[k].id;
		struct cfs_blob_loc loc;
		c->blobs_main++;
		int st = cfs_repo_blob_state(c->to, id, NULL);
		if (st < 0)
			return st;
		if (st == CFS_BLOB_USABLE) {
			c->blobs_present_main++;
			continue;
		}
		if (cfs_idset_contains(&c->sent, id)) {
			c->blobs_present_main++;
			continue;
		}
		int r = cfs_repo_blob_loc(c->from, id, &loc);
		if (r < 0)
			return fail_at(c, r, "blob", id);
		struct job *j = job_new(JOB_READ, id, c->path.len);
		if (!j)
			return -ENOMEM;
		j->loc = loc;
		j->weight = loc.raw_len + loc.stored_len;
		memcpy(j->data, c->path.data, c->path.len);
		r = pool_put(&c->pool, j);
		if (r < 0)
			return r;
		memo_add(&c->sent, id, COPY_SENT_MEMO_MAX);
		progress(c, false);
		if (c->o->interrupted && *c->o->interrupted)
			return -EINTR;
	}
	return 0;
}

/* Re-chunking: store one chunk the destination's chunker cut. */
static int rechunk_put(struct ctx *c, const uint8_t *p, size_t n, uint64_t off, struct cfs_extent **v, size_t *nv,
		       size_t *cap)
{
	if (*nv == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct cfs_extent *x = reallocarray(*v, ncap, sizeof(*x));
		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = ncap;
	}
	struct cfs_extent *x = &(*v)[*nv];
	*x = (struct cfs_extent){.offset = off, .len = (uint32_t)n};
	c->blobs_main++;
	int r = cfs_repo_claim_blob(c->to, p, n, &x->id);
	if (r < 0)
		return r;
	(*nv)++;
	if (r == 0) {
		c->blobs_present_main++;
		return 0;
	}
	struct job *j = job_new(JOB_SEAL, &x->id, n);
	if (!j)
		return -ENOMEM;
	j->weight = n;
	memcpy(j->data, p, n);
	return pool_put(&c->pool, j);
}

/*
 * Parameters not shared: read file e's content from the source and cut it
 * again with the destination's chunker, region by region (a run of
 * adjacent extents; holes stay holes), as a backup cuts each data region
 * of a sparse file from its start. The new extents replace e's.
 */
static int rechunk_file(struct ctx *c, struct cfs_tree_entry *e)
{
	const struct cfs_chunker *ch = cfs_repo_chunker(c->to);
	struct cfs_extent *v = NULL;
	size_t nv = 0, cap = 0;
	int r = 0;

	for (uint32_t k = 0; k < e->n_extents && r == 0;) {
		uint64_t region = e->extents[k].offset, pos = region;
		size_t done_off = 0; /* bytes of the region already cut */
		cfs_buf_reset(&c->stream);
		for (;;) {
			bool last = k + 1 >= e->n_extents || e->extents[k + 1].offset != pos + e->extents[k].len;
			const struct cfs_extent *x = &e->extents[k];
			struct cfs_blob_loc loc;
			r = cfs_repo_blob_loc(c->from, &x->id, &loc);
			if (r == 0)
				r = cfs_repo_reader_get_blob_at(c->rd, &x->id, &loc, &c->blob);
			if (r == 0 && c->blob.len != x->len)
				r = -EBADMSG; /* the tree says another length */
			if (r < 0) {
				r = fail_at(c, r, "blob", &x->id);
				break;
			}
			c->bytes_read_main += loc.stored_len;
			r = cfs_buf_append(&c->stream, c->blob.data, c->blob.len);
			if (r < 0)
				break;
			pos += x->len;
			k++;
			size_t used = 0;
			while (used < c->stream.len) {
				size_t cut = cfs_chunker_next(ch, c->stream.data + used, c->stream.len - used, last);
				if (cut == 0)
					break;
				r = rechunk_put(c, c->stream.data + used, cut, region + done_off, &v, &nv, &cap);
				if (r < 0)
					break;
				used += cut;
				done_off += cut;
			}
			if (r < 0)
				break;
			memmove(c->stream.data, c->stream.data + used, c->stream.len - used);
			c->stream.len -= used;
			progress(c, false);
			if (c->o->interrupted && *c->o->interrupted) {
				r = -EINTR;
				break;
			}
			if (last)
				break;
		}
	}
	if (r < 0) {
		free(v);
		return r;
	}
	free(e->extents);
	e->extents = v;
	e->n_extents = (uint32_t)nv;
	return 0;
}

static int put_tree(struct ctx *c, const struct cfs_tree *t, struct cfs_id *ret_id)
{
	uint64_t stored = 0;
	int e = cfs_repo_put_tree(c->to, t, NULL, ret_id, &stored);
	if (e < 0)
		return e;
	if (stored) {
		c->blobs_sent_main++;
		c->bytes_sent_main += stored;
	}
	return 0;
}

/* Store the entries of f->out as a fragment of its directory. */
static int frame_cut(struct ctx *c, struct frame *f)
{
	struct cfs_id id;
	int r = put_tree(c, &f->out, &id);
	if (r == 0)
		r = cfs_tree_add_frag(&f->idx, f->out.entries[0].name, f->out.entries[0].name_len, &id,
				      (uint32_t)f->out.n, cfs_tree_node_count(&f->out));
	cfs_tree_release(&f->out);
	f->out_bytes = 0;
	return r;
}

/* Entry f->i is handled (its chunks stored or claimed, its subtree
 * stored): it moves to f->out, and a fragment is cut after it where a
 * backup would cut (tree version 2; ingest's frame_add). */
static int entry_done(struct ctx *c, struct frame *f)
{
	struct cfs_tree_entry *e = &f->in.entries[f->i];
	size_t bytes = cfs_tree_entry_size(e);
	int r = cfs_tree_add(&f->out, e); /* takes e's fields */
	if (r < 0)
		return r;
	f->i++;
	f->out_bytes += bytes;
	if (c->tree_v2 && cfs_tree_cut_after(&f->out.entries[f->out.n - 1], f->out.n, f->out_bytes))
		return frame_cut(c, f);
	return 0;
}

/* Frame f is done: store it, as a backup would (ingest's frame_finish). */
static int frame_finish(struct ctx *c, struct frame *f, struct cfs_id *ret_id)
{
	if (f->idx.n_frags == 0)
		return put_tree(c, &f->out, ret_id);
	if (f->out.n) {
		int r = frame_cut(c, f);
		if (r < 0)
			return r;
	}
	if (f->idx.n_frags == 1) {
		/* Cut right at its last entry, once: one fragment is the tree. */
		*ret_id = f->idx.frags[0].id;
		return 0;
	}
	return put_tree(c, &f->idx, ret_id);
}

/*
 * Copy the tree root (and everything under it) into the destination:
 * depth first, an explicit stack, children stored before their parent.
 * With shared parameters, chunks are only queued (their ids do not
 * change); re-chunked files get their new ids here. *ret_root: the
 * destination's id of the root.
 */
static int copy_tree(struct ctx *c, const struct cfs_id *root, struct cfs_id *ret_root)
{
	int r;
	c->path.len = 0;
	r = cfs_buf_append(&c->path, "/", 2);
	if (r < 0)
		return r;
	c->path.len = 1;
	if (c->same_trees && cfs_idset_contains(&c->tree_memo, root)) {
		*ret_root = *root;
		return 0;
	}
	r = push_tree(c, root, 1);
	while (r == 0 && c->depth) {
		struct frame *f = c->stack[c->depth - 1];
		if (f->i == f->in.n && f->next_frag < f->src_idx.n_frags) {
			r = frame_next_frag(c, f);
			continue;
		}
		if (f->i == f->in.n) {
			struct cfs_id id;
			r = frame_finish(c, f, &id);
			if (r < 0) {
				r = fail_at(c, r, "tree", &f->src);
				break;
			}
			/* With shared parameters a tree the source stored as this
			 * version is stored as the same bytes, so its id carries
			 * over and the next snapshots' unchanged directories are
			 * not walked again. (A tree of an older version, from
			 * before an upgrade, gets a new id.) */
			if (c->same_trees && memcmp(&id, &f->src, sizeof(id)) == 0)
				memo_add(&c->tree_memo, &id, COPY_TREE_MEMO_MAX);
			c->depth--;
			frame_free(f);
			if (!c->depth) {
				*ret_root = id;
				break;
			}
			struct frame *p = c->stack[c->depth - 1];
			p->in.entries[p->i].subtree = id;
			r = entry_done(c, p);
			continue;
		}
		struct cfs_tree_entry *e = &f->in.entries[f->i];
		r = path_enter(c, f, e->name, e->name_len);
		if (r < 0)
			break;
		if (e->type == CFS_FT_DIR) {
			if (c->same_trees && cfs_idset_contains(&c->tree_memo, &e->subtree)) {
				r = entry_done(c, f);
				continue;
			}
			r = push_tree(c, &e->subtree, c->path.len);
			continue;
		}
		if (e->type == CFS_FT_REG && e->n_extents)
			r = c->shared ? copy_extents(c, e) : rechunk_file(c, e);
		if (r == 0)
			r = entry_done(c, f);
		if (r == 0 && c->o->interrupted && *c->o->interrupted)
			r = -EINTR;
	}
	while (c->depth)
		frame_free(c->stack[--c->depth]);
	return r;
}

/* ---- snapshots ---------------------------------------------------------- */

static struct identity identity_of(const struct cfs_snapshot *s, const struct cfs_id *repo, const struct cfs_id *id)
{
	if (s->has_origin)
		return (struct identity){s->origin.repo, s->origin.snapshot};
	return (struct identity){*repo, *id};
}

/* The destination's snapshots by identity (a plain array: listings are
 * small next to the data, and searched once per copied snapshot). */
struct have {
	struct identity *who;
	struct cfs_id *ids;
	size_t n, cap;
};

static int have_add(struct have *h, const struct identity *who, const struct cfs_id *id)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct identity *w = reallocarray(h->who, cap, sizeof(*w));
		if (!w)
			return -ENOMEM;
		h->who = w;
		struct cfs_id *v = reallocarray(h->ids, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->ids = v;
		h->cap = cap;
	}
	h->who[h->n] = *who;
	h->ids[h->n++] = *id;
	return 0;
}

static const struct cfs_id *have_find(const struct have *h, const struct identity *who)
{
	for (size_t i = 0; i < h->n; i++)
		if (memcmp(&h->who[i], who, sizeof(*who)) == 0)
			return &h->ids[i];
	return NULL;
}

/* Copy source snapshot s (id) whose identity the destination lacks. */
static int copy_snapshot(struct ctx *c, const struct cfs_snapshot_list *src, const struct cfs_snapshot *s,
			 const struct cfs_id *id, struct have *h, struct cfs_id *ret_new)
{
	struct cfs_snapshot m;
	struct cfs_id root;
	cfs_idset_clear(&c->sent);
	int r = copy_tree(c, &s->root, &root);
	if (r == 0)
		r = pool_drain(&c->pool);
	if (r < 0)
		return r;
	r = cfs_snapshot_copy(s, &m);
	if (r < 0)
		return r;
	struct identity who = identity_of(s, cfs_repo_id(c->from), id);
	m.root = root;
	m.has_origin = true;
	m.origin = (struct cfs_snapshot_origin){who.repo, who.snap};
	m.has_parent = false;
	memset(&m.parent, 0, sizeof(m.parent));
	if (s->has_parent) {
		for (size_t i = 0; i < src->n; i++) {
			if (memcmp(&src->ids[i], &s->parent, sizeof(s->parent)) != 0)
				continue;
			struct identity pw = identity_of(&src->items[i], cfs_repo_id(c->from), &src->ids[i]);
			const struct cfs_id *pid = have_find(h, &pw);
			if (pid) {
				m.has_parent = true;
				m.parent = *pid;
			}
			break;
		}
	}
	r = cfs_repo_commit_snapshot(c->to, &m, ret_new);
	if (r == 0)
		r = have_add(h, &who, ret_new);
	else
		(void)fail_at(c, r, "manifest", NULL);
	cfs_snapshot_release(&m);
	return r;
}

static int find_index(const struct cfs_snapshot_list *l, const struct cfs_id *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (memcmp(&l->ids[i], id, sizeof(*id)) == 0)
			return (int)i;
	return -ENOENT;
}

struct order {
	size_t src;    /* index in the source listing */
	size_t out;    /* index in new_ids */
};

static int cmp_order(const void *a, const void *b, void *ud)
{
	const struct cfs_snapshot_list *l = ud;
	const struct order *x = a, *y = b;
	int64_t tx = l->items[x->src].time_ns, ty = l->items[y->src].time_ns;
	return tx < ty ? -1 : tx > ty ? 1 : x->out < y->out ? -1 : x->out > y->out;
}

static int run(struct ctx *c, struct cfs_snapshot_list *src, struct have *h, struct order *ord, size_t n)
{
	struct cfs_copy_result *res = c->res;
	for (size_t k = 0; k < n; k++) {
		const struct cfs_snapshot *s = &src->items[ord[k].src];
		const struct cfs_id *id = &src->ids[ord[k].src];
		struct identity who = identity_of(s, cfs_repo_id(c->from), id);
		const struct cfs_id *there = have_find(h, &who);
		/* A snapshot of the destination itself, copied back. */
		if (!there && memcmp(&who.repo, cfs_repo_id(c->to), sizeof(who.repo)) == 0) {
			for (size_t i = 0; i < h->n && !there; i++)
				if (memcmp(&h->ids[i], &who.snap, sizeof(who.snap)) == 0)
					there = &h->ids[i];
		}
		res->has_error_snapshot = true;
		res->error_snapshot = *id;
		if (there) {
			res->new_ids[ord[k].out] = *there;
			res->snapshots_present++;
		} else {
			int r = copy_snapshot(c, src, s, id, h, &res->new_ids[ord[k].out]);
			if (r < 0)
				return r;
			res->snapshots_copied++;
		}
		res->has_error_snapshot = false;
		c->snapshots_done++;
		progress(c, false);
	}
	return 0;
}

int cfs_copy_run(struct cfs_repo *from, struct cfs_repo *to, const struct cfs_copy_options *o,
		 struct cfs_copy_result *ret)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list src = {0};
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list dst = {0};
	_cleanup_free_ struct order *ord = NULL;
	struct have h = {0};
	struct ctx c = {.from = from, .to = to, .o = o, .res = ret, .path = CFS_BUF_INIT};
	int r;

	*ret = (struct cfs_copy_result){0};
	c.shared = ret->params_shared = cfs_repo_params_shared(from, to);
	c.same_trees = c.shared;
	c.tree_v2 = cfs_repo_tree_version(to) >= 2;
	c.tree_memo = (struct cfs_idset)CFS_IDSET_INIT;
	c.sent = (struct cfs_idset)CFS_IDSET_INIT;
	c.stream = (struct cfs_buf)CFS_BUF_INIT;
	c.blob = (struct cfs_buf)CFS_BUF_INIT;
	c.start_ns = cfs_mono_ns();

	r = cfs_repo_list_snapshots(from, &src);
	if (r < 0)
		return r;
	r = cfs_repo_list_snapshots(to, &dst);
	if (r < 0)
		return r;
	size_t n = o->n ? o->n : src.n;
	ord = calloc(n + 1, sizeof(*ord));
	ret->new_ids = calloc(n + 1, sizeof(*ret->new_ids));
	if (!ord || !ret->new_ids)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		int i = o->n ? find_index(&src, &o->snapshots[k]) : (int)k;
		if (i < 0) {
			ret->has_error_snapshot = true;
			ret->error_snapshot = o->snapshots[k];
			return i;
		}
		ord[k] = (struct order){(size_t)i, k};
	}
	qsort_r(ord, n, sizeof(*ord), cmp_order, &src);
	for (size_t i = 0; i < dst.n; i++) {
		struct identity who = identity_of(&dst.items[i], cfs_repo_id(to), &dst.ids[i]);
		r = have_add(&h, &who, &dst.ids[i]);
		if (r < 0)
			goto out;
	}
	c.snapshots_total = n;
	r = cfs_repo_reader_new(from, &c.rd);
	if (r < 0)
		goto out;
	r = pool_start(&c.pool, from, to);
	if (r < 0)
		goto out_reader;
	r = run(&c, &src, &h, ord, n);
	/* Whatever was stored so far goes into the store's index, so that a
	 * copy run again after an interruption does not send it twice (a
	 * kill -9 loses at most the packs being filled). */
	int e = pool_drain(&c.pool);
	if (r == -EINTR && e == 0)
		(void)cfs_repo_write_pending_index(to);
	if (r == 0)
		r = e;
	progress(&c, true);
	pthread_mutex_lock(&c.pool.lock);
	ret->blobs_sent = c.pool.blobs_sent + c.blobs_sent_main;
	ret->bytes_sent = c.pool.bytes_sent + c.bytes_sent_main;
	ret->blobs_present = c.pool.blobs_present + c.blobs_present_main;
	ret->bytes_read = c.pool.bytes_read + c.bytes_read_main;
	if (c.pool.error && !ret->error_kind && c.pool.has_error_id) {
		ret->error_kind = "blob";
		ret->error_object = c.pool.error_id;
		ret->has_error_object = true;
		free(ret->error_path);
		ret->error_path = TAKE_PTR(c.pool.error_path);
	}
	pthread_mutex_unlock(&c.pool.lock);
	pool_stop(&c.pool);
out_reader:
	c.rd = cfs_repo_reader_free(c.rd);
out:
	free(h.who);
	free(h.ids);
	free(c.stack);
	cfs_buf_release(&c.path);
	cfs_buf_release(&c.stream);
	cfs_buf_release(&c.blob);
	cfs_idset_release(&c.tree_memo);
	cfs_idset_release(&c.sent);
	return r;
}

void cfs_copy_result_release(struct cfs_copy_result *r)
{
	if (!r)
		return;
	free(r->new_ids);
	free(r->error_path);
	r->new_ids = NULL;
	r->error_path = NULL;
}
