// LRU-K replacement with a lock-free access path. See replacer.h for the policy.
//
// Each frame keeps its last K access times (TSC ticks) in its own atomics, so RecordAccess
// writes nothing shared. Choosing a victim exactly means comparing every frame, so PickVictim
// scans all frames once and queues the best `batch` of them in order; later calls pop that queue,
// skipping a candidate that was accessed (or removed) since the scan or is no longer evictable,
// and rescan when it runs dry. The O(frames) scan is thus paid once per `batch` evictions, and a
// popped victim is still the best by the histories seen at the scan.
//
// One thing changes between scans that the queue cannot see: a victim handed out since the scan
// holds a new page by the next call, with fewer than K accesses, so it now goes before any frame
// with K (infinite backward distance). Before taking a queued frame with K accesses, PickVictim
// therefore looks at the victims it handed out since the scan (at most `batch`) and takes the
// one of those with fewer than K accesses and the oldest access, if any. So a scan through a
// full pool of hot frames evicts one hot frame and then its own pages, as exact LRU-K does. The
// approximation left: a page loaded into a frame that was free at the scan (not a victim) is
// seen at the next scan, at most `batch` evictions later.
//
// Thread safety: see replacer.h.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "buffer/replacer.h"
#include "storage/mutex.h"

namespace pagestore {

class LruKReplacer final : public Replacer {
 public:
  LruKReplacer(std::size_t frames, int k);

  void RecordAccess(FrameId frame) override;
  std::optional<FrameId> PickVictim(absl::FunctionRef<bool(FrameId)> evictable) override;
  void Remove(FrameId frame) override;
  std::string_view name() const override { return "lru-k"; }

 private:
  struct Candidate {
    FrameId frame;
    std::uint64_t last_access;  // history[0] when queued: a change means it was used since
    bool full_history;          // K accesses when queued (not a frame of infinite distance)
  };
  std::atomic<std::uint64_t>* history(FrameId f) const { return &history_[f * k_]; }
  void Rescan(absl::FunctionRef<bool(FrameId)> evictable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Of the victims handed out since the scan, the evictable one with fewer than K accesses and
  // the oldest access, if any.
  std::optional<FrameId> NewPageSinceScan(absl::FunctionRef<bool(FrameId)> evictable) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::size_t frames_;
  const std::size_t k_;
  const std::size_t batch_;
  // frames_ * k_ access times, most recent first; 0 = no access recorded.
  const std::unique_ptr<std::atomic<std::uint64_t>[]> history_;
  Mutex mu_;
  std::vector<Candidate> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<FrameId> handed_out_ ABSL_GUARDED_BY(mu_);  // victims since the scan
};

}  // namespace pagestore
