/* SPDX-License-Identifier: MIT */
/*
 * The --exclude/--include matcher (pattern.h): the three kinds of pattern,
 * and whether a directory may hold a match (what --include descends).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "chronofs/pattern.h"

static bool m(const char *pat, const char *path)
{
	const char *name = strrchr(path, '/') + 1;
	return cfs_pattern_match(pat, path, name);
}

Test(pattern, kinds)
{
	/* Names. */
	cr_assert(m("*.tmp", "/a/b/x.tmp"));
	cr_assert(m("node_modules", "/src/node_modules"));
	cr_assert(!m("*.tmp", "/a/x.tmp/y"));
	/* Absolute: '*' does not cross '/'. */
	cr_assert(m("/var/cache", "/var/cache"));
	cr_assert(m("/home/*/.cache", "/home/u/.cache"));
	cr_assert(!m("/home/*/.cache", "/home/u/v/.cache"));
	cr_assert(!m("/var/cache", "/x/var/cache"));
	/* Trailing parts starting at a component. */
	cr_assert(m("build/x.o", "/src/build/x.o"));
	cr_assert(m("build/*.o", "/a/b/build/y.o"));
	cr_assert(!m("build/x.o", "/src/rebuild/x.o"));
	cr_assert(!m("build/x.o", "/src/build/x.o/z"));

	const char *const pats[] = {"*.c", "/etc"};
	cr_assert(cfs_patterns_match(pats, 2, "/etc", "etc"));
	cr_assert(cfs_patterns_match(pats, 2, "/x/y.c", "y.c"));
	cr_assert(!cfs_patterns_match(pats, 2, "/x/y.h", "y.h"));
	cr_assert(!cfs_patterns_match(pats, 0, "/etc", "etc"));
}

Test(pattern, may_match_below)
{
	/* Relative patterns may match at any depth. */
	cr_assert(cfs_pattern_may_match_below("*.c", "/a/b"));
	cr_assert(cfs_pattern_may_match_below("doc/x", "/"));
	/* Absolute: only along the pattern's own leading components. */
	cr_assert(cfs_pattern_may_match_below("/srv/src/doc", "/"));
	cr_assert(cfs_pattern_may_match_below("/srv/src/doc", "/srv"));
	cr_assert(cfs_pattern_may_match_below("/srv/src/doc", "/srv/src"));
	cr_assert(!cfs_pattern_may_match_below("/srv/src/doc", "/srv/src/doc"));
	cr_assert(!cfs_pattern_may_match_below("/srv/src/doc", "/srv/other"));
	cr_assert(!cfs_pattern_may_match_below("/srv/src/doc", "/etc"));
	cr_assert(!cfs_pattern_may_match_below("/srv", "/srv"));
	cr_assert(!cfs_pattern_may_match_below("/srv/src/doc", "/srv/src/doc/deeper"));
	cr_assert(cfs_pattern_may_match_below("/home/*/.cache", "/home/u"));
	cr_assert(!cfs_pattern_may_match_below("/home/*/.cache", "/home/u/v"));
	cr_assert(cfs_pattern_may_match_below("/s*/x", "/srv"));
	cr_assert(!cfs_pattern_may_match_below("/s*/x", "/var"));
	cr_assert(!cfs_pattern_may_match_below("/", "/"));
}
