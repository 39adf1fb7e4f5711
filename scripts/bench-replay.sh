#!/usr/bin/env bash
# Replays through the shadow database against replays from scratch (MIGCHECK_NO_SHADOW=1),
# interleaved, on one chain (release build, local provider):
#
#   scripts/bench-replay.sh CHAIN [RUNS] [-- extra verify args]     (default 3 runs per mode)
#
# A chain with failing round trips shows the difference (crates.io's migrations: 21 replays;
# see scripts/real-chains.tsv). Prints every run (wall, replay and snapshot time from the JSON
# report, failing checks, findings) and min/median/max per mode. Times are never asserted.
# The chain runs on one database (`MIGCHECK_SPLIT=0`): the replay times are a whole chain's.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIGCHECK_SPLIT=0
chain=${1:?usage: scripts/bench-replay.sh CHAIN [RUNS] [-- args]}
runs=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/migcheck
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-7s %3s %9s %9s %9s %6s %9s\n' mode run total_ms replay_ms snap_ms fails findings
for run in $(seq 1 "$runs"); do
  for mode in shadow fresh; do
    json=$out/$mode-$run.json
    if [ "$mode" = fresh ]; then
      MIGCHECK_NO_SHADOW=1 "$bin" verify "$chain" --engine postgres --provider local --json "$json" "$@" >/dev/null 2>&1 || true
    else
      "$bin" verify "$chain" --engine postgres --provider local --json "$json" "$@" >/dev/null 2>&1 || true
    fi
    python3 - "$json" "$mode" "$run" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t = d["timings"]
fails = sum(1 for c in d["checks"] if c["status"] == "fail")
print(f"{sys.argv[2]:<7} {sys.argv[3]:>3} {t['total_ms']:>9} {t['replay_ms']:>9} {t['snapshots_ms']:>9} {fails:>6} {len(d['findings']):>9}")
PY
  done
done | tee "$out/runs.txt"
python3 - "$out/runs.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for mode in ("shadow", "fresh"):
    for col, name in ((2, "total_ms"), (3, "replay_ms")):
        v = sorted(int(r[col]) for r in rows if r[0] == mode)
        print(f"{mode:<7} {name:<9} min {v[0]:>7} median {statistics.median(v):>9.0f} max {v[-1]:>7}")
PY
