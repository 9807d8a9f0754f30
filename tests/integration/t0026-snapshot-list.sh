#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# snapshot list and relative source paths (issue 14):
#   - `snapshot create` takes relative PATHs and records them absolute:
#     "a" from the source directory, "../b" and "." from a directory reached
#     through a symbolic link (the directory part resolved as the kernel
#     does: the physical path), a symbolic link given as the last name is
#     recorded (and captured) as the link; an absolute path with ".." is
#     still refused, and a relative path that does not resolve is named;
#   - the text list has HOST and TAGS columns and the logical SIZE;
#   - --host (any of those given), --tag (every one given), --path (the
#     source set includes it: equal to or below a recorded path; relative
#     ones resolved as create does) filter the text and --json lists alike;
#   - --json carries bytes_total: the sizes of the regular files (streams
#     included), a hard-linked file once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

ok cfs init
S=$WORK/src
mkdir -p "$S/a/sub" "$S/b" "$S/c"
head -c 1000 /dev/urandom >"$S/a/f1000"
head -c 2000 /dev/urandom >"$S/a/sub/f2000"
ln "$S/a/f1000" "$S/a/sub/hard-f1000" # same file: counts once
ln -s f1000 "$S/a/sym"                 # not a regular file: not counted
head -c 300 /dev/urandom >"$S/b/f300"
head -c 50 /dev/urandom >"$S/c/f50"
ln -s a "$S/alink"
ln -s "$S" "$WORK/via-link"

# snap_in DIR ARGS...: snapshot create --json ARGS from DIR.
snap_in() {
	local dir=$1
	shift
	(cd "$dir" && cfs snapshot create --json "$@") >"$OUT" 2>"$ERR" || { RC=$?; _lib_show_output; fail "snapshot create $* in $dir exited $RC"; }
	cp "$OUT" "$WORK/snap.json"
	SNAP_NAME=$(json_get "$WORK/snap.json" .name)
}
paths_of() { jq -r '.paths | join(" ")' "$WORK/snap.json"; }

# --- relative source paths -----------------------------------------------
snap_in "$S" --tag daily --tag db a
[ "$(paths_of)" = "$S/a" ] || fail "\"a\" from $S was recorded as '$(paths_of)', not $S/a"
# 1000 + 2000 (the hard link once) = 3000.
[ "$(json_get "$WORK/snap.json" .bytes_total)" = 3000 ] ||
	fail "bytes_total of $S/a is $(json_get "$WORK/snap.json" .bytes_total), not 3000 (1000 + 2000, the hard link once)"
snapA=$SNAP_NAME
sleep 1.1

# From a directory reached through a symbolic link: "../b" is the physical
# sibling, "." the physical directory; a stream's bytes count too.
snap_in "$WORK/via-link/a" --tag daily --stream '/db/dump=head -c 123 /dev/zero' ../b .
want="$S/b $S/a /db/dump"
[ "$(paths_of)" = "$want" ] || fail "\"../b .\" from $WORK/via-link/a were recorded as '$(paths_of)', not '$want'"
[ "$(json_get "$WORK/snap.json" .bytes_total)" = $((300 + 3000 + 123)) ] ||
	fail "bytes_total with a stream is $(json_get "$WORK/snap.json" .bytes_total), not $((300 + 3000 + 123))"
snapB=$SNAP_NAME
sleep 1.1

# A symbolic link as the last name: recorded and captured as the link.
snap_in "$S" --tag weekly alink
[ "$(paths_of)" = "$S/alink" ] || fail "\"alink\" was recorded as '$(paths_of)', not $S/alink (the link itself)"
[ "$(json_get "$WORK/snap.json" .bytes_total)" = 0 ] || fail "a symlink-only snapshot has bytes_total $(json_get "$WORK/snap.json" .bytes_total)"
ok cfs restore "$SNAP_NAME" "$WORK/r-link"
[ -L "$WORK/r-link$S/alink" ] && [ "$(readlink "$WORK/r-link$S/alink")" = a ] || fail "the restored $S/alink is not the link to a"
snapC=$SNAP_NAME
sleep 1.1

# Refusals name the path.
run sh -c "cd '$S' && CHRONOFS_REPO='$REPO' CHRONOFS_PASSWORD='$PASSWORD' CHRONOFS_CACHE_DIR='$CACHE' '$CHRONOCTL' snapshot create missing/x"
[ "$RC" = 1 ] || fail "a relative path under a missing directory: exit $RC"
expect_in "$ERR" "missing/x" "the error does not name missing/x"
expect_in "$ERR" "No such file" "the error does not say why"
run sh -c "cd '$S' && CHRONOFS_REPO='$REPO' CHRONOFS_PASSWORD='$PASSWORD' CHRONOFS_CACHE_DIR='$CACHE' '$CHRONOCTL' snapshot create not-there"
[ "$RC" = 1 ] || fail "a missing relative path: exit $RC"
expect_in "$ERR" "$S/not-there" "the error does not name the absolute path $S/not-there"
expect_in "$ERR" "No such file" "the error does not say why"
run cfs snapshot create "$S/a/../b"
[ "$RC" = 1 ] || fail "an absolute path with .. was accepted (exit $RC)"
expect_in "$ERR" "$S/a/../b" "the error does not name $S/a/../b"

# A snapshot of another host (a UTS namespace of its own, as root).
other_host=
if unshare -u true 2>/dev/null; then
	other_host=other-host.test
	run unshare -u sh -c "hostname $other_host && cd '$S' && CHRONOFS_REPO='$REPO' CHRONOFS_PASSWORD='$PASSWORD' CHRONOFS_CACHE_DIR='$CACHE' '$CHRONOCTL' snapshot create --tag daily c"
	[ "$RC" = 0 ] || { _lib_show_output; fail "snapshot create as $other_host exited $RC"; }
else
	log "no UTS namespace (not root?): the --host case with two hosts is skipped"
fi
host=$(hostname)

# --- the text list: columns ------------------------------------------------
ok cfs snapshot list
head -n 1 "$OUT" | grep -qE '^NAME +ID +TYPE +HOST +TAGS +SIZE +ADDED +PATHS$' || {
	cat "$OUT" >&2
	fail "the list header is not NAME ID TYPE HOST TAGS SIZE ADDED PATHS"
}
grep -E "^$snapA .* $host +daily,db +2\.9 KiB .* $S/a\$" "$OUT" >/dev/null || { cat "$OUT" >&2; fail "the line of $snapA lacks host $host, tags daily,db or size 2.9 KiB"; }
grep -E "^$snapC .* $host +weekly .* $S/alink\$" "$OUT" >/dev/null || { cat "$OUT" >&2; fail "the line of $snapC lacks host or tags"; }

# check_list WANT ARGS...: the JSON and the text list both show exactly WANT.
check_list() {
	local want=$1 got text
	shift
	ok cfs snapshot list --json "$@"
	json_valid "$OUT" || { _lib_show_output; fail "snapshot list --json $* printed invalid JSON"; }
	got=$(jq -r '.[].name' "$OUT" | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] || fail "snapshot list --json $*: '$got', expected '$want'"
	ok cfs snapshot list "$@"
	text=$(awk 'NR > 1 && $1 ~ /^[0-9]/ { print $1 }' "$OUT" | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$text" = "$want" ] || fail "snapshot list $*: '$text', expected '$want'"
}
all=$(cfs snapshot list --json | jq -r '.[].name' | sort | tr '\n' ' ' | sed 's/ $//')

# --tag: every tag given.
check_list "$snapA" --tag db
check_list "$(printf '%s\n' "$snapA" "$snapB" | sort | tr '\n' ' ' | sed 's/ $//')" --tag daily --host "$host"
check_list "$snapA" --tag daily --tag db
check_list "" --tag daily --tag weekly
check_list "" --tag nosuchtag
# --path: included in the source set (equal or below a recorded path).
check_list "$(printf '%s\n' "$snapA" "$snapB" | sort | tr '\n' ' ' | sed 's/ $//')" --path "$S/a/sub/f2000"
check_list "$snapB" --path /db/dump
check_list "$snapB" --path "$S/a" --path "$S/b"
check_list "$snapC" --path "$S/alink"
check_list "" --path "$S"
check_list "" --path "$S/ab"
# A relative --path resolves as create does (here from the linked directory).
(cd "$WORK/via-link" && cfs snapshot list --json --path b/f300) >"$OUT"
[ "$(jq -r '.[].name' "$OUT")" = "$snapB" ] || fail "--path b/f300 from $WORK/via-link found '$(jq -r '.[].name' "$OUT")', not $snapB"
# --host: any host given.
if [ -n "$other_host" ]; then
	snapD=$(cfs snapshot list --json --host "$other_host" | jq -r '.[].name')
	[ -n "$snapD" ] && [ "$(printf '%s\n' "$snapD" | wc -l)" = 1 ] || fail "--host $other_host found '$snapD', not one snapshot"
	ok cfs snapshot list --host "$other_host"
	grep -qE "^$snapD .* $other_host +daily " "$OUT" || { cat "$OUT" >&2; fail "the text list does not show host $other_host"; }
	check_list "$all" --host "$host" --host "$other_host"
	check_list "$snapD" --tag daily --host "$other_host" --path "$S/c/f50"
	mine=$(printf '%s\n' "$snapA" "$snapB" "$snapC" | sort | tr '\n' ' ' | sed 's/ $//')
	check_list "$mine" --host "$host"
fi
check_list "" --host no-such-host
check_list "$all"

# chronoctl --help shows the options of snapshot create and list.
ok "$CHRONOCTL" --help
for o in --type --exclude --stream --tag --host --path; do
	grep -q -- "$o" "$OUT" || fail "chronoctl --help does not mention $o"
done

# An operand is a usage error.
run cfs snapshot list extra
[ "$RC" = 1 ] || fail "snapshot list with an operand: exit $RC"
log "ok: relative paths recorded absolute, list columns, --host/--tag/--path filters, bytes_total"
