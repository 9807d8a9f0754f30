#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A file that changes while it is being read is detected (size, mtime or
# ctime differ before and after the read), named on stderr, stored with the
# bytes read, and the run exits 3 with the snapshot committed. A background
# writer appends to the file for the whole run, so the before/after stats
# cannot match.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC"
rand_file "$SRC/growing.log" $((64 * MiB))
printf 'steady\n' >"$SRC/steady.txt"
ok cfs init

# The appender stops by itself after 120 s at most (and is killed by PID).
(
	end=$((SECONDS + 120))
	while [ "$SECONDS" -lt "$end" ]; do
		printf 'appended line\n' >>"$SRC/growing.log"
	done
) &
track_pid $!
appender=$!
sleep 0.2

expect_exit 3 cfs snapshot create "$SRC"
kill "$appender" 2>/dev/null || true
wait_rc "$appender"
expect_in "$ERR" "$SRC/growing.log"
expect_in "$ERR" "changed while"
[ "$(snap_count)" -eq 1 ] || fail "the snapshot was not committed"

# The file is in the snapshot, with at least the bytes it had at the start.
ok cfs restore latest "$WORK/r"
restored=$(stat -c %s "$WORK/r$SRC/growing.log")
[ "$restored" -ge $((64 * MiB)) ] || fail "restored growing.log has $restored bytes"
cmp -n $((64 * MiB)) "$SRC/growing.log" "$WORK/r$SRC/growing.log" || fail "restored growing.log differs in its first 64 MiB"
cmp "$SRC/steady.txt" "$WORK/r$SRC/steady.txt" || fail "steady.txt differs"
ok cfs check --read-data
log "ok: a file changing while read is reported, stored, and exit 3"
