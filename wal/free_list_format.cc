#include "wal/free_list_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace pagestore {

void EncodeFreeListTrunk(PageId next, std::span<const PageId> ids, PageSpan page) {
  InitPage(page, PageType::kFreeList);
  std::byte* p = page.data() + kPageHeaderSize;
  const auto count = static_cast<std::uint32_t>(ids.size());
  std::memcpy(p, &next, sizeof next);
  std::memcpy(p + 8, &count, sizeof count);
  if (!ids.empty()) std::memcpy(p + kTrunkHeaderSize, ids.data(), ids.size() * sizeof(PageId));
}

FreeListTrunkFields ReadFreeListTrunkFields(ConstPageSpan page) {
  FreeListTrunkFields f;
  const std::byte* p = page.data() + kPageHeaderSize;
  std::memcpy(&f.next, p, sizeof f.next);
  std::memcpy(&f.count, p + 8, sizeof f.count);
  f.ids.resize(std::min<std::size_t>(f.count, kIdsPerTrunk));
  if (!f.ids.empty())
    std::memcpy(f.ids.data(), p + kTrunkHeaderSize, f.ids.size() * sizeof(PageId));
  return f;
}

absl::StatusOr<FreeListTrunk> DecodeFreeListTrunk(PageId id, ConstPageSpan page,
                                                  std::string_view file) {
  const auto type = static_cast<PageType>(ReadPageHeader(page).type);
  if (type != PageType::kFreeList) {
    return absl::DataLossError(
        fmt::format("{}: page {} on the free list's trunk chain is not a free-list page (type {})",
                    file, id, PageTypeName(type)));
  }
  FreeListTrunkFields f = ReadFreeListTrunkFields(page);
  if (f.count > kIdsPerTrunk) {
    return absl::DataLossError(
        fmt::format("{}: free-list trunk page {} claims {} ids, more than a page holds ({})", file,
                    id, f.count, kIdsPerTrunk));
  }
  return FreeListTrunk{f.next, std::move(f.ids)};
}

}  // namespace pagestore
