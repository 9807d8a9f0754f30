# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
#
# s3-lib.sh — real S3 servers for integration tests, on 127.0.0.1, all
# state under $WORK, every server's output in a log file there, stopped by
# PID when the test ends (lib.sh's cleanup). Source it after lib.sh. Two
# kinds, so that interoperability stays tested:
#
#   radosgw  a throwaway single-node Ceph cluster (mon + osd on memstore +
#            radosgw, no mgr, auth none): a full S3 implementation
#            (conditional PUT, Content-MD5, multipart rules), ~13 s to
#            start. TESTING-INFRA.md 1b.
#   s3rver   @20minutes/s3rver 4.0.4 (node), ~0.4 s to start, installed by
#            scripts/install-deps in tests/s3rver/ (S3RVER_DIR): checks
#            SigV4 signatures (a wrong secret is a 403) but not payload
#            hashes, Content-MD5 or conditional requests (If-None-Match: *
#            overwrites); happy paths only. TESTING-INFRA.md 1a.
#
#   need_radosgw           skip (77) unless the Ceph daemons are installed
#   radosgw_start          start the cluster (~13 s); exports AWS_* so that
#                          chronoctl and chronofs reach it, sets S3_ENDPOINT
#                          and S3_PORT; with openssl, radosgw also serves
#                          HTTPS on 127.0.0.1:$RGW_TLS_PORT with a
#                          self-signed certificate, S3_CA (else S3_CA is
#                          empty)
#   need_s3rver            skip (77) unless node and s3rver are installed
#   s3rver_start [BUCKET..] start s3rver with these buckets (~0.4 s); the
#                          same exports and variables; S3RVER_PID, S3RVER_LOG;
#                          its key pair is $S3_KEY/$S3_SECRET and its files
#                          are under $WORK/$S3RVER_NAME (default s3rver):
#                          set both to start a second one beside it
#   s3_bucket NAME         create a bucket
#   s3_curl ARGS...        curl with the test's credentials (SigV4)
#   s3_proxy_start PORT RATE [ARGS...]
#                          put s3-fault-proxy.py on PORT in front of the
#                          server, failing a share RATE (0..1) of requests
#                          (ARGS: more of its options, e.g. --down-after N),
#                          and point AWS_ENDPOINT_URL_S3 at it (S3_ENDPOINT
#                          stays the server's own, for the test's checks)
#   s3_keys PREFIX         the keys under PREFIX, one per line (from the server)
#   s3_bytes PREFIX        their total size in bytes

S3_KEY=chronofs-test-key
S3_SECRET=chronofs-test-secret
# A port nobody listens on now (several test runs may share a machine).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
RGW_PORT=${RGW_PORT:-$(free_port)}
RGW_TLS_PORT=${RGW_TLS_PORT:-$(free_port)}
MON_PORT=${MON_PORT:-$(free_port)}
S3_CA=''
S3_PORT=''
S3RVER_DIR=${S3RVER_DIR:-$SRCDIR/tests/s3rver}

# Point chronoctl and chronofs at the server on 127.0.0.1:$1.
_s3_use_server() {
	S3_PORT=$1
	S3_ENDPOINT=http://127.0.0.1:$1
	export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
	export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_CA_BUNDLE
}

need_radosgw() {
	local t
	for t in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool ceph curl; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is missing (scripts/install-deps installs Ceph)"
	done
}

_s3_wait() { # TRIES CMD...: run CMD every 0.2 s until it succeeds
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

radosgw_start() {
	local D=$WORK/ceph fsid osd_uuid id C tls=''
	mkdir -p "$D"/{mon,osd,run,log}
	# HTTPS as well, with a certificate of its own (S3_CA: its CA file).
	if command -v openssl >/dev/null 2>&1 &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/tls.key" -out "$D/tls.crt" -days 2 \
			-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$D/log/openssl.log" 2>&1; then
		tls=" ssl_endpoint=127.0.0.1:$RGW_TLS_PORT ssl_certificate=$D/tls.crt ssl_private_key=$D/tls.key"
		S3_CA=$D/tls.crt
	fi
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
ms_bind_ipv4 = true
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
keyring = $D/keyring
mon_data = $D/mon/\$id
osd_data = $D/osd/\$id
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = ${RGW_MEMSTORE_BYTES:-2147483648}
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT$tls
rgw_dns_name = 127.0.0.1
ms_mon_client_mode = crc
rgw_thread_pool_size = 64
CONF
	C=(-c "$D/ceph.conf")
	ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >"$D/log/setup.log" 2>&1
	ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
		--cap mgr 'allow *' >>"$D/log/setup.log" 2>&1
	monmaptool --create --add a v2:127.0.0.1:$MON_PORT --fsid "$fsid" "$D/monmap" >>"$D/log/setup.log" 2>&1
	ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" >>"$D/log/setup.log" 2>&1
	ceph-mon "${C[@]}" -i a -f >"$D/log/mon.out" 2>&1 &
	track_pid $!
	_s3_wait 150 ceph "${C[@]}" --connect-timeout 2 mon stat || fail "ceph-mon did not start (see $D/log)"
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph "${C[@]}" osd new "$osd_uuid" 2>>"$D/log/setup.log")
	mkdir -p "$D/osd/$id"
	ceph-osd "${C[@]}" -i "$id" --mkfs --osd-uuid "$osd_uuid" >>"$D/log/setup.log" 2>&1
	ceph-osd "${C[@]}" -i "$id" -f >"$D/log/osd.out" 2>&1 &
	track_pid $!
	for ((i = 0; i < 300; i++)); do
		ceph "${C[@]}" osd stat 2>/dev/null | grep -q '1 up' && break
		sleep 0.2
	done
	radosgw "${C[@]}" -n client.rgw.test -f >"$D/log/rgw.out" 2>&1 &
	track_pid $!
	_s3_wait 600 curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" || fail "radosgw did not answer (see $D/log)"
	radosgw-admin "${C[@]}" user create --uid=test --display-name=test --access-key="$S3_KEY" \
		--secret-key="$S3_SECRET" >>"$D/log/setup.log" 2>&1 || fail "radosgw-admin user create failed"
	_s3_use_server "$RGW_PORT"
	log "radosgw up at $S3_ENDPOINT"
}

need_s3rver() {
	local t
	for t in node curl; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is missing (scripts/install-deps installs it)"
	done
	[ -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ] ||
		skip "s3rver is not installed in $S3RVER_DIR (scripts/install-deps installs it)"
	# Its "engines": node >= 20 (Debian 12's own node is 18).
	[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
		skip "node $(node --version) is older than s3rver 4.0.4 needs (20)"
}

s3rver_start() {
	local D=$WORK/${S3RVER_NAME:-s3rver} port i buckets
	port=$(free_port)
	buckets=$(
		IFS=,
		echo "$*"
	)
	mkdir -p "$D/data"
	S3RVER_LOG=$D/s3rver.log
	(cd "$S3RVER_DIR" && S3_KEY=$S3_KEY S3_SECRET=$S3_SECRET S3_PORT=$port S3_DIR=$D/data S3_BUCKETS=$buckets \
		exec node --openssl-legacy-provider run.js) >"$S3RVER_LOG" 2>&1 &
	S3RVER_PID=$!
	track_pid "$S3RVER_PID"
	for ((i = 0; i < 400; i++)); do
		grep -q '^READY ' "$S3RVER_LOG" && break
		kill -0 "$S3RVER_PID" 2>/dev/null || { cat "$S3RVER_LOG" >&2; fail "s3rver exited at start"; }
		sleep 0.05
	done
	grep -q '^READY ' "$S3RVER_LOG" || { cat "$S3RVER_LOG" >&2; fail "s3rver did not start in 20 s"; }
	_s3_use_server "$port"
	log "s3rver up at $S3_ENDPOINT (pid $S3RVER_PID, log $S3RVER_LOG)"
}

s3_curl() {
	curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

s3_bucket() {
	local code
	code=$(s3_curl -o "$WORK/s3-bucket.out" -w '%{http_code}' -X PUT "$S3_ENDPOINT/$1")
	[ "$code" = 200 ] || { cat "$WORK/s3-bucket.out" >&2; fail "creating bucket $1: HTTP $code"; }
}

s3_proxy_start() {
	local port=$1 rate=$2 ready=$WORK/proxy-$1.ready
	shift 2
	rm -f "$ready"
	python3 "$(dirname "${BASH_SOURCE[0]}")/s3-fault-proxy.py" "$port" "$S3_PORT" --rate "$rate" \
		--seed "${S3_PROXY_SEED:-7}" --ready "$ready" "$@" >"$WORK/proxy-$port.log" 2>&1 &
	S3_PROXY_PID=$!
	track_pid "$S3_PROXY_PID"
	_s3_wait 100 test -s "$ready" || fail "the fault proxy did not start (see $WORK/proxy-$port.log)"
	export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port
	log "fault proxy on port $port, failure rate $rate${*:+, $*}"
}

# ListObjectsV2 straight from the server, every page.
_s3_list_pages() { # PREFIX -> raw XML pages on stdout
	local bucket=${1%%/*} prefix=${1#*/} token="" page=$WORK/s3-list.xml q
	while :; do
		q="list-type=2&prefix=$(printf %s "$prefix" | jq -sRr @uri)"
		[ -z "$token" ] || q="$q&continuation-token=$(printf %s "$token" | jq -sRr @uri)"
		s3_curl -o "$page" "$S3_ENDPOINT/$bucket?$q" || fail "listing $1"
		cat "$page"
		grep -q '<IsTruncated>true</IsTruncated>' "$page" || break
		token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$page")
	done
}

s3_keys() { # BUCKET/PREFIX
	_s3_list_pages "$1" | grep -o '<Key>[^<]*</Key>' | sed 's:<Key>\(.*\)</Key>:\1:'
}

s3_bytes() { # BUCKET/PREFIX
	_s3_list_pages "$1" | grep -o '<Size>[0-9]*</Size>' | tr -dc '0-9\n' | awk '{ s += $1 } END { print s + 0 }'
}
