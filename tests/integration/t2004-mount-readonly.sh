#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The mount is read-only: write, create, mkdir, unlink, rmdir, rename,
# chmod, chown, truncate, utimes, setxattr, removexattr, ACL changes, link,
# symlink, mknod and mkfifo fail with EROFS ("Read-only file system") on
# files, directories, symlinks, at the root and inside snapshots; nothing in
# the mount changes, and the repository's files are byte-identical before
# mounting and after unmounting.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse

SRC=$WORK/src
mkdir -p "$SRC/dir/sub" "$SRC/empty"
printf 'content\n' >"$SRC/dir/file"
setfattr -n user.k -v value "$SRC/dir/file"
ln -s file "$SRC/dir/link"
mkfifo "$SRC/dir/fifo"
printf 'x\n' >"$SRC/dir/sub/x"

ok cfs init
snap_create "$SRC"
name=$SNAP_NAME
repo_digest "$REPO" >"$WORK/repo.before"

MNT=$WORK/mnt
mount_fs "$MNT"
S=$MNT/$name$SRC
[ -f "$S/dir/file" ] || fail "$S/dir/file missing in the mount"
# What the mount shows, to prove that the attempts below changed nothing.
snapshot_view() {
	(cd "$MNT" && find . -printf '%y %m %U:%G %s %T@ %p -> %l\n' | sort
	find "$S" -type f -exec sha256sum {} +
	getfattr -h -d -m - -R "$S" 2>/dev/null | sort)
}
snapshot_view >"$WORK/view.before"
# Read-only and default_permissions at the kernel level, whatever the options.
opts=$(awk -v p="$MNT" '$2 == p { print $4 }' /proc/mounts)
[[ ,$opts, == *,ro,* ]] || fail "the mount is not flagged ro in /proc/mounts: $opts"
[[ ,$opts, == *,default_permissions,* ]] || fail "the mount lacks default_permissions: $opts"

n_checked=0
# erofs DESC CMD...: CMD must fail, saying "Read-only file system".
erofs() {
	local desc=$1
	shift
	run "$@"
	if [ "$RC" = 0 ]; then
		fail "$desc succeeded on the read-only mount: $(printf '%q ' "$@")"
	fi
	grep -qF "Read-only file system" "$ERR" || {
		_lib_show_output
		fail "$desc: failed (exit $RC) but not with EROFS: $(printf '%q ' "$@")"
	}
	n_checked=$((n_checked + 1))
}

F=$S/dir/file
D=$S/dir
for where in "$D" "$MNT/$name" "$MNT"; do
	erofs "create" touch "$where/new-file"
	erofs "create (O_CREAT|O_EXCL)" bash -c 'set -o noclobber; : >"$1"' _ "$where/new-file2"
	erofs "mkdir" mkdir "$where/new-dir"
	erofs "symlink" ln -s target "$where/new-link"
	erofs "link" ln "$F" "$where/new-hardlink"
	erofs "mknod" mknod "$where/new-null" c 1 3
	erofs "mkfifo" mkfifo "$where/new-fifo"
	erofs "chmod dir" chmod 0700 "$where"
	erofs "chown dir" chown 1:1 "$where"
	erofs "utimes dir" touch -d '2001-01-01' "$where"
	erofs "setxattr dir" setfattr -n user.new -v 1 "$where"
done
# Regular files: open for writing in every way, then metadata.
erofs "write (append)" bash -c 'printf x >>"$1"' _ "$F"
erofs "write (truncating open)" bash -c 'printf x >"$1"' _ "$F"
erofs "write (O_WRONLY, no trunc)" dd if=/dev/zero of="$F" bs=1 count=1 conv=notrunc status=none
erofs "open O_RDWR" bash -c 'exec 3<>"$1"' _ "$F"
erofs "truncate" truncate -s 0 "$F"
erofs "fallocate" fallocate -l 1M "$F"
erofs "chmod" chmod 0777 "$F"
erofs "chown" chown 1:1 "$F"
erofs "chgrp" chgrp 1 "$F"
erofs "utimes" touch -d '2001-01-01' "$F"
erofs "utimes (now)" touch "$F"
erofs "setxattr" setfattr -n user.new -v 1 "$F"
erofs "setxattr (replace)" setfattr -n user.k -v other "$F"
erofs "removexattr" setfattr -x user.k "$F"
erofs "setfacl" setfacl -m u:65534:r "$F"
erofs "unlink" rm -f "$F"
erofs "unlink symlink" rm -f "$D/link"
erofs "unlink fifo" rm -f "$D/fifo"
erofs "rmdir" rmdir "$S/empty"
erofs "rename" mv "$F" "$D/renamed"
erofs "rename over" mv -f "$D/sub/x" "$F"
erofs "rename dir" mv "$D/sub" "$D/sub2"
erofs "chown symlink" chown -h 1:1 "$D/link"
erofs "setxattr symlink" setfattr -h -n trusted.new -v 1 "$D/link"
# The root of the mount: snapshots and latest cannot be removed or renamed.
erofs "rmdir snapshot" rmdir "$MNT/$name"
erofs "rm -rf snapshot" rm -rf "$MNT/$name"
erofs "unlink latest" rm -f "$MNT/latest"
erofs "rename snapshot" mv "$MNT/$name" "$MNT/renamed"
erofs "rename latest" mv "$MNT/latest" "$MNT/other"
erofs "symlink in root over latest" ln -sfn "$name" "$MNT/latest"

snapshot_view >"$WORK/view.after"
cmp -s "$WORK/view.before" "$WORK/view.after" || {
	diff "$WORK/view.before" "$WORK/view.after" | head -n 20 >&2
	fail "the mount's contents changed"
}
cmp -s "$SRC/dir/file" "$F" || fail "$F no longer matches its source"
umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after unmount"; }

repo_digest "$REPO" >"$WORK/repo.after"
cmp -s "$WORK/repo.before" "$WORK/repo.after" || {
	diff "$WORK/repo.before" "$WORK/repo.after" | head -n 20 >&2
	fail "mounting changed the repository"
}
log "ok: $n_checked modifying calls refused with EROFS; repository unchanged"
