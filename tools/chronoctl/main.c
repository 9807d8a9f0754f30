/* SPDX-License-Identifier: MIT */
/*
 * chronoctl — the chronofs admin tool. A verb table; each verb in
 * cmd-<verb>.c.
 */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "chronoctl.h"
#include "../common/cli.h"
#include "../common/version.h"

struct global_opts g_opts = {.lock_wait_sec = 3600, .disk_cache_bytes = (uint64_t)CLI_DISK_CACHE_MIB_DEFAULT << 20};
volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

void usage_main(FILE *f)
{
	fputs("Usage: chronoctl [GLOBAL OPTIONS] VERB [ARGS]\n"
	      "\n"
	      "Verbs:\n"
	      "  init [--encryption aes-256-gcm|none] [--copy-params-from REPO]\n"
	      "                                           create a repository\n"
	      "  snapshot create [--type full|incremental|differential] [--tag TAG]...\n"
	      "                  [--exclude PATTERN]... [--stream PATH=COMMAND]... [--json] [--json-progress]\n"
	      "                  PATH...\n"
	      "                                           capture paths into a snapshot (relative ones\n"
	      "                                           are made absolute; more: snapshot create --help)\n"
	      "  snapshot list [--host H] [--tag T]... [--path P] [--json]\n"
	      "                                           list snapshots, oldest first\n"
	      "  snapshot show SNAP [--json]              show one snapshot (SNAP: a name, an id prefix,\n"
	      "                                           latest, or a time such as 2026-12-06 or -2h)\n"
	      "  restore [--overwrite never|if-changed|always] [--skip-existing] [--include PATTERN]...\n"
	      "          [--exclude PATTERN]... [--json-progress] SNAP[:PATH] TARGET\n"
	      "                                           restore a snapshot or one path under TARGET\n"
	      "  check [--read-data] [--json-progress]    verify the repository\n"
	      "  repair [--dry-run] [--read-data]         salvage what a damaged repository still has\n"
	      "  forget [--dry-run] [--json] SNAP...      remove snapshots (by name, id or latest; their\n"
	      "                                           data goes in prune), or --keep-* rules\n"
	      "  prune [--max-unused PCT] [--dry-run]     reclaim the space no snapshot uses\n"
	      "  snapshot hold SNAP --reason TEXT         never forget SNAP until it is released\n"
	      "  snapshot release SNAP                    remove SNAP's hold\n"
	      "  catalog rebuild                          rebuild the local catalog from the store alone\n"
	      "  upgrade                                  raise the repository to this release's format\n"
	      "  run [--due] [--jobs N] [--json] [--tier T] [JOB...]\n"
	      "                                           run jobs of the config file: backup, forget,\n"
	      "                                           prune, copies (--due: those due by schedule)\n"
	      "  status [--json] [JOB...]                 jobs against their RPO, repositories' space\n"
	      "  copy [--from REPO] --to REPO2 [--to-password-file F] [--json] [--json-progress]\n"
	      "       [SNAP...|--job J]                   copy snapshots into another repository\n"
	      "  config check [--json]                    validate the configuration file and print the\n"
	      "                                           effective configuration (chronofs.conf(5))\n"
	      "  systemd generate [--dir DIR] [--force]   write the systemd timers that run the config's jobs\n"
	      "                                           on their schedules (default DIR /etc/systemd/system)\n"
	      "\n"
	      "Global options (also CHRONOFS_* environment variables):\n"
	      "  --repo PATH|NAME       repository location, or the NAME of a [repository NAME] of\n"
	      "                         the configuration file (CHRONOFS_REPO)\n"
	      "  --config FILE          configuration file (CHRONOFS_CONFIG; default\n"
	      "                         /etc/chronofs/chronofs.conf)\n"
	      "  --password-file FILE   passphrase file (CHRONOFS_PASSWORD_FILE; or CHRONOFS_PASSWORD)\n"
	      "  --cache-dir DIR        local catalog and cache (CHRONOFS_CACHE_DIR;\n"
	      "                         default $XDG_CACHE_HOME/chronofs or ~/.cache/chronofs)\n"
	      "  --lock-wait SECONDS    wait this long for another chronoctl on the same cache (3600)\n"
	      "  --transfers N          packs moved to or from the store at once (local 1, S3 4)\n"
	      "  --limit-upload KIB     at most KIB KiB/s into the store, over all transfers (0: none)\n"
	      "  --limit-download KIB   at most KIB KiB/s out of the store (0: none)\n"
	      "  --disk-cache-size MIB  S3: packs read in 4 MiB blocks kept under the cache dir (1024;\n"
	      "                         0: none, every blob its own request)\n"
	      "  --quiet, --verbose     less or more messages\n"
	      "  -h, --help             this help\n"
	      "  -V, --version          the version and the repository formats read and written\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 (status) a job is overdue, 3 snapshot committed but\n"
	      "some files could not be read.\n",
	      f);
}

int handle_global_option(int c, const char *arg)
{
	char *end;
	switch (c) {
	case 0x1001:
		g_opts.repo = arg;
		return 1;
	case 0x1002:
		g_opts.password_file = arg;
		return 1;
	case 0x1003:
		g_opts.cache_dir = arg;
		return 1;
	case 0x1004: {
		long v = strtol(arg, &end, 10);
		if (*arg == 0 || *end || v < 0 || v > 1000000)
			return log_error_errno(-EINVAL, "Invalid --lock-wait value \"%s\": seconds expected", arg);
		g_opts.lock_wait_sec = (int)v;
		return 1;
	}
	case 0x1005:
		cfs_log_set_level(CFS_LOG_WARNING);
		return 1;
	case 0x1006:
		cfs_log_set_level(CFS_LOG_DEBUG);
		return 1;
	case 0x1007:
		return cli_parse_transfers("--transfers", arg, &g_opts.store.transfers) < 0 ? -EINVAL : 1;
	case 0x1008:
		g_opts.limit_upload_set = true;
		return cli_parse_kib_rate("--limit-upload", arg, &g_opts.store.limit_upload) < 0 ? -EINVAL : 1;
	case 0x1009:
		g_opts.limit_download_set = true;
		return cli_parse_kib_rate("--limit-download", arg, &g_opts.store.limit_download) < 0 ? -EINVAL : 1;
	case 0x100a:
		g_opts.disk_cache_set = true;
		return cli_parse_mib("--disk-cache-size", arg, &g_opts.disk_cache_bytes) < 0 ? -EINVAL : 1;
	case 0x100b:
		if (!*arg)
			return log_error_errno(-EINVAL, "Empty --config file name");
		g_opts.config = arg;
		return 1;
	default:
		return 0;
	}
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} verbs[] = {
	{"init", cmd_init},
	{"snapshot", cmd_snapshot},
	{"restore", cmd_restore},
	{"check", cmd_check},
	{"repair", cmd_repair},
	{"forget", cmd_forget},
	{"prune", cmd_prune},
	{"catalog", cmd_catalog},
	{"upgrade", cmd_upgrade},
	{"copy", cmd_copy},
	{"run", cmd_run},
	{"status", cmd_status},
	{"config", cmd_config},
	{"systemd", cmd_systemd},
};

static char program[] = "chronoctl";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{},
	};
	int c, r;

	cfs_log_set_program("chronoctl");
	argv[0] = program; /* getopt's messages: "chronoctl:", whatever path ran it */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int64_t fake_now;
	if (cfs_now_fake(&fake_now) < 0) {
		log_error("Invalid CHRONOFS_TEST_NOW \"%s\": an RFC 3339 UTC time (2026-03-02T06:00:00Z) or "
			  "@SECONDS expected",
			  getenv("CHRONOFS_TEST_NOW"));
		return 1;
	}

	/* "+": stop at the verb; the verb parses the rest. */
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) >= 0) {
		if (c == 'h') {
			usage_main(stdout);
			return 0;
		}
		if (c == 'V') {
			cli_print_version(stdout, "chronoctl");
			return 0;
		}
		r = handle_global_option(c, optarg);
		if (r < 0)
			return 1;
		if (r == 0) {
			usage_main(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		usage_main(stderr);
		return 1;
	}
	const char *verb = argv[optind];
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strcmp(verb, verbs[i].name) != 0)
			continue;
		int vargc = argc - optind;
		char **vargv = argv + optind;
		optind = 0; /* reset getopt for the verb */
		/* getopt names argv[0] in its messages: "chronoctl:", as every
		 * other message, not the verb. */
		vargv[0] = program;
		r = verbs[i].fn(vargc, vargv);
		if (r == CFS_EXIT_PARTIAL || r == CFS_EXIT_OVERDUE) {
			fflush(stdout);
			return r;
		}
		fflush(stdout);
		if (ferror(stdout)) {
			log_error("Cannot write to standard output");
			return 1;
		}
		return r < 0 ? 1 : 0;
	}
	const char *names[ARRAY_SIZE(verbs)];
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		names[i] = verbs[i].name;
	const char *near = cli_did_you_mean(verb, names, ARRAY_SIZE(names));
	if (near)
		log_error("Unknown verb \"%s\" (did you mean \"%s\"?). Run chronoctl --help.", verb, near);
	else
		log_error("Unknown verb \"%s\". Run chronoctl --help.", verb);
	return 1;
}
