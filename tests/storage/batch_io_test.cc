// Batched page I/O (DiskManager::ReadBatch, WriteBatch, ReadPages) on every manager, the pread
// manager with io_uring, without it, and with its setup failing: the same bytes and the same
// errors as the page-at-a-time calls, and a failure confined to the pages it names.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "storage/pread_disk_manager.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

std::vector<ManagerKind> BatchKinds() {
  std::vector<ManagerKind> kinds = AllManagerKinds();
  DiskManagerOptions direct_sync;
  direct_sync.pread.direct_io = true;
  direct_sync.pread.io_uring = false;
  kinds.push_back({"pread_direct_no_uring", direct_sync});
  DiskManagerOptions shallow;
  shallow.pread.uring_depth = 2;  // fewer slots than runs: the ring refills as runs complete
  kinds.push_back({"pread_depth2", shallow});
  return kinds;
}

class BatchIoTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override {
    PS_SKIP_IF_NO_DIRECT_IO(GetParam());
    factory_.emplace(GetParam());
  }

  // A manager with `pages` data pages, page i holding FillPage(i, 0).
  std::unique_ptr<DiskManager> Filled(PageId pages, std::function<int(IoCall)> hook = nullptr) {
    auto dm = factory_->Open(OpenMode::kOpenOrCreate, std::move(hook));
    EXPECT_TRUE(dm.ok()) << dm.status();
    if (!dm.ok()) return nullptr;
    for (PageId i = 0; i < pages; ++i) {
      auto id = (*dm)->AllocatePage();
      EXPECT_TRUE(id.ok()) << id.status();
      Page p;
      FillPage(p, *id, 0);
      EXPECT_TRUE((*dm)->WritePage(*id, p).ok());
    }
    return std::move(*dm);
  }

  std::optional<ManagerFactory> factory_;
};

// Random ids with runs of consecutive pages among them, in shuffled order.
std::vector<PageId> SomeIds(PageId pages, std::size_t n, std::mt19937_64& rng) {
  std::vector<PageId> ids;
  while (ids.size() < n) {
    PageId start = kFirstDataPage + rng() % (pages - kFirstDataPage);
    for (std::size_t k = 0; k < 1 + rng() % 6 && ids.size() < n; ++k) {
      const PageId id = start + k;
      if (id < pages + kFirstDataPage && std::find(ids.begin(), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
  }
  std::shuffle(ids.begin(), ids.end(), rng);
  return ids;
}

TEST_P(BatchIoTest, ReadBatchReturnsWhatReadPageReturns) {
  constexpr PageId kPages = 200;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  std::mt19937_64 rng(7);
  for (std::size_t n : {1u, 2u, 31u, 64u, 150u}) {
    std::vector<PageId> ids = SomeIds(kPages, n, rng);
    // Every third buffer unaligned, in the same batch as aligned ones: under O_DIRECT those go
    // through a bounce block while their neighbours' runs read straight into place.
    std::unique_ptr<std::byte, decltype(&std::free)> buffer(
        static_cast<std::byte*>(std::aligned_alloc(kPageSize, n * 2 * kPageSize)), &std::free);
    std::vector<PageRequest> batch(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch[i] = PageRequest(ids[i], buffer.get() + i * 2 * kPageSize + (i % 3 == 0 ? 8 : 0));
    }
    PS_ASSERT_OK(dm->ReadBatch(batch));
    for (const PageRequest& r : batch) {
      PS_EXPECT_OK(r.status);
      Page got, want;
      std::memcpy(got.data(), r.data, kPageSize);
      PS_ASSERT_OK(dm->ReadPage(r.id, want));
      EXPECT_EQ(got, want) << "page " << r.id;
      EXPECT_TRUE(PageHolds(got, r.id, 0));
    }
  }
  // One unaligned request on its own.
  std::vector<std::byte> odd(kPageSize + 8);
  PageRequest one(5, odd.data() + 8);
  PS_ASSERT_OK(dm->ReadBatch(std::span(&one, 1)));
  Page got;
  std::memcpy(got.data(), one.data, kPageSize);
  EXPECT_TRUE(PageHolds(got, 5, 0));
}

TEST_P(BatchIoTest, WriteBatchWritesWhatWritePageWrites) {
  constexpr PageId kPages = 150;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  std::mt19937_64 rng(11);
  std::vector<PageId> ids = SomeIds(kPages, 100, rng);
  std::vector<Page> pages(ids.size());
  std::vector<PageRequest> batch(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    FillPage(pages[i], ids[i], 3);
    batch[i] = PageRequest(ids[i], pages[i].data());
  }
  PS_ASSERT_OK(dm->WriteBatch(batch));
  for (const PageRequest& r : batch) PS_EXPECT_OK(r.status);
  // Sealed in place, as WritePage does.
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ReadPageHeader(pages[i]).page_id, ids[i]);
  }
  PS_ASSERT_OK(dm->Sync());
  dm.reset();
  PS_ASSIGN_OR_FAIL(again, factory_->Open(OpenMode::kOpenExisting));
  for (PageId id = kFirstDataPage; id < kFirstDataPage + kPages; ++id) {
    Page p;
    PS_ASSERT_OK(again->ReadPage(id, p));
    const bool rewritten = std::find(ids.begin(), ids.end(), id) != ids.end();
    EXPECT_TRUE(PageHolds(p, id, rewritten ? 3 : 0)) << "page " << id;
  }
}

TEST_P(BatchIoTest, BadRequestsFailAloneAndNameTheirPage) {
  constexpr PageId kPages = 40;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  const PageId beyond = dm->page_count() + 3;
  factory_->CorruptPage(12, [](std::byte* p) { p[2000] ^= std::byte{1}; });
  std::vector<Page> buf(5);
  std::vector<PageRequest> batch = {PageRequest(10, buf[0].data()),
                                    PageRequest(beyond, buf[1].data()),
                                    PageRequest(11, buf[2].data()), PageRequest(12, buf[3].data()),
                                    PageRequest(13, buf[4].data())};
  absl::Status s = dm->ReadBatch(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;  // the first failed request's
  PS_EXPECT_OK(batch[0].status);
  PS_EXPECT_OK(batch[2].status);
  PS_EXPECT_OK(batch[4].status);
  EXPECT_TRUE(PageHolds(buf[0], 10, 0));
  EXPECT_TRUE(PageHolds(buf[2], 11, 0));
  EXPECT_TRUE(PageHolds(buf[4], 13, 0));
  EXPECT_EQ(batch[1].status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(batch[1].status.message()), HasSubstr(std::to_string(beyond)));
  // The corrupt page: the error ReadPage gives, naming file and page.
  Page single;
  const absl::Status alone = dm->ReadPage(12, single);
  EXPECT_EQ(batch[3].status.code(), absl::StatusCode::kDataLoss) << batch[3].status;
  EXPECT_EQ(batch[3].status.code(), alone.code());
  EXPECT_THAT(std::string(batch[3].status.message()), HasSubstr("page 12"));

  // Writes: the superblock pages and pages beyond the end are refused, the rest written.
  Page a, b, c;
  FillPage(a, 20, 1);
  FillPage(b, 0, 1);
  FillPage(c, 21, 1);
  std::vector<PageRequest> writes = {PageRequest(20, a.data()), PageRequest(0, b.data()),
                                     PageRequest(beyond, c.data())};
  EXPECT_FALSE(dm->WriteBatch(writes).ok());
  PS_EXPECT_OK(writes[0].status);
  EXPECT_EQ(writes[1].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writes[2].status.code(), absl::StatusCode::kOutOfRange);
  Page back;
  PS_ASSERT_OK(dm->ReadPage(20, back));
  EXPECT_TRUE(PageHolds(back, 20, 1));
}

TEST_P(BatchIoTest, AnInjectedFailureFailsOnlyItsPage) {
  if (GetParam().in_memory || GetParam().options.kind == DiskManagerKind::kMmap) {
    GTEST_SKIP() << "reads from memory or a mapping make no read call to fail";
  }
  constexpr PageId kPages = 64;
  std::atomic<int> fail_read_call{0};  // fail the n-th read call from now (0: none)
  std::atomic<int> reads{0};
  std::unique_ptr<DiskManager> dm = Filled(kPages, [&](IoCall c) {
    if (c != IoCall::kRead || fail_read_call.load() == 0) return 0;
    return reads.fetch_add(1) + 1 == fail_read_call.load() ? EIO : 0;
  });
  ASSERT_NE(dm, nullptr);
  // 32 consecutive pages (one run, where runs are merged) and 8 scattered ones.
  std::vector<PageId> ids;
  for (PageId id = 10; id < 42; ++id) ids.push_back(id);
  for (PageId id = 44; id < 60; id += 2) ids.push_back(id);
  for (int victim : {1, 7, 33, 40}) {
    reads = 0;
    fail_read_call = victim;
    std::vector<Page> buf(ids.size());
    std::vector<PageRequest> batch(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) batch[i] = PageRequest(ids[i], buf[i].data());
    const absl::Status s = dm->ReadBatch(batch);
    fail_read_call = 0;
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    int failed = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (batch[i].status.ok()) {
        EXPECT_TRUE(PageHolds(buf[i], ids[i], 0)) << "page " << ids[i];
        continue;
      }
      ++failed;
      EXPECT_EQ(batch[i].status.code(), absl::StatusCode::kUnavailable);
      EXPECT_THAT(std::string(batch[i].status.message()),
                  HasSubstr(fmt::format("page {}", ids[i])));
      EXPECT_THAT(std::string(batch[i].status.message()), HasSubstr(factory_->path().string()));
    }
    EXPECT_EQ(failed, 1) << "call " << victim;
  }
}

TEST_P(BatchIoTest, AReadPastTheEndOfTheFileIsDataLossForThosePages) {
  if (GetParam().in_memory || GetParam().options.kind == DiskManagerKind::kMmap) {
    GTEST_SKIP() << "a mapping cannot lose its file's tail without SIGBUS";
  }
  constexpr PageId kPages = 30;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  PS_ASSERT_OK(dm->Sync());
  // Someone else cuts the file short under the open manager.
  const PageId keep = kFirstDataPage + 20;
  ASSERT_EQ(::truncate(factory_->path().c_str(), static_cast<off_t>(keep * kPageSize)), 0);
  std::vector<PageId> ids;
  for (PageId id = keep - 4; id < keep + 4; ++id) ids.push_back(id);
  std::vector<Page> buf(ids.size());
  std::vector<PageRequest> batch(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) batch[i] = PageRequest(ids[i], buf[i].data());
  EXPECT_EQ(dm->ReadBatch(batch).code(), absl::StatusCode::kDataLoss);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < keep) {
      PS_EXPECT_OK(batch[i].status);
      EXPECT_TRUE(PageHolds(buf[i], ids[i], 0));
    } else {
      EXPECT_EQ(batch[i].status.code(), absl::StatusCode::kDataLoss) << batch[i].status;
      EXPECT_THAT(std::string(batch[i].status.message()),
                  HasSubstr(fmt::format("page {}", ids[i])));
    }
  }
}

TEST_P(BatchIoTest, ConcurrentBatchesEachGetTheirPages) {
  constexpr PageId kPages = 256;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int round = 0; round < 40; ++round) {
        std::vector<PageId> ids = SomeIds(kPages, 32, rng);
        std::vector<Page> buf(ids.size());
        std::vector<PageRequest> batch(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
          batch[i] = PageRequest(ids[i], buf[i].data());
        }
        if (!dm->ReadBatch(batch).ok()) ++bad;
        for (std::size_t i = 0; i < ids.size(); ++i) {
          if (!PageHolds(buf[i], ids[i], 0)) ++bad;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(BatchIoTest, ReadPagesFillsConsecutiveSlices) {
  constexpr PageId kPages = 50;
  std::unique_ptr<DiskManager> dm = Filled(kPages);
  ASSERT_NE(dm, nullptr);
  const std::vector<PageId> ids = {9, 3, 4, 5, 40, 41, 2};
  std::vector<Page> out(ids.size());
  PS_ASSERT_OK(dm->ReadPages(ids, std::as_writable_bytes(std::span(out))));
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_TRUE(PageHolds(out[i], ids[i], 0));
}

INSTANTIATE_TEST_SUITE_P(AllManagers, BatchIoTest, ::testing::ValuesIn(BatchKinds()),
                         [](const auto& info) { return info.param.name; });

// The pread manager reports how it batches, and falls back cleanly when io_uring is refused.
TEST(PreadBatchTest, NameAndStatsSayWhetherIoUringIsUsed) {
  TempDir dir;
  DiskManagerOptions on;
  PS_ASSIGN_OR_FAIL(dm, OpenDiskManager(dir.file("a.pages"), on));
  std::vector<Page> pages(8);
  std::vector<PageRequest> batch(pages.size());
  for (std::size_t i = 0; i < pages.size(); ++i) {
    PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
    FillPage(pages[i], id, 0);
    batch[i] = PageRequest(id, pages[i].data());
  }
  // Two runs: pages 2-5 and 7-10 (page 6 left out).
  std::swap(batch[4], batch[7]);
  batch.pop_back();
  PS_ASSERT_OK(dm->WriteBatch(batch));
  const DiskStats stats = dm->stats();
  EXPECT_EQ(stats.batches, 1u);
  if (dm->name() == "pread+uring") {
    EXPECT_GE(stats.batch_submits, 1u);
  } else {
    EXPECT_EQ(dm->name(), "pread");  // io_uring unavailable here: the fallback
    EXPECT_EQ(stats.batch_submits, 0u);
  }
  EXPECT_GE(stats.batch_requests, 2u);

  // Setup refused (as on a kernel without io_uring, or under seccomp): the fallback, named.
  DiskManagerOptions refused;
  refused.fault_hook = [](IoCall c) { return c == IoCall::kRingSetup ? ENOSYS : 0; };
  PS_ASSIGN_OR_FAIL(fallback, OpenDiskManager(dir.file("b.pages"), refused));
  EXPECT_EQ(fallback->name(), "pread");
  EXPECT_FALSE(static_cast<PreadDiskManager&>(*fallback).uses_io_uring());
  DiskManagerOptions off;
  off.pread.io_uring = false;
  off.pread.direct_io = true;
  if (DirectIoSupported(dir.path())) {
    PS_ASSIGN_OR_FAIL(plain, OpenDiskManager(dir.file("c.pages"), off));
    EXPECT_EQ(plain->name(), "pread-direct");
  }
}

}  // namespace
}  // namespace pagestore::testing
