#include "storage/page.h"

#include <fmt/format.h>

#include <algorithm>

#if defined(__x86_64__)
// libxxhash ships a runtime dispatcher that picks the AVX2/AVX512 kernel when the CPU has it.
#include <xxh_x86dispatch.h>
#define PAGESTORE_XXH3_SEEDED XXH3_64bits_withSeed_dispatch
#else
#include <xxhash.h>
#define PAGESTORE_XXH3_SEEDED XXH3_64bits_withSeed
#endif

namespace pagestore {

std::string_view PageTypeName(PageType type) {
  switch (type) {
    case PageType::kInvalid:
      return "invalid";
    case PageType::kSuperblock:
      return "superblock";
    case PageType::kRaw:
      return "raw";
    case PageType::kFreeList:
      return "free-list";
    case PageType::kCatalog:
      return "catalog";
    case PageType::kBTreeInternal:
      return "btree-internal";
    case PageType::kBTreeLeaf:
      return "btree-leaf";
    case PageType::kHashDirectory:
      return "hash-directory";
    case PageType::kHashBucket:
      return "hash-bucket";
    case PageType::kOverflow:
      return "overflow";
  }
  return "unknown";
}

std::uint64_t ComputePageChecksum(PageId id, ConstPageSpan page) {
  constexpr std::size_t kSkip = sizeof(PageHeader::checksum);
  return PAGESTORE_XXH3_SEEDED(page.data() + kSkip, kPageSize - kSkip, id);
}

void SealPage(PageId id, PageSpan page) {
  PageHeader h = ReadPageHeader(page);
  h.page_id = id;
  h.version = kFormatVersion;
  h.reserved = 0;
  WritePageHeader(page, h);
  h.checksum = ComputePageChecksum(id, page);
  std::memcpy(page.data(), &h.checksum, sizeof(h.checksum));
}

absl::Status VerifyPage(PageId id, ConstPageSpan page, std::string_view file) {
  const PageHeader h = ReadPageHeader(page);
  if (h.checksum == ComputePageChecksum(id, page)) [[likely]] {
    if (h.version > kFormatVersion) {
      return absl::DataLossError(
          fmt::format("{}: page {} has format version {}, newer than this build reads ({})", file,
                      id, h.version, kFormatVersion));
    }
    return absl::OkStatus();
  }
  // Slow path: say what kind of fault it is.
  if (std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; })) {
    return absl::DataLossError(fmt::format(
        "{}: page {} is all zeros (allocated but never written, or its write was lost)", file, id));
  }
  if (h.page_id != id && h.checksum == ComputePageChecksum(h.page_id, page)) {
    return absl::DataLossError(
        fmt::format("{}: page {} holds a valid copy of page {} (misdirected write or read)", file,
                    id, h.page_id));
  }
  return absl::DataLossError(fmt::format(
      "{}: checksum mismatch on page {} (stored {:#018x}, computed {:#018x}): corrupt or torn "
      "page",
      file, id, h.checksum, ComputePageChecksum(id, page)));
}

void InitPage(PageSpan page, PageType type) {
  std::memset(page.data(), 0, kPageSize);
  PageHeader h{};
  h.type = static_cast<std::uint16_t>(type);
  WritePageHeader(page, h);
}

}  // namespace pagestore
