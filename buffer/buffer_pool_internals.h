// BufferPoolInternals: the buffer pool's calls for the layer that owns page allocation,
// checkpoints and recovery (wal/), kept out of an engine's view. Internal; not installed.
//
// Each bypasses something the engine's calls keep: OverwritePage does not read (or verify) the
// page, EnsurePageCount and AllocatePageId grow the file without a log record, SetRoots changes
// what the next superblock sync points at. The store logs each of these uses itself.
// Ownership and thread safety: as BufferPool's (buffer/buffer_pool.h).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/buffer_pool.h"

namespace pagestore {

class BufferPoolInternals {
 public:
  // As WritePage, but a miss does not read the disk: the frame starts zeroed, for a caller that
  // overwrites the whole page (a page taken from the free list, a free-list trunk, recovery
  // restoring a full page image over a torn page whose bytes on disk would not verify). A
  // resident page is returned as it is.
  [[nodiscard]] static absl::StatusOr<WritePageGuard> OverwritePage(BufferPool& pool, PageId id) {
    return pool.OverwritePage(id);
  }
  // Extends the file until it holds at least `count` pages (recovery re-allocating pages whose
  // allocation was logged but whose page count never reached the superblock).
  [[nodiscard]] static absl::Status EnsurePageCount(BufferPool& pool, PageId count) {
    return pool.EnsurePageCount(count);
  }
  // Extends the file by one page and returns its id without caching it (fetch it with
  // OverwritePage to initialize it), for a caller that orders the growth with its log.
  [[nodiscard]] static absl::StatusOr<PageId> AllocatePageId(BufferPool& pool) {
    return pool.AllocatePageId();
  }
  static void SetRoots(BufferPool& pool, const SuperblockRoots& roots) { pool.SetRoots(roots); }
  // The file's pages [first, first + out.size() / kPageSize) as the disk holds them, unverified
  // (DiskManager::ReadRawPages), whatever the frames hold: a backup copies the file beside its
  // log and lets recovery on the copy repair what a write in flight tore.
  // Gives back the file's pages from `count` on (DiskManager::Shrink), first dropping their
  // frames unwritten: the caller (a checkpoint truncating free pages at the end of the file)
  // guarantees nobody uses them, and that no page is allocated meanwhile.
  [[nodiscard]] static absl::Status Shrink(BufferPool& pool, PageId count) {
    return pool.Shrink(count);
  }
  [[nodiscard]] static absl::Status ReadRawPages(const BufferPool& pool, PageId first,
                                                 std::span<std::byte> out) {
    return pool.ReadRawPages(first, out);
  }
};

}  // namespace pagestore
