// The B+tree's optimistic read path. (1) TornSafeNode over random bytes never reads outside the
// page (the page is a heap block of exactly 4 KiB, so ASan catches any read past it). (2) A race:
// optimistic gets against writers that split, merge and free pages, in a pool small enough that
// eviction runs all the time, while the disk manager is swapped pread <-> mmap over and over.
// Every value a get returns was, at some moment during the call, the key's value; scans come in
// strict order and meet every key that is never deleted exactly once. (3) The same while the
// root splits and collapses over and over (the descent starts from a root hint, not the anchor).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "index/btree.h"
#include "index/btree_torn_node.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

TEST(TornSafeNodeTest, RandomBytesNeverLeadOutsideThePage) {
  std::mt19937_64 rng(TestSeed());
  auto page = std::make_unique<std::byte[]>(kPageSize);  // exactly one page: ASan's bounds
  std::uint64_t torn = 0;
  for (int round = 0; round < 20000; ++round) {
    for (std::size_t i = 0; i < kPageSize; i += 8) {
      const std::uint64_t r = rng();
      std::memcpy(page.get() + i, &r, 8);
    }
    // Skew the header toward the interesting cases: small counts, offsets near the end.
    std::uint16_t count = static_cast<std::uint16_t>(rng() % 4 == 0 ? rng() : rng() % 300);
    std::memcpy(page.get() + 32, &count, 2);
    std::uint16_t level = static_cast<std::uint16_t>(rng() % 2);
    std::memcpy(page.get() + kNodeLevelOffset, &level, 2);
    for (std::size_t s = 0; s < 300 && kNodeHeaderEnd + 2 * s + 2 <= kPageSize; ++s) {
      if (rng() % 2 == 0) {
        std::uint16_t off = static_cast<std::uint16_t>(kPageSize - 1 - rng() % 64);
        std::memcpy(page.get() + kNodeHeaderEnd + 2 * s, &off, 2);
      }
    }
    TornSafeNode n(page.get());
    std::string key(rng() % 24, 'k');
    for (char& c : key) c = static_cast<char>(rng());
    const std::size_t i = n.Search(key);
    ASSERT_LE(i, n.count());
    std::size_t sum = 0;
    for (std::size_t j = 0; j < n.count(); ++j) {
      sum += n.key(j).size();
      if (n.leaf()) {
        bool out_of_line = false;
        sum += n.value(j, &out_of_line).size() + (out_of_line ? 1 : 0);
      } else {
        sum += n.child(j) & 1;
      }
    }
    volatile std::size_t sink = sum + n.leftmost_child();
    (void)sink;
    torn += n.torn();
  }
  EXPECT_GT(torn, 0u) << "random bytes that never look torn: the generator is broken";
}

TEST(BTreeOptimisticTest, GetsAndScansDuringSplitsMergesEvictionAndSwapsSeeOnlyRealValues) {
  TempDir dir;
  StoreOptions options = SmallStoreOptions();
  options.pool_frames = 24;  // the tree outgrows it: eviction on most misses
  options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  PS_ASSIGN_OR_FAIL(store, Store::Open(dir.file("race.pages"), options));
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));

  // Each watched key belongs to one writer, whose value is "<key>|<version>"; filler keys
  // around them are inserted and deleted in bulk, so leaves split and merge and pages are freed.
  constexpr int kWriters = 2;
  constexpr int kWatched = 64;
  std::vector<std::atomic<std::uint64_t>> version(kWriters * kWatched);
  auto watched = [](int k) { return fmt::format("w{:04}", k); };
  auto value_of = [&](int k, std::uint64_t v) { return fmt::format("{}|{:08}", watched(k), v); };
  for (int k = 0; k < kWriters * kWatched; ++k)
    PS_ASSERT_OK(tree->Put(nullptr, watched(k), value_of(k, 0)));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  const std::uint64_t seed = TestSeed();
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(seed + w);
      for (int round = 0; round < 30 && errors == 0; ++round) {
        for (int i = 0; i < 400; ++i) {
          const std::string filler =
              fmt::format("w{:04}-{}-{}", rng() % (kWriters * kWatched), w, i);
          if (!tree->Put(nullptr, filler, std::string(200 + rng() % 500, 'f')).ok()) ++errors;
          const int k = w * kWatched + static_cast<int>(rng() % kWatched);
          const std::uint64_t v = version[k].load() + 1;
          if (!tree->Put(nullptr, watched(k), value_of(k, v)).ok()) ++errors;
          version[k].store(v);
        }
        for (int i = 0; i < 200; ++i) {
          absl::Status s = tree->Delete(nullptr, fmt::format("w{:04}-{}-{}", 0, w, i));
          if (!s.ok() && !absl::IsNotFound(s)) ++errors;
        }
        std::vector<std::string> doomed;
        for (auto it = tree->Begin(); it.Valid(); it.Next()) {
          if (it.key().find(fmt::format("-{}-", w)) != std::string_view::npos) {
            doomed.emplace_back(it.key());
          }
        }
        for (const std::string& key : doomed) {
          absl::Status s = tree->Delete(nullptr, key);
          if (!s.ok() && !absl::IsNotFound(s)) ++errors;
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(seed + 100 + r);
      while (!stop.load()) {
        const int k = static_cast<int>(rng() % (kWriters * kWatched));
        const std::uint64_t before = version[k].load();
        std::string value;
        absl::Status s = tree->Get(watched(k), &value);
        const std::uint64_t after = version[k].load();
        // The writer stores its version after the put returns: the value read may be one ahead.
        bool real = false;
        for (std::uint64_t v = before; s.ok() && v <= after + 1 && !real; ++v) {
          real = value == value_of(k, v);
        }
        if (!real && errors.fetch_add(1) < 5) {
          ADD_FAILURE() << "key " << watched(k) << ": " << s << " '" << value << "' not between "
                        << before << " and " << after + 1;
        }
      }
    });
  }
  // A scanner: whole scans and scans from a random watched key. Keys come strictly in order;
  // every watched key (never deleted) is met exactly once in a whole scan, with a real value.
  threads.emplace_back([&] {
    std::mt19937_64 rng(seed + 200);
    while (!stop.load() && errors.load() == 0) {
      const int from = static_cast<int>(rng() % 3 == 0 ? rng() % (kWriters * kWatched) : 0);
      const std::string begin = watched(from);
      std::vector<std::uint64_t> before(version.size());
      for (std::size_t k = 0; k < version.size(); ++k) before[k] = version[k].load();
      std::string last;
      int next = from;  // the next watched key the scan must meet
      auto it = tree->Scan(begin);
      for (; it.Valid(); it.Next()) {
        const std::string key(it.key());
        if (!last.empty() && key <= last) {
          if (errors.fetch_add(1) < 5)
            ADD_FAILURE() << "scan: '" << key << "' after '" << last << "'";
          break;
        }
        last = key;
        if (key.size() != 5) continue;  // a filler
        const int k = std::stoi(key.substr(1));
        if (k != next) {
          if (errors.fetch_add(1) < 5)
            ADD_FAILURE() << "scan: met " << key << ", expected " << watched(next);
          break;
        }
        ++next;
        const std::uint64_t after = version[k].load();
        bool real = false;
        for (std::uint64_t v = before[k]; v <= after + 1 && !real; ++v) {
          real = it.value() == value_of(k, v);
        }
        if (!real && errors.fetch_add(1) < 5) {
          ADD_FAILURE() << "scan: " << key << " = '" << it.value() << "'";
        }
      }
      if (!it.status().ok() && errors.fetch_add(1) < 5) ADD_FAILURE() << "scan: " << it.status();
      if (errors.load() == 0 && next != kWriters * kWatched && errors.fetch_add(1) < 5) {
        ADD_FAILURE() << "scan from " << begin << " ended before " << watched(next);
      }
    }
  });
  threads.emplace_back([&] {
    DiskManagerOptions pread = options.disk;
    pread.kind = DiskManagerKind::kPread;
    DiskManagerOptions mmap = options.disk;
    mmap.kind = DiskManagerKind::kMmap;
    for (int i = 0; !stop.load(); ++i) {
      absl::Status s = store->pool().SwapDiskManager(i % 2 == 0 ? mmap : pread);
      if (!s.ok() && errors.fetch_add(1) < 5) ADD_FAILURE() << "swap: " << s;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  stop = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(store->pool().stats().evictions, 1000u) << "premise: eviction all the time";
  EXPECT_GT(store->pool().stats().swaps, 2u);
  PS_ASSERT_OK(tree->Verify());
  for (int k = 0; k < kWriters * kWatched; ++k) {
    PS_ASSIGN_OR_FAIL(v, tree->Get(watched(k)));
    EXPECT_EQ(v, value_of(k, version[k].load()));
  }
}

TEST(BTreeOptimisticTest, GetsAndScansWhileTheRootSplitsAndCollapses) {
  TempDir dir;
  StoreOptions options = SmallStoreOptions();
  PS_ASSIGN_OR_FAIL(store, Store::Open(dir.file("root.pages"), options));
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  // Eight permanent keys fit one leaf; a writer grows the tree to three levels with fillers
  // between them and deletes them all again, so the root splits and collapses every round.
  constexpr int kKeys = 8;
  auto key = [](int k) { return fmt::format("k{}", k); };
  auto value = [](int k) { return fmt::format("value of k{}", k); };
  for (int k = 0; k < kKeys; ++k) PS_ASSERT_OK(tree->Put(nullptr, key(k), value(k)));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<std::uint32_t> max_height{0}, min_height{100};
  // Long filler keys keep internal nodes narrow, so 600 fillers make three levels.
  auto filler = [](int i) {
    return fmt::format("k{}-{:04}-{}", i % kKeys, i, std::string(100, 'p'));
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int round = 0; round < 8 && errors == 0; ++round) {
      for (int i = 0; i < 600; ++i) {
        if (!tree->Put(nullptr, filler(i), std::string(800, 'f')).ok()) ++errors;
      }
      absl::StatusOr<BTreeStats> grown = tree->Stats();
      if (!grown.ok()) ++errors;
      if (grown.ok()) max_height = std::max(max_height.load(), grown->height);
      for (int i = 0; i < 600; ++i) {
        if (!tree->Delete(nullptr, filler(i)).ok()) ++errors;
      }
      absl::StatusOr<BTreeStats> shrunk = tree->Stats();
      if (!shrunk.ok()) ++errors;
      if (shrunk.ok()) min_height = std::min(min_height.load(), shrunk->height);
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      const int k = i % kKeys;
      std::string v;
      absl::Status s = tree->Get(key(k), &v);
      if ((!s.ok() || v != value(k)) && errors.fetch_add(1) < 5) {
        ADD_FAILURE() << key(k) << ": " << s << " '" << v << "'";
      }
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      int met = 0;
      std::string last;
      auto it = tree->Begin();
      for (; it.Valid(); it.Next()) {
        const std::string k(it.key());
        if (!last.empty() && k <= last && errors.fetch_add(1) < 5) {
          ADD_FAILURE() << "scan: '" << k << "' after '" << last << "'";
        }
        last = k;
        if (k.find('-') == std::string::npos) {
          if ((k != key(met) || it.value() != value(met)) && errors.fetch_add(1) < 5) {
            ADD_FAILURE() << "scan: met " << k << ", expected " << key(met);
          }
          ++met;
        }
      }
      if ((!it.status().ok() || met != kKeys) && errors.fetch_add(1) < 5) {
        ADD_FAILURE() << "scan met " << met << " keys: " << it.status();
      }
    }
  });
  threads[0].join();
  stop = true;
  for (std::size_t t = 1; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GE(max_height.load(), 2u) << "premise: the root split twice";
  EXPECT_EQ(min_height.load(), 0u) << "premise: the root collapsed back to a leaf";
  PS_ASSERT_OK(tree->Verify());
}

}  // namespace
}  // namespace pagestore::testing
