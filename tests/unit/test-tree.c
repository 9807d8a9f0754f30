/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the directory object format (include/chronofs/tree.h).
 *
 * raw_encode() below is an independent, validation-free writer of the layout
 * documented in tree.h. It pins the frozen byte layout (its output must equal
 * cfs_tree_encode()'s for valid trees) and produces malformed-but-well-framed
 * input, so each semantic rule of the decoder is tested on its own.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <stdio.h>

#include "chronofs/pack.h"
#include "chronofs/tree.h"

/* ---- helpers ---------------------------------------------------------- */

static uint8_t *xmemdup(const void *p, size_t n)
{
	uint8_t *d = malloc(n + 1);
	cr_assert_not_null(d);
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

static void set_name(struct cfs_tree_entry *e, const void *name, size_t n)
{
	free(e->name);
	e->name = xmemdup(name, n);
	e->name_len = (uint16_t)n;
}

static void fill_id(struct cfs_id *id, uint8_t seed)
{
	for (size_t i = 0; i < CFS_ID_SIZE; i++)
		id->b[i] = (uint8_t)(seed * 31 + i);
}

static void add_xattr(struct cfs_tree_entry *e, const char *name, const void *val, uint32_t len)
{
	struct cfs_xattr *x = realloc(e->xattrs, (e->n_xattrs + 1) * sizeof(*x));
	cr_assert_not_null(x);
	e->xattrs = x;
	x[e->n_xattrs].name = (char *)xmemdup(name, strlen(name));
	x[e->n_xattrs].value = len ? xmemdup(val, len) : NULL;
	x[e->n_xattrs].len = len;
	e->n_xattrs++;
}

static void add_extent(struct cfs_tree_entry *e, uint64_t off, uint32_t len, uint8_t seed)
{
	struct cfs_extent *x = realloc(e->extents, (e->n_extents + 1) * sizeof(*x));
	cr_assert_not_null(x);
	e->extents = x;
	x[e->n_extents].offset = off;
	x[e->n_extents].len = len;
	fill_id(&x[e->n_extents].id, seed);
	e->n_extents++;
}

static void set_target(struct cfs_tree_entry *e, const void *t, size_t n)
{
	free(e->target);
	e->target = (char *)xmemdup(t, n);
	e->target_len = (uint32_t)n;
}

/* A valid entry of the given type with every common field non-trivial. */
static struct cfs_tree_entry make_entry(const char *name, uint8_t type)
{
	struct cfs_tree_entry e = {0};
	set_name(&e, name, strlen(name));
	e.type = type;
	e.mode = 0644;
	e.uid = 1000;
	e.gid = 100;
	e.mtime_ns = 1700000000123456789;
	e.ctime_ns = -1234567890123;
	e.dev = 0x803;
	e.ino = 123456789012345;
	e.nlink = 1;
	switch (type) {
	case CFS_FT_REG:
		e.size = 10000;
		add_extent(&e, 0, 4096, 1);
		break;
	case CFS_FT_DIR:
		e.mode = 0755;
		fill_id(&e.subtree, 9);
		e.subtree_nodes = 3;
		break;
	case CFS_FT_SYMLINK:
		e.mode = 0777;
		set_target(&e, "target", 6);
		break;
	case CFS_FT_CHR:
	case CFS_FT_BLK:
		e.rdev = 0x0801;
		break;
	default:
		break;
	}
	return e;
}

static void add_entry(struct cfs_tree *t, struct cfs_tree_entry e)
{
	cr_assert_eq(cfs_tree_add(t, &e), 0);
}

/* Validation-free writer of the tree.h layout (version 2, or 1 with v1);
 * node count from the caller. */
static void raw_encode_version(const struct cfs_tree *t, uint64_t nodes, bool v1, struct cfs_buf *out)
{
	cfs_buf_reset(out);
	cr_assert_eq(cfs_buf_append(out, v1 ? "CFSTREE\x01" : "CFSTREE\x02", 8), 0);
	if (!v1)
		cfs_buf_append_u8(out, 0); /* kind: entries */
	cfs_buf_append_le32(out, (uint32_t)t->n);
	cfs_buf_append_le64(out, nodes);
	for (size_t i = 0; i < t->n; i++) {
		const struct cfs_tree_entry *e = &t->entries[i];
		cfs_buf_append_le16(out, e->name_len);
		cfs_buf_append(out, e->name, e->name_len);
		cfs_buf_append_u8(out, e->type);
		cfs_buf_append_le32(out, e->mode);
		cfs_buf_append_le32(out, e->uid);
		cfs_buf_append_le32(out, e->gid);
		cfs_buf_append_le64(out, e->size);
		cfs_buf_append_le64(out, (uint64_t)e->mtime_ns);
		cfs_buf_append_le64(out, (uint64_t)e->ctime_ns);
		cfs_buf_append_le64(out, e->rdev);
		cfs_buf_append_le64(out, e->dev);
		cfs_buf_append_le64(out, e->ino);
		cfs_buf_append_le32(out, e->nlink);
		if (!v1)
			cfs_buf_append_le32(out, e->fsflags);
		cfs_buf_append_le32(out, e->n_xattrs);
		for (uint32_t j = 0; j < e->n_xattrs; j++) {
			size_t nl = strlen(e->xattrs[j].name);
			cfs_buf_append_le16(out, (uint16_t)nl);
			cfs_buf_append(out, e->xattrs[j].name, nl);
			cfs_buf_append_le32(out, e->xattrs[j].len);
			cfs_buf_append(out, e->xattrs[j].value, e->xattrs[j].len);
		}
		if (e->type == CFS_FT_REG) {
			cfs_buf_append_le32(out, e->n_extents);
			for (uint32_t j = 0; j < e->n_extents; j++) {
				cfs_buf_append_le64(out, e->extents[j].offset);
				cfs_buf_append_le32(out, e->extents[j].len);
				cfs_buf_append(out, e->extents[j].id.b, CFS_ID_SIZE);
			}
		} else if (e->type == CFS_FT_SYMLINK) {
			cfs_buf_append_le32(out, e->target_len);
			cfs_buf_append(out, e->target, e->target_len);
		} else if (e->type == CFS_FT_DIR) {
			cfs_buf_append(out, e->subtree.b, CFS_ID_SIZE);
			cfs_buf_append_le64(out, e->subtree_nodes);
		}
	}
}

static void raw_encode(const struct cfs_tree *t, uint64_t nodes, struct cfs_buf *out)
{
	raw_encode_version(t, nodes, false, out);
}

/* Header offsets of version 2: entry count, node count, first entry. */
#define OFF_COUNT 9
#define OFF_NODES 13
#define OFF_ENTRIES 21

static void assert_tree_empty(const struct cfs_tree *t)
{
	cr_assert_null(t->entries);
	cr_assert_eq(t->n, 0);
	cr_assert_eq(t->cap, 0);
}

static void assert_entry_eq(const struct cfs_tree_entry *a, const struct cfs_tree_entry *b)
{
	cr_assert_eq(a->name_len, b->name_len);
	cr_assert_eq(memcmp(a->name, b->name, a->name_len), 0);
	cr_assert_eq(a->name[a->name_len], 0, "decoded name must carry a NUL after name_len bytes");
	cr_assert_eq(a->type, b->type);
	cr_assert_eq(a->mode, b->mode);
	cr_assert_eq(a->uid, b->uid);
	cr_assert_eq(a->gid, b->gid);
	cr_assert_eq(a->size, b->size);
	cr_assert_eq(a->mtime_ns, b->mtime_ns);
	cr_assert_eq(a->ctime_ns, b->ctime_ns);
	cr_assert_eq(a->rdev, b->rdev);
	cr_assert_eq(a->dev, b->dev);
	cr_assert_eq(a->ino, b->ino);
	cr_assert_eq(a->nlink, b->nlink);
	cr_assert_eq(a->fsflags, b->fsflags);
	cr_assert_eq(a->n_xattrs, b->n_xattrs);
	for (uint32_t i = 0; i < a->n_xattrs; i++) {
		cr_assert_str_eq(a->xattrs[i].name, b->xattrs[i].name);
		cr_assert_eq(a->xattrs[i].len, b->xattrs[i].len);
		if (a->xattrs[i].len)
			cr_assert_eq(memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].len), 0);
	}
	cr_assert_eq(a->n_extents, b->n_extents);
	for (uint32_t i = 0; i < a->n_extents; i++) {
		cr_assert_eq(a->extents[i].offset, b->extents[i].offset);
		cr_assert_eq(a->extents[i].len, b->extents[i].len);
		cr_assert_eq(memcmp(&a->extents[i].id, &b->extents[i].id, sizeof(struct cfs_id)), 0);
	}
	cr_assert_eq(a->target_len, b->target_len);
	if (a->target_len) {
		cr_assert_eq(memcmp(a->target, b->target, a->target_len), 0);
		cr_assert_eq(a->target[a->target_len], 0);
	}
	cr_assert_eq(memcmp(&a->subtree, &b->subtree, sizeof(struct cfs_id)), 0);
	cr_assert_eq(a->subtree_nodes, b->subtree_nodes);
}

/*
 * The rich tree: every type, xattrs with binary values, sparse extents and
 * odd names (newline, invalid UTF-8, 255 and 4095 bytes). Left unsorted.
 */
static void build_rich(struct cfs_tree *t)
{
	static const uint8_t bin[] = {0, 1, 0, 0xff, 0, '\n', 0};
	uint8_t *big = malloc(CFS_TREE_XATTR_VALUE_MAX);
	cr_assert_not_null(big);
	for (size_t i = 0; i < CFS_TREE_XATTR_VALUE_MAX; i++)
		big[i] = (uint8_t)(i * 7);

	struct cfs_tree_entry e = make_entry("file.txt", CFS_FT_REG);
	/* extents with holes at the start, between and after */
	free(e.extents);
	e.extents = NULL;
	e.n_extents = 0;
	e.size = 10 * 1024 * 1024;
	add_extent(&e, 4096, 65536, 2);
	add_extent(&e, 1024 * 1024, 1, 3);
	add_extent(&e, 2 * 1024 * 1024, CFS_BLOB_MAX_SIZE / 16, 4);
	e.nlink = 2;
	e.fsflags = 0x00000010 | 0x00000040; /* immutable, nodump */
	add_xattr(&e, "security.selinux", "system_u:object_r:etc_t:s0", 26);
	add_xattr(&e, "user.bin", bin, sizeof(bin));
	add_xattr(&e, "user.big", big, CFS_TREE_XATTR_VALUE_MAX);
	add_xattr(&e, "user.empty", NULL, 0);
	/* xattrs must be sorted: big < bin < empty */
	struct cfs_xattr tmp = e.xattrs[1];
	e.xattrs[1] = e.xattrs[2];
	e.xattrs[2] = tmp;
	add_entry(t, e);

	e = make_entry("empty", CFS_FT_REG);
	free(e.extents);
	e.extents = NULL;
	e.n_extents = 0;
	e.size = 0;
	add_entry(t, e);

	e = make_entry("sparse-only", CFS_FT_REG);
	free(e.extents);
	e.extents = NULL;
	e.n_extents = 0;
	e.size = UINT64_MAX; /* a huge hole, no data */
	add_entry(t, e);

	e = make_entry("subdir", CFS_FT_DIR);
	e.mode = 01777;
	add_xattr(&e, "user.a", "x", 1);
	add_entry(t, e);

	e = make_entry("link", CFS_FT_SYMLINK);
	char target[CFS_TREE_TARGET_MAX];
	memset(target, 'T', sizeof(target));
	target[0] = '/';
	set_target(&e, target, sizeof(target));
	add_entry(t, e);

	e = make_entry("fifo", CFS_FT_FIFO);
	e.mode = 0600;
	add_entry(t, e);
	e = make_entry("tty", CFS_FT_CHR);
	e.mode = 06755;
	add_entry(t, e);
	e = make_entry("sda", CFS_FT_BLK);
	e.rdev = UINT64_MAX;
	add_entry(t, e);

	e = make_entry("x", CFS_FT_FIFO);
	set_name(&e, "new\nline", 8);
	add_entry(t, e);
	e = make_entry("x", CFS_FT_FIFO);
	set_name(&e, "\xff\xfe", 2);
	add_entry(t, e);
	e = make_entry("x", CFS_FT_FIFO);
	set_name(&e, "\xff", 1);
	add_entry(t, e);
	e = make_entry("x", CFS_FT_FIFO);
	set_name(&e, "...", 3);
	add_entry(t, e);
	e = make_entry("x", CFS_FT_FIFO);
	set_name(&e, ".hidden", 7);
	add_entry(t, e);

	char name[CFS_TREE_NAME_MAX];
	memset(name, 'n', sizeof(name));
	e = make_entry("x", CFS_FT_REG);
	set_name(&e, name, 255);
	add_entry(t, e);
	e = make_entry("x", CFS_FT_DIR);
	set_name(&e, name, CFS_TREE_NAME_MAX);
	e.subtree_nodes = 0;
	add_entry(t, e);

	free(big);
}

static size_t rich_count(void)
{
	struct cfs_tree t = CFS_TREE_INIT;
	build_rich(&t);
	size_t n = t.n;
	cfs_tree_release(&t);
	return n;
}

/* ---- round trips -------------------------------------------------------- */

Test(tree, roundtrip_every_type)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT, raw = CFS_BUF_INIT;

	build_rich(&t);
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);

	/* the encoder writes exactly the documented layout */
	raw_encode(&t, cfs_tree_node_count(&t), &raw);
	cr_assert_eq(raw.len, a.len);
	cr_assert_eq(memcmp(raw.data, a.data, a.len), 0);

	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.n, t.n);
	for (size_t i = 0; i < t.n; i++)
		assert_entry_eq(&d.entries[i], &t.entries[i]);
	cr_assert_eq(cfs_tree_node_count(&d), cfs_tree_node_count(&t));
	/* 15 leaves + "subdir" with 3 below it */
	cr_assert_eq(cfs_tree_node_count(&d), t.n + 3);

	/* encode -> decode -> encode is byte-identical */
	cr_assert_eq(cfs_tree_encode(&d, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

	/* the same tree encoded twice gives the same bytes (out is reset first) */
	cr_assert_eq(cfs_tree_encode(&t, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

	cfs_tree_release(&t);
	cfs_tree_release(&d);
	assert_tree_empty(&t);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
	cfs_buf_release(&raw);
}

Test(tree, insertion_order_does_not_matter)
{
	struct cfs_tree t1 = CFS_TREE_INIT, t2 = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;

	build_rich(&t1);
	build_rich(&t2);
	/* reverse t2 before sorting */
	for (size_t i = 0; i < t2.n / 2; i++) {
		struct cfs_tree_entry tmp = t2.entries[i];
		t2.entries[i] = t2.entries[t2.n - 1 - i];
		t2.entries[t2.n - 1 - i] = tmp;
	}
	cr_assert_eq(cfs_tree_sort(&t1), 0);
	cr_assert_eq(cfs_tree_sort(&t2), 0);
	cr_assert_eq(cfs_tree_encode(&t1, &a), 0);
	cr_assert_eq(cfs_tree_encode(&t2, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
	cfs_tree_release(&t1);
	cfs_tree_release(&t2);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

Test(tree, empty_tree)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	static const uint8_t expect[OFF_ENTRIES] = "CFSTREE\x02";

	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	cr_assert_eq(a.len, OFF_ENTRIES);
	cr_assert_eq(memcmp(a.data, expect, OFF_ENTRIES), 0);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.n, 0);
	cr_assert_eq(cfs_tree_find(&d, "a", 1), -ENOENT);
	cfs_tree_release(&d);
	cfs_buf_release(&a);
}

Test(tree, sort_order_is_bytewise_shorter_first)
{
	struct cfs_tree t = CFS_TREE_INIT;
	/* expected order: "a" < "a\x01" < "ab" < "b" < "\x80" < "\xff" */
	static const char *const names[] = {"\xff", "b", "ab", "a\x01", "\x80", "a"};
	static const char *const sorted[] = {"a", "a\x01", "ab", "b", "\x80", "\xff"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct cfs_tree_entry e = make_entry(names[i], CFS_FT_FIFO);
		add_entry(&t, e);
	}
	cr_assert_eq(cfs_tree_sort(&t), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sorted); i++) {
		cr_assert_eq(t.entries[i].name_len, strlen(sorted[i]));
		cr_assert_eq(memcmp(t.entries[i].name, sorted[i], t.entries[i].name_len), 0, "index %zu", i);
	}
	cfs_tree_release(&t);
}

Test(tree, add_takes_ownership)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_tree_entry e = make_entry("f", CFS_FT_REG);
	uint8_t *name = e.name;
	struct cfs_extent *ext = e.extents;
	static const struct cfs_tree_entry zero;

	cr_assert_eq(cfs_tree_add(&t, &e), 0);
	cr_assert_eq(memcmp(&e, &zero, sizeof(e)), 0, "added entry must be zeroed");
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.entries[0].name, name);
	cr_assert_eq(t.entries[0].extents, ext);
	/* growing past the initial capacity keeps earlier entries intact */
	for (int i = 0; i < 100; i++) {
		char n[16];
		snprintf(n, sizeof(n), "g%03d", i);
		add_entry(&t, make_entry(n, CFS_FT_FIFO));
	}
	cr_assert_eq(t.entries[0].name, name);
	cr_assert_eq(t.n, 101);
	cfs_tree_release(&t);
	assert_tree_empty(&t);
	cfs_tree_release(&t); /* idempotent */
}

/* ---- encoder validation ----------------------------------------------- */

Test(tree, unsorted_or_duplicate_input_rejected)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;

	add_entry(&t, make_entry("b", CFS_FT_FIFO));
	add_entry(&t, make_entry("a", CFS_FT_FIFO));
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	cr_assert_eq(a.len, 0);
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);

	add_entry(&t, make_entry("a", CFS_FT_REG));
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	cr_assert_eq(cfs_tree_sort(&t), -EEXIST);
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

/* Each case turns a valid entry into one the encoder must refuse. */
struct bad_case {
	const char *what;
	uint8_t type;
	void (*mutate)(struct cfs_tree_entry *e);
	/* the encoding has no place for the bad field: only the encoder can see it */
	bool encode_only;
};

static void m_name_empty(struct cfs_tree_entry *e) { set_name(e, "", 0); }
static void m_name_dot(struct cfs_tree_entry *e) { set_name(e, ".", 1); }
static void m_name_dotdot(struct cfs_tree_entry *e) { set_name(e, "..", 2); }
static void m_name_slash(struct cfs_tree_entry *e) { set_name(e, "a/b", 3); }
static void m_name_nul(struct cfs_tree_entry *e) { set_name(e, "a\0b", 3); }
static void m_name_long(struct cfs_tree_entry *e)
{
	char n[CFS_TREE_NAME_MAX + 1];
	memset(n, 'a', sizeof(n));
	set_name(e, n, sizeof(n));
}
static void m_type_zero(struct cfs_tree_entry *e) { e->type = 0; }
static void m_type_seven(struct cfs_tree_entry *e) { e->type = 7; }
static void m_mode_ifmt(struct cfs_tree_entry *e) { e->mode = 0100644; }
static void m_mode_high(struct cfs_tree_entry *e) { e->mode = 010000; }
static void m_xattr_unsorted(struct cfs_tree_entry *e)
{
	add_xattr(e, "user.b", "1", 1);
	add_xattr(e, "user.a", "1", 1);
}
static void m_xattr_dup(struct cfs_tree_entry *e)
{
	add_xattr(e, "user.a", "1", 1);
	add_xattr(e, "user.a", "2", 1);
}
static void m_xattr_prefix_order(struct cfs_tree_entry *e)
{
	add_xattr(e, "user.ab", "1", 1);
	add_xattr(e, "user.a", "1", 1);
}
static void m_xattr_empty_name(struct cfs_tree_entry *e) { add_xattr(e, "", "1", 1); }
static void m_xattr_long_name(struct cfs_tree_entry *e)
{
	char n[CFS_TREE_XATTR_NAME_MAX + 2];
	memset(n, 'x', sizeof(n) - 1);
	n[sizeof(n) - 1] = 0;
	add_xattr(e, n, "1", 1);
}
static void m_xattr_big_value(struct cfs_tree_entry *e)
{
	uint8_t *v = calloc(1, CFS_TREE_XATTR_VALUE_MAX + 1);
	cr_assert_not_null(v);
	add_xattr(e, "user.big", v, CFS_TREE_XATTR_VALUE_MAX + 1);
	free(v);
}
static void m_ext_overlap(struct cfs_tree_entry *e) { add_extent(e, 4095, 10, 5); }
static void m_ext_unsorted(struct cfs_tree_entry *e)
{
	e->extents[0].offset = 8192;
	add_extent(e, 0, 10, 5);
}
static void m_ext_zero_len(struct cfs_tree_entry *e) { e->extents[0].len = 0; }
static void m_ext_too_long(struct cfs_tree_entry *e)
{
	e->size = UINT64_MAX;
	e->extents[0].len = CFS_BLOB_MAX_SIZE + 1;
}
static void m_ext_past_size(struct cfs_tree_entry *e) { e->size = 4095; }
static void m_ext_wrap(struct cfs_tree_entry *e)
{
	e->size = UINT64_MAX;
	e->extents[0].offset = UINT64_MAX - 10;
	e->extents[0].len = 100;
}
static void m_target_empty(struct cfs_tree_entry *e) { set_target(e, "", 0); }
static void m_target_nul(struct cfs_tree_entry *e) { set_target(e, "a\0b", 3); }
static void m_target_long(struct cfs_tree_entry *e)
{
	char n[CFS_TREE_TARGET_MAX + 1];
	memset(n, 't', sizeof(n));
	set_target(e, n, sizeof(n));
}
static void m_extents_on_fifo(struct cfs_tree_entry *e)
{
	e->size = 100;
	add_extent(e, 0, 10, 1);
}
static void m_target_on_reg(struct cfs_tree_entry *e) { set_target(e, "t", 1); }
static void m_subtree_on_fifo(struct cfs_tree_entry *e) { e->subtree_nodes = 1; }

static const struct bad_case bad_cases[] = {
	{"empty name", CFS_FT_FIFO, m_name_empty},
	{"name .", CFS_FT_FIFO, m_name_dot},
	{"name ..", CFS_FT_DIR, m_name_dotdot},
	{"name with slash", CFS_FT_FIFO, m_name_slash},
	{"name with NUL", CFS_FT_FIFO, m_name_nul},
	{"name of 4096 bytes", CFS_FT_FIFO, m_name_long},
	{"type 0", CFS_FT_FIFO, m_type_zero},
	{"type 7", CFS_FT_FIFO, m_type_seven},
	{"mode with S_IFREG", CFS_FT_REG, m_mode_ifmt},
	{"mode 010000", CFS_FT_FIFO, m_mode_high},
	{"xattrs unsorted", CFS_FT_FIFO, m_xattr_unsorted},
	{"xattrs duplicate", CFS_FT_FIFO, m_xattr_dup},
	{"xattrs longer first", CFS_FT_FIFO, m_xattr_prefix_order},
	{"xattr empty name", CFS_FT_FIFO, m_xattr_empty_name},
	{"xattr name of 256 bytes", CFS_FT_FIFO, m_xattr_long_name},
	{"xattr value over 64 KiB", CFS_FT_FIFO, m_xattr_big_value},
	{"extents overlap", CFS_FT_REG, m_ext_overlap},
	{"extents unsorted", CFS_FT_REG, m_ext_unsorted},
	{"extent of length 0", CFS_FT_REG, m_ext_zero_len},
	{"extent over blob max", CFS_FT_REG, m_ext_too_long},
	{"extent past size", CFS_FT_REG, m_ext_past_size},
	{"extent offset+len wraps", CFS_FT_REG, m_ext_wrap},
	{"empty symlink target", CFS_FT_SYMLINK, m_target_empty},
	{"symlink target with NUL", CFS_FT_SYMLINK, m_target_nul},
	{"symlink target of 4096 bytes", CFS_FT_SYMLINK, m_target_long},
	{"extents on a fifo", CFS_FT_FIFO, m_extents_on_fifo, true},
	{"target on a regular file", CFS_FT_REG, m_target_on_reg, true},
	{"subtree nodes on a fifo", CFS_FT_FIFO, m_subtree_on_fifo, true},
};

/*
 * For every rule: the encoder refuses with -EINVAL, and (where the layout
 * can carry the bad value at all) the same entry written raw (well framed, so only the rule itself is broken) is refused
 * by the decoder with -EPROTO and leaves the output tree empty.
 */
Test(tree, invalid_entries_rejected_by_both_sides)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
		struct cfs_buf a = CFS_BUF_INIT;
		struct cfs_tree_entry e = make_entry("m", bad_cases[i].type);

		/* valid neighbours that sort after every bad name, so only the
		 * rule under test is broken */
		bad_cases[i].mutate(&e);
		add_entry(&t, e);
		add_entry(&t, make_entry("y", CFS_FT_REG));
		add_entry(&t, make_entry("z", CFS_FT_DIR));

		cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL, "encode: %s", bad_cases[i].what);
		cr_assert_eq(a.len, 0);
		if (!bad_cases[i].encode_only) {
			raw_encode(&t, cfs_tree_node_count(&t), &a);
			cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO, "decode: %s", bad_cases[i].what);
			assert_tree_empty(&d);
		}

		cfs_tree_release(&t);
		cfs_buf_release(&a);
	}
}

Test(tree, limits_are_inclusive)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	char n[CFS_TREE_XATTR_NAME_MAX + 1];
	memset(n, 'x', CFS_TREE_XATTR_NAME_MAX);
	n[CFS_TREE_XATTR_NAME_MAX] = 0;

	struct cfs_tree_entry e = make_entry("f", CFS_FT_REG);
	e.size = (uint64_t)CFS_BLOB_MAX_SIZE + 100;
	e.extents[0].offset = 100;
	e.extents[0].len = CFS_BLOB_MAX_SIZE; /* ends exactly at size */
	add_xattr(&e, n, "v", 1);
	e.mode = 07777;
	add_entry(&t, e);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.entries[0].extents[0].len, CFS_BLOB_MAX_SIZE);
	cfs_tree_release(&t);
	cfs_tree_release(&d);
	cfs_buf_release(&a);
}

Test(tree, node_count_overflow)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_tree_entry e = make_entry("a", CFS_FT_DIR);

	e.subtree_nodes = UINT64_MAX / 2;
	add_entry(&t, e);
	e = make_entry("b", CFS_FT_DIR);
	e.subtree_nodes = UINT64_MAX / 2;
	add_entry(&t, e);
	/* (1 + MAX/2) * 2 wraps to 0 */
	cr_assert_eq(cfs_tree_node_count(&t), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	raw_encode(&t, 0, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);

	t.entries[1].subtree_nodes = UINT64_MAX;
	raw_encode(&t, 0, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);

	/* one subtree of UINT64_MAX - 1 nodes is exactly representable */
	cfs_tree_release(&t);
	e = make_entry("a", CFS_FT_DIR);
	e.subtree_nodes = UINT64_MAX - 1;
	add_entry(&t, e);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(cfs_tree_node_count(&d), UINT64_MAX);
	cfs_tree_release(&t);
	cfs_tree_release(&d);
	cfs_buf_release(&a);
}

/* ---- decoder on damaged input ---------------------------------------- */

static void encode_rich(struct cfs_buf *out)
{
	struct cfs_tree t = CFS_TREE_INIT;
	build_rich(&t);
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_tree_encode(&t, out), 0);
	cfs_tree_release(&t);
}

Test(tree, every_truncation_fails)
{
	struct cfs_buf a = CFS_BUF_INIT;
	encode_rich(&a);
	for (size_t len = 0; len < a.len; len++) {
		struct cfs_tree d = CFS_TREE_INIT;
		/* a copy of exactly len bytes, so ASan catches any read past it */
		uint8_t *p = xmemdup(a.data, len);
		cr_assert_eq(cfs_tree_decode(p, len, &d), -EPROTO, "length %zu of %zu", len, a.len);
		assert_tree_empty(&d);
		free(p);
	}
	cfs_buf_release(&a);
}

Test(tree, trailing_bytes_fail)
{
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_tree d = CFS_TREE_INIT;
	encode_rich(&a);
	cr_assert_eq(cfs_buf_append_u8(&a, 0), 0);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);
	cfs_buf_release(&a);
}

Test(tree, header_damage)
{
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_tree d = CFS_TREE_INIT;
	encode_rich(&a);
	size_t n = rich_count();

	cr_assert_eq(cfs_get_le32(a.data + OFF_COUNT), n);
	cr_assert_eq(cfs_get_le64(a.data + OFF_NODES), n + 3);

	a.data[7] = 3; /* magic / version byte */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	a.data[7] = 1; /* a version 2 body read as version 1 */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	a.data[7] = 2;
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cfs_tree_release(&d);
	a.data[8] = 2; /* no such kind */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	a.data[8] = 1; /* entries read as fragments */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	a.data[8] = 0;

	cfs_put_le64(a.data + OFF_NODES, n + 4); /* node count mismatch */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	cfs_put_le64(a.data + OFF_NODES, n + 2);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	cfs_put_le64(a.data + OFF_NODES, n + 3);

	cfs_put_le32(a.data + OFF_COUNT, (uint32_t)n - 1); /* one entry left over */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	cfs_put_le32(a.data + OFF_COUNT, (uint32_t)n + 1);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);
	cfs_buf_release(&a);
}

Test(tree, unsorted_or_duplicate_encoding_fails)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;

	add_entry(&t, make_entry("b", CFS_FT_FIFO));
	add_entry(&t, make_entry("a", CFS_FT_FIFO));
	raw_encode(&t, 2, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	set_name(&t.entries[0], "a", 1);
	raw_encode(&t, 2, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	set_name(&t.entries[1], "ab", 2);
	raw_encode(&t, 2, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cfs_tree_release(&d);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

/*
 * Claimed counts far beyond the input must fail before any allocation is
 * sized by them. Without the guard these calloc() hundreds of GB: ASan aborts
 * on that and plain libc returns -ENOMEM, so -EPROTO proves the guard.
 */
Test(tree, huge_claimed_counts_fail_fast)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	uint8_t hdr[OFF_ENTRIES] = "CFSTREE\x02";

	cfs_put_le32(hdr + OFF_COUNT, UINT32_MAX);
	cfs_put_le64(hdr + OFF_NODES, UINT32_MAX);
	cr_assert_eq(cfs_tree_decode(hdr, sizeof(hdr), &d), -EPROTO);
	assert_tree_empty(&d);
	hdr[8] = 1; /* as many fragments */
	cr_assert_eq(cfs_tree_decode(hdr, sizeof(hdr), &d), -EPROTO);
	assert_tree_empty(&d);

	/* the count just above what the input could hold */
	struct cfs_tree_entry e = make_entry("f", CFS_FT_FIFO);
	add_entry(&t, e);
	raw_encode(&t, 1, &a);
	cr_assert_eq(a.len, OFF_ENTRIES + 76, "minimum entry size is 76 bytes");
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cfs_tree_release(&d);
	cfs_put_le32(a.data + OFF_COUNT, 2);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);

	/* xattr count: offset 21 + 2 + 1 (name "f") + 65 + 4 (fsflags) = 93 */
	raw_encode(&t, 1, &a);
	cr_assert_eq(cfs_get_le32(a.data + 93), 0);
	cfs_put_le32(a.data + 93, UINT32_MAX);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);
	cfs_tree_release(&t);

	/* extent count of a regular file, the last 4 bytes when it has none */
	e = make_entry("f", CFS_FT_REG);
	free(e.extents);
	e.extents = NULL;
	e.n_extents = 0;
	add_entry(&t, e);
	raw_encode(&t, 1, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cfs_tree_release(&d);
	cfs_put_le32(a.data + a.len - 4, UINT32_MAX);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);

	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Random damage never crashes (this test is meant to run under ASan/UBSan),
 * and whatever the decoder accepts is canonical: it re-encodes to the very
 * bytes it was decoded from.
 */
Test(tree, random_flips_never_crash, .timeout = 120)
{
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0, rejected = 0;

	encode_rich(&a);
	uint8_t *p = malloc(a.len);
	cr_assert_not_null(p);
	for (int iter = 0; iter < 3000; iter++) {
		struct cfs_tree d = CFS_TREE_INIT;
		memcpy(p, a.data, a.len);
		int flips = 1 + (int)(xorshift(&seed) % 4);
		for (int f = 0; f < flips; f++) {
			size_t off = xorshift(&seed) % a.len;
			uint64_t k = xorshift(&seed);
			/* mostly small bit flips, sometimes a 0x00/0xff byte */
			p[off] = (k & 3) == 0 ? (uint8_t)(k >> 8 & 1 ? 0xff : 0) : p[off] ^ (uint8_t)(1u << (k >> 8) % 8);
		}
		int r = cfs_tree_decode(p, a.len, &d);
		if (r == 0 && p[7] != 2) {
			/* A version 1 reading of damaged bytes re-encodes as 2. */
			accepted++;
			cfs_tree_release(&d);
		} else if (r == 0) {
			accepted++;
			cr_assert_eq(cfs_tree_encode(&d, &b), 0, "iteration %d", iter);
			cr_assert_eq(b.len, a.len);
			cr_assert_eq(memcmp(b.data, p, a.len), 0, "iteration %d: decode accepted non-canonical bytes", iter);
			cfs_tree_release(&d);
		} else {
			rejected++;
			cr_assert_eq(r, -EPROTO, "iteration %d", iter);
			assert_tree_empty(&d);
		}
	}
	/* both outcomes occur, or the test is not exercising anything */
	cr_assert_gt(accepted, 0);
	cr_assert_gt(rejected, 0);
	free(p);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

/* ---- lookup ----------------------------------------------------------- */

Test(tree, find)
{
	struct cfs_tree t = CFS_TREE_INIT;
	build_rich(&t);
	cr_assert_eq(cfs_tree_sort(&t), 0);

	for (size_t i = 0; i < t.n; i++)
		cr_assert_eq(cfs_tree_find(&t, t.entries[i].name, t.entries[i].name_len), (int)i);
	cr_assert_eq(cfs_tree_find(&t, "file.txt", 8) >= 0, true);
	cr_assert_eq(cfs_tree_find(&t, "file.tx", 7), -ENOENT);
	cr_assert_eq(cfs_tree_find(&t, "file.txt2", 9), -ENOENT);
	cr_assert_eq(cfs_tree_find(&t, "\xff\xfe", 2) >= 0, true);
	cr_assert_eq(cfs_tree_find(&t, "\xff\xfd", 2), -ENOENT);
	cr_assert_eq(cfs_tree_find(&t, "", 0), -ENOENT);
	cr_assert_eq(cfs_tree_find(&t, "\x01", 1), -ENOENT);
	cr_assert_eq(cfs_tree_find(&t, "\xff\xff\xff", 3), -ENOENT);
	/* name lookup is by length, not by C string */
	cr_assert_eq(cfs_tree_find(&t, "fifoXX", 4) >= 0, true);
	cfs_tree_release(&t);
}

/* ---- version 1, fragments --------------------------------------------- */

/* Trees written before version 2 still read, with no inode flags. */
Test(tree, version1_still_decodes)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;

	build_rich(&t);
	cr_assert_eq(cfs_tree_sort(&t), 0);
	for (size_t i = 0; i < t.n; i++)
		t.entries[i].fsflags = 0;
	raw_encode_version(&t, cfs_tree_node_count(&t), true, &a);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.n, t.n);
	for (size_t i = 0; i < t.n; i++)
		assert_entry_eq(&d.entries[i], &t.entries[i]);
	cfs_tree_release(&d);
	/* the version 1 encoder writes exactly that (flags are left out) */
	struct cfs_buf v1 = CFS_BUF_INIT;
	t.entries[0].fsflags = CFS_FSFLAG_IMMUTABLE;
	cr_assert_eq(cfs_tree_encode_version(&t, 1, &v1), 0);
	cr_assert_eq(v1.len, a.len);
	cr_assert_eq(memcmp(v1.data, a.data, a.len), 0);
	cr_assert_eq(cfs_tree_encode_version(&t, 3, &v1), -EINVAL);
	cfs_buf_release(&v1);
	/* every truncation of a version 1 tree fails too */
	for (size_t len = 0; len < a.len; len += 7)
		cr_assert_eq(cfs_tree_decode(a.data, len, &d), -EPROTO, "length %zu", len);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

Test(tree, entry_size_is_its_encoding)
{
	struct cfs_tree t = CFS_TREE_INIT, one = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;

	build_rich(&t);
	for (size_t i = 0; i < t.n; i++) {
		struct cfs_tree_entry e;
		cr_assert_eq(cfs_tree_entry_copy(&t.entries[i], &e), 0);
		add_entry(&one, e);
		cr_assert_eq(cfs_tree_encode(&one, &a), 0);
		cr_assert_eq(cfs_tree_entry_size(&one.entries[0]), a.len - OFF_ENTRIES, "entry %zu", i);
		cfs_tree_release(&one);
	}
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

static void build_index(struct cfs_tree *t)
{
	struct cfs_id id;
	fill_id(&id, 1);
	cr_assert_eq(cfs_tree_add_frag(t, "a", 1, &id, 3, 10), 0);
	fill_id(&id, 2);
	cr_assert_eq(cfs_tree_add_frag(t, "m", 1, &id, 1, 1), 0);
	fill_id(&id, 3);
	cr_assert_eq(cfs_tree_add_frag(t, "m\x01", 2, &id, 5, 6), 0);
}

Test(tree, index_roundtrip_and_lookup)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;

	build_index(&t);
	cr_assert_eq(cfs_tree_node_count(&t), 17);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	cr_assert_eq(a.data[8], 1, "kind: fragment index");
	cr_assert_eq(cfs_get_le32(a.data + OFF_COUNT), 3);
	cr_assert_eq(cfs_get_le64(a.data + OFF_NODES), 17);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.n, 0);
	cr_assert_eq(d.n_frags, 3);
	cr_assert_eq(cfs_tree_node_count(&d), 17);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(d.frags[i].name_len, t.frags[i].name_len);
		cr_assert_eq(memcmp(d.frags[i].name, t.frags[i].name, t.frags[i].name_len), 0);
		cr_assert_eq(d.frags[i].name[d.frags[i].name_len], 0);
		cr_assert_eq(memcmp(&d.frags[i].id, &t.frags[i].id, sizeof(struct cfs_id)), 0);
		cr_assert_eq(d.frags[i].entries, t.frags[i].entries);
		cr_assert_eq(d.frags[i].nodes, t.frags[i].nodes);
	}
	cr_assert_eq(cfs_tree_encode(&d, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

	cr_assert_eq(cfs_tree_encode_version(&d, 1, &b), -EINVAL, "version 1 has no fragments");
	cr_assert_eq(cfs_tree_find_frag(&d, "0", 1), -ENOENT);
	cr_assert_eq(cfs_tree_find_frag(&d, "a", 1), 0);
	cr_assert_eq(cfs_tree_find_frag(&d, "lzz", 3), 0);
	cr_assert_eq(cfs_tree_find_frag(&d, "m", 1), 1);
	cr_assert_eq(cfs_tree_find_frag(&d, "m\x01", 2), 2);
	cr_assert_eq(cfs_tree_find_frag(&d, "\xff", 1), 2);
	cfs_tree_release(&d);

	/* every truncation and trailing bytes fail */
	for (size_t len = 0; len < a.len; len++)
		cr_assert_eq(cfs_tree_decode(a.data, len, &d), -EPROTO, "length %zu", len);
	cr_assert_eq(cfs_buf_append_u8(&a, 0), 0);
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

Test(tree, invalid_indexes_rejected_by_both_sides)
{
	struct cfs_tree t = CFS_TREE_INIT, d = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_id id;
	fill_id(&id, 7);

	/* one fragment alone is not an index */
	cr_assert_eq(cfs_tree_add_frag(&t, "a", 1, &id, 1, 1), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	/* unsorted or duplicate first names */
	cr_assert_eq(cfs_tree_add_frag(&t, "a", 1, &id, 1, 1), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	free(t.frags[1].name);
	t.frags[1].name = xmemdup("b", 1);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	/* an empty fragment, fewer nodes than entries */
	t.frags[1].entries = 0;
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	t.frags[1].entries = 2;
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	t.frags[1].nodes = 2;
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	/* the decoder applies the same rules to well-framed bytes */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), 0);
	cfs_tree_release(&d);
	size_t second = OFF_ENTRIES + 2 + 1 + CFS_ID_SIZE + 4 + 8; /* the second record */
	cr_assert_eq(a.data[second + 2], 'b');
	a.data[second + 2] = 'a';
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	a.data[second + 2] = 'b';
	cfs_put_le32(a.data + second + 3 + CFS_ID_SIZE, 3); /* entries > nodes */
	cr_assert_eq(cfs_tree_decode(a.data, a.len, &d), -EPROTO);
	assert_tree_empty(&d);
	/* entries and fragments both */
	struct cfs_tree_entry e = make_entry("x", CFS_FT_FIFO);
	add_entry(&t, e);
	cr_assert_eq(cfs_tree_encode(&t, &a), -EINVAL);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}

Test(tree, fragment_check)
{
	struct cfs_tree idx = CFS_TREE_INIT, f = CFS_TREE_INIT;
	build_index(&idx);
	/* fragment 0: "a", "b", "c" (3 entries, 10 nodes: c is a dir with 7) */
	add_entry(&f, make_entry("a", CFS_FT_FIFO));
	add_entry(&f, make_entry("b", CFS_FT_FIFO));
	struct cfs_tree_entry e = make_entry("c", CFS_FT_DIR);
	e.subtree_nodes = 7;
	add_entry(&f, e);
	cr_assert_eq(cfs_tree_frag_check(&f, &idx.frags[0], &idx.frags[1]), 0);
	/* another first name, count, node count, or a name reaching the next */
	cr_assert_eq(cfs_tree_frag_check(&f, &idx.frags[1], &idx.frags[2]), -EPROTO);
	f.entries[2].subtree_nodes = 6;
	cr_assert_eq(cfs_tree_frag_check(&f, &idx.frags[0], &idx.frags[1]), -EPROTO);
	f.entries[2].subtree_nodes = 7;
	set_name(&f.entries[2], "m", 1);
	cr_assert_eq(cfs_tree_frag_check(&f, &idx.frags[0], &idx.frags[1]), -EPROTO);
	cr_assert_eq(cfs_tree_frag_check(&f, &idx.frags[0], NULL), 0, "the last fragment has no upper bound");
	/* an index is never a fragment */
	cr_assert_eq(cfs_tree_frag_check(&idx, &idx.frags[0], NULL), -EPROTO);
	cfs_tree_release(&idx);
	cfs_tree_release(&f);
}

Test(tree, cut_rule)
{
	struct cfs_tree_entry e = make_entry("x", CFS_FT_FIFO);
	char name[32];
	unsigned cuts = 0, n = 200000;
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file-%07u", i);
		set_name(&e, name, strlen(name));
		bool c = cfs_tree_cut_after(&e, CFS_TREE_FRAG_MIN, 0);
		cr_assert_eq(c, cfs_tree_cut_after(&e, CFS_TREE_FRAG_MIN + 5, 100), "a function of the name alone");
		cr_assert(!cfs_tree_cut_after(&e, CFS_TREE_FRAG_MIN - 1, 0), "never below the minimum");
		cr_assert(cfs_tree_cut_after(&e, CFS_TREE_FRAG_MAX, 0), "always at the maximum");
		cr_assert(cfs_tree_cut_after(&e, 1, CFS_TREE_FRAG_BYTES), "always at the byte limit");
		cuts += c;
	}
	/* about one name in CFS_TREE_FRAG_AVG (24 expected) */
	cr_assert(cuts >= 8 && cuts <= 60, "%u cuts in %u names", cuts, n);
	cfs_tree_entry_release(&e);
}

/* ---- allocation failure ------------------------------------------------ */

#ifdef CFS_ALLOC_FAILURE
#include "chronofs/fault.h"

/* Every allocation of a decode, an encode and a copy fails in turn (the
 * countdown of fault.h): each such call returns -ENOMEM with its output
 * empty, and leaks nothing (LeakSanitizer in the SANITIZE=1 build); the
 * first call no failure reaches succeeds. */
Test(tree, every_allocation_failure)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_buf a = CFS_BUF_INIT;
	unsigned long n, failed[3] = {0};

	build_rich(&t);
	cr_assert_eq(cfs_tree_sort(&t), 0);
	cr_assert_eq(cfs_tree_encode(&t, &a), 0);
	int rich = cfs_tree_find(&t, "file.txt", 8); /* a name, xattrs, extents */
	cr_assert_geq(rich, 0);
	for (int op = 0; op < 3; op++) {
		for (n = 1;; n++) {
			struct cfs_tree d = CFS_TREE_INIT;
			struct cfs_buf b = CFS_BUF_INIT;
			struct cfs_tree_entry e = {0};
			int r;
			cfs_alloc_fail_arm(n, false);
			if (op == 0)
				r = cfs_tree_decode(a.data, a.len, &d);
			else if (op == 1)
				r = cfs_tree_encode(&t, &b);
			else
				r = cfs_tree_entry_copy(&t.entries[rich], &e);
			unsigned long injected = cfs_alloc_fail_injected();
			cfs_alloc_fail_arm(0, false);
			if (!injected) {
				cr_assert_eq(r, 0, "op %d: %d", op, r);
				cfs_tree_release(&d);
				cfs_buf_release(&b);
				cfs_tree_entry_release(&e);
				break;
			}
			cr_assert_eq(r, -ENOMEM, "op %d, allocation %lu: %d", op, n, r);
			assert_tree_empty(&d);
			cfs_buf_release(&b);
			failed[op]++;
		}
	}
	cr_assert(failed[0] >= 10 && failed[1] >= 1 && failed[2] >= 2, "%lu %lu %lu", failed[0], failed[1], failed[2]);
	cfs_tree_release(&t);
	cfs_buf_release(&a);
}
#endif
