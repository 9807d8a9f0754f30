/* SPDX-License-Identifier: MIT */
/*
 * config.h — the configuration file, /etc/chronofs/chronofs.conf
 * (chronofs.conf(5)): repositories, tiers and jobs, loaded and validated
 * as a whole. libinih's only user is config.c.
 *
 * A loaded struct cli_config is complete and consistent: every job names
 * an existing tier and at least one repository, every calendar parsed,
 * every path absolute. Either all of the file is taken or nothing: a load
 * that finds any error logs every one of them as "FILE:LINE: reason" and
 * returns no configuration.
 *
 * Threading: load and free from one thread; a loaded configuration is
 * read-only and may be read from several. The load sets libinih's
 * process-wide options (ini_allow_multiline and the like) for its call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chronofs/objstore.h"
#include "chronofs/policy.h"

struct cfs_calendar;

/* The file read when neither --config nor $CHRONOFS_CONFIG names one. */
#define CLI_CONFIG_DEFAULT_PATH "/etc/chronofs/chronofs.conf"
/* A job's hook_timeout when the file gives none. */
#define CLI_CONFIG_HOOK_TIMEOUT_NS (INT64_C(300) * 1000000000)

struct cli_config_repo {
	char *name, *location, *password_file, *cache_dir; /* owned; NULL when not set */
	bool offsite;
	unsigned transfers;                    /* 0: the default */
	uint64_t limit_upload, limit_download; /* bytes/s, 0: none (keys in KiB/s as the CLI) */
	uint64_t disk_cache_bytes;
	bool has_disk_cache;
	/* An s3:// location's own service (s3_endpoint, s3_region,
	 * s3_ca_bundle, s3_credentials_file; owned, NULL when not set) and
	 * addressing (s3_path_style): what is not set is the environment's
	 * (struct cfs_objstore_options says how each one applies). Only an
	 * s3:// location has them: the load refuses them elsewhere. */
	char *s3_endpoint, *s3_region, *s3_ca_bundle, *s3_credentials_file;
	enum cfs_s3_path_style s3_path_style;
	unsigned line; /* where its section starts */
};

struct cli_config_tier {
	char *name;
	struct cfs_calendar *schedule;                          /* never NULL */
	struct cfs_calendar *full, *differential, *incremental; /* NULL: never */
	struct cfs_calendar *prune;                             /* NULL: never */
	bool keep_forever;                                      /* keep = forever: never forget */
	struct cfs_keep_rules keep;                             /* its tags point into owned storage */
	char *keep_text;                                        /* as written/normalized, for printing */
	unsigned copies;                                        /* >= 1, default 1 */
	int64_t rpo_ns, rto_ns;                                 /* 0: no target */
	bool builtin_only;                                      /* not in the file: defaults as built in */
	unsigned line;                                          /* 0 when builtin_only */
	void *keep_storage; /* owned: what keep.tags point into (cfs_keep_rules_parse) */
};

struct cli_config_stream {
	char *path, *command; /* owned */
};

struct cli_config_job {
	char *name;
	const struct cli_config_tier *tier;   /* "normal" when not set */
	const struct cli_config_repo **repos; /* owned array of borrowed entries of cli_config.repos */
	size_t n_repos;                       /* >= 1; [0] is where it backs up, the rest get copies */
	char **paths;                         /* normalized absolute paths */
	size_t n_paths;
	char **excludes;
	size_t n_excludes;
	struct cli_config_stream *streams;
	size_t n_streams;
	char **tags;
	size_t n_tags;
	bool one_file_system, exclude_caches;
	char *pre_hook, *post_hook; /* shell commands, NULL: none */
	int64_t hook_timeout_ns;    /* default CLI_CONFIG_HOOK_TIMEOUT_NS (5 min) */
	unsigned line;
};

struct cli_config {
	char *path;      /* the file read */
	char *state_dir; /* [global] state_dir; default /var/lib/chronofs (root) or
			    $XDG_STATE_HOME/chronofs, ~/.local/state/chronofs */
	unsigned jobs;   /* [global] jobs = N, default 1 */
	struct cli_config_repo *repos;
	size_t n_repos;
	struct cli_config_tier *tiers; /* the four built-in ones always present, first */
	size_t n_tiers;
	struct cli_config_job *jobs_v;
	size_t n_jobs;
};

/*
 * Load the file: `path` if not NULL, else $CHRONOFS_CONFIG (when set and
 * not empty), else CLI_CONFIG_DEFAULT_PATH. Every error is logged as
 * "FILE:LINE: reason" (sorted by line); on any error nothing is returned
 * (-EINVAL after logging all of them). -ENOENT (logged) when the file
 * does not exist, other -errno (logged) when it cannot be read, -ENOMEM.
 * *ret (free with cli_config_free) is written only on success.
 */
int cli_config_load(const char *path, struct cli_config **ret);
/* NULL ok; returns NULL. */
struct cli_config *cli_config_free(struct cli_config *c);
void cli_config_freep(struct cli_config **c);

/* The entry of that name, or NULL; borrowed from c. */
const struct cli_config_job *cli_config_job(const struct cli_config *c, const char *name);
const struct cli_config_tier *cli_config_tier(const struct cli_config *c, const char *name);
const struct cli_config_repo *cli_config_repo(const struct cli_config *c, const char *name);
/* Set o's S3 settings (the s3_* fields) to r's; the others are left as
 * they are. o borrows r's strings. */
void cli_config_repo_store(const struct cli_config_repo *r, struct cfs_objstore_options *o);
/* The repository name of c that `name` is most likely a typo of, or NULL:
 * for "did you mean". Borrowed from c. */
const char *cli_config_repo_near(const struct cli_config *c, const char *name);

/*
 * The effective configuration, as `config check` prints it: every tier
 * (built-in ones included) with its calendars normalized and its keep
 * rules, the repositories, the jobs. Text is itself a valid configuration
 * file; json is one object (chronofs.conf(5) lists its fields). Returns 0,
 * or a negative errno when a calendar cannot be formatted (-ENOMEM).
 */
int cli_config_print(const struct cli_config *c, FILE *f, bool json);
