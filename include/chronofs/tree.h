/* SPDX-License-Identifier: MIT */
/*
 * tree.h — directory objects: one blob per directory, a deterministic binary
 * encoding, so an unchanged directory has the same id in every snapshot.
 *
 * Byte layout, version 2 (written since 2026-12; frozen; integers
 * little-endian):
 *
 *   0  8  magic "CFSTREE\x02"
 *   8  1  kind: 0 entries (a directory, or one fragment of a large one),
 *               1 fragment index (a large directory)
 *   9  4  count: of entries (kind 0) or of fragments (kind 1)
 *  13  8  node count of this tree (sum over its entries of 1 +
 *         subtree_nodes; for an index, over all its fragments)
 *  21  kind 0: entries, sorted by name bytes (memcmp, shorter first on a
 *      tie), unique:
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
 *      u32 fsflags                      (inode attribute flags as
 *                                        FS_IOC_GETFLAGS gives them, those of
 *                                        CFS_FSFLAGS_KEPT: immutable,
 *                                        append-only, nodump...; 0 if none or
 *                                        unknown)
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
 *      kind 1: at least 2 fragments, sorted by first name, unique:
 *      u16 first_name_len (1..4095), the name of the fragment's first entry
 *      id[32]  the fragment: a kind 0 tree
 *      u32 entry count (>= 1), u64 node count (>= entry count)
 *
 * Version 1 ("CFSTREE\x01", written before 2026-12, still read): no kind
 * byte (always entries) and no fsflags field; otherwise the same.
 *
 * Large directories: a writer cuts a directory's sorted entries into
 * fragments where cfs_tree_cut_after() says so (a function of the entries
 * alone, so an unchanged directory gives the same fragments, and a change
 * touches only its fragment), and stores a fragment index when it cut at
 * all. A reader checks each fragment it loads against its index record
 * (cfs_tree_frag_check): entry and node counts, first name, and that its
 * names lie below the next fragment's.
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

/*
 * Inode attribute flags kept in an entry's fsflags (chattr(1) letters), in
 * the values of linux/fs.h's FS_*_FL (FS_IOC_GETFLAGS). Others the kernel
 * reports (extents, inline data, encryption...) describe how a file system
 * stores the file, not the file, and are not kept.
 */
#define CFS_FSFLAG_SYNC 0x00000008        /* S: synchronous updates */
#define CFS_FSFLAG_IMMUTABLE 0x00000010   /* i */
#define CFS_FSFLAG_APPEND 0x00000020      /* a: append only */
#define CFS_FSFLAG_NODUMP 0x00000040      /* d: no dump */
#define CFS_FSFLAG_NOATIME 0x00000080     /* A */
#define CFS_FSFLAG_COMPR 0x00000004       /* c: compress */
#define CFS_FSFLAG_NOCOMP 0x00000400      /* m: do not compress */
#define CFS_FSFLAG_DIRSYNC 0x00010000     /* D */
#define CFS_FSFLAG_TOPDIR 0x00020000      /* T */
#define CFS_FSFLAG_NOCOW 0x00800000       /* C: no copy on write */
#define CFS_FSFLAG_PROJINHERIT 0x20000000 /* P */
#define CFS_FSFLAGS_KEPT                                                                                       \
	(CFS_FSFLAG_SYNC | CFS_FSFLAG_IMMUTABLE | CFS_FSFLAG_APPEND | CFS_FSFLAG_NODUMP | CFS_FSFLAG_NOATIME |   \
	 CFS_FSFLAG_COMPR | CFS_FSFLAG_NOCOMP | CFS_FSFLAG_DIRSYNC | CFS_FSFLAG_TOPDIR | CFS_FSFLAG_NOCOW |     \
	 CFS_FSFLAG_PROJINHERIT)

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
	uint32_t fsflags; /* inode attribute flags, CFS_FSFLAGS_KEPT only */
	struct cfs_xattr *xattrs; /* owned */
	uint32_t n_xattrs;
	struct cfs_extent *extents; /* owned, CFS_FT_REG */
	uint32_t n_extents;
	char *target; /* owned, NUL-terminated, CFS_FT_SYMLINK */
	uint32_t target_len;
	struct cfs_id subtree; /* CFS_FT_DIR */
	uint64_t subtree_nodes;
};

/* One fragment of a large directory, as its index lists it. */
struct cfs_tree_frag {
	uint8_t *name; /* owned: its first entry's name, name_len bytes, plus a NUL */
	uint16_t name_len;
	struct cfs_id id; /* the fragment (a tree of entries) */
	uint32_t entries;
	uint64_t nodes;
};

/* A directory: its entries, or (a fragment index) its fragments. */
struct cfs_tree {
	struct cfs_tree_entry *entries; /* owned */
	size_t n;
	size_t cap;
	struct cfs_tree_frag *frags; /* owned; n_frags >= 2 in an index, else 0 */
	size_t n_frags;
	size_t cap_frags;
	uint8_t version; /* of the encoding it was decoded from; 0 if built */
};
#define CFS_TREE_INIT {NULL, 0, 0, NULL, 0, 0, 0}

/* Fragments: a directory's entries are cut after an entry whose name hashes
 * to 0 modulo CFS_TREE_FRAG_AVG once a fragment holds CFS_TREE_FRAG_MIN
 * entries, and always at CFS_TREE_FRAG_MAX entries or CFS_TREE_FRAG_BYTES
 * of encoding. Smaller directories are never cut. Frozen: changing them
 * changes the ids of large directories (never their readability). */
#define CFS_TREE_FRAG_MIN 8192
#define CFS_TREE_FRAG_AVG 8192
#define CFS_TREE_FRAG_MAX 65536
#define CFS_TREE_FRAG_BYTES (8u << 20)

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
/* Sum over entries of 1 + subtree_nodes; for an index, over its fragments. */
uint64_t cfs_tree_node_count(const struct cfs_tree *t);
/* Append a fragment record to an index being built (in name order);
 * copies name. */
int cfs_tree_add_frag(struct cfs_tree *t, const void *name, size_t name_len, const struct cfs_id *id,
		      uint32_t entries, uint64_t nodes);
/* The bytes entry e takes in an encoding (for fragment sizes). */
size_t cfs_tree_entry_size(const struct cfs_tree_entry *e);
/*
 * Whether a directory whose entries are added in name order is cut after
 * entry e, the count-th of the fragment being built, which then takes
 * bytes bytes of encoding. Pure: see CFS_TREE_FRAG_*.
 */
bool cfs_tree_cut_after(const struct cfs_tree_entry *e, size_t count, size_t bytes);
/*
 * Check a decoded fragment t against its index record f (and the next
 * record, or NULL for the last): entries, not an index itself, as many
 * entries and nodes as recorded, its first entry named as recorded, its
 * last entry's name below next's. -EPROTO otherwise.
 */
int cfs_tree_frag_check(const struct cfs_tree *t, const struct cfs_tree_frag *f, const struct cfs_tree_frag *next);

/*
 * Encode (out is reset first), in the current version: the entries, or the
 * fragment index when t has fragments. The tree must be sorted and valid;
 * -EINVAL otherwise (unsorted, duplicate or bad names, lengths over the
 * limits, entries and fragments both, a single fragment). Pure: the same
 * tree gives the same bytes.
 */
int cfs_tree_encode(const struct cfs_tree *t, struct cfs_buf *out);
/* The same in a given version: 2 (the current), or 1 for repositories whose
 * readers may predate version 2 (repository format 2 and older): no inode
 * flags (they are left out) and no fragments (-EINVAL). */
int cfs_tree_encode_version(const struct cfs_tree *t, unsigned version, struct cfs_buf *out);
/*
 * Decode untrusted bytes of either version into *ret (initialised by the
 * call): entries, or fragments for an index. -EPROTO on any malformation
 * (bad magic, short input, trailing bytes, unsorted names, limits exceeded,
 * node count mismatch). On failure *ret is empty.
 */
int cfs_tree_decode(const void *p, size_t n, struct cfs_tree *ret);
/* Binary search of the entries by name; returns the index or -ENOENT. */
int cfs_tree_find(const struct cfs_tree *t, const void *name, size_t name_len);
/* For an index: the fragment that would hold name (the last whose first
 * name is <= name), or -ENOENT when name sorts before the first. */
int cfs_tree_find_frag(const struct cfs_tree *t, const void *name, size_t name_len);
