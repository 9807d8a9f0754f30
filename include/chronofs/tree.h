/* SPDX-License-Identifier: MIT */
/*
 * tree.h — directory objects: one blob per directory, a deterministic binary
 * encoding, so an unchanged directory has the same id in every snapshot.
 *
 * Byte layout (frozen, version 1; all integers little-endian):
 *
 *   0  8  magic "CFSTREE\x01"
 *   8  4  entry count
 *  12  8  node count of this tree (sum over entries of 1 + subtree_nodes)
 *  20  entries, sorted by name bytes (memcmp, shorter first on a tie), unique:
 *      u16 name_len (1..4095), name bytes (no '/' or NUL, not "." or "..")
 *      u8  type (enum cfs_ftype)
 *      u32 mode (permission bits incl. setuid/setgid/sticky; no S_IFMT bits)
 *      u32 uid, u32 gid
 *      u64 size
 *      i64 mtime_ns, i64 ctime_ns      (ns since the epoch; may be negative)
 *      u64 rdev                         (character/block devices; else 0)
 *      u64 dev, u64 ino                 (source device and inode, for change
 *                                        detection and hard-link groups)
 *      u32 nlink                        (source link count; regular files and
 *                                        others that can be hard-linked)
 *      u32 xattr count, then per xattr (sorted by name, unique):
 *          u16 name_len (1..255), name, u32 value_len (<= 64 KiB), value
 *      then by type:
 *        CFS_FT_REG:     u32 extent count, per extent (sorted by offset,
 *                        non-overlapping, within size):
 *                          u64 offset, u32 len (1..CFS_BLOB_MAX_SIZE), id[32]
 *                        Gaps between extents (and after the last) are holes.
 *        CFS_FT_SYMLINK: u32 target_len (1..4095), target bytes
 *        CFS_FT_DIR:     id[32] subtree id, u64 subtree node count
 *        others:         nothing
 *
 * Hard links: entries of one snapshot with the same (dev, ino) and nlink > 1
 * form a group; every member carries the full metadata and extent list.
 *
 * Node counts let an inode number (depth-first index) be decoded by descent
 * without a table: the entries of a tree are numbered in order, a directory's
 * descendants follow it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chronofs/buf.h"
#include "chronofs/crypto.h"

#define CFS_TREE_NAME_MAX 4095
#define CFS_TREE_XATTR_NAME_MAX 255
#define CFS_TREE_XATTR_VALUE_MAX (64u * 1024)
#define CFS_TREE_TARGET_MAX 4095

enum cfs_ftype {
	CFS_FT_REG = 1,
	CFS_FT_DIR = 2,
	CFS_FT_SYMLINK = 3,
	CFS_FT_FIFO = 4,
	CFS_FT_CHR = 5,
	CFS_FT_BLK = 6,
};

struct cfs_xattr {
	char *name;      /* owned, NUL-terminated */
	uint8_t *value;  /* owned, may be NULL when len == 0 */
	uint32_t len;
};

struct cfs_extent {
	uint64_t offset;
	uint32_t len;
	struct cfs_id id;
};

struct cfs_tree_entry {
	uint8_t *name; /* owned, name_len bytes, plus a NUL after them */
	uint16_t name_len;
	uint8_t type; /* enum cfs_ftype */
	uint32_t mode;
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t rdev;
	uint64_t dev, ino;
	uint32_t nlink;
	struct cfs_xattr *xattrs; /* owned */
	uint32_t n_xattrs;
	struct cfs_extent *extents; /* owned, CFS_FT_REG */
	uint32_t n_extents;
	char *target; /* owned, NUL-terminated, CFS_FT_SYMLINK */
	uint32_t target_len;
	struct cfs_id subtree; /* CFS_FT_DIR */
	uint64_t subtree_nodes;
};

struct cfs_tree {
	struct cfs_tree_entry *entries; /* owned */
	size_t n;
	size_t cap;
};
#define CFS_TREE_INIT {NULL, 0, 0}

/* Release one entry's owned fields. */
void cfs_tree_entry_release(struct cfs_tree_entry *e);
/* Deep copy of one entry into *ret (zeroed on failure). */
int cfs_tree_entry_copy(const struct cfs_tree_entry *src, struct cfs_tree_entry *ret);
/* Release all entries and the array; the tree is re-initialised. */
void cfs_tree_release(struct cfs_tree *t);
/* Append an entry; takes ownership of e's fields on success (e is zeroed). */
int cfs_tree_add(struct cfs_tree *t, struct cfs_tree_entry *e);
/* Sort entries by name bytes. -EEXIST if two entries share a name. */
int cfs_tree_sort(struct cfs_tree *t);
/* Sum over entries of 1 + subtree_nodes. */
uint64_t cfs_tree_node_count(const struct cfs_tree *t);

/*
 * Encode (out is reset first). The tree must be sorted and valid; -EINVAL
 * otherwise (unsorted, duplicate or bad names, lengths over the limits).
 * Pure: the same tree gives the same bytes.
 */
int cfs_tree_encode(const struct cfs_tree *t, struct cfs_buf *out);
/*
 * Decode untrusted bytes into *ret (initialised by the call). -EPROTO on any
 * malformation (bad magic, short input, trailing bytes, unsorted names,
 * limits exceeded, node count mismatch). On failure *ret is empty.
 */
int cfs_tree_decode(const void *p, size_t n, struct cfs_tree *ret);
/* Binary search by name; returns the index or -ENOENT. */
int cfs_tree_find(const struct cfs_tree *t, const void *name, size_t name_len);
