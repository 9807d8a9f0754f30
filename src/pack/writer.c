/* SPDX-License-Identifier: MIT */
/*
 * writer.c — builds one pack in memory: sealed blobs back to back from offset
 * 0, then (at finish) the sealed header and the trailer.
 *
 * The output is a pure function of the added blobs and the crypto context:
 * in CFS_ENC_NONE mode the same adds give byte-identical packs (and ids); with
 * encryption only the header's random nonce differs.
 *
 * Threading: a writer is used by one thread at a time.
 */
#include <string.h>

#include "chronofs/compress.h"
#include "pack/pack-internal.h"

struct cfs_pack_writer {
	struct cfs_buf data;           /* owned; sealed blobs added so far (not streaming) */
	struct cfs_pack_entry *entries; /* owned; entries[i] describes blob i */
	size_t count, cap;
	/* Streaming (cfs_pack_writer_stream): the bytes go to sink. */
	cfs_pack_sink_fn sink;
	void *sink_ud;
	uint64_t streamed;           /* bytes given to sink */
	struct cfs_sha256_ctx *hash; /* owned; of the streamed bytes */
};

int cfs_pack_writer_new(struct cfs_pack_writer **ret)
{
	struct cfs_pack_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*ret = w;
	return 0;
}

struct cfs_pack_writer *cfs_pack_writer_free(struct cfs_pack_writer *w)
{
	if (!w)
		return NULL;
	cfs_buf_release(&w->data);
	free(w->entries);
	cfs_sha256_free(w->hash);
	free(w);
	return NULL;
}

/*
 * Contract beyond pack.h: e->stored_len must equal n (a mismatch is a caller
 * bug that would otherwise produce a pack the reader misparses), n > 0, type
 * and codec must be known values (a dictionary number exactly with
 * CFS_CODEC_ZSTD_DICT) and raw_len at most CFS_BLOB_MAX_SIZE:
 * -EINVAL otherwise. -E2BIG once the pack holds CFS_PACK_MAX_ENTRIES blobs.
 * On any failure the writer is unchanged.
 */
int cfs_pack_writer_add(struct cfs_pack_writer *w, const struct cfs_pack_entry *e,
			const void *sealed, size_t n, uint64_t *ret_offset)
{
	int r;

	if (!e || !sealed || n == 0 || n > UINT32_MAX || e->stored_len != n)
		return -EINVAL;
	if (!cfs_pack_entry_fields_ok(e))
		return -EINVAL;
	if (e->raw_len > CFS_BLOB_MAX_SIZE)
		return -EINVAL;
	if (w->count >= CFS_PACK_MAX_ENTRIES)
		return -E2BIG;

	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct cfs_pack_entry *v = reallocarray(w->entries, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->entries = v;
		w->cap = cap;
	}
	uint64_t off = w->sink ? w->streamed : w->data.len;
	if (w->sink) {
		r = w->sink(w->sink_ud, sealed, n);
		if (r == 0)
			r = cfs_sha256_update(w->hash, sealed, n);
		if (r < 0)
			return r;
		w->streamed += n;
	} else {
		r = cfs_buf_append(&w->data, sealed, n);
		if (r < 0)
			return r;
	}
	w->entries[w->count] = *e;
	w->entries[w->count].offset = off;
	w->count++;
	if (ret_offset)
		*ret_offset = off;
	return 0;
}

size_t cfs_pack_writer_size(const struct cfs_pack_writer *w)
{
	return w->sink ? (size_t)w->streamed : w->data.len;
}

int cfs_pack_writer_stream(struct cfs_pack_writer *w, cfs_pack_sink_fn sink, void *ud)
{
	if (!sink || w->count || w->data.len || w->sink)
		return -EINVAL;
	if (!w->hash) {
		int r = cfs_sha256_new(&w->hash);
		if (r < 0)
			return r;
	}
	w->sink = sink;
	w->sink_ud = ud;
	w->streamed = 0;
	return 0;
}

size_t cfs_pack_writer_count(const struct cfs_pack_writer *w)
{
	return w->count;
}

const struct cfs_pack_entry *cfs_pack_writer_entries(const struct cfs_pack_writer *w)
{
	return w->entries;
}

void cfs_pack_entry_encode(const struct cfs_pack_entry *e, uint8_t rec[CFS_PACK_ENTRY_SIZE])
{
	memset(rec, 0, CFS_PACK_ENTRY_SIZE);
	memcpy(rec, e->id.b, CFS_ID_SIZE);
	rec[32] = e->type;
	rec[33] = e->codec;
	cfs_put_le32(rec + 36, e->raw_len);
	cfs_put_le32(rec + 40, e->stored_len);
	cfs_put_le64(rec + 44, e->offset);
	cfs_put_le32(rec + 52, e->dict);
}

/* The plaintext header, exactly as pack.h lays it out. */
static int encode_header(const struct cfs_pack_writer *w, struct cfs_buf *out)
{
	int r = cfs_buf_reserve(out, CFS_PACK_HEADER_FIXED + w->count * CFS_PACK_ENTRY_SIZE);
	if (r < 0)
		return r;
	/* Reserved above, so none of these appends can fail. */
	cfs_buf_append(out, CFS_PACK_HDR_MAGIC, CFS_PACK_HDR_MAGIC_SIZE);
	cfs_buf_append_le32(out, CFS_PACK_VERSION);
	cfs_buf_append_le32(out, (uint32_t)w->count);
	for (size_t i = 0; i < w->count; i++) {
		uint8_t rec[CFS_PACK_ENTRY_SIZE];
		cfs_pack_entry_encode(&w->entries[i], rec);
		cfs_buf_append(out, rec, sizeof(rec));
	}
	return 0;
}

/*
 * On failure the writer is unchanged (its blobs are kept, so the caller may
 * retry) and out is reset. On success out owns the pack bytes: the writer's
 * buffer is handed over rather than copied, and out's previous allocation is
 * freed.
 */
int cfs_pack_writer_finish(struct cfs_pack_writer *w, struct cfs_crypto *c, struct cfs_buf *out,
			   struct cfs_id *ret_pack_id)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf sealed = CFS_BUF_INIT;
	size_t blobs_len = w->data.len;
	struct cfs_id id;
	int r;

	if (!c || (!out && !w->sink))
		return -EINVAL;
	if (out)
		cfs_buf_reset(out);

	r = encode_header(w, &plain);
	if (r < 0)
		return r;
	r = cfs_crypto_seal(c, plain.data, plain.len, CFS_PACK_MAGIC, CFS_PACK_MAGIC_SIZE, &sealed);
	if (r < 0)
		return r;
	if (sealed.len > CFS_PACK_MAX_SEALED_HEADER)
		return -E2BIG;

	if (w->sink) {
		/* The header and trailer follow the streamed blobs. */
		r = cfs_buf_append_le32(&sealed, (uint32_t)(sealed.len));
		if (r == 0)
			r = cfs_buf_append(&sealed, CFS_PACK_MAGIC, CFS_PACK_MAGIC_SIZE);
		if (r == 0)
			r = w->sink(w->sink_ud, sealed.data, sealed.len);
		if (r == 0)
			r = cfs_sha256_update(w->hash, sealed.data, sealed.len);
		if (r == 0)
			r = cfs_sha256_final(w->hash, id.b);
		if (r < 0)
			return r;
		w->sink = NULL;
		w->sink_ud = NULL;
		w->streamed = 0;
		w->count = 0;
		if (ret_pack_id)
			*ret_pack_id = id;
		return 0;
	}

	r = cfs_buf_reserve(&w->data, sealed.len + CFS_PACK_TRAILER_SIZE);
	if (r < 0)
		return r;
	cfs_buf_append(&w->data, sealed.data, sealed.len);
	cfs_buf_append_le32(&w->data, (uint32_t)sealed.len);
	cfs_buf_append(&w->data, CFS_PACK_MAGIC, CFS_PACK_MAGIC_SIZE);

	r = cfs_sha256(w->data.data, w->data.len, id.b);
	if (r < 0) {
		w->data.len = blobs_len;
		return r;
	}

	cfs_buf_release(out);
	*out = w->data;
	w->data = (struct cfs_buf)CFS_BUF_INIT;
	w->count = 0;
	if (ret_pack_id)
		*ret_pack_id = id;
	return 0;
}
