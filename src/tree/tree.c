/* SPDX-License-Identifier: MIT */
/*
 * Directory objects: in-memory tree, deterministic encoder, strict decoder.
 * The byte layout is documented (and frozen) in include/chronofs/tree.h.
 *
 * The encoder and the decoder apply the same validation rules (entry_valid()
 * and friends), so anything the encoder produces decodes, and anything the
 * decoder accepts re-encodes to the same bytes.
 */
#include <limits.h>
#include <string.h>

#include "chronofs/tree.h"

#define TREE_MAGIC_V1 "CFSTREE\x01"
#define TREE_MAGIC_V2 "CFSTREE\x02"
#define TREE_MAGIC_SIZE 8
enum { KIND_ENTRIES = 0, KIND_INDEX = 1 };

/*
 * Largest extent length. Mirrors CFS_BLOB_MAX_SIZE from pack.h, which tree
 * may not include (same layer); the value is part of the frozen format, and
 * tests/unit/test-tree.c checks both sides of the boundary via CFS_BLOB_MAX_SIZE.
 */
#define TREE_EXTENT_LEN_MAX (64u * 1024 * 1024)

/*
 * Smallest possible encodings, used to bound claimed counts by the remaining
 * input before allocating anything for them:
 *   entry:  u16 name_len + 1 name byte + u8 type + u32 mode, uid, gid
 *           + u64 size + i64 mtime, ctime + u64 rdev, dev, ino + u32 nlink
 *           + u32 xattr count                                 = 72 (v1)
 *           + u32 fsflags                                     = 76 (v2)
 *   xattr:  u16 name_len + 1 name byte + u32 value_len             = 7
 *   extent: u64 offset + u32 len + id                              = 44
 *   fragment: u16 name_len + 1 name byte + id + u32 + u64          = 47
 */
#define ENTRY_MIN_SIZE_V1 (2 + 1 + 1 + 4 * 3 + 8 * 6 + 4 + 4)
#define ENTRY_MIN_SIZE (ENTRY_MIN_SIZE_V1 + 4)
#define XATTR_MIN_SIZE (2 + 1 + 4)
#define EXTENT_SIZE (8 + 4 + CFS_ID_SIZE)
#define FRAG_MIN_SIZE (2 + 1 + CFS_ID_SIZE + 4 + 8)

_Static_assert(ENTRY_MIN_SIZE_V1 == 72, "entry minimum size");

static const struct cfs_id zero_id;

/* Byte order used for entry names and xattr names: memcmp over the common
 * prefix, then the shorter one first. */
static int name_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	size_t n = CFS_MIN(an, bn);
	/* memcmp() must not see NULL, even for 0 bytes (an unnamed entry) */
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

static bool name_valid(const uint8_t *name, size_t len)
{
	if (!name || len < 1 || len > CFS_TREE_NAME_MAX)
		return false;
	if (memchr(name, '/', len) || memchr(name, 0, len))
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

static bool type_valid(uint8_t type)
{
	return type >= CFS_FT_REG && type <= CFS_FT_BLK;
}

static bool xattrs_valid(const struct cfs_xattr *x, uint32_t n)
{
	if (n && !x)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (!x[i].name)
			return false;
		size_t nl = strnlen(x[i].name, CFS_TREE_XATTR_NAME_MAX + 1);
		if (nl < 1 || nl > CFS_TREE_XATTR_NAME_MAX)
			return false;
		if (x[i].len > CFS_TREE_XATTR_VALUE_MAX || (x[i].len && !x[i].value))
			return false;
		if (i > 0 && name_cmp(x[i - 1].name, strlen(x[i - 1].name), x[i].name, nl) >= 0)
			return false;
	}
	return true;
}

static bool extents_valid(const struct cfs_extent *x, uint32_t n, uint64_t size)
{
	if (n && !x)
		return false;
	uint64_t end = 0; /* end of the previous extent */
	for (uint32_t i = 0; i < n; i++) {
		if (x[i].len < 1 || x[i].len > TREE_EXTENT_LEN_MAX)
			return false;
		if (x[i].offset < end)
			return false;
		/* offset + len <= size, written so it cannot overflow */
		if (x[i].len > size || x[i].offset > size - x[i].len)
			return false;
		end = x[i].offset + x[i].len;
	}
	return true;
}

/*
 * Everything about one entry except its order relative to its neighbours.
 * Type-specific fields of the wrong type must be empty: the encoding has no
 * place for them, and silently dropping them would break the round trip.
 */
static bool entry_valid(const struct cfs_tree_entry *e)
{
	if (!name_valid(e->name, e->name_len))
		return false;
	if (!type_valid(e->type) || e->mode > 07777)
		return false;
	if (!xattrs_valid(e->xattrs, e->n_xattrs))
		return false;

	if (e->type == CFS_FT_REG) {
		if (!extents_valid(e->extents, e->n_extents, e->size))
			return false;
	} else if (e->n_extents) {
		return false;
	}

	if (e->type == CFS_FT_SYMLINK) {
		if (!e->target || e->target_len < 1 || e->target_len > CFS_TREE_TARGET_MAX)
			return false;
		if (memchr(e->target, 0, e->target_len))
			return false;
	} else if (e->target_len) {
		return false;
	}

	if (e->type != CFS_FT_DIR &&
	    (e->subtree_nodes || memcmp(&e->subtree, &zero_id, sizeof(zero_id)) != 0))
		return false;
	return true;
}

void cfs_tree_entry_release(struct cfs_tree_entry *e)
{
	if (!e)
		return;
	free(e->name);
	for (uint32_t i = 0; e->xattrs && i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	free(e->extents);
	free(e->target);
	*e = (struct cfs_tree_entry){0};
}

static void *memdup_nul(const void *p, size_t n)
{
	uint8_t *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, p, n);
		d[n] = 0;
	}
	return d;
}

int cfs_tree_entry_copy(const struct cfs_tree_entry *src, struct cfs_tree_entry *ret)
{
	struct cfs_tree_entry d = *src;
	d.name = NULL;
	d.xattrs = NULL;
	d.n_xattrs = 0;
	d.extents = NULL;
	d.target = NULL;
	*ret = (struct cfs_tree_entry){0};

	d.name = memdup_nul(src->name, src->name_len);
	if (!d.name)
		goto nomem;
	if (src->target) {
		d.target = memdup_nul(src->target, src->target_len);
		if (!d.target)
			goto nomem;
	}
	if (src->n_extents) {
		d.extents = malloc(src->n_extents * sizeof(*d.extents));
		if (!d.extents)
			goto nomem;
		memcpy(d.extents, src->extents, src->n_extents * sizeof(*d.extents));
	}
	if (src->n_xattrs) {
		d.xattrs = calloc(src->n_xattrs, sizeof(*d.xattrs));
		if (!d.xattrs)
			goto nomem;
		for (; d.n_xattrs < src->n_xattrs; d.n_xattrs++) {
			const struct cfs_xattr *x = &src->xattrs[d.n_xattrs];
			struct cfs_xattr *y = &d.xattrs[d.n_xattrs];
			y->name = strdup(x->name);
			y->value = x->len ? memdup_nul(x->value, x->len) : NULL;
			y->len = x->len;
			if (!y->name || (x->len && !y->value)) {
				free(y->name);
				free(y->value);
				goto nomem;
			}
		}
	}
	*ret = d;
	return 0;
nomem:
	cfs_tree_entry_release(&d);
	return -ENOMEM;
}

void cfs_tree_release(struct cfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		cfs_tree_entry_release(&t->entries[i]);
	free(t->entries);
	for (size_t i = 0; i < t->n_frags; i++)
		free(t->frags[i].name);
	free(t->frags);
	*t = (struct cfs_tree)CFS_TREE_INIT;
}

int cfs_tree_add_frag(struct cfs_tree *t, const void *name, size_t name_len, const struct cfs_id *id,
		      uint32_t entries, uint64_t nodes)
{
	if (name_len > CFS_TREE_NAME_MAX)
		return -EINVAL;
	if (t->n_frags == t->cap_frags) {
		size_t cap = t->cap_frags ? t->cap_frags * 2 : 8;
		struct cfs_tree_frag *p = reallocarray(t->frags, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->frags = p;
		t->cap_frags = cap;
	}
	uint8_t *nm = memdup_nul(name, name_len);
	if (!nm)
		return -ENOMEM;
	t->frags[t->n_frags++] = (struct cfs_tree_frag){nm, (uint16_t)name_len, *id, entries, nodes};
	return 0;
}

int cfs_tree_add(struct cfs_tree *t, struct cfs_tree_entry *e)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		if (cap < t->cap || cap > SIZE_MAX / sizeof(*t->entries))
			return -ENOMEM;
		struct cfs_tree_entry *p = realloc(t->entries, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->entries = p;
		t->cap = cap;
	}
	t->entries[t->n++] = *e;
	*e = (struct cfs_tree_entry){0};
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct cfs_tree_entry *x = a, *y = b;
	return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

int cfs_tree_sort(struct cfs_tree *t)
{
	if (t->n < 2)
		return 0;
	qsort(t->entries, t->n, sizeof(*t->entries), entry_cmp);
	for (size_t i = 1; i < t->n; i++)
		if (entry_cmp(&t->entries[i - 1], &t->entries[i]) == 0)
			return -EEXIST;
	return 0;
}

/* Sum over entries of 1 + subtree_nodes (over fragments' node counts for
 * an index); false on uint64 overflow. */
static bool node_count(const struct cfs_tree *t, uint64_t *ret)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < t->n_frags; i++) {
		if (sum > UINT64_MAX - t->frags[i].nodes)
			return false;
		sum += t->frags[i].nodes;
	}
	for (size_t i = 0; i < t->n; i++) {
		uint64_t add = t->entries[i].subtree_nodes;
		if (add == UINT64_MAX || sum > UINT64_MAX - (add + 1))
			return false;
		sum += add + 1;
	}
	*ret = sum;
	return true;
}

uint64_t cfs_tree_node_count(const struct cfs_tree *t)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < t->n_frags; i++)
		sum += t->frags[i].nodes;
	for (size_t i = 0; i < t->n; i++)
		sum += 1 + t->entries[i].subtree_nodes;
	return sum;
}

static int encode_entry(const struct cfs_tree_entry *e, bool v1, struct cfs_buf *out)
{
	int r = 0;

	r |= cfs_buf_append_le16(out, e->name_len);
	r |= cfs_buf_append(out, e->name, e->name_len);
	r |= cfs_buf_append_u8(out, e->type);
	r |= cfs_buf_append_le32(out, e->mode);
	r |= cfs_buf_append_le32(out, e->uid);
	r |= cfs_buf_append_le32(out, e->gid);
	r |= cfs_buf_append_le64(out, e->size);
	r |= cfs_buf_append_le64(out, (uint64_t)e->mtime_ns);
	r |= cfs_buf_append_le64(out, (uint64_t)e->ctime_ns);
	r |= cfs_buf_append_le64(out, e->rdev);
	r |= cfs_buf_append_le64(out, e->dev);
	r |= cfs_buf_append_le64(out, e->ino);
	r |= cfs_buf_append_le32(out, e->nlink);
	if (!v1)
		r |= cfs_buf_append_le32(out, e->fsflags);
	r |= cfs_buf_append_le32(out, e->n_xattrs);
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		const struct cfs_xattr *x = &e->xattrs[i];
		size_t nl = strlen(x->name);
		r |= cfs_buf_append_le16(out, (uint16_t)nl);
		r |= cfs_buf_append(out, x->name, nl);
		r |= cfs_buf_append_le32(out, x->len);
		r |= cfs_buf_append(out, x->value, x->len);
	}
	switch (e->type) {
	case CFS_FT_REG:
		r |= cfs_buf_append_le32(out, e->n_extents);
		for (uint32_t i = 0; i < e->n_extents; i++) {
			r |= cfs_buf_append_le64(out, e->extents[i].offset);
			r |= cfs_buf_append_le32(out, e->extents[i].len);
			r |= cfs_buf_append(out, e->extents[i].id.b, CFS_ID_SIZE);
		}
		break;
	case CFS_FT_SYMLINK:
		r |= cfs_buf_append_le32(out, e->target_len);
		r |= cfs_buf_append(out, e->target, e->target_len);
		break;
	case CFS_FT_DIR:
		r |= cfs_buf_append(out, e->subtree.b, CFS_ID_SIZE);
		r |= cfs_buf_append_le64(out, e->subtree_nodes);
		break;
	default:
		break;
	}
	/* Appends only ever fail with -ENOMEM, so OR-ing the results is exact. */
	return r ? -ENOMEM : 0;
}

/* The fragments of an index: at least two, each with entries, names valid
 * and strictly increasing. */
static bool frags_valid(const struct cfs_tree *t)
{
	if (t->n_frags < 2 || !t->frags)
		return false;
	for (size_t i = 0; i < t->n_frags; i++) {
		const struct cfs_tree_frag *f = &t->frags[i];
		if (!name_valid(f->name, f->name_len) || f->entries < 1 || f->nodes < f->entries)
			return false;
		if (i > 0 && name_cmp(t->frags[i - 1].name, t->frags[i - 1].name_len, f->name, f->name_len) >= 0)
			return false;
	}
	return true;
}

int cfs_tree_encode(const struct cfs_tree *t, struct cfs_buf *out)
{
	return cfs_tree_encode_version(t, 2, out);
}

int cfs_tree_encode_version(const struct cfs_tree *t, unsigned version, struct cfs_buf *out)
{
	uint64_t nodes;
	int r;

	cfs_buf_reset(out);
	if (version != 1 && version != 2)
		return -EINVAL;
	bool v1 = version == 1;
	if (v1 && t->n_frags)
		return -EINVAL;
	if (t->n > UINT32_MAX || (t->n && !t->entries) || t->n_frags > UINT32_MAX)
		return -EINVAL;
	if (t->n_frags && (t->n || !frags_valid(t)))
		return -EINVAL;
	for (size_t i = 0; i < t->n; i++) {
		if (!entry_valid(&t->entries[i]))
			return -EINVAL;
		if (i > 0 && entry_cmp(&t->entries[i - 1], &t->entries[i]) >= 0)
			return -EINVAL;
	}
	if (!node_count(t, &nodes))
		return -EINVAL;

	bool index = t->n_frags > 0;
	r = cfs_buf_append(out, v1 ? TREE_MAGIC_V1 : TREE_MAGIC_V2, TREE_MAGIC_SIZE);
	if (r >= 0 && !v1)
		r = cfs_buf_append_u8(out, index ? KIND_INDEX : KIND_ENTRIES);
	if (r >= 0)
		r = cfs_buf_append_le32(out, (uint32_t)(index ? t->n_frags : t->n));
	if (r >= 0)
		r = cfs_buf_append_le64(out, nodes);
	for (size_t i = 0; r >= 0 && i < t->n; i++)
		r = encode_entry(&t->entries[i], v1, out);
	for (size_t i = 0; r >= 0 && i < t->n_frags; i++) {
		const struct cfs_tree_frag *f = &t->frags[i];
		r = cfs_buf_append_le16(out, f->name_len);
		if (r >= 0)
			r = cfs_buf_append(out, f->name, f->name_len);
		if (r >= 0)
			r = cfs_buf_append(out, f->id.b, CFS_ID_SIZE);
		if (r >= 0)
			r = cfs_buf_append_le32(out, f->entries);
		if (r >= 0)
			r = cfs_buf_append_le64(out, f->nodes);
	}
	if (r < 0) {
		cfs_buf_reset(out);
		return r;
	}
	return 0;
}

size_t cfs_tree_entry_size(const struct cfs_tree_entry *e)
{
	size_t n = ENTRY_MIN_SIZE - 1 + e->name_len;
	for (uint32_t i = 0; i < e->n_xattrs; i++)
		n += 2 + strlen(e->xattrs[i].name) + 4 + e->xattrs[i].len;
	switch (e->type) {
	case CFS_FT_REG:
		n += 4 + (size_t)e->n_extents * EXTENT_SIZE;
		break;
	case CFS_FT_SYMLINK:
		n += 4 + e->target_len;
		break;
	case CFS_FT_DIR:
		n += CFS_ID_SIZE + 8;
		break;
	default:
		break;
	}
	return n;
}

bool cfs_tree_cut_after(const struct cfs_tree_entry *e, size_t count, size_t bytes)
{
	if (count >= CFS_TREE_FRAG_MAX || bytes >= CFS_TREE_FRAG_BYTES)
		return true;
	if (count < CFS_TREE_FRAG_MIN)
		return false;
	/* FNV-1a of the name: cut points that depend on the names alone. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint16_t i = 0; i < e->name_len; i++)
		h = (h ^ e->name[i]) * 0x100000001b3ull;
	return (h & (CFS_TREE_FRAG_AVG - 1)) == 0;
}

int cfs_tree_frag_check(const struct cfs_tree *t, const struct cfs_tree_frag *f, const struct cfs_tree_frag *next)
{
	if (t->n_frags || t->n != f->entries || cfs_tree_node_count(t) != f->nodes)
		return -EPROTO;
	const struct cfs_tree_entry *first = &t->entries[0], *last = &t->entries[t->n - 1];
	if (name_cmp(first->name, first->name_len, f->name, f->name_len) != 0)
		return -EPROTO;
	if (next && name_cmp(last->name, last->name_len, next->name, next->name_len) >= 0)
		return -EPROTO;
	return 0;
}

/*
 * Decode one entry into *e (zeroed by the caller). Structural problems set
 * rd->err; allocation failures return -ENOMEM. Semantic validation is done
 * afterwards by entry_valid(), on exactly the fields the encoder checks.
 * Every count is checked against the remaining input before it sizes an
 * allocation, so memory use is bounded by a small multiple of the input.
 */
static int decode_entry(struct cfs_rd *rd, struct cfs_tree_entry *e, bool v1)
{
	const uint8_t *p;
	uint64_t v;
	uint16_t nl;

	if (cfs_rd_le16(rd, &nl) < 0 || nl < 1 || nl > CFS_TREE_NAME_MAX)
		return -EPROTO;
	if (cfs_rd_ptr(rd, nl, &p) < 0)
		return -EPROTO;
	e->name = malloc((size_t)nl + 1);
	if (!e->name)
		return -ENOMEM;
	memcpy(e->name, p, nl);
	e->name[nl] = 0;
	e->name_len = nl;

	cfs_rd_u8(rd, &e->type);
	cfs_rd_le32(rd, &e->mode);
	cfs_rd_le32(rd, &e->uid);
	cfs_rd_le32(rd, &e->gid);
	cfs_rd_le64(rd, &e->size);
	if (cfs_rd_le64(rd, &v) >= 0)
		e->mtime_ns = (int64_t)v;
	if (cfs_rd_le64(rd, &v) >= 0)
		e->ctime_ns = (int64_t)v;
	cfs_rd_le64(rd, &e->rdev);
	cfs_rd_le64(rd, &e->dev);
	cfs_rd_le64(rd, &e->ino);
	cfs_rd_le32(rd, &e->nlink);
	if (!v1)
		cfs_rd_le32(rd, &e->fsflags);
	uint32_t nx = 0;
	if (cfs_rd_le32(rd, &nx) < 0)
		return -EPROTO;
	if (!type_valid(e->type))
		return -EPROTO;

	if (nx > 0) {
		if (nx > cfs_rd_left(rd) / XATTR_MIN_SIZE)
			return -EPROTO;
		e->xattrs = calloc(nx, sizeof(*e->xattrs));
		if (!e->xattrs)
			return -ENOMEM;
		for (uint32_t i = 0; i < nx; i++) {
			struct cfs_xattr *x = &e->xattrs[i];
			uint16_t xl;
			uint32_t vl;

			/* n_xattrs counts initialised slots, so release frees exactly those */
			e->n_xattrs = i + 1;
			if (cfs_rd_le16(rd, &xl) < 0 || xl < 1 || xl > CFS_TREE_XATTR_NAME_MAX)
				return -EPROTO;
			if (cfs_rd_ptr(rd, xl, &p) < 0 || memchr(p, 0, xl))
				return -EPROTO;
			x->name = malloc((size_t)xl + 1);
			if (!x->name)
				return -ENOMEM;
			memcpy(x->name, p, xl);
			x->name[xl] = 0;
			if (cfs_rd_le32(rd, &vl) < 0 || vl > CFS_TREE_XATTR_VALUE_MAX)
				return -EPROTO;
			if (cfs_rd_ptr(rd, vl, &p) < 0)
				return -EPROTO;
			if (vl) {
				x->value = malloc(vl);
				if (!x->value)
					return -ENOMEM;
				memcpy(x->value, p, vl);
			}
			x->len = vl;
		}
	}

	switch (e->type) {
	case CFS_FT_REG: {
		uint32_t ne;
		if (cfs_rd_le32(rd, &ne) < 0)
			return -EPROTO;
		if (ne == 0)
			break;
		if (ne > cfs_rd_left(rd) / EXTENT_SIZE)
			return -EPROTO;
		e->extents = calloc(ne, sizeof(*e->extents));
		if (!e->extents)
			return -ENOMEM;
		e->n_extents = ne;
		for (uint32_t i = 0; i < ne; i++) {
			cfs_rd_le64(rd, &e->extents[i].offset);
			cfs_rd_le32(rd, &e->extents[i].len);
			cfs_rd_bytes(rd, e->extents[i].id.b, CFS_ID_SIZE);
		}
		break;
	}
	case CFS_FT_SYMLINK: {
		uint32_t tl;
		if (cfs_rd_le32(rd, &tl) < 0 || tl < 1 || tl > CFS_TREE_TARGET_MAX)
			return -EPROTO;
		if (cfs_rd_ptr(rd, tl, &p) < 0)
			return -EPROTO;
		e->target = malloc((size_t)tl + 1);
		if (!e->target)
			return -ENOMEM;
		memcpy(e->target, p, tl);
		e->target[tl] = 0;
		e->target_len = tl;
		break;
	}
	case CFS_FT_DIR:
		cfs_rd_bytes(rd, e->subtree.b, CFS_ID_SIZE);
		cfs_rd_le64(rd, &e->subtree_nodes);
		break;
	default:
		break;
	}

	if (rd->err || !entry_valid(e))
		return -EPROTO;
	return 0;
}

/* Decode count fragment records into t. */
static int decode_frags(struct cfs_rd *rd, uint32_t count, struct cfs_tree *t)
{
	if (count < 2 || count > cfs_rd_left(rd) / FRAG_MIN_SIZE)
		return -EPROTO;
	t->frags = calloc(count, sizeof(*t->frags));
	if (!t->frags)
		return -ENOMEM;
	t->cap_frags = count;
	for (uint32_t i = 0; i < count; i++) {
		struct cfs_tree_frag *f = &t->frags[i];
		const uint8_t *p;
		uint16_t nl;
		if (cfs_rd_le16(rd, &nl) < 0 || nl < 1 || nl > CFS_TREE_NAME_MAX || cfs_rd_ptr(rd, nl, &p) < 0)
			return -EPROTO;
		f->name = memdup_nul(p, nl);
		if (!f->name)
			return -ENOMEM;
		f->name_len = nl;
		t->n_frags = i + 1; /* counts initialised slots, for release */
		cfs_rd_bytes(rd, f->id.b, CFS_ID_SIZE);
		cfs_rd_le32(rd, &f->entries);
		if (cfs_rd_le64(rd, &f->nodes) < 0)
			return -EPROTO;
	}
	return frags_valid(t) ? 0 : -EPROTO;
}

int cfs_tree_decode(const void *p, size_t n, struct cfs_tree *ret)
{
	_cleanup_(cfs_tree_release) struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	const uint8_t *magic;
	uint8_t kind = KIND_ENTRIES;
	uint32_t count = 0;
	uint64_t claimed, nodes;
	int r;

	*ret = (struct cfs_tree)CFS_TREE_INIT;

	if (cfs_rd_ptr(&rd, TREE_MAGIC_SIZE, &magic) < 0)
		return -EPROTO;
	bool v1 = memcmp(magic, TREE_MAGIC_V1, TREE_MAGIC_SIZE) == 0;
	if (!v1 && memcmp(magic, TREE_MAGIC_V2, TREE_MAGIC_SIZE) != 0)
		return -EPROTO;
	if (!v1 && (cfs_rd_u8(&rd, &kind) < 0 || (kind != KIND_ENTRIES && kind != KIND_INDEX)))
		return -EPROTO;
	cfs_rd_le32(&rd, &count);
	if (cfs_rd_le64(&rd, &claimed) < 0)
		return -EPROTO;
	if (kind == KIND_INDEX) {
		r = decode_frags(&rd, count, &t);
		if (r < 0)
			return r;
	} else {
		if (count > cfs_rd_left(&rd) / (v1 ? ENTRY_MIN_SIZE_V1 : ENTRY_MIN_SIZE))
			return -EPROTO;
		if (count > 0) {
			t.entries = calloc(count, sizeof(*t.entries));
			if (!t.entries)
				return -ENOMEM;
			t.cap = count;
		}
		for (uint32_t i = 0; i < count; i++) {
			/* t.n counts initialised slots, so release frees exactly those */
			t.n = i + 1;
			r = decode_entry(&rd, &t.entries[i], v1);
			if (r < 0)
				return r;
			if (i > 0 && entry_cmp(&t.entries[i - 1], &t.entries[i]) >= 0)
				return -EPROTO;
		}
	}
	if (cfs_rd_left(&rd) != 0)
		return -EPROTO;
	if (!node_count(&t, &nodes) || nodes != claimed)
		return -EPROTO;

	t.version = v1 ? 1 : 2;
	*ret = t;
	t = (struct cfs_tree)CFS_TREE_INIT;
	return 0;
}

int cfs_tree_find(const struct cfs_tree *t, const void *name, size_t name_len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cfs_tree_entry *e = &t->entries[mid];
		int c = name_cmp(name, name_len, e->name, e->name_len);
		if (c == 0)
			return mid > INT_MAX ? -EOVERFLOW : (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int cfs_tree_find_frag(const struct cfs_tree *t, const void *name, size_t name_len)
{
	size_t lo = 0, hi = t->n_frags;

	/* The number of fragments whose first name is <= name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cfs_tree_frag *f = &t->frags[mid];
		if (name_cmp(f->name, f->name_len, name, name_len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -ENOENT;
	return lo - 1 > INT_MAX ? -EOVERFLOW : (int)(lo - 1);
}
