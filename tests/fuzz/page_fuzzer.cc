// Fuzz target `page`: one fuzzed 4096-byte page through every page decoder.
//  - CheckNode (index/btree_node.h). When it accepts the page, every Node accessor must stay
//    inside it, and Compact, InsertLeaf/InsertInternal, UpdateValue, Remove, MoveTail and
//    AppendAll on copies must stay inside them and leave nodes CheckNode still accepts.
//  - DecodeHashPage (index/hash_index.h).
//  - The superblock: DecodeSuperblock of the page as either copy, ChooseSuperblock against a
//    valid copy and against itself.
//  - Free-list trunks: the tool's ReadFreeList over a memory file holding the page as a trunk.
// Input: u8 flags | u16 page id selector | the page (zero-filled to 4096 bytes).
//   flags bit 0: reseal the page (SealPage) so checksums hold; bit 1: a custom comparator
//   (reverse bytewise) instead of the inline bytewise one; bits 2-3: which key to insert.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "index/btree_node.h"
#include "index/hash_index.h"
#include "storage/memory_disk_manager.h"
#include "storage/superblock.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/inspect.h"

namespace pagestore::fuzz {
namespace {

using AlignedPage = std::array<std::byte, kPageSize>;

void Require(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.ToString());
}

// Reads every byte Node hands out, so ASan sees any view outside the page.
std::size_t Touch(std::string_view v) {
  std::size_t sum = 0;
  for (char c : v) sum += static_cast<unsigned char>(c);
  return sum;
}

// A data page id that is neither the node, its right sibling nor one of its children (CheckNode
// refuses each as a new child).
PageId UnusedChild(const Node& n, PageId id) {
  std::vector<PageId> used{id, n.right(), n.leftmost_child()};
  for (std::size_t i = 0; i < n.count(); ++i) used.push_back(n.child(i));
  std::sort(used.begin(), used.end());
  PageId c = kFirstDataPage;
  for (PageId u : used) {
    if (u == c) ++c;
    if (u > c) break;
  }
  return c;
}

void ExerciseNode(PageId id, const AlignedPage& page, const KeyComparator& cmp,
                  std::uint8_t which_key) {
  Node n(const_cast<std::byte*>(page.data()));
  std::size_t sink = n.FreeBytes() + n.UsedBytes() + n.level() + n.right();
  const std::size_t count = n.count();
  for (std::size_t i = 0; i < count; ++i) {
    sink += Touch(n.key(i)) + n.EntryBytes(i);
    if (n.is_leaf()) {
      sink += Touch(n.value(i));
    } else {
      sink += n.child(i);
    }
  }
  // Lookups of a key from the page, one before everything, one after.
  std::string probe = count > 0 ? std::string(n.key(count / 2)) : "k";
  for (const std::string& k : {probe, std::string(), std::string(16, '\xff'), probe + "0"}) {
    bool found = false;
    sink += n.LowerBound(k, cmp, &found);
    if (!n.is_leaf()) sink += n.ChildFor(k, cmp);
  }
  if (!n.is_leaf()) {
    sink += static_cast<std::size_t>(n.IndexOfChild(n.leftmost_child()) + 2);
    if (count > 0) sink += static_cast<std::size_t>(n.IndexOfChild(n.child(count - 1)) + 2);
  }
  (void)sink;

  auto recheck = [&](const AlignedPage& copy, const char* after) {
    Require(CheckNode(id, ConstPageSpan(copy.data(), kPageSize), cmp),
            std::string("CheckNode after ") + after);
  };
  {
    AlignedPage copy = page;
    Node c(copy.data());
    c.Compact();
    recheck(copy, "Compact");
    if (c.FreeBytes() != n.FreeBytes() || c.count() != count) Fail("Compact changed the node");
  }
  // A key not in the node at its place in the order: insertion must keep the node sound.
  const std::string keys[4] = {probe + "0", "", std::string(40, 'k'), std::string(900, 'z')};
  const std::string& key = keys[which_key & 3];
  {
    AlignedPage copy = page;
    Node c(copy.data());
    bool found = false;
    const std::size_t at = c.LowerBound(key, cmp, &found);
    if (!found) {
      const bool ok =
          c.is_leaf() ? c.InsertLeaf(at, key, "v") : c.InsertInternal(at, key, UnusedChild(n, id));
      if (ok) {
        recheck(copy, "an insert");
      } else if (copy != page) {
        Fail("a refused insert changed the node");
      }
    }
  }
  if (count > 0) {
    {
      AlignedPage copy = page;
      Node c(copy.data());
      c.Remove(count / 2);
      recheck(copy, "Remove");
      if (c.count() != count - 1) Fail("Remove did not remove");
    }
    if (n.is_leaf()) {
      AlignedPage copy = page;
      Node c(copy.data());
      if (c.UpdateValue(0, std::string(which_key * 7u, 'u'))) recheck(copy, "UpdateValue");
    }
    {
      // Split the entries over two nodes, then put them back together.
      AlignedPage left = page, right{};
      std::memcpy(right.data(), page.data(), kPageHeaderSize);
      Node l(left.data()), r(right.data());
      r.Init(n.level());
      // As a split sets it (from the separator that moves up): a page not in the node.
      if (!r.is_leaf()) r.set_leftmost_child(UnusedChild(n, id));
      l.MoveTail(count / 2, r);
      recheck(left, "MoveTail (left)");
      recheck(right, "MoveTail (right)");
      if (l.AppendAll(r)) recheck(left, "AppendAll");
    }
  }
}

void FuzzNode(PageId id, const AlignedPage& page, std::uint8_t flags) {
  static const KeyComparator reverse = [](std::string_view a, std::string_view b) {
    return -BytewiseCompare(a, b);
  };
  const KeyComparator none;
  const KeyComparator& cmp = (flags & 2) ? reverse : none;
  if (CheckNode(id, ConstPageSpan(page.data(), kPageSize), cmp).ok()) {
    ExerciseNode(id, page, cmp, static_cast<std::uint8_t>(flags >> 2));
  }
}

void FuzzHashPage(const AlignedPage& page) {
  std::optional<HashPageView> v = DecodeHashPage(ConstPageSpan(page.data(), kPageSize));
  if (!v) return;
  std::size_t sink = v->problem.size();
  for (const auto& [name, value] : v->fields) sink += name.size() + value;
  for (const auto& e : v->entries) sink += Touch(e.key) + Touch(e.value) + e.hash;
  for (const auto& [at, id] : v->ids) sink += at + id;
  (void)sink;
}

void FuzzSuperblock(const AlignedPage& page, std::uint8_t flags) {
  for (PageId copy = 0; copy < 2; ++copy) {
    AlignedPage p = page;
    if (flags & 1) SealPage(copy, PageSpan(p.data(), kPageSize));
    (void)DecodeSuperblock(copy, ConstPageSpan(p.data(), kPageSize), "fuzz.pages");
  }
  AlignedPage p0 = page, p1 = page, valid{};
  if (flags & 1) {
    SealPage(0, PageSpan(p0.data(), kPageSize));
    SealPage(1, PageSpan(p1.data(), kPageSize));
  }
  Superblock sb;
  sb.sequence = 1;
  sb.page_count = 8;
  EncodeSuperblock(sb, PageSpan(valid.data(), kPageSize));  // copy 1
  (void)ChooseSuperblock(ConstPageSpan(p0.data(), kPageSize),
                         ConstPageSpan(valid.data(), kPageSize), "fuzz.pages");
  (void)ChooseSuperblock(ConstPageSpan(p0.data(), kPageSize), ConstPageSpan(p1.data(), kPageSize),
                         "fuzz.pages");
}

// A memory file of 8 pages whose pages 2 and 3 hold the fuzzed page as a trunk, sealed for each
// (so a chain 2 -> 3 -> 2 loops); read through the tool's decoder of the chain.
void FuzzTrunk(const AlignedPage& page, std::uint8_t flags) {
  static std::shared_ptr<MemoryFile> file;
  static std::unique_ptr<MemoryDiskManager> disk;
  if (disk == nullptr) {
    file = std::make_shared<MemoryFile>("fuzz.pages");
    absl::StatusOr<std::unique_ptr<MemoryDiskManager>> dm = MemoryDiskManager::Open(file);
    if (!dm.ok()) Fail(dm.status().ToString());
    while ((*dm)->page_count() < 8) {
      if (!(*dm)->AllocatePage().ok()) Fail("AllocatePage");
    }
    disk = std::move(*dm);
  }
  for (PageId id : {PageId{2}, PageId{3}}) {
    std::byte* p = file->MutablePage(id);
    std::memcpy(p, page.data(), kPageSize);
    if (flags & 1) SealPage(id, PageSpan(p, kPageSize));
  }
  absl::StatusOr<tools::FreeList> list = tools::ReadFreeList(*disk, 2);
  if (list.ok() && list->trunks.size() > disk->page_count() + 1) Fail("a trunk chain ran on");
}

}  // namespace
}  // namespace pagestore::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pagestore;
  using namespace pagestore::fuzz;
  FuzzReader in(data, size);
  const std::uint8_t flags = in.U8();
  const PageId id = kFirstDataPage + in.U16() % 64;
  alignas(kPageSize) AlignedPage page{};
  const std::span<const std::byte> bytes = in.Bytes(kPageSize);
  std::copy(bytes.begin(), bytes.end(), page.begin());
  if (flags & 1) SealPage(id, PageSpan(page.data(), kPageSize));
  FuzzNode(id, page, flags);
  FuzzHashPage(page);
  FuzzSuperblock(page, flags);
  FuzzTrunk(page, flags);
  return 0;
}
