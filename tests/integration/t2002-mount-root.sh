#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The root of the mount and the daemon's life cycle:
#   - the root lists exactly the snapshot names (as `snapshot list` prints
#     them) and `latest`, a relative symlink to the newest;
#   - a UTC time that is not a snapshot name resolves (lookup only, never
#     listed) to a symlink to the newest snapshot at or before it; a time
#     before the first snapshot and garbage names are ENOENT;
#   - a snapshot created while mounted appears within 5 s, latest follows;
#   - -o snapshot=NAME mounts that snapshot's tree alone;
#   - without -f the command returns 0 once the mount works;
#   - wrong passphrase, missing repository, missing or busy mount point and
#     an unknown snapshot= exit non-zero with a message and mount nothing;
#   - SIGTERM and SIGINT unmount and exit 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse

SRC=$WORK/src
mkdir -p "$SRC/d"
printf 'version one\n' >"$SRC/d/file"
printf 'stays\n' >"$SRC/keep"

ok cfs init
snap_create "$SRC"
name1=$SNAP_NAME
id1=$SNAP_ID
cp -a "$SRC" "$WORK/state1"
# Names are to the second: leave a whole second between the snapshots.
sleep 2
printf 'version two, longer\n' >"$SRC/d/file"
printf 'new\n' >"$SRC/added"
snap_create "$SRC"
name2=$SNAP_NAME
cp -a "$SRC" "$WORK/state2"

epoch() { date -u -d "$1" +%s; }
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
t1=$(epoch "$name1") || fail "cannot parse snapshot name $name1 as a time"
t2=$(epoch "$name2") || fail "cannot parse snapshot name $name2 as a time"
[ $((t2 - t1)) -ge 2 ] || fail "test bug: snapshots $name1 and $name2 less than 2 s apart"

MNT=$WORK/mnt
mount_fs "$MNT"

# --- the root listing ---------------------------------------------------------
root_listing() {
	ls -1A -- "$MNT" | sort
}
want=$(printf '%s\n' "$name1" "$name2" latest | sort)
got=$(root_listing)
[ "$got" = "$want" ] || fail "root lists [${got//$'\n'/ }], expected [${want//$'\n'/ }]"
[ -L "$MNT/latest" ] || fail "latest is not a symlink"
[ "$(readlink "$MNT/latest")" = "$name2" ] || fail "latest -> '$(readlink "$MNT/latest")', expected '$name2'"
[ "$(stat -c %F "$MNT/$name1")" = directory ] || fail "$name1 is not a directory"
assert_same_tree "$WORK/state1" "$MNT/$name1$SRC"
assert_same_tree "$WORK/state2" "$MNT/latest$SRC"
cmp -s "$WORK/state2/d/file" "$MNT/latest/$SRC/d/file" || fail "latest/ does not show the newest snapshot"

# --- time lookups ---------------------------------------------------------------
# check_time TIME EXPECTED_TARGET
check_time() {
	local t=$1 want=$2 got
	[ -L "$MNT/$t" ] || { ls -la "$MNT/$t" >&2 || true; fail "time lookup $t is not a symlink"; }
	got=$(readlink "$MNT/$t")
	[ "$got" = "$want" ] || fail "time lookup $t -> '$got', expected '$want'"
	[ -d "$MNT/$t/" ] || fail "time lookup $t does not lead to a directory"
}
mid=$(rfc3339 $((t1 + 1)))
check_time "$mid" "$name1"
check_time "$(rfc3339 $((t2 + 1)))" "$name2"
check_time "$(rfc3339 $((t2 + 86400 * 365)))" "$name2"
# Past what int64 nanoseconds hold: still after every snapshot.
check_time 2262-04-11T23:47:17Z "$name2"
check_time 9999-12-31T23:59:59Z "$name2"
cmp -s "$WORK/state1/d/file" "$MNT/$mid$SRC/d/file" || fail "$mid/ does not show $name1's content"
before=$(rfc3339 $((t1 - 3600)))
run ls -d -- "$MNT/$before"
[ "$RC" != 0 ] || fail "time $before (before the first snapshot) resolved to something"
expect_in "$ERR" "No such file or directory" "lookup of $before: expected ENOENT"
for bad in garbage 2026-13-45T99:99:99Z "$name1.tmp" LATEST; do
	run stat -- "$MNT/$bad"
	[ "$RC" != 0 ] || fail "lookup of '$bad' in the root succeeded"
	expect_in "$ERR" "No such file or directory" "lookup of '$bad': expected ENOENT"
done
got=$(root_listing)
[ "$got" = "$want" ] || fail "after time lookups the root lists [${got//$'\n'/ }], expected [${want//$'\n'/ }]"

# --- a new snapshot shows up without remounting --------------------------------
sleep 1
printf 'version three\n' >"$SRC/d/file"
snap_create "$SRC"
name3=$SNAP_NAME
seen=0
for ((i = 0; i < 50; i++)); do
	got=$(root_listing)
	if grep -qxF -- "$name3" <<<"$got"; then
		seen=1
		break
	fi
	sleep 0.1
done
[ "$seen" = 1 ] || fail "new snapshot $name3 not in the root 5 s after it was created: [${got//$'\n'/ }]"
# latest, and a time looked up before (it resolved to $name2), now lead to
# the new snapshot too (nothing stale cached for them).
future=$(rfc3339 $((t2 + 86400 * 365)))
for ((i = 0; i < 50; i++)); do
	l=$(readlink "$MNT/latest") || true
	f=$(readlink "$MNT/$future") || true
	[ "$l" = "$name3" ] && [ "$f" = "$name3" ] && break
	sleep 0.1
done
[ "$l" = "$name3" ] && [ "$f" = "$name3" ] ||
	fail "5 s after $name3 was listed: latest -> '$l', $future -> '$f' (both should lead to $name3)"
[ -d "$MNT/$name3$SRC" ] || fail "new snapshot $name3 is listed but cannot be entered"
cmp -s "$SRC/d/file" "$MNT/latest$SRC/d/file" || fail "latest/ does not show the new snapshot's content"
umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after fusermount3 -u"; }

# --- -o snapshot=NAME -----------------------------------------------------------
MNT1=$WORK/mnt-one
mount_fs "$MNT1" -o "snapshot=$name1"
[ ! -e "$MNT1/latest" ] && [ ! -e "$MNT1/$name1" ] || fail "-o snapshot=$name1 still shows the snapshot root"
assert_same_tree "$WORK/state1" "$MNT1$SRC"
umount_fs "$MNT1"
[ "$FS_RC" = 0 ] || fail "chronofs -o snapshot= exited $FS_RC after unmount"
# SNAP as for chronoctl: an id prefix, latest; options combined in one -o.
mount_fs "$MNT1" -o "ro,snapshot=${id1:0:8},allow_other"
assert_same_tree "$WORK/state1" "$MNT1$SRC"
umount_fs "$MNT1"
mount_fs "$MNT1" -o snapshot=latest
cmp -s "$SRC/d/file" "$MNT1$SRC/d/file" || fail "-o snapshot=latest does not show the newest snapshot"
umount_fs "$MNT1"

# --- passphrase and cache options, -o debug -------------------------------------------
PWF=$WORK/password
printf '%s\n' "$PASSWORD" >"$PWF"
OPT=$WORK/mnt-opt
mkdir "$OPT"
register_mount "$OPT"
# opt_mount DESC ENV... -- ARGS...: background mount without CHRONOFS_PASSWORD.
opt_mount() {
	local desc=$1
	shift
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	run env -u CHRONOFS_PASSWORD -u CHRONOFS_CACHE_DIR "${envs[@]}" timeout 60 "$CHRONOFS" "$@" "$REPO" "$OPT"
	[ "$RC" = 0 ] || { _lib_show_output; fail "$desc: chronofs exited $RC"; }
	is_mounted "$OPT" || fail "$desc: not mounted"
	[ "$(readlink "$OPT/latest")" = "$name3" ] || fail "$desc: latest -> '$(readlink "$OPT/latest")'"
	fusermount3 -u "$OPT" || fail "$desc: fusermount3 -u failed"
}
opt_mount "-o password_file" CHRONOFS_CACHE_DIR="$CACHE" -- -o "password_file=$PWF"
opt_mount "CHRONOFS_PASSWORD_FILE" CHRONOFS_PASSWORD_FILE="$PWF" CHRONOFS_CACHE_DIR="$CACHE" --
opt_mount "-o cache_dir (fresh)" CHRONOFS_PASSWORD_FILE="$PWF" -- -o "cache_dir=$WORK/cache-opt"
[ -n "$(ls -A "$WORK/cache-opt" 2>/dev/null)" ] || fail "-o cache_dir=$WORK/cache-opt: nothing was written there"
mount_fs "$MNT1" -o debug
ls "$MNT1" >/dev/null
umount_fs "$MNT1"
[ "$FS_RC" = 0 ] || fail "chronofs -o debug exited $FS_RC"
[ "$(wc -l <"$FS_LOG")" -gt 3 ] || fail "-o debug logged nothing"

# --- background mode --------------------------------------------------------------
BG=$WORK/mnt-bg
mkdir "$BG"
register_mount "$BG"
run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" "$REPO" "$BG"
[ "$RC" = 0 ] || { _lib_show_output; fail "chronofs without -f exited $RC"; }
# Ready when it returns: no waiting here.
is_mounted "$BG" || fail "chronofs without -f returned 0 but $BG is not mounted"
[ "$(readlink "$BG/latest")" = "$name3" ] || fail "background mount: latest -> '$(readlink "$BG/latest")'"
cmp -s "$SRC/keep" "$BG/$name1$SRC/keep" || fail "background mount: wrong content"
fusermount3 -u "$BG" || fail "fusermount3 -u $BG failed"
is_mounted "$BG" && fail "$BG still mounted"
for ((i = 0; i < 50; i++)); do
	pgrep -f -- "$BG" >/dev/null || break
	sleep 0.1
done
pgrep -f -- "$BG" >/dev/null && fail "the background daemon for $BG still runs 5 s after fusermount3 -u"

# A relative mount point or repository, as typed by a user, works in
# background mode too (daemonizing changes to /: the names must be resolved
# before). The mount point's name does not exist under /, so a daemon that
# resolved it there cannot mount anything.
REL=$WORK/mnt-rel-$$
mkdir "$REL"
register_mount "$REL"
for args in "$REPO mnt-rel-$$" "repo $REL"; do
	# shellcheck disable=SC2086 # two words, no odd characters
	run env -C "$WORK" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" $args
	[ "$RC" = 0 ] || { _lib_show_output; fail "chronofs $args (in $WORK, background) exited $RC"; }
	is_mounted "$REL" || fail "chronofs $args (in $WORK) returned 0 but $REL is not mounted"
	[ "$(readlink "$REL/latest")" = "$name3" ] || fail "relative mount: latest -> '$(readlink "$REL/latest")'"
	fusermount3 -u "$REL" || fail "fusermount3 -u $REL failed"
done

# --- errors before mounting ---------------------------------------------------------
# expect_mount_error DESC MNT [ENV...] -- ARGS: both with and without -f.
expect_mount_error() {
	local desc=$1 mnt=$2 fg
	shift 2
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	for fg in "" -f; do
		run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" "${envs[@]}" \
			timeout 60 "$CHRONOFS" $fg "$@"
		[ "$RC" != 124 ] || fail "$desc (${fg:-background}): chronofs hung (killed after 60 s)"
		[ "$RC" != 0 ] || { is_mounted "$mnt" && fusermount3 -u "$mnt"; fail "$desc (${fg:-background}): chronofs exited 0"; }
		[ -s "$ERR" ] || fail "$desc (${fg:-background}): exit $RC but no message on stderr"
		if [ "$desc" != "busy mount point" ] && is_mounted "$mnt"; then
			fusermount3 -u "$mnt"
			fail "$desc (${fg:-background}): exit $RC but $mnt got mounted"
		fi
		log "$desc (${fg:-background}): exit $RC: $(head -n 1 "$ERR")"
	done
}
E=$WORK/mnt-err
mkdir "$E"
register_mount "$E"
expect_mount_error "wrong passphrase" "$E" CHRONOFS_PASSWORD=wrong -- "$REPO" "$E"
expect_mount_error "missing repository" "$E" -- "$WORK/no-such-repo" "$E"
[ ! -e "$WORK/no-such-repo" ] || fail "chronofs created the missing repository"
expect_mount_error "missing mount point" "$WORK/no-such-mnt" -- "$REPO" "$WORK/no-such-mnt"
expect_mount_error "unknown snapshot" "$E" -- -o snapshot=1999-01-01T00:00:00Z "$REPO" "$E"
mount_fs "$MNT"
register_mount "$MNT" # once more: if a second mount stacks on it, cleanup removes both
expect_mount_error "busy mount point" "$MNT" -- "$REPO" "$MNT"
[ "$(awk -v p="$MNT" '$5 == p' /proc/self/mountinfo | wc -l)" = 1 ] || fail "a second chronofs mounted over the busy $MNT"
umount_fs "$MNT"

# --- signals ---------------------------------------------------------------------------
mount_fs "$MNT"
kill -TERM "$FS_PID"
for ((i = 0; i < 100; i++)); do
	_lib_pid_alive "$FS_PID" || break
	sleep 0.1
done
_lib_pid_alive "$FS_PID" && fail "chronofs still runs 10 s after SIGTERM"
wait_rc "$FS_PID"
[ "$WAIT_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $WAIT_RC on SIGTERM, expected 0"; }
is_mounted "$MNT" && fail "$MNT still mounted after SIGTERM"

# A background job of a script starts with SIGINT ignored; restore the
# default so the daemon sees SIGINT as from a terminal.
env --default-signal=INT true 2>/dev/null || skip "env --default-signal unsupported (coreutils < 8.31)"
env --default-signal=INT CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOFS" -f "$REPO" "$MNT" >"$WORK/sigint.log" 2>&1 &
pid=$!
track_pid "$pid"
for ((i = 0; i < 300; i++)); do
	is_mounted "$MNT" && break
	_lib_pid_alive "$pid" || { cat "$WORK/sigint.log" >&2; fail "chronofs -f exited before mounting"; }
	sleep 0.1
done
ls "$MNT" >/dev/null
kill -INT "$pid"
for ((i = 0; i < 100; i++)); do
	_lib_pid_alive "$pid" || break
	sleep 0.1
done
_lib_pid_alive "$pid" && fail "chronofs still runs 10 s after SIGINT"
wait_rc "$pid"
[ "$WAIT_RC" = 0 ] || { cat "$WORK/sigint.log" >&2; fail "chronofs exited $WAIT_RC on SIGINT, expected 0"; }
is_mounted "$MNT" && fail "$MNT still mounted after SIGINT"

# --- names with milliseconds ------------------------------------------------------------
# Snapshots in quick succession (names within one second get milliseconds):
# the root lists exactly what `snapshot list` prints.
for i in 1 2 3; do
	snap_create "$SRC"
done
n=$(snap_count)
ok cfs snapshot list --json
names=$(for ((i = 0; i < n; i++)); do json_get "$OUT" ".[$i].name"; done | sort)
mount_fs "$MNT"
got=$(root_listing)
want=$(printf '%s\nlatest\n' "$names" | sort)
[ "$got" = "$want" ] || fail "root lists [${got//$'\n'/ }], snapshot list has [${want//$'\n'/ }]"
[ "$(readlink "$MNT/latest")" = "$SNAP_NAME" ] || fail "latest -> '$(readlink "$MNT/latest")', expected $SNAP_NAME"
while IFS= read -r nm; do
	[ -d "$MNT/$nm$SRC" ] || fail "snapshot $nm cannot be entered"
done <<<"$names"
grep -qF . <<<"$names" && log "names with fractions: $(grep -F . <<<"$names" | tr '\n' ' ')"
umount_fs "$MNT"

log "ok: root of $name1, $name2, $name3; background mode; errors; signals"
