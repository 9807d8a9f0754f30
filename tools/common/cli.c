/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "cli.h"

static int prompt(const char *what, char **ret)
{
	struct termios old, noecho;
	char line[1024];
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -ENOTTY;
	fputs(what, tty);
	fflush(tty);
	bool restore = tcgetattr(fileno(tty), &old) == 0;
	if (restore) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	}
	char *got = fgets(line, sizeof(line), tty);
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	if (!got)
		return -EIO;
	line[strcspn(line, "\r\n")] = 0;
	*ret = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *ret ? 0 : -ENOMEM;
}

int cli_get_password(const char *password_file, bool confirm, char **ret, size_t *ret_len)
{
	const char *file = password_file;
	const char *env = getenv("CHRONOFS_PASSWORD");
	int r;

	if (!file)
		file = getenv("CHRONOFS_PASSWORD_FILE");
	if (file && !*file)
		return log_error_errno(-EINVAL, "Empty password file name (--password-file or CHRONOFS_PASSWORD_FILE)");
	if (file) {
		r = cfs_read_file(file, true, ret, ret_len);
		if (r < 0)
			return log_error_errno(r, "Cannot read password file %s: %m", file);
		return 0;
	}
	if (env) {
		*ret = strdup(env);
		if (!*ret)
			return log_error_errno(-ENOMEM, "Cannot copy the passphrase from CHRONOFS_PASSWORD: %m");
		*ret_len = strlen(env);
		return 0;
	}
	if (!isatty(STDIN_FILENO))
		return log_error_errno(-ENOKEY, "No passphrase: set CHRONOFS_PASSWORD or CHRONOFS_PASSWORD_FILE, "
						"or give a password file option (stdin is not a terminal, so no prompt)");
	_cleanup_free_ char *a = NULL, *b = NULL;
	r = prompt("Repository passphrase: ", &a);
	if (r < 0)
		return log_error_errno(r, "Cannot read the passphrase from the terminal: %m");
	if (confirm) {
		r = prompt("Repeat passphrase: ", &b);
		if (r < 0)
			return log_error_errno(r, "Cannot read the passphrase from the terminal: %m");
		if (strcmp(a, b) != 0)
			return log_error_errno(-EINVAL, "The passphrases do not match");
	}
	*ret_len = strlen(a);
	*ret = TAKE_PTR(a);
	return 0;
}

const char *cli_repo_location(const char *given)
{
	if (given)
		return given;
	const char *e = getenv("CHRONOFS_REPO");
	return e && *e ? e : NULL;
}

/* A passphrase the user configured (a file or the environment), as opposed
 * to one only a prompt could give. An empty CHRONOFS_PASSWORD counts as
 * unset; an empty file name is an error cli_get_password() reports. */
static bool password_configured(const char *password_file)
{
	const char *env = getenv("CHRONOFS_PASSWORD");
	return password_file || getenv("CHRONOFS_PASSWORD_FILE") || (env && *env);
}

int cli_open_repo(const struct cfs_repo_open_options *opts, const char *password_file, struct cfs_repo **ret)
{
	_cleanup_free_ char *pw = NULL;
	size_t pw_len = 0;
	int r;

	if (!opts->location)
		return log_error_errno(-EINVAL, "No repository given: use --repo PATH or set CHRONOFS_REPO");
	struct cfs_repo_open_options o = *opts;
	/* A configured passphrase goes in from the start: the repository's
	 * config is not authenticated, so it must not be what decides
	 * whether the passphrase is used (it would be what an attacker
	 * flips). Only the prompt waits until the repository asks. */
	if (!o.password && password_configured(password_file)) {
		r = cli_get_password(password_file, false, &pw, &pw_len);
		if (r < 0)
			return r;
		o.password = pw;
		o.password_len = pw_len;
	}
	r = cfs_repo_open(&o, ret);
	if (r == -ENOKEY && !o.password) {
		r = cli_get_password(password_file, false, &pw, &pw_len);
		if (r < 0)
			return r;
		o.password = pw;
		o.password_len = pw_len;
		r = cfs_repo_open(&o, ret);
	}
	if (pw)
		explicit_bzero(pw, pw_len);
	if (r == -ENOSPC || r == -EDQUOT || r == -EROFS) {
		_cleanup_free_ char *dflt = NULL;
		const char *dir = o.cache_dir;
		if (!dir && cfs_repo_default_cache_dir(&dflt) == 0)
			dir = dflt;
		return log_error_errno(r, "Repository %s: cannot write its local catalog under %s: %m (make room there, "
					  "or use another --cache-dir)",
				       o.location, dir ? dir : "the cache directory");
	}
	return r == 0 ? 0 : cli_open_error(o.location, r, o.lock_wait_sec);
}

int cli_open_error(const char *loc, int r, int lock_wait_sec)
{
	switch (r) {
	case -EKEYREVOKED:
		return log_error_errno(r, "Repository %s says it is not encrypted, but a passphrase was given "
					  "(CHRONOFS_PASSWORD, CHRONOFS_PASSWORD_FILE or --password-file). Its config is not "
					  "authenticated and may have been altered: refusing to use it. For a repository that "
					  "really is unencrypted, give no passphrase",
				       loc);
	case -EUCLEAN:
		return log_error_errno(r, "Repository %s has packs that cannot be read (named above); nothing was "
					  "written. Run chronoctl check, then chronoctl repair",
				       loc);
	case 0:
		return 0;
	case -EACCES:
		return log_error_errno(r, "Wrong passphrase for repository %s (no key could be unlocked)", loc);
	case -EMEDIUMTYPE:
		return log_error_errno(r, "%s is not a chronofs repository (no valid config object)", loc);
	case -EPROTONOSUPPORT:
		return log_error_errno(r, "Repository %s uses a newer format version than this chronofs release supports "
					  "(supported: version %d); upgrade chronofs",
				       loc, CFS_REPO_FORMAT_VERSION);
	case -EBUSY:
		return log_error_errno(r, "Repository %s: the local catalog is locked by another chronoctl or chronofs "
					  "process (waited %d s)",
				       loc, lock_wait_sec);
	case -ENOKEY:
		return log_error_errno(r, "Repository %s has no usable key file", loc);
	case -EKEYREJECTED:
		return log_error_errno(r, "Repository %s: its config says it is not encrypted, but it has key files or "
					  "was encrypted before; the config was altered. Refusing to use it",
				       loc);
	case -ESOCKTNOSUPPORT:
		return log_error_errno(r, "Repository location %s: this kind of location is not supported yet "
					  "(use a local directory path or file:// URL)",
				       loc);
	case -EPROTO:
		return log_error_errno(r, "Repository %s: config or key file is malformed: %m", loc);
	default:
		return log_error_errno(r, "Cannot open repository %s: %m", loc);
	}
}

int cli_parse_transfers(const char *option, const char *v, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n < 1 || n > CFS_OBJSTORE_TRANSFERS_MAX)
		return log_error_errno(-EINVAL, "Invalid %s value \"%s\": a number of transfers from 1 to %d expected",
				       option, v, CFS_OBJSTORE_TRANSFERS_MAX);
	*ret = (unsigned)n;
	return 0;
}

/* A count of units up to 2^30 (far from overflowing), times unit. */
static int parse_scaled(const char *v, uint64_t unit, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-' || n > (1ull << 30))
		return -EINVAL;
	*ret = (uint64_t)n * unit;
	return 0;
}

int cli_parse_kib_rate(const char *option, const char *v, uint64_t *ret)
{
	if (parse_scaled(v, 1024, ret) < 0)
		return log_error_errno(-EINVAL, "Invalid %s value \"%s\": KiB per second expected (0: no limit)",
				       option, v);
	return 0;
}

int cli_parse_mib(const char *option, const char *v, uint64_t *ret)
{
	if (parse_scaled(v, 1u << 20, ret) < 0)
		return log_error_errno(-EINVAL, "Invalid %s value \"%s\": MiB expected (0: none)", option, v);
	return 0;
}
