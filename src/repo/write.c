/* SPDX-License-Identifier: MIT */
/*
 * The write path: dedup, compress, seal, pack, flush, commit.
 * See the commit protocol in repo.h.
 */
#include <stdio.h>
#include <string.h>

#include "chronofs/util.h"
#include "repo/repo-internal.h"

int cfs_repo_flush(struct cfs_repo *r)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf marker = CFS_BUF_INIT;
	struct cfs_id pack;
	char name[96], key[128], hex[CFS_ID_HEX_SIZE];
	int e;

	size_t count = cfs_pack_writer_count(r->pw);
	if (count == 0)
		return 0;
	e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	/* Copy the entries before finish() resets the writer. */
	const struct cfs_pack_entry *pe = cfs_pack_writer_entries(r->pw);
	_cleanup_free_ struct cfs_pack_entry *entries = malloc(count * sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	memcpy(entries, pe, count * sizeof(*entries));

	e = cfs_pack_writer_finish(r->pw, r->crypto, &r->pbuf, &pack);
	if (e < 0)
		return e;
	cfs_repo_pack_name(&pack, name, sizeof(name));
	/* Step 1: the pack is durable before any of its blobs is indexed. */
	e = cfs_objstore_put(r->store, name, r->pbuf.data, r->pbuf.len);
	if (e < 0)
		return e;

	e = cfs_buf_append_le64(&marker, r->pbuf.len);
	for (size_t i = 0; i < count && e == 0; i++) {
		struct cfs_blob_loc loc = {pack, entries[i].offset, entries[i].stored_len, entries[i].raw_len,
					   entries[i].type, entries[i].codec};
		cfs_catalog_batch_put_blob(b, &entries[i].id, &loc);
		e = cfs_repo_entry_encode(&marker, &entries[i]);
	}
	if (e < 0)
		return e;
	struct cfs_pack_info info = {r->pbuf.len, (uint32_t)count};
	cfs_catalog_batch_put_pack(b, &pack, &info);
	cfs_id_hex(&pack, hex);
	snprintf(key, sizeof(key), "pending/%s", hex);
	cfs_catalog_batch_put_meta(b, key, marker.data, marker.len);
	e = cfs_catalog_commit(r->catalog, b);
	if (e < 0)
		return e;
	cfs_idset_clear(&r->open_ids);
	/* Do not keep a 16 MiB scratch buffer around longer than needed. */
	if (r->pbuf.cap > 2 * CFS_PACK_TARGET_SIZE)
		cfs_buf_release(&r->pbuf);
	return 0;
}

int cfs_repo_put_blob(struct cfs_repo *r, enum cfs_blob_type type, const void *p, size_t n,
		      struct cfs_id *ret_id, bool *ret_added, uint64_t *ret_stored)
{
	struct cfs_blob_loc loc;
	struct cfs_id id;
	enum cfs_codec codec;
	int e;

	if (n > CFS_BLOB_MAX_SIZE)
		return -EFBIG;
	e = cfs_crypto_blob_id(r->crypto, p, n, &id);
	if (e < 0)
		return e;
	*ret_id = id;
	if (ret_added)
		*ret_added = false;
	if (ret_stored)
		*ret_stored = 0;
	if (cfs_idset_contains(&r->open_ids, &id))
		return 0;
	e = cfs_catalog_blob_get(r->catalog, &id, &loc);
	if (e == 0)
		return 0;
	if (e != -ENOENT)
		return e;

	e = cfs_compress(r->zc, p, n, &r->zbuf, &codec);
	if (e < 0)
		return e;
	cfs_buf_reset(&r->sbuf);
	/* The id as AAD binds the sealed bytes to the id they are filed under. */
	e = cfs_crypto_seal(r->crypto, r->zbuf.data, r->zbuf.len, id.b, CFS_ID_SIZE, &r->sbuf);
	if (e < 0)
		return e;
	struct cfs_pack_entry pe = {.id = id, .type = (uint8_t)type, .codec = (uint8_t)codec,
				    .raw_len = (uint32_t)n, .stored_len = (uint32_t)r->sbuf.len};
	e = cfs_pack_writer_add(r->pw, &pe, r->sbuf.data, r->sbuf.len, NULL);
	if (e < 0)
		return e;
	e = cfs_idset_add(&r->open_ids, &id);
	if (e < 0)
		return e;
	if (ret_added)
		*ret_added = true;
	if (ret_stored)
		*ret_stored = r->sbuf.len;
	if (cfs_pack_writer_size(r->pw) >= CFS_PACK_TARGET_SIZE)
		return cfs_repo_flush(r);
	return 0;
}

int cfs_repo_put_tree(struct cfs_repo *r, const struct cfs_tree *t, struct cfs_id *ret_id,
		      uint64_t *ret_stored)
{
	_cleanup_buf_ struct cfs_buf enc = CFS_BUF_INIT;
	int e = cfs_tree_encode(t, &enc);
	if (e < 0)
		return e;
	return cfs_repo_put_blob(r, CFS_BLOB_TREE, enc.data, enc.len, ret_id, NULL, ret_stored);
}

struct pending_state {
	struct cfs_buf *out;
	struct cfs_catalog_batch *b;
	uint32_t npacks;
	int error;
};

static int pending_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct pending_state *st = ud;
	struct cfs_id pack;
	char k[128];
	/* key "pending/<hex>", value: u64 size + entries */
	if (klen != 8 + 64 || vlen < 8 || (vlen - 8) % CFS_PACK_ENTRY_SIZE != 0)
		return 0;
	memcpy(k, key, klen);
	k[klen] = 0;
	if (cfs_hex_decode(k + 8, pack.b, CFS_ID_SIZE) < 0)
		return 0;
	int e = cfs_buf_append(st->out, pack.b, CFS_ID_SIZE);
	if (e == 0)
		e = cfs_buf_append(st->out, val, 8);
	if (e == 0)
		e = cfs_buf_append_le32(st->out, (uint32_t)((vlen - 8) / CFS_PACK_ENTRY_SIZE));
	if (e == 0)
		e = cfs_buf_append(st->out, (const uint8_t *)val + 8, vlen - 8);
	if (e < 0)
		return e;
	cfs_catalog_batch_delete_meta(st->b, k);
	st->npacks++;
	return 0;
}

struct name_state {
	const char *name;
	bool taken;
};

static int name_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct name_state *st = ud;
	struct cfs_snapshot s;
	(void)key;
	(void)klen;
	if (cfs_snapshot_decode(val, vlen, &s) < 0)
		return 0;
	if (strcmp(s.name, st->name) == 0)
		st->taken = true;
	cfs_snapshot_release(&s);
	return st->taken ? 1 : 0;
}

static bool name_taken(struct cfs_repo *r, const char *name)
{
	struct name_state st = {name, false};
	(void)cfs_catalog_snapshot_foreach(r->catalog, name_cb, &st);
	return st.taken;
}

/* Name = the time to the second; on a clash add milliseconds, then more
 * digits. All forms are RFC 3339. */
static int unique_name(struct cfs_repo *r, struct cfs_snapshot *s)
{
	char base[32];
	int e = cfs_time_format(s->time_ns, base, sizeof(base));
	if (e < 0)
		return e;
	snprintf(s->name, sizeof(s->name), "%s", base);
	if (!name_taken(r, s->name))
		return 0;
	int64_t frac = s->time_ns % 1000000000;
	if (frac < 0)
		frac += 1000000000;
	base[19] = 0; /* drop the "Z" */
	snprintf(s->name, sizeof(s->name), "%s.%03lldZ", base, (long long)(frac / 1000000));
	if (!name_taken(r, s->name))
		return 0;
	snprintf(s->name, sizeof(s->name), "%s.%09lldZ", base, (long long)frac);
	if (!name_taken(r, s->name))
		return 0;
	return -EEXIST;
}

int cfs_repo_commit_snapshot(struct cfs_repo *r, struct cfs_snapshot *s, struct cfs_id *ret_id)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf idx = CFS_BUF_INIT, sealed = CFS_BUF_INIT, man = CFS_BUF_INIT;
	struct cfs_id id;
	uint8_t h[32];
	char hex[CFS_ID_HEX_SIZE], name[96];
	int e;

	e = cfs_repo_flush(r);
	if (e < 0)
		return e;
	e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;

	/* Step 2a: index/<id> for every pack not yet covered by an index. */
	e = cfs_buf_append(&idx, CFS_INDEX_MAGIC, 8);
	if (e == 0)
		e = cfs_buf_append_le32(&idx, 1);
	if (e == 0)
		e = cfs_buf_append_le32(&idx, 0); /* patched below */
	if (e < 0)
		return e;
	struct pending_state ps = {&idx, b, 0, 0};
	e = cfs_catalog_meta_foreach(r->catalog, "pending/", pending_cb, &ps);
	if (e < 0)
		return e;
	if (ps.npacks > 0) {
		cfs_put_le32(idx.data + 12, ps.npacks);
		e = cfs_crypto_seal(r->crypto, idx.data, idx.len, "index", 5, &sealed);
		if (e < 0)
			return e;
		e = cfs_sha256(sealed.data, sealed.len, h);
		if (e < 0)
			return e;
		cfs_hex_encode(h, sizeof(h), hex);
		snprintf(name, sizeof(name), "index/%s", hex);
		e = cfs_objstore_put(r->store, name, sealed.data, sealed.len);
		if (e < 0)
			return e;
		cfs_catalog_batch_put_meta(b, name, "", 0);
	}

	/* Step 2b: the manifest. */
	e = unique_name(r, s);
	if (e < 0)
		return e;
	e = cfs_snapshot_encode(s, &man);
	if (e < 0)
		return e;
	e = cfs_crypto_blob_id(r->crypto, man.data, man.len, &id);
	if (e < 0)
		return e;
	cfs_buf_reset(&sealed);
	e = cfs_crypto_seal(r->crypto, man.data, man.len, "snapshot", 8, &sealed);
	if (e < 0)
		return e;
	cfs_id_hex(&id, hex);
	snprintf(name, sizeof(name), "snapshots/%s", hex);
	e = cfs_objstore_put(r->store, name, sealed.data, sealed.len);
	if (e < 0)
		return e;

	/* Step 2c: the local catalog learns it in one atomic batch. */
	cfs_catalog_batch_put_snapshot(b, &id, man.data, man.len);
	e = cfs_catalog_commit(r->catalog, b);
	if (e < 0)
		return e;
	if (ret_id)
		*ret_id = id;
	return 0;
}
