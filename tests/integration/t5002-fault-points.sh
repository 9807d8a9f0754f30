#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Deterministic crash points (complements the random kill -9 of t5001): the
# run "loses power" right before its Nth object put, or its Nth catalog
# commit, for every N until a run gets through. After each crash `check`
# passes, no partial snapshot is listed, and the earlier snapshot restores
# identically; an -EIO from the store fails the run with exit 1 and a message
# naming the object, and leaves nothing half-made. Needs a build with
# -Dfault_injection=true (scripts/test configures that); skipped otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/a" "$SRC/b"
# ~40 MiB of random data (three packs), plus 24 MiB more per fault point.
for i in 1 2 3 4 5; do
	rand_file "$SRC/a/r$i.bin" $((8 * MiB))
done
printf 'hello\n' >"$SRC/b/small.txt"

ok cfs init
# Is fault injection compiled in? Arm the first put of a harmless run.
run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"

snap_create "$SRC/b"
first=$SNAP_NAME
committed=1

crash_at() { # POINT N -> RC of the run
	run env CHRONOFS_FAULTS="$1:$2:crash" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
		CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC"
}

for point in objstore.put catalog.commit; do
	# Fresh data for each point, so every run has packs to write.
	mkdir -p "$SRC/$point"
	for i in 1 2 3; do
		rand_file "$SRC/$point/r$i.bin" $((8 * MiB))
	done
	n=1
	while :; do
		crash_at "$point" "$n"
		if [ "$RC" -eq 0 ]; then
			committed=$((committed + 1))
			log "$point: a run with the fault at call $n completed ($((n - 1)) crash points tried)"
			break
		fi
		[ "$RC" -eq 99 ] || { _lib_show_output; fail "$point:$n: exit $RC, expected the injected crash (99)"; }
		ok cfs check
		# A crash after snapshots/<id> became durable (only the local
		# catalog missed it) leaves a complete snapshot: `check` just
		# verified that everything it references exists.
		count=$(snap_count)
		if [ "$count" -eq $((committed + 1)) ]; then
			committed=$count
			log "$point:$n: crashed after the snapshot object was durable; it is complete and listed"
		fi
		[ "$count" -eq "$committed" ] || fail "$point:$n: $count snapshots listed, expected $committed"
		n=$((n + 1))
		[ "$n" -le 40 ] || fail "$point: still crashing after 40 calls"
	done
	[ "$n" -ge 3 ] || fail "$point: only $n calls: the test did not exercise the commit protocol"
done

# The store failing (not crashing): exit 1, the object named, nothing listed.
for n in 1 2 3 4; do
	run env CHRONOFS_FAULTS="objstore.put:$n" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
		CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC/a"
	if [ "$RC" -eq 0 ]; then
		committed=$((committed + 1))
		break
	fi
	[ "$RC" -eq 1 ] || { _lib_show_output; fail "objstore.put:$n (eio): exit $RC, expected 1"; }
	expect_in "$ERR" "Input/output error" "objstore.put:$n (eio): the error does not give the reason"
	ok cfs check
	[ "$(snap_count)" -eq "$committed" ] || fail "objstore.put:$n (eio): a partial snapshot is listed"
done

# A clean run after all that completes and restores exactly.
snap_create "$SRC"
ok cfs check --read-data
# Every crash left packs behind; the runs reused them instead of piling up
# copies: the repository holds about one copy of the 88 MiB.
size=$(dir_size "$REPO")
[ "$size" -lt $((90 * MiB)) ] || fail "repository is $size bytes after the crashes: packs were not reused"
ok cfs restore "$first" "$WORK/r1"
assert_same_tree "$SRC/b" "$WORK/r1$SRC/b"
ok cfs restore latest "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
log "ok: crash and failure at every put and catalog commit leave the repository consistent"
