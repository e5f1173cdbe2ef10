// The B+tree's pessimistic writes (index/README.md, latch protocol 4): a change that may split or
// merge latches the path from the highest node it can reach down to the leaf exclusively
// (LatchPath), changes the leaf, then splits upward (SplitUp: a full node, then each full
// ancestor, and a new root when the root splits) or, after a delete, rebalances upward
// (Rebalance: an underfull node merges with a sibling, takes entries from it or rotates one
// through the parent; a root left with a single child hands the root down). Every step runs in
// the caller's mini-transaction, which holds the latches to its commit.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "index/btree.h"
#include "index/index_change.h"

namespace pagestore {
namespace {

constexpr std::size_t kMaxLeafCell = kLeafCellHeader + kMaxEntryBytes + kSlotSize;
constexpr std::size_t kMaxInternalCell = kInternalCellHeader + kMaxEntryBytes + kSlotSize;

struct Entry {
  std::string key;
  std::string value;  // as stored
  PageId child = kInvalidPageId;
  bool out_of_line = false;
};

std::vector<Entry> Entries(const Node& n) {
  std::vector<Entry> out(n.count());
  for (std::size_t i = 0; i < n.count(); ++i) {
    out[i].key = std::string(n.key(i));
    if (n.is_leaf()) {
      out[i].value = std::string(n.value(i));
      out[i].out_of_line = n.out_of_line(i);
    } else {
      out[i].child = n.child(i);
    }
  }
  return out;
}

std::size_t Bytes(const Entry& e, bool leaf) {
  return leaf ? Node::LeafCellBytes(e.key.size(), e.value.size())
              : Node::InternalCellBytes(e.key.size());
}

// Where to cut `entries` in two of about equal bytes: the first entry of the right part, at least
// 1 and leaving at least `keep_right` entries to the right (an internal split moves its middle
// entry up, so it keeps two). The one place a split point is chosen: splits and redistribution.
std::size_t SplitPoint(const std::vector<Entry>& entries, bool leaf, std::size_t keep_right) {
  std::size_t total = 0;
  for (const Entry& e : entries) total += Bytes(e, leaf);
  std::size_t m = 0, acc = 0;
  while (m + keep_right < entries.size() && acc + Bytes(entries[m], leaf) <= total / 2) {
    acc += Bytes(entries[m], leaf);
    ++m;
  }
  return m == 0 ? 1 : m;
}

void Fill(Node& n, const std::vector<Entry>& entries, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    const bool ok = n.is_leaf() ? n.InsertLeaf(n.count(), entries[i].key, entries[i].value,
                                               entries[i].out_of_line)
                                : n.InsertInternal(n.count(), entries[i].key, entries[i].child);
    (void)ok;  // sizes were checked by the caller
  }
}

// The separator and the new right node a split hands to the parent.
struct Split {
  std::string separator;
  PageId right = kInvalidPageId;
};

// Splits `node` (its entries, one more than fit, in `entries`) into itself and a new right node.
// A leaf keeps the leaf chain linked and copies its right part's first key up; an internal node
// moves its middle entry up (its child becomes the right node's leftmost).
absl::StatusOr<Split> SplitNode(MiniTransaction& mtr, Node& node,
                                const std::vector<Entry>& entries) {
  const bool leaf = node.is_leaf();
  const std::size_t m = SplitPoint(entries, leaf, leaf ? 1 : 2);
  absl::StatusOr<PageId> right_id =
      mtr.AllocatePage(leaf ? PageType::kBTreeLeaf : PageType::kBTreeInternal);
  if (!right_id.ok()) return right_id.status();
  absl::StatusOr<PageSpan> right_span = mtr.GetForWrite(*right_id);
  if (!right_span.ok()) return right_span.status();
  Node right(right_span->data());
  const std::uint16_t level = node.level();
  if (leaf) {
    const PageId old_right = node.right();
    right.Init(0);
    node.Init(0);
    Fill(node, entries, 0, m);
    Fill(right, entries, m, entries.size());
    right.set_right(old_right);
    node.set_right(*right_id);
  } else {
    const PageId leftmost = node.leftmost_child();
    right.Init(level);
    right.set_leftmost_child(entries[m].child);
    Fill(right, entries, m + 1, entries.size());
    node.Init(level);
    node.set_leftmost_child(leftmost);
    Fill(node, entries, 0, m);
  }
  return Split{entries[m].key, *right_id};
}

// Two adjacent leaves under `parent` (separator `sep` at `sep_idx`): merged into the left when
// they fit one node, else their bytes evened out and the separator made the right's first key
// (when the parent has room for it; otherwise the node stays underfull, which is valid).
absl::Status MergeLeaves(MiniTransaction& mtr, Node& parent, std::size_t sep_idx,
                         const std::string& sep, Node& left, Node& right, PageId right_id) {
  if (left.UsedBytes() + right.UsedBytes() <= Node::Capacity()) {
    left.AppendAll(right);
    left.set_right(right.right());
    parent.Remove(sep_idx);
    return mtr.FreePage(right_id);
  }
  std::vector<Entry> all = Entries(left);
  std::vector<Entry> r = Entries(right);
  const std::size_t nleft = all.size();
  all.insert(all.end(), r.begin(), r.end());
  const std::size_t m = SplitPoint(all, /*leaf=*/true, 1);
  const std::size_t old_sep = Node::InternalCellBytes(sep.size());
  const std::size_t new_sep = Node::InternalCellBytes(all[m].key.size());
  if (m != nleft && parent.FreeBytes() + old_sep >= new_sep) {
    const PageId left_right = left.right(), right_right = right.right();
    left.Init(0);
    Fill(left, all, 0, m);
    left.set_right(left_right);
    right.Init(0);
    Fill(right, all, m, all.size());
    right.set_right(right_right);
    parent.Remove(sep_idx);
    parent.InsertInternal(sep_idx, all[m].key, right_id);
  }
  return absl::OkStatus();
}

// Two adjacent internal nodes: merged through the separator, which comes down between them, when
// they fit one node; else one entry rotates through the parent into the smaller node, so no
// internal node is left without a separator (when the parent has room for the new one).
absl::Status MergeInternals(MiniTransaction& mtr, Node& parent, std::size_t sep_idx,
                            const std::string& sep, Node& left, Node& right, PageId right_id) {
  if (left.UsedBytes() + right.UsedBytes() + Node::InternalCellBytes(sep.size()) <=
      Node::Capacity()) {
    left.InsertInternal(left.count(), sep, right.leftmost_child());
    left.AppendAll(right);
    parent.Remove(sep_idx);
    return mtr.FreePage(right_id);
  }
  const bool into_right = left.UsedBytes() > right.UsedBytes();
  Node& from = into_right ? left : right;
  const std::size_t k = into_right ? from.count() - 1 : 0;
  const std::string up(from.key(k));
  if (from.count() < 2 || parent.FreeBytes() + Node::InternalCellBytes(sep.size()) <
                              Node::InternalCellBytes(up.size())) {
    return absl::OkStatus();
  }
  if (into_right) {
    const PageId moved = left.child(k);
    if (!right.InsertInternal(0, sep, right.leftmost_child())) {
      return absl::InternalError("B+tree: internal rotation did not fit");
    }
    right.set_leftmost_child(moved);
    left.Remove(k);
  } else {
    if (!left.InsertInternal(left.count(), sep, right.leftmost_child())) {
      return absl::InternalError("B+tree: internal rotation did not fit");
    }
    right.set_leftmost_child(right.child(0));
    right.Remove(0);
  }
  parent.Remove(sep_idx);
  parent.InsertInternal(sep_idx, up, right_id);
  return absl::OkStatus();
}

}  // namespace

// The exclusively latched path of a pessimistic change: from the highest node the change may
// reach (the anchor when the root may change) down to the leaf.
struct BTree::Path {
  std::vector<PageId> ids;
  std::vector<PageSpan> spans;
  bool anchored = false;     // ids.front() is the anchor: the root may change
  std::uint32_t height = 0;  // the anchor's height as latched
};

bool BTree::Safe(const Node& n, const Change& c, bool is_root) const {
  if (c.op == Op::kDelete) {
    if (n.is_leaf()) return is_root || n.UsedBytes() >= kMinNodeFill + kMaxLeafCell;
    // A merge below removes one separator.
    if (is_root) return n.count() >= 2;
    return n.count() >= 2 && n.UsedBytes() >= kMinNodeFill + kMaxInternalCell;
  }
  if (n.is_leaf()) return n.FreeBytes() >= Node::LeafCellBytes(c.key.size(), c.value.size());
  return n.FreeBytes() >= kMaxInternalCell;  // a split below adds one separator
}

absl::Status BTree::Pessimistic(MiniTransaction& mtr, Change& change) {
  Path path;
  if (absl::Status s = LatchPath(mtr, change, &path); !s.ok()) return s;
  Node leaf(path.spans.back().data());
  bool done = false;
  if (absl::Status s = ChangeLeaf(mtr, leaf, change, &done); !s.ok()) return s;
  if (!done) return SplitUp(mtr, path, change);
  if (change.op != Op::kDelete) return absl::OkStatus();
  return Rebalance(mtr, path);
}

absl::Status BTree::LatchPath(MiniTransaction& mtr, const Change& change, Path* path) {
  absl::StatusOr<PageSpan> anchor = mtr.GetForWrite(anchor_);
  if (!anchor.ok()) return anchor.status();
  absl::StatusOr<std::uint32_t> checked_height = CheckedAnchor(anchor->data());
  if (!checked_height.ok()) return checked_height.status();
  path->height = *checked_height;
  path->ids = {anchor_};
  path->spans = {*anchor};
  PageId id = AnchorRoot(anchor->data());
  int expect = static_cast<int>(path->height);
  for (bool is_root = true;; is_root = false, --expect) {
    absl::StatusOr<PageSpan> span = mtr.GetForWrite(id);
    if (!span.ok()) return span.status();
    if (absl::Status s = CheckedNode(id, span->data(), expect); !s.ok()) return s;
    Node n(span->data());
    if (Safe(n, change, is_root)) {
      // Nothing below can reach the ancestors: release them (unchanged) for other writers.
      for (PageId p : path->ids) {
        if (absl::Status s = mtr.ReleasePage(p); !s.ok() && !absl::IsNotFound(s)) return s;
      }
      path->ids.clear();
      path->spans.clear();
    }
    path->ids.push_back(id);
    path->spans.push_back(*span);
    if (n.is_leaf()) break;
    const PageId child = n.ChildFor(change.key, options_.comparator);
    if (change.op == Op::kDelete && n.count() > 0 &&
        n.IndexOfChild(child) == static_cast<int>(n.count()) - 1) {
      // The last child may need its left sibling to merge with: latch it first (siblings are
      // always latched left to right).
      const PageId left = n.count() >= 2 ? n.child(n.count() - 2) : n.leftmost_child();
      absl::StatusOr<PageSpan> s = mtr.GetForWrite(left);
      if (!s.ok()) return s.status();
      if (absl::Status c = CheckedNode(left, s->data(), expect - 1); !c.ok()) return c;
    }
    id = child;
  }
  path->anchored = path->ids.front() == anchor_;
  return absl::OkStatus();
}

absl::Status BTree::SplitUp(MiniTransaction& mtr, Path& path, Change& change) {
  std::size_t level = path.ids.size() - 1;  // index of the node being split in the path
  Node leaf(path.spans[level].data());
  bool found;
  const std::size_t pos = leaf.LowerBound(change.key, options_.comparator, &found);
  std::vector<Entry> entries = Entries(leaf);
  if (found) {  // a Put whose new value did not fit in place
    change.old = entries[pos].value;
    change.old_out_of_line = entries[pos].out_of_line;
    entries[pos].value = std::string(change.value);
    entries[pos].out_of_line = change.out_of_line;
  } else {
    entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(pos),
                   Entry{std::string(change.key), std::string(change.value), kInvalidPageId,
                         change.out_of_line});
  }
  absl::StatusOr<Split> split = SplitNode(mtr, leaf, entries);
  if (!split.ok()) return split.status();
  for (;;) {
    const PageId left_child = path.ids[level];
    if (level == 0 || (path.anchored && level == 1)) {
      // The root split: a new root above it.
      if (!path.anchored) return absl::InternalError("B+tree: a split reached an unlatched root");
      absl::StatusOr<PageId> new_root = mtr.AllocatePage(PageType::kBTreeInternal);
      if (!new_root.ok()) return new_root.status();
      absl::StatusOr<PageSpan> rs = mtr.GetForWrite(*new_root);
      if (!rs.ok()) return rs.status();
      Node r(rs->data());
      r.Init(static_cast<std::uint16_t>(path.height + 1));
      r.set_leftmost_child(left_child);
      r.InsertInternal(0, split->separator, split->right);
      SetAnchor(path.spans.front().data(), *new_root, path.height + 1);
      return absl::OkStatus();
    }
    --level;
    Node parent(path.spans[level].data());
    const std::size_t at = static_cast<std::size_t>(parent.IndexOfChild(left_child) + 1);
    if (parent.InsertInternal(at, split->separator, split->right)) return absl::OkStatus();
    // The parent is full too: split it, its middle separator moving up.
    std::vector<Entry> ents = Entries(parent);
    ents.insert(ents.begin() + static_cast<std::ptrdiff_t>(at),
                Entry{std::move(split->separator), {}, split->right});
    split = SplitNode(mtr, parent, ents);
    if (!split.ok()) return split.status();
  }
}

absl::Status BTree::Rebalance(MiniTransaction& mtr, Path& path) {
  for (std::size_t level = path.ids.size() - 1;; --level) {
    if (path.anchored && level == 1) {
      // The root. With one child left it hands the root over to it, as many levels down as that
      // holds. The child is latched here: on the path, or the survivor of the merge that left
      // the root with one child (a merge latches both siblings), which need not be on the path.
      PageId root = path.ids[level];
      PageSpan span = path.spans[level];
      while (!Node(span.data()).is_leaf() && Node(span.data()).count() == 0) {
        const PageId child = Node(span.data()).leftmost_child();
        if (!mtr.Holds(child)) break;
        absl::StatusOr<PageSpan> c = mtr.GetForWrite(child);
        if (!c.ok()) return c.status();
        if (absl::Status s = mtr.FreePage(root); !s.ok()) return s;
        --path.height;
        root = child;
        span = *c;
      }
      if (root != path.ids[level]) SetAnchor(path.spans.front().data(), root, path.height);
      return absl::OkStatus();
    }
    if (level == 0 || Node(path.spans[level].data()).UsedBytes() >= kMinNodeFill) {
      return absl::OkStatus();
    }
    // A parent with a single child (an internal merge above did not fit) has nothing to pair
    // the node with here; the parent itself is underfull and is fixed next.
    if (Node(path.spans[level - 1].data()).count() == 0) continue;
    if (absl::Status s = FixUnderfull(mtr, path, level); !s.ok()) return s;
  }
}

absl::Status BTree::FixUnderfull(MiniTransaction& mtr, Path& path, std::size_t level) {
  Node parent(path.spans[level - 1].data());
  const PageId parent_id = path.ids[level - 1];
  const int idx = parent.IndexOfChild(path.ids[level]);
  if (idx == -2) {
    return absl::DataLossError(
        fmt::format("B+tree page {} is missing from its parent {}", path.ids[level], parent_id));
  }
  // The pair (left, right) of adjacent siblings, and the separator between them.
  int left_idx = idx, sep_idx;
  if (idx < static_cast<int>(parent.count()) - 1) {
    sep_idx = idx + 1;
  } else {
    left_idx = idx - 1;
    sep_idx = idx;
  }
  const PageId left_id =
      left_idx == -1 ? parent.leftmost_child() : parent.child(static_cast<std::size_t>(left_idx));
  const PageId right_id = parent.child(static_cast<std::size_t>(sep_idx));
  // A node merged with itself, or with a node on the path, would be freed while still named.
  const auto above = path.ids.begin() + static_cast<std::ptrdiff_t>(level);
  if (left_id == right_id || std::find(path.ids.begin(), above, left_id) != above ||
      std::find(path.ids.begin(), above, right_id) != above) {
    return absl::DataLossError(
        fmt::format("B+tree page {} names child pages {} and {} as siblings: they are not two "
                    "distinct children",
                    parent_id, left_id, right_id));
  }
  absl::StatusOr<PageSpan> ls = mtr.GetForWrite(left_id);
  if (!ls.ok()) return ls.status();
  absl::StatusOr<PageSpan> rs = mtr.GetForWrite(right_id);
  if (!rs.ok()) return rs.status();
  for (const auto& [sid, sp] : {std::pair{left_id, *ls}, std::pair{right_id, *rs}}) {
    if (absl::Status s = CheckedNode(sid, sp.data(), parent.level() - 1); !s.ok()) return s;
  }
  Node left(ls->data()), right(rs->data());
  const auto at = static_cast<std::size_t>(sep_idx);
  const std::string sep(parent.key(at));
  if (!left.is_leaf()) return MergeInternals(mtr, parent, at, sep, left, right, right_id);
  if (left.right() != right_id) {
    // Moving entries between leaves the chain does not link would drop leaves from scans.
    return absl::DataLossError(
        fmt::format("B+tree leaf {} links to {} where its parent {} has {} next", left_id,
                    left.right(), parent_id, right_id));
  }
  return MergeLeaves(mtr, parent, at, sep, left, right, right_id);
}

// Store::Compact's packing (BTree::Pack): adjacent children of one parent merged while their
// bytes fit `budget`, one merge to a system mini-transaction (parent and both children latched,
// the right one freed), level by level from the root down; then a root left with one child hands
// the root down. A merge at one level gives the level above fewer, fuller children, so a few
// rounds run until one changes nothing.
absl::StatusOr<bool> BTree::PackChildren(PageId parent, int level, std::size_t budget) {
  bool changed = false;
  for (std::size_t i = 0;;) {
    PageId left_id, right_id;
    std::size_t bytes = 0;
    {
      absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(parent);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckedNode(parent, g->data().data(), level); !s.ok()) return s;
      const Node n(const_cast<std::byte*>(g->data().data()));
      if (i >= n.count()) return changed;
      left_id = i == 0 ? n.leftmost_child() : n.child(i - 1);
      right_id = n.child(i);
      // Internal nodes merge through their separator, which comes down between them.
      if (level > 1) bytes += Node::InternalCellBytes(n.key(i).size());
    }
    for (PageId c : {left_id, right_id}) {
      absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(c);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckedNode(c, g->data().data(), level - 1); !s.ok()) return s;
      bytes += Node(const_cast<std::byte*>(g->data().data())).UsedBytes();
    }
    if (bytes > budget) {
      ++i;
      continue;
    }
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<PageSpan> p = mtr.GetForWrite(parent);
    if (!p.ok()) return p.status();
    absl::StatusOr<PageSpan> ls = mtr.GetForWrite(left_id);
    if (!ls.ok()) return ls.status();
    absl::StatusOr<PageSpan> rs = mtr.GetForWrite(right_id);
    if (!rs.ok()) return rs.status();
    Node n(p->data()), left(ls->data()), right(rs->data());
    const std::string sep(n.key(i));
    if (left.is_leaf() && left.right() != right_id) {
      return absl::DataLossError(
          fmt::format("B+tree leaf {} links to {} where its parent {} has {} next", left_id,
                      left.right(), parent, right_id));
    }
    const std::size_t before = n.count();
    absl::Status s = left.is_leaf() ? MergeLeaves(mtr, n, i, sep, left, right, right_id)
                                    : MergeInternals(mtr, n, i, sep, left, right, right_id);
    if (!s.ok()) return s;
    const bool merged = n.count() < before;
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
    if (merged) {
      changed = true;  // the merged node may take its next sibling too: same i
    } else {
      ++i;  // (the bytes fit, so a merge happens; never loop on one that did not)
    }
  }
}

absl::Status BTree::Pack(double fill) {
  const auto budget =
      static_cast<std::size_t>(static_cast<double>(Node::Capacity()) * std::clamp(fill, 0.5, 1.0));
  for (bool changed = true; changed;) {
    changed = false;
    absl::StatusOr<BTreeAnchorView> anchor = ReadAnchor();
    if (!anchor.ok()) return anchor.status();
    PageId root = anchor->root;
    std::uint32_t height = anchor->height;
    std::vector<PageId> level{root};
    for (int l = static_cast<int>(height); l > 0; --l) {
      std::vector<PageId> below;
      for (PageId parent : level) {
        absl::StatusOr<bool> merged = PackChildren(parent, l, budget);
        if (!merged.ok()) return merged.status();
        changed = changed || *merged;
        absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(parent);
        if (!g.ok()) return g.status();
        const Node n(const_cast<std::byte*>(g->data().data()));
        below.push_back(n.leftmost_child());
        for (std::size_t i = 0; i < n.count(); ++i) below.push_back(n.child(i));
      }
      level = std::move(below);
    }
    // A root left with one child hands the root down.
    MiniTransaction mtr = store_.BeginMtr();
    absl::StatusOr<PageSpan> a = mtr.GetForWrite(anchor_);
    if (!a.ok()) return a.status();
    for (;;) {
      absl::StatusOr<PageSpan> r = mtr.GetForWrite(root);
      if (!r.ok()) return r.status();
      const Node n(r->data());
      if (n.is_leaf() || n.count() != 0) break;
      const PageId child = n.leftmost_child();
      if (absl::Status s = mtr.FreePage(root); !s.ok()) return s;
      root = child;
      --height;
      SetAnchor(a->data(), root, height);
      changed = true;
    }
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  }
  return absl::OkStatus();
}

}  // namespace pagestore
