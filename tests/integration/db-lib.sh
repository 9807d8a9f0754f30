# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# (SC2034: variables set here are used by the sourcing tests.)
#
# db-lib.sh — throwaway PostgreSQL, MariaDB and Redis servers for the
# dump-stream tests, on 127.0.0.1 at free ports, all state under
# $WORK/db/NAME.KIND, each server's output in its server.log. Source it
# after lib.sh (it uses $WORK, fail, skip, log, track_pid, untrack_pid).
# The recipes and their pitfalls are shared/TESTING-INFRA.md §5.
#
# Every server runs in the foreground of a background job, so its PID is the
# server's own: stop sends the server's shutdown signal to that PID
# (SIGINT: PostgreSQL's fast shutdown; SIGTERM: MariaDB, Redis without
# saving), waits up to $DB_WAIT_S (60) s, then SIGKILL. An EXIT trap chained
# in front of lib.sh's stops every server still running, also when the
# test fails.
#
# A NAME is any word; one server of each kind per NAME ("src", "dst"...).
#   need_postgres / need_mariadb / need_redis
#                          skip (77) unless that server and its tools exist
#   pg_start NAME          a new cluster (superuser postgres, trust auth on
#                          127.0.0.1 only, fsync off); sets PG_PORT
#   maria_start NAME       a new MariaDB (user root, no password); sets
#                          MARIA_PORT
#   redis_start NAME [RDB] a new Redis with an empty dataset, or loaded from
#                          the RDB file RDB (read where it lies: Redis gets its
#                          directory as --dir); sets REDIS_PORT
#   db_prepare KIND..      make the pg and/or maria templates (below) side by
#                          side now, rather than one after the other at the
#                          first start of each (saves ~1 s)
#   db_port NAME KIND      the port of a running server (KIND pg, maria, redis)
#   db_stop NAME KIND      stop it, fail if it does not stop cleanly
#   db_started_ms          the milliseconds the last *_start took
#   db_psql NAME ARGS..    psql to NAME's cluster as postgres, quiet, stops at
#                          the first error
#   db_maria NAME ARGS..   the mariadb client to NAME's server as root, batch
#   db_redis NAME ARGS..   redis-cli to NAME's server
#   db_free_port           a TCP port nobody listens on now
#
# New clusters and MariaDB data directories are copies of one made by initdb
# / mariadb-install-db once per test: on the 2-core CI VM initdb took 1.4 s
# and a copy of its 39 MB (993 files) 0.8 s; mariadb-install-db 1.4 s and a
# copy of its 114 MB 0.35 s. With 1 MiB WAL segments and a 16 MiB redo log
# they are 28 MB and 34 MB.

DB_DIR=$WORK/db
declare -A _DB_PID=() _DB_PORT=()
_DB_T0=0
DB_START_MS=0

# PostgreSQL's server binaries are not on PATH on Debian; the clients
# (/usr/bin/pg_dump...) are, through pg_wrapper.
PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
	for _d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$_d/postgres" ] && { PG_BIN=$_d; break; }
	done
	unset _d
fi

need_postgres() {
	if [ -z "$PG_BIN" ] || ! [ -x "$PG_BIN/initdb" ]; then
		skip "PostgreSQL's server (initdb, postgres) is missing (postgresql-15)"
	fi
	local t
	for t in psql pg_dump pg_dumpall pg_restore pg_isready; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is missing (postgresql-client)"
	done
	id postgres >/dev/null 2>&1 || skip "there is no postgres user to run the server as"
	command -v setpriv >/dev/null 2>&1 || skip "setpriv is missing (util-linux)"
}

need_mariadb() {
	local t
	for t in mariadbd mariadb-install-db mariadb mariadb-admin mariadb-dump; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is missing (mariadb-server, mariadb-client)"
	done
}

need_redis() {
	command -v redis-server >/dev/null 2>&1 || skip "redis-server is missing (redis-server)"
	command -v redis-cli >/dev/null 2>&1 || skip "redis-cli is missing (redis-tools)"
}

db_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_db_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

db_started_ms() {
	echo "$DB_START_MS"
}

# Seconds a server may take to start or stop: a guard against a hang only
# (they take well under 1 s and 0.2 s), generous for a loaded CI machine.
DB_WAIT_S=${DB_WAIT_S:-60}

# _db_wait_ready NAME KIND CHECK...: until CHECK succeeds ($DB_WAIT_S s),
# failing with the server's log if it exits or does not answer.
_db_wait_ready() {
	local name=$1 kind=$2 pid end=$((SECONDS + DB_WAIT_S))
	shift 2
	pid=${_DB_PID[$name.$kind]}
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && {
			DB_START_MS=$(($(_db_now_ms) - _DB_T0))
			return 0
		}
		_lib_pid_alive "$pid" || break
		sleep 0.025
	done
	printf -- '--- %s log (%s):\n' "$kind" "$DB_DIR/$name.$kind/server.log" >&2
	tail -n 30 "$DB_DIR/$name.$kind/server.log" >&2 2>/dev/null
	_lib_pid_alive "$pid" || fail "the $kind server $name exited during start"
	fail "the $kind server $name did not answer within $DB_WAIT_S s"
}

# The server's own directory, reachable by the postgres user: lib.sh makes
# $WORK 0700, so it is opened for traversal (not listing) here.
_db_instance_dir() {
	local d=$DB_DIR/$1.$2
	chmod 0711 "$WORK"
	mkdir -p "$DB_DIR"
	chmod 0711 "$DB_DIR"
	[ ! -e "$d" ] || fail "a $2 server named $1 exists already ($d)"
	mkdir "$d"
	printf '%s\n' "$d"
}

_db_register() {
	local name=$1 kind=$2 pid=$3 port=$4
	_DB_PID[$name.$kind]=$pid
	_DB_PORT[$name.$kind]=$port
	track_pid "$pid"
}

db_prepare() {
	local pids=() k p rc=0
	for k in "$@"; do
		case $k in
		pg) _db_pg_template & ;;
		maria) _db_maria_template & ;;
		*) fail "db_prepare: unknown kind $k" ;;
		esac
		pids+=("$!")
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	[ "$rc" = 0 ] || fail "making the database templates failed"
}

# _db_new NAME KIND: an instance directory with a copy of KIND's template
# as data/ (none for redis) and a free port: sets _DB_D and _DB_NEW_PORT.
_db_new() {
	_DB_T0=$(_db_now_ms)
	[ "$2" = redis ] || "_db_$2_template"
	_DB_D=$(_db_instance_dir "$1" "$2")
	[ "$2" = redis ] || cp -a "$DB_DIR/$2-template" "$_DB_D/data"
	_DB_NEW_PORT=$(db_free_port)
}

db_port() {
	local p=${_DB_PORT[$1.$2]:-}
	[ -n "$p" ] || fail "no $2 server named $1 was started"
	printf '%s\n' "$p"
}

# --- PostgreSQL ---------------------------------------------------------------

# _db_template KIND CMD...: run CMD, which makes $DB_DIR/KIND-template.tmp,
# unless the template exists; its output goes to $DB_DIR/KIND-template.log.
_db_template() {
	local kind=$1 t=$DB_DIR/$1-template
	shift
	[ -d "$t" ] && return 0
	"$@" >"$t.log" 2>&1 || { tail -n 20 "$t.log" >&2; fail "making the $kind template failed: $*"; }
	mv "$t.tmp" "$t"
}

_db_pg_template() {
	local t=$DB_DIR/pg-template
	mkdir -p "$DB_DIR"
	chmod 0711 "$WORK" "$DB_DIR"
	[ -d "$t" ] && return 0
	rm -rf "$t.tmp"
	mkdir "$t.tmp"
	chown postgres: "$t.tmp"
	_db_template pg setpriv --reuid=postgres --regid=postgres --init-groups -- "$PG_BIN/initdb" -D "$t.tmp" \
		-A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 --wal-segsize=1
}

pg_start() {
	local name=$1 d port
	_db_new "$name" pg
	d=$_DB_D port=$_DB_NEW_PORT
	chown postgres: "$d"
	# setpriv execs: $! is the postmaster. Nothing durable: fsync off.
	setpriv --reuid=postgres --regid=postgres --init-groups -- "$PG_BIN/postgres" -D "$d/data" \
		-p "$port" -k "$d" -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
		-c synchronous_commit=off -c logging_collector=off >"$d/server.log" 2>&1 &
	_db_register "$name" pg $! "$port"
	_db_wait_ready "$name" pg pg_isready -q -h 127.0.0.1 -p "$port" -U postgres
	PG_PORT=$port
}

db_psql() {
	local name=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(db_port "$name" pg)" -U postgres "$@"
}

# --- MariaDB ------------------------------------------------------------------

_db_maria_template() {
	mkdir -p "$DB_DIR"
	_db_template maria mariadb-install-db --no-defaults --datadir="$DB_DIR/maria-template.tmp" --user=root \
		--auth-root-authentication-method=normal --skip-test-db --innodb-log-file-size=16M
}

maria_start() {
	local name=$1 d port
	_db_new "$name" maria
	d=$_DB_D port=$_DB_NEW_PORT
	# A 16 MiB redo log as in the template (mariadb-install-db makes 96 MiB
	# by default, the most of a 114 MB data directory to copy).
	mariadbd --no-defaults --datadir="$d/data" --user=root --bind-address=127.0.0.1 --port="$port" \
		--socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" --log-error="$d/server.log" \
		--tmpdir="$d" --skip-log-bin --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
		--innodb-flush-log-at-trx-commit=0 >>"$d/server.log" 2>&1 &
	_db_register "$name" maria $! "$port"
	_db_wait_ready "$name" maria mariadb-admin --no-defaults -h 127.0.0.1 -P "$port" -uroot ping
	MARIA_PORT=$port
}

db_maria() {
	local name=$1
	shift
	mariadb --no-defaults --batch --skip-column-names -h 127.0.0.1 -P "$(db_port "$name" maria)" -uroot "$@"
}

# --- Redis --------------------------------------------------------------------

redis_start() {
	local name=$1 rdb=${2:-} d port dir file
	_db_new "$name" redis
	d=$_DB_D port=$_DB_NEW_PORT
	dir=$d
	file=dump.rdb
	if [ -n "$rdb" ]; then
		[ -f "$rdb" ] || fail "redis_start $name: no RDB file $rdb"
		dir=$(dirname "$rdb")
		file=$(basename "$rdb")
	fi
	# save "": never writes the dataset (so an RDB read from a read-only
	# mount stays untouched); logfile "": the log to stdout;
	# repl-diskless-sync-delay 0: else every
	# `redis-cli --rdb` waits 5 s before the transfer starts.
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --dbfilename "$file" --save "" \
		--appendonly no --repl-diskless-sync-delay 0 --enable-debug-command local \
		--logfile "" >"$d/server.log" 2>&1 &
	_db_register "$name" redis $! "$port"
	# PING answers LOADING (with exit status 0) while the RDB loads.
	_db_wait_ready "$name" redis _db_redis_pong "$port"
	REDIS_PORT=$port
}

_db_redis_pong() {
	[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

db_redis() {
	local name=$1
	shift
	redis-cli -h 127.0.0.1 -p "$(db_port "$name" redis)" "$@"
}

# --- stopping -----------------------------------------------------------------

# _db_stop_pid NAME KIND: shutdown signal, $DB_WAIT_S s, SIGKILL. Status 1
# if the server had to be killed or exited with a failure.
_db_stop_pid() {
	local name=$1 kind=$2 pid sig=TERM rc=0 end=$((SECONDS + DB_WAIT_S))
	pid=${_DB_PID[$name.$kind]:-}
	[ -n "$pid" ] || return 0
	[ "$kind" = pg ] && sig=INT
	kill -"$sig" "$pid" 2>/dev/null
	while ((SECONDS < end)); do
		_lib_pid_alive "$pid" || break
		sleep 0.05
	done
	if _lib_pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null || rc=1
	untrack_pid "$pid"
	unset "_DB_PID[$name.$kind]" "_DB_PORT[$name.$kind]"
	return "$rc"
}

db_stop() {
	local t0
	t0=$(_db_now_ms)
	_db_stop_pid "$1" "$2" || {
		tail -n 20 "$DB_DIR/$1.$2/server.log" >&2 2>/dev/null
		fail "the $2 server $1 did not stop cleanly"
	}
	log "$2 $1 stopped in $(($(_db_now_ms) - t0)) ms"
}

_db_stop_all() {
	local k
	for k in "${!_DB_PID[@]}"; do
		_db_stop_pid "${k%.*}" "${k##*.}" ||
			printf '%s: %s server %s had to be killed\n' "$TEST_NAME" "${k##*.}" "${k%.*}" >&2
	done
}

# Chain in front of lib.sh's EXIT trap (which would SIGKILL the servers):
# servers shut down by their own signal first. $? is handed on unchanged.
_db_prev_exit_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
_db_exit() {
	local rc=$?
	set +e
	_db_stop_all
	if [ -n "$_db_prev_exit_trap" ]; then
		(exit "$rc")
		eval "$_db_prev_exit_trap"
	fi
	exit "$rc"
}
trap _db_exit EXIT
