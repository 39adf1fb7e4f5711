#!/usr/bin/env bash
# migcheck `verify` next to pytest-alembic's `test_up_down_consistency` on one generated Alembic
# project of N revisions (default 300) and one PostgreSQL server, interleaved run by run.
#
#   scripts/bench-alembic.sh [N] [RUNS]        (default 300 revisions, 5 runs; release build)
#
# Environment:
#   MIGCHECK_BIN=path         measure this binary instead of building one
#   FRESH=1                   also time migcheck with MIGCHECK_ALEMBIC_FRESH_CONNECTIONS=1 (a
#                             new connection per Alembic command, what the driver did before)
#   MIGCHECK_BENCH_VENV=dir   the virtualenv with Alembic, SQLAlchemy, psycopg, pytest and
#                             pytest-alembic (default target/bench-venv; created when missing:
#                             PyPI must be reachable)
#
# The project: revision i creates table t<i> (odd ones add an index), its downgrade drops it.
# Its env.py is the one pytest-alembic's documentation asks for: it uses the engine the test
# harness hands it in `config.attributes["connection"]`, and otherwise builds its own from the
# ini file with NullPool, as `alembic init` writes it (what `alembic upgrade` runs in production).
#
# The server: one PostgreSQL started by this script from the machine's binaries, with the
# settings migcheck's local provider uses (fsync off, ...), SCRAM passwords over TCP. Each run
# gets a fresh database.
#   pytest    pytest-alembic 0.13's test_up_down_consistency: every revision up one by one,
#             down one by one, up again (about 3N Alembic commands); it compares no schema.
#   migcheck  `migcheck verify --provider url --url-privileged` on the same server: step mode,
#             up, down, up per revision with a schema snapshot and comparison after each, plus
#             the static lint.
# Prints every run, then min/median/max per case and the ratio of the medians. Times are never
# asserted anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
runs=${2:-5}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bin=$(bench_migcheck_bin)
venv=${MIGCHECK_BENCH_VENV:-$(pwd)/target/bench-venv}
if ! "$venv/bin/python" -c 'import pytest_alembic, psycopg' 2>/dev/null; then
  scripts/alembic-venv.sh "$venv" >/dev/null
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest pytest-alembic
fi

work=$(mktemp -d)
trap 'bench_stop_servers; rm -rf "$work"' EXIT
bench_start_postgres "$work"
admin=$PG_URL
psql_admin() { bench_psql -d postgres "$@"; }
port=$PG_PORT
password=$PG_PASSWORD

# ---- the project ----
project=$work/project
mkdir -p "$project/migrations/versions"
cat >"$project/alembic.ini" <<'INI'
[alembic]
script_location = migrations
sqlalchemy.url = postgresql+psycopg://set-by-env

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
INI
cat >"$project/migrations/env.py" <<'PY'
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = None


def run_migrations_online() -> None:
    # pytest-alembic hands its engine over here; `alembic upgrade` does not.
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        section = config.get_section(config.config_ini_section, {})
        section["sqlalchemy.url"] = os.environ.get("DATABASE_URL") or section["sqlalchemy.url"]
        connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
PY
cp fixtures/alembic/linear/migrations/script.py.mako "$project/migrations/"
python3 - "$project/migrations/versions" "$n" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    rev, down = f"r{i:04d}", (f"'r{i - 1:04d}'" if i > 1 else "None")
    index = f'\n    op.create_index("ix_t{i}_v", "t{i}", ["v"])' if i % 2 else ""
    with open(f"{out}/{rev}_t{i}.py", "w") as f:
        f.write(f'''"""table t{i}"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.String(40))){index}


def downgrade():
    op.drop_table("t{i}")
''')
PY
# pytest-alembic's harness: its engine on the run's database, its built-in test.
mkdir -p "$work/pytest"
cat >"$work/pytest/conftest.py" <<'PY'
import os

import pytest
import sqlalchemy


@pytest.fixture
def alembic_config():
    return {"file": os.path.join(os.environ["BENCH_PROJECT"], "alembic.ini"),
            "script_location": os.path.join(os.environ["BENCH_PROJECT"], "migrations")}


@pytest.fixture
def alembic_engine():
    engine = sqlalchemy.create_engine(os.environ["BENCH_URL"])
    yield engine
    engine.dispose()
PY
cat >"$work/pytest/test_migrations.py" <<'PY'
from pytest_alembic.tests import test_up_down_consistency  # noqa: F401
PY

pytest_ms=()
migcheck_ms=()
fresh_ms=()
cases=(migcheck)
[ "${FRESH:-0}" = 1 ] && cases+=(fresh)
printf '%-9s %4s %9s  %s\n' case run wall_ms detail
for i in $(seq 1 "$runs"); do
  # pytest-alembic on a fresh database
  psql_admin -c "CREATE DATABASE bench_pytest"
  start=$(bench_now_ms)
  if ! (cd "$work/pytest" && BENCH_PROJECT=$project \
      BENCH_URL="postgresql+psycopg://bench:$password@127.0.0.1:$port/bench_pytest" \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider test_migrations.py >"$work/pytest.log" 2>&1); then
    cat "$work/pytest.log" >&2
    echo "pytest-alembic failed" >&2
    exit 1
  fi
  wall=$(( $(bench_now_ms) - start ))
  psql_admin -c "DROP DATABASE bench_pytest"
  pytest_ms+=("$wall")
  printf '%-9s %4s %9s  %s\n' pytest "$i" "$wall" "$(tail -1 "$work/pytest.log")"

  # migcheck on the same server
  for case in "${cases[@]}"; do
    fresh=0
    [ "$case" = fresh ] && fresh=1
    wall=$(MIGCHECK_ALEMBIC_FRESH_CONNECTIONS=$fresh bench_verify_url "$bin" "$work/r.json" "$admin" \
      "$project" --python "$venv/bin/python")
    if [ "$case" = fresh ]; then fresh_ms+=("$wall"); else migcheck_ms+=("$wall"); fi
    printf '%-9s %4s %9s\n' "$case" "$i" "$wall"
  done
done

read -r pmin pmed pmax <<<"$(bench_stats "${pytest_ms[@]}")"
read -r mmin mmed mmax <<<"$(bench_stats "${migcheck_ms[@]}")"
echo
echo "$n revisions, $runs runs (min / median / max wall ms)"
echo "  pytest-alembic test_up_down_consistency: $pmin / $pmed / $pmax"
echo "  migcheck verify (step mode):             $mmin / $mmed / $mmax"
if [ ${#fresh_ms[@]} -gt 0 ]; then
  read -r fmin fmed fmax <<<"$(bench_stats "${fresh_ms[@]}")"
  echo "  migcheck, a new connection per command:  $fmin / $fmed / $fmax"
  python3 -c "import sys; print(f'  ratio of the medians, fresh connections / pytest-alembic: {int(sys.argv[1]) / int(sys.argv[2]):.2f}x')" "$fmed" "$pmed"
fi
python3 -c "import sys; print(f'  ratio of the medians, migcheck / pytest-alembic: {int(sys.argv[1]) / int(sys.argv[2]):.2f}x')" "$mmed" "$pmed"
