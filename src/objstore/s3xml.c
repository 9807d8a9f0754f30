/* SPDX-License-Identifier: MIT */
/*
 * s3xml.c — the XML that S3 answers with, parsed with expat (the only expat
 * user): ListObjectsV2 results, multi-object delete (DeleteObjects)
 * results and error bodies. Pure functions over a buffer, for s3.c; the
 * server is not trusted. And the one piece of XML sent: keys escaped for a
 * DeleteObjects request (cfs_s3_xml_escape, at the end).
 *
 * What is accepted: a well-formed document (any encoding expat knows; text
 * comes out as UTF-8) whose root has the expected local name, in the S3
 * namespace or in none (radosgw and AWS both send
 * xmlns="http://s3.amazonaws.com/doc/2006-03-01/"; a prefix is fine too).
 * Entities, character references and CDATA sections are decoded by expat;
 * elements this code does not know are skipped, however deep (expat keeps
 * its element stack on the heap, and so does nothing here).
 *
 * What is refused (-EPROTO): malformed XML, another root, a document type
 * declaration (S3 sends none; refusing it rules out entity expansion
 * attacks without depending on expat's own limits), an element inside a
 * field whose text we read, a field twice in one scope, a text field longer
 * than S3_XML_TEXT_MAX, and, in a listing, an object without Key or Size, a
 * Size that is not a decimal number of at most 20 digits that fits in 64
 * bits, an IsTruncated that is neither "true" nor "false", and "true"
 * without a NextContinuationToken; in a delete result, a Deleted without
 * Key, an Error without Key or Code.
 */
#include <expat.h>
#include <limits.h>
#include <string.h>

#include "chronofs/util.h"
#include "objstore/objstore-internal.h"

/* S3 keys are at most 1024 bytes of UTF-8, tokens and messages are short:
 * anything longer is not S3. */
#define S3_XML_TEXT_MAX 4096
/* Separates a namespace URI from the local name in expat's names. */
#define NS_SEP ' '

enum xml_doc { DOC_LIST, DOC_ERROR, DOC_DELETE };

static const char *const root_names[] = {
	[DOC_LIST] = "ListBucketResult",
	[DOC_ERROR] = "Error",
	[DOC_DELETE] = "DeleteResult",
};

/* The repeated children of the root whose fields are read. */
enum xml_record {
	R_NONE,
	R_CONTENTS, /* ListBucketResult/Contents */
	R_DELETED,  /* DeleteResult/Deleted */
	R_ERROR,    /* DeleteResult/Error */
};

/* The text fields read; the order is irrelevant. */
enum xml_field {
	F_NONE,
	F_TRUNCATED, /* ListBucketResult/IsTruncated */
	F_TOKEN,     /* ListBucketResult/NextContinuationToken */
	F_KEY,       /* ListBucketResult/Contents/Key, DeleteResult/{Deleted,Error}/Key */
	F_SIZE,      /* ListBucketResult/Contents/Size */
	F_CODE,      /* Error/Code, DeleteResult/Error/Code */
	F_MESSAGE,   /* Error/Message, DeleteResult/Error/Message */
	F_COUNT,
};

struct xml_state {
	XML_Parser parser;
	enum xml_doc doc;
	int err;           /* the first error; the parser is stopped */
	unsigned depth;    /* of the element being read; the root is 1 */
	enum xml_record record; /* the record being read (at depth 2), or R_NONE */
	enum xml_field field; /* whose text is being read (at `depth`), or F_NONE */
	struct cfs_buf text[F_COUNT]; /* owned: each field's text, NUL-terminated */
	bool seen[F_COUNT];
	/* The records, handed to the callback only once the whole document
	 * has parsed. Listing: u64 size + key + NUL each. Delete result:
	 * u8 deleted (1) or error (0) + key + NUL, and for an error code +
	 * NUL + message + NUL. */
	struct cfs_buf records;
};

static void fail(struct xml_state *x, int err)
{
	if (x->err == 0)
		x->err = err;
	XML_StopParser(x->parser, XML_FALSE);
}

static const char *local_name(const XML_Char *name)
{
	const char *sep = strrchr(name, NS_SEP);
	return sep ? sep + 1 : name;
}

/* The record a child of the root is: R_NONE for any other element. */
static enum xml_record record_of(const struct xml_state *x, const char *local)
{
	if (x->doc == DOC_LIST && strcmp(local, "Contents") == 0)
		return R_CONTENTS;
	if (x->doc == DOC_DELETE && strcmp(local, "Deleted") == 0)
		return R_DELETED;
	if (x->doc == DOC_DELETE && strcmp(local, "Error") == 0)
		return R_ERROR;
	return R_NONE;
}

/* The field an element is, by its place: F_NONE for any other element. */
static enum xml_field field_of(const struct xml_state *x, const char *local)
{
	static const struct {
		enum xml_doc doc;
		enum xml_record record;
		const char *name;
		enum xml_field field;
	} fields[] = {
		{DOC_LIST, R_NONE, "IsTruncated", F_TRUNCATED},
		{DOC_LIST, R_NONE, "NextContinuationToken", F_TOKEN},
		{DOC_LIST, R_CONTENTS, "Key", F_KEY},
		{DOC_LIST, R_CONTENTS, "Size", F_SIZE},
		{DOC_ERROR, R_NONE, "Code", F_CODE},
		{DOC_ERROR, R_NONE, "Message", F_MESSAGE},
		{DOC_DELETE, R_DELETED, "Key", F_KEY},
		{DOC_DELETE, R_ERROR, "Key", F_KEY},
		{DOC_DELETE, R_ERROR, "Code", F_CODE},
		{DOC_DELETE, R_ERROR, "Message", F_MESSAGE},
	};
	/* Fields are children of the root, or of a record. */
	if (x->depth != (x->record != R_NONE ? 3u : 2u))
		return F_NONE;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (fields[i].doc == x->doc && fields[i].record == x->record && strcmp(fields[i].name, local) == 0)
			return fields[i].field;
	return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_state *x = ud;
	const char *local = local_name(name);
	(void)attrs;

	/* expat may still call back after a stop: nothing more is read. */
	if (x->err)
		return;
	if (x->field != F_NONE) { /* markup inside a text field */
		fail(x, -EPROTO);
		return;
	}
	x->depth++;
	if (x->depth == 1) {
		if (strcmp(local, root_names[x->doc]) != 0)
			fail(x, -EPROTO);
		return;
	}
	if (x->depth == 2) {
		x->record = record_of(x, local);
		if (x->record != R_NONE) {
			/* A record's fields are its own. */
			x->seen[F_KEY] = x->seen[F_SIZE] = x->seen[F_CODE] = x->seen[F_MESSAGE] = false;
			cfs_buf_reset(&x->text[F_MESSAGE]);
			return;
		}
	}
	x->field = field_of(x, local);
	if (x->field == F_NONE)
		return;
	if (x->seen[x->field]) {
		fail(x, -EPROTO);
		return;
	}
	x->seen[x->field] = true;
	cfs_buf_reset(&x->text[x->field]);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct xml_state *x = ud;
	struct cfs_buf *t = &x->text[x->field];

	if (x->err || x->field == F_NONE || len <= 0)
		return;
	if (t->len + (size_t)len > S3_XML_TEXT_MAX) {
		fail(x, -EPROTO);
		return;
	}
	if (cfs_buf_append(t, s, (size_t)len) < 0)
		fail(x, -ENOMEM);
}

/* A decimal u64 of 1 to 20 digits, nothing else. */
static int parse_size(const struct cfs_buf *t, uint64_t *ret)
{
	uint64_t v = 0;

	if (t->len == 0 || t->len > 20)
		return -EPROTO;
	for (size_t i = 0; i < t->len; i++) {
		unsigned d = (unsigned)(t->data[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* A field's text and a NUL onto the records. */
static int append_text(struct xml_state *x, enum xml_field f)
{
	const struct cfs_buf *t = &x->text[f];
	int r = t->len ? cfs_buf_append(&x->records, t->data, t->len) : 0;
	return r < 0 ? r : cfs_buf_append_u8(&x->records, 0);
}

/* The end of a Contents element: its object, kept for the callback. */
static int end_contents(struct xml_state *x)
{
	uint64_t size;

	if (!x->seen[F_KEY] || !x->seen[F_SIZE])
		return -EPROTO;
	int r = parse_size(&x->text[F_SIZE], &size);
	if (r == 0)
		r = cfs_buf_append_le64(&x->records, size);
	return r < 0 ? r : append_text(x, F_KEY);
}

/* The end of a Deleted or Error element of a delete result. */
static int end_delete_record(struct xml_state *x)
{
	bool deleted = x->record == R_DELETED;

	if (!x->seen[F_KEY] || (!deleted && !x->seen[F_CODE]))
		return -EPROTO;
	int r = cfs_buf_append_u8(&x->records, deleted ? 1 : 0);
	if (r == 0)
		r = append_text(x, F_KEY);
	if (r == 0 && !deleted)
		r = append_text(x, F_CODE);
	if (r == 0 && !deleted)
		r = append_text(x, F_MESSAGE); /* reset at the record's start */
	return r;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xml_state *x = ud;
	int r = 0;
	(void)name; /* expat checks that it matches its start */

	if (x->err)
		return;
	if (x->field != F_NONE) {
		x->field = F_NONE;
	} else if (x->record != R_NONE && x->depth == 2) {
		r = x->record == R_CONTENTS ? end_contents(x) : end_delete_record(x);
		x->record = R_NONE;
	}
	x->depth--;
	if (r < 0)
		fail(x, r);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ud, -EPROTO);
}

/* dst (reset first) gets a field's text, NUL-terminated (len without it). */
static int copy_text(struct cfs_buf *dst, const struct cfs_buf *text)
{
	cfs_buf_reset(dst);
	int r = text->len ? cfs_buf_append(dst, text->data, text->len) : 0;
	if (r == 0)
		r = cfs_buf_append_u8(dst, 0);
	if (r == 0)
		dst->len--;
	return r;
}

static void xml_state_release(struct xml_state *x)
{
	if (x->parser)
		XML_ParserFree(x->parser);
	for (size_t i = 0; i < F_COUNT; i++)
		cfs_buf_release(&x->text[i]);
	cfs_buf_release(&x->records);
}

/* Parse the whole document into x (initialised by the caller with doc). */
static int xml_parse(struct xml_state *x, const char *xml, size_t n)
{
	if (!xml && n > 0)
		return -EINVAL;
	if (n > INT_MAX)
		return -EPROTO;
	x->parser = XML_ParserCreateNS(NULL, NS_SEP);
	if (!x->parser)
		return -ENOMEM;
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
	if (XML_Parse(x->parser, xml ? xml : "", (int)n, XML_TRUE) != XML_STATUS_OK) {
		if (x->err)
			return x->err;
		return XML_GetErrorCode(x->parser) == XML_ERROR_NO_MEMORY ? -ENOMEM : -EPROTO;
	}
	return 0;
}

int cfs_s3_parse_list(const char *xml, size_t n, cfs_s3_list_cb cb, void *ud, bool *ret_truncated,
		      struct cfs_buf *ret_token)
{
	struct xml_state x = {.doc = DOC_LIST};
	bool truncated = false;
	int r;

	r = xml_parse(&x, xml, n);
	if (r < 0)
		goto out;
	if (x.seen[F_TRUNCATED]) {
		const struct cfs_buf *t = &x.text[F_TRUNCATED];
		if (t->len == 4 && memcmp(t->data, "true", 4) == 0)
			truncated = true;
		else if (t->len != 5 || memcmp(t->data, "false", 5) != 0)
			r = -EPROTO;
	}
	if (r == 0 && truncated && (!x.seen[F_TOKEN] || x.text[F_TOKEN].len == 0))
		r = -EPROTO;
	if (r < 0)
		goto out;
	cfs_buf_reset(ret_token);
	if (truncated)
		r = copy_text(ret_token, &x.text[F_TOKEN]);
	*ret_truncated = truncated;
	for (size_t off = 0; r == 0 && off < x.records.len;) {
		uint64_t size = cfs_get_le64(x.records.data + off);
		const char *key = (const char *)x.records.data + off + 8;
		off += 8 + strlen(key) + 1;
		r = cb(key, size, ud);
	}
out:
	xml_state_release(&x);
	return r;
}

int cfs_s3_parse_delete(const char *xml, size_t n, cfs_s3_delete_cb cb, void *ud)
{
	struct xml_state x = {.doc = DOC_DELETE};
	int r = xml_parse(&x, xml, n);

	/* Every record ends in NULs that this code wrote (the texts have none:
	 * XML cannot carry U+0000), so each strlen stays inside. */
	for (size_t off = 0; r == 0 && off < x.records.len;) {
		bool deleted = x.records.data[off++] == 1;
		const char *key = (const char *)x.records.data + off, *code = NULL, *message = NULL;
		off += strlen(key) + 1;
		if (!deleted) {
			code = (const char *)x.records.data + off;
			off += strlen(code) + 1;
			message = (const char *)x.records.data + off;
			off += strlen(message) + 1;
		}
		r = cb(key, code, message, ud);
	}
	xml_state_release(&x);
	return r;
}

int cfs_s3_parse_error(const char *xml, size_t n, struct cfs_buf *ret_code, struct cfs_buf *ret_message)
{
	struct xml_state x = {.doc = DOC_ERROR};
	int r = xml_parse(&x, xml, n);

	if (r == 0)
		r = copy_text(ret_code, &x.text[F_CODE]);
	if (r == 0)
		r = copy_text(ret_message, &x.text[F_MESSAGE]);
	xml_state_release(&x);
	return r;
}

/* ---- writing: the keys of a multi-object delete request ---- */

int cfs_s3_xml_escape(const char *s, struct cfs_buf *out, size_t *len)
{
	for (const char *p = s; *p;) {
		unsigned char c = (unsigned char)*p;
		size_t l = cfs_utf8_len(p);
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || l == 0 ||
		    (l == 3 && c == 0xef && (unsigned char)p[1] == 0xbf && (unsigned char)p[2] >= 0xbe))
			return -EINVAL;
		p += l;
	}
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		const char *e = *p == '&'    ? "&amp;"
				: *p == '<'  ? "&lt;"
				: *p == '>'  ? "&gt;"
				: *p == '"'  ? "&quot;"
				: *p == '\'' ? "&apos;"
				: *p == '\t' ? "&#9;"
				: *p == '\n' ? "&#10;"
				: *p == '\r' ? "&#13;"
					     : NULL;
		size_t el = e ? strlen(e) : 1;
		if (out) {
			int r = e ? cfs_buf_append(out, e, el) : cfs_buf_append_u8(out, (uint8_t)*p);
			if (r < 0)
				return r;
		}
		n += el;
	}
	*len += n;
	return 0;
}
