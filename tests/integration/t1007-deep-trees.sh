#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A tree any user can make must not stop a backup (issue 12, finding 9): a
# chain of 10,000 directories with 200-byte names (a path of 2 MB) is backed
# up with at most 64 open files, incrementally too, restores and checks with
# as few, and reads back through the mount level by level.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MKDEEP=$SRCDIR/tests/helpers/mkdeep.py
SRC=$WORK/src
mkdir -p "$SRC"
python3 "$MKDEEP" "$SRC" 10000 200
ok cfs init

# Bounded fds: far fewer than the tree's depth.
limited() { (ulimit -n 64 && "$@"); }
expect_exit 0 limited cfs snapshot create --json "$SRC"
[ "$(json_get "$OUT" .stats.dirs)" -ge 10000 ] || fail "the snapshot holds $(json_get "$OUT" .stats.dirs) directories"
nodes=$(json_get "$OUT" .nodes)
way=$(printf '%s' "$SRC" | tr -cd / | wc -c)
[ "$nodes" = $((10011 + way)) ] ||
	fail "the snapshot holds $nodes entries, expected $((10011 + way)) (10,000 directories, 10 files f, leaf, $way on the way to $SRC)"

# Incremental: nothing changed, nothing read; then a change at the bottom.
expect_exit 0 limited cfs snapshot create --json "$SRC"
[ "$(json_get "$OUT" .stats.bytes_read)" = 0 ] || fail "an unchanged deep tree was read again"
python3 - "$SRC" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
while True:
    subs = [x for x in os.listdir(fd) if x not in ("f", "leaf")]
    if not subs:
        break
    n = os.open(subs[0], os.O_RDONLY, dir_fd=fd); os.close(fd); fd = n
f = os.open("leaf", os.O_WRONLY | os.O_APPEND, dir_fd=fd); os.write(f, b"changed\n")
EOF
expect_exit 0 limited cfs snapshot create --json "$SRC"
[ "$(json_get "$OUT" .stats.files_changed)" = 1 ] || fail "the change at the bottom was not seen once: $(cat "$OUT")"

# Restore, whole and one path at the bottom, with as few fds; check walks it.
python3 "$MKDEEP" "$SRC" describe >"$WORK/src.txt"
expect_exit 0 limited cfs restore latest "$WORK/r"
python3 "$MKDEEP" "$WORK/r$SRC" describe >"$WORK/r.txt"
diff -q "$WORK/src.txt" "$WORK/r.txt" >/dev/null || {
	diff "$WORK/src.txt" "$WORK/r.txt" | head -20 >&2
	fail "the restored deep tree differs from the source"
}
expect_exit 0 limited cfs check --read-data

if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	mount_fs "$WORK/mnt"
	python3 "$MKDEEP" "$WORK/mnt/latest$SRC" describe >"$WORK/mnt.txt"
	diff -q "$WORK/src.txt" "$WORK/mnt.txt" >/dev/null || {
		diff "$WORK/src.txt" "$WORK/mnt.txt" | head -20 >&2
		fail "the mount's deep tree differs from the source"
	}
	umount_fs "$WORK/mnt"
fi
log "ok: a 10,000-level tree with a 2 MB path backs up, restores and checks with 64 fds, and mounts"
