// Many threads on one hash index: writers fill their own keys (interleaved with every other
// writer's in the same buckets) and then drain them, so buckets split and merge and the
// directory doubles and halves, with transactions that commit or abort, and shared keys any
// writer may change; readers get keys and check their values; an iterator walks the index
// (weakly consistent: every pair it sees is well-formed, every key never changed is seen) and
// calls Size(); a monitor polls Stats(). The final index equals the writers' models and passes
// Verify. A second run does the same on a shallow directory with a colliding hash, so overflow
// chains are changed concurrently.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <map>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "index/hash_index.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

struct Config {
  int writers = 6;
  int readers = 2;
  int keys = 400;  // per writer
  int rounds = 3;  // fill then drain; the last round only fills
#if defined(__SANITIZE_THREAD__)
  int fill_ops = 350;  // ThreadSanitizer runs ~15x slower: keep it to seconds there
#else
  int fill_ops = 700;
#endif
  HashIndexOptions index;
};

constexpr int kSharedKeys = 32;
// Inserted before the threads start and never changed: every walk must see each of them, and
// every get must find them (the iterator's and the index's guarantees under concurrent writers).
constexpr int kStableKeys = 64;

std::string OwnKey(int t, int n) { return fmt::format("{:05}-{}", n, t); }
std::string SharedKey(int n) { return fmt::format("s{:03}", n); }
std::string StableKey(int n) { return fmt::format("t{:03}", n); }
// A value names its key, then fill bytes of the writer's letter (shared keys: '#', stable ones
// '=').
std::string ValueFor(std::string_view key, char fill, std::size_t len) {
  return std::string(key) + "|" + std::string(len, fill);
}

// Whether `value` is one a writer could have written for `key`.
bool WellFormed(std::string_view key, std::string_view value) {
  char fill;
  if (key.size() == 4 && key[0] == 's') {
    fill = '#';
  } else if (key.size() == 4 && key[0] == 't') {
    fill = '=';
  } else if (key.size() == 7 && key[5] == '-' && key[6] >= '0' && key[6] <= '9') {
    fill = static_cast<char>('a' + (key[6] - '0'));
  } else {
    return false;
  }
  if (value.size() <= key.size() || value.substr(0, key.size()) != key ||
      value[key.size()] != '|') {
    return false;
  }
  return value.find_first_not_of(fill, key.size() + 1) == std::string_view::npos;
}

void RunWorkload(const Config& config) {
  auto index_options = std::make_shared<const HashIndexOptions>(config.index);
  StoreOptions options = SmallStoreOptions();
  options.pool_frames = 512;
  options.background_checkpoints = true;
  options.checkpoint_interval_bytes = 256 << 10;
  options.log.segment_size = kSegmentHeaderSize + (1 << 20);
  options.undo_handlers[kHashResourceManager] =
      HashUndoHandler([index_options](PageId) { return index_options.get(); });
  SimulatedStore sim(options);
  absl::StatusOr<Store*> opened = sim.Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& store = **opened;
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(store, *index_options));
  for (int n = 0; n < kStableKeys; ++n) {
    PS_ASSERT_OK(index->Insert(nullptr, StableKey(n), ValueFor(StableKey(n), '=', 16)));
  }

  std::vector<std::map<std::string, std::string>> models(config.writers);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> seen{0}, found{0}, walks{0};
  std::atomic<std::uint32_t> max_depth{0};
  std::atomic<std::uint64_t> max_overflow{0};
  // Failures seen while writers run: Stats() errors (the header: every method is safe for
  // concurrent use) and walks that missed a stable key.
  absl::Mutex failures_mu;
  std::uint64_t stats_failures = 0;
  std::string first_stats_failure;
  std::uint64_t short_walks = 0;
  std::string first_short_walk;
  // Writers drain together, so buckets (which hold every writer's keys) empty and merge.
  std::barrier drained(config.writers);
  const std::uint64_t seed = TestSeed();
  std::vector<std::thread> threads;
  for (int t = 0; t < config.writers; ++t) {
    threads.emplace_back([&, t] {
      bool finished = false;
      absl::Cleanup leave = [&] {
        if (!finished) drained.arrive_and_drop();  // a failed writer must not hang the rest
      };
      std::mt19937_64 rng(seed + t);
      auto& model = models[t];
      const char fill = static_cast<char>('a' + t);
      auto random_value = [&](const std::string& key) { return ValueFor(key, fill, rng() % 150); };
      for (int round = 0; round < config.rounds; ++round) {
        for (int i = 0; i < config.fill_ops; ++i) {
          const std::string key = OwnKey(t, static_cast<int>(rng() % config.keys));
          const std::string value = random_value(key);
          if (rng() % 16 == 0) {  // a shared key: any writer's value, or absent
            const std::string shared = SharedKey(static_cast<int>(rng() % kSharedKeys));
            if (rng() % 3 == 0) {
              absl::Status s = index->Delete(nullptr, shared);
              ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
            } else {
              ASSERT_TRUE(index->Put(nullptr, shared, ValueFor(shared, '#', rng() % 40)).ok());
            }
            continue;
          }
          if (rng() % 8 == 0) {
            // A transaction of three changes that commits or aborts.
            absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
            ASSERT_TRUE(txn.ok()) << txn.status();
            const std::string key2 = OwnKey(t, static_cast<int>(rng() % config.keys));
            const std::string key3 = OwnKey(t, static_cast<int>(rng() % config.keys));
            const std::string value3 = random_value(key3);
            ASSERT_TRUE(index->Put(txn->get(), key, value).ok());
            absl::Status d = index->Delete(txn->get(), key2);
            ASSERT_TRUE(d.ok() || absl::IsNotFound(d)) << d;
            absl::Status n = index->Insert(txn->get(), key3, value3);
            ASSERT_TRUE(n.ok() || absl::IsAlreadyExists(n)) << n;
            if (rng() % 2 == 0) {
              ASSERT_TRUE((*txn)->Commit().ok());
              model[key] = value;
              model.erase(key2);
              if (n.ok()) model[key3] = value3;
            } else {
              ASSERT_TRUE((*txn)->Abort().ok());
            }
            for (const std::string* k : {&key, &key2, &key3}) {
              absl::StatusOr<std::string> v = index->Get(*k);
              auto m = model.find(*k);
              ASSERT_EQ(v.ok(), m != model.end()) << *k << ": " << v.status();
              if (v.ok()) {
                ASSERT_EQ(*v, m->second) << *k;
              }
            }
            continue;
          }
          // Mostly inserts and puts: the index grows.
          switch (rng() % 5) {
            case 0:
            case 1: {
              absl::Status s = index->Insert(nullptr, key, value);
              ASSERT_TRUE(s.ok() || absl::IsAlreadyExists(s)) << s;
              ASSERT_EQ(s.ok(), !model.contains(key)) << key << ": " << s;
              if (s.ok()) model[key] = value;
              break;
            }
            case 2:
            case 3:
              ASSERT_TRUE(index->Put(nullptr, key, value).ok());
              model[key] = value;
              break;
            default: {
              absl::Status s = index->Delete(nullptr, key);
              ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
              ASSERT_EQ(s.ok(), model.erase(key) == 1) << key << ": " << s;
              break;
            }
          }
          // Our own keys are ours alone: a get sees exactly what we wrote.
          absl::StatusOr<std::string> v = index->Get(key);
          auto m = model.find(key);
          ASSERT_EQ(v.ok(), m != model.end()) << key << ": " << v.status();
          if (v.ok()) {
            ASSERT_EQ(*v, m->second) << key;
          }
        }
        if (round + 1 == config.rounds) break;
        // Drain: every own key goes (half of them inside a transaction, which sometimes
        // aborts first and is then redone), so buckets empty and merge.
        std::vector<std::string> keys;
        for (const auto& [k, v] : model) keys.push_back(k);
        for (std::size_t i = 0; i < keys.size(); i += 64) {
          const std::size_t end = std::min(keys.size(), i + 64);
          const bool in_txn = rng() % 2 == 0;
          for (int attempt = in_txn && rng() % 3 == 0 ? 0 : 1; attempt < 2; ++attempt) {
            std::unique_ptr<Transaction> txn;
            if (in_txn) {
              absl::StatusOr<std::unique_ptr<Transaction>> begun = store.Begin();
              ASSERT_TRUE(begun.ok()) << begun.status();
              txn = std::move(*begun);
            }
            for (std::size_t j = i; j < end; ++j) {
              ASSERT_TRUE(index->Delete(txn.get(), keys[j]).ok()) << keys[j];
            }
            if (txn != nullptr) {
              ASSERT_TRUE(attempt == 0 ? txn->Abort().ok() : txn->Commit().ok());
            }
          }
        }
        model.clear();
        drained.arrive_and_wait();
      }
      finished = true;
    });
  }
  for (int r = 0; r < config.readers; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(seed ^ (0xABCDEFull + r));
      std::string value;  // reused across gets
      while (!stop.load()) {
        const int pick = static_cast<int>(rng() % (config.writers + 2));
        const std::string key =
            pick == config.writers + 1 ? StableKey(static_cast<int>(rng() % kStableKeys))
            : pick == config.writers   ? SharedKey(static_cast<int>(rng() % kSharedKeys))
                                       : OwnKey(pick, static_cast<int>(rng() % config.keys));
        absl::Status s = index->Get(key, &value);
        ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << key << ": " << s;
        ASSERT_TRUE(s.ok() || key[0] != 't') << "a get missed the stable key " << key;
        if (s.ok()) {
          ASSERT_TRUE(WellFormed(key, value)) << key << " = " << value;
          found.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      std::vector<bool> stable(kStableKeys);
      auto it = index->Begin();
      for (; it.Valid(); it.Next()) {
        ASSERT_TRUE(WellFormed(it.key(), it.value())) << it.key() << " = " << it.value();
        if (it.key()[0] == 't') stable[std::stoi(std::string(it.key().substr(1)))] = true;
        seen.fetch_add(1, std::memory_order_relaxed);
      }
      ASSERT_TRUE(it.status().ok()) << it.status();
      if (const auto missed = std::count(stable.begin(), stable.end(), false); missed > 0) {
        absl::MutexLock lock(&failures_mu);
        if (short_walks++ == 0) {
          first_short_walk = fmt::format("{} of {} stable keys missed", missed, kStableKeys);
        }
      }
      absl::StatusOr<std::uint64_t> size = index->Size();
      ASSERT_TRUE(size.ok()) << size.status();
      walks.fetch_add(1);
    }
  });
  // A monitor polling Stats() (safe for concurrent use, as every method).
  threads.emplace_back([&] {
    while (!stop.load()) {
      absl::StatusOr<HashIndexStats> stats = index->Stats();
      if (stats.ok()) {
        max_depth.store(std::max(max_depth.load(), stats->global_depth));
        max_overflow.store(std::max(max_overflow.load(), stats->overflow_pages));
      } else {
        absl::MutexLock lock(&failures_mu);
        if (stats_failures++ == 0) first_stats_failure = stats.status().ToString();
      }
    }
  });
  for (int t = 0; t < config.writers; ++t) threads[t].join();
  stop = true;
  for (std::size_t t = config.writers; t < threads.size(); ++t) threads[t].join();
  if (::testing::Test::HasFatalFailure()) return;
  std::cout << fmt::format(
      "{} walks saw {} entries, readers found {}; global depth up to {}, overflow pages up to "
      "{}; {} pages freed\n",
      walks.load(), seen.load(), found.load(), max_depth.load(), max_overflow.load(),
      store.stats().pages_freed);
  EXPECT_EQ(stats_failures, 0u) << "Stats() failed while writers ran, first: "
                                << first_stats_failure;
  EXPECT_EQ(short_walks, 0u) << "walks missed keys present and unchanged throughout, first: "
                             << first_short_walk;
  EXPECT_GT(walks.load(), 0u);
  EXPECT_GT(found.load(), 0u);
  // Not asserted here: whether a bucket merges while the writers drain depends on where the
  // shared keys (never drained) landed and on the interleaving; a loaded 2-core run has seen 0.
  // The merge itself is asserted deterministically below: emptied, the index merges back to one
  // bucket of depth 0 whatever shape the concurrent history left.
  const std::uint64_t freed_concurrently = store.stats().pages_freed;

  // Quiescent: the index is exactly the writers' keys plus well-formed shared keys.
  PS_ASSERT_OK(index->Verify());
  std::map<std::string, std::string> expected;
  for (const auto& m : models) expected.insert(m.begin(), m.end());
  std::map<std::string, std::string> now;
  auto it = index->Begin();
  for (; it.Valid(); it.Next()) {
    const std::string k(it.key());
    ASSERT_TRUE(now.emplace(k, std::string(it.value())).second) << k << " seen twice";
  }
  PS_ASSERT_OK(it.status());
  std::size_t not_owned = 0;  // shared and stable keys
  for (int n = 0; n < kStableKeys; ++n) {
    auto i = now.find(StableKey(n));
    ASSERT_NE(i, now.end()) << StableKey(n);
    EXPECT_EQ(i->second, ValueFor(StableKey(n), '=', 16));
  }
  for (auto n = now.begin(); n != now.end();) {
    if (n->first[0] == 's' || n->first[0] == 't') {
      EXPECT_TRUE(WellFormed(n->first, n->second)) << n->first;
      n = now.erase(n);
      ++not_owned;
    } else {
      ++n;
    }
  }
  EXPECT_EQ(now.size(), expected.size());
  EXPECT_TRUE(now == expected);
  PS_ASSIGN_OR_FAIL(size, index->Size());
  EXPECT_EQ(size, expected.size() + not_owned);
  // Whatever shape the concurrent history left, it merges back to one bucket when emptied.
  PS_ASSIGN_OR_FAIL(before_drain, index->Stats());
  for (const auto& [k, v] : expected) PS_ASSERT_OK(index->Delete(nullptr, k));
  for (int s = 0; s < kSharedKeys; ++s) {
    absl::Status d = index->Delete(nullptr, SharedKey(s));
    ASSERT_TRUE(d.ok() || absl::IsNotFound(d)) << d;
  }
  for (int n = 0; n < kStableKeys; ++n) PS_ASSERT_OK(index->Delete(nullptr, StableKey(n)));
  PS_ASSERT_OK(index->Verify());
  PS_ASSIGN_OR_FAIL(empty, index->Stats());
  EXPECT_EQ(empty.entries, 0u);
  EXPECT_EQ(empty.buckets, 1u);
  EXPECT_EQ(empty.global_depth, 0u);
  if (before_drain.buckets > 1) {
    EXPECT_GT(store.stats().pages_freed, freed_concurrently) << "the final drain merged nothing";
  }
  EXPECT_EQ(empty.overflow_pages, 0u);
}

TEST(HashConcurrencyTest, WritersReadersAndAnIteratorAgreeWithTheModel) { RunWorkload(Config{}); }

TEST(HashConcurrencyTest, ConcurrentOverflowChains) {
  Config config;
  config.writers = 4;
  config.readers = 1;
  config.keys = 300;
  config.fill_ops = config.fill_ops * 5 / 7;
  config.index.max_global_depth = 2;
  // 20 distinct hashes on at most 4 directory positions: long chains in every bucket.
  config.index.hash_for_testing = [](std::string_view k) {
    return (std::hash<std::string_view>{}(k) % 20) * 0x9E3779B97F4A7C15ull;
  };
  RunWorkload(config);
}

}  // namespace
}  // namespace pagestore::testing
