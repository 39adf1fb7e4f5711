#!/usr/bin/env bash
# Entrypoint of migcheck-test/mariadb: a Debian-packaged MariaDB that follows
# the environment contract of the official "mariadb" image closely enough for
# tests (see docker/README.md). Written for migcheck.
set -Eeuo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

note() { printf '%s [Note] [Entrypoint]: %s\n' "$(date '+%F %T%:z')" "$*"; }
warn() { printf '%s [Warn] [Entrypoint]: %s\n' "$(date '+%F %T%:z')" "$*" >&2; }
fail() {
    printf '%s [ERROR] [Entrypoint]: %s\n' "$(date '+%F %T%:z')" "$1" >&2
    shift
    [ "$#" -eq 0 ] || printf '\t%s\n' "$@" >&2
    exit 1
}

# Options only ("--innodb-flush-log-at-trx-commit=0 ...") are server arguments.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- mariadbd "$@"
fi
case "$1" in
    mariadbd|mysqld) shift ;;
    *) exec "$@" ;;     # bash, mariadb client, ...: run as given
esac

# env NAME: value of MARIADB_NAME, else MYSQL_NAME (or the alias given as $2),
# each also readable from a file named by <VAR>_FILE.
env_value() {
    local name var val=
    for var in "MARIADB_$1" "MYSQL_${2:-$1}"; do
        if [ -n "${!var:-}" ]; then
            val=${!var}; break
        fi
        name="${var}_FILE"
        if [ -n "${!name:-}" ]; then
            val=$(cat "${!name}"); break
        fi
    done
    printf '%s' "$val"
}

ROOT_PASSWORD=$(env_value ROOT_PASSWORD)
ALLOW_EMPTY=$(env_value ALLOW_EMPTY_ROOT_PASSWORD ALLOW_EMPTY_PASSWORD)
RANDOM_ROOT=$(env_value RANDOM_ROOT_PASSWORD)
ROOT_HOST=$(env_value ROOT_HOST)
ROOT_HOST=${ROOT_HOST:-%}
DATABASE=$(env_value DATABASE)
USER_NAME=$(env_value USER)
USER_PASSWORD=$(env_value PASSWORD)
SKIP_TZINFO=$(env_value INITDB_SKIP_TZINFO)

is_yes() { case "${1,,}" in ''|0|no|false) return 1 ;; *) return 0 ;; esac; }

# SQL literals: 'string' and `identifier`.
sql_str() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }
# shellcheck disable=SC2016 # the backticks are literal
sql_id() { printf '`%s`' "${1//\`/\`\`}"; }

mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld
chmod 777 /run/mysqld
[ "$(id -u)" != 0 ] || chown mysql:mysql "$DATADIR"

if [ ! -d "$DATADIR/mysql" ]; then
    if [ -z "$ROOT_PASSWORD" ] && ! is_yes "$ALLOW_EMPTY" && ! is_yes "$RANDOM_ROOT"; then
        fail 'Database is uninitialized and password option is not specified' \
            'You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD' \
            'and MARIADB_RANDOM_ROOT_PASSWORD (or the MYSQL_* equivalents)'
    fi
    if [ -n "$USER_NAME" ] && [ "$USER_NAME" = root ]; then
        fail 'MARIADB_USER="root" cannot be used: MARIADB_USER and MARIADB_PASSWORD create a' \
            'regular user; use MARIADB_ROOT_PASSWORD for root'
    fi
    if [ -n "$USER_NAME" ] && [ -z "$USER_PASSWORD" ]; then
        fail "MARIADB_USER=\"$USER_NAME\" is set but MARIADB_PASSWORD is empty"
    fi
    if [ -z "$USER_NAME" ] && [ -n "$USER_PASSWORD" ]; then
        warn 'MARIADB_PASSWORD is set but MARIADB_USER is not: no user is created'
    fi
    if [ -z "$ROOT_PASSWORD" ] && is_yes "$RANDOM_ROOT"; then
        ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)
        note "GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
    fi

    note 'Initializing database files'
    mariadb-install-db --user=mysql --datadir="$DATADIR" --rpm --skip-test-db \
        --auth-root-authentication-method=normal --skip-name-resolve \
        --default-time-zone=SYSTEM --skip-log-bin --expire-logs-days=0 \
        --loose-innodb_buffer_pool_load_at_startup=0 \
        --loose-innodb_buffer_pool_dump_at_shutdown=0 "$@"
    note 'Database files initialized'

    note 'Starting temporary server'
    mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" \
        --skip-name-resolve --default-time-zone=SYSTEM --skip-log-bin --expire-logs-days=0 \
        --loose-innodb_buffer_pool_load_at_startup=0 \
        --loose-innodb_buffer_pool_dump_at_shutdown=0 "$@" &
    tmp_pid=$!
    for _ in $(seq 1 300); do
        if mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
            break
        fi
        kill -0 "$tmp_pid" 2>/dev/null || fail 'temporary server exited during start-up'
        sleep 0.1
    done
    mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null \
        || fail 'temporary server did not come up within 30 seconds'
    note 'Temporary server started.'

    init_sql() {
        mariadb --protocol=socket --socket="$SOCKET" -uroot ${ROOT_PASSWORD:+"-p$ROOT_PASSWORD"} "$@"
    }

    if ! is_yes "$SKIP_TZINFO" && [ -d /usr/share/zoneinfo ]; then
        note 'Loading time zone info'
        mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null \
            | mariadb --protocol=socket --socket="$SOCKET" -uroot mysql
    fi

    note 'Securing system users'
    {
        echo 'SET @@SESSION.SQL_LOG_BIN=0;'
        echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
        echo "DELETE FROM mysql.proxies_priv WHERE host NOT IN ('localhost');"
        echo 'FLUSH PRIVILEGES;'
        echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_str "$ROOT_PASSWORD"));"
        if [ "$ROOT_HOST" != localhost ]; then
            echo "CREATE USER 'root'@$(sql_str "$ROOT_HOST") IDENTIFIED BY $(sql_str "$ROOT_PASSWORD");"
            echo "GRANT ALL ON *.* TO 'root'@$(sql_str "$ROOT_HOST") WITH GRANT OPTION;"
            echo "GRANT PROXY ON ''@'%' TO 'root'@$(sql_str "$ROOT_HOST") WITH GRANT OPTION;"
        fi
        echo 'FLUSH PRIVILEGES;'
        if [ -n "$DATABASE" ]; then
            echo "CREATE DATABASE IF NOT EXISTS $(sql_id "$DATABASE");"
        fi
        if [ -n "$USER_NAME" ]; then
            echo "CREATE USER $(sql_str "$USER_NAME")@'%' IDENTIFIED BY $(sql_str "$USER_PASSWORD");"
            if [ -n "$DATABASE" ]; then
                echo "GRANT ALL ON $(sql_id "$DATABASE").* TO $(sql_str "$USER_NAME")@'%';"
            fi
        fi
    } | mariadb --protocol=socket --socket="$SOCKET" -uroot

    if [ -d /docker-entrypoint-initdb.d ]; then
        for f in /docker-entrypoint-initdb.d/*; do
            [ -f "$f" ] || continue
            # shellcheck disable=SC1090 # user-provided init scripts
            case "$f" in
                *.sh) note "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
                *.sql) note "running $f"; init_sql ${DATABASE:+"$DATABASE"} <"$f" ;;
                *.sql.gz) note "running $f"; gzip -dc "$f" | init_sql ${DATABASE:+"$DATABASE"} ;;
                *) note "ignoring $f" ;;
            esac
        done
    fi

    note 'Stopping temporary server'
    kill -TERM "$tmp_pid"
    wait "$tmp_pid" || fail 'temporary server did not shut down cleanly'
    note 'Temporary server stopped'
    echo
    note 'MariaDB init process done. Ready for start up.'
    echo
fi

exec mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCKET" \
    --bind-address=0.0.0.0 --port=3306 "$@"
