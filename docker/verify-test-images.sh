#!/usr/bin/env bash
# Checks that the locally built test images honour the official images'
# environment contract, and measures start-to-ready times.
#
#   docker/verify-test-images.sh [postgres] [mariadb]     (RUNS=5 timing runs)
#
# Needs docker, psql and the mariadb client on the host. Every container it
# starts is labelled migcheck-verify=1 and removed (with its volumes) on exit.
set -euo pipefail

PG_IMAGE=${PG_IMAGE:-migcheck-test/postgres:15}
MARIADB_IMAGE=${MARIADB_IMAGE:-migcheck-test/mariadb:10.11}
RUNS=${RUNS:-5}
PG_READY='database system is ready to accept connections'

FAILS=0
CONTAINERS=()
OUT=$(mktemp)
cleanup() {
    rm -f "$OUT"
    [ ${#CONTAINERS[@]} -eq 0 ] || docker rm -fv "${CONTAINERS[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() {  # check <description> <command...>
    local d=$1; shift
    if "$@" >"$OUT" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/        /' "$OUT" | tail -5; fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

start() {  # start <container port> <docker run args (env..., image, command...)>; sets CID, PORT
    local port=$1; shift
    CID=$(docker run -d --label migcheck-verify=1 -p "127.0.0.1::$port" "$@")
    CONTAINERS+=("$CID")
    PORT=$(docker port "$CID" "$port/tcp" | head -n1 | sed 's/.*://')
}

wait_log() {  # wait_log <cid> <count> <pattern> [stream: all|stdout|stderr] ; 60 s max
    local cid=$1 n=$2 pat=$3 stream=${4:-all} i
    for i in $(seq 1 600); do
        case "$stream" in
            stdout) c=$(docker logs "$cid" 2>/dev/null | grep -c -- "$pat" || true) ;;
            stderr) c=$(docker logs "$cid" 2>&1 >/dev/null | grep -c -- "$pat" || true) ;;
            *) c=$(docker logs "$cid" 2>&1 | grep -c -- "$pat" || true) ;;
        esac
        [ "$c" -ge "$n" ] && return 0
        [ "$(docker inspect -f '{{.State.Running}}' "$cid")" = true ] || return 1
        sleep 0.1
    done
    return 1
}

wait_exit() {  # wait_exit <cid>: prints exit code
    docker wait "$1"
}

retry() {  # retry <command...>: up to 5 s
    local i
    for i in $(seq 1 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    "$@"
}

stop_time() {  # stop_time <cid>: seconds docker stop takes; also checks the exit code
    local t0 t1 code
    t0=$(now); docker stop "$1" >/dev/null; t1=$(now)
    code=$(docker inspect -f '{{.State.ExitCode}}' "$1")
    printf '%s (exit %s)' "$(elapsed "$t0" "$t1")" "$code"
}

stats() {  # stats <values...>: min/median/max
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "min %.2fs  median %.2fs  max %.2fs  (n=%d)", v[1], m, v[NR], NR }'
}

# ------------------------------------------------------------ postgres ---
verify_postgres() {
    echo "== $PG_IMAGE"
    local url

    start 5432 -e POSTGRES_PASSWORD=secret "$PG_IMAGE" -c fsync=off
    check "ready line twice (init server, then final)" wait_log "$CID" 2 "$PG_READY"
    check "init server's ready line on stdout" wait_log "$CID" 1 "$PG_READY" stdout
    check "final server's ready line on stderr" wait_log "$CID" 1 "$PG_READY" stderr
    url="postgres://postgres:secret@127.0.0.1:$PORT/postgres"
    check "psql select version()" retry psql "$url" -Atc 'select version()'
    psql "$url" -Atc 'select version()' | sed 's/^/        /'
    check "container args passed through (fsync=off)" \
        test "$(psql "$url" -Atc 'show fsync')" = off
    check "host connections use scram-sha-256" \
        grep -q 'scram-sha-256' <(docker exec "$CID" tail -n 3 /var/lib/postgresql/data/pg_hba.conf)
    check "wrong password is rejected" \
        bash -c "! psql 'postgres://postgres:wrong@127.0.0.1:$PORT/postgres' -c 'select 1'"
    check "server is PID 1" test "$(docker exec "$CID" cat /proc/1/comm)" = postgres
    check "stop signal is SIGINT (fast shutdown, like the official image)" \
        test "$(docker image inspect -f '{{.Config.StopSignal}}' "$PG_IMAGE")" = SIGINT
    psql "$url" -c 'select pg_sleep(60)' >/dev/null 2>&1 &
    sleep 0.5
    echo "  docker stop with a busy client connected: $(stop_time "$CID")s"
    wait || true

    start 5432 -e POSTGRES_PASSWORD='p w"x' -e POSTGRES_USER=alice -e POSTGRES_DB=appdb \
        -e POSTGRES_INITDB_ARGS='--data-checksums' "$PG_IMAGE"
    check "POSTGRES_USER/POSTGRES_DB: ready" wait_log "$CID" 2 "$PG_READY"
    url="postgres://alice:p%20w%22x@127.0.0.1:$PORT/appdb"
    check "POSTGRES_USER/POSTGRES_DB: connect as alice to appdb" retry psql "$url" -c 'select 1'
    check "POSTGRES_USER/POSTGRES_DB: current_user/current_database" \
        test "$(psql "$url" -Atc "select current_user || ',' || current_database()")" = alice,appdb
    check "POSTGRES_INITDB_ARGS (--data-checksums)" \
        test "$(psql "$url" -Atc 'show data_checksums')" = on
    docker stop "$CID" >/dev/null

    start 5432 -e POSTGRES_HOST_AUTH_METHOD=trust "$PG_IMAGE"
    check "POSTGRES_HOST_AUTH_METHOD=trust without a password" wait_log "$CID" 2 "$PG_READY"
    check "trust: connect without a password" \
        retry psql "postgres://postgres@127.0.0.1:$PORT/postgres" -c 'select 1'
    docker stop "$CID" >/dev/null

    start 5432 "$PG_IMAGE"
    code=$(wait_exit "$CID")
    check "missing POSTGRES_PASSWORD: non-zero exit ($code)" test "$code" -ne 0
    check "missing POSTGRES_PASSWORD: message" \
        grep -q POSTGRES_PASSWORD <(docker logs "$CID" 2>&1)
    docker logs "$CID" 2>&1 | head -n 3 | sed 's/^/        /'

    local times=() stops=() i t0 t1
    for i in $(seq 1 "$RUNS"); do
        t0=$(now)
        start 5432 -e POSTGRES_PASSWORD=secret "$PG_IMAGE" \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off
        wait_log "$CID" 2 "$PG_READY" || { bad "timing run $i: not ready"; continue; }
        retry psql "postgres://postgres:secret@127.0.0.1:$PORT/postgres" -Atc 'select 1'
        t1=$(now)
        times+=("$(elapsed "$t0" "$t1")")
        t0=$(now); docker stop "$CID" >/dev/null; t1=$(now)
        stops+=("$(elapsed "$t0" "$t1")")
        docker rm -v "$CID" >/dev/null
    done
    echo "  start-to-ready (docker run .. SELECT 1 ok): $(stats "${times[@]}")"
    echo "  docker stop:                               $(stats "${stops[@]}")"
}

# ------------------------------------------------------------- mariadb ---
my() {  # my <port> <user> <password> [db] -- args
    local port=$1 user=$2 pw=$3; shift 3
    mariadb --protocol=tcp -h 127.0.0.1 -P "$port" -u "$user" ${pw:+"-p$pw"} "$@"
}

verify_mariadb() {
    echo "== $MARIADB_IMAGE"

    start 3306 -e MARIADB_ROOT_PASSWORD=secret -e MARIADB_DATABASE=app \
        -e MARIADB_USER=bob -e MARIADB_PASSWORD="b'o\\b" "$MARIADB_IMAGE" --innodb-flush-log-at-trx-commit=0
    check "final ready line (port: 3306)" wait_log "$CID" 1 "port: 3306"
    check "'mariadbd: ready for connections.' twice" wait_log "$CID" 2 'mariadbd: ready for connections.'
    check "temporary server reported port: 0" wait_log "$CID" 1 "port: 0 "
    check "mariadb select version() as root" retry my "$PORT" root secret app -e 'select version()'
    my "$PORT" root secret app -Nse 'select version()' | sed 's/^/        /'
    check "root@'%' and root@localhost exist" \
        test "$(my "$PORT" root secret -Nse "select group_concat(host order by host) from mysql.user where user='root'")" = "%,localhost"
    check "database app exists" test "$(my "$PORT" root secret -Nse "show databases like 'app'")" = app
    check "MARIADB_USER/MARIADB_PASSWORD: create table in app" \
        my "$PORT" bob "b'o\\b" app -e 'create table t (i int); insert into t values (1)'
    check "container args passed through (innodb_flush_log_at_trx_commit=0)" \
        test "$(my "$PORT" root secret -Nse 'select @@innodb_flush_log_at_trx_commit')" = 0
    check "wrong password is rejected" bash -c "! mariadb --protocol=tcp -h 127.0.0.1 -P $PORT -u root -pwrong -e 'select 1'"
    check "server is PID 1" test "$(docker exec "$CID" cat /proc/1/comm)" = mariadbd
    echo "  docker stop: $(stop_time "$CID")s"

    start 3306 -e MYSQL_ROOT_PASSWORD=secret -e MYSQL_DATABASE=legacy \
        -e MYSQL_USER=carol -e MYSQL_PASSWORD=pw "$MARIADB_IMAGE"
    check "MYSQL_* variables: ready" wait_log "$CID" 1 "port: 3306"
    check "MYSQL_USER/MYSQL_PASSWORD/MYSQL_DATABASE" retry my "$PORT" carol pw legacy -e 'create table t (i int)'
    docker stop "$CID" >/dev/null

    start 3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 "$MARIADB_IMAGE"
    check "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: ready" wait_log "$CID" 1 "port: 3306"
    check "root without a password" retry my "$PORT" root '' -e 'select 1'
    docker stop "$CID" >/dev/null

    start 3306 -e MARIADB_RANDOM_ROOT_PASSWORD=yes "$MARIADB_IMAGE"
    check "MARIADB_RANDOM_ROOT_PASSWORD: ready" wait_log "$CID" 1 "port: 3306"
    local pw
    pw=$(docker logs "$CID" 2>&1 | sed -n 's/.*GENERATED ROOT PASSWORD: //p')
    check "random root password printed and usable" retry my "$PORT" root "$pw" -e 'select 1'
    docker stop "$CID" >/dev/null

    start 3306 "$MARIADB_IMAGE"
    code=$(wait_exit "$CID")
    check "missing root password: non-zero exit ($code)" test "$code" -ne 0
    check "missing root password: message" grep -q MARIADB_ROOT_PASSWORD <(docker logs "$CID" 2>&1)
    docker logs "$CID" 2>&1 | head -n 3 | sed 's/^/        /'

    local times=() stops=() i t0 t1 env
    for env in "" MARIADB_INITDB_SKIP_TZINFO=1; do
        times=(); stops=()
        for i in $(seq 1 "$RUNS"); do
            t0=$(now)
            start 3306 -e MARIADB_ROOT_PASSWORD=secret -e MARIADB_DATABASE=app \
                ${env:+-e "$env"} "$MARIADB_IMAGE"
            wait_log "$CID" 1 "port: 3306" || { bad "timing run $i: not ready"; continue; }
            retry my "$PORT" root secret app -e 'select 1'
            t1=$(now)
            times+=("$(elapsed "$t0" "$t1")")
            t0=$(now); docker stop "$CID" >/dev/null; t1=$(now)
            stops+=("$(elapsed "$t0" "$t1")")
            docker rm -v "$CID" >/dev/null
        done
        echo "  start-to-ready ${env:-(defaults)}: $(stats "${times[@]}")"
        echo "  docker stop:                      $(stats "${stops[@]}")"
    done
}

if ! command -v psql >/dev/null || ! command -v mariadb >/dev/null; then
    echo "needs psql and the mariadb client on the host" >&2; exit 2
fi
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(postgres mariadb)
for t in "${targets[@]}"; do
    case "$t" in
        postgres) verify_postgres ;;
        mariadb) verify_mariadb ;;
        *) echo "unknown target $t" >&2; exit 2 ;;
    esac
done
if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
