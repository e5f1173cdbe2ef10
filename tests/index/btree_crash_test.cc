// The WAL crash harness on a B+tree: transactions of inserts, puts and deletes (commits and
// aborts) cut by simulated power losses at seeded points; after recovery the tree equals the
// model of acknowledged commits and Verify() passes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>

#include "index/btree.h"
#include "index/catalog.h"
#include "tests/crash/crash_util.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

using Model = std::map<std::string, std::string>;

StoreOptions TreeCrashOptions() {
  StoreOptions o = SmallStoreOptions();
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  return o;
}

struct TreeTxn {
  struct Op {
    int kind;  // 0 insert, 1 put, 2 delete
    std::string key, value;
  };
  std::vector<Op> ops;
  bool commit;
};

std::vector<TreeTxn> MakeTreeWorkload(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<TreeTxn> out(n);
  for (auto& t : out) {
    t.commit = rng() % 5 != 0;
    const std::size_t ops = 1 + rng() % 6;
    for (std::size_t i = 0; i < ops; ++i) {
      TreeTxn::Op op;
      op.kind = static_cast<int>(rng() % 3);
      op.key = fmt::format("key{:05}", rng() % 400);
      op.value = std::string(rng() % 200, static_cast<char>('a' + rng() % 26));
      t.ops.push_back(std::move(op));
    }
  }
  return out;
}

// Applies `t`'s operations to `m` the way the tree does (insert of a present key and delete of
// an absent one fail and change nothing).
void ApplyToModel(const TreeTxn& t, Model& m) {
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

struct Outcome {
  Model acked;
  std::optional<Model> maybe;
  std::size_t commits = 0;
};

Outcome RunTxns(Store& store, BTree& tree, const std::vector<TreeTxn>& txns, Model start) {
  Outcome o;
  o.acked = std::move(start);
  for (std::size_t i = 0; i < txns.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) break;
    bool failed = false;
    for (const auto& op : txns[i].ops) {
      absl::Status s = op.kind == 0   ? tree.Insert(txn->get(), op.key, op.value)
                       : op.kind == 1 ? tree.Put(txn->get(), op.key, op.value)
                                      : tree.Delete(txn->get(), op.key);
      if (!s.ok() && !absl::IsAlreadyExists(s) && !absl::IsNotFound(s)) {
        failed = true;
        break;
      }
    }
    if (failed) break;
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

absl::StatusOr<Model> ReadTree(const BTree& tree) {
  Model m;
  auto it = tree.Begin();
  for (; it.Valid(); it.Next()) m.emplace(std::string(it.key()), std::string(it.value()));
  if (!it.status().ok()) return it.status();
  return m;
}

TEST(BTreeCrashTest, SimulatedPowerLossRecoversAcknowledgedCommits) {
  const std::size_t points = CrashRuns(300, 2000);
  const std::uint64_t base = TestSeed();
  std::size_t undone = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base * 7919 + point;
    std::mt19937_64 rng(seed);
    SimulatedStore sim(TreeCrashOptions());
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(**store));
    const PageId anchor = tree->anchor();
    Outcome warm = RunTxns(**store, *tree, MakeTreeWorkload(seed ^ 0x5555, 20), {});
    ASSERT_FALSE(warm.maybe);
    PS_ASSERT_OK((*store)->Checkpoint());
    const std::uint64_t crash_at = std::uniform_int_distribution<std::uint64_t>(1, 200)(rng);
    std::atomic<std::uint64_t> calls{0};
    sim.env().SetHook([&calls, crash_at] { return ++calls >= crash_at ? EIO : 0; });
    if (point % 3 == 2) {
      sim.fault()->FailCall(std::uniform_int_distribution<std::uint64_t>(1, 60)(rng), EIO, true);
      sim.fault()->TearNextWrite(std::uniform_int_distribution<int>(1, 7)(rng));
    }
    Outcome o = RunTxns(**store, *tree, MakeTreeWorkload(seed, 80), warm.acked);
    tree.reset();
    sim.PowerLoss(seed, point % 3 == 1 ? 0.5 : 0.0);

    absl::StatusOr<Store*> again = sim.Open();
    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {})", point, base, crash_at);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    undone += (*again)->recovery_report().transactions_undone;
    PS_ASSIGN_OR_FAIL(reopened, BTree::Open(**again, anchor));
    absl::Status verify = reopened->Verify();
    ASSERT_TRUE(verify.ok()) << context << ": " << verify;
    PS_ASSIGN_OR_FAIL(now, ReadTree(*reopened));
    if (!(o.maybe && now == *o.maybe)) {
      ASSERT_EQ(now.size(), o.acked.size()) << context;
      ASSERT_TRUE(now == o.acked) << context;
    }
  }
  EXPECT_GT(undone, 0u);
}

// Real process kills: a child runs tree transactions on a real file and reports each
// acknowledged commit through a pipe; the parent SIGKILLs it at a random moment and checks the
// reopened tree against the acknowledgements.
void RunTreeKills(DiskManagerKind kind, std::size_t runs) {
  TempDir dir;
  const std::filesystem::path path = dir.file("tree.pages");
  StoreOptions options = TreeCrashOptions();
  options.disk.kind = kind;
  options.disk.mmap = SmallMmapOptions().mmap;
  options.background_checkpoints = true;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    ASSERT_TRUE(catalog->CreateBTree("t").ok());
  }
  const std::uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  Model model;
  std::size_t killed = 0;
  for (std::size_t run = 0; run < runs; ++run) {
    options.durability =
        std::array{Durability::kSync, Durability::kNone, Durability::kGroup}[run % 3];
    const std::vector<TreeTxn> txns = MakeTreeWorkload(seed + run, 400);
    const KillRun kill = ForkAndKill(
        [&](int fd) {
          absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
          if (!store.ok()) _exit(2);
          absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
          if (!catalog.ok()) _exit(3);
          absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree("t");
          if (!tree.ok()) _exit(4);
          for (std::uint32_t i = 0; i < txns.size(); ++i) {
            absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
            if (!txn.ok()) _exit(5);
            for (const auto& op : txns[i].ops) {
              absl::Status s = op.kind == 0   ? (*tree)->Insert(txn->get(), op.key, op.value)
                               : op.kind == 1 ? (*tree)->Put(txn->get(), op.key, op.value)
                                              : (*tree)->Delete(txn->get(), op.key);
              if (!s.ok() && !absl::IsAlreadyExists(s) && !absl::IsNotFound(s)) _exit(6);
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
    Model acked = model;
    for (std::size_t i = 0; i < acked_end; ++i) {
      if (txns[i].commit) ApplyToModel(txns[i], acked);
    }
    std::optional<Model> maybe;
    std::size_t next = acked_end;
    while (next < txns.size() && !txns[next].commit) ++next;
    if (next < txns.size()) {
      maybe = acked;
      ApplyToModel(txns[next], *maybe);
    }
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << "run " << run << ": " << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    PS_ASSIGN_OR_FAIL(tree, catalog->OpenBTree("t"));
    absl::Status verify = tree->Verify();
    ASSERT_TRUE(verify.ok()) << "run " << run << ": " << verify;
    PS_ASSIGN_OR_FAIL(now, ReadTree(*tree));
    if (maybe && now == *maybe) {
      model = *maybe;
    } else {
      ASSERT_TRUE(now == acked) << "run " << run << " (" << acks.size()
                                << " acks): " << (*store)->recovery_report().ToString();
      model = acked;
    }
  }
  EXPECT_GT(killed, runs / 2);
}

TEST(BTreeCrashTest, KilledProcessPread) {
  RunTreeKills(DiskManagerKind::kPread, CrashRuns(20, 200));
}
TEST(BTreeCrashTest, KilledProcessMmap) {
  RunTreeKills(DiskManagerKind::kMmap, CrashRuns(20, 200));
}

}  // namespace
}  // namespace pagestore::testing
