"""What the report compares: targets, informational comparisons, the YCSB engines, the layers
and the summary's rows."""


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
    # Batched reads from the device (O_DIRECT): 32 pages per io_uring submission against one
    # page at a time, and against fio's io_uring job at the same depth.
    ("read_batch/pread_uring vs read_random/pread_direct", "read_batch/pread_uring",
     "read_random/pread_direct", "speedup", 2.5, 1, 1),
    ("read_batch/pread_uring vs fio io_uring randread (depth 32)", "read_batch/pread_uring",
     "fio/randread_uring", "throughput", 0.8, 1, 1),
    # Buffer pool (buffer_pool_bench; the first row compares with disk_manager_bench's run).
    ("pool_hit/read_guard vs read_random/raw_pread", "pool_hit/read_guard",
     "read_random/raw_pread", "speedup", 10.0, 1, 1),
    ("pool_hit/read_guard vs pool_hit/raw_deref", "pool_hit/read_guard", "pool_hit/raw_deref",
     "within", 5.0, 1, 1),
    ("pool_hit/read_guard: 2 threads vs 1 thread", "pool_hit/read_guard", "pool_hit/read_guard",
     "speedup", 1.8, 2, 1),
    ("pool_miss/pread vs pool_miss/raw_pread", "pool_miss/pread", "pool_miss/raw_pread",
     "within", 1.2, 1, 1),
    ("pool_hit/read_optimistic vs pool_hit/raw_deref", "pool_hit/read_optimistic",
     "pool_hit/raw_deref", "within", 3.33, 1, 1),
    ("pool_hit/read_optimistic: 2 threads vs 1 thread", "pool_hit/read_optimistic",
     "pool_hit/read_optimistic", "speedup", 1.9, 2, 1),
]


# Buffer-pool comparisons without a target, for reading the ones above: (label, first, second,
# kind, threads of each side), kinds as in TARGETS.
INFORMATIONAL = [
    ("read_batch/pread_uring vs read_batch/pread_direct_loop", "read_batch/pread_uring",
     "read_batch/pread_direct_loop", "speedup", 1, 1),
    ("pool_miss/mmap vs pool_miss/pread", "pool_miss/mmap", "pool_miss/pread", "speedup", 1, 1),
    ("pool_miss/pread_lruk vs pool_miss/pread", "pool_miss/pread_lruk", "pool_miss/pread",
     "speedup", 1, 1),
    ("pool_hit/read_optimistic vs pool_hit/read_guard", "pool_hit/read_optimistic",
     "pool_hit/read_guard", "speedup", 1, 1),
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
    ("backup/store vs backup/raw_copy (pages/s)", "backup/store", "backup/raw_copy", "throughput",
     0.7, 1, 1),
    ("commit p99 during a backup vs without (backup/commit_during vs backup/commit_idle)",
     "backup/commit_during", "backup/commit_idle", "within", 2.0, 1, 1),
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
    ("commit p99 during a backup at 256 MiB/s vs without", "backup/commit_during_limited",
     "backup/commit_idle", "within", 1, 1),
    ("commit p99 during a raw copy of the file vs without", "backup/commit_during_raw_copy",
     "backup/commit_idle", "within", 1, 1),
]


# Indexes (index_bench), in the Indexes section: our B+tree beside LMDB and absl::btree_map, our
# hash index beside our B+tree and absl::flat_hash_map. Targets as in TARGETS; then comparisons
# without a target as in INFORMATIONAL.
INDEX_TARGETS = [
    ("btree_get/pagestore vs btree_get/lmdb (1 thread)", "btree_get/pagestore", "btree_get/lmdb",
     "throughput", 1.2, 1, 1),
    ("btree_get/pagestore vs btree_get/lmdb (2 threads)", "btree_get/pagestore", "btree_get/lmdb",
     "throughput", 1.2, 2, 2),
    ("btree_get/pagestore vs btree_get/absl_btree_map (1 thread)", "btree_get/pagestore",
     "btree_get/absl_btree_map", "throughput", 0.3, 1, 1),
    ("btree_get/pagestore vs btree_get/absl_btree_map (2 threads)", "btree_get/pagestore",
     "btree_get/absl_btree_map", "throughput", 0.3, 2, 2),
    ("btree_insert_random/pagestore vs btree_insert_random/lmdb", "btree_insert_random/pagestore",
     "btree_insert_random/lmdb", "throughput", 1.0, 1, 1),
    ("btree_scan/pagestore vs btree_scan/lmdb", "btree_scan/pagestore", "btree_scan/lmdb",
     "throughput", 1.0, 1, 1),
    ("btree_scan_reverse/pagestore vs btree_scan/pagestore", "btree_scan_reverse/pagestore",
     "btree_scan/pagestore", "throughput", 0.8, 1, 1),
    ("btree_get_large_8k/pagestore vs btree_get_large_8k/lmdb", "btree_get_large_8k/pagestore",
     "btree_get_large_8k/lmdb", "throughput", 1.0, 1, 1),
    ("btree_get_large_256k/pagestore vs btree_get_large_256k/lmdb",
     "btree_get_large_256k/pagestore", "btree_get_large_256k/lmdb", "throughput", 1.0, 1, 1),
    ("btree_put_large_8k/pagestore vs btree_put_large_8k/lmdb", "btree_put_large_8k/pagestore",
     "btree_put_large_8k/lmdb", "throughput", 1.0, 1, 1),
    ("btree_put_large_256k/pagestore vs btree_put_large_256k/lmdb",
     "btree_put_large_256k/pagestore", "btree_put_large_256k/lmdb", "throughput", 1.0, 1, 1),
    ("btree_bulk_load/pagestore vs btree_insert_random/pagestore", "btree_bulk_load/pagestore",
     "btree_insert_random/pagestore", "speedup", 5.0, 1, 1),
    ("hash_get/pagestore vs btree_get/pagestore (1 thread)", "hash_get/pagestore",
     "btree_get/pagestore", "speedup", 1.5, 1, 1),
    ("hash_get/pagestore vs btree_get/pagestore (2 threads)", "hash_get/pagestore",
     "btree_get/pagestore", "speedup", 1.5, 2, 2),
    ("hash_get/pagestore vs hash_get/absl_flat_hash_map (1 thread)", "hash_get/pagestore",
     "hash_get/absl_flat_hash_map", "throughput", 0.6, 1, 1),
    ("hash_get/pagestore vs hash_get/absl_flat_hash_map (2 threads)", "hash_get/pagestore",
     "hash_get/absl_flat_hash_map", "throughput", 0.6, 2, 2),
    ("hash_insert_random/pagestore vs btree_insert_random/pagestore",
     "hash_insert_random/pagestore", "btree_insert_random/pagestore", "throughput", 1.0, 1, 1),
    # Beyond the pool, from the device (O_DIRECT): a range scan reading ahead against the same
    # scan reading one leaf at a time.
    ("btree_scan_cold/read_ahead vs btree_scan_cold/no_read_ahead", "btree_scan_cold/read_ahead",
     "btree_scan_cold/no_read_ahead", "speedup", 3.0, 1, 1),
]


INDEX_INFORMATIONAL = [
    ("compaction of a 70%-deleted store: Store::Compact vs a full rewrite by bulk load",
     "compact/in_place", "compact/rewrite", "within", 1, 1),
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
    ("btree_multiget_cold/pagestore vs btree_get_cold/pagestore (32 keys, beyond the pool)",
     "btree_multiget_cold/pagestore", "btree_get_cold/pagestore", "speedup", 1, 1),
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
    # C in batches of 32 keys: pagestore's BTree::MultiGet and RocksDB's DB::MultiGet; LMDB,
    # SQLite and absl::btree_map have no batched lookup and read one key after another.
    ("C-multiget", "ycsb_c_multiget", "100% read, batches of 32 (MultiGet where there is one)", 1),
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
LTM_VARIANTS = ["pool_pread_direct", "pool_multiget", "pool_pread_buffered", "mmap", "pool_mmap",
                "raw_pread_direct", "fio_psync_direct", "fio_uring_direct", "fio_mmap"]

# The reads each thread of a variant keeps in flight (ltm_bench reports it as the counter
# queue_depth; fio's from its job files).
LTM_QUEUE_DEPTH = {"fio_psync_direct": 1, "fio_mmap": 1, "fio_uring_direct": 32}


LTM_TARGETS = [
    ("larger than memory: pool over pread (O_DIRECT) vs mmap manager, steady state",
     "ltm_steady/pool_pread_direct", "ltm_steady/mmap", "speedup", 1.5, None, None),
    ("larger than memory: pool over pread (O_DIRECT) vs fio psync O_DIRECT, steady state",
     "ltm_steady/pool_pread_direct", "ltm_steady/fio_psync_direct", "throughput", 0.8, None, None),
    ("larger than memory: pool batches of 32 (io_uring) vs mmap manager, steady state",
     "ltm_steady/pool_multiget", "ltm_steady/mmap", "speedup", 2.0, None, None),
    ("larger than memory: pool batches of 32 (io_uring) vs fio io_uring depth 32, steady state",
     "ltm_steady/pool_multiget", "ltm_steady/fio_uring_direct", "throughput", 0.8, None, None),
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
    ("storage", ("read_random/", "read_batch/", "read_seq/", "write_random/", "mixed70_random/",
                 "sync_1dirty/", "load_seq/", "fio/")),
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
    ("buffer", "pool hit: optimistic read", ["pool_hit/read_optimistic"], "pool_hit/raw_deref", [],
     ["pool_hit/read_optimistic vs pool_hit/raw_deref"], 1),
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
    ("index", "B+tree full scan, backward", ["btree_scan_reverse/pagestore"], None,
     ["btree_scan_reverse/lmdb"], ["btree_scan_reverse/pagestore vs btree_scan/pagestore"], 1),
    ("index", "B+tree get, 8 KiB values", ["btree_get_large_8k/pagestore"], None,
     ["btree_get_large_8k/lmdb"], ["btree_get_large_8k/pagestore vs btree_get_large_8k/lmdb"], 1),
    ("index", "B+tree get, 256 KiB values", ["btree_get_large_256k/pagestore"], None,
     ["btree_get_large_256k/lmdb"],
     ["btree_get_large_256k/pagestore vs btree_get_large_256k/lmdb"], 1),
    ("index", "B+tree put, 8 KiB values", ["btree_put_large_8k/pagestore"], None,
     ["btree_put_large_8k/lmdb"], ["btree_put_large_8k/pagestore vs btree_put_large_8k/lmdb"], 1),
    ("index", "B+tree put, 256 KiB values", ["btree_put_large_256k/pagestore"], None,
     ["btree_put_large_256k/lmdb"],
     ["btree_put_large_256k/pagestore vs btree_put_large_256k/lmdb"], 1),
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
     ["ltm_steady/fio_psync_direct"], [t[0] for t in LTM_TARGETS[:2]], None),
    ("ltm", "larger than memory: random 4 KiB reads in batches of 32 (io_uring), steady state",
     ["ltm_steady/pool_multiget"], "ltm_steady/fio_uring_direct", ["ltm_steady/mmap"],
     [t[0] for t in LTM_TARGETS[2:]], None),
]


ALL_TARGETS = {t[0]: t for t in TARGETS + WAL_TARGETS + INDEX_TARGETS + LTM_TARGETS}
