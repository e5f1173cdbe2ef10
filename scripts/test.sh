#!/usr/bin/env bash
# Builds and runs every test: the release preset, then the package checks (tests/consumer built
# against an install, through pkg-config and through add_subdirectory), then the comparative
# benchmark in its smoke form (scripts/bench.sh --smoke), then asan (address + undefined), then
# tsan on the tests labelled `concurrency`, then the fuzz targets for a bounded time
# (scripts/fuzz.sh: clang, libFuzzer, about a minute of fuzzing). Installs missing Debian packages
# first. Exits non-zero on any failure.
# Usage: scripts/test.sh [--quick]   (--quick: release preset, package checks and bench smoke only)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
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

# The package as an engine consumes it (tests/consumer/, an engine in miniature), from the
# release build: (a) `cmake --install` into build/install, then find_package(pagestore) against
# it; pkg-config against the same install (every installed header compiled from there alone,
# and the consumer linked with `pkg-config --cflags --libs pagestore`); (b) add_subdirectory of
# this tree, with the parent asking for C++23 (pagestore must compile with it, not force 20).
check_package() {
  local prefix="$PWD/build/install"
  echo "=== package: cmake --install into ${prefix}"
  rm -rf "$prefix"
  cmake --install build/release --prefix "$prefix" >/dev/null
  "$prefix/bin/pagestore" --help >/dev/null
  # The edge of the public API: public headers include public headers only, and the install holds
  # exactly those (every internal header stays behind).
  python3 scripts/check_public_headers.py
  # One job per file: no library file over 800 lines, no library function over 120.
  python3 scripts/function_lengths.py --max 120 --max-file-lines 800 \
    storage/*.h storage/*.cc buffer/*.h buffer/*.cc wal/*.h wal/*.cc index/*.h index/*.cc
  python3 - "$prefix" <<'PY'
import os, re, sys
listed = set(re.search(r"set\(PAGESTORE_PUBLIC_HEADERS\s+([^)]*)\)",
                       open("CMakeLists.txt").read()).group(1).split())
root = os.path.join(sys.argv[1], "include", "pagestore")
installed = {os.path.relpath(os.path.join(d, f), root)
             for d, _, fs in os.walk(root) for f in fs}
if installed != listed:
    sys.exit(f"package: installed headers differ from PAGESTORE_PUBLIC_HEADERS: "
             f"extra {sorted(installed - listed)}, missing {sorted(listed - installed)}")
print(f"package: {len(installed)} headers installed, exactly the public list")
PY

  echo "=== package: tests/consumer through find_package(pagestore)"
  rm -rf build/consumer-find
  cmake -S tests/consumer -B build/consumer-find -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build build/consumer-find
  build/consumer-find/consumer
  build/consumer-find/readme_example
  # README.md shows that example as it is compiled: fail when they drift apart.
  python3 - <<'PY'
import sys
example = open("tests/consumer/readme_example.cc").read()
block = example.split("// BEGIN README EXAMPLE\n")[1].split("// END README EXAMPLE\n")[0]
if "```cpp\n" + block + "```" not in open("README.md").read():
    sys.exit("package: README.md's example differs from tests/consumer/readme_example.cc")
PY

  echo "=== package: tests/consumer through pkg-config"
  local pc_dir
  pc_dir=$(dirname "$(find "$prefix" -name pagestore.pc)")
  local pc_flags
  pc_flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs pagestore)
  mkdir -p build/consumer-pkgconfig
  (cd "$prefix/include/pagestore" && find . -name '*.h' | sort | sed 's|^\./\(.*\)|#include "\1"|') \
    > build/consumer-pkgconfig/all_headers.cc
  # shellcheck disable=SC2086  # pc_flags is a list of flags
  c++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only build/consumer-pkgconfig/all_headers.cc \
    $pc_flags
  # shellcheck disable=SC2086
  c++ -std=c++20 -O1 tests/consumer/main.cc -o build/consumer-pkgconfig/consumer $pc_flags
  build/consumer-pkgconfig/consumer

  echo "=== package: tests/consumer through add_subdirectory (the parent asks for C++23)"
  cmake -S tests/consumer -B build/consumer-subdir -G Ninja -DPAGESTORE_CONSUMER_SUBDIR="$PWD" \
    -DCMAKE_CXX_STANDARD=23 -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
  cmake --build build/consumer-subdir -j "$jobs"
  local commands=build/consumer-subdir/compile_commands.json
  if grep -- '"command"' "$commands" | grep -qv -- '-std=[a-z]*++23' ||
     ! grep -- '/storage/page\.cc' "$commands" | grep -q -- '-std=c++23'; then
    echo "package: pagestore did not compile with the parent's C++23 ($commands)" >&2
    exit 1
  fi
  build/consumer-subdir/consumer
}

# The comparative benchmark in its smoke form (every benchmark once, for a fraction of a second,
# on tiny data; scripts/bench.sh --smoke) from the release build, so that the script, the fio
# jobs, the cgroup experiment and the report generator cannot rot. A benchmark that fails or
# goes missing fails the run; the figures mean nothing and are not read.
bench_smoke() {
  local dir=build/bench-smoke
  echo "=== bench: scripts/bench.sh --smoke --out ${dir}"
  if ! BUILD_DIR=build/release scripts/bench.sh --smoke --out "$dir" > build/bench-smoke.log 2>&1; then
    tail -n 60 build/bench-smoke.log >&2
    echo "bench: scripts/bench.sh --smoke failed (log: build/bench-smoke.log)" >&2
    exit 1
  fi
  if grep -q '^## \(Failed\|Errors\|Missing\)' "$dir/report.md"; then
    sed -n '/^## \(Failed\|Errors\|Missing\)/,$p' "$dir/report.md" >&2
    echo "bench: the smoke run's report names failed or missing benchmarks ($dir/report.md)" >&2
    exit 1
  fi
  local png
  for png in storage buffer wal index ycsb scaling durable_latency; do
    [ -s "$dir/$png.png" ] || { echo "bench: no chart $dir/$png.png" >&2; exit 1; }
  done
  echo "bench: smoke report $dir/report.md"
}

start=$(date +%s)
run_preset release
check_package
bench_smoke
if [ "$quick" -eq 0 ]; then
  # Sanitizers: abort on the first report so a finding fails the run.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_preset asan
  # TSAN_OPTIONS (with tests/tsan.supp) are set per test by tests/CMakeLists.txt.
  run_preset tsan
  # libFuzzer targets (tests/fuzz/): their own build (build/fuzz), the committed regression inputs
  # and the seeds replayed, then 15 s of fuzzing per target with a fixed seed.
  echo "=== fuzz: scripts/fuzz.sh (bounded)"
  scripts/fuzz.sh
fi
echo "=== all tests passed in $(( $(date +%s) - start ))s"
