#include "index/hash_index.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "index/hash_directory.h"
#include "index/hash_page.h"
#include "index/index_change.h"
#include "index/value_pages.h"

namespace pagestore {

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts, in this file only

struct HashIndex::Located {
  ReadPageGuard dir;  // the directory page, latched for reading
  PageId bucket;
  std::uint64_t position;  // the hash's directory position
};

HashIndex::HashIndex(Store& store, PageId anchor, std::uint64_t seed, HashIndexOptions options)
    : store_(store),
      anchor_(anchor),
      seed_(seed),
      options_(std::move(options)),
      cache_(std::make_unique<DirCache>()) {}

HashIndex::~HashIndex() = default;

std::uint64_t HashIndex::Hash(std::string_view key) const {
  if (options_.hash_for_testing) return options_.hash_for_testing(key);
  return XXH3_64bits_withSeed(key.data(), key.size(), seed_);
}

// ---------------------------------------------------------------------------------------------
// Creation

absl::StatusOr<std::unique_ptr<HashIndex>> HashIndex::Create(Store& store, HashIndexOptions options,
                                                             Transaction* txn) {
  if (options.max_global_depth < 1 || options.max_global_depth > kMaxHashGlobalDepth) {
    return absl::InvalidArgumentError(
        fmt::format("hash index max_global_depth must be 1 to {}, not {}", kMaxHashGlobalDepth,
                    options.max_global_depth));
  }
  std::uint64_t seed;
  if (options.seed) {
    seed = *options.seed;
  } else {
    std::random_device rd;
    seed = (std::uint64_t{rd()} << 32) ^ rd();
  }
  MiniTransaction mtr = txn != nullptr ? txn->BeginMtr() : store.BeginMtr();
  absl::StatusOr<PageId> anchor = mtr.AllocatePage(PageType::kHashMeta);
  if (!anchor.ok()) return anchor.status();
  absl::StatusOr<PageId> index = mtr.AllocatePage(PageType::kHashDirectory);
  if (!index.ok()) return index.status();
  absl::StatusOr<PageId> dir = mtr.AllocatePage(PageType::kHashDirectory);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<PageId> bucket = mtr.AllocatePage(PageType::kHashBucket);
  if (!bucket.ok()) return bucket.status();
  absl::StatusOr<PageSpan> b = mtr.GetForWrite(*bucket);
  if (!b.ok()) return b.status();
  Bucket(b->data()).Init(*anchor, 0, 0);
  absl::StatusOr<PageSpan> d = mtr.GetForWrite(*dir);
  if (!d.ok()) return d.status();
  InitDirPage(d->data(), *anchor, 0, kRoleDirectory);
  SetDirEntry(d->data(), 0, *bucket);
  absl::StatusOr<PageSpan> x = mtr.GetForWrite(*index);
  if (!x.ok()) return x.status();
  InitDirPage(x->data(), *anchor, 0, kRoleIndex);
  Set64(x->data(), kDirEntries, *dir);
  absl::StatusOr<PageSpan> m = mtr.GetForWrite(*anchor);
  if (!m.ok()) return m.status();
  Set64(m->data(), kMetaSeed, seed);
  Set16(m->data(), kMetaGlobalDepth, 0);
  Set16(m->data(), kMetaMaxDepth, static_cast<std::uint16_t>(options.max_global_depth));
  Set64(m->data(), kMetaCounts, 1);
  Set64(m->data(), kMetaIndex, *index);
  if (txn != nullptr) {
    mtr.LogUndo(kHashResourceManager, index_internal::EncodeIndexUndo(
                                          *anchor, index_internal::UndoOp::kFreeIndex, {}, {}));
  }
  if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  return std::unique_ptr<HashIndex>(new HashIndex(store, *anchor, seed, std::move(options)));
}

absl::StatusOr<std::unique_ptr<HashIndex>> HashIndex::Open(Store& store, PageId anchor,
                                                           HashIndexOptions options) {
  absl::StatusOr<ReadPageGuard> a = store.pool().ReadPage(anchor);
  if (!a.ok()) return a.status();
  const std::byte* m = a->data().data();
  if (absl::Status s = CheckAnchor(anchor, m); !s.ok()) return s;
  const std::uint64_t seed = Get64(m, kMetaSeed);
  return std::unique_ptr<HashIndex>(new HashIndex(store, anchor, seed, std::move(options)));
}

// ---------------------------------------------------------------------------------------------
// Finding a bucket

absl::StatusOr<HashIndex::Located> HashIndex::Locate(std::uint64_t hash, bool authoritative) const {
  BufferPool& pool = store_.pool();
  if (!authoritative) {
    // Through the cache; any doubt sends the caller to the authoritative path.
    const int g = cache_->depth();
    if (g < 0) return absl::UnavailableError("cache empty");
    const std::uint64_t pos = hash & Mask(static_cast<unsigned>(g));
    std::uint64_t n = pos >> kDirBits;
    std::uint64_t id;
    for (;;) {
      id = cache_->Get(n);
      if (id == DirCache::kUnknown || (id == DirCache::kMissing && n == 0)) {
        return absl::UnavailableError("cache miss");
      }
      if (id != DirCache::kMissing) break;
      n = SourceOf(n);
    }
    absl::StatusOr<ReadPageGuard> dir = pool.ReadPage(id);
    if (!dir.ok()) return absl::UnavailableError("stale cache");
    if (!IsDirPage(dir->data().data(), anchor_, n, kRoleDirectory)) {
      return absl::UnavailableError("stale cache");
    }
    const PageId bucket = DirEntry(dir->data().data(), pos & (kDirSlots - 1));
    // Positions beyond a global depth since lowered read as zero (Shrink clears them).
    if (bucket < kFirstDataPage) return absl::UnavailableError("stale cache");
    return Located{std::move(*dir), bucket, pos};
  }
  // Through the anchor, latched for reading until the directory page is: the structure cannot
  // change meanwhile (splits and merges hold the anchor exclusively).
  absl::StatusOr<ReadPageGuard> meta = pool.ReadPage(anchor_);
  if (!meta.ok()) return meta.status();
  const std::byte* m = meta->data().data();
  if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
  const unsigned g = GlobalDepth(m);
  cache_->set_depth(g);
  const std::uint64_t pos = hash & Mask(g);
  std::uint64_t n = pos >> kDirBits;
  for (;;) {
    PageId id = kInvalidPageId;
    const PageId xid = IndexPageId(m, n / kIndexSlots);
    if (xid != kInvalidPageId) {
      absl::StatusOr<ReadPageGuard> x = pool.ReadPage(xid);
      if (!x.ok()) return x.status();
      if (!IsDirPage(x->data().data(), anchor_, n / kIndexSlots, kRoleIndex)) {
        return NotOurs(anchor_, xid, "directory index page");
      }
      id = IndexEntry(x->data().data(), n % kIndexSlots);
    }
    cache_->Set(n, id == kInvalidPageId ? DirCache::kMissing : id);
    if (id == kInvalidPageId) {
      if (n == 0) {
        return absl::DataLossError(
            fmt::format("hash index {}: directory page 0 is missing", anchor_));
      }
      n = SourceOf(n);
      continue;
    }
    absl::StatusOr<ReadPageGuard> dir = pool.ReadPage(id);
    if (!dir.ok()) return dir.status();
    if (!IsDirPage(dir->data().data(), anchor_, n, kRoleDirectory)) {
      return NotOurs(anchor_, id, fmt::format("directory page {}", n));
    }
    const PageId bucket = DirEntry(dir->data().data(), pos & (kDirSlots - 1));
    meta->Release();
    return Located{std::move(*dir), bucket, pos};
  }
}

absl::StatusOr<ReadPageGuard> HashIndex::FindBucket(std::uint64_t hash) const {
  BufferPool& pool = store_.pool();
  const auto matches = [&](const std::byte* p) { return HoldsHash(p, anchor_, hash); };
  // The bucket last seen at this position: one latch, no directory page.
  const int g = cache_->depth();
  if (g >= 0) {
    const PageId cached = cache_->BucketAt(hash & Mask(static_cast<unsigned>(g)));
    if (cached >= kFirstDataPage) {
      absl::StatusOr<ReadPageGuard> b = pool.ReadPage(cached);
      if (b.ok() && matches(b->data().data())) return b;
    }
  }
  for (bool authoritative : {false, true}) {
    absl::StatusOr<Located> loc = Locate(hash, authoritative);
    if (!loc.ok()) {
      if (authoritative || !absl::IsUnavailable(loc.status())) return loc.status();
      continue;
    }
    if (loc->bucket == loc->dir.page_id()) {
      if (authoritative) return NotOurs(anchor_, loc->bucket, "bucket its directory names");
      continue;
    }
    absl::StatusOr<ReadPageGuard> b = pool.ReadPage(loc->bucket);
    loc->dir.Release();
    if (!b.ok()) {
      // Through a stale cache (a global depth since lowered) a position may name no page.
      if (authoritative) return b.status();
      continue;
    }
    if (matches(b->data().data())) {
      cache_->SetBucketAt(loc->position, loc->bucket);
      return b;
    }
    if (authoritative) return NotOurs(anchor_, loc->bucket, "bucket its directory names");
  }
  return absl::InternalError("unreachable");
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<std::string> HashIndex::Get(std::string_view key) const {
  std::string value;
  if (absl::Status s = Get(key, &value); !s.ok()) return s;
  return value;
}

absl::Status HashIndex::Get(std::string_view key, std::string* value) const {
  const std::uint64_t h = Hash(key);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const Optimistic r = GetOptimistic(h, key, value);
    if (r == Optimistic::kFound) return absl::OkStatus();
    if (r == Optimistic::kNotFound) return absl::NotFoundError("key not found");
    if (r == Optimistic::kFallBack) break;
  }
  absl::StatusOr<ReadPageGuard> page = FindBucket(h);
  if (!page.ok()) return page.status();
  std::vector<PageId> chain;  // overflow pages visited (chains are rare and short)
  for (;;) {
    const Bucket b(page->data().data());
    const int i = b.Find(h, key);
    if (i >= 0) {
      const auto at = static_cast<std::size_t>(i);
      if (b.out_of_line(at)) {  // read with the page that names it latched
        return index_internal::ReadLargeValue(store_.pool(), anchor_, b.value(at), value);
      }
      value->assign(b.value(at));
      return absl::OkStatus();
    }
    if (i == -2) return NotOurs(anchor_, page->page_id(), "bucket (a cell is out of bounds)");
    const PageId next = b.next();
    if (next == kInvalidPageId) return absl::NotFoundError("key not found");
    if (next == page->page_id() || std::find(chain.begin(), chain.end(), next) != chain.end() ||
        chain.size() > kMaxChainPages) {
      return NotOurs(anchor_, next, "overflow page (the chain loops)");
    }
    chain.push_back(next);
    absl::StatusOr<ReadPageGuard> n = store_.pool().ReadPage(next);
    if (!n.ok()) return n.status();
    if (!IsBucketOf(n->data().data(), anchor_, PageType::kOverflow)) {
      return NotOurs(anchor_, next, "overflow page");
    }
    *page = std::move(*n);  // the next page is latched before this one is released
  }
}

void HashIndex::MultiGet(std::span<const std::string_view> keys, std::vector<std::string>* values,
                         std::vector<absl::Status>* statuses) const {
  values->resize(keys.size());
  statuses->resize(keys.size());
  BufferPool& pool = store_.pool();
  // The buckets the directory cache names (a hint: a split since only costs a read later).
  std::vector<PageId> cold;
  const int depth = cache_->depth();
  if (depth >= 0) {
    for (std::string_view key : keys) {
      const PageId b = cache_->BucketAt(Hash(key) & Mask(static_cast<unsigned>(depth)));
      if (b >= kFirstDataPage && !pool.IsResident(b)) cold.push_back(b);
    }
  }
  if (!cold.empty()) {
    std::sort(cold.begin(), cold.end());
    cold.erase(std::unique(cold.begin(), cold.end()), cold.end());
    (void)pool.LoadPages(cold);  // a page that failed reports its error through Get below
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    (*statuses)[i] = Get(keys[i], &(*values)[i]);
    if (!(*statuses)[i].ok()) (*values)[i].clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Writes

namespace {

constexpr index_internal::ChangeKind kChangeKind{
    "hash index", kHashResourceManager, kMaxHashEntryBytes, kMaxHashKeyBytes, kMaxHashValueBytes};

}  // namespace

absl::Status HashIndex::Insert(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{.op = Op::kInsert, .key = key, .value = value, .hash = Hash(key)};
  return Apply(txn, c);
}

absl::Status HashIndex::Put(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{.op = Op::kPut, .key = key, .value = value, .hash = Hash(key)};
  return Apply(txn, c);
}

absl::Status HashIndex::Delete(Transaction* txn, std::string_view key) {
  Change c{.op = Op::kDelete, .key = key, .hash = Hash(key)};
  return Apply(txn, c);
}

absl::Status HashIndex::PutIn(MiniTransaction& mtr, std::string_view key, std::string_view value,
                              Mode mode, std::optional<std::string>* old) {
  Change c{.op = mode == Mode::kInsert ? Op::kInsert : Op::kPut,
           .key = key,
           .value = value,
           .hash = Hash(key),
           .free_dropped_now = true};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr) *old = std::move(c.old);
  return s;
}

absl::Status HashIndex::PutReferenceIn(MiniTransaction& mtr, std::string_view key,
                                       std::string_view reference) {
  Change c{.op = Op::kPut,
           .key = key,
           .value = reference,
           .hash = Hash(key),
           .out_of_line = true,
           .free_dropped_now = true};
  return ApplyIn(mtr, c);
}

absl::Status HashIndex::DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old) {
  Change c{.op = Op::kDelete, .key = key, .hash = Hash(key), .free_dropped_now = true};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr && c.old) *old = std::move(*c.old);
  return s;
}

absl::Status HashIndex::Apply(Transaction* txn, Change& change) {
  return index_internal::ApplyChange(
      store_, txn, kChangeKind, anchor_, change,
      [this](MiniTransaction& mtr, Change& c) { return TryChange(mtr, c); },
      [this](const Change& c) { return MakeRoom(c); },
      [this](const Change& c) {
        // The change is committed. Merging the emptied bucket only reclaims space: a failure
        // there (the log failing, which the next operation reports) leaves a valid index whose
        // empty bucket is merged when its buddy next empties.
        if (MergeFrom(c.hash).ok()) (void)Shrink();
      });
}

absl::Status HashIndex::ApplyIn(MiniTransaction& mtr, Change& change) {
  return index_internal::ApplyChangeIn(
      mtr, kChangeKind, change, [this](MiniTransaction& m, Change& c) { return TryChange(m, c); },
      [this](const Change& c) { return MakeRoom(c); });
}

absl::StatusOr<index_internal::Attempt> HashIndex::TryChange(MiniTransaction& mtr, Change& change) {
  // The bucket, exclusively latched, then the whole chain in chain order; every page checked
  // whole, since a write may compact it.
  absl::StatusOr<std::pair<PageId, PageSpan>> bucket = LatchBucket(mtr, change.hash);
  if (!bucket.ok()) return bucket.status();
  const auto& [head, head_span] = *bucket;
  if (!Bucket(head_span.data()).Valid()) {
    return NotOurs(anchor_, head, "bucket (its slots and cells disagree)");
  }
  std::vector<PageId> ids{head};
  std::vector<PageSpan> spans{head_span};
  for (PageId next = Bucket(head_span.data()).next(); next != kInvalidPageId;) {
    if (std::find(ids.begin(), ids.end(), next) != ids.end() || mtr.Holds(next) ||
        ids.size() > kMaxChainPages) {
      return NotOurs(anchor_, next, "overflow page (the chain loops)");
    }
    absl::StatusOr<PageSpan> s = mtr.GetForWrite(next);
    if (!s.ok()) return s.status();
    if (!IsBucketOf(s->data(), anchor_, PageType::kOverflow) || !Bucket(s->data()).Valid()) {
      return NotOurs(anchor_, next, "overflow page");
    }
    ids.push_back(next);
    spans.push_back(*s);
    next = Bucket(s->data()).next();
  }
  absl::StatusOr<index_internal::Attempt> done = ChangeChain(mtr, change, ids, spans);
  if (!done.ok() || *done == index_internal::Attempt::kNeedsRoom) return done;
  // A large value replaced or deleted: its pages go with the commit (the chain that named it is
  // latched here, so it was live).
  if (absl::Status s = index_internal::FinishValues(mtr, anchor_, change); !s.ok()) return s;
  return done;
}

absl::StatusOr<std::pair<PageId, PageSpan>> HashIndex::LatchBucket(MiniTransaction& mtr,
                                                                   std::uint64_t h) {
  // The one cached for the position, or through the directory (its page latched shared until
  // the bucket is). A page the caller's mini-transaction already holds is not a bucket of this
  // index (see PutIn), so a stale id naming one is skipped.
  const auto matches = [&](const std::byte* p) { return HoldsHash(p, anchor_, h); };
  if (const int g = cache_->depth(); g >= 0) {
    const PageId cached = cache_->BucketAt(h & Mask(static_cast<unsigned>(g)));
    if (cached >= kFirstDataPage && cached != anchor_ && !mtr.Holds(cached)) {
      // Checked under a shared latch first, so a stale id never dirties or blocks a page that
      // is no longer ours for long; then latched exclusively and checked again.
      bool ours = false;
      {
        absl::StatusOr<ReadPageGuard> peek = store_.pool().ReadPage(cached);
        ours = peek.ok() && matches(peek->data().data());
      }
      if (ours) {
        absl::StatusOr<PageSpan> b = mtr.GetForWrite(cached);
        if (b.ok() && matches(b->data())) return std::make_pair(cached, *b);
        if (b.ok()) {
          if (absl::Status s = mtr.ReleasePage(cached); !s.ok()) return s;
        }
      }
    }
  }
  for (bool authoritative : {false, true}) {
    absl::StatusOr<Located> loc = Locate(h, authoritative);
    if (!loc.ok()) {
      if (authoritative || !absl::IsUnavailable(loc.status())) return loc.status();
      continue;
    }
    if (mtr.Holds(loc->bucket) || loc->bucket == loc->dir.page_id() || loc->bucket == anchor_) {
      if (authoritative) return NotOurs(anchor_, loc->bucket, "bucket its directory names");
      continue;
    }
    absl::StatusOr<PageSpan> b = mtr.GetForWrite(loc->bucket);
    loc->dir.Release();
    if (!b.ok()) {
      if (authoritative) return b.status();
      continue;  // a stale cache: see FindBucket
    }
    if (matches(b->data())) {
      cache_->SetBucketAt(loc->position, loc->bucket);
      return std::make_pair(loc->bucket, *b);
    }
    if (authoritative) return NotOurs(anchor_, loc->bucket, "bucket its directory names");
    if (absl::Status s = mtr.ReleasePage(loc->bucket); !s.ok()) return s;
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<index_internal::Attempt> HashIndex::ChangeChain(MiniTransaction& mtr, Change& change,
                                                               const std::vector<PageId>& ids,
                                                               std::vector<PageSpan>& spans) {
  const std::uint64_t h = change.hash;
  auto release_all = [&]() -> absl::StatusOr<index_internal::Attempt> {
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      if (absl::Status s = mtr.ReleasePage(*it); !s.ok()) return s;
    }
    return index_internal::Attempt::kNeedsRoom;
  };
  // Where the key is.
  std::size_t at = 0;
  int slot = -1;
  for (; at < spans.size(); ++at) {
    slot = Bucket(spans[at].data()).Find(h, change.key);
    if (slot == -2) return NotOurs(anchor_, ids[at], "bucket (a cell is out of bounds)");
    if (slot >= 0) break;
  }
  const bool found = slot >= 0;
  const std::size_t need = Bucket::EntryBytes(change.key.size(), change.value.size());
  // An emptied overflow page leaves the chain.
  auto drop_if_empty = [&](std::size_t page) -> absl::Status {
    Bucket b(spans[page].data());
    if (page == 0 || b.count() != 0) return absl::OkStatus();
    Bucket(spans[page - 1].data()).set_next(b.next());
    b.Init(kInvalidPageId, 0, 0);
    return mtr.FreePage(ids[page]);
  };
  auto insert_anywhere = [&]() -> bool {
    for (PageSpan& s : spans) {
      if (Bucket(s.data()).Insert(h, change.key, change.value, change.out_of_line)) return true;
    }
    return false;
  };
  switch (change.op) {
    case Op::kInsert:
      if (found) return absl::AlreadyExistsError("key already present");
      if (!insert_anywhere()) return release_all();
      return index_internal::Attempt::kDone;
    case Op::kPut: {
      if (!found) {
        if (!insert_anywhere()) return release_all();
        return index_internal::Attempt::kDone;
      }
      Bucket b(spans[at].data());
      const auto i = static_cast<std::size_t>(slot);
      const bool same_page = b.FreeBytes() + b.EntryBytesAt(i) >= need;
      bool elsewhere = false;
      for (std::size_t j = 0; j < spans.size() && !same_page && !elsewhere; ++j) {
        elsewhere = j != at && Bucket(spans[j].data()).FreeBytes() >= need;
      }
      if (!same_page && !elsewhere) return release_all();
      change.old = std::string(b.value(i));
      change.old_out_of_line = b.out_of_line(i);
      b.Remove(i);
      if (same_page) {
        b.Insert(h, change.key, change.value, change.out_of_line);
        return index_internal::Attempt::kDone;
      }
      insert_anywhere();
      if (absl::Status s = drop_if_empty(at); !s.ok()) return s;
      return index_internal::Attempt::kDone;
    }
    case Op::kDelete: {
      if (!found) return absl::NotFoundError("key not found");
      Bucket b(spans[at].data());
      change.old = std::string(b.value(static_cast<std::size_t>(slot)));
      change.old_out_of_line = b.out_of_line(static_cast<std::size_t>(slot));
      b.Remove(static_cast<std::size_t>(slot));
      if (absl::Status s = drop_if_empty(at); !s.ok()) return s;
      const Bucket head_bucket(spans[0].data());
      if (head_bucket.count() == 0 && head_bucket.next() == kInvalidPageId &&
          head_bucket.depth() > 0) {
        return index_internal::Attempt::kEmptied;
      }
      return index_internal::Attempt::kDone;
    }
  }
  return index_internal::Attempt::kDone;
}

// ---------------------------------------------------------------------------------------------
// Undo

UndoHandler HashUndoHandler(std::function<const HashIndexOptions*(PageId anchor)> options) {
  return index_internal::IndexUndoHandler(
      kChangeKind, [options = std::move(options)](Store& store, PageId anchor) {
        HashIndexOptions o;
        if (options) {
          if (const HashIndexOptions* given = options(anchor)) o = *given;
        }
        return HashIndex::Open(store, anchor, o);
      });
}

}  // namespace pagestore
