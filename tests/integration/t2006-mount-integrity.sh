#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A damaged chunk in the repository: reading the affected range through the
# mount fails with EIO, every other range of that file reads the right
# bytes, other files read fine, and the daemon keeps serving. Never wrong
# bytes. A snapshot whose packs were deleted gives EIO too.
#
# Two snapshots of two trees put a 12 MiB file (~12 chunks) and a 6 MiB file
# into different packs (every commit finishes its pack); one byte in the
# middle of the first file's pack is flipped, so one of its middle chunks is
# damaged. The mount uses a fresh cache dir, so nothing comes from a local
# copy. The file is read in 256 KiB windows, with O_DIRECT when the mount
# allows it (exact ranges reach the daemon), else buffered (readahead may
# widen a failing range a little).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse

KiB=1024
MiB=$((1024 * KiB))
SRC_A=$WORK/src-a
SRC_B=$WORK/src-b
mkdir -p "$SRC_A" "$SRC_B"
rand_file "$SRC_A/victim" $((12 * MiB))
rand_file "$SRC_B/other" $((6 * MiB))
printf 'small\n' >"$SRC_A/small"

ok cfs init
snap_create "$SRC_A"
name1=$SNAP_NAME
find "$REPO/data" -type f | sort >"$WORK/packs.1"
snap_create "$SRC_B"
name2=$SNAP_NAME
find "$REPO/data" -type f | sort >"$WORK/packs.2"
# A third snapshot whose packs will be deleted outright.
SRC_C=$WORK/src-c
mkdir -p "$SRC_C"
rand_file "$SRC_C/lost" $((3 * MiB))
snap_create "$SRC_C"
name3=$SNAP_NAME
find "$REPO/data" -type f | sort >"$WORK/packs.3"
comm -13 "$WORK/packs.2" "$WORK/packs.3" >"$WORK/packs.lost"
[ -s "$WORK/packs.lost" ] || fail "snapshot 3 wrote no new pack"
xargs -r rm -f -- <"$WORK/packs.lost"

# The largest pack of the first snapshot holds the victim's chunks.
victim_pack=$(xargs -r stat -c '%s %n' <"$WORK/packs.1" | sort -n | tail -n 1 | cut -d' ' -f2-)
[ -n "$victim_pack" ] || fail "no pack after the first snapshot"
psize=$(stat -c %s "$victim_pack")
[ "$psize" -gt $((10 * MiB)) ] || fail "largest pack of snapshot 1 is $psize bytes; expected the 12 MiB file in it"
grep -qxF -- "$victim_pack" "$WORK/packs.2" || fail "test bug: $victim_pack vanished"
[ "$(comm -13 "$WORK/packs.1" "$WORK/packs.2" | wc -l)" -ge 1 ] || fail "snapshot 2 wrote no new pack"

off=$((psize / 2))
orig=$(dd if="$victim_pack" bs=1 skip="$off" count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\x$(printf '%02x' $((orig ^ 0x5a)))" | dd of="$victim_pack" bs=1 seek="$off" conv=notrunc status=none
log "flipped byte $off of $(basename "$victim_pack") ($psize bytes)"

MNT=$WORK/mnt
FS_CACHE=$WORK/cache-mount
mount_fs "$MNT"
V=$MNT/$name1$SRC_A/victim
O=$MNT/$name2$SRC_B/other
[ -f "$V" ] && [ -f "$O" ] || fail "files not found in the mount"
[ "$(stat -c %s "$V")" = $((12 * MiB)) ] || fail "victim has the wrong size in the mount"

# Direct I/O if the mount accepts it.
dflag=iflag=direct
dd if="$O" of=/dev/null bs=256K count=1 $dflag status=none 2>/dev/null || dflag=
log "reading with ${dflag:-buffered I/O}"

W=$((256 * KiB))
nwin=$((12 * MiB / W))
fails=()
good=0
for ((i = 0; i < nwin; i++)); do
	rc=0
	dd if="$V" of="$WORK/win" bs=$W skip=$i count=1 $dflag status=none 2>"$WORK/win.err" || rc=$?
	if [ "$rc" != 0 ]; then
		grep -qF "Input/output error" "$WORK/win.err" ||
			fail "window $i (offset $((i * W))): read failed, but not with EIO: $(cat "$WORK/win.err")"
		fails+=("$i")
		# Whatever dd got before the error must still be right.
		if [ -s "$WORK/win" ]; then
			dd if="$SRC_A/victim" bs=$W skip=$i count=1 status=none | cmp -s -n "$(stat -c %s "$WORK/win")" - "$WORK/win" ||
				fail "window $i: WRONG BYTES returned before the EIO"
		fi
	else
		[ "$(stat -c %s "$WORK/win")" = "$W" ] || fail "window $i: short read ($(stat -c %s "$WORK/win") bytes) without an error"
		dd if="$SRC_A/victim" bs=$W skip=$i count=1 status=none | cmp -s - "$WORK/win" ||
			fail "window $i (offset $((i * W))): read succeeded with WRONG BYTES"
		good=$((good + 1))
	fi
done
log "windows failing with EIO: ${fails[*]:-none}; $good of $nwin read correctly"
[ "${#fails[@]}" -ge 1 ] || fail "no window of the damaged file failed: the flipped byte went unnoticed"
# One damaged chunk (<= 4 MiB): one contiguous run of failing windows.
first=${fails[0]}
last=${fails[${#fails[@]} - 1]}
[ $((last - first + 1)) = "${#fails[@]}" ] || fail "failing windows are not contiguous: ${fails[*]}"
max=$((4 * MiB / W + 1))
[ -n "$dflag" ] || max=$((max + 2 * MiB / W)) # readahead slack
[ "${#fails[@]}" -le "$max" ] || fail "${#fails[@]} windows fail; one damaged chunk covers at most $max"
[ "$first" -gt 0 ] && [ "$last" -lt $((nwin - 1)) ] ||
	log "note: the damaged range touches the start or end of the file (windows $first..$last)"

# The same damaged range fails again (no wrong bytes cached); a good window
# right before or after it still reads.
rc=0
dd if="$V" of=/dev/null bs=$W skip="$first" count=1 $dflag status=none 2>/dev/null || rc=$?
[ "$rc" != 0 ] || fail "window $first read fine the second time"
# Buffered whole-file read: fails, and what it returned is a correct prefix.
rc=0
cat "$V" >"$WORK/cat.out" 2>"$WORK/cat.err" || rc=$?
[ "$rc" != 0 ] || fail "cat of the damaged file succeeded"
grep -qF "Input/output error" "$WORK/cat.err" || fail "cat of the damaged file: $(cat "$WORK/cat.err"), expected EIO"
got=$(stat -c %s "$WORK/cat.out")
[ "$got" -le $(((last + 1) * W)) ] || fail "cat returned $got bytes, past the damaged range"
cmp -s -n "$got" "$SRC_A/victim" "$WORK/cat.out" || fail "cat of the damaged file returned WRONG BYTES before the error"

# Other files are untouched; the daemon still serves.
cmp -s "$SRC_B/other" "$O" || fail "the other file (in an undamaged pack) does not read correctly"
cmp -s "$SRC_A/small" "$MNT/$name1$SRC_A/small" || fail "small file of the damaged snapshot does not read"
_lib_pid_alive "$FS_PID" || { cat "$FS_LOG" >&2; fail "the daemon died"; }
listing=$(ls "$MNT")
grep -qxF -- "$name2" <<<"$listing" || fail "the mount root no longer lists $name2"
[ "$(readlink "$MNT/latest")" = "$name3" ] || fail "latest broken after the EIO"
# The snapshot whose packs are gone: EIO (wherever it shows first: listing
# the snapshot, looking the file up or reading it), never success, and
# never an empty directory instead of the lost tree.
run ls -A "$MNT/$name3"
if [ "$RC" = 0 ]; then
	[ -s "$OUT" ] || fail "snapshot $name3 (its packs deleted) lists as an empty directory instead of failing with EIO"
else
	expect_in "$ERR" "Input/output error" "listing snapshot $name3 (packs deleted): expected EIO"
fi
rc=0
cat "$MNT/$name3$SRC_C/lost" >"$WORK/lost.out" 2>"$WORK/lost.err" || rc=$?
[ "$rc" != 0 ] || fail "a file whose packs were deleted was read successfully"
grep -qF "Input/output error" "$WORK/lost.err" || fail "reading a file whose packs are gone: $(cat "$WORK/lost.err"), expected EIO"
[ ! -s "$WORK/lost.out" ] || fail "reading a file whose packs are gone returned bytes"
# Still serving after that.
cmp -s "$SRC_B/other" "$O" || fail "the other file no longer reads after the lost snapshot was accessed"
umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after unmount"; }
log "ok: damaged chunk -> EIO on windows $first..$last only, no wrong bytes"
