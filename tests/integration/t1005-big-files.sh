#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Big files (16 MiB and more, one link) are read by a thread of their own
# while the walk goes on, and the directories holding them are finished
# later. Whatever the order things complete in, the snapshot is the same:
#   - a tree with big files at several depths, next to small files, more
#     directories with a big file than the reader queues (4), a sparse big
#     file, a hard-linked big file (read in line) restores identically, and
#     the stats count every file once;
#   - --type full of the unchanged tree yields the same root tree id;
#   - a change in the middle of one big file is found by an incremental
#     (one file changed, the rest unchanged) and restores identically;
#   - check --read-data passes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/a/sub" "$SRC/b" "$SRC/c/d/e" "$SRC/many" "$SRC/links"
rand_file "$SRC/a/big1" $((24 * MiB))
head -c $((15 * MiB)) /dev/urandom | base64 -w 76 >"$SRC/a/sub/big2.txt" # ~20 MiB of text
for i in $(seq 1 40); do printf 'small %d\n' "$i" >"$SRC/a/s$i"; done
for i in $(seq 1 20); do printf 'deep %d\n' "$i" >"$SRC/c/d/e/s$i"; done
rand_file "$SRC/c/d/e/big3" $((17 * MiB))
# 40 MiB, mostly holes, three data islands.
truncate -s $((40 * MiB)) "$SRC/b/sparse"
for off in 1 17 39; do
	head -c $((256 * 1024)) /dev/urandom | dd of="$SRC/b/sparse" bs=1M seek="$off" conv=notrunc status=none
done
# More directories with a big file than the reader queues.
for i in $(seq 1 7); do
	mkdir -p "$SRC/many/m$i"
	rand_file "$SRC/many/m$i/f" $((16 * MiB + i))
	printf 'next to it\n' >"$SRC/many/m$i/note"
done
rand_file "$SRC/links/hl" $((18 * MiB))
ln "$SRC/links/hl" "$SRC/links/hl2"
n_files=$(find "$SRC" -type f | wc -l)

ok cfs init
snap_create "$SRC"
[ "$(json_get "$WORK/snap.json" .stats.files_new)" = "$n_files" ] ||
	fail "files_new is $(json_get "$WORK/snap.json" .stats.files_new), expected $n_files"
mkdir "$WORK/r1"
ok cfs restore "$SNAP_ID" "$WORK/r1"
assert_same_tree "$SRC" "$WORK/r1$SRC"

# The same tree read again in full encodes to the same trees as an
# incremental of it: it adds nothing but, at most, the trees of the
# directories above $SRC (/, /tmp and $WORK, which other processes may
# change meanwhile).
snap_create "$SRC"
snap_create --type full "$SRC"
above=$(printf '%s' "$SRC" | tr -cd / | wc -c)
[ "$(json_get "$WORK/snap.json" .stats.blobs_added)" -le "$above" ] ||
	fail "a full snapshot of the unchanged tree added $(json_get "$WORK/snap.json" .stats.blobs_added) blobs (trees under $SRC differ)"

# A change in the middle of one big file.
printf 'CHANGED IN THE MIDDLE' | dd of="$SRC/a/sub/big2.txt" bs=1 seek=$((10 * MiB)) conv=notrunc status=none
snap_create "$SRC"
[ "$(json_get "$WORK/snap.json" .stats.files_changed)" = 1 ] ||
	fail "files_changed is $(json_get "$WORK/snap.json" .stats.files_changed), expected 1"
[ "$(json_get "$WORK/snap.json" .stats.files_unchanged)" = $((n_files - 1)) ] ||
	fail "files_unchanged is $(json_get "$WORK/snap.json" .stats.files_unchanged), expected $((n_files - 1))"
mkdir "$WORK/r2"
ok cfs restore "$SNAP_ID" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
ok cfs check --read-data
