#include "buffer/buffer_pool.h"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace pagestore {
namespace {

std::size_t ShardCountFor(std::size_t frames) {
  std::size_t n = 1;
  while (n < 256 && n < frames / 4) n <<= 1;
  return n;
}

std::uint64_t Mix(PageId id) {
  std::uint64_t x = id * 0x9E3779B97F4A7C15ull;
  return x ^ (x >> 29);
}

std::chrono::nanoseconds Nanos(const std::atomic<std::int64_t>& a) {
  return std::chrono::nanoseconds(a.load(std::memory_order_relaxed));
}

}  // namespace

std::string BufferPoolStats::ToString() const {
  return fmt::format(
      "hits={} misses={} evictions={} dirty_writebacks={} disk_reads={} disk_writes={} swaps={} "
      "last_swap_pause={}us max_swap_pause={}us",
      hits, misses, evictions, dirty_writebacks, disk_reads, disk_writes, swaps,
      last_swap_pause.count() / 1000, max_swap_pause.count() / 1000);
}

// ---------------------------------------------------------------------------------------------
// Guards

ReadPageGuard& ReadPageGuard::operator=(ReadPageGuard&& o) noexcept {
  if (this != &o) {
    Release();
    pool_ = std::exchange(o.pool_, nullptr);
    frame_ = o.frame_;
    page_id_ = o.page_id_;
    data_ = std::exchange(o.data_, nullptr);
  }
  return *this;
}

void ReadPageGuard::Release() {
  if (pool_ == nullptr) return;
  pool_->ReleaseRead(frame_);
  pool_ = nullptr;
  data_ = nullptr;
}

WritePageGuard& WritePageGuard::operator=(WritePageGuard&& o) noexcept {
  if (this != &o) {
    Release();
    pool_ = std::exchange(o.pool_, nullptr);
    frame_ = o.frame_;
    page_id_ = o.page_id_;
    data_ = std::exchange(o.data_, nullptr);
  }
  return *this;
}

void WritePageGuard::set_lsn(Lsn lsn) {
  PageHeader h = ReadPageHeader(data());
  h.lsn = lsn;
  WritePageHeader(mutable_data(), h);
}

void WritePageGuard::Release() {
  if (pool_ == nullptr) return;
  pool_->ReleaseWrite(frame_);
  pool_ = nullptr;
  data_ = nullptr;
}

void BufferPool::ReleaseRead(FrameId f) {
  frames_[f].latch.unlock_shared();
  Unpin(f);
}

void BufferPool::ReleaseWrite(FrameId f) {
  frames_[f].latch.unlock();
  Unpin(f);
}

// ---------------------------------------------------------------------------------------------
// Construction

absl::StatusOr<std::unique_ptr<BufferPool>> BufferPool::Create(std::size_t frame_count,
                                                               std::unique_ptr<DiskManager> disk,
                                                               const BufferPoolOptions& options) {
  if (frame_count == 0 || frame_count > (std::size_t{1} << 31)) {
    return absl::InvalidArgumentError(
        fmt::format("a buffer pool needs between 1 and 2^31 frames, not {}", frame_count));
  }
  if (disk == nullptr) return absl::InvalidArgumentError("a buffer pool needs a disk manager");
  absl::StatusOr<std::unique_ptr<Replacer>> replacer = MakeReplacer(frame_count, options.replacer);
  if (!replacer.ok()) return replacer.status();
  return std::unique_ptr<BufferPool>(
      new BufferPool(frame_count, std::move(disk), std::move(*replacer), options));
}

BufferPool::BufferPool(std::size_t frame_count, std::unique_ptr<DiskManager> disk,
                       std::unique_ptr<Replacer> replacer, const BufferPoolOptions& options)
    : frames_(frame_count),
      data_(static_cast<std::byte*>(std::aligned_alloc(kPageSize, frame_count * kPageSize))),
      shards_(new Shard[ShardCountFor(frame_count)]),
      shard_mask_(ShardCountFor(frame_count) - 1),
      replacer_(std::move(replacer)),
      log_flusher_(options.log_flusher),
      disk_(std::move(disk)),
      path_(disk_->path()) {
  std::memset(data_, 0, frame_count * kPageSize);
  free_.reserve(frame_count);
  for (std::size_t i = frame_count; i > 0; --i) free_.push_back(static_cast<FrameId>(i - 1));
}

BufferPool::~BufferPool() { std::free(data_); }

BufferPool::IoLock::IoLock() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

BufferPool::IoLock::~IoLock() { pthread_rwlock_destroy(&lock_); }

BufferPool::Shard& BufferPool::ShardOf(PageId id) { return shards_[Mix(id) & shard_mask_]; }

// ---------------------------------------------------------------------------------------------
// Fetch

absl::StatusOr<FrameId> BufferPool::Fetch(PageId id, bool exclusive) {
  Shard& shard = ShardOf(id);
  for (;;) {
    // Hit: pin under the shard lock, so an evictor (which unmaps under the exclusive lock after
    // seeing no pins) cannot take the frame from under us. Invariant 2.
    std::optional<FrameId> hit;
    {
      ReaderMutexLock lock(&shard.mu);
      if (auto it = shard.frames.find(id); it != shard.frames.end()) {
        hit = it->second;
        frames_[*hit].pins.fetch_add(1, std::memory_order_acquire);
      }
    }
    if (hit) {
      Frame& fr = frames_[*hit];
      if (exclusive) {
        fr.latch.lock();
      } else {
        fr.latch.lock_shared();
      }
      // Loaded, and still this page: a frame whose load failed is unmapped and may be reused for
      // another page while we wait on its latch.
      if (fr.loaded.load(std::memory_order_acquire) &&
          fr.page_id.load(std::memory_order_acquire) == id) [[likely]] {
        hits_.Add(1);
        replacer_->RecordAccess(*hit);
        if (exclusive) fr.dirty.store(true, std::memory_order_relaxed);
        return *hit;
      }
      // The miss that mapped this frame failed to load it and has unmapped it: try again (and
      // meet the error ourselves if it persists).
      if (exclusive) {
        fr.latch.unlock();
      } else {
        fr.latch.unlock_shared();
      }
      Unpin(*hit);
      continue;
    }

    // Miss.
    absl::StatusOr<FrameId> got = GetFrame();
    if (!got.ok()) return got.status();
    const FrameId f = *got;
    Frame& fr = frames_[f];
    fr.latch.lock();  // uncontended: the frame is unmapped and pinned only by us
    bool raced;
    {
      MutexLock lock(&shard.mu);
      raced = shard.frames.contains(id);
      if (!raced) {
        fr.loaded.store(false, std::memory_order_relaxed);
        fr.page_id.store(id, std::memory_order_relaxed);
        shard.frames.emplace(id, f);
      }
    }
    if (raced) {
      // Another thread mapped the page meanwhile: give our frame back and take the hit path.
      fr.latch.unlock();
      Unpin(f);
      MutexLock lock(&free_mu_);
      free_.push_back(f);
      continue;
    }
    misses_.Add(1);
    absl::Status read;
    {
      IoLock::Shared io(io_mu_);
      read = disk_->ReadPage(id, PageSpan(FrameData(f), kPageSize));
    }
    if (!read.ok()) {
      // Invariant 4: no frame keeps bad bytes. Unmap, then let waiters see !loaded and retry.
      {
        MutexLock lock(&shard.mu);
        shard.frames.erase(id);
        fr.page_id.store(kInvalidPageId, std::memory_order_relaxed);
      }
      fr.latch.unlock();
      Unpin(f);
      MutexLock free_lock(&free_mu_);
      free_.push_back(f);  // invariant 5: a frame without a page is on the free list
      return read;
    }
    disk_reads_.fetch_add(1, std::memory_order_relaxed);
    fr.dirty.store(exclusive, std::memory_order_relaxed);
    fr.loaded.store(true, std::memory_order_release);
    replacer_->RecordAccess(f);
    if (!exclusive) {
      // No downgrade on std::shared_mutex; another thread may write the page in between, which
      // is an ordinary interleaving.
      fr.latch.unlock();
      fr.latch.lock_shared();
    }
    return f;
  }
}

absl::StatusOr<FrameId> BufferPool::GetFrame() {
  {
    MutexLock lock(&free_mu_);
    if (!free_.empty()) {
      const FrameId f = free_.back();
      free_.pop_back();
      frames_[f].pins.fetch_add(1, std::memory_order_acquire);
      return f;
    }
  }
  for (;;) {
    std::optional<FrameId> victim = replacer_->PickVictim(
        [this](FrameId f) { return frames_[f].pins.load(std::memory_order_acquire) == 0; });
    if (!victim) {
      return absl::ResourceExhaustedError(fmt::format(
          "{}: buffer pool exhausted: all {} frames are pinned", path_, frames_.size()));
    }
    const FrameId f = *victim;
    Frame& fr = frames_[f];
    const PageId old = fr.page_id.load(std::memory_order_acquire);
    if (old != kInvalidPageId && fr.dirty.load(std::memory_order_acquire)) {
      // Write it back before unmapping it, so a concurrent fetch of `old` never reads a stale
      // copy from disk. Pinned meanwhile so nobody else evicts it.
      Shard& shard = ShardOf(old);
      {
        MutexLock lock(&shard.mu);
        auto it = shard.frames.find(old);
        if (it == shard.frames.end() || it->second != f) continue;  // changed under us
        fr.pins.fetch_add(1, std::memory_order_acquire);
      }
      absl::Status s = WriteBack(f, old);
      Unpin(f);
      if (!s.ok()) return s;  // the page stays dirty and resident: nothing is lost
      dirty_writebacks_.fetch_add(1, std::memory_order_relaxed);
    }
    // Claim: still mapped to `old`, unpinned and clean. Invariant 3. A frame without a page is
    // never claimed here: it belongs to whoever is setting it up, or to the free list.
    if (old == kInvalidPageId) continue;
    {
      Shard& shard = ShardOf(old);
      MutexLock lock(&shard.mu);
      auto it = shard.frames.find(old);
      if (it == shard.frames.end() || it->second != f) continue;
      if (fr.pins.load(std::memory_order_acquire) != 0 ||
          fr.dirty.load(std::memory_order_acquire)) {
        continue;
      }
      shard.frames.erase(it);
      fr.page_id.store(kInvalidPageId, std::memory_order_relaxed);
      fr.pins.fetch_add(1, std::memory_order_acquire);
    }
    evictions_.fetch_add(1, std::memory_order_relaxed);
    replacer_->Remove(f);
    fr.loaded.store(false, std::memory_order_relaxed);
    fr.dirty.store(false, std::memory_order_relaxed);
    return f;
  }
}

absl::Status BufferPool::WriteBack(FrameId f, PageId id) {
  Frame& fr = frames_[f];
  std::lock_guard writeback(fr.writeback_mu);  // invariant 7
  alignas(kPageSize) std::array<std::byte, kPageSize> copy;
  {
    // A consistent snapshot: writers hold the exclusive latch while they change the page. The
    // flag is cleared before the copy, so a write after it marks the frame dirty again.
    std::shared_lock latch(fr.latch);
    if (!fr.dirty.exchange(false, std::memory_order_acq_rel)) return absl::OkStatus();
    std::memcpy(copy.data(), FrameData(f), kPageSize);
  }
  absl::Status s;
  if (log_flusher_ != nullptr) s = log_flusher_->FlushUntil(ReadPageHeader(copy).lsn);  // WAL
  if (s.ok()) {
    IoLock::Shared io(io_mu_);
    s = disk_->WritePage(id, copy);
  }
  if (!s.ok()) {
    fr.dirty.store(true, std::memory_order_release);
    return s;
  }
  disk_writes_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Public operations

absl::StatusOr<ReadPageGuard> BufferPool::ReadPage(PageId id) {
  absl::StatusOr<FrameId> f = Fetch(id, /*exclusive=*/false);
  if (!f.ok()) return f.status();
  return ReadPageGuard(this, *f, id, FrameData(*f));
}

absl::StatusOr<WritePageGuard> BufferPool::WritePage(PageId id) {
  absl::StatusOr<FrameId> f = Fetch(id, /*exclusive=*/true);
  if (!f.ok()) return f.status();
  return WritePageGuard(this, *f, id, FrameData(*f));
}

absl::StatusOr<WritePageGuard> BufferPool::NewPage(PageType type) {
  absl::StatusOr<FrameId> got = GetFrame();
  if (!got.ok()) return got.status();
  const FrameId f = *got;
  absl::StatusOr<PageId> id;
  {
    IoLock::Shared io(io_mu_);
    id = disk_->AllocatePage();
  }
  Frame& fr = frames_[f];
  if (!id.ok()) {
    Unpin(f);
    MutexLock lock(&free_mu_);
    free_.push_back(f);
    return id.status();
  }
  fr.latch.lock();
  InitPage(PageSpan(FrameData(f), kPageSize), type);
  {
    Shard& shard = ShardOf(*id);
    MutexLock lock(&shard.mu);
    fr.page_id.store(*id, std::memory_order_relaxed);
    shard.frames.emplace(*id, f);
  }
  fr.dirty.store(true, std::memory_order_relaxed);
  fr.loaded.store(true, std::memory_order_release);
  replacer_->RecordAccess(f);
  return WritePageGuard(this, f, *id, FrameData(f));
}

absl::Status BufferPool::FlushPage(PageId id) {
  Shard& shard = ShardOf(id);
  std::optional<FrameId> f;
  {
    ReaderMutexLock lock(&shard.mu);
    if (auto it = shard.frames.find(id); it != shard.frames.end()) {
      f = it->second;
      frames_[*f].pins.fetch_add(1, std::memory_order_acquire);
    }
  }
  if (!f) return absl::OkStatus();  // not resident: nothing to write
  absl::Status s =
      frames_[*f].loaded.load(std::memory_order_acquire) ? WriteBack(*f, id) : absl::OkStatus();
  Unpin(*f);
  return s;
}

absl::Status BufferPool::FlushAll() {
  for (FrameId f = 0; f < frames_.size(); ++f) {
    const PageId id = frames_[f].page_id.load(std::memory_order_acquire);
    if (id == kInvalidPageId || !frames_[f].dirty.load(std::memory_order_acquire)) continue;
    if (absl::Status s = FlushPage(id); !s.ok()) return s;
  }
  IoLock::Shared io(io_mu_);
  return disk_->Sync();
}

absl::Status BufferPool::Prefetch(PageId first, PageId last) {
  {
    IoLock::Shared io(io_mu_);
    if (absl::Status s = disk_->WillNeed(first, last); !s.ok()) return s;
  }
  for (PageId id = first; id <= last; ++id) {
    absl::StatusOr<ReadPageGuard> g = ReadPage(id);
    if (absl::IsResourceExhausted(g.status())) break;  // the pool is full of pinned pages
    if (!g.ok()) return g.status();
  }
  return absl::OkStatus();
}

absl::Status BufferPool::SwapDiskManager(const DiskManagerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  IoLock::Exclusive io(io_mu_);  // invariant 6: no disk call is in flight from here on
  const std::string_view old_name = disk_->name();
  if (!old_name.starts_with("pread") && !old_name.starts_with("mmap")) {
    return absl::FailedPreconditionError(
        fmt::format("{}: cannot swap a \"{}\" disk manager; swapping needs a file-backed one",
                    path_, old_name));
  }
  // The new manager learns the page count and roots from the superblock: make them durable.
  if (absl::Status s = disk_->Sync(); !s.ok()) return s;
  DiskManagerOptions fallback;
  fallback.kind = old_name.starts_with("mmap") ? DiskManagerKind::kMmap : DiskManagerKind::kPread;
  fallback.pread.direct_io = old_name == "pread-direct";
  fallback.mode = OpenMode::kOpenExisting;
  disk_.reset();  // closes the file and releases its lock
  DiskManagerOptions next = options;
  next.mode = OpenMode::kOpenExisting;
  absl::StatusOr<std::unique_ptr<DiskManager>> opened = OpenDiskManager(path_, next);
  absl::Status result = opened.status();
  if (!opened.ok()) opened = OpenDiskManager(path_, fallback);
  if (!opened.ok()) {
    return absl::InternalError(
        fmt::format("{}: swap failed and the previous disk manager could not be reopened: {} / {}",
                    path_, result.ToString(), opened.status().ToString()));
  }
  disk_ = std::move(*opened);
  io.Unlock();
  const std::int64_t pause =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  if (result.ok()) swaps_.fetch_add(1, std::memory_order_relaxed);
  last_swap_pause_ns_.store(pause, std::memory_order_relaxed);
  std::int64_t max = max_swap_pause_ns_.load(std::memory_order_relaxed);
  while (pause > max && !max_swap_pause_ns_.compare_exchange_weak(max, pause)) {
  }
  return result;
}

BufferPoolStats BufferPool::stats() const {
  BufferPoolStats s;
  s.hits = static_cast<std::uint64_t>(hits_.Load());
  s.misses = static_cast<std::uint64_t>(misses_.Load());
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.dirty_writebacks = dirty_writebacks_.load(std::memory_order_relaxed);
  s.disk_reads = disk_reads_.load(std::memory_order_relaxed);
  s.disk_writes = disk_writes_.load(std::memory_order_relaxed);
  s.swaps = swaps_.load(std::memory_order_relaxed);
  s.last_swap_pause = Nanos(last_swap_pause_ns_);
  s.max_swap_pause = Nanos(max_swap_pause_ns_);
  return s;
}

std::string BufferPool::disk_manager_name() const {
  IoLock::Shared io(io_mu_);
  return std::string(disk_->name());
}

PageId BufferPool::page_count() const {
  IoLock::Shared io(io_mu_);
  return disk_->page_count();
}

}  // namespace pagestore
