// Helpers for the buffer pool tests: memory-backed pools, page contents that carry their id and
// a version, a recording LogFlusher and a disk manager that checks the WAL rule on every write.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "buffer/buffer_pool.h"
#include "storage/fault_injection_disk_manager.h"
#include "storage/memory_disk_manager.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {

inline std::unique_ptr<DiskManager> OpenMemory(const std::shared_ptr<MemoryFile>& mem,
                                               OpenMode mode = OpenMode::kOpenOrCreate) {
  DiskManagerOptions o;
  o.mode = mode;
  auto dm = MemoryDiskManager::Open(mem, o);
  EXPECT_TRUE(dm.ok()) << dm.status();
  return dm.ok() ? std::unique_ptr<DiskManager>(std::move(*dm)) : nullptr;
}

inline std::unique_ptr<BufferPool> MakeMemoryPool(std::size_t frames,
                                                  const BufferPoolOptions& options = {}) {
  auto pool = BufferPool::Create(frames, OpenMemory(std::make_shared<MemoryFile>()), options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

// A pool over a FaultInjectionDiskManager over memory; `fault` stays owned by the pool.
struct FaultPool {
  std::unique_ptr<BufferPool> pool;
  FaultInjectionDiskManager* fault = nullptr;
};

inline FaultPool MakeFaultPool(std::size_t frames) {
  auto disk =
      std::make_unique<FaultInjectionDiskManager>(OpenMemory(std::make_shared<MemoryFile>()));
  FaultPool fp;
  fp.fault = disk.get();
  auto pool = BufferPool::Create(frames, std::move(disk));
  EXPECT_TRUE(pool.ok()) << pool.status();
  if (pool.ok()) fp.pool = std::move(*pool);
  return fp;
}

// Writes FillPage(id, version)'s payload into a guarded page (the header stays the pool's).
inline void WriteVersion(WritePageGuard& g, std::uint64_t version) {
  Page content;
  FillPage(content, g.page_id(), version);
  std::memcpy(g.mutable_data().data() + kPageHeaderSize, content.data() + kPageHeaderSize,
              kPagePayloadSize);
}

// True if the payload is FillPage(id, version)'s.
inline bool HoldsVersion(ConstPageSpan page, PageId id, std::uint64_t version) {
  Page expect;
  FillPage(expect, id, version);
  return std::memcmp(page.data() + kPageHeaderSize, expect.data() + kPageHeaderSize,
                     kPagePayloadSize) == 0;
}

inline std::vector<PageId> CreatePages(BufferPool& pool, int n) {
  std::vector<PageId> ids;
  for (int i = 0; i < n; ++i) {
    auto g = pool.NewPage(PageType::kRaw);
    EXPECT_TRUE(g.ok()) << g.status();
    if (!g.ok()) break;
    WriteVersion(*g, 0);
    ids.push_back(g->page_id());
  }
  return ids;
}

class RecordingLogFlusher final : public LogFlusher {
 public:
  void Append(Lsn lsn) { appended_.store(lsn); }
  void FailNext(int n) { fail_next_.store(n); }
  Lsn flushed() const { return flushed_.load(); }
  absl::Status FlushUntil(Lsn lsn) override {
    if (fail_next_.load() > 0) {
      fail_next_.fetch_sub(1);
      return absl::UnavailableError(fmt::format("log flush to {} failed (injected)", lsn));
    }
    Lsn cur = flushed_.load();
    while (cur < lsn && !flushed_.compare_exchange_weak(cur, lsn)) {
    }
    return absl::OkStatus();
  }

 private:
  std::atomic<Lsn> appended_{0};
  std::atomic<Lsn> flushed_{0};
  std::atomic<int> fail_next_{0};
};

// Forwards every call to `inner`; a test's manager overrides the calls it watches or changes.
class ForwardingDiskManager : public DiskManager {
 public:
  explicit ForwardingDiskManager(std::unique_ptr<DiskManager> inner) : inner_(std::move(inner)) {}
  absl::Status ReadPage(PageId id, PageSpan out) override { return inner_->ReadPage(id, out); }
  absl::Status WritePage(PageId id, PageSpan page) override { return inner_->WritePage(id, page); }
  absl::StatusOr<PageId> AllocatePage() override { return inner_->AllocatePage(); }
  absl::Status Sync() override { return inner_->Sync(); }
  PageId page_count() const override { return inner_->page_count(); }
  SuperblockRoots roots() const override { return inner_->roots(); }
  void SetRoots(const SuperblockRoots& r) override { inner_->SetRoots(r); }
  absl::Status Advise(AccessPattern p) override { return inner_->Advise(p); }
  absl::Status WillNeed(PageId a, PageId b) override { return inner_->WillNeed(a, b); }
  DiskStats stats() const override { return inner_->stats(); }
  std::string_view name() const override { return "forwarding"; }
  const std::string& path() const override { return inner_->path(); }
  bool read_only() const override { return inner_->read_only(); }

 protected:
  std::unique_ptr<DiskManager> inner_;
};

// Counts page writes whose LSN the log had not yet made durable.
class WalCheckingDiskManager final : public ForwardingDiskManager {
 public:
  WalCheckingDiskManager(std::unique_ptr<DiskManager> inner, const RecordingLogFlusher* log)
      : ForwardingDiskManager(std::move(inner)), log_(log) {}
  int writes() const { return writes_.load(); }
  int violations() const { return violations_.load(); }

  absl::Status WritePage(PageId id, PageSpan page) override {
    ++writes_;
    if (ReadPageHeader(page).lsn > log_->flushed()) ++violations_;
    return inner_->WritePage(id, page);
  }
  std::string_view name() const override { return "wal-check"; }

 private:
  const RecordingLogFlusher* log_;
  std::atomic<int> writes_{0};
  std::atomic<int> violations_{0};
};

}  // namespace pagestore::testing
