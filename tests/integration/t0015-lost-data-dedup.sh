#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A backup never references data the repository no longer holds: dedup does
# not trust the catalog alone (issue 12, finding 3).
#   (a) a rollback (the repository directory replaced by an older copy,
#       same cache): the vanished objects are named, a full backup stores
#       the data again;
#   (b) a pack deleted, its index object left: a full backup after a
#       `catalog rebuild`, and one from a fresh cache, store it again;
#   (c) the dictionary deleted: check (without --read-data) names it and
#       the files, and the next backup (incremental) stores them again;
#   (d) a truncated pack: the next backup (incremental) stores again what
#       it held.
# Each time the new snapshot restores byte-identical, check --read-data has
# nothing to say about it, and the old snapshots' damage is named.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))

# restore_same SNAP DIR: SNAP restores DIR byte-identical.
restore_same() {
	local t
	t=$(mktemp -d "$WORK/restore.XXXXXX")
	ok cfs restore "$1" "$t"
	assert_same_tree "$2" "$t$2"
	rm -rf "$t"
}

# check_new_clean NAME: check --read-data names no path of snapshot NAME
# (its output stays in $OUT/$ERR).
check_new_clean() {
	run cfs check --read-data
	if grep -F "snapshot $1:" "$ERR" >&2; then
		fail "check --read-data names paths of the new snapshot $1"
	fi
}

added() { json_get "$WORK/snap.json" .stats.bytes_added; }

biggest_pack() { find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2; }

# --- (a) rollback ---------------------------------------------------------------
SRC=$WORK/src-a
mkdir -p "$SRC"
rand_file "$SRC/a" $((6 * MiB))
ok cfs init
snap_create "$SRC"
cp -a "$REPO" "$WORK/repo-a-old"
rand_file "$SRC/b" $((6 * MiB))
snap_create "$SRC"
vanished=$SNAP_NAME
rm -rf "$REPO"
mv "$WORK/repo-a-old" "$REPO"
snap_create --type full "$SRC"
expect_in "$ERR" "no longer has"
expect_in "$ERR" "$vanished"
expect_in "$ERR" "run chronoctl check"
[ "$(added)" -gt $((6 * MiB)) ] ||
	fail "(a) after a rollback a full backup added $(added) bytes: b was deduplicated against a pack that is gone"
restore_same "$SNAP_ID" "$SRC"
ok cfs check --read-data
# Said once: the catalog forgot what vanished.
snap_create --type full "$SRC"
if grep -qF "no longer has" "$ERR"; then fail "(a) the rollback is reported again by the next run"; fi
log "(a) rollback: detected, the data stored again"

# --- (b) a deleted pack, its index object left --------------------------------------
REPO=$WORK/repo-b
CACHE=$WORK/cache-b
SRC=$WORK/src-b
mkdir -p "$SRC"
rand_file "$SRC/keep" $((3 * MiB))
rand_file "$SRC/gone" $((1 * MiB))
ok cfs init
snap_create "$SRC"
old=$SNAP_NAME
rm -f "$(biggest_pack)"
rm "$SRC/gone"
cp -a "$REPO" "$WORK/repo-b-copy"
# After a catalog rebuild.
ok cfs catalog rebuild
snap_create --type full "$SRC"
[ "$(added)" -gt $((3 * MiB)) ] ||
	fail "(b) after catalog rebuild a full backup added $(added) bytes, the deleted pack's data was deduplicated against"
restore_same "$SNAP_ID" "$SRC"
check_new_clean "$SNAP_NAME"
[ "$RC" = 1 ] || fail "(b) check --read-data exits $RC with a snapshot whose data is gone"
expect_in "$ERR" "snapshot $old: $SRC/gone"
# From a fresh cache (another host).
REPO=$WORK/repo-b-copy
CACHE=$WORK/cache-b-fresh
snap_create --type full "$SRC"
expect_in "$ERR" "no longer has"
[ "$(added)" -gt $((3 * MiB)) ] ||
	fail "(b) from a fresh cache a full backup added $(added) bytes, the deleted pack's data was deduplicated against"
restore_same "$SNAP_ID" "$SRC"
check_new_clean "$SNAP_NAME"
expect_in "$ERR" "snapshot $old: $SRC/gone"
log "(b) deleted pack: stored again after a rebuild and from a fresh cache"

# --- (c) the dictionary deleted ---------------------------------------------------------
REPO=$WORK/repo-c
CACHE=$WORK/cache-c
SRC=$WORK/src-c
make_texts "$SRC/a" 0 2500
ok cfs init
snap_create "$SRC"
[ -n "$(find "$REPO/dicts" -type f)" ] || fail "(c) no dictionary was made"
make_texts "$SRC/b" 2500 300
snap_create "$SRC"
old=$SNAP_NAME
ok cfs check
rm -f "$REPO"/dicts/*
# check without --read-data: the dictionary and the files that need it.
expect_exit 1 cfs check
expect_in "$ERR" "dictionary"
expect_in "$ERR" "not in the repository"
expect_in "$ERR" "snapshot $old: $SRC/b/f02500.txt"
rm "$SRC"/b/f0250?.txt
snap_create "$SRC"
expect_in "$ERR" "is gone"
[ "$(added)" -gt 100000 ] || fail "(c) the next backup added $(added) bytes: blobs that need the lost dictionary were reused"
restore_same "$SNAP_ID" "$SRC"
check_new_clean "$SNAP_NAME"
expect_in "$ERR" "snapshot $old: $SRC/b/f02500.txt"
log "(c) lost dictionary: named by check, the files stored again"

# --- (d) a truncated pack -----------------------------------------------------------------
REPO=$WORK/repo-d
CACHE=$WORK/cache-d
SRC=$WORK/src-d
mkdir -p "$SRC"
rand_file "$SRC/a" $((6 * MiB))
rand_file "$SRC/gone" $((1 * MiB))
ok cfs init
snap_create "$SRC"
old=$SNAP_NAME
p=$(biggest_pack)
truncate -s $(($(stat -c %s "$p") / 2)) "$p"
rm "$SRC/gone"
snap_create "$SRC"
expect_in "$ERR" "damaged"
[ "$(added)" -gt $((2 * MiB)) ] || fail "(d) the next backup added $(added) bytes: the truncated pack was deduplicated against"
restore_same "$SNAP_ID" "$SRC"
check_new_clean "$SNAP_NAME"
expect_in "$ERR" "snapshot $old: $SRC/gone"
log "ok: rollback, deleted pack, lost dictionary and truncated pack: never deduplicated against"
