// LMDB's mtest, step for step, on a B+tree: 64 to 447 random values put without overwrite
// (duplicates skipped), a forward walk, deletes from the end backward by random strides (each in
// a transaction of its own, aborted when the key is gone), forward, backward and last/prev walks,
// a cursor deleting 50 entries inside a transaction and restarting there, then a walk after the
// commit. At LMDB's own value size (its 32-byte buffer) and at sizes of several KiB, which the
// tree keeps out of line; every step is checked against a std::map.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "index/btree.h"
#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

using Model = std::map<std::string, std::string>;

// mtest's key is the first 4 bytes of "%03x %d foo bar"; its data the whole 32-byte buffer. Here
// the data is `size` bytes: that text, then a pattern of the value.
std::string Key(int v) { return fmt::format("{:03x} ", v).substr(0, 4); }
std::string Data(int v, std::size_t size) {
  std::string d = fmt::format("{:03x} {} foo bar", v, v);
  d.resize(size, '\0');
  for (std::size_t i = 32; i < size; ++i) d[i] = static_cast<char>('a' + (v + i) % 26);
  return d;
}

void ExpectForward(const BTree& tree, const Model& model) {
  auto it = tree.Begin();
  auto m = model.begin();
  for (; it.Valid(); it.Next(), ++m) {
    ASSERT_NE(m, model.end());
    ASSERT_EQ(it.key(), m->first);
    ASSERT_TRUE(it.value() == m->second) << m->first;
  }
  PS_ASSERT_OK(it.status());
  ASSERT_EQ(m, model.end());
}

void ExpectBackward(const BTree& tree, const Model& model) {
  auto it = tree.SeekToLast();
  auto m = model.rbegin();
  for (; it.Valid(); it.Prev(), ++m) {
    ASSERT_NE(m, model.rend());
    ASSERT_EQ(it.key(), m->first);
    ASSERT_TRUE(it.value() == m->second) << m->first;
  }
  PS_ASSERT_OK(it.status());
  ASSERT_EQ(m, model.rend());
}

class MtestStyleTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MtestStyleTest, RunsAsLmdbsMtestDoes) {
  const std::size_t size = GetParam();
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 256;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  SimulatedStore sim(o);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  std::mt19937 rng(static_cast<std::uint32_t>(TestSeed()));
  const int count = static_cast<int>(rng() % 384) + 64;
  std::vector<int> values(count);
  for (int& v : values) v = static_cast<int>(rng() % 1024);

  // "Adding %d values": one transaction, MDB_NOOVERWRITE, duplicates skipped.
  Model model;
  int duplicates = 0;
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int v : values) {
      const absl::Status s = tree->Insert(txn.get(), Key(v), Data(v, size));
      if (absl::IsAlreadyExists(s)) {
        ++duplicates;
        continue;
      }
      PS_ASSERT_OK(s);
      model[Key(v)] = Data(v, size);
    }
    PS_ASSERT_OK(txn->Commit());
  }
  EXPECT_EQ(model.size() + duplicates, static_cast<std::size_t>(count));
  ASSERT_NO_FATAL_FAILURE(ExpectForward(*tree, model));

  // Deletes from the end backward by strides of rand() % 5, each in its own transaction; a key
  // already gone (or a stride of 0 repeating one) is NotFound and the transaction aborted.
  int deleted = 0;
  for (int i = count - 1; i > -1; i -= static_cast<int>(rng() % 5)) {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    const absl::Status s = tree->Delete(txn.get(), Key(values[i]));
    if (absl::IsNotFound(s)) {
      ASSERT_FALSE(model.contains(Key(values[i])));
      PS_ASSERT_OK(txn->Abort());
    } else {
      PS_ASSERT_OK(s);
      ASSERT_EQ(model.erase(Key(values[i])), 1u);
      PS_ASSERT_OK(txn->Commit());
      ++deleted;
    }
  }
  EXPECT_GT(deleted, 0);

  // "Cursor next", "Cursor last", "Cursor prev", "Cursor last/prev".
  ASSERT_NO_FATAL_FAILURE(ExpectForward(*tree, model));
  ASSERT_NO_FATAL_FAILURE(ExpectBackward(*tree, model));
  if (model.size() >= 2) {
    auto last = tree->SeekToLast();
    ASSERT_TRUE(last.Valid());
    EXPECT_EQ(last.key(), model.rbegin()->first);
    last.Prev();
    ASSERT_TRUE(last.Valid());
    EXPECT_EQ(last.key(), std::next(model.rbegin())->first);
    EXPECT_TRUE(last.value() == std::next(model.rbegin())->second);
  }

  // "Deleting with cursor": 50 entries deleted through a cursor inside one transaction.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    Model in_txn = model;
    auto cur = tree->Begin();
    for (int i = 0; i < 50 && cur.Valid(); ++i) {
      const std::string key(cur.key());
      ASSERT_TRUE(cur.value() == in_txn[key]);
      PS_ASSERT_OK(cur.Delete(txn.get()));
      in_txn.erase(key);
    }
    PS_ASSERT_OK(cur.status());
    // "Restarting cursor in txn": first, then next, 33 entries: what is left.
    auto again = tree->Begin();
    auto m = in_txn.begin();
    for (int i = 0; i <= 32 && again.Valid(); ++i, again.Next(), ++m) {
      ASSERT_NE(m, in_txn.end());
      ASSERT_EQ(again.key(), m->first);
      ASSERT_TRUE(again.value() == m->second);
    }
    PS_ASSERT_OK(again.status());
    PS_ASSERT_OK(txn->Commit());
    model = std::move(in_txn);
  }
  // "Restarting cursor outside txn".
  ASSERT_NO_FATAL_FAILURE(ExpectForward(*tree, model));
  PS_ASSERT_OK(tree->Verify());
  // And after a reopen.
  const PageId anchor = tree->anchor();
  tree.reset();
  PS_ASSERT_OK(store->Close());
  sim.PowerLoss(3);
  PS_ASSIGN_OR_FAIL(reopened_store, sim.Open());
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(*reopened_store, anchor));
  ASSERT_NO_FATAL_FAILURE(ExpectForward(*reopened, model));
}

INSTANTIATE_TEST_SUITE_P(ValueSizes, MtestStyleTest,
                         ::testing::Values(std::size_t{32}, std::size_t{1500}, std::size_t{3000},
                                           std::size_t{7000}),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return fmt::format("bytes{}", info.param);
                         });

}  // namespace
}  // namespace pagestore::testing
