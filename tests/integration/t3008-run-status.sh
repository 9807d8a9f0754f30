#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chronoctl run and status around the backup itself (issue 15), on the fake
# clock (CHRONOFS_TEST_NOW, test builds only):
#  1. a job with a copy repository: backed up, copied (copies 2 met), its
#     post_hook sees CHRONOFS_HOOK, CHRONOFS_RESULT and CHRONOFS_SNAPSHOT;
#  2. status --json: last success, age, RPO, next due, bytes, copies,
#     repositories; exit 0 within the RPO, 2 once now > next due + RPO;
#  3. a job whose lock another process holds (flock from this script) is
#     skipped with that PID, exit 0, nothing taken;
#  4. a failing pre_hook fails the job (exit 1), nothing is committed, and
#     post_hook still runs and is told "failed"; status shows the failure;
#     a pre_hook past hook_timeout is killed and fails the job;
#  5. a failing stream command fails the job with its exit status and
#     stderr, and commits nothing;
#  6. --jobs 2 runs the jobs of two repositories in two processes (their
#     hooks have different parents), --jobs 1 in one; a job whose process
#     dies fails alone, the other process's job succeeds.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"
command -v flock >/dev/null || skip "flock(1) is not installed"
run env CHRONOFS_TEST_NOW=not-a-time "$CHRONOCTL" --help
[ "$RC" -ne 0 ] || skip "chronoctl built without -Dfault_injection=true (no fake clock)"

export TZ=UTC
CONF=$WORK/chronofs.conf
STATE=$WORK/state
R1=$WORK/r1
R2=$WORK/r2
printf '%s\n' "$PASSWORD" >"$WORK/pass"
mkdir -p "$WORK/src/a" "$WORK/src/b" "$WORK/hooks"
head -c 30000 /dev/urandom >"$WORK/src/a/data"
echo b >"$WORK/src/b/file"

# Hooks and the stream as scripts: what they record goes to $WORK/hooks.
# (pre_hook = exec SCRIPT: the script replaces the shell, so its $PPID is
# the chronoctl process that runs the job.)
cat >"$WORK/hooks/ppid.sh" <<'EOF'
#!/bin/sh
echo "$PPID" >"$1"
EOF
cat >"$WORK/hooks/post.sh" <<'EOF'
#!/bin/sh
echo "$CHRONOFS_HOOK $CHRONOFS_JOB $CHRONOFS_RESULT $CHRONOFS_SNAPSHOT" >>"$1"
EOF
cat >"$WORK/hooks/no.sh" <<'EOF'
#!/bin/sh
echo "pre-hook says no" >&2
exit 7
EOF
cat >"$WORK/hooks/dump.sh" <<'EOF'
#!/bin/sh
echo "partial row"
echo "dump: database mydb does not exist" >&2
exit 2
EOF
chmod +x "$WORK/hooks"/*.sh
H=$WORK/hooks

cat >"$CONF" <<EOF
[global]
state_dir = $STATE

[repository r1]
location = $R1
password_file = $WORK/pass
cache_dir = $CACHE

[repository r2]
location = $R2
password_file = $WORK/pass
cache_dir = $CACHE
offsite = yes

[repository empty]
location = $WORK/empty
password_file = $WORK/pass
cache_dir = $CACHE

[tier t]
schedule = *-*-* 00/6:00:00
full = Mon *-*-* 00:00:00
differential = never
incremental = *-*-* 00/6:00:00
keep = last:10
prune = never
rpo = 1h

[tier t2]
schedule = *-*-* 00/6:00:00
full = Mon *-*-* 00:00:00
differential = never
incremental = *-*-* 00/6:00:00
keep = last:10
prune = never
rpo = 1h
copies = 2

[job a]
tier = t2
repository = r1
repository = r2
path = $WORK/src/a
pre_hook = exec $H/ppid.sh $H/ppid.a
post_hook = $H/post.sh $H/post.a

[job b]
tier = t
repository = r2
path = $WORK/src/b
pre_hook = exec $H/ppid.sh $H/ppid.b

[job failpre]
tier = t
repository = r1
path = $WORK/src/a
pre_hook = $H/no.sh
post_hook = $H/post.sh $H/post.failpre

[job slowpre]
tier = t
repository = r1
path = $WORK/src/a
pre_hook = sleep 30
hook_timeout = 1s

[job crash]
tier = t
repository = r1
path = $WORK/src/a
pre_hook = kill -9 \$PPID

[job norepo]
tier = t
repository = empty
path = $WORK/src/a

[job dump]
tier = t
repository = r1
stream = /db/all.sql=$H/dump.sh
EOF

crun() {
	local t=$1
	shift
	CHRONOFS_TEST_NOW=$t timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" --config "$CONF" "$@"
}
count() { # snapshots in repository $1
	CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$1" --cache-dir "$CACHE" snapshot list --json | jq length
}
for r in "$R1" "$R2"; do
	CHRONOFS_PASSWORD=$PASSWORD "$CHRONOCTL" --repo "$r" --cache-dir "$CACHE" init >/dev/null
done
T0=2026-03-02T00:00:00Z

# --- 1. backup, copy, hooks ------------------------------------------------
# (CHRONOFS_RESULT inherited from the caller must not reach the hook.)
CHRONOFS_RESULT=inherited ok crun "$T0" run a --json
[ "$(jq -r '.[0] | [.result, .type, .snapshot, .copies_ok, .copies_failed] | join(" ")' "$OUT")" = "ok full $T0 1 0" ] ||
	fail "run a: $(cat "$OUT")"
[ "$(count "$R1")/$(count "$R2")" = 1/1 ] || fail "a: $(count "$R1") snapshot(s) in r1, $(count "$R2") in r2; 1 and 1 expected"
[ "$(cat "$H/post.a")" = "post a ok $T0" ] || fail "post_hook of a saw: $(cat "$H/post.a")"
[ -s "$H/ppid.a" ] || fail "pre_hook of a did not run"

# --- 2. status --------------------------------------------------------------
expect_exit 0 crun 2026-03-02T01:00:00Z status --json a
J=$WORK/status.json
cp "$OUT" "$J"
q() { jq -r "$1" "$J"; }
[ "$(q '.jobs[0] | [.job, .tier, .repository, .snapshots, .last_success, .age_seconds, .rpo_seconds, .next_due, .overdue] | map(tostring) | join(" ")')" = \
	"a t2 r1 1 $T0 3600 3600 2026-03-02T06:00:00Z false" ] || fail "status of a: $(cat "$J")"
[ "$(q '.jobs[0] | [.bytes, .copies_wanted, .min_copies, .snapshots_below_copies, .snapshots_offsite, .last_attempt.result, .last_failure] | map(tostring) | join(" ")')" = \
	"30000 2 2 0 1 ok null" ] || fail "status of a (bytes, copies, attempt): $(cat "$J")"
[ "$(q '[.repositories[].name] | join(" ")')" = "r1 r2" ] || fail "status repositories: $(cat "$J")"
[ "$(q '.repositories[0].growth_7d > 0 and (.repositories[0].free_bytes | type) == "number" and .repositories[0].bytes > 0 and .repositories[0].packs > 0')" = true ] ||
	fail "status of r1 (growth, free space of a local repository): $(cat "$J")"
# Within next due + RPO (06:00 + 1 h): not overdue; a second past it: overdue.
expect_exit 0 crun 2026-03-02T07:00:00Z status a
expect_in "$OUT" "job a (tier t2, repository r1): ok"
expect_exit 2 crun 2026-03-02T07:00:01Z status --json a
[ "$(jq -r '[.overdue, .jobs[0].overdue] | map(tostring) | join(" ")' "$OUT")" = "true true" ] ||
	fail "status past next due + RPO: $(cat "$OUT")"
expect_exit 2 crun 2026-03-02T07:00:01Z status a
expect_in "$OUT" "OVERDUE"

# --- 3. a job that is running elsewhere is skipped ---------------------------
exec 9>>"$STATE/jobs/a.lock"
flock -n 9 || fail "cannot take a.lock for the test"
: >"$STATE/jobs/a.lock"
echo $$ >&9
ok crun 2026-03-02T06:00:00Z run a --json
[ "$(jq -r '.[0] | [.result, .running_pid] | map(tostring) | join(" ")' "$OUT")" = "skipped $$" ] ||
	fail "run a while a.lock is held: $(cat "$OUT")"
ok crun 2026-03-02T06:00:00Z run --due a
expect_in "$OUT" "a: skipped: already running (PID $$)"
expect_in "$ERR" "Job a is already running (PID $$), skipped"
expect_exit 0 crun 2026-03-02T06:00:00Z status --json a
[ "$(jq -r '.jobs[0].running_pid' "$OUT")" = $$ ] || fail "status while a.lock is held: $(cat "$OUT")"
exec 9>&-
expect_exit 0 crun 2026-03-02T06:00:00Z status --json a
[ "$(jq -r '.jobs[0].running_pid' "$OUT")" = null ] || fail "status once a.lock is released: $(cat "$OUT")"
[ "$(count "$R1")" = 1 ] || fail "a skipped job took a snapshot"

# --- 4. hooks that fail -----------------------------------------------------
expect_exit 1 crun 2026-03-02T06:00:00Z run failpre
expect_in "$OUT" 'failpre: failed: pre_hook `'"$H"'/no.sh` exited with status 7; nothing was backed up'
expect_in "$ERR" "pre-hook says no"
[ "$(count "$R1")" = 1 ] || fail "a job whose pre_hook failed committed a snapshot"
[ "$(cat "$H/post.failpre")" = "post failpre failed " ] || fail "post_hook after a failed pre_hook saw: $(cat "$H/post.failpre" 2>&1)"
grep -qx 'result=failed' "$STATE/jobs/failpre.last" || fail "failpre.last: $(cat "$STATE/jobs/failpre.last")"
expect_exit 0 crun 2026-03-02T06:30:00Z status --json failpre
[ "$(jq -r '.jobs[0] | [.last_failure.time, .failing_since, .overdue] | map(tostring) | join(" ")' "$OUT")" = \
	"2026-03-02T06:00:00Z 2026-03-02T06:00:00Z false" ] || fail "status of failpre: $(cat "$OUT")"
jq -r '.jobs[0].last_failure.reason' "$OUT" | grep -qF 'exited with status 7' || fail "status of failpre: $(cat "$OUT")"
# Failing for longer than the RPO without any snapshot: overdue.
expect_exit 2 crun 2026-03-02T07:00:01Z status failpre

expect_exit 1 crun 2026-03-02T06:00:00Z run slowpre --json
# shellcheck disable=SC2016 # the backquotes are the message's
jq -r '.[0].reason' "$OUT" | grep -qF 'pre_hook `sleep 30` timed out after 1 s (killed)' ||
	fail "a pre_hook past hook_timeout: $(cat "$OUT")"
[ "$(count "$R1")" = 1 ] || fail "a job whose pre_hook timed out committed a snapshot"

# --- 5. a failing stream ----------------------------------------------------
expect_exit 1 crun 2026-03-02T06:00:00Z run dump --json
reason=$(jq -r '.[0].reason' "$OUT")
case $reason in
"the stream for /db/all.sql failed: \`$H/dump.sh\` exited with status 2"*"dump: database mydb does not exist"*"nothing was committed"*) ;;
*) fail "a failing stream: reason \"$reason\"" ;;
esac
[ "$(jq -r '.[0].snapshot' "$OUT")" = null ] || fail "a failing stream: $(cat "$OUT")"
[ "$(count "$R1")" = 1 ] || fail "a failing stream committed a snapshot"
grep -q 'mydb does not exist' "$STATE/jobs/dump.last" || fail "dump.last: $(cat "$STATE/jobs/dump.last")"

# --- 6. two repositories, two processes ---------------------------------------
rm -f "$H/ppid.a" "$H/ppid.b"
ok crun 2026-03-02T12:00:00Z run --jobs 2 --json a b
[ "$(jq -r '[.[] | .job + ":" + .result] | sort | join(" ")' "$OUT")" = "a:ok b:ok" ] || fail "run --jobs 2 a b: $(cat "$OUT")"
[ "$(cat "$H/ppid.a")" != "$(cat "$H/ppid.b")" ] || fail "--jobs 2: the jobs of r1 and r2 ran in one process"
rm -f "$H/ppid.a" "$H/ppid.b"
ok crun 2026-03-02T18:00:00Z run --jobs 1 --json a b
[ "$(cat "$H/ppid.a")" = "$(cat "$H/ppid.b")" ] || fail "--jobs 1: the jobs ran in two processes"
[ "$(count "$R1")/$(count "$R2")" = 3/5 ] ||
	fail "after three runs of a (copied) and two of b: r1 $(count "$R1"), r2 $(count "$R2"); 3 and 5 expected"
# --tier: the jobs of that tier only; a job the file does not have: refused.
ok crun 2026-03-02T23:00:00Z run --tier t2 --json
[ "$(jq -r '[.[] | .job] | join(" ")' "$OUT")" = a ] || fail "run --tier t2: $(cat "$OUT")"
expect_exit 1 crun 2026-03-02T23:00:00Z run a nosuchjob
expect_in "$ERR" "No job \"nosuchjob\" in $CONF"
[ ! -s "$OUT" ] || fail "run with an unknown job ran something: $(cat "$OUT")"

# A job that kills its own process (a crash) fails alone: the other
# repository's job, in its own process, goes on.
expect_exit 1 crun 2026-03-03T00:00:00Z run --jobs 2 --json crash b
[ "$(jq -r '[.[] | .job + ":" + .result] | sort | join(" ")' "$OUT")" = "b:ok crash:failed" ] ||
	fail "run --jobs 2 crash b: $(cat "$OUT")"
[ "$(jq -r '.[] | select(.job == "crash") | .reason' "$OUT")" = "its process was killed by signal 9 (Killed)" ] ||
	fail "a crashed job's reason: $(cat "$OUT")"
grep -qx 'reason=its process was killed by signal 9 (Killed)' "$STATE/jobs/crash.last" ||
	fail "crash.last: $(cat "$STATE/jobs/crash.last")"

# A repository that cannot be opened: the job's reason is what the open
# said (path and cause), in the run's line and in the state file that
# status shows later, not an errno's words.
mkdir -p "$WORK/empty"
expect_exit 1 crun 2026-03-03T00:00:00Z run --json norepo
[ "$(jq -r '.[0].reason' "$OUT")" = "cannot open repository empty: $WORK/empty is not a chronofs repository (no valid config object)" ] ||
	fail "norepo's reason: $(cat "$OUT")"
grep -qx "reason=cannot open repository empty: $WORK/empty is not a chronofs repository (no valid config object)" \
	"$STATE/jobs/norepo.last" || fail "norepo.last: $(cat "$STATE/jobs/norepo.last")"
log "ok"
