#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile repositories (issue 12): every kind of object, damaged every way,
# is named by `check` and never turns into wrong bytes.
#
# A repository with two snapshots (encrypted; then an unencrypted one for
# the damages where integrity rests on hashes instead of tags) is copied
# afresh, with the cache that made it, for each case of the table below:
# one kind of object (config, keys/, a data pack's blob area, header or
# trailer, index/, snapshots/, dicts/, names/, locks/) and one damage (a
# byte flipped; truncated to 0, to half, one byte short; deleted; swapped
# with another valid object of its kind, by renaming one over the other;
# rolled back to its version before the second snapshot). Then:
#   - `check` exits 1 and names the object, with `check --read-data` from a
#     fresh cache where it takes reading data; a damage that is harmless by
#     design is said so in its row, and check must then find nothing;
#   - `restore` of each snapshot writes no wrong byte: every file it leaves
#     is byte-identical to the source, every file it does not is named on
#     its stderr;
#   - the mount (where the damage reaches data) answers every read with the
#     right bytes or EIO;
#   - the next backup is whole: check names none of its paths, and it
#     restores byte-identical.
# The whole repository rolled back (the copy before the second snapshot,
# under the cache that saw the second) is a case too.
#
# Harmless by design, and why:
#   - locks/ objects are advisory: only repair reads them (t3002), nothing
#     that reads or writes data does;
#   - names/ objects reserve a name by existing: one that is deleted or
#     rolled back loses no data (writers also skip names the catalog
#     knows); in an unencrypted repository nothing authenticates the
#     snapshot id inside, and a reservation whose snapshot never came is
#     legitimate (a commit killed after it), so a flipped id there is
#     indistinguishable from that;
#   - keys/ and dicts/ objects never change once written: their "older
#     version" is the object itself;
#   - a byte flipped in a pack's blob area leaves the pack's size as it
#     was: only reading shows it (check --read-data), and check --read-data
#     records the pack as damaged so that the next backup stores its blobs
#     again instead of deduplicating against them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

HAVE_FUSE=0
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	HAVE_FUSE=1
else
	log "no FUSE here: the mount is not checked"
fi

KiB=1024
MiB=$((1024 * KiB))
SRC=$WORK/src

# N text files of about 8 KiB (twelve of make_texts's each): 150 of them
# (1.2 MiB) make the first snapshot's commit train a dictionary that the
# second snapshot's small files then use.
texts() { # DIR FIRST N
	local parts=$1.parts i=$2 group
	make_texts "$parts" $(($2 * 12)) $(($3 * 12))
	mkdir -p "$1"
	while read -ra group; do
		(cd "$parts" && cat -- "${group[@]}") >"$1/t$(printf %04d "$i").txt"
		i=$((i + 1))
	done < <(cd "$parts" && printf "%s\n" * | xargs -n 12 echo)
	rm -rf "$parts"
}

# The files of $SRC, relative, sorted (the second snapshot only adds).
list_files() {
	(cd "$SRC" && find . -type f | sed 's|^\./||' | sort)
}

byte_at() { dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' '; }
flip() { # FILE OFFSET
	local b
	b=$(byte_at "$1" "$2")
	printf '%b' "\\x$(printf '%02x' $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# --- the base repositories --------------------------------------------------------
# base ENC: $WORK/base-ENC/{repo,cache} after two snapshots, repo0 the
# repository before the second; S1, S2 their names; FILES1, FILES2 their
# file lists.
base() {
	local enc=$1 B=$WORK/base-$1
	rm -rf "$SRC"
	mkdir -p "$SRC/big"
	texts "$SRC/small" 0 150
	rand_file "$SRC/big/one" $((3 * MiB))
	REPO=$B/repo
	CACHE=$B/cache
	if [ "$enc" = none ]; then
		PASSWORD=''
		ok cfs init --encryption none
	else
		ok cfs init
	fi
	# Made by an older release (format 2), upgraded after the first
	# snapshot: the config then has an older version to roll back to.
	printf '\x02' | dd of="$REPO/config" bs=1 seek=8 conv=notrunc status=none
	snap_create "$SRC"
	S1=$SNAP_NAME
	list_files >"$B/files1"
	[ -n "$(ls "$REPO/dicts")" ] || fail "the first snapshot trained no dictionary"
	cp -a "$REPO" "$B/repo0"
	ok cfs upgrade
	texts "$SRC/small2" 500 12
	rand_file "$SRC/big/two" $((2 * MiB))
	snap_create "$SRC"
	S2=$SNAP_NAME
	S2_ID=$SNAP_ID
	list_files >"$B/files2"
	sums_of "$SRC" "$B/files2" >"$WORK/src.sums"
	ok cfs check --read-data
}

# new_objects DIR: objects of DIR (relative to the repository) that the
# second snapshot added; old_objects DIR: those of the first.
new_objects() { comm -13 <(cd "$B/repo0" && find "$1" -type f 2>/dev/null | sort) <(cd "$B/repo" && find "$1" -type f | sort); }
old_objects() { (cd "$B/repo0" && find "$1" -type f | sort); }
# The largest object of a list: the data pack, not the tree pack.
largest() { (cd "$R" && xargs -r stat -c '%s %n' | sort -n | tail -n 1 | cut -d' ' -f2-); }

# --- the checks -------------------------------------------------------------------

# sums_of DIR FILELIST: "sha256  name" of the files of FILELIST that DIR
# has, one process for all; the errors (EIO from the mount) go to
# $WORK/sums.err.
sums_of() {
	(cd "$1" 2>/dev/null && tr '\n' '\0' <"$2" | xargs -0 -r sha256sum -- 2>"$WORK/sums.err") || true
}

# Every line of sums $1 is a line of the source's sums: no wrong bytes.
no_wrong_bytes() { # SUMS WHAT
	local wrong
	wrong=$(grep -vxF -f "$WORK/src.sums" "$1" || true)
	[ -z "$wrong" ] || fail "$CASE: $2 gave WRONG BYTES: $wrong"
}

# restore_safe SNAP FILELIST [CACHE]: restore SNAP (from CACHE, default
# $CACHE): every file it leaves is right, every one it does not is named
# (or a directory above it is). A restore that fails as a whole (the
# snapshot or the repository cannot be opened) writes nothing.
restore_safe() {
	local snap=$1 list=$2 T f d named
	T=$WORK/t-$((++NT))
	CACHE=${3:-$CACHE} run cfs restore "$snap" "$T"
	cp "$ERR" "$WORK/restore.err"
	[ "$RC" = 0 ] || [ "$RC" = 1 ] || { _lib_show_output; fail "$CASE: restore $snap exited $RC"; }
	# A name is also a time: where its snapshot vanished (rolled back), the
	# one in effect then is restored, and the output must say which.
	if [ "$snap" = "$S2" ] && grep -qF "Using snapshot $S1 " "$WORK/restore.err"; then
		list=$B/files1
	fi
	[ -d "$T$SRC" ] || { rm -rf "$T"; return 0; } # nothing restored at all
	[ -z "$(find "$T" -type f -name '.chronofs-restore.*')" ] || fail "$CASE: restore $snap left temporaries"
	(cd "$T$SRC" && find . -type f | sed 's|^\./||' | sort) >"$WORK/restored"
	sums_of "$T$SRC" "$WORK/restored" >"$WORK/restored.sums"
	no_wrong_bytes "$WORK/restored.sums" "restore $snap"
	comm -23 "$list" "$WORK/restored" >"$WORK/absent"
	[ "$RC" = 1 ] || [ ! -s "$WORK/absent" ] || fail "$CASE: restore $snap exited 0 without $(head -n 1 "$WORK/absent")"
	while read -r f; do
		named=0
		grep -qF -- "$SRC/$f" "$WORK/restore.err" && named=1
		d=$(dirname "$f")
		while [ "$named" = 0 ] && [ "$d" != . ]; do
			grep -qF -- "$SRC/$d:" "$WORK/restore.err" && named=1
			d=$(dirname "$d")
		done
		if [ "$named" = 0 ] && grep -qF -- "$SRC:" "$WORK/restore.err"; then named=1; fi
		[ "$named" = 1 ] || { cat "$WORK/restore.err" >&2; fail "$CASE: restore $snap left out $f without naming it"; }
	done <"$WORK/absent"
	rm -rf "$T"
}

# mount_safe: every file of every snapshot the mount shows (through a
# fresh cache) reads right or fails with EIO.
mount_safe() {
	local M=$WORK/mnt snap list
	FS_CACHE=$WORK/case/fresh-mount mount_fs "$M"
	for snap in "$S1" "$S2"; do
		[ -d "$M/$snap" ] || continue
		list=$B/files1
		[ "$snap" = "$S1" ] || list=$B/files2
		sums_of "$M/$snap$SRC" "$list" >"$WORK/mount.sums"
		no_wrong_bytes "$WORK/mount.sums" "the mount ($snap)"
		if grep -v "Input/output error\|No such file or directory" "$WORK/sums.err" >&2; then
			fail "$CASE: reading $snap through the mount failed otherwise than with EIO"
		fi
	done
	_lib_pid_alive "$FS_PID" || { cat "$FS_LOG" >&2; fail "$CASE: the daemon died"; }
	umount_fs "$M"
}

# next_backup_whole: a new snapshot that check does not name and that
# restores byte-identical.
next_backup_whole() {
	local T=$WORK/t-next
	snap_create "$SRC"
	run cfs check
	if grep -F "snapshot $SNAP_NAME:" "$ERR" >&2; then
		fail "$CASE: check names paths of the next backup $SNAP_NAME"
	fi
	ok cfs restore "$SNAP_NAME" "$T"
	assert_same_tree "$SRC" "$T$SRC"
	rm -rf "$T"
}

# --- the cases ----------------------------------------------------------------------
# damage KIND HOW: damage the copy in $R; sets OBJ (what check must name, a
# fixed string; empty: harmless by design), READ (1: only check --read-data
# sees it), DATA (1: it reaches file data: mount it), VANISH (1: an object
# found by listing is gone: only the first open after it can tell).
damage() {
	local kind=$1 how=$2 f other='' size hdr
	OBJ='' READ=0 DATA=0 VANISH=0
	case $kind in
	config) f=config ;;
	keys) f=$(cd "$R" && find keys -type f | head -n 1) ;;
	blobs | header | trailer) f=$(old_objects data | largest); other=$(new_objects data | largest); DATA=1 ;;
	index) f=$(old_objects index); other=$(new_objects index); DATA=1 ;;
	snapshots) f=$(old_objects snapshots); other=$(new_objects snapshots); DATA=1 ;;
	dicts) f=$(old_objects dicts); DATA=1 ;;
	names) f=$(old_objects names); other=$(new_objects names) ;;
	locks)
		mkdir -p "$R/locks"
		printf 'host=elsewhere\npid=4242\ntime_ns=1\nkind=writer\n' >"$R/locks/0123456789abcdef0123456789abcdef"
		printf 'host=elsewhere\npid=4343\ntime_ns=2\nkind=writer\n' >"$R/locks/fedcba9876543210fedcba9876543210"
		f=locks/0123456789abcdef0123456789abcdef
		other=locks/fedcba9876543210fedcba9876543210
		;;
	esac
	if [ -z "$f" ] || [ ! -f "$R/$f" ]; then fail "$CASE: test bug: no $kind object"; fi
	OBJ=$f
	size=$(stat -c %s "$R/$f")
	case $how in
	flip)
		case $kind in
		blobs) flip "$R/$f" $((size / 3)); READ=1 ;;
		header)
			hdr=$(od -An -tu4 -j $((size - 12)) -N 4 "$R/$f" | tr -d ' ')
			flip "$R/$f" $((size - 12 - hdr / 2))
			READ=1
			;;
		trailer) flip "$R/$f" $((size - 3)); READ=1 ;;
		config) flip "$R/$f" 48 ;; # the chunker's minimum size: still a valid config
		*) flip "$R/$f" $((size / 2)) ;;
		esac
		;;
	trunc0) : >"$R/$f" ;;
	trunchalf) truncate -s $((size / 2)) "$R/$f" ;;
	trunc1) truncate -s $((size - 1)) "$R/$f" ;;
	delete) rm "$R/$f" ;;
	swap) mv "$R/$other" "$R/$f" ;;
	rollback)
		# The kind as it was before the second snapshot.
		rm -rf "${R:?}/${f%%/*}"
		cp -a "$B/repo0/${f%%/*}" "$R/"
		[ "$kind" != config ] || cp "$B/repo0/config" "$R/config"
		;;
	esac
	# What a user must be told, and where it is harmless by design.
	case $kind:$how in
	locks:*) OBJ='' ;;
	names:delete | names:rollback) OBJ='' ;;
	names:flip) [ "$ENC" != none ] || OBJ='' ;;
	keys:delete) OBJ=keys/ ;;
	blobs:rollback | index:rollback) OBJ=$other ;; # the second snapshot's went
	snapshots:rollback) OBJ=$S2 ;;
	esac
	case $kind:$how in
	index:delete | index:rollback | snapshots:delete | snapshots:rollback) VANISH=1 ;;
	esac
}

# run_case ENC KIND HOW
run_case() {
	ENC=$1
	B=$WORK/base-$ENC
	CASE="$ENC $2 $3"
	R=$WORK/case/repo
	rm -rf "$WORK/case"
	mkdir -p "$WORK/case"
	cp -a "$B/repo" "$R"
	cp -a "$B/cache" "$WORK/case/cache"
	damage "$2" "$3"
	REPO=$R
	CACHE=$WORK/case/cache
	local fresh=$WORK/case/fresh
	# check, from the cache that saw the repository whole.
	run cfs check
	cp "$ERR" "$WORK/check.err"
	if [ -z "$OBJ" ] || [ "$READ" = 1 ]; then
		[ "$RC" = 0 ] || { _lib_show_output; fail "$CASE: harmless to the structure, but check exits $RC"; }
	else
		[ "$RC" = 1 ] || { _lib_show_output; fail "$CASE: check exits $RC, expected 1"; }
		expect_in "$WORK/check.err" "$OBJ" "$CASE: check does not name $OBJ"
	fi
	# check --read-data where the damage reaches data (same cache). What
	# vanished was named by the first open that saw it, which made the
	# catalog forget it: this second one has nothing to say about it.
	if [ "$DATA" = 1 ]; then
		run cfs check --read-data
		if [ -n "$OBJ" ] && [ "$VANISH" = 0 ]; then
			[ "$RC" = 1 ] || { _lib_show_output; fail "$CASE: check --read-data exits $RC, expected 1"; }
			expect_in "$ERR" "$OBJ" "$CASE: check --read-data does not name $OBJ"
		fi
		# A damaged blob is named with the paths that use it. (A
		# header's damage need not reach any blob: an unencrypted one's
		# entry may be hit while every blob reads right by its location.)
		if [ "$2" = blobs ] && [ "$READ" = 1 ]; then
			grep -qE "snapshot [^ ]+: $SRC/" "$ERR" || { cat "$ERR" >&2; fail "$CASE: check --read-data names no path"; }
		fi
	fi
	# From a fresh cache, which learns the repository from what is damaged
	# (a deleted object found by listing leaves no trace there).
	case $2:$3 in
	index:delete | index:rollback | snapshots:delete | snapshots:rollback | names:*) ;;
	index:* | snapshots:* | dicts:*)
		CACHE=$fresh run cfs check
		[ "$RC" = 1 ] || { _lib_show_output; fail "$CASE: check from a fresh cache exits $RC, expected 1"; }
		[ "$2:$3" = dicts:delete ] || expect_in "$ERR" "$OBJ" "$CASE: check from a fresh cache does not name $OBJ"
		;;
	esac
	# restore (the first snapshot through the case's cache, the second
	# through a fresh one): no wrong bytes, nothing unnamed.
	restore_safe "$S1" "$B/files1"
	restore_safe "$S2" "$B/files2" "$WORK/case/fresh-restore"
	# The mount where bytes could be passed off as others: flips and swaps
	# (truncations and deletions fail the same way restore shows).
	case $3 in
	flip | swap) [ "$HAVE_FUSE" = 0 ] || [ "$DATA" = 0 ] || mount_safe ;;
	esac
	# The next backup, where a writer can open the repository at all.
	if [ "$2" = keys ] || { [ "$2" = config ] && [ "$3" != flip ] && [ "$3" != rollback ]; }; then
		expect_exit 1 cfs snapshot create "$SRC"
		expect_in "$ERR" "$OBJ"
	else
		next_backup_whole
	fi
	log "ok: $CASE"
}

NT=0
kinds_enc="config keys blobs header trailer index snapshots dicts names locks"
for enc in aes-256-gcm none; do
	base "$enc"
	for kind in $kinds_enc; do
		for how in flip trunc0 trunchalf trunc1 delete swap rollback; do
			# Where a case does not apply, and why.
			case $kind:$how in
			config:swap | keys:swap | dicts:swap) continue ;; # one object of its kind
			keys:rollback | dicts:rollback) continue ;;     # never changes once written
			header:* | trailer:*) [ "$how" = flip ] || continue ;; # the pack's other damages are the "blobs" rows
			esac
			if [ "$enc" = none ]; then
				# Unencrypted: only where integrity rests on hashes,
				# not on tags (flips and swaps of what has content).
				case $kind:$how in
				config:* | keys:* | locks:*) continue ;;
				*:flip | *:swap) ;;
				*) continue ;;
				esac
			fi
			# T3004_ONLY (a regular expression over "ENC KIND HOW"):
			# some cases only, when debugging.
			[[ "$enc $kind $how" =~ ${T3004_ONLY:-.} ]] || continue
			run_case "$enc" "$kind" "$how"
		done
	done
	# The whole repository rolled back, under the cache that saw more.
	B=$WORK/base-$enc
	CASE="$enc the whole repository rolled back"
	rm -rf "$WORK/case"
	mkdir -p "$WORK/case"
	cp -a "$B/repo0" "$WORK/case/repo"
	cp -a "$B/cache" "$WORK/case/cache"
	REPO=$WORK/case/repo
	CACHE=$WORK/case/cache
	expect_exit 1 cfs check
	expect_in "$ERR" "$S2"
	restore_safe "$S1" "$B/files1"
	# By its id the second snapshot is gone; by its name (a time) the one
	# in effect then, the first, is restored, and the output says so.
	expect_exit 1 cfs restore "$S2_ID" "$WORK/t-gone"
	expect_in "$ERR" "$S2_ID"
	restore_safe "$S2" "$B/files2"
	expect_in "$WORK/restore.err" "Using snapshot $S1 "
	next_backup_whole
	log "ok: $CASE"
done
log "ok: every kind of object, damaged every way, is named and never read wrong"
