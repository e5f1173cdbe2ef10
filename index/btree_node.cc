#include "index/btree_node.h"

#include <algorithm>
#include <array>
#include <vector>

namespace pagestore {
namespace {

// memcpy of a string_view's bytes; an empty view may have a null data pointer.
void CopyBytes(std::byte* dst, std::string_view src) {
  if (!src.empty()) std::memcpy(dst, src.data(), src.size());
}

}  // namespace

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
  if (is_leaf()) return kLeafCellHeader + klen + Get16(off + 2);
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

bool Node::InsertLeaf(std::size_t i, std::string_view k, std::string_view v) {
  const std::uint16_t off = MakeRoom(i, kLeafCellHeader + k.size() + v.size());
  if (off == 0) return false;
  Set16(off, static_cast<std::uint16_t>(k.size()));
  Set16(off + 2, static_cast<std::uint16_t>(v.size()));
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

bool Node::UpdateValue(std::size_t i, std::string_view v) {
  const std::uint16_t off = slot(i);
  if (Get16(off + 2) == v.size()) {
    CopyBytes(p_ + off + kLeafCellHeader + Get16(off), v);
    return true;
  }
  const std::string k(key(i));
  if (FreeBytes() + CellSize(off) < kLeafCellHeader + k.size() + v.size()) return false;
  Remove(i);
  return InsertLeaf(i, k, v);
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
      dst.InsertLeaf(at, key(i), value(i));
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
      InsertLeaf(at, src.key(i), src.value(i));
    } else {
      InsertInternal(at, src.key(i), src.child(i));
    }
  }
  return true;
}

}  // namespace pagestore
