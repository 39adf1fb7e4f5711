#!/usr/bin/env bash
# Time `migcheck lint --engine postgres` on a PostgreSQL function whose BEGIN ATOMIC body holds
# deeply nested BEGINs, followed by the matching END;s, all on one line (the splitter ends the
# function at the first END, so every further `END;` is a statement of its own on that line).
#   scripts/bench-lint-nested.sh [MEGABYTES...]      (default 0.1 0.5 1.1)
# BIN=path/to/migcheck picks the binary (default: target/debug/migcheck, built when missing;
# honours CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-${CARGO_TARGET_DIR:-target}/debug/migcheck}
if [ ! -x "$bin" ]; then
  cargo build --quiet
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
((${#sizes[@]})) || sizes=(0.1 0.5 1.1)
for mb in "${sizes[@]}"; do
  dir=$work/nested-$mb
  mkdir -p "$dir"
  head='CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC '
  # "BEGIN " and "END; " per level: 11 bytes.
  n=$(awk -v mb="$mb" -v h=${#head} 'BEGIN { printf "%d", (mb * 1000000 - h) / 11 }')
  awk -v n="$n" -v h="$head" 'BEGIN {
    printf "%s", h
    for (i = 0; i < n; i++) printf "BEGIN "
    printf "SELECT 1; "
    for (i = 0; i < n; i++) printf "END; "
    printf "END;\n"
  }' >"$dir/1_nested.up.sql"
  echo 'DROP FUNCTION f();' >"$dir/1_nested.down.sql"
  bytes=$(wc -c <"$dir/1_nested.up.sql")
  start=$(date +%s%N)
  "$bin" lint --engine postgres --quiet "$dir" >/dev/null || true
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "nested BEGIN in BEGIN ATOMIC, $bytes bytes ($n levels) on one line: ${ms} ms"
done
