#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Encryption at rest: marker strings in file contents, file names, directory
# names, symlink targets and xattr values never appear in the repository of
# an encrypted (default) repository; with --encryption none the content
# marker does appear, proving that the search works. Key files and packs are
# 0600 in 0700 directories and the cache directory is 0700, even with
# umask 000.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

M_CONTENT=CHRONOFSMARKER_CONTENT_x7q
M_NAME=CHRONOFSMARKER_NAME_y3k
M_DIR=CHRONOFSMARKER_DIR_z9w
M_LINK=CHRONOFSMARKER_LINK_v2m
M_XATTR=CHRONOFSMARKER_XATTR_u5n
M_PASS=CHRONOFSMARKER_PASS_t8r

SRC=$WORK/src
mkdir -p "$SRC/$M_DIR"
# The content marker followed by random bytes: compression cannot shrink
# this, so a plaintext repository stores the marker verbatim.
{ printf '%s\n' "$M_CONTENT"; head -c 4096 /dev/urandom; } >"$SRC/content-file"
# A larger file where the marker sits in the middle of a multi-chunk file.
{ head -c $((3 * 1024 * 1024)) /dev/urandom; printf '%s\n' "$M_CONTENT"; head -c $((3 * 1024 * 1024)) /dev/urandom; } >"$SRC/big-file"
printf 'x\n' >"$SRC/$M_NAME"
printf 'y\n' >"$SRC/$M_DIR/inner"
ln -s "$M_LINK" "$SRC/link"
setfattr -n user.marker -v "$M_XATTR" "$SRC/content-file"

# search DIR MARKER: 0 if MARKER occurs anywhere under DIR (file contents).
search() {
	grep -r -a -q -F -- "$2" "$1"
}

# Encrypted repository (default), created with a permissive umask; the
# passphrase carries a marker too.
PASSWORD="$M_PASS secret"
(umask 000 && cfs init) >"$OUT" 2>"$ERR" || { cat "$ERR" >&2; fail "init failed"; }
(umask 000 && cfs snapshot create "$SRC") >"$OUT" 2>"$ERR" || { cat "$ERR" >&2; fail "snapshot create failed"; }

for m in "$M_CONTENT" "$M_NAME" "$M_DIR" "$M_LINK" "$M_XATTR" "$M_PASS"; do
	if search "$REPO" "$m"; then
		grep -r -a -l -F -- "$m" "$REPO" >&2 || true
		fail "marker $m found in plain text in the encrypted repository"
	fi
done
# The local cache may hold plaintext metadata, but never the passphrase.
! search "$CACHE" "$M_PASS" || fail "the passphrase is stored in the cache directory"

# Modes: keys and packs 0600, their directories 0700 (umask was 000).
check_mode() { # PATH MODE
	local m
	m=$(stat -c %a "$1")
	[ "$m" = "$2" ] || fail "$1 has mode $m, expected $2"
}
n_keys=0
while IFS= read -r -d '' f; do
	check_mode "$f" 600
	n_keys=$((n_keys + 1))
done < <(find "$REPO/keys" -type f -print0)
[ "$n_keys" -ge 1 ] || fail "no key file under $REPO/keys"
check_mode "$REPO/keys" 700
n_packs=0
while IFS= read -r -d '' f; do
	check_mode "$f" 600
	n_packs=$((n_packs + 1))
done < <(find "$REPO/data" -type f -print0)
[ "$n_packs" -ge 1 ] || fail "no pack under $REPO/data"
while IFS= read -r -d '' d; do
	check_mode "$d" 700
done < <(find "$REPO/data" -type d -print0)
# The local cache holds plaintext metadata: private to its owner.
[ -d "$CACHE" ] || fail "the cache directory $CACHE was not created"
while IFS= read -r -d '' d; do
	check_mode "$d" 700
done < <(find "$CACHE" -maxdepth 1 -type d -print0)

# The backup restores (the encryption round trip works).
mkdir "$WORK/t"
ok cfs restore latest "$WORK/t"
assert_same_tree "$SRC" "$WORK/t$SRC"

# Control: an unencrypted repository does contain the content marker, so the
# search above could have found it.
REPO=$WORK/repo-plain
CACHE=$WORK/cache-plain
PASSWORD= # a passphrase given to an unencrypted repository is refused
ok cfs init --encryption none
ok cfs snapshot create "$SRC"
search "$REPO" "$M_CONTENT" ||
	fail "control failed: marker not found in an --encryption none repository (is the search broken?)"
mkdir "$WORK/t-plain"
ok cfs restore latest "$WORK/t-plain"
assert_same_tree "$SRC" "$WORK/t-plain$SRC"

log "ok: no markers in the encrypted repository ($n_keys key(s), $n_packs pack(s))"
