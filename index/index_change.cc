#include "index/index_change.h"

#include <fmt/format.h>

#include <vector>

namespace pagestore::index_internal {

absl::Status EntryTooLarge(const ChangeKind& kind, std::string_view key, std::string_view value) {
  return absl::InvalidArgumentError(
      fmt::format("{} entry of {} key bytes + {} value bytes exceeds the limit of {} bytes (four "
                  "entries per 4 KiB page)",
                  kind.what, key.size(), value.size(), kind.max_entry_bytes));
}

absl::Status CheckEntrySize(const ChangeKind& kind, const IndexChange& change) {
  if (change.op != ChangeOp::kDelete &&
      change.key.size() + change.value.size() > kind.max_entry_bytes) {
    return EntryTooLarge(kind, change.key, change.value);
  }
  if (change.key.size() > kind.max_entry_bytes) return EntryTooLarge(kind, change.key, {});
  return absl::OkStatus();
}

absl::Status ApplyChange(Store& store, Transaction* txn, const ChangeKind& kind, PageId anchor,
                         IndexChange& change, AttemptFn attempt, MakeRoomFn make_room,
                         EmptiedFn emptied) {
  if (absl::Status s = CheckEntrySize(kind, change); !s.ok()) return s;
  for (;;) {
    Attempt outcome;
    {
      MiniTransaction mtr = txn != nullptr ? txn->BeginMtr() : store.BeginMtr();
      absl::StatusOr<Attempt> o = attempt(mtr, change);
      if (!o.ok()) return o.status();  // rolled back by the destructor
      outcome = *o;
      if (outcome != Attempt::kNeedsRoom) {
        if (txn != nullptr) {
          // The logical inverse: remove what was added, restore what was replaced or removed.
          const std::vector<std::byte> undo =
              change.old ? EncodeIndexUndo(anchor, true, change.key, *change.old)
                         : EncodeIndexUndo(anchor, false, change.key, {});
          mtr.LogUndo(kind.resource_manager, undo);
        }
        if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
      }
    }  // a change that needs room left the mini-transaction unchanged and holding nothing
    if (outcome == Attempt::kNeedsRoom) {
      if (absl::Status s = make_room(change); !s.ok()) return s;
      continue;
    }
    if (outcome == Attempt::kEmptied) emptied(change);
    return absl::OkStatus();
  }
}

absl::Status ApplyChangeIn(MiniTransaction& mtr, const ChangeKind& kind, IndexChange& change,
                           AttemptFn attempt, MakeRoomFn make_room) {
  if (absl::Status s = CheckEntrySize(kind, change); !s.ok()) return s;
  for (;;) {
    absl::StatusOr<Attempt> o = attempt(mtr, change);
    if (!o.ok()) return o.status();
    if (*o != Attempt::kNeedsRoom) return absl::OkStatus();
    if (absl::Status s = make_room(change); !s.ok()) return s;
  }
}

}  // namespace pagestore::index_internal
