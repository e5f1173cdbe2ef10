// RewriteIndexes (index/rewrite.h): the offline compaction's copy, index by index.
#include "index/rewrite.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "index/btree_node.h"
#include "index/hash_index.h"

namespace pagestore {
namespace {

absl::Status Named(const std::string& name, const absl::Status& s) {
  return absl::Status(s.code(),
                      fmt::format("rewriting index '{}': {}", name, std::string(s.message())));
}

// Runs `put(txn, i)` for i in [0, n), `batch` to a transaction.
absl::Status PutInBatches(Store& dest, std::size_t n, std::size_t batch,
                          const std::function<absl::Status(Transaction*, std::size_t)>& put) {
  for (std::size_t from = 0; from < n; from += batch) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = dest.Begin();
    if (!txn.ok()) return txn.status();
    for (std::size_t i = from; i < std::min(n, from + batch); ++i) {
      if (absl::Status s = put(txn->get(), i); !s.ok()) return s;
    }
    if (absl::Status s = (*txn)->Commit(Durability::kNone); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> RewriteBTree(Store& source, Store& dest, Catalog& to,
                                           const IndexInfo& info, const RewriteOptions& options) {
  const BTreeOptions tree_options =
      options.btree_options ? options.btree_options(info.name) : BTreeOptions{};
  absl::StatusOr<std::unique_ptr<BTree>> from = BTree::Open(source, info.anchor, tree_options);
  if (!from.ok()) return from.status();
  std::vector<std::pair<std::string, std::string>> inline_entries, large;
  BTree::Iterator it = (*from)->Begin();
  for (; it.Valid(); it.Next()) {
    std::pair<std::string, std::string> e(std::string(it.key()), std::string(it.value()));
    // Bulk load keeps values with their keys; larger ones go to value pages, put afterwards.
    (e.first.size() + e.second.size() > kMaxEntryBytes ? large : inline_entries)
        .push_back(std::move(e));
  }
  if (!it.status().ok()) return it.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = to.CreateBTree(info.name, tree_options);
  if (!tree.ok()) return tree.status();
  if (absl::Status s = (*tree)->BulkLoad(inline_entries, options.fill); !s.ok()) return s;
  if (absl::Status s = PutInBatches(dest, large.size(), options.batch,
                                    [&](Transaction* txn, std::size_t i) {
                                      return (*tree)->Put(txn, large[i].first, large[i].second);
                                    });
      !s.ok()) {
    return s;
  }
  return inline_entries.size() + large.size();
}

absl::StatusOr<std::uint64_t> RewriteHash(Store& source, Store& dest, Catalog& to,
                                          const IndexInfo& info, const RewriteOptions& options) {
  absl::StatusOr<std::unique_ptr<HashIndex>> from = HashIndex::Open(source, info.anchor);
  if (!from.ok()) return from.status();
  HashIndexOptions hash_options;
  hash_options.seed = (*from)->seed();  // the same hashes: the same directory shape
  absl::StatusOr<std::unique_ptr<HashIndex>> hash = to.CreateHash(info.name, hash_options);
  if (!hash.ok()) return hash.status();
  std::vector<std::pair<std::string, std::string>> entries;
  HashIndex::Iterator it = (*from)->Begin();
  for (; it.Valid(); it.Next())
    entries.emplace_back(std::string(it.key()), std::string(it.value()));
  if (!it.status().ok()) return it.status();
  if (absl::Status s = PutInBatches(dest, entries.size(), options.batch,
                                    [&](Transaction* txn, std::size_t i) {
                                      return (*hash)->Put(txn, entries[i].first, entries[i].second);
                                    });
      !s.ok()) {
    return s;
  }
  return (*hash)->Size();
}

}  // namespace

absl::StatusOr<RewriteReport> RewriteIndexes(Store& source, Store& dest,
                                             const RewriteOptions& options) {
  RewriteReport report;
  report.source_pages = source.pool().page_count();
  absl::StatusOr<std::unique_ptr<Catalog>> from = Catalog::Open(source);
  if (!from.ok()) return from.status();
  absl::StatusOr<std::unique_ptr<Catalog>> to = Catalog::Open(dest);
  if (!to.ok()) return to.status();
  absl::StatusOr<std::vector<IndexInfo>> there = (*to)->List();
  if (!there.ok()) return there.status();
  if (!there->empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "rewrite: the destination store already has {} indexes ('{}' first); give a new store",
        there->size(), there->front().name));
  }
  absl::StatusOr<std::vector<IndexInfo>> list = (*from)->List();
  if (!list.ok()) return list.status();
  for (const IndexInfo& info : *list) {
    absl::StatusOr<std::uint64_t> n = info.kind == IndexKind::kBTree
                                          ? RewriteBTree(source, dest, **to, info, options)
                                          : RewriteHash(source, dest, **to, info, options);
    if (!n.ok()) return Named(info.name, n.status());
    ++report.indexes;
    report.entries += *n;
    if (options.progress && !options.progress(info.name, *n)) {
      return absl::CancelledError(fmt::format("rewrite cancelled after index '{}'", info.name));
    }
  }
  if (absl::Status s = dest.Checkpoint(); !s.ok()) return s;
  report.dest_pages = dest.pool().page_count();
  return report;
}

}  // namespace pagestore
