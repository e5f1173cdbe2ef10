// Batched reads through the indexes: BTree::MultiGet and HashIndex::MultiGet answer exactly as
// Get does (present, absent, repeated keys, large values, the empty set) through a pool far
// smaller than the index, on every disk manager, and stay right while writers change the keys;
// a scan with read-ahead returns exactly what a scan without it returns. ctest runs this suite
// a second time with PAGESTORE_IO_URING=0 (the fallback without io_uring).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "index/btree.h"
#include "index/hash_index.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

std::string KeyOf(std::uint64_t i) { return fmt::format("key{:08}", i); }
std::string ValueOf(std::uint64_t i, std::uint64_t version) {
  // Every 50th key has a large value (value pages); the rest are small.
  const std::size_t size = i % 50 == 7 ? 9000 + i % 5000 : 20 + i % 90;
  std::string v = fmt::format("{}|{}|", KeyOf(i), version);
  v.resize(size, static_cast<char>('a' + (i + version) % 26));
  return v;
}

class MultiGetTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    StoreOptions options = SmallStoreOptions();  // 64 frames: a few hundred KiB of pool
    options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
    options.undo_handlers[kHashResourceManager] = HashUndoHandler();
    PS_ASSIGN_OR_FAIL(disk, ParseDiskManagerSpec(GetParam()));
    options.disk = disk;
    PS_ASSIGN_OR_FAIL(s, Store::Open(dir_.file("mg.pages"), options));
    store_ = std::move(s);
    PS_ASSIGN_OR_FAIL(t, BTree::Create(*store_));
    tree_ = std::move(t);
    PS_ASSIGN_OR_FAIL(h, HashIndex::Create(*store_));
    hash_ = std::move(h);
    // Even keys only: odd ones are absent.
    for (std::uint64_t i = 0; i < 2 * kKeys; i += 2) {
      PS_ASSERT_OK(tree_->Put(nullptr, KeyOf(i), ValueOf(i, 0)));
      PS_ASSERT_OK(hash_->Put(nullptr, KeyOf(i), ValueOf(i, 0)));
    }
  }

  // A random set of keys: present, absent, repeated; in random order.
  std::vector<std::string> SomeKeys(std::mt19937_64& rng, std::size_t n) {
    std::vector<std::string> keys;
    for (std::size_t k = 0; k < n; ++k) {
      if (!keys.empty() && rng() % 8 == 0) {
        keys.push_back(keys[rng() % keys.size()]);
      } else {
        keys.push_back(KeyOf(rng() % (2 * kKeys + 10)));
      }
    }
    return keys;
  }

  template <typename Index>
  void ExpectMultiGetMatchesGet(const Index& index, const std::vector<std::string>& keys) {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    std::vector<std::string> values;
    std::vector<absl::Status> statuses;
    index.MultiGet(views, &values, &statuses);
    ASSERT_EQ(values.size(), keys.size());
    ASSERT_EQ(statuses.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      std::string want;
      const absl::Status s = index.Get(keys[i], &want);
      ASSERT_EQ(statuses[i].code(), s.code()) << keys[i] << ": " << statuses[i] << " vs " << s;
      if (s.ok()) {
        ASSERT_EQ(values[i], want) << keys[i];
      }
    }
  }

  static constexpr std::uint64_t kKeys = 4000;
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BTree> tree_;
  std::unique_ptr<HashIndex> hash_;
};

TEST_P(MultiGetTest, AnswersAsGetDoesThroughASmallPool) {
  ASSERT_GT(tree_->Stats()->leaves, 2 * store_->pool().frame_count()) << "premise: cold tree";
  std::mt19937_64 rng(TestSeed());
  const BufferPoolStats before = store_->pool().stats();
  for (std::size_t n : {0u, 1u, 2u, 17u, 32u, 100u, 300u}) {
    const std::vector<std::string> keys = SomeKeys(rng, n);
    ExpectMultiGetMatchesGet(*tree_, keys);
    ExpectMultiGetMatchesGet(*hash_, keys);
  }
  EXPECT_GT(store_->pool().stats().read_batches, before.read_batches) << "misses read in batches";
}

TEST_P(MultiGetTest, SortedAndRepeatedKeysAndAllAbsent) {
  std::vector<std::string> keys;
  for (std::uint64_t i = 0; i < 64; ++i) keys.push_back(KeyOf(i * 101));
  keys.insert(keys.end(), keys.begin(), keys.begin() + 10);  // repeats at the end
  ExpectMultiGetMatchesGet(*tree_, keys);
  ExpectMultiGetMatchesGet(*hash_, keys);
  std::vector<std::string> absent;
  for (std::uint64_t i = 1; i < 200; i += 2) absent.push_back(KeyOf(i));
  ExpectMultiGetMatchesGet(*tree_, absent);
  ExpectMultiGetMatchesGet(*hash_, absent);
}

// Writers rewrite and delete keys while readers batch: each answer is a value the key had
// (its own key and a version the writer wrote) or NotFound for a key a writer deletes.
TEST_P(MultiGetTest, StaysRightUnderConcurrentWriters) {
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    std::mt19937_64 rng(1);
    for (std::uint64_t version = 1; version < 400; ++version) {
      const std::uint64_t i = (rng() % kKeys) * 2;
      // Keys divisible by 6 come and go; the others are rewritten.
      absl::Status s = i % 6 == 0 && version % 2 == 0
                           ? tree_->Delete(nullptr, KeyOf(i))
                           : tree_->Put(nullptr, KeyOf(i), ValueOf(i, version));
      if (!s.ok() && !absl::IsNotFound(s)) ++bad;
      s = i % 6 == 0 && version % 2 == 0 ? hash_->Delete(nullptr, KeyOf(i))
                                         : hash_->Put(nullptr, KeyOf(i), ValueOf(i, version));
      if (!s.ok() && !absl::IsNotFound(s)) ++bad;
    }
    stop = true;
  });
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(10 + r);
      while (!stop.load()) {
        std::vector<std::string> keys;
        for (int k = 0; k < 32; ++k) keys.push_back(KeyOf((rng() % kKeys) * 2));
        std::vector<std::string_view> views(keys.begin(), keys.end());
        std::vector<std::string> values;
        std::vector<absl::Status> statuses;
        for (int which = 0; which < 2; ++which) {
          if (which == 0) {
            tree_->MultiGet(views, &values, &statuses);
          } else {
            hash_->MultiGet(views, &values, &statuses);
          }
          for (std::size_t k = 0; k < keys.size(); ++k) {
            const std::uint64_t i = std::stoull(keys[k].substr(3));
            if (absl::IsNotFound(statuses[k]) && i % 6 == 0) continue;
            if (!statuses[k].ok() || !values[k].starts_with(keys[k] + "|")) {
              ++bad;
              continue;
            }
            const std::uint64_t version = std::stoull(values[k].substr(keys[k].size() + 1));
            if (values[k] != ValueOf(i, version)) ++bad;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(MultiGetTest, ScansWithReadAheadReturnWhatScansWithoutReturn) {
  BTreeOptions off;
  off.read_ahead_leaves = 0;
  PS_ASSIGN_OR_FAIL(plain, BTree::Open(*store_, tree_->anchor(), off));
  std::mt19937_64 rng(TestSeed());
  for (int round = 0; round < 6; ++round) {
    const std::string begin = KeyOf(rng() % (2 * kKeys));
    const std::string end = round == 0 ? std::string("~") : KeyOf(rng() % (2 * kKeys));
    std::vector<std::pair<std::string, std::string>> with, without;
    for (auto it = tree_->Scan(begin, end); it.Valid(); it.Next()) {
      with.emplace_back(std::string(it.key()), std::string(it.value()));
    }
    for (auto it = plain->Scan(begin, end); it.Valid(); it.Next()) {
      without.emplace_back(std::string(it.key()), std::string(it.value()));
    }
    ASSERT_EQ(with, without) << begin << " .. " << end;
  }
  // The full scan read ahead: several leaves per batch.
  const BufferPoolStats before = store_->pool().stats();
  std::size_t n = 0;
  auto it = tree_->Begin();
  for (; it.Valid(); it.Next()) ++n;
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(n, kKeys);
  const BufferPoolStats after = store_->pool().stats();
  EXPECT_GT(after.read_batches, before.read_batches);
  EXPECT_GE(after.disk_reads - before.disk_reads, 2 * (after.read_batches - before.read_batches))
      << after.ToString();
}

INSTANTIATE_TEST_SUITE_P(Managers, MultiGetTest,
                         ::testing::Values("pread", "pread:uring=0",
                                           "mmap:initial=64K,growth=64K,reserve=1G"),
                         [](const auto& info) {
                           std::string name = info.param.substr(0, info.param.find(','));
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace pagestore::testing
