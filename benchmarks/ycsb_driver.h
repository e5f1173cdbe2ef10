// ycsb_bench's driver: its settings, the table of engines (engines/engine.h) made and loaded on
// first use, the benchmarks' names and per-run generators, and the loops each benchmark runs
// (a YCSB workload, durable commits, raw fdatasync) with their counters. The workloads' pieces
// (operation mixes, the scrambled zipfian, keys and values) are tools/ycsb.h's. What every
// benchmark measures and why: the header of ycsb_bench.cc, which registers them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "benchmarks/engines/engine.h"
#include "tools/ycsb.h"

namespace pagestore::bench {

struct YcsbConfig {
  std::filesystem::path dir;   // PAGESTORE_BENCH_DIR
  std::filesystem::path root;  // this process's directory under it
  std::uint64_t records;
  std::uint64_t durable_records;
  std::uint64_t seed;
};

// Read from the environment once.
const YcsbConfig& GetYcsbConfig();

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point t0);

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

// Engine `id`'s instance with durability off (`durable` false) or its durable one, made, loaded,
// synced and checked (untimed) on the first call. `late`: called from a benchmark's setup, not
// before the runs (stderr says so). Engines stay loaded until CloseEngines.
// REQUIRES: no benchmark running (main, or a setup hook).
Engine& EnsureLoaded(EngineId id, bool durable, bool late);
// The instance if loaded, else null.
Engine* LoadedEngine(EngineId id, bool durable);
// Closes every loaded engine, then the raw_fdatasync file.
void CloseEngines();

// A benchmark's full name as Google Benchmark makes it (what --benchmark_filter matches): every
// benchmark here is UseRealTime with explicit thread counts.
std::string InstanceName(std::string_view family, int threads);
std::string YcsbFamily(int engine, int workload);
std::string DurableFamily(int engine);
inline constexpr const char* kRawFamily = "durable_commit/raw_fdatasync";

// Counts a run of the benchmark `name` (a full name): called by its setup, so that each run's
// generators are seeded by how many runs of that benchmark came before.
void CountRun(const std::string& name);

// The workloads ycsb_{a..f} run (tools/ycsb.h's names).
constexpr std::array<const char*, 7> kYcsbNames = {"ycsb-a", "ycsb-b", "ycsb-c",         "ycsb-d",
                                                   "ycsb-e", "ycsb-f", "ycsb-c-multiget"};

// One run of workload `w` on `e`, in each of the benchmark's threads; `name` is its full name.
void RunWorkload(benchmark::State& state, std::string_view name, Engine& e,
                 const ycsb::Workload& w);
// One run of durable single-key commits on `e` (a durable instance).
void RunDurableCommit(benchmark::State& state, std::string_view name, Engine& e);

// Makes (pre-zeroed and synced) raw_fdatasync's file, once.
void MakeRawSyncFile();
// One run of raw 4 KiB pwrite + fdatasync. REQUIRES: MakeRawSyncFile.
void RunDurableRaw(benchmark::State& state);

}  // namespace pagestore::bench
