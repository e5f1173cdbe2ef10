// PageAllocator on its own (wal/page_allocator.h): a pool over memory and a log, no store. What
// the allocator promises the store: a page is handed out once, comes back only as the log says,
// every page of the file is accounted for, and a checkpoint's trunks stay reserved until the
// superblock no longer names them.
#include "wal/page_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/buffer/pool_test_util.h"

namespace pagestore {
namespace {

class PageAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::MakeMemoryPool(64);
    ASSERT_NE(pool_, nullptr);
    absl::StatusOr<std::unique_ptr<LogManager>> log =
        LogManager::Open(&env_, LogOptions{}, {}, kFirstLsn);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    alloc_ = std::make_unique<PageAllocator>(pool_.get());
    alloc_->SetLog(log_.get());
    alloc_->Reset({}, {}, kFirstDataPage);
  }

  // Takes a page as a mini-transaction does; `commit`: its allocation is logged (Apply).
  PageAllocator::Taken Take(bool commit = true) {
    absl::StatusOr<PageAllocator::Taken> t = alloc_->Take(PageType::kRaw);
    EXPECT_TRUE(t.ok()) << t.status();
    if (commit && t.ok()) {
      const AllocationOp op{t->extended ? MtrEntry::kExtend : MtrEntry::kAlloc, t->guard.page_id()};
      alloc_->Apply(std::span(&op, 1));
    }
    return t.ok() ? std::move(*t) : PageAllocator::Taken{};
  }
  void Free(PageId id) {
    const AllocationOp op{MtrEntry::kFree, id};
    alloc_->Apply(std::span(&op, 1));
  }

  MemoryLogEnv env_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<LogManager> log_;
  std::unique_ptr<PageAllocator> alloc_;
};

TEST_F(PageAllocatorTest, GrowsTheFileWhenNothingIsFreeAndLogsEachGrowth) {
  const Lsn before = log_->next_lsn();
  PageAllocator::Taken a = Take();
  PageAllocator::Taken b = Take();
  EXPECT_TRUE(a.extended);
  EXPECT_TRUE(b.extended);
  EXPECT_NE(a.guard.page_id(), b.guard.page_id());
  EXPECT_EQ(pool_->page_count(), b.guard.page_id() + 1);
  EXPECT_GT(log_->next_lsn(), before) << "a growth of the file is logged before the page is used";
  EXPECT_EQ(alloc_->allocated(), 2u);
  EXPECT_EQ(alloc_->reused(), 0u);
}

TEST_F(PageAllocatorTest, AFreedPageIsReusedOnlyOnceItsFreeIsLogged) {
  PageAllocator::Taken a = Take();
  const PageId id = a.guard.page_id();
  a.guard.Release();
  EXPECT_EQ(alloc_->CheckNotFree(id).code(), absl::StatusCode::kOk);
  Free(id);
  EXPECT_EQ(alloc_->CheckNotFree(id).code(), absl::StatusCode::kInvalidArgument);
  PageAllocator::Taken again = Take();
  EXPECT_FALSE(again.extended);
  EXPECT_EQ(again.guard.page_id(), id);
  EXPECT_EQ(alloc_->reused(), 1u);
}

TEST_F(PageAllocatorTest, APageTakenAndReturnedIsFreeAgainAndNeverHandedOutTwice) {
  PageAllocator::Taken a = Take();
  a.guard.Release();
  Free(a.guard.page_id());
  PageAllocator::Taken in_flight = Take(/*commit=*/false);
  const PageId id = in_flight.guard.page_id();
  PageAllocator::Taken other = Take(/*commit=*/false);
  EXPECT_NE(other.guard.page_id(), id) << "a page in flight was handed out twice";
  in_flight.guard.Release();
  alloc_->Return(id);
  EXPECT_EQ(alloc_->FreePages(), std::vector<PageId>{id});
}

TEST_F(PageAllocatorTest, ACheckpointsTrunksStayReservedUntilTheCheckpointAfterNext) {
  std::vector<PageId> pages;
  for (int i = 0; i < 6; ++i) {
    PageAllocator::Taken t = Take();
    pages.push_back(t.guard.page_id());
  }
  for (PageId id : pages) Free(id);
  // The cut takes its trunks off the allocatable set: the free list as of the cut includes
  // them, and nothing else may take them.
  PageAllocator::Cut cut = alloc_->CutForCheckpoint();
  EXPECT_EQ(cut.free, pages);
  ASSERT_EQ(cut.trunks.size(), cut.trunks_needed);
  ASSERT_EQ(cut.trunks.size(), 1u);
  const PageId trunk = cut.trunks[0];
  EXPECT_EQ(alloc_->CheckNotFree(trunk).code(), absl::StatusCode::kInvalidArgument);
  alloc_->InstallTrunks(cut.trunks);
  std::set<PageId> handed_out;
  for (std::size_t i = 0; i + 1 < pages.size(); ++i) {
    handed_out.insert(Take().guard.page_id());
  }
  EXPECT_FALSE(handed_out.contains(trunk)) << "the superblock's free-list trunk was reused";
  // The next checkpoint keeps it too (the older superblock copy still names it); the one after
  // that frees it (no page is free to hold the list at either cut, so neither takes it back).
  alloc_->InstallTrunks(alloc_->CutForCheckpoint().trunks);
  const std::vector<PageId> free = alloc_->FreePages();
  EXPECT_TRUE(std::ranges::find(free, trunk) != free.end());
  alloc_->InstallTrunks(alloc_->CutForCheckpoint().trunks);
  PageAllocator::Taken t = Take();
  EXPECT_FALSE(t.extended);
  EXPECT_EQ(t.guard.page_id(), trunk) << "a trunk no superblock copy names is free again";
}

TEST_F(PageAllocatorTest, AnAbandonedCheckpointGivesItsTrunksBack) {
  PageAllocator::Taken a = Take();
  a.guard.Release();
  Free(a.guard.page_id());
  PageAllocator::Cut cut = alloc_->CutForCheckpoint();
  ASSERT_EQ(cut.trunks.size(), 1u);
  alloc_->AbandonTrunks(cut.trunks);
  EXPECT_EQ(alloc_->CheckNotFree(cut.trunks[0]).code(), absl::StatusCode::kInvalidArgument);
  PageAllocator::Taken again = Take();
  EXPECT_EQ(again.guard.page_id(), cut.trunks[0]);
}

TEST_F(PageAllocatorTest, TooFewFreePagesForTheListAreMadeUpByGrowingTheFile) {
  PageAllocator::Cut cut = alloc_->CutForCheckpoint();
  EXPECT_EQ(cut.trunks_needed, 0u);
  PageAllocator::Taken a = Take(/*commit=*/false);  // in flight: on the cut's list, not a trunk
  cut = alloc_->CutForCheckpoint();
  EXPECT_EQ(cut.free, std::vector<PageId>{a.guard.page_id()});
  EXPECT_EQ(cut.trunks_needed, 1u);
  EXPECT_TRUE(cut.trunks.empty());
  absl::StatusOr<WritePageGuard> trunk = alloc_->ExtendForTrunk();
  ASSERT_TRUE(trunk.ok()) << trunk.status();
  EXPECT_EQ(alloc_->CheckNotFree(trunk->page_id()).code(), absl::StatusCode::kInvalidArgument)
      << "a trunk the file grew by is pending, not allocatable";
}

}  // namespace
}  // namespace pagestore
