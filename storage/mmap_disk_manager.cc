#include "storage/mmap_disk_manager.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace pagestore {
namespace {

std::uint64_t RoundUp(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

int MadviseFor(AccessPattern p) {
  switch (p) {
    case AccessPattern::kRandom:
      return MADV_RANDOM;
    case AccessPattern::kSequential:
      return MADV_SEQUENTIAL;
    case AccessPattern::kNormal:
      break;
  }
  return MADV_NORMAL;
}

// msync needs addresses aligned to the system page, which may be larger than ours.
std::uint64_t SystemPageSize() {
  static const std::uint64_t size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

PageView& PageView::operator=(PageView&& o) noexcept {
  if (this != &o) {
    Release();
    data_ = std::exchange(o.data_, nullptr);
    id_ = std::exchange(o.id_, kInvalidPageId);
    pins_ = std::exchange(o.pins_, nullptr);
    shard_ = o.shard_;
  }
  return *this;
}

void PageView::Release() {
  if (pins_ != nullptr) {
    pins_->AddAt(shard_, -1, std::memory_order_release);  // our reads happen before
    pins_ = nullptr;
    data_ = nullptr;
  }
}

absl::StatusOr<std::unique_ptr<MmapDiskManager>> MmapDiskManager::Open(
    const std::filesystem::path& path, const DiskManagerOptions& options) {
  const std::string name = path.string();
  const MmapConfig& c = options.mmap;
  if (c.growth_size == 0 || c.growth_size % kPageSize != 0 || c.initial_size % kPageSize != 0 ||
      c.reserve_size % kPageSize != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: mmap initial_size ({}), growth_size ({}) and reserve_size ({}) must be multiples of "
        "the page size, growth_size positive",
        name, c.initial_size, c.growth_size, c.reserve_size));
  }
  if (c.initial_size > c.reserve_size) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: mmap initial_size {} exceeds reserve_size {}", name, c.initial_size, c.reserve_size));
  }
  const bool read_only = options.mode == OpenMode::kReadOnly;
  absl::StatusOr<PageFile> file = PageFile::Open(path, ToPageFileMode(options.mode), 0);
  if (!file.ok()) return file.status();
  ScopedFd fd = file->TakeFd();
  absl::StatusOr<std::uint64_t> size = FileSize(fd.get(), name);
  if (!size.ok()) return size.status();
  // Map whole pages only: never a byte past the end of the file.
  const std::uint64_t file_bytes = *size / kPageSize * kPageSize;

  const int raw_fd = fd.get();
  std::unique_ptr<MmapDiskManager> dm(new MmapDiskManager(name, options, read_only, std::move(fd)));
  if (absl::Status s = dm->Map(file_bytes); !s.ok()) return s;
  if (file->is_new()) {
    absl::Status s;
    {
      MutexLock lock(&dm->alloc_mu_);  // not shared yet: for the annotation
      s = dm->EnsureCapacity(std::max<PageId>(c.initial_size / kPageSize, 1));
    }
    if (s.ok()) s = dm->InitializeNewFile();
    if (s.ok()) s = file->Publish();
    if (!s.ok()) {
      file->Abandon(raw_fd);
      return s;
    }
    return dm;
  }
  // Check the superblock against the file as found, before growing it to initial_size would
  // hide a truncation behind fresh zeros.
  if (absl::Status s = dm->LoadSuperblock(file_bytes / kPageSize); !s.ok()) return s;
  if (!read_only && file_bytes < c.initial_size) {
    // Best effort: on a full disk the file opens as it is and grows when a page is allocated.
    MutexLock lock(&dm->alloc_mu_);  // not shared yet: for the annotation
    if (absl::Status s = dm->EnsureCapacity(c.initial_size / kPageSize);
        !s.ok() && !absl::IsResourceExhausted(s)) {
      return s;
    }
  }
  return dm;
}

MmapDiskManager::MmapDiskManager(std::string path, const DiskManagerOptions& options,
                                 bool read_only, ScopedFd fd)
    : PagedDiskManager(std::move(path), options, read_only),
      fd_(std::move(fd)),
      config_(options.mmap),
      prot_(read_only ? PROT_READ : PROT_READ | PROT_WRITE),
      pins_(std::make_unique<ShardedCounter<>>()) {}

absl::Status MmapDiskManager::Map(std::uint64_t file_bytes) {
  reserve_bytes_ = RoundUp(std::max(config_.reserve_size, file_bytes), SystemPageSize());
  void* p = ::mmap(nullptr, reserve_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED) {
    return ErrnoStatus(errno,
                       fmt::format("{}: reserve {} bytes of address space", path_, reserve_bytes_));
  }
  base_ = static_cast<std::byte*>(p);
  const std::uint64_t pages = reserve_bytes_ / kPageSize;
  dirty_bits_ = AtomicBitmap(pages);
  verified_bits_ = AtomicBitmap(pages);
  if (!dirty_bits_.valid() || !verified_bits_.valid()) {
    return absl::ResourceExhaustedError(
        fmt::format("{}: cannot reserve page bitmaps for {} pages", path_, pages));
  }
  if (file_bytes > 0) {
    if (absl::Status s = MapRange(0, file_bytes); !s.ok()) return s;
  }
  mapped_bytes_.store(file_bytes, std::memory_order_release);
  return absl::OkStatus();
}

MmapDiskManager::~MmapDiskManager() {
  if (base_ == nullptr) return;
  if (std::int64_t live = pins_->Load(std::memory_order_acquire); live != 0) {
    // A view outlives its manager: a caller bug, but not one to turn into a use-after-unmap.
    std::fprintf(stderr,
                 "pagestore: %s: mmap disk manager destroyed with %lld live page views; leaving "
                 "the mapping in place\n",
                 path_.c_str(), static_cast<long long>(live));
    static Mutex orphans_mu;
    static auto* orphans = new std::vector<std::unique_ptr<ShardedCounter<>>>();
    MutexLock lock(&orphans_mu);
    orphans->push_back(std::move(pins_));  // kept for the live views, for the process lifetime
    return;
  }
  ::munmap(base_, reserve_bytes_);
}

absl::Status MmapDiskManager::MapRange(std::uint64_t offset, std::uint64_t len) {
  if (int err = InjectedErrno(IoCall::kMap)) {
    return ErrnoStatus(err, fmt::format("{}: map {} bytes at {}", path_, len, offset));
  }
  const int flags = MAP_SHARED | MAP_FIXED | (config_.populate ? MAP_POPULATE : 0);
  void* p = ::mmap(base_ + offset, len, prot_, flags, fd_.get(), static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    const int err = errno;
    // Older kernels may have unmapped the range before failing: put the reservation back so
    // nothing else can be mapped into our address range.
    (void)::mmap(base_ + offset, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    return ErrnoStatus(err, fmt::format("{}: map {} bytes at {}", path_, len, offset));
  }
  if (AccessPattern a = advice_.load(std::memory_order_relaxed); a != AccessPattern::kNormal) {
    ::madvise(base_ + offset, len, MadviseFor(a));  // advisory: a failure changes nothing
  }
  return absl::OkStatus();
}

absl::Status MmapDiskManager::EnsureCapacity(PageId pages) {
  const std::uint64_t mapped = mapped_bytes_.load(std::memory_order_relaxed);
  const std::uint64_t needed = pages * kPageSize;
  if (needed <= mapped) return absl::OkStatus();
  if (read_only_) return CheckWritable();
  std::uint64_t target =
      RoundUp(mapped + RoundUp(needed - mapped, config_.growth_size), SystemPageSize());
  if (target > reserve_bytes_ && needed <= reserve_bytes_) target = reserve_bytes_;  // last step
  if (target > reserve_bytes_) {
    return absl::ResourceExhaustedError(fmt::format(
        "{}: growing to {} bytes exceeds the mmap reservation of {} bytes; reopen with a larger "
        "reserve (spec mmap:reserve=...)",
        path_, target, reserve_bytes_));
  }
  if (int err = InjectedErrno(IoCall::kGrow)) {
    return ErrnoStatus(err, fmt::format("{}: grow to {} bytes", path_, target));
  }
  // Space first, so no store into the new range can ever fault for lack of disk.
  if (absl::Status s = ReserveSpace(fd_.get(), mapped, target - mapped, path_); !s.ok()) return s;
  growths_.fetch_add(1, std::memory_order_relaxed);
  size_changed_.store(true, std::memory_order_release);
  if (absl::Status s = MapRange(mapped, target - mapped); !s.ok()) return s;
  remaps_.fetch_add(1, std::memory_order_relaxed);
  mapped_bytes_.store(target, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status MmapDiskManager::CutFile(PageId pages) {
  // The mapping stays (addresses never go away); nothing reaches the pages past page_count(),
  // and growth maps the range again over the file grown back.
  const std::uint64_t bytes = RoundUp(pages * kPageSize, SystemPageSize());
  if (bytes >= mapped_bytes_.load(std::memory_order_relaxed)) return absl::OkStatus();
  if (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) != 0) {
    return ErrnoStatus(errno, fmt::format("{}: cut to {} pages", path_, pages));
  }
  for (PageId id = bytes / kPageSize;
       id < mapped_bytes_.load(std::memory_order_relaxed) / kPageSize; ++id) {
    verified_bits_.Clear(id, std::memory_order_relaxed);
    dirty_bits_.Clear(id, std::memory_order_relaxed);
  }
  size_changed_.store(true, std::memory_order_release);
  mapped_bytes_.store(bytes, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status MmapDiskManager::ReadRaw(PageId id, PageSpan out) {
  std::memcpy(out.data(), page_address(id), kPageSize);
  return absl::OkStatus();
}

absl::Status MmapDiskManager::WriteRaw(PageId id, ConstPageSpan page) {
  // The next View verifies again: the bytes may be anything WriteRawPage was given, and a write
  // that fails halfway leaves a mix. Cleared first, so no View trusts bytes mid-change.
  if (verified_bits_.Test(id, std::memory_order_relaxed)) {
    verified_bits_.Clear(id, std::memory_order_relaxed);
  }
  if (config_.write_via_pwrite) {
    if (int err = InjectedErrno(IoCall::kWrite)) {
      return ErrnoStatus(err, fmt::format("{}: write page {}", path_, id));
    }
    if (absl::Status s = PwriteFully(fd_.get(), page.data(), kPageSize,
                                     static_cast<off_t>(id * kPageSize), path_);
        !s.ok()) {
      return s;
    }
  } else {
    std::memcpy(page_address(id), page.data(), kPageSize);
  }
  MarkDirty(id);
  return absl::OkStatus();
}

void MmapDiskManager::MarkDirty(PageId id) {
  // After the bytes are stored: an acq_rel RMW on the word orders the store before SyncData's
  // clearing RMW, so either this write is covered by the msync that follows the clear, or the bit
  // was already clear and we queue the page for the next Sync.
  if (dirty_bits_.Set(id, std::memory_order_acq_rel)) return;
  MutexLock lock(&dirty_mu_);
  dirty_pages_.push_back(id);
}

absl::Status MmapDiskManager::SyncData() {
  std::vector<PageId> pages;
  {
    MutexLock lock(&dirty_mu_);
    pages.swap(dirty_pages_);
    for (PageId id : pages) {
      dirty_bits_.Clear(id, std::memory_order_acq_rel);
    }
  }
  const bool size_changed = size_changed_.exchange(false, std::memory_order_acq_rel);
  if (pages.empty() && !size_changed) return absl::OkStatus();  // nothing written: nothing to do
  int err = InjectedErrno(IoCall::kSync);
  if (err == 0 && size_changed) {
    // The file grew: fdatasync makes the new size durable along with every dirty page.
    if (::fdatasync(fd_.get()) != 0) err = errno;
  } else if (err == 0) {
    // Coalesce into runs; past a few runs, one msync over the span is cheaper than many (each
    // msync is a journal commit and a device flush).
    std::sort(pages.begin(), pages.end());
    std::vector<std::pair<PageId, PageId>> runs;  // [first, last]
    for (PageId id : pages) {
      if (!runs.empty() && id <= runs.back().second + 1) {
        runs.back().second = std::max(runs.back().second, id);
      } else {
        runs.emplace_back(id, id);
      }
    }
    if (runs.size() > 8) runs = {{runs.front().first, runs.back().second}};
    const std::uint64_t sys = SystemPageSize();
    for (const auto& [first, last] : runs) {
      const std::uint64_t begin = first * kPageSize / sys * sys;
      const std::uint64_t end = RoundUp((last + 1) * kPageSize, sys);
      if (::msync(base_ + begin, end - begin, MS_SYNC) != 0) {
        err = errno;
        break;
      }
    }
  }
  if (err != 0) return ErrnoStatus(err, fmt::format("{}: msync", path_));
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<PageView> MmapDiskManager::View(PageId id) {
  if (absl::Status s = CheckRange(id, "view"); !s.ok()) return s;
  const std::byte* p = page_address(id);
  if (verify_checksums() && !verified_bits_.Test(id)) {
    if (absl::Status s = VerifyRead(id, ConstPageSpan(p, kPageSize)); !s.ok()) return s;
    verified_bits_.Set(id, std::memory_order_relaxed);
  }
  const std::size_t shard = ThisThreadShard();
  reads_.AddAt(shard, 1);
  pins_->AddAt(shard, 1);
  return PageView(p, id, pins_.get(), shard);
}

absl::Status MmapDiskManager::ReadBatch(std::span<PageRequest> batch) {
  batches_.fetch_add(1, std::memory_order_relaxed);
  std::vector<PageId> ids;
  ids.reserve(batch.size());
  const PageId count = page_count();
  for (const PageRequest& r : batch) {
    if (r.id < count) ids.push_back(r.id);
  }
  std::sort(ids.begin(), ids.end());
  const std::uint64_t sys = SystemPageSize();
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t n = 1;
    while (i + n < ids.size() && ids[i + n] <= ids[i + n - 1] + 1) ++n;
    // Only a hint: a failure here shows up, if it matters, as the copy's own error.
    const std::uint64_t begin = ids[i] * kPageSize / sys * sys;
    const std::uint64_t end = RoundUp((ids[i + n - 1] + 1) * kPageSize, sys);
    if (end <= mapped_bytes()) (void)::madvise(base_ + begin, end - begin, MADV_WILLNEED);
    batch_requests_.fetch_add(1, std::memory_order_relaxed);
    i += n;
  }
  for (PageRequest& r : batch) r.status = ReadPage(r.id, PageSpan(r.data, kPageSize));
  return FirstFailure(batch);
}

absl::Status MmapDiskManager::Advise(AccessPattern pattern) {
  hint_calls_.fetch_add(1, std::memory_order_relaxed);
  advice_.store(pattern, std::memory_order_relaxed);
  int err = InjectedErrno(IoCall::kAdvise);
  const std::uint64_t mapped = mapped_bytes();
  if (err == 0 && mapped > 0 && ::madvise(base_, mapped, MadviseFor(pattern)) != 0) err = errno;
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, fmt::format("{}: madvise", path_));
}

absl::Status MmapDiskManager::WillNeed(PageId first, PageId last) {
  if (absl::Status s = CheckPrefetchRange(first, last); !s.ok()) return s;
  const std::uint64_t sys = SystemPageSize();
  const std::uint64_t begin = first * kPageSize / sys * sys;
  const std::uint64_t end = RoundUp((last + 1) * kPageSize, sys);
  int err = InjectedErrno(IoCall::kAdvise);
  if (err == 0 && ::madvise(base_ + begin, end - begin, MADV_WILLNEED) != 0) err = errno;
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, fmt::format("{}: madvise", path_));
}

}  // namespace pagestore
