#!/usr/bin/env bash
# Peak memory and wall time of `migcheck verify` on long PostgreSQL chains, in step and in full
# round-trip mode, on the local provider (release build). Issue 14's budget is 64 MB at 1,000
# migrations in both modes.
#
#   scripts/bench-memory.sh [RUNS]        (default 3 runs per case, cases interleaved)
#
# Environment:
#   SIZES="400 1000"     chain lengths to generate
#   MODES="step full"    round-trip modes
#   MIGCHECK_BIN=path    measure this binary instead of building one (e.g. an older build)
#
# Each generated golang-migrate chain creates one table per migration (identity key, a foreign
# key to the previous table, an index; a view every tenth), as bench-snapshot.sh's "growing"
# chain. Prints every run, then min/median/max per case of:
#   rss_mb   max RSS from `/usr/bin/time -v`. Linux counts the largest descendant that was
#            waited for too, and the local provider's PostgreSQL server is migcheck's child:
#            this is max(migcheck, the server's processes).
#   own_mb   migcheck's own peak (VmHWM in /proc/PID/status, read every 10 ms while it runs).
#   srv_mb   the largest peak among migcheck's descendants (the PostgreSQL server's processes;
#            read every 200 ms).
#   wall_s   wall time.
# Memory and times are never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
sizes=${SIZES:-400 1000}
modes=${MODES:-step full}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bin=$(bench_migcheck_bin)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for size in $sizes; do
  python3 scripts/gen-chain.py growing "$out/chain-$size" "$size"
done

# Follows the child of the `time` process whose pid it is given (migcheck) and prints its
# peak RSS in MB, read from VmHWM (a high-water mark) until the process is gone, and the
# largest peak among its descendants.
cat >"$out/hwm.py" <<'PY'
import os, sys, time
def parents():
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            out[pid] = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
        except OSError:
            pass
    return out
def hwm(pid):
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return None
    lines = [l for l in status.splitlines() if l.startswith("VmHWM:")]
    return int(lines[0].split()[1]) if lines else None
timer = sys.argv[1]
pid = None
while pid is None and os.path.exists(f"/proc/{timer}"):
    pid = next((p for p, pp in parents().items() if pp == timer), None)
    time.sleep(0.002)
own = server = 0
tick = 0
while pid is not None:
    kb = hwm(pid)
    if kb is None:
        break
    own = max(own, kb)
    if tick % 20 == 0:
        tree = parents()
        below = {pid}
        for _ in range(3):
            below |= {p for p, pp in tree.items() if pp in below}
        for p in below - {pid}:
            server = max(server, hwm(p) or 0)
    tick += 1
    time.sleep(0.01)
print(f"{own / 1024:.1f} {server / 1024:.1f}")
PY

# Max RSS (MB) and wall time (s) from a `/usr/bin/time -v` output.
cat >"$out/time.py" <<'PY'
import sys
rss = wall = 0.0
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("Maximum resident set size (kbytes):"):
        rss = int(line.rsplit(":", 1)[1]) / 1024
    elif line.startswith("Elapsed (wall clock) time"):
        parts = [float(p) for p in line.rsplit(": ", 1)[1].split(":")]
        wall = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
print(f"{rss:.1f} {wall:.2f}")
PY

results=$out/results.tsv
: >"$results"
printf '%-6s %-5s %4s %8s %8s %8s %8s %5s %s\n' size mode run rss_mb own_mb srv_mb wall_s exit verdict
for i in $(seq 1 "$runs"); do
  for size in $sizes; do
    for mode in $modes; do
      rm -f "$out/r.json"
      set +e
      /usr/bin/time -v -o "$out/time" "$bin" verify "$out/chain-$size" --engine postgres \
        --provider local --roundtrip "$mode" --quiet --json "$out/r.json" >"$out/log" 2>&1 &
      timer=$!
      python3 "$out/hwm.py" "$timer" >"$out/own" &
      poller=$!
      wait "$timer"
      code=$?
      wait "$poller"
      set -e
      if [ ! -s "$out/r.json" ]; then
        echo "$size ($mode): no report, exit $code" >&2
        tail -20 "$out/log" >&2
        exit 1
      fi
      read -r own srv <"$out/own"
      read -r rss wall < <(python3 "$out/time.py" "$out/time")
      verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$out/r.json")
      printf '%-6s %-5s %4s %8s %8s %8s %8s %5s %s\n' "$size" "$mode" "$i" "$rss" "$own" "$srv" "$wall" "$code" "$verdict"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$mode" "$rss" "$own" "$srv" "$wall" >>"$results"
    done
  done
done

python3 - "$results" <<'PY'
import statistics, sys
data = {}
for line in open(sys.argv[1]).read().splitlines():
    size, mode, *values = line.split("\t")
    data.setdefault((int(size), mode), []).append([float(v) for v in values])
def mmm(xs):
    return f"{min(xs):>8.1f} {statistics.median(xs):>8.1f} {max(xs):>8.1f}"
print()
print("min / median / max per case")
print(f"{'size':<6} {'mode':<5} {'runs':>4}   " + "   ".join(f"{c:^26}" for c in ("rss_mb", "own_mb", "srv_mb", "wall_s")))
for (size, mode), v in sorted(data.items()):
    print(f"{size:<6} {mode:<5} {len(v):>4}   " + "   ".join(mmm([r[k] for r in v]) for k in range(4)))
PY
