// PageTable: the buffer pool's page id -> frame translation, read with no lock and no write.
//
// A two-level array indexed by page id: a directory of 2^16 chunk pointers, each chunk 2^16
// frame entries, allocated zeroed on first use and never moved or freed before the table, so a
// reader needs two acquire loads and a miss costs the same. Memory: 512 KiB of directory (left
// untouched by the OS until used) and 256 KiB per 256 MiB of file that the pool has touched.
// Page ids from kLimit (2^32 pages, 16 TiB of file) up are not addressable.
//
// An entry holds frame + 1 (0: not resident). Entries change only by TryInsert (0 -> frame) and
// Erase (frame -> 0), each an atomic operation on the one entry; the pool does both while it
// holds the frame's latch exclusively.
//
// Thread safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "buffer/replacer.h"
#include "storage/page.h"

namespace pagestore {

class PageTable {
 public:
  static constexpr unsigned kChunkBits = 16;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kChunks = std::size_t{1} << 16;
  static constexpr PageId kLimit = PageId{kChunks} << kChunkBits;

  PageTable() : chunks_(static_cast<std::atomic<Entry*>*>(std::calloc(kChunks, sizeof(Entry*)))) {}
  ~PageTable() {
    if (chunks_ == nullptr) return;
    for (std::size_t i = 0; i < kChunks; ++i) std::free(chunks_[i].load(std::memory_order_relaxed));
    std::free(chunks_);
  }
  // False if the directory could not be allocated; then the table must not be used.
  bool ok() const { return chunks_ != nullptr; }
  PageTable(const PageTable&) = delete;
  PageTable& operator=(const PageTable&) = delete;

  // The frame that holds `id`, if any. REQUIRES: id < kLimit.
  std::optional<FrameId> Find(PageId id) const {
    const FrameId f = FindOrNone(id);
    if (f == kNone) return std::nullopt;
    return f;
  }
  // As Find, with kNone for no frame (the hit path's form: no optional to spill).
  static constexpr FrameId kNone = ~FrameId{0};
  FrameId FindOrNone(PageId id) const {
    const Entry* chunk = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    if (chunk == nullptr) return kNone;
    // An empty entry (0) wraps to kNone.
    return chunk[id & (kChunkSize - 1)].load(std::memory_order_acquire) - 1;
  }
  // Allocates the chunk that holds `id`'s entry; false if memory ran out. REQUIRES: id < kLimit.
  [[nodiscard]] bool Reserve(PageId id) {
    std::atomic<Entry*>& slot = chunks_[id >> kChunkBits];
    Entry* chunk = slot.load(std::memory_order_acquire);
    if (chunk != nullptr) return true;
    auto* fresh = static_cast<Entry*>(std::calloc(kChunkSize, sizeof(Entry)));
    if (fresh == nullptr) return false;
    if (!slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      std::free(fresh);  // another thread installed one first
    }
    return true;
  }
  // Maps `id` to `f` unless it is mapped already; then returns the frame it maps to.
  // REQUIRES: Reserve(id) returned true.
  std::optional<FrameId> TryInsert(PageId id, FrameId f) {
    Entry& e = chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & (kChunkSize - 1)];
    FrameId expected = 0;
    if (e.compare_exchange_strong(expected, f + 1, std::memory_order_release,
                                  std::memory_order_acquire)) {
      return std::nullopt;
    }
    return expected - 1;
  }
  // Unmaps `id` if it maps to `f`.
  void Erase(PageId id, FrameId f) {
    Entry* chunk = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    if (chunk == nullptr) return;
    FrameId expected = f + 1;
    chunk[id & (kChunkSize - 1)].compare_exchange_strong(expected, 0, std::memory_order_release,
                                                         std::memory_order_relaxed);
  }

 private:
  using Entry = std::atomic<FrameId>;

  std::atomic<Entry*>* const chunks_;
};

}  // namespace pagestore
