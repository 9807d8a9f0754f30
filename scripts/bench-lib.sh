# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # bench_name, chronoctl_built: the caller's; made_work, work: for it
# Helpers shared by scripts/bench and scripts/bench-prune. Sourced, not run:
# the caller has cd'd to the top of the tree, set root=$PWD and bench_name
# (the prefix of its progress lines).

bench_t0=$EPOCHSECONDS
say() { printf '%s [%4ds]: %s\n' "$bench_name" "$((EPOCHSECONDS - bench_t0))" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# check_uints VAR...: each named variable holds a non-negative integer.
check_uints() {
	local v
	for v in "$@"; do
		[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
	done
}

# check_tools: normalise $tools (BENCH_TOOLS: commas allowed) and refuse
# anything but chronofs, restic and borg.
check_tools() {
	local t
	tools=${tools//,/ }
	[ -n "${tools// /}" ] || die "BENCH_TOOLS is empty"
	for t in $tools; do
		case $t in chronofs | restic | borg) ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
	done
}

# install_deps PKG...: scripts/install-deps, then apt-get install those of
# the Debian packages PKG that are missing.
install_deps() {
	local p missing=() SUDO=
	scripts/install-deps >&2
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q >&2
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# need_cmds CMD...: each is on PATH (or an executable path).
need_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || die "$c not found (set BENCH_INSTALL=1 or install it)"
	done
}

# build_tools chronoctl|chronofs: chronoctl (and with chronofs the daemon
# too) from CHRONOCTL and CHRONOFS or build/tools; built with meson/ninja
# only when missing.
build_tools() {
	chronoctl=${CHRONOCTL:-$root/build/tools/chronoctl}
	chronofs=${CHRONOFS:-$root/build/tools/chronofs}
	if [ ! -x "$chronoctl" ] || { [ "$1" = chronofs ] && [ ! -x "$chronofs" ]; }; then
		[ -z "${CHRONOCTL:-}" ] || [ -x "$chronoctl" ] || die "CHRONOCTL=$chronoctl is not executable"
		[ -z "${CHRONOFS:-}" ] || [ -x "$chronofs" ] || die "CHRONOFS=$chronofs is not executable"
		say "building chronoctl and chronofs"
		[ -d build ] || meson setup build >&2
		ninja -C build >&2
	fi
}

fstype() { stat -f -c %T "$1" 2>/dev/null || echo unknown; }

# make_work_dir: work=$BENCH_DIR (made_work=0), or a new mktemp directory
# (made_work=1) under /var/tmp or another disk-backed place, never a tmpfs
# when one can be avoided. BENCH_DIR is exported as the absolute path.
make_work_dir() {
	local b base=
	made_work=0
	if [ -n "${BENCH_DIR:-}" ]; then
		work=$BENCH_DIR
		mkdir -p "$work"
	else
		for b in /var/tmp /tmp "$root/build"; do
			{ [ -d "$b" ] && [ -w "$b" ]; } || continue
			case $(fstype "$b") in tmpfs | ramfs) continue ;; esac
			base=$b
			break
		done
		if [ -z "$base" ]; then
			base=/var/tmp
			say "warning: no disk-backed temporary directory found; using $base ($(fstype "$base"))"
		fi
		work=$(mktemp -d "$base/chronofs-bench.XXXXXX")
		made_work=1
	fi
	work=$(realpath "$work")
	export BENCH_DIR=$work
	case $(fstype "$work") in
	tmpfs | ramfs) say "warning: $work is on $(fstype "$work"): disk numbers will be memory numbers" ;;
	esac
}

# check_space BYTES: refuse to start without about that much free in $work.
check_space() {
	local avail
	avail=$(($(df -P -k "$work" | awk 'NR == 2 { print $4 }') * 1024))
	[ "$avail" -ge "$1" ] || die "need about $(($1 / 1048576)) MiB free in $work, have $((avail / 1048576)) MiB"
}

# alive PID: the process exists and is not a zombie (an exited child that
# was not waited for still answers kill -0).
alive() {
	local st
	st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# init_page_cache: cache_state=cold when the page cache can be dropped
# (root and BENCH_DROP_CACHES=1), warm otherwise. drop_caches then syncs
# and drops it before each timed step.
init_page_cache() {
	cache_state=warm
	if [ "${BENCH_DROP_CACHES:-1}" = 1 ] && [ "$(id -u)" -eq 0 ]; then
		sync
		if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
			cache_state=cold
		fi
	fi
	say "timed steps start with a $cache_state page cache"
}

drop_caches() {
	sync
	if [ "$cache_state" = cold ]; then
		{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true
	fi
}

# --- the tools ----------------------------------------------------------------

password=bench-passphrase-not-secret
export CHRONOFS_PASSWORD=$password RESTIC_PASSWORD=$password BORG_PASSPHRASE=$password
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no
export BORG_EXIT_CODES=legacy
unset RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND CHRONOFS_PASSWORD_FILE BORG_PASSCOMMAND BORG_PASSPHRASE_FD

# Per-tool state lives in one directory per tool and run: repo/, cache/ (or
# borg's home), restore/.
set_tool_env_dir() {
	local d=$1
	export CHRONOFS_REPO=$d/repo CHRONOFS_CACHE_DIR=$d/cache
	export RESTIC_REPOSITORY=$d/repo RESTIC_CACHE_DIR=$d/cache
	export BORG_REPO=$d/repo BORG_BASE_DIR=$d/cache
}

# Compression and encryption: each tool's usual choice (see scripts/bench).
tool_init() {
	case $1 in
	chronofs) "$chronoctl" init ;;
	restic) restic init ;;
	borg) borg init --encryption repokey-blake2 ;;
	esac
}

# tool_version TOOL (chronofs: chronoctl_built, the binary's date).
tool_version() {
	case $1 in
	chronofs)
		local rev
		rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
		echo "chronofs chronoctl built $chronoctl_built (tree at git $rev)"
		;;
	restic) restic version | head -n 1 ;;
	borg) borg --version ;;
	esac
}

# corpus_size DIR: "files bytes" of the regular files under DIR, every inode
# once, apparent sizes (holes included).
corpus_size() {
	find "$1" -type f -printf '%i %s\n' | sort -u -k1,1 | awk '{ n++; s += $2 } END { printf "%d %d\n", n, s }'
}
