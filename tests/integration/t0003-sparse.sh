#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Sparse files: 6 GiB files with a few small data islands (one starting with
# data, one ending with data, one ending in a hole, one all hole) are backed
# up and restored with their holes: the restored files allocate < 1 MiB each
# and have the same size, content and metadata (treecmp compares contents
# region by region with SEEK_DATA/SEEK_HOLE). No timing assertions: where
# the data islands end up at block granularity is the implementation's
# choice, how much it allocates is not.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
GiB=$((1024 * MiB))
SRC=$WORK/src
mkdir "$SRC"

island() { # FILE OFFSET BYTES
	head -c "$3" /dev/urandom | dd of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none
}

truncate -s 6G "$SRC/islands-end-data"
island "$SRC/islands-end-data" $((1 * MiB)) 4096
island "$SRC/islands-end-data" $((3 * GiB + 12345)) 65536
island "$SRC/islands-end-data" $((6 * GiB - 4096)) 4096

truncate -s 6G "$SRC/islands-end-hole"
island "$SRC/islands-end-hole" 0 100000
island "$SRC/islands-end-hole" $((2 * GiB)) 1
island "$SRC/islands-end-hole" $((5 * GiB + 7)) 300000

truncate -s 6G "$SRC/all-hole"

# Small files next to them, so a sparse-aware path does not break the rest.
printf 'small\n' >"$SRC/small"
truncate -s 1M "$SRC/small-sparse"
island "$SRC/small-sparse" $((512 * 1024)) 10

for f in islands-end-data islands-end-hole all-hole; do
	b=$(stat -c %b "$SRC/$f")
	[ $((b * 512)) -lt $MiB ] || skip "file system under ${TMPDIR:-/tmp} does not keep $f sparse"
done
touch -d '@1690000000.5' "$SRC"/*
touch -d '@1690000001.25' "$SRC"

ok cfs init
snap_create "$SRC"

mkdir "$WORK/t"
ok cfs restore latest "$WORK/t"
R=$WORK/t$SRC

for f in islands-end-data islands-end-hole all-hole; do
	[ "$(stat -c %s "$R/$f")" = $((6 * GiB)) ] || fail "$f: restored size $(stat -c %s "$R/$f")"
	b=$(stat -c %b "$R/$f")
	[ $((b * 512)) -lt $MiB ] || fail "$f: restored file allocates $((b * 512)) bytes (holes not restored)"
done

# Content (region by region, holes are not read) and all metadata.
assert_same_tree "$SRC" "$R"

# A second backup of the unchanged sparse files adds (almost) nothing.
size1=$(dir_size "$REPO")
snap_create "$SRC"
size2=$(dir_size "$REPO")
[ $((size2 - size1)) -lt $((256 * 1024)) ] || fail "second backup of unchanged sparse files grew the repo by $((size2 - size1)) bytes"

log "ok: sparse files restored sparse"
