#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Two `snapshot create` at once on the same repository and cache: both
# succeed, or one fails with exit 1 and a message about the lock; never a
# broken repository. Round 1: different sources that share some data;
# round 2: the same new source twice (both runs want to add the same blobs);
# round 3: separate caches (two machines on one repository). After each
# round `check --read-data` passes and every committed snapshot restores.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
mkdir -p "$WORK/s1" "$WORK/s2" "$WORK/s3"
rand_file "$WORK/shared" $((24 * MiB))
for s in s1 s2; do
	for i in 1 2 3 4; do
		rand_file "$WORK/$s/own-$i" $((5 * MiB))
	done
	cp "$WORK/shared" "$WORK/$s/shared"
done
for i in 1 2 3 4 5 6; do
	rand_file "$WORK/s3/f-$i" $((5 * MiB))
done
touch -d '@1600000000' "$WORK/s1" "$WORK/s2" "$WORK/s3"

ok cfs init
expected=0

# race NAME SRC_A SRC_B [CACHE_B]: runs both at once; sets RACE_OK to the
# sources whose snapshots committed.
race() {
	local round=$1 a=$2 b=$3 cache_b=${4:-$CACHE} pa pb rca rcb
	cfs_bg "$round-a" snapshot create --json "$a"
	pa=$BG_PID
	local saved=$CACHE
	CACHE=$cache_b
	cfs_bg "$round-b" snapshot create --json "$b"
	pb=$BG_PID
	CACHE=$saved
	wait_rc "$pa"
	rca=$WAIT_RC
	wait_rc "$pb"
	rcb=$WAIT_RC
	RACE_OK=()
	for x in "a:$rca:$a" "b:$rcb:$b"; do
		local which=${x%%:*} rest=${x#*:}
		local rc=${rest%%:*} src=${rest#*:}
		case $rc in
		0)
			RACE_OK+=("$src")
			json_valid "$WORK/$round-$which.out" || fail "$round-$which: --json output is not JSON"
			;;
		1)
			grep -qi 'lock' "$WORK/$round-$which.err" || {
				cat "$WORK/$round-$which.err" >&2
				fail "$round-$which: exit 1 without a message about the lock"
			}
			;;
		*)
			cat "$WORK/$round-$which.err" >&2
			fail "$round-$which: exit $rc"
			;;
		esac
	done
	[ "${#RACE_OK[@]}" -ge 1 ] || fail "$round: both concurrent runs failed"
	log "$round: exits $rca and $rcb"
	expected=$((expected + ${#RACE_OK[@]}))
	ok cfs check --read-data
	[ "$(snap_count)" = "$expected" ] || fail "$round: $(snap_count) snapshots listed, expected $expected"
}

# verify_restore SRC: the newest snapshot containing SRC restores it.
verify_restore() {
	local src=$1 id
	ok cfs snapshot list --json
	cp "$OUT" "$WORK/list.json"
	# Newest snapshot whose paths include src.
	id=
	local n i
	n=$(json_get "$WORK/list.json" length)
	for ((i = n - 1; i >= 0; i--)); do
		if json_get "$WORK/list.json" ".[$i].paths" | grep -qF "\"$src\""; then
			id=$(json_get "$WORK/list.json" ".[$i].id")
			break
		fi
	done
	[ -n "$id" ] || fail "no snapshot lists path $src"
	rm -rf "$WORK/t"
	mkdir "$WORK/t"
	ok cfs restore "$id" "$WORK/t"
	assert_same_tree "$src" "$WORK/t$src"
}

race round1 "$WORK/s1" "$WORK/s2"
for s in "${RACE_OK[@]}"; do verify_restore "$s"; done

race round2 "$WORK/s3" "$WORK/s3"
verify_restore "$WORK/s3"

# Separate caches: the repository's own locking must cope.
printf 'new\n' >"$WORK/s1/new-file"
rand_file "$WORK/s2/new-random" $((6 * MiB))
race round3 "$WORK/s1" "$WORK/s2" "$WORK/cache-other"
for s in "${RACE_OK[@]}"; do verify_restore "$s"; done

log "ok: $expected snapshots after three races"
