#!/usr/bin/env bash
# Issue 14's ratios on generated chains: `migcheck verify` (step mode, default flags: round
# trips, snapshots, lint and observation) next to the floor, the chain's ups applied once by the
# engine's own client on one connection, on the same server, interleaved run by run.
#
#   scripts/bench-ratio.sh [RUNS]        (default 3 runs per case; release build)
#
# Environment:
#   PG_SIZE=400     migrations in the PostgreSQL chain
#   MY_SIZE=100     migrations in the MariaDB chain
#   ENGINES="postgres mariadb"
#   MIGCHECK_BIN=path   measure this binary instead of building one
#
# The chains (scripts/gen-chain.py growing): one table per migration, with a foreign key to the
# previous one, an index, a view every tenth. The servers: scripts/bench-servers.sh (this
# machine's binaries, migcheck's local-provider settings). migcheck runs with `--provider url
# --url-privileged` against that server, so both sides share it. Each run gets fresh databases.
# Prints every run, then min/median/max per case and the ratio of the medians. Times are never
# asserted anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
pg_size=${PG_SIZE:-400}
my_size=${MY_SIZE:-100}
engines=${ENGINES:-postgres mariadb}
# shellcheck source=scripts/bench-servers.sh
. scripts/bench-servers.sh
bin=$(bench_migcheck_bin)
work=$(mktemp -d)
trap 'bench_stop_servers; rm -rf "$work"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}'; }

# migcheck ENGINE CHAIN URL -> wall ms, and the report's split on stderr
migcheck_ms() {
  local start wall rc
  start=$(now_ms)
  set +e
  "$bin" verify "$2" --engine "$1" --provider url --url "$3" --url-privileged --quiet \
    --json "$work/r.json" >"$work/migcheck.log" 2>&1
  rc=$?
  set -e
  wall=$(( $(now_ms) - start ))
  if [ "$rc" != 0 ]; then
    cat "$work/migcheck.log" >&2
    echo "migcheck exited $rc on $2" >&2
    exit 1
  fi
  python3 - "$work/r.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["timings"]
print(f"    {r['verdict']}: {len(r['checks'])} checks; migrations {t['migrations_ms']} ms, "
      f"observation {t.get('observation_ms', 0)} ms, snapshots {t['snapshots_ms']} ms, "
      f"compare {t.get('compare_ms', 0)} ms, other {t.get('other_ms', 0)} ms")
PY
  echo "$wall"
}

declare -A values
for engine in $engines; do
  case $engine in
    postgres)
      bench_start_postgres "$work"
      python3 scripts/gen-chain.py growing "$work/pg-chain" "$pg_size" postgres
      cat "$work"/pg-chain/*.up.sql >"$work/pg-all.sql"
      ;;
    mariadb)
      bench_start_mariadb "$work"
      python3 scripts/gen-chain.py growing "$work/my-chain" "$my_size" mariadb
      cat "$work"/my-chain/*.up.sql >"$work/my-all.sql"
      ;;
    *) echo "unknown engine $engine" >&2; exit 2 ;;
  esac
done

printf '%-9s %-10s %4s %9s\n' engine case run wall_ms
for i in $(seq 1 "$runs"); do
  for engine in $engines; do
    if [ "$engine" = postgres ]; then
      bench_psql -d postgres -c "CREATE DATABASE bench_floor"
      start=$(now_ms)
      bench_psql -d bench_floor -f "$work/pg-all.sql" >/dev/null
      floor=$(( $(now_ms) - start ))
      bench_psql -d postgres -c "DROP DATABASE bench_floor"
      ms=$(migcheck_ms postgres "$work/pg-chain" "$PG_URL")
    else
      bench_mariadb -e "CREATE DATABASE bench_floor"
      start=$(now_ms)
      bench_mariadb bench_floor <"$work/my-all.sql"
      floor=$(( $(now_ms) - start ))
      bench_mariadb -e "DROP DATABASE bench_floor"
      ms=$(migcheck_ms mariadb "$work/my-chain" "$MY_URL")
    fi
    values[$engine.floor]+="$floor "
    values[$engine.migcheck]+="$ms "
    printf '%-9s %-10s %4s %9s\n' "$engine" "ups once" "$i" "$floor"
    printf '%-9s %-10s %4s %9s\n' "$engine" migcheck "$i" "$ms"
  done
done

echo
for engine in $engines; do
  size=$pg_size
  [ "$engine" = mariadb ] && size=$my_size
  # shellcheck disable=SC2086
  read -r fmin fmed fmax <<<"$(stats ${values[$engine.floor]})"
  # shellcheck disable=SC2086
  read -r mmin mmed mmax <<<"$(stats ${values[$engine.migcheck]})"
  echo "$engine, $size migrations, $runs runs (min / median / max wall ms)"
  echo "  the ups once, one connection: $fmin / $fmed / $fmax"
  echo "  migcheck verify:              $mmin / $mmed / $mmax"
  python3 -c "import sys; print(f'  ratio of the medians: {int(sys.argv[1]) / int(sys.argv[2]):.1f}x')" "$mmed" "$fmed"
done
