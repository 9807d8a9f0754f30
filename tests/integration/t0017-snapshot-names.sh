#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Snapshot names are unique in a repository (issue 12, finding 4):
#   - two hosts (two caches) committing in the same second, the second not
#     knowing the first's snapshot yet: the names/ reservation in the store
#     gives the second the millisecond form; names/ objects do not show the
#     time; a third gets the nanosecond form, a fourth is refused;
#   - a crash between the reservation and the manifest only burns a name;
#   - a repository that already holds two snapshots with one name (an older
#     version, another writer): show and restore by that name refuse and
#     name both ids; an id prefix works; the mount root shows each as
#     NAME~<16 hex digits of its id>.
# Forces the commit time with CHRONOFS_TEST_SNAPSHOT_TIME (honoured only in
# -Dfault_injection=true builds, which scripts/test makes; skipped otherwise).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC"
printf 'one\n' >"$SRC/f"
ok cfs init

T=2030-01-02T03:04:05Z
export CHRONOFS_TEST_SNAPSHOT_TIME=$T
CACHE=$WORK/cache-host1
snap_create "$SRC"
[ "$SNAP_NAME" = "$T" ] || skip "chronoctl built without -Dfault_injection=true (commit time not forced)"
id1=$SNAP_ID

# Host 2 opened the repository before host 1 committed: its catalog does
# not know host 1's snapshot (hidden from its sync here).
mv "$REPO/snapshots/$id1" "$WORK/snap1"
CACHE=$WORK/cache-host2
printf 'two\n' >"$SRC/f"
snap_create "$SRC"
id2=$SNAP_ID
[ "$SNAP_NAME" = "2030-01-02T03:04:05.000Z" ] ||
	fail "the second host's snapshot is named $SNAP_NAME, expected the millisecond form"
mv "$WORK/snap1" "$REPO/snapshots/$id1"

ok cfs snapshot show --json "$T"
[ "$(json_get "$OUT" .id)" = "$id1" ] || fail "show $T gives another snapshot than host 1's"
ok cfs snapshot show --json "2030-01-02T03:04:05.000Z"
[ "$(json_get "$OUT" .id)" = "$id2" ] || fail "show of the millisecond name gives another snapshot"
[ "$(find "$REPO/names" -type f | wc -l)" = 2 ] || fail "expected two names/ objects"
if find "$REPO/names" -type f | grep -q 2030; then fail "names/ objects show the snapshot time"; fi
ok cfs check

# A third commit in that second: nanoseconds; a fourth: no name left.
CACHE=$WORK/cache-host1
printf 'three\n' >"$SRC/f"
snap_create "$SRC"
[ "$SNAP_NAME" = "2030-01-02T03:04:05.000000000Z" ] || fail "the third snapshot is named $SNAP_NAME"
printf 'four\n' >"$SRC/f"
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "is taken"
[ "$(snap_count)" = 3 ] || fail "a snapshot without a name of its own was committed"

# A crash after the reservation, before the manifest: the name is burned.
T2=2030-01-02T03:04:06Z
export CHRONOFS_TEST_SNAPSHOT_TIME=$T2
ok cfs snapshot create "$SRC"
export CHRONOFS_TEST_SNAPSHOT_TIME=2030-01-02T03:04:07Z
# Killed between the two (the run may put trees and packs before: /tmp,
# above the source, changes when other processes use it).
expect_exit 99 env CHRONOFS_FAULTS=commit.manifest:1:crash CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
	CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC"
snap_create "$SRC"
[ "$SNAP_NAME" = "2030-01-02T03:04:07.000Z" ] || fail "after a crash the next snapshot is named $SNAP_NAME"
ok cfs check

# --- duplicates made by an older version: names/ did not exist ------------------------------
mv "$REPO/snapshots" "$WORK/snaps-hidden"
mkdir "$REPO/snapshots"
rm -rf "$REPO/names"
export CHRONOFS_TEST_SNAPSHOT_TIME=$T
CACHE=$WORK/cache-old-version
printf 'five\n' >"$SRC/f"
snap_create --type full "$SRC"
[ "$SNAP_NAME" = "$T" ] || fail "setup: the duplicate is named $SNAP_NAME"
id3=$SNAP_ID
mv "$WORK/snaps-hidden"/* "$REPO/snapshots/"
unset CHRONOFS_TEST_SNAPSHOT_TIME
CACHE=$WORK/cache-host1

expect_exit 1 cfs snapshot show "$T"
expect_in "$ERR" "held by several snapshots"
expect_in "$ERR" "${id1:0:12}"
expect_in "$ERR" "${id3:0:12}"
expect_exit 1 cfs restore "$T" "$WORK/r-dup"
expect_in "$ERR" "${id1:0:12}"
ok cfs snapshot show --json "${id3:0:12}"
[ "$(json_get "$OUT" .id)" = "$id3" ] || fail "the id prefix resolves to another snapshot"
mkdir "$WORK/r3"
ok cfs restore "${id3:0:12}" "$WORK/r3"
[ "$(cat "$WORK/r3$SRC/f")" = five ] || fail "restore by id prefix gave other content"

# The mount root: both, under distinct names.
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	FS_CACHE=$WORK/cache-mount
	mount_fs "$WORK/mnt"
	ls -1 "$WORK/mnt" >"$WORK/root.txt"
	if grep -qx "$T" "$WORK/root.txt"; then
		fail "the mount root lists the duplicated name as such: $(cat "$WORK/root.txt")"
	fi
	expect_in "$WORK/root.txt" "$T~${id1:0:16}"
	expect_in "$WORK/root.txt" "$T~${id3:0:16}"
	[ "$(cat "$WORK/mnt/$T~${id1:0:16}$SRC/f")" = one ] || fail "the mount's first duplicate has other content"
	[ "$(cat "$WORK/mnt/$T~${id3:0:16}$SRC/f")" = five ] || fail "the mount's second duplicate has other content"
	umount_fs "$WORK/mnt"
else
	log "no FUSE here: the mount root is not checked"
fi
log "ok: names unique across hosts, duplicates never resolved silently"
