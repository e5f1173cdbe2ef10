// A B+tree's root and height as last read from its anchor, with the anchor frame's latch and the
// state word it had then (internal to the index layer). The root changes only in a change to the
// anchor page, which moves that frame's version; so while latch->Validate(snapshot) holds, the
// anchor still says what the hint says, and an optimistic descent starts at the root without
// reading the anchor. A failed validation (the anchor changed, was evicted, or a writer holds
// it) sends the reader to the anchor, which refreshes the hint.
//
// The four fields are published as a seqlock: a refresh (try-locked, so readers never wait)
// makes the sequence odd, stores the fields and makes it even again; a reader that sees the
// same even sequence before and after its loads has a consistent copy. Every field is an atomic
// (release stores, acquire loads: plain moves on x86), so there is no data race to annotate.
//
// Thread safety: Load and Store are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "buffer/frame_latch.h"
#include "storage/page.h"

namespace pagestore::index_internal {

class RootHint {
 public:
  struct Value {
    const FrameLatch* anchor_latch = nullptr;
    std::uint64_t anchor_snapshot = 0;
    PageId root = kInvalidPageId;
    std::uint32_t height = 0;
  };

  // A consistent copy; false when none was stored yet or a refresh is in progress.
  bool Load(Value* v) const {
    const std::uint64_t s = seq_.load(std::memory_order_acquire);
    if (s == 0 || (s & 1) != 0) return false;
    v->anchor_latch = latch_.load(std::memory_order_acquire);
    v->anchor_snapshot = snapshot_.load(std::memory_order_acquire);
    v->root = root_.load(std::memory_order_acquire);
    v->height = height_.load(std::memory_order_acquire);
    return seq_.load(std::memory_order_acquire) == s;
  }

  // Publishes `v`, unless another thread is publishing at this moment (then its value stands).
  void Store(const Value& v) {
    std::uint64_t s = seq_.load(std::memory_order_relaxed);
    if ((s & 1) != 0 || !seq_.compare_exchange_strong(s, s + 1, std::memory_order_acq_rel,
                                                      std::memory_order_relaxed)) {
      return;
    }
    // Release stores: a reader that sees one of them also sees the odd sequence, so its second
    // load of the sequence cannot match its first.
    latch_.store(v.anchor_latch, std::memory_order_release);
    snapshot_.store(v.anchor_snapshot, std::memory_order_release);
    root_.store(v.root, std::memory_order_release);
    height_.store(v.height, std::memory_order_release);
    seq_.store(s + 2, std::memory_order_release);
  }

 private:
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<const FrameLatch*> latch_{nullptr};
  std::atomic<std::uint64_t> snapshot_{0};
  std::atomic<PageId> root_{kInvalidPageId};
  std::atomic<std::uint32_t> height_{0};
};

}  // namespace pagestore::index_internal
