#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bad input fails cleanly: wrong or missing passphrase, ".." or missing
# source paths, a directory that is not a repository, a repository from a
# newer version, init over an existing repository: exit 1, a clear message,
# and not one byte of the repository changed. Unreadable source files give
# exit 3, are named on stderr, and the snapshot is committed without them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
mkdir -p "$SRC/d"
printf 'hello\n' >"$SRC/d/f"
head -c 300000 /dev/urandom >"$SRC/r"

ok cfs init
snap_create "$SRC"
first_id=$SNAP_ID

digest() { repo_digest "$REPO" >"$WORK/digest.$1"; }
same_digest() { # BEFORE AFTER WHAT
	if ! cmp -s "$WORK/digest.$1" "$WORK/digest.$2"; then
		diff "$WORK/digest.$1" "$WORK/digest.$2" >&2 || true
		fail "$3 changed the repository"
	fi
}
digest base

# --- wrong passphrase ----------------------------------------------------
PASSWORD='wrong passphrase'
mkdir "$WORK/wrong-t"
for cmd in "snapshot list" "snapshot create $SRC" "check" "restore latest $WORK/wrong-t"; do
	# shellcheck disable=SC2086
	expect_exit 1 cfs $cmd
	grep -qiE 'passphrase|password' "$ERR" || { cat "$ERR" >&2; fail "$cmd with a wrong passphrase: no message about the passphrase"; }
	[ "$(grep -c . "$ERR")" -eq 1 ] || { cat "$ERR" >&2; fail "$cmd with a wrong passphrase: expected one line on stderr"; }
	[ ! -s "$OUT" ] || fail "$cmd with a wrong passphrase printed on stdout"
done
[ -z "$(ls -A "$WORK/wrong-t")" ] || fail "restore with a wrong passphrase wrote files"
PASSWORD='correct horse battery staple'
digest wrongpass
same_digest base wrongpass "a wrong passphrase"

# --- no passphrase at all, no terminal -------------------------------------
# setsid: no controlling terminal, so /dev/tty cannot be opened either.
run env -u CHRONOFS_PASSWORD -u CHRONOFS_PASSWORD_FILE CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" \
	timeout 60 setsid -w "$CHRONOCTL" snapshot list </dev/null
[ "$RC" = 1 ] || { cat "$ERR" >&2; fail "no passphrase and no terminal: exit $RC, expected 1"; }
[ -s "$ERR" ] || fail "no passphrase and no terminal: no message"

# --- --password-file and CHRONOFS_PASSWORD_FILE ------------------------------
printf '%s' "$PASSWORD" >"$WORK/pass"
chmod 600 "$WORK/pass"
run env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" --password-file "$WORK/pass" snapshot show latest </dev/null
[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "--password-file: exit $RC"; }
expect_in "$OUT" "$first_id" "--password-file: snapshot show latest does not show the snapshot"
run env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" CHRONOFS_PASSWORD_FILE="$WORK/pass" \
	"$CHRONOCTL" snapshot show latest </dev/null
[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "CHRONOFS_PASSWORD_FILE: exit $RC"; }
printf 'not it' >"$WORK/badpass"
run env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" --password-file "$WORK/badpass" snapshot list </dev/null
[ "$RC" = 1 ] || fail "--password-file with a wrong passphrase: exit $RC, expected 1"
run env -u CHRONOFS_PASSWORD CHRONOFS_REPO="$REPO" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" --password-file "$WORK/no-such-file" snapshot list </dev/null
[ "$RC" = 1 ] || fail "--password-file with a missing file: exit $RC, expected 1"
# --repo on the command line works as well as the environment variable.
run env -u CHRONOFS_REPO CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$CACHE" \
	"$CHRONOCTL" --repo "$REPO" snapshot show latest
[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "--repo: exit $RC"; }
digest pwfile
same_digest base pwfile "reading with --password-file"

# --- missing and ".." source paths ---------------------------------------------
# (Relative paths are made absolute since issue 14: t0026.)
for args in "src/nonexistent" "./nonexistent-$$" "$SRC/../src/d/../../src/nonexistent" "$SRC/../src" "/nonexistent-$$" "$SRC /nonexistent-$$" "src nonexistent-$$"; do
	# shellcheck disable=SC2086
	run bash -c 'cd "$1" && shift && exec "$@"' _ "$WORK" env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" \
		CHRONOFS_CACHE_DIR="$CACHE" "$CHRONOCTL" snapshot create $args
	[ "$RC" = 1 ] || { cat "$ERR" >&2; fail "snapshot create $args: exit $RC, expected 1"; }
	[ -s "$ERR" ] || fail "snapshot create $args: no message"
done
# No paths at all.
expect_exit 1 cfs snapshot create
digest badpaths
same_digest base badpaths "snapshot create with bad paths"
[ "$(snap_count)" = 1 ] || fail "a failed snapshot create added a snapshot"

# --- not a repository ------------------------------------------------------------
mkdir "$WORK/notrepo"
printf 'just a file\n' >"$WORK/notrepo/config.txt"
REPO=$WORK/notrepo
expect_exit 1 cfs snapshot list
grep -qiE 'repositor|config' "$ERR" || { cat "$ERR" >&2; fail "not a repository: message does not say so"; }
expect_exit 1 cfs snapshot create "$SRC"
[ "$(find "$WORK/notrepo" | wc -l)" = 2 ] || fail "snapshot create wrote into a directory that is not a repository"
REPO=$WORK/does-not-exist
expect_exit 1 cfs snapshot list
[ ! -e "$WORK/does-not-exist" ] || fail "snapshot list created the repository directory"
REPO=$WORK/repo

# --- init over an existing repository ----------------------------------------------
expect_exit 1 cfs init
[ -s "$ERR" ] || fail "init over an existing repository: no message"
PASSWORD='another passphrase'
expect_exit 1 cfs init
PASSWORD='correct horse battery staple'
digest reinit
same_digest base reinit "init over an existing repository"

# --- a repository from the future --------------------------------------------------
cp -a "$REPO" "$WORK/future"
# config: "CFSCONF\x01" magic, then the format version as u32 LE at offset 8.
[ "$(head -c 8 "$WORK/future/config" | od -An -c | tr -d ' ')" = 'CFSCONF001' ] ||
	fail "config does not start with the CFSCONF\\x01 magic: $(head -c 12 "$WORK/future/config" | od -An -tx1)"
[ "$(dd if="$WORK/future/config" bs=1 skip=8 count=4 status=none | od -An -tx1 | tr -d ' ')" = 03000000 ] ||
	fail "config version field at offset 8 is not 3"
printf '\x63\x00\x00\x00' | dd of="$WORK/future/config" bs=1 seek=8 conv=notrunc status=none
REPO=$WORK/future
CACHE=$WORK/cache-future
repo_digest "$REPO" >"$WORK/digest.future0"
for cmd in "snapshot list" "snapshot create $SRC" "check"; do
	# shellcheck disable=SC2086
	expect_exit 1 cfs $cmd
	grep -qi 'version' "$ERR" || { cat "$ERR" >&2; fail "$cmd on a version-99 repository: message does not mention the version"; }
done
repo_digest "$REPO" >"$WORK/digest.future1"
cmp -s "$WORK/digest.future0" "$WORK/digest.future1" || fail "commands on a version-99 repository changed it"
REPO=$WORK/repo
CACHE=$WORK/cache

# --- unreadable files: exit 3, named, snapshot committed without them ----------------
# Root reads everything, so chronoctl runs as nobody over a tree with a
# root-only file and a root-only directory.
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"
ngroup=$(id -gn nobody)
chmod 755 "$WORK"
U=$WORK/u
mkdir -p "$U/src/sub" "$U/src/locked-dir"
printf 'readable\n' >"$U/src/readable"
printf 'readable too\n' >"$U/src/sub/also"
printf 'secret\n' >"$U/src/secret"
printf 'hidden\n' >"$U/src/locked-dir/inside"
chown -R nobody:"$ngroup" "$U"
chown root:root "$U/src/secret" "$U/src/locked-dir" "$U/src/locked-dir/inside"
chmod 600 "$U/src/secret"
chmod 700 "$U/src/locked-dir"
asnobody() {
	env CHRONOFS_REPO="$U/repo" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$U/cache" HOME="$U" \
		setpriv --reuid=nobody --regid="$ngroup" --clear-groups "$CHRONOCTL" "$@"
}
expect_exit 0 asnobody init
expect_exit 3 asnobody snapshot create --json "$U/src"
cp "$OUT" "$WORK/partial.json"
cp "$ERR" "$WORK/partial.err"
grep -qF "$U/src/secret" "$WORK/partial.err" || { cat "$WORK/partial.err" >&2; fail "exit 3 but $U/src/secret is not named on stderr"; }
grep -qi 'permission denied' "$WORK/partial.err" || { cat "$WORK/partial.err" >&2; fail "exit 3 but the reason is not given"; }
grep -qF "locked-dir" "$WORK/partial.err" || { cat "$WORK/partial.err" >&2; fail "exit 3 but the unreadable directory is not named"; }
grep -qF "$U/src/readable" "$WORK/partial.err" && fail "a readable file is reported as unreadable"
json_valid "$WORK/partial.json" || fail "snapshot create --json with exit 3 printed invalid JSON"
[ "$(json_get "$WORK/partial.json" .stats.files_skipped)" -ge 1 ] || fail "stats.files_skipped does not count the unreadable file"
expect_exit 0 asnobody snapshot list --json
[ "$(json_get "$OUT" length)" = 1 ] || fail "the snapshot with unreadable files was not committed"
expect_exit 0 asnobody check --read-data
# Restore as root with the same repository: the readable files are there.
REPO=$U/repo
CACHE=$WORK/cache-root-u
mkdir "$WORK/ut"
ok cfs restore latest "$WORK/ut"
R=$WORK/ut$U/src
cmp -s "$U/src/readable" "$R/readable" || fail "readable file not restored"
cmp -s "$U/src/sub/also" "$R/sub/also" || fail "readable file in a subdirectory not restored"
[ ! -e "$R/secret" ] || fail "the unreadable file was restored (with what content?)"
[ ! -e "$R/locked-dir/inside" ] || fail "a file in the unreadable directory was restored"

log "ok: bad input rejected cleanly"
