// pagestore bench: a db_bench-like driver over one store. It opens (or creates) the store at
// --db (a temporary file, removed with its -wal directory at the end, when omitted), keeps its
// records in the B+tree named "bench" in the store's catalog, runs one workload on --threads
// threads and reports throughput and latency percentiles.
//
// Records. Record i (0 <= i < 2^64) has a 16-byte key: the big-endian bytes of Mix(i ^ kKeyMask)
// (splitmix64's finalizer, a bijection) then the big-endian bytes of i, as in
// benchmarks/index_bench.cc: unique, fixed width, spread uniformly over the key space, so that
// writing i = 0, 1, 2... writes keys in random order. The keys do not depend on --seed, so a store
// loaded once serves every later run. A value of --value-size bytes starts with i's bytes (its
// first min(8, size)), which every read checks, then letters. The keys, values, workload mixes,
// record choosers and latency histogram are tools/ycsb.h's, shared with benchmarks/ycsb_bench.cc.
//
// Workloads (--ops operations, split evenly over the threads; each thread draws from its own
// std::mt19937_64 seeded from --seed and its index):
//   fill     writes records 0..num-1 (random key order: like db_bench's fillrandom, but each key
//            once), thread t a contiguous slice of the numbers; overwrites records already there.
//   read     point reads of records drawn uniformly from 0..num-1.
//   multiget the same reads in batches of --batch keys, each batch one BTree::MultiGet (its
//            misses read from the disk together) and one operation in the report.
//   ycsb-a..f  YCSB's core workloads: A 50% read / 50% update, B 95/5 read/update, C 100% read,
//            D 95% read / 5% insert (reads favour the newest records: "latest"), E 95% scan /
//            5% insert (a scan reads 1-100 records, uniformly, from a drawn record on), F 50%
//            read / 50% read-modify-write. Records are drawn by a zipfian distribution of
//            constant 0.99 over the ranks, scrambled over the records as YCSB's
//            ScrambledZipfianGenerator does (slot = FNV-1a-64(rank) mod space, redrawn while the
//            slot's record is not inserted yet; the space includes twice the expected inserts).
//            "latest" is YCSB's SkewedLatestGenerator: slot = newest - zipfian rank, over the
//            slots every insert below which has committed. Slots 0..num-1 are records
//            0..num-1, later slots this run's inserts in the order their numbers were taken.
// read and the ycsb workloads first load the records of 0..num-1 the tree lacks (untimed,
// reported separately: transactions of 1000 puts). What the tree holds comes from one scan of it
// (untimed), not from assumptions: a fill on several threads that was interrupted leaves gaps in
// each thread's slice of the numbers, and a run may be pointed at a tree holding other keys.
//
// The store: StoreOptions defaults but for --pool-frames (4 KiB frames), the durability, and the
// B+tree and hash undo handlers (recovery of a store holding either needs them).
//
// Writes. Every timed write is one transaction, as an engine commits a single-key write:
// Store::Begin, one BTree::Put (update, fill, the write of read-modify-write, whose read comes
// first in the same transaction) or BTree::Insert (insert), then Commit with Durability::kNone,
// or kSync with --sync. Inserts take record numbers from past the highest one the tree holds.
//
// Measurement. Each operation's latency (std::chrono::steady_clock around the store calls only:
// not the drawing of keys) goes into a per-thread log-linear histogram per operation kind; they
// are merged at the end. Throughput is operations over the wall time from the threads' common
// start to the last one's end. MB/s counts the key and value bytes each operation moves (read:
// key + value read; write: key + value written; scan: every record read; read-modify-write: both)
// in MiB (2^20 bytes) per second, as db_bench does. On a terminal, a progress line on stderr
// is rewritten every second.
//
// Correctness. Any status other than OK fails the run with one line and exit status 2: a read
// of a record that should exist finding nothing, a value not starting with its record's number,
// an insert finding its key present, a scan not starting at its record, a failed commit. After
// the run the tree's entries are counted; a count other than the one expected (before, plus the
// records loaded or newly filled, plus the inserts) fails too.
//
// --json prints one object on stdout (stable field names):
//   workload, db, temporary (bool), disk (the spec, FormatDiskManagerSpec), pool_frames,
//   durability ("none" | "sync"), seed, threads, key_size, value_size,
//   records (--num: the records fill writes, the records read and ycsb-* read and update),
//   records_after (the tree's records counted after the run),
//   load: null | {records, seconds, records_per_sec},
//   ops (operations done), seconds (wall time of the timed run),
//   total and by_op.<kind> (kinds: write, read, update, insert, scan, read_modify_write; those
//   the workload does), each {ops, bytes, ops_per_sec, mb_per_sec,
//   latency_us: {p50, p99, p999, max}}.
//
// Thread safety: none needed (one command per process); the run's worker threads share the
// store and tree (safe for concurrent use) and the atomics and mutex-guarded error below.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "storage/disk_manager.h"
#include "storage/mutex.h"
#include "tools/command.h"
#include "tools/json.h"
#include "tools/ycsb.h"
#include "wal/store.h"

namespace pagestore::tools {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ycsb::Distribution;
using ycsb::FindWorkload;
using ycsb::InsertCounter;
using ycsb::Key;
using ycsb::kKeySize;
using ycsb::kOpNames;
using ycsb::kWorkloads;
using ycsb::LatencyHistogram;
using ycsb::MakeKey;
using ycsb::MakeValue;
using ycsb::OpKind;
using ycsb::PaddedCounter;
using ycsb::Workload;
using enum ycsb::OpKind;

constexpr std::string_view kCommand = "bench";
constexpr std::string_view kTreeName = "bench";
constexpr std::size_t kMaxValueSize = kMaxEntryBytes - kKeySize;
constexpr std::uint64_t kLoadBatch = 1000;  // puts per load transaction
constexpr int kMaxThreads = 1024;
constexpr std::size_t kMaxBatch = 4096;  // --batch

// ---------------------------------------------------------------------------------------------
// Options and workloads

struct BenchOptions {
  std::string db;
  std::string disk = "pread";
  std::string workload;
  std::uint64_t num = 100000;
  std::uint64_t ops = 0;  // 0: --num
  bool ops_given = false;
  int threads = 1;
  std::size_t value_size = 100;
  std::size_t pool_frames = StoreOptions{}.pool_frames;
  std::uint64_t seed = 42;
  std::size_t batch = 32;  // multiget: keys per BTree::MultiGet
  bool use_existing = false;
  bool sync = false;
  bool json = false;
};

// ---------------------------------------------------------------------------------------------
// Records (keys, values, workloads and record choosing: tools/ycsb.h)

absl::Status CheckValue(std::uint64_t id, std::string_view value) {
  if (ycsb::ValueHasRecord(id, value)) return absl::OkStatus();
  return absl::DataLossError(fmt::format(
      "record {}: its {}-byte value does not start with the record's number (the \"{}\" tree "
      "holds data the bench did not write, or the store returned the wrong record)",
      id, value.size(), kTreeName));
}

// ---------------------------------------------------------------------------------------------
// Shared run state

// Set by SIGINT/SIGTERM (the handler resets itself, so a second signal kills): the threads stop,
// the store closes and a temporary store is removed.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void OnInterrupt(int) { g_interrupted.store(true, std::memory_order_relaxed); }

// The first error of any thread; once set (or on an interrupt) every thread stops.
class Failure {
 public:
  void Set(absl::Status status) {
    MutexLock lock(&mu_);
    if (first_.ok()) first_ = std::move(status);
    stop_.store(true, std::memory_order_relaxed);
  }
  bool stopped() const {
    return stop_.load(std::memory_order_relaxed) || g_interrupted.load(std::memory_order_relaxed);
  }
  absl::Status status() {
    MutexLock lock(&mu_);
    if (first_.ok() && g_interrupted.load()) return absl::CancelledError("interrupted");
    return first_;
  }

 private:
  Mutex mu_;
  absl::Status first_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
};

// Per-thread counters of operations done; a reporter thread rewrites one line on stderr every
// second, only when stderr is a terminal.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total, int threads)
      : label_(std::move(label)), total_(total), done_(threads) {
    if (::isatty(STDERR_FILENO) == 1) reporter_ = std::thread([this] { Report(); });
  }
  ~Progress() { Stop(); }
  void Set(int thread, std::uint64_t done) {
    done_[thread].value.store(done, std::memory_order_relaxed);
  }
  // Stops the reporter and erases its line.
  void Stop() {
    if (!reporter_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    reporter_.join();
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }

 private:
  std::uint64_t Done() const {
    std::uint64_t sum = 0;
    for (const PaddedCounter& c : done_) sum += c.value.load(std::memory_order_relaxed);
    return sum;
  }
  void Report() {
    std::uint64_t last = 0;
    Clock::time_point last_time = Clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      const std::uint64_t done = Done();
      const Clock::time_point now = Clock::now();
      const double seconds = std::chrono::duration<double>(now - last_time).count();
      fmt::print(stderr, "\r\033[K{}: {} of {} ops, {:.0f} ops/s", label_, done, total_,
                 seconds > 0 ? static_cast<double>(done - last) / seconds : 0.0);
      std::fflush(stderr);
      last = done;
      last_time = now;
    }
  }

  const std::string label_;
  const std::uint64_t total_;
  std::vector<PaddedCounter> done_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // under mu_
  std::thread reporter_;
};

// Runs body(t) for t in [0, threads) on threads released together; the wall time from the
// release to the last one's end.
std::chrono::nanoseconds RunThreads(int threads, const std::function<void(int)>& body) {
  std::latch start(threads + 1);
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  }
  start.arrive_and_wait();
  const Clock::time_point begin = Clock::now();
  for (std::thread& w : workers) w.join();
  return Clock::now() - begin;
}

// Thread t's share [first, first + count) of `total` items split evenly.
std::pair<std::uint64_t, std::uint64_t> Share(std::uint64_t total, int threads, int t) {
  const std::uint64_t n = static_cast<std::uint64_t>(threads);
  const std::uint64_t i = static_cast<std::uint64_t>(t);
  const std::uint64_t base = total / n, extra = total % n;
  return {i * base + std::min(i, extra), base + (i < extra ? 1 : 0)};
}

std::mt19937_64 ThreadGenerator(std::uint64_t seed, int thread) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(thread)};
  return std::mt19937_64(seq);
}

// ---------------------------------------------------------------------------------------------
// Operations

// One write in its own transaction: Begin, Put or Insert, Commit(durability). A failure before
// the commit aborts it (the transaction's destructor).
absl::Status WriteOne(Store& store, BTree& tree, Durability durability, std::string_view key,
                      std::string_view value, bool insert) {
  absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
  if (!txn.ok()) return txn.status();
  absl::Status s = insert ? tree.Insert(txn->get(), key, value) : tree.Put(txn->get(), key, value);
  if (!s.ok()) return s;
  return (*txn)->Commit(durability);
}

absl::Status OpError(std::string_view op, std::uint64_t id, const absl::Status& s) {
  return absl::Status(s.code(), fmt::format("{} of record {}: {}", op, id, s.ToString()));
}

absl::StatusOr<std::uint64_t> CountRecords(const BTree& tree) {
  std::uint64_t n = 0;
  BTree::Iterator it = tree.Begin();
  for (; it.Valid(); it.Next()) ++n;
  if (!it.status().ok()) return it.status();
  return n;
}

// Which record numbers the tree holds, from one ordered scan (untimed). Needed because a store
// need not hold a gapless 0..n-1: a fill on several threads that was interrupted leaves each
// thread's slice partly written, and anything may have put other keys in the tree.
struct Census {
  std::uint64_t entries = 0;       // every entry, the bench's or not
  std::vector<std::uint64_t> ids;  // the bench's records, sorted
  bool Has(std::uint64_t id) const { return std::binary_search(ids.begin(), ids.end(), id); }
  std::uint64_t CountBelow(std::uint64_t id) const {
    return static_cast<std::uint64_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin());
  }
  std::uint64_t End() const { return ids.empty() ? 0 : ids.back() + 1; }  // past the highest
};

absl::StatusOr<Census> TakeCensus(const BTree& tree) {
  Census census;
  BTree::Iterator it = tree.Begin();
  for (; it.Valid(); it.Next()) {
    ++census.entries;
    if (std::optional<std::uint64_t> id = ycsb::RecordOf(it.key())) census.ids.push_back(*id);
  }
  if (!it.status().ok()) return it.status();
  std::sort(census.ids.begin(), census.ids.end());
  return census;
}

struct OpResult {
  LatencyHistogram latency;
  std::uint64_t bytes = 0;
};
using ThreadResult = std::array<OpResult, kOpKinds>;

// What every thread of a run shares.
struct RunContext {
  const BenchOptions& options;
  const Workload& workload;
  Store& store;
  BTree& tree;
  Durability durability;
  // Reads draw a "slot" v and work on record Record(v): slots below R are records 0..R-1 (all
  // there once any load is done), the slots after them the records this run inserts, numbered
  // from first_insert (past every record the tree held, so an insert never meets one).
  std::uint64_t records;       // R
  std::uint64_t first_insert;  // >= R
  std::uint64_t space;         // the scrambled zipfian's slots (R + twice the expected inserts)
  const Census* skip;          // the load writes only the records not in it
  InsertCounter inserts;
  Failure failure;
};

// fill: writes records [first, first + count) with puts, one transaction each (timed).
void FillRecords(RunContext& ctx, int t, std::uint64_t first, std::uint64_t count,
                 Progress& progress, ThreadResult& result) {
  std::string value;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (ctx.failure.stopped()) return;
    const std::uint64_t id = first + i;
    const Key key = MakeKey(id);
    MakeValue(id, 0, ctx.options.value_size, &value);
    const Clock::time_point t0 = Clock::now();
    absl::Status s = WriteOne(ctx.store, ctx.tree, ctx.durability, key.view(), value, false);
    const Clock::time_point t1 = Clock::now();
    if (!s.ok()) return ctx.failure.Set(OpError("write", id, s));
    result[kWrite].latency.Record(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    result[kWrite].bytes += kKeySize + value.size();
    progress.Set(t, i + 1);
  }
}

// The load before read and ycsb-*: puts the records of [first, first + count) that ctx.skip does
// not hold, kLoadBatch per transaction (untimed); the last commit with the run's durability.
void LoadRecords(RunContext& ctx, int t, std::uint64_t first, std::uint64_t count,
                 Progress& progress) {
  std::string value;
  std::unique_ptr<Transaction> batch;
  std::uint64_t in_batch = 0;
  std::uint64_t last_id = first;
  auto commit = [&](Durability d) -> bool {
    absl::Status s = batch->Commit(d);
    batch.reset();
    in_batch = 0;
    if (!s.ok()) ctx.failure.Set(OpError("load commit of", last_id, s));
    return s.ok();
  };
  for (std::uint64_t i = 0; i < count; ++i) {
    if (ctx.failure.stopped()) return;
    const std::uint64_t id = first + i;
    if (!ctx.skip->Has(id)) {
      if (batch == nullptr) {
        absl::StatusOr<std::unique_ptr<Transaction>> txn = ctx.store.Begin();
        if (!txn.ok()) return ctx.failure.Set(OpError("load", id, txn.status()));
        batch = std::move(*txn);
      }
      MakeValue(id, 0, ctx.options.value_size, &value);
      if (absl::Status s = ctx.tree.Put(batch.get(), MakeKey(id).view(), value); !s.ok()) {
        return ctx.failure.Set(OpError("load", id, s));
      }
      last_id = id;
      if (++in_batch == kLoadBatch && !commit(Durability::kNone)) return;
    }
    progress.Set(t, i + 1);
  }
  if (batch != nullptr) commit(ctx.durability);
}

// Thread t's --ops share of a read or ycsb workload.
void RunOps(RunContext& ctx, int t, std::uint64_t count, Progress& progress, ThreadResult& result) {
  const Workload& w = ctx.workload;
  std::mt19937_64 gen = ThreadGenerator(ctx.options.seed, t);
  // The record an operation other than an insert works on.
  ycsb::KeyChooser chooser(w.distribution, ctx.records, ctx.first_insert, ctx.space, ctx.inserts);
  std::string value, written;
  std::uint64_t version = 0;
  std::vector<std::uint64_t> batch_ids;  // multiget's
  std::vector<Key> batch_keys;
  std::vector<std::string_view> batch_views;
  std::vector<std::string> batch_values;
  std::vector<absl::Status> batch_statuses;
  auto read = [&](std::uint64_t id, const Key& key) -> absl::Status {
    if (absl::Status s = ctx.tree.Get(key.view(), &value); !s.ok()) {
      if (absl::IsNotFound(s)) {
        return absl::NotFoundError(fmt::format(
            "read of record {}: not found, though the tree held records 0..{} at the start "
            "and this run's inserts (from record {} on) commit before they are read",
            id, ctx.records - 1, ctx.first_insert));
      }
      return OpError("read", id, s);
    }
    return CheckValue(id, value);
  };

  for (std::uint64_t i = 0; i < count; ++i) {
    if (ctx.failure.stopped()) return;
    const OpKind kind = ycsb::ChooseOp(w, gen);
    const std::uint64_t id = kind == kInsert ? ctx.inserts.Take(t) : chooser.Next(gen);
    const Key key = MakeKey(id);
    const std::uint64_t scan_length = kind == kScan ? ycsb::ScanLength(gen) : 0;
    if (kind == kUpdate || kind == kInsert || kind == kReadModifyWrite) {
      MakeValue(id, ++version, ctx.options.value_size, &written);
    }

    std::uint64_t bytes = 0;
    absl::Status s;
    const Clock::time_point t0 = Clock::now();
    switch (kind) {
      case kRead:
        s = read(id, key);
        bytes = kKeySize + value.size();
        break;
      case kUpdate:
        s = WriteOne(ctx.store, ctx.tree, ctx.durability, key.view(), written, false);
        if (!s.ok()) s = OpError("update", id, s);
        bytes = kKeySize + written.size();
        break;
      case kInsert:
        s = WriteOne(ctx.store, ctx.tree, ctx.durability, key.view(), written, true);
        if (!s.ok()) s = OpError("insert", id, s);
        bytes = kKeySize + written.size();
        break;
      case kScan: {
        BTree::Iterator it = ctx.tree.Scan(key.view());
        if (!it.Valid() || it.key() != key.view()) {
          s = it.status().ok() ? absl::NotFoundError(fmt::format(
                                     "scan from record {}: the record is not there", id))
                               : OpError("scan", id, it.status());
          break;
        }
        s = CheckValue(id, it.value());
        for (std::uint64_t n = 0; s.ok() && it.Valid() && n < scan_length; ++n, it.Next()) {
          bytes += it.key().size() + it.value().size();
        }
        if (s.ok() && !it.status().ok()) s = OpError("scan", id, it.status());
        break;
      }
      case kMultiGet: {
        // The drawn record and batch - 1 more, read by one MultiGet (drawn before the clock
        // would be fairer, but the draws are a few ns beside a batch of reads).
        batch_ids.assign(1, id);
        while (batch_ids.size() < ctx.options.batch) batch_ids.push_back(chooser.Next(gen));
        batch_keys.clear();
        for (std::uint64_t b : batch_ids) batch_keys.push_back(MakeKey(b));
        batch_views.clear();
        for (const Key& k : batch_keys) batch_views.push_back(k.view());
        ctx.tree.MultiGet(batch_views, &batch_values, &batch_statuses);
        for (std::size_t b = 0; s.ok() && b < batch_ids.size(); ++b) {
          s = batch_statuses[b].ok() ? CheckValue(batch_ids[b], batch_values[b])
                                     : OpError("multiget", batch_ids[b], batch_statuses[b]);
          bytes += kKeySize + batch_values[b].size();
        }
        break;
      }
      case kReadModifyWrite: {
        absl::StatusOr<std::unique_ptr<Transaction>> txn = ctx.store.Begin();
        if (!txn.ok()) {
          s = OpError("read-modify-write", id, txn.status());
          break;
        }
        s = read(id, key);
        if (s.ok()) {
          s = ctx.tree.Put(txn->get(), key.view(), written);
          if (s.ok()) s = (*txn)->Commit(ctx.durability);
          if (!s.ok()) s = OpError("read-modify-write", id, s);
        }
        bytes = 2 * kKeySize + value.size() + written.size();
        break;
      }
      default:
        s = absl::InternalError("no such operation");
    }
    const Clock::time_point t1 = Clock::now();
    if (!s.ok()) return ctx.failure.Set(std::move(s));
    if (kind == kInsert) ctx.inserts.Done(t);
    result[kind].latency.Record(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    result[kind].bytes += bytes;
    progress.Set(t, i + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

struct OpSummary {
  std::string_view name;
  LatencyHistogram latency;
  std::uint64_t bytes = 0;
};

struct LoadSummary {
  std::uint64_t records;
  double seconds;
};

struct Report {
  std::string workload;
  std::string summary;
  std::string db;
  bool temporary = false;
  std::string disk;
  std::size_t pool_frames = 0;
  bool sync = false;
  std::uint64_t seed = 0;
  int threads = 0;
  std::size_t value_size = 0;
  std::uint64_t records = 0;
  std::uint64_t records_after = 0;
  std::optional<LoadSummary> load;
  double seconds = 0;
  std::vector<OpSummary> by_op;
  OpSummary total;
};

double PerSecond(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }
double Mb(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }
double Us(double ns) { return ns / 1000; }

void JsonOp(Json& j, const OpSummary& op, double seconds) {
  j.BeginObject()
      .Field("ops", op.latency.count())
      .Field("bytes", op.bytes)
      .Field("ops_per_sec", PerSecond(static_cast<double>(op.latency.count()), seconds))
      .Field("mb_per_sec", PerSecond(Mb(op.bytes), seconds))
      .Key("latency_us")
      .BeginObject()
      .Field("p50", Us(op.latency.Percentile(50)))
      .Field("p99", Us(op.latency.Percentile(99)))
      .Field("p999", Us(op.latency.Percentile(99.9)))
      .Field("max", Us(static_cast<double>(op.latency.max())))
      .EndObject()
      .EndObject();
}

void PrintJson(const Report& r) {
  Json j;
  j.BeginObject()
      .Field("workload", r.workload)
      .Field("db", r.db)
      .Field("temporary", r.temporary)
      .Field("disk", r.disk)
      .Field("pool_frames", std::uint64_t{r.pool_frames})
      .Field("durability", r.sync ? "sync" : "none")
      .Field("seed", r.seed)
      .Field("threads", r.threads)
      .Field("key_size", std::uint64_t{kKeySize})
      .Field("value_size", std::uint64_t{r.value_size})
      .Field("records", r.records)
      .Field("records_after", r.records_after)
      .Key("load");
  if (r.load) {
    j.BeginObject()
        .Field("records", r.load->records)
        .Field("seconds", r.load->seconds)
        .Field("records_per_sec", PerSecond(static_cast<double>(r.load->records), r.load->seconds))
        .EndObject();
  } else {
    j.Null();
  }
  j.Field("ops", r.total.latency.count()).Field("seconds", r.seconds).Key("total");
  JsonOp(j, r.total, r.seconds);
  j.Key("by_op").BeginObject();
  for (const OpSummary& op : r.by_op) JsonOp(j.Key(op.name), op, r.seconds);
  j.EndObject().EndObject();
  std::fputs(j.str().c_str(), stdout);
}

void PrintText(const Report& r) {
  fmt::print("workload  {} ({})\n", r.workload, r.summary);
  fmt::print("store     {}{}, disk {}, pool {} frames, durability {}\n", r.db,
             r.temporary ? " (temporary)" : "", r.disk, r.pool_frames, r.sync ? "sync" : "none");
  fmt::print("records   {} ({}-byte keys, {}-byte values), {} after the run\n", r.records, kKeySize,
             r.value_size, r.records_after);
  if (r.load) {
    fmt::print("load      {} records in {:.3f} s ({:.0f} records/s, untimed)\n", r.load->records,
               r.load->seconds, PerSecond(static_cast<double>(r.load->records), r.load->seconds));
  }
  fmt::print("run       {} ops on {} thread{} in {:.3f} s, seed {}\n\n", r.total.latency.count(),
             r.threads, r.threads == 1 ? "" : "s", r.seconds, r.seed);
  fmt::print("{:<18} {:>10} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10}\n", "op", "ops", "ops/s",
             "MB/s", "p50 us", "p99 us", "p99.9 us", "max us");
  auto row = [&](const OpSummary& op) {
    fmt::print("{:<18} {:>10} {:>12.1f} {:>9.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f}\n",
               op.name, op.latency.count(),
               PerSecond(static_cast<double>(op.latency.count()), r.seconds),
               PerSecond(Mb(op.bytes), r.seconds), Us(op.latency.Percentile(50)),
               Us(op.latency.Percentile(99)), Us(op.latency.Percentile(99.9)),
               Us(static_cast<double>(op.latency.max())));
  };
  for (const OpSummary& op : r.by_op) row(op);
  row(r.total);
}

// ---------------------------------------------------------------------------------------------
// The command

// Runs the workload on the open store; fills `report`.
absl::Status RunOnStore(const BenchOptions& options, const Workload& workload, Store& store,
                        Report& report) {
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
  if (!catalog.ok()) return catalog.status();
  std::unique_ptr<BTree> tree;
  Census census;  // what the tree holds at the start
  if (absl::StatusOr<IndexInfo> info = (*catalog)->Lookup(std::string(kTreeName));
      absl::IsNotFound(info.status())) {
    absl::StatusOr<std::unique_ptr<BTree>> created =
        (*catalog)->CreateBTree(std::string(kTreeName));
    if (!created.ok()) return created.status();
    tree = std::move(*created);
  } else {
    absl::StatusOr<std::unique_ptr<BTree>> opened = (*catalog)->OpenBTree(std::string(kTreeName));
    if (!opened.ok()) return opened.status();
    tree = std::move(*opened);
    absl::StatusOr<Census> taken = TakeCensus(*tree);
    if (!taken.ok()) return taken.status();
    census = std::move(*taken);
  }

  const bool fill = workload.distribution == Distribution::kFill;
  const std::uint64_t num = options.num;
  const std::uint64_t ops = fill ? num : (options.ops_given ? options.ops : num);
  const auto expected_inserts =
      static_cast<std::uint64_t>(std::ceil(static_cast<double>(ops) * workload.mix[kInsert] * 2));
  // Records 0..num-1 the tree lacks: the load's (or fill's new records).
  const std::uint64_t missing = num - census.CountBelow(num);
  const std::uint64_t records = num;  // R: reads draw from 0..R-1, as in db_bench and YCSB
  const std::uint64_t first_insert = std::max(num, census.End());
  RunContext ctx{.options = options,
                 .workload = workload,
                 .store = store,
                 .tree = *tree,
                 .durability = options.sync ? Durability::kSync : Durability::kNone,
                 .records = records,
                 .first_insert = first_insert,
                 .space = records + expected_inserts,
                 .skip = &census,
                 .inserts = InsertCounter(first_insert, options.threads),
                 .failure = {}};

  if (!fill && missing > 0) {
    Progress progress("load", num, options.threads);
    const std::chrono::nanoseconds took = RunThreads(options.threads, [&](int t) {
      const auto [first, count] = Share(num, options.threads, t);
      LoadRecords(ctx, t, first, count, progress);
    });
    progress.Stop();
    if (absl::Status s = ctx.failure.status(); !s.ok()) return s;
    report.load = LoadSummary{missing, std::chrono::duration<double>(took).count()};
  }

  std::vector<ThreadResult> results(options.threads);
  Progress progress(std::string(workload.name), ops, options.threads);
  const std::chrono::nanoseconds took = RunThreads(options.threads, [&](int t) {
    const auto [first, count] = Share(ops, options.threads, t);
    if (fill) {
      FillRecords(ctx, t, first, count, progress, results[t]);
    } else {
      RunOps(ctx, t, count, progress, results[t]);
    }
  });
  progress.Stop();
  if (absl::Status s = ctx.failure.status(); !s.ok()) return s;

  absl::StatusOr<std::uint64_t> after = CountRecords(*tree);
  if (!after.ok()) return after.status();
  const std::uint64_t inserted = ctx.inserts.next() - first_insert;
  const std::uint64_t expected = census.entries + missing + inserted;
  if (*after != expected) {
    return absl::DataLossError(fmt::format(
        "the \"{}\" tree holds {} records after the run, {} expected ({} before, {} new of "
        "records 0..{}, {} inserted)",
        kTreeName, *after, expected, census.entries, missing, num - 1, inserted));
  }

  report.records = fill ? num : records;
  report.records_after = *after;
  report.seconds = std::chrono::duration<double>(took).count();
  report.total.name = "all";
  for (int k = 0; k < kOpKinds; ++k) {
    if (workload.mix[k] == 0) continue;
    OpSummary op;
    op.name = kOpNames[k];
    for (const ThreadResult& r : results) {
      op.latency.Merge(r[k].latency);
      op.bytes += r[k].bytes;
    }
    report.total.latency.Merge(op.latency);
    report.total.bytes += op.bytes;
    report.by_op.push_back(std::move(op));
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const BenchOptions& o) {
  if (o.num == 0) return absl::InvalidArgumentError("--num must be at least 1");
  if (o.ops_given && o.ops == 0) return absl::InvalidArgumentError("--ops must be at least 1");
  if (o.threads < 1 || o.threads > kMaxThreads) {
    return absl::InvalidArgumentError(fmt::format("--threads must be 1 to {}", kMaxThreads));
  }
  if (o.value_size > kMaxValueSize) {
    return absl::InvalidArgumentError(fmt::format(
        "--value-size={} is too large: a key and value take at most {} bytes, so values at most {}",
        o.value_size, kMaxEntryBytes, kMaxValueSize));
  }
  if (o.batch < 1 || o.batch > kMaxBatch) {
    return absl::InvalidArgumentError(fmt::format("--batch must be 1 to {}", kMaxBatch));
  }
  if (o.use_existing && o.db.empty()) {
    return absl::InvalidArgumentError("--use-existing needs --db=PATH (the store to reopen)");
  }
  return absl::OkStatus();
}

int RunBench(const BenchOptions& options) {
  const Workload* workload = FindWorkload(options.workload);
  if (workload == nullptr) {
    std::string names;
    for (const Workload& w : kWorkloads) {
      names += fmt::format("{}{}", names.empty() ? "" : ", ", w.name);
    }
    return CannotRun(
        kCommand, absl::InvalidArgumentError(
                      fmt::format("unknown workload \"{}\" (one of {})", options.workload, names)));
  }
  if (absl::Status s = CheckOptions(options); !s.ok()) return CannotRun(kCommand, s);
  DiskManagerOptions base;
  base.mode = options.use_existing ? OpenMode::kOpenExisting : OpenMode::kCreate;
  absl::StatusOr<DiskManagerOptions> disk = ParseDiskManagerSpec(options.disk, base);
  if (!disk.ok()) {
    return CannotRun(kCommand, absl::InvalidArgumentError(fmt::format(
                                   "--disk: {}", std::string(disk.status().message()))));
  }

  const bool temporary = options.db.empty();
  fs::path path = options.db;
  if (temporary) {
    std::error_code ec;
    const fs::path dir = fs::temp_directory_path(ec);
    if (ec) {
      return CannotRun(
          kCommand, absl::FailedPreconditionError(fmt::format(
                        "no directory for a temporary store ({}): pass --db=PATH", ec.message())));
    }
    path = dir / fmt::format("pagestore-bench-{}.db", ::getpid());
  }
  const fs::path wal = path.string() + "-wal";
  if (!options.use_existing) {
    std::error_code ec;
    for (const fs::path& p : {path, wal}) {
      if (fs::exists(p, ec)) {
        return CannotRun(kCommand, absl::AlreadyExistsError(fmt::format(
                                       "{} exists: pass --use-existing to run on it, or remove "
                                       "it (and {})",
                                       p.string(), wal.string())));
      }
    }
  }
  // Removes a temporary store at every exit, after the store below has closed.
  absl::Cleanup remove_temporary = [&] {
    if (!temporary) return;
    std::error_code ec;
    fs::remove(path, ec);
    fs::remove_all(wal, ec);
  };

  struct sigaction action = {}, old_int = {}, old_term = {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);
  absl::Cleanup restore_signals = [&] {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
  };

  StoreOptions store_options;
  store_options.disk = *disk;
  store_options.pool_frames = options.pool_frames;
  store_options.durability = options.sync ? Durability::kSync : Durability::kNone;
  store_options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  store_options.undo_handlers[kHashResourceManager] = HashUndoHandler();

  Report report;
  report.workload = std::string(workload->name);
  report.summary = std::string(workload->summary);
  report.db = path.string();
  report.temporary = temporary;
  report.disk = FormatDiskManagerSpec(*disk);
  report.pool_frames = options.pool_frames;
  report.sync = options.sync;
  report.seed = options.seed;
  report.threads = options.threads;
  report.value_size = options.value_size;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, store_options);
    if (!store.ok()) return CannotRun(kCommand, store.status());
    absl::Status s = RunOnStore(options, *workload, **store, report);
    // Close even after a failure (a temporary store is removed next, a named one kept whole).
    absl::Status closed = (*store)->Close();
    if (!s.ok()) {
      if (absl::IsCancelled(s)) s = absl::CancelledError("interrupted; the store was closed");
      return CannotRun(kCommand, s);
    }
    if (!closed.ok()) return CannotRun(kCommand, closed);
  }
  if (options.json) {
    PrintJson(report);
  } else {
    PrintText(report);
  }
  return kExitOk;
}

constexpr char kFooter[] = R"(Workloads:
  fill     write --num records (keys in random order, each once, like db_bench's fillrandom;
           records already there are overwritten)
  read     uniform random point reads of existing records
  multiget read's records in batches of --batch (default 32) keys, one BTree::MultiGet each
           (whose misses go to the disk together); an op is one batch
  ycsb-a   50% read, 50% update          ycsb-b   95% read, 5% update
  ycsb-c   100% read                     ycsb-d   95% read (latest), 5% insert
  ycsb-e   95% scan (1-100 records), 5% insert
  ycsb-f   50% read, 50% read-modify-write
  The ycsb workloads draw records by YCSB's scrambled zipfian (constant 0.99; d: latest). read
  and ycsb-* read records 0..num-1; they first load those the store's "bench" B+tree lacks
  (untimed, reported apart).

Keys are 16 bytes (a hashed record number, then the number); values start with the number,
which every read checks. Every timed write is its own transaction (Store::Begin, one put or
insert, Commit with durability none, or sync with --sync), as an engine commits a single-key
write. Latency is measured around each operation's store calls (steady_clock), per operation
kind; MB/s is key+value bytes moved per second in MiB. Any unexpected status (a record that
should exist not found, ...) stops the run: one line on stderr, exit status 2.

--json fields: workload, db, temporary, disk, pool_frames, durability, seed, threads, key_size,
value_size, records, records_after, load (null | {records, seconds, records_per_sec}), ops,
seconds, total and by_op.<write|read|update|insert|scan|read_modify_write|multiget>, each {ops, bytes,
ops_per_sec, mb_per_sec, latency_us: {p50, p99, p999, max}}.)";

// CLI11 reads "-1" into an unsigned option as 2^64 - 1; refuse a sign instead.
CLI::Validator NotNegative() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return value.find('-') == std::string::npos ? "" : value + " is negative";
      },
      "", "NotNegative");
}

}  // namespace

void AddBenchCommand(CLI::App& app, RunFunction& run) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Benchmark a store: fill, read or a YCSB workload; ops/s, MB/s, latency");
  cmd->add_option("--db", options->db,
                  "The store's page file (its log: PATH-wal); default: a temporary store, "
                  "removed at the end");
  cmd->add_flag("--use-existing", options->use_existing,
                "Reopen the store at --db (otherwise --db must not exist yet)");
  cmd->add_option("--disk", options->disk,
                  "Disk manager spec: pread, mmap, pread:direct=1, mmap:populate=1, ...")
      ->capture_default_str();
  cmd->add_option("--workload", options->workload,
                  "fill, read, multiget, ycsb-a, ycsb-b, ycsb-c, ycsb-d, ycsb-e or ycsb-f")
      ->required();
  cmd->add_option("--num", options->num, "Records (fill writes them; the others load them)")
      ->check(NotNegative())
      ->capture_default_str();
  CLI::Option* ops =
      cmd->add_option("--ops", options->ops, "Operations of read and ycsb-* (default: --num)")
          ->check(NotNegative());
  cmd->add_option("--threads", options->threads, "Threads, each with an even share of the ops")
      ->capture_default_str();
  cmd->add_option("--value-size", options->value_size,
                  fmt::format("Value bytes (keys are 16; at most {})", kMaxValueSize))
      ->check(NotNegative())
      ->capture_default_str();
  cmd->add_option("--pool-frames", options->pool_frames, "Buffer pool frames of 4 KiB")
      ->check(NotNegative())
      ->capture_default_str();
  cmd->add_flag("--sync", options->sync, "Commit each write durably (fdatasync), not kNone");
  cmd->add_option("--batch", options->batch, "Keys per BTree::MultiGet (workload multiget)")
      ->check(NotNegative())
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the threads' random generators")
      ->check(NotNegative())
      ->capture_default_str();
  cmd->add_flag("--json", options->json, "Print one JSON object (fields below) instead of text");
  cmd->footer(kFooter);
  cmd->callback([&run, options, ops] {
    options->ops_given = ops->count() > 0;
    run = [options] { return RunBench(*options); };
  });
}

}  // namespace pagestore::tools
