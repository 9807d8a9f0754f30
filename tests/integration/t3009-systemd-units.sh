#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Schedules through systemd (issue 15): `chronoctl systemd generate` from a
# config of five jobs on five tiers (a job name that systemd-escape
# changes: web-db.daily):
#   - every generated unit, the instances of the templates with their
#     drop-ins, and the static units of systemd/ pass `systemd-analyze
#     verify` with no message at all (it refuses an ExecStart= whose
#     program is not there: the programs sit in a directory whose name
#     needs quoting, " %$" in it, so the quoting must round-trip);
#   - one timer per job, named as systemd-escape names it; its OnCalendar=
#     is the tier's schedule as `config check` and `systemd-analyze
#     calendar` normalize it; Persistent=true; RandomizedDelaySec= and
#     AccuracySec= scaled to the schedule (a tenth of the time between
#     runs, at most 10 min and 1 min);
#   - ExecStart= passes the config on (not the default path), the mount
#     drop-ins carry each repository's location, password file, cache
#     directory, store options and S3 service (s3_* keys);
#   - a second run changes nothing; a changed schedule replaces that
#     timer; a file not written by generate is refused (nothing written)
#     unless --force; a job gone from the config is named, not deleted.
# Skipped only when systemd-analyze is missing (scripts/install-deps
# installs systemd; it needs no running systemd).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is missing (apt-get install systemd)"
command -v systemd-escape >/dev/null 2>&1 || skip "systemd-escape is missing (apt-get install systemd)"
unset CHRONOFS_CONFIG
C=$CHRONOCTL
{ [ -n "${CHRONOFS:-}" ] && [ -x "$CHRONOFS" ]; } || fail "CHRONOFS is not set to the chronofs binary"

# The programs the units run, under a name ExecStart= must quote.
BIN="$WORK/bin dir %\$HOME"
mkdir -p "$BIN"
ln -s "$C" "$BIN/chronoctl"
ln -s "$CHRONOFS" "$BIN/chronofs"
CONFDIR="$WORK/conf dir \$x"
mkdir -p "$CONFDIR"
CONF="$CONFDIR/chronofs%.conf"
D=$WORK/units

write_conf() { # schedule of tier quarter
	cat >"$CONF" <<EOF
[repository local]
location = $WORK/repo
password_file = $WORK/pass
cache_dir = $WORK/cache dir

[repository offsite]
location = s3://backups/server1
offsite = yes
transfers = 8
limit_download = 2048
disk_cache_size = 512
s3_endpoint = https://s3.example.net
s3_region = eu-central-2
s3_path_style = no
s3_credentials_file = $WORK/offsite 100%.env

[tier quarter]
schedule = $1

[tier weekdays]
schedule = Mon..Fri 02:30

[job db]
tier = critical
repository = local
repository = offsite
path = /etc

[job web-db.daily]
repository = local
path = /srv

[job q_1]
tier = quarter
repository = local
path = /srv/q

[job wk]
tier = weekdays
repository = offsite
path = /home

[job arch]
tier = archive
repository = local
path = /var/mail
EOF
}
write_conf '*:0/15'

gen() {
	"$C" --config "$CONF" systemd generate --dir "$D" --chronoctl "$BIN/chronoctl" --chronofs "$BIN/chronofs" "$@"
}

# verify runs man(1) for each Documentation= page: the pages of the source
# tree (man1 has systemd's own).
mkdir -p "$WORK/man/man5" "$WORK/man/man8"
for f in "$SRCDIR"/man/*.[58]; do
	ln -s "$f" "$WORK/man/man${f##*.}/"
done
export MANPATH=$WORK/man:

# systemd-analyze verify with nothing to say: exit 0 and no message (it
# only warns about unknown keys and bad values, and still exits 0).
verify() {
	run systemd-analyze verify "$@"
	if [ "$RC" != 0 ] || [ -s "$ERR" ] || [ -s "$OUT" ]; then
		printf '%s: systemd-analyze verify %s\n' "$TEST_NAME" "$*" >&2
		_lib_show_output
		fail "systemd-analyze verify found problems (exit $RC)"
	fi
}

# --- generate ------------------------------------------------------------------
ok gen
cp "$OUT" "$WORK/gen1.out"
if grep -q -v -e '^created ' -e '^$' -e 'systemctl' -e '^To ' "$WORK/gen1.out"; then
	fail "first run: unexpected lines: $(cat "$WORK/gen1.out")"
fi
[ "$(grep -c '^created ' "$WORK/gen1.out")" = 9 ] || fail "first run: 9 files expected: $(cat "$WORK/gen1.out")"
expect_in "$WORK/gen1.out" "systemctl daemon-reload"
grep -q "^  systemctl enable --now .* 'chronofs-run@web\\\\x2ddb.daily.timer' " "$WORK/gen1.out" ||
	fail "the enable command does not quote the escaped timer name: $(cat "$WORK/gen1.out")"
expect_in "$WORK/gen1.out" "systemctl enable --now chronofs-mount@local.service"

declare -A TIER=([db]=critical [web-db.daily]=normal [q_1]=quarter [wk]=weekdays [arch]=archive)
# The schedules as written in the file (the built-in tiers': as config
# check prints them).
declare -A ORIG=([q_1]='*:0/15' [wk]='Mon..Fri 02:30')
declare -A DELAY=([db]=6min [web-db.daily]=10min [q_1]=90s [wk]=10min [arch]=10min)
ok "$C" --config "$CONF" config check --json
cp "$OUT" "$WORK/check.json"
timers=() services=()
for job in "${!TIER[@]}"; do
	esc=$(systemd-escape "$job")
	tf="$D/chronofs-run@$esc.timer"
	[ -f "$tf" ] || fail "no timer for job $job: $(ls "$D")"
	timers+=("$tf")
	services+=("$D/chronofs-run@$esc.service")
	sched=$(jq -r --arg t "${TIER[$job]}" '.tiers[] | select(.name == $t) | .schedule' "$WORK/check.json")
	{ [ -n "$sched" ] && [ "$sched" != null ]; } || fail "config check has no schedule for tier ${TIER[$job]}"
	norm=$(systemd-analyze calendar "${ORIG[$job]:-$sched}" | sed -n 's/^ *Normalized form: //p')
	[ "$sched" = "$norm" ] || fail "tier ${TIER[$job]}: config check says \"$sched\", systemd \"$norm\""
	[ "$(grep -c '^OnCalendar=' "$tf")" = 1 ] || fail "$tf: not one OnCalendar="
	grep -qxF "OnCalendar=$norm" "$tf" || fail "$tf: OnCalendar= is not \"$norm\": $(grep OnCalendar "$tf")"
	grep -qx 'Persistent=true' "$tf" || fail "$tf: no Persistent=true"
	grep -qxF "RandomizedDelaySec=${DELAY[$job]}" "$tf" ||
		fail "$tf: RandomizedDelaySec=${DELAY[$job]} expected: $(grep Delay "$tf")"
	grep -qx 'AccuracySec=1min' "$tf" || fail "$tf: AccuracySec=1min expected"
	grep -qx 'WantedBy=timers.target' "$tf" || fail "$tf: not wanted by timers.target"
	head -n1 "$tf" | grep -q '^# Generated by chronoctl systemd generate' || fail "$tf: no mark on line 1"
done
[ "$(find "$D" -maxdepth 1 -name '*.timer' | wc -l)" = 5 ] || fail "5 timers expected: $(ls "$D")"
[ -f "$D/chronofs-run@web\\x2ddb.daily.timer" ] || fail "web-db.daily: not escaped as systemd-escape does"

# ExecStart= of the run service: the program and the config, quoted.
grep -qxF "ExecStart=\"$WORK/bin dir %%\$HOME/chronoctl\" --config \"$WORK/conf dir \$\$x/chronofs%%.conf\" run %I" \
	"$D/chronofs-run@.service" || fail "ExecStart= of chronofs-run@.service: $(grep ExecStart "$D/chronofs-run@.service")"
grep -qxF "ExecStart=\"$WORK/bin dir %%\$HOME/chronofs\" -f -o allow_other \$CHRONOFS_MOUNT_OPTIONS /mnt/backups/%I" \
	"$D/chronofs-mount@.service" || fail "ExecStart= of chronofs-mount@.service: $(grep ExecStart "$D/chronofs-mount@.service")"
# The mount drop-ins: where each repository is and how to open it.
L="$D/chronofs-mount@local.service.d/50-repository.conf"
O="$D/chronofs-mount@offsite.service.d/50-repository.conf"
grep -qxF "Environment=CHRONOFS_REPO=$WORK/repo" "$L" || fail "$L: CHRONOFS_REPO: $(cat "$L")"
grep -qxF "Environment=CHRONOFS_PASSWORD_FILE=$WORK/pass" "$L" || fail "$L: CHRONOFS_PASSWORD_FILE: $(cat "$L")"
grep -qxF "Environment=\"CHRONOFS_CACHE_DIR=$WORK/cache dir\"" "$L" || fail "$L: CHRONOFS_CACHE_DIR: $(cat "$L")"
grep -q CHRONOFS_MOUNT_OPTIONS "$L" && fail "$L: store options for a repository that sets none"
grep -qxF "Environment=CHRONOFS_REPO=s3://backups/server1" "$O" || fail "$O: CHRONOFS_REPO: $(cat "$O")"
grep -qxF 'Environment="CHRONOFS_MOUNT_OPTIONS=-o transfers=8,limit_download=2048,disk_cache_size=512"' "$O" ||
	fail "$O: CHRONOFS_MOUNT_OPTIONS: $(cat "$O")"
grep -q CHRONOFS_PASSWORD_FILE "$O" && fail "$O: a password file the config does not give"
# Its S3 service: the variables chronofs reads, the credentials file
# read by systemd itself ('%' doubled: a specifier otherwise).
for l in Environment=AWS_ENDPOINT_URL_S3=https://s3.example.net Environment=AWS_REGION=eu-central-2 \
	Environment=CHRONOFS_S3_PATH_STYLE=0 "EnvironmentFile=$WORK/offsite 100%%.env"; do
	grep -qxF "$l" "$O" || fail "$O: no line $l: $(cat "$O")"
done
grep -q AWS_ "$L" && fail "$L: S3 settings for a local repository"

# Everything passes systemd-analyze verify: the files, the instances of
# the templates (with the drop-ins), the static units of the source tree
# with the placeholders meson install fills.
verify "$D"/*.timer "$D"/*.service "${services[@]}" "$D/chronofs-mount@local.service" \
	"$D/chronofs-mount@offsite.service"
S=$WORK/static
PLAIN=$WORK/plainbin
mkdir -p "$S" "$PLAIN"
ln -s "$C" "$PLAIN/chronoctl"
ln -s "$CHRONOFS" "$PLAIN/chronofs"
for f in "$SRCDIR"/systemd/*.service.in; do
	b=$(basename "$f" .in)
	sed -e "s|@CHRONOCTL@|$PLAIN/chronoctl|; s|@CHRONOFS@|$PLAIN/chronofs|" "$f" >"$S/$b"
	grep -q '@[A-Z]*@' "$S/$b" && fail "$f: a placeholder other than @CHRONOCTL@ and @CHRONOFS@"
done
{ [ -f "$S/chronofs-run@.service" ] && [ -f "$S/chronofs-mount@.service" ]; } || fail "static units missing in $SRCDIR/systemd"
cp -r "$D/chronofs-mount@local.service.d" "$S/"
verify "$S/chronofs-run@.service" "$S/chronofs-mount@.service" "$S/chronofs-run@db.service" \
	"$S/chronofs-mount@local.service"
# The generated services are the static ones but for the mark on their
# first two lines and the programs, quoted, with the config.
Q="\"$WORK/bin dir %%\$HOME"
for u in chronofs-run@.service chronofs-mount@.service; do
	diff <(sed 1,2d "$D/$u" | sed 's/ --config .* run / run /') \
		<(sed -e "s|@CHRONOCTL@|$Q/chronoctl\"|; s|@CHRONOFS@|$Q/chronofs\"|" "$SRCDIR/systemd/$u.in") \
		>"$WORK/diff" || fail "$u differs from systemd/$u.in: $(cat "$WORK/diff")"
done
# verify can fail: a timer of a tier with a bad schedule, a service whose
# program is missing.
mkdir -p "$WORK/bad"
sed 's/^OnCalendar=.*/OnCalendar=someday/' "$D/chronofs-run@db.timer" >"$WORK/bad/chronofs-run@db.timer"
sed "s|$BIN/chronoctl|$WORK/nonexistent|" "$S/chronofs-run@.service" >"$WORK/bad/chronofs-run@.service"
run systemd-analyze verify "$WORK/bad/chronofs-run@db.timer" "$WORK/bad/chronofs-run@db.service"
[ "$RC" != 0 ] || fail "systemd-analyze verify passed units it should refuse"

# --- again: nothing changes; a new schedule replaces its timer ---------------
ok gen --json
json_valid "$OUT" || fail "generate --json printed invalid JSON"
[ "$(jq -r '[.files[].action] | unique | join(",")' "$OUT")" = unchanged ] ||
	fail "second run changed files: $(cat "$OUT")"
[ "$(jq -r '.timers | length' "$OUT")" = 5 ] || fail "--json: 5 timers expected: $(cat "$OUT")"
write_conf '*:0/20'
ok gen --json
[ "$(jq -r '[.files[] | select(.action != "unchanged") | .name + " " + .action] | join(",")' "$OUT")" = \
	'chronofs-run@q_1.timer replaced' ] || fail "a new schedule: $(cat "$OUT")"
grep -qx 'OnCalendar=\*-\*-\* \*:00/20:00' "$D/chronofs-run@q_1.timer" || fail "q_1: OnCalendar= not updated"
grep -qx 'RandomizedDelaySec=2min' "$D/chronofs-run@q_1.timer" || fail "q_1: RandomizedDelaySec= not rescaled"

# --- files someone else wrote ---------------------------------------------------
printf '[Unit]\nDescription=mine\n' >"$WORK/mine"
cp "$WORK/mine" "$D/chronofs-run@.service"
write_conf '*:0/30'
before=$(cat "$D/chronofs-run@q_1.timer")
expect_exit 1 gen
expect_in "$ERR" "$D/chronofs-run@.service exists and chronoctl systemd generate did not write it"
expect_in "$ERR" "--force"
cmp -s "$WORK/mine" "$D/chronofs-run@.service" || fail "a foreign file was replaced without --force"
[ "$(cat "$D/chronofs-run@q_1.timer")" = "$before" ] || fail "a refused run wrote other files"
ok gen --force
grep -q 'created\|replaced' "$OUT" || fail "--force: nothing replaced: $(cat "$OUT")"
cmp -s "$WORK/mine" "$D/chronofs-run@.service" && fail "--force did not replace the foreign file"
grep -qx 'RandomizedDelaySec=3min' "$D/chronofs-run@q_1.timer" || fail "q_1 not rewritten with --force"
[ -z "$(find "$D" -name '.chronoctl-*')" ] || fail "temporaries left in $D: $(find "$D" -name '.chronoctl-*')"

# --- a job gone from the config: named, kept -------------------------------------
sed -i '/^\[job arch\]/,$d' "$CONF"
ok gen
expect_in "$ERR" "chronofs-run@arch.timer was generated for a job the config no longer has"
expect_in "$ERR" "systemctl disable --now 'chronofs-run@arch.timer'"
[ -f "$D/chronofs-run@arch.timer" ] || fail "the stale timer was removed"

# --- bad input ----------------------------------------------------------------------
expect_exit 1 "$C" --config "$CONF" systemd generate --dir "$D" --chronoctl bin/chronoctl
expect_in "$ERR" "--chronoctl bin/chronoctl: an absolute path is needed"
expect_exit 1 "$C" --config "$WORK/none.conf" systemd generate --dir "$D"
expect_in "$ERR" "$WORK/none.conf"
# A job name the config takes (64 characters) whose escaped unit name is
# too long (each '-' is \x2d): refused, nothing written.
BIG=$WORK/big.conf
printf '[repository r]\nlocation = %s\n\n[job a%s]\nrepository = r\npath = /etc\n' "$WORK/repo" \
	"$(printf -- '-%.0s' $(seq 63))" >"$BIG"
ok "$C" --config "$BIG" config check
expect_exit 1 "$C" --config "$BIG" systemd generate --dir "$WORK/big" --chronoctl "$BIN/chronoctl" \
	--chronofs "$BIN/chronofs"
expect_in "$ERR" "is too long for a unit name"
[ ! -e "$WORK/big" ] || fail "a refused run created $WORK/big"
expect_exit 1 "$C" systemd frobnicate
expect_in "$ERR" 'Unknown systemd verb "frobnicate"'
ok "$C" systemd --help
expect_in "$OUT" "usage: chronoctl [--config FILE] systemd generate"
ok "$C" systemd generate --help
expect_in "$OUT" "RandomizedDelaySec"

# --- meson install puts the static units where systemd reads them --------------------
BUILD=$(cd "$(dirname "$C")/.." && pwd -P)
if [ -f "$BUILD/meson-info/intro-buildoptions.json" ] && command -v meson >/dev/null 2>&1; then
	opt() { jq -r --arg n "$1" '.[] | select(.name == $n) | .value' "$BUILD/meson-info/intro-buildoptions.json"; }
	prefix=$(opt prefix) unitdir=$(opt systemdsystemunitdir)
	abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
	sbindir=$(abs "$(opt sbindir)") bindir=$(abs "$(opt bindir)")
	DEST=$WORK/dest
	# --no-rebuild: the runner built everything (t0025 installs the same way).
	run meson install -C "$BUILD" --no-rebuild --destdir "$DEST"
	[ "$RC" = 0 ] || { _lib_show_output; fail "meson install --destdir exited $RC"; }
	if [ "$unitdir" = no ]; then
		[ -z "$(find "$DEST" -name 'chronofs-*.service')" ] || fail "-Dsystemdsystemunitdir=no installed units"
	else
		# Under the prefix: PREFIX/lib/systemd/system (what pkg-config says,
		# taken under the prefix), or the directory given.
		want=${unitdir:-$prefix/lib/systemd/system}
		for u in chronofs-run@.service chronofs-mount@.service; do
			[ -f "$DEST$want/$u" ] || fail "$u not installed in $want: $(find "$DEST" -name "$u")"
		done
		grep -qxF "ExecStart=$sbindir/chronoctl run %I" "$DEST$want/chronofs-run@.service" ||
			fail "installed chronofs-run@.service does not run $sbindir/chronoctl"
		grep -qxF "ExecStart=$bindir/chronofs -f -o allow_other \$CHRONOFS_MOUNT_OPTIONS /mnt/backups/%I" \
			"$DEST$want/chronofs-mount@.service" || fail "installed chronofs-mount@.service does not run $bindir/chronofs"
	fi
fi

log "ok"
