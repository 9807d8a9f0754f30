#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The basic cycle on the edge-case fixture: init, snapshot create, list,
# show (by name, id prefix, latest), restore of the whole snapshot, of one
# directory and of one file, each compared with treecmp.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$WORK/src
make_fixture "$SRC"
# A pristine copy: backup and restore must not change the source at all.
cp -a "$SRC" "$WORK/pristine"

ok cfs init
[ -f "$REPO/config" ] || fail "init did not create $REPO/config"
[ -n "$(ls -A "$REPO/keys")" ] || fail "init wrote no key file"

before=$(date -u +%s)
snap_create "$SRC"
after=$(date -u +%s)
id=$SNAP_ID
name=$SNAP_NAME
cp "$WORK/snap.json" "$WORK/create.json"

# The name is the UTC time of the snapshot, RFC 3339 to the second.
[[ $name =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z) ]] ||
	fail "snapshot name '$name' does not start with an RFC 3339 UTC time"
t=$(date -u -d "${BASH_REMATCH[1]}" +%s) || fail "cannot parse the time in name '$name'"
[ "$t" -ge $((before - 2)) ] && [ "$t" -le $((after + 2)) ] ||
	fail "snapshot name '$name' is not the creation time ($before..$after)"
[[ $id =~ ^[0-9a-f]{8,}$ ]] || fail "snapshot id '$id' is not lower-case hex"

# JSON fields promised by the contract.
v=$(json_get "$WORK/create.json" .time)
[ -n "$v" ] && [ "$v" != null ] || fail "create --json lacks \"time\""
grep -qF -- "\"$SRC\"" "$WORK/create.json" || fail "create --json \"paths\" does not list $SRC"
for k in files_new files_changed files_unchanged files_skipped dirs bytes_read bytes_added blobs_added duration_ns; do
	v=$(json_get "$WORK/create.json" ".stats.$k")
	[[ $v =~ ^[0-9]+$ ]] || fail "create --json: stats.$k is '$v', expected a non-negative integer"
done
[ "$(json_get "$WORK/create.json" .stats.files_new)" -gt 0 ] || fail "stats.files_new is 0 on a first backup"
[ "$(json_get "$WORK/create.json" .stats.files_changed)" -eq 0 ] || fail "stats.files_changed > 0 on a first backup"
# (files_unchanged is not checked: extra names of hard links may count there.)
[ "$(json_get "$WORK/create.json" .stats.dirs)" -gt 10 ] || fail "stats.dirs too small"
[ "$(json_get "$WORK/create.json" .stats.bytes_read)" -gt $((18 * 1024 * 1024)) ] ||
	fail "stats.bytes_read is smaller than the fixture's data"
[ "$(json_get "$WORK/create.json" .stats.blobs_added)" -gt 0 ] || fail "stats.blobs_added is 0"
for d in data index snapshots; do
	[ -n "$(ls -A "$REPO/$d")" ] || fail "no object in $REPO/$d after snapshot create"
done

# list (text and JSON) shows exactly this snapshot.
ok cfs snapshot list
expect_in "$OUT" "$name" "snapshot list does not show $name"
ok cfs snapshot list --json
cp "$OUT" "$WORK/list.json"
json_valid "$WORK/list.json" || fail "snapshot list --json is not JSON"
[ "$(json_get "$WORK/list.json" length)" = 1 ] || fail "snapshot list --json: expected 1 snapshot"
[ "$(json_get "$WORK/list.json" '.[0].id')" = "$id" ] || fail "snapshot list --json: wrong id"
[ "$(json_get "$WORK/list.json" '.[0].name')" = "$name" ] || fail "snapshot list --json: wrong name"

# show resolves latest, the name, a unique id prefix and the full id.
for ref in latest "$name" "${id:0:8}" "$id"; do
	ok cfs snapshot show --json "$ref"
	json_valid "$OUT" || fail "snapshot show --json $ref is not JSON"
	[ "$(json_get "$OUT" .id)" = "$id" ] || fail "snapshot show $ref: wrong id"
	[ "$(json_get "$OUT" .name)" = "$name" ] || fail "snapshot show $ref: wrong name"
	ok cfs snapshot show "$ref"
	expect_in "$OUT" "$id" "snapshot show $ref (text) does not print the id"
done

# Full restore: TARGET/<absolute source path> equals the source.
mkdir "$WORK/t1"
ok cfs restore latest "$WORK/t1"
assert_same_tree "$SRC" "$WORK/t1$SRC"
# Nothing but the source path appears under the target.
[ "$(find "$WORK/t1" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] || fail "restore created unrelated entries in the target"

# Restore by name, of one directory.
mkdir "$WORK/t2"
ok cfs restore "$name:$SRC/hard" "$WORK/t2"
assert_same_tree "$SRC/hard" "$WORK/t2$SRC/hard"
[ ! -e "$WORK/t2$SRC/files" ] || fail "restore of $SRC/hard also restored $SRC/files"

# Restore by id prefix, of one file: only that file is created.
mkdir "$WORK/t3"
ok cfs restore "${id:0:12}:$SRC/files/multi-chunk-9m" "$WORK/t3"
assert_same_tree "$SRC/files/multi-chunk-9m" "$WORK/t3$SRC/files/multi-chunk-9m"
[ "$(find "$WORK/t3" ! -type d | wc -l)" = 1 ] || fail "restore of one file created other files"

# One file with odd metadata: setuid, foreign owner.
mkdir "$WORK/t4"
ok cfs restore "latest:$SRC/modes/file-4755" "$WORK/t4"
assert_same_tree "$SRC/modes/file-4755" "$WORK/t4$SRC/modes/file-4755"

# A path that is not in the snapshot fails.
mkdir "$WORK/t5"
expect_exit 1 cfs restore "latest:$SRC/no/such/file" "$WORK/t5"
[ -z "$(find "$WORK/t5" ! -type d)" ] || fail "restore of a missing path created files"

# Restoring twice into fresh targets gives the same result (no state leaks).
mkdir "$WORK/t6"
ok cfs restore "$id" "$WORK/t6"
assert_same_tree "$SRC" "$WORK/t6$SRC"

# Neither backup nor restore touched the source (e.g. by hard-linking
# restored files to the original paths).
assert_same_tree "$WORK/pristine" "$SRC"

# A lost cache is rebuilt from the repository: restore with an empty one.
CACHE=$WORK/cache-new
mkdir "$WORK/t7"
ok cfs restore "$name:$SRC/xattrs" "$WORK/t7"
assert_same_tree "$SRC/xattrs" "$WORK/t7$SRC/xattrs"

log "ok: snapshot $name ($id) round trip"
