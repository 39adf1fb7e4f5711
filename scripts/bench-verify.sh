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

printf '%-9s %-7s %4s %8s %8s %8s %8s %8s %8s\n' engine provider run total_ms start_ms migr_ms snap_ms other_ms teardown
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
accounted = t["server_start_ms"] + t["migrations_ms"] + t["snapshots_ms"] + t["teardown_ms"] + t["chain_ms"]
print(f"{sys.argv[2]:<9} {sys.argv[3]:<7} {sys.argv[4]:>4} {int(sys.argv[5]):>8} {t['server_start_ms']:>8} "
      f"{t['migrations_ms']:>8} {t['snapshots_ms']:>8} {max(0, t['total_ms'] - accounted):>8} {t['teardown_ms']:>8}"
      f"   ({len(r['migrations'])} migrations, {len(r['checks'])} checks, {len(r['findings'])} findings)")
PY
    totals+=("$wall")
  done
  median=$(printf '%s\n' "${totals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "  -> $engine via $provider: median wall time ${median} ms over $runs runs"
done
