/* SPDX-License-Identifier: MIT */
/*
 * mount.chronofs — the mount(8) helper: `mount -t chronofs REPO DIR -o OPTS`
 * and fstab lines like
 *     /srv/repo  /mnt/backups  chronofs  ro,allow_other,password_file=/etc/chronofs/pass  0 0
 * run `mount.chronofs REPO DIR [-sfnv] -o OPTS`, which runs
 * `chronofs -o OPTS REPO DIR` (in the background; it returns once mounted).
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *opts = NULL, *pos[2] = {NULL, NULL};
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			opts = argv[++i];
		else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2])
			opts = argv[i] + 2;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("Usage: mount.chronofs REPO MOUNTPOINT [-sfnv] [-o OPTIONS]\n"
			       "The mount(8) helper for chronofs; OPTIONS as for chronofs(8).\n");
			return 0;
		} else if (argv[i][0] == '-')
			continue; /* -s -f -n -v from mount(8): nothing to do */
		else if (npos < 2)
			pos[npos++] = argv[i];
	}
	if (npos != 2) {
		fputs("mount.chronofs: usage: mount.chronofs REPO MOUNTPOINT [-o OPTIONS]\n", stderr);
		return 1;
	}
	/* The daemon next to this helper (a build tree, or an install with
	 * both in one directory), else the one on PATH. */
	char self[PATH_MAX], daemon[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *args[8];
	int k = 0;
	args[k++] = "chronofs";
	if (opts) {
		args[k++] = "-o";
		args[k++] = (char *)opts;
	}
	args[k++] = (char *)pos[0];
	args[k++] = (char *)pos[1];
	args[k] = NULL;
	if (n > 0) {
		self[n] = 0;
		snprintf(daemon, sizeof(daemon), "%s/chronofs", dirname(self));
		if (access(daemon, X_OK) == 0)
			execv(daemon, args);
	}
	execvp("chronofs", args);
	perror("mount.chronofs: cannot run chronofs");
	return 1;
}
