// The catalog's operations as transactions: creating and dropping B+trees and hash indexes
// commit or roll back with a transaction, survive or vanish with a crash as the commit says, and
// leave no page behind (the catalog's pages, every index's and the free list are the whole file).
#include "index/catalog.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

StoreOptions CatalogOptions() {
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 256;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

// Every data page belongs to the catalog, to exactly one named index, or to the free list.
void ExpectEveryPageAccountedFor(Store& store, Catalog& catalog) {
  std::set<PageId> seen;
  auto add = [&](const std::vector<PageId>& pages, const std::string& whose) {
    for (PageId id : pages)
      ASSERT_TRUE(seen.insert(id).second) << "page " << id << " (" << whose << ") twice";
  };
  std::vector<PageId> pages;
  PS_ASSERT_OK(catalog.tree().Stats(&pages).status());
  ASSERT_NO_FATAL_FAILURE(add(pages, "catalog"));
  PS_ASSIGN_OR_FAIL(list, catalog.List());
  for (const IndexInfo& info : list) {
    pages.clear();
    if (info.kind == IndexKind::kBTree) {
      PS_ASSIGN_OR_FAIL(t, catalog.OpenBTree(info.name));
      PS_ASSERT_OK(t->Stats(&pages).status());
    } else {
      PS_ASSIGN_OR_FAIL(h, catalog.OpenHash(info.name));
      PS_ASSERT_OK(h->Stats(&pages).status());
    }
    ASSERT_NO_FATAL_FAILURE(add(pages, info.name));
  }
  ASSERT_NO_FATAL_FAILURE(add(store.FreePages(), "free"));
  for (PageId id = kFirstDataPage; id < store.pool().page_count(); ++id) {
    ASSERT_TRUE(seen.contains(id)) << "page " << id << " belongs to nothing: leaked";
  }
}

std::string Big(std::size_t n, char c) { return std::string(n, c); }

TEST(CatalogTest, CreateInATransactionCommitsOrRollsBackWithIt) {
  SimulatedStore sim(CatalogOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("rows", {}, txn.get()));
    PS_ASSIGN_OR_FAIL(hash, catalog->CreateHash("ids", {}, txn.get()));
    for (int i = 0; i < 300; ++i) {  // enough to split: the rollback frees those pages too
      PS_ASSERT_OK(
          tree->Insert(txn.get(), fmt::format("k{:04}", i), Big(i % 7 == 0 ? 9000 : 50, 'v')));
      PS_ASSERT_OK(hash->Insert(txn.get(), fmt::format("k{:04}", i), "v"));
    }
    PS_ASSERT_OK(catalog->Lookup("rows").status());  // visible to the transaction's own thread
    PS_ASSERT_OK(txn->Abort());
  }
  EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("rows").status()));
  EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("ids").status()));
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(*store, *catalog));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("rows", {}, txn.get()));
    PS_ASSERT_OK(tree->Insert(txn.get(), "a", Big(20000, 'a')));
    PS_ASSERT_OK(txn->Commit());
  }
  PS_ASSIGN_OR_FAIL(rows, catalog->OpenBTree("rows"));
  PS_ASSIGN_OR_FAIL(a, rows->Get("a"));
  EXPECT_EQ(a, Big(20000, 'a'));
  // A second create of the name fails and leaves nothing behind.
  EXPECT_TRUE(absl::IsAlreadyExists(catalog->CreateBTree("rows").status()));
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(*store, *catalog));
}

TEST(CatalogTest, DropFreesEveryPageAndAnAbortedDropKeepsTheIndexWhole) {
  SimulatedStore sim(CatalogOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("rows"));
  PS_ASSIGN_OR_FAIL(hash, catalog->CreateHash("ids"));
  for (int i = 0; i < 500; ++i) {
    PS_ASSERT_OK(tree->Put(nullptr, fmt::format("k{:04}", i), Big(i % 50 == 0 ? 30000 : 80, 'r')));
    PS_ASSERT_OK(hash->Put(nullptr, fmt::format("k{:04}", i), Big(60, 'h')));
  }
  std::vector<PageId> tree_pages, hash_pages;
  PS_ASSERT_OK(tree->Stats(&tree_pages).status());
  PS_ASSERT_OK(hash->Stats(&hash_pages).status());
  const std::size_t free_before = store->FreePages().size();
  // Dropped in a transaction that aborts: still there, whole.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(catalog->Drop("rows", txn.get()));
    EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("rows").status()));
    PS_ASSERT_OK(txn->Abort());
  }
  PS_ASSIGN_OR_FAIL(again, catalog->OpenBTree("rows"));
  PS_ASSERT_OK(again->Verify());
  PS_ASSIGN_OR_FAIL(v, again->Get("k0100"));
  EXPECT_EQ(v, Big(30000, 'r'));
  EXPECT_EQ(store->FreePages().size(), free_before);
  // Dropped for good: every page of both is free.
  PS_ASSERT_OK(catalog->Drop("rows"));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(catalog->Drop("ids", txn.get()));
    PS_ASSERT_OK(txn->Commit());
  }
  EXPECT_TRUE(absl::IsNotFound(catalog->Drop("rows")));
  const std::vector<PageId> free = store->FreePages();
  for (PageId id : tree_pages) EXPECT_TRUE(std::binary_search(free.begin(), free.end(), id)) << id;
  for (PageId id : hash_pages) EXPECT_TRUE(std::binary_search(free.begin(), free.end(), id)) << id;
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(*store, *catalog));
  // The name can be used again.
  PS_ASSIGN_OR_FAIL(fresh, catalog->CreateBTree("rows"));
  EXPECT_TRUE(absl::IsNotFound(fresh->Get("k0001").status()));
}

// A crash before the commit of a create or a drop undoes it; after, it stays; either way no
// page is lost.
TEST(CatalogTest, CreatesAndDropsSurviveACrashExactlyAsCommitted) {
  SimulatedStore sim(CatalogOptions());
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(keep, catalog->CreateBTree("keep"));
    PS_ASSIGN_OR_FAIL(doomed, catalog->CreateBTree("doomed"));
    for (int i = 0; i < 200; ++i) {
      PS_ASSERT_OK(
          keep->Put(nullptr, fmt::format("k{:04}", i), Big(i % 40 == 0 ? 10000 : 90, 'k')));
      PS_ASSERT_OK(doomed->Put(nullptr, fmt::format("k{:04}", i), Big(90, 'd')));
    }
    {
      PS_ASSIGN_OR_FAIL(txn, store->Begin());
      PS_ASSERT_OK(catalog->Drop("doomed", txn.get()));
      PS_ASSERT_OK(txn->Commit(Durability::kSync));  // durable: survives
    }
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSIGN_OR_FAIL(unborn, catalog->CreateHash("unborn", {}, txn.get()));
    for (int i = 0; i < 100; ++i)
      PS_ASSERT_OK(unborn->Insert(txn.get(), fmt::format("{}", i), "x"));
    PS_ASSERT_OK(catalog->Drop("keep", txn.get()));
    PS_ASSERT_OK(store->FlushLog());  // its records durable; its commit never written
    sim.Cut();
  }
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  EXPECT_EQ(store->recovery_report().transactions_undone, 1u);
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("doomed").status()));
  EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("unborn").status()));
  PS_ASSIGN_OR_FAIL(keep, catalog->OpenBTree("keep"));
  PS_ASSERT_OK(keep->Verify());
  PS_ASSIGN_OR_FAIL(v, keep->Get("k0040"));
  EXPECT_EQ(v, Big(10000, 'k'));
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(*store, *catalog));
}

TEST(CatalogTest, DroppingADamagedIndexNamesThePageAndChangesNothing) {
  SimulatedStore sim(CatalogOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("rows"));
  PS_ASSERT_OK(tree->Put(nullptr, "a", Big(9000, 'a')));
  std::vector<PageId> pages;
  PS_ASSERT_OK(tree->Stats(&pages).status());
  // A value page claims another owner (its checksum right: a bug elsewhere).
  PageId victim = kInvalidPageId;
  for (PageId id : pages) {
    PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(id));
    if (ReadPageHeader(g.data()).type == static_cast<std::uint16_t>(PageType::kValue)) victim = id;
  }
  ASSERT_NE(victim, kInvalidPageId);
  {
    MiniTransaction mtr = store->BeginMtr();
    PS_ASSIGN_OR_FAIL(p, mtr.GetForWrite(victim));
    const std::uint64_t other = 12345;
    std::memcpy(p.data() + 32, &other, 8);
    PS_ASSERT_OK(mtr.Commit().status());
  }
  const absl::Status s = catalog->Drop("rows");
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find(std::to_string(victim)), std::string::npos) << s;
  PS_ASSERT_OK(catalog->Lookup("rows").status());
}

TEST(CatalogTest, DropWalksATreeWithTheComparatorItWasCreatedWith) {
  SimulatedStore sim(CatalogOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  BTreeOptions reverse;
  reverse.comparator = [](std::string_view a, std::string_view b) { return b.compare(a); };
  PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("desc", reverse));
  for (int i = 0; i < 200; ++i) PS_ASSERT_OK(tree->Put(nullptr, fmt::format("k{:04}", i), "v"));
  // Walked bytewise, its order looks broken: refused, and nothing changes.
  const absl::Status wrong = catalog->Drop("desc");
  EXPECT_TRUE(absl::IsDataLoss(wrong)) << wrong;
  PS_ASSERT_OK(catalog->Lookup("desc").status());
  PS_ASSERT_OK(catalog->Drop("desc", nullptr, reverse));
  EXPECT_TRUE(absl::IsNotFound(catalog->Lookup("desc").status()));
  ASSERT_NO_FATAL_FAILURE(ExpectEveryPageAccountedFor(*store, *catalog));
}

}  // namespace
}  // namespace pagestore::testing
