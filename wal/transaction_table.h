// The store's transactions, as the log knows them: each one's state (TxnState), the table of
// active ones that checkpoints list, and the undo handlers that roll them back. Internal to the
// store; not installed.
//
// Ownership: a TxnState belongs to its Transaction handle, or to the table once the handle is
// gone without an end (an orphan: its abort failed; the next open's recovery undoes it).
// Thread safety: TransactionTable and UndoHandlers are safe for concurrent use. A TxnState's log
// position is guarded by the log's lock: written only by the append that logs one of its records
// (LogManager::Append's under_lock callback), read by a checkpoint's cut inside that same lock
// (TransactionTable::CutForCheckpoint), or by the thread that owns the transaction. The rest of
// a TxnState is its owning thread's.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "storage/mutex.h"
#include "wal/log_format.h"
#include "wal/log_manager.h"
#include "wal/store.h"

namespace pagestore {

struct TxnState {
  // Where the transaction stands in the log.
  struct LogPosition {
    Lsn first = kInvalidLsn;      // its first record (kInvalidLsn: none yet)
    Lsn last = kInvalidLsn;       // its latest record
    Lsn undo_next = kInvalidLsn;  // the record its rollback undoes next
    bool end_logged = false;      // its commit or abort is appended: checkpoints skip it
  };
  struct UndoEntry {
    Lsn lsn;
    Lsn prev_lsn;
    std::uint16_t rm;
    std::vector<std::byte> payload;
  };
  // `at`: a position read back from the log (recovery); new transactions start with none.
  TxnState(std::uint64_t txn_id, LogManager* store_log) : id(txn_id), log(store_log) {}
  TxnState(std::uint64_t txn_id, LogManager* store_log, const LogPosition& at)
      : id(txn_id), log(store_log), pos(at) {}

  // The owning thread reads its position without the log's lock: it is the only writer.
  const LogPosition& own_position() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return pos; }

  const std::uint64_t id;
  LogManager* const log;  // the store's: its lock guards pos
  // Written only by the append that logs one of its records (inside the log's lock), read there
  // and by a checkpoint's cut (also inside it).
  LogPosition pos ABSL_GUARDED_BY(log->mutex());
  std::vector<UndoEntry> undo;  // the owning thread's; runtime rollback needs no log reads
  // The owning thread's: pages its commit record frees (MiniTransaction::FreeAtCommit).
  std::vector<PageId> free_at_commit;
  bool ended = false;     // the owning thread's: its end is logged, or it had no records
  bool aborting = false;  // the owning thread's: Abort began (Commit is refused from then)
};

class TransactionTable {
 public:
  std::uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t next_id() const { return next_id_.load(std::memory_order_relaxed); }
  void SetNextId(std::uint64_t id) { next_id_.store(id, std::memory_order_relaxed); }

  void Add(TxnState* txn) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(std::uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  std::size_t active_count() const ABSL_LOCKS_EXCLUDED(mu_);
  // A transaction whose handle is gone without an end: if it has records, the table keeps it
  // active (checkpoints list it and keep its log) until the next open's recovery undoes it.
  void Orphan(std::unique_ptr<TxnState> txn) ABSL_LOCKS_EXCLUDED(mu_);

  // A checkpoint's consistent cut: LogManager::BeginCheckpoint, with the active transactions
  // (those with records and no end) read inside the log's lock, and `also` run there too.
  struct Cut {
    Lsn redo = kInvalidLsn;
    Lsn oldest_needed = kInvalidLsn;  // the oldest LSN rollback of an active one may read
    std::vector<CheckpointPayload::Active> active;
  };
  Cut CutForCheckpoint(LogManager& log, absl::FunctionRef<void()> also) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Lock order: mu_, then the log's lock.
  mutable Mutex mu_;
  absl::flat_hash_map<std::uint64_t, TxnState*> active_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<TxnState>> orphans_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::uint64_t> next_id_{1};
};

// The undo handler of each resource manager.
class UndoHandlers {
 public:
  explicit UndoHandlers(std::map<std::uint16_t, UndoHandler> handlers)
      : handlers_(std::move(handlers)) {}
  void Register(std::uint16_t rm, UndoHandler handler) ABSL_LOCKS_EXCLUDED(mu_);
  // A copy of the handler, or nullptr if none is registered.
  UndoHandler Find(std::uint16_t rm) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::uint16_t, UndoHandler> handlers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pagestore
