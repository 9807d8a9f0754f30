#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# prune is crash-safe: it is killed (exit 99, as kill -9 or a power loss
# leaves it) at every point a clean prune reaches, each time from the same
# repository, and whatever it left must be a repository that checks clean,
# restores every live snapshot and lets the next prune finish the job.
#
# The repository: five snapshots of a small tree with churn (~2.3 MB of
# packs); three are forgotten, so that one prune --max-unused 5 has work of
# every kind: packs only forgotten snapshots use (deleted whole), packs
# that mix live and garbage blobs, of data and of trees (repacked: live
# blobs stored again in new packs with a new index object), index objects
# that name garbage packs (superseded), a condemn record, then the deletes,
# a done record and the condemn record's deletion (src/repo/prune.c).
#
# Families of points, each from its own saved repository and cache (the
# points of a clean run that leave the same state are run once: see
# select_points):
#   prune   the prune above, killed at the named fault points
#           (include/chronofs/fault.h) with N = 1, 2, ... as often as a
#           clean run reaches it: gc.record, prune.marked (marking done,
#           nothing written), prune.accounted, prune.repacked (new packs
#           and index written, nothing condemned), prune.condemned,
#           prune.finish, prune.delete (before each deleted pack, index
#           object and record: the middle of the batch), prune.deleted,
#           objstore.put, catalog.commit; and by the faulty store's power
#           loss at every mutating store operation of a clean run
#           (src/objstore/faulty.c: the Nth is lost, the earlier ones are
#           durable): between the repacked pack and its index object, the
#           index object and the condemn record, the record and the first
#           delete, and so on.
#   lock    the same prune while another host's writer lock exists
#           (locks/<32 hex>, host "otherhost": a backup may run there, so
#           the prune arms its condemn record and leaves it), killed at
#           prune.arm and at every store operation from the arm record's
#           put on. A prune while the lock exists must then
#           wait (delete nothing); the lock goes (its backup ended).
#   forget  forget killed before each manifest it deletes (forget.delete):
#           the prune deletes what it left.
#   armed   the prune that finishes an armed record: a backup (snapshot 6)
#           ran while a prune condemned packs and reused blobs of a
#           condemned one (a file of snapshot 1 came back), so the next
#           prune releases that pack, lists it in a new index object,
#           deletes the others, then repacks the released pack and
#           condemns and deletes it in a record of its own. Killed by
#           power loss at every store operation and at the named points
#           that are no store operation.
#   backup  the prune killed before its condemn record, with it durable,
#           in the middle of its deletes and with its done record durable;
#           then a backup with a1 again (its blob in a pack the prune found
#           unused; for the power losses from another host's cache): once
#           the record is durable it must store a1 again (a writer never
#           uses a condemned pack), before it may reuse the pack, which
#           the next prune must then keep.
# Two prunes, before the points: a second prune while one runs fails at
# once naming locks/prune, and the first finishes as a clean one; a
# locks/prune of a live process of this host or of another host is refused
# with nothing changed, one of a dead process of this host taken over
# (and so is the one each killed prune leaves: the next prune says so).
# Every kill is checked to have happened where it was aimed: exit 99, and
# for a power loss the trace's "lost" at that operation. After each kill,
# with the real binaries (no fault armed), the cache kept, and for every
# other power loss also a fresh cache over a copy of the store as the kill
# left it (the cache lost with the machine; the other points left one of
# those store states):
#   - check --read-data exits 0 with "no problems found";
#   - exactly the snapshots listed before the prune but the forgotten ones
#     are listed, and each restores byte-identical to the tree it captured;
#   - the next prune exits 0 without waiting, and after it data/ holds as
#     many bytes as after a clean prune of the same repository (at most
#     SLACK more), snapshots/ only live manifests, locks/ nothing, gc/ the
#     forget record and the done records a clean prune leaves (no condemn
#     or arm record: neither those of the base nor those the killed prune
#     put), check --read-data is clean again and the newest snapshot
#     restores.
# The points per family are printed at the end (at least 20 in all).
# Needs a build with -Dfault_injection=true (scripts/test configures that).
# T5005_ALL=1: every occurrence of every named point and power loss at
# every store operation (slow); T5005_FRESH_EVERY=1: a fresh cache at
# every power loss.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

KiB=1024
SRC=$WORK/src
MAX_UNUSED=5
# Every pack to repack is a batch of its own (fault-injection builds): a
# catalog scan for each, as a prune that moves more than 262,144 blobs
# takes several, each killed at every point as the rest.
export CHRONOFS_TEST_REPACK_BATCH_BLOBS=1
# Bytes of data/ a finished prune may leave over a clean one (pack
# headers of blobs repacked in another grouping).
SLACK=$((4 * KiB))
# Points run at once: they wait on fsync more than on the CPU.
JOBS=${T5005_JOBS:-3}
FRESH_EVERY=${T5005_FRESH_EVERY:-2}

# Is the faulty backend compiled in? A malformed spec makes the open fail.
run env CHRONOFS_OBJSTORE_FAULT=probe CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"
expect_in "$ERR" CHRONOFS_OBJSTORE_FAULT
command -v jq >/dev/null 2>&1 || fail "jq is needed (the snapshot lists and prune results are JSON)"

# --- helpers ----------------------------------------------------------------------

# Saved states: $1/repo and $1/cache. A copy of the store is made with
# hard links (objects are only ever replaced by rename and removed by
# unlink, never written in place); the catalog is copied (RocksDB appends
# to its files).
state_save() { # DIR
	rm -rf "$1"
	mkdir -p "$1"
	cp -a "$REPO" "$1/repo"
	cp -a "$CACHE" "$1/cache"
}
state_load() { # BASE DIR
	rm -rf "$2"
	mkdir -p "$2"
	cp -al "$1/repo" "$2/repo"
	cp -a "$1/cache" "$2/cache"
}

data_bytes() { # REPO
	find "$1/data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

names() { # REPO PREFIX: object names under PREFIX/, sorted
	[ -d "$1/$2" ] || return 0
	(cd "$1" && find "$2" -type f | sort)
}

# prune with the test's repository and cache, CHRONOFS_* faults from the
# environment given as ENV=VALUE arguments.
prune_env() { # [ENV=VALUE...]
	run env "$@" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		timeout -k 10 120 "$CHRONOCTL" prune --max-unused "$MAX_UNUSED" --json
}

# jq over the last JSON result: FIELD must satisfy TEST (jq, on .FIELD).
json_expect() { # WHAT FIELD TEST
	jq -e ".$2 | $3" "$OUT" >/dev/null || {
		_lib_show_output
		fail "$1: prune --json: .$2 is $(jq -c ".$2" "$OUT"), expected $3"
	}
}

# The gc/ objects a run put (in order), from its trace.
gc_puts() { # TRACE
	awk '$2 == "put" && $3 ~ /^gc\// && $6 == "0" { print $3 }' "$1"
}

# --- the repository -----------------------------------------------------------

# Snapshots: keep (stays), a1 (only in 1), b2 and a changed d1 (only in 2:
# a pack of garbage), c3 (3 on), d4 (only in 4, in a pack with a change of
# d3 that stays: repacked), e5 (5 on); docs change a little each time,
# sub/ never (a tree every snapshot shares). Snapshot 6 (the armed
# family) has a1 again.
mkdir -p "$SRC/docs" "$SRC/sub/deeper"
rand_file "$SRC/keep" $((600 * KiB))
rand_file "$SRC/a1" $((400 * KiB))
for i in 1 2 3 4 5 6; do
	seq 1 $((i * 300)) >"$SRC/docs/d$i.txt"
done
printf 'same in every snapshot\n' >"$SRC/sub/deeper/leaf"
ln -s ../keep "$SRC/sub/link"
ok cfs init

declare -a SNAPS=()
declare -A TREE=()
snapshot_taken() { # N: the snapshot in $WORK/snap.json captured $SRC
	SNAPS[$1]=$SNAP_ID
	cp -a "$SRC" "$WORK/tree-$1"
	TREE[$SNAP_ID]=$WORK/tree-$1
}
snapshot() { # N
	snap_create "$SRC"
	snapshot_taken "$1"
}
snapshot 1
rm "$SRC/a1"
rand_file "$SRC/b2" $((400 * KiB))
cp -p "$SRC/docs/d1.txt" "$WORK/d1.orig"
printf 'two\n' >>"$SRC/docs/d1.txt"
snapshot 2
rm "$SRC/b2"
rand_file "$SRC/c3" $((400 * KiB))
cp -p "$WORK/d1.orig" "$SRC/docs/d1.txt"
printf 'three\n' >>"$SRC/docs/d2.txt"
snapshot 3
rand_file "$SRC/d4" $((300 * KiB))
printf 'four\n' >>"$SRC/docs/d3.txt"
snapshot 4
rm "$SRC/d4"
rand_file "$SRC/e5" $((200 * KiB))
snapshot 5

state_save "$WORK/base-forget"
FORGOTTEN=("${SNAPS[1]}" "${SNAPS[2]}" "${SNAPS[4]}")
ok cfs forget "${FORGOTTEN[@]}"
state_save "$WORK/base-prune"
FORGET_GC=$(names "$REPO" gc)
[ "$(grep -c . <<<"$FORGET_GC")" = 1 ] || fail "setup: forget put $(grep -c . <<<"$FORGET_GC") gc/ objects, expected one record"

# lock: the same with a lock object of a writer on another host.
OTHER_LOCK=locks/0123456789abcdef0123456789abcdef
state_save "$WORK/base-lock"
mkdir -p "$WORK/base-lock/repo/locks"
printf 'host=otherhost\npid=4242\ntime_ns=%s000000000\nkind=writer\n' "$(date +%s)" >"$WORK/base-lock/repo/$OTHER_LOCK"

# armed: snapshot 6 is taken while a prune (its own cache, as on another
# host) condemns packs: the backup holds its lock object, so the prune arms
# its record. The backup's catalog learnt nothing of it, so a1 (the bytes
# of snapshot 1) is deduplicated against its condemned pack.
cp -p "$WORK/tree-1/a1" "$SRC/a1"
state_load "$WORK/base-prune" "$WORK/base-armed"
hook="CHRONOFS_FAULTS= CHRONOFS_CACHE_DIR=$(printf %q "$WORK/cache-hook") $(printf %q "$CHRONOCTL")"
hook+=" prune --max-unused $MAX_UNUSED --json >$(printf %q "$WORK/hook.json") 2>$(printf %q "$WORK/hook.err")"
run env CHRONOFS_FAULTS=ingest.open:1:run CHRONOFS_FAULT_RUN="$hook" CHRONOFS_REPO="$WORK/base-armed/repo" \
	CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/base-armed/cache" \
	timeout -k 10 120 "$CHRONOCTL" snapshot create --json "$SRC"
[ "$RC" = 0 ] || { _lib_show_output; fail "setup: the backup during a prune failed (exit $RC)"; }
cp "$OUT" "$WORK/snap.json"
SNAP_ID=$(jq -r .id "$WORK/snap.json")
snapshot_taken 6
jq -e '.records_waiting == 1 and .writers_waiting == 1 and .packs_condemned >= 4' "$WORK/hook.json" >/dev/null || {
	cat "$WORK/hook.json" "$WORK/hook.err" >&2
	fail "setup: the prune during a backup did not arm its record for the backup"
}
jq -e '.stats.bytes_added < 102400' "$WORK/snap.json" >/dev/null ||
	fail "setup: the backup during a prune stored a1 again ($(jq -c .stats "$WORK/snap.json")): it did not reuse the condemned pack"

# --- clean runs: what a prune reaches ------------------------------------------

# The named points a run reaches, in order, one per line ("POINT N OPS",
# OPS the store operations that had ended then).
ALL_POINTS="gc.record prune.marked prune.accounted prune.repacked prune.condemned prune.arm prune.finish
	prune.delete prune.deleted objstore.put catalog.commit forget.delete"
count_spec() {
	local p spec=
	for p in $ALL_POINTS; do
		spec="${spec:+$spec,}$p:*:run"
	done
	printf '%s' "$spec"
}

# A clean prune of a copy of BASE in DIR: its store operations (the trace,
# one line each), the named points it reaches (in order), its result.
clean_run() { # BASE DIR
	state_load "$1" "$2"
	REPO=$2/repo CACHE=$2/cache prune_env CHRONOFS_OBJSTORE_FAULT="trace=$2/trace" \
		CHRONOFS_FAULTS="$(count_spec)" CHRONOFS_FAULT_RUN="echo \"\$CFS_FAULT_POINT \$CFS_FAULT_COUNT \$(wc -l <$2/trace)\" >>$2/points"
	[ "$RC" = 0 ] || { _lib_show_output; fail "the clean prune of $1 failed (exit $RC)"; }
	cp "$OUT" "$2/result.json"
	log "a clean prune of $(basename "$1"): $(cat "$OUT")"
	log "  $(wc -l <"$2/trace") store operations, data/ $(data_bytes "$1/repo") -> $(data_bytes "$2/repo") bytes:"
	sed 's/^/      /' "$2/trace" >&2
	log "  named points: $(awk '{ n[$1]++ } END { for (p in n) printf "%s:%d ", p, n[p] }' "$2/points")"
}
clean_expect() { # DIR WHAT JQ-TESTS...
	local dir=$1 what=$2 t
	shift 2
	for t in "$@"; do
		jq -e ".$t" "$dir/result.json" >/dev/null || fail "$what: not $t"
	done
}

# What each family starts from, which snapshots it must keep (the trees
# they captured are in TREE), the bytes of data/ a clean prune leaves, how
# many done records the next prune leaves, and which of the gc/ objects a
# killed prune put are condemn or arm records (their order in a clean run).
declare -A BASE=() LIVE=() CLEAN=() DONES=() BAD_PUTS=()
clean_run "$WORK/base-prune" "$WORK/clean-prune"
clean_expect "$WORK/clean-prune" "the clean prune does not do every kind of work" 'packs_repacked >= 2' \
	'packs_unused >= 2' 'packs_deleted >= 4' 'blobs_moved >= 2' 'indexes_written >= 1' 'indexes_deleted >= 2' \
	'records_finished == 1' 'records_waiting == 0'
BASE[prune]=$WORK/base-prune
LIVE[prune]="${SNAPS[3]} ${SNAPS[5]}"
CLEAN[prune]=$(data_bytes "$WORK/clean-prune/repo")
DONES[prune]=1
BAD_PUTS[prune]=1 # condemn, done

clean_run "$WORK/base-lock" "$WORK/clean-lock"
clean_expect "$WORK/clean-lock" "a prune while another host's lock exists" 'records_waiting == 1' \
	'writers_waiting == 1' 'packs_deleted == 0' 'packs_condemned >= 4'
BASE[lock]=$WORK/base-lock
LIVE[lock]=${LIVE[prune]}
CLEAN[lock]=${CLEAN[prune]}
DONES[lock]=1
BAD_PUTS[lock]="1 2" # condemn, arm
ARM_OP=$(gc_puts "$WORK/clean-lock/trace" | sed -n 2p)
ARM_OP=$(awk -v o="$ARM_OP" '$3 == o { print $1 }' "$WORK/clean-lock/trace")
[ -n "$ARM_OP" ] || fail "a prune while another host's lock exists put no arm record"
LOCK_OPS=$(wc -l <"$WORK/clean-lock/trace")

BASE[forget]=$WORK/base-forget
LIVE[forget]=${LIVE[prune]}
CLEAN[forget]=${CLEAN[prune]}
DONES[forget]=1
BAD_PUTS[forget]=""

clean_run "$WORK/base-armed" "$WORK/clean-armed"
clean_expect "$WORK/clean-armed" "the prune after a backup reused a condemned pack" 'packs_released >= 1' \
	'records_finished == 2' 'records_waiting == 0' 'packs_repacked >= 1' 'packs_deleted >= 5'
BASE[armed]=$WORK/base-armed
LIVE[armed]="${SNAPS[3]} ${SNAPS[5]} ${SNAPS[6]}"
CLEAN[armed]=$(data_bytes "$WORK/clean-armed/repo")
DONES[armed]=2
BAD_PUTS[armed]=2 # done (of the armed record), condemn, done
ARMED_OPS=$(wc -l <"$WORK/clean-armed/trace")

# The points to kill a run at, from its clean run in DIR: "KIND SPEC"
# lines, KIND a named point or powerloss. A kill leaves a state: the store
# operations that ended and the catalog commits done (the catalog syncs its
# WAL on each: a power loss keeps them, as a crash does), so two points
# with none of either between them leave the same state and only one is
# run:
#   - a crash at gc.record, prune.delete or objstore.put is the power loss
#     at the store operation that follows it: only the power loss is run;
#   - power loss at every store operation, except in a batch of deletes
#     under one prefix (data/, index/), where the first, one in the
#     middle and the last stand for the others;
#   - every other named point at each of its occurrences, unless an
#     earlier one left the same state;
#   - with CATALOG=1, the first catalog commit after each store operation
#     (the store one step ahead of the catalog), unless a named point left
#     that state; the others differ from these only by more of the same
#     commits.
# T5005_ALL=1 runs every occurrence of every named point and power loss at
# every store operation.
select_points() { # DIR CATALOG
	if [ "${T5005_ALL:-0}" = 1 ]; then
		awk '{ print $1, $1 ":" $2 }' "$1/points"
		seq 1 "$(wc -l <"$1/trace")" | sed 's/^/powerloss /'
		return
	fi
	awk -v catalog="$2" '
		FNR == NR {
			op[$1] = $2
			p = $3
			sub(/\/.*/, "", p)
			prefix[$1] = p
			ops = $1
			next
		}
		FNR == 1 { gap = -1 }
		{
			state = $3 " " commits
			if ($1 == "catalog.commit") {
				commits++
				if (!catalog || $3 == gap || seen[state])
					next
				gap = $3
			} else if ($1 == "gc.record" || $1 == "prune.delete" || $1 == "objstore.put" || seen[state]) {
				next
			}
			seen[state] = 1
			print $1, $1 ":" $2
		}
		END {
			for (i = 1; i <= ops; i = j) {
				for (j = i + 1; j <= ops && op[i] == "delete" && op[j] == "delete" && prefix[j] == prefix[i]; j++)
					;
				print "powerloss", i
				if (j - i > 2)
					print "powerloss", i + int((j - i) / 2)
				if (j - i > 1)
					print "powerloss", j - 1
			}
		}' "$1/trace" "$1/points"
}

# backup: the prune killed, then a backup reuses what it found unused (a1,
# as in snapshot 6), then the next prune: the bytes a clean prune, the
# backup and a prune leave.
state_load "$WORK/base-prune" "$WORK/clean-backup"
(
	REPO=$WORK/clean-backup/repo CACHE=$WORK/clean-backup/cache
	ok cfs prune --max-unused "$MAX_UNUSED" --json
	ok cfs snapshot create --json "$SRC"
	ok cfs prune --max-unused "$MAX_UNUSED" --json
)
BASE[backup]=$WORK/base-prune
LIVE[backup]=${LIVE[prune]} # and the backup's snapshot (point adds it)
CLEAN[backup]=$(data_bytes "$WORK/clean-backup/repo")
DONES[backup]=1
BAD_PUTS[backup]=1 # condemn

# --- two prunes ---------------------------------------------------------------

# A second prune while one runs (started by the first at prune.condemned,
# its record durable) fails at once naming locks/prune, and the first
# finishes as a clean prune does.
state_load "$WORK/base-prune" "$WORK/two"
second="CHRONOFS_FAULTS= CHRONOFS_CACHE_DIR=$(printf %q "$WORK/two/cache2") $(printf %q "$CHRONOCTL")"
second+=" prune --max-unused $MAX_UNUSED --json >$(printf %q "$WORK/two/second.json") 2>$(printf %q "$WORK/two/second.err");"
second+=" echo \$? >$(printf %q "$WORK/two/second.rc")"
REPO=$WORK/two/repo CACHE=$WORK/two/cache prune_env CHRONOFS_FAULTS=prune.condemned:1:run CHRONOFS_FAULT_RUN="$second"
[ "$RC" = 0 ] || { _lib_show_output; fail "two prunes: the first failed (exit $RC)"; }
[ "$(cat "$WORK/two/second.rc" 2>/dev/null)" = 1 ] ||
	{ cat "$WORK/two/second.err" >&2; fail "two prunes: the second did not run or did not fail (exit $(cat "$WORK/two/second.rc" 2>/dev/null))"; }
expect_in "$WORK/two/second.err" "locks/prune" "two prunes: the second did not name the prune lock"
expect_in "$WORK/two/second.err" "is running" "two prunes: the second did not say that a prune runs"
[ ! -s "$WORK/two/second.json" ] || fail "two prunes: the second printed a result"
[ "$(data_bytes "$WORK/two/repo")" = "${CLEAN[prune]}" ] ||
	fail "two prunes: data/ holds $(data_bytes "$WORK/two/repo") bytes after the first, a clean prune leaves ${CLEAN[prune]}"
[ -z "$(names "$WORK/two/repo" locks)" ] || fail "two prunes: locks/ holds $(names "$WORK/two/repo" locks | tr '\n' ' ')"
# locks/prune of a live process of this host, and of another host: the
# prune refuses and changes nothing; of a process of this host that is
# gone: it takes it over and prunes.
dead=$(sh -c 'echo $$')
for holder in "$(hostname) $$ refuse" "otherhost $dead refuse" "$(hostname) $dead take"; do
	read -r host pid expect <<<"$holder"
	state_load "$WORK/base-prune" "$WORK/plock"
	mkdir -p "$WORK/plock/repo/locks"
	printf 'host=%s\npid=%s\ntime_ns=%s000000000\nkind=prune\n' "$host" "$pid" "$(date +%s)" >"$WORK/plock/repo/locks/prune"
	names "$WORK/plock/repo" data >"$WORK/plock/data.before"
	REPO=$WORK/plock/repo CACHE=$WORK/plock/cache prune_env
	if [ "$expect" = refuse ]; then
		[ "$RC" = 1 ] || { _lib_show_output; fail "locks/prune of $host pid $pid: the prune did not refuse (exit $RC)"; }
		expect_in "$ERR" "prune process $pid on host $host is running" "locks/prune of $host pid $pid: not named"
		names "$WORK/plock/repo" data | cmp -s - "$WORK/plock/data.before" ||
			fail "locks/prune of $host pid $pid: the refused prune changed data/"
		[ -e "$WORK/plock/repo/locks/prune" ] || fail "locks/prune of $host pid $pid: the refused prune removed it"
	else
		[ "$RC" = 0 ] || { _lib_show_output; fail "locks/prune of a dead process of this host: the prune failed (exit $RC)"; }
		expect_in "$ERR" "Taking over locks/prune" "locks/prune of a dead process of this host: not taken over"
		[ "$(data_bytes "$WORK/plock/repo")" = "${CLEAN[prune]}" ] || fail "locks/prune of a dead process: data/ not pruned"
		[ -z "$(names "$WORK/plock/repo" locks)" ] || fail "locks/prune of a dead process: locks/ not empty"
	fi
done
log "two prunes: the second refused naming the first; locks/prune of a live or foreign process refused, of a dead one of this host taken over"

# --- one point ------------------------------------------------------------------

# The checks after a kill, on REPO and CACHE as the kill left it (or a
# fresh CACHE), with PT the point's directory: $PT/gc.keep the gc/ objects
# that stay (forget records), $PT/gc.bad the condemn and arm records that
# must not outlive the next prune. verify writes data/'s bytes after the
# next prune to $PT/bytes.
verify() { # WHAT FAMILY
	local what=$1 family=$2 id r=$PT/r data extra newest
	ok cfs check --read-data
	expect_in "$OUT" "no problems found" "$what: check --read-data found problems"
	ok cfs snapshot list --json
	jq -r '.[].id' "$OUT" | sort >"$PT/ids"
	tr ' ' '\n' <<<"${LIVE[$family]}" | sort >"$PT/live.ids"
	cmp -s "$PT/ids" "$PT/live.ids" || {
		diff "$PT/live.ids" "$PT/ids" >&2 || true
		fail "$what: the snapshots listed are not the live ones"
	}
	for id in ${LIVE[$family]}; do
		rm -rf "$r"
		mkdir "$r"
		ok cfs restore "$id" "$r"
		assert_same_tree "${TREE[$id]}" "$r$SRC"
		newest=$id
	done
	# The killed prune left locks/prune: its process is gone, so the next
	# prune of this host takes it over.
	local stale=0
	[ ! -e "$REPO/locks/prune" ] || stale=1
	if [ "$family" = lock ]; then
		# Its writer may still run: a prune now deletes nothing.
		names "$REPO" data >"$PT/data.before"
		ok cfs prune --max-unused "$MAX_UNUSED" --json
		[ "$stale" = 0 ] || expect_in "$ERR" "Taking over locks/prune" "$what: the prune did not take over the dead prune's lock"
		stale=0
		json_expect "$what: a prune while the other host's lock exists" records_waiting '. == 1'
		json_expect "$what: a prune while the other host's lock exists" packs_deleted '. == 0'
		names "$REPO" data | cmp -s - "$PT/data.before" ||
			fail "$what: a prune while the other host's lock exists changed data/"
		rm "$REPO/$OTHER_LOCK"
	fi
	ok cfs prune --max-unused "$MAX_UNUSED" --json
	[ "$stale" = 0 ] || expect_in "$ERR" "Taking over locks/prune" "$what: the next prune did not take over the dead prune's lock"
	json_expect "$what: the next prune" records_waiting '. == 0'
	json_expect "$what: the next prune" writers_waiting '. == 0'
	data=$(data_bytes "$REPO")
	if [ "$data" -lt "${CLEAN[$family]}" ] || [ "$data" -gt $((CLEAN[$family] + SLACK)) ]; then
		fail "$what: after the next prune data/ holds $data bytes, after a clean prune ${CLEAN[$family]}"
	fi
	names "$REPO" snapshots | sed 's,^snapshots/,,' | cmp -s - "$PT/live.ids" ||
		fail "$what: after the next prune snapshots/ holds $(names "$REPO" snapshots | tr '\n' ' ')"
	[ -z "$(names "$REPO" locks)" ] || fail "$what: after the next prune locks/ holds $(names "$REPO" locks | tr '\n' ' ')"
	names "$REPO" gc >"$PT/gc.after"
	[ -z "$(comm -23 "$PT/gc.keep" "$PT/gc.after")" ] ||
		fail "$what: the next prune deleted the forget record $(comm -23 "$PT/gc.keep" "$PT/gc.after")"
	extra=$(comm -13 "$PT/gc.keep" "$PT/gc.after")
	[ "$(grep -c . <<<"$extra")" = "${DONES[$family]}" ] ||
		fail "$what: after the next prune gc/ holds $(grep -c . <<<"$extra") records besides the forget record, expected ${DONES[$family]} done record(s): $extra"
	! grep -qxF -f "$PT/gc.bad" <<<"$extra" ||
		fail "$what: condemn or arm records outlived the next prune: $(grep -xF -f "$PT/gc.bad" <<<"$extra")"
	ok cfs check --read-data
	expect_in "$OUT" "no problems found" "$what: check --read-data after the next prune found problems"
	rm -rf "$r"
	mkdir "$r"
	ok cfs restore "$newest" "$r"
	assert_same_tree "${TREE[$newest]}" "$r$SRC"
	echo "$data" >"$PT/bytes"
}

# One point: a copy of the family's base, the killed run, the checks with
# the cache kept and (FRESH=1) with a fresh cache over a copy of the store.
point() { # DIR FAMILY FRESH KIND SPEC
	local dir=$1 family=$2 fresh=$3 kind=$4 spec=$5 what bytes fbytes i
	what="$family: $kind $spec"
	state_load "${BASE[$family]}" "$dir"
	PT=$dir
	REPO=$dir/repo CACHE=$dir/cache OUT=$dir/.out ERR=$dir/.err
	local env=(CHRONOFS_OBJSTORE_FAULT="trace=$dir/trace")
	case $kind in
	powerloss) env=(CHRONOFS_OBJSTORE_FAULT="powerloss@$spec,trace=$dir/trace") ;;
	*) env+=(CHRONOFS_FAULTS="$spec:crash") ;;
	esac
	if [ "$family" = forget ]; then
		run env "${env[@]}" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
			timeout -k 10 120 "$CHRONOCTL" forget "${FORGOTTEN[@]}"
	else
		prune_env "${env[@]}"
	fi
	[ "$RC" = 0 ] || [ "$RC" = 99 ] || { _lib_show_output; fail "$what: exit $RC, expected the crash (99)"; }
	[ "$RC" = 99 ] || { _lib_show_output; fail "$what: the run was not killed (exit $RC): the point was not reached"; }
	if [ "$kind" = powerloss ]; then
		awk -v n="$spec" '$1 == n && $NF == "lost" { f = 1 } END { exit !f }' "$dir/trace" ||
			fail "$what: the power did not go at store operation $spec (trace: $(tail -n 1 "$dir/trace"))"
	fi
	# gc/: the forget records stay; the base's other records (the armed
	# one) and the condemn and arm records the killed run put must go.
	names "${BASE[$family]}/repo" gc | grep -xF "$FORGET_GC" >"$dir/gc.keep" || true
	names "${BASE[$family]}/repo" gc | grep -vxF "$FORGET_GC" >"$dir/gc.bad" || true
	if [ "$family" = forget ]; then
		gc_puts "$dir/trace" >>"$dir/gc.keep"
	fi
	for i in ${BAD_PUTS[$family]}; do
		gc_puts "$dir/trace" | sed -n "${i}p" >>"$dir/gc.bad"
	done
	sort -o "$dir/gc.keep" "$dir/gc.keep"
	log "$what: killed after $(grep -c . "$dir/trace" || true) store operations"
	if [ "$family" = backup ]; then
		# A backup with a1 again, whose blob the killed prune found
		# unused, of this host (its cache kept) or after a power loss of
		# another one. Once the condemn record is durable, the backup must
		# store a1 again.
		local id added
		local bcache=$CACHE
		[ "$kind" != powerloss ] || bcache=$dir/cache-other
		CACHE=$bcache ok cfs snapshot create --json "$SRC"
		id=$(jq -r .id "$OUT")
		added=$(jq -r .stats.bytes_added "$OUT")
		LIVE[backup]+=" $id"
		TREE[$id]=$WORK/tree-6
		log "$what: the backup after the kill added $added bytes"
		if [ -n "$(gc_puts "$dir/trace" | sed -n 1p)" ] && [ "$added" -lt $((300 * KiB)) ]; then
			fail "$what: the backup after the condemn record added $added bytes: it used a1 from a condemned pack"
		fi
	fi
	if [ "$fresh" = 1 ]; then
		cp -al "$REPO" "$dir/repo-fresh"
		(
			REPO=$dir/repo-fresh CACHE=$dir/cache-fresh OUT=$dir/.out-fresh ERR=$dir/.err-fresh PT=$dir/fresh
			mkdir "$PT"
			cp "$dir/gc.keep" "$dir/gc.bad" "$PT/"
			verify "$what, fresh cache" "$family"
		)
		fbytes=$(cat "$dir/fresh/bytes")
	fi
	verify "$what" "$family"
	bytes=$(cat "$dir/bytes")
	log "$what: ok; the next prune left data/ at $bytes bytes${fbytes:+ ($fbytes with a fresh cache)}, a clean one ${CLEAN[$family]}"
}

# --- the points, JOBS at a time ---------------------------------------------------

declare -A JOB_WHAT=() JOB_LOG=() PER_FAMILY=()
POINTS=0
POWERLOSS_POINTS=0
FRESH_POINTS=0
wait_job() {
	local done_pid='' rc=0 what
	wait -n -p done_pid || rc=$?
	[ -n "$done_pid" ] || return 0
	what=${JOB_WHAT[$done_pid]}
	if [ "$rc" != 0 ]; then
		cat "${JOB_LOG[$done_pid]}" >&2
		unset "JOB_WHAT[$done_pid]"
		fail "point $what failed (above)"
	fi
	grep -F 'ok; the next prune' "${JOB_LOG[$done_pid]}" >&2 || true
	unset "JOB_WHAT[$done_pid]"
}
wait_all_jobs() {
	local pid
	for pid in "${!JOB_WHAT[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
# A failing point leaves the others to end on their own: killed, their
# subshell would leave a chronoctl writing into $WORK while it goes.
at_exit wait_all_jobs
mkdir -p "$WORK/pt"

start_point() { # FAMILY KIND SPEC
	local fresh=0 pid
	POINTS=$((POINTS + 1))
	PER_FAMILY[$1]=$((${PER_FAMILY[$1]:-0} + 1))
	# A fresh cache sees only the store, and the store states are those
	# of the power losses: the others would repeat one of them.
	if [ "$2" = powerloss ]; then
		POWERLOSS_POINTS=$((POWERLOSS_POINTS + 1))
		if [ $((POWERLOSS_POINTS % FRESH_EVERY)) = 1 ] || [ "$FRESH_EVERY" = 1 ]; then
			fresh=1
			FRESH_POINTS=$((FRESH_POINTS + 1))
		fi
	fi
	while [ "${#JOB_WHAT[@]}" -ge "$JOBS" ]; do
		wait_job
	done
	(
		set -E
		trap 'printf "%s: FAIL: line %s: command exited %s: %s\n" "$TEST_NAME" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
		point "$WORK/pt/$POINTS" "$1" "$fresh" "$2" "$3"
	) >"$WORK/pt/$POINTS.log" 2>&1 &
	pid=$!
	JOB_WHAT[$pid]="$1: $2 $3"
	JOB_LOG[$pid]=$WORK/pt/$POINTS.log
}

# prune: the points select_points picks, with the catalog one step behind
# the store; lock: at the arm point and at every store operation from the
# arm record's put on (a crash before that put is the power loss there);
# forget: before each manifest it deletes; armed: the points select_points
# picks.
while read -r kind spec; do
	start_point prune "$kind" "$spec"
done < <(select_points "$WORK/clean-prune" 1)
start_point lock prune.arm prune.arm:1
for ((n = ARM_OP; n <= LOCK_OPS; n++)); do
	start_point lock powerloss "$n"
done
for n in $(seq 1 "${#FORGOTTEN[@]}"); do
	start_point forget forget.delete "forget.delete:$n"
done
while read -r kind spec; do
	start_point armed "$kind" "$spec"
done < <(select_points "$WORK/clean-armed" 0)
# backup: before the condemn record (the backup may use a1's pack), with it
# durable (it must store a1 again), in the middle of its deletes, and with
# the done record durable.
start_point backup prune.repacked prune.repacked:1
start_point backup prune.condemned prune.condemned:1
start_point backup powerloss "$(awk '$2 == "delete" && $3 ~ /^data\// { d[++n] = $1 } END { print d[int(n / 2) + 1] }' "$WORK/clean-prune/trace")"
start_point backup powerloss "$(awk '$2 == "delete" && $3 ~ /^gc\// { print $1; exit }' "$WORK/clean-prune/trace")"
while [ "${#JOB_WHAT[@]}" -gt 0 ]; do
	wait_job
done

log "points per family: $(for f in prune lock forget armed backup; do printf '%s %s, ' "$f" "${PER_FAMILY[$f]:-0}"; done)"
[ "$POINTS" -ge 20 ] || fail "only $POINTS points"
log "ok: $POINTS points ($FRESH_POINTS also with a fresh cache): after each kill the repository checked clean, every live snapshot restored, and the next prune reclaimed the space"
