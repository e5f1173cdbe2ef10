// TransactionTable and UndoHandlers (wal/transaction_table.h).
#include "wal/transaction_table.h"

#include <algorithm>

namespace pagestore {

void TransactionTable::Add(TxnState* txn) {
  MutexLock lock(&mu_);
  active_.emplace(txn->id, txn);
}

void TransactionTable::Remove(std::uint64_t id) {
  MutexLock lock(&mu_);
  active_.erase(id);
}

std::size_t TransactionTable::active_count() const {
  MutexLock lock(&mu_);
  return active_.size();
}

void TransactionTable::Orphan(std::unique_ptr<TxnState> txn) {
  MutexLock lock(&mu_);
  if (txn->own_position().first == kInvalidLsn) {
    active_.erase(txn->id);
    return;
  }
  // Its records are in the log without an end: it stays active (checkpoints list it and keep its
  // log) under the table's ownership, and the next open's recovery undoes it.
  txn->undo.clear();
  active_[txn->id] = txn.get();
  orphans_.push_back(std::move(txn));
}

TransactionTable::Cut TransactionTable::CutForCheckpoint(LogManager& log,
                                                         absl::FunctionRef<void()> also) {
  Cut cut;
  MutexLock lock(&mu_);
  // The callback runs here, under mu_ and the log's lock (no transaction starts, ends or logs a
  // record meanwhile); the analysis cannot see into it, so it gets the table by pointer.
  const auto* active = &active_;
  cut.redo = log.BeginCheckpoint([&](Lsn at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(log.mutex()) {
    cut.oldest_needed = at;
    for (const auto& entry : *active) {
      const TxnState* txn = entry.second;
      txn->log->AssertHeld();  // every transaction of the store logs to `log`
      const TxnState::LogPosition pos = txn->pos;
      if (pos.first == kInvalidLsn || pos.end_logged) continue;
      cut.active.push_back({txn->id, pos.first, pos.last, pos.undo_next});
      cut.oldest_needed = std::min(cut.oldest_needed, pos.first);
    }
    also();
  });
  return cut;
}

void UndoHandlers::Register(std::uint16_t rm, UndoHandler handler) {
  MutexLock lock(&mu_);
  handlers_[rm] = std::move(handler);
}

UndoHandler UndoHandlers::Find(std::uint16_t rm) const {
  MutexLock lock(&mu_);
  auto it = handlers_.find(rm);
  return it == handlers_.end() ? UndoHandler() : it->second;
}

}  // namespace pagestore
