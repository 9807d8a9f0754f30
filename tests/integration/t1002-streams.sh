#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Stream sources (database dumps): --stream PATH=COMMAND and --stdin-path
# round-trip byte for byte, through restore and through the mount; the
# file is 0600, owned by the backup user, with made-up parent directories;
# a command that fails (exit status, signal) fails the snapshot with its
# stderr in the message and leaves no snapshot; a command that writes a lot
# to stderr does not block; stream paths may not collide with source paths.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC"
printf 'a file\n' >"$SRC/f"
# 20 MiB: several chunks; half of it compressible text.
rand_file "$WORK/dump.bin" $((10 * MiB))
seq 1 1500000 >>"$WORK/dump.bin"
rand_file "$WORK/stdin.bin" $((3 * MiB + 17))

ok cfs init
run cfs snapshot create --json --stdin-path /db/stdin.bin \
	--stream "/db/app.sql=cat $WORK/dump.bin" --stream "/var/empty.sql=true" "$SRC" <"$WORK/stdin.bin"
[ "$RC" = 0 ] || { _lib_show_output; fail "snapshot with streams failed (exit $RC)"; }
cp "$OUT" "$WORK/snap.json"
s1=$(json_get "$WORK/snap.json" .id)
name=$(json_get "$WORK/snap.json" .name)
[ "$(json_get "$WORK/snap.json" '.paths|length')" = 4 ] || fail "manifest paths should list the source and the three streams"

mkdir "$WORK/r"
ok cfs restore "$s1" "$WORK/r"
cmp "$WORK/dump.bin" "$WORK/r/db/app.sql" || fail "stream /db/app.sql does not round-trip"
cmp "$WORK/stdin.bin" "$WORK/r/db/stdin.bin" || fail "--stdin-path does not round-trip"
[ -f "$WORK/r/var/empty.sql" ] && [ ! -s "$WORK/r/var/empty.sql" ] || fail "an empty stream is not an empty file"
[ "$(stat -c '%a %u' "$WORK/r/db/app.sql")" = "600 $(id -u)" ] || fail "stream file mode/owner: $(stat -c '%a %u' "$WORK/r/db/app.sql")"
[ "$(stat -c '%a' "$WORK/r/db")" = 755 ] || fail "made-up parent directory mode $(stat -c %a "$WORK/r/db")"
assert_same_tree "$SRC" "$WORK/r$SRC"

if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null && [ -x "${CHRONOFS:-}" ]; then
	MNT=$WORK/mnt
	mount_fs "$MNT"
	cmp "$WORK/dump.bin" "$MNT/$name/db/app.sql" || fail "stream differs through the mount"
	cmp "$WORK/stdin.bin" "$MNT/$name/db/stdin.bin" || fail "stdin stream differs through the mount"
	umount_fs "$MNT"
fi

# A second run of the same dump stores almost nothing (dedup), and its
# incremental parent is the first (same source set).
ok cfs snapshot create --json --stdin-path /db/stdin.bin --stream "/db/app.sql=cat $WORK/dump.bin" \
	--stream "/var/empty.sql=true" "$SRC" <"$WORK/stdin.bin"
[ "$(json_get "$OUT" .parent)" = "$s1" ] || fail "same source set with streams: parent $(json_get "$OUT" .parent)"
[ "$(json_get "$OUT" .stats.bytes_added)" -lt 65536 ] || fail "identical dump added $(json_get "$OUT" .stats.bytes_added) bytes"

# Failures: exit status, signal; nothing committed either way.
n=$(snap_count)
expect_exit 1 cfs snapshot create --stream "/db/x.sql=cat $WORK/dump.bin; echo 'pg_dump: error: connection to server failed' >&2; exit 3" "$SRC"
expect_in "$ERR" "exited with status 3"
expect_in "$ERR" "connection to server failed"
expect_in "$ERR" "nothing was committed"
expect_exit 1 cfs snapshot create --stream '/db/y.sql=head -c 100000 /dev/zero; kill -9 $$' "$SRC"
expect_in "$ERR" "killed by signal 9"
[ "$(snap_count)" = "$n" ] || fail "a failed stream left a snapshot behind"

# Lots of stderr while streaming: no deadlock, success.
# (2 MB to stderr: far more than a pipe holds.)
ok cfs snapshot create --json --stream "/db/noisy.sql=for i in \$(seq 1 20); do head -c 100000 /dev/zero >&2; echo line \$i; done" "$SRC"
[ "$(json_get "$OUT" .stats.files_new)" -ge 1 ] || fail "the noisy stream was not stored"

# Collisions and bad paths are refused before anything is written.
expect_exit 1 cfs snapshot create --stream "$SRC/f=true" "$SRC"
expect_exit 1 cfs snapshot create --stream "/db/a=true" --stream "/db/a=true"
expect_exit 1 cfs snapshot create --stream "relative=true"
expect_exit 1 cfs snapshot create --stream "/db/a"
[ "$(snap_count)" = "$((n + 1))" ] || fail "refused snapshots changed the snapshot count"

ok cfs check --read-data
log "ok: stream sources"
