#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A repository on a second S3 implementation, @20minutes/s3rver 4.0.4 (see
# s3-lib.sh; radosgw is t6001's), so that interoperability stays tested.
# s3rver computes the SigV4 canonical path of a bucket's own requests as
# /BUCKET: a list sent as GET /BUCKET/?list-type=2 failed every init with
# 403 SignatureDoesNotMatch. Through a counting proxy:
#   - init, a snapshot of two packs, an incremental, restores of both
#     compared with their sources, check --read-data;
#   - every kind of request went through and none failed: ListObjectsV2
#     (also many pages of two keys: continuation tokens), PUT, conditional
#     PUT, GET, range GET, HEAD, DELETE, DeleteObjects (POST ?delete);
#   - forget and prune, then check and a restore;
#   - catalog rebuild from the bucket alone (a fresh cache, index/ objects
#     gone) lists and restores the same snapshots;
#   - a wrong secret fails with exit 1 and the HTTP status;
#   - --verbose logs each retry (attempt, request, reason, delay) when the
#     server goes away after the first request, and the command completes
#     when it is back (the fail-fast rule of an endpoint never reached is
#     t6007's).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_s3rver
command -v python3 >/dev/null 2>&1 || skip "python3 is missing (scripts/install-deps installs it)"
command -v jq >/dev/null 2>&1 || skip "jq is missing (scripts/install-deps installs it)"
t0=$SECONDS
s3rver_start chronofs-t6006
s3_bucket chronofs-t6006-made
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0

# --- the round trip --------------------------------------------------------
SRC=$WORK/src
make_fixture "$SRC"
mkdir -p "$SRC/big"
rand_file "$SRC/big/gone" $((2 * 1024 * 1024))
REPO=s3://chronofs-t6006/repos/one
ok cfs init
snap_create "$SRC"
# (The fixture's 18 MiB of file data: more than one 16 MiB pack.)
packs=$(s3_keys chronofs-t6006/repos/one/data/ | wc -l)
[ "$packs" -ge 2 ] || fail "the first snapshot stored $packs pack(s), expected at least 2"
first=$SNAP_ID
cp -a "$SRC" "$WORK/src-first"
printf 'changed on s3rver\n' >>"$SRC/big/added"
rm "$SRC/big/gone"
rand_file "$SRC/big/b" $((1024 * 1024))
snap_create "$SRC"
second=$SNAP_ID
[ "$(json_get "$WORK/snap.json" .type)" = incremental ] || fail "the second snapshot is not incremental"
mkdir "$WORK/r1" "$WORK/r2"
ok cfs restore "$first" "$WORK/r1"
assert_same_tree "$WORK/src-first" "$WORK/r1$SRC"
ok cfs restore "$second" "$WORK/r2"
assert_same_tree "$SRC" "$WORK/r2$SRC"
ok cfs check --read-data --json
[ "$(json_get "$OUT" .problems)" = 0 ] || fail "check --read-data on s3rver found problems"

# A bucket made by a PUT of the test (not at the server's start) serves too.
REPO=s3://chronofs-t6006-made/r CACHE=$WORK/cache-made ok cfs init

# Many pages of two keys: continuation tokens (DES-encrypted by s3rver,
# hence node's legacy provider) are followed to the end.
CACHE=$WORK/cache-pages
CHRONOFS_S3_LIST_PAGE=2 ok cfs snapshot list --json
[ "$(json_get "$OUT" length)" = 2 ] || fail "with two keys a page, $(json_get "$OUT" length) snapshots listed, expected 2"

# --- forget and prune --------------------------------------------------------
CACHE=$WORK/cache
ok cfs forget --keep-last 1
[ "$(snap_count)" = 1 ] || fail "forget --keep-last 1 left $(snap_count) snapshots"
ok cfs prune --json
cp "$OUT" "$WORK/prune.json"
log "prune: $(jq -c . "$WORK/prune.json")"
[ "$(json_get "$WORK/prune.json" .packs_deleted)" -ge 1 ] ||
	fail "prune deleted no pack: $(cat "$WORK/prune.json")"
ok cfs check --read-data --json
[ "$(json_get "$OUT" .problems)" = 0 ] || fail "check --read-data after the prune found problems"
mkdir "$WORK/r3"
ok cfs restore latest "$WORK/r3"
assert_same_tree "$SRC" "$WORK/r3$SRC"

# Every kind of request reached s3rver through the proxy and was answered
# (a failed one would have been retried, or have failed the command).
s3_curl -o "$WORK/stats.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
for kind in GET PUT HEAD DELETE POST "GET range"; do
	n=$(jq --arg k "$kind" '.requests[$k] // 0' "$WORK/stats.json")
	[ "$n" -gt 0 ] || fail "no $kind request reached s3rver: $(cat "$WORK/stats.json")"
done
log "requests through the proxy: $(jq -c .requests "$WORK/stats.json")"
grep -q 'list-type=2' "$S3RVER_LOG" || fail "no ListObjectsV2 in the s3rver log"
grep -q '?delete' "$S3RVER_LOG" || fail "no DeleteObjects in the s3rver log"
if grep -E ' (4[0-9][0-9]|5[0-9][0-9]) ' "$S3RVER_LOG" | grep -vE ' 404 |/locks/|/holds/' | grep -q .; then
	grep -E ' (4[0-9][0-9]|5[0-9][0-9]) ' "$S3RVER_LOG" | head -n 20 >&2
	fail "s3rver refused requests (above)"
fi
kill "$S3_PROXY_PID"
wait_rc "$S3_PROXY_PID"
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT

# --- the catalog rebuilt from the bucket alone --------------------------------
ok cfs snapshot list --json
jq -c '[.[] | {id, name}]' "$OUT" >"$WORK/list-before"
for k in $(s3_keys chronofs-t6006/repos/one/index/); do
	code=$(s3_curl -o /dev/null -w '%{http_code}' -X DELETE "$S3_ENDPOINT/chronofs-t6006/$k")
	[ "$code" = 204 ] || fail "deleting $k: HTTP $code"
done
[ -z "$(s3_keys chronofs-t6006/repos/one/index/)" ] || fail "index/ objects are left"
CACHE=$WORK/cache-rebuilt
ok cfs catalog rebuild
ok cfs snapshot list --json
jq -c '[.[] | {id, name}]' "$OUT" >"$WORK/list-after"
cmp -s "$WORK/list-after" "$WORK/list-before" || {
	diff "$WORK/list-before" "$WORK/list-after" >&2
	fail "the catalog rebuilt from s3rver lists other snapshots"
}
[ -n "$(s3_keys chronofs-t6006/repos/one/index/)" ] || fail "catalog rebuild wrote no index/ object"
mkdir "$WORK/r4"
ok cfs restore latest "$WORK/r4"
assert_same_tree "$SRC" "$WORK/r4$SRC"
log "round trip on s3rver: $((SECONDS - t0)) s"

# --- a wrong secret ----------------------------------------------------------
expect_exit 1 env AWS_SECRET_ACCESS_KEY=wrong CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-x" \
	"$CHRONOCTL" --repo "$REPO" snapshot list
expect_in "$ERR" "HTTP 403"
expect_in "$ERR" "SignatureDoesNotMatch"

# --- retries after the repository was reached, with --verbose ----------------
# The proxy answers the first request (the config), then refuses
# connections for 2 s: the requests after it are retried (an outage, not a
# configuration error), each retry logged, and the listing completes.
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0 --down-after 1 --down-for 2
CACHE=$WORK/cache-outage
s=$SECONDS
ok cfs --verbose snapshot list
elapsed=$((SECONDS - s))
expect_in "$OUT" "$(json_get "$WORK/snap.json" .name)"
grep 'attempt [0-9]* failed' "$ERR" >"$WORK/retries" || true
n=$(wc -l <"$WORK/retries")
[ "$n" -ge 2 ] || { cat "$ERR" >&2; fail "--verbose showed $n retries during a 2 s outage, expected several"; }
expect_in "$WORK/retries" "S3 GET s3://chronofs-t6006/"
expect_in "$WORK/retries" "attempt 1 failed"
expect_in "$WORK/retries" "retrying in"
grep -qiE 'connection refused|reset|recv failure|server returned nothing' "$WORK/retries" ||
	{ cat "$WORK/retries" >&2; fail "the retries do not say why"; }
grep -q 'cannot be reached' "$ERR" && fail "an outage after the first answer was taken for a wrong endpoint"
grep -q 'down after' "$WORK/proxy-$PROXY_PORT.log" || fail "the proxy did not go down"
log "a 2 s outage after the first request: $n retries logged, the listing done in about $elapsed s"
