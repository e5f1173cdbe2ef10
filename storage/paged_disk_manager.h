// PagedDiskManager: what every concrete disk manager shares — the superblock (two alternating
// copies), page-id range checks, sealing on write and verification on read, the failed state after
// a failed sync, the read-only mode and the statistics. A subclass supplies only raw page I/O,
// growth and data sync.
//
// Invariants (numbered as in storage/README.md and referenced in the .cc; 5 and 6 there are
// the destructor's and the file lock's):
//  1. Pages [0, page_count()) exist in the file: growth reserves space before page_count rises.
//  2. The durable superblock never claims more pages than the durable file holds: Sync makes the
//     data and the file size durable first, then writes the next superblock copy, then syncs it.
//  3. A superblock write goes to copy (sequence % 2), never over the copy open() chose.
//  4. After any failure inside Sync, no write, allocation or sync reaches the file again.
//  7. The file holds every page either superblock copy claims: Shrink lowers page_count at once,
//     but the file is cut only once both durable copies claim no more than the cut keeps.
//  8. A superblock never claims fewer pages than its roots' checkpoint knew: after a Shrink, a
//     copy written with the roots of before it still claims the pages of before it; the smaller
//     count reaches the superblock with the next roots (the checkpoint that gave them back).
//
// Thread safety: as DiskManager. Subclass hooks run concurrently for distinct pages, except
// EnsureCapacity and CutFile (under alloc_mu_) and SyncData (under sync_mu_). Lock order:
// sync_mu_, then alloc_mu_, then state_mu_; a subclass's own locks come after all three.
#pragma once

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "storage/disk_manager.h"
#include "storage/file_util.h"
#include "storage/mutex.h"
#include "storage/sharded_counter.h"

namespace pagestore {

inline PageFile::Mode ToPageFileMode(OpenMode mode) {
  switch (mode) {
    case OpenMode::kCreate:
      return PageFile::Mode::kCreate;
    case OpenMode::kOpenExisting:
      return PageFile::Mode::kOpenExisting;
    case OpenMode::kReadOnly:
      return PageFile::Mode::kReadOnly;
    case OpenMode::kOpenOrCreate:
      break;
  }
  return PageFile::Mode::kOpenOrCreate;
}

class PagedDiskManager : public DiskManager {
 public:
  ~PagedDiskManager() override = default;

  [[nodiscard]] absl::Status ReadPage(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WritePage(PageId id, PageSpan page) override;
  [[nodiscard]] absl::StatusOr<PageId> AllocatePage() override;
  [[nodiscard]] absl::Status Sync() override;
  PageId page_count() const override { return page_count_.load(std::memory_order_acquire); }
  SuperblockRoots roots() const override;
  void SetRoots(const SuperblockRoots& roots) override;
  DiskStats stats() const override;
  const std::string& path() const override { return path_; }

  [[nodiscard]] absl::Status ReadRawPages(PageId first, std::span<std::byte> out) override;
  [[nodiscard]] absl::Status Shrink(PageId count) override;
  // Page bytes exactly as stored, without verification / without sealing, bypassing the
  // superblock and failed-state checks (range is checked). For fault injection (torn pages) and
  // repair or inspection tools only.
  [[nodiscard]] absl::Status ReadRawPage(PageId id, PageSpan out);
  [[nodiscard]] absl::Status WriteRawPage(PageId id, ConstPageSpan bytes);

  bool read_only() const override { return read_only_; }
  // The superblock as last made durable (or as read at open).
  Superblock durable_superblock() const;

 protected:
  PagedDiskManager(std::string path, const DiskManagerOptions& options, bool read_only);

  // Called by a factory once raw I/O works on an empty file: writes both superblock copies and
  // syncs. `file_pages` is how many pages the file already holds (reserved space).
  [[nodiscard]] absl::Status InitializeNewFile();
  // Called by a factory on an existing file of `file_pages` whole pages: picks the superblock and
  // checks the file is not shorter than it claims.
  [[nodiscard]] absl::Status LoadSuperblock(PageId file_pages);

  // Raw I/O without checks. `id` < page_count() or a superblock copy.
  [[nodiscard]] virtual absl::Status ReadRaw(PageId id, PageSpan out) = 0;
  [[nodiscard]] virtual absl::Status WriteRaw(PageId id, ConstPageSpan page) = 0;
  // Raw pages [first, first + out.size() / kPageSize), all below page_count(): one ReadRaw per
  // page unless the subclass reads a run at once.
  [[nodiscard]] virtual absl::Status ReadRawRun(PageId first, std::span<std::byte> out);
  // Grows the file so that it holds at least `pages` pages.
  [[nodiscard]] virtual absl::Status EnsureCapacity(PageId pages)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(alloc_mu_) = 0;
  // Cuts the file to `pages` pages (Shrink's deferred cut; never below page_count()).
  [[nodiscard]] virtual absl::Status CutFile(PageId pages)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(alloc_mu_) = 0;
  // Makes every completed write durable.
  [[nodiscard]] virtual absl::Status SyncData() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_) = 0;

  // Consults the test fault hook; returns the errno to fail with, or 0.
  int InjectedErrno(IoCall call) const { return fault_hook_ ? fault_hook_(call) : 0; }
  [[nodiscard]] absl::Status CheckRange(PageId id, std::string_view op) const;
  [[nodiscard]] absl::Status CheckWritable() const;
  // Counts a WillNeed hint and checks [first, last] is a non-empty range of existing pages.
  [[nodiscard]] absl::Status CheckPrefetchRange(PageId first, PageId last);
  [[nodiscard]] absl::Status VerifyRead(PageId id, ConstPageSpan page);
  bool verify_checksums() const { return verify_; }

  const std::string path_;
  const bool read_only_;

  ShardedCounter<> reads_;
  ShardedCounter<> writes_;
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::uint64_t> growths_{0};
  std::atomic<std::uint64_t> remaps_{0};
  std::atomic<std::uint64_t> hint_calls_{0};
  std::atomic<std::uint64_t> checksum_failures_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> batch_requests_{0};
  std::atomic<std::uint64_t> batch_submits_{0};

  // Protected for a factory that grows the file before the manager is shared.
  Mutex alloc_mu_;  // serializes growth
  Mutex sync_mu_ ABSL_ACQUIRED_BEFORE(alloc_mu_, state_mu_);

 private:
  void EnterFailedState(const absl::Status& cause);
  [[nodiscard]] absl::Status WriteSuperblock(Superblock next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);

  const bool verify_;
  const std::function<int(IoCall)> fault_hook_;
  std::atomic<PageId> page_count_{kSuperblockPageCount};

  mutable Mutex state_mu_;
  Superblock durable_ ABSL_GUARDED_BY(state_mu_);
  SuperblockRoots roots_ ABSL_GUARDED_BY(state_mu_);
  // Invariant 8: after a Shrink, the superblock claims at least claim_floor_ pages while its
  // roots are still shrink_roots_ (0: no such claim).
  PageId claim_floor_ ABSL_GUARDED_BY(state_mu_) = 0;
  SuperblockRoots shrink_roots_ ABSL_GUARDED_BY(state_mu_);
  std::atomic<bool> failed_{false};
  // A Shrink whose pages the file still holds: cut by the Sync after which neither superblock
  // copy claims them.
  bool shrink_pending_ ABSL_GUARDED_BY(sync_mu_) = false;
  std::atomic<bool> shrink_requested_{false};
  absl::Status failure_ ABSL_GUARDED_BY(state_mu_);
};

}  // namespace pagestore
