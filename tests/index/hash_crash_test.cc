// The WAL crash harness on a hash index: transactions of inserts, puts and deletes (commits and
// aborts, fills that split buckets and clears that merge them) cut by simulated power losses at
// seeded points, by crashes during recovery, and by real SIGKILLs under both disk managers.
// After recovery the index equals the model of acknowledged commits and Verify() passes. Each
// runs with the real hash and with a colliding test hash on a shallow directory (overflow
// chains).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "tests/crash/crash_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

using Model = std::map<std::string, std::string>;

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

struct HashTxn {
  struct Op {
    int kind;  // 0 insert, 1 put, 2 delete
    std::string key, value;
  };
  std::vector<Op> ops;
  bool commit;
};

// Mostly small transactions; every 12th fills in 60 keys (splits), every 12th + 6 deletes every
// key (buckets empty and merge, the directory halves). Values up to 300 bytes, so buckets hold
// a dozen entries or so.
std::vector<HashTxn> MakeWorkload(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<HashTxn> out(n);
  auto key = [](std::uint64_t k) { return fmt::format("key{:04}", k); };
  auto value = [&rng] { return std::string(rng() % 300, static_cast<char>('a' + rng() % 26)); };
  for (std::size_t i = 0; i < n; ++i) {
    HashTxn& t = out[i];
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

// Applies `t`'s operations to `m` the way the index does (insert of a present key and delete of
// an absent one fail and change nothing).
void ApplyToModel(const HashTxn& t, Model& m) {
  for (const auto& op : t.ops) {
    if (op.kind == 0) {
      m.emplace(op.key, op.value);
    } else if (op.kind == 1) {
      m[op.key] = op.value;
    } else {
      m.erase(op.key);
    }
  }
}

absl::Status RunOp(HashIndex& index, Transaction* txn, const HashTxn::Op& op) {
  absl::Status s = op.kind == 0   ? index.Insert(txn, op.key, op.value)
                   : op.kind == 1 ? index.Put(txn, op.key, op.value)
                                  : index.Delete(txn, op.key);
  return absl::IsAlreadyExists(s) || absl::IsNotFound(s) ? absl::OkStatus() : s;
}

struct Outcome {
  Model acked;
  std::optional<Model> maybe;  // plus the commit in flight at the crash
  std::size_t commits = 0;
};

// Runs `txns` until an error (the crash) or the end.
Outcome RunTxns(Store& store, HashIndex& index, const std::vector<HashTxn>& txns, Model start) {
  Outcome o;
  o.acked = std::move(start);
  for (std::size_t i = 0; i < txns.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) break;
    bool failed = false;
    for (const auto& op : txns[i].ops) {
      if (!RunOp(index, txn->get(), op).ok()) {
        failed = true;
        break;
      }
    }
    if (failed) break;
    // As if other threads committed or checkpointed meanwhile: this transaction's records
    // become durable before its end, so a crash leaves a loser for recovery to undo.
    if (i % 5 == 3 && !store.log().FlushAll().ok()) break;
    if (i % 11 == 7 && !store.Checkpoint().ok()) break;
    if (!txns[i].commit) {
      if (!(*txn)->Abort().ok()) break;
      continue;
    }
    if ((*txn)->Commit().ok()) {
      ApplyToModel(txns[i], o.acked);
      ++o.commits;
    } else {
      Model m = o.acked;
      ApplyToModel(txns[i], m);
      o.maybe = std::move(m);
      break;
    }
  }
  return o;
}

// The index's entries (a key seen twice is an error), after Verify and a Size that agrees.
absl::StatusOr<Model> ReadIndex(const HashIndex& index) {
  if (absl::Status s = index.Verify(); !s.ok()) return s;
  Model m;
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

// The recovered index equals the acknowledged commits (or those plus the one in flight).
void ExpectRecovered(const HashIndex& index, const Outcome& o, const std::string& context) {
  absl::StatusOr<Model> now = ReadIndex(index);
  ASSERT_TRUE(now.ok()) << context << ": " << now.status();
  if (o.maybe && *now == *o.maybe) return;
  ASSERT_EQ(now->size(), o.acked.size()) << context;
  ASSERT_TRUE(*now == o.acked) << context;
}

class HashCrashTest : public ::testing::TestWithParam<Variant> {};

TEST_P(HashCrashTest, SimulatedPowerLossRecoversAcknowledgedCommits) {
  const std::size_t points = CrashRuns(kBoundedPoints, 5000);
  const std::uint64_t base = TestSeed();
  RecoveryReport total;
  std::uint64_t overflow_seen = 0, depth_seen = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base * 7919 + point;
    std::mt19937_64 rng(seed);
    HashSetup setup = MakeSetup(GetParam());
    SimulatedStore sim(setup.store);
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(index, HashIndex::Create(**store, *setup.index));
    setup.anchor->store(index->anchor());
    Outcome warm = RunTxns(**store, *index, MakeWorkload(seed ^ 0x5555, 13), {});
    ASSERT_FALSE(warm.maybe);
    PS_ASSIGN_OR_FAIL(stats, index->Stats());
    overflow_seen += stats.overflow_pages;
    depth_seen = std::max<std::uint64_t>(depth_seen, stats.global_depth);
    PS_ASSERT_OK((*store)->Checkpoint());
    // The crash clock: the n-th log call from now fails, and everything after it.
    const std::uint64_t crash_at = std::uniform_int_distribution<std::uint64_t>(1, 200)(rng);
    std::atomic<std::uint64_t> calls{0};
    sim.env().SetHook([&calls, crash_at] { return ++calls >= crash_at ? EIO : 0; });
    if (point % 3 == 2) {
      sim.fault()->FailCall(std::uniform_int_distribution<std::uint64_t>(1, 60)(rng), EIO, true);
      sim.fault()->TearNextWrite(std::uniform_int_distribution<int>(1, 7)(rng));
    }
    Outcome o = RunTxns(**store, *index, MakeWorkload(seed, 60), warm.acked);
    index.reset();
    sim.PowerLoss(seed, point % 3 == 1 ? 0.5 : 0.0);

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
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(*reopened, o, context));
    // The recovered index takes new work.
    absl::StatusOr<Model> now = ReadIndex(*reopened);
    ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    Outcome more = RunTxns(**again, *reopened, MakeWorkload(seed + 1, 13), *now);
    ASSERT_FALSE(more.maybe) << context;
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(*reopened, more, context + " (after more work)"));
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
    const Outcome o = RunTxns(**store, *index, MakeWorkload(fail_at, 20), {});
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
    PS_ASSERT_OK((*store)->log().FlushAll());
    sim.Cut(fail_at);
    loser.reset();
    index.reset();
    sim.Reboot();

    // Recovery itself crashes at its fail_at-th log call.
    std::atomic<std::uint64_t> calls{0};
    sim.env().SetHook([&calls, fail_at] { return ++calls >= fail_at ? EIO : 0; });
    absl::StatusOr<Store*> failed = sim.Open();
    const std::string context = fmt::format("recovery crashed at log call {} ({})", fail_at,
                                            failed.ok() ? "it finished" : "it failed");
    sim.PowerLoss(fail_at, 0.5);
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    PS_ASSIGN_OR_FAIL(reopened, HashIndex::Open(**again, setup.anchor->load(), *setup.index));
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(*reopened, o, context));
  }
}

// Real process kills: a child runs hash transactions on a real file and reports each
// acknowledged commit through a pipe; the parent SIGKILLs it at a random moment and checks the
// reopened index against the acknowledgements.
void RunHashKills(Variant variant, DiskManagerKind kind, std::size_t runs) {
  TempDir dir;
  const std::filesystem::path path = dir.file("hash.pages");
  HashSetup setup = MakeSetup(variant);
  StoreOptions options = setup.store;
  options.disk.kind = kind;
  options.disk.mmap = SmallMmapOptions().mmap;
  options.background_checkpoints = true;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    PS_ASSIGN_OR_FAIL(index, catalog->CreateHash("h", *setup.index));
    setup.anchor->store(index->anchor());
  }
  const std::uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  Model model;
  std::size_t killed = 0;
  for (std::size_t run = 0; run < runs; ++run) {
    options.durability =
        std::array{Durability::kSync, Durability::kNone, Durability::kGroup}[run % 3];
    const std::vector<HashTxn> txns = MakeWorkload(seed + run, 400);
    const KillRun kill = ForkAndKill(
        [&](int fd) {
          absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
          if (!store.ok()) _exit(2);
          absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
          if (!catalog.ok()) _exit(3);
          absl::StatusOr<std::unique_ptr<HashIndex>> index =
              (*catalog)->OpenHash("h", *setup.index);
          if (!index.ok()) _exit(4);
          for (std::uint32_t i = 0; i < txns.size(); ++i) {
            absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
            if (!txn.ok()) _exit(5);
            for (const auto& op : txns[i].ops) {
              if (!RunOp(**index, txn->get(), op).ok()) _exit(6);
            }
            if (!txns[i].commit) {
              if (!(*txn)->Abort().ok()) _exit(7);
              continue;
            }
            if (!(*txn)->Commit().ok()) _exit(8);
            if (::write(fd, &i, sizeof i) != sizeof i) _exit(9);
          }
        },
        std::uniform_int_distribution<std::uint32_t>(0, 60)(rng), rng);
    ASSERT_EQ(kill.exit_code, 0) << "the child failed";
    if (kill.killed) ++killed;
    const std::vector<std::uint32_t>& acks = kill.acks;
    const std::size_t acked_end = acks.empty() ? 0 : acks.back() + 1;
    Outcome o;
    o.acked = model;
    for (std::size_t i = 0; i < acked_end; ++i) {
      if (txns[i].commit) ApplyToModel(txns[i], o.acked);
    }
    std::size_t next = acked_end;
    while (next < txns.size() && !txns[next].commit) ++next;
    if (next < txns.size()) {
      o.maybe = o.acked;
      ApplyToModel(txns[next], *o.maybe);
    }
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << "run " << run << ": " << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    PS_ASSIGN_OR_FAIL(index, catalog->OpenHash("h", *setup.index));
    const std::string context =
        fmt::format("run {} ({} acks, PAGESTORE_TEST_SEED={}): {}", run, acks.size(), seed,
                    (*store)->recovery_report().ToString());
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(*index, o, context));
    model = *ReadIndex(*index);
  }
  EXPECT_GT(killed, runs / 2);
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
