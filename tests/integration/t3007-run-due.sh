#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chronoctl run --due on a fake clock (CHRONOFS_TEST_NOW, test builds only),
# stepped every 6 hours through two simulated weeks (issue 15):
#  1. a tier with full weekly (Monday 00:00), differential daily (00:00)
#     and incremental every 6 h takes exactly F I I I on Mondays and
#     D I I I on the other days, 56 snapshots in all;
#  2. `run --due` between two elapses does nothing (no line, no snapshot,
#     no state written);
#  3. forget by the tier's keep rules leaves exactly the snapshots the
#     rules name at the end;
#  4. a 2-day gap is caught up by ONE run (a full one: a Monday passed),
#     and a second run at the same time does nothing;
#  5. a job of the built-in critical tier: full, then incremental an hour
#     later, nothing forgotten (keep forever);
#  6. under the fake clock a backup reads every file again (the racy-ctime
#     trust needs snapshot and file times from one clock): an incremental
#     snapshot reads all bytes, where a real-clock one reads none.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"
run env CHRONOFS_TEST_NOW=not-a-time "$CHRONOCTL" --help
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true (no fake clock)"
expect_in "$ERR" "Invalid CHRONOFS_TEST_NOW"

export TZ=UTC
CONF=$WORK/chronofs.conf
STATE=$WORK/state
printf '%s\n' "$PASSWORD" >"$WORK/pass"
mkdir -p "$WORK/src/sub"
for i in 1 2 3; do head -c 20000 /dev/urandom >"$WORK/src/f$i"; done
echo small >"$WORK/src/sub/s"
SRC_BYTES=$(( 3 * 20000 + 6 ))

cat >"$CONF" <<EOF
[global]
state_dir = $STATE

[repository main]
location = $REPO
password_file = $WORK/pass
cache_dir = $CACHE

[tier small]
schedule = *-*-* 00/6:00:00
full = Mon *-*-* 00:00:00
differential = *-*-* 00:00:00
incremental = *-*-* 00/6:00:00
keep = last:4 daily:3 weekly:2
rpo = 1h

[job files]
tier = small
repository = main
path = $WORK/src

[job crit]
tier = critical
repository = main
path = $WORK/src/sub
EOF

# crun TIME ARGS...: chronoctl --config at fake time TIME.
crun() {
	local t=$1
	shift
	CHRONOFS_TEST_NOW=$t timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" --config "$CONF" "$@"
}
CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$REPO" --cache-dir "$CACHE" init >/dev/null

# --- 1. two weeks, every 6 hours -------------------------------------------
start=$(date -u -d 2026-03-02T00:00:00Z +%s) # a Monday
seq_types=""
for step in $(seq 0 55); do
	t=$(( start + step * 21600 ))
	ok crun "@$t" run --due --json files
	[ "$(jq length "$OUT")" = 1 ] || fail "step $step: $(cat "$OUT")"
	[ "$(jq -r '.[0].result' "$OUT")" = ok ] || fail "step $step: $(cat "$OUT")"
	want_name=$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)
	[ "$(jq -r '.[0].snapshot' "$OUT")" = "$want_name" ] ||
		fail "step $step: snapshot $(jq -r '.[0].snapshot' "$OUT"), expected the fake time $want_name"
	seq_types+=$(jq -r '.[0].type[0:1]' "$OUT" | tr fdi FDI)
	# The tier prunes weekly (Monday 00:00, from normal): at the first run
	# (none recorded), then when a Monday has passed since.
	case $step in 0 | 28) want_pruned=true ;; *) want_pruned=false ;; esac
	[ "$(jq -r '.[0].pruned' "$OUT")" = "$want_pruned" ] || fail "step $step: pruned is not $want_pruned: $(cat "$OUT")"
	if [ "$step" = 0 ]; then
		# --- 2. between two elapses nothing is due ---------------------------
		cp "$STATE/jobs/files.last" "$WORK/last.before"
		ok crun "@$(( t + 3 * 3600 ))" run --due files
		[ ! -s "$OUT" ] || fail "run --due printed something with nothing due: $(cat "$OUT")"
		cmp -s "$STATE/jobs/files.last" "$WORK/last.before" || fail "run --due with nothing due wrote files.last"
		ok crun "@$(( t + 3 * 3600 ))" run --due --json files
		[ "$(jq length "$OUT")" = 0 ] || fail "run --due --json with nothing due: $(cat "$OUT")"
	fi
done
want=""
for day in $(seq 0 13); do
	if [ $(( day % 7 )) = 0 ]; then want+=FIII; else want+=DIII; fi
done
[ "$seq_types" = "$want" ] || fail "rotation over two weeks: $seq_types, expected $want"
log "rotation over 56 runs: $seq_types"

# --- 3. what the keep rules kept ----------------------------------------------
kept() {
	CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$REPO" --cache-dir "$CACHE" snapshot list --json |
		jq -r '[.[] | select(.paths == ["'"$WORK/src"'"]) | .name] | join(" ")'
}
# last:4 -> the four of Sunday 15th; daily:3 -> 15th, 14th, 13th 18:00;
# weekly:2 -> 15th 18:00 and Sunday 8th 18:00; the rotation's anchors:
# the newest full (9th 00:00) and differential (15th 00:00).
want_kept="2026-03-08T18:00:00Z 2026-03-09T00:00:00Z 2026-03-13T18:00:00Z 2026-03-14T18:00:00Z 2026-03-15T00:00:00Z 2026-03-15T06:00:00Z 2026-03-15T12:00:00Z 2026-03-15T18:00:00Z"
[ "$(kept)" = "$want_kept" ] || fail "kept after two weeks: $(kept); expected $want_kept"
grep -qx 'result=ok' "$STATE/jobs/files.last" || fail "files.last: $(cat "$STATE/jobs/files.last")"
grep -qx 'snapshot=2026-03-15T18:00:00Z' "$STATE/jobs/files.last" || fail "files.last: $(cat "$STATE/jobs/files.last")"

# --- 4. a 2-day gap: one run catches up ---------------------------------------
gap=2026-03-17T20:00:00Z
ok crun "$gap" run --due --json files
[ "$(jq length "$OUT")" = 1 ] || fail "after a 2-day gap: $(cat "$OUT")"
[ "$(jq -r '.[0] | [.job, .type, .snapshot] | join(" ")' "$OUT")" = "files full $gap" ] ||
	fail "after a 2-day gap (a Monday passed) one full snapshot at $gap expected: $(cat "$OUT")"
ok crun "$gap" run --due --json files
[ "$(jq length "$OUT")" = 0 ] || fail "the gap was caught up, yet run --due ran again: $(cat "$OUT")"
want_kept="2026-03-14T18:00:00Z 2026-03-15T06:00:00Z 2026-03-15T12:00:00Z 2026-03-15T18:00:00Z $gap"
[ "$(kept)" = "$want_kept" ] || fail "kept after the gap: $(kept); expected $want_kept"

# --- 5. the built-in critical tier --------------------------------------------
ok crun 2026-03-18T00:30:00Z run crit --json
[ "$(jq -r '.[0] | [.type, .result, .forgotten] | join(" ")' "$OUT")" = "full ok 0" ] ||
	fail "critical, first run: $(cat "$OUT")"
ok crun 2026-03-18T00:59:00Z run --due --json crit
[ "$(jq length "$OUT")" = 0 ] || fail "critical (hourly) is due before the hour: $(cat "$OUT")"
ok crun 2026-03-18T01:00:00Z run --due --json crit
[ "$(jq -r '.[0] | [.type, .result, .forgotten] | join(" ")' "$OUT")" = "incremental ok 0" ] ||
	fail "critical, an hour later: $(cat "$OUT")"
ok crun 2026-03-18T07:00:00Z run --due --json crit
[ "$(jq -r '.[0].type' "$OUT")" = differential ] || fail "critical after 06:00: $(cat "$OUT")"
n=$(CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$REPO" --cache-dir "$CACHE" snapshot list --json |
	jq '[.[] | select(.paths == ["'"$WORK/src/sub"'"])] | length')
[ "$n" = 3 ] || fail "critical keeps forever: $n snapshots, expected 3"

# --- 6. the fake clock and the parent's trust ---------------------------------
# Every incremental run above read the whole source again ...
CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$REPO" --cache-dir "$CACHE" snapshot show --json 2026-03-15T18:00:00Z >"$WORK/inc.json"
[ "$(jq -r .type "$WORK/inc.json")" = incremental ] || fail "2026-03-15T18:00:00Z is not incremental"
[ "$(jq -r .stats.bytes_read "$WORK/inc.json")" = "$SRC_BYTES" ] ||
	fail "an incremental snapshot under the fake clock read $(jq -r .stats.bytes_read "$WORK/inc.json") bytes, expected all $SRC_BYTES (no parent entry may be trusted)"
# (Not 0: the trees of /tmp and above change with whatever else runs.)
[ "$(jq -r '.stats.bytes_added < 4096' "$WORK/inc.json")" = true ] ||
	fail "re-reading stored the data again: $(cat "$WORK/inc.json")"
# ... while on the real clock an unchanged file is taken from the parent.
R2=$WORK/repo2
CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$R2" --cache-dir "$CACHE" init >/dev/null
sleep 2.1 # older than the racy window of whole-second file systems
CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$R2" --cache-dir "$CACHE" snapshot create --json "$WORK/src" >/dev/null
CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$R2" --cache-dir "$CACHE" snapshot create --json "$WORK/src" >"$WORK/real.json"
[ "$(jq -r .stats.bytes_read "$WORK/real.json")" = 0 ] ||
	fail "on the real clock an incremental snapshot of unchanged files read $(jq -r .stats.bytes_read "$WORK/real.json") bytes"
log "ok"
