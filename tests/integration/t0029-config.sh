#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The configuration file (issue 15, chronofs.conf(5)): `config check`
# prints the effective configuration with the built-in tiers' defaults; a
# [tier NAME] of a built-in name overrides key by key, a new one starts from
# normal; the text output loads back to the same configuration; every
# error class is refused with its exact "FILE:LINE: reason", all of them in
# one run, and nothing is printed; --config wins over CHRONOFS_CONFIG,
# which wins over /etc/chronofs/chronofs.conf; `--repo NAME` takes the
# location, password file and cache directory of [repository NAME], with
# options given on the command line winning.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

C=$CHRONOCTL

# --- help ----------------------------------------------------------------------
for v in "config" "config check"; do
	# shellcheck disable=SC2086
	ok "$C" $v --help
	expect_in "$OUT" "Usage: chronoctl config check [--json]"
done
run "$C" --help
grep -qF "config check [--json]" "$OUT" || fail "chronoctl --help does not list config check"
grep -qF -- "--config FILE" "$OUT" || fail "chronoctl --help does not list --config"
expect_exit 1 "$C" config chek
expect_in "$ERR" 'Unknown config verb "chek" (did you mean "config check"?)'
expect_exit 1 "$C" config check extra

# --- a good file: defaults, overrides, a new tier -------------------------
GOOD=$WORK/good.conf
cat >"$GOOD" <<'EOF'
# A server: PostgreSQL, /etc and /srv, a local and an off-site repository.
[global]
state_dir = /var/lib/chronofs-test

[repository local]
location = /srv/backup/chronofs
password_file = /etc/chronofs/local.pass
cache_dir = /var/cache/chronofs/local

[repository offsite]
location = s3://backups/server1
offsite = yes
transfers = 8
limit_upload = 2048
disk_cache_size = 0

[tier important]
keep = last:2 daily:7 tag:audit
copies = 2

[tier scratch]
schedule = Mon..Fri *-*-* 02:30
rpo = 1d12h

[job db]
tier = important
repository = local
repository = offsite
stream = /postgresql/all.sql=pg_dumpall -U postgres ; echo done >&2
pre_hook = sync; sync
hook_timeout = 90s

[job files]
repository = local
path = /etc
path = /srv/my files/
exclude = /srv/cache/
exclude = *.tmp
tag = with space
one_file_system = yes
exclude_caches = true
EOF
ok "$C" --config "$GOOD" config check --json
J=$WORK/good.json
cp "$OUT" "$J"
jq -e . "$J" >/dev/null || fail "config check --json is not JSON"
q() { jq -r "$1" "$J"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: \"$1\", expected \"$2\""; }

expect_eq "$(q .path)" "$GOOD" "path"
expect_eq "$(q .global.state_dir)" /var/lib/chronofs-test "state_dir"
expect_eq "$(q .global.jobs)" 1 "jobs (default)"
expect_eq "$(q '[.tiers[].name] | join(",")')" critical,important,normal,archive,scratch "tiers"
# The built-in tiers as chronofs.conf(5) lists them.
expect_eq "$(q '.tiers[0] | [.schedule, .full, .differential, .incremental, .keep, .prune, .copies, .rpo_s, .rto_s, .builtin_only] | map(tostring) | join("|")')" \
	'*-*-* *:00:00|Mon *-*-* 00:00:00|*-*-* 00/6:00:00|*-*-* *:00:00|forever|null|1|300|1800|true' "critical"
expect_eq "$(q '.tiers[2] | [.schedule, .full, .differential, .incremental, .keep, .prune, .copies, .rpo_s, .rto_s] | map(tostring) | join("|")')" \
	'*-*-* 00:00:00|Mon *-*-* 00:00:00|null|*-*-* 00:00:00|daily:31 weekly:13 monthly:3|Mon *-*-* 00:00:00|1|14400|28800' "normal"
expect_eq "$(q '.tiers[3] | [.schedule, .full, .differential, .incremental, .keep, .prune, .rpo, .rto] | map(tostring) | join("|")')" \
	'Mon *-*-* 00:00:00|Mon *-*-* 00:00:00|null|null|weekly:8 monthly:84|*-*-01 00:00:00|null|null' "archive"
expect_eq "$(q '.tiers[3].keep_rules | [.weekly, .monthly] | map(tostring) | join(",")')" 8,84 "archive keep_rules"
# important: keep and copies overridden, the rest as built in.
expect_eq "$(q '.tiers[1] | [.schedule, .incremental, .differential, .keep, .copies, .rpo, .rto, .builtin_only, .line] | map(tostring) | join("|")')" \
	'*-*-* 00/6:00:00|*-*-* 00/6:00:00|null|last:2 daily:7 tag:audit|2|30min|2h|false|17' "important overridden"
expect_eq "$(q '.tiers[1].keep_rules | [.last, .daily, (.tags | join(","))] | map(tostring) | join(",")')" 2,7,audit "important keep_rules"
# scratch: schedule and rpo given, the rest from normal.
expect_eq "$(q '.tiers[4] | [.schedule, .incremental, .keep, .prune, .rpo, .rpo_s, .rto] | map(tostring) | join("|")')" \
	'Mon..Fri *-*-* 02:30:00|*-*-* 00:00:00|daily:31 weekly:13 monthly:3|Mon *-*-* 00:00:00|1d12h|129600|8h' "scratch"
# Repositories, with their defaults.
expect_eq "$(q '.repositories[0] | [.name, .location, .password_file, .cache_dir, .offsite, .transfers, .limit_upload, .disk_cache_size] | map(tostring) | join("|")')" \
	'local|/srv/backup/chronofs|/etc/chronofs/local.pass|/var/cache/chronofs/local|false|0|0|null' "repository local"
expect_eq "$(q '.repositories[1] | [.name, .location, .password_file, .offsite, .transfers, .limit_upload, .limit_download, .disk_cache_size] | map(tostring) | join("|")')" \
	'offsite|s3://backups/server1|null|true|8|2048|0|0' "repository offsite"
# Jobs: the tier by default, repositories in order, a " ; " kept in a
# command (no inline comments), paths normalized, defaults.
expect_eq "$(q '.jobs[0] | [.name, .tier, (.repository | join(",")), .stream[0].path, .stream[0].command, .pre_hook, .hook_timeout_s, (.path | length)] | map(tostring) | join("|")')" \
	'db|important|local,offsite|/postgresql/all.sql|pg_dumpall -U postgres ; echo done >&2|sync; sync|90|0' "job db"
expect_eq "$(q '.jobs[1] | [.tier, (.path | join(",")), (.exclude | join(",")), (.tag | join(",")), .one_file_system, .exclude_caches, .pre_hook, .hook_timeout, .hook_timeout_s] | map(tostring) | join("|")')" \
	'normal|/etc,/srv/my files|/srv/cache,*.tmp|with space|true|true|null|5min|300' "job files"

# The text form is a configuration file that loads to the same thing.
ok "$C" --config "$GOOD" config check
cp "$OUT" "$WORK/effective.conf"
expect_in "$WORK/effective.conf" '[tier critical]'
expect_in "$WORK/effective.conf" 'stream = /postgresql/all.sql=pg_dumpall -U postgres ; echo done >&2'
ok "$C" --config "$WORK/effective.conf" config check --json
strip_lines='del(.path) | walk(if type == "object" then del(.line, .builtin_only) else . end)'
[ "$(jq -S "$strip_lines" "$OUT")" = "$(jq -S "$strip_lines" "$J")" ] ||
	fail "the printed configuration does not load back to the same one"
ok "$C" --config "$WORK/effective.conf" config check
cmp -s <(grep -v '^#' "$OUT") <(grep -v '^#' "$WORK/effective.conf") ||
	fail "config check of its own output prints something else"

# A minimal file: no [global], no jobs; a long value line is taken whole.
long=$(printf 'x%.0s' $(seq 5000))
printf '[repository r]\nlocation = /%s\n' "$long" >"$WORK/min.conf"
ok "$C" --config "$WORK/min.conf" config check --json
[ "$(jq -r '.repositories[0].location | length' "$OUT")" = 5001 ] || fail "a 5001-byte value was cut"
[ "$(jq -r '.jobs | length' "$OUT")" = 0 ] || fail "jobs of a file without any"
[ "$(jq -r '.global.state_dir' "$OUT")" = /var/lib/chronofs ] || fail "default state_dir for root"

# The examples of chronofs.conf(5) and the README load as they are.
awk '/^\.EX$/ { getline; if ($0 ~ /^# \/etc\/chronofs/) p = 1 } p && /^\.EE/ { exit } p' \
	"$SRCDIR/man/chronofs.conf.5" | sed 's/\\-/-/g' >"$WORK/man-example.conf"
[ "$(wc -l <"$WORK/man-example.conf")" -gt 40 ] || fail "the example of chronofs.conf(5) was not found"
ok "$C" --config "$WORK/man-example.conf" config check
expect_in "$OUT" "keep = daily:31 weekly:13 monthly:12"
awk '/^```ini$/ { p = 1; next } p && /^```$/ { exit } p' "$SRCDIR/README.md" >"$WORK/readme.conf"
[ -s "$WORK/readme.conf" ] || fail "the README's example was not found"
ok "$C" --config "$WORK/readme.conf" config check

# --- every error class, with its exact message ------------------------------
# bad_conf TEXT LINE MESSAGE: a file of TEXT (printf format) fails config
# check with exactly "chronoctl: error: FILE:LINE: MESSAGE", prints nothing.
n=0
bad_conf() {
	n=$((n + 1))
	local f=$WORK/bad$n.conf
	# shellcheck disable=SC2059
	printf "$1" >"$f"
	expect_exit 1 "$C" --config "$f" config check
	[ ! -s "$OUT" ] || fail "bad$n: config check printed a configuration"
	grep -qxF -- "chronoctl: error: $f:$2: $3" "$ERR" || {
		cat "$ERR" >&2
		fail "bad$n: no \"$f:$2: $3\""
	}
	grep -qxF -- "chronoctl: error: $f: 1 error: configuration not loaded" "$ERR" ||
		fail "bad$n: not exactly one error: $(cat "$ERR")"
}
R='[repository r]\nlocation = /r\n'
# syntax
bad_conf 'key = 1\n' 1 '"key" outside any section: start with [global], [repository NAME], [tier NAME] or [job NAME]'
bad_conf "$R"'just words\n' 3 '"just words": KEY = VALUE, [SECTION] or a comment expected'
bad_conf "$R"'[job a\n' 3 "section header without ']'"
bad_conf "$R"'[job a] x\n' 3 "text after the section header's ']'"
bad_conf "$R"'password_file =\n' 3 'password_file has no value'
bad_conf "$R""cache_dir = /$(printf 'y%.0s' $(seq 16400))\n" 3 'line longer than 16384 bytes'
# sections
bad_conf '[jbo a]\n' 1 'unknown section type [jbo] (did you mean [job NAME]?)'
bad_conf '[frobnicate]\n' 1 'unknown section type [frobnicate]: [global], [repository NAME], [tier NAME] or [job NAME] expected'
bad_conf '[job]\n' 1 '[job] needs a name: [job NAME]'
bad_conf '[global x]\n' 1 '[global] takes no name ("x")'
bad_conf '[job a/b]\n' 1 "invalid job name \"a/b\": 1 to 64 letters, digits, '-', '_' and '.', not starting with '-' or '.'"
bad_conf "$R"'[repository r]\nlocation = /s\n' 3 'duplicate section [repository r] (first at line 1)'
bad_conf '[global]\n[global]\n' 2 'duplicate section [global] (first at line 1)'
# keys
bad_conf '[repository r]\nlocaton = /r\nlocation = /r\n' 2 'unknown key "locaton" in [repository r] (did you mean "location"?)'
bad_conf "$R"'[tier t]\nschedule = daily\nschedule = weekly\n' 5 'schedule given twice in [tier t] (first at line 4)'
bad_conf "$R"'[tier t]\nzzz = 1\n' 4 'unknown key "zzz" in [tier t]'
# values
bad_conf '[global]\njobs = 0\n' 2 'jobs "0": a number from 1 to 256 expected'
bad_conf '[global]\nstate_dir = var/lib\n' 2 'state_dir "var/lib": an absolute path without ".." expected'
bad_conf '[repository r]\nlocation = backups\n' 2 'location "backups": an absolute path or a URL (s3://BUCKET/PREFIX, file:///PATH) expected'
bad_conf "$R"'offsite = maybe\n' 3 'offsite "maybe": yes or no expected'
bad_conf "$R"'transfers = 65\n' 3 'transfers "65": a number from 1 to 64 expected'
bad_conf "$R"'limit_download = 1.5\n' 3 'limit_download "1.5": KiB per second expected (0: no limit)'
bad_conf "$R"'disk_cache_size = -1\n' 3 'disk_cache_size "-1": MiB expected (0: none)'
bad_conf "$R"'password_file = /a/../b\n' 3 'password_file "/a/../b": an absolute path without ".." expected'
bad_conf '[tier t]\nschedule = every day\n' 2 'schedule "every day": not a calendar expression (systemd.time(7) OnCalendar syntax, such as daily, hourly, Mon..Fri *-*-* 02:00)'
bad_conf '[tier t]\nfull = Mon..Fry\n' 2 'full "Mon..Fry": not a calendar expression (systemd.time(7) OnCalendar syntax, such as daily, hourly, Mon..Fri *-*-* 02:00, or never)'
bad_conf '[tier t]\nschedule = never\n' 2 'schedule cannot be never: a tier runs on a schedule'
bad_conf '[tier t]\nkeep = houry:48 daily:30\n' 2 'unknown keep rule "houry:48" (did you mean "hourly:"?)'
bad_conf '[tier t]\nkeep = daily:30 weekly:0\n' 2 "keep rule \"weekly:0\": a count of 1 or more expected after the ':'"
bad_conf '[tier t]\nkeep = daily:30 daily:7\n' 2 'keep rule daily given twice (only tag: may repeat)'
bad_conf '[tier t]\nkeep = within:2 months\n' 2 'keep rule "within:2": a duration such as 7d, 1y6m or 36h expected'
bad_conf '[tier t]\nkeep = daily:99999999999\n' 2 'keep rule "daily:99999999999": count too large'
bad_conf '[tier t]\nkeep = always\n' 2 'unknown keep rule "always": forever, or last/hourly/daily/weekly/monthly/yearly:N, within:DURATION, tag:NAME'
bad_conf '[tier t]\ncopies = 0\n' 2 'copies "0": a number from 1 to 16 expected'
bad_conf '[tier t]\nrpo = 5 min\n' 2 'rpo "5 min": a duration such as 30min, 4h, 2d or 1h30min expected (or none)'
bad_conf "$R"'[job j]\nrepository = r\npath = /x\nhook_timeout = none\n' 6 'hook_timeout "none": a duration such as 30min, 4h, 2d or 1h30min expected'
bad_conf "$R"'[job j]\nrepository = r\npath = /x\none_file_system = sometimes\n' 6 'one_file_system "sometimes": yes or no expected'
# jobs and their references
bad_conf "$R"'[job j]\nrepository = r\npath = etc\n' 5 'path "etc": an absolute path without ".." expected'
bad_conf "$R"'[job j]\nrepository = r\nstream = /db.sql\n' 5 'stream "/db.sql": PATH=COMMAND expected'
bad_conf "$R"'[job j]\nrepository = r\nstream = db.sql=pg_dump x\n' 5 'stream "db.sql=pg_dump x": its PATH "db.sql" is not an absolute file path without ".."'
bad_conf "$R"'[job j]\nrepository = r\nstream = /a.sql=x\nstream = //a.sql=y\n' 6 'stream path /a.sql given twice'
bad_conf "$R"'[job j]\nrepository = r\npath = /srv\nstream = /srv/db.sql=x\n' 6 'stream path /srv/db.sql lies inside path /srv of the job'
bad_conf "$R"'[job j]\nrepository = r\nstream = /srv/db.sql=x\npath = /\n' 6 'path / holds the path of stream /srv/db.sql'
bad_conf "$R"'[job j]\nrepository = r\npath = /srv\npath = /srv/\n' 6 'path /srv given twice'
bad_conf "$R"'[job j]\nrepository = r\npath = /x\ntier = critcal\n' 6 'tier "critcal" is not defined (did you mean "critical"?)'
bad_conf "$R"'[job j]\nrepository = r\npath = /x\ntier = gold\n' 6 'tier "gold" is not defined: critical, important, normal, archive or a [tier gold] section'
bad_conf "$R"'[job j]\nrepository = r nosuch\npath = /x\n' 4 'repository "nosuch" is not defined: no [repository nosuch] section'
bad_conf "$R"'[job j]\nrepository = r\nrepository = r\npath = /x\n' 5 'repository "r" named twice'
bad_conf "$R"'[job j]\npath = /x\n' 3 '[job j] has no repository'
bad_conf "$R"'[job j]\nrepository = r\n' 3 '[job j] has neither path nor stream: nothing to back up'
bad_conf '[repository r]\noffsite = no\n' 1 '[repository r] has no location'
bad_conf "$R"'[tier two]\ncopies = 2\n[job j]\ntier = two\nrepository = r\npath = /x\n' 6 \
	'[job j]: tier two wants copies = 2, but the job has 1 repository (name one per copy)'

# All errors of a file are reported, sorted by line, and nothing else.
cat >"$WORK/many.conf" <<'EOF'
[job j]
tier = nosuch
path = rel
[repository r]
transfers = 0
[tier t]
keep = yearly:x
EOF
expect_exit 1 "$C" --config "$WORK/many.conf" config check
grep -o "many.conf:[0-9]*:" "$ERR" | tr '\n' ' ' | grep -qx "many.conf:1: many.conf:2: many.conf:3: many.conf:4: many.conf:5: many.conf:7: " ||
	fail "not every error, in line order: $(cat "$ERR")"
expect_in "$ERR" "many.conf: 6 errors: configuration not loaded"

# --- which file -------------------------------------------------------------
printf '[repository fromenv]\nlocation = /env\n' >"$WORK/env.conf"
expect_exit 1 "$C" --config "$WORK/nonexistent.conf" config check
grep -qxF "chronoctl: error: Cannot read configuration file $WORK/nonexistent.conf: No such file or directory" "$ERR" ||
	fail "missing --config file: $(cat "$ERR")"
CHRONOFS_CONFIG=$WORK/env.conf ok "$C" config check --json
[ "$(jq -r '.path + " " + .repositories[0].name' "$OUT")" = "$WORK/env.conf fromenv" ] || fail "CHRONOFS_CONFIG not read"
CHRONOFS_CONFIG=$WORK/env.conf ok "$C" --config "$WORK/min.conf" config check --json
[ "$(jq -r .path "$OUT")" = "$WORK/min.conf" ] || fail "--config does not win over CHRONOFS_CONFIG"
ok "$C" config check --config "$WORK/min.conf" --json
[ "$(jq -r .path "$OUT")" = "$WORK/min.conf" ] || fail "--config after the verb"
if [ ! -e /etc/chronofs/chronofs.conf ]; then
	expect_exit 1 "$C" config check
	expect_in "$ERR" "Cannot read configuration file /etc/chronofs/chronofs.conf: No such file or directory"
else
	log "/etc/chronofs/chronofs.conf exists: its use as the default is not tested"
fi

# --- --repo NAME --------------------------------------------------------------
SRC=$WORK/src
mkdir -p "$SRC"
printf 'data\n' >"$SRC/f"
printf '%s\n' "$PASSWORD" >"$WORK/pass"
cat >"$WORK/repo.conf" <<EOF
[repository main]
location = $REPO
password_file = $WORK/pass
cache_dir = $WORK/cache-main
EOF
# init too: at the config's location, with its passphrase.
(cd "$WORK" && ok "$C" --config "$WORK/repo.conf" --repo main init)
[ ! -e "$WORK/main" ] || fail "init --repo main created ./main"
expect_in "$OUT" "created repository $REPO "
# No password in the environment: it comes from the config's file.
ok "$C" --config "$WORK/repo.conf" --repo main snapshot create --json "$SRC"
[ -d "$WORK/cache-main" ] || fail "--repo main did not use the config's cache_dir"
CHRONOFS_CONFIG=$WORK/repo.conf CHRONOFS_REPO=main ok "$C" snapshot list --json
[ "$(jq length "$OUT")" = 1 ] || fail "CHRONOFS_REPO=main with CHRONOFS_CONFIG"
# The command line wins: another cache directory, a wrong password file.
ok "$C" --config "$WORK/repo.conf" --repo main --cache-dir "$WORK/cache-cli" snapshot list
[ -d "$WORK/cache-cli" ] || fail "--cache-dir did not win over the config's cache_dir"
printf 'wrong\n' >"$WORK/wrong"
expect_exit 1 "$C" --config "$WORK/repo.conf" --repo main --password-file "$WORK/wrong" snapshot list
# A name the config lacks: did you mean, unless a directory of that name is here.
expect_exit 1 "$C" --config "$WORK/repo.conf" --repo mian snapshot list
grep -qxF "chronoctl: error: No repository \"mian\" in $WORK/repo.conf (did you mean \"main\"?), and no directory of that name here" "$ERR" ||
	fail "misspelt --repo NAME: $(cat "$ERR")"
(cd "$WORK" && CHRONOFS_PASSWORD=$PASSWORD ok "$C" --config "$WORK/repo.conf" --repo repo --cache-dir "$WORK/cache0" snapshot list) ||
	fail "--repo repo (a directory here, not in the config) is not a location"
# A path is never looked up, so a broken config does not stop it.
ok "$C" --config "$WORK/bad1.conf" --repo "$REPO" --password-file "$WORK/pass" --cache-dir "$WORK/cache0" snapshot list
# A name with a broken config: its errors, and a failure.
expect_exit 1 "$C" --config "$WORK/bad1.conf" --repo main snapshot list
expect_in "$ERR" "bad1.conf:1: \"key\" outside any section"

log "ok: $n error classes, defaults, overrides, round trip, file choice, --repo NAME"
