/* SPDX-License-Identifier: MIT */
/*
 * catalog-internal.h — what the catalog's unit tests need and other modules
 * must not touch.
 */
#pragma once

#include <stddef.h>

#include "chronofs/catalog.h"

/* Column family indexes, in the order they are opened (frozen: the names
 * are what RocksDB stores; the indexes are only ours). */
enum cfs_catalog_cf {
	CFS_CATALOG_CF_DEFAULT,
	CFS_CATALOG_CF_BLOBS,
	CFS_CATALOG_CF_PACKS,
	CFS_CATALOG_CF_SNAPSHOTS,
	CFS_CATALOG_CF_META,
	_CFS_CATALOG_CF_MAX,
};

/* Only for testing: record a put of arbitrary bytes into any column family,
 * bypassing the value encoders, so tests can store damaged values (wrong
 * sizes, non-zero reserved bytes) and check that readers reject them.
 * Errors are sticky in the batch like every other put. */
void cfs_catalog_batch_put_raw_for_testing(struct cfs_catalog_batch *b, enum cfs_catalog_cf cf,
					   const void *key, size_t klen, const void *val, size_t vlen);

/* The errno for a RocksDB error message: -ENOSPC for "No space left on
 * device", -EDQUOT, -EROFS, -EACCES, -EMFILE for their texts, else dflt.
 * Internal; exported for the unit tests. */
int cfs_catalog_error_from_text(const char *msg, int dflt);
