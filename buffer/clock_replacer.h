// CLOCK (second-chance) replacement. See replacer.h for the policy.
//
// One byte of state per frame: untracked, tracked, or tracked and referenced. RecordAccess sets
// "referenced" (and skips the store when it is already set, so a hot frame's cache line stays
// shared); the hand, under a mutex, clears it on its way past and stops at the first tracked,
// unreferenced, evictable frame.
//
// Thread safety: see replacer.h.
#pragma once

#include <atomic>
#include <memory>

#include "buffer/replacer.h"
#include "storage/mutex.h"

namespace pagestore {

class ClockReplacer final : public Replacer {
 public:
  explicit ClockReplacer(std::size_t frames);

  void RecordAccess(FrameId frame) override;
  std::optional<FrameId> PickVictim(absl::FunctionRef<bool(FrameId)> evictable) override;
  void Remove(FrameId frame) override;
  std::string_view name() const override { return "clock"; }

 private:
  enum State : std::uint8_t { kUntracked = 0, kTracked = 1, kReferenced = kHitMark };
  const std::size_t frames_;
  const std::unique_ptr<std::atomic<std::uint8_t>[]> state_;
  Mutex mu_;
  std::size_t hand_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pagestore
