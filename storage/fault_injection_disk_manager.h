// FaultInjectionDiskManager wraps any DiskManager to test what upper layers do when storage
// misbehaves, in the manner of LevelDB's fault-injection env and SQLite's test VFS:
//  - FailCall(n, errno, persistent): the n-th I/O call from now fails with that errno (EIO,
//    ENOSPC...), once or from then on;
//  - power loss: writes are held in the wrapper until Sync() hands them to the wrapped manager,
//    so SimulatePowerLoss() decides the fate of exactly the unsynced ones: all dropped, or each
//    kept with a probability (the kernel writes dirty pages back whenever it likes, so a layer
//    that breaks the WAL rule gets caught), roots set since the last Sync dropped;
//  - torn writes: TearNextWrite(k) makes the next written page, if power is lost before it is
//    synced, reach the disk with only its first k 512-byte sectors new over its durable bytes.
// The wrapped manager thus always holds the durable state. After SimulatePowerLoss() every call
// fails; destroy the wrapper and reopen the file to "reboot".
//
// A failed Sync (injected or real) is final, as for the real managers: later writes,
// allocations and syncs fail; reads still work.
//
// Ownership: owns the wrapped manager. Thread safety: safe for concurrent use (one mutex).
#pragma once

#include <array>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "storage/disk_manager.h"
#include "storage/mutex.h"

namespace pagestore {

class FaultInjectionDiskManager final : public DiskManager {
 public:
  explicit FaultInjectionDiskManager(std::unique_ptr<DiskManager> inner);
  ~FaultInjectionDiskManager() override;

  // The n-th counted call from now (1 = the next) fails with `err`; with `persistent` every call
  // after it fails too. Counted calls: ReadPage, ReadPages, WritePage, AllocatePage, Sync, Advise,
  // WillNeed.
  void FailCall(std::uint64_t n, int err, bool persistent = false);
  void ClearFaults();
  // The next WritePage's page is torn at power loss: only `sectors` (1..7) of its eight 512-byte
  // sectors reach the disk, the rest keep their durable bytes.
  void TearNextWrite(int sectors);
  // Loses power: each unsynced write reaches the disk with probability `keep_probability`
  // (chosen with `seed`), the rest are dropped; torn pages always land torn. From then on every
  // call is FailedPrecondition.
  [[nodiscard]] absl::Status SimulatePowerLoss(double keep_probability = 0.0,
                                               std::uint64_t seed = 0);

  std::uint64_t calls() const;  // counted calls so far
  std::size_t unsynced_pages() const;
  DiskManager& inner() { return *inner_; }

  [[nodiscard]] absl::Status ReadPage(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WritePage(PageId id, PageSpan page) override;
  [[nodiscard]] absl::Status ReadPages(std::span<const PageId> ids,
                                       std::span<std::byte> out) override;
  [[nodiscard]] absl::StatusOr<PageId> AllocatePage() override;
  [[nodiscard]] absl::Status Sync() override;
  // One counted call; the unsynced writes of the pages given back are dropped.
  [[nodiscard]] absl::Status Shrink(PageId count) override;
  // One counted call; pages written since the last Sync come from this manager's copies.
  [[nodiscard]] absl::Status ReadRawPages(PageId first, std::span<std::byte> out) override;
  PageId page_count() const override { return inner_->page_count(); }
  SuperblockRoots roots() const override { return inner_->roots(); }
  void SetRoots(const SuperblockRoots& roots) override { inner_->SetRoots(roots); }
  [[nodiscard]] absl::Status Advise(AccessPattern pattern) override;
  [[nodiscard]] absl::Status WillNeed(PageId first, PageId last) override;
  DiskStats stats() const override { return inner_->stats(); }
  std::string_view name() const override { return name_; }
  const std::string& path() const override { return inner_->path(); }
  bool read_only() const override { return inner_->read_only(); }

 private:
  using Page = std::array<std::byte, kPageSize>;
  // Counts the call and returns the injected failure, if any, for `op` on page `id`. A mutating
  // call also fails on a read-only file or once a sync has failed.
  [[nodiscard]] absl::Status Enter(std::string_view op, PageId id, bool mutating)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<DiskManager> inner_;
  const std::string name_;
  mutable Mutex mu_;
  std::uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t fail_at_ ABSL_GUARDED_BY(mu_) = 0;  // absolute call number; 0 = none
  int fail_errno_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_persistent_ ABSL_GUARDED_BY(mu_) = false;
  int tear_next_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status sync_failure_ ABSL_GUARDED_BY(mu_);  // first failed Sync: no more mutations
  bool power_lost_ ABSL_GUARDED_BY(mu_) = false;    // no more calls at all
  absl::flat_hash_map<PageId, std::unique_ptr<Page>> unsynced_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PageId, int> torn_ ABSL_GUARDED_BY(mu_);  // page -> sectors that land
};

}  // namespace pagestore
