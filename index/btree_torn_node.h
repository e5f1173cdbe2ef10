// TornSafeNode: a B+tree node's search over bytes that may be torn (read optimistically while a
// writer may be changing them). Internal to index/ (not installed).
//
// Every slot, cell header, key, value and child is read only if it lies wholly inside the page;
// otherwise torn() turns true and an empty key (or page 0) stands in, so a search over garbage
// ends, stays inside the page, and its caller restarts. It checks nothing else: a search over
// garbage that stays inside the page gives a garbage answer, which the caller's validation
// throws away.
//
// Thread safety: none of its own; the bytes' consistency is the caller's validation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "index/btree_node.h"
#include "storage/page.h"

namespace pagestore {

inline std::uint16_t TornLoad16(const std::byte* p, std::size_t off) {
  std::uint16_t v;
  std::memcpy(&v, p + off, 2);
  return v;
}

// A node's search over bytes that may be torn: each slot, cell header, key, value and child is
// read only if it lies inside the page; otherwise `torn` is set and an empty key (or page 0) is
// used, so the search ends, and the caller restarts.
class TornSafeNode {
 public:
  explicit TornSafeNode(const std::byte* p) : p_(p) {
    count_ = TornLoad16(p, 32);
    leaf_ = TornLoad16(p, kNodeLevelOffset) == 0;
    if (kNodeHeaderEnd + std::size_t{count_} * kSlotSize > kPageSize) {
      torn_ = true;
      count_ = 0;
    }
  }
  bool torn() const { return torn_; }
  bool leaf() const { return leaf_; }
  std::size_t count() const { return count_; }

  std::string_view key(std::size_t i) {
    const std::size_t off = TornLoad16(p_, kNodeHeaderEnd + i * kSlotSize);
    const std::size_t header = leaf_ ? kLeafCellHeader : kInternalCellHeader;
    if (off + header > kPageSize) return Torn();
    const std::size_t len = TornLoad16(p_, off);
    if (off + header + len > kPageSize) return Torn();
    return {reinterpret_cast<const char*>(p_ + off + header), len};
  }
  // The value as stored; *out_of_line says whether it is a large value's reference.
  std::string_view value(std::size_t i, bool* out_of_line) {
    const std::size_t off = TornLoad16(p_, kNodeHeaderEnd + i * kSlotSize);
    if (off + kLeafCellHeader > kPageSize) return Torn();
    const std::size_t klen = TornLoad16(p_, off);
    const std::uint16_t field = TornLoad16(p_, off + 2);
    const std::size_t vlen = field & ~kValueOutOfLine;
    *out_of_line = (field & kValueOutOfLine) != 0;
    if (off + kLeafCellHeader + klen + vlen > kPageSize) return Torn();
    return {reinterpret_cast<const char*>(p_ + off + kLeafCellHeader + klen), vlen};
  }
  PageId child(std::size_t i) {
    const std::size_t off = TornLoad16(p_, kNodeHeaderEnd + i * kSlotSize);
    if (off + 2 + 8 > kPageSize) {
      torn_ = true;
      return kInvalidPageId;
    }
    PageId id;
    std::memcpy(&id, p_ + off + 2, 8);
    return id;
  }
  // Bytewise: the first index whose key is >= `key` in a leaf; in an internal node, one past the
  // last separator <= `key` (< `key` when `below`; 0: the leftmost child).
  std::size_t Search(std::string_view key, bool below = false) {
    std::size_t lo = 0, hi = count_;
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      const int c = BytewiseCompare(this->key(mid), key);
      if ((leaf_ || below) ? c < 0 : c <= 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  PageId leftmost_child() const {
    PageId id;
    std::memcpy(&id, p_ + 64, 8);
    return id;
  }

 private:
  std::string_view Torn() {
    torn_ = true;
    return {};
  }

  const std::byte* p_;
  std::size_t count_ = 0;
  bool leaf_ = false;
  bool torn_ = false;
};

}  // namespace pagestore
