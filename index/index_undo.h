// The logical undo record both index kinds log inside user transactions: which index, and how to
// put the key back the way it was. Internal to index/ (not installed).
//
//   u64 anchor | u8 op (0: delete the key, 1: put key = value) | u32 key length | key | value
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

struct IndexUndo {
  PageId anchor = kInvalidPageId;
  bool put = false;        // false: delete the key
  std::string_view key;    // into the record
  std::string_view value;  // put only
};

inline constexpr std::size_t kIndexUndoHeader = 13;

inline std::vector<std::byte> EncodeIndexUndo(PageId anchor, bool put, std::string_view key,
                                              std::string_view value) {
  std::vector<std::byte> out(kIndexUndoHeader + key.size() + value.size());
  const auto klen = static_cast<std::uint32_t>(key.size());
  std::memcpy(out.data(), &anchor, 8);
  out[8] = std::byte{put ? std::uint8_t{1} : std::uint8_t{0}};
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
  out.put = undo[8] != std::byte{0};
  const char* p = reinterpret_cast<const char*>(undo.data());
  out.key = std::string_view(p + kIndexUndoHeader, klen);
  out.value = std::string_view(p + kIndexUndoHeader + klen, undo.size() - kIndexUndoHeader - klen);
  return out;
}

}  // namespace pagestore::index_internal
