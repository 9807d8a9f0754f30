/* SPDX-License-Identifier: MIT */
/*
 * cli.h — what chronoctl and chronofs share: the passphrase sources and
 * opening a repository with the user-facing error messages.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "chronofs/repo.h"

/*
 * Read the passphrase: password_file (or $CHRONOFS_PASSWORD_FILE), else
 * $CHRONOFS_PASSWORD, else a prompt on /dev/tty when stdin is a terminal
 * (twice with confirm). Logs the reason on failure. *ret is malloc'ed.
 */
int cli_get_password(const char *password_file, bool confirm, char **ret, size_t *ret_len);

/* The repository location: `given`, else $CHRONOFS_REPO; NULL if neither. */
const char *cli_repo_location(const char *given);

/*
 * Open the repository o describes. A passphrase configured by
 * password_file, $CHRONOFS_PASSWORD_FILE or a non-empty $CHRONOFS_PASSWORD
 * is passed in from the start (a repository whose config says "not
 * encrypted" is then refused); the terminal is asked only when the
 * repository turns out to be encrypted and none is configured. Every
 * failure is logged with a message for people that names the path and
 * step that failed (o->error, if set, is filled too). While it waits for
 * another process's cache lock it says for whom (o->lock_wait, unless the
 * caller set one): on a terminal a line at once and a status line with the
 * seconds waited, off a terminal one line.
 */
int cli_open_repo(const struct cfs_repo_open_options *o, const char *password_file, struct cfs_repo **ret);

/* The store tuning options of both tools, with their messages: the number
 * of parallel transfers (1..CFS_OBJSTORE_TRANSFERS_MAX) and a rate in KiB/s
 * (0: no limit) stored in bytes/s. */
int cli_parse_transfers(const char *option, const char *v, unsigned *ret);
int cli_parse_kib_rate(const char *option, const char *v, uint64_t *ret);
/* A count of units 0..2^30 (decimal digits only), times unit, nothing
 * logged: -EINVAL for anything else. The two above and the config file's
 * KiB and MiB keys. */
int cli_parse_scaled(const char *v, uint64_t unit, uint64_t *ret);
/* A size in MiB (0 allowed: none), stored in bytes. */
int cli_parse_mib(const char *option, const char *v, uint64_t *ret);
/* The disk cache of remote stores (--disk-cache-size, -o disk_cache_size). */
#define CLI_DISK_CACHE_MIB_DEFAULT 1024
/* Log why a repository could not be opened (or probed), naming the path
 * and step `why` (may be NULL) says failed; returns r. */
int cli_open_error(const char *loc, int r, const struct cfs_repo_open_error *why, int lock_wait_sec);
/* "process PID (its command line)" for messages, from /proc (the command
 * left out when it cannot be read). */
void cli_describe_process(long pid, char *out, size_t n);
/* The one of names[0..n) that `word` is most likely a typo of (a few
 * edits away, swapped neighbours counting one), or NULL: for "did you
 * mean" after an unknown verb or option. */
const char *cli_did_you_mean(const char *word, const char *const *names, size_t n);
