#include "index/hash_directory.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace pagestore::hash_internal {

// ---------------------------------------------------------------------------------------------
// DirReader

absl::StatusOr<PageId> DirReader::BucketAt(std::uint64_t pos) {
  std::uint64_t n = pos >> kDirBits;
  for (;;) {
    if (n == dir_n_) return DirEntry(dir_.data().data(), pos & (kDirSlots - 1));
    absl::StatusOr<PageId> id = Exact(n);
    if (!id.ok()) return id.status();
    if (*id != kInvalidPageId) {
      absl::StatusOr<ReadPageGuard> d = pool_.ReadPage(*id);
      if (!d.ok()) return d.status();
      if (!IsDirPage(d->data().data(), anchor_, n, kRoleDirectory)) {
        return NotOurs(anchor_, *id, fmt::format("directory page {}", n));
      }
      dir_ = std::move(*d);
      dir_n_ = n;
      continue;
    }
    if (n == 0) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory page 0 is missing", anchor_));
    }
    n = SourceOf(n);
  }
}

absl::StatusOr<PageId> DirReader::Exact(std::uint64_t n) {
  const std::uint64_t k = n / kIndexSlots;
  if (k != index_k_) {
    const PageId xid = IndexPageId(meta_, k);
    if (xid == kInvalidPageId) return kInvalidPageId;
    absl::StatusOr<ReadPageGuard> x = pool_.ReadPage(xid);
    if (!x.ok()) return x.status();
    if (!IsDirPage(x->data().data(), anchor_, k, kRoleIndex)) {
      return NotOurs(anchor_, xid, "directory index page");
    }
    index_ = std::move(*x);
    index_k_ = k;
  }
  return IndexEntry(index_.data().data(), n % kIndexSlots);
}

void DirReader::Release() {
  dir_.Release();
  index_.Release();
  dir_n_ = index_k_ = ~std::uint64_t{0};
}

// ---------------------------------------------------------------------------------------------
// DirWriter

absl::StatusOr<PageId> DirWriter::Exact(std::uint64_t n) {
  const PageId xid = IndexPageId(meta_, n / kIndexSlots);
  if (xid == kInvalidPageId) return kInvalidPageId;
  absl::StatusOr<PageSpan> x = mtr_.GetForWrite(xid);
  if (!x.ok()) return x.status();
  if (!IsDirPage(x->data(), anchor_, n / kIndexSlots, kRoleIndex)) {
    return NotOurs(anchor_, xid, "directory index page");
  }
  return IndexEntry(x->data(), n % kIndexSlots);
}

absl::StatusOr<std::pair<std::uint64_t, PageSpan>> DirWriter::Logical(std::uint64_t n) {
  for (;;) {
    absl::StatusOr<PageId> id = Exact(n);
    if (!id.ok()) return id.status();
    if (*id != kInvalidPageId) {
      absl::StatusOr<PageSpan> d = mtr_.GetForWrite(*id);
      if (!d.ok()) return d.status();
      if (!IsDirPage(d->data(), anchor_, n, kRoleDirectory)) {
        return NotOurs(anchor_, *id, fmt::format("directory page {}", n));
      }
      return std::make_pair(n, *d);
    }
    if (n == 0) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory page 0 is missing", anchor_));
    }
    n = SourceOf(n);
  }
}

absl::StatusOr<bool> DirWriter::Prepare(unsigned g, unsigned depth, std::uint64_t prefix) {
  pages_.clear();
  std::vector<std::uint64_t> numbers;
  if (g <= kDirBits) {
    numbers.push_back(0);
  } else if (depth <= kDirBits) {
    for (std::uint64_t n = 0; n < DirPages(g); ++n) numbers.push_back(n);
  } else {
    const std::uint64_t stride = std::uint64_t{1} << (depth - kDirBits);
    for (std::uint64_t n = prefix >> kDirBits; n < DirPages(g); n += stride) {
      numbers.push_back(n);
    }
  }
  // The pages to change: those written, and those that must be written now.
  std::vector<std::pair<std::uint64_t, PageId>> change;
  for (std::uint64_t n : numbers) {
    absl::StatusOr<PageId> id = Exact(n);
    if (!id.ok()) return id.status();
    if (*id == kInvalidPageId) {
      if (n == 0) {
        return absl::DataLossError(
            fmt::format("hash index {}: directory page 0 is missing", anchor_));
      }
      if (static_cast<unsigned>(std::bit_width(n)) - 1 + kDirBits >= depth) continue;
    }
    change.emplace_back(n, *id);
    if (change.size() > kMaxPagesPerChange) return false;
  }
  for (auto [n, existing] : change) {
    absl::StatusOr<PageId> id = existing;
    if (existing == kInvalidPageId) {
      id = Materialize(n);
      if (!id.ok()) return id.status();
    }
    absl::StatusOr<PageSpan> d = mtr_.GetForWrite(*id);
    if (!d.ok()) return d.status();
    if (!IsDirPage(d->data(), anchor_, n, kRoleDirectory)) {
      return NotOurs(anchor_, *id, fmt::format("directory page {}", n));
    }
    pages_.push_back(*d);
  }
  g_ = g;
  depth_ = depth;
  prefix_ = prefix;
  return true;
}

void DirWriter::Apply(PageId target) {
  const std::uint64_t step = std::uint64_t{1} << depth_;
  for (PageSpan& d : pages_) {
    if (g_ <= kDirBits) {
      for (std::uint64_t i = prefix_; i < (std::uint64_t{1} << g_); i += step) {
        SetDirEntry(d.data(), i, target);
      }
    } else if (depth_ <= kDirBits) {
      for (std::uint64_t s = prefix_; s < kDirSlots; s += step) SetDirEntry(d.data(), s, target);
    } else {
      SetDirEntry(d.data(), prefix_ & (kDirSlots - 1), target);
    }
  }
}

absl::StatusOr<PageId> DirWriter::Materialize(std::uint64_t n) {
  absl::StatusOr<std::pair<std::uint64_t, PageSpan>> src = Logical(SourceOf(n));
  if (!src.ok()) return src.status();
  absl::StatusOr<PageId> id = mtr_.AllocatePage(PageType::kHashDirectory);
  if (!id.ok()) return id.status();
  absl::StatusOr<PageSpan> d = mtr_.GetForWrite(*id);
  if (!d.ok()) return d.status();
  InitDirPage(d->data(), anchor_, n, kRoleDirectory);
  std::memcpy(d->data() + kDirEntries, src->second.data() + kDirEntries, kDirSlots * kDirIdBytes);
  if (absl::Status s = SetExact(n, *id); !s.ok()) return s;
  return *id;
}

absl::Status DirWriter::SetExact(std::uint64_t n, PageId id) {
  const std::uint64_t k = n / kIndexSlots;
  PageId xid = IndexPageId(meta_, k);
  if (xid == kInvalidPageId) {
    if (id == kInvalidPageId) return absl::OkStatus();
    absl::StatusOr<PageId> fresh = mtr_.AllocatePage(PageType::kHashDirectory);
    if (!fresh.ok()) return fresh.status();
    absl::StatusOr<PageSpan> x = mtr_.GetForWrite(*fresh);
    if (!x.ok()) return x.status();
    InitDirPage(x->data(), anchor_, k, kRoleIndex);
    Set64(meta_, kMetaIndex + 8 * k, *fresh);
    xid = *fresh;
  }
  absl::StatusOr<PageSpan> x = mtr_.GetForWrite(xid);
  if (!x.ok()) return x.status();
  Set64(x->data(), kDirEntries + 8 * (n % kIndexSlots), id);
  if (id == kInvalidPageId && k != 0) {
    // An index page left empty goes back to the free list.
    bool empty = true;
    for (std::uint64_t i = 0; i < kIndexSlots && empty; ++i) {
      empty = IndexEntry(x->data(), i) == kInvalidPageId;
    }
    if (empty) {
      std::memset(x->data() + kDirOwner, 0, kPageSize - kDirOwner);
      Set64(meta_, kMetaIndex + 8 * k, kInvalidPageId);
      if (absl::Status s = mtr_.FreePage(xid); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace pagestore::hash_internal
