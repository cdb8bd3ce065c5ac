#!/usr/bin/env bash
# Runs hyperalign's checks and tests on the build made by scripts/setup.sh: the format check,
# then every unit and integration test through CTest (integration tests run the real pipeline
# on the tiny model in tests/fixtures).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="${HYPERALIGN_BUILD_DIR:-$root/build}"

if [[ ! -x "$build_dir/bin/hyperalign" ]]; then
  echo "no build in $build_dir: run scripts/setup.sh first" >&2
  exit 1
fi
# Rebuild what changed since set-up (a no-op after a fresh setup).
CCACHE_BASEDIR="$root" cmake --build "$build_dir" -j "$(nproc)"

"$root/scripts/check-format.sh"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
