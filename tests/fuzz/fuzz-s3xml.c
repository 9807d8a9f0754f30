/* SPDX-License-Identifier: MIT */
/*
 * fuzz-s3xml.c — the S3 XML parsers (objstore-internal.h) on arbitrary
 * bodies. Byte 0 picks the document: odd an error body
 * (cfs_s3_parse_error), 2 mod 8 a DeleteObjects result
 * (cfs_s3_parse_delete), any other even value a ListObjectsV2 result
 * (cfs_s3_parse_list); the rest is the body. (2 mod 8 because no input of
 * the corpus had it when delete results came: each kept its meaning.)
 *
 * Invariants checked beyond "no crash, no leak":
 *  - only the documented errors, and on failure the callback never ran;
 *  - what is accepted comes out as UTF-8 without NUL, within the length
 *    limit, a truncated listing with a token, an error record with a code;
 *  - written out again as plain XML (escaped; a delete result's keys with
 *    cfs_s3_xml_escape, which must take every key a parser gives) and
 *    parsed, an accepted document gives the same keys, sizes, token,
 *    codes and messages.
 */
#include <stdbool.h>
#include <string.h>

#include "objstore/objstore-internal.h"
#include "fuzz.h"

#define TEXT_MAX 4096 /* s3xml.c's S3_XML_TEXT_MAX */

struct listing {
	struct cfs_buf objects; /* u64 size + key + NUL each */
	size_t n;
};

static bool utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || len > n - i || (len == 2 && c < 0xc2))
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void check_text(const uint8_t *p, size_t n)
{
	FUZZ_CHECK(n <= TEXT_MAX);
	FUZZ_CHECK(memchr(p, 0, n) == NULL);
	FUZZ_CHECK(utf8_valid(p, n));
}

static int collect(const char *key, uint64_t size, void *ud)
{
	struct listing *l = ud;
	size_t n = strlen(key);
	check_text((const uint8_t *)key, n);
	FUZZ_CHECK(cfs_buf_append_le64(&l->objects, size) == 0);
	FUZZ_CHECK(cfs_buf_append(&l->objects, key, n + 1) == 0);
	l->n++;
	return 0;
}

/* Text as XML character data: markup escaped, and CR as a reference (a
 * literal one would come back as LF). */
static void put_text(struct cfs_buf *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *e = p[i] == '&' ? "&amp;" : p[i] == '<' ? "&lt;" : p[i] == '>' ? "&gt;" : p[i] == '\r' ? "&#13;" : NULL;
		FUZZ_CHECK((e ? cfs_buf_append(out, e, strlen(e)) : cfs_buf_append_u8(out, p[i])) == 0);
	}
}

static bool same(const struct cfs_buf *a, const struct cfs_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void put(struct cfs_buf *out, const char *s)
{
	FUZZ_CHECK(cfs_buf_append(out, s, strlen(s)) == 0);
}

static void as_list(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf token = CFS_BUF_INIT, token2 = CFS_BUF_INIT, xml = CFS_BUF_INIT;
	struct listing l = {CFS_BUF_INIT, 0}, l2 = {CFS_BUF_INIT, 0};
	bool truncated = false, truncated2 = false;
	int r;

	r = cfs_s3_parse_list((const char *)data, size, collect, &l, &truncated, &token);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(l.n == 0);
		goto out;
	}
	if (truncated) {
		FUZZ_CHECK(token.len > 0 && token.data[token.len] == 0);
		check_text(token.data, token.len);
	} else {
		FUZZ_CHECK(token.len == 0);
	}

	/* The same listing, written plainly. */
	put(&xml, "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	put(&xml, truncated ? "<IsTruncated>true</IsTruncated>" : "<IsTruncated>false</IsTruncated>");
	if (truncated) {
		put(&xml, "<NextContinuationToken>");
		put_text(&xml, token.data, token.len);
		put(&xml, "</NextContinuationToken>");
	}
	for (size_t off = 0; off < l.objects.len;) {
		char num[24];
		uint64_t sz = cfs_get_le64(l.objects.data + off);
		const char *key = (const char *)l.objects.data + off + 8;
		put(&xml, "<Contents><Key>");
		put_text(&xml, (const uint8_t *)key, strlen(key));
		snprintf(num, sizeof(num), "%llu", (unsigned long long)sz);
		put(&xml, "</Key><Size>");
		put(&xml, num);
		put(&xml, "</Size></Contents>");
		off += 8 + strlen(key) + 1;
	}
	put(&xml, "</ListBucketResult>");
	r = cfs_s3_parse_list((const char *)xml.data, xml.len, collect, &l2, &truncated2, &token2);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(truncated2 == truncated);
	FUZZ_CHECK(same(&token2, &token));
	FUZZ_CHECK(l2.n == l.n && same(&l2.objects, &l.objects));
out:
	cfs_buf_release(&l.objects);
	cfs_buf_release(&l2.objects);
}

static void as_error(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf code = CFS_BUF_INIT, msg = CFS_BUF_INIT, code2 = CFS_BUF_INIT,
				     msg2 = CFS_BUF_INIT, xml = CFS_BUF_INIT;
	int r;

	r = cfs_s3_parse_error((const char *)data, size, &code, &msg);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	if (r < 0)
		return;
	FUZZ_CHECK(code.data && code.data[code.len] == 0 && msg.data && msg.data[msg.len] == 0);
	check_text(code.data, code.len);
	check_text(msg.data, msg.len);

	put(&xml, "<Error><Code>");
	put_text(&xml, code.data, code.len);
	put(&xml, "</Code><Message>");
	put_text(&xml, msg.data, msg.len);
	put(&xml, "</Message></Error>");
	FUZZ_CHECK(cfs_s3_parse_error((const char *)xml.data, xml.len, &code2, &msg2) == 0);
	FUZZ_CHECK(same(&code2, &code) && same(&msg2, &msg));
}

/* A delete result's records: u8 error (1) or deleted (0), key + NUL, and
 * for an error code + NUL + message + NUL. */
struct del_records {
	struct cfs_buf rec;
	size_t n;
};

static int collect_delete(const char *key, const char *code, const char *message, void *ud)
{
	struct del_records *d = ud;
	FUZZ_CHECK((code == NULL) == (message == NULL));
	check_text((const uint8_t *)key, strlen(key));
	FUZZ_CHECK(cfs_buf_append_u8(&d->rec, code != NULL) == 0);
	FUZZ_CHECK(cfs_buf_append(&d->rec, key, strlen(key) + 1) == 0);
	if (code) {
		check_text((const uint8_t *)code, strlen(code));
		check_text((const uint8_t *)message, strlen(message));
		FUZZ_CHECK(cfs_buf_append(&d->rec, code, strlen(code) + 1) == 0);
		FUZZ_CHECK(cfs_buf_append(&d->rec, message, strlen(message) + 1) == 0);
	}
	d->n++;
	return 0;
}

static void as_delete(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf xml = CFS_BUF_INIT;
	struct del_records d = {CFS_BUF_INIT, 0}, d2 = {CFS_BUF_INIT, 0};
	int r;

	r = cfs_s3_parse_delete((const char *)data, size, collect_delete, &d);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(d.n == 0);
		goto out;
	}

	/* The same result, written plainly. */
	put(&xml, "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t off = 0; off < d.rec.len;) {
		bool error = d.rec.data[off++];
		const char *key = (const char *)d.rec.data + off;
		size_t len = 0;
		off += strlen(key) + 1;
		put(&xml, error ? "<Error><Key>" : "<Deleted><Key>");
		FUZZ_CHECK(cfs_s3_xml_escape(key, &xml, &len) == 0);
		put(&xml, "</Key>");
		if (error) {
			const char *code = (const char *)d.rec.data + off;
			off += strlen(code) + 1;
			const char *message = (const char *)d.rec.data + off;
			off += strlen(message) + 1;
			put(&xml, "<Code>");
			put_text(&xml, (const uint8_t *)code, strlen(code));
			put(&xml, "</Code><Message>");
			put_text(&xml, (const uint8_t *)message, strlen(message));
			put(&xml, "</Message>");
		}
		put(&xml, error ? "</Error>" : "</Deleted>");
	}
	put(&xml, "</DeleteResult>");
	r = cfs_s3_parse_delete((const char *)xml.data, xml.len, collect_delete, &d2);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(d2.n == d.n && same(&d2.rec, &d.rec));
out:
	cfs_buf_release(&d.rec);
	cfs_buf_release(&d2.rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		as_error(data + 1, size - 1);
	else if (data[0] % 8 == 2)
		as_delete(data + 1, size - 1);
	else
		as_list(data + 1, size - 1);
	return 0;
}
