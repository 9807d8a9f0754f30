#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chronoctl copy, local to local.
#  - init --copy-params-from: a repository with its own passphrase that
#    shares the source's chunker and id parameters; a copy into it keeps
#    tree ids, a second copy finds the snapshot present and sends nothing,
#    and after 1 % of a file changed, the next copy sends about that much
#    (bounded from --json's bytes_sent); the copy restores identically;
#  - without shared parameters: said on stderr, the data is cut again, and
#    the copy restores identically;
#  - kill -9 in the middle of a copy: nothing committed, and the copy run
#    again sends no pack twice (the packs stored before the kill are not
#    sent again: the bytes sent after it plus those stored before are one
#    copy's worth).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SRC=$WORK/src
make_fixture "$SRC"
mkdir -p "$SRC/data"
rand_file "$SRC/data/big" $((20 * MiB))
for i in $(seq 1 12); do
	rand_file "$SRC/data/f$i" $((MiB + i * 1000))
done
# The random data (the fixture's sparse files count little in the store).
corpus=$(du -sb --apparent-size "$SRC/data" | cut -f1)

P2='another passphrase for the copy'
printf '%s\n' "$P2" >"$WORK/p2"
printf '%s\n' "$PASSWORD" >"$WORK/p1"
R2=$WORK/r2
R3=$WORK/r3

# cfs2 REPO ARGS: chronoctl on a destination repository, its passphrase P2.
cfs2() {
	local repo=$1
	shift
	CHRONOFS_REPO=$repo CHRONOFS_PASSWORD=$P2 CHRONOFS_CACHE_DIR=$CACHE \
		timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" "$@"
}

# --help: usage on stdout, nothing opened or created; the tool lists copy.
for h in --help -h; do
	run env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$WORK/absent" CHRONOFS_CACHE_DIR="$WORK/absent-cache" \
		"$CHRONOCTL" copy "$h" </dev/null
	[ "$RC" = 0 ] || fail "copy $h: exit $RC"
	expect_in "$OUT" "usage: chronoctl copy"
	expect_in "$OUT" "--to-password-file"
done
[ ! -e "$WORK/absent" ] && [ ! -e "$WORK/absent-cache" ] || fail "copy --help created something"
run "$CHRONOCTL" --help
grep -qw copy "$OUT" || fail "chronoctl --help does not list copy"
expect_in "$OUT" "--copy-params-from"
expect_exit 1 cfs copy
expect_in "$ERR" "No destination"

ok cfs init
snap_create "$SRC"
S1=$SNAP_ID
ok cfs snapshot show --json "$S1"
root1=$(json_get "$OUT" .root)

# --- shared parameters -------------------------------------------------------
ok cfs2 "$R2" init --copy-params-from "$REPO" --from-password-file "$WORK/p1"
expect_in "$OUT" "parameters taken from"
# Its own passphrase: the source's does not open it.
expect_exit 1 cfs --repo "$R2" snapshot list

ok cfs copy --to "$R2" --to-password-file "$WORK/p2" --json
cp "$OUT" "$WORK/c1.json"
json_valid "$WORK/c1.json" || fail "copy --json: invalid JSON"
[ "$(json_get "$WORK/c1.json" .params_shared)" = true ] || fail "params_shared should be true"
[ "$(json_get "$WORK/c1.json" .snapshots_copied)" = 1 ] || fail "one snapshot copied expected"
full_sent=$(json_get "$WORK/c1.json" .bytes_sent)
log "first copy: $full_sent bytes sent for $corpus bytes of random data"
[ "$full_sent" -gt $((corpus * 9 / 10)) ] || fail "the first copy sent only $full_sent bytes"
if grep -qi "do not share" "$ERR"; then fail "shared parameters, yet the copy says they are not"; fi

ok cfs2 "$R2" snapshot list --json
[ "$(json_get "$OUT" length)" = 1 ] || fail "the copy should hold one snapshot"
[ "$(json_get "$OUT" '.[0].root')" = "$root1" ] || fail "shared parameters: the copy's root tree id differs"
[ "$(json_get "$OUT" '.[0].origin.snapshot')" = "$S1" ] || fail "the copy's origin is not the source snapshot"

# Again: present, nothing sent.
ok cfs copy --to "$R2" --to-password-file "$WORK/p2" --json
[ "$(json_get "$OUT" .snapshots_present)" = 1 ] || fail "second copy: the snapshot should be present"
[ "$(json_get "$OUT" .bytes_sent)" = 0 ] || fail "second copy: nothing should be sent"

# 1 % of the corpus changes (in the middle of the big file); the next
# copy sends about that, plus the chunks around the change: from the cut
# before it to where the chunker finds the old cuts again (chunks average
# 1 MiB, at most 4 MiB: about two to three of them).
churn=$((corpus / 100))
head -c "$churn" /dev/urandom | dd of="$SRC/data/big" bs=1 seek=$((7 * MiB)) conv=notrunc status=none
snap_create "$SRC"
S2=$SNAP_ID
CHRONOFS_TO_PASSWORD=$P2 ok cfs copy --to "$R2" --json "$S2"
sent=$(json_get "$OUT" .bytes_sent)
log "after $churn bytes changed: $sent bytes sent"
[ "$sent" -le $((churn + 12 * MiB)) ] || fail "the copy after 1 % churn sent $sent bytes (churn $churn)"
[ "$sent" -lt $((full_sent / 4)) ] || fail "the copy after 1 % churn sent $sent of $full_sent bytes"
[ "$(json_get "$OUT" .snapshots_copied)" = 1 ] || fail "one snapshot copied expected"

ok cfs2 "$R2" check --read-data
ok cfs2 "$R2" restore latest "$WORK/restore2"
assert_same_tree "$SRC" "$WORK/restore2$SRC"

# --- without shared parameters ------------------------------------------------
ok cfs2 "$R3" init
CHRONOFS_TO_PASSWORD_FILE=$WORK/p2 ok cfs copy --to "$R3" --json
expect_in "$ERR" "do not share chunker and blob id parameters"
expect_in "$ERR" "--copy-params-from"
[ "$(json_get "$OUT" .params_shared)" = false ] || fail "params_shared should be false"
[ "$(json_get "$OUT" .snapshots_copied)" = 2 ] || fail "two snapshots copied expected"
ok cfs2 "$R3" restore latest "$WORK/restore3"
assert_same_tree "$SRC" "$WORK/restore3$SRC"
ok cfs2 "$R3" restore "$(cfs2 "$R3" snapshot list --json | json_get /dev/stdin '.[0].name')" "$WORK/restore3a"
[ -f "$WORK/restore3a$SRC/data/big" ] || fail "the first copy did not restore"
ok cfs2 "$R3" check --read-data

# Errors name the repository: no passphrase for an encrypted destination.
expect_exit 1 cfs copy --to "$R3"
expect_in "$ERR" "$R3 is encrypted"

# --- kill -9 in the middle, then resume ---------------------------------------
R4=$WORK/r4
ok cfs2 "$R4" init --copy-params-from "$REPO" --from-password-file "$WORK/p1"
packs() { find "$R4/data" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -printf '%s %P\n' | sort; }
# Slowed down (8 MiB/s into the store), so that it is killed half-way.
cfs_bg killed --limit-upload 8192 copy --to "$R4" --to-password-file "$WORK/p2" "$S1"
pid=$BG_PID
for _ in $(seq 1 600); do
	[ "$(packs | wc -l)" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "the copy ended before it could be killed (no packs seen?)"
wait_rc "$pid"
packs >"$WORK/packs-before"
n_before=$(wc -l <"$WORK/packs-before")
bytes_before=$(awk '{s += $1} END {print s + 0}' "$WORK/packs-before")
log "killed with $n_before pack(s), $bytes_before bytes stored"
[ "$n_before" -ge 1 ] || fail "no pack stored before the kill"
ok cfs2 "$R4" snapshot list --json
[ "$(json_get "$OUT" length)" = 0 ] || fail "a killed copy committed a snapshot"

ok cfs copy --to "$R4" --to-password-file "$WORK/p2" --json "$S1"
resent=$(json_get "$OUT" .bytes_sent)
log "resumed: $resent bytes sent (one copy: $full_sent)"
# Every pack stored before is still there, none stored again.
packs >"$WORK/packs-after"
comm -23 "$WORK/packs-before" "$WORK/packs-after" >"$WORK/packs-gone"
[ ! -s "$WORK/packs-gone" ] || fail "packs stored before the kill vanished: $(cat "$WORK/packs-gone")"
# The blobs of the stored packs were not sent again: before + after is one
# copy's worth (the first snapshot alone: a little less than full_sent,
# which was also the first snapshot alone).
[ $((resent + bytes_before)) -le $((full_sent + MiB)) ] ||
	fail "resume sent $resent bytes after $bytes_before were stored: more than one copy ($full_sent)"
[ "$resent" -lt "$full_sent" ] || fail "resume sent everything again"
total_after=$(awk '{s += $1} END {print s + 0}' "$WORK/packs-after")
[ "$total_after" -le $((full_sent + 2 * MiB)) ] || fail "R4 holds $total_after bytes of packs, one copy is $full_sent"
ok cfs2 "$R4" check --read-data
ok cfs2 "$R4" restore latest "$WORK/restore4"
[ "$(sha256sum <"$WORK/restore4$SRC/data/f3")" = "$(sha256sum <"$SRC/data/f3")" ] || fail "resumed copy: f3 differs"

# --- SIGINT: a clean exit 1 that says so; what was stored is indexed -------
R5=$WORK/r5
ok cfs2 "$R5" init --copy-params-from "$REPO" --from-password-file "$WORK/p1"
packs5() { find "$R5/data" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -printf '%s %P\n' | sort; }
cfs_bg interrupted --limit-upload 8192 copy --to "$R5" --to-password-file "$WORK/p2" "$S1"
pid=$BG_PID
for _ in $(seq 1 600); do
	[ "$(packs5 | wc -l)" -ge 1 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -INT "$pid" 2>/dev/null || fail "the copy ended before it could be interrupted"
wait_rc "$pid"
[ "$WAIT_RC" = 1 ] || { cat "$WORK/interrupted.err" >&2; fail "interrupted copy: exit $WAIT_RC, expected 1"; }
expect_in "$WORK/interrupted.err" "interrupted"
expect_in "$WORK/interrupted.err" "run it again"
[ -n "$(ls "$R5/index")" ] || fail "an interrupted copy left its packs unindexed"
bytes5=$(packs5 | awk '{s += $1} END {print s + 0}')
ok cfs copy --to "$R5" --to-password-file "$WORK/p2" --json "$S1"
resent5=$(json_get "$OUT" .bytes_sent)
log "interrupted with $bytes5 bytes stored; resumed: $resent5 bytes sent"
[ "$resent5" -le $((full_sent - bytes5 + MiB)) ] || fail "resume after SIGINT sent $resent5 bytes after $bytes5"
ok cfs2 "$R5" check

# --- copy counts, and repositories named by a configuration file ------------
cat >"$WORK/chronofs.conf" <<EOF
[repository main]
location = $REPO
password_file = $WORK/p1

[repository offsite]
location = $R2
password_file = $WORK/p2
offsite = yes

[repository second]
location = $R4
password_file = $WORK/p2
EOF
# No config: no COPIES column, no copies key.
ok cfs snapshot list
if grep -q COPIES "$OUT"; then fail "COPIES shown without a configuration"; fi
ok cfs snapshot list --json
if grep -q '"copies"' "$OUT"; then fail "copies in JSON without a configuration"; fi
# main holds S1 and S2; offsite (offsite = yes) both; second only S1.
ok cfs --config "$WORK/chronofs.conf" --repo main snapshot list --json
[ "$(json_get "$OUT" '.[0].copies')" = 3 ] || fail "S1 should be in 3 repositories"
[ "$(json_get "$OUT" '.[1].copies')" = 2 ] || fail "S2 should be in 2 repositories"
[ "$(json_get "$OUT" '.[1].offsite')" = true ] || fail "S2 has an off-site copy"
ok cfs --config "$WORK/chronofs.conf" --repo main snapshot list
expect_in "$OUT" "COPIES"
expect_in "$OUT" "3+offsite"
# The same counts seen from a copy (its origin is the snapshot's identity).
ok cfs --config "$WORK/chronofs.conf" --repo second snapshot list --json
[ "$(json_get "$OUT" '.[0].copies')" = 3 ] || fail "second's copy of S1 should count 3"
# Copy by names: the config gives locations and passphrases; S1 is present.
run env -u CHRONOFS_PASSWORD CHRONOFS_CONFIG="$WORK/chronofs.conf" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" copy --from main --to second --json
[ "$RC" = 0 ] || { _lib_show_output; fail "copy by config names"; }
[ "$(json_get "$OUT" .snapshots_copied)" = 1 ] || fail "copy by names: S2 should be copied"
[ "$(json_get "$OUT" .snapshots_present)" = 1 ] || fail "copy by names: S1 should be present"
ok cfs --config "$WORK/chronofs.conf" --repo main snapshot list --json
[ "$(json_get "$OUT" '.[1].copies')" = 3 ] || fail "S2 should now be in 3 repositories"

log "ok"
