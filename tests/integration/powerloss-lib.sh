# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# powerloss-lib.sh — the loop of t5003 (local directory) and t6003 (S3):
# a backup faulted at its Nth store operation by the faulty objstore
# backend (src/objstore/faulty.c, CHRONOFS_OBJSTORE_FAULT=KIND@N), for every
# N a clean run makes, from the same repository state each time; then the
# real binaries check what was left. Source it after lib.sh.
#
# The test provides:
#   SRC, DUMP       the source tree and the file the stream command cats
#   STREAM          the stream's path in the snapshot
#   pl_state_save DIR / pl_state_load DIR
#                   keep the repository ($REPO) and its cache ($CACHE)
#                   aside / bring them back
#   pl_store_mark   copy the store as the fault left it to $PL_FRESH_REPO
#                   (default $WORK/after): the checks with a fresh cache run
#                   there, at the same time as those with the cache kept
#                   (two cores: a point's time nearly halves)
#   pl_after_fault WHAT KIND TRACE-LINE (optional)
#                   checks of its own right after the faulted run
# then calls pl_run KINDS, with $REPO (an empty location) and $CACHE set.
# KINDS: "KIND[:STEP[:FIRST]] ...", faulty.c's kinds, each at every STEP-th
# N from FIRST (default 1:1). pl_run makes the tree, inits the repository
# (saved as $WORK/base0), runs stage 0 (a full backup into base0; the
# state after its clean run is base1), changes the tree, runs stage 1 (an
# incremental into base1), and prints per kind: points run, points where
# the fault was reached, points where the faulted run still committed its
# snapshot, points with something to detect (the run failed and said so,
# or check named the damaged object). What each point checks is described
# in t5003.

KiB=1024
MiB=$((1024 * KiB))
PL_READ_DATA_EVERY=${PL_READ_DATA_EVERY:-4}

# Is the faulty backend compiled in? A malformed spec makes the open fail.
run env CHRONOFS_OBJSTORE_FAULT=probe CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"
expect_in "$ERR" CHRONOFS_OBJSTORE_FAULT

# A small tree that still has what matters: a few dozen small files, hard
# links, a symlink, an xattr, an odd mode, an empty file, depth; stage 1
# adds a file that spans two packs (packs close at 16 MiB). (The big file
# comes second so that stage 0's points, which back up everything again
# after most faults, stay cheap.)
pl_make_tree() {
	mkdir -p "$SRC/docs" "$SRC/bin" "$SRC/deep/a/b/c" "$SRC/links"
	local i
	for i in $(seq 1 24); do
		printf 'document %d\n%s\n' "$i" "$(seq 1 $((i * 40)))" >"$SRC/docs/d$i.txt"
	done
	for i in 1 2 3 4; do
		rand_file "$SRC/bin/m$i" $((200 * KiB + i))
	done
	printf 'deep\n' >"$SRC/deep/a/b/c/leaf"
	: >"$SRC/empty"
	ln "$SRC/docs/d1.txt" "$SRC/links/hard1"
	ln "$SRC/bin/m1" "$SRC/links/hard2"
	ln -s ../docs/d2.txt "$SRC/links/sym"
	chmod 0750 "$SRC/bin/m2"
	setfattr -n user.powerloss -v 1 "$SRC/docs/d3.txt" 2>/dev/null || log "no user xattrs here"
	seq 1 20000 >"$DUMP"
}

# Stage 1's changes: an incremental with a changed, a removed and new
# files, one of them big.
pl_change_tree() {
	printf 'changed\n' >>"$SRC/docs/d5.txt"
	rm "$SRC/docs/d6.txt"
	rand_file "$SRC/big.bin" $((17 * MiB))
	printf 'new\n' >"$SRC/deep/a/b/c/leaf2"
	seq 5 30000 >"$DUMP"
}

# One backup of the tree and the stream; RC, $OUT (JSON), $ERR.
pl_backup() { # [ENV=VALUE...]
	run env "$@" CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		timeout -k 10 300 "$CHRONOCTL" snapshot create --json --stream "$STREAM=cat $DUMP" "$SRC"
}

# What each snapshot captured: a reference copy of the tree and the
# stream's bytes, by snapshot id.
declare -A PL_TREE=() PL_DUMP=()
PL_CUR_TREE=
PL_CUR_DUMP=
PL_BASE_IDS=()

# Where a path of checks restores and keeps its listing (the two paths of
# a point may run at once).
PL_TAG=kept

pl_restore_compare() { # ID WHAT
	local r=$WORK/r-$PL_TAG
	rm -rf "$r"
	mkdir "$r"
	expect_exit 0 cfs restore "$1" "$r"
	assert_same_tree "${PL_TREE[$1]}" "$r$SRC"
	cmp -s "${PL_DUMP[$1]}" "$r$STREAM" || fail "$2: snapshot $1: the stream $STREAM does not restore byte-identical"
}

# Listed snapshot ids, sorted, into FILE. (One jq per JSON: a point runs
# many, and jq's start costs about as much as a chronoctl open.)
pl_list_ids() { # FILE WHAT
	expect_exit 0 cfs snapshot list --json
	jq -r '.[].id' "$OUT" | sort >"$1" || fail "$2: snapshot list --json printed invalid JSON"
}

# Every snapshot listed before is listed still; at most one new one (this
# run's), which captured the current tree. With RESTORE=1 every listed
# snapshot restores what it captured. Sets PL_NEW_ID; the ids in
# $WORK/ids-$PL_TAG.
pl_verify_listed() { # WHAT RESTORE
	local id ids=$WORK/ids-$PL_TAG
	PL_NEW_ID=
	pl_list_ids "$ids" "$1"
	for id in "${PL_BASE_IDS[@]}"; do
		grep -qx "$id" "$ids" || fail "$1: snapshot $id, committed before, is no longer listed"
	done
	while read -r id; do
		if [ -z "${PL_TREE[$id]:-}" ]; then
			[ -z "$PL_NEW_ID" ] || fail "$1: two new snapshots listed ($PL_NEW_ID, $id)"
			PL_NEW_ID=$id
			PL_TREE[$id]=$PL_CUR_TREE
			PL_DUMP[$id]=$PL_CUR_DUMP
		fi
		[ "$2" = 0 ] || pl_restore_compare "$id" "$1"
	done <"$ids"
}

# check: no problem, or (when the fault damaged an object) exit 1 naming it.
pl_check() { # WHAT [--read-data]
	local what=$1
	shift
	run cfs check "$@"
	case $RC in
	0) ;;
	1)
		if [ -z "$PL_DAMAGED" ] || ! grep -qF "$PL_DAMAGED" "$ERR"; then
			_lib_show_output
			fail "$what: check $* found problems${PL_DAMAGED:+, and does not name $PL_DAMAGED}"
		fi
		PL_FOUND=1
		;;
	*)
		_lib_show_output
		fail "$what: check $* exited $RC"
		;;
	esac
}

# The next backup succeeds and reuses what the faulted run stored: the
# bytes it adds plus those of the packs stored whole before the fault are
# at most a full upload (+ slack: trees, the index, pack headers).
pl_next() { # WHAT STORED_BEFORE
	pl_backup
	# A writer may refuse a repository holding an object it cannot read
	# (the damaged one, named): then `repair`, where there is one, and the
	# backup after it must succeed.
	if [ "$RC" = 1 ] && [ -n "$PL_DAMAGED" ] && [ "$PL_HAVE_REPAIR" = 1 ] && grep -qF "$PL_DAMAGED" "$ERR"; then
		PL_FOUND=1
		PL_REPAIRS=$((PL_REPAIRS + 1))
		expect_exit 0 cfs repair
		pl_backup
	fi
	[ "$RC" = 0 ] || { _lib_show_output; fail "$1: the next backup failed (exit $RC)"; }
	local id added
	read -r id added < <(jq -r '"\(.id) \(.stats.bytes_added)"' "$OUT")
	[ $((added + $2)) -le $((PL_FULL + 256 * KiB)) ] ||
		fail "$1: the next backup added $added bytes, although $2 bytes of packs were stored before the fault (a full upload: $PL_FULL)"
	PL_TREE[$id]=$PL_CUR_TREE
	PL_DUMP[$id]=$PL_CUR_DUMP
	PL_NEXT_ID=$id
	[ "$2" = 0 ] || PL_REUSED=$((PL_REUSED + 1))
}

# Bytes of packs stored whole before operation N: from the run's trace,
# where an operation has a line once it has ended (those still in flight
# on other threads when the power went have none).
pl_stored_before() { # TRACE N
	awk -v n="$2" '$1 < n && ($2 == "commit" || $2 == "put") && $3 ~ /^data\// && $5 == "-" && $6 == "0" { s += $4 }
		END { print s + 0 }' "$1"
}

declare -A PL_RUN=() PL_REACHED=() PL_COMMITTED=() PL_DETECTED=()
PL_POINTS=0
PL_FRESH_REPO=$WORK/after
# When the checks with the cache kept fail, those with a fresh cache are
# waited for, not killed: killing the subshell would leave the chronoctl it
# runs writing into $WORK while it is removed.
PL_FRESH_PID=
pl_wait_fresh() {
	[ -z "$PL_FRESH_PID" ] || wait "$PL_FRESH_PID" 2>/dev/null || true
}
at_exit pl_wait_fresh
PL_REUSED=0
PL_REPAIRS=0
PL_HAVE_REPAIR=0
if "$CHRONOCTL" repair --help >/dev/null 2>&1; then
	PL_HAVE_REPAIR=1
fi

pl_point() { # STAGE KIND N
	local stage=$1 kind=$2 n=$3 what="$2@$3 (stage $1)" trace=$WORK/point.trace rc before line full=0
	PL_POINTS=$((PL_POINTS + 1))
	PL_RUN[$kind]=$((${PL_RUN[$kind]:-0} + 1))
	[ $((PL_POINTS % PL_READ_DATA_EVERY)) != 0 ] || full=1
	pl_state_load "$WORK/base$stage"
	rm -f "$trace"
	pl_backup CHRONOFS_OBJSTORE_FAULT="$kind@$n,trace=$trace"
	rc=$RC
	line=$(awk -v n="$n" '$1 == n' "$trace")
	PL_DAMAGED=
	PL_FOUND=0
	if [ -z "$line" ]; then
		# Fewer operations than the clean run (they vary a little with
		# thread timing): nothing was injected.
		[ "$rc" = 0 ] || { _lib_show_output; fail "$what: not reached, yet the run exited $rc"; }
	else
		PL_REACHED[$kind]=$((${PL_REACHED[$kind]:-0} + 1))
		case $kind in
		powerloss | powerloss-tmp | torn)
			[ "$rc" = 99 ] || { _lib_show_output; fail "$what: exit $rc, expected the power loss (99)"; }
			;;
		*)
			case $rc in
			0) ;;
			1)
				PL_FOUND=1
				grep -qF "$(awk '{ print $3 }' <<<"$line")" "$ERR" || {
					_lib_show_output
					fail "$what: the run failed without naming the object ($line)"
				}
				;;
			*) _lib_show_output; fail "$what: exit $rc (expected 0, or 1 with the failure named)" ;;
			esac
			;;
		esac
		# An object the fault may have left damaged (check must name it).
		case $kind in
		short | torn) PL_DAMAGED=$(awk '{ print $3 }' <<<"$line") ;;
		esac
	fi
	before=$(pl_stored_before "$trace" "$n")
	! declare -F pl_after_fault >/dev/null || pl_after_fault "$what" "$kind" "$line"
	pl_store_mark
	(
		set -E # say where it stopped, also inside functions
		trap 'printf "%s: FAIL: line %s: command exited %s: %s\n" "$TEST_NAME" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
		pl_fresh "$what" "$before" "$full" "$PL_FRESH_REPO"
	) &
	PL_FRESH_PID=$!
	pl_kept "$what" "$before"
	wait_rc "$PL_FRESH_PID"
	PL_FRESH_PID=
	[ "$WAIT_RC" = 0 ] || fail "$what: the checks with a fresh cache failed (above)"
	cmp -s "$WORK/ids-fresh" "$WORK/ids-kept" || fail "$what: a fresh cache lists other snapshots than the kept one"
	local found reused repairs
	read -r found reused repairs <"$WORK/fresh.result"
	PL_REUSED=$((PL_REUSED + reused))
	PL_REPAIRS=$((PL_REPAIRS + repairs))
	[ "$PL_FOUND$found" = 00 ] || PL_DETECTED[$kind]=$((${PL_DETECTED[$kind]:-0} + 1))
	[ -z "$PL_NEW_ID" ] || PL_COMMITTED[$kind]=$((${PL_COMMITTED[$kind]:-0} + 1))
	log "$what: ${line:-not reached}: exit $rc, ${PL_NEW_ID:+its snapshot committed, }$before bytes of packs before it$([ "$PL_FOUND$found" = 00 ] || printf ', detected')"
}

# The cache kept (the local catalog syncs every commit: a real power loss
# keeps what it acknowledged): check, every listed snapshot restores, the
# next backup. Sets PL_NEW_ID.
pl_kept() { # WHAT STORED_BEFORE
	PL_TAG=kept
	pl_check "$1, cache kept"
	pl_verify_listed "$1, cache kept" 1
	pl_next "$1, cache kept" "$2"
}

# The cache lost with the machine: a fresh one over REPO, a copy of the
# store as the fault left it. With FULL, check --read-data and every
# snapshot restored, the next backup's too. It runs in a subshell (its
# variables are its own): what it found goes to $WORK/fresh.result
# ("FOUND REUSED REPAIRS").
pl_fresh() { # WHAT STORED_BEFORE FULL REPO
	REPO=$4 OUT=$WORK/.out-fresh ERR=$WORK/.err-fresh CACHE=$WORK/cache-fresh PL_TAG=fresh
	PL_FOUND=0 PL_REUSED=0 PL_REPAIRS=0
	rm -rf "$CACHE"
	if [ "$3" = 1 ]; then
		pl_check "$1, fresh cache" --read-data
	else
		pl_check "$1, fresh cache"
	fi
	pl_verify_listed "$1, fresh cache" "$3"
	pl_next "$1, fresh cache" "$2"
	[ "$3" = 0 ] || pl_restore_compare "$PL_NEXT_ID" "$1, fresh cache: the next backup"
	echo "$PL_FOUND $PL_REUSED $PL_REPAIRS" >"$WORK/fresh.result"
}

# A clean run at STAGE: its operations (the trace), its bytes added (a full
# upload), and its snapshot, committed before the next stage.
pl_clean_run() { # STAGE
	pl_state_load "$WORK/base$1"
	rm -f "$WORK/clean.trace"
	pl_backup CHRONOFS_OBJSTORE_FAULT="trace=$WORK/clean.trace"
	[ "$RC" = 0 ] || { _lib_show_output; fail "stage $1: the clean backup failed (exit $RC)"; }
	PL_OPS=$(wc -l <"$WORK/clean.trace")
	read -r PL_CLEAN_ID PL_FULL < <(jq -r '"\(.id) \(.stats.bytes_added)"' "$OUT")
	PL_TREE[$PL_CLEAN_ID]=$PL_CUR_TREE
	PL_DUMP[$PL_CLEAN_ID]=$PL_CUR_DUMP
	log "stage $1: a clean backup makes $PL_OPS store operations and adds $PL_FULL bytes:"
	sed 's/^/    /' "$WORK/clean.trace" >&2
	[ "$PL_OPS" -ge 5 ] || fail "stage $1: only $PL_OPS operations: the workload does not exercise the commit protocol"
}

pl_stage() { # STAGE KINDS
	local stage=$1 spec kind step first n
	rm -rf "$WORK/tree-$stage"
	cp -a "$SRC" "$WORK/tree-$stage"
	cp "$DUMP" "$WORK/dump-$stage"
	PL_CUR_TREE=$WORK/tree-$stage
	PL_CUR_DUMP=$WORK/dump-$stage
	if [ "$stage" = 0 ]; then
		PL_BASE_IDS=()
		pl_clean_run 0
		pl_state_save "$WORK/base1"
		PL_STAGE1_IDS=("$PL_CLEAN_ID")
	else
		PL_BASE_IDS=("${PL_STAGE1_IDS[@]}")
		pl_clean_run "$stage"
	fi
	for spec in $2; do
		IFS=: read -r kind step first <<<"$spec"
		for ((n = ${first:-1}; n <= PL_OPS; n += ${step:-1})); do
			pl_point "$stage" "$kind" "$n"
		done
	done
}

pl_figures() { # KINDS
	local spec kind
	log "points per kind: run / fault reached / the faulted run still committed / something to detect (the run failed and said so, or check named the damage)"
	for spec in $1; do
		kind=${spec%%:*}
		log "  $kind: ${PL_RUN[$kind]:-0} / ${PL_REACHED[$kind]:-0} / ${PL_COMMITTED[$kind]:-0} / ${PL_DETECTED[$kind]:-0}"
	done
	log "ok: $PL_POINTS points: every listed snapshot restored, every next backup succeeded ($PL_REUSED of them reused packs stored before the fault, $PL_REPAIRS after chronoctl repair)"
}

pl_run() { # KINDS
	pl_make_tree
	ok cfs init
	pl_state_save "$WORK/base0"
	pl_stage 0 "$1"
	pl_change_tree
	pl_stage 1 "$1"
	pl_figures "$1"
}
