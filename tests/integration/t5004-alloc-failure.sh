#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Allocation failure, every N (issue 12; STYLE.md habit 17). With a build
# made with -Dalloc_failure=true (scripts/test configures it), our code's Nth
# allocation fails when CHRONOFS_ALLOC_FAIL=N (include/chronofs/fault.h).
# For each operation, a first run counts its allocations (C); then the
# operation runs once for every N from 1 to C + a margin, each time on a
# fresh copy of the same repository, and must:
#   - exit 0 (the failure was absorbed: the result is then compared as if
#     nothing had happened) or 1 with "Cannot allocate memory" in every
#     error line (at most two: what failed, and what that means for the
#     run); never crash, hang, or exit 3 (a file that could not be read
#     because memory ran out is not "a file that could not be read": the
#     run fails), and never name damage that is not there;
#   - leave a repository that `check` finds clean, with its earlier
#     snapshot intact (restored and compared), no partial snapshot listed,
#     and after a failed restore no temporary and no partial file.
# A failing request of the mount daemon answers an error and the daemon
# serves the next requests correctly.
#
# ASan/LSan (SANITIZE=1 scripts/test) turn a leak or a bad free on an error
# path into a failure here. Threads make the order of allocations vary a
# little between runs: N names an allocation up to that interleaving, so
# every check below holds for any N (CHRONOFS_ALLOC_TRACE=1 shows the call
# site of a failing N).
#
# Operations: init; snapshot list, with the catalog in the cache and with an
# empty cache (the open rebuilds it from the store); snapshot create of a
# small tree onto the same tree and onto a changed one (incremental);
# restore; check --read-data; a mount read whole; forget of a second
# snapshot (then the repository is whole, and forgets it if the run did
# not); prune (--max-unused 0: repack too) after that forget (then the
# repository is whole, and the next prune finishes and checks clean with
# --read-data). Snapshot create, the mount, forget and prune cost 0.4-0.8 s
# per N: they try every 3rd N (ALLOC_STEP=1 tries every N: about three
# times as long); the others try every N.
# Knobs: ALLOC_STEP=K tries every Kth N for the expensive operations;
# ALLOC_OPS="init snapshot ..." runs some operations only; ALLOC_KEEP_GOING=1
# lists every failing N instead of stopping at the first; ALLOC_FROM=N and
# ALLOC_TO=N bound the Ns tried (with CHRONOFS_ALLOC_TRACE=1, to see where
# one fails); ALLOC_PERSIST=1 makes every allocation from the Nth on fail.
set -euo pipefail
# A thousand short runs that each fsync a catalog: on tmpfs they take half
# the time they take on a disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# Is the countdown compiled in? The counter file is written at exit.
run env CHRONOFS_ALLOC_COUNT="$WORK/probe.count" "$CHRONOCTL" --help
[ -s "$WORK/probe.count" ] || skip "chronoctl built without -Dalloc_failure=true"

STEP=${ALLOC_STEP:-3}
OPS=${ALLOC_OPS:-init list sync snapshot incremental restore check mount forget prune}
export CFS_TIMEOUT=60

# The small tree: files, an empty one, a subdirectory, a hard link, a
# symlink, xattrs, a file of several chunks.
SRC=$WORK/src
mkdir -p "$SRC/sub/deeper" "$SRC/empty-dir"
printf 'hello\n' >"$SRC/a.txt"
: >"$SRC/empty"
seq 1 20000 >"$SRC/sub/numbers"
head -c 300000 /dev/urandom >"$SRC/sub/deeper/random.bin"
ln "$SRC/a.txt" "$SRC/sub/hardlink"
ln -s ../a.txt "$SRC/sub/symlink"
setfattr -n user.colour -v blue "$SRC/a.txt"
setfattr -n user.empty "$SRC/sub"
touch -d '2020-01-02 03:04:05' "$SRC/sub/numbers"

ok cfs init
snap_create "$SRC"
FIRST=$SNAP_NAME
BASE=$WORK/base
mkdir -p "$BASE"
cp -a "$REPO" "$BASE/repo"
cp -a "$CACHE" "$BASE/cache"
# What the first snapshot must restore to, whatever happens to $SRC later.
ok cfs restore "$FIRST" "$BASE/tree"
assert_same_tree "$SRC" "$BASE/tree$SRC"

failures=0
problem() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	_lib_show_output
	[ "${ALLOC_KEEP_GOING:-0}" = 1 ] || exit 1
	failures=$((failures + 1))
}

# A fresh copy of the base repository and cache (one snapshot, $FIRST).
fresh() {
	rm -rf "$REPO" "$CACHE"
	cp -a "$BASE/repo" "$REPO"
	cp -a "$BASE/cache" "$CACHE"
}

# armed N CMD...: run CMD with the Nth allocation failing; RC, $OUT, $ERR,
# INJECTED (0 or 1) and COUNT (allocations made).
armed() {
	local n=$1
	shift
	rm -f "$WORK/alloc.count"
	[ "$n" -eq 0 ] || n=$n${ALLOC_PERSIST:+"+"}
	run env CHRONOFS_ALLOC_FAIL="$n" CHRONOFS_ALLOC_COUNT="$WORK/alloc.count" "$@"
	INJECTED=$(sed -n 's/^injected //p' "$WORK/alloc.count" 2>/dev/null || true)
	COUNT=$(sed -n 's/^allocations //p' "$WORK/alloc.count" 2>/dev/null || true)
}

# The verdict on one armed run of a chronoctl verb: 0 if it may go on to
# the operation's own checks.
judge() {
	local what=$1
	if grep -q 'Sanitizer' "$ERR"; then
		problem "$what: sanitizer report"
		return 1
	fi
	case $RC in
	0)
		[ "$(grep -c 'error:' "$ERR")" -eq 0 ] || { problem "$what: exit 0 but an error was printed"; return 1; }
		;;
	1)
		# One line says what failed and why; a second may say what
		# it means for the run ("Snapshot failed, nothing was
		# committed: ..."). Both name the cause.
		[ "${INJECTED:-0}" -ge 1 ] || { problem "$what: failed without an injected failure"; return 1; }
		grep -q 'Cannot allocate memory' "$ERR" ||
			{ problem "$what: exit 1 without naming the cause (Cannot allocate memory)"; return 1; }
		if grep 'error:' "$ERR" | grep -qv 'Cannot allocate memory'; then
			problem "$what: an error line that does not name the cause"
			return 1
		fi
		# (Memory that never comes back fails each pack in flight.)
		[ -n "${ALLOC_PERSIST:-}" ] || [ "$(grep -c 'error:' "$ERR")" -le 2 ] ||
			{ problem "$what: the failure is reported more than twice"; return 1; }
		;;
	124) problem "$what: hung (killed after ${CFS_TIMEOUT}s)" ; return 1 ;;
	*) problem "$what: exit $RC (expected 0, or 1 for the failed allocation)" ; return 1 ;;
	esac
	return 0
}

# The repository after a run: check is clean and counts $2 snapshots, and
# the first one restores identically.
repo_intact() {
	local what=$1 want=$2
	run cfs check
	[ "$RC" -eq 0 ] || { problem "$what: check is not clean afterwards"; return 1; }
	grep -q "^checked $want snapshots," "$OUT" ||
		{ problem "$what: check does not count $want snapshots afterwards"; return 1; }
	rm -rf "$WORK/after"
	run cfs restore "$FIRST" "$WORK/after"
	[ "$RC" -eq 0 ] || { problem "$what: the first snapshot does not restore afterwards"; return 1; }
	"$TREECMP" "$BASE/tree$SRC" "$WORK/after$SRC" >"$WORK/.treecmp" 2>&1 ||
		{ cp "$WORK/.treecmp" "$ERR"; problem "$what: the first snapshot restores differently afterwards"; return 1; }
}

# count_allocs CMD...: the allocations of a successful run -> ALLOCS.
count_allocs() {
	armed 0 "$@"
	[ "$RC" -eq 0 ] || { _lib_show_output; fail "counting run of $*: exit $RC"; }
	ALLOCS=$COUNT
}

# Arguments of chronoctl with the test's repository, as `cfs` would run it.
CFS=(env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE"
	timeout -k 10 "$CFS_TIMEOUT" "$CHRONOCTL")

declare -A TRIED=()
op_init() {
	local n
	rm -rf "$REPO" "$CACHE"
	count_allocs "${CFS[@]}" init
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n++)); do
		rm -rf "$REPO" "$CACHE"
		armed "$n" "${CFS[@]}" init
		judge "init, allocation $n" || continue
		if [ "$RC" -ne 0 ]; then
			# What a failed init leaves, a second one completes or
			# replaces.
			run cfs init
			[ "$RC" -eq 0 ] || { problem "init, allocation $n: init again fails"; continue; }
		fi
		run cfs snapshot create "$SRC/sub"
		[ "$RC" -eq 0 ] || { problem "init, allocation $n: the repository takes no snapshot"; continue; }
		run cfs check --read-data
		[ "$RC" -eq 0 ] || { problem "init, allocation $n: check"; continue; }
	done
	TRIED[init]="1..$((ALLOCS + 5)) (C=$ALLOCS)"
}

op_list() {
	local n
	fresh
	count_allocs "${CFS[@]}" snapshot list
	cp "$OUT" "$WORK/list.want"
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n++)); do
		armed "$n" "${CFS[@]}" snapshot list
		judge "snapshot list, allocation $n" || continue
		if [ "$RC" -eq 0 ] && ! cmp -s "$OUT" "$WORK/list.want"; then
			problem "snapshot list, allocation $n: exit 0 with a different listing"
		fi
	done
	TRIED[list]="1..$((ALLOCS + 5)) (C=$ALLOCS)"
}

# snapshot list with an empty cache: the open rebuilds the catalog from the
# store. What a failed sync leaves in the cache, the next open completes.
op_sync() {
	local n
	fresh
	rm -rf "$CACHE"
	count_allocs "${CFS[@]}" snapshot list
	cp "$OUT" "$WORK/list.want"
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n++)); do
		fresh
		rm -rf "$CACHE"
		armed "$n" "${CFS[@]}" snapshot list
		judge "snapshot list (catalog rebuilt), allocation $n" || continue
		if [ "$RC" -eq 0 ] && ! cmp -s "$OUT" "$WORK/list.want"; then
			problem "snapshot list (catalog rebuilt), allocation $n: exit 0 with a different listing"
			continue
		fi
		repo_intact "snapshot list (catalog rebuilt), allocation $n" 1
	done
	TRIED[sync]="1..$((ALLOCS + 5)) (C=$ALLOCS)"
}

# snapshot_op NAME: snapshot create of $SRC on the base repository (whose
# one snapshot is of the same tree: an incremental run), or of a changed
# tree (NAME incremental changes files first).
snapshot_op() {
	local name=$1 n
	fresh
	count_allocs "${CFS[@]}" snapshot create "$SRC"
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n += STEP)); do
		fresh
		armed "$n" "${CFS[@]}" snapshot create "$SRC"
		judge "$name, allocation $n" || continue
		if [ "$RC" -eq 0 ]; then
			repo_intact "$name, allocation $n" 2 || continue
			rm -rf "$WORK/after"
			run cfs restore latest "$WORK/after"
			[ "$RC" -eq 0 ] || { problem "$name, allocation $n: the new snapshot does not restore"; continue; }
			"$TREECMP" "$SRC" "$WORK/after$SRC" >"$WORK/.treecmp" 2>&1 ||
				{ cp "$WORK/.treecmp" "$ERR"; problem "$name, allocation $n: exit 0, but the snapshot differs from the source"; continue; }
		else
			repo_intact "$name, allocation $n" 1 || continue
		fi
	done
	TRIED[$name]="1..$((ALLOCS + 5)) step $STEP (C=$ALLOCS)"
}

op_snapshot() {
	snapshot_op snapshot
}

op_incremental() {
	# A changed tree: a new file, a changed one, a removed one.
	printf 'new\n' >"$SRC/sub/new.txt"
	printf 'changed\n' >>"$SRC/sub/numbers"
	mv "$SRC/empty" "$WORK/empty.moved"
	snapshot_op incremental
	rm "$SRC/sub/new.txt"
	mv "$WORK/empty.moved" "$SRC/empty"
}

op_restore() {
	local n bad
	fresh
	rm -rf "$WORK/target"
	count_allocs "${CFS[@]}" restore "$FIRST" "$WORK/target"
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n++)); do
		rm -rf "$WORK/target"
		armed "$n" "${CFS[@]}" restore "$FIRST" "$WORK/target"
		judge "restore, allocation $n" || continue
		if [ "$RC" -eq 0 ]; then
			"$TREECMP" "$BASE/tree$SRC" "$WORK/target$SRC" >"$WORK/.treecmp" 2>&1 ||
				{ cp "$WORK/.treecmp" "$ERR"; problem "restore, allocation $n: exit 0, but the tree differs"; }
			continue
		fi
		[ -d "$WORK/target" ] || continue
		# Whatever a failed restore left is whole: no temporary, and
		# every file there is its source's copy.
		bad=$(find "$WORK/target" -name ".chronofs-restore.*" -print -quit)
		[ -z "$bad" ] || { problem "restore, allocation $n: a temporary is left: $bad"; continue; }
		while IFS= read -r -d '' f; do
			cmp -s "$f" "$BASE/tree${f#"$WORK/target"}" || { problem "restore, allocation $n: a partial file is left: $f"; break; }
		done < <(find "$WORK/target" -type f -print0)
	done
	TRIED[restore]="1..$((ALLOCS + 5)) (C=$ALLOCS)"
}

op_check() {
	local n
	fresh
	count_allocs "${CFS[@]}" check --read-data
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n++)); do
		armed "$n" "${CFS[@]}" check --read-data
		judge "check --read-data, allocation $n" || continue
		# A failed allocation is not damage.
		if grep -qiE 'damage|corrupt|missing|mismatch|malformed|truncated|read error|problem' "$ERR"; then
			problem "check --read-data, allocation $n: reports damage that is not there"
		fi
	done
	TRIED[check]="1..$((ALLOCS + 5)) (C=$ALLOCS)"
}

# mount_armed N: start the daemon on a fresh copy of the base repository
# with its Nth allocation failing. MOUNTED=1 once it serves; MOUNTED=0 if it
# exited before (its status in FS_RC). Output in $FS_LOG.
MNT=$WORK/mnt
mount_armed() {
	local n=$1 i
	[ "$n" -eq 0 ] || n=$n${ALLOC_PERSIST:+"+"}
	fresh
	mkdir -p "$MNT"
	FS_LOG=$WORK/chronofs.log
	rm -f "$WORK/alloc.count"
	env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" CHRONOFS_ALLOC_FAIL="$n" \
		CHRONOFS_ALLOC_COUNT="$WORK/alloc.count" "$CHRONOFS" -f "$REPO" "$MNT" >"$FS_LOG" 2>&1 &
	FS_PID=$!
	track_pid "$FS_PID"
	register_mount "$MNT"
	MOUNTED=0
	for ((i = 0; i < 300; i++)); do
		if is_mounted "$MNT" && timeout 10 stat -- "$MNT" >/dev/null 2>&1; then
			MOUNTED=1
			return 0
		fi
		if ! _lib_pid_alive "$FS_PID"; then
			wait_rc "$FS_PID"
			FS_RC=$WAIT_RC
			_lib_unregister_mount "$MNT"
			return 0
		fi
		sleep 0.05
	done
	fail "mount, allocation $n: chronofs neither mounted nor exited within 15 s"
}

# Unmount and reap the daemon: FS_RC, INJECTED.
umount_armed() {
	local i
	fusermount3 -u -- "$MNT" || fail "fusermount3 -u $MNT failed"
	_lib_unregister_mount "$MNT"
	for ((i = 0; i < 200; i++)); do
		_lib_pid_alive "$FS_PID" || break
		sleep 0.05
	done
	_lib_pid_alive "$FS_PID" && fail "chronofs (pid $FS_PID) still runs 10 s after the unmount"
	wait_rc "$FS_PID"
	FS_RC=$WAIT_RC
}

# Everything the mount shows of the first snapshot, read and compared.
mount_walk() {
	"$TREECMP" "$BASE/tree$SRC" "$MNT/$FIRST$SRC" >"$WORK/.treecmp" 2>&1
}

op_mount() {
	local n
	if ! [ -c /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1 || ! [ -x "${CHRONOFS:-}" ]; then
		log "mount: no FUSE here, skipped"
		return 0
	fi
	mount_armed 0
	[ "$MOUNTED" = 1 ] || { cat "$FS_LOG" >&2; fail "mount: the counting run did not mount"; }
	mount_walk || { cat "$WORK/.treecmp" >&2; fail "mount: the counting run shows a different tree"; }
	umount_armed
	[ "$FS_RC" -eq 0 ] || { cat "$FS_LOG" >&2; fail "mount: the counting run exited $FS_RC"; }
	ALLOCS=$(sed -n 's/^allocations //p' "$WORK/alloc.count")
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n += STEP)); do
		mount_armed "$n"
		cp "$FS_LOG" "$ERR"
		: >"$OUT"
		if [ "$MOUNTED" = 0 ]; then
			# Failed while starting: said so, exit 1.
			RC=$FS_RC
			INJECTED=$(sed -n 's/^injected //p' "$WORK/alloc.count" 2>/dev/null || true)
			judge "mount, allocation $n (start)" || continue
			[ "$RC" -ne 0 ] || problem "mount, allocation $n: the daemon exited 0 without mounting"
			continue
		fi
		# The request that met the failure answers an error; the
		# next ones are served as if nothing had happened. The
		# failure may come in the first walk or (a run makes a few
		# allocations more or fewer) in the second: one of two
		# walks in a row may fail, never both. (With ALLOC_PERSIST
		# nothing is served after the failure: no crash is all.)
		local walks_ok=0
		mount_walk && walks_ok=1
		mount_walk && walks_ok=$((walks_ok + 2))
		[ "$walks_ok" -ne 1 ] || { mount_walk && walks_ok=3; }
		if [ "$walks_ok" -lt 2 ] && [ -z "${ALLOC_PERSIST:-}" ]; then
			cp "$WORK/.treecmp" "$OUT"
			umount_armed
			cp "$FS_LOG" "$ERR"
			problem "mount, allocation $n: the daemon serves a different tree after the failure"
			continue
		fi
		umount_armed
		cp "$FS_LOG" "$ERR"
		if grep -q 'Sanitizer' "$ERR" || [ "$FS_RC" -ne 0 ]; then
			problem "mount, allocation $n: the daemon exited $FS_RC after the unmount"
		fi
	done
	TRIED[mount]="1..$((ALLOCS + 5)) step $STEP (C=$ALLOCS)"
}

start=$SECONDS
# The base repository plus a second snapshot of a changed tree (what only
# it holds is garbage once it is forgotten): $PBASE; SECOND its name.
prune_base() {
	[ -z "${SECOND:-}" ] || return 0
	fresh
	head -c 200000 /dev/urandom >"$WORK/extra.bin"
	cp "$WORK/extra.bin" "$SRC/extra.bin"
	CHRONOFS_TEST_SNAPSHOT_TIME=2030-01-01T00:00:00Z snap_create "$SRC"
	SECOND=$SNAP_ID
	rm "$SRC/extra.bin"
	PBASE=$WORK/pbase
	rm -rf "$PBASE"
	mkdir -p "$PBASE"
	cp -a "$REPO" "$PBASE/repo"
	cp -a "$CACHE" "$PBASE/cache"
}

pfresh() {
	rm -rf "$REPO" "$CACHE"
	cp -a "$PBASE/repo" "$REPO"
	cp -a "$PBASE/cache" "$CACHE"
}

op_forget() {
	local n
	prune_base
	pfresh
	count_allocs "${CFS[@]}" forget "$SECOND"
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n += STEP)); do
		pfresh
		armed "$n" "${CFS[@]}" forget "$SECOND"
		judge "forget, allocation $n" || continue
		# Forgotten or not, whole: then forgotten by the next one.
		if [ "$RC" -eq 0 ]; then
			repo_intact "forget, allocation $n" 1 || continue
		else
			run cfs forget "$SECOND"
			[ "$RC" -eq 0 ] || { problem "forget, allocation $n: the next forget fails"; continue; }
			repo_intact "forget, allocation $n" 1 || continue
		fi
	done
	TRIED[forget]="1..$((ALLOCS + 5)) step $STEP (C=$ALLOCS)"
}

op_prune() {
	local n
	prune_base
	pfresh
	ok cfs forget "$SECOND"
	cp -a "$REPO" "$PBASE/repo.forgotten"
	cp -a "$CACHE" "$PBASE/cache.forgotten"
	count_allocs "${CFS[@]}" prune --max-unused 0
	for ((n = ${ALLOC_FROM:-1}; n <= ${ALLOC_TO:-ALLOCS + 5}; n += STEP)); do
		rm -rf "$REPO" "$CACHE"
		cp -a "$PBASE/repo.forgotten" "$REPO"
		cp -a "$PBASE/cache.forgotten" "$CACHE"
		armed "$n" "${CFS[@]}" prune --max-unused 0
		judge "prune, allocation $n" || continue
		repo_intact "prune, allocation $n" 1 || continue
		# The next prune finishes the work, and nothing is lost.
		run cfs prune --max-unused 0
		[ "$RC" -eq 0 ] || { problem "prune, allocation $n: the next prune fails"; continue; }
		run cfs check --read-data
		[ "$RC" -eq 0 ] || { problem "prune, allocation $n: check --read-data after the next prune"; continue; }
		repo_intact "prune, allocation $n (pruned again)" 1 || continue
	done
	TRIED[prune]="1..$((ALLOCS + 5)) step $STEP (C=$ALLOCS)"
}

for op in $OPS; do
	t0=$SECONDS
	"op_$op"
	log "$op: allocations ${TRIED[$op]:-none} tried in $((SECONDS - t0)) s"
done
log "all operations in $((SECONDS - start)) s"
[ "$failures" -eq 0 ] || fail "$failures failing allocation points (listed above)"
