// Checkpointer: fuzzy checkpoints and the thread that takes them when due (wal/README.md,
// "Checkpoints"). Internal to the store; not installed.
//
// A checkpoint cuts the log at its redo LSN (the active transactions and the free list as of
// then), writes the free list into trunk pages, logs the checkpoint record, flushes every page,
// points the superblock at the record, and removes the log no recovery or rollback can need.
//
// Ownership: borrows the pool, the allocator, the transaction table and (from SetLog on) the
// log; all outlive it. Stop() joins the thread; the destructor does too.
// Thread safety: every method is safe for concurrent use; one checkpoint runs at a time. A thread
// holding page latches must not call Checkpoint (it would wait for its own latches).
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "buffer/buffer_pool.h"
#include "storage/mutex.h"
#include "wal/log_manager.h"
#include "wal/page_allocator.h"
#include "wal/transaction_table.h"

namespace pagestore {

class Checkpointer {
 public:
  // `interval_bytes`: a checkpoint is due once this much log was written since the last one.
  // `background`: due checkpoints run on the checkpointer's thread (else inline in MaybeRun).
  // `truncate_tail`: each checkpoint gives back the free pages at the end of the file
  // (StoreOptions::truncate_free_tail).
  Checkpointer(BufferPool* pool, PageAllocator* alloc, TransactionTable* txns,
               std::uint64_t interval_bytes, bool background, bool truncate_tail)
      : pool_(pool),
        alloc_(alloc),
        txns_(txns),
        interval_bytes_(interval_bytes),
        background_(background),
        truncate_tail_(truncate_tail) {}
  ~Checkpointer() { Stop(); }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  void SetLog(LogManager* log) { log_ = log; }
  // Recovery started from a checkpoint whose redo needs the log from `lsn`: kept until the next
  // checkpoint's successor supersedes it too (the older superblock copy may be fallen back to).
  void SetPreviousOldestNeeded(Lsn lsn) ABSL_LOCKS_EXCLUDED(mu_);

  [[nodiscard]] absl::Status Checkpoint() ABSL_LOCKS_EXCLUDED(mu_);
  // A checkpoint that gives back the free tail whatever the option says (Store::Compact).
  [[nodiscard]] absl::Status CheckpointTruncating() ABSL_LOCKS_EXCLUDED(mu_);
  // Sets the superblock's catalog root and checkpoints, so it is durable on return.
  [[nodiscard]] absl::Status SetCatalogRoot(PageId root) ABSL_LOCKS_EXCLUDED(mu_);
  // What one checkpoint took: its record, its cut, the free list's trunks and the roots the
  // superblock names with it.
  struct Taken {
    Lsn checkpoint_lsn = kInvalidLsn;  // the record
    Lsn redo_lsn = kInvalidLsn;
    Lsn oldest_needed = kInvalidLsn;  // recovery from it reads the log from here (rollback too)
    PageId high_water = kFirstDataPage;
    std::vector<PageId> trunks;
    SuperblockRoots roots;
    std::chrono::nanoseconds cut_time{0};  // how long appends were held off (the cut)
  };
  // A checkpoint for a backup: `then` runs after it, still holding the checkpoint lock (no
  // other checkpoint can replace its trunks meanwhile). When both succeed, the log from
  // taken.oldest_needed on is pinned, never removed until Unpin(taken.oldest_needed), and the
  // file is not truncated (tail_truncation) while any pin is held.
  [[nodiscard]] absl::Status CheckpointAndPin(absl::FunctionRef<absl::Status(const Taken&)> then)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unpin(Lsn lsn) ABSL_LOCKS_EXCLUDED(mu_);
  // Pages given back by tail truncation so far.
  std::uint64_t pages_truncated() const { return truncated_.load(std::memory_order_relaxed); }
  // The longest cut of any checkpoint so far (appends held off).
  std::chrono::nanoseconds max_cut_time() const {
    return std::chrono::nanoseconds(max_cut_ns_.load(std::memory_order_relaxed));
  }

  // A last checkpoint; afterwards closed() is true.
  [[nodiscard]] absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // After a transaction ends: checkpoints if one is due (in the background, or here).
  void MaybeRun() ABSL_LOCKS_EXCLUDED(mu_, wake_mu_);

  // The background thread (if background checkpoints are on).
  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(wake_mu_);

  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  // `taken`: what the checkpoint took, when the caller wants it.
  [[nodiscard]] absl::Status CheckpointLocked(Taken* taken = nullptr, bool truncate = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the free list of `cut` into its trunks (growing the file for any it lacks).
  [[nodiscard]] absl::Status WriteTrunks(PageAllocator::Cut& cut)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_, wake_mu_);  // the thread's loop

  BufferPool* const pool_;
  PageAllocator* const alloc_;
  TransactionTable* const txns_;
  LogManager* log_ = nullptr;
  const std::uint64_t interval_bytes_;
  const bool background_;
  const bool truncate_tail_;

  ExclusiveMutex mu_;  // one checkpoint at a time
  // The oldest LSN recovery from the previous checkpoint needs: its log is kept for the same
  // reason as the allocator's previous trunks.
  Lsn prev_oldest_needed_ ABSL_GUARDED_BY(mu_) = kInvalidLsn;
  // Backups in progress: the oldest LSN each needs (CheckpointAndPin).
  absl::btree_multiset<Lsn> pins_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::int64_t> max_cut_ns_{0};
  std::atomic<std::uint64_t> truncated_{0};
  std::atomic<Lsn> last_redo_{kInvalidLsn};
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> count_{0};

  std::thread thread_;
  ExclusiveMutex wake_mu_;  // a leaf: nothing is taken under it
  CondVar wake_;
  bool due_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(wake_mu_) = false;
};

// OK, or FailedPrecondition: the log is not open, or has failed and takes no more work.
[[nodiscard]] absl::Status LogUsable(const LogManager* log);

}  // namespace pagestore
