#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkdeep DIR DEPTH NAMELEN [describe]

Build a chain of DEPTH nested directories under DIR, each named NAMELEN
bytes (a level number padded with 'd'), with a file "leaf" at the bottom
holding the depth, and a file "f" in every 1000th level. Works with
directory fds, so the total path length (DEPTH * NAMELEN, far over
PATH_MAX) does not matter.

With "describe", build nothing: print one line per directory level of an
existing chain under DIR ("<level> <mode> <names>" plus the leaf's
contents), so two chains can be compared with diff.
"""
import os
import sys


def name(level, namelen):
    s = "%d" % level
    return (s + "d" * namelen)[:namelen]


def build(root, depth, namelen):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        n = name(level, namelen)
        os.mkdir(n, 0o755, dir_fd=fd)
        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        if level % 1000 == 999:
            f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, b"level %d\n" % level)
            os.close(f)
    f = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
    os.write(f, b"depth %d\n" % depth)
    os.close(f)
    os.close(fd)


def describe(root):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    level = 0
    out = sys.stdout
    while True:
        names = sorted(os.listdir(fd))
        st = os.fstat(fd)
        out.write("%d %o %s\n" % (level, st.st_mode, " ".join(x[:12] for x in names)))
        for x in names:
            if x in ("f", "leaf"):
                f = os.open(x, os.O_RDONLY, dir_fd=fd)
                out.write("  %s: %r\n" % (x, os.read(f, 100)))
                os.close(f)
        subdirs = [x for x in names if x not in ("f", "leaf")]
        if not subdirs:
            break
        nfd = os.open(subdirs[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        level += 1
    os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2] == "describe":
        describe(sys.argv[1])
    elif len(sys.argv) == 4:
        build(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
