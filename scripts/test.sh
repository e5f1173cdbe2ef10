#!/usr/bin/env bash
# Builds and runs every test: the release preset, then asan (address + undefined), then tsan on
# the tests labelled `concurrency`. Installs missing Debian packages first. Exits non-zero on any
# failure. Usage: scripts/test.sh [--quick]   (--quick: release preset only)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

scripts/deps.sh

jobs=$(nproc)
run_preset() {
  local preset=$1
  echo "=== ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== ${preset}: test"
  ctest --preset "$preset" -j "$jobs" --no-tests=error
}

start=$(date +%s)
run_preset release
if [ "$quick" -eq 0 ]; then
  # Sanitizers: abort on the first report so a finding fails the run.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_preset asan
  # TSAN_OPTIONS (with tests/tsan.supp) are set per test by tests/CMakeLists.txt.
  run_preset tsan
fi
echo "=== all tests passed in $(( $(date +%s) - start ))s"
