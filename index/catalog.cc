#include "index/catalog.h"

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <map>
#include <optional>

#include "index/hash_page.h"
#include "storage/logging.h"

namespace pagestore {
namespace {

// Catalog value: u8 kind | u64 anchor.
std::string Encode(IndexKind kind, PageId anchor) {
  std::string v(9, '\0');
  v[0] = static_cast<char>(kind);
  std::memcpy(v.data() + 1, &anchor, 8);
  return v;
}

}  // namespace

absl::StatusOr<IndexInfo> DecodeCatalogEntry(std::string_view name, std::string_view v) {
  if (v.size() != 9 || (v[0] != static_cast<char>(IndexKind::kBTree) &&
                        v[0] != static_cast<char>(IndexKind::kHash))) {
    return absl::DataLossError(fmt::format("catalog entry for '{}' is malformed", name));
  }
  IndexInfo info;
  info.name = std::string(name);
  info.kind = static_cast<IndexKind>(v[0]);
  std::memcpy(&info.anchor, v.data() + 1, 8);
  return info;
}

namespace {

absl::Status CheckName(const std::string& name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError(
        fmt::format("index name must be 1 to 255 bytes, not {}", name.size()));
  }
  return absl::OkStatus();
}

// An index of `kind` made by `create()` (a StatusOr of a unique_ptr to it), named `name`: the name
// checked and free first (InvalidArgumentError, AlreadyExistsError).
// Runs `body(txn)` in `txn`, or in a transaction of its own committed after it (aborted after
// an error) when null.
template <typename Body>
absl::Status InTransaction(Store& store, Transaction* txn, Body body) {
  if (txn != nullptr) return body(txn);
  absl::StatusOr<std::unique_ptr<Transaction>> own = store.Begin();
  if (!own.ok()) return own.status();
  if (absl::Status s = body(own->get()); !s.ok()) {
    if (absl::Status a = (*own)->Abort(); !a.ok()) {
      return absl::Status(s.code(),
                          fmt::format("{}; and its rollback failed: {}", std::string(s.message()),
                                      std::string(a.message())));
    }
    return s;
  }
  return (*own)->Commit(Durability::kNone);
}

template <typename Create>
auto CreateNamed(Store& store, Catalog& catalog, const std::string& name, IndexKind kind,
                 Transaction* txn, Create create) -> decltype(create(txn)) {
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  if (catalog.tree().Get(name).ok()) {
    return absl::AlreadyExistsError(fmt::format("an index named '{}' exists", name));
  }
  decltype(create(txn)) index = absl::UnknownError("not created");
  absl::Status s = InTransaction(store, txn, [&](Transaction* t) -> absl::Status {
    index = create(t);
    if (!index.ok()) return index.status();
    return catalog.Register({name, kind, (*index)->anchor()}, t);
  });
  if (!s.ok()) return s;
  return index;
}

// The anchor of the index named `name`, which must be of `kind`: NotFoundError, or
// FailedPreconditionError naming the kind it is.
absl::StatusOr<PageId> AnchorOf(const Catalog& catalog, const std::string& name, IndexKind kind) {
  absl::StatusOr<IndexInfo> info = catalog.Lookup(name);
  if (!info.ok()) return info.status();
  if (info->kind != kind) {
    return absl::FailedPreconditionError(
        fmt::format("index '{}' is a {} index, not a {}", name, IndexKindName(info->kind),
                    kind == IndexKind::kBTree ? "B+tree" : "hash index"));
  }
  return info->anchor;
}

}  // namespace

std::string_view IndexKindName(IndexKind kind) {
  switch (kind) {
    case IndexKind::kBTree:
      return "btree";
    case IndexKind::kHash:
      return "hash";
  }
  return "unknown";
}

namespace {

// Store::Compact's Relocator: the catalog's tree, then every B+tree it names, packed
// (BTree::Pack); then the anchors in the tail moved (MoveAnchorsBelow), and every tree's pages
// moved below the limit (BTree::MoveBelow); hash indexes packed (HashIndex::Pack) and moved
// (HashIndex::MoveBelow) likewise. Moves follow pointers, but every
// node is checked when first read (key order included), so each tree is opened with its
// comparator (Catalog::SetCompactionOptions).

// `fn` on the catalog's tree, then on every B+tree it names, and `hash_fn` on every hash index,
// each opened with the options `opts` gives for its name.
absl::Status ForEachIndex(Store& store, const CompactionOptions& opts,
                          const std::function<absl::Status(BTree&)>& fn,
                          const std::function<absl::Status(HashIndex&)>& hash_fn) {
  const PageId root = store.catalog_root();
  if (root == kInvalidPageId) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<BTree>> catalog = BTree::Open(store, root);
  if (!catalog.ok()) return catalog.status();
  if (absl::Status s = fn(**catalog); !s.ok()) return s;
  std::vector<IndexInfo> indexes;
  BTree::Iterator it = (*catalog)->Begin();
  for (; it.Valid(); it.Next()) {
    absl::StatusOr<IndexInfo> info = DecodeCatalogEntry(it.key(), it.value());
    if (!info.ok()) return info.status();
    indexes.push_back(*info);
  }
  if (!it.status().ok()) return it.status();
  for (const IndexInfo& info : indexes) {
    absl::Status s;
    if (info.kind == IndexKind::kBTree) {
      absl::StatusOr<std::unique_ptr<BTree>> tree =
          BTree::Open(store, info.anchor, opts.btree ? opts.btree(info.name) : BTreeOptions{});
      s = tree.ok() ? fn(**tree) : tree.status();
    } else if (hash_fn) {
      absl::StatusOr<std::unique_ptr<HashIndex>> hash = HashIndex::Open(
          store, info.anchor, opts.hash ? opts.hash(info.name) : HashIndexOptions{});
      s = hash.ok() ? hash_fn(**hash) : hash.status();
    }
    if (!s.ok()) {
      return absl::Status(
          s.code(), fmt::format("compacting index '{}': {}", info.name, std::string(s.message())));
    }
  }
  return absl::OkStatus();
}

// Every page of the index anchored at `info.anchor`, from a full walk (which checks it).
absl::Status IndexPages(Store& store, const CompactionOptions& opts, const IndexInfo& info,
                        std::vector<PageId>* pages) {
  if (info.kind == IndexKind::kBTree) {
    absl::StatusOr<std::unique_ptr<BTree>> t =
        BTree::Open(store, info.anchor, opts.btree ? opts.btree(info.name) : BTreeOptions{});
    return t.ok() ? (*t)->Stats(pages).status() : t.status();
  }
  absl::StatusOr<std::unique_ptr<HashIndex>> h =
      HashIndex::Open(store, info.anchor, opts.hash ? opts.hash(info.name) : HashIndexOptions{});
  return h.ok() ? (*h)->Stats(pages).status() : h.status();
}

// The owner field every page that names its index's anchor holds (a hash index's directory,
// bucket and overflow pages; a large value's pages) is at the same offset in each.
constexpr std::size_t kOwnerOffset = 32;
static_assert(kOwnerOffset == hash_internal::kDirOwner && kOwnerOffset == hash_internal::kBktOwner);

bool NamesOwner(const std::byte* p, PageId anchor) {
  const auto type = static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
  if (type != PageType::kHashDirectory && type != PageType::kHashBucket &&
      type != PageType::kOverflow && type != PageType::kValue) {
    return false;
  }
  PageId owner;
  std::memcpy(&owner, p + kOwnerOffset, sizeof owner);
  return owner == anchor;
}

// An index's anchor at or above `limit` moves too, first (so that it takes one of the lowest
// free pages): one system mini-transaction relocates it, renames it in every page naming it as
// owner and rewrites every catalog entry naming it (`names`), and scrubs the old page so that a
// handle kept across the compaction fails there rather than write into a free page. It stays
// where it is, with a warning, for an index with more such pages than one mini-transaction
// holds (a large hash index, many large values), and for a tree with its own comparator (an
// undo handler finds the comparator by any of its names' anchor); and quietly when no free page
// lies below the limit.
absl::StatusOr<std::optional<PageMove>> MoveAnchor(Store& store, BTree& catalog,
                                                   const CompactionOptions& opts,
                                                   const std::vector<IndexInfo>& names,
                                                   PageId limit) {
  const IndexInfo& info = names.front();
  for (const IndexInfo& name : names) {
    if (name.kind == IndexKind::kBTree && opts.btree && opts.btree(name.name).comparator) {
      Logf(LogLevel::kWarning,
           "compaction: the anchor of index '{}' stays at page {}: the tree has its own "
           "comparator, which undo handlers find by anchor",
           name.name, name.anchor);
      return std::nullopt;
    }
  }
  std::vector<PageId> pages;
  if (absl::Status s = IndexPages(store, opts, info, &pages); !s.ok()) return s;
  std::vector<PageId> named;
  for (PageId id : pages) {
    if (id == info.anchor) continue;
    absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(id);
    if (!g.ok()) return g.status();
    if (NamesOwner(g->data().data(), info.anchor)) named.push_back(id);
  }
  // The anchor, its new page, and the catalog's path to each name.
  absl::StatusOr<BTreeStats> catalog_stats = catalog.Stats();
  if (!catalog_stats.ok()) return catalog_stats.status();
  const std::size_t latched = named.size() + 2 + 1 + (catalog_stats->height + 1) * names.size();
  if (latched > store.pool().frame_count() / 2 ||
      latched * (kPageSize + 64) > store.max_record_bytes() / 2) {
    Logf(LogLevel::kWarning,
         "compaction: the anchor of index '{}' stays at page {}: {} pages name it, more than one "
         "mini-transaction renames",
         info.name, info.anchor, named.size());
    return std::nullopt;
  }
  MiniTransaction mtr = store.BeginMtr();
  absl::StatusOr<PageId> moved = mtr.Relocate(info.anchor);
  if (!moved.ok()) return moved.status();
  if (*moved >= limit) return std::nullopt;  // no free page below the limit: rolled back
  for (PageId id : named) {
    absl::StatusOr<PageSpan> p = mtr.GetForWrite(id);
    if (!p.ok()) return p.status();
    if (!NamesOwner(p->data(), info.anchor)) {
      return absl::DataLossError(
          fmt::format("index '{}': page {} no longer names its anchor {} while it moves", info.name,
                      id, info.anchor));
    }
    std::memcpy(p->data() + kOwnerOffset, &*moved, sizeof *moved);
  }
  for (const IndexInfo& name : names) {
    if (absl::Status s = catalog.ReplaceValueIn(mtr, name.name, Encode(name.kind, *moved));
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<PageSpan> old = mtr.GetForWrite(info.anchor);
  if (!old.ok()) return old.status();
  std::memset(old->data() + kPageHeaderSize, 0, kPageSize - kPageHeaderSize);
  if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  return PageMove{info.anchor, *moved};
}

// Every index's anchor at or above `limit` moved below it (MoveAnchor); the names sharing an
// anchor move together. The catalog's own anchor stays (the superblock names it; it is made
// with the store, at the front).
absl::StatusOr<std::vector<PageMove>> MoveAnchorsBelow(Store& store, const CompactionOptions& opts,
                                                       PageId limit) {
  std::vector<PageMove> moves;
  const PageId root = store.catalog_root();
  if (root == kInvalidPageId) return moves;
  absl::StatusOr<std::unique_ptr<BTree>> catalog = BTree::Open(store, root);
  if (!catalog.ok()) return catalog.status();
  std::map<PageId, std::vector<IndexInfo>> by_anchor;
  BTree::Iterator it = (*catalog)->Begin();
  for (; it.Valid(); it.Next()) {
    absl::StatusOr<IndexInfo> info = DecodeCatalogEntry(it.key(), it.value());
    if (!info.ok()) return info.status();
    if (info->anchor >= limit) by_anchor[info->anchor].push_back(*info);
  }
  if (!it.status().ok()) return it.status();
  for (const auto& [anchor, names] : by_anchor) {
    absl::StatusOr<std::optional<PageMove>> move = MoveAnchor(store, **catalog, opts, names, limit);
    if (!move.ok()) {
      return absl::Status(move.status().code(),
                          fmt::format("moving the anchor of index '{}': {}", names.front().name,
                                      std::string(move.status().message())));
    }
    if (*move) moves.push_back(**move);
  }
  return moves;
}

Relocator IndexRelocator(std::shared_ptr<CompactionOptions> opts) {
  Relocator r;
  r.pack = [opts](Store& store) {
    return ForEachIndex(
        store, *opts, [](BTree& tree) { return tree.Pack(); },
        [](HashIndex& hash) { return hash.Pack(); });
  };
  r.move_below = [opts](Store& store, PageId limit) -> absl::StatusOr<std::vector<PageMove>> {
    absl::StatusOr<std::vector<PageMove>> anchors = MoveAnchorsBelow(store, *opts, limit);
    if (!anchors.ok()) return anchors.status();
    if (absl::Status s = ForEachIndex(
            store, *opts, [limit](BTree& tree) { return tree.MoveBelow(limit); },
            [limit](HashIndex& hash) { return hash.MoveBelow(limit); });
        !s.ok()) {
      return s;
    }
    return anchors;
  };
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(Store& store) {
  auto compaction = std::make_shared<CompactionOptions>();
  store.SetRelocator(IndexRelocator(compaction));
  const PageId root = store.catalog_root();
  if (root != kInvalidPageId) {
    absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Open(store, root);
    if (!tree.ok()) return tree.status();
    return std::unique_ptr<Catalog>(new Catalog(store, std::move(*tree), compaction));
  }
  absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Create(store);
  if (!tree.ok()) return tree.status();
  if (absl::Status s = store.SetCatalogRoot((*tree)->anchor()); !s.ok()) return s;
  return std::unique_ptr<Catalog>(new Catalog(store, std::move(*tree), compaction));
}

void Catalog::SetCompactionOptions(CompactionOptions options) {
  // Read by the Relocator only inside Store::Compact, which the caller runs exclusively.
  *compaction_ = std::move(options);
}

absl::Status Catalog::Register(const IndexInfo& info, Transaction* txn) {
  if (absl::Status s = CheckName(info.name); !s.ok()) return s;
  absl::Status s = tree_->Insert(txn, info.name, Encode(info.kind, info.anchor));
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(fmt::format("an index named '{}' exists", info.name));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<BTree>> Catalog::CreateBTree(const std::string& name,
                                                            BTreeOptions options,
                                                            Transaction* txn) {
  return CreateNamed(store_, *this, name, IndexKind::kBTree, txn,
                     [&](Transaction* t) { return BTree::Create(store_, options, t); });
}

absl::StatusOr<std::unique_ptr<HashIndex>> Catalog::CreateHash(const std::string& name,
                                                               HashIndexOptions options,
                                                               Transaction* txn) {
  return CreateNamed(store_, *this, name, IndexKind::kHash, txn,
                     [&](Transaction* t) { return HashIndex::Create(store_, options, t); });
}

absl::Status Catalog::Drop(const std::string& name, Transaction* txn, const BTreeOptions& btree,
                           const HashIndexOptions& hash) {
  absl::StatusOr<IndexInfo> info = Lookup(name);
  if (!info.ok()) return info.status();
  // Every page of the index, from a full walk (which checks it): the commit frees them.
  std::vector<PageId> pages;
  absl::Status walked;
  if (info->kind == IndexKind::kBTree) {
    absl::StatusOr<std::unique_ptr<BTree>> t = BTree::Open(store_, info->anchor, btree);
    walked = t.ok() ? (*t)->Stats(&pages).status() : t.status();
  } else {
    absl::StatusOr<std::unique_ptr<HashIndex>> h = HashIndex::Open(store_, info->anchor, hash);
    walked = h.ok() ? (*h)->Stats(&pages).status() : h.status();
  }
  if (!walked.ok()) {
    return absl::Status(
        walked.code(), fmt::format("dropping index '{}': {}", name, std::string(walked.message())));
  }
  if (pages.size() > store_.max_record_bytes() / 9 / 4) {
    return absl::InvalidArgumentError(fmt::format(
        "dropping index '{}': its {} pages are more than one log record frees ({} bytes); larger "
        "log segments take larger drops",
        name, pages.size(), store_.max_record_bytes()));
  }
  return InTransaction(store_, txn, [&](Transaction* t) -> absl::Status {
    absl::Status s = tree_->Delete(t, name);  // its undo names the index again
    if (absl::IsNotFound(s)) return absl::NotFoundError(fmt::format("no index named '{}'", name));
    if (!s.ok()) return s;
    MiniTransaction mtr = t->BeginMtr();
    if (absl::Status f = mtr.FreeAtCommit(pages); !f.ok()) return f;
    return mtr.Commit().status();
  });
}

absl::StatusOr<std::unique_ptr<HashIndex>> Catalog::OpenHash(const std::string& name,
                                                             HashIndexOptions options) {
  absl::StatusOr<PageId> anchor = AnchorOf(*this, name, IndexKind::kHash);
  if (!anchor.ok()) return anchor.status();
  return HashIndex::Open(store_, *anchor, std::move(options));
}

absl::StatusOr<IndexInfo> Catalog::Lookup(const std::string& name) const {
  absl::StatusOr<std::string> v = tree_->Get(name);
  if (absl::IsNotFound(v.status())) {
    return absl::NotFoundError(fmt::format("no index named '{}'", name));
  }
  if (!v.ok()) return v.status();
  return DecodeCatalogEntry(name, *v);
}

absl::StatusOr<std::unique_ptr<BTree>> Catalog::OpenBTree(const std::string& name,
                                                          BTreeOptions options) {
  absl::StatusOr<PageId> anchor = AnchorOf(*this, name, IndexKind::kBTree);
  if (!anchor.ok()) return anchor.status();
  return BTree::Open(store_, *anchor, std::move(options));
}

absl::StatusOr<std::vector<IndexInfo>> Catalog::List() const {
  std::vector<IndexInfo> out;
  auto it = tree_->Begin();
  for (; it.Valid(); it.Next()) {
    absl::StatusOr<IndexInfo> info = DecodeCatalogEntry(it.key(), it.value());
    if (!info.ok()) return info.status();
    out.push_back(std::move(*info));
  }
  if (!it.status().ok()) return it.status();
  return out;
}

}  // namespace pagestore
