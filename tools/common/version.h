/* SPDX-License-Identifier: MIT */
/*
 * version.h — the `--version` text of chronoctl, chronofs and
 * mount.chronofs: the release (meson's project version, through the
 * generated chronofs-config.h) and the repository format versions this
 * build reads and writes. Header-only: mount.chronofs links nothing else.
 */
#pragma once

#include <stdio.h>

#include "chronofs-config.h"
#include "chronofs/repo.h"

static inline void cli_print_version(FILE *f, const char *program)
{
	fprintf(f,
		"%s %s\n"
		"repository formats %d to %d: read and written (each repository in its own; "
		"init creates %d, upgrade raises to it)\n",
		program, CFS_VERSION, CFS_REPO_FORMAT_VERSION_MIN, CFS_REPO_FORMAT_VERSION,
		CFS_REPO_FORMAT_VERSION);
}
