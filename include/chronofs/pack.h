/* SPDX-License-Identifier: MIT */
/*
 * pack.h — pack files: many sealed blobs in one object, then a sealed header
 * that lists them, so the catalog can be rebuilt from packs alone.
 *
 * Byte layout (frozen, version 1; changing it needs a format bump):
 *
 *   offset 0        blob 0 (sealed bytes, stored_len of entry 0)
 *                   blob 1 ...
 *                   ...
 *   H               sealed header (cfs_crypto_seal of the plaintext header,
 *                   AAD = the 8-byte trailer magic)
 *   end-12          u32 LE  length of the sealed header
 *   end-8           8 bytes magic "CFSPACK\x01"
 *
 *   Plaintext header:
 *     0  8  magic "CFSPHDR\x01"
 *     8  4  version (LE) = 1
 *    12  4  count (LE)
 *    16  count entries of CFS_PACK_ENTRY_SIZE (56) bytes:
 *          0 32 blob id
 *         32  1 blob type (enum cfs_blob_type)
 *         33  1 codec (enum cfs_codec)
 *         34  2 reserved, 0
 *         36  4 raw_len      (plaintext length)
 *         40  4 stored_len   (sealed length in the pack)
 *         44  8 offset       (of the sealed blob in the pack)
 *         52  4 dictionary number for codec 2 (non-zero), else 0
 *               (reserved, 0, in repository format 1)
 *
 * Each blob is sealed on its own (the repository seals compressed bytes with
 * the blob id as AAD), so one blob can be read with a single range read.
 * The pack's object name is the hex SHA-256 of its bytes: data/<xx>/<hex>.
 *
 * Parsing is strict: every offset and length is checked against the pack
 * size, entries must lie in [0, H) and must not overlap.
 */
#pragma once

#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/crypto.h"

#define CFS_PACK_TRAILER_SIZE 12
#define CFS_PACK_ENTRY_SIZE 56
#define CFS_PACK_HEADER_FIXED 16
/* Packs are flushed when they reach this size (one blob may exceed it). */
#define CFS_PACK_TARGET_SIZE (16u * 1024 * 1024)
/* A blob is at most this large (plaintext); bigger inputs are rejected. */
#define CFS_BLOB_MAX_SIZE (64u * 1024 * 1024)
#define CFS_PACK_MAX_ENTRIES (1u << 20)

enum cfs_blob_type {
	CFS_BLOB_DATA = 1,
	CFS_BLOB_TREE = 2,
};

struct cfs_pack_entry {
	struct cfs_id id;
	uint8_t type;  /* enum cfs_blob_type */
	uint8_t codec; /* enum cfs_codec */
	uint32_t raw_len;
	uint32_t stored_len;
	uint32_t dict; /* the zstd dictionary's number for CFS_CODEC_ZSTD_DICT, else 0 */
	uint64_t offset;
};

/* One entry in the 56-byte record of pack headers and index objects. */
void cfs_pack_entry_encode(const struct cfs_pack_entry *e, uint8_t rec[CFS_PACK_ENTRY_SIZE]);
/* Decode and check a record's fields (type, codec and dictionary, reserved
 * bytes, sizes): -EPROTO. Offsets are left to the caller, who knows the
 * pack's size. */
int cfs_pack_entry_decode(const uint8_t rec[CFS_PACK_ENTRY_SIZE], struct cfs_pack_entry *ret);

/* Writer: accumulates sealed blobs in memory, or streams them to a sink
 * (cfs_pack_writer_stream), until finished. */
struct cfs_pack_writer;
int cfs_pack_writer_new(struct cfs_pack_writer **ret);
struct cfs_pack_writer *cfs_pack_writer_free(struct cfs_pack_writer *w);
CFS_DEFINE_FREEP(struct cfs_pack_writer, cfs_pack_writer_free)
/* Append one sealed blob; e->offset is assigned by the writer (the value
 * passed is ignored) and returned through ret_offset when non-NULL. */
int cfs_pack_writer_add(struct cfs_pack_writer *w, const struct cfs_pack_entry *e,
			const void *sealed, size_t n, uint64_t *ret_offset);
size_t cfs_pack_writer_size(const struct cfs_pack_writer *w);
size_t cfs_pack_writer_count(const struct cfs_pack_writer *w);
/* Borrowed view of the entries added so far (valid until the next add). */
const struct cfs_pack_entry *cfs_pack_writer_entries(const struct cfs_pack_writer *w);
/*
 * Streaming: from now on the blobs go to sink as they are added (the writer
 * keeps only their entries) and finish() sends the header and trailer there
 * too (out may then be NULL, and stays empty). Only on an empty writer (-EINVAL otherwise); it
 * lasts until finish(). A sink failure fails that add or finish and leaves
 * the streamed pack unusable: the caller abandons it.
 */
typedef int (*cfs_pack_sink_fn)(void *ud, const void *p, size_t n);
int cfs_pack_writer_stream(struct cfs_pack_writer *w, cfs_pack_sink_fn sink, void *ud);
/*
 * Seal the header and produce the complete pack bytes into out (reset first)
 * and its id (SHA-256 of the bytes). The writer is then empty and reusable.
 */
int cfs_pack_writer_finish(struct cfs_pack_writer *w, struct cfs_crypto *c, struct cfs_buf *out,
			   struct cfs_id *ret_pack_id);

/*
 * Reader side, in two steps so a remote pack needs two range reads:
 * 1. parse the 12-byte trailer (the last bytes of a pack of size pack_size),
 *    giving the sealed header length; -EPROTO on bad magic or a length that
 *    does not fit in the pack.
 * 2. open and parse the sealed header (the hdr_len bytes before the trailer):
 *    -EBADMSG if it does not authenticate, -EPROTO if malformed, entries out
 *    of bounds or overlapping. *ret is malloc'ed, caller frees.
 */
int cfs_pack_parse_trailer(const void *trailer, size_t n, uint64_t pack_size, uint32_t *ret_hdr_len);
int cfs_pack_parse_header(struct cfs_crypto *c, const void *sealed, size_t n, uint64_t pack_size,
			  struct cfs_pack_entry **ret, size_t *ret_count);
/* Convenience: both steps over a whole pack in memory. */
int cfs_pack_parse(struct cfs_crypto *c, const void *pack, size_t n, struct cfs_pack_entry **ret,
		   size_t *ret_count);

/*
 * Index objects (index/<hex>): the entries of many packs in one object, so a
 * catalog learns where blobs are without reading every pack's header.
 * Plaintext layout (frozen, version 1; changing it needs a format bump; the
 * repository seals it with AAD "index"; integers LE):
 *
 *    0  8  magic "CFSINDX\x01"
 *    8  4  version = 1
 *   12  4  pack count
 *   16     per pack:  0 32 pack id
 *                    32  8 pack size (bytes)
 *                    40  4 entry count
 *                    44    count entries, each a 56-byte record as in the
 *                          pack header above
 *
 * Nothing follows the last pack. Every entry's [offset, offset + stored_len)
 * lies within its pack's size (the blob area's end is not known without
 * the pack's trailer; the pack header is the authority on overlaps).
 */
#define CFS_PACK_INDEX_MAGIC "CFSINDX\x01"
#define CFS_PACK_INDEX_VERSION 1
#define CFS_PACK_INDEX_FIXED 16
#define CFS_PACK_INDEX_PACK_FIXED 44

/*
 * Decoder: checks an index object and calls on_pack for each pack and then
 * on_entry for each of its entries, in object order, without copying the
 * object (it may be megabytes of entries). Either callback may be NULL; a
 * callback's non-zero return stops the walk and is returned. -EPROTO if
 * malformed (short, bad magic, version 0, counts larger than the bytes
 * left, a bad entry, an entry outside its pack's size, trailing bytes),
 * -EPROTONOSUPPORT for a newer version. The callbacks may have been called
 * for the part before an error: on error the caller discards what it got.
 */
typedef int (*cfs_pack_index_pack_fn)(void *ud, const struct cfs_id *pack, uint64_t size, uint32_t count);
typedef int (*cfs_pack_index_entry_fn)(void *ud, const struct cfs_id *pack, const struct cfs_pack_entry *e);
int cfs_pack_index_decode(const void *p, size_t n, cfs_pack_index_pack_fn on_pack, cfs_pack_index_entry_fn on_entry,
			  void *ud);

/*
 * Encoder, the decoder's mirror: init, then for each pack
 * cfs_pack_index_enc_pack() followed by exactly `count` calls of
 * cfs_pack_index_enc_entry(). out is a complete index object whenever no
 * entry is owed (enc.left == 0): the pack count in it is kept current.
 * Deterministic: decode -> encode gives back the same bytes. Refuses what
 * the decoder would refuse: -EINVAL for an entry that is not owed, whose
 * fields are invalid or that lies outside its pack, or a pack started
 * while entries are owed; -E2BIG past UINT32_MAX packs. On failure out is
 * unchanged. out is borrowed for the encoder's life.
 */
struct cfs_pack_index_enc {
	struct cfs_buf *out;
	uint32_t npacks;    /* packs in out */
	uint32_t left;      /* entries the current pack still owes */
	uint64_t pack_size; /* of the current pack */
};
/* Reset out and write an index object with no pack. */
int cfs_pack_index_enc_init(struct cfs_pack_index_enc *enc, struct cfs_buf *out);
int cfs_pack_index_enc_pack(struct cfs_pack_index_enc *enc, const struct cfs_id *pack, uint64_t size,
			    uint32_t count);
int cfs_pack_index_enc_entry(struct cfs_pack_index_enc *enc, const struct cfs_pack_entry *e);
/* A whole pack whose entries are count records in the 56-byte layout at
 * recs (as a pack writer's caller keeps them): each record is decoded and
 * checked as above, and on any failure nothing of the pack is written. */
int cfs_pack_index_enc_records(struct cfs_pack_index_enc *enc, const struct cfs_id *pack, uint64_t size,
			       const uint8_t *recs, size_t count);
