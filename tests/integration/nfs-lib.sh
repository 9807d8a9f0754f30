# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# (SC2034: variables set here are used by the sourcing tests.)
#
# nfs-lib.sh — re-export a FUSE mount over NFS with nfs-ganesha (FSAL_VFS,
# NFSv3 and NFSv4, read-only, loopback only) and talk to it with the libnfs
# client tools. Source it after lib.sh (it uses $WORK, fail, skip, log,
# track_pid, untrack_pid, wait_rc).
#
# There is no kernel NFS server or client on the test machines; ganesha is a
# user-space server and libnfs a user-space client. See
# shared/TESTING-INFRA.md §2 for why each setting below is there.
#
# Helpers:
#   nfs_require            skip (77) unless ganesha.nfsd with FSAL_VFS,
#                          rpcbind/rpcinfo and nfs-ls/nfs-cat/nfs-cp exist
#   nfs_up DIR [PSEUDO]    start rpcbind (or reuse a running one) and
#                          ganesha exporting DIR read-only as PSEUDO, with
#                          the shipped examples/ganesha-chronofs.conf
#                          (default /export); also the MOUNT path for
#                          NFSv3 (Mount_Path_Pseudo). Sets NFS_PORT,
#                          NFS_MNT_PORT, NFS_PSEUDO, NFS_FSID (the sample's
#                          Filesystem_id), GANESHA_PID, GANESHA_LOG.
#                          Waits until the server answers.
#   nfs_down               stop ganesha (SIGTERM, then SIGKILL after 10 s);
#                          rpcbind keeps running until cleanup
#   nfs_start              start ganesha again after nfs_down, with the same
#                          configuration (same ports, same export)
#   nfs_restart            nfs_down + nfs_start
#   nfs_remount_keep_dev DEV MNT MOUNT_FN UMOUNT_FN
#                          remount a FUSE mount so that it gets device
#                          number DEV again (ganesha's handles embed it)
#   nfs_url V PATH         nfs:// URL of PATH (inside the export, starting
#                          with /) for NFS version V (3 or 4), with the
#                          ports given explicitly (no portmapper lookups)
#   nfs_export_url V       URL of the export itself (for nfs-handle)
#   nfs_run CMD...         run CMD (an nfs-* tool) with a timeout, never
#                          fail; stdout -> $OUT, stderr -> $ERR, status -> $RC
# Cleanup (an EXIT trap that runs before lib.sh's) stops ganesha, then the
# rpcbind we started (never one that was already running), so lib.sh can
# unmount the FUSE mount that ganesha held open.

NFS_DIR=$WORK/nfs
NFS_PORT=
NFS_MNT_PORT=
NFS_PSEUDO=/export
NFS_FSID=
GANESHA_PID=
GANESHA_LOG=$NFS_DIR/ganesha.log
RPCBIND_PID=
# Seconds any single nfs-* client command may take.
NFS_TIMEOUT=${NFS_TIMEOUT:-30}

nfs_require() {
	command -v ganesha.nfsd >/dev/null 2>&1 || skip "ganesha.nfsd is missing (nfs-ganesha)"
	_nfs_fsal_dir >/dev/null || skip "FSAL_VFS (libfsalvfs.so) is missing (nfs-ganesha-vfs)"
	command -v rpcinfo >/dev/null 2>&1 || skip "rpcinfo is missing (rpcbind)"
	local t
	for t in nfs-ls nfs-cat nfs-cp; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is missing (libnfs-utils)"
	done
}

# Directory that holds libfsalvfs.so; ganesha loads FSALs from Plugins_Dir.
_nfs_fsal_dir() {
	local f d
	for d in /usr/lib/x86_64-linux-gnu/ganesha /usr/lib/*/ganesha /usr/lib64/ganesha /usr/lib/ganesha \
		/usr/local/lib/ganesha /usr/local/lib64/ganesha; do
		[ -f "$d/libfsalvfs.so" ] && { printf '%s\n' "$d"; return 0; }
	done
	if command -v dpkg >/dev/null 2>&1; then
		f=$(dpkg -L nfs-ganesha-vfs 2>/dev/null | grep '/libfsalvfs\.so$' | head -n 1)
		[ -n "$f" ] && { dirname "$f"; return 0; }
	fi
	return 1
}

# Status 0 if something listens on TCP port $1 (any address), from
# /proc/net/tcp{,6}: state 0A is LISTEN, the local port is hex after ':'.
_nfs_port_busy() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p="$hex" '$4 == "0A" { split($2, a, ":"); if (a[2] == p) found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Picks two free ports for NFS and MOUNT. 2049 is used when it is free, so a
# failure is easy to reproduce by hand with default client settings.
_nfs_pick_ports() {
	local p
	NFS_PORT=
	NFS_MNT_PORT=
	for p in 2049 $(seq 20490 20589); do
		_nfs_port_busy "$p" && continue
		if [ -z "$NFS_PORT" ]; then
			NFS_PORT=$p
		elif [ "$p" != 2049 ]; then
			NFS_MNT_PORT=$p
			return 0
		fi
	done
	skip "no free TCP port for NFS in 20490..20589"
}

_nfs_pid_alive() {
	local st
	[ -e "/proc/$1" ] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Ganesha needs rpcbind to register NFSv3 and MOUNT (without it, it exits
# with status 2 after ~10 s). Clients here never ask rpcbind: every URL
# names its ports.
_nfs_rpcbind_up() {
	local i
	if rpcinfo -p 127.0.0.1 >"$NFS_DIR/rpcinfo.before" 2>&1; then
		# Someone else's rpcbind: reuse it, and do not take over (and later
		# unregister) another NFS server's programs.
		if awk '$1 == 100003 || $1 == 100005 { found = 1 } END { exit !found }' "$NFS_DIR/rpcinfo.before"; then
			skip "another NFS server is registered with the running rpcbind"
		fi
		log "reusing the running rpcbind"
		return 0
	fi
	command -v rpcbind >/dev/null 2>&1 || skip "rpcbind is missing"
	# Not "-h 127.0.0.1": rpcbind 1.2.6 aborts with a double free.
	rpcbind -f >"$NFS_DIR/rpcbind.log" 2>&1 &
	RPCBIND_PID=$!
	track_pid "$RPCBIND_PID"
	for ((i = 0; i < 100; i++)); do
		rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && return 0
		_nfs_pid_alive "$RPCBIND_PID" || break
		sleep 0.05
	done
	cat "$NFS_DIR/rpcbind.log" >&2
	fail "rpcbind did not start"
}

# The configuration is the shipped sample, examples/ganesha-chronofs.conf,
# with this run's values put in: ports, Path and Pseudo replaced; the bind
# address (loopback only), the FSAL directory, a private recovery
# directory and the log levels added. Each substitution is checked, so a
# sample that changes shape fails here instead of testing something else.
NFS_SAMPLE=$SRCDIR/examples/ganesha-chronofs.conf
_nfs_write_conf() {
	local dir=$1 plugins conf=$NFS_DIR/ganesha.conf
	plugins=$(_nfs_fsal_dir)
	mkdir -p "$NFS_DIR/recovery"
	[ -f "$NFS_SAMPLE" ] || fail "the ganesha sample $NFS_SAMPLE is missing"
	sed -e "s|^\([[:space:]]*NFS_Port = \)[0-9]*;|\1$NFS_PORT;|" \
		-e "s|^\([[:space:]]*MNT_Port = \)[0-9]*;|\1$NFS_MNT_PORT;|" \
		-e "s|^\([[:space:]]*Path = \)\"[^\"]*\";|\1\"$dir\";|" \
		-e "s|^\([[:space:]]*Pseudo = \)\"[^\"]*\";|\1\"$NFS_PSEUDO\";|" \
		-e "s|^NFS_CORE_PARAM {\$|&\n\tBind_addr = 127.0.0.1;\n\tPlugins_Dir = \"$plugins\";|" \
		-e "s|^NFSv4 {\$|&\n\tRecoveryRoot = \"$NFS_DIR/recovery\";|" \
		-e "s|^LOG {\$|&\n\tCOMPONENTS { FSAL = ${NFS_FSAL_LOG_LEVEL:-EVENT}; }|" \
		"$NFS_SAMPLE" >"$conf"
	local want
	for want in "NFS_Port = $NFS_PORT;" "MNT_Port = $NFS_MNT_PORT;" "Path = \"$dir\";" \
		"Pseudo = \"$NFS_PSEUDO\";" "Bind_addr = 127.0.0.1;" "Plugins_Dir = \"$plugins\";" \
		"RecoveryRoot = \"$NFS_DIR/recovery\";" "COMPONENTS { FSAL ="; do
		grep -qF -- "$want" "$conf" || fail "the ganesha sample $NFS_SAMPLE no longer takes \"$want\" (see nfs-lib.sh)"
	done
	NFS_FSID=$(sed -n 's/^[[:space:]]*Filesystem_id = \([0-9.]*\);.*/\1/p' "$conf")
}

_nfs_ganesha_start() {
	local i start
	start=0
	[ -f "$GANESHA_LOG" ] && start=$(wc -l <"$GANESHA_LOG")
	ganesha.nfsd -F -f "$NFS_DIR/ganesha.conf" -L "$GANESHA_LOG" -p "$NFS_DIR/ganesha.pid" \
		-N NIV_EVENT >>"$NFS_DIR/ganesha.out" 2>&1 &
	GANESHA_PID=$!
	track_pid "$GANESHA_PID"
	for ((i = 0; i < 200; i++)); do
		# Only this start's lines count (the log is appended to).
		if tail -n +$((start + 1)) "$GANESHA_LOG" 2>/dev/null | grep -q 'NFS SERVER INITIALIZED'; then
			return 0
		fi
		_nfs_pid_alive "$GANESHA_PID" || break
		sleep 0.05
	done
	printf -- '--- ganesha log:\n' >&2
	tail -n 40 "$GANESHA_LOG" >&2 2>/dev/null
	tail -n 20 "$NFS_DIR/ganesha.out" >&2 2>/dev/null
	_nfs_pid_alive "$GANESHA_PID" || fail "ganesha.nfsd exited during start"
	fail "ganesha.nfsd did not start within 10 s"
}

nfs_up() {
	local dir=$1
	NFS_PSEUDO=${2:-/export}
	mkdir -p "$NFS_DIR"
	_nfs_pick_ports
	_nfs_rpcbind_up
	_nfs_write_conf "$dir"
	_nfs_ganesha_start
	log "ganesha exports $dir as $NFS_PSEUDO on 127.0.0.1 (nfs $NFS_PORT, mount $NFS_MNT_PORT)"
}

nfs_down() {
	local i
	[ -n "$GANESHA_PID" ] || return 0
	kill -TERM "$GANESHA_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		_nfs_pid_alive "$GANESHA_PID" || break
		sleep 0.1
	done
	_nfs_pid_alive "$GANESHA_PID" && kill -KILL "$GANESHA_PID" 2>/dev/null
	wait "$GANESHA_PID" 2>/dev/null
	untrack_pid "$GANESHA_PID"
	GANESHA_PID=
}

nfs_start() {
	[ -z "$GANESHA_PID" ] || fail "nfs_start: ganesha is already running (pid $GANESHA_PID)"
	_nfs_ganesha_start
}

nfs_restart() {
	nfs_down
	nfs_start
}

nfs_url() {
	local v=$1 path=$2
	printf 'nfs://127.0.0.1%s%s?version=%s&nfsport=%s&mountport=%s\n' \
		"$NFS_PSEUDO" "$path" "$v" "$NFS_PORT" "$NFS_MNT_PORT"
}

nfs_export_url() {
	nfs_url "$1" ""
}

# nfs_remount_keep_dev DEV MNT MOUNT_FN UMOUNT_FN: runs `MOUNT_FN MNT` until
# MNT's st_dev is DEV again; status 1 if that cannot be had.
#
# Why: a FUSE file system reports no f_fsid, so ganesha builds the fsid in
# every file handle from the mount's anonymous device number (0:N). A fresh
# FUSE mount gets the lowest free N; if any other mount took the old N in
# between, every old handle is stale whatever the daemon does. The kernel
# hands out the lowest free number, so each wrong number below DEV is
# pinned with a tmpfs under $NFS_DIR (unmounted at cleanup) and the FUSE
# mount is retried, climbing to DEV; a number above DEV means DEV is taken.
# (A real server would need the same care, or an fsid option, which ganesha
# 4.3's FSAL_VFS lacks; the kernel server's exports(5) fsid= option is that.)
nfs_remount_keep_dev() {
	local want=$1 mnt=$2 mount_fn=$3 umount_fn=$4 i got pad
	for ((i = 0; i < 20; i++)); do
		"$mount_fn" "$mnt"
		got=$(stat -c %d -- "$mnt")
		[ "$got" = "$want" ] && return 0
		"$umount_fn" "$mnt"
		if [ "$got" -gt "$want" ]; then
			log "device number $want is taken by another mount (got $got)"
			return 1
		fi
		pad=$NFS_DIR/devpad$i
		mkdir -p "$pad"
		mount -t tmpfs -o size=4k,mode=0700 chronofs-devpad "$pad" || return 1
		register_mount "$pad"
		log "device number $got pinned with a tmpfs, want $want"
	done
	return 1
}

nfs_run() {
	RC=0
	# meson sets MALLOC_PERTURB_ for every test. libnfs 5.0's client tools
	# then resolve an NFSv4 path through a symlink with uninitialised bytes
	# after the target ("NAME\xb1.../rest": NFS4ERR_NOENT), although the
	# server's READLINK is right (chronofs and ganesha stay perturbed and
	# pass). The client is the tool here, not the subject: run it clean.
	env -u MALLOC_PERTURB_ timeout -k 5 "$NFS_TIMEOUT" "$@" >"$OUT" 2>"$ERR" || RC=$?
}

_nfs_cleanup() {
	local i
	set +e
	nfs_down
	if [ -n "$RPCBIND_PID" ]; then
		kill -TERM "$RPCBIND_PID" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			_nfs_pid_alive "$RPCBIND_PID" || break
			sleep 0.1
		done
		_nfs_pid_alive "$RPCBIND_PID" && kill -KILL "$RPCBIND_PID" 2>/dev/null
		wait "$RPCBIND_PID" 2>/dev/null
		untrack_pid "$RPCBIND_PID"
		RPCBIND_PID=
	fi
}

# Chain in front of lib.sh's EXIT trap: ganesha must let go of the FUSE
# mount before lib.sh unmounts it. $? is handed on unchanged.
_nfs_prev_exit_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
_nfs_exit() {
	local rc=$?
	_nfs_cleanup
	if [ -n "$_nfs_prev_exit_trap" ]; then
		(exit "$rc")
		eval "$_nfs_prev_exit_trap"
	fi
	exit "$rc"
}
trap _nfs_exit EXIT
