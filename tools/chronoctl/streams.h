/* SPDX-License-Identifier: MIT */
/*
 * streams.h — stream sources of `snapshot create`: standard input
 * (--stdin-path) and commands (--stream PATH=COMMAND), opened when ingest
 * reaches them (cfs_backup_options.stream_open / stream_finish).
 *
 * A command runs under /bin/sh -c with standard input from /dev/null; its
 * standard output is the stream; its standard error is drained by a thread
 * (so a chatty command never blocks) and its last lines go into the failure
 * message when it exits non-zero or is killed (cut at the front to fit:
 * the reason a command gives up is its last line).
 */
#pragma once

#include <stddef.h>

struct stream_src {
	const char *path;    /* in the snapshot */
	const char *command; /* NULL: standard input */
};

struct streams;

/* A set over srcs (borrowed; they must outlive it). */
int streams_new(const struct stream_src *srcs, size_t n, struct streams **ret);
/* Waits for any command still running (after a failed snapshot). */
struct streams *streams_free(struct streams *s);

/* The callbacks for cfs_backup_options (ud: struct streams *). */
int streams_open(void *ud, size_t i, int *ret_fd);
int streams_finish(void *ud, size_t i, char *msg, size_t msg_size);
