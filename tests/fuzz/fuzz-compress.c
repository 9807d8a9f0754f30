/* SPDX-License-Identifier: MIT */
/*
 * fuzz-compress.c — cfs_decompress() on arbitrary stored bytes.
 *
 * Input: byte 0 the codec (any value, so unknown codecs are tried too),
 * bytes 1..4 raw_len (LE, capped at 1 MiB to bound the output buffer), the
 * rest the payload.
 *
 * Invariants: only the documented errors; on success exactly raw_len bytes
 * (the payload itself for CFS_CODEC_RAW); on failure the output is empty;
 * and whatever decoded, compressed again and decoded, gives the same bytes.
 */
#include <string.h>

#include "chronofs/compress.h"
#include "fuzz.h"

#define RAW_LEN_CAP (1u << 20)

/* One for the whole run: reachable until exit, so not a leak. */
static struct cfs_compressor *compressor(void)
{
	static struct cfs_compressor *c;
	if (!c && cfs_compressor_new(3, &c) < 0)
		abort();
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_buf_ struct cfs_buf out = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf z = CFS_BUF_INIT;
	_cleanup_buf_ struct cfs_buf back = CFS_BUF_INIT;
	enum cfs_codec codec, codec2;
	size_t raw_len;
	int r;

	if (size < 5)
		return 0;
	codec = (enum cfs_codec)data[0];
	raw_len = CFS_MIN(cfs_get_le32(data + 1), RAW_LEN_CAP);
	data += 5;
	size -= 5;

	r = cfs_decompress(compressor(), codec, NULL, data, size, raw_len, &out);
	if (r < 0) {
		FUZZ_CHECK(r == -EBADMSG || r == -EPROTO || r == -ENOMEM);
		FUZZ_CHECK(r != -EPROTO || (codec != CFS_CODEC_RAW && codec != CFS_CODEC_ZSTD && codec != CFS_CODEC_ZSTD_DICT));
		FUZZ_CHECK(out.len == 0);
		return 0;
	}
	FUZZ_CHECK(codec == CFS_CODEC_RAW || codec == CFS_CODEC_ZSTD);
	FUZZ_CHECK(out.len == raw_len);
	if (codec == CFS_CODEC_RAW)
		FUZZ_CHECK(size == raw_len && (size == 0 || memcmp(out.data, data, size) == 0));

	FUZZ_CHECK(cfs_compress(compressor(), NULL, out.data, out.len, &z, &codec2) == 0);
	FUZZ_CHECK(cfs_decompress(compressor(), codec2, NULL, z.data, z.len, out.len, &back) == 0);
	FUZZ_CHECK(back.len == out.len && (out.len == 0 || memcmp(back.data, out.data, out.len) == 0));
	return 0;
}
