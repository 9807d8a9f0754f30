/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hex, base64, MD5, UTF-8, time and file helpers (util.h), the rate limit
 * (ratelimit.h) and long log lines (log.h).
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/redirect.h>

#include "chronofs/log.h"
#include "chronofs/ratelimit.h"
#include "chronofs/util.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cfs-test-util-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in_tmp(char *out, size_t n, const char *rel)
{
	int r = snprintf(out, n, "%s/%s", tmpdir, rel);
	cr_assert(r > 0 && (size_t)r < n);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(cfs_write_all(fd, p, n), 0);
	close(fd);
}

/* ---- hex -------------------------------------------------------------- */

Test(hex, encode)
{
	static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	memset(out, 'X', sizeof(out));
	cfs_hex_encode(in, sizeof(in), out);
	cr_assert_str_eq(out, "00017f80abff");
	cfs_hex_encode(in, 0, out);
	cr_assert_str_eq(out, "");
}

Test(hex, decode_roundtrip_and_case)
{
	uint8_t all[256], back[256];
	char s[513];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	cfs_hex_encode(all, sizeof(all), s);
	cr_assert_eq(cfs_hex_decode(s, back, sizeof(back)), 0);
	cr_assert_eq(memcmp(all, back, sizeof(all)), 0);

	uint8_t b[3];
	cr_assert_eq(cfs_hex_decode("ABcdEf", b, 3), 0);
	cr_assert_eq(b[0], 0xab);
	cr_assert_eq(b[1], 0xcd);
	cr_assert_eq(b[2], 0xef);
	cr_assert_eq(cfs_hex_decode("", b, 0), 0);
}

Test(hex, decode_rejects_bad_input)
{
	uint8_t b[4];
	static const char *const bad[] = {
		"0011223",   /* one digit short (NUL in place of a digit) */
		"001122",    /* one byte short */
		"0011223344", /* one byte too many */
		"001122334",  /* one digit too many */
		"0011g233",
		"0011 233",
		"+0112233",
		"0x112233",
		("001122\xff" "3"),
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(cfs_hex_decode(bad[i], b, 4), -EINVAL, "input %zu: \"%s\"", i, bad[i]);
}

/* ---- base64, MD5, UTF-8 ---------------------------------------------- */

Test(base64, rfc4648_vectors)
{
	/* RFC 4648 section 10. */
	static const char *const v[][2] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	char out[CFS_BASE64_SIZE(6)];
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		memset(out, 'X', sizeof(out));
		cfs_base64_encode(v[i][0], strlen(v[i][0]), out);
		cr_assert_str_eq(out, v[i][1]);
	}
	static const uint8_t hi[] = {0xfb, 0xff, 0xbf};
	cfs_base64_encode(hi, sizeof(hi), out);
	cr_assert_str_eq(out, "+/+/");
}

Test(md5, rfc1321_test_suite)
{
	/* RFC 1321 appendix A.5, plus lengths around the padding's edges
	 * (55, 56, 63, 64, 65 bytes) against known digests. */
	static const char *const v[][2] = {
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"a", "0cc175b9c0f1b6a831c399e269772661"},
		{"abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
		{"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		 "57edf4a22be3c955ac49da2e2107b67a"},
	};
	uint8_t d[CFS_MD5_SIZE];
	char hex[2 * CFS_MD5_SIZE + 1];
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		cfs_md5(v[i][0], strlen(v[i][0]), d);
		cfs_hex_encode(d, sizeof(d), hex);
		cr_assert_str_eq(hex, v[i][1], "md5(\"%s\")", v[i][0]);
	}
	/* python3 -c 'import hashlib; print(hashlib.md5(b"a" * n).hexdigest())' */
	static const struct {
		size_t n;
		const char *hex;
	} a[] = {
		{55, "ef1772b6dff9a122358552954ad0df65"}, {56, "3b0c8ac703f828b04c6c197006d17218"},
		{63, "b06521f39153d618550606be297466d5"}, {64, "014842d480b571495a4a0363793f7367"},
		{65, "c743a45e0d2e6a95cb859adae0248435"}, {1000, "cabe45dcc9ae5b66ba86600cca6b8ba8"},
	};
	char buf[1000];
	memset(buf, 'a', sizeof(buf));
	for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
		cfs_md5(buf, a[i].n, d);
		cfs_hex_encode(d, sizeof(d), hex);
		cr_assert_str_eq(hex, a[i].hex, "md5(a * %zu)", a[i].n);
	}
	/* Content-MD5 is the base64 of the digest. */
	char b64[CFS_BASE64_SIZE(CFS_MD5_SIZE)];
	cfs_md5("", 0, d);
	cfs_base64_encode(d, sizeof(d), b64);
	cr_assert_str_eq(b64, "1B2M2Y8AsgTpgAmY7PhCfg==");
}

/* Against OpenSSL's MD5 (which src/base/md5.c cannot call: OpenSSL lives
 * in src/crypto/ only, and objstore, its one user, may not include
 * crypto.h), every length from 0 to 300 over pseudo-random bytes. */
Test(md5, same_as_openssl)
{
	uint8_t buf[300], d[CFS_MD5_SIZE], o[EVP_MAX_MD_SIZE];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t n = 0; n <= sizeof(buf); n++) {
		unsigned int len = 0;
		cr_assert_eq(EVP_Digest(buf, n, o, &len, EVP_md5(), NULL), 1);
		cfs_md5(buf, n, d);
		cr_assert(len == CFS_MD5_SIZE && memcmp(d, o, CFS_MD5_SIZE) == 0, "length %zu", n);
	}
}

Test(utf8, lengths)
{
	static const struct {
		const char *s;
		size_t len;
	} v[] = {
		{"a", 1}, {"\x7f", 1}, {"\xc3\xa9", 2}, {"\xe2\x82\xac", 3}, {"\xf0\x9f\x98\x80", 4},
		{"\xf4\x8f\xbf\xbf", 4},          /* U+10FFFF */
		{"\x80", 0}, {"\xc0\xaf", 0},     /* continuation first; overlong '/' */
		{"\xc3", 0}, {"\xe2\x82", 0},     /* cut short by the NUL */
		{"\xe0\x80\xaf", 0},              /* overlong */
		{"\xed\xa0\x80", 0},              /* surrogate */
		{"\xf4\x90\x80\x80", 0},          /* past U+10FFFF */
		{"\xf5\x80\x80\x80", 0}, {"\xff", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		cr_assert_eq(cfs_utf8_len(v[i].s), v[i].len, "case %zu", i);
}

/* ---- time ------------------------------------------------------------- */

static void assert_format(int64_t ns, const char *expect)
{
	char out[32];
	cr_assert_eq(cfs_time_format(ns, out, sizeof(out)), 0, "%lld", (long long)ns);
	cr_assert_str_eq(out, expect);
}

static void assert_parse(const char *s, int64_t expect)
{
	int64_t ns = 0x5555;
	cr_assert_eq(cfs_time_parse(s, &ns), 0, "\"%s\"", s);
	cr_assert_eq(ns, expect, "\"%s\": got %lld, want %lld", s, (long long)ns, (long long)expect);
}

Test(time, epoch)
{
	assert_format(0, "1970-01-01T00:00:00Z");
	assert_parse("1970-01-01T00:00:00Z", 0);
	assert_parse("1970-01-01T00:00:00+00:00", 0);
	assert_parse("1970-01-01T00:00:00z", 0);
}

Test(time, known_instants)
{
	assert_format(1795464000000000000, "2026-11-23T20:00:00Z");
	assert_parse("2026-11-23T20:00:00Z", 1795464000000000000);
	/* leap day */
	assert_parse("2024-02-29T12:00:00Z", 1709208000000000000);
	assert_format(1709208000999999999, "2024-02-29T12:00:00Z");
}

Test(time, before_1970)
{
	/* formatting rounds toward the past, not toward zero */
	assert_format(-1, "1969-12-31T23:59:59Z");
	assert_format(-1000000000, "1969-12-31T23:59:59Z");
	assert_format(-1000000001, "1969-12-31T23:59:58Z");
	assert_parse("1969-12-31T23:59:59Z", -1000000000);
	assert_parse("1969-12-31T23:59:59.5Z", -500000000);
	assert_parse("1969-12-31T23:59:59.999999999Z", -1);
	assert_format(-2208988800000000000, "1900-01-01T00:00:00Z");
	assert_parse("1900-01-01T00:00:00Z", -2208988800000000000);
}

Test(time, fractional_seconds)
{
	const int64_t base = 1795464000000000000;
	assert_parse("2026-11-23T20:00:00.1Z", base + 100000000);
	assert_parse("2026-11-23T20:00:00.000000001Z", base + 1);
	assert_parse("2026-11-23T20:00:00.123456789Z", base + 123456789);
	/* digits past nanoseconds are ignored, not rounded */
	assert_parse("2026-11-23T20:00:00.1234567899Z", base + 123456789);
	assert_parse("2026-11-23T20:00:00.5+00:00", base + 500000000);
	/* format is to the second */
	assert_format(base + 999999999, "2026-11-23T20:00:00Z");
}

/* int64 ns spans 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z. */
Test(time, range_limits)
{
	assert_format(INT64_MAX, "2262-04-11T23:47:16Z");
	assert_format(INT64_MIN, "1677-09-21T00:12:43Z");
	assert_parse("2262-04-11T23:47:16.854775807Z", INT64_MAX);
	assert_parse("1677-09-21T00:12:43.145224192Z", INT64_MIN);

	int64_t ns = 42;
	static const char *const out_of_range[] = {
		"2262-04-11T23:47:16.854775808Z",
		"2262-04-11T23:47:17Z",
		"1677-09-21T00:12:43.145224191Z",
		"1677-09-21T00:12:43Z",
		"9999-12-31T23:59:59Z",
		"0000-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < ARRAY_SIZE(out_of_range); i++) {
		cr_assert_eq(cfs_time_parse(out_of_range[i], &ns), -ERANGE, "\"%s\"", out_of_range[i]);
		cr_assert_eq(ns, 42, "output untouched on failure");
	}
}

Test(time, format_roundtrip)
{
	static const int64_t v[] = {0, 1, -1, 999999999, 1000000000, 86400000000000,
				    -86400000000000, 1795464000123456789, INT64_MAX};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char out[32];
		int64_t ns;
		cr_assert_eq(cfs_time_format(v[i], out, sizeof(out)), 0);
		cr_assert_eq(cfs_time_parse(out, &ns), 0, "\"%s\"", out);
		/* back to the start of the same second */
		int64_t sec = v[i] / 1000000000 - (v[i] < 0 && v[i] % 1000000000 ? 1 : 0);
		cr_assert_eq(ns, sec * 1000000000, "\"%s\"", out);
	}
}

Test(time, format_buffer_too_small)
{
	char out[20];
	cr_assert_eq(cfs_time_format(0, out, sizeof(out)), -ERANGE);
	char ok[21];
	cr_assert_eq(cfs_time_format(0, ok, sizeof(ok)), 0);
	cr_assert_str_eq(ok, "1970-01-01T00:00:00Z");
}

Test(time, parse_rejects_garbage)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"2026",
		"2026-11-23",
		"2026-11-23T20:00:00",        /* no zone */
		"2026-11-23T20:00:00ZZ",
		"2026-11-23T20:00:00Z ",
		"2026-11-23 20:00:00Z",       /* space separator */
		"2026-11-23t20:00:00Z",
		"2026-11-23T20:00:00+01:00",  /* only UTC */
		"2026-11-23T20:00:00-00:00",
		"2026-11-23T20:00:00.Z",      /* empty fraction */
		"2026-11-23T20:00:00.1.2Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-11-00T00:00:00Z",
		"2026-11-31T00:00:00Z",       /* November has 30 days */
		"2026-02-29T00:00:00Z",       /* not a leap year */
		"1900-02-29T00:00:00Z",       /* century, not a leap year */
		"2026-11-23T24:00:00Z",
		"2026-11-23T23:60:00Z",
		"2026-11-23T23:59:61Z",
		" 2026-11-23T20:00:00Z",      /* sscanf would skip spaces */
		"2026-11- 3T20:00:00Z",
		"2026-11-+3T20:00:00Z",
		"+2026-11-23T20:00:00Z",
		"-001-11-23T20:00:00Z",
		"20261-11-23T20:00:00Z",
		"2026-1-23T20:00:00Z",
		"2026-11-23T2:00:00Z",
		"2026/11/23T20:00:00Z",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t ns = 42;
		cr_assert_eq(cfs_time_parse(bad[i], &ns), -EINVAL, "\"%s\"", bad[i]);
		cr_assert_eq(ns, 42);
	}
	/* February 29 of a 400-year leap year is fine */
	assert_parse("2000-02-29T00:00:00Z", 951782400000000000);
}

Test(time, clocks)
{
	int64_t a = cfs_mono_ns(), b = cfs_mono_ns();
	cr_assert_geq(b, a);
	/* after 2020 and before 2262 */
	cr_assert_gt(cfs_now_ns(), 1577836800000000000);
}

/* The fake clock: honoured in the test build only (CFS_FAULT_INJECTION);
 * still, RFC 3339 or @SECONDS; anything else refused by cfs_now_fake and
 * ignored by cfs_now_ns. (Criterion runs each test in its own process, so
 * setenv stays here.) */
Test(time, fake_clock)
{
	int64_t ns = 42;
	cr_assert_eq(unsetenv("CHRONOFS_TEST_NOW"), 0);
	cr_assert_eq(cfs_now_fake(&ns), 0);
	cr_assert_eq(ns, 42);
#ifdef CFS_FAULT_INJECTION
	static const struct {
		const char *v;
		int r;
		int64_t ns;
	} t[] = {
		{"2026-03-02T06:00:00Z", 1, 1772431200000000000},
		{"2026-03-02T06:00:00.5Z", 1, 1772431200500000000},
		{"2026-03-02T06:00:00+00:00", 1, 1772431200000000000},
		{"2026-03-02T07:00:00+01:00", -EINVAL, 42}, /* UTC only */
		{"@1772431200", 1, 1772431200000000000},
		{"@0", 1, 0},
		{"", 0, 42},
		{"@", -EINVAL, 42},
		{"@-5", -EINVAL, 42},
		{"@12x", -EINVAL, 42},
		{"@99999999999", -EINVAL, 42}, /* past 2262 */
		{"2026-03-02", -EINVAL, 42},
		{"tomorrow", -EINVAL, 42},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		ns = 42;
		cr_assert_eq(setenv("CHRONOFS_TEST_NOW", t[i].v, 1), 0);
		cr_expect_eq(cfs_now_fake(&ns), t[i].r, "\"%s\"", t[i].v);
		cr_expect_eq(ns, t[i].ns, "\"%s\": %lld", t[i].v, (long long)ns);
		if (t[i].r == 1)
			cr_expect_eq(cfs_now_ns(), t[i].ns, "\"%s\"", t[i].v);
		else
			cr_expect_gt(cfs_now_ns(), 1577836800000000000, "\"%s\" is not ignored", t[i].v);
	}
#else
	cr_assert_eq(setenv("CHRONOFS_TEST_NOW", "@0", 1), 0);
	cr_assert_eq(cfs_now_fake(&ns), 0);
	cr_assert_gt(cfs_now_ns(), 1577836800000000000);
#endif
}

/* ---- files ------------------------------------------------------------ */

Test(files, mkdir_p, .init = setup, .fini = teardown)
{
	char p[4096], q[4096];
	struct stat st;

	umask(022);
	path_in_tmp(p, sizeof(p), "a/b/c");
	cr_assert_eq(cfs_mkdir_p(p, 0750), 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0750);
	path_in_tmp(q, sizeof(q), "a");
	cr_assert_eq(stat(q, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0750, "intermediate directories get the mode too");

	/* existing directories are fine, as are trailing and double slashes */
	cr_assert_eq(cfs_mkdir_p(p, 0700), 0);
	path_in_tmp(p, sizeof(p), "a//b/c/d/");
	cr_assert_eq(cfs_mkdir_p(p, 0700), 0);
	path_in_tmp(p, sizeof(p), "a/b/c/d");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(cfs_mkdir_p("/", 0755), 0);
	cr_assert_eq(cfs_mkdir_p(tmpdir, 0755), 0);

	/* a regular file in the way */
	path_in_tmp(p, sizeof(p), "file");
	write_file(p, "x", 1);
	cr_assert_eq(cfs_mkdir_p(p, 0755), -ENOTDIR);
	path_in_tmp(p, sizeof(p), "file/sub");
	cr_assert_eq(cfs_mkdir_p(p, 0755), -ENOTDIR);

	/* too long for the internal buffer */
	char longp[5000];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	cr_assert_eq(cfs_mkdir_p(longp, 0755), -ENAMETOOLONG);
}

static void assert_read(const char *content, size_t n, bool strip, const char *expect, size_t expect_len)
{
	char p[4096];
	char *got = NULL;
	size_t len = 12345;

	path_in_tmp(p, sizeof(p), "f");
	write_file(p, content, n);
	cr_assert_eq(cfs_read_file(p, strip, &got, &len), 0);
	cr_assert_eq(len, expect_len);
	cr_assert_eq(memcmp(got, expect, expect_len), 0);
	cr_assert_eq(got[len], 0, "result is NUL-terminated");
	free(got);
}

Test(files, read_file_strip_nl, .init = setup, .fini = teardown)
{
	assert_read("secret\n", 7, true, "secret", 6);
	assert_read("secret\n", 7, false, "secret\n", 7);
	assert_read("secret\r\n", 8, true, "secret", 6);
	assert_read("secret\n\n", 8, true, "secret\n", 7); /* only one newline */
	assert_read("secret", 6, true, "secret", 6);
	assert_read("secret\r", 7, true, "secret\r", 7);   /* a lone CR is content */
	assert_read("\n", 1, true, "", 0);
	assert_read("", 0, true, "", 0);
	assert_read("a\0b\n", 4, true, "a\0b", 3);       /* binary-safe length */
}

Test(files, read_file_large_and_missing, .init = setup, .fini = teardown)
{
	char p[4096];
	size_t n = 300000;
	char *big = malloc(n), *got = NULL;
	cr_assert_not_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	path_in_tmp(p, sizeof(p), "big");
	write_file(p, big, n);
	size_t len = 0;
	cr_assert_eq(cfs_read_file(p, true, &got, &len), 0);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(got, big, n), 0);
	free(got);
	got = NULL;
	cr_assert_eq(cfs_read_file(p, false, &got, NULL), 0, "ret_len may be NULL");
	cr_assert_eq(strlen(got), n);
	free(got);
	free(big);

	got = (char *)0x1;
	path_in_tmp(p, sizeof(p), "missing");
	cr_assert_eq(cfs_read_file(p, true, &got, &len), -ENOENT);
	cr_assert_eq(got, (char *)0x1, "ret untouched on failure");
}

Test(files, write_and_pread, .init = setup, .fini = teardown)
{
	char p[4096];
	char buf[16];
	path_in_tmp(p, sizeof(p), "rw");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(cfs_write_all(fd, "0123456789", 10), 0);
	cr_assert_eq(cfs_pwrite_all(fd, "AB", 2, 4), 0);
	cr_assert_eq(cfs_pread_full(fd, buf, 10, 0), 10);
	cr_assert_eq(memcmp(buf, "0123AB6789", 10), 0);
	/* short only at EOF */
	cr_assert_eq(cfs_pread_full(fd, buf, sizeof(buf), 6), 4);
	cr_assert_eq(cfs_pread_full(fd, buf, sizeof(buf), 100), 0);
	close(fd);
	cr_assert_eq(cfs_pread_full(fd, buf, 1, 0), -EBADF);
	cr_assert_eq(cfs_write_all(fd, "x", 1), -EBADF);

	cr_assert_eq(cfs_fsync_dir(tmpdir), 0);
	cr_assert_eq(cfs_fsync_dir(p), -ENOTDIR);
}

/* Entries of tmpdir, sorted, one per line ("" when empty). */
static void list_tmp(char *out, size_t n)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | tr '\\n' ' '", tmpdir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	size_t got = fread(out, 1, n - 1, f);
	out[got] = 0;
	pclose(f);
}

static void read_back(const char *name, const char *want)
{
	char p[4096], buf[64];
	path_in_tmp(p, sizeof(p), name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	ssize_t got = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_eq(got, (ssize_t)strlen(want));
	cr_assert_eq(memcmp(buf, want, strlen(want)), 0);
}

/* Both kinds (unnamed, and named as without O_TMPFILE): invisible until
 * linked, never replacing with noreplace, replacing without, and nothing
 * left by a release before the link. */
static void tmpfile_cases(bool unnamed)
{
	struct cfs_tmpfile t = CFS_TMPFILE_INIT;
	char ls[256];
	int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);

	cfs_tmpfile_release(&t); /* on CFS_TMPFILE_INIT: nothing */
	cr_assert_eq(cfs_tmpfile_open(dfd, ".tmp.", "a-very-long-hint", unnamed, &t), 0);
	cr_assert_eq(t.unnamed, unnamed);
	cr_assert_eq(cfs_write_all(t.fd, "one", 3), 0);
	list_tmp(ls, sizeof(ls));
	if (unnamed)
		cr_assert_str_empty(ls);
	else
		cr_assert_eq(strncmp(ls, ".tmp.a-very-long-hint.", 22), 0, "%s", ls);
	cr_assert_eq(cfs_tmpfile_link(&t, dfd, "final", true), 0);
	cr_assert_eq(cfs_tmpfile_link(&t, dfd, "again", true), -EBUSY);
	cfs_tmpfile_release(&t);
	cfs_tmpfile_release(&t);
	list_tmp(ls, sizeof(ls));
	cr_assert_str_eq(ls, "final ");

	/* noreplace: the existing name stays, the temporary goes. */
	cr_assert_eq(cfs_tmpfile_open(dfd, ".tmp.", "x", unnamed, &t), 0);
	cr_assert_eq(cfs_write_all(t.fd, "two", 3), 0);
	cr_assert_eq(cfs_tmpfile_link(&t, dfd, "final", true), -EEXIST);
	cfs_tmpfile_release(&t);
	read_back("final", "one");
	list_tmp(ls, sizeof(ls));
	cr_assert_str_eq(ls, "final ");

	/* replace */
	cr_assert_eq(cfs_tmpfile_open(dfd, ".tmp.", "x", unnamed, &t), 0);
	cr_assert_eq(cfs_write_all(t.fd, "three", 5), 0);
	cr_assert_eq(cfs_tmpfile_link(&t, dfd, "final", false), 0);
	cfs_tmpfile_release(&t);
	read_back("final", "three");
	list_tmp(ls, sizeof(ls));
	cr_assert_str_eq(ls, "final ");

	/* Released before the link: nothing left. */
	cr_assert_eq(cfs_tmpfile_open(dfd, ".tmp.", "x", unnamed, &t), 0);
	cfs_tmpfile_release(&t);
	list_tmp(ls, sizeof(ls));
	cr_assert_str_eq(ls, "final ");
	close(dfd);
}

Test(files, tmpfile_unnamed, .init = setup, .fini = teardown)
{
	tmpfile_cases(true);
}

Test(files, tmpfile_named, .init = setup, .fini = teardown)
{
	tmpfile_cases(false);
}

/* A message longer than the logger's line buffer (a path thousands of
 * directories deep) comes out whole, with the reason at its end. */
Test(log, long_line_whole, .init = cr_redirect_stderr)
{
	size_t n = 20000; /* > the 4 KiB buffer, < the redirection pipe's 64 KiB */
	char *path = malloc(n + 1);
	cr_assert_not_null(path);
	for (size_t i = 0; i < n; i++)
		path[i] = i % 201 == 0 ? '/' : 'd';
	path[n] = 0;
	cfs_log_set_program("test");
	cr_assert_eq(log_error_errno(-ENOSPC, "Cannot write %s: %m", path), -ENOSPC);
	fflush(stderr);
	FILE *f = cr_get_redirected_stderr();
	char *line = NULL;
	size_t cap = 0;
	ssize_t got = getline(&line, &cap, f);
	cr_assert_eq(got, (ssize_t)(strlen("test: error: Cannot write ") + n + strlen(": No space left on device\n")), "got %zd", got);
	cr_assert_eq(strncmp(line, "test: error: Cannot write /ddd", 30), 0);
	cr_assert_str_eq(line + got - 26, ": No space left on device\n");
	free(line);
	free(path);
}

/* The limit's bookkeeping, at given instants (timing belongs in
 * benchmarks): each reservation moves the clock on by n / rate, the wait
 * is how far the clock is ahead of now, idle time is saved up only to the
 * burst, and no limit means no clock at all. */
Test(ratelimit, clock_and_steps)
{
	const int64_t ms = 1000000, t0 = 1000000 * ms;
	struct cfs_ratelimit l;
	cfs_ratelimit_init(&l, 0);
	cr_assert_eq(cfs_ratelimit_reserve(&l, 1u << 30, t0), 0);
	cr_assert_eq(l.clock_ns, 0);
	cr_assert_eq(cfs_ratelimit_step(&l), SIZE_MAX);
	cfs_ratelimit_take(&l, 1u << 30); /* returns at once */
	cfs_ratelimit_release(&l);

	/* 1 MiB/s. */
	cfs_ratelimit_init(&l, 1u << 20);
	cr_assert_eq(CFS_RATELIMIT_BURST_NS, 100 * ms);
	/* 64 KiB (62.5 ms) fits the 100 ms burst: no wait. */
	cr_assert_eq(cfs_ratelimit_reserve(&l, 64 * 1024, t0), 0);
	cr_assert_eq(l.clock_ns, t0 - 100 * ms + 62500000);
	/* 64 KiB more at the same instant: 25 ms past now. */
	cr_assert_eq(cfs_ratelimit_reserve(&l, 64 * 1024, t0), 25 * ms);
	/* Three threads at once queue up behind each other. */
	cr_assert_eq(cfs_ratelimit_reserve(&l, 64 * 1024, t0), 87500000);
	cr_assert_eq(cfs_ratelimit_reserve(&l, 64 * 1024, t0 + 10 * ms), 140 * ms);
	/* After 10 s idle only the burst is saved up: 1 MiB waits 900 ms. */
	cr_assert_eq(cfs_ratelimit_reserve(&l, 1u << 20, t0 + 10000 * ms), 900 * ms);
	cr_assert_eq(cfs_ratelimit_step(&l), (size_t)(1u << 18));
	cfs_ratelimit_release(&l);

	/* Slow limits still move at least 1 KiB per step. */
	cfs_ratelimit_init(&l, 100);
	cr_assert_eq(cfs_ratelimit_step(&l), 1024);
	cfs_ratelimit_release(&l);
}

/* ---- times as people type them (cfs_time_parse_as_of) ----------------- */

#define S (INT64_C(1000000000))
#define END (S - 1) /* the last ns of a second */
/* 2026-12-06T23:17:03Z, 2026-12-06T23:59:59Z, 2026-12-06T10:00:59Z */
#define T231703 INT64_C(1796599023)
#define DAYEND INT64_C(1796601599)
#define T100059 INT64_C(1796551259)
/* a fixed "now": 2026-12-06T12:00:00.25Z */
#define NOW (INT64_C(1796558400) * S + 250000000)

struct as_of_case {
	const char *tz; /* TZ for the case; NULL: UTC */
	const char *s;
	unsigned flags;
	int ret;
	int64_t ns;
};

#define L CFS_TIME_LOCAL
#define R CFS_TIME_RELATIVE
#define LR (CFS_TIME_LOCAL | CFS_TIME_RELATIVE)

static const struct as_of_case as_of_cases[] = {
	/* the strict forms, now "as of" the end of their second */
	{NULL, "2026-12-06T23:17:03Z", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06T23:17:03z", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06t23:17:03+00:00", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06T23:17:03.5Z", 0, 0, T231703 * S + 599999999},
	{NULL, "2026-12-06T23:17:03.123456789Z", 0, 0, T231703 * S + 123456789},
	{NULL, "2026-12-06T23:17:03.1234567899Z", 0, 0, T231703 * S + 123456789},
	{NULL, "2026-12-06T23:17:03,000Z", 0, 0, T231703 * S + 999999},
	/* offsets of every form */
	{NULL, "2026-12-07T00:17:03+01:00", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06T22:17:03-01:00", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06T23:17:03+0000", 0, 0, T231703 * S + END},
	{NULL, "2026-12-07T00:17:03+0100", 0, 0, T231703 * S + END},
	{NULL, "2026-12-07T00:17:03+01", 0, 0, T231703 * S + END},
	{NULL, "2026-12-07T04:47:03+05:30", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06T23:17:03-00:00", 0, 0, T231703 * S + END},
	/* basic form, space separator */
	{NULL, "20261206T231703Z", 0, 0, T231703 * S + END},
	{NULL, "20261206t231703.5z", 0, 0, T231703 * S + 599999999},
	{NULL, "20261207T001703+0100", 0, 0, T231703 * S + END},
	{NULL, "2026-12-06 23:17:03Z", 0, 0, T231703 * S + END},
	/* minute, hour and day precision: the end of that minute, hour, day */
	{NULL, "2026-12-06T10:00Z", 0, 0, T100059 * S + END},
	{NULL, "2026-12-06T10:00+00:00", 0, 0, T100059 * S + END},
	{NULL, "20261206T1000Z", 0, 0, T100059 * S + END},
	{NULL, "2026-12-06T10Z", 0, 0, (T100059 + 3540) * S + END},
	{NULL, "2026-12-06", 0, 0, DAYEND * S + END},
	{NULL, "20261206", 0, 0, DAYEND * S + END},
	/* no offset: UTC without CFS_TIME_LOCAL, whatever TZ says */
	{"Europe/Berlin", "2026-12-06T23:17:03", 0, 0, T231703 * S + END},
	{"Europe/Berlin", "2026-12-06", 0, 0, DAYEND * S + END},
	/* local time (CET is +01:00, EST -05:00) */
	{NULL, "2026-12-06T23:17:03", L, 0, T231703 * S + END},
	{"Europe/Berlin", "2026-12-06T23:17:03", L, 0, (T231703 - 3600) * S + END},
	{"Europe/Berlin", "2026-12-06", L, 0, (DAYEND - 3600) * S + END},
	{"Europe/Berlin", "2026-12-06 10:00", L, 0, (T100059 - 3600) * S + END},
	{"America/New_York", "2026-12-06", L, 0, (DAYEND + 5 * 3600) * S + END},
	/* an offset wins over TZ */
	{"Europe/Berlin", "2026-12-06T23:17:03Z", L, 0, T231703 * S + END},
	/* DST in Berlin: 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z; the
	 * gap reads as the last instant before the jump */
	{"Europe/Berlin", "2026-03-29T02:30", L, 0, INT64_C(1774746000) * S - 1},
	{"Europe/Berlin", "2026-03-29T01:59:59", L, 0, INT64_C(1774745999) * S + END},
	{"Europe/Berlin", "2026-03-29T03:00:00", L, 0, INT64_C(1774746000) * S + END},
	/* 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z: the overlap reads as
	 * the later occurrence (01:30Z, not 00:30Z) */
	{"Europe/Berlin", "2026-10-25T02:30", L, 0, (INT64_C(1792890000) + 1800 + 59) * S + END},
	{"Europe/Berlin", "2026-10-25T01:59:59", L, 0, (INT64_C(1792890000) - 3600 - 1) * S + END},
	/* Samoa skipped 2011-12-30: its end is the instant before the jump */
	{"Pacific/Apia", "2011-12-30", L, 0, INT64_C(1325239200) * S - 1},
	/* clamping, every form */
	{NULL, "2262-04-11T23:47:16.854775807Z", 0, 0, INT64_MAX},
	{NULL, "2262-04-11T23:47:16Z", 0, 0, INT64_MAX},
	{NULL, "2262-04-11T23:47:17Z", 0, 0, INT64_MAX},
	{NULL, "2300-01-01T00:00:00Z", 0, 0, INT64_MAX},
	{NULL, "9999-12-31T23:59:59Z", 0, 0, INT64_MAX},
	{NULL, "9999-12-31", L, 0, INT64_MAX},
	{NULL, "23000101T0000+0100", 0, 0, INT64_MAX},
	{NULL, "1677-09-21T00:12:43.145224192Z", 0, 0, INT64_MIN},
	{NULL, "1677-09-21T00:12:43.145Z", 0, 0, INT64_MIN + 775807},
	{NULL, "1677-09-21T00:12:42Z", 0, 0, INT64_MIN},
	{NULL, "0000-01-01T00:00:00Z", 0, 0, INT64_MIN},
	{NULL, "1600-01-01", L, 0, INT64_MIN},
	{NULL, "-99999999999w", R, 0, INT64_MIN},
	{NULL, "-999999999999999999999999d", R, 0, INT64_MIN},
	/* relative, from the fixed now */
	{NULL, "now", R, 0, NOW},
	{NULL, "NOW", R, 0, NOW},
	{NULL, "-2h", R, 0, NOW - 2 * 3600 * S},
	{NULL, "now-2h", R, 0, NOW - 2 * 3600 * S},
	{NULL, "-30m", R, 0, NOW - 30 * 60 * S},
	{NULL, "-45s", R, 0, NOW - 45 * S},
	{NULL, "-3d", R, 0, NOW - 3 * 86400 * S},
	{NULL, "-1w", R, 0, NOW - 7 * 86400 * S},
	{NULL, "-0s", R, 0, NOW},
	{NULL, "today", R, 0, DAYEND * S + END},
	{NULL, "yesterday", R, 0, (DAYEND - 86400) * S + END},
	{NULL, "Yesterday", LR, 0, (DAYEND - 86400) * S + END},
	{"Europe/Berlin", "today", LR, 0, (DAYEND - 3600) * S + END},
	{"Europe/Berlin", "yesterday", LR, 0, (DAYEND - 86400 - 3600) * S + END},
	/* at 12:00Z it is already Dec 7 in Kiritimati (+14:00) */
	{"Pacific/Kiritimati", "yesterday", LR, 0, (DAYEND - 14 * 3600) * S + END},
	/* relative forms only when asked for (the mount's names) */
	{NULL, "now", L, -EINVAL, 0},
	{NULL, "-2h", 0, -EINVAL, 0},
	{NULL, "yesterday", L, -EINVAL, 0},
	/* not times */
	{NULL, "", LR, -EINVAL, 0},
	{NULL, "garbage", LR, -EINVAL, 0},
	{NULL, "latest", LR, -EINVAL, 0},
	{NULL, "2026", LR, -EINVAL, 0},
	{NULL, "2026-12", LR, -EINVAL, 0},
	{NULL, "202612", LR, -EINVAL, 0},
	{NULL, "2026120", LR, -EINVAL, 0},
	{NULL, "2026-12-06T", LR, -EINVAL, 0},
	{NULL, "2026-12-06 ", LR, -EINVAL, 0},
	{NULL, "2026-12-06  10:00", LR, -EINVAL, 0},
	{NULL, "2026-12-06Z", LR, -EINVAL, 0},
	{NULL, "2026-12-06T1", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:0Z", LR, -EINVAL, 0},
	{NULL, "2026-12-06T1000Z", LR, -EINVAL, 0},     /* basic time after an extended date */
	{NULL, "20261206T10:00Z", LR, -EINVAL, 0},      /* and the reverse */
	{NULL, "2026-12-06T10:00:00.Z", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00.5Z", LR, -EINVAL, 0},  /* a fraction needs seconds */
	{NULL, "2026-12-06T10:00:00ZZ", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00Z ", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00+1", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00+01:0", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00+24:00", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00+01:60", LR, -EINVAL, 0},
	{NULL, "2026-12-06T10:00:00+01:00:00", LR, -EINVAL, 0},
	{NULL, "2026-12-06T24:00Z", LR, -EINVAL, 0},
	{NULL, "2026-12-06T23:60Z", LR, -EINVAL, 0},
	{NULL, "2026-12-06T23:59:61Z", LR, -EINVAL, 0},
	{NULL, "2026-02-29", LR, -EINVAL, 0},
	{NULL, "2026-13-01", LR, -EINVAL, 0},
	{NULL, "2026-11-31T00:00Z", LR, -EINVAL, 0},
	{NULL, " 2026-12-06", LR, -EINVAL, 0},
	{NULL, "2026/12/06", LR, -EINVAL, 0},
	{NULL, "+2026-12-06", LR, -EINVAL, 0},
	{NULL, "-2", LR, -EINVAL, 0},
	{NULL, "-2y", LR, -EINVAL, 0},
	{NULL, "-2hh", LR, -EINVAL, 0},
	{NULL, "- 2h", LR, -EINVAL, 0},
	{NULL, "-h", LR, -EINVAL, 0},
	{NULL, "now-", LR, -EINVAL, 0},
	{NULL, "now+2h", LR, -EINVAL, 0},
	{NULL, "nowadays", LR, -EINVAL, 0},
	{NULL, "tomorrow", LR, -EINVAL, 0},
};

/* Criterion runs each test in its own process: TZ set here stays there.
 * No tzset(): the parser must follow TZ as it is at the call. */
static void set_tz(const char *tz)
{
	setenv("TZ", tz ? tz : "UTC", 1);
}

Test(time, parse_as_of_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(as_of_cases); i++) {
		const struct as_of_case *c = &as_of_cases[i];
		int64_t ns = 42;
		set_tz(c->tz);
		int r = cfs_time_parse_as_of(c->s, c->flags, NOW, &ns);
		cr_expect_eq(r, c->ret, "\"%s\" (TZ %s, flags %u): returned %d, want %d", c->s, c->tz ? c->tz : "UTC",
			     c->flags, r, c->ret);
		if (c->ret == 0)
			cr_expect_eq(ns, c->ns, "\"%s\" (TZ %s, flags %u): got %lld, want %lld (off by %lld ns)", c->s,
				     c->tz ? c->tz : "UTC", c->flags, (long long)ns, (long long)c->ns,
				     (long long)(ns - c->ns));
		else
			cr_expect_eq(ns, 42, "\"%s\": output written on failure", c->s);
	}
}

/* Every strict form means the end of its second, so a snapshot named by
 * its time is in effect at its own name, also one made late in it. */
Test(time, parse_as_of_covers_strict)
{
	static const int64_t v[] = {0, 1, -1, 1795464000123456789, -2208988800000000000};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char out[32];
		int64_t strict, as_of;
		cr_assert_eq(cfs_time_format(v[i], out, sizeof(out)), 0);
		cr_assert_eq(cfs_time_parse(out, &strict), 0);
		cr_assert_eq(cfs_time_parse_as_of(out, 0, 0, &as_of), 0);
		cr_assert_eq(as_of, strict + END, "\"%s\"", out);
		cr_assert_geq(as_of, v[i]);
	}
}
