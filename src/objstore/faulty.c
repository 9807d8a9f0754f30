/* SPDX-License-Identifier: MIT */
/*
 * faulty.c — a fault-injecting wrapper around any backend (local, s3, mem),
 * for tests (STYLE.md habit 17; SQLite's src/test6.c is the model: count
 * the operations that change the disk and, at the Nth, fail, tear or lose
 * power).
 *
 * Compiled only with -Dfault_injection=true, like fault.c: a normal build
 * has no code here and cfs_objstore_open() never wraps a store.
 *
 * Armed at run time: cfs_objstore_open() reads
 *   CHRONOFS_OBJSTORE_FAULT="ITEM[,ITEM...]"
 * and, when it is set, wraps the store it opened. An ITEM is KIND@N (N >= 1)
 * or trace=PATH; a malformed spec makes the open fail with -EINVAL (logged),
 * so that a typo in a test never passes as "no fault".
 *
 * What counts: each store has one counter of its MUTATING operations, in
 * the order they are called (an atomic increment, so with several threads
 * "the Nth" is the Nth to start): put, put_new, delete, and the commit of a
 * streamed upload (upload_commit; for a backend without streamed uploads,
 * s3 and mem, objstore.c turns the commit into a put, which counts once),
 * and each name of a delete_many, one by one (faulty_delete_many()).
 * Reads (get, get_range, get_upto, head, list) and upload begin, append
 * and free do not count. The counter is per store, and a process such as
 * `chronoctl snapshot create` opens one store that writes (a probe of the
 * config opens another that never writes).
 *
 * Kinds, applied to the Nth operation only:
 *   fail@N          it returns -EIO and does nothing (an upload stays
 *                   uncommitted: its bytes are dropped at free).
 *   short@N         a put, put_new or commit stores a prefix of its bytes
 *                   (the first n / 2) under the name and returns success:
 *                   a store without atomic puts, or a torn write that
 *                   reported success. A delete at N is done normally.
 *   powerloss@N     the process ends at once, as a power loss leaves it:
 *                   _exit(CFS_FAULT_CRASH_STATUS), no cleanup, no atexit,
 *                   no stdio flush, and nothing of the Nth operation is
 *                   done (every backend's puts are atomic: an interrupted
 *                   one is not there).
 *   powerloss-tmp@N as powerloss, but for the local directory backend the
 *                   put had got as far as its temporary file: the bytes are
 *                   in "<dir>/.tmp.<base>.<16 hex>" (for a commit, in the
 *                   root, as a streamed upload without O_TMPFILE leaves
 *                   it), fsynced, never renamed. Other backends: powerloss.
 *   torn@N          a prefix (n / 2 bytes) becomes visible under the name,
 *                   then power loss: a store without atomic puts.
 * trace=PATH appends one line per counted operation to PATH when it ends:
 *   "<n> <put|put_new|commit|delete> <name> <bytes> <kind or -> <result>\n"
 * with the result 0 or a negative errno, or "lost" for the operation the
 * power went in (O_APPEND, one write(2) per line). A test counts the
 * operations of a clean run with it, tells which object the Nth one was,
 * and which ones had ended before the power went: with several threads
 * (S3 writes four packs at once) operations before the Nth may still have
 * been in flight, and they have no line.
 *
 * Durability modelled: an operation that returned is durable (the local
 * backend fsyncs the file and its directory before returning, S3 answers
 * after storing); power loss at operation N therefore keeps operations
 * 1..N-1 whole and loses the Nth (or leaves its temporary or a prefix, as
 * above). Operations other threads have in flight at that moment may have
 * completed or not, as on a real machine. The process's other state is
 * left as _exit leaves it: the local catalog (RocksDB) syncs its WAL on
 * every commit (catalog.c, sync = 1), so everything it acknowledged
 * survives a real power loss as well; tests also throw it away (a fresh
 * cache) to cover losing the local state entirely.
 *
 * For unit tests, cfs_objstore_faulty_arm() can keep the process running
 * instead (CFS_FAULTY_NO_EXIT): the operation that would end it returns
 * -ECANCELED, and so does every later mutating operation (the machine is
 * off); reads still work, so the store can be inspected.
 *
 * Threading: the counter, the dead flag and the trace are safe from any
 * thread; an upload handle is used by one thread at a time (objstore.h).
 */
#include "objstore/objstore-internal.h"

#ifdef CFS_FAULT_INJECTION
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "chronofs/fault.h"
#include "chronofs/log.h"
#include "chronofs/util.h"

enum faulty_kind {
	FAULTY_NONE,
	FAULTY_FAIL,
	FAULTY_SHORT,
	FAULTY_POWERLOSS,
	FAULTY_POWERLOSS_TMP,
	FAULTY_TORN,
};

static const char *const kind_names[] = {
	[FAULTY_NONE] = "-",
	[FAULTY_FAIL] = "fail",
	[FAULTY_SHORT] = "short",
	[FAULTY_POWERLOSS] = "powerloss",
	[FAULTY_POWERLOSS_TMP] = "powerloss-tmp",
	[FAULTY_TORN] = "torn",
};

enum faulty_op { OP_PUT, OP_PUT_NEW, OP_COMMIT, OP_DELETE };
static const char *const op_names[] = {"put", "put_new", "commit", "delete"};

/* Enough for any test; more items are refused, not dropped. */
#define FAULTY_ITEMS_MAX 16

struct faulty {
	struct cfs_objstore_ops ops;          /* the inner backend's, with ours in */
	const struct cfs_objstore_ops *inner_ops;
	void *inner;                          /* owned: freed by inner_ops->free */
	char *local_root;                     /* owned; NULL unless a local directory */
	int trace_fd;                         /* -1: no trace */
	bool no_exit;
	bool tee;                             /* uploads keep a copy of their bytes */
	struct {
		enum faulty_kind kind;
		uint64_t n;
	} items[FAULTY_ITEMS_MAX];
	size_t n_items;
	_Atomic uint64_t count;               /* mutating operations started */
	atomic_bool dead;                     /* CFS_FAULTY_NO_EXIT: power is off */
};

struct faulty_upload {
	void *inner;         /* the backend's handle */
	uint64_t size;       /* bytes appended */
	struct cfs_buf copy; /* the bytes appended, when f->tee */
};

static int parse_kind(const char *s, size_t len, enum faulty_kind *ret)
{
	for (size_t k = FAULTY_FAIL; k < ARRAY_SIZE(kind_names); k++)
		if (strlen(kind_names[k]) == len && memcmp(s, kind_names[k], len) == 0) {
			*ret = (enum faulty_kind)k;
			return 0;
		}
	return -EINVAL;
}

static int parse_spec(struct faulty *f, const char *spec)
{
	const char *p = spec;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 6 && memcmp(p, "trace=", 6) == 0) {
			_cleanup_free_ char *path = strndup(p + 6, len - 6);
			if (!path)
				return -ENOMEM;
			if (f->trace_fd >= 0)
				return -EINVAL;
			f->trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (f->trace_fd < 0)
				return -errno;
		} else {
			const char *at = memchr(p, '@', len);
			enum faulty_kind kind;
			char *num_end;
			if (!at || at == p || at + 1 == p + len || f->n_items == FAULTY_ITEMS_MAX)
				return -EINVAL;
			if (parse_kind(p, (size_t)(at - p), &kind) < 0 || at[1] < '0' || at[1] > '9')
				return -EINVAL;
			errno = 0;
			unsigned long long n = strtoull(at + 1, &num_end, 10);
			if (errno || n == 0 || num_end != p + len)
				return -EINVAL;
			f->items[f->n_items].kind = kind;
			f->items[f->n_items].n = n;
			f->n_items++;
			if (kind == FAULTY_SHORT || kind == FAULTY_TORN || kind == FAULTY_POWERLOSS_TMP)
				f->tee = true;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* One counted operation, for the fault and the trace. */
struct faulty_call {
	uint64_t n;
	enum faulty_op op;
	const char *name;
	size_t bytes;
	enum faulty_kind kind; /* armed for it, or FAULTY_NONE */
	bool lost;             /* the power went in it: traced already */
};

/* Count one mutating operation: its number and the fault armed for it. */
static struct faulty_call next_op(struct faulty *f, enum faulty_op op, const char *name, size_t bytes)
{
	struct faulty_call c = {atomic_fetch_add(&f->count, 1) + 1, op, name, bytes, FAULTY_NONE, false};
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].n == c.n) {
			c.kind = f->items[i].kind;
			break;
		}
	return c;
}

/* The operation has ended with r (or, result "lost", the power went):
 * its trace line, unless power_off wrote it. Returns r. */
static int trace(struct faulty *f, const struct faulty_call *c, int r, bool lost)
{
	char line[CFS_OBJSTORE_NAME_MAX + 128], result[16];
	if (f->trace_fd < 0 || (c->lost && !lost))
		return r;
	snprintf(result, sizeof(result), "%d", r);
	int len = snprintf(line, sizeof(line), "%llu %s %s %zu %s %s\n", (unsigned long long)c->n, op_names[c->op],
			   c->name, c->bytes, kind_names[c->kind], lost ? "lost" : result);
	if (len > 0)
		(void)cfs_write_all(f->trace_fd, line, CFS_MIN((size_t)len, sizeof(line) - 1));
	return r;
}

/* The power goes during c: the process ends here (or, for unit tests,
 * everything after this returns -ECANCELED). */
static int power_off(struct faulty *f, struct faulty_call *c)
{
	trace(f, c, 0, true);
	c->lost = true;
	if (!f->no_exit)
		_exit(CFS_FAULT_CRASH_STATUS);
	atomic_store(&f->dead, true);
	return -ECANCELED;
}

/* What a local put interrupted after its temporary file was written leaves:
 * the bytes, fsynced, under a ".tmp." name in dir (relative to the root;
 * made if missing, as the put would have). */
static int leave_local_tmp(struct faulty *f, const char *dir, const char *hint, const void *p, size_t n)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dir_fd = -1;
	struct cfs_tmpfile t = CFS_TMPFILE_INIT;

	if (asprintf(&path, "%s/%s", f->local_root, dir) < 0)
		return -ENOMEM;
	int r = cfs_mkdir_p(path, 0700);
	if (r < 0)
		return r;
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	r = cfs_tmpfile_open(dir_fd, CFS_OBJSTORE_TMP_PREFIX, hint, false, &t);
	if (r < 0)
		return r;
	r = cfs_write_all(t.fd, p, n);
	if (r == 0 && fsync(t.fd) < 0)
		r = -errno;
	if (r == 0 && fsync(dir_fd) < 0)
		r = -errno;
	/* Closed, never released: release would remove a named temporary,
	 * and the point is to leave it. */
	close(t.fd);
	return r;
}

static int inner_put(struct faulty *f, enum faulty_op op, const char *name, const void *p, size_t n)
{
	return op == OP_PUT_NEW ? f->inner_ops->put_new(f->inner, name, p, n) : f->inner_ops->put(f->inner, name, p, n);
}

/*
 * Apply c's fault to a put-like operation (put, put_new, or a commit whose
 * bytes are p/n). Returns 1 when the operation should go on normally, else
 * its result.
 */
static int inject_put(struct faulty *f, struct faulty_call *c, const void *p, size_t n)
{
	switch (c->kind) {
	case FAULTY_NONE:
		return 1;
	case FAULTY_FAIL:
		return -EIO;
	case FAULTY_SHORT:
		return inner_put(f, c->op, c->name, p, n / 2);
	case FAULTY_POWERLOSS:
		return power_off(f, c);
	case FAULTY_POWERLOSS_TMP:
		if (f->local_root) {
			const char *slash = strrchr(c->name, '/');
			_cleanup_free_ char *dir = NULL;
			if (c->op == OP_COMMIT)
				dir = strdup(".");
			else
				dir = slash ? strndup(c->name, (size_t)(slash - c->name)) : strdup(".");
			if (!dir)
				return -ENOMEM;
			int r = leave_local_tmp(f, dir, c->op == OP_COMMIT ? "upload" : (slash ? slash + 1 : c->name), p,
						n);
			if (r < 0)
				(void)log_warning_errno(r, "faulty: cannot leave the temporary of %s: %m", c->name);
		}
		return power_off(f, c);
	case FAULTY_TORN:
		(void)inner_put(f, c->op, c->name, p, n / 2);
		return power_off(f, c);
	}
	return 1;
}

static int faulty_put_common(struct faulty *f, enum faulty_op op, const char *name, const void *p, size_t n)
{
	if (atomic_load(&f->dead))
		return -ECANCELED;
	struct faulty_call c = next_op(f, op, name, n);
	int r = inject_put(f, &c, p, n);
	return trace(f, &c, r == 1 ? inner_put(f, op, name, p, n) : r, false);
}

static int faulty_put(void *impl, const char *name, const void *p, size_t n)
{
	return faulty_put_common(impl, OP_PUT, name, p, n);
}

static int faulty_put_new(void *impl, const char *name, const void *p, size_t n)
{
	return faulty_put_common(impl, OP_PUT_NEW, name, p, n);
}

/* Apply c's fault to a delete: 1 when it should go on normally (no fault,
 * or short, which means nothing to a delete), else its result. */
static int inject_delete(struct faulty *f, struct faulty_call *c)
{
	switch (c->kind) {
	case FAULTY_FAIL:
		return trace(f, c, -EIO, false);
	case FAULTY_POWERLOSS:
	case FAULTY_POWERLOSS_TMP:
	case FAULTY_TORN:
		return power_off(f, c);
	case FAULTY_NONE:
	case FAULTY_SHORT:
		break;
	}
	return 1;
}

static int faulty_delete(void *impl, const char *name)
{
	struct faulty *f = impl;
	if (atomic_load(&f->dead))
		return -ECANCELED;
	struct faulty_call c = next_op(f, OP_DELETE, name, 0);
	int r = inject_delete(f, &c);
	return r == 1 ? trace(f, &c, f->inner_ops->delete(f->inner, name), false) : r;
}

/*
 * Each name is one mutating operation, a delete in the trace, numbered in
 * order. The names up to one a fault is armed for go to the inner backend
 * in one call (its own delete_many, so that a batch of the real backend is
 * what runs), and then the fault applies to that one: fail gives it -EIO
 * and the rest go on, as they would with a real store; with powerloss@N in
 * the middle of a batch, the names numbered before N are deleted and
 * durable, N and the rest are not (the rest never reach the backend and
 * get no number).
 */
static void faulty_flush_deletes(struct faulty *f, const char *const *names, struct faulty_call *calls, size_t n,
				 int *errs)
{
	(void)cfs_objstore_ops_delete_many(f->inner_ops, f->inner, names, n, errs);
	for (size_t i = 0; i < n; i++)
		trace(f, &calls[i], errs[i], false);
}

static int faulty_delete_many(void *impl, const char *const *names, size_t n, int *errs)
{
	struct faulty *f = impl;
	_cleanup_free_ struct faulty_call *calls = calloc(n, sizeof(*calls));
	size_t start = 0;
	int first = 0;

	for (size_t i = 0; i < n; i++)
		errs[i] = -ECANCELED;
	if (!calls) {
		for (size_t i = 0; i < n; i++)
			errs[i] = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !atomic_load(&f->dead); i++) {
		calls[i] = next_op(f, OP_DELETE, names[i], 0);
		if (calls[i].kind == FAULTY_NONE || calls[i].kind == FAULTY_SHORT)
			continue;
		faulty_flush_deletes(f, names + start, calls + start, i - start, errs + start);
		int r = inject_delete(f, &calls[i]);
		errs[i] = r == 1 ? 0 : r; /* (1 cannot be: this call has a fault) */
		start = i + 1;
	}
	if (!atomic_load(&f->dead))
		faulty_flush_deletes(f, names + start, calls + start, n - start, errs + start);
	for (size_t i = 0; i < n && first == 0; i++)
		first = errs[i];
	return first;
}

static int faulty_upload_begin(void *impl, void **ret_handle)
{
	struct faulty *f = impl;
	struct faulty_upload *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	int r = f->inner_ops->upload_begin(f->inner, &u->inner);
	if (r < 0) {
		free(u);
		return r;
	}
	*ret_handle = u;
	return 0;
}

static int faulty_upload_append(void *impl, void *handle, const void *p, size_t n)
{
	struct faulty *f = impl;
	struct faulty_upload *u = handle;
	int r = f->inner_ops->upload_append(f->inner, u->inner, p, n);
	if (r == 0)
		u->size += n;
	if (r == 0 && f->tee)
		r = cfs_buf_append(&u->copy, p, n);
	return r;
}

static int faulty_upload_commit(void *impl, void *handle, const char *name)
{
	struct faulty *f = impl;
	struct faulty_upload *u = handle;
	if (atomic_load(&f->dead))
		return -ECANCELED;
	/* Without a copy (no kind armed needs the bytes) the kind is fail,
	 * powerloss or none, which do not look at them. */
	struct faulty_call c = next_op(f, OP_COMMIT, name, (size_t)u->size);
	int r = inject_put(f, &c, u->copy.data, u->copy.len);
	return trace(f, &c, r == 1 ? f->inner_ops->upload_commit(f->inner, u->inner, name) : r, false);
}

static void faulty_upload_free(void *impl, void *handle)
{
	struct faulty *f = impl;
	struct faulty_upload *u = handle;
	f->inner_ops->upload_free(f->inner, u->inner);
	cfs_buf_release(&u->copy);
	free(u);
}

/* Reads go straight through. */
static int faulty_get(void *impl, const char *name, struct cfs_buf *out)
{
	struct faulty *f = impl;
	return f->inner_ops->get(f->inner, name, out);
}

static int faulty_get_range(void *impl, const char *name, uint64_t off, size_t n, void *out)
{
	struct faulty *f = impl;
	return f->inner_ops->get_range(f->inner, name, off, n, out);
}

static int faulty_get_upto(void *impl, const char *name, uint64_t off, size_t n, void *out, size_t *ret_got)
{
	struct faulty *f = impl;
	return f->inner_ops->get_upto(f->inner, name, off, n, out, ret_got);
}

static int faulty_head(void *impl, const char *name, uint64_t *ret_size)
{
	struct faulty *f = impl;
	return f->inner_ops->head(f->inner, name, ret_size);
}

static int faulty_list(void *impl, const char *prefix, cfs_objstore_list_cb cb, void *userdata)
{
	struct faulty *f = impl;
	return f->inner_ops->list(f->inner, prefix, cb, userdata);
}

/* Frees f, and the inner backend when it is f's (inner != NULL). */
static void faulty_free(void *impl)
{
	struct faulty *f = impl;
	if (f->inner)
		f->inner_ops->free(f->inner);
	if (f->trace_fd >= 0)
		close(f->trace_fd);
	free(f->local_root);
	free(f);
}

int cfs_objstore_faulty_arm(struct cfs_objstore *s, const char *spec, const char *local_root,
			    enum cfs_faulty_flags flags)
{
	struct faulty *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->trace_fd = -1;
	f->no_exit = flags & CFS_FAULTY_NO_EXIT;
	if (local_root) {
		f->local_root = strdup(local_root);
		if (!f->local_root) {
			faulty_free(f);
			return -ENOMEM;
		}
	}
	int r = parse_spec(f, spec);
	if (r < 0) {
		faulty_free(f);
		return r;
	}
	f->inner_ops = s->ops;
	f->inner = s->impl;
	f->ops = *s->ops;
	f->ops.put = faulty_put;
	f->ops.put_new = faulty_put_new;
	f->ops.delete = faulty_delete;
	/* Always ours, also over a backend without one: a copy of the inner
	 * op would be called with our impl. */
	f->ops.delete_many = faulty_delete_many;
	f->ops.get = faulty_get;
	f->ops.get_range = faulty_get_range;
	f->ops.get_upto = s->ops->get_upto ? faulty_get_upto : NULL;
	f->ops.head = faulty_head;
	f->ops.list = faulty_list;
	if (s->ops->upload_begin) {
		f->ops.upload_begin = faulty_upload_begin;
		f->ops.upload_append = faulty_upload_append;
		f->ops.upload_commit = faulty_upload_commit;
		f->ops.upload_free = faulty_upload_free;
	}
	f->ops.free = faulty_free;
	s->ops = &f->ops;
	s->impl = f;
	return 0;
}

int cfs_objstore_faulty_from_env(struct cfs_objstore *s, bool local)
{
	const char *spec = getenv("CHRONOFS_OBJSTORE_FAULT");
	if (!spec || !*spec)
		return 0;
	int r = cfs_objstore_faulty_arm(s, spec, local ? cfs_objstore_location(s) : NULL, 0);
	if (r < 0)
		return log_error_errno(r, "CHRONOFS_OBJSTORE_FAULT=\"%s\": %m (KIND@N or trace=PATH, comma-separated; "
					  "KIND fail, short, powerloss, powerloss-tmp or torn; N from 1)",
				       spec);
	return 0;
}
#endif
