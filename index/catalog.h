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
// with. Creating an index is a system operation (not undone by a user transaction's abort); a
// crash between building the index and naming it leaves its two pages unnamed.
// A hash index's seed is stored in it; a test hash function (HashIndexOptions) is code.
//
// Ownership: refers to the Store, which must outlive it. Thread safety: safe for concurrent use.
#pragma once

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

class Catalog {
 public:
  // Opens the store's catalog, creating it (durably) in a new store.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Catalog>> Open(Store& store);

  // InvalidArgumentError for an empty name or one over 255 bytes; AlreadyExistsError.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BTree>> CreateBTree(const std::string& name,
                                                                   BTreeOptions options = {});
  // NotFoundError; FailedPreconditionError if the name is an index of another kind.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BTree>> OpenBTree(const std::string& name,
                                                                 BTreeOptions options = {});
  // The same for hash indexes.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<HashIndex>> CreateHash(
      const std::string& name, HashIndexOptions options = {});
  [[nodiscard]] absl::StatusOr<std::unique_ptr<HashIndex>> OpenHash(const std::string& name,
                                                                    HashIndexOptions options = {});
  [[nodiscard]] absl::StatusOr<IndexInfo> Lookup(const std::string& name) const;
  // Every index, in name order.
  [[nodiscard]] absl::StatusOr<std::vector<IndexInfo>> List() const;
  // Names an index built elsewhere (the hash index uses this).
  [[nodiscard]] absl::Status Register(const IndexInfo& info);

  const BTree& tree() const { return *tree_; }

 private:
  Catalog(Store& store, std::unique_ptr<BTree> tree) : store_(store), tree_(std::move(tree)) {}
  Store& store_;
  std::unique_ptr<BTree> tree_;
};

}  // namespace pagestore
