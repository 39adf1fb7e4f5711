#!/usr/bin/env bash
# Run every fuzz target under fuzz/ for a while:   scripts/fuzz.sh [SECONDS_PER_TARGET]  (default 10)
#
# 1. builds seed corpora into fuzz/corpus/<target>/ from the files under fixtures/ (kept between
#    runs, not committed: libFuzzer adds what it finds to them);
# 2. installs cargo-fuzz when it is missing (`cargo install cargo-fuzz --locked`);
# 3. builds the targets (ASan, release with debug assertions) and runs each one for the given
#    seconds; the stable toolchain runs cargo-fuzz with RUSTC_BOOTSTRAP=1;
# 4. prints the executions libFuzzer reported per target, and fails when a target crashed
#    (the input that crashed it is under fuzz/artifacts/<target>/, named in the output).
# FUZZ_TARGETS="split config" limits the run to those targets. Logs: fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-10}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"

all_targets=(split discover discover_text alembic_header alembic_project lint_postgres lint_mysql config)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

# ---- seed corpora from fixtures/ ----
corpus=$root/fuzz/corpus
# seed TARGET: standard input becomes one seed, named by its hash as libFuzzer names its own.
seed() {
  local tmp sum
  tmp=$(mktemp)
  cat >"$tmp"
  sum=$(sha1sum "$tmp" | cut -d' ' -f1)
  mkdir -p "$corpus/$1"
  mv "$tmp" "$corpus/$1/$sum"
}
is_mysql() { [[ $1 == */mysql/* || $1 == */mariadb* ]]; }

seed_corpora() {
  local f flag dir n
  while IFS= read -r -d '' f; do
    if is_mysql "$f"; then
      # split: MySQL, DELIMITER interpreted and left to the server; lint: MySQL and MariaDB.
      { printf '\x01'; cat "$f"; } | seed split
      { printf '\x03'; cat "$f"; } | seed split
      { printf '\x00'; cat "$f"; } | seed lint_mysql
      { printf '\x82'; cat "$f"; } | seed lint_mysql
    else
      { printf '\x00'; cat "$f"; } | seed split
      for flag in '\x00' '\x02' '\x09'; do
        { printf "$flag"; cat "$f"; } | seed lint_postgres
      done
    fi
    # goose StatementBegin blocks are verbatim segments: bit 2 of the split flags.
    if grep -q '+goose StatementBegin' "$f"; then
      { printf '\x04'; cat "$f"; } | seed split
    fi
    { basename "$f"; cat "$f"; } | seed discover_text
  done < <(find fixtures -type f -name '*.sql' -print0)
  while IFS= read -r -d '' f; do
    { basename "$f"; cat "$f"; } | seed discover_text
  done < <(find fixtures -type f \( -name '*.toml' -o -name '*.conf' -o -name 'go.mod' \) -print0)
  while IFS= read -r -d '' f; do
    seed alembic_header <"$f"
  done < <(find fixtures -type f -path '*/versions/*.py' -print0)
  while IFS= read -r -d '' f; do
    seed alembic_project <"$f"
  done < <(find fixtures -type f -name 'alembic.ini' -print0)
  # No fixture has a pyproject.toml: one with [tool.alembic] after an empty alembic.ini.
  printf '\0[tool.alembic]\nscript_location = "%%(here)s/migrations"\nversion_locations = ["a", "b"]\n' |
    seed alembic_project
  while IFS= read -r -d '' f; do
    seed config <"$f"
  done < <(find fixtures -type f -name '*.toml' -print0)
  # The README's example [lint] / [verify] configuration.
  awk '/^```toml$/ {on=1; next} /^```$/ {on=0} on' README.md | seed config
  # discover: each migrations folder as one input (its first 8 files, NUL-separated), format detected.
  while IFS= read -r -d '' dir; do
    n=0
    {
      printf '\x00'
      while IFS= read -r -d '' f; do
        ((n++ < 8)) || break
        ((n == 1)) || printf '\x00'
        printf '%s\n' "${f#"$dir"/}"
        cat "$f"
      done < <(find "$dir" -mindepth 1 -maxdepth 2 -type f \( -name '*.sql' -o -name '*.conf' -o -name 'metadata.toml' \) -print0 | sort -z)
    } | seed discover
  done < <(find fixtures/postgres fixtures/mysql fixtures/observe fixtures/lint/chains -mindepth 2 -maxdepth 2 -type d -print0)
  for t in "${all_targets[@]}"; do
    mkdir -p "$corpus/$t"
  done
}
seed_corpora
for t in "${targets[@]}"; do
  echo "fuzz: $t: $(find "$corpus/$t" -type f | wc -l) inputs in the corpus"
done

# ---- cargo-fuzz ----
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

cd fuzz
start=$(date +%s)
for t in "${targets[@]}"; do
  cargo fuzz build "$t"
done
echo "fuzz: targets built in $(($(date +%s) - start)) s"

# ---- runs ----
mkdir -p logs
failed=()
summary=()
for t in "${targets[@]}"; do
  log=logs/$t.log
  echo "fuzz: running $t for ${seconds} s"
  status=0
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer's last status line (`#N DONE ...`), else its final stats.
  execs=$(grep -aoE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1 | grep -oE '[0-9]+' || true)
  if [[ -z $execs ]]; then
    execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' || true)
  fi
  if ((status != 0)); then
    artifact=$(grep -aoE 'Test unit written to [^ ]+' "$log" | tail -n1 | sed 's/Test unit written to //' || true)
    tail -n 40 "$log"
    echo "fuzz: $t FAILED (exit $status) after ${execs:-?} executions; input: ${artifact:-none written}; log: fuzz/$log"
    failed+=("$t")
    summary+=("$t: FAILED after ${execs:-?} executions, input ${artifact:-none}")
  else
    summary+=("$t: ${execs:-?} executions in ${seconds} s")
  fi
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
