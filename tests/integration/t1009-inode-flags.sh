#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Inode flags (chattr) are stored and restored, as borg does: immutable and
# append-only (set last, after the data, the times and the other names of a
# hard-linked file), nodump and no-atime on files and directories; and
# --exclude-nodump leaves out what carries nodump, directories with all
# below them (issue 12, "hostile source trees").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v chattr >/dev/null && command -v lsattr >/dev/null || skip "chattr/lsattr missing (e2fsprogs)"
SRC=$WORK/src
mkdir -p "$SRC/dir" "$SRC/nd"
at_exit 'chattr -R -i -a "$WORK" 2>/dev/null'
printf 'immutable\n' >"$SRC/imm"
chattr +i "$SRC/imm" 2>/dev/null || skip "the file system under $WORK has no inode flags"
printf 'append only\n' >"$SRC/app"
chattr +a "$SRC/app"
printf 'not dumped\n' >"$SRC/nodump"
chattr +d "$SRC/nodump"
printf 'in a nodump directory\n' >"$SRC/nd/f"
chattr +d "$SRC/nd"
printf 'plain\n' >"$SRC/dir/plain"
chattr +A "$SRC/dir"
ln "$SRC/app" "$SRC/dir/app-link" 2>/dev/null || true # append-only files cannot get new names
printf 'linked\n' >"$SRC/dir/hl"
ln "$SRC/dir/hl" "$SRC/hl2"
chattr +i "$SRC/dir/hl"

# The chattr letters of PATH that a snapshot keeps.
letters() {
	lsattr -d "$1" | awk '{print $1}' | tr -cd 'iadAScmDTCP'
}

ok cfs init
ok cfs snapshot create "$SRC"
ok cfs restore latest "$WORK/r1"
for p in imm app nodump nd dir dir/plain dir/hl hl2; do
	[ "$(letters "$WORK/r1$SRC/$p")" = "$(letters "$SRC/$p")" ] ||
		fail "$p restored with flags '$(letters "$WORK/r1$SRC/$p")', the source has '$(letters "$SRC/$p")'"
done
cmp "$SRC/imm" "$WORK/r1$SRC/imm" || fail "immutable file's contents"
[ "$(stat -c %i "$WORK/r1$SRC/dir/hl")" = "$(stat -c %i "$WORK/r1$SRC/hl2")" ] ||
	fail "an immutable hard-linked file lost its second name"
[ "$(stat -c %Y "$WORK/r1$SRC/imm")" = "$(stat -c %Y "$SRC/imm")" ] || fail "immutable file's mtime not restored"

# --exclude-nodump: the file and the directory go, the rest stays.
ok cfs snapshot create --exclude-nodump "$SRC"
ok cfs restore latest "$WORK/r2"
[ ! -e "$WORK/r2$SRC/nodump" ] || fail "--exclude-nodump kept a nodump file"
[ ! -e "$WORK/r2$SRC/nd" ] || fail "--exclude-nodump kept a nodump directory"
[ -e "$WORK/r2$SRC/imm" ] && [ -e "$WORK/r2$SRC/dir/plain" ] || fail "--exclude-nodump left out more"
# An incremental one takes the flag from the parent's entry, unchanged file.
ok cfs snapshot create --exclude-nodump "$SRC"
ok cfs restore latest "$WORK/r3"
[ ! -e "$WORK/r3$SRC/nodump" ] || fail "an incremental --exclude-nodump kept a nodump file"

# A repository of format 2 (older readers know trees of version 1 only):
# the flags are not stored, and said so, until `chronoctl upgrade`.
REPO=$WORK/repo2
CACHE=$WORK/cache2
ok cfs init
printf '\x02\x00\x00\x00' | dd of="$REPO/config" bs=1 seek=8 conv=notrunc status=none
ok cfs snapshot create "$SRC"
expect_in "$ERR" "cannot hold"
ok cfs restore latest "$WORK/r4"
[ -z "$(letters "$WORK/r4$SRC/imm")" ] || fail "a format 2 repository holds inode flags"
ok cfs upgrade
expect_in "$OUT" "from format version 2 to 3"
ok cfs upgrade
expect_in "$OUT" "already has format version 3"
ok cfs snapshot create "$SRC"
ok cfs restore latest "$WORK/r5"
[ "$(letters "$WORK/r5$SRC/imm")" = i ] || fail "after upgrade, the flags are still not stored"
cmp "$SRC/imm" "$WORK/r4$SRC/imm" || fail "a file of the format 2 snapshot"
log "ok: inode flags stored and restored; --exclude-nodump; format 2 and upgrade"
