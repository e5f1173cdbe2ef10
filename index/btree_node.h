// B+tree pages: the slotted-page layout of leaf and internal nodes, the operations on one node
// that the tree is built from, and the anchor page's two fields. Pure functions of a page's bytes:
// no latching, no logging (the caller holds the page latched in a mini-transaction, which logs
// whatever bytes change). index/README.md gives the layout in prose.
//
// Layout (after the common 32-byte PageHeader):
//   offset 32  u16 slot count        offset 34  u16 end of the slot array (first free byte)
//   offset 36  u16 start of the cell area (cells grow down from the page end)
//   offset 38  u16 level (0 = leaf)  offset 40  u16 dead bytes (cells deleted, not yet compacted)
//   offset 42  u16 zero              offset 44  u32 zero
//   offset 48  u64 right sibling (leaves: the leaf chain)   offset 56  u64 zero (reserved)
//   offset 64  u64 leftmost child (internal nodes: the child for keys below the first separator)
//   offset 72  u64 zero              offset 80  slot array: u16 cell offsets, in key order
// Leaf cell:     u16 key length | u16 value length | key | value
//                (value length bit 15 set: the value is out of line, and the cell holds its
//                16-byte reference, index/value_pages.h)
// Internal cell: u16 key length | u64 child | key     (the child holds keys >= this separator)
//
// Thread safety: none; the caller's latch protects the page.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "storage/page.h"

namespace pagestore {

// Orders keys; returns <0, 0, >0 like memcmp. Must be a strict weak order, stable across runs
// (the tree's order is on disk). An empty KeyComparator means bytewise order, compared inline
// (the fast path; a custom comparator costs an indirect call per comparison).
using KeyComparator = std::function<int(std::string_view, std::string_view)>;
// Eight bytes at a time, as big-endian words (no call for the common case of keys that differ
// in their first bytes), then memcmp for the tail under eight bytes.
inline int BytewiseCompare(std::string_view a, std::string_view b) {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) {
      if constexpr (std::endian::native == std::endian::little) {
        x = __builtin_bswap64(x);
        y = __builtin_bswap64(y);
      }
      return x < y ? -1 : 1;
    }
  }
  if (i < n) {
    const int c = std::memcmp(a.data() + i, b.data() + i, n - i);
    if (c != 0) return c;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}
// Compares with `cmp`, or bytewise when it is empty.
inline int CompareKeys(const KeyComparator& cmp, std::string_view a, std::string_view b) {
  return cmp ? cmp(a, b) : BytewiseCompare(a, b);
}

inline constexpr std::size_t kNodeHeaderEnd = 80;
inline constexpr std::size_t kNodeLevelOffset = 38;
inline constexpr std::size_t kSlotSize = 2;
inline constexpr std::size_t kLeafCellHeader = 4;
inline constexpr std::size_t kInternalCellHeader = 10;
// Keys are at most this many bytes (InvalidArgumentError beyond).
inline constexpr std::size_t kMaxKeyBytes = 1024;
// The value length field's flag: the cell holds the reference to a value stored out of line.
inline constexpr std::uint16_t kValueOutOfLine = 0x8000;
inline constexpr std::size_t kOutOfLineRefBytes = 16;
// A cell's key + stored value is at most this many bytes: an entry whose key + value is larger
// keeps its value out of line (the cell then holds the key and a 16-byte reference). So every
// node holds at least three entries of the largest size.
inline constexpr std::size_t kMaxEntryBytes = kMaxKeyBytes + kOutOfLineRefBytes;
static_assert(3 * (kMaxEntryBytes + kInternalCellHeader + kSlotSize) <= kPageSize - kNodeHeaderEnd);
// Values are at most this many bytes.
inline constexpr std::size_t kMaxValueBytes = std::size_t{1} << 30;

// The B+tree's deepest possible level: far more than any file needs (merges keep nodes a quarter
// full, most hold dozens of entries; even two children per node would take 2^40 pages).
inline constexpr std::uint16_t kMaxNodeLevel = 40;

// Checks that `page` (page `id`) is a structurally sound node before anything reads or changes
// it through Node: its type agrees with its level; the slot array and the cell area lie inside
// the page and do not meet; every slot names a cell wholly inside the cell area, no two cells
// overlap, and the cells plus the dead bytes fill the cell area exactly (so compaction and
// insertion stay inside the page); keys within kMaxKeyBytes and cells within kMaxEntryBytes (an
// out-of-line value's reference exactly 16 bytes); keys are strictly
// increasing under `cmp`; an internal node's children are data pages other than itself; the
// right sibling is not the page itself. DataLossError naming the page and what is wrong.
// Cost: linear in the entries (a sort of the cell offsets and one comparison per key); callers
// run it once per page load (BufferPool::structure_checked), and Verify always.
[[nodiscard]] absl::Status CheckNode(PageId id, ConstPageSpan page, const KeyComparator& cmp);

class Node {
 public:
  explicit Node(std::byte* page) : p_(page) {}

  // Formats an empty node (keeps the common page header's id; sets its type).
  void Init(std::uint16_t level);

  std::uint16_t count() const { return Get16(32); }
  std::uint16_t level() const { return Get16(38); }
  // Where the slot array ends and the cell area starts (unchecked: CheckNode checks them).
  std::uint16_t slots_end() const { return Get16(34); }
  std::uint16_t cells_start() const { return Get16(36); }
  bool is_leaf() const { return level() == 0; }
  PageId right() const { return Get64(48); }
  PageId leftmost_child() const { return Get64(64); }
  void set_right(PageId id) { Set64(48, id); }
  void set_leftmost_child(PageId id) { Set64(64, id); }

  std::string_view key(std::size_t i) const {
    const std::uint16_t off = slot(i);
    const std::size_t header = is_leaf() ? kLeafCellHeader : kInternalCellHeader;
    return {reinterpret_cast<const char*>(p_ + off + header), Get16(off)};
  }
  // Leaf: the value as stored (the 16-byte reference when out of line).
  std::string_view value(std::size_t i) const {
    const std::uint16_t off = slot(i);
    return {reinterpret_cast<const char*>(p_ + off + kLeafCellHeader + Get16(off)),
            static_cast<std::size_t>(Get16(off + 2) & ~kValueOutOfLine)};
  }
  bool out_of_line(std::size_t i) const { return (Get16(slot(i) + 2) & kValueOutOfLine) != 0; }
  // Internal: the child right of separator i.
  PageId child(std::size_t i) const { return Get64(slot(i) + 2); }
  void set_child(std::size_t i, PageId id) { Set64(slot(i) + 2, id); }

  // The first index whose key is >= `key` (count() if none); `found` says whether it is equal.
  std::size_t LowerBound(std::string_view key, const KeyComparator& cmp, bool* found) const {
    return cmp ? LowerBoundWith(key, cmp, found) : LowerBoundWith(key, BytewiseCompare, found);
  }
  // Internal node: the child to descend into for `key`.
  PageId ChildFor(std::string_view key, const KeyComparator& cmp) const {
    return cmp ? ChildForWith(key, cmp) : ChildForWith(key, BytewiseCompare);
  }
  template <typename Cmp>
  std::size_t LowerBoundWith(std::string_view k, const Cmp& cmp, bool* found) const {
    std::size_t lo = 0, hi = count();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (cmp(key(mid), k) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (found != nullptr) *found = lo < count() && cmp(key(lo), k) == 0;
    return lo;
  }
  template <typename Cmp>
  PageId ChildForWith(std::string_view k, const Cmp& cmp) const {
    // The last separator <= key; none: the leftmost child.
    std::size_t lo = 0, hi = count();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (cmp(key(mid), k) <= 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo == 0 ? leftmost_child() : child(lo - 1);
  }
  // Internal node: the position of `child` (-1 for the leftmost child); -2 if absent.
  int IndexOfChild(PageId child) const;

  // Bytes free for new cells and slots if the node were compacted.
  std::size_t FreeBytes() const;
  static std::size_t LeafCellBytes(std::size_t key, std::size_t value) {
    return kLeafCellHeader + key + value + kSlotSize;
  }
  static std::size_t InternalCellBytes(std::size_t key) {
    return kInternalCellHeader + key + kSlotSize;
  }
  std::size_t UsedBytes() const;  // live cells and slots
  static constexpr std::size_t Capacity() { return kPageSize - kNodeHeaderEnd; }

  // Insert at position `i` (keeping key order is the caller's job). False when it does not fit
  // even after compaction; the node is then unchanged.
  // `out_of_line`: `value` is the reference to a value stored out of line.
  bool InsertLeaf(std::size_t i, std::string_view key, std::string_view value,
                  bool out_of_line = false);
  bool InsertInternal(std::size_t i, std::string_view key, PageId child);
  // Replaces entry i's value (leaf). False when the new value does not fit; unchanged then.
  bool UpdateValue(std::size_t i, std::string_view value, bool out_of_line = false);
  void Remove(std::size_t i);
  // Rewrites the cells contiguously at the end of the page (no dead bytes).
  void Compact();

  // Moves entries [from, count) to the empty node `dst` (same level), in order.
  void MoveTail(std::size_t from, Node& dst);
  // Appends all of `src`'s entries (same level, all keys greater) to this node; false (nothing
  // moved) when they do not fit.
  bool AppendAll(const Node& src);

  // The cell bytes of entry i as stored (for size accounting when splitting).
  std::size_t EntryBytes(std::size_t i) const;

 private:
  std::uint16_t Get16(std::size_t off) const {
    std::uint16_t v;
    std::memcpy(&v, p_ + off, 2);
    return v;
  }
  void Set16(std::size_t off, std::uint16_t v) { std::memcpy(p_ + off, &v, 2); }
  std::uint64_t Get64(std::size_t off) const {
    std::uint64_t v;
    std::memcpy(&v, p_ + off, 8);
    return v;
  }
  void Set64(std::size_t off, std::uint64_t v) { std::memcpy(p_ + off, &v, 8); }
  std::uint16_t slot(std::size_t i) const { return Get16(kNodeHeaderEnd + i * kSlotSize); }
  void set_slot(std::size_t i, std::uint16_t off) { Set16(kNodeHeaderEnd + i * kSlotSize, off); }
  std::size_t CellSize(std::uint16_t off) const;
  // Reserves `cell` bytes for a new cell and a slot at position i; returns the cell offset, or 0
  // when it does not fit.
  std::uint16_t MakeRoom(std::size_t i, std::size_t cell);

  std::byte* p_;
};

// A node below this many used bytes is merged with a sibling (or given entries) on delete.
inline constexpr std::size_t kMinNodeFill = Node::Capacity() / 4;

// The anchor page (kBTreeMeta): u64 root at 32, u32 height (levels above the leaves) at 40.
inline constexpr std::size_t kAnchorRootOffset = kPageHeaderSize;
inline constexpr std::size_t kAnchorHeightOffset = kPageHeaderSize + 8;
inline PageId AnchorRoot(const std::byte* p) {
  PageId id;
  std::memcpy(&id, p + kAnchorRootOffset, 8);
  return id;
}
inline std::uint32_t AnchorHeight(const std::byte* p) {
  std::uint32_t h;
  std::memcpy(&h, p + kAnchorHeightOffset, 4);
  return h;
}
inline void SetAnchor(std::byte* p, PageId root, std::uint32_t height) {
  std::memcpy(p + kAnchorRootOffset, &root, 8);
  std::memcpy(p + kAnchorHeightOffset, &height, 4);
}

}  // namespace pagestore
