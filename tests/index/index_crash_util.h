// The crash harness the index crash tests share: workloads of transactions of inserts, puts and
// deletes, the model of what acknowledged commits leave, running a workload on an index until a
// simulated crash stops it, checking a recovered index against the model, and the loop of real
// process kills. The index is a template parameter (BTree and HashIndex have the same Insert, Put
// and Delete); each test says how to create, open and read its own.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "index/catalog.h"
#include "tests/crash/crash_util.h"
#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"
#include "wal/store.h"

namespace pagestore::testing {

// What an index holds: key to value.
using IndexModel = std::map<std::string, std::string>;

struct IndexTxn {
  struct Op {
    int kind;  // 0 insert, 1 put, 2 delete
    std::string key, value;
  };
  std::vector<Op> ops;
  bool commit;
};

// Applies `t`'s operations to `m` the way the index does (insert of a present key and delete of
// an absent one fail and change nothing).
inline void ApplyToModel(const IndexTxn& t, IndexModel& m) {
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

// Runs `op` on `index`: an insert of a present key or a delete of an absent one is no error.
template <typename Index>
absl::Status RunIndexOp(Index& index, Transaction* txn, const IndexTxn::Op& op) {
  absl::Status s = op.kind == 0   ? index.Insert(txn, op.key, op.value)
                   : op.kind == 1 ? index.Put(txn, op.key, op.value)
                                  : index.Delete(txn, op.key);
  return absl::IsAlreadyExists(s) || absl::IsNotFound(s) ? absl::OkStatus() : s;
}

struct IndexOutcome {
  IndexModel acked;
  std::optional<IndexModel> maybe;  // plus the commit in flight at the crash
  std::size_t commits = 0;
};

// Runs `txns` on `index`, which holds `start`, until an error (the crash) or the end.
template <typename Index>
IndexOutcome RunIndexTxns(Store& store, Index& index, const std::vector<IndexTxn>& txns,
                          IndexModel start) {
  IndexOutcome o;
  o.acked = std::move(start);
  for (std::size_t i = 0; i < txns.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) break;
    bool failed = false;
    for (const auto& op : txns[i].ops) {
      if (!RunIndexOp(index, txn->get(), op).ok()) {
        failed = true;
        break;
      }
    }
    if (failed) break;
    // As if other threads committed or checkpointed meanwhile: this transaction's records
    // become durable before its end, so a crash leaves a loser for recovery to undo.
    if (i % 5 == 3 && !store.FlushLog().ok()) break;
    if (i % 11 == 7 && !store.Checkpoint().ok()) break;
    if (!txns[i].commit) {
      if (!(*txn)->Abort().ok()) break;
      continue;
    }
    if ((*txn)->Commit().ok()) {
      ApplyToModel(txns[i], o.acked);
      ++o.commits;
    } else {
      IndexModel m = o.acked;
      ApplyToModel(txns[i], m);
      o.maybe = std::move(m);
      break;
    }
  }
  return o;
}

// From now on `sim`'s `n`-th log call fails, and every one after it.
inline void FailLogCallsFrom(SimulatedStore& sim, std::uint64_t n) {
  sim.env().SetHook([calls = std::make_shared<std::atomic<std::uint64_t>>(0), n] {
    return ++*calls >= n ? EIO : 0;
  });
}

// Simulated crash point `point` with seed `seed`: starts the crash clock (the n-th log call from
// now fails, n from 1 to 200, set in `crash_at`, and every one after it; at every third point a
// page file call fails too and the next page write tears), runs `txns` on `index`, which holds
// `start`, until the clock stops them, drops the index and cuts the power (at every third point
// half of what was not synced survives). The store is then ready to Open again.
// `before_cut`: runs after the workload, before the power goes (the store is still open).
template <typename Index>
IndexOutcome RunToPowerLoss(SimulatedStore& sim, std::unique_ptr<Index>& index,
                            const std::vector<IndexTxn>& txns, IndexModel start, std::size_t point,
                            std::uint64_t seed, std::uint64_t& crash_at,
                            const std::function<void()>& before_cut = {}) {
  std::mt19937_64 rng(seed);
  crash_at = std::uniform_int_distribution<std::uint64_t>(1, 200)(rng);
  FailLogCallsFrom(sim, crash_at);
  if (point % 3 == 2) {
    sim.fault()->FailCall(std::uniform_int_distribution<std::uint64_t>(1, 60)(rng), EIO, true);
    sim.fault()->TearNextWrite(std::uniform_int_distribution<int>(1, 7)(rng));
  }
  IndexOutcome o = RunIndexTxns(*sim.store(), *index, txns, std::move(start));
  if (before_cut) before_cut();
  index.reset();
  sim.PowerLoss(seed, point % 3 == 1 ? 0.5 : 0.0);
  return o;
}

// `now`, the recovered index read into a model, equals the acknowledged commits (or those plus
// the one in flight).
inline void ExpectRecovered(const absl::StatusOr<IndexModel>& now, const IndexOutcome& o,
                            const std::string& context) {
  ASSERT_TRUE(now.ok()) << context << ": " << now.status();
  if (o.maybe && *now == *o.maybe) return;
  ASSERT_EQ(now->size(), o.acked.size()) << context;
  ASSERT_TRUE(*now == o.acked) << context;
}

// How the kill loop makes, opens and reads one kind of index.
template <typename Index>
struct IndexKills {
  std::string file;      // the page file's name, in a new TempDir
  StoreOptions options;  // with the index's undo handler
  std::function<absl::Status(Catalog&)> create;
  std::function<absl::StatusOr<std::unique_ptr<Index>>(Catalog&)> open;
  std::function<std::vector<IndexTxn>(std::uint64_t seed, std::size_t n)> workload;
  std::function<absl::StatusOr<IndexModel>(const Index&)> read;  // checks the index on the way
};

// Real process kills: a child runs transactions on the index in a real file and reports each
// acknowledged commit through a pipe; the parent SIGKILLs it at a random moment and checks the
// reopened index against the acknowledgements.
template <typename Index>
void RunIndexKills(const IndexKills<Index>& k, DiskManagerKind kind, std::size_t runs) {
  TempDir dir;
  const std::filesystem::path path = dir.file(k.file);
  StoreOptions options = k.options;
  options.disk.kind = kind;
  options.disk.mmap = SmallMmapOptions().mmap;
  options.background_checkpoints = true;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    absl::Status created = k.create(*catalog);
    ASSERT_TRUE(created.ok()) << created;
  }
  const std::uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  IndexModel model;
  std::size_t killed = 0;
  for (std::size_t run = 0; run < runs; ++run) {
    options.durability =
        std::array{Durability::kSync, Durability::kNone, Durability::kGroup}[run % 3];
    const std::vector<IndexTxn> txns = k.workload(seed + run, 400);
    const KillRun kill = ForkAndKill(
        [&](int fd) {
          absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
          if (!store.ok()) _exit(2);
          absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
          if (!catalog.ok()) _exit(3);
          absl::StatusOr<std::unique_ptr<Index>> index = k.open(**catalog);
          if (!index.ok()) _exit(4);
          for (std::uint32_t i = 0; i < txns.size(); ++i) {
            absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
            if (!txn.ok()) _exit(5);
            for (const auto& op : txns[i].ops) {
              if (!RunIndexOp(**index, txn->get(), op).ok()) _exit(6);
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
    // Every commit up to the last acknowledged one, maybe with the next commit (in flight).
    const std::vector<std::uint32_t>& acks = kill.acks;
    const std::size_t acked_end = acks.empty() ? 0 : acks.back() + 1;
    IndexOutcome o;
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
    PS_ASSIGN_OR_FAIL(index, k.open(*catalog));
    const std::string context =
        fmt::format("run {} ({} acks, PAGESTORE_TEST_SEED={}): {}", run, acks.size(), seed,
                    (*store)->recovery_report().ToString());
    const absl::StatusOr<IndexModel> now = k.read(*index);
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(now, o, context));
    model = *now;
  }
  EXPECT_GT(killed, runs / 2);
}

}  // namespace pagestore::testing
