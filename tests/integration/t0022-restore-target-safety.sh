#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What restore must keep doing with files written through temporaries
# (issue 12): it never writes outside its target — a symlink planted in the
# target where a directory or a file will be restored is not followed;
# existing files are not overwritten (reported, exit 1), existing
# directories are reused and get the snapshot's metadata; hard links come
# back as links (the first member through the temporary, the others linked
# to it); a file whose data fails verification is not left behind, under
# its name or as a temporary, and is named with the reason; no temporary is
# left by a restore, with O_TMPFILE or with named temporaries.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/dir" "$SRC/sub/deeper" "$SRC/links/a" "$SRC/links/b"
printf 'file\n' >"$SRC/file"
printf 'in dir\n' >"$SRC/dir/x"
printf 'in sub\n' >"$SRC/sub/deeper/y"
chmod 0750 "$SRC/dir"
printf 'linked\n' >"$SRC/links/a/one"
ln "$SRC/links/a/one" "$SRC/links/b/two"
ln "$SRC/links/a/one" "$SRC/links/three"
touch -d '2001-02-03 04:05:06' "$SRC/dir"

ok cfs init
snap_create "$SRC"

no_temporaries() {
	local left
	left=$(find "$1" -name '.chronofs-restore.*')
	[ -z "$left" ] || fail "temporaries left behind: $left"
}

# --- a clean restore: links are links, nothing stray ------------------------
ok cfs restore latest "$WORK/t0"
assert_same_tree "$SRC" "$WORK/t0$SRC"
i1=$(stat -c %i "$WORK/t0$SRC/links/a/one")
[ "$(stat -c %i "$WORK/t0$SRC/links/b/two")" = "$i1" ] || fail "links/b/two is not a hard link of links/a/one"
[ "$(stat -c %i "$WORK/t0$SRC/links/three")" = "$i1" ] || fail "links/three is not a hard link of links/a/one"
[ "$(stat -c %h "$WORK/t0$SRC/links/a/one")" = 3 ] || fail "link count of links/a/one"
no_temporaries "$WORK/t0"

# --- planted symlinks, an existing file, an existing directory ---------------
mkdir -p "$WORK/outside"
printf 'victim\n' >"$WORK/outside/victim"
T=$WORK/t1
mkdir -p "$T$SRC/dir"
chmod 0777 "$T$SRC/dir"
ln -s "$WORK/outside" "$T$SRC/sub"                 # where a directory goes
ln -s "$WORK/outside/victim" "$T$SRC/file"         # where a file goes
printf 'mine\n' >"$T$SRC/dir/x"                    # an existing file
outside_before=$(repo_digest "$WORK/outside")
expect_exit 1 cfs restore latest "$T"
[ "$(repo_digest "$WORK/outside")" = "$outside_before" ] || fail "restore wrote through a planted symlink"
[ ! -e "$WORK/outside/deeper" ] || fail "restore followed the symlink planted where $SRC/sub goes"
[ "$(cat "$WORK/outside/victim")" = victim ] || fail "restore wrote through the symlink planted at $SRC/file"
[ "$(cat "$T$SRC/dir/x")" = mine ] || fail "an existing file was overwritten"
expect_in "$ERR" "$SRC/sub"
expect_in "$ERR" "$SRC/dir/x: File exists"
expect_in "$ERR" "$SRC/file: File exists"
expect_in "$ERR" "3 entries FAILED"
# The existing directory was reused and has the snapshot's metadata.
[ "$(stat -c %a "$T$SRC/dir")" = 750 ] || fail "reused directory has mode $(stat -c %a "$T$SRC/dir")"
[ "$(stat -c %Y "$T$SRC/dir")" = "$(stat -c %Y "$SRC/dir")" ] || fail "reused directory's mtime not restored"
# What did not collide was restored.
cmp "$SRC/links/a/one" "$T$SRC/links/b/two"
no_temporaries "$T"

# --- named temporaries (file systems without O_TMPFILE) ---------------------
run env CHRONOFS_FAULTS=objstore.put:1 CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/probe-repo" init
if [ "$RC" -ne 0 ]; then
	faults=restore.tmpfile:1,restore.tmpfile:2,restore.tmpfile:3,restore.tmpfile:4,restore.tmpfile:5
	ok env CHRONOFS_FAULTS=$faults CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
		CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" restore latest "$WORK/t2"
	assert_same_tree "$SRC" "$WORK/t2$SRC"
	no_temporaries "$WORK/t2"
else
	log "fault injection not compiled in: named temporaries not tested"
fi

# --- damaged data: reported, nothing left ------------------------------------
rand_file "$SRC/random" $((3 * 1024 * 1024))
snap_create "$SRC"
ok cfs restore "latest:$SRC/random" "$WORK/t3"
cmp "$SRC/random" "$WORK/t3$SRC/random"
pack=$(find "$REPO/data" -type f -size +2M | head -n 1)
[ -n "$pack" ] || fail "no pack holds the random file"
size=$(stat -c %s "$pack")
printf '\xff' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_exit 1 cfs restore "latest:$SRC/random" "$WORK/t4"
expect_in "$ERR" "$SRC/random"
expect_in "$ERR" "integrity error"
[ ! -e "$WORK/t4$SRC/random" ] || fail "a file with damaged data was left under its name"
no_temporaries "$WORK/t4"

log "ok: restore stays in its target, never overwrites, leaves no temporaries"
