#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A restore stops on SIGTERM, SIGHUP and SIGINT in the middle of a large
# file, exits 1 saying it was interrupted, and leaves neither the partial
# file nor a temporary behind; after kill -9 in the middle of a large file
# nothing is under the file's name and a rerun restores it (issue 12,
# finding 8). Both with the unnamed temporary (O_TMPFILE) and, through the
# fault point restore.tmpfile, with a named one (file systems without
# O_TMPFILE), which kill -9 cannot clean up: only it may be left.
#
# The restore is slowed down with --limit-download so that it is caught
# while it writes the file: the test waits until the process has an open
# file under the target with some bytes in it, then signals it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/d"
rand_file "$SRC/d/big" $((32 * MiB))
printf 'small\n' >"$SRC/d/a-small"

ok cfs init
snap_create "$SRC"

# Is fault injection compiled in? Arm the first put of a harmless run.
run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
faults=0
[ "$RC" -eq 0 ] || faults=1

# wait_partial PID DIR: until PID has a regular file under DIR open with at
# least one byte written (the big file in progress), or PID is gone.
wait_partial() {
	local pid=$1 dir=$2 fd t i
	for ((i = 0; i < 6000; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		for fd in /proc/"$pid"/fd/*; do
			t=$(readlink "$fd" 2>/dev/null) || continue
			case $t in
			"$dir"/*)
				[ "$(stat -L -c %s "$fd" 2>/dev/null || echo 0)" -gt 0 ] && return 0
				;;
			esac
		done
		sleep 0.05
	done
	return 1
}

# What is left under DIR besides directories and the small file.
leftovers() {
	find "$1" ! -type d ! -name a-small -printf '%f\n'
}

n=0
for mode in unnamed named; do
	fault=
	if [ "$mode" = named ]; then
		[ "$faults" = 1 ] || { log "fault injection not compiled in: named temporaries not tested"; break; }
		fault=restore.tmpfile:1
	fi
	for sig in TERM HUP INT; do
		n=$((n + 1))
		T=$WORK/t$n
		CHRONOFS_FAULTS=$fault cfs_bg "r$n" --limit-download 2048 restore latest "$T"
		wait_partial "$BG_PID" "$T$SRC/d" || {
			cat "$WORK/r$n.err" >&2
			fail "$mode/$sig: the restore ended before it was writing the big file"
		}
		kill -"$sig" "$BG_PID"
		wait_rc "$BG_PID"
		[ "$WAIT_RC" = 1 ] || {
			cat "$WORK/r$n.err" >&2
			fail "$mode/SIG$sig: exit status $WAIT_RC, expected 1"
		}
		expect_in "$WORK/r$n.err" interrupted "$mode/SIG$sig: no message says the restore was interrupted"
		[ -z "$(leftovers "$T")" ] || fail "$mode/SIG$sig left behind: $(leftovers "$T")"
	done

	# kill -9 in the middle of the big file, then a rerun.
	n=$((n + 1))
	T=$WORK/t$n
	CHRONOFS_FAULTS=$fault cfs_bg "r$n" --limit-download 2048 restore latest "$T"
	wait_partial "$BG_PID" "$T$SRC/d" || fail "$mode/kill -9: the restore ended before it was writing the big file"
	kill -9 "$BG_PID"
	wait_rc "$BG_PID"
	[ ! -e "$T$SRC/d/big" ] || fail "$mode/kill -9: a partial file is under the final name"
	left=$(leftovers "$T")
	if [ "$mode" = unnamed ]; then
		[ -z "$left" ] || fail "kill -9 left behind: $left"
	else
		# Only the named temporary may be left, and recognisably so.
		[ -z "$(grep -v '^\.chronofs-restore\.' <<<"$left" || true)" ] ||
			fail "kill -9 left behind more than a named temporary: $left"
	fi
	# The rerun restores the big file; the small one is there already.
	expect_exit 1 cfs restore latest "$T"
	expect_in "$ERR" "$SRC/d/a-small"
	expect_in "$ERR" "File exists"
	! grep -qF "$SRC/d/big" "$ERR" || fail "$mode: the rerun complained about the big file: $(cat "$ERR")"
	cmp "$SRC/d/big" "$T$SRC/d/big" || fail "$mode: the rerun restored the big file wrong"
	[ "$(stat -c %a "$T$SRC/d/big")" = "$(stat -c %a "$SRC/d/big")" ] || fail "$mode: mode of the big file"
done

log "ok: signals stop a restore mid-file without leftovers; kill -9 leaves no partial file"
