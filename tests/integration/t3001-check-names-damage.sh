#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check without --read-data names what a backup can no longer rely on, from
# any cache (issue 12, finding 3):
#   - a missing pack (also when a writer's sync already forgot it, and from
#     a fresh cache that only knows it from an index object), a truncated
#     pack, a missing dictionary: each by name, and every snapshot path
#     that uses their blobs;
#   - a names/ object that does not verify;
#   - a clean repository: "no problems found".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/x" "$SRC/y"
rand_file "$SRC/x/one" $((2 * MiB))
ok cfs init
snap_create "$SRC"
s1=$SNAP_NAME
rand_file "$SRC/y/two" $((2 * MiB))
snap_create "$SRC"
s2=$SNAP_NAME
ok cfs check
expect_in "$OUT" "no problems found"

# The pack of y/two (the newest data pack) goes.
pack=$(find "$REPO/data" -type f -size +1M -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
rel=${pack#"$REPO/"}
mv "$pack" "$WORK/pack.saved"

expect_exit 1 cfs check
expect_in "$ERR" "pack $rel: missing"
expect_in "$ERR" "snapshot $s2: $SRC/y/two"
if grep -qF "snapshot $s1:" "$ERR"; then fail "check names the snapshot that does not use the missing pack"; fi
# A writer's sync forgets the pack: check still names it.
ok cfs snapshot create --type full "$SRC/x"
expect_exit 1 cfs check
expect_in "$ERR" "pack $rel: missing"
expect_in "$ERR" "snapshot $s2: $SRC/y/two"
# A fresh cache knows it from the index object only.
CACHE=$WORK/cache-fresh
expect_exit 1 cfs check
expect_in "$ERR" "$rel"
expect_in "$ERR" "snapshot $s2: $SRC/y/two"
CACHE=$WORK/cache
mv "$WORK/pack.saved" "$pack"

# Truncated.
cp "$pack" "$WORK/pack.saved"
truncate -s $((MiB)) "$pack"
CACHE=$WORK/cache-trunc
expect_exit 1 cfs check
expect_in "$ERR" "pack $rel: size $MiB"
expect_in "$ERR" "snapshot $s2: $SRC/y/two"
cp "$WORK/pack.saved" "$pack"

# A names/ object that does not verify.
nameobj=$(find "$REPO/names" -type f | head -n 1)
cp "$nameobj" "$WORK/name.saved"
printf 'garbage' >"$nameobj"
CACHE=$WORK/cache-names
expect_exit 1 cfs check
expect_in "$ERR" "names/$(basename "$nameobj")"
cp "$WORK/name.saved" "$nameobj"

# A missing dictionary.
REPO=$WORK/repo-dict
CACHE=$WORK/cache-dict
SRC=$WORK/src-dict
make_texts "$SRC/a" 0 2500
ok cfs init
snap_create "$SRC"
make_texts "$SRC/b" 2500 100
snap_create "$SRC"
s3=$SNAP_NAME
dict=$(find "$REPO/dicts" -type f | head -n 1)
mv "$dict" "$WORK/dict.saved"
CACHE=$WORK/cache-dict-fresh
expect_exit 1 cfs check
expect_in "$ERR" "dictionary"
expect_in "$ERR" "not in the repository"
expect_in "$ERR" "snapshot $s3: $SRC/b/f02500.txt"
mv "$WORK/dict.saved" "$dict"
CACHE=$WORK/cache-dict-again
ok cfs check
log "ok: check names missing packs, truncated packs, bad names/ objects and missing dictionaries"
