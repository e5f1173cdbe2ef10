// PageAllocator: which data pages are free, and growing the file (wal/README.md, "Page
// allocation"). Internal to the store; not installed.
//
// The allocator keeps, in memory, the pages that are free (allocatable), the pages taken by
// mini-transactions that have not committed (in flight), and the trunk pages that hold the free
// list on disk for the last two checkpoints and for the checkpoint in progress. Its state changes
// only as the log says: a mini-transaction's allocations are applied by the append that logs
// them (Apply, under the log's lock), a file extension is logged before the page is used, and a
// checkpoint swaps in its trunks once the superblock names them.
//
// Ownership: borrows the pool and (from SetLog on) the log; both outlive it.
// Thread safety: every method is safe for concurrent use. Lock order: the log's lock, then mu_;
// extend_mu_ before both (Extend appends while holding it).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/buffer_pool.h"
#include "storage/mutex.h"
#include "wal/log_format.h"
#include "wal/log_manager.h"

namespace pagestore {

// One allocation entry of a mini-transaction: kAlloc, kExtend or kFree of a page.
struct AllocationOp {
  MtrEntry kind;
  PageId id;
};

class PageAllocator {
 public:
  explicit PageAllocator(BufferPool* pool) : pool_(pool) {}
  PageAllocator(const PageAllocator&) = delete;
  PageAllocator& operator=(const PageAllocator&) = delete;

  // The log that extensions are appended to (set once recovery has opened it).
  void SetLog(LogManager* log) { log_ = log; }
  // The state recovery rebuilt: free pages, the trunks holding the checkpoint's free list, and
  // the high-water mark (every page below it is named by the log or the free list).
  void Reset(absl::btree_set<PageId> free, std::vector<PageId> trunks, PageId high_water);

  // A page for a mini-transaction: from the free list, initialized as `type` in its frame, or
  // by growing the file. `extended` says which. The page is in flight until Apply or Return.
  struct Taken {
    WritePageGuard guard;
    bool extended;
  };
  [[nodiscard]] absl::StatusOr<Taken> Take(PageType type);
  // Gives back a page taken by a mini-transaction that did not commit.
  void Return(PageId id);
  // InvalidArgumentError if `id` is free already (on the list or a trunk).
  [[nodiscard]] absl::Status CheckNotFree(PageId id) const;
  // The allocator's side of a logged mini-transaction; runs under the log's lock.
  void Apply(std::span<const AllocationOp> ops);
  void CountFreed(std::uint64_t n) { freed_.fetch_add(n, std::memory_order_relaxed); }

  // Checkpoints (wal/checkpointer.cc). Under the log's checkpoint lock: the free list as of the
  // cut (sorted), the high-water mark, and the trunks to hold it, taken off the allocatable set
  // (fewer than needed when too few pages are free: the checkpoint extends the file for the rest).
  // `end`: the file's page count, to give back the free pages at its end (taken off the free
  // list, the high-water mark lowered to the first of them: shrink_to), and to hold the list in
  // the lowest free pages rather than the highest; kInvalidPageId: nothing is given back.
  struct Cut {
    std::vector<PageId> free;
    std::vector<PageId> trunks;
    std::size_t trunks_needed = 0;
    PageId high_water = kFirstDataPage;
    PageId shrink_to = kInvalidPageId;  // the file's new page count, if the cut gave pages back
    PageId high_water_before = kFirstDataPage;  // the high-water mark before, if it did
  };
  Cut CutForCheckpoint(PageId end = kInvalidPageId);
  // The shrink `cut` decided did not happen (the disk manager refused it): its pages [shrink_to,
  // end) are free again. Call with growth still held off.
  void RestoreTail(const Cut& cut, PageId end);
  // Runs `fn` with file growth held off (a checkpoint's cut and the shrink it decides, so that no
  // page is added after the pages it gives back before they are gone).
  [[nodiscard]] absl::Status WithGrowthHeld(absl::FunctionRef<absl::Status()> fn)
      ABSL_LOCKS_EXCLUDED(extend_mu_);
  // A trunk page by growing the file (logged as grown and free; a pending trunk from here on).
  [[nodiscard]] absl::StatusOr<WritePageGuard> ExtendForTrunk();
  // The checkpoint failed: its trunks are allocatable again.
  void AbandonTrunks(std::span<const PageId> trunks);
  // The superblock names the checkpoint whose trunks these are: the trunks of the one before
  // the previous become allocatable.
  void InstallTrunks(std::vector<PageId> trunks);

  // The free pages and the trunks holding the free list, sorted.
  std::vector<PageId> FreePages() const;
  std::uint64_t free_page_count() const;
  // The free pages a mini-transaction can take now (the trunks holding the list are not).
  std::uint64_t allocatable_count() const;
  std::uint64_t allocated() const { return allocated_.load(std::memory_order_relaxed); }
  std::uint64_t reused() const { return reused_.load(std::memory_order_relaxed); }
  std::uint64_t freed() const { return freed_.load(std::memory_order_relaxed); }

 private:
  // Grows the file by one page, logged as grown and free before any other growth; `for_mtr`:
  // the page is in flight (a mini-transaction takes it) rather than a checkpoint's trunk.
  [[nodiscard]] absl::StatusOr<WritePageGuard> Extend(PageType type, bool for_mtr);
  bool IsTrunk(PageId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  BufferPool* const pool_;
  LogManager* log_ = nullptr;

  // One extension at a time (Extend). No page latch is taken under it.
  ExclusiveMutex extend_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  absl::btree_set<PageId> free_ ABSL_GUARDED_BY(mu_);       // allocatable
  absl::btree_set<PageId> in_flight_ ABSL_GUARDED_BY(mu_);  // taken, not yet committed
  std::vector<PageId> trunks_ ABSL_GUARDED_BY(mu_);         // hold the durable free list
  // The trunks of the checkpoint before (the older superblock copy names them): kept off the
  // allocatable set until the next checkpoint replaces that copy, so that open can fall back to
  // it when the newer copy is damaged.
  std::vector<PageId> prev_trunks_ ABSL_GUARDED_BY(mu_);
  // Trunks of the checkpoint in progress: off the free list, not yet named by the superblock.
  std::vector<PageId> pending_trunks_ ABSL_GUARDED_BY(mu_);
  PageId high_water_ ABSL_GUARDED_BY(mu_) = kFirstDataPage;  // committed allocations

  std::atomic<std::uint64_t> allocated_{0}, reused_{0}, freed_{0};
};

}  // namespace pagestore
