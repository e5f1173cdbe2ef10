#!/usr/bin/env bash
# Builds the release benchmarks, runs them, and writes Google Benchmark JSON plus a summary of
# ratios (scripts/bench_report.py) to the output directory; prints the summary.
#
#   scripts/bench.sh [--quick] [--out DIR] [--only LAYER] [-- BENCHMARK_FLAGS...]
#
#   --quick       storage: 256 MiB file; buffer: 32 swaps per run; wal: 50000 records to recover;
#                 index: 1M keys; all: 3 repetitions, short runs (under 7 minutes, build included)
#                 instead of the default 1 GiB file, 64 swaps, 200000 records, 10M keys and 5
#                 repetitions (about an hour, most of it the index layer's 10M-key inserts and
#                 deletes, B+tree and hash; index_bench peaks near 15 GiB of memory there).
#   --out DIR     where the JSON and summary.md go (default: bench-results/).
#   --only LAYER  run one layer's benchmark binary only; layers: storage, buffer, wal, index
#                 (default: all).
#   -- ...        passed to every benchmark binary (e.g. --benchmark_filter=read_random).
#
# Environment: PAGESTORE_BENCH_DIR (where bench files go, default /tmp), PAGESTORE_BENCH_FILE_MB,
# PAGESTORE_BENCH_LOAD_MB, PAGESTORE_BENCH_SYNC_MIN_TIME, PAGESTORE_BENCH_SEED (storage; see
# benchmarks/disk_manager_bench.cc), PAGESTORE_BENCH_POOL_MB (default 32: the pool; the data is
# 4x), PAGESTORE_BENCH_SWAPS (buffer; see benchmarks/buffer_pool_bench.cc) and
# PAGESTORE_BENCH_WAL_RECORDS, PAGESTORE_BENCH_WAL_PAGES, PAGESTORE_BENCH_WAL_APPEND_BYTES (wal;
# see benchmarks/wal_bench.cc, which also reads PAGESTORE_BENCH_SYNC_MIN_TIME for its commits) and
# PAGESTORE_BENCH_KEYS (index; see benchmarks/index_bench.cc) override the mode's sizes. BUILD_DIR
# builds and runs from that directory (configured RelWithDebInfo if new) instead of the `release`
# preset's build/release.
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

cmdline="scripts/bench.sh"
for a in "$@"; do cmdline+=" $(printf '%q' "$a")"; done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0
out="bench-results"
only=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) [ $# -ge 2 ] || { echo "bench.sh: --out needs a directory" >&2; exit 2; }; out="$2"; shift ;;
    --out=*) out="${1#--out=}" ;;
    --only) [ $# -ge 2 ] || { echo "bench.sh: --only needs a layer" >&2; exit 2; }; only="$2"; shift ;;
    --only=*) only="${1#--only=}" ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# One benchmark binary per layer. Repetitions of different benchmarks run interleaved in random
# order, so that drift on a shared machine (other processes, background writeback) spreads over
# all of them instead of biasing whichever ran at the time. The report compares some buffer rows
# with storage rows, so a full run writes both JSON files from the same build and run.
declare -A layer_binary=([storage]=disk_manager_bench [buffer]=buffer_pool_bench [wal]=wal_bench
  [index]=index_bench)
layers=(storage buffer wal index)
if [ -n "$only" ]; then
  if [ -z "${layer_binary[$only]+x}" ]; then
    echo "bench.sh: unknown layer '$only' (known: ${layers[*]})" >&2
    exit 2
  fi
  layers=("$only")
fi

if [ "$quick" -eq 1 ]; then
  mode="quick"
  export PAGESTORE_BENCH_FILE_MB="${PAGESTORE_BENCH_FILE_MB:-256}"
  export PAGESTORE_BENCH_SYNC_MIN_TIME="${PAGESTORE_BENCH_SYNC_MIN_TIME:-0.1}"
  export PAGESTORE_BENCH_SWAPS="${PAGESTORE_BENCH_SWAPS:-32}"
  export PAGESTORE_BENCH_WAL_RECORDS="${PAGESTORE_BENCH_WAL_RECORDS:-50000}"
  export PAGESTORE_BENCH_KEYS="${PAGESTORE_BENCH_KEYS:-1000000}"
  repetitions=3
  min_time=0.1
else
  mode="full"
  export PAGESTORE_BENCH_FILE_MB="${PAGESTORE_BENCH_FILE_MB:-1024}"
  export PAGESTORE_BENCH_SWAPS="${PAGESTORE_BENCH_SWAPS:-64}"
  export PAGESTORE_BENCH_WAL_RECORDS="${PAGESTORE_BENCH_WAL_RECORDS:-200000}"
  export PAGESTORE_BENCH_KEYS="${PAGESTORE_BENCH_KEYS:-10000000}"
  repetitions=5
  min_time=0.5
fi
export PAGESTORE_BENCH_DIR="${PAGESTORE_BENCH_DIR:-/tmp}"
export PAGESTORE_BENCH_POOL_MB="${PAGESTORE_BENCH_POOL_MB:-32}"

start=$SECONDS
scripts/deps.sh

targets=()
for layer in "${layers[@]}"; do targets+=("${layer_binary[$layer]}"); done
if [ -n "${BUILD_DIR:-}" ]; then
  build_dir="$BUILD_DIR"
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$build_dir" --target "${targets[@]}"
else
  build_dir="build/release"
  cmake --preset release
  cmake --build --preset release --target "${targets[@]}"
fi
build_seconds=$((SECONDS - start))

mkdir -p "$out"
json_files=()
for layer in "${layers[@]}"; do
  bin="${layer_binary[$layer]}"
  json="$out/$bin.json"
  case "$layer" in
    storage) sizes="${PAGESTORE_BENCH_FILE_MB} MiB file" ;;
    buffer) sizes="${PAGESTORE_BENCH_POOL_MB} MiB pool over $((4 * PAGESTORE_BENCH_POOL_MB)) MiB of data" ;;
    wal) sizes="${PAGESTORE_BENCH_WAL_RECORDS} records to recover" ;;
    index) sizes="${PAGESTORE_BENCH_KEYS} keys" ;;
  esac
  echo "bench.sh: running $bin ($mode: $sizes in $PAGESTORE_BENCH_DIR, $repetitions repetitions)" >&2
  rm -f "$json"  # never report an older run's file as this one's
  "$build_dir/benchmarks/$bin" \
    --benchmark_repetitions="$repetitions" \
    --benchmark_display_aggregates_only=true \
    --benchmark_enable_random_interleaving=true \
    --benchmark_min_time="$min_time" \
    --benchmark_out="$json" --benchmark_out_format=json \
    "${extra[@]}"
  if [ -s "$json" ]; then
    json_files+=("$json")
  else
    echo "bench.sh: $bin wrote no results (did a filter match none of its benchmarks?)" >&2
  fi
done
if [ "${#json_files[@]}" -eq 0 ]; then
  echo "bench.sh: no benchmark results to report" >&2
  exit 1
fi
run_seconds=$((SECONDS - start - build_seconds))

python3 scripts/bench_report.py \
  --out "$out/summary.md" \
  --bench-dir "$PAGESTORE_BENCH_DIR" \
  --build-dir "$build_dir" \
  --command "$cmdline" \
  --mode "$mode" \
  --build-seconds "$build_seconds" \
  --run-seconds "$run_seconds" \
  "${json_files[@]}"
cat "$out/summary.md"
echo "bench.sh: wrote ${json_files[*]} and $out/summary.md in $((SECONDS - start)) s" >&2
