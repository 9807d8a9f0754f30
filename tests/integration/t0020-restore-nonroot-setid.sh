#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A restore by a user who cannot set the recorded owner or group never
# creates a setuid or setgid file its user could not have made (issue 12,
# finding 7): as `nobody`, a 4755 root file comes back 0755, a 2755 root:root
# file 0755, each with a warning naming the path and the bit dropped; a
# setuid file nobody owns and a setgid file of nobody's group keep their
# bits (the owner or group was preserved, so nothing is gained); a setgid
# directory keeps its bit (group inheritance, not a privilege). As root,
# everything comes back exactly.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"
NOGROUP=$(id -gn nobody)

SRC=$WORK/src
mkdir -p "$SRC/sgid-dir"
for f in suid-root sgid-root both-root suid-nobody sgid-nogroup plain; do
	printf '#!/bin/sh\necho %s\n' "$f" >"$SRC/$f"
done
printf 'inside\n' >"$SRC/sgid-dir/file"
chown root:root "$SRC/suid-root" "$SRC/sgid-root" "$SRC/both-root" "$SRC/plain" "$SRC/sgid-dir"
chmod 4755 "$SRC/suid-root"
chmod 2755 "$SRC/sgid-root"
chmod 6755 "$SRC/both-root"
chown nobody:root "$SRC/suid-nobody"
chmod 4755 "$SRC/suid-nobody"
chown root:"$NOGROUP" "$SRC/sgid-nogroup"
chmod 2755 "$SRC/sgid-nogroup"
chmod 0644 "$SRC/plain"
chmod 2775 "$SRC/sgid-dir"

ok cfs init
snap_create "$SRC"

# As root: owners and every bit exactly as recorded.
ok cfs restore latest "$WORK/t-root"
assert_same_tree "$SRC" "$WORK/t-root$SRC"
[ "$(stat -c %a:%U "$WORK/t-root$SRC/both-root")" = 6755:root ] || fail "root restore changed both-root"

# nobody needs to reach the repository, a cache of its own and the target.
chmod 0711 "$WORK"
chown -R nobody "$REPO"
install -d -o nobody "$WORK/cache-nobody" "$WORK/t-nobody"
as_nobody() {
	setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
		env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-nobody" \
		timeout -k 10 300 "$CHRONOCTL" "$@"
}
ok as_nobody restore latest "$WORK/t-nobody"
cp "$ERR" "$WORK/nobody.err"
R=$WORK/t-nobody$SRC

mode() { stat -c %a "$R/$1"; }
for f in suid-root sgid-root both-root suid-nobody sgid-nogroup plain sgid-dir/file; do
	cmp -s "$SRC/$f" "$R/$f" || fail "$f: restored bytes differ"
	[ "$(stat -c %U "$R/$f")" = nobody ] || fail "$f: owned by $(stat -c %U "$R/$f"), not by the restoring user"
done
[ "$(mode suid-root)" = 755 ] || fail "suid-root restored as $(mode suid-root) by nobody (setuid kept without its owner)"
[ "$(mode sgid-root)" = 755 ] || fail "sgid-root restored as $(mode sgid-root)"
[ "$(mode both-root)" = 755 ] || fail "both-root restored as $(mode both-root)"
[ "$(mode suid-nobody)" = 4755 ] || fail "suid-nobody (owner preserved) restored as $(mode suid-nobody)"
[ "$(mode sgid-nogroup)" = 2755 ] || fail "sgid-nogroup (group preserved) restored as $(mode sgid-nogroup)"
[ "$(mode plain)" = 644 ] || fail "plain restored as $(mode plain)"
[ "$(mode sgid-dir)" = 2775 ] || fail "the setgid directory restored as $(mode sgid-dir) (its setgid bit is kept)"

# Each drop is said, with the path and the bit; nothing else is warned about.
grep -F "$SRC/suid-root" "$WORK/nobody.err" | grep -qw setuid || {
	cat "$WORK/nobody.err" >&2
	fail "no warning names suid-root and its setuid bit"
}
grep -F "$SRC/sgid-root" "$WORK/nobody.err" | grep -qw setgid || {
	cat "$WORK/nobody.err" >&2
	fail "no warning names sgid-root and its setgid bit"
}
grep -F "$SRC/both-root" "$WORK/nobody.err" | grep -w setuid | grep -qw setgid || {
	cat "$WORK/nobody.err" >&2
	fail "no warning names both-root with setuid and setgid"
}
for f in suid-nobody sgid-nogroup plain sgid-dir; do
	! grep -qF "$SRC/$f" "$WORK/nobody.err" || {
		cat "$WORK/nobody.err" >&2
		fail "a warning about $f, which lost nothing"
	}
done

# A sub-path restore goes the same way.
install -d -o nobody "$WORK/t-one"
ok as_nobody restore "latest:$SRC/both-root" "$WORK/t-one"
[ "$(stat -c %a "$WORK/t-one$SRC/both-root")" = 755 ] || fail "sub-path restore kept setuid/setgid"
expect_in "$ERR" setuid

log "ok: restore as nobody drops setuid/setgid it cannot own, and says so"
