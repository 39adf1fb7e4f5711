# Sourced by the benchmarks: the binary to measure, timing helpers, and servers of their own for
# the ones that time a reference tool next to migcheck: PostgreSQL or MariaDB from this
# machine's binaries in a directory of the caller's, with the settings migcheck's local provider
# uses (durability off), a password, TCP on 127.0.0.1.
#
#   bench_start_postgres DIR   sets PG_URL (postgres://bench:PASSWORD@127.0.0.1:PORT/postgres),
#                              PG_PORT, PG_PASSWORD; `bench_psql ARGS...` runs psql against it
#   bench_start_mariadb DIR    sets MY_URL (mysql://root:PASSWORD@127.0.0.1:PORT/mysql), MY_PORT,
#                              MY_PASSWORD; `bench_mariadb ARGS...` runs the client against it
#   bench_stop_servers         stops what was started (call it from the caller's EXIT trap)
#   bench_migcheck_bin         prints the binary to measure: $MIGCHECK_BIN, else a release build
#                              (built here; a relative CARGO_TARGET_DIR made absolute)
#   bench_now_ms, bench_stats VALUES...   a clock in ms; "min median max" of the values
#   bench_verify_url BIN REPORT URL ARGS...
#                              `BIN verify ARGS --provider url --url URL --url-privileged`, its
#                              JSON report in REPORT; prints the wall ms, and the report's time
#                              split on stderr; a non-zero exit stops the benchmark

bench_pg_dir=
bench_my_dir=

bench_migcheck_bin() {
  if [ -n "${MIGCHECK_BIN:-}" ]; then
    echo "$MIGCHECK_BIN"
    return
  fi
  cargo build --release --quiet >&2
  local target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target=$(pwd)/$target ;; esac
  echo "$target/release/migcheck"
}

bench_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

bench_stats() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}'
}

bench_verify_url() {
  local bin=$1 report=$2 url=$3 start wall rc
  shift 3
  start=$(bench_now_ms)
  set +e
  "$bin" verify "$@" --provider url --url "$url" --url-privileged --quiet --json "$report" \
    >"$report.log" 2>&1
  rc=$?
  set -e
  wall=$(( $(bench_now_ms) - start ))
  if [ "$rc" != 0 ]; then
    cat "$report.log" >&2
    echo "migcheck verify $* exited $rc" >&2
    exit 1
  fi
  python3 - "$report" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["timings"]
print(f"    {r['verdict']}: {len(r['checks'])} checks; migrations {t['migrations_ms']} ms, "
      f"observation {t.get('observation_ms', 0)} ms, snapshots {t['snapshots_ms']} ms, "
      f"compare {t.get('compare_ms', 0)} ms, other {t.get('other_ms', 0)} ms")
PY
  echo "$wall"
}

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bench_start_postgres() {
  local dir=$1 bin
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
  [ -x "$bin/initdb" ] || bin=$(dirname "$(command -v initdb)")
  PG_PASSWORD=bench$RANDOM$RANDOM
  PG_PORT=$(bench_free_port)
  mkdir -p "$dir/pg"
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
  echo "$PG_PASSWORD" >"$dir/pg.pw"
  chmod 644 "$dir/pg.pw"
  bench_as_postgres "$bin/initdb" -D "$dir/pg" -U bench --pwfile="$dir/pg.pw" --auth=scram-sha-256 \
    -E UTF8 >/dev/null
  bench_as_postgres "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w -o "-p $PG_PORT -k $dir/pg \
    -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c wal_level=minimal -c max_wal_senders=0 -c autovacuum=off -c jit=off -c shared_buffers=32MB \
    -c max_connections=40 -c TimeZone=UTC" start >/dev/null
  bench_pg_dir=$dir/pg
  bench_pg_bin=$bin
  PG_URL="postgres://bench:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
  echo "server: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $PG_PORT"
}

bench_psql() {
  PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U bench "$@"
}

bench_start_mariadb() {
  local dir=$1 server install user=()
  server=$(command -v mariadbd || command -v mysqld)
  install=$(command -v mariadb-install-db || command -v mysql_install_db)
  MY_PASSWORD=bench$RANDOM$RANDOM
  MY_PORT=$(bench_free_port)
  mkdir -p "$dir/my"
  [ "$(id -u)" = 0 ] && user=(--user=root)
  "$install" --no-defaults --datadir="$dir/my/data" --auth-root-authentication-method=socket \
    --skip-test-db "${user[@]}" >"$dir/my/install.log" 2>&1
  "$server" --no-defaults --datadir="$dir/my/data" --socket="$dir/my/sock" \
    --pid-file="$dir/my/pid" --port="$MY_PORT" --bind-address=127.0.0.1 --skip-log-bin \
    --skip-performance-schema --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
    --innodb-buffer-pool-size=32M --skip-name-resolve "${user[@]}" >"$dir/my/server.log" 2>&1 &
  bench_my_dir=$dir/my
  local i
  for i in $(seq 1 100); do
    mariadb --no-defaults -uroot --socket="$dir/my/sock" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --no-defaults -uroot --socket="$dir/my/sock" -e "
    CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY '$MY_PASSWORD';
    GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
  MY_URL="mysql://root:$MY_PASSWORD@127.0.0.1:$MY_PORT/mysql"
  echo "server: $("$server" --no-defaults --version | awk '{print $3}') on port $MY_PORT"
}

bench_mariadb() {
  mariadb --no-defaults -uroot -p"$MY_PASSWORD" -h 127.0.0.1 -P "$MY_PORT" "$@"
}

bench_stop_servers() {
  if [ -n "$bench_pg_dir" ]; then
    bench_as_postgres "$bench_pg_bin/pg_ctl" -D "$bench_pg_dir" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "$bench_my_dir" ] && [ -f "$bench_my_dir/pid" ]; then
    kill "$(cat "$bench_my_dir/pid")" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do [ -f "$bench_my_dir/pid" ] || break; sleep 0.1; done
  fi
}
