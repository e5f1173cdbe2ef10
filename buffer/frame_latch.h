// FrameLatch: a buffer frame's latch and version in one 64-bit word (the state word).
//
// Layout, low bits first:
//   bits 0-7    lock: 0 free, 1..kMaxShared shared holders, kExclusive (255) exclusive
//   bit  8      waiters: some thread sleeps on the word (atomic wait) for the lock to change
//   bits 9-15   writers waiting: while non-zero, no new read phase starts (see compatible())
//   bits 16-63  version: +1 at every exclusive unlock (and downgrade), wrapping after 2^48
//
// Three modes. Shared and exclusive are a reader-writer latch in which a waiting writer gets in
// as soon as the readers present leave. Optimistic takes nothing and writes nothing:
// Snapshot() reads the word, the caller reads the protected bytes, and Validate() says whether
// no exclusive holder came in between (the version is unchanged and nobody holds it exclusively
// now). An exclusive holder may change the bytes at any moment, so a reader acts on what it
// read optimistically only after Validate() says true; before that, the bytes may be torn.
//
// Memory order: a shared or exclusive lock acquires, an unlock releases. An exclusive lock is
// followed by a release fence, so a reader that sees any byte written under it also sees the
// lock in the word when it validates (the seqlock rule); Validate() issues the acquire fence.
//
// The pool holds the latch for as long as a page guard lives: it is taken in one function and
// released in another, possibly on another thread, which is why it is not a std::shared_mutex
// and not annotated for the thread-safety analysis. Not copyable or movable.
//
// Thread safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/functional/function_ref.h"

#if defined(__SANITIZE_THREAD__)
#define PAGESTORE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PAGESTORE_TSAN 1
#endif
#endif

namespace pagestore {

// The seqlock's fences. GCC's ThreadSanitizer rejects std::atomic_thread_fence, so its builds
// use a compiler barrier: on x86 (the only target of those builds), where loads are not
// reordered with loads nor stores with stores, that is all the fences have to stop.
inline void SeqlockFence(std::memory_order order) {
#ifdef PAGESTORE_TSAN
  (void)order;
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(order);
#endif
}

class FrameLatch {
 public:
  static constexpr std::uint64_t kLockMask = 0xFF;
  static constexpr std::uint64_t kExclusive = 0xFF;
  static constexpr std::uint64_t kMaxShared = 0xFE;
  static constexpr std::uint64_t kWaiters = 0x100;
  static constexpr std::uint64_t kWriterUnit = 0x200;  // bits 9-15: threads waiting to write
  static constexpr std::uint64_t kWriterMask = 0xFE00;
  static constexpr std::uint64_t kVersionUnit = 0x10000;
  static constexpr std::uint64_t kFlagsMask = kLockMask | kWaiters | kWriterMask;

  FrameLatch() = default;
  FrameLatch(const FrameLatch&) = delete;
  FrameLatch& operator=(const FrameLatch&) = delete;

  // Whether a thread could take the latch in this mode under word `s`. A reader may join
  // readers that are in, but may not let the count rise from zero while a writer waits: so a
  // stream of readers cannot starve a writer, and a thread that holds the latch shared can
  // always take it shared again.
  static bool compatible(std::uint64_t s, bool exclusive) {
    const std::uint64_t lock = s & kLockMask;
    if (exclusive) return lock == 0;
    return lock < kMaxShared && (lock != 0 || (s & kWriterMask) == 0);
  }

  [[nodiscard]] bool TryLockShared() {
    std::uint64_t s = word_.load(std::memory_order_relaxed);
    while (compatible(s, false)) {
      if (word_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  void LockShared() {
    while (!TryLockShared() && !LockOrSleep(/*exclusive=*/false, [] { return true; })) {
    }
  }
  void UnlockShared() {
    const std::uint64_t old = word_.fetch_sub(1, std::memory_order_release);
    // Sleepers wait for the count to reach zero (writers) or to drop below the limit (readers).
    if ((old & kWaiters) && ((old & kLockMask) == 1 || (old & kLockMask) == kMaxShared))
        [[unlikely]] {
      Wake();
    }
  }

  [[nodiscard]] bool TryLockExclusive() {
    std::uint64_t s = word_.load(std::memory_order_relaxed);
    while ((s & kLockMask) == 0) {
      if (word_.compare_exchange_weak(s, s | kExclusive, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        SeqlockFence(std::memory_order_release);  // the seqlock rule (see above)
        return true;
      }
    }
    return false;
  }
  void LockExclusive() {
    while (!TryLockExclusive() && !LockOrSleep(/*exclusive=*/true, [] { return true; })) {
    }
  }
  // Ends an exclusive hold: the version moves on, so every optimistic read that overlapped the
  // hold fails validation.
  void UnlockExclusive() {
    const std::uint64_t old = word_.fetch_add(kVersionUnit - kExclusive, std::memory_order_release);
    if (old & kWaiters) [[unlikely]]
      Wake();
  }
  // Exclusive to shared, letting no other exclusive holder in between. Moves the version on.
  void Downgrade() {
    const std::uint64_t old =
        word_.fetch_add(kVersionUnit - kExclusive + 1, std::memory_order_release);
    if (old & kWaiters) [[unlikely]]
      Wake();
  }

  // For an exclusive holder that changed what the latch protects (the pool's eviction gives the
  // frame to another page): wakes every sleeper, whose wait ends without the latch, so each
  // can check whether it still wants it.
  // The change must be stored (seq_cst) before this is called: a sleeper registers and then
  // checks, this side changes and then looks for sleepers, so one of the two sees the other.
  void WakeSleepers() {
    if (word_.load(std::memory_order_seq_cst) & kWaiters) Wake();
  }

  // One round of waiting: spins a little, then sleeps on the word until an unlock may have let
  // the caller in; true if it took the latch. A caller that must check something between
  // rounds (the pool checks the frame still holds its page: it must never sleep on a frame
  // given to another page) passes `still_wanted`, which is asked after the thread registered
  // as a sleeper and before it sleeps (pair it with WakeSleepers); the caller loops.
  // While a writer sleeps it is counted in the word, which keeps new readers out.
  [[nodiscard]] bool LockOrSleep(bool exclusive, absl::FunctionRef<bool()> still_wanted);

  // Optimistic mode. The word to validate against; locked_exclusive(s) says the snapshot is of
  // no use (a writer is in): wait by taking the shared latch, or restart.
  std::uint64_t Snapshot() const { return word_.load(std::memory_order_acquire); }
  static bool locked_exclusive(std::uint64_t s) { return (s & kLockMask) == kExclusive; }
  // True when no exclusive hold began since `snapshot` (taken with no exclusive holder).
  bool Validate(std::uint64_t snapshot) const {
    SeqlockFence(std::memory_order_acquire);
    const std::uint64_t now = word_.load(std::memory_order_relaxed);
    return ((now ^ snapshot) & ~kFlagsMask) == 0 && !locked_exclusive(now);
  }
  // A snapshot taken while the caller holds the latch shared: valid until an exclusive holder.
  std::uint64_t SnapshotHeldShared() const { return word_.load(std::memory_order_relaxed); }

  std::uint64_t version() const { return word_.load(std::memory_order_relaxed) / kVersionUnit; }
  std::uint64_t writers_waiting() const {
    return (word_.load(std::memory_order_relaxed) & kWriterMask) / kWriterUnit;
  }
  bool is_locked() const { return (word_.load(std::memory_order_relaxed) & kLockMask) != 0; }
  bool is_locked_exclusive() const {
    return locked_exclusive(word_.load(std::memory_order_relaxed));
  }

 private:
  void Wake();

  std::atomic<std::uint64_t> word_{0};
};

}  // namespace pagestore
