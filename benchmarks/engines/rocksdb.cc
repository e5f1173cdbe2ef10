// ycsb_bench's rocksdb engine: RocksDB with its WAL on (synced at every write when durable), an
// LRU block cache, a bloom filter and no compression (settings and why: the header of
// benchmarks/ycsb_bench.cc).
#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/engines/engine.h"
#include "tools/ycsb.h"

namespace pagestore::bench {
namespace {

using ycsb::kKeySize;
namespace fs = std::filesystem;

constexpr std::uint64_t kRocksLoadBatch = 1000;  // puts per load WriteBatch

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
    absl::Status MultiRead(std::span<const std::string_view> keys,
                           std::span<const std::uint64_t> ids) override {
      // The batched DB::MultiGet (block-based tables: one pass over the blocks the keys need).
      slices_.clear();
      for (std::string_view k : keys) slices_.push_back(ToSlice(k));
      values_.resize(keys.size());
      statuses_.resize(keys.size());
      for (rocksdb::PinnableSlice& v : values_) v.Reset();
      e_.db_->MultiGet(read_, e_.db_->DefaultColumnFamily(), keys.size(), slices_.data(),
                       values_.data(), statuses_.data());
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!statuses_[i].ok()) [[unlikely]] {
          return statuses_[i].IsNotFound() ? NotFound(e_.name(), keys[i])
                                           : RocksError(e_.dir_, "multiget", statuses_[i]);
        }
        if (absl::Status s = CheckRead(e_.name(), ids[i], values_[i].data(), values_[i].size());
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
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
    std::vector<rocksdb::Slice> slices_;  // MultiRead's
    std::vector<rocksdb::PinnableSlice> values_;
    std::vector<rocksdb::Status> statuses_;
  };

  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
  rocksdb::WriteOptions load_;
};

}  // namespace

std::unique_ptr<Engine> NewRocksEngine(std::string name, fs::path dir, bool durable,
                                       std::uint64_t records) {
  return std::make_unique<RocksEngine>(std::move(name), std::move(dir), durable, records);
}

}  // namespace pagestore::bench
