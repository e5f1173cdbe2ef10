// ycsb_bench: YCSB's core workloads A-F and durable single-key commits over our B+tree (a store
// on the pread disk manager and one on the mmap disk manager) beside LMDB, SQLite, RocksDB and
// absl::btree_map, the in-memory limit ("raw baseline") every row is read against; and durable
// commits beside raw pwrite + fdatasync, the physical limit. All in the same binary and run, so
// results read as ratios.
//
// Records: PAGESTORE_BENCH_YCSB_RECORDS (default 1000000; scripts/bench.sh sets 1M for --quick,
// 10M by default, about 20000 for a smoke run) records of 16-byte keys and 100-byte values, made
// as `pagestore bench` makes them (tools/ycsb.h, shared with tools/bench_command.cc): key i is the
// big-endian bytes of Mix(i ^ kKeyMask) then those of i (unique, spread uniformly over the key
// space), value i starts with i's eight bytes and every read checks them. Every engine compares
// keys bytewise (memcmp order), so all hold the records in the same order.
//
// Durability off (every ycsb_* row), the same guarantee on every side: each commit has reached
// the OS (written to a file or a shared mapping) before it returns, and nothing is synced, so a
// commit survives the process being killed but not a power loss. Where an engine checkpoints a
// log into its pages (ours, SQLite), it does so after every GiB of log, durable instances
// included; LMDB has no log, and RocksDB flushes memtables by its own default (64 MiB).
//
// Engines (the second part of every name):
//   pagestore_pread  Store::Open with the pread disk manager ("pread", checksums verified) and
//       one BTree; a pool of 1.25 times the records' bytes plus 256 MiB (less below 1M records)
//       for the pages inserts add (about 1.6 times the loaded tree at 10M records; the pool
//       zero-fills every frame, so all are resident), so that the whole tree stays cached and the
//       rows measure the structures, not misses (pool_hit_ratio and pool_evictions show it).
//       Transactions commit with Durability::kNone (the log is written to the OS at each commit,
//       not synced). Checkpoints run on the store's background thread every GiB of log
//       (PostgreSQL's max_wal_size default), not every 64 MiB (StoreOptions' default): at these
//       update rates that would checkpoint about every second, each rewriting the dirty pages and
//       restarting full-page images (so more log per operation: the log_bytes_per_op counter),
//       and in one process that write stream evicted the OS page cache the other engines read
//       through (SQLite's rows dropped tenfold at 10M records).
//   pagestore_mmap   the same over the mmap disk manager ("mmap"). With everything in the pool
//       the disk manager only sees checkpoints, so the two rows should agree; a gap between them
//       is a finding.
//   lmdb             an environment with MDB_NOSYNC | MDB_NOMETASYNC (no fsync at commit) and
//       MDB_NOTLS, a map four times the records' bytes plus 1 GiB.
//   sqlite           SQLite: one table (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID (a B+tree keyed
//       by k, as ours), journal_mode=WAL, synchronous=OFF (no fsync at commit), mmap_size=0,
//       cache_size twice the records' bytes, page_size 4096, secure_delete=OFF (upstream's
//       default; Debian builds with it on), wal_autocheckpoint = 262144 pages (1 GiB of 4 KiB
//       pages, our stores' checkpoint interval, instead of SQLite's default of 1000 pages: SQLite
//       runs its checkpoint inside the commit that crosses the mark, so it is timed, as our
//       background checkpoints take time from the same two cores), prepared statements, one
//       connection per benchmark thread (SQLITE_OPEN_NOMUTEX; SQLite's rule), a busy handler that
//       yields and retries. A SQLite commit appends whole 4 KiB page frames to the WAL, so 1 GiB
//       of it is about 260000 single-row commits, while ours logged about 0.4 KB per YCSB-A
//       operation at 1M records: counted in operations, SQLite still checkpoints about ten times
//       as often as ours.
//       Note: in WAL mode a connection that finds the database changed by another connection
//       drops its whole page cache when its next read transaction starts (pager.c), so at two
//       threads with writes (ycsb_b/threads:2) reads of this engine go to the OS page cache
//       often; that is SQLite's cost of sharing a file between connections, not a setup error.
//   sqlite_mmap      the same with mmap_size = 64 GiB (SQLite clamps it to its compile-time
//       SQLITE_MAX_MMAP_SIZE, 2 GiB in Debian's build; stderr says so when the file is larger).
//   rocksdb          RocksDB with the WAL on and WriteOptions::sync false (durability off: each
//       write appended to the WAL and handed to the OS, not synced, as the others' commits; the
//       untimed load alone runs with WriteOptions::disableWAL, then flushes), an LRU block cache
//       of twice the records' bytes, a 10-bit bloom filter, no compression (none of the others
//       compresses; our values compress well), default compaction and memtable otherwise.
//   absl_btree_map   absl::btree_map<std::string, std::string> under one absl::Mutex (shared
//       for reads, exclusive for writes): the in-memory limit.
//
// Loading (untimed; the load_s counter on each of the engine's rows): in key order, as each
// engine loads sorted data fastest: BTree::BulkLoad at fill 1.0 then a checkpoint (ours); mdb_put
// with MDB_APPEND in transactions of 100000 (LMDB, whose pages that leaves full); INSERTs in
// transactions of 10000 then wal_checkpoint(TRUNCATE) (SQLite); WriteBatches of 1000, a flush
// and waiting for every compaction to finish (RocksDB); emplace_hint at the end (absl). Then one
// full ordered scan of every engine (untimed) checks that it holds exactly records 0..R-1, each
// key with its value, and leaves its cache warm (our pool, LMDB's and SQLite's mappings,
// SQLite's page cache, RocksDB's block cache). Every engine a selected benchmark uses (matched
// against --benchmark_filter as Google Benchmark matches it; the durable instances and the
// raw_fdatasync file too) is loaded in main before the first benchmark runs, then one sync(2)
// writes back the dirty page cache all the loads left (LMDB's unsynced pages, SQLite's database,
// RocksDB's files...) so that no engine's load is written back during another's timed run, then
// one more untimed full scan of each re-warms the caches the later loads may have pushed out.
// Engines stay open until exit, so benchmarks of different engines can run interleaved
// (--benchmark_enable_random_interleaving). (Should a benchmark's engine have escaped that
// selection, its setup loads it at its first run, as stderr says.)
//
// Benchmarks. Each iteration is one operation; items are operations per second of wall time
// (of all threads); every name has /real_time/threads:N.
//   ycsb_{a..f}/<engine>  (1 thread; ycsb_b and ycsb_c also at 2) YCSB's core workloads:
//       A 50% read / 50% update, B 95/5, C 100% read, D 95% read / 5% insert (reads favour the
//       newest records: YCSB's "latest"), E 95% scan of 1-100 records (uniform) / 5% insert,
//       F 50% read / 50% read-modify-write. Records are drawn by YCSB's scrambled zipfian
//       (constant 0.99) over the R loaded records (E: over R + R/16 slots, the slots of records
//       not inserted yet redrawn), as `pagestore bench` draws them. Inserts take record numbers
//       R, R+1... from one counter per engine that lives across runs, so reads of the newest
//       records always find them. Each thread has its own std::mt19937_64 seeded by
//       PAGESTORE_BENCH_SEED, the benchmark's full name (e.g. ycsb_b/lmdb/real_time/threads:2),
//       how many runs of that name came before (Google Benchmark 1.7 exposes no repetition index;
//       it calls the setup once per run, the runs that size the iteration count included) and
//       the thread: the k-th run of a benchmark draws the same operations whatever other
//       benchmarks the interleaving put before it. (Which records D's "latest" reads and E's
//       scans find still depends on how many records the engine's earlier runs inserted.)
//       Each operation is its own transaction, as an engine serving single-key requests runs it,
//       except where an engine has no read transactions:
//         read     ours: BTree::Get into a reused string, outside any transaction (BTree::Get
//                  takes none; the store has no read transactions or snapshots and leaves
//                  isolation to an engine above it, so a read is a latched lookup of the leaf
//                  that sees the latest change, committed or not); lmdb: mdb_get in the thread's
//                  read transaction, renewed before and reset after (a snapshot of the latest
//                  commit); sqlite: the prepared SELECT in autocommit (its own read transaction
//                  on a WAL snapshot); rocksdb: DB::Get into a PinnableSlice (no transaction; an
//                  implicit snapshot at the latest sequence number); absl: find under the shared
//                  lock, the value copied out.
//         update   ours: Store::Begin, BTree::Put, Commit(kNone); lmdb: a write transaction with
//                  one mdb_put; sqlite: the prepared UPDATE in autocommit (one row changed);
//                  rocksdb: DB::Put (a blind write: an LSM does not look first); absl: find and
//                  assign under the exclusive lock.
//         insert   as update, but BTree::Insert, mdb_put(MDB_NOOVERWRITE), INSERT (each failing
//                  on an existing key); rocksdb: DB::Put; absl: emplace.
//         scan     ours: BTree::Scan from the key (no transaction either: one leaf latched at a
//                  time, not a snapshot); lmdb: a cursor (MDB_SET_RANGE, MDB_NEXT) in the renewed
//                  read transaction; sqlite: SELECT k, v WHERE k >= ? ORDER BY k LIMIT n;
//                  rocksdb: a new iterator (an implicit snapshot), Seek, Next; absl: lower_bound
//                  under the shared lock.
//                  Every side reads a byte of each key and value, and the first record is
//                  checked like a read.
//         read-modify-write  ours: Begin, BTree::Get, Put, Commit: the Get is not part of the
//                  write transaction (it takes none, as above) and nothing stops another
//                  writer between it and the Put; lmdb: mdb_get and mdb_put in one write
//                  transaction (LMDB's single writer: the read is isolated); sqlite: the SELECT,
//                  then the UPDATE, each in autocommit (as YCSB's JDBC binding: the read outside
//                  the write); rocksdb: Get, then Put (no transaction); absl: find and assign
//                  under the exclusive lock (isolated). So only lmdb's and absl's RMW is atomic;
//                  at one thread (F runs at one) none of them meets a concurrent writer.
//       Every read checks the value it got (its record's number) and a mismatch, a record not
//       found or any error stops the benchmark with SkipWithError: never a measurement of garbage.
//   durable_commit/<engine>  for pagestore_pread, pagestore_mmap, lmdb, sqlite and rocksdb: one
//       single-key update (a uniformly random record) committed durably per iteration: ours
//       Durability::kSync (the log fdatasynced); LMDB without MDB_NOSYNC/MDB_NOMETASYNC (data
//       and meta page synced: its default); SQLite synchronous=FULL in WAL mode (the WAL synced
//       at every commit); RocksDB with the WAL on and WriteOptions::sync. These are separate,
//       smaller instances (min(R, 100000) records, loaded as above with durability off, then
//       synced once) under PAGESTORE_BENCH_DIR, so the disk under test is that directory's.
//       Their checkpoints follow the same rule as everywhere: every GiB of log (ours) or
//       262144 WAL pages (SQLite), more than these short durable runs write.
//   durable_commit/raw_fdatasync  the physical limit: a 4 KiB pwrite at a uniformly random page
//       of a pre-zeroed, fdatasync'd 64 MiB file, then fdatasync.
//   Each durable iteration's latency (steady_clock around the commit) goes into a histogram of
//   the run; counters p50_us, p90_us, p99_us, p999_us and max_us (microseconds).
//
// Counters: load_s (seconds the engine's untimed load, sync and check took; not the shared
// sync(2) nor the re-warming scan after all the loads, which stderr reports) and db_mib (MiB of
// its data files right after: our page file's pages, LMDB's data.mdb, SQLite's database, RocksDB's
// directory) on every row of an engine; on ours pool_hit_ratio (buffer pool hits over hits and
// misses during the run; below 1 only where inserts allocate pages), pool_evictions (0 when the
// pool holds everything) and log_bytes_per_op (log appended per operation, all threads'); the
// latency percentiles on durable_commit rows. Counters are set by thread 0 only (Google
// Benchmark sums threads' counters).
//
// Files: everything lives in PAGESTORE_BENCH_DIR (default /tmp) / pagestore_ycsb_bench_<pid>,
// created at start and deleted with its contents at exit or on SIGINT/SIGTERM/SIGHUP.
// Other knobs (environment): PAGESTORE_BENCH_SEED (default 42).
//
// Memory: every engine stays resident to the end. Measured peaks (/usr/bin/time -v): 2.2 GB RSS
// at 1M records, 14.4 GB at 10M, of which 9.0 GB anonymous (our two pools, SQLite's
// page caches, RocksDB's block cache, the absl map, the pairs BulkLoad takes while it runs) and
// 5.1 GB file pages mapped by our mmap store, LMDB and sqlite_mmap (each SQLite connection maps
// the file, so those pages count twice); the page cache of the other files comes on top but is
// reclaimable. Times on a shared two-core machine: a default run (10M records, min_time 0.3,
// three repetitions, interleaved) took 4 minutes, 2.5 of them loading (measured before the loads
// moved ahead of the runs, which adds a sync and a scan of every engine); --quick (1M, min_time
// 0.1) 42 seconds, about 11 of them loading, syncing and re-warming; a smoke run (20000 records,
// min_time 0.01, one repetition) 2 seconds.
//
// Code: this file registers the benchmarks and loads what the selected ones need before the runs;
// ycsb_driver.{h,cc} hold the settings, the engine table, loading and checking, the generators
// and each benchmark's loop and counters; every engine is one file in engines/ behind the one
// interface of engines/engine.h (pagestore.cc: pagestore_pread and pagestore_mmap; lmdb.cc;
// sqlite.cc: sqlite and sqlite_mmap; rocksdb.cc; absl_btree_map.cc).
#include <fmt/format.h>
#include <lmdb.h>
#include <rocksdb/version.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/engines/engine.h"
#include "benchmarks/ycsb_driver.h"
#include "tools/ycsb.h"

namespace pagestore::bench {
namespace {

template <int kEngine, int kWorkload>
void SetUpYcsb(const benchmark::State& state) {
  CountRun(InstanceName(YcsbFamily(kEngine, kWorkload), state.threads()));
  EnsureLoaded(EngineId(kEngine), false, true);
}
template <int kEngine>
void SetUpDurable(const benchmark::State& state) {
  CountRun(InstanceName(DurableFamily(kEngine), state.threads()));
  EnsureLoaded(EngineId(kEngine), true, true);
}

template <int kEngine, int kWorkload>
void Ycsb(benchmark::State& state) {
  RunWorkload(state, InstanceName(YcsbFamily(kEngine, kWorkload), state.threads()),
              *LoadedEngine(EngineId(kEngine), false), *ycsb::FindWorkload(kYcsbNames[kWorkload]));
}

template <int kEngine>
void DurableCommit(benchmark::State& state) {
  RunDurableCommit(state, InstanceName(DurableFamily(kEngine), state.threads()),
                   *LoadedEngine(EngineId(kEngine), true));
}

void SetUpRawSync(const benchmark::State& state) {
  CountRun(InstanceName(kRawFamily, state.threads()));
  MakeRawSyncFile();
}

// ---------------------------------------------------------------------------------------------
// Registration and shutdown.

// Every registered benchmark's full name and what it needs loaded, for LoadBeforeRuns.
struct Planned {
  std::string name;
  int engine;  // an EngineId, or -1: the raw_fdatasync file
  bool durable;
};
std::vector<Planned>& PlannedRuns() {
  static auto* planned = new std::vector<Planned>();
  return *planned;
}

template <int kEngine, int kWorkload>
void RegisterYcsb() {
  const std::string family = YcsbFamily(kEngine, kWorkload);
  benchmark::internal::Benchmark* b =
      Register(family.c_str(), Ycsb<kEngine, kWorkload>, SetUpYcsb<kEngine, kWorkload>)
          ->UseRealTime();
  b->Threads(1);
  PlannedRuns().push_back({InstanceName(family, 1), kEngine, false});
  // B and C (reads with few or no writes) also at two threads.
  if (kWorkload == 1 || kWorkload == 2) {
    b->Threads(2);
    PlannedRuns().push_back({InstanceName(family, 2), kEngine, false});
  }
}

template <int kWorkload, std::size_t... kEngine>
void RegisterWorkload(std::index_sequence<kEngine...>) {
  (RegisterYcsb<static_cast<int>(kEngine), kWorkload>(), ...);
}

template <std::size_t... kWorkload>
void RegisterWorkloads(std::index_sequence<kWorkload...>) {
  (RegisterWorkload<static_cast<int>(kWorkload)>(std::make_index_sequence<kEngines>()), ...);
}

template <int kEngine>
void RegisterDurable() {
  if constexpr (kHasDurable[kEngine]) {
    const std::string family = DurableFamily(kEngine);
    Register(family.c_str(), DurableCommit<kEngine>, SetUpDurable<kEngine>)
        ->UseRealTime()
        ->Threads(1)
        ->Unit(benchmark::kMicrosecond);
    PlannedRuns().push_back({InstanceName(family, 1), kEngine, true});
  }
}

template <std::size_t... kEngine>
void RegisterDurables(std::index_sequence<kEngine...>) {
  (RegisterDurable<static_cast<int>(kEngine)>(), ...);
}

void RegisterAll() {
  RegisterWorkloads(std::make_index_sequence<kYcsbNames.size()>());
  RegisterDurables(std::make_index_sequence<kEngines>());
  Register(kRawFamily, RunDurableRaw, SetUpRawSync)
      ->UseRealTime()
      ->Threads(1)
      ->Unit(benchmark::kMicrosecond);
  PlannedRuns().push_back({InstanceName(kRawFamily, 1), -1, true});
}

// Loads every engine a selected benchmark needs (--benchmark_filter applied as Google Benchmark
// 1.7 applies it: an extended regex searched in the full name, "all" or empty for every one, a
// leading '-' negating; a filter std::regex cannot parse loads everything), then syncs once and
// re-warms every engine's caches with one more full scan. All untimed, before any run.
void LoadBeforeRuns() {
  std::string spec = benchmark::GetBenchmarkFilter();
  if (spec.empty() || spec == "all") spec = ".";
  bool negative = false;
  if (spec[0] == '-') {
    spec.erase(0, 1);
    negative = true;
  }
  std::optional<std::regex> re;
  try {
    re.emplace(spec, std::regex::extended | std::regex::nosubs);
  } catch (const std::regex_error&) {
    std::fprintf(stderr, "ycsb_bench: cannot parse the filter %s: loading every engine\n",
                 spec.c_str());
  }
  std::array<bool, kEngines> fast{}, durable{};
  bool raw = false;
  for (const Planned& p : PlannedRuns()) {
    if (re && std::regex_search(p.name, *re) == negative) continue;
    if (p.engine < 0) {
      raw = true;
    } else {
      (p.durable ? durable : fast)[p.engine] = true;
    }
  }
  for (int id = 0; id < kEngines; ++id) {
    if (fast[id]) EnsureLoaded(EngineId(id), false, false);
  }
  for (int id = 0; id < kEngines; ++id) {
    if (durable[id]) EnsureLoaded(EngineId(id), true, false);
  }
  if (raw) MakeRawSyncFile();
  auto t0 = Clock::now();
  ::sync();  // the loads' dirty pages written back now, not inside some other engine's run
  const double sync_s = SecondsSince(t0);
  t0 = Clock::now();
  for (const bool durable : {false, true}) {
    for (int id = 0; id < kEngines; ++id) {
      Engine* e = LoadedEngine(EngineId(id), durable);
      if (e == nullptr) continue;
      std::uint64_t seen = 0;
      Check(e->ScanAll([&](std::string_view, std::string_view value) {
        seen += value.size() == kValueSize;
        return absl::OkStatus();
      }),
            fmt::format("re-warm {}", e->name()));
      if (seen != e->records)
        Die(fmt::format("{}: the re-warming scan saw {} records of {}", e->name(), seen,
                        e->records));
    }
  }
  std::fprintf(stderr, "ycsb_bench: after the loads: sync %.1f s, re-warming scans %.1f s\n",
               sync_s, SecondsSince(t0));
}

void Shutdown() {
  CloseEngines();
  bench::RemoveTempRoot(GetYcsbConfig().root);
}

}  // namespace

Program ThisProgram() {
  return {
      .start = [] { MakeTempRoot(GetYcsbConfig().root); },
      .context =
          [] {
            const YcsbConfig& c = GetYcsbConfig();
            return Context()
                .Add("pagestore_bench_dir", c.dir.string())
                .Add("pagestore_bench_ycsb_records", c.records)
                .Add("pagestore_bench_ycsb_durable_records", c.durable_records)
                .Add("pagestore_bench_seed", c.seed)
                .Add("lmdb_version", MDB_VERSION_STRING)
                .Add("sqlite_version", sqlite3_libversion())
                .Add("rocksdb_version",
                     fmt::format("{}.{}.{}", ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH));
          },
      .register_benchmarks = RegisterAll,
      .before_runs = LoadBeforeRuns,
      .finish =
          [] {
            Shutdown();
            return true;
          },
  };
}

}  // namespace pagestore::bench
