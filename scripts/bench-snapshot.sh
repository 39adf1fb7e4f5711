#!/usr/bin/env bash
# Full vs incremental PostgreSQL snapshots, side by side on the local provider (release build).
#
#   scripts/bench-snapshot.sh [RUNS]      (default 5 runs per case, modes interleaved;
#                                         MIGCHECK_BIN=path measures that binary)
#
# Two generated golang-migrate chains:
#   growing  400 migrations, each creating one table (identity key, foreign key to the previous
#            table, an index; a view every tenth): `verify` with default flags, as in issue 14.
#   wide     a 390-table schema in 10 migrations (`base`), and the same plus 50 steps that each
#            touch one table (`steps`: add a table, or add a column, rename a column under a
#            view and add an index); `--no-lint`, so migrations are not observed. The cost of
#            one snapshot after a one-table step of a ~400-table schema is
#            (snapshots_ms(steps) - snapshots_ms(base)) / 150 (an up, a down, an up again per step).
# `MIGCHECK_SNAPSHOT_INCREMENTAL=0` gives full snapshots. Prints every run, then min/median/max
# of the wall time and of the report's snapshots_ms per case and mode. Times are never asserted.
# Both chains run on one database (`MIGCHECK_SPLIT=0`): the snapshot times are a whole chain's.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIGCHECK_SPLIT=0
runs=${1:-5}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bin=$(bench_migcheck_bin)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 scripts/gen-chain.py growing "$out/growing" 400
python3 scripts/gen-chain.py wide "$out/wide-base" 0
python3 scripts/gen-chain.py wide "$out/wide-steps" 50

cases=(
  "growing $out/growing"
  "wide-base $out/wide-base --no-lint"
  "wide-steps $out/wide-steps --no-lint"
)
results=$out/results.tsv
: >"$results"
printf '%-10s %-11s %4s %9s %9s %6s\n' case mode run wall_ms snap_ms exit
for i in $(seq 1 "$runs"); do
  for c in "${cases[@]}"; do
    read -r name path args <<<"$c"
    for mode in full incremental; do
      inc=1
      [ "$mode" = full ] && inc=0
      rm -f "$out/r.json"
      start=$(date +%s%N)
      set +e
      # shellcheck disable=SC2086
      MIGCHECK_SNAPSHOT_INCREMENTAL=$inc "$bin" verify "$path" --engine postgres --provider local $args \
        --quiet --json "$out/r.json" >"$out/log" 2>&1
      code=$?
      set -e
      if [ ! -s "$out/r.json" ]; then
        echo "$name ($mode): no report, exit $code" >&2
        tail -20 "$out/log" >&2
        exit 1
      fi
      wall=$(( ($(date +%s%N) - start) / 1000000 ))
      snap=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["snapshots_ms"])' "$out/r.json")
      printf '%-10s %-11s %4s %9s %9s %6s\n' "$name" "$mode" "$i" "$wall" "$snap" "$code"
      printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$wall" "$snap" >>"$results"
    done
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
data = {}
for case, mode, wall, snap in rows:
    data.setdefault((case, mode), []).append((int(wall), int(snap)))
def mmm(xs):
    return f"{min(xs):>7} {statistics.median(xs):>9} {max(xs):>7}"
print()
print(f"{'case':<10} {'mode':<11} {'wall min':>8} {'median':>9} {'max':>7}   {'snap min':>8} {'median':>9} {'max':>7}")
for (case, mode), v in data.items():
    print(f"{case:<10} {mode:<11} {mmm([w for w, _ in v])}   {mmm([s for _, s in v])}")
print()
for mode in ("full", "incremental"):
    base = statistics.median(s for _, s in data[("wide-base", mode)])
    steps = statistics.median(s for _, s in data[("wide-steps", mode)])
    print(f"one-table step of a ~400-table schema, {mode}: {(steps - base) / 150:.1f} ms per snapshot "
          f"(median snapshots_ms {steps} - {base}, over 150 snapshots)")
for case in ("growing",):
    f = statistics.median(w for w, _ in data[(case, "full")])
    i = statistics.median(w for w, _ in data[(case, "incremental")])
    print(f"{case}: verify median wall {f} ms full, {i} ms incremental ({f / i:.2f}x)")
PY
