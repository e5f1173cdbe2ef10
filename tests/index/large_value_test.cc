// Large values in the B+tree and the hash index: values of every size, kept with their key or
// out of line in value pages, through inserts, overwrites that grow and shrink across the
// threshold, deletes, transactions that commit and abort, recovery, iteration, damage, and the page
// accounting that shows nothing leaks (the tree's pages plus the free list are the whole file).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "index/btree.h"
#include "index/hash_index.h"
#include "index/value_pages.h"
#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

StoreOptions LargeValueOptions() {
  StoreOptions o = SmallStoreOptions();  // 64 KiB log segments: values span many records
  o.pool_frames = 512;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  o.checkpoint_interval_bytes = 4 << 20;
  return o;
}

// A value of `n` bytes that differs with `seed` in every page's worth of bytes.
std::string MakeValue(std::size_t n, std::uint64_t seed) {
  std::string v(n, '\0');
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t x = rng();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
  }
  return v;
}

// Sizes around every threshold: empty, kept with the key, the largest kept, the smallest out of
// line, one data page and one byte more, a directory page's worth, up to 4 MiB.
// `inline_max`: the largest value kept with the key (the index's entry limit less the key, or
// 0 when the key alone is past it).
std::size_t PickSize(std::mt19937_64& rng, std::size_t inline_max) {
  const std::size_t page = index_internal::kValueBytesPerPage;
  const std::size_t sizes[] = {0,
                               1,
                               100,
                               inline_max,
                               inline_max + 1,
                               page,
                               page + 1,
                               3 * page - 7,
                               index_internal::kValueIdsPerDirectory * page,
                               index_internal::kValueIdsPerDirectory * page + 1,
                               256 << 10,
                               4 << 20};
  const std::size_t pick = rng() % 100;
  if (pick < 70) return sizes[rng() % 8];
  if (pick < 97) return sizes[8 + rng() % 3];
  return sizes[11];
}

// Every data page is either the index's (Stats) or free: nothing leaked, nothing counted twice.
template <typename Index>
void ExpectNoLeak(Store& store, const Index& tree) {
  std::vector<PageId> pages;
  PS_ASSERT_OK(tree.Stats(&pages).status());
  std::vector<PageId> free = store.FreePages();
  std::set<PageId> all(pages.begin(), pages.end());
  ASSERT_EQ(all.size(), pages.size()) << "a page counted twice";
  for (PageId id : free) ASSERT_TRUE(all.insert(id).second) << "page " << id << " live and free";
  for (PageId id = kFirstDataPage; id < store.pool().page_count(); ++id) {
    ASSERT_TRUE(all.contains(id)) << "page " << id << " is neither the tree's nor free: leaked";
  }
}

void ExpectMatches(const BTree& tree, const std::map<std::string, std::string>& model) {
  auto it = tree.Begin();
  auto m = model.begin();
  for (; it.Valid(); it.Next(), ++m) {
    ASSERT_NE(m, model.end()) << "the tree has more keys than the model";
    ASSERT_EQ(it.key(), m->first);
    const std::string_view v = it.value();
    ASSERT_EQ(v.size(), m->second.size()) << "at key " << m->first;
    ASSERT_TRUE(v == m->second) << "at key " << m->first;
  }
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(m, model.end()) << "the tree has fewer keys than the model";
}

// 60 rounds of 1 to 6 inserts, puts and deletes of values of every size (PickSize), keys up to
// `max_key` bytes, in a transaction that commits or aborts or without one, checked against
// `model` every 10 rounds: Verify, `check` (the index's contents), no page leaked.
template <typename Index, typename Check>
void RunRounds(Store& store, Index& index, std::map<std::string, std::string>& model,
               std::mt19937_64& rng, std::size_t max_key, std::size_t max_entry, Check check) {
  for (int round = 0; round < 60; ++round) {
    const bool in_txn = rng() % 3 != 0;
    const bool commit = rng() % 4 != 0;
    std::unique_ptr<Transaction> txn;
    if (in_txn) {
      PS_ASSIGN_OR_FAIL(t, store.Begin());
      txn = std::move(t);
    }
    std::map<std::string, std::string> next = model;
    const int ops = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < ops; ++i) {
      std::string key = fmt::format("k{:03}", rng() % 40);
      if (rng() % 8 == 0) key.resize(max_key - rng() % 64, 'x');  // long keys too
      const std::size_t size = PickSize(rng, key.size() < max_entry ? max_entry - key.size() : 0);
      const std::string value = MakeValue(size, rng());
      const int op = static_cast<int>(rng() % 4);
      SCOPED_TRACE(
          fmt::format("round {} op {} key size {} value size {}", round, op, key.size(), size));
      if (op == 0) {
        const absl::Status s = index.Insert(txn.get(), key, value);
        if (next.contains(key)) {
          ASSERT_TRUE(absl::IsAlreadyExists(s)) << s;
        } else {
          PS_ASSERT_OK(s);
          next[key] = value;
        }
      } else if (op <= 2) {
        PS_ASSERT_OK(index.Put(txn.get(), key, value));
        next[key] = value;
      } else {
        const absl::Status s = index.Delete(txn.get(), key);
        ASSERT_EQ(s.ok(), next.erase(key) == 1) << s;
      }
    }
    if (!in_txn) {
      model = std::move(next);
    } else if (commit) {
      PS_ASSERT_OK(txn->Commit());
      model = std::move(next);
    } else {
      PS_ASSERT_OK(txn->Abort());
    }
    if (round % 10 == 9) {
      PS_ASSERT_OK(index.Verify());
      ASSERT_NO_FATAL_FAILURE(check());
      ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(store, index));
    }
  }
}

TEST(BTreeLargeValueTest, ValuesOfEverySizeMatchAModelThroughCommitsAndAborts) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(TestSeed());
  ASSERT_NO_FATAL_FAILURE(RunRounds(*store, *tree, model, rng, kMaxKeyBytes, kMaxEntryBytes,
                                    [&] { ExpectMatches(*tree, model); }));
  for (const auto& [k, v] : model) {
    PS_ASSIGN_OR_FAIL(got, tree->Get(k));
    ASSERT_TRUE(got == v) << "key " << k << ": " << got.size() << " bytes, " << v.size()
                          << " expected";
  }
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_GT(stats.large_values, 0u);
  EXPECT_GT(stats.value_pages, stats.large_values);
  // After a reopen (a clean close), and after a power loss with everything committed durably.
  PS_ASSERT_OK(store->Close());
  const PageId anchor = tree->anchor();
  tree.reset();
  sim.PowerLoss(1);
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(*again, anchor));
  PS_ASSERT_OK(reopened->Verify());
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*reopened, model));
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*again, *reopened));
  // Deleting everything gives every value page back.
  for (const auto& [k, v] : model) PS_ASSERT_OK(reopened->Delete(nullptr, k));
  PS_ASSIGN_OR_FAIL(empty, reopened->Stats());
  EXPECT_EQ(empty.value_pages, 0u);
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*again, *reopened));
}

TEST(BTreeLargeValueTest, OverwritesGrowAndShrinkAcrossTheThreshold) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const std::string key = "row";
  const std::size_t inline_max = kMaxEntryBytes - key.size();
  const std::size_t sizes[] = {10,     inline_max, inline_max + 1, 20000, 5,
                               100000, 4100,       inline_max,     0,     inline_max + 1};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    const std::string v = MakeValue(sizes[i], i);
    PS_ASSERT_OK(tree->Put(nullptr, key, v));
    PS_ASSIGN_OR_FAIL(got, tree->Get(key));
    ASSERT_TRUE(got == v) << "size " << sizes[i];
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
  }
  PS_ASSERT_OK(tree->Verify());
}

TEST(BTreeLargeValueTest, AbortKeepsTheOldValueAndFreesTheNew) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const std::string old_value = MakeValue(50000, 1);
  PS_ASSERT_OK(tree->Put(nullptr, "a", old_value));
  PS_ASSERT_OK(tree->Put(nullptr, "b", MakeValue(9000, 2)));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), "a", MakeValue(70000, 3)));  // large over large
    PS_ASSERT_OK(tree->Put(txn.get(), "a", "small"));              // small over (new) large
    PS_ASSERT_OK(tree->Delete(txn.get(), "b"));                    // a large value deleted
    PS_ASSERT_OK(tree->Insert(txn.get(), "c", MakeValue(12000, 4)));
    // An insert that fails leaves no page behind.
    EXPECT_TRUE(absl::IsAlreadyExists(tree->Insert(txn.get(), "c", MakeValue(30000, 5))));
    PS_ASSERT_OK(txn->Abort());
  }
  PS_ASSIGN_OR_FAIL(a, tree->Get("a"));
  EXPECT_TRUE(a == old_value);
  PS_ASSIGN_OR_FAIL(b, tree->Get("b"));
  EXPECT_TRUE(b == MakeValue(9000, 2));
  EXPECT_TRUE(absl::IsNotFound(tree->Get("c").status()));
  PS_ASSERT_OK(tree->Verify());
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
  // The same, committed: the replaced and deleted values' pages are free after the commit.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), "a", MakeValue(70000, 3)));
    PS_ASSERT_OK(tree->Delete(txn.get(), "b"));
    EXPECT_TRUE(absl::IsAlreadyExists(tree->Insert(txn.get(), "a", MakeValue(30000, 5))));
    PS_ASSERT_OK(txn->Commit());
  }
  PS_ASSIGN_OR_FAIL(a2, tree->Get("a"));
  EXPECT_TRUE(a2 == MakeValue(70000, 3));
  EXPECT_TRUE(absl::IsNotFound(tree->Get("b").status()));
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
}

TEST(BTreeLargeValueTest, ACrashBeforeTheCommitFreesTheValueAndKeepsTheOld) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const PageId anchor = tree->anchor();
  const std::string old_value = MakeValue(40000, 7);
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), "a", old_value));
    PS_ASSERT_OK(tree->Put(txn.get(), "gone", MakeValue(20000, 9)));
    PS_ASSERT_OK(txn->Commit());
  }
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), "a", MakeValue(300000, 8)));
    PS_ASSERT_OK(tree->Delete(txn.get(), "gone"));
    PS_ASSERT_OK(store->FlushLog());  // its records durable, its commit never written
    sim.Cut();
  }
  tree.reset();
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  EXPECT_EQ(again->recovery_report().transactions_undone, 1u);
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(*again, anchor));
  PS_ASSIGN_OR_FAIL(a, reopened->Get("a"));
  EXPECT_TRUE(a == old_value);
  PS_ASSIGN_OR_FAIL(g, reopened->Get("gone"));
  EXPECT_TRUE(g == MakeValue(20000, 9));
  PS_ASSERT_OK(reopened->Verify());
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*again, *reopened));
}

TEST(BTreeLargeValueTest, SixtyFourMebibyteValues) {
  StoreOptions o = LargeValueOptions();
  o.log.segment_size = kSegmentHeaderSize + (16 << 20);
  o.checkpoint_interval_bytes = 64 << 20;
  SimulatedStore sim(o);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const std::string big = MakeValue(64 << 20, 64);
  PS_ASSERT_OK(tree->Put(nullptr, "big", big));
  PS_ASSERT_OK(tree->Put(nullptr, "small", "s"));
  {
    PS_ASSIGN_OR_FAIL(got, tree->Get("big"));
    EXPECT_TRUE(got == big);
  }
  auto it = tree->Begin();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.value().size(), big.size());
  it.Next();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.value(), "s");
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_EQ(stats.large_values, 1u);
  EXPECT_GE(stats.value_pages * index_internal::kValueBytesPerPage, big.size());
  // Overwritten in a transaction (the old pages freed by its commit record), then deleted.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), "big", "now small"));
    PS_ASSERT_OK(txn->Commit());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
  PS_ASSIGN_OR_FAIL(small_again, tree->Get("big"));
  EXPECT_EQ(small_again, "now small");
}

TEST(BTreeLargeValueTest, AnIteratorReadsLargeValuesAndSaysSoWhenOneIsDeletedUnderIt) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  for (int i = 0; i < 20; ++i) {
    PS_ASSERT_OK(tree->Put(nullptr, fmt::format("k{:02}", i), MakeValue(5000 + i, i)));
  }
  // Changed under the iterator: it reads the value as it is now.
  auto it = tree->LowerBound("k05");
  ASSERT_TRUE(it.Valid());
  PS_ASSERT_OK(tree->Put(nullptr, "k05", MakeValue(7000, 99)));
  EXPECT_TRUE(it.value() == MakeValue(7000, 99));
  // Deleted under it: value() is empty, the iterator stops, and status() says why.
  it.Next();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.key(), "k06");
  PS_ASSERT_OK(tree->Delete(nullptr, "k06"));
  EXPECT_TRUE(it.value().empty());
  EXPECT_FALSE(it.Valid());
  EXPECT_TRUE(absl::IsNotFound(it.status())) << it.status();
  EXPECT_NE(it.status().message().find("k06"), std::string::npos) << it.status();
  // Backward too.
  auto back = tree->SeekToLast();
  int n = 0;
  for (; back.Valid(); back.Prev(), ++n) {
    ASSERT_EQ(back.value().size(),
              back.key() == "k05" ? 7000u : 5000u + std::stoi(std::string(back.key().substr(1))));
  }
  PS_ASSERT_OK(back.status());
  EXPECT_EQ(n, 19);
}

TEST(BTreeLargeValueTest, DamagedValuePagesAreDataLossNamingThePage) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  PS_ASSERT_OK(tree->Put(nullptr, "v", MakeValue(20000, 3)));
  PS_ASSERT_OK(tree->Put(nullptr, "w", MakeValue(20000, 4)));
  std::vector<PageId> pages;
  PS_ASSERT_OK(tree->Stats(&pages).status());
  // A data page of "v" whose offset field is wrong, with a correct checksum (a bug elsewhere).
  PageId victim = kInvalidPageId;
  for (PageId id : pages) {
    PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(id));
    const index_internal::ValuePageView view = index_internal::DecodeValuePage(g.data());
    auto field = [&](std::string_view name) {
      for (const auto& [n, v] : view.fields) {
        if (n == name) return v;
      }
      return std::uint64_t{0};
    };
    if (ReadPageHeader(g.data()).type == static_cast<std::uint16_t>(PageType::kValue) &&
        field("role") == index_internal::kValueRoleData && field("offset") > 0) {
      victim = id;
      break;
    }
  }
  ASSERT_NE(victim, kInvalidPageId);
  {
    MiniTransaction mtr = store->BeginMtr();
    PS_ASSIGN_OR_FAIL(p, mtr.GetForWrite(victim));
    const std::uint64_t bad_offset = 12345;
    std::memcpy(p.data() + 48, &bad_offset, 8);
    PS_ASSERT_OK(mtr.Commit().status());
  }
  const absl::Status v = tree->Verify();
  EXPECT_TRUE(absl::IsDataLoss(v)) << v;
  EXPECT_NE(v.message().find(std::to_string(victim)), std::string::npos) << v;
  std::size_t lost = 0;
  for (const char* key : {"v", "w"}) {
    absl::StatusOr<std::string> got = tree->Get(key);
    if (!got.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
      EXPECT_NE(got.status().message().find(std::to_string(victim)), std::string::npos);
      ++lost;
    }
  }
  EXPECT_EQ(lost, 1u) << "exactly the damaged value fails; the other reads";
}

TEST(BTreeLargeValueTest, KeysUpToTheLimitAndNoFurther) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  for (int i = 0; i < 50; ++i) {
    std::string key = fmt::format("{:03}", i);
    key.resize(kMaxKeyBytes, static_cast<char>('a' + i % 26));
    PS_ASSERT_OK(tree->Put(nullptr, key, MakeValue(i % 2 == 0 ? 16 : 3000, i)));
  }
  PS_ASSERT_OK(tree->Verify());
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_GE(stats.height, 2u);
  EXPECT_EQ(stats.entries, 50u);
  const absl::Status s = tree->Put(nullptr, std::string(kMaxKeyBytes + 1, 'k'), "v");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("1024"), std::string::npos) << s;
  // Bulk load takes the same key limit.
  PS_ASSIGN_OR_FAIL(empty, BTree::Create(*store));
  const std::vector<std::pair<std::string, std::string>> long_key = {
      {std::string(kMaxKeyBytes + 1, 'k'), "v"}};
  const absl::Status b = empty->BulkLoad(long_key);
  EXPECT_TRUE(absl::IsInvalidArgument(b)) << b;
}

// Isolation is the engine's, but two transactions that change the same key must never make the
// store free a page twice or free pages another value still uses: a value is freed by whoever
// stops naming it, and the undo of its writing frees it only if nothing ever named it.
TEST(BTreeLargeValueTest, TransactionsRacingOnOneKeyNeverFreeAPageTwice) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  {
    // T1 writes K; T2 deletes it and commits (freeing T1's value); T3 writes another key (its
    // pages likely the ones just freed); T1 aborts.
    PS_ASSIGN_OR_FAIL(t1, store->Begin());
    PS_ASSERT_OK(tree->Put(t1.get(), "K", MakeValue(30000, 1)));
    PS_ASSIGN_OR_FAIL(t2, store->Begin());
    PS_ASSERT_OK(tree->Delete(t2.get(), "K"));
    PS_ASSERT_OK(t2->Commit());
    PS_ASSERT_OK(tree->Put(nullptr, "K2", MakeValue(30000, 3)));
    PS_ASSERT_OK(t1->Abort());
    PS_ASSIGN_OR_FAIL(k2, tree->Get("K2"));
    EXPECT_TRUE(k2 == MakeValue(30000, 3));
    PS_ASSERT_OK(tree->Verify());
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
  }
  {
    // T1 writes K; T2 replaces it (T1's value goes with T2's commit); T1 aborts (its undo drops
    // T2's value); another value is written; T2 commits.
    PS_ASSIGN_OR_FAIL(t1, store->Begin());
    PS_ASSERT_OK(tree->Put(t1.get(), "K", MakeValue(30000, 4)));
    PS_ASSIGN_OR_FAIL(t2, store->Begin());
    PS_ASSERT_OK(tree->Put(t2.get(), "K", MakeValue(30000, 5)));
    PS_ASSERT_OK(t1->Abort());
    PS_ASSERT_OK(tree->Put(nullptr, "K4", MakeValue(30000, 6)));
    PS_ASSERT_OK(t2->Commit());
    PS_ASSIGN_OR_FAIL(k4, tree->Get("K4"));
    EXPECT_TRUE(k4 == MakeValue(30000, 6));
    PS_ASSERT_OK(tree->Verify());
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
  }
  // T1 writes K; a system delete frees it; a crash before T1 commits. Recovery's undo of T1 must
  // find nothing to free (it was freed by the delete), and the store must open.
  const PageId anchor = tree->anchor();
  {
    PS_ASSIGN_OR_FAIL(t1, store->Begin());
    PS_ASSERT_OK(tree->Put(t1.get(), "K5", MakeValue(30000, 7)));
    PS_ASSERT_OK(tree->Delete(nullptr, "K5"));
    PS_ASSERT_OK(tree->Put(nullptr, "K6", MakeValue(30000, 8)));
    PS_ASSERT_OK(store->FlushLog());
    sim.Cut();
  }
  tree.reset();
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(*again, anchor));
  PS_ASSERT_OK(reopened->Verify());
  PS_ASSIGN_OR_FAIL(k6, reopened->Get("K6"));
  EXPECT_TRUE(k6 == MakeValue(30000, 8));
  EXPECT_TRUE(absl::IsNotFound(reopened->Get("K5").status()));
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*again, *reopened));
}

TEST(BTreeLargeValueTest, ValuesLargerThanTheLogTakesAreRefusedBeforeAnythingIsWritten) {
  SimulatedStore sim(LargeValueOptions());  // 64 KiB log segments
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const std::uint64_t limit = index_internal::ValueLimit(*store);
  ASSERT_LT(limit, kMaxValueBytes);
  const std::size_t pages_before = store->pool().page_count();
  const absl::Status s = tree->Put(nullptr, "k", std::string(limit + 1, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find(std::to_string(limit)), std::string::npos) << s;
  EXPECT_EQ(store->pool().page_count(), pages_before);
  PS_ASSERT_OK(tree->Put(nullptr, "k", std::string(limit, 'x')));
  PS_ASSERT_OK(tree->Delete(nullptr, "k"));
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
}

// Readers beside writers that keep replacing large values, in a pool too small to hold them
// all (so value pages are evicted, freed and reused under the readers): every value read is
// whole, one that was written, never a mix of two nor another value's bytes.
TEST(BTreeLargeValueTest, ReadersBesideWritersSeeOnlyWholeValues) {
  StoreOptions o = LargeValueOptions();
  o.pool_frames = 96;
  o.log.segment_size = kSegmentHeaderSize + (1 << 20);
  SimulatedStore sim(o);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  // A value is its 16-byte header (key number, generation) repeated: checkable on its own.
  auto make = [](int key, std::uint64_t gen, std::size_t size) {
    std::string v(size, '\0');
    const std::uint64_t words[2] = {static_cast<std::uint64_t>(key), gen};
    for (std::size_t i = 0; i < size; ++i) v[i] = reinterpret_cast<const char*>(words)[i % 16];
    return v;
  };
  auto whole = [](const std::string& v, int key) {
    if (v.size() < 16) return false;
    std::uint64_t k;
    std::memcpy(&k, v.data(), 8);
    if (k != static_cast<std::uint64_t>(key)) return false;
    for (std::size_t i = 16; i < v.size(); ++i) {
      if (v[i] != v[i % 16]) return false;
    }
    return true;
  };
  constexpr int kKeys = 12;
  for (int k = 0; k < kKeys; ++k) {
    PS_ASSERT_OK(tree->Put(nullptr, fmt::format("k{:02}", k), make(k, 0, 9000 + 1000 * k)));
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, writes{0};
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(TestSeed() + w);
      for (std::uint64_t gen = 1; !stop.load(); ++gen) {
        const int k = static_cast<int>(rng() % kKeys);
        const std::size_t size = rng() % 4 == 0 ? 500 : 5000 + rng() % 30000;
        absl::Status s = tree->Put(nullptr, fmt::format("k{:02}", k), make(k, gen, size));
        if (!s.ok()) {
          failures[w] = s.ToString();
          return;
        }
        writes.fetch_add(1);
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(TestSeed() + 100 + r);
      std::string v;
      while (!stop.load()) {
        const int k = static_cast<int>(rng() % kKeys);
        absl::Status s = tree->Get(fmt::format("k{:02}", k), &v);
        if (!s.ok() || !whole(v, k)) {
          failures[2 + r] = s.ok()
                                ? fmt::format("key {}: a value not whole ({} bytes)", k, v.size())
                                : s.ToString();
          return;
        }
        if (rng() % 8 == 0) {  // a scan reading every value as it goes
          int n = 0;
          for (auto it = tree->Begin(); it.Valid(); it.Next(), ++n) {
            const std::string value(it.value());
            if (!it.Valid()) break;  // only a deletion could end it, and none happens here
            if (!whole(value, n)) {
              failures[2 + r] = fmt::format("scan: key {} not whole", n);
              return;
            }
          }
        }
        reads.fetch_add(1);
      }
    });
  }
  // Until the readers have read enough (not a time: a busy machine only makes the test longer).
  while ((reads.load() < 3000 || writes.load() < 500) &&
         std::all_of(failures.begin(), failures.end(),
                     [](const std::string& f) { return f.empty(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  for (const std::string& f : failures) EXPECT_EQ(f, "");
  PS_ASSERT_OK(tree->Verify());
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*store, *tree));
}

// The hash index keeps large values in the same value pages.
void ExpectHashMatches(const HashIndex& index, const std::map<std::string, std::string>& model) {
  std::map<std::string, std::string> seen;
  auto it = index.Begin();
  for (; it.Valid(); it.Next()) {
    ASSERT_TRUE(seen.emplace(std::string(it.key()), std::string(it.value())).second);
  }
  PS_ASSERT_OK(it.status());
  ASSERT_EQ(seen.size(), model.size());
  for (const auto& [k, v] : model) {
    ASSERT_TRUE(seen.contains(k)) << k;
    ASSERT_TRUE(seen[k] == v) << "key " << k << ": " << seen[k].size() << " bytes, " << v.size();
    PS_ASSIGN_OR_FAIL(got, index.Get(k));
    ASSERT_TRUE(got == v) << k;
  }
}

TEST(HashLargeValueTest, ValuesOfEverySizeMatchAModelThroughCommitsAbortsAndACrash) {
  SimulatedStore sim(LargeValueOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  const PageId anchor = index->anchor();
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(TestSeed());
  ASSERT_NO_FATAL_FAILURE(RunRounds(*store, *index, model, rng, kMaxHashKeyBytes,
                                    kMaxHashEntryBytes, [&] { ExpectHashMatches(*index, model); }));
  PS_ASSIGN_OR_FAIL(stats, index->Stats());
  EXPECT_GT(stats.large_values, 0u);
  // A transaction in flight at a crash: its records durable, its commit not.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(index->Put(txn.get(), "crash", MakeValue(200000, 1)));
    if (!model.empty()) PS_ASSERT_OK(index->Delete(txn.get(), model.begin()->first));
    PS_ASSERT_OK(store->FlushLog());
    sim.Cut();
  }
  index.reset();
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(*again, anchor));
  PS_ASSERT_OK(reopened->Verify());
  ASSERT_NO_FATAL_FAILURE(ExpectHashMatches(*reopened, model));
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(*again, *reopened));
}

}  // namespace
}  // namespace pagestore::testing
