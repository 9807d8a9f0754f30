#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# prune while two hosts back up to one S3 repository (a real radosgw, see
# s3-lib.sh). Hosts A and B back up, host C prunes; each has a cache of its
# own and, where unshare(1) can make a UTS namespace, a hostname of its own
# (so that C cannot tell whether their processes are alive: it waits for
# their locks). Interleavings are exact: a fault point armed with a "run"
# hook pauses one process while the hook runs the others to their end.
#   (1) A and B store the same file S at once (B's backup, paused at its
#       first directory, waits while A's runs and C synchronises), so two
#       packs hold S. A catalog locates S in the pack whose index object it
#       applied last: the three catalogs need not agree.
#   (2) A's snapshot is forgotten and C prunes; paused right after it
#       accounted the packs, A and B back up again, both reusing S. C
#       deletes A's pack (S in it is a copy C's catalog does not locate S
#       in), which another host's catalog locates S in (A's, in the runs
#       looked at): that catalog must move to the copy that stays (the
#       prune lists that pack again before the deletion), or its restores
#       and checks name a missing pack.
#   (3) A's backup is paused at its first directory (its lock put, its
#       catalog synchronised) while B backs up, A's parent is forgotten and
#       C prunes (it waits for A's lock); A then commits, reusing data C
#       condemned, and the next prune releases that data, not deletes it.
#   After (2) and (3): check --read-data from each host's cache finds no
#   problem, no snapshot is lost, every live snapshot restores, from the
#   cache of the host that took it, identical to what it captured, no lock
#   and no condemn or arm record is left; at the end, the same from a fresh
#   cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw

run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"

KiB=1024
MiB=$((1024 * KiB))
BUCKET=chronofs-t6005

# One chronoctl per host: in a UTS namespace of its own named t6005-HOST
# where unshare works, else under this machine's hostname (C then waits for
# the writers' locks because their processes are alive, not because they
# are another host's).
REAL_CHRONOCTL=$CHRONOCTL
mkdir -p "$WORK/bin"
if unshare -u true 2>/dev/null; then
	for h in a b c fresh; do
		# shellcheck disable=SC2016 # for the wrapper's shell
		printf '#!/bin/sh\nexec unshare -u sh -c %q t6005-%s %q "$@"\n' \
			'hostname "$0" && exec "$@"' "$h" "$REAL_CHRONOCTL" >"$WORK/bin/chronoctl-$h"
	done
else
	log "unshare -u does not work here: the three hosts share this machine's hostname"
	for h in a b c fresh; do
		printf '#!/bin/sh\nexec %q "$@"\n' "$REAL_CHRONOCTL" >"$WORK/bin/chronoctl-$h"
	done
fi
chmod +x "$WORK"/bin/chronoctl-*

as() { # HOST: later cfs calls run as that host, with its cache
	CHRONOCTL=$WORK/bin/chronoctl-$1
	CACHE=$WORK/cache-$1
}

# A hook step: chronoctl as HOST, no armed faults (the hook inherits the
# paused process's environment); output to $WORK/hook-NAME.{out,err},
# exit status to .rc.
hook_step() { # NAME HOST ARGS...
	local name=$1 host=$2
	shift 2
	printf 'env -u CHRONOFS_FAULTS -u CHRONOFS_FAULT_RUN CHRONOFS_CACHE_DIR=%q timeout -k 5 120 %q %s>%q 2>%q; echo $? >%q\n' \
		"$WORK/cache-$host" "$WORK/bin/chronoctl-$host" "$(printf '%q ' "$@")" "$WORK/hook-$name.out" \
		"$WORK/hook-$name.err" "$WORK/hook-$name.rc"
}

hook_ok() { # NAME LABEL
	[ -s "$WORK/hook-$1.rc" ] || fail "$2: the hook never ran (its fault point was not reached)"
	[ "$(cat "$WORK/hook-$1.rc")" = 0 ] ||
		{ cat "$WORK/hook-$1.err" >&2; fail "$2: $1 in the hook exited $(cat "$WORK/hook-$1.rc")"; }
}

json_is() { # FILE PATH OP VALUE LABEL: fail unless the number compares
	local v
	v=$(json_get "$1" "$2")
	test "$v" "$3" "$4" || fail "$5: $2 is $v, expected $3 $4: $(cat "$1")"
}

# Live snapshots; CAP_SRC: id -> the path it captured, CAP_HOST: id -> the
# host that took it, $WORK/cap/<id>: a copy of that path as captured.
LIVE=()
declare -A CAP_SRC=() CAP_HOST=()
FORGETS=0  # forget records put
FINISHED=0 # condemn records finished (each leaves one done record)

capture() { # ID SRC HOST
	cp -a -- "$2" "$WORK/cap/$1"
	CAP_SRC[$1]=$2
	CAP_HOST[$1]=$3
	LIVE+=("$1")
}

capture_json() { # FILE SRC HOST: the snapshot a --json backup printed
	json_valid "$1" || { cat "$1" >&2; fail "a backup printed invalid JSON"; }
	capture "$(json_get "$1" .id)" "$2" "$3"
}

forgotten() { # ID...: forgotten by a forget that succeeded
	local id keep=() k
	FORGETS=$((FORGETS + 1))
	for id in "$@"; do
		unset "CAP_SRC[$id]" "CAP_HOST[$id]"
		rm -rf -- "${WORK:?}/cap/$id"
	done
	for k in "${LIVE[@]}"; do
		[ -n "${CAP_SRC[$k]:-}" ] && keep+=("$k")
	done
	LIVE=("${keep[@]}")
}

forget() { # ID...
	ok cfs forget "$@"
	forgotten "$@"
}

note_prune() { # FILE LABEL
	json_valid "$1" || { cat "$1" >&2; fail "$2: prune --json printed invalid JSON"; }
	FINISHED=$((FINISHED + $(json_get "$1" .records_finished)))
}

s3_count() { # PREFIX: the repository's keys under it (s3_keys fails on none)
	{ s3_keys "$BUCKET/repo/$1" || true; } | wc -l
}

verify() { # LABEL [HOST...]: as in the header, from the caches of HOSTs (default a b c)
	local label=$1 h id got want n
	shift
	[ "$#" -gt 0 ] || set -- a b c
	for h in "$@"; do
		as "$h"
		expect_exit 0 cfs check --read-data
		expect_in "$OUT" "no problems found" "$label: check --read-data from host $h found problems"
		ok cfs snapshot list --json
		got=$(jq -r '.[].id' "$OUT" | sort)
		want=$(printf '%s\n' "${LIVE[@]}" | sort)
		[ "$got" = "$want" ] || fail "$label: host $h lists [${got//$'\n'/ }], the live snapshots are [${want//$'\n'/ }]"
	done
	for id in "${LIVE[@]}"; do
		if [ "$1" = fresh ]; then as fresh; else as "${CAP_HOST[$id]}"; fi
		rm -rf "$WORK/r"
		mkdir "$WORK/r"
		ok cfs restore "$id" "$WORK/r"
		assert_same_tree "$WORK/cap/$id" "$WORK/r${CAP_SRC[$id]}"
	done
	n=$(s3_count locks/)
	[ "$n" = 0 ] || fail "$label: $n lock object(s) left: $(s3_keys "$BUCKET/repo/locks/")"
	n=$(s3_count gc/)
	[ "$n" = $((FORGETS + FINISHED)) ] ||
		fail "$label: $n deletion records in gc/, expected $FORGETS forget + $FINISHED done records"
}

radosgw_start
s3_bucket "$BUCKET"
REPO=s3://$BUCKET/repo
as c
ok cfs init

SA=$WORK/src-a
SB=$WORK/src-b
mkdir -p "$SA" "$SB" "$WORK/cap"
rand_file "$SA/S" $((2 * MiB))
cp "$SA/S" "$SB/S"
rand_file "$SA/a1" $((256 * KiB))
rand_file "$SB/b1" $((256 * KiB))
make_texts "$SB/texts" 0 8

# ---- (1) the same file stored by both hosts at once ----------------------
log "(1) A and B store S at once"
{
	hook_step a1 a snapshot create --json "$SA"
	hook_step sync-c c snapshot list
} >"$WORK/hook.sh"
as b
CHRONOFS_FAULTS=ingest.dir:1:run CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" snap_create "$SB"
hook_ok a1 "(1)"
hook_ok sync-c "(1)"
capture_json "$WORK/hook-a1.out" "$SA" a
A1=${LIVE[0]}
capture "$SNAP_ID" "$SB" b
added=$(json_get "$WORK/snap.json" .stats.bytes_added)
[ "$added" -ge $((2 * MiB)) ] || fail "(1) B deduplicated S against A's pack ($added bytes added): it was to store it again"

# ---- (2) prune with both hosts' backups in its midst ---------------------
log "(2) C prunes A's first snapshot while A and B back up"
as a
forget "$A1"
rm "$SA/a1"
rand_file "$SA/a2" $((256 * KiB))
rand_file "$SB/b2" $((128 * KiB))
{
	hook_step a2 a snapshot create --json "$SA"
	hook_step b2 b snapshot create --json "$SB"
} >"$WORK/hook.sh"
as c
CHRONOFS_FAULTS=prune.accounted:1:run CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" ok cfs prune --json
cp "$OUT" "$WORK/prune2.json"
note_prune "$WORK/prune2.json" "(2)"
hook_ok a2 "(2)"
hook_ok b2 "(2)"
capture_json "$WORK/hook-a2.out" "$SA" a
A2=${LIVE[-1]}
capture_json "$WORK/hook-b2.out" "$SB" b
for f in a2 b2; do
	added=$(json_get "$WORK/hook-$f.out" .stats.bytes_added)
	[ "$added" -lt $((2 * MiB)) ] || fail "(2) the backup $f stored S again ($added bytes added): the round no longer tests reuse"
done
json_is "$WORK/prune2.json" .packs_deleted -ge 1 "(2) A's pack is deleted"
json_is "$WORK/prune2.json" .records_finished = 1 "(2) with no writer left, the prune finishes its record"
verify "(2)"

# ---- (3) a paused backup of A, B's backup, forget and prunes -------------
log "(3) A's backup paused while B backs up and C forgets A's parent and prunes"
rand_file "$SA/a3" $((192 * KiB))
rand_file "$SB/b3" $((64 * KiB))
{
	hook_step b3 b snapshot create --json "$SB"
	hook_step forget c forget "$A2"
	hook_step prune3 c prune --max-unused 0 --json
} >"$WORK/hook.sh"
as a
CHRONOFS_FAULTS=ingest.dir:1:run CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" snap_create "$SA"
hook_ok b3 "(3)"
hook_ok forget "(3)"
hook_ok prune3 "(3)"
capture_json "$WORK/hook-b3.out" "$SB" b
forgotten "$A2"
capture "$SNAP_ID" "$SA" a
added=$(json_get "$WORK/snap.json" .stats.bytes_added)
[ "$added" -lt $((2 * MiB)) ] || fail "(3) A's backup stored S again ($added bytes added)"
note_prune "$WORK/hook-prune3.out" "(3) prune3"
json_is "$WORK/hook-prune3.out" .packs_condemned -ge 1 "(3) the prune condemns A's forgotten data"
json_is "$WORK/hook-prune3.out" .records_waiting = 1 "(3) the prune waits for A's backup"
json_is "$WORK/hook-prune3.out" .writers_waiting -ge 1 "(3) the prune waits for A's backup"
as c
ok cfs prune --json
cp "$OUT" "$WORK/prune3b.json"
note_prune "$WORK/prune3b.json" "(3) the next prune"
json_is "$WORK/prune3b.json" .records_finished = 1 "(3) the next prune finishes the record"
json_is "$WORK/prune3b.json" .packs_released -ge 1 "(3) the pack of what A reused is released"
verify "(3)"
verify "(3), a fresh cache" fresh
log "ok"
