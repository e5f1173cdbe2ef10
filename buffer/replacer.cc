#include "buffer/replacer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "buffer/clock_replacer.h"
#include "buffer/lru_k_replacer.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace pagestore {
namespace {

// Access time for LRU-K: the TSC where there is one (invariant and synchronized across cores on
// the machines we run on, ~20 cycles, no shared write), else the steady clock. Strictly
// increasing within a thread, so that one thread's accesses are ordered as it made them: two
// reads of the TSC can differ by a single tick (virtual machines advance it in uneven steps) or
// not at all, and a tie would let eviction order them either way. Never 0.
std::uint64_t AccessTime() {
#if defined(__x86_64__)
  std::uint64_t t = __rdtsc();
#else
  std::uint64_t t =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
  thread_local std::uint64_t last = 0;
  if (t <= last) t = last + 1;
  last = t;
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Replacer>> MakeReplacer(std::size_t frames,
                                                       const ReplacerOptions& options) {
  if (frames == 0) return absl::InvalidArgumentError("a replacer needs at least one frame");
  switch (options.policy) {
    case ReplacerOptions::Policy::kLruK:
      if (options.k < 1 || options.k > 8) {
        return absl::InvalidArgumentError(
            fmt::format("LRU-K needs 1 <= K <= 8, got K = {}", options.k));
      }
      return std::unique_ptr<Replacer>(std::make_unique<LruKReplacer>(frames, options.k));
    case ReplacerOptions::Policy::kClock:
      return std::unique_ptr<Replacer>(std::make_unique<ClockReplacer>(frames));
  }
  return absl::InvalidArgumentError("unknown replacement policy");
}

// ---------------------------------------------------------------------------------------------
// LRU-K

LruKReplacer::LruKReplacer(std::size_t frames, int k)
    : frames_(frames),
      k_(static_cast<std::size_t>(k)),
      batch_(std::max<std::size_t>(8, frames / 32)),
      history_(new std::atomic<std::uint64_t>[frames * static_cast<std::size_t>(k)]()) {}

void LruKReplacer::RecordAccess(FrameId frame) {
  std::atomic<std::uint64_t>* h = history(frame);
  // Concurrent hits on one frame may interleave their shifts; the history then loses an access,
  // which only makes the frame look a little colder. No lock for that.
  for (std::size_t i = k_ - 1; i > 0; --i) {
    h[i].store(h[i - 1].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  h[0].store(AccessTime(), std::memory_order_relaxed);
}

void LruKReplacer::Remove(FrameId frame) {
  std::atomic<std::uint64_t>* h = history(frame);
  for (std::size_t i = 0; i < k_; ++i) h[i].store(0, std::memory_order_relaxed);
}

void LruKReplacer::Rescan(absl::FunctionRef<bool(FrameId)> evictable) {
  // Sort key: frames with fewer than K accesses first (infinite backward K-distance), oldest
  // recorded access first among them; then by the K-th most recent access, oldest first.
  using Key = std::tuple<int, std::uint64_t, FrameId, std::uint64_t>;
  std::vector<Key> keys;
  keys.reserve(frames_);
  for (FrameId f = 0; f < frames_; ++f) {
    const std::atomic<std::uint64_t>* h = history(f);
    const std::uint64_t last = h[0].load(std::memory_order_relaxed);
    if (last == 0 || !evictable(f)) continue;
    const std::uint64_t kth = h[k_ - 1].load(std::memory_order_relaxed);
    if (kth != 0) {
      keys.emplace_back(1, kth, f, last);
      continue;
    }
    std::uint64_t oldest = last;
    for (std::size_t i = 1; i < k_; ++i) {
      const std::uint64_t t = h[i].load(std::memory_order_relaxed);
      if (t != 0) oldest = t;
    }
    keys.emplace_back(0, oldest, f, last);
  }
  // Select the best `n` in linear time, then order just those.
  const std::size_t n = std::min(batch_, keys.size());
  const auto nth = keys.begin() + static_cast<std::ptrdiff_t>(n);
  if (n < keys.size()) std::nth_element(keys.begin(), nth, keys.end());
  std::sort(keys.begin(), nth);
  queue_.clear();
  next_ = 0;
  handed_out_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    queue_.push_back({std::get<2>(keys[i]), std::get<3>(keys[i]), std::get<0>(keys[i]) == 1});
  }
}

std::optional<FrameId> LruKReplacer::NewPageSinceScan(
    absl::FunctionRef<bool(FrameId)> evictable) const {
  std::optional<FrameId> best;
  std::uint64_t best_oldest = 0;
  for (FrameId f : handed_out_) {
    const std::atomic<std::uint64_t>* h = history(f);
    if (h[0].load(std::memory_order_relaxed) == 0 ||
        h[k_ - 1].load(std::memory_order_relaxed) != 0) {
      continue;  // not reloaded yet, or used K times already
    }
    std::uint64_t oldest = 0;
    for (std::size_t i = 0; i < k_; ++i) {
      const std::uint64_t t = h[i].load(std::memory_order_relaxed);
      if (t != 0) oldest = t;
    }
    if ((!best || oldest < best_oldest) && evictable(f)) {
      best = f;
      best_oldest = oldest;
    }
  }
  return best;
}

std::optional<FrameId> LruKReplacer::PickVictim(absl::FunctionRef<bool(FrameId)> evictable) {
  MutexLock lock(&mu_);
  // Accesses racing the scan can invalidate every queued candidate; a few rescans settle it,
  // after which a candidate that is merely "used since" is still taken rather than failing.
  for (int attempt = 0;; ++attempt) {
    const bool strict = attempt < 4;
    while (next_ < queue_.size()) {
      const Candidate c = queue_[next_];
      if (c.full_history) {
        if (std::optional<FrameId> fresh = NewPageSinceScan(evictable)) return fresh;
      }
      ++next_;
      const std::uint64_t last = history(c.frame)[0].load(std::memory_order_relaxed);
      if (last == 0 || (strict && last != c.last_access)) continue;
      if (evictable(c.frame)) {
        handed_out_.push_back(c.frame);
        return c.frame;
      }
    }
    Rescan(evictable);
    if (queue_.empty()) return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// CLOCK

ClockReplacer::ClockReplacer(std::size_t frames)
    : frames_(frames), state_(new std::atomic<std::uint8_t>[frames]()) {
  hit_marks_ = state_.get();
}

void ClockReplacer::RecordAccess(FrameId frame) {
  if (state_[frame].load(std::memory_order_relaxed) != kReferenced) {
    state_[frame].store(kReferenced, std::memory_order_relaxed);
  }
}

void ClockReplacer::Remove(FrameId frame) {
  state_[frame].store(kUntracked, std::memory_order_relaxed);
}

std::optional<FrameId> ClockReplacer::PickVictim(absl::FunctionRef<bool(FrameId)> evictable) {
  MutexLock lock(&mu_);
  // Two full turns: the first may only clear reference bits.
  for (std::size_t step = 0; step < 2 * frames_ + 1; ++step) {
    const FrameId f = static_cast<FrameId>(hand_);
    hand_ = hand_ + 1 == frames_ ? 0 : hand_ + 1;
    const std::uint8_t s = state_[f].load(std::memory_order_relaxed);
    if (s == kUntracked || !evictable(f)) continue;
    if (s == kReferenced) {
      // A CAS, not a store: a Remove racing the hand must not be undone into "tracked".
      std::uint8_t expected = kReferenced;
      state_[f].compare_exchange_strong(expected, kTracked, std::memory_order_relaxed);
      continue;
    }
    return f;
  }
  return std::nullopt;
}

}  // namespace pagestore
