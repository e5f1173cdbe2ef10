// The free list's trunk pages (PageType::kFreeList) on disk: the one codec, used by the store
// (checkpoints write the list, recovery reads it) and by the tools (info, verify, dump-page).
// wal/README.md ("Free list on disk") is the prose spec.
//
// Layout after the common 32-byte page header:
//   u64 next trunk (0: the last) | u32 count | u32 zero | count x u64 free page ids
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/page.h"

namespace pagestore {

inline constexpr std::size_t kTrunkHeaderSize = 16;
inline constexpr std::size_t kIdsPerTrunk = (kPagePayloadSize - kTrunkHeaderSize) / sizeof(PageId);

// Formats `page` as a trunk listing `ids` and pointing at `next` (its header's type set, the rest
// of the page zeroed; sealing is the writer's). REQUIRES: ids.size() <= kIdsPerTrunk.
void EncodeFreeListTrunk(PageId next, std::span<const PageId> ids, PageSpan page);

// A trunk's fields as stored, for a reader that shows even a malformed one: `count` as it claims,
// `ids` only as many as the page holds.
struct FreeListTrunkFields {
  PageId next = kInvalidPageId;
  std::uint32_t count = 0;
  std::vector<PageId> ids;  // min(count, kIdsPerTrunk) of them
};
FreeListTrunkFields ReadFreeListTrunkFields(ConstPageSpan page);

// The trunk at page `id` of `file`: DataLossError naming both if the page is not a trunk or
// claims more ids than a page holds.
struct FreeListTrunk {
  PageId next = kInvalidPageId;
  std::vector<PageId> ids;
};
[[nodiscard]] absl::StatusOr<FreeListTrunk> DecodeFreeListTrunk(PageId id, ConstPageSpan page,
                                                                std::string_view file);

}  // namespace pagestore
