#include "buffer/buffer_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"

namespace pagestore {
namespace {

std::chrono::nanoseconds Nanos(const std::atomic<std::int64_t>& a) {
  return std::chrono::nanoseconds(a.load(std::memory_order_relaxed));
}

}  // namespace

std::string BufferPoolStats::ToString() const {
  return fmt::format(
      "hits={} misses={} evictions={} dirty_writebacks={} disk_reads={} disk_writes={} "
      "read_batches={} write_batches={} swaps={} last_swap_pause={}us max_swap_pause={}us",
      hits, misses, evictions, dirty_writebacks, disk_reads, disk_writes, read_batches,
      write_batches, swaps, last_swap_pause.count() / 1000, max_swap_pause.count() / 1000);
}

// ---------------------------------------------------------------------------------------------
// Guards

template <bool kExclusive>
void BasicPageGuard<kExclusive>::Release() {
  if (pool_ == nullptr) return;
  pool_->ReleaseGuard(frame_, kExclusive);
  pool_ = nullptr;
  data_ = nullptr;
}

template class BasicPageGuard<false>;
template class BasicPageGuard<true>;

void BufferPool::ReleaseGuard(FrameId f, bool exclusive) {
  if (exclusive) {
    frames_[f].latch.UnlockExclusive();
  } else {
    frames_[f].latch.UnlockShared();
  }
}

// ---------------------------------------------------------------------------------------------
// Construction

namespace {

constexpr char kPoolFullPayload[] = "pagestore.buffer_pool_full";

// Stands in for the disk manager after a swap could open neither the new kind nor the old one:
// every call fails with the reason, instead of the pool dereferencing nothing.
class FailedDiskManager final : public DiskManager {
 public:
  FailedDiskManager(std::string path, absl::Status why)
      : path_(std::move(path)), why_(std::move(why)) {}
  absl::Status ReadPage(PageId, PageSpan) override { return Error(); }
  absl::Status WritePage(PageId, PageSpan) override { return Error(); }
  absl::StatusOr<PageId> AllocatePage() override { return Error(); }
  absl::Status Sync() override { return Error(); }
  PageId page_count() const override { return 0; }
  SuperblockRoots roots() const override { return {}; }
  void SetRoots(const SuperblockRoots&) override {}
  absl::Status Advise(AccessPattern) override { return Error(); }
  absl::Status WillNeed(PageId, PageId) override { return Error(); }
  DiskStats stats() const override { return {}; }
  std::string_view name() const override { return "failed"; }
  const std::string& path() const override { return path_; }
  bool read_only() const override { return true; }

 private:
  absl::Status Error() const {
    return absl::FailedPreconditionError(
        fmt::format("{}: no disk manager after a failed swap: {}", path_, why_.ToString()));
  }
  const std::string path_;
  const absl::Status why_;
};

// The configuration to reopen a manager with, inferred from its kind (default settings).
DiskManagerOptions OptionsFor(std::string_view name) {
  DiskManagerOptions o;
  o.kind = name.starts_with("mmap") ? DiskManagerKind::kMmap : DiskManagerKind::kPread;
  o.pread.direct_io = name.starts_with("pread-direct");
  return o;
}

}  // namespace

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
  auto* data = static_cast<std::byte*>(std::aligned_alloc(kPageSize, frame_count * kPageSize));
  if (data != nullptr) {
    std::unique_ptr<BufferPool> pool(
        new BufferPool(frame_count, data, std::move(disk), std::move(*replacer), options));
    if (pool->table_.ok()) return pool;
    return absl::ResourceExhaustedError("cannot allocate the buffer pool's page table");
  }
  return absl::ResourceExhaustedError(
      fmt::format("cannot allocate {} bytes for {} frames", frame_count * kPageSize, frame_count));
}

BufferPool::BufferPool(std::size_t frame_count, std::byte* data, std::unique_ptr<DiskManager> disk,
                       std::unique_ptr<Replacer> replacer, const BufferPoolOptions& options)
    : frames_(frame_count),
      data_(data),
      replacer_(std::move(replacer)),
      log_flusher_(options.log_flusher),
      disk_(std::move(disk)),
      path_(disk_->path()),
      disk_options_(OptionsFor(disk_->name())) {
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

absl::Status BufferPool::SuperblockPageError(PageId id, std::string_view op) const {
  return absl::InvalidArgumentError(fmt::format(
      "{}: {} page {}: pages 0 and 1 are the superblock, not pages of the pool", path_, op, id));
}

absl::Status BufferPool::Exhausted() const {
  absl::Status s = absl::ResourceExhaustedError(
      fmt::format("{}: buffer pool exhausted: all {} frames are pinned", path_, frames_.size()));
  s.SetPayload(kPoolFullPayload, absl::Cord("1"));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Frames: the free list, eviction, write-back

void BufferPool::Abandon(FrameId f) {
  Frame& fr = frames_[f];
  replacer_->Remove(f);  // bound for the free list: no longer a candidate for eviction
  fr.page_id.store(kInvalidPageId, std::memory_order_relaxed);
  fr.dirty.store(false, std::memory_order_relaxed);
  fr.checked.store(false, std::memory_order_relaxed);
  fr.latch.UnlockExclusive();
  MutexLock lock(&free_mu_);
  free_.push_back(f);
}

std::optional<FrameId> BufferPool::PopFree() {
  std::optional<FrameId> f;
  {
    MutexLock lock(&free_mu_);
    if (free_.empty()) return std::nullopt;
    f = free_.back();
    free_.pop_back();
  }
  // A thread that found this frame in the table before it was given up may still hold it shared
  // for the moment it takes to see the frame is not its page (invariant 5); it waits for nothing.
  frames_[*f].latch.LockExclusive();
  return f;
}

absl::StatusOr<FrameId> BufferPool::GetFrame() {
  // A frame the replacer offers may be held or mid-change in another thread (just latched by a
  // hit, written back by a flush, on its way to the free list). Such a frame is skipped for the
  // rest of the pass, so every round tries a different one; the pool is exhausted only when no
  // frame at all is free of latches. A pass that skipped some frames and found none to take
  // waits a little and tries them again: those states end when their thread moves on. The
  // deadline only turns a bug that leaves a frame stuck into an error instead of a hang.
  absl::flat_hash_set<FrameId> skipped;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int pass = 0;; ++pass) {
    for (;;) {
      if (std::optional<FrameId> f = PopFree()) return *f;
      std::optional<FrameId> victim = replacer_->PickVictim([&](FrameId f) {
        return !frames_[f].latch.is_locked() &&
               frames_[f].page_id.load(std::memory_order_relaxed) != kInvalidPageId &&
               !skipped.contains(f);
      });
      if (!victim) break;
      if (frames_[*victim].dirty.load(std::memory_order_relaxed)) {
        // A dirty victim: write it and the next victims back in one batch.
        absl::StatusOr<std::optional<FrameId>> got = EvictBatch(*victim, skipped);
        if (!got.ok()) return got.status();
        if (*got) return **got;
        skipped.insert(*victim);
        continue;
      }
      absl::StatusOr<bool> claimed = TryClaim(*victim);
      if (!claimed.ok()) return claimed.status();  // a failed write-back: the page stays dirty
      if (*claimed) return *victim;
      skipped.insert(*victim);
    }
    if (std::optional<FrameId> f = PopFree()) return *f;  // freed meanwhile
    if (skipped.empty()) return Exhausted();
    if (std::chrono::steady_clock::now() > give_up) {
      return absl::ResourceExhaustedError(fmt::format(
          "{}: buffer pool could not claim a frame in 30 s: {} unlatched frames stayed busy", path_,
          skipped.size()));
    }
    skipped.clear();
    if (pass < 8) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(pass < 64 ? 50 : 1000));
    }
  }
}

absl::StatusOr<bool> BufferPool::TryClaim(FrameId f) {
  Frame& fr = frames_[f];
  // Invariant 3: only a frame nobody holds, and (invariant 9) without waiting for anyone.
  if (!fr.latch.TryLockExclusive()) return false;
  const PageId old = fr.page_id.load(std::memory_order_relaxed);
  // Invariant 7: no write-back of the page may be in flight when it is unmapped, or a fetch
  // right after could read the older copy on disk.
  if (old == kInvalidPageId || !fr.writeback_mu.TryLock()) {
    fr.latch.UnlockExclusive();
    return false;
  }
  if (fr.dirty.load(std::memory_order_relaxed)) {
    // Write it back first, so a fetch of `old` after the unmap reads what the frame held.
    alignas(kPageSize) std::array<std::byte, kPageSize> copy;
    std::memcpy(copy.data(), FrameData(f), kPageSize);
    if (absl::Status s = WriteCopy(old, copy); !s.ok()) {
      fr.writeback_mu.Unlock();
      fr.latch.UnlockExclusive();
      return s;  // the page stays dirty and resident: nothing is lost
    }
    fr.dirty.store(false, std::memory_order_relaxed);
    dirty_writebacks_.fetch_add(1, std::memory_order_relaxed);
  }
  table_.Erase(old, f);
  fr.page_id.store(kInvalidPageId, std::memory_order_seq_cst);  // before WakeSleepers
  fr.checked.store(false, std::memory_order_relaxed);
  fr.writeback_mu.Unlock();
  // Threads asleep on the latch want `old`; we keep the latch for the next page, so wake them
  // to see it is gone (invariant 12).
  fr.latch.WakeSleepers();
  evictions_.fetch_add(1, std::memory_order_relaxed);
  replacer_->Remove(f);
  return true;
}

absl::Status BufferPool::WriteCopy(PageId id, std::span<std::byte> copy) {
  absl::Status s;
  if (log_flusher_ != nullptr) {
    s = log_flusher_->FlushUntil(ReadPageHeader(ConstPageSpan(copy.data(), kPageSize)).lsn);
  }
  if (s.ok()) {  // invariant 8
    IoLock::Shared io(io_mu_);
    s = disk_->WritePage(id, PageSpan(copy.data(), kPageSize));
  }
  if (s.ok()) disk_writes_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

absl::StatusOr<BufferPool::WriteBackResult> BufferPool::WriteBack(FrameId f, PageId id,
                                                                  bool blocking) {
  Frame& fr = frames_[f];
  // A consistent snapshot: writers hold the exclusive latch while they change the page. The
  // frame may hold another page by now, or none: then there is nothing of `id` here.
  if (blocking) {
    if (!LatchIfHolds(f, id, /*exclusive=*/false)) return WriteBackResult::kClean;
  } else if (!fr.latch.TryLockShared()) {
    return WriteBackResult::kBusy;
  } else if (fr.page_id.load(std::memory_order_relaxed) != id) {
    fr.latch.UnlockShared();
    return WriteBackResult::kClean;
  }
  // Invariant 7: held from the copy to the completed disk write (taken under the shared latch,
  // which keeps the frame on this page until then; eviction only tries it).
  if (blocking) {
    fr.writeback_mu.Lock();
  } else if (!fr.writeback_mu.TryLock()) {
    fr.latch.UnlockShared();
    return WriteBackResult::kBusy;
  }
  // The flag is cleared before the copy, so a write after it marks the frame dirty again.
  alignas(kPageSize) std::array<std::byte, kPageSize> copy;
  const bool dirty = fr.dirty.exchange(false, std::memory_order_acq_rel);
  if (dirty) std::memcpy(copy.data(), FrameData(f), kPageSize);
  fr.latch.UnlockShared();  // readers and writers go on during the I/O
  if (!dirty) {
    fr.writeback_mu.Unlock();
    return WriteBackResult::kClean;
  }
  // The write-back lock keeps the frame from eviction until the write is done.
  absl::Status s = WriteCopy(id, copy);
  if (!s.ok()) fr.dirty.store(true, std::memory_order_release);  // still resident, still `id`
  fr.writeback_mu.Unlock();
  if (!s.ok()) return s;
  return WriteBackResult::kWritten;
}

// ---------------------------------------------------------------------------------------------
// Fetch

absl::StatusOr<FrameId> BufferPool::Fetch(PageId id, bool exclusive, bool read) {
  if (id < kFirstDataPage) [[unlikely]]
    return SuperblockPageError(id, "fetch");
  if (id >= PageTable::kLimit) [[unlikely]] {
    return absl::OutOfRangeError(
        fmt::format("{}: page {} is beyond the {} pages a buffer pool addresses", path_, id,
                    PageTable::kLimit));
  }
  for (;;) {
    if (const std::optional<FrameId> hit = table_.Find(id)) {
      // Hit: latch, then check the frame still holds the page. It changes pages only under the
      // exclusive latch (invariant 1), so once latched and checked it stays ours.
      if (LatchIfHolds(*hit, id, exclusive)) [[likely]] {
        hits_.Add(1);
        replacer_->RecordHit(*hit);
        if (exclusive) frames_[*hit].dirty.store(true, std::memory_order_relaxed);
        return *hit;
      }
      // Evicted, or its load failed, while we waited: look again (meeting the load error
      // ourselves if it persists: invariant 4).
      continue;
    }
    absl::StatusOr<std::optional<FrameId>> loaded = Load(id, exclusive, read);
    if (!loaded.ok()) return loaded.status();
    if (*loaded) return **loaded;
    // Another thread mapped the page first: take the hit path.
  }
}

bool BufferPool::LatchIfHolds(FrameId f, PageId id, bool exclusive) {
  Frame& fr = frames_[f];
  for (;;) {
    // Sleep only while the frame holds the page: its page changes under the exclusive latch,
    // whose release wakes us to look again. Sleeping on a frame given to another page could
    // deadlock with whoever holds that page (invariant 12).
    if ((exclusive ? fr.latch.TryLockExclusive() : fr.latch.TryLockShared()) ||
        (fr.page_id.load(std::memory_order_relaxed) == id && fr.latch.LockOrSleep(exclusive, [&] {
          return fr.page_id.load(std::memory_order_seq_cst) == id;
        }))) {
      if (fr.page_id.load(std::memory_order_relaxed) == id) [[likely]]
        return true;
      ReleaseGuard(f, exclusive);
      return false;
    }
    if (fr.page_id.load(std::memory_order_relaxed) != id) return false;
  }
}

absl::StatusOr<std::optional<FrameId>> BufferPool::Load(PageId id, bool exclusive, bool read) {
  if (!table_.Reserve(id)) {
    return absl::ResourceExhaustedError(
        fmt::format("{}: cannot allocate the page table for page {}", path_, id));
  }
  absl::StatusOr<FrameId> got = GetFrame();
  if (!got.ok()) return got.status();
  const FrameId f = *got;
  Frame& fr = frames_[f];
  fr.page_id.store(id, std::memory_order_relaxed);  // under the exclusive latch from GetFrame
  if (table_.TryInsert(id, f)) {
    Abandon(f);
    return std::nullopt;
  }
  misses_.Add(1);
  absl::Status status;
  {
    IoLock::Shared io(io_mu_);
    if (read) {
      status = disk_->ReadPage(id, PageSpan(FrameData(f), kPageSize));
    } else if (id >= disk_->page_count()) {
      status =
          absl::OutOfRangeError(fmt::format("{}: page {} is beyond the end of the file ({} pages)",
                                            disk_->path(), id, disk_->page_count()));
    } else {
      std::memset(FrameData(f), 0, kPageSize);
    }
  }
  if (!status.ok()) {
    // Invariant 4: no frame keeps bad bytes. Threads that found the frame while we loaded wait
    // on its latch and then see it is not their page.
    table_.Erase(id, f);
    Abandon(f);
    return status;
  }
  if (read) disk_reads_.fetch_add(1, std::memory_order_relaxed);
  fr.dirty.store(exclusive, std::memory_order_relaxed);
  fr.checked.store(false, std::memory_order_relaxed);
  replacer_->RecordAccess(f);
  if (!exclusive) fr.latch.Downgrade();
  return f;
}

absl::StatusOr<OptimisticPageGuard> BufferPool::ReadOptimistic(PageId id) {
  OptimisticPageGuard g;
  if (TryReadOptimistic(id, &g)) return g;
  absl::StatusOr<FrameId> f = Fetch(id, /*exclusive=*/false);
  if (!f.ok()) return f.status();
  const Frame& fr = frames_[*f];
  g = OptimisticPageGuard(&fr.latch, fr.latch.SnapshotHeldShared(), id, FrameData(*f));
  ReleaseGuard(*f, /*exclusive=*/false);
  return g;
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

absl::StatusOr<WritePageGuard> BufferPool::OverwritePage(PageId id) {
  absl::StatusOr<FrameId> f = Fetch(id, /*exclusive=*/true, /*read=*/false);
  if (!f.ok()) return f.status();
  frames_[*f].checked.store(false, std::memory_order_relaxed);  // the caller rewrites it all
  return WritePageGuard(this, *f, id, FrameData(*f));
}

absl::Status BufferPool::EnsurePageCount(PageId count) {
  IoLock::Shared io(io_mu_);
  while (disk_->page_count() < count) {
    absl::StatusOr<PageId> id = disk_->AllocatePage();
    if (!id.ok()) return id.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<PageId> BufferPool::AllocatePageId() {
  IoLock::Shared io(io_mu_);
  return disk_->AllocatePage();
}

SuperblockRoots BufferPool::roots() const {
  IoLock::Shared io(io_mu_);
  return disk_->roots();
}

void BufferPool::SetRoots(const SuperblockRoots& roots) {
  IoLock::Shared io(io_mu_);
  disk_->SetRoots(roots);
}

absl::Status BufferPool::Shrink(PageId count) {
  for (FrameId f = 0; f < frames_.size(); ++f) {
    Frame& fr = frames_[f];
    const PageId id = fr.page_id.load(std::memory_order_acquire);
    if (id == kInvalidPageId || id < count) continue;
    // Waits only while the frame holds the page (nobody uses a page given back); a frame that
    // moved on to another page meanwhile is left alone, never waited for (invariant 9).
    if (!LatchIfHolds(f, id, /*exclusive=*/true)) continue;
    {
      MutexLock writeback(&fr.writeback_mu);  // invariant 7: no write of it in flight
      table_.Erase(id, f);
    }
    Abandon(f);  // unwritten: the page is gone
  }
  IoLock::Shared io(io_mu_);
  return disk_->Shrink(count);
}

absl::Status BufferPool::ReadRawPages(PageId first, std::span<std::byte> out) const {
  IoLock::Shared io(io_mu_);
  return disk_->ReadRawPages(first, out);
}

absl::StatusOr<WritePageGuard> BufferPool::NewPage(PageType type) {
  absl::StatusOr<FrameId> got = GetFrame();
  if (!got.ok()) return got.status();
  const FrameId f = *got;
  Frame& fr = frames_[f];
  absl::StatusOr<PageId> id;
  {
    IoLock::Shared io(io_mu_);
    id = disk_->AllocatePage();
  }
  if (id.ok() && (*id >= PageTable::kLimit || !table_.Reserve(*id))) {
    id = absl::ResourceExhaustedError(
        fmt::format("{}: page {} is beyond what the buffer pool can address", path_, *id));
  }
  if (!id.ok()) {
    Abandon(f);
    return id.status();
  }
  for (;;) {
    // Once allocated, the id is in the page count: another thread may fetch it before we map it
    // (a scan, a prefetch). Then wait for that load to settle and take its frame over.
    fr.page_id.store(*id, std::memory_order_relaxed);
    const std::optional<FrameId> other = table_.TryInsert(*id, f);
    if (!other) break;
    if (LatchIfHolds(*other, *id, /*exclusive=*/true)) {
      Frame& of = frames_[*other];
      Abandon(f);
      InitPage(PageSpan(FrameData(*other), kPageSize), type);
      of.dirty.store(true, std::memory_order_relaxed);
      of.checked.store(false, std::memory_order_relaxed);
      replacer_->RecordAccess(*other);
      return WritePageGuard(this, *other, *id, FrameData(*other));
    }
    // That load failed and unmapped the id: map ours.
  }
  InitPage(PageSpan(FrameData(f), kPageSize), type);
  fr.dirty.store(true, std::memory_order_relaxed);
  fr.checked.store(false, std::memory_order_relaxed);
  replacer_->RecordAccess(f);
  return WritePageGuard(this, f, *id, FrameData(f));
}

absl::Status BufferPool::FlushPage(PageId id) {
  if (id < kFirstDataPage) [[unlikely]]
    return SuperblockPageError(id, "flush");
  if (id >= PageTable::kLimit) return absl::OkStatus();  // never resident
  const std::optional<FrameId> f = table_.Find(id);
  if (!f) return absl::OkStatus();  // not resident: nothing to write
  return WriteBack(*f, id, /*blocking=*/true).status();
}

absl::Status BufferPool::FlushAll() {
  // First the dirty frames in batches, without waiting on anyone; then every mapped frame,
  // dirty or not, one at a time: a frame skipped as busy is written now, and a clean-looking
  // frame may have a write-back in flight, which FlushPage waits for (invariant 7) before the
  // sync below makes everything durable.
  std::vector<FrameId> group;
  for (FrameId f = 0; f < frames_.size(); ++f) {
    if (!frames_[f].dirty.load(std::memory_order_acquire)) continue;
    group.push_back(f);
    if (group.size() == kWriteBackBatch || f + 1 == frames_.size()) {
      if (absl::Status s = WriteBackBatch(group); !s.ok()) return s;
      group.clear();
    }
  }
  if (!group.empty()) {
    if (absl::Status s = WriteBackBatch(group); !s.ok()) return s;
  }
  for (FrameId f = 0; f < frames_.size(); ++f) {
    const PageId id = frames_[f].page_id.load(std::memory_order_acquire);
    if (id == kInvalidPageId) continue;
    if (absl::Status s = FlushPage(id); !s.ok()) return s;
  }
  IoLock::Shared io(io_mu_);
  return disk_->Sync();
}

bool BufferPool::IsPoolFull(const absl::Status& status) {
  return status.GetPayload(kPoolFullPayload).has_value();
}

absl::Status BufferPool::SwapDiskManager(const DiskManagerOptions& options) {
  // Flush what can be flushed without waiting on anyone, while traffic still flows: frames
  // that a thread holds stay dirty and go through the new manager later (both managers share
  // the file and its format, so that loses nothing), and the swap never waits on a page latch.
  for (FrameId f = 0; f < frames_.size(); ++f) {
    Frame& fr = frames_[f];
    const PageId id = fr.page_id.load(std::memory_order_acquire);
    if (id == kInvalidPageId || !fr.dirty.load(std::memory_order_acquire)) continue;
    absl::StatusOr<WriteBackResult> r = WriteBack(f, id, /*blocking=*/false);
    if (!r.ok()) return r.status();
  }
  // Make nearly everything durable while traffic still flows, so the sync under the exclusive
  // lock below (which every miss waits for) has little left to do.
  {
    IoLock::Shared io(io_mu_);
    if (absl::Status s = disk_->Sync(); !s.ok()) return s;
  }
  const auto start = std::chrono::steady_clock::now();  // traffic to the disk pauses from here
  IoLock::Exclusive io(io_mu_);  // invariant 6: no disk call is in flight from here on
  const std::string_view old_name = disk_->name();
  if (!old_name.starts_with("pread") && !old_name.starts_with("mmap")) {
    return absl::FailedPreconditionError(
        fmt::format("{}: cannot swap a \"{}\" disk manager; swapping needs a file-backed one",
                    path_, old_name));
  }
  // The new manager learns the page count and roots from the superblock: make them durable.
  if (absl::Status s = disk_->Sync(); !s.ok()) return s;
  // A shrink whose smaller count the superblock does not say yet (it waits for the checkpoint's
  // roots, storage/README.md invariant 8) is applied to the new manager again.
  const PageId count = disk_->page_count();
  disk_.reset();  // closes the file and releases its lock
  DiskManagerOptions next = options;
  next.mode = OpenMode::kOpenExisting;
  absl::StatusOr<std::unique_ptr<DiskManager>> opened = OpenDiskManager(path_, next);
  const absl::Status result = opened.status();
  if (opened.ok()) {
    disk_options_ = next;
  } else {
    DiskManagerOptions fallback = disk_options_;
    fallback.mode = OpenMode::kOpenExisting;
    opened = OpenDiskManager(path_, fallback);
  }
  if (!opened.ok()) {
    absl::Status both = absl::UnavailableError(
        fmt::format("{}: swap failed and the previous disk manager could not be reopened: {} / {}",
                    path_, result.ToString(), opened.status().ToString()));
    disk_ = std::make_unique<FailedDiskManager>(path_, both);
    return both;
  }
  disk_ = std::move(*opened);
  if (disk_->page_count() > count) {
    if (absl::Status s = disk_->Shrink(count); !s.ok()) {
      disk_ = std::make_unique<FailedDiskManager>(path_, s);
      return s;
    }
  }
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
  s.read_batches = read_batches_.load(std::memory_order_relaxed);
  s.write_batches = write_batches_.load(std::memory_order_relaxed);
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
