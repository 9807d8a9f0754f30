#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The command-line contract: --help of the tool and of every verb (exit 0,
# usage on stdout, no repository or passphrase needed, nothing created),
# unknown verbs and options (exit 1), unknown snapshots (exit 1), distinct
# names for snapshots taken within one second, well-formed --json output
# with the documented keys, list order oldest first, tags.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# --- help ------------------------------------------------------------------
# No repository, no passphrase, and a repository path that must stay absent.
nohelp_env=(env -u CHRONOFS_PASSWORD -u CHRONOFS_PASSWORD_FILE CHRONOFS_REPO="$WORK/absent" CHRONOFS_CACHE_DIR="$WORK/absent-cache")
for verb in "" "init" "snapshot" "snapshot create" "snapshot list" "snapshot show" "restore" "check" "catalog" "catalog rebuild" "upgrade"; do
	for h in --help -h; do
		# shellcheck disable=SC2086
		run "${nohelp_env[@]}" "$CHRONOCTL" $verb "$h" </dev/null
		[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "chronoctl $verb $h: exit $RC"; }
		grep -qi 'usage' "$OUT" || { cat "$OUT" >&2; fail "chronoctl $verb $h: no usage on stdout"; }
		if [ -n "$verb" ]; then
			grep -qF -- "${verb##* }" "$OUT" || fail "chronoctl $verb $h: usage does not mention '${verb##* }'"
		fi
	done
done
[ ! -e "$WORK/absent" ] || fail "a --help created the repository directory"
[ ! -e "$WORK/absent-cache" ] || fail "a --help created the cache directory"
# The top-level usage lists every verb.
run "$CHRONOCTL" --help
for v in init snapshot restore check catalog upgrade; do
	grep -qw "$v" "$OUT" || fail "chronoctl --help does not list '$v'"
done

# --- unknown verbs and options ---------------------------------------------------
expect_exit 1 cfs frobnicate
[ -s "$ERR" ] || fail "unknown verb: no message"
expect_exit 1 cfs snapshot frobnicate
expect_exit 1 cfs
expect_exit 1 cfs --no-such-option snapshot list
expect_exit 1 cfs snapshot list --no-such-option
expect_exit 1 cfs init --encryption rot13
# Store tuning: bad values are refused with the option's name.
for bad in "--transfers 0" "--transfers 65" "--transfers x" "--limit-upload -1" "--limit-download 1k"; do
	# shellcheck disable=SC2086 # the option and its value are two words
	expect_exit 1 cfs $bad snapshot list
	expect_in "$ERR" "${bad%% *}"
done
[ ! -e "$REPO/config" ] || fail "init --encryption rot13 created a repository"

ok cfs init

# --- unknown snapshots -----------------------------------------------------------
expect_exit 1 cfs snapshot show latest # no snapshot yet
expect_exit 1 cfs snapshot show nonexistent
[ -s "$ERR" ] || fail "snapshot show nonexistent: no message"
mkdir "$WORK/t0"
expect_exit 1 cfs restore nonexistent "$WORK/t0"
ok cfs snapshot list --json
json_valid "$OUT" || fail "snapshot list --json of an empty repository is not JSON"
[ "$(json_get "$OUT" length)" = 0 ] || fail "snapshot list --json of an empty repository is not []"

# --- names within one second ----------------------------------------------------
SRC=$WORK/src
mkdir "$SRC"
printf 'tiny\n' >"$SRC/f"
names=()
ids=()
# Six quick snapshots: at least two land in the same second on any machine
# where one takes < 0.4 s; all names must be distinct regardless.
for i in 1 2 3 4 5 6; do
	snap_create --tag "t$i" "$SRC"
	cp "$WORK/snap.json" "$WORK/snap$i.json"
	names+=("$SNAP_NAME")
	ids+=("$SNAP_ID")
	# How a name made distinct within one second looks is not fixed; it
	# starts with the time to the second.
	[[ $SNAP_NAME =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2} ]] ||
		fail "snapshot name '$SNAP_NAME' does not start with an RFC 3339 UTC time"
done
[ "$(printf '%s\n' "${names[@]}" | sort -u | wc -l)" = 6 ] || fail "snapshot names not distinct: ${names[*]}"
[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" = 6 ] || fail "snapshot ids not distinct"
same_second=0
for i in 0 1 2 3 4; do
	[ "${names[$i]:0:19}" = "${names[$((i + 1))]:0:19}" ] && same_second=1
done
[ "$same_second" = 1 ] || log "note: no two snapshots fell in the same second (slow machine?)"
# Every one of those names resolves to its own snapshot.
for i in 0 1 2 3 4 5; do
	ok cfs snapshot show --json "${names[$i]}"
	[ "$(json_get "$OUT" .id)" = "${ids[$i]}" ] || fail "name ${names[$i]} resolves to the wrong snapshot"
done
# An ambiguous id prefix is refused (when two ids share a first digit).
dup=$(printf '%s\n' "${ids[@]}" | cut -c1 | sort | uniq -d | head -n 1)
if [ -n "$dup" ]; then
	expect_exit 1 cfs snapshot show "$dup"
fi
ok cfs snapshot show --json latest
[ "$(json_get "$OUT" .id)" = "${ids[5]}" ] || fail "latest is not the newest snapshot"

# --- JSON shape -------------------------------------------------------------------
j=$WORK/snap1.json
json_valid "$j" || fail "create --json: invalid JSON"
for k in id name time paths stats; do
	grep -q "\"$k\"" "$j" || fail "create --json: no \"$k\" key"
done
for k in files_new files_changed files_unchanged files_skipped dirs bytes_read bytes_added blobs_added duration_ns; do
	v=$(json_get "$j" ".stats.$k")
	[[ $v =~ ^[0-9]+$ ]] || fail "create --json: stats.$k = '$v'"
done
grep -qF '"t1"' "$j" || fail "create --json does not show the tag"
[ "$(json_get "$j" '.paths[0]')" = "$SRC" ] || fail "create --json: paths[0] is not $SRC"

ok cfs snapshot list --json
cp "$OUT" "$WORK/list.json"
json_valid "$WORK/list.json" || fail "list --json: invalid JSON"
[ "$(json_get "$WORK/list.json" length)" = 6 ] || fail "list --json: expected 6 snapshots"
for i in 0 1 2 3 4 5; do
	[ "$(json_get "$WORK/list.json" ".[$i].id")" = "${ids[$i]}" ] || fail "list --json: not oldest first (position $i)"
	for k in id name time paths stats; do
		v=$(json_get "$WORK/list.json" ".[$i].$k")
		[ -n "$v" ] && [ "$v" != null ] || fail "list --json: entry $i lacks \"$k\""
	done
done
# Times are RFC 3339 and non-decreasing.
prev=
for i in 0 1 2 3 4 5; do
	t=$(json_get "$WORK/list.json" ".[$i].time")
	ns=$(date -u -d "$t" +%s%N) || fail "list --json: time '$t' does not parse"
	[ -z "$prev" ] || [ "$ns" -ge "$prev" ] || fail "list --json: times not ascending (entry $i: $t)"
	prev=$ns
done

ok cfs snapshot show --json "${ids[2]:0:10}"
json_valid "$OUT" || fail "show --json: invalid JSON"
[ "$(json_get "$OUT" .name)" = "${names[2]}" ] || fail "show --json by id prefix: wrong snapshot"
grep -qF '"t3"' "$OUT" || fail "show --json does not show the tag"

# The text forms mention what they list.
ok cfs snapshot list
for n in "${names[@]}"; do
	grep -qF -- "$n" "$OUT" || fail "snapshot list does not show $n"
done

# --- verbs need their arguments ---------------------------------------------------
expect_exit 1 cfs restore latest
expect_exit 1 cfs restore
expect_exit 1 cfs snapshot show

log "ok: CLI contract"
