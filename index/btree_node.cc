#include "index/btree_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

namespace pagestore {
namespace {

// memcpy of a string_view's bytes; an empty view may have a null data pointer.
void CopyBytes(std::byte* dst, std::string_view src) {
  if (!src.empty()) std::memcpy(dst, src.data(), src.size());
}

std::uint16_t Load16(const std::byte* p, std::size_t off) {
  std::uint16_t v;
  std::memcpy(&v, p + off, 2);
  return v;
}

}  // namespace

absl::Status CheckNode(PageId id, ConstPageSpan page, const KeyComparator& cmp) {
  const std::byte* p = page.data();
  auto bad = [&](std::string what) {
    return absl::DataLossError(fmt::format("B+tree page {} is malformed: {}", id, what));
  };
  const auto type = static_cast<PageType>(ReadPageHeader(page).type);
  if (type != PageType::kBTreeLeaf && type != PageType::kBTreeInternal) {
    return absl::DataLossError(
        fmt::format("page {} is not a B+tree node (type {})", id, PageTypeName(type)));
  }
  const std::uint16_t count = Load16(p, 32), slots_end = Load16(p, 34), cells = Load16(p, 36);
  const std::uint16_t level = Load16(p, 38), dead = Load16(p, 40);
  const bool leaf = level == 0;
  if (leaf != (type == PageType::kBTreeLeaf) || level > kMaxNodeLevel) {
    return bad(fmt::format("a {} at level {}", PageTypeName(type), level));
  }
  if (std::size_t{slots_end} != kNodeHeaderEnd + std::size_t{count} * kSlotSize ||
      slots_end > cells || cells > kPageSize) {
    return bad(fmt::format("{} slots, slot array ending at {}, cells starting at {}", count,
                           slots_end, cells));
  }
  if (dead > kPageSize - cells)
    return bad(fmt::format("{} dead bytes in a cell area of {}", dead, kPageSize - cells));
  const std::size_t header = leaf ? kLeafCellHeader : kInternalCellHeader;
  // (offset, size) of every cell; sorted below to find overlaps.
  std::array<std::pair<std::uint16_t, std::uint16_t>, kPageSize / 2> spans;
  std::size_t used = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint16_t off = Load16(p, kNodeHeaderEnd + i * kSlotSize);
    if (off < cells || std::size_t{off} + header > kPageSize) {
      return bad(fmt::format("slot {} points at {}, outside the cell area [{}, {})", i, off, cells,
                             kPageSize));
    }
    const std::size_t klen = Load16(p, off);
    const std::uint16_t vfield = leaf ? Load16(p, off + 2) : 0;
    const std::size_t vlen = vfield & ~kValueOutOfLine;
    if (klen > kMaxKeyBytes || klen + vlen > kMaxEntryBytes ||
        off + header + klen + vlen > kPageSize) {
      return bad(fmt::format("slot {}: a cell at {} of {} key and {} value bytes does not fit", i,
                             off, klen, vlen));
    }
    if ((vfield & kValueOutOfLine) != 0 && vlen != kOutOfLineRefBytes) {
      return bad(fmt::format("slot {}: an out-of-line value's reference of {} bytes, not {}", i,
                             vlen, kOutOfLineRefBytes));
    }
    spans[i] = {off, static_cast<std::uint16_t>(header + klen + vlen)};
    used += header + klen + vlen;
  }
  if (used + dead != kPageSize - std::size_t{cells}) {
    return bad(fmt::format("cells of {} bytes and {} dead bytes in a cell area of {}", used, dead,
                           kPageSize - cells));
  }
  std::sort(spans.begin(), spans.begin() + count);
  for (std::size_t i = 1; i < count; ++i) {
    if (spans[i - 1].first + spans[i - 1].second > spans[i].first) {
      return bad(fmt::format("cells at {} and {} overlap", spans[i - 1].first, spans[i].first));
    }
  }
  const Node n(const_cast<std::byte*>(p));
  for (std::size_t i = 1; i < count; ++i) {
    if (CompareKeys(cmp, n.key(i - 1), n.key(i)) >= 0) {
      return bad(fmt::format("keys {} and {} are out of order", i - 1, i));
    }
  }
  if (n.right() == id) return bad("its right sibling is itself");
  if (!leaf) {
    // Children: data pages, none of them the node itself, its sibling, or named twice.
    std::array<PageId, kPageSize / 2 + 1> kids;
    for (std::size_t i = 0; i <= count; ++i) {
      const PageId c = i == 0 ? n.leftmost_child() : n.child(i - 1);
      if (c < kFirstDataPage || c == id || (c == n.right() && c != kInvalidPageId)) {
        return bad(fmt::format("child {} is page {}", i, c));
      }
      kids[i] = c;
    }
    std::sort(kids.begin(), kids.begin() + count + 1);
    if (auto dup = std::adjacent_find(kids.begin(), kids.begin() + count + 1);
        dup != kids.begin() + count + 1) {
      return bad(fmt::format("it names child page {} twice", *dup));
    }
  }
  return absl::OkStatus();
}

void Node::Init(std::uint16_t level) {
  PageHeader h = ReadPageHeader(ConstPageSpan(p_, kPageSize));
  h.type = static_cast<std::uint16_t>(level == 0 ? PageType::kBTreeLeaf : PageType::kBTreeInternal);
  WritePageHeader(PageSpan(p_, kPageSize), h);
  std::memset(p_ + kPageHeaderSize, 0, kPageSize - kPageHeaderSize);
  Set16(32, 0);
  Set16(34, kNodeHeaderEnd);
  Set16(36, kPageSize);
  Set16(38, level);
}

std::size_t Node::CellSize(std::uint16_t off) const {
  const std::uint16_t klen = Get16(off);
  if (is_leaf()) return kLeafCellHeader + klen + (Get16(off + 2) & ~kValueOutOfLine);
  return kInternalCellHeader + klen;
}

int Node::IndexOfChild(PageId c) const {
  if (leftmost_child() == c) return -1;
  for (std::size_t i = 0; i < count(); ++i) {
    if (child(i) == c) return static_cast<int>(i);
  }
  return -2;
}

std::size_t Node::FreeBytes() const {
  // The gap between the slot array and the cells, plus deleted cells compaction would reclaim.
  return static_cast<std::size_t>(Get16(36) - Get16(34)) + Get16(40);
}

std::size_t Node::UsedBytes() const { return Capacity() - FreeBytes(); }

std::size_t Node::EntryBytes(std::size_t i) const { return CellSize(slot(i)) + kSlotSize; }

void Node::Compact() {
  std::array<std::byte, kPageSize> copy;
  std::memcpy(copy.data(), p_, kPageSize);
  const Node old(copy.data());
  std::uint16_t end = kPageSize;
  for (std::size_t i = 0; i < count(); ++i) {
    const std::uint16_t off = old.slot(i);
    const std::size_t size = old.CellSize(off);
    end = static_cast<std::uint16_t>(end - size);
    std::memcpy(p_ + end, copy.data() + off, size);
    set_slot(i, end);
  }
  // Zero the gap: freed bytes never linger in the page (smaller logs, no stale data on disk).
  const std::uint16_t slots_end = Get16(34);
  std::memset(p_ + slots_end, 0, end - slots_end);
  Set16(36, end);
  Set16(40, 0);
}

std::uint16_t Node::MakeRoom(std::size_t i, std::size_t cell) {
  if (FreeBytes() < cell + kSlotSize) return 0;
  if (static_cast<std::size_t>(Get16(36) - Get16(34)) < cell + kSlotSize) Compact();
  const std::uint16_t n = count();
  // Open slot i.
  std::byte* slots = p_ + kNodeHeaderEnd;
  std::memmove(slots + (i + 1) * kSlotSize, slots + i * kSlotSize, (n - i) * kSlotSize);
  const auto off = static_cast<std::uint16_t>(Get16(36) - cell);
  Set16(36, off);
  Set16(34, static_cast<std::uint16_t>(Get16(34) + kSlotSize));
  Set16(32, static_cast<std::uint16_t>(n + 1));
  set_slot(i, off);
  return off;
}

bool Node::InsertLeaf(std::size_t i, std::string_view k, std::string_view v, bool out_of_line) {
  const std::uint16_t off = MakeRoom(i, kLeafCellHeader + k.size() + v.size());
  if (off == 0) return false;
  Set16(off, static_cast<std::uint16_t>(k.size()));
  Set16(off + 2, static_cast<std::uint16_t>(v.size() | (out_of_line ? kValueOutOfLine : 0)));
  CopyBytes(p_ + off + kLeafCellHeader, k);
  CopyBytes(p_ + off + kLeafCellHeader + k.size(), v);
  return true;
}

bool Node::InsertInternal(std::size_t i, std::string_view k, PageId c) {
  const std::uint16_t off = MakeRoom(i, kInternalCellHeader + k.size());
  if (off == 0) return false;
  Set16(off, static_cast<std::uint16_t>(k.size()));
  Set64(off + 2, c);
  CopyBytes(p_ + off + kInternalCellHeader, k);
  return true;
}

bool Node::UpdateValue(std::size_t i, std::string_view v, bool out_of_line) {
  const std::uint16_t off = slot(i);
  const auto field = static_cast<std::uint16_t>(v.size() | (out_of_line ? kValueOutOfLine : 0));
  if (Get16(off + 2) == field) {
    CopyBytes(p_ + off + kLeafCellHeader + Get16(off), v);
    return true;
  }
  const std::string k(key(i));
  if (FreeBytes() + CellSize(off) < kLeafCellHeader + k.size() + v.size()) return false;
  Remove(i);
  return InsertLeaf(i, k, v, out_of_line);
}

void Node::Remove(std::size_t i) {
  const std::uint16_t off = slot(i);
  const std::size_t size = CellSize(off);
  std::memset(p_ + off, 0, size);
  const std::uint16_t n = count();
  std::byte* slots = p_ + kNodeHeaderEnd;
  std::memmove(slots + i * kSlotSize, slots + (i + 1) * kSlotSize, (n - i - 1) * kSlotSize);
  Set16(34, static_cast<std::uint16_t>(Get16(34) - kSlotSize));
  std::memset(p_ + Get16(34), 0, kSlotSize);
  Set16(32, static_cast<std::uint16_t>(n - 1));
  if (off == Get16(36)) {
    Set16(36, static_cast<std::uint16_t>(off + size));
  } else {
    Set16(40, static_cast<std::uint16_t>(Get16(40) + size));
  }
}

void Node::MoveTail(std::size_t from, Node& dst) {
  const std::size_t n = count();
  for (std::size_t i = from; i < n; ++i) {
    const std::size_t at = dst.count();
    if (is_leaf()) {
      dst.InsertLeaf(at, key(i), value(i), out_of_line(i));
    } else {
      dst.InsertInternal(at, key(i), child(i));
    }
  }
  for (std::size_t i = n; i > from; --i) Remove(i - 1);
  Compact();
}

bool Node::AppendAll(const Node& src) {
  if (FreeBytes() < src.UsedBytes()) return false;
  for (std::size_t i = 0; i < src.count(); ++i) {
    const std::size_t at = count();
    if (is_leaf()) {
      InsertLeaf(at, src.key(i), src.value(i), src.out_of_line(i));
    } else {
      InsertInternal(at, src.key(i), src.child(i));
    }
  }
  return true;
}

}  // namespace pagestore
