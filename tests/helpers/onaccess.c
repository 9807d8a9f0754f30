/* SPDX-License-Identifier: MIT */
/*
 * onaccess — change a file the moment someone reads it, for tests of files
 * that change while a backup reads them.
 *
 *   onaccess FILE ACTION READY
 *
 * Watches FILE for IN_ACCESS (a read of its contents), creates READY once the
 * watch is in place, and at the first read does ACTION to FILE, then exits 0:
 *   rewrite:STR    overwrite FILE in place from offset 0 with STR (same inode;
 *                  size unchanged when STR is as long as the file)
 *   truncate:N     truncate FILE to N bytes
 * Exits 2 after 120 s without a read, 1 on errors (named on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static int act(const char *file, const char *action)
{
	if (strncmp(action, "rewrite:", 8) == 0) {
		const char *s = action + 8;
		int fd = open(file, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ssize_t n = pwrite(fd, s, strlen(s), 0);
		int e = n == (ssize_t)strlen(s) ? 0 : n < 0 ? -errno : -EIO;
		close(fd);
		return e;
	}
	if (strncmp(action, "truncate:", 9) == 0) {
		char *end;
		long long n = strtoll(action + 9, &end, 10);
		if (*end || n < 0)
			return -EINVAL;
		return truncate(file, (off_t)n) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: onaccess FILE rewrite:STR|truncate:N READY\n");
		return 1;
	}
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, argv[1], IN_ACCESS) < 0) {
		fprintf(stderr, "onaccess: cannot watch %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int fd = open(argv[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "onaccess: cannot create %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	close(fd);
	struct pollfd p = {.fd = in, .events = POLLIN};
	int n = poll(&p, 1, 120 * 1000);
	if (n == 0) {
		fprintf(stderr, "onaccess: %s was not read within 120 s\n", argv[1]);
		return 2;
	}
	int e = n < 0 ? -errno : act(argv[1], argv[2]);
	if (e < 0) {
		fprintf(stderr, "onaccess: %s on %s: %s\n", argv[2], argv[1], strerror(-e));
		return 1;
	}
	return 0;
}
