/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for snapshot manifests (include/chronofs/snapshot.h).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/snapshot.h"

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	cr_assert_not_null(d);
	return d;
}

static char **strv(size_t n, const char *const *v)
{
	char **r = calloc(n, sizeof(*r));
	cr_assert_not_null(r);
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

static void fill_id(struct cfs_id *id, uint8_t seed)
{
	for (size_t i = 0; i < CFS_ID_SIZE; i++)
		id->b[i] = (uint8_t)(seed + 7 * i);
}

/* Every field set to a distinct, non-trivial value. */
static void make_full(struct cfs_snapshot *s)
{
	static const char *const paths[] = {"/home", "/etc", "/srv/with space", "/odd\n\xff"};
	static const char *const tags[] = {"daily", "pre-upgrade", ""};

	*s = (struct cfs_snapshot){0};
	s->time_ns = 1795464000123456789;
	snprintf(s->name, sizeof(s->name), "2026-11-23T20:00:00Z");
	s->type = CFS_SNAP_INCREMENTAL;
	s->has_parent = true;
	fill_id(&s->parent, 3);
	s->host = xstrdup("backup-host.example.org");
	s->tier = xstrdup("hourly");
	s->paths = strv(ARRAY_SIZE(paths), paths);
	s->n_paths = ARRAY_SIZE(paths);
	s->tags = strv(ARRAY_SIZE(tags), tags);
	s->n_tags = ARRAY_SIZE(tags);
	fill_id(&s->root, 42);
	s->root_nodes = 123456789;
	s->stats = (struct cfs_snapshot_stats){
		.files_new = 1,
		.files_changed = 2,
		.files_unchanged = 3,
		.files_skipped = 4,
		.dirs = 5,
		.bytes_read = 6000000000,
		.bytes_added = 7000000,
		.blobs_added = 8,
		.duration_ns = UINT64_MAX,
	};
}

static void assert_snapshot_eq(const struct cfs_snapshot *a, const struct cfs_snapshot *b)
{
	cr_assert_eq(a->time_ns, b->time_ns);
	cr_assert_str_eq(a->name, b->name);
	cr_assert_eq(a->type, b->type);
	cr_assert_eq(a->has_parent, b->has_parent);
	cr_assert_eq(memcmp(&a->parent, &b->parent, sizeof(a->parent)), 0);
	cr_assert_str_eq(a->host, b->host);
	cr_assert_str_eq(a->tier, b->tier);
	cr_assert_str_eq(a->job ? a->job : "", b->job ? b->job : "");
	cr_assert_eq(a->has_origin, b->has_origin);
	cr_assert_eq(memcmp(&a->origin, &b->origin, sizeof(a->origin)), 0);
	cr_assert_eq(a->n_paths, b->n_paths);
	for (size_t i = 0; i < a->n_paths; i++)
		cr_assert_str_eq(a->paths[i], b->paths[i]);
	cr_assert_eq(a->n_tags, b->n_tags);
	for (size_t i = 0; i < a->n_tags; i++)
		cr_assert_str_eq(a->tags[i], b->tags[i]);
	cr_assert_eq(memcmp(&a->root, &b->root, sizeof(a->root)), 0);
	cr_assert_eq(a->root_nodes, b->root_nodes);
	cr_assert_eq(memcmp(&a->stats, &b->stats, sizeof(a->stats)), 0);
}

static void assert_zeroed(const struct cfs_snapshot *s)
{
	static const struct cfs_snapshot zero;
	cr_assert_eq(memcmp(s, &zero, sizeof(*s)), 0, "output must be zeroed on failure");
}

static void encode_full(struct cfs_buf *out)
{
	struct cfs_snapshot s;
	make_full(&s);
	cr_assert_eq(cfs_snapshot_encode(&s, out), 0);
	cfs_snapshot_release(&s);
}

/* Offset of the u32 extension length: the last field before the extension. */
static size_t ext_len_offset(const struct cfs_buf *b)
{
	return b->len - 4;
}

Test(snapshot, roundtrip_all_fields)
{
	struct cfs_snapshot s, d;
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;

	make_full(&s);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(memcmp(a.data, "CFSSNAP\x01", 8), 0);
	cr_assert_eq(cfs_get_le32(a.data + 8), 1);
	cr_assert_eq((int64_t)cfs_get_le64(a.data + 12), s.time_ns);
	cr_assert_eq(cfs_get_le16(a.data + 20), strlen(s.name));
	cr_assert_eq(cfs_get_le32(a.data + ext_len_offset(&a)), 0, "version 1 writes no extension");

	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	assert_snapshot_eq(&d, &s);

	/* encode -> decode -> encode is byte-identical; same input, same bytes */
	cr_assert_eq(cfs_snapshot_encode(&d, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
	cr_assert_eq(cfs_snapshot_encode(&s, &b), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

	cfs_snapshot_release(&s);
	cfs_snapshot_release(&d);
	assert_zeroed(&d);
	cfs_snapshot_release(&d); /* idempotent */
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

Test(snapshot, minimal_manifest)
{
	struct cfs_snapshot s = {0}, d;
	struct cfs_buf a = CFS_BUF_INIT;

	/* no parent, empty tier, no paths or tags, NULL host written as "" */
	s.time_ns = -1;
	s.name[0] = 'x';
	s.type = CFS_SNAP_FULL;
	fill_id(&s.parent, 9); /* stale parent id: must not be written */
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.time_ns, -1);
	cr_assert_str_eq(d.name, "x");
	cr_assert_eq(d.has_parent, false);
	static const struct cfs_id zero;
	cr_assert_eq(memcmp(&d.parent, &zero, sizeof(zero)), 0);
	cr_assert_str_eq(d.host, "");
	cr_assert_str_eq(d.tier, "");
	cr_assert_eq(d.n_paths, 0);
	cr_assert_eq(d.n_tags, 0);
	cfs_snapshot_release(&d);
	cfs_buf_release(&a);
}

Test(snapshot, encode_rejects_invalid)
{
	struct cfs_snapshot s;
	struct cfs_buf a = CFS_BUF_INIT;

	make_full(&s);
	s.name[0] = 0;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	cr_assert_eq(a.len, 0);

	/* name filling the whole array without a terminator */
	memset(s.name, 'n', sizeof(s.name));
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	memset(s.name, 0, sizeof(s.name));
	memset(s.name, 'n', CFS_SNAPSHOT_NAME_MAX);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);

	s.type = 3;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	s.type = CFS_SNAP_DIFFERENTIAL;

	char *long_str = malloc(70000);
	cr_assert_not_null(long_str);
	memset(long_str, 'h', 69999);
	long_str[69999] = 0;
	char *saved = s.host;
	s.host = long_str;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	long_str[UINT16_MAX] = 0; /* exactly the limit */
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	s.host = saved;
	free(long_str);

	char *p0 = s.paths[1];
	s.paths[1] = NULL;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	s.paths[1] = p0;

	cfs_snapshot_release(&s);
	cfs_buf_release(&a);
}

Test(snapshot, every_truncation_fails)
{
	struct cfs_buf a = CFS_BUF_INIT;
	encode_full(&a);
	for (size_t len = 0; len < a.len; len++) {
		struct cfs_snapshot d;
		memset(&d, 0xaa, sizeof(d));
		/* an exact-size copy so ASan sees any read past the end */
		uint8_t *p = malloc(len ? len : 1);
		cr_assert_not_null(p);
		memcpy(p, a.data, len);
		cr_assert_eq(cfs_snapshot_decode(p, len, &d), -EPROTO, "length %zu of %zu", len, a.len);
		assert_zeroed(&d);
		free(p);
	}
	cfs_buf_release(&a);
}

Test(snapshot, extension_skipped_trailing_rejected)
{
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_snapshot d;
	encode_full(&a);
	size_t off = ext_len_offset(&a);

	/* a later revision's record (unknown tag 99, 3 bytes) is skipped */
	cfs_put_le32(a.data + off, 7);
	cr_assert_eq(cfs_buf_append(&a, "\x63\0\3\0\2\3\4", 7), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert_eq(d.stats.duration_ns, UINT64_MAX);
	cr_assert(!d.stats.has_bytes_total);
	cfs_snapshot_release(&d);

	/* a record that runs past the extension */
	a.data[off + 4 + 2] = 4;
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	a.data[off + 4 + 2] = 3;

	/* extension longer than the input */
	cfs_put_le32(a.data + off, 8);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	cfs_put_le32(a.data + off, UINT32_MAX);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);

	/* bytes after the extension */
	cfs_put_le32(a.data + off, 4);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	assert_zeroed(&d);
	cfs_buf_release(&a);
}

/* The logical size (extension tag 1): round trip, and a manifest without
 * it keeps the empty extension of older releases. */
Test(snapshot, bytes_total_extension)
{
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;
	struct cfs_snapshot s, d;

	make_full(&s);
	cr_assert_eq(cfs_snapshot_encode(&s, &b), 0);
	s.stats.bytes_total = 0x0102030405060708ull;
	s.stats.has_bytes_total = true;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(a.len, b.len + 12);
	cr_assert_eq(memcmp(a.data, b.data, b.len - 4), 0, "the fields before the extension are unchanged");
	cr_assert_eq(cfs_get_le32(a.data + b.len - 4), 12);
	cr_assert_eq(cfs_get_le16(a.data + b.len), 1);
	cr_assert_eq(cfs_get_le16(a.data + b.len + 2), 8);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert(d.stats.has_bytes_total);
	cr_assert_eq(d.stats.bytes_total, 0x0102030405060708ull);
	assert_snapshot_eq(&d, &s);
	cfs_snapshot_release(&d);

	/* zero is a known total, not an unknown one */
	s.stats.bytes_total = 0;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert(d.stats.has_bytes_total);
	cfs_snapshot_release(&d);

	/* the record twice, or with another length, is malformed */
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cfs_put_le32(a.data + a.len - 16, 24);
	cr_assert_eq(cfs_buf_append(&a, a.data + a.len - 12, 12), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	assert_zeroed(&d);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cfs_put_le16(a.data + a.len - 10, 4);
	cfs_put_le32(a.data + a.len - 16, 8);
	a.len -= 4;
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);

	cfs_snapshot_release(&s);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

/* Extension tags 2 (job) and 3 (origin): written only when set, so that a
 * manifest without them keeps its bytes and id; each at most once, with
 * its exact length; a job name with a NUL or beyond the limit is refused. */
Test(snapshot, job_and_origin_extension)
{
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;
	struct cfs_snapshot s, d;

	make_full(&s);
	cr_assert_eq(cfs_snapshot_encode(&s, &b), 0);
	s.job = strdup("db");
	cr_assert_not_null(s.job);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(a.len, b.len + 6);
	cr_assert_eq(cfs_get_le16(a.data + b.len), 2);
	cr_assert_eq(cfs_get_le16(a.data + b.len + 2), 2);
	cr_assert_eq(memcmp(a.data + b.len + 4, "db", 2), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	assert_snapshot_eq(&d, &s);
	cfs_snapshot_release(&d);

	s.has_origin = true;
	fill_id(&s.origin.repo, 3);
	fill_id(&s.origin.snapshot, 4);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(a.len, b.len + 6 + 68);
	cr_assert_eq(cfs_get_le32(a.data + b.len - 4), 6 + 68);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	assert_snapshot_eq(&d, &s);
	cfs_snapshot_release(&d);

	/* a copy keeps both */
	cr_assert_eq(cfs_snapshot_copy(&s, &d), 0);
	assert_snapshot_eq(&d, &s);
	cfs_snapshot_release(&d);

	/* the origin record twice, or short, is malformed */
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cfs_put_le32(a.data + b.len - 4, 6 + 68 + 68);
	cr_assert_eq(cfs_buf_append(&a, a.data + a.len - 68, 68), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	assert_zeroed(&d);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cfs_put_le16(a.data + a.len - 66, 63);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);

	/* an empty or NUL-carrying job record is not the encoder's output */
	s.has_origin = false;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	a.data[a.len - 1] = 0;
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cfs_put_le16(a.data + a.len - 4, 0);
	cfs_put_le32(a.data + b.len - 4, 4);
	a.len -= 2;
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);

	/* a job name longer than the limit is refused at encoding */
	free(s.job);
	s.job = malloc(CFS_SNAPSHOT_JOB_MAX + 2);
	cr_assert_not_null(s.job);
	memset(s.job, 'j', CFS_SNAPSHOT_JOB_MAX + 1);
	s.job[CFS_SNAPSHOT_JOB_MAX + 1] = 0;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), -EINVAL);
	s.job[CFS_SNAPSHOT_JOB_MAX] = 0;
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert_eq(strlen(d.job), CFS_SNAPSHOT_JOB_MAX);
	cfs_snapshot_release(&d);

	cfs_snapshot_release(&s);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

Test(snapshot, version_and_magic)
{
	struct cfs_buf a = CFS_BUF_INIT;
	struct cfs_snapshot d;
	encode_full(&a);

	cfs_put_le32(a.data + 8, 2);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTONOSUPPORT);
	assert_zeroed(&d);
	cfs_put_le32(a.data + 8, UINT32_MAX);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTONOSUPPORT);
	cfs_put_le32(a.data + 8, 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	cfs_put_le32(a.data + 8, 1);

	a.data[0] = 'X';
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	a.data[0] = 'C';
	a.data[7] = 2;
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	a.data[7] = 1;

	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cfs_snapshot_release(&d);
	cfs_buf_release(&a);
}

/* Field damage at known offsets of a manifest with a 1-byte name. */
Test(snapshot, field_damage)
{
	struct cfs_snapshot s = {0}, d;
	struct cfs_buf a = CFS_BUF_INIT;
	const size_t name_len_off = 20, name_off = 22, type_off = 23, has_parent_off = 24, parent_off = 25;
	const size_t host_off = parent_off + CFS_ID_SIZE;

	s.name[0] = 'n';
	s.host = xstrdup("h");
	s.tier = xstrdup("");
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(cfs_get_le16(a.data + host_off), 1);
	cr_assert_eq(a.data[host_off + 2], 'h');

#define EXPECT(rc)                                                                 \
	do {                                                                       \
		cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), (rc));        \
		if ((rc) == 0)                                                     \
			cfs_snapshot_release(&d);                                  \
		else                                                               \
			assert_zeroed(&d);                                         \
	} while (0)

	EXPECT(0);
	cfs_put_le16(a.data + name_len_off, 0); /* empty name */
	EXPECT(-EPROTO);
	cfs_put_le16(a.data + name_len_off, 1);
	a.data[name_off] = 0; /* NUL in the name */
	EXPECT(-EPROTO);
	a.data[name_off] = 'n';
	a.data[type_off] = 3; /* unknown type */
	EXPECT(-EPROTO);
	a.data[type_off] = CFS_SNAP_DIFFERENTIAL;
	EXPECT(0);
	a.data[has_parent_off] = 2; /* not a boolean */
	EXPECT(-EPROTO);
	a.data[has_parent_off] = 0;
	a.data[parent_off + 5] = 1; /* parent id without a parent */
	EXPECT(-EPROTO);
	a.data[has_parent_off] = 1;
	EXPECT(0);
	a.data[has_parent_off] = 0;
	a.data[parent_off + 5] = 0;
	a.data[host_off + 2] = 0; /* NUL in a string */
	EXPECT(-EPROTO);
	a.data[host_off + 2] = 'h';
	EXPECT(0);
#undef EXPECT

	cfs_snapshot_release(&s);
	cfs_buf_release(&a);
}

Test(snapshot, name_limit)
{
	struct cfs_snapshot s = {0}, d;
	struct cfs_buf a = CFS_BUF_INIT, big = CFS_BUF_INIT;

	memset(s.name, 'n', CFS_SNAPSHOT_NAME_MAX);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), 0);
	cr_assert_eq(strlen(d.name), CFS_SNAPSHOT_NAME_MAX);
	cfs_snapshot_release(&d);

	/* the same manifest with a 65-byte name spliced in */
	cr_assert_eq(cfs_buf_append(&big, a.data, 20), 0);
	cr_assert_eq(cfs_buf_append_le16(&big, CFS_SNAPSHOT_NAME_MAX + 1), 0);
	cr_assert_eq(cfs_buf_append(&big, a.data + 22, CFS_SNAPSHOT_NAME_MAX), 0);
	cr_assert_eq(cfs_buf_append_u8(&big, 'n'), 0);
	cr_assert_eq(cfs_buf_append(&big, a.data + 22 + CFS_SNAPSHOT_NAME_MAX, a.len - 22 - CFS_SNAPSHOT_NAME_MAX), 0);
	cr_assert_eq(cfs_snapshot_decode(big.data, big.len, &d), -EPROTO);
	assert_zeroed(&d);
	cfs_buf_release(&a);
	cfs_buf_release(&big);
}

Test(snapshot, huge_claimed_counts_fail_fast)
{
	struct cfs_snapshot s = {0}, d;
	struct cfs_buf a = CFS_BUF_INIT;

	s.name[0] = 'n';
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	/* host "" and tier "" follow the parent id; then the path count */
	size_t paths_off = 25 + CFS_ID_SIZE + 2 + 2;
	cr_assert_eq(cfs_get_le32(a.data + paths_off), 0);
	cfs_put_le32(a.data + paths_off, UINT32_MAX);
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	assert_zeroed(&d);
	cfs_put_le32(a.data + paths_off, 0);
	cfs_put_le32(a.data + paths_off + 4, UINT32_MAX); /* tag count */
	cr_assert_eq(cfs_snapshot_decode(a.data, a.len, &d), -EPROTO);
	assert_zeroed(&d);
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

/* Random damage never crashes; what is accepted re-encodes to the same
 * bytes unless the damage landed in skipped extension bytes (none here). */
Test(snapshot, random_flips_never_crash)
{
	struct cfs_buf a = CFS_BUF_INIT, b = CFS_BUF_INIT;
	uint64_t seed = 12345;
	unsigned accepted = 0, rejected = 0;

	encode_full(&a);
	uint8_t *p = malloc(a.len);
	cr_assert_not_null(p);
	for (int iter = 0; iter < 5000; iter++) {
		struct cfs_snapshot d;
		memcpy(p, a.data, a.len);
		int flips = 1 + (int)(xorshift(&seed) % 3);
		for (int f = 0; f < flips; f++)
			p[xorshift(&seed) % a.len] ^= (uint8_t)(1u << (xorshift(&seed) % 8));
		int r = cfs_snapshot_decode(p, a.len, &d);
		if (r == 0) {
			accepted++;
			cr_assert_eq(cfs_snapshot_encode(&d, &b), 0);
			cr_assert_eq(b.len, a.len);
			cr_assert_eq(memcmp(b.data, p, a.len), 0, "iteration %d", iter);
			cfs_snapshot_release(&d);
		} else {
			rejected++;
			cr_assert(r == -EPROTO || r == -EPROTONOSUPPORT, "iteration %d: %d", iter, r);
			assert_zeroed(&d);
		}
	}
	cr_assert_gt(accepted, 0);
	cr_assert_gt(rejected, 0);
	free(p);
	cfs_buf_release(&a);
	cfs_buf_release(&b);
}

Test(snapshot, copy_is_deep)
{
	struct cfs_snapshot s, c;
	make_full(&s);
	cr_assert_eq(cfs_snapshot_copy(&s, &c), 0);
	assert_snapshot_eq(&c, &s);

	cr_assert_neq(c.host, s.host);
	cr_assert_neq(c.tier, s.tier);
	cr_assert_neq(c.paths, s.paths);
	cr_assert_neq(c.tags, s.tags);
	for (size_t i = 0; i < s.n_paths; i++)
		cr_assert_neq(c.paths[i], s.paths[i]);
	for (size_t i = 0; i < s.n_tags; i++)
		cr_assert_neq(c.tags[i], s.tags[i]);

	/* changing or freeing the original leaves the copy intact */
	s.host[0] = 'X';
	s.paths[0][1] = 'X';
	s.name[0] = 'X';
	cr_assert_str_eq(c.host, "backup-host.example.org");
	cr_assert_str_eq(c.paths[0], "/home");
	cr_assert_str_eq(c.name, "2026-11-23T20:00:00Z");
	cfs_snapshot_release(&s);
	cr_assert_str_eq(c.tags[1], "pre-upgrade");

	struct cfs_snapshot e = {0}, ce;
	cr_assert_eq(cfs_snapshot_copy(&e, &ce), 0);
	cr_assert_eq(ce.n_paths, 0);
	cr_assert_null(ce.paths);
	cfs_snapshot_release(&ce);
	cfs_snapshot_release(&c);
}

Test(snapshot, type_names)
{
	cr_assert_str_eq(cfs_snapshot_type_name(CFS_SNAP_FULL), "full");
	cr_assert_str_eq(cfs_snapshot_type_name(CFS_SNAP_INCREMENTAL), "incremental");
	cr_assert_str_eq(cfs_snapshot_type_name(CFS_SNAP_DIFFERENTIAL), "differential");
	cr_assert_str_eq(cfs_snapshot_type_name(3), "unknown");
	cr_assert_str_eq(cfs_snapshot_type_name(255), "unknown");
}

#ifdef CFS_ALLOC_FAILURE
#include "chronofs/fault.h"

/* Every allocation of a decode and a copy fails in turn (fault.h's
 * countdown): -ENOMEM with the output zeroed, nothing leaked (ASan build);
 * the first call no failure reaches succeeds. */
Test(snapshot, every_allocation_failure)
{
	struct cfs_snapshot s;
	struct cfs_buf a = CFS_BUF_INIT;
	unsigned long n, failed[2] = {0};

	make_full(&s);
	cr_assert_eq(cfs_snapshot_encode(&s, &a), 0);
	for (int op = 0; op < 2; op++) {
		for (n = 1;; n++) {
			struct cfs_snapshot d = {0};
			cfs_alloc_fail_arm(n, false);
			int r = op == 0 ? cfs_snapshot_decode(a.data, a.len, &d) : cfs_snapshot_copy(&s, &d);
			unsigned long injected = cfs_alloc_fail_injected();
			cfs_alloc_fail_arm(0, false);
			if (!injected) {
				cr_assert_eq(r, 0, "op %d: %d", op, r);
				assert_snapshot_eq(&d, &s);
				cfs_snapshot_release(&d);
				break;
			}
			cr_assert_eq(r, -ENOMEM, "op %d, allocation %lu: %d", op, n, r);
			assert_zeroed(&d);
			failed[op]++;
		}
	}
	cr_assert(failed[0] >= 4 && failed[1] >= 4, "%lu %lu", failed[0], failed[1]);
	cfs_snapshot_release(&s);
	cfs_buf_release(&a);
}
#endif
