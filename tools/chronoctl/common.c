/* SPDX-License-Identifier: MIT */
#include "chronoctl.h"
#include "../common/cli.h"

int get_password(bool confirm, char **ret, size_t *ret_len)
{
	return cli_get_password(g_opts.password_file, confirm, ret, ret_len);
}

int open_repo(bool writer, struct cfs_repo **ret)
{
	return cli_open_repo(cli_repo_location(g_opts.repo), g_opts.cache_dir, g_opts.password_file, NULL,
			     g_opts.lock_wait_sec, writer, &g_opts.store, ret);
}
