/* SPDX-License-Identifier: MIT */
/*
 * make-corpus.c — writes the seed corpora under tests/fuzz/corpus/<target>/:
 * a few valid encodings made by the library's own encoders, and for each a
 * handful of truncated and bit-flipped variants. Run once by hand and commit
 * the output (crashing inputs found later are added next to these):
 *
 *   make-corpus tests/fuzz/corpus
 *
 * Deterministic except the key files, whose salt and nonce are random.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/compress.h"
#include "chronofs/crypto.h"
#include "chronofs/pack.h"
#include "chronofs/snapshot.h"
#include "chronofs/tree.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

static const char *root;

static void die(const char *what, int r)
{
	fprintf(stderr, "make-corpus: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static void write_file(const char *target, const char *name, const void *p, size_t n)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&dir, "%s/%s", root, target) < 0 || asprintf(&path, "%s/%s", dir, name) < 0)
		die("asprintf", -ENOMEM);
	r = cfs_mkdir_p(dir, 0755);
	if (r < 0)
		die(dir, r);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path, -errno);
	r = cfs_write_all(fd, p, n);
	if (r < 0)
		die(path, r);
}

/*
 * The valid input as <name>, plus variants: truncated to 0, 1, n/3, n/2 and
 * n-1 bytes, and one byte flipped at eight positions spread over the input
 * (the first and last included). The first skip bytes (the compress
 * target's codec and length) are kept: no cut inside them, no flip of them.
 */
static void emit(const char *target, const char *name, const void *p, size_t n, size_t skip)
{
	const uint8_t *b = p;
	_cleanup_free_ uint8_t *c = malloc(n ? n : 1);
	char fn[256];

	if (!c)
		die("malloc", -ENOMEM);
	write_file(target, name, p, n);

	const size_t cuts[] = {0, 1, n / 3, n / 2, n ? n - 1 : 0};
	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
		if (cuts[i] < skip || cuts[i] >= n || (i > 0 && cuts[i] == cuts[i - 1]))
			continue;
		snprintf(fn, sizeof(fn), "%s.trunc-%zu", name, cuts[i]);
		write_file(target, fn, p, cuts[i]);
	}
	if (n <= skip)
		return;
	for (size_t i = 0; i < 8; i++) {
		size_t pos = skip + (n - skip - 1) * i / 7;
		if (i > 0 && pos == skip + (n - skip - 1) * (i - 1) / 7)
			continue;
		memcpy(c, b, n);
		c[pos] ^= (i & 1) ? 0xff : 0x01;
		snprintf(fn, sizeof(fn), "%s.flip-%zu", name, pos);
		write_file(target, fn, c, n);
	}
}

/* The encoding p as a newer version 2 (its version field at offset 8, as in
 * every format here): the decoder must say -EPROTONOSUPPORT. p is changed. */
static void emit_version_2(const char *target, uint8_t *p, size_t n)
{
	cfs_put_le32(p + 8, 2);
	write_file(target, "version-2", p, n);
}

static struct cfs_id fake_id(uint8_t seed)
{
	struct cfs_id id;
	for (size_t i = 0; i < CFS_ID_SIZE; i++)
		id.b[i] = (uint8_t)(seed * 31 + i);
	return id;
}

/* ---- tree ---- */

static void tree_add(struct cfs_tree *t, struct cfs_tree_entry *e, const char *name)
{
	e->name_len = (uint16_t)strlen(name);
	e->name = (uint8_t *)strdup(name);
	if (!e->name)
		die("strdup", -ENOMEM);
	e->uid = 1000;
	e->gid = 100;
	e->mtime_ns = 1700000000123456789;
	e->ctime_ns = -5;
	e->dev = 0x803;
	e->ino = 4242 + t->n;
	e->nlink = 1;
	int r = cfs_tree_add(t, e);
	if (r < 0)
		die("cfs_tree_add", r);
}

static void emit_tree(const char *name, struct cfs_tree *t)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	int r = cfs_tree_sort(t);
	if (r >= 0)
		r = cfs_tree_encode(t, &out);
	if (r < 0)
		die("cfs_tree_encode", r);
	emit("tree", name, out.data, out.len, 0);
	cfs_tree_release(t);
}

static void make_tree(void)
{
	struct cfs_tree t = CFS_TREE_INIT;
	struct cfs_tree_entry e;

	emit_tree("empty", &t);

	/* one of every type */
	e = (struct cfs_tree_entry){.type = CFS_FT_REG, .mode = 0644, .size = 10000, .nlink = 2,
				    .fsflags = 0x10 | 0x40 /* immutable, nodump */};
	e.n_extents = 2;
	e.extents = calloc(2, sizeof(*e.extents));
	e.n_xattrs = 2;
	e.xattrs = calloc(2, sizeof(*e.xattrs));
	if (!e.extents || !e.xattrs)
		die("calloc", -ENOMEM);
	e.extents[0] = (struct cfs_extent){.offset = 0, .len = 4096, .id = fake_id(1)};
	e.extents[1] = (struct cfs_extent){.offset = 8192, .len = 1808, .id = fake_id(2)};
	e.xattrs[0].name = strdup("security.selinux");
	e.xattrs[0].value = (uint8_t *)strdup("system_u:object_r:x:s0");
	e.xattrs[0].len = 22;
	e.xattrs[1].name = strdup("user.empty");
	if (!e.xattrs[0].name || !e.xattrs[0].value || !e.xattrs[1].name)
		die("strdup", -ENOMEM);
	tree_add(&t, &e, "file.txt");
	e = (struct cfs_tree_entry){.type = CFS_FT_DIR, .mode = 01777, .subtree = fake_id(3),
				    .subtree_nodes = 7};
	tree_add(&t, &e, "dir");
	e = (struct cfs_tree_entry){.type = CFS_FT_SYMLINK, .mode = 0777};
	e.target = strdup("../some/where");
	e.target_len = 13;
	tree_add(&t, &e, "link");
	e = (struct cfs_tree_entry){.type = CFS_FT_FIFO, .mode = 0600};
	tree_add(&t, &e, "fifo");
	e = (struct cfs_tree_entry){.type = CFS_FT_CHR, .mode = 0666, .rdev = 0x103};
	tree_add(&t, &e, "null");
	e = (struct cfs_tree_entry){.type = CFS_FT_BLK, .mode = 06660, .rdev = 0x800};
	tree_add(&t, &e, "sda");
	emit_tree("all-types", &t);

	/* names that sort by bytes: prefix first, high bytes last */
	const char *names[] = {"a", "ab", "a\xff", "\x01", "~", "..."};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		e = (struct cfs_tree_entry){.type = CFS_FT_REG, .mode = 0400};
		tree_add(&t, &e, names[i]);
	}
	emit_tree("names", &t);

	/* a large directory's fragment index */
	static const char *firsts[] = {"a", "file-0012345", "file-0099999", "\xff"};
	for (size_t i = 0; i < ARRAY_SIZE(firsts); i++) {
		struct cfs_id id = fake_id((uint8_t)(10 + i));
		int r = cfs_tree_add_frag(&t, firsts[i], strlen(firsts[i]), &id, 9000 + (uint32_t)i, 9500 + i);
		if (r < 0)
			die("cfs_tree_add_frag", r);
	}
	emit_tree("index", &t);
}

/* ---- snapshot ---- */

static void make_snapshot(void)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	char *paths[] = {"/home", "/etc/with space"};
	char *tags[] = {"nightly", "", "t\xc3\xa4g"};
	struct cfs_snapshot s = {
		.time_ns = 1795464000000000000,
		.name = "2026-11-23T20:00:00Z",
		.type = CFS_SNAP_FULL,
		.host = "host.example",
		.tier = "",
		.root = fake_id(9),
		.root_nodes = 12345,
		.stats = {1, 2, 3, 4, 5, 6, 7, 8, 9},
	};
	int r;

	r = cfs_snapshot_encode(&s, &out);
	if (r < 0)
		die("cfs_snapshot_encode", r);
	emit("snapshot", "minimal", out.data, out.len, 0);

	s.type = CFS_SNAP_INCREMENTAL;
	s.has_parent = true;
	s.parent = fake_id(10);
	s.tier = "daily";
	s.paths = paths;
	s.n_paths = ARRAY_SIZE(paths);
	s.tags = tags;
	s.n_tags = ARRAY_SIZE(tags);
	s.time_ns = -1;
	r = cfs_snapshot_encode(&s, &out);
	if (r < 0)
		die("cfs_snapshot_encode", r);
	emit("snapshot", "full-fields", out.data, out.len, 0);

	/* a later minor revision's extension, which version 1 skips */
	out.len -= 4;
	if (cfs_buf_append_le32(&out, 5) < 0 || cfs_buf_append(&out, "ext!!", 5) < 0)
		die("append", -ENOMEM);
	write_file("snapshot", "extension", out.data, out.len);

	/* a newer version: -EPROTONOSUPPORT */
	cfs_put_le32(out.data + 8, 2);
	write_file("snapshot", "version-2", out.data, out.len);
}

/* ---- pack ---- */

static void make_pack(void)
{
	static const struct cfs_keys keys = {.mode = CFS_ENC_NONE};
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *c = NULL;
	_cleanup_(cfs_compressor_freep) struct cfs_compressor *zc = NULL;
	_cleanup_(cfs_pack_writer_freep) struct cfs_pack_writer *w = NULL;
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT, plain = CFS_BUF_INIT, z = CFS_BUF_INIT;
	struct cfs_id pack_id;
	uint32_t hdr_len;
	char fn[64];
	int r;

	r = cfs_crypto_new(&keys, &c);
	if (r >= 0)
		r = cfs_compressor_new(3, &zc);
	if (r >= 0)
		r = cfs_pack_writer_new(&w);
	if (r < 0)
		die("setup", r);

	for (size_t blobs = 0; blobs <= 3; blobs += 3) {
		for (size_t i = 0; i < blobs; i++) {
			struct cfs_pack_entry e = {0};
			enum cfs_codec codec;

			cfs_buf_reset(&plain);
			for (size_t j = 0; j < 40 + 50 * i; j++)
				if (cfs_buf_append_u8(&plain, (uint8_t)(i ? 'a' + j % 3 : j * 7)) < 0)
					die("append", -ENOMEM);
			r = cfs_compress(zc, NULL, plain.data, plain.len, &z, &codec);
			if (r >= 0)
				r = cfs_crypto_blob_id(c, plain.data, plain.len, &e.id);
			if (r < 0)
				die("blob", r);
			e.type = i == 2 ? CFS_BLOB_TREE : CFS_BLOB_DATA;
			e.codec = (uint8_t)codec;
			/* Entry 1 as if compressed with dictionary 0x1234
			 * (the reader checks fields, not frames). */
			if (i == 1 && codec == CFS_CODEC_ZSTD) {
				e.codec = CFS_CODEC_ZSTD_DICT;
				e.dict = 0x1234;
			}
			e.raw_len = (uint32_t)plain.len;
			e.stored_len = (uint32_t)z.len;
			r = cfs_pack_writer_add(w, &e, z.data, z.len, NULL);
			if (r < 0)
				die("cfs_pack_writer_add", r);
		}
		r = cfs_pack_writer_finish(w, c, &out, &pack_id);
		if (r < 0)
			die("cfs_pack_writer_finish", r);
		snprintf(fn, sizeof(fn), "pack-%zu", blobs);
		emit("pack", fn, out.data, out.len, 0);

		/* the header alone, for the target's header-only mode */
		r = cfs_pack_parse_trailer(out.data, out.len, out.len, &hdr_len);
		if (r < 0)
			die("cfs_pack_parse_trailer", r);
		snprintf(fn, sizeof(fn), "header-%zu", blobs);
		emit("pack", fn, out.data + out.len - CFS_PACK_TRAILER_SIZE - hdr_len, hdr_len, 0);
	}
}

/* ---- index ---- */

static void make_index(void)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct cfs_pack_index_enc enc;
	struct cfs_id p1 = fake_id(20), p2 = fake_id(21);
	struct cfs_pack_entry e = {0};
	int r;

	r = cfs_pack_index_enc_init(&enc, &out);
	if (r < 0)
		die("cfs_pack_index_enc_init", r);
	write_file("index", "empty", out.data, out.len);

	/* Two packs: three entries (one of each codec), then none. */
	r = cfs_pack_index_enc_pack(&enc, &p1, 4096 + 300, 3);
	for (int i = 0; i < 3 && r >= 0; i++) {
		e.id = fake_id((uint8_t)(22 + i));
		e.type = i == 2 ? CFS_BLOB_TREE : CFS_BLOB_DATA;
		e.codec = (uint8_t)i;
		e.dict = i == CFS_CODEC_ZSTD_DICT ? 0x1234 : 0;
		e.raw_len = 1000 * (uint32_t)(i + 1);
		e.stored_len = 100 * (uint32_t)(i + 1);
		e.offset = 100 * (uint64_t)i;
		r = cfs_pack_index_enc_entry(&enc, &e);
	}
	if (r >= 0)
		r = cfs_pack_index_enc_pack(&enc, &p2, 12, 0);
	if (r < 0)
		die("index", r);
	emit("index", "two-packs", out.data, out.len, 0);

	emit_version_2("index", out.data, out.len);
}

/* ---- dict ---- */

static void make_dict(void)
{
	_cleanup_buf_ struct cfs_buf samples = CFS_BUF_INIT, dict = CFS_BUF_INIT, out = CFS_BUF_INIT;
	static size_t sizes[1000];
	static const char *words[] = {"alpha ", "beta ", "gamma ", "delta ", "chronofs ", "backup ", "\n"};
	uint32_t seed = 7;
	int r;

	/* Small text-like samples, similar but not equal; a small dictionary
	 * keeps the seed small. */
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		size_t before = samples.len;
		for (size_t w = 0; w < 20 + k % 30; w++) {
			seed = seed * 1103515245u + 12345u;
			const char *word = words[(seed >> 16) % ARRAY_SIZE(words)];
			if (cfs_buf_append(&samples, word, strlen(word)) < 0)
				die("append", -ENOMEM);
		}
		sizes[k] = samples.len - before;
	}
	r = cfs_zdict_train(samples.data, sizes, ARRAY_SIZE(sizes), 1024, &dict);
	if (r >= 0)
		r = cfs_zdict_object_encode(dict.data, dict.len, &out);
	if (r < 0)
		die("dictionary", r);
	emit("dict", "trained", out.data, out.len, 0);

	emit_version_2("dict", out.data, out.len);
}

/* ---- s3xml ---- */

/* mode byte (0 listing, 1 error body, 2 delete result), then the body: the
 * target's layout */
static void emit_s3xml(const char *name, uint8_t mode, const char *xml)
{
	_cleanup_buf_ struct cfs_buf in = CFS_BUF_INIT;

	if (cfs_buf_append_u8(&in, mode) < 0 || cfs_buf_append(&in, xml, strlen(xml)) < 0)
		die("append", -ENOMEM);
	emit("s3xml", name, in.data, in.len, 1);
}

static void make_s3xml(void)
{
	/* A page as radosgw sends it (ListObjectsV2, truncated). */
	emit_s3xml("list-radosgw", 0,
		   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		   "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		   "<Name>chronofs</Name><Prefix>repo/data/</Prefix><MaxKeys>2</MaxKeys>"
		   "<IsTruncated>true</IsTruncated>"
		   "<Contents><Key>repo/data/ab/abcdef</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified>"
		   "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>16777216</Size>"
		   "<StorageClass>STANDARD</StorageClass><Owner><ID>tester</ID><DisplayName>t</DisplayName></Owner>"
		   "<Type>Normal</Type></Contents>"
		   "<Contents><Key>repo/data/cd/cdef01</Key><Size>42</Size></Contents>"
		   "<KeyCount>2</KeyCount><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
		   "</NextContinuationToken></ListBucketResult>");
	/* The forms XML allows in a key: entities, references, CDATA, UTF-8,
	 * a namespace prefix; unknown elements at any depth. */
	emit_s3xml("list-forms", 0,
		   "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		   "<s3:IsTruncated>false</s3:IsTruncated>"
		   "<s3:Contents><s3:Key>a&amp;b&lt;&gt;&#65;&#x42;</s3:Key><s3:Size>0</s3:Size></s3:Contents>"
		   "<s3:Contents><s3:Owner><s3:Key>decoy</s3:Key></s3:Owner>"
		   "<s3:Key><![CDATA[<raw> & ]]>d\xc3\xa9j\xc3\xa0</s3:Key>"
		   "<s3:Size>18446744073709551615</s3:Size></s3:Contents>"
		   "</s3:ListBucketResult>");
	emit_s3xml("list-empty", 0, "<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>");
	/* refused: a document type with entities */
	write_file("s3xml", "list-doctype",
		   "\0<!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><ListBucketResult>"
		   "<Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>", 143);
	emit_s3xml("error", 1,
		   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
		   "<Message>The specified key &lt;x&gt; does not exist.</Message><Key>repo/config</Key>"
		   "<RequestId>tx000001</RequestId><HostId>h</HostId></Error>");
	emit_s3xml("error-latin1", 1, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Error><Code>\xe9</Code></Error>");
	/* A DeleteObjects answer as radosgw 16.2.15 gave it: an error for a
	 * key a bucket policy protects, missing and duplicate keys Deleted. */
	emit_s3xml("delete-radosgw", 2,
		   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		   "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		   "<Error><Key>r4/locked/b</Key><VersionId></VersionId><Code>AccessDenied</Code>"
		   "<Message>AccessDenied</Message></Error>"
		   "<Deleted><Key>r4/missing</Key></Deleted><Deleted><Key>r4/c</Key></Deleted>"
		   "<Deleted><Key>r4/c</Key></Deleted></DeleteResult>");
	/* AWS's forms: versions, delete markers, a prefix, escapes, CDATA,
	 * decoys, an Error without Message. */
	emit_s3xml("delete-forms", 2,
		   "<s3:DeleteResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		   "<s3:Deleted><s3:Key>a&amp;b&lt;&#x41;&#9;</s3:Key><s3:VersionId>v1</s3:VersionId>"
		   "<s3:DeleteMarker>true</s3:DeleteMarker></s3:Deleted>"
		   "<s3:Error><s3:Key><![CDATA[x<y]]>\xc3\xa9&#13;</s3:Key><s3:Code>SlowDown</s3:Code></s3:Error>"
		   "<s3:Other><s3:Deleted><s3:Key>decoy</s3:Key></s3:Deleted></s3:Other>"
		   "</s3:DeleteResult>");
	emit_s3xml("delete-quiet", 2, "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>");
}

/* ---- keyfile ---- */

static void make_keyfile(void)
{
	static const struct cfs_kdf_params cheap = {10, 1, 1};
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	struct cfs_keys k = {.mode = CFS_ENC_AES256GCM};
	int r;

	for (size_t i = 0; i < CFS_KEY_SIZE; i++) {
		k.id_key[i] = (uint8_t)i;
		k.enc_key[i] = (uint8_t)(0x40 + i);
		k.gear_seed[i] = (uint8_t)(0x80 + i);
	}
	r = cfs_keyfile_seal(&k, &cheap, "x", 1, &out);
	if (r < 0)
		die("cfs_keyfile_seal", r);
	emit("keyfile", "pass-x", out.data, out.len, 0);

	cfs_buf_reset(&out);
	r = cfs_keyfile_seal(&k, &cheap, "y", 1, &out);
	if (r < 0)
		die("cfs_keyfile_seal", r);
	write_file("keyfile", "pass-y", out.data, out.len);

	/* a newer version: -EPROTONOSUPPORT */
	cfs_put_le32(out.data + 8, 2);
	write_file("keyfile", "version-2", out.data, out.len);
	cfs_keys_wipe(&k);
}

/* ---- config ---- */

static void make_config(void)
{
	struct cfs_repo_config c = {
		.version = CFS_REPO_FORMAT_VERSION,
		.encryption = CFS_ENC_AES256GCM,
		.zstd_level = 3,
		.repo_id = fake_id(5),
		.chunk_min = 512 * 1024,
		.chunk_avg = 1024 * 1024,
		.chunk_max = 8 * 1024 * 1024,
	};
	uint8_t out[CFS_CONFIG_SIZE];

	cfs_repo_config_encode(&c, out);
	emit("config", "aes", out, sizeof(out), 0);
	c.encryption = CFS_ENC_NONE;
	c.zstd_level = 19;
	cfs_repo_config_encode(&c, out);
	emit("config", "none", out, sizeof(out), 0);
	c.version = CFS_REPO_FORMAT_VERSION + 1;
	cfs_repo_config_encode(&c, out);
	write_file("config", "newer", out, sizeof(out));
}

/* ---- compress ---- */

/* codec byte, raw_len LE32, payload: the target's input layout */
static void emit_compress(const char *name, uint8_t codec, uint32_t raw_len, const void *p, size_t n)
{
	_cleanup_buf_ struct cfs_buf in = CFS_BUF_INIT;

	if (cfs_buf_append_u8(&in, codec) < 0 || cfs_buf_append_le32(&in, raw_len) < 0 ||
	    cfs_buf_append(&in, p, n) < 0)
		die("append", -ENOMEM);
	emit("compress", name, in.data, in.len, 5);
}

static void make_compress(void)
{
	_cleanup_(cfs_compressor_freep) struct cfs_compressor *zc = NULL;
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT, z = CFS_BUF_INIT;
	enum cfs_codec codec;
	int r;

	r = cfs_compressor_new(3, &zc);
	if (r < 0)
		die("cfs_compressor_new", r);
	for (size_t i = 0; i < 2000; i++)
		if (cfs_buf_append_u8(&plain, (uint8_t)"chronofs "[i % 9]) < 0)
			die("append", -ENOMEM);
	r = cfs_compress(zc, NULL, plain.data, plain.len, &z, &codec);
	if (r < 0 || codec != CFS_CODEC_ZSTD)
		die("cfs_compress", r < 0 ? r : -EINVAL);
	emit_compress("zstd", CFS_CODEC_ZSTD, (uint32_t)plain.len, z.data, z.len);
	/* right frame, raw_len one short of its content size */
	_cleanup_buf_ struct cfs_buf in = CFS_BUF_INIT;
	if (cfs_buf_append_u8(&in, CFS_CODEC_ZSTD) < 0 ||
	    cfs_buf_append_le32(&in, (uint32_t)plain.len - 1) < 0 ||
	    cfs_buf_append(&in, z.data, z.len) < 0)
		die("append", -ENOMEM);
	write_file("compress", "zstd-wrong-len", in.data, in.len);
	emit_compress("raw", CFS_CODEC_RAW, 9, "chronofs!", 9);
	emit_compress("unknown-codec", 7, 3, "abc", 3);

	r = cfs_compress(zc, NULL, NULL, 0, &z, &codec);
	if (r < 0)
		die("cfs_compress", r);
	emit_compress("empty", codec, 0, z.data, z.len);
}

/* ---- record (deletion records and holds) ---- */

static void make_record(void)
{
	struct cfs_buf out = CFS_BUF_INIT;
	struct cfs_id ids[3];
	struct repo_record_pack packs[2];
	char *locks[] = {"locks/00112233445566778899aabbccddeeff", "locks/ffeeddccbbaa99887766554433221100"};
	for (int i = 0; i < 3; i++)
		memset(ids[i].b, 0x11 * (i + 1), CFS_ID_SIZE);
	packs[0] = (struct repo_record_pack){ids[0], 16777216};
	packs[1] = (struct repo_record_pack){ids[1], 4096};
	struct repo_record forget = {.kind = REPO_RECORD_FORGET, .time_ns = 1765000000000000000, .snapshots = ids,
				     .n_snapshots = 2};
	snprintf(forget.host, sizeof(forget.host), "backup-host");
	struct repo_record condemn = {.kind = REPO_RECORD_CONDEMN, .time_ns = 1765000000000000001, .packs = packs,
				      .n_packs = 2, .indexes = ids + 2, .n_indexes = 1, .written = ids, .n_written = 1};
	struct repo_record arm = {.kind = REPO_RECORD_ARM, .of = ids[2], .locks = locks, .n_locks = 2};
	struct repo_record done = {.kind = REPO_RECORD_DONE, .of = ids[2], .packs = packs, .n_packs = 1,
				   .released = ids + 1, .n_released = 1, .indexes = ids + 2, .n_indexes = 1};
	const struct {
		const char *name;
		struct repo_record *rec;
	} v[] = {{"forget", &forget}, {"condemn", &condemn}, {"arm", &arm}, {"done", &done}};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		int r = cfs_repo_record_encode(v[i].rec, &out);
		if (r < 0)
			die("cfs_repo_record_encode", r);
		emit("record", v[i].name, out.data, out.len, 0);
	}
	struct cfs_repo_hold h = {.snapshot = ids[0], .time_ns = 1765000000000000002};
	snprintf(h.host, sizeof(h.host), "backup-host");
	snprintf(h.reason, sizeof(h.reason), "FY2026 audit");
	int r = cfs_repo_hold_encode(&h, &out);
	if (r < 0)
		die("cfs_repo_hold_encode", r);
	emit("record", "hold", out.data, out.len, 0);
	cfs_buf_release(&out);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-ROOT\n", argv[0]);
		return 2;
	}
	root = argv[1];
	make_tree();
	make_snapshot();
	make_pack();
	make_index();
	make_dict();
	make_s3xml();
	make_keyfile();
	make_config();
	make_compress();
	make_record();
	return 0;
}
