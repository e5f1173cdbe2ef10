// The buffer pool as an engine uses it: guards, eviction and write-back, exhaustion, scan
// resistance, the WAL rule, I/O faults and corrupt pages.
#include "buffer/buffer_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/fault_injection_disk_manager.h"
#include "tests/buffer/pool_test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

TEST(BufferPoolTest, CreateRejectsBadArguments) {
  auto mem = std::make_shared<MemoryFile>();
  EXPECT_TRUE(absl::IsInvalidArgument(BufferPool::Create(0, OpenMemory(mem)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(BufferPool::Create(4, nullptr).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      BufferPool::Create(4, OpenMemory(mem),
                         {.replacer = {.policy = ReplacerOptions::Policy::kLruK, .k = 0}})
          .status()));
}

TEST(BufferPoolTest, GuardsMoveReleaseAndExposeThePage) {
  auto pool = MakeMemoryPool(4);
  PS_ASSIGN_OR_FAIL(w, pool->NewPage(PageType::kRaw));
  const PageId id = w.page_id();
  EXPECT_GE(id, kFirstDataPage);
  w.AsMut<std::uint64_t>()[10] = 0xfeed;
  w.set_lsn(42);
  EXPECT_EQ(w.lsn(), 42u);
  WritePageGuard moved = std::move(w);
  EXPECT_FALSE(w.valid());
  EXPECT_TRUE(moved.valid());
  moved.Release();
  moved.Release();  // idempotent
  w.Release();      // a moved-from guard releases nothing
  PS_ASSIGN_OR_FAIL(r, pool->ReadPage(id));
  EXPECT_EQ(r.As<std::uint64_t>()[10], 0xfeedu);
  EXPECT_EQ(r.lsn(), 42u);
  EXPECT_EQ(r.page_id(), id);
  // Two readers share the page.
  PS_ASSIGN_OR_FAIL(r2, pool->ReadPage(id));
  EXPECT_EQ(r2.data().data(), r.data().data());
  ReadPageGuard r3;
  r3 = std::move(r2);
  EXPECT_TRUE(r3.valid());
}

TEST(BufferPoolTest, MovingOntoALiveGuardReleasesItsPage) {
  auto pool = MakeMemoryPool(2);
  std::vector<PageId> ids = CreatePages(*pool, 3);
  PS_ASSIGN_OR_FAIL(a, pool->ReadPage(ids[0]));
  PS_ASSIGN_OR_FAIL(b, pool->ReadPage(ids[1]));
  EXPECT_TRUE(absl::IsResourceExhausted(pool->ReadPage(ids[2]).status()));
  a = std::move(b);  // releases ids[0]'s frame
  EXPECT_EQ(a.page_id(), ids[1]);
  PS_ASSIGN_OR_FAIL(c, pool->ReadPage(ids[2]));
  c.Release();
  a.Release();
  // The same for write guards.
  PS_ASSIGN_OR_FAIL(w1, pool->WritePage(ids[0]));
  PS_ASSIGN_OR_FAIL(w2, pool->WritePage(ids[1]));
  w1 = std::move(w2);
  EXPECT_EQ(w1.page_id(), ids[1]);
  PS_EXPECT_OK(pool->ReadPage(ids[2]).status());
}

TEST(BufferPoolTest, WriteGuardsMarkDirtyReadGuardsDoNot) {
  auto pool = MakeMemoryPool(4);
  PageId id;
  {
    PS_ASSIGN_OR_FAIL(w, pool->NewPage());
    id = w.page_id();
  }
  PS_ASSERT_OK(pool->FlushPage(id));
  const std::uint64_t writes = pool->stats().disk_writes;
  EXPECT_EQ(writes, 1u);
  { PS_ASSERT_OK(pool->ReadPage(id).status()); }
  PS_ASSERT_OK(pool->FlushPage(id));
  EXPECT_EQ(pool->stats().disk_writes, writes);  // clean: nothing written
  { PS_ASSERT_OK(pool->WritePage(id).status()); }
  PS_ASSERT_OK(pool->FlushPage(id));
  EXPECT_EQ(pool->stats().disk_writes, writes + 1);
  PS_ASSERT_OK(pool->FlushPage(999));  // not resident: nothing to do
}

TEST(BufferPoolTest, EvictionWritesBackAndPagesComeBackIntact) {
  auto pool = MakeMemoryPool(8);
  std::vector<PageId> ids = CreatePages(*pool, 100);
  for (int round = 0; round < 2; ++round) {
    for (PageId id : ids) {
      PS_ASSIGN_OR_FAIL(r, pool->ReadPage(id));
      ASSERT_TRUE(HoldsVersion(r.data(), id, 0)) << "page " << id;
    }
  }
  const BufferPoolStats s = pool->stats();
  EXPECT_GE(s.misses, 100u);
  EXPECT_GE(s.evictions, 92u);
  EXPECT_GE(s.dirty_writebacks, 92u);
  EXPECT_EQ(s.disk_reads, s.misses);
  EXPECT_THAT(s.ToString(), HasSubstr("evictions="));
}

TEST(BufferPoolTest, OptimisticReadsValidateUntilAWriterOrAnEvictionComes) {
  auto pool = MakeMemoryPool(4);
  std::vector<PageId> ids = CreatePages(*pool, 8);
  PS_ASSERT_OK(pool->FlushAll());
  OptimisticPageGuard probe;
  EXPECT_FALSE(pool->TryReadOptimistic(ids[0], &probe)) << "evicted by the later pages";

  // A miss loads the page and hands back a version; a hit needs no latch at all.
  PS_ASSIGN_OR_FAIL(g, pool->ReadOptimistic(ids[0]));
  EXPECT_EQ(g.page_id(), ids[0]);
  EXPECT_TRUE(HoldsVersion(g.data(), ids[0], 0));
  EXPECT_TRUE(g.Validate());
  OptimisticPageGuard hit;
  ASSERT_TRUE(pool->TryReadOptimistic(ids[0], &hit));
  EXPECT_TRUE(hit.Validate());
  {
    PS_ASSIGN_OR_FAIL(r, pool->ReadPage(ids[0]));
    EXPECT_TRUE(hit.Validate()) << "readers do not invalidate";
  }

  // A writer invalidates while it holds the page and after.
  {
    PS_ASSIGN_OR_FAIL(w, pool->WritePage(ids[0]));
    EXPECT_FALSE(hit.Validate());
    OptimisticPageGuard during;
    EXPECT_FALSE(pool->TryReadOptimistic(ids[0], &during)) << "a writer holds it";
    WriteVersion(w, 1);
  }
  EXPECT_FALSE(hit.Validate());
  EXPECT_FALSE(g.Validate());
  PS_ASSIGN_OR_FAIL(fresh, pool->ReadOptimistic(ids[0]));
  EXPECT_TRUE(fresh.Validate());
  EXPECT_TRUE(HoldsVersion(fresh.data(), ids[0], 1));

  // Eviction invalidates: the frame now holds another page.
  for (int i = 4; i < 8; ++i) PS_ASSERT_OK(pool->ReadPage(ids[i]).status());
  EXPECT_FALSE(fresh.Validate());
  EXPECT_FALSE(pool->TryReadOptimistic(ids[0], &probe));

  // Bad page ids get ReadPage's errors, never a guard.
  EXPECT_FALSE(pool->TryReadOptimistic(1, &probe));
  EXPECT_TRUE(absl::IsInvalidArgument(pool->ReadOptimistic(1).status()));
  EXPECT_TRUE(absl::IsOutOfRange(pool->ReadOptimistic(ids.back() + 100).status()));
  const absl::Status far = pool->ReadOptimistic(PageTable::kLimit + 7).status();
  EXPECT_TRUE(absl::IsOutOfRange(far)) << far;
  EXPECT_THAT(std::string(far.message()), HasSubstr(std::to_string(PageTable::kLimit + 7)));
}

TEST(BufferPoolTest, AllFramesPinnedIsResourceExhaustedNotAHang) {
  auto pool = MakeMemoryPool(4);
  std::vector<PageId> ids = CreatePages(*pool, 6);
  std::vector<ReadPageGuard> held;
  for (int i = 0; i < 4; ++i) {
    PS_ASSIGN_OR_FAIL(g, pool->ReadPage(ids[i]));
    held.push_back(std::move(g));
  }
  absl::Status s = pool->ReadPage(ids[5]).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("all 4 frames are pinned"));
  EXPECT_TRUE(absl::IsResourceExhausted(pool->NewPage().status()));
  held.pop_back();
  PS_ASSIGN_OR_FAIL(g, pool->ReadPage(ids[5]));
  EXPECT_TRUE(HoldsVersion(g.data(), ids[5], 0));
}

TEST(BufferPoolTest, LruKKeepsTheHotSetThroughASequentialScan) {
  auto pool = MakeMemoryPool(64, {.replacer = {.policy = ReplacerOptions::Policy::kLruK}});
  std::vector<PageId> ids = CreatePages(*pool, 600);
  PS_ASSERT_OK(pool->FlushAll());
  std::vector<PageId> hot(ids.begin(), ids.begin() + 32);
  for (int i = 0; i < 3; ++i) {
    for (PageId id : hot) PS_ASSERT_OK(pool->ReadPage(id).status());
  }
  for (std::size_t i = 32; i < ids.size(); ++i) PS_ASSERT_OK(pool->ReadPage(ids[i]).status());
  const std::uint64_t misses = pool->stats().misses;
  for (PageId id : hot) PS_ASSERT_OK(pool->ReadPage(id).status());
  EXPECT_EQ(pool->stats().misses, misses) << "the scan evicted hot pages";
}

TEST(BufferPoolTest, ClockPolicyWorksToo) {
  auto pool = MakeMemoryPool(8, {.replacer = {.policy = ReplacerOptions::Policy::kClock}});
  std::vector<PageId> ids = CreatePages(*pool, 50);
  for (PageId id : ids) {
    PS_ASSIGN_OR_FAIL(r, pool->ReadPage(id));
    ASSERT_TRUE(HoldsVersion(r.data(), id, 0));
  }
  EXPECT_GT(pool->stats().evictions, 0u);
}

// Every page write reaching the disk comes after the log was flushed up to that page's LSN.
TEST(BufferPoolTest, WalRuleEveryWriteFollowsAFlushToItsLsn) {
  RecordingLogFlusher log;
  auto mem = std::make_shared<MemoryFile>();
  auto disk = std::make_unique<WalCheckingDiskManager>(OpenMemory(mem), &log);
  WalCheckingDiskManager* checker = disk.get();
  PS_ASSIGN_OR_FAIL(pool,
                    BufferPool::Create(4, std::move(disk), {.replacer = {}, .log_flusher = &log}));
  Lsn lsn = 100;
  std::vector<PageId> ids;
  for (int i = 0; i < 20; ++i) {
    PS_ASSIGN_OR_FAIL(w, pool->NewPage());
    w.set_lsn(lsn += 10);
    log.Append(lsn);
    ids.push_back(w.page_id());
  }
  for (PageId id : ids) {  // rewrite with newer LSNs, forcing write-backs through eviction
    PS_ASSIGN_OR_FAIL(w, pool->WritePage(id));
    w.set_lsn(lsn += 10);
    log.Append(lsn);
  }
  PS_ASSERT_OK(pool->FlushAll());
  EXPECT_GE(checker->writes(), 40);
  EXPECT_EQ(checker->violations(), 0);
  EXPECT_GE(log.flushed(), lsn);
}

TEST(BufferPoolTest, AFailingLogFlushKeepsThePageDirtyAndUnwritten) {
  RecordingLogFlusher log;
  log.FailNext(1);
  auto mem = std::make_shared<MemoryFile>();
  PS_ASSIGN_OR_FAIL(pool,
                    BufferPool::Create(4, OpenMemory(mem), {.replacer = {}, .log_flusher = &log}));
  PageId id;
  {
    PS_ASSIGN_OR_FAIL(w, pool->NewPage());
    w.set_lsn(7);
    id = w.page_id();
  }
  EXPECT_FALSE(pool->FlushPage(id).ok());
  EXPECT_EQ(pool->stats().disk_writes, 0u);
  PS_ASSERT_OK(pool->FlushPage(id));  // flushed once the log works
  EXPECT_EQ(pool->stats().disk_writes, 1u);
}

TEST(BufferPoolTest, ReadFaultsSurfaceAndThePoolRecovers) {
  auto [pool, f] = MakeFaultPool(4);
  ASSERT_NE(pool, nullptr);
  std::vector<PageId> ids = CreatePages(*pool, 12);
  PS_ASSERT_OK(pool->FlushAll());
  for (PageId id : ids) {
    f->FailCall(1, EIO);
    absl::StatusOr<ReadPageGuard> g = pool->ReadPage(id);
    if (g.ok()) continue;  // resident: no I/O needed
    EXPECT_TRUE(absl::IsUnavailable(g.status())) << g.status();
    f->ClearFaults();
    PS_ASSIGN_OR_FAIL(again, pool->ReadPage(id));
    EXPECT_TRUE(HoldsVersion(again.data(), id, 0));
  }
  f->ClearFaults();
  for (PageId id : ids) {
    PS_ASSIGN_OR_FAIL(g, pool->ReadPage(id));
    EXPECT_TRUE(HoldsVersion(g.data(), id, 0));
  }
}

TEST(BufferPoolTest, WriteBackFaultsLoseNoDirtyPage) {
  auto [pool, f] = MakeFaultPool(4);
  ASSERT_NE(pool, nullptr);
  std::vector<PageId> ids = CreatePages(*pool, 4);  // all four frames dirty
  PS_ASSIGN_OR_FAIL(extra, f->AllocatePage());
  f->FailCall(1, ENOSPC, /*persistent=*/true);
  // Needing a frame means writing a dirty page back: the fetch reports the failure.
  absl::Status s = pool->ReadPage(extra).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  f->ClearFaults();
  PS_ASSERT_OK(pool->FlushAll());
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(f->ReadPage(id, page));
    EXPECT_TRUE(HoldsVersion(page, id, 0)) << "dirty page " << id << " was lost";
  }
}

TEST(BufferPoolTest, CorruptPageIsDataLossAndNeverCached) {
  auto mem = std::make_shared<MemoryFile>();
  PageId id;
  {
    PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(4, OpenMemory(mem)));
    id = CreatePages(*pool, 1)[0];
    PS_ASSERT_OK(pool->FlushAll());
  }
  mem->MutablePage(id)[2000] ^= std::byte{0x10};
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(4, OpenMemory(mem, OpenMode::kOpenExisting)));
  for (int i = 0; i < 2; ++i) {
    absl::Status s = pool->ReadPage(id).status();
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(fmt::format("page {}", id)));
  }
  EXPECT_TRUE(absl::IsDataLoss(pool->WritePage(id).status()));
  EXPECT_TRUE(absl::IsOutOfRange(pool->ReadPage(10000).status()));
  // The failed loads left frames that are reused: the pool still works at full size.
  std::vector<PageId> ids = CreatePages(*pool, 4);
  EXPECT_EQ(ids.size(), 4u);
}

TEST(BufferPoolTest, PrefetchLoadsPages) {
  auto mem = std::make_shared<MemoryFile>();
  std::vector<PageId> ids;
  {
    PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(16, OpenMemory(mem)));
    ids = CreatePages(*pool, 10);
    PS_ASSERT_OK(pool->FlushAll());
  }
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(16, OpenMemory(mem, OpenMode::kOpenExisting)));
  PS_ASSERT_OK(pool->Prefetch(ids.front(), ids.back()));
  const std::uint64_t misses = pool->stats().misses;
  EXPECT_EQ(misses, 10u);
  for (PageId id : ids) PS_ASSERT_OK(pool->ReadPage(id).status());
  EXPECT_EQ(pool->stats().misses, misses);
  EXPECT_TRUE(absl::IsOutOfRange(pool->Prefetch(ids.back(), ids.back() + 5)));
}

TEST(BufferPoolTest, SuperblockPagesAreRefused) {
  auto pool = MakeMemoryPool(4);
  CreatePages(*pool, 2);
  for (PageId id : {0, 1}) {
    EXPECT_TRUE(absl::IsInvalidArgument(pool->ReadPage(id).status())) << id;
    EXPECT_TRUE(absl::IsInvalidArgument(pool->WritePage(id).status())) << id;
    EXPECT_TRUE(absl::IsInvalidArgument(pool->FlushPage(id))) << id;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(pool->Prefetch(0, 3)));
  PS_EXPECT_OK(pool->FlushAll());
}

TEST(BufferPoolTest, PrefetchReportsAFullDiskButNotAFullPool) {
  auto [pool, f] = MakeFaultPool(4);
  ASSERT_NE(pool, nullptr);
  std::vector<PageId> ids = CreatePages(*pool, 12);
  PS_ASSERT_OK(pool->FlushAll());
  {
    // Every frame pinned: prefetch stops quietly.
    std::vector<ReadPageGuard> held;
    for (int i = 0; i < 4; ++i) held.push_back(std::move(*pool->ReadPage(ids[i])));
    PS_EXPECT_OK(pool->Prefetch(ids[4], ids[11]));
  }
  {
    PS_ASSIGN_OR_FAIL(w, pool->WritePage(ids[0]));  // a dirty page to write back
  }
  f->FailCall(2, ENOSPC, /*persistent=*/true);  // after WillNeed: the write-back fails
  absl::Status s = pool->Prefetch(ids[4], ids[11]);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("frames are pinned")));
}

TEST(BufferPoolTest, FailedSwapFallsBackToTheOldManager) {
  TempDir dir;
  PS_ASSIGN_OR_FAIL(disk, OpenDiskManager(dir.file("s.pages"), DiskManagerOptions{}));
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(8, std::move(disk)));
  std::vector<PageId> ids = CreatePages(*pool, 20);
  DiskManagerOptions bad = SmallMmapOptions();
  bad.mmap.initial_size = 8 << 20;  // larger than the reservation: refused at open
  bad.mmap.reserve_size = 4 << 20;
  absl::Status s = pool->SwapDiskManager(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(pool->disk_manager_name().starts_with("pread")) << pool->disk_manager_name();
  EXPECT_EQ(pool->stats().swaps, 0u);
  for (PageId id : ids) {
    PS_ASSIGN_OR_FAIL(g, pool->ReadPage(id));
    EXPECT_TRUE(HoldsVersion(g.data(), id, 0));
  }
  PS_EXPECT_OK(pool->FlushAll());
}

TEST(BufferPoolTest, SwapNeedsAFileBackedManager) {
  auto pool = MakeMemoryPool(4);
  DiskManagerOptions o;
  o.kind = DiskManagerKind::kMmap;
  EXPECT_TRUE(absl::IsFailedPrecondition(pool->SwapDiskManager(o)));
}

}  // namespace
}  // namespace pagestore::testing
