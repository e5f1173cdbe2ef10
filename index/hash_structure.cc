// The hash index's structure changes: splitting a bucket (doubling the directory when it must),
// chaining an overflow page, merging an emptied bucket with its buddy, halving the directory.
// Each runs in its own system mini-transaction holding the anchor exclusively (so the directory
// and every local depth are frozen), and latches directory pages before buckets, the order every
// reader and writer follows (index/README.md, hash index latch protocol).
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "index/hash_directory.h"
#include "index/hash_index.h"
#include "index/hash_page.h"
#include "index/index_change.h"

namespace pagestore {

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts, in this file only

namespace {

struct OwnedEntry {
  std::uint64_t hash;
  std::string key;
  std::string value;  // as stored (a large value's reference when out_of_line)
  bool out_of_line;
};

// A bucket's chain, peeked at with shared latches (depth and prefix are frozen while the
// anchor is held; contents may still change under optimistic writers until latched).
struct Peek {
  unsigned depth = 0;
  std::uint64_t prefix = 0;
  bool empty = true;
  bool fits = false;            // some page has room for the entry asked about
  std::uint64_t differing = 0;  // OR of (stored hash ^ the hash asked about)
  std::size_t pages = 0;        // in the chain
  std::size_t used = 0;         // bytes its entries take (slots and cells)
};

absl::StatusOr<Peek> PeekChain(MiniTransaction& mtr, PageId anchor, PageId head, std::uint64_t hash,
                               std::size_t need) {
  Peek out;
  // The caller holds the anchor and directory pages: a (corrupt) chain naming one of them is
  // refused rather than waited for.
  if (mtr.Holds(head)) return NotOurs(anchor, head, "bucket its directory names");
  BufferPool& pool = mtr.store().pool();
  absl::StatusOr<ReadPageGuard> g = pool.ReadPage(head);
  if (!g.ok()) return g.status();
  if (!IsBucketOf(g->data().data(), anchor, PageType::kHashBucket)) {
    return NotOurs(anchor, head, "bucket its directory names");
  }
  out.depth = Bucket(g->data().data()).depth();
  out.prefix = Bucket(g->data().data()).prefix();
  absl::flat_hash_set<PageId> visited{head};
  for (;;) {
    const Bucket b(g->data().data());
    ++out.pages;
    out.used += b.UsedBytes();
    out.empty = out.empty && b.count() == 0;
    out.fits = out.fits || b.FreeBytes() >= need;
    for (std::size_t i = 0; i < b.count(); ++i) out.differing |= b.hash(i) ^ hash;
    const PageId next = b.next();
    if (next == kInvalidPageId) break;
    if (!visited.insert(next).second || visited.size() > kMaxChainPages || mtr.Holds(next)) {
      return NotOurs(anchor, next, "overflow page (the chain loops)");
    }
    absl::StatusOr<ReadPageGuard> n = pool.ReadPage(next);
    if (!n.ok()) return n.status();
    if (!IsBucketOf(n->data().data(), anchor, PageType::kOverflow)) {
      return NotOurs(anchor, next, "overflow page");
    }
    *g = std::move(*n);
  }
  return out;
}

// The chain starting at `head`, exclusively latched in chain order.
absl::Status LatchChain(MiniTransaction& mtr, PageId anchor, PageId head, std::vector<PageId>* ids,
                        std::vector<PageSpan>* spans) {
  PageId id = head;
  PageType type = PageType::kHashBucket;
  while (id != kInvalidPageId) {
    if (std::find(ids->begin(), ids->end(), id) != ids->end()) {
      return NotOurs(anchor, id, "overflow page (the chain loops)");
    }
    absl::StatusOr<PageSpan> s = mtr.GetForWrite(id);
    if (!s.ok()) return s.status();
    if (!IsBucketOf(s->data(), anchor, type) || !Bucket(s->data()).Valid()) {
      return NotOurs(anchor, id, type == PageType::kHashBucket ? "bucket" : "overflow page");
    }
    ids->push_back(id);
    spans->push_back(*s);
    id = Bucket(s->data()).next();
    type = PageType::kOverflow;
  }
  return absl::OkStatus();
}

// Rewrites a chain (its pages latched; the first is the bucket) to hold exactly `entries`,
// growing it with new overflow pages or freeing the pages it no longer needs.
absl::Status WriteChain(MiniTransaction& mtr, PageId anchor, std::vector<PageId> ids,
                        std::vector<PageSpan> spans, const std::vector<OwnedEntry>& entries,
                        std::uint64_t prefix, unsigned depth) {
  std::size_t used = 1;
  Bucket(spans[0].data()).Init(anchor, prefix, depth);
  for (const OwnedEntry& e : entries) {
    if (Bucket(spans[used - 1].data()).Insert(e.hash, e.key, e.value, e.out_of_line)) continue;
    if (used == spans.size()) {
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kOverflow);
      if (!id.ok()) return id.status();
      absl::StatusOr<PageSpan> s = mtr.GetForWrite(*id);
      if (!s.ok()) return s.status();
      ids.push_back(*id);
      spans.push_back(*s);
    }
    Bucket(spans[used].data()).Init(anchor, prefix, depth);
    ++used;
    if (!Bucket(spans[used - 1].data()).Insert(e.hash, e.key, e.value, e.out_of_line)) {
      return absl::InternalError("hash index: an entry does not fit an empty page");
    }
  }
  for (std::size_t i = 0; i + 1 < used; ++i) Bucket(spans[i].data()).set_next(ids[i + 1]);
  for (std::size_t i = used; i < spans.size(); ++i) {
    Bucket(spans[i].data()).Init(kInvalidPageId, 0, 0);
    if (absl::Status s = mtr.FreePage(ids[i]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<OwnedEntry> ChainEntries(const std::vector<PageSpan>& spans) {
  std::vector<OwnedEntry> out;
  for (const PageSpan& s : spans) {
    const Bucket b(s.data());
    for (std::size_t i = 0; i < b.count(); ++i) {
      out.push_back({b.hash(i), std::string(b.key(i)), std::string(b.value(i)), b.out_of_line(i)});
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::byte*> HashIndex::LatchAnchor(MiniTransaction& mtr) const {
  absl::StatusOr<PageSpan> meta = mtr.GetForWrite(anchor_);
  if (!meta.ok()) return meta.status();
  if (absl::Status s = CheckAnchor(anchor_, meta->data()); !s.ok()) return s;
  return meta->data();
}

absl::Status HashIndex::MakeRoom(const Change& change) {
  const std::uint64_t h = change.hash;
  MiniTransaction mtr = store_.BeginMtr();
  absl::StatusOr<std::byte*> meta = LatchAnchor(mtr);
  if (!meta.ok()) return meta.status();
  std::byte* m = *meta;
  DirWriter dir(mtr, anchor_, m);
  const unsigned g = GlobalDepth(m);
  const unsigned max_depth = MaxDepth(m);
  const std::uint64_t pos = h & Mask(g);
  absl::StatusOr<std::pair<std::uint64_t, PageSpan>> page = dir.Logical(pos >> kDirBits);
  if (!page.ok()) return page.status();
  const PageId head = DirEntry(page->second.data(), pos & (kDirSlots - 1));
  const std::size_t need = Bucket::EntryBytes(change.key.size(), change.value.size());
  absl::StatusOr<Peek> peek = PeekChain(mtr, anchor_, head, h, need);
  if (!peek.ok()) return peek.status();
  if ((h & Mask(peek->depth)) != peek->prefix || peek->depth > g) {
    return NotOurs(anchor_, head, "bucket its directory names");
  }
  if (peek->fits) return mtr.Commit().status();  // room was made meanwhile: nothing to do
  const unsigned d = peek->depth;
  const unsigned separating = peek->differing == 0 ? 64 : std::countr_zero(peek->differing);
  if (d < max_depth && separating < max_depth) {
    // Split: the bucket keeps the hashes with bit d clear; a new bucket takes those with it set.
    const unsigned depth = d + 1;
    const std::uint64_t high = peek->prefix | (std::uint64_t{1} << d);
    if (depth > g) {
      // Double the directory. Within page 0 the new half is copied now; beyond it, the new
      // pages are copies of their sources until a change makes them differ (Prepare).
      if (g < kDirBits) {
        absl::StatusOr<std::pair<std::uint64_t, PageSpan>> zero = dir.Logical(0);
        if (!zero.ok()) return zero.status();
        std::byte* z = zero->second.data();
        std::memcpy(z + kDirEntries + (std::uint64_t{1} << g) * kDirIdBytes, z + kDirEntries,
                    (std::uint64_t{1} << g) * kDirIdBytes);
      }
      Set16(m, kMetaGlobalDepth, static_cast<std::uint16_t>(depth));
    }
    const unsigned g2 = std::max(g, depth);
    absl::StatusOr<PageId> fresh = mtr.AllocatePage(PageType::kHashBucket);
    if (!fresh.ok()) return fresh.status();
    absl::StatusOr<bool> prepared = dir.Prepare(g2, depth, high);
    if (!prepared.ok()) return prepared.status();
    if (!*prepared) return AddOverflow(mtr, head, peek->prefix, d);
    dir.Apply(*fresh);
    std::vector<PageId> ids;
    std::vector<PageSpan> spans;
    if (absl::Status s = LatchChain(mtr, anchor_, head, &ids, &spans); !s.ok()) return s;
    std::vector<OwnedEntry> low_entries, high_entries;
    for (OwnedEntry& e : ChainEntries(spans)) {
      ((e.hash >> d) & 1 ? high_entries : low_entries).push_back(std::move(e));
    }
    if (absl::Status s = WriteChain(mtr, anchor_, ids, spans, low_entries, peek->prefix, depth);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<PageSpan> fs = mtr.GetForWrite(*fresh);
    if (!fs.ok()) return fs.status();
    if (absl::Status s = WriteChain(mtr, anchor_, {*fresh}, {*fs}, high_entries, high, depth);
        !s.ok()) {
      return s;
    }
    AddDepthCount(m, d, -1);
    AddDepthCount(m, depth, 2);
    return mtr.Commit().status();
  }
  // No split can separate these keys (or the depth is at its maximum): chain a new overflow
  // page to the bucket.
  return AddOverflow(mtr, head, peek->prefix, d);
}

absl::Status HashIndex::AddOverflow(MiniTransaction& mtr, PageId head, std::uint64_t prefix,
                                    unsigned depth) {
  std::vector<PageId> ids;
  std::vector<PageSpan> spans;
  if (absl::Status s = LatchChain(mtr, anchor_, head, &ids, &spans); !s.ok()) return s;
  absl::StatusOr<PageId> fresh = mtr.AllocatePage(PageType::kOverflow);
  if (!fresh.ok()) return fresh.status();
  absl::StatusOr<PageSpan> fs = mtr.GetForWrite(*fresh);
  if (!fs.ok()) return fs.status();
  Bucket(fs->data()).Init(anchor_, prefix, depth);
  Bucket(spans.back().data()).set_next(*fresh);
  return mtr.Commit().status();
}

absl::Status HashIndex::MergeFrom(std::uint64_t h, std::size_t room) {
  for (;;) {
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<std::byte*> meta = LatchAnchor(mtr);
    if (!meta.ok()) return meta.status();
    std::byte* m = *meta;
    DirWriter dir(mtr, anchor_, m);
    const unsigned g = GlobalDepth(m);
    const std::uint64_t pos = h & Mask(g);
    absl::StatusOr<std::pair<std::uint64_t, PageSpan>> page = dir.Logical(pos >> kDirBits);
    if (!page.ok()) return page.status();
    const PageId mine = DirEntry(page->second.data(), pos & (kDirSlots - 1));
    absl::StatusOr<Peek> a = PeekChain(mtr, anchor_, mine, h, 0);
    if (!a.ok()) return a.status();
    if (a->depth > g || (h & Mask(a->depth)) != a->prefix) {
      return NotOurs(anchor_, mine, "bucket its directory names");
    }
    if (a->depth == 0) return mtr.Commit().status();
    const unsigned d = a->depth;
    const std::uint64_t buddy_prefix = a->prefix ^ (std::uint64_t{1} << (d - 1));
    absl::StatusOr<std::pair<std::uint64_t, PageSpan>> bpage =
        dir.Logical(buddy_prefix >> kDirBits);
    if (!bpage.ok()) return bpage.status();
    const PageId buddy = DirEntry(bpage->second.data(), buddy_prefix & (kDirSlots - 1));
    absl::StatusOr<Peek> b = PeekChain(mtr, anchor_, buddy, h, 0);
    if (!b.ok()) return b.status();
    if (b->depth != d || b->prefix != buddy_prefix) {
      return mtr.Commit().status();  // nothing to merge: the buddy is split further
    }
    // A pack frees the later page (compaction keeps the front) when it is a single page that is
    // empty or whose entries fit `room` with the other's (a single page too); otherwise an empty
    // bucket dies, as after a delete.
    const Peek& later = mine > buddy ? *a : *b;
    const bool pack =
        room > 0 && room <= kBucketCapacity && later.pages == 1 &&
        (later.empty || (a->pages == 1 && b->pages == 1 && a->used + b->used <= room));
    if (!pack && !a->empty && !b->empty) {
      return mtr.Commit().status();  // nothing to merge: both hold entries
    }
    const bool mine_dies = pack ? mine > buddy : a->empty;
    const PageId dead = mine_dies ? mine : buddy;
    const PageId survivor = mine_dies ? buddy : mine;
    const std::uint64_t dead_prefix = mine_dies ? a->prefix : buddy_prefix;
    absl::StatusOr<bool> prepared = dir.Prepare(g, d, dead_prefix);
    if (!prepared.ok()) return prepared.status();
    if (!*prepared) return mtr.Commit().status();  // too many directory pages: leave it
    absl::StatusOr<PageSpan> first = mtr.GetForWrite(std::min(dead, survivor));
    if (!first.ok()) return first.status();
    absl::StatusOr<PageSpan> second = mtr.GetForWrite(std::max(dead, survivor));
    if (!second.ok()) return second.status();
    Bucket dead_bucket((dead < survivor ? *first : *second).data());
    Bucket survivor_bucket((dead < survivor ? *second : *first).data());
    if (!dead_bucket.Valid() || !survivor_bucket.Valid()) {
      return NotOurs(anchor_, dead_bucket.Valid() ? survivor : dead, "bucket");
    }
    if (dead_bucket.next() != kInvalidPageId ||
        (dead_bucket.count() != 0 &&
         (!pack || survivor_bucket.next() != kInvalidPageId ||
          dead_bucket.UsedBytes() + survivor_bucket.UsedBytes() > room))) {
      return mtr.Commit().status();  // filled again meanwhile
    }
    for (std::size_t i = 0; i < dead_bucket.count(); ++i) {
      if (!survivor_bucket.Insert(dead_bucket.hash(i), dead_bucket.key(i), dead_bucket.value(i),
                                  dead_bucket.out_of_line(i))) {
        return absl::InternalError(fmt::format(
            "hash index {}: merging bucket {} into {} found no room", anchor_, dead, survivor));
      }
    }
    dir.Apply(survivor);
    survivor_bucket.set_depth(d - 1, a->prefix & Mask(d - 1));
    for (PageId next = survivor_bucket.next(); next != kInvalidPageId;) {
      // Its overflow pages record the depth too.
      if (mtr.Holds(next)) return NotOurs(anchor_, next, "overflow page (the chain loops)");
      absl::StatusOr<PageSpan> o = mtr.GetForWrite(next);
      if (!o.ok()) return o.status();
      Bucket ob(o->data());
      ob.set_depth(d - 1, a->prefix & Mask(d - 1));
      next = ob.next();
    }
    dead_bucket.Init(kInvalidPageId, 0, 0);
    if (absl::Status s = mtr.FreePage(dead); !s.ok()) return s;
    AddDepthCount(m, d, -2);
    AddDepthCount(m, d - 1, 1);
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  }
}

absl::Status HashIndex::Shrink() {
  constexpr std::size_t kPagesPerMtr = 64;
  for (;;) {
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<std::byte*> meta = LatchAnchor(mtr);
    if (!meta.ok()) return meta.status();
    std::byte* m = *meta;
    const unsigned g = GlobalDepth(m);
    if (g == 0 || DepthCount(m, g) != 0) return mtr.Commit().status();
    // No bucket uses the top bit: the upper half of the directory repeats the lower half.
    DirWriter dir(mtr, anchor_, m);
    if (g > kDirBits) {
      // Its written pages are dropped first (a dropped page reads as its source, which it
      // equals), a bounded number per mini-transaction; then the depth goes down.
      std::size_t freed = 0;
      for (std::uint64_t n = DirPages(g) - 1; n >= DirPages(g - 1) && freed < kPagesPerMtr; --n) {
        absl::StatusOr<PageId> id = dir.Exact(n);
        if (!id.ok()) return id.status();
        if (*id == kInvalidPageId) continue;
        absl::StatusOr<PageSpan> d = mtr.GetForWrite(*id);
        if (!d.ok()) return d.status();
        std::memset(d->data() + kDirOwner, 0, kPageSize - kDirOwner);
        if (absl::Status s = dir.SetExact(n, kInvalidPageId); !s.ok()) return s;
        if (absl::Status s = mtr.FreePage(*id); !s.ok()) return s;
        ++freed;
      }
      if (freed > 0) {
        if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
        continue;
      }
    } else {
      absl::StatusOr<std::pair<std::uint64_t, PageSpan>> zero = dir.Logical(0);
      if (!zero.ok()) return zero.status();
      std::memset(zero->second.data() + kDirEntries + (std::uint64_t{1} << (g - 1)) * kDirIdBytes,
                  0, (std::uint64_t{1} << (g - 1)) * kDirIdBytes);
    }
    Set16(m, kMetaGlobalDepth, static_cast<std::uint16_t>(g - 1));
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  }
}

}  // namespace pagestore
