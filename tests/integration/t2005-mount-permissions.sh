#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Permissions in the mount are the source's, enforced by the kernel
# (default_permissions): with -o allow_other the user nobody reads a 0644
# file, gets EACCES on a 0600 root file and inside a 0700 directory, and a
# POSIX ACL stored with a 0600 file (user nobody: r) lets nobody read it,
# while an ACL naming someone else does not. Without allow_other, nobody
# cannot use the mount at all.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"
nogroup=$(getent group nogroup >/dev/null && echo nogroup || echo nobody)

# nobody must be able to reach the mount point (mktemp made $WORK 0700), and
# the snapshot stores the source's ancestors with their modes.
chmod 0755 "$WORK"
SRC=$WORK/src
mkdir -p "$SRC/private" "$SRC/public"
printf 'public\n' >"$SRC/public/readable"
printf 'secret\n' >"$SRC/public/secret"
printf 'hidden\n' >"$SRC/private/inside"
printf 'acl yes\n' >"$SRC/public/acl-nobody"
printf 'acl no\n' >"$SRC/public/acl-other"
chmod 0644 "$SRC/public/readable" "$SRC/private/inside"
chmod 0600 "$SRC/public/secret" "$SRC/public/acl-nobody" "$SRC/public/acl-other"
chmod 0700 "$SRC/private"
setfacl -m u:65534:r "$SRC/public/acl-nobody"
setfacl -m u:1234:r "$SRC/public/acl-other"
chown -R 0:0 "$SRC"
# Group class: 0640 root:nogroup is readable by nobody (primary group
# nogroup); 0604 root:nogroup is not (the group bits rule, not "other").
printf 'group read\n' >"$SRC/public/group-0640"
printf 'group none\n' >"$SRC/public/group-0604"
chown "0:$nogroup" "$SRC/public/group-0640" "$SRC/public/group-0604"
chmod 0640 "$SRC/public/group-0640"
chmod 0604 "$SRC/public/group-0604"

as_nobody() {
	setpriv --reuid=nobody --regid="$nogroup" --clear-groups -- "$@"
}
# Sanity: on the source itself the rules hold (else the test is wrong).
as_nobody cat "$SRC/public/readable" >/dev/null || fail "test bug: nobody cannot read the source's 0644 file"
as_nobody cat "$SRC/public/acl-nobody" >/dev/null || fail "test bug: the ACL does not work on the source"
! as_nobody cat "$SRC/public/secret" 2>/dev/null || fail "test bug: nobody reads the source's 0600 file"
! as_nobody cat "$SRC/public/acl-other" 2>/dev/null || fail "test bug: nobody reads acl-other in the source"
as_nobody cat "$SRC/public/group-0640" >/dev/null || fail "test bug: nobody cannot read group-0640 in the source"
! as_nobody cat "$SRC/public/group-0604" 2>/dev/null || fail "test bug: nobody reads group-0604 in the source"

ok cfs init
snap_create "$SRC"
name=$SNAP_NAME

# expect_denied DESC CMD...: run as nobody, must fail with EACCES.
expect_denied() {
	local desc=$1
	shift
	run as_nobody "$@"
	[ "$RC" != 0 ] || fail "nobody could $desc: $(printf '%q ' "$@")"
	grep -qF "Permission denied" "$ERR" || { _lib_show_output; fail "$desc: failed but not with EACCES"; }
}
expect_read() { # FILE CONTENT
	run as_nobody cat "$1"
	[ "$RC" = 0 ] || { _lib_show_output; fail "nobody cannot read $1"; }
	[ "$(cat "$OUT")" = "$2" ] || fail "nobody read '$(cat "$OUT")' from $1, expected '$2'"
}

# Without allow_other the mount is the mounting user's alone.
MNT=$WORK/mnt
mount_fs "$MNT"
cat "$MNT/$name$SRC/public/readable" >/dev/null || fail "root cannot read through its own mount"
expect_denied "use a mount without allow_other" cat "$MNT/$name$SRC/public/readable"
umount_fs "$MNT"

mount_fs "$MNT" -o allow_other
P=$MNT/$name$SRC
run as_nobody ls "$MNT"
[ "$RC" = 0 ] || { _lib_show_output; fail "nobody cannot list the root of an allow_other mount"; }
expect_in "$OUT" "$name"
expect_read "$P/public/readable" public
expect_read "$MNT/latest$SRC/public/readable" public
expect_denied "read a 0600 root file" cat "$P/public/secret"
expect_denied "list a 0700 directory" ls "$P/private"
expect_denied "read inside a 0700 directory" cat "$P/private/inside"
expect_denied "stat inside a 0700 directory" stat "$P/private/inside"
expect_read "$P/public/acl-nobody" "acl yes"
expect_read "$P/public/group-0640" "group read"
expect_denied "read a 0604 file of its own group" cat "$P/public/group-0604"
expect_denied "read a file whose ACL names another user" cat "$P/public/acl-other"
# The ACL is visible as stored.
acl=$(getfacl -p "$P/public/acl-nobody" 2>/dev/null) || true
grep -qE '^user:(nobody|65534):r--' <<<"$acl" ||
	fail "the ACL of acl-nobody is not shown in the mount"
# Root still reads everything.
cmp -s "$SRC/private/inside" "$P/private/inside" || fail "root cannot read inside the 0700 directory"
cmp -s "$SRC/public/secret" "$P/public/secret" || fail "root cannot read the 0600 file"
umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after unmount"; }
log "ok: modes and ACLs enforced for nobody with allow_other"
