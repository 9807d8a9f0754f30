/* SPDX-License-Identifier: MIT */
/*
 * gc.c — deletion records, forget and holds: what lets snapshots and data
 * leave a repository that several hosts write and read at once.
 *
 * Nothing here deletes data. forget removes snapshot manifests, after a
 * forget record that tells every catalog the snapshots went on purpose (a
 * snapshot that vanishes without one is a loss, named as such). prune
 * (prune.c) condemns packs in a condemn record before it deletes them and
 * says which went in a done record. Every catalog applies the records at
 * each sync (repo.c, sync_records) before it reads index objects, so that
 * an index entry in a condemned pack never replaces a good location, and
 * writers never deduplicate against a condemned pack (blob_state_locked).
 * The protocol and why it keeps every committed snapshot whole are in
 * chronofs-repository(5), DELETION.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

#define RECORD_VERSION 1
/* Lists in a record are bounded by what can be there: a record of 16 M
 * packs would be 640 MB. */
#define RECORD_LIST_MAX (1u << 24)

void cfs_repo_record_release(struct repo_record *rec)
{
	free(rec->snapshots);
	free(rec->packs);
	free(rec->released);
	free(rec->indexes);
	free(rec->written);
	for (size_t i = 0; i < rec->n_locks; i++)
		free(rec->locks[i]);
	free(rec->locks);
	*rec = (struct repo_record){0};
}

static int put_str(struct cfs_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT16_MAX)
		return -EINVAL;
	int e = cfs_buf_append_le16(b, (uint16_t)n);
	return e < 0 ? e : cfs_buf_append(b, s, n);
}

static int put_ids(struct cfs_buf *b, const struct cfs_id *v, size_t n)
{
	int e = cfs_buf_append_le32(b, (uint32_t)n);
	for (size_t i = 0; i < n && e == 0; i++)
		e = cfs_buf_append(b, v[i].b, CFS_ID_SIZE);
	return e;
}

int cfs_repo_record_encode(const struct repo_record *rec, struct cfs_buf *out)
{
	cfs_buf_reset(out);
	int e = cfs_buf_append(out, CFS_RECORD_MAGIC, 8);
	if (e == 0)
		e = cfs_buf_append_le32(out, RECORD_VERSION);
	if (e == 0)
		e = cfs_buf_append_u8(out, rec->kind);
	if (e == 0)
		e = cfs_buf_append_le64(out, (uint64_t)rec->time_ns);
	if (e == 0)
		e = put_str(out, rec->host);
	if (e == 0)
		e = cfs_buf_append(out, rec->of.b, CFS_ID_SIZE);
	if (e == 0)
		e = put_ids(out, rec->snapshots, rec->n_snapshots);
	if (e == 0)
		e = cfs_buf_append_le32(out, (uint32_t)rec->n_packs);
	for (size_t i = 0; i < rec->n_packs && e == 0; i++) {
		e = cfs_buf_append(out, rec->packs[i].id.b, CFS_ID_SIZE);
		if (e == 0)
			e = cfs_buf_append_le64(out, rec->packs[i].size);
	}
	if (e == 0)
		e = put_ids(out, rec->released, rec->n_released);
	if (e == 0)
		e = put_ids(out, rec->indexes, rec->n_indexes);
	if (e == 0)
		e = put_ids(out, rec->written, rec->n_written);
	if (e == 0)
		e = cfs_buf_append_le32(out, (uint32_t)rec->n_locks);
	for (size_t i = 0; i < rec->n_locks && e == 0; i++)
		e = put_str(out, rec->locks[i]);
	return e;
}

/* A count, checked against what the rest of the input can hold. */
static int get_count(struct cfs_rd *rd, size_t item, size_t *ret)
{
	uint32_t n;
	int e = cfs_rd_le32(rd, &n);
	if (e < 0)
		return e;
	if (n > RECORD_LIST_MAX || (uint64_t)n * item > cfs_rd_left(rd))
		return -EPROTO;
	*ret = n;
	return 0;
}

static int get_ids(struct cfs_rd *rd, struct cfs_id **ret, size_t *ret_n)
{
	size_t n;
	int e = get_count(rd, CFS_ID_SIZE, &n);
	if (e < 0)
		return e;
	if (!n)
		return 0;
	*ret = calloc(n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	*ret_n = n;
	for (size_t i = 0; i < n && e == 0; i++)
		e = cfs_rd_bytes(rd, (*ret)[i].b, CFS_ID_SIZE);
	return e;
}

/* A string without NUL, as a new C string. */
static int get_str(struct cfs_rd *rd, char **ret)
{
	uint16_t n;
	const uint8_t *p;
	int e = cfs_rd_le16(rd, &n);
	if (e == 0)
		e = cfs_rd_ptr(rd, n, &p);
	if (e < 0)
		return e;
	if (memchr(p, 0, n))
		return -EPROTO;
	*ret = strndup((const char *)p, n);
	return *ret ? 0 : -ENOMEM;
}

static int record_decode(struct cfs_rd *rd, struct repo_record *rec)
{
	const uint8_t *magic;
	uint32_t version;
	uint64_t t;
	_cleanup_free_ char *host = NULL;
	int e = cfs_rd_ptr(rd, 8, &magic);
	if (e < 0 || memcmp(magic, CFS_RECORD_MAGIC, 8) != 0)
		return -EPROTO;
	e = cfs_rd_le32(rd, &version);
	if (e < 0)
		return e;
	if (version > RECORD_VERSION)
		return -EPROTONOSUPPORT;
	if (version != RECORD_VERSION)
		return -EPROTO;
	e = cfs_rd_u8(rd, &rec->kind);
	if (e == 0)
		e = cfs_rd_le64(rd, &t);
	if (e == 0)
		e = get_str(rd, &host);
	if (e < 0)
		return e;
	if (rec->kind < REPO_RECORD_FORGET || rec->kind > REPO_RECORD_DONE || strlen(host) >= sizeof(rec->host))
		return -EPROTO;
	rec->time_ns = (int64_t)t;
	snprintf(rec->host, sizeof(rec->host), "%s", host);
	e = cfs_rd_bytes(rd, rec->of.b, CFS_ID_SIZE);
	if (e == 0)
		e = get_ids(rd, &rec->snapshots, &rec->n_snapshots);
	size_t n = 0;
	if (e == 0)
		e = get_count(rd, CFS_ID_SIZE + 8, &n);
	if (e == 0 && n) {
		rec->packs = calloc(n, sizeof(*rec->packs));
		if (!rec->packs)
			return -ENOMEM;
		rec->n_packs = n;
	}
	for (size_t i = 0; i < n && e == 0; i++) {
		e = cfs_rd_bytes(rd, rec->packs[i].id.b, CFS_ID_SIZE);
		if (e == 0)
			e = cfs_rd_le64(rd, &rec->packs[i].size);
	}
	if (e == 0)
		e = get_ids(rd, &rec->released, &rec->n_released);
	if (e == 0)
		e = get_ids(rd, &rec->indexes, &rec->n_indexes);
	if (e == 0)
		e = get_ids(rd, &rec->written, &rec->n_written);
	if (e == 0)
		e = get_count(rd, 2, &n);
	if (e == 0 && n) {
		rec->locks = calloc(n, sizeof(*rec->locks));
		if (!rec->locks)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n && e == 0; i++) {
		e = get_str(rd, &rec->locks[i]);
		if (e == 0)
			rec->n_locks++;
	}
	if (e == 0 && cfs_rd_left(rd))
		return -EPROTO;
	return e;
}

int cfs_repo_record_decode(const void *p, size_t n, struct repo_record *ret)
{
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	struct repo_record rec = {0};
	int e = record_decode(&rd, &rec);
	if (e == -ERANGE || e == -EINVAL)
		e = -EPROTO; /* a short read: truncated */
	if (e < 0) {
		cfs_repo_record_release(&rec);
		return e;
	}
	*ret = rec;
	return 0;
}

int cfs_repo_record_put(struct cfs_repo *r, struct repo_record *rec, struct cfs_id *ret_id)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	char name[96];
	rec->time_ns = cfs_now_ns();
	(void)gethostname(rec->host, sizeof(rec->host) - 1);
	int e = cfs_repo_record_encode(rec, &plain);
	if (e == 0)
		e = CFS_FAULT("gc.record");
	if (e == 0)
		e = cfs_repo_put_sealed_object(r, r->crypto, "gc", CFS_REPO_AAD_RECORD, plain.data, plain.len, name,
					       sizeof(name));
	if (e < 0)
		return e;
	return cfs_hex_decode(name + 3, ret_id->b, CFS_ID_SIZE) < 0 ? -EPROTO : 0;
}

int cfs_repo_record_get(struct cfs_repo *r, const struct cfs_id *id, struct repo_record *ret)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	char hex[CFS_ID_HEX_SIZE], name[96];
	cfs_id_hex(id, hex);
	snprintf(name, sizeof(name), "gc/%s", hex);
	int e = cfs_repo_get_sealed_object(r, r->crypto, name, CFS_REPO_AAD_RECORD, &plain);
	if (e < 0)
		return e;
	return cfs_repo_record_decode(plain.data, plain.len, ret);
}

static void meta_key(char *out, size_t outlen, const char *prefix, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(id, hex);
	snprintf(out, outlen, "%s%s", prefix, hex);
}

/* Whether the catalog has pack key condemned by a record other than of. */
static int condemned_by_other(struct cfs_catalog *cat, const char *key, const struct cfs_id *of)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	int e = cfs_catalog_meta_get(cat, key, &v);
	if (e == -ENOENT)
		return 0;
	if (e < 0)
		return e;
	return v.len == CFS_ID_SIZE && memcmp(v.data, of->b, CFS_ID_SIZE) != 0;
}

int cfs_repo_record_apply(struct cfs_catalog *cat, const struct cfs_id *id, const struct repo_record *rec,
			  struct cfs_catalog_batch *b, bool *ret_lost)
{
	char key[128];
	int e;
	switch (rec->kind) {
	case REPO_RECORD_FORGET:
		for (size_t i = 0; i < rec->n_snapshots; i++) {
			meta_key(key, sizeof(key), CFS_REPO_META_FORGOT, &rec->snapshots[i]);
			cfs_catalog_batch_put_meta(b, key, "", 0);
			cfs_catalog_batch_delete_snapshot(b, &rec->snapshots[i]);
		}
		break;
	case REPO_RECORD_CONDEMN:
		for (size_t i = 0; i < rec->n_packs; i++) {
			meta_key(key, sizeof(key), CFS_REPO_META_CONDEMNED, &rec->packs[i].id);
			cfs_catalog_batch_put_meta(b, key, id->b, CFS_ID_SIZE);
		}
		for (size_t i = 0; i < rec->n_indexes; i++) {
			meta_key(key, sizeof(key), CFS_REPO_META_RETIRING, &rec->indexes[i]);
			cfs_catalog_batch_put_meta(b, key, "", 0);
		}
		if (rec->n_packs)
			*ret_lost = true;
		break;
	case REPO_RECORD_DONE:
		for (size_t i = 0; i < rec->n_packs; i++) {
			meta_key(key, sizeof(key), CFS_REPO_META_CONDEMNED, &rec->packs[i].id);
			cfs_catalog_batch_delete_meta(b, key);
			cfs_catalog_batch_delete_pack(b, &rec->packs[i].id);
			meta_key(key, sizeof(key), "pending/", &rec->packs[i].id);
			cfs_catalog_batch_delete_meta(b, key);
		}
		/* A released pack is released from this record's condemn
		 * record only. The prune that released it may have repacked
		 * and condemned it again in a record of its own, and a catalog
		 * that meets both in one sync applies this done record after
		 * that condemn record: un-condemned, the pack would let the
		 * index object that listed it again put back locations in it,
		 * which the next prune deletes (restores from that catalog
		 * then fail, "pack missing", until its catalog is rebuilt). */
		for (size_t i = 0; i < rec->n_released; i++) {
			meta_key(key, sizeof(key), CFS_REPO_META_CONDEMNED, &rec->released[i]);
			e = condemned_by_other(cat, key, &rec->of);
			if (e < 0)
				return e;
			if (!e)
				cfs_catalog_batch_delete_meta(b, key);
		}
		for (size_t i = 0; i < rec->n_indexes; i++) {
			meta_key(key, sizeof(key), "index/", &rec->indexes[i]);
			cfs_catalog_batch_delete_meta(b, key);
			meta_key(key, sizeof(key), CFS_REPO_META_RETIRING, &rec->indexes[i]);
			cfs_catalog_batch_delete_meta(b, key);
		}
		break;
	default: /* arm: only prune reads it */
		break;
	}
	meta_key(key, sizeof(key), CFS_REPO_META_RECORD, id);
	cfs_catalog_batch_put_meta(b, key, &rec->kind, 1);
	return 0;
}

static int condemned_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct cfs_repo *r = ud;
	struct cfs_id pack;
	(void)val;
	(void)vlen;
	if (cfs_repo_meta_key_id(key, klen, CFS_REPO_META_CONDEMNED, &pack) < 0)
		return 0;
	return cfs_idset_add(&r->condemned, &pack) < 0 ? -ENOMEM : 0;
}

int cfs_repo_condemned_load(struct cfs_repo *r, struct cfs_catalog *cat)
{
	pthread_mutex_lock(&r->write_lock);
	cfs_idset_clear(&r->condemned);
	r->have_last_good_pack = false;
	int e = cfs_catalog_meta_foreach(cat, CFS_REPO_META_CONDEMNED, condemned_cb, r);
	pthread_mutex_unlock(&r->write_lock);
	return e;
}

bool cfs_repo_pack_condemned(const struct cfs_repo *r, const struct cfs_id *pack)
{
	return cfs_idset_contains(&r->condemned, pack);
}

/* ---- forget ------------------------------------------------------------ */

static void hold_name(const struct cfs_id *snap, char *out, size_t outlen)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(snap, hex);
	snprintf(out, outlen, "holds/%s", hex);
}

/* Hold objects: layout in repo-internal.h and chronofs-repository(5). */
#define HOLD_MAGIC "CFSHOLD\x01"

int cfs_repo_hold_encode(const struct cfs_repo_hold *h, struct cfs_buf *out)
{
	cfs_buf_reset(out);
	int e = cfs_buf_append(out, HOLD_MAGIC, 8);
	if (e == 0)
		e = cfs_buf_append_le32(out, 1);
	if (e == 0)
		e = cfs_buf_append(out, h->snapshot.b, CFS_ID_SIZE);
	if (e == 0)
		e = cfs_buf_append_le64(out, (uint64_t)h->time_ns);
	if (e == 0)
		e = put_str(out, h->host);
	if (e == 0)
		e = put_str(out, h->reason);
	return e;
}

int cfs_repo_hold_decode(const void *p, size_t n, struct cfs_repo_hold *ret)
{
	_cleanup_free_ char *host = NULL, *reason = NULL;
	const uint8_t *magic;
	uint32_t version;
	uint64_t t;
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	struct cfs_repo_hold h = {0};
	int e = cfs_rd_ptr(&rd, 8, &magic);
	if (e == 0 && memcmp(magic, HOLD_MAGIC, 8) != 0)
		e = -EPROTO;
	if (e == 0)
		e = cfs_rd_le32(&rd, &version);
	if (e == 0 && version != 1)
		e = version > 1 ? -EPROTONOSUPPORT : -EPROTO;
	if (e == 0)
		e = cfs_rd_bytes(&rd, h.snapshot.b, CFS_ID_SIZE);
	if (e == 0)
		e = cfs_rd_le64(&rd, &t);
	if (e == 0)
		e = get_str(&rd, &host);
	if (e == 0)
		e = get_str(&rd, &reason);
	if (e == 0 && (cfs_rd_left(&rd) || strlen(host) >= sizeof(h.host) || !*reason ||
		       strlen(reason) >= sizeof(h.reason)))
		e = -EPROTO;
	if (e == -ERANGE || e == -EINVAL)
		e = -EPROTO;
	if (e < 0)
		return e;
	h.time_ns = (int64_t)t;
	snprintf(h.host, sizeof(h.host), "%s", host);
	snprintf(h.reason, sizeof(h.reason), "%s", reason);
	*ret = h;
	return 0;
}

int cfs_repo_hold_get(struct cfs_repo *r, const struct cfs_id *snap, struct cfs_repo_hold *ret)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	struct cfs_repo_hold h;
	char name[96];
	hold_name(snap, name, sizeof(name));
	int e = cfs_repo_get_sealed_object(r, r->crypto, name, CFS_REPO_AAD_HOLD, &plain);
	if (e == 0)
		e = cfs_repo_hold_decode(plain.data, plain.len, &h);
	if (e < 0)
		return e;
	/* A hold moved to another snapshot's name is not that snapshot's. */
	if (memcmp(h.snapshot.b, snap->b, CFS_ID_SIZE) != 0)
		return -EBADMSG;
	*ret = h;
	return 0;
}

int cfs_repo_hold(struct cfs_repo *r, const struct cfs_id *snap, const char *reason)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT, sealed = CFS_BUF_INIT;
	struct cfs_repo_hold h = {.snapshot = *snap, .time_ns = cfs_now_ns()};
	char name[96];
	if (!reason || !*reason || strlen(reason) >= sizeof(h.reason))
		return -EINVAL;
	(void)gethostname(h.host, sizeof(h.host) - 1);
	snprintf(h.reason, sizeof(h.reason), "%s", reason);
	int e = cfs_repo_hold_encode(&h, &plain);
	if (e == 0)
		e = cfs_crypto_seal(r->crypto, plain.data, plain.len, CFS_REPO_AAD_HOLD, strlen(CFS_REPO_AAD_HOLD),
				    &sealed);
	if (e < 0)
		return e;
	hold_name(snap, name, sizeof(name));
	return cfs_objstore_put_new(r->store, name, sealed.data, sealed.len);
}

int cfs_repo_release(struct cfs_repo *r, const struct cfs_id *snap)
{
	char name[96];
	uint64_t size;
	hold_name(snap, name, sizeof(name));
	int e = cfs_objstore_head(r->store, name, &size);
	if (e < 0)
		return e;
	return cfs_objstore_delete(r->store, name);
}

struct holds_walk {
	struct cfs_repo *r;
	cfs_repo_hold_cb cb;
	void *ud;
};

static int holds_cb(const char *name, uint64_t size, void *ud)
{
	struct holds_walk *w = ud;
	struct cfs_repo_hold h;
	struct cfs_id snap;
	(void)size;
	if (strncmp(name, "holds/", 6) != 0 || strlen(name) != 6 + 64 || cfs_hex_decode(name + 6, snap.b, CFS_ID_SIZE) < 0)
		return 0;
	int e = cfs_repo_hold_get(w->r, &snap, &h);
	if (e == -ENOENT)
		return 0; /* released meanwhile */
	if (e < 0) {
		/* A hold that cannot be read still holds: it names its
		 * snapshot by its name, which is all that counts. */
		h = (struct cfs_repo_hold){.snapshot = snap};
		snprintf(h.reason, sizeof(h.reason), "(hold object %s cannot be read: %s)", name, strerror(-e));
	}
	return w->cb(&h, w->ud);
}

int cfs_repo_holds_foreach(struct cfs_repo *r, cfs_repo_hold_cb cb, void *ud)
{
	struct holds_walk w = {r, cb, ud};
	return cfs_objstore_list(r->store, "holds/", holds_cb, &w);
}

int cfs_repo_forget(struct cfs_repo *r, const struct cfs_id *ids, size_t n)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	struct repo_record rec = {.kind = REPO_RECORD_FORGET};
	struct cfs_id rid;
	char name[96], hex[CFS_ID_HEX_SIZE];
	bool lost = false;
	int e;

	if (!r->writer)
		return -EBADF;
	if (!n)
		return 0;
	/* A held snapshot is never forgotten: asked of the store itself,
	 * right before the record (a hold put after this is too late for
	 * this forget, and says so to nobody: holds are for what is kept). */
	for (size_t i = 0; i < n; i++) {
		uint64_t size;
		hold_name(&ids[i], name, sizeof(name));
		e = cfs_objstore_head(r->store, name, &size);
		if (e == 0)
			return -EPERM;
		if (e != -ENOENT)
			return e;
	}
	rec.snapshots = (struct cfs_id *)ids;
	rec.n_snapshots = n;
	e = cfs_repo_record_put(r, &rec, &rid);
	if (e < 0)
		return e;
	/* The record is the forget: from here on every catalog drops these
	 * snapshots, and a kill before the manifests are deleted leaves them
	 * for the next forget or prune to delete. */
	e = cfs_catalog_batch_new(&b);
	if (e == 0)
		e = cfs_repo_record_apply(r->catalog, &rid, &rec, b, &lost);
	if (e == 0)
		e = cfs_catalog_commit(r->catalog, b);
	if (e < 0)
		log_warning_errno(e, "Cannot record the forget in the catalog at %s: %m (the next open does)",
				  r->cache_dir);
	for (size_t i = 0; i < n; i++) {
		cfs_id_hex(&ids[i], hex);
		snprintf(name, sizeof(name), "snapshots/%s", hex);
		e = CFS_FAULT("forget.delete");
		if (e == 0)
			e = cfs_objstore_delete(r->store, name);
		if (e < 0 && e != -ENOENT)
			return log_error_errno(e, "Cannot delete %s from %s: %m (it is forgotten all the same; the next "
						  "prune deletes it)",
					       name, cfs_objstore_location(r->store));
	}
	return 0;
}
