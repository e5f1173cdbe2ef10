#include "index/hash_page.h"

#include <fmt/format.h>

namespace pagestore {
namespace hash_internal {

absl::Status NotOurs(PageId anchor, PageId id, std::string_view what) {
  return absl::DataLossError(
      fmt::format("hash index {}: page {} is not the {} it should be", anchor, id, what));
}

absl::Status CheckAnchor(PageId anchor, const std::byte* m) {
  if (TypeOf(m) != PageType::kHashMeta) {
    return absl::DataLossError(fmt::format("page {} is not a hash index anchor", anchor));
  }
  if (MaxDepth(m) < 1 || MaxDepth(m) > kMaxHashGlobalDepth || GlobalDepth(m) > MaxDepth(m)) {
    return absl::DataLossError(
        fmt::format("hash index anchor {}: global depth {} / maximum {} out of range", anchor,
                    GlobalDepth(m), MaxDepth(m)));
  }
  return absl::OkStatus();
}

}  // namespace hash_internal

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts above, in this file only

// ---------------------------------------------------------------------------------------------
// Decoding a page for tools

std::optional<HashPageView> DecodeHashPage(ConstPageSpan page) {
  const std::byte* p = page.data();
  HashPageView v;
  switch (TypeOf(p)) {
    case PageType::kHashMeta: {
      v.fields = {{"seed", Get64(p, kMetaSeed)},
                  {"global_depth", GlobalDepth(p)},
                  {"max_global_depth", MaxDepth(p)}};
      for (unsigned d = 0; d <= kMaxHashGlobalDepth; ++d) {
        if (DepthCount(p, d) != 0) {
          v.fields.emplace_back(fmt::format("buckets_at_depth_{}", d), DepthCount(p, d));
        }
      }
      for (std::uint64_t k = 0; k < kMetaIndexSlots; ++k) {
        if (IndexPageId(p, k) != kInvalidPageId) v.ids.emplace_back(k, IndexPageId(p, k));
      }
      if (MaxDepth(p) < 1 || MaxDepth(p) > kMaxHashGlobalDepth || GlobalDepth(p) > MaxDepth(p)) {
        v.problem = "global depth or maximum depth out of range";
      }
      return v;
    }
    case PageType::kHashDirectory: {
      const std::uint16_t role = Get16(p, kDirRole);
      v.fields = {{"owner", Get64(p, kDirOwner)}, {"number", Get32(p, kDirNumber)}, {"role", role}};
      if (role == kRoleDirectory) {
        for (std::uint64_t s = 0; s < kDirSlots; ++s) {
          if (DirEntry(p, s) != kInvalidPageId) {
            v.ids.emplace_back(Get32(p, kDirNumber) * kDirSlots + s, DirEntry(p, s));
          }
        }
      } else if (role == kRoleIndex) {
        for (std::uint64_t s = 0; s < kIndexSlots; ++s) {
          if (IndexEntry(p, s) != kInvalidPageId) {
            v.ids.emplace_back(Get32(p, kDirNumber) * kIndexSlots + s, IndexEntry(p, s));
          }
        }
      } else if (Get64(p, kDirOwner) != kInvalidPageId) {
        v.problem = fmt::format("unknown directory page role {}", role);
      }
      return v;
    }
    case PageType::kHashBucket:
    case PageType::kOverflow: {
      const Bucket b(p);
      v.fields = {{"owner", b.owner()},
                  {"prefix", b.prefix()},
                  {"local_depth", b.depth()},
                  {"next", b.next()},
                  {"count", b.count()},
                  {"cell_start", Get16(p, kBktCellStart)},
                  {"dead_bytes", Get16(p, kBktDead)},
                  {"free_bytes", b.Sane() ? b.FreeBytes() : 0}};
      if (!b.Valid()) {
        v.problem = "slots and cells disagree (out of bounds or miscounted)";
        return v;
      }
      for (std::size_t i = 0; i < b.count(); ++i) {
        v.entries.push_back(
            {b.hash(i), std::string(b.key(i)), std::string(b.value(i)), b.out_of_line(i)});
      }
      return v;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace pagestore
