#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# mkfixture.sh DIR — build the edge-case source tree that restores must
# reproduce exactly (see tests/helpers/treecmp.c for what is compared).
#
# DIR must not exist or be empty. Runs as root (chown, mknod, trusted.*).
# Every feature is required: if the file system under DIR refuses one
# (xattrs, ACLs, device nodes, pre-1970 times, sparse files) the script
# fails loudly, naming it, instead of building a weaker fixture.
#
# Contents are fresh random bytes where it matters for chunking and dedup.
#
# Needs: coreutils, findutils, attr (setfattr), acl (setfacl).
set -euo pipefail
# Byte semantics everywhere: in a UTF-8 locale bash's `read -d ""` mangles
# records that follow an invalid multibyte sequence.
export LC_ALL=C

die() {
	printf 'mkfixture: %s\n' "$*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: mkfixture.sh DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (chown, mknod, trusted.* xattrs)"
for tool in setfattr getfattr setfacl getfacl mknod truncate; do
	command -v "$tool" >/dev/null || die "missing tool '$tool' (run scripts/install-deps: attr, acl)"
done

D=$1
mkdir -p -- "$D"
[ -z "$(ls -A -- "$D")" ] || die "$D is not empty"
D=$(cd -- "$D" && pwd)

randbytes() { # N > file
	head -c "$1" /dev/urandom
}

KiB=1024
MiB=$((1024 * 1024))

# --- regular files around chunk boundaries -------------------------------
mkdir "$D/files"
: >"$D/files/empty"
printf 'x' >"$D/files/one-byte"
randbytes $((256 * KiB - 1)) >"$D/files/256k-minus-1"
randbytes $((256 * KiB)) >"$D/files/256k"
randbytes $((256 * KiB + 1)) >"$D/files/256k-plus-1"
randbytes $((4 * MiB)) >"$D/files/4m"
randbytes $((4 * MiB + 1)) >"$D/files/4m-plus-1"
randbytes $((9 * MiB + 12345)) >"$D/files/multi-chunk-9m"
# Compressible text, ~1.2 MiB.
seq -f 'line %06g: the quick brown fox jumps over the lazy dog' 1 20000 >"$D/files/text.txt"
# The same content twice under different names (dedup inside one snapshot).
cp "$D/files/256k" "$D/files/256k-copy"

# --- directories -----------------------------------------------------------
mkdir -p "$D/nested/a/b/c/d/e/f/g/h" "$D/emptydir" "$D/nested/empty-leaf"
printf 'deep\n' >"$D/nested/a/b/c/d/e/f/g/h/deep.txt"
mkdir "$D/many"
for i in $(seq 1 300); do
	printf '%s\n' "$i" >"$D/many/f$i"
done

# --- symlinks --------------------------------------------------------------
mkdir "$D/links"
ln -s ../files/one-byte "$D/links/relative"
ln -s /etc/hostname "$D/links/absolute"
ln -s does/not/exist "$D/links/dangling"
long_target=$(printf 'abcdefghi/%.0s' $(seq 1 400)) # 4000 bytes
ln -s "$long_target" "$D/links/long-target"
[ "$(readlink "$D/links/long-target" | wc -c)" -eq 4001 ] || die "4000-byte symlink target not stored"
ln -s emptydir "$D/links/to-dir"

# --- hard links: a group of 3 and a group of 2, across directories --------
mkdir -p "$D/hard/x" "$D/hard/y"
randbytes 5000 >"$D/hard/x/three-1"
ln "$D/hard/x/three-1" "$D/hard/x/three-2"
ln "$D/hard/x/three-1" "$D/hard/y/three-3"
printf 'two\n' >"$D/hard/x/two-1"
ln "$D/hard/x/two-1" "$D/hard/y/two-2"

# --- special files ---------------------------------------------------------
mkdir "$D/special"
mkfifo "$D/special/fifo"
mknod "$D/special/chardev" c 1 3 || die "mknod c 1 3 refused (no CAP_MKNOD / nodev?)"
mknod "$D/special/blockdev" b 7 200 || die "mknod b 7 200 refused"

# --- modes and owners ------------------------------------------------------
# chown first: it clears setuid/setgid bits set before it.
mkdir "$D/modes"
for m in 4755 2755 0000 0600 0644 0755; do
	printf 'mode %s\n' "$m" >"$D/modes/file-$m"
done
chown 1234:5678 "$D/modes/file-4755"
chown 0:5678 "$D/modes/file-2755"
chown 65534:65534 "$D/modes/file-0600"
chown 4000000000:4000000001 "$D/modes/file-0644"
for m in 4755 2755 0000 0600 0644 0755; do
	chmod "$m" "$D/modes/file-$m"
done
mkdir "$D/modes/dir-1777" "$D/modes/dir-0700" "$D/modes/dir-2755" "$D/modes/dir-0000"
printf 'in sticky\n' >"$D/modes/dir-1777/f"
printf 'in private\n' >"$D/modes/dir-0700/f"
printf 'in locked\n' >"$D/modes/dir-0000/f"
chown 1234:5678 "$D/modes/dir-0700" "$D/modes/dir-0700/f"
chown 0:5678 "$D/modes/dir-2755"
chmod 1777 "$D/modes/dir-1777"
chmod 0700 "$D/modes/dir-0700"
chmod 2755 "$D/modes/dir-2755"
chmod 0000 "$D/modes/dir-0000"
ln -s file-0600 "$D/modes/symlink-owned"
chown -h 1234:5678 "$D/modes/symlink-owned"
mkfifo "$D/modes/fifo-owned"
chown 4321:8765 "$D/modes/fifo-owned"
chmod 0640 "$D/modes/fifo-owned"
[ "$(stat -c %a "$D/modes/file-4755")" = 4755 ] || die "setuid bit not kept"
[ "$(stat -c %u:%g "$D/modes/file-0644")" = 4000000000:4000000001 ] || die "32-bit uid/gid refused"

# --- xattrs and ACLs -------------------------------------------------------
mkdir "$D/xattrs"
printf 'has xattrs\n' >"$D/xattrs/file"
# Binary value with NUL bytes, an empty value, a long value, trusted.*.
setfattr -n user.binary -v 0x00ff0001027f80fe00 "$D/xattrs/file" || die "user.* xattrs refused"
setfattr -n user.empty "$D/xattrs/file" || die "empty user.* xattr refused"
setfattr -n user.text -v "plain text value" "$D/xattrs/file"
setfattr -n user.long -v "0s$(head -c 3000 /dev/zero | tr '\0' 'L' | base64 -w0)" "$D/xattrs/file"
setfattr -n trusted.secret -v 0x0001020304 "$D/xattrs/file" || die "trusted.* xattrs refused"
: >"$D/xattrs/empty-with-xattr"
setfattr -n user.only -v 1 "$D/xattrs/empty-with-xattr"
mkdir "$D/xattrs/dir"
setfattr -n user.dirattr -v dirvalue "$D/xattrs/dir"
setfattr -n trusted.dirattr -v 0x00 "$D/xattrs/dir"
ln -s file "$D/xattrs/symlink"
setfattr -h -n trusted.onlink -v linkvalue "$D/xattrs/symlink" || die "trusted.* xattr on symlink refused"
# POSIX ACLs: an access ACL on a file, access + default ACLs on a directory,
# and a file created inside it that inherits the default ACL.
printf 'acl\n' >"$D/xattrs/acl-file"
setfacl -m u:1234:rx,g:5678:r "$D/xattrs/acl-file" || die "POSIX ACLs refused"
mkdir "$D/xattrs/acl-dir"
setfacl -m u:1234:rwx "$D/xattrs/acl-dir"
setfacl -d -m u:1234:rwx,g:5678:rx "$D/xattrs/acl-dir" || die "default ACLs refused"
printf 'inherits\n' >"$D/xattrs/acl-dir/inherited"
mkdir "$D/xattrs/acl-dir/subdir"
getfattr -h -d -m '^system.posix_acl_default$' "$D/xattrs/acl-dir/subdir" 2>/dev/null |
	grep -q posix_acl_default || die "default ACL not inherited"

# --- odd names -------------------------------------------------------------
mkdir "$D/names"
printf 'newline\n' >"$D/names/new"$'\n'"line"
printf 'invalid utf-8\n' >"$D/names/"$'\xff\xfe'
printf 'latin1 e-acute\n' >"$D/names/caf"$'\xe9'
printf 'utf-8\n' >"$D/names/caf"$'\xc3\xa9'
long_name=$(printf 'n%.0s' $(seq 1 255))
printf '255-byte name\n' >"$D/names/$long_name"
printf 'tab\n' >"$D/names/with"$'\t'"tab"
printf 'space\n' >"$D/names/with space"
printf 'dash\n' >"$D/names/-leading-dash"
printf 'colon\n' >"$D/names/a:b"
printf 'backslash\n' >"$D/names/back\\slash"
printf 'dots\n' >"$D/names/..."
printf 'hidden\n' >"$D/names/.hidden"
printf 'escape\n' >"$D/names/esc"$'\x1b'"[0m"
mkdir "$D/names/dir"$'\n'"with newline"
printf 'inside\n' >"$D/names/dir"$'\n'"with newline/f"$'\x01'

# --- sparse file -------------------------------------------------------------
truncate -s 64M "$D/sparse"
printf 'island one' | dd of="$D/sparse" bs=1 seek=$((1 * MiB)) conv=notrunc status=none
printf 'island two' | dd of="$D/sparse" bs=1 seek=$((40 * MiB)) conv=notrunc status=none
blocks=$(stat -c %b "$D/sparse")
[ $((blocks * 512)) -lt $((1 * MiB)) ] || die "file system does not keep sparse files sparse ($blocks blocks)"

# --- times (set last; directories after all their children) ---------------
# Files and symlinks first, each with a distinct ns timestamp.
n=0
while IFS= read -r -d '' p; do
	n=$((n + 1))
	touch -h -d "@$((1700000000 + n)).$(printf '%09d' $((123456789 + n)))" -- "$p"
done < <(find "$D" -mindepth 1 ! -type d -print0)
touch -h -d '@1700000000.123456789' "$D/files/one-byte"
touch -h -d '1960-01-01 00:00:00.5' "$D/files/empty" || die "pre-1970 time refused"
touch -h -d '2200-01-01 00:00:00.999999999' "$D/files/text.txt" || die "far-future time refused"
touch -h -d '1969-12-31 23:59:59.000000001' "$D/links/dangling"
[ "$(stat -c %Y "$D/files/empty")" -lt 0 ] || die "pre-1970 mtime not kept"
[ "$(stat -c %Y "$D/files/text.txt")" -gt 7000000000 ] || die "far-future mtime not kept"

# Directories deepest first, so setting a child's time cannot move a parent's.
n=0
while IFS= read -r -d '' p; do
	n=$((n + 1))
	touch -h -d "@$((1600000000 + n * 1000)).$(printf '%09d' $((987654321 - n)))" -- "$p"
done < <(find "$D" -depth -mindepth 1 -type d -print0)
touch -h -d '1950-06-15 12:00:00.25' "$D/emptydir"
touch -h -d '@1234567890.000000001' "$D"
