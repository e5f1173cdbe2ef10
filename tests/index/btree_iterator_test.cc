// B+tree iterators as engines use them: backward walks (SeekToLast, Prev, SeekForPrev) against
// std::map; cursor Delete and Put during forward and backward walks, in and out of transactions;
// writes from the thread that holds an iterator (no self-deadlock); and backward and forward
// walks against concurrent writers, seeing every key that exists throughout exactly once, in
// strict order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "index/btree.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

class BTreeIteratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options = SmallStoreOptions();
    options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
    PS_ASSIGN_OR_FAIL(s, Store::Open(dir_.file("it.pages"), options));
    store_ = std::move(s);
    PS_ASSIGN_OR_FAIL(t, BTree::Create(*store_));
    tree_ = std::move(t);
  }
  // `n` keys of varied lengths and values of 1-200 bytes (many leaves), in tree and model.
  void Fill(int n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < n; ++i) {
      const std::string key = fmt::format("{:06}{}", rng() % 1000000, std::string(rng() % 20, 'k'));
      const std::string value(1 + rng() % 200, static_cast<char>('a' + rng() % 26));
      PS_ASSERT_OK(tree_->Put(nullptr, key, value));
      model_[key] = value;
    }
  }
  std::map<std::string, std::string> Contents() {
    std::map<std::string, std::string> out;
    auto it = tree_->Begin();
    for (; it.Valid(); it.Next()) out.emplace(std::string(it.key()), std::string(it.value()));
    EXPECT_TRUE(it.status().ok()) << it.status();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BTree> tree_;
  std::map<std::string, std::string> model_;
};

TEST_F(BTreeIteratorTest, EmptyTree) {
  EXPECT_FALSE(tree_->SeekToLast().Valid());
  EXPECT_FALSE(tree_->SeekForPrev("m").Valid());
  auto it = tree_->Begin();
  EXPECT_FALSE(it.Valid());
  EXPECT_TRUE(absl::IsFailedPrecondition(it.Delete(nullptr)));
  EXPECT_TRUE(absl::IsFailedPrecondition(it.Put(nullptr, "v")));
}

TEST_F(BTreeIteratorTest, ReverseWalkMatchesTheModel) {
  Fill(3000, TestSeed());
  ASSERT_GT(tree_->Stats()->leaves, 20u) << "premise: many leaves";
  auto it = tree_->SeekToLast();
  auto m = model_.rbegin();
  for (; it.Valid(); it.Prev(), ++m) {
    ASSERT_NE(m, model_.rend());
    ASSERT_EQ(it.key(), m->first);
    ASSERT_EQ(it.value(), m->second);
  }
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(m, model_.rend());
}

TEST_F(BTreeIteratorTest, SeekForPrevAtBetweenBeforeAndAfterKeys) {
  Fill(2000, TestSeed());
  auto check = [&](const std::string& probe) {
    auto it = tree_->SeekForPrev(probe);
    auto m = model_.upper_bound(probe);  // the first key > probe; the one before is the answer
    if (m == model_.begin()) {
      EXPECT_FALSE(it.Valid()) << probe;
      return;
    }
    --m;
    ASSERT_TRUE(it.Valid()) << probe;
    EXPECT_EQ(it.key(), m->first) << probe;
    EXPECT_EQ(it.value(), m->second) << probe;
  };
  check("");                      // before every key
  check(std::string(1, '\xff'));  // after every key
  check(model_.begin()->first);   // at the first key
  check(model_.rbegin()->first);  // at the last key
  for (const auto& [key, value] : model_) {
    check(key);                            // at
    check(key + '\0');                     // just after
    check(key.substr(0, key.size() - 1));  // just before (a prefix)
  }
}

TEST_F(BTreeIteratorTest, RandomNextAndPrevMatchTheModel) {
  Fill(2000, TestSeed());
  std::mt19937_64 rng(TestSeed() + 1);
  for (int round = 0; round < 50; ++round) {
    const std::string probe = fmt::format("{:06}", rng() % 1000000);
    auto it = tree_->LowerBound(probe);
    auto m = model_.lower_bound(probe);
    for (int step = 0; step < 200; ++step) {
      ASSERT_EQ(it.Valid(), m != model_.end());
      if (!it.Valid()) break;
      ASSERT_EQ(it.key(), m->first);
      if (rng() % 3 == 0) {
        it.Prev();
        if (m == model_.begin()) {
          ASSERT_FALSE(it.Valid());
          break;
        }
        --m;
      } else {
        it.Next();
        ++m;
      }
    }
    PS_ASSERT_OK(it.status());
  }
}

TEST_F(BTreeIteratorTest, CursorDeletesAndUpdatesEveryOtherKeyWalkingForward) {
  Fill(2000, TestSeed());
  const std::map<std::string, std::string> before = model_;
  std::vector<std::string> seen;
  auto it = tree_->Begin();
  for (int i = 0; it.Valid(); ++i) {
    const std::string key(it.key());
    seen.push_back(key);
    if (i % 2 == 0) {
      PS_ASSERT_OK(it.Delete(nullptr));  // now at the next entry
      model_.erase(key);
    } else {
      PS_ASSERT_OK(it.Put(nullptr, "updated " + key));
      ASSERT_TRUE(it.Valid());
      ASSERT_EQ(it.key(), key);
      ASSERT_EQ(it.value(), "updated " + key);
      model_[key] = "updated " + key;
      it.Next();
    }
  }
  PS_ASSERT_OK(it.status());
  std::vector<std::string> all;
  for (const auto& [key, value] : before) all.push_back(key);
  EXPECT_EQ(seen, all) << "the walk saw exactly the keys, in order";
  EXPECT_EQ(Contents(), model_);
  PS_ASSERT_OK(tree_->Verify());
}

TEST_F(BTreeIteratorTest, CursorDeletesAndUpdatesEveryOtherKeyWalkingBackward) {
  Fill(2000, TestSeed());
  const std::map<std::string, std::string> before = model_;
  std::vector<std::string> seen;
  auto it = tree_->SeekToLast();
  for (int i = 0; it.Valid(); ++i) {
    const std::string key(it.key());
    seen.push_back(key);
    if (i % 2 == 0) {
      PS_ASSERT_OK(it.Delete(nullptr));  // now at the next entry: the one before is next back
      model_.erase(key);
      if (it.Valid()) {
        it.Prev();
      } else {
        PS_ASSERT_OK(it.status());
        it = tree_->SeekToLast();  // deleted the last key
      }
    } else {
      PS_ASSERT_OK(it.Put(nullptr, "updated " + key));
      ASSERT_EQ(it.key(), key);
      model_[key] = "updated " + key;
      it.Prev();
    }
  }
  PS_ASSERT_OK(it.status());
  std::vector<std::string> all;
  for (auto m = before.rbegin(); m != before.rend(); ++m) all.push_back(m->first);
  EXPECT_EQ(seen, all) << "the walk saw exactly the keys, in reverse order";
  EXPECT_EQ(Contents(), model_);
  PS_ASSERT_OK(tree_->Verify());
}

TEST_F(BTreeIteratorTest, CursorChangesInATransactionCommitAndAbort) {
  Fill(500, TestSeed());
  const std::map<std::string, std::string> before = model_;
  {
    PS_ASSIGN_OR_FAIL(txn, store_->Begin());
    auto it = tree_->Begin();
    for (int i = 0; it.Valid(); ++i) {
      if (i % 2 == 0) {
        PS_ASSERT_OK(it.Delete(txn.get()));
      } else {
        PS_ASSERT_OK(it.Put(txn.get(), "x"));
        it.Next();
      }
    }
    PS_ASSERT_OK(txn->Abort());
  }
  EXPECT_EQ(Contents(), before) << "an aborted cursor walk leaves the tree as it was";
  {
    PS_ASSIGN_OR_FAIL(txn, store_->Begin());
    auto it = tree_->Begin();
    for (int i = 0; it.Valid(); ++i) {
      const std::string key(it.key());
      if (i % 2 == 0) {
        PS_ASSERT_OK(it.Delete(txn.get()));
        model_.erase(key);
      } else {
        it.Next();
      }
    }
    PS_ASSERT_OK(txn->Commit());
  }
  EXPECT_EQ(Contents(), model_);
}

TEST_F(BTreeIteratorTest, TheThreadHoldingAnIteratorMayWriteTheTree) {
  // Writes that split and merge the very leaf the iterator stands on, from the same thread: no
  // hang, and the walk still sees every key that was there throughout, in order.
  for (int i = 0; i < 400; ++i) {
    PS_ASSERT_OK(tree_->Put(nullptr, fmt::format("k{:04}", i * 2), "v"));
  }
  std::vector<std::string> seen;
  auto it = tree_->Begin();
  for (int step = 0; it.Valid(); ++step) {
    seen.emplace_back(it.key());
    if (step % 10 == 0) {
      for (int j = 0; j < 30; ++j) {  // fillers just ahead of the cursor and just behind it
        PS_ASSERT_OK(
            tree_->Put(nullptr, fmt::format("{}-{:02}", it.key(), j), std::string(100, 'f')));
      }
      for (int j = 0; j < 30; ++j) {
        PS_ASSERT_OK(tree_->Delete(nullptr, fmt::format("{}-{:02}", it.key(), j)));
      }
    }
    it.Next();
  }
  PS_ASSERT_OK(it.status());
  std::vector<std::string> permanent;
  for (const std::string& k : seen) {
    if (k.find('-') == std::string::npos) permanent.push_back(k);
  }
  ASSERT_EQ(permanent.size(), 400u);
  for (std::size_t i = 1; i < seen.size(); ++i) ASSERT_LT(seen[i - 1], seen[i]);
  PS_ASSERT_OK(tree_->Verify());
}

TEST(BTreeIteratorComparatorTest, BothWaysUnderACustomOrderTakeTheLatchedPath) {
  // A custom comparator never takes the optimistic descent: every positioning here crabs down
  // with shared latches (forward and backward picks), in reverse bytewise order.
  TempDir dir;
  PS_ASSIGN_OR_FAIL(store, Store::Open(dir.file("cmp.pages"), SmallStoreOptions()));
  BTreeOptions reverse;
  reverse.comparator = [](std::string_view a, std::string_view b) { return BytewiseCompare(b, a); };
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store, reverse));
  std::map<std::string, std::string, std::greater<>> model;
  std::mt19937_64 rng(TestSeed());
  for (int i = 0; i < 2000; ++i) {
    const std::string key = fmt::format("{:06}", rng() % 1000000);
    PS_ASSERT_OK(tree->Put(nullptr, key, key + "v"));
    model[key] = key + "v";
  }
  ASSERT_GT(tree->Stats()->height, 0u) << "premise: more than one leaf";
  auto it = tree->SeekToLast();
  auto m = model.rbegin();
  for (; it.Valid(); it.Prev(), ++m) {
    ASSERT_NE(m, model.rend());
    ASSERT_EQ(it.key(), m->first);
  }
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(m, model.rend());
  for (int i = 0; i < 300; ++i) {
    const std::string probe = fmt::format("{:06}", rng() % 1000000);
    auto at = tree->SeekForPrev(probe);
    auto want = model.upper_bound(probe);  // the first key after probe in this order
    if (want == model.begin()) {
      EXPECT_FALSE(at.Valid()) << probe;
      continue;
    }
    --want;
    ASSERT_TRUE(at.Valid()) << probe;
    EXPECT_EQ(at.key(), want->first) << probe;
  }
}

TEST(BTreeIteratorLruKTest, ScansFinishWhenReadingTheSiblingEvictsTheLeaf) {
  // An LRU-K pool far smaller than the tree, warmed so that every frame has K accesses: the
  // scan's own pages are the victims, so reading a leaf's right sibling evicts the leaf itself
  // (its version moves). The walk must still move on, both ways, and see every key once.
  TempDir dir;
  StoreOptions options = SmallStoreOptions();
  options.pool_frames = 16;
  options.replacer = {.policy = ReplacerOptions::Policy::kLruK, .k = 2};
  PS_ASSIGN_OR_FAIL(store, Store::Open(dir.file("lruk.pages"), options));
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  constexpr int kKeys = 3000;
  for (int i = 0; i < kKeys; ++i) {
    PS_ASSERT_OK(tree->Put(nullptr, fmt::format("k{:05}", i), std::string(100, 'v')));
  }
  ASSERT_GT(tree->Stats()->leaves, 4 * options.pool_frames)
      << "premise: the tree outgrows the pool";
  for (int round = 0; round < 3; ++round) {  // every frame accessed at least K times
    for (int i = 0; i < kKeys; i += 7) PS_ASSERT_OK(tree->Get(fmt::format("k{:05}", i)).status());
  }
  std::atomic<bool> done{false};
  int forward = 0, backward = 0;
  absl::Status forward_status, backward_status;
  std::thread walker([&] {
    auto it = tree->Begin();
    for (; it.Valid(); it.Next()) ++forward;
    forward_status = it.status();
    auto back = tree->SeekToLast();
    for (; back.Valid(); back.Prev()) ++backward;
    backward_status = back.status();
    done = true;
  });
  // Generous: the walks take milliseconds; only a walk that never ends reaches this.
  for (int i = 0; i < 1200 && !done.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(done.load()) << "a scan did not finish in two minutes";
  walker.join();
  PS_ASSERT_OK(forward_status);
  PS_ASSERT_OK(backward_status);
  EXPECT_EQ(forward, kKeys);
  EXPECT_EQ(backward, kKeys);
  EXPECT_GT(store->pool().stats().evictions, 100u);
}

// The README's composite-key idiom for several sorted values per key.
std::string DupPrefix(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '\0') {
      out.append("\0\xff", 2);
    } else {
      out.push_back(c);
    }
  }
  return out.append("\0\x01", 2);
}

TEST_F(BTreeIteratorTest, CompositeKeysGiveSortedDuplicatesPerKey) {
  // Keys chosen to trip a naive encoding: one a prefix of another, one holding a zero byte.
  const std::vector<std::string> keys = {"a", "ab", std::string("a\0b", 3), "b", ""};
  std::map<std::string, std::vector<std::string>> model;
  std::mt19937_64 rng(TestSeed());
  for (const std::string& k : keys) {
    for (int i = 0; i < 40; ++i) {
      const std::string v = fmt::format("{:03}", rng() % 1000);
      PS_ASSERT_OK(tree_->Put(nullptr, DupPrefix(k) + v, ""));
      model[k].push_back(v);
    }
    std::sort(model[k].begin(), model[k].end());
    model[k].erase(std::unique(model[k].begin(), model[k].end()), model[k].end());
  }
  for (const std::string& k : keys) {
    const std::string p = DupPrefix(k);
    const std::string end = p.substr(0, p.size() - 1) + '\x02';
    std::vector<std::string> values;
    for (auto it = tree_->Scan(p, end); it.Valid(); it.Next()) {
      values.emplace_back(it.key().substr(p.size()));
    }
    EXPECT_EQ(values, model[k]) << "duplicates of '" << absl::CEscape(k) << "'";
  }
  // Keys come out in key order, then value order.
  std::vector<std::string> all, expected;
  for (auto it = tree_->Begin(); it.Valid(); it.Next()) all.emplace_back(it.key());
  for (const auto& [k, values] : model) {
    for (const std::string& v : values) expected.push_back(DupPrefix(k) + v);
  }
  EXPECT_EQ(all, expected);
}

TEST_F(BTreeIteratorTest, WalksBothWaysAgainstConcurrentWritersSeeEveryPermanentKeyOnce) {
  // Permanent keys are never deleted; writers insert and delete fillers between them (leaves
  // split and merge under the walks). Every walk sees each permanent key exactly once, in strict
  // order.
  constexpr int kPermanent = 300;
  auto permanent = [](int k) { return fmt::format("p{:04}", k); };
  for (int k = 0; k < kPermanent; ++k) PS_ASSERT_OK(tree_->Put(nullptr, permanent(k), "perm"));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int> walks{0};
  const std::uint64_t seed = TestSeed();
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(seed + w);
      for (int round = 0; round < 20 && errors == 0; ++round) {
        std::vector<std::string> mine;
        for (int i = 0; i < 300; ++i) {
          mine.push_back(fmt::format("p{:04}-{}-{}", rng() % kPermanent, w, i));
          if (!tree_->Put(nullptr, mine.back(), std::string(100 + rng() % 300, 'f')).ok()) ++errors;
        }
        for (const std::string& k : mine) {
          if (!tree_->Delete(nullptr, k).ok()) ++errors;
        }
      }
    });
  }
  std::vector<std::thread> walkers;
  for (int backward = 0; backward < 2; ++backward) {
    walkers.emplace_back([&, backward] {
      while (!stop.load() && errors.load() == 0) {
        int next = backward ? kPermanent - 1 : 0;
        std::string last;
        auto it = backward ? tree_->SeekToLast() : tree_->Begin();
        for (; it.Valid(); backward ? it.Prev() : it.Next()) {
          const std::string key(it.key());
          if (!last.empty() && (backward ? key >= last : key <= last)) {
            if (errors.fetch_add(1) < 5) ADD_FAILURE() << "'" << key << "' after '" << last << "'";
            break;
          }
          last = key;
          if (key.size() != 5) continue;
          if (key != permanent(next)) {
            if (errors.fetch_add(1) < 5)
              ADD_FAILURE() << "met " << key << ", expected " << permanent(next);
            break;
          }
          next += backward ? -1 : 1;
        }
        if (!it.status().ok() && errors.fetch_add(1) < 5) ADD_FAILURE() << it.status();
        if (errors.load() == 0 && next != (backward ? -1 : kPermanent) && errors.fetch_add(1) < 5) {
          ADD_FAILURE() << "a walk ended before " << permanent(next);
        }
        walks.fetch_add(1);
      }
    });
  }
  for (std::thread& t : writers) t.join();
  stop = true;
  for (std::thread& t : walkers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(walks.load(), 2);
  PS_ASSERT_OK(tree_->Verify());
}

}  // namespace
}  // namespace pagestore::testing
