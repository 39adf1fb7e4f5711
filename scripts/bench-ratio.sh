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
#   SINGLE=1            also time `verify --no-split` (one database; by default a chain this
#                       long is verified on two databases at once where two cores are)
#
# The chains (scripts/gen-chain.py growing): one table per migration, with a foreign key to the
# previous one, an index, a view every tenth. The servers: scripts/bench-lib.sh (this
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
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bin=$(bench_migcheck_bin)
work=$(mktemp -d)
trap 'bench_stop_servers; rm -rf "$work"' EXIT

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
      start=$(bench_now_ms)
      bench_psql -d bench_floor -f "$work/pg-all.sql" >/dev/null
      floor=$(( $(bench_now_ms) - start ))
      bench_psql -d postgres -c "DROP DATABASE bench_floor"
      ms=$(bench_verify_url "$bin" "$work/r.json" "$PG_URL" "$work/pg-chain" --engine postgres)
    else
      bench_mariadb -e "CREATE DATABASE bench_floor"
      start=$(bench_now_ms)
      bench_mariadb bench_floor <"$work/my-all.sql"
      floor=$(( $(bench_now_ms) - start ))
      bench_mariadb -e "DROP DATABASE bench_floor"
      ms=$(bench_verify_url "$bin" "$work/r.json" "$MY_URL" "$work/my-chain" --engine mariadb)
    fi
    values[$engine.floor]+="$floor "
    values[$engine.migcheck]+="$ms "
    printf '%-9s %-10s %4s %9s\n' "$engine" "ups once" "$i" "$floor"
    printf '%-9s %-10s %4s %9s\n' "$engine" migcheck "$i" "$ms"
    if [ "${SINGLE:-0}" = 1 ]; then
      if [ "$engine" = postgres ]; then
        ms=$(bench_verify_url "$bin" "$work/r.json" "$PG_URL" "$work/pg-chain" --engine postgres --no-split)
      else
        ms=$(bench_verify_url "$bin" "$work/r.json" "$MY_URL" "$work/my-chain" --engine mariadb --no-split)
      fi
      values[$engine.single]+="$ms "
      printf '%-9s %-10s %4s %9s\n' "$engine" "no-split" "$i" "$ms"
    fi
  done
done

echo
for engine in $engines; do
  size=$pg_size
  [ "$engine" = mariadb ] && size=$my_size
  # shellcheck disable=SC2086
  read -r fmin fmed fmax <<<"$(bench_stats ${values[$engine.floor]})"
  # shellcheck disable=SC2086
  read -r mmin mmed mmax <<<"$(bench_stats ${values[$engine.migcheck]})"
  echo "$engine, $size migrations, $runs runs (min / median / max wall ms)"
  echo "  the ups once, one connection: $fmin / $fmed / $fmax"
  echo "  migcheck verify:              $mmin / $mmed / $mmax"
  python3 -c "import sys; print(f'  ratio of the medians: {int(sys.argv[1]) / int(sys.argv[2]):.1f}x')" "$mmed" "$fmed"
  if [ -n "${values[$engine.single]:-}" ]; then
    # shellcheck disable=SC2086
    read -r smin smed smax <<<"$(bench_stats ${values[$engine.single]})"
    echo "  migcheck verify --no-split:   $smin / $smed / $smax"
    python3 -c "import sys; print(f'  ratio of the medians, --no-split: {int(sys.argv[1]) / int(sys.argv[2]):.1f}x')" "$smed" "$fmed"
  fi
done
