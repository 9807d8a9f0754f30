#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Exclusions users expect: --exclude by name, by absolute path and by
# trailing path; --exclude-file with comments; --exclude-caches (a valid
# CACHEDIR.TAG keeps the tag and drops the rest; an invalid one is ignored);
# --one-file-system (a mount below the source is stored as an empty
# directory). Progress: a live line on a terminal only; --quiet prints no
# summary; --json prints the final stats.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/keep/sub" "$SRC/build/obj" "$SRC/node_modules/x" "$SRC/logs" "$SRC/c1" "$SRC/c2" "$SRC/mnt"
printf 'keep\n' >"$SRC/keep/a.txt"
printf 'tmp\n' >"$SRC/keep/a.tmp"
printf 'tmp\n' >"$SRC/keep/sub/b.tmp"
printf 'o\n' >"$SRC/build/obj/x.o"
printf 'c\n' >"$SRC/build/x.c"
printf 'js\n' >"$SRC/node_modules/x/i.js"
printf 'log\n' >"$SRC/logs/app.log"
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n' >"$SRC/c1/CACHEDIR.TAG"
printf 'cached\n' >"$SRC/c1/blob"
printf 'Signature: not the right one\n' >"$SRC/c2/CACHEDIR.TAG"
printf 'kept\n' >"$SRC/c2/blob"
cat >"$WORK/excl" <<EOT
# comment lines and blank lines are ignored

$SRC/logs/
EOT

ok cfs init
snap_create --exclude '*.tmp' --exclude node_modules --exclude 'build/obj' \
	--exclude-file "$WORK/excl" --exclude-caches "$SRC"
mkdir "$WORK/r"
ok cfs restore "$SNAP_ID" "$WORK/r"
R=$WORK/r$SRC
for p in keep/a.txt build/x.c c1/CACHEDIR.TAG c2/CACHEDIR.TAG c2/blob; do
	[ -e "$R/$p" ] || fail "$p was excluded but matches no pattern"
done
for p in keep/a.tmp keep/sub/b.tmp build/obj node_modules logs c1/blob; do
	[ ! -e "$R/$p" ] || fail "$p should have been excluded"
done
[ -d "$R/c1" ] && [ -d "$R/build" ] && [ -d "$R/keep/sub" ] || fail "directories around excluded entries are missing"

# Without the options everything is there.
snap_create "$SRC"
rm -rf "$WORK/r"
mkdir "$WORK/r"
ok cfs restore "$SNAP_ID" "$WORK/r"
assert_same_tree "$SRC" "$WORK/r$SRC"

# --one-file-system: a tmpfs mounted below the source.
if mount -t tmpfs -o size=4m tmpfs "$SRC/mnt" 2>/dev/null; then
	register_mount "$SRC/mnt"
	printf 'other fs\n' >"$SRC/mnt/inside"
	snap_create --one-file-system "$SRC"
	rm -rf "$WORK/r"
	mkdir "$WORK/r"
	ok cfs restore "$SNAP_ID" "$WORK/r"
	[ -d "$WORK/r$SRC/mnt" ] || fail "the mount point itself is missing"
	[ ! -e "$WORK/r$SRC/mnt/inside" ] || fail "--one-file-system crossed into the tmpfs"
	snap_create "$SRC"
	rm -rf "$WORK/r"
	mkdir "$WORK/r"
	ok cfs restore "$SNAP_ID" "$WORK/r"
	[ -e "$WORK/r$SRC/mnt/inside" ] || fail "without --one-file-system the tmpfs contents are missing"
	umount "$SRC/mnt"
else
	log "note: cannot mount a tmpfs here, --one-file-system not exercised"
fi

# Progress: not when stderr is not a terminal; on a terminal, a live line.
printf 'change\n' >>"$SRC/keep/a.txt"
ok cfs snapshot create "$SRC"
if grep -q 'entries' "$ERR"; then fail "progress printed to a non-terminal"; fi
expect_in "$OUT" "unchanged"
if command -v script >/dev/null; then
	printf 'again\n' >>"$SRC/keep/a.txt"
	# The line appears after a job's first second; this one is shorter.
	run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		CHRONOFS_PROGRESS_DELAY_MS=0 script -qec "$CHRONOCTL snapshot create $SRC" /dev/null
	[ "$RC" = 0 ] || { _lib_show_output; fail "snapshot on a terminal failed"; }
	expect_in "$OUT" "entries"
fi
# --quiet: no summary; --json: the stats.
ok cfs snapshot create --quiet "$SRC"
[ ! -s "$OUT" ] || { _lib_show_output; fail "--quiet printed a summary"; }
ok cfs snapshot create --json "$SRC"
for k in files_new files_changed files_unchanged files_skipped bytes_read bytes_added duration_ns; do
	[ "$(json_get "$OUT" ".stats.$k")" != null ] || fail "--json stats lack $k"
done
log "ok: exclusions and progress"
