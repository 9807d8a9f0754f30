/* SPDX-License-Identifier: MIT */
/*
 * chronoctl.h — shared state of the admin tool's verbs.
 *
 * Every cmd_<verb>() returns 0, or a negative errno after it has logged the
 * reason, or CFS_EXIT_PARTIAL; main() maps that to the documented exit
 * codes (man/chronoctl.8): 0 success, 1 failure, 3 snapshot committed but
 * some files could not be read; CFS_EXIT_OVERDUE (status only) 2.
 */
#pragma once

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>

#include "chronofs/ingest.h"
#include "chronofs/policy.h"
#include "chronofs/repo.h"

#define CFS_EXIT_PARTIAL 3
#define CFS_EXIT_OVERDUE 2 /* status: a job is overdue past its RPO */

struct global_opts {
	const char *repo; /* a location, or the NAME of a [repository NAME] of the config */
	const char *password_file;
	const char *cache_dir;
	const char *config; /* --config FILE; NULL: $CHRONOFS_CONFIG, else the default file */
	int lock_wait_sec;
	struct cfs_objstore_options store;
	uint64_t disk_cache_bytes;
	/* Given on the command line (so a config repository's value does not
	 * replace them): --limit-upload, --limit-download, --disk-cache-size. */
	bool limit_upload_set, limit_download_set, disk_cache_set;
};

extern struct global_opts g_opts;
extern volatile sig_atomic_t g_interrupted;

/* Long options every verb accepts (terminated by a zero entry); values
 * >= 0x1000 are handled by handle_global_option(). */
#define GLOBAL_LONG_OPTIONS                                               \
	{"repo", required_argument, NULL, 0x1001},                        \
	{"password-file", required_argument, NULL, 0x1002},               \
	{"cache-dir", required_argument, NULL, 0x1003},                   \
	{"lock-wait", required_argument, NULL, 0x1004},                   \
	{"quiet", no_argument, NULL, 0x1005},                             \
	{"verbose", no_argument, NULL, 0x1006},                           \
	{"transfers", required_argument, NULL, 0x1007},                   \
	{"limit-upload", required_argument, NULL, 0x1008},                \
	{"limit-download", required_argument, NULL, 0x1009},              \
	{"disk-cache-size", required_argument, NULL, 0x100a},              \
	{"config", required_argument, NULL, 0x100b}

/* 1 handled, 0 not a global option, < 0 bad value (logged). */
int handle_global_option(int c, const char *arg);

struct cli_config;
struct cli_config_repo;
/*
 * The configuration file of --config, else $CHRONOFS_CONFIG, else the
 * default one (cli_config_load). required: a missing file is an error
 * (-ENOENT, logged); otherwise, when neither --config nor $CHRONOFS_CONFIG
 * names a file and the default one does not exist, 0 with *ret = NULL.
 * Errors of the file are logged (-EINVAL). *ret: cli_config_free().
 */
int load_config(bool required, struct cli_config **ret);
/*
 * What `--repo NAME` means: when `repo` (a --repo value or $CHRONOFS_REPO)
 * contains no '/' and a configuration file exists (load_config(false)),
 * the [repository NAME] of that file, else NULL (a location). 0 or a
 * logged error: the file is broken, or names no such repository while
 * no file or directory `repo` exists either (-ENOENT). *ret_config holds
 * *ret (NULL when none); free it after use.
 */
int config_repo(const char *repo, struct cli_config **ret_config, const struct cli_config_repo **ret);
/*
 * The repository the global options name, --repo NAME resolved: its
 * location (NULL when none is given), password file and cache directory
 * (NULL: the environment's, the default), store options (with the
 * config's S3 service: endpoint, region, credentials file...) and disk
 * cache.
 * Options given on the command line win over the config's values, which
 * win over the environment. Strings are borrowed from g_opts, the
 * environment and t->config (owned): valid until repo_target_release().
 * 0 or a logged error (config_repo's).
 */
struct repo_target {
	const char *location, *password_file, *cache_dir;
	struct cfs_objstore_options store;
	uint64_t disk_cache_bytes;
	struct cli_config *config;
};
int repo_target_get(struct repo_target *t);
/* Fill t from [repository] cr where the command line left it unsaid
 * (t->location becomes cr's); borrows from cr. */
void repo_target_apply(struct repo_target *t, const struct cli_config_repo *cr);
void repo_target_release(struct repo_target *t);

/* Read the passphrase (env, file, or terminal prompt). *ret is malloc'ed
 * (NULL when the repository needs none: pass need = false). confirm: ask twice. */
int get_password(bool confirm, char **ret, size_t *ret_len);
/* Open the repository named by the global options, with clear messages. */
int open_repo(bool writer, struct cfs_repo **ret);
/* The same, throwing the local catalog away first (writer only; packs
 * that cannot be read do not stop it). */
int open_repo_with(bool writer, bool rebuild_catalog, struct cfs_repo **ret);
enum open_flags {
	OPEN_REBUILD_CATALOG = (1 << 0),
	OPEN_ALLOW_DAMAGED = (1 << 1), /* cfs_repo_open_options.allow_damaged */
};
int open_repo_flags(bool writer, enum open_flags flags, struct cfs_repo **ret);
/* A list of owned strings: the add callback of repeated options
 * (verb_flag.add with ud = the list; -ENOMEM, unlogged, on failure). */
struct strs {
	char **v; /* owned, each owned */
	size_t n;
};
int strs_add(void *ud, const char *s);
void strs_release(struct strs *l);
/* Options of a verb that has few of its own: the global ones, --help,
 * and --json when json is not NULL; then exactly nargs operands (from
 * optind; nargs < 0: the verb checks them). 1 when help was printed (the
 * verb returns 0), 0 to go on, < 0 on bad usage (usage printed). */
int parse_simple_options(int argc, char **argv, void (*usage)(FILE *f), bool *json, int nargs);
/* The same with up to VERB_FLAGS_MAX options of the verb's own: flags
 * ("--read-data" sets *value) and, where arg is set, options with a value
 * (the last one given is left in *arg; the verb checks it), or where add
 * is set, options that may be repeated (add(ud, value) for each; a
 * negative return, logged by add, stops the parse). */
struct verb_flag {
	const char *name;
	bool *value;
	const char **arg; /* NULL: a flag */
	int (*add)(void *ud, const char *value);
	void *ud;
};
#define VERB_FLAGS_MAX 16
int parse_flag_options(int argc, char **argv, void (*usage)(FILE *f), const struct verb_flag *flags, size_t nflags,
		       int nargs);
/* A verb with verbs of its own ("snapshot create", "catalog rebuild"):
 * run the one argv[1] names with argv + 1. */
#define SUBVERBS_MAX 16 /* entries of one verb's table that "did you mean" weighs */
struct subverb {
	const char *name;
	int (*fn)(int argc, char **argv);
};
int dispatch_subverb(const char *verb, int argc, char **argv, const struct subverb *v, size_t n,
		     void (*usage)(FILE *f));
/*
 * Taking a snapshot: the body of `snapshot create`, also run by `run` for
 * a job (cmd-snapshot.c). Every pointer is borrowed for the call.
 */
struct stream_src;
struct progress_display;
struct backup_request {
	const char *const *paths; /* absolute (resolve_source_paths) */
	size_t n_paths;
	const char *const *excludes; /* no trailing '/' */
	size_t n_excludes;
	const struct stream_src *streams; /* streams.h */
	size_t n_streams;
	const char *const *tags;
	size_t n_tags;
	uint8_t type;          /* enum cfs_snapshot_type asked for */
	const char *job, *tier; /* NULL: not a job's */
	bool exclude_caches, exclude_nodump, one_file_system;
	struct progress_display *progress; /* NULL: none shown */
};
/* Source PATHs as snapshot create takes them, made absolute (see
 * cmd-snapshot.c) and checked to exist, appended to *ret. Logs why not. */
int resolve_source_paths(char *const *args, size_t n, struct strs *ret);
/* The catalog cache and allocator settings of a backup (before the
 * repository is opened). */
void backup_tune_memory(void);
/* Back up into r (opened as a writer). 0, or CFS_EXIT_PARTIAL when the
 * snapshot was committed with files that could not be read (logged), with
 * *ret filled (its snapshot released by the caller); a negative errno,
 * logged, when nothing was committed: -EINTR (g_interrupted), -ECANCELED
 * a stream failed. reason (reason_size bytes, may be 0) gets a failed
 * stream's one-line reason (the command, its exit status, its stderr's
 * end), "" otherwise. */
int backup_take(struct cfs_repo *r, const struct backup_request *b, struct cfs_backup_result *ret, char *reason,
		size_t reason_size);

/* Forget, in r (a writer), the snapshots of config job `job` taken on this
 * host that `rules` do not keep, judged as one group (cmd-forget.c); held
 * ones are kept, and so are the rotation's anchors (the newest full, the
 * newest differential after it). Logs each removal at info level and every failure.
 * *ret_removed (may be NULL): how many were forgotten. -ENOTEMPTY when the
 * rules would remove every one of them (nothing forgotten). */
int forget_job(struct cfs_repo *r, const char *job, const struct cfs_keep_rules *rules, size_t *ret_removed);

/* Open repository cr of the config file (tools/common/config.h) with its
 * location, and its password file, cache dir and store settings where the
 * command line gives none, as open_repo() does for --repo NAME. */
int open_config_repo(const struct cli_config_repo *cr, bool writer, int lock_wait_sec, struct cfs_repo **ret);
/* Every snapshot of r in *all (released by the caller), and in *ret_idx
 * (malloc'ed, *ret_n of them, time order) the indexes of those of config
 * job `job`, from any host. Logs failures. */
int job_snapshots(struct cfs_repo *r, const char *job, struct cfs_snapshot_list *all, size_t **ret_idx,
		  size_t *ret_n);

/* Print usage of a verb or the tool; returns 0. */
void usage_main(FILE *f);

int cmd_init(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_systemd(int argc, char **argv);
