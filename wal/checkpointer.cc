// Checkpointer (wal/checkpointer.h): fuzzy checkpoints (wal/README.md, "Checkpoints"): the cut,
// the free list's trunks, the record, the superblock, and what log may go.
#include "wal/checkpointer.h"

#include <fmt/format.h>

#include <algorithm>

#include "buffer/buffer_pool_internals.h"
#include "storage/logging.h"
#include "wal/free_list_format.h"

namespace pagestore {

absl::Status LogUsable(const LogManager* log) {
  if (log == nullptr) return absl::FailedPreconditionError("the store is not open");
  absl::Status f = log->failure();
  if (f.ok()) return f;
  return absl::FailedPreconditionError(fmt::format(
      "the store's write-ahead log failed and takes no more work; reopen to recover: {}",
      f.ToString()));
}

void Checkpointer::SetPreviousOldestNeeded(Lsn lsn) {
  MutexLock lock(&mu_);
  prev_oldest_needed_ = lsn;
}

absl::Status Checkpointer::Checkpoint() {
  MutexLock lock(&mu_);
  return CheckpointLocked();
}

absl::Status Checkpointer::CheckpointTruncating() {
  MutexLock lock(&mu_);
  return CheckpointLocked(nullptr, /*truncate=*/true);
}

absl::Status Checkpointer::SetCatalogRoot(PageId root) {
  MutexLock lock(&mu_);
  SuperblockRoots roots = pool_->roots();
  roots.catalog_root = root;
  BufferPoolInternals::SetRoots(*pool_, roots);
  return CheckpointLocked();
}

absl::Status Checkpointer::Close() {
  MutexLock lock(&mu_);
  absl::Status s = CheckpointLocked();
  closed_.store(true, std::memory_order_release);
  return s;
}

absl::Status Checkpointer::CheckpointAndPin(absl::FunctionRef<absl::Status(const Taken&)> then) {
  MutexLock lock(&mu_);
  Taken taken;
  if (absl::Status s = CheckpointLocked(&taken); !s.ok()) return s;
  if (absl::Status s = then(taken); !s.ok()) return s;
  pins_.insert(taken.oldest_needed);
  return absl::OkStatus();
}

void Checkpointer::Unpin(Lsn lsn) {
  MutexLock lock(&mu_);
  if (auto it = pins_.find(lsn); it != pins_.end()) pins_.erase(it);
}

void Checkpointer::MaybeRun() {
  const Lsn since = last_redo_.load(std::memory_order_relaxed);
  if (log_->next_lsn() - since < interval_bytes_) return;
  if (background_) {
    MutexLock lock(&wake_mu_);
    due_ = true;
    wake_.Signal();
    return;
  }
  if (!mu_.TryLock()) return;  // another thread is checkpointing
  (void)CheckpointLocked();    // a failure here fails the log or the disk; callers see it next
  mu_.Unlock();
}

void Checkpointer::Start() {
  if (background_) thread_ = std::thread([this] { Run(); });
}

void Checkpointer::Run() {
  for (;;) {
    {
      MutexLock lock(&wake_mu_);
      while (!due_ && !stop_) wake_.Wait(&wake_mu_);
      if (stop_) return;
      due_ = false;
    }
    MutexLock lock(&mu_);
    // A failure fails the log or the disk: every later call reports it.
    if (absl::Status s = CheckpointLocked(); !s.ok()) {
      Logf(LogLevel::kError, "background checkpoint failed: {}", s.ToString());
      if (!LogUsable(log_).ok()) return;
    }
  }
}

void Checkpointer::Stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(&wake_mu_);
    stop_ = true;
    wake_.Signal();
  }
  thread_.join();
}

absl::Status Checkpointer::WriteTrunks(PageAllocator::Cut& cut) {
  while (cut.trunks.size() < cut.trunks_needed) {
    // Too few free pages to hold the list: grow the file (logged as grown and free, and kept as
    // a trunk rather than handed out).
    absl::StatusOr<WritePageGuard> g = alloc_->ExtendForTrunk();
    if (!g.ok()) return g.status();
    cut.trunks.push_back(g->page_id());
  }
  const std::span<const PageId> free(cut.free);
  for (std::size_t t = 0; t < cut.trunks.size(); ++t) {
    absl::StatusOr<WritePageGuard> g = BufferPoolInternals::OverwritePage(*pool_, cut.trunks[t]);
    if (!g.ok()) return g.status();
    const PageId next = t + 1 < cut.trunks.size() ? cut.trunks[t + 1] : kInvalidPageId;
    const std::size_t from = t * kIdsPerTrunk;
    EncodeFreeListTrunk(next, free.subspan(from, std::min(kIdsPerTrunk, free.size() - from)),
                        g->mutable_data());
    g->Release();
    if (absl::Status s = pool_->FlushPage(cut.trunks[t]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Checkpointer::CheckpointLocked(Taken* taken, bool truncate) {
  if (absl::Status s = LogUsable(log_); !s.ok()) return s;
  // 1. A consistent cut at the redo LSN: active transactions and the allocation state, as of the
  //    log's end, captured while nothing can be appended. The trunks to hold the free list are
  //    taken off the allocatable set right there, so that no record after the redo LSN can
  //    touch them.
  //    With tail truncation (and no backup copying the file), the cut also takes the free pages
  //    at the end of the file off the free list, and they are given back before the file can
  //    grow again: the checkpoint's high-water mark and free list no longer name them, the
  //    superblock it writes says the smaller size, and the file is cut once neither superblock
  //    copy claims them (DiskManager::Shrink). Recovery from either copy finds every page its
  //    checkpoint and the log after it name.
  //    (The page count is read with growth held off: a count read before could miss a page
  //    added meanwhile and give it back with the tail.) If the disk manager cannot shrink, the
  //    pages go back on the free list and the checkpoint goes on without giving any back.
  PageAllocator::Cut cut;
  TransactionTable::Cut txns;
  std::chrono::steady_clock::duration cut_time{};
  PageId end = kInvalidPageId;
  const bool give_back = (truncate_tail_ || truncate) && pins_.empty();
  absl::Status shrunk = alloc_->WithGrowthHeld([&]() -> absl::Status {
    if (give_back) end = pool_->page_count();
    const auto cut_start = std::chrono::steady_clock::now();
    txns = txns_->CutForCheckpoint(*log_, [&] { cut = alloc_->CutForCheckpoint(end); });
    cut_time = std::chrono::steady_clock::now() - cut_start;
    if (cut.shrink_to == kInvalidPageId) return absl::OkStatus();
    absl::Status s = BufferPoolInternals::Shrink(*pool_, cut.shrink_to);
    if (s.ok()) return s;
    alloc_->RestoreTail(cut, end);
    cut.shrink_to = kInvalidPageId;
    if (!absl::IsUnimplemented(s)) return s;
    Logf(LogLevel::kWarning, "checkpoint: free pages at the end of the file stay: {}",
         s.ToString());
    return absl::OkStatus();
  });
  const std::int64_t cut_ns = std::chrono::nanoseconds(cut_time).count();
  for (std::int64_t m = max_cut_ns_.load(std::memory_order_relaxed);
       cut_ns > m && !max_cut_ns_.compare_exchange_weak(m, cut_ns, std::memory_order_relaxed);) {
  }
  const Lsn redo = txns.redo;

  // 2. The free list as of the cut, into trunk pages taken off the allocatable set (they stay
  //    off it until the next checkpoint supersedes this one). Trunks are written without a log
  //    record, so they may only be pages whose freeing is durable: pages free at the cut, once
  //    the log is durable up to it.
  if (shrunk.ok() && cut.shrink_to != kInvalidPageId) {
    truncated_.fetch_add(end - cut.shrink_to, std::memory_order_relaxed);
  }
  absl::Status s = shrunk;
  if (s.ok() && redo > log_->durable_lsn()) s = log_->FlushUntil(redo - 1);
  if (s.ok()) s = WriteTrunks(cut);

  // 3. The checkpoint record.
  absl::StatusOr<Lsn> ckpt;
  if (s.ok()) {
    CheckpointPayload cp;
    cp.redo_lsn = redo;
    cp.high_water = cut.high_water;
    cp.next_txn_id = txns_->next_id();
    cp.active = txns.active;
    ckpt = log_->Append({RecordType::kCheckpoint, 0, 0, EncodeCheckpoint(cp)});
    s = ckpt.status();
    if (s.ok()) s = log_->FlushUntil(*ckpt);
  }
  // 4. Every page changed before the redo LSN reaches the disk, then the superblock points at
  //    this checkpoint and its free list.
  if (s.ok()) s = pool_->FlushAll();
  if (s.ok()) {
    const SuperblockRoots before = pool_->roots();
    SuperblockRoots roots = before;
    roots.free_list_head = cut.trunks.empty() ? kInvalidPageId : cut.trunks.front();
    roots.checkpoint_lsn = *ckpt;
    BufferPoolInternals::SetRoots(*pool_, roots);
    s = pool_->FlushAll();
    // Not in force: the next sync must not name trunks given back to the free list. (A failed
    // superblock sync fails the disk manager for good; reopening recovers.)
    if (!s.ok()) BufferPoolInternals::SetRoots(*pool_, before);
  }
  if (!s.ok()) {
    alloc_->AbandonTrunks(cut.trunks);
    return s;
  }
  if (taken != nullptr) {
    taken->checkpoint_lsn = *ckpt;
    taken->redo_lsn = redo;
    taken->oldest_needed = txns.oldest_needed;
    taken->high_water = cut.high_water;
    taken->trunks = cut.trunks;
    taken->roots = pool_->roots();
    taken->cut_time = cut_time;
  }
  alloc_->InstallTrunks(std::move(cut.trunks));
  last_redo_.store(redo, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  // 5. The log below what recovery (from either superblock copy's checkpoint) and rollback can
  //    need.
  Lsn keep_from = prev_oldest_needed_ == kInvalidLsn
                      ? txns.oldest_needed
                      : std::min(txns.oldest_needed, prev_oldest_needed_);
  if (!pins_.empty()) keep_from = std::min(keep_from, *pins_.begin());  // a backup copies it
  prev_oldest_needed_ = txns.oldest_needed;
  return log_->RemoveSegmentsBefore(keep_from);
}

}  // namespace pagestore
