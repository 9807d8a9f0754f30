/* SPDX-License-Identifier: MIT */
#include "chronoctl.h"
#include "../common/cli.h"

int get_password(bool confirm, char **ret, size_t *ret_len)
{
	return cli_get_password(g_opts.password_file, confirm, ret, ret_len);
}

int open_repo_with(bool writer, bool rebuild_catalog, struct cfs_repo **ret)
{
	struct cfs_repo_open_options o = {
		.location = cli_repo_location(g_opts.repo),
		.cache_dir = g_opts.cache_dir,
		.lock_wait_sec = g_opts.lock_wait_sec,
		.writer = writer,
		.store = &g_opts.store,
		.rebuild_catalog = rebuild_catalog,
		.disk_cache_bytes = g_opts.disk_cache_bytes,
	};
	return cli_open_repo(&o, g_opts.password_file, ret);
}

int open_repo(bool writer, struct cfs_repo **ret)
{
	return open_repo_with(writer, false, ret);
}

int parse_global_only(int argc, char **argv, void (*usage)(FILE *f))
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c, e;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if ((e = handle_global_option(c, optarg)) != 0) {
			if (e < 0)
				return e;
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}
