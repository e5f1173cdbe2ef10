#include "storage/sharded_counter.h"

#include <bitset>
#include <mutex>

namespace pagestore {

std::size_t ThisThreadShard() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed);
  return shard;
}

namespace internal {
namespace {

struct OwnedSlots {
  std::mutex mu;
  std::bitset<kOwnedSlots> taken;
};

OwnedSlots& Slots() {
  static OwnedSlots* const slots = new OwnedSlots();  // never destroyed: threads outlive statics
  return *slots;
}

// Gives the thread's slot back when it exits. Counts added after that (by another thread-local
// destructor) go to the shared overflow slot.
struct SlotReleaser {
  std::size_t slot = kOwnedSlots;
  ~SlotReleaser() {
    if (slot == kOwnedSlots) return;
    owned_slot_plus_one = static_cast<std::uint32_t>(kOwnedSlots + 1);
    std::lock_guard<std::mutex> lock(Slots().mu);
    Slots().taken.reset(slot);
  }
};

}  // namespace

std::size_t AcquireOwnedSlot() {
  thread_local SlotReleaser releaser;
  std::size_t slot = kOwnedSlots;
  {
    std::lock_guard<std::mutex> lock(Slots().mu);
    for (std::size_t i = 0; i < kOwnedSlots; ++i) {
      if (!Slots().taken.test(i)) {
        Slots().taken.set(i);
        slot = i;
        break;
      }
    }
  }
  releaser.slot = slot;
  owned_slot_plus_one = static_cast<std::uint32_t>(slot + 1);
  return slot;
}

}  // namespace internal
}  // namespace pagestore
