// BTree::Get's optimistic descent (optimistic lock coupling): no latch taken, nothing shared
// written. Each node is read through an OptimisticPageGuard, the child's id is taken from the
// parent, the parent is validated, and only then is the child read; the leaf's value is copied
// out and validated before it is returned. Any failed validation restarts from the anchor; a
// miss, a node not yet structure-checked, a custom comparator, or a few restarts in a row fall
// back on the latched descent, which also reports every error.
//
// The bytes read between a guard's making and its validation may be torn, so every read here is
// bounds-checked against the page (TornSafeNode): garbage can make the search wrong, which
// validation then catches, but never make it read outside the frame.
#include <cstring>

#include "index/btree.h"
#include "index/btree_node.h"
#include "index/btree_torn_node.h"

namespace pagestore {

BTree::Optimistic BTree::GetOptimistic(std::string_view key, std::string* value) const {
  BufferPool& pool = store_.pool();
  OptimisticReadScope scope;
  OptimisticPageGuard parent;
  if (!pool.TryReadOptimistic(anchor_, &parent)) return Optimistic::kFallBack;
  const std::byte* a = parent.data().data();
  std::uint16_t type;
  std::memcpy(&type, a + offsetof(PageHeader, type), sizeof type);
  PageId id = AnchorRoot(a);
  std::uint32_t expect = AnchorHeight(a);
  if (type != static_cast<std::uint16_t>(PageType::kBTreeMeta) || expect > kMaxNodeLevel) {
    return parent.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
  }
  for (;;) {
    // Coupling: the child's version is taken before the parent is validated, so the pointer
    // followed was current when the child was first seen; any later change to the child (a
    // split, a merge, a free and reuse) moves the child's version and fails its validation.
    OptimisticPageGuard g;
    const bool resident = pool.TryReadOptimistic(id, &g);
    if (!parent.Validate()) return Optimistic::kRestart;
    if (!resident) return Optimistic::kFallBack;  // a miss, or a writer holds it
    const std::byte* p = g.data().data();
    std::uint16_t node_type;
    std::memcpy(&node_type, p + offsetof(PageHeader, type), sizeof node_type);
    // Only nodes the latched path has checked since they entered their frame (the flag is
    // dropped whenever the bytes come from elsewhere), of the type and level the parent implies.
    const auto want = expect == 0 ? PageType::kBTreeLeaf : PageType::kBTreeInternal;
    const bool sound = pool.structure_checked(p) && node_type == static_cast<std::uint16_t>(want) &&
                       TornLoad16(p, kNodeLevelOffset) == expect;
    if (!sound) return g.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
    TornSafeNode n(p);
    const std::size_t lo = n.Search(key);
    if (n.leaf()) {
      const bool found = lo < n.count() && n.key(lo) == key;
      if (found) value->assign(n.value(lo));
      if (n.torn() || !g.Validate()) return Optimistic::kRestart;
      return found ? Optimistic::kFound : Optimistic::kNotFound;
    }
    id = lo == 0 ? n.leftmost_child() : n.child(lo - 1);
    if (n.torn()) return Optimistic::kRestart;
    parent = g;
    --expect;
  }
}

}  // namespace pagestore
