#include "storage/pread_disk_manager.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace pagestore {
namespace {

bool IsAligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kPageSize == 0; }

// O_DIRECT needs page-aligned memory; callers' buffers usually are (frames, alignas pages), and
// the rest go through this per-thread bounce buffer.
std::byte* BounceBuffer() {
  struct Buffer {
    std::byte* p = static_cast<std::byte*>(std::aligned_alloc(kPageSize, kPageSize));
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffer;
  return buffer.p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreadDiskManager>> PreadDiskManager::Open(
    const std::filesystem::path& path, const DiskManagerOptions& options) {
  const std::string name = path.string();
  const bool read_only = options.mode == OpenMode::kReadOnly;
  if (options.pread.growth_size == 0 || options.pread.growth_size % kPageSize != 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: pread growth_size {} is not a positive multiple of the page size", name,
                    options.pread.growth_size));
  }
  absl::StatusOr<PageFile> file =
      PageFile::Open(path, ToPageFileMode(options.mode), options.pread.direct_io ? O_DIRECT : 0);
  if (!file.ok()) return file.status();
  ScopedFd fd = file->TakeFd();
  absl::StatusOr<std::uint64_t> size = FileSize(fd.get(), name);
  if (!size.ok()) return size.status();
  const int raw_fd = fd.get();
  std::unique_ptr<PreadDiskManager> dm(
      new PreadDiskManager(name, options, read_only, std::move(fd), *size));
  if (file->is_new()) {
    absl::Status s = dm->InitializeNewFile();
    if (s.ok()) s = file->Publish();
    if (!s.ok()) {
      file->Abandon(raw_fd);
      return s;
    }
  } else if (absl::Status s = dm->LoadSuperblock(*size / kPageSize); !s.ok()) {
    return s;
  }
  return dm;
}

PreadDiskManager::PreadDiskManager(std::string path, const DiskManagerOptions& options,
                                   bool read_only, ScopedFd fd, std::uint64_t capacity_bytes)
    : PagedDiskManager(std::move(path), options, read_only),
      fd_(std::move(fd)),
      direct_(options.pread.direct_io),
      growth_bytes_(options.pread.growth_size),
      capacity_bytes_(capacity_bytes / kPageSize * kPageSize) {}

absl::Status PreadDiskManager::ReadRaw(PageId id, PageSpan out) {
  return ReadRun(id, 1, out.data());
}

absl::Status PreadDiskManager::ReadRun(PageId first, std::size_t count, std::byte* out) {
  if (int err = InjectedErrno(IoCall::kRead)) {
    return ErrnoStatus(err, fmt::format("{}: read page {}", path_, first));
  }
  const off_t offset = static_cast<off_t>(first * kPageSize);
  if (!direct_ || IsAligned(out)) {
    return PreadFully(fd_.get(), out, count * kPageSize, offset, path_);
  }
  std::byte* bounce = BounceBuffer();
  for (std::size_t i = 0; i < count; ++i) {
    if (absl::Status s = PreadFully(fd_.get(), bounce, kPageSize, offset + i * kPageSize, path_);
        !s.ok()) {
      return s;
    }
    std::memcpy(out + i * kPageSize, bounce, kPageSize);
  }
  return absl::OkStatus();
}

absl::Status PreadDiskManager::WriteRaw(PageId id, ConstPageSpan page) {
  if (int err = InjectedErrno(IoCall::kWrite)) {
    return ErrnoStatus(err, fmt::format("{}: write page {}", path_, id));
  }
  const void* src = page.data();
  if (direct_ && !IsAligned(src)) {
    std::memcpy(BounceBuffer(), page.data(), kPageSize);
    src = BounceBuffer();
  }
  return PwriteFully(fd_.get(), src, kPageSize, static_cast<off_t>(id * kPageSize), path_);
}

absl::Status PreadDiskManager::ReadPages(std::span<const PageId> ids, std::span<std::byte> out) {
  if (out.size() < ids.size() * kPageSize) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: ReadPages of {} pages into a buffer of {} bytes", path_, ids.size(), out.size()));
  }
  // Runs of consecutive ids become one pread each.
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t n = 1;
    while (i + n < ids.size() && ids[i + n] == ids[i] + n) ++n;
    // First and last in range means no wraparound in between.
    if (absl::Status s = CheckRange(ids[i], "read"); !s.ok()) return s;
    if (absl::Status s = CheckRange(ids[i] + n - 1, "read"); !s.ok()) return s;
    if (absl::Status s = ReadRun(ids[i], n, out.data() + i * kPageSize); !s.ok()) return s;
    reads_.Add(static_cast<std::int64_t>(n));
    for (std::size_t k = 0; k < n; ++k) {
      PageSpan page(out.data() + (i + k) * kPageSize, kPageSize);
      if (absl::Status s = VerifyRead(ids[i + k], page); !s.ok()) return s;
    }
    i += n;
  }
  return absl::OkStatus();
}

absl::Status PreadDiskManager::EnsureCapacity(PageId pages) {
  const std::uint64_t needed = pages * kPageSize;
  if (needed <= capacity_bytes_) return absl::OkStatus();
  const std::uint64_t target =
      (needed + growth_bytes_ - 1) / growth_bytes_ * growth_bytes_;  // whole growth steps
  if (int err = InjectedErrno(IoCall::kGrow)) {
    return ErrnoStatus(err, fmt::format("{}: grow to {} bytes", path_, target));
  }
  if (absl::Status s = ReserveSpace(fd_.get(), capacity_bytes_, target - capacity_bytes_, path_);
      !s.ok()) {
    return s;
  }
  capacity_bytes_ = target;
  growths_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status PreadDiskManager::SyncData() {
  int err = InjectedErrno(IoCall::kSync);
  if (err == 0 && ::fdatasync(fd_.get()) != 0) err = errno;
  if (err != 0) return ErrnoStatus(err, fmt::format("{}: fdatasync", path_));
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status PreadDiskManager::Advise(AccessPattern pattern) {
  hint_calls_.fetch_add(1, std::memory_order_relaxed);
  int advice = pattern == AccessPattern::kRandom       ? POSIX_FADV_RANDOM
               : pattern == AccessPattern::kSequential ? POSIX_FADV_SEQUENTIAL
                                                       : POSIX_FADV_NORMAL;
  int err = InjectedErrno(IoCall::kAdvise);
  if (err == 0) err = ::posix_fadvise(fd_.get(), 0, 0, advice);  // returns the error number
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, fmt::format("{}: posix_fadvise", path_));
}

absl::Status PreadDiskManager::WillNeed(PageId first, PageId last) {
  if (absl::Status s = CheckPrefetchRange(first, last); !s.ok()) return s;
  int err = InjectedErrno(IoCall::kAdvise);
  if (err == 0) {
    err = ::posix_fadvise(fd_.get(), static_cast<off_t>(first * kPageSize),
                          static_cast<off_t>((last - first + 1) * kPageSize), POSIX_FADV_WILLNEED);
  }
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, fmt::format("{}: posix_fadvise", path_));
}

}  // namespace pagestore
