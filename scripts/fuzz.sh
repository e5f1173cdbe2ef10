#!/usr/bin/env bash
# Fuzzes pagestore's decoders of bytes from disk (tests/fuzz/README.md): builds the `fuzz` preset
# (clang, libFuzzer, ASan + UBSan) in build/fuzz, generates the seed corpora into
# build/fuzz/corpus/<target>/ (tests/fuzz/make_corpus), replays the committed regression inputs
# and the seeds (ctest -L fuzz), then runs each target for a bounded time with a fixed seed.
# Exits non-zero if any target finds a crash, a leak, a timeout or an out-of-memory; the input
# that did it is kept under build/fuzz/findings/<target>/ and its path printed.
# Usage: scripts/fuzz.sh [--minutes N] [--target NAME] [--seed N] [--keep-corpus] [-- LIBFUZZER_FLAGS]
#   (default, what scripts/test.sh runs) a fixed number of inputs per target with a fixed seed,
#                  about 15 s each on 2 cores: the same inputs on every machine, however loaded
#   --minutes N    fuzz for N minutes instead, shared by the targets run
#   --target NAME  only this target (page, log, store, dump)
#   --seed N       libFuzzer's -seed (default 1: runs repeat their mutation sequence)
#   --keep-corpus  keep what earlier runs found in build/fuzz/work/<target>/ (default: start anew)
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(page log store dump)
targets=("${all_targets[@]}")
seconds_total=""
seed=1
keep=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) seconds_total=$(( $2 * 60 )); shift 2 ;;
    --target)
      if [[ " ${all_targets[*]} " != *" $2 "* ]]; then
        echo "fuzz.sh: unknown target $2 (${all_targets[*]})" >&2; exit 2
      fi
      targets=("$2"); shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --keep-corpus) keep=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
per_target=""
if [ -n "$seconds_total" ]; then
  per_target=$(( seconds_total / ${#targets[@]} ))
  [ "$per_target" -ge 1 ] || per_target=1
fi
# The bounded form: inputs per target (about 15 s each when measured on 2 cores, ASan + UBSan).
runs_of() {
  case "$1" in
    page) echo 300000 ;;
    log) echo 40000 ;;
    store) echo 3000 ;;
    dump) echo 15000 ;;
  esac
}

scripts/deps.sh

build=build/fuzz
echo "=== fuzz: configure and build (${build})"
start=$(date +%s)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
echo "=== fuzz: built in $(( $(date +%s) - start ))s"

echo "=== fuzz: seed corpora into ${build}/corpus"
"${build}/tests/fuzz/fuzz_make_corpus" "${build}/corpus"

# The replay drivers, instrumented, over the committed regression inputs and the seeds.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "=== fuzz: regression inputs and seeds (ctest -L fuzz)"
ctest --preset fuzz --no-tests=error

# Longest input per target: a page (and its few header bytes); a patch list; logs and dumps
# follow their seeds (whole segments).
max_len() {
  case "$1" in
    page) echo 4104 ;;
    store) echo 2048 ;;
    *) echo 0 ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  work="${build}/work/${t}"
  findings="${build}/findings/${t}"
  [ "$keep" -eq 1 ] || rm -rf "$work"
  mkdir -p "$work" "$findings"
  log="${build}/fuzz-${t}.log"
  if [ -n "$per_target" ]; then
    budget=(-max_total_time="$per_target")
    echo "=== fuzz: ${t} for ${per_target}s (seed ${seed}; log ${log})"
  else
    budget=(-runs="$(runs_of "$t")")
    echo "=== fuzz: ${t}, $(runs_of "$t") inputs (seed ${seed}; log ${log})"
  fi
  set +e
  # The timeout only catches hangs: generous, so a loaded machine is no finding.
  "${build}/tests/fuzz/fuzz_${t}" -seed="$seed" "${budget[@]}" -timeout=120 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len="$(max_len "$t")" \
    -artifact_prefix="${findings}/" -print_final_stats=1 "${extra[@]}" \
    "$work" "${build}/corpus/${t}" > "$log" 2>&1
  status=$?
  set -e
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 2 || true
  grep -E '^stat::number_of_executed_units' "$log" || true
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR: |SUMMARY: |fuzz property violated|Test unit written to|==[0-9]+==' "$log" |
      head -n 20 >&2 || true
    echo "fuzz: ${t} FAILED (exit ${status}); input: $(grep -o 'Test unit written to .*' "$log" |
      sed 's/Test unit written to //' | tail -n 1); log: ${log}" >&2
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (reproduce: ${build}/tests/fuzz/fuzz_<target> INPUT)" >&2
  exit 1
fi
echo "=== fuzz: no findings in ${targets[*]} ($(( $(date +%s) - start ))s in all)"
