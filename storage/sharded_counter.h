// A counter that many threads bump without sharing a cache line: each thread adds to one of
// kShards padded slots; reading sums them. For statistics on hot paths, where a single atomic
// would bounce between cores on every page access.
//
// Thread safety: Add and Load are safe from any thread; Load is a relaxed, possibly skewed sum.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pagestore {

// Stable small index for the calling thread, used to spread threads over shards.
std::size_t ThisThreadShard();

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

}  // namespace pagestore
