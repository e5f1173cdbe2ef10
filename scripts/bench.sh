#!/usr/bin/env bash
# The comparative benchmark: builds the release benchmarks, runs every layer's benchmark binary,
# fio, YCSB against LMDB, SQLite and RocksDB, and the larger-than-memory experiment, then writes
# bench-results/report.md with PNG charts beside it (scripts/bench_report.py) and prints the
# report's summary table. Installs missing Debian packages first (scripts/deps.sh).
#
#   scripts/bench.sh [--quick | --smoke] [--out DIR] [--only LAYER[,LAYER...]] [-- FLAGS...]
#
#   (default)     about 30 minutes on 2 cores: 1 GiB storage file, 10M YCSB records, 2M index
#                 keys, a 4 GiB file under a 1 GiB cgroup, 5 repetitions (3 for YCSB and
#                 fio, 2 runs of 30 s for larger than memory).
#   --quick       under 5 minutes (build excluded): 256 MiB file, 1M YCSB records, 500k index
#                 keys, a 1 GiB file under a 256 MiB cgroup, 3 repetitions of short runs.
#   --smoke       every benchmark once for a fraction of a second on tiny data (what CI runs so
#                 the script cannot rot; its figures mean nothing, and a larger-than-memory run
#                 whose cache filled too late for a steady state reads "no steady state (smoke
#                 run)", not missing; what did not run or failed is still named).
#   --out DIR     where the results, report.md, summary.md and the charts go (default
#                 bench-results/). Result files of an earlier run there are removed first.
#   --only LAYERS run only these layers (comma-separated): storage (disk_manager_bench and fio),
#                 buffer (buffer_pool_bench), wal (wal_bench), index (index_bench), peers
#                 (ycsb_bench: YCSB and durable commits against LMDB, SQLite and RocksDB), ltm
#                 (ltm_bench and fio in a memory cgroup). Default: all.
#   -- FLAGS...   passed to every Google Benchmark binary (e.g. --benchmark_filter=read_random).
#
# Environment: PAGESTORE_BENCH_DIR (where benchmark files go, default /tmp); each mode's sizes can
# be overridden by the variables the binaries read (see the header of each benchmarks/*.cc and
# scripts/bench_fio.sh, scripts/bench_ltm.sh): PAGESTORE_BENCH_FILE_MB, PAGESTORE_BENCH_POOL_MB,
# PAGESTORE_BENCH_SWAPS, PAGESTORE_BENCH_WAL_RECORDS, PAGESTORE_BENCH_BACKUP_MB,
# PAGESTORE_BENCH_COMPACT_MB, PAGESTORE_BENCH_KEYS,
# PAGESTORE_BENCH_YCSB_RECORDS, PAGESTORE_LTM_LIMIT_MB, PAGESTORE_LTM_FILE_MB, PAGESTORE_LTM_SECONDS,
# PAGESTORE_FIO_RUNTIME... BUILD_DIR builds and runs from that directory (configured
# RelWithDebInfo if new) instead of the `release` preset's build/release.
set -euo pipefail

usage() { sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; }

cmdline="scripts/bench.sh"
for a in "$@"; do cmdline+=" $(printf '%q' "$a")"; done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode="full"
out="bench-results"
only=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode="quick" ;;
    --smoke) mode="smoke" ;;
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

# One Google Benchmark binary per layer. Repetitions of different benchmarks run interleaved in
# random order, so that drift on a shared machine (other processes, background writeback) spreads
# over all of them instead of biasing whichever ran at the time.
declare -A layer_binary=([storage]=disk_manager_bench [buffer]=buffer_pool_bench [wal]=wal_bench
  [index]=index_bench [peers]=ycsb_bench [ltm]=ltm_bench)
all_layers=(storage buffer wal index peers ltm)
layers=("${all_layers[@]}")
if [ -n "$only" ]; then
  IFS=, read -r -a layers <<< "$only"
  for layer in "${layers[@]}"; do
    if [ -z "${layer_binary[$layer]+x}" ]; then
      echo "bench.sh: unknown layer '$layer' (known: ${all_layers[*]})" >&2
      exit 2
    fi
  done
fi

# Sizes per mode; a variable already set in the environment wins.
set_default() { export "$1=${!1:-$2}"; }
case "$mode" in
  smoke)
    set_default PAGESTORE_BENCH_FILE_MB 16
    set_default PAGESTORE_BENCH_LOAD_MB 16
    set_default PAGESTORE_BENCH_SYNC_MIN_TIME 0.02
    set_default PAGESTORE_BENCH_POOL_MB 4
    set_default PAGESTORE_BENCH_SWAPS 2
    set_default PAGESTORE_BENCH_WAL_RECORDS 2000
    set_default PAGESTORE_BENCH_BACKUP_MB 8
    set_default PAGESTORE_BENCH_COMPACT_MB 4
    set_default PAGESTORE_BENCH_KEYS 20000
    set_default PAGESTORE_BENCH_YCSB_RECORDS 20000
    set_default PAGESTORE_FIO_RUNTIME 300ms
    set_default PAGESTORE_FIO_REPS 1
    set_default PAGESTORE_LTM_LIMIT_MB 64
    set_default PAGESTORE_LTM_FILE_MB 256
    set_default PAGESTORE_LTM_SECONDS 1
    set_default PAGESTORE_LTM_REPS 1
    repetitions=1
    min_time=0.01
    ;;
  quick)
    set_default PAGESTORE_BENCH_FILE_MB 256
    set_default PAGESTORE_BENCH_SYNC_MIN_TIME 0.1
    set_default PAGESTORE_BENCH_SWAPS 32
    set_default PAGESTORE_BENCH_WAL_RECORDS 50000
    set_default PAGESTORE_BENCH_BACKUP_MB 64
    set_default PAGESTORE_BENCH_COMPACT_MB 64
    set_default PAGESTORE_BENCH_KEYS 500000
    set_default PAGESTORE_BENCH_YCSB_RECORDS 1000000
    set_default PAGESTORE_FIO_RUNTIME 1
    set_default PAGESTORE_FIO_REPS 3
    set_default PAGESTORE_LTM_LIMIT_MB 256
    set_default PAGESTORE_LTM_FILE_MB 1024
    set_default PAGESTORE_LTM_SECONDS 8
    set_default PAGESTORE_LTM_REPS 1
    repetitions=3
    min_time=0.1
    ;;
  full)
    set_default PAGESTORE_BENCH_FILE_MB 1024
    set_default PAGESTORE_BENCH_SWAPS 64
    set_default PAGESTORE_BENCH_WAL_RECORDS 200000
    set_default PAGESTORE_BENCH_BACKUP_MB 256
    set_default PAGESTORE_BENCH_COMPACT_MB 1024
    set_default PAGESTORE_BENCH_KEYS 2000000
    set_default PAGESTORE_BENCH_YCSB_RECORDS 10000000
    set_default PAGESTORE_FIO_RUNTIME 5
    set_default PAGESTORE_FIO_REPS 3
    set_default PAGESTORE_LTM_LIMIT_MB 1024
    set_default PAGESTORE_LTM_FILE_MB 4096
    set_default PAGESTORE_LTM_SECONDS 30
    set_default PAGESTORE_LTM_REPS 2
    repetitions=5
    min_time=0.5
    ;;
esac
set_default PAGESTORE_BENCH_DIR /tmp
set_default PAGESTORE_BENCH_POOL_MB 32

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
  cmake --preset release >/dev/null
  cmake --build --preset release --target "${targets[@]}"
fi
build_seconds=$((SECONDS - start))

# Never report an earlier run's results as this one's.
mkdir -p "$out"
rm -f "$out"/*_bench.json "$out"/fio_*.json "$out"/ltm_series.json "$out"/ltm_meta.json \
  "$out"/ltm_skipped.txt "$out"/failed.txt "$out"/*.png "$out"/report.md "$out"/summary.md

# A layer whose program fails does not stop the run: the others still run and the report names
# the failure (the failed program's partial results are kept out of it). bench.sh then exits 1.
failed=()
fail_layer() {
  failed+=("$1: $2")
  echo "bench.sh: $1 failed: $2 (the report says so; the other layers go on)" >&2
}

# run_gbench LAYER BINARY REPETITIONS MIN_TIME: one benchmark binary, JSON into $out.
run_gbench() {
  local layer=$1 bin=$2 reps=$3 min=$4
  local json="$out/$bin.json" rc=0
  "$build_dir/benchmarks/$bin" \
    --benchmark_repetitions="$reps" \
    --benchmark_display_aggregates_only=true \
    --benchmark_enable_random_interleaving=true \
    --benchmark_min_time="$min" \
    --benchmark_out="$json" --benchmark_out_format=json \
    "${extra[@]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    rm -f "$json"  # possibly cut short: never reported
    fail_layer "$layer" "$bin exited with status $rc"
  elif [ ! -s "$json" ]; then
    echo "bench.sh: $bin wrote no results (did a filter match none of its benchmarks?)" >&2
    rm -f "$json"
  fi
}

for layer in "${layers[@]}"; do
  bin="${layer_binary[$layer]}"
  case "$layer" in
    storage)
      echo "bench.sh: $bin ($mode: ${PAGESTORE_BENCH_FILE_MB} MiB file in $PAGESTORE_BENCH_DIR, $repetitions repetitions)" >&2
      run_gbench "$layer" "$bin" "$repetitions" "$min_time"
      echo "bench.sh: fio on a ${PAGESTORE_BENCH_FILE_MB} MiB cached file (benchmarks/fio/)" >&2
      scripts/bench_fio.sh "$out" || {
        rc=$?
        rm -f "$out"/fio_[rw]*.json
        fail_layer fio "scripts/bench_fio.sh exited with status $rc"
      }
      ;;
    buffer)
      echo "bench.sh: $bin ($mode: ${PAGESTORE_BENCH_POOL_MB} MiB pool over $((4 * PAGESTORE_BENCH_POOL_MB)) MiB of data, $repetitions repetitions)" >&2
      run_gbench "$layer" "$bin" "$repetitions" "$min_time"
      ;;
    wal)
      echo "bench.sh: $bin ($mode: ${PAGESTORE_BENCH_WAL_RECORDS} records to recover, $repetitions repetitions)" >&2
      run_gbench "$layer" "$bin" "$repetitions" "$min_time"
      ;;
    index)
      echo "bench.sh: $bin ($mode: ${PAGESTORE_BENCH_KEYS} keys, $repetitions repetitions)" >&2
      run_gbench "$layer" "$bin" "$repetitions" "$min_time"
      ;;
    peers)
      # Every engine stays loaded for the whole binary: fewer repetitions of longer runs.
      peer_reps=$(( repetitions > 3 ? 3 : repetitions ))
      echo "bench.sh: $bin ($mode: ${PAGESTORE_BENCH_YCSB_RECORDS} records per engine, $peer_reps repetitions)" >&2
      run_gbench "$layer" "$bin" "$peer_reps" "$min_time"
      ;;
    ltm)
      echo "bench.sh: larger than memory ($mode: ${PAGESTORE_LTM_FILE_MB} MiB file under a ${PAGESTORE_LTM_LIMIT_MB} MiB cgroup, ${PAGESTORE_LTM_SECONDS} s per run)" >&2
      scripts/bench_ltm.sh "$out" "$build_dir" "${extra[@]}" || {
        rc=$?
        rm -f "$out"/ltm_bench.json "$out"/ltm_series.json "$out"/fio_ltm_*.json
        fail_layer ltm "scripts/bench_ltm.sh exited with status $rc"
      }
      ;;
  esac
done
shopt -s nullglob
results=("$out"/*_bench.json "$out"/fio_*.json)
shopt -u nullglob
for f in ltm_series.json ltm_meta.json ltm_skipped.txt; do
  if [ -e "$out/$f" ]; then results+=("$out/$f"); fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  printf '%s\n' "${failed[@]}" > "$out/failed.txt"
  results+=("$out/failed.txt")
fi
if [ "${#results[@]}" -eq 0 ]; then
  echo "bench.sh: no benchmark results to report" >&2
  exit 1
fi
run_seconds=$((SECONDS - start - build_seconds))

# Debian's interpreter: python3-matplotlib is installed for it (a python3 earlier on PATH, such
# as a pyenv one, would not see it).
python=python3
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; fi
"$python" scripts/bench_report.py \
  --out "$out/report.md" \
  --summary-out "$out/summary.md" \
  --bench-dir "$PAGESTORE_BENCH_DIR" \
  --build-dir "$build_dir" \
  --command "$cmdline" \
  --mode "$mode" \
  --build-seconds "$build_seconds" \
  --run-seconds "$run_seconds" \
  "${results[@]}"
cat "$out/summary.md"
echo "bench.sh: wrote $out/report.md (charts and results beside it) in $((SECONDS - start)) s" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench.sh: failed: ${failed[*]}" >&2
  exit 1
fi
