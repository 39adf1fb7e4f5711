#!/usr/bin/env bash
# Entrypoint of migcheck-test/postgres: a Debian-packaged PostgreSQL that
# follows the environment contract of the official "postgres" image closely
# enough for tests (see docker/README.md). Written for migcheck.
set -Eeuo pipefail

export PATH="/usr/lib/postgresql/${PG_MAJOR:-15}/bin:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

say() { printf '%s\n' "$@"; }
fail() { printf '%s\n' "$@" >&2; exit 1; }

# Options only ("-c fsync=off ...") are arguments for the server.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi
# Anything else than the server (bash, psql, ...) runs as given.
if [ "$1" != postgres ]; then
    exec "$@"
fi

# As root: prepare directories, then re-run this script as 'postgres'.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA" 2>/dev/null || true
    chmod 2777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
export POSTGRES_USER POSTGRES_DB

# psql against the temporary (socket-only) server.
init_psql() {
    PGHOST=/var/run/postgresql PGPORT=5432 psql -X -q -v ON_ERROR_STOP=1 \
        --username "$POSTGRES_USER" --no-password "$@"
}

run_init_scripts() {
    local f
    [ -d /docker-entrypoint-initdb.d ] || return 0
    for f in /docker-entrypoint-initdb.d/*; do
        [ -f "$f" ] || continue
        case "$f" in
            *.sh)
                say "$0: running $f"
                # shellcheck disable=SC1090 # user-provided init script
                if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql)
                say "$0: running $f"
                init_psql --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz)
                say "$0: running $f"
                gzip -dc "$f" | init_psql --dbname "$POSTGRES_DB" ;;
            *)
                say "$0: ignoring $f" ;;
        esac
    done
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    auth="${POSTGRES_HOST_AUTH_METHOD:-}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        fail \
            'Error: the database is uninitialized and no superuser password was given.' \
            '       Set POSTGRES_PASSWORD to a non-empty value, for example' \
            '       "-e POSTGRES_PASSWORD=password" on "docker run".' \
            '' \
            '       Alternatively set POSTGRES_HOST_AUTH_METHOD=trust to accept every' \
            '       connection without a password (not recommended outside tests).'
    fi
    if [ -z "$auth" ]; then
        auth=scram-sha-256
    fi
    if [ "$auth" = trust ] && [ -z "$POSTGRES_PASSWORD" ]; then
        say 'WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every host connection is accepted without a password.'
    fi

    pwfile=""
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is split like the official image does
    initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} ${POSTGRES_INITDB_ARGS:-}
    [ -z "$pwfile" ] || rm -f "$pwfile"

    {
        printf '\n# added by the migcheck-test entrypoint\n'
        printf 'host all all all %s\n' "$auth"
    } >>"$PGDATA/pg_hba.conf"
    {
        printf '\n# added by the migcheck-test entrypoint\n'
        printf "listen_addresses = '*'\n"
    } >>"$PGDATA/postgresql.conf"

    # Temporary server reachable through the unix socket only.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start

    if [ "$POSTGRES_DB" != postgres ]; then
        exists="$(init_psql --dbname postgres -tA --set db="$POSTGRES_DB" \
            <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")"
        if [ -z "$exists" ]; then
            init_psql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
        fi
    fi
    run_init_scripts

    pg_ctl -D "$PGDATA" -m fast -w stop
    say '' 'PostgreSQL init process complete; ready for start up.' ''
fi

# The server: PID 1, logs on stderr, all interfaces.
shift
exec postgres -c listen_addresses='*' "$@"
