#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The chronofs mount re-exported over NFS (nfs-ganesha, FSAL_VFS, read-only,
# NFSv3 and NFSv4 on loopback), read with the libnfs client:
#   - listings (the mount root, a 300-entry directory, names, sizes, modes,
#     owners and link counts) match the source;
#   - file contents read with nfs-cat and copied out with nfs-cp are the
#     source's bytes;
#   - a write (nfs-cp to the export) fails with NFS3ERR_ROFS / NFS4ERR_ROFS
#     and creates nothing;
#   - file handles survive a restart of ganesha AND chronofs (a fresh
#     daemon on the same mount point, once with the same cache dir and once
#     with an empty one): a new client that only kept the handle bytes reads
#     the right bytes and gets the same fileid ($NFS_HANDLE,
#     tests/helpers/nfs-handle.c). Listing alone passes even for a daemon
#     that cannot be re-exported; this step fails unless inode numbers and
#     generations are stable and the daemon answers the kernel's LOOKUP of
#     "." and "..";
#   - the server is the shipped sample, examples/ganesha-chronofs.conf
#     (nfs-lib.sh substitutes ports and paths): a restart of ganesha alone
#     keeps every handle; the fsid clients see is the sample's
#     Filesystem_id, the same before and after a chronofs remount that got
#     another device number; after such a remount a lookup by path works
#     again at once, with the same fileids, and an old handle either still
#     reads the right bytes or is refused as NFS3ERR_STALE, never answered
#     with other data (ganesha 4.3 puts the device number into its handles,
#     so they are stale: chronofs(8), NFS RE-EXPORT).
# Skips (77) unless nfs-ganesha, nfs-ganesha-vfs, rpcbind and libnfs-utils
# are installed (scripts/install-deps).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_fuse
# shellcheck source-path=SCRIPTDIR source=nfs-lib.sh
. "$(dirname "$0")/nfs-lib.sh"
nfs_require

# The handle helper: built by meson (NFS_HANDLE), else built here if
# libnfs-dev is installed.
if [ -z "${NFS_HANDLE:-}" ]; then
	if pkg-config --exists libnfs 2>/dev/null && command -v cc >/dev/null 2>&1; then
		NFS_HANDLE=$WORK/nfs-handle
		# shellcheck disable=SC2046 # pkg-config output is a list of flags
		cc -std=gnu11 -O2 -o "$NFS_HANDLE" "$SRCDIR/tests/helpers/nfs-handle.c" \
			$(pkg-config --cflags --libs libnfs) || fail "cannot build tests/helpers/nfs-handle.c"
	else
		skip "NFS_HANDLE is not set and libnfs-dev is missing to build tests/helpers/nfs-handle.c"
	fi
fi
[ -x "$NFS_HANDLE" ] || fail "NFS_HANDLE=$NFS_HANDLE is not executable"

SRC=$WORK/src
make_fixture "$SRC"
ok cfs init
snap_create "$SRC"
name=$SNAP_NAME

MNT=$WORK/mnt
mount_fs "$MNT"
# Paths inside the export (= the mount root).
S=/$name$SRC
[ -d "$MNT$S/files" ] || fail "snapshot $name does not hold $SRC in the mount"
nfs_up "$MNT" /chronofs

# nfs-ls prints "MODE NLINK UID GID SIZE NAME"; names here have no blanks.
# nfs_ls V PATH FIELDS: those fields (cut -f list) of every entry but . and
# .., sorted, into $WORK/ls.out.
nfs_ls() {
	nfs_run nfs-ls "$(nfs_url "$1" "$2")"
	if [ "$RC" != 0 ]; then
		cat "$ERR" >&2
		fail "NFSv$1: nfs-ls $2 exited $RC"
	fi
	awk '$6 != "." && $6 != ".." { print $1, $2, $3, $4, $5, $6 }' "$OUT" | cut -d' ' -f"$3" | sort >"$WORK/ls.out"
}

# src_ls DIR FIELDS: the same for a directory of the source, into
# $WORK/ls.want.
src_ls() {
	(cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%M %n %U %G %s %f\n') | cut -d' ' -f"$2" | sort >"$WORK/ls.want"
}

# compare_ls V PATH DIR FIELDS WHAT
compare_ls() {
	nfs_ls "$1" "$2" "$4"
	src_ls "$3" "$4"
	diff "$WORK/ls.want" "$WORK/ls.out" >&2 || fail "NFSv$1: $5 of $2 differ from the source (diff source nfs above)"
}

for v in 3 4; do
	# The mount root: the snapshot directory and "latest".
	nfs_ls "$v" / 6
	printf '%s\n' "$name" latest | sort >"$WORK/ls.want"
	diff "$WORK/ls.want" "$WORK/ls.out" >&2 || fail "NFSv$v: the export root does not list exactly $name and latest"

	# 300 entries: several READDIR round trips with cookies.
	compare_ls "$v" "$S/many" "$SRC/many" 6 "names"
	# Mode, owner, size of regular files; the link count of hard links.
	compare_ls "$v" "$S/files" "$SRC/files" 1,3-6 "modes, owners and sizes"
	compare_ls "$v" "$S/hard/x" "$SRC/hard/x" 2,6 "link counts"

	# Contents, byte for byte.
	for f in files/empty files/one-byte files/256k-minus-1 files/256k-plus-1 files/text.txt \
		files/multi-chunk-9m nested/a/b/c/d/e/f/g/h/deep.txt hard/y/three-3 modes/file-0600 \
		modes/dir-0700/f xattrs/acl-file sparse; do
		nfs_run nfs-cat "$(nfs_url "$v" "$S/$f")"
		if [ "$RC" != 0 ]; then
			cat "$ERR" >&2
			fail "NFSv$v: nfs-cat $S/$f exited $RC"
		fi
		cmp "$OUT" "$SRC/$f" >&2 || fail "NFSv$v: nfs-cat $S/$f returned other bytes than the source"
	done

	# NFSv4 path lookups follow the "latest" symlink of the mount root
	# (NFSv3 cannot: its MOUNT path must not cross a symlink).
	if [ "$v" = 4 ]; then
		nfs_run nfs-cat "$(nfs_url "$v" "/latest$SRC/files/text.txt")"
		[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "NFSv4: nfs-cat through latest exited $RC"; }
		cmp "$OUT" "$SRC/files/text.txt" >&2 || fail "NFSv4: nfs-cat through latest returned other bytes"
	fi

	# A copy out of the export.
	nfs_run nfs-cp "$(nfs_url "$v" "$S/files/4m-plus-1")" "$WORK/copy.v$v"
	if [ "$RC" != 0 ]; then
		cat "$OUT" "$ERR" >&2
		fail "NFSv$v: nfs-cp from the export exited $RC"
	fi
	cmp "$WORK/copy.v$v" "$SRC/files/4m-plus-1" >&2 || fail "NFSv$v: nfs-cp copied other bytes than the source"

	# Writes: a new file, in a snapshot directory and in the export root,
	# and over an existing file. Each must fail with the read-only error.
	printf 'must not land\n' >"$WORK/w"
	for dst in "$S/files/new-v$v" "/new-v$v" "$S/files/one-byte"; do
		nfs_run nfs-cp "$WORK/w" "$(nfs_url "$v" "$dst")"
		if [ "$RC" = 0 ]; then
			fail "NFSv$v: nfs-cp to $dst succeeded on a read-only export"
		fi
		grep -q "NFS${v}ERR_ROFS" "$OUT" "$ERR" || {
			cat "$OUT" "$ERR" >&2
			fail "NFSv$v: nfs-cp to $dst failed (exit $RC) without NFS${v}ERR_ROFS"
		}
	done
	if [ -e "$MNT$S/files/new-v$v" ] || [ -e "$MNT/new-v$v" ]; then
		fail "NFSv$v: a write created a file in the mount"
	fi
	cmp "$MNT$S/files/one-byte" "$SRC/files/one-byte" >&2 || fail "NFSv$v: a write changed a file in the mount"
	log "NFSv$v: listings, reads, copy and read-only errors as expected"
done

# --- file handles across a restart of both daemons ---------------------------
EXP=$(nfs_export_url 3)
HANDLE_FILES=(files/256k-plus-1 nested/a/b/c/d/e/f/g/h/deep.txt hard/y/three-3)
HANDLE_DIRS=(. nested/a/b files)
# Path inside the export of an entry of the source ("." is $SRC itself).
xp() {
	if [ "$1" = . ]; then printf '%s\n' "$S"; else printf '%s\n' "$S/$1"; fi
}
declare -A HEX=() INO=()
FSID=
for p in "${HANDLE_FILES[@]}" "${HANDLE_DIRS[@]}"; do
	run "$NFS_HANDLE" get "$EXP" "$(xp "$p")"
	[ "$RC" = 0 ] || { _lib_show_output; fail "nfs-handle get $(xp "$p") exited $RC"; }
	HEX[$p]=$(sed -n 1p "$OUT")
	INO[$p]=$(sed -n 2p "$OUT")
	[ -z "$FSID" ] || [ "$FSID" = "$(sed -n 3p "$OUT")" ] || fail "the export reports two fsids: $FSID and $(sed -n 3p "$OUT")"
	FSID=$(sed -n 3p "$OUT")
	[ "${INO[$p]}" = "$(stat -c %i "$MNT$(xp "$p")")" ] ||
		fail "NFS fileid ${INO[$p]} of $(xp "$p") is not the mount's st_ino $(stat -c %i "$MNT$(xp "$p")")"
done

# On failure: the old handle next to a fresh one for the same path. With
# FSAL_VFS on FUSE the handle ends in the kernel's FUSE handle: type 0x81,
# then the 8-byte node id (inode number) and 4-byte generation, so the two
# lines show which of them changed.
handle_diag() {
	printf 'old handle:   %s (fileid %s)\n' "${HEX[$1]}" "${INO[$1]}" >&2
	if "$NFS_HANDLE" get "$EXP" "$(xp "$1")" >"$WORK/.diag" 2>&1; then
		printf 'fresh handle: %s (fileid %s)\n' "$(sed -n 1p "$WORK/.diag")" "$(sed -n 2p "$WORK/.diag")" >&2
	else
		printf 'fresh lookup failed too: %s\n' "$(cat "$WORK/.diag")" >&2
	fi
	printf -- '--- chronofs log (last 10 lines):\n' >&2
	tail -n 10 "$FS_LOG" | cat -v >&2
}

# check_handles WHEN: every handle still reads the right bytes / names the
# same directory, from a client that has nothing but the handle.
check_handles() {
	local p
	for p in "${HANDLE_FILES[@]}"; do
		run "$NFS_HANDLE" read "$EXP" "${HEX[$p]}"
		if [ "$RC" != 0 ]; then
			cat "$ERR" >&2
			handle_diag "$p"
			fail "$1: reading $S/$p through its old NFS file handle failed (exit $RC)"
		fi
		cmp "$OUT" "$SRC/$p" >&2 || fail "$1: the old NFS file handle of $S/$p returned other bytes"
	done
	for p in "${HANDLE_DIRS[@]}"; do
		run "$NFS_HANDLE" stat "$EXP" "${HEX[$p]}"
		if [ "$RC" != 0 ]; then
			cat "$ERR" >&2
			handle_diag "$p"
			fail "$1: GETATTR through the old NFS file handle of directory $(xp "$p") failed (exit $RC)"
		fi
		[ "$(cat "$OUT")" = "dir ${INO[$p]} $(stat -c %s "$MNT$(xp "$p")")" ] ||
			fail "$1: the old handle of directory $(xp "$p") now names: $(cat "$OUT") (was dir ${INO[$p]})"
	done
}
check_handles "before any restart"
[ -n "$NFS_FSID" ] || fail "the sample examples/ganesha-chronofs.conf sets no Filesystem_id"

# ganesha alone: the mount and its device number stay, so do the handles.
nfs_restart
check_handles "after restarting ganesha alone"

dev=$(stat -c %d "$MNT")
restart_both() { # WHAT
	local old_pid=$FS_PID
	nfs_down
	umount_fs "$MNT"
	[ "$FS_RC" = 0 ] || fail "chronofs exited $FS_RC after fusermount3 -u"
	if ! nfs_remount_keep_dev "$dev" "$MNT" mount_fs umount_fs; then
		skip "the FUSE mount could not get its device number back; ganesha's old handles cannot work (not a chronofs bug)"
	fi
	[ "$FS_PID" != "$old_pid" ] || fail "chronofs was not restarted"
	nfs_start
	log "restarted ganesha and chronofs ($1)"
}

restart_both "same cache dir"
check_handles "after restarting ganesha and chronofs"

FS_CACHE=$WORK/cache-after-restart
restart_both "empty cache dir"
check_handles "after restarting ganesha and chronofs with an empty cache dir"

# A remount that gets another device number (the old one taken by a tmpfs
# meanwhile, as any mount in between would take it).
nfs_down
umount_fs "$MNT"
pinned=
for ((i = 0; i < 20; i++)); do
	pad=$NFS_DIR/newdev$i
	mkdir -p "$pad"
	mount -t tmpfs -o size=4k,mode=0700 chronofs-devpad "$pad" || break
	register_mount "$pad"
	[ "$(stat -c %d "$pad")" = "$dev" ] && { pinned=1; break; }
done
mount_fs "$MNT"
nfs_start
if [ -n "$pinned" ] && [ "$(stat -c %d "$MNT")" != "$dev" ]; then
	log "remounted with device number $(stat -c %d "$MNT") instead of $dev"
	for p in "${HANDLE_FILES[@]}" "${HANDLE_DIRS[@]}"; do
		run "$NFS_HANDLE" get "$EXP" "$(xp "$p")"
		[ "$RC" = 0 ] || { _lib_show_output; fail "after a remount with a new device number: a lookup of $(xp "$p") by path exited $RC"; }
		[ "$(sed -n 2p "$OUT")" = "${INO[$p]}" ] || fail "after a remount with a new device number: $(xp "$p") has fileid $(sed -n 2p "$OUT"), was ${INO[$p]}"
		[ "$(sed -n 3p "$OUT")" = "$FSID" ] ||
			fail "after a remount with a new device number: the fsid is $(sed -n 3p "$OUT"), was $FSID (the sample's Filesystem_id $NFS_FSID should hold it)"
	done
	stale=0 kept=0
	for p in "${HANDLE_FILES[@]}"; do
		run "$NFS_HANDLE" read "$EXP" "${HEX[$p]}"
		if [ "$RC" = 0 ]; then
			cmp "$OUT" "$SRC/$p" >&2 || fail "after a remount with a new device number: the old handle of $S/$p returned other bytes"
			kept=$((kept + 1))
		elif grep -q NFS3ERR_STALE "$ERR"; then
			stale=$((stale + 1))
		else
			cat "$ERR" >&2
			fail "after a remount with a new device number: the old handle of $S/$p failed (exit $RC) other than NFS3ERR_STALE"
		fi
	done
	log "after a remount with a new device number: $kept old handle(s) kept, $stale stale (ganesha puts the device number into its handles)"
else
	log "could not give the remount another device number: that case is not checked"
fi

# And the tree still reads by path through the restarted servers.
nfs_run nfs-cat "$(nfs_url 4 "$S/files/text.txt")"
[ "$RC" = 0 ] || { cat "$ERR" >&2; fail "NFSv4: nfs-cat after the restarts exited $RC"; }
cmp "$OUT" "$SRC/files/text.txt" >&2 || fail "NFSv4: nfs-cat after the restarts returned other bytes"

nfs_down
umount_fs "$MNT"
log "ok: NFSv3/v4 re-export of $name, handles survive daemon restarts"
