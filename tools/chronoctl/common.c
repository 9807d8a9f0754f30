/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "chronofs/log.h"
#include "chronoctl.h"
#include "../common/cli.h"

int get_password(bool confirm, char **ret, size_t *ret_len)
{
	return cli_get_password(g_opts.password_file, confirm, ret, ret_len);
}

int strs_add(void *ud, const char *s)
{
	struct strs *l = ud;
	char **v = reallocarray(l->v, l->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strdup(s);
	if (!v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void strs_release(struct strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct strs){0};
}

int open_repo_flags(bool writer, enum open_flags flags, struct cfs_repo **ret)
{
	struct cfs_repo_open_options o = {
		.location = cli_repo_location(g_opts.repo),
		.cache_dir = g_opts.cache_dir,
		.lock_wait_sec = g_opts.lock_wait_sec,
		.writer = writer,
		.store = &g_opts.store,
		.rebuild_catalog = flags & OPEN_REBUILD_CATALOG,
		.disk_cache_bytes = g_opts.disk_cache_bytes,
		.allow_damaged = flags & OPEN_ALLOW_DAMAGED,
	};
	return cli_open_repo(&o, g_opts.password_file, ret);
}

int open_repo_with(bool writer, bool rebuild_catalog, struct cfs_repo **ret)
{
	/* A rebuild reads what it can and says what it could not. */
	return open_repo_flags(writer, rebuild_catalog ? OPEN_REBUILD_CATALOG | OPEN_ALLOW_DAMAGED : 0, ret);
}

int open_repo(bool writer, struct cfs_repo **ret)
{
	return open_repo_with(writer, false, ret);
}

int parse_flag_options(int argc, char **argv, void (*usage)(FILE *f), const struct verb_flag *flags, size_t nflags,
		       int nargs)
{
	/* The global options, the verb's flags (values 1..nflags), --help. */
	static const struct option global[] = {GLOBAL_LONG_OPTIONS};
	struct option opts[ARRAY_SIZE(global) + VERB_FLAGS_MAX + 2];
	int c, e;
	if (nflags > VERB_FLAGS_MAX)
		return -EINVAL;
	memcpy(opts, global, sizeof(global));
	for (size_t i = 0; i < nflags; i++)
		opts[ARRAY_SIZE(global) + i] =
			(struct option){flags[i].name, flags[i].arg || flags[i].add ? required_argument : no_argument,
					NULL, (int)i + 1};
	opts[ARRAY_SIZE(global) + nflags] = (struct option){"help", no_argument, NULL, 'h'};
	opts[ARRAY_SIZE(global) + nflags + 1] = (struct option){0};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if ((e = handle_global_option(c, optarg)) != 0) {
			if (e < 0)
				return e;
			continue;
		}
		if (c >= 1 && (size_t)c <= nflags) {
			if (flags[c - 1].add) {
				if ((e = flags[c - 1].add(flags[c - 1].ud, optarg)) < 0)
					return log_error_errno(e, "Cannot take --%s %s: %m", flags[c - 1].name, optarg);
			} else if (flags[c - 1].arg) {
				*flags[c - 1].arg = optarg;
			} else {
				*flags[c - 1].value = true;
			}
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		usage(stderr);
		return -EINVAL;
	}
	if (nargs >= 0 && argc - optind != nargs) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

int parse_simple_options(int argc, char **argv, void (*usage)(FILE *f), bool *json, int nargs)
{
	const struct verb_flag f = {"json", json};
	return parse_flag_options(argc, argv, usage, &f, json ? 1 : 0, nargs);
}

int dispatch_subverb(const char *verb, int argc, char **argv, const struct subverb *v, size_t n,
		     void (*usage)(FILE *f))
{
	if (argc < 2) {
		usage(stderr);
		return -EINVAL;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], v[i].name) == 0)
			return v[i].fn(argc - 1, argv + 1);
	usage(stderr);
	return log_error_errno(-EINVAL, "Unknown %s verb \"%s\"", verb, argv[1]);
}
