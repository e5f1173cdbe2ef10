// The logical undo record both index kinds log inside user transactions: which index, and how to
// put the key back the way it was. Internal to index/ (not installed).
//
//   u64 anchor | u8 op | u32 key length | key | value
// op 0: delete the key; 1: put key = value; 2: put key = the large value whose 16-byte
// reference is `value` (index/value_pages.h; its pages were kept); 3: free the pages of the
// large value whose reference is `value` (as far as they were written; the key is empty);
// 4: free every page of the index (undo of its creation; key and value empty).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/page.h"

namespace pagestore::index_internal {

enum class UndoOp : std::uint8_t {
  kDelete = 0,
  kPut = 1,
  kPutReference = 2,
  kFreeValue = 3,
  kFreeIndex = 4,
};

struct IndexUndo {
  PageId anchor = kInvalidPageId;
  UndoOp op = UndoOp::kDelete;
  std::string_view key;    // into the record
  std::string_view value;  // kPut: the value; kPutReference, kFreeValue: the reference
};

inline constexpr std::size_t kIndexUndoHeader = 13;

inline std::vector<std::byte> EncodeIndexUndo(PageId anchor, UndoOp op, std::string_view key,
                                              std::string_view value) {
  std::vector<std::byte> out(kIndexUndoHeader + key.size() + value.size());
  const auto klen = static_cast<std::uint32_t>(key.size());
  std::memcpy(out.data(), &anchor, 8);
  out[8] = static_cast<std::byte>(op);
  std::memcpy(out.data() + 9, &klen, 4);
  if (!key.empty()) std::memcpy(out.data() + kIndexUndoHeader, key.data(), key.size());
  if (!value.empty()) {
    std::memcpy(out.data() + kIndexUndoHeader + key.size(), value.data(), value.size());
  }
  return out;
}

// DataLossError naming `what` (the index kind) for a short or truncated record.
inline absl::StatusOr<IndexUndo> DecodeIndexUndo(std::span<const std::byte> undo,
                                                 std::string_view what) {
  if (undo.size() < kIndexUndoHeader) {
    return absl::DataLossError(std::string(what) + " undo record too short");
  }
  IndexUndo out;
  std::uint32_t klen;
  std::memcpy(&out.anchor, undo.data(), 8);
  std::memcpy(&klen, undo.data() + 9, 4);
  if (kIndexUndoHeader + std::uint64_t{klen} > undo.size()) {
    return absl::DataLossError(std::string(what) + " undo record truncated");
  }
  if (static_cast<std::uint8_t>(undo[8]) > static_cast<std::uint8_t>(UndoOp::kFreeIndex)) {
    return absl::DataLossError(std::string(what) + " undo record has an unknown operation " +
                               std::to_string(static_cast<int>(undo[8])));
  }
  out.op = static_cast<UndoOp>(undo[8]);
  const char* p = reinterpret_cast<const char*>(undo.data());
  out.key = std::string_view(p + kIndexUndoHeader, klen);
  out.value = std::string_view(p + kIndexUndoHeader + klen, undo.size() - kIndexUndoHeader - klen);
  return out;
}

}  // namespace pagestore::index_internal
