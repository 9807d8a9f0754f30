#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Snapshot types. An incremental snapshot of an unchanged tree opens no
# file (bytes_read 0; a file the backup user can no longer open is still
# captured from the parent), yields the same root tree and adds nothing; a
# same-size rewrite with the old mtime put back is caught through ctime. A
# differential snapshot takes the last full one as parent even after several
# incrementals; --type full re-reads everything and gives the same root for
# an unchanged tree. Every type restores, and mounts, identically to the
# source; `snapshot list/show --json` report type and parent.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
make_fixture "$SRC"
mkdir -p "$SRC/big"
rand_file "$SRC/big/a" $((3 * MiB))
rand_file "$SRC/big/b" $((2 * MiB))
printf 'first\n' >"$SRC/big/c"
# A large file (hashed by the pipeline's workers) with a second name in
# another directory: the hard-link table must get its chunk ids.
mkdir -p "$SRC/big2"
ln "$SRC/big/a" "$SRC/big2/a-link"
# The tree of the unprivileged incremental below, made now: an entry whose
# ctime is within the racy window (50 ms, 2 s for whole-millisecond times)
# of its parent's start is read again, which is not what that part tests.
SRC2=$WORK/src2
mkdir -p "$SRC2/d"
printf 'public\n' >"$SRC2/d/public"
printf 'root only\n' >"$SRC2/d/secret"
chmod 0600 "$SRC2/d/secret"
chmod 0755 "$WORK"
src2_made=$(date +%s%N)

stat_of() { json_get "$WORK/snap.json" ".stats.$1"; }
field() { json_get "$WORK/snap.json" ".$1"; }
# The directories above $SRC ("/", "/tmp", ...) are stored with their own
# metadata, and /tmp changes all the time: their trees may be new in every
# snapshot, nothing else may. So "the same tree" is checked as: at most
# that many tree blobs added, each small.
above=$(tr -cd / <<<"$SRC" | wc -c)
same_tree() {
	[ "$(stat_of blobs_added)" -le "$above" ] && [ "$(stat_of bytes_added)" -le $((above * 2048)) ] ||
		fail "$1: $(stat_of blobs_added) blobs / $(stat_of bytes_added) bytes added (only the $above directories above the source may change)"
}

ok cfs init
snap_create "$SRC"
s1=$SNAP_ID
[ "$(field type)" = full ] || fail "the first snapshot is $(field type), not full"
[ "$(field parent)" = null ] || fail "the first snapshot has a parent"
[ "$(stat_of bytes_read)" -gt $((5 * MiB)) ] || fail "the first snapshot read only $(stat_of bytes_read) bytes"
files=$(($(stat_of files_new) + $(stat_of files_changed) + $(stat_of files_unchanged)))

# 1. No change: nothing read, nothing added, the same tree.
snap_create "$SRC"
s2=$SNAP_ID
[ "$(field type)" = incremental ] || fail "default type is $(field type), not incremental"
[ "$(field parent)" = "$s1" ] || fail "incremental parent $(field parent), expected $s1"
[ "$(stat_of bytes_read)" = 0 ] || fail "no-change incremental read $(stat_of bytes_read) bytes"
[ "$(stat_of files_new)" = 0 ] && [ "$(stat_of files_changed)" = 0 ] ||
	fail "no-change incremental: $(stat_of files_new) new, $(stat_of files_changed) changed"
[ "$(stat_of files_unchanged)" = "$files" ] || fail "unchanged $(stat_of files_unchanged), expected $files"
same_tree "no-change incremental"

# Same size, same mtime, new content: only ctime tells.
sleep 1.1
printf 'CHANGED' | dd of="$SRC/big/a" bs=1 seek=1000 conv=notrunc status=none

t=$(stat -c %y "$SRC/big/c")
printf 'FIRST\n' >"$SRC/big/c"
touch -d "$t" "$SRC/big/c"
snap_create "$SRC"
s3=$SNAP_ID
[ "$(field parent)" = "$s2" ] || fail "second incremental's parent is not the first incremental"
[ "$(stat_of files_changed)" -ge 2 ] || fail "ctime-only changes not caught: $(stat_of files_changed) changed"
[ "$(stat_of bytes_read)" -lt $((6 * MiB)) ] || fail "incremental re-read unchanged files ($(stat_of bytes_read) bytes)"
mkdir "$WORK/r3"
ok cfs restore "$s3" "$WORK/r3"
assert_same_tree "$SRC" "$WORK/r3$SRC"
cmp "$SRC/big/c" "$WORK/r3$SRC/big/c" || fail "rewritten file restored with old content"

# 2. Differential: parent is the last full snapshot after two incrementals.
snap_create --type differential "$SRC"
s4=$SNAP_ID
[ "$(field type)" = differential ] || fail "type $(field type), expected differential"
[ "$(field parent)" = "$s1" ] || fail "differential parent $(field parent), expected the full $s1"
[ "$(stat_of files_changed)" -ge 2 ] || fail "differential did not see the changes since the full snapshot"
ok cfs snapshot show --json "$s4"
[ "$(json_get "$OUT" .parent)" = "$s1" ] && [ "$(json_get "$OUT" .type)" = differential ] ||
	fail "snapshot show --json does not report type and parent"
ok cfs snapshot list --json
[ "$(json_get "$OUT" '.[1].type')" = incremental ] && [ "$(json_get "$OUT" '.[1].parent')" = "$s1" ] ||
	fail "snapshot list --json does not report type and parent"

# --type full re-reads everything and gives the same tree as the incremental.
snap_create "$SRC"
s5=$SNAP_ID
snap_create --type full "$SRC"
s6=$SNAP_ID
[ "$(field type)" = full ] && [ "$(field parent)" = null ] || fail "--type full recorded $(field type) / $(field parent)"
[ "$(stat_of bytes_read)" -gt $((5 * MiB)) ] || fail "--type full read only $(stat_of bytes_read) bytes"
same_tree "full snapshot of an unchanged tree"
# A differential now takes the newer full one.
snap_create --type differential "$SRC"
[ "$(field parent)" = "$s6" ] || fail "differential did not take the newest full snapshot"

# 3. Every type restores identically.
for s in "$s4" "$s5" "$s6"; do
	rm -rf "$WORK/r"
	mkdir "$WORK/r"
	ok cfs restore "$s" "$WORK/r"
	assert_same_tree "$SRC" "$WORK/r$SRC"
done
# ... and mounts identically.
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null && [ -x "${CHRONOFS:-}" ]; then
	MNT=$WORK/mnt
	mount_fs "$MNT"
	ok cfs snapshot list --json
	for i in 3 5 6; do
		name=$(json_get "$OUT" ".[$i].name")
		assert_same_tree "$SRC" "$MNT/$name$SRC"
	done
	umount_fs "$MNT"
fi

# A file the backup user cannot open, unchanged since the parent, is taken
# from the parent: run the incremental as an unprivileged user.
left=$((2100000000 - ($(date +%s%N) - src2_made)))
[ "$left" -le 0 ] || sleep "$(printf '%d.%09d' $((left / 1000000000)) $((left % 1000000000)))"
snap_create "$SRC2"
p1=$SNAP_ID
chown -R 65534:65534 "$REPO" "$CACHE"
run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$CHRONOCTL" snapshot create --json "$SRC2"
[ "$RC" = 0 ] || { _lib_show_output; fail "unprivileged incremental failed (exit $RC)"; }
cp "$OUT" "$WORK/snap.json"
[ "$(field parent)" = "$p1" ] || fail "unprivileged incremental has parent $(field parent)"
[ "$(stat_of bytes_read)" = 0 ] || fail "unprivileged incremental read $(stat_of bytes_read) bytes"
u=$(field id)
chown -R 0:0 "$REPO" "$CACHE"
mkdir "$WORK/ru"
ok cfs restore "$u" "$WORK/ru"
cmp "$SRC2/d/secret" "$WORK/ru$SRC2/d/secret" || fail "the unreadable file was not carried over from the parent"
# Once changed, it must be read, and reading fails: exit 3, reported.
printf 'changed\n' >>"$SRC2/d/secret"
chown -R 65534:65534 "$REPO" "$CACHE"
run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$CHRONOCTL" snapshot create "$SRC2"
chown -R 0:0 "$REPO" "$CACHE"
[ "$RC" = 3 ] || { _lib_show_output; fail "a changed unreadable file gave exit $RC, expected 3"; }
expect_in "$ERR" "$SRC2/d/secret"

ok cfs check --read-data
log "ok: full, incremental and differential snapshots"
