#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The comparator must be able to fail: for each attribute a restore has to
# reproduce, damage it in a copy of the fixture and require treecmp to exit 1
# and name the path and the attribute. Does not need chronoctl.
set -euo pipefail
LIB_NEEDS_CHRONOCTL=0
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
make_fixture "$SRC"

# An untouched copy is identical (cp -a keeps xattrs, ACLs, hard links).
cp -a "$SRC" "$WORK/copy"
assert_same_tree "$SRC" "$WORK/copy"
# Same with the fully specified option and a trailing slash.
assert_same_tree "$SRC/" "$WORK/copy/" --no-ino-check
rm -rf "$WORK/copy"

n_cases=0

# expect_diff NAME PATTERN: copy the fixture to $B, run the mutation
# function mut_NAME in it, then require treecmp to report PATTERN (ERE).
expect_diff() {
	local name=$1 pattern=$2 rc=0
	B=$WORK/b-$name
	cp -a "$SRC" "$B"
	"mut_$name"
	"$TREECMP" "$SRC" "$B" >"$WORK/report" 2>&1 || rc=$?
	if [ "$rc" -ne 1 ]; then
		cat "$WORK/report" >&2
		fail "case $name: treecmp exit $rc, expected 1"
	fi
	if ! grep -qE -- "$pattern" "$WORK/report"; then
		cat "$WORK/report" >&2
		fail "case $name: report does not match /$pattern/"
	fi
	rm -rf "$B"
	n_cases=$((n_cases + 1))
}

mut_mode() { chmod 0640 "$B/files/one-byte"; }
expect_diff mode '^\./files/one-byte: mode: A=0644 B=0640$'

mut_setuid() { chmod u-s "$B/modes/file-4755"; }
expect_diff setuid '^\./modes/file-4755: mode: A=4755 B=0755$'

mut_uid() { chown -h 1235 "$B/modes/symlink-owned"; }
expect_diff uid '^\./modes/symlink-owned: uid: A=1234 B=1235$'

mut_gid() { chgrp 1 "$B/modes/dir-2755"; chmod 2755 "$B/modes/dir-2755"; touch -r "$SRC/modes/dir-2755" "$B/modes/dir-2755"; }
expect_diff gid '^\./modes/dir-2755: gid: A=5678 B=1$'

mut_mtime_ns() { touch -h -d '@1700000000.123456788' "$B/files/one-byte"; }
expect_diff mtime_ns '^\./files/one-byte: mtime: A=1700000000\.123456789 B=1700000000\.123456788$'

mut_dir_mtime() { touch -d '@1600000000.5' "$B/emptydir"; }
expect_diff dir_mtime '^\./emptydir: mtime: '

mut_root_mtime() { touch -d '@1600000000.5' "$B"; }
expect_diff root_mtime '^\.: mtime: A=1234567890\.000000001 '

mut_symlink_mtime() { touch -h -d '@1' "$B/links/dangling"; }
expect_diff symlink_mtime '^\./links/dangling: mtime: A=-1\.000000001 B=1\.000000000$'

mut_pre1970() { touch -h -d '1960-01-01 00:00:00.6' "$B/files/empty"; }
expect_diff pre1970 '^\./files/empty: mtime: A=-315619200\.500000000 B=-315619200\.600000000$'

mut_content() {
	local t
	t=$(stat -c %y "$B/files/4m")
	printf '\x55' | dd of="$B/files/4m" bs=1 seek=3000000 conv=notrunc status=none
	# Make sure the byte really changed; the mtime is restored so that only
	# the content differs.
	cmp -s "$SRC/files/4m" "$B/files/4m" && printf '\xaa' | dd of="$B/files/4m" bs=1 seek=3000000 conv=notrunc status=none
	touch -d "$t" "$B/files/4m"
}
expect_diff content '^\./files/4m: content \(first differing byte\): A=0x[0-9a-f]{2}@3000000 B=0x[0-9a-f]{2}@3000000$'

mut_size() { local t; t=$(stat -c %y "$B/files/one-byte"); printf 'xy' >"$B/files/one-byte"; touch -d "$t" "$B/files/one-byte"; }
expect_diff size '^\./files/one-byte: size: A=1 B=2$'

mut_symlink() { rm "$B/links/relative"; ln -s ../files/one-bytE "$B/links/relative"; touch -h -r "$SRC/links/relative" "$B/links/relative"; touch -r "$SRC/links" "$B/links"; }
expect_diff symlink '^\./links/relative: symlink target: A=\.\./files/one-byte B=\.\./files/one-bytE$'

mut_rdev() { rm "$B/special/chardev"; mknod "$B/special/chardev" c 1 5; touch -r "$SRC/special/chardev" "$B/special/chardev"; touch -r "$SRC/special" "$B/special"; }
expect_diff rdev '^\./special/chardev: rdev: A=1:3 B=1:5$'

mut_type() { rm "$B/special/fifo"; : >"$B/special/fifo"; touch -r "$SRC/special" "$B/special"; }
expect_diff type '^\./special/fifo: type: A=fifo B=file$'

mut_xattr_value() { setfattr -n user.binary -v 0x00ff0001027f80fe01 "$B/xattrs/file"; }
expect_diff xattr_value '^\./xattrs/file: xattr user\.binary: A=\\x00\\xff\\x00\\x01\\x02\\x7f\\x80\\xfe\\x00 B=.*\\x01$'

mut_xattr_missing() { setfattr -x user.empty "$B/xattrs/file"; }
expect_diff xattr_missing '^\./xattrs/file: xattr user\.empty: A=present B=missing$'

mut_xattr_extra() { setfattr -n trusted.extra -v 1 "$B/xattrs/dir"; }
expect_diff xattr_extra '^\./xattrs/dir: xattr trusted\.extra: A=missing B=present$'

mut_xattr_symlink() { setfattr -h -n trusted.onlink -v other "$B/xattrs/symlink"; }
expect_diff xattr_symlink '^\./xattrs/symlink: xattr trusted\.onlink: A=linkvalue B=other$'

mut_acl() { setfacl -m u:1234:r "$B/xattrs/acl-file"; }
expect_diff acl '^\./xattrs/acl-file: xattr system\.posix_acl_access: '

mut_default_acl() { setfacl -k "$B/xattrs/acl-dir"; }
expect_diff default_acl '^\./xattrs/acl-dir: xattr system\.posix_acl_default: A=present B=missing$'

# Hard-link structure with equal link counts: A has {p1,p2} and {q1,q2};
# B has {p1,q1} and {p2,q2}. Only the pairing check can see this.
mkdir "$WORK/hl-a" "$WORK/hl-b"
for d in hl-a hl-b; do
	printf 'same\n' >"$WORK/$d/p1"
	printf 'same\n' >"$WORK/$d/p2"
	touch -d '@1000' "$WORK/$d/p1" "$WORK/$d/p2"
done
ln "$WORK/hl-a/p1" "$WORK/hl-a/q1"
ln "$WORK/hl-a/p2" "$WORK/hl-a/q2"
ln "$WORK/hl-b/p1" "$WORK/hl-b/q2"
ln "$WORK/hl-b/p2" "$WORK/hl-b/q1"
touch -d '@2000' "$WORK/hl-a" "$WORK/hl-b"
rc=0
"$TREECMP" "$WORK/hl-a" "$WORK/hl-b" >"$WORK/report" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$WORK/report" >&2; fail "swapped hard links: treecmp exit $rc, expected 1"; }
grep -qE '^\./q1: hard link: A=linked to \./p1 B=not linked to \./p1$' "$WORK/report" ||
	{ cat "$WORK/report" >&2; fail "swapped hard links not reported"; }
rc=0
"$TREECMP" --no-ino-check "$WORK/hl-a" "$WORK/hl-b" >"$WORK/report" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/report" >&2; fail "--no-ino-check still checks hard links"; }
n_cases=$((n_cases + 1))

mut_hardlink_broken() {
	local t
	t=$(stat -c %y "$B/hard/y")
	cp -p "$B/hard/y/three-3" "$B/hard/y/tmp"
	mv "$B/hard/y/tmp" "$B/hard/y/three-3"
	touch -d "$t" "$B/hard/y"
}
expect_diff hardlink_broken '^\./hard/x/three-1: nlink: A=3 B=2$'

mut_sparse_filled() {
	cp -p --sparse=never "$B/sparse" "$B/sparse.tmp"
	mv "$B/sparse.tmp" "$B/sparse"
	touch -r "$SRC" "$B"
}
expect_diff sparse_filled '^\./sparse: sparseness: A=[0-9]+ bytes allocated B=[0-9]+ bytes allocated$'

# A byte written into what is a hole in A: B stays sparse and the same size;
# only region-by-region comparison that reads B's data finds it.
mut_sparse_island() {
	printf 'Z' | dd of="$B/sparse" bs=1 seek=$((30 * 1024 * 1024)) conv=notrunc status=none
	touch -r "$SRC/sparse" "$B/sparse"
}
expect_diff sparse_island '^\./sparse: content \(first differing byte\): A=0x00@31457280 B=0x5a@31457280$'

mut_missing() { rm "$B/names/"$'\xff\xfe'; touch -r "$SRC/names" "$B/names"; }
expect_diff missing '^\./names/\\xff\\xfe: exists: A=file B=missing$'

mut_extra() { printf 'x' >"$B/names/extra"$'\n'"name"; touch -r "$SRC/names" "$B/names"; }
expect_diff extra '^\./names/extra\\x0aname: exists: A=missing B=file$'

mut_deep() { printf 'DEEP\n' >"$B/nested/a/b/c/d/e/f/g/h/deep.txt"; touch -r "$SRC/nested/a/b/c/d/e/f/g/h/deep.txt" "$B/nested/a/b/c/d/e/f/g/h/deep.txt"; }
expect_diff deep '^\./nested/a/b/c/d/e/f/g/h/deep\.txt: content'

# Every difference is reported, not only the first.
mut_several() { chmod 0600 "$B/files/256k"; chmod 0600 "$B/many/f7"; chown 7 "$B/names/a:b"; }
expect_diff several '^\./names/a:b: uid: A=0 B=7$'
grep -c "^\./" "$WORK/report" | grep -qx 3 || { cat "$WORK/report" >&2; fail "case several: expected 3 report lines"; }

# Single files can be compared too (restores of one path).
assert_same_tree "$SRC/files/text.txt" "$SRC/files/text.txt"

# A 6 GiB sparse file pair (compared through SEEK_DATA, not by reading holes).
truncate -s 6G "$WORK/big-a"
printf 'data' | dd of="$WORK/big-a" bs=1 seek=$((3 * 1024 * 1024 * 1024)) conv=notrunc status=none
cp -p --sparse=always "$WORK/big-a" "$WORK/big-b"
assert_same_tree "$WORK/big-a" "$WORK/big-b"
printf 'dat4' | dd of="$WORK/big-b" bs=1 seek=$((3 * 1024 * 1024 * 1024)) conv=notrunc status=none
touch -r "$WORK/big-a" "$WORK/big-b"
rc=0
"$TREECMP" "$WORK/big-a" "$WORK/big-b" >"$WORK/report" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -qE '^\.: content \(first differing byte\): A=0x61@3221225475 B=0x34@3221225475$' "$WORK/report" ||
	{ cat "$WORK/report" >&2; fail "difference in a 6 GiB sparse file not found (exit $rc)"; }

log "ok: $n_cases mutation cases detected"
