/* SPDX-License-Identifier: MIT */
/*
 * objstore-tool — drive an object store (objstore.h) directly, for
 * integration tests of what no chronoctl verb does on its own (yet): a
 * batched delete (prune will call it).
 *
 * Usage:
 *   objstore-tool LOCATION put NAME...     each NAME stored with its name as bytes
 *   objstore-tool LOCATION delete NAME...  cfs_objstore_delete_many(NAME...)
 *   objstore-tool LOCATION head NAME...    "present NAME" or "absent NAME", a line each
 *   objstore-tool LOCATION list [PREFIX]   one name a line, sorted
 *
 * A NAME "-" reads the names from stdin instead, one a line (thousands do
 * not fit on a command line). LOCATION is anything cfs_objstore_open()
 * takes (s3://BUCKET/PREFIX with the AWS_* environment, a directory), and
 * CHRONOFS_OBJSTORE_FAULT arms the fault-injecting backend as for
 * chronoctl.
 *
 * delete prints "done N of M" on stdout, N being *ret_done, and on failure
 * the failing name and the error on stderr. Exit status: 0 success, 1 the
 * operation failed, 2 usage or setup errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronofs/objstore.h"
#include "chronofs/util.h"

struct names {
	char **v; /* owned, each owned */
	size_t n, cap;
};

static int names_add(struct names *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = reallocarray(l->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strndup(s, len);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int names_read(struct names *l, char **argv, int argc)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") != 0) {
			if (names_add(l, argv[i], strlen(argv[i])) < 0)
				return -ENOMEM;
			continue;
		}
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, stdin)) > 0) {
			if (line[len - 1] == '\n')
				len--;
			if (len > 0 && names_add(l, line, (size_t)len) < 0) {
				free(line);
				return -ENOMEM;
			}
		}
		free(line);
	}
	return 0;
}

static int collect(const char *name, uint64_t size, void *ud)
{
	(void)size;
	return names_add(ud, name, strlen(name));
}

int main(int argc, char **argv)
{
	_cleanup_(cfs_objstore_freep) struct cfs_objstore *s = NULL;
	struct names l = {0};
	int r, status = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: objstore-tool LOCATION put|delete|head NAME... | list [PREFIX]\n");
		return 2;
	}
	r = cfs_objstore_open(argv[1], false, &s);
	if (r < 0) {
		fprintf(stderr, "objstore-tool: cannot open %s: %s\n", argv[1], strerror(-r));
		return 2;
	}
	if (strcmp(argv[2], "list") == 0) {
		r = cfs_objstore_list(s, argc > 3 ? argv[3] : "", collect, &l);
		if (r == 0) {
			if (l.n) /* l.v is NULL for an empty listing */
				qsort(l.v, l.n, sizeof(*l.v), cfs_strptr_cmp);
			for (size_t i = 0; i < l.n; i++)
				printf("%s\n", l.v[i]);
		} else {
			fprintf(stderr, "objstore-tool: list: %s\n", strerror(-r));
			status = 1;
		}
	} else if (strcmp(argv[2], "put") == 0 || strcmp(argv[2], "delete") == 0 || strcmp(argv[2], "head") == 0) {
		r = names_read(&l, argv + 3, argc - 3);
		if (r < 0) {
			fprintf(stderr, "objstore-tool: %s\n", strerror(-r));
			status = 2;
		} else if (strcmp(argv[2], "put") == 0) {
			for (size_t i = 0; i < l.n && status == 0; i++) {
				r = cfs_objstore_put(s, l.v[i], l.v[i], strlen(l.v[i]));
				if (r < 0) {
					fprintf(stderr, "objstore-tool: put %s: %s\n", l.v[i], strerror(-r));
					status = 1;
				}
			}
		} else if (strcmp(argv[2], "head") == 0) {
			for (size_t i = 0; i < l.n && status == 0; i++) {
				uint64_t size;
				r = cfs_objstore_head(s, l.v[i], &size);
				if (r == 0 || r == -ENOENT) {
					printf("%s %s\n", r == 0 ? "present" : "absent", l.v[i]);
				} else {
					fprintf(stderr, "objstore-tool: head %s: %s\n", l.v[i], strerror(-r));
					status = 1;
				}
			}
		} else {
			_cleanup_free_ int *errs = calloc(l.n ? l.n : 1, sizeof(*errs));
			size_t gone = 0;
			if (!errs) {
				fprintf(stderr, "objstore-tool: %s\n", strerror(ENOMEM));
				status = 2;
			} else {
				r = cfs_objstore_delete_many(s, (const char *const *)l.v, l.n, errs);
				for (size_t i = 0; i < l.n; i++)
					if (errs[i] == 0)
						gone++;
					else
						fprintf(stderr, "objstore-tool: delete %s: %s\n", l.v[i], strerror(-errs[i]));
				printf("deleted %zu of %zu\n", gone, l.n);
				if (r < 0)
					status = 1;
			}
		}
	} else {
		fprintf(stderr, "objstore-tool: unknown command %s\n", argv[2]);
		status = 2;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	fflush(stdout);
	return status;
}
