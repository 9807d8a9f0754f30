/* SPDX-License-Identifier: MIT */
/*
 * prune.c — reclaim the space of data no snapshot references, while
 * backups, mounts and restores go on (the steps are in repo.h, the
 * protocol and why it holds in chronofs-repository(5), DELETION).
 *
 * Memory is bounded by settings, not by the repository: the marked blobs
 * live in a disk-backed set (cfs_catalog_idstore, ~20 MiB), trees are
 * read from an explicit stack of ids, a bounded window of them ahead on
 * threads (fetch.c), index objects one at a time, packs to repack a span
 * at a time on each of two threads. What grows with the repository is one
 * accounting record per pack (64 bytes: 4 MiB for 65,536 packs, a terabyte
 * of data) and the condemn record's list of packs.
 *
 * Cost follows the work: a tree already marked is not read again (a
 * subtree shared by thirty snapshots is read once), packs are accounted
 * from the catalog (no pack is read unless it is repacked), and only the
 * live blobs of a repacked pack are read.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

/* Forget and done records are kept this long after they were put, so that
 * a catalog that has not synchronised for less than that learns from them
 * why snapshots and packs went (one older than that warns once, as after a
 * loss). */
#define RECORD_KEEP_NS (30LL * 24 * 3600 * 1000000000LL)

enum pack_fate {
	FATE_KEEP,
	FATE_REPACK,  /* live blobs move to new packs, then it is garbage */
	FATE_GARBAGE, /* condemned by this prune */
	FATE_WAITING, /* condemned by an earlier prune that waits for writers */
};

struct pack_acct {
	struct cfs_id id;
	uint64_t size;
	uint64_t live_bytes; /* stored bytes of marked blobs located in it */
	uint64_t live_blobs;
	uint32_t count; /* its entries, as the catalog records them */
	uint64_t unused; /* its bytes that are neither live blobs nor overhead */
	uint8_t fate;
	bool in_batch; /* FATE_REPACK, in the batch being repacked */
};

/* Bytes of a pack that are not blobs: its header with count entries,
 * sealed (nonce and tag, 28 bytes at most), and the trailer. They are no
 * waste: a repacked pack has them too. */
static uint64_t pack_overhead(uint32_t count)
{
	return CFS_PACK_HEADER_FIXED + (uint64_t)count * CFS_PACK_ENTRY_SIZE + 28 + CFS_PACK_TRAILER_SIZE;
}

/* A condemn record of an earlier prune and what belongs to it. */
struct pending_record {
	struct cfs_id id;
	struct repo_record rec;     /* the condemn record (kind 0 if gone) */
	struct repo_record arm_rec; /* its arm record: the lock objects to wait for */
	bool have_arm, have_done, ready;
	struct cfs_id arm;
};

struct prune {
	struct cfs_repo *r;
	const struct cfs_repo_prune_options *o;
	struct cfs_repo_prune_result *res;
	struct cfs_catalog_idstore *marks; /* owned: blobs (trees and data) reached */
	struct cfs_idset snaps_marked;     /* snapshots whose trees are marked */
	struct cfs_idset relisted;         /* packs listed again for the copies they hold */
	struct pack_acct *packs;           /* owned, sorted by id */
	size_t n_packs, cap_packs;
	struct pending_record *pending;    /* owned */
	size_t n_pending;
	struct cfs_id *expired;            /* owned: forget and done records past RECORD_KEEP_NS */
	size_t n_expired;
	struct cfs_catalog_batch *b;       /* owned: dead blob entries to drop */
	uint64_t packs_condemned, bytes_condemned; /* by earlier prunes, still there */
	bool measure_only; /* cfs_repo_space: any open, no lock, catalog not written */
	int64_t stage_ns;  /* monotonic: when the last stage ended (--verbose) */
};

static int check_interrupted(const struct prune *p)
{
	return p->o->interrupted && *p->o->interrupted ? -EINTR : 0;
}

/* --verbose: each stage's end and the time since the last one. */
static void stage(struct prune *p, const char *what)
{
	int64_t now = cfs_mono_ns();
	log_debug("prune: %s in %" PRId64 " ms", what, (now - p->stage_ns) / 1000000);
	p->stage_ns = now;
}

static const char *where(const struct prune *p)
{
	return cfs_objstore_location(p->r->store);
}

/* ---- deleting ---------------------------------------------------------- */

/* Object names to delete in one call, and their results. */
struct name_list {
	char (*buf)[96];   /* owned: the names */
	const char **v;    /* owned: v[i] = buf[i] */
	int *errs;         /* owned: the result of each */
	size_t n;
};

static void name_list_release(struct name_list *l)
{
	free(l->buf);
	free(l->v);
	free(l->errs);
	*l = (struct name_list){0};
}

/* Room for n names (n >= 1 is allocated even for 0), all empty. */
static int name_list_init(struct name_list *l, size_t n)
{
	*l = (struct name_list){.n = n};
	l->buf = calloc(n ? n : 1, sizeof(*l->buf));
	l->v = calloc(n ? n : 1, sizeof(*l->v));
	l->errs = calloc(n ? n : 1, sizeof(*l->errs));
	if (!l->buf || !l->v || !l->errs) {
		name_list_release(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		l->v[i] = l->buf[i];
	return 0;
}

/* prefix + the id's hex into l's name i. */
static void name_list_set_id(struct name_list *l, size_t i, const char *prefix, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(id, hex);
	snprintf(l->buf[i], sizeof(l->buf[i]), "%s%s", prefix, hex);
}

/* The distinct reasons a batch's failures are logged under, at most (the
 * S3 backend has logged each refused key with the server's words). */
#define DELETE_LOG_REASONS 10

/*
 * Delete l's names in as few requests as the store allows
 * (cfs_objstore_delete_many: 1000 names a request on S3), every name tried
 * whatever happens to the others; a name already missing is deleted.
 * l->errs gets each name's result. Returns 0, or the first error, logged
 * with the names that stay (the next prune goes on with them). The fault
 * point "prune.delete" is checked once per call, before it: calls are the
 * steps of the protocol (a record's packs, then its index objects), and a
 * failure there fails every name of the call.
 */
static int delete_objects(struct prune *p, struct name_list *l)
{
	size_t reasons = 0;
	int e = l->n ? CFS_FAULT("prune.delete") : 0;
	if (e < 0) {
		for (size_t i = 0; i < l->n; i++)
			l->errs[i] = e;
	} else {
		e = cfs_objstore_delete_many(p->r->store, l->v, l->n, l->errs);
	}
	/* One line per reason (an allocation failure or a full disk fails
	 * every name alike), naming the first object it stopped. */
	for (size_t i = 0; i < l->n; i++) {
		size_t same = 0;
		bool seen = false;
		if (l->errs[i] == 0)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = l->errs[k] == l->errs[i];
		if (seen)
			continue;
		for (size_t k = i; k < l->n; k++)
			same += l->errs[k] == l->errs[i];
		if (reasons++ == DELETE_LOG_REASONS)
			break;
		if (same == 1)
			log_error("Cannot delete %s from %s: %s (the next prune goes on with it)", l->v[i], where(p),
				  strerror(-l->errs[i]));
		else
			log_error("Cannot delete %zu of %zu objects from %s, %s the first: %s (the next prune goes on "
				  "with them)",
				  same, l->n, where(p), l->v[i], strerror(-l->errs[i]));
	}
	return e;
}

/* ---- marking ----------------------------------------------------------- */

static int push_id(struct cfs_buf *stack, const struct cfs_id *id)
{
	return cfs_buf_append(stack, id->b, CFS_ID_SIZE);
}

/* Trees are read on FETCH_THREADS threads (fetch.c), FETCH_WINDOW
 * submitted at most: the bench's forget 20 marks 27,444 trees, one at a
 * time 2.7 s of a 8.7 s prune. */
#define FETCH_THREADS 4
#define FETCH_WINDOW 64

/* A tree object read: its blobs and subtrees marked, the subtrees not
 * marked before pushed to be read. */
static int mark_entries(struct prune *p, const struct cfs_tree *t, struct cfs_buf *stack)
{
	int e = 0;
	p->res->trees++;
	for (size_t k = 0; k < t->n_frags && e == 0; k++) {
		e = cfs_catalog_idstore_add(p->marks, &t->frags[k].id);
		if (e > 0)
			e = push_id(stack, &t->frags[k].id);
	}
	for (size_t i = 0; i < t->n && e >= 0; i++) {
		const struct cfs_tree_entry *en = &t->entries[i];
		for (uint32_t x = 0; x < en->n_extents && e >= 0; x++)
			e = cfs_catalog_idstore_put(p->marks, &en->extents[x].id);
		if (e >= 0 && en->type == CFS_FT_DIR) {
			e = cfs_catalog_idstore_add(p->marks, &en->subtree);
			if (e > 0)
				e = push_id(stack, &en->subtree);
		}
	}
	return e < 0 ? e : 0;
}

/* Mark everything a snapshot's root tree reaches. A tree already marked
 * was read, with everything below it, by an earlier snapshot or this one:
 * it is not read again. A tree that cannot be read stops the prune (what
 * it references is unknown, so nothing may be deleted). */
static int mark_tree(struct prune *p, struct cfs_repo_fetch *f, const struct cfs_snapshot *s,
		     const struct cfs_id *root)
{
	_cleanup_buf_ struct cfs_buf stack = CFS_BUF_INIT; /* marked, not submitted */
	int e = cfs_catalog_idstore_add(p->marks, root);
	if (e <= 0)
		return e;
	e = push_id(&stack, root);
	while (e == 0 && (stack.len || cfs_repo_fetch_in_flight(f))) {
		struct cfs_id id;
		_cleanup_(cfs_tree_release) struct cfs_tree t = CFS_TREE_INIT;
		while (e == 0 && stack.len && cfs_repo_fetch_in_flight(f) < FETCH_WINDOW) {
			stack.len -= CFS_ID_SIZE;
			memcpy(id.b, stack.data + stack.len, CFS_ID_SIZE);
			e = cfs_repo_fetch_submit(f, &id);
		}
		if (e == 0)
			e = check_interrupted(p);
		if (e == 0)
			e = cfs_repo_fetch_next(f, &id, &t);
		if (e < 0) {
			char hex[CFS_ID_HEX_SIZE];
			cfs_id_hex(&id, hex);
			if (e != -EINTR && e != -ENOMEM)
				log_error("Cannot read tree %s of snapshot %s in %s: %s; nothing is deleted (what it "
					  "references is unknown): run chronoctl check",
					  hex, s->name, where(p), strerror(-e));
			return e;
		}
		e = mark_entries(p, &t, &stack);
	}
	return e;
}

/* Mark every snapshot the catalog lists that is not marked yet. */
static int mark_snapshots(struct prune *p)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	_cleanup_(cfs_repo_fetch_freep) struct cfs_repo_fetch *f = NULL;
	int e = cfs_repo_list_snapshots(p->r, &l);
	for (size_t i = 0; i < l.n && e == 0; i++) {
		if (cfs_idset_contains(&p->snaps_marked, &l.ids[i]))
			continue;
		if (!f)
			e = cfs_repo_fetch_new(p->r, FETCH_THREADS, &f);
		if (e == 0)
			e = mark_tree(p, f, &l.items[i], &l.items[i].root);
		if (e == 0 && cfs_idset_add(&p->snaps_marked, &l.ids[i]) < 0)
			e = -ENOMEM;
		if (e == 0)
			p->res->snapshots++;
	}
	return e;
}

/* ---- records of earlier prunes ----------------------------------------- */

static struct pending_record *pending_find(struct prune *p, const struct cfs_id *id)
{
	for (size_t i = 0; i < p->n_pending; i++)
		if (memcmp(p->pending[i].id.b, id->b, CFS_ID_SIZE) == 0)
			return &p->pending[i];
	return NULL;
}

static int pending_add(struct prune *p, const struct cfs_id *id, struct pending_record **ret)
{
	struct pending_record *pr = pending_find(p, id);
	if (!pr) {
		struct pending_record *v = reallocarray(p->pending, p->n_pending + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->pending = v;
		pr = &v[p->n_pending++];
		*pr = (struct pending_record){.id = *id};
	}
	*ret = pr;
	return 0;
}

static int expire_add(struct prune *p, const struct cfs_id *id)
{
	struct cfs_id *v = reallocarray(p->expired, p->n_expired + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->expired = v;
	v[p->n_expired++] = *id;
	return 0;
}

static int record_cb(const char *name, uint64_t size, void *ud)
{
	struct prune *p = ud;
	struct repo_record rec = {0};
	struct pending_record *pr;
	struct cfs_id id;
	(void)size;
	if (strncmp(name, "gc/", 3) != 0 || strlen(name) != 3 + 64 || cfs_hex_decode(name + 3, id.b, CFS_ID_SIZE) < 0)
		return 0;
	int e = cfs_repo_record_get(p->r, &id, &rec);
	if (e == -ENOENT)
		return 0;
	if (e < 0) {
		/* A condemn record that cannot be read would condemn packs
		 * this prune cannot see: nothing is deleted until check and
		 * repair dealt with it. */
		log_error("Cannot read deletion record %s in %s: %s; prune stops (run chronoctl check)", name, where(p),
			  strerror(-e));
		return e == -ENOMEM ? e : -EUCLEAN;
	}
	switch (rec.kind) {
	case REPO_RECORD_CONDEMN:
		e = pending_add(p, &id, &pr);
		if (e == 0) {
			cfs_repo_record_release(&pr->rec);
			pr->rec = rec;
			rec = (struct repo_record){0};
		}
		break;
	case REPO_RECORD_ARM:
	case REPO_RECORD_DONE:
		e = pending_add(p, &rec.of, &pr);
		if (e == 0 && rec.kind == REPO_RECORD_ARM) {
			pr->have_arm = true;
			pr->arm = id;
			cfs_repo_record_release(&pr->arm_rec);
			pr->arm_rec = rec;
			rec = (struct repo_record){0};
		} else if (e == 0) {
			pr->have_done = true;
		}
		if (e == 0 && rec.kind == REPO_RECORD_DONE && cfs_now_ns() - rec.time_ns > RECORD_KEEP_NS)
			e = expire_add(p, &id);
		break;
	case REPO_RECORD_FORGET:
		/* Manifests a killed forget left behind go now, in one call
		 * (a HEAD each first: only those still there are counted). */
		if (rec.n_snapshots && !p->o->dry_run) {
			struct name_list l;
			size_t k = 0;
			e = name_list_init(&l, rec.n_snapshots);
			for (size_t i = 0; i < rec.n_snapshots && e == 0; i++) {
				uint64_t sz;
				name_list_set_id(&l, k, "snapshots/", &rec.snapshots[i]);
				if (cfs_objstore_head(p->r->store, l.v[k], &sz) == 0)
					k++;
			}
			l.n = k;
			if (e == 0)
				e = delete_objects(p, &l);
			for (size_t i = 0; i < l.n; i++)
				p->res->snapshots_deleted += l.errs[i] == 0;
			name_list_release(&l);
		}
		if (e == 0 && cfs_now_ns() - rec.time_ns > RECORD_KEEP_NS)
			e = expire_add(p, &id);
		break;
	default:
		break;
	}
	cfs_repo_record_release(&rec);
	return e;
}

/* Lock objects of other writers, for an arm record (ours and locks/prune
 * are not writers to wait for; a stale one of this host is removed: its
 * process is gone and committed nothing after). */
struct lock_names {
	struct prune *p;
	char **v;
	size_t n;
};

static int lock_names_cb(const struct repo_lock_info *l, void *ud)
{
	struct lock_names *ln = ud;
	if (cfs_repo_lock_is_prune(l->name))
		return 0;
	if (l->stale && !ln->p->o->dry_run)
		return cfs_repo_lock_remove_stale(ln->p->r, l);
	char **v = reallocarray(ln->v, ln->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ln->v = v;
	v[ln->n] = strdup(l->name);
	if (!v[ln->n])
		return -ENOMEM;
	ln->n++;
	return 0;
}

static void lock_names_release(struct lock_names *ln)
{
	for (size_t i = 0; i < ln->n; i++)
		free(ln->v[i]);
	free(ln->v);
	ln->v = NULL;
	ln->n = 0;
}

static int lock_names_get(struct prune *p, struct lock_names *ret)
{
	*ret = (struct lock_names){.p = p};
	int e = cfs_repo_locks_foreach(p->r, lock_names_cb, ret);
	if (e < 0)
		lock_names_release(ret);
	return e;
}

static bool lock_names_has(const struct lock_names *ln, const char *name)
{
	for (size_t i = 0; i < ln->n; i++)
		if (strcmp(ln->v[i], name) == 0)
			return true;
	return false;
}

/* Put the arm record of condemn record `of`: the writers (lock objects)
 * now running, any of which may have missed it. *ret_ready: none. */
static int arm(struct prune *p, const struct cfs_id *of, bool *ret_ready, struct cfs_id *ret_arm)
{
	struct lock_names ln;
	struct repo_record rec = {.kind = REPO_RECORD_ARM, .of = *of};
	int e = lock_names_get(p, &ln);
	if (e < 0)
		return e;
	*ret_ready = ln.n == 0;
	rec.locks = ln.v;
	rec.n_locks = ln.n;
	if (ln.n) {
		e = CFS_FAULT("prune.arm");
		if (e == 0)
			e = cfs_repo_record_put(p->r, &rec, ret_arm);
		p->res->writers_waiting += ln.n;
	}
	lock_names_release(&ln);
	return e;
}

/* Whether every writer an earlier condemn record waits for has ended. */
static int pending_ready(struct prune *p, struct pending_record *pr, const struct lock_names *now)
{
	if (!pr->have_arm) {
		/* Killed between its condemn and arm records: the writers
		 * running now are a superset of those that may have missed
		 * it (it is durable). */
		bool ready;
		int e = arm(p, &pr->id, &ready, &pr->arm);
		if (e < 0)
			return e;
		pr->have_arm = !ready;
		pr->ready = ready;
		return 0;
	}
	size_t waiting = 0;
	for (size_t i = 0; i < pr->arm_rec.n_locks; i++)
		if (lock_names_has(now, pr->arm_rec.locks[i]))
			waiting++;
	pr->ready = waiting == 0;
	p->res->writers_waiting += waiting;
	return 0;
}

/* ---- finishing a condemn record ---------------------------------------- */

/* Pack (its header's entries) goes to the next index object written:
 * a pending/ marker in b. */
static int relist(const struct cfs_id *pack, uint64_t size, const struct cfs_pack_entry *entries, size_t count,
		  struct cfs_catalog_batch *b)
{
	_cleanup_buf_ struct cfs_buf marker = CFS_BUF_INIT;
	char key[128], hex[CFS_ID_HEX_SIZE];
	int e = cfs_buf_append_le64(&marker, size);
	for (size_t i = 0; i < count && e == 0; i++)
		e = cfs_repo_entry_encode(&marker, &entries[i]);
	if (e < 0)
		return e;
	cfs_id_hex(pack, hex);
	snprintf(key, sizeof(key), "pending/%s", hex);
	cfs_catalog_batch_put_meta(b, key, marker.data, marker.len);
	return 0;
}

/*
 * A pack about to be deleted holds a blob a snapshot uses, which this
 * catalog locates in another pack: a copy (two hosts stored it at once,
 * or a pack released after an earlier repack had copied what it held).
 * Each catalog locates a blob in the pack whose index object it applied
 * last, so another catalog may locate it in the pack that goes, and its
 * reads (a restore, a mount) would then name a missing pack for good
 * (t3006, t6005). The pack this catalog locates it in is listed again,
 * by an index object written before the deletion: every catalog loads it
 * as a new one and points the blob there. Once per pack and prune. (A
 * copy in a pack another record condemned cannot be pointed to that way:
 * judge_pack() keeps the pack that goes instead; one this record
 * condemned is listed again if it is released, else the blob's copies
 * both go, and it was not live.)
 */
static int relist_copy(struct prune *p, const struct cfs_id *pack, struct cfs_catalog_batch *b, bool *ret_relisted)
{
	_cleanup_free_ struct cfs_pack_entry *entries = NULL;
	struct cfs_pack_info info;
	size_t count = 0;
	if (cfs_idset_contains(&p->relisted, pack))
		return 0;
	int e = cfs_idset_add(&p->relisted, pack) < 0 ? -ENOMEM : 0;
	if (e == 0)
		e = cfs_catalog_pack_get(p->r->catalog, pack, &info);
	if (e == 0)
		e = cfs_repo_pack_header_read(p->r, pack, info.size, &entries, &count);
	if (e == -ENOMEM || e == -EIO)
		return e;
	if (e < 0)
		return 0; /* unknown or unreadable: check names it, and there is nothing better to point to */
	*ret_relisted = true;
	return relist(pack, info.size, entries, count, b);
}

static bool record_has_pack(const struct repo_record *rec, const struct cfs_id *pack)
{
	for (size_t i = 0; i < rec->n_packs; i++)
		if (memcmp(rec->packs[i].id.b, pack->b, CFS_ID_SIZE) == 0)
			return true;
	return false;
}

/*
 * A condemned pack of the record being finished: its header's entries and,
 * for each, where the catalog locates its id and whether it is marked.
 * Looked up for a batch of packs at once, in id order through a catalog
 * cursor: the look-ups one at a time, random in a cold catalog whose block
 * cache prune keeps small, were most of a finish's time (the bench's
 * forget 20, 46 packs of 2,300 entries each: 1.9-2.0 s on a quiet machine;
 * 0.4-0.6 s in id order, header reads included).
 */
struct judged_entry {
	struct cfs_id at; /* the pack the catalog locates the entry's id in */
	bool found;       /* whether it does */
	bool marked;      /* whether a snapshot uses it (found ones only) */
};

struct judged {
	struct cfs_pack_entry *entries; /* owned */
	struct judged_entry *st;        /* owned: one per entry */
	size_t count;
	int err; /* reading the header: 0, or why it could not be read */
};

static void judged_release(struct judged *j)
{
	free(j->entries);
	free(j->st);
	*j = (struct judged){0};
}

/* Packs are judged in batches of at most this many entries (one pack at
 * least): 48 bytes an entry held, 12 MiB at most. */
#define JUDGE_BATCH_ENTRIES ((size_t)1 << 18)

struct judge_ref {
	const struct cfs_id *id;
	struct judged_entry *st;
};

static int judge_ref_cmp(const void *a, const void *b)
{
	const struct judge_ref *x = a, *y = b;
	return memcmp(x->id->b, y->id->b, CFS_ID_SIZE);
}

/* Read the headers of packs[0..*ret_n) into j[0..*ret_n) and look their
 * entries up: as many packs of packs[0..n) as hold JUDGE_BATCH_ENTRIES
 * entries, one at least. */
static int judge_lookup(struct prune *p, const struct repo_record_pack *packs, size_t n, struct judged *j,
			size_t *ret_n)
{
	_cleanup_(cfs_catalog_cursor_freep) struct cfs_catalog_cursor *cur = NULL;
	_cleanup_free_ struct judge_ref *refs = NULL;
	size_t total = 0, k = 0;
	int e = 0;
	for (*ret_n = 0; *ret_n < n && total < JUDGE_BATCH_ENTRIES && e == 0;) {
		size_t i = (*ret_n)++;
		e = check_interrupted(p);
		if (e == 0)
			j[i].err = cfs_repo_pack_header_read(p->r, &packs[i].id, packs[i].size, &j[i].entries,
							     &j[i].count);
		if (j[i].err == -ENOMEM || j[i].err == -EIO)
			e = j[i].err;
		if (e == 0 && j[i].err == 0) {
			j[i].st = calloc(CFS_MAX(j[i].count, (size_t)1), sizeof(*j[i].st));
			if (!j[i].st)
				e = -ENOMEM;
			total += j[i].count;
		}
	}
	if (e < 0)
		return e;
	refs = malloc(CFS_MAX(total, (size_t)1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < *ret_n; i++)
		for (size_t x = 0; j[i].err == 0 && x < j[i].count; x++)
			refs[k++] = (struct judge_ref){&j[i].entries[x].id, &j[i].st[x]};
	qsort(refs, total, sizeof(*refs), judge_ref_cmp);
	e = cfs_catalog_cursor_new(p->r->catalog, &cur);
	for (k = 0; k < total && e == 0; k++) {
		struct cfs_blob_loc loc;
		e = cfs_catalog_cursor_blob_get(cur, refs[k].id, &loc);
		if (e == -ENOENT) {
			e = 0;
			continue;
		}
		if (e == 0)
			e = cfs_catalog_idstore_contains_sorted(p->marks, refs[k].id);
		if (e >= 0) {
			refs[k].st->at = loc.pack;
			refs[k].st->found = true;
			refs[k].st->marked = e > 0;
			e = 0;
		}
	}
	return e;
}

/* A condemned pack (its header and look-ups in *j): released when a marked
 * blob is located in it (a backup that ran while it was condemned uses
 * it), else deleted. Its entries located in it are dropped from the
 * catalog when it goes, and the packs holding copies of its live blobs are
 * listed again (*ret_relisted). */
static int judge_pack(struct prune *p, const struct repo_record *rec, const struct repo_record_pack *pk,
		      const struct judged *j, bool *ret_release, bool *ret_gone, bool *ret_relisted,
		      struct cfs_catalog_batch *b)
{
	char name[96];
	*ret_release = false;
	*ret_gone = false;
	if (j->err == -ENOENT) {
		*ret_gone = true; /* a prune killed midway deleted it */
		return 0;
	}
	if (j->err < 0) {
		cfs_repo_pack_name(&pk->id, name, sizeof(name));
		log_warning("Cannot read the header of condemned pack %s in %s: %s; it is kept (run chronoctl check)",
			    name, where(p), strerror(-j->err));
		*ret_release = true;
		return 0;
	}
	for (size_t i = 0; i < j->count && !*ret_release; i++) {
		const struct judged_entry *st = &j->st[i];
		if (!st->found)
			continue;
		/* A live blob whose other copy, where this catalog locates
		 * it, is condemned by another record that still waits:
		 * another catalog may locate it here, and no index object can
		 * point it to a condemned pack (they never replace locations).
		 * This pack stays, as if a backup used it; a later prune
		 * repacks what it holds. (A copy condemned by this record is
		 * judged in this finish: released, it is listed again before
		 * anything is deleted.) */
		if (memcmp(st->at.b, pk->id.b, CFS_ID_SIZE) != 0 &&
		    (!cfs_repo_pack_condemned(p->r, &st->at) || record_has_pack(rec, &st->at)))
			continue;
		*ret_release = st->marked;
	}
	if (*ret_release) /* listed again: the index object that named it goes with the record */
		return relist(&pk->id, pk->size, j->entries, j->count, b);
	for (size_t i = 0; i < j->count; i++) {
		const struct judged_entry *st = &j->st[i];
		if (!st->found)
			continue;
		if (memcmp(st->at.b, pk->id.b, CFS_ID_SIZE) == 0) {
			cfs_catalog_batch_delete_blob(b, &j->entries[i].id);
			continue;
		}
		if (st->marked) {
			int e = relist_copy(p, &st->at, b, ret_relisted);
			if (e < 0)
				return e;
		}
	}
	return 0;
}

/* A record object (gc/<id>): one call, as its order with the others
 * matters (an arm record goes before its condemn record). */
static int delete_record(struct prune *p, const struct cfs_id *id)
{
	struct name_list l;
	int e = name_list_init(&l, 1);
	if (e < 0)
		return e;
	name_list_set_id(&l, 0, "gc/", id);
	e = delete_objects(p, &l);
	name_list_release(&l);
	return e;
}

/* Apply a record this prune put to its own catalog, as a sync would. */
static int apply_own(struct prune *p, const struct cfs_id *id, const struct repo_record *rec)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	bool lost = false;
	int e = cfs_catalog_batch_new(&b);
	if (e == 0)
		e = cfs_repo_record_apply(p->r->catalog, id, rec, b, &lost);
	if (e == 0 && lost)
		e = cfs_repo_data_lost(p->r, p->r->catalog, b);
	if (e == 0)
		e = cfs_catalog_commit(p->r->catalog, b);
	if (e == 0)
		e = cfs_repo_condemned_load(p->r, p->r->catalog);
	return e;
}

/*
 * Finish condemn record pr (its writers have ended, and every snapshot
 * committed since is marked): release or delete each pack, index the
 * released ones again, delete the index objects that went with the packs,
 * put the done record, delete the arm and condemn records.
 */
static int finish(struct prune *p, struct pending_record *pr)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_free_ struct judged *j = NULL;
	struct repo_record done = {.kind = REPO_RECORD_DONE, .of = pr->id};
	struct cfs_id done_id;
	struct name_list l = {0};
	bool any_released = false, any_relisted = false;
	int e = CFS_FAULT("prune.finish");
	if (e == 0)
		e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	done.packs = calloc(pr->rec.n_packs + 1, sizeof(*done.packs));
	done.released = calloc(pr->rec.n_packs + 1, sizeof(*done.released));
	if (!done.packs || !done.released) {
		e = -ENOMEM;
		goto out;
	}
	/* Nothing writes the catalog until every pack is judged: the
	 * batches' look-ups see what one at a time would. */
	j = calloc(pr->rec.n_packs + 1, sizeof(*j));
	if (!j)
		e = -ENOMEM;
	for (size_t i = 0, m; i < pr->rec.n_packs && e == 0; i = m) {
		size_t taken = 0;
		e = judge_lookup(p, pr->rec.packs + i, pr->rec.n_packs - i, j + i, &taken);
		m = i + taken;
		for (size_t k = i; k < m && e == 0; k++) {
			const struct repo_record_pack *pk = &pr->rec.packs[k];
			bool release, gone;
			e = judge_pack(p, &pr->rec, pk, &j[k], &release, &gone, &any_relisted, b);
			if (e < 0)
				break;
			if (release) {
				char key[128], hex[CFS_ID_HEX_SIZE];
				cfs_id_hex(&pk->id, hex);
				snprintf(key, sizeof(key), "%s%s", CFS_REPO_META_CONDEMNED, hex);
				cfs_catalog_batch_delete_meta(b, key);
				done.released[done.n_released++] = pk->id;
				any_released = true;
			} else {
				done.packs[done.n_packs++] = *pk;
			}
		}
		for (size_t k = i; k < m; k++)
			judged_release(&j[k]);
	}
	/* The released packs, and those with copies of what goes, are listed
	 * by new index objects before the ones that named them go. */
	if (e == 0) {
		stage(p, "condemned packs judged");
		e = cfs_catalog_commit(p->r->catalog, b);
	}
	if (e == 0 && (any_released || any_relisted)) {
		e = cfs_repo_condemned_load(p->r, p->r->catalog);
		if (e == 0)
			e = cfs_repo_write_pending_index(p->r);
		if (e == 0)
			p->res->indexes_written++;
	}
	/* Every pack, then the index objects that listed them, as
	 * chronofs-repository(5) (Finishing) orders it: two calls, as a
	 * batch has no order, and the second only once the first deleted
	 * them all, so that a pack that stays is still listed by its index
	 * object. */
	if (e == 0 && done.n_packs) {
		e = name_list_init(&l, done.n_packs);
		for (size_t i = 0; i < done.n_packs && e == 0; i++)
			cfs_repo_pack_name(&done.packs[i].id, l.buf[i], sizeof(l.buf[i]));
		if (e == 0)
			e = delete_objects(p, &l);
		for (size_t i = 0; i < l.n; i++)
			if (l.errs[i] == 0) {
				p->res->packs_deleted++;
				p->res->bytes_deleted += done.packs[i].size;
			}
		name_list_release(&l);
	}
	if (e == 0 && pr->rec.n_indexes) {
		e = name_list_init(&l, pr->rec.n_indexes);
		for (size_t i = 0; i < pr->rec.n_indexes && e == 0; i++)
			name_list_set_id(&l, i, "index/", &pr->rec.indexes[i]);
		if (e == 0)
			e = delete_objects(p, &l);
		for (size_t i = 0; i < l.n; i++)
			p->res->indexes_deleted += l.errs[i] == 0;
		name_list_release(&l);
	}
	if (e == 0) {
		stage(p, "condemned packs deleted");
		e = CFS_FAULT("prune.deleted");
	}
	if (e < 0)
		goto out;
	done.indexes = pr->rec.indexes;
	done.n_indexes = pr->rec.n_indexes;
	p->res->packs_released += done.n_released;
	e = cfs_repo_record_put(p->r, &done, &done_id);
	if (e == 0)
		e = apply_own(p, &done_id, &done);
	done.indexes = NULL;
	done.n_indexes = 0;
	if (e == 0 && pr->have_arm)
		e = delete_record(p, &pr->arm);
	if (e == 0)
		e = delete_record(p, &pr->id);
	if (e == 0)
		p->res->records_finished++;
out:
	cfs_repo_record_release(&done);
	return e;
}

/* The records of a condemn record whose done record exists: a prune was
 * killed after it. */
static int tidy(struct prune *p, struct pending_record *pr)
{
	int e = 0;
	if (pr->have_arm)
		e = delete_record(p, &pr->arm);
	if (e == 0 && pr->rec.kind == REPO_RECORD_CONDEMN)
		e = delete_record(p, &pr->id);
	return e;
}

/* ---- accounting -------------------------------------------------------- */

static int pack_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct prune *p = ud;
	if (p->n_packs == p->cap_packs) {
		size_t cap = p->cap_packs ? 2 * p->cap_packs : 256;
		struct pack_acct *v = reallocarray(p->packs, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->packs = v;
		p->cap_packs = cap;
	}
	p->packs[p->n_packs++] = (struct pack_acct){.id = *pack, .size = info->size, .count = info->count};
	return 0;
}

static struct pack_acct *pack_find(struct prune *p, const struct cfs_id *id)
{
	size_t lo = 0, hi = p->n_packs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(p->packs[mid].id.b, id->b, CFS_ID_SIZE);
		if (c == 0)
			return &p->packs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int account_cb(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud)
{
	struct prune *p = ud;
	struct pack_acct *pa = pack_find(p, &loc->pack);
	if (!pa) {
		/* Its pack is gone (deleted by a prune, or lost): the entry
		 * is dead weight in the catalog. */
		cfs_catalog_batch_delete_blob(p->b, id);
		return 0;
	}
	int e = cfs_catalog_idstore_contains_sorted(p->marks, id); /* the scan is in id order */
	if (e <= 0)
		return e;
	pa->live_bytes += loc->stored_len;
	pa->live_blobs++;
	p->res->blobs_live++;
	return 0;
}

static int by_unused_desc(const void *a, const void *b)
{
	const struct pack_acct *x = *(const struct pack_acct *const *)a, *y = *(const struct pack_acct *const *)b;
	return x->unused < y->unused ? 1 : x->unused > y->unused ? -1 : 0;
}

/*
 * Packs below the per-pack threshold can still add up: thirty packs each
 * 9 % unused keep 9 % of the repository. So the kept packs' unused bytes
 * are also capped at a quarter of the threshold of the repository's size:
 * the most unused of them are repacked until they are under it (at the
 * default 10 %, a pruned repository keeps at most ~2.5 % it does not need;
 * t3005's ten-day history, forgotten but for its last day, measured
 * 1.039-1.046x a fresh repository of that day before the cap). A quarter,
 * not more: the bound is 1.05x, and index objects, records and
 * pack headers take their share too.
 */
static int cap_unused(struct prune *p)
{
	uint64_t total = 0, unused = 0;
	size_t n = 0;
	for (size_t i = 0; i < p->n_packs; i++) {
		if (p->packs[i].fate == FATE_GARBAGE || p->packs[i].fate == FATE_REPACK)
			continue;
		total += p->packs[i].size;
		if (p->packs[i].fate == FATE_KEEP && p->packs[i].unused) {
			unused += p->packs[i].unused;
			n++;
		}
	}
	if (!n || p->o->max_unused_pct >= 100 || unused * 400 <= (uint64_t)p->o->max_unused_pct * total)
		return 0; /* 100: never repack */
	_cleanup_free_ struct pack_acct **v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < p->n_packs; i++)
		if (p->packs[i].fate == FATE_KEEP && p->packs[i].unused)
			v[n++] = &p->packs[i];
	qsort(v, n, sizeof(*v), by_unused_desc);
	for (size_t i = 0; i < n && unused * 400 > (uint64_t)p->o->max_unused_pct * total; i++) {
		v[i]->fate = FATE_REPACK;
		unused -= v[i]->unused;
		total -= v[i]->unused; /* what repacking it gives back */
	}
	return 0;
}

static int account(struct prune *p)
{
	p->n_packs = 0;
	int e = cfs_catalog_pack_foreach(p->r->catalog, pack_cb, p);
	if (e == 0)
		e = cfs_catalog_blob_foreach(p->r->catalog, account_cb, p);
	if (e == 0 && !p->o->dry_run && !p->measure_only)
		e = cfs_catalog_commit(p->r->catalog, p->b);
	if (e < 0)
		return e;
	for (size_t i = 0; i < p->n_packs; i++) {
		struct pack_acct *pa = &p->packs[i];
		uint64_t used = pa->live_bytes + pack_overhead(pa->count);
		uint64_t unused = pa->live_blobs && pa->size > used ? pa->size - used
				  : pa->live_blobs				? 0
										: pa->size;
		pa->unused = unused;
		p->res->packs++;
		p->res->bytes += pa->size;
		p->res->bytes_unused += unused;
		if (cfs_repo_pack_condemned(p->r, &pa->id)) {
			pa->fate = FATE_WAITING;
			p->packs_condemned++;
			p->bytes_condemned += pa->size;
		} else if (pa->live_blobs == 0)
			pa->fate = FATE_GARBAGE;
		else if (unused * 100 > (uint64_t)p->o->max_unused_pct * pa->size)
			pa->fate = FATE_REPACK;
		else
			pa->fate = FATE_KEEP;
		if (pa->live_blobs == 0) {
			p->res->packs_unused++;
			p->res->bytes_packs_unused += pa->size;
		}
	}
	return cap_unused(p);
}

/* A live blob the catalog locates in a pack to repack. */
struct located {
	struct cfs_id id;
	uint64_t offset;
	uint32_t pack; /* index in p->packs */
};

/*
 * Packs are repacked in batches of at most this many live blobs (one pack
 * at least, whatever its count): each batch's are found by one catalog
 * scan and held as struct located, 48 bytes a blob (12 MiB at most). The
 * bench's forget 20 moves 101,723 blobs, one batch.
 */
#define REPACK_BATCH_BLOBS ((size_t)1 << 18)

struct locate_state {
	struct prune *p;
	struct located *v; /* owned */
	size_t n, cap;
};

static int locate_cb(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud)
{
	struct locate_state *ls = ud;
	struct pack_acct *pa = pack_find(ls->p, &loc->pack);
	if (!pa || !pa->in_batch)
		return 0;
	int e = cfs_catalog_idstore_contains_sorted(ls->p->marks, id); /* the scan is in id order */
	if (e <= 0)
		return e;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 1024;
		struct located *v = reallocarray(ls->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->n++] = (struct located){*id, loc->offset, (uint32_t)(pa - ls->p->packs)};
	return 0;
}

static int located_cmp(const void *a, const void *b)
{
	const struct located *x = a, *y = b;
	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Whether loc[0..n) (in offset order) has e's id at e's offset. */
static bool located_at(const struct located *loc, size_t n, const struct cfs_pack_entry *e)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (loc[mid].offset < e->offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && loc[lo].offset == e->offset && memcmp(&loc[lo].id, &e->id, CFS_ID_SIZE) == 0;
}

/* A pack to repack, and what came of it. */
struct repack_job {
	struct pack_acct *pa;
	const struct located *loc; /* its live blobs, in offset order */
	size_t n;
	uint64_t blobs, bytes; /* moved */
	bool done;
};

/* Packs are repacked on REPACK_THREADS threads (the caller's one of them),
 * a pack at a time each: verifying what is copied (decryption,
 * decompression, id re-hash) is most of a repack's time, on one core 3.1
 * s of the bench's forget 20. Each holds a span of its pack (read.c,
 * SPAN_MAX), one blob and its plaintext. */
#define REPACK_THREADS 2

struct repack_pool {
	struct prune *p;
	struct repack_job *jobs;
	size_t n_jobs;
	pthread_mutex_t lock;
	size_t next; /* the next job to take (lock) */
	int err;     /* the first failure (written under lock; read by repack_cb without) */
};

struct repack_ctx {
	struct repack_pool *pool;
	struct repack_job *job;
};

static int repack_cb(const struct cfs_pack_entry *pe, const void *sealed, void *ud)
{
	struct repack_ctx *c = ud;
	uint64_t stored = 0;
	int e = check_interrupted(c->pool->p);
	if (e == 0 && __atomic_load_n(&c->pool->err, __ATOMIC_RELAXED))
		e = -ECANCELED; /* another thread failed: stop */
	if (e == 0)
		e = cfs_repo_put_sealed_again(c->pool->p->r, pe, sealed, &stored);
	if (e == 0) {
		c->job->blobs++;
		c->job->bytes += stored;
	}
	return e;
}

/*
 * The live blobs of a pack to repack, those the catalog locates in it
 * (job->loc, in offset order), are read (a span of the pack at a time,
 * verified: tag and id) and copied to new packs as they are sealed; the
 * catalog points to the copies once they are flushed. A blob's seal binds
 * it to its id only, so the copy needs no recompression or re-encryption.
 * Failures are logged here but for those of the run (memory, an
 * interruption, another thread's failure), which the caller reports.
 */
static int repack(struct repack_pool *pool, struct cfs_repo_reader *rd, struct repack_job *job)
{
	struct prune *p = pool->p;
	struct repack_ctx c = {pool, job};
	_cleanup_free_ struct cfs_pack_entry *entries = NULL;
	size_t count = 0, live = 0, bad;
	char name[96];
	cfs_repo_pack_name(&job->pa->id, name, sizeof(name));
	int e = cfs_repo_reader_pack_header_read(rd, &job->pa->id, job->pa->size, &entries, &count);
	if (e < 0 && e != -ENOMEM)
		return log_error_errno(e, "Cannot read the header of pack %s in %s to repack it: %m", name, where(p));
	if (e < 0)
		return e;
	/* An entry is live where the catalog locates its id, at its offset. */
	for (size_t i = 0; i < count; i++)
		if (located_at(job->loc, job->n, &entries[i]))
			entries[live++] = entries[i];
	e = cfs_repo_reader_pack_read_blobs(rd, &job->pa->id, job->pa->size, entries, live, repack_cb, &c, &bad);
	if (e < 0 && bad < live && e != -ENOMEM) {
		char hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(&entries[bad].id, hex);
		return log_error_errno(e, "Cannot read blob %s of pack %s in %s to repack it: %m (the pack is "
					  "kept; run chronoctl check --read-data)",
				       hex, name, where(p));
	}
	return e;
}

static void *repack_main(void *arg)
{
	struct repack_pool *pool = arg;
	_cleanup_(cfs_repo_reader_freep) struct cfs_repo_reader *rd = NULL;
	int e = cfs_repo_reader_new(pool->p->r, &rd);
	for (;;) {
		struct repack_job *job = NULL;
		pthread_mutex_lock(&pool->lock);
		if (e < 0 && !pool->err)
			__atomic_store_n(&pool->err, e, __ATOMIC_RELAXED);
		if (!pool->err && pool->next < pool->n_jobs)
			job = &pool->jobs[pool->next++];
		pthread_mutex_unlock(&pool->lock);
		if (!job)
			break;
		e = repack(pool, rd, job);
		job->done = e == 0;
	}
	return NULL;
}

/* Run jobs[0..n) on REPACK_THREADS threads; 0 or the first failure. */
static int repack_jobs(struct prune *p, struct repack_job *jobs, size_t n)
{
	struct repack_pool pool = {.p = p, .jobs = jobs, .n_jobs = n};
	pthread_t threads[REPACK_THREADS - 1];
	size_t started = 0;
	pthread_mutex_init(&pool.lock, NULL);
	/* A thread that does not start leaves its share to the others. */
	while (started < ARRAY_SIZE(threads) && started + 1 < n &&
	       pthread_create(&threads[started], NULL, repack_main, &pool) == 0)
		started++;
	repack_main(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&pool.lock);
	for (size_t i = 0; i < n; i++) {
		p->res->blobs_moved += jobs[i].blobs;
		p->res->bytes_moved += jobs[i].bytes;
		if (jobs[i].done) {
			jobs[i].pa->fate = FATE_GARBAGE;
			p->res->packs_repacked++;
		}
	}
	return pool.err;
}

/*
 * Repack the packs whose fate is FATE_REPACK, a batch at a time; each
 * repacked one becomes garbage. A pack's live blobs are found by a catalog
 * scan per batch, not by a look-up per entry: on the bench's 30-day
 * history (forget 20: 101,723 blobs moved out of 44 packs) the look-ups,
 * random in a cold catalog, took 2.5 s, the scan 0.2 s. Nothing writes the
 * catalog's entries for these packs meanwhile (the copies' flushes point
 * blobs to new packs, which are not in p->packs), so the scan sees what a
 * look-up would.
 */
static int repack_all(struct prune *p)
{
	struct locate_state ls = {.p = p};
	struct repack_job *jobs = NULL;
	size_t budget = REPACK_BATCH_BLOBS;
	int e = 0;
#ifdef CFS_FAULT_INJECTION
	/* Tests only (fault-injection builds): smaller batches, so that
	 * small repositories take several. */
	const char *forced = getenv("CHRONOFS_TEST_REPACK_BATCH_BLOBS");
	if (forced && *forced)
		budget = strtoul(forced, NULL, 10);
#endif
	for (size_t i = 0; i < p->n_packs && e == 0;) {
		size_t blobs = 0, packs = 0, n_jobs = 0, j;
		for (j = i; j < p->n_packs; j++) {
			struct pack_acct *pa = &p->packs[j];
			if (pa->fate != FATE_REPACK)
				continue;
			if (blobs && blobs + pa->live_blobs > budget)
				break;
			pa->in_batch = true;
			blobs += pa->live_blobs;
			packs++;
		}
		ls.n = 0;
		if (blobs)
			e = cfs_catalog_blob_foreach(p->r->catalog, locate_cb, &ls);
		free(jobs);
		jobs = e == 0 ? calloc(packs + 1, sizeof(*jobs)) : NULL;
		if (e == 0 && !jobs)
			e = -ENOMEM;
		if (e < 0)
			break;
		const struct located *v = ls.v;
		if (ls.n) /* ls.v may be NULL */
			qsort(ls.v, ls.n, sizeof(*ls.v), located_cmp);
		for (size_t k = 0, m; k < ls.n; k = m) {
			struct pack_acct *pa = &p->packs[v[k].pack];
			for (m = k + 1; m < ls.n && v[m].pack == v[k].pack; m++)
				;
			jobs[n_jobs++] = (struct repack_job){.pa = pa, .loc = v + k, .n = m - k};
			pa->in_batch = false;
		}
		/* A pack of the batch none of whose blobs the catalog locates
		 * in it any more holds nothing to move: it goes all the same. */
		for (size_t k = i; k < j; k++)
			if (p->packs[k].in_batch) {
				jobs[n_jobs++] = (struct repack_job){.pa = &p->packs[k]};
				p->packs[k].in_batch = false;
			}
		if (n_jobs)
			e = repack_jobs(p, jobs, n_jobs);
		i = j;
	}
	for (size_t k = 0; k < p->n_packs; k++)
		p->packs[k].in_batch = false;
	free(jobs);
	free(ls.v);
	return e;
}

/* ---- index objects that name condemned packs --------------------------- */

struct index_list {
	struct prune *p;
	struct cfs_idset *garbage;
	struct cfs_catalog_batch *b;
	struct cfs_buf ids; /* affected index objects */
};

static bool prune_goes(const struct cfs_id *pack, void *ud)
{
	return cfs_idset_contains(ud, pack);
}

/* An index object that names garbage: what else it lists is listed again
 * (pending), and it goes with the condemn record. One that cannot be read
 * is left alone (check names it, repair replaces it). */
static int index_cb(const char *name, uint64_t size, void *ud)
{
	struct index_list *il = ud;
	struct cfs_id id;
	(void)size;
	if (strncmp(name, "index/", 6) != 0 || strlen(name) != 6 + 64 || cfs_hex_decode(name + 6, id.b, CFS_ID_SIZE) < 0)
		return 0;
	int e = check_interrupted(il->p);
	if (e == 0)
		e = cfs_repo_index_relist(il->p->r, name, prune_goes, il->garbage, il->b);
	if (e == 1)
		return cfs_buf_append(&il->ids, id.b, CFS_ID_SIZE);
	return e == -ENOMEM || e == -EIO || e == -EINTR ? e : 0;
}

/* ---- this prune's condemn record --------------------------------------- */

static int condemn(struct prune *p)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf written = CFS_BUF_INIT;
	struct cfs_idset garbage = CFS_IDSET_INIT;
	struct index_list il = {.ids = CFS_BUF_INIT};
	struct repo_record rec = {.kind = REPO_RECORD_CONDEMN};
	struct pending_record pr = {0};
	int e = 0;

	/* Packs that go are never listed by an index object this prune
	 * writes (those adopted at its open, left by killed backups, are
	 * pending). */
	e = cfs_catalog_batch_new(&b);
	for (size_t i = 0; i < p->n_packs && e == 0; i++) {
		char key[128], hex[CFS_ID_HEX_SIZE];
		if (p->packs[i].fate != FATE_GARBAGE && p->packs[i].fate != FATE_REPACK)
			continue;
		cfs_id_hex(&p->packs[i].id, hex);
		snprintf(key, sizeof(key), "pending/%s", hex);
		cfs_catalog_batch_delete_meta(b, key);
	}
	if (e == 0)
		e = cfs_catalog_commit(p->r->catalog, b);
	/* Repack first: once the copies are durable and indexed, the old
	 * packs hold nothing a snapshot needs. */
	if (e == 0)
		e = repack_all(p);
	if (e == 0)
		stage(p, "packs repacked");
	if (e == 0 && p->res->packs_repacked) {
		e = cfs_repo_write_pending_index_ids(p->r, &written);
		if (e == 0)
			e = CFS_FAULT("prune.repacked");
	}
	if (e < 0)
		goto out;

	rec.packs = calloc(p->n_packs + 1, sizeof(*rec.packs));
	if (!rec.packs) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_packs && e == 0; i++) {
		if (p->packs[i].fate != FATE_GARBAGE)
			continue;
		rec.packs[rec.n_packs++] = (struct repo_record_pack){p->packs[i].id, p->packs[i].size};
		p->res->packs_condemned++;
		p->res->bytes_condemned += p->packs[i].size;
		if (cfs_idset_add(&garbage, &p->packs[i].id) < 0)
			e = -ENOMEM;
	}
	if (e < 0 || !rec.n_packs)
		goto out;

	/* Index objects that name garbage: what else they list is listed
	 * again first (a pack listed twice is harmless). */
	il.p = p;
	il.garbage = &garbage;
	il.b = b;
	e = cfs_objstore_list(p->r->store, "index/", index_cb, &il);
	if (e == 0)
		e = cfs_catalog_commit(p->r->catalog, b);
	/* keep_cb leaves garbage packs out; repacked ones may have been
	 * listed by an index object with garbage: not again either. */
	for (size_t i = 0; i < rec.n_packs && e == 0; i++) {
		char key[128], hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(&rec.packs[i].id, hex);
		snprintf(key, sizeof(key), "pending/%s", hex);
		cfs_catalog_batch_delete_meta(b, key);
	}
	if (e == 0)
		e = cfs_catalog_commit(p->r->catalog, b);
	if (e == 0)
		e = cfs_repo_write_pending_index_ids(p->r, &written);
	if (e < 0)
		goto out;
	p->res->indexes_written += written.len / CFS_ID_SIZE;
	rec.indexes = (struct cfs_id *)il.ids.data;
	rec.n_indexes = il.ids.len / CFS_ID_SIZE;
	rec.written = (struct cfs_id *)written.data;
	rec.n_written = written.len / CFS_ID_SIZE;

	e = cfs_repo_record_put(p->r, &rec, &pr.id);
	if (e == 0)
		e = apply_own(p, &pr.id, &rec);
	if (e == 0) {
		stage(p, "index objects written, condemn record put");
		e = CFS_FAULT("prune.condemned");
	}
	if (e < 0)
		goto out;

	/* Writers that may have missed the record: none, and it is finished
	 * now (after a sync, for the snapshots of writers that ended
	 * meanwhile); else the arm record names them for a later prune. */
	bool ready;
	e = arm(p, &pr.id, &ready, &pr.arm);
	if (e < 0)
		goto out;
	if (!ready) {
		p->res->records_waiting++;
		goto out;
	}
	e = cfs_repo_sync_catalog(p->r);
	if (e == 0)
		e = mark_snapshots(p);
	if (e == 0) {
		pr.rec = rec;
		e = finish(p, &pr);
		pr.rec = (struct repo_record){0};
	}
	if (e == 0)
		stage(p, "this prune's record finished");
out:
	rec.indexes = NULL;
	rec.n_indexes = 0;
	rec.written = NULL;
	rec.n_written = 0;
	cfs_repo_record_release(&rec);
	cfs_idset_release(&garbage);
	cfs_buf_release(&il.ids);
	return e;
}

/* ---- the whole run ------------------------------------------------------ */

/*
 * The marks: the first MARKS_IN_MEMORY in memory alone (32 MiB at most),
 * which holds the trees and blobs of most repositories (the bench's
 * repository of 30 daily snapshots of 100,000 files marks ~305,000); a
 * larger set spills to <cache>/readers/<pid>-marks, reaped with a reader's
 * directory when the process was killed (repo.c, reap_readers); two
 * processes on one cache (a prune and a check) never share it. The
 * RocksDB look-ups a mark costs on disk were most of a prune's time: 14.3
 * s of CPU on that repository with every mark on disk, 4.8 s in memory.
 */
#define MARKS_IN_MEMORY (512u * 1024)

static int prune_begin(struct prune *p)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/readers/%ld-marks", p->r->cache_dir, (long)getpid());
	size_t mem = MARKS_IN_MEMORY;
#ifdef CFS_FAULT_INJECTION
	/* Tests only (fault-injection builds): spill after that many marks,
	 * so that small repositories take the on-disk path too. */
	const char *forced = getenv("CHRONOFS_TEST_MARKS_IN_MEMORY");
	if (forced && *forced)
		mem = strtoul(forced, NULL, 10);
#endif
	int e = cfs_catalog_idstore_new(dir, mem, &p->marks);
	if (e == 0)
		e = cfs_catalog_batch_new(&p->b);
	return e;
}

static void prune_end(struct prune *p)
{
	p->marks = cfs_catalog_idstore_free(p->marks);
	cfs_idset_release(&p->snaps_marked);
	cfs_idset_release(&p->relisted);
	free(p->packs);
	for (size_t i = 0; i < p->n_pending; i++) {
		cfs_repo_record_release(&p->pending[i].rec);
		cfs_repo_record_release(&p->pending[i].arm_rec);
	}
	free(p->pending);
	free(p->expired);
	cfs_catalog_batch_free(p->b);
}

#define META_SPACE "stats/space"

/* Remembered for `snapshot list` (best effort: a reader's secondary
 * catalog cannot be written). */
static void space_remember(struct cfs_repo *r, const struct cfs_repo_space *s)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	uint64_t v[11] = {(uint64_t)s->measured_ns, s->packs, s->bytes, s->bytes_unused, s->packs_unused,
			  s->bytes_packs_unused, s->packs_condemned, s->bytes_condemned, s->snapshots, s->trees,
			  s->blobs_live};
	uint8_t enc[sizeof(v)];
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		cfs_put_le64(enc + 8 * i, v[i]);
	if (cfs_catalog_batch_new(&b) < 0)
		return;
	cfs_catalog_batch_put_meta(b, META_SPACE, enc, sizeof(enc));
	(void)cfs_catalog_commit(r->catalog, b);
}

struct pack_totals {
	uint64_t packs, bytes;
};

static int pack_totals_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct pack_totals *t = ud;
	(void)pack;
	t->packs++;
	t->bytes += info->size;
	return 0;
}

int cfs_repo_pack_totals(struct cfs_repo *r, uint64_t *ret_packs, uint64_t *ret_bytes)
{
	struct pack_totals t = {0};
	int e = cfs_catalog_pack_foreach(r->catalog, pack_totals_cb, &t);
	if (e < 0)
		return e;
	*ret_packs = t.packs;
	*ret_bytes = t.bytes;
	return 0;
}

int cfs_repo_space_last(struct cfs_repo *r, struct cfs_repo_space *ret)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	int e = cfs_catalog_meta_get(r->catalog, META_SPACE, &v);
	if (e < 0)
		return e;
	if (v.len != 11 * 8)
		return -EPROTO;
	uint64_t x[11];
	for (size_t i = 0; i < 11; i++)
		x[i] = cfs_get_le64(v.data + 8 * i);
	*ret = (struct cfs_repo_space){(int64_t)x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10]};
	return 0;
}

static void space_from(const struct prune *p, struct cfs_repo_space *s)
{
	const struct cfs_repo_prune_result *res = p->res;
	*s = (struct cfs_repo_space){cfs_now_ns(),
				     res->packs,
				     res->bytes,
				     res->bytes_unused,
				     res->packs_unused,
				     res->bytes_packs_unused,
				     p->packs_condemned,
				     p->bytes_condemned,
				     res->snapshots,
				     res->trees,
				     res->blobs_live};
}

int cfs_repo_space(struct cfs_repo *r, volatile sig_atomic_t *interrupted, struct cfs_repo_space *ret)
{
	struct cfs_repo_prune_options o = {.dry_run = true, .interrupted = interrupted};
	struct cfs_repo_prune_result res = {0};
	struct prune p = {.r = r, .o = &o, .res = &res, .snaps_marked = CFS_IDSET_INIT, .relisted = CFS_IDSET_INIT,
			  .measure_only = true};
	int e = prune_begin(&p);
	if (e == 0)
		e = mark_snapshots(&p);
	if (e == 0)
		e = account(&p);
	if (e == 0) {
		space_from(&p, ret);
		space_remember(r, ret);
	}
	prune_end(&p);
	return e;
}

static int prune_run(struct prune *p)
{
	struct lock_names now = {0};
	p->stage_ns = cfs_mono_ns();
	int e = prune_begin(p);
	if (e < 0)
		return e;

	/* Earlier prunes' records: which are done, which may finish now. */
	e = cfs_objstore_list(p->r->store, "gc/", record_cb, p);
	if (e < 0)
		return e;
	bool any_ready = false;
	if (p->n_pending && !p->o->dry_run) {
		e = lock_names_get(p, &now);
		for (size_t i = 0; i < p->n_pending && e == 0; i++) {
			struct pending_record *pr = &p->pending[i];
			if (pr->have_done)
				e = tidy(p, pr);
			else if (pr->rec.kind == REPO_RECORD_CONDEMN)
				e = pending_ready(p, pr, &now);
			any_ready |= pr->ready;
			if (e == 0 && !pr->have_done && !pr->ready && pr->rec.kind == REPO_RECORD_CONDEMN)
				p->res->records_waiting++;
		}
		lock_names_release(&now);
		if (e < 0)
			return e;
	}
	/* Snapshots committed by the writers those records waited for are
	 * in the catalog before the marking. */
	if (any_ready)
		e = cfs_repo_sync_catalog(p->r);
	if (e == 0)
		stage(p, "earlier prunes' records read");
	if (e == 0)
		e = mark_snapshots(p);
	if (e == 0) {
		stage(p, "snapshots marked");
		e = CFS_FAULT("prune.marked");
	}
	for (size_t i = 0; i < p->n_pending && e == 0; i++)
		if (p->pending[i].ready) {
			e = finish(p, &p->pending[i]);
			if (e == 0)
				stage(p, "an earlier prune's record finished");
		}
	if (e == 0)
		e = check_interrupted(p);
	if (e == 0)
		e = account(p);
	if (e == 0)
		stage(p, "packs accounted");
	if (e == 0)
		e = CFS_FAULT("prune.accounted");
	if (e == 0 && !p->o->dry_run)
		e = condemn(p);
	/* Expired records stand alone (forget and done records of the
	 * past): one call for all. */
	if (e == 0 && p->n_expired && !p->o->dry_run) {
		struct name_list l;
		e = name_list_init(&l, p->n_expired);
		for (size_t i = 0; i < p->n_expired && e == 0; i++)
			name_list_set_id(&l, i, "gc/", &p->expired[i]);
		if (e == 0)
			e = delete_objects(p, &l);
		name_list_release(&l);
	}
	return e;
}

int cfs_repo_prune(struct cfs_repo *r, const struct cfs_repo_prune_options *o, struct cfs_repo_prune_result *ret)
{
	struct prune p = {.r = r, .o = o, .res = ret, .snaps_marked = CFS_IDSET_INIT, .relisted = CFS_IDSET_INIT};
	*ret = (struct cfs_repo_prune_result){0};
	if (!r->writer || o->max_unused_pct > 100)
		return -EINVAL;
	int e = cfs_repo_prune_lock(r);
	if (e < 0)
		return e;
	e = prune_run(&p);
	cfs_repo_prune_unlock(r);
	if (e == 0) {
		/* What is left, for snapshot list: the packs as they are now,
		 * against the marks of this prune (new snapshots since are
		 * not marked: a measure, not a decision). */
		struct cfs_repo_prune_result after = {.snapshots = ret->snapshots, .trees = ret->trees};
		struct cfs_repo_space s;
		p.res = &after;
		p.packs_condemned = p.bytes_condemned = 0;
		if (o->dry_run || account(&p) == 0) {
			space_from(&p, &s);
			space_remember(r, &s);
		}
		p.res = ret;
	}
	prune_end(&p);
	return e;
}
