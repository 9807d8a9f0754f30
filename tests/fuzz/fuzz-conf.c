/* SPDX-License-Identifier: MIT */
/*
 * fuzz-conf.c — the configuration file (tools/common/config.c, libinih
 * underneath) on arbitrary bytes: an operator's typo must give a message,
 * never a crash, a leak or a configuration loaded half.
 *
 * Invariants: cli_config_load returns 0 or -EINVAL (no input here reaches
 * the 4 MiB limit; -ENOMEM only under allocation failure); a loaded
 * configuration prints as text and as JSON, and its text loads again to a
 * configuration that prints the same text (comments aside: they name the
 * file and lines).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chronofs/util.h"
#include "../../tools/common/config.h"
#include "fuzz.h"

/* Load data through a memfd; returns cli_config_load's result. */
static int load(const void *data, size_t size, struct cli_config **ret)
{
	char path[64];
	int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(cfs_write_all(fd, data, size) == 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = cli_config_load(path, ret);
	close(fd);
	return r;
}

/* The text form without its comment lines, malloc'ed. */
static char *print_text(const struct cli_config *c, size_t *ret_len)
{
	char *text = NULL, *out;
	size_t len = 0, o = 0;
	FILE *f = open_memstream(&text, &len);
	FUZZ_CHECK(f);
	FUZZ_CHECK(cli_config_print(c, f, false) == 0);
	FUZZ_CHECK(fclose(f) == 0);
	out = malloc(len + 1);
	FUZZ_CHECK(out);
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		if (*p != '#') {
			memcpy(out + o, p, n);
			o += n;
			out[o++] = '\n';
		}
		p += n + (p[n] == '\n');
	}
	out[o] = 0;
	free(text);
	*ret_len = o;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_config *c = NULL, *again = NULL;
	char *json = NULL;
	size_t json_len = 0, len1, len2;

	int r = load(data, size, &c);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(!c);
		return 0;
	}
	FILE *f = open_memstream(&json, &json_len);
	FUZZ_CHECK(f);
	FUZZ_CHECK(cli_config_print(c, f, true) == 0);
	FUZZ_CHECK(fclose(f) == 0);
	FUZZ_CHECK(json_len > 2 && json[0] == '{' && json[json_len - 2] == '}');
	free(json);

	char *text = print_text(c, &len1);
	r = load(text, len1, &again);
	FUZZ_CHECK(r == 0);
	char *text2 = print_text(again, &len2);
	FUZZ_CHECK(len1 == len2 && memcmp(text, text2, len1) == 0);
	free(text);
	free(text2);
	cli_config_free(again);
	cli_config_free(c);
	return 0;
}
