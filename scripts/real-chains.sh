#!/usr/bin/env bash
# Run migcheck over real public migration chains and print one table row per chain.
#
# Usage: scripts/real-chains.sh [-b BINARY] [-o OUTDIR] [-l] [-n NAME]... SRCDIR [LIST]
#   SRCDIR  directory holding the checked-out repositories, one per chain name:
#           SRCDIR/<name>/<path inside the repo> (see the list file for names, commits, paths).
#           Chains sharing a repository may share a checkout: SRCDIR/<repo name> is tried too
#           when SRCDIR/<name> is missing (e.g. openfga-pg and openfga-mysql in SRCDIR/openfga).
#   LIST    the chain list (default: scripts/real-chains.tsv next to this script); TAB-separated
#           columns: name, owner/repo, commit, path, engine, format or `auto`, extra args
#           (whitespace-separated; `@here@` stands for this script's folder, e.g. for a --config
#           file under scripts/real-chains.d/ that sets a chain's session up as its runner does).
#   -b      migcheck binary (default: target/release/migcheck)
#   -o      output directory for the JSON reports and logs (default: real-chains-out)
#   -l      also run `migcheck lint` on each chain (lint column: exit code, errors/warnings)
#   -n      run only the named chain (repeatable)
# Check a chain out with e.g.
#   git clone https://github.com/rust-lang/crates.io SRCDIR/cratesio && git -C SRCDIR/cratesio checkout COMMIT
# Every run uses the local provider (server binaries on this machine). Numbers come from the JSON
# reports (python3), not from the terminal output. Exit code: 0 when every chain ran (whatever the
# verdicts), 2 on bad usage.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=target/release/migcheck
out=real-chains-out
lint=0
only=()
while getopts "b:o:ln:h" opt; do
  case $opt in
    b) bin=$OPTARG ;;
    o) out=$OPTARG ;;
    l) lint=1 ;;
    n) only+=("$OPTARG") ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
src=$1
list=${2:-$here/real-chains.tsv}
[ -x "$bin" ] || { echo "migcheck binary not found: $bin" >&2; exit 2; }
[ -f "$list" ] || { echo "chain list not found: $list" >&2; exit 2; }
mkdir -p "$out"

# Summarise a verify or lint JSON report as TAB-separated fields.
summarise() {
  python3 - "$1" "$2" <<'PY'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
try:
    d = json.load(open(path))
except Exception:
    print("\t".join(["-"] * (6 if kind == "verify" else 3)))
    sys.exit(0)
findings = d.get("findings", [])
errs = sum(1 for f in findings if f.get("severity") == "error")
warns = sum(1 for f in findings if f.get("severity") == "warning")
parse = sum(1 for f in findings if f.get("rule") == "parse-error")
fmt = d.get("format") or "-"
if isinstance(fmt, dict):
    fmt = fmt.get("name", "-")
if kind == "verify":
    failed = sum(1 for c in d.get("checks", []) if c.get("status") == "fail")
    print("\t".join(map(str, [fmt, len(d.get("migrations", [])), failed, f"{errs}/{warns}", parse, d.get("verdict", "-")])))
else:
    print("\t".join(map(str, [f"{errs}/{warns}", parse, d.get("verdict", "-")])))
PY
}

header="chain\tformat\tengine\tmigrations\texit\tverdict\tfailed\tlint e/w\tparse-err\ttime s"
[ $lint = 1 ] && header="$header\tlint exit\tlint e/w\tlint parse-err"
rows=("$header")
while IFS=$'\t' read -r name repo commit path engine format extra; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  dir=$src/$name/$path
  [ -e "$dir" ] || dir=$src/${repo#*/}/$path
  if [ ! -e "$dir" ]; then
    rows+=("$name\t-\t$engine\t-\tmissing\t-\t-\t-\t-\t-")
    continue
  fi
  fmtargs=()
  [ "$format" != auto ] && [ -n "$format" ] && fmtargs=(--format "$format")
  # shellcheck disable=SC2206 # extra args are whitespace-separated by design
  extras=(${extra//@here@/$here})
  json=$out/$name.verify.json
  rm -f "$json"
  start=$(date +%s.%N)
  "$bin" verify "$dir" --engine "$engine" --provider local --color never --json "$json" \
    "${fmtargs[@]}" "${extras[@]}" >"$out/$name.verify.log" 2>&1 </dev/null
  code=$?
  secs=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  IFS=$'\t' read -r fmt migs failed ew parse verdict < <(summarise "$json" verify)
  row="$name\t$fmt\t$engine\t$migs\t$code\t$verdict\t$failed\t$ew\t$parse\t$secs"
  if [ $lint = 1 ]; then
    ljson=$out/$name.lint.json
    rm -f "$ljson"
    "$bin" lint "$dir" --engine "$engine" --color never --json "$ljson" "${fmtargs[@]}" \
      >"$out/$name.lint.log" 2>&1 </dev/null
    lcode=$?
    IFS=$'\t' read -r lew lparse _ < <(summarise "$ljson" lint)
    row="$row\t$lcode\t$lew\t$lparse"
  fi
  rows+=("$row")
  printf '%b\n' "$row" >&2
done <"$list"
printf '%b\n' "${rows[@]}" | column -t -s $'\t'
