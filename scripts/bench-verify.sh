#!/usr/bin/env bash
# Time `migcheck verify` on the largest fixtures and report how each run splits between
# server start, migrations and snapshots (from the JSON report's timings), plus the docker
# provider's start-to-ready time next to the local provider's.
#
#   scripts/bench-verify.sh [RUNS]        (default 3 runs per case; release build)
#
# Docker cases run when an engine answers and the test images exist
# (scripts/build-test-images.sh). Prints one line per run and a median per case.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/migcheck
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cases=(
  "postgres local fixtures/postgres/golang-migrate/large --engine postgres --provider local"
  "mariadb local fixtures/mysql/golang-migrate/large --engine mariadb --provider local"
)
if docker info >/dev/null 2>&1 && docker image inspect migcheck-test/postgres:15 >/dev/null 2>&1; then
  cases+=(
    "postgres docker fixtures/postgres/golang-migrate/large --engine postgres --provider docker --image migcheck-test/postgres:15"
    "mariadb docker fixtures/mysql/golang-migrate/large --engine mariadb --provider docker --image migcheck-test/mariadb:10.11"
  )
fi

printf '%-9s %-7s %4s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' engine provider run wall_ms start_ms db_ms migr_ms obs_ms snap_ms cmp_ms replay teardown other
for c in "${cases[@]}"; do
  read -r engine provider path args <<<"$c"
  totals=()
  for i in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "$bin" verify "$path" $args --quiet --json "$out/r.json" >/dev/null
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    python3 - "$out/r.json" "$engine" "$provider" "$i" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["timings"]
# The report's buckets add up to its total_ms; "other" is what none of them holds.
cols = ["server_start_ms", "databases_ms", "migrations_ms", "observation_ms", "snapshots_ms",
        "compare_ms", "replay_ms", "teardown_ms", "other_ms"]
print(f"{sys.argv[2]:<9} {sys.argv[3]:<7} {sys.argv[4]:>4} {int(sys.argv[5]):>8} "
      + " ".join(f"{t.get(c, 0):>8}" for c in cols)
      + f"   ({len(r['migrations'])} migrations, {len(r['checks'])} checks, {len(r['findings'])} findings)")
PY
    totals+=("$wall")
  done
  median=$(printf '%s\n' "${totals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "  -> $engine via $provider: median wall time ${median} ms over $runs runs"
done
