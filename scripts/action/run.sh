#!/usr/bin/env bash
# The GitHub Action's run step (action.yml): builds migcheck's command line from the action's
# inputs, runs it, writes the step outputs and exits with migcheck's exit code.
#
# Inputs arrive as environment variables, never inside the script text (action.yml maps each
# `inputs.*` to one of these through `env:`), so no input is ever parsed by a shell: every value
# becomes whole arguments of migcheck, in the `--flag=value` form, and paths come after `--`.
#
#   INPUT_COMMAND            verify (default) or lint
#   INPUT_PATH               migrations folders (or, for lint, files): in a block (several lines),
#                            one per line; on one line, separated by spaces
#   INPUT_ENGINE             --engine      (empty: migcheck's default, or MIGCHECK_ENGINE)
#   INPUT_PROVIDER           --provider    (verify)
#   INPUT_URL                the server for --provider url (verify); handed to migcheck as
#                            MIGCHECK_DATABASE_URL, never on its command line, never printed
#   INPUT_IMAGE              --image       (verify)
#   INPUT_FORMAT             --format
#   INPUT_FAIL_ON            --fail-on
#   INPUT_SINCE              --since       (verify)
#   INPUT_CONFIG             --config
#   INPUT_SESSION_SQL        --session-sql, one statement per line (verify)
#   INPUT_JSON, INPUT_JUNIT, INPUT_SARIF, INPUT_MARKDOWN    report files
#   INPUT_EVIDENCE           --evidence folder (verify)
#   INPUT_ARGS               more arguments, split at white space (no quoting, no expansion)
#   INPUT_WORKING_DIRECTORY  where migcheck runs; relative paths are relative to it
#   MIGCHECK_BIN             the migcheck binary (default: `migcheck` on PATH)
#
# Step outputs ($GITHUB_OUTPUT, when set): verdict (pass, fail or error), exit-code, and the
# absolute paths of the reports that exist after the run: json, junit, sarif, markdown, evidence.
# Exit codes are migcheck's: 0 pass, 1 failed gate, 2 bad input (a bad input of the action
# too), 3 broken environment (no migcheck binary too).
set -euo pipefail
set -f # no pathname expansion of any word taken from an input

in_actions() { [ "${GITHUB_ACTIONS:-}" = true ]; }

# Escape a message for a workflow command (GitHub's rules), so that no input text can start a
# command of its own.
escape() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

# Append one output in the delimiter form, which holds any value (a path may contain `=` or a
# newline) and cannot be ended early by the value: the delimiter is random and checked.
output() {
  local name=$1 value=$2 delimiter
  [ -n "${GITHUB_OUTPUT:-}" ] || return 0
  while :; do
    delimiter="migcheck_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    case $value in *"$delimiter"*) ;; *) break ;; esac
  done
  printf '%s<<%s\n%s\n%s\n' "$name" "$delimiter" "$value" "$delimiter" >>"$GITHUB_OUTPUT"
}

# Absolute form of a path given relative to the working directory.
absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "${1#./}" ;;
  esac
}

# Write the outputs and leave with `code`.
finish() {
  local code=$1 verdict=error name value
  case $code in
    0) verdict=pass ;;
    1) verdict=fail ;;
  esac
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'verdict=%s\nexit-code=%s\n' "$verdict" "$code" >>"$GITHUB_OUTPUT"
  fi
  for name in json junit sarif markdown evidence; do
    value=${reports[$name]:-}
    if [ -n "$value" ] && [ -e "$value" ]; then
      output "$name" "$value"
    else
      output "$name" ""
    fi
  done
  exit "$code"
}

# The action's own errors: exit 2 for a bad input, 3 when migcheck cannot be run at all.
die() {
  local code=$1 message=$2
  if in_actions; then
    printf '::error title=migcheck action::%s\n' "$(escape "$message")"
  else
    printf 'migcheck action: %s\n' "$message" >&2
  fi
  finish "$code"
}

# Words of a value, split at spaces, tabs and newlines (nothing else: no quotes, no `$`).
WORDS=()
split_words() {
  WORDS=()
  local IFS=$' \t\n'
  read -r -d '' -a WORDS <<<"$1" || true
}

# Non-empty lines of a value, each trimmed of surrounding white space.
LINES=()
split_lines() {
  LINES=()
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    if [ -n "$line" ]; then
      LINES+=("$line")
    fi
  done <<<"$1"
}

declare -A reports=()

command=${INPUT_COMMAND:-verify}
case $command in
  verify | lint) ;;
  *) die 2 "input 'command' must be verify or lint, not '$command'" ;;
esac

workdir=${INPUT_WORKING_DIRECTORY:-.}
cd -- "$workdir" 2>/dev/null || die 2 "input 'working-directory': '$workdir' is not a folder"

args=("$command")

# A flag taking the input's value (skipped when the input is empty); `verify_only` inputs are a
# usage error with lint, which has no such flag.
flag() {
  local input=$1 option=$2 value=$3 scope=${4:-}
  [ -n "$value" ] || return 0
  if [ "$scope" = verify_only ] && [ "$command" != verify ]; then
    die 2 "input '$input' applies to command verify only"
  fi
  args+=("--$option=$value")
}

flag engine engine "${INPUT_ENGINE:-}"
flag provider provider "${INPUT_PROVIDER:-}" verify_only
flag image image "${INPUT_IMAGE:-}" verify_only
flag format format "${INPUT_FORMAT:-}"
flag fail-on fail-on "${INPUT_FAIL_ON:-}"
flag since since "${INPUT_SINCE:-}" verify_only
flag config config "${INPUT_CONFIG:-}"

if [ -n "${INPUT_SESSION_SQL:-}" ]; then
  [ "$command" = verify ] || die 2 "input 'session-sql' applies to command verify only"
  split_lines "$INPUT_SESSION_SQL"
  for statement in "${LINES[@]}"; do
    args+=("--session-sql=$statement")
  done
fi

# The URL carries a password: migcheck reads it from its environment (as `--url` would give
# it, but out of the process list and the log).
if [ -n "${INPUT_URL:-}" ]; then
  [ "$command" = verify ] || die 2 "input 'url' applies to command verify only"
  export MIGCHECK_DATABASE_URL=$INPUT_URL
fi
unset INPUT_URL

# A report flag; its absolute path becomes the output of the same name.
report() {
  local name=$1 value=$2 scope=${3:-}
  flag "$name" "$name" "$value" "$scope"
  if [ -n "$value" ]; then
    reports[$name]=$(absolute "$value")
  fi
}

report json "${INPUT_JSON:-}"
report junit "${INPUT_JUNIT:-}"
report sarif "${INPUT_SARIF:-}"
report markdown "${INPUT_MARKDOWN:-}"
report evidence "${INPUT_EVIDENCE:-}" verify_only

if [ -n "${INPUT_ARGS:-}" ]; then
  split_words "$INPUT_ARGS"
  args+=("${WORDS[@]}")
fi

# Paths last, after `--`: a path that starts with `-` is still a path.
case ${INPUT_PATH:-} in
  *$'\n'*)
    split_lines "$INPUT_PATH"
    paths=("${LINES[@]}")
    ;;
  *)
    split_words "${INPUT_PATH:-}"
    paths=("${WORDS[@]}")
    ;;
esac
((${#paths[@]})) || die 2 "input 'path' is empty: name the migrations folder"
args+=(-- "${paths[@]}")

bin=${MIGCHECK_BIN:-}
if [ -z "$bin" ]; then
  bin=$(command -v migcheck || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  die 3 "no migcheck binary to run (MIGCHECK_BIN is unset or not executable, and none is on PATH)"
fi

# The command line, each argument shell-quoted (the URL is not on it).
printf 'migcheck'
printf ' %q' "${args[@]}"
printf '\n'

set +e
"$bin" "${args[@]}"
code=$?
set -e
finish "$code"
