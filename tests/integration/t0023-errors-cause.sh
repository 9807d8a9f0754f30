#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Errors name the real cause (issue 14): each message below is checked for
# the path and the cause it names, not its whole wording.
#   - "Wrong passphrase" only for a key file that does not take the
#     passphrase; an unwritable cache dir (on an unencrypted repository),
#     another user's 0700 repository, HOME=/nonexistent and an S3 store
#     answering 403 each say what failed on which path;
#   - a cache dir that is a file names the cache dir; HOME=/nonexistent is
#     never created (root falls back to /var/cache/chronofs);
#   - a second chronoctl on a held cache says at once for whom it waits (PID
#     and command), on a terminal shows the wait, and names the holder when
#     it gives up;
#   - getopt messages start with "chronoctl:"; unknown verbs and subverbs get
#     a "did you mean"; chronofs names an option given without its value and
#     a mount point that is not a directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"
NOGROUP=$(id -gn nobody)
as_nobody() {
	setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$@"
}
# Fails if $ERR blames the passphrase.
not_passphrase() {
	if grep -qi passphrase "$ERR"; then
		cat "$ERR" >&2
		fail "$1: blamed on the passphrase"
	fi
}

# nobody must reach what it is meant to reach under $WORK.
chmod 0711 "$WORK"
SRC=$WORK/src
mkdir -p "$SRC"
echo hello >"$SRC/a"
ok cfs init
REPO_ID=$(sed -n 's/.*(id \([0-9a-f]\{64\}\).*/\1/p' "$OUT")
[ -n "$REPO_ID" ] || fail "init printed no repository id"
snap_create "$SRC"
PLAIN=$WORK/plain
ok env CHRONOFS_REPO="$PLAIN" "$CHRONOCTL" init --encryption none
PLAIN_ID=$(sed -n 's/.*(id \([0-9a-f]\{64\}\).*/\1/p' "$OUT")
chown -R nobody "$PLAIN"

# --- wrong passphrase: still said as such ------------------------------------------------
run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD=wrong CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot list
[ "$RC" = 1 ] || fail "wrong passphrase: exit $RC"
expect_in "$ERR" "Wrong passphrase for repository $REPO"

# --- a cache dir nobody may write, on an unencrypted repository ------------------------
install -d -m 0755 "$WORK/rootcache"
run as_nobody env CHRONOFS_REPO="$PLAIN" CHRONOFS_CACHE_DIR="$WORK/rootcache" "$CHRONOCTL" snapshot list
[ "$RC" = 1 ] || fail "unwritable cache dir: exit $RC"
expect_in "$ERR" "cache directory $WORK/rootcache"
expect_in "$ERR" "Permission denied"
not_passphrase "unwritable cache dir"

# --- another user's 0700 repository ------------------------------------------------------
chmod 0700 "$REPO"
install -d -o nobody "$WORK/cache-nobody"
run as_nobody env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-nobody" \
	"$CHRONOCTL" snapshot list
[ "$RC" = 1 ] || fail "another user's 0700 repository: exit $RC"
expect_in "$ERR" "repository $REPO"
expect_in "$ERR" "Permission denied"
not_passphrase "another user's 0700 repository"
chmod 0755 "$REPO"

# --- the cache directory is a file ------------------------------------------------------------
: >"$WORK/notadir"
run env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/notadir" \
	"$CHRONOCTL" snapshot list
[ "$RC" = 1 ] || fail "cache dir that is a file: exit $RC"
expect_in "$ERR" "Cannot use cache directory $WORK/notadir"
expect_in "$ERR" "Not a directory"

# --- HOME=/nonexistent --------------------------------------------------------------------------
if [ -e /nonexistent ]; then
	log "/nonexistent exists on this machine: HOME=/nonexistent not tested"
else
	no_home=(env -u XDG_CACHE_HOME -u CHRONOFS_CACHE_DIR HOME=/nonexistent CHRONOFS_REPO="$PLAIN")
	run as_nobody "${no_home[@]}" "$CHRONOCTL" snapshot list
	[ "$RC" = 1 ] || fail "HOME=/nonexistent as nobody: exit $RC"
	expect_in "$ERR" "HOME=/nonexistent does not exist"
	expect_in "$ERR" "CHRONOFS_CACHE_DIR"
	not_passphrase "HOME=/nonexistent"
	[ ! -e /nonexistent ] || fail "HOME=/nonexistent as nobody: /nonexistent was created"
	# As root: the documented fallback, /var/cache/chronofs, and no home.
	if [ -e "/var/cache/chronofs/$PLAIN_ID" ]; then
		fail "/var/cache/chronofs/$PLAIN_ID exists before the test (a fresh repository id)"
	fi
	# Cleanup runs in this order: the catalog, then the directory if this
	# test made it.
	at_exit "rm -rf /var/cache/chronofs/$PLAIN_ID"
	[ -d /var/cache/chronofs ] || at_exit 'rmdir /var/cache/chronofs 2>/dev/null || true'
	ok "${no_home[@]}" "$CHRONOCTL" snapshot list
	[ ! -e /nonexistent ] || { rm -rf /nonexistent; fail "HOME=/nonexistent as root: /nonexistent was created"; }
	[ -d "/var/cache/chronofs/$PLAIN_ID" ] || fail "HOME=/nonexistent as root: no catalog under /var/cache/chronofs"
fi

# --- a 403 from an S3 store ---------------------------------------------------------------------
# A server that refuses every request as S3 does for a wrong secret.
if command -v python3 >/dev/null; then
	cat >"$WORK/deny.py" <<'EOF'
import http.server, sys
BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>'
        b'<Message>The request signature we calculated does not match</Message></Error>')
class H(http.server.BaseHTTPRequestHandler):
    def deny(self):
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(BODY)
    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = deny
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
EOF
	python3 "$WORK/deny.py" "$WORK/deny.port" &
	track_pid $!
	for ((i = 0; i < 50; i++)); do
		[ -s "$WORK/deny.port" ] && break
		sleep 0.1
	done
	[ -s "$WORK/deny.port" ] || fail "the 403 server did not start"
	run env CHRONOFS_REPO=s3://bucket/repo CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
		AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=wrong AWS_REGION=us-east-1 \
		AWS_ENDPOINT_URL_S3="http://127.0.0.1:$(cat "$WORK/deny.port")" \
		timeout 60 "$CHRONOCTL" snapshot list
	[ "$RC" = 1 ] || fail "S3 403: exit $RC"
	expect_in "$ERR" "refused access (HTTP 403)"
	expect_in "$ERR" "s3://bucket/repo"
	not_passphrase "S3 403"
else
	log "no python3: the S3 403 case is not tested"
fi

# --- a second chronoctl on a held cache ---------------------------------------------------------
# The holder: a backup reading its stdin from a FIFO this test keeps open.
mkfifo "$WORK/hold.fifo"
exec 7<>"$WORK/hold.fifo"
# (Not cfs_bg: an asynchronous command's stdin is /dev/null unless it is
# redirected on that very command.)
env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" snapshot create --stdin-path /hold <"$WORK/hold.fifo" >"$WORK/hold.out" 2>"$WORK/hold.err" 7>&- &
HOLDER=$!
track_pid "$HOLDER"
LOCK=$CACHE/$REPO_ID/lock
for ((i = 0; i < 100; i++)); do
	[ "$(cat "$LOCK" 2>/dev/null)" = "$HOLDER" ] && break
	sleep 0.1
done
[ "$(cat "$LOCK" 2>/dev/null)" = "$HOLDER" ] || fail "the holder (PID $HOLDER) did not take the lock $LOCK"

# Off a terminal: one line at once, the holder named when it gives up.
run cfs --lock-wait 1 snapshot create "$SRC"
[ "$RC" = 1 ] || fail "second writer with --lock-wait 1: exit $RC"
expect_in "$ERR" "waiting for process $HOLDER (" "no line saying for whom it waits"
expect_in "$ERR" "snapshot create --stdin-path /hold" "the holder's command is not named"
expect_in "$ERR" "process $HOLDER (" "the timeout does not name the holder"
expect_in "$ERR" "gave up after 1 s"
[ "$(grep -c 'waiting for' "$ERR")" = 1 ] || fail "off a terminal the wait is said more than once"

# On a terminal: the same line, then a status line with the seconds waited.
cmd=$(printf '%q ' env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" --lock-wait 2 snapshot create "$SRC")
RC=0
timeout 60 script -qec "$cmd" /dev/null >"$WORK/tty.out" 2>&1 </dev/null || RC=$?
[ "$RC" = 1 ] || { cat -v "$WORK/tty.out" >&2; fail "second writer on a terminal: exit $RC"; }
expect_in "$WORK/tty.out" "waiting for process $HOLDER ("
expect_in "$WORK/tty.out" "Waiting for process $HOLDER (" "no status line on the terminal"
expect_in "$WORK/tty.out" " s of 2 s" "the status line does not count the seconds"
expect_in "$WORK/tty.out" "gave up after 2 s"

exec 7>&-
wait_rc "$HOLDER"
[ "$WAIT_RC" = 0 ] || { cat "$WORK/hold.err" >&2; fail "the holder failed: exit $WAIT_RC"; }

# --- getopt and typos --------------------------------------------------------------------------
for argv in "init --bogus" "snapshot create --bogus" "--bogus snapshot list"; do
	# shellcheck disable=SC2086
	run "$CHRONOCTL" $argv </dev/null
	[ "$RC" = 1 ] || fail "chronoctl $argv: exit $RC"
	grep -q "^chronoctl: unrecognized option '--bogus'" "$ERR" || { cat "$ERR" >&2; fail "chronoctl $argv: getopt's message does not start with chronoctl:"; }
done
run "$CHRONOCTL" snapshots
[ "$RC" = 1 ] || fail "chronoctl snapshots: exit $RC"
expect_in "$ERR" 'did you mean "snapshot"'
run "$CHRONOCTL" restor
expect_in "$ERR" 'did you mean "restore"'
run "$CHRONOCTL" snapshot lst
[ "$RC" = 1 ] || fail "chronoctl snapshot lst: exit $RC"
expect_in "$ERR" 'did you mean "snapshot list"'
run "$CHRONOCTL" frobnicate
grep -q "did you mean" "$ERR" && fail "chronoctl frobnicate: a suggestion for a word like no verb"

# --- chronofs: an option without its value, a file as mount point --------------------------------
if [ -x "${CHRONOFS:-}" ]; then
	mkdir -p "$WORK/mnt"
	run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" -f -o snapshot "$REPO" "$WORK/mnt"
	[ "$RC" = 1 ] || fail "chronofs -o snapshot: exit $RC"
	expect_in "$ERR" "snapshot needs a value"
	run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" -f -o snapshto=latest "$REPO" "$WORK/mnt"
	expect_in "$ERR" 'did you mean "snapshot"'
	: >"$WORK/afile"
	run env CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" timeout 60 "$CHRONOFS" -f "$REPO" "$WORK/afile"
	[ "$RC" = 1 ] || fail "chronofs on a regular file: exit $RC"
	expect_in "$ERR" "$WORK/afile"
	expect_in "$ERR" "Not a directory"
	is_mounted "$WORK/afile" && fail "chronofs mounted on a regular file"
else
	log "CHRONOFS is not set: the chronofs option errors are not tested"
fi

log "ok"
