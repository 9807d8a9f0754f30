/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h — what every tests/fuzz/fuzz-<target>.c shares.
 *
 * Each target defines LLVMFuzzerTestOneInput(). It must accept any bytes,
 * never crash or leak, and abort() when an invariant of the parser under test
 * is broken (e.g. a decoded object that does not re-encode to the same
 * bytes), so libFuzzer and the corpus replay both report it as a failure.
 *
 * Built two ways: with clang -fsanitize=fuzzer for fuzzing, or linked with
 * fuzz-main.c, which replays tests/fuzz/corpus/<target>/ under meson test.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which, then abort() so the input is kept. */
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,    \
				__LINE__, #cond);                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)
