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
# Two backups of a small tree (powerloss-lib.sh: a few dozen small files,
# hard links, a symlink, an xattr, a stream): a full one into an empty
# repository (stage 0), then an incremental with changes and a file that
# spans two packs (stage 1). A clean run of each counts its operations;
# then for every kind and every N (torn and powerloss-tmp, variants: every
# third N) the run starts from the same repository and cache (copies) and
# is faulted at N. Then, with the real binaries:
#   - the cache kept: `check` finds nothing, or names the object the fault
#     damaged; every snapshot listed before is listed, at most one more
#     (this run's), and every listed snapshot restores byte-identical to the
#     tree and stream it captured;
#   - the next backup succeeds and reuses what the faulted run stored:
#     the bytes it adds plus those of the packs stored before the fault are
#     at most a full upload (+ 256 KiB);
#   - the cache lost with the machine (a fresh one) over a copy of the
#     store as the fault left it, at the same time as the above: the same
#     check, the same snapshots listed, the next backup as above; every 4th
#     point `check --read-data` and restores of every listed snapshot and
#     of the next backup's.
# The figures (points per kind, faults reached, snapshots committed anyway,
# faults that had to be detected) are printed at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=powerloss-lib.sh
. "$(dirname "$0")/powerloss-lib.sh"

KINDS=${T5003_KINDS:-powerloss short fail torn:3:1 powerloss-tmp:3:2}
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

# powerloss-tmp leaves the put's temporary file (one, unless the Nth
# operation was a delete), which nothing lists.
pl_after_fault() { # WHAT KIND LINE
	local tmps
	[ "$2" = powerloss-tmp ] && [ -n "$3" ] || return 0
	tmps=$(find "$REPO" -name '.tmp.*' | wc -l)
	case $3 in
	*" delete "*) [ "$tmps" = 0 ] || fail "$1: $tmps temporary files after a lost delete" ;;
	*) [ "$tmps" = 1 ] || fail "$1: $tmps temporary files, expected the lost put's one" ;;
	esac
}

pl_run "$KINDS"
