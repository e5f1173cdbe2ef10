// Giving space back: with StoreOptions::truncate_free_tail, checkpoints give the free pages at
// the end of the file back to the file system, under both disk managers, and the store reopens
// with every value; without it, the file keeps its size.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "storage/logging.h"
#include "tests/storage/test_util.h"
#include "wal/store.h"

namespace pagestore::testing {
namespace {

using Model = std::map<std::string, std::string>;

StoreOptions SpaceOptions(DiskManagerKind kind, bool truncate) {
  StoreOptions o;
  o.disk.kind = kind;
  o.disk.mmap.growth_size = 1 << 20;
  o.pool_frames = 256;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.truncate_free_tail = truncate;
  return o;
}

// Every entry of `tree`, in order.
Model ReadAll(const BTree& tree) {
  Model m;
  BTree::Iterator it = tree.Begin();
  for (; it.Valid(); it.Next()) m.emplace(std::string(it.key()), std::string(it.value()));
  EXPECT_TRUE(it.status().ok()) << it.status();
  return m;
}

class SpaceTest : public ::testing::TestWithParam<std::tuple<DiskManagerKind, bool>> {};

TEST_P(SpaceTest, CheckpointsGiveTheFreeTailBack) {
  const auto [kind, truncate] = GetParam();
  TempDir dir;
  const std::filesystem::path path = dir.file("s.pages");
  Model model;
  std::uintmax_t full = 0, after = 0;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, SpaceOptions(kind, truncate));
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
    ASSERT_TRUE(tree.ok()) << tree.status();
    for (int i = 0; i < 300; ++i) {
      const std::string key = fmt::format("k{:04}", i);
      const std::string value(10000 + i, static_cast<char>('a' + i % 26));
      ASSERT_TRUE((*tree)->Put(nullptr, key, value).ok());
      model[key] = value;
    }
    ASSERT_TRUE((*store)->Checkpoint().ok());
    full = std::filesystem::file_size(path);
    // The values written last hold the end of the file.
    for (int i = 50; i < 300; ++i) {
      ASSERT_TRUE((*tree)->Delete(nullptr, fmt::format("k{:04}", i)).ok());
      model.erase(fmt::format("k{:04}", i));
    }
    ASSERT_TRUE((*store)->Checkpoint().ok());
    ASSERT_TRUE((*store)->Checkpoint().ok());
    after = std::filesystem::file_size(path);
    const StoreStats stats = (*store)->stats();
    if (truncate) {
      EXPECT_LT(after, full / 4) << "from " << full << " bytes";
      EXPECT_EQ(after, (*store)->pool().page_count() * kPageSize);
      EXPECT_GT(stats.pages_truncated, 500u);
      for (PageId f : (*store)->FreePages()) EXPECT_LT(f, (*store)->pool().page_count());
    } else {
      EXPECT_GE(after, full);
      EXPECT_EQ(stats.pages_truncated, 0u);
    }
    ASSERT_TRUE((*store)->Close().ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, SpaceOptions(kind, truncate));
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree("t");
  ASSERT_TRUE(tree.ok()) << tree.status();
  ASSERT_TRUE((*tree)->Verify().ok()) << (*tree)->Verify();
  EXPECT_EQ(ReadAll(**tree), model);
  // The file grows again over what it gave back.
  for (int i = 300; i < 400; ++i) {
    ASSERT_TRUE((*tree)->Put(nullptr, fmt::format("k{:04}", i), std::string(9000, 'z')).ok());
  }
  ASSERT_TRUE((*tree)->Verify().ok());
  ASSERT_TRUE((*store)->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Managers, SpaceTest,
                         ::testing::Combine(::testing::Values(DiskManagerKind::kPread,
                                                              DiskManagerKind::kMmap),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return fmt::format("{}_{}", DiskManagerKindName(std::get<0>(info.param)),
                                              std::get<1>(info.param) ? "truncate" : "keep");
                         });

}  // namespace
}  // namespace pagestore::testing

namespace pagestore::testing {
namespace {

// A store filled, then 70% deleted, compacted in place: every entry kept, the tree verifies,
// and the file shrinks to its live pages, nodes packed: within 10% of a fresh store of the same
// data.
class CompactTest : public ::testing::TestWithParam<bool> {};  // with a hash index too

TEST_P(CompactTest, SeventyPercentDeletedCompactsToNearAFreshStore) {
  const bool with_hash = GetParam();
  TempDir dir;
  std::map<std::string, std::string> model;
  std::vector<std::string> order;
  std::mt19937_64 rng(11);
  const StoreOptions o = SpaceOptions(DiskManagerKind::kPread, /*truncate=*/false);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("c.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
  ASSERT_TRUE(tree.ok()) << tree.status();
  absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->CreateHash("h");
  ASSERT_TRUE(hash.ok()) << hash.status();
  std::map<std::string, std::string> hash_model;
  for (int i = 0; i < 20000; ++i) {
    const std::string key = fmt::format("k{:010}", rng() % 1000000000);
    const std::string value(i % 400 == 0 ? 6000 : 50 + rng() % 150,
                            static_cast<char>('a' + i % 26));
    if (!model.count(key)) order.push_back(key);
    ASSERT_TRUE((*tree)->Put(nullptr, key, value).ok());
    model[key] = value;
    if (with_hash && i % 4 == 0) {
      ASSERT_TRUE((*hash)->Put(nullptr, key, value).ok());
      hash_model[key] = value;
    }
  }
  for (const std::string& key : order) {
    if (rng() % 10 < 7) {
      ASSERT_TRUE((*tree)->Delete(nullptr, key).ok());
      model.erase(key);
      if (hash_model.erase(key) != 0) {
        ASSERT_TRUE((*hash)->Delete(nullptr, key).ok());
      }
    }
  }
  hash->reset();  // a handle's directory cache names pages a compaction moves
  const PageId sparse = (*store)->pool().page_count();
  absl::StatusOr<CompactResult> r = (*store)->Compact();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pages_before, sparse);
  const PageId dense = (*store)->pool().page_count();
  ASSERT_TRUE((*tree)->Verify().ok()) << (*tree)->Verify();
  EXPECT_EQ(ReadAll(**tree), model);
  {
    absl::StatusOr<std::unique_ptr<HashIndex>> h = (*catalog)->OpenHash("h");
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE((*h)->Verify().ok()) << (*h)->Verify();
    absl::StatusOr<std::uint64_t> size = (*h)->Size();
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, hash_model.size());
    for (const auto& [k, v] : hash_model) {
      absl::StatusOr<std::string> got = (*h)->Get(k);
      ASSERT_TRUE(got.ok()) << k << ": " << got.status();
      EXPECT_EQ(*got, v);
    }
  }
  // A fresh store holding the same data, put in the same order.
  absl::StatusOr<std::unique_ptr<Store>> fresh = Store::Open(dir.file("f.pages"), o);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  absl::StatusOr<std::unique_ptr<Catalog>> fc = Catalog::Open(**fresh);
  ASSERT_TRUE(fc.ok());
  absl::StatusOr<std::unique_ptr<BTree>> ft = (*fc)->CreateBTree("t");
  ASSERT_TRUE(ft.ok());
  absl::StatusOr<std::unique_ptr<HashIndex>> fh = (*fc)->CreateHash("h");
  ASSERT_TRUE(fh.ok());
  for (const std::string& key : order) {
    if (auto it = model.find(key); it != model.end()) {
      ASSERT_TRUE((*ft)->Put(nullptr, key, it->second).ok());
    }
    if (auto it = hash_model.find(key); it != hash_model.end()) {
      ASSERT_TRUE((*fh)->Put(nullptr, key, it->second).ok());
    }
  }
  ASSERT_TRUE((*fresh)->Checkpoint().ok());
  const PageId fresh_pages = (*fresh)->pool().page_count();
  RecordProperty("pages", fmt::format("sparse {} ({} free), compacted {} (limit {}), fresh {}",
                                      sparse, sparse - r->limit, dense, r->limit, fresh_pages));
  // Every live page moved below the limit and the rest was given back: the file is its live
  // pages (and a trunk or two), its nodes packed: within 10% of a fresh store of the same data.
  // (A few pages move last, once the free pages below the limit are taken by the free list's
  // trunks: they land just past it.)
  EXPECT_LE(dense, r->limit + r->limit / 100 + 8) << "from " << sparse;
  EXPECT_LT(dense, sparse);
  EXPECT_LE((*store)->FreePages().size(), r->limit / 100 + 8);
  // B+tree nodes and hash buckets packed (buddies that fit one bucket merged).
  EXPECT_LE(dense, fresh_pages * 11 / 10) << "compacted " << dense << ", fresh " << fresh_pages;
  fmt::print("sparse {} pages, compacted {}, fresh {}\n", sparse, dense, fresh_pages);
  // It reopens as it is.
  tree->reset();
  catalog->reset();
  ASSERT_TRUE((*store)->Close().ok());
  store->reset();
  store = Store::Open(dir.file("c.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok());
  tree = (*catalog)->OpenBTree("t");
  ASSERT_TRUE(tree.ok());
  ASSERT_TRUE((*tree)->Verify().ok());
  EXPECT_EQ((*store)->pool().page_count(), dense);
}

INSTANTIATE_TEST_SUITE_P(Indexes, CompactTest, ::testing::Bool(), [](const auto& info) {
  return std::string(info.param ? "BTreeAndHash" : "BTree");
});

}  // namespace
}  // namespace pagestore::testing

namespace pagestore::testing {
namespace {

// Every page of the store is free, a superblock copy, or a page of one of the catalog's indexes
// (or of the catalog), and none is two of these.
void ExpectEveryPageAccountedFor(Store& store, Catalog& catalog,
                                 const CompactionOptions& options = {}) {
  std::vector<PageId> all = store.FreePages();
  auto add = [&all](std::vector<PageId>& pages) {
    all.insert(all.end(), pages.begin(), pages.end());
  };
  std::vector<PageId> pages;
  ASSERT_TRUE(catalog.tree().Stats(&pages).ok());
  add(pages);
  absl::StatusOr<std::vector<IndexInfo>> list = catalog.List();
  ASSERT_TRUE(list.ok()) << list.status();
  std::set<PageId> anchors;
  for (const IndexInfo& info : *list) {
    if (!anchors.insert(info.anchor).second) continue;  // an alias: counted once
    if (info.kind == IndexKind::kBTree) {
      absl::StatusOr<std::unique_ptr<BTree>> t =
          catalog.OpenBTree(info.name, options.btree ? options.btree(info.name) : BTreeOptions{});
      ASSERT_TRUE(t.ok()) << t.status();
      ASSERT_TRUE((*t)->Stats(&pages).ok()) << info.name;
      add(pages);
    } else {
      absl::StatusOr<std::unique_ptr<HashIndex>> h =
          catalog.OpenHash(info.name, options.hash ? options.hash(info.name) : HashIndexOptions{});
      ASSERT_TRUE(h.ok()) << h.status();
      ASSERT_TRUE((*h)->Stats(&pages).ok()) << info.name;
      add(pages);
    }
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a page counted twice";
  std::vector<PageId> expect;
  for (PageId id = kFirstDataPage; id < store.pool().page_count(); ++id) expect.push_back(id);
  EXPECT_EQ(all, expect) << "pages leaked or out of the file";
}

// A tree "early" of about a megabyte: the indexes made after it have their anchors past it.
void FillEarly(Catalog& catalog) {
  absl::StatusOr<std::unique_ptr<BTree>> early = catalog.CreateBTree("early");
  ASSERT_TRUE(early.ok()) << early.status();
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE((*early)->Put(nullptr, fmt::format("e{:06}", i), std::string(300, 'e')).ok());
  }
}

// Indexes made after a large one is filled have their anchors near the end of the file; once the
// large one is dropped, the compaction moves those anchors too: each renamed in the catalog
// (every name for it: an alias too) and in every page naming it as owner (a hash index's
// directory, bucket and overflow pages, large values' pages).
TEST(CompactAnchorTest, AnchorsInTheTailMoveAndTheCatalogFollows) {
  TempDir dir;
  const StoreOptions o = SpaceOptions(DiskManagerKind::kPread, /*truncate=*/false);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("a.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  // Keys of one length share a hash: one bucket with a chain of overflow pages.
  HashIndexOptions colliding;
  colliding.hash_for_testing = [](std::string_view key) { return key.size(); };
  CompactionOptions options;
  options.hash = [&](const std::string& name) {
    return name == "colliding" ? colliding : HashIndexOptions{};
  };
  (*catalog)->SetCompactionOptions(options);
  ASSERT_NO_FATAL_FAILURE(FillEarly(**catalog));
  Model tree_model, hash_model, colliding_model;
  // A few large values (out of line: their pages name the anchor) among small ones; few enough
  // that every page naming the hash index's anchor fits one mini-transaction with it.
  auto value = [](int i) {
    return i % 40 == 0 ? std::string(9000, static_cast<char>('A' + i % 26))
                       : fmt::format("value {}", i);
  };
  std::map<std::string, PageId> before;
  {
    absl::StatusOr<std::unique_ptr<BTree>> late = (*catalog)->CreateBTree("late");
    ASSERT_TRUE(late.ok()) << late.status();
    absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->CreateHash("late hash");
    ASSERT_TRUE(hash.ok()) << hash.status();
    absl::StatusOr<std::unique_ptr<HashIndex>> chained =
        (*catalog)->CreateHash("colliding", colliding);
    ASSERT_TRUE(chained.ok()) << chained.status();
    for (int i = 0; i < 300; ++i) {
      const std::string k = fmt::format("l{:04}", i);
      ASSERT_TRUE((*late)->Put(nullptr, k, value(i)).ok());
      tree_model[k] = value(i);
      ASSERT_TRUE((*hash)->Put(nullptr, k, value(i + 20)).ok());
      hash_model[k] = value(i + 20);
      if (i < 120) {
        ASSERT_TRUE((*chained)->Put(nullptr, k, std::string(100, 'c')).ok());
        colliding_model[k] = std::string(100, 'c');
      }
    }
    absl::StatusOr<HashIndexStats> chain = (*chained)->Stats();
    ASSERT_TRUE(chain.ok());
    ASSERT_GT(chain->overflow_pages, 0u) << "premise: a chain of overflow pages";
    before = {{"late", (*late)->anchor()},
              {"late alias", (*late)->anchor()},
              {"late hash", (*hash)->anchor()},
              {"colliding", (*chained)->anchor()}};
    ASSERT_TRUE((*catalog)->Register({"late alias", IndexKind::kBTree, (*late)->anchor()}).ok());
  }
  ASSERT_TRUE((*catalog)->Drop("early").ok());
  absl::StatusOr<std::unique_ptr<BTree>> stale = (*catalog)->OpenBTree("late");
  ASSERT_TRUE(stale.ok());
  const PageId sparse = (*store)->pool().page_count();
  absl::StatusOr<CompactResult> r = (*store)->Compact();
  ASSERT_TRUE(r.ok()) << r.status();
  // The old anchor page was freed and scrubbed: a handle kept across the compaction (against
  // the contract) gets an error, never another tree's data.
  EXPECT_FALSE((*stale)->Get("l0001").ok());
  stale->reset();
  for (const auto& [name, anchor] : before) {
    ASSERT_GE(anchor, r->limit) << "premise: the anchor of " << name << " lies in the tail";
  }
  EXPECT_LE(r->pages_after, r->limit + r->limit / 100 + 8) << "from " << sparse;
  EXPECT_EQ(r->anchors_moved.size(), 3u);
  auto check = [&](const std::string& when) {
    SCOPED_TRACE(when);
    absl::StatusOr<std::vector<IndexInfo>> list = (*catalog)->List();
    ASSERT_TRUE(list.ok()) << list.status();
    ASSERT_EQ(list->size(), before.size());
    std::map<std::string, PageId> now;
    for (const IndexInfo& info : *list) now[info.name] = info.anchor;
    EXPECT_EQ(now["late alias"], now["late"]);
    for (const auto& [name, anchor] : now) {
      EXPECT_LT(anchor, r->pages_after) << name;
      const PageMove want{before[name], anchor};
      EXPECT_TRUE(
          std::any_of(r->anchors_moved.begin(), r->anchors_moved.end(),
                      [&](const PageMove& m) { return m.from == want.from && m.to == want.to; }))
          << name << " moved from " << before[name] << " to " << anchor << " unreported";
    }
    absl::StatusOr<std::unique_ptr<BTree>> late = (*catalog)->OpenBTree("late alias");
    ASSERT_TRUE(late.ok()) << late.status();
    ASSERT_TRUE((*late)->Verify().ok()) << (*late)->Verify();
    EXPECT_EQ(ReadAll(**late), tree_model);
    for (const auto& [name, model, opts] :
         {std::tuple{"late hash", &hash_model, HashIndexOptions{}},
          std::tuple{"colliding", &colliding_model, colliding}}) {
      absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->OpenHash(name, opts);
      ASSERT_TRUE(hash.ok()) << hash.status();
      ASSERT_TRUE((*hash)->Verify().ok()) << (*hash)->Verify();
      for (const auto& [k, v] : *model) {
        absl::StatusOr<std::string> got = (*hash)->Get(k);
        ASSERT_TRUE(got.ok() && *got == v) << name << " " << k << ": " << got.status();
      }
      // Writes go on against the moved anchors, large values included.
      ASSERT_TRUE((*hash)->Put(nullptr, "zz " + when, value(40)).ok());
      (*model)["zz " + when] = value(40);
    }
    ASSERT_TRUE((*late)->Put(nullptr, "zz " + when, value(0)).ok());
    tree_model["zz " + when] = value(0);
    ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(**store, **catalog, options));
  };
  check("compacted");
  catalog->reset();
  ASSERT_TRUE((*store)->Close().ok());
  store->reset();
  store = Store::Open(dir.file("a.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok());
  (*catalog)->SetCompactionOptions(options);
  check("reopened");
}

// An anchor named by more pages than one mini-transaction renames stays where it is, and so
// does a tree's with its own comparator (undo handlers find comparators by anchor): a warning
// names each, and the store stays whole.
TEST(CompactAnchorTest, SomeAnchorsStayWithAWarning) {
  TempDir dir;
  const StoreOptions o = SpaceOptions(DiskManagerKind::kPread, /*truncate=*/false);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("s.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  BTreeOptions reverse;
  reverse.comparator = [](std::string_view a, std::string_view b) { return b.compare(a); };
  CompactionOptions options;
  options.btree = [&](const std::string& name) {
    return name == "reverse" ? reverse : BTreeOptions{};
  };
  (*catalog)->SetCompactionOptions(options);
  ASSERT_NO_FATAL_FAILURE(FillEarly(**catalog));
  Model big_model, reverse_model;
  PageId big_anchor, reverse_anchor;
  {
    absl::StatusOr<std::unique_ptr<BTree>> rev = (*catalog)->CreateBTree("reverse", reverse);
    ASSERT_TRUE(rev.ok()) << rev.status();
    absl::StatusOr<std::unique_ptr<HashIndex>> big = (*catalog)->CreateHash("big");
    ASSERT_TRUE(big.ok()) << big.status();
    for (int i = 0; i < 8000; ++i) {
      const std::string k = fmt::format("b{:05}", i);
      ASSERT_TRUE((*big)->Put(nullptr, k, std::string(100, 'b')).ok());
      big_model[k] = std::string(100, 'b');
      if (i < 50) {
        ASSERT_TRUE((*rev)->Put(nullptr, k, "r").ok());
        reverse_model[k] = "r";
      }
    }
    absl::StatusOr<HashIndexStats> stats = (*big)->Stats();
    ASSERT_TRUE(stats.ok());
    ASSERT_GT(stats->buckets, o.pool_frames / 2) << "premise: more pages than one move latches";
    big_anchor = (*big)->anchor();
    reverse_anchor = (*rev)->anchor();
  }
  ASSERT_TRUE((*catalog)->Drop("early").ok());
  std::vector<std::string> warnings;
  LogSink previous = SetLogSink([&](LogLevel level, std::string_view m) {
    if (level == LogLevel::kWarning) warnings.emplace_back(m);
  });
  absl::StatusOr<CompactResult> r = (*store)->Compact();
  SetLogSink(std::move(previous));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GE(reverse_anchor, r->limit) << "premise";
  EXPECT_TRUE(r->anchors_moved.empty());
  auto warned = [&](const std::string& name) {
    return std::any_of(warnings.begin(), warnings.end(), [&](const std::string& w) {
      return w.find("'" + name + "' stays") != std::string::npos;
    });
  };
  EXPECT_TRUE(warned("big")) << "no warning for the large hash index";
  EXPECT_TRUE(warned("reverse")) << "no warning for the tree with its own comparator";
  absl::StatusOr<IndexInfo> big = (*catalog)->Lookup("big");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->anchor, big_anchor);
  absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->OpenHash("big");
  ASSERT_TRUE(hash.ok()) << hash.status();
  ASSERT_TRUE((*hash)->Verify().ok()) << (*hash)->Verify();
  absl::StatusOr<std::uint64_t> size = (*hash)->Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, big_model.size());
  absl::StatusOr<std::unique_ptr<BTree>> rev = (*catalog)->OpenBTree("reverse", reverse);
  ASSERT_TRUE(rev.ok()) << rev.status();
  EXPECT_EQ((*rev)->anchor(), reverse_anchor);
  ASSERT_TRUE((*rev)->Verify().ok()) << (*rev)->Verify();
  EXPECT_EQ(ReadAll(**rev), reverse_model);
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(**store, **catalog, options));
}

// A tree in reverse order: compaction opens it with the comparator SetCompactionOptions gives;
// without it, the compaction stops at the tree with DataLossError and the store stays whole.
TEST(CompactComparatorTest, ATreeWithItsOwnOrderNeedsItsComparator) {
  TempDir dir;
  BTreeOptions reverse;
  reverse.comparator = [](std::string_view a, std::string_view b) { return BytewiseCompare(b, a); };
  const StoreOptions o = [] {
    StoreOptions s = SpaceOptions(DiskManagerKind::kPread, false);
    s.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
    return s;
  }();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("r.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok());
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("r", reverse);
  ASSERT_TRUE(tree.ok());
  std::map<std::string, std::string> model;
  for (int i = 0; i < 6000; ++i) {
    const std::string key = fmt::format("k{:06}", i);
    ASSERT_TRUE((*tree)->Put(nullptr, key, std::string(120, 'v')).ok());
    if (i % 10 < 3) {
      model[key] = std::string(120, 'v');
    }
  }
  for (int i = 0; i < 6000; ++i) {
    if (i % 10 >= 3) {
      ASSERT_TRUE((*tree)->Delete(nullptr, fmt::format("k{:06}", i)).ok());
    }
  }
  tree->reset();
  absl::StatusOr<CompactResult> refused = (*store)->Compact();
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  CompactionOptions with_order;
  with_order.btree = [&](const std::string&) { return reverse; };
  (*catalog)->SetCompactionOptions(with_order);
  absl::StatusOr<CompactResult> r = (*store)->Compact();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->pages_after, r->pages_before / 2);
  tree = (*catalog)->OpenBTree("r", reverse);
  ASSERT_TRUE(tree.ok());
  ASSERT_TRUE((*tree)->Verify().ok()) << (*tree)->Verify();
  std::size_t n = 0;
  for (BTree::Iterator it = (*tree)->Begin(); it.Valid(); it.Next(), ++n) {
    ASSERT_TRUE(model.count(std::string(it.key()))) << it.key();
  }
  EXPECT_EQ(n, model.size());
}

}  // namespace
}  // namespace pagestore::testing
