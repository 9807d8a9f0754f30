#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# mount(8) integration through mount.chronofs ($MOUNT_CHRONOFS):
#   - `mount.chronofs REPO MNT -o ro,password_file=F,...` mounts, returns
#     once ready, and `umount MNT` ends the daemon;
#   - `mount -t chronofs REPO MNT -o ...` (via a temporary
#     /sbin/mount.chronofs symlink) works, options such as allow_other
#     reach the daemon;
#   - an fstab line (a private fstab, `mount -T FILE MNT`) works;
#   - a relative REPO, password_file= and cache_dir= are taken against the
#     caller's current directory;
#   - a wrong passphrase fails with a message and mounts nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse
[ -n "${MOUNT_CHRONOFS:-}" ] || skip "MOUNT_CHRONOFS is not set"
[ -x "$MOUNT_CHRONOFS" ] || skip "MOUNT_CHRONOFS=$MOUNT_CHRONOFS is not executable"
MOUNT_CHRONOFS=$(cd "$(dirname "$MOUNT_CHRONOFS")" && pwd)/$(basename "$MOUNT_CHRONOFS")

chmod 0755 "$WORK" # for the allow_other check as nobody
SRC=$WORK/src
mkdir -p "$SRC"
printf 'through mount(8)\n' >"$SRC/file"
chmod 0644 "$SRC/file"
ok cfs init
snap_create "$SRC"
name=$SNAP_NAME
PWF=$WORK/password
printf '%s\n' "$PASSWORD" >"$PWF"
chmod 0600 "$PWF"
printf 'wrong\n' >"$WORK/wrong-password"

MNT=$WORK/mnt
mkdir "$MNT"
register_mount "$MNT"

# check_mounted HOW: the mount serves the snapshot.
check_mounted() {
	is_mounted "$MNT" || fail "$1: returned 0 but $MNT is not mounted"
	[ "$(readlink "$MNT/latest")" = "$name" ] || fail "$1: latest -> '$(readlink "$MNT/latest")'"
	cmp -s "$SRC/file" "$MNT/$name$SRC/file" || fail "$1: wrong content"
	grep -E "^[^ ]+ $MNT fuse" /proc/mounts >/dev/null ||
		log "$1: note: /proc/mounts line: $(grep " $MNT " /proc/mounts)"
}
# unmount_check HOW: umount(8) unmounts and the daemon goes away.
unmount_check() {
	umount "$MNT" 2>"$WORK/umount.err" || fail "$1: umount failed: $(cat "$WORK/umount.err")"
	is_mounted "$MNT" && fail "$1: still mounted after umount"
	for ((i = 0; i < 50; i++)); do
		pgrep -f -- "$MNT" >/dev/null || return 0
		sleep 0.1
	done
	fail "$1: a process naming $MNT still runs 5 s after umount: $(pgrep -a -f -- "$MNT")"
}

# --- the helper called directly ---------------------------------------------------
run env -i PATH="$PATH" CHRONOFS_KDF_LOG2N="$CHRONOFS_KDF_LOG2N" timeout 60 \
	"$MOUNT_CHRONOFS" "$REPO" "$MNT" -o "ro,password_file=$PWF,cache_dir=$CACHE"
[ "$RC" = 0 ] || { _lib_show_output; fail "mount.chronofs exited $RC"; }
check_mounted "mount.chronofs"
unmount_check "mount.chronofs"

# Relative REPO and file names: made absolute against the caller's current
# directory (mount.chronofs(8)).
run env -i PATH="$PATH" CHRONOFS_KDF_LOG2N="$CHRONOFS_KDF_LOG2N" bash -c 'cd "$1" && shift && exec "$@"' _ "$WORK" \
	timeout 60 "$MOUNT_CHRONOFS" "${REPO#"$WORK"/}" "$MNT" -o "ro,password_file=${PWF#"$WORK"/},cache_dir=${CACHE#"$WORK"/}"
[ "$RC" = 0 ] || { _lib_show_output; fail "mount.chronofs with a relative REPO exited $RC"; }
check_mounted "mount.chronofs with a relative REPO"
unmount_check "mount.chronofs with a relative REPO"

run env -i PATH="$PATH" CHRONOFS_KDF_LOG2N="$CHRONOFS_KDF_LOG2N" timeout 60 \
	"$MOUNT_CHRONOFS" "$REPO" "$MNT" -o "ro,password_file=$WORK/wrong-password,cache_dir=$CACHE"
[ "$RC" != 0 ] || { is_mounted "$MNT" && umount "$MNT"; fail "mount.chronofs with a wrong passphrase exited 0"; }
[ -s "$ERR" ] || fail "mount.chronofs with a wrong passphrase printed nothing"
is_mounted "$MNT" && fail "mount.chronofs with a wrong passphrase mounted anyway"
log "wrong passphrase: exit $RC: $(head -n 1 "$ERR")"

# --- mount -t chronofs and fstab -------------------------------------------------------
HELPER=/sbin/mount.chronofs
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
	skip "$HELPER already exists (not touched); mount -t / fstab not tested"
fi
ln -s "$MOUNT_CHRONOFS" "$HELPER" 2>/dev/null || skip "/sbin is not writable; mount -t / fstab not tested"
remove_on_exit "$HELPER"

run env -i PATH="$PATH" CHRONOFS_KDF_LOG2N="$CHRONOFS_KDF_LOG2N" timeout 60 \
	mount -t chronofs "$REPO" "$MNT" -o "ro,allow_other,password_file=$PWF,cache_dir=$CACHE"
[ "$RC" = 0 ] || { _lib_show_output; fail "mount -t chronofs exited $RC"; }
check_mounted "mount -t chronofs"
if command -v setpriv >/dev/null; then
	nogroup=$(getent group nogroup >/dev/null && echo nogroup || echo nobody)
	setpriv --reuid=nobody --regid="$nogroup" --clear-groups cat "$MNT/$name$SRC/file" >"$WORK/nobody.out" 2>&1 ||
		fail "mount -t chronofs -o allow_other: nobody cannot read a 0644 file: $(cat "$WORK/nobody.out")"
fi
unmount_check "mount -t chronofs"

printf '# private fstab of %s\n%s %s chronofs ro,noauto,password_file=%s,cache_dir=%s 0 0\n' \
	"$TEST_NAME" "$REPO" "$MNT" "$PWF" "$CACHE" >"$WORK/fstab"
run env -i PATH="$PATH" CHRONOFS_KDF_LOG2N="$CHRONOFS_KDF_LOG2N" timeout 60 \
	mount -T "$WORK/fstab" "$MNT"
[ "$RC" = 0 ] || { _lib_show_output; fail "mount -T fstab $MNT exited $RC"; }
check_mounted "fstab"
unmount_check "fstab"

rm -f "$HELPER"
log "ok: mount.chronofs, mount -t chronofs and fstab"
