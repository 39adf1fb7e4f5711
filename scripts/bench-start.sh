#!/usr/bin/env bash
# Start-to-ready of the local provider, template data directory on vs off (MIGCHECK_NO_TEMPLATE=1:
# a fresh initdb / mariadb-install-db per run, what every run did before templates), for
# PostgreSQL and MariaDB, interleaved: on, off, on, off, ... so both see the same machine load.
#
#   scripts/bench-start.sh [RUNS]        (default 7 runs per case; release build, or
#                                        MIGCHECK_BIN=path)
#
# Each run is `migcheck verify` of a one-migration chain with `--provider local`; the number is
# the JSON report's `timings.server_start_ms` (from asking for the server to its answering
# `SELECT 1`: binary search, copy or init, start, readiness). The templates live in a temporary
# MIGCHECK_TEMPLATE_DIR, built by one warm-up run per engine (its time is printed, not counted).
# Prints every run, then min/median/max per case and the ratio of the medians.
#
# A third case, `shm`, is the template with TMPDIR=/dev/shm: the run's directory (the copy of
# the template) on tmpfs. It shows what the disk costs: a PostgreSQL data directory is ~1,000
# files, and creating a file on a busy ext4 can take a millisecond.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bin=$(bench_migcheck_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MIGCHECK_TEMPLATE_DIR="$work/templates"

chain="$work/chain"
mkdir -p "$chain"
echo 'CREATE TABLE bench_start (id INT PRIMARY KEY);' >"$chain/000001_bench_start.up.sql"
echo 'DROP TABLE bench_start;' >"$chain/000001_bench_start.down.sql"

# start_ms ENGINE NO_TEMPLATE [TMPDIR] -> prints server_start_ms
start_ms() {
  TMPDIR=${3:-${TMPDIR:-/tmp}} MIGCHECK_NO_TEMPLATE=$2 "$bin" verify "$chain" --engine "$1" --provider local --no-lint \
    --quiet --json "$work/r.json" >/dev/null
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["server_start_ms"])' "$work/r.json"
}

stats() { # values... -> "min median max"
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}'
}

engines=(postgres mariadb)
for e in "${engines[@]}"; do
  echo "warm-up $e (builds the template): $(start_ms "$e" 0) ms"
done

modes=(on off)
[ -d /dev/shm ] && [ -w /dev/shm ] && modes+=(shm)
declare -A values
printf '%-9s %-8s %4s %9s\n' engine template run start_ms
for i in $(seq 1 "$runs"); do
  for e in "${engines[@]}"; do
    for mode in "${modes[@]}"; do
      no=0 tmp=
      [ "$mode" = off ] && no=1
      [ "$mode" = shm ] && tmp=/dev/shm
      ms=$(start_ms "$e" "$no" $tmp)
      values[$e.$mode]+="$ms "
      printf '%-9s %-8s %4s %9s\n' "$e" "$mode" "$i" "$ms"
    done
  done
done

echo
printf '%-9s %-8s %7s %7s %7s\n' engine template min median max
for e in "${engines[@]}"; do
  for mode in "${modes[@]}"; do
    # shellcheck disable=SC2086
    read -r mn md mx <<<"$(stats ${values[$e.$mode]})"
    printf '%-9s %-8s %7s %7s %7s\n' "$e" "$mode" "$mn" "$md" "$mx"
    case $mode in on) on_median=$md ;; off) off_median=$md ;; esac
  done
  awk -v on="$on_median" -v off="$off_median" -v e="$e" \
    'BEGIN {printf "  -> %s: template on %d ms vs off %d ms median (%.1fx faster)\n", e, on, off, off / (on > 0 ? on : 1)}'
done
