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

#include "common/version.h"

/*
 * Append the options of one -o to out, without "rw": util-linux mount(8)
 * passes rw whenever ro is absent (even for "defaults"), and a chronofs
 * mount is read-only anyway.
 */
static void add_opts(char *out, size_t outlen, const char *in)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", in);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "rw") == 0)
			continue;
		size_t l = strlen(out);
		snprintf(out + l, outlen - l, "%s%s", l ? "," : "", tok);
	}
}

int main(int argc, char **argv)
{
	static char opts_buf[8192];
	const char *opts = NULL, *pos[2] = {NULL, NULL};
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			add_opts(opts_buf, sizeof(opts_buf), argv[++i]);
			opts = opts_buf;
		} else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2]) {
			add_opts(opts_buf, sizeof(opts_buf), argv[i] + 2);
			opts = opts_buf;
		}
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("Usage: mount.chronofs REPO MOUNTPOINT [-sfnv] [-o OPTIONS]\n"
			       "       mount.chronofs -V|--version\n"
			       "The mount(8) helper for chronofs; OPTIONS as for chronofs(8).\n");
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			cli_print_version(stdout, "mount.chronofs");
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
	 * both in one directory), else the installed one (PREFIX/bin: the
	 * helper itself is in /sbin whatever the prefix), else the one on
	 * PATH. */
	char self[PATH_MAX], daemon[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *args[8];
	int k = 0;
	args[k++] = "chronofs";
	if (opts && *opts) {
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
	if (access(CFS_INSTALL_BINDIR "/chronofs", X_OK) == 0)
		execv(CFS_INSTALL_BINDIR "/chronofs", args);
	execvp("chronofs", args);
	perror("mount.chronofs: cannot run chronofs");
	return 1;
}
