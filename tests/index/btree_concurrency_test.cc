// Many threads on one B+tree: writers on their own keys (with transactions that commit or
// abort) and on shared keys, readers getting and scanning. Iterators must see keys in order
// without duplicates; the final tree equals the writers' models and passes Verify.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "index/btree.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

TEST(BTreeConcurrencyTest, WritersReadersAndScannersAgreeWithTheModel) {
  StoreOptions options = SmallStoreOptions();
  options.pool_frames = 512;
  options.background_checkpoints = true;
  options.checkpoint_interval_bytes = 256 << 10;
  options.log.segment_size = kSegmentHeaderSize + (1 << 20);
  options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  SimulatedStore sim(options);
  absl::StatusOr<Store*> opened = sim.Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& store = **opened;
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(store));

  constexpr int kWriters = 6;
  constexpr int kReaders = 2;
  const int ops = 3000;
  std::vector<std::map<std::string, std::string>> models(kWriters);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> scanned{0};
  const std::uint64_t seed = TestSeed();
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      auto& model = models[t];
      for (int i = 0; i < ops; ++i) {
        // Own keys interleave with every other writer's: the same leaves, splits and merges.
        const std::string key = fmt::format("{:05}-{}", rng() % 2000, t);
        const std::string value(rng() % 120, static_cast<char>('a' + t));
        if (rng() % 8 == 0) {
          // A transaction of two changes that commits or aborts.
          absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
          ASSERT_TRUE(txn.ok());
          const std::string key2 = fmt::format("{:05}-{}", rng() % 2000, t);
          ASSERT_TRUE(tree->Put(txn->get(), key, value).ok());
          absl::Status d = tree->Delete(txn->get(), key2);
          ASSERT_TRUE(d.ok() || absl::IsNotFound(d)) << d;
          if (rng() % 2 == 0) {
            ASSERT_TRUE((*txn)->Commit().ok());
            model[key] = value;
            if (key2 != key)
              model.erase(key2);
            else
              model.erase(key);
          } else {
            ASSERT_TRUE((*txn)->Abort().ok());
          }
          continue;
        }
        switch (rng() % 3) {
          case 0: {
            absl::Status s = tree->Insert(nullptr, key, value);
            ASSERT_TRUE(s.ok() || absl::IsAlreadyExists(s)) << s;
            if (s.ok()) model[key] = value;
            break;
          }
          case 1:
            ASSERT_TRUE(tree->Put(nullptr, key, value).ok());
            model[key] = value;
            break;
          default: {
            absl::Status s = tree->Delete(nullptr, key);
            ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
            ASSERT_EQ(s.ok(), model.erase(key) == 1);
            break;
          }
        }
        // Our own keys are ours alone: a get sees exactly what we wrote.
        absl::StatusOr<std::string> v = tree->Get(key);
        auto m = model.find(key);
        ASSERT_EQ(v.ok(), m != model.end()) << v.status();
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      while (!stop.load()) {
        std::string last;
        bool first = true;
        auto it = tree->Scan(r == 0 ? "" : "01000");
        for (; it.Valid(); it.Next()) {
          const std::string k(it.key());
          ASSERT_TRUE(first || k > last) << "scan went from " << last << " to " << k;
          last = k;
          first = false;
          scanned.fetch_add(1, std::memory_order_relaxed);
        }
        ASSERT_TRUE(it.status().ok()) << it.status();
      }
    });
  }
  for (int t = 0; t < kWriters; ++t) threads[t].join();
  stop = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_GT(scanned.load(), 0u);

  std::map<std::string, std::string> expected;
  for (const auto& m : models) expected.insert(m.begin(), m.end());
  PS_ASSERT_OK(tree->Verify());
  std::map<std::string, std::string> now;
  auto it = tree->Begin();
  for (; it.Valid(); it.Next()) now.emplace(std::string(it.key()), std::string(it.value()));
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(now.size(), expected.size());
  EXPECT_TRUE(now == expected);
}

}  // namespace
}  // namespace pagestore::testing
