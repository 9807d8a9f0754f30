/* SPDX-License-Identifier: MIT */
/*
 * dict.c — the repository's zstd dictionaries (format 2): every reader loads
 * the dicts/ objects; a writer of a repository that has none trains one from
 * the first small data blobs it stores, and compresses later small data
 * blobs with it.
 *
 * Why: most files of a typical tree are small, and zstd compresses a small
 * input poorly on its own (there is no history for it to refer to). A
 * dictionary trained on the repository's own small files gives every one of
 * them that history: on the benchmark's 100,000 text files of 32 B - 8 KiB,
 * a dictionary trained on the first 3,000 shrinks the other 97,000 by 30 %.
 *
 * Safety: a dictionary object is durable in the store before the first blob
 * compressed with it is sealed, so a pack never names a dictionary that a
 * crash could lose. Dictionaries are never changed or deleted; a blob names
 * its dictionary by number (the zstd dictionary id), so blobs stay readable
 * whatever dictionary later writers use.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "repo/repo-internal.h"

/* Each sample is at most this long (a blob's start is representative). */
#define SAMPLE_MAX (16u * 1024)
/* Training starts, in the background, once this much is sampled (~20x the
 * dictionary). Measured on the benchmark's small files (44 MB held out):
 * 1 MiB of samples -> 15.19 MB, 2 MiB -> 15.13, 4 MiB -> 15.01, but 4 MiB
 * trains in 0.26 s instead of 0.17 and leaves twice as many blobs of a
 * first backup without the dictionary. */
#define SAMPLES_BYTES (2u << 20)
/* A run that sampled less trains at commit only from this much on: a
 * dictionary made from a few files could make later files worse. */
#define SAMPLES_MIN_BYTES (1u << 20)
/* zstd's own default dictionary size. */
#define DICT_CAP (110u * 1024)

void cfs_repo_dicts_init(struct cfs_repo *r)
{
	pthread_mutex_init(&r->dicts.lock, NULL);
	pthread_mutex_init(&r->dicts.reload_lock, NULL);
	pthread_cond_init(&r->dicts.trained, NULL);
	r->dicts.samples = (struct cfs_buf)CFS_BUF_INIT;
}

static struct cfs_zdict *find_locked(struct repo_dicts *d, uint32_t number)
{
	for (size_t i = 0; i < d->n; i++)
		if (cfs_zdict_number(d->v[i]) == number)
			return d->v[i];
	return NULL;
}

/* Add zd, the dicts/ object name, unless a dictionary with its number is
 * there already; zd is consumed. Returns the dictionary filed under the
 * number. */
static struct cfs_zdict *add(struct repo_dicts *d, struct cfs_zdict *zd, const char *name, int *ret)
{
	*ret = 0;
	pthread_mutex_lock(&d->lock);
	struct cfs_zdict *have = find_locked(d, cfs_zdict_number(zd));
	char *nm = NULL;
	if (have) {
		cfs_zdict_free(zd);
		goto out;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 4;
		struct cfs_zdict **v = reallocarray(d->v, cap, sizeof(*v));
		char **names = v ? reallocarray(d->names, cap, sizeof(*names)) : NULL;
		if (v)
			d->v = v;
		if (names)
			d->names = names;
		if (!v || !names) {
			cfs_zdict_free(zd);
			*ret = -ENOMEM;
			goto out;
		}
		d->cap = cap;
	}
	nm = strdup(name);
	if (!nm) {
		cfs_zdict_free(zd);
		*ret = -ENOMEM;
		goto out;
	}
	d->names[d->n] = nm;
	d->v[d->n++] = have = zd;
out:
	pthread_mutex_unlock(&d->lock);
	return have;
}

/* Open, parse and digest a dicts/ object; level as for cfs_zdict_new(). */
static int dict_object_load(struct cfs_repo *r, struct cfs_crypto *crypto, const char *name, int level,
			    struct cfs_zdict **ret)
{
	_cleanup_buf_ struct cfs_buf plain = CFS_BUF_INIT;
	struct cfs_zdict_object o;

	int e = cfs_repo_get_sealed_object(r, crypto, name, CFS_REPO_AAD_DICT, &plain);
	if (e < 0)
		return e;
	e = cfs_zdict_object_decode(plain.data, plain.len, &o);
	if (e < 0)
		return e;
	return cfs_zdict_new(o.dict, o.len, level, ret);
}

struct load_state {
	struct cfs_repo *r;
	struct cfs_crypto *crypto;
	int error; /* allocation failures only: damage is logged and skipped */
};

/* Remember that name was tried, so a reload neither reads it again nor
 * repeats its warning; reload_lock held. */
static int seen(struct repo_dicts *d, const char *name, bool add_it)
{
	for (size_t i = 0; i < d->nseen; i++)
		if (strcmp(d->seen[i], name) == 0)
			return 1;
	if (!add_it)
		return 0;
	char **v = reallocarray(d->seen, d->nseen + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->seen = v;
	d->seen[d->nseen] = strdup(name);
	if (!d->seen[d->nseen])
		return -ENOMEM;
	d->nseen++;
	return 0;
}

static int load_cb(const char *name, uint64_t size, void *ud)
{
	struct load_state *st = ud;
	struct cfs_zdict *zd = NULL;
	(void)size;
	if (strncmp(name, "dicts/", 6) != 0 || strlen(name) != 6 + 64)
		return 0; /* not ours (a temporary file, say) */
	if (seen(&st->r->dicts, name, false))
		return 0;
	int e = seen(&st->r->dicts, name, true);
	if (e < 0) {
		st->error = e;
		return 1;
	}
	e = dict_object_load(st->r, st->crypto, name, st->r->writer ? st->r->config.zstd_level : 0, &zd);
	if (e == -ENOMEM) {
		st->error = e;
		return 1;
	}
	if (e < 0) {
		/* A read error says its own reason, not a guess. */
		log_warning_errno(e, "Dictionary %s in %s cannot be used: %s; blobs compressed with it cannot be read",
				  name, cfs_objstore_location(st->r->store),
				  e == -EBADMSG	       ? "it does not authenticate"
				  : e == -EPROTO	       ? "it is malformed"
				  : e == -EPROTONOSUPPORT ? "it was written by a newer chronofs"
							 : strerror(-e));
		return 0;
	}
	(void)add(&st->r->dicts, zd, name, &e);
	if (e < 0) {
		st->error = e;
		return 1;
	}
	return 0;
}

/* reload_lock held. */
static int load_locked(struct cfs_repo *r)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *crypto = NULL;
	struct repo_dicts *d = &r->dicts;

	if (r->config.version < CFS_REPO_FORMAT_DICTS)
		return 0;
	/* A context of its own: a reload runs on a reader's thread. */
	int e = cfs_crypto_new(&r->keys, &crypto);
	if (e < 0)
		return e;
	struct load_state st = {r, crypto, 0};
	e = cfs_objstore_list(r->store, "dicts/", load_cb, &st);
	if (e < 0)
		return e;
	if (st.error < 0)
		return st.error;
	if (!r->writer)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (!atomic_load(&d->wdict)) {
		/* Several writers may each have trained one before seeing the
		 * others': all stay readable, and new blobs use the lowest. */
		struct cfs_zdict *pick = NULL;
		for (size_t i = 0; i < d->n; i++)
			if (!pick || cfs_zdict_number(d->v[i]) < cfs_zdict_number(pick))
				pick = d->v[i];
		atomic_store(&d->wdict, pick);
		atomic_store(&d->sampling, pick == NULL && !d->training);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int cfs_repo_dicts_load(struct cfs_repo *r)
{
	pthread_mutex_lock(&r->dicts.reload_lock);
	int e = load_locked(r);
	pthread_mutex_unlock(&r->dicts.reload_lock);
	return e;
}

/* Blobs naming a dictionary nobody has (a damaged repository) must not
 * make every read list dicts/ again. */
#define RELOAD_INTERVAL_NS (1000LL * 1000 * 1000)

int cfs_repo_dict_find(struct cfs_repo *r, uint32_t number, const struct cfs_zdict **ret)
{
	struct repo_dicts *d = &r->dicts;
	pthread_mutex_lock(&d->lock);
	*ret = find_locked(d, number);
	pthread_mutex_unlock(&d->lock);
	if (*ret)
		return 0;
	pthread_mutex_lock(&d->reload_lock);
	pthread_mutex_lock(&d->lock);
	*ret = find_locked(d, number); /* another thread may have reloaded */
	pthread_mutex_unlock(&d->lock);
	int e = 0;
	int64_t now = cfs_mono_ns();
	if (!*ret && (d->reloaded_ns == 0 || now - d->reloaded_ns >= RELOAD_INTERVAL_NS)) {
		d->reloaded_ns = now;
		e = load_locked(r);
	}
	pthread_mutex_unlock(&d->reload_lock);
	if (e < 0)
		return e;
	pthread_mutex_lock(&d->lock);
	*ret = find_locked(d, number);
	pthread_mutex_unlock(&d->lock);
	return *ret ? 0 : -ENOENT;
}

bool cfs_repo_dict_have(struct cfs_repo *r, uint32_t number)
{
	pthread_mutex_lock(&r->dicts.lock);
	bool have = find_locked(&r->dicts, number) != NULL;
	pthread_mutex_unlock(&r->dicts.lock);
	return have;
}

int cfs_repo_dict_object_name(struct cfs_repo *r, uint32_t number, char *out, size_t outlen)
{
	_cleanup_buf_ struct cfs_buf v = CFS_BUF_INIT;
	char key[32];
	snprintf(key, sizeof(key), "%s%" PRIu32, CFS_REPO_META_DICT, number);
	int e = cfs_catalog_meta_get(r->catalog, key, &v);
	if (e == 0 && (v.len == 0 || v.len >= outlen))
		e = -ENOENT; /* remembered by an older version, without its name */
	if (e < 0)
		return e;
	memcpy(out, v.data, v.len);
	out[v.len] = 0;
	return 0;
}

int cfs_repo_dict_verify_object(struct cfs_repo *r, const char *name)
{
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *crypto = NULL;
	_cleanup_(cfs_zdict_freep) struct cfs_zdict *zd = NULL;
	int e = cfs_crypto_new(&r->keys, &crypto);
	if (e < 0)
		return e;
	return dict_object_load(r, crypto, name, 0, &zd);
}

/* ---- training ---------------------------------------------------------- */

struct train_job {
	struct cfs_repo *r;
	bool thread; /* on the trainer thread: clear trainer_busy when done */
	struct cfs_buf samples;
	size_t *sizes;
	unsigned count;
};

static void train_job_free(struct train_job *j)
{
	cfs_buf_release(&j->samples);
	free(j->sizes);
	free(j);
}

/* Train, store the dictionary object, then let new blobs use it. */
static int train_and_store(struct train_job *j)
{
	_cleanup_buf_ struct cfs_buf dict = CFS_BUF_INIT, plain = CFS_BUF_INIT;
	_cleanup_(cfs_crypto_freep) struct cfs_crypto *crypto = NULL;
	struct cfs_repo *r = j->r;
	struct cfs_zdict *zd = NULL;
	char name[96];
	int64_t t0 = cfs_mono_ns();

	int e = cfs_zdict_train(j->samples.data, j->sizes, j->count, DICT_CAP, &dict);
	if (e < 0)
		return e;
	e = cfs_zdict_new(dict.data, dict.len, r->config.zstd_level, &zd);
	if (e < 0)
		return e;
	uint32_t number = cfs_zdict_number(zd);
	e = cfs_zdict_object_encode(dict.data, dict.len, &plain);
	if (e == 0)
		e = cfs_crypto_new(&r->keys, &crypto);
	/* Durable before any blob is compressed with it. */
	if (e == 0)
		e = cfs_repo_put_sealed_object(r, crypto, "dicts", CFS_REPO_AAD_DICT, plain.data, plain.len, name,
					       sizeof(name));
	if (e < 0) {
		cfs_zdict_free(zd);
		return e;
	}
	zd = add(&r->dicts, zd, name, &e);
	if (e < 0)
		return e;
	atomic_store(&r->dicts.wdict, zd);
	log_debug("Trained dictionary %s (number %" PRIu32 ", %zu bytes) from %u samples, %zu bytes, in %" PRId64
		  " ms", name, number, dict.len, j->count, j->samples.len, (cfs_mono_ns() - t0) / 1000000);
	return 0;
}

static void *trainer_main(void *arg)
{
	struct train_job *j = arg;
	struct repo_dicts *d = &j->r->dicts;
	bool thread = j->thread;
	int e = train_and_store(j);
	if (e < 0)
		log_warning_errno(e, "Cannot make a compression dictionary for %s: %m (small files are compressed without one)",
				  cfs_objstore_location(j->r->store));
	train_job_free(j);
	if (thread) {
		pthread_mutex_lock(&d->lock);
		atomic_store(&d->trainer_busy, false);
		pthread_cond_broadcast(&d->trained);
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

/* Hand the samples to a job; d->lock held. NULL when out of memory (the
 * samples are dropped: the repository simply has no dictionary yet). */
static struct train_job *take_samples_locked(struct cfs_repo *r)
{
	struct repo_dicts *d = &r->dicts;
	struct train_job *j = calloc(1, sizeof(*j));
	atomic_store(&d->sampling, false);
	if (j) {
		j->r = r;
		j->samples = d->samples;
		j->sizes = d->sizes;
		j->count = d->count;
	} else {
		cfs_buf_release(&d->samples);
		free(d->sizes);
	}
	d->samples = (struct cfs_buf)CFS_BUF_INIT;
	d->sizes = NULL;
	d->count = d->sizes_cap = 0;
	return j;
}

static void sample_locked(struct cfs_repo *r, const void *p, size_t n)
{
	struct repo_dicts *d = &r->dicts;
	size_t take = CFS_MIN(n, (size_t)SAMPLE_MAX);
	if (d->count == d->sizes_cap) {
		unsigned cap = d->sizes_cap ? 2 * d->sizes_cap : 1024;
		size_t *v = reallocarray(d->sizes, cap, sizeof(*v));
		if (!v)
			return; /* sampling is best effort */
		d->sizes = v;
		d->sizes_cap = cap;
	}
	if (cfs_buf_append(&d->samples, p, take) < 0)
		return;
	d->sizes[d->count++] = take;
	if (d->samples.len < SAMPLES_BYTES)
		return;
	struct train_job *j = take_samples_locked(r);
	if (!j)
		return;
	j->thread = true;
	atomic_store(&d->trainer_busy, true);
	if (pthread_create(&d->trainer, NULL, trainer_main, j) != 0) {
		atomic_store(&d->trainer_busy, false);
		log_warning("Cannot start a thread to make a compression dictionary for %s",
			    cfs_objstore_location(r->store));
		train_job_free(j);
		return;
	}
	d->training = true;
}

const struct cfs_zdict *cfs_repo_dict_for_blob(struct cfs_repo *r, enum cfs_blob_type type, const void *p,
					       size_t n)
{
	struct repo_dicts *d = &r->dicts;
	if (type != CFS_BLOB_DATA || n == 0 || n > CFS_DICT_BLOB_MAX)
		return NULL;
	if (atomic_load_explicit(&d->sampling, memory_order_relaxed)) {
		pthread_mutex_lock(&d->lock);
		if (d->sampling)
			sample_locked(r, p, n);
		pthread_mutex_unlock(&d->lock);
	}
	if (atomic_load_explicit(&d->trainer_busy, memory_order_relaxed)) {
		/* Training takes a few hundred ms; small blobs wait for the
		 * dictionary rather than go without it (measured on the bench
		 * corpus: 17.5 MB of its small files were stored without it,
		 * 2.6 MB more than with it, while the pipeline did not wait). */
		pthread_mutex_lock(&d->lock);
		while (d->trainer_busy)
			pthread_cond_wait(&d->trained, &d->lock);
		pthread_mutex_unlock(&d->lock);
	}
	return atomic_load_explicit(&d->wdict, memory_order_acquire);
}

void cfs_repo_dicts_settle(struct cfs_repo *r, bool train)
{
	struct repo_dicts *d = &r->dicts;
	struct train_job *j = NULL;

	pthread_mutex_lock(&d->lock);
	bool join = d->training;
	d->training = false;
	if (d->sampling && (train ? d->samples.len >= SAMPLES_MIN_BYTES : true)) {
		j = take_samples_locked(r);
		if (!train && j) {
			train_job_free(j);
			j = NULL;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (join)
		pthread_join(d->trainer, NULL);
	if (j)
		trainer_main(j);
}

void cfs_repo_dicts_release(struct cfs_repo *r)
{
	struct repo_dicts *d = &r->dicts;
	cfs_repo_dicts_settle(r, false);
	for (size_t i = 0; i < d->n; i++) {
		cfs_zdict_free(d->v[i]);
		free(d->names[i]);
	}
	free(d->v);
	free(d->names);
	for (size_t i = 0; i < d->nseen; i++)
		free(d->seen[i]);
	free(d->seen);
	cfs_buf_release(&d->samples);
	free(d->sizes);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->reload_lock);
	pthread_cond_destroy(&d->trained);
}
