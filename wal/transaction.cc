// Transaction (wal/store.h): the handle, its end (commit or abort) and the undo of its
// operations, shared by Abort and recovery.
#include <fmt/format.h>

#include "wal/store.h"
#include "wal/store_core.h"

namespace pagestore {

absl::Status RunUndo(StoreCore& core, TxnState& txn, std::uint16_t rm,
                     std::span<const std::byte> payload, Lsn undo_next) {
  const UndoHandler handler = core.undo_handlers.Find(rm);
  if (!handler) {
    return absl::FailedPreconditionError(fmt::format(
        "transaction {}: no undo handler is registered for resource manager {}; register it "
        "(StoreOptions::undo_handlers) before opening",
        txn.id, rm));
  }
  MiniTransaction mtr(StoreCore::Key(), &core, &txn, undo_next);
  if (absl::Status s = handler(mtr, payload); !s.ok()) {
    return absl::Status(s.code(), fmt::format("transaction {}: undo by resource manager {}: {}",
                                              txn.id, rm, std::string(s.message())));
  }
  absl::StatusOr<Lsn> lsn = mtr.Commit();
  return lsn.status();
}

absl::Status EndTransaction(StoreCore& core, TxnState& txn, RecordType type,
                            Durability durability) {
  absl::Status status;
  // A commit frees the pages its mini-transactions gave to FreeAtCommit, in its own record (so
  // the pages are free exactly when the commit is in the log); an abort frees none of them (the
  // undo has put back whatever named them).
  std::vector<AllocationOp> frees;
  std::vector<std::byte> payload;
  if (type == RecordType::kCommit) {
    frees.reserve(txn.free_at_commit.size());
    MtrPayloadWriter enc(&payload);
    for (PageId id : txn.free_at_commit) {
      frees.push_back({MtrEntry::kFree, id});
      enc.Allocation(MtrEntry::kFree, id);
    }
    if (payload.size() > core.store->max_record_bytes()) {
      return absl::InvalidArgumentError(fmt::format(
          "transaction {} frees {} pages at commit, more than one log record holds ({} bytes); "
          "abort it, or free in smaller transactions",
          txn.id, frees.size(), core.store->max_record_bytes()));
    }
  }
  if (const Lsn last = txn.own_position().last; last != kInvalidLsn || !frees.empty()) {
    if (absl::Status s = core.Usable(); !s.ok()) return s;
    LogManager::Record rec{type, txn.id, last, payload};
    absl::StatusOr<Lsn> lsn = core.log->Append(
        rec, kInvalidLsn, [&](Lsn at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(txn.log->mutex()) {
          txn.pos.last = at;
          txn.pos.end_logged = true;  // checkpoints skip it from here on
          core.alloc.Apply(frees);
        });
    if (!lsn.ok()) return lsn.status();
    if (!frees.empty()) core.alloc.CountFreed(frees.size());
    txn.free_at_commit.clear();
    txn.ended = true;
    // It stays in the active table while it waits, so that a kGroup leader counts it among the
    // siblings worth waiting for.
    const std::size_t siblings = core.txns.active_count() - 1;
    status = core.log->Commit(*lsn, durability, siblings);
  } else {
    // No record: no checkpoint ever looks at this transaction (it skips those without a first
    // LSN).
    txn.ended = true;
  }
  core.txns.Remove(txn.id);
  (type == RecordType::kCommit ? core.commits : core.aborts)
      .fetch_add(1, std::memory_order_relaxed);
  if (status.ok()) core.checkpointer.MaybeRun();
  return status;
}

Transaction::Transaction(StoreKey, StoreCore* core, std::unique_ptr<TxnState> state)
    : core_(core), id_(state->id), state_(std::move(state)) {}

Transaction::~Transaction() {
  if (!state_->ended && core_->Usable().ok()) {
    (void)Abort();
  }
  // On the owning thread (Orphan reads the log position without the log's lock: see TxnState).
  if (!state_->ended) core_->txns.Orphan(std::move(state_));
}

bool Transaction::active() const { return !state_->ended; }

MiniTransaction Transaction::BeginMtr() {
  return MiniTransaction(StoreCore::Key(), core_, state_.get());
}

absl::Status Transaction::Commit(std::optional<Durability> durability) {
  if (state_->ended) {
    return absl::FailedPreconditionError(fmt::format("transaction {} has ended", id_));
  }
  if (state_->aborting) {
    // Part of it may be undone already: only finishing the abort leaves it whole.
    return absl::FailedPreconditionError(
        fmt::format("transaction {} began to abort and did not finish: call Abort again", id_));
  }
  return EndTransaction(*core_, *state_, RecordType::kCommit,
                        durability.value_or(core_->options.durability));
}

absl::Status Transaction::Abort() {
  if (state_->ended) {
    return absl::FailedPreconditionError(fmt::format("transaction {} has ended", id_));
  }
  state_->aborting = true;
  std::vector<TxnState::UndoEntry>& undo = state_->undo;
  while (!undo.empty()) {
    const TxnState::UndoEntry e = undo.back();
    if (absl::Status s = RunUndo(*core_, *state_, e.rm, e.payload, e.prev_lsn); !s.ok()) return s;
    undo.pop_back();
  }
  state_->free_at_commit.clear();  // what named them is put back by the undo
  return EndTransaction(*core_, *state_, RecordType::kAbort, Durability::kNone);
}

}  // namespace pagestore
