/* SPDX-License-Identifier: MIT */
/*
 * objstore.c — location parsing, name validation and dispatch to backends.
 *
 * Every public function validates its arguments here, once, so a backend
 * never sees a name that could escape its root ("..", absolute paths) or
 * collide with its temporary files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "objstore/objstore-internal.h"

int cfs_objstore_name_valid(const char *name)
{
	size_t len, comp = 0;

	if (!name)
		return -EINVAL;
	len = strnlen(name, CFS_OBJSTORE_NAME_MAX + 1);
	if (len == 0 || len > CFS_OBJSTORE_NAME_MAX)
		return -EINVAL;

	/* Walk components: each must be non-empty, not "." or "..", not too
	 * long and not in the reserved temporary namespace. This also rejects
	 * a leading '/', a trailing '/' and "//". */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/') {
			comp++;
			continue;
		}
		const char *c = name + i - comp;
		if (comp == 0 || comp > CFS_OBJSTORE_COMPONENT_MAX)
			return -EINVAL;
		if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (comp >= strlen(CFS_OBJSTORE_TMP_PREFIX) &&
		    memcmp(c, CFS_OBJSTORE_TMP_PREFIX, strlen(CFS_OBJSTORE_TMP_PREFIX)) == 0)
			return -EINVAL;
		comp = 0;
	}
	return 0;
}

/* A list prefix is "" or any string whose part before the last '/' is a valid
 * name; the part after it is matched against entries, never used as a path. */
static int prefix_valid(const char *prefix)
{
	size_t len;
	const char *slash;

	if (!prefix)
		return -EINVAL;
	len = strnlen(prefix, CFS_OBJSTORE_NAME_MAX + 1);
	if (len > CFS_OBJSTORE_NAME_MAX)
		return -EINVAL;
	slash = strrchr(prefix, '/');
	if (!slash)
		return 0;
	if (slash == prefix)
		return -EINVAL;
	_cleanup_free_ char *dir = strndup(prefix, (size_t)(slash - prefix));
	if (!dir)
		return -ENOMEM;
	return cfs_objstore_name_valid(dir);
}

int cfs_objstore_new_internal(const struct cfs_objstore_ops *ops, void *impl, const char *location,
			      struct cfs_objstore **ret)
{
	struct cfs_objstore *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->location = strdup(location);
	if (!s->location) {
		free(s);
		return -ENOMEM;
	}
	s->ops = ops;
	s->impl = impl;
	s->transfers = ops->default_transfers ? ops->default_transfers : 1;
	cfs_ratelimit_init(&s->up, 0);
	cfs_ratelimit_init(&s->down, 0);
	*ret = s;
	return 0;
}

struct cfs_objstore *cfs_objstore_free(struct cfs_objstore *s)
{
	if (!s)
		return NULL;
	if (s->ops && s->impl)
		s->ops->free(s->impl);
	cfs_ratelimit_release(&s->up);
	cfs_ratelimit_release(&s->down);
	cfs_diskcache_free(s->dcache);
	free(s->location);
	free(s);
	return NULL;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode a file:// path; -EINVAL for malformed escapes or %00. */
static int percent_decode(const char *s, char **ret)
{
	size_t len = strlen(s);
	char *out = malloc(len + 1), *o = out;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		/* s[i + 1] is at worst the NUL, which stops before s[i + 2]. */
		int hi = hexdigit(s[i + 1]);
		int lo = hi >= 0 ? hexdigit(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return -EINVAL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = 0;
	*ret = out;
	return 0;
}

/* True if s starts with an RFC 3986 scheme followed by "://". */
static bool has_url_scheme(const char *s)
{
	size_t i = 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	while (s[i] && s[i] != ':') {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.'))
			return false;
		i++;
	}
	return strncmp(s + i, "://", 3) == 0;
}

/* *ret_local: whether it is a local directory (its location is the path). */
static int open_backend(const char *location, bool create, const struct cfs_objstore_options *o,
			struct cfs_objstore **ret, bool *ret_local)
{
	*ret_local = false;
	if (strcmp(location, "mem:") == 0)
		return cfs_objstore_mem_new(ret);
	/* "mem:anything" is almost certainly a typo, not a directory name. */
	if (strncmp(location, "mem:", 4) == 0)
		return -EINVAL;
	if (strncasecmp(location, "s3://", 5) == 0)
		return cfs_objstore_s3_new(location, o, ret);
	if (strncasecmp(location, "file://", 7) == 0) {
		const char *rest = location + 7;
		_cleanup_free_ char *path = NULL;
		int r;

		/* Only an empty authority or "localhost" names this machine. */
		if (strncasecmp(rest, "localhost/", 10) == 0)
			rest += 9;
		if (rest[0] != '/')
			return -EINVAL;
		r = percent_decode(rest, &path);
		if (r < 0)
			return r;
		*ret_local = true;
		return cfs_objstore_local_new(path, create, ret);
	}
	if (has_url_scheme(location))
		return -EINVAL;
	*ret_local = true;
	return cfs_objstore_local_new(location, create, ret);
}

int cfs_objstore_open_with(const char *location, bool create, const struct cfs_objstore_options *o,
			   struct cfs_objstore **ret)
{
	static const struct cfs_objstore_options defaults = {0};
	if (!location || !ret || location[0] == 0)
		return -EINVAL;
	if (!o)
		o = &defaults;
	if (o->transfers > CFS_OBJSTORE_TRANSFERS_MAX)
		return -EINVAL;
	bool local;
	int r = open_backend(location, create, o, ret, &local);
	if (r < 0)
		return r;
	struct cfs_objstore *s = *ret;
	/* Tests only: a fault-injecting wrapper, when asked for. */
	r = cfs_objstore_faulty_from_env(s, local);
	if (r < 0) {
		*ret = cfs_objstore_free(s);
		return r;
	}
	if (o->transfers)
		s->transfers = o->transfers;
	if (!s->ops->limits_itself) {
		s->up.rate = o->limit_upload;
		s->down.rate = o->limit_download;
	}
	return 0;
}

int cfs_objstore_open(const char *location, bool create, struct cfs_objstore **ret)
{
	return cfs_objstore_open_with(location, create, NULL, ret);
}

unsigned cfs_objstore_transfers(const struct cfs_objstore *s)
{
	return s->transfers;
}

bool cfs_objstore_remote(const struct cfs_objstore *s)
{
	return s->ops->remote;
}

int cfs_objstore_disk_cache(struct cfs_objstore *s, const char *dir, uint64_t budget, bool ephemeral)
{
	if (s->dcache || budget == 0)
		return -EINVAL;
	return cfs_diskcache_open(dir, budget, ephemeral, &s->dcache);
}

void cfs_objstore_disk_cache_stats(struct cfs_objstore *s, struct cfs_objstore_cache_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (s->dcache)
		cfs_diskcache_stats(s->dcache, ret);
}

const char *cfs_objstore_location(const struct cfs_objstore *s)
{
	return s->location;
}

/*
 * A put that returned 0 must have stored all its bytes: the size is checked
 * right after (a stat locally, a HEAD request on S3: one request per
 * object, and objects are packs of 16 MiB or a few small ones per commit).
 * A store that reports success for part of an object (no atomic puts, a
 * torn write, a proxy that cut the body) is caught here, where the bytes
 * are still at hand, instead of by a snapshot that does not restore: the
 * faulty backend's short@N made `chronoctl snapshot create` commit a
 * snapshot whose pack held half its bytes (tests/integration/t5003).
 * 0 when whole, 1 when not (logged), or the head's error.
 */
static int stored_whole(struct cfs_objstore *s, const char *name, uint64_t n, const char *then)
{
	uint64_t got = 0;
	int r = s->ops->head(s->impl, name, &got);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && got == n)
		return 0;
	if (r == -ENOENT)
		log_error("%s in %s: the store reported a put of %" PRIu64 " bytes as done, but does not show the object; %s",
			  name, s->location, n, then);
	else
		log_error("%s in %s: the store reported a put of %" PRIu64 " bytes as done, but holds %" PRIu64 "; %s",
			  name, s->location, n, got, then);
	return 1;
}

/* put or put_new, then the size check; a wrong size is put once more (the
 * name is ours: put_new won it), and -EIO if it stays wrong. */
static int put_checked(struct cfs_objstore *s, const char *name, const void *p, size_t n, bool noreplace)
{
	cfs_ratelimit_take(&s->up, n);
	int r = noreplace ? s->ops->put_new(s->impl, name, p, n) : s->ops->put(s->impl, name, p, n);
	if (r < 0)
		return r;
	r = stored_whole(s, name, n, "storing it again");
	if (r <= 0)
		return r;
	cfs_ratelimit_take(&s->up, n);
	r = s->ops->put(s->impl, name, p, n);
	if (r < 0)
		return r;
	r = stored_whole(s, name, n, "giving up");
	return r > 0 ? -EIO : r;
}

int cfs_objstore_put(struct cfs_objstore *s, const char *name, const void *p, size_t n)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (!p && n > 0)
		return -EINVAL;
	r = CFS_FAULT("objstore.put");
	if (r < 0)
		return r;
	return put_checked(s, name, p, n, false);
}

struct cfs_objstore_upload {
	struct cfs_objstore *s;
	void *handle;        /* the backend's, or NULL: buffered in buf */
	struct cfs_buf buf;
	uint64_t size;       /* bytes appended */
	int error;           /* first failure: commit reports it */
};

int cfs_objstore_upload_begin(struct cfs_objstore *s, struct cfs_objstore_upload **ret)
{
	struct cfs_objstore_upload *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->s = s;
	if (s->ops->upload_begin) {
		int r = s->ops->upload_begin(s->impl, &u->handle);
		if (r < 0) {
			free(u);
			return r;
		}
	}
	*ret = u;
	return 0;
}

int cfs_objstore_upload_append(struct cfs_objstore_upload *u, const void *p, size_t n)
{
	if (u->error)
		return u->error;
	int r;
	if (u->handle) {
		cfs_ratelimit_take(&u->s->up, n);
		r = u->s->ops->upload_append(u->s->impl, u->handle, p, n);
	} else {
		r = cfs_buf_append(&u->buf, p, n); /* limited by the put at commit */
	}
	if (r < 0)
		u->error = r;
	else
		u->size += n;
	return r;
}

uint64_t cfs_objstore_upload_size(const struct cfs_objstore_upload *u)
{
	return u->size;
}

int cfs_objstore_upload_commit(struct cfs_objstore_upload *u, const char *name)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (u->error)
		return u->error;
	r = CFS_FAULT("objstore.put");
	if (r < 0)
		return r;
	if (!u->handle)
		return put_checked(u->s, name, u->buf.data, u->buf.len, false);
	r = u->s->ops->upload_commit(u->s->impl, u->handle, name);
	if (r == 0) {
		/* The bytes are gone: what the store kept of them is removed
		 * (a streamed object is named by its contents, nothing refers
		 * to it yet), so that no later run mistakes it for whole. */
		r = stored_whole(u->s, name, u->size, "removing it");
		if (r > 0) {
			(void)u->s->ops->delete(u->s->impl, name);
			r = -EIO;
		}
	}
	if (r < 0)
		u->error = r;
	return r;
}

struct cfs_objstore_upload *cfs_objstore_upload_free(struct cfs_objstore_upload *u)
{
	if (!u)
		return NULL;
	if (u->handle)
		u->s->ops->upload_free(u->s->impl, u->handle);
	cfs_buf_release(&u->buf);
	free(u);
	return NULL;
}

int cfs_objstore_put_new(struct cfs_objstore *s, const char *name, const void *p, size_t n)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (!p && n > 0)
		return -EINVAL;
	return put_checked(s, name, p, n, true);
}

int cfs_objstore_get(struct cfs_objstore *s, const char *name, struct cfs_buf *out)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (!out)
		return -EINVAL;
	r = s->ops->get(s->impl, name, out);
	if (r == 0)
		cfs_ratelimit_take(&s->down, out->len);
	return r;
}

/* A disk cache block: up to n bytes at off, fewer where the object ends. */
static int fetch_block(void *ud, const char *name, uint64_t off, size_t n, void *out, size_t *ret_got)
{
	struct cfs_objstore *s = ud;
	int r;
	if (s->ops->get_upto) {
		r = s->ops->get_upto(s->impl, name, off, n, out, ret_got);
	} else {
		uint64_t size;
		r = s->ops->head(s->impl, name, &size);
		if (r == 0 && off >= size)
			r = -ERANGE;
		if (r == 0) {
			*ret_got = (size_t)CFS_MIN((uint64_t)n, size - off);
			r = s->ops->get_range(s->impl, name, off, *ret_got, out);
		}
	}
	if (r == 0)
		cfs_ratelimit_take(&s->down, *ret_got);
	return r;
}

int cfs_objstore_get_range(struct cfs_objstore *s, const char *name, uint64_t off, size_t n,
			   void *out)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (!out && n > 0)
		return -EINVAL;
	if (s->dcache && n > 0 && strncmp(name, "data/", 5) == 0)
		return cfs_diskcache_read(s->dcache, name, off, n, out, fetch_block, s);
	r = s->ops->get_range(s->impl, name, off, n, out);
	if (r == 0)
		cfs_ratelimit_take(&s->down, n);
	return r;
}

int cfs_objstore_head(struct cfs_objstore *s, const char *name, uint64_t *ret_size)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	if (!ret_size)
		return -EINVAL;
	return s->ops->head(s->impl, name, ret_size);
}

int cfs_objstore_delete(struct cfs_objstore *s, const char *name)
{
	int r = cfs_objstore_name_valid(name);
	if (r < 0)
		return r;
	return s->ops->delete(s->impl, name);
}

int cfs_objstore_ops_delete_many(const struct cfs_objstore_ops *ops, void *impl, const char *const *names, size_t n,
				 int *errs)
{
	int first = 0;

	if (n == 0)
		return 0;
	if (ops->delete_many)
		return ops->delete_many(impl, names, n, errs);
	for (size_t i = 0; i < n; i++) {
		int r = ops->delete(impl, names[i]);
		errs[i] = r == -ENOENT ? 0 : r;
		if (errs[i] < 0 && first == 0)
			first = errs[i];
	}
	return first;
}

int cfs_objstore_delete_many(struct cfs_objstore *s, const char *const *names, size_t n, int *ret_errs)
{
	_cleanup_free_ int *own = NULL;
	_cleanup_free_ const char **valid = NULL;
	_cleanup_free_ size_t *at = NULL;
	int *errs = ret_errs;
	size_t n_valid = 0;
	int r;

	if (n == 0)
		return 0;
	if (!names)
		return -EINVAL;
	if (!errs) {
		errs = own = calloc(n, sizeof(*own));
		if (!own)
			return -ENOMEM;
	}
	/* The valid names go to the backend, as one array; the invalid ones
	 * are never sent. */
	for (size_t i = 0; i < n; i++) {
		errs[i] = cfs_objstore_name_valid(names[i]) == 0 ? 0 : -EINVAL;
		n_valid += errs[i] == 0;
	}
	if (n_valid == n) {
		r = cfs_objstore_ops_delete_many(s->ops, s->impl, names, n, errs);
	} else {
		_cleanup_free_ int *verrs = calloc(n_valid ? n_valid : 1, sizeof(*verrs));
		valid = calloc(n_valid ? n_valid : 1, sizeof(*valid));
		at = calloc(n_valid ? n_valid : 1, sizeof(*at));
		if (!verrs || !valid || !at) {
			for (size_t i = 0; i < n; i++)
				errs[i] = errs[i] ? errs[i] : -ENOMEM;
			return errs[0];
		}
		for (size_t i = 0, k = 0; i < n; i++)
			if (errs[i] == 0) {
				valid[k] = names[i];
				at[k++] = i;
			}
		(void)cfs_objstore_ops_delete_many(s->ops, s->impl, valid, n_valid, verrs);
		for (size_t k = 0; k < n_valid; k++)
			errs[at[k]] = verrs[k];
	}
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = errs[i];
	return r;
}

int cfs_objstore_list(struct cfs_objstore *s, const char *prefix, cfs_objstore_list_cb cb,
		      void *userdata)
{
	int r = prefix_valid(prefix);
	if (r < 0)
		return r;
	if (!cb)
		return -EINVAL;
	return s->ops->list(s->impl, prefix, cb, userdata);
}
