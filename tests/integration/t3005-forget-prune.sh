#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Retention (issue 13): forget by name and by keep rules, holds, prune.
#   - keep rules against a hand-computed table (UTC buckets), with the rule
#     that kept each snapshot in --json; rules that would empty a group are
#     refused (nothing forgotten) unless --allow-empty;
#   - a held snapshot is refused by name (naming the hold) and kept by the
#     rules (reason "hold"); released, it can go;
#   - another cache (another host) drops forgotten snapshots without the
#     "no longer has" warning a loss gives;
#   - prune reclaims what only forgotten snapshots held; check --read-data
#     is clean; the live snapshots restore byte-identical; check --json
#     shows the unused space before and none after;
#   - space: ten snapshots of a churned tree, forget all but the last,
#     prune: the repository is at most 1.05x a fresh one holding only that
#     snapshot;
#   - packs a killed backup left are reclaimed; a stale lock of a process
#     of this host that is gone is removed, not waited for; a lock of
#     another host makes prune condemn and wait (arm), and the next prune
#     after that writer ended deletes.
# Forces commit times with CHRONOFS_TEST_SNAPSHOT_TIME (-Dfault_injection
# builds, as scripts/test makes; skipped otherwise). Every prune and check
# here keeps at most 256 marks in memory (CHRONOFS_TEST_MARKS_IN_MEMORY):
# the on-disk path a repository of millions of blobs takes (524,288 marks
# stay in memory by default, as in t3006, t5005 and t6005).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
export TZ=UTC
export CHRONOFS_TEST_MARKS_IN_MEMORY=256

SRC=$WORK/src
mkdir -p "$SRC/keep"
ok cfs init

# --- keep rules -------------------------------------------------------------
# Ten daily snapshots 2026-11-01 .. 2026-11-10 at 10:00 UTC, each of a tree
# whose "day" file changes every day (2026-11-01 is a Sunday: ISO week 44;
# 11-02..11-08 week 45; 11-09..11-10 week 46).
declare -A ID
for d in 01 02 03 04 05 06 07 08 09 10; do
	head -c 200000 /dev/urandom >"$SRC/day"
	CHRONOFS_TEST_SNAPSHOT_TIME=2026-11-${d}T10:00:00Z snap_create "$SRC"
	[ "$SNAP_NAME" = "2026-11-${d}T10:00:00Z" ] ||
		skip "chronoctl built without -Dfault_injection=true (commit time not forced)"
	ID[$d]=$SNAP_ID
	cp "$SRC/day" "$WORK/day.$d"
done

ok cfs forget --dry-run --json --keep-last 2 --keep-weekly 3
json_valid "$OUT" || fail "forget --json printed invalid JSON"
cp "$OUT" "$WORK/plan.json"
# name -> "action reasons", as computed by hand.
declare -A WANT=(
	[2026-11-10T10:00:00Z]="keep last,weekly"
	[2026-11-09T10:00:00Z]="keep last"
	[2026-11-08T10:00:00Z]="keep weekly"
	[2026-11-07T10:00:00Z]="remove "
	[2026-11-06T10:00:00Z]="remove "
	[2026-11-05T10:00:00Z]="remove "
	[2026-11-04T10:00:00Z]="remove "
	[2026-11-03T10:00:00Z]="remove "
	[2026-11-02T10:00:00Z]="remove "
	[2026-11-01T10:00:00Z]="keep weekly"
)
[ "$(json_get "$WORK/plan.json" length)" = 10 ] || fail "forget --dry-run --json lists $(json_get "$WORK/plan.json" length) snapshots, expected 10"
for i in $(seq 0 9); do
	name=$(json_get "$WORK/plan.json" ".[$i].name")
	got="$(json_get "$WORK/plan.json" ".[$i].action") $(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))[int(sys.argv[2])]["reasons"]))' "$WORK/plan.json" "$i")"
	[ "$got" = "${WANT[$name]}" ] || fail "forget --keep-last 2 --keep-weekly 3: $name: '$got', expected '${WANT[$name]}'"
done
[ "$(snap_count)" = 10 ] || fail "--dry-run forgot something"

# Rules that would remove every snapshot of the group are refused.
expect_exit 1 cfs forget --keep-tag nosuchtag
expect_in "$ERR" "would remove every snapshot of group 1"
[ "$(snap_count)" = 10 ] || fail "a refused forget forgot something"

# --- holds ------------------------------------------------------------------
ok cfs snapshot hold 2026-11-03T10:00:00Z --reason "legal hold: case 42"
expect_exit 1 cfs snapshot hold 2026-11-03T10:00:00Z --reason "again"
expect_in "$ERR" "held already"
expect_exit 1 cfs forget 2026-11-03T10:00:00Z
expect_in "$ERR" "legal hold: case 42"
ok cfs snapshot holds --json
[ "$(json_get "$OUT" '.[0].reason')" = "legal hold: case 42" ] || fail "snapshot holds --json does not show the hold"

ok cfs forget --keep-last 2 --keep-weekly 3
expect_in "$OUT" "hold"
ok cfs snapshot list --json
names=$(python3 -c 'import json,sys; print(" ".join(s["name"][8:10] for s in json.load(open(sys.argv[1]))))' "$OUT")
[ "$names" = "01 03 08 09 10" ] || fail "after forget --keep-last 2 --keep-weekly 3 with 11-03 held: days $names, expected 01 03 08 09 10"

# Another host's cache learns the forget from the record: no loss warning.
CACHE=$WORK/cache-other ok cfs snapshot list
CACHE=$WORK/cache-other ok cfs check
if grep -qi "no longer has" "$ERR"; then
	cat "$ERR" >&2
	fail "a fresh cache warns about forgotten snapshots as if they were lost"
fi

ok cfs snapshot release 2026-11-03T10:00:00Z
ok cfs forget 2026-11-03T10:00:00Z 2026-11-01T10:00:00Z
[ "$(snap_count)" = 3 ] || fail "forget by name: $(snap_count) snapshots left, expected 3"

# --- prune --------------------------------------------------------------------
ok cfs check --json
unused=$(json_get "$OUT" .bytes_unused)
[ "$unused" -gt 1000000 ] || fail "check --json: bytes_unused $unused before prune, expected > 1 MB (seven forgotten days)"
before=$(dir_size "$REPO/data")
ok cfs prune --json
json_valid "$OUT" || fail "prune --json printed invalid JSON"
[ "$(json_get "$OUT" .records_waiting)" = 0 ] || fail "prune with no writer running left a condemnation waiting"
after=$(dir_size "$REPO/data")
[ $((before - after)) -gt 1000000 ] || fail "prune freed $((before - after)) bytes, expected > 1 MB"
ok cfs check --read-data --json
[ "$(json_get "$OUT" .problems)" = 0 ] || fail "check --read-data after prune found problems"
[ "$(json_get "$OUT" .bytes_unused)" -lt 4096 ] || fail "check --json after prune: bytes_unused $(json_get "$OUT" .bytes_unused)"
for d in 08 09 10; do
	rm -rf "$WORK/r"
	ok cfs restore "${ID[$d]}" "$WORK/r"
	cmp -s "$WORK/day.$d" "$WORK/r$SRC/day" || fail "snapshot of day $d does not restore byte-identical after prune"
done
ls "$REPO/gc" >"$WORK/gc.list"
ok cfs snapshot list
expect_in "$OUT" "held by no snapshot"

# --- packs of a killed backup -----------------------------------------------
head -c 3000000 /dev/urandom >"$SRC/big"
before=$(dir_size "$REPO/data")
CHRONOFS_FAULTS=objstore.put:2:crash expect_exit 99 cfs snapshot create --quiet "$SRC"
rm -f "$SRC/big"
[ $(($(dir_size "$REPO/data") - before)) -gt 2500000 ] || fail "the killed backup left no pack (test set-up)"
before=$(dir_size "$REPO/data")
ok cfs prune --json
freed=$((before - $(dir_size "$REPO/data")))
[ "$freed" -gt 2500000 ] || fail "prune freed $freed bytes of a killed backup's packs, expected > 2.5 MB"
ok cfs check --read-data

# --- locks ------------------------------------------------------------------
# A lock of this host whose process is gone: removed, not waited for.
dead=$(sh -c 'echo $$')
printf 'host=%s\npid=%s\ntime_ns=1\nkind=writer\n' "$(hostname)" "$dead" >"$REPO/locks/00000000000000000000000000000001"
ok cfs forget 2026-11-08T10:00:00Z
ok cfs prune --json
[ "$(json_get "$OUT" .records_waiting)" = 0 ] || fail "prune waited for a stale lock of this host"
[ ! -e "$REPO/locks/00000000000000000000000000000001" ] || fail "prune left a stale lock of this host"

# A writer of another host: prune condemns and waits for it.
printf 'host=other-host.example\npid=4242\ntime_ns=1\nkind=writer\n' >"$REPO/locks/00000000000000000000000000000002"
ok cfs forget 2026-11-09T10:00:00Z
before=$(dir_size "$REPO/data")
ok cfs prune --json
[ "$(json_get "$OUT" .records_waiting)" = 1 ] || fail "prune did not wait for another host's writer"
[ "$(json_get "$OUT" .packs_deleted)" = 0 ] || fail "prune deleted packs while another host's writer may use them"
ok cfs check --read-data --json
[ "$(json_get "$OUT" .packs_condemned)" -gt 0 ] || fail "check --json does not show the condemned packs"
ok cfs prune --json
[ "$(json_get "$OUT" .records_waiting)" = 1 ] || fail "a second prune did not keep waiting for that writer"
rm "$REPO/locks/00000000000000000000000000000002"
ok cfs prune --json
[ "$(json_get "$OUT" .records_finished)" -ge 1 ] || fail "the prune after the writer ended finished nothing"
[ "$(dir_size "$REPO/data")" -lt "$before" ] || fail "the prune after the writer ended deleted nothing"
ok cfs check --read-data
rm -rf "$WORK/r"
ok cfs restore latest "$WORK/r"
cmp -s "$WORK/day.10" "$WORK/r$SRC/day" || fail "latest does not restore byte-identical"

# --- space: ten churned snapshots, all but the last forgotten ----------------
# The bench corpus (scripts/bench-corpus --mount), small: its "next day"
# mutation rewrites 1 % of the small files, deletes and adds 0.5 %, appends
# to the dump and inserts 64 KiB into the half-random image.
REPO=$WORK/repo2
CACHE=$WORK/cache2
ok cfs init
CORPUS=$WORK/corpus
python3 "$SRCDIR/scripts/bench-corpus" --mount "$CORPUS" 3000 6 6 >/dev/null || fail "bench-corpus failed"
SRC=$CORPUS/data
for day in $(seq 1 10); do
	[ "$day" = 1 ] || python3 "$SRCDIR/scripts/bench-corpus" --mutate "$CORPUS" "$day" >/dev/null ||
		fail "bench-corpus --mutate failed"
	CHRONOFS_TEST_SNAPSHOT_TIME=2026-10-$((10 + day))T02:00:00Z ok cfs snapshot create --quiet "$SRC"
done
ok cfs forget --keep-last 1
ok cfs prune
ok cfs check --read-data
pruned=$(dir_size "$REPO")
REPO=$WORK/repo3
CACHE=$WORK/cache3
ok cfs init
ok cfs snapshot create --quiet "$SRC"
fresh=$(dir_size "$REPO")
log "space: pruned repository $pruned bytes, fresh one of the same tree $fresh bytes"
[ $((pruned * 100)) -le $((fresh * 105)) ] || fail "pruned repository is $pruned bytes, more than 1.05 x a fresh one ($fresh)"
REPO=$WORK/repo2
CACHE=$WORK/cache2
rm -rf "$WORK/r"
ok cfs restore latest "$WORK/r"
assert_same_tree "$SRC" "$WORK/r$SRC"
log "ok"
