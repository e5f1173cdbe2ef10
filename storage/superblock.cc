#include "storage/superblock.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace pagestore {
namespace {

// Offsets inside the page, after the common header.
constexpr std::size_t kMagicOffset = kPageHeaderSize;  // 8 bytes
constexpr std::size_t kVersionOffset = 40;             // u32
constexpr std::size_t kPageSizeOffset = 44;            // u32
constexpr std::size_t kSequenceOffset = 48;            // u64
constexpr std::size_t kPageCountOffset = 56;           // u64
constexpr std::size_t kFreeListOffset = 64;            // u64
constexpr std::size_t kCatalogOffset = 72;             // u64
constexpr std::size_t kCheckpointLsnOffset = 80;       // u64
static_assert(kMagicOffset + sizeof(kSuperblockMagic) == kVersionOffset);

template <typename T>
void Put(PageSpan page, std::size_t offset, T value) {
  std::memcpy(page.data() + offset, &value, sizeof(T));
}

template <typename T>
T Get(ConstPageSpan page, std::size_t offset) {
  T value;
  std::memcpy(&value, page.data() + offset, sizeof(T));
  return value;
}

bool HasMagic(ConstPageSpan page) {
  return std::memcmp(page.data() + kMagicOffset, kSuperblockMagic, sizeof(kSuperblockMagic)) == 0;
}

// An intact copy that this build must not read: never fall back to an older copy past it.
bool IsHardError(const absl::Status& s) { return absl::IsFailedPrecondition(s); }

}  // namespace

void EncodeSuperblock(const Superblock& sb, PageSpan out) {
  InitPage(out, PageType::kSuperblock);
  std::memcpy(out.data() + kMagicOffset, kSuperblockMagic, sizeof(kSuperblockMagic));
  Put<std::uint32_t>(out, kVersionOffset, sb.format_version);
  Put<std::uint32_t>(out, kPageSizeOffset, sb.page_size);
  Put<std::uint64_t>(out, kSequenceOffset, sb.sequence);
  Put<std::uint64_t>(out, kPageCountOffset, sb.page_count);
  Put<std::uint64_t>(out, kFreeListOffset, sb.roots.free_list_head);
  Put<std::uint64_t>(out, kCatalogOffset, sb.roots.catalog_root);
  Put<std::uint64_t>(out, kCheckpointLsnOffset, sb.roots.checkpoint_lsn);
  SealPage(sb.sequence % 2, out);
}

absl::StatusOr<Superblock> DecodeSuperblock(PageId copy, ConstPageSpan page,
                                            std::string_view file) {
  if (!HasMagic(page)) {
    return absl::DataLossError(
        fmt::format("{}: superblock copy {} has no pagestore magic", file, copy));
  }
  // An intact copy from a newer build is refused before anything else looks at it: treating it
  // as damaged would fall back to the older copy and silently roll the file back. (Internally
  // FailedPrecondition, so the chooser can tell it from damage; surfaced as DataLoss.)
  const PageHeader header = ReadPageHeader(page);
  const bool intact = header.checksum == ComputePageChecksum(page) && header.page_id == copy;
  const std::uint32_t stored_version = Get<std::uint32_t>(page, kVersionOffset);
  if (intact && (header.version > kFormatVersion || stored_version > kFormatVersion)) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: superblock copy {} has format version {}, newer than this build reads ({})", file,
        copy, std::max<std::uint32_t>(header.version, stored_version), kFormatVersion));
  }
  if (absl::Status s = VerifyPage(copy, page, file); !s.ok()) {
    return absl::DataLossError(
        fmt::format("superblock copy {}: {}", copy, std::string(s.message())));
  }
  Superblock sb;
  sb.format_version = Get<std::uint32_t>(page, kVersionOffset);
  sb.page_size = Get<std::uint32_t>(page, kPageSizeOffset);
  sb.sequence = Get<std::uint64_t>(page, kSequenceOffset);
  sb.page_count = Get<std::uint64_t>(page, kPageCountOffset);
  sb.roots.free_list_head = Get<std::uint64_t>(page, kFreeListOffset);
  sb.roots.catalog_root = Get<std::uint64_t>(page, kCatalogOffset);
  sb.roots.checkpoint_lsn = Get<std::uint64_t>(page, kCheckpointLsnOffset);
  if (sb.page_size != kPageSize) {
    return absl::FailedPreconditionError(
        fmt::format("{}: superblock copy {} says page size {}, this build uses {}", file, copy,
                    sb.page_size, kPageSize));
  }
  if (sb.format_version == 0 || sb.sequence % 2 != copy || sb.page_count < kSuperblockPageCount) {
    return absl::DataLossError(fmt::format(
        "{}: superblock copy {} is inconsistent (version {}, sequence {}, page count {})", file,
        copy, sb.format_version, sb.sequence, sb.page_count));
  }
  return sb;
}

absl::StatusOr<SuperblockChoice> ChooseSuperblock(ConstPageSpan copy0, ConstPageSpan copy1,
                                                  std::string_view file) {
  absl::StatusOr<Superblock> a = DecodeSuperblock(0, copy0, file);
  absl::StatusOr<Superblock> b = DecodeSuperblock(1, copy1, file);
  for (const auto* s : {&a, &b}) {
    if (IsHardError(s->status())) return absl::DataLossError(std::string(s->status().message()));
  }
  if (!a.ok() && !b.ok()) {
    if (!HasMagic(copy0) && !HasMagic(copy1)) {
      return absl::DataLossError(
          fmt::format("{}: not a pagestore file (no superblock magic in pages 0 and 1)", file));
    }
    return absl::DataLossError(fmt::format("{}: both superblock copies are bad: [{}] [{}]", file,
                                           std::string(a.status().message()),
                                           std::string(b.status().message())));
  }
  if (a.ok() && b.ok()) {
    return a->sequence > b->sequence ? SuperblockChoice{*a, absl::OkStatus()}
                                     : SuperblockChoice{*b, absl::OkStatus()};
  }
  return a.ok() ? SuperblockChoice{*a, b.status()} : SuperblockChoice{*b, a.status()};
}

}  // namespace pagestore
