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
// A tree is named by its anchor page (kBTreeMeta: root and height). Only Store::Compact moves
// an anchor, and only one the catalog names (CompactResult::anchors_moved lists the moves).
// Passing a null transaction makes a change commit on its own (a system mini-transaction: redo
// only, never undone).
//
// Ownership: a BTree refers to its Store, which must outlive it; it owns nothing else.
// Thread safety: every method is safe for concurrent use. Readers descend optimistically (no
// latch; bytewise order) or crab down with shared latches, and never block each other; writers
// find their leaf the same way, latch only it exclusively, and latch the path exclusively only
// when a split or merge needs it. An Iterator holds no latch between calls, so the thread that
// holds one may write to the same tree.
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
  // Scan read-ahead: when a forward iterator is about to step to a leaf that is not in the
  // pool, it reads that leaf and the leaves after it under the same parent (their ids from the
  // parent) in one batch (BufferPool::LoadPages). The window starts at 4 leaves and doubles at
  // each read-ahead of the iterator, up to this many and an eighth of the pool; 0 turns
  // read-ahead off.
  std::size_t read_ahead_leaves = 64;
};

struct BTreeStats {
  std::uint64_t entries = 0;
  std::uint32_t height = 0;  // levels above the leaves
  std::uint64_t leaves = 0;
  std::uint64_t internals = 0;
  std::uint64_t payload_bytes = 0;  // keys and values (large values at their full length)
  std::uint64_t large_values = 0;   // values stored out of line
  std::uint64_t value_pages = 0;    // the pages holding them
  double average_fill = 0;          // used bytes / capacity over all nodes
};

// The root and height an anchor page names (ReadBTreeAnchor, below).
struct BTreeAnchorView {
  PageId root = kInvalidPageId;
  std::uint32_t height = 0;
};

class BTree {
 public:
  // A new empty tree (its anchor and an empty root leaf), made in one mini-transaction: of
  // `txn`, whose rollback (or a crash before its commit) frees every page the tree has by then,
  // or a system one when null.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BTree>> Create(Store& store,
                                                                     BTreeOptions options = {},
                                                                     Transaction* txn = nullptr);
  // The tree anchored at `anchor`. DataLossError if that page is not a B+tree anchor.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BTree>> Open(Store& store, PageId anchor,
                                                                   BTreeOptions options = {});

  PageId anchor() const { return anchor_; }

  // Keys up to kMaxKeyBytes, values up to kMaxValueBytes (InvalidArgumentError beyond). A value
  // that does not fit its leaf with its key (key + value over kMaxEntryBytes) is written to
  // value pages first, in `txn` (or in a transaction of its own when null), and named by the
  // leaf; a replaced or deleted one's pages are freed with the commit.
  [[nodiscard]] absl::Status Insert(Transaction* txn, std::string_view key,
                                    std::string_view value);  // AlreadyExistsError if present
  [[nodiscard]] absl::Status Put(Transaction* txn, std::string_view key, std::string_view value);
  [[nodiscard]] absl::Status Delete(Transaction* txn, std::string_view key);  // NotFoundError
  [[nodiscard]] absl::StatusOr<std::string> Get(std::string_view key) const;  // NotFoundError
  // As Get, into the caller's string (its buffer is reused: no allocation once large enough).
  [[nodiscard]] absl::Status Get(std::string_view key, std::string* value) const;
  // Many Gets at once: (*values)[i] and (*statuses)[i] answer keys[i], as Get would (OK with
  // the value, NotFoundError, or Get's errors); both vectors are resized to keys.size(). The
  // keys are sorted (repeats looked up once) and descended level by level: each round takes
  // every pending key down as far as its path is in the pool, and reads all the pages the
  // round found missing together (BufferPool::LoadPages: one io_uring submission per eighth of
  // the pool), so a cold MultiGet of n keys waits for about one batch per level where n Gets
  // wait for n reads per level. Each key's answer is a value it had during the call. Thread
  // safety: as Get.
  void MultiGet(std::span<const std::string_view> keys, std::vector<std::string>* values,
                std::vector<absl::Status>* statuses) const;

  // One operation inside the caller's mini-transaction (which must hold no page of this tree):
  // undo handlers use these. `old` receives the previous value when there was one.
  enum class Mode { kInsert, kPut };
  [[nodiscard]] absl::Status PutIn(MiniTransaction& mtr, std::string_view key,
                                   std::string_view value, Mode mode,
                                   std::optional<std::string>* old);
  [[nodiscard]] absl::Status DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old);
  // These never write a large value: PutIn takes values stored with their key (key + value up
  // to kMaxEntryBytes; InvalidArgumentError beyond), `old` receives a large value's reference as
  // stored, and a large value they replace or delete is freed with `mtr` (so, used for a
  // forward change in a transaction, an abort could not put it back: they are for undo).
  // PutReferenceIn puts back a large value's reference (undo of a change that replaced or
  // deleted it).
  [[nodiscard]] absl::Status PutReferenceIn(MiniTransaction& mtr, std::string_view key,
                                            std::string_view reference);

  // Ordered iteration, forward over [begin, end) (no end: to the last key) and backward.
  //
  // An iterator holds no latch between calls: it works on a copy of its current leaf, taken
  // under a shared latch, and moves to the next leaf through the copy's right link while the
  // leaf is unchanged since the copy (its frame's version validates), else by a new descent for
  // the first key above the last one it returned. Backward moves descend for the last key below
  // the first key of the copy (leaves have no left link). So the thread that holds an iterator
  // may write to the tree (directly or through the cursor's Delete and Put), and under
  // concurrent writers an iterator returns keys strictly in order, never one twice, and every
  // key that exists throughout its walk (LevelDB's iterator guarantees). A key changed during
  // the walk may or may not be seen, with one of the values it had.
  //
  // Move-only; one thread at a time. The tree must outlive it.
  class Iterator {
   public:
    Iterator() = default;
    Iterator(Iterator&&) noexcept = default;
    Iterator& operator=(Iterator&&) noexcept = default;

    bool Valid() const { return valid_; }
    // Valid until the next move (or Delete / Put) of this iterator.
    std::string_view key() const { return Leaf().key(index_); }
    // A large value (stored out of line) is read from its pages when asked for. If its entry
    // was deleted after the iterator reached it, or reading fails, value() returns empty, the
    // iterator is no longer valid, and status() says why.
    std::string_view value() const {
      const Node n = Leaf();
      if (!n.out_of_line(index_)) [[likely]]
        return n.value(index_);
      return LargeValue();
    }
    void Next() {
      if (!valid_) return;
      ++index_;
      // The common case inline: another entry on this leaf and no end bound to check.
      if (!end_ && index_ < Leaf().count()) return;
      SettleForward();
    }
    // To the entry before; past the first key the iterator is no longer valid. The end bound of
    // a Scan does not limit backward moves.
    void Prev();
    // OK, or the error that ended the iteration early (an I/O or checksum failure, a malformed
    // tree).
    const absl::Status& status() const { return status_; }

    // Cursor changes. Delete removes the entry at the iterator (in `txn`, or in a system
    // mini-transaction when null) and moves it to the next entry, as if by Next; Put replaces
    // the entry's value and leaves the iterator on it (its new value). FailedPreconditionError
    // when the iterator is not valid; the tree's errors otherwise (after which the iterator is
    // not valid).
    [[nodiscard]] absl::Status Delete(Transaction* txn);
    [[nodiscard]] absl::Status Put(Transaction* txn, std::string_view value);

   private:
    friend class BTree;
    struct alignas(64) PageCopy {
      std::byte bytes[kPageSize];
    };
    // Backward walks: a copy of the leaf's parent, validated when made, and where the leaf copy
    // is among its children (-1: the leftmost child). While the parent is unchanged, the leaf to
    // the left is the child before, and Prev steps there without a descent.
    struct ParentCopy {
      std::unique_ptr<PageCopy> page;
      OptimisticPageGuard version;
      int pos = -1;
      bool valid = false;
    };
    const Node Leaf() const { return Node(page_->bytes); }
    // Copies the leaf `guard` holds (Load: and releases the latch). The parent copy no longer
    // applies unless `keep_parent` (the caller has just made it, or stepped through it).
    void Copy(const ReadPageGuard& guard, bool keep_parent = false);
    void Load(ReadPageGuard& guard, bool keep_parent = false);
    // At the first entry >= *key (> *key when `after`; the first of all when null), forward.
    void SeekForward(const std::string_view* key, bool after);
    // At the last entry < *key (<= *key when `at_or_before`; the last of all when null).
    void SeekBackward(const std::string_view* key, bool at_or_before);
    // Loads the leaf where a walk resumes past the bound (a new descent) and puts index_ at the
    // first entry past it, keeping the leaf latched in *keep when not null; false after an
    // error.
    bool Relocate(ReadPageGuard* keep);
    // Loads the leaf left of the copy through parent_; false when that cannot be done (no parent
    // copy, the leftmost child, the parent changed). An error fails the iterator (and is true).
    bool StepLeft();
    void SettleForward();  // at the first entry at or after index_ (next leaves), checks end_
    // Before a step to leaf `right` that is not in the pool: reads it and the leaves after it
    // in one batch (the window, BTreeOptions::read_ahead_leaves). `may_latch` false when the
    // caller holds a leaf latched: the parent is then only looked for optimistically.
    void ReadAhead(PageId right, bool may_latch);
    void Fail(absl::Status s);
    std::string_view LargeValue() const;
    // Delete (value null) or Put at the iterator, then found again by key.
    [[nodiscard]] absl::Status ChangeHere(Transaction* txn, const std::string_view* value);

    const BTree* tree_ = nullptr;
    std::unique_ptr<PageCopy> page_;
    OptimisticPageGuard version_;  // the copied leaf's frame and version when copied
    ParentCopy parent_;
    std::size_t index_ = 0;
    std::optional<std::string> end_;
    // value() of a large value may end the iteration (its entry deleted meanwhile).
    mutable bool valid_ = false;
    mutable absl::Status status_;
    // The large value read for the entry at index_ of this copy (reset by every copy).
    mutable std::string large_;
    mutable bool large_loaded_ = false;
    mutable std::size_t large_index_ = 0;
    // Where a forward walk resumes if its leaf changed: above bound_ (at or above it when
    // bound_inclusive_): the seek key, then the last key of each non-empty leaf left behind.
    std::string bound_;
    bool have_bound_ = false;
    bool bound_inclusive_ = false;
    std::uint64_t hops_ = 0;             // empty leaves passed and re-descents since the last key
    std::size_t read_ahead_window_ = 0;  // leaves the last read-ahead asked for (0: none yet)
  };
  Iterator Scan(std::string_view begin, std::optional<std::string_view> end = std::nullopt) const {
    return Start(&begin, end);
  }
  Iterator Begin() const { return Start(nullptr, std::nullopt); }  // from the first key
  // Positioned at the first key >= `key`.
  Iterator LowerBound(std::string_view key) const { return Start(&key, std::nullopt); }
  // Positioned at the last key of all (not valid when the tree is empty).
  Iterator SeekToLast() const;
  // Positioned at the last key <= `key` (not valid when there is none).
  Iterator SeekForPrev(std::string_view key) const;

  // Loads sorted, unique keys into an empty tree, filling each node to `fill` (0.5-1.0) of its
  // capacity. InvalidArgumentError for unsorted input or a non-empty tree.
  [[nodiscard]] absl::Status BulkLoad(std::span<const std::pair<std::string, std::string>> sorted,
                                      double fill = 0.9);

  // Store::Compact's part (the catalog's Relocator calls it): moves every page of the tree at or
  // above `limit` (nodes, and the pages of large values but their first) to free pages below
  // it, each move a logged system mini-transaction that also points the parent (or the anchor)
  // and the left neighbour at the new page. The anchor is the catalog's to move (it names it).
  // Exclusive: nothing else uses the tree meanwhile.
  [[nodiscard]] absl::Status MoveBelow(PageId limit);
  // Store::Compact's rename of an entry (the catalog's, when an index's anchor moves): the value
  // of `key`, which is there and stored in line, replaced in place by `value` of the same length
  // inside `mtr`, which latches the key's leaf for writing. NotFoundError; InvalidArgumentError
  // for another length or a value stored out of line. Exclusive, as MoveBelow.
  [[nodiscard]] absl::Status ReplaceValueIn(MiniTransaction& mtr, std::string_view key,
                                            std::string_view value);
  // Store::Compact's packing: adjacent nodes under one parent merged while their bytes fit `fill`
  // (0.5-1.0) of a node, each merge a logged system mini-transaction; a root left with one
  // child hands the root down. Exclusive, as MoveBelow.
  [[nodiscard]] absl::Status Pack(double fill = 0.9);

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
  // Get without latches. *miss, when `miss` is not null, receives the page whose absence from
  // the pool made it fall back (kInvalidPageId when it fell back for another reason).
  Optimistic GetOptimistic(std::string_view key, std::string* value, PageId* miss = nullptr) const;
  // MultiGet's probe of one key: OK (value found), NotFoundError, or Get's errors; or
  // UnavailableError with *miss the first page its path needs that is not in the pool (nothing
  // read from disk then, except a large value's pages).
  [[nodiscard]] absl::Status GetIfResident(std::string_view key, std::string* value,
                                           PageId* miss) const;
  // Which child a descent takes at each internal node: kCover, the one whose range holds *key
  // (the leftmost with no key); kBelow, the one whose range holds the last key < *key (the
  // child right of the last separator < *key; the rightmost with no key). `lower`, when not
  // null, receives the lower bound of the node reached (the separator left of it on its path;
  // none on the leftmost path).
  enum class Pick { kCover, kBelow };
  // Down the path `pick` says to the node at `level`: kFound with *node a guard on it, not yet
  // validated (the caller reads it, then validates), every node above validated after its
  // child's snapshot; kNotFound when the tree is lower than `level`.
  Optimistic DescendOptimistic(const std::string_view* key, std::uint16_t level,
                               OptimisticPageGuard* node, Pick pick = Pick::kCover,
                               std::optional<std::string>* lower = nullptr,
                               PageId* miss = nullptr) const;
  // The leaf on the path `pick` says, from its parent read optimistically (a few attempts):
  // kFound with *leaf and *parent, validated; the caller latches the leaf, then validates
  // *parent again, which proves the leaf still covers the key. kNotFound: the root is a leaf.
  // kFallBack: use the latched descent (also for a custom comparator).
  Optimistic LeafOptimistic(const std::string_view* key, PageId* leaf, OptimisticPageGuard* parent,
                            Pick pick = Pick::kCover,
                            std::optional<std::string>* lower = nullptr) const;
  // Crabs down from the anchor with shared latches along the path `pick` says (as
  // DescendOptimistic, `lower` too) and returns the node at `level` latched. OutOfRangeError if
  // the tree is lower. With `miss` not null it reads nothing from disk: a page of the path not
  // in the pool ends it with UnavailableError and the page in *miss.
  [[nodiscard]] absl::StatusOr<ReadPageGuard> DescendShared(
      const std::string_view* key, std::uint16_t level, Pick pick = Pick::kCover,
      std::optional<std::string>* lower = nullptr, PageId* miss = nullptr) const;
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
  // Pack's merges among the children of `parent` (at `level`); whether any happened.
  [[nodiscard]] absl::StatusOr<bool> PackChildren(PageId parent, int level, std::size_t budget);
  // The large value whose reference a leaf holds (the caller keeps it named meanwhile: the leaf
  // latched, or its version validated afterwards).
  [[nodiscard]] absl::Status ReadLargeValue(std::string_view reference, std::string* value) const;
  // The anchor page's type and height checked; the height.
  [[nodiscard]] absl::StatusOr<std::uint32_t> CheckedAnchor(const std::byte* p) const;
  // The anchor read (shared latch, released on return) and checked: its root and height.
  [[nodiscard]] absl::StatusOr<BTreeAnchorView> ReadAnchor() const;
  // From the first key >= *begin (the first key of all when null).
  Iterator Start(const std::string_view* begin, std::optional<std::string_view> end) const;
  // The leaf on the path `pick` says (as DescendOptimistic, `lower` too), latched shared: from
  // its parent read optimistically, else by crabbing down. `parent`, when not null, receives a
  // validated copy of the leaf's parent on the optimistic path (not valid otherwise), for
  // backward steps.
  [[nodiscard]] absl::StatusOr<ReadPageGuard> LeafShared(
      const std::string_view* key, Pick pick = Pick::kCover,
      std::optional<std::string>* lower = nullptr, Iterator::ParentCopy* parent = nullptr) const;

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

// The anchor's fields (tools decoding a page): the root and the levels above the leaves.
BTreeAnchorView ReadBTreeAnchor(ConstPageSpan page);

// The undo handler for kBTreeResourceManager (register it in StoreOptions::undo_handlers before
// opening a store that holds B+trees). `comparators` maps an anchor to its tree's comparator
// (bytewise when it returns null). Store::Compact never moves the anchor of a tree whose
// compaction options give it a comparator, so the map stays right across one.
UndoHandler BTreeUndoHandler(std::function<const KeyComparator*(PageId anchor)> comparators = {});

}  // namespace pagestore
