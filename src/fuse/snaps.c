/* SPDX-License-Identifier: MIT */
/*
 * The snapshot table behind the mount root: which snapshots exist, their
 * inode ordinals, and time lookups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "fuse/fuse-internal.h"

static uint32_t ord_from_id(const struct cfs_id *id)
{
	uint32_t v = (uint32_t)(cfs_get_le32(id->b) & ORD_MAX);
	return v ? v : 1;
}

static struct snapinfo *find_by_id(struct cfs_fs *fs, const struct cfs_id *id)
{
	for (size_t i = 0; i < fs->n_all; i++)
		if (memcmp(&fs->all[i]->id, id, sizeof(*id)) == 0)
			return fs->all[i];
	return NULL;
}

struct snapinfo *fs_snap_by_ord(struct cfs_fs *fs, uint32_t ord)
{
	struct snapinfo *r = NULL;
	pthread_rwlock_rdlock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_all; i++)
		if (fs->all[i]->ord == ord) {
			r = fs->all[i];
			break;
		}
	pthread_rwlock_unlock(&fs->snap_lock);
	return r;
}

static bool ord_taken(struct cfs_fs *fs, uint32_t ord)
{
	for (size_t i = 0; i < fs->n_all; i++)
		if (fs->all[i]->ord == ord)
			return true;
	return false;
}

/* Order of a list's entries (indexes) by name, for finding duplicates. */
static int by_name(const void *a, const void *b, void *ud)
{
	const struct cfs_snapshot_list *l = ud;
	const size_t *x = a, *y = b;
	return strcmp(l->items[*x].name, l->items[*y].name);
}

/*
 * Which entries of l share their name with another (repositories written
 * before names were reserved, or by a hostile writer): dup[i] set.
 */
static int find_duplicates(const struct cfs_snapshot_list *l, bool *dup)
{
	size_t *order = calloc(l->n ? l->n : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		order[i] = i;
	qsort_r(order, l->n, sizeof(*order), by_name, (void *)l);
	for (size_t i = 1; i < l->n; i++)
		if (strcmp(l->items[order[i - 1]].name, l->items[order[i]].name) == 0)
			dup[order[i - 1]] = dup[order[i]] = true;
	free(order);
	return 0;
}

/*
 * The name a snapshot has in the mount root: its own, or when another
 * snapshot has the same one, "<name>~<16 hex digits of its id>" (the name
 * cut so that it fits): distinct, and the same in every daemon that sees
 * both. Fixed when the snapshot first appears in this daemon.
 */
static void display_name(const struct cfs_snapshot *s, const struct cfs_id *id, bool dup, char *out, size_t outlen)
{
	char hex[CFS_ID_HEX_SIZE];
	if (!dup) {
		snprintf(out, outlen, "%s", s->name);
		return;
	}
	cfs_id_hex(id, hex);
	int keep = (int)outlen - 1 - 1 - 16;
	snprintf(out, outlen, "%.*s~%.16s", keep, s->name, hex);
}

/*
 * Build the new table from the repository's list (sorted by time). Called
 * with refresh_lock held; takes snap_lock for writing only to swap.
 */
static int load_list(struct cfs_fs *fs)
{
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	int e = cfs_repo_list_snapshots(fs->repo, &l);
	if (e < 0)
		return e;
	struct snapinfo **live = calloc(l.n ? l.n : 1, sizeof(*live));
	bool *dup = calloc(l.n ? l.n : 1, sizeof(*dup));
	if (!live || !dup || find_duplicates(&l, dup) < 0) {
		free(live);
		free(dup);
		return -ENOMEM;
	}

	pthread_rwlock_wrlock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_all; i++)
		fs->all[i]->live = false;
	for (size_t i = 0; i < l.n; i++) {
		struct snapinfo *s = find_by_id(fs, &l.ids[i]);
		if (!s) {
			if (fs->n_all == fs->cap_all) {
				size_t ncap = fs->cap_all ? fs->cap_all * 2 : 32;
				struct snapinfo **na = realloc(fs->all, ncap * sizeof(*na));
				if (!na) {
					e = -ENOMEM;
					break;
				}
				fs->all = na;
				fs->cap_all = ncap;
			}
			s = calloc(1, sizeof(*s));
			if (!s) {
				e = -ENOMEM;
				break;
			}
			s->id = l.ids[i];
			s->root = l.items[i].root;
			s->nodes = l.items[i].root_nodes;
			s->time_ns = l.items[i].time_ns;
			display_name(&l.items[i], &l.ids[i], dup[i], s->name, sizeof(s->name));
			pthread_mutex_init(&s->links_lock, NULL);
			/* New snapshots are met in time order, so the clash
			 * resolution is the same in every daemon that sees the
			 * same snapshots. */
			uint32_t ord = ord_from_id(&s->id);
			while (ord_taken(fs, ord))
				ord = ord == ORD_MAX ? 1 : ord + 1;
			s->ord = ord;
			fs->all[fs->n_all++] = s;
		}
		if (s->nodes >= INDEX_MAX) {
			log_warning("Snapshot %s has too many entries to mount (%llu)", s->name,
				    (unsigned long long)s->nodes);
			continue;
		}
		s->live = true;
		live[i] = s;
	}
	size_t n = 0;
	for (size_t i = 0; i < l.n; i++)
		if (live[i])
			live[n++] = live[i];
	if (e == 0) {
		/* The root's mtime: the newest snapshot's time, and when the
		 * list changes under a running mount, no earlier than now, so
		 * the kernel drops its cached listing of the root (it compares
		 * the directory's mtime before reusing one). */
		bool changed = n != fs->n_live;
		for (size_t i = 0; !changed && i < n; i++)
			changed = live[i] != fs->live[i];
		int64_t newest = n ? live[n - 1]->time_ns : 0;
		if (!fs->live)
			fs->root_mtime_ns = newest;
		else if (changed)
			fs->root_mtime_ns = CFS_MAX(CFS_MAX(newest, cfs_now_ns()), fs->root_mtime_ns + 1);
		free(fs->live);
		fs->live = live;
		fs->n_live = n;
		live = NULL;
	}
	pthread_rwlock_unlock(&fs->snap_lock);
	free(live);
	free(dup);
	return e;
}

int64_t fs_root_mtime(struct cfs_fs *fs)
{
	pthread_rwlock_rdlock(&fs->snap_lock);
	int64_t t = fs->root_mtime_ns;
	pthread_rwlock_unlock(&fs->snap_lock);
	return t;
}

/* Under refresh_lock. */
static void refresh_locked(struct cfs_fs *fs)
{
	fs->last_refresh_start_ns = cfs_mono_ns();
	int e = cfs_repo_refresh(fs->repo);
	if (e < 0)
		log_warning_errno(e, "Cannot refresh the snapshot list: %m (serving the last one)");
	e = load_list(fs);
	if (e < 0)
		log_warning_errno(e, "Cannot load the snapshot list: %m");
	fs->last_refresh_ns = cfs_mono_ns();
}

/*
 * A refresh that begins after `since`. One that began earlier (a look at
 * the root a moment ago, another reader's) may have synchronised before a
 * prune moved the blobs and deleted their pack: the catalog still names
 * that pack, and a read of a live file failed with EIO until the next
 * refresh, up to a second later (t3006). Still at most one refresh a
 * second: the rest of the second is waited out, without refresh_lock
 * (the loop thread takes it for a look at the root), and readers that
 * failed meanwhile share the refresh that follows.
 */
static void refresh_since(struct cfs_fs *fs, int64_t since)
{
	pthread_mutex_lock(&fs->refresh_lock);
	while (fs->last_refresh_start_ns <= since) {
		int64_t wait = fs->last_refresh_ns + 1000000000 - cfs_mono_ns();
		if (wait <= 0) {
			refresh_locked(fs);
			break;
		}
		pthread_mutex_unlock(&fs->refresh_lock);
		struct timespec ts = {wait / 1000000000, wait % 1000000000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&fs->refresh_lock);
	}
	pthread_mutex_unlock(&fs->refresh_lock);
}

int fs_blob_moved(struct cfs_fs *fs, const struct cfs_id *id, const struct cfs_id *old_pack)
{
	struct cfs_blob_loc loc;
	int64_t since = cfs_mono_ns();
	if (fs_inline)
		return 0;
	if (id && cfs_repo_blob_loc(fs->repo, id, &loc) == 0 && memcmp(loc.pack.b, old_pack->b, CFS_ID_SIZE) != 0)
		return 1; /* another reader's refresh found it already */
	if (fs->single) /* no periodic refresh: this is the only one */
		(void)cfs_repo_refresh(fs->repo);
	else
		refresh_since(fs, since);
	if (!id)
		return 1;
	return cfs_repo_blob_loc(fs->repo, id, &loc) == 0 && memcmp(loc.pack.b, old_pack->b, CFS_ID_SIZE) != 0;
}

int fs_snaps_refresh(struct cfs_fs *fs, int64_t max_age_ns)
{
	if (fs->single)
		return 0;
	pthread_mutex_lock(&fs->refresh_lock);
	int64_t now = cfs_mono_ns();
	bool due = max_age_ns == 0 || now - fs->last_refresh_ns >= max_age_ns;
	if (due && fs_inline) {
		/* It reads the store: not on the loop thread. */
		pthread_mutex_unlock(&fs->refresh_lock);
		return -EWOULDBLOCK;
	}
	if (due)
		refresh_locked(fs);
	pthread_mutex_unlock(&fs->refresh_lock);
	return 0;
}

int fs_snaps_init(struct cfs_fs *fs)
{
	pthread_rwlock_init(&fs->snap_lock, NULL);
	pthread_mutex_init(&fs->refresh_lock, NULL);
	fs->last_refresh_start_ns = cfs_mono_ns();
	int e = load_list(fs);
	if (e < 0)
		return e;
	fs->last_refresh_ns = cfs_mono_ns();
	fs->refresh_every_ns = cfs_objstore_remote(cfs_repo_store(fs->repo)) ? 10000000000 : 1000000000;
	if (fs->o->snapshot) {
		struct cfs_id id;
		e = cfs_repo_find_snapshot(fs->repo, fs->o->snapshot, NULL, &id);
		if (e < 0)
			return e;
		pthread_rwlock_rdlock(&fs->snap_lock);
		fs->single = find_by_id(fs, &id);
		pthread_rwlock_unlock(&fs->snap_lock);
		if (!fs->single)
			return -ENOENT;
	}
	return 0;
}

void fs_snaps_free(struct cfs_fs *fs)
{
	for (size_t i = 0; i < fs->n_all; i++) {
		pthread_mutex_destroy(&fs->all[i]->links_lock);
		free(fs->all[i]->links);
		free(fs->all[i]);
	}
	free(fs->all);
	free(fs->live);
	pthread_rwlock_destroy(&fs->snap_lock);
	pthread_mutex_destroy(&fs->refresh_lock);
}

struct snapinfo *fs_snap_by_name(struct cfs_fs *fs, const char *name)
{
	struct snapinfo *r = NULL;
	pthread_rwlock_rdlock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_live; i++)
		if (strcmp(fs->live[i]->name, name) == 0) {
			r = fs->live[i];
			break;
		}
	pthread_rwlock_unlock(&fs->snap_lock);
	return r;
}

/*
 * Snapshots are named to the second: the one named 20:00:00Z (taken at
 * 20:00:00.4) is "the snapshot of 20:00:00", so a lookup of 20:00:00.000Z
 * finds it too. Compare at the name's precision: the time floored to the
 * second.
 */
struct snapinfo *fs_snap_at(struct cfs_fs *fs, int64_t t_ns)
{
	struct snapinfo *r = NULL;
	pthread_rwlock_rdlock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_live; i++) {
		/* As cfs_repo_resolve_snapshot(): the times people type mean
		 * the end of their second (or minute, day), so a plain
		 * comparison finds a snapshot made late in the second its
		 * name gives. */
		if (fs->live[i]->time_ns > t_ns)
			break;
		r = fs->live[i];
	}
	pthread_rwlock_unlock(&fs->snap_lock);
	return r;
}

struct snapinfo *fs_snap_latest(struct cfs_fs *fs)
{
	struct snapinfo *r = NULL;
	pthread_rwlock_rdlock(&fs->snap_lock);
	if (fs->n_live)
		r = fs->live[fs->n_live - 1];
	pthread_rwlock_unlock(&fs->snap_lock);
	return r;
}

int fs_snaps_live(struct cfs_fs *fs, struct snapinfo ***ret, size_t *ret_n)
{
	pthread_rwlock_rdlock(&fs->snap_lock);
	size_t n = fs->n_live;
	struct snapinfo **a = calloc(n ? n : 1, sizeof(*a));
	if (a && n)
		memcpy(a, fs->live, n * sizeof(*a));
	pthread_rwlock_unlock(&fs->snap_lock);
	if (!a)
		return -ENOMEM;
	*ret = a;
	*ret_n = n;
	return 0;
}
