#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# repair is crash-safe: it "loses power" right before its Nth object put,
# its Nth catalog commit or its Nth delete, for every N until a run gets
# through, each time from the same damaged repository (a truncated pack),
# with a clean copy of the local catalog. After every
# crash the repository opens, check names no path that was not damaged
# before, the files that were whole before restore, and a repair run
# afterwards completes with the same outcome as one never interrupted.
# Needs a build with -Dfault_injection=true (scripts/test configures that).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC"
rand_file "$SRC/a" $((12 * MiB))
rand_file "$SRC/gone" $((3 * MiB))
ok cfs init
run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"
snap_create "$SRC"
# A file in a pack of its own, which stays whole.
printf 'small\n' >"$SRC/small"
snap_create "$SRC"
snap=$SNAP_NAME
p=$(find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
truncate -s $((10 * MiB)) "$p"

# damaged_paths: the sorted paths check names, into $1.
damaged_paths() {
	run cfs check
	grep -o "snapshot [^ ]*: [^ ]* uses" "$ERR" | sort -u >"$1" || true
}
damaged_paths "$WORK/before"
[ -s "$WORK/before" ] || fail "setup: check names no damaged path"
cp -a "$REPO" "$WORK/repo.damaged"
cp -a "$CACHE" "$WORK/cache.damaged"

# The outcome of an uninterrupted repair.
expect_exit 1 cfs repair
damaged_paths "$WORK/expected"

reset() {
	rm -rf "$REPO" "$CACHE"
	cp -a "$WORK/repo.damaged" "$REPO"
	cp -a "$WORK/cache.damaged" "$CACHE"
}

crashes=0
for point in objstore.put catalog.commit repair.delete; do
	for n in $(seq 1 40); do
		reset
		run env CHRONOFS_FAULTS="$point:$n:crash" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
			CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" repair
		[ "$RC" = 99 ] || break
		crashes=$((crashes + 1))
		# No worse than before.
		ok cfs snapshot list
		damaged_paths "$WORK/after"
		extra=$(comm -13 "$WORK/before" "$WORK/after")
		[ -z "$extra" ] || fail "after a crash at $point:$n check names new damage: $extra"
		rm -rf "$WORK/r"
		mkdir "$WORK/r"
		ok cfs restore "$snap:$SRC/small" "$WORK/r"
		cmp "$SRC/small" "$WORK/r$SRC/small" || fail "after a crash at $point:$n a whole file restores differently"
		# And a repair then gets to the same end.
		expect_exit 1 cfs repair
		damaged_paths "$WORK/after"
		diff "$WORK/expected" "$WORK/after" >&2 || fail "repair after a crash at $point:$n ends elsewhere"
	done
	[ "$RC" != 99 ] || fail "repair still crashes at $point:$n"
done
[ "$crashes" -ge 4 ] || fail "only $crashes crash points were reached"
log "ok: $crashes crash points, each no worse than before and repairable"
