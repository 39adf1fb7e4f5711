#!/usr/bin/env bash
# Time `migcheck verify` on a generated Alembic project of N revisions (default 300): each
# revision creates a table (odd ones add an index), each downgrade drops it.
#   MIGCHECK_PYTHON=.venv/bin/python scripts/bench-alembic.sh [N] [ENGINE]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
engine=${2:-postgres}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/migcheck
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp fixtures/alembic/linear/alembic.ini "$work/"
mkdir -p "$work/migrations/versions"
cp fixtures/alembic/linear/migrations/env.py fixtures/alembic/linear/migrations/script.py.mako "$work/migrations/"
python3 - "$work/migrations/versions" "$n" <<'PY'
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
start=$(date +%s%N)
"$bin" verify "$work" --engine "$engine" --provider local --no-lint --quiet --json "$work/r.json" || true
wall=$(( ($(date +%s%N) - start) / 1000000 ))
python3 - "$work/r.json" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["timings"]
print(f"verdict {r['verdict']}: {len(r['migrations'])} revisions, {len(r['checks'])} checks, wall {sys.argv[2]} ms; "
      f"server start {t['server_start_ms']} ms, migrations (Alembic steps through the driver) {t['migrations_ms']} ms, "
      f"snapshots {t['snapshots_ms']} ms, teardown {t['teardown_ms']} ms")
PY
