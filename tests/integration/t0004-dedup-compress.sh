#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Deduplication and compression, measured on the repository directory
# (du -sb): an unchanged second backup grows it by < 1 %, a copy of a file
# inside the tree adds next to nothing, 10 MiB of text costs much less than
# 10 MiB, 20 MiB of random data costs at most 1 % + 64 KiB overhead, a
# 42-byte insertion in a 12 MiB file costs < 6 MiB (content-defined chunks),
# and a backup after losing the local cache still deduplicates.
# Every snapshot restores identically at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

KiB=1024
MiB=$((1024 * KiB))
SRC=$WORK/src
mkdir -p "$SRC/a" "$SRC/b"
rand_file "$SRC/a/random-12m" $((12 * MiB))
rand_file "$SRC/a/random-3m" $((3 * MiB + 17))
for i in $(seq 1 50); do
	printf 'small file %d\n' "$i" >"$SRC/b/s$i"
done

ok cfs init
size0=$(dir_size "$REPO")
snap_create "$SRC"
s1=$SNAP_ID
size1=$(dir_size "$REPO")
# The repository holds the data once, not (much) more.
[ $((size1 - size0)) -lt $((15 * MiB * 101 / 100 + 256 * KiB)) ] ||
	fail "first backup of 15 MiB grew the repository by $((size1 - size0)) bytes"

# 1. Unchanged tree: < 1 % growth, and the stats say so.
snap_create "$SRC"
s2=$SNAP_ID
[ "$s2" != "$s1" ] || fail "second snapshot has the same id as the first"
size2=$(dir_size "$REPO")
[ $((size2 - size1)) -lt $((size1 / 100)) ] ||
	fail "unchanged second backup grew the repository by $((size2 - size1)) bytes (>= 1 % of $size1)"
# (new/changed/unchanged classification against a parent comes with the
# incremental snapshot types; a full snapshot reads every file.)
[ "$(json_get "$WORK/snap.json" .stats.bytes_added)" -lt $((size1 / 100)) ] || fail "unchanged backup: stats.bytes_added too large"

# 2. A copy of a file within the tree (new inode, new name, same bytes).
cp "$SRC/a/random-12m" "$SRC/b/copy-of-random"
snap_create "$SRC"
s3=$SNAP_ID
size3=$(dir_size "$REPO")
[ $((size3 - size2)) -lt $((128 * KiB)) ] ||
	fail "a 12 MiB copy of an existing file grew the repository by $((size3 - size2)) bytes"
[ "$(json_get "$WORK/snap.json" .stats.bytes_added)" -lt $((128 * KiB)) ] || fail "copy: stats.bytes_added too large"

# 3. 10 MiB of compressible text.
awk 'BEGIN { srand(42); for (i = 0; i < 190000; i++) printf "%08d the quick brown fox jumps over the lazy dog %d\n", i, int(rand() * 100) }' \
	>"$SRC/b/text" </dev/null
tsize=$(stat -c %s "$SRC/b/text")
[ "$tsize" -gt $((9 * MiB)) ] || fail "test bug: text file only $tsize bytes"
snap_create "$SRC"
s4=$SNAP_ID
size4=$(dir_size "$REPO")
[ $((size4 - size3)) -lt $((tsize / 3)) ] ||
	fail "$tsize bytes of text grew the repository by $((size4 - size3)) bytes (not compressed?)"

# 4. 20 MiB of random data: stored once with small overhead.
rand_file "$SRC/a/random-20m" $((20 * MiB))
snap_create "$SRC"
s5=$SNAP_ID
size5=$(dir_size "$REPO")
[ $((size5 - size4)) -lt $((20 * MiB * 101 / 100 + 64 * KiB)) ] ||
	fail "20 MiB of random data grew the repository by $((size5 - size4)) bytes"
[ $((size5 - size4)) -ge $((20 * MiB)) ] ||
	fail "20 MiB of random data grew the repository by only $((size5 - size4)) bytes (data missing?)"

# 5. A file that shares most of its content with another (insert in the
#    middle): content-defined chunking keeps the unchanged chunks.
{
	head -c $((6 * MiB)) "$SRC/a/random-12m"
	printf 'inserted bytes shift everything after them'
	tail -c +$((6 * MiB + 1)) "$SRC/a/random-12m"
} >"$SRC/b/shifted"
snap_create "$SRC"
s6=$SNAP_ID
size6=$(dir_size "$REPO")
[ $((size6 - size5)) -lt $((6 * MiB)) ] ||
	fail "a 12 MiB file with 42 bytes inserted in the middle grew the repository by $((size6 - size5)) bytes"

# 6. A lost cache: the next backup still deduplicates against the
#    repository (the catalog is rebuilt or the index consulted).
rm -rf "$CACHE"
snap_create "$SRC"
s7=$SNAP_ID
size7=$(dir_size "$REPO")
[ $((size7 - size6)) -lt $((size6 / 100)) ] ||
	fail "backup after losing the cache grew the repository by $((size7 - size6)) bytes"

ok cfs check --read-data

# Every snapshot restores what was there at its time; the last one, fully.
mkdir "$WORK/t6" "$WORK/t7"
ok cfs restore "$s6" "$WORK/t6"
assert_same_tree "$SRC" "$WORK/t6$SRC"
ok cfs restore "$s7" "$WORK/t7"
assert_same_tree "$SRC" "$WORK/t7$SRC"
mkdir "$WORK/t1"
ok cfs restore "$s1:$SRC/a/random-12m" "$WORK/t1"
assert_same_tree "$SRC/a/random-12m" "$WORK/t1$SRC/a/random-12m"
[ ! -e "$WORK/t1$SRC/a/random-20m" ] || fail "restore of snapshot 1 has a later file"
for s in "$s2" "$s3" "$s4" "$s5"; do
	mkdir "$WORK/r-$s"
	ok cfs restore "$s:$SRC/b" "$WORK/r-$s"
	for f in "$WORK/r-$s$SRC/b"/*; do
		cmp -s "$f" "$SRC/b/$(basename "$f")" || fail "snapshot $s: $(basename "$f") differs"
	done
done
[ ! -e "$WORK/r-$s2$SRC/b/copy-of-random" ] || fail "snapshot 2 contains a later file"
[ -e "$WORK/r-$s3$SRC/b/copy-of-random" ] || fail "snapshot 3 lacks copy-of-random"

log "ok: sizes $size1 $size2 $size3 $size4 $size5 $size6 $size7"
