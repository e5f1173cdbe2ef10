#include <gtest/gtest.h>

#include <thread>

#include "tests/wal/wal_test_util.h"
#include "wal/store_core.h"

namespace pagestore::testing {
namespace {

TEST(StoreTest, CommittedChangesSurvivePowerLossAndAbortsAreUndone) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  EXPECT_TRUE(store->recovery_report().new_store);
  PS_ASSERT_OK(SlotTable::Create(*store));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 5, 50));
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 1, "hello"));
    PS_ASSERT_OK(txn->Commit());
  }
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 5, 51));
    PS_ASSERT_OK(SlotTable::Put(*txn, 6, 60));
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 1, "bye"));
    PS_ASSERT_OK(txn->Abort());
  }
  SlotTable::Model expected;
  expected.values[5] = 50;
  expected.blobs[1] = "hello";
  PS_ASSIGN_OR_FAIL(now, SlotTable::Read(*store));
  EXPECT_EQ(now, expected);
  PS_EXPECT_OK(SlotTable::CheckPages(*store));
  // An uncommitted transaction in flight at the crash.
  PS_ASSIGN_OR_FAIL(loser, store->Begin());
  PS_ASSERT_OK(SlotTable::Put(*loser, 7, 70));
  PS_ASSERT_OK(SlotTable::SetBlob(*loser, 2, "never"));
  PS_ASSERT_OK(store->FlushLog());  // its records are durable, its commit is not
  sim.Cut();
  loser.reset();
  sim.Reboot();

  PS_ASSIGN_OR_FAIL(again, sim.Open());
  const RecoveryReport& r = again->recovery_report();
  EXPECT_FALSE(r.new_store);
  EXPECT_EQ(r.transactions_undone, 1u) << r.ToString();
  EXPECT_EQ(r.operations_undone, 2u) << r.ToString();
  EXPECT_GT(r.records_scanned, 0u);
  PS_ASSIGN_OR_FAIL(after, SlotTable::Read(*again));
  EXPECT_EQ(after, expected);
  PS_EXPECT_OK(SlotTable::CheckPages(*again));
}

}  // namespace
}  // namespace pagestore::testing

namespace pagestore::testing {
namespace {

absl::Status PutOne(Store& store, std::uint64_t key, std::uint64_t value,
                    std::optional<Durability> d = std::nullopt) {
  absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
  if (!txn.ok()) return txn.status();
  if (absl::Status s = SlotTable::Put(**txn, key, value); !s.ok()) return s;
  return (*txn)->Commit(d);
}

TEST(StoreTest, TornPageWriteIsRepairedFromItsFullPageImage) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  PS_ASSERT_OK(PutOne(*store, 0, 1));
  PS_ASSERT_OK(store->Checkpoint());
  // The first change after the checkpoint logs the whole page; then the page write tears.
  PS_ASSERT_OK(PutOne(*store, 3, 33));
  PS_ASSERT_OK(store->pool().FlushAll());
  // Key 117's slot lies past the first 512-byte sector of the page; the write tears there.
  PS_ASSERT_OK(PutOne(*store, 117, 66));
  sim.fault()->TearNextWrite(1);
  PS_ASSERT_OK(store->pool().FlushPage(SlotTable::kDirectory + 1));
  sim.PowerLoss();
  // Without the log the torn page is detected, never returned as data.
  {
    PS_ASSIGN_OR_FAIL(
        raw, MemoryDiskManager::Open(std::shared_ptr<MemoryFile>(&sim.file(), [](MemoryFile*) {})));
    Page page;
    absl::Status s = raw->ReadPage(SlotTable::kDirectory + 1, page);
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  EXPECT_GT(again->recovery_report().page_images, 0u) << again->recovery_report().ToString();
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*again));
  SlotTable::Model expected;
  expected.values = {{0, 1}, {3, 33}, {117, 66}};
  EXPECT_EQ(m, expected);
}

TEST(StoreTest, CheckpointThenCrashRecoversFromTheCheckpoint) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  for (std::uint64_t k = 0; k < 20; ++k) PS_ASSERT_OK(PutOne(*store, k, k + 100));
  PS_ASSERT_OK(store->Checkpoint());
  const Lsn checkpoint = store->pool().roots().checkpoint_lsn;
  for (std::uint64_t k = 20; k < 30; ++k) PS_ASSERT_OK(PutOne(*store, k, k + 100));
  sim.PowerLoss();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  const RecoveryReport& r = again->recovery_report();
  EXPECT_EQ(r.checkpoint_lsn, checkpoint);
  EXPECT_GT(r.start_lsn, kFirstLsn);
  EXPECT_EQ(r.records_scanned, 21u) << r.ToString();  // checkpoint + 10 x (mtr, commit)
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*again));
  EXPECT_EQ(m.values.size(), 30u);
  EXPECT_EQ(m.values[29], 129u);
}

TEST(StoreTest, LogFsyncFailureIsFinalAndReopeningRecovers) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  PS_ASSERT_OK(PutOne(*store, 1, 10));
  // Two calls per commit: write, then fdatasync. Fail the fdatasync.
  sim.env().FailCall(2, EIO);
  absl::Status s = PutOne(*store, 2, 20);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_FALSE(store->failure().ok());
  absl::StatusOr<std::unique_ptr<Transaction>> next = store->Begin();
  EXPECT_TRUE(absl::IsFailedPrecondition(next.status())) << next.status();
  {
    MiniTransaction mtr = store->BeginMtr();
    EXPECT_TRUE(absl::IsFailedPrecondition(mtr.AllocatePage(PageType::kRaw).status()));
  }
  EXPECT_TRUE(absl::IsFailedPrecondition(store->Checkpoint()));
  sim.PowerLoss();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*again));
  EXPECT_EQ(m.values[1], 10u);
  EXPECT_FALSE(m.values.contains(2));  // never acknowledged, never synced
  PS_EXPECT_OK(PutOne(*again, 2, 21));
}

TEST(StoreTest, WaitingCommittersGetTheFsyncError) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  // Every fdatasync takes a while and the 5th log call fails: committers waiting behind the
  // failing leader must see an error, never OK.
  std::atomic<int> calls{0};
  sim.env().SetHook([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return ++calls == 5 ? EIO : 0;
  });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::uint64_t> acked(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 5; ++i) {
        if (PutOne(*store, static_cast<std::uint64_t>(t), static_cast<std::uint64_t>(i)).ok()) {
          acked[t] = i;
          ++ok;
        } else {
          ++failed;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(failed.load(), 0);
  sim.PowerLoss();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*again));
  for (int t = 0; t < 8; ++t) {
    // Acknowledged commits are there; the one that failed may or may not be (it was never
    // acknowledged), but nothing newer.
    const std::uint64_t v = m.values.contains(t) ? m.values[t] : 0;
    EXPECT_GE(v, acked[t]) << "thread " << t;
    EXPECT_LE(v, acked[t] + 1) << "thread " << t;
  }
}

TEST(StoreTest, FreedPagesAreReusedAndTheLogStaysBounded) {
  StoreOptions options = SmallStoreOptions();
  SimulatedStore sim(options);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  std::size_t max_segments = 0;
  PageId max_pages = 0;
  for (int i = 0; i < 3000; ++i) {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, i % SlotTable::kBlobs, std::string(200 + i % 50, 'x')));
    PS_ASSERT_OK(SlotTable::Put(*txn, i % SlotTable::kKeys, i + 1));
    PS_ASSERT_OK(txn->Commit());
    if (i >= 500) {
      max_segments = std::max(max_segments, store->core().log->segment_count());
      max_pages = std::max(max_pages, store->pool().page_count());
    }
  }
  const StoreStats st = store->stats();
  EXPECT_GT(st.checkpoints, 10u);
  EXPECT_GT(st.pages_reused, 2500u);
  // 3000 blob rewrites: without reuse the file would hold ~3000 pages.
  EXPECT_LT(max_pages, 40u);
  // Checkpoints every 48 KiB of log in 68 KiB segments: a handful of segments at most.
  EXPECT_LE(max_segments, 4u);
  EXPECT_GT(store->log_stats().segments_recycled, 0u);
  PS_EXPECT_OK(SlotTable::CheckPages(*store));
  sim.PowerLoss();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_EXPECT_OK(SlotTable::CheckPages(*again));
  EXPECT_LT(again->pool().page_count(), 40u);
}

TEST(StoreTest, BadInputGetsClearErrors) {
  TempDir dir;
  StoreOptions options = SmallStoreOptions();
  const auto path = dir.file("db.pages");
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSERT_OK(SlotTable::Create(*store));
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 1, 2));
    PS_ASSERT_OK(txn->Commit());
  }
  // Read-only: a store must be able to recover and log.
  StoreOptions ro = options;
  ro.disk.mode = OpenMode::kReadOnly;
  EXPECT_TRUE(absl::IsInvalidArgument(Store::Open(path, ro).status()));
  // A loser whose undo handler is not registered.
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 1, 3));
    PS_ASSERT_OK(store->FlushLog());
    // Kill it: copy the files as they are now (the process "dies" with txn open).
    std::filesystem::copy(path, dir.file("crashed.pages"));
    std::filesystem::copy(path.string() + "-wal", dir.file("crashed.pages-wal"),
                          std::filesystem::copy_options::recursive);
    PS_ASSERT_OK(txn->Abort());
  }
  StoreOptions no_handler = options;
  no_handler.undo_handlers.clear();
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(dir.file("crashed.pages"), no_handler);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("resource manager 7"), std::string::npos) << s.status();
  // With the handler it recovers, undoing the loser.
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(dir.file("crashed.pages"), options));
    EXPECT_EQ(store->recovery_report().transactions_undone, 1u);
    PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*store));
    EXPECT_EQ(m.values[1], 2u);
  }
  // The log directory is gone but the superblock names a checkpoint.
  std::filesystem::remove_all(path.string() + "-wal");
  s = Store::Open(path, options);
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("checkpoint at LSN"), std::string::npos) << s.status();
}

TEST(StoreTest, AbsoluteConsistencyRefusesATornTailThatToleranceDrops) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  PS_ASSERT_OK(PutOne(*store, 1, 1));
  PS_ASSERT_OK(PutOne(*store, 2, 2, Durability::kNone));  // written, not synced
  sim.Cut();
  sim.Reboot();
  // Append garbage after the synced records, as a torn write would leave.
  PS_ASSIGN_OR_FAIL(names, sim.env().ListFiles());
  std::vector<std::byte>* seg = nullptr;
  for (const auto& n : names) {
    if (n.ends_with(".wal")) seg = sim.env().MutableContents(n);
  }
  ASSERT_NE(seg, nullptr);
  // Find the end of the records (first zero header after the segment header) and tear there.
  std::size_t off = kSegmentHeaderSize;
  while (off + 8 < seg->size()) {
    std::uint32_t len;
    std::memcpy(&len, seg->data() + off + 8, 4);
    if (len == 0) break;
    off += AlignRecord(len);
  }
  for (std::size_t i = 0; i < 100; ++i) (*seg)[off + i] = std::byte{0x5a};
  sim.options().recovery_mode = RecoveryMode::kAbsoluteConsistency;
  absl::StatusOr<Store*> absolute = sim.Open();
  EXPECT_TRUE(absl::IsDataLoss(absolute.status())) << absolute.status();
  sim.options().recovery_mode = RecoveryMode::kTolerateTail;
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  EXPECT_EQ(again->recovery_report().damaged_tail_lsn, kFirstLsn + (off - kSegmentHeaderSize));
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*again));
  EXPECT_EQ(m.values[1], 1u);
  EXPECT_FALSE(m.values.contains(2));
}

class StoreFileTest : public ::testing::TestWithParam<DiskManagerKind> {};

TEST_P(StoreFileTest, RealFilesReopenAndSwapDiskManagersUnderALiveStore) {
  TempDir dir;
  StoreOptions options = SmallStoreOptions();
  options.disk.kind = GetParam();
  options.disk.mmap = SmallMmapOptions().mmap;
  const auto path = dir.file("db.pages");
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    EXPECT_TRUE(store->recovery_report().new_store);
    PS_ASSERT_OK(SlotTable::Create(*store));
    PS_ASSERT_OK(PutOne(*store, 1, 11));
    DiskManagerOptions other = options.disk;
    other.kind =
        GetParam() == DiskManagerKind::kPread ? DiskManagerKind::kMmap : DiskManagerKind::kPread;
    PS_ASSERT_OK(store->pool().SwapDiskManager(other));
    PS_ASSERT_OK(PutOne(*store, 2, 22));
    PS_ASSERT_OK(store->Checkpoint());
    PS_ASSERT_OK(PutOne(*store, 3, 33));
  }
  EXPECT_TRUE(std::filesystem::is_directory(path.string() + "-wal"));
  PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
  PS_ASSIGN_OR_FAIL(m, SlotTable::Read(*store));
  SlotTable::Model expected;
  expected.values = {{1, 11}, {2, 22}, {3, 33}};
  EXPECT_EQ(m, expected);
  PS_EXPECT_OK(SlotTable::CheckPages(*store));
}

INSTANTIATE_TEST_SUITE_P(Kinds, StoreFileTest,
                         ::testing::Values(DiskManagerKind::kPread, DiskManagerKind::kMmap),
                         [](const auto& info) {
                           return std::string(DiskManagerKindName(info.param));
                         });

}  // namespace
}  // namespace pagestore::testing
