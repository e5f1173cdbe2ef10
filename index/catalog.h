// Catalog: the named indexes of one store. It is itself a B+tree (bytewise order) mapping an
// index's name to its kind and anchor page; its own anchor is the superblock's catalog root.
//
//   absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(*store);
//   absl::StatusOr<std::unique_ptr<BTree>> users = (*catalog)->CreateBTree("users");
//   ... after a reopen:
//   absl::StatusOr<std::unique_ptr<BTree>> again = (*catalog)->OpenBTree("users");
//   absl::StatusOr<std::unique_ptr<HashIndex>> ids = (*catalog)->CreateHash("ids");
//
// A tree's comparator is not stored (it is code): open a tree with the comparator it was created
// with. A hash index's seed is stored in it; a test hash function (HashIndexOptions) is code.
//
// Creating and dropping are transactional: given a transaction, they commit or roll back with
// it (a rollback of a create frees the index's pages; of a drop, names the index again, whole);
// without one, they run in a transaction of their own. A crash before the commit undoes them
// (register BTreeUndoHandler() and HashUndoHandler() in StoreOptions::undo_handlers). A drop
// frees every page of the index with its commit (the commit record lists them).
// The caller sees to it that nothing uses an index (its handles) while it is dropped or after.
//
// Ownership: refers to the Store, which must outlive it. Thread safety: safe for concurrent use.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/btree.h"
#include "index/hash_index.h"
#include "wal/store.h"

namespace pagestore {

enum class IndexKind : std::uint8_t { kBTree = 1, kHash = 2 };
std::string_view IndexKindName(IndexKind kind);

struct IndexInfo {
  std::string name;
  IndexKind kind = IndexKind::kBTree;
  PageId anchor = kInvalidPageId;
};

// One catalog entry (key: the name; value: u8 kind | u64 anchor) decoded; DataLossError if
// malformed. Tools reading the catalog's pages directly use it.
[[nodiscard]] absl::StatusOr<IndexInfo> DecodeCatalogEntry(std::string_view name,
                                                           std::string_view value);

// The options Store::Compact opens each index with (a tree's comparator is code): by name.
struct CompactionOptions {
  std::function<BTreeOptions(const std::string& name)> btree;     // empty: bytewise
  std::function<HashIndexOptions(const std::string& name)> hash;  // empty: defaults
};

class Catalog {
 public:
  // Opens the store's catalog, creating it (durably) in a new store. It also registers the
  // store's Relocator (Store::Compact packs and moves every index it names; index/README.md,
  // "Compaction"), which opens each index with the options SetCompactionOptions gave.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Catalog>> Open(Store& store);
  // A tree whose comparator is not bytewise must be given here before Store::Compact, or the
  // compaction stops at it (DataLossError naming it; what was done so far stays consistent).
  void SetCompactionOptions(CompactionOptions options);

  // InvalidArgumentError for an empty name or one over 255 bytes; AlreadyExistsError.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BTree>> CreateBTree(const std::string& name,
                                                                   BTreeOptions options = {},
                                                                   Transaction* txn = nullptr);
  // NotFoundError; FailedPreconditionError if the name is an index of another kind.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BTree>> OpenBTree(const std::string& name,
                                                                 BTreeOptions options = {});
  // The same for hash indexes.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<HashIndex>> CreateHash(const std::string& name,
                                                                      HashIndexOptions options = {},
                                                                      Transaction* txn = nullptr);
  // Removes the index's name and frees all its pages when `txn` (or the drop's own transaction)
  // commits. A drop first walks the whole index, checking it (give the options it was created
  // with: its comparator or test hash), and lists every page before it frees any. NotFoundError;
  // the index's own error (DataLossError naming the page) if the walk fails;
  // InvalidArgumentError for an index of more pages than a quarter of one log record frees
  // (Store::max_record_bytes() / 36: 466,000 pages with the default 16 MiB segments). The
  // transaction's commit fails (it stays active, to abort) if its frees in all are more than
  // one record holds.
  [[nodiscard]] absl::Status Drop(const std::string& name, Transaction* txn = nullptr,
                                  const BTreeOptions& btree = {},
                                  const HashIndexOptions& hash = {});
  [[nodiscard]] absl::StatusOr<std::unique_ptr<HashIndex>> OpenHash(const std::string& name,
                                                                    HashIndexOptions options = {});
  [[nodiscard]] absl::StatusOr<IndexInfo> Lookup(const std::string& name) const;
  // Every index, in name order.
  [[nodiscard]] absl::StatusOr<std::vector<IndexInfo>> List() const;
  // Names an index built elsewhere, in `txn` (or on its own when null).
  [[nodiscard]] absl::Status Register(const IndexInfo& info, Transaction* txn = nullptr);

  const BTree& tree() const { return *tree_; }

 private:
  Catalog(Store& store, std::unique_ptr<BTree> tree, std::shared_ptr<CompactionOptions> compaction)
      : store_(store), tree_(std::move(tree)), compaction_(std::move(compaction)) {}
  Store& store_;
  std::unique_ptr<BTree> tree_;
  // Shared with the Relocator registered in the store (which may outlive this catalog).
  std::shared_ptr<CompactionOptions> compaction_;
};

}  // namespace pagestore
