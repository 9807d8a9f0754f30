/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "../common/cli.h"
#include "../common/config.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl [--repo PATH] init [--encryption aes-256-gcm|none]\n"
	      "                 [--copy-params-from REPO [--from-password-file FILE]]\n"
	      "Create a repository at PATH (a directory, created if missing).\n"
	      "The passphrase comes from the first of: --password-file, CHRONOFS_PASSWORD_FILE,\n"
	      "CHRONOFS_PASSWORD, a prompt (asked twice). With --encryption none, nothing is\n"
	      "encrypted and no passphrase is used.\n"
	      "--copy-params-from REPO: take REPO's chunker and blob id parameters (and its\n"
	      "compression level), so that the same data is cut into the same chunks with the\n"
	      "same ids in both and `chronoctl copy` between them moves only new chunks. The new\n"
	      "repository keeps its own id, encryption key and passphrase; both must be\n"
	      "encrypted. REPO's passphrase: --from-password-file, CHRONOFS_FROM_PASSWORD_FILE,\n"
	      "CHRONOFS_FROM_PASSWORD, else the new repository's.\n",
	      f);
}

/*
 * The repository whose parameters a new one takes, opened read-only. Its
 * passphrase: the file given, $CHRONOFS_FROM_PASSWORD_FILE,
 * $CHRONOFS_FROM_PASSWORD, the config's password_file (when loc names a
 * [repository]), else the new repository's own (pw).
 */
static int open_params_source(const char *loc, const char *pwfile, const char *pw, size_t pw_len,
			      struct cfs_repo **ret)
{
	_cleanup_free_ char *fpw = NULL;
	size_t fpw_len = 0;
	const char *env = getenv("CHRONOFS_FROM_PASSWORD");
	_cleanup_(cli_config_freep) struct cli_config *c = NULL;
	const struct cli_config_repo *cr = NULL;
	enum cfs_encryption enc;
	struct cfs_repo_open_error why = {0};
	struct cfs_objstore_options store = g_opts.store;
	int r;

	/* A [repository NAME] of the configuration file: its location and S3
	 * service, and its password file after the option and the
	 * environment. */
	r = config_repo(loc, &c, &cr);
	if (r < 0)
		return r;
	if (cr) {
		loc = cr->location;
		if (!pwfile && !getenv("CHRONOFS_FROM_PASSWORD_FILE") && !(env && *env))
			pwfile = cr->password_file;
		cli_config_repo_store(cr, &store);
	}
	r = cfs_repo_probe_with(loc, &store, &enc, &why);
	if (r == -EMEDIUMTYPE)
		return log_error_errno(r, "--copy-params-from %s: not a repository", loc);
	if (r < 0)
		return cli_open_error(loc, r, &why, g_opts.lock_wait_sec);
	if (enc != CFS_ENC_AES256GCM)
		return log_error_errno(-EINVAL, "--copy-params-from %s: that repository is not encrypted (its ids are "
						"plain SHA-256 and its chunker seed derives from its id): nothing to share",
				       loc);
	if (!pwfile)
		pwfile = getenv("CHRONOFS_FROM_PASSWORD_FILE");
	if (pwfile && *pwfile) {
		r = cfs_read_file(pwfile, true, &fpw, &fpw_len);
		if (r < 0)
			return log_error_errno(r, "Cannot read password file %s: %m", pwfile);
	} else if (env && *env) {
		fpw = strdup(env);
		if (!fpw)
			return log_error_errno(-ENOMEM, "Cannot copy the passphrase from CHRONOFS_FROM_PASSWORD: %m");
		fpw_len = strlen(fpw);
	}
	struct cfs_repo_open_options o = {
		.location = loc,
		.cache_dir = g_opts.cache_dir,
		.lock_wait_sec = g_opts.lock_wait_sec,
		.store = &store,
		.password = fpw ? fpw : pw,
		.password_len = fpw ? fpw_len : pw_len,
	};
	r = cli_open_repo(&o, NULL, ret);
	if (fpw)
		explicit_bzero(fpw, fpw_len);
	return r;
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"encryption", required_argument, NULL, 'e'},
		{"copy-params-from", required_argument, NULL, 'p'},
		{"from-password-file", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct cfs_repo_init_options o = {.encryption = CFS_ENC_AES256GCM, .kdf = CFS_KDF_DEFAULT};
	_cleanup_(cfs_repo_freep) struct cfs_repo *from = NULL;
	const char *from_loc = NULL, *from_pwfile = NULL;
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
		case 'p':
			from_loc = optarg;
			break;
		case 'f':
			from_pwfile = optarg;
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
	o.store = &t.store;
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
	if (from_pwfile && !from_loc)
		return log_error_errno(-EINVAL, "--from-password-file goes with --copy-params-from");
	if (from_loc && o.encryption != CFS_ENC_AES256GCM)
		return log_error_errno(-EINVAL, "--copy-params-from needs an encrypted repository: an unencrypted one "
						"has plain SHA-256 ids and a chunker seed of its own, nothing to share");
	if (o.encryption == CFS_ENC_AES256GCM) {
		r = cli_get_password(t.password_file, true, &pw, &pw_len);
		if (r < 0)
			return r;
		if (pw_len == 0)
			return log_error_errno(-EINVAL, "Refusing an empty passphrase");
		o.password = pw;
		o.password_len = pw_len;
	}
	if (from_loc) {
		r = open_params_source(from_loc, from_pwfile, pw, pw_len, &from);
		if (r < 0) {
			explicit_bzero(pw, pw_len);
			return r;
		}
		o.params_from = from;
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
	if (r == -EINVAL && from)
		return log_error_errno(r, "Cannot create repository at %s with the parameters of %s: both must be "
					  "encrypted",
				       o.location, from_loc);
	if (r < 0)
		return log_error_errno(r, "Cannot create repository at %s: %m", o.location);
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(&id, hex);
	printf("created repository %s (id %s, encryption %s)\n", o.location, hex,
	       o.encryption == CFS_ENC_NONE ? "none" : "aes-256-gcm");
	if (from)
		printf("chunker and blob id parameters taken from %s: copies between them dedup\n", from_loc);
	return 0;
}
