// Walking the whole index under its anchor latched shared: the iterator, Size, Stats and Verify.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "index/hash_directory.h"
#include "index/hash_index.h"
#include "index/hash_page.h"

namespace pagestore {

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts, in this file only

namespace {

// Calls `visit` for every page of a bucket's chain (shared latches, crabbing), checking that
// each is a page of this index of the right type.
template <typename Visit>
absl::Status VisitChain(BufferPool& pool, PageId anchor, ReadPageGuard head, Visit visit) {
  ReadPageGuard g = std::move(head);
  absl::flat_hash_set<PageId> visited{g.page_id()};
  for (;;) {
    if (absl::Status s = visit(g); !s.ok()) return s;
    const PageId next = Bucket(g.data().data()).next();
    if (next == kInvalidPageId) return absl::OkStatus();
    if (!visited.insert(next).second || visited.size() > kMaxChainPages) {
      return NotOurs(anchor, next, "overflow page (the chain loops)");
    }
    absl::StatusOr<ReadPageGuard> n = pool.ReadPage(next);
    if (!n.ok()) return n.status();
    if (!IsBucketOf(n->data().data(), anchor, PageType::kOverflow)) {
      return NotOurs(anchor, next, "overflow page");
    }
    g = std::move(*n);
  }
}

}  // namespace

HashIndex::Iterator HashIndex::Begin() const {
  Iterator it;
  it.index_of_ = this;
  it.Load();
  return it;
}

void HashIndex::Iterator::Next() {
  if (!valid_) return;
  if (++index_ < entries_.size()) return;
  Load();
}

void HashIndex::Iterator::Load() {
  entries_.clear();
  index_ = 0;
  valid_ = false;
  const HashIndex& h = *index_of_;
  BufferPool& pool = h.store_.pool();
  absl::StatusOr<ReadPageGuard> meta = pool.ReadPage(h.anchor_);
  if (!meta.ok()) {
    status_ = meta.status();
    return;
  }
  if (absl::Status s = CheckAnchor(h.anchor_, meta->data().data()); !s.ok()) {
    status_ = s;
    return;
  }
  const unsigned g = GlobalDepth(meta->data().data());
  // A halving since the last load may have moved a bucket not yet visited to a position behind
  // the cursor (a merge names the survivor by its lower position): start over; the buckets
  // already visited are skipped.
  if (g < depth_) position_ = 0;
  depth_ = g;
  DirReader dir(pool, h.anchor_, meta->data().data());
  for (; position_ < (std::uint64_t{1} << g); ++position_) {
    absl::StatusOr<PageId> id = dir.BucketAt(position_);
    if (!id.ok()) {
      status_ = id.status();
      return;
    }
    absl::StatusOr<ReadPageGuard> b = pool.ReadPage(*id);
    if (!b.ok()) {
      status_ = b.status();
      return;
    }
    if (!IsBucketOf(b->data().data(), h.anchor_, PageType::kHashBucket)) {
      status_ = NotOurs(h.anchor_, *id, "bucket its directory names");
      return;
    }
    // A bucket is visited once per identity: the same page with another depth (split or
    // merged since) is visited again, so entries a split moved behind the cursor are not lost.
    const Bucket head(b->data().data());
    if (!seen_.insert({*id, head.prefix(), head.depth()}).second) continue;
    status_ = VisitChain(pool, h.anchor_, std::move(*b), [&](const ReadPageGuard& pg) {
      const Bucket p(pg.data().data());
      for (std::size_t i = 0; i < p.count(); ++i) {
        if (!p.CellSane(i)) {
          return NotOurs(h.anchor_, pg.page_id(), "bucket (a cell is out of bounds)");
        }
        entries_.emplace_back(std::string(p.key(i)), std::string(p.value(i)));
      }
      return absl::OkStatus();
    });
    if (!status_.ok()) {
      entries_.clear();
      return;
    }
    if (!entries_.empty()) {
      ++position_;
      valid_ = true;
      return;
    }
  }
}

absl::StatusOr<std::uint64_t> HashIndex::Size() const {
  std::uint64_t n = 0;
  Iterator it = Begin();
  for (; it.Valid(); it.Next()) ++n;
  if (!it.status().ok()) return it.status();
  return n;
}

absl::StatusOr<HashIndexStats> HashIndex::Stats(std::vector<PageId>* out_pages) const {
  HashIndexStats st;
  BufferPool& pool = store_.pool();
  absl::StatusOr<ReadPageGuard> meta = pool.ReadPage(anchor_);
  if (!meta.ok()) return meta.status();
  const std::byte* m = meta->data().data();
  if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
  const unsigned g = GlobalDepth(m);
  st.global_depth = g;
  st.max_global_depth = MaxDepth(m);
  // The free list as of now: while the anchor is held no page can leave it to join this index
  // (its allocations happen in structure changes), and a page a writer frees meanwhile (an
  // emptied overflow page) has left its chain first: checking against this snapshot is exact
  // under concurrent writers, where a later one would not be.
  const std::vector<PageId> free = store_.FreePages();
  std::vector<PageId> pages{anchor_};
  // Directory index and directory pages: written only where the depth reaches.
  DirReader dir(pool, anchor_, m);
  for (std::uint64_t k = 0; k < kMetaIndexSlots; ++k) {
    const PageId xid = IndexPageId(m, k);
    if (xid == kInvalidPageId) continue;
    if (k * kIndexSlots >= DirPages(g)) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory index page {} ({}) lies beyond global depth {}",
                      anchor_, k, xid, g));
    }
    pages.push_back(xid);
    ++st.directory_index_pages;
    for (std::uint64_t s = 0; s < kIndexSlots; ++s) {
      const std::uint64_t n = k * kIndexSlots + s;
      absl::StatusOr<PageId> id = dir.Exact(n);
      if (!id.ok()) return id.status();
      if (*id == kInvalidPageId) continue;
      if (n >= DirPages(g)) {
        return absl::DataLossError(
            fmt::format("hash index {}: directory page {} ({}) lies beyond global depth {}",
                        anchor_, n, *id, g));
      }
      absl::StatusOr<ReadPageGuard> d = pool.ReadPage(*id);
      if (!d.ok()) return d.status();
      if (!IsDirPage(d->data().data(), anchor_, n, kRoleDirectory)) {
        return NotOurs(anchor_, *id, fmt::format("directory page {}", n));
      }
      pages.push_back(*id);
      ++st.directory_pages;
    }
  }
  // Every position names a live bucket whose prefix it matches; every bucket is named by
  // 2^(g - depth) positions; every entry lies in the bucket its hash selects.
  struct Info {
    std::uint64_t prefix;
    unsigned depth;
    std::uint64_t refs;
  };
  absl::flat_hash_map<PageId, Info> buckets;
  std::array<std::uint64_t, kMaxHashGlobalDepth + 1> by_depth{};
  double used = 0;
  std::uint64_t bucket_pages = 0;
  for (std::uint64_t pos = 0; pos < (std::uint64_t{1} << g); ++pos) {
    absl::StatusOr<PageId> id = dir.BucketAt(pos);
    if (!id.ok()) return id.status();
    auto [it, fresh] = buckets.try_emplace(*id);
    if (fresh) {
      absl::StatusOr<ReadPageGuard> b = pool.ReadPage(*id);
      if (!b.ok()) return b.status();
      if (!IsBucketOf(b->data().data(), anchor_, PageType::kHashBucket)) {
        return NotOurs(anchor_, *id, fmt::format("bucket directory position {} names", pos));
      }
      const Bucket head(b->data().data());
      it->second = {head.prefix(), head.depth(), 0};
      if (head.depth() > g) {
        return absl::DataLossError(
            fmt::format("hash index {}: bucket {} has local depth {} above the global depth {}",
                        anchor_, *id, head.depth(), g));
      }
      ++by_depth[head.depth()];
      st.max_local_depth = std::max(st.max_local_depth, head.depth());
      absl::flat_hash_set<std::string> keys;
      bool first = true;
      absl::Status s = VisitChain(pool, anchor_, std::move(*b), [&](const ReadPageGuard& pg) {
        const Bucket p(pg.data().data());
        if (!first) {
          ++st.overflow_pages;
          if (p.depth() != head.depth() || p.prefix() != head.prefix()) {
            return absl::DataLossError(fmt::format(
                "hash index {}: overflow page {} records depth {} prefix {}, its bucket {} {}",
                anchor_, pg.page_id(), p.depth(), p.prefix(), head.depth(), head.prefix()));
          }
        }
        first = false;
        if (!p.Valid()) {
          return NotOurs(anchor_, pg.page_id(), "bucket page (its slots and cells disagree)");
        }
        pages.push_back(pg.page_id());
        ++bucket_pages;
        used += static_cast<double>(p.UsedBytes());
        for (std::size_t i = 0; i < p.count(); ++i) {
          if (!p.CellSane(i)) {
            return NotOurs(anchor_, pg.page_id(),
                           fmt::format("bucket (cell {} is out of bounds)", i));
          }
          const std::uint64_t hash = Hash(p.key(i));
          if (hash != p.hash(i)) {
            return absl::DataLossError(
                fmt::format("hash index {}: page {} entry {} stores a hash its key does not have",
                            anchor_, pg.page_id(), i));
          }
          if ((hash & Mask(head.depth())) != head.prefix()) {
            return absl::DataLossError(
                fmt::format("hash index {}: page {} entry {} belongs to another bucket", anchor_,
                            pg.page_id(), i));
          }
          if (!keys.insert(std::string(p.key(i))).second) {
            return absl::DataLossError(
                fmt::format("hash index {}: page {} entry {} repeats a key of its bucket", anchor_,
                            pg.page_id(), i));
          }
          ++st.entries;
          st.payload_bytes += p.key(i).size() + p.value(i).size();
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return s;
    }
    Info& info = it->second;
    ++info.refs;
    if ((pos & Mask(info.depth)) != info.prefix) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory position {} names bucket {} of prefix {} depth {}",
                      anchor_, pos, *id, info.prefix, info.depth));
    }
  }
  for (const auto& [id, info] : buckets) {
    if (info.refs != (std::uint64_t{1} << (g - info.depth))) {
      return absl::DataLossError(fmt::format(
          "hash index {}: bucket {} of depth {} is named by {} directory positions, not {}",
          anchor_, id, info.depth, info.refs, std::uint64_t{1} << (g - info.depth)));
    }
  }
  for (unsigned d = 0; d <= kMaxHashGlobalDepth; ++d) {
    if (by_depth[d] != DepthCount(m, d)) {
      return absl::DataLossError(
          fmt::format("hash index {}: {} buckets have local depth {}, the anchor counts {}",
                      anchor_, by_depth[d], d, DepthCount(m, d)));
    }
  }
  st.buckets = buckets.size();
  st.average_fill = bucket_pages == 0 ? 0 : used / (bucket_pages * kBucketCapacity);
  // Every page reachable once, none on the free list.
  std::sort(pages.begin(), pages.end());
  if (auto dup = std::adjacent_find(pages.begin(), pages.end()); dup != pages.end()) {
    return absl::DataLossError(
        fmt::format("hash index {}: page {} is reachable twice", anchor_, *dup));
  }
  for (PageId id : pages) {
    if (std::binary_search(free.begin(), free.end(), id)) {
      return absl::DataLossError(
          fmt::format("hash index {}: page {} is also on the free list", anchor_, id));
    }
  }
  if (out_pages != nullptr) *out_pages = std::move(pages);
  return st;
}

absl::Status HashIndex::Verify() const { return Stats().status(); }

}  // namespace pagestore
