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
  std::string_view value = {};                    // kInsert and kPut
  std::uint64_t hash = 0;                         // hash indexes: the key's hash
  std::optional<std::string> old = std::nullopt;  // the previous value, if any (set by the attempt)
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
  std::size_t max_entry_bytes;  // key + value
};

using AttemptFn = absl::FunctionRef<absl::StatusOr<Attempt>(MiniTransaction&, IndexChange&)>;
using MakeRoomFn = absl::FunctionRef<absl::Status(const IndexChange&)>;
using EmptiedFn = absl::FunctionRef<void(const IndexChange&)>;

// InvalidArgumentError stating the limit for an entry over kind.max_entry_bytes.
[[nodiscard]] absl::Status EntryTooLarge(const ChangeKind& kind, std::string_view key,
                                         std::string_view value);
// The change's key (and, but for a delete, key + value) within the limit.
[[nodiscard]] absl::Status CheckEntrySize(const ChangeKind& kind, const IndexChange& change);

// Runs `change` on the index anchored at `anchor` in a mini-transaction of its own: inside `txn`
// (logging the change's logical undo under kind.resource_manager), or a system one when null.
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
template <typename Open>
UndoHandler IndexUndoHandler(const ChangeKind& kind, Open open) {
  return [what = kind.what, open = std::move(open)](
             MiniTransaction& mtr, std::span<const std::byte> payload) -> absl::Status {
    absl::StatusOr<IndexUndo> undo = DecodeIndexUndo(payload, what);
    if (!undo.ok()) return undo.status();
    auto index = open(mtr.store(), undo->anchor);
    if (!index.ok()) return index.status();
    using Index = std::remove_reference_t<decltype(**index)>;
    if (undo->put) return (*index)->PutIn(mtr, undo->key, undo->value, Index::Mode::kPut, nullptr);
    absl::Status s = (*index)->DeleteIn(mtr, undo->key, nullptr);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  };
}

}  // namespace pagestore::index_internal
