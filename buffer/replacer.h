// Replacer: which buffer-pool frame to evict next. The pool reports accesses and asks for a
// victim; the pool alone knows which frames are pinned, so PickVictim takes its predicate.
//
// Two policies:
//  - LRU-K (O'Neil, O'Neil & Weikum 1993): evict the frame whose K-th most recent access is
//    oldest; a frame with fewer than K accesses has infinite backward distance and goes first
//    (oldest access first among those). A sequential scan touches each page once, so it evicts
//    its own pages and leaves a hot set (accessed K times) alone; through a full pool of hot
//    frames it evicts one hot frame, as exact LRU-K does (lru_k_replacer.h says how the batched
//    victim choice keeps this, and the one approximation left).
//  - CLOCK (second chance), the default: a reference bit per frame, set on access, cleared by
//    the sweeping hand; the first unreferenced evictable frame under the hand is the victim. A
//    hit writes the bit only when the hand has cleared it, so hot pages cost no shared writes.
//    It is not scan resistant: a scan through a full pool can evict hot pages whose bits the
//    hand has just cleared. Choose LRU-K where scans must leave the hot set alone.
//
// Ownership: the pool owns its replacer. Thread safety: RecordAccess and Remove are lock-free and
// safe from any thread (RecordAccess is the pool's hit path); PickVictim serializes on an
// internal mutex and is safe concurrently with both. An optimistic hit may record an access to a
// frame that is being evicted or freed at that moment; the pool's predicate never offers a frame
// that holds no page, so such a stale record only costs that frame its place in the order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace pagestore {

using FrameId = std::uint32_t;

class Replacer {
 public:
  virtual ~Replacer() = default;

  // `frame` was accessed (a hit, or a page just loaded into it). From now on it is a candidate.
  virtual void RecordAccess(FrameId frame) = 0;

  // The best candidate for which `evictable(frame)` holds, or nullopt if there is none. The pool
  // still has to claim the frame (it may have been pinned since); the choice is not a claim.
  virtual std::optional<FrameId> PickVictim(absl::FunctionRef<bool(FrameId)> evictable) = 0;

  // `frame` no longer holds a page (evicted, or its page was dropped): forget its history. It is
  // not a candidate again until its next RecordAccess.
  virtual void Remove(FrameId frame) = 0;

  virtual std::string_view name() const = 0;

  // The pool's hit path: RecordAccess, inline for a replacer whose record of an access is one
  // byte per frame set to kHitMark (CLOCK's reference mark): a load, and a store only when the
  // byte differs, with no call.
  void RecordHit(FrameId frame) {
    if (hit_marks_ != nullptr) {
      std::atomic<std::uint8_t>& mark = hit_marks_[frame];
      if (mark.load(std::memory_order_relaxed) != kHitMark) {
        mark.store(kHitMark, std::memory_order_relaxed);
      }
      return;
    }
    RecordAccess(frame);
  }

 protected:
  static constexpr std::uint8_t kHitMark = 2;
  // Set by such a replacer's constructor; owned by it.
  std::atomic<std::uint8_t>* hit_marks_ = nullptr;
};

struct ReplacerOptions {
  enum class Policy { kLruK, kClock };
  Policy policy = Policy::kClock;
  int k = 2;  // LRU-K's K, 1..8 (K = 1 is plain LRU)
};

// InvalidArgumentError for k out of range or zero frames.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Replacer>> MakeReplacer(
    std::size_t frames, const ReplacerOptions& options);

}  // namespace pagestore
