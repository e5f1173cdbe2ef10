// BTree::MoveBelow (index/btree.h): a B+tree's part of Store::Compact. Level by level from the
// root, every node at or above the limit moves to a free page below it in a system
// mini-transaction that also points its parent (or the anchor) and its left neighbour on the
// same level (the leaf chain) at the new page; then the large values' pages move
// (index_internal::MoveValueBelow). Each move is one logged, atomic change, as a split is.
#include <fmt/format.h>

#include <optional>
#include <vector>

#include "absl/strings/escaping.h"
#include "index/btree.h"
#include "index/btree_node.h"
#include "index/value_pages.h"

namespace pagestore {

absl::Status BTree::MoveBelow(PageId limit) {
  absl::StatusOr<BTreeAnchorView> anchor = ReadAnchor();
  if (!anchor.ok()) return anchor.status();
  PageId root = anchor->root;
  const std::uint32_t height = anchor->height;
  if (root >= limit) {
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<PageSpan> a = mtr.GetForWrite(anchor_);
    if (!a.ok()) return a.status();
    absl::StatusOr<PageId> moved = mtr.Relocate(root);
    if (!moved.ok()) return moved.status();
    SetAnchor(a->data(), *moved, height);
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
    root = *moved;
  }
  std::vector<PageId> level{root};  // the nodes of one level, in key order
  for (int l = static_cast<int>(height); l > 0; --l) {
    std::vector<PageId> below;
    PageId left = kInvalidPageId;  // the node before, on the level below
    for (PageId parent : level) {
      std::vector<PageId> children;
      {
        absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(parent);
        if (!g.ok()) return g.status();
        if (absl::Status s = CheckedNode(parent, g->data().data(), l); !s.ok()) return s;
        const Node n(const_cast<std::byte*>(g->data().data()));
        children.push_back(n.leftmost_child());
        for (std::size_t i = 0; i < n.count(); ++i) children.push_back(n.child(i));
      }
      for (PageId child : children) {
        if (child >= limit) {
          MiniTransaction mtr = store_.BeginMtr();
          absl::StatusOr<PageSpan> p = mtr.GetForWrite(parent);
          if (!p.ok()) return p.status();
          Node n(p->data());
          const int at = n.IndexOfChild(child);
          if (at == -2) {
            return absl::DataLossError(
                fmt::format("B+tree {}: node {} no longer names child {} while it moves", anchor_,
                            parent, child));
          }
          // Left to right on the child's level: the left neighbour, then the child.
          std::optional<Node> ln;
          if (left != kInvalidPageId) {
            absl::StatusOr<PageSpan> lp = mtr.GetForWrite(left);
            if (!lp.ok()) return lp.status();
            ln.emplace(lp->data());
            if (l == 1 && ln->right() != child) {
              return absl::DataLossError(
                  fmt::format("B+tree {}: leaf {} links to {} where its level has {} next", anchor_,
                              left, ln->right(), child));
            }
          }
          absl::StatusOr<PageId> moved = mtr.Relocate(child);
          if (!moved.ok()) return moved.status();
          if (at == -1) {
            n.set_leftmost_child(*moved);
          } else {
            n.set_child(static_cast<std::size_t>(at), *moved);
          }
          if (ln && ln->right() == child) ln->set_right(*moved);
          if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
          child = *moved;
        }
        below.push_back(child);
        left = child;
      }
    }
    level = std::move(below);
  }
  // The leaves' large values.
  for (PageId leaf : level) {
    std::vector<std::pair<std::size_t, index_internal::ValueRef>> refs;  // slot, reference
    {
      absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(leaf);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckedNode(leaf, g->data().data(), 0); !s.ok()) return s;
      const Node n(const_cast<std::byte*>(g->data().data()));
      for (std::size_t i = 0; i < n.count(); ++i) {
        if (!n.out_of_line(i)) continue;
        absl::StatusOr<index_internal::ValueRef> ref = index_internal::DecodeValueRef(n.value(i));
        if (!ref.ok()) return ref.status();
        refs.emplace_back(i, *ref);
      }
    }
    for (const auto& [slot, ref] : refs) {
      // A moved head is renamed in the leaf's reference, in the move's mini-transaction.
      auto rename = [&, slot = slot, ref = ref](MiniTransaction& mtr, PageId head) -> absl::Status {
        absl::StatusOr<PageSpan> p = mtr.GetForWrite(leaf);
        if (!p.ok()) return p.status();
        Node n(p->data());
        const std::string old = index_internal::EncodeValueRef(ref);
        if (slot >= n.count() || !n.out_of_line(slot) || n.value(slot) != old) {
          return absl::DataLossError(
              fmt::format("B+tree {}: leaf {} no longer holds the value at page {} while it moves",
                          anchor_, leaf, ref.head));
        }
        index_internal::ValueRef moved = ref;
        moved.head = head;
        if (!n.UpdateValue(slot, index_internal::EncodeValueRef(moved), /*out_of_line=*/true)) {
          return absl::InternalError("a reference of the same size did not fit its cell");
        }
        return absl::OkStatus();
      };
      if (absl::Status s = index_internal::MoveValueBelow(store_, anchor_, ref, limit, rename);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status BTree::ReplaceValueIn(MiniTransaction& mtr, std::string_view key,
                                   std::string_view value) {
  // Down the key's path through `mtr`, which may hold some of these pages already (a rename of
  // another key in the same mini-transaction); nothing else runs (exclusive).
  absl::StatusOr<ConstPageSpan> a = mtr.GetForRead(anchor_);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::uint32_t> height = CheckedAnchor(a->data());
  if (!height.ok()) return height.status();
  PageId leaf = AnchorRoot(a->data());
  for (int level = static_cast<int>(*height); level > 0; --level) {
    absl::StatusOr<ConstPageSpan> node = mtr.GetForRead(leaf);
    if (!node.ok()) return node.status();
    if (absl::Status s = CheckedNode(leaf, node->data(), level); !s.ok()) return s;
    leaf = Node(const_cast<std::byte*>(node->data())).ChildFor(key, options_.comparator);
  }
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(leaf);
  if (!p.ok()) return p.status();
  if (absl::Status s = CheckedNode(leaf, p->data(), 0); !s.ok()) return s;
  Node n(p->data());
  bool found = false;
  const std::size_t i = n.LowerBound(key, options_.comparator, &found);
  if (!found) {
    return absl::NotFoundError(
        fmt::format("B+tree {}: no key \"{}\" to replace the value of", anchor_,
                    absl::CHexEscape(absl::string_view(key.data(), key.size()))));
  }
  if (n.out_of_line(i) || n.value(i).size() != value.size()) {
    return absl::InvalidArgumentError(
        fmt::format("B+tree {}: the value of \"{}\" is {} bytes{}, not {}: not replaced in place",
                    anchor_, absl::CHexEscape(absl::string_view(key.data(), key.size())),
                    n.value(i).size(), n.out_of_line(i) ? " out of line" : "", value.size()));
  }
  if (!n.UpdateValue(i, value)) {
    return absl::InternalError("a value of the same size did not fit its cell");
  }
  return absl::OkStatus();
}

}  // namespace pagestore
