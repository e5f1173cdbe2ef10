// The one interface ycsb_bench drives every engine through (ours and its peers), the record
// format they all hold and the checks every read makes. Each engine lives in its own file beside
// this one and is made by the factory declared at the end; ycsb_driver.cc loads, checks and runs
// them. The records: 16-byte keys and 100-byte values made as tools/ycsb.h makes them; value i
// starts with i's eight bytes and every read checks them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "tools/ycsb.h"

namespace pagestore::bench {

constexpr std::size_t kValueSize = 100;
constexpr int kMaxThreads = 2;                          // the most threads any benchmark runs
constexpr std::uint64_t kCheckpointBytes = 1ull << 30;  // every store's checkpoint interval
// SQLite's wal_autocheckpoint (in pages of its 4 KiB page_size): the same GiB.
constexpr std::uint64_t kSqliteAutocheckpointPages = kCheckpointBytes / 4096;

// The records' key and value bytes, with room for the inserts: what the caches are sized by.
inline std::uint64_t DataBytes(std::uint64_t records) {
  return (records + records / 8) * (ycsb::kKeySize + kValueSize);
}

// Record `id`'s loaded value.
std::string Value(std::uint64_t id);

// The bytes of the regular files under `p` (or of `p` itself).
std::uint64_t DirectoryBytes(const std::filesystem::path& p);

// Creates `p` and its parents, or dies naming it.
void MakeDirectory(const std::filesystem::path& p);

absl::Status NotFound(std::string_view engine, std::string_view key);
absl::Status WrongValue(std::string_view engine, std::uint64_t id, std::size_t size);

// Checks one record read back: its value (of kValueSize bytes) starts with its number.
inline absl::Status CheckRead(std::string_view engine, std::uint64_t id, const void* data,
                              std::size_t size) {
  if (size == kValueSize &&
      ycsb::ValueHasRecord(id, std::string_view(static_cast<const char*>(data), size))) [[likely]] {
    return absl::OkStatus();
  }
  return WrongValue(engine, id, size);
}

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
  // Reads the records `ids` (keys `keys`) and checks each: through the engine's own batched
  // lookup where it has one (pagestore: BTree::MultiGet; RocksDB: DB::MultiGet). LMDB, SQLite
  // and absl::btree_map have none: this default reads one key after another.
  virtual absl::Status MultiRead(std::span<const std::string_view> keys,
                                 std::span<const std::uint64_t> ids) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (absl::Status s = Read(keys[i], ids[i]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
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
  virtual std::uint64_t FileBytes(const std::filesystem::path& dir) const {
    return DirectoryBytes(dir);
  }
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

// The engines, each in its own file (engines/<name>.cc). `name` is the second part of its
// benchmarks' names, `dir` holds its files, `durable` asks for a full sync at every commit once
// loaded, `records` sizes its caches. Setup failures die (bench::Die) naming the file.

// Our Store and one BTree over the disk manager `disk_spec` ("pread", "mmap").
std::unique_ptr<Engine> NewPagestoreEngine(std::string name, std::filesystem::path dir,
                                           std::string_view disk_spec, bool durable,
                                           std::uint64_t records);
std::unique_ptr<Engine> NewLmdbEngine(std::string name, std::filesystem::path dir, bool durable,
                                      std::uint64_t records);
// `mmap`: SQLite reads through a mapping (mmap_size = 64 GiB) instead of its page cache.
std::unique_ptr<Engine> NewSqliteEngine(std::string name, std::filesystem::path dir, bool mmap,
                                        bool durable, std::uint64_t records);
std::unique_ptr<Engine> NewRocksEngine(std::string name, std::filesystem::path dir, bool durable,
                                       std::uint64_t records);
// absl::btree_map under one absl::Mutex: the in-memory limit (no files, never durable).
std::unique_ptr<Engine> NewAbslEngine(std::string name);

}  // namespace pagestore::bench
