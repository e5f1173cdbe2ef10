// HashIndex::Pack and HashIndex::MoveBelow (index/hash_index.h): a hash index's part of
// Store::Compact. Pack merges buddy buckets whose entries fit in one page together (the split
// undone), then halves the directory while its upper half repeats the lower. In MoveBelow each page
// at or above the limit moves (MiniTransaction::Relocate) in a system mini-transaction that renames
// it where it is named: a directory index page in the anchor, a directory page in its index
// page, a bucket in every directory slot naming it (materialized pages only: a missing page is a
// copy of its source and names nothing itself), an overflow page in the page before it; then the
// large values' pages (index_internal::MoveValueBelow, the reference in its cell renamed with a
// moved head).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "index/hash_index.h"
#include "index/hash_page.h"
#include "index/value_pages.h"

namespace pagestore {

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts, in this file only

namespace {

// A page moved from no longer says whose it is (a freed hash page's owner is zero: a stale
// reader's check refuses it, as after a merge).
absl::Status Scrub(MiniTransaction& mtr, PageId from) {
  absl::StatusOr<PageSpan> old = mtr.GetForWrite(from);
  if (!old.ok()) return old.status();
  static_assert(kDirOwner == kBktOwner);
  Set64(old->data(), kBktOwner, kInvalidPageId);
  return absl::OkStatus();
}

// Relocates `from` and writes the new id with `rename(span)` into the page `in`, in one system
// mini-transaction; the new id.
absl::StatusOr<PageId> MoveNamedIn(Store& store, PageId in, PageId from,
                                   const std::function<void(std::byte*, PageId)>& rename) {
  MiniTransaction mtr = store.BeginMtr();
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(in);
  if (!p.ok()) return p.status();
  absl::StatusOr<PageId> moved = mtr.Relocate(from);
  if (!moved.ok()) return moved.status();
  if (absl::Status s = Scrub(mtr, from); !s.ok()) return s;
  rename(p->data(), *moved);
  if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  return *moved;
}

// The large values of bucket or overflow page `page` moved below the limit (a moved head renamed
// in its cell); the page's next overflow page.
absl::StatusOr<PageId> MoveCellValues(Store& store, PageId anchor, PageId page, PageId limit) {
  PageId next;
  std::vector<std::pair<std::size_t, index_internal::ValueRef>> refs;
  {
    absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(page);
    if (!g.ok()) return g.status();
    const Bucket bucket(g->data().data());
    if (!bucket.Valid() || bucket.owner() != anchor) {
      return absl::DataLossError(
          fmt::format("hash index {}: page {} is not one of its buckets", anchor, page));
    }
    next = bucket.next();
    for (std::size_t i = 0; i < bucket.count(); ++i) {
      if (!bucket.out_of_line(i)) continue;
      absl::StatusOr<index_internal::ValueRef> ref =
          index_internal::DecodeValueRef(bucket.value(i));
      if (!ref.ok()) return ref.status();
      refs.emplace_back(i, *ref);
    }
  }
  for (const auto& [slot, ref] : refs) {
    auto rename = [&, slot = slot, ref = ref](MiniTransaction& mtr, PageId head) -> absl::Status {
      absl::StatusOr<PageSpan> p = mtr.GetForWrite(page);
      if (!p.ok()) return p.status();
      Bucket bucket(p->data());
      const std::string old = index_internal::EncodeValueRef(ref);
      if (slot >= bucket.count() || !bucket.out_of_line(slot) || bucket.value(slot) != old) {
        return absl::DataLossError(
            fmt::format("hash index {}: page {} no longer holds the value at page {} while it "
                        "moves",
                        anchor, page, ref.head));
      }
      index_internal::ValueRef moved = ref;
      moved.head = head;
      const std::string now = index_internal::EncodeValueRef(moved);
      std::memcpy(const_cast<char*>(bucket.value(slot).data()), now.data(), now.size());
      return absl::OkStatus();
    };
    if (absl::Status s = index_internal::MoveValueBelow(store, anchor, ref, limit, rename);
        !s.ok()) {
      return s;
    }
  }
  return next;
}

// The anchor's directory index slots (kInvalidPageId where none), and the global depth.
absl::StatusOr<std::vector<PageId>> DirectoryIndexPages(Store& store, PageId anchor,
                                                        unsigned* global) {
  absl::StatusOr<ReadPageGuard> a = store.pool().ReadPage(anchor);
  if (!a.ok()) return a.status();
  if (TypeOf(a->data().data()) != PageType::kHashMeta) {
    return absl::DataLossError(fmt::format("page {} is not a hash index anchor", anchor));
  }
  *global = GlobalDepth(a->data().data());
  std::vector<PageId> pages;
  for (std::uint64_t k = 0; k < kMetaIndexSlots; ++k) {
    pages.push_back(IndexPageId(a->data().data(), k));
  }
  return pages;
}

// The prefix of every bucket the directory names (each once), read through the directory's
// materialized pages (a missing page is a copy of its source and names no other bucket).
absl::StatusOr<std::vector<std::uint64_t>> BucketPrefixes(Store& store, PageId anchor) {
  unsigned global;
  absl::StatusOr<std::vector<PageId>> index_pages = DirectoryIndexPages(store, anchor, &global);
  if (!index_pages.ok()) return index_pages.status();
  const std::uint64_t slots = std::min<std::uint64_t>(kDirSlots, std::uint64_t{1} << global);
  absl::flat_hash_set<PageId> seen;
  std::vector<std::uint64_t> prefixes;
  for (PageId x : *index_pages) {
    if (x == kInvalidPageId) continue;
    std::vector<PageId> dir_pages;
    {
      absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(x);
      if (!g.ok()) return g.status();
      for (std::uint64_t j = 0; j < kIndexSlots; ++j) {
        if (IndexEntry(g->data().data(), j) != kInvalidPageId) {
          dir_pages.push_back(IndexEntry(g->data().data(), j));
        }
      }
    }
    for (PageId d : dir_pages) {
      std::vector<PageId> buckets;
      {
        absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(d);
        if (!g.ok()) return g.status();
        for (std::uint64_t s = 0; s < slots; ++s) {
          const PageId b = DirEntry(g->data().data(), s);
          if (b != kInvalidPageId && seen.insert(b).second) buckets.push_back(b);
        }
      }
      for (PageId b : buckets) {
        absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(b);
        if (!g.ok()) return g.status();
        if (!IsBucketOf(g->data().data(), anchor, PageType::kHashBucket)) {
          return NotOurs(anchor, b, "bucket its directory names");
        }
        prefixes.push_back(Bucket(g->data().data()).prefix());
      }
    }
  }
  return prefixes;
}

}  // namespace

absl::Status HashIndex::Pack(double fill) {
  if (!(fill > 0 && fill <= 1)) {
    return absl::InvalidArgumentError(
        fmt::format("hash index {}: pack fill {} is not in (0, 1]", anchor_, fill));
  }
  const auto room = static_cast<std::size_t>(fill * static_cast<double>(kBucketCapacity));
  // Passes until one merges nothing: a merge can make its survivor's buddy mergeable.
  for (std::size_t before = ~std::size_t{0};;) {
    absl::StatusOr<std::vector<std::uint64_t>> prefixes = BucketPrefixes(store_, anchor_);
    if (!prefixes.ok()) return prefixes.status();
    if (prefixes->size() >= before) break;
    before = prefixes->size();
    for (std::uint64_t prefix : *prefixes) {
      if (absl::Status s = MergeFrom(prefix, std::max<std::size_t>(room, 1)); !s.ok()) return s;
    }
  }
  return Shrink();
}

absl::Status HashIndex::MoveBelow(PageId limit) {
  Store& store = store_;
  // 1. Directory index pages, named by the anchor.
  unsigned global;
  absl::StatusOr<std::vector<PageId>> listed_index_pages =
      DirectoryIndexPages(store, anchor_, &global);
  if (!listed_index_pages.ok()) return listed_index_pages.status();
  std::vector<PageId>& index_pages = *listed_index_pages;
  for (std::uint64_t k = 0; k < index_pages.size(); ++k) {
    if (index_pages[k] == kInvalidPageId || index_pages[k] < limit) continue;
    absl::StatusOr<PageId> moved =
        MoveNamedIn(store, anchor_, index_pages[k],
                    [k](std::byte* m, PageId id) { Set64(m, kMetaIndex + 8 * k, id); });
    if (!moved.ok()) return moved.status();
    index_pages[k] = *moved;
  }
  // 2. Directory pages, named by their index page.
  std::vector<PageId> dir_pages;
  for (PageId x : index_pages) {
    if (x == kInvalidPageId) continue;
    std::vector<PageId> listed;
    {
      absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(x);
      if (!g.ok()) return g.status();
      for (std::uint64_t j = 0; j < kIndexSlots; ++j)
        listed.push_back(IndexEntry(g->data().data(), j));
    }
    for (std::uint64_t j = 0; j < listed.size(); ++j) {
      if (listed[j] == kInvalidPageId) continue;
      if (listed[j] >= limit) {
        absl::StatusOr<PageId> moved =
            MoveNamedIn(store, x, listed[j],
                        [j](std::byte* p, PageId id) { Set64(p, kDirEntries + 8 * j, id); });
        if (!moved.ok()) return moved.status();
        listed[j] = *moved;
      }
      dir_pages.push_back(listed[j]);
    }
  }
  // 3. Buckets, named by every materialized directory slot that holds them.
  const std::uint64_t slots = std::min<std::uint64_t>(kDirSlots, std::uint64_t{1} << global);
  absl::flat_hash_map<PageId, std::vector<std::pair<PageId, std::uint64_t>>> named;
  std::vector<PageId> buckets;
  for (PageId d : dir_pages) {
    absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(d);
    if (!g.ok()) return g.status();
    for (std::uint64_t s = 0; s < slots; ++s) {
      const PageId b = DirEntry(g->data().data(), s);
      if (b == kInvalidPageId) continue;
      auto& where = named[b];
      if (where.empty()) buckets.push_back(b);
      where.emplace_back(d, s);
    }
  }
  for (PageId& b : buckets) {
    if (b < limit) continue;
    // A bucket named by more directory pages than one record or half the pool holds (the
    // compaction runs alone) stays where it is.
    const std::size_t latched = named[b].size() + 3;
    if (latched > store.pool().frame_count() / 2 ||
        latched * (kPageSize + 64) > store.max_record_bytes() / 2) {
      continue;
    }
    MiniTransaction mtr = store.BeginMtr();
    absl::StatusOr<PageId> moved = mtr.Relocate(b);
    if (!moved.ok()) return moved.status();
    if (absl::Status s = Scrub(mtr, b); !s.ok()) return s;
    for (const auto& [d, s] : named[b]) {
      absl::StatusOr<PageSpan> p = mtr.GetForWrite(d);
      if (!p.ok()) return p.status();
      SetDirEntry(p->data(), s, *moved);
    }
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
    b = *moved;
  }
  // 4. Overflow pages, named by the page before; and every page's large values.
  for (PageId b : buckets) {
    for (PageId page = b; page != kInvalidPageId;) {
      absl::StatusOr<PageId> next = MoveCellValues(store, anchor_, page, limit);
      if (!next.ok()) return next.status();
      if (*next != kInvalidPageId && *next >= limit) {
        next = MoveNamedIn(store, page, *next,
                           [](std::byte* p, PageId id) { Bucket(p).set_next(id); });
        if (!next.ok()) return next.status();
      }
      page = *next;
    }
  }
  return absl::OkStatus();
}

}  // namespace pagestore
