#!/usr/bin/env bash
# What `verify --since` adds: migcheck's history stage (`timings.history_ms` of the JSON report)
# next to the bare git commands it needs (merge-base, ls-tree, cat-file --batch), interleaved,
# min/median/max over N runs. No database is needed: the run points the url provider at a closed
# port, so it stops (exit 3) right after the history stage, whose time is in the report.
#
# Usage: scripts/bench-history.sh [-b BINARY] [-n RUNS] REPO CHAIN_PATH BASE
#   e.g. scripts/bench-history.sh /work/realchains/cratesio migrations cb2f0b4e8
set -euo pipefail
bin=$PWD/target/release/migcheck
runs=5
while getopts "b:n:h" opt; do
  case $opt in
    b) bin=$(realpath "$OPTARG") ;;
    n) runs=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || { sed -n '2,9p' "$0"; exit 2; }
repo=$1 chain=$2 base=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$repo"

ms() { date +%s%N | awk '{ printf "%d", $1 / 1000000 }'; }
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "min %d ms · median %d ms · max %d ms", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

: >"$out/git" ; : >"$out/migcheck"
for _ in $(seq "$runs"); do
  start=$(ms)
  git merge-base HEAD "$base" >/dev/null
  git ls-tree -r --full-tree "$base" -- "$chain" | awk '{ print $3 }' | git cat-file --batch >/dev/null
  echo $(( $(ms) - start )) >>"$out/git"

  "$bin" verify "$chain" --provider url --url postgres://bench@127.0.0.1:1/postgres \
    --since "$base" --json "$out/report.json" -q >/dev/null 2>&1 || true
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["history_ms"])' "$out/report.json" >>"$out/migcheck"
done
files=$(git ls-tree -r --full-tree --name-only "$base" -- "$chain" | wc -l)
echo "history stage on $repo/$chain since $base ($files files at the base), $runs runs:"
echo "  git alone (merge-base + ls-tree + cat-file): $(stats <"$out/git")"
echo "  migcheck history stage:                      $(stats <"$out/migcheck")"
