/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/log.h"
#include "chronoctl.h"
#include "../common/cli.h"
#include "../common/config.h"

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

int load_config(bool required, struct cli_config **ret)
{
	const char *env = getenv("CHRONOFS_CONFIG");
	const char *path = g_opts.config ? g_opts.config : env && *env ? env : NULL;
	if (!path && !required && access(CLI_CONFIG_DEFAULT_PATH, F_OK) < 0 && errno == ENOENT) {
		*ret = NULL;
		return 0;
	}
	return cli_config_load(path, ret);
}

int config_repo(const char *repo, struct cli_config **ret_config, const struct cli_config_repo **ret)
{
	_cleanup_(cli_config_freep) struct cli_config *c = NULL;
	*ret_config = NULL;
	*ret = NULL;
	/* A path or URL has a '/'; a name never has. */
	if (!repo || !*repo || strchr(repo, '/'))
		return 0;
	int e = load_config(false, &c);
	if (e < 0 || !c)
		return e;
	const struct cli_config_repo *r = cli_config_repo(c, repo);
	if (!r) {
		if (access(repo, F_OK) == 0)
			return 0; /* a directory here of that name: a location */
		const char *near = cli_config_repo_near(c, repo);
		if (near)
			return log_error_errno(-ENOENT, "No repository \"%s\" in %s (did you mean \"%s\"?), and no directory "
							"of that name here",
					       repo, c->path, near);
		return log_error_errno(-ENOENT, "No repository \"%s\" in %s, and no directory of that name here (a "
						"location in the current directory is written ./%s)",
				       repo, c->path, repo);
	}
	*ret = r;
	*ret_config = TAKE_PTR(c);
	return 0;
}

int repo_target_get(struct repo_target *t)
{
	*t = (struct repo_target){
		.location = cli_repo_location(g_opts.repo),
		.password_file = g_opts.password_file,
		.cache_dir = g_opts.cache_dir,
		.store = g_opts.store,
		.disk_cache_bytes = g_opts.disk_cache_bytes,
	};
	const struct cli_config_repo *cr = NULL;
	int e = config_repo(t->location, &t->config, &cr);
	if (e < 0 || !cr)
		return e;
	log_debug("Repository %s of %s: %s", cr->name, t->config->path, cr->location);
	repo_target_apply(t, cr);
	return 0;
}

void repo_target_apply(struct repo_target *t, const struct cli_config_repo *cr)
{
	/* A [repository NAME] fills in what the command line left unsaid. */
	t->location = cr->location;
	t->cache_dir = t->cache_dir ? t->cache_dir : cr->cache_dir;
	t->password_file = t->password_file ? t->password_file : cr->password_file;
	t->store.transfers = t->store.transfers ? t->store.transfers : cr->transfers;
	if (!g_opts.limit_upload_set)
		t->store.limit_upload = cr->limit_upload;
	if (!g_opts.limit_download_set)
		t->store.limit_download = cr->limit_download;
	if (!g_opts.disk_cache_set && cr->has_disk_cache)
		t->disk_cache_bytes = cr->disk_cache_bytes;
	/* Its S3 service: no option says otherwise. */
	cli_config_repo_store(cr, &t->store);
}

void repo_target_release(struct repo_target *t)
{
	t->config = cli_config_free(t->config);
}

int open_repo_flags(bool writer, enum open_flags flags, struct cfs_repo **ret)
{
	_cleanup_(repo_target_release) struct repo_target t = {0};
	int e = repo_target_get(&t);
	if (e < 0)
		return e;
	struct cfs_repo_open_options o = {
		.location = t.location,
		.cache_dir = t.cache_dir,
		.lock_wait_sec = g_opts.lock_wait_sec,
		.writer = writer,
		.store = &t.store,
		.rebuild_catalog = flags & OPEN_REBUILD_CATALOG,
		.disk_cache_bytes = t.disk_cache_bytes,
		.allow_damaged = flags & OPEN_ALLOW_DAMAGED,
	};
	return cli_open_repo(&o, t.password_file, ret);
}

int open_config_repo(const struct cli_config_repo *cr, bool writer, int lock_wait_sec, struct cfs_repo **ret)
{
	struct repo_target t = {
		.password_file = g_opts.password_file,
		.cache_dir = g_opts.cache_dir,
		.store = g_opts.store,
		.disk_cache_bytes = g_opts.disk_cache_bytes,
	};
	repo_target_apply(&t, cr);
	struct cfs_repo_open_options o = {
		.location = t.location,
		.cache_dir = t.cache_dir,
		.lock_wait_sec = lock_wait_sec,
		.writer = writer,
		.store = &t.store,
		.disk_cache_bytes = t.disk_cache_bytes,
	};
	return cli_open_repo(&o, t.password_file, ret);
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

static int parse_options(int argc, char **argv, void (*usage)(FILE *f), const struct verb_flag *flags, size_t nflags,
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

/* "-2h", "-30m", "-3d": a relative time (SNAP), not options, whatever their
 * place: no option is a digit. getopt sees them without the '-' (a
 * pointer one byte on, which it only moves around) and they get it back
 * after. */
static bool relative_time_arg(const char *a)
{
	if (a[0] != '-' || !(a[1] >= '0' && a[1] <= '9'))
		return false;
	a += strspn(a + 1, "0123456789") + 1;
	return strchr("smhdw", a[0]) && a[0] && !a[1];
}

int parse_flag_options(int argc, char **argv, void (*usage)(FILE *f), const struct verb_flag *flags, size_t nflags,
		       int nargs)
{
	char *hidden[16];
	size_t n = 0;
	for (int i = 1; i < argc && n < ARRAY_SIZE(hidden) && strcmp(argv[i], "--") != 0; i++)
		if (relative_time_arg(argv[i]))
			hidden[n++] = ++argv[i];
	int e = parse_options(argc, argv, usage, flags, nflags, nargs);
	for (size_t k = 0; k < n; k++) {
		for (int i = 0; i < argc; i++)
			if (argv[i] == hidden[k])
				argv[i]--;
		/* one that was an option's value ("--reason -3d") */
		for (size_t f = 0; f < nflags; f++)
			if (flags[f].arg && *flags[f].arg == hidden[k])
				(*flags[f].arg)--;
	}
	return e;
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
		if (strcmp(argv[1], v[i].name) == 0) {
			argv[1] = argv[0]; /* the program's name, for getopt's messages */
			return v[i].fn(argc - 1, argv + 1);
		}
	usage(stderr);
	const char *names[SUBVERBS_MAX];
	for (size_t i = 0; i < n && i < SUBVERBS_MAX; i++)
		names[i] = v[i].name;
	const char *near = cli_did_you_mean(argv[1], names, CFS_MIN(n, (size_t)SUBVERBS_MAX));
	if (near)
		return log_error_errno(-EINVAL, "Unknown %s verb \"%s\" (did you mean \"%s %s\"?)", verb, argv[1],
				       verb, near);
	return log_error_errno(-EINVAL, "Unknown %s verb \"%s\"", verb, argv[1]);
}
