#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t5003's loop over S3 (a real radosgw on loopback, s3-lib.sh): power loss,
# torn and short writes and failures at the Nth store operation of a full
# and an incremental backup into s3://BUCKET/PREFIX, fewer points than
# locally (powerloss every other N, the others every third, at offsets that
# between them hit every operation), each checked with the cache kept and
# with a fresh one exactly as in t5003 (powerloss-lib.sh says what a point
# checks). Over S3 packs travel four at a time, so the Nth operation may be
# another pack than in the clean run, and packs before it may still have
# been in flight (the trace tells which had ended). The states a point
# starts from are kept under saved/ in the bucket and copied back
# (server-side CopyObject) into the emptied working prefix.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_radosgw
# shellcheck source-path=SCRIPTDIR source=powerloss-lib.sh
. "$(dirname "$0")/powerloss-lib.sh"

KINDS=${T6003_KINDS:-powerloss:2:1 short:3:2 fail:3:3 torn:3:1}
BUCKET=chronofs-t6003
WORKING=repo
SRC=$WORK/src
DUMP=$WORK/dump.sql
STREAM=/t6003/dump.sql

# "KEY SIZE" of every object under BUCKET/PREFIX/, sorted. (One request:
# a point's prefixes hold a few dozen objects, far below a page; awk, as
# python3 takes longer to start than the request.)
s3_objects() { # PREFIX
	s3_curl -o "$WORK/list.xml" "$S3_ENDPOINT/$BUCKET?list-type=2&prefix=${1//\//%2F}%2F" || fail "listing $1"
	grep -q '<IsTruncated>false</IsTruncated>' "$WORK/list.xml" || fail "listing $1: $(head -c 300 "$WORK/list.xml")"
	awk -v RS='<Contents>' 'NR > 1 {
		k = $0; sub(/.*<Key>/, "", k); sub(/<\/Key>.*/, "", k)
		s = $0; sub(/.*<Size>/, "", s); sub(/<\/Size>.*/, "", s)
		print k, s
	}' "$WORK/list.xml" | sort
}

# Requests "METHOD KEY [COPY-SOURCE-KEY]" from stdin, all in one curl (a
# process per request cost more than the requests); each must succeed.
s3_batch() {
	local args=() method key src code
	while read -r method key src; do
		[ ${#args[@]} = 0 ] || args+=(--next)
		args+=(-sS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET"
			-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o /dev/null -w '%{http_code}\n' -X "$method")
		[ -z "$src" ] || args+=(-H "x-amz-copy-source: /$BUCKET/$src")
		args+=("$S3_ENDPOINT/$BUCKET/$key")
	done
	[ ${#args[@]} != 0 ] || return 0
	curl "${args[@]}" >"$WORK/batch.codes" || fail "S3 requests failed"
	! grep -qv '^20[04]$' "$WORK/batch.codes" || fail "S3 requests answered $(sort -u "$WORK/batch.codes" | tr '\n' ' ')"
}

s3_delete_all() { # PREFIX
	s3_objects "$1" | awk '{ print "DELETE", $1 }' | s3_batch
}

s3_copy_all() { # FROM TO
	s3_objects "$1" | awk -v from="$1/" -v to="$2/" '{ print "PUT", to substr($1, length(from) + 1), $1 }' | s3_batch
}

pl_state_save() {
	local saved
	saved=saved/$(basename "$1")
	rm -rf "$1"
	mkdir -p "$1" "$CACHE"
	s3_delete_all "$saved"
	s3_copy_all "$WORKING" "$saved"
	cp -a "$CACHE" "$1/cache"
}
pl_state_load() {
	s3_delete_all "$WORKING"
	s3_copy_all "saved/$(basename "$1")" "$WORKING"
	rm -rf "$CACHE"
	cp -a "$1/cache" "$CACHE"
}
# The checks with a fresh cache run on a copy under after/.
PL_FRESH_REPO=s3://$BUCKET/after
pl_store_mark() {
	s3_delete_all after
	s3_copy_all "$WORKING" after
}

radosgw_start
s3_bucket "$BUCKET"
REPO=s3://$BUCKET/$WORKING
pl_run "$KINDS"
