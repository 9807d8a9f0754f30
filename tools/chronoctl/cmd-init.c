/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronoctl.h"
#include "../common/cli.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl [--repo PATH] init [--encryption aes-256-gcm|none]\n"
	      "Create a repository at PATH (a directory, created if missing).\n"
	      "The passphrase comes from the first of: --password-file, CHRONOFS_PASSWORD_FILE,\n"
	      "CHRONOFS_PASSWORD, a prompt (asked twice). With --encryption none, nothing is\n"
	      "encrypted and no passphrase is used.\n",
	      f);
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"encryption", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct cfs_repo_init_options o = {.encryption = CFS_ENC_AES256GCM, .kdf = CFS_KDF_DEFAULT};
	_cleanup_free_ char *pw = NULL;
	_cleanup_(repo_target_release) struct repo_target t = {0};
	size_t pw_len = 0;
	struct cfs_id id;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if ((r = handle_global_option(c, optarg)) != 0) {
			if (r < 0)
				return r;
			continue;
		}
		switch (c) {
		case 'e':
			if (strcmp(optarg, "aes-256-gcm") == 0)
				o.encryption = CFS_ENC_AES256GCM;
			else if (strcmp(optarg, "none") == 0)
				o.encryption = CFS_ENC_NONE;
			else
				return log_error_errno(-EINVAL, "Unknown encryption \"%s\": use aes-256-gcm or none", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	/* --repo NAME: the location and password file of [repository NAME]. */
	if ((r = repo_target_get(&t)) < 0)
		return r;
	o.location = t.location;
	if (!o.location || !*o.location)
		return log_error_errno(-EINVAL, "No repository given: use --repo PATH or set CHRONOFS_REPO");
	/* Test suites lower the scrypt cost; never set this in production. */
	const char *kdf = getenv("CHRONOFS_KDF_LOG2N");
	if (kdf && *kdf) {
		int v = atoi(kdf);
		if (v < 10 || v > 22)
			return log_error_errno(-EINVAL, "CHRONOFS_KDF_LOG2N must be 10..22");
		o.kdf.log2n = (uint8_t)v;
	}
	if (o.encryption == CFS_ENC_AES256GCM) {
		r = cli_get_password(t.password_file, true, &pw, &pw_len);
		if (r < 0)
			return r;
		if (pw_len == 0)
			return log_error_errno(-EINVAL, "Refusing an empty passphrase");
		o.password = pw;
		o.password_len = pw_len;
	}
	r = cfs_repo_init(&o, &id);
	if (pw)
		explicit_bzero(pw, pw_len);
	if (r == -EEXIST)
		return log_error_errno(r, "%s already holds a repository", o.location);
	if (r == -ENOTEMPTY)
		return log_error_errno(r, "%s is not empty (left over from an interrupted init?); "
					  "use an empty or new directory",
				       o.location);
	if (r == -ESOCKTNOSUPPORT)
		return log_error_errno(r, "Repository location %s: this kind of location is not supported yet "
					  "(use a local directory path or file:// URL)",
				       o.location);
	if (r < 0)
		return log_error_errno(r, "Cannot create repository at %s: %m", o.location);
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(&id, hex);
	printf("created repository %s (id %s, encryption %s)\n", o.location, hex,
	       o.encryption == CFS_ENC_NONE ? "none" : "aes-256-gcm");
	return 0;
}
