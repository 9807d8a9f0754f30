#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installing like a system tool (issue 14): `meson install --destdir` of
# the build under test puts
#   - mount.chronofs in DESTDIR/sbin (mount(8) looks for helpers only in
#     /sbin), whatever the prefix,
#   - chronoctl in PREFIX/sbin and chronofs in PREFIX/bin,
#   - chronoctl(8), chronofs(8), mount.chronofs(8) under PREFIX/share/man/man8
#     and chronofs-repository(5) under man5 (mandir),
#   - the nfs-ganesha sample under PREFIX/share/doc/chronofs/examples,
# and --version (and -V) of each installed binary prints the meson project
# version and the repository format versions of include/chronofs/repo.h,
# without a repository, a passphrase or a cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BUILD=$(cd "$(dirname "$CHRONOCTL")/.." && pwd -P)
[ -f "$BUILD/meson-info/intro-buildoptions.json" ] || skip "$BUILD is not a meson build directory"
command -v meson >/dev/null 2>&1 || skip "meson is missing"
prefix=$(jq -r '.[] | select(.name == "prefix") | .value' "$BUILD/meson-info/intro-buildoptions.json")
mandir=$(jq -r '.[] | select(.name == "mandir") | .value' "$BUILD/meson-info/intro-buildoptions.json")
bindir=$(jq -r '.[] | select(.name == "bindir") | .value' "$BUILD/meson-info/intro-buildoptions.json")
sbindir=$(jq -r '.[] | select(.name == "sbindir") | .value' "$BUILD/meson-info/intro-buildoptions.json")
version=$(jq -r '.version' "$BUILD/meson-info/intro-projectinfo.json")
[ -n "$prefix" ] && [ -n "$version" ] || fail "cannot read prefix and version from $BUILD/meson-info"
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
case $bindir in /*) ;; *) bindir=$prefix/$bindir ;; esac
case $sbindir in /*) ;; *) sbindir=$prefix/$sbindir ;; esac
fmt_max=$(sed -n 's/^#define CFS_REPO_FORMAT_VERSION \([0-9]*\)$/\1/p' "$SRCDIR/include/chronofs/repo.h")
fmt_min=$(sed -n 's/^#define CFS_REPO_FORMAT_VERSION_MIN \([0-9]*\)$/\1/p' "$SRCDIR/include/chronofs/repo.h")
[ -n "$fmt_max" ] && [ -n "$fmt_min" ] || fail "no CFS_REPO_FORMAT_VERSION(_MIN) in include/chronofs/repo.h"

DEST=$WORK/dest
# --no-rebuild: the test runner built everything; a rebuild here would race
# with the other tests using the same build directory.
run meson install -C "$BUILD" --no-rebuild --destdir "$DEST"
[ "$RC" = 0 ] || { _lib_show_output; fail "meson install --destdir $DEST exited $RC"; }

[ -x "$DEST/sbin/mount.chronofs" ] || {
	find "$DEST" -name 'mount.chronofs*' >&2
	fail "mount.chronofs is not in DESTDIR/sbin (prefix $prefix): mount(8) would not find it"
}
[ -x "$DEST$sbindir/chronoctl" ] || fail "chronoctl is not in $sbindir"
[ -x "$DEST$bindir/chronofs" ] || fail "chronofs is not in $bindir"
for m in man8/chronoctl.8 man8/chronofs.8 man8/mount.chronofs.8 man5/chronofs-repository.5; do
	[ -f "$DEST$mandir/$m" ] || fail "$m is not installed under $mandir"
	cmp -s "$DEST$mandir/$m" "$SRCDIR/man/${m#*/}" || fail "$mandir/$m differs from man/${m#*/}"
done
datadir=$(jq -r '.[] | select(.name == "datadir") | .value' "$BUILD/meson-info/intro-buildoptions.json")
case $datadir in /*) ;; *) datadir=$prefix/$datadir ;; esac
cmp -s "$DEST$datadir/doc/chronofs/examples/ganesha-chronofs.conf" "$SRCDIR/examples/ganesha-chronofs.conf" ||
	fail "the nfs-ganesha sample is not installed as $datadir/doc/chronofs/examples/ganesha-chronofs.conf"
# Nothing of the test suite is installed.
if find "$DEST" -name 'test-*' -o -name 'treecmp' | grep -q .; then
	fail "test programs were installed: $(find "$DEST" -name 'test-*' -o -name treecmp | head -3)"
fi
# The helper runs the installed daemon when it is not next to it.
grep -qaF "$bindir/chronofs" "$DEST/sbin/mount.chronofs" ||
	fail "mount.chronofs does not know the installed chronofs ($bindir/chronofs)"

# --version: the release and the formats, on stdout, exit 0, nothing else
# needed (no repository, passphrase or cache; those present must stay
# untouched).
noenv=(env -u CHRONOFS_PASSWORD -u CHRONOFS_PASSWORD_FILE CHRONOFS_REPO="$WORK/absent" CHRONOFS_CACHE_DIR="$WORK/absent-cache")
for bin in "$DEST$sbindir/chronoctl" "$DEST$bindir/chronofs" "$DEST/sbin/mount.chronofs"; do
	name=$(basename "$bin")
	for opt in --version -V; do
		run "${noenv[@]}" "$bin" "$opt" </dev/null
		[ "$RC" = 0 ] || { _lib_show_output; fail "$name $opt exited $RC"; }
		head -n 1 "$OUT" | grep -qx "$name $version" || { cat "$OUT" >&2; fail "$name $opt: first line is not \"$name $version\""; }
		grep -q "formats $fmt_min to $fmt_max" "$OUT" || { cat "$OUT" >&2; fail "$name $opt does not name repository formats $fmt_min to $fmt_max"; }
		grep -q "creates $fmt_max" "$OUT" || { cat "$OUT" >&2; fail "$name $opt does not say init creates format $fmt_max"; }
		[ ! -s "$ERR" ] || { cat "$ERR" >&2; fail "$name $opt wrote to stderr"; }
	done
done
[ ! -e "$WORK/absent" ] && [ ! -e "$WORK/absent-cache" ] || fail "--version created the repository or cache directory"
# --help names --version.
for bin in "$DEST$sbindir/chronoctl" "$DEST$bindir/chronofs" "$DEST/sbin/mount.chronofs"; do
	run "$bin" --help
	[ "$RC" = 0 ] || fail "$(basename "$bin") --help exited $RC"
	grep -q -- '--version' "$OUT" || fail "$(basename "$bin") --help does not mention --version"
done
log "ok: installed into DESTDIR (mount.chronofs in /sbin, man pages in $mandir), --version prints $version and formats $fmt_min-$fmt_max"
