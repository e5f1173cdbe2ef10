// The WAL crash harness on a hash index: transactions of inserts, puts and deletes (commits and
// aborts, fills that split buckets and clears that merge them) cut by simulated power losses at
// seeded points, by crashes during recovery, and by real SIGKILLs under both disk managers.
// After recovery the index equals the model of acknowledged commits and Verify() passes. Each
// runs with the real hash and with a colliding test hash on a shallow directory (overflow
// chains).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "tests/index/index_crash_util.h"

namespace pagestore::testing {
namespace {

// Sanitizers run ~20x slower: fewer bounded crash points there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t kBoundedPoints = 100;
#else
constexpr std::size_t kBoundedPoints = 500;
#endif

enum class Variant { kRealHash, kCollisions };

std::string VariantName(Variant v) { return v == Variant::kRealHash ? "RealHash" : "Collisions"; }

// The options the variant's index is created and opened with, and store options whose undo
// handler opens that index (once its anchor is known) with them.
struct HashSetup {
  std::shared_ptr<HashIndexOptions> index = std::make_shared<HashIndexOptions>();
  std::shared_ptr<std::atomic<PageId>> anchor =
      std::make_shared<std::atomic<PageId>>(kInvalidPageId);
  StoreOptions store = SmallStoreOptions();
};

HashSetup MakeSetup(Variant v) {
  HashSetup s;
  if (v == Variant::kCollisions) {
    // 24 distinct hashes on a directory of at most 4 positions: every bucket has a chain.
    s.index->max_global_depth = 2;
    s.index->hash_for_testing = [](std::string_view k) {
      std::uint64_t h = 14695981039346656037ull;  // FNV-1a: the same in every process
      for (char c : k) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
      return (h % 24) * 0x9E3779B97F4A7C15ull;
    };
  }
  s.store.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();  // the catalog
  s.store.undo_handlers[kHashResourceManager] =
      HashUndoHandler([index = s.index, anchor = s.anchor](PageId a) -> const HashIndexOptions* {
        return a == anchor->load() ? index.get() : nullptr;
      });
  return s;
}

constexpr int kKeys = 150;

// Mostly small transactions; every 12th fills in 60 keys (splits), every 12th + 6 deletes every
// key (buckets empty and merge, the directory halves). Values up to 300 bytes, so buckets hold
// a dozen entries or so.
std::vector<IndexTxn> MakeWorkload(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<IndexTxn> out(n);
  auto key = [](std::uint64_t k) { return fmt::format("key{:04}", k); };
  // One value in 16 is stored out of line (1 KiB to 20 KiB).
  auto value = [&rng] {
    return std::string(rng() % 16 == 0 ? 1000 + rng() % 20000 : rng() % 300,
                       static_cast<char>('a' + rng() % 26));
  };
  for (std::size_t i = 0; i < n; ++i) {
    IndexTxn& t = out[i];
    t.commit = rng() % 5 != 0;
    if (i % 12 == 0) {
      for (int k = 0; k < 60; ++k) t.ops.push_back({0, key(rng() % kKeys), value()});
    } else if (i % 12 == 6) {
      for (int k = 0; k < kKeys; ++k) t.ops.push_back({2, key(k), ""});
    } else {
      const std::size_t ops = 1 + rng() % 6;
      for (std::size_t j = 0; j < ops; ++j) {
        t.ops.push_back({static_cast<int>(rng() % 3), key(rng() % kKeys), value()});
      }
    }
  }
  return out;
}

// The index's entries (a key seen twice is an error), after Verify and a Size that agrees.
absl::StatusOr<IndexModel> ReadIndex(const HashIndex& index) {
  if (absl::Status s = index.Verify(); !s.ok()) return s;
  IndexModel m;
  auto it = index.Begin();
  for (; it.Valid(); it.Next()) {
    if (!m.emplace(std::string(it.key()), std::string(it.value())).second) {
      return absl::InternalError(fmt::format("the iterator returned {} twice", it.key()));
    }
  }
  if (!it.status().ok()) return it.status();
  absl::StatusOr<std::uint64_t> size = index.Size();
  if (!size.ok()) return size.status();
  if (*size != m.size()) {
    return absl::InternalError(fmt::format("Size() {} but {} entries", *size, m.size()));
  }
  return m;
}

class HashCrashTest : public ::testing::TestWithParam<Variant> {};

TEST_P(HashCrashTest, SimulatedPowerLossRecoversAcknowledgedCommits) {
  const std::size_t points = CrashRuns(kBoundedPoints, 5000);
  const std::uint64_t base = TestSeed();
  RecoveryReport total;
  std::uint64_t overflow_seen = 0, depth_seen = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base * 7919 + point;
    HashSetup setup = MakeSetup(GetParam());
    SimulatedStore sim(setup.store);
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(index, HashIndex::Create(**store, *setup.index));
    setup.anchor->store(index->anchor());
    IndexOutcome warm = RunIndexTxns(**store, *index, MakeWorkload(seed ^ 0x5555, 13), {});
    ASSERT_FALSE(warm.maybe);
    PS_ASSIGN_OR_FAIL(stats, index->Stats());
    overflow_seen += stats.overflow_pages;
    depth_seen = std::max<std::uint64_t>(depth_seen, stats.global_depth);
    PS_ASSERT_OK((*store)->Checkpoint());
    std::uint64_t crash_at = 0;
    const IndexOutcome o =
        RunToPowerLoss(sim, index, MakeWorkload(seed, 60), warm.acked, point, seed, crash_at);

    absl::StatusOr<Store*> again = sim.Open();
    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {}, {} commits)", point, base,
                    crash_at, o.commits);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    const RecoveryReport& r = (*again)->recovery_report();
    total.transactions_undone += r.transactions_undone;
    total.operations_undone += r.operations_undone;
    total.page_images += r.page_images;
    PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(**again, setup.anchor->load(), *setup.index));
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(ReadIndex(*reopened), o, context));
    // No page leaked: the index's pages and the free list are the whole file.
    {
      std::vector<PageId> pages;
      PS_ASSERT_OK(reopened->Stats(&pages).status());
      std::vector<PageId> all = (*again)->FreePages();
      all.insert(all.end(), pages.begin(), pages.end());
      std::sort(all.begin(), all.end());
      ASSERT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << context;
      ASSERT_EQ(all.size(), (*again)->pool().page_count() - kFirstDataPage)
          << context << ": pages leaked";
    }
    // The recovered index takes new work.
    absl::StatusOr<IndexModel> now = ReadIndex(*reopened);
    ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    IndexOutcome more = RunIndexTxns(**again, *reopened, MakeWorkload(seed + 1, 13), *now);
    ASSERT_FALSE(more.maybe) << context;
    ASSERT_NO_FATAL_FAILURE(
        ExpectRecovered(ReadIndex(*reopened), more, context + " (after more work)"));
  }
  std::cout << fmt::format("{} points: {} transactions ({} operations) undone, {} page images\n",
                           points, total.transactions_undone, total.operations_undone,
                           total.page_images);
  EXPECT_GT(total.transactions_undone, 0u);
  EXPECT_GT(total.operations_undone, 0u);
  EXPECT_GE(depth_seen, 2u);  // the workload splits buckets
  if (GetParam() == Variant::kCollisions) {
    EXPECT_GT(overflow_seen, 0u);
  }
}

// A crash while recovering (redoing, or undoing a loser that split buckets) is recovered by the
// next open.
TEST_P(HashCrashTest, CrashDuringRecovery) {
  for (std::uint64_t fail_at = 1; fail_at <= CrashRuns(40, 120); ++fail_at) {
    HashSetup setup = MakeSetup(GetParam());
    SimulatedStore sim(setup.store);
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(index, HashIndex::Create(**store, *setup.index));
    setup.anchor->store(index->anchor());
    const IndexOutcome o = RunIndexTxns(**store, *index, MakeWorkload(fail_at, 20), {});
    ASSERT_FALSE(o.maybe);
    // Uncommitted work at the crash: a loser whose undo merges what it split and re-inserts
    // what it deleted.
    PS_ASSIGN_OR_FAIL(loser, (*store)->Begin());
    for (int i = 0; i < 300; ++i) {
      PS_ASSERT_OK(index->Insert(loser.get(), fmt::format("loser{:03}", i), std::string(100, 'l')));
    }
    for (const auto& [k, v] : o.acked) PS_ASSERT_OK(index->Put(loser.get(), k, "overwritten"));
    for (int k = 0; k < kKeys; k += 2) {
      absl::Status s = index->Delete(loser.get(), fmt::format("key{:04}", k));
      ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
    }
    PS_ASSERT_OK((*store)->FlushLog());
    sim.Cut(fail_at);
    loser.reset();
    index.reset();
    sim.Reboot();

    // Recovery itself crashes at its fail_at-th log call.
    FailLogCallsFrom(sim, fail_at);
    absl::StatusOr<Store*> failed = sim.Open();
    const std::string context = fmt::format("recovery crashed at log call {} ({})", fail_at,
                                            failed.ok() ? "it finished" : "it failed");
    sim.PowerLoss(fail_at, 0.5);
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(**again, setup.anchor->load(), *setup.index));
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(ReadIndex(*reopened), o, context));
  }
}

void RunHashKills(Variant variant, DiskManagerKind kind, std::size_t runs) {
  HashSetup setup = MakeSetup(variant);
  RunIndexKills<HashIndex>({.file = "hash.pages",
                            .options = setup.store,
                            .create = [&setup](Catalog& c) -> absl::Status {
                              absl::StatusOr<std::unique_ptr<HashIndex>> index =
                                  c.CreateHash("h", *setup.index);
                              if (!index.ok()) return index.status();
                              setup.anchor->store((*index)->anchor());
                              return absl::OkStatus();
                            },
                            .open = [&setup](Catalog& c) { return c.OpenHash("h", *setup.index); },
                            .workload = MakeWorkload,
                            .read = ReadIndex},
                           kind, runs);
}

TEST_P(HashCrashTest, KilledProcessPread) {
  RunHashKills(GetParam(), DiskManagerKind::kPread, CrashRuns(20, 200));
}
TEST_P(HashCrashTest, KilledProcessMmap) {
  RunHashKills(GetParam(), DiskManagerKind::kMmap, CrashRuns(20, 200));
}

INSTANTIATE_TEST_SUITE_P(Variants, HashCrashTest,
                         ::testing::Values(Variant::kRealHash, Variant::kCollisions),
                         [](const auto& info) { return VariantName(info.param); });

}  // namespace
}  // namespace pagestore::testing
