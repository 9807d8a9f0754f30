/* SPDX-License-Identifier: MIT */
/*
 * Snapshot manifests: deterministic encoder, strict decoder. The byte layout
 * is documented (and frozen) in include/chronofs/snapshot.h.
 */
#include <string.h>

#include "chronofs/snapshot.h"

#define SNAP_MAGIC "CFSSNAP\x01"
#define SNAP_MAGIC_SIZE 8
#define SNAP_VERSION 1
#define SNAP_STR_MAX UINT16_MAX
/* A string is at least its u16 length; bounds claimed string counts. */
#define SNAP_STR_MIN_SIZE 2

static const struct cfs_id zero_id;

/* Extension record tags (snapshot.h). */
enum { EXT_BYTES_TOTAL = 1, EXT_JOB = 2, EXT_ORIGIN = 3 };

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void cfs_snapshot_release(struct cfs_snapshot *s)
{
	if (!s)
		return;
	free(s->host);
	free(s->tier);
	free(s->job);
	strv_free(s->paths, s->n_paths);
	strv_free(s->tags, s->n_tags);
	*s = (struct cfs_snapshot){0};
}

static void snapshot_releasep(struct cfs_snapshot *s) { cfs_snapshot_release(s); }

const char *cfs_snapshot_type_name(uint8_t type)
{
	switch (type) {
	case CFS_SNAP_FULL:
		return "full";
	case CFS_SNAP_INCREMENTAL:
		return "incremental";
	case CFS_SNAP_DIFFERENTIAL:
		return "differential";
	default:
		return "unknown";
	}
}

static bool type_valid(uint8_t type)
{
	return type <= CFS_SNAP_DIFFERENTIAL;
}

/* Copy of a string vector; NULL elements are refused (-EINVAL). */
static int strv_copy(char *const *v, size_t n, char ***ret)
{
	char **c = NULL;

	*ret = NULL;
	if (n == 0)
		return 0;
	if (!v)
		return -EINVAL;
	c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!v[i]) {
			strv_free(c, n);
			return -EINVAL;
		}
		c[i] = strdup(v[i]);
		if (!c[i]) {
			strv_free(c, n);
			return -ENOMEM;
		}
	}
	*ret = c;
	return 0;
}

int cfs_snapshot_copy(const struct cfs_snapshot *s, struct cfs_snapshot *ret)
{
	_cleanup_(snapshot_releasep) struct cfs_snapshot c = {0};
	int r;

	/* Scalars and fixed arrays first, then replace every owned pointer. */
	c = *s;
	c.host = c.tier = c.job = NULL;
	c.paths = c.tags = NULL;
	c.n_paths = c.n_tags = 0;

	c.host = strdup(s->host ? s->host : "");
	c.tier = strdup(s->tier ? s->tier : "");
	c.job = strdup(s->job ? s->job : "");
	if (!c.host || !c.tier || !c.job)
		return -ENOMEM;
	r = strv_copy(s->paths, s->n_paths, &c.paths);
	if (r < 0)
		return r;
	c.n_paths = s->n_paths;
	r = strv_copy(s->tags, s->n_tags, &c.tags);
	if (r < 0)
		return r;
	c.n_tags = s->n_tags;

	*ret = c;
	c = (struct cfs_snapshot){0};
	return 0;
}

/* Append a u16-length string; -EINVAL if it does not fit. NULL means "". */
static int put_str(struct cfs_buf *out, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int r;

	if (n > SNAP_STR_MAX)
		return -EINVAL;
	r = cfs_buf_append_le16(out, (uint16_t)n);
	if (r >= 0)
		r = cfs_buf_append(out, s, n);
	return r;
}

static int put_strv(struct cfs_buf *out, char *const *v, size_t n)
{
	int r;

	if (n > UINT32_MAX || (n && !v))
		return -EINVAL;
	r = cfs_buf_append_le32(out, (uint32_t)n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = v[i] ? put_str(out, v[i]) : -EINVAL;
	return r;
}

static int encode(const struct cfs_snapshot *s, struct cfs_buf *out)
{
	const struct cfs_snapshot_stats *st = &s->stats;
	size_t name_len = strnlen(s->name, sizeof(s->name));
	int r;

	if (name_len < 1 || name_len > CFS_SNAPSHOT_NAME_MAX || !type_valid(s->type))
		return -EINVAL;
	size_t job_len = s->job ? strlen(s->job) : 0;
	if (job_len > CFS_SNAPSHOT_JOB_MAX)
		return -EINVAL;

	r = cfs_buf_append(out, SNAP_MAGIC, SNAP_MAGIC_SIZE);
	if (r >= 0)
		r = cfs_buf_append_le32(out, SNAP_VERSION);
	if (r >= 0)
		r = cfs_buf_append_le64(out, (uint64_t)s->time_ns);
	if (r >= 0)
		r = put_str(out, s->name);
	if (r >= 0)
		r = cfs_buf_append_u8(out, s->type);
	if (r >= 0)
		r = cfs_buf_append_u8(out, s->has_parent ? 1 : 0);
	/* "zeros if none": a stale parent id in the struct is not written */
	if (r >= 0)
		r = cfs_buf_append(out, (s->has_parent ? &s->parent : &zero_id)->b, CFS_ID_SIZE);
	if (r >= 0)
		r = put_str(out, s->host);
	if (r >= 0)
		r = put_str(out, s->tier);
	if (r >= 0)
		r = put_strv(out, s->paths, s->n_paths);
	if (r >= 0)
		r = put_strv(out, s->tags, s->n_tags);
	if (r >= 0)
		r = cfs_buf_append(out, s->root.b, CFS_ID_SIZE);
	if (r >= 0)
		r = cfs_buf_append_le64(out, s->root_nodes);
	const uint64_t stats[] = {
		st->files_new, st->files_changed, st->files_unchanged, st->files_skipped,
		st->dirs, st->bytes_read, st->bytes_added, st->blobs_added, st->duration_ns,
	};
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(stats); i++)
		r = cfs_buf_append_le64(out, stats[i]);
	/* The extension's records (snapshot.h); none: empty, as before. Its
	 * length is patched in once the records are written. */
	size_t ext_at = out->len;
	if (r >= 0)
		r = cfs_buf_append_le32(out, 0);
	if (r >= 0 && st->has_bytes_total) {
		r = cfs_buf_append_le16(out, EXT_BYTES_TOTAL);
		if (r >= 0)
			r = cfs_buf_append_le16(out, 8);
		if (r >= 0)
			r = cfs_buf_append_le64(out, st->bytes_total);
	}
	if (r >= 0 && job_len > 0) {
		r = cfs_buf_append_le16(out, EXT_JOB);
		if (r >= 0)
			r = cfs_buf_append_le16(out, (uint16_t)job_len);
		if (r >= 0)
			r = cfs_buf_append(out, s->job, job_len);
	}
	if (r >= 0 && s->has_origin) {
		r = cfs_buf_append_le16(out, EXT_ORIGIN);
		if (r >= 0)
			r = cfs_buf_append_le16(out, 2 * CFS_ID_SIZE);
		if (r >= 0)
			r = cfs_buf_append(out, s->origin.repo.b, CFS_ID_SIZE);
		if (r >= 0)
			r = cfs_buf_append(out, s->origin.snapshot.b, CFS_ID_SIZE);
	}
	if (r >= 0)
		cfs_put_le32(out->data + ext_at, (uint32_t)(out->len - ext_at - 4));
	return r;
}

int cfs_snapshot_encode(const struct cfs_snapshot *s, struct cfs_buf *out)
{
	cfs_buf_reset(out);
	int r = encode(s, out);
	if (r < 0)
		cfs_buf_reset(out);
	return r;
}

/* Read a u16-length string as an owned NUL-terminated copy. Embedded NULs
 * are malformed: they would silently truncate the C string. */
static int get_str(struct cfs_rd *rd, char **ret)
{
	const uint8_t *p;
	uint16_t n;

	if (cfs_rd_le16(rd, &n) < 0 || cfs_rd_ptr(rd, n, &p) < 0)
		return -EPROTO;
	if (memchr(p, 0, n))
		return -EPROTO;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, p, n);
	s[n] = 0;
	*ret = s;
	return 0;
}

static int get_strv(struct cfs_rd *rd, char ***ret_v, size_t *ret_n)
{
	uint32_t n;
	int r;

	if (cfs_rd_le32(rd, &n) < 0)
		return -EPROTO;
	if (n == 0)
		return 0;
	if (n > cfs_rd_left(rd) / SNAP_STR_MIN_SIZE)
		return -EPROTO;
	*ret_v = calloc(n, sizeof(char *));
	if (!*ret_v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		/* count only filled slots so the caller's release frees exactly those */
		r = get_str(rd, &(*ret_v)[i]);
		if (r < 0)
			return r;
		*ret_n = i + 1;
	}
	return 0;
}

/* The extension's records (snapshot.h): -EPROTO if one runs past the end
 * or a known one has the wrong length. */
static int decode_extension(const uint8_t *p, size_t n, struct cfs_snapshot *s)
{
	struct cfs_snapshot_stats *st = &s->stats;
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	while (cfs_rd_left(&rd)) {
		uint16_t tag, len;
		const uint8_t *v;
		if (cfs_rd_le16(&rd, &tag) < 0 || cfs_rd_le16(&rd, &len) < 0 || cfs_rd_ptr(&rd, len, &v) < 0)
			return -EPROTO;
		switch (tag) {
		case EXT_BYTES_TOTAL:
			if (len != 8 || st->has_bytes_total)
				return -EPROTO;
			st->bytes_total = cfs_get_le64(v);
			st->has_bytes_total = true;
			break;
		case EXT_JOB:
			/* The encoder writes no empty record; a second one, a NUL
			 * or an overlong name is not its output. */
			if (len == 0 || len > CFS_SNAPSHOT_JOB_MAX || s->job[0] || memchr(v, 0, len))
				return -EPROTO;
			free(s->job);
			s->job = strndup((const char *)v, len);
			if (!s->job)
				return -ENOMEM;
			break;
		case EXT_ORIGIN:
			if (len != 2 * CFS_ID_SIZE || s->has_origin)
				return -EPROTO;
			memcpy(s->origin.repo.b, v, CFS_ID_SIZE);
			memcpy(s->origin.snapshot.b, v + CFS_ID_SIZE, CFS_ID_SIZE);
			s->has_origin = true;
			break;
		default:
			break;
		}
	}
	return 0;
}

int cfs_snapshot_decode(const void *p, size_t n, struct cfs_snapshot *ret)
{
	_cleanup_(snapshot_releasep) struct cfs_snapshot s = {0};
	struct cfs_rd rd = CFS_RD_INIT(p, n);
	struct cfs_snapshot_stats *st = &s.stats;
	const uint8_t *b;
	uint32_t version, ext_len;
	uint64_t v;
	uint8_t has_parent;
	uint16_t name_len;
	int r;

	*ret = (struct cfs_snapshot){0};

	if (cfs_rd_ptr(&rd, SNAP_MAGIC_SIZE, &b) < 0 || memcmp(b, SNAP_MAGIC, SNAP_MAGIC_SIZE) != 0)
		return -EPROTO;
	if (cfs_rd_le32(&rd, &version) < 0 || version == 0)
		return -EPROTO;
	if (version > SNAP_VERSION)
		return -EPROTONOSUPPORT;
	if (cfs_rd_le64(&rd, &v) < 0)
		return -EPROTO;
	s.time_ns = (int64_t)v;

	if (cfs_rd_le16(&rd, &name_len) < 0 || name_len < 1 || name_len > CFS_SNAPSHOT_NAME_MAX)
		return -EPROTO;
	if (cfs_rd_ptr(&rd, name_len, &b) < 0 || memchr(b, 0, name_len))
		return -EPROTO;
	memcpy(s.name, b, name_len);
	s.name[name_len] = 0;

	if (cfs_rd_u8(&rd, &s.type) < 0 || !type_valid(s.type))
		return -EPROTO;
	if (cfs_rd_u8(&rd, &has_parent) < 0 || has_parent > 1)
		return -EPROTO;
	s.has_parent = has_parent;
	if (cfs_rd_bytes(&rd, s.parent.b, CFS_ID_SIZE) < 0)
		return -EPROTO;
	/* the encoder writes zeros without a parent; anything else is not its output */
	if (!s.has_parent && memcmp(&s.parent, &zero_id, sizeof(zero_id)) != 0)
		return -EPROTO;

	r = get_str(&rd, &s.host);
	if (r < 0)
		return r;
	r = get_str(&rd, &s.tier);
	if (r < 0)
		return r;
	r = get_strv(&rd, &s.paths, &s.n_paths);
	if (r < 0)
		return r;
	r = get_strv(&rd, &s.tags, &s.n_tags);
	if (r < 0)
		return r;

	cfs_rd_bytes(&rd, s.root.b, CFS_ID_SIZE);
	cfs_rd_le64(&rd, &s.root_nodes);
	uint64_t *stats[] = {
		&st->files_new, &st->files_changed, &st->files_unchanged, &st->files_skipped,
		&st->dirs, &st->bytes_read, &st->bytes_added, &st->blobs_added, &st->duration_ns,
	};
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
		cfs_rd_le64(&rd, stats[i]);

	/* Extension: records of later revisions; unknown tags are skipped. */
	if (cfs_rd_le32(&rd, &ext_len) < 0 || cfs_rd_ptr(&rd, ext_len, &b) < 0)
		return -EPROTO;
	if (cfs_rd_left(&rd) != 0)
		return -EPROTO;
	s.job = strdup("");
	if (!s.job)
		return -ENOMEM;
	r = decode_extension(b, ext_len, &s);
	if (r < 0)
		return r;

	*ret = s;
	s = (struct cfs_snapshot){0};
	return 0;
}
