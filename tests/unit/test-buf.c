/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the byte buffer and the bounds-checked reader (buf.h).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "chronofs/buf.h"

Test(buf, append_and_little_endian)
{
	struct cfs_buf b = CFS_BUF_INIT;
	static const uint8_t expect[] = {
		'a', 'b', 'c',
		0x11,
		0x22, 0x11,
		0x44, 0x33, 0x22, 0x11,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	};

	cr_assert_eq(cfs_buf_append(&b, "abc", 3), 0);
	cr_assert_eq(cfs_buf_append_u8(&b, 0x11), 0);
	cr_assert_eq(cfs_buf_append_le16(&b, 0x1122), 0);
	cr_assert_eq(cfs_buf_append_le32(&b, 0x11223344), 0);
	cr_assert_eq(cfs_buf_append_le64(&b, 0x1122334455667788ull), 0);
	cr_assert_eq(b.len, sizeof(expect));
	cr_assert_geq(b.cap, b.len);
	cr_assert_eq(memcmp(b.data, expect, sizeof(expect)), 0);

	/* zero-length append with a NULL source is a no-op */
	cr_assert_eq(cfs_buf_append(&b, NULL, 0), 0);
	cr_assert_eq(b.len, sizeof(expect));

	cfs_buf_release(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	cfs_buf_release(&b); /* idempotent */
}

Test(buf, growth_keeps_content)
{
	struct cfs_buf b = CFS_BUF_INIT;
	for (uint32_t i = 0; i < 100000; i++)
		cr_assert_eq(cfs_buf_append_le32(&b, i), 0);
	cr_assert_eq(b.len, 400000);
	for (uint32_t i = 0; i < 100000; i++)
		cr_assert_eq(cfs_get_le32(b.data + 4 * i), i);
	cfs_buf_release(&b);
}

Test(buf, reserve)
{
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_buf_reserve(&b, 1000), 0);
	cr_assert_geq(b.cap, 1000);
	cr_assert_eq(b.len, 0);
	uint8_t *p = b.data;
	/* appends within the reservation do not move the data */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(cfs_buf_append_u8(&b, (uint8_t)i), 0);
	cr_assert_eq(b.data, p);
	cr_assert_eq(cfs_buf_reserve(&b, 0), 0);

	/* impossible sizes fail without touching the buffer */
	size_t len = b.len, cap = b.cap;
	cr_assert_eq(cfs_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	cr_assert_eq(cfs_buf_reserve(&b, SIZE_MAX - b.len + 1), -ENOMEM);
	cr_assert_eq(cfs_buf_append(&b, "x", SIZE_MAX), -ENOMEM);
	cr_assert_eq(b.len, len);
	cr_assert_eq(b.cap, cap);
	cr_assert_eq(b.data, p);
	cfs_buf_release(&b);
}

Test(buf, reset_detach_resize)
{
	struct cfs_buf b = CFS_BUF_INIT;
	cr_assert_eq(cfs_buf_append(&b, "hello", 5), 0);
	size_t cap = b.cap;
	cfs_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, cap, "reset keeps the allocation");

	cr_assert_eq(cfs_buf_append(&b, "world", 5), 0);
	cr_assert_eq(cfs_buf_resize(&b, 3), 0);
	cr_assert_eq(b.len, 3);
	cr_assert_eq(memcmp(b.data, "wor", 3), 0);
	cr_assert_eq(cfs_buf_resize(&b, 5000), 0);
	cr_assert_eq(b.len, 5000);
	cr_assert_geq(b.cap, 5000);
	cr_assert_eq(memcmp(b.data, "wor", 3), 0, "growing keeps the prefix");
	memset(b.data, 'z', 5000); /* the new bytes are usable */
	cr_assert_eq(cfs_buf_resize(&b, SIZE_MAX), -ENOMEM);
	cr_assert_eq(b.len, 5000);

	uint8_t *p = cfs_buf_detach(&b);
	cr_assert_not_null(p);
	cr_assert_eq(p[4999], 'z');
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	free(p);

	/* the buffer is reusable after detach; detaching an empty one is NULL */
	cr_assert_eq(cfs_buf_append(&b, "x", 1), 0);
	cfs_buf_release(&b);
	cr_assert_null(cfs_buf_detach(&b));
}

Test(buf, cleanup_attribute)
{
	uint8_t *kept;
	{
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		cr_assert_eq(cfs_buf_append(&b, "abc", 3), 0);
		kept = cfs_buf_detach(&b);
	}
	cr_assert_eq(memcmp(kept, "abc", 3), 0);
	free(kept);
	{
		/* released at scope exit; LeakSanitizer checks it */
		_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
		cr_assert_eq(cfs_buf_append(&b, "abc", 3), 0);
	}
}

Test(rd, reads_in_order)
{
	static const uint8_t in[] = {
		0x01,
		0x02, 0x01,
		0x04, 0x03, 0x02, 0x01,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x81,
		'x', 'y', 'z', 'w',
	};
	struct cfs_rd r = CFS_RD_INIT(in, sizeof(in));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	uint8_t out[2];
	const uint8_t *p;

	cr_assert_eq(cfs_rd_left(&r), sizeof(in));
	cr_assert_eq(cfs_rd_u8(&r, &u8), 0);
	cr_assert_eq(u8, 0x01);
	cr_assert_eq(cfs_rd_le16(&r, &u16), 0);
	cr_assert_eq(u16, 0x0102);
	cr_assert_eq(cfs_rd_le32(&r, &u32), 0);
	cr_assert_eq(u32, 0x01020304);
	cr_assert_eq(cfs_rd_le64(&r, &u64), 0);
	cr_assert_eq(u64, 0x8102030405060708ull);
	cr_assert_eq(cfs_rd_bytes(&r, out, 2), 0);
	cr_assert_eq(memcmp(out, "xy", 2), 0);
	cr_assert_eq(cfs_rd_ptr(&r, 2, &p), 0);
	cr_assert_eq(p, in + sizeof(in) - 2, "ptr borrows in place");
	cr_assert_eq(cfs_rd_left(&r), 0);
	cr_assert_eq(cfs_rd_ptr(&r, 0, &p), 0, "zero bytes at the end are fine");
	cr_assert_eq(r.err, 0);
}

Test(rd, short_input_is_sticky)
{
	static const uint8_t in[] = {1, 2, 3};
	struct cfs_rd r = CFS_RD_INIT(in, sizeof(in));
	uint32_t u32 = 0xdeadbeef;
	uint8_t u8 = 0x55;
	uint16_t u16;

	cr_assert_eq(cfs_rd_le32(&r, &u32), -EPROTO);
	cr_assert_eq(u32, 0xdeadbeef, "output untouched on failure");
	cr_assert_eq(r.err, -EPROTO);
	cr_assert_eq(cfs_rd_left(&r), 3, "a failed read consumes nothing");
	/* even reads that would fit fail once the reader has failed */
	cr_assert_eq(cfs_rd_u8(&r, &u8), -EPROTO);
	cr_assert_eq(u8, 0x55);
	cr_assert_eq(cfs_rd_le16(&r, &u16), -EPROTO);
	cr_assert_eq(r.err, -EPROTO);
}

Test(rd, every_getter_checks_length)
{
	static const uint8_t in[8] = {0};
	uint64_t u64;
	uint32_t u32;
	uint16_t u16;
	uint8_t u8, out[9];
	const uint8_t *p;

	for (size_t n = 0; n <= 8; n++) {
		struct cfs_rd r = CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_le64(&r, &u64), n >= 8 ? 0 : -EPROTO);
		r = (struct cfs_rd)CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_le32(&r, &u32), n >= 4 ? 0 : -EPROTO);
		r = (struct cfs_rd)CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_le16(&r, &u16), n >= 2 ? 0 : -EPROTO);
		r = (struct cfs_rd)CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_u8(&r, &u8), n >= 1 ? 0 : -EPROTO);
		r = (struct cfs_rd)CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_bytes(&r, out, n + 1), -EPROTO);
		r = (struct cfs_rd)CFS_RD_INIT(in, n);
		cr_assert_eq(cfs_rd_ptr(&r, n, &p), 0);
	}

	/* lengths near SIZE_MAX must not wrap the bounds check */
	struct cfs_rd r = CFS_RD_INIT(in, sizeof(in));
	cr_assert_eq(cfs_rd_u8(&r, &u8), 0);
	cr_assert_eq(cfs_rd_ptr(&r, SIZE_MAX, &p), -EPROTO);
	r = (struct cfs_rd)CFS_RD_INIT(in, sizeof(in));
	cr_assert_eq(cfs_rd_u8(&r, &u8), 0);
	cr_assert_eq(cfs_rd_bytes(&r, out, SIZE_MAX), -EPROTO);
}

Test(base, le_helpers)
{
	uint8_t b[8];
	cfs_put_le16(b, 0xbeef);
	cr_assert_eq(b[0], 0xef);
	cr_assert_eq(cfs_get_le16(b), 0xbeef);
	cfs_put_le32(b, 0xfedcba98);
	cr_assert_eq(b[3], 0xfe);
	cr_assert_eq(cfs_get_le32(b), 0xfedcba98);
	cfs_put_le64(b, 0xfedcba9876543210ull);
	cr_assert_eq(b[0], 0x10);
	cr_assert_eq(b[7], 0xfe);
	cr_assert_eq(cfs_get_le64(b), 0xfedcba9876543210ull);
}
