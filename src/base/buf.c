/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/buf.h"

int cfs_buf_reserve(struct cfs_buf *b, size_t extra)
{
	/* No object may exceed PTRDIFF_MAX (pointer differences within it would
	 * overflow, and malloc refuses anyway); failing here keeps an absurd size
	 * from a corrupt length field a clean -ENOMEM. */
	if (extra > PTRDIFF_MAX || b->len > (size_t)PTRDIFF_MAX - extra)
		return -ENOMEM;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > PTRDIFF_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cfs_buf_append(struct cfs_buf *b, const void *p, size_t n)
{
	int r = cfs_buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int cfs_buf_append_u8(struct cfs_buf *b, uint8_t v) { return cfs_buf_append(b, &v, 1); }

int cfs_buf_append_le16(struct cfs_buf *b, uint16_t v)
{
	uint8_t t[2];
	cfs_put_le16(t, v);
	return cfs_buf_append(b, t, sizeof(t));
}

int cfs_buf_append_le32(struct cfs_buf *b, uint32_t v)
{
	uint8_t t[4];
	cfs_put_le32(t, v);
	return cfs_buf_append(b, t, sizeof(t));
}

int cfs_buf_append_le64(struct cfs_buf *b, uint64_t v)
{
	uint8_t t[8];
	cfs_put_le64(t, v);
	return cfs_buf_append(b, t, sizeof(t));
}

void cfs_buf_release(struct cfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint8_t *cfs_buf_detach(struct cfs_buf *b)
{
	uint8_t *p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int cfs_buf_resize(struct cfs_buf *b, size_t n)
{
	if (n > b->len) {
		int r = cfs_buf_reserve(b, n - b->len);
		if (r < 0)
			return r;
	}
	b->len = n;
	return 0;
}

static int rd_take(struct cfs_rd *r, size_t n, const uint8_t **ret)
{
	/* A constant (not r->err) so the compiler can see failure is negative
	 * and the getters never read *ret uninitialised (-O2 -Wmaybe-uninitialized). */
	if (r->err)
		return -EPROTO;
	if (n > r->n - r->off) {
		r->err = -EPROTO;
		return -EPROTO;
	}
	*ret = r->p + r->off;
	r->off += n;
	return 0;
}

int cfs_rd_u8(struct cfs_rd *r, uint8_t *ret)
{
	const uint8_t *p = NULL;
	int e = rd_take(r, 1, &p);
	if (e < 0)
		return e;
	*ret = p[0];
	return 0;
}

int cfs_rd_le16(struct cfs_rd *r, uint16_t *ret)
{
	const uint8_t *p = NULL;
	int e = rd_take(r, 2, &p);
	if (e < 0)
		return e;
	*ret = cfs_get_le16(p);
	return 0;
}

int cfs_rd_le32(struct cfs_rd *r, uint32_t *ret)
{
	const uint8_t *p = NULL;
	int e = rd_take(r, 4, &p);
	if (e < 0)
		return e;
	*ret = cfs_get_le32(p);
	return 0;
}

int cfs_rd_le64(struct cfs_rd *r, uint64_t *ret)
{
	const uint8_t *p = NULL;
	int e = rd_take(r, 8, &p);
	if (e < 0)
		return e;
	*ret = cfs_get_le64(p);
	return 0;
}

int cfs_rd_bytes(struct cfs_rd *r, void *out, size_t n)
{
	const uint8_t *p = NULL;
	int e = rd_take(r, n, &p);
	if (e < 0)
		return e;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int cfs_rd_ptr(struct cfs_rd *r, size_t n, const uint8_t **ret)
{
	return rd_take(r, n, ret);
}
