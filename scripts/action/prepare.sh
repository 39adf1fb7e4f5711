#!/usr/bin/env bash
# The GitHub Action's first step (action.yml): where migcheck is installed and under which
# cache key. Writes to $GITHUB_OUTPUT:
#   key        actions/cache key: runner OS and architecture, the distribution (a binary built
#              on one glibc may not start on an older one) and a hash of the sources migcheck is
#              built from (Cargo.toml, Cargo.lock, src/), so a changed action builds again and an
#              unchanged one never does. hashFiles() cannot be used for this: it only reads files
#              inside the workspace, and a remote action's checkout is outside it.
#   dir        the install root (`cargo install --root`), under the runner's tool cache
#   bin        dir/bin/migcheck
#   installed  true when that binary is already there (an earlier step of the same job)
set -euo pipefail

src=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: this script is a step of the migcheck action}
cd -- "$src"

hash=$(
  {
    sha256sum Cargo.toml Cargo.lock
    find src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-24
)

distribution=unknown
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  distribution=$(. /etc/os-release && printf '%s-%s' "${ID:-unknown}" "${VERSION_ID:-rolling}")
fi

key="migcheck-${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}-${distribution}-${hash}"
dir="${RUNNER_TOOL_CACHE:-${HOME}/.cache}/migcheck-action/${hash}"
bin="$dir/bin/migcheck"
installed=false
[ -x "$bin" ] && installed=true

echo "migcheck from $src: cache key $key, install root $dir (installed: $installed)"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'key=%s\ndir=%s\nbin=%s\ninstalled=%s\n' "$key" "$dir" "$bin" "$installed" >>"$GITHUB_OUTPUT"
fi
