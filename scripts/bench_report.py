#!/usr/bin/env python3
"""Writes scripts/bench.sh's report: every ratio from the results of one run, in Markdown.

Inputs (files, or directories whose files of these names are all read):
  *_bench.json        Google Benchmark JSON of pagestore's benchmark binaries (disk_manager_bench,
                      buffer_pool_bench, wal_bench, index_bench, ycsb_bench, ltm_bench).
  fio_<job>_<n>[.rep<r>].json   fio's JSON of benchmarks/fio/<job>.fio at n jobs, repetition r
                      (scripts/bench_fio.sh); read as benchmark "fio/<job>" at n threads.
  fio_ltm_<x>[.rep<r>].json   fio beside the larger-than-memory experiment (scripts/bench_ltm.sh);
                      read as "ltm_read/fio_<x>" ("direct" is named fio_psync_direct).
  ltm_series.json     throughput over time of the larger-than-memory runs (scripts/bench_ltm.sh).
  ltm_meta.json, ltm_skipped.txt   that experiment's sizes, or why it could not run.
  failed.txt          the layers whose programs failed in this run (scripts/bench.sh), one a line.

Everything is compared by items_per_second (operations per second of wall time, all threads
together), by the median over repetitions, with the min-max spread of the repetitions beside it.
A benchmark is found by its name's first two components ("read_random/pread"); what Google
Benchmark appends ("/real_time", "/threads:2", ...) is ignored except the thread count, taken from
the JSON. A comparison whose benchmark did not run where its layer did reads "missing" and is
listed under "Missing"; a layer with no results at all reads "not run".

--mode smoke (scripts/bench.sh --smoke: every benchmark once for about a second) checks that every
benchmark runs and that the report renders, not that a steady state was reached: a
larger-than-memory run that succeeded but whose cache filled so late that no throughput sample
fell after it reads "no steady state (smoke run)" instead of being listed under "Missing". A
benchmark that did not run, or failed, is still Missing, Errors or Failed in every mode.

The report: the machine and run; a summary table (ours against the raw baseline, the physical
limit, and against the best peer on the same workload); a section per layer with its targets and
informational comparisons; YCSB beside LMDB, SQLite and RocksDB; durable commits with latency
percentiles; the larger-than-memory experiment over time; thread scaling; our pread and mmap
figures beside the seed document's published ones (a labelled reference column, never a
measurement); every benchmark. PNG charts go beside the report (scripts/bench_charts.py, with
Debian's python3-matplotlib; without it the report says the charts were skipped).

  bench_report.py [--out report.md] [--summary-out summary.md] [--charts-dir DIR] [--no-charts]
                  [--bench-dir DIR] [--build-dir DIR] [--command CMD] [--mode MODE]
                  [--build-seconds N] [--run-seconds N] FILE_OR_DIR...
"""

import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
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

# Our single-thread pread and mmap rows beside the reference numbers (ns per op, standard vs mmap).
REFERENCE = [
    ("read", "read_random/pread", "read_random/mmap", 1078, 748),
    ("write", "write_random/pread", "write_random/mmap", 3089, 4935),
    ("mixed", "mixed70_random/pread", "mixed70_random/mmap", 951, 590),
    ("sync", "sync_1dirty/pread", "sync_1dirty/mmap", 321, 465),
]


# fio (benchmarks/fio/, scripts/bench_fio.sh): the same I/O as our disk managers' raw baselines,
# from an independent tool. (label, ours, fio, threads); value = items/s(ours) / iops(fio).
FIO_COMPARISONS = [
    ("read_random/raw_pread vs fio psync randread", "read_random/raw_pread", "fio/randread_psync", 1),
    ("read_random/raw_pread vs fio psync randread (2 threads)", "read_random/raw_pread",
     "fio/randread_psync", 2),
    ("read_random/pread vs fio psync randread", "read_random/pread", "fio/randread_psync", 1),
    ("read_random/pread vs fio psync randread (2 threads)", "read_random/pread",
     "fio/randread_psync", 2),
    ("read_random/mmap vs fio mmap randread", "read_random/mmap", "fio/randread_mmap", 1),
    ("read_random/mmap vs fio mmap randread (2 threads)", "read_random/mmap", "fio/randread_mmap",
     2),
    ("read_random/raw_mmap_copy vs fio mmap randread", "read_random/raw_mmap_copy",
     "fio/randread_mmap", 1),
    ("sync_1dirty/raw_fdatasync vs fio write+fdatasync", "sync_1dirty/raw_fdatasync",
     "fio/write_fdatasync", 1),
    ("sync_1dirty/pread vs fio write+fdatasync", "sync_1dirty/pread", "fio/write_fdatasync", 1),
    ("commit/sync vs fio write+fdatasync", "commit/sync", "fio/write_fdatasync", 1),
]

# YCSB (ycsb_bench): the same workloads on every engine. Ours are the B+tree over each disk
# manager; absl::btree_map under a mutex is the in-memory limit; the peers are the rest.
YCSB_WORKLOADS = [
    ("A", "ycsb_a", "50% read, 50% update", 1),
    ("B", "ycsb_b", "95% read, 5% update", 1),
    ("C", "ycsb_c", "100% read", 1),
    ("D", "ycsb_d", "95% read latest, 5% insert", 1),
    ("E", "ycsb_e", "95% short scan, 5% insert", 1),
    ("F", "ycsb_f", "50% read, 50% read-modify-write", 1),
    ("B", "ycsb_b", "95% read, 5% update", 2),
    ("C", "ycsb_c", "100% read", 2),
]
OURS = ["pagestore_pread", "pagestore_mmap"]
YCSB_BASELINE = "absl_btree_map"
PEERS = ["lmdb", "sqlite", "sqlite_mmap", "rocksdb"]
ENGINE_LABELS = {
    "pagestore_pread": "pagestore (pread)",
    "pagestore_mmap": "pagestore (mmap)",
    "absl_btree_map": "absl::btree_map (in memory)",
    "lmdb": "LMDB",
    "sqlite": "SQLite (mmap_size=0)",
    "sqlite_mmap": "SQLite (mmap)",
    "rocksdb": "RocksDB",
    "raw_fdatasync": "raw pwrite + fdatasync",
}
DURABLE_ENGINES = ["pagestore_pread", "pagestore_mmap", "lmdb", "sqlite", "rocksdb"]
PERCENTILES = [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("p999_us", "p99.9"),
               ("max_us", "max")]

# Larger than memory (ltm_bench under a memory cgroup, scripts/bench_ltm.sh). Compared in steady
# state: "ltm_steady/<variant>" is, per repetition, the median of the throughput samples of the
# second half of the run (after the page cache has filled), for our variants and fio alike.
LTM_VARIANTS = ["pool_pread_direct", "pool_pread_buffered", "mmap", "pool_mmap", "raw_pread_direct",
                "fio_psync_direct", "fio_mmap"]
LTM_TARGETS = [
    ("larger than memory: pool over pread (O_DIRECT) vs mmap manager, steady state",
     "ltm_steady/pool_pread_direct", "ltm_steady/mmap", "speedup", 1.5, None, None),
    ("larger than memory: pool over pread (O_DIRECT) vs fio psync O_DIRECT, steady state",
     "ltm_steady/pool_pread_direct", "ltm_steady/fio_psync_direct", "throughput", 0.8, None, None),
]
LTM_INFORMATIONAL = [
    ("pool over buffered pread vs mmap manager, steady state", "ltm_steady/pool_pread_buffered",
     "ltm_steady/mmap", "speedup", None, None),
    ("pool over pread (O_DIRECT) vs raw pread (O_DIRECT), steady state",
     "ltm_steady/pool_pread_direct", "ltm_steady/raw_pread_direct", "throughput", None, None),
    ("mmap manager vs fio mmap, steady state", "ltm_steady/mmap", "ltm_steady/fio_mmap",
     "throughput", None, None),
    ("pool over the mmap manager vs mmap manager, steady state", "ltm_steady/pool_mmap",
     "ltm_steady/mmap", "speedup", None, None),
    ("pool over pread (O_DIRECT) vs mmap manager, whole run", "ltm_read/pool_pread_direct",
     "ltm_read/mmap", "speedup", None, None),
]

# Which layer (bench.sh --only) each benchmark family belongs to.
LAYERS = [
    ("storage", ("read_random/", "read_seq/", "write_random/", "mixed70_random/", "sync_1dirty/",
                 "load_seq/", "fio/")),
    ("buffer", ("pool_",)),
    ("wal", ("commit/", "commit_group/", "append/", "recovery/")),
    ("index", ("btree_", "hash_")),
    ("peers", ("ycsb_", "durable_commit/")),
    ("ltm", ("ltm_read/", "ltm_steady/")),
]

# The summary: (layer, workload, ours (candidates: the best is shown), raw baseline or None, peers
# (the best is shown), target labels to show). Threads None: whatever thread count ran.
SUMMARY = [
    ("storage", "random 4 KiB reads, cached (pread manager)", ["read_random/pread"],
     "read_random/raw_pread", ["fio/randread_psync"], ["read_random/pread vs read_random/raw_pread"],
     1),
    ("storage", "random 4 KiB reads, cached (pread manager), 2 threads", ["read_random/pread"],
     "read_random/raw_pread", ["fio/randread_psync"], ["read_random/pread: 2 threads vs 1 thread"],
     2),
    ("storage", "random 4 KiB reads, cached (mmap manager)", ["read_random/mmap"],
     "read_random/raw_mmap_copy", ["fio/randread_mmap"],
     ["read_random/mmap vs read_random/raw_mmap_copy"], 1),
    ("storage", "4 KiB write + fdatasync (pread manager)", ["sync_1dirty/pread"],
     "sync_1dirty/raw_fdatasync", ["fio/write_fdatasync"],
     ["sync_1dirty/pread vs sync_1dirty/raw_fdatasync"], 1),
    ("storage", "4 KiB write + fdatasync (mmap manager)", ["sync_1dirty/mmap"],
     "sync_1dirty/raw_fdatasync", ["fio/write_fdatasync"],
     ["sync_1dirty/mmap vs sync_1dirty/raw_fdatasync"], 1),
    ("buffer", "pool hit: read guard", ["pool_hit/read_guard"], "pool_hit/raw_deref", [],
     ["pool_hit/read_guard vs pool_hit/raw_deref"], 1),
    ("buffer", "pool miss (75%) over pread", ["pool_miss/pread"], "pool_miss/raw_pread", [],
     ["pool_miss/pread vs pool_miss/raw_pread"], 1),
    ("wal", "durable commit", ["commit/sync"], "commit/raw_fdatasync", ["fio/write_fdatasync"],
     ["commit/sync vs commit/raw_fdatasync"], 1),
    ("index", "B+tree point get", ["btree_get/pagestore"], "btree_get/absl_btree_map",
     ["btree_get/lmdb"], ["btree_get/pagestore vs btree_get/lmdb (1 thread)"], 1),
    ("index", "B+tree point get, 2 threads", ["btree_get/pagestore"], "btree_get/absl_btree_map",
     ["btree_get/lmdb"], ["btree_get/pagestore vs btree_get/lmdb (2 threads)"], 2),
    ("index", "B+tree random insert", ["btree_insert_random/pagestore"], None,
     ["btree_insert_random/lmdb"], ["btree_insert_random/pagestore vs btree_insert_random/lmdb"],
     1),
    ("index", "B+tree full scan", ["btree_scan/pagestore"], None, ["btree_scan/lmdb"],
     ["btree_scan/pagestore vs btree_scan/lmdb"], 1),
    ("index", "hash index point get", ["hash_get/pagestore"], "hash_get/absl_flat_hash_map", [],
     ["hash_get/pagestore vs hash_get/absl_flat_hash_map (1 thread)"], 1),
] + [
    ("peers", f"YCSB {letter} ({what})" + (f", {threads} threads" if threads > 1 else ""),
     [f"{name}/{e}" for e in OURS], f"{name}/{YCSB_BASELINE}", [f"{name}/{p}" for p in PEERS], [],
     threads)
    for letter, name, what, threads in YCSB_WORKLOADS
] + [
    ("peers", "durable single-key commit, full sync", [f"durable_commit/{e}" for e in OURS],
     "durable_commit/raw_fdatasync",
     [f"durable_commit/{e}" for e in DURABLE_ENGINES if e not in OURS], [], 1),
    ("ltm", "larger than memory: random 4 KiB reads, steady state",
     ["ltm_steady/pool_pread_direct"], "ltm_steady/raw_pread_direct",
     ["ltm_steady/fio_psync_direct"], [t[0] for t in LTM_TARGETS], None),
]

def base_name(run_name):
    return "/".join(run_name.split("/")[:2])


def layer_of(name):
    for layer, prefixes in LAYERS:
        if name.startswith(prefixes):
            return layer
    return None


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
        # Why a benchmark that ran has no figure by design (only in a smoke run: see
        # SMOKE_NO_STEADY); such a result is not missing.
        self.note = None

    def median(self):
        if "median" in self.aggregates:
            return self.aggregates["median"]
        return statistics.median(self.reps) if self.reps else None

    def spread(self):
        lo = self.aggregates.get("min", min(self.reps) if self.reps else None)
        hi = self.aggregates.get("max", max(self.reps) if self.reps else None)
        return lo, hi

    def spread_percent(self):
        """(max - min) / median of the repetitions, in percent; None without a median."""
        med = self.median()
        lo, hi = self.spread()
        if not med or lo is None or hi is None:
            return None
        return (hi - lo) / med * 100

    def median_bytes(self):
        if "median" in self.byte_aggs:
            return self.byte_aggs["median"]
        return statistics.median(self.byte_reps) if self.byte_reps else None

    def repetitions(self):
        """The repetitions that produced a figure (failed ones excluded)."""
        return len(self.reps) or (1 if self.aggregates else 0)

    def failed_repetitions(self):
        return len(self.errors)

    def median_time_ns(self):
        if "median" in self.agg_times:
            return self.agg_times["median"]
        return statistics.median(self.rep_times) if self.rep_times else None

    def median_counter(self, key):
        """The median over repetitions of one user counter (None when no repetition has it)."""
        values = [c[key] for c in self.rep_counters if key in c]
        if values:
            return statistics.median(values)
        return self.counters.get(key)


TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
COUNTER_SKIP = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "items_per_second", "bytes_per_second", "family_index",
    "per_family_instance_index", "aggregate_name", "aggregate_unit", "error_occurred",
    "error_message", "label",
}


class Run:
    """Everything one bench.sh run left: benchmark results, the files' contexts, the
    larger-than-memory series and metadata."""

    def __init__(self):
        self.results = {}   # (name, threads) -> Result
        self.contexts = []  # Google Benchmark contexts (plus "_path")
        self.fio_files = []
        self.series = []    # {"name", "repetition", "threads", "ops_per_s": [...]}
        self.interval_s = None
        self.ltm_meta = {}
        self.ltm_skipped = None
        self.failed = []    # "layer: why" of each layer whose program failed (failed.txt)
        self.smoke = False  # bench.sh --smoke: see SMOKE_NO_STEADY

    def result(self, name, threads=1):
        """The result of `name` at `threads` threads; threads None: at any count (the highest)."""
        if threads is not None:
            return self.results.get((name, threads))
        found = [r for (n, _), r in self.results.items() if n == name]
        return max(found, key=lambda r: r.threads) if found else None

    def layers_run(self):
        return {layer_of(name) for name, _ in self.results} - {None}

    def get_or_add(self, name, threads):
        key = (name, threads)
        r = self.results.get(key)
        if r is None:
            r = self.results[key] = Result(name, threads)
            r.order = (99, len(self.results))
        return r


def load_gbench(run, path):
    with open(path) as f:
        data = json.load(f)
    ctx = dict(data.get("context", {}))
    ctx["_path"] = path
    run.contexts.append(ctx)
    file_index = len(run.contexts)
    order = 0
    for row in data.get("benchmarks", []):
        run_name = row.get("run_name", row.get("name", ""))
        key = (base_name(run_name), int(row.get("threads", 1)))
        r = run.results.get(key)
        if r is None:
            r = run.results[key] = Result(*key)
            r.order = (file_index, order)
            order += 1
        if "family_index" in row:  # registration order, whatever order the runs had
            r.order = (file_index, int(row["family_index"]),
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


FIO_FILE = re.compile(r"fio_(?P<job>[a-z0-9_]+?)_(?P<jobs>\d+)(?:\.rep(?P<rep>\d+))?\.json$")
FIO_LTM_FILE = re.compile(r"fio_ltm_(?P<variant>[a-z0-9_]+?)(?:\.rep(?P<rep>\d+))?\.json$")


def fio_jobs(job):
    opts = job.get("job options", {})
    try:
        return int(opts.get("numjobs", 1))
    except ValueError:
        return 1


def fio_rate(job):
    """(iops, bytes/s, {percentile: ns}) of one fio job: its reads, or its writes if none."""
    for side in ("read", "write"):
        s = job.get(side, {})
        if s.get("iops"):
            pct = s.get("clat_ns", {}).get("percentile", {})
            return s["iops"], s.get("bw_bytes"), {float(k): v for k, v in pct.items()}
    return None, None, {}


def load_fio(run, path, name, threads):
    with open(path) as f:
        text = f.read()
    # fio prints notes before the JSON when a job warns; the object starts at the first '{'.
    data = json.loads(text[text.index("{"):]) if "{" in text else {}
    run.fio_files.append(path)
    jobs = data.get("jobs", [])
    r = run.get_or_add(name, threads)
    if not jobs:
        r.errors.append(f"{os.path.basename(path)}: no jobs")
        return
    job = jobs[0]
    if job.get("error"):
        r.errors.append(f"{os.path.basename(path)}: fio error {job['error']}")
        return
    iops, bps, pct = fio_rate(job)
    if iops is None:
        r.errors.append(f"{os.path.basename(path)}: no I/O")
        return
    iops_total = sum(fio_rate(j)[0] or 0 for j in jobs)  # without group_reporting: one per job
    r.reps.append(iops_total)
    if bps is not None:
        r.byte_reps.append(bps * len(jobs))
    r.rep_times.append(1e9 / iops_total)  # wall time per I/O, as Google Benchmark's rows
    counters = {"fio_jobs": fio_jobs(job) * len(jobs)}
    for p, key in ((50.0, "p50_us"), (90.0, "p90_us"), (99.0, "p99_us"), (99.9, "p999_us")):
        if p in pct:
            counters[key] = pct[p] / 1e3
    r.rep_counters.append(counters)
    r.counters = counters
    r.declared_reps = len(r.reps)


def load_series(run, path):
    with open(path) as f:
        data = json.load(f)
    run.interval_s = data.get("interval_s", run.interval_s)
    run.series.extend(data.get("series", []))


SMOKE_NO_STEADY = "no steady state (smoke run)"


def steady_value(samples, filled_at_s=None, interval_s=None):
    """The steady-state throughput of one series: the median of its samples from the second half
    of the run on, and not before the cache (the cgroup's page cache or the pool) was full when the
    series says when that was. None when no sample is left."""
    start = len(samples) // 2
    if filled_at_s is not None and interval_s:
        start = max(start, math.ceil(filled_at_s / interval_s))
    tail = samples[start:]
    return statistics.median(tail) if tail else None


def series_variant(name):
    """'ltm_read/mmap' -> 'mmap', 'fio/psync_direct' -> 'fio_psync_direct'."""
    head, _, tail = name.partition("/")
    return f"fio_{tail}" if head == "fio" else tail


def add_ltm_steady(run):
    """ltm_steady/<variant>: per repetition, the steady-state throughput, from the series (for
    our variants and fio alike) or, without a series, from ltm_bench's steady_ops_per_s.

    In a smoke run, a variant that ran (a figure, no error) and has a series, none of whose
    repetitions left a sample after the cache filled, gets an ltm_steady result with no figure
    and the note SMOKE_NO_STEADY: a one-second run need not reach a steady state."""
    from_series = set()
    no_steady = {}  # variant -> threads, series with no sample after the fill
    failed = {name.split("/", 1)[1] for (name, _), r in run.results.items()
              if name.startswith("ltm_read/") and r.errors}
    for s in run.series:
        value = steady_value(s.get("ops_per_s", []), s.get("filled_at_s"), run.interval_s)
        variant = series_variant(s.get("name", ""))
        if variant in failed:
            continue  # a failed run's samples are not a measurement
        if value is None:
            no_steady[variant] = int(s.get("threads", 1))
            continue
        threads = int(s.get("threads", 1))
        r = run.get_or_add(f"ltm_steady/{variant}", threads)
        r.reps.append(value)
        r.declared_reps = len(r.reps)
        from_series.add(variant)
    for (name, threads), r in list(run.results.items()):
        if not name.startswith("ltm_read/"):
            continue
        variant = name.split("/", 1)[1]
        if variant in from_series or r.errors:
            continue
        values = [c["steady_ops_per_s"] for c in r.rep_counters if "steady_ops_per_s" in c]
        if values:
            s = run.get_or_add(f"ltm_steady/{variant}", threads)
            s.reps.extend(values)
            s.declared_reps = len(s.reps)
    if not run.smoke:
        return  # a full run that reached no steady state is missing it (listed under Missing)
    for variant, threads in no_steady.items():
        ran = run.result(f"ltm_read/{variant}", None)
        if variant in from_series or ran is None or ran.errors or ran.median() is None:
            continue  # a figure from another repetition, or the run itself is missing or failed
        if run.result(f"ltm_steady/{variant}", None) is None:
            run.get_or_add(f"ltm_steady/{variant}", threads).note = SMOKE_NO_STEADY


def load_inputs(paths, smoke=False):
    """The results in `paths`; `smoke`: a bench.sh --smoke run (see SMOKE_NO_STEADY)."""
    run = Run()
    run.smoke = smoke
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*")))
        else:
            files.append(p)
    for path in files:
        base = os.path.basename(path)
        if base == "ltm_series.json":
            load_series(run, path)
        elif base == "ltm_meta.json":
            with open(path) as f:
                run.ltm_meta = json.load(f)
        elif base == "failed.txt":
            with open(path) as f:
                run.failed += [line.strip() for line in f if line.strip()]
        elif base == "ltm_skipped.txt":
            with open(path) as f:
                run.ltm_skipped = f.read().strip() or "no reason given"
        elif FIO_LTM_FILE.match(base):
            variant = FIO_LTM_FILE.match(base).group("variant")
            variant = "psync_direct" if variant == "direct" else variant
            with open(path) as f:
                text = f.read()
            try:
                data = json.loads(text[text.index("{"):])
                threads = sum(fio_jobs(j) for j in data.get("jobs", [])[:1]) or 1
            except (ValueError, IndexError):
                threads = 1
            load_fio(run, path, f"ltm_read/fio_{variant}", threads)
        elif FIO_FILE.match(base):
            m = FIO_FILE.match(base)
            if m.group("rep") is None and glob.glob(path[:-len(".json")] + ".rep*.json"):
                continue  # a copy of one repetition beside them: counting it would weigh it twice
            load_fio(run, path, f"fio/{m.group('job')}", int(m.group("jobs")))
        elif base.endswith("_bench.json"):
            load_gbench(run, path)
    add_ltm_steady(run)
    return run


# ---------------------------------------------------------------------------------------------
# Formatting

def sig3(x):
    """x to three significant digits, never in exponent notation."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def scaled(x, units, base):
    """x in the largest of `units` ((suffix, scale), largest first) it reaches, else in `base`;
    "n/a" for None."""
    if x is None:
        return "n/a"
    for unit, scale in units:
        if x >= scale:
            return f"{sig3(x / scale)}{unit}"
    return f"{sig3(x)}{base}"


def fmt_rate(x):
    return scaled(x, (("G/s", 1e9), ("M/s", 1e6), ("k/s", 1e3)), "/s")


def fmt_ns(x):
    return scaled(x, ((" s", 1e9), (" ms", 1e6), (" µs", 1e3)), " ns")


def fmt_us(x):
    return "n/a" if x is None else fmt_ns(x * 1e3)


def fmt_bytes(x):
    return scaled(x, ((" GB/s", 1e9), (" MB/s", 1e6), (" kB/s", 1e3)), " B/s")


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}x"


def rate_with_spread(r):
    """'1.10M/s (spread 4%)': the median and the min-max spread of the repetitions, as a percentage
    of the median ('1 rep' with one; failed repetitions counted beside)."""
    if r is None:
        return "missing"
    if r.median() is None:
        return "error" if r.errors else (r.note or "missing")
    pct = r.spread_percent()
    failed = f", {r.failed_repetitions()} failed" if r.errors else ""
    if pct is None or r.repetitions() <= 1:
        return f"{fmt_rate(r.median())} (1 rep{failed})"
    return f"{fmt_rate(r.median())} (spread {pct:.0f}%{failed})"


# ---------------------------------------------------------------------------------------------
# Machine

def run_cmd(cmd):
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


def memory_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def build_type(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "(empty)"
    except OSError:
        pass
    return "unknown"


def machine_section(args, run):
    ctx = run.contexts[0] if run.contexts else {}
    fs = run_cmd(["findmnt", "-n", "-T", args.bench_dir, "-o", "SOURCE,FSTYPE,OPTIONS"])
    load_avg = ctx.get("load_avg")
    lines = [
        "## Machine and run",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"
        f" (first benchmark start: {ctx.get('date', 'unknown')})",
        f"- command: `{args.command}`" + (f" (mode: {args.mode})" if args.mode else ""),
        f"- kernel: {run_cmd(['uname', '-r'])}",
        f"- filesystem of {args.bench_dir}: `{fs}`",
        f"- CPUs: {os.cpu_count()} ({ctx.get('num_cpus', '?')} seen by the benchmark), "
        f"model: {cpu_model()}; memory: {memory_total()}",
        f"- build type: {build_type(args.build_dir)} ({args.build_dir}); Google Benchmark "
        f"library: {ctx.get('library_build_type', 'unknown')}",
        f"- host: {ctx.get('host_name', platform.node())}",
    ]
    if " tmpfs " in f" {fs} ":
        lines.insert(2, f"**Warning: {args.bench_dir} is a tmpfs: fdatasync does nothing there and "
                        f"nothing is larger than memory, so the durable and larger-than-memory "
                        f"rows measure memory, not a disk. Set PAGESTORE_BENCH_DIR to a directory "
                        f"on the disk under test.**")
        lines.insert(3, "")
    cpus = os.cpu_count() or 1
    if load_avg:
        lines.append("- load average (1, 5, 15 min) at the first benchmark's start: " +
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
    for c in run.contexts:
        knobs.update({k: v for k, v in c.items() if k.startswith("pagestore_")})
    if knobs:
        lines.append("- settings: " + ", ".join(f"{k}={v}" for k, v in sorted(knobs.items())))
    sources = [f"{os.path.basename(c['_path'])} (start {c.get('date', 'unknown')})"
               for c in run.contexts]
    if run.fio_files:
        sources.append(f"{len(run.fio_files)} fio JSON files")
    if run.series:
        sources.append(f"ltm_series.json ({len(run.series)} series)")
    if sources:
        lines.append("- results read together (all from this run): " + ", ".join(sources))
    if args.build_seconds is not None or args.run_seconds is not None:
        lines.append(f"- wall time: build {args.build_seconds} s, benchmarks {args.run_seconds} s")
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------
# Comparisons

class Tracker:
    """Remembers the benchmarks a comparison wanted and did not find in a layer that ran."""

    def __init__(self, run):
        self.run = run
        self.layers = run.layers_run()
        self.missing = {}  # (name, threads) -> the layer

    def get(self, name, threads):
        r = self.run.result(name, threads)
        if r is not None and r.note is not None and r.median() is None:
            return r  # ran, and has no figure by design (a smoke run): not missing
        if (r is None or r.median() is None) and layer_of(name) in self.layers:
            self.missing.setdefault((name, threads if threads is not None else "any"),
                                    layer_of(name))
        return r

    def layer_ran(self, layer):
        return layer in self.layers


def absent_text(run, sides):
    """What a comparison reads when it has no value: the note (SMOKE_NO_STEADY) when every one of
    `sides` ((name, threads) pairs) without a figure ran and has none by design, else "missing"."""
    notes = []
    for name, threads in sides:
        r = run.result(name, threads)
        if r is not None and r.median() is not None:
            continue
        if r is None or not r.note:
            return "missing"
        notes.append(r.note)
    return notes[0] if notes else "missing"


def ratio(kind, ma, mb):
    """A comparison's value from two medians of items/s: "within" is a time ratio (first's time
    over second's), "speedup" and "throughput" throughput ratios (first's items/s over second's)."""
    if not ma or not mb:
        return None
    return mb / ma if kind == "within" else ma / mb


def ratio_of(kind, ra, rb):
    """ratio() of two results' medians; None when either is missing or has no median."""
    return ratio(kind, ra.median() if ra else None, rb.median() if rb else None)


def compare(run, a, b, kind, ta, tb):
    """The value (or None) of one comparison of benchmarks by name and thread count."""
    return ratio_of(kind, run.result(a, ta), run.result(b, tb))


def verdict(kind, value, target):
    if value is None:
        return None
    ok = value <= target if kind == "within" else value >= target
    return "met" if ok else "**missed**"


def side_text(r, t, show_threads):
    text = rate_with_spread(r)
    if show_threads and r is not None and r.median() is not None:
        text += f" ({r.threads} thr)" if t is None else f" ({t} thr)"
    return text


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


def targets_table(tr, targets):
    lines = [
        "| comparison | first: median (spread) | second: median (spread) | measured | target "
        "| result |",
        "|---|---|---|---|---|---|",
    ]
    for label, a, b, kind, target, ta, tb in targets:
        ra, rb = tr.get(a, ta), tr.get(b, tb)
        value = ratio_of(kind, ra, rb)
        threads = ta != tb or (ta or 1) != 1
        result = verdict(kind, value, target)
        if result is None:
            result = absent_text(tr.run, [(a, ta), (b, tb)]) \
                if tr.layer_ran(layer_of(a)) or tr.layer_ran(layer_of(b)) else "not run"
        lines.append(f"| {label} | {side_text(ra, ta, threads)} | {side_text(rb, tb, threads)} | "
                     f"{measured_text(kind, value)} | {target_text(kind, target)} | {result} |")
    return lines


def informational_table(tr, rows, notes=None):
    lines = [
        "| comparison | first: median (spread) | second: median (spread) | measured | notes |",
        "|---|---|---|---|---|",
    ]
    for label, a, b, kind, ta, tb in rows:
        ra, rb = tr.get(a, ta), tr.get(b, tb)
        value = ratio_of(kind, ra, rb)
        threads = ta != tb or (ta or 1) != 1
        note = ""
        if notes:
            na, nb = notes(tr.run, a, ta), notes(tr.run, b, tb)
            note = "; ".join(f"{side}: {n}" for side, n in (("first", na), ("second", nb)) if n)
        lines.append(f"| {label} | {side_text(ra, ta, threads)} | {side_text(rb, tb, threads)} | "
                     f"{measured_text(kind, value)} | {note} |")
    return lines


ALL_TARGETS = {t[0]: t for t in TARGETS + WAL_TARGETS + INDEX_TARGETS + LTM_TARGETS}


def best_of(tr, names, threads):
    """The result with the highest median among `names` (None when none ran)."""
    found = [tr.get(n, threads) for n in names]
    found = [r for r in found if r is not None and r.median() is not None]
    return max(found, key=lambda r: r.median()) if found else None


def target_context(a, b, ta, tb):
    """What a target compares, in a few words, for the summary's target column."""
    if a == b:
        return f" ({ta} vs {tb} threads)"
    return f" ({a.split('/', 1)[1]} vs {b.split('/', 1)[1]})"


def summary_rows(run, tr):
    """One row per SUMMARY entry whose layer ran: dicts the table and the tests read."""
    rows = []
    for layer, label, ours, baseline, peers, targets, threads in SUMMARY:
        if not tr.layer_ran(layer):
            continue
        o = best_of(tr, ours, threads)
        b = tr.get(baseline, threads) if baseline else None
        p = best_of(tr, peers, threads) if peers else None
        if peers and p is None:
            for n in peers:  # every peer missing: each is listed under Missing
                tr.get(n, threads)
        row = {
            "layer": layer, "workload": label,
            "ours": o, "ours_missing": o is None, "ours_names": ours, "threads": threads,
            "baseline": b, "baseline_name": baseline,
            "vs_baseline": ratio_of("throughput", o, b),
            "peer": p, "peer_names": peers,
            "vs_peer": ratio_of("throughput", o, p),
            "targets": [],
        }
        for t in targets:
            tl, a, bn, kind, target, ta, tb = ALL_TARGETS[t]
            value = compare(run, a, bn, kind, ta, tb)
            row["targets"].append((target_text(kind, target) + target_context(a, bn, ta, tb),
                                   measured_text(kind, value),
                                   verdict(kind, value, target)
                                   or absent_text(run, [(a, ta), (bn, tb)])))
        rows.append(row)
    return rows


def short_name(r):
    return r.name.split("/", 1)[1] if r is not None else ""


def summary_section(run, tr):
    lines = [
        "## Summary",
        "",
        "Ours against the raw baseline on the same workload (the physical limit: the system calls "
        "or in-memory structure with nothing of ours in between) and against the best peer (fio, "
        "LMDB, SQLite, RocksDB). A ratio is our median items/s divided by theirs, from this run: "
        "above 1.00x we are faster. Spread: (max - min) / median of the repetitions. Where two "
        "of ours ran (the pread and mmap managers), the faster is shown and named.",
        "",
        "| layer | workload | ours: median (spread) | raw baseline | ours / baseline | best peer "
        "| ours / best peer | target: measured, result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = summary_rows(run, tr)
    if not rows:
        return lines[:2] + ["No layer ran.", ""]
    for row in rows:
        o, b, p = row["ours"], row["baseline"], row["peer"]
        if o is None:
            ours = absent_text(run, [(n, row["threads"]) for n in row["ours_names"]])
        else:
            ours = f"{short_name(o)}: {rate_with_spread(o)}"
        if row["baseline_name"] is None:
            base = "—"
        else:
            base = f"{row['baseline_name'].split('/', 1)[1]}: {rate_with_spread(b)}"
        if not row["peer_names"]:
            peer = "—"
        else:
            peer = (absent_text(run, [(n, row["threads"]) for n in row["peer_names"]])
                    if p is None else f"{short_name(p)}: {rate_with_spread(p)}")
        vb = fmt_ratio(row["vs_baseline"]) if row["baseline_name"] else "—"
        vp = fmt_ratio(row["vs_peer"]) if row["peer_names"] else "—"
        tg = "; ".join(f"{t}: {m}, {v}" for t, m, v in row["targets"]) or "—"
        lines.append(f"| {row['layer']} | {row['workload']} | {ours} | {base} | {vb} | {peer} | "
                     f"{vp} | {tg} |")
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------
# Layer sections

def not_run(title, layer, how):
    return [title, "", f"Not run: no results of the {layer} layer in this run ({how}).", ""]


def counter_text(run, name, threads):
    r = run.result(name, threads)
    if not r:
        return ""
    parts = []
    if "hit_ratio" in r.counters:
        parts.append(f"hit ratio {r.counters['hit_ratio']:.2f}")
    if r.counters.get("writebacks_per_op"):
        parts.append(f"{r.counters['writebacks_per_op']:.3f} write-backs/op")
    return ", ".join(parts)


def storage_section(run, tr):
    title = "## Storage: the disk managers beside raw system calls and fio"
    if not tr.layer_ran("storage"):
        return not_run(title, "storage", "disk_manager_bench and fio")
    lines = [title, "", "![storage](storage.png)", "",
             "Targets (ratios of median items/s). speedup = items/s of the first / items/s of the "
             "second; within = time of the first / time of the second.", ""]
    lines += targets_table(tr, [t for t in TARGETS if layer_of(t[1]) == "storage"])
    lines += ["", "Beside fio (benchmarks/fio/: the same 4 KiB I/O on a cached file of the same "
              "size, `--invalidate=0`; fio's iops over all its jobs, median of its repetitions; "
              "informational, no target):", ""]
    lines += informational_table(
        tr, [(label, a, b, "throughput", t, t) for label, a, b, t in FIO_COMPARISONS],
        notes=fio_notes)
    lines.append("")
    return lines


def fio_notes(run, name, threads):
    r = run.result(name, threads)
    if not r or not name.startswith("fio/"):
        return ""
    p50, p99 = r.median_counter("p50_us"), r.median_counter("p99_us")
    if p50 is None:
        return ""
    return f"fio latency p50 {fmt_us(p50)}, p99 {fmt_us(p99)}"


def buffer_section(run, tr):
    title = "## Buffer pool"
    if not tr.layer_ran("buffer"):
        return not_run(title, "buffer", "buffer_pool_bench")
    lines = [title, "", "![buffer](buffer.png)", "", "Targets (ratios of median items/s):", ""]
    lines += targets_table(tr, [t for t in TARGETS if layer_of(t[1]) == "buffer"])
    lines += ["", "Beside the baselines (informational, no target):", ""]
    lines += informational_table(tr, INFORMATIONAL, notes=counter_text)
    swap = run.result("pool_swap/pause", 1)
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
            f"{fmt_us(max(longest)) if longest else 'n/a'} (BufferPoolStats::max_swap_pause); "
            f"the background reader's longest read {fmt_us(max(bg_max)) if bg_max else 'n/a'}"
            f", its median rate {fmt_rate(bg_rate) if bg_rate else 'n/a'}.",
        ]
    elif tr.layer_ran("buffer"):
        tr.get("pool_swap/pause", 1)
    lines.append("")
    return lines


def wal_notes(run, name, threads):
    """bytes/s and the WAL counters worth reading beside one benchmark's items/s."""
    r = run.result(name, threads)
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


def wal_section(run, tr):
    title = "## WAL"
    if not tr.layer_ran("wal"):
        return not_run(title, "wal", "wal_bench")
    lines = [title, "", "![wal](wal.png)", "",
             "Targets (ratios of median items/s: commits/s for commit/*, records/s for append/* "
             "and recovery/*):", ""]
    lines += targets_table(tr, WAL_TARGETS)
    lines += ["", "Beside the baselines (informational, no target); notes give the median bytes/s "
              "and how many commits shared each fdatasync.", ""]
    lines += informational_table(tr, WAL_INFORMATIONAL, notes=wal_notes)
    lines.append("")
    return lines


def index_notes(run, name, threads):
    """The tree or hash index shape and cost counters worth reading beside one index benchmark."""
    r = run.result(name, threads)
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


def index_section(run, tr):
    title = "## Indexes"
    if not tr.layer_ran("index"):
        return not_run(title, "index", "index_bench")
    lines = [
        title, "", "![index](index.png)", "",
        "Our B+tree beside LMDB and absl::btree_map (the in-memory limit), our hash index beside "
        "our B+tree and absl::flat_hash_map (its in-memory limit): the same keys (16 bytes) and "
        "values (100 bytes), all cached, durability off on every side. Targets (ratios of median "
        "items/s: gets/s of all threads per second of wall time, inserts/s, deletes/s, keys/s "
        "scanned or bulk loaded):",
        "",
    ]
    lines += targets_table(tr, INDEX_TARGETS)
    lines += ["", "Beside each other (informational, no target); notes give the tree each insert "
              "or bulk load built, the hash index each insert built or the deletes left, and our "
              "log bytes per key.", ""]
    lines += informational_table(tr, INDEX_INFORMATIONAL, notes=index_notes)
    built = [(name, index_notes(run, name, 1))
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


def ycsb_section(run, tr):
    title = "## YCSB: pagestore beside LMDB, SQLite and RocksDB"
    if not tr.layer_ran("peers"):
        return not_run(title, "peers", "ycsb_bench")
    records = None
    for c in run.contexts:
        records = records or c.get("pagestore_bench_ycsb_records")
    engines = OURS + [YCSB_BASELINE] + PEERS
    lines = [
        title, "", "![ycsb](ycsb.png)", "",
        f"YCSB core workloads over {records or 'the'} records (16-byte keys, 100-byte values, "
        "zipfian 0.99 scrambled, D on the latest records), durability off on every side, each "
        "write its own transaction; ops/s of all threads, median (spread: (max - min) / median "
        "of the repetitions). absl::btree_map under a mutex is the in-memory limit. \"ours / best peer\" takes the faster of our two disk "
        "managers; \"pread / mmap\" answers which one to use on this machine (above 1: pread).",
        "",
        "| workload | thr | " + " | ".join(ENGINE_LABELS[e] for e in engines) +
        " | ours / best peer | ours / in-memory | pread / mmap |",
        "|---|---|" + "---|" * len(engines) + "---|---|---|",
    ]
    pread_wins = mmap_wins = 0
    for letter, name, what, threads in YCSB_WORKLOADS:
        cells = [rate_with_spread(tr.get(f"{name}/{e}", threads)) for e in engines]
        o = best_of(tr, [f"{name}/{e}" for e in OURS], threads)
        p = best_of(tr, [f"{name}/{e}" for e in PEERS], threads)
        base = run.result(f"{name}/{YCSB_BASELINE}", threads)
        vp = ratio_of("throughput", o, p)
        vb = ratio_of("throughput", o, base)
        pm = compare(run, f"{name}/pagestore_pread", f"{name}/pagestore_mmap", "throughput",
                           threads, threads)
        if pm is not None:
            pread_wins += pm > 1
            mmap_wins += pm <= 1
        vp_text = f"{fmt_ratio(vp)} ({short_name(p)})" if vp is not None else "n/a"
        lines.append(f"| {letter}: {what} | {threads} | " + " | ".join(cells) +
                     f" | {vp_text} | {fmt_ratio(vb)} | {fmt_ratio(pm)} |")
    lines.append("")
    if pread_wins + mmap_wins:
        lines.append(f"pread or mmap? On this machine the pread manager was faster in {pread_wins} "
                     f"and the mmap manager in {mmap_wins} of {pread_wins + mmap_wins} workloads "
                     "(data cached: this is the CPU cost of each path; see the larger-than-memory "
                     "section for what happens when it is not).")
        lines.append("")
    loads = []
    for e in engines:
        r = best_of(tr, [f"ycsb_c/{e}"], 1) or run.result(f"ycsb_a/{e}", 1)
        if r is not None and r.median_counter("load_s") is not None:
            loads.append(f"{ENGINE_LABELS[e]} {r.median_counter('load_s'):.1f} s")
    if loads:
        lines += ["Untimed loads (key order, batched): " + ", ".join(loads) + ".", ""]
    return lines


def percentile_over_reps(r, key):
    """A latency percentile over repetitions: the median of the repetitions' values, but for the
    maximum, which is the largest of any repetition."""
    if key == "max_us":
        values = [c[key] for c in r.rep_counters if key in c]
        return max(values) if values else r.counters.get(key)
    return r.median_counter(key)


def durable_section(run, tr):
    title = "## Durable single-key commits"
    if not tr.layer_ran("peers"):
        return not_run(title, "peers", "ycsb_bench")
    lines = [
        title, "", "![durable commit latency](durable_latency.png)", "",
        "One single-key update per transaction, committed with a full sync on every side "
        "(pagestore: Durability::kSync; LMDB: synchronous commit; SQLite: WAL, synchronous=FULL; "
        "RocksDB: WriteOptions::sync). The limit is one 4 KiB pwrite + fdatasync; fio's "
        "write+fdatasync beside it. Latency percentiles are medians over repetitions; max is the "
        "largest of any repetition.",
        "",
        "| engine | commits/s: median (spread) | vs raw fdatasync | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    raw = run.result("durable_commit/raw_fdatasync", 1)
    for e in ["raw_fdatasync"] + DURABLE_ENGINES:
        r = tr.get(f"durable_commit/{e}", 1)
        vs = ratio_of("throughput", r, raw)
        pct = [fmt_us(percentile_over_reps(r, k)) if r else "n/a" for k, _ in PERCENTILES]
        lines.append(f"| {ENGINE_LABELS[e]} | {rate_with_spread(r)} | {fmt_ratio(vs)} | " +
                     " | ".join(pct) + " |")
    fio = run.result("fio/write_fdatasync", 1)
    if fio is not None and fio.median() is not None:
        vs = ratio_of("throughput", fio, raw)
        lines.append(f"| fio write+fdatasync (rate only: fio's latencies leave the sync out) | "
                     f"{rate_with_spread(fio)} | {fmt_ratio(vs)} | " + " | ".join(
                         "n/a" for _ in PERCENTILES) + " |")
    lines.append("")
    return lines


def ltm_reading(run):
    """A sentence on what bounds the larger-than-memory runs, from their own figures: when the
    mmap manager runs within 25% of raw O_DIRECT reads, the device is the limit
    and the gap mmap shows on fast NVMe with many threads cannot appear."""
    raw = run.result("ltm_steady/raw_pread_direct", None)
    mmap = run.result("ltm_steady/mmap", None)
    pool = run.result("ltm_steady/pool_pread_direct", None)
    if not (raw and mmap and pool and raw.median() and mmap.median() and pool.median()):
        return []
    lo, hi = 1 / 1.25, 1.25
    if lo <= mmap.median() / raw.median() <= hi:
        return ["", f"Reading: the device bounds every variant here: raw O_DIRECT reads reach "
                f"{fmt_rate(raw.median())}, the mmap manager {mmap.median() / raw.median():.2f}x "
                f"and the pool {pool.median() / raw.median():.2f}x of that (the pool also answers "
                f"some reads from its frames). mmap falls behind when the kernel's eviction "
                f"(unmapping, TLB shootdowns, one reclaim path for all threads) costs more than "
                f"the device read it makes room for, which takes a device far faster than this "
                f"one (NVMe at hundreds of thousands of reads/s) and many threads; the ratio here "
                f"measures the disk."]
    return ["", f"Reading: raw O_DIRECT reads reach {fmt_rate(raw.median())}; the mmap manager "
            f"{mmap.median() / raw.median():.2f}x and the pool "
            f"{pool.median() / raw.median():.2f}x of that."]


def ltm_section(run, tr):
    title = "## Larger than memory"
    if run.ltm_skipped:
        return [title, "", f"Skipped: {run.ltm_skipped}", ""]
    if not tr.layer_ran("ltm"):
        return not_run(title, "ltm", "ltm_bench under a memory cgroup, and fio")
    m = run.ltm_meta
    sizes = ""
    if m:
        sizes = (f" A {m.get('file_mb', '?')} MiB file read under a {m.get('limit_mb', '?')} MiB "
                 f"cgroup (v1 memory controller: the page cache counts against it), a "
                 f"{m.get('pool_mb', '?')} MiB pool, {m.get('threads', '?')} threads, "
                 f"{m.get('seconds', '?')} s per run")
        if m.get("cgroup_peak_mb"):
            sizes += f"; the group's peak usage {m['cgroup_peak_mb']:.0f} MiB"
        sizes += "."
    lines = [
        title, "", "![throughput over time](ltm_over_time.png)", "",
        "Random 4 KiB reads over a file several times larger than the memory a cgroup allows, "
        "every run starting with the file out of the page cache: through our buffer pool over the "
        "pread manager (O_DIRECT, and buffered), through the mmap manager with the kernel as the "
        "buffer manager, and fio at the same concurrency." + sizes + " Steady state is the "
        "median throughput of the samples of the second half of each run, and never before the "
        "cache (the group's page cache, or the pool for O_DIRECT) was full; the chart shows the "
        "whole run.",
        "",
    ]
    lines += targets_table(tr, LTM_TARGETS)
    lines += ltm_reading(run)
    lines += ["", "Informational:", ""]
    lines += informational_table(tr, LTM_INFORMATIONAL, notes=counter_text)
    lines += ["", "| variant | threads | whole run: median (spread) | steady state: median "
              "(spread) | first sample | cache full after | device reads/s | hit ratio |",
              "|---|---|---|---|---|---|---|---|"]
    for v in LTM_VARIANTS:
        whole = run.result(f"ltm_read/{v}", None)
        steady = run.result(f"ltm_steady/{v}", None)
        if whole is None and steady is None:
            tr.get(f"ltm_read/{v}", None)
            continue
        first = [s["ops_per_s"][0] for s in run.series
                 if series_variant(s.get("name", "")) == v and s.get("ops_per_s")]
        hit = whole.median_counter("hit_ratio") if whole else None
        misses = whole.median_counter("misses_per_s") if whole else None
        filled = [s.get("filled_at_s") for s in run.series
                  if series_variant(s.get("name", "")) == v and "filled_at_s" in s]
        if not filled:
            filled_text = ""
        elif all(f is None for f in filled):
            filled_text = "never (or nothing cached)"
        else:
            filled_text = ", ".join("never" if f is None else f"{f:.1f} s" for f in filled)
        threads = (whole or steady).threads
        lines.append(f"| {v} | {threads} | {rate_with_spread(whole)} | {rate_with_spread(steady)} "
                     f"| {fmt_rate(statistics.median(first)) if first else 'n/a'} | "
                     f"{filled_text} | {fmt_rate(misses) if misses is not None else ''} | "
                     f"{f'{hit:.2f}' if hit is not None else ''} |")
    lines.append("")
    return lines


def scaling_groups(run):
    """{benchmark: {threads: Result}} of every benchmark measured at 1 thread and at more (the
    WAL's commit_group/threads:N, one benchmark per thread count, as one "commit_group")."""
    by_name = {}
    for (name, threads), r in run.results.items():
        if r.median() is None:
            continue
        if name.startswith("commit_group/threads:"):
            name = "commit_group"
        by_name.setdefault(name, {})[threads] = r
    return {n: t for n, t in by_name.items() if len(t) > 1 and 1 in t}


def scaling_section(run, tr):
    """Every benchmark measured at more than one thread count, as a speedup over its 1 thread."""
    rows = scaling_groups(run)
    if not rows:
        return []
    lines = ["## Thread scaling", "", "![thread scaling](scaling.png)", "",
             "items/s at N threads over items/s at 1 thread (medians; the machine has "
             f"{os.cpu_count()} CPUs).", "",
             "| benchmark | threads: speedup over 1 thread |", "|---|---|"]
    for name in sorted(rows, key=lambda n: min(r.order for r in rows[n].values())):
        t = rows[name]
        one = t[1].median()
        cells = ", ".join(f"{n}: {t[n].median() / one:.2f}x" for n in sorted(t) if n != 1)
        lines.append(f"| {name} | {cells} |")
    lines.append("")
    return lines


def reference_section(run, tr):
    lines = [
        "## pread vs mmap beside the reference",
        "",
        "Our median time per operation at 1 thread (1e9 / items/s), standard (pread) vs mmap. The "
        "last column is not a measurement of this run: it is the seed document's published "
        "figures, from another machine and another implementation, for orientation only.",
        "",
        f"| workload | ours: pread | ours: mmap | ours: pread/mmap time | {REFERENCE_LABEL} |",
        "|---|---|---|---|---|",
    ]
    for label, p, m, ref_p, ref_m in REFERENCE:
        rp, rm = tr.get(p, 1), tr.get(m, 1)
        tp = 1e9 / rp.median() if rp and rp.median() else None
        tm = 1e9 / rm.median() if rm and rm.median() else None
        ratio_text = f"{tp / tm:.2f}" if tp and tm else ("missing" if tr.layer_ran("storage")
                                                       else "not run")
        lines.append(f"| {label} ({p} vs {m}) | {fmt_ns(tp)} | {fmt_ns(tm)} | {ratio_text} | "
                     f"{ref_p} vs {ref_m} ns ({ref_p / ref_m:.2f}) |")
    lines.append("")
    return lines


def all_section(run):
    lines = [
        "## Every benchmark",
        "",
        "| benchmark | threads | median items/s | min – max items/s | spread | median time/op "
        "| reps | counters |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(run.results.values(), key=lambda r: r.order):
        med = r.median()
        lo, hi = r.spread()
        pct = r.spread_percent()
        spread = f"{pct:.1f}%" if pct is not None else ""
        counters = ", ".join(f"{k}={v:g}" for k, v in sorted(r.counters.items()))
        if r.errors:
            counters = (counters + "; " if counters else "") + "ERROR: " + r.errors[0]
        elif med is None and r.note:
            counters = r.note
        t = r.median_time_ns()
        if t is not None and r.threads > 1:
            t_text = f"{fmt_ns(t)} (wall, {r.threads} threads)"
        else:
            t_text = fmt_ns(t)
        lines.append(f"| {r.name} | {r.threads} | {fmt_rate(med)} | {fmt_rate(lo)} – "
                     f"{fmt_rate(hi)} | {spread} | {t_text} | {r.repetitions()} | {counters} |")
    lines.append("")
    return lines


def problems_section(run, tr):
    lines = []
    if tr.missing:
        lines += ["## Missing", "",
                  "Benchmarks a comparison above needs that did not run (or failed) although "
                  "their layer ran:", ""]
        for (name, threads), layer in sorted(tr.missing.items(), key=lambda x: str(x)):
            r = run.result(name, None if threads == "any" else threads)
            why = f": {r.errors[0]}" if r is not None and r.errors else ""
            lines.append(f"- {name} ({threads} thread{'s' if threads != 1 else ''}, layer "
                         f"{layer}){why}")
        lines.append("")
    errors = [r for r in run.results.values() if r.errors]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {r.name} (threads {r.threads}): {r.errors[0]}" for r in errors]
        lines.append("")
    return lines


def build_report(args, run, chart_note=None):
    """(the whole report, the summary section) as Markdown text."""
    tr = Tracker(run)
    summary = summary_section(run, tr)
    body = []
    body += storage_section(run, tr)
    body += buffer_section(run, tr)
    body += wal_section(run, tr)
    body += index_section(run, tr)
    body += ycsb_section(run, tr)
    body += durable_section(run, tr)
    body += ltm_section(run, tr)
    body += scaling_section(run, tr)
    body += reference_section(run, tr)
    body += all_section(run)
    lines = ["# pagestore benchmark report", ""]
    lines += machine_section(args, run)
    if run.failed:
        lines += ["## Failed", "", "These programs failed in this run; their results are not in "
                  "this report (bench.sh's output says why):", ""]
        lines += [f"- {f}" for f in run.failed]
        lines.append("")
    if chart_note:
        lines += [chart_note, ""]
    lines += summary + body + problems_section(run, tr)
    return "\n".join(lines), "\n".join(summary)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="result files, or directories of them")
    p.add_argument("--out", help="write the report here (default: stdout)")
    p.add_argument("--summary-out", help="also write the summary table here")
    p.add_argument("--charts-dir", help="write PNG charts here (default: beside --out)")
    p.add_argument("--no-charts", action="store_true")
    p.add_argument("--bench-dir", default=os.environ.get("PAGESTORE_BENCH_DIR", "/tmp"))
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--command", default="(unknown)")
    p.add_argument("--mode", default="")
    p.add_argument("--build-seconds", type=int)
    p.add_argument("--run-seconds", type=int)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run = load_inputs(args.inputs, smoke=args.mode == "smoke")
    chart_note = None
    if not args.no_charts:
        charts_dir = args.charts_dir or (os.path.dirname(os.path.abspath(args.out)) if args.out
                                         else None)
        if charts_dir:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            try:
                import bench_charts
                written = bench_charts.write_all(run, charts_dir, layer_of)
                chart_note = f"Charts: {', '.join(written)} (beside this file)." if written else None
            except ImportError as e:
                chart_note = (f"**Charts skipped: {e} (install Debian's python3-matplotlib and "
                              f"run with /usr/bin/python3).**")
    text, summary = build_report(args, run, chart_note)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.summary_out:
        with open(args.summary_out, "w") as f:
            f.write(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
