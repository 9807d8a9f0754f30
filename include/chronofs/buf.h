/* SPDX-License-Identifier: MIT */
/*
 * buf.h — a growable byte buffer (writer side) and a bounds-checked reader
 * over untrusted bytes (parser side).
 *
 * Ownership: a struct cfs_buf owns `data`; cfs_buf_release() frees it and
 * re-initialises, cfs_buf_detach() hands it to the caller.
 * Every append returns 0 or -ENOMEM; on -ENOMEM the buffer is unchanged.
 */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "chronofs/base.h"

struct cfs_buf {
	uint8_t *data; /* owned */
	size_t len;
	size_t cap;
};
#define CFS_BUF_INIT {NULL, 0, 0}

int cfs_buf_reserve(struct cfs_buf *b, size_t extra);
int cfs_buf_append(struct cfs_buf *b, const void *p, size_t n);
int cfs_buf_append_u8(struct cfs_buf *b, uint8_t v);
int cfs_buf_append_le16(struct cfs_buf *b, uint16_t v);
int cfs_buf_append_le32(struct cfs_buf *b, uint32_t v);
int cfs_buf_append_le64(struct cfs_buf *b, uint64_t v);
/* Set len to 0, keep the allocation. */
static inline void cfs_buf_reset(struct cfs_buf *b) { b->len = 0; }
void cfs_buf_release(struct cfs_buf *b);
/* Returns the data (caller frees) and re-initialises the buffer. */
uint8_t *cfs_buf_detach(struct cfs_buf *b);
/* Resize to exactly n bytes of content (growing leaves new bytes undefined). */
int cfs_buf_resize(struct cfs_buf *b, size_t n);

static inline void cfs_buf_releasep(struct cfs_buf *b) { cfs_buf_release(b); }
#define _cleanup_buf_ _cleanup_(cfs_buf_releasep)

/*
 * Reader over untrusted bytes. Every getter checks the remaining length and
 * returns -EPROTO (and sets the sticky `err`) if the input is short; once
 * failed, all further gets fail, so a parser may check once at the end.
 */
struct cfs_rd {
	const uint8_t *p;
	size_t n;
	size_t off;
	int err;
};
#define CFS_RD_INIT(ptr, len) {(const uint8_t *)(ptr), (len), 0, 0}

int cfs_rd_u8(struct cfs_rd *r, uint8_t *ret);
int cfs_rd_le16(struct cfs_rd *r, uint16_t *ret);
int cfs_rd_le32(struct cfs_rd *r, uint32_t *ret);
int cfs_rd_le64(struct cfs_rd *r, uint64_t *ret);
/* Copy n bytes out. */
int cfs_rd_bytes(struct cfs_rd *r, void *out, size_t n);
/* Borrow n bytes in place (valid while the input is). */
int cfs_rd_ptr(struct cfs_rd *r, size_t n, const uint8_t **ret);
static inline size_t cfs_rd_left(const struct cfs_rd *r) { return r->n - r->off; }
