/* SPDX-License-Identifier: MIT */
/*
 * copies.h — in how many repositories each snapshot exists (3-2-1), for
 * `snapshot list` and `status`.
 *
 * A snapshot is the same in two repositories when its identity is: its
 * origin when it is a copy, else (the repository's id, its id) (copy.h).
 * The other repositories are opened read-only (each with its own
 * password_file) and their snapshots listed once; counting is then a
 * look-up per snapshot.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "chronofs/repo.h"

/* One repository to look in (as a config names it). */
struct cli_copies_repo {
	const char *name;          /* for messages */
	const char *location;
	const char *password_file; /* NULL: none (unencrypted, or not counted) */
	const char *cache_dir;     /* NULL: the default */
	bool offsite;
	const struct cfs_objstore_options *store; /* NULL: the defaults */
};

struct cli_copies;

/*
 * Open every one of repos[0..n) but the one whose repository id is
 * listed's (that one only gives its offsite flag) and take the identities
 * of its snapshots. A repository that cannot be opened is logged as a
 * warning (named, with the reason) and counted as holding nothing
 * (cli_copies_unreachable() says how many). 0, or -ENOMEM.
 */
int cli_copies_load(const struct cli_copies_repo *repos, size_t n, struct cfs_repo *listed,
		    struct cli_copies **ret);
struct cli_config;
/* The same over the repositories of a loaded configuration file. */
int cli_copies_load_config(const struct cli_config *c, struct cfs_repo *listed, struct cli_copies **ret);
/* The same from lists a caller has already read (status, which holds its
 * repositories open): others[0..n) the other repositories, any of which
 * may be the listed one again (matched by id: it only gives its offsite
 * flag); snaps NULL: could not be read (counted unreachable). Borrows
 * nothing after it returns. 0, or -ENOMEM. */
struct cli_copies_list {
	const struct cfs_id *repo_id;
	const struct cfs_snapshot_list *snaps;
	bool offsite;
};
int cli_copies_from_lists(const struct cfs_id *listed_id, const struct cli_copies_list *others, size_t n,
			  struct cli_copies **ret);
struct cli_copies *cli_copies_free(struct cli_copies *c);
CFS_DEFINE_FREEP(struct cli_copies, cli_copies_free)

/*
 * Snapshot s (id) of the listed repository: *ret_n the repositories that
 * hold it, the listed one included; *ret_offsite whether one of them is
 * off-site (offsite = yes in the config).
 */
void cli_copies_count(const struct cli_copies *c, const struct cfs_snapshot *s, const struct cfs_id *id,
		      unsigned *ret_n, bool *ret_offsite);
/* Repositories that could not be opened (their copies are not counted). */
unsigned cli_copies_unreachable(const struct cli_copies *c);
/* Whether the listed repository was among repos (matched by its id). */
bool cli_copies_listed_known(const struct cli_copies *c);
