#!/usr/bin/env bash
# Create a virtualenv with what migcheck's Alembic tests and driver need:
#   scripts/alembic-venv.sh DIR    (then MIGCHECK_TEST_PYTHON=DIR/bin/python)
set -euo pipefail
dir=${1:?usage: scripts/alembic-venv.sh DIR}
python=${PYTHON:-python3}
if [ ! -x "$dir/bin/python" ]; then
  "$python" -m venv "$dir"
fi
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
  alembic sqlalchemy 'psycopg[binary]' pymysql
"$dir/bin/python" -c 'import alembic, sqlalchemy, psycopg, pymysql; print("alembic", alembic.__version__, "sqlalchemy", sqlalchemy.__version__)'
