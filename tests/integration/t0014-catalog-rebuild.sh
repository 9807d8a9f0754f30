#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The catalog is a cache of the repository: it rebuilds from the store alone.
#   - a fresh cache directory lists and restores every snapshot (from the
#     index/ objects);
#   - with every index/ object lost, a fresh cache still restores and the
#     mount still reads (the packs' own headers), and `catalog rebuild`
#     reads them too and writes index/ objects again; check passes after;
#   - `catalog rebuild` on a cache that is fine gives the same listing;
#   - a damaged index/ object is named, and the restore still works.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
make_fixture "$SRC"
ok cfs init
snap_create "$SRC"
s1=$SNAP_ID
mkdir "$WORK/state1"
ok cfs restore "$s1" "$WORK/state1"
assert_same_tree "$SRC" "$WORK/state1$SRC"
rand_file "$SRC/second" $((3 * 1024 * 1024))
snap_create "$SRC"
s2=$SNAP_ID
ok cfs snapshot list
cp "$OUT" "$WORK/list-before"

# A cache that is fine: rebuilt, the same snapshots.
ok cfs catalog rebuild
expect_in "$OUT" "2 snapshots"
ok cfs snapshot list
cmp -s "$OUT" "$WORK/list-before" || fail "the listing changed after catalog rebuild"

# The index/ objects lost: a fresh cache reads the packs' headers.
nidx=$(find "$REPO/index" -type f | wc -l)
[ "$nidx" -ge 1 ] || fail "no index objects to remove"
mv "$REPO/index" "$WORK/index-saved"
mkdir "$REPO/index"
CACHE=$WORK/cache-fresh
ok cfs snapshot list
cmp -s "$OUT" "$WORK/list-before" || fail "a fresh cache without index objects lists other snapshots"
mkdir "$WORK/r1" "$WORK/r2"
ok cfs restore "$s1" "$WORK/r1"
ok cfs restore "$s2" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
assert_same_tree "$WORK/state1$SRC" "$WORK/r1$SRC"

# The mount too, from yet another fresh cache.
FS_CACHE=$WORK/cache-mount
mount_compare "$SRC"

# catalog rebuild reads the headers and writes index objects again.
CACHE=$WORK/cache-third
ok cfs catalog rebuild
expect_in "$OUT" "2 snapshots"
expect_in "$OUT" "0 index objects read"
grep -qE ' [1-9][0-9]* packs read from their headers' "$OUT" || fail "no packs read from headers: $(cat "$OUT")"
[ "$(find "$REPO/index" -type f | wc -l)" -ge 1 ] || fail "catalog rebuild wrote no index object"
CACHE=$WORK/cache-fourth
ok cfs check --read-data
ok cfs catalog rebuild
expect_in "$OUT" "0 packs read from their headers"

# A damaged index object: named, exit 1, and the packs are read anyway.
idx=$(find "$REPO/index" -type f | head -n 1)
printf 'garbage' >"$idx"
CACHE=$WORK/cache-fifth
expect_exit 1 cfs catalog rebuild
expect_in "$ERR" "could not be read"
mkdir "$WORK/r3"
ok cfs restore "$s2" "$WORK/r3"
assert_same_tree "$SRC" "$WORK/r3$SRC"

# Usage errors.
expect_exit 1 cfs catalog
expect_exit 1 cfs catalog frobnicate
expect_exit 1 cfs catalog rebuild extra
ok cfs catalog --help
