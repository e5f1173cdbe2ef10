// Counters that many threads bump without sharing a cache line, for statistics on hot paths,
// where a single atomic would bounce between cores on every page access.
//  - ShardedCounter: each thread adds (a locked add) to one of kShards padded slots, chosen by a
//    thread index that may be shared with other threads.
//  - PerThreadCounter: each live thread owns a padded slot (ThisThreadOwnedSlot) and adds with a
//    plain load and store, no locked instruction: nothing another thread writes, and nothing that
//    orders the caller's loads. For the pool's hit path.
// Reading sums the slots.
//
// Thread safety: Add and Load are safe from any thread; Load is a relaxed, possibly skewed sum.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pagestore {

// Stable small index for the calling thread, used to spread threads over shards.
std::size_t ThisThreadShard();

// The index, in [0, kOwnedSlots), of a slot the calling thread alone owns while it lives, or
// kOwnedSlots when that many threads already own one. Taken on the thread's first call, given
// back when the thread exits (the next owner continues the slot's counts: the handover is
// ordered by a mutex).
inline constexpr std::size_t kOwnedSlots = 256;
namespace internal {
// Slot + 1; 0 before the first call.
inline thread_local std::uint32_t owned_slot_plus_one = 0;
std::size_t AcquireOwnedSlot();
}  // namespace internal
inline std::size_t ThisThreadOwnedSlot() {
  const std::uint32_t s = internal::owned_slot_plus_one;
  if (s != 0) [[likely]]
    return s - 1;
  return internal::AcquireOwnedSlot();
}

template <std::size_t kShards = 16>
class ShardedCounter {
 public:
  void Add(std::int64_t n) {
    slots_[ThisThreadShard() % kShards].value.fetch_add(n, std::memory_order_relaxed);
  }
  void AddAt(std::size_t shard, std::int64_t n,
             std::memory_order order = std::memory_order_relaxed) {
    slots_[shard % kShards].value.fetch_add(n, order);
  }
  std::int64_t Load(std::memory_order order = std::memory_order_relaxed) const {
    std::int64_t sum = 0;
    for (const Slot& s : slots_) sum += s.value.load(order);
    return sum;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<std::int64_t> value{0};
  };
  Slot slots_[kShards];
};

class PerThreadCounter {
 public:
  void Add(std::int64_t n) {
    const std::size_t s = ThisThreadOwnedSlot();
    if (s < kOwnedSlots) [[likely]] {
      // Only the owner writes this slot, so load + store loses nothing.
      std::atomic<std::int64_t>& v = owned_[s].value;
      v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      overflow_.value.fetch_add(n, std::memory_order_relaxed);
    }
  }
  std::int64_t Load() const {
    std::int64_t sum = overflow_.value.load(std::memory_order_relaxed);
    for (const Slot& s : owned_) sum += s.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<std::int64_t> value{0};
  };
  Slot owned_[kOwnedSlots];
  Slot overflow_;
};

}  // namespace pagestore
