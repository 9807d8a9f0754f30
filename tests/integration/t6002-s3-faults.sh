#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# S3 when things go wrong, against a real radosgw behind a proxy that fails
# requests on purpose (s3-fault-proxy.py: 503 before the server sees the
# request, 500 after it did the work, connections reset mid-body, answers
# delayed by seconds):
#   - with 10 % of requests failing, init, a backup of several packs, an
#     incremental, a restore, check --read-data and the mount all complete
#     and give back the source;
#   - kill -9 of a backup while it uploads leaves the bucket consistent
#     (check passes, the snapshots before it are whole, none is half there)
#     and the next backup completes;
#   - two hosts (two caches) on one bucket: each lists the other's
#     snapshots, the second host's backup of the same data stores almost
#     nothing, and each restores the other's snapshot;
#   - with every index/ object gone, a fresh cache restores from the packs'
#     headers and `catalog rebuild` writes index/ objects again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw
command -v python3 >/dev/null 2>&1 || skip "python3 is missing (scripts/install-deps installs it)"
radosgw_start
s3_bucket chronofs-t6002
MiB=$((1024 * 1024))

# --- 10 % of requests fail -----------------------------------------------
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0.10
SRC=$WORK/src
make_fixture "$SRC"
mkdir -p "$SRC/big"
rand_file "$SRC/big/a" $((24 * MiB))
rand_file "$SRC/big/b" $((12 * MiB))
REPO=s3://chronofs-t6002/faults
ok cfs init
snap_create "$SRC"
first=$SNAP_ID
printf 'more\n' >"$SRC/big/c"
rand_file "$SRC/big/d" $((3 * MiB))
snap_create "$SRC"
second=$SNAP_ID
mkdir "$WORK/r1"
ok cfs restore "$second" "$WORK/r1"
assert_same_tree "$SRC" "$WORK/r1$SRC"
CACHE=$WORK/cache-check
ok cfs check --read-data
FS_CACHE=$WORK/cache-mount
mount_compare "$SRC"
s3_curl -o "$WORK/stats.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
faults=$(jq '[.faults[]] | add // 0' "$WORK/stats.json")
[ "$faults" -ge 10 ] || fail "only $faults faults were injected: $(cat "$WORK/stats.json")"
log "faults injected and survived: $(jq -c .faults "$WORK/stats.json")"
kill "$S3_PROXY_PID"
wait_rc "$S3_PROXY_PID"
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT

# --- kill -9 while a backup uploads ---------------------------------------
CACHE=$WORK/cache
REPO=s3://chronofs-t6002/killed
ok cfs init
snap_create "$SRC"
k1=$SNAP_ID
cp -a "$SRC" "$WORK/state-k1"
rand_file "$SRC/big/e" $((64 * MiB))
packs=$(s3_keys chronofs-t6002/killed/data/ | wc -l)
# Slow uploads (4 MiB/s) give the kill time to land mid-upload: once the
# first new pack is in the bucket, the next ones are on their way.
cfs_bg killed --limit-upload 4096 snapshot create "$SRC"
for ((i = 0; i < 600; i++)); do
	[ "$(s3_keys chronofs-t6002/killed/data/ | wc -l)" -gt "$packs" ] && break
	sleep 0.1
done
kill -9 "$BG_PID"
wait_rc "$BG_PID"
[ "$WAIT_RC" = 137 ] || fail "the backup ended (status $WAIT_RC) before it could be killed"
[ "$(snap_count)" = 1 ] || fail "after kill -9: $(snap_count) snapshots, expected 1"
ok cfs check --read-data
mkdir "$WORK/r3"
ok cfs restore "$k1" "$WORK/r3"
assert_same_tree "$WORK/state-k1" "$WORK/r3$SRC"
snap_create "$SRC"
mkdir "$WORK/r2"
ok cfs restore "$SNAP_ID" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
ok cfs check --read-data
rm -r "$SRC/big/e" "$WORK/state-k1" "$WORK/r2" "$WORK/r3"

# --- two hosts, one bucket -------------------------------------------------
REPO=s3://chronofs-t6002/shared
CACHE=$WORK/cache-host-a
ok cfs init
snap_create --tag host-a "$SRC"
a_snap=$SNAP_ID
before=$(s3_bytes chronofs-t6002/shared/data/)
CACHE=$WORK/cache-host-b
cp -a "$SRC" "$WORK/src-b"
snap_create --tag host-b "$WORK/src-b"
b_snap=$SNAP_ID
after=$(s3_bytes chronofs-t6002/shared/data/)
# The same files from the other host: trees only (the paths differ).
[ $((after - before)) -lt $((before / 20)) ] ||
	fail "host B's backup of the same data added $((after - before)) bytes to $before"
log "host B's backup of the same $before bytes added $((after - before)) bytes"
[ "$(snap_count)" = 2 ] || fail "host B lists $(snap_count) snapshots, expected 2"
mkdir "$WORK/r4"
ok cfs restore "$a_snap" "$WORK/r4"
assert_same_tree "$SRC" "$WORK/r4$SRC"
CACHE=$WORK/cache-host-a
[ "$(snap_count)" = 2 ] || fail "host A lists $(snap_count) snapshots after a refresh, expected 2"
mkdir "$WORK/r5"
ok cfs restore "$b_snap" "$WORK/r5"
assert_same_tree "$WORK/src-b" "$WORK/r5$WORK/src-b"

# --- every index/ object lost ------------------------------------------------
s3_keys chronofs-t6002/shared/index/ >"$WORK/index-keys"
[ -s "$WORK/index-keys" ] || fail "no index objects in the bucket"
while read -r k; do
	s3_curl -X DELETE "$S3_ENDPOINT/chronofs-t6002/$k" || fail "deleting $k"
done <"$WORK/index-keys"
CACHE=$WORK/cache-dr
mkdir "$WORK/r6"
ok cfs restore "$a_snap" "$WORK/r6"
assert_same_tree "$SRC" "$WORK/r6$SRC"
CACHE=$WORK/cache-dr2
ok cfs catalog rebuild
grep -qE ' [1-9][0-9]* packs read from their headers' "$OUT" || fail "catalog rebuild: $(cat "$OUT")"
[ -n "$(s3_keys chronofs-t6002/shared/index/)" ] || fail "catalog rebuild wrote no index object"
ok cfs check --read-data
