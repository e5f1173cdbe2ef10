// The B+tree's optimistic descent (optimistic lock coupling): no latch taken, nothing shared
// written. Each node is read through an OptimisticPageGuard, the child's id is taken from the
// parent, the parent is validated, and only then is the child read. Get copies the leaf's value
// out and validates the leaf; writers and iterators take the leaf's id from its validated
// parent, latch the leaf, and validate the parent again (so the leaf still covers the key:
// anything that changes a leaf's range changes its parent). Any failed validation restarts from
// the root; a miss, a node not yet structure-checked, a custom comparator, or a few restarts in
// a row fall back on the latched descent, which also reports every error.
//
// The descent starts from the root hint (btree_root_hint.h) while the anchor's frame is
// unchanged since the hint was taken, so a get does not read the anchor page; otherwise it reads
// the anchor optimistically and refreshes the hint.
//
// The bytes read between a guard's making and its validation may be torn, so every read here is
// bounds-checked against the page (TornSafeNode): garbage can make the search wrong, which
// validation then catches, but never make it read outside the frame.
#include <cstring>
#include <optional>
#include <string>

#include "index/btree.h"
#include "index/btree_node.h"
#include "index/btree_torn_node.h"
#include "index/value_pages.h"

namespace pagestore {

namespace {

// A node above the one being read: validated after the child's snapshot is taken.
struct Above {
  const FrameLatch* latch;
  std::uint64_t snapshot;
  bool Validate() const { return latch->Validate(snapshot); }
};

// The child of internal node `n` that `pick` says (btree.h); its lower bound into *lower.
PageId PickChild(TornSafeNode& n, const std::string_view* key, bool below,
                 std::optional<std::string>* lower) {
  std::size_t i;
  if (key == nullptr) {
    i = below ? n.count() : 0;
  } else {
    i = n.Search(*key, below);
  }
  if (i == 0) return n.leftmost_child();
  if (lower != nullptr) *lower = std::string(n.key(i - 1));
  return n.child(i - 1);
}

}  // namespace

BTree::Optimistic BTree::DescendOptimistic(const std::string_view* key, std::uint16_t level,
                                           OptimisticPageGuard* node, Pick pick,
                                           std::optional<std::string>* lower, PageId* miss) const {
  BufferPool& pool = store_.pool();
  Above above;
  PageId id;
  std::uint32_t expect;
  index_internal::RootHint::Value hint;
  if (root_hint_.Load(&hint) && hint.anchor_latch->Validate(hint.anchor_snapshot)) [[likely]] {
    above = {hint.anchor_latch, hint.anchor_snapshot};
    id = hint.root;
    expect = hint.height;
  } else {
    OptimisticPageGuard a;
    if (!pool.TryReadOptimistic(anchor_, &a)) {
      if (miss != nullptr && !pool.IsResident(anchor_)) *miss = anchor_;
      return Optimistic::kFallBack;
    }
    const std::byte* p = a.data().data();
    std::uint16_t type;
    std::memcpy(&type, p + offsetof(PageHeader, type), sizeof type);
    id = AnchorRoot(p);
    expect = AnchorHeight(p);
    if (type != static_cast<std::uint16_t>(PageType::kBTreeMeta) || expect > kMaxNodeLevel) {
      return a.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
    }
    if (!a.Validate()) return Optimistic::kRestart;
    root_hint_.Store({a.latch(), a.snapshot(), id, expect});
    above = {a.latch(), a.snapshot()};
  }
  if (expect < level) return above.Validate() ? Optimistic::kNotFound : Optimistic::kRestart;
  for (;;) {
    // Coupling: the child's version is taken before the node above is validated, so the pointer
    // followed was current when the child was first seen; any later change to the child (a
    // split, a merge, a free and reuse) moves the child's version and fails its validation.
    OptimisticPageGuard g;
    const bool resident = pool.TryReadOptimistic(id, &g);
    if (!above.Validate()) return Optimistic::kRestart;
    if (!resident) {  // a miss, or a writer holds it
      if (miss != nullptr && !pool.IsResident(id)) *miss = id;
      return Optimistic::kFallBack;
    }
    const std::byte* p = g.data().data();
    std::uint16_t node_type;
    std::memcpy(&node_type, p + offsetof(PageHeader, type), sizeof node_type);
    // Only nodes the latched path has checked since they entered their frame (the flag is
    // dropped whenever the bytes come from elsewhere), of the type and level the parent implies.
    const auto want = expect == 0 ? PageType::kBTreeLeaf : PageType::kBTreeInternal;
    const bool sound = pool.structure_checked(p) && node_type == static_cast<std::uint16_t>(want) &&
                       TornLoad16(p, kNodeLevelOffset) == expect;
    if (!sound) return g.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
    if (expect == level) {
      *node = g;
      return Optimistic::kFound;
    }
    TornSafeNode n(p);
    id = PickChild(n, key, pick == Pick::kBelow, lower);
    if (n.torn()) return Optimistic::kRestart;
    above = {g.latch(), g.snapshot()};
    --expect;
  }
}

BTree::Optimistic BTree::GetOptimistic(std::string_view key, std::string* value,
                                       PageId* miss) const {
  OptimisticPageGuard g;
  bool found = false, out_of_line = false;
  {
    OptimisticReadScope scope;
    const Optimistic r = DescendOptimistic(&key, 0, &g, Pick::kCover, nullptr, miss);
    if (r != Optimistic::kFound) return r == Optimistic::kNotFound ? Optimistic::kFallBack : r;
    TornSafeNode n(g.data().data());
    const std::size_t lo = n.Search(key);
    found = lo < n.count() && n.key(lo) == key;
    if (found) value->assign(n.value(lo, &out_of_line));
    if (n.torn() || !g.Validate()) return Optimistic::kRestart;
  }
  if (!out_of_line) return found ? Optimistic::kFound : Optimistic::kNotFound;
  // A large value: its reference was in the leaf when the leaf validated. Its pages are read
  // (latched one at a time), then the leaf validated again: unchanged, it still names them, so
  // nothing freed them meanwhile. An error is reported by the latched path.
  const std::string reference = *value;
  // A value too large for a good part of the pool would evict the leaf while it is read (and
  // fail the validation every time): the latched path reads it with the leaf held.
  if (!index_internal::ReadOptimistically(reference, store_.pool())) return Optimistic::kFallBack;
  if (!ReadLargeValue(reference, value).ok()) {
    return g.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
  }
  return g.Validate() ? Optimistic::kFound : Optimistic::kRestart;
}

BTree::Optimistic BTree::LeafOptimistic(const std::string_view* key, PageId* leaf,
                                        OptimisticPageGuard* parent, Pick pick,
                                        std::optional<std::string>* lower) const {
  if (options_.comparator) return Optimistic::kFallBack;
  OptimisticReadScope scope;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (lower != nullptr) lower->reset();
    OptimisticPageGuard g;
    const Optimistic r = DescendOptimistic(key, 1, &g, pick, lower);
    if (r == Optimistic::kRestart) continue;
    if (r != Optimistic::kFound) return r;
    TornSafeNode n(g.data().data());
    const PageId child = PickChild(n, key, pick == Pick::kBelow, lower);
    if (n.torn() || !g.Validate()) continue;
    *leaf = child;
    *parent = g;
    return Optimistic::kFound;
  }
  return Optimistic::kFallBack;
}

}  // namespace pagestore
