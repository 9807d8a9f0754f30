/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/objstore.h"
#include "chronofs/util.h"
#include "snap.h"

/* The instant a time names, for messages: as the text given where it was
 * clamped (past 2262 or before 1677), which no formatted instant says. */
static void format_at(int64_t at, const char *spec, char *out, size_t outlen)
{
	if (at == INT64_MAX || at == INT64_MIN || cfs_time_format(at, out, outlen) < 0) {
		snprintf(out, outlen, "%s", spec);
		return;
	}
	/* The end of a second (or minute, day) reads best as that second;
	 * another fraction (now, -2h) gets its milliseconds, or a snapshot
	 * named 10:00:00.604Z would seem to be after "10:00:00Z". */
	int64_t frac = at % 1000000000;
	if (frac < 0)
		frac += 1000000000;
	size_t len = strlen(out);
	if (frac != 0 && frac != 999999999 && len == 20 && outlen > 24)
		snprintf(out + 19, outlen - 19, ".%03lldZ", (long long)(frac / 1000000));
}

/* Why nothing matched: the repository is empty, the time is before its
 * first snapshot, or spec is no form SNAP takes. */
static int not_found(struct cfs_repo *r, const char *spec, int64_t now_ns)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	const char *loc = cfs_objstore_location(cfs_repo_store(r));
	int64_t at;
	int e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		return log_error_errno(e, "No snapshot \"%s\" in %s (and cannot list its snapshots: %m)", spec, loc);
	if (l.n == 0)
		return log_error_errno(-ENOENT,
				       "No snapshot \"%s\": repository %s has no snapshots yet (chronoctl snapshot "
				       "create makes the first)",
				       spec, loc);
	if (cfs_time_parse_as_of(spec, CLI_SNAP_TIME_FLAGS, now_ns, &at) == 0) {
		char when[64];
		format_at(at, spec, when, sizeof(when));
		bool same = strcmp(when, spec) == 0;
		return log_error_errno(-ENOENT, "No snapshot was in effect at %s%s%s%s in %s (the first is %s)", when,
				       same ? "" : " (\"", same ? "" : spec, same ? "" : "\")", loc, l.items[0].name);
	}
	return log_error_errno(-ENOENT,
			       "No snapshot \"%s\" in %s: it is no snapshot's name, no snapshot id starts with it, "
			       "and it is not a time. SNAP is " CLI_SNAP_FORMS,
			       spec, loc);
}

int cli_find_snapshot(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret, struct cfs_id *ret_id)
{
	return cli_find_snapshot_how(r, spec, ret, ret_id, NULL);
}

int cli_find_snapshot_how(struct cfs_repo *r, const char *spec, struct cfs_snapshot *ret, struct cfs_id *ret_id,
			  enum cfs_snapshot_match *ret_how)
{
	enum cfs_snapshot_match how;
	int64_t now_ns = cfs_now_ns(), at;
	int e = cfs_repo_resolve_snapshot(r, spec, CLI_SNAP_TIME_FLAGS, now_ns, ret, ret_id, &how);
	if (e == -ENOENT)
		return not_found(r, spec, now_ns);
	if (e == -ENOTUNIQ)
		return e; /* the matches are named */
	if (e < 0)
		return log_error_errno(e, "Cannot read snapshot %s in %s: %m", spec,
				       cfs_objstore_location(cfs_repo_store(r)));
	if (ret_how)
		*ret_how = how;
	if (how != CFS_SNAPSHOT_MATCH_TIME && how != CFS_SNAPSHOT_MATCH_ID)
		return 0;
	if (cfs_time_parse_as_of(spec, CLI_SNAP_TIME_FLAGS, now_ns, &at) < 0)
		return 0; /* an id prefix that is no time */
	char when[64], hex[CFS_ID_HEX_SIZE];
	format_at(at, spec, when, sizeof(when));
	cfs_id_hex(ret_id, hex);
	if (how == CFS_SNAPSHOT_MATCH_TIME)
		log_info("Using snapshot %s (the one in effect at %s)", ret->name, when);
	else
		log_warning("Using snapshot %s, whose id %.12s starts with \"%s\": an id prefix comes before a time; "
			    "for the time %s write the date with dashes (YYYY-MM-DD)",
			    ret->name, hex, spec, when);
	return 0;
}
