#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Incremental snapshots see every change, including the ones a size+mtime
# shortcut would miss: content rewritten in place with the same size and the
# old mtime put back (only ctime tells), metadata-only changes (mode, owner,
# xattr, ACL, mtime), deletions, renames, new files, retargeted symlinks,
# a file replaced by a directory. Both the old and the new snapshot restore
# exactly what was there at their time.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/d/sub" "$SRC/e"
rand_file "$SRC/same-size" $((2 * MiB))
rand_file "$SRC/small-same-size" 100
printf 'mode\n' >"$SRC/chmod-me"
printf 'owner\n' >"$SRC/chown-me"
printf 'xattr\n' >"$SRC/xattr-me"
setfattr -n user.v -v one "$SRC/xattr-me"
printf 'acl\n' >"$SRC/acl-me"
printf 'mtime\n' >"$SRC/touch-me"
printf 'delete\n' >"$SRC/d/delete-me"
printf 'rename\n' >"$SRC/d/rename-me"
printf 'grow\n' >"$SRC/grow-me"
printf 'becomes a dir\n' >"$SRC/e/type-change"
ln -s target-one "$SRC/link"
printf 'unchanged\n' >"$SRC/d/sub/unchanged"
find "$SRC" -exec touch -h -d '@1600000000.5' {} +

ok cfs init
snap_create "$SRC"
s1=$SNAP_ID
cp -a "$SRC" "$WORK/state1"

# Make sure ctime moves forward past the first snapshot's view.
sleep 1.1

# Same size, old mtime restored: only ctime (and the content) changed.
for f in same-size small-same-size; do
	t=$(stat -c %y "$SRC/$f")
	printf 'CHANGED' | dd of="$SRC/$f" bs=1 seek=50 conv=notrunc status=none
	touch -d "$t" "$SRC/$f"
done
chmod 0751 "$SRC/chmod-me"
chown 4242:4343 "$SRC/chown-me"
setfattr -n user.v -v two "$SRC/xattr-me"
setfacl -m u:4242:r "$SRC/acl-me"
touch -d '@1600000099.000000007' "$SRC/touch-me"
rm "$SRC/d/delete-me"
mv "$SRC/d/rename-me" "$SRC/d/renamed"
printf 'new\n' >"$SRC/d/new-file"
printf 'more\n' >>"$SRC/grow-me"
rm "$SRC/e/type-change"
mkdir "$SRC/e/type-change"
printf 'inside\n' >"$SRC/e/type-change/f"
rm "$SRC/link"
ln -s target-two "$SRC/link"

ok cfs snapshot create --json "$SRC"
cp "$OUT" "$WORK/s2.json"
s2=$(json_get "$WORK/s2.json" .id)
[ "$(json_get "$WORK/s2.json" .type)" = incremental ] || fail "second snapshot is not incremental"
[ "$(json_get "$WORK/s2.json" .stats.bytes_added)" -gt 0 ] || fail "second snapshot added no data for rewritten files"
# Changed: the two rewrites, chmod, chown, xattr, ACL, touch, grow, link
# (the renamed and new files are new; d/sub/unchanged stays unchanged).
[ "$(json_get "$WORK/s2.json" .stats.files_changed)" -ge 9 ] ||
	fail "only $(json_get "$WORK/s2.json" .stats.files_changed) files classified as changed"

mkdir "$WORK/t2"
ok cfs restore "$s2" "$WORK/t2"
assert_same_tree "$SRC" "$WORK/t2$SRC"
mkdir "$WORK/t1"
ok cfs restore "$s1" "$WORK/t1"
assert_same_tree "$WORK/state1" "$WORK/t1$SRC"

# A third snapshot of an unchanged tree restores the same as the second.
snap_create "$SRC"
mkdir "$WORK/t3"
ok cfs restore "$SNAP_ID" "$WORK/t3"
assert_same_tree "$SRC" "$WORK/t3$SRC"

log "ok: incremental changes captured"
