#include "index/index_change.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "index/value_pages.h"
#include "storage/logging.h"

namespace pagestore::index_internal {

absl::Status CheckEntrySize(const ChangeKind& kind, const IndexChange& change) {
  if (change.key.size() > kind.max_key_bytes) {
    return absl::InvalidArgumentError(
        fmt::format("{} key of {} bytes exceeds the limit of {} bytes", kind.what,
                    change.key.size(), kind.max_key_bytes));
  }
  if (change.op == ChangeOp::kDelete) return absl::OkStatus();
  if (change.value.size() > kind.max_value_bytes) {
    return absl::InvalidArgumentError(
        fmt::format("{} value of {} bytes exceeds the limit of {} bytes", kind.what,
                    change.value.size(), kind.max_value_bytes));
  }
  return absl::OkStatus();
}

namespace {

// The value goes to value pages: the index stores it out of line.
bool OutOfLine(const ChangeKind& kind, const IndexChange& change) {
  return change.op != ChangeOp::kDelete && !change.out_of_line &&
         change.key.size() + change.value.size() > kind.max_entry_bytes;
}

absl::Status RunChange(Store& store, Transaction* txn, const ChangeKind& kind, PageId anchor,
                       IndexChange& change, AttemptFn attempt, MakeRoomFn make_room,
                       EmptiedFn emptied) {
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
              !change.old ? EncodeIndexUndo(anchor, UndoOp::kDelete, change.key, {})
              : change.old_out_of_line
                  ? EncodeIndexUndo(anchor, UndoOp::kPutReference, change.key, *change.old)
                  : EncodeIndexUndo(anchor, UndoOp::kPut, change.key, *change.old);
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

// The pages of a large value that no change came to name: freed when `txn` commits (its undo
// frees them if it aborts instead).
absl::Status Discard(Transaction& txn, PageId anchor, const ValueRef& ref) {
  std::vector<PageId> pages;
  MiniTransaction mtr = txn.BeginMtr();
  if (absl::Status s = WrittenValuePages(mtr.store().pool(), anchor, ref, &pages); !s.ok()) {
    return s;
  }
  if (absl::Status s = mtr.FreeAtCommit(pages); !s.ok()) return s;
  return mtr.Commit().status();
}

}  // namespace

absl::Status ApplyChange(Store& store, Transaction* txn, const ChangeKind& kind, PageId anchor,
                         IndexChange& change, AttemptFn attempt, MakeRoomFn make_room,
                         EmptiedFn emptied) {
  if (absl::Status s = CheckEntrySize(kind, change); !s.ok()) return s;
  if (!OutOfLine(kind, change)) {
    return RunChange(store, txn, kind, anchor, change, attempt, make_room, emptied);
  }
  // A large value: its pages first, in the transaction (one of its own when there is none), so
  // that a rollback or a crash before the commit frees them; then the change that names them.
  std::unique_ptr<Transaction> own;
  if (txn == nullptr) {
    absl::StatusOr<std::unique_ptr<Transaction>> t = store.Begin();
    if (!t.ok()) return t.status();
    own = std::move(*t);
    txn = own.get();
  }
  ValueRef written;
  absl::StatusOr<ValueRef> ref = WriteValue(
      store, *txn, anchor, change.value, kind.resource_manager,
      [&](const ValueRef& r) {
        return EncodeIndexUndo(anchor, UndoOp::kFreeValue, {}, EncodeValueRefWithNonce(r));
      },
      &written);
  absl::Status status = ref.status();
  const std::string stored = ref.ok() ? EncodeValueRef(*ref) : std::string();
  if (status.ok()) {
    change.value = stored;
    change.out_of_line = true;
    change.attach = ref->head;
    status = RunChange(store, txn, kind, anchor, change, attempt, make_room, emptied);
  }
  if (!status.ok() && written.head != kInvalidPageId) {
    // Nothing names the pages written: they go with the commit (or with the undo of an abort).
    if (absl::Status s = Discard(*txn, anchor, written); !s.ok()) {
      return absl::Status(
          status.code(),
          fmt::format("{}; and the large value's pages at {} could not be freed: {}",
                      std::string(status.message()), written.head, std::string(s.message())));
    }
  }
  if (own != nullptr) {
    if (absl::Status s = own->Commit(Durability::kNone); !s.ok() && status.ok()) status = s;
  }
  return status;
}

absl::Status ApplyChangeIn(MiniTransaction& mtr, const ChangeKind& kind, IndexChange& change,
                           AttemptFn attempt, MakeRoomFn make_room) {
  if (absl::Status s = CheckEntrySize(kind, change); !s.ok()) return s;
  if (change.out_of_line) {  // a large value's reference put back (PutReferenceIn)
    if (absl::StatusOr<ValueRef> ref = DecodeValueRef(change.value); !ref.ok()) {
      return ref.status();
    }
  }
  if (OutOfLine(kind, change)) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: a change inside the caller's mini-transaction stores values up to {} bytes with "
        "the key, and {} + {} is more",
        kind.what, kind.max_entry_bytes, change.key.size(), change.value.size()));
  }
  for (;;) {
    absl::StatusOr<Attempt> o = attempt(mtr, change);
    if (!o.ok()) return o.status();
    if (*o != Attempt::kNeedsRoom) return absl::OkStatus();
    if (absl::Status s = make_room(change); !s.ok()) return s;
  }
}

absl::Status FinishValues(MiniTransaction& mtr, PageId anchor, const IndexChange& change) {
  if (change.attach != kInvalidPageId) {
    if (absl::Status s = MarkAttached(mtr, change.attach); !s.ok()) return s;
  }
  if (!change.old || !change.old_out_of_line) return absl::OkStatus();
  absl::StatusOr<ValueRef> ref = DecodeValueRef(*change.old);
  if (!ref.ok()) return ref.status();
  std::vector<PageId> pages;
  if (absl::Status s = WalkValue(mtr.store().pool(), anchor, *ref, nullptr, &pages,
                                 /*read_data=*/false);
      !s.ok()) {
    return s;
  }
  return change.free_dropped_now ? mtr.FreeUnreferenced(pages) : mtr.FreeAtCommit(pages);
}

absl::Status ReadLargeValue(BufferPool& pool, PageId anchor, std::string_view reference,
                            std::string* value) {
  absl::StatusOr<ValueRef> ref = DecodeValueRef(reference);
  if (!ref.ok()) return ref.status();
  return WalkValue(pool, anchor, *ref, value, nullptr);
}

absl::Status FreeIndexPages(MiniTransaction& mtr, PageId anchor, std::vector<PageId> pages) {
  const std::size_t fits = mtr.store().max_record_bytes() / 9 / 4;
  if (pages.size() > fits) {
    Logf(LogLevel::kWarning,
         "rolling back the creation of index {}: {} of its {} pages are freed (what one log "
         "record frees); the other {} stay unnamed (pagestore verify lists them as leaked)",
         anchor, fits, pages.size(), pages.size() - fits);
    // The anchor among those freed: the index is gone either way.
    pages.erase(std::remove(pages.begin(), pages.end(), anchor), pages.end());
    pages.insert(pages.begin(), anchor);
    pages.resize(fits);
  }
  return mtr.FreeUnreferenced(pages);
}

absl::Status FreeWrittenValue(MiniTransaction& mtr, PageId anchor, std::string_view ref) {
  absl::StatusOr<ValueRef> r = DecodeValueRefWithNonce(ref);
  if (!r.ok()) return r.status();
  return FreeIfUnattached(mtr, anchor, *r);
}

}  // namespace pagestore::index_internal
