#!/usr/bin/env bash
# Full vs incremental PostgreSQL snapshots, side by side on the local provider (release build).
#
#   scripts/bench-snapshot.sh [RUNS]      (default 5 runs per case, modes interleaved)
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
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$(pwd)/$target ;; esac
bin=$target/release/migcheck
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 - "$out" <<'PY'
import os, sys
root = sys.argv[1]

def write(d, name, up, down):
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name + ".up.sql"), "w").write(up)
    open(os.path.join(d, name + ".down.sql"), "w").write(down)

def table(t, parent):
    fk = f" REFERENCES public.t{parent}" if parent is not None else ""
    sql = (f"CREATE TABLE public.t{t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
           f"parent_id bigint{fk}, name text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now());\n"
           f"CREATE INDEX t{t}_name ON public.t{t} (name);\n")
    if t % 10 == 0:
        sql += f"CREATE VIEW public.v{t} AS SELECT id, name FROM public.t{t};\n"
    return sql

def drop(t):
    return (f"DROP VIEW public.v{t};\n" if t % 10 == 0 else "") + f"DROP TABLE public.t{t};\n"

growing = os.path.join(root, "growing")
for t in range(400):
    write(growing, f"{t + 1:06}_t{t}", table(t, t - 1 if t else None), drop(t))

for case, steps in (("base", 0), ("steps", 50)):
    d = os.path.join(root, "wide-" + case)
    for m in range(10):
        ts = range(m * 39, (m + 1) * 39)
        write(d, f"{m + 1:06}_wide_{m}", "".join(table(t, t - 1 if t else None) for t in ts),
              "".join(drop(t) for t in reversed(ts)))
    for s in range(steps):
        n = 11 + s
        if s % 2 == 0:
            t = 390 + s // 2
            write(d, f"{n:06}_add_t{t}",
                  f"CREATE TABLE public.t{t} (id bigint PRIMARY KEY, t5_id bigint REFERENCES public.t5, note text);\n"
                  f"CREATE INDEX t{t}_note ON public.t{t} (note);\n",
                  f"DROP TABLE public.t{t};\n")
        else:
            k = (s // 2) * 10
            write(d, f"{n:06}_alter_t{k}",
                  f"ALTER TABLE public.t{k} ADD COLUMN score int NOT NULL DEFAULT 0;\n"
                  f"ALTER TABLE public.t{k} RENAME COLUMN name TO title;\n"
                  f"CREATE INDEX t{k}_score ON public.t{k} (score);\n",
                  f"DROP INDEX public.t{k}_score;\n"
                  f"ALTER TABLE public.t{k} RENAME COLUMN title TO name;\n"
                  f"ALTER TABLE public.t{k} DROP COLUMN score;\n")
PY

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
