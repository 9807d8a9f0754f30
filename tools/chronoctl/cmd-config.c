/* SPDX-License-Identifier: MIT */
/*
 * chronoctl config check: load the configuration file as every verb that
 * reads it does (tools/common/config.c), and print what it amounts to.
 */
#include <stdio.h>
#include <string.h>

#include "chronofs/log.h"
#include "chronoctl.h"
#include "../common/config.h"

static void usage(FILE *f)
{
	fputs("Usage: chronoctl config check [--json]\n"
	      "Load and validate the configuration file (--config FILE, else $CHRONOFS_CONFIG, else\n"
	      "/etc/chronofs/chronofs.conf) and print the effective configuration: [global], the\n"
	      "repositories, every tier (the built-in critical, important, normal and archive\n"
	      "included, with what the file overrides) with its calendars normalized as\n"
	      "systemd-analyze calendar prints them and its keep rules, and the jobs, with the\n"
	      "defaults filled in. The text is itself a valid configuration file. Every error is\n"
	      "reported as FILE:LINE: reason, and the exit status is 1. See chronofs.conf(5).\n"
	      "  --json   one JSON object\n",
	      f);
}

static int verb_check(int argc, char **argv)
{
	_cleanup_(cli_config_freep) struct cli_config *c = NULL;
	bool json = false;
	int e = parse_simple_options(argc, argv, usage, &json, 0);
	if (e != 0)
		return e < 0 ? e : 0;
	e = load_config(true, &c);
	if (e < 0)
		return e;
	e = cli_config_print(c, stdout, json);
	if (e < 0)
		return log_error_errno(e, "Cannot print the configuration of %s: %m", c->path);
	return 0;
}

int cmd_config(int argc, char **argv)
{
	static const struct subverb verbs[] = {{"check", verb_check}};
	return dispatch_subverb("config", argc, argv, verbs, ARRAY_SIZE(verbs), usage);
}
