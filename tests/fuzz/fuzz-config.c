/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c — cfs_repo_config_decode() on arbitrary bytes.
 *
 * Invariants: only the documented errors; an accepted config holds values
 * this version knows, and encoding it gives back the input except for the
 * reserved bytes (14..15, 60..63), which the encoder writes as zero.
 */
#include <string.h>

#include "repo/repo-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfs_repo_config c, c2;
	uint8_t out[CFS_CONFIG_SIZE], in[CFS_CONFIG_SIZE];
	int r;

	r = cfs_repo_config_decode(data, size, &c);
	FUZZ_CHECK(r == 0 || r == -EMEDIUMTYPE || r == -EPROTONOSUPPORT || r == -EPROTO);
	if (r < 0)
		return 0;

	FUZZ_CHECK(size == CFS_CONFIG_SIZE);
	FUZZ_CHECK(c.version >= 1 && c.version <= CFS_REPO_FORMAT_VERSION);
	FUZZ_CHECK(c.encryption == CFS_ENC_NONE || c.encryption == CFS_ENC_AES256GCM);
	FUZZ_CHECK(c.zstd_level >= 1 && c.zstd_level <= 19);

	FUZZ_CHECK(cfs_repo_config_encode(&c, out) == 0);
	memcpy(in, data, CFS_CONFIG_SIZE);
	memset(in + 14, 0, 2);
	memset(in + 60, 0, 4);
	FUZZ_CHECK(memcmp(in, out, CFS_CONFIG_SIZE) == 0);
	FUZZ_CHECK(cfs_repo_config_decode(out, sizeof(out), &c2) == 0);
	FUZZ_CHECK(memcmp(&c, &c2, sizeof(c)) == 0);
	return 0;
}
