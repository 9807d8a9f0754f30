/* SPDX-License-Identifier: MIT */
/*
 * chronofs — mount a repository's snapshots read-only.
 *
 *   chronofs [-f] [-d] [-o OPTIONS] REPO MOUNTPOINT
 *
 * Without -f the process forks before opening anything (RocksDB's threads
 * do not survive a fork); the parent waits until the child reports the
 * mount ready, or failed, and exits 0 or 1 accordingly, so errors (wrong
 * passphrase, missing repository, busy mount point) reach the caller.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronofs/catalog.h"
#include "chronofs/fuse.h"
#include "chronofs/log.h"
#include "../common/version.h"
#include "../common/cli.h"
#include "../common/snap.h"

struct args {
	const char *repo, *mountpoint;
	const char *password_file, *cache_dir, *snapshot;
	bool foreground, debug, allow_other;
	size_t cache_mib, tree_cache_mib;
	uint64_t disk_cache_bytes;
	unsigned threads;
	struct cfs_objstore_options store;
	char *opt_storage; /* owned copies of -o strings */
};

static void usage(FILE *f)
{
	fputs("Usage: chronofs [-f] [-d] [-o OPTIONS] REPO MOUNTPOINT\n"
	      "Mount the snapshots of repository REPO read-only at MOUNTPOINT.\n"
	      "\n"
	      "  -f                 stay in the foreground\n"
	      "  -d                 debug: foreground, log every FUSE request\n"
	      "  -o OPTIONS         comma-separated:\n"
	      "     password_file=FILE   passphrase file (also CHRONOFS_PASSWORD_FILE, CHRONOFS_PASSWORD)\n"
	      "     cache_dir=DIR        local catalog (also CHRONOFS_CACHE_DIR)\n"
	      "     snapshot=SNAP        mount one snapshot (name, id prefix, latest, time) alone\n"
	      "     allow_other          let other users in (modes and ACLs still apply)\n"
	      "     cache_size=MIB       decoded file data kept in memory (default 24)\n"
	      "     tree_cache_size=MIB  decoded directories kept in memory (default 12)\n"
	      "     threads=N            FUSE worker threads (default 16)\n"
	      "     disk_cache_size=MIB  S3: packs read in 4 MiB blocks, kept on local disk under the\n"
	      "                          cache directory (default 1024; 0: none)\n"
	      "     transfers=N          reads from the store at once (local 1, S3 4)\n"
	      "     limit_download=KIB   at most KIB KiB/s out of the store (default: no limit)\n"
	      "     ro, defaults, noauto, nofail, _netdev, nodev, nosuid, noexec, noatime, user: accepted\n"
	      "  -h, --help         this help\n"
	      "  -V, --version      the version and the repository formats read and written\n"
	      "\n"
	      "Unmount with fusermount3 -u MOUNTPOINT, umount MOUNTPOINT, or SIGTERM.\n",
	      f);
}

static int parse_size(const char *v, size_t *ret)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || n == 0 || n > 65536)
		return -EINVAL;
	*ret = n;
	return 0;
}

static int parse_opts(struct args *a, char *s)
{
	static const char *ignored[] = {"ro", "defaults", "auto", "noauto", "nofail", "_netdev", "nodev", "dev",
					"nosuid", "suid", "noexec", "exec", "noatime", "atime", "relatime",
					"user", "users", "nouser", "default_permissions", NULL};
	static const char *const valued[] = {"password_file", "cache_dir", "snapshot", "cache_size",
					     "tree_cache_size", "threads", "disk_cache_size", "transfers",
					     "limit_download"};
	for (char *tok = strtok_r(s, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
		char *val = strchr(tok, '=');
		if (val)
			*val++ = 0;
		bool known = false;
		for (size_t i = 0; ignored[i]; i++)
			known |= strcmp(tok, ignored[i]) == 0;
		if (known)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(valued); i++)
			if (strcmp(tok, valued[i]) == 0 && (!val || !*val))
				return log_error_errno(-EINVAL, "Mount option %s needs a value (%s=...)", tok, tok);
		if (strcmp(tok, "rw") == 0)
			return log_error_errno(-EINVAL, "chronofs mounts are read-only: option rw is not supported");
		if (strcmp(tok, "allow_other") == 0)
			a->allow_other = true;
		else if (strcmp(tok, "debug") == 0)
			a->debug = a->foreground = true;
		else if (val && strcmp(tok, "password_file") == 0)
			a->password_file = val;
		else if (val && strcmp(tok, "cache_dir") == 0)
			a->cache_dir = val;
		else if (val && strcmp(tok, "snapshot") == 0)
			a->snapshot = val;
		else if (val && strcmp(tok, "cache_size") == 0) {
			if (parse_size(val, &a->cache_mib) < 0)
				return log_error_errno(-EINVAL, "Invalid cache_size=%s (MiB, 1..65536)", val);
		} else if (val && strcmp(tok, "tree_cache_size") == 0) {
			if (parse_size(val, &a->tree_cache_mib) < 0)
				return log_error_errno(-EINVAL, "Invalid tree_cache_size=%s (MiB, 1..65536)", val);
		} else if (val && strcmp(tok, "threads") == 0) {
			size_t n;
			if (parse_size(val, &n) < 0 || n > 256)
				return log_error_errno(-EINVAL, "Invalid threads=%s (1..256)", val);
			a->threads = (unsigned)n;
		} else if (val && strcmp(tok, "disk_cache_size") == 0) {
			if (cli_parse_mib("disk_cache_size", val, &a->disk_cache_bytes) < 0)
				return -EINVAL;
		} else if (val && strcmp(tok, "transfers") == 0) {
			if (cli_parse_transfers("transfers", val, &a->store.transfers) < 0)
				return -EINVAL;
		} else if (val && strcmp(tok, "limit_download") == 0) {
			if (cli_parse_kib_rate("limit_download", val, &a->store.limit_download) < 0)
				return -EINVAL;
		} else {
			const char *near = cli_did_you_mean(tok, valued, ARRAY_SIZE(valued));
			if (!near && strcmp(tok, "allow_other") != 0)
				near = cli_did_you_mean(tok, (const char *const[]){"allow_other"}, 1);
			if (near)
				return log_error_errno(-EINVAL, "Unknown mount option \"%s\" (did you mean \"%s\"?)",
						       tok, near);
			return log_error_errno(-EINVAL, "Unknown mount option \"%s\"", tok);
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	size_t total = 0;
	for (int i = 1; i < argc; i++)
		total += strlen(argv[i]) + 1;
	a->opt_storage = malloc(total + 1);
	if (!a->opt_storage)
		return log_error_errno(-ENOMEM, "Cannot parse the command line: %m");
	char *store = a->opt_storage;
	const char *pos[2];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
			cli_print_version(stdout, "chronofs");
			return 1;
		} else if (strcmp(s, "-f") == 0) {
			a->foreground = true;
		} else if (strcmp(s, "-d") == 0) {
			a->foreground = a->debug = true;
		} else if (strncmp(s, "-o", 2) == 0) {
			const char *v = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v)
				return log_error_errno(-EINVAL, "-o needs an argument");
			size_t l = strlen(v) + 1;
			memcpy(store, v, l);
			int e = parse_opts(a, store);
			if (e < 0)
				return e;
			store += l;
		} else if (s[0] == '-' && s[1]) {
			usage(stderr);
			return log_error_errno(-EINVAL, "Unknown option %s", s);
		} else if (npos < 2) {
			pos[npos++] = s;
		} else {
			usage(stderr);
			return log_error_errno(-EINVAL, "Too many arguments");
		}
	}
	if (npos == 1) {
		/* chronofs MOUNTPOINT with CHRONOFS_REPO set. */
		a->mountpoint = pos[0];
		a->repo = cli_repo_location(NULL);
	} else if (npos == 2) {
		a->repo = pos[0];
		a->mountpoint = pos[1];
	}
	if (!a->repo || !a->mountpoint) {
		usage(stderr);
		return log_error_errno(-EINVAL, "REPO and MOUNTPOINT are required");
	}
	return 0;
}

/* Paths become absolute before the daemon changes to "/". */
static int absolutize(const char **p, char **owned)
{
	if (!*p || (*p)[0] == '/' || strstr(*p, "://") || strcmp(*p, "mem:") == 0)
		return 0;
	char *abs = realpath(*p, NULL);
	if (!abs) {
		/* Not there (yet): make it absolute lexically. */
		char cwd[4096];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (asprintf(&abs, "%s/%s", cwd, *p) < 0)
			return -ENOMEM;
	}
	*owned = abs;
	*p = abs;
	return 0;
}

static int ready_fd = -1;

/* The mount is live: release the waiting parent and detach from it. */
static void on_ready(void *ud)
{
	(void)ud;
	if (ready_fd < 0)
		return;
	char ok = 0;
	(void)!write(ready_fd, &ok, 1);
	close(ready_fd);
	ready_fd = -1;
	cfs_log_use_syslog(true);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

static int daemonize(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return log_error_errno(-errno, "Cannot create a pipe: %m");
	pid_t pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "Cannot fork: %m");
	if (pid > 0) {
		char status;
		close(p[1]);
		ssize_t n = read(p[0], &status, 1);
		_exit(n == 1 && status == 0 ? 0 : 1);
	}
	close(p[0]);
	ready_fd = p[1];
	setsid();
	if (chdir("/") < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {.disk_cache_bytes = (uint64_t)CLI_DISK_CACHE_MIB_DEFAULT << 20};
	struct cfs_repo *r = NULL;
	int e;

	cfs_log_set_program("chronofs");
	e = parse_args(argc, argv, &a);
	if (e != 0) {
		free(a.opt_storage);
		return e > 0 ? 0 : 1;
	}
	char *owned[4] = {NULL, NULL, NULL, NULL};
	_cleanup_free_ char *pw = NULL;
	size_t pw_len = 0;
	if (absolutize(&a.repo, &owned[0]) < 0 || absolutize(&a.mountpoint, &owned[1]) < 0 ||
	    absolutize(&a.password_file, &owned[2]) < 0 || absolutize(&a.cache_dir, &owned[3]) < 0) {
		log_error("Cannot resolve the paths given: %s", strerror(errno));
		e = -EINVAL;
		goto out;
	}
	struct stat st;
	if (stat(a.mountpoint, &st) < 0) {
		e = log_error_errno(-errno, "Mount point %s: %m", a.mountpoint);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		e = log_error_errno(-ENOTDIR, "Mount point %s: %m (a mount point must be a directory)", a.mountpoint);
		goto out;
	}
	/* Something already mounted there: refuse rather than stack a second
	 * mount on it (FUSE would allow it, and the first would vanish from
	 * view). A mount point sits on another device than its parent. */
	{
		char parent[4200];
		struct stat pst;
		snprintf(parent, sizeof(parent), "%s/..", a.mountpoint);
		if (stat(parent, &pst) == 0 && (pst.st_dev != st.st_dev || pst.st_ino == st.st_ino)) {
			log_error("Mount point %s is busy: something is already mounted there", a.mountpoint);
			e = -EBUSY;
			goto out;
		}
	}
	/* The passphrase is needed before detaching: a prompt needs the
	 * terminal, which the daemon gives up. */
	enum cfs_encryption enc;
	struct cfs_repo_open_error why;
	e = cfs_repo_probe(a.repo, &enc, &why);
	if (e < 0) {
		cli_open_error(a.repo, e, &why, 0);
		goto out;
	}
	if (enc != CFS_ENC_NONE) {
		e = cli_get_password(a.password_file, false, &pw, &pw_len);
		if (e < 0)
			goto out;
	}
	/* Big chunk buffers go back to the system when freed: the daemon's
	 * memory is its cache budgets, not glibc's high-water mark. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	/* Fewer malloc arenas: each thread's arena otherwise keeps its own
	 * free memory. */
	mallopt(M_ARENA_MAX, 4);
	/* The catalog is read in point lookups by blob id; a small block cache
	 * does, and keeps the daemon within its memory budget. */
	cfs_catalog_set_cache_budget(8u << 20);

	if (!a.foreground && daemonize() < 0) {
		e = -EIO;
		goto out;
	}
	struct cfs_repo_open_options oo = {
		.location = a.repo,
		.cache_dir = a.cache_dir,
		.password = pw,
		.password_len = pw_len,
		.store = &a.store,
		.disk_cache_bytes = a.disk_cache_bytes,
	};
	e = cli_open_repo(&oo, a.password_file, &r);
	if (pw)
		explicit_bzero(pw, pw_len);
	/* -o snapshot=SNAP resolves as chronoctl's SNAP does (a time too,
	 * saying which snapshot it picked); the mount gets the full id. */
	char snap_id[CFS_ID_HEX_SIZE];
	if (e == 0 && a.snapshot) {
		struct cfs_snapshot s;
		struct cfs_id id;
		e = cli_find_snapshot(r, a.snapshot, &s, &id);
		if (e == 0) {
			cfs_snapshot_release(&s);
			cfs_id_hex(&id, snap_id);
		} else {
			r = cfs_repo_free(r);
		}
	}
	if (e == 0) {
		struct cfs_fuse_options o = {
			.mountpoint = a.mountpoint,
			.snapshot = a.snapshot ? snap_id : NULL,
			.fsname = a.repo,
			.allow_other = a.allow_other,
			.debug = a.debug,
			.chunk_cache_bytes = a.cache_mib << 20,
			.tree_cache_bytes = a.tree_cache_mib << 20,
			.threads = a.threads,
			.ready = on_ready,
		};
		e = cfs_fuse_run(r, &o);
		cfs_repo_free(r);
	}
out:
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++)
		free(owned[i]);
	free(a.opt_storage);
	if (ready_fd >= 0) {
		char fail = 1;
		(void)!write(ready_fd, &fail, 1);
	}
	return e < 0 ? 1 : 0;
}
