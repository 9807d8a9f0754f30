/* SPDX-License-Identifier: MIT */
/*
 * fhandle — file handles for the mount tests (NFS-export style access).
 *
 * Usage:
 *   fhandle save PATH HANDLE_FILE   name_to_handle_at(PATH) -> HANDLE_FILE
 *   fhandle cat MOUNT HANDLE_FILE   open_by_handle_at(fd of MOUNT, handle),
 *                                   copy the file's contents to stdout
 *
 * HANDLE_FILE holds the raw handle: u32 handle_bytes, i32 handle_type, then
 * handle_bytes bytes (native byte order; it never leaves the machine).
 * MOUNT is any path on the mounted file system, typically its root: the
 * handle may come from an earlier mount of the same file system (the point
 * is that a handle outlives the kernel's caches and the daemon).
 * `cat` needs CAP_DAC_READ_SEARCH (root).
 *
 * Errors are printed as "fhandle: CALL: strerror" and exit 1; usage errors
 * exit 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Room for the largest handle; static, so no error path leaks memory. */
static union {
	struct file_handle fh;
	unsigned char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
} handle;

static int die(const char *what)
{
	fprintf(stderr, "fhandle: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_save(const char *path, const char *out)
{
	struct file_handle *fh = &handle.fh;
	int mount_id, fd;
	uint32_t nbytes;
	int32_t type;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) < 0)
		return die("name_to_handle_at");
	nbytes = fh->handle_bytes;
	type = fh->handle_type;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return die("open handle file");
	if (write_all(fd, &nbytes, sizeof(nbytes)) < 0 || write_all(fd, &type, sizeof(type)) < 0 ||
	    write_all(fd, fh->f_handle, nbytes) < 0)
		return die("write handle file");
	if (close(fd) < 0)
		return die("close handle file");
	return 0;
}

static int cmd_cat(const char *mount, const char *in)
{
	unsigned char raw[8 + MAX_HANDLE_SZ];
	struct file_handle *fh = &handle.fh;
	uint32_t nbytes;
	int32_t type;
	ssize_t n;
	int fd, mfd;
	char buf[65536];

	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die("open handle file");
	n = read(fd, raw, sizeof(raw));
	if (n < 0)
		return die("read handle file");
	close(fd);
	if (n < 8) {
		fprintf(stderr, "fhandle: handle file too short\n");
		return 1;
	}
	memcpy(&nbytes, raw, 4);
	memcpy(&type, raw + 4, 4);
	if (nbytes > MAX_HANDLE_SZ || (size_t)n != 8 + (size_t)nbytes) {
		fprintf(stderr, "fhandle: malformed handle file\n");
		return 1;
	}
	fh->handle_bytes = nbytes;
	fh->handle_type = type;
	memcpy(fh->f_handle, raw + 8, nbytes);

	mfd = open(mount, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return die("open mount");
	fd = open_by_handle_at(mfd, fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die("open_by_handle_at");
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return die("read");
		}
		if (n == 0)
			break;
		if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
			return die("write stdout");
	}
	close(fd);
	close(mfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "save") == 0)
		return cmd_save(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "cat") == 0)
		return cmd_cat(argv[2], argv[3]);
	fprintf(stderr, "usage: fhandle save PATH HANDLE_FILE | fhandle cat MOUNT HANDLE_FILE\n");
	return 2;
}
