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
#include "index/index_change.h"
#include "index/value_pages.h"

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

std::string_view HashIndex::Iterator::LargeValue() const {
  if (!valid_) return {};
  if (large_index_ == index_) return large_;
  // Read as it is now, its bucket latched: the reference copied may name pages freed since.
  absl::Status s = index_of_->Get(entries_[index_].key, &large_);
  if (absl::IsNotFound(s)) {
    s = absl::NotFoundError(fmt::format(
        "hash index {}: an entry was deleted after the iterator reached it, and its large value "
        "with it",
        index_of_->anchor_));
  }
  if (!s.ok()) {
    status_ = std::move(s);
    valid_ = false;
    large_.clear();
    return {};
  }
  large_index_ = index_;
  return large_;
}

void HashIndex::Iterator::Next() {
  if (!valid_) return;
  large_index_ = ~std::size_t{0};
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
        entries_.push_back({std::string(p.key(i)), std::string(p.value(i)), p.out_of_line(i)});
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

// ---------------------------------------------------------------------------------------------
// Verify and Stats: one structural walk (index/README.md, "Hash index invariants"). Verify runs
// it alone; Stats runs it with a sink that also counts, so Verify computes no statistic it would
// throw away, and Stats fails with the first problem Verify would report.

namespace {

class StructureWalk {
 public:
  // `meta`: the anchor, latched shared by the caller for the whole walk. `stats`: null for
  // Verify.
  StructureWalk(const HashIndex& index, BufferPool& pool, const std::byte* meta,
                HashIndexStats* stats)
      : index_(index),
        anchor_(index.anchor()),
        pool_(pool),
        meta_(meta),
        g_(GlobalDepth(meta)),
        dir_(pool, index.anchor(), meta),
        stats_(stats) {}

  // Directory index and directory pages: written only where the depth reaches.
  absl::Status DirectoryPages();
  // Every position names a live bucket whose prefix it matches; every bucket is named by
  // 2^(g - depth) positions; the anchor's per-depth counts are exact.
  absl::Status Positions();
  // Every page reachable once, none on the free list (`free`: sorted).
  absl::Status Reachable(const std::vector<PageId>& free);
  std::vector<PageId> TakePages() { return std::move(pages_); }

 private:
  struct BucketInfo {
    std::uint64_t prefix;
    unsigned depth;
    std::uint64_t refs;
  };
  // A bucket's chain: every page valid and recording the bucket's depth and prefix, every entry
  // in the bucket its hash selects with its key's hash, no key twice.
  absl::Status Chain(ReadPageGuard head);
  absl::Status Entries(PageId id, const Bucket& page, std::uint64_t prefix, unsigned depth,
                       absl::flat_hash_set<std::string>* keys);

  const HashIndex& index_;
  const PageId anchor_;
  BufferPool& pool_;
  const std::byte* meta_;
  const unsigned g_;
  DirReader dir_;
  HashIndexStats* stats_;
  std::vector<PageId> pages_{anchor_};
  absl::flat_hash_map<PageId, BucketInfo> buckets_;
  std::array<std::uint64_t, kMaxHashGlobalDepth + 1> by_depth_{};
  double used_ = 0;  // stats only: bytes used over bucket and overflow pages
  std::uint64_t bucket_pages_ = 0;
};

absl::Status StructureWalk::DirectoryPages() {
  for (std::uint64_t k = 0; k < kMetaIndexSlots; ++k) {
    const PageId xid = IndexPageId(meta_, k);
    if (xid == kInvalidPageId) continue;
    if (k * kIndexSlots >= DirPages(g_)) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory index page {} ({}) lies beyond global depth {}",
                      anchor_, k, xid, g_));
    }
    pages_.push_back(xid);
    if (stats_ != nullptr) ++stats_->directory_index_pages;
    for (std::uint64_t s = 0; s < kIndexSlots; ++s) {
      const std::uint64_t n = k * kIndexSlots + s;
      absl::StatusOr<PageId> id = dir_.Exact(n);
      if (!id.ok()) return id.status();
      if (*id == kInvalidPageId) continue;
      if (n >= DirPages(g_)) {
        return absl::DataLossError(
            fmt::format("hash index {}: directory page {} ({}) lies beyond global depth {}",
                        anchor_, n, *id, g_));
      }
      absl::StatusOr<ReadPageGuard> d = pool_.ReadPage(*id);
      if (!d.ok()) return d.status();
      if (!IsDirPage(d->data().data(), anchor_, n, kRoleDirectory)) {
        return NotOurs(anchor_, *id, fmt::format("directory page {}", n));
      }
      pages_.push_back(*id);
      if (stats_ != nullptr) ++stats_->directory_pages;
    }
  }
  return absl::OkStatus();
}

absl::Status StructureWalk::Positions() {
  for (std::uint64_t pos = 0; pos < (std::uint64_t{1} << g_); ++pos) {
    absl::StatusOr<PageId> id = dir_.BucketAt(pos);
    if (!id.ok()) return id.status();
    auto [it, fresh] = buckets_.try_emplace(*id);
    if (fresh) {
      absl::StatusOr<ReadPageGuard> b = pool_.ReadPage(*id);
      if (!b.ok()) return b.status();
      if (!IsBucketOf(b->data().data(), anchor_, PageType::kHashBucket)) {
        return NotOurs(anchor_, *id, fmt::format("bucket directory position {} names", pos));
      }
      const Bucket head(b->data().data());
      it->second = {head.prefix(), head.depth(), 0};
      if (head.depth() > g_) {
        return absl::DataLossError(
            fmt::format("hash index {}: bucket {} has local depth {} above the global depth {}",
                        anchor_, *id, head.depth(), g_));
      }
      ++by_depth_[head.depth()];
      if (stats_ != nullptr)
        stats_->max_local_depth = std::max(stats_->max_local_depth, head.depth());
      if (absl::Status s = Chain(std::move(*b)); !s.ok()) return s;
    }
    BucketInfo& info = it->second;
    ++info.refs;
    if ((pos & Mask(info.depth)) != info.prefix) {
      return absl::DataLossError(
          fmt::format("hash index {}: directory position {} names bucket {} of prefix {} depth {}",
                      anchor_, pos, *id, info.prefix, info.depth));
    }
  }
  for (const auto& [id, info] : buckets_) {
    if (info.refs != (std::uint64_t{1} << (g_ - info.depth))) {
      return absl::DataLossError(fmt::format(
          "hash index {}: bucket {} of depth {} is named by {} directory positions, not {}",
          anchor_, id, info.depth, info.refs, std::uint64_t{1} << (g_ - info.depth)));
    }
  }
  for (unsigned d = 0; d <= kMaxHashGlobalDepth; ++d) {
    if (by_depth_[d] != DepthCount(meta_, d)) {
      return absl::DataLossError(
          fmt::format("hash index {}: {} buckets have local depth {}, the anchor counts {}",
                      anchor_, by_depth_[d], d, DepthCount(meta_, d)));
    }
  }
  if (stats_ != nullptr) {
    stats_->buckets = buckets_.size();
    stats_->average_fill = bucket_pages_ == 0 ? 0 : used_ / (bucket_pages_ * kBucketCapacity);
  }
  return absl::OkStatus();
}

absl::Status StructureWalk::Chain(ReadPageGuard head_guard) {
  // The head's fields, copied: the chain walk releases the head's latch when it moves on.
  const Bucket head_page(head_guard.data().data());
  const std::uint64_t head_prefix = head_page.prefix();
  const unsigned head_depth = head_page.depth();
  absl::flat_hash_set<std::string> keys;
  bool first = true;
  return VisitChain(pool_, anchor_, std::move(head_guard), [&](const ReadPageGuard& pg) {
    const Bucket p(pg.data().data());
    if (!first) {
      if (stats_ != nullptr) ++stats_->overflow_pages;
      if (p.depth() != head_depth || p.prefix() != head_prefix) {
        return absl::DataLossError(fmt::format(
            "hash index {}: overflow page {} records depth {} prefix {}, its bucket {} {}", anchor_,
            pg.page_id(), p.depth(), p.prefix(), head_depth, head_prefix));
      }
    }
    first = false;
    if (!p.Valid()) {
      return NotOurs(anchor_, pg.page_id(), "bucket page (its slots and cells disagree)");
    }
    pages_.push_back(pg.page_id());
    if (stats_ != nullptr) {
      ++bucket_pages_;
      used_ += static_cast<double>(p.UsedBytes());
    }
    return Entries(pg.page_id(), p, head_prefix, head_depth, &keys);
  });
}

absl::Status StructureWalk::Entries(PageId id, const Bucket& p, std::uint64_t prefix,
                                    unsigned depth, absl::flat_hash_set<std::string>* keys) {
  for (std::size_t i = 0; i < p.count(); ++i) {
    if (!p.CellSane(i)) {
      return NotOurs(anchor_, id, fmt::format("bucket (cell {} is out of bounds)", i));
    }
    const std::uint64_t hash = index_.Hash(p.key(i));
    if (hash != p.hash(i)) {
      return absl::DataLossError(fmt::format(
          "hash index {}: page {} entry {} stores a hash its key does not have", anchor_, id, i));
    }
    if ((hash & Mask(depth)) != prefix) {
      return absl::DataLossError(
          fmt::format("hash index {}: page {} entry {} belongs to another bucket", anchor_, id, i));
    }
    if (!keys->insert(std::string(p.key(i))).second) {
      return absl::DataLossError(fmt::format(
          "hash index {}: page {} entry {} repeats a key of its bucket", anchor_, id, i));
    }
    std::uint64_t value_bytes = p.value(i).size();
    if (p.out_of_line(i)) {
      // Every page of the value read and checked, and counted as the index's.
      absl::StatusOr<index_internal::ValueRef> ref = index_internal::DecodeValueRef(p.value(i));
      const std::size_t before = pages_.size();
      absl::Status s = ref.status();
      if (s.ok()) s = index_internal::WalkValue(pool_, anchor_, *ref, nullptr, &pages_);
      if (!s.ok()) {
        return absl::Status(s.code(), fmt::format("hash index {}: page {} entry {}: {}", anchor_,
                                                  id, i, std::string(s.message())));
      }
      value_bytes = ref->length;
      if (stats_ != nullptr) {
        ++stats_->large_values;
        stats_->value_pages += pages_.size() - before;
      }
    }
    if (stats_ != nullptr) {
      ++stats_->entries;
      stats_->payload_bytes += p.key(i).size() + value_bytes;
    }
  }
  return absl::OkStatus();
}

absl::Status StructureWalk::Reachable(const std::vector<PageId>& free) {
  std::sort(pages_.begin(), pages_.end());
  if (auto dup = std::adjacent_find(pages_.begin(), pages_.end()); dup != pages_.end()) {
    return absl::DataLossError(
        fmt::format("hash index {}: page {} is reachable twice", anchor_, *dup));
  }
  for (PageId id : pages_) {
    if (std::binary_search(free.begin(), free.end(), id)) {
      return absl::DataLossError(
          fmt::format("hash index {}: page {} is also on the free list", anchor_, id));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status HashIndex::Walk(HashIndexStats* stats, std::vector<PageId>* pages) const {
  BufferPool& pool = store_.pool();
  absl::StatusOr<ReadPageGuard> meta = pool.ReadPage(anchor_);
  if (!meta.ok()) return meta.status();
  const std::byte* m = meta->data().data();
  if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
  if (stats != nullptr) {
    stats->global_depth = GlobalDepth(m);
    stats->max_global_depth = MaxDepth(m);
  }
  // The free list as of now: while the anchor is held no page can leave it to join this index
  // (its allocations happen in structure changes), and a page a writer frees meanwhile (an
  // emptied overflow page) has left its chain first: checking against this snapshot is exact
  // under concurrent writers, where a later one would not be.
  const std::vector<PageId> free = store_.FreePages();
  StructureWalk walk(*this, pool, m, stats);
  if (absl::Status s = walk.DirectoryPages(); !s.ok()) return s;
  if (absl::Status s = walk.Positions(); !s.ok()) return s;
  if (absl::Status s = walk.Reachable(free); !s.ok()) return s;
  if (pages != nullptr) *pages = walk.TakePages();
  return absl::OkStatus();
}

absl::Status HashIndex::Verify() const { return Walk(nullptr, nullptr); }

absl::StatusOr<HashIndexStats> HashIndex::Stats(std::vector<PageId>* pages) const {
  HashIndexStats stats;
  if (absl::Status s = Walk(&stats, pages); !s.ok()) return s;
  return stats;
}

}  // namespace pagestore
