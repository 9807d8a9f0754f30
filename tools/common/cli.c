/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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

void cli_describe_process(long pid, char *out, size_t n)
{
	char path[64], cmd[256];
	ssize_t len = -1;
	if (pid <= 0) {
		snprintf(out, n, "another process (its PID is not in the lock file yet)");
		return;
	}
	static const char *const files[] = {"cmdline", "comm"};
	for (size_t f = 0; f < ARRAY_SIZE(files) && len <= 0; f++) {
		snprintf(path, sizeof(path), "/proc/%ld/%s", pid, files[f]);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		len = fd < 0 ? -1 : read(fd, cmd, sizeof(cmd) - 1);
	}
	if (len <= 0) {
		snprintf(out, n, "process %ld", pid);
		return;
	}
	/* cmdline: arguments separated by NULs; comm: a name and a newline.
	 * Written by anyone: no control bytes in messages. */
	while (len > 0 && (cmd[len - 1] == 0 || cmd[len - 1] == '\n'))
		len--;
	for (ssize_t i = 0; i < len; i++)
		if (cmd[i] == 0)
			cmd[i] = ' ';
		else if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f)
			cmd[i] = '?';
	cmd[len] = 0;
	snprintf(out, n, "process %ld (%s%s)", pid, cmd, (size_t)len == sizeof(cmd) - 1 ? "..." : "");
}

struct lock_wait_state {
	const char *loc;
	bool tty;  /* stderr is a terminal: a live status line */
	bool said; /* the first line is out */
};

/* Say at once for whom the open waits; on a terminal show the wait. */
static void on_lock_wait(const struct cfs_repo_lock_wait *w, void *ud)
{
	struct lock_wait_state *st = ud;
	char who[400], line[600];
	if (w->done) {
		if (st->tty)
			cfs_log_status(NULL);
		return;
	}
	cli_describe_process(w->holder_pid, who, sizeof(who));
	if (!st->said) {
		log_info("Repository %s: waiting for %s, which holds the lock %s (waiting up to %d s)", st->loc, who,
			 w->lock_path, w->wait_sec);
		st->said = true;
	}
	if (st->tty) {
		snprintf(line, sizeof(line), "Waiting for %s: %" PRId64 " s of %d s", who, w->waited_ms / 1000,
			 w->wait_sec);
		cfs_log_status(line);
	}
}

int cli_open_repo(const struct cfs_repo_open_options *opts, const char *password_file, struct cfs_repo **ret)
{
	_cleanup_free_ char *pw = NULL;
	size_t pw_len = 0;
	struct cfs_repo_open_error why = {0};
	int r;

	if (!opts->location)
		return log_error_errno(-EINVAL, "No repository given: use --repo PATH or set CHRONOFS_REPO");
	struct cfs_repo_open_options o = *opts;
	struct lock_wait_state wait = {.loc = o.location, .tty = isatty(STDERR_FILENO) == 1};
	if (!o.error)
		o.error = &why;
	if (!o.lock_wait) {
		o.lock_wait = on_lock_wait;
		o.lock_wait_ud = &wait;
	}
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
	return r == 0 ? 0 : cli_open_error(o.location, r, o.error, o.lock_wait_sec);
}

/* A path of the repository: an object's for a local store (where the
 * permission is the file's), the object and the location for a remote one. */
static void store_path(const char *loc, const struct cfs_repo_open_error *why, char *out, size_t n)
{
	if (!why->path[0])
		snprintf(out, n, "%s", loc);
	else if (why->remote)
		snprintf(out, n, "%s of %s", why->path, loc);
	else
		snprintf(out, n, "%s/%s", loc, why->path);
}

/* The failures that name a path: what the library said it was doing. */
static int open_error_path(const char *loc, int r, const struct cfs_repo_open_error *why, int lock_wait_sec)
{
	char what[4400], who[400];
	bool denied = r == -EACCES || r == -EPERM;
	switch (why->stage) {
	case CFS_REPO_STAGE_CACHE_HOME:
		return log_error_errno(r, "No cache directory for repository %s: HOME=%s does not exist (it is not "
					  "created); set CHRONOFS_CACHE_DIR or XDG_CACHE_HOME, or give a cache directory "
					  "(--cache-dir, -o cache_dir=)",
				       loc, why->path);
	case CFS_REPO_STAGE_CACHE_DIR:
	case CFS_REPO_STAGE_LOCK:
	case CFS_REPO_STAGE_CATALOG:
		if (r == -EBUSY && why->stage == CFS_REPO_STAGE_LOCK) {
			cli_describe_process(why->lock_pid, who, sizeof(who));
			if (lock_wait_sec > 0)
				return log_error_errno(r, "Repository %s: %s holds the lock %s on its local catalog; "
							  "gave up after %d s (--lock-wait)",
						       loc, who, why->path, lock_wait_sec);
			return log_error_errno(r, "Repository %s: %s holds the lock %s on its local catalog", loc, who,
					       why->path);
		}
		if (r == -ENOSPC || r == -EDQUOT || r == -EROFS || denied)
			return log_error_errno(r, "Cannot use cache directory %s (for repository %s): %m (%s, or give "
						  "another with --cache-dir or CHRONOFS_CACHE_DIR)",
					       why->path, loc,
					       denied ? "this user cannot write there" : "make room there");
		if (why->stage == CFS_REPO_STAGE_CATALOG)
			return log_error_errno(r, "Repository %s: cannot open its local catalog %s: %m", loc,
					       why->path);
		return log_error_errno(r, "Cannot use cache directory %s (for repository %s): %m", why->path, loc);
	case CFS_REPO_STAGE_STORE:
	case CFS_REPO_STAGE_KEYS:
		store_path(loc, why, what, sizeof(what));
		if (why->remote && r == -EACCES)
			return log_error_errno(r, "The store refused access (HTTP 403) to %s: check the access key, "
						  "the secret key and the bucket's policy",
					       what);
		/* The store said which endpoint and why, on the line above
		 * (s3.c): an errno's words ("No route to host" for a name
		 * that does not resolve) would only blur it. */
		if (why->remote && (r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNABORTED))
			return log_error_errno(r, "Cannot open repository %s: its S3 endpoint cannot be reached (above)",
					       loc);
		if (!why->path[0])
			return log_error_errno(r, "Cannot read repository %s: %m%s", loc,
					       denied ? " (this user may not read it)" : "");
		return log_error_errno(r, "Cannot read repository %s: %s: %m%s", loc, what,
				       denied ? " (this user may not read it)" : "");
	case CFS_REPO_STAGE_NONE:
		break;
	}
	return log_error_errno(r, "Cannot open repository %s: %m", loc);
}

int cli_open_error(const char *loc, int r, const struct cfs_repo_open_error *why, int lock_wait_sec)
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
	case -EKEYEXPIRED:
		return log_error_errno(r, "Wrong passphrase for repository %s (no key file opens with it)", loc);
	case -EMEDIUMTYPE:
		return log_error_errno(r, "%s is not a chronofs repository (no valid config object)", loc);
	case -EPROTONOSUPPORT:
		return log_error_errno(r, "Repository %s uses a newer format version than this chronofs release supports "
					  "(supported: version %d); upgrade chronofs",
				       loc, CFS_REPO_FORMAT_VERSION);
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
		if (!why || why->stage == CFS_REPO_STAGE_NONE)
			return log_error_errno(r, "Repository %s: config or key file is malformed: %m", loc);
		break;
	default:
		break;
	}
	if (why && why->stage != CFS_REPO_STAGE_NONE)
		return open_error_path(loc, r, why, lock_wait_sec);
	if (r == -EBUSY)
		return log_error_errno(r, "Repository %s: the local catalog is locked by another chronoctl or chronofs "
					  "process (waited %d s)",
				       loc, lock_wait_sec);
	return log_error_errno(r, "Cannot open repository %s: %m", loc);
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

int cli_parse_scaled(const char *v, uint64_t unit, uint64_t *ret)
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
	if (cli_parse_scaled(v, 1024, ret) < 0)
		return log_error_errno(-EINVAL, "Invalid %s value \"%s\": KiB per second expected (0: no limit)",
				       option, v);
	return 0;
}

int cli_parse_mib(const char *option, const char *v, uint64_t *ret)
{
	if (cli_parse_scaled(v, 1u << 20, ret) < 0)
		return log_error_errno(-EINVAL, "Invalid %s value \"%s\": MiB expected (0: none)", option, v);
	return 0;
}

/* Optimal string alignment distance (Levenshtein plus swaps of neighbours:
 * "restroe" is one slip, not two). Names are short: a fixed table. */
static size_t edit_distance(const char *a, const char *b)
{
	enum { MAX = 64 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= MAX || lb >= MAX)
		return SIZE_MAX;
	size_t d[MAX][MAX];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = CFS_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
			v = CFS_MIN(v, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = CFS_MIN(v, d[i - 2][j - 2] + 1);
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *cli_did_you_mean(const char *word, const char *const *names, size_t n)
{
	/* Near enough to be a typo: one edit in a short word, a third of a
	 * longer one (so "snapshots" and "restor" find theirs, "ls" no "list"). */
	size_t limit = CFS_MAX(strlen(word) / 3, (size_t)1), best = SIZE_MAX;
	const char *found = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, names[i]);
		if (dist <= limit && dist < best) {
			best = dist;
			found = names[i];
		}
	}
	return found;
}
