// Growth under concurrent readers and writers, for every manager: one thread allocates (forcing
// many growths and, for mmap, many remaps) while others read, rewrite, view and sync. Labelled
// `concurrency`; CI runs it under ThreadSanitizer and AddressSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "storage/sharded_counter.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

constexpr int kPages = 1500;    // 64 KiB growth steps: ~90 growths/remaps
constexpr int kWriters = 2;     // writer w owns the pages with index % 4 == w
constexpr int kStableSlot = 3;  // pages with index % 4 == 3 are written once and only read

class GrowthConcurrencyTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override { PS_SKIP_IF_NO_DIRECT_IO(GetParam()); }
  ManagerFactory factory_{GetParam()};
};

TEST_P(GrowthConcurrencyTest, ReadersWritersAndSyncDuringGrowth) {
  const std::uint64_t seed = TestSeed();
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  auto* mmap = dynamic_cast<MmapDiskManager*>(dm.get());
  std::vector<PageId> ids(kPages);
  std::atomic<int> published{0};  // ids[0, published) are allocated and written once
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  auto fail = [&](const std::string& what) {
    if (errors.fetch_add(1) < 5) ADD_FAILURE() << what;
  };

  std::thread allocator([&] {
    for (int i = 0; i < kPages; ++i) {
      absl::StatusOr<PageId> id = dm->AllocatePage();
      if (!id.ok()) return fail(id.status().ToString());
      alignas(kPageSize) Page page;
      FillPage(page, *id, 0);
      if (absl::Status s = dm->WritePage(*id, page); !s.ok()) return fail(s.ToString());
      ids[i] = *id;
      published.store(i + 1, std::memory_order_release);
    }
  });
  // Writers rewrite their own pages with rising versions; final versions are checked at the end.
  std::vector<std::vector<std::uint64_t>> versions(kWriters, std::vector<std::uint64_t>(kPages, 0));
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      absl::BitGen gen(std::seed_seq{seed, std::uint64_t(w)});
      while (!done.load(std::memory_order_acquire)) {
        const int n = published.load(std::memory_order_acquire);
        if (n < 8) continue;
        int i = absl::Uniform(gen, 0, n);
        i = i - i % 4 + w;
        if (i >= n) continue;
        alignas(kPageSize) Page page;
        FillPage(page, ids[i], ++versions[w][i]);
        if (absl::Status s = dm->WritePage(ids[i], page); !s.ok()) return fail(s.ToString());
      }
    });
  }
  // Readers check the stable pages, through ReadPage and (mmap) zero-copy views.
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      absl::BitGen gen(std::seed_seq{seed, std::uint64_t(100 + r)});
      while (!done.load(std::memory_order_acquire)) {
        const int n = published.load(std::memory_order_acquire);
        int i = absl::Uniform(gen, 0, std::max(n, 1));
        i = i - i % 4 + kStableSlot;
        if (i >= n) continue;
        alignas(kPageSize) Page page;
        if (mmap != nullptr && r == 1) {
          absl::StatusOr<PageView> view = mmap->View(ids[i]);
          if (!view.ok()) return fail(view.status().ToString());
          std::memcpy(page.data(), view->data(), kPageSize);
        } else if (absl::Status s = dm->ReadPage(ids[i], page); !s.ok()) {
          return fail(s.ToString());
        }
        if (!PageHolds(page, ids[i], 0)) return fail(fmt::format("page {} changed", ids[i]));
      }
    });
  }
  threads.emplace_back([&] {
    while (!done.load(std::memory_order_acquire)) {
      if (absl::Status s = dm->Sync(); !s.ok()) return fail(s.ToString());
      std::this_thread::yield();
    }
  });
  allocator.join();
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.load(), 0);
  EXPECT_GT(dm->stats().growths, 20u);
  if (mmap != nullptr) {
    EXPECT_GT(dm->stats().remaps, 20u);
  }

  auto expected_version = [&](int i) -> std::uint64_t {
    return i % 4 < kWriters ? versions[i % 4][i] : 0;
  };
  PS_ASSERT_OK(dm->Sync());
  dm.reset();
  PS_ASSIGN_OR_FAIL(reopened, factory_.Open(OpenMode::kOpenExisting));
  ASSERT_EQ(reopened->page_count(), kSuperblockPageCount + kPages);
  for (int i = 0; i < kPages; ++i) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(reopened->ReadPage(ids[i], page));
    ASSERT_TRUE(PageHolds(page, ids[i], expected_version(i))) << "page " << ids[i];
  }
}

INSTANTIATE_TEST_SUITE_P(AllManagers, GrowthConcurrencyTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

// Many threads allocating at once get distinct pages, and every one is usable.
TEST(AllocationConcurrencyTest, ConcurrentAllocationsAreDistinct) {
  for (const ManagerKind& kind : AllManagerKinds()) {
    if (kind.options.pread.direct_io) continue;
    ManagerFactory factory(kind);
    PS_ASSIGN_OR_FAIL(dm, factory.Open());
    std::vector<std::vector<PageId>> got(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          absl::StatusOr<PageId> id = dm->AllocatePage();
          if (!id.ok()) return;
          alignas(kPageSize) Page page;
          FillPage(page, *id, t);
          if (dm->WritePage(*id, page).ok()) got[t].push_back(*id);
        }
      });
    }
    for (auto& t : threads) t.join();
    std::set<PageId> all;
    for (int t = 0; t < 4; ++t) {
      ASSERT_EQ(got[t].size(), 200u) << kind.name;
      for (PageId id : got[t]) {
        EXPECT_TRUE(all.insert(id).second) << kind.name << ": page " << id << " handed out twice";
        alignas(kPageSize) Page page;
        PS_ASSERT_OK(dm->ReadPage(id, page));
        EXPECT_TRUE(PageHolds(page, id, t));
      }
    }
    EXPECT_EQ(dm->page_count(), kSuperblockPageCount + 800) << kind.name;
  }
}

// A per-thread counter loses nothing: more threads alive at once than there are owned slots
// (the rest share the overflow slot), then threads that reuse the slots of threads that exited.
TEST(PerThreadCounterTest, CountsExactlyPastTheSlotsAndAcrossThreadExits) {
  PerThreadCounter counter;
  constexpr int kLive = static_cast<int>(kOwnedSlots) + 40;
  constexpr int kAdds = 1000;
  std::atomic<int> started{0};
  std::atomic<int> max_slot{-1};
  std::vector<std::thread> threads;
  for (int t = 0; t < kLive; ++t) {
    threads.emplace_back([&] {
      const int slot = static_cast<int>(ThisThreadOwnedSlot());
      int seen = max_slot.load();
      while (slot > seen && !max_slot.compare_exchange_weak(seen, slot)) {
      }
      started.fetch_add(1);
      while (started.load() < kLive) std::this_thread::yield();  // all alive at once
      for (int i = 0; i < kAdds; ++i) counter.Add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(max_slot.load(), static_cast<int>(kOwnedSlots)) << "premise: some thread overflowed";
  EXPECT_EQ(counter.Load(), std::int64_t{kLive} * kAdds);
  for (int t = 0; t < 20; ++t) {
    std::thread([&] {
      for (int i = 0; i < kAdds; ++i) counter.Add(2);
    }).join();
  }
  EXPECT_EQ(counter.Load(), std::int64_t{kLive} * kAdds + 20 * 2 * kAdds);
}

}  // namespace
}  // namespace pagestore::testing
