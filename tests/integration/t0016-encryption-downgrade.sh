#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A passphrase given never results in plain text in the repository, whatever
# its objects say (issue 12, finding 6):
#   - the config flipped to "none" and keys/ deleted: with a passphrase
#     (CHRONOFS_PASSWORD, CHRONOFS_PASSWORD_FILE, --password-file) every
#     command refuses, naming the contradiction, from a fresh cache too, and
#     writes nothing;
#   - without a passphrase a writer with a fresh cache refuses too: the pack
#     headers do not read (an error for a writer, a warning for readers);
#     check says the objects look encrypted; repair refuses to touch it;
#   - a genuinely unencrypted repository works without a passphrase and is
#     refused with one;
#   - in an encrypted repository a pack whose header cannot be read stops
#     writers (named, pointing at check and repair), not readers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/d"
printf 'CHRONOFSMARKER_DOWNGRADE_1\n' >"$SRC/d/secret.txt"
head -c 100000 /dev/urandom >"$SRC/d/random.bin"
ok cfs init
snap_create "$SRC"
printf 'CHRONOFSMARKER_DOWNGRADE_2\n' >"$SRC/d/new.txt"

no_plaintext() {
	if grep -rqa CHRONOFSMARKER_DOWNGRADE "$REPO"; then
		fail "plain text written into the repository: $1"
	fi
}
# chronoctl without any passphrase in the environment.
nopw() {
	env -u CHRONOFS_PASSWORD -u CHRONOFS_PASSWORD_FILE CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" \
		"$CHRONOCTL" "$@"
}

cp -a "$REPO" "$WORK/repo.orig"
printf '\x00' | dd of="$REPO/config" bs=1 seek=12 conv=notrunc status=none
rm -rf "$REPO/keys"
repo_digest "$REPO" >"$WORK/digest.before"

# --- a passphrase is given: refused, from any cache --------------------------------
CACHE=$WORK/cache-fresh
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "says it is not encrypted, but a passphrase was given"
expect_exit 1 cfs snapshot list
expect_in "$ERR" "says it is not encrypted, but a passphrase was given"
printf '%s' "$PASSWORD" >"$WORK/pwfile"
expect_exit 1 env -u CHRONOFS_PASSWORD CHRONOFS_PASSWORD_FILE="$WORK/pwfile" CHRONOFS_REPO="$REPO" \
	CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC"
expect_in "$ERR" "a passphrase was given"
expect_exit 1 nopw --password-file "$WORK/pwfile" snapshot create "$SRC"
expect_in "$ERR" "a passphrase was given"
no_plaintext "with a passphrase given"

# --- no passphrase, fresh cache: a writer stops at the packs it cannot read ------------
CACHE=$WORK/cache-nopw
expect_exit 1 nopw snapshot create "$SRC"
expect_in "$ERR" "Cannot read the header of pack"
expect_in "$ERR" "chronoctl repair"
no_plaintext "by a writer without a passphrase"
# Readers only warn (and see nothing).
CACHE=$WORK/cache-reader
ok nopw snapshot list
expect_in "$ERR" "Cannot read the header of pack"
# check names the contradiction.
expect_exit 1 nopw check
expect_in "$ERR" "look encrypted"
# repair refuses to delete what it cannot read.
expect_exit 1 nopw repair
expect_in "$ERR" "Not repairing"
repo_digest "$REPO" >"$WORK/digest.after"
diff "$WORK/digest.before" "$WORK/digest.after" >&2 || fail "the tampered repository was changed"

# --- the cache that knew the repository as encrypted refuses too --------------------------
CACHE=$WORK/cache
expect_exit 1 nopw snapshot create "$SRC"
expect_in "$ERR" "config was altered"
no_plaintext "with the old cache"

# --- a genuinely unencrypted repository ----------------------------------------------------
REPO=$WORK/repo-plain
CACHE=$WORK/cache-plain
ok cfs init --encryption none
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "a passphrase was given"
ok nopw snapshot create "$SRC"
# An empty CHRONOFS_PASSWORD counts as none given.
ok env CHRONOFS_PASSWORD= CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot list

# --- an encrypted repository with an unreadable pack: writers stop, readers warn ---------------
REPO=$WORK/repo-enc
CACHE=$WORK/cache-enc
ok cfs init
snap_create "$SRC"
mkdir -p "$REPO/data/ab"
head -c 5000 /dev/urandom >"$REPO/data/ab/ab$(printf '%062d' 0)"
CACHE=$WORK/cache-enc2
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "data/ab/ab"
expect_in "$ERR" "nothing is written"
mkdir "$WORK/r"
CACHE=$WORK/cache-enc3
ok cfs restore latest "$WORK/r"
expect_in "$ERR" "data/ab/ab"
assert_same_tree "$SRC" "$WORK/r$SRC"
log "ok: no passphrase becomes plain text; unreadable packs stop writers"
