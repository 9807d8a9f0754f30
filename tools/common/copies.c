/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "cli.h"
#include "config.h"
#include "copies.h"

/* A snapshot's identity across repositories (copy.h). */
struct identity {
	struct cfs_id repo, snap;
};

struct held {
	struct identity *v; /* owned, sorted */
	size_t n;
	bool offsite;
};

struct cli_copies {
	struct held *repos; /* owned: the other repositories */
	size_t n;
	bool listed_offsite, listed_known;
	unsigned unreachable;
	struct cfs_id listed_id;
};

static int cmp_identity(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct identity));
}

static struct identity identity_of(const struct cfs_snapshot *s, const struct cfs_id *repo, const struct cfs_id *id)
{
	if (s->has_origin)
		return (struct identity){s->origin.repo, s->origin.snapshot};
	return (struct identity){*repo, *id};
}

/* Open repository d read-only: 0, or the error, logged as a warning. */
static int open_other(const struct cli_copies_repo *d, struct cfs_repo **ret)
{
	_cleanup_free_ char *pw = NULL;
	size_t pw_len = 0;
	struct cfs_repo_open_error why = {0};
	int r;
	if (d->password_file) {
		r = cfs_read_file(d->password_file, true, &pw, &pw_len);
		if (r < 0)
			return log_warning_errno(r, "Cannot count copies in repository %s: cannot read its password "
						    "file %s: %m",
						 d->name, d->password_file);
	}
	struct cfs_repo_open_options o = {
		.location = d->location,
		.cache_dir = d->cache_dir,
		.lock_wait_sec = 10,
		.store = d->store,
		.password = pw,
		.password_len = pw_len,
		.error = &why,
	};
	r = cfs_repo_open(&o, ret);
	if (pw)
		explicit_bzero(pw, pw_len);
	if (r == -ENOKEY)
		return log_warning_errno(r, "Cannot count copies in repository %s (%s): it is encrypted and the "
					    "config gives no password_file",
					 d->name, d->location);
	if (r < 0)
		return log_warning_errno(r, "Cannot count copies in repository %s (%s): %m", d->name, d->location);
	return 0;
}

static struct cli_copies *copies_new(const struct cfs_id *listed_id, size_t n)
{
	struct cli_copies *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->listed_id = *listed_id;
	c->repos = calloc(n + 1, sizeof(*c->repos));
	if (!c->repos)
		return cli_copies_free(c);
	return c;
}

/* The identities of l (the snapshots of repository repo_id) as one more
 * repository of c. -ENOMEM. */
static int held_add(struct cli_copies *c, const struct cfs_snapshot_list *l, const struct cfs_id *repo_id, bool offsite)
{
	struct held *h = &c->repos[c->n];
	h->v = calloc(l->n + 1, sizeof(*h->v));
	if (!h->v)
		return -ENOMEM;
	for (size_t k = 0; k < l->n; k++)
		h->v[k] = identity_of(&l->items[k], repo_id, &l->ids[k]);
	h->n = l->n;
	h->offsite = offsite;
	qsort(h->v, h->n, sizeof(*h->v), cmp_identity);
	c->n++;
	return 0;
}

int cli_copies_from_lists(const struct cfs_id *listed_id, const struct cli_copies_list *others, size_t n,
			  struct cli_copies **ret)
{
	struct cli_copies *c = copies_new(listed_id, n);
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!others[i].snaps) {
			c->unreachable++;
			continue;
		}
		if (memcmp(others[i].repo_id, listed_id, sizeof(*listed_id)) == 0) {
			c->listed_known = true;
			c->listed_offsite |= others[i].offsite;
			continue;
		}
		if (held_add(c, others[i].snaps, others[i].repo_id, others[i].offsite) < 0) {
			cli_copies_free(c);
			return -ENOMEM;
		}
	}
	*ret = c;
	return 0;
}

int cli_copies_load(const struct cli_copies_repo *repos, size_t n, struct cfs_repo *listed,
		    struct cli_copies **ret)
{
	struct cli_copies *c = copies_new(cfs_repo_id(listed), n);
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
		_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
		/* The listed repository by its location, without opening it
		 * twice (a second open would wait for its own cache lock). */
		if (strcmp(repos[i].location, cfs_repo_location(listed)) == 0) {
			c->listed_known = true;
			c->listed_offsite |= repos[i].offsite;
			continue;
		}
		if (open_other(&repos[i], &r) < 0) {
			c->unreachable++;
			continue;
		}
		if (memcmp(cfs_repo_id(r), &c->listed_id, sizeof(c->listed_id)) == 0) {
			c->listed_known = true;
			c->listed_offsite |= repos[i].offsite;
			continue;
		}
		int e = cfs_repo_list_snapshots(r, &l);
		if (e < 0) {
			log_warning_errno(e, "Cannot count copies in repository %s: cannot list its snapshots: %m",
					  repos[i].name);
			c->unreachable++;
			continue;
		}
		if (held_add(c, &l, cfs_repo_id(r), repos[i].offsite) < 0) {
			cli_copies_free(c);
			return -ENOMEM;
		}
	}
	*ret = c;
	return 0;
}

int cli_copies_load_config(const struct cli_config *c, struct cfs_repo *listed, struct cli_copies **ret)
{
	_cleanup_free_ struct cli_copies_repo *v = calloc(c->n_repos + 1, sizeof(*v));
	_cleanup_free_ struct cfs_objstore_options *st = calloc(c->n_repos + 1, sizeof(*st));
	if (!v || !st)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_repos; i++) {
		/* Its S3 service; transfers and limits: the defaults (a count
		 * reads snapshot lists only). */
		cli_config_repo_store(&c->repos[i], &st[i]);
		v[i] = (struct cli_copies_repo){c->repos[i].name,      c->repos[i].location, c->repos[i].password_file,
						c->repos[i].cache_dir, c->repos[i].offsite,  &st[i]};
	}
	return cli_copies_load(v, c->n_repos, listed, ret);
}

struct cli_copies *cli_copies_free(struct cli_copies *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		free(c->repos[i].v);
	free(c->repos);
	free(c);
	return NULL;
}

void cli_copies_count(const struct cli_copies *c, const struct cfs_snapshot *s, const struct cfs_id *id,
		      unsigned *ret_n, bool *ret_offsite)
{
	struct identity who = identity_of(s, &c->listed_id, id);
	unsigned n = 1;
	bool off = c->listed_offsite;
	for (size_t i = 0; i < c->n; i++) {
		if (!bsearch(&who, c->repos[i].v, c->repos[i].n, sizeof(who), cmp_identity))
			continue;
		n++;
		off |= c->repos[i].offsite;
	}
	*ret_n = n;
	*ret_offsite = off;
}

unsigned cli_copies_unreachable(const struct cli_copies *c)
{
	return c->unreachable;
}

bool cli_copies_listed_known(const struct cli_copies *c)
{
	return c->listed_known;
}
