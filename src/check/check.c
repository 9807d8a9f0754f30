/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/check.h"
#include "chronofs/idset.h"
#include "chronofs/log.h"
#include "chronofs/pack.h"
#include "chronofs/util.h"

struct bad_pack {
	struct cfs_id id;
	int error;
};

struct cctx {
	struct cfs_repo *r;
	const struct cfs_check_options *o;
	struct cfs_check_result *res;
	struct cfs_idset bad_blobs;  /* blobs that cannot be read back */
	struct cfs_idset clean_trees; /* subtrees verified with no problem */
	struct bad_pack *bad_packs;
	size_t n_bad_packs;
};

static const char *reason(int e)
{
	switch (e) {
	case -EBADMSG:
		return "integrity error (authentication or id mismatch)";
	case -ENOENT:
		return "missing";
	case -ERANGE:
		return "truncated";
	case -EPROTO:
		return "malformed";
	default:
		return "read error";
	}
}

static int add_bad_pack(struct cctx *c, const struct cfs_id *id, int error)
{
	struct bad_pack *n = realloc(c->bad_packs, (c->n_bad_packs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->bad_packs = n;
	c->bad_packs[c->n_bad_packs++] = (struct bad_pack){*id, error};
	return 0;
}

static int pack_is_bad(const struct cctx *c, const struct cfs_id *id)
{
	for (size_t i = 0; i < c->n_bad_packs; i++)
		if (memcmp(&c->bad_packs[i].id, id, sizeof(*id)) == 0)
			return c->bad_packs[i].error;
	return 0;
}

struct bad_blob_state {
	struct cctx *c;
	const char *pack_name;
};

static int bad_blob_cb(const struct cfs_id *blob, uint64_t offset, int error, void *ud)
{
	struct bad_blob_state *st = ud;
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(blob, hex);
	st->c->res->problems++;
	log_error("pack %s: blob %s at offset %llu: %s", st->pack_name, hex, (unsigned long long)offset,
		  reason(error == -EPROTO ? -EBADMSG : error));
	return cfs_idset_add(&st->c->bad_blobs, blob) < 0 ? -ENOMEM : 0;
}

/* Read a whole pack and verify every blob in it. Returns < 0 (reported) when
 * the pack as a whole is unusable. */
static int read_pack(struct cctx *c, const struct cfs_id *pack, const char *name)
{
	struct bad_blob_state st = {c, name};
	uint64_t n = 0;
	int e = cfs_repo_verify_pack(c->r, pack, bad_blob_cb, &st, &n);
	c->res->blobs_read += n;
	if (e < 0 && e != -ENOMEM) {
		c->res->problems++;
		log_error("pack %s: %s: %s", name, e == -EBADMSG ? "header does not authenticate" : reason(e),
			  strerror(-e));
	}
	return e;
}

static int pack_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct cctx *c = ud;
	char name[96];
	uint64_t size;
	int e;

	if (c->o->interrupted && *c->o->interrupted)
		return -EINTR;
	c->res->packs++;
	cfs_repo_pack_name(pack, name, sizeof(name));
	e = cfs_objstore_head(cfs_repo_store(c->r), name, &size);
	if (e == 0 && size != info->size)
		e = size < info->size ? -ERANGE : -EBADMSG;
	if (e == 0 && c->o->read_data) {
		e = read_pack(c, pack, name);
		if (e == -ENOMEM || e == -EINTR)
			return e;
		if (e < 0)
			return add_bad_pack(c, pack, e); /* already reported */
		return 0;
	}
	if (e < 0) {
		c->res->problems++;
		if (e == -ENOENT)
			log_error("pack %s: missing (%u blobs)", name, info->count);
		else if (e == -ERANGE || e == -EBADMSG)
			log_error("pack %s: size %llu, expected %llu (truncated or damaged)", name,
				  (unsigned long long)size, (unsigned long long)info->size);
		else
			log_error_errno(e, "pack %s: cannot be read: %m", name);
		return add_bad_pack(c, pack, e);
	}
	return 0;
}

static void report_use(struct cctx *c, const struct cfs_snapshot *s, const char *path, const struct cfs_id *blob,
		       const char *what)
{
	char hex[CFS_ID_HEX_SIZE], pname[96] = "(no pack)";
	struct cfs_blob_loc loc;
	cfs_id_hex(blob, hex);
	if (cfs_repo_blob_loc(c->r, blob, &loc) == 0)
		cfs_repo_pack_name(&loc.pack, pname, sizeof(pname));
	c->res->problems++;
	log_error("snapshot %s: %s uses blob %s in %s: %s", s->name, path[0] ? path : "/", hex, pname, what);
}

/* Returns 1 if the blob is unusable (and reports it), 0 if fine. */
static int blob_problem(struct cctx *c, const struct cfs_id *id, const char **ret_what)
{
	struct cfs_blob_loc loc;
	if (cfs_repo_blob_loc(c->r, id, &loc) < 0) {
		*ret_what = "blob not indexed in any pack";
		return 1;
	}
	int pe = pack_is_bad(c, &loc.pack);
	if (pe) {
		*ret_what = pe == -ENOENT ? "pack missing" : "pack damaged";
		return 1;
	}
	if (cfs_idset_contains(&c->bad_blobs, id)) {
		*ret_what = "blob damaged";
		return 1;
	}
	return 0;
}

/* Returns problems found below (>= 0) or a fatal error. */
static int walk(struct cctx *c, const struct cfs_snapshot *s, const char *path, const struct cfs_id *tree_id)
{
	_cleanup_(cfs_tree_release) struct cfs_tree t = CFS_TREE_INIT;
	const char *what;
	char child[8192];
	int problems = 0, e;

	if (c->o->interrupted && *c->o->interrupted)
		return -EINTR;
	if (cfs_idset_contains(&c->clean_trees, tree_id))
		return 0;
	if (blob_problem(c, tree_id, &what)) {
		report_use(c, s, path, tree_id, what);
		return 1;
	}
	e = cfs_repo_get_tree(c->r, tree_id, &t);
	if (e < 0) {
		report_use(c, s, path, tree_id, e == -EPROTO ? "tree malformed" : reason(e));
		return 1;
	}
	c->res->trees++;
	for (size_t i = 0; i < t.n; i++) {
		const struct cfs_tree_entry *en = &t.entries[i];
		snprintf(child, sizeof(child), "%s/%s", path, (const char *)en->name);
		if (en->type == CFS_FT_DIR) {
			e = walk(c, s, child, &en->subtree);
			if (e < 0)
				return e;
			problems += e;
		} else if (en->type == CFS_FT_REG) {
			for (uint32_t k = 0; k < en->n_extents; k++) {
				if (blob_problem(c, &en->extents[k].id, &what)) {
					report_use(c, s, child, &en->extents[k].id, what);
					problems++;
				}
			}
		}
	}
	if (problems == 0) {
		e = cfs_idset_add(&c->clean_trees, tree_id);
		if (e < 0)
			return e;
	}
	return problems;
}

struct obj_state {
	struct cctx *c;
	int error;
};

static int object_cb(const char *name, uint64_t size, void *ud)
{
	struct obj_state *st = ud;
	(void)size;
	if (st->c->o->interrupted && *st->c->o->interrupted)
		return -EINTR;
	int e = cfs_repo_verify_object(st->c->r, name);
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		st->c->res->problems++;
		log_error("%s: %s%s", name, e == -EBADMSG ? "does not authenticate (damaged, or not ours)"
					    : e == -EPROTONOSUPPORT ? "written by a newer chronofs version"
								    : reason(e),
			  e == -EBADMSG || e == -EPROTONOSUPPORT ? "" : " object");
	}
	return 0;
}

int cfs_check_run(struct cfs_repo *r, const struct cfs_check_options *o, struct cfs_check_result *ret)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	struct cctx c = {.r = r, .o = o, .res = ret};
	int e;

	memset(ret, 0, sizeof(*ret));
	/* Metadata objects: a snapshot or index object that does not verify
	 * is skipped when the catalog is synchronised, so it must be named
	 * here or nobody would know it is gone. */
	struct obj_state os = {&c, 0};
	e = cfs_objstore_list(cfs_repo_store(r), "snapshots/", object_cb, &os);
	if (e == 0)
		e = cfs_objstore_list(cfs_repo_store(r), "index/", object_cb, &os);
	if (e == 0)
		e = cfs_objstore_list(cfs_repo_store(r), "dicts/", object_cb, &os);
	if (e < 0)
		goto out;
	e = cfs_catalog_pack_foreach(cfs_repo_catalog(r), pack_cb, &c);
	if (e < 0)
		goto out;
	e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		ret->snapshots++;
		e = walk(&c, &l.items[i], "", &l.items[i].root);
		if (e < 0)
			goto out;
	}
	e = 0;
out:
	cfs_idset_release(&c.bad_blobs);
	cfs_idset_release(&c.clean_trees);
	free(c.bad_packs);
	return e;
}
