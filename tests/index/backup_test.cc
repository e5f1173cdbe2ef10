// Store::Backup: an online copy while writers commit and abort, under both disk managers; the
// copy opens, passes Verify and holds, for each writer, exactly the state after one of its
// commits between the backup's start and end (all or nothing). Power loss at every step of a
// backup leaves the source intact and the destination absent or whole. Cancelling, an existing
// destination, and a leftover of an interrupted backup.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "index/btree.h"
#include "index/catalog.h"
#include "storage/memory_disk_manager.h"
#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"
#include "wal/store.h"

namespace pagestore::testing {
namespace {

using Model = std::map<std::string, std::string>;

void WriteFileBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

StoreOptions IndexStoreOptions() {
  StoreOptions o;
  o.pool_frames = 256;
  o.log.segment_size = kSegmentHeaderSize + (256 << 10);
  o.checkpoint_interval_bytes = 192 << 10;  // checkpoints while the backup runs
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  return o;
}

Model ReadAll(const BTree& tree) {
  Model m;
  for (BTree::Iterator it = tree.Begin(); it.Valid(); it.Next()) {
    m.emplace(std::string(it.key()), std::string(it.value()));
  }
  return m;
}

// The part of `m` whose keys start with `prefix`.
Model Slice(const Model& m, const std::string& prefix) {
  Model out;
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.starts_with(prefix); ++it) {
    out.insert(*it);
  }
  return out;
}

// Opens the store at `path` and returns its tree "t", verified.
void ExpectOpensAndVerifies(const std::filesystem::path& path, Model* out,
                            DiskManagerKind kind = DiskManagerKind::kPread) {
  StoreOptions o = IndexStoreOptions();
  o.disk.kind = kind;
  o.disk.mode = OpenMode::kOpenExisting;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree("t");
  ASSERT_TRUE(tree.ok()) << tree.status();
  ASSERT_TRUE((*tree)->Verify().ok()) << (*tree)->Verify();
  *out = ReadAll(**tree);
}

class BackupUnderLoadTest : public ::testing::TestWithParam<DiskManagerKind> {};

// One writer: transactions over its own keys ("w<t>/<k>"), each changing three keys to values
// stamped with the transaction's number, a quarter of them aborted. history[j] is its keys after
// its j-th commit.
struct Writer {
  std::vector<Model> history{Model{}};
  std::atomic<std::size_t> commits{0};
  absl::Status error;
};

void RunWriter(Store& store, BTree& tree, int t, Writer& w, const std::atomic<bool>& stop) {
  std::mt19937_64 rng(1000 + t);
  Model now;
  for (std::uint64_t n = 1; !stop.load(); ++n) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) {
      w.error = txn.status();
      return;
    }
    Model next = now;
    for (int i = 0; i < 3; ++i) {
      const std::string key = fmt::format("w{}/{:03}", t, rng() % 60);
      std::string value = fmt::format("{}:{}:", t, n);
      value.resize(value.size() + rng() % 700, static_cast<char>('a' + n % 26));
      if (absl::Status s = tree.Put(txn->get(), key, value); !s.ok()) {
        w.error = s;
        return;
      }
      next[key] = value;
    }
    if (n % 4 == 0) {
      if (absl::Status s = (*txn)->Abort(); !s.ok()) {
        w.error = s;
        return;
      }
      continue;
    }
    // The history entry exists before the commit can be seen in the log.
    w.history.push_back(next);
    if (absl::Status s = (*txn)->Commit(); !s.ok()) {
      w.error = s;
      return;
    }
    now = std::move(next);
    w.commits.store(w.history.size() - 1);
  }
}

TEST_P(BackupUnderLoadTest, CopyEqualsOneCommitPointOfEveryWriter) {
  TempDir dir;
  StoreOptions o = IndexStoreOptions();
  o.disk.kind = GetParam();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("src.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
  ASSERT_TRUE(tree.ok()) << tree.status();

  constexpr int kWriters = 4;
  std::vector<Writer> writers(kWriters);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] { RunWriter(**store, **tree, t, writers[t], stop); });
  }
  // Let the writers build up some state, then copy while they run.
  while (writers[0].commits.load() < 20) std::this_thread::yield();
  std::array<std::size_t, kWriters> before{}, after{};
  for (int t = 0; t < kWriters; ++t) before[t] = writers[t].commits.load();
  BackupOptions bo;
  bo.chunk_pages = 4;
  std::uint64_t reports = 0;
  bo.progress = [&](const BackupProgress& p) {
    ++reports;
    // Slow enough that the writers commit, evict and checkpoint throughout the copy.
    if (p.stage == BackupStage::kPages) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return true;
  };
  absl::StatusOr<BackupResult> r = (*store)->Backup(dir.file("copy.pages"), bo);
  for (int t = 0; t < kWriters; ++t) after[t] = writers[t].commits.load();
  stop = true;
  for (auto& th : threads) th.join();
  ASSERT_TRUE(r.ok()) << r.status();
  for (int t = 0; t < kWriters; ++t) ASSERT_TRUE(writers[t].error.ok()) << writers[t].error;
  EXPECT_GT(reports, 3u);
  EXPECT_GT(r->pages, 2u);
  EXPECT_GT(r->log_bytes, 0u);
  EXPECT_TRUE(r->damaged_pages.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.file("copy.pages.incomplete")));
  // The writers kept committing during the copy.
  std::size_t during = 0;
  for (int t = 0; t < kWriters; ++t) during += after[t] - before[t];
  EXPECT_GT(during, 0u);

  Model copy;
  ASSERT_NO_FATAL_FAILURE(ExpectOpensAndVerifies(dir.file("copy.pages"), &copy, GetParam()));
  std::size_t seen = 0;
  for (int t = 0; t < kWriters; ++t) {
    const Model mine = Slice(copy, fmt::format("w{}/", t));
    seen += mine.size();
    // A commit in flight when Backup returned may be in the copy too.
    const std::size_t last = std::min(after[t] + 1, writers[t].history.size() - 1);
    bool found = false;
    for (std::size_t j = before[t]; j <= last && !found; ++j) found = writers[t].history[j] == mine;
    EXPECT_TRUE(found) << "writer " << t << ": the copy's " << mine.size()
                       << " keys match none of its states after commits " << before[t] << ".."
                       << last;
  }
  EXPECT_EQ(seen, copy.size()) << "keys nobody wrote";
}

INSTANTIATE_TEST_SUITE_P(Managers, BackupUnderLoadTest,
                         ::testing::Values(DiskManagerKind::kPread, DiskManagerKind::kMmap),
                         [](const auto& info) {
                           return std::string(DiskManagerKindName(info.param));
                         });

// A source store in memory, filled with a known model, for the power-loss and error tests.
struct SimSource {
  SimulatedStore sim{[] {
    StoreOptions o = IndexStoreOptions();
    o.pool_frames = 64;
    o.background_checkpoints = false;
    return o;
  }()};
  Model model;

  void Fill() {
    ASSERT_TRUE(sim.Open().ok());
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(*sim.store());
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
    ASSERT_TRUE(tree.ok()) << tree.status();
    std::mt19937_64 rng(7);
    for (int n = 0; n < 40; ++n) {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = sim.store()->Begin();
      ASSERT_TRUE(txn.ok());
      Model next = model;
      for (int i = 0; i < 8; ++i) {
        const std::string key = fmt::format("k{:04}", rng() % 400);
        const std::string value(rng() % 600, static_cast<char>('a' + n % 26));
        ASSERT_TRUE((*tree)->Put(txn->get(), key, value).ok());
        next[key] = value;
      }
      if (n % 5 == 4) {
        ASSERT_TRUE((*txn)->Abort().ok());
      } else {
        ASSERT_TRUE((*txn)->Commit().ok());
        model = std::move(next);
      }
    }
  }

  // The source after a reboot: reopens, verifies and equals the model.
  void ExpectIntact() {
    absl::StatusOr<Store*> s = sim.Open();
    ASSERT_TRUE(s.ok()) << s.status();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**s);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree("t");
    ASSERT_TRUE(tree.ok()) << tree.status();
    EXPECT_TRUE((*tree)->Verify().ok());
    EXPECT_EQ(ReadAll(**tree), model);
  }
};

// The destination in memory: the directory of the page file and the copy's log directory.
struct SimDest {
  std::shared_ptr<MemoryLogEnv> dir = std::make_shared<MemoryLogEnv>("dest");
  std::shared_ptr<MemoryLogEnv> log = std::make_shared<MemoryLogEnv>("dest/copy.pages-wal");

  BackupOptions Options() const {
    BackupOptions o;
    o.chunk_pages = 8;
    o.dest_dir_env = dir;
    o.dest_log_env = log;
    return o;
  }
  bool HasPageFile() {
    absl::StatusOr<std::vector<std::string>> files = dir->ListFiles();
    return files.ok() && std::find(files->begin(), files->end(), "copy.pages") != files->end();
  }
  // Opens the copy (its page file's bytes as they are now, its log directory) and reads "t".
  void ExpectEquals(const Model& model) {
    std::vector<std::byte>* bytes = dir->MutableContents("copy.pages");
    ASSERT_NE(bytes, nullptr);
    ASSERT_EQ(bytes->size() % kPageSize, 0u);
    auto file = std::make_shared<MemoryFile>("copy.pages");
    file->Truncate(bytes->size() / kPageSize);
    for (PageId p = 0; p < bytes->size() / kPageSize; ++p) {
      std::memcpy(file->MutablePage(p), bytes->data() + p * kPageSize, kPageSize);
    }
    absl::StatusOr<std::unique_ptr<MemoryDiskManager>> disk = MemoryDiskManager::Open(file);
    ASSERT_TRUE(disk.ok()) << disk.status();
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(std::move(*disk), log, IndexStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree("t");
    ASSERT_TRUE(tree.ok()) << tree.status();
    EXPECT_TRUE((*tree)->Verify().ok()) << (*tree)->Verify();
    EXPECT_EQ(ReadAll(**tree), model);
  }
};

TEST(BackupTest, CopyInMemoryEqualsSource) {
  SimSource src;
  ASSERT_NO_FATAL_FAILURE(src.Fill());
  SimDest dest;
  absl::StatusOr<BackupResult> r = src.sim.store()->Backup("copy.pages", dest.Options());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->end_lsn, r->checkpoint_lsn);
  ASSERT_TRUE(dest.HasPageFile());
  ASSERT_NO_FATAL_FAILURE(dest.ExpectEquals(src.model));
  // A rate limit: the pages take at least their bytes over the rate.
  SimDest limited;
  BackupOptions lo = limited.Options();
  lo.max_bytes_per_second = 1 << 20;
  absl::StatusOr<BackupResult> slow = src.sim.store()->Backup("copy.pages", lo);
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_GE(std::chrono::duration<double>(slow->duration).count(),
            static_cast<double>(slow->pages * kPageSize) / (1 << 20));
  ASSERT_NO_FATAL_FAILURE(limited.ExpectEquals(src.model));
  // Again to the same place: refused, and the first copy stays.
  absl::StatusOr<BackupResult> again = src.sim.store()->Backup("copy.pages", dest.Options());
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
}

// Power loss at every counted call the backup makes on the destination, and at every progress
// report (which also cuts the source): the source reopens whole, and the destination either has
// no page file or opens as the whole copy.
TEST(BackupTest, PowerLossAtEveryStepLeavesSourceIntactAndDestinationAbsentOrWhole) {
  // How many destination calls a whole backup makes.
  std::uint64_t total_calls = 0, total_reports = 0;
  {
    SimSource src;
    ASSERT_NO_FATAL_FAILURE(src.Fill());
    SimDest dest;
    BackupOptions o = dest.Options();
    o.progress = [&](const BackupProgress&) { return ++total_reports, true; };
    ASSERT_TRUE(src.sim.store()->Backup("copy.pages", o).ok());
    total_calls = dest.dir->calls() + dest.log->calls();
  }
  ASSERT_GT(total_calls, 10u);
  std::size_t whole = 0, absent = 0;
  for (std::uint64_t point = 1; point <= total_calls + total_reports; ++point) {
    SCOPED_TRACE(
        fmt::format("crash point {} of {} calls + {} reports", point, total_calls, total_reports));
    SimSource src;
    ASSERT_NO_FATAL_FAILURE(src.Fill());
    SimDest dest;
    bool crashed = false;
    auto crash = [&] {
      if (crashed) return;
      crashed = true;
      src.sim.Cut(point, point % 2 == 0 ? 0.5 : 0.0);
      dest.dir->SimulatePowerLoss(point % 2 == 0 ? 0.5 : 0.0, point);
      dest.log->SimulatePowerLoss(point % 2 == 0 ? 0.5 : 0.0, point + 1);
    };
    BackupOptions o = dest.Options();
    if (point <= total_calls) {
      // The point-th destination call never happens: the power goes first.
      // (The hook runs under the environment's lock: the power goes once Backup returns; until
      // then every destination call fails, so nothing more reaches it.)
      auto calls = std::make_shared<std::uint64_t>(0);
      auto hook = [&, calls]() -> int {
        if (++*calls == point) crashed = true;
        return crashed ? EIO : 0;
      };
      dest.dir->SetHook(hook);
      dest.log->SetHook(hook);
    } else {
      auto reports = std::make_shared<std::uint64_t>(0);
      o.progress = [&, reports](const BackupProgress&) {
        if (++*reports == point - total_calls) crash();
        return !crashed;
      };
    }
    absl::StatusOr<BackupResult> r = src.sim.store()->Backup("copy.pages", o);
    if (!crashed) {
      // The last report (kDone) comes after the backup is whole.
      ASSERT_TRUE(r.ok()) << r.status();
    } else if (point <= total_calls) {
      EXPECT_FALSE(r.ok());
    }
    dest.dir->SetHook(nullptr);
    dest.log->SetHook(nullptr);
    crashed = false;
    crash();
    src.sim.Reboot();
    dest.dir->Reboot();
    dest.log->Reboot();
    dest.dir->SetHook(nullptr);
    dest.log->SetHook(nullptr);
    ASSERT_NO_FATAL_FAILURE(src.ExpectIntact());
    if (dest.HasPageFile()) {
      ++whole;
      ASSERT_NO_FATAL_FAILURE(dest.ExpectEquals(src.model));
    } else {
      ++absent;
    }
  }
  EXPECT_GT(whole, 0u);
  EXPECT_GT(absent, 0u);
}

TEST(BackupTest, CancelLeavesNothingAndALaterBackupSucceeds) {
  SimSource src;
  ASSERT_NO_FATAL_FAILURE(src.Fill());
  SimDest dest;
  BackupOptions o = dest.Options();
  int reports = 0;
  o.progress = [&](const BackupProgress& p) {
    return !(p.stage == BackupStage::kPages && ++reports == 3);
  };
  absl::StatusOr<BackupResult> r = src.sim.store()->Backup("copy.pages", o);
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  EXPECT_FALSE(dest.HasPageFile());
  absl::StatusOr<std::vector<std::string>> files = dest.dir->ListFiles();
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty()) << files->front();
  files = dest.log->ListFiles();
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
  // The log the cancelled backup pinned is released: checkpoints remove it again.
  ASSERT_TRUE(src.sim.store()->Backup("copy.pages", dest.Options()).ok());
  ASSERT_NO_FATAL_FAILURE(dest.ExpectEquals(src.model));
}

TEST(BackupTest, LeftoversOfAnInterruptedBackupAreReplaced) {
  TempDir dir;
  StoreOptions o = IndexStoreOptions();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("src.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  ASSERT_TRUE(catalog.ok());
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
  ASSERT_TRUE(tree.ok());
  ASSERT_TRUE((*tree)->Put(nullptr, "a", "1").ok());
  // What a crash mid-backup leaves: a half-written page file, a log segment and the marker.
  std::filesystem::create_directory(dir.file("copy.pages-wal"));
  WriteFileBytes(dir.file("copy.pages.incomplete"), std::string(10000, 'x'));
  WriteFileBytes(dir.file("copy.pages-wal") / "0000000000000003.wal", std::string(5000, 'y'));
  WriteFileBytes(dir.file("copy.pages-wal") / "BACKUP-INCOMPLETE", "");
  absl::StatusOr<BackupResult> r = (*store)->Backup(dir.file("copy.pages"));
  ASSERT_TRUE(r.ok()) << r.status();
  Model copy;
  ASSERT_NO_FATAL_FAILURE(ExpectOpensAndVerifies(dir.file("copy.pages"), &copy));
  EXPECT_EQ(copy, (Model{{"a", "1"}}));
  EXPECT_FALSE(std::filesystem::exists(dir.file("copy.pages-wal") / "BACKUP-INCOMPLETE"));
  // A log without the marker may be another store's (opened over its own log directory): the
  // backup refuses and leaves it.
  std::filesystem::create_directory(dir.file("live.pages-wal"));
  WriteFileBytes(dir.file("live.pages-wal") / "0000000000000001.wal", std::string(5000, 'z'));
  r = (*store)->Backup(dir.file("live.pages"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_TRUE(std::filesystem::exists(dir.file("live.pages-wal") / "0000000000000001.wal"));
  // A stranger's file in the log directory is not removed: the backup refuses.
  std::filesystem::create_directory(dir.file("other.pages-wal"));
  WriteFileBytes(dir.file("other.pages-wal") / "notes.txt", "mine");
  r = (*store)->Backup(dir.file("other.pages"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_TRUE(std::filesystem::exists(dir.file("other.pages-wal") / "notes.txt"));
}

}  // namespace
}  // namespace pagestore::testing
