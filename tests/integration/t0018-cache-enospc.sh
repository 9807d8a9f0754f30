#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A full cache disk says so (issue 12, finding 11): "No space left on
# device", naming the cache directory, never "Input/output error" or a pack
# header that cannot be read, and never a crash:
#   - a cache on a tiny file system: the open is refused;
#   - one that fills up during a backup: the backup fails, names the
#     catalog's directory, and leaves the repository whole (a backup with
#     room then works and check passes);
#   - a reader (restore) with a full cache.
# Uses small tmpfs mounts, unmounted by the cleanup trap too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC"
# 30,000 small files: enough catalog entries to fill a small cache.
awk -v dir="$SRC" 'BEGIN {
	for (d = 1; d <= 150; d++) {
		system("mkdir -p " dir "/d" d)
		for (f = 1; f <= 200; f++) {
			p = dir "/d" d "/f" f
			printf "%d %d\n", d, f > p
			close(p)
		}
	}
}'
rand_file "$SRC/big" $((4 * MiB))
ok cfs init

# small_cache DIR SIZE: a tmpfs of SIZE at DIR.
small_cache() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" || skip "cannot mount a tmpfs"
	register_mount "$1"
}
no_eio() {
	if grep -qiE "Input/output error|Cannot read the header of pack|Assertion" "$ERR"; then
		cat "$ERR" >&2
		fail "$1: a full cache disk reported as something else"
	fi
}

# --- too small to open a catalog ------------------------------------------------
CACHE=$WORK/cache-tiny
small_cache "$CACHE" 64k
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "No space left on device"
expect_in "$ERR" "$CACHE"
no_eio "open"
expect_exit 1 cfs snapshot list
expect_in "$ERR" "No space left on device"
expect_in "$ERR" "$CACHE"
no_eio "reader open"
umount "$CACHE"

# --- full during a backup ------------------------------------------------------------
CACHE=$WORK/cache-small
small_cache "$CACHE" 4m
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "No space left on device"
expect_in "$ERR" "$CACHE"
no_eio "backup"
umount "$CACHE"

# The repository is whole: a cache with room backs up and checks.
CACHE=$WORK/cache-room
snap_create "$SRC"
ok cfs check --read-data
mkdir "$WORK/r"
ok cfs restore latest "$WORK/r"
assert_same_tree "$SRC" "$WORK/r$SRC"
log "ok: a full cache disk is named as such"
