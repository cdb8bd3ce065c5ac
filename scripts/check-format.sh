#!/usr/bin/env bash
# Fails when a C++ file of the project is off the house format (.clang-format) or has a line
# over 100 columns. `scripts/check-format.sh --fix` reformats in place.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null || find include src apps tests bench -name '*.[ch]pp')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
status=0
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/hyperalign-format.log; then
  grep -E '^[^ ].*(warning|error):' /tmp/hyperalign-format.log | head -20 >&2
  echo "format check: files are off the house format; run scripts/check-format.sh --fix" >&2
  status=1
fi
if awk 'length > 100 { printf "%s:%d: line over 100 columns\n", FILENAME, FNR; bad=1 } END { exit bad }' "${files[@]}" >&2; then :; else status=1; fi
[[ $status -eq 0 ]] && echo "format check: ok"
exit $status
