/* SPDX-License-Identifier: MIT */
/*
 * report.h — output formatting for humans and scripts. Callers pass data; this
 * module calls nobody.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

/*
 * Write s as a JSON string literal (with quotes). Control characters are
 * escaped; bytes that are not valid UTF-8 (file names may be any bytes) are
 * written as \u00XX of the byte, so output is always valid JSON.
 */
void cfs_json_string(FILE *f, const char *s);
/* Human-readable byte count: "0 B", "1.5 KiB", "12.0 MiB". out >= 32 bytes. */
void cfs_format_bytes(uint64_t n, char *out, size_t outlen);
/* Write s with non-printable bytes escaped (\n, \xff), for messages. */
void cfs_print_escaped(FILE *f, const char *s);
