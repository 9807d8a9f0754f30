/* SPDX-License-Identifier: MIT */
/*
 * pack-internal.h — constants of the pack format (layout in
 * include/chronofs/pack.h), shared by writer.c, reader.c and the unit tests,
 * which hand-craft packs to prove the reader rejects them.
 */
#pragma once

#include <stdbool.h>

#include "chronofs/compress.h"
#include "chronofs/pack.h"

/* Trailer magic; also the AAD of the sealed header, which binds the header to
 * the pack format so a sealed header cannot be passed off as a blob. */
#define CFS_PACK_MAGIC "CFSPACK\x01"
#define CFS_PACK_MAGIC_SIZE 8
/* Plaintext header magic and the only version this code writes. */
#define CFS_PACK_HDR_MAGIC "CFSPHDR\x01"
#define CFS_PACK_HDR_MAGIC_SIZE 8
#define CFS_PACK_VERSION 1

/* Largest sealed header a valid pack can carry: the fixed part, the maximum
 * number of entries and the AEAD overhead. Larger lengths are rejected before
 * anything is read or allocated. */
#define CFS_PACK_MAX_SEALED_HEADER \
	((uint64_t)CFS_PACK_HEADER_FIXED + (uint64_t)CFS_PACK_MAX_ENTRIES * CFS_PACK_ENTRY_SIZE + \
	 CFS_AEAD_OVERHEAD)

/* Known type, known codec, a dictionary exactly with the dictionary codec. */
static inline bool cfs_pack_entry_fields_ok(const struct cfs_pack_entry *e)
{
	if (e->type != CFS_BLOB_DATA && e->type != CFS_BLOB_TREE)
		return false;
	if (e->codec != CFS_CODEC_RAW && e->codec != CFS_CODEC_ZSTD && e->codec != CFS_CODEC_ZSTD_DICT)
		return false;
	return (e->codec == CFS_CODEC_ZSTD_DICT) == (e->dict != 0);
}

_Static_assert(sizeof(CFS_PACK_MAGIC) - 1 == CFS_PACK_MAGIC_SIZE, "pack magic size");
_Static_assert(sizeof(CFS_PACK_HDR_MAGIC) - 1 == CFS_PACK_HDR_MAGIC_SIZE, "header magic size");
_Static_assert(CFS_PACK_TRAILER_SIZE == 4 + CFS_PACK_MAGIC_SIZE, "trailer layout");
_Static_assert(CFS_PACK_MAX_SEALED_HEADER <= UINT32_MAX, "header length fits the u32 field");
