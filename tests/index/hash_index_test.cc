// The extendible hash index against a model: a million random operations (with transactions
// that commit or abort), its error cases, adversarial hash functions (forced collisions, a
// constant hash, a directory 2^20 deep from five keys), growth to millions of keys and back to
// empty, abort and recovery, the catalog, real files under both disk managers, and corrupt or
// garbled pages.
#include "index/hash_index.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

using Model = absl::flat_hash_map<std::string, std::string>;

// Sanitizers run ~20x slower: the heaviest tests shrink there (release runs them in full).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

StoreOptions HashStoreOptions() {
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 1024;
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();  // the catalog is a B+tree
  o.checkpoint_interval_bytes = 4 << 20;
  o.log.segment_size = kSegmentHeaderSize + (4 << 20);
  return o;
}

// A store whose hash indexes use `options` (a test hash function) in their undo too.
StoreOptions HashStoreOptions(std::shared_ptr<const HashIndexOptions> options) {
  StoreOptions o = HashStoreOptions();
  o.undo_handlers[kHashResourceManager] =
      HashUndoHandler([options](PageId) { return options.get(); });
  return o;
}

std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

HashIndexOptions DepthOptions(std::uint32_t max_global_depth) {
  HashIndexOptions o;
  o.max_global_depth = max_global_depth;
  return o;
}

HashIndexOptions SeedOptions(std::uint64_t seed) {
  HashIndexOptions o;
  o.seed = seed;
  return o;
}

std::string Printable(std::string_view key) {
  const std::string_view head = key.substr(0, 48);
  return absl::CHexEscape(absl::string_view(head.data(), head.size())) +
         (key.size() > 48 ? "..." : "") + fmt::format(" ({} bytes)", key.size());
}

// Every entry through the iterator; a key seen twice is an error (no concurrent writer here
// could excuse it).
absl::StatusOr<Model> ReadAll(const HashIndex& index) {
  Model m;
  auto it = index.Begin();
  for (; it.Valid(); it.Next()) {
    if (!m.emplace(std::string(it.key()), std::string(it.value())).second) {
      return absl::InternalError("the iterator returned " + Printable(it.key()) + " twice");
    }
  }
  if (!it.status().ok()) return it.status();
  return m;
}

// Get of every model key, the iteration as a set, Size() and Verify().
void ExpectMatches(const HashIndex& index, const Model& model) {
  std::string v;
  for (const auto& [k, want] : model) {
    const absl::Status s = index.Get(k, &v);
    ASSERT_TRUE(s.ok()) << Printable(k) << ": " << s;
    ASSERT_EQ(v, want) << Printable(k);
  }
  PS_ASSIGN_OR_FAIL(seen, ReadAll(index));
  for (const auto& [k, got] : seen) {
    auto m = model.find(k);
    ASSERT_NE(m, model.end()) << "the index has " << Printable(k) << ", the model does not";
    ASSERT_EQ(got, m->second) << Printable(k);
  }
  ASSERT_EQ(seen.size(), model.size());
  PS_ASSIGN_OR_FAIL(size, index.Size());
  EXPECT_EQ(size, model.size());
  PS_ASSERT_OK(index.Verify());
}

// Key `id` of a pool of keys: the same id is the same key, so operations hit present keys. Most
// are 4 to 31 bytes, some 0 to 3 (these coincide across ids), some up to 600; any byte value.
std::string PoolKey(std::uint64_t id) {
  std::uint64_t x = Mix(id);
  const std::size_t len = x % 16 == 0 ? (x >> 8) % 601 : x % 16 == 1 ? (x >> 8) % 4 : 4 + x % 28;
  std::string k(len, '\0');
  for (std::size_t i = 0; i < len; ++i) {
    if (i % 8 == 0) x = Mix(x);
    k[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
  return k;
}

TEST(HashIndexTest, RandomOperationsMatchAModel) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  Model model;
  std::mt19937_64 rng(TestSeed());
  // 1M operations (PAGESTORE_MODEL_OPS to change) in phases of 100k that grow the index (to
  // about 9,000 keys) and then shrink it almost to nothing, so buckets split and merge and the
  // directory doubles and halves.
  const char* env = std::getenv("PAGESTORE_MODEL_OPS");
  const int default_ops = kSanitized ? 150000 : 1000000;
  const int ops = env != nullptr ? std::atoi(env) : default_ops;
  constexpr std::uint64_t kKeys = 12000;
  constexpr int kPhase = 100000;
  std::uint64_t txns = 0, aborts = 0;
  std::uint32_t grown_depth = 0, shrunk_depth = kMaxHashGlobalDepth;
  auto random_value = [&](const std::string& key, int i) {
    std::size_t len = rng() % (rng() % 16 == 0 ? 500 : 40);
    if (rng() % 64 == 0) len = kMaxHashEntryBytes;  // key + value exactly at the limit
    return std::string(std::min(len, kMaxHashEntryBytes - key.size()),
                       static_cast<char>('A' + i % 26));
  };
  for (int i = 0; i < ops;) {
    const bool growing = (i / kPhase) % 2 == 0;
    // Now and then a transaction of a few operations (sometimes of hundreds, which split), that
    // commits or aborts; the model keeps each touched key's value from before it.
    Transaction* txn = nullptr;
    std::unique_ptr<Transaction> owned;
    absl::flat_hash_map<std::string, std::optional<std::string>> before;
    int batch = 1;
    if (rng() % 200 == 0) {
      PS_ASSIGN_OR_FAIL(t, store->Begin());
      owned = std::move(t);
      txn = owned.get();
      batch =
          rng() % 8 == 0 ? 100 + static_cast<int>(rng() % 1500) : 1 + static_cast<int>(rng() % 30);
    }
    for (int b = 0; b < batch && i < ops; ++b, ++i) {
      const std::string key = PoolKey(rng() % kKeys);
      std::string value = random_value(key, i);
      if (txn != nullptr && !before.contains(key)) {
        auto m = model.find(key);
        before[key] = m == model.end() ? std::nullopt : std::optional<std::string>(m->second);
      }
      // Growing: 50% inserts, 20% puts, 20% deletes; shrinking: 1%, 1%, 92%; the rest gets.
      const int op = static_cast<int>(rng() % 100);
      const int inserts = growing ? 50 : 1, puts = growing ? 70 : 2, deletes = growing ? 90 : 94;
      if (rng() % 256 == 0) {  // one byte over what a bucket keeps: the value goes out of line
        value.resize(kMaxHashEntryBytes + 1 - key.size() + rng() % 9000, 'x');
        PS_ASSERT_OK(index->Put(txn, key, value));
        model[key] = value;
      } else if (op < inserts) {
        const absl::Status s = index->Insert(txn, key, value);
        if (model.contains(key)) {
          ASSERT_TRUE(absl::IsAlreadyExists(s)) << Printable(key) << ": " << s;
        } else {
          ASSERT_TRUE(s.ok()) << Printable(key) << ": " << s;
          model[key] = value;
        }
      } else if (op < puts) {
        PS_ASSERT_OK(index->Put(txn, key, value));
        model[key] = value;
      } else if (op < deletes) {
        const absl::Status s = index->Delete(txn, key);
        const bool present = model.erase(key) == 1;
        ASSERT_TRUE(present ? s.ok() : absl::IsNotFound(s)) << Printable(key) << ": " << s;
      } else {
        absl::StatusOr<std::string> v = index->Get(key);
        auto m = model.find(key);
        ASSERT_EQ(v.ok(), m != model.end()) << Printable(key) << ": " << v.status();
        if (v.ok()) {
          ASSERT_EQ(*v, m->second) << Printable(key);
        } else {
          ASSERT_TRUE(absl::IsNotFound(v.status())) << v.status();
        }
      }
      if ((i + 1) % kPhase == 0) {
        ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model)) << "after " << i + 1 << " operations";
        PS_ASSIGN_OR_FAIL(stats, index->Stats());
        std::cout << fmt::format("{} operations: {} keys, global depth {}, {} buckets\n", i + 1,
                                 model.size(), stats.global_depth, stats.buckets);
        if (growing) {
          grown_depth = std::max(grown_depth, stats.global_depth);
        } else {
          shrunk_depth = std::min(shrunk_depth, stats.global_depth);
        }
      }
    }
    if (txn != nullptr) {
      ++txns;
      if (rng() % 4 == 0) {
        ++aborts;
        PS_ASSERT_OK(owned->Abort());
        for (auto& [k, v] : before) {
          if (v) {
            model[k] = *v;
          } else {
            model.erase(k);
          }
        }
        // Each key the transaction touched is back.
        for (const auto& [k, v] : before) {
          absl::StatusOr<std::string> got = index->Get(k);
          ASSERT_EQ(got.ok(), v.has_value()) << "after an abort, " << Printable(k);
          if (v) {
            ASSERT_EQ(*got, *v) << "after an abort, " << Printable(k);
          }
        }
      } else {
        PS_ASSERT_OK(owned->Commit());
      }
    }
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  EXPECT_GT(aborts, 0u);
  EXPECT_GT(txns, aborts);
  EXPECT_GE(grown_depth, 6u);
  if (ops >= 2 * kPhase) {
    EXPECT_LT(shrunk_depth, grown_depth) << "the directory never halved";
  }
  // Delete everything: the index merges back to one bucket and its pages return to the free
  // list.
  for (const auto& [k, v] : model) PS_ASSERT_OK(index->Delete(nullptr, k));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, {}));
  PS_ASSIGN_OR_FAIL(stats, index->Stats());
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.buckets, 1u);
  EXPECT_EQ(stats.global_depth, 0u);
  EXPECT_EQ(stats.overflow_pages, 0u);
  EXPECT_FALSE(index->Begin().Valid());
}

// Any number of HashIndex objects may be open on one index (the undo handler opens its own),
// each with its own cache of directory and bucket ids. Two handles used in turn, while the
// index grows and shrinks and a second index in the store takes the freed pages: whatever one
// handle changed, the other reads right.
TEST(HashIndexTest, HandlesOnOneIndexStayCoherent) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(a, HashIndex::Create(*store));
  PS_ASSIGN_OR_FAIL(b, HashIndex::Open(*store, a->anchor()));
  PS_ASSIGN_OR_FAIL(other, HashIndex::Create(*store));
  HashIndex* handles[] = {a.get(), b.get()};
  Model model, other_model;
  std::mt19937_64 rng(TestSeed());
  const int ops = kSanitized ? 40000 : 200000;
  constexpr int kPhase = 20000;
  for (int i = 0; i < ops; ++i) {
    const bool growing = (i / kPhase) % 2 == 0;
    const bool on_other = rng() % 4 == 0;
    HashIndex& index = on_other ? *other : *handles[rng() % 2];
    Model& m = on_other ? other_model : model;
    const std::string key = PoolKey(rng() % 3000);
    const std::string value(rng() % 100, static_cast<char>('a' + i % 26));
    const int op = static_cast<int>(rng() % 100);
    if (op < (growing ? 60 : 3)) {
      PS_ASSERT_OK(index.Put(nullptr, key, value));
      m[key] = value;
    } else if (op < 90) {
      const absl::Status s = index.Delete(nullptr, key);
      ASSERT_EQ(s.ok(), m.erase(key) == 1) << Printable(key) << ": " << s;
    } else {
      absl::StatusOr<std::string> v = index.Get(key);
      auto want = m.find(key);
      ASSERT_EQ(v.ok(), want != m.end()) << Printable(key) << ": " << v.status();
      if (v.ok()) {
        ASSERT_EQ(*v, want->second) << Printable(key);
      }
    }
    if ((i + 1) % kPhase == 0) {
      for (HashIndex* h : handles) {
        ASSERT_NO_FATAL_FAILURE(ExpectMatches(*h, model)) << "after " << i + 1 << " operations";
      }
      ASSERT_NO_FATAL_FAILURE(ExpectMatches(*other, other_model));
    }
  }
}

TEST(HashIndexTest, ErrorsAndEdgeCases) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  // Empty index.
  EXPECT_FALSE(index->Begin().Valid());
  PS_ASSERT_OK(index->Begin().status());
  EXPECT_TRUE(absl::IsNotFound(index->Get("x").status()));
  std::string out = "unchanged";
  EXPECT_TRUE(absl::IsNotFound(index->Get("x", &out)));
  EXPECT_TRUE(absl::IsNotFound(index->Delete(nullptr, "x")));
  PS_ASSIGN_OR_FAIL(empty_size, index->Size());
  EXPECT_EQ(empty_size, 0u);
  PS_ASSERT_OK(index->Verify());
  // Present and absent keys.
  PS_ASSERT_OK(index->Insert(nullptr, "k", "v1"));
  EXPECT_TRUE(absl::IsAlreadyExists(index->Insert(nullptr, "k", "v2")));
  PS_ASSIGN_OR_FAIL(v1, index->Get("k"));
  EXPECT_EQ(v1, "v1");  // the refused insert changed nothing
  PS_ASSERT_OK(index->Put(nullptr, "k", "v3"));
  PS_ASSERT_OK(index->Get("k", &out));
  EXPECT_EQ(out, "v3");
  PS_ASSERT_OK(index->Delete(nullptr, "k"));
  EXPECT_TRUE(absl::IsNotFound(index->Delete(nullptr, "k")));
  EXPECT_TRUE(absl::IsNotFound(index->Get("k").status()));
  // The empty key, the empty value and every byte value are keys and values like any other.
  PS_ASSERT_OK(index->Insert(nullptr, "", ""));
  PS_ASSIGN_OR_FAIL(empty, index->Get(""));
  EXPECT_EQ(empty, "");
  EXPECT_TRUE(absl::IsAlreadyExists(index->Insert(nullptr, "", "again")));
  const std::string binary("\0\xff\0", 3);
  PS_ASSERT_OK(index->Insert(nullptr, binary, binary));
  EXPECT_TRUE(absl::IsNotFound(index->Get(std::string("\0\xff", 2)).status()));
  PS_ASSIGN_OR_FAIL(b, index->Get(binary));
  EXPECT_EQ(b, binary);
  // Sizes at the limits, and one byte over them: a key of kMaxHashKeyBytes; an entry of
  // kMaxHashEntryBytes kept in its bucket; a larger value out of line.
  const std::string big_key(kMaxHashKeyBytes, 'k');
  PS_ASSERT_OK(index->Insert(nullptr, big_key, ""));
  PS_ASSERT_OK(index->Insert(nullptr, "big-value", std::string(kMaxHashEntryBytes - 9, 'v')));
  PS_ASSERT_OK(index->Put(nullptr, "", std::string(kMaxHashEntryBytes, 'e')));
  for (const absl::Status& s :
       {index->Put(nullptr, std::string(kMaxHashKeyBytes + 1, 'k'), ""),
        index->Insert(nullptr, std::string(kMaxHashKeyBytes + 1, 'k'), std::string(5000, 'v'))}) {
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find(std::to_string(kMaxHashKeyBytes)), std::string::npos) << s;
  }
  PS_ASSERT_OK(index->Insert(nullptr, "x", std::string(kMaxHashEntryBytes, 'v')));
  PS_ASSIGN_OR_FAIL(x, index->Get("x"));
  EXPECT_EQ(x, std::string(kMaxHashEntryBytes, 'v'));
  PS_ASSERT_OK(index->Delete(nullptr, "x"));
  // Many maximal entries: at most four fit a page, so buckets split on almost every insert.
  Model model = {{"", std::string(kMaxHashEntryBytes, 'e')},
                 {binary, binary},
                 {big_key, ""},
                 {"big-value", std::string(kMaxHashEntryBytes - 9, 'v')}};
  for (int i = 0; i < 300; ++i) {
    std::string k = fmt::format("{:04}", i);
    std::string v(kMaxHashEntryBytes - k.size(), static_cast<char>('a' + i % 26));
    PS_ASSERT_OK(index->Insert(nullptr, k, v));
    model[k] = v;
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  PS_ASSIGN_OR_FAIL(stats, index->Stats());
  EXPECT_GE(stats.buckets, 304u / 4);
  EXPECT_GE(stats.global_depth, 6u);
  EXPECT_LE(stats.max_local_depth, stats.global_depth);
  EXPECT_EQ(stats.entries, model.size());
  // A put that grows a value in a full bucket makes room.
  PS_ASSERT_OK(index->Put(nullptr, "0007", std::string(kMaxHashEntryBytes - 4, 'W')));
  model["0007"] = std::string(kMaxHashEntryBytes - 4, 'W');
  PS_ASSERT_OK(index->Put(nullptr, "0008", "short"));
  model["0008"] = "short";
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));

  // Create's limits on the depth.
  for (std::uint32_t bad : {0u, kMaxHashGlobalDepth + 1, 1000u}) {
    absl::StatusOr<std::unique_ptr<HashIndex>> h = HashIndex::Create(*store, DepthOptions(bad));
    EXPECT_TRUE(absl::IsInvalidArgument(h.status())) << bad << ": " << h.status();
  }
  for (std::uint32_t good : {1u, kMaxHashGlobalDepth}) {
    PS_ASSIGN_OR_FAIL(h, HashIndex::Create(*store, DepthOptions(good)));
    PS_ASSIGN_OR_FAIL(s, h->Stats());
    EXPECT_EQ(s.max_global_depth, good);
    EXPECT_EQ(s.global_depth, 0u);
    EXPECT_EQ(s.buckets, 1u);
  }
  // The seed: stored, and it is what the hash depends on.
  PS_ASSIGN_OR_FAIL(seeded, HashIndex::Create(*store, SeedOptions(42)));
  PS_ASSIGN_OR_FAIL(seeded2, HashIndex::Create(*store, SeedOptions(42)));
  PS_ASSIGN_OR_FAIL(other, HashIndex::Create(*store, SeedOptions(43)));
  EXPECT_EQ(seeded->seed(), 42u);
  int differ = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string k = fmt::format("key{}", i);
    EXPECT_EQ(seeded->Hash(k), seeded2->Hash(k));
    differ += seeded->Hash(k) != other->Hash(k);
  }
  EXPECT_GT(differ, 0);
  PS_ASSIGN_OR_FAIL(seeded_again, HashIndex::Open(*store, seeded->anchor()));
  EXPECT_EQ(seeded_again->seed(), 42u);
  EXPECT_EQ(seeded_again->Hash("abc"), seeded->Hash("abc"));
  // Open of pages that are not a hash anchor: a B+tree's anchor, and every other page that is
  // not one (directory pages, buckets, B+tree nodes).
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  absl::StatusOr<std::unique_ptr<HashIndex>> not_hash = HashIndex::Open(*store, tree->anchor());
  EXPECT_TRUE(absl::IsDataLoss(not_hash.status())) << not_hash.status();
  for (PageId id = kFirstDataPage; id < store->pool().page_count(); ++id) {
    absl::StatusOr<ReadPageGuard> g = store->pool().ReadPage(id);
    if (!g.ok() ||
        ReadPageHeader(g->data()).type == static_cast<std::uint16_t>(PageType::kHashMeta))
      continue;
    g->Release();
    absl::StatusOr<std::unique_ptr<HashIndex>> h = HashIndex::Open(*store, id);
    EXPECT_TRUE(absl::IsDataLoss(h.status())) << "page " << id << ": " << h.status();
  }
}

// The iterator copies a bucket out and holds no latch between calls, so its own thread may
// write meanwhile. Deleting (or overwriting) every entry as it is seen: entries not reached yet
// are unchanged, so every one is seen; and the merges and halvings the deletes cause must not
// end the walk early.
TEST(HashIndexTest, IterateAndChangeFromTheSameThread) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  Model model;
  for (int i = 0; i < 5000; ++i) {
    const std::string k = fmt::format("it{}", i);
    PS_ASSERT_OK(index->Insert(nullptr, k, std::string(i % 50, 'v')));
    model[k] = std::string(i % 50, 'v');
  }
  // Overwrite each entry seen (longer values: buckets split behind and ahead of the cursor).
  Model seen;
  auto it = index->Begin();
  for (; it.Valid(); it.Next()) {
    const std::string k(it.key());
    if (seen.contains(k)) continue;  // moved by a split: seen again, allowed
    ASSERT_EQ(it.value(), model[k]) << k;
    seen[k] = "";
    model[k] = std::string(120, 'w');
    PS_ASSERT_OK(index->Put(nullptr, k, model[k]));
  }
  PS_ASSERT_OK(it.status());
  EXPECT_EQ(seen.size(), model.size()) << "an overwriting walk missed entries";
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  // Delete each entry seen; also from a fresh index of two buckets (the smallest case: the
  // first bucket empties, merges with the second and the directory halves under the cursor).
  for (int n : {5000, 40}) {
    SCOPED_TRACE(fmt::format("{} entries", n));
    if (n != 5000) {
      PS_ASSIGN_OR_FAIL(fresh, HashIndex::Create(*store));
      index = std::move(fresh);
      model.clear();
      for (int i = 0; i < n; ++i) {
        const std::string k = fmt::format("small{}", i);
        PS_ASSERT_OK(index->Insert(nullptr, k, std::string(100, 's')));
        model[k] = std::string(100, 's');
      }
    }
    PS_ASSIGN_OR_FAIL(before, index->Stats());
    seen.clear();
    it = index->Begin();
    for (; it.Valid(); it.Next()) {
      const std::string k(it.key());
      if (!seen.emplace(k, "").second) continue;
      ASSERT_EQ(it.value(), model[k]) << k;
      PS_ASSERT_OK(index->Delete(nullptr, k));
    }
    PS_ASSERT_OK(it.status());
    EXPECT_EQ(seen.size(), model.size())
        << "a deleting walk missed entries (global depth was " << before.global_depth << ")";
    PS_ASSIGN_OR_FAIL(left, index->Size());
    EXPECT_EQ(left, 0u) << "entries left after deleting every entry the iterator returned";
    PS_ASSERT_OK(index->Verify());
  }
}

// Hash functions that defeat the directory: every key of a group of ~50 shares one 64-bit hash;
// or the low six bits are constant, so with max_global_depth 6 every key lands in one bucket.
// Or the real hash on a directory of at most two positions.
enum class Adversary { kGroups, kLowBitsConstant, kDepthOne };

HashIndexOptions AdversaryOptions(Adversary a) {
  HashIndexOptions o;
  o.max_global_depth = 6;
  if (a == Adversary::kDepthOne) {
    o.max_global_depth = 1;
  } else if (a == Adversary::kGroups) {
    o.hash_for_testing = [](std::string_view k) {
      return Mix(std::hash<std::string_view>{}(k) % 97);
    };
  } else {
    o.hash_for_testing = [](std::string_view k) {
      return Mix(std::hash<std::string_view>{}(k)) << 6 | 0x2A;
    };
  }
  return o;
}

class HashAdversaryTest : public ::testing::TestWithParam<Adversary> {};

TEST_P(HashAdversaryTest, CollidingKeysUseOverflowPagesAndMergeBack) {
  auto options = std::make_shared<const HashIndexOptions>(AdversaryOptions(GetParam()));
  SimulatedStore sim(HashStoreOptions(options));
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  const std::uint64_t free_at_start = store->stats().free_pages;
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store, *options));
  std::mt19937_64 rng(TestSeed());
  Model model;
  const int n = kSanitized ? 1500 : 5000;
  for (int i = 0; i < n; ++i) {
    const std::string k = fmt::format("key-{}", i);
    const std::string v(rng() % 80, static_cast<char>('a' + i % 26));
    PS_ASSERT_OK(index->Insert(nullptr, k, v));
    model[k] = v;
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  PS_ASSIGN_OR_FAIL(full, index->Stats());
  EXPECT_GT(full.overflow_pages, 0u);
  EXPECT_LE(full.global_depth, options->max_global_depth);
  EXPECT_LE(full.max_local_depth, options->max_global_depth);
  EXPECT_EQ(full.max_global_depth, options->max_global_depth);
  // An aborted transaction inside the chains: inserts, overwrites and deletes, all undone.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < n * 3 / 10; ++i)
      PS_ASSERT_OK(index->Insert(txn.get(), fmt::format("new-{}", i), "n"));
    for (int i = 0; i < n; i += 3)
      PS_ASSERT_OK(index->Put(txn.get(), fmt::format("key-{}", i), "p"));
    for (int i = 1; i < n; i += 2) PS_ASSERT_OK(index->Delete(txn.get(), fmt::format("key-{}", i)));
    PS_ASSERT_OK(txn->Abort());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  // Delete half, overwrite the rest with longer values, check; then delete everything.
  for (int i = 0; i < n; i += 2) {
    PS_ASSERT_OK(index->Delete(nullptr, fmt::format("key-{}", i)));
    model.erase(fmt::format("key-{}", i));
  }
  for (auto& [k, v] : model) {
    v = std::string(100 + rng() % 100, 'L');
    PS_ASSERT_OK(index->Put(nullptr, k, v));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  for (const auto& [k, v] : model) PS_ASSERT_OK(index->Delete(nullptr, k));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, {}));
  PS_ASSIGN_OR_FAIL(empty, index->Stats());
  EXPECT_EQ(empty.overflow_pages, 0u);
  EXPECT_EQ(empty.buckets, 1u);
  EXPECT_EQ(empty.global_depth, 0u);
  // The pages came back: everything but the anchor, one directory page and one bucket.
  EXPECT_GE(store->stats().free_pages + 3 + empty.directory_index_pages,
            free_at_start + full.buckets + full.overflow_pages)
      << "the free list did not get the index's pages back";
}

INSTANTIATE_TEST_SUITE_P(Adversaries, HashAdversaryTest,
                         ::testing::Values(Adversary::kGroups, Adversary::kLowBitsConstant,
                                           Adversary::kDepthOne),
                         [](const auto& info) {
                           return info.param == Adversary::kGroups            ? "Groups"
                                  : info.param == Adversary::kLowBitsConstant ? "LowBitsConstant"
                                                                              : "DepthOne";
                         });

// Five maximal entries whose hashes agree on their low 19 bits: the fifth splits the bucket
// until bit 19 separates them, a directory of 2^20 positions (2048 pages, most of them lazy
// copies never written, and directory index pages) reached with a handful of keys (2^14 under
// sanitizers). Ordinary
// keys then split the shallow buckets left behind; an aborted transaction goes deeper still; a
// power loss is recovered; and deleting everything halves the directory back to one bucket.
TEST(HashIndexTest, DeepDirectoryFromAFewKeys) {
  constexpr unsigned kBits = kSanitized ? 13 : 19;  // the deep keys agree on the bits below
  auto options = std::make_shared<HashIndexOptions>();
  options->hash_for_testing = [](std::string_view k) -> std::uint64_t {
    if (k.starts_with("deep")) return (std::uint64_t(k[4] - '0') + 1) << kBits;
    return Mix(std::hash<std::string_view>{}(k));
  };
  SimulatedStore sim(HashStoreOptions(options));
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  const std::uint64_t free_at_start = store->stats().free_pages;
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store, *options));
  const PageId anchor = index->anchor();
  Model model;
  auto deep = [](int i) { return fmt::format("deep{}", i); };
  auto deep_value = [](int i) {
    return std::string(kMaxHashEntryBytes - 5, static_cast<char>('0' + i));
  };
  for (int i = 0; i < 5; ++i) {
    PS_ASSERT_OK(index->Insert(nullptr, deep(i), deep_value(i)));
    model[deep(i)] = deep_value(i);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  PS_ASSIGN_OR_FAIL(deepest, index->Stats());
  EXPECT_EQ(deepest.global_depth, kBits + 1);
  EXPECT_EQ(deepest.overflow_pages, 0u);
  EXPECT_LE(deepest.directory_pages, 64u) << "the doubled halves are copied lazily";
  EXPECT_GE(deepest.directory_index_pages, 1u);
  for (int i = 0; i < 3000; ++i) {
    const std::string k = fmt::format("shallow{}", i);
    PS_ASSERT_OK(index->Insert(nullptr, k, std::string(i % 200, 's')));
    model[k] = std::string(i % 200, 's');
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  {
    // Deeper still (bits kBits to kBits + 3 now separate), then undone: the merges and halvings of
    // the undo run over a directory of partly written pages.
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 5; i < 10; ++i) PS_ASSERT_OK(index->Insert(txn.get(), deep(i), deep_value(i)));
    for (int i = 0; i < 3000; i += 2)
      PS_ASSERT_OK(index->Delete(txn.get(), fmt::format("shallow{}", i)));
    PS_ASSIGN_OR_FAIL(deeper, index->Stats());
    EXPECT_GT(deeper.global_depth, kBits + 1);
    PS_ASSERT_OK(txn->Abort());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  // Durable, then a power loss: recovery redoes the directory pages and the anchor.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(index->Put(txn.get(), "commit", "point"));
    model["commit"] = "point";
    PS_ASSERT_OK(txn->Commit());
  }
  index.reset();
  sim.PowerLoss();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(*again, anchor, *options));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*reopened, model));
  PS_ASSIGN_OR_FAIL(full, reopened->Stats());
  for (const auto& [k, v] : model) PS_ASSERT_OK(reopened->Delete(nullptr, k));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*reopened, {}));
  PS_ASSIGN_OR_FAIL(empty, reopened->Stats());
  EXPECT_EQ(empty.global_depth, 0u);
  EXPECT_EQ(empty.buckets, 1u);
  EXPECT_LE(empty.directory_pages, 1u);
  EXPECT_GE(again->stats().free_pages + 3 + empty.directory_index_pages,
            free_at_start + full.buckets + full.directory_pages + full.directory_index_pages)
      << "the free list did not get the buckets and directory pages back";
}

TEST(HashIndexTest, ConstantHashDoesNotBlowUpTheDirectory) {
  auto options = std::make_shared<HashIndexOptions>();
  options->hash_for_testing = [](std::string_view) { return std::uint64_t{0x5EED5EED5EED5EED}; };
  SimulatedStore sim(HashStoreOptions(options));
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store, *options));
  Model model;
  for (int i = 0; i < 2000; ++i) {
    const std::string k = fmt::format("c{}", i);
    const std::string v(i % 60, 'c');
    PS_ASSERT_OK(index->Insert(nullptr, k, v));
    model[k] = v;
  }
  EXPECT_TRUE(absl::IsAlreadyExists(index->Insert(nullptr, "c1999", "")));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  PS_ASSIGN_OR_FAIL(stats, index->Stats());
  EXPECT_GT(stats.overflow_pages, 0u);
  // Splitting cannot separate keys of one hash: whatever it tried, the directory and the bucket
  // count stay small (not 2^26 positions written, not a bucket per split attempt left over).
  EXPECT_LE(stats.directory_pages + stats.directory_index_pages, 64u) << stats.global_depth;
  EXPECT_LE(stats.buckets, std::uint64_t{kMaxHashGlobalDepth} + 2);
  // Overwrites and deletes in the one chain.
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < 2000; i += 7)
      PS_ASSERT_OK(index->Put(txn.get(), fmt::format("c{}", i), "abort"));
    for (int i = 0; i < 2000; i += 5) PS_ASSERT_OK(index->Delete(txn.get(), fmt::format("c{}", i)));
    PS_ASSERT_OK(txn->Abort());
  }
  for (int i = 0; i < 2000; i += 3) {
    PS_ASSERT_OK(index->Delete(nullptr, fmt::format("c{}", i)));
    model.erase(fmt::format("c{}", i));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  for (const auto& [k, v] : model) PS_ASSERT_OK(index->Delete(nullptr, k));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, {}));
  PS_ASSIGN_OR_FAIL(empty, index->Stats());
  EXPECT_EQ(empty.overflow_pages, 0u);
  EXPECT_EQ(empty.buckets, 1u);
  EXPECT_EQ(empty.global_depth, 0u);
}

// From empty to millions of keys (16-byte keys and values) and back to empty, with the real
// hash: the directory grows, then everything merges back and the pages return to the free list.
TEST(HashIndexTest, GrowsToMillionsOfKeysAndShrinksBack) {
  const char* env = std::getenv("PAGESTORE_HASH_GROWTH_KEYS");
  const std::uint64_t default_keys = kSanitized ? 100000 : 2000000;
  const std::uint64_t n = env != nullptr ? std::strtoull(env, nullptr, 0) : default_keys;
  StoreOptions options = HashStoreOptions();
  // Room for every page in the pool.
  options.pool_frames = static_cast<std::size_t>(n / 40 + 1024);
  options.log.segment_size = kSegmentHeaderSize + (16 << 20);
  SimulatedStore sim(options);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  auto key = [](std::uint64_t i) { return fmt::format("{:016x}", Mix(i)); };
  auto value = [](std::uint64_t i) { return fmt::format("v{:015}", i); };
  std::uint32_t depth = 0;
  // Null transactions never reach a transaction end, where due checkpoints run: checkpoint
  // here, so the in-memory log is recycled.
  for (std::uint64_t i = 0; i < n; ++i) {
    PS_ASSERT_OK(index->Insert(nullptr, key(i), value(i)));
    if (i % 200000 == 199999) PS_ASSERT_OK(store->Checkpoint());
    // Each quadrupling of the keys deepens the directory.
    if (i + 1 == n / 16 || i + 1 == n / 4 || i + 1 == n) {
      PS_ASSIGN_OR_FAIL(stats, index->Stats());
      EXPECT_GT(stats.global_depth, depth) << "after " << i + 1 << " keys";
      depth = stats.global_depth;
      EXPECT_EQ(stats.entries, i + 1);
    }
  }
  PS_ASSERT_OK(index->Verify());
  PS_ASSIGN_OR_FAIL(full, index->Stats());
  std::cout << fmt::format(
      "{} keys: global depth {}, {} buckets, {} overflow, {} directory pages, fill {:.2f}\n", n,
      full.global_depth, full.buckets, full.overflow_pages, full.directory_pages,
      full.average_fill);
  EXPECT_EQ(full.entries, n);
  EXPECT_LE(full.max_local_depth, full.global_depth);
  EXPECT_GE(std::uint64_t{1} << full.global_depth, full.buckets);
  EXPECT_GE(full.buckets, n * 32 / kPageSize);
  EXPECT_EQ(full.overflow_pages, 0u);  // a real hash never needs them at this size
  EXPECT_GT(full.average_fill, 0.5);
  PS_ASSIGN_OR_FAIL(size, index->Size());
  EXPECT_EQ(size, n);
  std::string v;
  for (std::uint64_t i = 0; i < n; i += 7) {
    PS_ASSERT_OK(index->Get(key(i), &v));
    ASSERT_EQ(v, value(i));
  }
  EXPECT_TRUE(absl::IsNotFound(index->Get(key(n)).status()));
  const std::uint64_t free_before = store->stats().free_pages;
  for (std::uint64_t i = 0; i < n; ++i) {
    PS_ASSERT_OK(index->Delete(nullptr, key(i)));
    if (i % 200000 == 199999) PS_ASSERT_OK(store->Checkpoint());
  }
  PS_ASSIGN_OR_FAIL(empty_size, index->Size());
  EXPECT_EQ(empty_size, 0u);
  PS_ASSERT_OK(index->Verify());
  EXPECT_FALSE(index->Begin().Valid());
  PS_ASSIGN_OR_FAIL(empty, index->Stats());
  EXPECT_EQ(empty.buckets, 1u);
  EXPECT_EQ(empty.global_depth, 0u);
  EXPECT_LE(empty.directory_pages, 1u);
  EXPECT_GE(store->stats().free_pages, free_before + (full.buckets - 1) * 9 / 10)
      << "the free list did not get the buckets back";
  // And it grows again from there.
  for (std::uint64_t i = 0; i < 10000; ++i) PS_ASSERT_OK(index->Insert(nullptr, key(i), "again"));
  PS_ASSERT_OK(index->Verify());
}

// Pack (Store::Compact's part) undoes the splits deletes left behind: buddies whose entries fit
// one page together merge, the directory halves, and every entry (large values included, whose
// references move between buckets) reads back.
TEST(HashIndexTest, PackMergesBuddiesThatFitOnePage) {
  StoreOptions options = HashStoreOptions();
  options.pool_frames = 2048;
  SimulatedStore sim(options);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  EXPECT_EQ(index->Pack(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Pack(1.5).code(), absl::StatusCode::kInvalidArgument);
  auto key = [](std::uint64_t i) { return fmt::format("{:016x}", Mix(i)); };
  auto value = [](std::uint64_t i) {
    return i % 97 == 0 ? std::string(6000, static_cast<char>('a' + i % 26))
                       : fmt::format("v{:040}", i);
  };
  constexpr std::uint64_t kKeys = 40000;
  for (std::uint64_t i = 0; i < kKeys; ++i) PS_ASSERT_OK(index->Insert(nullptr, key(i), value(i)));
  PS_ASSIGN_OR_FAIL(full, index->Stats());
  std::map<std::string, std::string> model;
  for (std::uint64_t i = 0; i < kKeys; ++i) {
    if (i % 7 == 0) {
      model[key(i)] = value(i);
    } else {
      PS_ASSERT_OK(index->Delete(nullptr, key(i)));
    }
  }
  PS_ASSIGN_OR_FAIL(sparse, index->Stats());
  ASSERT_GT(sparse.buckets, full.buckets / 2) << "premise: deletes leave most buckets";
  const std::uint64_t free_before = store->stats().free_pages;
  PS_ASSERT_OK(index->Pack());
  PS_ASSERT_OK(index->Verify());
  PS_ASSIGN_OR_FAIL(packed, index->Stats());
  std::cout << fmt::format("buckets: full {}, sparse {} (fill {:.2f}), packed {} (fill {:.2f})\n",
                           full.buckets, sparse.buckets, sparse.average_fill, packed.buckets,
                           packed.average_fill);
  EXPECT_EQ(packed.entries, model.size());
  EXPECT_EQ(packed.large_values, sparse.large_values);
  EXPECT_LE(packed.buckets, sparse.buckets / 3);
  EXPECT_GT(packed.average_fill, 0.4);
  EXPECT_LT(packed.global_depth, sparse.global_depth);
  EXPECT_LE(packed.directory_pages, sparse.directory_pages);
  EXPECT_GE(store->stats().free_pages, free_before + (sparse.buckets - packed.buckets));
  for (const auto& [k, v] : model) {
    PS_ASSIGN_OR_FAIL(got, index->Get(k));
    ASSERT_EQ(got, v);
  }
  // A second pack finds nothing to merge; the index keeps working.
  PS_ASSERT_OK(index->Pack());
  PS_ASSIGN_OR_FAIL(again, index->Stats());
  EXPECT_EQ(again.buckets, packed.buckets);
  for (std::uint64_t i = 0; i < 2000; ++i) PS_ASSERT_OK(index->Put(nullptr, key(i), "again"));
  PS_ASSERT_OK(index->Verify());
}

TEST(HashIndexTest, AbortAndRecoveryRestoreTheCommittedState) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
  const PageId anchor = index->anchor();
  Model model;
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < 2000; ++i) {
      const std::string k = fmt::format("k{:05}", i);
      PS_ASSERT_OK(index->Insert(txn.get(), k, std::string(50, 'a')));
      model[k] = std::string(50, 'a');
    }
    PS_ASSERT_OK(txn->Commit());
  }
  PS_ASSIGN_OR_FAIL(committed, index->Stats());
  {
    // A big abort: deletes, puts and inserts that split the buckets and double the directory
    // several times, all undone.
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (int i = 0; i < 2000; i += 2)
      PS_ASSERT_OK(index->Delete(txn.get(), fmt::format("k{:05}", i)));
    for (int i = 1; i < 2000; i += 4)
      PS_ASSERT_OK(index->Put(txn.get(), fmt::format("k{:05}", i), std::string(300, 'x')));
    for (int i = 0; i < 20000; ++i)
      PS_ASSERT_OK(index->Insert(txn.get(), fmt::format("n{:05}", i), "y"));
    PS_ASSIGN_OR_FAIL(grown, index->Stats());
    EXPECT_GT(grown.global_depth, committed.global_depth);
    PS_ASSERT_OK(txn->Abort());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  {
    // An abort of a transaction that emptied the index (every bucket merged away).
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    for (const auto& [k, v] : model) PS_ASSERT_OK(index->Delete(txn.get(), k));
    PS_ASSIGN_OR_FAIL(emptied, index->Stats());
    EXPECT_EQ(emptied.entries, 0u);
    EXPECT_EQ(emptied.global_depth, 0u);
    PS_ASSERT_OK(txn->Abort());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*index, model));
  // The same, cut by a power loss: recovery undoes the loser.
  PS_ASSIGN_OR_FAIL(txn, store->Begin());
  for (int i = 0; i < 2000; i += 3)
    PS_ASSERT_OK(index->Delete(txn.get(), fmt::format("k{:05}", i)));
  for (int i = 1; i < 2000; i += 3)
    PS_ASSERT_OK(index->Put(txn.get(), fmt::format("k{:05}", i), "changed"));
  for (int i = 0; i < 5000; ++i)
    PS_ASSERT_OK(index->Insert(txn.get(), fmt::format("m{:05}", i), "z"));
  PS_ASSERT_OK(store->FlushLog());
  sim.Cut();
  txn.reset();
  index.reset();
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  EXPECT_EQ(again->recovery_report().transactions_undone, 1u);
  PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(*again, anchor));
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*reopened, model));
  // It takes new work after recovery.
  PS_ASSERT_OK(reopened->Insert(nullptr, "after", "recovery"));
  model["after"] = "recovery";
  ASSERT_NO_FATAL_FAILURE(ExpectMatches(*reopened, model));
}

TEST(HashIndexTest, CatalogNamesHashIndexesAcrossPowerLossAndClose) {
  SimulatedStore sim(HashStoreOptions());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  Model model;
  std::uint64_t seed = 0;
  {
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(h, catalog->CreateHash("h"));
    PS_ASSIGN_OR_FAIL(t, catalog->CreateBTree("t"));
    seed = h->seed();
    EXPECT_TRUE(absl::IsAlreadyExists(catalog->CreateHash("h").status()));
    EXPECT_TRUE(absl::IsAlreadyExists(catalog->CreateHash("t").status()));
    EXPECT_TRUE(absl::IsAlreadyExists(catalog->CreateBTree("h").status()));
    EXPECT_TRUE(absl::IsInvalidArgument(catalog->CreateHash("").status()));
    EXPECT_TRUE(absl::IsInvalidArgument(catalog->CreateHash(std::string(256, 'n')).status()));
    absl::StatusOr<std::unique_ptr<HashIndex>> wrong = catalog->OpenHash("t");
    EXPECT_TRUE(absl::IsFailedPrecondition(wrong.status())) << wrong.status();
    absl::StatusOr<std::unique_ptr<BTree>> wrong_tree = catalog->OpenBTree("h");
    EXPECT_TRUE(absl::IsFailedPrecondition(wrong_tree.status())) << wrong_tree.status();
    EXPECT_TRUE(absl::IsNotFound(catalog->OpenHash("x").status()));
    PS_ASSIGN_OR_FAIL(list, catalog->List());
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].name, "h");
    EXPECT_EQ(list[0].kind, IndexKind::kHash);
    EXPECT_EQ(list[0].anchor, h->anchor());
    EXPECT_EQ(list[1].name, "t");
    EXPECT_EQ(list[1].kind, IndexKind::kBTree);
    for (int i = 0; i < 3000; ++i) {
      const std::string k = fmt::format("h{}", i);
      PS_ASSERT_OK(h->Put(nullptr, k, k + "-value"));
      model[k] = k + "-value";
    }
    PS_ASSERT_OK(t->Put(nullptr, "tree-key", "tree-value"));
    // A committed transaction makes everything before it durable.
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(h->Insert(txn.get(), "in-txn", "committed"));
    model["in-txn"] = "committed";
    PS_ASSERT_OK(txn->Commit());
  }
  sim.PowerLoss();
  for (int reopen = 0; reopen < 2; ++reopen) {
    PS_ASSIGN_OR_FAIL(again, sim.Open());
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*again));
    PS_ASSIGN_OR_FAIL(list, catalog->List());
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].kind, IndexKind::kHash);
    PS_ASSIGN_OR_FAIL(h, catalog->OpenHash("h"));
    EXPECT_EQ(h->seed(), seed);
    ASSERT_NO_FATAL_FAILURE(ExpectMatches(*h, model));
    PS_ASSIGN_OR_FAIL(t, catalog->OpenBTree("t"));
    PS_ASSIGN_OR_FAIL(tv, t->Get("tree-key"));
    EXPECT_EQ(tv, "tree-value");
    EXPECT_TRUE(absl::IsFailedPrecondition(catalog->OpenHash("t").status()));
    const std::string k = fmt::format("reopen{}", reopen);
    PS_ASSERT_OK(h->Insert(nullptr, k, "x"));
    model[k] = "x";
    PS_ASSERT_OK(again->Close());
  }
}

// Real files: a store under one disk manager (swapped for the other while live), reopened
// under the other.
class HashFileTest : public ::testing::TestWithParam<std::string> {};

StoreOptions FileStoreOptions(std::string_view spec) {
  StoreOptions options = HashStoreOptions();
  absl::StatusOr<DiskManagerOptions> disk = ParseDiskManagerSpec(spec);
  EXPECT_TRUE(disk.ok()) << disk.status();
  if (disk.ok()) options.disk = *disk;
  return options;
}

std::string OtherSpec(std::string_view spec) {
  return spec.starts_with("pread") ? "mmap:initial=64K,growth=64K,reserve=1G" : "pread";
}

TEST_P(HashFileTest, ReopensUnderTheOtherDiskManager) {
  TempDir dir;
  const auto path = dir.file("db.pages");
  StoreOptions options = FileStoreOptions(GetParam());
  Model model;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(h, catalog->CreateHash("h"));
    for (int i = 0; i < 6000; ++i) {
      if (i == 3000) {
        PS_ASSERT_OK(store->pool().SwapDiskManager(FileStoreOptions(OtherSpec(GetParam())).disk));
      }
      const std::string k = fmt::format("{:06}", i * 13 % 6007);
      PS_ASSERT_OK(h->Put(nullptr, k, "f" + k));
      model[k] = "f" + k;
      if (i % 5 == 0) {
        PS_ASSERT_OK(h->Delete(nullptr, k));
        model.erase(k);
      }
    }
  }
  for (const std::string& spec : {OtherSpec(GetParam()), GetParam()}) {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, FileStoreOptions(spec)));
    EXPECT_EQ(store->pool().disk_manager_name().substr(0, 4), spec.substr(0, 4));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(h, catalog->OpenHash("h"));
    ASSERT_NO_FATAL_FAILURE(ExpectMatches(*h, model)) << spec;
    for (int i = 0; i < 500; ++i) {
      const std::string k = fmt::format("{}-{}", spec.substr(0, 4), i);
      PS_ASSERT_OK(h->Insert(nullptr, k, spec));
      model[k] = spec;
    }
  }
}

// Writes 3000 entries (no deletes, so no freed page still carries an index type) to a file,
// closes it and returns the anchor and the live pages of each type.
struct BuiltFile {
  PageId anchor = kInvalidPageId;
  Model model;
  absl::flat_hash_map<PageType, std::vector<PageId>> pages;
};

void BuildFile(const std::filesystem::path& path, const StoreOptions& options, BuiltFile* out) {
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store));
    out->anchor = index->anchor();
    for (int i = 0; i < 3000; ++i) {
      const std::string k = fmt::format("{:05}", i);
      PS_ASSERT_OK(index->Put(nullptr, k, "v" + k));
      out->model[k] = "v" + k;
    }
  }
  PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
  const std::vector<PageId> free = store->FreePages();
  for (PageId id = kFirstDataPage; id < store->pool().page_count(); ++id) {
    if (std::find(free.begin(), free.end(), id) != free.end()) continue;
    absl::StatusOr<ReadPageGuard> g = store->pool().ReadPage(id);
    if (!g.ok()) continue;
    out->pages[static_cast<PageType>(ReadPageHeader(g->data()).type)].push_back(id);
  }
}

void FlipByte(const std::filesystem::path& path, PageId id, std::size_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::byte b;
  const off_t off = static_cast<off_t>(id * kPageSize + offset);
  ASSERT_EQ(::pread(fd, &b, 1, off), 1);
  b ^= std::byte{0x40};
  ASSERT_EQ(::pwrite(fd, &b, 1, off), 1);
  ::close(fd);
}

// Every Get returns the right value or DataLossError (at least one the latter); Verify and the
// iterator end in DataLossError naming the page.
void ExpectDataLoss(const HashIndex& index, const Model& model, PageId victim, bool every_get) {
  std::size_t lost = 0;
  for (const auto& [k, want] : model) {
    absl::StatusOr<std::string> v = index.Get(k);
    if (v.ok()) {
      ASSERT_EQ(*v, want) << k;
    } else {
      ASSERT_TRUE(absl::IsDataLoss(v.status())) << k << ": " << v.status();
      ++lost;
    }
  }
  EXPECT_GT(lost, 0u);
  if (every_get) {
    EXPECT_EQ(lost, model.size());
  }
  const absl::Status verify = index.Verify();
  EXPECT_TRUE(absl::IsDataLoss(verify)) << verify;
  EXPECT_NE(verify.message().find(fmt::format("page {}", victim)), std::string::npos) << verify;
  auto it = index.Begin();
  while (it.Valid()) {
    auto m = model.find(std::string(it.key()));
    ASSERT_NE(m, model.end()) << it.key();
    ASSERT_EQ(it.value(), m->second);
    it.Next();
  }
  EXPECT_TRUE(absl::IsDataLoss(it.status())) << it.status();
}

TEST_P(HashFileTest, CorruptPagesAreDataLoss) {
  StoreOptions options = FileStoreOptions(GetParam());
  for (PageType target : {PageType::kHashBucket, PageType::kHashDirectory, PageType::kHashMeta}) {
    SCOPED_TRACE(PageTypeName(target));
    TempDir dir;
    const auto path = dir.file("db.pages");
    BuiltFile built;
    ASSERT_NO_FATAL_FAILURE(BuildFile(path, options, &built));
    ASSERT_FALSE(built.pages[target].empty());
    ASSERT_GE(built.pages[PageType::kHashBucket].size(), 8u);
    // A bit flip in the middle of the payload (caught by the page checksum).
    const PageId victim = built.pages[target][built.pages[target].size() / 2];
    FlipByte(path, victim, 2000);
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    absl::StatusOr<std::unique_ptr<HashIndex>> index = HashIndex::Open(*store, built.anchor);
    if (target == PageType::kHashMeta) {
      EXPECT_TRUE(absl::IsDataLoss(index.status())) << index.status();
      continue;
    }
    ASSERT_TRUE(index.ok()) << index.status();
    ExpectDataLoss(**index, built.model, victim, target == PageType::kHashDirectory);
  }
}

// A bucket replaced by a well-sealed page of another kind (a B+tree leaf, an empty page): the
// index must notice that it is not a bucket.
TEST_P(HashFileTest, APageOfAnotherTypeWhereABucketShouldBeIsDataLoss) {
  StoreOptions options = FileStoreOptions(GetParam());
  TempDir dir;
  const auto path = dir.file("db.pages");
  BuiltFile built;
  ASSERT_NO_FATAL_FAILURE(BuildFile(path, options, &built));
  const PageId victim = built.pages[PageType::kHashBucket].front();
  {
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    Page page;
    ASSERT_EQ(::pread(fd, page.data(), kPageSize, victim * kPageSize), ssize_t(kPageSize));
    PageHeader h = ReadPageHeader(page);
    h.type = static_cast<std::uint16_t>(PageType::kBTreeLeaf);
    WritePageHeader(page, h);
    SealPage(victim, page);
    ASSERT_EQ(::pwrite(fd, page.data(), kPageSize, victim * kPageSize), ssize_t(kPageSize));
    ::close(fd);
  }
  PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
  PS_ASSIGN_OR_FAIL(index, HashIndex::Open(*store, built.anchor));
  ExpectDataLoss(*index, built.model, victim, false);
}

INSTANTIATE_TEST_SUITE_P(Kinds, HashFileTest,
                         ::testing::Values("pread", "mmap:initial=64K,growth=64K,reserve=1G"),
                         [](const auto& info) {
                           return info.param.substr(0, info.param.find(':'));
                         });

// Garbage that passes the checksum (a bug elsewhere, or a bad disk manager): random bytes or a
// few flipped bytes in an index page, resealed. Never a crash, a hang or another key's value:
// each Get is the right value or an error, and random payloads fail Verify.
TEST(HashIndexTest, GarbledPagesNeverCrashOrAnswerWrongly) {
  const std::uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  auto options = std::make_shared<HashIndexOptions>();
  options->max_global_depth = 3;  // overflow pages too
  options->hash_for_testing = [](std::string_view k) {
    return Mix(std::hash<std::string_view>{}(k) % 29);
  };
  SimulatedStore sim(HashStoreOptions(options));
  PageId anchor;
  Model model;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(index, HashIndex::Create(*store, *options));
    anchor = index->anchor();
    for (int i = 0; i < 1500; ++i) {
      const std::string k = fmt::format("g{:04}", i);
      PS_ASSERT_OK(index->Insert(nullptr, k, std::string(i % 90, 'v') + k));
      model[k] = std::string(i % 90, 'v') + k;
    }
    PS_ASSIGN_OR_FAIL(stats, index->Stats());
    ASSERT_GT(stats.overflow_pages, 0u);
    PS_ASSERT_OK(store->Close());
  }
  sim.Reboot();
  std::vector<PageId> targets;
  for (PageId id = kFirstDataPage; id < sim.file().page_count(); ++id) {
    const PageHeader h = ReadPageHeader(ConstPageSpan(sim.file().MutablePage(id), kPageSize));
    switch (static_cast<PageType>(h.type)) {
      case PageType::kHashMeta:
      case PageType::kHashDirectory:
      case PageType::kHashBucket:
      case PageType::kOverflow:
        targets.push_back(id);
        break;
      default:
        break;
    }
  }
  ASSERT_GE(targets.size(), 10u);
  Page pristine;
  for (int round = 0; round < 60; ++round) {
    const PageId victim = targets[rng() % targets.size()];
    const bool random_payload = round % 2 == 0;
    const std::string context =
        fmt::format("round {} page {} ({}), PAGESTORE_TEST_SEED={}", round, victim,
                    random_payload ? "random payload" : "flips", seed);
    std::byte* raw = sim.file().MutablePage(victim);
    std::memcpy(pristine.data(), raw, kPageSize);
    if (random_payload) {
      for (std::size_t i = kPageHeaderSize; i < kPageSize; ++i) raw[i] = std::byte(rng());
    } else {
      for (int f = 0; f < 3; ++f) raw[kPageHeaderSize + rng() % 96] ^= std::byte(1 + rng() % 255);
    }
    SealPage(victim, PageSpan(raw, kPageSize));
    {
      PS_ASSIGN_OR_FAIL(store, sim.Open());
      absl::StatusOr<std::unique_ptr<HashIndex>> index = HashIndex::Open(*store, anchor, *options);
      if (index.ok()) {
        for (const auto& [k, want] : model) {
          absl::StatusOr<std::string> v = (*index)->Get(k);
          if (v.ok()) {
            ASSERT_EQ(*v, want) << context << ": a wrong value for " << k;
          }
        }
        for (auto it = (*index)->Begin(); it.Valid(); it.Next()) {
          auto m = model.find(std::string(it.key()));
          if (m != model.end()) {
            ASSERT_EQ(it.value(), m->second) << context;
          }
        }
        const absl::Status verify = (*index)->Verify();
        if (random_payload) {
          EXPECT_TRUE(absl::IsDataLoss(verify)) << context << ": " << verify;
        }
        (void)(*index)->Size();
        (void)(*index)->Stats();
      } else {
        EXPECT_TRUE(absl::IsDataLoss(index.status())) << context << ": " << index.status();
      }
    }
    sim.Reboot();
    std::memcpy(sim.file().MutablePage(victim), pristine.data(), kPageSize);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace pagestore::testing
