#!/usr/bin/env bash
# Measures what the kernel and the device deliver to a plain program, with fio, so that the
# benchmarks of pagestore's disk managers read as ratios to it: cached 4 KiB random reads through
# pread (randread_psync) and through a mapping (randread_mmap), at 1 and 2 jobs, 4 KiB random
# writes each followed by fdatasync (write_fdatasync, 1 job), and 4 KiB random reads from the
# device with io_uring at depth 32 (randread_uring, O_DIRECT, 1 job). Job files: benchmarks/fio/*.fio.
#
#   scripts/bench_fio.sh OUTDIR
#
# Writes OUTDIR/fio_<job>_<jobs>.rep<N>.json (fio --output-format=json; N = 0 .. reps-1), e.g.
# fio_randread_psync_1.rep0.json, fio_randread_psync_2.rep0.json, fio_randread_mmap_1.rep0.json,
# fio_randread_mmap_2.rep0.json, fio_write_fdatasync_1.rep0.json and
# fio_randread_uring_1.rep0.json; and OUTDIR/fio_meta.json
# (sizes, fio version).
# Repetitions run interleaved (every job once, then again), so that drift spreads over all jobs.
#
# Environment: PAGESTORE_BENCH_FILE_MB (default 256: the file's size, the same as
# disk_manager_bench's), PAGESTORE_FIO_RUNTIME (per run, default 5; seconds, or a fio time such
# as 300ms; fractional seconds are turned into ms), PAGESTORE_FIO_REPS (default 3),
# PAGESTORE_BENCH_DIR (where the file goes, default /tmp). The file is laid out once, read once so
# that it is cached (and read again before each repetition), and removed at exit or on a signal.
# Without fio: says so on one line and exits 0.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: scripts/bench_fio.sh OUTDIR" >&2
  exit 2
fi
out="$1"

if ! command -v fio >/dev/null 2>&1; then
  echo "bench_fio.sh: skipped: fio is not installed (Debian package fio; scripts/deps.sh installs it)"
  exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs_dir="$root/benchmarks/fio"
size_mb="${PAGESTORE_BENCH_FILE_MB:-256}"
runtime="${PAGESTORE_FIO_RUNTIME:-5}"
reps="${PAGESTORE_FIO_REPS:-3}"
dir="${PAGESTORE_BENCH_DIR:-/tmp}"

case "$size_mb" in '' | *[!0-9]*) echo "bench_fio.sh: PAGESTORE_BENCH_FILE_MB=$size_mb is not a number" >&2; exit 2 ;; esac
case "$reps" in '' | *[!0-9]* | 0) echo "bench_fio.sh: PAGESTORE_FIO_REPS=$reps is not a positive number" >&2; exit 2 ;; esac
# fio takes whole seconds or a unit (300ms); 0.3 becomes 300ms.
if [[ "$runtime" =~ ^[0-9]*\.[0-9]+$ ]]; then
  runtime="$(awk -v s="$runtime" 'BEGIN { printf "%dms", s * 1000 + 0.5 }')"
fi

mkdir -p "$out"
file="$dir/pagestore_fio_$$.dat"
fio_pid=""

cleanup() {
  if [ -n "$fio_pid" ]; then
    kill "$fio_pid" 2>/dev/null || true
    wait "$fio_pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs fio in the background and waits, so that a signal reaches the trap at once (bash defers
# traps while a foreground child runs).
run_fio() {
  fio "$@" &
  fio_pid=$!
  wait "$fio_pid"
  fio_pid=""
}

export PAGESTORE_FIO_FILE="$file"
export PAGESTORE_FIO_SIZE="${size_mb}M"
export PAGESTORE_FIO_RUNTIME="$runtime"

# job name, job count: one run per repetition.
runs=("randread_psync 1" "randread_psync 2" "randread_mmap 1" "randread_mmap 2"
  "write_fdatasync 1" "randread_uring 1")
start=$SECONDS
echo "bench_fio.sh: laying out ${size_mb} MiB at $file; $reps x ${#runs[@]} runs of $runtime" >&2
run_fio --name=layout --filename="$file" --size="${size_mb}M" --rw=write --bs=1M \
  --ioengine=psync --end_fsync=1 --output=/dev/null

warm() { cat "$file" >/dev/null; }

for ((rep = 0; rep < reps; rep++)); do
  warm
  for r in "${runs[@]}"; do
    read -r job jobs <<<"$r"
    json="$out/fio_${job}_${jobs}.rep${rep}.json"
    rm -f "$json"
    PAGESTORE_FIO_JOBS="$jobs" run_fio --output-format=json --output="$json" \
      "$jobs_dir/$job.fio"
  done
done

# What was run (scripts/bench_report.py takes the median and spread of the repetitions).
cat >"$out/fio_meta.json" <<EOF
{"file_mb": $size_mb, "runtime": "$runtime", "reps": $reps, "dir": "$dir",
 "fio_version": "$(fio --version)", "kernel": "$(uname -r)", "wall_s": $((SECONDS - start))}
EOF
echo "bench_fio.sh: wrote $out/fio_*.json in $((SECONDS - start)) s" >&2
