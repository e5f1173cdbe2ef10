// The buffer pool's batches: LoadPages and ReadPages read every miss of a set in one
// DiskManager::ReadBatch and give the same pages ReadPage gives; a failure stays with the page
// it names and leaves no frame holding bad bytes; eviction and FlushAll write dirty pages back
// in batches without breaking the WAL rule; and all of it holds up under concurrent use.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "tests/buffer/pool_test_util.h"

namespace pagestore::testing {
namespace {

// A pool of `frames` over the manager `kind` on `dir`, with `pages` pages created and flushed.
struct FilePool {
  std::unique_ptr<BufferPool> pool;
  std::vector<PageId> ids;
};

FilePool MakeFilePool(const TempDir& dir, const DiskManagerOptions& kind, std::size_t frames,
                      int pages) {
  FilePool fp;
  auto disk = OpenDiskManager(dir.file("pool.pages"), kind);
  EXPECT_TRUE(disk.ok()) << disk.status();
  if (!disk.ok()) return fp;
  auto pool = BufferPool::Create(frames, std::move(*disk));
  EXPECT_TRUE(pool.ok()) << pool.status();
  fp.pool = std::move(*pool);
  fp.ids = CreatePages(*fp.pool, pages);
  EXPECT_TRUE(fp.pool->FlushAll().ok());
  return fp;
}

std::vector<std::pair<std::string, DiskManagerOptions>> Kinds() {
  DiskManagerOptions uring;
  DiskManagerOptions no_uring;
  no_uring.pread.io_uring = false;
  DiskManagerOptions mmap = SmallMmapOptions();
  return {{"pread_uring", uring}, {"pread_no_uring", no_uring}, {"mmap", mmap}};
}

class PoolBatchTest : public ::testing::TestWithParam<std::pair<std::string, DiskManagerOptions>> {
};

TEST_P(PoolBatchTest, LoadPagesReadsEveryMissInOneBatch) {
  TempDir dir;
  // 40 misses fit one batch: a batch claims up to an eighth of the frames.
  FilePool fp = MakeFilePool(dir, GetParam().second, 320, 700);
  BufferPool& pool = *fp.pool;
  // Mostly not resident: the pool holds the last 320 pages created at most.
  std::vector<PageId> want;
  for (int i = 0; i < 40; ++i) want.push_back(fp.ids[static_cast<std::size_t>(i * 3)]);
  want.push_back(want[5]);  // a repeat
  const BufferPoolStats before = pool.stats();
  std::vector<absl::Status> statuses;
  PS_ASSERT_OK(pool.LoadPages(want, &statuses));
  ASSERT_EQ(statuses.size(), want.size());
  for (const absl::Status& s : statuses) PS_EXPECT_OK(s);
  const BufferPoolStats after = pool.stats();
  const std::uint64_t loaded = after.disk_reads - before.disk_reads;
  EXPECT_EQ(after.read_batches, before.read_batches + 1);
  EXPECT_GT(loaded, 30u);
  EXPECT_LE(loaded, 40u);
  for (PageId id : want) {
    EXPECT_TRUE(pool.IsResident(id)) << id;
    PS_ASSIGN_OR_FAIL(g, pool.ReadPage(id));
    EXPECT_TRUE(HoldsVersion(g.data(), id, 0)) << id;
  }
  EXPECT_EQ(pool.stats().disk_reads, after.disk_reads) << "every page was resident";
  // All again: all resident, nothing read.
  PS_ASSERT_OK(pool.LoadPages(want));
  EXPECT_EQ(pool.stats().disk_reads, after.disk_reads);

  // ReadPages visits each page in the caller's order.
  std::vector<PageId> visited;
  pool.ReadPages(fp.ids, [&](std::size_t i, absl::StatusOr<ReadPageGuard>& page) {
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->page_id(), fp.ids[i]);
    EXPECT_TRUE(HoldsVersion(page->data(), fp.ids[i], 0));
    visited.push_back(page->page_id());
  });
  EXPECT_EQ(visited, fp.ids);
}

TEST_P(PoolBatchTest, DirtyPagesGoBackInBatchesAndSurviveAReopen) {
  TempDir dir;
  // 256 frames: a write-back batch takes up to 32 (an eighth of the pool).
  FilePool fp = MakeFilePool(dir, GetParam().second, 256, 1000);
  BufferPool& pool = *fp.pool;
  // Every page rewritten through a pool far smaller than them: eviction writes them back.
  for (PageId id : fp.ids) {
    PS_ASSIGN_OR_FAIL(g, pool.WritePage(id));
    WriteVersion(g, 1);
  }
  const BufferPoolStats s = pool.stats();
  EXPECT_GE(s.dirty_writebacks, 700u);
  // Written in batches: several pages per WriteBatch on average.
  EXPECT_GT(s.write_batches, 0u);
  EXPECT_GE(s.dirty_writebacks, 4 * s.write_batches) << s.ToString();
  PS_ASSERT_OK(pool.FlushAll());
  fp.pool.reset();
  PS_ASSIGN_OR_FAIL(disk, OpenDiskManager(dir.file("pool.pages"), GetParam().second));
  for (PageId id : fp.ids) {
    Page p;
    PS_ASSERT_OK(disk->ReadPage(id, p));
    EXPECT_TRUE(HoldsVersion(p, id, 1)) << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Managers, PoolBatchTest, ::testing::ValuesIn(Kinds()),
                         [](const auto& info) { return info.param.first; });

TEST(PoolBatchFaultTest, AFailedPageFailsAloneAndLeavesNoFrame) {
  FaultPool fp = MakeFaultPool(160);  // 20 misses make one batch
  BufferPool& pool = *fp.pool;
  std::vector<PageId> ids = CreatePages(pool, 400);
  PS_ASSERT_OK(pool.FlushAll());
  std::vector<PageId> want(ids.begin(), ids.begin() + 20);  // evicted by the later pages
  for (PageId id : want) ASSERT_FALSE(pool.IsResident(id));
  // The 7th read call fails: one page of the batch.
  fp.fault->FailCall(7, EIO);
  std::vector<absl::Status> statuses;
  const absl::Status s = pool.LoadPages(want, &statuses);
  EXPECT_FALSE(s.ok());
  int failed = 0;
  PageId bad = kInvalidPageId;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (statuses[i].ok()) {
      EXPECT_TRUE(pool.IsResident(want[i]));
      continue;
    }
    ++failed;
    bad = want[i];
    EXPECT_FALSE(pool.IsResident(want[i])) << "no frame keeps a page that failed to load";
    EXPECT_THAT(std::string(statuses[i].message()), ::testing::HasSubstr(std::to_string(bad)));
  }
  EXPECT_EQ(failed, 1);
  // The page reads fine once the disk does.
  PS_ASSIGN_OR_FAIL(g, pool.ReadPage(bad));
  EXPECT_TRUE(HoldsVersion(g.data(), bad, 0));
}

TEST(PoolBatchFaultTest, ACorruptPageIsDataLossAndNotCached) {
  auto mem = std::make_shared<MemoryFile>();
  auto pool_or = BufferPool::Create(8, OpenMemory(mem));
  ASSERT_TRUE(pool_or.ok());
  BufferPool& pool = **pool_or;
  std::vector<PageId> ids = CreatePages(pool, 30);
  PS_ASSERT_OK(pool.FlushAll());
  mem->MutablePage(ids[3])[1000] ^= std::byte{4};
  std::vector<absl::Status> statuses;
  std::vector<PageId> want(ids.begin(), ids.begin() + 6);
  EXPECT_EQ(pool.LoadPages(want, &statuses).code(), absl::StatusCode::kDataLoss);
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(statuses[i].ok(), i != 3) << statuses[i];
  }
  EXPECT_FALSE(pool.IsResident(ids[3]));
  EXPECT_TRUE(absl::IsDataLoss(pool.ReadPage(ids[3]).status()));
  int visited_errors = 0;
  pool.ReadPages(want, [&](std::size_t i, absl::StatusOr<ReadPageGuard>& page) {
    if (!page.ok()) {
      ++visited_errors;
      EXPECT_EQ(i, 3u);
      EXPECT_TRUE(absl::IsDataLoss(page.status()));
    }
  });
  EXPECT_EQ(visited_errors, 1);
}

TEST(PoolBatchFaultTest, MorePagesThanFramesLoadInTurnsAndAFullPoolIsReported) {
  auto pool = MakeMemoryPool(16);
  std::vector<PageId> ids = CreatePages(*pool, 60);
  PS_ASSERT_OK(pool->FlushAll());
  PS_ASSIGN_OR_FAIL(held, pool->ReadPage(ids[59]));  // one frame pinned
  // Twice the frames: loaded two at a time (an eighth of the pool), each batch evicting the
  // last; every page read, and correct.
  std::vector<PageId> want(ids.begin(), ids.begin() + 32);
  const BufferPoolStats before = pool->stats();
  std::vector<absl::Status> statuses;
  PS_EXPECT_OK(pool->LoadPages(want, &statuses));
  const BufferPoolStats after = pool->stats();
  EXPECT_EQ(after.disk_reads - before.disk_reads, 32u);
  EXPECT_EQ(after.read_batches - before.read_batches, 16u);
  // Every frame pinned: each page says the pool is full, and Prefetch stops quietly.
  std::vector<ReadPageGuard> pins;
  for (int i = 44; i < 59; ++i) {
    PS_ASSIGN_OR_FAIL(g, pool->ReadPage(ids[static_cast<std::size_t>(i)]));
    pins.push_back(std::move(g));
  }
  std::vector<PageId> more(ids.begin(), ids.begin() + 4);
  for (PageId id : more) ASSERT_FALSE(pool->IsResident(id));
  EXPECT_TRUE(absl::IsResourceExhausted(pool->LoadPages(more, &statuses)));
  for (const absl::Status& s : statuses) EXPECT_TRUE(BufferPool::IsPoolFull(s)) << s;
  PS_EXPECT_OK(pool->Prefetch(ids[0], ids[15]));
}

TEST(PoolBatchFaultTest, BatchedWriteBackKeepsTheWalRule) {
  RecordingLogFlusher log;
  auto checking =
      std::make_unique<WalCheckingDiskManager>(OpenMemory(std::make_shared<MemoryFile>()), &log);
  WalCheckingDiskManager* disk = checking.get();
  BufferPoolOptions options;
  options.log_flusher = &log;
  auto pool_or = BufferPool::Create(8, std::move(checking), options);
  ASSERT_TRUE(pool_or.ok());
  BufferPool& pool = **pool_or;
  Lsn lsn = 0;
  std::vector<PageId> ids;
  for (int i = 0; i < 60; ++i) {
    PS_ASSIGN_OR_FAIL(g, pool.NewPage(PageType::kRaw));
    g.set_lsn(++lsn);
    log.Append(lsn);
    ids.push_back(g.page_id());
  }
  PS_ASSERT_OK(pool.FlushAll());
  EXPECT_GE(disk->writes(), 60);
  EXPECT_EQ(disk->violations(), 0);
  EXPECT_GE(log.flushed(), lsn);
}

// A disk that takes a while per read, so that loads hold their claimed frames for a while.
class SlowDiskManager final : public ForwardingDiskManager {
 public:
  using ForwardingDiskManager::ForwardingDiskManager;
  absl::Status ReadPage(PageId id, PageSpan out) override {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    return inner_->ReadPage(id, out);
  }
  absl::Status ReadBatch(std::span<PageRequest> batch) override {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    for (PageRequest& r : batch) r.status = inner_->ReadPage(r.id, PageSpan(r.data, kPageSize));
    return FirstFailure(batch);
  }
  std::string_view name() const override { return "slow"; }
};

// Many loads in flight at once never take the frames a thread fetching one page needs: all of
// them together claim at most an eighth of the pool.
TEST(PoolBatchConcurrencyTest, ConcurrentLoadsLeaveFramesForSingleFetches) {
  auto pool_or = BufferPool::Create(
      64, std::make_unique<SlowDiskManager>(OpenMemory(std::make_shared<MemoryFile>())));
  ASSERT_TRUE(pool_or.ok());
  BufferPool& pool = **pool_or;
  std::vector<PageId> ids = CreatePages(pool, 600);
  PS_ASSERT_OK(pool.FlushAll());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> loaders;
  for (int t = 0; t < 10; ++t) {
    loaders.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      while (!stop.load()) {
        std::vector<PageId> want;
        for (int k = 0; k < 40; ++k) want.push_back(ids[rng() % ids.size()]);
        std::vector<absl::Status> statuses;
        (void)pool.LoadPages(want, &statuses);
        for (const absl::Status& s : statuses) {
          if (!s.ok() && !BufferPool::IsPoolFull(s)) ++bad;
        }
      }
    });
  }
  std::mt19937_64 rng(99);
  int failed = 0;
  for (int i = 0; i < 300; ++i) {
    const PageId id = ids[rng() % ids.size()];
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(id);
    if (!g.ok() || !HoldsVersion(g->data(), id, 0)) ++failed;
  }
  stop = true;
  for (std::thread& t : loaders) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(bad.load(), 0);
}

// Loads, hits, writers and evictions all at once over a small pool: every page read holds the
// version its writers last wrote (TSan: no race among the batch's frames).
TEST(PoolBatchConcurrencyTest, LoadsRaceReadersWritersAndEvictions) {
  TempDir dir;
  DiskManagerOptions kind;
  FilePool fp = MakeFilePool(dir, kind, 24, 96);
  BufferPool& pool = *fp.pool;
  std::vector<std::atomic<std::uint64_t>> version(fp.ids.size());
  std::atomic<int> bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // Writers: page i belongs to writer i % 2, which bumps its version.
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      for (int round = 0; round < 300; ++round) {
        const std::size_t i = (rng() % (fp.ids.size() / 2)) * 2 + static_cast<std::size_t>(w);
        auto g = pool.WritePage(fp.ids[i]);
        if (!g.ok()) {
          if (!absl::IsResourceExhausted(g.status())) ++bad;
          continue;
        }
        if (!HoldsVersion(g->data(), fp.ids[i], version[i].load())) ++bad;
        WriteVersion(*g, version[i].load() + 1);
        version[i].fetch_add(1);
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(10 + t);
      while (!stop.load()) {
        std::vector<PageId> want;
        for (int k = 0; k < 12; ++k) want.push_back(fp.ids[rng() % fp.ids.size()]);
        std::vector<absl::Status> statuses;
        (void)pool.LoadPages(want, &statuses);
        for (const absl::Status& s : statuses) {
          if (!s.ok() && !BufferPool::IsPoolFull(s)) ++bad;
        }
        pool.ReadPages(want, [&](std::size_t, absl::StatusOr<ReadPageGuard>& page) {
          if (!page.ok() && !absl::IsResourceExhausted(page.status())) ++bad;
        });
      }
    });
  }
  threads[0].join();
  threads[1].join();
  stop = true;
  threads[2].join();
  threads[3].join();
  EXPECT_EQ(bad.load(), 0);
  for (std::size_t i = 0; i < fp.ids.size(); ++i) {
    PS_ASSIGN_OR_FAIL(g, pool.ReadPage(fp.ids[i]));
    EXPECT_TRUE(HoldsVersion(g.data(), fp.ids[i], version[i].load())) << fp.ids[i];
  }
}

}  // namespace
}  // namespace pagestore::testing
