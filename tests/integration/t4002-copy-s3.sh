#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chronoctl copy between a local repository and S3 (a real radosgw on
# loopback, s3-lib.sh), both ways:
#   - local -> S3 with shared parameters and another passphrase: the copy
#     restores identically from the bucket alone (empty cache); a second
#     copy sends nothing and the bucket does not grow; a small change sends
#     about that (bytes_sent, and the bucket's growth, bounded);
#   - S3 -> local: into a new repository (parameters taken from the S3
#     one) the snapshots restore identically; back into the original every
#     snapshot is present (the copy's origin is the original) and nothing
#     is sent;
#   - kill -9 in the middle of a copy to S3: nothing committed, and the
#     copy run again leaves every data object stored before the kill in
#     place and sends only the rest (before + after = one copy).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw
radosgw_start
s3_bucket chronofs-t4002

MiB=$((1024 * 1024))
SRC=$WORK/src
make_fixture "$SRC"
mkdir -p "$SRC/data"
rand_file "$SRC/data/big" $((16 * MiB))
for i in $(seq 1 8); do
	rand_file "$SRC/data/f$i" $((MiB + i * 777))
done

P2='the off-site passphrase'
printf '%s\n' "$P2" >"$WORK/p2"
printf '%s\n' "$PASSWORD" >"$WORK/p1"
S3R=s3://chronofs-t4002/offsite

# cfs2 REPO CACHE ARGS: chronoctl on another repository, passphrase P2.
cfs2() {
	local repo=$1 cache=$2
	shift 2
	CHRONOFS_REPO=$repo CHRONOFS_PASSWORD=$P2 CHRONOFS_CACHE_DIR=$cache \
		timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" "$@"
}

ok cfs init
snap_create "$SRC"
S1=$SNAP_ID

# --- local -> S3 ----------------------------------------------------------------
ok cfs2 "$S3R" "$WORK/cache-s3" init --copy-params-from "$REPO" --from-password-file "$WORK/p1"
ok cfs copy --to "$S3R" --to-password-file "$WORK/p2" --to-cache-dir "$WORK/cache-s3" --json
cp "$OUT" "$WORK/c1.json"
[ "$(json_get "$WORK/c1.json" .params_shared)" = true ] || fail "params_shared should be true"
[ "$(json_get "$WORK/c1.json" .snapshots_copied)" = 1 ] || fail "one snapshot copied expected"
full_sent=$(json_get "$WORK/c1.json" .bytes_sent)
data1=$(s3_bytes chronofs-t4002/offsite/data/)
log "first copy: $full_sent bytes sent, $data1 bytes of packs in the bucket"
[ "$data1" -ge $((full_sent * 9 / 10)) ] || fail "the bucket holds $data1 bytes of packs, the copy sent $full_sent"

# From the bucket alone (a cache that never saw it).
ok cfs2 "$S3R" "$WORK/cache-fresh" restore latest "$WORK/restore1"
assert_same_tree "$SRC" "$WORK/restore1$SRC"
ok cfs2 "$S3R" "$WORK/cache-fresh" check --read-data

# Again: present, nothing sent, the bucket does not grow.
keys_before=$(s3_keys chronofs-t4002/offsite/ | wc -l)
ok cfs copy --to "$S3R" --to-password-file "$WORK/p2" --to-cache-dir "$WORK/cache-s3" --json
[ "$(json_get "$OUT" .snapshots_present)" = 1 ] || fail "second copy: present expected"
[ "$(json_get "$OUT" .bytes_sent)" = 0 ] || fail "second copy: nothing should be sent"
[ "$(s3_keys chronofs-t4002/offsite/ | wc -l)" = "$keys_before" ] || fail "second copy: the bucket has new objects"

# A small change: about that much is sent.
head -c $((300 * 1024)) /dev/urandom >"$SRC/data/added"
snap_create "$SRC"
S2=$SNAP_ID
ok cfs copy --to "$S3R" --to-password-file "$WORK/p2" --to-cache-dir "$WORK/cache-s3" --json
sent=$(json_get "$OUT" .bytes_sent)
data2=$(s3_bytes chronofs-t4002/offsite/data/)
log "after 300 KiB added: $sent bytes sent, the packs grew by $((data2 - data1)) bytes"
[ "$sent" -le $((300 * 1024 + MiB)) ] || fail "sent $sent bytes for a 300 KiB change"
[ $((data2 - data1)) -le $((300 * 1024 + MiB)) ] || fail "the packs grew by $((data2 - data1)) bytes"

# --- S3 -> local ------------------------------------------------------------------
R3=$WORK/r3
ok cfs2 "$R3" "$WORK/cache" init --copy-params-from "$S3R" --from-password-file "$WORK/p2"
run env CHRONOFS_REPO="$S3R" CHRONOFS_PASSWORD="$P2" CHRONOFS_CACHE_DIR="$WORK/cache-s3" \
	CHRONOFS_TO_PASSWORD="$P2" "$CHRONOCTL" copy --to "$R3" --json
[ "$RC" = 0 ] || { _lib_show_output; fail "copy from S3 failed"; }
[ "$(json_get "$OUT" .snapshots_copied)" = 2 ] || fail "two snapshots copied from S3 expected"
[ "$(json_get "$OUT" .params_shared)" = true ] || fail "S3 -> R3: params_shared should be true"
ok cfs2 "$R3" "$WORK/cache" restore latest "$WORK/restore3"
assert_same_tree "$SRC" "$WORK/restore3$SRC"
ok cfs2 "$R3" "$WORK/cache" snapshot list --json
[ "$(json_get "$OUT" '.[0].origin.snapshot')" = "$S1" ] || fail "a copy of a copy keeps the first origin"
# Back into the original: its own snapshots, present.
run env CHRONOFS_REPO="$S3R" CHRONOFS_PASSWORD="$P2" CHRONOFS_CACHE_DIR="$WORK/cache-s3" \
	CHRONOFS_TO_PASSWORD="$PASSWORD" "$CHRONOCTL" copy --to "$REPO" --to-cache-dir "$CACHE" --json
[ "$RC" = 0 ] || { _lib_show_output; fail "copy back from S3 failed"; }
[ "$(json_get "$OUT" .snapshots_present)" = 2 ] || fail "back into the original: both snapshots present"
[ "$(json_get "$OUT" .bytes_sent)" = 0 ] || fail "back into the original: nothing should be sent"

# --- kill -9 in the middle of a copy to S3, then resume -------------------------------
S4=s3://chronofs-t4002/killed
ok cfs2 "$S4" "$WORK/cache-s4" init --copy-params-from "$REPO" --from-password-file "$WORK/p1"
packs() { s3_keys chronofs-t4002/killed/data/ | sort; }
# Slowed (4 MiB/s into the store), so that it is killed half-way.
env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	CHRONOFS_TO_PASSWORD="$P2" "$CHRONOCTL" --limit-upload 4096 copy --to "$S4" --to-cache-dir "$WORK/cache-s4" \
	"$S1" >"$WORK/killed.out" 2>"$WORK/killed.err" &
pid=$!
track_pid "$pid"
# Killed once a data pack (MiBs, not a small pack of trees) is stored.
for _ in $(seq 1 600); do
	[ "$(s3_bytes chronofs-t4002/killed/data/)" -ge $((8 * MiB)) ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null || fail "the copy ended before it could be killed"
wait_rc "$pid"
packs >"$WORK/packs-before"
bytes_before=$(s3_bytes chronofs-t4002/killed/data/)
log "killed with $(wc -l <"$WORK/packs-before") pack(s), $bytes_before bytes in the bucket"
[ "$bytes_before" -ge $((8 * MiB)) ] || fail "no data pack stored before the kill"
ok cfs2 "$S4" "$WORK/cache-s4" snapshot list --json
[ "$(json_get "$OUT" length)" = 0 ] || fail "a killed copy committed a snapshot"

run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	CHRONOFS_TO_PASSWORD="$P2" "$CHRONOCTL" copy --to "$S4" --to-cache-dir "$WORK/cache-s4" --json "$S1"
[ "$RC" = 0 ] || { _lib_show_output; fail "the resumed copy failed"; }
resent=$(json_get "$OUT" .bytes_sent)
log "resumed: $resent bytes sent (one copy: $full_sent)"
packs >"$WORK/packs-after"
comm -23 "$WORK/packs-before" "$WORK/packs-after" >"$WORK/packs-gone"
[ ! -s "$WORK/packs-gone" ] || fail "packs stored before the kill vanished"
[ "$resent" -le $((full_sent - bytes_before + MiB)) ] ||
	fail "resume sent $resent bytes after $bytes_before were stored: more than one copy ($full_sent)"
ok cfs2 "$S4" "$WORK/cache-fresh4" restore latest "$WORK/restore4"
[ "$(sha256sum <"$WORK/restore4$SRC/data/big")" = "$(sha256sum <"$SRC/data/big")" ] || fail "resumed copy: big differs"

log "ok"
