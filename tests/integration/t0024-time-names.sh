#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Every place that takes SNAP takes a time, in the forms people type, and
# resolves it the same way (issue 14): restore, snapshot show, hold,
# release, forget and chronofs -o snapshot= say "Using snapshot NAME (the
# one in effect at TIME)"; ISO 8601 basic and extended forms, any offset,
# minute and day precision meaning the end of that minute or day, local
# times (TZ), now / -2h / yesterday in chronoctl; a name before a time; the
# messages for a time before the first snapshot, for no time at all and for
# an empty repository; the mount's root takes the absolute forms only, an
# offset-less one as UTC (not the daemon's TZ), and clamps the far future.
# Forces commit times with CHRONOFS_TEST_SNAPSHOT_TIME (fault-injection
# builds; skipped otherwise).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

export TZ=UTC
SRC=$WORK/src
mkdir -p "$SRC"
ok cfs init

# --- an empty repository ------------------------------------------------------
for cmd in "snapshot show latest" "restore latest $WORK/never" "snapshot show 2026-11-06"; do
	# shellcheck disable=SC2086 # words
	expect_exit 1 cfs $cmd
	expect_in "$ERR" "has no snapshots yet" "$cmd on an empty repository"
	expect_in "$ERR" "$REPO" "$cmd on an empty repository: the repository"
done
[ ! -e "$WORK/never" ] || fail "restore from an empty repository made its target"

# --- snapshots at known times ---------------------------------------------------
# S1..S3 at fixed times (S3 half a second into S2's second, so it gets the
# millisecond name), S4 three hours ago, S5 ten minutes ago.
now=$(date -u +%s)
rfc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
t4=$((now - 3 * 3600))
t5=$((now - 600))
declare -A ID NAME
i=0
for t in 2026-11-06T23:00:00Z 2026-11-07T11:00:00Z 2026-11-07T11:00:00.5Z "$(rfc $t4)" "$(rfc $t5)"; do
	i=$((i + 1))
	printf 'content %s\n' "$i" >"$SRC/f"
	CHRONOFS_TEST_SNAPSHOT_TIME=$t snap_create "$SRC"
	ID[$i]=$SNAP_ID
	NAME[$i]=$SNAP_NAME
done
[ "${NAME[1]}" = 2026-11-06T23:00:00Z ] || skip "chronoctl built without -Dfault_injection=true (commit time not forced)"
[ "${NAME[3]}" = 2026-11-07T11:00:00.500Z ] || fail "the third snapshot is named ${NAME[3]}"

# which FORM [TZ]: the snapshot SNAP resolves to (show --json), and the
# "Using snapshot" line for a time
which() {
	local form=$1 tz=${2:-UTC}
	TZ=$tz expect_exit 0 cfs snapshot show --json "$form"
	WHICH=$(json_get "$OUT" .id)
}
# expect FORM N [TZ]: FORM resolves to snapshot N, said so
expect() {
	local form=$1 n=$2 tz=${3:-UTC}
	which "$form" "$tz"
	[ "$WHICH" = "${ID[$n]}" ] || fail "\"$form\" (TZ $tz) resolved to $WHICH, expected ${NAME[$n]} (${ID[$n]})"
	expect_in "$ERR" "Using snapshot ${NAME[$n]} (the one in effect at" "\"$form\" (TZ $tz)"
}
expect 2026-11-06T23:17:03Z 1
expect 2026-11-06T23:17:03z 1
expect 2026-11-06t23:17:03.25Z 1
expect 2026-11-07T00:17:03+01:00 1
expect 2026-11-06T22:17:03-01:00 1
expect 2026-11-06T23:17:03+0000 1
expect 2026-11-07T00:17:03+01 1
expect 20261106T231703Z 1
expect "2026-11-06 23:17:03Z" 1
expect 2026-11-06T23:17:03 1
expect 2026-11-07T10:59Z 1
expect 20261107T1059Z 1
expect_in "$ERR" "the one in effect at 2026-11-07T10:59:59Z" "minute precision: the end of the minute"
# the end of the day, in the local zone: New York's Nov 6 ends at 05:00Z on
# the 7th (S1); Tokyo's at 15:00Z on the 6th, before any snapshot
expect 2026-11-06 1
expect 2026-11-06 1 America/New_York
expect_in "$ERR" "the one in effect at 2026-11-07T04:59:59Z" "2026-11-06 in New York"
expect 20261106 1
TZ=Asia/Tokyo expect_exit 1 cfs snapshot show 2026-11-06
expect_in "$ERR" "No snapshot was in effect at 2026-11-06T14:59:59Z" "2026-11-06 in Tokyo"
# local times: Berlin is +01:00 in November
expect 2026-11-07T11:59 1 Europe/Berlin
expect "2026-11-07 12:00:00" 3 Europe/Berlin
# a name exactly is that snapshot; the same second as a time is the last
# snapshot made in it (a time means the end of its second)
expect 2026-11-07T11:00:00+00:00 3
which 2026-11-07T11:00:00Z
[ "$WHICH" = "${ID[2]}" ] || fail "the name 2026-11-07T11:00:00Z did not give its own snapshot"
if grep -q "Using snapshot" "$ERR"; then fail "a name was resolved as a time"; fi
expect 2026-11-07T11:00Z 3
expect 2026-11-07 3
# relative forms, from the clock
expect now 5
expect today 5
expect -30m 4
expect now-2h 4
expect -2h 4
expect -5h 3
expect -1w 3
y=$(($(date -u -d 'today 00:00' +%s) - 1))
if [ "$t4" -le "$y" ]; then expect yesterday 4; else expect yesterday 3; fi
# the far future: clamped, the newest
expect 2300-01-01T00:00:00Z 5
expect 9999-12-31 5
# an id prefix, latest: as before, and no "Using" line for them
which "${ID[2]:0:8}"
[ "$WHICH" = "${ID[2]}" ] || fail "id prefix ${ID[2]:0:8} resolved to $WHICH"
which latest
[ "$WHICH" = "${ID[5]}" ] || fail "latest resolved to $WHICH"

# --- the messages --------------------------------------------------------------
expect_exit 1 cfs snapshot show 2026-11-06T10:00Z
expect_in "$ERR" "No snapshot was in effect at 2026-11-06T10:00:59Z" "a time before the first snapshot"
expect_in "$ERR" "the first is 2026-11-06T23:00:00Z" "a time before the first snapshot: the first"
expect_in "$ERR" "$REPO" "a time before the first snapshot: the repository"
expect_exit 1 cfs snapshot show 1600-01-01T00:00:00Z
expect_in "$ERR" "No snapshot was in effect at 1600-01-01T00:00:00Z" "a time before 1677"
for bad in garbage 2026-13-45 2026-11-06T25:00Z "2026-11-06  10:00" 2026-11 -2y; do
	expect_exit 1 cfs snapshot show -- "$bad"
	expect_in "$ERR" "No snapshot \"$bad\"" "\"$bad\""
	expect_in "$ERR" "not a time" "\"$bad\": says it is no time"
	expect_in "$ERR" "20261206T231703Z" "\"$bad\": lists the forms"
	expect_in "$ERR" "$REPO" "\"$bad\": the repository"
done

# --- restore, hold, release, forget ------------------------------------------------
ok cfs restore 2026-11-07T10:59Z "$WORK/r1"
expect_in "$ERR" "Using snapshot ${NAME[1]} (the one in effect at 2026-11-07T10:59:59Z)" "restore by time"
[ "$(cat "$WORK/r1$SRC/f")" = "content 1" ] || fail "restore 2026-11-07T10:59Z restored $(cat "$WORK/r1$SRC/f")"
ok cfs restore "2026-11-07T12:00+01:00:$SRC/f" "$WORK/r2"
[ "$(cat "$WORK/r2$SRC/f")" = "content 3" ] || fail "restore SNAP:PATH by time restored the wrong content"
ok cfs restore -5h "$WORK/r3"
[ "$(cat "$WORK/r3$SRC/f")" = "content 3" ] || fail "restore -5h restored $(cat "$WORK/r3$SRC/f")"
TZ=Asia/Tokyo expect_exit 1 cfs restore 2026-11-06 "$WORK/r4"
expect_in "$ERR" "No snapshot was in effect at 2026-11-06T14:59:59Z" "restore 2026-11-06 in Tokyo"
[ ! -e "$WORK/r4" ] || fail "a restore of no snapshot made its target"
ok cfs snapshot hold 2026-11-07T10:59Z --reason "case 7"
expect_in "$ERR" "Using snapshot ${NAME[1]}" "hold by time"
ok cfs snapshot holds
grep "case 7" "$OUT" | grep -qF "${NAME[1]}" || fail "hold by time did not hold ${NAME[1]}: $(cat "$OUT")"
ok cfs snapshot release 20261106T2330Z
expect_in "$ERR" "Using snapshot ${NAME[1]}" "release by time"
# a relative time is SNAP wherever it stands, and an option's value stays whole
ok cfs snapshot hold --reason -3d -5h
ok cfs snapshot holds
grep -e "-3d" "$OUT" | grep -qF "${NAME[3]}" || fail "hold --reason -3d -5h: $(cat "$OUT")"
ok cfs snapshot release -5h
# forget never takes a time (run twice, it would forget an older snapshot
# the second time): refused, naming the snapshot in effect, nothing forgotten
for t in 2026-11-07 -3h; do
	expect_exit 1 cfs forget "$t"
	expect_in "$ERR" "never a time" "forget $t"
done
expect_exit 1 cfs forget "${NAME[4]}" 2026-11-07
expect_in "$ERR" "the snapshot in effect then is ${NAME[3]}" "forget 2026-11-07"
[ "$(snap_count)" = 5 ] || fail "a forget by time removed snapshots"
ok cfs forget --dry-run "${NAME[3]}" latest
expect_in "$OUT" "would remove ${NAME[3]}" "forget --dry-run NAME"
expect_in "$OUT" "would remove ${NAME[5]}" "forget --dry-run latest"
[ "$(snap_count)" = 5 ] || fail "forget --dry-run removed snapshots"

# --- the mount ---------------------------------------------------------------------
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null || [ ! -x "${CHRONOFS:-}" ]; then
	log "no FUSE: mount part skipped"
	exit 0
fi
MNT=$WORK/mnt
# The daemon in Tokyo: offset-less names are UTC in the mount all the same.
TZ=Asia/Tokyo mount_fs "$MNT"
# root_is NAME N: a lookup of NAME in the root is a symlink to snapshot N
root_is() {
	local got
	run ls -d -- "$MNT/$1"
	[ "$RC" = 0 ] || fail "ls -d mnt/$1: $(cat "$ERR")"
	got=$(readlink -- "$MNT/$1")
	[ "$got" = "${NAME[$2]}" ] || fail "mnt/$1 -> $got, expected ${NAME[$2]}"
	[ "$(cat "$MNT/$1$SRC/f")" = "content $2" ] || fail "mnt/$1 does not show snapshot $2's content"
}
root_is 2026-11-06 1
root_is 20261106 1
root_is 2026-11-07T10:59Z 1
root_is 2026-11-07T11:59+01:00 1
root_is 2026-11-07T12:00+0100 3
root_is 2026-11-07T06:00-05 3
root_is 20261107T110000Z 3
root_is 2026-11-07T11:00 3
root_is 2300-01-01T00:00:00Z 5
root_is 9999-12-31T23:59:59Z 5
for bad in 2026-11-06T10:00Z 1600-01-01 now -2h yesterday garbage 2026-11-06Z; do
	run ls -d -- "$MNT/$bad"
	[ "$RC" != 0 ] || fail "mnt/$bad resolved to something"
	expect_in "$ERR" "No such file or directory" "mnt/$bad: expected ENOENT"
done
umount_fs "$MNT"
# -o snapshot= takes a time, says which snapshot it picked
mount_fs "$MNT" -o snapshot=2026-11-07T10:59Z
[ "$(cat "$MNT$SRC/f")" = "content 1" ] || fail "-o snapshot=2026-11-07T10:59Z mounted another snapshot"
expect_in "$FS_LOG" "Using snapshot ${NAME[1]} (the one in effect at 2026-11-07T10:59:59Z)" "-o snapshot= by time"
umount_fs "$MNT"
run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" -f \
	-o snapshot=2026-11-06T10:00Z "$REPO" "$MNT"
[ "$RC" != 0 ] || { fusermount3 -u "$MNT"; fail "-o snapshot= before the first snapshot mounted"; }
expect_in "$ERR" "No snapshot was in effect at 2026-11-06T10:00:59Z" "-o snapshot= before the first snapshot"
log "ok"
