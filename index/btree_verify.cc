// B+tree Verify and Stats: one structural walk of every node from the root, then of the leaf
// chain and the free list (index/README.md, "Invariants"). Verify runs it alone; Stats runs it
// with a sink that also counts, so Verify computes no statistic it would throw away, and Stats
// fails with the first problem Verify would report.
#include <fmt/format.h>

#include <algorithm>

#include "index/btree.h"
#include "index/value_pages.h"

namespace pagestore {

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
  if (stats != nullptr) stats->average_fill += static_cast<double>(n.UsedBytes());
  if (n.is_leaf()) {
    if (stats != nullptr) {
      ++stats->leaves;
      stats->entries += n.count();
    }
    for (std::size_t i = 0; i < n.count(); ++i) {
      std::uint64_t value_bytes = n.value(i).size();
      if (n.out_of_line(i)) {
        // Every page of the value read and checked, and counted as the tree's.
        absl::StatusOr<index_internal::ValueRef> ref = index_internal::DecodeValueRef(n.value(i));
        if (!ref.ok()) {
          return absl::DataLossError(fmt::format("B+tree leaf {}, entry {}: {}", id, i,
                                                 std::string(ref.status().message())));
        }
        const std::size_t before = seen->size();
        if (absl::Status s = index_internal::WalkValue(store_.pool(), anchor_, *ref, nullptr, seen);
            !s.ok()) {
          return absl::Status(s.code(), fmt::format("B+tree leaf {}, entry {}: {}", id, i,
                                                    std::string(s.message())));
        }
        value_bytes = ref->length;
        if (stats != nullptr) {
          ++stats->large_values;
          stats->value_pages += seen->size() - before;
        }
      }
      if (stats != nullptr) stats->payload_bytes += n.key(i).size() + value_bytes;
    }
    leaves->push_back(id);
    return absl::OkStatus();
  }
  if (stats != nullptr) ++stats->internals;
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

absl::Status BTree::Walk(BTreeStats* stats, std::vector<PageId>* pages) const {
  std::vector<PageId> leaves, seen;
  absl::StatusOr<BTreeAnchorView> anchor = ReadAnchor();
  if (!anchor.ok()) return anchor.status();
  const PageId root = anchor->root;
  const std::uint32_t height = anchor->height;
  if (absl::Status s = VerifyNode(root, static_cast<std::uint16_t>(height), std::nullopt,
                                  std::nullopt, &leaves, &seen, stats);
      !s.ok()) {
    return s;
  }
  // Every page reachable once.
  std::vector<PageId> sorted = std::move(seen);
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
  if (stats != nullptr) {
    stats->height = height;
    const std::size_t nodes = stats->leaves + stats->internals;
    stats->average_fill = nodes == 0 ? 0 : stats->average_fill / (nodes * Node::Capacity());
  }
  return absl::OkStatus();
}

absl::Status BTree::Verify() const { return Walk(nullptr, nullptr); }

absl::StatusOr<BTreeStats> BTree::Stats(std::vector<PageId>* pages) const {
  BTreeStats stats;
  if (absl::Status s = Walk(&stats, pages); !s.ok()) return s;
  return stats;
}

}  // namespace pagestore
