#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Damaged packs are caught and named, and never turn into wrong files. On a
# fresh copy of the repository (and a fresh cache, so nothing is served from
# a local copy) each of: one flipped byte in a pack, a truncated pack, a
# deleted pack. Then:
#   - `check --read-data` exits 1 naming the pack (hex name) and a snapshot
#     path that uses it; `check` (structure only) exits 1 for a missing pack;
#   - `restore` exits 1; every file that `check` did not name is restored
#     byte-identical; every restored file either is byte-identical or is
#     named on restore's stderr — never a silently wrong file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
mkdir -p "$SRC/big" "$SRC/small"
# ~48 MiB of random data: several packs (<= 16 MiB each).
for i in 1 2 3 4 5 6 7 8; do
	rand_file "$SRC/big/file-$i.bin" $((6 * MiB))
done
for i in $(seq 1 20); do
	printf 'small file %d\n' "$i" >"$SRC/small/note-$i.txt"
done

ok cfs init
snap_create "$SRC"
snap_name=$SNAP_NAME
ok cfs check --read-data

mapfile -t packs < <(find "$REPO/data" -type f -printf '%s %p\n' | sort -n | awk '{print $2}')
[ "${#packs[@]}" -ge 3 ] || fail "expected several packs for 48 MiB, found ${#packs[@]}"
# The largest pack holds file data (not only metadata); damage that one.
victim_rel=${packs[${#packs[@]} - 1]#"$REPO"/}
victim_hex=$(basename "$victim_rel")
log "damaging pack $victim_rel"

mapfile -t all_files < <(cd "$SRC" && find . -type f | sed 's|^\./||' | sort)

# verify_restore CASE: restore the damaged copy and apply the rules above.
verify_restore() {
	local case=$1 f
	named=()
	# Files that check named as using the damaged pack.
	for f in "${all_files[@]}"; do
		if grep -qF -- "$f" "$WORK/check-$case.err"; then
			named+=("$f")
		fi
	done
	[ "${#named[@]}" -ge 1 ] || { cat "$WORK/check-$case.err" >&2; fail "$case: check --read-data names no snapshot path"; }
	[ "${#named[@]}" -lt "${#all_files[@]}" ] || fail "$case: check names every file (cannot tell affected from unaffected)"

	mkdir "$WORK/t-$case"
	expect_exit 1 cfs restore latest "$WORK/t-$case"
	cp "$ERR" "$WORK/restore-$case.err"
	local R=$WORK/t-$case$SRC n_ok=0
	for f in "${all_files[@]}"; do
		local is_named=0 n
		for n in "${named[@]}"; do
			[ "$n" = "$f" ] && is_named=1
		done
		if [ -e "$R/$f" ] && cmp -s "$SRC/$f" "$R/$f"; then
			n_ok=$((n_ok + 1))
			continue
		fi
		# Not identical (or absent): must be an affected file...
		[ "$is_named" = 1 ] || fail "$case: $f is not named by check but was not restored identically"
		# ...and reported by restore.
		grep -qF -- "$f" "$WORK/restore-$case.err" || {
			cat "$WORK/restore-$case.err" >&2
			if [ -e "$R/$f" ]; then
				fail "$case: $f was restored with wrong content and not reported"
			else
				fail "$case: $f is missing after restore and not reported"
			fi
		}
	done
	[ "$n_ok" -ge 1 ] || fail "$case: no file at all was restored"
	log "$case: ${#named[@]} file(s) affected, $n_ok restored identically"
}

# fresh_copy CASE: a copy of the repository and an empty cache for it.
fresh_copy() {
	REPO=$WORK/repo-$1
	CACHE=$WORK/cache-$1
	cp -a "$WORK/repo" "$REPO"
}

check_names_pack() { # CASE
	expect_exit 1 cfs check --read-data
	cp "$ERR" "$WORK/check-$1.err"
	grep -qF -- "$victim_hex" "$WORK/check-$1.err" ||
		{ cat "$WORK/check-$1.err" >&2; fail "$1: check --read-data does not name pack $victim_hex"; }
}

# (a) one flipped byte in the middle of the pack.
fresh_copy flip
size=$(stat -c %s "$REPO/$victim_rel")
off=$((size / 2))
orig=$(dd if="$REPO/$victim_rel" bs=1 skip="$off" count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\x$(printf '%02x' $((orig ^ 0x5a)))" | dd of="$REPO/$victim_rel" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$WORK/repo/$victim_rel" "$REPO/$victim_rel" && fail "test bug: byte not flipped"
check_names_pack flip
verify_restore flip
# One affected file restored on its own: exit 1, and no wrong file.
f=${named[0]}
mkdir "$WORK/one"
expect_exit 1 cfs restore "$snap_name:$SRC/$f" "$WORK/one"
if [ -e "$WORK/one$SRC/$f" ] && ! cmp -s "$SRC/$f" "$WORK/one$SRC/$f"; then
	grep -qF -- "$f" "$ERR" || fail "single-file restore of $f left a wrong file without reporting it"
fi

# (b) the pack truncated to half its size.
fresh_copy trunc
truncate -s $((size / 2)) "$REPO/$victim_rel"
check_names_pack trunc
verify_restore trunc

# (c) the pack deleted: even the structural check sees it.
fresh_copy gone
rm "$REPO/$victim_rel"
expect_exit 1 cfs check
grep -qF -- "$victim_hex" "$ERR" || { cat "$ERR" >&2; fail "gone: check does not name the missing pack $victim_hex"; }
check_names_pack gone
verify_restore gone

# The undamaged original is still fine.
REPO=$WORK/repo
CACHE=$WORK/cache
ok cfs check --read-data
mkdir "$WORK/t-orig"
ok cfs restore latest "$WORK/t-orig"
assert_same_tree "$SRC" "$WORK/t-orig$SRC"

log "ok: damaged pack $victim_hex detected and contained"
