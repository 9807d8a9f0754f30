#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Progress of long jobs (chronoctl(8) PROGRESS). Under a pseudo-terminal
# (script(1)): a first backup shows a percentage and an ETA (its totals come
# from the count-ahead thread: there is no parent), and so do a restore and
# check --read-data; the restore's JSON stream ends with its summary. Off a terminal: no status line on stderr. With
# --json-progress: every line of stdout is a JSON object, status objects
# first and the summary last; a first backup's status objects carry
# entries_total and bytes_total, counted without what --exclude leaves out
# (else the percentage would pass 100%).
#
# CHRONOFS_PROGRESS_DELAY_MS=0 shows status lines from a job's start (the
# default waits one second), so a few seconds of work suffice: 6 x 16 MiB
# of random data (incompressible: check --read-data reads as much).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null || skip "script(1) (util-linux) is missing"
export CHRONOFS_PROGRESS_DELAY_MS=0

SRC=$WORK/src
mkdir -p "$SRC/data" "$SRC/skip"
for i in 1 2 3 4 5 6; do
	rand_file "$SRC/data/r$i" $((16 << 20))
done
make_texts "$SRC/texts" 1 1500
# Excluded: neither read nor counted.
rand_file "$SRC/skip/big" $((32 << 20))
ok cfs init

# A backup of this tree can take less than the 250 ms between two statuses
# on a fast machine (the later ones only hash: the data is stored). With
# fault injection (the test suite's build), the walk sleeps 0.6 s once it
# has listed texts/, so that statuses after the count are certain.
mkdir "$WORK/probe-src"
"$CHRONOCTL" --repo "$WORK/probe" init --encryption none >/dev/null 2>&1
CHRONOFS_FAULTS='ingest.dir:*:run' CHRONOFS_FAULT_RUN="touch $WORK/probe-ran" \
	"$CHRONOCTL" --repo "$WORK/probe" --cache-dir "$WORK/probe-cache" snapshot create "$WORK/probe-src" >/dev/null 2>&1 || true
if [ -e "$WORK/probe-ran" ]; then
	export CHRONOFS_FAULTS='ingest.dir:*:run'
	export CHRONOFS_FAULT_RUN='case $CFS_FAULT_PATH in */texts) sleep 0.6 ;; esac'
else
	log "note: built without fault injection: the backups' statuses depend on the machine's speed"
fi

# tty_run ARGS...: chronoctl ARGS on a pseudo-terminal; its terminal output
# (stdout and stderr) in $OUT, with the status line's redraws as lines.
tty_run() {
	local cmd
	cmd=$(printf '%q ' "$CHRONOCTL" "$@")
	run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		timeout -k 10 300 script -qec "$cmd" /dev/null
	[ "$RC" = 0 ] || { _lib_show_output; fail "on a terminal: chronoctl $* exited $RC"; }
	tr '\r' '\n' <"$OUT" >"$WORK/tty.txt"
}

# expect_status WHAT UNIT: a status line with a percentage and an ETA.
expect_status() {
	grep -qE "[0-9,]+/[0-9,]+ $2 \([0-9]+%\).*, ETA [0-9]+:[0-9]{2}" "$WORK/tty.txt" || {
		cat -v "$WORK/tty.txt" | head -n 20 >&2
		fail "$1 on a terminal: no status line with a percentage and an ETA"
	}
}

# A first backup (no parent) on a terminal.
tty_run snapshot create --exclude "$SRC/skip" "$SRC"
expect_status "a first backup" entries
grep -qE "MiB/[0-9.]+ MiB" "$WORK/tty.txt" || fail "a first backup: no byte total in the status line"

# Off a terminal: nothing but the summary; no status line, no escapes.
ok cfs snapshot create --exclude "$SRC/skip" "$SRC"
if grep -q $'\r\|\e\|entries (' "$ERR"; then
	cat -v "$ERR" >&2
	fail "status lines on a standard error that is not a terminal"
fi
expect_in "$OUT" "incremental"

# The JSON stream of a full backup (re-reads everything: counted ahead).
ok cfs snapshot create --type full --json-progress --exclude "$SRC/skip" "$SRC"
cp "$OUT" "$WORK/stream.json"
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" >"$WORK/line.json"
	json_valid "$WORK/line.json" || fail "--json-progress line $n is not JSON: $line"
done <"$WORK/stream.json"
[ "$n" -ge 3 ] || fail "--json-progress: $n lines, expected status objects and a summary"
tail -n 1 "$WORK/stream.json" >"$WORK/summary.json"
[ "$(json_get "$WORK/summary.json" .message_type)" = summary ] || fail "--json-progress: the last object is not the summary"
[ "$(json_get "$WORK/summary.json" .type)" = full ] || fail "--json-progress: the summary lacks the snapshot's fields"
nodes=$(json_get "$WORK/summary.json" .nodes)
full_id=$(json_get "$WORK/summary.json" .id)
read_bytes=$(json_get "$WORK/summary.json" .stats.bytes_read)
head -n -1 "$WORK/stream.json" >"$WORK/status.json"
if grep -v '"message_type":"status"' "$WORK/status.json"; then fail "--json-progress: not a status object before the summary"; fi
# Totals once counted: the entries and bytes the backup met (what is
# excluded is not counted: 32 MiB more would show here).
grep '"totals_partial":false' "$WORK/status.json" | head -n -1 >"$WORK/counted.json" || true
[ -s "$WORK/counted.json" ] || fail "--json-progress: no status object with the totals counted"
while IFS= read -r line; do
	printf '%s\n' "$line" >"$WORK/line.json"
	et=$(json_get "$WORK/line.json" .entries_total)
	bt=$(json_get "$WORK/line.json" .bytes_total)
	pd=$(json_get "$WORK/line.json" .percent_done)
	[ "$et" = "$nodes" ] || fail "--json-progress: entries_total $et, the snapshot has $nodes entries"
	[ "$bt" -le $((read_bytes + 65536)) ] && [ "$bt" -ge $((read_bytes - 65536)) ] ||
		fail "--json-progress: bytes_total $bt, the backup read $read_bytes"
	awk -v p="$pd" 'BEGIN { exit !(p >= 0 && p <= 1) }' || fail "--json-progress: percent_done $pd"
done <"$WORK/counted.json"
# Plain --json stays one object.
snap_create "$SRC"
[ "$(wc -l <"$WORK/snap.json")" = 1 ] || fail "--json printed more than one line"
if grep -q message_type "$WORK/snap.json"; then fail "--json has stream fields"; fi

unset CHRONOFS_FAULTS CHRONOFS_FAULT_RUN

# A restore of the full snapshot (its bytes are known: by bytes) on a
# terminal, then with --json-progress, then off a terminal.
tty_run restore "$full_id" "$WORK/r1"
expect_status "a restore" entries
grep -qE "MiB/[0-9.]+ MiB" "$WORK/tty.txt" || fail "a restore: no byte total in the status line"
ok cfs restore --json-progress "$full_id" "$WORK/r2"
while IFS= read -r line; do
	printf '%s\n' "$line" >"$WORK/line.json"
	json_valid "$WORK/line.json" || fail "restore --json-progress: not JSON: $line"
done <"$OUT"
tail -n 1 "$OUT" >"$WORK/summary.json"
[ "$(json_get "$WORK/summary.json" .message_type)" = summary ] || fail "restore --json-progress: no summary last"
[ "$(json_get "$WORK/summary.json" .target)" = "$WORK/r2" ] || fail "restore --json-progress: summary target"
[ "$(json_get "$WORK/summary.json" .errors)" = 0 ] || fail "restore --json-progress: errors"
grep -q '"action":"restore"' "$OUT" || fail "restore --json-progress: no status object"
ok cfs restore "$full_id:$SRC/texts" "$WORK/r3"
if grep -q $'\r\|\e\|entries (' "$ERR"; then fail "restore: status lines off a terminal"; fi
cmp -s "$SRC/data/r5" "$WORK/r1$SRC/data/r5" || fail "restore: wrong data"
rm -rf "$WORK/r1" "$WORK/r2" "$WORK/r3"

# check --read-data on a terminal, and its JSON stream.
tty_run check --read-data
expect_status "check --read-data" packs
expect_in "$WORK/tty.txt" "reading packs"
ok cfs check --read-data --json-progress
tail -n 1 "$OUT" >"$WORK/summary.json"
[ "$(json_get "$WORK/summary.json" .message_type)" = summary ] || fail "check --json-progress: no summary last"
[ "$(json_get "$WORK/summary.json" .problems)" = 0 ] || fail "check --json-progress: problems"
grep -q '"action":"check","phase":"reading packs"' "$OUT" || fail "check --json-progress: no status of the packs read"
ok cfs check --read-data
if grep -q $'\r\|\e\|packs (' "$ERR"; then fail "check: status lines off a terminal"; fi

log "ok: progress on a terminal, none off it, the JSON stream"
