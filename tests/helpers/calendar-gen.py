#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""calendar-gen SEED COUNT

Print COUNT random OnCalendar= expressions, one a line, the same ones for
the same SEED: weekday lists and ranges in any case, dates with two- and
four-digit years, '~', every component form ('*', values, lists, ranges,
repeats, ranges with repeats, fractions of seconds), shorthands, @SECONDS,
zones with and without DST (30 minutes in Lord Howe, +05:45 in
Kathmandu), and a few slips (a missing or doubled blank). Most are valid;
t0028-calendar-systemd.sh runs them through systemd-analyze and
calendar-tool, which must agree on each, accepted or not.
"""
import random
import sys

WEEKDAYS = ['Mon', 'Tue', 'wed', 'Thursday', 'FRI', 'Sat', 'sun', 'Monday', 'Sunday']
ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu',
         'Etc/GMT-14', 'Pacific/Apia', 'America/Santiago']
SHORTHANDS = ['minutely', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'annually',
              'quarterly', 'semiannually', 'Hourly']


def num(lo, hi, width=1):
    return str(random.randint(lo, hi)).zfill(random.choice([1, width]))


def component(lo, hi, width=2, seconds=False):
    def value():
        v = num(lo, hi, width)
        if seconds and random.random() < 0.2:
            v += '.' + str(random.randint(0, 999999999))[:random.randint(1, 8)]
        return v
    if random.random() < 0.25:
        return '*'
    items = []
    for _ in range(random.choice([1, 1, 1, 2, 3])):
        k = random.random()
        if k < 0.4:
            items.append(value())
        elif k < 0.6:
            items.append(value() + '..' + value())
        elif k < 0.85:
            items.append(value() + '/' + num(0, hi // 2 + 2))
        else:
            items.append(value() + '..' + value() + '/' + num(0, 6))
    return ','.join(items)


def weekdays():
    parts = []
    for _ in range(random.choice([1, 1, 2, 3])):
        w = random.choice(WEEKDAYS)
        if random.random() < 0.3:
            w += random.choice(['..', '-']) + random.choice(WEEKDAYS)
        parts.append(w)
    s = ','.join(parts)
    return s + ',' if random.random() < 0.05 else s


def expression():
    if random.random() < 0.05:
        return random.choice(SHORTHANDS + ['@' + str(random.randint(0, 8000000000))])
    parts = []
    if random.random() < 0.3:
        parts.append(weekdays())
    r = random.random()
    if r < 0.3:
        year = random.choice([component(1970, 2199, 4), component(0, 99), '*'])
        parts.append(year + '-' + component(1, 12) + random.choice(['-', '-', '~']) + component(1, 31))
    elif r < 0.5:
        parts.append(component(1, 12) + random.choice(['-', '~']) + component(1, 31))
    if random.random() < 0.8:
        t = component(0, 23) + ':' + component(0, 59)
        if random.random() < 0.5:
            t += ':' + component(0, 59, seconds=True)
        parts.append(t)
    s = random.choice([' ', ' ', '  ']).join(parts)
    z = random.random()
    if z < 0.1:
        s += ' UTC'
    elif z < 0.2:
        s += ' ' + random.choice(ZONES)
    if random.random() < 0.03:
        s = s.replace(' ', '', 1)
    return s


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    random.seed(int(sys.argv[1]))
    for _ in range(int(sys.argv[2])):
        print(expression())


main()
