// BTree: a B+tree of byte-string keys and values over buffer-pool pages, logged through
// mini-transactions and, inside a user transaction, undone logically on abort and recovery.
// index/README.md gives the page layouts, the latch protocol and the invariants Verify checks.
//
//   absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Create(*store);
//   auto txn = store->Begin();
//   tree->Insert(txn->get(), "key", "value");   // AlreadyExistsError if present
//   (*txn)->Commit();
//   absl::StatusOr<std::string> v = tree->Get("key");
//   for (BTree::Iterator it = tree->Scan("a", "m"); it.Valid(); it.Next()) ...
//
// A tree is named by its anchor page (kBTreeMeta: root and height), which never moves.
// Passing a null transaction makes a change commit on its own (a system mini-transaction: redo
// only, never undone).
//
// Ownership: a BTree refers to its Store, which must outlive it; it owns nothing else.
// Thread safety: every method is safe for concurrent use. Readers crab down with shared latches
// and never block each other; writers descend optimistically (shared latches, the leaf
// exclusive) and latch the path exclusively only when a split or merge needs it. An Iterator
// holds one leaf latched at a time; writers of that leaf wait until it moves on, so do not keep
// one open while writing to the same tree from the same thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/btree_node.h"
#include "index/btree_root_hint.h"
#include "wal/store.h"

namespace pagestore {

namespace index_internal {  // index_change.h: the change and undo plumbing both indexes share
struct IndexChange;
enum class ChangeOp : std::uint8_t;
enum class Attempt : std::uint8_t;
}  // namespace index_internal

// The resource manager id under which B+tree operations register their undo.
inline constexpr std::uint16_t kBTreeResourceManager = 1;

struct BTreeOptions {
  KeyComparator comparator;  // empty: bytewise, compared inline
};

struct BTreeStats {
  std::uint64_t entries = 0;
  std::uint32_t height = 0;  // levels above the leaves
  std::uint64_t leaves = 0;
  std::uint64_t internals = 0;
  std::uint64_t payload_bytes = 0;  // keys and values
  double average_fill = 0;          // used bytes / capacity over all nodes
};

class BTree {
 public:
  // A new empty tree (its anchor and an empty root leaf), created durably-logged in a system
  // mini-transaction.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BTree>> Create(Store& store,
                                                                     BTreeOptions options = {});
  // The tree anchored at `anchor`. DataLossError if that page is not a B+tree anchor.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BTree>> Open(Store& store, PageId anchor,
                                                                   BTreeOptions options = {});

  PageId anchor() const { return anchor_; }

  // InvalidArgumentError when key + value exceed kMaxEntryBytes.
  [[nodiscard]] absl::Status Insert(Transaction* txn, std::string_view key,
                                    std::string_view value);  // AlreadyExistsError if present
  [[nodiscard]] absl::Status Put(Transaction* txn, std::string_view key, std::string_view value);
  [[nodiscard]] absl::Status Delete(Transaction* txn, std::string_view key);  // NotFoundError
  [[nodiscard]] absl::StatusOr<std::string> Get(std::string_view key) const;  // NotFoundError
  // As Get, into the caller's string (its buffer is reused: no allocation once large enough).
  [[nodiscard]] absl::Status Get(std::string_view key, std::string* value) const;

  // One operation inside the caller's mini-transaction (which must hold no page of this tree):
  // undo handlers use these. `old` receives the previous value when there was one.
  enum class Mode { kInsert, kPut };
  [[nodiscard]] absl::Status PutIn(MiniTransaction& mtr, std::string_view key,
                                   std::string_view value, Mode mode,
                                   std::optional<std::string>* old);
  [[nodiscard]] absl::Status DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old);

  // Ordered iteration over [begin, end) (no end: to the last key).
  class Iterator {
   public:
    Iterator() = default;
    bool Valid() const { return valid_; }
    // Valid until Next.
    std::string_view key() const {
      return Node(const_cast<std::byte*>(leaf_.data().data())).key(index_);
    }
    std::string_view value() const {
      return Node(const_cast<std::byte*>(leaf_.data().data())).value(index_);
    }
    void Next() {
      if (!valid_) return;
      ++index_;
      // The common case inline: another entry on this leaf and no end bound to check.
      if (!end_ && index_ < Node(const_cast<std::byte*>(leaf_.data().data())).count()) return;
      Settle();
    }
    // OK, or the error that ended the iteration early (an I/O or checksum failure).
    const absl::Status& status() const { return status_; }

   private:
    friend class BTree;
    const BTree* tree_ = nullptr;
    ReadPageGuard leaf_;
    std::size_t index_ = 0;
    std::optional<std::string> end_;
    bool valid_ = false;
    absl::Status status_;
    std::string last_key_;  // the last key of the last non-empty leaf left behind
    bool have_last_ = false;
    std::uint64_t empty_hops_ = 0;  // empty leaves passed since then
    void Settle();  // moves to the first entry at or after index_ (next leaves), checks end_
  };
  Iterator Scan(std::string_view begin, std::optional<std::string_view> end = std::nullopt) const {
    return Start(&begin, end);
  }
  Iterator Begin() const { return Start(nullptr, std::nullopt); }  // from the first key
  // Positioned at the first key >= `key`.
  Iterator LowerBound(std::string_view key) const { return Start(&key, std::nullopt); }

  // Loads sorted, unique keys into an empty tree, filling each node to `fill` (0.5-1.0) of its
  // capacity. InvalidArgumentError for unsorted input or a non-empty tree.
  [[nodiscard]] absl::Status BulkLoad(std::span<const std::pair<std::string, std::string>> sorted,
                                      double fill = 0.9);

  // Checks key order in every node, separator bounds, levels, the leaf chain, that every page is
  // reachable once and none is on the free list. The first problem, naming the page.
  [[nodiscard]] absl::Status Verify() const;
  // The tree's statistics, from the same walk as Verify: its first problem instead when there is
  // one. `pages` (optional) receives every page of the tree, its anchor included (tools check
  // that no page belongs to two structures).
  [[nodiscard]] absl::StatusOr<BTreeStats> Stats(std::vector<PageId>* pages = nullptr) const;

  const KeyComparator& comparator() const { return options_.comparator; }

 private:
  BTree(Store& store, PageId anchor, BTreeOptions options)
      : store_(store), anchor_(anchor), options_(std::move(options)) {}

  // The optimistic descent (btree_optimistic.cc). kRestart when a validation failed, kFallBack
  // when only the latched path can answer (a miss, a writer in, a node not yet checked, a
  // custom comparator, a damaged anchor).
  enum class Optimistic { kFound, kNotFound, kRestart, kFallBack };
  // Get without latches.
  Optimistic GetOptimistic(std::string_view key, std::string* value) const;
  // Down *key's path (the leftmost when null) to the node at `level`: kFound with *node a guard
  // on it, not yet validated (the caller reads it, then validates), every node above validated
  // after its child's snapshot; kNotFound when the tree is lower than `level`.
  Optimistic DescendOptimistic(const std::string_view* key, std::uint16_t level,
                               OptimisticPageGuard* node) const;
  // The leaf on *key's path (the leftmost when null), from its parent read optimistically (a few
  // attempts): kFound with *leaf and *parent, validated; the caller latches the leaf, then
  // validates *parent again, which proves the leaf still covers the key. kNotFound: the root is
  // a leaf. kFallBack: use the latched descent (also for a custom comparator).
  Optimistic LeafOptimistic(const std::string_view* key, PageId* leaf,
                            OptimisticPageGuard* parent) const;
  // Crabs down from the anchor with shared latches along the path of *key (the leftmost path
  // when null) and returns the node at `level` latched. OutOfRangeError if the tree is lower.
  [[nodiscard]] absl::StatusOr<ReadPageGuard> DescendShared(const std::string_view* key,
                                                            std::uint16_t level) const;
  // The node at `p` (page `id`, latched by the caller) checked with CheckNode the first time it
  // is used after it entered its frame, and its type and level (`level` < 0: any) every time.
  // The common case (checked before, type and level right) is inline: three loads.
  [[nodiscard]] absl::Status CheckedNode(PageId id, const std::byte* p, int level) const {
    std::uint16_t type, actual;
    std::memcpy(&type, p + offsetof(PageHeader, type), sizeof type);
    std::memcpy(&actual, p + kNodeLevelOffset, sizeof actual);
    if (store_.pool().structure_checked(p) &&
        (type == static_cast<std::uint16_t>(PageType::kBTreeLeaf) ||
         type == static_cast<std::uint16_t>(PageType::kBTreeInternal)) &&
        (level < 0 || actual == level)) [[likely]] {
      return absl::OkStatus();
    }
    return CheckNodeSlow(id, p, level);
  }
  [[nodiscard]] absl::Status CheckNodeSlow(PageId id, const std::byte* p, int level) const;
  // The anchor page's type and height checked; the height.
  [[nodiscard]] absl::StatusOr<std::uint32_t> CheckedAnchor(const std::byte* p) const;
  // From the first key >= *begin (the first key of all when null).
  Iterator Start(const std::string_view* begin, std::optional<std::string_view> end) const;

  using Op = index_internal::ChangeOp;
  using Change = index_internal::IndexChange;
  // Insert, Put and Delete (Apply) and PutIn and DeleteIn (ApplyIn) run through the shared front
  // end (index_change.h); ChangeIn is one attempt: optimistic, else pessimistic (splitting or
  // merging in the same mini-transaction, so it never needs room made first).
  [[nodiscard]] absl::Status Apply(Transaction* txn, Change& change);
  [[nodiscard]] absl::Status ApplyIn(MiniTransaction& mtr, Change& change);
  [[nodiscard]] absl::StatusOr<index_internal::Attempt> ChangeIn(MiniTransaction& mtr,
                                                                 Change& change);
  [[nodiscard]] absl::StatusOr<bool> TryOptimistic(MiniTransaction& mtr, Change& change);
  // The pessimistic path, in btree_structure.cc: latch the path, change the leaf, then split or
  // rebalance upward along the latched path.
  struct Path;
  [[nodiscard]] absl::Status Pessimistic(MiniTransaction& mtr, Change& change);
  [[nodiscard]] absl::Status LatchPath(MiniTransaction& mtr, const Change& change, Path* path);
  [[nodiscard]] absl::Status SplitUp(MiniTransaction& mtr, Path& path, Change& change);
  [[nodiscard]] absl::Status Rebalance(MiniTransaction& mtr, Path& path);
  [[nodiscard]] absl::Status FixUnderfull(MiniTransaction& mtr, Path& path, std::size_t level);
  bool Safe(const Node& node, const Change& change, bool is_root) const;
  [[nodiscard]] absl::Status ChangeLeaf(MiniTransaction& mtr, Node& leaf, Change& change,
                                        bool* done);
  // The structural walk Verify runs (stats null) and Stats runs counting (btree_verify.cc).
  [[nodiscard]] absl::Status Walk(BTreeStats* stats, std::vector<PageId>* pages) const;
  // One node and, recursively, its children within bounds [lo, hi); `stats` may be null.
  [[nodiscard]] absl::Status VerifyNode(PageId id, std::uint16_t level,
                                        std::optional<std::string> lo,
                                        std::optional<std::string> hi, std::vector<PageId>* leaves,
                                        std::vector<PageId>* seen, BTreeStats* stats) const;

  Store& store_;
  const PageId anchor_;
  const BTreeOptions options_;
  // The root and height as the anchor last said, valid while the anchor's frame is unchanged.
  mutable index_internal::RootHint root_hint_;
};

// The undo handler for kBTreeResourceManager (register it in StoreOptions::undo_handlers before
// opening a store that holds B+trees). `comparators` maps an anchor to its tree's comparator
// (bytewise when it returns null).
// The anchor's fields (tools decoding a page): the root and the levels above the leaves.
struct BTreeAnchorView {
  PageId root = kInvalidPageId;
  std::uint32_t height = 0;
};
BTreeAnchorView ReadBTreeAnchor(ConstPageSpan page);

UndoHandler BTreeUndoHandler(std::function<const KeyComparator*(PageId anchor)> comparators = {});

}  // namespace pagestore
