#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Restoring into a target that holds entries already (issue 14): messages
# name the path in the target, never the bare source path; --skip-existing
# finishes a restore stopped by a signal or missing files; --overwrite
# if-changed replaces what differs and leaves the rest in place (same
# inode); --overwrite always replaces; a directory in the way is an error and nothing is deleted; a
# symlink planted where a directory goes is never followed; --include and
# --exclude select the right entries; summaries count in singular and
# plural.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/doc/sub" "$SRC/other" "$SRC/single" "$SRC/build"
printf 'alpha\n' >"$SRC/doc/a.txt"
printf 'bravo\n' >"$SRC/doc/b.txt"
printf 'charlie\n' >"$SRC/doc/c.txt"
printf 'int x;\n' >"$SRC/doc/sub/x.c"
printf 'scratch\n' >"$SRC/doc/sub/x.tmp"
printf 'int y;\n' >"$SRC/other/y.c"
printf 'other\n' >"$SRC/other/notes"
printf 'only\n' >"$SRC/single/only.txt"
printf 'obj\n' >"$SRC/build/z.o"
rand_file "$SRC/doc/big" $((2 * 1024 * 1024))
printf 'linked\n' >"$SRC/doc/h1"
ln "$SRC/doc/h1" "$SRC/other/h2"
ln -s a.txt "$SRC/doc/link"
for f in holey1 holey2; do # sparse: data after a 3 MiB hole
	truncate -s $((3 * 1024 * 1024)) "$SRC/doc/$f"
	printf 'tail' >>"$SRC/doc/$f"
done
touch -d '2001-02-03 04:05:06' "$SRC/doc/a.txt" "$SRC/doc/b.txt" "$SRC/doc/c.txt"
chmod 0750 "$SRC/doc"

ok cfs init
snap_create "$SRC"

T=$WORK/t
# Fails if the source path appears in $ERR other than inside the target
# path: messages must never read as if the restore wrote into the source.
no_bare_source() {
	if sed "s|$T$SRC||g" "$ERR" | grep -qF "$SRC"; then
		cat "$ERR" >&2
		fail "a message names the source path $SRC instead of the target path"
	fi
}
ino() { stat -c %i "$1"; }

# --- a re-run into the same target: errors name the target path ------------
ok cfs restore latest "$T"
assert_same_tree "$SRC" "$T$SRC"
expect_in "$ERR" "Restored 15 files and "
expect_exit 1 cfs restore latest "$T"
expect_in "$ERR" "$T$SRC/doc/a.txt: File exists"
expect_in "$ERR" "$T$SRC/other/h2: File exists"
expect_in "$ERR" "Restored 0 files and"
expect_in "$ERR" "15 entries FAILED"
expect_in "$ERR" "15 of them existed in $T"
expect_in "$ERR" "--skip-existing"
no_bare_source

# --- --skip-existing finishes a restore that stopped part-way ----------------
rm "$T$SRC/doc/b.txt" "$T$SRC/other/h2" "$T$SRC/doc/link"
rm -r "$T$SRC/doc/sub"
echo 'not from the snapshot' >"$T$SRC/doc/c.txt.keep"
rm "$T$SRC/doc/c.txt.keep"
a_ino=$(ino "$T$SRC/doc/a.txt")
ok cfs restore --skip-existing latest "$T"
assert_same_tree "$SRC" "$T$SRC"
expect_in "$ERR" "Restored 5 files and"
expect_in "$ERR" "skipped 10 existing, replaced 0"
[ "$(ino "$T$SRC/doc/a.txt")" = "$a_ino" ] || fail "--skip-existing replaced an existing file"
[ "$(ino "$T$SRC/other/h2")" = "$(ino "$T$SRC/doc/h1")" ] ||
	fail "other/h2 was not linked to the existing doc/h1"
no_bare_source

# A restore stopped by a signal while it writes doc/big (slowed down to
# take 4 s), finished with --skip-existing: the directories it left without
# their metadata get it.
R=$WORK/r
cfs_bg r1 --limit-download 512 restore latest "$R"
for ((i = 0; i < 600; i++)); do
	[ ! -e "$R$SRC/doc/b.txt" ] || break
	sleep 0.05
done
kill -TERM "$BG_PID"
wait_rc "$BG_PID"
[ "$WAIT_RC" = 1 ] || fail "the slowed restore was not interrupted (exit $WAIT_RC): $(cat "$WORK/r1.err")"
expect_in "$WORK/r1.err" "interrupted"
expect_in "$WORK/r1.err" "--skip-existing"
[ ! -e "$R$SRC/doc/big" ] || fail "the interrupted restore left doc/big"
ok cfs restore --skip-existing latest "$R"
assert_same_tree "$SRC" "$R$SRC"

# --- --overwrite if-changed: what differs is replaced, the rest stays -------
printf 'ALPHA\n' >"$T$SRC/doc/a.txt"          # same size, other bytes
touch -d '2020-01-01' "$T$SRC/doc/b.txt"      # same bytes, other mtime
chmod 0600 "$T$SRC/doc/b.txt"                 # ... and mode
printf 'longer than before\n' >"$T$SRC/doc/c.txt" # other size
touch "$T$SRC/doc/holey1"                           # same bytes (a hole), other mtime
printf 'x' | dd of="$T$SRC/doc/holey2" bs=1 seek=1000 conv=notrunc status=none # a byte in the hole
h1_ino=$(ino "$T$SRC/doc/holey1")
h2_ino=$(ino "$T$SRC/doc/holey2")
a_ino=$(ino "$T$SRC/doc/a.txt")
b_ino=$(ino "$T$SRC/doc/b.txt")
c_ino=$(ino "$T$SRC/doc/c.txt")
big_ino=$(ino "$T$SRC/doc/big")
ok cfs restore --overwrite if-changed latest "$T"
assert_same_tree "$SRC" "$T$SRC"
expect_in "$ERR" "Restored 3 files and"
expect_in "$ERR" "skipped 12 existing, replaced 3"
[ "$(ino "$T$SRC/doc/a.txt")" != "$a_ino" ] || fail "a.txt (other bytes) was not replaced"
[ "$(ino "$T$SRC/doc/c.txt")" != "$c_ino" ] || fail "c.txt (other size) was not replaced"
[ "$(ino "$T$SRC/doc/b.txt")" = "$b_ino" ] || fail "b.txt (same bytes) was replaced"
[ "$(ino "$T$SRC/doc/big")" = "$big_ino" ] || fail "an unchanged file was replaced"
[ "$(ino "$T$SRC/doc/holey1")" = "$h1_ino" ] || fail "holey1 (same bytes, a hole) was replaced"
[ "$(ino "$T$SRC/doc/holey2")" != "$h2_ino" ] || fail "holey2 (a byte written in its hole) was not replaced"
[ "$(stat -c %a "$T$SRC/doc/b.txt")" = 644 ] || fail "b.txt was kept without the snapshot's mode"
[ -z "$(find "$T" -name '.chronofs-restore.*')" ] || fail "temporaries left behind"

# --- --overwrite always: everything is replaced -----------------------------
ok cfs restore --overwrite always latest "$T"
assert_same_tree "$SRC" "$T$SRC"
expect_in "$ERR" "Restored 15 files and"
expect_in "$ERR" "replaced 15"
[ "$(ino "$T$SRC/doc/big")" != "$big_ino" ] || fail "--overwrite always left a file in place"
[ "$(ino "$T$SRC/other/h2")" = "$(ino "$T$SRC/doc/h1")" ] || fail "hard link lost by --overwrite always"
expect_exit 1 cfs restore --overwrite always --skip-existing latest "$T"
expect_in "$ERR" "--skip-existing"

# --- a directory where a file goes: an error, nothing deleted ---------------
rm "$T$SRC/doc/a.txt"
mkdir "$T$SRC/doc/a.txt"
printf 'precious\n' >"$T$SRC/doc/a.txt/precious"
for mode in --skip-existing "--overwrite if-changed" "--overwrite always"; do
	# shellcheck disable=SC2086 # $mode is an option and its value
	expect_exit 1 cfs restore $mode latest "$T"
	expect_in "$ERR" "$T$SRC/doc/a.txt: a directory is in its place"
	expect_in "$ERR" "1 entry FAILED"
	[ "$(cat "$T$SRC/doc/a.txt/precious")" = precious ] || fail "$mode deleted a directory in the way"
	no_bare_source
done
rm -r "$T$SRC/doc/a.txt"

# --- a symlink planted where a directory goes is never followed -------------
mkdir -p "$WORK/outside"
printf 'victim\n' >"$WORK/outside/y.c"
rm -r "$T$SRC/other"
ln -s "$WORK/outside" "$T$SRC/other"
ln -s "$WORK/outside/y.c" "$T$SRC/doc/a.txt"   # and where a file goes
outside_before=$(repo_digest "$WORK/outside")
expect_exit 1 cfs restore --overwrite if-changed latest "$T"
expect_in "$ERR" "Cannot restore directory $T$SRC/other: a symbolic link (not followed) is in its place"
no_bare_source
[ "$(repo_digest "$WORK/outside")" = "$outside_before" ] || fail "restore wrote through a planted symlink"
[ -L "$T$SRC/other" ] || fail "--overwrite if-changed removed the planted symlink"
# always replaces the symlinks themselves (the file one atomically).
ok cfs restore --overwrite always latest "$T"
[ "$(repo_digest "$WORK/outside")" = "$outside_before" ] || fail "--overwrite always wrote through a symlink"
assert_same_tree "$SRC" "$T$SRC"
no_bare_source

# --- --include / --exclude ----------------------------------------------------
listing() { (cd "$1$SRC" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' '); }
ok cfs restore --include '*.c' latest "$WORK/i1"
got=$(listing "$WORK/i1")
[ "$got" = "./doc ./doc/sub ./doc/sub/x.c ./other ./other/y.c " ] || fail "--include '*.c' restored: $got"
# The parents made to reach a match have the snapshot's metadata.
[ "$(stat -c %a "$WORK/i1$SRC/doc")" = 750 ] || fail "a parent of an included file lacks its mode"
ok cfs restore --include "$SRC/doc" --exclude '*.tmp' --exclude big --exclude 'holey*' --exclude "$SRC/doc/link" latest "$WORK/i2"
got=$(listing "$WORK/i2")
[ "$got" = "./doc ./doc/a.txt ./doc/b.txt ./doc/c.txt ./doc/h1 ./doc/sub ./doc/sub/x.c " ] ||
	fail "--include $SRC/doc with excludes restored: $got"
ok cfs restore --exclude doc/sub --exclude 'build/' "latest:$SRC" "$WORK/i3"
got=$(listing "$WORK/i3")
case "$got" in
*sub* | *build*) fail "--exclude doc/sub --exclude build/ restored: $got" ;;
esac
expect_in "$ERR" "Restored 12 files and 4 directories"
ok cfs restore --include "$WORK/nothing" latest "$WORK/i4"
[ -z "$(ls -A "$WORK/i4")" ] || fail "an include matching nothing made directories"
# Patterns that match above a sub-path take all of it, or leave it out.
ok cfs restore --include "$SRC" "latest:$SRC/other" "$WORK/i5"
got=$(listing "$WORK/i5")
[ "$got" = "./other ./other/h2 ./other/notes ./other/y.c " ] || fail "--include $SRC of $SRC/other restored: $got"
ok cfs restore --exclude "$SRC" "latest:$SRC/other" "$WORK/i6"
[ -z "$(ls -A "$WORK/i6")" ] || fail "--exclude $SRC of $SRC/other made directories"

# --- singular and plural ------------------------------------------------------
ok cfs restore "latest:$SRC/single" "$WORK/s1"
expect_in "$ERR" "Restored 1 file and 1 directory ("
expect_exit 1 cfs restore "latest:$SRC/single" "$WORK/s1"
expect_in "$ERR" "Restored 0 files and 1 directory ("
expect_in "$ERR" "1 entry FAILED"
ok cfs restore --skip-existing "latest:$SRC/single" "$WORK/s1"
expect_in "$ERR" "skipped 1 existing, replaced 0"

log "ok: restore into an existing target: target paths, --overwrite, --skip-existing, --include/--exclude"
