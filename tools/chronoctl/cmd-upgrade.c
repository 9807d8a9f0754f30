/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "chronofs/log.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: chronoctl upgrade\n"
		"Raise the repository's format to version %d, the one this chronofs writes, so\n"
		"that new snapshots may use what it adds (format 3: inode flags, directories of\n"
		"any size). Everything stored stays as it is and readable. chronofs releases that\n"
		"know only older formats refuse the repository afterwards: upgrade every host\n"
		"that uses it first.\n",
		CFS_REPO_FORMAT_VERSION);
}

int cmd_upgrade(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	uint32_t from;
	int e = parse_simple_options(argc, argv, usage, NULL, 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo(true, &r);
	if (e < 0)
		return e;
	e = cfs_repo_upgrade(r, &from);
	if (e < 0)
		return log_error_errno(e, "Cannot write the config of %s: %m", cfs_repo_location(r));
	if (from >= CFS_REPO_FORMAT_VERSION)
		printf("%s already has format version %u\n", cfs_repo_location(r), (unsigned)from);
	else
		printf("%s upgraded from format version %u to %d\n", cfs_repo_location(r), (unsigned)from,
		       CFS_REPO_FORMAT_VERSION);
	return 0;
}
