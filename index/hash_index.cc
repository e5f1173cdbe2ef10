#include "index/hash_index.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <random>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "index/index_undo.h"

namespace pagestore {
namespace {

// ---------------------------------------------------------------------------------------------
// Page layouts (index/README.md has them in prose). All integers little-endian.

// Anchor (kHashMeta).
constexpr std::size_t kMetaSeed = 32;         // u64
constexpr std::size_t kMetaGlobalDepth = 40;  // u16
constexpr std::size_t kMetaMaxDepth = 42;     // u16
constexpr std::size_t kMetaCounts = 48;       // u64 x 27: buckets by local depth
constexpr std::size_t kMetaIndex = kMetaCounts + 8 * (kMaxHashGlobalDepth + 1);  // u64 ids
constexpr std::size_t kMetaIndexSlots = (kPageSize - kMetaIndex) / 8;

// Directory pages (kHashDirectory): u64 owner (the anchor) at 32, u32 number at 40, u16 role at
// 44. Role 1: 512 bucket ids of 48 bits from 64 (directory positions 512n .. 512n + 511).
// Role 2 (directory index): 504 directory page ids (u64) from 64 (pages 504n .. 504n + 503).
constexpr std::size_t kDirOwner = 32;
constexpr std::size_t kDirNumber = 40;
constexpr std::size_t kDirRole = 44;
constexpr std::size_t kDirEntries = 64;
constexpr std::uint16_t kRoleDirectory = 1;
constexpr std::uint16_t kRoleIndex = 2;
constexpr unsigned kDirBits = 9;
constexpr std::uint64_t kDirSlots = 1u << kDirBits;  // 512
constexpr std::size_t kDirIdBytes = 6;
constexpr std::uint64_t kIndexSlots = (kPageSize - kDirEntries) / 8;  // 504
constexpr std::uint64_t kMaxDirPages = std::uint64_t{1} << (kMaxHashGlobalDepth - kDirBits);
static_assert(kDirEntries + kDirSlots * kDirIdBytes <= kPageSize);
static_assert((kMaxDirPages + kIndexSlots - 1) / kIndexSlots <= kMetaIndexSlots);

// Buckets (kHashBucket) and their overflow pages (kOverflow): u64 owner at 32, u64 prefix at 40,
// u64 next overflow page at 48, u16 count at 56, u16 local depth at 58, u16 start of the cell
// area at 60, u16 dead bytes at 62; slots from 64 (u64 hash | u16 cell offset), cells from the
// end of the page down (u16 key length | u16 value length | key | value). Unordered.
constexpr std::size_t kBktOwner = 32;
constexpr std::size_t kBktPrefix = 40;
constexpr std::size_t kBktNext = 48;
constexpr std::size_t kBktCount = 56;
constexpr std::size_t kBktDepth = 58;
constexpr std::size_t kBktCellStart = 60;
constexpr std::size_t kBktDead = 62;
constexpr std::size_t kBktSlots = 64;
constexpr std::size_t kSlotBytes = 10;
constexpr std::size_t kCellHeader = 4;
constexpr std::size_t kBucketCapacity = kPageSize - kBktSlots;
static_assert(4 * (kSlotBytes + kCellHeader + kMaxHashEntryBytes) <= kBucketCapacity);

std::uint16_t Get16(const std::byte* p, std::size_t off) {
  std::uint16_t v;
  std::memcpy(&v, p + off, 2);
  return v;
}
std::uint32_t Get32(const std::byte* p, std::size_t off) {
  std::uint32_t v;
  std::memcpy(&v, p + off, 4);
  return v;
}
std::uint64_t Get64(const std::byte* p, std::size_t off) {
  std::uint64_t v;
  std::memcpy(&v, p + off, 8);
  return v;
}
void Set16(std::byte* p, std::size_t off, std::uint16_t v) { std::memcpy(p + off, &v, 2); }
void Set32(std::byte* p, std::size_t off, std::uint32_t v) { std::memcpy(p + off, &v, 4); }
void Set64(std::byte* p, std::size_t off, std::uint64_t v) { std::memcpy(p + off, &v, 8); }

PageType TypeOf(const std::byte* p) {
  return static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
}

std::uint64_t Mask(unsigned bits) {
  return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}
// Directory pages a directory of global depth g spans.
std::uint64_t DirPages(unsigned g) {
  return g <= kDirBits ? 1 : std::uint64_t{1} << (g - kDirBits);
}
// The page a missing directory page n is a copy of: n without its highest bit.
std::uint64_t SourceOf(std::uint64_t n) { return n & ~std::bit_floor(n); }

// --- anchor
unsigned GlobalDepth(const std::byte* m) { return Get16(m, kMetaGlobalDepth); }
unsigned MaxDepth(const std::byte* m) { return Get16(m, kMetaMaxDepth); }
std::uint64_t DepthCount(const std::byte* m, unsigned d) { return Get64(m, kMetaCounts + 8 * d); }
void AddDepthCount(std::byte* m, unsigned d, std::int64_t delta) {
  Set64(m, kMetaCounts + 8 * d, DepthCount(m, d) + static_cast<std::uint64_t>(delta));
}
PageId IndexPageId(const std::byte* m, std::uint64_t k) { return Get64(m, kMetaIndex + 8 * k); }

// --- directory pages
PageId DirEntry(const std::byte* d, std::uint64_t slot) {
  std::uint64_t v = 0;
  std::memcpy(&v, d + kDirEntries + slot * kDirIdBytes, kDirIdBytes);
  return v;
}
void SetDirEntry(std::byte* d, std::uint64_t slot, PageId id) {
  std::memcpy(d + kDirEntries + slot * kDirIdBytes, &id, kDirIdBytes);
}
PageId IndexEntry(const std::byte* x, std::uint64_t slot) {
  return Get64(x, kDirEntries + 8 * slot);
}
void InitDirPage(std::byte* d, PageId owner, std::uint64_t number, std::uint16_t role) {
  Set64(d, kDirOwner, owner);
  Set32(d, kDirNumber, static_cast<std::uint32_t>(number));
  Set16(d, kDirRole, role);
}
bool IsDirPage(const std::byte* d, PageId owner, std::uint64_t number, std::uint16_t role) {
  return TypeOf(d) == PageType::kHashDirectory && Get64(d, kDirOwner) == owner &&
         Get32(d, kDirNumber) == number && Get16(d, kDirRole) == role;
}

// --- buckets
class Bucket {
 public:
  explicit Bucket(std::byte* p) : p_(p) {}
  explicit Bucket(const std::byte* p) : p_(const_cast<std::byte*>(p)) {}

  void Init(PageId owner, std::uint64_t prefix, unsigned depth) {
    std::memset(p_ + kBktOwner, 0, kPageSize - kBktOwner);
    Set64(p_, kBktOwner, owner);
    Set64(p_, kBktPrefix, prefix);
    Set16(p_, kBktDepth, static_cast<std::uint16_t>(depth));
    Set16(p_, kBktCellStart, static_cast<std::uint16_t>(kPageSize));
  }
  PageId owner() const { return Get64(p_, kBktOwner); }
  std::uint64_t prefix() const { return Get64(p_, kBktPrefix); }
  unsigned depth() const { return Get16(p_, kBktDepth); }
  PageId next() const { return Get64(p_, kBktNext); }
  std::size_t count() const { return Get16(p_, kBktCount); }
  void set_next(PageId id) { Set64(p_, kBktNext, id); }
  void set_owner(PageId id) { Set64(p_, kBktOwner, id); }
  void set_depth(unsigned d, std::uint64_t prefix) {
    Set16(p_, kBktDepth, static_cast<std::uint16_t>(d));
    Set64(p_, kBktPrefix, prefix);
  }

  // The header is consistent with the page's bounds (every access checks this much).
  bool Sane() const {
    const std::size_t start = Get16(p_, kBktCellStart);
    return kBktSlots + count() * kSlotBytes <= start && start <= kPageSize &&
           Get16(p_, kBktDead) <= kPageSize - start && depth() <= kMaxHashGlobalDepth;
  }
  // Sane, every cell inside the page, and the live cells plus the dead bytes exactly fill the
  // cell area: what a write (which may compact the page) relies on.
  bool Valid() const {
    if (!Sane()) return false;
    std::size_t cells = Get16(p_, kBktDead);
    for (std::size_t i = 0; i < count(); ++i) {
      if (!CellSane(i)) return false;
      cells += kCellHeader + key(i).size() + value(i).size();
    }
    return cells == kPageSize - Get16(p_, kBktCellStart);
  }
  // Every cell lies inside the page (Verify and the tools check this; reads check the one entry
  // they return).
  bool CellSane(std::size_t i) const {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    if (off < Get16(p_, kBktCellStart) || off + kCellHeader > kPageSize) return false;
    return off + kCellHeader + Get16(p_, off) + Get16(p_, off + 2) <= kPageSize;
  }

  std::uint64_t hash(std::size_t i) const { return Get64(p_, SlotAt(i)); }
  std::string_view key(std::size_t i) const {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    return {reinterpret_cast<const char*>(p_ + off + kCellHeader), Get16(p_, off)};
  }
  std::string_view value(std::size_t i) const {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    return {reinterpret_cast<const char*>(p_ + off + kCellHeader + Get16(p_, off)),
            Get16(p_, off + 2)};
  }

  // The slot holding `key`, or -1. -2: the matching slot's cell is out of bounds (corrupt).
  int Find(std::uint64_t h, std::string_view k) const {
    const std::size_t n = count();
    for (std::size_t i = 0; i < n; ++i) {
      if (hash(i) != h) continue;
      if (!CellSane(i)) return -2;
      const std::string_view stored = key(i);
      if (stored.size() == k.size() &&
          (k.empty() || std::memcmp(stored.data(), k.data(), k.size()) == 0)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  static std::size_t EntryBytes(std::size_t key, std::size_t value) {
    return kSlotBytes + kCellHeader + key + value;
  }
  std::size_t EntryBytesAt(std::size_t i) const {
    return EntryBytes(key(i).size(), value(i).size());
  }
  std::size_t FreeBytes() const {
    return Get16(p_, kBktCellStart) - (kBktSlots + count() * kSlotBytes) + Get16(p_, kBktDead);
  }
  std::size_t UsedBytes() const { return kBucketCapacity - FreeBytes(); }

  // False (unchanged) when it does not fit even after compaction.
  bool Insert(std::uint64_t h, std::string_view k, std::string_view v) {
    const std::size_t cell = kCellHeader + k.size() + v.size();
    if (FreeBytes() < cell + kSlotBytes) return false;
    std::size_t start = Get16(p_, kBktCellStart);
    if (start - (kBktSlots + count() * kSlotBytes) < cell + kSlotBytes) {
      Compact();
      start = Get16(p_, kBktCellStart);
    }
    const std::size_t off = start - cell;
    Set16(p_, off, static_cast<std::uint16_t>(k.size()));
    Set16(p_, off + 2, static_cast<std::uint16_t>(v.size()));
    if (!k.empty()) std::memcpy(p_ + off + kCellHeader, k.data(), k.size());
    if (!v.empty()) std::memcpy(p_ + off + kCellHeader + k.size(), v.data(), v.size());
    const std::size_t slot = SlotAt(count());
    Set64(p_, slot, h);
    Set16(p_, slot + 8, static_cast<std::uint16_t>(off));
    Set16(p_, kBktCellStart, static_cast<std::uint16_t>(off));
    Set16(p_, kBktCount, static_cast<std::uint16_t>(count() + 1));
    return true;
  }
  // Removes slot i (the last slot moves into its place) and clears the cell's bytes.
  void Remove(std::size_t i) {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    const std::size_t cell = kCellHeader + Get16(p_, off) + Get16(p_, off + 2);
    std::memset(p_ + off, 0, cell);
    const std::size_t last = count() - 1;
    if (i != last) std::memcpy(p_ + SlotAt(i), p_ + SlotAt(last), kSlotBytes);
    std::memset(p_ + SlotAt(last), 0, kSlotBytes);
    Set16(p_, kBktCount, static_cast<std::uint16_t>(last));
    if (off == Get16(p_, kBktCellStart)) {
      Set16(p_, kBktCellStart, static_cast<std::uint16_t>(off + cell));
    } else {
      Set16(p_, kBktDead, static_cast<std::uint16_t>(Get16(p_, kBktDead) + cell));
    }
    if (last == 0) {
      Set16(p_, kBktCellStart, static_cast<std::uint16_t>(kPageSize));
      Set16(p_, kBktDead, 0);
    }
  }
  // Rewrites the cells contiguously at the end of the page; the gap is zeroed.
  void Compact() {
    std::array<std::byte, kPageSize> copy;
    std::memcpy(copy.data(), p_, kPageSize);
    std::size_t top = kPageSize;
    for (std::size_t i = 0; i < count(); ++i) {
      const std::size_t off = Get16(copy.data(), SlotAt(i) + 8);
      const std::size_t cell = kCellHeader + Get16(copy.data(), off) + Get16(copy.data(), off + 2);
      top -= cell;
      std::memcpy(p_ + top, copy.data() + off, cell);
      Set16(p_, SlotAt(i) + 8, static_cast<std::uint16_t>(top));
    }
    const std::size_t slots_end = SlotAt(count());
    std::memset(p_ + slots_end, 0, top - slots_end);
    Set16(p_, kBktCellStart, static_cast<std::uint16_t>(top));
    Set16(p_, kBktDead, 0);
  }

 private:
  static std::size_t SlotAt(std::size_t i) { return kBktSlots + i * kSlotBytes; }
  std::byte* p_;
};

bool IsBucketOf(const std::byte* p, PageId owner, PageType type) {
  return TypeOf(p) == type && Bucket(p).owner() == owner && Bucket(p).Sane();
}

// A live bucket of the index anchored at `owner` whose prefix matches `hash`: the one bucket that
// can hold a key of that hash (live buckets partition the hashes by prefix).
bool HoldsHash(const std::byte* p, PageId owner, std::uint64_t hash) {
  return IsBucketOf(p, owner, PageType::kHashBucket) &&
         (hash & Mask(Bucket(p).depth())) == Bucket(p).prefix();
}

absl::Status TooLarge(std::string_view key, std::string_view value) {
  return absl::InvalidArgumentError(fmt::format(
      "hash index entry of {} key bytes + {} value bytes exceeds the limit of {} bytes (four "
      "entries per 4 KiB page)",
      key.size(), value.size(), kMaxHashEntryBytes));
}

absl::Status NotOurs(PageId anchor, PageId id, std::string_view what) {
  return absl::DataLossError(
      fmt::format("hash index {}: page {} is not the {} it should be", anchor, id, what));
}

// The anchor's type and depths are in range (every path that reads the anchor checks this
// before using its depths as shifts or indexes).
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

// Chains are bounded: at most this many pages (a longer one is taken for a loop).
constexpr std::size_t kMaxChainPages = 1 << 20;

struct OwnedEntry {
  std::uint64_t hash;
  std::string key;
  std::string value;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The directory cache: the global depth, the directory page ids and the bucket ids of directory
// positions last seen. Never trusted: a directory page read through it must be one of this index
// with the expected number, and a bucket must be a live bucket of this index whose prefix
// matches the hash (which makes it the one bucket that can hold the key: live buckets partition
// the hashes by prefix). A stale entry costs a retry through the anchor, never a wrong answer.

namespace {

// A lazily allocated array of `Size` atomic u64s (0 = unknown), in chunks of 4096.
template <std::uint64_t Size>
class LazyTable {
 public:
  static constexpr std::uint64_t kChunk = 4096;
  static constexpr std::uint64_t kChunks = (Size + kChunk - 1) / kChunk;
  LazyTable() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  ~LazyTable() {
    for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
  }
  LazyTable(const LazyTable&) = delete;
  LazyTable& operator=(const LazyTable&) = delete;
  std::uint64_t Get(std::uint64_t i) const {
    if (i >= Size) return 0;
    const std::atomic<std::uint64_t>* c = chunks_[i / kChunk].load(std::memory_order_acquire);
    return c == nullptr ? 0 : c[i % kChunk].load(std::memory_order_relaxed);
  }
  void Set(std::uint64_t i, std::uint64_t v) {
    if (i >= Size) return;
    std::atomic<std::uint64_t>* c = chunks_[i / kChunk].load(std::memory_order_acquire);
    if (c == nullptr) {
      auto* fresh = new std::atomic<std::uint64_t>[kChunk];
      for (std::uint64_t j = 0; j < kChunk; ++j) fresh[j].store(0, std::memory_order_relaxed);
      if (chunks_[i / kChunk].compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
        c = fresh;
      } else {
        delete[] fresh;
      }
    }
    c[i % kChunk].store(v, std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::atomic<std::uint64_t>*>, kChunks> chunks_;
};

// Bucket ids are cached for the first 2^22 positions (32 MiB at most); beyond, lookups go
// through the directory pages.
constexpr std::uint64_t kCachedPositions = std::uint64_t{1} << 22;

}  // namespace

class HashIndex::DirCache {
 public:
  static constexpr std::uint64_t kUnknown = 0;
  static constexpr std::uint64_t kMissing = 1;  // not written yet: a copy of SourceOf(n)

  int depth() const { return depth_.load(std::memory_order_acquire); }
  void set_depth(unsigned g) { depth_.store(static_cast<int>(g), std::memory_order_release); }
  // Directory page n's id, kMissing or kUnknown.
  std::uint64_t Get(std::uint64_t n) const { return pages_.Get(n); }
  void Set(std::uint64_t n, std::uint64_t v) { pages_.Set(n, v); }
  // The bucket last seen at a position (kUnknown if none).
  PageId BucketAt(std::uint64_t pos) const { return buckets_.Get(pos); }
  void SetBucketAt(std::uint64_t pos, PageId id) { buckets_.Set(pos, id); }

 private:
  std::atomic<int> depth_{-1};
  LazyTable<kMaxDirPages> pages_;
  LazyTable<kCachedPositions> buckets_;
};

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

absl::StatusOr<std::unique_ptr<HashIndex>> HashIndex::Create(Store& store,
                                                             HashIndexOptions options) {
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
  MiniTransaction mtr = store.BeginMtr();
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
  absl::StatusOr<ReadPageGuard> page = FindBucket(h);
  if (!page.ok()) return page.status();
  std::vector<PageId> chain;  // overflow pages visited (chains are rare and short)
  for (;;) {
    const Bucket b(page->data().data());
    const int i = b.Find(h, key);
    if (i >= 0) {
      value->assign(b.value(static_cast<std::size_t>(i)));
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

// ---------------------------------------------------------------------------------------------
// Writes

absl::Status HashIndex::Insert(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{Op::kInsert, key, value, Hash(key), std::nullopt};
  return Apply(txn, c);
}

absl::Status HashIndex::Put(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{Op::kPut, key, value, Hash(key), std::nullopt};
  return Apply(txn, c);
}

absl::Status HashIndex::Delete(Transaction* txn, std::string_view key) {
  Change c{Op::kDelete, key, {}, Hash(key), std::nullopt};
  return Apply(txn, c);
}

absl::Status HashIndex::PutIn(MiniTransaction& mtr, std::string_view key, std::string_view value,
                              Mode mode, std::optional<std::string>* old) {
  Change c{mode == Mode::kInsert ? Op::kInsert : Op::kPut, key, value, Hash(key), std::nullopt};
  bool emptied;
  absl::Status s = ApplyIn(mtr, c, &emptied);
  if (old != nullptr) *old = std::move(c.old);
  return s;
}

absl::Status HashIndex::DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old) {
  Change c{Op::kDelete, key, {}, Hash(key), std::nullopt};
  bool emptied;
  absl::Status s = ApplyIn(mtr, c, &emptied);
  if (old != nullptr && c.old) *old = std::move(*c.old);
  return s;
}

absl::Status HashIndex::Apply(Transaction* txn, Change& change) {
  for (;;) {
    bool emptied = false;
    bool needs_room = false;
    {
      MiniTransaction mtr = txn != nullptr ? txn->BeginMtr() : store_.BeginMtr();
      absl::StatusOr<Outcome> o = TryChange(mtr, change);
      if (!o.ok()) return o.status();  // rolled back by the destructor
      needs_room = *o == Outcome::kNeedsRoom;
      if (!needs_room) {
        if (txn != nullptr) {
          // The logical inverse: remove what was added, restore what was replaced or removed.
          const std::vector<std::byte> undo =
              change.old ? index_internal::EncodeIndexUndo(anchor_, true, change.key, *change.old)
                         : index_internal::EncodeIndexUndo(anchor_, false, change.key, {});
          mtr.LogUndo(kHashResourceManager, undo);
        }
        if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
        emptied = *o == Outcome::kEmptied;
      }
    }  // a change that needs room left the mini-transaction unchanged and holding nothing
    if (needs_room) {
      if (absl::Status s = MakeRoom(change); !s.ok()) return s;
      continue;
    }
    if (emptied) {
      // The change is committed. Merging the emptied bucket only reclaims space: a failure
      // there (the log failing, which the next operation reports) leaves a valid index whose
      // empty bucket is merged when its buddy next empties.
      if (MergeFrom(change.hash).ok()) (void)Shrink();
    }
    return absl::OkStatus();
  }
}

absl::Status HashIndex::ApplyIn(MiniTransaction& mtr, Change& change, bool* emptied) {
  for (;;) {
    absl::StatusOr<Outcome> o = TryChange(mtr, change);
    if (!o.ok()) return o.status();
    if (*o != Outcome::kNeedsRoom) {
      *emptied = *o == Outcome::kEmptied;
      return absl::OkStatus();
    }
    if (absl::Status s = MakeRoom(change); !s.ok()) return s;
  }
}

absl::StatusOr<HashIndex::Outcome> HashIndex::TryChange(MiniTransaction& mtr, Change& change) {
  if (change.op != Op::kDelete && change.key.size() + change.value.size() > kMaxHashEntryBytes) {
    return TooLarge(change.key, change.value);
  }
  if (change.key.size() > kMaxHashEntryBytes) return TooLarge(change.key, {});
  const std::uint64_t h = change.hash;
  // The bucket, exclusively latched (the directory page shared until then).
  // The bucket, exclusively latched: the one cached for the position, or through the directory
  // (its page latched shared until the bucket is). A page the caller's mini-transaction already
  // holds is not a bucket of this index (see PutIn), so a stale id naming one is skipped.
  PageId head = kInvalidPageId;
  std::optional<PageSpan> head_span;
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
        if (b.ok() && matches(b->data())) {
          head = cached;
          head_span.emplace(*b);
        } else if (b.ok()) {
          if (absl::Status s = mtr.ReleasePage(cached); !s.ok()) return s;
        }
      }
    }
  }
  for (bool authoritative : {false, true}) {
    if (head_span) break;
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
      head = loc->bucket;
      head_span.emplace(*b);
      cache_->SetBucketAt(loc->position, head);
      break;
    }
    if (authoritative) return NotOurs(anchor_, loc->bucket, "bucket its directory names");
    if (absl::Status s = mtr.ReleasePage(loc->bucket); !s.ok()) return s;
  }
  // The whole chain, exclusively latched in chain order; every page checked whole, since a
  // write may compact it.
  if (!Bucket(head_span->data()).Valid()) {
    return NotOurs(anchor_, head, "bucket (its slots and cells disagree)");
  }
  std::vector<PageId> ids{head};
  std::vector<PageSpan> spans{*head_span};
  for (PageId next = Bucket(head_span->data()).next(); next != kInvalidPageId;) {
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
  auto release_all = [&]() -> absl::StatusOr<Outcome> {
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      if (absl::Status s = mtr.ReleasePage(*it); !s.ok()) return s;
    }
    return Outcome::kNeedsRoom;
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
      if (Bucket(s.data()).Insert(h, change.key, change.value)) return true;
    }
    return false;
  };
  switch (change.op) {
    case Op::kInsert:
      if (found) return absl::AlreadyExistsError("key already present");
      if (!insert_anywhere()) return release_all();
      return Outcome::kDone;
    case Op::kPut: {
      if (!found) {
        if (!insert_anywhere()) return release_all();
        return Outcome::kDone;
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
      b.Remove(i);
      if (same_page) {
        b.Insert(h, change.key, change.value);
        return Outcome::kDone;
      }
      insert_anywhere();
      if (absl::Status s = drop_if_empty(at); !s.ok()) return s;
      return Outcome::kDone;
    }
    case Op::kDelete: {
      if (!found) return absl::NotFoundError("key not found");
      Bucket b(spans[at].data());
      change.old = std::string(b.value(static_cast<std::size_t>(slot)));
      b.Remove(static_cast<std::size_t>(slot));
      if (absl::Status s = drop_if_empty(at); !s.ok()) return s;
      const Bucket head_bucket(head_span->data());
      if (head_bucket.count() == 0 && head_bucket.next() == kInvalidPageId &&
          head_bucket.depth() > 0) {
        return Outcome::kEmptied;
      }
      return Outcome::kDone;
    }
  }
  return Outcome::kDone;
}

// ---------------------------------------------------------------------------------------------
// Structure changes. Each runs in its own system mini-transaction holding the anchor
// exclusively (so the directory and every local depth are frozen), and latches directory pages
// before buckets, the order every reader and writer follows.

namespace {

// The directory seen through the anchor held exclusively by `mtr`.
class DirWriter {
 public:
  DirWriter(MiniTransaction& mtr, PageId anchor, std::byte* meta)
      : mtr_(mtr), anchor_(anchor), meta_(meta) {}

  // The id of directory page n, or kInvalidPageId when it is not written (a copy of its
  // source).
  absl::StatusOr<PageId> Exact(std::uint64_t n) {
    const PageId xid = IndexPageId(meta_, n / kIndexSlots);
    if (xid == kInvalidPageId) return kInvalidPageId;
    absl::StatusOr<PageSpan> x = mtr_.GetForWrite(xid);
    if (!x.ok()) return x.status();
    if (!IsDirPage(x->data(), anchor_, n / kIndexSlots, kRoleIndex)) {
      return NotOurs(anchor_, xid, "directory index page");
    }
    return IndexEntry(x->data(), n % kIndexSlots);
  }
  // The written page holding the logical contents of page n, latched: (its number, its span).
  absl::StatusOr<std::pair<std::uint64_t, PageSpan>> Logical(std::uint64_t n) {
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

  // Points every position i < 2^g with i mod 2^depth == prefix at `target`. A page not written
  // yet is written first (a copy of its source) when the change breaks its being a copy: when
  // the positions it shares with its source differ in a bit below `depth`.
  // Prepare latches (and writes) every page; Apply then changes the entries. Prepare returns
  // false, having changed nothing, when more than kMaxPagesPerChange pages would change (a
  // bucket far shallower than the directory: only skewed hashes make one).
  static constexpr std::size_t kMaxPagesPerChange = 256;
  absl::StatusOr<bool> Prepare(unsigned g, unsigned depth, std::uint64_t prefix) {
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
  void Apply(PageId target) {
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

  // Writes page n (not written yet) as a copy of the page its contents come from.
  absl::StatusOr<PageId> Materialize(std::uint64_t n) {
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
  // Records page n's id (kInvalidPageId: no longer written) in its directory index page.
  absl::Status SetExact(std::uint64_t n, PageId id) {
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

 private:
  MiniTransaction& mtr_;
  const PageId anchor_;
  std::byte* meta_;
  std::vector<PageSpan> pages_;
  unsigned g_ = 0, depth_ = 0;
  std::uint64_t prefix_ = 0;
};

// A bucket's chain, peeked at with shared latches (depth and prefix are frozen while the
// anchor is held; contents may still change under optimistic writers until latched).
struct Peek {
  unsigned depth = 0;
  std::uint64_t prefix = 0;
  bool empty = true;
  bool fits = false;            // some page has room for the entry asked about
  std::uint64_t differing = 0;  // OR of (stored hash ^ the hash asked about)
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
    if (Bucket(spans[used - 1].data()).Insert(e.hash, e.key, e.value)) continue;
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
    if (!Bucket(spans[used - 1].data()).Insert(e.hash, e.key, e.value)) {
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
      out.push_back({b.hash(i), std::string(b.key(i)), std::string(b.value(i))});
    }
  }
  return out;
}

}  // namespace

absl::Status HashIndex::MakeRoom(const Change& change) {
  const std::uint64_t h = change.hash;
  MiniTransaction mtr = store_.BeginMtr();
  absl::StatusOr<PageSpan> meta = mtr.GetForWrite(anchor_);
  if (!meta.ok()) return meta.status();
  std::byte* m = meta->data();
  if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
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

absl::Status HashIndex::MergeFrom(std::uint64_t h) {
  for (;;) {
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<PageSpan> meta = mtr.GetForWrite(anchor_);
    if (!meta.ok()) return meta.status();
    std::byte* m = meta->data();
    if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
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
    if (b->depth != d || b->prefix != buddy_prefix || (!a->empty && !b->empty)) {
      return mtr.Commit()
          .status();  // nothing to merge (the buddy is split further, or both hold entries)
    }
    const bool mine_dies = a->empty;
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
    if (dead_bucket.count() != 0 || dead_bucket.next() != kInvalidPageId) {
      return mtr.Commit().status();  // filled again meanwhile
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
    absl::StatusOr<PageSpan> meta = mtr.GetForWrite(anchor_);
    if (!meta.ok()) return meta.status();
    std::byte* m = meta->data();
    if (absl::Status s = CheckAnchor(anchor_, m); !s.ok()) return s;
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

// ---------------------------------------------------------------------------------------------
// Walking the whole index: the iterator, Size, Stats and Verify.

namespace {

// Directory positions resolved under the anchor latched for reading by the caller; keeps the
// last directory index page and directory page latched.
class DirReader {
 public:
  DirReader(BufferPool& pool, PageId anchor, const std::byte* meta)
      : pool_(pool), anchor_(anchor), meta_(meta) {}

  absl::StatusOr<PageId> BucketAt(std::uint64_t pos) {
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
  absl::StatusOr<PageId> Exact(std::uint64_t n) {
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
  void Release() {
    dir_.Release();
    index_.Release();
    dir_n_ = index_k_ = ~std::uint64_t{0};
  }

 private:
  BufferPool& pool_;
  const PageId anchor_;
  const std::byte* meta_;
  ReadPageGuard index_, dir_;
  std::uint64_t index_k_ = ~std::uint64_t{0}, dir_n_ = ~std::uint64_t{0};
};

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
        v.entries.push_back({b.hash(i), std::string(b.key(i)), std::string(b.value(i))});
      }
      return v;
    }
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// Undo

UndoHandler HashUndoHandler(std::function<const HashIndexOptions*(PageId anchor)> options) {
  return [options = std::move(options)](MiniTransaction& mtr,
                                        std::span<const std::byte> payload) -> absl::Status {
    absl::StatusOr<index_internal::IndexUndo> undo =
        index_internal::DecodeIndexUndo(payload, "hash index");
    if (!undo.ok()) return undo.status();
    HashIndexOptions o;
    if (options) {
      if (const HashIndexOptions* given = options(undo->anchor)) o = *given;
    }
    absl::StatusOr<std::unique_ptr<HashIndex>> index =
        HashIndex::Open(mtr.store(), undo->anchor, o);
    if (!index.ok()) return index.status();
    if (undo->put) {
      return (*index)->PutIn(mtr, undo->key, undo->value, HashIndex::Mode::kPut, nullptr);
    }
    absl::Status s = (*index)->DeleteIn(mtr, undo->key, nullptr);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  };
}

}  // namespace pagestore
