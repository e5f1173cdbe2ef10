// BTree::Iterator (btree.h): walks forward and backward over copies of leaves, holding no latch
// between calls (index/README.md, latch protocol 5), the cursor's Delete and Put, and reading a
// large value when value() asks for it.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "index/btree.h"
#include "index/btree_torn_node.h"
#include "index/value_pages.h"

namespace pagestore {

namespace {

std::string Escaped(std::string_view key) {
  return absl::CEscape(absl::string_view(key.data(), key.size()));
}

}  // namespace

absl::StatusOr<ReadPageGuard> BTree::LeafShared(const std::string_view* key, Pick pick,
                                                std::optional<std::string>* lower,
                                                Iterator::ParentCopy* parent) const {
  if (parent != nullptr) parent->valid = false;
  PageId leaf_id;
  OptimisticPageGuard above;
  if (LeafOptimistic(key, &leaf_id, &above, pick, lower) == Optimistic::kFound) {
    absl::StatusOr<ReadPageGuard> leaf = store_.pool().ReadPage(leaf_id);
    if (leaf.ok() && above.Validate() && CheckedNode(leaf_id, leaf->data().data(), 0).ok()) {
      if (parent != nullptr) {
        // Keep the parent for the steps left: a copy made optimistically, kept if it validates.
        if (parent->page == nullptr) parent->page = std::make_unique<Iterator::PageCopy>();
        {
          OptimisticReadScope scope;
          std::memcpy(parent->page->bytes, above.data().data(), kPageSize);
        }
        if (above.Validate()) {
          parent->pos = Node(parent->page->bytes).IndexOfChild(leaf_id);
          parent->version = above;
          parent->valid = parent->pos >= -1;
        }
      }
      return leaf;
    }
    // The parent changed, or the leaf is not what it said: the latched path decides (and
    // reports any error).
  }
  return DescendShared(key, 0, pick, lower);
}

void BTree::Iterator::Copy(const ReadPageGuard& guard, bool keep_parent) {
  if (!keep_parent) parent_.valid = false;
  large_loaded_ = false;
  if (page_ == nullptr) page_ = std::make_unique<PageCopy>();
  std::memcpy(page_->bytes, guard.data().data(), kPageSize);
  version_ = tree_->store_.pool().SnapshotOf(guard);
}

void BTree::Iterator::Load(ReadPageGuard& guard, bool keep_parent) {
  Copy(guard, keep_parent);
  guard.Release();
}

void BTree::Iterator::Fail(absl::Status s) {
  status_ = std::move(s);
  valid_ = false;
}

std::string_view BTree::Iterator::LargeValue() const {
  if (!valid_) return {};
  if (large_loaded_ && large_index_ == index_) return large_;
  // The reference was live when the leaf was copied. Read its pages, then check that the leaf is
  // unchanged since the copy: then nothing freed them meanwhile. (A value too large for a good
  // part of the pool is read by Get, with its leaf latched.)
  const bool optimistic =
      index_internal::ReadOptimistically(Leaf().value(index_), tree_->store_.pool());
  absl::Status s =
      optimistic ? tree_->ReadLargeValue(Leaf().value(index_), &large_) : absl::OkStatus();
  if (!optimistic || !version_.Validate()) {
    // The leaf changed (its pages may have been freed and reused): read the key's value as it
    // is now, its leaf latched.
    s = tree_->Get(key(), &large_);
    if (absl::IsNotFound(s)) {
      s = absl::NotFoundError(
          fmt::format("B+tree {}: the entry at key '{}' was deleted after the iterator reached it, "
                      "and its large value with it",
                      tree_->anchor_, Escaped(key())));
    }
  }
  if (!s.ok()) {
    status_ = std::move(s);
    valid_ = false;
    large_.clear();
    return {};
  }
  large_loaded_ = true;
  large_index_ = index_;
  return large_;
}

void BTree::Iterator::SeekForward(const std::string_view* key, bool after) {
  have_bound_ = key != nullptr;
  if (key != nullptr) bound_.assign(*key);
  bound_inclusive_ = !after;
  hops_ = 0;
  if (Relocate(nullptr)) SettleForward();
}

bool BTree::Iterator::Relocate(ReadPageGuard* keep) {
  const std::string_view view = bound_;
  absl::StatusOr<ReadPageGuard> leaf = tree_->LeafShared(have_bound_ ? &view : nullptr);
  if (!leaf.ok()) {
    Fail(leaf.status());
    return false;
  }
  Copy(*leaf);
  if (keep != nullptr) {
    *keep = std::move(*leaf);
  } else {
    leaf->Release();
  }
  index_ = 0;
  if (have_bound_) {
    bool found = false;
    index_ = Leaf().LowerBound(view, tree_->options_.comparator, &found);
    if (found && !bound_inclusive_) ++index_;
  }
  return true;
}

void BTree::Iterator::SettleForward() {
  BufferPool& pool = tree_->store_.pool();
  const KeyComparator& cmp = tree_->options_.comparator;
  // Latched only after a re-descent: the copied leaf stays latched until its right sibling is
  // (left to right, the order writers latch siblings in), so its link needs no validation and
  // every round moves on, even when reading the sibling would evict the leaf.
  ReadPageGuard held;
  for (;;) {
    const Node n = Leaf();
    if (index_ < n.count()) {
      valid_ = !end_ || CompareKeys(cmp, n.key(index_), *end_) < 0;
      return;
    }
    if (n.count() > 0) {
      // Every key of this leaf is passed: the bound moves up to its last (never down).
      const std::string_view last = n.key(n.count() - 1);
      if (!have_bound_ || CompareKeys(cmp, last, bound_) >= 0) {
        bound_.assign(last);
        have_bound_ = true;
        bound_inclusive_ = false;
      }
      hops_ = 0;
    }
    if (++hops_ > pool.page_count() + 64) {
      // Empty leaves without end: only a malformed tree (a loop in its leaf chain) does that.
      return Fail(absl::DataLossError(
          fmt::format("B+tree {}: a scan found no way past leaf {} (a loop in the leaf chain?)",
                      tree_->anchor_, version_.page_id())));
    }
    const PageId right = n.right();
    if (right == kInvalidPageId && (held.valid() || version_.Validate())) {
      valid_ = false;  // the last leaf, latched or unchanged since it was copied: the end
      return;
    }
    if (right != kInvalidPageId) {
      // The copy's right link is the leaf's right sibling if the leaf is latched, or unchanged
      // since the copy: checked after the sibling is latched (a split or merge there changes
      // the leaf).
      if (tree_->options_.read_ahead_leaves > 0 && !pool.IsResident(right)) {
        ReadAhead(right, /*may_latch=*/!held.valid());
      }
      absl::StatusOr<ReadPageGuard> next = pool.ReadPage(right);
      if (held.valid() || version_.Validate()) {
        absl::Status s = next.status();
        if (s.ok()) s = tree_->CheckedNode(right, next->data().data(), 0);
        if (s.ok()) {
          // The chain must climb: the next leaf's first key above every key passed so far.
          const Node r(const_cast<std::byte*>(next->data().data()));
          if (r.count() > 0 && have_bound_ && CompareKeys(cmp, r.key(0), bound_) <= 0) {
            s = absl::DataLossError(fmt::format(
                "B+tree leaf {} (right sibling of leaf {}) starts with a key not above its left "
                "sibling's last key: the leaf chain is out of order",
                right, version_.page_id()));
          }
        }
        if (!s.ok()) return Fail(std::move(s));
        held.Release();
        Load(*next);
        index_ = 0;
        continue;
      }
    }
    // The leaf changed since it was copied (or reading its sibling evicted it): find the
    // bound's leaf again, and keep it latched for the step right.
    if (!Relocate(&held)) return;
  }
}

void BTree::Iterator::ReadAhead(PageId right, bool may_latch) {
  // At most what one batch may claim of the pool (an eighth of it), so the window's leaves do
  // not evict each other before the walk reaches them.
  const std::size_t max = std::max<std::size_t>(
      1, std::min(tree_->options_.read_ahead_leaves, tree_->store_.pool().frame_count() / 8));
  read_ahead_window_ = read_ahead_window_ == 0 ? std::min<std::size_t>(4, max)
                                               : std::min(max, 2 * read_ahead_window_);
  std::vector<PageId> ids = {right};
  // The leaves after the copied one, from its parent: only a hint (a stale id costs a wasted
  // read, never a wrong answer: the walk itself follows the leaf chain).
  const PageId current = version_.page_id();
  auto after_current = [&](auto& n) {
    std::vector<PageId> children;
    bool after = n.leftmost_child() == current;
    for (std::size_t i = 0; i < n.count() && children.size() < read_ahead_window_; ++i) {
      const PageId child = n.child(i);
      if (after) children.push_back(child);
      after = after || child == current;
    }
    return children;
  };
  auto take = [&](std::vector<PageId> children) {
    if (!children.empty() && children[0] == right) ids = std::move(children);
  };
  if (have_bound_) {
    const std::string_view key = bound_;
    bool done = false;
    if (!tree_->options_.comparator) {  // a custom comparator is never handed torn bytes
      OptimisticReadScope scope;
      OptimisticPageGuard parent;
      if (tree_->DescendOptimistic(&key, 1, &parent) == Optimistic::kFound) {
        TornSafeNode n(parent.data().data());
        std::vector<PageId> children = after_current(n);
        if (!n.torn() && parent.Validate()) {
          take(std::move(children));
          done = true;
        }
      }
    }
    if (!done && may_latch) {
      // The path above the leaves is not all in the pool (a scan evicts it): crab down to the
      // parent, which reads it in. Never with a leaf latched: latches are taken top-down.
      absl::StatusOr<ReadPageGuard> parent = tree_->DescendShared(&key, 1);
      if (parent.ok()) {
        const Node n(const_cast<std::byte*>(parent->data().data()));
        if (!n.is_leaf()) take(after_current(n));
      }
    }
  }
  (void)tree_->store_.pool().LoadPages(ids);  // an error comes again from reading the leaf
}

bool BTree::Iterator::StepLeft() {
  if (!parent_.valid || parent_.pos < 0 || !parent_.version.Validate()) {
    parent_.valid = false;
    return false;
  }
  const Node parent(parent_.page->bytes);
  const PageId left = parent_.pos == 0 ? parent.leftmost_child()
                                       : parent.child(static_cast<std::size_t>(parent_.pos - 1));
  absl::StatusOr<ReadPageGuard> leaf = tree_->store_.pool().ReadPage(left);
  // Unchanged since the copy, the parent still says this is the leaf to the left.
  if (!parent_.version.Validate()) {
    parent_.valid = false;
    return false;
  }
  absl::Status s = leaf.status();
  if (s.ok()) s = tree_->CheckedNode(left, leaf->data().data(), 0);
  if (!s.ok()) {
    Fail(std::move(s));
    return true;
  }
  Load(*leaf, /*keep_parent=*/true);
  --parent_.pos;
  return true;
}

void BTree::Iterator::SeekBackward(const std::string_view* key, bool at_or_before) {
  const KeyComparator& cmp = tree_->options_.comparator;
  std::optional<std::string> bound;
  if (key != nullptr) bound.emplace(*key);
  bool inclusive = at_or_before;
  // Each round goes a leaf further left (through the parent copy) or looks below the last
  // round's lower bound, which the tree's separators order: a malformed tree cannot make it
  // loop for longer than the file has pages.
  for (std::uint64_t round = 0;; ++round) {
    if (round > tree_->store_.pool().page_count()) {
      return Fail(absl::DataLossError(
          fmt::format("B+tree {}: a backward walk found no end", tree_->anchor_)));
    }
    // The leaf left of the copy holds only keys below the bound, so all of it counts.
    const bool stepped = StepLeft();
    if (!status_.ok()) return;
    std::optional<std::string> lower;
    if (!stepped) {
      const std::string_view view = bound ? std::string_view(*bound) : std::string_view();
      // At or below the bound when inclusive: the path that covers it.
      const Pick pick = inclusive && bound ? Pick::kCover : Pick::kBelow;
      absl::StatusOr<ReadPageGuard> leaf =
          tree_->LeafShared(bound ? &view : nullptr, pick, &lower, &parent_);
      if (!leaf.ok()) return Fail(leaf.status());
      Load(*leaf, /*keep_parent=*/true);
    }
    const Node n = Leaf();
    if (stepped && bound && n.count() > 0 && CompareKeys(cmp, n.key(n.count() - 1), *bound) >= 0) {
      return Fail(absl::DataLossError(fmt::format(
          "B+tree leaf {} (the child before the last leaf in its parent {}) holds key '{}', not "
          "below '{}': the tree's order is broken",
          version_.page_id(), parent_.version.page_id(), Escaped(n.key(n.count() - 1)),
          Escaped(*bound))));
    }
    std::size_t i = n.count();  // entries [0, i) are below the bound (at or below: inclusive)
    if (!stepped && bound) {
      bool found = false;
      i = n.LowerBound(*bound, cmp, &found);
      if (inclusive && found) ++i;
    }
    if (i > 0) {
      index_ = i - 1;
      valid_ = true;
      // A forward walk from here resumes at or above this key.
      bound_.assign(n.key(index_));
      have_bound_ = true;
      bound_inclusive_ = true;
      hops_ = 0;
      return;
    }
    if (!stepped) {
      if (!lower) {
        valid_ = false;  // nothing below the bound
        return;
      }
      bound = std::move(lower);
      inclusive = false;
    }
    // Stepped onto an empty leaf: the bound stands, and the next round goes on left.
  }
}

void BTree::Iterator::Prev() {
  if (!valid_) return;
  if (index_ > 0) {
    --index_;
    return;
  }
  const std::string first(key());
  const std::string_view view = first;
  SeekBackward(&view, /*at_or_before=*/false);
}

absl::Status BTree::Iterator::Delete(Transaction* txn) { return ChangeHere(txn, nullptr); }

absl::Status BTree::Iterator::Put(Transaction* txn, std::string_view value) {
  return ChangeHere(txn, &value);
}

absl::Status BTree::Iterator::ChangeHere(Transaction* txn, const std::string_view* value) {
  if (!valid_) return absl::FailedPreconditionError("the iterator is not at an entry");
  const std::string key_now(key());
  // The tree is not changed through `tree_` otherwise: an iterator is made by const methods.
  BTree* tree = const_cast<BTree*>(tree_);
  absl::Status s = value == nullptr ? tree->Delete(txn, key_now) : tree->Put(txn, key_now, *value);
  if (!s.ok()) {
    Fail(s);
    return s;
  }
  // A delete moves on to the next entry; a put stays on its key.
  const std::string_view view = key_now;
  SeekForward(&view, /*after=*/value == nullptr);
  return status_;
}

BTree::Iterator BTree::Start(const std::string_view* begin,
                             std::optional<std::string_view> end) const {
  Iterator it;
  it.tree_ = this;
  if (end) it.end_ = std::string(*end);
  it.SeekForward(begin, /*after=*/false);
  return it;
}

BTree::Iterator BTree::SeekToLast() const {
  Iterator it;
  it.tree_ = this;
  it.SeekBackward(nullptr, /*at_or_before=*/false);
  return it;
}

BTree::Iterator BTree::SeekForPrev(std::string_view key) const {
  Iterator it;
  it.tree_ = this;
  it.SeekBackward(&key, /*at_or_before=*/true);
  return it;
}

}  // namespace pagestore
