#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Power loss, torn and short writes and failures at every store operation
# of a backup into a local directory, the way SQLite's test6.c crashes at
# every sync. The faulty objstore backend (src/objstore/faulty.c) counts
# the run's mutating operations (put, put_new, upload commit, delete) and,
# at the Nth:
#   powerloss      ends the process at once (exit 99), the Nth lost;
#   powerloss-tmp  the same, after the put's temporary file was written;
#   torn           a prefix of the Nth object becomes visible, then power loss;
#   short          the Nth object is stored truncated and "succeeds";
#   fail           the Nth operation fails with EIO.
# Two backups of a small tree (powerloss-lib.sh: a file spanning two packs,
# a few dozen small files, hard links, a symlink, an xattr, a stream): a
# full one into an empty repository (stage 0), then an incremental with
# changes (stage 1). A clean run of each counts its operations; then for
# every kind and every N (torn and powerloss-tmp: every other N, between
# them all) the run starts from the same repository and cache (copies) and
# is faulted at N. Then, with the real binaries:
#   - the cache kept: `check` finds nothing, or names the object the fault
#     damaged; every snapshot listed before is listed, at most one more
#     (this run's), and every listed snapshot restores byte-identical to the
#     tree and stream it captured;
#   - the next backup succeeds and reuses what the faulted run stored:
#     the bytes it adds plus those of the packs stored before the fault are
#     at most a full upload (+ 256 KiB);
#   - the cache lost with the machine (a fresh one) over the store as the
#     fault left it: the same check, the same snapshots listed, the next
#     backup as above; every 4th point `check --read-data` and restores of
#     every listed snapshot and of the next backup's.
# The figures (points per kind, faults reached, snapshots committed anyway,
# faults that had to be detected) are printed at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=powerloss-lib.sh
. "$(dirname "$0")/powerloss-lib.sh"

KINDS=${T5003_KINDS:-powerloss short fail torn:2:1 powerloss-tmp:2:2}
SRC=$WORK/src
DUMP=$WORK/dump.sql
STREAM=/t5003/dump.sql

# The repository is copied with hard links: objects are only ever replaced
# by rename and removed by unlink, never written in place. The catalog is
# copied (RocksDB appends to its files).
pl_state_save() {
	rm -rf "$1"
	mkdir -p "$1" "$CACHE"
	cp -a "$REPO" "$1/repo"
	cp -a "$CACHE" "$1/cache"
}
pl_state_load() {
	rm -rf "$REPO" "$CACHE"
	cp -al "$1/repo" "$REPO"
	cp -a "$1/cache" "$CACHE"
}
pl_store_mark() {
	rm -rf "$WORK/after"
	cp -al "$REPO" "$WORK/after"
}
pl_store_back() {
	rm -rf "$REPO"
	mv "$WORK/after" "$REPO"
}

pl_make_tree
ok cfs init
pl_state_save "$WORK/base0"
pl_stage 0 "$KINDS"
pl_change_tree
pl_stage 1 "$KINDS"
pl_figures "$KINDS"
