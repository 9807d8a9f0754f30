/* SPDX-License-Identifier: MIT */
/*
 * repair.c — make a damaged repository describe only data it has
 * (chronoctl repair; the steps and their order are in repo.h).
 *
 * Crash safety: nothing is deleted before what replaces it is durable.
 * Salvaged blobs go through the normal write path (pack durable, then the
 * catalog, then an index object), the index objects that describe the good
 * packs of affected index objects are put next, and only then are the
 * affected index objects and the bad packs deleted, and the catalog told
 * last. A kill at any point leaves either the old objects (the next repair
 * starts over, finding fewer blobs to salvage: the catalog already points
 * to the copies) or the new ones; every step is one the next open copes
 * with (missing packs are forgotten, unknown packs adopted).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

enum bad_kind {
	BAD_MISSING,    /* the catalog, blob locations or an index name it; the store lacks it */
	BAD_SIZE,       /* the store has it with another size than recorded */
	BAD_HEADER,     /* listed, its header cannot be read, nothing describes it */
	BAD_BLOBS,      /* --read-data: its header or some of its blobs do not verify */
};

struct bad {
	struct cfs_id id;
	enum bad_kind kind;
};

/* A blob whose location is in a bad pack. */
struct victim {
	struct cfs_id id;
	struct cfs_blob_loc loc;
};

struct repair {
	struct cfs_repo *r;
	const struct cfs_repo_repair_options *o;
	struct cfs_repo_repair_result *res;
	struct repo_pack_listing listing;
	struct bad *bad; /* owned */
	size_t n_bad;
	struct cfs_idset bad_set;   /* ids of bad */
	struct victim *victims;     /* owned */
	size_t n_victims, cap_victims;
	char **doomed_indexes;      /* owned: index objects to delete */
	size_t n_doomed;
	struct cfs_catalog_batch *b; /* pending markers for the good packs of doomed indexes */
	struct cfs_repo_reader *rd;
};

static bool interrupted(const struct repair *rp)
{
	return rp->o->interrupted && *rp->o->interrupted;
}

static int add_bad(struct repair *rp, const struct cfs_id *id, enum bad_kind kind)
{
	int e = cfs_idset_add(&rp->bad_set, id);
	if (e <= 0)
		return e; /* -ENOMEM, or known already */
	struct bad *v = reallocarray(rp->bad, rp->n_bad + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rp->bad = v;
	rp->bad[rp->n_bad++] = (struct bad){*id, kind};
	uint64_t *count[] = {&rp->res->packs_missing, &rp->res->packs_damaged, &rp->res->packs_unreadable,
			     &rp->res->packs_bad_blobs};
	(*count[kind])++;
	return 0;
}

static const char *kind_name(enum bad_kind k)
{
	static const char *const names[] = {"missing", "size differs from the recorded one",
					    "header cannot be read", "data does not verify"};
	return names[k];
}

/* Packs the catalog knows: not listed -> missing, another size -> damaged;
 * with read_data every other one is read whole. */
static int classify_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct repair *rp = ud;
	if (interrupted(rp))
		return -EINTR;
	const struct repo_listed_pack *lp = cfs_repo_listing_find(&rp->listing, pack);
	if (!lp)
		return add_bad(rp, pack, BAD_MISSING);
	if (lp->size != info->size)
		return add_bad(rp, pack, BAD_SIZE);
	return 0;
}

static int bad_blob_cb(const struct cfs_id *blob, uint64_t offset, int error, void *ud)
{
	(void)blob;
	(void)offset;
	(void)error;
	*(bool *)ud = true;
	return -ECANCELED; /* one is enough to condemn the pack */
}

static int read_data_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct repair *rp = ud;
	char name[96];
	bool bad = false;
	uint64_t n;
	(void)info;
	if (interrupted(rp))
		return -EINTR;
	if (cfs_idset_contains(&rp->bad_set, pack))
		return 0;
	int e = cfs_repo_verify_pack(rp->r, pack, bad_blob_cb, &bad, &n);
	if (e == -ENOMEM)
		return e;
	if (e < 0 || bad) {
		cfs_repo_pack_name(pack, name, sizeof(name));
		log_info("Pack %s: %s", name, e < 0 ? strerror(-e) : "some blobs do not verify");
		return add_bad(rp, pack, BAD_BLOBS);
	}
	return 0;
}

/* A pack an earlier check --read-data recorded as damaged is bad without
 * reading it again (salvage still reads and verifies each of its blobs). */
static int marked_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct repair *rp = ud;
	struct cfs_id pack;
	(void)val;
	(void)vlen;
	if (cfs_repo_meta_key_id(key, klen, CFS_REPO_META_DAMAGED, &pack) < 0 ||
	    !cfs_repo_listing_find(&rp->listing, &pack))
		return 0; /* not there any more: the next sync drops the mark */
	return add_bad(rp, &pack, BAD_BLOBS);
}

/* Blobs whose location is in a bad pack, or in a pack the catalog forgot
 * (a sync found it missing) and the store does not list. */
static int victim_cb(const struct cfs_id *id, const struct cfs_blob_loc *loc, void *ud)
{
	struct repair *rp = ud;
	if (!cfs_idset_contains(&rp->bad_set, &loc->pack)) {
		struct cfs_pack_info info;
		int e = cfs_catalog_pack_get(rp->r->catalog, &loc->pack, &info);
		if (e != -ENOENT)
			return e;
		if (cfs_repo_listing_find(&rp->listing, &loc->pack))
			return 0; /* listed, unknown: its header is unreadable (bad already) or it is new */
		e = add_bad(rp, &loc->pack, BAD_MISSING);
		if (e < 0)
			return e;
	}
	if (rp->n_victims == rp->cap_victims) {
		size_t cap = rp->cap_victims ? 2 * rp->cap_victims : 256;
		struct victim *v = reallocarray(rp->victims, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		rp->victims = v;
		rp->cap_victims = cap;
	}
	rp->victims[rp->n_victims++] = (struct victim){*id, *loc};
	return 0;
}

static bool pack_missing(const struct repair *rp, const struct cfs_id *pack)
{
	for (size_t i = 0; i < rp->n_bad; i++)
		if (memcmp(&rp->bad[i].id, pack, sizeof(*pack)) == 0)
			return rp->bad[i].kind == BAD_MISSING;
	return false;
}

/* Read every victim back (tag, size, id) and store the good ones again. */
static int salvage(struct repair *rp)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	for (size_t i = 0; i < rp->n_victims; i++) {
		const struct victim *v = &rp->victims[i];
		uint64_t stored;
		if (interrupted(rp))
			return -EINTR;
		int e = pack_missing(rp, &v->loc.pack) ? -ENOENT
							: cfs_repo_reader_get_blob_at(rp->rd, &v->id, &v->loc, &plain);
		if (e == -ENOMEM)
			return e;
		if (e < 0) {
			rp->res->blobs_lost++;
			continue;
		}
		rp->res->blobs_salvaged++;
		rp->res->bytes_salvaged += plain.len;
		if (rp->o->dry_run)
			continue;
		e = cfs_repo_put_blob_again(rp->r, (enum cfs_blob_type)v->loc.type, &v->id, plain.data, plain.len,
					    &stored);
		if (e < 0)
			return log_error_errno(e, "Cannot store a salvaged blob in %s: %m", cfs_objstore_location(rp->r->store));
	}
	return 0;
}

/*
 * Index objects, a pack at a time: cb gets each pack's record as the index
 * object has it (u64 size, u32 count, count 56-byte entries), decoded and
 * checked by the index codec (pack.h) and encoded back.
 */
struct index_walk {
	cfs_repo_index_pack_cb cb;
	void *ud;
	struct cfs_id pack;
	uint32_t left;     /* entries of the pack still to come */
	struct cfs_buf rec; /* the pack's record so far */
};

static int walk_pack_done(struct index_walk *w)
{
	return w->cb(&w->pack, w->rec.data, w->rec.len, w->ud);
}

static int walk_pack_cb(void *ud, const struct cfs_id *pack, uint64_t size, uint32_t count)
{
	struct index_walk *w = ud;
	w->pack = *pack;
	w->left = count;
	cfs_buf_reset(&w->rec);
	int e = cfs_buf_append_le64(&w->rec, size);
	if (e == 0)
		e = cfs_buf_append_le32(&w->rec, count);
	if (e == 0 && count == 0)
		e = walk_pack_done(w);
	return e;
}

static int walk_entry_cb(void *ud, const struct cfs_id *pack, const struct cfs_pack_entry *pe)
{
	struct index_walk *w = ud;
	(void)pack;
	int e = cfs_repo_entry_encode(&w->rec, pe);
	if (e == 0 && --w->left == 0)
		e = walk_pack_done(w);
	return e;
}

int cfs_repo_index_foreach_pack(struct cfs_repo *r, const char *name, cfs_repo_index_pack_cb cb, void *ud)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	int e = cfs_repo_get_sealed_object(r, r->crypto, name, CFS_REPO_AAD_INDEX, &plain);
	if (e < 0)
		return e;
	struct index_walk w = {.cb = cb, .ud = ud, .rec = CFS_BUF_INIT};
	e = cfs_pack_index_decode(plain.data, plain.len, walk_pack_cb, walk_entry_cb, &w);
	cfs_buf_release(&w.rec);
	return e;
}

struct index_scan {
	cfs_repo_pack_pred goes;
	void *ud;
	struct cfs_catalog_batch *b;
	bool affected;
};

static int affected_cb(const struct cfs_id *pack, const uint8_t *rec, size_t rec_len, void *ud)
{
	struct index_scan *is = ud;
	(void)rec;
	(void)rec_len;
	if (is->goes(pack, is->ud))
		is->affected = true;
	return 0;
}

/* The packs of an index object that stay: pending, so that the next index
 * object lists them. rec: u64 size, u32 count, entries; a marker is u64
 * size, entries. */
static int keep_cb(const struct cfs_id *pack, const uint8_t *rec, size_t rec_len, void *ud)
{
	struct index_scan *is = ud;
	_cleanup_buf_ struct cfs_buf marker = CFS_BUF_INIT;
	char key[128], hex[CFS_ID_HEX_SIZE];
	if (is->goes(pack, is->ud))
		return 0;
	int e = cfs_buf_append(&marker, rec, 8);
	if (e == 0)
		e = cfs_buf_append(&marker, rec + 12, rec_len - 12);
	if (e < 0)
		return e;
	cfs_id_hex(pack, hex);
	snprintf(key, sizeof(key), "pending/%s", hex);
	cfs_catalog_batch_put_meta(is->b, key, marker.data, marker.len);
	return 0;
}

int cfs_repo_index_relist(struct cfs_repo *r, const char *name, cfs_repo_pack_pred goes, void *ud,
			  struct cfs_catalog_batch *b)
{
	struct index_scan is = {goes, ud, b, false};
	int e = cfs_repo_index_foreach_pack(r, name, affected_cb, &is);
	if (e < 0 || !is.affected)
		return e;
	e = cfs_repo_index_foreach_pack(r, name, keep_cb, &is);
	return e < 0 ? e : 1;
}

/* Repair: a pack goes when it is bad or the store does not list it. */
static bool repair_goes(const struct cfs_id *pack, void *ud)
{
	struct repair *rp = ud;
	return cfs_idset_contains(&rp->bad_set, pack) || !cfs_repo_listing_find(&rp->listing, pack);
}

static int doom_index(struct repair *rp, const char *name)
{
	char **v = reallocarray(rp->doomed_indexes, rp->n_doomed + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rp->doomed_indexes = v;
	v[rp->n_doomed] = strdup(name);
	if (!v[rp->n_doomed])
		return -ENOMEM;
	rp->n_doomed++;
	return 0;
}

/* An index object that names a bad or unlisted pack, or that cannot be
 * read at all (damaged: its packs are adopted from their headers), goes;
 * its good packs are listed again first. */
static int index_cb(const char *name, uint64_t size, void *ud)
{
	struct repair *rp = ud;
	(void)size;
	if (strncmp(name, "index/", 6) != 0 || strlen(name) != 6 + 64)
		return 0;
	if (interrupted(rp))
		return -EINTR;
	int e = cfs_repo_index_relist(rp->r, name, repair_goes, rp, rp->b);
	if (e == -EBADMSG || e == -EPROTO) {
		log_info("Index object %s cannot be read (%s): it goes; the packs it described are read from their "
			 "own headers",
			 name, strerror(-e));
		return doom_index(rp, name);
	}
	if (e < 0)
		return e == -ENOMEM ? e : 0; /* a newer format, or the store failed: left alone */
	return e == 0 ? 0 : doom_index(rp, name);
}

/* After the new objects are durable: the doomed index objects, then the bad
 * packs that are there. */
static int delete_old(struct repair *rp)
{
	char name[96];
	for (size_t i = 0; i < rp->n_doomed; i++) {
		int e = CFS_FAULT("repair.delete");
		if (e == 0)
			e = cfs_objstore_delete(rp->r->store, rp->doomed_indexes[i]);
		if (e < 0 && e != -ENOENT)
			return log_error_errno(e, "Cannot delete %s from %s: %m", rp->doomed_indexes[i],
					       cfs_objstore_location(rp->r->store));
		rp->res->indexes_deleted++;
	}
	for (size_t i = 0; i < rp->n_bad; i++) {
		if (rp->bad[i].kind == BAD_MISSING)
			continue;
		cfs_repo_pack_name(&rp->bad[i].id, name, sizeof(name));
		int e = CFS_FAULT("repair.delete");
		if (e == 0)
			e = cfs_objstore_delete(rp->r->store, name);
		if (e < 0 && e != -ENOENT)
			return log_error_errno(e, "Cannot delete pack %s from %s: %m", name,
					       cfs_objstore_location(rp->r->store));
		rp->res->packs_deleted++;
	}
	return 0;
}

/* The catalog forgets what went: the bad packs, the blobs whose only known
 * location was in one (lost), the doomed index objects. */
static int forget_old(struct repair *rp)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	char key[128], hex[CFS_ID_HEX_SIZE];
	int e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	for (size_t i = 0; i < rp->n_victims; i++) {
		struct cfs_blob_loc loc;
		e = cfs_catalog_blob_get(rp->r->catalog, &rp->victims[i].id, &loc);
		if (e == 0 && cfs_idset_contains(&rp->bad_set, &loc.pack))
			cfs_catalog_batch_delete_blob(b, &rp->victims[i].id);
		else if (e < 0 && e != -ENOENT)
			return e;
	}
	for (size_t i = 0; i < rp->n_bad; i++) {
		cfs_catalog_batch_delete_pack(b, &rp->bad[i].id);
		cfs_id_hex(&rp->bad[i].id, hex);
		snprintf(key, sizeof(key), "pending/%s", hex);
		cfs_catalog_batch_delete_meta(b, key);
		snprintf(key, sizeof(key), "%s%s", CFS_REPO_META_DAMAGED, hex);
		cfs_catalog_batch_delete_meta(b, key);
	}
	for (size_t i = 0; i < rp->n_doomed; i++)
		cfs_catalog_batch_delete_meta(b, rp->doomed_indexes[i]);
	/* Trees found usable before may name what went. */
	if (rp->n_bad)
		e = cfs_repo_data_lost(rp->r, rp->r->catalog, b);
	if (e == 0)
		e = cfs_catalog_commit(rp->r->catalog, b);
	if (e < 0)
		return log_error_errno(e, "Cannot update the catalog at %s: %m (the next open catches up from the store)",
				       rp->r->cache_dir);
	pthread_mutex_lock(&rp->r->write_lock);
	cfs_idset_clear(&rp->r->bad_packs);
	rp->r->have_last_good_pack = false;
	pthread_mutex_unlock(&rp->r->write_lock);
	return 0;
}

static void report_bad(const struct repair *rp)
{
	char name[96];
	for (size_t i = 0; i < rp->n_bad; i++) {
		cfs_repo_pack_name(&rp->bad[i].id, name, sizeof(name));
		log_info("Pack %s: %s", name, kind_name(rp->bad[i].kind));
	}
}

static int repair_run(struct repair *rp)
{
	struct cfs_repo *r = rp->r;
	uint64_t n;
	int e;

	/* An unencrypted config over sealed objects: nothing here is bad
	 * data, the config lies. Deleting would destroy the repository. */
	e = cfs_repo_count_sealed_looking(r, &n);
	if (e < 0)
		return e;
	if (n)
		return log_error_errno(-EKEYREJECTED, "Repository %s says it is not encrypted, but %" PRIu64 " of its "
						      "objects look encrypted: its config was altered. Not repairing: "
						      "restore its config and key files",
				       cfs_objstore_location(r->store), n);
	e = cfs_repo_locks_check(r, !rp->o->dry_run, &rp->res->locks_removed);
	if (e == -EBUSY)
		return log_error_errno(e, "Repository %s is in use by another writer (named above): repair runs alone",
				       cfs_objstore_location(r->store));
	if (e < 0)
		return e;

	/* Which packs are bad. */
	e = cfs_repo_listing_fill(r, &rp->listing);
	if (e == 0)
		e = cfs_catalog_pack_foreach(r->catalog, classify_cb, rp);
	for (size_t i = 0; e == 0 && i < r->n_unreadable; i++)
		e = add_bad(rp, &r->unreadable[i].id, BAD_HEADER);
	if (e == 0)
		e = cfs_catalog_meta_foreach(r->catalog, CFS_REPO_META_DAMAGED, marked_cb, rp);
	if (e == 0 && rp->o->read_data)
		e = cfs_catalog_pack_foreach(r->catalog, read_data_cb, rp);
	if (e == 0)
		e = cfs_catalog_blob_foreach(r->catalog, victim_cb, rp);
	if (e < 0)
		return e;
	report_bad(rp);

	/* What can be saved, and which index objects describe bad state. */
	e = cfs_repo_reader_new(r, &rp->rd);
	if (e == 0)
		e = salvage(rp);
	if (e == 0)
		e = cfs_catalog_batch_new(&rp->b);
	if (e == 0)
		e = cfs_objstore_list(r->store, "index/", index_cb, rp);
	if (e < 0 || rp->o->dry_run) {
		rp->res->indexes_deleted = rp->n_doomed;
		for (size_t i = 0; i < rp->n_bad; i++)
			rp->res->packs_deleted += rp->bad[i].kind != BAD_MISSING;
		return e;
	}

	/* New objects first: salvaged blobs in packs, and index objects for
	 * them and for the good packs of the doomed index objects. No pending
	 * marker of a bad pack may go into them. */
	for (size_t i = 0; i < rp->n_bad; i++) {
		char key[128], hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(&rp->bad[i].id, hex);
		snprintf(key, sizeof(key), "pending/%s", hex);
		cfs_catalog_batch_delete_meta(rp->b, key);
	}
	e = cfs_catalog_commit(r->catalog, rp->b);
	if (e == 0)
		e = cfs_repo_write_pending_index(r);
	if (e < 0)
		return log_error_errno(e, "Cannot store the salvaged blobs and new index objects in %s: %m (nothing was "
					  "deleted)",
				       cfs_objstore_location(r->store));
	/* Then what they replace, unless a writer came meanwhile. */
	e = cfs_repo_locks_check(r, false, NULL);
	if (e == -EBUSY)
		return log_error_errno(e, "Another writer started on %s (named above): nothing was deleted; run repair "
					  "again when it is done",
				       cfs_objstore_location(r->store));
	if (e == 0)
		e = delete_old(rp);
	if (e == 0)
		e = forget_old(rp);
	return e;
}

int cfs_repo_repair(struct cfs_repo *r, const struct cfs_repo_repair_options *o, struct cfs_repo_repair_result *ret)
{
	struct repair rp = {.r = r, .o = o, .res = ret, .bad_set = CFS_IDSET_INIT};
	memset(ret, 0, sizeof(*ret));
	if (!r->writer || !r->allow_damaged)
		return -EINVAL;
	int e = repair_run(&rp);
	cfs_repo_listing_release(&rp.listing);
	cfs_idset_release(&rp.bad_set);
	free(rp.bad);
	free(rp.victims);
	for (size_t i = 0; i < rp.n_doomed; i++)
		free(rp.doomed_indexes[i]);
	free(rp.doomed_indexes);
	cfs_catalog_batch_free(rp.b);
	cfs_repo_reader_free(rp.rd);
	return e;
}
