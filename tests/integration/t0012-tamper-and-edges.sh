#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Tampering and edge cases found in review:
#   - an encrypted repository whose (unauthenticated) config is flipped to
#     "no encryption" is refused, with or without its key files, and nothing
#     is written in plain text;
#   - a damaged snapshot or index object is named by `check` (they are
#     skipped when the catalog is synchronised, so check is the only place
#     that can say so);
#   - init refuses a non-empty directory; an unsupported location scheme is
#     named as such; `restore SNAP://` means the whole snapshot.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/d"
printf 'CHRONOFSMARKER_TAMPER_CONTENT\n' >"$SRC/d/secret.txt"
ok cfs init
snap_create "$SRC"

# --- config downgrade -------------------------------------------------------
cp -a "$REPO" "$WORK/repo.orig"
printf '\x00' | dd of="$REPO/config" bs=1 seek=12 conv=notrunc status=none
printf 'second\n' >"$SRC/d/more.txt"
expect_exit 1 cfs snapshot create "$SRC"
expect_in "$ERR" "says it is not encrypted, but a passphrase was given"
expect_exit 1 env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC"
expect_in "$ERR" "config was altered"
# With the key files gone as well, the cache remembers the repository was
# encrypted.
rm -rf "$REPO/keys"
expect_exit 1 env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create "$SRC"
expect_in "$ERR" "config was altered"
if grep -rqa CHRONOFSMARKER_TAMPER "$REPO"; then
	fail "plain text written into the tampered repository"
fi
rm -rf "$REPO"
cp -a "$WORK/repo.orig" "$REPO"

# --- damaged metadata objects are named by check ------------------------------
snap_create "$SRC"
ok cfs check
snapobj=$(find "$REPO/snapshots" -type f | head -1)
cp "$snapobj" "$WORK/snap.bak"
printf '\xff' | dd of="$snapobj" bs=1 seek=40 conv=notrunc status=none
expect_exit 1 cfs check
expect_in "$ERR" "snapshots/$(basename "$snapobj")"
cp "$WORK/snap.bak" "$snapobj"
idxobj=$(find "$REPO/index" -type f | head -1)
cp "$idxobj" "$WORK/idx.bak"
truncate -s 10 "$idxobj"
expect_exit 1 cfs check
expect_in "$ERR" "index/$(basename "$idxobj")"
cp "$WORK/idx.bak" "$idxobj"
ok cfs check --read-data

# --- init and locations ---------------------------------------------------------
mkdir -p "$WORK/notempty/keys"
printf 'x' >"$WORK/notempty/keys/leftover"
expect_exit 1 env CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo "$WORK/notempty" init
expect_in "$ERR" "not empty"
expect_exit 1 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY CHRONOFS_PASSWORD=x "$CHRONOCTL" \
	--repo s3://bucket/x --cache-dir "$CACHE" snapshot list
expect_in "$ERR" "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set"
expect_exit 1 env CHRONOFS_PASSWORD=x "$CHRONOCTL" --repo s3://Bad_Bucket/x --cache-dir "$CACHE" snapshot list
expect_in "$ERR" "not a valid S3 location"

# --- restore SNAP:// and SNAP:/./ mean everything -------------------------------
ok cfs restore "latest://" "$WORK/r1"
assert_same_tree "$SRC" "$WORK/r1$SRC"
ok cfs restore "latest:/./" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
log "ok: tampering refused, damaged metadata named, edge paths handled"
