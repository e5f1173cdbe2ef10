// BufferPool: a fixed set of 4 KiB frames caching pages of one DiskManager. Pages are reached
// only through page guards (page_guard.h). See buffer/README.md for the frame state diagram and
// the invariants; the numbers below refer to it.
//
// Ownership: the pool owns its frames, its replacer and its DiskManager (swappable at runtime).
// It does not own the LogFlusher, which must outlive it.
//
// Thread safety: every method is safe for concurrent use. A thread holding guards may fetch more
// pages (latch order between pages is the caller's affair, as in any B+tree) and may swap the
// disk manager (a swap never waits on a page latch), but must not FlushPage or FlushAll a page
// it holds a write guard on: the flush would wait for that guard. The pool's locks and their
// order are in buffer/README.md ("Locks").
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "buffer/frame_latch.h"
#include "buffer/log_flusher.h"
#include "buffer/page_guard.h"
#include "buffer/page_table.h"
#include "buffer/replacer.h"
#include "storage/disk_manager.h"
#include "storage/mutex.h"
#include "storage/sharded_counter.h"

namespace pagestore {

struct BufferPoolOptions {
  ReplacerOptions replacer;
  // The WAL rule: called before any dirty page is written. Null when no log protects the pages
  // (tests, engines that manage durability themselves); then pages are written as they are.
  LogFlusher* log_flusher = nullptr;
};

struct BufferPoolStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t dirty_writebacks = 0;  // dirty pages written on eviction
  std::uint64_t disk_reads = 0;        // pages read from the disk manager
  std::uint64_t disk_writes = 0;       // pages written to it (eviction, FlushPage, FlushAll)
  std::uint64_t read_batches = 0;      // ReadBatch calls (LoadPages with a miss)
  std::uint64_t write_batches = 0;     // WriteBatch calls (eviction, FlushAll)
  std::uint64_t swaps = 0;
  std::chrono::nanoseconds last_swap_pause{0};  // how long the last swap blocked disk traffic
  std::chrono::nanoseconds max_swap_pause{0};
  std::string ToString() const;
};

class BufferPool {
 public:
  // InvalidArgumentError for zero frames or bad replacer options.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BufferPool>> Create(
      std::size_t frame_count, std::unique_ptr<DiskManager> disk,
      const BufferPoolOptions& options = {});
  ~BufferPool();  // does not flush: call FlushAll() first to keep dirty pages

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // The page, read from disk on a miss (verified). Errors: InvalidArgument (a superblock page),
  // OutOfRange (no such page), DataLoss (corrupt page; nothing is cached), ResourceExhausted
  // (every frame pinned, or a dirty victim's write-back hit a full disk), or the disk manager's
  // I/O error. A failed call leaves no frame behind holding bad bytes.
  [[nodiscard]] absl::StatusOr<ReadPageGuard> ReadPage(PageId id) ABSL_LOCKS_EXCLUDED(io_mu_);
  // As ReadPage, with the exclusive latch; the frame is marked dirty.
  [[nodiscard]] absl::StatusOr<WritePageGuard> WritePage(PageId id) ABSL_LOCKS_EXCLUDED(io_mu_);
  // Optimistic access (page_guard.h): the page's frame and version, with no latch taken and
  // nothing written that another reader writes. TryReadOptimistic is the hit path alone: false
  // when the page is not resident or a writer holds it. ReadOptimistic falls back on the shared
  // latch (waiting for a writer, loading on a miss, with ReadPage's errors) and gives up the
  // latch before returning.
  [[gnu::always_inline]] bool TryReadOptimistic(PageId id, OptimisticPageGuard* out) {
    if (id < kFirstDataPage || id >= PageTable::kLimit) [[unlikely]]
      return false;
    const FrameId f = table_.FindOrNone(id);
    if (f == PageTable::kNone) return false;
    const Frame& fr = frames_[f];
    const std::uint64_t snapshot = fr.latch.Snapshot();
    if (FrameLatch::locked_exclusive(snapshot) ||
        fr.page_id.load(std::memory_order_relaxed) != id) {
      return false;
    }
    hits_.Add(1);
    replacer_->RecordHit(f);
    *out = OptimisticPageGuard(&fr.latch, snapshot, id, FrameData(f));
    return true;
  }
  // The page `held` latches, as an optimistic guard that stays valid after `held` is released
  // until an exclusive holder comes in (a copy of the page can then be checked for staleness).
  OptimisticPageGuard SnapshotOf(const ReadPageGuard& held) const {
    const Frame& fr = frames_[held.frame_];
    return OptimisticPageGuard(&fr.latch, fr.latch.SnapshotHeldShared(), held.page_id(),
                               FrameData(held.frame_));
  }
  [[nodiscard]] absl::StatusOr<OptimisticPageGuard> ReadOptimistic(PageId id)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // The disk manager's superblock roots (persisted by its next Sync: FlushAll). Setting them is
  // the WAL layer's (BufferPoolInternals).
  SuperblockRoots roots() const ABSL_LOCKS_EXCLUDED(io_mu_);
  // Extends the file by one page (DiskManager::AllocatePage) and returns it initialized as an
  // empty page of `type`, dirty, without reading the disk. Reusing freed pages is the WAL
  // layer's free list, which sits above this.
  [[nodiscard]] absl::StatusOr<WritePageGuard> NewPage(PageType type = PageType::kRaw)
      ABSL_LOCKS_EXCLUDED(io_mu_);

  // Writes the page if it is resident and dirty (after FlushUntil(page LSN)). Not a sync.
  [[nodiscard]] absl::Status FlushPage(PageId id) ABSL_LOCKS_EXCLUDED(io_mu_);
  // Writes every dirty page, then syncs the disk manager: durable on return.
  // REQUIRES: the calling thread holds no write guard (it would wait for itself).
  [[nodiscard]] absl::Status FlushAll() ABSL_LOCKS_EXCLUDED(io_mu_);
  // Hints the disk manager (WillNeed) and loads the pages of [first, last] that are not
  // resident (LoadPages, in batches), as far as unpinned frames allow (stopping quietly when
  // every frame is pinned). Errors on pages past the end of the file and on any I/O error.
  [[nodiscard]] absl::Status Prefetch(PageId first, PageId last) ABSL_LOCKS_EXCLUDED(io_mu_);

  // Batches. LoadPages makes the pages of `ids` resident: it finds the resident ones (and
  // leaves them be), claims a frame for each of the others and reads them with
  // DiskManager::ReadBatch (one io_uring submission for the pread manager), then holds none of
  // them on return, so it never waits on a page latch and cannot deadlock with the caller's
  // guards. Claimed frames stay latched until their batch is read, and all concurrent
  // LoadPages together claim at most an eighth of the frames: a call that finds that budget
  // spent reads what it has claimed and goes on, so a large set is read in several batches, and
  // a page it cannot claim a frame for is left unloaded with the pool-full status (IsPoolFull),
  // never taking frames from threads that fetch pages one at a time. Each page's outcome goes to
  // (*statuses)[i] when `statuses` is not null (resized to ids.size()): the read's errors, the
  // pool-full status, or an error met while freeing a frame for it (a victim's failed
  // write-back, which names that victim's page). A failed page leaves no frame behind holding
  // bad bytes. Returns OK or the first failure. Pages loaded may be evicted again before the
  // caller reads them (a small pool under pressure); they are then read again, singly, by
  // whoever fetches them.
  [[nodiscard]] absl::Status LoadPages(std::span<const PageId> ids,
                                       std::vector<absl::Status>* statuses = nullptr)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // Loads the misses of `ids` (LoadPages), then visits each page in order under a shared
  // latch, one page at a time: visit(i, page) with the guard, or ReadPage's error for it (a page
  // whose load failed is read again singly first). The visitor must not keep the guard (it is
  // released after the call).
  void ReadPages(std::span<const PageId> ids,
                 absl::FunctionRef<void(std::size_t, absl::StatusOr<ReadPageGuard>&)> visit)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // Whether page `id` is in a frame now (a snapshot: it may be evicted or loaded right after).
  bool IsResident(PageId id) const {
    return id >= kFirstDataPage && id < PageTable::kLimit &&
           table_.FindOrNone(id) != PageTable::kNone;
  }
  // Whether `status` is the pool's "every frame is pinned" ResourceExhaustedError.
  static bool IsPoolFull(const absl::Status& status);

  // Switches to another disk manager kind on the same file while the pool stays live: writes
  // back the dirty frames nobody holds, then blocks disk traffic (hits continue), syncs the
  // current manager so the new one sees every write, page allocation and root, closes it, opens
  // `options` on the same path and resumes. Frames held during the swap stay dirty and are
  // written through the new manager later. If the new manager cannot be opened, the old kind is
  // reopened and the error returned.
  [[nodiscard]] absl::Status SwapDiskManager(const DiskManagerOptions& options)
      ABSL_LOCKS_EXCLUDED(io_mu_);

  // Structure checks. An index checks a page's structure (index/btree_node.h) the first time it
  // uses the page after the bytes entered their frame, then marks the frame, so a hit costs one
  // load instead of a walk over every slot. The mark is dropped whenever the frame's bytes come
  // from anywhere but latched changes made through the pool (a read from disk, OverwritePage,
  // NewPage). `page` is the data of a frame of this pool that the caller holds latched (a
  // guard's data or a mini-transaction's span); any other pointer is undefined behaviour.
  bool structure_checked(const std::byte* page) const {
    return frames_[FrameOf(page)].checked.load(std::memory_order_acquire);
  }
  void set_structure_checked(const std::byte* page) {
    frames_[FrameOf(page)].checked.store(true, std::memory_order_release);
  }

  BufferPoolStats stats() const;
  std::size_t frame_count() const { return frames_.size(); }
  // Of the current manager (a swap changes it).
  std::string disk_manager_name() const ABSL_LOCKS_EXCLUDED(io_mu_);
  PageId page_count() const ABSL_LOCKS_EXCLUDED(io_mu_);

 private:
  template <bool>
  friend class BasicPageGuard;
  friend class BufferPoolInternals;  // the WAL layer's door (internal): not an extension point

  // The calls of the layer that owns page allocation, checkpoints and recovery (wal/), reached
  // through BufferPoolInternals (buffer/buffer_pool_internals.h, not installed, which says what
  // each does): an engine that called them would bypass the log.
  [[nodiscard]] absl::StatusOr<WritePageGuard> OverwritePage(PageId id) ABSL_LOCKS_EXCLUDED(io_mu_);
  [[nodiscard]] absl::Status EnsurePageCount(PageId count) ABSL_LOCKS_EXCLUDED(io_mu_);
  [[nodiscard]] absl::StatusOr<PageId> AllocatePageId() ABSL_LOCKS_EXCLUDED(io_mu_);
  void SetRoots(const SuperblockRoots& roots) ABSL_LOCKS_EXCLUDED(io_mu_);
  [[nodiscard]] absl::Status ReadRawPages(PageId first, std::span<std::byte> out) const
      ABSL_LOCKS_EXCLUDED(io_mu_);
  [[nodiscard]] absl::Status Shrink(PageId count) ABSL_LOCKS_EXCLUDED(io_mu_);

  // Frame metadata, one cache line each, apart from the page bytes (data_). The latch word is
  // the frame's pin as well: a frame latched by anyone is not evicted (invariant 2).
  struct alignas(64) Frame {
    FrameLatch latch;                             // guards hold it; see buffer/frame_latch.h
    std::atomic<PageId> page_id{kInvalidPageId};  // changed only under the exclusive latch
    std::atomic<bool> dirty{false};
    std::atomic<bool> checked{false};  // structure_checked(): an index checked these bytes
    // Held across a write-back, copy to completed disk write: two write-backs of one page never
    // overlap, so an older copy can never land after a newer one, and eviction (which only
    // tries it) never unmaps a page whose write is still in flight (invariant 7).
    ExclusiveMutex writeback_mu;
  };

  BufferPool(std::size_t frame_count, std::byte* data, std::unique_ptr<DiskManager> disk,
             std::unique_ptr<Replacer> replacer, const BufferPoolOptions& options);

  enum class WriteBackResult { kClean, kWritten, kBusy };
  // Eviction and FlushAll write dirty frames in batches of at most this many pages.
  static constexpr std::size_t kWriteBackBatch = 32;

  // Latches the page's frame, loading it on a miss.
  // `read` false: on a miss the frame is zeroed instead of read (OverwritePage).
  [[nodiscard]] absl::StatusOr<FrameId> Fetch(PageId id, bool exclusive, bool read = true)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // Latches frame `f` if it holds page `id`, waiting (on the frame's word) only while it does;
  // false, holding nothing, once it does not.
  bool LatchIfHolds(FrameId f, PageId id, bool exclusive);
  // The miss: a frame for `id`, mapped and loaded, latched as asked; nullopt when another
  // thread mapped `id` first (the caller then takes the hit path).
  [[nodiscard]] absl::StatusOr<std::optional<FrameId>> Load(PageId id, bool exclusive, bool read)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // A frame holding no page, latched exclusively for the caller: from the free list or by
  // eviction.
  [[nodiscard]] absl::StatusOr<FrameId> GetFrame() ABSL_LOCKS_EXCLUDED(io_mu_, free_mu_);
  std::optional<FrameId> PopFree() ABSL_LOCKS_EXCLUDED(free_mu_);
  // Evicts `f` for the caller (true: latched exclusively, unmapped, clean) unless another thread
  // holds it or is writing it back (false). An error is a failed write-back of its dirty page.
  [[nodiscard]] absl::StatusOr<bool> TryClaim(FrameId f) ABSL_LOCKS_EXCLUDED(io_mu_);
  // Writes the frame's copy of page `id` if the frame still holds it and it is dirty (WAL rule
  // first). The caller holds no latch on it. Not blocking: kBusy instead of waiting for the
  // frame's latch or another write-back (a swap never waits on a page latch).
  [[nodiscard]] absl::StatusOr<WriteBackResult> WriteBack(FrameId f, PageId id, bool blocking)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // Writes back the dirty frames of `frames` that can be had without waiting (a frame latched
  // exclusively or mid write-back elsewhere is skipped), all in one DiskManager::WriteBatch
  // after one WAL flush. A page whose write fails stays dirty. Returns the first failure.
  // (The batch's write-back locks are taken in one loop and released in another, which the
  // thread-safety analysis cannot follow: it is off for this function.)
  [[nodiscard]] absl::Status WriteBackBatch(std::span<const FrameId> frames)
      ABSL_LOCKS_EXCLUDED(io_mu_) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Eviction of a dirty victim `first`: it and the next dirty victims the replacer offers (up
  // to kWriteBackBatch, and an eighth of the pool) are written back in one batch; `first` is
  // then claimed, the others stay resident and clean. nullopt when `first` could not be claimed
  // after all.
  [[nodiscard]] absl::StatusOr<std::optional<FrameId>> EvictBatch(
      FrameId first, const absl::flat_hash_set<FrameId>& skipped) ABSL_LOCKS_EXCLUDED(io_mu_);
  // Writes `copy` (of page `id`, held in frame `f`) after the WAL rule; the caller holds the
  // frame's write-back lock.
  [[nodiscard]] absl::Status WriteCopy(PageId id, std::span<std::byte> copy)
      ABSL_LOCKS_EXCLUDED(io_mu_);
  // Gives up a frame that holds no page and that the caller latched exclusively (after a failed
  // load, a lost race or a failed NewPage): back to the free list.
  void Abandon(FrameId f) ABSL_LOCKS_EXCLUDED(free_mu_);
  [[nodiscard]] absl::Status SuperblockPageError(PageId id, std::string_view op) const;
  [[nodiscard]] absl::Status Exhausted() const;
  void ReleaseGuard(FrameId f, bool exclusive) ABSL_LOCKS_EXCLUDED(free_mu_);
  std::byte* FrameData(FrameId f) const { return data_ + std::size_t{f} * kPageSize; }
  FrameId FrameOf(const std::byte* page) const {
    return static_cast<FrameId>(static_cast<std::size_t>(page - data_) / kPageSize);
  }

  std::vector<Frame> frames_;
  std::byte* data_ = nullptr;  // frames_.size() * kPageSize, page-aligned
  PageTable table_;
  const std::unique_ptr<Replacer> replacer_;
  LogFlusher* const log_flusher_;

  // A leaf: nothing is taken under it.
  Mutex free_mu_;
  std::vector<FrameId> free_ ABSL_GUARDED_BY(free_mu_);

  // A reader-writer lock that prefers the writer: glibc's default (and so std::shared_mutex and
  // Mutex) lets a stream of readers starve a waiting writer, and here the readers are the pool's
  // disk I/O and the writer is a swap that must get in. That is why it is not a Mutex: a pthread
  // rwlock of kind PREFER_WRITER_NONRECURSIVE, annotated like one. Never taken recursively.
  class ABSL_LOCKABLE IoLock {
   public:
    IoLock();
    ~IoLock();
    IoLock(const IoLock&) = delete;
    IoLock& operator=(const IoLock&) = delete;

    void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { pthread_rwlock_wrlock(&lock_); }
    void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { pthread_rwlock_rdlock(&lock_); }
    void Unlock() ABSL_UNLOCK_FUNCTION() { pthread_rwlock_unlock(&lock_); }

    class ABSL_SCOPED_LOCKABLE Shared {
     public:
      explicit Shared(IoLock& l) ABSL_SHARED_LOCK_FUNCTION(l) : l_(l) { l_.ReaderLock(); }
      ~Shared() ABSL_UNLOCK_FUNCTION() { l_.Unlock(); }

     private:
      IoLock& l_;
    };
    class ABSL_SCOPED_LOCKABLE Exclusive {
     public:
      explicit Exclusive(IoLock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(&l) { l.Lock(); }
      ~Exclusive() ABSL_UNLOCK_FUNCTION() { Unlock(); }
      void Unlock() ABSL_UNLOCK_FUNCTION() {
        if (l_ != nullptr) std::exchange(l_, nullptr)->Unlock();
      }

     private:
      IoLock* l_;
    };

   private:
    pthread_rwlock_t lock_;
  };

  // Held shared by every use of the disk manager, exclusively by a swap (invariant 6). Taken
  // under page latches and write-back locks; only the disk manager's own locks come after it.
  mutable IoLock io_mu_;
  std::unique_ptr<DiskManager> disk_ ABSL_GUARDED_BY(io_mu_);
  std::string path_;  // of disk_'s file; fixed
  // To reopen disk_'s kind if a swap fails.
  DiskManagerOptions disk_options_ ABSL_GUARDED_BY(io_mu_);

  PerThreadCounter hits_;
  ShardedCounter<> misses_;
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> dirty_writebacks_{0};
  std::atomic<std::uint64_t> disk_reads_{0};
  std::atomic<std::uint64_t> disk_writes_{0};
  std::atomic<std::int64_t> load_claims_{0};  // frames LoadPages holds claimed, all threads
  std::atomic<std::uint64_t> read_batches_{0};
  std::atomic<std::uint64_t> write_batches_{0};
  std::atomic<std::uint64_t> swaps_{0};
  std::atomic<std::int64_t> last_swap_pause_ns_{0};
  std::atomic<std::int64_t> max_swap_pause_ns_{0};
};

}  // namespace pagestore
