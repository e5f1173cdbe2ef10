#!/usr/bin/env python3
"""Summarizes Google Benchmark JSON from scripts/bench.sh into a Markdown report.

Everything is compared by items_per_second (throughput), so runs at different thread counts
compare, and by the median over repetitions. A benchmark is found by its name's first two
components ("read_random/pread"); what Google Benchmark appends ("/real_time", "/threads:2",
"/min_time:0.100", ...) is ignored except the thread count, taken from the JSON.

The files of one bench.sh run (disk_manager_bench.json, buffer_pool_bench.json, wal_bench.json,
index_bench.json) are read together: some buffer rows compare with storage rows. A comparison whose
benchmarks are missing (a layer not run, a filter) reads "not run". The WAL's targets and baselines
have a section of their own; "commit_group/threads:16" is a whole name there (Google Benchmark
appends its own "/threads:16", ignored as above). So do the indexes' ("## Indexes": our B+tree
beside LMDB and absl::btree_map, our hash index beside our B+tree and absl::flat_hash_map).

Standard library only.

  bench_report.py [--out summary.md] [--bench-dir DIR] [--build-dir DIR] [--command CMD]
                  [--mode MODE] [--build-seconds N] [--run-seconds N] FILE.json...
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

REFERENCE_LABEL = "reference (LauraDB guide, different machine, not measured here)"

# (label, numerator benchmark, denominator benchmark, kind, target, threads of each side)
#   kind "speedup":  value = items/s(a) / items/s(b); met when value >= target.
#   kind "within":   value = items/s(b) / items/s(a), i.e. time(a) / time(b); met when <= target.
#   kind "throughput": value = items/s(a) / items/s(b), as speedup, but read as a fraction of the
#                    second's throughput (targets below 1 read naturally); met when >= target.
TARGETS = [
    ("read_random/mmap vs read_random/pread", "read_random/mmap", "read_random/pread",
     "speedup", 2.0, 1, 1),
    ("read_random/mmap_view vs read_random/pread", "read_random/mmap_view", "read_random/pread",
     "speedup", 20.0, 1, 1),
    ("read_random/pread vs read_random/raw_pread", "read_random/pread", "read_random/raw_pread",
     "within", 1.15, 1, 1),
    ("read_random/pread_noverify vs read_random/raw_pread", "read_random/pread_noverify",
     "read_random/raw_pread", "within", 1.15, 1, 1),
    ("read_random/mmap vs read_random/raw_mmap_copy", "read_random/mmap",
     "read_random/raw_mmap_copy", "within", 1.3, 1, 1),
    ("read_random/mmap_noverify vs read_random/raw_mmap_copy", "read_random/mmap_noverify",
     "read_random/raw_mmap_copy", "within", 1.3, 1, 1),
    ("write_random/mmap vs write_random/pread", "write_random/mmap", "write_random/pread",
     "speedup", 2.0, 1, 1),
    ("sync_1dirty/pread vs sync_1dirty/raw_fdatasync", "sync_1dirty/pread",
     "sync_1dirty/raw_fdatasync", "within", 1.2, 1, 1),
    ("sync_1dirty/mmap vs sync_1dirty/raw_fdatasync", "sync_1dirty/mmap",
     "sync_1dirty/raw_fdatasync", "within", 1.2, 1, 1),
    ("load_seq/mmap_growth vs load_seq/mmap_prealloc", "load_seq/mmap_growth",
     "load_seq/mmap_prealloc", "within", 1.1, 1, 1),
    ("read_random/pread: 2 threads vs 1 thread", "read_random/pread", "read_random/pread",
     "speedup", 1.7, 2, 1),
    ("read_random/mmap: 2 threads vs 1 thread", "read_random/mmap", "read_random/mmap",
     "speedup", 1.7, 2, 1),
    # Buffer pool (buffer_pool_bench; the first row compares with disk_manager_bench's run).
    ("pool_hit/read_guard vs read_random/raw_pread", "pool_hit/read_guard",
     "read_random/raw_pread", "speedup", 10.0, 1, 1),
    ("pool_hit/read_guard vs pool_hit/raw_deref", "pool_hit/read_guard", "pool_hit/raw_deref",
     "within", 5.0, 1, 1),
    ("pool_hit/read_guard: 2 threads vs 1 thread", "pool_hit/read_guard", "pool_hit/read_guard",
     "speedup", 1.8, 2, 1),
    ("pool_miss/pread vs pool_miss/raw_pread", "pool_miss/pread", "pool_miss/raw_pread",
     "within", 1.2, 1, 1),
]

# Buffer-pool comparisons without a target, for reading the ones above: (label, first, second,
# kind, threads of each side), kinds as in TARGETS.
INFORMATIONAL = [
    ("pool_miss/mmap vs pool_miss/pread", "pool_miss/mmap", "pool_miss/pread", "speedup", 1, 1),
    ("pool_miss/pread_clock vs pool_miss/pread", "pool_miss/pread_clock", "pool_miss/pread",
     "speedup", 1, 1),
    ("pool_miss/pread_noverify vs pool_miss/raw_pread", "pool_miss/pread_noverify",
     "pool_miss/raw_pread", "within", 1, 1),
    ("pool_miss/pread_direct vs pool_miss/raw_pread_direct", "pool_miss/pread_direct",
     "pool_miss/raw_pread_direct", "within", 1, 1),
    ("pool_zipf/mmap vs pool_zipf/pread", "pool_zipf/mmap", "pool_zipf/pread", "speedup", 1, 1),
    ("pool_zipf/pread vs pool_miss/pread", "pool_zipf/pread", "pool_miss/pread", "speedup", 1, 1),
    ("pool_zipf/mmap vs pool_miss/mmap", "pool_zipf/mmap", "pool_miss/mmap", "speedup", 1, 1),
    ("pool_hit/read_guard vs pool_hit/raw_latch", "pool_hit/read_guard", "pool_hit/raw_latch",
     "within", 1, 1),
    ("pool_hit/raw_latch vs pool_hit/raw_deref", "pool_hit/raw_latch", "pool_hit/raw_deref",
     "within", 1, 1),
    ("pool_hit/write_guard vs pool_hit/read_guard", "pool_hit/write_guard", "pool_hit/read_guard",
     "within", 1, 1),
    ("pool_hit/read_guard_disjoint: 2 threads vs 1 thread", "pool_hit/read_guard_disjoint",
     "pool_hit/read_guard_disjoint", "speedup", 2, 1),
    ("pool_hit/write_guard: 2 threads vs 1 thread", "pool_hit/write_guard",
     "pool_hit/write_guard", "speedup", 2, 1),
    ("pool_hit/raw_latch: 2 threads vs 1 thread", "pool_hit/raw_latch", "pool_hit/raw_latch",
     "speedup", 2, 1),
    ("pool_hit/raw_deref: 2 threads vs 1 thread", "pool_hit/raw_deref", "pool_hit/raw_deref",
     "speedup", 2, 1),
]

# Write-ahead log (wal_bench), in the WAL section: targets as in TARGETS, then comparisons without a
# target as in INFORMATIONAL.
WAL_TARGETS = [
    ("commit/sync vs commit/raw_fdatasync", "commit/sync", "commit/raw_fdatasync", "within", 1.3,
     1, 1),
    ("commit_group: 16 threads vs 1 thread", "commit_group/threads:16", "commit_group/threads:1",
     "speedup", 8.0, 16, 1),
]
WAL_INFORMATIONAL = [
    ("commit_group: 2 threads vs 1 thread", "commit_group/threads:2", "commit_group/threads:1",
     "speedup", 2, 1),
    ("commit_group: 4 threads vs 1 thread", "commit_group/threads:4", "commit_group/threads:1",
     "speedup", 4, 1),
    ("commit_group: 8 threads vs 1 thread", "commit_group/threads:8", "commit_group/threads:1",
     "speedup", 8, 1),
    ("commit_group/threads:1 vs commit/sync", "commit_group/threads:1", "commit/sync", "within",
     1, 1),
    ("commit_group/threads:16 vs commit/raw_fdatasync", "commit_group/threads:16",
     "commit/raw_fdatasync", "speedup", 16, 1),
    ("append/throughput vs append/raw_memcpy", "append/throughput", "append/raw_memcpy", "within",
     1, 1),
    ("recovery/replay vs recovery/raw_read", "recovery/replay", "recovery/raw_read", "within", 1,
     1),
    ("recovery/replay vs recovery/log_scan", "recovery/replay", "recovery/log_scan", "within", 1,
     1),
    ("recovery/log_scan vs recovery/raw_read", "recovery/log_scan", "recovery/raw_read", "within",
     1, 1),
]
WAL_PREFIXES = ("commit/", "commit_group/", "append/", "recovery/")

# Indexes (index_bench), in the Indexes section: our B+tree beside LMDB and absl::btree_map, our
# hash index beside our B+tree and absl::flat_hash_map. Targets as in TARGETS; then comparisons
# without a target as in INFORMATIONAL.
INDEX_TARGETS = [
    ("btree_get/pagestore vs btree_get/lmdb (1 thread)", "btree_get/pagestore", "btree_get/lmdb",
     "throughput", 1.0, 1, 1),
    ("btree_get/pagestore vs btree_get/lmdb (2 threads)", "btree_get/pagestore", "btree_get/lmdb",
     "throughput", 1.0, 2, 2),
    ("btree_get/pagestore vs btree_get/absl_btree_map (1 thread)", "btree_get/pagestore",
     "btree_get/absl_btree_map", "throughput", 0.3, 1, 1),
    ("btree_get/pagestore vs btree_get/absl_btree_map (2 threads)", "btree_get/pagestore",
     "btree_get/absl_btree_map", "throughput", 0.3, 2, 2),
    ("btree_insert_random/pagestore vs btree_insert_random/lmdb", "btree_insert_random/pagestore",
     "btree_insert_random/lmdb", "throughput", 1.0, 1, 1),
    ("btree_scan/pagestore vs btree_scan/lmdb", "btree_scan/pagestore", "btree_scan/lmdb",
     "throughput", 1.0, 1, 1),
    ("btree_bulk_load/pagestore vs btree_insert_random/pagestore", "btree_bulk_load/pagestore",
     "btree_insert_random/pagestore", "speedup", 5.0, 1, 1),
    ("hash_get/pagestore vs btree_get/pagestore (1 thread)", "hash_get/pagestore",
     "btree_get/pagestore", "speedup", 1.5, 1, 1),
    ("hash_get/pagestore vs btree_get/pagestore (2 threads)", "hash_get/pagestore",
     "btree_get/pagestore", "speedup", 1.5, 2, 2),
    ("hash_get/pagestore vs hash_get/absl_flat_hash_map (1 thread)", "hash_get/pagestore",
     "hash_get/absl_flat_hash_map", "throughput", 0.3, 1, 1),
    ("hash_get/pagestore vs hash_get/absl_flat_hash_map (2 threads)", "hash_get/pagestore",
     "hash_get/absl_flat_hash_map", "throughput", 0.3, 2, 2),
    ("hash_insert_random/pagestore vs btree_insert_random/pagestore",
     "hash_insert_random/pagestore", "btree_insert_random/pagestore", "throughput", 1.0, 1, 1),
]
INDEX_INFORMATIONAL = [
    ("btree_get/pagestore: 2 threads vs 1 thread", "btree_get/pagestore", "btree_get/pagestore",
     "speedup", 2, 1),
    ("btree_get/lmdb: 2 threads vs 1 thread", "btree_get/lmdb", "btree_get/lmdb", "speedup", 2, 1),
    ("btree_get/absl_btree_map: 2 threads vs 1 thread", "btree_get/absl_btree_map",
     "btree_get/absl_btree_map", "speedup", 2, 1),
    ("btree_get/lmdb vs btree_get/absl_btree_map", "btree_get/lmdb", "btree_get/absl_btree_map",
     "throughput", 1, 1),
    ("btree_bulk_load/pagestore vs btree_insert_random/lmdb", "btree_bulk_load/pagestore",
     "btree_insert_random/lmdb", "speedup", 1, 1),
    ("hash_get/pagestore: 2 threads vs 1 thread", "hash_get/pagestore", "hash_get/pagestore",
     "speedup", 2, 1),
    ("hash_get/absl_flat_hash_map: 2 threads vs 1 thread", "hash_get/absl_flat_hash_map",
     "hash_get/absl_flat_hash_map", "speedup", 2, 1),
    ("hash_get/absl_flat_hash_map vs btree_get/absl_btree_map", "hash_get/absl_flat_hash_map",
     "btree_get/absl_btree_map", "speedup", 1, 1),
    ("hash_delete/pagestore vs hash_insert_random/pagestore", "hash_delete/pagestore",
     "hash_insert_random/pagestore", "throughput", 1, 1),
]
INDEX_PREFIXES = ("btree_get/", "btree_scan/", "btree_insert_random/", "btree_bulk_load/",
                  "hash_get/", "hash_insert_random/", "hash_delete/")

# Our single-thread pread and mmap rows beside the reference numbers (ns per op, standard vs mmap).
REFERENCE = [
    ("read", "read_random/pread", "read_random/mmap", 1078, 748),
    ("write", "write_random/pread", "write_random/mmap", 3089, 4935),
    ("mixed", "mixed70_random/pread", "mixed70_random/mmap", 951, 590),
    ("sync", "sync_1dirty/pread", "sync_1dirty/mmap", 321, 465),
]


def base_name(run_name):
    return "/".join(run_name.split("/")[:2])


class Result:
    """One benchmark instance (name, threads) across its repetitions."""

    def __init__(self, name, threads):
        self.name = name
        self.threads = threads
        self.reps = []          # items_per_second of each repetition
        self.byte_reps = []     # bytes_per_second of each repetition that reports it
        self.byte_aggs = {}     # aggregate name -> bytes_per_second
        self.rep_times = []     # real time per iteration of each repetition, in ns
        self.aggregates = {}    # aggregate name -> items_per_second
        self.agg_times = {}     # aggregate name -> real time in ns
        self.errors = []
        self.counters = {}      # user counters of the median (or only) row
        self.rep_counters = []  # user counters of each repetition
        self.order = ()
        self.declared_reps = 0  # the "repetitions" Google Benchmark ran

    def median(self):
        if "median" in self.aggregates:
            return self.aggregates["median"]
        return statistics.median(self.reps) if self.reps else None

    def spread(self):
        lo = self.aggregates.get("min", min(self.reps) if self.reps else None)
        hi = self.aggregates.get("max", max(self.reps) if self.reps else None)
        return lo, hi

    def median_bytes(self):
        if "median" in self.byte_aggs:
            return self.byte_aggs["median"]
        return statistics.median(self.byte_reps) if self.byte_reps else None

    def repetitions(self):
        return max(len(self.reps), self.declared_reps)

    def median_time_ns(self):
        if "median" in self.agg_times:
            return self.agg_times["median"]
        return statistics.median(self.rep_times) if self.rep_times else None


TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
COUNTER_SKIP = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "items_per_second", "bytes_per_second", "family_index",
    "per_family_instance_index", "aggregate_name", "aggregate_unit", "error_occurred",
    "error_message", "label",
}


def load(paths):
    results = {}
    contexts = []
    order = 0
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        ctx = dict(data.get("context", {}))
        ctx["_path"] = path
        contexts.append(ctx)
        for row in data.get("benchmarks", []):
            run_name = row.get("run_name", row.get("name", ""))
            key = (base_name(run_name), int(row.get("threads", 1)))
            r = results.get(key)
            if r is None:
                r = results[key] = Result(*key)
                r.order = (len(contexts), order)
                order += 1
            if "family_index" in row:  # registration order, whatever order the runs had
                r.order = (len(contexts), int(row["family_index"]),
                           int(row.get("per_family_instance_index", 0)))
            r.declared_reps = max(r.declared_reps, int(row.get("repetitions", 0)))
            if row.get("error_occurred"):
                r.errors.append(row.get("error_message", "error"))
                continue
            ips = row.get("items_per_second")
            bps = row.get("bytes_per_second")
            t = row.get("real_time")
            t_ns = t * TIME_TO_NS.get(row.get("time_unit", "ns"), 1.0) if t is not None else None
            counters = {k: v for k, v in row.items()
                        if k not in COUNTER_SKIP and isinstance(v, (int, float))}
            if row.get("run_type") == "aggregate":
                agg = row.get("aggregate_name", "")
                if row.get("aggregate_unit", "time") != "time":
                    continue  # cv: a percentage, not a rate
                if ips is not None:
                    r.aggregates[agg] = ips
                if bps is not None:
                    r.byte_aggs[agg] = bps
                if t_ns is not None:
                    r.agg_times[agg] = t_ns
                if agg == "median":
                    r.counters = counters
            else:
                if ips is not None:
                    r.reps.append(ips)
                if bps is not None:
                    r.byte_reps.append(bps)
                if t_ns is not None:
                    r.rep_times.append(t_ns)
                r.rep_counters.append(counters)
                if not r.counters or "median" not in r.aggregates:
                    r.counters = counters
    return results, contexts


def fmt_rate(x):
    if x is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{sig3(x / scale)}{unit}/s"
    return f"{sig3(x)}/s"


def sig3(x):
    """x to three significant digits, never in exponent notation."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_ns(x):
    if x is None:
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if x >= scale:
            return f"{sig3(x / scale)} {unit}"
    return f"{sig3(x)} ns"


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build_type(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "(empty)"
    except OSError:
        pass
    return "unknown"


def machine_section(args, contexts):
    ctx = contexts[0] if contexts else {}
    fs = run(["findmnt", "-n", "-T", args.bench_dir, "-o", "SOURCE,FSTYPE,OPTIONS"])
    load_avg = ctx.get("load_avg")
    lines = [
        "## Machine and run",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"
        f" (benchmark start: {ctx.get('date', 'unknown')})",
        f"- command: `{args.command}`" + (f" (mode: {args.mode})" if args.mode else ""),
        f"- kernel: {run(['uname', '-r'])}",
        f"- filesystem of {args.bench_dir}: `{fs}`",
        f"- CPUs: {os.cpu_count()} ({ctx.get('num_cpus', '?')} seen by the benchmark), "
        f"model: {cpu_model()}",
        f"- build type: {build_type(args.build_dir)} ({args.build_dir}); benchmark library: "
        f"{ctx.get('library_build_type', 'unknown')}",
        f"- host: {ctx.get('host_name', platform.node())}",
    ]
    cpus = os.cpu_count() or 1
    if load_avg:
        lines.append("- load average (1, 5, 15 min) at start: " +
                     ", ".join(f"{x:.2f}" for x in load_avg) + "; at the end: " +
                     ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        if load_avg[0] >= 0.75 * cpus:
            lines.insert(2, f"**Warning: the machine looked busy when the run started (1-minute "
                            f"load average {load_avg[0]:.2f} on {cpus} CPUs, which includes any "
                            f"build just before it): if other processes competed "
                            f"for the CPUs or the disk, ratios, thread scaling above all, are "
                            f"unreliable. Check the spreads; rerun on an idle machine.**")
            lines.insert(3, "")
    knobs = {}
    for c in contexts:
        knobs.update({k: v for k, v in c.items() if k.startswith("pagestore_")})
    if knobs:
        lines.append("- settings: " + ", ".join(f"{k}={v}" for k, v in sorted(knobs.items())))
    if len(contexts) > 1:
        lines.append("- results read together: " + ", ".join(
            f"{os.path.basename(c['_path'])} (benchmark start {c.get('date', 'unknown')})"
            for c in contexts))
    if args.build_seconds is not None or args.run_seconds is not None:
        lines.append(f"- wall time: build {args.build_seconds} s, benchmarks {args.run_seconds} s")
    lines.append("")
    return lines


def compare(results, a, b, kind, ta, tb):
    """(first's median, second's median, value or None) of one comparison."""
    ra, rb = results.get((a, ta)), results.get((b, tb))
    ma = ra.median() if ra else None
    mb = rb.median() if rb else None
    if not ma or not mb:
        return ma, mb, None
    return ma, mb, (mb / ma if kind == "within" else ma / mb)


def side_text(m, t, show_threads):
    return f"{fmt_rate(m)} ({t} thr)" if show_threads else fmt_rate(m)


def measured_text(kind, value):
    if value is None:
        return "n/a"
    if kind == "throughput":
        return f"{value:.2f}x the items/s"
    return f"{value:.2f}x faster" if kind == "speedup" else f"{value:.2f}x the time"


def target_text(kind, target):
    if kind == "throughput":
        return f">= {target:g}x the items/s"
    return f">= {target:g}x faster" if kind == "speedup" else f"within {target:g}x"


def targets_section(results):
    lines = [
        "## Targets (ratios of median items/s)",
        "",
        "speedup = items/s of the first / items/s of the second; within = time of the first / "
        "time of the second (items/s of the second / items/s of the first).",
        "",
    ]
    lines += targets_table(results, TARGETS)
    lines.append("")
    return lines


def targets_table(results, targets):
    lines = [
        "| comparison | first (median) | second (median) | measured | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for label, a, b, kind, target, ta, tb in targets:
        ma, mb, value = compare(results, a, b, kind, ta, tb)
        threads = ta != tb or ta != 1
        sa, sb = side_text(ma, ta, threads), side_text(mb, tb, threads)
        measured = measured_text(kind, value)
        if value is None:
            verdict = "not run"
        elif kind == "within":
            verdict = "met" if value <= target else "**missed**"
        else:
            verdict = "met" if value >= target else "**missed**"
        tgt = target_text(kind, target)
        lines.append(f"| {label} | {sa} | {sb} | {measured} | {tgt} | {verdict} |")
    return lines


def counter_text(results, name, threads):
    r = results.get((name, threads))
    if not r:
        return ""
    parts = []
    if "hit_ratio" in r.counters:
        parts.append(f"hit ratio {r.counters['hit_ratio']:.2f}")
    if r.counters.get("writebacks_per_op"):
        parts.append(f"{r.counters['writebacks_per_op']:.3f} write-backs/op")
    return ", ".join(parts)


def buffer_section(results):
    if not any(name.startswith("pool_") for name, _ in results):
        return []
    lines = [
        "## Buffer pool beside its baselines (informational, no target)",
        "",
        "| comparison | first (median) | second (median) | measured | notes |",
        "|---|---|---|---|---|",
    ]
    for label, a, b, kind, ta, tb in INFORMATIONAL:
        ma, mb, value = compare(results, a, b, kind, ta, tb)
        if ma is None or mb is None:
            continue  # a side not run (a layer or filter left it out)
        threads = ta != tb or ta != 1
        na, nb = counter_text(results, a, ta), counter_text(results, b, tb)
        note = "; ".join(f"{side}: {n}" for side, n in (("first", na), ("second", nb)) if n)
        lines.append(f"| {label} | {side_text(ma, ta, threads)} | {side_text(mb, tb, threads)} | "
                     f"{measured_text(kind, value)} | {note} |")
    swap = results.get(("pool_swap/pause", 1))
    if swap and swap.median_time_ns() is not None:
        lo = min(swap.rep_times) if swap.rep_times else None
        hi = max(swap.rep_times) if swap.rep_times else None
        longest = [c["max_swap_pause_us"] for c in swap.rep_counters if "max_swap_pause_us" in c]
        bg_max = [c["bg_max_read_us"] for c in swap.rep_counters if "bg_max_read_us" in c]
        bg_rate = swap.counters.get("bg_reads_per_s")
        lines += [
            "",
            f"pool_swap/pause (pread <-> mmap under a background reader, "
            f"{swap.counters.get('dirty_per_swap', 0):g} pages dirtied before each swap): "
            f"median {fmt_ns(swap.median_time_ns())} per swap (repetitions' means "
            f"{fmt_ns(lo)} – {fmt_ns(hi)}); longest single pause "
            f"{fmt_ns(max(longest) * 1e3) if longest else 'n/a'} (BufferPoolStats::max_swap_pause); "
            f"the background reader's longest read {fmt_ns(max(bg_max) * 1e3) if bg_max else 'n/a'}"
            f", its median rate {fmt_rate(bg_rate) if bg_rate else 'n/a'}.",
        ]
    lines.append("")
    return lines


def fmt_bytes(x):
    if x is None:
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= scale:
            return f"{sig3(x / scale)} {unit}/s"
    return f"{sig3(x)} B/s"


def wal_notes(results, name, threads):
    """bytes/s and the WAL counters worth reading beside one benchmark's items/s."""
    r = results.get((name, threads))
    if not r:
        return ""
    parts = []
    if r.median_bytes() is not None:
        parts.append(fmt_bytes(r.median_bytes()))
    c = r.counters
    if "commits_per_sync" in c:
        parts.append(f"{c['commits_per_sync']:.2f} commits/fdatasync")
    if c.get("log_bytes") and r.median_time_ns():
        # recovery/replay's bytes/s counts the segment file bytes it read (the preallocated zero
        # tail included); log_bytes is the log from the redo start to its end, per iteration.
        parts.append(f"{fmt_bytes(c['log_bytes'] / (r.median_time_ns() / 1e9))} of log "
                     f"from redo start to end")
    return ", ".join(parts)


def wal_section(results):
    lines = [
        "## WAL",
        "",
        "Targets (ratios of median items/s, as above: commits/s for commit/*, records/s for "
        "append/* and recovery/*).",
        "",
    ]
    lines += targets_table(results, WAL_TARGETS)
    lines.append("")
    if not any(name.startswith(WAL_PREFIXES) for name, _ in results):
        return lines
    lines += [
        "Beside the baselines (informational, no target); notes give the median bytes/s and "
        "how many commits shared each fdatasync.",
        "",
        "| comparison | first (median) | second (median) | measured | notes |",
        "|---|---|---|---|---|",
    ]
    for label, a, b, kind, ta, tb in WAL_INFORMATIONAL:
        ma, mb, value = compare(results, a, b, kind, ta, tb)
        if ma is None or mb is None:
            continue
        threads = ta != tb or ta != 1
        na, nb = wal_notes(results, a, ta), wal_notes(results, b, tb)
        note = "; ".join(f"{side}: {n}" for side, n in (("first", na), ("second", nb)) if n)
        lines.append(f"| {label} | {side_text(ma, ta, threads)} | {side_text(mb, tb, threads)} | "
                     f"{measured_text(kind, value)} | {note} |")
    lines.append("")
    return lines


def index_notes(results, name, threads):
    """The tree or hash index shape and cost counters worth reading beside one index benchmark's
    items/s."""
    r = results.get((name, threads))
    if not r:
        return ""
    c = r.counters
    parts = []
    if "height" in c:
        parts.append(f"height {c['height']:g}")
    if "leaves" in c:
        parts.append(f"{c['leaves']:g} leaves")
    if "global_depth" in c:
        parts.append(f"global depth {c['global_depth']:g}")
    if "buckets" in c:
        parts.append(f"{c['buckets']:g} bucket{'' if c['buckets'] == 1 else 's'}")
    if "overflow_pages" in c:
        parts.append(f"{c['overflow_pages']:g} overflow pages")
    if "fill" in c:
        parts.append(f"fill {c['fill']:.2f}")
    if "log_bytes_per_key" in c:
        parts.append(f"{c['log_bytes_per_key']:.0f} log bytes/key")
    if c.get("pool_evictions"):
        parts.append(f"**{c['pool_evictions']:g} pool evictions** (data not all cached)")
    return ", ".join(parts)


def index_section(results):
    lines = [
        "## Indexes",
        "",
        "Our B+tree beside LMDB and absl::btree_map (the in-memory limit), our hash index beside "
        "our B+tree and absl::flat_hash_map (its in-memory limit): the same keys (16 bytes) and "
        "values (100 bytes), all cached, durability off on every side. Targets (ratios of median "
        "items/s: gets/s of all threads per second of wall time, inserts/s, deletes/s, keys/s "
        "scanned or bulk loaded).",
        "",
    ]
    lines += targets_table(results, INDEX_TARGETS)
    lines.append("")
    if not any(name.startswith(INDEX_PREFIXES) for name, _ in results):
        return lines
    lines += [
        "Beside each other (informational, no target); notes give the tree each insert or bulk "
        "load built (levels above the leaves, leaves, average fill), the hash index each insert "
        "built or the deletes left (global depth, buckets, overflow pages, average fill) and our "
        "log bytes per key.",
        "",
        "| comparison | first (median) | second (median) | measured | notes |",
        "|---|---|---|---|---|",
    ]
    for label, a, b, kind, ta, tb in INDEX_INFORMATIONAL:
        ma, mb, value = compare(results, a, b, kind, ta, tb)
        if ma is None or mb is None:
            continue
        threads = ta != tb or ta != 1
        na, nb = index_notes(results, a, ta), index_notes(results, b, tb)
        note = "; ".join(f"{side}: {n}" for side, n in (("first", na), ("second", nb)) if n)
        lines.append(f"| {label} | {side_text(ma, ta, threads)} | {side_text(mb, tb, threads)} | "
                     f"{measured_text(kind, value)} | {note} |")
    built = [(name, index_notes(results, name, 1))
             for name in ("btree_insert_random/pagestore", "btree_insert_random/lmdb",
                          "btree_bulk_load/pagestore", "hash_insert_random/pagestore",
                          "hash_delete/pagestore")]
    built = [(name, note) for name, note in built if note]
    if built:
        lines += ["", "Trees and hash indexes built, or left by hash_delete's deletes (median "
                  "repetition's counters; log bytes per key of the timed part):", ""]
        lines += [f"- {name}: {note}" for name, note in built]
    lines.append("")
    return lines


def reference_section(results):
    lines = [
        "## pread vs mmap beside the reference",
        "",
        "Our median time per operation at 1 thread (1e9 / items/s), standard (pread) vs mmap.",
        "",
        f"| workload | ours: pread | ours: mmap | ours: pread/mmap time | {REFERENCE_LABEL} |",
        "|---|---|---|---|---|",
    ]
    for label, p, m, ref_p, ref_m in REFERENCE:
        rp, rm = results.get((p, 1)), results.get((m, 1))
        tp = 1e9 / rp.median() if rp and rp.median() else None
        tm = 1e9 / rm.median() if rm and rm.median() else None
        ratio = f"{tp / tm:.2f}" if tp and tm else "n/a"
        lines.append(f"| {label} ({p} vs {m}) | {fmt_ns(tp)} | {fmt_ns(tm)} | {ratio} | "
                     f"{ref_p} vs {ref_m} ns ({ref_p / ref_m:.2f}) |")
    lines.append("")
    return lines


def all_section(results):
    lines = [
        "## Every benchmark",
        "",
        "| benchmark | threads | median items/s | min – max items/s | spread | median time/op "
        "| reps | counters |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results.values(), key=lambda r: r.order):
        med = r.median()
        lo, hi = r.spread()
        spread = f"{(hi - lo) / med * 100:.1f}%" if med and lo is not None and hi is not None else ""
        counters = ", ".join(f"{k}={v:g}" for k, v in sorted(r.counters.items()))
        if r.errors:
            counters = (counters + "; " if counters else "") + "ERROR: " + r.errors[0]
        t = r.median_time_ns()
        if t is not None and r.threads > 1:
            t_text = f"{fmt_ns(t)} (wall, {r.threads} threads)"
        else:
            t_text = fmt_ns(t)
        lines.append(f"| {r.name} | {r.threads} | {fmt_rate(med)} | {fmt_rate(lo)} – "
                     f"{fmt_rate(hi)} | {spread} | {t_text} | {r.repetitions()} | {counters} |")
    lines.append("")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="+", help="Google Benchmark JSON output files")
    p.add_argument("--out", help="write the Markdown here (default: stdout)")
    p.add_argument("--bench-dir", default=os.environ.get("PAGESTORE_BENCH_DIR", "/tmp"))
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--command", default="(unknown)")
    p.add_argument("--mode", default="")
    p.add_argument("--build-seconds", type=int)
    p.add_argument("--run-seconds", type=int)
    args = p.parse_args()

    results, contexts = load(args.json)
    lines = ["# pagestore benchmark summary", ""]
    lines += machine_section(args, contexts)
    lines += targets_section(results)
    lines += buffer_section(results)
    lines += wal_section(results)
    lines += index_section(results)
    lines += reference_section(results)
    lines += all_section(results)
    errors = [r for r in results.values() if r.errors]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {r.name} (threads {r.threads}): {r.errors[0]}" for r in errors]
        lines.append("")
    text = "\n".join(lines)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
