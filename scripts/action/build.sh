#!/usr/bin/env bash
# The GitHub Action's build step (action.yml), run only when the cache had no binary: installs
# what building migcheck needs (libpg_query is compiled from C: a C compiler, libclang for
# bindgen, protoc for prost) when it is missing, then `cargo install --locked` from the action's
# own checkout into MIGCHECK_INSTALL_ROOT.
set -euo pipefail

root=${MIGCHECK_INSTALL_ROOT:?MIGCHECK_INSTALL_ROOT is not set: this script is a step of the migcheck action}
src=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: this script is a step of the migcheck action}

error() {
  if [ "${GITHUB_ACTIONS:-}" = true ]; then
    printf '::error title=migcheck action::%s\n' "$1"
  else
    printf 'migcheck action: %s\n' "$1" >&2
  fi
  exit 1
}

packages=()
command -v cc >/dev/null 2>&1 || packages+=(build-essential)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || packages+=(libclang-dev clang)
command -v protoc >/dev/null 2>&1 || packages+=(protobuf-compiler)
if ((${#packages[@]})); then
  command -v apt-get >/dev/null 2>&1 ||
    error "building migcheck needs ${packages[*]} (a C compiler, libclang, protoc), and this runner has no apt-get to install them"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "installing ${packages[*]} to build migcheck"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

command -v cargo >/dev/null 2>&1 ||
  error "cargo is not on PATH: add a Rust toolchain (1.85 or newer) before this action, e.g. a step running rustup"

start=$(date +%s)
cargo install --locked --force --path "$src" --root "$root"
echo "migcheck built in $(($(date +%s) - start)) s: $root/bin/migcheck"
"$root/bin/migcheck" --version
