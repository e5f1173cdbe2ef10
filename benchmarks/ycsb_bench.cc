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
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <lmdb.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <sched.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"
#include "index/btree.h"
#include "storage/disk_manager.h"
#include "storage/page.h"
#include "tools/ycsb.h"
#include "wal/store.h"

namespace pagestore {

using bench::Check;
using bench::Die;
using bench::EnvUint;
using bench::Fail;
using bench::Register;
using ycsb::kKeySize;
using ycsb::OpKind;
using enum ycsb::OpKind;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kValueSize = 100;
constexpr int kMaxThreads = 2;                        // the most threads any benchmark runs
constexpr std::uint64_t kDurableRecords = 100000;     // durable instances: min(R, this)
constexpr std::uint64_t kLmdbLoadTxn = 100000;        // MDB_APPEND puts per load transaction
constexpr std::uint64_t kSqliteLoadTxn = 10000;       // INSERTs per load transaction
constexpr std::uint64_t kRocksLoadBatch = 1000;       // puts per load WriteBatch
constexpr std::uint64_t kRawSyncBytes = 64ull << 20;  // raw_fdatasync's file
constexpr std::size_t kRawSyncBlock = 4096;
constexpr std::uint64_t kCheckpointBytes = 1ull << 30;  // every store's checkpoint interval
// SQLite's wal_autocheckpoint (in pages of its 4 KiB page_size): the same GiB.
constexpr std::uint64_t kSqliteAutocheckpointPages = kCheckpointBytes / 4096;

// ---------------------------------------------------------------------------------------------
// Configuration and records.

struct Config {
  fs::path dir;   // PAGESTORE_BENCH_DIR
  fs::path root;  // this process's directory under it
  std::uint64_t records;
  std::uint64_t durable_records;
  std::uint64_t seed;
};

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    const char* dir = std::getenv("PAGESTORE_BENCH_DIR");
    c.dir = (dir != nullptr && *dir != '\0') ? dir : "/tmp";
    c.root = c.dir / fmt::format("pagestore_ycsb_bench_{}", ::getpid());
    c.records = std::max<std::uint64_t>(100, EnvUint("PAGESTORE_BENCH_YCSB_RECORDS", 1000000));
    c.durable_records = std::min(c.records, kDurableRecords);
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    return c;
  }();
  return config;
}

// The records' key and value bytes, with room for the inserts: what the caches are sized by.
std::uint64_t DataBytes(std::uint64_t records) {
  return (records + records / 8) * (kKeySize + kValueSize);
}

// Record numbers 0..n-1 in key order.
std::vector<std::uint64_t> SortedIds(std::uint64_t n) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_prefix(n);
  for (std::uint64_t i = 0; i < n; ++i) by_prefix[i] = {ycsb::Mix(i ^ ycsb::kKeyMask), i};
  std::sort(by_prefix.begin(), by_prefix.end());
  std::vector<std::uint64_t> ids(n);
  for (std::uint64_t k = 0; k < n; ++k) ids[k] = by_prefix[k].second;
  return ids;
}

const std::vector<std::uint64_t>& SortedIdsCached(std::uint64_t n) {
  static const std::vector<std::uint64_t>* all = nullptr;
  static const std::vector<std::uint64_t>* durable = nullptr;
  const std::vector<std::uint64_t>*& slot = n == GetConfig().records ? all : durable;
  if (slot == nullptr) slot = new std::vector<std::uint64_t>(SortedIds(n));
  if (slot->size() != n) Die(fmt::format("SortedIdsCached({}): cached {}", n, slot->size()));
  return *slot;
}

std::string Value(std::uint64_t id) {
  std::string v;
  ycsb::MakeValue(id, 0, kValueSize, &v);
  return v;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::uint64_t DirectoryBytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  std::uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) total += it->file_size(e2);
  }
  return total;
}

void MakeDirectory(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) Die(fmt::format("{}: cannot create: {}", p.string(), ec.message()));
}

absl::Status NotFound(std::string_view engine, std::string_view key) {
  const std::optional<std::uint64_t> id = ycsb::RecordOf(key);
  return absl::NotFoundError(fmt::format("{}: record {} not found", engine, id ? *id : ~0ull));
}

absl::Status WrongValue(std::string_view engine, std::uint64_t id, std::size_t size) {
  return absl::DataLossError(
      fmt::format("{}: record {}: the {}-byte value read does not start with the record's number",
                  engine, id, size));
}

// Checks one record read back: its value (of kValueSize bytes) starts with its number.
inline absl::Status CheckRead(std::string_view engine, std::uint64_t id, const void* data,
                              std::size_t size) {
  if (size == kValueSize &&
      ycsb::ValueHasRecord(id, std::string_view(static_cast<const char*>(data), size))) [[likely]] {
    return absl::OkStatus();
  }
  return WrongValue(engine, id, size);
}

// ---------------------------------------------------------------------------------------------
// The engine interface.

// One thread's handle on an engine (a SQLite connection, an LMDB read transaction...), made in
// the benchmark thread at the start of each run. Every operation is its own transaction.
// Thread safety: belongs to the thread that made it.
class Session {
 public:
  virtual ~Session() = default;
  // Reads record `id` (key `key`) and checks its value.
  virtual absl::Status Read(std::string_view key, std::uint64_t id) = 0;
  // Replaces an existing record's value (NotFoundError if absent, where the engine can tell).
  virtual absl::Status Update(std::string_view key, std::string_view value) = 0;
  // Adds a record (AlreadyExistsError if present, where the engine can tell).
  virtual absl::Status Insert(std::string_view key, std::string_view value) = 0;
  // Reads up to `n` records from `key` on, checking the first is record `id`.
  virtual absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) = 0;
  // Reads record `id`, checks it, writes `value`.
  virtual absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                       std::string_view value) = 0;
};

// A loaded engine. Sessions of different threads may run at once; the engine outlives them.
class Engine {
 public:
  explicit Engine(std::string name) : name_(std::move(name)) {}
  virtual ~Engine() = default;
  const std::string& name() const { return name_; }

  // Thread `thread` (< kMaxThreads)'s session.
  virtual absl::StatusOr<std::unique_ptr<Session>> NewSession(int thread) = 0;
  // Loads the sorted records (ids in key order), durability off.
  virtual absl::Status Load(const std::vector<std::uint64_t>& sorted_ids) = 0;
  // After the load: makes everything durable (durable instances switch to full sync here).
  virtual absl::Status FinishLoad() { return absl::OkStatus(); }
  // One ordered pass over every record: calls visit(key, value) for each.
  virtual absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) = 0;
  // The bytes of its files holding data (not counting space reserved ahead: our log segments and
  // mmap growth).
  virtual std::uint64_t FileBytes(const fs::path& dir) const { return DirectoryBytes(dir); }
  // Called by thread 0 around a run: counters of the engine's own (pool hit ratio).
  virtual void StartRun() {}
  virtual void EndRun(benchmark::State&) {}

  double load_seconds = 0;
  double db_mib = 0;
  // Inserted records' numbers, from R on; shared by every run of this engine.
  std::unique_ptr<ycsb::InsertCounter> inserts;
  std::uint64_t records = 0;

 private:
  std::string name_;
};

// ---------------------------------------------------------------------------------------------
// pagestore.

class PagestoreEngine final : public Engine {
 public:
  PagestoreEngine(std::string name, fs::path dir, std::string_view disk_spec, bool durable,
                  std::uint64_t records)
      : Engine(std::move(name)), dir_(std::move(dir)) {
    MakeDirectory(dir_);
    StoreOptions o;
    absl::StatusOr<DiskManagerOptions> disk = ParseDiskManagerSpec(disk_spec);
    Check(disk.status(), fmt::format("disk spec {}", disk_spec));
    o.disk = *disk;
    // The pool zero-fills its frames at open, so all are resident: 1.25 times the records'
    // bytes (with the inserts' room) is about 1.4 times the loaded tree, and 256 MiB more for the
    // pages inserts add (the tree is loaded full, so at first nearly every insert splits a leaf;
    // less for small stores; durable instances only update).
    const std::uint64_t split_room =
        durable ? (16 << 20)
                : std::clamp<std::uint64_t>(2 * DataBytes(records), 16 << 20, 256 << 20);
    o.pool_frames = static_cast<std::size_t>((DataBytes(records) * 5 / 4 + split_room) / kPageSize);
    o.durability = durable ? Durability::kSync : Durability::kNone;
    // A checkpoint per GiB of log (PostgreSQL's max_wal_size default; SQLite gets the same in
    // pages) rather than StoreOptions' 64 MiB, which at these update rates checkpoints about
    // every second: each rewrites the dirty pages and restarts full-page images (more log per
    // operation), and in one process that write stream evicts the OS page cache the other
    // engines read through.
    o.checkpoint_interval_bytes = kCheckpointBytes;
    o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
    const fs::path path = dir_ / "pages";
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, o);
    Check(store.status(), fmt::format("open the store {}", path.string()));
    store_ = std::move(*store);
    absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Create(*store_);
    Check(tree.status(), fmt::format("create a B+tree in {}", path.string()));
    tree_ = std::move(*tree);
  }
  ~PagestoreEngine() override {
    tree_.reset();
    if (absl::Status s = store_->Close(); !s.ok()) {
      std::fprintf(stderr, "ycsb_bench: closing %s: %s\n", dir_.c_str(), s.ToString().c_str());
    }
  }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    std::vector<std::pair<std::string, std::string>> pairs(ids.size());
    for (std::size_t k = 0; k < ids.size(); ++k) {
      pairs[k] = {std::string(ycsb::MakeKey(ids[k]).view()), Value(ids[k])};
    }
    // As full as LMDB's MDB_APPEND pages.
    if (absl::Status s = tree_->BulkLoad(pairs, 1.0); !s.ok()) return s;
    return store_->Checkpoint();  // the pages to the file, the load's log let go
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    BTree::Iterator it = tree_->Begin();
    for (; it.Valid(); it.Next()) {
      if (absl::Status s = visit(it.key(), it.value()); !s.ok()) return s;
    }
    return it.status();
  }

  std::uint64_t FileBytes(const fs::path&) const override {
    return store_->pool().page_count() * kPageSize;
  }

  void StartRun() override {
    before_ = store_->pool().stats();
    log_before_ = store_->log_stats().bytes_appended;
  }
  void EndRun(benchmark::State& state) override {
    const BufferPoolStats after = store_->pool().stats();
    const double hits = static_cast<double>(after.hits - before_.hits);
    const double misses = static_cast<double>(after.misses - before_.misses);
    state.counters["pool_hit_ratio"] = hits + misses > 0 ? hits / (hits + misses) : 1.0;
    state.counters["pool_evictions"] = static_cast<double>(after.evictions - before_.evictions);
    // Over every thread's operations (thread 0's count times the threads: they share the time).
    const double ops = static_cast<double>(state.iterations()) * state.threads();
    state.counters["log_bytes_per_op"] =
        ops > 0 ? static_cast<double>(store_->log_stats().bytes_appended - log_before_) / ops : 0;
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    return std::make_unique<OurSession>(*this);
  }

 private:
  class OurSession final : public Session {
   public:
    explicit OurSession(PagestoreEngine& e) : e_(e) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override {
      absl::Status s = e_.tree_->Get(key, &value_);
      if (!s.ok()) [[unlikely]] {
        return absl::IsNotFound(s) ? NotFound(e_.name(), key) : s;
      }
      return CheckRead(e_.name(), id, value_.data(), value_.size());
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      return WriteOne(key, value, false);
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return WriteOne(key, value, true);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      BTree::Iterator it = e_.tree_->Scan(key);
      if (!it.Valid() || it.key() != key) [[unlikely]] {
        return it.status().ok() ? NotFound(e_.name(), key) : it.status();
      }
      if (absl::Status s = CheckRead(e_.name(), id, it.value().data(), it.value().size());
          !s.ok()) {
        return s;
      }
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && it.Valid(); ++i, it.Next()) {
        sum += static_cast<unsigned char>(it.key()[kKeySize - 1]) +
               static_cast<unsigned char>(it.value()[it.value().size() - 1]);
      }
      benchmark::DoNotOptimize(sum);
      return it.status();
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = e_.store_->Begin();
      if (!txn.ok()) return txn.status();
      if (absl::Status s = Read(key, id); !s.ok()) return s;
      if (absl::Status s = e_.tree_->Put(txn->get(), key, value); !s.ok()) return s;
      return (*txn)->Commit();
    }

   private:
    // One write in its own transaction, committed with the store's durability.
    absl::Status WriteOne(std::string_view key, std::string_view value, bool insert) {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = e_.store_->Begin();
      if (!txn.ok()) return txn.status();
      absl::Status s =
          insert ? e_.tree_->Insert(txn->get(), key, value) : e_.tree_->Put(txn->get(), key, value);
      if (!s.ok()) return s;
      return (*txn)->Commit();
    }

    PagestoreEngine& e_;
    std::string value_;  // reused: no allocation per read
  };

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BTree> tree_;
  BufferPoolStats before_;  // thread 0's, between StartRun and EndRun
  std::uint64_t log_before_ = 0;
};

// ---------------------------------------------------------------------------------------------
// LMDB.

absl::Status MdbError(const fs::path& dir, std::string_view what, int rc) {
  return absl::InternalError(fmt::format("lmdb {}: {}: {}", dir.string(), what, mdb_strerror(rc)));
}

class LmdbEngine final : public Engine {
 public:
  LmdbEngine(std::string name, fs::path dir, bool durable, std::uint64_t records)
      : Engine(std::move(name)), dir_(std::move(dir)), durable_(durable) {
    MakeDirectory(dir_);
    auto check = [&](int rc, std::string_view what) {
      if (rc != MDB_SUCCESS) Die(MdbError(dir_, what, rc).ToString());
    };
    check(mdb_env_create(&env_), "mdb_env_create");
    check(
        mdb_env_set_mapsize(env_, static_cast<std::size_t>(4 * DataBytes(records) + (1ull << 30))),
        "mdb_env_set_mapsize");
    check(mdb_env_set_maxreaders(env_, 64), "mdb_env_set_maxreaders");
    // Loaded without syncs; a durable instance turns them on in FinishLoad. MDB_NOTLS: a read
    // transaction belongs to its MDB_txn, not to the thread that began it.
    check(mdb_env_open(env_, dir_.c_str(), MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, 0644),
          "mdb_env_open");
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  ~LmdbEngine() override { mdb_env_close(env_); }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    std::string value;
    for (std::size_t k = 0; k < ids.size();) {
      MDB_txn* txn;
      if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != MDB_SUCCESS) {
        return MdbError(dir_, "mdb_txn_begin", rc);
      }
      for (std::uint64_t n = 0; n < kLmdbLoadTxn && k < ids.size(); ++n, ++k) {
        const ycsb::Key key = ycsb::MakeKey(ids[k]);
        ycsb::MakeValue(ids[k], 0, kValueSize, &value);
        MDB_val mk{kKeySize, const_cast<char*>(key.bytes)}, mv{value.size(), value.data()};
        if (int rc = mdb_put(txn, dbi_, &mk, &mv, MDB_APPEND); rc != MDB_SUCCESS) {
          mdb_txn_abort(txn);
          return MdbError(dir_, "mdb_put(MDB_APPEND)", rc);
        }
      }
      if (int rc = mdb_txn_commit(txn); rc != MDB_SUCCESS) {
        return MdbError(dir_, "mdb_txn_commit", rc);
      }
    }
    return absl::OkStatus();
  }

  absl::Status FinishLoad() override {
    if (!durable_) return absl::OkStatus();
    // LMDB's default: the data and then the meta page synced at every commit.
    if (int rc = mdb_env_set_flags(env_, MDB_NOSYNC | MDB_NOMETASYNC, 0); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_env_set_flags", rc);
    }
    if (int rc = mdb_env_sync(env_, 1); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_env_sync", rc);
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    MDB_txn* txn;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_txn_begin", rc);
    }
    MDB_cursor* cur;
    if (int rc = mdb_cursor_open(txn, dbi_, &cur); rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return MdbError(dir_, "mdb_cursor_open", rc);
    }
    absl::Status s;
    MDB_val k, v;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && s.ok();
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      s = visit(std::string_view(static_cast<const char*>(k.mv_data), k.mv_size),
                std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (s.ok() && rc != MDB_NOTFOUND) s = MdbError(dir_, "mdb_cursor_get", rc);
    return s;
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    auto session = std::make_unique<LmdbSession>(*this);
    if (absl::Status s = session->Open(); !s.ok()) return s;
    return session;
  }

 private:
  class LmdbSession final : public Session {
   public:
    explicit LmdbSession(LmdbEngine& e) : e_(e) {}
    ~LmdbSession() override {
      if (cursor_ != nullptr) mdb_cursor_close(cursor_);
      if (read_ != nullptr) mdb_txn_abort(read_);
    }
    // The thread's read transaction and cursor, reset until a read renews them.
    absl::Status Open() {
      if (int rc = mdb_txn_begin(e_.env_, nullptr, MDB_RDONLY, &read_); rc != MDB_SUCCESS) {
        read_ = nullptr;
        return MdbError(e_.dir_, "mdb_txn_begin(MDB_RDONLY)", rc);
      }
      if (int rc = mdb_cursor_open(read_, e_.dbi_, &cursor_); rc != MDB_SUCCESS) {
        cursor_ = nullptr;
        return MdbError(e_.dir_, "mdb_cursor_open", rc);
      }
      mdb_txn_reset(read_);
      return absl::OkStatus();
    }

    absl::Status Read(std::string_view key, std::uint64_t id) override {
      if (int rc = mdb_txn_renew(read_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_renew", rc);
      }
      absl::Status s = Get(read_, key, id);
      mdb_txn_reset(read_);
      return s;
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      return Write(key, value, 0, std::nullopt);
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return Write(key, value, MDB_NOOVERWRITE, std::nullopt);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      if (int rc = mdb_txn_renew(read_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_renew", rc);
      }
      absl::Status s = ScanIn(key, id, n);
      mdb_txn_reset(read_);
      return s;
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      return Write(key, value, 0, id);
    }

   private:
    absl::Status Get(MDB_txn* txn, std::string_view key, std::uint64_t id) {
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      const int rc = mdb_get(txn, e_.dbi_, &k, &v);
      if (rc != MDB_SUCCESS) [[unlikely]] {
        return rc == MDB_NOTFOUND ? NotFound(e_.name(), key) : MdbError(e_.dir_, "mdb_get", rc);
      }
      return CheckRead(e_.name(), id, v.mv_data, v.mv_size);
    }
    absl::Status ScanIn(std::string_view key, std::uint64_t id, std::uint64_t n) {
      if (int rc = mdb_cursor_renew(read_, cursor_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_cursor_renew", rc);
      }
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      int rc = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
      if (rc != MDB_SUCCESS ||
          std::string_view(static_cast<const char*>(k.mv_data), k.mv_size) != key) [[unlikely]] {
        return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? NotFound(e_.name(), key)
                                                       : MdbError(e_.dir_, "mdb_cursor_get", rc);
      }
      if (absl::Status s = CheckRead(e_.name(), id, v.mv_data, v.mv_size); !s.ok()) return s;
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && rc == MDB_SUCCESS; ++i) {
        sum += static_cast<const unsigned char*>(k.mv_data)[kKeySize - 1] +
               static_cast<const unsigned char*>(v.mv_data)[v.mv_size - 1];
        rc = mdb_cursor_get(cursor_, &k, &v, MDB_NEXT);
      }
      benchmark::DoNotOptimize(sum);
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return MdbError(e_.dir_, "MDB_NEXT", rc);
      return absl::OkStatus();
    }
    // One write transaction: (a checked read of record *read_id,) one mdb_put, the commit.
    absl::Status Write(std::string_view key, std::string_view value, unsigned flags,
                       std::optional<std::uint64_t> read_id) {
      MDB_txn* txn;
      if (int rc = mdb_txn_begin(e_.env_, nullptr, 0, &txn); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_begin", rc);
      }
      if (read_id) {
        if (absl::Status s = Get(txn, key, *read_id); !s.ok()) {
          mdb_txn_abort(txn);
          return s;
        }
      }
      MDB_val k{key.size(), const_cast<char*>(key.data())},
          v{value.size(), const_cast<char*>(value.data())};
      if (int rc = mdb_put(txn, e_.dbi_, &k, &v, flags); rc != MDB_SUCCESS) [[unlikely]] {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST
                   ? absl::AlreadyExistsError(fmt::format("{}: key exists", e_.name()))
                   : MdbError(e_.dir_, "mdb_put", rc);
      }
      if (int rc = mdb_txn_commit(txn); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_commit", rc);
      }
      return absl::OkStatus();
    }

    LmdbEngine& e_;
    MDB_txn* read_ = nullptr;
    MDB_cursor* cursor_ = nullptr;
  };

  fs::path dir_;
  bool durable_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// ---------------------------------------------------------------------------------------------
// SQLite.

// Retries a busy database at once (after a yield) rather than sleeping for milliseconds as
// sqlite3_busy_timeout does: writers hold the WAL's write lock for microseconds here.
int SqliteBusy(void*, int count) {
  if (count > 100000000) return 0;
  sched_yield();
  return 1;
}

class SqliteEngine final : public Engine {
 public:
  SqliteEngine(std::string name, fs::path dir, bool mmap, bool durable, std::uint64_t records)
      : Engine(std::move(name)),
        dir_(std::move(dir)),
        path_(dir_ / "db.sqlite"),
        mmap_(mmap),
        durable_(durable),
        cache_kib_(2 * DataBytes(records) / 1024 + 1024) {
    MakeDirectory(dir_);
    // Connection 0 creates the table; connection 1 opens for the two-thread benchmarks.
    for (Connection& c : connections_) Check(c.Open(*this), fmt::format("open {}", path_.string()));
  }
  ~SqliteEngine() override {
    for (Connection& c : connections_) c.Close();
  }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    Connection& c = connections_[0];
    std::string value;
    for (std::size_t k = 0; k < ids.size();) {
      if (absl::Status s = c.Exec("BEGIN"); !s.ok()) return s;
      for (std::uint64_t n = 0; n < kSqliteLoadTxn && k < ids.size(); ++n, ++k) {
        const ycsb::Key key = ycsb::MakeKey(ids[k]);
        ycsb::MakeValue(ids[k], 0, kValueSize, &value);
        if (absl::Status s = c.Write(c.insert, key.view(), value, true); !s.ok()) return s;
      }
      if (absl::Status s = c.Exec("COMMIT"); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status FinishLoad() override {
    Connection& c = connections_[0];
    if (durable_) {
      // Full sync from now on: in WAL mode, FULL syncs the WAL at every commit.
      for (Connection& conn : connections_) {
        if (absl::Status s = conn.Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
      }
    }
    // Every page into the database file, the WAL emptied (and synced for the durable one).
    if (absl::Status s = c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); !s.ok()) return s;
    if (mmap_) {
      // Reads through a mapping never look in the page cache (pager.c, getPageMMap), so the
      // pages the load left there would only hold memory: let them go.
      if (absl::Status s = c.Exec("PRAGMA shrink_memory"); !s.ok()) return s;
      const std::uint64_t size = DirectoryBytes(path_);
      if (c.mmap_size < size) {
        std::fprintf(stderr,
                     "ycsb_bench: %s: SQLite maps only %llu of the file's %llu bytes "
                     "(SQLITE_MAX_MMAP_SIZE); reads past that go through its page cache\n",
                     name().c_str(), static_cast<unsigned long long>(c.mmap_size),
                     static_cast<unsigned long long>(size));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    Connection& c = connections_[0];
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c.db, "SELECT k, v FROM kv ORDER BY k", -1, &st, nullptr) != SQLITE_OK) {
      return c.Error("prepare the full scan");
    }
    absl::Status s;
    int rc;
    while (s.ok() && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      s = visit(ColumnView(st, 0), ColumnView(st, 1));
    }
    if (s.ok() && rc != SQLITE_DONE) s = c.Error("the full scan");
    sqlite3_finalize(st);
    return s;
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int thread) override {
    return std::make_unique<SqliteSession>(connections_[thread]);
  }

 private:
  static std::string_view ColumnView(sqlite3_stmt* st, int column) {
    const void* p = sqlite3_column_blob(st, column);
    return std::string_view(static_cast<const char*>(p),
                            static_cast<std::size_t>(sqlite3_column_bytes(st, column)));
  }

  // One connection and its prepared statements. REQUIRES: one thread at a time.
  struct Connection {
    sqlite3* db = nullptr;
    sqlite3_stmt* get = nullptr;
    sqlite3_stmt* update = nullptr;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* scan = nullptr;
    std::uint64_t mmap_size = 0;  // what SQLite granted
    const SqliteEngine* engine = nullptr;

    absl::Status Error(std::string_view what) const {
      return absl::InternalError(fmt::format("sqlite {}: {}: {}", engine->path_.string(), what,
                                             db != nullptr ? sqlite3_errmsg(db) : "no memory"));
    }
    absl::Status Exec(const std::string& sql) {
      char* err = nullptr;
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        absl::Status s = absl::InternalError(fmt::format(
            "sqlite {}: {}: {}", engine->path_.string(), sql, err != nullptr ? err : "?"));
        sqlite3_free(err);
        return s;
      }
      return absl::OkStatus();
    }
    absl::StatusOr<std::int64_t> PragmaValue(const std::string& sql) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return Error(sql);
      std::int64_t v = -1;
      if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
      return v;
    }
    absl::Status Prepare(const char* sql, sqlite3_stmt** st) {
      if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) != SQLITE_OK) {
        return Error(sql);
      }
      return absl::OkStatus();
    }
    absl::Status Open(const SqliteEngine& e) {
      engine = &e;
      if (sqlite3_open_v2(e.path_.c_str(), &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        return Error("sqlite3_open_v2");
      }
      sqlite3_busy_handler(db, SqliteBusy, nullptr);
      for (const std::string& sql : {
               std::string("PRAGMA page_size=4096"),
               std::string("PRAGMA journal_mode=WAL"),
               // Loads run with sync off on every side; FinishLoad turns FULL on for the durable.
               std::string("PRAGMA synchronous=OFF"),
               fmt::format("PRAGMA mmap_size={}", e.mmap_ ? (64ull << 30) : 0),
               fmt::format("PRAGMA cache_size=-{}", e.cache_kib_),
               std::string("PRAGMA secure_delete=OFF"),
               // A checkpoint per GiB of WAL, as our stores (see kCheckpointBytes).
               fmt::format("PRAGMA wal_autocheckpoint={}", kSqliteAutocheckpointPages),
               std::string("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) "
                           "WITHOUT ROWID"),
           }) {
        if (absl::Status s = Exec(sql); !s.ok()) return s;
      }
      absl::StatusOr<std::int64_t> ckpt = PragmaValue("PRAGMA wal_autocheckpoint");
      if (!ckpt.ok()) return ckpt.status();
      if (*ckpt != static_cast<std::int64_t>(kSqliteAutocheckpointPages)) {
        return absl::InternalError(fmt::format("sqlite {}: wal_autocheckpoint is {}, not {}",
                                               e.path_.string(), *ckpt,
                                               kSqliteAutocheckpointPages));
      }
      absl::StatusOr<std::int64_t> mm = PragmaValue("PRAGMA mmap_size");
      if (!mm.ok()) return mm.status();
      mmap_size = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *mm));
      if (absl::Status s = Prepare("SELECT v FROM kv WHERE k = ?1", &get); !s.ok()) return s;
      if (absl::Status s = Prepare("UPDATE kv SET v = ?2 WHERE k = ?1", &update); !s.ok()) {
        return s;
      }
      if (absl::Status s = Prepare("INSERT INTO kv (k, v) VALUES (?1, ?2)", &insert); !s.ok()) {
        return s;
      }
      return Prepare("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2", &scan);
    }
    void Close() {
      for (sqlite3_stmt* st : {get, update, insert, scan}) sqlite3_finalize(st);
      if (db != nullptr && sqlite3_close(db) != SQLITE_OK) {
        std::fprintf(stderr, "ycsb_bench: closing %s: %s\n", engine->path_.c_str(),
                     sqlite3_errmsg(db));
      }
      db = nullptr;
    }

    // sqlite3_step, once more after a busy database (the busy handler covers most of them).
    static int Step(sqlite3_stmt* st) {
      int rc;
      for (int tries = 0; (rc = sqlite3_step(st)) == SQLITE_BUSY && tries < 1000000; ++tries) {
        sqlite3_reset(st);
        sched_yield();
      }
      return rc;
    }
    // The UPDATE (one row must change) or the INSERT of one record.
    absl::Status Write(sqlite3_stmt* st, std::string_view key, std::string_view value,
                       bool is_insert) {
      sqlite3_bind_blob(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_blob(st, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      const int rc = Step(st);
      absl::Status s;
      if (rc != SQLITE_DONE) [[unlikely]] {
        s = (rc & 0xff) == SQLITE_CONSTRAINT
                ? absl::AlreadyExistsError(fmt::format("{}: key exists", engine->name()))
                : Error(is_insert ? "INSERT" : "UPDATE");
      } else if (!is_insert && sqlite3_changes(db) != 1) [[unlikely]] {
        s = NotFound(engine->name(), key);
      }
      sqlite3_reset(st);
      return s;
    }
    absl::Status Read(std::string_view key, std::uint64_t id) {
      sqlite3_bind_blob(get, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      const int rc = Step(get);
      absl::Status s;
      if (rc == SQLITE_ROW) [[likely]] {
        const std::string_view v = ColumnView(get, 0);
        s = CheckRead(engine->name(), id, v.data(), v.size());
      } else {
        s = rc == SQLITE_DONE ? NotFound(engine->name(), key) : Error("SELECT");
      }
      sqlite3_reset(get);
      return s;
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) {
      sqlite3_bind_blob(scan, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(scan, 2, static_cast<sqlite3_int64>(n));
      int rc = Step(scan);
      absl::Status s;
      if (rc != SQLITE_ROW || ColumnView(scan, 0) != key) [[unlikely]] {
        s = rc == SQLITE_ROW || rc == SQLITE_DONE ? NotFound(engine->name(), key) : Error("scan");
      } else {
        const std::string_view v = ColumnView(scan, 1);
        s = CheckRead(engine->name(), id, v.data(), v.size());
        unsigned sum = 0;
        for (; s.ok() && rc == SQLITE_ROW; rc = sqlite3_step(scan)) {
          const std::string_view k = ColumnView(scan, 0), val = ColumnView(scan, 1);
          sum += static_cast<unsigned char>(k[kKeySize - 1]) +
                 static_cast<unsigned char>(val[val.size() - 1]);
        }
        benchmark::DoNotOptimize(sum);
        if (s.ok() && rc != SQLITE_DONE) s = Error("scan");
      }
      sqlite3_reset(scan);
      return s;
    }
  };

  class SqliteSession final : public Session {
   public:
    explicit SqliteSession(Connection& c) : c_(c) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override { return c_.Read(key, id); }
    absl::Status Update(std::string_view key, std::string_view value) override {
      return c_.Write(c_.update, key, value, false);
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return c_.Write(c_.insert, key, value, true);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      return c_.Scan(key, id, n);
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      if (absl::Status s = c_.Read(key, id); !s.ok()) return s;
      return c_.Write(c_.update, key, value, false);
    }

   private:
    Connection& c_;
  };

  fs::path dir_;
  fs::path path_;
  bool mmap_;
  bool durable_;
  std::uint64_t cache_kib_;
  std::array<Connection, kMaxThreads> connections_;
};

// ---------------------------------------------------------------------------------------------
// RocksDB.

absl::Status RocksError(const fs::path& dir, std::string_view what, const rocksdb::Status& s) {
  return absl::InternalError(fmt::format("rocksdb {}: {}: {}", dir.string(), what, s.ToString()));
}

class RocksEngine final : public Engine {
 public:
  RocksEngine(std::string name, fs::path dir, bool durable, std::uint64_t records)
      : Engine(std::move(name)), dir_(std::move(dir)) {
    MakeDirectory(dir_.parent_path());  // RocksDB makes the last level only
    rocksdb::Options o;
    o.create_if_missing = true;
    o.error_if_exists = true;
    o.compression = rocksdb::kNoCompression;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = rocksdb::NewLRUCache(static_cast<std::size_t>(2 * DataBytes(records)));
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(o, dir_.string(), &db);
    if (!s.ok()) Die(RocksError(dir_, "open", s).ToString());
    db_.reset(db);
    // The untimed load skips the WAL (FinishLoad flushes it all to files). Timed writes go
    // through the WAL, as every other engine's commits go through its log or pages: synced at
    // every write when durable, else written to the OS and not synced (the others' guarantee
    // with durability off: a killed process loses nothing, a power loss may).
    load_.disableWAL = true;
    write_.disableWAL = false;
    write_.sync = durable;
  }
  ~RocksEngine() override {
    rocksdb::CancelAllBackgroundWork(db_.get(), true);
    if (rocksdb::Status s = db_->Close(); !s.ok()) {
      std::fprintf(stderr, "ycsb_bench: closing %s: %s\n", dir_.c_str(), s.ToString().c_str());
    }
  }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    std::string value;
    for (std::size_t k = 0; k < ids.size();) {
      rocksdb::WriteBatch batch;
      for (std::uint64_t n = 0; n < kRocksLoadBatch && k < ids.size(); ++n, ++k) {
        const ycsb::Key key = ycsb::MakeKey(ids[k]);
        ycsb::MakeValue(ids[k], 0, kValueSize, &value);
        batch.Put(rocksdb::Slice(key.bytes, kKeySize), value);
      }
      if (rocksdb::Status s = db_->Write(load_, &batch); !s.ok()) {
        return RocksError(dir_, "load", s);
      }
    }
    return absl::OkStatus();
  }

  // The memtable flushed, then every flush and compaction it set off finished.
  absl::Status FinishLoad() override {
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (rocksdb::Status s = db_->Flush(flush); !s.ok()) return RocksError(dir_, "flush", s);
    for (;;) {
      std::uint64_t busy = 0;
      for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                            "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
        std::uint64_t v = 0;
        if (!db_->GetIntProperty(p, &v)) {
          return absl::InternalError(fmt::format("rocksdb {}: no property {}", dir_.string(), p));
        }
        busy += v;
      }
      if (busy == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (absl::Status s = visit(View(it->key()), View(it->value())); !s.ok()) return s;
    }
    if (!it->status().ok()) return RocksError(dir_, "scan", it->status());
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    return std::make_unique<RocksSession>(*this);
  }

 private:
  static std::string_view View(const rocksdb::Slice& s) {
    return std::string_view(s.data(), s.size());
  }
  static rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

  class RocksSession final : public Session {
   public:
    explicit RocksSession(RocksEngine& e) : e_(e) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override {
      value_.Reset();
      const rocksdb::Status s =
          e_.db_->Get(read_, e_.db_->DefaultColumnFamily(), ToSlice(key), &value_);
      if (!s.ok()) [[unlikely]] {
        return s.IsNotFound() ? NotFound(e_.name(), key) : RocksError(e_.dir_, "get", s);
      }
      return CheckRead(e_.name(), id, value_.data(), value_.size());
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      const rocksdb::Status s = e_.db_->Put(e_.write_, ToSlice(key), ToSlice(value));
      if (!s.ok()) [[unlikely]]
        return RocksError(e_.dir_, "put", s);
      return absl::OkStatus();
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return Update(key, value);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      std::unique_ptr<rocksdb::Iterator> it(e_.db_->NewIterator(read_));
      it->Seek(ToSlice(key));
      if (!it->Valid() || View(it->key()) != key) [[unlikely]] {
        return it->status().ok() ? NotFound(e_.name(), key)
                                 : RocksError(e_.dir_, "seek", it->status());
      }
      const rocksdb::Slice first = it->value();
      if (absl::Status s = CheckRead(e_.name(), id, first.data(), first.size()); !s.ok()) {
        return s;
      }
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && it->Valid(); ++i, it->Next()) {
        const rocksdb::Slice k = it->key(), v = it->value();
        sum += static_cast<unsigned char>(k[kKeySize - 1]) +
               static_cast<unsigned char>(v[v.size() - 1]);
      }
      benchmark::DoNotOptimize(sum);
      if (!it->status().ok()) return RocksError(e_.dir_, "next", it->status());
      return absl::OkStatus();
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      if (absl::Status s = Read(key, id); !s.ok()) return s;
      return Update(key, value);
    }

   private:
    RocksEngine& e_;
    rocksdb::ReadOptions read_;
    rocksdb::PinnableSlice value_;
  };

  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
  rocksdb::WriteOptions load_;
};

// ---------------------------------------------------------------------------------------------
// absl::btree_map: the in-memory limit.

class AbslEngine final : public Engine {
 public:
  using Map = absl::btree_map<std::string, std::string>;
  explicit AbslEngine(std::string name) : Engine(std::move(name)) {}

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    absl::MutexLock lock(&mu_);
    for (std::uint64_t id : ids) {
      map_.emplace_hint(map_.end(), std::string(ycsb::MakeKey(id).view()), Value(id));
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [k, v] : map_) {
      if (absl::Status s = visit(k, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    return std::make_unique<AbslSession>(*this);
  }

 private:
  class AbslSession final : public Session {
   public:
    explicit AbslSession(AbslEngine& e) : e_(e) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override {
      absl::ReaderMutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      value_.assign(it->second);  // copied out, as the stores copy or pin it
      return CheckRead(e_.name(), id, value_.data(), value_.size());
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      it->second.assign(value.data(), value.size());
      return absl::OkStatus();
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      if (!e_.map_.emplace(std::string(key), std::string(value)).second) [[unlikely]] {
        return absl::AlreadyExistsError(fmt::format("{}: key exists", e_.name()));
      }
      return absl::OkStatus();
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      absl::ReaderMutexLock lock(&e_.mu_);
      auto it = e_.map_.lower_bound(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end() || it->first != key) [[unlikely]]
        return NotFound(e_.name(), key);
      if (absl::Status s = CheckRead(e_.name(), id, it->second.data(), it->second.size());
          !s.ok()) {
        return s;
      }
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && it != e_.map_.end(); ++i, ++it) {
        sum += static_cast<unsigned char>(it->first[kKeySize - 1]) +
               static_cast<unsigned char>(it->second.back());
      }
      benchmark::DoNotOptimize(sum);
      return absl::OkStatus();
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      if (absl::Status s = CheckRead(e_.name(), id, it->second.data(), it->second.size());
          !s.ok()) {
        return s;
      }
      it->second.assign(value.data(), value.size());
      return absl::OkStatus();
    }

   private:
    AbslEngine& e_;
    std::string value_;
  };

  absl::Mutex mu_;
  Map map_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// The engines, made and loaded on first use.

enum EngineId {
  kPagestorePread,
  kPagestoreMmap,
  kLmdb,
  kSqlite,
  kSqliteMmap,
  kRocksdb,
  kAbsl,
  kEngines
};
constexpr std::array<const char*, kEngines> kEngineNames = {
    "pagestore_pread", "pagestore_mmap", "lmdb",          "sqlite",
    "sqlite_mmap",     "rocksdb",        "absl_btree_map"};
constexpr std::array<bool, kEngines> kHasDurable = {true, true, true, true, false, true, false};

std::array<Engine*, kEngines> g_fast{};
std::array<Engine*, kEngines> g_durable{};

// Where an engine keeps its files.
fs::path EngineDir(EngineId id, bool durable) {
  return GetConfig().root / (durable ? "durable" : "fast") / kEngineNames[id];
}

std::unique_ptr<Engine> MakeEngine(EngineId id, bool durable, std::uint64_t records) {
  const std::string name = kEngineNames[id];
  const fs::path dir = EngineDir(id, durable);
  switch (id) {
    case kPagestorePread:
      return std::make_unique<PagestoreEngine>(name, dir, "pread", durable, records);
    case kPagestoreMmap:
      return std::make_unique<PagestoreEngine>(name, dir, "mmap", durable, records);
    case kLmdb:
      return std::make_unique<LmdbEngine>(name, dir, durable, records);
    case kSqlite:
      return std::make_unique<SqliteEngine>(name, dir, false, durable, records);
    case kSqliteMmap:
      return std::make_unique<SqliteEngine>(name, dir, true, durable, records);
    case kRocksdb:
      return std::make_unique<RocksEngine>(name, dir, durable, records);
    case kAbsl:
    case kEngines:
      break;
  }
  return std::make_unique<AbslEngine>(name);
}

// Makes, loads, syncs and checks an engine (untimed): exactly records 0..n-1 in key order, each
// with its value, which also warms its caches. `late`: from a benchmark's setup, not main.
Engine* LoadEngine(EngineId id, bool durable, bool late) {
  const std::uint64_t n = durable ? GetConfig().durable_records : GetConfig().records;
  const std::vector<std::uint64_t>& ids = SortedIdsCached(n);
  const auto t0 = Clock::now();
  std::unique_ptr<Engine> e = MakeEngine(id, durable, n);
  const fs::path dir = EngineDir(id, durable);
  const std::string what = fmt::format("{}{} ({})", e->name(), durable ? ", durable" : "",
                                       id == kAbsl ? "in memory" : dir.string());
  Check(e->Load(ids), fmt::format("load {}", what));
  Check(e->FinishLoad(), fmt::format("finish loading {}", what));
  std::uint64_t seen = 0;
  Check(e->ScanAll([&](std::string_view key, std::string_view value) -> absl::Status {
    if (seen >= n || key != ycsb::MakeKey(ids[seen]).view() ||
        !ycsb::ValueHasRecord(ids[seen], value) || value.size() != kValueSize) {
      return absl::DataLossError(
          fmt::format("entry {} of the full scan is not record {}'s key and value", seen,
                      seen < n ? ids[seen] : ~0ull));
    }
    ++seen;
    return absl::OkStatus();
  }),
        fmt::format("check {} after the load", what));
  if (seen != n) Die(fmt::format("{}: the full scan saw {} records of {}", what, seen, n));
  e->load_seconds = SecondsSince(t0);
  e->db_mib = static_cast<double>(e->FileBytes(dir)) / (1 << 20);
  e->records = n;
  e->inserts = std::make_unique<ycsb::InsertCounter>(n, kMaxThreads);
  std::fprintf(stderr, "ycsb_bench: %s%s: %llu records loaded and checked in %.1f s, %.0f MiB%s\n",
               e->name().c_str(), durable ? " (durable)" : "", static_cast<unsigned long long>(n),
               e->load_seconds, e->db_mib,
               late ? " (late: loaded by its benchmark's setup, not before the runs; its dirty "
                      "pages may be written back during other runs)"
                    : "");
  return e.release();
}

// ---------------------------------------------------------------------------------------------
// Benchmark names, run counts and the generators' seeds.

// A benchmark's full name as Google Benchmark makes it (what --benchmark_filter matches): every
// benchmark here is UseRealTime with explicit thread counts.
std::string InstanceName(std::string_view family, int threads) {
  return fmt::format("{}/real_time/threads:{}", family, threads);
}
std::string YcsbFamily(int engine, int workload) {
  return fmt::format("ycsb_{}/{}", static_cast<char>('a' + workload), kEngineNames[engine]);
}
std::string DurableFamily(int engine) {
  return fmt::format("durable_commit/{}", kEngineNames[engine]);
}
constexpr const char* kRawFamily = "durable_commit/raw_fdatasync";

// Runs so far of each benchmark (by full name), counted by its setup: Google Benchmark 1.7 calls
// the setup once per run (those that size the iteration count too) and exposes no repetition
// index, so this numbers the runs of one benchmark whatever ran in between.
absl::Mutex g_runs_mu;
std::map<std::string, std::uint64_t, std::less<>>* g_runs ABSL_GUARDED_BY(g_runs_mu) = nullptr;

void CountRun(const std::string& name) {
  absl::MutexLock lock(&g_runs_mu);
  if (g_runs == nullptr) g_runs = new std::map<std::string, std::uint64_t, std::less<>>();
  ++(*g_runs)[name];
}
std::uint64_t RunsOf(std::string_view name) {
  absl::MutexLock lock(&g_runs_mu);
  if (g_runs == nullptr) return 0;
  const auto it = g_runs->find(name);
  return it == g_runs->end() ? 0 : it->second;
}

// Thread `thread`'s generator in the current run of benchmark `name`: seeded by
// PAGESTORE_BENCH_SEED, the name (its bytes, not a hash that could differ between processes),
// the run's number and the thread, so the same run of the same benchmark draws the same
// operations whatever the interleaving.
std::mt19937_64 ThreadGenerator(std::string_view name, int thread) {
  const std::uint64_t seed = GetConfig().seed, run = RunsOf(name);
  std::vector<std::uint32_t> words = {
      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
      static_cast<std::uint32_t>(run), static_cast<std::uint32_t>(run >> 32),
      static_cast<std::uint32_t>(thread)};
  for (const char c : name) words.push_back(static_cast<unsigned char>(c));
  std::seed_seq seq(words.begin(), words.end());
  return std::mt19937_64(seq);
}

template <int kEngine, int kWorkload>
void SetUpYcsb(const benchmark::State& state) {
  CountRun(InstanceName(YcsbFamily(kEngine, kWorkload), state.threads()));
  if (g_fast[kEngine] == nullptr) g_fast[kEngine] = LoadEngine(EngineId(kEngine), false, true);
}
template <int kEngine>
void SetUpDurable(const benchmark::State& state) {
  CountRun(InstanceName(DurableFamily(kEngine), state.threads()));
  if (g_durable[kEngine] == nullptr) {
    g_durable[kEngine] = LoadEngine(EngineId(kEngine), true, true);
  }
}

void EngineCounters(benchmark::State& state, const Engine& e) {
  state.counters["load_s"] = e.load_seconds;
  state.counters["db_mib"] = e.db_mib;
}

// ---------------------------------------------------------------------------------------------
// ycsb_*/<engine>

constexpr std::array<const char*, 6> kYcsbNames = {"ycsb-a", "ycsb-b", "ycsb-c",
                                                   "ycsb-d", "ycsb-e", "ycsb-f"};

void RunWorkload(benchmark::State& state, std::string_view name, Engine& e,
                 const ycsb::Workload& w) {
  const int t = state.thread_index();
  absl::StatusOr<std::unique_ptr<Session>> session = e.NewSession(t);
  if (!session.ok()) {
    Fail(state, session.status());
    return;
  }
  std::mt19937_64 gen = ThreadGenerator(name, t);
  const std::uint64_t r = e.records;
  // E inserts: its zipfian covers R + R/16 slots (YCSB sizes it by the inserts expected), the
  // slots of records not inserted yet redrawn. The others draw over the R loaded records.
  const std::uint64_t zipf_slots = w.mix[kInsert] > 0 ? r + r / 16 + 1 : r;
  ycsb::KeyChooser chooser(w.distribution, r, r, zipf_slots, *e.inserts);
  std::string written;
  std::uint64_t version = gen();
  if (t == 0) e.StartRun();
  for (auto _ : state) {
    const OpKind kind = ycsb::ChooseOp(w, gen);
    const std::uint64_t id = kind == kInsert ? e.inserts->Take(t) : chooser.Next(gen);
    const ycsb::Key key = ycsb::MakeKey(id);
    absl::Status s;
    switch (kind) {
      case kRead:
        s = (*session)->Read(key.view(), id);
        break;
      case kUpdate:
        ycsb::MakeValue(id, ++version, kValueSize, &written);
        s = (*session)->Update(key.view(), written);
        break;
      case kInsert:
        ycsb::MakeValue(id, ++version, kValueSize, &written);
        s = (*session)->Insert(key.view(), written);
        if (s.ok()) e.inserts->Done(t);  // a failed insert stays in flight: never read
        break;
      case kScan:
        s = (*session)->Scan(key.view(), id, ycsb::ScanLength(gen));
        break;
      case kReadModifyWrite:
        ycsb::MakeValue(id, ++version, kValueSize, &written);
        s = (*session)->ReadModifyWrite(key.view(), id, written);
        break;
      default:
        s = absl::InternalError("no such operation");
    }
    if (!s.ok()) [[unlikely]] {
      Fail(state, absl::Status(s.code(), fmt::format("{} of record {}: {}", ycsb::kOpNames[kind],
                                                     id, std::string(s.message()))));
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (t == 0) {
    e.EndRun(state);
    EngineCounters(state, e);
  }
}

template <int kEngine, int kWorkload>
void Ycsb(benchmark::State& state) {
  RunWorkload(state, InstanceName(YcsbFamily(kEngine, kWorkload), state.threads()),
              *g_fast[kEngine], *ycsb::FindWorkload(kYcsbNames[kWorkload]));
}

// ---------------------------------------------------------------------------------------------
// durable_commit/*

void ReportLatency(benchmark::State& state, const ycsb::LatencyHistogram& h) {
  state.counters["p50_us"] = h.Percentile(50) / 1000;
  state.counters["p90_us"] = h.Percentile(90) / 1000;
  state.counters["p99_us"] = h.Percentile(99) / 1000;
  state.counters["p999_us"] = h.Percentile(99.9) / 1000;
  state.counters["max_us"] = static_cast<double>(h.max()) / 1000;
}

template <int kEngine>
void DurableCommit(benchmark::State& state) {
  Engine& e = *g_durable[kEngine];
  absl::StatusOr<std::unique_ptr<Session>> session = e.NewSession(0);
  if (!session.ok()) {
    Fail(state, session.status());
    return;
  }
  std::mt19937_64 gen = ThreadGenerator(InstanceName(DurableFamily(kEngine), state.threads()), 0);
  std::string written;
  std::uint64_t version = gen();
  ycsb::LatencyHistogram latency;
  for (auto _ : state) {
    const std::uint64_t id = absl::Uniform<std::uint64_t>(gen, 0, e.records);
    const ycsb::Key key = ycsb::MakeKey(id);
    ycsb::MakeValue(id, ++version, kValueSize, &written);
    const auto t0 = Clock::now();
    absl::Status s = (*session)->Update(key.view(), written);
    const auto t1 = Clock::now();
    if (!s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
    latency.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations());
  ReportLatency(state, latency);
  EngineCounters(state, e);
}

struct RawSyncFile {
  fs::path path;
  int fd = -1;
};
RawSyncFile* g_raw = nullptr;

void MakeRawSyncFile() {
  if (g_raw != nullptr) return;
  auto raw = std::make_unique<RawSyncFile>();
  raw->path = GetConfig().root / "raw_fdatasync.dat";
  raw->fd = ::open(raw->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (raw->fd < 0) Die(fmt::format("{}: open: {}", raw->path.string(), std::strerror(errno)));
  std::vector<std::byte> zeros(1 << 20);
  for (std::uint64_t off = 0; off < kRawSyncBytes; off += zeros.size()) {
    if (::pwrite(raw->fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) !=
        static_cast<ssize_t>(zeros.size())) {
      Die(fmt::format("{}: pre-zeroing: {}", raw->path.string(), std::strerror(errno)));
    }
  }
  if (::fdatasync(raw->fd) != 0) {
    Die(fmt::format("{}: fdatasync: {}", raw->path.string(), std::strerror(errno)));
  }
  g_raw = raw.release();
}

void SetUpRawSync(const benchmark::State& state) {
  CountRun(InstanceName(kRawFamily, state.threads()));
  MakeRawSyncFile();
}

void DurableRaw(benchmark::State& state) {
  const RawSyncFile& raw = *g_raw;
  std::mt19937_64 gen = ThreadGenerator(InstanceName(kRawFamily, state.threads()), 0);
  alignas(kRawSyncBlock) std::array<std::byte, kRawSyncBlock> block;
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::byte>(i * 131);
  ycsb::LatencyHistogram latency;
  for (auto _ : state) {
    const std::uint64_t page = absl::Uniform<std::uint64_t>(gen, 0, kRawSyncBytes / kRawSyncBlock);
    std::memcpy(block.data(), &page, sizeof(page));  // each write changes the page
    const auto t0 = Clock::now();
    const bool ok =
        ::pwrite(raw.fd, block.data(), block.size(), static_cast<off_t>(page * kRawSyncBlock)) ==
            static_cast<ssize_t>(block.size()) &&
        ::fdatasync(raw.fd) == 0;
    const auto t1 = Clock::now();
    if (!ok) [[unlikely]] {
      state.SkipWithError(
          fmt::format("{}: pwrite or fdatasync: {}", raw.path.string(), std::strerror(errno))
              .c_str());
      break;
    }
    latency.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations());
  ReportLatency(state, latency);
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
  Register(kRawFamily, DurableRaw, SetUpRawSync)
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
    if (fast[id] && g_fast[id] == nullptr) g_fast[id] = LoadEngine(EngineId(id), false, false);
  }
  for (int id = 0; id < kEngines; ++id) {
    if (durable[id] && g_durable[id] == nullptr) {
      g_durable[id] = LoadEngine(EngineId(id), true, false);
    }
  }
  if (raw) MakeRawSyncFile();
  auto t0 = Clock::now();
  ::sync();  // the loads' dirty pages written back now, not inside some other engine's run
  const double sync_s = SecondsSince(t0);
  t0 = Clock::now();
  for (auto* engines : {&g_fast, &g_durable}) {
    for (Engine* e : *engines) {
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

// Whether the command line (or BENCHMARK_LIST_TESTS) asks only for the benchmarks' names, read
// as Google Benchmark reads a bool flag: bare, or =value, where "0", "f", "n", "false", "no" and
// "off" (any case) are false and anything else true.
bool ListsTests(int argc, char** argv) {
  auto truthy = [](std::string_view v) {
    std::string lower(v);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return !(lower == "0" || lower == "f" || lower == "n" || lower == "false" || lower == "no" ||
             lower == "off");
  };
  bool list = false;
  if (const char* env = std::getenv("BENCHMARK_LIST_TESTS"); env != nullptr && *env != '\0') {
    list = truthy(env);
  }
  constexpr std::string_view kFlag = "--benchmark_list_tests";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == kFlag) {
      list = true;
    } else if (arg.starts_with(kFlag) && arg[kFlag.size()] == '=') {
      list = truthy(arg.substr(kFlag.size() + 1));
    }
  }
  return list;
}

void Shutdown() {
  for (auto* engines : {&g_fast, &g_durable}) {
    for (Engine*& e : *engines) {
      delete e;
      e = nullptr;
    }
  }
  if (g_raw != nullptr) {
    ::close(g_raw->fd);
    delete g_raw;
    g_raw = nullptr;
  }
  bench::RemoveTempRoot(GetConfig().root);
}

}  // namespace
}  // namespace pagestore

int main(int argc, char** argv) {
  using pagestore::GetConfig;
  // Initialize consumes the flags, so look first: listing the benchmarks loads nothing.
  const bool list_only = pagestore::ListsTests(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pagestore::bench::InstallSignalCleanup();
  const pagestore::Config& c = GetConfig();
  pagestore::bench::MakeTempRoot(c.root);
  benchmark::AddCustomContext("pagestore_bench_dir", c.dir.string());
  benchmark::AddCustomContext("pagestore_bench_ycsb_records", std::to_string(c.records));
  benchmark::AddCustomContext("pagestore_bench_ycsb_durable_records",
                              std::to_string(c.durable_records));
  benchmark::AddCustomContext("pagestore_bench_seed", std::to_string(c.seed));
  benchmark::AddCustomContext("lmdb_version", MDB_VERSION_STRING);
  benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
  benchmark::AddCustomContext("rocksdb_version",
                              fmt::format("{}.{}.{}", ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH));
  pagestore::RegisterAll();
  if (!list_only) pagestore::LoadBeforeRuns();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  pagestore::Shutdown();
  pagestore::bench::UnlinkTempPaths();
  return 0;
}
