// HashIndex: an extendible hash index of byte-string keys and values over buffer-pool pages,
// logged through mini-transactions and, inside a user transaction, undone logically on abort
// and recovery. It is for point lookups; it keeps no order (use a BTree for ranges).
// index/README.md gives the page layouts, the latch protocol and the invariants Verify checks.
//
//   absl::StatusOr<std::unique_ptr<HashIndex>> index = HashIndex::Create(*store);
//   auto txn = store->Begin();
//   (*index)->Insert(txn->get(), "key", "value");   // AlreadyExistsError if present
//   (*txn)->Commit();
//   absl::StatusOr<std::string> v = (*index)->Get("key");
//   for (HashIndex::Iterator it = (*index)->Begin(); it.Valid(); it.Next()) ...  // no order
//
// Structure: a directory of 2^global_depth entries, each naming a bucket page; a bucket of
// local depth d holds exactly the keys whose hash has its d low bits equal to the bucket's
// prefix. A full bucket splits (doubling the directory when d reaches the global depth; the
// doubling is O(1): the new half of the directory is written page by page as splits first
// change it). Keys whose hashes agree on every bit up to the maximum depth go to overflow
// pages chained to their bucket. A bucket that empties merges with its buddy, and the directory
// halves when no bucket needs its top bit.
//
// The hash is XXH3-64 seeded with a per-index seed (random at creation, stored in the index).
//
// Ownership: a HashIndex refers to its Store, which must outlive it; it owns a cache of
// directory page and bucket ids (allocated as used; at most 33 MiB), validated on every use (so any
// number of HashIndex objects may be open on the same index, as the undo handler does). Thread
// safety: every method is safe for concurrent use. Readers take a shared latch on the bucket (found
// through the cache, or through one directory page) and crab along its chain; writers change a
// bucket chain under exclusive latches and take the index's anchor exclusively only to split, merge
// or grow a chain (each such change its own system mini-transaction).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/store.h"

namespace pagestore {

namespace index_internal {  // index_change.h: the change and undo plumbing both indexes share
struct IndexChange;
enum class ChangeOp : std::uint8_t;
enum class Attempt : std::uint8_t;
}  // namespace index_internal

// The resource manager id under which hash index operations register their undo.
inline constexpr std::uint16_t kHashResourceManager = 2;
// key + value of an entry stored in its bucket is at most this many bytes (four per page); an
// entry whose key + value is larger keeps its value out of line, in value pages (as the
// B+tree's: index/README.md), and the cell holds the key and a 16-byte reference (so a cell
// holds at most kMaxHashKeyBytes + 16 bytes, and a page at least three). Keys are at most
// kMaxHashKeyBytes, values at most kMaxHashValueBytes.
inline constexpr std::size_t kMaxHashEntryBytes = 992;
inline constexpr std::size_t kMaxHashKeyBytes = 1024;
inline constexpr std::size_t kMaxHashValueBytes = std::size_t{1} << 30;
// The largest directory: 2^26 entries (about 1.5 billion keys of 100 bytes before overflow).
inline constexpr std::uint32_t kMaxHashGlobalDepth = 26;

// A replacement for the index's hash function (tests: forced collisions). It must be the same
// function every time the index is opened; the seed is not applied to it.
using HashFunction = std::function<std::uint64_t(std::string_view key)>;

struct HashIndexOptions {
  // Create only (stored in the index): the XXH3 seed (default: random), and the largest global
  // depth the directory may reach (1 to kMaxHashGlobalDepth): beyond it, keys go to overflow
  // pages.
  std::optional<std::uint64_t> seed;
  std::uint32_t max_global_depth = kMaxHashGlobalDepth;
  HashFunction hash_for_testing;  // empty: XXH3-64 with the index's seed
};

struct HashIndexStats {
  std::uint64_t entries = 0;
  std::uint32_t global_depth = 0;
  std::uint32_t max_global_depth = 0;
  std::uint32_t max_local_depth = 0;
  std::uint64_t buckets = 0;
  std::uint64_t overflow_pages = 0;
  std::uint64_t directory_pages = 0;  // written directory pages (the lazily copied half excluded)
  std::uint64_t directory_index_pages = 0;
  std::uint64_t payload_bytes = 0;  // keys and values (large values at their full length)
  std::uint64_t large_values = 0;   // values stored out of line
  std::uint64_t value_pages = 0;    // the pages holding them
  double average_fill = 0;          // used bytes / capacity over bucket and overflow pages
};

class HashIndex {
 public:
  // A new empty index (its anchor, one directory page and one bucket), made in one
  // mini-transaction: of `txn`, whose rollback (or a crash before its commit) frees every page
  // the index has by then, or a system one when null. InvalidArgumentError for a
  // max_global_depth out of range.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HashIndex>> Create(
      Store& store, HashIndexOptions options = {}, Transaction* txn = nullptr);
  // The index anchored at `anchor`. DataLossError if that page is not a hash index anchor.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HashIndex>> Open(
      Store& store, PageId anchor, HashIndexOptions options = {});
  ~HashIndex();

  PageId anchor() const { return anchor_; }
  std::uint64_t seed() const { return seed_; }
  std::uint64_t Hash(std::string_view key) const;

  // Keys up to kMaxHashKeyBytes, values up to kMaxHashValueBytes (InvalidArgumentError beyond);
  // a value too large for its bucket (key + value over kMaxHashEntryBytes) is written to value
  // pages first, in `txn` (or a transaction of its own), and a replaced or deleted one's pages
  // are freed with the commit. A null transaction: the change commits on its own (a system
  // mini-transaction, never undone).
  [[nodiscard]] absl::Status Insert(Transaction* txn, std::string_view key,
                                    std::string_view value);  // AlreadyExistsError if present
  [[nodiscard]] absl::Status Put(Transaction* txn, std::string_view key, std::string_view value);
  [[nodiscard]] absl::Status Delete(Transaction* txn, std::string_view key);  // NotFoundError
  [[nodiscard]] absl::StatusOr<std::string> Get(std::string_view key) const;  // NotFoundError
  // As Get, into the caller's string (its buffer is reused: no allocation once large enough).
  [[nodiscard]] absl::Status Get(std::string_view key, std::string* value) const;
  // Many Gets at once: (*values)[i] and (*statuses)[i] answer keys[i] as Get would; both are
  // resized to keys.size(). The buckets the keys hash to, as far as the in-memory directory
  // cache knows them, that are not in the pool are read in one batch first
  // (BufferPool::LoadPages), then each key is looked up with Get, so a cold MultiGet of n keys
  // waits for about one batch instead of n reads. Keys whose bucket the cache does not know (an
  // index just opened, before its first Get fills the cache; directories past the cached part)
  // and overflow pages are read by Get one at a time. Thread safety: as Get.
  void MultiGet(std::span<const std::string_view> keys, std::vector<std::string>* values,
                std::vector<absl::Status>* statuses) const;
  // Store::Compact's first part (the catalog's Relocator calls it): merges each pair of buddy
  // buckets that are single pages and whose entries together fill at most `fill` of one page
  // (a split undone; a logged system mini-transaction each, the later page freed), repeated
  // while merges happen, then halves the directory while its upper half repeats the lower.
  // InvalidArgumentError for a fill outside (0, 1]. Exclusive, as MoveBelow.
  [[nodiscard]] absl::Status Pack(double fill = 0.9);
  // Store::Compact's part (the catalog's Relocator calls it): moves every page of the index at
  // or above `limit` (directory index and directory pages, buckets, overflow pages, large values'
  // pages) to free pages below it, each move a logged system mini-transaction that renames the
  // page where it is named. The anchor is the catalog's to move (it names it). Exclusive: nothing
  // else uses the index meanwhile, and handles opened before must be opened again (their directory
  // cache names the old pages).
  [[nodiscard]] absl::Status MoveBelow(PageId limit);
  // The number of entries: walks every bucket (O(pages); for statistics, not per operation).
  [[nodiscard]] absl::StatusOr<std::uint64_t> Size() const;

  // One operation inside the caller's mini-transaction, which must hold no pages (an undo
  // handler's compensation mini-transaction holds none): undo handlers use these. Splits they need
  // run in their own system mini-transactions first. `old` receives the previous value when there
  // was one.
  enum class Mode { kInsert, kPut };
  [[nodiscard]] absl::Status PutIn(MiniTransaction& mtr, std::string_view key,
                                   std::string_view value, Mode mode,
                                   std::optional<std::string>* old);
  [[nodiscard]] absl::Status DeleteIn(MiniTransaction& mtr, std::string_view key, std::string* old);
  // As for the B+tree (btree.h): these never write a large value, free one they replace or
  // delete with `mtr`, and PutReferenceIn puts back a large value's reference.
  [[nodiscard]] absl::Status PutReferenceIn(MiniTransaction& mtr, std::string_view key,
                                            std::string_view reference);

  // Every entry, in no particular order, one bucket at a time (the bucket's entries are copied
  // out, so no latch is held between calls). Weakly consistent under concurrent writers: an
  // entry present and unchanged for the whole iteration is seen at least once; entries moved by
  // a concurrent split may be seen twice, and changes made meanwhile may or may not be seen.
  class Iterator {
   public:
    Iterator() = default;
    bool Valid() const { return valid_; }
    std::string_view key() const { return entries_[index_].key; }  // valid until Next
    // A large value (out of line) is read when asked for, as it is then (Get). If its entry was
    // deleted meanwhile, or reading fails, value() returns empty, the iterator is no longer
    // valid, and status() says why.
    std::string_view value() const {
      const Entry& e = entries_[index_];
      return e.out_of_line ? LargeValue() : std::string_view(e.value);
    }
    void Next();
    // OK, or the error that ended the iteration early (an I/O or checksum failure).
    const absl::Status& status() const { return status_; }

   private:
    friend class HashIndex;
    const HashIndex* index_of_ = nullptr;
    std::uint64_t position_ = 0;  // the next directory position to look at
    unsigned depth_ = 0;          // the global depth at the last load
    // Buckets already visited: (page, prefix, local depth).
    absl::flat_hash_set<std::tuple<PageId, std::uint64_t, unsigned>> seen_;
    struct Entry {
      std::string key;
      std::string value;  // as stored: a large value's reference when out_of_line
      bool out_of_line;
    };
    std::vector<Entry> entries_;
    std::size_t index_ = 0;
    // value() of a large value may end the iteration (its entry deleted meanwhile).
    mutable bool valid_ = false;
    mutable absl::Status status_;
    mutable std::string large_;  // the large value read for entries_[large_index_]
    mutable std::size_t large_index_ = ~std::size_t{0};
    void Load();  // the next bucket's entries, from position_ on
    std::string_view LargeValue() const;
  };
  Iterator Begin() const;

  // Checks every directory position (it names a live bucket whose prefix it matches, and a
  // bucket of local depth d is named by exactly 2^(global - d) positions), every entry (in the
  // bucket its hash selects, stored hash correct, no key twice), the depth counts, the overflow
  // chains, that every page is reachable once and none is on the free list. The first problem,
  // naming the page. Safe beside concurrent writers: the structure checked is exact (the anchor
  // is held shared for the walk, so splits and merges wait), the entry counts a moment's view.
  [[nodiscard]] absl::Status Verify() const;
  // The index's statistics, from the same walk as Verify: its first problem instead when there
  // is one. `pages` (optional) receives every page of the index, its anchor included.
  [[nodiscard]] absl::StatusOr<HashIndexStats> Stats(std::vector<PageId>* pages = nullptr) const;

 private:
  // The structural walk Verify runs (stats null) and Stats runs counting (hash_walk.cc).
  [[nodiscard]] absl::Status Walk(HashIndexStats* stats, std::vector<PageId>* pages) const;
  class DirCache;
  struct Located;
  HashIndex(Store& store, PageId anchor, std::uint64_t seed, HashIndexOptions options);

  using Op = index_internal::ChangeOp;
  using Change = index_internal::IndexChange;
  // Insert, Put and Delete (Apply) and PutIn and DeleteIn (ApplyIn) run through the shared front
  // end (index_change.h); TryChange is one attempt: latch the key's bucket chain, change it.
  [[nodiscard]] absl::Status Apply(Transaction* txn, Change& change);
  [[nodiscard]] absl::Status ApplyIn(MiniTransaction& mtr, Change& change);
  [[nodiscard]] absl::StatusOr<index_internal::Attempt> TryChange(MiniTransaction& mtr,
                                                                  Change& change);
  // The bucket for `hash` latched exclusively in `mtr` (through the cache, else the directory).
  [[nodiscard]] absl::StatusOr<std::pair<PageId, PageSpan>> LatchBucket(MiniTransaction& mtr,
                                                                        std::uint64_t hash);
  // The change applied to a chain (`ids`, `spans`: latched, the bucket first), or every page
  // released when it needs room.
  [[nodiscard]] absl::StatusOr<index_internal::Attempt> ChangeChain(MiniTransaction& mtr,
                                                                    Change& change,
                                                                    const std::vector<PageId>& ids,
                                                                    std::vector<PageSpan>& spans);
  // Structure changes, each in its own system mini-transaction.
  // The anchor, latched for writing in `mtr` and checked: the structure's changes start here.
  [[nodiscard]] absl::StatusOr<std::byte*> LatchAnchor(MiniTransaction& mtr) const;
  [[nodiscard]] absl::Status MakeRoom(const Change& change);
  [[nodiscard]] absl::Status AddOverflow(MiniTransaction& mtr, PageId head, std::uint64_t prefix,
                                         unsigned depth);
  // Merges the bucket for `hash` with its buddy while one of them is empty, or, with `room`
  // non-zero, while both are single pages whose entries take at most `room` bytes together.
  [[nodiscard]] absl::Status MergeFrom(std::uint64_t hash, std::size_t room = 0);
  [[nodiscard]] absl::Status Shrink();

  // Get without latches (hash_optimistic.cc): kRestart when validation failed, kFallBack when
  // only the latched path can answer.
  enum class Optimistic { kFound, kNotFound, kRestart, kFallBack };
  Optimistic GetOptimistic(std::uint64_t hash, std::string_view key, std::string* value) const;
  // The bucket for `hash`, shared-latched (the directory page latched on the way, released).
  [[nodiscard]] absl::StatusOr<ReadPageGuard> FindBucket(std::uint64_t hash) const;
  // The bucket id for `hash` with its directory page latched for reading (fast path through the
  // cache, falling back to the anchor).
  [[nodiscard]] absl::StatusOr<Located> Locate(std::uint64_t hash, bool authoritative) const;

  Store& store_;
  const PageId anchor_;
  const std::uint64_t seed_;
  const HashIndexOptions options_;
  std::unique_ptr<DirCache> cache_;
};

// A hash index page decoded, for tools (pagestore dump-page): the header fields in layout order;
// a bucket's or overflow page's entries; a directory page's non-zero (position, bucket id) pairs
// or an index page's (directory page number, id) pairs; the anchor's per-depth counts as fields.
struct HashPageView {
  std::vector<std::pair<std::string, std::uint64_t>> fields;
  struct Entry {
    std::uint64_t hash;
    std::string key;
    std::string value;  // as stored: a large value's reference when out_of_line
    bool out_of_line = false;
  };
  std::vector<Entry> entries;
  std::vector<std::pair<std::uint64_t, PageId>> ids;
  std::string problem;  // non-empty when the page's fields are inconsistent: what is wrong
};
// nullopt when `page` is not a hash index page (anchor, directory, bucket or overflow page).
std::optional<HashPageView> DecodeHashPage(ConstPageSpan page);

// The undo handler for kHashResourceManager (register it in StoreOptions::undo_handlers before
// opening a store that holds hash indexes). `options` maps an anchor to the options its index
// is opened with (for a test hash function; defaults when it returns null); Store::Compact may
// move an anchor, so a map kept across one is re-keyed from the catalog.
UndoHandler HashUndoHandler(std::function<const HashIndexOptions*(PageId anchor)> options = {});

}  // namespace pagestore
