#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# prune against backups and a mount, at exact interleavings (fault points
# armed with a "run" hook: one process pauses at a named step while the
# hook runs the other to its end). A local repository; "another host" is
# another cache directory. The data each round is the dangerous kind: a
# file X only a forgotten snapshot held comes back in the next backup,
# which may deduplicate against the pack prune is about to delete.
#   (a) a prune paused at its fault points (after the repack, after the
#       condemn record, arming, finishing, deleting, after the deletions)
#       while a backup runs to completion in the hook (it stores new data
#       and reuses X and the unchanged files of its parent), and at two
#       of them (before and after it lists the writers) with a backup that
#       crashes in the hook (its lock stays behind: a stale lock of this
#       host, which prune removes and does not wait for);
#   (b) a backup paused at ingest.dir, objstore.put N and catalog.commit N
#       while a prune runs in the hook, or at objstore.put N while a forget
#       of the backup's parent (and of X's snapshot) and two prunes run;
#   (the other points, each passing when tried, cost ~40 s more: t3006
#   is kept under a minute);
#   after each: every live snapshot restores identical to a copy of what
#   it captured, one more prune, then check --read-data finds no problems,
#   no lock left, and no condemn or arm record left (the deletion records
#   in gc/ are exactly the forget and done records); after each part,
#   check --read-data from a fresh cache and from the prune host's;
#   (c) a mount stays up across forget and prune of other snapshots (the
#       prunes repack packs that hold live files and trees), reads the live
#       ones identically, also files it never read before, right after
#       their old packs are deleted and within a second of its last
#       refresh, and a file held open across the prune; the forgotten
#       snapshots leave its root; files of forgotten snapshots held open
#       read as they were after the forget, and EIO (never other bytes)
#       once a prune deleted their data.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

KiB=1024
MiB=$((1024 * KiB))

ok cfs init
run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true"

# Host A backs up with $CACHE; host B prunes with $PCACHE.
PCACHE=$WORK/cache-prune
D=$WORK/data
mkdir -p "$D/base" "$WORK/cap" "$WORK/stash"
rand_file "$D/base/b1" $((256 * KiB))
rand_file "$D/base/b2" $((256 * KiB))
make_texts "$D/base/texts" 0 12

# Live snapshots, oldest first; CAP_SRC: id -> the path it captured, and
# $WORK/cap/<id> a copy of that path as captured.
LIVE=()
declare -A CAP_SRC=()
FORGETS=0  # forget records put
FINISHED=0 # condemn records finished (each leaves one done record)

capture() { # ID SRC
	cp -a -- "$2" "$WORK/cap/$1"
	CAP_SRC[$1]=$2
	LIVE+=("$1")
}

backup() { # SRC -> SNAP_ID (captured)
	snap_create "$1"
	capture "$SNAP_ID" "$1"
}

forgotten() { # ID...: forgotten by a forget that succeeded
	local id keep=() k
	FORGETS=$((FORGETS + 1))
	for id in "$@"; do
		unset "CAP_SRC[$id]"
		rm -rf -- "${WORK:?}/cap/$id"
	done
	for k in "${LIVE[@]}"; do
		[ -n "${CAP_SRC[$k]:-}" ] && keep+=("$k")
	done
	LIVE=("${keep[@]}")
}

forget() { # ID...
	[ "$#" -gt 0 ] || return 0
	ok cfs forget "$@"
	forgotten "$@"
}

# The live snapshots but the newest N (every round restores those that
# stay: a few).
older_than() { # N
	local n=$((${#LIVE[@]} - $1))
	[ "$n" -le 0 ] || printf '%s\n' "${LIVE[@]:0:n}"
}

# A prune's --json output: valid, and its finished records counted.
note_prune() { # FILE LABEL
	json_valid "$1" || { cat "$1" >&2; fail "$2: prune --json printed invalid JSON"; }
	FINISHED=$((FINISHED + $(json_get "$1" .records_finished)))
}

prune_plain() { # LABEL: a prune with no hook, while no writer runs
	CACHE=$PCACHE ok cfs prune --json
	cp "$OUT" "$WORK/prune.json"
	note_prune "$WORK/prune.json" "$1"
	local w
	w=$(json_get "$WORK/prune.json" .records_waiting)
	[ "$w" = 0 ] || fail "$1: with no writer running, prune left $w condemnation(s) waiting: $(cat "$WORK/prune.json")"
}

restore_all() { # LABEL
	local id want got
	ok cfs snapshot list --json
	got=$(jq -r '.[].id' "$OUT" | sort)
	want=$(printf '%s\n' "${LIVE[@]}" | sed '/^$/d' | sort)
	[ "$got" = "$want" ] || fail "$1: snapshots listed [${got//$'\n'/ }], live ones are [${want//$'\n'/ }]"
	for id in $got; do
		rm -rf "$WORK/r"
		mkdir "$WORK/r"
		ok cfs restore "$id" "$WORK/r"
		assert_same_tree "$WORK/cap/$id" "$WORK/r${CAP_SRC[$id]}"
	done
}

check_clean() { # LABEL [CACHE]
	CACHE=${2:-$CACHE} expect_exit 0 cfs check --read-data
	expect_in "$OUT" "no problems found" "$1: check --read-data found problems"
}

# After every interleaving, once no writer runs: restores (with the backup
# host's catalog, which lived through it), one more prune, and check.
verify() { # LABEL
	local n
	restore_all "$1"
	prune_plain "$1: one more prune"
	check_clean "$1: after one more prune"
	n=$(find "$REPO/locks" -type f | wc -l)
	[ "$n" = 0 ] || fail "$1: $n lock object(s) left: $(ls "$REPO/locks")"
	# gc/ holds forget and done records only: a condemn or arm record left
	# behind would make one more.
	n=$(find "$REPO/gc" -type f | wc -l)
	[ "$n" = $((FORGETS + FINISHED)) ] ||
		fail "$1: $n deletion records in gc/, expected $FORGETS forget + $FINISHED done records"
}

# Once per part: a host that never saw the repository finds it whole.
verify_fresh() { # LABEL
	rm -rf "$WORK/cache-fresh"
	check_clean "$1 (a fresh cache)" "$WORK/cache-fresh"
	CACHE=$PCACHE check_clean "$1 (the prune host's cache)" "$PCACHE"
}

# Hook scripts: each step runs chronoctl with a cache of its own and no
# armed faults (the hook inherits the paused process's environment); its
# output goes to $WORK/hook-NAME.{out,err}, its exit status to .rc.
hook_step() { # NAME CACHE [VAR=VALUE...] -- ARGS...
	local name=$1 cache=$2 envs=()
	shift 2
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	printf 'env -u CHRONOFS_FAULTS -u CHRONOFS_FAULT_RUN CHRONOFS_CACHE_DIR=%q %s timeout -k 5 120 %q %s>%q 2>%q; echo $? >%q\n' \
		"$cache" "${envs[*]}" "$CHRONOCTL" "$(printf '%q ' "$@")" "$WORK/hook-$name.out" \
		"$WORK/hook-$name.err" "$WORK/hook-$name.rc"
}

hook_rc() { # NAME LABEL -> HOOK_RC (fails if the hook never ran)
	[ -s "$WORK/hook-$1.rc" ] || fail "$2: the hook never ran (its fault point was not reached)"
	HOOK_RC=$(cat "$WORK/hook-$1.rc")
}

hook_ok() { # NAME LABEL
	hook_rc "$1" "$2"
	[ "$HOOK_RC" = 0 ] || { cat "$WORK/hook-$1.err" >&2; fail "$2: $1 in the hook exited $HOOK_RC"; }
}

json_is() { # FILE PATH OP VALUE LABEL: fail unless the number compares
	local v
	v=$(json_get "$1" "$2")
	test "$v" "$3" "$4" || fail "$5: $2 is $v, expected $3 $4: $(cat "$1")"
}

# A round's data: x/X and y/Y-<round> (new) in S_a; S_b without X (the
# parent of the next backup, which finds Y unchanged in it); then X comes
# back as it was, with a new file beside it. Sets SA, SB, XSIZE.
ROUND=0
prepare() {
	ROUND=$((ROUND + 1))
	rm -rf "$D/x" "$D/y"
	mkdir "$D/x" "$D/y"
	XSIZE=$((MiB + ROUND * 4099))
	rand_file "$D/x/X" "$XSIZE"
	rand_file "$D/y/Y-$ROUND" $((192 * KiB))
	backup "$D"
	SA=$SNAP_ID
	mv "$D/x/X" "$WORK/stash/X"
	backup "$D"
	SB=$SNAP_ID
	rm -f "$WORK"/hook-*
}

come_back() {
	mv "$WORK/stash/X" "$D/x/X"
	rand_file "$D/x/new-$ROUND" $((96 * KiB))
}

# Did the backup of $D that printed FILE reuse X (store less than X)?
reused_x() { # FILE LABEL
	local added
	added=$(json_get "$1" .stats.bytes_added)
	[ "$added" -lt "$XSIZE" ] ||
		fail "$2: the backup stored X again ($added bytes added): the round no longer tests reuse"
}

# A writer on a third cache, paused at its first directory until
# $WORK/w0.go exists (BG_PID).
w0_start() {
	rm -f "$WORK/w0.go" "$WORK/w0.paused"
	mkdir -p "$WORK/other"
	rand_file "$WORK/other/o-$ROUND" $((64 * KiB))
	CACHE=$WORK/cache-w0 CHRONOFS_FAULTS=ingest.dir:1:run \
		CHRONOFS_FAULT_RUN="touch $WORK/w0.paused; i=0; while [ ! -e $WORK/w0.go ] && [ \$i -lt 2400 ]; do sleep 0.05; i=\$((i + 1)); done" \
		cfs_bg w0 snapshot create --json "$WORK/other"
	local i
	for ((i = 0; i < 600; i++)); do
		[ -e "$WORK/w0.paused" ] && return 0
		sleep 0.05
	done
	fail "the paused writer did not reach its first directory"
}

w0_finish() { # PID LABEL
	touch "$WORK/w0.go"
	wait_rc "$1"
	[ "$WAIT_RC" = 0 ] || { cat "$WORK/w0.err" >&2; fail "$2: the paused writer exited $WAIT_RC"; }
	capture "$(json_get "$WORK/w0.out" .id)" "$WORK/other"
}

# ---- (a) a prune paused at each fault point, a backup in the hook ------------

a_round() { # POINT N VARIANT (ok|crash)
	local point=$1 n=$2 variant=$3 label="(a) prune at $1:$2, backup $3" w0=''
	log "$label"
	prepare
	# shellcheck disable=SC2046 # ids: one word each
	forget "$SA" $(older_than 2)
	come_back
	if [ "$variant" = ok ]; then
		hook_step backup "$CACHE" -- snapshot create --json "$D" >"$WORK/hook.sh"
	else
		# Killed after its packs are stored, before they are indexed.
		hook_step backup "$CACHE" CHRONOFS_FAULTS=objstore.put:3:crash -- snapshot create --json "$D" >"$WORK/hook.sh"
	fi
	if [ "$point" = prune.arm ]; then
		# prune arms only while a writer runs: one more, paused.
		w0_start
		w0=$BG_PID
	fi
	CACHE=$PCACHE CHRONOFS_FAULTS="$point:$n:run" CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" ok cfs prune --json
	local pj=$WORK/prune-a.json
	cp "$OUT" "$pj"
	note_prune "$pj" "$label"
	if [ -n "$w0" ]; then
		json_is "$pj" .records_waiting = 1 "$label: the condemnation waits for the paused writer"
		w0_finish "$w0" "$label"
	fi
	if [ "$variant" = ok ]; then
		hook_ok backup "$label"
		json_valid "$WORK/hook-backup.out" || fail "$label: backup --json printed invalid JSON"
		capture "$(json_get "$WORK/hook-backup.out" .id)" "$D"
		# Before the condemn record, the backup deduplicates X against
		# the pack prune then condemns: prune must release that pack.
		case $point:$n in
		prune.marked:1 | prune.accounted:1 | prune.repacked:1 | gc.record:1)
			reused_x "$WORK/hook-backup.out" "$label"
			json_is "$pj" .packs_released -ge 1 "$label: the pack of the reused X is released"
			;;
		esac
	else
		hook_rc backup "$label"
		[ "$HOOK_RC" = 99 ] || {
			cat "$WORK/hook-backup.err" >&2
			fail "$label: the backup exited $HOOK_RC, not by the injected crash"
		}
		case $point:$n in
		prune.delete:* | prune.deleted:* | prune.finish:* | gc.record:2)
			# After prune listed the writers: the stale lock is the
			# next prune's.
			[ -n "$(ls -A "$REPO/locks")" ] || fail "$label: the crashed backup left no lock object"
			;;
		*)
			# A lock of this host whose process is gone: removed, not
			# waited for.
			[ -z "$(ls -A "$REPO/locks")" ] || fail "$label: prune left the stale lock $(ls "$REPO/locks")"
			json_is "$pj" .writers_waiting = 0 "$label: prune does not wait for the crashed backup"
			;;
		esac
	fi
	verify "$label"
}

backup "$D"
for pn in prune.repacked:1 prune.condemned:1 prune.arm:1 prune.finish:1 prune.delete:1 prune.deleted:1; do
	a_round "${pn%:*}" "${pn#*:}" ok
done
for pn in prune.marked:1 prune.delete:1; do
	a_round "${pn%:*}" "${pn#*:}" crash
done
verify_fresh "(a)"

# ---- (b) a backup paused at a fault point, a prune in the hook ---------------

# The backup opened before the prune: its catalog knows X's pack as
# usable, and it deduplicates X against it (and carries Y over from its
# parent S_b) while prune condemns those packs; prune waits for it (arm).
# Variant "forget": the backup's parent and X's snapshot are forgotten
# only in the hook, then two prunes run (the second still waits).
b_round() { # POINT N VARIANT (prune|forget)
	local point=$1 n=$2 variant=$3 label="(b) backup at $1:$2, $3 in the hook" s
	log "$label"
	prepare
	if [ "$variant" = prune ]; then
		# shellcheck disable=SC2046 # ids: one word each
		forget "$SA" $(older_than 2)
		hook_step prune1 "$PCACHE" -- prune --json >"$WORK/hook.sh"
	else
		# shellcheck disable=SC2046 # ids: one word each
		forget $(older_than 2)
		{
			hook_step forget "$PCACHE" -- forget "$SA" "$SB"
			hook_step prune1 "$PCACHE" -- prune --json
			hook_step prune2 "$PCACHE" -- prune --max-unused 0 --json
		} >"$WORK/hook.sh"
	fi
	come_back
	CHRONOFS_FAULTS="$point:$n:run" CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" snap_create "$D"
	capture "$SNAP_ID" "$D"
	reused_x "$WORK/snap.json" "$label"
	if [ "$variant" = forget ]; then
		hook_ok forget "$label"
		forgotten "$SA" "$SB"
	fi
	for s in prune1 prune2; do
		[ "$variant" = forget ] || [ "$s" = prune1 ] || continue
		hook_ok "$s" "$label"
		note_prune "$WORK/hook-$s.out" "$label: $s"
		json_is "$WORK/hook-$s.out" .records_finished = 0 "$label: $s finishes nothing while the backup runs"
		json_is "$WORK/hook-$s.out" .records_waiting -ge 1 "$label: $s waits for the backup"
	done
	json_is "$WORK/hook-prune1.out" .packs_condemned -ge 1 "$label: prune1 condemns packs"
	verify "$label"
}

for pn in ingest.dir:1 objstore.put:3 catalog.commit:8; do
	b_round "${pn%:*}" "${pn#*:}" prune
done
b_round objstore.put 3 forget
verify_fresh "(b)"

# ---- (c) a mount across forget and prune of other snapshots ------------------

if ! [ -c /dev/fuse ] || ! [ -x "${CHRONOFS:-}" ] || ! command -v fusermount3 >/dev/null 2>&1; then
	log "no FUSE here: (c) not run"
	exit 0
fi
need_fuse
# A repository of its own; the mount has a cache of its own (a third host).
REPO=$WORK/repo-m
CACHE=$WORK/cache-m
PCACHE=$WORK/cache-m-prune
FS_CACHE=$WORK/cache-m-fs
MNT=$WORK/mnt
M=$WORK/m
LIVE=()
CAP_SRC=()
ok cfs init

snap_name() { # ID -> its name
	ok cfs snapshot list --json
	jq -r --arg id "$1" '.[] | select(.id == $id) | .name' "$OUT"
}

# A snapshot forgotten leaves the mount root within the refresh interval
# (1 s): polled, the time logged, never judged. (A lookup of its name may
# still succeed from the kernel's cache for 60 s, chronofs(8).)
wait_gone() { # NAME
	local i t0
	t0=$(date +%s%N)
	for ((i = 0; i < 300; i++)); do
		# shellcheck disable=SC2010 # a listing (readdir): a lookup may be answered from the kernel's cache
		ls -1 "$MNT" | grep -qxF -- "$1" || break
		sleep 0.1
	done
	[ "$i" -lt 300 ] || fail "forgotten snapshot $1 still in the mount root 30 s after the forget"
	log "forgotten snapshot $1 left the mount root after $((($(date +%s%N) - t0) / 1000000)) ms"
}

# A prune whose hook runs twice: just before it moves anything (prune.
# accounted) the mount refreshes (a root listing, once a refresh is due),
# so its catalog locates live blobs in packs prune then deletes; right
# after the deletion (prune.deleted: the done record is not put yet) it
# reads files it never read before, within a second of that refresh.
prune_reading() { # LABEL MAX-UNUSED FILE...: FILE is NAME/PATH (NAME: a snapshot's)
	local label=$1 max=$2 f
	shift 2
	rm -f "$WORK/reads.err" "$WORK/reads.done"
	{
		# shellcheck disable=SC2016 # for the hook's shell
		printf 'case $CFS_FAULT_POINT in\n'
		printf 'prune.accounted) sleep 1.1; ls %q >/dev/null ;;\n' "$MNT"
		printf 'prune.deleted)\n'
		for f in "$@"; do
			printf 'cmp %q %q >>%q 2>&1 || echo %q >>%q\n' "$WORK/cap/$f" "$MNT/${f%%/*}$M/${f#*/}" \
				"$WORK/reads.err" "$f differs" "$WORK/reads.err"
		done
		printf 'touch %q ;;\nesac\n' "$WORK/reads.done"
	} >"$WORK/hook.sh"
	CACHE=$PCACHE CHRONOFS_FAULTS=prune.accounted:1:run,prune.deleted:1:run CHRONOFS_FAULT_RUN="sh $WORK/hook.sh" \
		ok cfs prune --max-unused "$max" --json
	cp "$OUT" "$WORK/prune-m.json"
	json_is "$WORK/prune-m.json" .packs_repacked -ge 1 "$label: prune repacks packs that hold live files"
	json_is "$WORK/prune-m.json" .packs_deleted -ge 1 "$label: prune deletes packs"
	[ -e "$WORK/reads.done" ] || fail "$label: the reads in the prune never ran"
	if [ -s "$WORK/reads.err" ]; then
		cat "$WORK/reads.err" >&2
		tail -n 20 "$FS_LOG" >&2
		fail "$label: files of a live snapshot could not be read right after prune deleted their old packs"
	fi
}

rand_files() { # DIR PREFIX N: N files of 64 KiB
	local i
	mkdir -p "$1"
	for i in $(seq -w 1 "$3"); do
		rand_file "$1/$2$i" $((64 * KiB))
	done
}

mkdir -p "$WORK/stash-m"
rand_files "$M/keep" k 12
rand_files "$M/g" g 12
backup "$M"
L1=$SNAP_ID
# F: g/ gets new files and h/ comes, in packs of F's own; L2 keeps g/ but
# not h/: F's packs (data and trees) hold live data beside dead, and prune
# repacks them. The mount reads nothing from them before the prune (a
# pack it had open would still read after its deletion, on a local disk).
rand_files "$M/g" n 12
rand_files "$M/h" h 12
backup "$M"
F=$SNAP_ID
mv "$M/h" "$WORK/stash-m/"
backup "$M"
L2=$SNAP_ID

mount_fs "$MNT"
N1=$(snap_name "$L1")
N2=$(snap_name "$L2")
NF=$(snap_name "$F")
ln -s "$L1" "$WORK/cap/$N1"
ln -s "$L2" "$WORK/cap/$N2"
for i in 01 02 03 04; do
	for f in "$N1/keep/k$i" "$N1/g/g$i" "$N2/keep/k$i"; do
		cmp -s "$WORK/cap/$f" "$MNT/${f%%/*}$M/${f#*/}" || fail "$f differs before the prune"
	done
done
[ -d "$MNT/$NF$M/h" ] || fail "the snapshot to forget is not in the mount"
exec {held}<"$MNT/$N2$M/g/n12"

ok cfs forget "$F"
forgotten "$F"
wait_gone "$NF"
prune_reading "(c) prune of F" 5 "$N2/g/n05" "$N2/g/n06" "$N2/g/g07"
# After the prune: more files never read, one opened before it (its data
# moved meanwhile), and both trees whole.
for f in "$N2/g/n07" "$N2/g/n08" "$N2/keep/k09" "$N1/g/g10"; do
	cmp -s "$WORK/cap/$f" "$MNT/${f%%/*}$M/${f#*/}" ||
		{ tail -n 20 "$FS_LOG" >&2; fail "$f (not read before) differs after the prune"; }
done
cmp -s "$WORK/cap/$N2/g/n12" - <&"$held" || fail "(c) $N2/g/n12, held open across the prune, differs"
exec {held}<&-
assert_same_tree "$WORK/cap/$L1" "$MNT/$N1$M"
assert_same_tree "$WORK/cap/$L2" "$MNT/$N2$M"

# Again, for directory trees (the mount never read j/'s): F2 adds j/ (L3
# keeps it) and k/ (L3 does not); F2 and L1 are forgotten and everything
# with unused bytes repacked (--max-unused 0).
rand_files "$M/j" j 4
rand_files "$M/k" k 4
backup "$M"
F2=$SNAP_ID
mv "$M/k" "$WORK/stash-m/"
printf 'l3\n' >"$M/l3"
backup "$M"
L3=$SNAP_ID
N3=$(snap_name "$L3")
NF2=$(snap_name "$F2")
ln -s "$L3" "$WORK/cap/$N3"
ok cfs forget "$F2" "$L1"
forgotten "$F2" "$L1"
wait_gone "$NF2"
wait_gone "$N1"
prune_reading "(c) prune of F2 and L1" 0 "$N3/j/j1" "$N3/j/j2" "$N3/g/n11"
assert_same_tree "$WORK/cap/$L2" "$MNT/$N2$M"
assert_same_tree "$WORK/cap/$L3" "$MNT/$N3$M"

# Files of forgotten snapshots held open across the forget and the prune
# that deletes their data: q1 (snapshot Q1) is read after the forget and
# reads as it was; q2 (Q2, a pack of its own the mount never opened: an
# open pack would still read after its deletion, on a local disk) is read
# first after the prune: EIO, or its bytes if something kept them, never
# other bytes.
mkdir "$M/q"
rand_file "$M/q/q1" $((128 * KiB))
backup "$M"
Q1=$SNAP_ID
mv "$M/q/q1" "$WORK/stash-m/"
rand_file "$M/q/q2" $((128 * KiB))
backup "$M"
Q2=$SNAP_ID
mv "$M/q/q2" "$WORK/stash-m/"
rmdir "$M/q"
NQ1=$(snap_name "$Q1")
NQ2=$(snap_name "$Q2")
for f in "$NQ1/q/q1" "$NQ2/q/q2"; do
	for ((i = 0; i < 50; i++)); do
		[ -e "$MNT/${f%%/*}$M/${f#*/}" ] && break
		sleep 0.1
	done
done
exec {q1}<"$MNT/$NQ1$M/q/q1"
exec {q2}<"$MNT/$NQ2$M/q/q2"
ok cfs forget "$Q1" "$Q2"
forgotten "$Q1" "$Q2"
wait_gone "$NQ1"
wait_gone "$NQ2"
cmp "$WORK/stash-m/q1" - <&"$q1" || fail "(c) q1 of forgotten snapshot $NQ1, held open, differs after the forget"
exec {q1}<&-
prune_plain "(c) prune of Q1 and Q2"
json_is "$WORK/prune.json" .packs_deleted -ge 1 "(c) the prune of Q1 and Q2 deletes their packs"
if cmp "$WORK/stash-m/q2" - <&"$q2" 2>"$WORK/q2.err"; then
	log "q2 of forgotten snapshot $NQ2, held open, still read after the prune deleted its pack"
else
	expect_in "$WORK/q2.err" "Input/output error" \
		"(c) q2 of forgotten snapshot $NQ2, held open, read after the prune deleted its data: not EIO"
fi
exec {q2}<&-
umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after unmount"; }
# Errors are logged only for the file whose data the last prune deleted.
if grep -i "error" "$FS_LOG" | grep -vF "$M/q/q2:" >&2; then
	fail "(c) the mount logged errors"
fi
rm -f "$WORK/cap/$N1" "$WORK/cap/$N2" "$WORK/cap/$N3"
check_clean "(c)"
restore_all "(c)"
log "ok"
