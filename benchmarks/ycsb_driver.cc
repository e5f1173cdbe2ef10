// ycsb_bench's driver (ycsb_driver.h): loading and checking the engines, the benchmarks' names and
// generators, and the loops of the YCSB, durable-commit and raw-fdatasync benchmarks.
#include "benchmarks/ycsb_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/engines/engine.h"
#include "tools/ycsb.h"

namespace pagestore::bench {

using ycsb::OpKind;
using enum ycsb::OpKind;

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kDurableRecords = 100000;     // durable instances: min(R, this)
constexpr std::uint64_t kRawSyncBytes = 64ull << 20;  // raw_fdatasync's file
constexpr std::size_t kRawSyncBlock = 4096;

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
  const std::vector<std::uint64_t>*& slot = n == GetYcsbConfig().records ? all : durable;
  if (slot == nullptr) slot = new std::vector<std::uint64_t>(SortedIds(n));
  if (slot->size() != n) Die(fmt::format("SortedIdsCached({}): cached {}", n, slot->size()));
  return *slot;
}

std::array<Engine*, kEngines> g_fast{};
std::array<Engine*, kEngines> g_durable{};

// Where an engine keeps its files.
fs::path EngineDir(EngineId id, bool durable) {
  return GetYcsbConfig().root / (durable ? "durable" : "fast") / kEngineNames[id];
}

std::unique_ptr<Engine> MakeEngine(EngineId id, bool durable, std::uint64_t records) {
  const std::string name = kEngineNames[id];
  const fs::path dir = EngineDir(id, durable);
  switch (id) {
    case kPagestorePread:
      return NewPagestoreEngine(name, dir, "pread", durable, records);
    case kPagestoreMmap:
      return NewPagestoreEngine(name, dir, "mmap", durable, records);
    case kLmdb:
      return NewLmdbEngine(name, dir, durable, records);
    case kSqlite:
      return NewSqliteEngine(name, dir, false, durable, records);
    case kSqliteMmap:
      return NewSqliteEngine(name, dir, true, durable, records);
    case kRocksdb:
      return NewRocksEngine(name, dir, durable, records);
    case kAbsl:
    case kEngines:
      break;
  }
  return NewAbslEngine(name);
}

// Makes, loads, syncs and checks an engine (untimed): exactly records 0..n-1 in key order, each
// with its value, which also warms its caches. `late`: from a benchmark's setup, not main.
Engine* LoadEngine(EngineId id, bool durable, bool late) {
  const std::uint64_t n = durable ? GetYcsbConfig().durable_records : GetYcsbConfig().records;
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

// Runs so far of each benchmark (by full name), counted by its setup: Google Benchmark 1.7 calls
// the setup once per run (those that size the iteration count too) and exposes no repetition
// index, so this numbers the runs of one benchmark whatever ran in between.
absl::Mutex g_runs_mu;
std::map<std::string, std::uint64_t, std::less<>>* g_runs ABSL_GUARDED_BY(g_runs_mu) = nullptr;

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
  const std::uint64_t seed = GetYcsbConfig().seed, run = RunsOf(name);
  std::vector<std::uint32_t> words = {
      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
      static_cast<std::uint32_t>(run), static_cast<std::uint32_t>(run >> 32),
      static_cast<std::uint32_t>(thread)};
  for (const char c : name) words.push_back(static_cast<unsigned char>(c));
  std::seed_seq seq(words.begin(), words.end());
  return std::mt19937_64(seq);
}

void EngineCounters(benchmark::State& state, const Engine& e) {
  state.counters["load_s"] = e.load_seconds;
  state.counters["db_mib"] = e.db_mib;
}

void ReportLatency(benchmark::State& state, const ycsb::LatencyHistogram& h) {
  state.counters["p50_us"] = h.Percentile(50) / 1000;
  state.counters["p90_us"] = h.Percentile(90) / 1000;
  state.counters["p99_us"] = h.Percentile(99) / 1000;
  state.counters["p999_us"] = h.Percentile(99.9) / 1000;
  state.counters["max_us"] = static_cast<double>(h.max()) / 1000;
}

struct RawSyncFile {
  fs::path path;
  int fd = -1;
};
RawSyncFile* g_raw = nullptr;

}  // namespace

const YcsbConfig& GetYcsbConfig() {
  static const YcsbConfig config = [] {
    YcsbConfig c;
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

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Engine& EnsureLoaded(EngineId id, bool durable, bool late) {
  Engine*& slot = (durable ? g_durable : g_fast)[id];
  if (slot == nullptr) slot = LoadEngine(id, durable, late);
  return *slot;
}

Engine* LoadedEngine(EngineId id, bool durable) { return (durable ? g_durable : g_fast)[id]; }

void CloseEngines() {
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
}

std::string InstanceName(std::string_view family, int threads) {
  return fmt::format("{}/real_time/threads:{}", family, threads);
}
std::string YcsbFamily(int engine, int workload) {
  // "ycsb-a" -> "ycsb_a", "ycsb-c-multiget" -> "ycsb_c_multiget".
  std::string family = kYcsbNames[static_cast<std::size_t>(workload)];
  std::replace(family.begin(), family.end(), '-', '_');
  return fmt::format("{}/{}", family, kEngineNames[engine]);
}
std::string DurableFamily(int engine) {
  return fmt::format("durable_commit/{}", kEngineNames[engine]);
}

void CountRun(const std::string& name) {
  absl::MutexLock lock(&g_runs_mu);
  if (g_runs == nullptr) g_runs = new std::map<std::string, std::uint64_t, std::less<>>();
  ++(*g_runs)[name];
}

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
  std::vector<std::uint64_t> batch_ids;  // kMultiGet's
  std::vector<ycsb::Key> batch_keys;
  std::vector<std::string_view> batch_views;
  std::int64_t items = 0;  // records read or written (a batch counts each of its keys)
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
      case kMultiGet:
        batch_ids.assign(1, id);
        while (batch_ids.size() < ycsb::kMultiGetBatch) batch_ids.push_back(chooser.Next(gen));
        batch_keys.clear();
        batch_views.clear();
        for (std::uint64_t b : batch_ids) batch_keys.push_back(ycsb::MakeKey(b));
        for (const ycsb::Key& k : batch_keys) batch_views.push_back(k.view());
        s = (*session)->MultiRead(batch_views, batch_ids);
        items += static_cast<std::int64_t>(batch_ids.size()) - 1;
        break;
      default:
        s = absl::InternalError("no such operation");
    }
    if (!s.ok()) [[unlikely]] {
      Fail(state, absl::Status(s.code(), fmt::format("{} of record {}: {}", ycsb::kOpNames[kind],
                                                     id, std::string(s.message()))));
      break;
    }
    ++items;
  }
  state.SetItemsProcessed(items);
  if (t == 0) {
    e.EndRun(state);
    EngineCounters(state, e);
  }
}

void RunDurableCommit(benchmark::State& state, std::string_view name, Engine& e) {
  absl::StatusOr<std::unique_ptr<Session>> session = e.NewSession(0);
  if (!session.ok()) {
    Fail(state, session.status());
    return;
  }
  std::mt19937_64 gen = ThreadGenerator(name, 0);
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

void MakeRawSyncFile() {
  if (g_raw != nullptr) return;
  auto raw = std::make_unique<RawSyncFile>();
  raw->path = GetYcsbConfig().root / "raw_fdatasync.dat";
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

void RunDurableRaw(benchmark::State& state) {
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

}  // namespace pagestore::bench
