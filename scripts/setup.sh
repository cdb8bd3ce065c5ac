#!/usr/bin/env bash
# Sets up a Debian 12 machine for hyperalign and builds it:
#   1. Debian packages (skipped when all are installed),
#   2. llama.cpp's source from the npm package node-llama-cpp (pinned, sha256-checked, cached
#      outside the repository), plus a llama-server binary built from the same source,
#   3. the project itself (CMake + Ninja + ccache) into ./build.
# Running it again does no work twice: each step checks what is already there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${HYPERALIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyperalign}"
build_dir="${HYPERALIGN_BUILD_DIR:-$root/build}"
build_type="${HYPERALIGN_BUILD_TYPE:-Release}"

llama_npm_version=3.21.1
llama_npm_sha256=7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f
llama_commit=80fb11ac73e66d89eae2c6a91d8a77428fa733ed
llama_src="$cache/llama.cpp-v0.4.0/src"
llama_server_build="$cache/llama.cpp-v0.4.0/server-build"

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev libsqlitecpp-dev libcli11-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  libutf8proc-dev libxxhash-dev clang-format liblinear-dev python3-sklearn
  gnuplot-nox chromium python3
)

log() { printf '[setup] %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  # npm may come from Debian or from another Node.js distribution; only its command matters.
  command -v npm >/dev/null || missing+=(npm)
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages: installing ${missing[*]}"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

fetch_llama() {
  if [[ -f "$llama_src/include/llama.h" ]] &&
     [[ $(git -C "$llama_src" rev-parse HEAD 2>/dev/null) == "$llama_commit" ]]; then
    log "llama.cpp source: cached at $llama_src"
    return
  fi
  log "llama.cpp source: fetching node-llama-cpp@$llama_npm_version from npm"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack "node-llama-cpp@$llama_npm_version" --silent >/dev/null)
  echo "$llama_npm_sha256  $tmp/node-llama-cpp-$llama_npm_version.tgz" | sha256sum -c --quiet -
  tar -xzf "$tmp/node-llama-cpp-$llama_npm_version.tgz" -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$llama_src"
  mkdir -p "$(dirname "$llama_src")"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$llama_src"
  if [[ $(git -C "$llama_src" rev-parse HEAD) != "$llama_commit" ]]; then
    log "llama.cpp source: unexpected commit in the bundle"
    exit 1
  fi
}

build_llama_server() {
  if [[ -x "$llama_server_build/bin/llama-server" ]]; then
    log "llama-server: cached at $llama_server_build/bin/llama-server"
    return
  fi
  log "llama-server: building (about 8 minutes cold on 2 cores)"
  cmake -S "$llama_src" -B "$llama_server_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
  cmake --build "$llama_server_build" --target llama-server -j "$(nproc)"
}

build_project() {
  log "hyperalign: configuring and building in $build_dir ($build_type)"
  export CCACHE_BASEDIR="$root"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
    -DHYPERALIGN_LLAMA_SOURCE_DIR="$llama_src" \
    -DHYPERALIGN_LLAMA_SERVER="$llama_server_build/bin/llama-server" \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
  cmake --build "$build_dir" -j "$(nproc)"
}

install_packages
fetch_llama
if [[ "${HYPERALIGN_SKIP_SERVER:-0}" != 1 ]]; then
  build_llama_server
fi
if [[ "${HYPERALIGN_SKIP_PROJECT:-0}" != 1 ]]; then
  build_project
fi
log "done"
