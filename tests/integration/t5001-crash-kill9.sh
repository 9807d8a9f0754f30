#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# kill -9 during snapshot create never damages the repository. A ~300 MiB
# corpus (random and text files) is backed up 20 times, each run killed
# after a delay spread from 0.05 s to about the duration of an
# uninterrupted backup (measured first in a scratch repository, capped at
# 6 s to bound the runtime; after a run completes, its wall time becomes
# the scale, as runs over already stored data are faster). After each
# kill: `check` passes, `snapshot list` shows only committed snapshots (one
# more per completed run; a run killed after its commit may add one), and
# the next run works (no stale lock blocks it). After each completed run a
# few MiB of new data is added to a second source path, so later runs write
# new data too. At the end a full run completes, `check --read-data` passes,
# the first committed snapshot restores identically, and the repository is
# not much larger than one backup's worth: data left behind by killed runs
# is reused or removed (< 1.5 x the size of a clean backup).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
ITERATIONS=${T5001_ITERATIONS:-20}
[ "$ITERATIONS" -ge 2 ] || fail "T5001_ITERATIONS must be at least 2"
CORPUS=$WORK/corpus
EXTRA=$WORK/extra
mkdir -p "$CORPUS/random" "$CORPUS/text" "$EXTRA"

# 150 files of 2 MiB: 100 random, 50 text (base64: compressible to ~3/4).
for i in $(seq 1 100); do
	rand_file "$CORPUS/random/r$i" $((2 * MiB))
done
for i in $(seq 1 50); do
	head -c $((1536 * 1024)) /dev/urandom | base64 -w 76 >"$CORPUS/text/t$i.txt"
done
printf 'extra\n' >"$EXTRA/seed"
corpus_bytes=$(du -sb "$CORPUS" | cut -f1)

now_ms() { date +%s%3N; }

# A clean backup in a scratch repository: its duration and its size.
REPO=$WORK/scratch
CACHE=$WORK/scratch-cache
ok cfs init
scratch0=$(dir_size "$REPO")
t0=$(now_ms)
ok cfs snapshot create "$CORPUS"
t1=$(now_ms)
full_ms=$((t1 - t0))
clean_size=$(($(dir_size "$REPO") - scratch0))
rm -rf "$WORK/scratch" "$WORK/scratch-cache"
log "clean backup of $corpus_bytes bytes: ${full_ms} ms, $clean_size bytes stored"
[ "$full_ms" -ge 100 ] || full_ms=100
# Keep the total runtime bounded on slow machines.
[ "$full_ms" -le 6000 ] || full_ms=6000

REPO=$WORK/repo
CACHE=$WORK/cache
ok cfs init
committed=0
completed=0
killed=0
extra_bytes=0
first_id=
first_name=
run_ms=$full_ms

for i in $(seq 1 "$ITERATIONS"); do
	# Evenly spread from 50 ms to ~the full duration, in a shuffled order
	# (k = 7i mod N visits every step once when N is not a multiple of 7), so
	# short delays also hit runs that follow completed ones.
	# The scale is the duration of the latest completed run (a run over
	# already stored data is much faster than the first), so kills keep
	# landing inside runs instead of after them.
	k=$(((i * 7) % ITERATIONS))
	delay_ms=$((50 + (run_ms - 50) * k / (ITERATIONS - 1)))
	cfs_bg "run$i" snapshot create --json "$CORPUS" "$EXTRA"
	pid=$BG_PID
	# Wait for the delay, or until the run exits on its own (then its
	# wall time is known).
	start=$(now_ms)
	while :; do
		elapsed=$(($(now_ms) - start))
		[ "$elapsed" -lt "$delay_ms" ] || break
		state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || echo Z)
		[ "$state" != Z ] || break
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null || true
	wait_rc "$pid"
	rc=$WAIT_RC
	case $rc in
	0) completed=$((completed + 1)) ;;
	137) killed=$((killed + 1)) ;;
	*)
		cat "$WORK/run$i.err" >&2
		fail "iteration $i: snapshot create exited $rc (expected 0, or 137 when killed)"
		;;
	esac

	expect_exit 0 cfs check
	n=$(snap_count)
	if [ "$rc" = 0 ]; then
		[ "$n" = $((committed + 1)) ] || fail "iteration $i: completed run, but $n snapshots listed (expected $((committed + 1)))"
	else
		# A run killed between its commit and its exit legitimately leaves
		# a complete snapshot; anything beyond one more is wrong.
		[ "$n" = "$committed" ] || [ "$n" = $((committed + 1)) ] ||
			fail "iteration $i: killed run, $n snapshots listed (expected $committed)"
	fi
	if [ "$n" != "$committed" ] && [ -z "$first_id" ]; then
		cp "$OUT" "$WORK/first-list.json"
		first_id=$(json_get "$WORK/first-list.json" '.[0].id')
		first_name=$(json_get "$WORK/first-list.json" '.[0].name')
	fi
	committed=$n
	log "iteration $i: delay ${delay_ms} ms, exit $rc, $committed snapshot(s)"

	# New data for later runs once a run got through.
	if [ "$rc" = 0 ]; then
		run_ms=$elapsed
		[ "$run_ms" -le "$full_ms" ] || run_ms=$full_ms
		[ "$run_ms" -ge 100 ] || run_ms=100
		rand_file "$EXTRA/x$i" $((4 * MiB))
		extra_bytes=$((extra_bytes + 4 * MiB))
	fi
done
log "$completed completed, $killed killed, $committed committed"
[ "$killed" -ge 5 ] || log "note: only $killed runs were killed mid-way (machine faster than measured?)"

# A full run completes after all that, and the repository verifies.
snap_create "$CORPUS" "$EXTRA"
last_id=$SNAP_ID
[ -n "$first_id" ] || { first_id=$last_id; first_name=$SNAP_NAME; }
ok cfs check --read-data

# The first committed snapshot restores the corpus identically; the last
# one restores both paths.
mkdir "$WORK/t-first"
ok cfs restore "$first_id:$CORPUS" "$WORK/t-first"
assert_same_tree "$CORPUS" "$WORK/t-first$CORPUS"
mkdir "$WORK/t-last"
ok cfs restore "$last_id" "$WORK/t-last"
assert_same_tree "$CORPUS" "$WORK/t-last$CORPUS"
assert_same_tree "$EXTRA" "$WORK/t-last$EXTRA"

# Killed runs do not leave a full copy each behind.
final_size=$(dir_size "$REPO")
limit=$(((clean_size + extra_bytes) * 3 / 2 + MiB))
[ "$final_size" -lt "$limit" ] ||
	fail "repository is $final_size bytes after $killed killed runs; a clean backup is $clean_size (+ $extra_bytes extra); limit $limit"

log "ok: first snapshot $first_name survived; repository $final_size bytes (clean $clean_size + extra $extra_bytes)"
