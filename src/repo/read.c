/* SPDX-License-Identifier: MIT */
/*
 * The read path: every blob is authenticated, decompressed to exactly its
 * recorded size and its id recomputed before a byte is returned.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

int cfs_repo_blob_loc(struct cfs_repo *r, const struct cfs_id *id, struct cfs_blob_loc *ret)
{
	return cfs_catalog_blob_get(r->catalog, id, ret);
}

struct cfs_repo_reader {
	struct cfs_repo *r;         /* borrowed */
	struct cfs_crypto *crypto;  /* owned: this thread's contexts */
	struct cfs_compressor *zc;  /* owned */
	struct cfs_buf rbuf;        /* scratch: stored bytes, opened in place */
	size_t scratch_limit;       /* scratch kept between calls, at most */
};

int cfs_repo_reader_new(struct cfs_repo *r, struct cfs_repo_reader **ret)
{
	_cleanup_(cfs_repo_reader_freep) struct cfs_repo_reader *rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->r = r;
	rd->scratch_limit = 2 * CFS_CHUNKER_MAX_DEFAULT + 4096;
	int e = cfs_crypto_new(&r->keys, &rd->crypto);
	if (e < 0)
		return e;
	/* Decompression only: the level does not matter. */
	e = cfs_compressor_new(1, &rd->zc);
	if (e < 0)
		return e;
	*ret = TAKE_PTR(rd);
	return 0;
}

struct cfs_repo_reader *cfs_repo_reader_free(struct cfs_repo_reader *rd)
{
	if (!rd)
		return NULL;
	cfs_crypto_free(rd->crypto);
	cfs_compressor_free(rd->zc);
	cfs_buf_release(&rd->rbuf);
	free(rd);
	return NULL;
}

/* A blob by its id through a reader: its location, then the read. */
static int reader_get_blob(struct cfs_repo_reader *rd, const struct cfs_id *id, struct cfs_buf *out)
{
	struct cfs_blob_loc loc;
	int e = cfs_catalog_blob_get(rd->r->catalog, id, &loc);
	if (e < 0)
		return e;
	return cfs_repo_reader_get_blob_at(rd, id, &loc, out);
}

/* A blob's dictionary; one that cannot be found makes the blob unreadable:
 * an integrity error, logged with the dictionary's number. */
static int blob_dict(struct cfs_repo *r, const struct cfs_id *id, uint32_t number, const struct cfs_zdict **ret)
{
	int e = cfs_repo_dict_find(r, number, ret);
	if (e == -ENOENT) {
		char hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(id, hex);
		log_error("Blob %s in %s is compressed with dictionary %" PRIu32 ", which the repository does not have",
			  hex, cfs_objstore_location(r->store), number);
		return -EBADMSG;
	}
	return e;
}

/*
 * The one way stored bytes become a blob: open the sealed bytes in place
 * (tag, with the id as AAD), decompress them with the codec and dictionary
 * the entry names to exactly raw_len bytes, and recompute the id from what
 * came out. Every read goes through here (cfs_repo_reader_get_blob_at,
 * cfs_repo_verify_pack, cfs_repo_pack_read_blobs, and so repair's salvage
 * and prune's repack), so every caller verifies
 * as strongly as the others: tag and id re-hash, always (DESIGN.md, "Blob
 * encoding"). sealed is overwritten. Into out (reset first). -EBADMSG for
 * any mismatch, a corrupt frame, an unknown codec or a dictionary the
 * repository lacks; -EPROTO for sealed bytes shorter than a tag.
 */
static int blob_open_packed(struct cfs_repo *r, struct cfs_crypto *crypto, struct cfs_compressor *zc,
			    const struct cfs_id *id, uint8_t codec, uint32_t dict, uint32_t raw_len, uint8_t *sealed,
			    size_t n, struct cfs_buf *out, const uint8_t **ret_packed, size_t *ret_packed_len)
{
	const struct cfs_zdict *d = NULL;
	struct cfs_id got;
	uint8_t *plain;
	size_t plain_len;
	int e = cfs_crypto_open_inplace(crypto, sealed, n, id->b, CFS_ID_SIZE, &plain, &plain_len);
	if (e == 0 && codec == CFS_CODEC_ZSTD_DICT)
		e = blob_dict(r, id, dict, &d);
	if (e == 0) {
		e = cfs_decompress(zc, codec, d, plain, plain_len, raw_len, out);
		if (e == -EPROTO)
			e = -EBADMSG; /* an unknown codec: the entry is damaged */
	}
	if (e == 0)
		e = cfs_crypto_blob_id(crypto, out->data, out->len, &got);
	if (e == 0 && memcmp(&got, id, sizeof(got)) != 0)
		e = -EBADMSG;
	if (e == 0 && ret_packed) {
		*ret_packed = plain;
		*ret_packed_len = plain_len;
	}
	return e;
}

static int blob_open(struct cfs_repo *r, struct cfs_crypto *crypto, struct cfs_compressor *zc,
		     const struct cfs_id *id, uint8_t codec, uint32_t dict, uint32_t raw_len, uint8_t *sealed,
		     size_t n, struct cfs_buf *out)
{
	return blob_open_packed(r, crypto, zc, id, codec, dict, raw_len, sealed, n, out, NULL, NULL);
}

/* A blob at loc through reader rd into out; packed (NULL: not wanted)
 * also gets its compressed bytes when its codec needs no dictionary. */
static int reader_get_at(struct cfs_repo_reader *rd, const struct cfs_id *id, const struct cfs_blob_loc *locp,
			 struct cfs_buf *out, struct cfs_buf *packed)
{
	const struct cfs_blob_loc loc = *locp;
	const uint8_t *pk = NULL;
	size_t pk_len = 0;
	char name[96];
	int e;

	if (loc.stored_len > CFS_BLOB_MAX_SIZE + 4096 || loc.raw_len > CFS_BLOB_MAX_SIZE)
		return -EPROTO;
	cfs_repo_pack_name(&loc.pack, name, sizeof(name));
	e = cfs_buf_resize(&rd->rbuf, loc.stored_len);
	if (e == 0)
		e = cfs_objstore_get_range(rd->r->store, name, loc.offset, loc.stored_len, rd->rbuf.data);
	if (e == 0)
		e = blob_open_packed(rd->r, rd->crypto, rd->zc, id, loc.codec, loc.dict, loc.raw_len, rd->rbuf.data,
				     rd->rbuf.len, out, &pk, &pk_len);
	/* The compressed bytes are the caller's to seal again only when no
	 * dictionary of this repository is needed to read them (they point
	 * into rbuf: copied before it may go). */
	if (e == 0 && packed && (loc.codec == CFS_CODEC_RAW || loc.codec == CFS_CODEC_ZSTD))
		e = cfs_buf_append(packed, pk, pk_len);
	/* Do not pin big scratch buffers between calls beyond the limit. */
	if (rd->rbuf.cap > rd->scratch_limit)
		cfs_buf_release(&rd->rbuf);
	return e;
}

int cfs_repo_reader_get_blob_packed(struct cfs_repo_reader *rd, const struct cfs_id *id,
				    const struct cfs_blob_loc *locp, struct cfs_buf *out, struct cfs_buf *packed)
{
	cfs_buf_reset(packed);
	return reader_get_at(rd, id, locp, out, packed);
}

int cfs_repo_reader_get_blob_at(struct cfs_repo_reader *rd, const struct cfs_id *id, const struct cfs_blob_loc *locp,
				struct cfs_buf *out)
{
	return reader_get_at(rd, id, locp, out, NULL);
}

void cfs_repo_reader_set_scratch_limit(struct cfs_repo_reader *rd, size_t bytes)
{
	rd->scratch_limit = bytes;
}

/* The reader of the calls on r itself, made at the first. */
static int own_reader(struct cfs_repo *r, struct cfs_repo_reader **ret)
{
	if (!r->reader) {
		int e = cfs_repo_reader_new(r, &r->reader);
		if (e < 0)
			return e;
	}
	*ret = r->reader;
	return 0;
}

int cfs_repo_get_blob(struct cfs_repo *r, const struct cfs_id *id, struct cfs_buf *out)
{
	struct cfs_repo_reader *rd;
	int e = own_reader(r, &rd);
	return e < 0 ? e : reader_get_blob(rd, id, out);
}

/* A tree object as stored: entries, or a fragment index. */
static int get_tree_object(struct cfs_repo_reader *rd, const struct cfs_id *id, struct cfs_buf *scratch,
			   struct cfs_tree *ret)
{
	*ret = (struct cfs_tree)CFS_TREE_INIT;
	int e = reader_get_blob(rd, id, scratch);
	if (e < 0)
		return e;
	return cfs_tree_decode(scratch->data, scratch->len, ret);
}

int cfs_repo_reader_get_tree(struct cfs_repo_reader *rd, const struct cfs_id *id, struct cfs_tree *ret)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	_cleanup_(cfs_tree_release) struct cfs_tree idx = CFS_TREE_INIT, all = CFS_TREE_INIT;
	int e = get_tree_object(rd, id, &b, &idx);
	if (e < 0 || idx.n_frags == 0) {
		*ret = idx;
		idx = (struct cfs_tree)CFS_TREE_INIT;
		return e;
	}
	/* A large directory: its fragments, in order, each checked against
	 * the index's record of it. */
	all.version = idx.version;
	for (size_t k = 0; k < idx.n_frags; k++) {
		_cleanup_(cfs_tree_release) struct cfs_tree f = CFS_TREE_INIT;
		e = get_tree_object(rd, &idx.frags[k].id, &b, &f);
		if (e == 0)
			e = cfs_tree_frag_check(&f, &idx.frags[k], k + 1 < idx.n_frags ? &idx.frags[k + 1] : NULL);
		for (size_t i = 0; e == 0 && i < f.n; i++)
			e = cfs_tree_add(&all, &f.entries[i]);
		if (e < 0)
			return e;
	}
	*ret = all;
	all = (struct cfs_tree)CFS_TREE_INIT;
	return 0;
}

int cfs_repo_get_tree(struct cfs_repo *r, const struct cfs_id *id, struct cfs_tree *ret)
{
	struct cfs_repo_reader *rd;
	int e = own_reader(r, &rd);
	if (e == 0)
		e = cfs_repo_reader_get_tree(rd, id, ret);
	if (e == 0 && r->writer) {
		e = cfs_repo_tree_usable(r, id, ret);
		if (e < 0)
			cfs_tree_release(ret);
	}
	return e;
}

int cfs_repo_get_tree_object(struct cfs_repo *r, const struct cfs_id *id, struct cfs_tree *ret)
{
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	struct cfs_repo_reader *rd;
	int e = own_reader(r, &rd);
	return e < 0 ? e : get_tree_object(rd, id, &b, ret);
}

void cfs_snapshot_list_release(struct cfs_snapshot_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cfs_snapshot_release(&l->items[i]);
	free(l->items);
	free(l->ids);
	*l = (struct cfs_snapshot_list){0};
}

struct list_state {
	struct cfs_snapshot_list *l;
	size_t cap;
};

static int list_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct list_state *st = ud;
	struct cfs_snapshot_list *l = st->l;
	if (klen != CFS_ID_SIZE)
		return 0;
	if (l->n == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 16;
		struct cfs_snapshot *ni = realloc(l->items, ncap * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		l->items = ni;
		struct cfs_id *nd = realloc(l->ids, ncap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		l->ids = nd;
		st->cap = ncap;
	}
	/* The catalog holds manifests that were verified when loaded; one that
	 * does not decode is left out, but memory running out is no reason to
	 * list fewer snapshots. */
	int e = cfs_snapshot_decode(val, vlen, &l->items[l->n]);
	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return 0;
	memcpy(l->ids[l->n].b, key, CFS_ID_SIZE);
	l->n++;
	return 0;
}

static bool snapshot_after(const struct cfs_snapshot *a, const struct cfs_id *aid, const struct cfs_snapshot *b,
			   const struct cfs_id *bid)
{
	if (a->time_ns != b->time_ns)
		return a->time_ns > b->time_ns;
	int c = strcmp(a->name, b->name);
	return c ? c > 0 : memcmp(aid, bid, sizeof(*aid)) > 0;
}

int cfs_repo_list_snapshots(struct cfs_repo *r, struct cfs_snapshot_list *ret)
{
	struct cfs_snapshot_list l = {0};
	struct list_state st = {&l, 0};
	int e = cfs_catalog_snapshot_foreach(r->catalog, list_cb, &st);
	if (e < 0) {
		cfs_snapshot_list_release(&l);
		return e;
	}
	/* Insertion sort by (time, name, id): lists are short and mostly
	 * ordered; the id makes the order total (duplicate names exist). */
	for (size_t i = 1; i < l.n; i++) {
		struct cfs_snapshot s = l.items[i];
		struct cfs_id id = l.ids[i];
		size_t j = i;
		while (j > 0 && snapshot_after(&l.items[j - 1], &l.ids[j - 1], &s, &id)) {
			l.items[j] = l.items[j - 1];
			l.ids[j] = l.ids[j - 1];
			j--;
		}
		l.items[j] = s;
		l.ids[j] = id;
	}
	*ret = l;
	return 0;
}

/* Say which snapshots spec (a name, or an id prefix) matches. -ENOTUNIQ. */
static int ambiguous(struct cfs_repo *r, const struct cfs_snapshot_list *l, const char *spec, bool by_name)
{
	char list[1024] = "";
	size_t used = 0, len = strlen(spec);
	for (size_t i = 0; i < l->n && used < sizeof(list); i++) {
		char hex[CFS_ID_HEX_SIZE];
		cfs_id_hex(&l->ids[i], hex);
		if (by_name ? strcmp(l->items[i].name, spec) != 0 : strncasecmp(hex, spec, len) != 0)
			continue;
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%.12s (%s, host %s)", used ? ", " : "",
					 hex, l->items[i].name, l->items[i].host);
	}
	if (by_name)
		log_error("Snapshot name %s is held by several snapshots in %s: %s. Give an id prefix instead", spec,
			  cfs_objstore_location(r->store), list);
	else
		log_error("Snapshot id prefix %s matches several snapshots in %s: %s. Give more digits", spec,
			  cfs_objstore_location(r->store), list);
	return -ENOTUNIQ;
}

int cfs_repo_resolve_snapshot(struct cfs_repo *r, const char *spec, unsigned time_flags, int64_t now_ns,
			      struct cfs_snapshot *ret, struct cfs_id *ret_id, enum cfs_snapshot_match *ret_how)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	enum cfs_snapshot_match how = CFS_SNAPSHOT_MATCH_NAME;
	ssize_t found = -1;
	int e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		return e;
	if (strcmp(spec, "latest") == 0) {
		if (l.n == 0)
			return -ENOENT;
		found = (ssize_t)l.n - 1;
		how = CFS_SNAPSHOT_MATCH_LATEST;
	} else {
		size_t n = 0;
		for (size_t i = 0; i < l.n; i++)
			if (strcmp(l.items[i].name, spec) == 0 && n++ == 0)
				found = (ssize_t)i;
		/* Names are unique since names/ reservations; older versions
		 * or another writer may have made duplicates: never pick one. */
		if (n > 1)
			return ambiguous(r, &l, spec, true);
		size_t len = strlen(spec);
		if (found < 0 && len >= 4 && len <= 64) {
			for (size_t i = 0; i < l.n; i++) {
				char hex[CFS_ID_HEX_SIZE];
				cfs_id_hex(&l.ids[i], hex);
				if (strncasecmp(hex, spec, len) == 0) {
					if (found >= 0)
						return ambiguous(r, &l, spec, false);
					found = (ssize_t)i;
					how = CFS_SNAPSHOT_MATCH_ID;
				}
			}
		}
		/* Last, a time: the snapshot in effect then, the last in list
		 * order (time, name, id) made at or before it. */
		int64_t at;
		if (found < 0 && cfs_time_parse_as_of(spec, time_flags, now_ns, &at) == 0) {
			for (size_t i = 0; i < l.n && l.items[i].time_ns <= at; i++)
				found = (ssize_t)i;
			how = CFS_SNAPSHOT_MATCH_TIME;
		}
	}
	if (found < 0)
		return -ENOENT;
	if (ret) {
		e = cfs_snapshot_copy(&l.items[found], ret);
		if (e < 0)
			return e;
	}
	if (ret_id)
		*ret_id = l.ids[found];
	if (ret_how)
		*ret_how = how;
	return 0;
}

int cfs_repo_find_snapshot(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret,
			   struct cfs_id *ret_id)
{
	return cfs_repo_resolve_snapshot(r, spec, 0, 0, ret, ret_id, NULL);
}

int cfs_repo_verify_pack(struct cfs_repo *r, const struct cfs_id *pack, cfs_repo_bad_blob_cb cb, void *ud,
			 uint64_t *ret_blobs)
{
	_cleanup_free_ struct cfs_pack_entry *entries = NULL;
	_cleanup_buf_ struct cfs_buf whole = CFS_BUF_INIT, plain = CFS_BUF_INIT;
	char name[96];
	size_t count;
	int e;

	uint8_t h[32];

	*ret_blobs = 0;
	cfs_repo_pack_name(pack, name, sizeof(name));
	e = cfs_objstore_get(r->store, name, &whole);
	if (e < 0)
		return e;
	/* Before the blobs are opened in place. A pack is named by the
	 * SHA-256 of its bytes: this sees any change, also where no tag or id
	 * would (an unencrypted header's entry types, say). */
	e = cfs_sha256(whole.data, whole.len, h);
	if (e < 0)
		return e;
	bool renamed = memcmp(h, pack->b, sizeof(h)) != 0;
	e = cfs_pack_parse(r->crypto, whole.data, whole.len, &entries, &count);
	if (e < 0)
		return e;
	for (size_t i = 0; i < count; i++) {
		const struct cfs_pack_entry *pe = &entries[i];
		/* Entries lie inside the pack (cfs_pack_parse): open in place. */
		e = blob_open(r, r->crypto, r->zc, &pe->id, pe->codec, pe->dict, pe->raw_len, whole.data + pe->offset,
			      pe->stored_len, &plain);
		(*ret_blobs)++;
		if (e < 0) {
			e = cb(&pe->id, pe->offset, e, ud);
			if (e == -ECANCELED)
				break;
			if (e < 0)
				return e;
		}
	}
	return renamed ? -EUCLEAN : 0;
}

/* Live blobs of one pack are read in spans: runs of blobs (in offset order)
 * whose gaps are at most SPAN_GAP_MAX bytes, up to SPAN_MAX bytes in all.
 * A pack this writer makes (CFS_PACK_TARGET_SIZE) is a few reads, not one
 * per blob; 4 MiB, not the whole pack, as prune's repack holds one span on
 * each of its threads (with whole 5.5 MiB packs, two threads took its peak
 * RSS on the bench's forget 20 from 118 to 126-133 MiB, over its 128 MiB
 * bound; 112 MiB with 4 MiB spans). Reading over a dead blob costs less
 * than a request of its own (an S3 GET's latency is worth about a MiB);
 * bigger gaps are skipped. A blob larger than SPAN_MAX is a span of its
 * own, so memory is one span or one blob, whichever is larger, plus a copy
 * of one blob and its plaintext. */
#define SPAN_MAX ((uint64_t)4 * 1024 * 1024)
#define SPAN_GAP_MAX ((uint64_t)1024 * 1024)

static int entry_cmp_offset(const void *a, const void *b)
{
	const struct cfs_pack_entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int cfs_repo_reader_pack_read_blobs(struct cfs_repo_reader *rd, const struct cfs_id *pack, uint64_t size,
				    struct cfs_pack_entry *entries, size_t n, cfs_repo_sealed_blob_cb cb, void *ud,
				    size_t *ret_bad)
{
	_cleanup_buf_ struct cfs_buf span = CFS_BUF_INIT, copy = CFS_BUF_INIT, plain = CFS_BUF_INIT;
	struct cfs_repo *r = rd->r;
	char name[96];
	int e = 0;

	*ret_bad = n;
	cfs_repo_pack_name(pack, name, sizeof(name));
	qsort(entries, n, sizeof(*entries), entry_cmp_offset);
	/* The entries come from the pack's header, checked by
	 * cfs_pack_parse_header(); checked again here, since the reads and
	 * the copies below rely on them. */
	for (size_t i = 0; i < n; i++) {
		const struct cfs_pack_entry *pe = &entries[i];
		if (pe->stored_len == 0 || pe->stored_len > CFS_BLOB_MAX_SIZE + 4096 ||
		    pe->raw_len > CFS_BLOB_MAX_SIZE || pe->offset > size || pe->stored_len > size - pe->offset ||
		    (i > 0 && pe->offset < entries[i - 1].offset + entries[i - 1].stored_len)) {
			*ret_bad = i;
			return -EPROTO;
		}
	}
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t start = entries[i].offset, end = start + entries[i].stored_len;
		for (j = i + 1; j < n; j++) {
			uint64_t next_end = entries[j].offset + entries[j].stored_len;
			if (entries[j].offset - end > SPAN_GAP_MAX || next_end - start > SPAN_MAX)
				break;
			end = next_end;
		}
		e = cfs_buf_resize(&span, (size_t)(end - start));
		if (e < 0)
			return e;
		e = cfs_objstore_get_range(r->store, name, start, span.len, span.data);
		if (e < 0) {
			*ret_bad = i;
			return e;
		}
		for (size_t k = i; k < j; k++) {
			const struct cfs_pack_entry *pe = &entries[k];
			const uint8_t *sealed = span.data + (pe->offset - start);
			/* blob_open() opens in place: it verifies a copy, and
			 * the sealed bytes as stored are what cb gets. */
			cfs_buf_reset(&copy);
			e = cfs_buf_append(&copy, sealed, pe->stored_len);
			if (e < 0)
				return e;
			e = blob_open(r, rd->crypto, rd->zc, &pe->id, pe->codec, pe->dict, pe->raw_len, copy.data,
				      copy.len, &plain);
			if (e < 0) {
				*ret_bad = k;
				return e;
			}
			e = cb(pe, sealed, ud);
			if (e < 0)
				return e;
		}
	}
	return 0;
}

int cfs_repo_pack_read_blobs(struct cfs_repo *r, const struct cfs_id *pack, uint64_t size,
			     struct cfs_pack_entry *entries, size_t n, cfs_repo_sealed_blob_cb cb, void *ud,
			     size_t *ret_bad)
{
	struct cfs_repo_reader *rd;
	int e = own_reader(r, &rd);
	if (e < 0) {
		*ret_bad = n;
		return e;
	}
	return cfs_repo_reader_pack_read_blobs(rd, pack, size, entries, n, cb, ud, ret_bad);
}

int cfs_repo_reader_pack_header_read(struct cfs_repo_reader *rd, const struct cfs_id *pack, uint64_t size,
				     struct cfs_pack_entry **ret, size_t *ret_count)
{
	return repo_pack_header_read(rd->r, rd->crypto, pack, size, ret, ret_count);
}
