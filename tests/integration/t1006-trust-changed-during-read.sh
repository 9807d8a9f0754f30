#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What a snapshot records for a file is its state from before its bytes were
# read (issue 12, findings 1, 2 and 5):
#  1. a small file (read ahead through io_uring) rewritten in place, same
#     size, right after it was read: the next incremental snapshot reads it
#     again, and latest restores the new bytes;
#  2. a hard-link group rewritten after its first name was read and before
#     its second is reached: one content per group in every snapshot, and the
#     next incremental one holds the new content under both names, however
#     it is restored (whole, one directory, the mount);
#  3. a file truncated while it is read is stored with the bytes read (no
#     tail of zeros); pseudo-files of /proc (size 0) and /sys (size 4096) are
#     stored with what reading them gives.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${ONACCESS:-}" ] && [ -x "$ONACCESS" ] || fail "ONACCESS is not set (path to the onaccess helper)"

# onaccess FILE ACTION: start the helper, wait until its watch is in place.
# Sets HELPER (tracked).
onaccess() {
	local ready=$WORK/ready.$RANDOM
	"$ONACCESS" "$1" "$2" "$ready" >"$WORK/onaccess.log" 2>&1 &
	HELPER=$!
	track_pid "$HELPER"
	for _ in $(seq 1 100); do
		[ -e "$ready" ] && return 0
		sleep 0.05
	done
	fail "onaccess did not start: $(cat "$WORK/onaccess.log")"
}

# The helper acted (exit 0), whatever the backup saw of it.
helper_done() {
	wait_rc "$HELPER"
	[ "$WAIT_RC" = 0 ] || fail "onaccess exited $WAIT_RC: $(cat "$WORK/onaccess.log")"
}

ok cfs init

# --- 1. a small file rewritten right after it was read ----------------------
S1=$WORK/s1
mkdir -p "$S1"
for i in $(seq -w 1 250); do head -c 8192 /dev/urandom >"$S1/f$i"; done
printf 'OLD-CONTENT-%04084d' 0 >"$S1/zz"
touch -d '2020-01-01' "$S1"/*
sleep 0.2 # older than the snapshot by more than the racy window
onaccess "$S1/zz" "rewrite:NEW-CONTENT-$(printf '%04084d' 0)"
run cfs snapshot create "$S1"
[ "$RC" = 0 ] || [ "$RC" = 3 ] || { _lib_show_output; fail "snapshot create exited $RC"; }
helper_done
grep -q '^NEW-CONTENT' "$S1/zz" || fail "the helper did not rewrite zz"
ok cfs snapshot create "$S1"
ok cfs restore "latest:$S1/zz" "$WORK/r1"
cmp "$S1/zz" "$WORK/r1$S1/zz" ||
	fail "latest holds zz as it was before the rewrite, although the disk has new bytes (stale content recorded as unchanged)"

# --- 2. a hard-link group rewritten between its two names --------------------
S2=$WORK/s2
mkdir -p "$S2/a" "$S2/m" "$S2/z"
printf 'OLD-LINK-%04087d' 0 >"$S2/a/x"
ln "$S2/a/x" "$S2/z/x"
# Files between the two names, so that the second is reached well after the
# first was read.
for i in $(seq -w 1 200); do head -c 16384 /dev/urandom >"$S2/m/f$i"; done
touch -d '2020-01-01' "$S2/a/x" "$S2"/m/*
sleep 0.2
onaccess "$S2/a/x" "rewrite:NEW-LINK-$(printf '%04087d' 0)"
run cfs snapshot create "$S2"
[ "$RC" = 0 ] || [ "$RC" = 3 ] || { _lib_show_output; fail "snapshot create exited $RC"; }
helper_done
# Whatever the first snapshot holds, both names hold the same.
ok cfs restore latest "$WORK/r2a"
cmp "$WORK/r2a$S2/a/x" "$WORK/r2a$S2/z/x" || fail "the first snapshot holds two contents for one hard-link group"
ok cfs snapshot create "$S2"
ok cfs restore latest "$WORK/r2"
cmp "$S2/a/x" "$WORK/r2$S2/a/x" || fail "latest: a/x is stale"
cmp "$S2/z/x" "$WORK/r2$S2/z/x" || fail "latest: z/x is stale"
[ "$(stat -c %i "$WORK/r2$S2/a/x")" = "$(stat -c %i "$WORK/r2$S2/z/x")" ] || fail "a/x and z/x restored unlinked"
ok cfs restore "latest:$S2/z" "$WORK/r2z"
cmp "$S2/z/x" "$WORK/r2z$S2/z/x" || fail "latest:$S2/z holds a stale z/x"
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	mount_fs "$WORK/mnt"
	cmp "$S2/z/x" "$WORK/mnt/latest$S2/z/x" || fail "the mount holds a stale z/x"
	cmp "$S2/a/x" "$WORK/mnt/latest$S2/a/x" || fail "the mount holds a stale a/x"
	umount_fs "$WORK/mnt"
fi

# --- 3. a file that shrinks while it is read; pseudo-files ------------------
S3=$WORK/s3
mkdir -p "$S3"
rand_file "$S3/big" $((48 * 1024 * 1024))
cp "$S3/big" "$WORK/big.orig"
onaccess "$S3/big" "truncate:$((12 * 1024 * 1024))"
expect_exit 3 cfs snapshot create "$S3"
helper_done
expect_in "$ERR" "$S3/big"
ok cfs restore latest "$WORK/r3"
size=$(stat -c %s "$WORK/r3$S3/big")
[ "$size" -lt $((48 * 1024 * 1024)) ] || fail "the shrunk file restores with its old size ($size bytes): a tail of zeros"
cmp -n "$size" "$WORK/big.orig" "$WORK/r3$S3/big" || fail "the shrunk file's bytes differ from what it held"
[ "$(stat -c %b "$WORK/r3$S3/big")" -ge $((size / 512)) ] || fail "the shrunk file restores with holes"

pseudo=(/proc/sys/kernel/ostype /proc/sys/kernel/osrelease)
[ -r /sys/devices/virtual/net/lo/mtu ] && pseudo+=(/sys/devices/virtual/net/lo/mtu)
# Their inodes are made when looked up, with the time then as their times:
# one evicted and made again during the backup looks changed (exit 3).
run cfs snapshot create "${pseudo[@]}"
[ "$RC" = 0 ] || [ "$RC" = 3 ] || { _lib_show_output; fail "snapshot create of pseudo-files exited $RC"; }
ok cfs restore latest "$WORK/r4"
for f in "${pseudo[@]}"; do
	cmp "$f" "$WORK/r4$f" || fail "$f restores as $(od -c "$WORK/r4$f" | head -3), not as it reads"
done
log "ok: metadata from before the read, one content per link group, bytes read of shrinking and pseudo-files"
