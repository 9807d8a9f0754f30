#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A source tree that changes under the backup at the worst moments (issue 12,
# "hostile source trees"). Fault-injection hooks (fault.h: ingest.open,
# ingest.read, ingest.dir, ingest.leave with the "run" action) change the
# tree at exact points of the walk, so every race happens every time:
#   - a file replaced by a symlink, a directory or a FIFO, or deleted, or
#     renamed, between its stat and its open;
#   - a file truncated, grown, deleted, renamed or rewritten after its first
#     bytes were read;
#   - entries of a directory removed, and a subdirectory renamed, after the
#     directory was listed; the directory itself renamed while it is walked;
#   - in a chain deeper than the fds kept open, a directory moved out and its
#     parent replaced before the walk comes back up;
#   - unreadable files and directories (as a user without the permission).
# Each is named on stderr, the run exits 3 where something was left out or
# changed (0 where entries only vanished), everything else is captured
# exactly, the snapshot restores and checks clean, and the next snapshot
# captures the tree as it is then.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# The hooks exist in fault-injection builds (scripts/test's) only.
mkdir -p "$WORK/probe-src"
"$CHRONOCTL" --repo "$WORK/probe" init --encryption none >/dev/null 2>&1
CHRONOFS_FAULTS='ingest.dir:*:run' CHRONOFS_FAULT_RUN="touch $WORK/probe-ran" \
	"$CHRONOCTL" --repo "$WORK/probe" --cache-dir "$WORK/probe-cache" snapshot create "$WORK/probe-src" >/dev/null 2>&1
[ -e "$WORK/probe-ran" ] || skip "this chronoctl has no fault injection (build with -Dfault_injection=true)"

MiB=$((1024 * 1024))
SRC=$WORK/src
HOOK=$WORK/hook.sh
DONE=$WORK/hook.done
mkdir -p "$SRC"/{a,b,c/sub,c/gone-dir,d,keep} "$DONE"

# --- the tree -------------------------------------------------------------------
for f in sym-between dir-between fifo-between del-between ren-between; do
	rand_file "$SRC/a/$f" $((2 * MiB)) # over the read-ahead size: opened one by one
done
for f in trunc grow del ren; do
	rand_file "$SRC/b/$f" $((16 * MiB))
done
printf 'OLD-SMALL-%04080d' 0 >"$SRC/b/small-rewrite"
for i in 1 2 3; do printf 'c%s\n' "$i" >"$SRC/c/file$i"; done
printf 'in sub\n' >"$SRC/c/sub/f"
printf 'in gone-dir\n' >"$SRC/c/gone-dir/f"
printf 'in d\n' >"$SRC/d/f"
for i in $(seq 1 20); do printf 'keep %s\n' "$i" >"$SRC/keep/k$i"; done
# A chain deeper than the 32 directory fds the walk keeps open.
deep=$SRC/deep
p=$deep
for i in $(seq -w 0 44); do
	p=$p/L$i
done
mkdir -p "$p"
p=$deep
for i in $(seq -w 0 44); do
	p=$p/L$i
	printf 'level %s\n' "$i" >"$p/f"
done
cp -a "$SRC" "$WORK/orig"

cat >"$HOOK" <<'EOF'
#!/bin/sh
# Called at every hook point; acts once per (point, name).
p=$CFS_FAULT_PATH
once() { [ -e "$DONE/$1" ] && return 1; : >"$DONE/$1"; }
case "$CFS_FAULT_POINT:$p" in
ingest.open:*/a/sym-between) once sym && rm "$p" && ln -s /etc/hostname "$p" ;;
ingest.open:*/a/dir-between) once dir && rm "$p" && mkdir "$p" ;;
ingest.open:*/a/fifo-between) once fifo && rm "$p" && mkfifo "$p" ;;
ingest.open:*/a/del-between) once del && rm "$p" ;;
ingest.open:*/a/ren-between) once ren && mv "$p" "$p.renamed" ;;
ingest.read:*/b/trunc) once trunc && truncate -s 3M "$p" ;;
ingest.read:*/b/grow) once grow && head -c 1M /dev/urandom >>"$p" ;;
ingest.read:*/b/del) once bdel && rm "$p" ;;
ingest.read:*/b/ren) once bren && mv "$p" "$p.renamed" ;;
ingest.read:*/b/small-rewrite) once small && printf 'NEW-SMALL-%04080d' 0 | dd of="$p" conv=notrunc status=none ;;
ingest.dir:*/src/c) once cdir && rm "$p/file2" && mv "$p/gone-dir" "$p/zz-moved-dir" ;;
ingest.dir:*/src/d) once ddir && mv "$p" "$p-renamed" ;;
ingest.leave:*/L40) once deep && mv "${p%%/L06/*}/L06" "$WORK/moved-L06" &&
	mv "${p%%/L05/*}/L05" "${p%%/L05/*}/L05.old" && mkdir "${p%%/L05/*}/L05" ;;
esac
exit 0
EOF
chmod +x "$HOOK"
export DONE WORK
hooked() {
	CHRONOFS_FAULTS='ingest.open:*:run,ingest.read:*:run,ingest.dir:*:run,ingest.leave:*:run' \
		CHRONOFS_FAULT_RUN="$HOOK" "$@"
}

ok cfs init
expect_exit 3 hooked cfs snapshot create --json "$SRC"
cp "$OUT" "$WORK/snap1.json"
cp "$ERR" "$WORK/snap1.err"
for hook in sym dir fifo del ren trunc grow bdel bren small cdir ddir deep; do
	[ -e "$DONE/$hook" ] || fail "hook $hook never ran: the walk did not reach its point"
done
E=$WORK/snap1.err
for f in a/sym-between a/dir-between a/fifo-between; do
	expect_in "$E" "$SRC/$f: replaced" "$f (replaced between stat and open) is not named"
done
expect_in "$E" "$SRC/a/del-between vanished" "a deleted file is not named"
expect_in "$E" "$SRC/a/ren-between vanished" "a renamed file is not named"
for f in trunc grow del ren small-rewrite; do
	grep -F "$SRC/b/$f changed while it was being read" "$E" >/dev/null || fail "b/$f (changed mid-read) is not named"
done
expect_in "$E" "$SRC/c/file2 vanished" "an entry removed after the listing is not named"
expect_in "$E" "$SRC/c/gone-dir vanished" "a directory renamed after the listing is not named"
expect_in "$E" "moved or replaced" "the replaced directory of the deep chain is not named"
expect_in "$E" "/L05" "the replaced directory of the deep chain is not named by path"

ok cfs restore latest "$WORK/r1"
R=$WORK/r1$SRC
O=$WORK/orig
# Left out: what was replaced between stat and open.
for f in a/sym-between a/dir-between a/fifo-between a/del-between a/ren-between; do
	[ ! -e "$R/$f" ] && [ ! -L "$R/$f" ] || fail "$f is in the snapshot although it was replaced or gone when opened"
done
# Changed mid-read: the bytes read, nothing else.
size=$(stat -c %s "$R/b/trunc")
[ "$size" -le $((16 * MiB)) ] && [ "$size" -gt 0 ] || fail "b/trunc restored with $size bytes"
cmp -n "$size" "$O/b/trunc" "$R/b/trunc" || fail "b/trunc: restored bytes are not the file's"
cmp "$O/b/grow" "$R/b/grow" || fail "b/grow: not its size before the read"
cmp "$O/b/del" "$R/b/del" || fail "b/del (deleted while open): not read whole"
cmp "$O/b/ren" "$R/b/ren" || fail "b/ren: not read whole"
head -c 4 "$R/b/small-rewrite" | grep -q OLD || fail "b/small-rewrite: the snapshot holds bytes from after its read"
# The directory listed, then changed: the entries still there, exactly.
cmp "$O/c/file1" "$R/c/file1" && cmp "$O/c/file3" "$R/c/file3" && cmp "$O/c/sub/f" "$R/c/sub/f" ||
	fail "c: entries that stayed were not captured exactly"
[ ! -e "$R/c/file2" ] && [ ! -e "$R/c/gone-dir" ] && [ ! -e "$R/c/zz-moved-dir" ] || fail "c: removed or moved entries captured"
# A directory renamed while walked: captured under its old name, whole.
cmp "$O/d/f" "$R/d/f" || fail "d (renamed while walked) lost its contents"
# Untouched parts: exact.
assert_same_tree "$O/keep" "$R/keep"
# The deep chain: whatever was captured before L05 was replaced is there.
[ -e "$R/deep/L00/L01/L02/L03/L04/L05" ] || fail "the deep chain lost the levels above the replaced directory"
ok cfs check --read-data

# The next snapshot sees the tree as it is now (no stale entry trusted).
ok cfs snapshot create "$SRC"
ok cfs restore latest "$WORK/r2"
cmp "$SRC/b/small-rewrite" "$WORK/r2$SRC/b/small-rewrite" || fail "the next snapshot kept the stale small-rewrite"
cmp "$SRC/b/grow" "$WORK/r2$SRC/b/grow" || fail "the next snapshot kept the stale grow"
[ "$(readlink "$WORK/r2$SRC/a/sym-between")" = /etc/hostname ] || fail "the next snapshot missed the new symlink"
[ -d "$WORK/r2$SRC/a/dir-between" ] && [ -p "$WORK/r2$SRC/a/fifo-between" ] || fail "the next snapshot missed the replacements"

# --- unreadable files and directories, as a user without the permission --------------
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	U=$WORK/usrc
	mkdir -p "$U/open" "$U/closed" "$U/noexec"
	printf 'readable\n' >"$U/open/f"
	printf 'secret\n' >"$U/closed-file"
	printf 'inside\n' >"$U/closed/f"
	printf 'inside\n' >"$U/noexec/f"
	chown -R nobody "$U"
	chmod 000 "$U/closed-file" "$U/closed"
	chmod 0600 "$U/noexec" # listable by its owner, not searchable
	chmod 0711 "$WORK"
	REPO=$WORK/repo-nobody
	install -d -o nobody "$REPO" "$WORK/cache-nobody" "$WORK/r-nobody"
	NOGROUP=$(id -gn nobody)
	as_nobody() {
		setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
			env CHRONOFS_REPO="$REPO" CHRONOFS_PASSWORD="$PASSWORD" CHRONOFS_CACHE_DIR="$WORK/cache-nobody" \
			CHRONOFS_KDF_LOG2N=10 timeout -k 10 300 "$CHRONOCTL" "$@"
	}
	ok as_nobody init
	expect_exit 3 as_nobody snapshot create "$U"
	expect_in "$ERR" "$U/closed-file" "an unreadable file is not named"
	expect_in "$ERR" "$U/closed" "an unreadable directory is not named"
	expect_in "$ERR" "$U/noexec/f" "an entry of an unsearchable directory is not named"
	ok as_nobody restore latest "$WORK/r-nobody" # into a target nobody may write
	cmp "$U/open/f" "$WORK/r-nobody$U/open/f" || fail "the readable file"
	[ ! -e "$WORK/r-nobody$U/closed-file" ] || fail "an unreadable file was stored"
else
	log "no setpriv or no user nobody: permissions not tested"
fi
log "ok: every race named, the rest exact, the next snapshot current"
