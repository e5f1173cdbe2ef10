// Real process kills: a child process runs the transactional workload on a real file and writes
// the index of every acknowledged commit into a pipe; the parent SIGKILLs it at a random moment,
// reopens the store and checks it against the acknowledgements. Durability kNone is included:
// a commit written to the OS survives the death of the process.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/crash/crash_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

StoreOptions KillOptions(DiskManagerKind kind, Durability durability) {
  StoreOptions o = SmallStoreOptions();
  o.disk.kind = kind;
  o.disk.mmap = SmallMmapOptions().mmap;
  o.durability = durability;
  o.background_checkpoints = true;
  return o;
}

[[noreturn]] void Child(const std::filesystem::path& path, const StoreOptions& options,
                        const std::vector<WorkloadTxn>& txns, int fd) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
  if (!store.ok()) _exit(2);
  for (std::uint32_t i = 0; i < txns.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
    if (!txn.ok() || !txns[i].Run(**txn).ok()) _exit(4);
    if (!txns[i].commit) {
      if (!(*txn)->Abort().ok()) _exit(5);
      continue;
    }
    if (!(*txn)->Commit().ok()) _exit(6);
    if (::write(fd, &i, sizeof i) != sizeof i) _exit(7);
  }
  _exit(0);
}

void RunKills(DiskManagerKind kind, std::size_t runs) {
  TempDir dir;
  const std::filesystem::path path = dir.file("kill.pages");
  std::mt19937_64 rng(TestSeed());
  const std::vector<WorkloadTxn> txns = MakeWorkload(TestSeed(), 20000);
  // The model of every transaction up to each index: the store must match the last
  // acknowledged prefix, or that plus the commit in flight.
  std::size_t done = 0;  // transactions of earlier runs, all resolved
  SlotTable::Model model;
  std::size_t killed_mid_run = 0;
  {
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(path, KillOptions(kind, Durability::kSync));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(SlotTable::Create(**store).ok());
  }
  for (std::size_t run = 0; run < runs; ++run) {
    const Durability durability =
        std::array{Durability::kSync, Durability::kNone, Durability::kGroup}[run % 3];
    const StoreOptions options = KillOptions(kind, durability);
    const std::vector<WorkloadTxn> slice(txns.begin() + static_cast<std::ptrdiff_t>(done),
                                         txns.begin() + static_cast<std::ptrdiff_t>(done + 400));
    // Kill after a random number of acknowledgements, a random moment later.
    const KillRun kill = ForkAndKill([&](int fd) { Child(path, options, slice, fd); },
                                     std::uniform_int_distribution<std::uint32_t>(0, 40)(rng), rng);
    ASSERT_EQ(kill.exit_code, 0) << "the child failed";
    if (kill.killed) ++killed_mid_run;
    const std::vector<std::uint32_t>& acks = kill.acks;

    // Acknowledged prefix: everything up to the last ack; the next commit may or may not be in.
    const std::size_t acked_end = acks.empty() ? 0 : acks.back() + 1;
    SlotTable::Model acked = model;
    for (std::size_t i = 0; i < acked_end; ++i) slice[i].ApplyTo(acked);
    std::optional<SlotTable::Model> maybe;
    std::size_t next = acked_end;
    while (next < slice.size() && !slice[next].commit) ++next;
    if (next < slice.size()) {
      maybe = acked;
      slice[next].ApplyTo(*maybe);
    }
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << "run " << run << ": " << store.status();
    absl::StatusOr<SlotTable::Model> now = SlotTable::Read(**store);
    ASSERT_TRUE(now.ok()) << now.status();
    const std::string context =
        fmt::format("run {} ({} acks, durability {}): {}", run, acks.size(),
                    static_cast<int>(durability), (*store)->recovery_report().ToString());
    if (maybe && *now == *maybe) {
      model = *maybe;
      done += next + 1;
    } else {
      ASSERT_EQ(*now, acked) << context;
      model = acked;
      done += acked_end;
      // Transactions after the acknowledged prefix never happened; the next run starts over
      // from the first unacknowledged one, so skip to it.
    }
    absl::Status pages = SlotTable::CheckPages(**store);
    ASSERT_TRUE(pages.ok()) << context << ": " << pages;
    if (done + 400 > txns.size()) done = 0, model = *now;  // wrap (model is the store's state)
  }
  EXPECT_GT(killed_mid_run, runs / 2);
}

TEST(KillTest, Pread) { RunKills(DiskManagerKind::kPread, CrashRuns(30, 200)); }
TEST(KillTest, Mmap) { RunKills(DiskManagerKind::kMmap, CrashRuns(30, 200)); }

}  // namespace
}  // namespace pagestore::testing
