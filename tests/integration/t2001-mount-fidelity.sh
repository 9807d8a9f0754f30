#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The mount shows a snapshot exactly as it was captured: the edge-case
# fixture, seen through MNT/<snapshot>/<source path>, equals the source
# (treecmp: type, mode, owner, size, ns mtime, content, symlink target, rdev,
# xattrs and ACLs, link counts and hard-link structure, sparseness);
# `cp -a` out of the mount reproduces the source; readdir's d_ino equals
# st_ino for every entry; the sparse file answers SEEK_DATA/SEEK_HOLE with
# its real data regions and stays sparse when copied.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse

MiB=$((1024 * 1024))
SRC=$WORK/src
make_fixture "$SRC"
# A directory needing many readdir requests: 3000 entries, 100-byte names.
mkdir "$SRC/bigdir"
for i in $(seq -w 1 3000); do
	: >"$SRC/bigdir/$(printf '%096d' 0)$i"
done
touch -d '@1500000000.5' "$SRC/bigdir"
# Offsets beyond 4 GiB: a 6 GiB sparse file with 1 MiB of data at 5 GiB + 12345.
truncate -s 6G "$SRC/huge-sparse"
head -c $((1024 * 1024)) /dev/urandom | dd of="$SRC/huge-sparse" bs=1M seek=$((5 * 1024)) conv=notrunc status=none
dd if=/dev/urandom of="$SRC/huge-sparse" bs=1 seek=$((5 * 1024 * 1024 * 1024 + 12345)) count=100 conv=notrunc status=none
# Many small data islands (4 KiB every 12 KiB): one read request of the
# kernel spans dozens of extents and holes.
truncate -s 6M "$SRC/islands"
for i in $(seq 0 511); do
	printf 'island %04d' "$i" | dd of="$SRC/islands" bs=1 seek=$((i * 12288 + 100)) conv=notrunc status=none
done
touch -d '@1600000000.25' "$SRC/huge-sparse" "$SRC/islands" "$SRC"

ok cfs init
snap_create "$SRC"
name=$SNAP_NAME

MNT=$WORK/mnt
mount_fs "$MNT"
S=$MNT/$name
[ -d "$S" ] || { ls -la "$MNT" >&2; fail "snapshot directory $name is not in the mount root"; }
[ -d "$S$SRC" ] || fail "the source path $SRC is not in the snapshot at $S$SRC"

# Every entry, compared in place.
assert_same_tree "$SRC" "$S$SRC"

# Plain sequential reads of whole files (holes included) agree as well.
for f in files/multi-chunk-9m files/4m-plus-1 files/text.txt sparse hard/y/three-3; do
	cmp -- "$SRC/$f" "$S$SRC/$f" || fail "cat of $f through the mount differs from the source"
done
cmp -- "$SRC/islands" "$S$SRC/islands" || fail "cat of islands (512 data islands) differs from the source"
dd if="$S$SRC/islands" bs=1M iflag=direct 2>/dev/null | cmp - "$SRC/islands" ||
	fail "1 MiB reads of islands (512 data islands) differ from the source"

# cp -a out of the mount is a faithful restore.
cp -a -- "$S$SRC" "$WORK/copy" 2>"$WORK/cp.err" || { cat "$WORK/cp.err" >&2; fail "cp -a out of the mount failed"; }
assert_same_tree "$SRC" "$WORK/copy"

# Sparseness: the mount reports the stored allocation, and the copy is
# sparse too (cp -a decides by st_blocks, then copies with SEEK_DATA).
blocks=$(stat -c %b "$S$SRC/sparse")
[ $((blocks * 512)) -lt $((8 * MiB)) ] ||
	fail "the sparse 64 MiB file reports $blocks blocks in the mount (expected its ~2 data islands)"
blocks=$(stat -c %b "$WORK/copy/sparse")
[ $((blocks * 512)) -lt $((8 * MiB)) ] || fail "cp -a of the sparse file out of the mount is not sparse ($blocks blocks)"
# --sparse=never would write zeros: confirm the data itself is right there.
cmp "$SRC/sparse" "$WORK/copy/sparse" || fail "sparse copy differs"

if ! command -v python3 >/dev/null 2>&1; then
	log "python3 missing: d_ino and SEEK_DATA/SEEK_HOLE checks not run"
	log "ok: snapshot $name matches its source through the mount (partial)"
	exit 0
fi

# readdir d_ino == lstat st_ino for every entry of the mount (the root with
# its snapshot directories and latest, and everything below). os.scandir's
# DirEntry.inode() is d_ino; bytes paths keep odd names intact.
n_src=$(find "$SRC" -mindepth 1 -printf x | wc -c)
python3 - "$MNT" "$n_src" >"$WORK/dino.out" 2>&1 <<'EOF' || { cat "$WORK/dino.out" >&2; fail "readdir d_ino differs from st_ino"; }
import os, sys
root = os.fsencode(sys.argv[1])
n = bad = 0
stack = [root]
while stack:
    d = stack.pop()
    with os.scandir(d) as it:
        for e in it:
            n += 1
            st = os.lstat(e.path)
            if e.inode() != st.st_ino:
                bad += 1
                if bad <= 20:
                    print("%r: d_ino %d st_ino %d" % (e.path, e.inode(), st.st_ino))
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
print("%d entries, %d mismatches" % (n, bad))
if bad or n < int(sys.argv[2]):
    sys.exit(1)
EOF
log "d_ino check: $(tail -n 1 "$WORK/dino.out")"

# SEEK_DATA/SEEK_HOLE on the sparse file: every data region of the source
# lies inside a data region of the mount (data is never hidden), the mount
# reports real holes (little data in all), SEEK_DATA past the last island
# is ENXIO and SEEK_HOLE from the last island finds the end or a hole.
python3 - "$SRC/sparse" "$S$SRC/sparse" >"$WORK/seek.out" 2>&1 <<'EOF' || { cat "$WORK/seek.out" >&2; fail "SEEK_DATA/SEEK_HOLE on the mount is wrong"; }
import errno, os, sys

def regions(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    out = []
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        if h <= d:
            sys.exit("%s: SEEK_HOLE from %d returned %d" % (path, d, h))
        out.append((d, h))
        off = h
    os.close(fd)
    return size, out

ssize, src = regions(sys.argv[1])
msize, mnt = regions(sys.argv[2])
print("source regions:", src)
print("mount regions: ", mnt)
if msize != ssize:
    sys.exit("size %d != %d" % (msize, ssize))
for (a, b) in src:
    if not any(c <= a and b <= d for (c, d) in mnt):
        sys.exit("source data region [%d, %d) is not data in the mount" % (a, b))
total = sum(d - c for (c, d) in mnt)
if total >= 16 * 1024 * 1024:
    sys.exit("mount reports %d bytes of data in a 64 MiB file with two 10-byte islands" % total)
if len(mnt) < 2:
    sys.exit("mount reports no hole between the islands at 1 MiB and 40 MiB")
fd = os.open(sys.argv[2], os.O_RDONLY)
if os.lseek(fd, 0, os.SEEK_DATA) > 1024 * 1024:
    sys.exit("SEEK_DATA from 0 skips the island at 1 MiB")
try:
    r = os.lseek(fd, mnt[-1][1], os.SEEK_DATA)
    if r < msize:
        sys.exit("SEEK_DATA after the last data region returned %d" % r)
except OSError as e:
    if e.errno != errno.ENXIO:
        raise
try:
    os.lseek(fd, msize + 4096, os.SEEK_DATA)
    sys.exit("SEEK_DATA beyond EOF did not fail")
except OSError as e:
    if e.errno != errno.ENXIO:
        sys.exit("SEEK_DATA beyond EOF: %s, expected ENXIO" % e)
os.close(fd)
EOF
log "seek: $(grep 'mount regions' "$WORK/seek.out")"

# Reads at random offsets and lengths (across chunk boundaries, at and past
# EOF), each with a cold page cache, return exactly the source's bytes.
python3 - "$SRC/files/multi-chunk-9m" "$S$SRC/files/multi-chunk-9m" \
	"$SRC/files/4m-plus-1" "$S$SRC/files/4m-plus-1" \
	"$SRC/huge-sparse" "$S$SRC/huge-sparse" >"$WORK/pread.out" 2>&1 <<'EOF' || { cat "$WORK/pread.out" >&2; fail "pread through the mount returned wrong bytes"; }
import os, random, sys
rng = random.Random(20261125)
args = sys.argv[1:]
for src, mnt in zip(args[0::2], args[1::2]):
    a = os.open(src, os.O_RDONLY)
    b = os.open(mnt, os.O_RDONLY)
    size = os.fstat(a).st_size
    cases = [(0, 1), (size - 1, 1), (size - 1, 4096), (size, 10), (size + 12345, 10)]
    for k in range(300):
        # Around the data of huge-sparse as well as anywhere.
        if size > (1 << 32) and k % 2:
            off = rng.randrange((5 << 30) - (1 << 20), (5 << 30) + (2 << 20))
        else:
            off = rng.randrange(0, size)
        n = rng.choice([1, 7, 4095, 4096, 65537, 300000, 1 << 20, 3 << 20])
        cases.append((off, n))
    for off, n in cases:
        x = os.pread(a, n, off)
        # Drop the mount's page cache, so that the daemon serves each read.
        os.posix_fadvise(b, 0, 0, os.POSIX_FADV_DONTNEED)
        y = os.pread(b, n, off)
        if x != y:
            sys.exit("%s: pread(%d, off %d): %d bytes differ from the source's %d" % (mnt, n, off, len(y), len(x)))
    os.close(a)
    os.close(b)
print("ok")
EOF

umount_fs "$MNT"
[ "$FS_RC" = 0 ] || { cat "$FS_LOG" >&2; fail "chronofs exited $FS_RC after fusermount3 -u"; }

log "ok: snapshot $name matches its source through the mount"
