#include "index/btree.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "index/index_change.h"
#include "index/value_pages.h"

namespace pagestore {
namespace {
absl::Status NotANode(PageId id, const std::byte* p) {
  return absl::DataLossError(fmt::format(
      "page {} is not a B+tree node (type {})", id,
      PageTypeName(static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type))));
}

bool IsNode(const std::byte* p) {
  const auto t = static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
  return t == PageType::kBTreeLeaf || t == PageType::kBTreeInternal;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Creation

absl::StatusOr<std::unique_ptr<BTree>> BTree::Create(Store& store, BTreeOptions options,
                                                     Transaction* txn) {
  MiniTransaction mtr = txn != nullptr ? txn->BeginMtr() : store.BeginMtr();
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
  if (txn != nullptr) {
    mtr.LogUndo(kBTreeResourceManager, index_internal::EncodeIndexUndo(
                                           *anchor, index_internal::UndoOp::kFreeIndex, {}, {}));
  }
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

absl::StatusOr<ReadPageGuard> BTree::DescendShared(const std::string_view* key, std::uint16_t level,
                                                   Pick pick, std::optional<std::string>* lower,
                                                   PageId* miss) const {
  if (lower != nullptr) lower->reset();
  // With `miss`: a page not in the pool ends the descent (MultiGet reads it in a batch).
  auto absent = [&](PageId id) {
    if (miss == nullptr || store_.pool().IsResident(id)) return false;
    *miss = id;
    return true;
  };
  if (absent(anchor_)) return absl::UnavailableError("not resident");
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
    if (absent(id)) return absl::UnavailableError("not resident");
    absl::StatusOr<ReadPageGuard> next = store_.pool().ReadPage(id);
    if (!next.ok()) return next.status();
    *cur = std::move(*next);  // crab: the child is latched before the parent is released
    const std::byte* p = cur->data().data();
    if (absl::Status s = CheckedNode(id, p, expect); !s.ok()) return s;
    const Node n(const_cast<std::byte*>(p));
    if (n.level() <= level) return cur;
    if (pick == Pick::kCover) {
      id = key == nullptr ? n.leftmost_child() : n.ChildFor(*key, options_.comparator);
    } else {
      // The child right of the last separator < *key (of the last separator when null), or
      // the leftmost child when there is none.
      const std::size_t i =
          key == nullptr ? n.count() : n.LowerBound(*key, options_.comparator, nullptr);
      id = i == 0 ? n.leftmost_child() : n.child(i - 1);
      if (lower != nullptr && i > 0) *lower = std::string(n.key(i - 1));
    }
    --expect;
  }
}

absl::Status BTree::Get(std::string_view key, std::string* value) const {
  return GetIfResident(key, value, nullptr);
}

absl::Status BTree::GetIfResident(std::string_view key, std::string* value, PageId* miss) const {
  // Optimistic first (bytewise order only: a custom comparator is never handed torn bytes); a
  // few restarts in a row mean writers are busy here, and the latched path waits for them.
  if (!options_.comparator) [[likely]] {
    for (int attempt = 0; attempt < 4; ++attempt) {
      const Optimistic r = GetOptimistic(key, value, miss);
      if (r == Optimistic::kFound) return absl::OkStatus();
      if (r == Optimistic::kNotFound) return absl::NotFoundError("key not found");
      if (r == Optimistic::kFallBack) {
        if (miss != nullptr && *miss != kInvalidPageId)
          return absl::UnavailableError("not resident");
        break;
      }
    }
  }
  absl::StatusOr<ReadPageGuard> leaf = DescendShared(&key, 0, Pick::kCover, nullptr, miss);
  if (!leaf.ok()) return leaf.status();
  const Node n(const_cast<std::byte*>(leaf->data().data()));
  bool found;
  const std::size_t i = n.LowerBound(key, options_.comparator, &found);
  if (!found) return absl::NotFoundError("key not found");
  if (n.out_of_line(i)) return ReadLargeValue(n.value(i), value);  // the leaf latched meanwhile
  value->assign(n.value(i));
  return absl::OkStatus();
}

void BTree::MultiGet(std::span<const std::string_view> keys, std::vector<std::string>* values,
                     std::vector<absl::Status>* statuses) const {
  const std::size_t n = keys.size();
  values->resize(n);
  statuses->assign(n, absl::OkStatus());
  // Sorted, so that neighbouring keys share their paths; a repeat answered from its first.
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const int c = CompareKeys(options_.comparator, keys[a], keys[b]);
    return c < 0 || (c == 0 && a < b);
  });
  std::vector<std::size_t> pending, repeats;
  for (std::size_t k = 0; k < n; ++k) {
    const bool repeat =
        k > 0 && CompareKeys(options_.comparator, keys[order[k - 1]], keys[order[k]]) == 0;
    (repeat ? repeats : pending).push_back(order[k]);
  }
  // Each round loads one level's missing pages for every pending key. A pool too small for a
  // round's pages can evict them before their keys come back for them: after enough rounds the
  // keys left go through Get, which reads what it needs itself.
  constexpr int kMaxRounds = 16;
  BufferPool& pool = store_.pool();
  std::vector<std::size_t> next;
  std::vector<PageId> missing;
  std::vector<absl::Status> loaded;
  absl::flat_hash_map<PageId, absl::Status> failed;  // pages whose load failed
  for (int round = 0; !pending.empty(); ++round) {
    next.clear();
    missing.clear();
    for (std::size_t i : pending) {
      PageId miss = kInvalidPageId;
      absl::Status s = round < kMaxRounds ? GetIfResident(keys[i], &(*values)[i], &miss)
                                          : Get(keys[i], &(*values)[i]);
      if (miss != kInvalidPageId && absl::IsUnavailable(s)) {
        if (const auto it = failed.find(miss); it != failed.end()) {
          s = Get(keys[i], &(*values)[i]);  // reads the page singly, with its own error
        } else {
          missing.push_back(miss);
          next.push_back(i);
          continue;
        }
      }
      if (!s.ok()) (*values)[i].clear();
      (*statuses)[i] = std::move(s);
    }
    if (missing.empty()) break;
    std::sort(missing.begin(), missing.end());
    missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
    (void)pool.LoadPages(missing, &loaded);
    for (std::size_t k = 0; k < missing.size(); ++k) {
      if (!loaded[k].ok()) failed.emplace(missing[k], loaded[k]);
    }
    pending.swap(next);
  }
  for (std::size_t i : repeats) {
    // The first of equal keys in `order` is the one looked up.
    const auto first =
        std::lower_bound(order.begin(), order.end(), i, [&](std::size_t a, std::size_t b) {
          const int c = CompareKeys(options_.comparator, keys[a], keys[b]);
          return c < 0;
        });
    (*values)[i] = (*values)[*first];
    (*statuses)[i] = (*statuses)[*first];
  }
}

absl::Status BTree::ReadLargeValue(std::string_view reference, std::string* value) const {
  return index_internal::ReadLargeValue(store_.pool(), anchor_, reference, value);
}

// ---------------------------------------------------------------------------------------------
// Writes

namespace {

static_assert(kMaxValueBytes == index_internal::kMaxLargeValueBytes);
constexpr index_internal::ChangeKind kChangeKind{"B+tree", kBTreeResourceManager, kMaxEntryBytes,
                                                 kMaxKeyBytes, kMaxValueBytes};

// A B+tree attempt splits or merges in its own mini-transaction: it never asks for room.
absl::Status NoRoomToMake(const index_internal::IndexChange&) {
  return absl::InternalError("B+tree: a change asked for room to be made");
}
void NothingEmptied(const index_internal::IndexChange&) {}

}  // namespace

absl::Status BTree::Insert(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{.op = Op::kInsert, .key = key, .value = value};
  return Apply(txn, c);
}

absl::Status BTree::Put(Transaction* txn, std::string_view key, std::string_view value) {
  Change c{.op = Op::kPut, .key = key, .value = value};
  return Apply(txn, c);
}

absl::Status BTree::Delete(Transaction* txn, std::string_view key) {
  Change c{.op = Op::kDelete, .key = key};
  return Apply(txn, c);
}

absl::Status BTree::PutIn(MiniTransaction& mtr, std::string_view key, std::string_view value,
                          Mode mode, std::optional<std::string>* old) {
  Change c{.op = mode == Mode::kInsert ? Op::kInsert : Op::kPut,
           .key = key,
           .value = value,
           .free_dropped_now = true};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr) *old = std::move(c.old);
  return s;
}

absl::Status BTree::PutReferenceIn(MiniTransaction& mtr, std::string_view key,
                                   std::string_view reference) {
  Change c{.op = Op::kPut,
           .key = key,
           .value = reference,
           .out_of_line = true,
           .free_dropped_now = true};
  return ApplyIn(mtr, c);
}

absl::Status BTree::DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old) {
  Change c{.op = Op::kDelete, .key = key, .free_dropped_now = true};
  absl::Status s = ApplyIn(mtr, c);
  if (old != nullptr && c.old) *old = std::move(*c.old);
  return s;
}

absl::Status BTree::Apply(Transaction* txn, Change& change) {
  return index_internal::ApplyChange(
      store_, txn, kChangeKind, anchor_, change,
      [this](MiniTransaction& mtr, Change& c) { return ChangeIn(mtr, c); }, NoRoomToMake,
      NothingEmptied);
}

absl::Status BTree::ApplyIn(MiniTransaction& mtr, Change& change) {
  return index_internal::ApplyChangeIn(
      mtr, kChangeKind, change, [this](MiniTransaction& m, Change& c) { return ChangeIn(m, c); },
      NoRoomToMake);
}

absl::StatusOr<index_internal::Attempt> BTree::ChangeIn(MiniTransaction& mtr, Change& change) {
  absl::StatusOr<bool> done = TryOptimistic(mtr, change);
  if (!done.ok()) return done.status();
  if (!*done) {
    if (absl::Status s = Pessimistic(mtr, change); !s.ok()) return s;
  }
  // A large value replaced or deleted: its pages go with the commit. Its reference was in the
  // leaf latched here, so it was live.
  if (absl::Status s = index_internal::FinishValues(mtr, anchor_, change); !s.ok()) return s;
  return index_internal::Attempt::kDone;
}

absl::StatusOr<bool> BTree::TryOptimistic(MiniTransaction& mtr, Change& change) {
  // The leaf's parent read optimistically (no latch above the leaf), else with shared latches
  // crabbing down; the root alone (a leaf) goes the pessimistic way.
  PageId leaf_id;
  absl::StatusOr<PageSpan> leaf = absl::UnknownError("no leaf yet");
  OptimisticPageGuard above;
  // Only with no page held yet: the leaf is latched before its parent is validated again, and a
  // stale id must not make this mini-transaction wait for a page in another order.
  const Optimistic o =
      mtr.held_count() == 0 ? LeafOptimistic(&change.key, &leaf_id, &above) : Optimistic::kFallBack;
  if (o == Optimistic::kNotFound) return false;
  if (o == Optimistic::kFound) {
    leaf = mtr.GetForWrite(leaf_id);
    if (!above.Validate()) {
      // The parent changed meanwhile: the leaf may no longer cover the key (or the id, read
      // from a parent since changed, may name no leaf at all).
      if (leaf.ok()) {
        if (absl::Status s = mtr.ReleasePage(leaf_id); !s.ok()) return s;
      }
      leaf = absl::UnknownError("no leaf yet");
    } else if (!leaf.ok()) {
      return leaf.status();
    }
  }
  if (!leaf.ok()) {
    absl::StatusOr<ReadPageGuard> cur = DescendShared(&change.key, 1);
    if (absl::IsOutOfRange(cur.status())) return false;
    if (!cur.ok()) return cur.status();
    leaf_id =
        Node(const_cast<std::byte*>(cur->data().data())).ChildFor(change.key, options_.comparator);
    leaf = mtr.GetForWrite(leaf_id);
    cur->Release();
    if (!leaf.ok()) return leaf.status();
  }
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
      fits = n.UsedBytes() - n.EntryBytes(i) >= kMinNodeFill;
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
      *done = n.InsertLeaf(i, change.key, change.value, change.out_of_line);
      return absl::OkStatus();
    case Op::kPut:
      if (found) {
        change.old = std::string(n.value(i));
        change.old_out_of_line = n.out_of_line(i);
        *done = n.UpdateValue(i, change.value, change.out_of_line);
        if (!*done) change.old.reset();
        return absl::OkStatus();
      }
      *done = n.InsertLeaf(i, change.key, change.value, change.out_of_line);
      return absl::OkStatus();
    case Op::kDelete:
      if (!found) return absl::NotFoundError("key not found");
      change.old = std::string(n.value(i));
      change.old_out_of_line = n.out_of_line(i);
      n.Remove(i);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Bulk load

absl::Status BTree::BulkLoad(std::span<const std::pair<std::string, std::string>> sorted,
                             double fill) {
  fill = std::clamp(fill, 0.5, 1.0);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].first.size() > kMaxKeyBytes) {
      return absl::InvalidArgumentError(
          fmt::format("bulk load entry {} has a key of {} bytes; keys are at most {} bytes", i,
                      sorted[i].first.size(), kMaxKeyBytes));
    }
    if (sorted[i].first.size() + sorted[i].second.size() > kMaxEntryBytes) {
      return absl::InvalidArgumentError(fmt::format(
          "bulk load entry {} has {} key bytes + {} value bytes; bulk load stores values with "
          "their keys, up to {} bytes together (insert larger values with Put)",
          i, sorted[i].first.size(), sorted[i].second.size(), kMaxEntryBytes));
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

absl::StatusOr<BTreeAnchorView> BTree::ReadAnchor() const {
  absl::StatusOr<ReadPageGuard> a = store_.pool().ReadPage(anchor_);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::uint32_t> height = CheckedAnchor(a->data().data());
  if (!height.ok()) return height.status();
  return BTreeAnchorView{AnchorRoot(a->data().data()), *height};
}

BTreeAnchorView ReadBTreeAnchor(ConstPageSpan page) {
  return {AnchorRoot(page.data()), AnchorHeight(page.data())};
}

// ---------------------------------------------------------------------------------------------
// Undo

UndoHandler BTreeUndoHandler(std::function<const KeyComparator*(PageId anchor)> comparators) {
  return index_internal::IndexUndoHandler(
      kChangeKind, [comparators = std::move(comparators)](Store& store, PageId anchor) {
        BTreeOptions options;
        if (comparators) {
          if (const KeyComparator* c = comparators(anchor)) options.comparator = *c;
        }
        return BTree::Open(store, anchor, options);
      });
}

}  // namespace pagestore
