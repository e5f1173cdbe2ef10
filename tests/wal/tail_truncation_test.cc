// Tail truncation (StoreOptions::truncate_free_tail) beside everything that can happen to the
// pages it gives back: a shrink the disk manager refuses, writers growing the file and freeing
// its last pages while checkpoints cut, and disk manager swaps meanwhile. Every committed page
// keeps its bytes, no page is both free and used, and none is lost.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "tests/storage/test_util.h"
#include "tests/wal/wal_test_util.h"
#include "wal/store.h"

namespace pagestore::testing {
namespace {

StoreOptions TruncatingOptions() {
  StoreOptions o = SmallStoreOptions();
  o.truncate_free_tail = true;
  o.checkpoint_interval_bytes = 1ull << 40;  // only the checkpoints the test takes
  return o;
}

// Page `id` holds its own id and `stamp` after its header.
absl::Status Stamp(MiniTransaction& mtr, PageId id, std::uint64_t stamp) {
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(id);
  if (!p.ok()) return p.status();
  std::memcpy(p->data() + kPageHeaderSize, &id, 8);
  std::memcpy(p->data() + kPageHeaderSize + 8, &stamp, 8);
  return absl::OkStatus();
}

absl::Status Check(Store& store, PageId id, std::uint64_t stamp) {
  absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(id);
  if (!g.ok()) return g.status();
  std::uint64_t got_id, got_stamp;
  std::memcpy(&got_id, g->data().data() + kPageHeaderSize, 8);
  std::memcpy(&got_stamp, g->data().data() + kPageHeaderSize + 8, 8);
  if (got_id != id || got_stamp != stamp) {
    return absl::DataLossError(fmt::format("page {} holds id {} stamp {}, expected stamp {}", id,
                                           got_id, got_stamp, stamp));
  }
  return absl::OkStatus();
}

// Every live page holds its stamp; no page is both live and free; every page below the count is
// one or the other.
void ExpectConsistent(Store& store, const std::map<PageId, std::uint64_t>& live,
                      const std::string& context) {
  const std::vector<PageId> free = store.FreePages();
  const PageId count = store.pool().page_count();
  for (const auto& [id, stamp] : live) {
    ASSERT_LT(id, count) << context << ": live page " << id << " past the end";
    absl::Status s = Check(store, id, stamp);
    ASSERT_TRUE(s.ok()) << context << ": " << s;
    ASSERT_FALSE(std::binary_search(free.begin(), free.end(), id))
        << context << ": page " << id << " is live and free";
  }
  for (PageId f : free) ASSERT_LT(f, count) << context << ": free page " << f << " past the end";
  EXPECT_EQ(live.size() + free.size(), count - kFirstDataPage)
      << context << ": pages neither live nor free";
}

TEST(TailTruncationTest, AShrinkThatFailsPutsTheTailBack) {
  SimulatedStore sim(TruncatingOptions());
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  Store& s = **store;
  std::map<PageId, std::uint64_t> live;
  {
    MiniTransaction mtr = s.BeginMtr();
    for (int i = 0; i < 6; ++i) {
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kRaw);
      ASSERT_TRUE(id.ok()) << id.status();
      ASSERT_TRUE(Stamp(mtr, *id, 7).ok());
      live[*id] = 7;
    }
    ASSERT_TRUE(mtr.Commit().ok());
  }
  ASSERT_TRUE(s.Checkpoint().ok());
  {
    MiniTransaction mtr = s.BeginMtr();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(mtr.FreePage(std::prev(live.end())->first).ok());
      live.erase(std::prev(live.end()));
    }
    ASSERT_TRUE(mtr.Commit().ok());
  }
  const PageId count = s.pool().page_count();
  sim.fault()->FailCall(1, EIO);  // the checkpoint's first disk call: the shrink
  EXPECT_FALSE(s.Checkpoint().ok());
  sim.fault()->ClearFaults();
  EXPECT_EQ(s.pool().page_count(), count);
  ASSERT_NO_FATAL_FAILURE(ExpectConsistent(s, live, "after the failed shrink"));
  ASSERT_TRUE(s.Checkpoint().ok());
  EXPECT_LT(s.pool().page_count(), count) << "the next checkpoint gives the tail back";
  ASSERT_NO_FATAL_FAILURE(ExpectConsistent(s, live, "after the next checkpoint"));
}

// Two writers grow the file, stamp their pages and free their newest ones (the file's end),
// while a third thread checkpoints (truncating) and swaps the disk manager. Then everything is
// checked, and again after a reopen.
TEST(TailTruncationTest, CheckpointsCutBesideWritersGrowingAndFreeingTheEnd) {
  TempDir dir;
  StoreOptions o = TruncatingOptions();
  o.pool_frames = 128;
  std::array<std::map<PageId, std::uint64_t>, 2> live;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("t.pages"), o);
    ASSERT_TRUE(store.ok()) << store.status();
    Store& s = **store;
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::array<std::string, 2> errors;
    std::vector<std::thread> writers;
    for (int t = 0; t < 2; ++t) {
      writers.emplace_back([&, t] {
        std::mt19937_64 rng(t + 1);
        for (std::uint64_t n = 1; n <= 400 && failures.load() == 0; ++n) {
          MiniTransaction mtr = s.BeginMtr();
          absl::Status st;
          std::vector<PageId> added, freed;
          // Phases of 25: growing (up to 4 pages added, up to 1 freed), then shrinking (up to 1
          // added, up to 5 freed), so the end of the file is freed often.
          const bool growing = (n / 25) % 2 == 0;
          const int adds = growing ? 1 + static_cast<int>(rng() % 4) : static_cast<int>(rng() % 2);
          const int frees = growing ? static_cast<int>(rng() % 2) : 1 + static_cast<int>(rng() % 5);
          for (int i = 0; i < adds && st.ok(); ++i) {
            absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kRaw);
            st = id.ok() ? Stamp(mtr, *id, n * 2 + t) : id.status();
            if (st.ok()) added.push_back(*id);
          }
          // Free this writer's newest pages (likely the file's last ones).
          for (int i = 0; i < frees && st.ok() && !live[t].empty(); ++i) {
            const PageId victim = std::prev(live[t].end())->first;
            st = mtr.FreePage(victim);
            if (st.ok()) {
              freed.push_back(victim);
              live[t].erase(victim);
            }
          }
          if (st.ok()) st = mtr.Commit().status();
          if (!st.ok()) {
            errors[t] = st.ToString();
            failures.fetch_add(1);
            return;
          }
          for (PageId id : added) live[t][id] = n * 2 + t;
        }
      });
    }
    std::thread checkpointer([&] {
      for (int i = 0; !stop.load(); ++i) {
        absl::Status st = s.Checkpoint();
        if (st.ok() && i % 7 == 3) {
          DiskManagerOptions d;
          d.kind = i % 2 == 0 ? DiskManagerKind::kMmap : DiskManagerKind::kPread;
          st = s.pool().SwapDiskManager(d);
        }
        if (!st.ok()) {
          errors[0] += " checkpointer: " + st.ToString();
          failures.fetch_add(1);
          return;
        }
      }
    });
    for (auto& w : writers) w.join();
    stop = true;
    checkpointer.join();
    ASSERT_EQ(failures.load(), 0) << errors[0] << " / " << errors[1];
    // Whatever the checkpoints during the run gave back, the newest pages freed now are the
    // end of the file, which the next checkpoints give back.
    const std::uint64_t during = s.stats().pages_truncated;
    {
      MiniTransaction mtr = s.BeginMtr();
      std::map<PageId, std::uint64_t> both = live[0];
      both.insert(live[1].begin(), live[1].end());
      for (auto it = both.rbegin(); it != both.rend() && both.size() > 20; ++it) {
        if (std::distance(both.rbegin(), it) >= static_cast<long>(both.size() / 2)) break;
        ASSERT_TRUE(mtr.FreePage(it->first).ok());
        live[0].erase(it->first);
        live[1].erase(it->first);
      }
      ASSERT_TRUE(mtr.Commit().ok());
    }
    // Within three checkpoints (as Store::Compact counts): a cut during the run may have left
    // the free list's trunks at the very end of the file (the lowest pages of a tail stay free
    // for them), and those are released only two checkpoints later.
    for (int i = 0; i < 3 && s.stats().pages_truncated == during; ++i) {
      ASSERT_TRUE(s.Checkpoint().ok());
    }
    EXPECT_GT(s.stats().pages_truncated, during) << "no checkpoint gave pages back";
    std::map<PageId, std::uint64_t> all = live[0];
    all.insert(live[1].begin(), live[1].end());
    ASSERT_NO_FATAL_FAILURE(ExpectConsistent(s, all, "while open"));
    ASSERT_TRUE(s.Close().ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.file("t.pages"), o);
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<PageId, std::uint64_t> all = live[0];
  all.insert(live[1].begin(), live[1].end());
  ASSERT_NO_FATAL_FAILURE(ExpectConsistent(**store, all, "after a reopen"));
}

}  // namespace
}  // namespace pagestore::testing
