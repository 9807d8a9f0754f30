#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Our OnCalendar= reader (calendar.h) against systemd's own: for each
# expression, base time and zone below, the normalized form and the next
# five elapses of $CALENDAR_TOOL must equal those of `systemd-analyze
# calendar --base-time=@B --iterations=5` (systemd 252), and an expression
# systemd refuses we must refuse too. Local zones (TZ) UTC, Europe/Berlin,
# America/New_York and Australia/Lord_Howe, with base times around their
# DST changes (ZONE_BASES below); expressions may name zones of their own.
# Then 250 random expressions (tests/helpers/calendar-gen.py, fixed seed;
# a subset of bases and of these by default, below, all with T0028_ALL=1),
# each in one of five of those settings. Elapses are compared in UTC
# seconds (systemd prints whole seconds). Where systemd gives up (its
# 1000-step limit) we must end the list of elapses at the same place.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
[ -x "${CALENDAR_TOOL:-}" ] || fail "CALENDAR_TOOL is not set (tests/meson.build)"
N=5
# Every case (about 1,700) takes some 40 s on two loaded cores, 22 ms a
# case spent mostly in starting processes; the whole suite has to stay
# under 20 minutes, so by default each zone is compared at its first two
# base times and on 100 of the random expressions (about 850 cases; the
# full set was compared when the reader was written, and after each change
# to it: T0028_ALL=1 runs it).
ALL=${T0028_ALL:-0}

EXPRS=(
	minutely hourly daily weekly monthly yearly annually quarterly semiannually
	semi-annually anually biannually bi-annually Daily 'WEEKLY'
	'*-*-* 00/6:00:00' '*:0/15' '*:0/20' 'Mon..Fri *-*-* 02:00' 'Sat,Sun 12:00'
	'Monday,Wednesday..Friday 08:30' 'Mon-Wed 3:4' 'Sat,Mon,Tue,Wed,Sun 1:00'
	'*-*-01 00:00' '*-02-29 12:00' '2027-*-* 00:00' '27..30-01-01'
	'*-1,4,7,10-1 00:00:00' '*-*-1,15,1 6,18:00' '*-*~01' '*-02~03' '*-*~07/1 12:00' '*-*~03..01'
	'*-*-* *:*:*' '*-*-* *:*:0/10' '*-*-* 00:00:00.5' '*:0:1.25/30'
	'*-*-* 02:30' '*-*-* 02:00/15' '*:30' '*-*-* 1..5:0/20' '*-*-* 2..3:0/45'
	'Mon *-05-04..10 00:00' '@1800000000' 'Fri *-*-13' '*-*-31' '*-04-31'
	'*-02-30' '2019-*-* 00:00' 'Mon *-02-29' '2027..2199/50-1-1'
	'Sat,Sun 12:00 Europe/Berlin' 'daily America/New_York' '*:0/30 Asia/Kolkata'
	'Sun *-*-* 02:30 Europe/Berlin' '10:00 UTC' 'weekly utc' '*:0/20 Australia/Sydney'
	'00:00 Etc/GMT+5'
	# refused by both
	'' ' daily' 'daily ' 'Mon..' '*-13-01' '25:00' '*-*-* 00/24:00' 'Fri..Mon'
	'*:0/0' 'Mon,Wed,,Fri' 'xyz' '*-*~29' '*:*/5' '12:00 Nowhere/Zone' '1..5:00:00..10'
	'Mon.. Fri' '2200-01-01' '*-*-* 12:00:60' '12:00:00..00.5' '*-03~07,26' '*-*~1,2,3,4,5,6,7,8'
	# accepted again
	'12:00:00..10' '*-*-* 12:00:00.1234567' '*-*~1,2,3,4,5,6,7' '*-*~1,2,20' '3~7,8'
	'*-*~05/2' '*-*~5..7/2' '*-*~8..9' '*-4/6-23' '0/10,7,21:23' '*-1/5-01 12:00'
)
# Zones and base times: UTC and Europe/Berlin just before both DST changes
# of 2026 (03-29 01:00Z, 10-25 01:00Z), inside the repeated hour, across
# February of a leap year and a year end; America/New_York before both of
# its changes (03-08 07:00Z, 11-01 06:00Z); Australia/Lord_Howe (southern
# hemisphere, a 30-minute change: 02:00 back to 01:30 on 2026-04-05, 02:00
# on to 02:30 on 2026-10-04) before both of its changes (04-04 15:00Z,
# 10-03 15:30Z).
BASES=(
	'2026-03-28 12:00:00' '2026-10-24 12:00:00' '2026-10-25 00:10:00'
	'2026-10-25 01:10:00' '2028-02-27 23:59:59' '2026-12-31 23:59:59'
)
declare -A ZONE_BASES=(
	[UTC]="${BASES[*]/%/|}"
	[Europe/Berlin]="${BASES[*]/%/|}"
	[America/New_York]='2026-03-08 06:30:00|2026-11-01 05:10:00|'
	[Australia/Lord_Howe]='2026-04-04 14:45:00|2026-10-03 15:10:00|'
)

# systemd-analyze's output → ours: the normalized form, then each elapse as
# UTC seconds (the "(in UTC)" line when the local zone is not UTC), all the
# times of one case converted by one date(1).
from_systemd() {
	local line labels=() whens=() i d t
	while IFS= read -r line; do
		case $line in
		*'Normalized form: '*) printf 'Normalized form: %s\n' "${line#*Normalized form: }" ;;
		*'Next elapse: never'*) printf 'Next elapse: never\n' ;;
		*'Next elapse: '* | *'Iter. #'*)
			line=${line#"${line%%[! ]*}"}
			labels+=("${line%%: *}")
			read -r _ d t _ <<<"${line#*: }"
			whens+=("$d $t")
			;;
		*'(in UTC): '*)
			read -r _ d t _ <<<"${line#*'(in UTC): '}"
			whens[${#whens[@]} - 1]="$d $t"
			;;
		esac
	done
	[ ${#whens[@]} -gt 0 ] || return 0
	mapfile -t whens < <(printf '%s UTC\n' "${whens[@]}" | date -u -f - +%s)
	for i in "${!labels[@]}"; do
		printf '%s: %s\n' "${labels[$i]}" "${whens[$i]}"
	done
}

# One case: TZ, base (epoch seconds), expression; counts and reports.
fails=0 compared=0 gaveup=0
compare() {
	local tz=$1 b=$2 e=$3 want got k
	got=$(TZ=$tz "$CALENDAR_TOOL" "$b" $N "$e" | sed -E 's/^(Next elapse|Iter\. #[0-9]+): ([0-9]+)\.[0-9]+$/\1: \2/') || true
	k=$N
	while :; do
		if want=$(TZ=$tz systemd-analyze calendar --iterations=$k --base-time="@$b" -- "$e" 2>"$WORK/err"); then
			want=$(from_systemd <<<"$want")
			break
		fi
		if ! grep -q 'Failed to determine next elapse' "$WORK/err"; then
			want="invalid: $e"
			break
		fi
		# systemd gave up on elapse k ("Infinite loop in calendar
		# calculation", its 1000-step limit): we must stop there too
		# (-ENOENT: the tool's list ends). It prints nothing then, so
		# ask for one elapse less.
		gaveup=$((gaveup + 1))
		k=$((k - 1))
		if [ $k -eq 0 ]; then
			want="$(head -n1 <<<"$got")"$'\n''Next elapse: never'
			break
		fi
	done
	compared=$((compared + 1))
	if [ "$want" != "$got" ]; then
		fails=$((fails + 1))
		printf 'MISMATCH TZ=%s base=@%s (%s UTC) expr=%q\n--- systemd-analyze\n%s\n--- calendar-tool\n%s\n\n' \
			"$tz" "$b" "$(date -u -d "@$b" '+%F %T')" "$e" "$want" "$got"
	fi
}

for tz in UTC Europe/Berlin America/New_York Australia/Lord_Howe; do
	IFS='|' read -ra bases <<<"${ZONE_BASES[$tz]//| /|}"
	[ "$ALL" = 1 ] || bases=("${bases[@]:0:2}")
	for base in "${bases[@]}"; do
		b=$(date -u -d "$base UTC" +%s)
		for e in "${EXPRS[@]}"; do
			compare "$tz" "$b" "$e"
		done
	done
done

# Random expressions (tests/helpers/calendar-gen.py, a fixed seed: the same
# ones every run), each in one of five settings around DST changes and a
# leap day.
mapfile -t RANDOM_EXPRS < <(python3 "$SRCDIR/tests/helpers/calendar-gen.py" 15 250)
[ ${#RANDOM_EXPRS[@]} -eq 250 ] || fail "calendar-gen.py gave ${#RANDOM_EXPRS[@]} expressions, not 250"
[ "$ALL" = 1 ] || RANDOM_EXPRS=("${RANDOM_EXPRS[@]:0:100}")
SETTINGS=(
	'Europe/Berlin|2026-10-24 12:00:00' 'Europe/Berlin|2026-10-25 01:10:00'
	'America/New_York|2026-03-08 06:30:00' 'Australia/Lord_Howe|2026-04-04 14:45:00'
	'UTC|2028-02-27 23:59:59'
)
i=0
for e in "${RANDOM_EXPRS[@]}"; do
	setting=${SETTINGS[i++ % ${#SETTINGS[@]}]}
	compare "${setting%%|*}" "$(date -u -d "${setting#*|} UTC" +%s)" "$e"
done
echo "compared $compared cases (${#EXPRS[@]} listed and ${#RANDOM_EXPRS[@]} random expressions), $fails mismatches; systemd gave up in $gaveup searches"
[ $fails -eq 0 ] || fail "$fails of $compared cases differ from systemd-analyze"
