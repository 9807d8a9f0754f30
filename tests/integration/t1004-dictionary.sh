#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Compression dictionaries (repository format 2), end to end:
#   - a first snapshot of ~1.7 MiB of small text files trains one dictionary
#     (dicts/) at its commit; later snapshots add no other;
#   - small files added afterwards cost clearly less than in a format 1
#     repository (same files, same commands, no dictionary there);
#   - check --read-data passes; a restore on a machine that never saw the
#     repository (empty cache) and the FUSE mount give back the source;
#   - with the dictionary object gone, check --read-data exits 1 and names
#     the files whose blobs used it, and the other files still restore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
make_texts "$SRC/a" 0 2500

ok cfs init
snap_create "$SRC"
count_dicts() { find "$REPO/dicts" -type f 2>/dev/null | wc -l; }
[ "$(count_dicts)" = 1 ] || fail "the first snapshot made $(count_dicts) dictionaries, expected 1"

# A format 1 repository of the same files: no dictionary, ever.
REPO1=$WORK/repo1
ok env CHRONOFS_REPO="$REPO1" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" init
printf '\x01\x00\x00\x00' | dd of="$REPO1/config" bs=1 seek=8 conv=notrunc status=none
ok env CHRONOFS_REPO="$REPO1" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" \
	snapshot create "$SRC"

make_texts "$SRC/b" 2500 600
snap_create "$SRC"
with=$(json_get "$WORK/snap.json" .stats.bytes_added)
ok env CHRONOFS_REPO="$REPO1" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" \
	snapshot create --json "$SRC"
without=$(json_get "$OUT" .stats.bytes_added)
[ ! -e "$REPO1/dicts" ] || fail "a format 1 repository got a dictionary"
[ "$(count_dicts)" = 1 ] || fail "a repository with a dictionary trained another"
log "600 new small files: $with bytes added with the dictionary, $without without"
[ "$with" -gt 0 ] && [ $((with * 10)) -lt $((without * 9)) ] ||
	fail "the dictionary did not pay: $with bytes added with it, $without without"

ok cfs check --read-data
CACHE=$WORK/cache-fresh
mkdir "$WORK/r"
ok cfs restore latest "$WORK/r"
assert_same_tree "$SRC" "$WORK/r$SRC"

# The mount, where FUSE is there (need_fuse would skip the whole test).
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	FS_CACHE=$WORK/cache-mount
	mount_fs "$WORK/mnt"
	M=$WORK/mnt/$SNAP_NAME$SRC
	cmp -s "$SRC/b/f02999.txt" "$M/b/f02999.txt" || fail "a file read through the mount differs"
	diff -r "$SRC" "$M" >/dev/null || fail "the mounted snapshot differs from the source"
	umount_fs "$WORK/mnt"
else
	log "no FUSE here: mount part not run"
fi

# Without its dictionary a blob cannot be read: an integrity error.
rm -f "$REPO"/dicts/*
CACHE=$WORK/cache-nodict
expect_exit 1 cfs check --read-data
cp "$ERR" "$WORK/check.err"
expect_in "$WORK/check.err" "$SRC/b/"
rm -rf "$WORK/r2"
mkdir "$WORK/r2"
expect_exit 1 cfs restore latest "$WORK/r2"
cmp -s "$SRC/a/f00000.txt" "$WORK/r2$SRC/a/f00000.txt" || fail "a file stored without the dictionary was not restored"
