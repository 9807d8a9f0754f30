/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "repo/repo-internal.h"

int cfs_repo_config_encode(const struct cfs_repo_config *c, uint8_t out[CFS_CONFIG_SIZE])
{
	memset(out, 0, CFS_CONFIG_SIZE);
	memcpy(out, CFS_CONFIG_MAGIC, 8);
	cfs_put_le32(out + 8, c->version);
	out[12] = (uint8_t)c->encryption;
	out[13] = (uint8_t)c->zstd_level;
	memcpy(out + 16, c->repo_id.b, CFS_ID_SIZE);
	cfs_put_le32(out + 48, c->chunk_min);
	cfs_put_le32(out + 52, c->chunk_avg);
	cfs_put_le32(out + 56, c->chunk_max);
	return 0;
}

int cfs_repo_config_decode(const void *p, size_t n, struct cfs_repo_config *ret)
{
	const uint8_t *b = p;
	struct cfs_repo_config c = {0};

	if (n < 12 || memcmp(b, CFS_CONFIG_MAGIC, 8) != 0)
		return -EMEDIUMTYPE;
	c.version = cfs_get_le32(b + 8);
	if (c.version > CFS_REPO_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (c.version < CFS_REPO_FORMAT_VERSION_MIN || n != CFS_CONFIG_SIZE)
		return -EPROTO;
	/* Reserved bytes must be zero, so a later version that gives them a
	 * meaning is refused rather than half-understood. */
	if (b[14] || b[15] || cfs_get_le32(b + 60) != 0)
		return -EPROTO;
	if (b[12] != CFS_ENC_NONE && b[12] != CFS_ENC_AES256GCM)
		return -EPROTO;
	c.encryption = b[12];
	c.zstd_level = b[13];
	if (c.zstd_level < 1 || c.zstd_level > 19)
		return -EPROTO;
	memcpy(c.repo_id.b, b + 16, CFS_ID_SIZE);
	c.chunk_min = cfs_get_le32(b + 48);
	c.chunk_avg = cfs_get_le32(b + 52);
	c.chunk_max = cfs_get_le32(b + 56);
	*ret = c;
	return 0;
}
