// The change and undo plumbing both index kinds share (the B+tree and the hash index differ
// only in how one attempt finds and changes its pages): one change (insert, put or delete of a
// key) and what it found; its entry-size check; running it in a mini-transaction of its own
// (logging its logical undo inside a user transaction) or in the caller's; and the undo handler
// that puts a key back the way it was. The undo record's bytes are index_undo.h's. Internal to
// index/.
//
// Thread safety: a change belongs to the thread running it; the functions keep no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/index_undo.h"
#include "wal/store.h"

namespace pagestore::index_internal {

enum class ChangeOp : std::uint8_t { kInsert, kPut, kDelete };

struct IndexChange {
  ChangeOp op = ChangeOp::kInsert;
  std::string_view key = {};
  // kInsert and kPut: the value as the index stores it (a large value's reference once its
  // pages are written, with `out_of_line` set).
  std::string_view value = {};
  std::uint64_t hash = 0;  // hash indexes: the key's hash
  bool out_of_line = false;
  // The previous value, if any, as it was stored (set by the attempt); `old_out_of_line`: a
  // large value's reference.
  std::optional<std::string> old = std::nullopt;
  bool old_out_of_line = false;
  // A large value written for this change (its head; 0: none): marked attached by the attempt
  // that names it.
  PageId attach = kInvalidPageId;
  // Undo's own changes (and changes in the caller's mini-transaction): a large value this change
  // stops naming is freed with the mini-transaction, not with a transaction's commit.
  bool free_dropped_now = false;
};

// What one attempt inside a mini-transaction came to.
enum class Attempt : std::uint8_t {
  kDone,
  // Nothing changed and no page of the index is held: room is made (a structure change in a
  // system mini-transaction of its own), then the change is attempted again.
  kNeedsRoom,
  // Done, and a bucket emptied: merged after the commit (hash indexes).
  kEmptied,
};

// The index kind a change is for.
struct ChangeKind {
  std::string_view what;  // in messages: "B+tree", "hash index"
  std::uint16_t resource_manager;
  // Key + value stored in the index's page; a larger entry keeps its value out of line, in
  // value pages (index/value_pages.h).
  std::size_t max_entry_bytes;
  std::size_t max_key_bytes;
  std::size_t max_value_bytes;
};

using AttemptFn = absl::FunctionRef<absl::StatusOr<Attempt>(MiniTransaction&, IndexChange&)>;
using MakeRoomFn = absl::FunctionRef<absl::Status(const IndexChange&)>;
using EmptiedFn = absl::FunctionRef<void(const IndexChange&)>;

// The change's key (and, but for a delete, its value) within the limits: InvalidArgumentError
// stating the limit otherwise.
[[nodiscard]] absl::Status CheckEntrySize(const ChangeKind& kind, const IndexChange& change);

// Runs `change` on the index anchored at `anchor` in a mini-transaction of its own: inside `txn`
// (logging the change's logical undo under kind.resource_manager), or a system one when null.
// A value stored out of line is written first, in mini-transactions of `txn` (of a transaction
// of its own, committed with the change, when null), so that a rollback or a crash frees it.
// The pages of a large value the change replaces or deletes are freed with the commit (of
// `txn`, or of the change's own mini-transaction).
// An attempt that needs room leaves its mini-transaction unchanged and holding nothing; room is
// made and the change runs again in a new one. After the commit of an attempt that emptied a
// bucket, `emptied` runs (its failure is not the change's: the change is committed).
[[nodiscard]] absl::Status ApplyChange(Store& store, Transaction* txn, const ChangeKind& kind,
                                       PageId anchor, IndexChange& change, AttemptFn attempt,
                                       MakeRoomFn make_room, EmptiedFn emptied);
// Runs `change` inside the caller's mini-transaction, which holds no page of the index (PutIn,
// DeleteIn: undo handlers); room is made in system mini-transactions of its own.
[[nodiscard]] absl::Status ApplyChangeIn(MiniTransaction& mtr, const ChangeKind& kind,
                                         IndexChange& change, AttemptFn attempt,
                                         MakeRoomFn make_room);

// The undo handler of an index kind: decodes the record (DataLossError naming kind.what), opens
// the index at the record's anchor with `open(store, anchor)` (a StatusOr of a unique_ptr to a
// BTree or HashIndex), and puts the key back through PutIn or DeleteIn in the compensation
// mini-transaction (a delete that finds nothing has nothing to undo).
// After an attempt that made its change, in its mini-transaction (the page that names the
// values still latched): marks a value written for the change attached, and frees the pages of
// a large value the change replaced or deleted with the commit (the transaction's; `mtr`'s when
// it is a system one or change.free_dropped_now).
[[nodiscard]] absl::Status FinishValues(MiniTransaction& mtr, PageId anchor,
                                        const IndexChange& change);
// Reads the large value whose reference is `reference` into *value (index/value_pages.h).
[[nodiscard]] absl::Status ReadLargeValue(BufferPool& pool, PageId anchor,
                                          std::string_view reference, std::string* value);

// Undo of an index's creation (op 4): frees its pages in `mtr`, as many as a quarter of one log
// record frees; past that (an index grown large in the transaction that made it) the rest stay
// unnamed, which a warning says, and `pagestore verify` reports as leaked: the undo never fails
// for want of room, so recovery always finishes.
[[nodiscard]] absl::Status FreeIndexPages(MiniTransaction& mtr, PageId anchor,
                                          std::vector<PageId> pages);

// Undo of a value's writing (op 3: `ref` is its reference and nonce): frees, in `mtr`, its
// pages as far as they were written, unless a change named it (FreeIfUnattached).
[[nodiscard]] absl::Status FreeWrittenValue(MiniTransaction& mtr, PageId anchor,
                                            std::string_view ref);

template <typename Open>
UndoHandler IndexUndoHandler(const ChangeKind& kind, Open open) {
  return [what = kind.what, open = std::move(open)](
             MiniTransaction& mtr, std::span<const std::byte> payload) -> absl::Status {
    absl::StatusOr<IndexUndo> undo = DecodeIndexUndo(payload, what);
    if (!undo.ok()) return undo.status();
    // The value's pages name their index by its anchor: no need to open it (it may be dropped).
    if (undo->op == UndoOp::kFreeValue) return FreeWrittenValue(mtr, undo->anchor, undo->value);
    auto index = open(mtr.store(), undo->anchor);
    if (!index.ok()) return index.status();
    using Index = std::remove_reference_t<decltype(**index)>;
    switch (undo->op) {
      case UndoOp::kPut:
        return (*index)->PutIn(mtr, undo->key, undo->value, Index::Mode::kPut, nullptr);
      case UndoOp::kPutReference:
        if constexpr (requires(Index & i) { i.PutReferenceIn(mtr, undo->key, undo->value); }) {
          return (*index)->PutReferenceIn(mtr, undo->key, undo->value);
        }
        break;
      case UndoOp::kFreeValue:
        return FreeWrittenValue(mtr, undo->anchor, undo->value);
      case UndoOp::kFreeIndex: {
        // The index made by the transaction being undone: every page it has now (its other
        // operations, newer, are undone already; structure changes stay, and are freed too).
        std::vector<PageId> pages;
        if (auto stats = (*index)->Stats(&pages); !stats.ok()) return stats.status();
        return FreeIndexPages(mtr, undo->anchor, std::move(pages));
      }
      case UndoOp::kDelete: {
        absl::Status s = (*index)->DeleteIn(mtr, undo->key, nullptr);
        return absl::IsNotFound(s) ? absl::OkStatus() : s;
      }
    }
    return absl::DataLossError(std::string(what) + " undo record names a large value, which " +
                               std::string(what) + " indexes do not store");
  };
}

}  // namespace pagestore::index_internal
