// ycsb_bench's pagestore_pread and pagestore_mmap engines: a Store over the pread or the mmap
// disk manager holding one BTree, every operation its own transaction (settings and why: the
// header of benchmarks/ycsb_bench.cc).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/engines/engine.h"
#include "buffer/buffer_pool.h"
#include "index/btree.h"
#include "storage/disk_manager.h"
#include "storage/page.h"
#include "tools/ycsb.h"
#include "wal/store.h"

namespace pagestore::bench {
namespace {

using ycsb::kKeySize;
namespace fs = std::filesystem;

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
    absl::Status MultiRead(std::span<const std::string_view> keys,
                           std::span<const std::uint64_t> ids) override {
      e_.tree_->MultiGet(keys, &values_, &statuses_);
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!statuses_[i].ok()) [[unlikely]] {
          return absl::IsNotFound(statuses_[i]) ? NotFound(e_.name(), keys[i]) : statuses_[i];
        }
        if (absl::Status s = CheckRead(e_.name(), ids[i], values_[i].data(), values_[i].size());
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
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
    std::string value_;                // reused: no allocation per read
    std::vector<std::string> values_;  // MultiRead's
    std::vector<absl::Status> statuses_;
  };

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BTree> tree_;
  BufferPoolStats before_;  // thread 0's, between StartRun and EndRun
  std::uint64_t log_before_ = 0;
};

}  // namespace

std::unique_ptr<Engine> NewPagestoreEngine(std::string name, fs::path dir,
                                           std::string_view disk_spec, bool durable,
                                           std::uint64_t records) {
  return std::make_unique<PagestoreEngine>(std::move(name), std::move(dir), disk_spec, durable,
                                           records);
}

}  // namespace pagestore::bench
