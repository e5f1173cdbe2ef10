#include "index/btree.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

StoreOptions TreeStoreOptions() {
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 256;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.checkpoint_interval_bytes = 1 << 20;
  o.log.segment_size = kSegmentHeaderSize + (1 << 20);
  return o;
}

std::string RandomKey(std::mt19937_64& rng, std::size_t max_len) {
  std::string k(rng() % (max_len + 1), '\0');
  for (auto& c : k) c = static_cast<char>('a' + rng() % 3);  // long shared prefixes
  return k;
}

void ExpectMatches(const BTree& tree, const std::map<std::string, std::string>& model) {
  auto it = tree.Begin();
  auto m = model.begin();
  std::size_t n = 0;
  for (; it.Valid(); it.Next(), ++m, ++n) {
    ASSERT_NE(m, model.end()) << "the tree has more keys than the model";
    ASSERT_EQ(it.key(), m->first) << "at entry " << n;
    ASSERT_EQ(it.value(), m->second) << "at key " << m->first;
  }
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(m, model.end()) << "the tree has fewer keys than the model";
}

TEST(BTreeTest, RandomOperationsMatchAModel) {
  SimulatedStore sim(TreeStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(TestSeed());
  // 1M operations (PAGESTORE_MODEL_OPS to change), keys from empty to the maximum size.
  const char* env = std::getenv("PAGESTORE_MODEL_OPS");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const int default_ops = 150000;  // sanitizers run ~20x slower; release runs the full million
#else
  const int default_ops = 1000000;
#endif
  const int ops = env != nullptr ? std::atoi(env) : default_ops;
  for (int i = 0; i < ops; ++i) {
    std::string key = RandomKey(rng, rng() % 8 == 0 ? 400 : 12);
    std::string value(rng() % (rng() % 16 == 0 ? 500 : 40), static_cast<char>('A' + i % 26));
    if (rng() % 64 == 0) {  // a maximal key (shared prefix, distinct tails) and an empty value
      key = std::string(kMaxKeyBytes - 3, 'm') + RandomKey(rng, 3);
      key.resize(kMaxKeyBytes, 'm');
      value.clear();
    }
    const int op = static_cast<int>(rng() % 10);
    if (op < 4) {
      absl::Status s = tree->Insert(nullptr, key, value);
      if (model.contains(key)) {
        ASSERT_TRUE(absl::IsAlreadyExists(s)) << s;
      } else {
        ASSERT_TRUE(s.ok()) << s;
        model[key] = value;
      }
    } else if (op < 6) {
      PS_ASSERT_OK(tree->Put(nullptr, key, value));
      model[key] = value;
    } else if (op < 9) {
      absl::Status s = tree->Delete(nullptr, key);
      ASSERT_EQ(s.ok(), model.erase(key) == 1) << s;
    } else {
      absl::StatusOr<std::string> v = tree->Get(key);
      auto m = model.find(key);
      ASSERT_EQ(v.ok(), m != model.end()) << v.status();
      if (v.ok()) {
        ASSERT_EQ(*v, m->second);
      }
    }
    if (i % 100000 == 0) PS_ASSERT_OK(tree->Verify());
  }
  PS_ASSERT_OK(tree->Verify());
  ExpectMatches(*tree, model);
  // Delete everything: the tree shrinks back to one leaf and its pages return to the free list.
  for (const auto& [k, v] : model) PS_ASSERT_OK(tree->Delete(nullptr, k));
  PS_ASSERT_OK(tree->Verify());
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.height, 0u) << stats.leaves << " leaves, " << stats.internals
                              << " internal nodes";
  EXPECT_FALSE(tree->Begin().Valid());
}

}  // namespace
}  // namespace pagestore::testing

#include <fcntl.h>
#include <unistd.h>

#include "index/catalog.h"

namespace pagestore::testing {
namespace {

TEST(BTreeTest, EdgeCases) {
  SimulatedStore sim(TreeStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  // Empty tree.
  EXPECT_FALSE(tree->Begin().Valid());
  EXPECT_FALSE(tree->Scan("a", "z").Valid());
  EXPECT_TRUE(absl::IsNotFound(tree->Get("x").status()));
  EXPECT_TRUE(absl::IsNotFound(tree->Delete(nullptr, "x")));
  // The empty key and the empty value are keys and values like any other.
  PS_ASSERT_OK(tree->Insert(nullptr, "", ""));
  PS_ASSIGN_OR_FAIL(empty, tree->Get(""));
  EXPECT_EQ(empty, "");
  EXPECT_TRUE(absl::IsAlreadyExists(tree->Insert(nullptr, "", "again")));
  PS_ASSERT_OK(tree->Delete(nullptr, ""));
  // Maximum sizes, and one byte more: a key of kMaxKeyBytes, and an entry of kMaxEntryBytes kept
  // with its key; a value past that goes out of line.
  const std::string big_key(kMaxKeyBytes, 'k');
  PS_ASSERT_OK(tree->Insert(nullptr, big_key, ""));
  const std::string half(kMaxEntryBytes / 2, 'h');
  PS_ASSERT_OK(tree->Insert(nullptr, half, std::string(kMaxEntryBytes - half.size(), 'v')));
  absl::Status too_big = tree->Insert(nullptr, std::string(kMaxKeyBytes + 1, 'k'), "");
  EXPECT_TRUE(absl::IsInvalidArgument(too_big)) << too_big;
  EXPECT_NE(too_big.message().find(std::to_string(kMaxKeyBytes)), std::string::npos) << too_big;
  EXPECT_TRUE(absl::IsInvalidArgument(tree->Put(nullptr, std::string(kMaxKeyBytes + 1, 'k'), "")));
  {
    // Past the value limit (the bytes are never read: the size is refused first).
    const std::string small(16, 'v');
    const absl::Status s =
        tree->Put(nullptr, "x", std::string_view(small.data(), kMaxValueBytes + 1));
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find(std::to_string(kMaxValueBytes)), std::string::npos) << s;
  }
  // Many maximal entries force splits at every level.
  for (int i = 0; i < 300; ++i) {
    std::string k = fmt::format("{:04}", i) + std::string(kMaxKeyBytes - 4, 'p');
    PS_ASSERT_OK(tree->Put(nullptr, k, ""));
  }
  PS_ASSERT_OK(tree->Verify());
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_GE(stats.height, 2u);
  // LowerBound lands on the first key >= its argument.
  auto lb = tree->LowerBound("0010");
  ASSERT_TRUE(lb.Valid());
  EXPECT_EQ(lb.key().substr(0, 4), "0010");
  // Ranges are [begin, end).
  int n = 0;
  for (auto it = tree->Scan("0010", "0020"); it.Valid(); it.Next()) ++n;
  EXPECT_EQ(n, 10);
  // A put that grows a value past its page's room splits.
  PS_ASSERT_OK(tree->Put(nullptr, half, std::string(kMaxEntryBytes - half.size(), 'w')));
  PS_ASSIGN_OR_FAIL(v, tree->Get(half));
  EXPECT_EQ(v, std::string(kMaxEntryBytes - half.size(), 'w'));
  PS_ASSERT_OK(tree->Verify());
}

TEST(BTreeTest, AbortAndRecoveryRestoreTheCommittedState) {
  SimulatedStore sim(TreeStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  const PageId anchor = tree->anchor();
  std::map<std::string, std::string> model;
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < 2000; ++i) {
      const std::string k = fmt::format("k{:05}", i);
      PS_ASSERT_OK(tree->Insert(txn.get(), k, std::string(50, 'a')));
      model[k] = std::string(50, 'a');
    }
    PS_ASSERT_OK(txn->Commit());
  }
  {
    // A big abort: deletes, puts and inserts that split and merge, all undone.
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < 2000; i += 2)
      PS_ASSERT_OK(tree->Delete(txn.get(), fmt::format("k{:05}", i)));
    for (int i = 1; i < 2000; i += 4)
      PS_ASSERT_OK(tree->Put(txn.get(), fmt::format("k{:05}", i), "x"));
    for (int i = 0; i < 1000; ++i)
      PS_ASSERT_OK(tree->Insert(txn.get(), fmt::format("n{:05}", i), "y"));
    PS_ASSERT_OK(txn->Abort());
  }
  PS_ASSERT_OK(tree->Verify());
  ExpectMatches(*tree, model);
  // The same, cut by a power loss: recovery undoes it.
  PS_ASSIGN_OR_FAIL(txn, store->Begin());
  for (int i = 0; i < 2000; i += 3) PS_ASSERT_OK(tree->Delete(txn.get(), fmt::format("k{:05}", i)));
  for (int i = 0; i < 500; ++i)
    PS_ASSERT_OK(tree->Insert(txn.get(), fmt::format("m{:05}", i), "z"));
  PS_ASSERT_OK(store->FlushLog());
  sim.Cut();
  txn.reset();
  tree.reset();
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  EXPECT_EQ(again->recovery_report().transactions_undone, 1u);
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(*again, anchor));
  PS_ASSERT_OK(reopened->Verify());
  ExpectMatches(*reopened, model);
}

TEST(BTreeTest, BulkLoadBuildsAValidTree) {
  SimulatedStore sim(TreeStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  std::vector<std::pair<std::string, std::string>> sorted;
  std::map<std::string, std::string> model;
  for (int i = 0; i < 20000; ++i) {
    sorted.emplace_back(fmt::format("b{:08}", i * 3), std::string(i % 100, 'v'));
    model[sorted.back().first] = sorted.back().second;
  }
  std::vector<std::pair<std::string, std::string>> unsorted = {{"b", "1"}, {"a", "2"}};
  EXPECT_TRUE(absl::IsInvalidArgument(tree->BulkLoad(unsorted)));
  PS_ASSERT_OK(tree->BulkLoad(sorted, 0.8));
  PS_ASSERT_OK(tree->Verify());
  ExpectMatches(*tree, model);
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_GT(stats.average_fill, 0.7);
  EXPECT_TRUE(absl::IsInvalidArgument(tree->BulkLoad(sorted)));  // not empty any more
  // It is an ordinary tree afterwards.
  for (int i = 0; i < 5000; ++i) {
    const std::string k = fmt::format("b{:08}", i * 7 + 1);
    PS_ASSERT_OK(tree->Put(nullptr, k, "p"));
    model[k] = "p";
  }
  PS_ASSERT_OK(tree->Verify());
  ExpectMatches(*tree, model);
}

TEST(BTreeTest, CustomComparatorOrdersTheTree) {
  SimulatedStore sim(TreeStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  BTreeOptions reverse;
  reverse.comparator = [](std::string_view a, std::string_view b) { return BytewiseCompare(b, a); };
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store, reverse));
  for (int i = 0; i < 3000; ++i) PS_ASSERT_OK(tree->Insert(nullptr, fmt::format("{:05}", i), "v"));
  PS_ASSERT_OK(tree->Verify());
  auto it = tree->Begin();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.key(), "02999");
}

class BTreeFileTest : public ::testing::TestWithParam<DiskManagerKind> {};

TEST_P(BTreeFileTest, NamedTreesReopenAcrossADiskManagerSwap) {
  TempDir dir;
  StoreOptions options = TreeStoreOptions();
  options.disk.kind = GetParam();
  options.disk.mmap = SmallMmapOptions().mmap;
  const auto path = dir.file("db.pages");
  std::map<std::string, std::string> a_model, b_model;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(a, catalog->CreateBTree("a"));
    PS_ASSIGN_OR_FAIL(b, catalog->CreateBTree("b"));
    EXPECT_TRUE(absl::IsAlreadyExists(catalog->CreateBTree("a").status()));
    EXPECT_TRUE(absl::IsInvalidArgument(catalog->CreateBTree("").status()));
    for (int i = 0; i < 3000; ++i) {
      if (i == 1500) {
        DiskManagerOptions other = options.disk;
        other.kind = GetParam() == DiskManagerKind::kPread ? DiskManagerKind::kMmap
                                                           : DiskManagerKind::kPread;
        PS_ASSERT_OK(store->pool().SwapDiskManager(other));
      }
      const std::string k = fmt::format("{:06}", i * 13 % 3001);
      PS_ASSERT_OK(a->Put(nullptr, k, "a" + k));
      a_model[k] = "a" + k;
      if (i % 3 == 0) {
        PS_ASSERT_OK(b->Put(nullptr, k, "b"));
        b_model[k] = "b";
      }
    }
  }
  PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  PS_ASSIGN_OR_FAIL(list, catalog->List());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[1].kind, IndexKind::kBTree);
  EXPECT_TRUE(absl::IsNotFound(catalog->OpenBTree("c").status()));
  PS_ASSIGN_OR_FAIL(a, catalog->OpenBTree("a"));
  PS_ASSIGN_OR_FAIL(b, catalog->OpenBTree("b"));
  PS_ASSERT_OK(a->Verify());
  PS_ASSERT_OK(b->Verify());
  ExpectMatches(*a, a_model);
  ExpectMatches(*b, b_model);
}

TEST_P(BTreeFileTest, CorruptLeafIsDataLossForGetAndVerify) {
  TempDir dir;
  StoreOptions options = TreeStoreOptions();
  options.disk.kind = GetParam();
  options.disk.mmap = SmallMmapOptions().mmap;
  const auto path = dir.file("db.pages");
  PageId anchor;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    anchor = tree->anchor();
    for (int i = 0; i < 2000; ++i) PS_ASSERT_OK(tree->Put(nullptr, fmt::format("{:05}", i), "v"));
  }
  // Flip a byte in the middle of some leaf: find one by walking the tree first.
  PageId victim = kInvalidPageId;
  std::string victim_key;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
    PS_ASSIGN_OR_FAIL(stats, tree->Stats());
    ASSERT_GE(stats.height, 1u);
    // The page holding key 01000.
    victim_key = "01000";
    for (PageId id = kFirstDataPage; id < store->pool().page_count(); ++id) {
      absl::StatusOr<ReadPageGuard> g = store->pool().ReadPage(id);
      if (!g.ok()) continue;
      if (ReadPageHeader(g->data()).type != static_cast<std::uint16_t>(PageType::kBTreeLeaf))
        continue;
      Node n(const_cast<std::byte*>(g->data().data()));
      bool found;
      n.LowerBound(victim_key, BytewiseCompare, &found);
      if (found) victim = id;
    }
    ASSERT_NE(victim, kInvalidPageId);
  }
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::byte b;
  const off_t off = static_cast<off_t>(victim * kPageSize + 2000);
  ASSERT_EQ(::pread(fd, &b, 1, off), 1);
  b ^= std::byte{0x40};
  ASSERT_EQ(::pwrite(fd, &b, 1, off), 1);
  ::close(fd);
  PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
  absl::StatusOr<std::string> v = tree->Get(victim_key);
  EXPECT_TRUE(absl::IsDataLoss(v.status())) << v.status();
  absl::Status verify = tree->Verify();
  EXPECT_TRUE(absl::IsDataLoss(verify)) << verify;
  EXPECT_NE(verify.message().find(fmt::format("page {}", victim)), std::string::npos) << verify;
}

INSTANTIATE_TEST_SUITE_P(Kinds, BTreeFileTest,
                         ::testing::Values(DiskManagerKind::kPread, DiskManagerKind::kMmap),
                         [](const auto& info) {
                           return std::string(DiskManagerKindName(info.param));
                         });

}  // namespace
}  // namespace pagestore::testing
