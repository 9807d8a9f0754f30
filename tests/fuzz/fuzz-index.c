/* SPDX-License-Identifier: MIT */
/*
 * fuzz-index.c — cfs_pack_index_decode() on arbitrary index object
 * plaintexts (the sealing is the repository's and is not fuzzed here).
 *
 * Invariants checked beyond "no crash, no leak":
 *  - only the documented errors;
 *  - every pack announces as many entries as then arrive, every entry
 *    passes the pack entry checks and lies within its pack;
 *  - the callbacks re-encode what they are given with the encoder, which
 *    must accept it all, and an accepted object re-encodes to exactly the
 *    input bytes (decode -> encode is the identity); so does encoding its
 *    packs from their records (cfs_pack_index_enc_records);
 *  - a callback's stop is what decode returns.
 */
#include <string.h>

#include "chronofs/pack.h"
#include "fuzz.h"

struct state {
	struct cfs_pack_index_enc enc;
	struct cfs_id pack;
	uint64_t size;
	uint32_t owed; /* entries the current pack still announces */
	size_t entries;
	size_t stop_at; /* stop with -ECANCELED at this entry (0: never) */
};

static int on_pack(void *ud, const struct cfs_id *pack, uint64_t size, uint32_t count)
{
	struct state *s = ud;
	FUZZ_CHECK(s->owed == 0);
	s->pack = *pack;
	s->size = size;
	s->owed = count;
	FUZZ_CHECK(cfs_pack_index_enc_pack(&s->enc, pack, size, count) == 0);
	return 0;
}

static int on_entry(void *ud, const struct cfs_id *pack, const struct cfs_pack_entry *e)
{
	struct state *s = ud;
	uint8_t rec[CFS_PACK_ENTRY_SIZE];
	struct cfs_pack_entry back;

	FUZZ_CHECK(s->owed > 0);
	FUZZ_CHECK(memcmp(pack, &s->pack, sizeof(*pack)) == 0);
	FUZZ_CHECK(e->offset <= s->size && e->stored_len <= s->size - e->offset);
	cfs_pack_entry_encode(e, rec);
	FUZZ_CHECK(cfs_pack_entry_decode(rec, &back) == 0);
	FUZZ_CHECK(memcmp(&back, e, sizeof(back)) == 0);
	s->owed--;
	if (++s->entries == s->stop_at)
		return -ECANCELED;
	FUZZ_CHECK(cfs_pack_index_enc_entry(&s->enc, e) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct state s = {0};
	int r;

	FUZZ_CHECK(cfs_pack_index_enc_init(&s.enc, &out) == 0);
	r = cfs_pack_index_decode(data, size, on_pack, on_entry, &s);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EPROTONOSUPPORT);
	/* Without callbacks the verdict is the same. */
	FUZZ_CHECK(cfs_pack_index_decode(data, size, NULL, NULL, NULL) == r);
	if (r < 0)
		return 0;

	FUZZ_CHECK(s.owed == 0);
	FUZZ_CHECK(s.enc.left == 0);
	FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);

	/* Encoded again a pack at a time from the records as they are. */
	struct cfs_pack_index_enc enc;
	FUZZ_CHECK(cfs_pack_index_enc_init(&enc, &out) == 0);
	for (size_t off = CFS_PACK_INDEX_FIXED; off < size;) {
		struct cfs_id pack;
		memcpy(pack.b, data + off, CFS_ID_SIZE);
		uint32_t count = cfs_get_le32(data + off + CFS_ID_SIZE + 8);
		FUZZ_CHECK(cfs_pack_index_enc_records(&enc, &pack, cfs_get_le64(data + off + CFS_ID_SIZE),
						      data + off + CFS_PACK_INDEX_PACK_FIXED, count) == 0);
		off += CFS_PACK_INDEX_PACK_FIXED + (size_t)count * CFS_PACK_ENTRY_SIZE;
	}
	FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);

	/* Stopped at the middle entry, the walk ends there with its code. */
	if (s.entries > 0) {
		struct state t = {.stop_at = (s.entries + 1) / 2};
		FUZZ_CHECK(cfs_pack_index_enc_init(&t.enc, &out) == 0);
		FUZZ_CHECK(cfs_pack_index_decode(data, size, on_pack, on_entry, &t) == -ECANCELED);
		FUZZ_CHECK(t.entries == t.stop_at);
	}
	return 0;
}
