#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Paths longer than PATH_MAX (4096): 20 nested directories with 250-byte
# names, a file and a symlink at the bottom. Linux allows such trees (only
# each system call's path argument is limited), so backup and restore must
# work relative to directory descriptors, not with full path strings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir "$SRC"
seg=$(printf 'd%.0s' $(seq 1 247))
(
	cd "$SRC"
	for i in $(seq 101 120); do
		mkdir "$seg$i"
		cd "$seg$i"
	done
	printf 'at the bottom\n' >file
	head -c 300000 /dev/urandom >random
	ln -s file link
	[ "$(pwd | wc -c)" -gt 4200 ] || exit 1
) || fail "could not build a tree deeper than PATH_MAX"
printf 'shallow\n' >"$SRC/shallow"
find "$SRC" -depth -mindepth 1 -execdir touch -h -d '@1500000000.5' {} +
touch -d '@1500000001.25' "$SRC"

ok cfs init
snap_create "$SRC"
mkdir "$WORK/t"
ok cfs restore latest "$WORK/t"
assert_same_tree "$SRC" "$WORK/t$SRC"
ok cfs check --read-data

log "ok: paths beyond PATH_MAX round trip"
