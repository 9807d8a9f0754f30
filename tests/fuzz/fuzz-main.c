/* SPDX-License-Identifier: MIT */
/*
 * fuzz-main.c — the main() of a fuzz target built without libFuzzer: replays
 * every regular file in the directories (or the single files) named on the
 * command line through LLVMFuzzerTestOneInput(), in name order so runs are
 * reproducible. A crash or abort() fails the test; so does an unreadable
 * argument or an empty corpus, which would otherwise pass vacuously.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/util.h"
#include "fuzz.h"

static int run_file(const char *path, size_t *count)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %m\n", path);
		return -errno;
	}
	/* Exactly the file's size, so ASan sees any read past the input's end;
	 * one byte for an empty file, since the target must not get NULL. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!data)
		return -ENOMEM;
	n = cfs_pread_full(fd, data, (size_t)st.st_size, 0);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror((int)-n));
		return (int)n;
	}
	LLVMFuzzerTestOneInput(data, (size_t)n);
	(*count)++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	if (!d) {
		fprintf(stderr, "%s: %m\n", dir);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **p = realloc(names, cap * sizeof(*names));
			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			names = p;
		}
		if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct stat st;
		if (stat(names[i], &st) < 0) {
			fprintf(stderr, "%s: %m\n", names[i]);
			r = -errno;
		} else if (S_ISREG(st.st_mode)) {
			r = run_file(names[i], count);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

int main(int argc, char **argv)
{
	size_t count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %m\n", argv[i]);
			return 1;
		}
		r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count);
		if (r < 0)
			return 1;
	}
	if (count == 0) {
		fprintf(stderr, "%s: no inputs found\n", argv[0]);
		return 1;
	}
	printf("%zu inputs replayed\n", count);
	return 0;
}
