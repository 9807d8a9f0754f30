/* SPDX-License-Identifier: MIT */
/*
 * pattern.h — path patterns of --exclude and --include (snapshot create,
 * restore): fnmatch(3) globs matched against an absolute path, three kinds:
 *   - a pattern without '/' is matched against the entry's name:
 *     "*.tmp", "node_modules";
 *   - a pattern starting with '/' against the whole absolute path, with
 *     FNM_PATHNAME ('*' does not cross '/'): "/var/cache";
 *   - any other pattern with '/' against every trailing part of the path
 *     that starts at a component: "build/x.o" matches /src/build/x.o.
 * A trailing '/' is the caller's to drop (it means nothing more than
 * without it). Pure functions; any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether pattern matches the entry at path (absolute, normalised) whose
 * name is name (path's last component). */
bool cfs_pattern_match(const char *pattern, const char *path, const char *name);
/* Whether any of the n patterns does. */
bool cfs_patterns_match(const char *const *patterns, size_t n, const char *path, const char *name);
/*
 * Whether pattern may match an entry strictly below the directory dir
 * (absolute, normalised; "/" for the root): always for a pattern without a
 * leading '/' (names and trailing parts occur at any depth); for an
 * absolute one, when it has more components than dir and dir matches its
 * leading ones. Never false where a match below is possible.
 */
bool cfs_pattern_may_match_below(const char *pattern, const char *dir);
