#include "buffer/frame_latch.h"

#include <thread>

namespace pagestore {

bool FrameLatch::LockOrSleep(bool exclusive, absl::FunctionRef<bool()> still_wanted) {
  // A short spin first: most holds are a node search or a small change.
  for (int spin = 0; spin < 64; ++spin) {
    if (exclusive ? TryLockExclusive() : TryLockShared()) return true;
    if (spin >= 32) std::this_thread::yield();
  }
  // Say that we sleep (and, for a writer, that a writer waits, which keeps new readers out),
  // then sleep until an unlock that sees the flag wakes every sleeper.
  std::uint64_t s = word_.load(std::memory_order_relaxed);
  std::uint64_t registered;
  for (;;) {
    if (compatible(s, exclusive)) return false;  // changed meanwhile: the caller tries again
    registered = s | kWaiters;
    if (exclusive && (s & kWriterMask) != kWriterMask) registered += kWriterUnit;
    if (word_.compare_exchange_weak(s, registered, std::memory_order_seq_cst,
                                    std::memory_order_relaxed)) {
      break;
    }
  }
  const bool counted = exclusive && registered != (s | kWaiters);
  if (still_wanted()) word_.wait(registered, std::memory_order_relaxed);
  if (!counted) return false;
  // Leave the writers' count; take the latch in the same step if it is free, so readers cannot
  // start a new phase in between.
  s = word_.load(std::memory_order_relaxed);
  for (;;) {
    const bool take = (s & kLockMask) == 0;
    const std::uint64_t next = (s - kWriterUnit) | (take ? kExclusive : 0);
    if (word_.compare_exchange_weak(s, next, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      if (take) {
        SeqlockFence(std::memory_order_release);
        return true;
      }
      // Readers kept out for us may be asleep: let them look again.
      if ((next & kWriterMask) == 0 && (next & kWaiters)) Wake();
      return false;
    }
  }
}

void FrameLatch::Wake() {
  word_.fetch_and(~kWaiters, std::memory_order_relaxed);
  word_.notify_all();
}

}  // namespace pagestore
