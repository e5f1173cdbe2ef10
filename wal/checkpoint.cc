// Fuzzy checkpoints (wal/README.md, "Checkpoints"): the cut, the free list's trunks, the record,
// the superblock, and what log may go.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "storage/logging.h"
#include "wal/free_list_format.h"
#include "wal/store.h"

namespace pagestore {

// ---------------------------------------------------------------------------------------------
// Checkpoints

absl::Status Store::Checkpoint() {
  MutexLock lock(&checkpoint_mu_);
  return CheckpointLocked();
}

PageId Store::catalog_root() const { return pool_->roots().catalog_root; }

absl::Status Store::SetCatalogRoot(PageId root) {
  MutexLock lock(&checkpoint_mu_);
  SuperblockRoots roots = pool_->roots();
  roots.catalog_root = root;
  pool_->SetRoots(roots);
  return CheckpointLocked();
}

absl::Status Store::Close() {
  MutexLock lock(&checkpoint_mu_);
  absl::Status s = CheckpointLocked();
  closed_ = true;
  return s;
}

void Store::MaybeCheckpoint() {
  const Lsn since = last_checkpoint_redo_.load(std::memory_order_relaxed);
  if (log_->next_lsn() - since < options_.checkpoint_interval_bytes) return;
  if (options_.background_checkpoints) {
    MutexLock lock(&checkpointer_mu_);
    checkpoint_due_ = true;
    checkpointer_cv_.Signal();
    return;
  }
  if (!checkpoint_mu_.TryLock()) return;  // another thread is checkpointing
  (void)CheckpointLocked();  // a failure here fails the log or the disk; callers see it next
  checkpoint_mu_.Unlock();
}

void Store::StartCheckpointer() {
  if (!options_.background_checkpoints) return;
  checkpointer_ = std::thread([this]() ABSL_LOCKS_EXCLUDED(checkpoint_mu_, checkpointer_mu_) {
    for (;;) {
      {
        MutexLock lock(&checkpointer_mu_);
        while (!checkpoint_due_ && !checkpointer_stop_) checkpointer_cv_.Wait(&checkpointer_mu_);
        if (checkpointer_stop_) return;
        checkpoint_due_ = false;
      }
      MutexLock lock(&checkpoint_mu_);
      // A failure fails the log or the disk: every later call reports it.
      if (absl::Status s = CheckpointLocked(); !s.ok()) {
        Logf(LogLevel::kError, "background checkpoint failed: {}", s.ToString());
        if (!Usable().ok()) return;
      }
    }
  });
}

void Store::StopCheckpointer() {
  if (!checkpointer_.joinable()) return;
  {
    MutexLock lock(&checkpointer_mu_);
    checkpointer_stop_ = true;
    checkpointer_cv_.Signal();
  }
  checkpointer_.join();
}

absl::Status Store::CheckpointLocked() {
  if (absl::Status s = Usable(); !s.ok()) return s;
  // 1. A consistent cut at the redo LSN: active transactions and the allocation state, as of the
  //    log's end, captured while nothing can be appended.
  struct Active {
    std::uint64_t id;
    Lsn first, last, undo_next;
  };
  std::vector<Active> att;
  std::vector<PageId> free_snapshot;
  std::vector<PageId> trunks;
  std::size_t trunk_count = 0;
  PageId high_water = kFirstDataPage;
  Lsn oldest_needed = kInvalidLsn;
  Lsn redo;
  {
    MutexLock tl(&txn_mu_);
    // Runs in BeginCheckpoint, under the log's lock, in this scope (under txn_mu_).
    auto cut = [&](Lsn at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_->mutex(), txn_mu_) {
      oldest_needed = at;
      for (const auto& entry : active_) {
        const Transaction* txn = entry.second;
        txn->log_->AssertHeld();  // every transaction of this store logs to log_
        const Transaction::LogPosition& pos = txn->log_position_;
        if (pos.first == kInvalidLsn || pos.end_logged) continue;
        att.push_back({entry.first, pos.first, pos.last, pos.undo_next});
        oldest_needed = std::min(oldest_needed, pos.first);
      }
      MutexLock al(&alloc_mu_);
      free_snapshot.assign(free_.begin(), free_.end());
      free_snapshot.insert(free_snapshot.end(), in_flight_.begin(), in_flight_.end());
      free_snapshot.insert(free_snapshot.end(), trunks_.begin(), trunks_.end());
      free_snapshot.insert(free_snapshot.end(), prev_trunks_.begin(), prev_trunks_.end());
      high_water = high_water_;
      // The trunks to hold this list: pages free at the cut, taken off the allocatable set right
      // here so that no record after the redo LSN can touch them.
      trunk_count = (free_snapshot.size() + kIdsPerTrunk - 1) / kIdsPerTrunk;
      while (trunks.size() < trunk_count && !free_.empty()) {
        trunks.push_back(*std::prev(free_.end()));
        free_.erase(std::prev(free_.end()));
      }
      pending_trunks_ = trunks;
    };
    redo = log_->BeginCheckpoint(cut);
  }
  std::sort(free_snapshot.begin(), free_snapshot.end());

  // 2. The free list as of the cut, into trunk pages taken off the allocatable set (they stay
  //    off it until the next checkpoint supersedes this one). Trunks are written without a log
  //    record, so they may only be pages whose freeing is durable: pages free at the cut, once
  //    the log is durable up to it.
  auto give_back = [&] {
    MutexLock al(&alloc_mu_);
    for (PageId t : trunks) free_.insert(t);
    pending_trunks_.clear();
  };
  if (redo > log_->durable_lsn()) {
    if (absl::Status s = log_->FlushUntil(redo - 1); !s.ok()) {
      give_back();
      return s;
    }
  }
  while (trunks.size() < trunk_count) {
    // Too few free pages to hold the list: grow the file (logged as grown and free, and kept as
    // a trunk rather than handed out).
    absl::StatusOr<WritePageGuard> g = ExtendFile(PageType::kFreeList, /*for_mtr=*/false);
    if (!g.ok()) {
      give_back();
      return g.status();
    }
    trunks.push_back(g->page_id());
  }
  for (std::size_t t = 0; t < trunks.size(); ++t) {
    absl::StatusOr<WritePageGuard> g = pool_->OverwritePage(trunks[t]);
    if (!g.ok()) {
      give_back();
      return g.status();
    }
    const PageId next = t + 1 < trunks.size() ? trunks[t + 1] : kInvalidPageId;
    const std::size_t from = t * kIdsPerTrunk;
    EncodeFreeListTrunk(
        next,
        std::span(free_snapshot).subspan(from, std::min(kIdsPerTrunk, free_snapshot.size() - from)),
        g->mutable_data());
    g->Release();
    if (absl::Status s = pool_->FlushPage(trunks[t]); !s.ok()) {
      give_back();
      return s;
    }
  }

  // 3. The checkpoint record.
  CheckpointPayload cp;
  cp.redo_lsn = redo;
  cp.high_water = high_water;
  cp.next_txn_id = next_txn_id_.load(std::memory_order_relaxed);
  for (const Active& a : att) cp.active.push_back({a.id, a.first, a.last, a.undo_next});
  const std::vector<std::byte> payload = EncodeCheckpoint(cp);
  absl::StatusOr<Lsn> ckpt = log_->Append({RecordType::kCheckpoint, 0, 0, payload});
  absl::Status s = ckpt.status();
  if (s.ok()) s = log_->FlushUntil(*ckpt);
  // 4. Every page changed before the redo LSN reaches the disk, then the superblock points at
  //    this checkpoint and its free list.
  if (s.ok()) s = pool_->FlushAll();
  const SuperblockRoots before = pool_->roots();
  if (s.ok()) {
    SuperblockRoots roots = before;
    roots.free_list_head = trunks.empty() ? kInvalidPageId : trunks.front();
    roots.checkpoint_lsn = *ckpt;
    pool_->SetRoots(roots);
    s = pool_->FlushAll();
    // Not in force: the next sync must not name trunks given back to the free list. (A failed
    // superblock sync fails the disk manager for good; reopening recovers.)
    if (!s.ok()) pool_->SetRoots(before);
  }
  if (!s.ok()) {
    give_back();
    return s;
  }
  {
    // The superblock copies now name this checkpoint and the previous one: the trunks of the one
    // before that are free at last; the previous one's stay reserved (prev_trunks_).
    MutexLock al(&alloc_mu_);
    for (PageId old : prev_trunks_) free_.insert(old);
    prev_trunks_ = std::move(trunks_);
    trunks_ = std::move(trunks);
    pending_trunks_.clear();
  }
  last_checkpoint_redo_.store(redo, std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  // 5. The log below what recovery (from either superblock copy's checkpoint) and rollback can
  //    need.
  const Lsn keep_from = prev_oldest_needed_ == kInvalidLsn
                            ? oldest_needed
                            : std::min(oldest_needed, prev_oldest_needed_);
  prev_oldest_needed_ = oldest_needed;
  return log_->RemoveSegmentsBefore(keep_from);
}

}  // namespace pagestore
