/* SPDX-License-Identifier: MIT */
/*
 * The names of one directory, sorted, in memory that does not grow with
 * the directory: an external merge sort.
 *
 * A listing collects up to `run` names in memory. A directory that has
 * more spills: each full run is sorted and appended to a scratch file
 * (cfs_scratch_open: unnamed, gone with its fd) as records of a length
 * byte and the name's bytes; at the end the runs are merged, each read
 * through a small buffer, and the merged names pass through a window that
 * the walk reads forward and frees behind it. A directory of up to `run`
 * names never touches the disk.
 *
 * Memory: at most `run` names while listing, then the merge's buffers
 * (MERGE_BUDGET bytes over all runs, at least MERGE_BUF_MIN each) plus the
 * window. The order is strcmp's (bytes, unsigned), as the tree's; a name
 * the listing gave twice (a directory changing while it is read) comes
 * out once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "ingest/ingest-internal.h"

#define MERGE_BUDGET (4u << 20)
#define MERGE_BUF_MIN 1024u /* holds any record (1 + 255 bytes) */
#define MERGE_BUF_MAX (64u << 10)
#define NAME_REC_MAX 256u
#define SPILL_BUF (64u << 10)

struct run {
	uint64_t off, end; /* what is left of the run in the file */
	uint8_t *buf;      /* owned: bytes read ahead */
	size_t cap;
	size_t len, pos;   /* buf[pos, len) not consumed yet */
	char cur[NAME_REC_MAX]; /* its smallest name not merged yet (NUL-terminated) */
};

struct names {
	char *dir;       /* owned: where the scratch file goes */
	size_t run_max;  /* names held while listing */
	/* Listing: names not spilled yet. Read back (not spilled at all):
	 * the window itself. */
	char **mem;      /* owned strings from mem_lo on */
	size_t n_mem, cap_mem;
	int fd;          /* scratch file, -1 until a run is spilled */
	uint64_t file_len;
	struct run *runs; /* owned */
	size_t n_runs;
	size_t *heap;    /* owned: runs not exhausted, by cur (a min-heap) */
	size_t n_heap;
	bool sealed;
	/* Reading: names [base, base + n_mem - mem_lo) are mem[mem_lo, n_mem). */
	size_t base, mem_lo;
	char last[NAME_REC_MAX]; /* the last name merged (dropping repeats) */
	bool have_last;
};

int names_new(const char *scratch_dir, size_t run, struct names **ret)
{
	struct names *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fd = -1;
	n->run_max = run ? run : 1;
	n->dir = strdup(scratch_dir ? scratch_dir : "/tmp");
	if (!n->dir) {
		free(n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

struct names *names_free(struct names *n)
{
	if (!n)
		return NULL;
	for (size_t i = n->mem_lo; i < n->n_mem; i++)
		free(n->mem[i]);
	free(n->mem);
	for (size_t i = 0; i < n->n_runs; i++)
		free(n->runs[i].buf);
	free(n->runs);
	free(n->heap);
	if (n->fd >= 0)
		close(n->fd);
	free(n->dir);
	free(n);
	return NULL;
}

size_t names_runs(const struct names *n)
{
	return n->n_runs;
}

/* Sort mem and drop repeated names (freed). */
static void sort_mem(struct names *n)
{
	if (n->n_mem < 2)
		return;
	qsort(n->mem, n->n_mem, sizeof(*n->mem), cfs_strptr_cmp);
	size_t m = 1;
	for (size_t i = 1; i < n->n_mem; i++) {
		if (strcmp(n->mem[i], n->mem[m - 1]) == 0)
			free(n->mem[i]);
		else
			n->mem[m++] = n->mem[i];
	}
	n->n_mem = m;
}

/* Write mem, sorted, as a run to the scratch file, and empty it. */
static int spill(struct names *n)
{
	if (n->fd < 0) {
		n->fd = cfs_scratch_open(n->dir);
		if (n->fd < 0)
			return n->fd;
	}
	struct run *v = reallocarray(n->runs, n->n_runs + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n->runs = v;
	sort_mem(n);
	_cleanup_free_ uint8_t *out = malloc(SPILL_BUF);
	if (!out)
		return -ENOMEM;
	size_t used = 0;
	uint64_t start = n->file_len, off = start;
	int r = 0;
	for (size_t i = 0; i < n->n_mem && r == 0; i++) {
		size_t l = strlen(n->mem[i]);
		if (used + 1 + l > SPILL_BUF) {
			r = cfs_pwrite_all(n->fd, out, used, off);
			off += used;
			used = 0;
		}
		out[used++] = (uint8_t)l;
		memcpy(out + used, n->mem[i], l);
		used += l;
	}
	if (r == 0 && used) {
		r = cfs_pwrite_all(n->fd, out, used, off);
		off += used;
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_mem; i++)
		free(n->mem[i]);
	n->n_mem = 0;
	n->runs[n->n_runs++] = (struct run){.off = start, .end = off};
	n->file_len = off;
	return 0;
}

/* Append a copy of name to mem (past the names read and forgotten, which
 * make room first). */
static int mem_push(struct names *n, const char *name)
{
	if (n->n_mem == n->cap_mem && n->mem_lo) {
		memmove(n->mem, n->mem + n->mem_lo, (n->n_mem - n->mem_lo) * sizeof(*n->mem));
		n->n_mem -= n->mem_lo;
		n->mem_lo = 0;
	}
	if (n->n_mem == n->cap_mem) {
		size_t ncap = n->cap_mem ? 2 * n->cap_mem : 64;
		char **v = reallocarray(n->mem, ncap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		n->mem = v;
		n->cap_mem = ncap;
	}
	char *s = strdup(name);
	if (!s)
		return -ENOMEM;
	n->mem[n->n_mem++] = s;
	return 0;
}

int names_add(struct names *n, const char *name)
{
	size_t l = strlen(name);
	if (n->sealed)
		return -EINVAL;
	if (l == 0 || l >= NAME_REC_MAX)
		return -ENAMETOOLONG;
	if (n->n_mem == n->run_max) {
		int r = spill(n);
		if (r < 0 && r != -ENOMEM && n->n_runs == 0) {
			/* Nothing on disk yet: this directory's names stay in
			 * memory, which the machine may well have. */
			log_warning_errno(r, "Cannot spill the names of a large directory to a scratch file in %s: %m "
					     "(they are kept in memory)", n->dir);
			n->run_max = SIZE_MAX;
		} else if (r < 0) {
			return log_error_errno(r, "Cannot spill the names of a large directory to a scratch file in "
						  "%s: %m", n->dir);
		}
	}
	return mem_push(n, name);
}

/* Load run k's next name into cur; 0, 1 when it is exhausted, or -errno. */
static int run_next(struct names *n, struct run *k)
{
	if (k->pos < k->len && k->pos + 1 + k->buf[k->pos] > k->len) {
		/* A record cut by the buffer's end: keep its start. */
		memmove(k->buf, k->buf + k->pos, k->len - k->pos);
		k->len -= k->pos;
		k->pos = 0;
	} else if (k->pos == k->len) {
		k->len = k->pos = 0;
	}
	if (k->len == 0 || k->pos + 1 + k->buf[k->pos] > k->len) {
		size_t want = (size_t)CFS_MIN((uint64_t)(k->cap - k->len), k->end - k->off);
		if (want) {
			ssize_t got = cfs_pread_full(n->fd, k->buf + k->len, want, k->off);
			if (got < 0)
				return (int)got;
			if ((size_t)got != want)
				return -EIO; /* our own file, shorter than written */
			k->len += want;
			k->off += want;
		}
	}
	if (k->pos == k->len)
		return 1;
	size_t l = k->buf[k->pos];
	if (l == 0 || k->pos + 1 + l > k->len)
		return -EIO;
	memcpy(k->cur, k->buf + k->pos + 1, l);
	k->cur[l] = '\0';
	k->pos += 1 + l;
	return 0;
}

static bool heap_less(const struct names *n, size_t a, size_t b)
{
	return strcmp(n->runs[n->heap[a]].cur, n->runs[n->heap[b]].cur) < 0;
}

static void heap_down(struct names *n, size_t i)
{
	for (;;) {
		size_t s = i, l = 2 * i + 1, r = l + 1;
		if (l < n->n_heap && heap_less(n, l, s))
			s = l;
		if (r < n->n_heap && heap_less(n, r, s))
			s = r;
		if (s == i)
			return;
		size_t t = n->heap[i];
		n->heap[i] = n->heap[s];
		n->heap[s] = t;
		i = s;
	}
}

int names_seal(struct names *n)
{
	if (n->sealed)
		return -EINVAL;
	n->sealed = true;
	if (n->n_runs == 0) {
		sort_mem(n);
		return 0;
	}
	int r = n->n_mem ? spill(n) : 0;
	if (r < 0)
		return r;
	size_t cap = CFS_MAX((size_t)MERGE_BUF_MIN, CFS_MIN((size_t)MERGE_BUF_MAX, MERGE_BUDGET / n->n_runs));
	n->heap = calloc(n->n_runs, sizeof(*n->heap));
	if (!n->heap)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_runs; i++) {
		struct run *k = &n->runs[i];
		k->buf = malloc(cap);
		if (!k->buf)
			return -ENOMEM;
		k->cap = cap;
		r = run_next(n, k);
		if (r < 0)
			return r;
		if (r == 0)
			n->heap[n->n_heap++] = i;
	}
	for (size_t i = n->n_heap / 2; i-- > 0;)
		heap_down(n, i);
	return 0;
}

/* The next merged name into the window; 1 when none is left. */
static int merge_one(struct names *n)
{
	for (;;) {
		if (n->n_heap == 0)
			return 1;
		struct run *k = &n->runs[n->heap[0]];
		bool fresh = !n->have_last || strcmp(k->cur, n->last) != 0;
		if (fresh) {
			int r = mem_push(n, k->cur);
			if (r < 0)
				return r;
			memcpy(n->last, k->cur, strlen(k->cur) + 1);
			n->have_last = true;
		}
		int r = run_next(n, k);
		if (r < 0)
			return r;
		if (r == 1)
			n->heap[0] = n->heap[--n->n_heap];
		if (n->n_heap)
			heap_down(n, 0);
		if (fresh)
			return 0;
	}
}

int names_get(struct names *n, size_t i, const char **ret)
{
	if (!n->sealed || i < n->base)
		return -EINVAL;
	while (i - n->base >= n->n_mem - n->mem_lo) {
		int r = n->n_runs ? merge_one(n) : 1;
		if (r < 0)
			return r;
		if (r == 1) {
			*ret = NULL;
			return 0;
		}
	}
	*ret = n->mem[n->mem_lo + (i - n->base)];
	return 0;
}

void names_forget_below(struct names *n, size_t i)
{
	while (n->base < i && n->mem_lo < n->n_mem) {
		free(n->mem[n->mem_lo]);
		n->mem[n->mem_lo++] = NULL;
		n->base++;
	}
}
