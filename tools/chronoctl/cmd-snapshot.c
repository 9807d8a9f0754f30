/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chronofs/ingest.h"
#include "chronofs/log.h"
#include "chronofs/report.h"
#include "chronofs/util.h"
#include "chronoctl.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl snapshot create [--tag TAG]... [--json] PATH...\n"
	       "       chronoctl snapshot list [--json]\n"
	       "       chronoctl snapshot show SNAP [--json]\n"
	       "SNAP is a snapshot name (its UTC time), a unique id prefix, or \"latest\".\n",
	       f);
}

static void print_json(const struct cfs_snapshot *s, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE];
	cfs_id_hex(id, hex);
	printf("{\"id\":\"%s\",\"name\":", hex);
	cfs_json_string(stdout, s->name);
	printf(",\"time\":");
	cfs_json_string(stdout, s->name);
	printf(",\"time_ns\":%lld,\"type\":\"%s\",\"parent\":", (long long)s->time_ns, cfs_snapshot_type_name(s->type));
	if (s->has_parent) {
		cfs_id_hex(&s->parent, hex);
		printf("\"%s\"", hex);
	} else {
		printf("null");
	}
	printf(",\"host\":");
	cfs_json_string(stdout, s->host ? s->host : "");
	printf(",\"paths\":[");
	for (size_t i = 0; i < s->n_paths; i++) {
		if (i)
			putchar(',');
		cfs_json_string(stdout, s->paths[i]);
	}
	printf("],\"tags\":[");
	for (size_t i = 0; i < s->n_tags; i++) {
		if (i)
			putchar(',');
		cfs_json_string(stdout, s->tags[i]);
	}
	cfs_id_hex(&s->root, hex);
	const struct cfs_snapshot_stats *st = &s->stats;
	printf("],\"root\":\"%s\",\"nodes\":%llu,\"stats\":{\"files_new\":%llu,\"files_changed\":%llu,"
	       "\"files_unchanged\":%llu,\"files_skipped\":%llu,\"dirs\":%llu,\"bytes_read\":%llu,"
	       "\"bytes_added\":%llu,\"blobs_added\":%llu,\"duration_ns\":%llu}}",
	       hex, (unsigned long long)s->root_nodes, (unsigned long long)st->files_new,
	       (unsigned long long)st->files_changed, (unsigned long long)st->files_unchanged,
	       (unsigned long long)st->files_skipped, (unsigned long long)st->dirs,
	       (unsigned long long)st->bytes_read, (unsigned long long)st->bytes_added,
	       (unsigned long long)st->blobs_added, (unsigned long long)st->duration_ns);
}

static void print_human(const struct cfs_snapshot *s, const struct cfs_id *id)
{
	char hex[CFS_ID_HEX_SIZE], rd[32], add[32];
	const struct cfs_snapshot_stats *st = &s->stats;
	cfs_id_hex(id, hex);
	cfs_format_bytes(st->bytes_read, rd, sizeof(rd));
	cfs_format_bytes(st->bytes_added, add, sizeof(add));
	printf("snapshot %s\nid       %s\ntype     %s\nhost     %s\npaths   ", s->name, hex,
	       cfs_snapshot_type_name(s->type), s->host);
	for (size_t i = 0; i < s->n_paths; i++) {
		putchar(' ');
		cfs_print_escaped(stdout, s->paths[i]);
	}
	if (s->n_tags) {
		printf("\ntags    ");
		for (size_t i = 0; i < s->n_tags; i++) {
			putchar(' ');
			cfs_print_escaped(stdout, s->tags[i]);
		}
	}
	printf("\nfiles    %llu new, %llu changed, %llu unchanged, %llu skipped; %llu directories\n"
	       "data     %s read, %s added to the repository (%llu blobs) in %.2f s\n",
	       (unsigned long long)st->files_new, (unsigned long long)st->files_changed,
	       (unsigned long long)st->files_unchanged, (unsigned long long)st->files_skipped,
	       (unsigned long long)st->dirs, rd, add, (unsigned long long)st->blobs_added,
	       (double)st->duration_ns / 1e9);
}

static int verb_create(int argc, char **argv)
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"tag", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_free_ const char **tags = NULL;
	size_t n_tags = 0;
	bool json = false;
	int c, e;

	tags = calloc((size_t)argc + 1, sizeof(*tags));
	if (!tags)
		return -ENOMEM;
	while ((c = getopt_long(argc, argv, "ht:", opts, NULL)) >= 0) {
		if ((e = handle_global_option(c, optarg)) != 0) {
			if (e < 0)
				return e;
			continue;
		}
		switch (c) {
		case 't':
			if (!*optarg || strlen(optarg) > 255)
				return log_error_errno(-EINVAL, "Invalid tag \"%s\": 1..255 bytes", optarg);
			tags[n_tags++] = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return log_error_errno(-EINVAL, "snapshot create: no PATH given");
	}
	/* Refuse bad paths before anything is written. */
	for (int i = optind; i < argc; i++) {
		struct stat st;
		if (argv[i][0] != '/')
			return log_error_errno(-EINVAL, "%s: not an absolute path (snapshots record absolute paths)",
					       argv[i]);
		_cleanup_free_ char *norm = NULL;
		if (cfs_path_normalize(argv[i], &norm) < 0)
			return log_error_errno(-EINVAL, "%s: path must not contain \"..\"", argv[i]);
		if (lstat(argv[i], &st) < 0)
			return log_error_errno(-errno, "%s: %m", argv[i]);
	}
	e = open_repo(true, &r);
	if (e < 0)
		return e;

	struct cfs_backup_options o = {
		.paths = (const char *const *)argv + optind,
		.n_paths = (size_t)(argc - optind),
		.tags = tags,
		.n_tags = n_tags,
		.interrupted = &g_interrupted,
	};
	struct cfs_backup_result res;
	e = cfs_backup_run(r, &o, &res);
	if (e == -EINTR)
		return log_error_errno(e, "Interrupted: no snapshot was created (data already written is reused next time)");
	if (e < 0)
		return log_error_errno(e, "Snapshot failed, nothing was committed: %m");
	if (json) {
		print_json(&res.snapshot, &res.id);
		putchar('\n');
	} else {
		print_human(&res.snapshot, &res.id);
	}
	cfs_snapshot_release(&res.snapshot);
	if (res.n_unreadable) {
		log_error("%u file(s) could not be read, or changed while being read (listed above); "
			  "the snapshot was committed with everything else",
			  res.n_unreadable);
		return CFS_EXIT_PARTIAL;
	}
	return 0;
}

static int parse_json_only(int argc, char **argv, bool *json, int nargs)
{
	static const struct option opts[] = {
		GLOBAL_LONG_OPTIONS,
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c, e;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if ((e = handle_global_option(c, optarg)) != 0) {
			if (e < 0)
				return e;
			continue;
		}
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (argc - optind != nargs) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int verb_list(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	_cleanup_(cfs_snapshot_list_release) struct cfs_snapshot_list l = {0};
	bool json = false;
	int e = parse_json_only(argc, argv, &json, 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_repo_list_snapshots(r, &l);
	if (e < 0)
		return log_error_errno(e, "Cannot list snapshots: %m");
	if (json) {
		putchar('[');
		for (size_t i = 0; i < l.n; i++) {
			if (i)
				putchar(',');
			print_json(&l.items[i], &l.ids[i]);
		}
		puts("]");
		return 0;
	}
	printf("%-30s %-12s %-12s %10s  %s\n", "NAME", "ID", "TYPE", "ADDED", "PATHS");
	for (size_t i = 0; i < l.n; i++) {
		char hex[CFS_ID_HEX_SIZE], add[32];
		cfs_id_hex(&l.ids[i], hex);
		hex[12] = 0;
		cfs_format_bytes(l.items[i].stats.bytes_added, add, sizeof(add));
		printf("%-30s %-12s %-12s %10s ", l.items[i].name, hex, cfs_snapshot_type_name(l.items[i].type), add);
		for (size_t k = 0; k < l.items[i].n_paths; k++) {
			putchar(' ');
			cfs_print_escaped(stdout, l.items[i].paths[k]);
		}
		putchar('\n');
	}
	return 0;
}

static int verb_show(int argc, char **argv)
{
	_cleanup_(cfs_repo_freep) struct cfs_repo *r = NULL;
	struct cfs_snapshot s;
	struct cfs_id id;
	bool json = false;
	int e = parse_json_only(argc, argv, &json, 1);
	if (e != 0)
		return e < 0 ? e : 0;
	const char *spec = argv[optind];
	e = open_repo(false, &r);
	if (e < 0)
		return e;
	e = cfs_repo_find_snapshot(r, spec, &s, &id);
	if (e == -ENOENT)
		return log_error_errno(e, "No snapshot \"%s\" (use a name from `snapshot list`, an id prefix, or latest)",
				       spec);
	if (e == -ENOTUNIQ)
		return log_error_errno(e, "Snapshot id prefix \"%s\" is ambiguous: give more digits", spec);
	if (e < 0)
		return log_error_errno(e, "Cannot read snapshot %s: %m", spec);
	if (json) {
		print_json(&s, &id);
		putchar('\n');
	} else {
		print_human(&s, &id);
	}
	cfs_snapshot_release(&s);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return -EINVAL;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "create") == 0)
		return verb_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return verb_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return verb_show(argc - 1, argv + 1);
	usage(stderr);
	return log_error_errno(-EINVAL, "Unknown snapshot verb \"%s\"", argv[1]);
}
