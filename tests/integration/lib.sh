# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# (SC2034: variables set here are used by the sourcing tests.)
#
# lib.sh — shared setup for chronofs integration tests. Source it right after
# `set -euo pipefail`. It:
#   - checks $CHRONOCTL and $TREECMP (set by tests/meson.build; $SRCDIR is the
#     repository root, guessed from this file's location if unset),
#   - makes a private work dir $WORK under ${TMPDIR:-/tmp} and a trap that
#     kills only the PIDs registered with track_pid and removes $WORK
#     (KEEP_WORK=1 keeps it for debugging),
#   - clears inherited CHRONOFS_* variables and points HOME and
#     XDG_CACHE_HOME into $WORK, so no test touches the real user's cache,
#   - exports CHRONOFS_KDF_LOG2N=10 (cheap scrypt, honoured for tests only).
#
# Exit status convention: 0 pass, 1 fail (fail MSG), 77 skip (skip MSG).
#
# Helpers:
#   cfs ARGS...            run chronoctl with the test's repo, password, cache
#                          ($REPO, $PASSWORD, $CACHE; change them to switch),
#                          killed after $CFS_TIMEOUT seconds (default 300)
#   run CMD...             run CMD, never fail; stdout -> $OUT, stderr -> $ERR
#                          (file names), exit status -> $RC
#   expect_exit CODE CMD.. run, and fail with the command's output unless its
#                          exit status is CODE; ok CMD.. = expect_exit 0
#   json_get FILE PATH     print a value (jq syntax subset: .a.b, .[0].x,
#                          length, .a|length); strings raw, no quotes
#   json_valid FILE        exit status 0 if FILE parses as JSON
#   snap_create ARGS...    snapshot create --json ARGS, expect 0, set
#                          SNAP_ID, SNAP_NAME (and keep $WORK/snap.json)
#   make_fixture DIR       build the edge-case tree (tests/helpers/mkfixture.sh)
#   assert_same_tree A B   treecmp A B, fail with its report if they differ
#   repo_digest DIR        a listing of DIR with modes, sizes and sha256 of
#                          every file, to prove that nothing changed
#   dir_size DIR           du -sb DIR in bytes
#   make_texts DIR FIRST N N small files of word text (400-1000 bytes) in DIR,
#                          numbered from FIRST (food for a dictionary)
#   track_pid / untrack_pid PID, cfs_bg NAME ARGS..., wait_rc PID (-> WAIT_RC)
#
# Mount helpers (tests of the chronofs FUSE daemon, t2xxx):
#   need_fuse              skip (77) unless /dev/fuse, fusermount3 and an
#                          executable $CHRONOFS exist
#   mount_fs MNT [ARGS..]  start `$CHRONOFS -f ARGS.. $REPO MNT` in the
#                          background with $PASSWORD and cache $FS_CACHE
#                          (default $CACHE); wait until MNT is mounted.
#                          Sets FS_PID (tracked) and FS_LOG (its output).
#   umount_fs MNT          fusermount3 -u MNT and reap its daemon (if
#                          mount_fs started it); FS_RC = the daemon's status
#   register_mount MNT     have cleanup unmount MNT (mounts made otherwise)
#   mount_compare DIR      in a test that is not about the mount: mount
#                          $REPO at $WORK/mnt (cache $FS_CACHE), compare DIR
#                          with its copy in the snapshot of $WORK/snap.json,
#                          unmount; only logs where FUSE is missing
#   is_mounted MNT         status 0 if MNT is a mount point (reads
#                          mountinfo; never stats MNT, so a hung daemon
#                          cannot hang the test)
#   remove_on_exit PATH    rm -f PATH in cleanup (e.g. a /sbin symlink)
#   at_exit CMD            eval CMD in cleanup, before $WORK is removed
# Cleanup always unmounts every registered mount (fusermount3 -u, then
# aborting the FUSE connection and umount -l as a last resort) before it
# kills tracked PIDs and removes $WORK.

export LC_ALL=C
umask 022

TEST_NAME=$(basename "$0" .sh)

log() {
	printf '%s: %s\n' "$TEST_NAME" "$*" >&2
}

fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

skip() {
	printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MKFIXTURE=$SRCDIR/tests/helpers/mkfixture.sh
[ -f "$MKFIXTURE" ] || fail "SRCDIR=$SRCDIR does not hold tests/helpers/mkfixture.sh"

[ "$(id -u)" -eq 0 ] || skip "integration tests run as root"

if [ "${LIB_NEEDS_CHRONOCTL:-1}" = 1 ]; then
	[ -n "${CHRONOCTL:-}" ] || fail "CHRONOCTL is not set (path to the chronoctl binary)"
	[ -x "$CHRONOCTL" ] || fail "CHRONOCTL=$CHRONOCTL is not executable"
	CHRONOCTL=$(cd "$(dirname "$CHRONOCTL")" && pwd)/$(basename "$CHRONOCTL")
fi
[ -n "${TREECMP:-}" ] || fail "TREECMP is not set (path to the treecmp helper)"
[ -x "$TREECMP" ] || fail "TREECMP=$TREECMP is not executable"
TREECMP=$(cd "$(dirname "$TREECMP")" && pwd)/$(basename "$TREECMP")

unset CHRONOFS_REPO CHRONOFS_PASSWORD CHRONOFS_PASSWORD_FILE CHRONOFS_CACHE_DIR CHRONOFS_CONFIG
export CHRONOFS_KDF_LOG2N=10

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chronofs-$TEST_NAME.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
REPO=$WORK/repo
CACHE=$WORK/cache
PASSWORD='correct horse battery staple'
OUT=$WORK/.out
ERR=$WORK/.err
RC=0
export HOME=$WORK/home
export XDG_CACHE_HOME=$WORK/xdg-cache
mkdir -p "$HOME"

_LIB_PIDS=()
_LIB_MOUNTS=()
_LIB_REMOVE=()
_LIB_AT_EXIT=()
declare -A _LIB_MOUNT_PID=()

track_pid() {
	_LIB_PIDS+=("$1")
}

# Call after a tracked PID has been reaped, so that cleanup never signals a
# recycled PID that belongs to someone else.
untrack_pid() {
	local keep=() p
	for p in "${_LIB_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	_LIB_PIDS=("${keep[@]}")
}

_lib_cleanup() {
	local rc=$? p
	set +e
	# Mounts first: a live mount under $WORK would stop rm -rf (or hang it).
	_lib_umount_all
	for p in "${_LIB_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in "${_LIB_AT_EXIT[@]}"; do
		eval "$p"
	done
	for p in "${_LIB_REMOVE[@]}"; do
		rm -f -- "$p"
	done
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		printf '%s: work dir kept: %s\n' "$TEST_NAME" "$WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap _lib_cleanup EXIT
# set -e alone exits silently; say which command failed where.
trap 'printf "%s: FAIL: line %s: command exited %s: %s\n" "$TEST_NAME" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM HUP

# A hung chronoctl (say, waiting forever on a stale lock) fails the test with
# exit 124 instead of running into meson's timeout; CFS_TIMEOUT overrides.
cfs() {
	CHRONOFS_REPO=$REPO CHRONOFS_PASSWORD=$PASSWORD CHRONOFS_CACHE_DIR=$CACHE \
		timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" "$@"
}

# Runs "$@" without letting set -e stop the test.
run() {
	RC=0
	"$@" >"$OUT" 2>"$ERR" || RC=$?
}

_lib_show_output() {
	printf -- '--- stdout (first 40 lines):\n' >&2
	head -n 40 "$OUT" | cat -v >&2
	printf -- '--- stderr (first 40 lines):\n' >&2
	head -n 40 "$ERR" | cat -v >&2
	printf -- '---\n' >&2
}

expect_exit() {
	local want=$1
	shift
	run "$@"
	if [ "$RC" != "$want" ]; then
		printf '%s: command: %s\n' "$TEST_NAME" "$(printf '%q ' "$@")" >&2
		_lib_show_output
		[ "$RC" != 124 ] || fail "timed out (exit 124), expected exit $want"
		fail "exit status $RC, expected $want"
	fi
}

ok() {
	expect_exit 0 "$@"
}

# Fails unless file $1 contains the fixed string $2 (case-insensitive).
expect_in() {
	grep -qiF -- "$2" "$1" || {
		printf '%s: contents of %s:\n' "$TEST_NAME" "$1" >&2
		head -n 40 "$1" | cat -v >&2
		fail "${3:-expected to find '$2'}"
	}
}

# Starts chronoctl in the background with the test's settings; its output
# goes to $WORK/NAME.out and $WORK/NAME.err. Sets BG_PID (tracked). `env`
# execs chronoctl, so BG_PID is chronoctl's own PID, and kill -9 hits it.
cfs_bg() {
	local name=$1
	shift
	env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		"$CHRONOCTL" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	BG_PID=$!
	track_pid "$BG_PID"
}

# wait_rc PID: reaps PID, untracks it, sets WAIT_RC to its exit status.
# (Not usable as $(wait_rc ...): a subshell cannot wait for its siblings.)
wait_rc() {
	# shellcheck disable=SC2034 # read by the tests
	WAIT_RC=0
	# 2>/dev/null: bash's "Killed" job notice for a process we killed.
	wait "$1" 2>/dev/null || WAIT_RC=$?
	untrack_pid "$1"
}

# --- JSON -------------------------------------------------------------------
# jq is preferred, then python3; without either only flat ".key" and
# ".a.key" lookups of scalars work (good enough to keep tests meaningful);
# LIB_JSON_TOOL=jq|python3|none forces one.

_lib_json_tool=none
if [ -n "${LIB_JSON_TOOL:-}" ]; then
	_lib_json_tool=$LIB_JSON_TOOL # jq, python3 or none: to test the fallbacks
elif command -v jq >/dev/null 2>&1; then
	_lib_json_tool=jq
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import json' 2>/dev/null; then
	_lib_json_tool=python3
fi

_LIB_PY_JSON='
import json, re, sys
data = json.load(open(sys.argv[1], "rb"))
path = sys.argv[2].strip()
def walk(v, expr):
    expr = expr.strip()
    if expr == "length":
        return len(v)
    if expr in (".", ""):
        return v
    for tok in re.findall(r"\.\[(-?\d+)\]|\[(-?\d+)\]|\.([A-Za-z_][A-Za-z0-9_]*)", expr):
        if tok[0] or tok[1]:
            v = v[int(tok[0] or tok[1])]
        else:
            v = v[tok[2]]
    return v
v = data
for part in path.split("|"):
    v = walk(v, part)
if isinstance(v, str):
    print(v)
elif isinstance(v, bool):
    print("true" if v else "false")
elif v is None:
    print("null")
elif isinstance(v, (int, float)):
    print(v)
else:
    print(json.dumps(v))
'

json_get() {
	local file=$1 path=$2
	case $_lib_json_tool in
	jq) jq -r "$path" "$file" ;;
	python3) python3 -c "$_LIB_PY_JSON" "$file" "$path" ;;
	*)
		local key=${path##*.}
		case $path in
		*length* | *\[*) fail "json_get '$path' needs jq or python3 (install jq)" ;;
		esac
		{ tr -d '\n' <"$file" | grep -oE "\"$key\"[[:space:]]*:[[:space:]]*(\"[^\"]*\"|[-0-9.eE+]+|true|false|null)" || true; } |
			head -n 1 | sed -E 's/^[^:]*:[[:space:]]*//; s/^"(.*)"$/\1/'
		;;
	esac
}

json_valid() {
	case $_lib_json_tool in
	jq) jq -e . "$1" >/dev/null 2>&1 ;;
	python3) python3 -c 'import json,sys; json.load(open(sys.argv[1],"rb"))' "$1" 2>/dev/null ;;
	*)
		# Weak fallback: balanced braces/brackets, starts and ends like JSON.
		local t
		t=$(tr -d ' \t\r\n' <"$1")
		case $t in \{*\} | \[*\]) ;; *) return 1 ;; esac
		[ "$(tr -cd '{' <<<"$t" | wc -c)" = "$(tr -cd '}' <<<"$t" | wc -c)" ] &&
			[ "$(tr -cd '[' <<<"$t" | wc -c)" = "$(tr -cd ']' <<<"$t" | wc -c)" ]
		;;
	esac
}

# snapshot create --json ARGS; sets SNAP_ID and SNAP_NAME.
snap_create() {
	ok cfs snapshot create --json "$@"
	cp "$OUT" "$WORK/snap.json"
	json_valid "$WORK/snap.json" || { _lib_show_output; fail "snapshot create --json printed invalid JSON"; }
	SNAP_ID=$(json_get "$WORK/snap.json" .id)
	SNAP_NAME=$(json_get "$WORK/snap.json" .name)
	[ -n "$SNAP_ID" ] && [ "$SNAP_ID" != null ] || fail "snapshot create --json: no id"
	[ -n "$SNAP_NAME" ] && [ "$SNAP_NAME" != null ] || fail "snapshot create --json: no name"
}

# Number of snapshots in the repository (snapshot list --json).
snap_count() {
	ok cfs snapshot list --json
	json_valid "$OUT" || { _lib_show_output; fail "snapshot list --json printed invalid JSON"; }
	json_get "$OUT" length
}

# --- trees and repositories -------------------------------------------------

make_fixture() {
	bash "$MKFIXTURE" "$1" || fail "mkfixture.sh $1 failed"
}

assert_same_tree() {
	local a=$1 b=$2 rc=0
	shift 2
	"$TREECMP" "$@" "$a" "$b" >"$WORK/.treecmp" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		head -n 60 "$WORK/.treecmp" >&2
		fail "trees differ: $a vs $b (treecmp exit $rc)"
	fi
}

repo_digest() {
	(
		cd "$1" || exit 1
		find . -printf '%y %m %s %p\n' | sort
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum
	)
}

dir_size() {
	du -sb "$1" | cut -f1
}

# make_texts DIR FIRST N: N small files of word text (400-1000 bytes) in
# DIR, numbered from FIRST (f00000.txt ...): food for a dictionary.
make_texts() {
	mkdir -p "$1"
	awk -v dir="$1" -v first="$2" -v n="$3" 'BEGIN {
		split("config value return static struct buffer length error server client update delete insert select where order table index user group", w, " ")
		srand(first + 7)
		for (k = first; k < first + n; k++) {
			f = sprintf("%s/f%05d.txt", dir, k)
			want = 400 + int(rand() * 600)
			s = sprintf("# file %d\n", k)
			while (length(s) < want)
				s = s w[1 + int(rand() * 20)] (rand() < 0.15 ? "\n" : " ")
			printf "%s", s > f
			close(f)
		}
	}'
}
# Creates a file of N bytes of random data.
rand_file() {
	head -c "$2" /dev/urandom >"$1"
}

# --- FUSE mounts --------------------------------------------------------------

need_fuse() {
	[ -c /dev/fuse ] || skip "/dev/fuse is missing"
	[ -n "${CHRONOFS:-}" ] || skip "CHRONOFS is not set (path to the chronofs daemon)"
	[ -x "$CHRONOFS" ] || skip "CHRONOFS=$CHRONOFS is not executable"
	command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 is missing (fuse3)"
	CHRONOFS=$(cd "$(dirname "$CHRONOFS")" && pwd)/$(basename "$CHRONOFS")
}

mount_compare() {
	if ! [ -c /dev/fuse ] || ! [ -x "${CHRONOFS:-}" ] || ! command -v fusermount3 >/dev/null 2>&1; then
		log "no FUSE here: the mount is not compared"
		return 0
	fi
	need_fuse
	mount_fs "$WORK/mnt"
	assert_same_tree "$1" "$WORK/mnt/$(json_get "$WORK/snap.json" .name)$1"
	umount_fs "$WORK/mnt"
}

# Mount point paths here never hold spaces or newlines (they live under
# $WORK), so comparing mountinfo's escaped field 5 verbatim is exact.
is_mounted() {
	local p
	p=$(realpath -m -- "$1")
	_lib_is_mounted_raw "$p"
}

# For paths resolved already: realpath lstat()s the mount point itself,
# which a stopped daemon would never answer.
_lib_is_mounted_raw() {
	awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo
}

register_mount() {
	local m
	m=$(realpath -m -- "$1")
	_LIB_MOUNTS+=("$m")
}

remove_on_exit() {
	_LIB_REMOVE+=("$1")
}

# Run a command (a string for eval) in cleanup, before $WORK goes: say, to
# make immutable files removable again.
at_exit() {
	_LIB_AT_EXIT+=("$1")
}

_lib_unregister_mount() {
	local keep=() m
	for m in "${_LIB_MOUNTS[@]}"; do
		[ "$m" = "$1" ] || keep+=("$m")
	done
	_LIB_MOUNTS=("${keep[@]}")
	unset "_LIB_MOUNT_PID[$1]"
}

# A process that exited but was not reaped yet still answers kill -0.
_lib_pid_alive() {
	local st
	[ -e "/proc/$1" ] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

_lib_fs_seq=0
mount_fs() {
	local mnt i
	mnt=$(realpath -m -- "$1")
	shift
	mkdir -p -- "$mnt"
	_lib_fs_seq=$((_lib_fs_seq + 1))
	FS_LOG=$WORK/chronofs-$_lib_fs_seq.log
	env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="${FS_CACHE:-$CACHE}" \
		"$CHRONOFS" -f "$@" "$REPO" "$mnt" >"$FS_LOG" 2>&1 &
	FS_PID=$!
	track_pid "$FS_PID"
	register_mount "$mnt"
	_LIB_MOUNT_PID[$mnt]=$FS_PID
	for ((i = 0; i < ${MOUNT_TIMEOUT:-30} * 10; i++)); do
		if is_mounted "$mnt"; then
			# The root must answer too (INIT done).
			timeout 10 stat -- "$mnt" >/dev/null 2>&1 && return 0
		fi
		if ! _lib_pid_alive "$FS_PID"; then
			wait_rc "$FS_PID"
			_lib_unregister_mount "$mnt"
			printf -- '--- chronofs output:\n' >&2
			head -n 40 "$FS_LOG" | cat -v >&2
			fail "chronofs $(printf '%q ' "$@")$REPO $mnt exited $WAIT_RC before mounting"
		fi
		sleep 0.1
	done
	head -n 40 "$FS_LOG" | cat -v >&2
	fail "chronofs did not mount $mnt within ${MOUNT_TIMEOUT:-30} s"
}

# Unmounts MNT; if mount_fs started its daemon, waits (10 s) for it to exit
# and sets FS_RC to its exit status (fails the test if it does not exit).
umount_fs() {
	local mnt pid i
	mnt=$(realpath -m -- "$1")
	pid=${_LIB_MOUNT_PID[$mnt]:-}
	FS_RC=0
	fusermount3 -u -- "$mnt" >"$WORK/.umount.err" 2>&1 ||
		{ cat "$WORK/.umount.err" >&2; fail "fusermount3 -u $mnt failed"; }
	is_mounted "$mnt" && fail "$mnt is still mounted after fusermount3 -u"
	_lib_unregister_mount "$mnt"
	[ -n "$pid" ] || return 0
	for ((i = 0; i < 100; i++)); do
		_lib_pid_alive "$pid" || break
		sleep 0.1
	done
	_lib_pid_alive "$pid" && fail "chronofs (pid $pid) still runs 10 s after its mount was unmounted"
	wait_rc "$pid"
	FS_RC=$WAIT_RC
}

_lib_umount_one() {
	local m=$1 dev pid
	_lib_is_mounted_raw "$m" || return 0
	# timeout: a stopped or hung daemon must not hang the cleanup.
	timeout -k 2 10 fusermount3 -u -- "$m" 2>/dev/null
	_lib_is_mounted_raw "$m" || return 0
	# Busy or hung: stop our daemon, abort the connection, detach lazily.
	pid=${_LIB_MOUNT_PID[$m]:-}
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && sleep 0.5
	_lib_is_mounted_raw "$m" || return 0
	dev=$(awk -v p="$m" '$5 == p { print $3; exit }' /proc/self/mountinfo)
	if [ -n "$dev" ] && [ -w "/sys/fs/fuse/connections/${dev#*:}/abort" ]; then
		echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
	fi
	timeout -k 2 10 fusermount3 -u -z -- "$m" 2>/dev/null
	_lib_is_mounted_raw "$m" && timeout -k 2 10 umount -l -- "$m" 2>/dev/null
	_lib_is_mounted_raw "$m" && printf '%s: WARNING: could not unmount %s\n' "$TEST_NAME" "$m" >&2
	return 0
}

_lib_umount_all() {
	local i
	for ((i = ${#_LIB_MOUNTS[@]} - 1; i >= 0; i--)); do
		_lib_umount_one "${_LIB_MOUNTS[$i]}"
	done
}
