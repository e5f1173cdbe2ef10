#!/usr/bin/env bash
# The larger-than-memory experiment (Crotty, Leis, Pavlo, "Are You Sure You Want to Use MMAP in
# Your Database Management System?", CIDR 2022) in miniature: runs benchmarks/ltm_bench (uniform
# random page reads through our buffer pool over O_DIRECT and buffered pread, through mmap with
# the OS as the buffer manager, and raw O_DIRECT pread) inside a cgroup v1 memory group whose
# limit is a quarter of the data file, so that neither the pool nor the page cache can hold the
# file; then fio at the same concurrency in the same group (O_DIRECT pread, and mmap), so that the
# results read as ratios to what the device and the kernel deliver to a plain program.
#
#   scripts/bench_ltm.sh OUTDIR BUILD_DIR [LTM_BENCH_FLAGS...]
#
# Arguments after BUILD_DIR go to ltm_bench after the script's own flags, so they win (e.g.
# --benchmark_filter=mmap; scripts/bench.sh passes its "-- FLAGS..." here). A
# --benchmark_repetitions=N among them sets fio's repetitions too; do not pass --benchmark_out
# (the script names ltm_bench.json). When the flags leave no ltm_bench benchmark to run, the
# experiment is skipped (below).
#
# Order: ltm_bench's repetitions first, in one process, the runs of its variants interleaved in
# random order (--benchmark_enable_random_interleaving); then fio's, each repetition running the
# O_DIRECT job and then the mmap job. Every run of either starts with the file evicted from the
# page cache. Everything reads at random without read-ahead: ltm_bench advises every manager
# random (posix_fadvise(POSIX_FADV_RANDOM) for pread, madvise(MADV_RANDOM) for mmap), and so does
# fio (fadvise_hint=1, its default, is POSIX_FADV_RANDOM for rw=randread; its mmap engine
# madvises the mapping MADV_RANDOM for random I/O whatever fadvise_hint says).
#
# Writes, in OUTDIR:
#   ltm_bench.json     Google Benchmark JSON of ltm_bench (counters: see benchmarks/ltm_bench.cc;
#                      misses_per_s there is device reads per second, comparable to fio's IOPS
#                      with O_DIRECT)
#   ltm_series.json    throughput over time: ltm_bench's series (one per run that succeeded: a
#                      failed run's is dropped), plus "fio/psync_direct" and "fio/mmap" for every
#                      fio repetition ("repetition": N), from fio's IOPS logs (the per-job logs
#                      summed). Every entry has "filled_at_s" (seconds until the cache was full, or
#                      null; for fio/mmap from this script's samples of the cgroup's usage, so to
#                      the nearest interval; null for fio/psync_direct, which caches nothing)
#   fio_ltm_direct.rep<N>.json, fio_ltm_mmap.rep<N>.json   fio --output-format=json of
#                      repetition N = 0 .. reps-1 of the two fio jobs
#   ltm_meta.json      limit, sizes, threads, seconds, reps, kernel, the cgroup's peak usage
#   ltm_skipped.txt    instead of all of the above, when the experiment cannot run here
#
# Environment: PAGESTORE_LTM_LIMIT_MB (the group's memory limit, default 1024),
# PAGESTORE_LTM_FILE_MB (default 4x the limit), PAGESTORE_LTM_THREADS (default 2),
# PAGESTORE_LTM_SECONDS (per run, default 30), PAGESTORE_LTM_INTERVAL_MS (default 500),
# PAGESTORE_LTM_REPS (repetitions of ltm_bench and of each fio job, default 2),
# PAGESTORE_LTM_POOL_MB (default: ltm_bench takes half of the group's limit), PAGESTORE_BENCH_DIR
# (default /tmp). The defaults are those of scripts/bench.sh's default mode, which sets all of
# these explicitly (--quick: limit 256, file 1024, 8 s, 1 repetition; --smoke: 64, 256, 1 s, 1).
#
# The group is made as a child of the memory cgroup this script runs in (so
# /sys/fs/cgroup/memory/pagestore-bench-$$ when that is the root), and only the subshells that
# exec ltm_bench and fio enter it: this script never leaves its own group, so removing the group
# at the end needs no move back. It is removed at exit, on an error and on a signal, with the
# data file. Without root, without a cgroup v1 memory controller or when the group cannot be made,
# prints "bench_ltm.sh: skipped: <why>", writes OUTDIR/ltm_skipped.txt and exits 0.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: scripts/bench_ltm.sh OUTDIR BUILD_DIR [LTM_BENCH_FLAGS...]" >&2
  exit 2
fi
out="$1"
build="$2"
shift 2
extra=("$@")
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$build/benchmarks/ltm_bench"
mkdir -p "$out"
rm -f "$out/ltm_skipped.txt" "$out/ltm_bench.json" "$out/ltm_series.json" "$out/ltm_meta.json" \
  "$out"/fio_ltm_*.json

number() {  # name value: exits 2 unless value is a positive integer
  case "$2" in '' | *[!0-9]* | 0) echo "bench_ltm.sh: $1=$2 is not a positive integer" >&2; exit 2 ;; esac
}
limit_mb="${PAGESTORE_LTM_LIMIT_MB:-1024}"
number PAGESTORE_LTM_LIMIT_MB "$limit_mb"
file_mb="${PAGESTORE_LTM_FILE_MB:-$((4 * limit_mb))}"
number PAGESTORE_LTM_FILE_MB "$file_mb"
threads="${PAGESTORE_LTM_THREADS:-2}"
number PAGESTORE_LTM_THREADS "$threads"
seconds="${PAGESTORE_LTM_SECONDS:-30}"
interval_ms="${PAGESTORE_LTM_INTERVAL_MS:-500}"
number PAGESTORE_LTM_INTERVAL_MS "$interval_ms"
reps="${PAGESTORE_LTM_REPS:-2}"
number PAGESTORE_LTM_REPS "$reps"
# ltm_bench takes the last --benchmark_repetitions it is given: fio follows the same count.
for arg in ${extra[@]+"${extra[@]}"}; do
  case "$arg" in
    --benchmark_repetitions=*) reps="${arg#*=}"; number --benchmark_repetitions "$reps" ;;
  esac
done
dir="${PAGESTORE_BENCH_DIR:-/tmp}"
# fio wants whole units: the run time in ms.
runtime_ms="$(awk -v s="$seconds" 'BEGIN { if (s + 0 <= 0) exit 1; printf "%d", s * 1000 + 0.5 }')" ||
  { echo "bench_ltm.sh: PAGESTORE_LTM_SECONDS=$seconds is not a positive number" >&2; exit 2; }
interval_s="$(awk -v m="$interval_ms" 'BEGIN { print m / 1000 }')"

skip() {
  echo "bench_ltm.sh: skipped: $1"
  echo "$1" >"$out/ltm_skipped.txt"
  exit 0
}

if [ ! -x "$bin" ]; then
  echo "bench_ltm.sh: $bin not found: build the ltm_bench target first" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "bench_ltm.sh: python3 is missing (it merges fio's series and writes ltm_meta.json)" >&2
  exit 1
fi
[ "$(id -u)" -eq 0 ] || skip "not root (a memory cgroup needs root)"
[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ] ||
  skip "no cgroup v1 memory controller at /sys/fs/cgroup/memory"
# The memory cgroup this script is in ("id:memory:/path" in /proc/self/cgroup).
own="$(awk -F: '{ n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == "memory") print $3 }' \
  /proc/self/cgroup | head -n 1)"
parent="/sys/fs/cgroup/memory${own%/}"
[ -d "$parent" ] || skip "cannot find this process's memory cgroup ($parent)"
cg="$parent/pagestore-bench-$$"

data="$dir/pagestore_ltm_$$.db"
work="$(mktemp -d "${TMPDIR:-/tmp}/pagestore_ltm_logs.XXXXXX")"
child=""
usage_pid=""

cleanup() {
  local pid
  for pid in "$child" "$usage_pid"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ -d "$cg" ]; then
    # Anything still in the group was started by this script (fio's job processes): end each.
    if [ -r "$cg/cgroup.procs" ]; then
      while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$cg/cgroup.procs"
    fi
    local tries=0
    until rmdir "$cg" 2>/dev/null; do
      tries=$((tries + 1))
      if [ "$tries" -ge 50 ]; then
        echo "bench_ltm.sh: could not remove $cg" >&2
        break
      fi
      sleep 0.1
    done
  fi
  rm -f "$data"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$cg" 2>/dev/null || skip "cannot create the memory cgroup $cg"
echo $((limit_mb << 20)) >"$cg/memory.limit_in_bytes" 2>/dev/null ||
  skip "cannot set memory.limit_in_bytes of $cg"
# With swap, memory + swap is held to the same limit (nothing escapes to swap); without, the
# file exists only when swap accounting is on, and setting it changes nothing.
if [ -f "$cg/memory.memsw.limit_in_bytes" ]; then
  echo $((limit_mb << 20)) >"$cg/memory.memsw.limit_in_bytes" 2>/dev/null || true
fi
echo 0 >"$cg/memory.swappiness" 2>/dev/null || true
swap_kb="$(awk 'NR > 1 { s += $3 } END { print s + 0 }' /proc/swaps)"
if [ "$file_mb" -lt $((4 * limit_mb)) ]; then
  echo "bench_ltm.sh: note: the file ($file_mb MiB) is less than 4x the limit ($limit_mb MiB)" >&2
fi

# Runs "$@" inside the group, in the background, and waits (so a signal reaches the trap at once);
# returns its exit status.
in_group() {
  local rc=0
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    exec "$@"
  ) &
  child=$!
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

# Drops the data file from the page cache (its pages are charged to whoever read them in).
evict() {
  sync "$data"
  dd if="$data" iflag=nocache count=0 status=none
}

peak_mb() { awk '{ printf "%.1f", $1 / 1048576 }' "$cg/memory.max_usage_in_bytes"; }

export PAGESTORE_LTM_FILE_MB="$file_mb" PAGESTORE_LTM_THREADS="$threads"
export PAGESTORE_LTM_SECONDS="$seconds" PAGESTORE_LTM_INTERVAL_MS="$interval_ms"
export PAGESTORE_BENCH_DIR="$dir"
export PAGESTORE_LTM_KEEP_FILE="$data" PAGESTORE_LTM_SERIES="$out/ltm_series.json"

start=$SECONDS
echo "bench_ltm.sh: $cg: limit $limit_mb MiB, file $file_mb MiB, $threads threads," \
  "$seconds s per run, $reps repetitions" >&2
rc=0
in_group "$bin" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out/ltm_bench.json" --benchmark_out_format=json ${extra[@]+"${extra[@]}"} ||
  rc=$?
if [ "$rc" -ne 0 ]; then
  oom="$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control")"
  echo "bench_ltm.sh: ltm_bench failed (exit $rc; OOM kills in the group: ${oom:-unknown};" \
    "peak $(peak_mb) MiB of $limit_mb)" >&2
  exit 1
fi
bench_peak_mb="$(peak_mb)"
bench_failcnt="$(cat "$cg/memory.failcnt")"
if [ ! -f "$data" ]; then
  # ltm_bench writes the file in its first run's Setup: no file, no run (or a bug).
  ran="$(python3 -c 'import json, sys
try:
    print(len(json.load(open(sys.argv[1])).get("benchmarks", [])))
except ValueError:
    print(0)' "$out/ltm_bench.json" 2>/dev/null || echo 0)"
  if [ "$ran" -eq 0 ]; then
    rm -f "$out/ltm_bench.json" "$out/ltm_series.json"
    skip "no ltm_bench benchmark matched the arguments (${extra[*]:-none})"
  fi
  echo "bench_ltm.sh: ltm_bench left no data file at $data" >&2
  exit 1
fi

# fio: same file, size, concurrency and duration, in the same group, as many repetitions as
# ltm_bench's (each job once per repetition, the two alternating, each from a cold page cache);
# the group's usage sampled alongside by this script (which stays outside the group).
fio_peak_mb=""
if command -v fio >/dev/null 2>&1; then
  echo 0 >"$cg/memory.max_usage_in_bytes"
  export PAGESTORE_FIO_FILE="$data" PAGESTORE_FIO_SIZE="${file_mb}M"
  export PAGESTORE_FIO_JOBS="$threads" PAGESTORE_FIO_RUNTIME="${runtime_ms}ms"
  export PAGESTORE_FIO_LOG_MSEC="$interval_ms"
  for ((rep = 0; rep < reps; rep++)); do
    for kind in direct mmap uring; do
      evict
      export PAGESTORE_FIO_IOPS_LOG="$work/fio_${kind}_rep$rep"
      (while :; do cat "$cg/memory.usage_in_bytes"; sleep "$interval_s"; done) \
        >"$work/usage_${kind}_rep$rep" &
      usage_pid=$!
      rc=0
      in_group fio --output-format=json --output="$out/fio_ltm_$kind.rep$rep.json" \
        "$root/benchmarks/fio/ltm_randread_$kind.fio" || rc=$?
      kill "$usage_pid" 2>/dev/null || true
      wait "$usage_pid" 2>/dev/null || true
      usage_pid=""
      if [ "$rc" -ne 0 ]; then
        echo "bench_ltm.sh: fio ltm_randread_$kind (repetition $rep) failed (exit $rc)" >&2
        exit 1
      fi
    done
  done
  fio_peak_mb="$(peak_mb)"
else
  echo "bench_ltm.sh: fio is not installed: no fio runs (Debian package fio)" >&2
fi

# fio's IOPS logs into ltm_series.json, and the run's description into ltm_meta.json.
python3 - "$out" "$work" "$threads" "$interval_s" "$limit_mb" "$file_mb" "$seconds" "$reps" \
  "$(uname -r)" "$cg" "$swap_kb" "$bench_peak_mb" "${fio_peak_mb:-}" "$bench_failcnt" \
  "$((SECONDS - start))" <<'EOF'
import json, os, sys
(out, work, threads, interval_s, limit_mb, file_mb, seconds, reps, kernel, cg, swap_kb,
 bench_peak, fio_peak, failcnt, wall) = sys.argv[1:]
threads, interval_s, reps = int(threads), float(interval_s), int(reps)
limit_bytes = int(limit_mb) << 20
path = os.path.join(out, "ltm_series.json")
doc = json.load(open(path)) if os.path.exists(path) else {"interval_s": interval_s, "series": []}
fio_series = []
for rep in range(reps):
    for kind, name in (("direct", "fio/psync_direct"), ("mmap", "fio/mmap"),
                       ("uring", "fio/uring_direct")):
        per_job = []
        for j in range(1, threads + 1):
            log = os.path.join(work, f"fio_{kind}_rep{rep}_iops.{j}.log")
            if os.path.exists(log):
                per_job.append([float(line.split(",")[1]) for line in open(log) if line.strip()])
        if not per_job:
            continue
        n = min(len(v) for v in per_job)
        usage = []
        usage_path = os.path.join(work, f"usage_{kind}_rep{rep}")
        if os.path.exists(usage_path):
            usage = [int(x) for x in open(usage_path).read().split()]
        # The page cache grows only for mmap: the first sample at 95% of the limit (the samples
        # are interval_s apart, the first as fio starts).
        filled = None
        if kind == "mmap":
            filled = next((round(i * interval_s, 3) for i, u in enumerate(usage)
                           if u >= 0.95 * limit_bytes), None)
        series = {"name": name, "repetition": rep, "threads": threads,
                  "filled_at_s": filled, "filled_by": "cgroup" if kind == "mmap" else None,
                  "ops_per_s": [round(sum(v[i] for v in per_job), 1) for i in range(n)]}
        if usage:
            series["cgroup_mb"] = [round(u / 1048576, 1) for u in usage]
        fio_series.append(series)
doc["series"] = [s for s in doc["series"] if not s["name"].startswith("fio/")] + fio_series
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1)
os.replace(tmp, path)

# The pool ltm_bench actually used (its default follows the group's limit).
pool_mb = None
bench = os.path.join(out, "ltm_bench.json")
if os.path.exists(bench):
    ctx = json.load(open(bench)).get("context", {})
    if "pagestore_ltm_pool_mb" in ctx:
        pool_mb = int(ctx["pagestore_ltm_pool_mb"])
peaks = [float(p) for p in (bench_peak, fio_peak) if p]
meta = {
    "limit_mb": int(limit_mb), "file_mb": int(file_mb), "pool_mb": pool_mb,
    "threads": threads, "seconds": float(seconds), "interval_s": interval_s, "reps": int(reps),
    "kernel": kernel, "cgroup": cg, "swap_kb": int(swap_kb),
    "cgroup_peak_mb": max(peaks), "cgroup_peak_mb_ltm_bench": float(bench_peak),
    "cgroup_peak_mb_fio": float(fio_peak) if fio_peak else None,
    "cgroup_failcnt_ltm_bench": int(failcnt), "wall_s": int(wall),
}
with open(os.path.join(out, "ltm_meta.json.tmp"), "w") as f:
    json.dump(meta, f, indent=1)
os.replace(os.path.join(out, "ltm_meta.json.tmp"), os.path.join(out, "ltm_meta.json"))
EOF
echo "bench_ltm.sh: wrote $out/ltm_bench.json, ltm_series.json, ltm_meta.json and fio_ltm_*.rep*.json" \
  "in $((SECONDS - start)) s (cgroup peak: ltm_bench $bench_peak_mb MiB, fio ${fio_peak_mb:-n/a} MiB)" >&2
