// PageAllocator (wal/page_allocator.h): the free list in memory and the file's growth.
#include "wal/page_allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "buffer/buffer_pool_internals.h"
#include "wal/free_list_format.h"

namespace pagestore {

void PageAllocator::Reset(absl::btree_set<PageId> free, std::vector<PageId> trunks,
                          PageId high_water) {
  MutexLock lock(&mu_);
  for (PageId t : trunks) free.erase(t);
  free_ = std::move(free);
  trunks_ = std::move(trunks);
  high_water_ = high_water;
}

absl::StatusOr<PageAllocator::Taken> PageAllocator::Take(PageType type) {
  PageId id = kInvalidPageId;
  {
    MutexLock lock(&mu_);
    if (!free_.empty()) {
      id = *free_.begin();
      free_.erase(free_.begin());
      in_flight_.insert(id);
    }
  }
  absl::StatusOr<WritePageGuard> g;
  if (id == kInvalidPageId) {
    g = Extend(type, /*for_mtr=*/true);
  } else {
    g = BufferPoolInternals::OverwritePage(*pool_, id);
    if (!g.ok()) {
      Return(id);
      return g.status();
    }
    InitPage(g->mutable_data(), type);
  }
  if (!g.ok()) return g.status();
  allocated_.fetch_add(1, std::memory_order_relaxed);
  if (id != kInvalidPageId) reused_.fetch_add(1, std::memory_order_relaxed);
  return Taken{std::move(*g), id == kInvalidPageId};
}

void PageAllocator::Return(PageId id) {
  MutexLock lock(&mu_);
  in_flight_.erase(id);
  free_.insert(id);
}

bool PageAllocator::IsTrunk(PageId id) const {
  auto holds = [id](const std::vector<PageId>& v) {
    return std::find(v.begin(), v.end(), id) != v.end();
  };
  return holds(trunks_) || holds(prev_trunks_) || holds(pending_trunks_);
}

absl::Status PageAllocator::CheckNotFree(PageId id) const {
  MutexLock lock(&mu_);
  if (free_.contains(id) || IsTrunk(id)) {
    return absl::InvalidArgumentError(fmt::format("page {} is already free", id));
  }
  return absl::OkStatus();
}

void PageAllocator::Apply(std::span<const AllocationOp> ops) {
  MutexLock lock(&mu_);
  for (const AllocationOp& op : ops) {
    // Every page named in the log is below the high-water mark: pages past it are free.
    high_water_ = std::max(high_water_, op.id + 1);
    in_flight_.erase(op.id);
    if (op.kind == MtrEntry::kFree) free_.insert(op.id);
  }
}

absl::StatusOr<WritePageGuard> PageAllocator::Extend(PageType type, bool for_mtr) {
  PageId id;
  {
    // One extension at a time, each logged (as grown and free) before the next, so the log names
    // every page below its high-water mark: a page the file grew by is never unaccounted for,
    // even if the mini-transaction that wanted it never ends. No page latch is taken under
    // extend_mu_ (mini-transactions holding pages come here).
    MutexLock lock(&extend_mu_);
    absl::StatusOr<PageId> grown = BufferPoolInternals::AllocatePageId(*pool_);
    if (!grown.ok()) return grown.status();
    id = *grown;
    std::vector<std::byte> payload;
    MtrPayloadWriter enc(&payload);
    enc.Allocation(MtrEntry::kExtend, id);
    enc.Allocation(MtrEntry::kFree, id);
    absl::StatusOr<Lsn> lsn =
        log_->Append({RecordType::kMtr, 0, kInvalidLsn, payload}, kInvalidLsn, [&](Lsn) {
          MutexLock al(&mu_);
          high_water_ = std::max(high_water_, id + 1);
          // Free in the log; in memory taken by the mini-transaction, or a checkpoint's trunk.
          if (for_mtr) {
            in_flight_.insert(id);
          } else {
            pending_trunks_.push_back(id);
          }
        });
    if (!lsn.ok()) return lsn.status();
  }
  absl::StatusOr<WritePageGuard> g = BufferPoolInternals::OverwritePage(*pool_, id);
  if (!g.ok()) {
    if (for_mtr) Return(id);
    return g.status();
  }
  InitPage(g->mutable_data(), type);
  return g;
}

absl::StatusOr<WritePageGuard> PageAllocator::ExtendForTrunk() {
  return Extend(PageType::kFreeList, /*for_mtr=*/false);
}

absl::Status PageAllocator::WithGrowthHeld(absl::FunctionRef<absl::Status()> fn) {
  MutexLock lock(&extend_mu_);
  return fn();
}

PageAllocator::Cut PageAllocator::CutForCheckpoint(PageId end) {
  Cut cut;
  {
    MutexLock lock(&mu_);
    // `end` is read with growth held off, so no page past it exists; a high-water mark past it
    // would mean it is stale, and nothing is given back then.
    if (end != kInvalidPageId && high_water_ <= end) {
      // The free pages at the end of the file: none is in flight or a trunk (those are not in
      // free_), so nothing names them but the free list, which from this cut on does not.
      PageId from = end;
      for (auto it = free_.rbegin(); it != free_.rend() && *it + 1 == from; ++it) from = *it;
      // The list this cut writes needs trunks among the free pages below the tail; the lowest
      // pages of the tail stay free for them when too few lie below (else the checkpoint would
      // grow the file for a trunk, at its new end).
      std::size_t below = free_.size() - (end - from);
      const std::size_t others = in_flight_.size() + trunks_.size() + prev_trunks_.size();
      while (from < end && below < (below + others + kIdsPerTrunk - 1) / kIdsPerTrunk) {
        ++from;
        ++below;
      }
      if (from < end) {
        free_.erase(free_.lower_bound(from), free_.end());
        cut.high_water_before = high_water_;
        high_water_ = std::min(high_water_, from);
        cut.shrink_to = from;
      }
    }
    cut.free.assign(free_.begin(), free_.end());
    cut.free.insert(cut.free.end(), in_flight_.begin(), in_flight_.end());
    cut.free.insert(cut.free.end(), trunks_.begin(), trunks_.end());
    cut.free.insert(cut.free.end(), prev_trunks_.begin(), prev_trunks_.end());
    cut.high_water = high_water_;
    // The trunks to hold this list: pages free at the cut, taken off the allocatable set right
    // here so that no record after the redo LSN can touch them.
    cut.trunks_needed = (cut.free.size() + kIdsPerTrunk - 1) / kIdsPerTrunk;
    // The highest free pages, unless the file gives back its tail: then the lowest, so that the
    // list stays out of the tail a later checkpoint gives back.
    while (cut.trunks.size() < cut.trunks_needed && !free_.empty()) {
      auto it = end != kInvalidPageId ? free_.begin() : std::prev(free_.end());
      cut.trunks.push_back(*it);
      free_.erase(it);
    }
    pending_trunks_ = cut.trunks;
  }
  std::sort(cut.free.begin(), cut.free.end());
  return cut;
}

void PageAllocator::RestoreTail(const Cut& cut, PageId end) {
  MutexLock lock(&mu_);
  for (PageId id = cut.shrink_to; id < end; ++id) free_.insert(id);
  high_water_ = std::max(high_water_, cut.high_water_before);
}

void PageAllocator::AbandonTrunks(std::span<const PageId> trunks) {
  MutexLock lock(&mu_);
  for (PageId t : trunks) free_.insert(t);
  pending_trunks_.clear();
}

void PageAllocator::InstallTrunks(std::vector<PageId> trunks) {
  // The superblock copies now name this checkpoint and the previous one: the trunks of the one
  // before that are free at last; the previous one's stay reserved (prev_trunks_).
  MutexLock lock(&mu_);
  for (PageId old : prev_trunks_) free_.insert(old);
  prev_trunks_ = std::move(trunks_);
  trunks_ = std::move(trunks);
  pending_trunks_.clear();
}

std::vector<PageId> PageAllocator::FreePages() const {
  MutexLock lock(&mu_);
  std::vector<PageId> out(free_.begin(), free_.end());
  out.insert(out.end(), trunks_.begin(), trunks_.end());
  out.insert(out.end(), prev_trunks_.begin(), prev_trunks_.end());
  out.insert(out.end(), pending_trunks_.begin(), pending_trunks_.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t PageAllocator::allocatable_count() const {
  MutexLock lock(&mu_);
  return free_.size();
}

std::uint64_t PageAllocator::free_page_count() const {
  MutexLock lock(&mu_);
  return free_.size() + trunks_.size() + prev_trunks_.size() + pending_trunks_.size();
}

}  // namespace pagestore
