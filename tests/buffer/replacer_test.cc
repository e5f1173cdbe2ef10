// Replacement policies: the order each one evicts in, that pinned frames are never chosen, that
// LRU-K resists a sequential scan, and that the lock-free access path is safe under threads.
#include "buffer/replacer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "buffer/clock_replacer.h"
#include "buffer/lru_k_replacer.h"

namespace pagestore {
namespace {

constexpr auto kAll = [](FrameId) { return true; };

std::unique_ptr<Replacer> Make(std::size_t frames, ReplacerOptions::Policy policy, int k = 2) {
  auto r = MakeReplacer(frames, {.policy = policy, .k = k});
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(*r);
}

// Evicts everything evictable, returning the order (each victim removed as the pool would).
std::vector<FrameId> Drain(Replacer& r, absl::FunctionRef<bool(FrameId)> evictable = kAll) {
  std::vector<FrameId> order;
  while (std::optional<FrameId> v = r.PickVictim(evictable)) {
    order.push_back(*v);
    r.Remove(*v);
  }
  return order;
}

TEST(ReplacerFactoryTest, RejectsBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(MakeReplacer(0, {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      MakeReplacer(8, {.policy = ReplacerOptions::Policy::kLruK, .k = 0}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      MakeReplacer(8, {.policy = ReplacerOptions::Policy::kLruK, .k = 9}).status()));
  EXPECT_EQ(Make(4, ReplacerOptions::Policy::kLruK)->name(), "lru-k");
  EXPECT_EQ(Make(4, ReplacerOptions::Policy::kClock)->name(), "clock");
}

TEST(LruKReplacerTest, FewerThanKAccessesGoFirstOldestFirst) {
  LruKReplacer r(8, 2);
  for (FrameId f : {3, 1, 4}) r.RecordAccess(f);  // one access each
  for (FrameId f : {5, 6}) {
    r.RecordAccess(f);
    r.RecordAccess(f);  // two: finite K-distance
  }
  r.RecordAccess(1);  // now 1 has two accesses too, its 2nd most recent is early
  EXPECT_THAT(Drain(r), ::testing::ElementsAre(3, 4, 1, 5, 6));
}

TEST(LruKReplacerTest, OrdersByKthMostRecentAccess) {
  LruKReplacer r(4, 2);
  // Accesses #1..#8 to frames 0 1 2 0 1 2 2 0. The 2nd most recent access of frame 0 is #4, of
  // frame 1 #2, of frame 2 #6: oldest first.
  for (FrameId f : {0, 1, 2, 0, 1, 2, 2, 0}) r.RecordAccess(f);
  EXPECT_THAT(Drain(r), ::testing::ElementsAre(1, 0, 2));
}

TEST(LruKReplacerTest, KOfOneIsLru) {
  LruKReplacer r(4, 1);
  for (FrameId f : {0, 1, 2, 3, 1, 0}) r.RecordAccess(f);
  EXPECT_THAT(Drain(r), ::testing::ElementsAre(2, 3, 1, 0));
}

class ReplacerTest : public ::testing::TestWithParam<ReplacerOptions::Policy> {};

TEST_P(ReplacerTest, NeverPicksAFrameThatIsNotEvictable) {
  auto r = Make(16, GetParam());
  for (FrameId f = 0; f < 16; ++f) r->RecordAccess(f);
  auto odd_only = [](FrameId f) { return f % 2 == 1; };
  std::vector<FrameId> order = Drain(*r, odd_only);
  EXPECT_EQ(order.size(), 8u);
  for (FrameId f : order) EXPECT_EQ(f % 2, 1u);
  EXPECT_EQ(r->PickVictim([](FrameId) { return false; }), std::nullopt);
  EXPECT_EQ(Drain(*r).size(), 8u);  // the even ones, once they may go
}

TEST_P(ReplacerTest, UntrackedAndRemovedFramesAreNotCandidates) {
  auto r = Make(8, GetParam());
  EXPECT_EQ(r->PickVictim(kAll), std::nullopt);  // nothing accessed yet
  r->RecordAccess(2);
  r->RecordAccess(5);
  r->Remove(2);
  EXPECT_THAT(Drain(*r), ::testing::ElementsAre(5));
  r->RecordAccess(2);  // tracked again after a new access
  EXPECT_THAT(Drain(*r), ::testing::ElementsAre(2));
}

// The pool's life: a pool of 100 frames holds a hot set of 50 pages, each used several times;
// then a scan reads 2000 other pages once each. LRU-K must only ever evict scan pages.
TEST(LruKReplacerTest, SequentialScanDoesNotEvictTheHotSet) {
  constexpr FrameId kFrames = 100, kHot = 50;
  LruKReplacer r(kFrames, 2);
  for (int round = 0; round < 3; ++round) {
    for (FrameId f = 0; f < kHot; ++f) r.RecordAccess(f);
  }
  FrameId next_free = kHot;
  for (int page = 0; page < 2000; ++page) {
    FrameId frame;
    if (next_free < kFrames) {
      frame = next_free++;
    } else {
      std::optional<FrameId> v = r.PickVictim(kAll);
      ASSERT_TRUE(v.has_value());
      ASSERT_GE(*v, kHot) << "scan page " << page << " evicted hot frame " << *v;
      r.Remove(*v);
      frame = *v;
    }
    r.RecordAccess(frame);
  }
}

// The same through a pool with no free frame: every frame holds a hot page read K times, then a
// scan reads cold pages once each, the pool evicting a victim (Remove) and loading the page into
// it (RecordAccess) for each. Exact LRU-K evicts one hot page, then the scan's own pages; the
// batched choice once evicted a whole batch of hot pages (8 of 16 here) before it saw the scan's.
void ScanThroughAFullHotPool(FrameId frames, int k, int scan_pages) {
  LruKReplacer r(frames, k);
  for (int round = 0; round < k; ++round) {
    for (FrameId f = 0; f < frames; ++f) r.RecordAccess(f);
  }
  std::vector<bool> hot(frames, true);
  int hot_evicted = 0;
  for (int page = 0; page < scan_pages; ++page) {
    std::optional<FrameId> v = r.PickVictim(kAll);
    ASSERT_TRUE(v.has_value());
    if (hot[*v]) ++hot_evicted;
    hot[*v] = false;
    r.Remove(*v);
    r.RecordAccess(*v);
  }
  EXPECT_EQ(hot_evicted, 1) << frames << " frames, K = " << k << ", " << scan_pages
                            << " scan pages";
}

TEST(LruKReplacerTest, ScanThroughAFullPoolOfHotFramesEvictsOneHotFrame) {
  ScanThroughAFullHotPool(16, 2, 64);
  ScanThroughAFullHotPool(4096, 2, 16384);  // a 16 MiB pool: batches of 128
  ScanThroughAFullHotPool(1024, 3, 4096);
}

// CLOCK gives no such guarantee; what it does guarantee is a second chance.
TEST(ClockReplacerTest, ReferencedFramesGetASecondChance) {
  ClockReplacer r(4);
  for (FrameId f = 0; f < 4; ++f) r.RecordAccess(f);
  // First sweep clears all bits and evicts frame 0 on the second pass.
  EXPECT_EQ(r.PickVictim(kAll), 0u);
  r.Remove(0);
  r.RecordAccess(1);  // referenced again: skipped once more
  EXPECT_EQ(r.PickVictim(kAll), 2u);
  r.Remove(2);
  EXPECT_EQ(r.PickVictim(kAll), 3u);
  r.Remove(3);
  EXPECT_EQ(r.PickVictim(kAll), 1u);
}

// Many threads hitting while one thread evicts, as in the pool: no crash, no race (TSan), and
// every victim is a frame that was evictable when picked.
TEST_P(ReplacerTest, ConcurrentAccessesAndEvictions) {
  constexpr FrameId kFrames = 256;
  auto r = Make(kFrames, GetParam());
  for (FrameId f = 0; f < kFrames; ++f) r->RecordAccess(f);
  std::atomic<bool> stop{false};
  std::vector<std::thread> hitters;
  for (int t = 0; t < 3; ++t) {
    hitters.emplace_back([&, t] {
      // Seeded explicitly: a default BitGen draws on Abseil's entropy pool, whose locks TSan
      // cannot see in Debian's uninstrumented build.
      absl::BitGen gen(std::seed_seq{t});
      while (!stop.load(std::memory_order_relaxed)) {
        // Hitters stay off the frames the evictor may take, as pinned frames would be.
        const FrameId f = absl::Uniform<FrameId>(gen, 0, kFrames / 4) * 4 + t;
        r->RecordAccess(f);
      }
    });
  }
  int evicted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::optional<FrameId> v = r->PickVictim([&](FrameId f) { return f % 4 == 3; });
    if (!v) continue;
    ASSERT_EQ(*v % 4, 3u);
    r->Remove(*v);
    r->RecordAccess(*v);  // loaded with a new page
    ++evicted;
  }
  stop = true;
  for (auto& t : hitters) t.join();
  EXPECT_EQ(evicted, 5000);
}

INSTANTIATE_TEST_SUITE_P(Policies, ReplacerTest,
                         ::testing::Values(ReplacerOptions::Policy::kLruK,
                                           ReplacerOptions::Policy::kClock),
                         [](const auto& info) {
                           return info.param == ReplacerOptions::Policy::kLruK ? "LruK" : "Clock";
                         });

}  // namespace
}  // namespace pagestore
