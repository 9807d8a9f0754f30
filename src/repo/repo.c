/* SPDX-License-Identifier: MIT */
/*
 * Repository open/init/close and the catalog synchronisation that makes the
 * object store the source of truth.
 */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

/* ---- helpers --------------------------------------------------------- */

/* Before the store is open (its open may already ask the server): an s3://
 * location is remote; once open, cfs_objstore_remote() says. */
static void note_remote(const struct cfs_repo_open_options *o, const struct cfs_objstore *s)
{
	if (o->error)
		o->error->remote = s ? cfs_objstore_remote(s) : strncmp(o->location, "s3://", 5) == 0;
}

int cfs_repo_open_fail(const struct cfs_repo_open_options *o, enum cfs_repo_open_stage stage, const char *path,
		       int e)
{
	if (!o || !o->error || o->error->stage != CFS_REPO_STAGE_NONE || e >= 0)
		return e;
	o->error->stage = stage;
	snprintf(o->error->path, sizeof(o->error->path), "%s", path ? path : "");
	return e;
}

int cfs_repo_entry_encode(struct cfs_buf *out, const struct cfs_pack_entry *e)
{
	uint8_t b[CFS_PACK_ENTRY_SIZE];
	cfs_pack_entry_encode(e, b);
	return cfs_buf_append(out, b, sizeof(b));
}

void cfs_repo_pack_name(const struct cfs_id *pack, char *out, size_t outlen)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(pack, hex);
	snprintf(out, outlen, "data/%.2s/%s", hex, hex);
}

static int pack_name_parse(const char *name, struct cfs_id *ret)
{
	/* "data/xx/<64 hex>" */
	if (strlen(name) != 5 + 3 + 64 || strncmp(name, "data/", 5) != 0 || name[7] != '/' ||
	    strncmp(name + 5, name + 8, 2) != 0)
		return -EINVAL;
	return cfs_hex_decode(name + 8, ret->b, CFS_ID_SIZE);
}

/* A home directory that does not exist (HOME=/nonexistent, as system
 * users have): creating it would leave a home nobody asked for. One that
 * merely cannot be reached is used, so that the error names it. */
static bool home_missing(const char *home)
{
	struct stat st;
	if (stat(home, &st) == 0)
		return !S_ISDIR(st.st_mode);
	return errno == ENOENT || errno == ENOTDIR;
}

int cfs_repo_default_cache_dir(char **ret)
{
	const char *e = getenv("CHRONOFS_CACHE_DIR");
	char buf[4096];

	if (e && *e)
		snprintf(buf, sizeof(buf), "%s", e);
	else if ((e = getenv("XDG_CACHE_HOME")) && *e == '/')
		snprintf(buf, sizeof(buf), "%s/chronofs", e);
	else if ((e = getenv("HOME")) && *e == '/' && strcmp(e, "/") != 0 && !home_missing(e))
		snprintf(buf, sizeof(buf), "%s/.cache/chronofs", e);
	else if (e && *e == '/' && strcmp(e, "/") != 0 && geteuid() != 0)
		return -ENOENT; /* a HOME that does not exist, and no /var/cache to fall back on */
	else
		snprintf(buf, sizeof(buf), "/var/cache/chronofs");
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

const struct cfs_chunker *cfs_repo_chunker(const struct cfs_repo *r) { return &r->chunker; }
const struct cfs_id *cfs_repo_id(const struct cfs_repo *r) { return &r->config.repo_id; }
enum cfs_encryption cfs_repo_encryption(const struct cfs_repo *r) { return r->config.encryption; }

bool cfs_repo_params_shared(const struct cfs_repo *a, const struct cfs_repo *b)
{
	/* Unencrypted ids are plain SHA-256 in both, but the gear seeds
	 * differ: the same content would be cut elsewhere. */
	if (a->config.encryption == CFS_ENC_NONE || b->config.encryption == CFS_ENC_NONE)
		return false;
	return memcmp(a->keys.id_key, b->keys.id_key, CFS_KEY_SIZE) == 0 &&
	       memcmp(a->keys.gear_seed, b->keys.gear_seed, CFS_KEY_SIZE) == 0 &&
	       a->config.chunk_min == b->config.chunk_min && a->config.chunk_avg == b->config.chunk_avg &&
	       a->config.chunk_max == b->config.chunk_max;
}
struct cfs_objstore *cfs_repo_store(struct cfs_repo *r) { return r->store; }
struct cfs_catalog *cfs_repo_catalog(struct cfs_repo *r) { return r->catalog; }
const char *cfs_repo_location(const struct cfs_repo *r) { return cfs_objstore_location(r->store); }
const char *cfs_repo_cache_path(const struct cfs_repo *r) { return r->cache_dir; }
uint32_t cfs_repo_format(const struct cfs_repo *r) { return r->config.version; }
unsigned cfs_repo_tree_version(const struct cfs_repo *r)
{
	return r->config.version >= CFS_REPO_FORMAT_TREES2 ? 2 : 1;
}

static void config_remember(struct cfs_repo *r, struct cfs_catalog_batch *b);

int cfs_repo_upgrade(struct cfs_repo *r, uint32_t *ret_from)
{
	uint8_t b[CFS_CONFIG_SIZE];
	if (!r->writer)
		return -EBADF;
	*ret_from = r->config.version;
	if (r->config.version >= CFS_REPO_FORMAT_VERSION)
		return 0;
	struct cfs_repo_config c = r->config;
	c.version = CFS_REPO_FORMAT_VERSION;
	int e = cfs_repo_config_encode(&c, b);
	if (e == 0)
		e = cfs_objstore_put(r->store, "config", b, sizeof(b));
	if (e < 0)
		return e;
	r->config = c;
	/* The catalog would take it as an upgrade at the next open anyway. */
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *cb = NULL;
	e = cfs_catalog_batch_new(&cb);
	if (e == 0) {
		config_remember(r, cb);
		e = cfs_catalog_commit(r->catalog, cb);
	}
	return e;
}

/* The gear seed of an unencrypted repository: nothing is secret there, so it
 * is derived from the repository id. */
static int none_keys(const struct cfs_repo_config *c, struct cfs_keys *k)
{
	uint8_t in[13 + CFS_ID_SIZE];
	memcpy(in, "chronofs-gear", 13);
	memcpy(in + 13, c->repo_id.b, CFS_ID_SIZE);
	memset(k, 0, sizeof(*k));
	k->mode = CFS_ENC_NONE;
	return cfs_sha256(in, sizeof(in), k->gear_seed);
}

/* ---- init ------------------------------------------------------------ */

/* Stops a listing at the first object. */
static int any_object_cb(const char *name, uint64_t size, void *ud)
{
	(void)name;
	(void)size;
	(void)ud;
	return 1;
}

int cfs_repo_init(const struct cfs_repo_init_options *o, struct cfs_id *ret_repo_id)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = NULL;
	_cleanup_buf_ struct cfs_buf kf = CFS_BUF_INIT;
	struct cfs_repo_config c = {0};
	struct cfs_keys keys;
	uint8_t cbytes[CFS_CONFIG_SIZE];
	uint64_t sz;
	int r;

	const struct cfs_repo *from = o->params_from;
	if (o->encryption == CFS_ENC_AES256GCM && !o->password)
		return -ENOKEY;
	if (from && (o->encryption != CFS_ENC_AES256GCM || from->config.encryption != CFS_ENC_AES256GCM ||
		     o->chunker.min_size || o->chunker.avg_size || o->chunker.max_size))
		return -EINVAL;
	c.version = CFS_REPO_FORMAT_VERSION;
	c.encryption = o->encryption;
	c.zstd_level = o->zstd_level ? o->zstd_level : 3;
	c.chunk_min = o->chunker.min_size ? o->chunker.min_size : CFS_CHUNKER_MIN_DEFAULT;
	c.chunk_avg = o->chunker.avg_size ? o->chunker.avg_size : CFS_CHUNKER_AVG_DEFAULT;
	c.chunk_max = o->chunker.max_size ? o->chunker.max_size : CFS_CHUNKER_MAX_DEFAULT;
	if (from) {
		c.chunk_min = from->config.chunk_min;
		c.chunk_avg = from->config.chunk_avg;
		c.chunk_max = from->config.chunk_max;
		if (!o->zstd_level)
			c.zstd_level = from->config.zstd_level;
	}

	struct cfs_chunker_params cp = {c.chunk_min, c.chunk_avg, c.chunk_max, {0}};
	struct cfs_chunker probe;
	r = cfs_chunker_init(&probe, &cp);
	if (r < 0)
		return r;
	if (c.zstd_level < 1 || c.zstd_level > 19)
		return -EINVAL;

	r = cfs_objstore_open_with(o->location, true, o->store, &s);
	if (r == -EPROTONOSUPPORT)
		return -ESOCKTNOSUPPORT;
	if (r < 0)
		return r;
	r = cfs_objstore_head(s, "config", &sz);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	/* Anything else there (say, key files of an init that was
	 * interrupted) would be mixed into the new repository. */
	r = cfs_objstore_list(s, "", any_object_cb, NULL);
	if (r < 0)
		return r;
	if (r == 1)
		return -ENOTEMPTY;
	r = cfs_random_bytes(c.repo_id.b, CFS_ID_SIZE);
	if (r < 0)
		return r;

	if (o->encryption == CFS_ENC_AES256GCM) {
		uint8_t h[32];
		char hex[65], name[80];
		r = cfs_keys_generate(CFS_ENC_AES256GCM, &keys);
		if (r < 0)
			return r;
		/* Shared parameters: the source's id key and gear seed; the
		 * encryption key stays the fresh one. */
		if (from) {
			memcpy(keys.id_key, from->keys.id_key, CFS_KEY_SIZE);
			memcpy(keys.gear_seed, from->keys.gear_seed, CFS_KEY_SIZE);
		}
		r = cfs_keyfile_seal(&keys, &o->kdf, o->password, o->password_len, &kf);
		cfs_keys_wipe(&keys);
		if (r < 0)
			return r;
		r = cfs_sha256(kf.data, kf.len, h);
		if (r < 0)
			return r;
		cfs_hex_encode(h, sizeof(h), hex);
		snprintf(name, sizeof(name), "keys/%s", hex);
		r = cfs_objstore_put(s, name, kf.data, kf.len);
		if (r < 0)
			return r;
	}
	/* config last: a repository exists once its config does. */
	cfs_repo_config_encode(&c, cbytes);
	r = cfs_objstore_put_new(s, "config", cbytes, sizeof(cbytes));
	if (r < 0)
		return r;
	if (ret_repo_id)
		*ret_repo_id = c.repo_id;
	return 0;
}

/* ---- probe ----------------------------------------------------------- */

int cfs_repo_probe(const char *location, enum cfs_encryption *ret, struct cfs_repo_open_error *ret_error)
{
	return cfs_repo_probe_with(location, NULL, ret, ret_error);
}

int cfs_repo_probe_with(const char *location, const struct cfs_objstore_options *store, enum cfs_encryption *ret,
			struct cfs_repo_open_error *ret_error)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = NULL;
	_cleanup_buf_ struct cfs_buf cb = CFS_BUF_INIT;
	struct cfs_repo_config c;
	const struct cfs_repo_open_options o = {.location = location, .error = ret_error};
	if (ret_error)
		*ret_error = (struct cfs_repo_open_error){0};
	note_remote(&o, NULL);
	int e = cfs_objstore_open_with(location, false, store, &s);
	if (e == -ENOENT || e == -ENOTDIR)
		return -EMEDIUMTYPE;
	if (e == -EPROTONOSUPPORT)
		return -ESOCKTNOSUPPORT;
	if (e < 0)
		return cfs_repo_open_fail(&o, CFS_REPO_STAGE_STORE, "", e);
	note_remote(&o, s);
	e = cfs_objstore_get(s, "config", &cb);
	if (e == -ENOENT)
		return -EMEDIUMTYPE;
	if (e < 0)
		return cfs_repo_open_fail(&o, CFS_REPO_STAGE_STORE, "config", e);
	e = cfs_repo_config_decode(cb.data, cb.len, &c);
	if (e < 0)
		return e;
	*ret = c.encryption;
	return 0;
}

/* ---- open ------------------------------------------------------------ */

/*
 * The catalog remembers the encryption mode it first saw: a repository that
 * was encrypted yesterday and claims not to be today was tampered with
 * (deleting its key files too would get past the check in load_keys).
 */
/*
 * The catalog also remembers the whole config it first saw (meta
 * CFS_REPO_META_CONFIG): the config is not authenticated, and a change to
 * its chunker sizes, zstd level or version would otherwise go unseen.
 * Only an upgrade (a higher version, nothing else changed) is legitimate:
 * it is remembered; any other change is named by config_compare() at
 * every open until it is undone. (A changed repository id cannot be seen
 * this way: the id names the cache, so it opens another, fresh one.)
 */
static bool config_same_but_version(const struct cfs_repo_config *a, const struct cfs_repo_config *b)
{
	return a->encryption == b->encryption && a->zstd_level == b->zstd_level &&
	       memcmp(&a->repo_id, &b->repo_id, sizeof(a->repo_id)) == 0 && a->chunk_min == b->chunk_min &&
	       a->chunk_avg == b->chunk_avg && a->chunk_max == b->chunk_max;
}

static bool config_upgraded(const struct cfs_repo_config *was, const struct cfs_repo_config *now)
{
	return was->version < now->version && config_same_but_version(was, now);
}

/* The config this catalog remembers: 0 and *ret, -ENOENT, -EPROTO (the
 * remembered bytes do not decode), or the catalog's error (-ENOMEM, -EIO:
 * not evidence of anything). */
static int config_remembered(struct cfs_catalog *cat, struct cfs_repo_config *ret)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	int e = cfs_catalog_meta_get(cat, CFS_REPO_META_CONFIG, &v);
	if (e < 0)
		return e;
	e = v.len == CFS_CONFIG_SIZE ? cfs_repo_config_decode(v.data, v.len, ret) : -EPROTO;
	return e < 0 ? -EPROTO : 0;
}

/* Put the config in b for the catalog to remember. */
static void config_remember(struct cfs_repo *r, struct cfs_catalog_batch *b)
{
	uint8_t cur[CFS_CONFIG_SIZE];
	cfs_repo_config_encode(&r->config, cur);
	cfs_catalog_batch_put_meta(b, CFS_REPO_META_CONFIG, cur, sizeof(cur));
}

static int check_mode(struct cfs_repo *r)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	struct cfs_repo_config was;
	uint8_t mode = (uint8_t)r->config.encryption;
	int e = cfs_catalog_meta_get(r->catalog, "encryption", &v);
	if (e == 0 && !(v.len == 1 && v.data[0] == mode))
		return -EKEYREJECTED;
	if (e < 0 && e != -ENOENT)
		return e;
	int e2 = cfs_catalog_batch_new(&b);
	if (e2 < 0)
		return e2;
	if (e == -ENOENT)
		cfs_catalog_batch_put_meta(b, "encryption", &mode, 1);
	e = config_remembered(r->catalog, &was);
	if (e < 0 && e != -ENOENT && e != -EPROTO)
		return e;
	if (e == -ENOENT || (e == 0 && config_upgraded(&was, &r->config)))
		config_remember(r, b);
	return cfs_catalog_commit(r->catalog, b);
}

/* Name a config that differs from the one the catalog remembers (any
 * catalog, a reader's secondary too); counted in sync_stats. */
static int config_compare(struct cfs_repo *r)
{
	struct cfs_repo_config was;
	const struct cfs_repo_config *now = &r->config;
	char what[160] = "";
	size_t used = 0;
	int e = config_remembered(r->catalog, &was);
	if (e < 0 && e != -ENOENT && e != -EPROTO)
		return e;
	if (e == -ENOENT ||
	    (e == 0 && config_same_but_version(&was, now) && was.version <= now->version))
		return 0;
	if (e == -EPROTO)
		used += (size_t)snprintf(what, sizeof(what), "the remembered copy is unreadable");
#define CONFIG_FIELD(cond, name) \
	if (e == 0 && (cond) && used < sizeof(what)) \
		used += (size_t)snprintf(what + used, sizeof(what) - used, "%s%s", used ? ", " : "", name)
	CONFIG_FIELD(was.version > now->version, "an older format version");
	CONFIG_FIELD(was.zstd_level != now->zstd_level, "the zstd level");
	CONFIG_FIELD(was.chunk_min != now->chunk_min || was.chunk_avg != now->chunk_avg ||
			     was.chunk_max != now->chunk_max,
		     "the chunk sizes");
	CONFIG_FIELD(was.encryption != now->encryption, "the encryption");
#undef CONFIG_FIELD
	r->sync_stats.config_changed = 1;
	log_warning("The config of %s is not the one the local catalog (%s) saw before (%s): it was altered or "
		    "rolled back (it is not authenticated); put the right one back (chronofs-repository(5), config)",
		    cfs_objstore_location(r->store), r->cache_dir, what);
	return 0;
}

struct dict_note {
	struct cfs_repo *r;
	struct cfs_catalog_batch *b;
	bool lost;
};

/* A dictionary the catalog saw that the store no longer gives: said once,
 * and the repository counts as having lost data until a repair. */
static int vanished_dict_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct dict_note *dn = ud;
	struct cfs_repo *r = dn->r;
	char k[32], obj[96] = "its dicts/ object";
	if (klen >= sizeof(k))
		return 0;
	if (vlen > 0 && vlen < sizeof(obj)) {
		memcpy(obj, val, vlen);
		obj[vlen] = 0;
	}
	memcpy(k, key, klen);
	k[klen] = 0;
	char *end;
	unsigned long n = strtoul(k + strlen(CFS_REPO_META_DICT), &end, 10);
	if (*end || n == 0 || n > UINT32_MAX || cfs_repo_dict_have(r, (uint32_t)n))
		return 0;
	log_warning("Dictionary %lu of %s is gone (%s is missing or damaged): blobs compressed with it cannot be "
		    "read, and are stored again when a backup meets them; run chronoctl check",
		    n, cfs_objstore_location(r->store), obj);
	cfs_catalog_batch_delete_meta(dn->b, k);
	dn->lost = true;
	return 0;
}

/*
 * A writer remembers the dictionaries it saw (catalog meta "dict/<n>") and
 * notices one that vanished: data lost.
 */
static int note_dicts(struct cfs_repo *r)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	int e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	struct dict_note dn = {r, b, false};
	e = cfs_catalog_meta_foreach(r->catalog, CFS_REPO_META_DICT, vanished_dict_cb, &dn);
	if (e == 0 && dn.lost)
		e = cfs_repo_data_lost(r, r->catalog, b);
	if (e < 0)
		return e;
	pthread_mutex_lock(&r->dicts.lock);
	for (size_t i = 0; i < r->dicts.n; i++) {
		char k[32];
		snprintf(k, sizeof(k), "%s%" PRIu32, CFS_REPO_META_DICT, cfs_zdict_number(r->dicts.v[i]));
		cfs_catalog_batch_put_meta(b, k, r->dicts.names[i], strlen(r->dicts.names[i]));
	}
	pthread_mutex_unlock(&r->dicts.lock);
	return cfs_catalog_commit(r->catalog, b);
}

/* Synchronising reads the store and writes the catalog: a full or
 * read-only file system is the cache's, anything else the store's. */
static int sync_fail(struct cfs_repo *r, const struct cfs_repo_open_options *o, int e)
{
	if (e == -ENOSPC || e == -EDQUOT || e == -EROFS)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, r->cache_dir, e);
	return cfs_repo_open_fail(o, CFS_REPO_STAGE_STORE, "", e);
}

/* A writer holds the cache lock (and so the catalog) for its whole run. */
static int open_writer(struct cfs_repo *r, const struct cfs_repo_open_options *o)
{
	char path[4096];
	int e = cfs_repo_lock_cache(r->cache_dir, o->lock_wait_sec, o, &r->lock_fd);
	if (e < 0)
		return e;
	snprintf(path, sizeof(path), "%s/catalog", r->cache_dir);
	/* Under the cache lock: no reader fills it meanwhile; readers holding
	 * a secondary view of the old one keep their open files. */
	if (o->rebuild_catalog) {
		e = cfs_rm_rf(path);
		if (e < 0 && e != -ENOENT)
			return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, path, e);
	}
	e = cfs_catalog_open(path, &r->catalog);
	if (e == 0)
		e = check_mode(r);
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, path, e);
	e = cfs_repo_lock_object_put(r);
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_STORE, "locks/", e);
	e = cfs_repo_usable_init(r);
	if (e == 0)
		e = cfs_repo_sync_catalog(r);
	if (e == 0)
		e = note_dicts(r);
	if (e < 0)
		return sync_fail(r, o, e);
	if (r->n_unreadable && !r->allow_damaged) {
		/* Each was named by the sync. A repository whose packs cannot
		 * be read is damaged, or is not what its config says (an
		 * encrypted one whose config was switched to "none"): a writer
		 * adds nothing to it. */
		log_error("%zu pack(s) of %s cannot be read (named above); nothing is written to it: run chronoctl "
			  "check, then chronoctl repair",
			  r->n_unreadable, cfs_objstore_location(r->store));
		return -EUCLEAN;
	}
	return 0;
}

/* Remove reader directories left by processes that died (kill -9). */
static void reap_readers(const char *readers)
{
	DIR *d = opendir(readers);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (pid <= 0 || *end != '-')
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char p[8192];
		snprintf(p, sizeof(p), "%s/%s", readers, de->d_name);
		(void)cfs_rm_rf(p);
	}
	closedir(d);
}

static int sync_catalog(struct cfs_repo *r, struct cfs_catalog *cat);

/*
 * If no other process holds the cache, bring the catalog up to date with the
 * store through a short-lived primary handle. 0 also when it is held (the
 * holder, a writer, synchronised when it opened).
 */
/* A reader's way to write its catalog: the cache lock (not waited for:
 * -EBUSY when another process holds it) and a short-lived primary handle,
 * both the caller's to close. */
static int reader_primary(struct cfs_repo *r, const struct cfs_repo_open_options *o, int *ret_lock_fd,
			  struct cfs_catalog **ret)
{
	char path[4096];
	/* Not o: busy is no failure here (the caller goes on without). */
	int e = cfs_repo_lock_cache(r->cache_dir, 0, NULL, ret_lock_fd);
	if (e < 0 && e != -EBUSY) {
		snprintf(path, sizeof(path), "%s/lock", r->cache_dir);
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_LOCK, path, e);
	}
	if (e < 0)
		return e;
	snprintf(path, sizeof(path), "%s/catalog", r->cache_dir);
	return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, path, cfs_catalog_open(path, ret));
}

/* o: the open's options while opening (its error is told what failed),
 * else NULL. */
static int sync_if_unlocked(struct cfs_repo *r, const struct cfs_repo_open_options *o)
{
	/* Declared first, released last: the catalog must be closed (its
	 * RocksDB LOCK released) before the cache lock lets a writer in, or
	 * the writer's open fails with -EBUSY at once. */
	_cleanup_close_ int lock_fd = -1;
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *prim = NULL;
	int e = reader_primary(r, o, &lock_fd, &prim);
	if (e == -EBUSY)
		return 0;
	if (e < 0)
		return e;
	if (!r->catalog) {
		/* At open (no reader thread exists yet): check_mode() works on
		 * r->catalog. Never swapped later, while readers run. */
		r->catalog = prim;
		e = check_mode(r);
		r->catalog = NULL;
		if (e < 0)
			return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, "", e);
	}
	return sync_fail(r, o, sync_catalog(r, prim));
}

int cfs_repo_mark_damaged(struct cfs_repo *r, const struct cfs_id *packs, const bool *damaged, size_t n)
{
	_cleanup_close_ int lock_fd = -1; /* released after prim is closed: see sync_if_unlocked */
	_cleanup_(cfs_catalog_freep) struct cfs_catalog *prim = NULL;
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	struct cfs_catalog *cat = r->catalog;
	char key[128], hex[CFS_ID_HEX_SIZE];
	bool any = false;
	int e;

	if (n == 0)
		return 0;
	/* A reader writes through a primary handle of its own, as
	 * sync_if_unlocked() does; a writer (or a reader that holds the
	 * primary) through its catalog. */
	if (!r->writer && r->secondary_dir) {
		e = reader_primary(r, NULL, &lock_fd, &prim);
		if (e < 0)
			return e;
		cat = prim;
	}
	e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		cfs_id_hex(&packs[i], hex);
		snprintf(key, sizeof(key), "%s%s", CFS_REPO_META_DAMAGED, hex);
		if (damaged[i])
			cfs_catalog_batch_put_meta(b, key, "", 0);
		else
			cfs_catalog_batch_delete_meta(b, key);
		any = any || damaged[i];
	}
	/* Trees found usable before may name what is damaged. */
	if (any)
		e = cfs_repo_data_lost(r, cat, b);
	return e < 0 ? e : cfs_catalog_commit(cat, b);
}

bool cfs_repo_pack_marked_damaged(struct cfs_repo *r, const struct cfs_id *pack)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	char key[128], hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(pack, hex);
	snprintf(key, sizeof(key), "%s%s", CFS_REPO_META_DAMAGED, hex);
	return cfs_catalog_meta_get(r->catalog, key, &v) == 0;
}

int cfs_repo_refresh(struct cfs_repo *r)
{
	if (r->writer)
		return 0;
	if (!r->secondary_dir) /* a reader that fell back to holding the primary */
		return sync_catalog(r, r->catalog);
	int e = sync_if_unlocked(r, NULL);
	if (e < 0)
		return e;
	return cfs_catalog_catch_up(r->catalog);
}

/*
 * A reader takes the cache lock only to bring the catalog up to date with
 * the store, then reads through a RocksDB secondary instance: a long restore
 * or a mount never makes a backup wait, and a running backup never makes a
 * reader wait (it reads what the backup had committed when it opened).
 */
static int open_reader(struct cfs_repo *r, const struct cfs_repo_open_options *o)
{
	char path[4096], sec[4200];
	uint8_t rnd[8];
	char hex[17];
	int e;

	snprintf(path, sizeof(path), "%s/catalog", r->cache_dir);
	e = sync_if_unlocked(r, o);
	if (e < 0)
		return e;

	snprintf(sec, sizeof(sec), "%s/readers", r->cache_dir);
	(void)mkdir(sec, 0700);
	reap_readers(sec);
	e = cfs_random_bytes(rnd, sizeof(rnd));
	if (e < 0)
		return e;
	cfs_hex_encode(rnd, sizeof(rnd), hex);
	snprintf(sec, sizeof(sec), "%s/readers/%ld-%s", r->cache_dir, (long)getpid(), hex);
	r->secondary_dir = strdup(sec);
	if (!r->secondary_dir)
		return -ENOMEM;
	e = cfs_catalog_open_secondary(path, sec, &r->catalog);
	if (e == -ENOENT) {
		/* Another process is creating this cache right now: wait for
		 * it, then read as the primary. */
		e = cfs_repo_lock_cache(r->cache_dir, o->lock_wait_sec, o, &r->lock_fd);
		if (e < 0)
			return e;
		e = cfs_catalog_open(path, &r->catalog);
		if (e < 0)
			return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, path, e);
		return sync_fail(r, o, cfs_repo_sync_catalog(r));
	}
	return cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, path, e);
}

/* The key files tried and why each did not open, said only when none
 * does, and only for those that are damaged (a wrong passphrase is said
 * once, by the caller: -EKEYEXPIRED; a key file the store would not give,
 * by the caller too, from o->error). A key file is named by the SHA-256 of
 * its bytes: one that does not open and does not hash to its name is
 * damaged, not just locked with another passphrase. */
#define KEYS_NAMED 4
struct key_try {
	struct cfs_objstore *s;
	const struct cfs_repo_open_options *o;
	struct cfs_keys *keys;
	int result; /* 1 found, else last error */
	int store_error; /* the first key file the store would not give */
	char store_name[80];
	unsigned n;
	char names[KEYS_NAMED][80];
	int errors[KEYS_NAMED];
};

static int try_key(const char *name, uint64_t size, void *ud)
{
	struct key_try *t = ud;
	_cleanup_buf_ struct cfs_buf b = CFS_BUF_INIT;
	(void)size;
	int r = cfs_objstore_get(t->s, name, &b);
	if (r < 0) {
		/* Refused or lost by the store: no judgement on the passphrase. */
		if (!t->store_error) {
			t->store_error = r;
			snprintf(t->store_name, sizeof(t->store_name), "%s", name);
		}
		return 0;
	}
	r = cfs_keyfile_open(b.data, b.len, t->o->password, t->o->password_len, t->keys);
	if (r == 0) {
		t->result = 1;
		return 1; /* stop */
	}
	/* The key file does not authenticate with this passphrase. */
	if (r == -EACCES)
		r = -EKEYEXPIRED;
	uint8_t want[32], got[32];
	if ((r == -EKEYEXPIRED || r == -EPROTO) && strlen(name) == 5 + 64 &&
	    cfs_hex_decode(name + 5, want, 32) == 0 && cfs_sha256(b.data, b.len, got) == 0 &&
	    memcmp(want, got, 32) != 0)
		r = -EBADMSG;
	if (t->n < KEYS_NAMED) {
		snprintf(t->names[t->n], sizeof(t->names[0]), "%s", name);
		t->errors[t->n] = r;
	}
	t->n++;
	/* A malformed key file must not mask a wrong passphrase on a good one. */
	if (t->result == -ENOENT || r == -EKEYEXPIRED)
		t->result = r;
	return 0;
}

static void keys_report(const struct key_try *t, const char *loc)
{
	if (t->n == 0 && !t->store_error)
		log_error("Repository %s is encrypted but has no key file (keys/ is empty)", loc);
	for (unsigned i = 0; i < t->n && i < KEYS_NAMED; i++) {
		int e = t->errors[i];
		if (e == -EKEYEXPIRED)
			continue;
		log_error("Key file %s of %s %s", t->names[i], loc,
			  e == -EBADMSG	      ? "is damaged (its bytes do not hash to its name)"
			  : e == -EPROTO	      ? "is malformed"
			  : e == -EPROTONOSUPPORT ? "was written by a newer chronofs"
						: strerror(-e));
	}
}

static int load_keys(struct cfs_repo *r, const struct cfs_repo_open_options *o)
{
	if (r->config.encryption == CFS_ENC_NONE) {
		/* The config is not authenticated (it must be readable before
		 * any key is). Whoever gives a passphrase means encryption:
		 * nothing the store holds may turn it into plain text. */
		if (o->password)
			return -EKEYREVOKED;
		/* An encrypted repository whose config was flipped to "none"
		 * still has its key files. Refuse rather than write plain text
		 * into it. */
		int e = cfs_objstore_list(r->store, "keys/", any_object_cb, NULL);
		if (e < 0)
			return cfs_repo_open_fail(o, CFS_REPO_STAGE_KEYS, "keys/", e);
		if (e == 1)
			return -EKEYREJECTED;
		return none_keys(&r->config, &r->keys);
	}
	if (!o->password)
		return -ENOKEY;
	struct key_try t = {r->store, o, &r->keys, -ENOENT};
	int e = cfs_objstore_list(r->store, "keys/", try_key, &t);
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_KEYS, "keys/", e);
	if (t.result == 1)
		return 0;
	keys_report(&t, cfs_objstore_location(r->store));
	/* A key that does not take the passphrase says more than one the
	 * store would not give, which says more than a damaged one. */
	if (t.result != -EKEYEXPIRED && t.store_error)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_KEYS, t.store_name, t.store_error);
	return t.result == -ENOENT ? -ENOKEY : t.result;
}

/* The disk cache of a remote store: <cache>/<repo id>/packs, or when
 * another process (a mount, a backup) has it, one of this run's own, reaped
 * like a reader's directory if we are killed. Without one, reads go on
 * uncached. */
static void open_disk_cache(struct cfs_repo *r, uint64_t bytes)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/packs", r->cache_dir);
	int e = cfs_objstore_disk_cache(r->store, path, bytes, false);
	if (e == -EBUSY) {
		uint8_t rnd[8];
		char hex[17];
		e = cfs_random_bytes(rnd, sizeof(rnd));
		cfs_hex_encode(rnd, sizeof(rnd), hex);
		snprintf(path, sizeof(path), "%s/readers/%ld-packs-%s", r->cache_dir, (long)getpid(), hex);
		if (e == 0)
			e = cfs_objstore_disk_cache(r->store, path, bytes, true);
	}
	if (e < 0)
		(void)log_warning_errno(e, "Cannot use a disk cache at %s: %m; reading packs without it", path);
}

int cfs_repo_open(const struct cfs_repo_open_options *o, struct cfs_repo **ret)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_buf_ struct cfs_buf cb = CFS_BUF_INIT;
	_cleanup_free_ char *base = NULL;
	char hex[CFS_ID_HEX_SIZE], path[4096];
	int e;

	if (o->error)
		*o->error = (struct cfs_repo_open_error){0};
	if (o->rebuild_catalog && !o->writer)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->lock_fd = -1;
	r->writer = o->writer;
	r->allow_damaged = o->allow_damaged;
	cfs_repo_dicts_init(r);
	pthread_mutex_init(&r->write_lock, NULL);
	for (size_t i = 0; i < CFS_REPO_OPEN_PACKS; i++)
		pthread_mutex_init(&r->open[i].lock, NULL);
	pthread_cond_init(&r->flights_done, NULL);
	pthread_mutex_init(&r->uploaders.lock, NULL);
	pthread_cond_init(&r->uploaders.work, NULL);

	note_remote(o, NULL);
	e = cfs_objstore_open_with(o->location, false, o->store, &r->store);
	if (e == -ENOENT || e == -ENOTDIR)
		return -EMEDIUMTYPE;
	if (e == -EPROTONOSUPPORT)
		return -ESOCKTNOSUPPORT; /* a location scheme we do not serve (yet) */
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_STORE, "", e);
	note_remote(o, r->store);
	r->max_flights = cfs_objstore_transfers(r->store);
	e = cfs_objstore_get(r->store, "config", &cb);
	if (e == -ENOENT)
		return -EMEDIUMTYPE;
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_STORE, "config", e);
	e = cfs_repo_config_decode(cb.data, cb.len, &r->config);
	if (e < 0)
		return e;

	e = load_keys(r, o);
	if (e < 0)
		return e;
	struct cfs_chunker_params cp = {r->config.chunk_min, r->config.chunk_avg, r->config.chunk_max, {0}};
	memcpy(cp.seed, r->keys.gear_seed, sizeof(cp.seed));
	e = cfs_chunker_init(&r->chunker, &cp);
	if (e < 0)
		return -EPROTO;
	e = cfs_crypto_new(&r->keys, &r->crypto);
	if (e < 0)
		return e;
	e = cfs_compressor_new(r->config.zstd_level, &r->zc);
	if (e < 0)
		return e;
	e = cfs_crypto_new(&r->keys, &r->crypto_w);
	if (e < 0)
		return e;
	for (size_t i = 0; i < CFS_REPO_OPEN_PACKS; i++) {
		e = cfs_pack_writer_new(&r->open[i].pw);
		if (e < 0)
			return e;
	}
	e = cfs_repo_dicts_load(r);
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_STORE, "dicts/", e);

	/* Local state: <cache>/<repo id>/{lock,catalog}, all 0700. */
	if (o->cache_dir) {
		base = strdup(o->cache_dir);
		if (!base)
			return -ENOMEM;
	} else {
		e = cfs_repo_default_cache_dir(&base);
		if (e == -ENOENT)
			return cfs_repo_open_fail(o, CFS_REPO_STAGE_CACHE_HOME, getenv("HOME"), e);
		if (e < 0)
			return e;
	}
	cfs_id_hex(&r->config.repo_id, hex);
	if (snprintf(path, sizeof(path), "%s/%s", base, hex) >= (int)sizeof(path))
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_CACHE_DIR, base, -ENAMETOOLONG);
	/* The cache directory the user chose (or the default) is what the
	 * message names: <repo id> below it is ours. */
	e = cfs_mkdir_p(path, 0700);
	if (e < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_CACHE_DIR, base, e);
	if (chmod(path, 0700) < 0)
		return cfs_repo_open_fail(o, CFS_REPO_STAGE_CACHE_DIR, path, -errno);
	r->cache_dir = strdup(path);
	if (!r->cache_dir)
		return -ENOMEM;
	if (o->disk_cache_bytes && cfs_objstore_remote(r->store))
		open_disk_cache(r, o->disk_cache_bytes);
	if (r->writer)
		e = open_writer(r, o);
	else
		e = open_reader(r, o);
	if (e == 0)
		e = cfs_repo_open_fail(o, CFS_REPO_STAGE_CATALOG, r->cache_dir, config_compare(r));
	if (e < 0)
		return e;
	*ret = TAKE_PTR(r);
	return 0;
}

struct cfs_repo *cfs_repo_free(struct cfs_repo *r)
{
	if (!r)
		return NULL;
	/* First: a dictionary being trained, or a pack written in the
	 * background, still writes to the store. */
	cfs_repo_dicts_release(r);
	pthread_mutex_lock(&r->write_lock);
	while (r->flights)
		pthread_cond_wait(&r->flights_done, &r->write_lock);
	pthread_mutex_unlock(&r->write_lock);
	cfs_repo_uploaders_stop(r);
	if (r->store)
		cfs_repo_lock_object_delete(r);
	/* Trees found usable stay so whether or not a snapshot came of it. */
	if (r->writer && r->catalog)
		(void)cfs_repo_usable_commit(r);
	r->catalog = cfs_catalog_free(r->catalog);
	if (r->secondary_dir) {
		(void)cfs_rm_rf(r->secondary_dir);
		free(r->secondary_dir);
	}
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	for (size_t i = 0; i < CFS_REPO_OPEN_PACKS; i++) {
		r->open[i].pw = cfs_pack_writer_free(r->open[i].pw);
		r->open[i].up = cfs_objstore_upload_free(r->open[i].up);
		pthread_mutex_destroy(&r->open[i].lock);
		cfs_idset_release(&r->open[i].ids);
	}
	r->zc = cfs_compressor_free(r->zc);
	r->crypto = cfs_crypto_free(r->crypto);
	r->crypto_w = cfs_crypto_free(r->crypto_w);
	r->store = cfs_objstore_free(r->store);
	cfs_idset_release(&r->claimed);
	cfs_idset_release(&r->bad_packs);
	cfs_idset_release(&r->condemned);
	free(r->unreadable);
	cfs_catalog_batch_free(r->marks);
	free(r->put_trees);
	pthread_cond_destroy(&r->flights_done);
	pthread_mutex_destroy(&r->write_lock);
	pthread_cond_destroy(&r->uploaders.work);
	pthread_mutex_destroy(&r->uploaders.lock);
	cfs_buf_release(&r->zbuf);
	cfs_buf_release(&r->sbuf);
	r->reader = cfs_repo_reader_free(r->reader);
	cfs_keys_wipe(&r->keys);
	free(r->cache_dir);
	free(r);
	return NULL;
}

/* ---- catalog synchronisation ----------------------------------------- */

struct sync_state;
static int index_put_pack(struct sync_state *st, struct cfs_catalog_batch *b, const struct cfs_id *pack,
			  const struct cfs_pack_info *info);
static int index_put_blob(struct sync_state *st, struct cfs_catalog_batch *b, const struct cfs_id *id,
			  const struct cfs_blob_loc *loc);

/* load_index()'s callbacks: a pack and its blobs into the batch, through
 * the sync's filter. */
struct index_load {
	struct sync_state *st; /* NULL: no filter */
	struct cfs_catalog_batch *b;
};

static int index_pack_cb(void *ud, const struct cfs_id *pack, uint64_t size, uint32_t count)
{
	struct index_load *l = ud;
	struct cfs_pack_info info = {size, count};
	return index_put_pack(l->st, l->b, pack, &info);
}

static int index_entry_cb(void *ud, const struct cfs_id *pack, const struct cfs_pack_entry *pe)
{
	struct index_load *l = ud;
	struct cfs_blob_loc loc = {*pack, pe->offset, pe->stored_len, pe->raw_len, pe->type, pe->codec, pe->dict};
	return index_put_blob(l->st, l->b, &pe->id, &loc);
}

/* Read, authenticate and parse index object `name`; with apply, add its
 * entries to the catalog in one batch, filtered by st (NULL: all). */
static int load_index(struct cfs_repo *r, struct cfs_catalog *cat, const char *name, bool apply,
		      struct sync_state *st)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	int e;

	e = cfs_repo_get_sealed_object(r, r->crypto, name, CFS_REPO_AAD_INDEX, &plain);
	if (e < 0)
		return e;
	e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	/* Streamed into the batch, which is dropped if the object is bad. */
	struct index_load l = {st, b};
	e = cfs_pack_index_decode(plain.data, plain.len, index_pack_cb, index_entry_cb, &l);
	if (e < 0)
		return e;
	if (!apply)
		return 0;
	char key[256];
	snprintf(key, sizeof(key), "%s", name);
	cfs_catalog_batch_put_meta(b, key, "", 0);
	return cfs_catalog_commit(cat, b);
}

static int listed_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CFS_ID_SIZE);
}

static int listing_add(struct repo_pack_listing *l, const struct cfs_id *id, uint64_t size)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct repo_listed_pack *v = reallocarray(l->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct repo_listed_pack){*id, size};
	return 0;
}

const struct repo_listed_pack *cfs_repo_listing_find(const struct repo_pack_listing *l, const struct cfs_id *id)
{
	const struct repo_listed_pack *p = l->sorted ? bsearch(id, l->v, l->sorted, sizeof(*l->v), listed_cmp) : NULL;
	for (size_t i = l->sorted; !p && i < l->n; i++)
		if (memcmp(&l->v[i].id, id, sizeof(*id)) == 0)
			p = &l->v[i];
	return p;
}

void cfs_repo_listing_release(struct repo_pack_listing *l)
{
	free(l->v);
	cfs_idset_release(&l->absent);
	*l = (struct repo_pack_listing){0};
}

static int list_pack_cb(const char *name, uint64_t size, void *ud)
{
	struct repo_pack_listing *l = ud;
	struct cfs_id pack;
	if (pack_name_parse(name, &pack) < 0)
		return 0; /* not ours */
	return listing_add(l, &pack, size);
}

int cfs_repo_listing_fill(struct cfs_repo *r, struct repo_pack_listing *l)
{
	*l = (struct repo_pack_listing){0};
	int e = cfs_objstore_list(r->store, "data/", list_pack_cb, l);
	if (e < 0) {
		cfs_repo_listing_release(l);
		return e;
	}
	if (l->n) /* no qsort of an empty (NULL) array: UBSan */
		qsort(l->v, l->n, sizeof(*l->v), listed_cmp);
	l->sorted = l->n;
	return 0;
}

/* The first few names of what vanished, for one warning. */
#define GONE_NAMES 3
struct gone {
	uint64_t n;
	char names[GONE_NAMES][160];
};

static void gone_add(struct gone *g, const char *name)
{
	if (g->n < GONE_NAMES)
		snprintf(g->names[g->n], sizeof(g->names[0]), "%s", name);
	g->n++;
}

struct sync_state {
	struct cfs_repo *r;
	struct cfs_catalog *cat; /* the catalog being synchronised (a primary) */
	struct cfs_catalog_batch *b;
	int error;
	size_t seen;
	struct cfs_idset listed;  /* the snapshots/ objects the store listed */
	struct cfs_idset indexes; /* the index/ objects the store listed */
	struct repo_pack_listing *packs; /* data/ as listed by this sync, or NULL */
	bool cur_good;            /* load_index: the pack it applies is listed whole */
	struct gone gone_packs, gone_indexes, gone_snapshots;
	struct cfs_idset records;  /* the gc/ objects the store listed */
	struct cfs_buf reapply;    /* ids of index objects new condemn records name as written */
	bool lost;                 /* a new record condemned packs */
};

enum pack_state { PACK_GOOD, PACK_MISSING, PACK_DAMAGED };

/* A pack an index object or the catalog names, against the listing: good
 * (listed with the size recorded), missing, or damaged (another size). A
 * pack not in the listing is asked for once (HEAD): another writer may
 * have put it, and its index, since data/ was listed. Without a listing
 * in this sync every pack counts as good (a reader catching up). */
static int pack_state(struct sync_state *st, const struct cfs_id *pack, uint64_t recorded)
{
	struct repo_pack_listing *l = st->packs;
	if (!l)
		return PACK_GOOD;
	const struct repo_listed_pack *p = cfs_repo_listing_find(l, pack);
	if (!p && !cfs_idset_contains(&l->absent, pack)) {
		char name[96];
		uint64_t size;
		cfs_repo_pack_name(pack, name, sizeof(name));
		int e = cfs_objstore_head(st->r->store, name, &size);
		if (e == -ENOENT)
			e = cfs_idset_add(&l->absent, pack) < 0 ? -ENOMEM : 0;
		else if (e == 0 && (e = listing_add(l, pack, size)) == 0)
			p = &l->v[l->n - 1];
		if (e < 0)
			return e;
	}
	if (!p)
		return PACK_MISSING;
	return p->size == recorded ? PACK_GOOD : PACK_DAMAGED;
}

/*
 * load_index() applies an entry through these. The rule (a backup never
 * references data the repository no longer holds): an entry of a pack that
 * is listed whole replaces whatever the catalog has; one of a missing or
 * damaged pack is only added when the catalog knows no location at all (a
 * blob can be in two packs: the good copy wins, in whatever order the
 * index objects come), and such a pack is never deduplicated against.
 */
static int index_put_pack(struct sync_state *st, struct cfs_catalog_batch *b, const struct cfs_id *pack,
			  const struct cfs_pack_info *info)
{
	if (st) {
		int e = pack_state(st, pack, info->size);
		if (e < 0)
			return e;
		/* An entry in a condemned pack never replaces a location:
		 * prune moved what that pack still held elsewhere. */
		st->cur_good = e == PACK_GOOD && !cfs_repo_pack_condemned(st->r, pack);
		if (!st->cur_good) {
			struct cfs_pack_info have;
			e = cfs_catalog_pack_get(st->cat, pack, &have);
			if (e != -ENOENT)
				return e; /* 0: keep the size the catalog knows */
		}
	}
	cfs_catalog_batch_put_pack(b, pack, info);
	return 0;
}

static int index_put_blob(struct sync_state *st, struct cfs_catalog_batch *b, const struct cfs_id *id,
			  const struct cfs_blob_loc *loc)
{
	if (st && !st->cur_good) {
		struct cfs_blob_loc have;
		int e = cfs_catalog_blob_get(st->cat, id, &have);
		if (e != -ENOENT)
			return e;
	}
	cfs_catalog_batch_put_blob(b, id, loc);
	return 0;
}

/* Errors of this host (memory, the cache's disk) stop a sync; an object
 * that cannot be read is skipped and counted. */
static bool local_failure(int e)
{
	return e == -ENOMEM || e == -ENOSPC || e == -EDQUOT || e == -EROFS || e == -EMFILE;
}

int cfs_repo_meta_key_id(const void *key, size_t klen, const char *prefix, struct cfs_id *ret)
{
	size_t plen = strlen(prefix);
	char hex[CFS_ID_HEX_SIZE];
	if (klen != plen + 64 || memcmp(key, prefix, plen) != 0)
		return -EINVAL;
	memcpy(hex, (const char *)key + plen, 64);
	hex[64] = 0;
	return cfs_hex_decode(hex, ret->b, CFS_ID_SIZE) < 0 ? -EINVAL : 0;
}

/* Whether the catalog has meta key <prefix><hex of id>. */
static bool meta_has(struct cfs_catalog *cat, const char *prefix, const struct cfs_id *id)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	char key[128], hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(id, hex);
	snprintf(key, sizeof(key), "%s%s", prefix, hex);
	return cfs_catalog_meta_get(cat, key, &v) == 0;
}

static int sync_index_cb(const char *name, uint64_t size, void *ud)
{
	struct sync_state *st = ud;
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	struct cfs_id id;
	(void)size;
	if (strncmp(name, "index/", 6) != 0 || strlen(name) != 6 + 64 || cfs_hex_decode(name + 6, id.b, CFS_ID_SIZE) < 0)
		return 0; /* not ours: ignore */
	if (cfs_idset_add(&st->indexes, &id) < 0)
		return -ENOMEM;
	int e = cfs_catalog_meta_get(st->cat, name, &v);
	if (e == 0)
		return 0;
	if (e != -ENOENT)
		return e;
	e = load_index(st->r, st->cat, name, true, st);
	if (local_failure(e))
		return e;
	/* A damaged index is not fatal: packs are adopted from their own headers
	 * and `check` names the object. */
	if (e < 0 && st->error == 0)
		st->error = e;
	if (e < 0)
		st->r->sync_stats.indexes_bad++;
	else
		st->r->sync_stats.indexes_loaded++;
	return 0;
}

/* An index object the catalog applied that the store no longer lists. */
static int drop_vanished_index_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct sync_state *st = ud;
	char name[80];
	struct cfs_id id;
	(void)val;
	(void)vlen;
	if (klen != 6 + 64)
		return 0;
	memcpy(name, key, klen);
	name[klen] = 0;
	if (cfs_hex_decode(name + 6, id.b, CFS_ID_SIZE) < 0 || cfs_idset_contains(&st->indexes, &id))
		return 0;
	if (!meta_has(st->cat, CFS_REPO_META_RETIRING, &id)) /* else: a prune let it go */
		gone_add(&st->gone_indexes, name);
	cfs_catalog_batch_delete_meta(st->b, name);
	return 0;
}

static int snapshot_object_load(struct cfs_repo *r, const char *name, const struct cfs_id *id,
				struct cfs_catalog_batch *b)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	struct cfs_snapshot s;
	struct cfs_id got;
	int e = cfs_repo_get_sealed_object(r, r->crypto, name, CFS_REPO_AAD_SNAPSHOT, &plain);
	if (e < 0)
		return e;
	e = cfs_crypto_blob_id(r->crypto, plain.data, plain.len, &got);
	if (e < 0)
		return e;
	if (memcmp(&got, id, sizeof(got)) != 0)
		return -EBADMSG;
	e = cfs_snapshot_decode(plain.data, plain.len, &s);
	if (e < 0)
		return e;
	cfs_snapshot_release(&s);
	cfs_catalog_batch_put_snapshot(b, id, plain.data, plain.len);
	return 0;
}

static int sync_snapshot_cb(const char *name, uint64_t size, void *ud)
{
	struct sync_state *st = ud;
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	struct cfs_id id;
	(void)size;
	if (strncmp(name, "snapshots/", 10) != 0 || cfs_hex_decode(name + 10, id.b, CFS_ID_SIZE) < 0)
		return 0; /* not ours: ignore */
	st->seen++;
	/* Forgotten: its record is applied, its manifest not deleted yet. */
	if (meta_has(st->cat, CFS_REPO_META_FORGOT, &id))
		return 0;
	if (cfs_idset_add(&st->listed, &id) < 0)
		return -ENOMEM;
	int e = cfs_catalog_snapshot_get(st->cat, &id, &v);
	if (e == 0)
		return 0;
	if (e != -ENOENT)
		return e;
	e = snapshot_object_load(st->r, name, &id, st->b);
	if (local_failure(e))
		return e;
	if (e < 0 && st->error == 0)
		st->error = e;
	if (e == 0)
		st->r->sync_stats.snapshots_loaded++;
	return 0;
}

/* A snapshot the catalog has and the listing did not show is gone (the
 * listing is complete: S3 and local listings are strongly consistent, and
 * nothing commits to this catalog during a sync, which holds its lock). */
static int drop_vanished_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct sync_state *st = ud;
	struct cfs_snapshot s;
	struct cfs_id id;
	if (klen != CFS_ID_SIZE)
		return 0;
	memcpy(id.b, key, CFS_ID_SIZE);
	if (cfs_idset_contains(&st->listed, &id))
		return 0;
	char hex[CFS_ID_HEX_SIZE], what[160];
	cfs_id_hex(&id, hex);
	if (cfs_snapshot_decode(val, vlen, &s) == 0) {
		snprintf(what, sizeof(what), "%s, snapshots/%s", s.name, hex);
		cfs_snapshot_release(&s);
	} else {
		snprintf(what, sizeof(what), "snapshots/%s", hex);
	}
	gone_add(&st->gone_snapshots, what);
	cfs_catalog_batch_delete_snapshot(st->b, &id);
	return 0;
}

int cfs_repo_verify_object(struct cfs_repo *r, const char *name)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	struct cfs_id id;
	if (strncmp(name, "index/", 6) == 0)
		return load_index(r, NULL, name, false, NULL);
	if (strncmp(name, "dicts/", 6) == 0)
		return cfs_repo_dict_verify_object(r, name);
	if (strncmp(name, "names/", 6) == 0)
		return cfs_repo_name_verify_object(r, name, NULL);
	if (strncmp(name, "snapshots/", 10) == 0) {
		if (cfs_hex_decode(name + 10, id.b, CFS_ID_SIZE) < 0)
			return -EPROTO;
		int e = cfs_catalog_batch_new(&b);
		if (e < 0)
			return e;
		return snapshot_object_load(r, name, &id, b);
	}
	return -EINVAL;
}

int cfs_repo_pack_header_read(struct cfs_repo *r, const struct cfs_id *pack, uint64_t size,
			      struct cfs_pack_entry **ret, size_t *ret_count)
{
	return repo_pack_header_read(r, r->crypto, pack, size, ret, ret_count);
}

int repo_pack_header_read(struct cfs_repo *r, struct cfs_crypto *crypto, const struct cfs_id *pack, uint64_t size,
			  struct cfs_pack_entry **ret, size_t *ret_count)
{
	_cleanup_free_ uint8_t *hdr = NULL;
	uint8_t trailer[CFS_PACK_TRAILER_SIZE];
	uint32_t hdr_len;
	char name[96];
	int e;

	cfs_repo_pack_name(pack, name, sizeof(name));
	if (size < CFS_PACK_TRAILER_SIZE)
		return -EPROTO;
	e = cfs_objstore_get_range(r->store, name, size - CFS_PACK_TRAILER_SIZE, CFS_PACK_TRAILER_SIZE, trailer);
	if (e < 0)
		return e;
	e = cfs_pack_parse_trailer(trailer, sizeof(trailer), size, &hdr_len);
	if (e < 0)
		return e;
	hdr = malloc(hdr_len ? hdr_len : 1);
	if (!hdr)
		return -ENOMEM;
	e = cfs_objstore_get_range(r->store, name, size - CFS_PACK_TRAILER_SIZE - hdr_len, hdr_len, hdr);
	if (e < 0)
		return e;
	return cfs_pack_parse_header(crypto, hdr, hdr_len, size, ret, ret_count);
}

/* Add a pack whose header was read to the catalog, pending an index. */
static int adopt_entries(struct cfs_catalog *cat, const struct cfs_id *pack, uint64_t size,
			 const struct cfs_pack_entry *entries, size_t count)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf marker = CFS_BUF_INIT;
	char key[128], hex[CFS_ID_HEX_SIZE];

	int e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	e = cfs_buf_append_le64(&marker, size);
	for (size_t i = 0; i < count && e == 0; i++) {
		struct cfs_blob_loc loc = {*pack, entries[i].offset, entries[i].stored_len, entries[i].raw_len,
					   entries[i].type, entries[i].codec, entries[i].dict};
		cfs_catalog_batch_put_blob(b, &entries[i].id, &loc);
		e = cfs_repo_entry_encode(&marker, &entries[i]);
	}
	if (e < 0)
		return e;
	struct cfs_pack_info info = {size, (uint32_t)count};
	cfs_catalog_batch_put_pack(b, pack, &info);
	cfs_id_hex(pack, hex);
	snprintf(key, sizeof(key), "pending/%s", hex);
	cfs_catalog_batch_put_meta(b, key, marker.data, marker.len);
	return cfs_catalog_commit(cat, b);
}

static int note_unreadable(struct cfs_repo *r, const struct cfs_id *pack, uint64_t size, int error)
{
	struct repo_bad_pack *v = reallocarray(r->unreadable, r->n_unreadable + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->unreadable = v;
	r->unreadable[r->n_unreadable++] = (struct repo_bad_pack){*pack, size, error};
	return 0;
}

/* A listed pack: adopted from its header when the catalog does not know it
 * (left by a killed run, written by another host that has not committed
 * yet, or its index/ object is lost); compared with the size recorded
 * when it does. */
static int sync_listed_pack(struct sync_state *st, const struct repo_listed_pack *lp)
{
	_cleanup_free_ struct cfs_pack_entry *entries = NULL;
	struct cfs_repo *r = st->r;
	struct cfs_pack_info info;
	size_t count;
	char name[96];

	cfs_repo_pack_name(&lp->id, name, sizeof(name));
	int e = cfs_catalog_pack_get(st->cat, &lp->id, &info);
	if (e == 0 && info.size != lp->size) {
		r->sync_stats.packs_damaged++;
		log_warning("Pack %s in %s has %llu bytes, %llu recorded: it is damaged, and its blobs are not reused "
			    "(a backup stores them again); run chronoctl check, then chronoctl repair",
			    name, cfs_objstore_location(r->store), (unsigned long long)lp->size,
			    (unsigned long long)info.size);
		return cfs_idset_add(&r->bad_packs, &lp->id) < 0 ? -ENOMEM : 0;
	}
	if (e != -ENOENT)
		return e;
	e = cfs_repo_pack_header_read(r, &lp->id, lp->size, &entries, &count);
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		/* A writer will not add to a repository with packs it cannot
		 * read (cfs_repo_open says so); readers go on without them. */
		r->sync_stats.packs_bad++;
		cfs_log_internal(r->writer ? CFS_LOG_ERROR : CFS_LOG_WARNING, e,
				 "Cannot read the header of pack %s in %s: %m (its blobs are unknown to the catalog; "
				 "chronoctl check names it, chronoctl repair removes it)",
				 name, cfs_objstore_location(r->store));
		return note_unreadable(r, &lp->id, lp->size, e);
	}
	e = adopt_entries(st->cat, &lp->id, lp->size, entries, count);
	if (e == 0)
		r->sync_stats.packs_adopted++;
	return e;
}

/* A pack the catalog knows (from an index object, or an earlier run) that
 * the store does not have: forgotten, so that its blobs are never
 * deduplicated against (cfs_repo_blob_state() wants a known pack); a
 * backup stores them again and the catalog then points to the new copy. */
static int sweep_missing_cb(const struct cfs_id *pack, const struct cfs_pack_info *info, void *ud)
{
	struct sync_state *st = ud;
	char name[96];
	(void)info;
	if (cfs_repo_listing_find(st->packs, pack))
		return 0;
	cfs_catalog_batch_delete_pack(st->b, pack);
	if (cfs_repo_pack_condemned(st->r, pack))
		return 0; /* a prune deleted it; its done record says so */
	cfs_repo_pack_name(pack, name, sizeof(name));
	gone_add(&st->gone_packs, name);
	st->r->sync_stats.packs_missing++;
	return 0;
}

/* A pack an earlier check --read-data found damaged (cfs_repo_mark_damaged):
 * never deduplicated against while the store lists it; its mark goes with
 * it. */
static int marked_damaged_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct sync_state *st = ud;
	char k[128];
	struct cfs_id pack;
	(void)val;
	(void)vlen;
	if (cfs_repo_meta_key_id(key, klen, CFS_REPO_META_DAMAGED, &pack) < 0)
		return 0;
	if (!cfs_repo_listing_find(st->packs, &pack)) {
		memcpy(k, key, klen);
		k[klen] = 0;
		cfs_catalog_batch_delete_meta(st->b, k);
		return 0;
	}
	return cfs_idset_add(&st->r->bad_packs, &pack) < 0 ? -ENOMEM : 0;
}

static void gone_format(const struct gone *g, const char *what, char *out, size_t outlen, size_t *used)
{
	if (!g->n)
		return;
	*used += (size_t)snprintf(out + *used, outlen - *used, "%s%llu %s (", *used ? ", " : "",
				  (unsigned long long)g->n, what);
	for (uint64_t i = 0; i < g->n && i < GONE_NAMES && *used < outlen; i++)
		*used += (size_t)snprintf(out + *used, outlen - *used, "%s%s", i ? ", " : "", g->names[i]);
	if (*used < outlen)
		*used += (size_t)snprintf(out + *used, outlen - *used, "%s)", g->n > GONE_NAMES ? ", ..." : "");
	if (*used > outlen)
		*used = outlen;
}

/* Say once that the store lacks what the catalog or the index objects knew. */
static void report_gone(struct sync_state *st)
{
	char what[1024] = "";
	size_t used = 0;
	gone_format(&st->gone_packs, "pack(s)", what, sizeof(what), &used);
	gone_format(&st->gone_indexes, "index object(s)", what, sizeof(what), &used);
	gone_format(&st->gone_snapshots, "snapshot(s)", what, sizeof(what), &used);
	if (!used)
		return;
	log_warning("Repository %s no longer has objects that the local catalog (%s) or its index objects name: %s. "
		    "It was rolled back or objects were deleted: blobs that were in missing packs are stored again "
		    "when a backup meets them; run chronoctl check",
		    cfs_objstore_location(st->r->store), st->r->cache_dir, what);
}

static int commit_batch(struct sync_state *st)
{
	return cfs_catalog_commit(st->cat, st->b);
}

/* Deletion records (gc.c), applied before anything else of a sync: done
 * records after the others, so that a condemn record and its done record
 * seen together leave nothing condemned. */
struct records_pass {
	struct sync_state *st;
	bool done; /* this pass applies done records (else every other kind) */
};

static int sync_record_cb(const char *name, uint64_t size, void *ud)
{
	struct records_pass *rp = ud;
	struct sync_state *st = rp->st;
	struct repo_record rec = {0};
	struct cfs_id id;
	(void)size;
	if (strncmp(name, "gc/", 3) != 0 || strlen(name) != 3 + 64 || cfs_hex_decode(name + 3, id.b, CFS_ID_SIZE) < 0)
		return 0; /* not ours */
	if (!rp->done && cfs_idset_add(&st->records, &id) < 0)
		return -ENOMEM;
	if (meta_has(st->cat, CFS_REPO_META_RECORD, &id))
		return 0;
	int e = cfs_repo_record_get(st->r, &id, &rec);
	if (e == -ENOENT)
		return 0; /* a prune finished with it meanwhile */
	if (local_failure(e))
		return e;
	if (e < 0) {
		/* Skipped: its snapshots stay listed, its packs are not
		 * condemned here (a prune reads it itself); check names it. */
		log_warning_errno(e, "Cannot read deletion record %s in %s: %m", name, cfs_objstore_location(st->r->store));
		if (st->error == 0)
			st->error = e;
		return 0;
	}
	if ((rec.kind == REPO_RECORD_DONE) == rp->done) {
		e = cfs_repo_record_apply(st->cat, &id, &rec, st->b, &st->lost);
		for (size_t i = 0; e == 0 && rec.kind == REPO_RECORD_CONDEMN && i < rec.n_written; i++)
			e = cfs_buf_append(&st->reapply, rec.written[i].b, CFS_ID_SIZE);
	}
	cfs_repo_record_release(&rec);
	return e;
}

/* A record the catalog applied that the store no longer lists: prune is
 * through with it; its marker goes (what it said stays applied). */
static int drop_vanished_record_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud)
{
	struct sync_state *st = ud;
	char name[80];
	struct cfs_id id;
	(void)val;
	(void)vlen;
	if (klen != 3 + 64)
		return 0;
	memcpy(name, key, klen);
	name[klen] = 0;
	if (cfs_hex_decode(name + 3, id.b, CFS_ID_SIZE) == 0 && !cfs_idset_contains(&st->records, &id))
		cfs_catalog_batch_delete_meta(st->b, name);
	return 0;
}

static int sync_records(struct sync_state *st)
{
	struct records_pass pass = {st, false};
	int e = cfs_objstore_list(st->r->store, "gc/", sync_record_cb, &pass);
	/* Done records read what the condemn records did (record_apply). */
	if (e == 0)
		e = commit_batch(st);
	if (e == 0) {
		pass.done = true;
		e = cfs_objstore_list(st->r->store, "gc/", sync_record_cb, &pass);
	}
	if (e == 0)
		e = cfs_catalog_meta_foreach(st->cat, CFS_REPO_META_RECORD, drop_vanished_record_cb, st);
	if (e == 0 && st->lost)
		e = cfs_repo_data_lost(st->r, st->cat, st->b);
	if (e == 0)
		e = commit_batch(st);
	if (e == 0)
		e = cfs_repo_condemned_load(st->r, st->cat);
	return e;
}

/* Index objects a new condemn record names as written by its prune (what
 * moved out of the condemned packs) are applied again, now that the packs
 * are known condemned: their entries replace locations in those packs,
 * whatever order this catalog first met the index objects in. */
static int reapply_moved(struct sync_state *st)
{
	char hex[CFS_ID_HEX_SIZE], name[96];
	for (size_t off = 0; off + CFS_ID_SIZE <= st->reapply.len; off += CFS_ID_SIZE) {
		struct cfs_id id;
		memcpy(id.b, st->reapply.data + off, CFS_ID_SIZE);
		cfs_id_hex(&id, hex);
		snprintf(name, sizeof(name), "index/%s", hex);
		int e = load_index(st->r, st->cat, name, true, st);
		if (local_failure(e))
			return e;
	}
	return 0;
}

static int sync_catalog_in(struct sync_state *st)
{
	_cleanup_(cfs_catalog_batch_freep) struct cfs_catalog_batch *b = NULL;
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	struct repo_pack_listing listing = {0};
	struct cfs_repo *r = st->r;
	struct cfs_catalog *cat = st->cat;
	int e;

	e = cfs_catalog_batch_new(&b);
	if (e < 0)
		return e;
	st->b = b;
	/* Packs: a writer looks every time (it reuses what killed runs left,
	 * and dedups only against packs the store has); a reader the first
	 * time it fills a catalog, so that a repository whose index/ objects
	 * are lost still restores and mounts from a fresh cache. data/ is
	 * listed first, so that index entries of packs the store does not
	 * have never overwrite good locations. */
	e = cfs_catalog_meta_get(cat, CFS_REPO_META_PACKS_SCANNED, &v);
	if (e < 0 && e != -ENOENT)
		return e;
	bool scanned = e == 0;
	if (r->writer || !scanned) {
		st->packs = &listing;
		e = cfs_repo_listing_fill(r, &listing);
	}
	if (e == 0)
		e = sync_records(st);
	if (e == 0)
		e = cfs_objstore_list(r->store, "index/", sync_index_cb, st);
	if (e == 0)
		e = reapply_moved(st);
	if (e == 0)
		e = cfs_catalog_meta_foreach(cat, "index/", drop_vanished_index_cb, st);
	if (e == 0)
		e = cfs_objstore_list(r->store, "snapshots/", sync_snapshot_cb, st);
	if (e == 0)
		e = cfs_catalog_snapshot_foreach(cat, drop_vanished_cb, st);
	if (e == 0)
		e = commit_batch(st);
	for (size_t i = 0; e == 0 && st->packs && i < listing.n; i++)
		e = sync_listed_pack(st, &listing.v[i]);
	if (e == 0 && st->packs)
		e = cfs_catalog_pack_foreach(cat, sweep_missing_cb, st);
	if (e == 0 && st->packs)
		e = cfs_catalog_meta_foreach(cat, CFS_REPO_META_DAMAGED, marked_damaged_cb, st);
	if (e == 0 && !scanned)
		cfs_catalog_batch_put_meta(b, CFS_REPO_META_PACKS_SCANNED, "", 0);
	/* Lost data: trees found usable before may name it. */
	if (e == 0 && (st->gone_packs.n || r->sync_stats.packs_damaged || r->n_unreadable))
		e = cfs_repo_data_lost(r, cat, b);
	if (e == 0)
		e = commit_batch(st);
	cfs_repo_listing_release(&listing);
	st->packs = NULL;
	if (e < 0)
		return e;
	r->sync_stats.snapshots_gone += st->gone_snapshots.n;
	r->sync_stats.indexes_gone += st->gone_indexes.n;
	report_gone(st);
	/* Damaged index or snapshot objects do not stop an open: `check` names
	 * them and reads go on for everything else. */
	return 0;
}

static int sync_catalog(struct cfs_repo *r, struct cfs_catalog *cat)
{
	struct sync_state st = {.r = r,
				.cat = cat,
				.listed = CFS_IDSET_INIT,
				.indexes = CFS_IDSET_INIT,
				.records = CFS_IDSET_INIT,
				.reapply = CFS_BUF_INIT};
	int e = sync_catalog_in(&st);
	cfs_idset_release(&st.listed);
	cfs_idset_release(&st.indexes);
	cfs_idset_release(&st.records);
	cfs_buf_release(&st.reapply);
	return e;
}

int cfs_repo_sync_catalog(struct cfs_repo *r)
{
	return sync_catalog(r, r->catalog);
}

/* ---- an unencrypted config over sealed objects ------------------------ */

/* The plaintext magics objects of an unencrypted repository start with
 * (frozen formats: chronofs-repository(5), pack.h, snapshot.h). Sealed
 * bytes start with a random nonce instead. */
static const struct {
	const char *prefix;
	const char *magic;
} plain_magics[] = {
	{"index/", CFS_PACK_INDEX_MAGIC},
	{"dicts/", CFS_ZDICT_OBJECT_MAGIC},
	{"snapshots/", "CFSSNAP\x01"},
};
#define PACK_HEADER_MAGIC "CFSPHDR\x01"

struct sealed_state {
	struct cfs_repo *r;
	const char *magic; /* NULL: packs */
	uint64_t n;
};

static int sealed_cb(const char *name, uint64_t size, void *ud)
{
	struct sealed_state *st = ud;
	uint8_t b[8], trailer[CFS_PACK_TRAILER_SIZE];
	uint64_t off = 0;
	const char *magic = st->magic;
	if (!magic) {
		struct cfs_id pack;
		uint32_t hdr_len;
		/* A pack's trailer is plain in every repository: only the
		 * header it points to is sealed or not. */
		if (pack_name_parse(name, &pack) < 0 || size < CFS_PACK_TRAILER_SIZE ||
		    cfs_objstore_get_range(st->r->store, name, size - CFS_PACK_TRAILER_SIZE, sizeof(trailer),
					   trailer) < 0 ||
		    cfs_pack_parse_trailer(trailer, sizeof(trailer), size, &hdr_len) < 0)
			return 0; /* damaged, not sealed: check names it otherwise */
		off = size - CFS_PACK_TRAILER_SIZE - hdr_len;
		magic = PACK_HEADER_MAGIC;
	}
	int e = cfs_objstore_get_range(st->r->store, name, off, sizeof(b), b);
	if (e == 0 && memcmp(b, magic, sizeof(b)) != 0)
		st->n++;
	return e == -ENOMEM ? e : 0;
}

int cfs_repo_count_sealed_looking(struct cfs_repo *r, uint64_t *ret)
{
	struct sealed_state st = {r, NULL, 0};
	int e = 0;
	*ret = 0;
	if (r->config.encryption != CFS_ENC_NONE)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(plain_magics) && e == 0; i++) {
		st.magic = plain_magics[i].magic;
		e = cfs_objstore_list(r->store, plain_magics[i].prefix, sealed_cb, &st);
	}
	st.magic = NULL;
	if (e == 0)
		e = cfs_objstore_list(r->store, "data/", sealed_cb, &st);
	*ret = st.n;
	return e;
}

void cfs_repo_sync_stats(const struct cfs_repo *r, struct cfs_repo_sync_stats *ret)
{
	*ret = r->sync_stats;
}
