// The WAL crash harness on a B+tree: transactions of inserts, puts and deletes (commits and
// aborts) cut by simulated power losses at seeded points; after recovery the tree equals the
// model of acknowledged commits and Verify() passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>

#include "index/btree.h"
#include "index/catalog.h"
#include "tests/index/index_crash_util.h"

namespace pagestore::testing {
namespace {

StoreOptions TreeCrashOptions() {
  StoreOptions o = SmallStoreOptions();
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  return o;
}

// `large`: one value in four is stored out of line (1 KiB to 40 KiB), over few keys, so that
// large values are overwritten and deleted often.
std::vector<IndexTxn> MakeWorkload(std::uint64_t seed, std::size_t n, bool large) {
  std::mt19937_64 rng(seed);
  std::vector<IndexTxn> out(n);
  for (auto& t : out) {
    t.commit = rng() % 5 != 0;
    const std::size_t ops = 1 + rng() % 6;
    for (std::size_t i = 0; i < ops; ++i) {
      IndexTxn::Op op;
      op.kind = static_cast<int>(rng() % 3);
      op.key = fmt::format("key{:05}", rng() % (large ? 40 : 400));
      const std::size_t size = large && rng() % 4 == 0 ? 1024 + rng() % (40 << 10) : rng() % 200;
      op.value = std::string(size, static_cast<char>('a' + rng() % 26));
      if (size > 8) op.value.replace(0, 8, fmt::format("{:08x}", rng() % 0xffffffff));
      t.ops.push_back(std::move(op));
    }
  }
  return out;
}
std::vector<IndexTxn> MakeTreeWorkload(std::uint64_t seed, std::size_t n) {
  return MakeWorkload(seed, n, /*large=*/false);
}

// The tree's entries, after Verify.
absl::StatusOr<IndexModel> ReadTree(const BTree& tree) {
  if (absl::Status s = tree.Verify(); !s.ok()) return s;
  IndexModel m;
  auto it = tree.Begin();
  for (; it.Valid(); it.Next()) m.emplace(std::string(it.key()), std::string(it.value()));
  if (!it.status().ok()) return it.status();
  return m;
}

// Every data page is the tree's or free after recovery: a crash at any point leaks no page of a
// large value, written or replaced.
void ExpectNoLeak(Store& store, const BTree& tree, const std::string& context) {
  std::vector<PageId> pages;
  absl::StatusOr<BTreeStats> stats = tree.Stats(&pages);
  ASSERT_TRUE(stats.ok()) << context << ": " << stats.status();
  std::vector<PageId> all = store.FreePages();
  all.insert(all.end(), pages.begin(), pages.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(std::adjacent_find(all.begin(), all.end()), all.end())
      << context << ": a page both free and the tree's";
  std::vector<PageId> expect;
  for (PageId id = kFirstDataPage; id < store.pool().page_count(); ++id) expect.push_back(id);
  std::vector<PageId> leaked;
  std::set_difference(expect.begin(), expect.end(), all.begin(), all.end(),
                      std::back_inserter(leaked));
  ASSERT_TRUE(leaked.empty()) << context << ": " << leaked.size() << " pages leaked, the first "
                              << leaked.front();
}

void RunPowerLosses(bool large, std::size_t points) {
  const std::uint64_t base = TestSeed();
  std::size_t undone = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base * 7919 + point;
    SimulatedStore sim(TreeCrashOptions());
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(**store));
    const PageId anchor = tree->anchor();
    IndexOutcome warm = RunIndexTxns(**store, *tree, MakeWorkload(seed ^ 0x5555, 20, large), {});
    ASSERT_FALSE(warm.maybe);
    PS_ASSERT_OK((*store)->Checkpoint());
    std::uint64_t crash_at = 0;
    const IndexOutcome o = RunToPowerLoss(sim, tree, MakeWorkload(seed, large ? 40 : 80, large),
                                          warm.acked, point, seed, crash_at);

    absl::StatusOr<Store*> again = sim.Open();
    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {})", point, base, crash_at);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    undone += (*again)->recovery_report().transactions_undone;
    PS_ASSIGN_OR_FAIL(reopened, BTree::Open(**again, anchor));
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(ReadTree(*reopened), o, context));
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, context));
  }
  EXPECT_GT(undone, 0u);
}

TEST(BTreeCrashTest, SimulatedPowerLossRecoversAcknowledgedCommits) {
  RunPowerLosses(/*large=*/false, CrashRuns(300, 2000));
}

TEST(BTreeCrashTest, LargeValuesSurvivePowerLossAndLeakNoPage) {
  RunPowerLosses(/*large=*/true, CrashRuns(150, 1000));
}

void RunTreeKills(DiskManagerKind kind, std::size_t runs) {
  RunIndexKills<BTree>({.file = "tree.pages",
                        .options = TreeCrashOptions(),
                        .create = [](Catalog& c) { return c.CreateBTree("t").status(); },
                        .open = [](Catalog& c) { return c.OpenBTree("t"); },
                        .workload = MakeTreeWorkload,
                        .read = ReadTree},
                       kind, runs);
}

TEST(BTreeCrashTest, KilledProcessPread) {
  RunTreeKills(DiskManagerKind::kPread, CrashRuns(20, 200));
}
TEST(BTreeCrashTest, KilledProcessMmap) {
  RunTreeKills(DiskManagerKind::kMmap, CrashRuns(20, 200));
}

}  // namespace
}  // namespace pagestore::testing
