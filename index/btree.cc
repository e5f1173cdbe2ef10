#include "index/btree.h"

#include <fmt/format.h>

#include <algorithm>

#include "index/index_undo.h"

namespace pagestore {
namespace {

// Anchor page (kBTreeMeta): u64 root at 32, u32 height at 40.
constexpr std::size_t kRootOffset = kPageHeaderSize;
constexpr std::size_t kHeightOffset = kPageHeaderSize + 8;
// A node below this many used bytes is merged with a sibling (or given entries) on delete.
constexpr std::size_t kMinFill = Node::Capacity() / 4;
constexpr std::size_t kMaxLeafCell = kLeafCellHeader + kMaxEntryBytes + kSlotSize;
constexpr std::size_t kMaxInternalCell = kInternalCellHeader + kMaxEntryBytes + kSlotSize;

PageId AnchorRoot(const std::byte* p) {
  PageId id;
  std::memcpy(&id, p + kRootOffset, 8);
  return id;
}
std::uint32_t AnchorHeight(const std::byte* p) {
  std::uint32_t h;
  std::memcpy(&h, p + kHeightOffset, 4);
  return h;
}
void SetAnchor(std::byte* p, PageId root, std::uint32_t height) {
  std::memcpy(p + kRootOffset, &root, 8);
  std::memcpy(p + kHeightOffset, &height, 4);
}

absl::Status TooLarge(std::string_view key, std::string_view value) {
  return absl::InvalidArgumentError(fmt::format(
      "B+tree entry of {} key bytes + {} value bytes exceeds the limit of {} bytes (four entries "
      "per 4 KiB page)",
      key.size(), value.size(), kMaxEntryBytes));
}

absl::Status NotANode(PageId id, const std::byte* p) {
  return absl::DataLossError(fmt::format(
      "page {} is not a B+tree node (type {})", id,
      PageTypeName(static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type))));
}

bool IsNode(const std::byte* p) {
  const auto t = static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
  return t == PageType::kBTreeLeaf || t == PageType::kBTreeInternal;
}

struct Entry {
  std::string key;
  std::string value;
  PageId child = kInvalidPageId;
};

std::vector<Entry> Entries(const Node& n) {
  std::vector<Entry> out(n.count());
  for (std::size_t i = 0; i < n.count(); ++i) {
    out[i].key = std::string(n.key(i));
    if (n.is_leaf()) {
      out[i].value = std::string(n.value(i));
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
// entry up, so it keeps two).
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
    const bool ok = n.is_leaf() ? n.InsertLeaf(n.count(), entries[i].key, entries[i].value)
                                : n.InsertInternal(n.count(), entries[i].key, entries[i].child);
    (void)ok;  // sizes were checked by the caller
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Creation

absl::StatusOr<std::unique_ptr<BTree>> BTree::Create(Store& store, BTreeOptions options) {
  MiniTransaction mtr = store.BeginMtr();
  absl::StatusOr<PageId> anchor = mtr.AllocatePage(PageType::kBTreeMeta);
  if (!anchor.ok()) return anchor.status();
  absl::StatusOr<PageId> root = mtr.AllocatePage(PageType::kBTreeLeaf);
  if (!root.ok()) return root.status();
  absl::StatusOr<PageSpan> r = mtr.GetForWrite(*root);
  if (!r.ok()) return r.status();
  Node(r->data()).Init(0);
  absl::StatusOr<PageSpan> a = mtr.GetForWrite(*anchor);
  if (!a.ok()) return a.status();
  SetAnchor(a->data(), *root, 0);
  if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  return std::unique_ptr<BTree>(new BTree(store, *anchor, std::move(options)));
}

absl::StatusOr<std::unique_ptr<BTree>> BTree::Open(Store& store, PageId anchor,
                                                   BTreeOptions options) {
  absl::StatusOr<ReadPageGuard> a = store.pool().ReadPage(anchor);
  if (!a.ok()) return a.status();
  if (ReadPageHeader(a->data()).type != static_cast<std::uint16_t>(PageType::kBTreeMeta)) {
    return absl::DataLossError(fmt::format("page {} is not a B+tree anchor", anchor));
  }
  return std::unique_ptr<BTree>(new BTree(store, anchor, std::move(options)));
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<std::string> BTree::Get(std::string_view key) const {
  std::string value;
  if (absl::Status s = Get(key, &value); !s.ok()) return s;
  return value;
}

absl::Status BTree::CheckNodeSlow(PageId id, const std::byte* p, int level) const {
  BufferPool& pool = store_.pool();
  if (!pool.structure_checked(p)) [[unlikely]] {
    if (absl::Status s = CheckNode(id, ConstPageSpan(p, kPageSize), options_.comparator); !s.ok()) {
      return s;
    }
    pool.set_structure_checked(p);
  } else if (!IsNode(p)) [[unlikely]] {
    return NotANode(id, p);
  }
  const std::uint16_t actual = Node(const_cast<std::byte*>(p)).level();
  if (level >= 0 && actual != level) [[unlikely]] {
    return absl::DataLossError(
        fmt::format("B+tree page {} has level {} where its parent (or the anchor {}) says {}", id,
                    actual, anchor_, level));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::uint32_t> BTree::CheckedAnchor(const std::byte* p) const {
  const PageHeader h = ReadPageHeader(ConstPageSpan(p, kPageSize));
  if (h.type != static_cast<std::uint16_t>(PageType::kBTreeMeta)) [[unlikely]] {
    return absl::DataLossError(fmt::format("page {} is not a B+tree anchor (type {})", anchor_,
                                           PageTypeName(static_cast<PageType>(h.type))));
  }
  const std::uint32_t height = AnchorHeight(p);
  if (height > kMaxNodeLevel) [[unlikely]] {
    return absl::DataLossError(
        fmt::format("B+tree anchor {} is malformed: height {}", anchor_, height));
  }
  return height;
}

absl::StatusOr<ReadPageGuard> BTree::DescendShared(const std::string_view* key,
                                                   std::uint16_t level) const {
  absl::StatusOr<ReadPageGuard> cur = store_.pool().ReadPage(anchor_);
  if (!cur.ok()) return cur.status();
  const std::byte* a = cur->data().data();
  std::uint16_t type;
  std::memcpy(&type, a + offsetof(PageHeader, type), sizeof type);
  const std::uint32_t height = AnchorHeight(a);
  if (type != static_cast<std::uint16_t>(PageType::kBTreeMeta) || height > kMaxNodeLevel)
      [[unlikely]] {
    return CheckedAnchor(a).status();
  }
  if (height < level) return absl::OutOfRangeError("the tree is not that high");
  PageId id = AnchorRoot(a);
  int expect = static_cast<int>(height);  // each level one below its parent's
  for (;;) {
    absl::StatusOr<ReadPageGuard> next = store_.pool().ReadPage(id);
    if (!next.ok()) return next.status();
    *cur = std::move(*next);  // crab: the child is latched before the parent is released
    const std::byte* p = cur->data().data();
    if (absl::Status s = CheckedNode(id, p, expect); !s.ok()) return s;
    const Node n(const_cast<std::byte*>(p));
    if (n.level() <= level) return cur;
    id = key == nullptr ? n.leftmost_child() : n.ChildFor(*key, options_.comparator);
    --expect;
  }
}

absl::Status BTree::Get(std::string_view key, std::string* value) const {
  absl::StatusOr<ReadPageGuard> leaf = DescendShared(&key, 0);
  if (!leaf.ok()) return leaf.status();
  const Node n(const_cast<std::byte*>(leaf->data().data()));
  bool found;
  const std::size_t i = n.LowerBound(key, options_.comparator, &found);
  if (!found) return absl::NotFoundError("key not found");
  value->assign(n.value(i));
  return absl::OkStatus();
}

void BTree::Iterator::Settle() {
  for (;;) {
    const Node n(const_cast<std::byte*>(leaf_.data().data()));
    if (index_ < n.count()) {
      valid_ = !end_ || CompareKeys(tree_->options_.comparator, n.key(index_), *end_) < 0;
      if (!valid_) leaf_.Release();
      return;
    }
    const PageId right = n.right();
    if (right == kInvalidPageId) {
      valid_ = false;
      leaf_.Release();
      return;
    }
    // Left to right, the next leaf latched before this one is released (the one order every
    // thread latches siblings in: no deadlock with splits and merges).
    absl::StatusOr<ReadPageGuard> next = tree_->store_.pool().ReadPage(right);
    absl::Status s = next.status();
    if (s.ok()) s = tree_->CheckedNode(right, next->data().data(), 0);
    if (s.ok()) {
      // The chain must climb: the next leaf's first key above every key seen so far, and a run
      // of empty leaves no longer than the file (a malformed chain never loops).
      if (n.count() > 0) {
        last_key_.assign(n.key(n.count() - 1));
        have_last_ = true;
        empty_hops_ = 0;
      }
      const Node r(const_cast<std::byte*>(next->data().data()));
      if (r.count() > 0 && have_last_ &&
          CompareKeys(tree_->options_.comparator, r.key(0), last_key_) <= 0) {
        s = absl::DataLossError(fmt::format(
            "B+tree leaf {} (right sibling of leaf {}) starts with a key not above its left "
            "sibling's last key: the leaf chain is out of order",
            right, leaf_.page_id()));
      } else if (r.count() == 0 && ++empty_hops_ > tree_->store_.pool().page_count()) {
        s = absl::DataLossError(
            fmt::format("B+tree leaf chain loops through empty leaf {}", right));
      }
    }
    if (!s.ok()) {
      status_ = std::move(s);
      valid_ = false;
      leaf_.Release();
      return;
    }
    leaf_ = std::move(*next);
    index_ = 0;
  }
}

BTree::Iterator BTree::Start(const std::string_view* begin,
                             std::optional<std::string_view> end) const {
  Iterator it;
  it.tree_ = this;
  if (end) it.end_ = std::string(*end);
  absl::StatusOr<ReadPageGuard> leaf = DescendShared(begin, 0);
  if (!leaf.ok()) {
    it.status_ = leaf.status();
    return it;
  }
  const Node n(const_cast<std::byte*>(leaf->data().data()));
  it.index_ = begin == nullptr ? 0 : n.LowerBound(*begin, options_.comparator, nullptr);
  it.leaf_ = std::move(*leaf);
  it.Settle();
  return it;
}

// ---------------------------------------------------------------------------------------------
// Writes

absl::Status BTree::Insert(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{Op::kInsert, key, value, std::nullopt};
  return Apply(txn, c);
}

absl::Status BTree::Put(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{Op::kPut, key, value, std::nullopt};
  return Apply(txn, c);
}

absl::Status BTree::Delete(Transaction* txn, std::string_view key) {
  Change c{Op::kDelete, key, {}, std::nullopt};
  return Apply(txn, c);
}

absl::Status BTree::PutIn(MiniTransaction& mtr, std::string_view key, std::string_view value,
                          Mode mode, std::optional<std::string>* old) {
  Change c{mode == Mode::kInsert ? Op::kInsert : Op::kPut, key, value, std::nullopt};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr) *old = std::move(c.old);
  return s;
}

absl::Status BTree::DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old) {
  Change c{Op::kDelete, key, {}, std::nullopt};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr && c.old) *old = std::move(*c.old);
  return s;
}

absl::Status BTree::Apply(Transaction* txn, Change& change) {
  MiniTransaction mtr = txn != nullptr ? txn->BeginMtr() : store_.BeginMtr();
  if (absl::Status s = ApplyIn(mtr, change); !s.ok()) return s;  // rolled back by the destructor
  if (txn != nullptr) {
    // The logical inverse: remove what was added, restore what was replaced or removed.
    const std::vector<std::byte> undo =
        change.old ? index_internal::EncodeIndexUndo(anchor_, true, change.key, *change.old)
                   : index_internal::EncodeIndexUndo(anchor_, false, change.key, {});
    mtr.LogUndo(kBTreeResourceManager, undo);
  }
  return mtr.Commit().status();
}

absl::Status BTree::ApplyIn(MiniTransaction& mtr, Change& change) {
  if (change.op != Op::kDelete && change.key.size() + change.value.size() > kMaxEntryBytes) {
    return TooLarge(change.key, change.value);
  }
  if (change.key.size() > kMaxEntryBytes) return TooLarge(change.key, {});
  absl::StatusOr<bool> done = TryOptimistic(mtr, change);
  if (!done.ok()) return done.status();
  if (*done) return absl::OkStatus();
  return Pessimistic(mtr, change);
}

bool BTree::Safe(const Node& n, const Change& c, bool is_root) const {
  if (c.op == Op::kDelete) {
    if (n.is_leaf()) return is_root || n.UsedBytes() >= kMinFill + kMaxLeafCell;
    // A merge below removes one separator.
    if (is_root) return n.count() >= 2;
    return n.count() >= 2 && n.UsedBytes() >= kMinFill + kMaxInternalCell;
  }
  if (n.is_leaf()) return n.FreeBytes() >= Node::LeafCellBytes(c.key.size(), c.value.size());
  return n.FreeBytes() >= kMaxInternalCell;  // a split below adds one separator
}

absl::StatusOr<bool> BTree::TryOptimistic(MiniTransaction& mtr, Change& change) {
  // Shared latches down to the leaf's parent; the root alone (a leaf) goes the pessimistic way.
  absl::StatusOr<ReadPageGuard> cur = DescendShared(&change.key, 1);
  if (absl::IsOutOfRange(cur.status())) return false;
  if (!cur.ok()) return cur.status();
  const PageId leaf_id =
      Node(const_cast<std::byte*>(cur->data().data())).ChildFor(change.key, options_.comparator);
  absl::StatusOr<PageSpan> leaf = mtr.GetForWrite(leaf_id);
  cur->Release();
  if (!leaf.ok()) return leaf.status();
  if (absl::Status s = CheckedNode(leaf_id, leaf->data(), 0); !s.ok()) return s;
  Node n(leaf->data());
  bool found;
  const std::size_t i = n.LowerBound(change.key, options_.comparator, &found);
  bool fits = false;
  switch (change.op) {
    case Op::kInsert:
      if (found) return absl::AlreadyExistsError("key already present");
      fits = n.FreeBytes() >= Node::LeafCellBytes(change.key.size(), change.value.size());
      break;
    case Op::kPut:
      fits = n.FreeBytes() + (found ? n.EntryBytes(i) : 0) >=
             Node::LeafCellBytes(change.key.size(), change.value.size());
      break;
    case Op::kDelete:
      if (!found) return absl::NotFoundError("key not found");
      fits = n.UsedBytes() - n.EntryBytes(i) >= kMinFill;
      break;
  }
  if (!fits) {
    if (absl::Status s = mtr.ReleasePage(leaf_id); !s.ok()) return s;
    return false;
  }
  bool done = false;
  if (absl::Status s = ChangeLeaf(mtr, n, change, &done); !s.ok()) return s;
  return done;
}

// Applies the change to a leaf when it fits. `done` false: a split is needed (nothing changed).
absl::Status BTree::ChangeLeaf(MiniTransaction&, Node& n, Change& change, bool* done) {
  bool found;
  const std::size_t i = n.LowerBound(change.key, options_.comparator, &found);
  *done = true;
  switch (change.op) {
    case Op::kInsert:
      if (found) return absl::AlreadyExistsError("key already present");
      *done = n.InsertLeaf(i, change.key, change.value);
      return absl::OkStatus();
    case Op::kPut:
      if (found) {
        change.old = std::string(n.value(i));
        *done = n.UpdateValue(i, change.value);
        if (!*done) change.old.reset();
        return absl::OkStatus();
      }
      *done = n.InsertLeaf(i, change.key, change.value);
      return absl::OkStatus();
    case Op::kDelete:
      if (!found) return absl::NotFoundError("key not found");
      change.old = std::string(n.value(i));
      n.Remove(i);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status BTree::Pessimistic(MiniTransaction& mtr, Change& change) {
  const KeyComparator& cmp = options_.comparator;
  absl::StatusOr<PageSpan> anchor = mtr.GetForWrite(anchor_);
  if (!anchor.ok()) return anchor.status();
  absl::StatusOr<std::uint32_t> checked_height = CheckedAnchor(anchor->data());
  if (!checked_height.ok()) return checked_height.status();
  const PageId root = AnchorRoot(anchor->data());
  std::uint32_t height = *checked_height;
  int expect = static_cast<int>(height);
  // The path from the highest node a change may reach down to the leaf, latched exclusively.
  std::vector<PageId> path{anchor_};
  std::vector<PageSpan> spans{*anchor};
  PageId id = root;
  bool is_root = true;
  for (;;) {
    absl::StatusOr<PageSpan> span = mtr.GetForWrite(id);
    if (!span.ok()) return span.status();
    if (absl::Status s = CheckedNode(id, span->data(), expect); !s.ok()) return s;
    Node n(span->data());
    if (Safe(n, change, is_root)) {
      // Nothing below can reach the ancestors: release them (unchanged) for other writers.
      for (PageId p : path) {
        if (absl::Status s = mtr.ReleasePage(p); !s.ok() && !absl::IsNotFound(s)) return s;
      }
      path.clear();
      spans.clear();
    }
    path.push_back(id);
    spans.push_back(*span);
    if (n.is_leaf()) break;
    const PageId child = n.ChildFor(change.key, cmp);
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
    is_root = false;
    --expect;
  }

  // The leaf.
  Node leaf(spans.back().data());
  bool done = false;
  if (absl::Status s = ChangeLeaf(mtr, leaf, change, &done); !s.ok()) return s;
  const bool anchored = path.front() == anchor_;  // the root may change
  std::size_t level = path.size() - 1;            // index of the node being fixed in path

  if (!done) {
    // Split upward: the leaf, then every full ancestor; a new root if the root splits.
    bool found;
    std::size_t pos = leaf.LowerBound(change.key, cmp, &found);
    std::vector<Entry> entries = Entries(leaf);
    if (found) {  // a Put whose new value did not fit in place
      change.old = entries[pos].value;
      entries[pos].value = std::string(change.value);
    } else {
      entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(pos),
                     Entry{std::string(change.key), std::string(change.value), kInvalidPageId});
    }
    absl::StatusOr<PageId> right_id = mtr.AllocatePage(PageType::kBTreeLeaf);
    if (!right_id.ok()) return right_id.status();
    absl::StatusOr<PageSpan> right_span = mtr.GetForWrite(*right_id);
    if (!right_span.ok()) return right_span.status();
    Node right(right_span->data());
    right.Init(0);
    const PageId old_right = leaf.right();
    const std::size_t m = SplitPoint(entries, /*leaf=*/true, 1);
    leaf.Init(0);
    Fill(leaf, entries, 0, m);
    Fill(right, entries, m, entries.size());
    right.set_right(old_right);
    leaf.set_right(*right_id);
    std::string sep = entries[m].key;
    PageId new_child = *right_id;
    PageId left_child = path[level];

    while (true) {
      if (level == 0 || (anchored && level == 1)) {
        // The root split: a new root above it.
        if (!anchored) {
          return absl::InternalError("B+tree: a split reached an unlatched root");
        }
        absl::StatusOr<PageId> new_root = mtr.AllocatePage(PageType::kBTreeInternal);
        if (!new_root.ok()) return new_root.status();
        absl::StatusOr<PageSpan> rs = mtr.GetForWrite(*new_root);
        if (!rs.ok()) return rs.status();
        Node r(rs->data());
        r.Init(static_cast<std::uint16_t>(height + 1));
        r.set_leftmost_child(left_child);
        r.InsertInternal(0, sep, new_child);
        SetAnchor(spans.front().data(), *new_root, height + 1);
        break;
      }
      --level;
      Node parent(spans[level].data());
      const std::size_t at = static_cast<std::size_t>(parent.IndexOfChild(left_child) + 1);
      if (parent.InsertInternal(at, sep, new_child)) break;
      // Split the internal node: the middle separator moves up.
      std::vector<Entry> ents = Entries(parent);
      ents.insert(ents.begin() + static_cast<std::ptrdiff_t>(at), Entry{sep, {}, new_child});
      const std::size_t mid = SplitPoint(ents, /*leaf=*/false, 2);
      absl::StatusOr<PageId> rid = mtr.AllocatePage(PageType::kBTreeInternal);
      if (!rid.ok()) return rid.status();
      absl::StatusOr<PageSpan> rsp = mtr.GetForWrite(*rid);
      if (!rsp.ok()) return rsp.status();
      Node r(rsp->data());
      const std::uint16_t lvl = parent.level();
      const PageId leftmost = parent.leftmost_child();
      r.Init(lvl);
      r.set_leftmost_child(ents[mid].child);
      Fill(r, ents, mid + 1, ents.size());
      parent.Init(lvl);
      parent.set_leftmost_child(leftmost);
      Fill(parent, ents, 0, mid);
      sep = ents[mid].key;
      new_child = *rid;
      left_child = path[level];
    }
    return absl::OkStatus();
  }

  if (change.op != Op::kDelete) return absl::OkStatus();

  // Rebalance upward after a delete: merge an underfull node with a sibling (or, for leaves,
  // move entries over), then fix its parent likewise.
  while (true) {
    Node n(spans[level].data());
    const bool node_is_root = anchored ? level == 1 : false;
    if (node_is_root) {
      // A root with one child left hands the root over to it, as many levels down as that holds
      // (the path below is latched).
      std::size_t r = level;
      while (r + 1 < path.size() && !Node(spans[r].data()).is_leaf() &&
             Node(spans[r].data()).count() == 0 &&
             Node(spans[r].data()).leftmost_child() == path[r + 1]) {
        if (absl::Status s = mtr.FreePage(path[r]); !s.ok()) return s;
        --height;
        ++r;
      }
      if (r != level) SetAnchor(spans.front().data(), path[r], height);
      return absl::OkStatus();
    }
    if (level == 0 || n.UsedBytes() >= kMinFill) return absl::OkStatus();
    if (level == 1 && anchored) return absl::OkStatus();
    Node parent(spans[level - 1].data());
    if (parent.count() == 0) {
      // A parent with a single child (an internal merge above did not fit): nothing to pair with
      // here; the parent itself is underfull and is merged next.
      --level;
      continue;
    }
    const int idx = parent.IndexOfChild(path[level]);
    if (idx == -2) {
      return absl::DataLossError(fmt::format("B+tree page {} is missing from its parent {}",
                                             path[level], path[level - 1]));
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
    if (left_id == right_id ||
        std::find(path.begin(), path.begin() + level, left_id) != path.begin() + level ||
        std::find(path.begin(), path.begin() + level, right_id) != path.begin() + level) {
      return absl::DataLossError(fmt::format(
          "B+tree page {} names child pages {} and {} as siblings: they are not two distinct "
          "children",
          path[level - 1], left_id, right_id));
    }
    absl::StatusOr<PageSpan> ls = mtr.GetForWrite(left_id);
    if (!ls.ok()) return ls.status();
    absl::StatusOr<PageSpan> rs = mtr.GetForWrite(right_id);
    if (!rs.ok()) return rs.status();
    for (const auto& [sid, sp] : {std::pair{left_id, *ls}, std::pair{right_id, *rs}}) {
      if (absl::Status s = CheckedNode(sid, sp.data(), parent.level() - 1); !s.ok()) return s;
    }
    Node left(ls->data()), right(rs->data());
    const std::string sep(parent.key(static_cast<std::size_t>(sep_idx)));
    if (left.is_leaf() && left.right() != right_id) {
      // Moving entries between leaves the chain does not link would drop leaves from scans.
      return absl::DataLossError(
          fmt::format("B+tree leaf {} links to {} where its parent {} has {} next", left_id,
                      left.right(), path[level - 1], right_id));
    }
    if (left.is_leaf()) {
      if (left.UsedBytes() + right.UsedBytes() <= Node::Capacity()) {
        left.AppendAll(right);
        left.set_right(right.right());
        parent.Remove(static_cast<std::size_t>(sep_idx));
        if (absl::Status s = mtr.FreePage(right_id); !s.ok()) return s;
      } else {
        // Redistribute: even out the bytes, and the separator becomes right's first key (when
        // the parent has room for it; otherwise the node stays underfull, which is valid).
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
          parent.Remove(static_cast<std::size_t>(sep_idx));
          parent.InsertInternal(static_cast<std::size_t>(sep_idx), all[m].key, right_id);
        }
      }
    } else {
      // Internal nodes merge through the separator, which comes down between them.
      if (left.UsedBytes() + right.UsedBytes() + Node::InternalCellBytes(sep.size()) <=
          Node::Capacity()) {
        left.InsertInternal(left.count(), sep, right.leftmost_child());
        left.AppendAll(right);
        parent.Remove(static_cast<std::size_t>(sep_idx));
        if (absl::Status s = mtr.FreePage(right_id); !s.ok()) return s;
      } else {
        // Too full to merge: rotate one entry through the parent into the smaller node, so no
        // internal node is left without a separator (when the parent has room for the new one).
        const bool into_right = left.UsedBytes() > right.UsedBytes();
        Node& from = into_right ? left : right;
        const std::size_t k = into_right ? from.count() - 1 : 0;
        const std::string up(from.key(k));
        if (from.count() >= 2 && parent.FreeBytes() + Node::InternalCellBytes(sep.size()) >=
                                     Node::InternalCellBytes(up.size())) {
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
          parent.Remove(static_cast<std::size_t>(sep_idx));
          parent.InsertInternal(static_cast<std::size_t>(sep_idx), up, right_id);
        }
      }
    }
    --level;
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk load

absl::Status BTree::BulkLoad(std::span<const std::pair<std::string, std::string>> sorted,
                             double fill) {
  fill = std::clamp(fill, 0.5, 1.0);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].first.size() + sorted[i].second.size() > kMaxEntryBytes) {
      return TooLarge(sorted[i].first, sorted[i].second);
    }
    if (i > 0 && CompareKeys(options_.comparator, sorted[i - 1].first, sorted[i].first) >= 0) {
      return absl::InvalidArgumentError(
          fmt::format("bulk load input is not sorted and unique at entry {}", i));
    }
  }
  {
    absl::StatusOr<ReadPageGuard> a = store_.pool().ReadPage(anchor_);
    if (!a.ok()) return a.status();
    absl::StatusOr<std::uint32_t> height = CheckedAnchor(a->data().data());
    if (!height.ok()) return height.status();
    const PageId root = AnchorRoot(a->data().data());
    absl::StatusOr<ReadPageGuard> r = store_.pool().ReadPage(root);
    if (!r.ok()) return r.status();
    if (absl::Status s = CheckedNode(root, r->data().data(), static_cast<int>(*height)); !s.ok()) {
      return s;
    }
    if (*height != 0 || Node(const_cast<std::byte*>(r->data().data())).count() != 0) {
      return absl::InvalidArgumentError("bulk load needs an empty tree");
    }
  }
  if (sorted.empty()) return absl::OkStatus();
  const std::size_t budget = static_cast<std::size_t>(Node::Capacity() * fill);
  // Level by level: each node is built and committed in its own mini-transaction; the anchor is
  // pointed at the new root last, so a crash leaves the tree empty (the built pages are leaked
  // until a verify reclaims them).
  struct Ref {
    std::string first_key;
    PageId id;
  };
  std::vector<Ref> level_nodes;
  {
    PageId prev = kInvalidPageId;
    std::size_t i = 0;
    while (i < sorted.size()) {
      MiniTransaction mtr = store_.BeginMtr();
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kBTreeLeaf);
      if (!id.ok()) return id.status();
      absl::StatusOr<PageSpan> span = mtr.GetForWrite(*id);
      if (!span.ok()) return span.status();
      Node n(span->data());
      n.Init(0);
      level_nodes.push_back({sorted[i].first, *id});
      while (i < sorted.size() &&
             (n.count() == 0 || n.UsedBytes() + Node::LeafCellBytes(sorted[i].first.size(),
                                                                    sorted[i].second.size()) <=
                                    budget)) {
        if (!n.InsertLeaf(n.count(), sorted[i].first, sorted[i].second)) break;
        ++i;
      }
      if (prev != kInvalidPageId) {
        absl::StatusOr<PageSpan> p = mtr.GetForWrite(prev);
        if (!p.ok()) return p.status();
        Node(p->data()).set_right(*id);
      }
      if (absl::StatusOr<Lsn> l = mtr.Commit(); !l.ok()) return l.status();
      prev = *id;
    }
  }
  std::uint32_t height = 0;
  while (level_nodes.size() > 1) {
    ++height;
    std::vector<Ref> up;
    std::size_t i = 0;
    while (i < level_nodes.size()) {
      MiniTransaction mtr = store_.BeginMtr();
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kBTreeInternal);
      if (!id.ok()) return id.status();
      absl::StatusOr<PageSpan> span = mtr.GetForWrite(*id);
      if (!span.ok()) return span.status();
      Node n(span->data());
      n.Init(static_cast<std::uint16_t>(height));
      n.set_leftmost_child(level_nodes[i].id);
      up.push_back({level_nodes[i].first_key, *id});
      ++i;
      while (i < level_nodes.size() &&
             n.UsedBytes() + Node::InternalCellBytes(level_nodes[i].first_key.size()) <= budget) {
        if (!n.InsertInternal(n.count(), level_nodes[i].first_key, level_nodes[i].id)) break;
        ++i;
      }
      if (absl::StatusOr<Lsn> l = mtr.Commit(); !l.ok()) return l.status();
    }
    level_nodes = std::move(up);
  }
  MiniTransaction mtr = store_.BeginMtr();
  absl::StatusOr<PageSpan> a = mtr.GetForWrite(anchor_);
  if (!a.ok()) return a.status();
  const PageId old_root = AnchorRoot(a->data());
  SetAnchor(a->data(), level_nodes.front().id, height);
  if (absl::Status s = mtr.FreePage(old_root); !s.ok()) return s;
  return mtr.Commit().status();
}

// ---------------------------------------------------------------------------------------------
// Verification

absl::Status BTree::VerifyNode(PageId id, std::uint16_t level, std::optional<std::string> lo,
                               std::optional<std::string> hi, std::vector<PageId>* leaves,
                               std::vector<PageId>* seen, BTreeStats* stats) const {
  // A malformed tree whose nodes share children must not make the walk exponential: more visits
  // than the file has pages means some page is reachable twice (named after the walk).
  if (seen->size() > store_.pool().page_count()) {
    return absl::DataLossError(fmt::format(
        "B+tree {}: more nodes reachable than the file holds pages: pages are reachable twice",
        anchor_));
  }
  seen->push_back(id);
  absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(id);
  if (!g.ok()) return g.status();
  const std::byte* p = g->data().data();
  // The whole structure, whatever the pool remembers of earlier checks.
  if (absl::Status s = CheckNode(id, g->data(), options_.comparator); !s.ok()) return s;
  store_.pool().set_structure_checked(p);
  const Node n(const_cast<std::byte*>(p));
  const KeyComparator& cmp = options_.comparator;
  if (n.level() != level) {
    return absl::DataLossError(
        fmt::format("B+tree page {}: level {} where {} was expected", id, n.level(), level));
  }
  for (std::size_t i = 0; i < n.count(); ++i) {
    if (i > 0 && CompareKeys(cmp, n.key(i - 1), n.key(i)) >= 0) {
      return absl::DataLossError(
          fmt::format("B+tree page {}: keys {} and {} out of order", id, i - 1, i));
    }
    if ((lo && CompareKeys(cmp, n.key(i), *lo) < 0) ||
        (hi && CompareKeys(cmp, n.key(i), *hi) >= 0)) {
      return absl::DataLossError(
          fmt::format("B+tree page {}: key {} outside its parent's separator bounds", id, i));
    }
  }
  stats->average_fill += static_cast<double>(n.UsedBytes());
  if (n.is_leaf()) {
    ++stats->leaves;
    stats->entries += n.count();
    for (std::size_t i = 0; i < n.count(); ++i) {
      stats->payload_bytes += n.key(i).size() + n.value(i).size();
    }
    leaves->push_back(id);
    return absl::OkStatus();
  }
  ++stats->internals;
  // Children, with their bounds: [lo, key0), [key0, key1), ... [key_last, hi).
  std::vector<std::pair<PageId, std::pair<std::optional<std::string>, std::optional<std::string>>>>
      kids;
  kids.push_back({n.leftmost_child(),
                  {lo, n.count() > 0 ? std::optional<std::string>(std::string(n.key(0))) : hi}});
  for (std::size_t i = 0; i < n.count(); ++i) {
    kids.push_back(
        {n.child(i),
         {std::string(n.key(i)),
          i + 1 < n.count() ? std::optional<std::string>(std::string(n.key(i + 1))) : hi}});
  }
  g->Release();
  for (auto& [child, bounds] : kids) {
    if (absl::Status s = VerifyNode(child, static_cast<std::uint16_t>(level - 1), bounds.first,
                                    bounds.second, leaves, seen, stats);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

BTreeAnchorView ReadBTreeAnchor(ConstPageSpan page) {
  return {AnchorRoot(page.data()), AnchorHeight(page.data())};
}

absl::StatusOr<BTreeStats> BTree::Stats(std::vector<PageId>* pages) const {
  BTreeStats stats;
  std::vector<PageId> leaves, seen;
  PageId root;
  {
    absl::StatusOr<ReadPageGuard> a = store_.pool().ReadPage(anchor_);
    if (!a.ok()) return a.status();
    absl::StatusOr<std::uint32_t> height = CheckedAnchor(a->data().data());
    if (!height.ok()) return height.status();
    root = AnchorRoot(a->data().data());
    stats.height = *height;
  }
  if (absl::Status s = VerifyNode(root, static_cast<std::uint16_t>(stats.height), std::nullopt,
                                  std::nullopt, &leaves, &seen, &stats);
      !s.ok()) {
    return s;
  }
  // Every page reachable once.
  std::vector<PageId> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    return absl::DataLossError(fmt::format("B+tree page {} is reachable twice", *dup));
  }
  // The leaf chain visits the leaves in key order.
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    absl::StatusOr<ReadPageGuard> g = store_.pool().ReadPage(leaves[i]);
    if (!g.ok()) return g.status();
    const PageId right = Node(const_cast<std::byte*>(g->data().data())).right();
    const PageId expect = i + 1 < leaves.size() ? leaves[i + 1] : kInvalidPageId;
    if (right != expect) {
      return absl::DataLossError(
          fmt::format("B+tree leaf {}: right sibling {} where the tree order has {}", leaves[i],
                      right, expect));
    }
  }
  // No live page on the free list.
  const std::vector<PageId> free = store_.FreePages();
  for (PageId id : sorted) {
    if (std::binary_search(free.begin(), free.end(), id) || id == anchor_) {
      return absl::DataLossError(fmt::format("B+tree page {} is also on the free list", id));
    }
  }
  if (std::binary_search(free.begin(), free.end(), anchor_)) {
    return absl::DataLossError(fmt::format("B+tree anchor {} is on the free list", anchor_));
  }
  if (pages != nullptr) {
    *pages = std::move(sorted);
    pages->push_back(anchor_);
  }
  const std::size_t nodes = stats.leaves + stats.internals;
  stats.average_fill = nodes == 0 ? 0 : stats.average_fill / (nodes * Node::Capacity());
  return stats;
}

absl::Status BTree::Verify() const { return Stats().status(); }

// ---------------------------------------------------------------------------------------------
// Undo

UndoHandler BTreeUndoHandler(std::function<const KeyComparator*(PageId anchor)> comparators) {
  return [comparators = std::move(comparators)](
             MiniTransaction& mtr, std::span<const std::byte> payload) -> absl::Status {
    absl::StatusOr<index_internal::IndexUndo> undo =
        index_internal::DecodeIndexUndo(payload, "B+tree");
    if (!undo.ok()) return undo.status();
    BTreeOptions options;
    if (comparators) {
      if (const KeyComparator* c = comparators(undo->anchor)) options.comparator = *c;
    }
    absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Open(mtr.store(), undo->anchor, options);
    if (!tree.ok()) return tree.status();
    if (undo->put) return (*tree)->PutIn(mtr, undo->key, undo->value, BTree::Mode::kPut, nullptr);
    absl::Status s = (*tree)->DeleteIn(mtr, undo->key, nullptr);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  };
}

}  // namespace pagestore
