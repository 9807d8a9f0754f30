#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Real databases through stream sources: one snapshot, taken by a job of
# the configuration file (`chronoctl run`), takes `pg_dump -Fc`
# and `pg_dumpall --globals-only` of a PostgreSQL 15 cluster,
# `mariadb-dump --single-transaction` of a MariaDB database and
# `mariadb-dump --system=users` of its users, and `redis-cli --rdb -` of a
# Redis server, while writers change PostgreSQL and MariaDB. Restored, the
# dumps load into FRESH servers (a new cluster, a new MariaDB, a Redis
# started on the dump.rdb where it lies) with the same rows and keys:
# counts, an md5 over every row in key order, CHECKSUM TABLE, DBSIZE and
# DEBUG DIGEST agree, the globals bring back the owning role, the MariaDB
# users their grants, and the writers' transfers are seen at one instant.
# Through the mount the dumps are the same bytes, and pg_restore -j 2 and
# Redis load theirs straight from it.
# Failures: a dump command that cannot connect or names a missing database
# fails `snapshot create` with the stream path, the exit status and the
# command's stderr, and commits nothing, also when other dumps of the same
# snapshot succeeded; a dump killed midway commits nothing.
# The dump commands are defined once (STREAMS): the snapshot that is loaded
# is taken by `chronoctl run` of a configured job with those stream lines,
# the failures by `snapshot create --stream`; the loading is defined once
# (load_all DIR NAME), for the restore and the mount.
# Server start and test times are logged (they never decide pass/fail).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=db-lib.sh
. "$(dirname "$0")/db-lib.sh"
need_postgres
need_mariadb
need_redis

T0=$(_db_now_ms)
elapsed() { echo "$(($(_db_now_ms) - T0)) ms"; }

# --- source servers, populated ------------------------------------------------
db_prepare pg maria
log "initdb + mariadb-install-db (side by side): $(elapsed)"
pg_start src
log "postgres src ready in $(db_started_ms) ms"
maria_start src
log "mariadb src ready in $(db_started_ms) ms"
redis_start src
log "redis src ready in $(db_started_ms) ms"
PG_SRC=$PG_PORT MARIA_SRC=$MARIA_PORT REDIS_SRC=$REDIS_PORT

N=100000
# PostgreSQL: a login role owning a database with 100k rows of several types.
db_psql src -c "create role app login password 'app-secret'" -c "create database shop owner app"
db_psql src -d shop <<EOF
set role app;
create table items (id int primary key, name text not null, price numeric(10,2),
                    created timestamptz, data bytea);
insert into items select g, md5(g::text), g * 1.25, timestamptz '2026-01-01 00:00Z' + g * interval '1 s',
                         decode(md5(g::text), 'hex') from generate_series(1, $N) g;
create view cheap as select id, name from items where price < 10;
create table accounts (id int primary key, bal int not null);
insert into accounts select g, 1000 from generate_series(1, 1000) g;
create table vault (bal int not null);
insert into vault values (0);
EOF
# Every column of every row, in key order.
PG_SUM="select count(*) || ' ' || md5(string_agg(i::text, ',' order by id)) from items i"
# The role as the cluster stores it (password hash included) and the owners.
PG_ROLE="select rolname, rolcanlogin, rolsuper, rolpassword from pg_authid where rolname = 'app'"
PG_OWNERS="select d.datdba::regrole || ' ' || t.tableowner from pg_database d, pg_tables t where d.datname = 'shop' and t.tablename = 'items'"
pg_sum_src=$(db_psql src -d shop -At -c "$PG_SUM")
pg_role_src=$(db_psql src -At -c "$PG_ROLE")
pg_owners_src=$(db_psql src -d shop -At -c "$PG_OWNERS")
[ "${pg_sum_src%% *}" = "$N" ] || fail "postgres: $pg_sum_src rows, wanted $N"

# MariaDB: 100k rows of several types, a view, a stored procedure, and a
# user with a role and grants (dumped apart, as --system=users).
db_maria src <<EOF
create user app@'%' identified by 'app-secret';
create role reader;
grant select on shop.* to reader;
grant reader to app@'%';
grant select, insert on shop.* to app@'%';
create database shop;
use shop;
create table items (id int primary key, name varchar(64) not null, price decimal(10,2),
                    created datetime, data varbinary(16)) engine=InnoDB;
insert into items select seq, md5(seq), seq * 1.25, '2026-01-01' + interval seq second, unhex(md5(seq))
  from seq_1_to_$N;
create view cheap as select id, name from items where price < 10;
create procedure item_count(out n int) select count(*) into n from items;
create table accounts (id int primary key, bal int not null) engine=InnoDB;
insert into accounts select seq, 1000 from seq_1_to_1000;
create table vault (bal int not null) engine=InnoDB;
insert into vault values (0);
EOF
MARIA_SUM="set session group_concat_max_len = 67108864;
select concat(count(*), ' ', md5(group_concat(concat_ws(':', id, name, price, created, hex(data))
  order by id separator ','))) from shop.items;
checksum table shop.items;
select count(*) from information_schema.routines where routine_schema = 'shop';
select count(*) from information_schema.views where table_schema = 'shop'"
maria_sum_src=$(db_maria src -e "$MARIA_SUM")
[ "$(head -n 1 <<<"$maria_sum_src" | cut -d' ' -f1)" = "$N" ] || fail "mariadb: $maria_sum_src"
MARIA_GRANTS="show grants for app@'%'; show grants for reader"
maria_grants_src=$(db_maria src -e "$MARIA_GRANTS")

# Redis: 100k strings, and one key of every other type (one with a TTL).
db_redis src debug populate "$N" key 64 >/dev/null
db_redis src hset h f1 v1 f2 v2 >/dev/null
db_redis src rpush l a b c >/dev/null
db_redis src sadd s x y z >/dev/null
db_redis src zadd z 1 one 2 two >/dev/null
db_redis src xadd x '1-1' f v >/dev/null
db_redis src set ttl v EX 3600 >/dev/null
redis_sum() { echo "$(db_redis "$1" dbsize) $(db_redis "$1" debug digest) $(db_redis "$1" getrange key:4242 0 9)"; }
redis_sum_src=$(redis_sum src)
[ "${redis_sum_src%% *}" = $((N + 6)) ] || fail "redis: $redis_sum_src"
log "populated: $(elapsed)"

# Writers while the dumps run: transfers of 1 from a random account to the
# vault, one transaction each, in one client session per database. The
# dump reads accounts, then items (100k rows), then vault: only a dump of
# one instant (pg_dump, mariadb-dump --single-transaction) keeps
# sum(accounts) + vault = 1,000,000.
TOTAL=1000000
BALANCE="select concat(sum(bal) + (select bal from vault), ' ', (select bal from vault)) from accounts"
# About one transfer a millisecond (read -t on a FIFO nobody writes is a
# sleep without a fork): at full speed the writers took the CPU from the
# dumps (snapshot 2.9 s instead of 0.8 s on 2 cores).
mkfifo "$WORK/idle.fifo"
exec {IDLE_FD}<>"$WORK/idle.fifo"
transfers() {
	while :; do
		printf 'begin; update accounts set bal = bal - 1 where id = %d; update vault set bal = bal + 1; commit;\n' \
			$((RANDOM % 1000 + 1))
		read -r -t 0.001 -u "$IDLE_FD" || true
	done
}
transfers | psql -X -q -h 127.0.0.1 -p "$PG_SRC" -U postgres -d shop >"$WORK/pg-writer.log" 2>&1 &
PG_WRITER=$!
track_pid "$PG_WRITER"
transfers | mariadb --no-defaults -h 127.0.0.1 -P "$MARIA_SRC" -uroot shop >"$WORK/maria-writer.log" 2>&1 &
MARIA_WRITER=$!
track_pid "$MARIA_WRITER"
# Under way before the snapshot starts (a wait for an event, not a timing).
for ((i = 0; i < 200; i++)); do
	[ "$(db_psql src -d shop -At -c "select bal from vault")" -gt 0 ] &&
		[ "$(db_maria src shop -e "select bal from vault")" -gt 0 ] && break
	sleep 0.05
done
[ "$i" -lt 200 ] || fail "the writers made no transfer in 10 s (see $WORK/*-writer.log)"
# stop_writer PID LOG: it ran without an error until now.
stop_writer() {
	_lib_pid_alive "$1" || { cat "$2" >&2; fail "a writer died during the snapshot"; }
	kill -TERM "$1"
	wait_rc "$1"
	if grep -qi error "$2"; then
		cat "$2" >&2
		fail "a writer failed"
	fi
}

# --- the dump commands, defined once ------------------------------------------
# (A job's `stream = PATH=COMMAND` lines take the same strings.)
# As chronoctl(8) advises: -w (never prompt for a password), -Z0 (chronofs
# compresses; a compressed archive would not dedup from one run to the next).
PG_DUMP="pg_dump -h 127.0.0.1 -p $PG_SRC -U postgres -w -Fc -Z0 shop"
PG_GLOBALS="pg_dumpall -h 127.0.0.1 -p $PG_SRC -U postgres -w --globals-only"
MARIA_DUMP="mariadb-dump --no-defaults -h 127.0.0.1 -P $MARIA_SRC -uroot --single-transaction --routines --events --databases shop"
# --insert-ignore: CREATE USER IF NOT EXISTS, so that the users load into a
# server that has its own root already.
MARIA_USERS="mariadb-dump --no-defaults -h 127.0.0.1 -P $MARIA_SRC -uroot --system=users --insert-ignore"
REDIS_DUMP="redis-cli -h 127.0.0.1 -p $REDIS_SRC --rdb -"
STREAMS=(
	"/db/postgres/shop.dump=$PG_DUMP"
	"/db/postgres/globals.sql=$PG_GLOBALS"
	"/db/mariadb/shop.sql=$MARIA_DUMP"
	"/db/mariadb/users.sql=$MARIA_USERS"
	"/db/redis/dump.rdb=$REDIS_DUMP"
)
STREAM_FILES=(postgres/shop.dump postgres/globals.sql mariadb/shop.sql mariadb/users.sql redis/dump.rdb)
# stream_args STREAM...: the --stream options for these PATH=COMMAND pairs.
stream_args() {
	ARGS=()
	local s
	for s in "$@"; do
		ARGS+=(--stream "$s")
	done
}

ok cfs init
n0=$(snap_count)
# The snapshot is taken as operators take it: a job of the configuration
# file (chronofs.conf(5)) whose stream lines are the same PATH=COMMAND
# strings, run by `chronoctl run`.
printf '%s' "$PASSWORD" >"$WORK/password"
CONF=$WORK/chronofs.conf
{
	printf '[repository main]\nlocation = %s\npassword_file = %s\ncache_dir = %s\n\n' "$REPO" "$WORK/password" "$CACHE"
	printf '[job db]\ntier = important\nrepository = main\n'
	printf 'stream = %s\n' "${STREAMS[@]}"
} >"$CONF"
ok "$CHRONOCTL" --config "$CONF" config check
t=$(_db_now_ms)
ok timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" --config "$CONF" run db --json
[ "$(jq -r '.[0] | [.result, .type] | join(" ")' "$OUT")" = "ok full" ] || fail "run db: $(cat "$OUT")"
ok cfs snapshot show --json latest
cp "$OUT" "$WORK/snap.json"
[ "$(json_get "$WORK/snap.json" .job)" = db ] || fail "the snapshot does not name job db: $(cat "$WORK/snap.json")"
SNAP_NAME=$(json_get "$WORK/snap.json" .name)
log "job db, the five dumps: $(($(_db_now_ms) - t)) ms, $(json_get "$WORK/snap.json" .stats.bytes_read) bytes read, $(json_get "$WORK/snap.json" .stats.bytes_added) added"
stop_writer "$PG_WRITER" "$WORK/pg-writer.log"
stop_writer "$MARIA_WRITER" "$WORK/maria-writer.log"
log "writers: $(db_psql src -d shop -At -c "select bal from vault") transfers on postgres, $(db_maria src shop -e "select bal from vault") on mariadb"
NAME=$SNAP_NAME
[ "$(snap_count)" = $((n0 + 1)) ] || fail "the snapshot was not listed"

# --- failures: nothing is committed -------------------------------------------
DEAD_PORT=$(db_free_port)
# expect_stream_failure PATH STDERR_TEXT STREAM...: snapshot create with
# these streams fails naming PATH, an exit status or signal, the command's
# own stderr, and that nothing was committed. Its stderr: $FAIL_ERR. (The
# snapshot list is counted once after all of them: a failure can only add.)
expect_stream_failure() {
	local path=$1 text=$2
	shift 2
	stream_args "$@"
	expect_exit 1 cfs snapshot create "${ARGS[@]}"
	FAIL_ERR=$WORK/failure.err
	cp "$ERR" "$FAIL_ERR"
	expect_in "$FAIL_ERR" "stream for $path failed" "the error does not name the stream $path"
	grep -qE 'exited with status [1-9]|killed by signal' "$FAIL_ERR" || { cat "$FAIL_ERR" >&2; fail "no exit status for $path"; }
	expect_in "$FAIL_ERR" "$text" "the error does not carry the command's stderr ($text)"
	expect_in "$FAIL_ERR" "nothing was committed"
}
# The MariaDB dump succeeds (streams run in the order given), then pg_dump
# cannot connect: the stored MariaDB dump must not be committed either.
expect_stream_failure /db/postgres/shop.dump "connection to server at \"127.0.0.1\", port $DEAD_PORT failed" \
	"/db/mariadb/shop.sql=$MARIA_DUMP" "/db/postgres/shop.dump=${PG_DUMP/-p $PG_SRC/-p $DEAD_PORT}" \
	"/db/redis/dump.rdb=$REDIS_DUMP"
expect_in "$FAIL_ERR" "exited with status 1"
expect_stream_failure /db/postgres/shop.dump 'database "nosuchdb" does not exist' \
	"/db/postgres/shop.dump=${PG_DUMP% shop} nosuchdb"
# mysqldump is MariaDB's compatibility name for mariadb-dump.
DUMP_NAME=mariadb-dump
command -v mysqldump >/dev/null 2>&1 && DUMP_NAME=mysqldump
expect_stream_failure /db/mariadb/shop.sql "Unknown database 'nosuchdb'" \
	"/db/mariadb/shop.sql=$DUMP_NAME ${MARIA_DUMP#mariadb-dump } nosuchdb"
expect_stream_failure /db/redis/dump.rdb "Could not connect to Redis at 127.0.0.1:$DEAD_PORT" \
	"/db/redis/dump.rdb=${REDIS_DUMP/-p $REDIS_SRC/-p $DEAD_PORT}"
# /bin/sh (dash) has no pipefail: a pipeline needs bash -o pipefail, as
# chronoctl(8) says, or a failing pg_dump would be stored as an empty dump.
expect_stream_failure /db/postgres/shop.dump 'database "nosuchdb" does not exist' \
	"/db/postgres/shop.dump=bash -o pipefail -c '${PG_DUMP% shop} nosuchdb | cat'"
# Verbose: 2.5 kB of progress on stderr (more than the message holds), then
# the reason, last: the message keeps the end.
expect_stream_failure /db/postgres/shop.dump 'database "nosuchdb" does not exist' \
	"/db/postgres/shop.dump=${PG_DUMP% shop} -v shop && ${PG_DUMP% shop} -v nosuchdb"
expect_in "$FAIL_ERR" "pg_dump: saving"
# Behind a lock another session holds, pg_dump waits (and chronoctl with
# it); --lock-wait-timeout makes that a failure, as chronoctl(8) says.
mkfifo "$WORK/locker.fifo"
psql -X -q -h 127.0.0.1 -p "$PG_SRC" -U postgres -d shop <"$WORK/locker.fifo" >"$WORK/locker.log" 2>&1 &
LOCKER=$!
track_pid "$LOCKER"
exec {LOCK_FD}>"$WORK/locker.fifo"
echo "begin; lock table items in access exclusive mode;" >&"$LOCK_FD"
LOCKED="select count(*) from pg_locks where relation = 'items'::regclass and mode = 'AccessExclusiveLock' and granted"
for ((i = 0; i < 200; i++)); do
	[ "$(db_psql src -d shop -At -c "$LOCKED")" = 1 ] && break
	sleep 0.05
done
[ "$i" -lt 200 ] || { cat "$WORK/locker.log" >&2; fail "the locking session did not get its lock"; }
expect_stream_failure /db/postgres/shop.dump "canceling statement due to statement timeout" \
	"/db/postgres/shop.dump=${PG_DUMP% shop} --lock-wait-timeout=500ms shop"
expect_in "$FAIL_ERR" "LOCK TABLE public.items IN ACCESS SHARE MODE"
exec {LOCK_FD}>&- # psql reads the end, rolls back and exits
wait_rc "$LOCKER"
# Killed midway, after ingest stored 300 kB of a real dump.
expect_stream_failure /db/postgres/shop.dump "killed by signal 9" \
	"/db/postgres/shop.dump=$PG_DUMP | head -c 300000; kill -9 \$\$"
[ "$(snap_count)" = $((n0 + 1)) ] || fail "failed dumps left $(($(snap_count) - n0 - 1)) snapshots behind"
log "failure cases: $(elapsed)"

db_stop src pg
db_stop src maria
db_stop src redis

# --- restore, load into fresh servers -------------------------------------------
R=$WORK/restore
mkdir "$R"
# As chronoctl(8) shows it: only /db, of the latest snapshot (the failures
# above committed none).
ok cfs restore latest:/db "$R"
for f in "${STREAM_FILES[@]}"; do
	[ -s "$R/db/$f" ] || fail "restored /db/$f is missing or empty"
done
[ "$(head -c 5 "$R/db/postgres/shop.dump")" = PGDMP ] || fail "shop.dump is not a pg_dump custom archive"
[ "$(head -c 5 "$R/db/redis/dump.rdb")" = REDIS ] || fail "dump.rdb is not an RDB file"

# balance_ok "TOTAL VAULT" KIND: the dump holds one instant of the writers'
# work, taken while they ran.
balance_ok() {
	[ "${1%% *}" = "$TOTAL" ] || fail "$2: accounts + vault = ${1%% *} in the dump, not $TOTAL: not one instant"
	[ "${1##* }" -gt 0 ] || fail "$2: the dump holds no transfer (vault ${1##* })"
}

# load_postgres DIR NAME [PG_RESTORE_OPTION...]: into a fresh cluster NAME,
# DIR's globals.sql (roles: the owner of shop) and then shop.dump as
# chronoctl(8) says; rows, the role, owners and the view as in the source.
load_postgres() {
	local dir=$1 name=$2
	shift 2
	pg_start "$name"
	log "postgres $name ready in $(db_started_ms) ms"
	# A fresh cluster has its superuser already: that CREATE ROLE is the
	# one error allowed.
	db_psql "$name" -v ON_ERROR_STOP=0 -f "$dir/postgres/globals.sql" 2>"$WORK/globals.err"
	if grep -v 'role "postgres" already exists' "$WORK/globals.err" | grep -q .; then
		cat "$WORK/globals.err" >&2
		fail "loading $dir/postgres/globals.sql into a fresh cluster failed"
	fi
	pg_restore -h 127.0.0.1 -p "$PG_PORT" -U postgres --create --exit-on-error "$@" -d postgres \
		"$dir/postgres/shop.dump" || fail "pg_restore of $dir/postgres/shop.dump failed"
	[ "$(db_psql "$name" -d shop -At -c "$PG_SUM")" = "$pg_sum_src" ] || fail "postgres rows differ after pg_restore from $dir"
	[ "$(db_psql "$name" -At -c "$PG_ROLE")" = "$pg_role_src" ] || fail "the role app differs after loading $dir's globals"
	[ "$(db_psql "$name" -d shop -At -c "$PG_OWNERS")" = "$pg_owners_src" ] || fail "owners differ after pg_restore from $dir"
	[ "$(db_psql "$name" -d shop -At -c "select count(*) from cheap")" = 7 ] || fail "the view did not come back from $dir"
	balance_ok "$(db_psql "$name" -d shop -At -c "$BALANCE")" postgres
	db_stop "$name" pg
}

# load_mariadb DIR NAME: users.sql, then shop.sql into a fresh MariaDB.
load_mariadb() {
	local dir=$1 name=$2
	maria_start "$name"
	log "mariadb $name ready in $(db_started_ms) ms"
	db_maria "$name" <"$dir/mariadb/users.sql" || fail "loading $dir/mariadb/users.sql failed"
	db_maria "$name" <"$dir/mariadb/shop.sql" || fail "loading $dir/mariadb/shop.sql failed"
	[ "$(db_maria "$name" -e "$MARIA_SUM")" = "$maria_sum_src" ] || fail "mariadb rows, checksum, routines or views differ ($dir)"
	[ "$(db_maria "$name" -e "$MARIA_GRANTS")" = "$maria_grants_src" ] || fail "mariadb users, roles or grants differ ($dir)"
	balance_ok "$(db_maria "$name" shop -e "$BALANCE")" mariadb
	db_stop "$name" maria
}

# load_redis DIR NAME: a Redis started on DIR's dump.rdb, where it lies.
load_redis() {
	local dir=$1 name=$2
	redis_start "$name" "$dir/redis/dump.rdb"
	log "redis $name ready in $(db_started_ms) ms (loading $N keys)"
	[ "$(redis_sum "$name")" = "$redis_sum_src" ] || fail "redis on $dir: $(redis_sum "$name"), wanted $redis_sum_src"
	db_stop "$name" redis
}

# load_all DIR NAME: every dump in DIR (a restored or mounted /db) into
# fresh servers called NAME, compared with the source servers.
load_all() {
	load_postgres "$1" "$2" "${@:3}"
	load_mariadb "$1" "$2"
	load_redis "$1" "$2"
}

load_all "$R/db" dst
log "restored and loaded: $(elapsed)"

# --- from the mount -----------------------------------------------------------
if [ -c /dev/fuse ] && [ -x "${CHRONOFS:-}" ] && command -v fusermount3 >/dev/null 2>&1; then
	need_fuse
	MNT=$WORK/mnt
	mount_fs "$MNT"
	M=$MNT/$NAME/db
	for f in "${STREAM_FILES[@]}"; do
		cmp "$R/db/$f" "$M/$f" || fail "/db/$f differs between the mount and the restore"
	done
	# -j 2: a parallel pg_restore seeks in the archive; Redis reads its RDB
	# in the read-only mount. (shop.sql is only read: cmp did that.)
	load_postgres "$M" mnt -j 2
	load_redis "$M" mnt
	umount_fs "$MNT"
	log "loaded from the mount: $(elapsed)"
else
	log "no FUSE here: the dumps are not loaded from the mount"
fi

ok cfs check --read-data
log "ok: database streams, total $(elapsed)"
