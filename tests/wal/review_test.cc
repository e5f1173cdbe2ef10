// Regression tests for crash-consistency and error-path bugs found in review of the WAL layer,
// with forced interleavings, plus coverage of recovery crashing midway.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "tests/wal/wal_test_util.h"
#include "wal/store_core.h"

namespace pagestore::testing {
namespace {

bool Contains(const std::vector<PageId>& v, PageId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

// A page the file grows by for a mini-transaction that never ends, while another extends the file
// further and commits: the logged high-water mark passes the first page, so the log must name it
// (each extension is logged as grown-and-free at once) or it would be neither used nor free after
// a crash: leaked for good.
TEST(WalReviewTest, ExtendedPageOfUnfinishedMtrIsFreeAfterALaterExtensionCommits) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  ASSERT_TRUE(store->FreePages().empty());

  MiniTransaction pending = store->BeginMtr();
  PS_ASSIGN_OR_FAIL(first, pending.AllocatePage(PageType::kRaw));  // extends the file
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 0, "blob"));  // extends the file past `first`
    PS_ASSERT_OK(txn->Commit(Durability::kSync));
  }
  sim.Cut();
  { MiniTransaction gone = std::move(pending); }  // its rollback cannot reach the log
  sim.Reboot();

  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(model, SlotTable::Read(*again));
  EXPECT_EQ(model.blobs[0], "blob");
  EXPECT_TRUE(Contains(again->FreePages(), first)) << "page " << first << " leaked";
  absl::Status pages = SlotTable::CheckPages(*again);
  EXPECT_TRUE(pages.ok()) << pages;
}

// Reusing a page from the free list overwrites its frame (OverwritePage + InitPage). If that
// mini-transaction rolls back, the frame stays dirty with the initialized bytes; the pool must not
// write it before the record that freed the page is durable, or a crash that loses the freeing
// record would find the page in use again with its committed contents overwritten.
TEST(WalReviewTest, RolledBackReuseOfAFreedPageMustNotReachDiskBeforeTheFreeIsDurable) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 0, "committed"));
    PS_ASSERT_OK(txn->Commit(Durability::kSync));
  }
  PS_ASSERT_OK(store->Checkpoint());  // the blob page is on disk; nothing to redo for it
  ASSERT_TRUE(store->FreePages().empty());
  // Find the blob page: the only data page that is not the directory or a slot page.
  const PageId blob = store->pool().page_count() - 1;

  // An unfinished transaction replaces the blob: the old page is freed (appended, not durable).
  PS_ASSIGN_OR_FAIL(txn, store->Begin());
  PS_ASSERT_OK(SlotTable::SetBlob(*txn, 0, "replacement"));
  const Lsn freed_at = store->core().log->next_lsn() - 1;
  ASSERT_TRUE(Contains(store->FreePages(), blob));
  {
    MiniTransaction mtr = store->BeginMtr();
    PS_ASSIGN_OR_FAIL(reused, mtr.AllocatePage(PageType::kRaw));
    ASSERT_EQ(reused, blob);
    // destroyed uncommitted: rolled back
  }
  // Any page write-back (eviction, a FlushAll) obeys the WAL rule by the page's LSN.
  PS_ASSERT_OK(store->pool().FlushAll());
  EXPECT_GT(store->core().log->durable_lsn(), freed_at)
      << "page " << blob << " reached the disk before the record freeing it was durable";
  sim.Cut();
  txn.reset();
  sim.Reboot();

  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(model, SlotTable::Read(*again));
  EXPECT_EQ(model.blobs[0], "committed");
  absl::Status pages = SlotTable::CheckPages(*again);
  EXPECT_TRUE(pages.ok()) << pages;
}

// A failed runtime Abort (an undo handler error) leaves the transaction unfinished in the log.
// Destroying it must not drop it from the active table: the next checkpoint must still list it
// (and keep its log), so that recovery undoes it and no uncommitted change survives a crash.
TEST(WalReviewTest, TransactionWhoseAbortFailedIsStillUndoneByRecovery) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  PS_ASSERT_OK(store->Checkpoint());
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 5, 55));
    // The handler fails at runtime (say, a transient ResourceExhausted from the pool).
    store->RegisterUndoHandler(SlotTable::kRm, [](MiniTransaction&, std::span<const std::byte>) {
      return absl::ResourceExhaustedError("injected undo failure");
    });
    EXPECT_FALSE(txn->Abort().ok());
    // txn destroyed here: ~Transaction retries Abort (fails again) and forgets it.
  }
  store->RegisterUndoHandler(SlotTable::kRm, SlotTable::Handler());
  PS_ASSERT_OK(store->Checkpoint());
  sim.PowerLoss();

  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(model, SlotTable::Read(*again));
  EXPECT_EQ(model.values.count(5), 0u)
      << "the uncommitted Put(5, 55) survived recovery; " << again->recovery_report().ToString();
}

// After an Abort that failed partway, some of the transaction may be undone already: a Commit
// then would make the half-undone state permanent (and free, with its commit record, pages the
// undo has named again). It is refused; a second Abort finishes the rollback.
TEST(WalReviewTest, CommitAfterAFailedAbortIsRefused) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSERT_OK(SlotTable::Create(*store));
  PS_ASSIGN_OR_FAIL(txn, store->Begin());
  PS_ASSERT_OK(SlotTable::Put(*txn, 5, 55));
  store->RegisterUndoHandler(SlotTable::kRm, [](MiniTransaction&, std::span<const std::byte>) {
    return absl::ResourceExhaustedError("injected undo failure");
  });
  EXPECT_FALSE(txn->Abort().ok());
  const absl::Status commit = txn->Commit();
  EXPECT_TRUE(absl::IsFailedPrecondition(commit)) << commit;
  EXPECT_NE(commit.message().find("Abort again"), std::string::npos) << commit;
  store->RegisterUndoHandler(SlotTable::kRm, SlotTable::Handler());
  PS_ASSERT_OK(txn->Abort());
  PS_ASSIGN_OR_FAIL(model, SlotTable::Read(*store));
  EXPECT_EQ(model.values.count(5), 0u);
}

// A disk that loses power (the log's too) at its n-th Sync: the writes of the flush that Sync was
// to make durable are dropped, except a page torn by TearNextWrite, which lands torn.
class PowerCutAtSync final : public DiskManager {
 public:
  PowerCutAtSync(std::unique_ptr<FaultInjectionDiskManager> inner, MemoryLogEnv* env, int n,
                 double keep = 0.0)
      : inner_(std::move(inner)), env_(env), n_(n), keep_(keep) {}
  FaultInjectionDiskManager& fault() { return *inner_; }
  bool cut() const { return cut_; }

  absl::Status ReadPage(PageId id, PageSpan out) override { return inner_->ReadPage(id, out); }
  absl::Status WritePage(PageId id, PageSpan page) override { return inner_->WritePage(id, page); }
  absl::StatusOr<PageId> AllocatePage() override { return inner_->AllocatePage(); }
  absl::Status Sync() override {
    if (--n_ == 0) {
      cut_ = true;
      env_->SimulatePowerLoss();
      (void)inner_->SimulatePowerLoss(keep_);
      return absl::UnavailableError("power cut (injected)");
    }
    return inner_->Sync();
  }
  PageId page_count() const override { return inner_->page_count(); }
  SuperblockRoots roots() const override { return inner_->roots(); }
  void SetRoots(const SuperblockRoots& roots) override { inner_->SetRoots(roots); }
  absl::Status Advise(AccessPattern pattern) override { return inner_->Advise(pattern); }
  absl::Status WillNeed(PageId first, PageId last) override {
    return inner_->WillNeed(first, last);
  }
  DiskStats stats() const override { return inner_->stats(); }
  std::string_view name() const override { return inner_->name(); }
  const std::string& path() const override { return inner_->path(); }
  bool read_only() const override { return inner_->read_only(); }

 private:
  std::unique_ptr<FaultInjectionDiskManager> inner_;
  MemoryLogEnv* env_;
  int n_;
  double keep_;
  bool cut_ = false;
};

// Opens the simulated store over a disk that loses power at its `sync_no`-th Sync (keeping each
// unsynced page write with probability `keep`). True when the power was cut.
bool OpenAndCutAtSync(SimulatedStore& sim, int sync_no, double keep, bool tear) {
  absl::StatusOr<std::unique_ptr<MemoryDiskManager>> disk =
      MemoryDiskManager::Open(std::shared_ptr<MemoryFile>(&sim.file(), [](MemoryFile*) {}));
  EXPECT_TRUE(disk.ok()) << disk.status();
  if (!disk.ok()) return false;
  auto fault = std::make_unique<FaultInjectionDiskManager>(std::move(*disk));
  if (tear) fault->TearNextWrite(1);
  auto crashing = std::make_unique<PowerCutAtSync>(std::move(fault), &sim.env(), sync_no, keep);
  PowerCutAtSync* raw = crashing.get();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(
      std::move(crashing), std::shared_ptr<LogEnv>(&sim.env(), [](LogEnv*) {}), sim.options());
  const bool cut = !store.ok() || raw->cut();
  store = absl::UnknownError("closed");
  if (cut) sim.env().Reboot();
  return cut;
}

// Recovery's undo must log a full page image for a page whose last change precedes the checkpoint
// recovery starts from: if that page's write tears and the power fails before recovery's final
// checkpoint lands, the next recovery redoes the compensation record onto the torn page, which
// only an image can repair (byte ranges over an unreadable page would fail every later open).
TEST(WalReviewTest, PowerCutDuringRecoveryWithATornPageWriteIsRecoverable) {
  for (int sync_no = 1; sync_no <= 4; ++sync_no) {
    SCOPED_TRACE(fmt::format("power cut at recovery's disk sync #{}", sync_no));
    SimulatedStore sim;
    {
      PS_ASSIGN_OR_FAIL(store, sim.Open());
      PS_ASSERT_OK(SlotTable::Create(*store));
      {
        PS_ASSIGN_OR_FAIL(txn, store->Begin());
        PS_ASSERT_OK(SlotTable::Put(*txn, 3, 30));
        PS_ASSERT_OK(txn->Commit());
      }
      PS_ASSERT_OK(store->Checkpoint());
      // A loser whose change predates the last checkpoint (which wrote its page to disk).
      PS_ASSIGN_OR_FAIL(loser, store->Begin());
      PS_ASSERT_OK(SlotTable::Put(*loser, 117, 99));  // past the first sector
      PS_ASSERT_OK(store->Checkpoint());
      sim.Cut();
      loser.reset();
      sim.Reboot();
    }
    // Recovery undoes the loser, then the power fails with its first page write torn.
    if (!OpenAndCutAtSync(sim, sync_no, /*keep=*/0.0, /*tear=*/true)) break;
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << again.status();
    PS_ASSIGN_OR_FAIL(model, SlotTable::Read(**again));
    SlotTable::Model expected;
    expected.values[3] = 30;
    EXPECT_EQ(model, expected);
    absl::Status pages = SlotTable::CheckPages(**again);
    EXPECT_TRUE(pages.ok()) << pages;
  }
}

// A checkpoint's trunk pages must be pages no record after its redo LSN touches: were a trunk
// allocated, written and freed while the checkpoint syncs the log, recovery from that checkpoint
// would redo the page image onto the trunk page and, after a second power cut before recovery's
// own checkpoint, every later open would fail with DataLossError. The checkpoint reserves its
// trunks at the cut; allocations meanwhile get other pages.
TEST(WalReviewTest, TrunkPageReusedAfterTheCutSurvivesACrashDuringRecovery) {
  for (int sync_no = 1; sync_no <= 4; ++sync_no) {
    SCOPED_TRACE(fmt::format("power cut at recovery's disk sync #{}", sync_no));
    SimulatedStore sim;
    PageId page;
    {
      PS_ASSIGN_OR_FAIL(store, sim.Open());
      PS_ASSERT_OK(SlotTable::Create(*store));
      {
        MiniTransaction mtr = store->BeginMtr();
        PS_ASSIGN_OR_FAIL(p, mtr.AllocatePage(PageType::kRaw));
        page = p;
        PS_ASSERT_OK(mtr.Commit().status());
      }
      PS_ASSERT_OK(store->Checkpoint());
      {
        MiniTransaction mtr = store->BeginMtr();
        PS_ASSERT_OK(mtr.FreePage(page));
        PS_ASSERT_OK(mtr.Commit().status());  // appended, not yet durable
      }
      ASSERT_EQ(store->FreePages(), std::vector<PageId>{page});
      // While the checkpoint makes the log durable up to its cut, the page is allocated (and
      // written) and freed again.
      bool fired = false;
      sim.env().SetHook([&]() -> int {
        if (fired) return 0;
        fired = true;
        PageId q = kInvalidPageId;
        {
          MiniTransaction mtr = store->BeginMtr();
          absl::StatusOr<PageId> p = mtr.AllocatePage(PageType::kOverflow);
          EXPECT_TRUE(p.ok());
          // The checkpoint reserved the page free at its cut as a trunk: this is another one.
          EXPECT_NE(p.value_or(page), page);
          if (p.ok()) {
            q = *p;
            absl::StatusOr<PageSpan> w = mtr.GetForWrite(*p);
            EXPECT_TRUE(w.ok());
            if (w.ok()) std::memset(w->data() + kPageHeaderSize, 0xab, 100);
          }
          EXPECT_TRUE(mtr.Commit().ok());
        }
        {
          MiniTransaction mtr = store->BeginMtr();
          EXPECT_TRUE(mtr.FreePage(q).ok());
          EXPECT_TRUE(mtr.Commit().ok());
        }
        return 0;
      });
      PS_ASSERT_OK(store->Checkpoint());
      sim.env().SetHook(nullptr);
      ASSERT_TRUE(fired);
      PS_ASSERT_OK(store->FlushLog());
      sim.PowerLoss();
    }
    // Recovery from that checkpoint, with the power failing during it (each unsynced page write
    // may or may not have reached the disk).
    if (!OpenAndCutAtSync(sim, sync_no, /*keep=*/1.0, /*tear=*/false)) break;
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << again.status();
    absl::Status pages = SlotTable::CheckPages(**again);
    EXPECT_TRUE(pages.ok()) << pages;
    EXPECT_TRUE(Contains((*again)->FreePages(), page));
  }
}

}  // namespace
}  // namespace pagestore::testing
