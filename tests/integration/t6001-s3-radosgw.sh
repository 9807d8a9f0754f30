#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A repository in S3 (a real radosgw on loopback, see s3-lib.sh):
#   - init, snapshot, restore and check --read-data against s3://BUCKET/PREFIX;
#   - the objects are keys under PREFIX/ (config, keys/, data/, index/,
#     snapshots/);
#   - a machine that never saw the repository (empty cache) lists and
#     restores every snapshot from the bucket alone, also when every listing
#     takes many pages (ListObjectsV2 continuation);
#   - an incremental snapshot, and the mount, give back the source;
#   - several packs uploaded at once (--transfers) under --limit-upload, and
#     restored under --limit-download, round-trip;
#   - the mount keeps what it read in its disk cache (a second mount sends
#     no range GET) within the budget;
#   - TLS: the server's certificate is verified (refused without its CA,
#     accepted with AWS_CA_BUNDLE);
#   - a wrong secret key fails with exit 1 and names the HTTP status;
#   - forget and prune: the packs of 15 forgotten snapshots and their index
#     objects go in batches (DeleteObjects: a few POSTs, no DELETE per
#     object, counted by the proxy), and the repository checks clean and
#     restores after.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw
radosgw_start
s3_bucket chronofs-t6001

SRC=$WORK/src
make_fixture "$SRC"
REPO=s3://chronofs-t6001/repos/one
ok cfs init
snap_create "$SRC"
first=$SNAP_ID
mkdir "$WORK/r1"
ok cfs restore "$SNAP_ID" "$WORK/r1"
assert_same_tree "$SRC" "$WORK/r1$SRC"
ok cfs check --read-data

# The repository's objects are keys under the prefix.
s3_curl -o "$WORK/list.xml" "$S3_ENDPOINT/chronofs-t6001?list-type=2&prefix=repos%2Fone%2F"
for k in repos/one/config repos/one/keys/ repos/one/data/ repos/one/index/ repos/one/snapshots/; do
	grep -q "<Key>$k" "$WORK/list.xml" || { cat "$WORK/list.xml" >&2; fail "no key $k in the bucket"; }
done

# A change, an incremental, a restore.
printf 'changed over S3\n' >>"$SRC/regular.txt" 2>/dev/null || printf 'new\n' >"$SRC/added-over-s3"
mkdir -p "$SRC/more"
rand_file "$SRC/more/big" $((5 * 1024 * 1024))
snap_create "$SRC"
[ "$(json_get "$WORK/snap.json" .type)" = incremental ] || fail "the second snapshot is not incremental"
mkdir "$WORK/r2"
ok cfs restore "$SNAP_ID" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"

# Several packs in flight at once (40 MiB: three packs), under rate limits,
# and back: --transfers and the limits change how, never what.
mkdir -p "$SRC/many-packs"
rand_file "$SRC/many-packs/a" $((40 * 1024 * 1024))
ok cfs --transfers 8 --limit-upload 65536 snapshot create --json "$SRC"
cp "$OUT" "$WORK/snap.json"
SNAP_ID=$(json_get "$WORK/snap.json" .id)
mkdir "$WORK/r2b"
ok cfs --transfers 3 --limit-download 65536 restore "$SNAP_ID" "$WORK/r2b"
assert_same_tree "$SRC" "$WORK/r2b$SRC"

# Disaster recovery: a fresh cache, the bucket and the passphrase alone.
CACHE=$WORK/cache-fresh
[ "$(snap_count)" = 3 ] || fail "a fresh cache lists $(snap_count) snapshots, expected 3"
mkdir "$WORK/r3"
ok cfs restore "$first" "$WORK/r3"
assert_same_tree "$WORK/r1$SRC" "$WORK/r3$SRC"
ok cfs check --read-data

# Listings of many pages (two keys a page): the same snapshots, a restore.
CACHE=$WORK/cache-pages
export CHRONOFS_S3_LIST_PAGE=2
[ "$(snap_count)" = 3 ] || fail "with two keys a listing page: $(snap_count) snapshots, expected 3"
mkdir "$WORK/r-pages"
ok cfs restore "$first" "$WORK/r-pages"
assert_same_tree "$WORK/r1$SRC" "$WORK/r-pages$SRC"
unset CHRONOFS_S3_LIST_PAGE
CACHE=$WORK/cache-fresh

# The mount reads from the bucket.
FS_CACHE=$WORK/cache-mount
mount_compare "$SRC"

# The mount's disk cache: a second mount reads the packs from local disk
# (no range GET reaches the server), and the budget holds.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
	PROXY_PORT=$(free_port)
	s3_proxy_start "$PROXY_PORT" 0
	name=$(json_get "$WORK/snap.json" .name)
	FS_CACHE=$WORK/cache-dc
	mount_fs "$WORK/mnt" -o disk_cache_size=128
	assert_same_tree "$SRC" "$WORK/mnt/$name$SRC"
	umount_fs "$WORK/mnt"
	s3_curl -o "$WORK/stats1.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
	mount_fs "$WORK/mnt" -o disk_cache_size=128
	assert_same_tree "$SRC" "$WORK/mnt/$name$SRC"
	umount_fs "$WORK/mnt"
	s3_curl -o "$WORK/stats2.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
	g1=$(jq '.requests["GET range"] // 0' "$WORK/stats1.json")
	g2=$(jq '.requests["GET range"] // 0' "$WORK/stats2.json")
	[ "$g1" -gt 0 ] || fail "the first mount made no range GET: $(cat "$WORK/stats1.json")"
	[ "$g2" = "$g1" ] || fail "the second mount made $((g2 - g1)) range GETs, expected 0 (disk cache)"
	log "range GETs: $g1 for the first mount's reads, none for the second's"
	# A restore while the mount holds the disk cache: one of its own, gone after.
	mount_fs "$WORK/mnt" -o disk_cache_size=128
	mkdir "$WORK/r-busy"
	CACHE=$FS_CACHE ok cfs restore "$name" "$WORK/r-busy"
	assert_same_tree "$SRC" "$WORK/r-busy$SRC"
	umount_fs "$WORK/mnt"
	left=$(find "$FS_CACHE" -path '*/readers/*-packs-*' | wc -l)
	[ "$left" = 0 ] || fail "the restore's own disk cache was left behind ($left entries)"
	# A budget smaller than what is read: the cache stays within it.
	FS_CACHE=$WORK/cache-dc-small
	mount_fs "$WORK/mnt" -o disk_cache_size=8
	assert_same_tree "$SRC" "$WORK/mnt/$name$SRC"
	umount_fs "$WORK/mnt"
	kept=$(find "$FS_CACHE" -path '*/packs/*/*' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	[ "$kept" -gt 0 ] && [ "$kept" -le $((8 * 1024 * 1024)) ] || fail "the 8 MiB disk cache holds $kept bytes"
	kill "$S3_PROXY_PID"
	wait_rc "$S3_PROXY_PID"
	export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
fi

# Forget and prune: the many packs go in batched deletes. 16 snapshots
# of a changed file, each with its own pack and index object (forced
# times: a -Dfault_injection build), 15 forgotten.
if command -v python3 >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
	REPO=s3://chronofs-t6001/repos/prune
	CACHE=$WORK/cache-prune
	t0=$SECONDS
	ok cfs init
	mkdir -p "$WORK/psrc"
	for i in $(seq -w 1 16); do
		head -c 20000 /dev/urandom >"$WORK/psrc/day"
		CHRONOFS_TEST_SNAPSHOT_TIME=2026-11-${i}T10:00:00Z snap_create "$WORK/psrc"
	done
	if [ "$SNAP_NAME" = 2026-11-16T10:00:00Z ]; then
		ok cfs forget --keep-last 1
		[ "$(snap_count)" = 1 ] || fail "forget --keep-last 1 left $(snap_count) snapshots"
		PROXY_PORT=$(free_port)
		s3_proxy_start "$PROXY_PORT" 0
		ok cfs prune --json
		cp "$OUT" "$WORK/prune.json"
		s3_curl -o "$WORK/prune-stats.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
		kill "$S3_PROXY_PID"
		wait_rc "$S3_PROXY_PID"
		export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
		packs=$(json_get "$WORK/prune.json" .packs_deleted)
		indexes=$(json_get "$WORK/prune.json" .indexes_deleted)
		posts=$(jq '.requests.POST // 0' "$WORK/prune-stats.json")
		dels=$(jq '.requests.DELETE // 0' "$WORK/prune-stats.json")
		[ "$packs" -ge 15 ] || fail "prune deleted $packs packs, expected the 15 forgotten snapshots' (at least)"
		[ "$indexes" -ge 15 ] || fail "prune deleted $indexes index objects, expected at least 15"
		# One batch of packs, one of index objects, the records: a few
		# POSTs; DELETEs only for what goes alone (the prune lock).
		{ [ "$posts" -ge 2 ] && [ "$posts" -le 6 ]; } ||
			fail "prune sent $posts DeleteObjects requests for $packs packs and $indexes index objects: $(cat "$WORK/prune-stats.json")"
		[ "$dels" -le 2 ] || fail "prune sent $dels DELETE requests: the objects did not go in batches: $(cat "$WORK/prune-stats.json")"
		log "prune over S3: $packs packs and $indexes index objects in $posts DeleteObjects requests and $dels DELETEs (a HEAD and a DELETE each before: $((2 * (packs + indexes))))"
		ok cfs check --read-data --json
		[ "$(json_get "$OUT" .problems)" = 0 ] || fail "check --read-data after the prune over S3 found problems"
		mkdir "$WORK/r-prune"
		ok cfs restore latest "$WORK/r-prune"
		assert_same_tree "$WORK/psrc" "$WORK/r-prune$WORK/psrc"
		CACHE=$WORK/cache-prune-fresh
		[ "$(snap_count)" = 1 ] || fail "a fresh cache lists $(snap_count) snapshots after the prune, expected 1"
		ok cfs check
		log "forget and prune over S3: $((SECONDS - t0)) s"
	else
		log "SKIP forget and prune: the commit time is not forced (chronoctl built without -Dfault_injection=true)"
	fi
	REPO=s3://chronofs-t6001/repos/one
	CACHE=$WORK/cache-fresh
fi

# TLS: verified by default (an unknown CA is refused, naming the
# certificate problem), AWS_CA_BUNDLE trusts the server's own.
if [ -n "$S3_CA" ]; then
	s3_bucket chronofs-t6001-tls
	REPO=s3://chronofs-t6001-tls/r CACHE=$WORK/cache-tls
	AWS_ENDPOINT_URL_S3=https://127.0.0.1:$RGW_TLS_PORT expect_exit 1 cfs init
	expect_in "$ERR" "certificate"
	AWS_ENDPOINT_URL_S3=https://127.0.0.1:$RGW_TLS_PORT AWS_CA_BUNDLE=$S3_CA ok cfs init
	AWS_ENDPOINT_URL_S3=https://127.0.0.1:$RGW_TLS_PORT AWS_CA_BUNDLE=$S3_CA ok cfs snapshot create "$SRC/more"
	mkdir "$WORK/r-tls"
	AWS_ENDPOINT_URL_S3=https://127.0.0.1:$RGW_TLS_PORT AWS_CA_BUNDLE=$S3_CA ok cfs restore latest "$WORK/r-tls"
	assert_same_tree "$SRC/more" "$WORK/r-tls$SRC/more"
	REPO=s3://chronofs-t6001/repos/one CACHE=$WORK/cache-fresh
else
	log "no openssl here: TLS part not run"
fi

# A wrong secret: refused, with the status in the message.
expect_exit 1 env AWS_SECRET_ACCESS_KEY=wrong CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-x" \
	"$CHRONOCTL" --repo "$REPO" snapshot list
expect_in "$ERR" "HTTP 403"
