#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# An S3 endpoint that cannot be reached on the first request of a run is a
# configuration error (no server needed): chronoctl fails within seconds
# (it took 296 s, 38 silent attempts, before), with exit 1, naming the
# endpoint and the reason:
#   - a closed port on 127.0.0.1: "Connection refused", for init and for
#     a command on an existing repository;
#   - a host name that does not resolve (.invalid, RFC 2606): "host not
#     found" and the name;
#   - --verbose shows each attempt before it gives up;
#   - the mount daemon fails as fast, naming the endpoint.
# The long retries after the repository was reached are t6006's (s3rver)
# and t6002's (radosgw).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 is missing (scripts/install-deps installs it)"

export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_CA_BUNDLE
REPO=s3://chronofs-t6007/repo
BOUND=10 # seconds: "within seconds"; it is about 1.2 s here

# run_bounded NAME CMD...: CMD under `timeout 60` (cfs: its own, with
# CFS_TIMEOUT=60), expect exit 1 within $BOUND s; the seconds (to 0.01) go
# to the log and into SECS.
run_bounded() {
	local name=$1 t
	shift
	t=$(date +%s%N)
	if [ "$1" = cfs ]; then
		CFS_TIMEOUT=60 run "$@"
	else
		run timeout 60 "$@"
	fi
	SECS=$((($(date +%s%N) - t) / 10000000))
	SECS=$((SECS / 100)).$(printf '%02d' $((SECS % 100)))
	[ "$RC" = 1 ] || {
		_lib_show_output
		fail "$name: exit $RC, expected 1 (124: still retrying after 60 s)"
	}
	awk -v s="$SECS" -v b="$BOUND" 'BEGIN { exit !(s < b) }' || fail "$name: failed after $SECS s, expected < $BOUND s"
	log "$name: exit 1 after $SECS s"
}

# --- a closed port -----------------------------------------------------------
PORT=$(free_port)
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT
run_bounded "init on a closed port" cfs init
expect_in "$ERR" "S3 endpoint http://127.0.0.1:$PORT cannot be reached"
expect_in "$ERR" "Connection refused"
expect_in "$ERR" "s3://chronofs-t6007/repo/"
run_bounded "snapshot list on a closed port" cfs snapshot list
expect_in "$ERR" "http://127.0.0.1:$PORT"
expect_in "$ERR" "Connection refused"
closed=$SECS

# --verbose: each attempt, its reason and the delay before the next.
run_bounded "--verbose snapshot list on a closed port" cfs --verbose snapshot list
grep 'attempt [0-9]* failed' "$ERR" >"$WORK/attempts" || true
[ "$(wc -l <"$WORK/attempts")" -ge 2 ] || { cat "$ERR" >&2; fail "--verbose showed no retries"; }
expect_in "$WORK/attempts" "attempt 1 failed: Connection refused"
expect_in "$WORK/attempts" "retrying in"
expect_in "$WORK/attempts" "S3 GET s3://chronofs-t6007/repo/config"
expect_in "$ERR" "cannot be reached"

# --- a host name that does not resolve ---------------------------------------
export AWS_ENDPOINT_URL_S3=http://chronofs-test.invalid:9000
run_bounded "snapshot list on an unknown host" cfs snapshot list
expect_in "$ERR" "S3 endpoint http://chronofs-test.invalid:9000 cannot be reached"
expect_in "$ERR" "host not found"
expect_in "$ERR" "chronofs-test.invalid"
CHRONOFS_S3_PATH_STYLE=1 run_bounded "init on an unknown host (path style)" cfs init
expect_in "$ERR" "http://chronofs-test.invalid:9000"
expect_in "$ERR" "host not found"
unknown=$SECS

# --- the mount daemon ----------------------------------------------------------
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT
	mkdir "$WORK/mnt"
	register_mount "$WORK/mnt"
	run_bounded "chronofs -f on a closed port" env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-fs" \
		"$CHRONOFS" -f "$REPO" "$WORK/mnt"
	expect_in "$ERR" "http://127.0.0.1:$PORT"
	expect_in "$ERR" "Connection refused"
	is_mounted "$WORK/mnt" && fail "chronofs mounted an unreachable repository"
else
	log "no FUSE here: the mount daemon is not tried"
fi
log "time to fail: closed port $closed s, unknown host $unknown s"
