// The hash index's directory, as the index's code reaches it: the per-object cache of directory
// page and bucket ids (HashIndex::DirCache), a reader that resolves positions under the anchor
// latched shared (the iterator, Stats, Verify), and a writer that changes positions under the
// anchor held exclusively in a structure change's mini-transaction (splits, merges, halving).
// index/README.md ("Directory pages", latch protocol 3) gives the layout and the rules. Internal
// to index/.
//
// Thread safety: DirCache is safe for concurrent use (atomic entries, never trusted); a DirReader
// or DirWriter belongs to one thread and lives inside the latch it was made under.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "index/hash_index.h"
#include "index/hash_page.h"

namespace pagestore {
namespace hash_internal {

// A lazily allocated array of `Size` atomic u64s (0 = unknown), in chunks of 4096.
template <std::uint64_t Size>
class LazyTable {
 public:
  static constexpr std::uint64_t kChunk = 4096;
  static constexpr std::uint64_t kChunks = (Size + kChunk - 1) / kChunk;
  LazyTable() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  ~LazyTable() {
    for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
  }
  LazyTable(const LazyTable&) = delete;
  LazyTable& operator=(const LazyTable&) = delete;
  std::uint64_t Get(std::uint64_t i) const {
    if (i >= Size) return 0;
    const std::atomic<std::uint64_t>* c = chunks_[i / kChunk].load(std::memory_order_acquire);
    return c == nullptr ? 0 : c[i % kChunk].load(std::memory_order_relaxed);
  }
  void Set(std::uint64_t i, std::uint64_t v) {
    if (i >= Size) return;
    std::atomic<std::uint64_t>* c = chunks_[i / kChunk].load(std::memory_order_acquire);
    if (c == nullptr) {
      auto* fresh = new std::atomic<std::uint64_t>[kChunk];
      for (std::uint64_t j = 0; j < kChunk; ++j) fresh[j].store(0, std::memory_order_relaxed);
      if (chunks_[i / kChunk].compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
        c = fresh;
      } else {
        delete[] fresh;
      }
    }
    c[i % kChunk].store(v, std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::atomic<std::uint64_t>*>, kChunks> chunks_;
};

// Bucket ids are cached for the first 2^22 positions (32 MiB at most); beyond, lookups go
// through the directory pages.
inline constexpr std::uint64_t kCachedPositions = std::uint64_t{1} << 22;

}  // namespace hash_internal

// The directory cache: the global depth, the directory page ids and the bucket ids of directory
// positions last seen. Never trusted: a directory page read through it must be one of this index
// with the expected number, and a bucket must be a live bucket of this index whose prefix
// matches the hash (which makes it the one bucket that can hold the key: live buckets partition
// the hashes by prefix). A stale entry costs a retry through the anchor, never a wrong answer.
class HashIndex::DirCache {
 public:
  static constexpr std::uint64_t kUnknown = 0;
  static constexpr std::uint64_t kMissing = 1;  // not written yet: a copy of SourceOf(n)

  int depth() const { return depth_.load(std::memory_order_acquire); }
  void set_depth(unsigned g) { depth_.store(static_cast<int>(g), std::memory_order_release); }
  // Directory page n's id, kMissing or kUnknown.
  std::uint64_t Get(std::uint64_t n) const { return pages_.Get(n); }
  void Set(std::uint64_t n, std::uint64_t v) { pages_.Set(n, v); }
  // The bucket last seen at a position (kUnknown if none).
  PageId BucketAt(std::uint64_t pos) const { return buckets_.Get(pos); }
  void SetBucketAt(std::uint64_t pos, PageId id) { buckets_.Set(pos, id); }

 private:
  std::atomic<int> depth_{-1};
  hash_internal::LazyTable<hash_internal::kMaxDirPages> pages_;
  hash_internal::LazyTable<hash_internal::kCachedPositions> buckets_;
};

namespace hash_internal {

// Directory positions resolved under the anchor latched for reading by the caller; keeps the
// last directory index page and directory page latched.
class DirReader {
 public:
  DirReader(BufferPool& pool, PageId anchor, const std::byte* meta)
      : pool_(pool), anchor_(anchor), meta_(meta) {}

  // The bucket id at directory position `pos` (through the source of a page not written yet).
  [[nodiscard]] absl::StatusOr<PageId> BucketAt(std::uint64_t pos);
  // The id of directory page n, or kInvalidPageId when it is not written (a copy of its source).
  [[nodiscard]] absl::StatusOr<PageId> Exact(std::uint64_t n);
  void Release();  // the pages it keeps latched

 private:
  BufferPool& pool_;
  const PageId anchor_;
  const std::byte* meta_;
  ReadPageGuard index_, dir_;
  std::uint64_t index_k_ = ~std::uint64_t{0}, dir_n_ = ~std::uint64_t{0};
};

// The directory seen through the anchor held exclusively by `mtr`.
class DirWriter {
 public:
  DirWriter(MiniTransaction& mtr, PageId anchor, std::byte* meta)
      : mtr_(mtr), anchor_(anchor), meta_(meta) {}

  // The id of directory page n, or kInvalidPageId when it is not written (a copy of its
  // source).
  [[nodiscard]] absl::StatusOr<PageId> Exact(std::uint64_t n);
  // The written page holding the logical contents of page n, latched: (its number, its span).
  [[nodiscard]] absl::StatusOr<std::pair<std::uint64_t, PageSpan>> Logical(std::uint64_t n);

  // Points every position i < 2^g with i mod 2^depth == prefix at `target`. A page not written
  // yet is written first (a copy of its source) when the change breaks its being a copy: when
  // the positions it shares with its source differ in a bit below `depth`.
  // Prepare latches (and writes) every page; Apply then changes the entries. Prepare returns
  // false, having changed nothing, when more than kMaxPagesPerChange pages would change (a
  // bucket far shallower than the directory: only skewed hashes make one).
  static constexpr std::size_t kMaxPagesPerChange = 256;
  [[nodiscard]] absl::StatusOr<bool> Prepare(unsigned g, unsigned depth, std::uint64_t prefix);
  void Apply(PageId target);

  // Writes page n (not written yet) as a copy of the page its contents come from.
  [[nodiscard]] absl::StatusOr<PageId> Materialize(std::uint64_t n);
  // Records page n's id (kInvalidPageId: no longer written) in its directory index page.
  [[nodiscard]] absl::Status SetExact(std::uint64_t n, PageId id);

 private:
  MiniTransaction& mtr_;
  const PageId anchor_;
  std::byte* meta_;
  std::vector<PageSpan> pages_;
  unsigned g_ = 0, depth_ = 0;
  std::uint64_t prefix_ = 0;
};

}  // namespace hash_internal
}  // namespace pagestore
