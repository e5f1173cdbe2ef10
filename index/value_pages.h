// Large values stored out of line (index/README.md, "Value pages"): a value too large to sit in
// its leaf lives in pages of type kValue, and the leaf holds a 16-byte reference to them. The
// pages of one value are a chain of directory pages, each listing the data pages that hold the
// value's bytes in order. A value's pages are written once, before the change that names them,
// and never changed afterwards; they are freed whole when nothing names them any more.
// Internal to index/ (the B+tree uses it; the tools decode its pages).
//
// Thread safety: functions of their arguments. A reader must know the value is still named
// while it reads (it holds the naming page latched, or validates its version afterwards):
// freed pages may be reused at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/buffer_pool.h"
#include "storage/page.h"
#include "wal/store.h"

namespace pagestore::index_internal {

// The largest value either index stores (btree.h kMaxValueBytes, hash_index.h).
inline constexpr std::uint64_t kMaxLargeValueBytes = std::uint64_t{1} << 30;

// The reference a leaf holds: the value's first directory page and its length in bytes (16
// bytes in the cell). `nonce` is not in the cell: it is every page's, set when the value is
// written, so that a page freed and reused by another value is never taken for this one's.
struct ValueRef {
  PageId head = kInvalidPageId;
  std::uint64_t length = 0;
  std::uint64_t nonce = 0;
};
inline constexpr std::size_t kValueRefBytes = 16;
std::string EncodeValueRef(const ValueRef& ref);
// DataLossError unless `bytes` is 16 bytes naming a data page and a length within
// kMaxLargeValueBytes.
[[nodiscard]] absl::StatusOr<ValueRef> DecodeValueRef(std::string_view bytes);
// The reference with its nonce (24 bytes: the undo record of a value's writing).
std::string EncodeValueRefWithNonce(const ValueRef& ref);
[[nodiscard]] absl::StatusOr<ValueRef> DecodeValueRefWithNonce(std::string_view bytes);

// Page layout (after the 32-byte page header), both roles:
//   32 u64 owner (the index's anchor)   40 u64 head (the value's first directory page)
//   48 u64 value length (directory) / offset of the first byte here (data)
//   56 u64 next directory page (directory; 0 at the end) / u32 bytes here (data)
//   64 u32 number in the chain (directory) / zero      68 u16 ids here (directory) / zero
//   70 u16 role: 1 directory, 2 data                    72 u64 nonce (the value's, every page)
//   80 u16 attached (the head only: 1 once a change named the value)     82 zero
//   88 directory: u64 data page ids, in value order; data: the value's bytes
inline constexpr std::uint16_t kValueRoleDirectory = 1;
inline constexpr std::uint16_t kValueRoleData = 2;
inline constexpr std::size_t kValuePageHeaderEnd = 88;
inline constexpr std::size_t kValueIdsPerDirectory = (kPageSize - kValuePageHeaderEnd) / 8;
inline constexpr std::size_t kValueBytesPerPage = kPageSize - kValuePageHeaderEnd;

// Writes `value` into new pages owned by `owner`, in mini-transactions of `txn` sized to fit one
// log record each. The first registers the undo `undo` (built by the index from the reference:
// free these pages), so a rollback or a crash before the commit frees them.
// *written receives the reference as soon as the first page is (so a caller can free what was
// written after a failure). InvalidArgumentError, before anything is written, for a value whose
// pages could not all be freed in one log record (ValueLimit).
[[nodiscard]] absl::StatusOr<ValueRef> WriteValue(
    Store& store, Transaction& txn, PageId owner, std::string_view value, std::uint16_t rm,
    const std::function<std::vector<std::byte>(const ValueRef&)>& undo, ValueRef* written);
// The largest value this store's log takes: kMaxLargeValueBytes, or less when a value's pages
// would not all fit one log record's free entries (small log segments).
std::uint64_t ValueLimit(const Store& store);

// Whether a reader may read the value `reference` names with the naming page unlatched (and its
// version validated afterwards): the reference decodes and the value is at most an eighth of the
// pool. A larger one would evict the naming page while it is read, failing every validation, so
// it is read with that page latched.
bool ReadOptimistically(std::string_view reference, const BufferPool& pool);

// The change that names the value marks its head attached, in the change's mini-transaction.
// From then on, whoever stops naming it frees it (with a commit, or at once in undo); before,
// the undo of its writing does (FreeIfUnattached).
[[nodiscard]] absl::Status MarkAttached(MiniTransaction& mtr, PageId head);
// Undo of a value's writing: frees its pages, as far as they were written, unless a change
// named it (then that change's side frees it) or it is gone already (its head free, or reused by
// another value: the nonce differs).
[[nodiscard]] absl::Status FreeIfUnattached(MiniTransaction& mtr, PageId owner,
                                            const ValueRef& ref);

// Reads the value into *out (when not null) and lists its pages in *pages (when not null),
// checking every page: type, role, owner, head, order, lengths. `read_data` false reads only
// the directory pages (listing the data pages they name). DataLossError naming the page at fault
// and the value's head.
[[nodiscard]] absl::Status WalkValue(BufferPool& pool, PageId owner, const ValueRef& ref,
                                     std::string* out, std::vector<PageId>* pages,
                                     bool read_data = true);

// The pages of the value `ref` (its nonce set) as far as they were written (a crash may have cut
// the writing short): its directory chain to its end and the data pages listed. The directory
// pages must still be this value's (DataLossError otherwise); data pages are not read.
[[nodiscard]] absl::Status WrittenValuePages(BufferPool& pool, PageId owner, const ValueRef& ref,
                                             std::vector<PageId>* pages);

// Store::Compact's part for one value: moves its pages at or above `limit` below it
// (MiniTransaction::Relocate, several to a system mini-transaction), pointing the directory
// page that lists each data page, or the directory page before each directory page, at its new
// place. A head that moves is renamed in every page of the value, and `rename_head(mtr, head)`
// points the reference at it in the same mini-transaction (a value whose pages would not fit
// one log record keeps its head where it is). `ref` as a cell holds it (its nonce is read from
// the head).
[[nodiscard]] absl::Status MoveValueBelow(
    Store& store, PageId owner, ValueRef ref, PageId limit,
    const std::function<absl::Status(MiniTransaction&, PageId)>& rename_head);

// A kValue page's fields, for tools; `problem` says what is wrong with it, if anything.
struct ValuePageView {
  std::vector<std::pair<std::string, std::uint64_t>> fields;
  std::vector<PageId> ids;  // directory: data pages
  std::string_view data;    // data: the bytes held
  std::string problem;
};
ValuePageView DecodeValuePage(ConstPageSpan page);

}  // namespace pagestore::index_internal
