#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A directory too large for one tree object is stored in fragments (tree.h)
# and comes back whole (issue 12, finding 10): 40,000 entries back up,
# restore and mount byte-identical; an incremental snapshot after one change
# stores only that change's fragment; the fragments are content-defined, so
# a full snapshot of the same directory gives the same trees. Its names
# are more than the walk sorts in memory: they are sorted on disk, in the
# tree's byte order (names with bytes above 0x7f among them), and the
# scratch file leaves nothing in the cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/wide" "$SRC/other"
python3 - "$SRC/wide" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(40000):
    with open(os.path.join(d, "file-%06d" % i), "w") as f:
        if i % 100 == 0:
            f.write("content of %d\n" % i)
for i in range(0, 40000, 5000):
    os.mkdir(os.path.join(d, "dir-%06d" % i))
    with open(os.path.join(d, "dir-%06d" % i, "inner"), "w") as f:
        f.write("inner %d\n" % i)
os.symlink("file-000001", os.path.join(d, "zz-link"))
db = os.fsencode(d)
for i in range(300):
    # Bytes that sort differently as signed chars, spread over the runs.
    n = bytes([0x80 + i % 128, 0x41 + i % 26]) + b"-%d" % i
    with open(os.path.join(db, n if i % 2 else b"file-0%d" % (i * 130) + n), "wb") as f:
        f.write(n)
EOF
printf 'small\n' >"$SRC/other/f"
ok cfs init
snap_create --verbose "$SRC"
[ "$(json_get "$WORK/snap.json" .stats.files_new)" = 40310 ] ||
	fail "files_new is $(json_get "$WORK/snap.json" .stats.files_new), expected 40310"
expect_in "$ERR" "$SRC/wide: a large directory, its names sorted on disk"
[ -z "$(find "$CACHE" -name '.scratch.*')" ] || fail "a scratch file was left in the cache"
blobs=$(json_get "$WORK/snap.json" .stats.blobs_added)

ok cfs restore latest "$WORK/r1"
assert_same_tree "$SRC" "$WORK/r1$SRC"
ok cfs restore "latest:$SRC/wide/dir-035000/inner" "$WORK/r2"
cmp "$SRC/wide/dir-035000/inner" "$WORK/r2$SRC/wide/dir-035000/inner" || fail "one path of a fragmented directory"
mount_compare "$SRC"
ok cfs check --read-data

# One file changed: the incremental snapshot stores its chunk, its
# directory's changed fragment and index, and the trees above: a handful of
# blobs, not the 40,000 entries again.
sleep 0.1
printf 'changed\n' >"$SRC/wide/file-020000"
snap_create "$SRC"
[ "$(json_get "$WORK/snap.json" .stats.files_changed)" = 1 ] || fail "files_changed is not 1"
added=$(json_get "$WORK/snap.json" .stats.bytes_added)
[ "$added" -lt 1000000 ] || fail "one changed file of a 40,000-entry directory added $added bytes"
ok cfs restore latest "$WORK/r3"
assert_same_tree "$SRC" "$WORK/r3$SRC"

# The same directory read in full: the same trees (only those above $SRC
# may differ: other processes touch /tmp).
snap_create --type full "$SRC"
above=$(printf '%s' "$SRC" | tr -cd / | wc -c)
[ "$(json_get "$WORK/snap.json" .stats.blobs_added)" -le "$above" ] ||
	fail "a full snapshot of the unchanged directory added $(json_get "$WORK/snap.json" .stats.blobs_added) blobs"
[ "$blobs" -gt 0 ]
log "ok: a 40,000-entry directory in fragments backs up, restores, mounts and changes incrementally"
