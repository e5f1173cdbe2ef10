#include "index/btree_node.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

TEST(BTreeNodeTest, LeafKeepsEntriesInOrderThroughInsertsRemovesAndCompaction) {
  Page page{};
  Node node(page.data());
  node.Init(0);
  EXPECT_TRUE(node.is_leaf());
  EXPECT_EQ(node.count(), 0);
  EXPECT_EQ(node.FreeBytes(), Node::Capacity());
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(TestSeed());
  for (int step = 0; step < 20000; ++step) {
    std::string k(rng() % 24, 'a');
    for (auto& c : k) c = static_cast<char>('a' + rng() % 4);
    bool found;
    const std::size_t i = node.LowerBound(k, BytewiseCompare, &found);
    ASSERT_EQ(found, model.contains(k));
    if (found && rng() % 2 == 0) {
      node.Remove(i);
      model.erase(k);
    } else if (found) {
      const std::string v(rng() % 60, 'v');
      if (node.UpdateValue(i, v)) model[k] = v;
    } else {
      const std::string v(rng() % 60, 'x');
      if (node.InsertLeaf(i, k, v)) {
        model[k] = v;
      } else {
        EXPECT_LT(node.FreeBytes(), Node::LeafCellBytes(k.size(), v.size()));
      }
    }
    ASSERT_EQ(node.count(), model.size());
  }
  std::size_t i = 0;
  for (const auto& [k, v] : model) {
    EXPECT_EQ(node.key(i), k);
    EXPECT_EQ(node.value(i), v);
    ++i;
  }
  std::size_t used = 0;
  for (std::size_t j = 0; j < node.count(); ++j) used += node.EntryBytes(j);
  EXPECT_EQ(node.UsedBytes(), used);
}

TEST(BTreeNodeTest, ThreeMaximalEntriesFitInOnePage) {
  Page page{};
  Node leaf(page.data());
  leaf.Init(0);
  for (int i = 0; i < 3; ++i) {
    const std::string k(kMaxKeyBytes, static_cast<char>('a' + i));
    const std::string ref(kOutOfLineRefBytes, 'r');
    ASSERT_TRUE(leaf.InsertLeaf(i, k, ref, /*out_of_line=*/true)) << i;
    EXPECT_TRUE(leaf.out_of_line(i));
    EXPECT_EQ(leaf.value(i), ref);
  }
  // A fourth does not fit: three is the guarantee.
  EXPECT_FALSE(leaf.InsertLeaf(3, std::string(kMaxKeyBytes, 'z'), std::string(16, 'r'), true));
  PS_EXPECT_OK(CheckNode(7, ConstPageSpan(page.data(), kPageSize), {}));
  Page ipage{};
  Node internal(ipage.data());
  internal.Init(1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(internal.InsertInternal(i, std::string(kMaxKeyBytes, 'a' + i), 100 + i)) << i;
  }
  EXPECT_EQ(internal.child(2), 102u);
}

TEST(BTreeNodeTest, AnOutOfLineFlagOnAnythingButAReferenceIsMalformed) {
  Page page{};
  Node leaf(page.data());
  leaf.Init(0);
  ASSERT_TRUE(leaf.InsertLeaf(0, "k", std::string(15, 'r'), /*out_of_line=*/true));
  const absl::Status s = CheckNode(7, ConstPageSpan(page.data(), kPageSize), {});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("reference"), std::string::npos) << s;
}

TEST(BTreeNodeTest, InternalChildForAndSplitAndMerge) {
  Page page{}, right_page{};
  Node n(page.data());
  n.Init(1);
  n.set_leftmost_child(10);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(n.InsertInternal(i, fmt::format("k{:03}", i * 2), 11 + i));
  }
  EXPECT_EQ(n.ChildFor("a", BytewiseCompare), 10u);
  EXPECT_EQ(n.ChildFor("k000", BytewiseCompare), 11u);
  EXPECT_EQ(n.ChildFor("k001", BytewiseCompare), 11u);
  EXPECT_EQ(n.ChildFor("k198", BytewiseCompare), 110u);
  EXPECT_EQ(n.ChildFor("z", BytewiseCompare), 110u);
  EXPECT_EQ(n.IndexOfChild(10), -1);
  EXPECT_EQ(n.IndexOfChild(12), 1);
  EXPECT_EQ(n.IndexOfChild(999), -2);
  Node right(right_page.data());
  right.Init(1);
  n.MoveTail(60, right);
  EXPECT_EQ(n.count(), 60);
  EXPECT_EQ(right.count(), 40);
  EXPECT_EQ(right.key(0), "k120");
  EXPECT_EQ(right.child(0), 71u);
  ASSERT_TRUE(n.AppendAll(right));
  EXPECT_EQ(n.count(), 100);
  EXPECT_EQ(n.key(99), "k198");
}

}  // namespace
}  // namespace pagestore::testing
