#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Our OnCalendar= reader (calendar.h) against systemd's own: for each
# expression, base time and zone below, the normalized form and the next
# five elapses of $CALENDAR_TOOL must equal those of `systemd-analyze
# calendar --base-time=@B --iterations=5` (systemd 252), and an expression
# systemd refuses we must refuse too. Zones: TZ=UTC and TZ=Europe/Berlin,
# with base times just before both DST changes of 2026 and inside the
# repeated hour of the autumn one, across February of a leap year and
# across a year end. Elapses are compared in UTC seconds (systemd prints
# whole seconds).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
[ -x "${CALENDAR_TOOL:-}" ] || fail "CALENDAR_TOOL is not set (tests/meson.build)"
N=5

EXPRS=(
	minutely hourly daily weekly monthly yearly annually quarterly semiannually
	semi-annually Daily 'WEEKLY'
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
	'Mon.. Fri' '2200-01-01' '*-*-* 12:00:60' '12:00:00..00.5'
	# accepted again
	'12:00:00..10' '*-*-* 12:00:00.1234567'
)
BASES=(
	'2026-03-28 12:00:00' '2026-10-24 12:00:00' '2026-10-25 00:10:00'
	'2026-10-25 01:10:00' '2028-02-27 23:59:59' '2026-12-31 23:59:59'
)

# systemd-analyze's output → ours: the normalized form, then each elapse as
# UTC seconds (the "(in UTC)" line when the local zone is not UTC).
from_systemd() {
	local line prev='' first=1
	while IFS= read -r line; do
		case $line in
		*'Normalized form: '*) printf 'Normalized form: %s\n' "${line#*Normalized form: }" ;;
		*'Next elapse: never'*) printf 'Next elapse: never\n' ;;
		*'Next elapse: '* | *'Iter. #'*)
			[ -z "$prev" ] || emit "$prev" "$first" && first=0
			prev=$line
			;;
		*'(in UTC): '*)
			prev="${prev%%: *}: ${line#*'(in UTC): '}"
			;;
		esac
	done
	[ -z "$prev" ] || emit "$prev" "$first"
}
emit() { # LINE FIRST: "LABEL: Day YYYY-MM-DD HH:MM:SS ZONE" → "LABEL: SECONDS"
	local label=${1%%: *} when=${1#*: }
	label=$(sed 's/^ *//' <<<"$label")
	when=$(awk '{print $2, $3}' <<<"$when")
	printf '%s: %s\n' "$label" "$(date -u -d "$when UTC" +%s)"
}

fails=0 compared=0
for tz in UTC Europe/Berlin; do
	for base in "${BASES[@]}"; do
		b=$(date -u -d "$base UTC" +%s)
		for e in "${EXPRS[@]}"; do
			want_rc=0
			want=$(TZ=$tz systemd-analyze calendar --iterations=$N --base-time="@$b" -- "$e" 2>/dev/null) || want_rc=1
			if [ $want_rc -ne 0 ]; then
				want="invalid: $e"
			else
				want=$(from_systemd <<<"$want")
			fi
			got=$(TZ=$tz "$CALENDAR_TOOL" "$b" $N "$e" | sed -E 's/^(Next elapse|Iter\. #[0-9]+): ([0-9]+)\.[0-9]+$/\1: \2/') || true
			compared=$((compared + 1))
			if [ "$want" != "$got" ]; then
				fails=$((fails + 1))
				printf 'MISMATCH TZ=%s base=%s (@%s) expr=%q\n--- systemd-analyze\n%s\n--- calendar-tool\n%s\n\n' \
					"$tz" "$base" "$b" "$e" "$want" "$got"
			fi
		done
	done
done
echo "compared $compared cases (${#EXPRS[@]} expressions), $fails mismatches"
[ $fails -eq 0 ] || fail "$fails of $compared cases differ from systemd-analyze"
