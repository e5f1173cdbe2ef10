// The on-disk page: 4 KiB with a 32-byte common header. This header is the one place the page
// format's constants live; storage/README.md is the prose spec beside it.
//
// Thread safety: everything here is a pure function of its arguments.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "absl/status/status.h"

namespace pagestore {

static_assert(std::endian::native == std::endian::little,
              "the on-disk format is little-endian and read by casting");

inline constexpr std::size_t kPageSize = 4096;

using PageId = std::uint64_t;  // index of a page in the file; byte offset = id * kPageSize
using Lsn = std::uint64_t;     // byte position in the write-ahead log

// Pages 0 and 1 hold the two superblock copies, so no data page ever has id 0: an index or a
// free list may use 0 as "no page".
inline constexpr PageId kInvalidPageId = 0;
inline constexpr PageId kSuperblockPageCount = 2;
inline constexpr PageId kFirstDataPage = 2;
inline constexpr Lsn kInvalidLsn = 0;

// Version of the page and superblock format this build writes. A page or superblock with a
// greater version is refused rather than misread.
inline constexpr std::uint16_t kFormatVersion = 1;

// Every page type of every layer, in one registry so that no two layers ever pick the same number.
enum class PageType : std::uint16_t {
  kInvalid = 0,  // never sealed; an all-zero page reads as this
  kSuperblock = 1,
  kRaw = 2,  // opaque payload (tests, benchmarks, engines that manage their own pages)
  kFreeList = 3,
  kCatalog = 4,
  kBTreeInternal = 5,
  kBTreeLeaf = 6,
  kHashDirectory = 7,
  kHashBucket = 8,
  kOverflow = 9,
  kBTreeMeta = 10,  // a B+tree's anchor: its root and height
  kHashMeta = 11,   // a hash index's anchor: seed, depths, directory index
  kValue = 12,      // a large value's pages, out of line (index/value_pages.h)
};

std::string_view PageTypeName(PageType type);

// The common header at byte 0 of every page. Little-endian, no padding.
//   [0, 8)   checksum   XXH3-64 of bytes [8, 4096) (which include page_id)
//   [8, 16)  page_id    the id this page was sealed for
//   [16, 24) lsn        LSN of the last logged change applied to this page (0 if none)
//   [24, 26) type       PageType
//   [26, 28) version    kFormatVersion at sealing
//   [28, 32) reserved   zero
struct PageHeader {
  std::uint64_t checksum;
  std::uint64_t page_id;
  std::uint64_t lsn;
  std::uint16_t type;
  std::uint16_t version;
  std::uint32_t reserved;
};
static_assert(sizeof(PageHeader) == 32);
inline constexpr std::size_t kPageHeaderSize = sizeof(PageHeader);
inline constexpr std::size_t kPagePayloadSize = kPageSize - kPageHeaderSize;

using PageSpan = std::span<std::byte, kPageSize>;
using ConstPageSpan = std::span<const std::byte, kPageSize>;

inline PageHeader ReadPageHeader(ConstPageSpan page) {
  PageHeader h;
  std::memcpy(&h, page.data(), sizeof(h));
  return h;
}

inline void WritePageHeader(PageSpan page, const PageHeader& h) {
  std::memcpy(page.data(), &h, sizeof(h));
}

// The checksum a page with these bytes must carry: XXH3-64 of bytes [8, 4096). Those bytes
// include the header's page id, and verification also requires that id to be the page's own, so
// a page written to the wrong place (or read from the wrong offset) fails like a corrupt one.
std::uint64_t ComputePageChecksum(ConstPageSpan page);

// Stamps `id` and the format version into the header and computes the checksum. Type and LSN are
// the caller's and are kept.
void SealPage(PageId id, PageSpan page);

// The DataLossError for a page that failed the fast check below, naming `file` and the page and
// saying what kind of fault it is (bit rot or a torn write, misdirected write, never written,
// newer format).
[[nodiscard]] absl::Status DiagnoseBadPage(PageId id, ConstPageSpan page, std::string_view file);

// OK if `page` is a correctly sealed page for `id`, else DiagnoseBadPage's error. The fast path
// is one hash and three compares, inline.
[[nodiscard]] inline absl::Status VerifyPage(PageId id, ConstPageSpan page, std::string_view file) {
  const PageHeader h = ReadPageHeader(page);
  if (h.checksum == ComputePageChecksum(page) && h.page_id == id && h.version <= kFormatVersion)
      [[likely]] {
    return absl::OkStatus();
  }
  return DiagnoseBadPage(id, page, file);
}

// Initializes `page` as an empty page of `type` (zero payload, lsn 0), unsealed.
void InitPage(PageSpan page, PageType type);

// Whether every byte of `page` is zero: a page allocated but never written (VerifyPage says so
// in its error; a copier that meets one while the file grows takes it as it is).
inline bool IsZeroPage(ConstPageSpan page) {
  return std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace pagestore
