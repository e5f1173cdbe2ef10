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
  const int ops = 200000;
  for (int i = 0; i < ops; ++i) {
    const std::string key = RandomKey(rng, rng() % 8 == 0 ? 400 : 12);
    const std::string value(rng() % (rng() % 16 == 0 ? 500 : 40), static_cast<char>('A' + i % 26));
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
    if (i % 20000 == 0) PS_ASSERT_OK(tree->Verify());
  }
  PS_ASSERT_OK(tree->Verify());
  ExpectMatches(*tree, model);
  // Delete everything: the tree shrinks back to one leaf and its pages return to the free list.
  for (const auto& [k, v] : model) PS_ASSERT_OK(tree->Delete(nullptr, k));
  PS_ASSERT_OK(tree->Verify());
  PS_ASSIGN_OR_FAIL(stats, tree->Stats());
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.height, 0u);
  EXPECT_FALSE(tree->Begin().Valid());
}

}  // namespace
}  // namespace pagestore::testing
