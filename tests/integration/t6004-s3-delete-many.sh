#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Batched deletes (cfs_objstore_delete_many, which prune calls) against a
# real radosgw (s3-lib.sh), driven by tests/helpers/objstore-tool, as no
# chronoctl verb deletes many objects on its own:
#   - 1100 names, a duplicate and missing ones among them: all gone, in
#     two DeleteObjects requests (1000 + 103) and nothing else (no
#     HEAD, no DELETE: counted by the fault proxy passing everything);
#   - keys with XML's markup characters, a tab, a CR and UTF-8 go in a
#     batch; one with a control character XML 1.0 cannot carry goes alone
#     (one DELETE);
#   - keys the server refuses to delete (a bucket policy denies
#     s3:DeleteObject under locked/): exit 1, every other key of the batch
#     deleted all the same ("deleted 3 of 5"), each refused key named in
#     the log with the server's code, the protected keys stay;
#   - with 30 % of requests failing (503 before, 500 after the work,
#     connections reset, slow answers): all gone all the same;
#   - power loss in the middle of a batch (the faulty backend's
#     powerloss@601): names 1 to 600 gone, 601 to 1100 there, and a
#     second run over all 1100 names finishes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw
command -v python3 >/dev/null 2>&1 || skip "python3 is missing (scripts/install-deps installs it)"
command -v jq >/dev/null 2>&1 || skip "jq is missing (scripts/install-deps installs it)"
[ -x "${OBJSTORE_TOOL:-}" ] || fail "OBJSTORE_TOOL is not set (tests/helpers/objstore-tool, set by tests/meson.build)"
radosgw_start
s3_bucket chronofs-t6004
B=chronofs-t6004

tool() { "$OBJSTORE_TOOL" "$@"; }

# N pack-like names under data/xx/, in order, one a line.
pack_names() { # N SEED
	local i
	for ((i = 0; i < $1; i++)); do
		printf 'data/%02x/%064x\n' $(((i * 7 + $2) % 256)) $((i * 1000003 + $2))
	done
}

# Store every name of FILE under LOCATION (four writers at once).
put_all() { # LOCATION FILE
	local part pids=() p
	split -n l/4 "$2" "$WORK/part."
	for part in "$WORK"/part.*; do
		tool "$1" put - <"$part" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "storing the names of $2 failed"
	done
	rm -f "$WORK"/part.*
}

proxy_stat() { # JQ-PATH
	s3_curl -o "$WORK/stats.json" "http://127.0.0.1:$PROXY_PORT/__proxy/stats"
	jq "$1 // 0" "$WORK/stats.json"
}

proxy_stop() {
	kill "$S3_PROXY_PID"
	wait_rc "$S3_PROXY_PID"
	export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
}

# --- many names, few requests ----------------------------------------------
L=s3://$B/many
pack_names 1100 1 >"$WORK/names"
put_all "$L" "$WORK/names"
[ "$(tool "$L" list | wc -l)" = 1100 ] || fail "1100 names were stored, the listing says otherwise"
# A duplicate, and names that are not there, among them.
{
	head -n 700 "$WORK/names"
	echo data/00/not-there
	sed -n 700p "$WORK/names"
	tail -n +701 "$WORK/names"
	echo no/such/name
} >"$WORK/delete-list"
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0
run tool "$L" delete - <"$WORK/delete-list"
[ "$RC" = 0 ] || fail "delete of 1103 names: exit $RC: $(cat "$ERR")"
grep -qx 'deleted 1103 of 1103' "$OUT" || fail "delete reported $(cat "$OUT"), expected deleted 1103 of 1103"
[ "$(tool "$L" list | wc -l)" = 0 ] || fail "names left after the delete: $(tool "$L" list | head -n 5)"
posts=$(proxy_stat '.requests.POST') heads=$(proxy_stat '.requests.HEAD') dels=$(proxy_stat '.requests.DELETE')
[ "$posts" = 2 ] || fail "1103 names took $posts DeleteObjects requests, expected 2: $(cat "$WORK/stats.json")"
{ [ "$heads" = 0 ] && [ "$dels" = 0 ]; } || fail "a batched delete sent $heads HEAD and $dels DELETE requests"
log "1103 names (1100 there) deleted in $posts requests"
proxy_stop

# --- keys XML must escape, and one it cannot carry -------------------------
L=s3://$B/odd
printf '%s\n' 'a&b' '<x>' "q\"'" 'sp ace' $'\xc3\xa9t\xc3\xa9' $'tab\tx' $'cr\rx' $'ctl\x01x' >"$WORK/odd"
tool "$L" put - <"$WORK/odd" || fail "storing the odd names"
[ "$(tool "$L" head - <"$WORK/odd" | grep -c '^present ')" = 8 ] || fail "the odd names are not all there"
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0
run tool "$L" delete - <"$WORK/odd"
[ "$RC" = 0 ] || fail "delete of the odd names: exit $RC: $(cat "$ERR")"
tool "$L" head - <"$WORK/odd" >"$WORK/odd.after"
[ "$(grep -c '^absent ' "$WORK/odd.after")" = 8 ] || fail "odd names left: $(grep -a '^present' "$WORK/odd.after")"
{ [ "$(proxy_stat '.requests.POST')" = 1 ] && [ "$(proxy_stat '.requests.DELETE')" = 1 ]; } ||
	fail "the odd names took other requests than one batch and one DELETE: $(cat "$WORK/stats.json")"
proxy_stop

# --- a key the server refuses to delete ------------------------------------
L=s3://$B/pol
code=$(s3_curl -o "$WORK/policy.out" -w '%{http_code}' -X PUT --data-binary \
	'{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::'"$B"'/pol/locked/*"}]}' \
	"$S3_ENDPOINT/$B?policy=")
[ "$code" = 204 ] || [ "$code" = 200 ] || fail "setting the bucket policy: HTTP $code $(cat "$WORK/policy.out")"
printf '%s\n' a locked/b c locked/d e >"$WORK/pol"
tool "$L" put - <"$WORK/pol" || fail "storing the names under pol/"
run tool "$L" delete - <"$WORK/pol"
[ "$RC" = 1 ] || fail "a refused delete: exit $RC, expected 1: $(cat "$OUT" "$ERR")"
grep -qx 'deleted 3 of 5' "$OUT" || fail "a refused delete reported $(cat "$OUT"), expected deleted 3 of 5"
for k in b d; do
	grep -q "s3://$B/pol/locked/$k: AccessDenied" "$ERR" ||
		fail "the log does not name locked/$k and the code: $(cat "$ERR")"
	grep -q "delete locked/$k: Permission denied" "$ERR" || fail "the error is not -EACCES on locked/$k: $(cat "$ERR")"
done
tool "$L" list >"$WORK/pol.after"
[ "$(tr '\n' ' ' <"$WORK/pol.after")" = "locked/b locked/d " ] ||
	fail "after the refused delete, left: $(tr '\n' ' ' <"$WORK/pol.after"), expected the two protected keys"
log "refused: $(grep -a 'AccessDenied' "$ERR" | head -n 1 | sed 's/^[^:]*: [^:]*: //')"
s3_curl -o /dev/null -X DELETE "$S3_ENDPOINT/$B?policy="

# --- 30 % of requests fail ---------------------------------------------------
L=s3://$B/flaky
pack_names 400 2 >"$WORK/flaky"
put_all "$L" "$WORK/flaky"
PROXY_PORT=$(free_port)
s3_proxy_start "$PROXY_PORT" 0.3
run tool "$L" delete - <"$WORK/flaky"
[ "$RC" = 0 ] || fail "delete through the failing proxy: exit $RC: $(cat "$ERR")"
[ "$(tool "$L" list | wc -l)" = 0 ] || fail "names left after the delete through the failing proxy"
log "through the failing proxy: $(proxy_stat '.requests.POST') DeleteObjects requests, faults $(jq -c .faults "$WORK/stats.json")"
proxy_stop

# --- power loss in the middle of a batch -------------------------------------
L=s3://$B/power
pack_names 1100 3 >"$WORK/power"
put_all "$L" "$WORK/power"
CHRONOFS_OBJSTORE_FAULT="powerloss@601,trace=$WORK/trace" run tool "$L" delete - <"$WORK/power"
[ "$RC" = 99 ] || fail "power loss at name 601: exit $RC, expected 99 (the power loss): $(cat "$ERR")"
done_lines=$(grep -c ' delete [^ ]* 0 - 0$' "$WORK/trace" || true)
[ "$done_lines" = 600 ] || fail "the trace holds $done_lines deletes done, expected 600"
grep -q "^601 delete $(sed -n 601p "$WORK/power") 0 powerloss lost$" "$WORK/trace" ||
	fail "the trace does not say the power went at name 601: $(tail -n 1 "$WORK/trace")"
tool "$L" list >"$WORK/power.after"
tail -n +601 "$WORK/power" | sort >"$WORK/power.want"
cmp -s "$WORK/power.after" "$WORK/power.want" ||
	fail "after the power loss at 601: $(wc -l <"$WORK/power.after") names left, expected names 601 to 1100"
run tool "$L" delete - <"$WORK/power"
{ [ "$RC" = 0 ] && grep -qx 'deleted 1100 of 1100' "$OUT"; } || fail "the second run: exit $RC, $(cat "$OUT" "$ERR")"
[ "$(tool "$L" list | wc -l)" = 0 ] || fail "names left after the second run"
log "power loss at name 601 of 1100: 600 gone, 500 left; the second run deleted the rest"
