// FrameLatch: the state word's three modes, its waiting, and the seqlock property that an
// optimistic reader never accepts a torn image.
#include "buffer/frame_latch.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "buffer/page_guard.h"

namespace pagestore {
namespace {

TEST(FrameLatchTest, SharedHoldersExcludeAnExclusiveOneAndViceVersa) {
  FrameLatch l;
  ASSERT_TRUE(l.TryLockShared());
  ASSERT_TRUE(l.TryLockShared());
  EXPECT_FALSE(l.TryLockExclusive());
  l.UnlockShared();
  EXPECT_FALSE(l.TryLockExclusive());
  l.UnlockShared();
  ASSERT_TRUE(l.TryLockExclusive());
  EXPECT_TRUE(l.is_locked_exclusive());
  EXPECT_FALSE(l.TryLockShared());
  EXPECT_FALSE(l.TryLockExclusive());
  l.UnlockExclusive();
  EXPECT_FALSE(l.is_locked());
}

TEST(FrameLatchTest, OnlyAnExclusiveHoldFailsValidation) {
  FrameLatch l;
  const std::uint64_t s = l.Snapshot();
  ASSERT_FALSE(FrameLatch::locked_exclusive(s));
  l.LockShared();
  l.LockShared();
  EXPECT_TRUE(l.Validate(s)) << "shared holders do not change the page";
  l.UnlockShared();
  l.UnlockShared();
  EXPECT_TRUE(l.Validate(s));
  l.LockExclusive();
  EXPECT_FALSE(l.Validate(s)) << "a writer is in";
  EXPECT_TRUE(FrameLatch::locked_exclusive(l.Snapshot()));
  l.UnlockExclusive();
  EXPECT_FALSE(l.Validate(s)) << "a writer was in";
  EXPECT_EQ(l.version(), 1u);
  const std::uint64_t after = l.Snapshot();
  EXPECT_TRUE(l.Validate(after));
}

TEST(FrameLatchTest, DowngradeKeepsWritersOutAndMovesTheVersion) {
  FrameLatch l;
  const std::uint64_t s = l.Snapshot();
  l.LockExclusive();
  l.Downgrade();
  EXPECT_FALSE(l.Validate(s));
  EXPECT_FALSE(l.TryLockExclusive());
  EXPECT_TRUE(l.TryLockShared());
  l.UnlockShared();
  l.UnlockShared();
  EXPECT_TRUE(l.TryLockExclusive());
  l.UnlockExclusive();
}

TEST(FrameLatchTest, SharedHoldersStopAtTheCountLimit) {
  FrameLatch l;
  for (std::uint64_t i = 0; i < FrameLatch::kMaxShared; ++i) ASSERT_TRUE(l.TryLockShared());
  EXPECT_FALSE(l.TryLockShared()) << "the count never reaches the exclusive value";
  EXPECT_FALSE(l.is_locked_exclusive());
  for (std::uint64_t i = 0; i < FrameLatch::kMaxShared; ++i) l.UnlockShared();
  EXPECT_FALSE(l.is_locked());
}

TEST(FrameLatchTest, ASleepingWaiterWakesWhenTheHolderLeaves) {
  for (const bool exclusive_waiter : {false, true}) {
    FrameLatch l;
    l.LockExclusive();
    std::atomic<bool> entered{false};
    std::thread waiter([&] {
      if (exclusive_waiter) {
        l.LockExclusive();
        entered = true;
        l.UnlockExclusive();
      } else {
        l.LockShared();
        entered = true;
        l.UnlockShared();
      }
    });
    // The waiter cannot enter while the latch is held; give it time to go to sleep on it.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(entered.load());
    l.UnlockExclusive();
    waiter.join();  // a lost wake-up would hang here (and fail by the test timeout)
    EXPECT_TRUE(entered.load());
    EXPECT_FALSE(l.is_locked());
  }
}

TEST(FrameLatchTest, AWaitingWriterGetsInWhenTheReadersPresentLeave) {
  FrameLatch l;
  l.LockShared();
  std::atomic<bool> wrote{false};
  std::thread writer([&] {
    l.LockExclusive();
    wrote = true;
    l.UnlockExclusive();
  });
  while (l.writers_waiting() == 0) std::this_thread::yield();  // asleep, counted
  // A thread that holds the latch shared may take it again: the writer does not block it.
  ASSERT_TRUE(l.TryLockShared());
  l.UnlockShared();
  EXPECT_FALSE(wrote.load());
  l.UnlockShared();  // the last reader leaves: the writer is woken and gets in
  writer.join();
  EXPECT_TRUE(wrote.load());
  EXPECT_EQ(l.writers_waiting(), 0u);
  EXPECT_FALSE(l.is_locked());
  EXPECT_EQ(l.version(), 1u);
}

// Writers keep a block of words all equal, changing them one at a time under the exclusive
// latch; optimistic readers copy the block and keep it only when validation passes. A kept copy
// is never torn, and shared holders always see a whole block.
TEST(FrameLatchTest, AValidatedOptimisticReadIsNeverTorn) {
  FrameLatch l;
  std::array<std::uint64_t, 64> block{};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, kept{0}, restarts{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
        l.LockExclusive();
        for (std::uint64_t& word : block) word = n * 2 + static_cast<std::uint64_t>(w);
        l.UnlockExclusive();
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      for (int i = 0; i < 20000; ++i) {
        std::array<std::uint64_t, 64> copy;
        if (r == 0) {
          OptimisticReadScope scope;
          const std::uint64_t s = l.Snapshot();
          if (FrameLatch::locked_exclusive(s)) {
            restarts.fetch_add(1);
            continue;
          }
          copy = block;
          if (!l.Validate(s)) {
            restarts.fetch_add(1);
            continue;
          }
        } else {
          l.LockShared();
          copy = block;
          l.UnlockShared();
        }
        kept.fetch_add(1);
        for (std::uint64_t word : copy) {
          if (word != copy[0]) {
            torn.fetch_add(1);
            break;
          }
        }
      }
    });
  }
  for (std::size_t i = 2; i < threads.size(); ++i) threads[i].join();
  stop = true;
  threads[0].join();
  threads[1].join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(kept.load(), 0u);
}

}  // namespace
}  // namespace pagestore
