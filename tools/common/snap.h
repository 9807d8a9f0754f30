/* SPDX-License-Identifier: MIT */
/*
 * snap.h — SNAP as chronoctl and chronofs take it: resolved the same way
 * everywhere, with the same messages.
 */
#pragma once

#include "chronofs/repo.h"

/* The time forms SNAP takes on the command line: offset-less times are
 * local, relative forms allowed (the mount's root takes neither). */
#define CLI_SNAP_TIME_FLAGS (CFS_TIME_LOCAL | CFS_TIME_RELATIVE)

/* One line for messages and --help: what SNAP may be. */
#define CLI_SNAP_FORMS                                                                                         \
	"latest, a name from `chronoctl snapshot list`, an id prefix (4 or more hex digits) or a time: "        \
	"2026-12-06T23:17:03Z, 2026-12-06T23:17+01:00, 20261206T231703Z, 2026-12-06 (the end of that day, local " \
	"time), 2026-12-06T10:00 (local), now, -2h, -3d, yesterday, today"

/*
 * Resolve SNAP in r (cfs_repo_resolve_snapshot() with CLI_SNAP_TIME_FLAGS
 * and the current time) into *ret (released by the caller) and *ret_id.
 * A time logs, at info level, which snapshot it picked ("Using snapshot
 * NAME (the one in effect at TIME)"); an id prefix that also reads as a
 * time warns that the id won. Every failure is logged: the repository
 * has no snapshots, the time is before the first snapshot (named), SNAP is
 * neither a name, an id prefix nor a time (the forms listed), several
 * snapshots match (each named). Returns 0, -ENOENT, -ENOTUNIQ or -errno.
 */
int cli_find_snapshot(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret, struct cfs_id *ret_id);
/* The same, and *ret_how (may be NULL) says how SNAP matched, for a caller
 * that must not act on a time (forget: see cmd-forget.c). */
int cli_find_snapshot_how(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret, struct cfs_id *ret_id,
			  enum cfs_snapshot_match *ret_how);
