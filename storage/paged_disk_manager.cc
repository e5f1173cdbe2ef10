#include "storage/paged_disk_manager.h"

#include <fmt/format.h>

#include <array>

#include "storage/logging.h"

namespace pagestore {

PagedDiskManager::PagedDiskManager(std::string path, const DiskManagerOptions& options,
                                   bool read_only)
    : path_(std::move(path)),
      read_only_(read_only),
      verify_(options.verify_checksums),
      fault_hook_(options.fault_hook) {}

absl::Status PagedDiskManager::InitializeNewFile() {
  MutexLock sync_lock(&sync_mu_);
  {
    MutexLock alloc_lock(&alloc_mu_);
    if (absl::Status s = EnsureCapacity(kSuperblockPageCount); !s.ok()) return s;
  }
  // Sequence 0 into copy 0 and sequence 1 into copy 1: both valid from the start, so the first
  // torn superblock write can always fall back.
  Superblock sb;
  alignas(kPageSize) std::array<std::byte, kPageSize> page;
  for (std::uint64_t seq : {0, 1}) {
    sb.sequence = seq;
    EncodeSuperblock(sb, page);
    if (absl::Status s = WriteRaw(seq, page); !s.ok()) return s;
    writes_.Add(1);
  }
  if (absl::Status s = SyncData(); !s.ok()) return s;
  MutexLock lock(&state_mu_);
  durable_ = sb;
  roots_ = sb.roots;
  page_count_.store(sb.page_count, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status PagedDiskManager::LoadSuperblock(PageId file_pages) {
  if (file_pages < kSuperblockPageCount) {
    return absl::DataLossError(fmt::format(
        "{}: file holds {} whole pages, too short to be a pagestore file (needs at least {})",
        path_, file_pages, kSuperblockPageCount));
  }
  alignas(kPageSize) std::array<std::byte, kPageSize> copy0, copy1;
  if (absl::Status s = ReadRaw(0, copy0); !s.ok()) return s;
  if (absl::Status s = ReadRaw(1, copy1); !s.ok()) return s;
  reads_.Add(2);
  absl::StatusOr<SuperblockChoice> choice = ChooseSuperblock(copy0, copy1, path_);
  if (!choice.ok()) return choice.status();
  const Superblock& sb = choice->current;
  if (!choice->other.ok()) {
    // Both copies are written at creation and each checkpoint rewrites the older one: a bad
    // copy is damage, and the file is read as of the other copy's (earlier) checkpoint.
    Logf(LogLevel::kWarning,
         "{}: superblock copy {} is unreadable ({}: damaged, or its last write was interrupted); "
         "using copy {} (sequence {}) and recovering from its checkpoint at LSN {}",
         path_, 1 - sb.sequence % 2, std::string(choice->other.message()), sb.sequence % 2,
         sb.sequence, sb.roots.checkpoint_lsn);
  }
  if (sb.page_count > file_pages) {
    return absl::DataLossError(
        fmt::format("{}: truncated: superblock (sequence {}) says {} pages, the file holds {}",
                    path_, sb.sequence, sb.page_count, file_pages));
  }
  MutexLock lock(&state_mu_);
  durable_ = sb;
  roots_ = sb.roots;
  page_count_.store(sb.page_count, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status PagedDiskManager::CheckRange(PageId id, std::string_view op) const {
  const PageId count = page_count();
  if (id >= count) [[unlikely]] {
    return absl::OutOfRangeError(
        fmt::format("{}: {} page {} beyond the end of the file ({} pages)", path_, op, id, count));
  }
  return absl::OkStatus();
}

absl::Status PagedDiskManager::CheckPrefetchRange(PageId first, PageId last) {
  hint_calls_.fetch_add(1, std::memory_order_relaxed);
  if (first > last) {
    return absl::InvalidArgumentError(
        fmt::format("{}: WillNeed range [{}, {}] is empty", path_, first, last));
  }
  return CheckRange(last, "prefetch");
}

absl::Status PagedDiskManager::CheckWritable() const {
  if (read_only_) [[unlikely]] {
    return absl::FailedPreconditionError(fmt::format("{}: opened read-only", path_));
  }
  if (failed_.load(std::memory_order_acquire)) [[unlikely]] {
    MutexLock lock(&state_mu_);
    return absl::FailedPreconditionError(
        fmt::format("{}: disk manager failed and accepts no more writes (reopen to recover); first "
                    "error: {}",
                    path_, failure_.ToString()));
  }
  return absl::OkStatus();
}

void PagedDiskManager::EnterFailedState(const absl::Status& cause) {
  MutexLock lock(&state_mu_);
  if (!failed_.load(std::memory_order_relaxed)) {
    failure_ = cause;
    failed_.store(true, std::memory_order_release);
  }
}

absl::Status PagedDiskManager::VerifyRead(PageId id, ConstPageSpan page) {
  if (!verify_) return absl::OkStatus();
  absl::Status s = VerifyPage(id, page, path_);
  if (!s.ok()) [[unlikely]] {
    checksum_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  return s;
}

absl::Status PagedDiskManager::ReadPage(PageId id, PageSpan out) {
  if (absl::Status s = CheckRange(id, "read"); !s.ok()) return s;
  if (absl::Status s = ReadRaw(id, out); !s.ok()) return s;
  reads_.Add(1);
  return VerifyRead(id, out);
}

absl::Status PagedDiskManager::WritePage(PageId id, PageSpan page) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  if (id < kFirstDataPage) [[unlikely]] {
    return absl::InvalidArgumentError(
        fmt::format("{}: page {} is a superblock copy and is written only by Sync", path_, id));
  }
  if (absl::Status s = CheckRange(id, "write"); !s.ok()) return s;
  SealPage(id, page);
  if (absl::Status s = WriteRaw(id, page); !s.ok()) return s;
  writes_.Add(1);
  return absl::OkStatus();
}

absl::Status PagedDiskManager::ReadRawPage(PageId id, PageSpan out) {
  if (absl::Status s = CheckRange(id, "raw read"); !s.ok()) return s;
  return ReadRaw(id, out);
}

absl::Status PagedDiskManager::ReadRawPages(PageId first, std::span<std::byte> out) {
  const std::size_t n = out.size() / kPageSize;
  if (out.size() % kPageSize != 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: raw read into {} bytes, not whole pages", path_, out.size()));
  }
  if (n == 0) return absl::OkStatus();
  if (absl::Status s = CheckRange(first + n - 1, "raw read"); !s.ok()) return s;
  if (absl::Status s = ReadRawRun(first, out); !s.ok()) return s;
  reads_.Add(n);
  return absl::OkStatus();
}

absl::Status PagedDiskManager::ReadRawRun(PageId first, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size() / kPageSize; ++i) {
    if (absl::Status s = ReadRaw(first + i, PageSpan(out.data() + i * kPageSize, kPageSize));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PagedDiskManager::Shrink(PageId count) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  MutexLock sync_lock(&sync_mu_);  // no Sync computes its superblock meanwhile
  MutexLock lock(&alloc_mu_);
  const PageId now = page_count_.load(std::memory_order_relaxed);
  if (count < kFirstDataPage || count > now) {
    return absl::InvalidArgumentError(
        fmt::format("{}: cannot shrink to {} pages: the file has {} (and {} superblock pages)",
                    path_, count, now, kFirstDataPage));
  }
  page_count_.store(count, std::memory_order_release);
  shrink_requested_.store(true, std::memory_order_release);
  // Invariant 8: the roots of now still name a checkpoint that knew the pages.
  MutexLock state(&state_mu_);
  if (claim_floor_ == 0) shrink_roots_ = roots_;
  claim_floor_ = std::max(claim_floor_, now);
  return absl::OkStatus();
}

absl::Status PagedDiskManager::WriteRawPage(PageId id, ConstPageSpan bytes) {
  if (read_only_) return CheckWritable();
  if (absl::Status s = CheckRange(id, "raw write"); !s.ok()) return s;
  if (absl::Status s = WriteRaw(id, bytes); !s.ok()) return s;
  writes_.Add(1);
  return absl::OkStatus();
}

absl::StatusOr<PageId> PagedDiskManager::AllocatePage() {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  MutexLock lock(&alloc_mu_);
  const PageId id = page_count_.load(std::memory_order_relaxed);
  // Invariant 1: the space exists before anyone can address the page.
  if (absl::Status s = EnsureCapacity(id + 1); !s.ok()) return s;
  page_count_.store(id + 1, std::memory_order_release);
  return id;
}

absl::Status PagedDiskManager::Sync() {
  MutexLock sync_lock(&sync_mu_);
  Superblock next;
  bool superblock_changed;
  {
    MutexLock lock(&state_mu_);
    next = durable_;
    next.roots = roots_;
    next.page_count = page_count();
    if (claim_floor_ != 0 && roots_ == shrink_roots_) {
      next.page_count = std::max(next.page_count, claim_floor_);  // invariant 8
    } else {
      claim_floor_ = 0;
    }
    superblock_changed = next.page_count != durable_.page_count || !(next.roots == durable_.roots);
  }
  if (read_only_) {
    return superblock_changed ? CheckWritable() : absl::OkStatus();
  }
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  // Invariant 2: data and file size first.
  if (absl::Status s = SyncData(); !s.ok()) {
    EnterFailedState(s);
    return s;
  }
  if (!superblock_changed) return absl::OkStatus();
  // The copy this write leaves in place (invariant 3) is the one durable now.
  const PageId older = durable_superblock().page_count;
  if (absl::Status s = WriteSuperblock(next); !s.ok()) {
    EnterFailedState(s);
    return s;
  }
  if (shrink_requested_.exchange(false, std::memory_order_acq_rel)) shrink_pending_ = true;
  if (shrink_pending_) {
    // Invariant 7: keep what either copy claims (and whatever grew since).
    MutexLock lock(&alloc_mu_);
    const PageId keep = std::max({older, next.page_count, page_count()});
    if (absl::Status s = CutFile(keep); !s.ok()) {
      EnterFailedState(s);
      return s;
    }
    if (older <= next.page_count) shrink_pending_ = false;
  }
  return absl::OkStatus();
}

absl::Status PagedDiskManager::WriteSuperblock(Superblock next) {
  {
    MutexLock lock(&state_mu_);
    next.sequence = durable_.sequence + 1;  // invariant 3: the other copy
  }
  alignas(kPageSize) std::array<std::byte, kPageSize> page;
  EncodeSuperblock(next, page);
  if (absl::Status s = WriteRaw(next.sequence % 2, page); !s.ok()) return s;
  writes_.Add(1);
  if (absl::Status s = SyncData(); !s.ok()) return s;
  MutexLock lock(&state_mu_);
  durable_ = next;
  return absl::OkStatus();
}

SuperblockRoots PagedDiskManager::roots() const {
  MutexLock lock(&state_mu_);
  return roots_;
}

void PagedDiskManager::SetRoots(const SuperblockRoots& roots) {
  MutexLock lock(&state_mu_);
  roots_ = roots;
}

Superblock PagedDiskManager::durable_superblock() const {
  MutexLock lock(&state_mu_);
  return durable_;
}

DiskStats PagedDiskManager::stats() const {
  DiskStats s;
  s.reads = static_cast<std::uint64_t>(reads_.Load());
  s.writes = static_cast<std::uint64_t>(writes_.Load());
  s.bytes_read = s.reads * kPageSize;
  s.bytes_written = s.writes * kPageSize;
  s.syncs = syncs_.load(std::memory_order_relaxed);
  s.growths = growths_.load(std::memory_order_relaxed);
  s.remaps = remaps_.load(std::memory_order_relaxed);
  s.hint_calls = hint_calls_.load(std::memory_order_relaxed);
  s.checksum_failures = checksum_failures_.load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  s.batch_requests = batch_requests_.load(std::memory_order_relaxed);
  s.batch_submits = batch_submits_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace pagestore
