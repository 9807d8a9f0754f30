/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/check.h"
#include "chronofs/idset.h"
#include "chronofs/log.h"
#include "chronofs/pack.h"
#include "chronofs/report.h"
#include "chronofs/util.h"

struct bad_pack {
	struct cfs_id id;
	int error;
};

struct cctx {
	struct cfs_repo *r;
	const struct cfs_check_options *o;
	struct cfs_check_result *res;
	struct cfs_idset bad_blobs;  /* bad_key()s of blob copies that cannot be read back */
	struct cfs_idset clean_trees; /* subtrees verified with no problem */
	struct bad_pack *bad_packs;
	size_t n_bad_packs;
	uint32_t *bad_dicts; /* dictionary numbers reported missing */
	size_t n_bad_dicts;
	/* With read_data: every pack read, and whether it was damaged (for
	 * cfs_repo_mark_damaged). */
	struct cfs_id *read_ids;
	bool *read_bad;
	size_t n_read, cap_read;
	struct cfs_buf path; /* the walk's current path, NUL-terminated */
	struct cfs_check_progress prog;
	int64_t t0, next_progress;
};

static void progress(struct cctx *c, bool done)
{
	if (!c->o->progress)
		return;
	int64_t now = cfs_mono_ns();
	if (!cfs_progress_due(&c->next_progress, now, done))
		return;
	c->prog.elapsed_ns = now - c->t0;
	c->prog.done = done;
	c->o->progress(c->o->progress_ud, &c->prog);
}

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

/* A blob can be in two packs, one damaged: the copy is the blob id XOR
 * the pack id (both uniform hashes), so that only locations in the bad
 * copy's pack count as bad. */
static void bad_key(const struct cfs_id *blob, const struct cfs_id *pack, struct cfs_id *ret)
{
	for (size_t i = 0; i < CFS_ID_SIZE; i++)
		ret->b[i] = blob->b[i] ^ pack->b[i];
}

struct bad_blob_state {
	struct cctx *c;
	const struct cfs_id *pack;
	const char *pack_name;
	uint64_t bad;
};

static int bad_blob_cb(const struct cfs_id *blob, uint64_t offset, int error, void *ud)
{
	struct bad_blob_state *st = ud;
	char hex[CFS_ID_HEX_SIZE];
	/* Memory running out says nothing about the blob: the check stops. */
	if (error == -ENOMEM)
		return error;
	cfs_id_hex(blob, hex);
	st->c->res->problems++;
	st->bad++;
	log_error("pack %s: blob %s at offset %llu: %s", st->pack_name, hex, (unsigned long long)offset,
		  reason(error == -EPROTO ? -EBADMSG : error));
	struct cfs_id key;
	bad_key(blob, st->pack, &key);
	return cfs_idset_add(&st->c->bad_blobs, &key) < 0 ? -ENOMEM : 0;
}

/* Remember what reading pack found, for cfs_repo_mark_damaged(). */
static int note_read(struct cctx *c, const struct cfs_id *pack, bool bad)
{
	if (c->n_read == c->cap_read) {
		size_t cap = c->cap_read ? 2 * c->cap_read : 64;
		struct cfs_id *ids = reallocarray(c->read_ids, cap, sizeof(*ids));
		if (ids)
			c->read_ids = ids;
		bool *v = ids ? reallocarray(c->read_bad, cap, sizeof(*v)) : NULL;
		if (!v)
			return -ENOMEM;
		c->read_bad = v;
		c->cap_read = cap;
	}
	c->read_ids[c->n_read] = *pack;
	c->read_bad[c->n_read++] = bad;
	return 0;
}

/* Read a whole pack and verify every blob in it. Returns < 0 (reported) when
 * the pack as a whole is unusable. */
static int read_pack(struct cctx *c, const struct cfs_id *pack, const char *name)
{
	struct bad_blob_state st = {c, pack, name, 0};
	uint64_t n = 0;
	int e = cfs_repo_verify_pack(c->r, pack, bad_blob_cb, &st, &n);
	c->res->blobs_read += n;
	if (e != -ENOMEM && e != -EINTR) {
		int e2 = note_read(c, pack, e < 0 || st.bad > 0);
		if (e2 < 0)
			return e2;
	}
	if (e == -EUCLEAN) {
		/* Its blobs were checked one by one: the bad ones are named
		 * and the others are fine. Only damage no blob shows (where
		 * no tag or id reaches) is worth a line of its own. */
		if (st.bad == 0) {
			c->res->problems++;
			log_error("pack %s: its bytes do not hash to its name (damaged where no blob shows it, or "
				  "replaced by another)",
				  name);
		}
		e = 0;
	} else if (e < 0 && e != -ENOMEM) {
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
	c->prog.packs++;
	if (!c->o->read_data)
		progress(c, false);
	if (e == 0 && size != info->size)
		e = size < info->size ? -ERANGE : -EBADMSG;
	if (e == 0 && !c->o->read_data && cfs_repo_pack_marked_damaged(c->r, pack)) {
		c->res->problems++;
		log_error("pack %s: damaged, as an earlier check --read-data found (chronoctl repair removes it, "
			  "after storing again what it still holds)",
			  name);
		return add_bad_pack(c, pack, -EBADMSG);
	}
	if (e == 0 && c->o->read_data) {
		e = read_pack(c, pack, name);
		c->prog.bytes += info->size;
		progress(c, false);
		if (e == -ENOMEM || e == -EINTR)
			return e;
		if (e < 0)
			return add_bad_pack(c, pack, e); /* already reported */
		return 0;
	}
	if (e == -ENOENT && cfs_repo_pack_condemned(c->r, pack)) {
		/* A prune deleted it and has not put its done record yet (it
		 * runs still, or was killed among its deletes; the next prune
		 * finishes): no loss, as a writer's sync says too. Only a
		 * snapshot that still uses a blob located in it is a problem,
		 * and the walk names that use. */
		return add_bad_pack(c, pack, -ENOENT);
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
		       const struct cfs_blob_loc *loc, const char *what)
{
	char hex[CFS_ID_HEX_SIZE], pname[96] = "(no pack)";
	cfs_id_hex(blob, hex);
	if (loc)
		cfs_repo_pack_name(&loc->pack, pname, sizeof(pname));
	c->res->problems++;
	log_error("snapshot %s: %s uses blob %s in %s: %s", s->name, path[0] ? path : "/", hex, pname, what);
}

/* A pack that blob locations name and the catalog no longer knows (a
 * writer's sync forgot it: the store does not have it). Named once. */
static int note_missing_pack(struct cctx *c, const struct cfs_id *pack)
{
	char name[96];
	if (pack_is_bad(c, pack))
		return 0;
	cfs_repo_pack_name(pack, name, sizeof(name));
	c->res->problems++;
	log_error("pack %s: missing (blob locations name it; the store does not have it)", name);
	return add_bad_pack(c, pack, -ENOENT);
}

static int note_missing_dict(struct cctx *c, uint32_t number)
{
	for (size_t i = 0; i < c->n_bad_dicts; i++)
		if (c->bad_dicts[i] == number)
			return 0;
	uint32_t *v = reallocarray(c->bad_dicts, c->n_bad_dicts + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->bad_dicts = v;
	c->bad_dicts[c->n_bad_dicts++] = number;
	c->res->problems++;
	char obj[96];
	if (cfs_repo_dict_object_name(c->r, number, obj, sizeof(obj)) < 0)
		snprintf(obj, sizeof(obj), "its dicts/ object");
	log_error("dictionary %" PRIu32 ": not in the repository (%s is missing or damaged); blobs compressed with it "
		  "cannot be read",
		  number, obj);
	return 0;
}

/* Whether a snapshot may use blob id: 1 if not (reported with the path),
 * 0 if fine, < 0 on a fatal error. */
static int check_blob(struct cctx *c, const struct cfs_snapshot *s, const struct cfs_id *id)
{
	struct cfs_blob_loc loc;
	const char *what = NULL;
	int st = cfs_repo_blob_state(c->r, id, &loc);
	int e = 0;
	if (st < 0)
		return st;
	/* A condemned pack that is still there: a snapshot committed by a
	 * backup that ran while the prune condemned it uses it, and the next
	 * prune releases it instead of deleting it (chronofs-repository(5)).
	 * One a writer's sync found deleted and forgot (the done record not
	 * applied yet) is a missing pack, whatever the condemn record says;
	 * one this catalog still knows is judged by pack_cb's head. */
	if (st == CFS_BLOB_CONDEMNED) {
		struct cfs_pack_info info;
		e = cfs_catalog_pack_get(cfs_repo_catalog(c->r), &loc.pack, &info);
		if (e < 0 && e != -ENOENT)
			return e;
		st = e == -ENOENT ? CFS_BLOB_PACK_MISSING : CFS_BLOB_USABLE;
		e = 0;
	}
	if (st == CFS_BLOB_PACK_MISSING)
		e = note_missing_pack(c, &loc.pack);
	else if (st == CFS_BLOB_DICT_MISSING)
		e = note_missing_dict(c, loc.dict);
	if (e < 0)
		return e;
	int pe = st == CFS_BLOB_USABLE ? pack_is_bad(c, &loc.pack) : 0;
	struct cfs_id key;
	bad_key(id, &loc.pack, &key);
	if (st != CFS_BLOB_USABLE)
		what = cfs_repo_blob_state_name(st);
	else if (pe)
		what = pe == -ENOENT ? "pack missing" : "pack damaged";
	else if (cfs_idset_contains(&c->bad_blobs, &key))
		what = "blob damaged";
	if (!what)
		return 0;
	report_use(c, s, (const char *)c->path.data, id, st == CFS_BLOB_UNKNOWN ? NULL : &loc, what);
	return 1;
}

/* The walk's path: a growable buffer, NUL-terminated at len. */
static int path_push(struct cctx *c, const uint8_t *name, size_t n)
{
	int e = cfs_buf_reserve(&c->path, n + 2);
	if (e < 0)
		return e;
	c->path.data[c->path.len++] = '/';
	memcpy(c->path.data + c->path.len, name, n);
	c->path.len += n;
	c->path.data[c->path.len] = 0;
	return 0;
}

static void path_cut(struct cctx *c, size_t len)
{
	c->path.len = len;
	c->path.data[len] = 0;
}

/* One directory of the walk: its tree, the next entry to look at, where
 * the path ends without its name (cut back to that when it is done), and
 * the problems found below it so far. */
struct frame {
	struct cfs_tree t;
	struct cfs_id id;
	size_t next;
	size_t path_len;
	unsigned problems;
};

struct walk_stack {
	struct frame *v;
	size_t n, cap;
};

static void stack_release(struct walk_stack *w)
{
	for (size_t i = 0; i < w->n; i++)
		cfs_tree_release(&w->v[i].t);
	free(w->v);
	*w = (struct walk_stack){0};
}

/*
 * Read the directory tree_id (at the current path, which ends at
 * parent_len without its name) and push it: 0 pushed, 1 a problem
 * (reported: it cannot be used or read), < 0 fatal. A subtree verified
 * clean before (another snapshot shares it) is skipped: 2.
 */
static int enter_dir(struct cctx *c, const struct cfs_snapshot *s, struct walk_stack *w, const struct cfs_id *tree_id,
		     size_t parent_len)
{
	if (cfs_idset_contains(&c->clean_trees, tree_id))
		return 2;
	progress(c, false);
	int e = check_blob(c, s, tree_id);
	if (e != 0)
		return e;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct frame *v = reallocarray(w->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	struct frame *f = &w->v[w->n];
	/* parent_len, not the path's length now: a finished directory's
	 * name must go, or the entries after it in its parent were named as
	 * if inside it ("a/b/c" for "a/c"). */
	*f = (struct frame){.t = CFS_TREE_INIT, .id = *tree_id, .path_len = parent_len};
	e = cfs_repo_get_tree(c->r, tree_id, &f->t);
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		struct cfs_blob_loc loc = {0};
		(void)cfs_repo_blob_loc(c->r, tree_id, &loc);
		report_use(c, s, (const char *)c->path.data, tree_id, &loc,
			   e == -EPROTO ? "tree malformed" : reason(e));
		return 1;
	}
	c->res->trees++;
	w->n++;
	return 0;
}

/*
 * Walk a snapshot's trees with an explicit stack on the heap (a tree any
 * user can make deep must not exhaust the C stack), reporting every path
 * that uses a blob that cannot be read. Returns < 0 only on a fatal error.
 */
static int walk(struct cctx *c, const struct cfs_snapshot *s)
{
	struct walk_stack w = {0};
	int e;

	cfs_buf_reset(&c->path);
	e = cfs_buf_reserve(&c->path, 1);
	if (e < 0)
		return e;
	c->path.data[0] = 0;
	e = enter_dir(c, s, &w, &s->root, 0);
	while (e >= 0 && w.n > 0) {
		struct frame *f = &w.v[w.n - 1];
		if (c->o->interrupted && *c->o->interrupted) {
			e = -EINTR;
			break;
		}
		if (f->next == f->t.n) {
			/* Done with this directory. */
			unsigned problems = f->problems;
			if (problems == 0 && cfs_idset_add(&c->clean_trees, &f->id) < 0) {
				e = -ENOMEM;
				break;
			}
			path_cut(c, f->path_len);
			cfs_tree_release(&f->t);
			w.n--;
			if (w.n)
				w.v[w.n - 1].problems += problems;
			continue;
		}
		const struct cfs_tree_entry *en = &f->t.entries[f->next++];
		size_t len = c->path.len;
		e = path_push(c, en->name, en->name_len);
		if (e < 0)
			break;
		if (en->type == CFS_FT_DIR) {
			/* f may move when the stack grows: count through the index. */
			size_t fi = w.n - 1;
			e = enter_dir(c, s, &w, &en->subtree, len);
			if (e == 1)
				w.v[fi].problems++;
			if (e != 0) {
				path_cut(c, len);
				e = e < 0 ? e : 0;
			}
			continue;
		}
		for (uint32_t k = 0; en->type == CFS_FT_REG && k < en->n_extents && e >= 0; k++) {
			e = check_blob(c, s, &en->extents[k].id);
			if (e > 0) {
				f->problems++;
				e = 0;
			}
		}
		path_cut(c, len);
	}
	stack_release(&w);
	return e < 0 ? e : 0;
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
					    : e == -ENOTUNIQ ? "reserves the name of a snapshot that has another name "
							       "(swapped with another names/ object, or replaced)"
							     : reason(e),
			  e == -EBADMSG || e == -EPROTONOSUPPORT || e == -ENOTUNIQ ? "" : " object");
	}
	return 0;
}

/* An unencrypted config over objects that look sealed: someone who could
 * write the store switched an encrypted repository to "none". */
static int check_mode(struct cctx *c)
{
	uint64_t n = 0;
	int e = cfs_repo_count_sealed_looking(c->r, &n);
	if (e < 0)
		return e;
	if (n) {
		c->res->problems++;
		log_error("%s: its config says it is not encrypted, but %" PRIu64 " of its objects (index, snapshot, "
			  "dictionary objects, pack headers) do not start as unencrypted ones do: they look encrypted. "
			  "The config was probably altered; do not back up into this repository, restore its config "
			  "and key files",
			  cfs_repo_location(c->r), n);
	}
	return 0;
}

/* What reading found goes into the catalog: no backup from this cache
 * deduplicates against a damaged pack, and later checks name it until
 * repair removes it; a pack that reads whole again loses its mark. */
static void record_damage(struct cctx *c)
{
	size_t bad = 0;
	for (size_t i = 0; i < c->n_read; i++)
		bad += c->read_bad[i];
	int e = cfs_repo_mark_damaged(c->r, c->read_ids, c->read_bad, c->n_read);
	if (e < 0 && bad)
		log_warning_errno(e, "Cannot record the %zu damaged pack(s) in the local catalog: %m%s; until chronoctl "
				     "repair --read-data, a backup may still reuse what they hold",
				  bad, e == -EBUSY ? " (another process holds it)" : "");
}

/* What this open's synchronisation found gone that the cache knew (it
 * named each in a warning, and forgot them: a later run cannot say it). */
static void check_gone(struct cctx *c)
{
	struct cfs_repo_sync_stats st;
	cfs_repo_sync_stats(c->r, &st);
	if (st.config_changed) {
		c->res->problems++;
		log_error("%s: its config is not the one the local catalog saw before (named above)",
			  cfs_repo_location(c->r));
	}
	if (!st.snapshots_gone && !st.indexes_gone && !st.packs_missing)
		return;
	c->res->problems++;
	log_error("%s: %llu snapshot(s), %llu index object(s) and %llu pack(s) that the local catalog knew are gone "
		  "(named above): the repository was rolled back, or objects were deleted",
		  cfs_repo_location(c->r), (unsigned long long)st.snapshots_gone,
		  (unsigned long long)st.indexes_gone, (unsigned long long)st.packs_missing);
}

int cfs_check_run(struct cfs_repo *r, const struct cfs_check_options *o, struct cfs_check_result *ret)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	struct cctx c = {.r = r, .o = o, .res = ret, .path = CFS_BUF_INIT, .t0 = cfs_mono_ns()};
	int e;

	memset(ret, 0, sizeof(*ret));
	/* Metadata objects: a snapshot or index object that does not verify
	 * is skipped when the catalog is synchronised, so it must be named
	 * here or nobody would know it is gone. */
	static const char *const prefixes[] = {"snapshots/", "index/", "dicts/", "names/"};
	struct obj_state os = {&c, 0};
	e = 0;
	for (size_t i = 0; i < ARRAY_SIZE(prefixes) && e == 0; i++)
		e = cfs_objstore_list(cfs_repo_store(r), prefixes[i], object_cb, &os);
	if (e == 0)
		e = check_mode(&c);
	if (e < 0)
		goto out;
	check_gone(&c);
	if (o->progress) {
		e = cfs_repo_pack_totals(r, &c.prog.packs_total, &c.prog.bytes_total);
		if (e < 0)
			goto out;
		if (!o->read_data)
			c.prog.bytes_total = 0;
	}
	c.prog.phase = o->read_data ? "reading packs" : "checking packs";
	e = cfs_catalog_pack_foreach(cfs_repo_catalog(r), pack_cb, &c);
	if (e < 0)
		goto out;
	if (o->read_data)
		record_damage(&c);
	e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		goto out;
	c.prog.phase = "checking snapshots";
	c.prog.snapshots_total = l.n;
	c.next_progress = 0; /* show the new phase at once */
	for (size_t i = 0; i < l.n; i++) {
		progress(&c, false);
		ret->snapshots++;
		e = walk(&c, &l.items[i]);
		if (e < 0)
			goto out;
		c.prog.snapshots++;
	}
	progress(&c, true);
	e = 0;
out:
	cfs_idset_release(&c.bad_blobs);
	cfs_idset_release(&c.clean_trees);
	cfs_buf_release(&c.path);
	free(c.bad_packs);
	free(c.bad_dicts);
	free(c.read_ids);
	free(c.read_bad);
	return e;
}
