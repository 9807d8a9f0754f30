/* SPDX-License-Identifier: MIT */
/*
 * pattern.c — the matcher of --exclude and --include (contract: pattern.h).
 * It was ingest's own until restore needed the same language; it lives
 * here so that both use one.
 */
#include <fnmatch.h>
#include <string.h>

#include "chronofs/base.h"
#include "chronofs/pattern.h"

bool cfs_pattern_match(const char *p, const char *path, const char *name)
{
	if (!strchr(p, '/'))
		return fnmatch(p, name, 0) == 0;
	if (p[0] == '/')
		return fnmatch(p, path, FNM_PATHNAME) == 0;
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (fnmatch(p, s + 1, FNM_PATHNAME) == 0)
			return true;
	return false;
}

bool cfs_patterns_match(const char *const *patterns, size_t n, const char *path, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (cfs_pattern_match(patterns[i], path, name))
			return true;
	return false;
}

bool cfs_pattern_may_match_below(const char *p, const char *dir)
{
	if (p[0] != '/')
		return true;
	if (strcmp(dir, "/") == 0)
		return p[1] != 0;
	/* dir "/a/b" has its last component end where the pattern has its
	 * third '/' (a '/' matches only a '/' under FNM_PATHNAME, never in
	 * brackets or a '*'): the pattern must go on after that slash, and
	 * dir match what comes before it. */
	const char *cut = p;
	for (const char *d = strchr(dir + 1, '/'); d; d = strchr(d + 1, '/')) {
		cut = strchr(cut + 1, '/');
		if (!cut)
			return false;
	}
	cut = strchr(cut + 1, '/');
	if (!cut)
		return false; /* no more components than dir: nothing below */
	if (cut[-1] == '\\')
		return true; /* an escaped '/': not worth a parser of its own */
	_cleanup_free_ char *head = strndup(p, (size_t)(cut - p));
	if (!head)
		return true; /* never false where a match is possible */
	return fnmatch(head, dir, FNM_PATHNAME) == 0;
}
