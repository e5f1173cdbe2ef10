#include "storage/page.h"

#include <fmt/format.h>

#include <algorithm>

#if defined(__x86_64__)
// libxxhash ships a runtime dispatcher that picks the AVX2/AVX512 kernel when the CPU has it.
#include <xxh_x86dispatch.h>
#define PAGESTORE_XXH3 XXH3_64bits_dispatch
#else
#include <xxhash.h>
#define PAGESTORE_XXH3 XXH3_64bits
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
    case PageType::kBTreeMeta:
      return "btree-meta";
    case PageType::kHashMeta:
      return "hash-meta";
    case PageType::kValue:
      return "value";
  }
  return "unknown";
}

std::uint64_t ComputePageChecksum(ConstPageSpan page) {
  constexpr std::size_t kSkip = sizeof(PageHeader::checksum);
  return PAGESTORE_XXH3(page.data() + kSkip, kPageSize - kSkip);
}

void SealPage(PageId id, PageSpan page) {
  PageHeader h = ReadPageHeader(page);
  h.page_id = id;
  h.version = kFormatVersion;
  h.reserved = 0;
  WritePageHeader(page, h);
  h.checksum = ComputePageChecksum(page);
  std::memcpy(page.data(), &h.checksum, sizeof(h.checksum));
}

absl::Status DiagnoseBadPage(PageId id, ConstPageSpan page, std::string_view file) {
  const PageHeader h = ReadPageHeader(page);
  const std::uint64_t computed = ComputePageChecksum(page);
  if (h.checksum == computed) {
    if (h.page_id != id) {
      return absl::DataLossError(
          fmt::format("{}: page {} holds a valid copy of page {} (misdirected write or read)", file,
                      id, h.page_id));
    }
    if (h.version > kFormatVersion) {
      return absl::DataLossError(
          fmt::format("{}: page {} has format version {}, newer than this build reads ({})", file,
                      id, h.version, kFormatVersion));
    }
    return absl::OkStatus();  // not reached through VerifyPage
  }
  if (IsZeroPage(page)) {
    return absl::DataLossError(fmt::format(
        "{}: page {} is all zeros (allocated but never written, or its write was lost)", file, id));
  }
  return absl::DataLossError(fmt::format(
      "{}: checksum mismatch on page {} (stored {:#018x}, computed {:#018x}): corrupt or torn "
      "page",
      file, id, h.checksum, computed));
}

void InitPage(PageSpan page, PageType type) {
  std::memset(page.data(), 0, kPageSize);
  PageHeader h{};
  h.type = static_cast<std::uint16_t>(type);
  WritePageHeader(page, h);
}

}  // namespace pagestore
