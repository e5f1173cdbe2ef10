// The pool under many threads, checked against a model: 8 threads of random reads, writes and
// new pages over a pool much smaller than the data, for every disk manager; then 4 threads
// reading and writing while the main thread swaps pread -> mmap -> pread 20 times. Every page
// carries (id, version) in its payload and its version in its LSN; a write bumps the version
// under the write guard and the model counts writes per page, so a lost or torn update shows as
// a mismatch. Labelled `concurrency`: CI runs it under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "storage/mutex.h"
#include "tests/buffer/pool_test_util.h"

namespace pagestore::testing {
namespace {

// The model: pages known to exist, and how many times each was written.
class Model {
 public:
  void Add(PageId id) {
    MutexLock lock(&mu_);
    ids_.push_back(id);
    writes_[id] = 0;
  }
  std::optional<PageId> Pick(absl::BitGen& gen) {
    ReaderMutexLock lock(&mu_);
    if (ids_.empty()) return std::nullopt;
    return ids_[absl::Uniform<std::size_t>(gen, 0, ids_.size())];
  }
  void CountWrite(PageId id) {
    MutexLock lock(&mu_);
    ++writes_[id];
  }
  std::vector<std::pair<PageId, std::uint64_t>> Expected() {
    MutexLock lock(&mu_);
    return {writes_.begin(), writes_.end()};
  }

 private:
  Mutex mu_;
  std::vector<PageId> ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PageId, std::uint64_t> writes_ ABSL_GUARDED_BY(mu_);
};

// Which version the payload holds (-1: none of the first 100000).
long PayloadVersion(ConstPageSpan page, PageId id) {
  for (long v = 0; v < 100000; ++v) {
    if (HoldsVersion(page, id, static_cast<std::uint64_t>(v))) return v;
  }
  return -1;
}

// One random operation; returns an error description or "". A pool with more threads than
// frames may legitimately run out of unpinned frames; `tolerate_exhaustion` says if it can here.
std::string Step(BufferPool& pool, Model& model, absl::BitGen& gen,
                 bool tolerate_exhaustion = true) {
  auto exhausted = [&](const absl::Status& s) {
    return tolerate_exhaustion && absl::IsResourceExhausted(s);
  };
  const int op = absl::Uniform(gen, 0, 100);
  if (op < 3) {
    absl::StatusOr<WritePageGuard> g = pool.NewPage();
    if (exhausted(g.status())) return "";
    if (!g.ok()) return g.status().ToString();
    WriteVersion(*g, 0);
    g->set_lsn(0);
    const PageId id = g->page_id();
    g->Release();
    model.Add(id);
    return "";
  }
  std::optional<PageId> id = model.Pick(gen);
  if (!id) return "";
  if (op < 60) {
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(*id);
    if (exhausted(g.status())) return "";
    if (!g.ok()) return g.status().ToString();
    if (!HoldsVersion(g->data(), *id, g->lsn())) {
      return fmt::format("page {} torn: LSN says version {}, payload holds {}", *id, g->lsn(),
                         PayloadVersion(g->data(), *id));
    }
    return "";
  }
  absl::StatusOr<WritePageGuard> g = pool.WritePage(*id);
  if (exhausted(g.status())) return "";
  if (!g.ok()) return g.status().ToString();
  const Lsn next = g->lsn() + 1;
  if (!HoldsVersion(g->data(), *id, next - 1)) return fmt::format("page {} torn before write", *id);
  WriteVersion(*g, next);
  g->set_lsn(next);
  model.CountWrite(*id);  // under the write guard: counts and versions advance together
  return "";
}

void RunThreads(int threads, int ops_each, std::uint64_t seed, BufferPool& pool, Model& model,
                std::atomic<int>& errors, const std::function<bool()>& keep_going = nullptr,
                bool tolerate_exhaustion = true) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      absl::BitGen gen(std::seed_seq{seed, std::uint64_t(t)});
      for (int i = 0; keep_going ? keep_going() : i < ops_each; ++i) {
        if (std::string e = Step(pool, model, gen, tolerate_exhaustion); !e.empty()) {
          if (errors.fetch_add(1) < 5) ADD_FAILURE() << "thread " << t << ": " << e;
          return;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
}

void ExpectMatchesModel(BufferPool& pool, Model& model) {
  for (const auto& [id, writes] : model.Expected()) {
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(id);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_EQ(g->lsn(), writes) << "page " << id << ": lost or extra writes";
    ASSERT_TRUE(HoldsVersion(g->data(), id, writes)) << "page " << id;
  }
}

// No frame leaked: every frame of the pool can be pinned at once, on distinct pages.
void ExpectEveryFrameUsable(BufferPool& pool, Model& model) {
  std::vector<ReadPageGuard> held;
  for (const auto& [id, writes] : model.Expected()) {
    if (held.size() == pool.frame_count()) break;
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(id);
    ASSERT_TRUE(g.ok()) << "frame leak? pinned " << held.size() << " of " << pool.frame_count()
                        << ": " << g.status();
    held.push_back(std::move(*g));
  }
  EXPECT_EQ(held.size(), pool.frame_count());
}

class PoolStressTest : public ::testing::TestWithParam<ManagerKind> {};

TEST_P(PoolStressTest, EightThreadsOverASmallPoolMatchTheModel) {
  PS_SKIP_IF_NO_DIRECT_IO(GetParam());
  const std::uint64_t seed = TestSeed();
  ManagerFactory factory(GetParam());
  PS_ASSIGN_OR_FAIL(disk, factory.Open());
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(32, std::move(disk)));
  Model model;
  for (PageId id : CreatePages(*pool, 200)) model.Add(id);  // data ~7x the pool
  std::atomic<int> errors{0};
  RunThreads(8, 3000, seed, *pool, model, errors);
  ASSERT_EQ(errors.load(), 0);
  EXPECT_GT(pool->stats().evictions, 100u);
  ExpectMatchesModel(*pool, model);
  ExpectEveryFrameUsable(*pool, model);
  // And what reached the disk is the same: flush, drop the pool, read through a fresh one.
  PS_ASSERT_OK(pool->FlushAll());
  pool.reset();
  PS_ASSIGN_OR_FAIL(disk2, factory.Open(OpenMode::kOpenExisting));
  PS_ASSIGN_OR_FAIL(pool2, BufferPool::Create(32, std::move(disk2)));
  ExpectMatchesModel(*pool2, model);
}

INSTANTIATE_TEST_SUITE_P(AllManagers, PoolStressTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

// Reads fail at random (one in 13 reaches the disk with EIO) while threads read, write, flush
// single pages and whole pools: errors surface, nothing wrong is returned, no write is lost, no
// frame leaks once the faults stop.
TEST(PoolFaultStressTest, RandomReadFailuresWithFlushesMatchTheModel) {
  const std::uint64_t seed = TestSeed();
  auto mem = std::make_shared<MemoryFile>();
  std::atomic<bool> faults{false};
  std::atomic<int> reads{0};
  DiskManagerOptions o;
  o.fault_hook = [&](IoCall c) {
    return c == IoCall::kRead && faults.load() && reads.fetch_add(1) % 13 == 0 ? EIO : 0;
  };
  PS_ASSIGN_OR_FAIL(disk, MemoryDiskManager::Open(mem, o));
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(24, std::move(disk)));
  Model model;
  for (PageId id : CreatePages(*pool, 150)) model.Add(id);
  faults = true;
  std::atomic<int> errors{0}, io_errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 6; ++t) {
    workers.emplace_back([&, t] {
      absl::BitGen gen(std::seed_seq{seed, std::uint64_t(t)});
      for (int i = 0; i < 2500; ++i) {
        const int op = absl::Uniform(gen, 0, 100);
        absl::Status s;
        if (op < 5) {
          std::optional<PageId> id = model.Pick(gen);
          s = op == 0 ? pool->FlushAll() : pool->FlushPage(*id);
        } else {
          std::string e = Step(*pool, model, gen);
          if (e.empty()) continue;
          if (e.find("UNAVAILABLE") != std::string::npos) {
            ++io_errors;
            continue;
          }
          if (errors.fetch_add(1) < 5) ADD_FAILURE() << e;
          return;
        }
        if (!s.ok() && !absl::IsUnavailable(s) && errors.fetch_add(1) < 5) ADD_FAILURE() << s;
      }
    });
  }
  for (auto& w : workers) w.join();
  faults = false;
  ASSERT_EQ(errors.load(), 0);
  EXPECT_GT(io_errors.load(), 10) << "the faults did not fire";
  ExpectMatchesModel(*pool, model);
  ExpectEveryFrameUsable(*pool, model);
}

// Threads holding one guard while taking another (ascending page order, as a B+tree descends),
// over a pool small enough that every step evicts: eviction must never wait on a page latch,
// or this deadlocks.
TEST(PoolStressTest2, HandOverHandGuardsUnderEvictionDoNotDeadlock) {
  const std::uint64_t seed = TestSeed();
  auto pool = MakeMemoryPool(12);
  std::vector<PageId> ids = CreatePages(*pool, 80);
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      absl::BitGen gen(std::seed_seq{seed, std::uint64_t(t)});
      for (int i = 0; i < 3000; ++i) {
        std::size_t a = absl::Uniform<std::size_t>(gen, 0, ids.size() - 1);
        std::size_t b = absl::Uniform<std::size_t>(gen, a + 1, ids.size());
        absl::StatusOr<WritePageGuard> first = pool->WritePage(ids[a]);
        if (!first.ok()) {
          if (!absl::IsResourceExhausted(first.status()) && errors.fetch_add(1) < 5) {
            ADD_FAILURE() << first.status();
          }
          continue;
        }
        absl::StatusOr<ReadPageGuard> second = pool->ReadPage(ids[b]);
        if (!second.ok() && !absl::IsResourceExhausted(second.status()) &&
            errors.fetch_add(1) < 5) {
          ADD_FAILURE() << second.status();
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(pool->stats().evictions, 1000u);
}

// NewPage while other threads fetch the newest page ids (as a scan or prefetch would): every
// new page keeps its contents, and no frame is orphaned.
TEST(PoolStressTest2, NewPageRacingFetchesOfNewIds) {
  auto pool = MakeMemoryPool(16);
  std::atomic<bool> done{false};
  std::thread scanner([&] {
    while (!done.load()) {
      const PageId count = pool->page_count();
      if (count > kFirstDataPage) {
        absl::StatusOr<ReadPageGuard> g = pool->ReadPage(count - 1);  // may not be written yet
        (void)g;
      }
    }
  });
  Model model;
  for (int i = 0; i < 2000; ++i) {
    absl::StatusOr<WritePageGuard> g = pool->NewPage();
    ASSERT_TRUE(g.ok()) << g.status();
    WriteVersion(*g, 0);
    g->set_lsn(0);
    model.Add(g->page_id());
  }
  done = true;
  scanner.join();
  ExpectMatchesModel(*pool, model);
  ExpectEveryFrameUsable(*pool, model);
}

TEST(PoolSwapTest, SwapPreadMmapPreadTwentyTimesUnderLoad) {
  const std::uint64_t seed = TestSeed();
  TempDir dir;
  DiskManagerOptions pread;
  pread.pread.growth_size = 64 << 10;
  DiskManagerOptions mmap = SmallMmapOptions();
  PS_ASSIGN_OR_FAIL(disk, OpenDiskManager(dir.file("swap.pages"), pread));
  PS_ASSIGN_OR_FAIL(pool, BufferPool::Create(32, std::move(disk)));
  Model model;
  for (PageId id : CreatePages(*pool, 150)) model.Add(id);
  std::atomic<int> errors{0};
  std::atomic<bool> swapping{true};
  // 4 threads, each holding at most one guard, over 32 frames: nothing may fail, not even for
  // want of a frame.
  std::thread load([&] {
    RunThreads(
        4, 0, seed, *pool, model, errors, [&] { return swapping.load(); },
        /*tolerate_exhaustion=*/false);
  });
  for (int i = 0; i < 20; ++i) {
    const DiskManagerOptions& next = i % 2 == 0 ? mmap : pread;
    absl::Status s = pool->SwapDiskManager(next);
    ASSERT_TRUE(s.ok()) << "swap " << i << ": " << s;
    EXPECT_TRUE(pool->disk_manager_name().starts_with(i % 2 == 0 ? "mmap" : "pread"))
        << pool->disk_manager_name();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  swapping = false;
  load.join();
  ASSERT_EQ(errors.load(), 0);
  const BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.swaps, 20u);
  EXPECT_GT(s.max_swap_pause.count(), 0);
  std::cout << "swap pauses: " << s.ToString() << "\n";
  ExpectMatchesModel(*pool, model);
  PS_ASSERT_OK(pool->FlushAll());
  pool.reset();
  PS_ASSIGN_OR_FAIL(disk2, OpenDiskManager(dir.file("swap.pages"), mmap));
  PS_ASSIGN_OR_FAIL(pool2, BufferPool::Create(32, std::move(disk2)));
  ExpectMatchesModel(*pool2, model);
}

}  // namespace
}  // namespace pagestore::testing
