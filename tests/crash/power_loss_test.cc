// Simulated power cuts at seeded crash points of a transactional workload. The log's files and
// the page file lose everything unsynced (variants keep a random part of it, or tear the last
// page write); reopening must recover exactly the acknowledged commits: every one present, no
// aborted or unacknowledged change visible, every page either used once or free.
#include <gtest/gtest.h>

#include <atomic>

#include "tests/crash/crash_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

enum class Variant { kDropAll, kKeepSome, kTornPage };

struct Outcome {
  SlotTable::Model acked;                 // every acknowledged commit applied
  std::optional<SlotTable::Model> maybe;  // plus the commit that was in flight at the crash
  std::size_t commits = 0;
};

// Runs `txns` on the store until an error (the crash) or the end.
Outcome RunUntilCrash(Store& store, const std::vector<WorkloadTxn>& txns, SlotTable::Model start) {
  Outcome out;
  out.acked = std::move(start);
  for (std::size_t i = 0; i < txns.size(); ++i) {
    const WorkloadTxn& w = txns[i];
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) break;
    if (!w.Run(**txn).ok()) break;
    // As if other threads committed or checkpointed meanwhile: this transaction's records
    // become durable before its end, so a crash leaves a loser for recovery to undo (and a
    // checkpoint records it among the active transactions).
    if (i % 5 == 3 && !store.FlushLog().ok()) break;
    if (i % 11 == 7 && !store.Checkpoint().ok()) break;
    if (!w.commit) {
      if (!(*txn)->Abort().ok()) break;
      continue;
    }
    if ((*txn)->Commit().ok()) {
      w.ApplyTo(out.acked);
      ++out.commits;
    } else {
      SlotTable::Model m = out.acked;
      w.ApplyTo(m);
      out.maybe = std::move(m);
      break;
    }
  }
  return out;
}

void CheckRecovered(Store& store, const Outcome& o, const std::string& context) {
  absl::StatusOr<SlotTable::Model> now = SlotTable::Read(store);
  ASSERT_TRUE(now.ok()) << context << ": " << now.status();
  if (!(o.maybe && *now == *o.maybe)) {
    EXPECT_EQ(*now, o.acked) << context << "\n" << store.recovery_report().ToString();
  }
  absl::Status pages = SlotTable::CheckPages(store);
  EXPECT_TRUE(pages.ok()) << context << ": " << pages;
}

void RunCrashPoints(Variant variant, std::size_t points) {
  std::size_t recovered_with_work = 0;
  RecoveryReport total;
  std::size_t mid_workload = 0;
  const std::uint64_t base_seed = TestSeed();
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base_seed * 7919 + point;
    std::mt19937_64 rng(seed);
    SimulatedStore sim;
    Store* store;
    {
      absl::StatusOr<Store*> s = sim.Open();
      ASSERT_TRUE(s.ok()) << s.status();
      store = *s;
    }
    ASSERT_TRUE(SlotTable::Create(*store).ok());
    // A warm-up that reaches the disk, so crashes also hit a store with history.
    const std::vector<WorkloadTxn> warm = MakeWorkload(seed ^ 0xabcdef, 8);
    Outcome before = RunUntilCrash(*store, warm, {});
    ASSERT_FALSE(before.maybe.has_value());
    ASSERT_TRUE(store->Checkpoint().ok());

    // The crash clock: the n-th log call from now fails, and so does everything after it.
    const std::uint64_t crash_at = std::uniform_int_distribution<std::uint64_t>(1, 160)(rng);
    std::atomic<std::uint64_t> calls{0};
    sim.env().SetHook([&calls, crash_at] { return ++calls >= crash_at ? EIO : 0; });
    if (variant == Variant::kTornPage) {
      sim.fault()->FailCall(std::uniform_int_distribution<std::uint64_t>(1, 40)(rng), EIO,
                            /*persistent=*/true);
      sim.fault()->TearNextWrite(std::uniform_int_distribution<int>(1, 7)(rng));
    }
    const std::vector<WorkloadTxn> txns = MakeWorkload(seed, 60);
    Outcome o = RunUntilCrash(*store, txns, before.acked);
    sim.PowerLoss(seed, variant == Variant::kKeepSome ? 0.5 : 0.0);

    absl::StatusOr<Store*> again = sim.Open();
    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {}, {} commits acknowledged)",
                    point, base_seed, crash_at, o.commits);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    CheckRecovered(**again, o, context);
    if (::testing::Test::HasFailure()) return;
    const RecoveryReport& r = (*again)->recovery_report();
    if (r.records_scanned > 0) ++recovered_with_work;
    if (o.maybe || o.commits < 48) ++mid_workload;
    total.pages_redone += r.pages_redone;
    total.page_images += r.page_images;
    total.transactions_undone += r.transactions_undone;
    total.operations_undone += r.operations_undone;
    if (r.damaged_tail_lsn != kInvalidLsn) ++total.records_scanned;  // torn log tails seen
    // The recovered store takes new work.
    Outcome more = RunUntilCrash(**again, MakeWorkload(seed + 1, 5), *SlotTable::Read(**again));
    ASSERT_FALSE(more.maybe.has_value()) << context;
    CheckRecovered(**again, more, context + " (after more work)");
  }
  // The crash points must have exercised recovery: redo, torn-page images, undo of losers.
  EXPECT_GT(recovered_with_work, points / 2);
  EXPECT_GT(mid_workload, points / 2);
  EXPECT_GT(total.pages_redone, 0u);
  EXPECT_GT(total.page_images, 0u);
  EXPECT_GT(total.transactions_undone, 0u);
  std::printf(
      "%zu crash points, %zu mid-workload: %llu page changes redone (%llu images), "
      "%llu transactions (%llu operations) undone, %llu damaged log tails\n",
      points, mid_workload, static_cast<unsigned long long>(total.pages_redone),
      static_cast<unsigned long long>(total.page_images),
      static_cast<unsigned long long>(total.transactions_undone),
      static_cast<unsigned long long>(total.operations_undone),
      static_cast<unsigned long long>(total.records_scanned));
}

TEST(PowerLossTest, DropEverythingUnsynced) {
  RunCrashPoints(Variant::kDropAll, CrashRuns(1000, 5000));
}

TEST(PowerLossTest, KeepRandomUnsyncedWrites) {
  RunCrashPoints(Variant::kKeepSome, CrashRuns(1000, 5000));
}

TEST(PowerLossTest, TornPageWrites) { RunCrashPoints(Variant::kTornPage, CrashRuns(500, 2000)); }

// A crash while recovering is recovered by the next open.
TEST(PowerLossTest, CrashDuringRecovery) {
  for (std::uint64_t fail_at = 1; fail_at <= CrashRuns(40, 120); ++fail_at) {
    SimulatedStore sim;
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(SlotTable::Create(**store).ok());
    // Uncommitted work at the crash, so recovery has redo and undo to do.
    const std::vector<WorkloadTxn> txns = MakeWorkload(fail_at, 30);
    Outcome o = RunUntilCrash(**store, txns, {});
    absl::StatusOr<std::unique_ptr<Transaction>> loser = (*store)->Begin();
    ASSERT_TRUE(loser.ok());
    ASSERT_TRUE(SlotTable::Put(**loser, 1, 424242).ok());
    ASSERT_TRUE(SlotTable::SetBlob(**loser, 0, "uncommitted").ok());
    ASSERT_TRUE((*store)->FlushLog().ok());
    sim.Cut(fail_at);
    loser->reset();
    sim.Reboot();

    // Recovery itself crashes at its fail_at-th log call.
    std::atomic<std::uint64_t> calls{0};
    sim.env().SetHook([&calls, fail_at] { return ++calls >= fail_at ? EIO : 0; });
    absl::StatusOr<Store*> failed = sim.Open();
    sim.PowerLoss(fail_at, 0.5);
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << "fail_at " << fail_at << ": " << again.status();
    CheckRecovered(**again, o,
                   fmt::format("recovery crashed at log call {} ({})", fail_at,
                               failed.ok() ? "it finished" : "it failed"));
  }
}

}  // namespace
}  // namespace pagestore::testing
