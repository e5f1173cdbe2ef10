// The hash index's page layouts and their codecs: the anchor (kHashMeta), directory and directory
// index pages (kHashDirectory), buckets (kHashBucket) and their overflow pages (kOverflow). Pure
// functions of a page's bytes: no latching, no logging. index/README.md gives the layouts in
// prose. Every hash index file reaches the bytes through these names, and DecodeHashPage
// (hash_page.cc, for the tools) decodes a page with the same ones. Internal to index/.
//
// Thread safety: none; the caller's latch protects the page.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "index/hash_index.h"
#include "storage/page.h"

namespace pagestore::hash_internal {

// A large value's reference in a cell (index/value_pages.h).
inline constexpr std::size_t kValueRefBytes = 16;

// All integers little-endian.

// Anchor (kHashMeta).
inline constexpr std::size_t kMetaSeed = 32;         // u64
inline constexpr std::size_t kMetaGlobalDepth = 40;  // u16
inline constexpr std::size_t kMetaMaxDepth = 42;     // u16
inline constexpr std::size_t kMetaCounts = 48;       // u64 x 27: buckets by local depth
inline constexpr std::size_t kMetaIndex = kMetaCounts + 8 * (kMaxHashGlobalDepth + 1);  // u64 ids
inline constexpr std::size_t kMetaIndexSlots = (kPageSize - kMetaIndex) / 8;

// Directory pages (kHashDirectory): u64 owner (the anchor) at 32, u32 number at 40, u16 role at
// 44. Role 1: 512 bucket ids of 48 bits from 64 (directory positions 512n .. 512n + 511).
// Role 2 (directory index): 504 directory page ids (u64) from 64 (pages 504n .. 504n + 503).
inline constexpr std::size_t kDirOwner = 32;
inline constexpr std::size_t kDirNumber = 40;
inline constexpr std::size_t kDirRole = 44;
inline constexpr std::size_t kDirEntries = 64;
inline constexpr std::uint16_t kRoleDirectory = 1;
inline constexpr std::uint16_t kRoleIndex = 2;
inline constexpr unsigned kDirBits = 9;
inline constexpr std::uint64_t kDirSlots = 1u << kDirBits;  // 512
inline constexpr std::size_t kDirIdBytes = 6;
inline constexpr std::uint64_t kIndexSlots = (kPageSize - kDirEntries) / 8;  // 504
inline constexpr std::uint64_t kMaxDirPages = std::uint64_t{1} << (kMaxHashGlobalDepth - kDirBits);
static_assert(kDirEntries + kDirSlots * kDirIdBytes <= kPageSize);
static_assert((kMaxDirPages + kIndexSlots - 1) / kIndexSlots <= kMetaIndexSlots);

// Buckets (kHashBucket) and their overflow pages (kOverflow): u64 owner at 32, u64 prefix at 40,
// u64 next overflow page at 48, u16 count at 56, u16 local depth at 58, u16 start of the cell
// area at 60, u16 dead bytes at 62; slots from 64 (u64 hash | u16 cell offset), cells from the
// end of the page down (u16 key length | u16 value length | key | value). Unordered.
inline constexpr std::size_t kBktOwner = 32;
inline constexpr std::size_t kBktPrefix = 40;
inline constexpr std::size_t kBktNext = 48;
inline constexpr std::size_t kBktCount = 56;
inline constexpr std::size_t kBktDepth = 58;
inline constexpr std::size_t kBktCellStart = 60;
inline constexpr std::size_t kBktDead = 62;
inline constexpr std::size_t kBktSlots = 64;
inline constexpr std::size_t kSlotBytes = 10;
inline constexpr std::size_t kCellHeader = 4;
inline constexpr std::size_t kBucketCapacity = kPageSize - kBktSlots;
static_assert(4 * (kSlotBytes + kCellHeader + kMaxHashEntryBytes) <= kBucketCapacity);
static_assert(3 * (kSlotBytes + kCellHeader + kMaxHashKeyBytes + kValueRefBytes) <=
              kBucketCapacity);

inline std::uint16_t Get16(const std::byte* p, std::size_t off) {
  std::uint16_t v;
  std::memcpy(&v, p + off, 2);
  return v;
}
inline std::uint32_t Get32(const std::byte* p, std::size_t off) {
  std::uint32_t v;
  std::memcpy(&v, p + off, 4);
  return v;
}
inline std::uint64_t Get64(const std::byte* p, std::size_t off) {
  std::uint64_t v;
  std::memcpy(&v, p + off, 8);
  return v;
}
inline void Set16(std::byte* p, std::size_t off, std::uint16_t v) { std::memcpy(p + off, &v, 2); }
inline void Set32(std::byte* p, std::size_t off, std::uint32_t v) { std::memcpy(p + off, &v, 4); }
inline void Set64(std::byte* p, std::size_t off, std::uint64_t v) { std::memcpy(p + off, &v, 8); }

inline PageType TypeOf(const std::byte* p) {
  return static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
}

inline std::uint64_t Mask(unsigned bits) {
  return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}
// Directory pages a directory of global depth g spans.
inline std::uint64_t DirPages(unsigned g) {
  return g <= kDirBits ? 1 : std::uint64_t{1} << (g - kDirBits);
}
// The page a missing directory page n is a copy of: n without its highest bit.
inline std::uint64_t SourceOf(std::uint64_t n) { return n & ~std::bit_floor(n); }

// --- anchor
inline unsigned GlobalDepth(const std::byte* m) { return Get16(m, kMetaGlobalDepth); }
inline unsigned MaxDepth(const std::byte* m) { return Get16(m, kMetaMaxDepth); }
inline std::uint64_t DepthCount(const std::byte* m, unsigned d) {
  return Get64(m, kMetaCounts + 8 * d);
}
inline void AddDepthCount(std::byte* m, unsigned d, std::int64_t delta) {
  Set64(m, kMetaCounts + 8 * d, DepthCount(m, d) + static_cast<std::uint64_t>(delta));
}
inline PageId IndexPageId(const std::byte* m, std::uint64_t k) {
  return Get64(m, kMetaIndex + 8 * k);
}

// --- directory pages
inline PageId DirEntry(const std::byte* d, std::uint64_t slot) {
  std::uint64_t v = 0;
  std::memcpy(&v, d + kDirEntries + slot * kDirIdBytes, kDirIdBytes);
  return v;
}
inline void SetDirEntry(std::byte* d, std::uint64_t slot, PageId id) {
  std::memcpy(d + kDirEntries + slot * kDirIdBytes, &id, kDirIdBytes);
}
inline PageId IndexEntry(const std::byte* x, std::uint64_t slot) {
  return Get64(x, kDirEntries + 8 * slot);
}
inline void InitDirPage(std::byte* d, PageId owner, std::uint64_t number, std::uint16_t role) {
  Set64(d, kDirOwner, owner);
  Set32(d, kDirNumber, static_cast<std::uint32_t>(number));
  Set16(d, kDirRole, role);
}
inline bool IsDirPage(const std::byte* d, PageId owner, std::uint64_t number, std::uint16_t role) {
  return TypeOf(d) == PageType::kHashDirectory && Get64(d, kDirOwner) == owner &&
         Get32(d, kDirNumber) == number && Get16(d, kDirRole) == role;
}

// --- buckets
// A bucket or overflow page seen through its header; the caller holds it latched (writes: in a
// mini-transaction, which logs whatever bytes change).
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
    if (OutOfLineAt(off) && ValueLen(off) != kValueRefBytes) return false;
    return off + kCellHeader + Get16(p_, off) + ValueLen(off) <= kPageSize;
  }

  std::uint64_t hash(std::size_t i) const { return Get64(p_, SlotAt(i)); }
  std::string_view key(std::size_t i) const {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    return {reinterpret_cast<const char*>(p_ + off + kCellHeader), Get16(p_, off)};
  }
  // The value as stored: a large value's 16-byte reference when out_of_line(i).
  std::string_view value(std::size_t i) const {
    const std::size_t off = Get16(p_, SlotAt(i) + 8);
    return {reinterpret_cast<const char*>(p_ + off + kCellHeader + Get16(p_, off)), ValueLen(off)};
  }
  bool out_of_line(std::size_t i) const { return OutOfLineAt(Get16(p_, SlotAt(i) + 8)); }

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
  // `out_of_line`: `v` is a large value's reference.
  bool Insert(std::uint64_t h, std::string_view k, std::string_view v, bool out_of_line = false) {
    const std::size_t cell = kCellHeader + k.size() + v.size();
    if (FreeBytes() < cell + kSlotBytes) return false;
    std::size_t start = Get16(p_, kBktCellStart);
    if (start - (kBktSlots + count() * kSlotBytes) < cell + kSlotBytes) {
      Compact();
      start = Get16(p_, kBktCellStart);
    }
    const std::size_t off = start - cell;
    Set16(p_, off, static_cast<std::uint16_t>(k.size()));
    Set16(p_, off + 2, static_cast<std::uint16_t>(v.size() | (out_of_line ? kOutOfLine : 0)));
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
    const std::size_t cell = kCellHeader + Get16(p_, off) + ValueLen(off);
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
      const std::size_t cell =
          kCellHeader + Get16(copy.data(), off) + (Get16(copy.data(), off + 2) & ~kOutOfLine);
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
  // The value length field of the cell at `off`: bit 15 says the value is out of line.
  static constexpr std::uint16_t kOutOfLine = 0x8000;
  std::size_t ValueLen(std::size_t off) const { return Get16(p_, off + 2) & ~kOutOfLine; }
  bool OutOfLineAt(std::size_t off) const { return (Get16(p_, off + 2) & kOutOfLine) != 0; }
  std::byte* p_;
};

inline bool IsBucketOf(const std::byte* p, PageId owner, PageType type) {
  return TypeOf(p) == type && Bucket(p).owner() == owner && Bucket(p).Sane();
}

// A live bucket of the index anchored at `owner` whose prefix matches `hash`: the one bucket that
// can hold a key of that hash (live buckets partition the hashes by prefix).
inline bool HoldsHash(const std::byte* p, PageId owner, std::uint64_t hash) {
  return IsBucketOf(p, owner, PageType::kHashBucket) &&
         (hash & Mask(Bucket(p).depth())) == Bucket(p).prefix();
}

// The anchor's type and depths are in range (every path that reads the anchor checks this
// before using its depths as shifts or indexes). DataLossError naming the anchor otherwise.
[[nodiscard]] absl::Status CheckAnchor(PageId anchor, const std::byte* m);
// DataLossError: page `id` is not the `what` of index `anchor` it should be.
[[nodiscard]] absl::Status NotOurs(PageId anchor, PageId id, std::string_view what);

// Chains are bounded: at most this many pages (a longer one is taken for a loop).
inline constexpr std::size_t kMaxChainPages = 1 << 20;

}  // namespace pagestore::hash_internal
