#include "storage/pread_disk_manager.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "storage/io_batch.h"
#include "storage/logging.h"

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
      capacity_bytes_(capacity_bytes / kPageSize * kPageSize) {
  // PAGESTORE_IO_URING=0 turns io_uring off for every manager of the process (to run a whole
  // suite, or an engine, on the fallback).
  const char* env = std::getenv("PAGESTORE_IO_URING");
  if (options.pread.io_uring && (env == nullptr || std::string_view(env) != "0")) {
    absl::StatusOr<std::unique_ptr<storage_internal::IoRings>> rings =
        storage_internal::IoRings::Create(options.pread.uring_depth,
                                          [this] { return InjectedErrno(IoCall::kRingSetup); });
    if (rings.ok()) {
      rings_ = std::move(*rings);
    } else {
      Logf(LogLevel::kWarning, "{}: batched I/O without io_uring (one preadv after another): {}",
           path_, std::string(rings.status().message()));
    }
  }
  name_ = fmt::format("pread{}{}", direct_ ? "-direct" : "", rings_ != nullptr ? "+uring" : "");
}

PreadDiskManager::~PreadDiskManager() = default;

absl::Status PreadDiskManager::ReadRaw(PageId id, PageSpan out) {
  if (int err = InjectedErrno(IoCall::kRead)) {
    return ErrnoStatus(err, fmt::format("{}: read page {}", path_, id));
  }
  const off_t offset = static_cast<off_t>(id * kPageSize);
  if (!direct_ || IsAligned(out.data())) {
    return PreadFully(fd_.get(), out.data(), kPageSize, offset, path_);
  }
  std::byte* bounce = BounceBuffer();
  if (absl::Status s = PreadFully(fd_.get(), bounce, kPageSize, offset, path_); !s.ok()) return s;
  std::memcpy(out.data(), bounce, kPageSize);
  return absl::OkStatus();
}

absl::Status PreadDiskManager::ReadRawRun(PageId first, std::span<std::byte> out) {
  // One pread for the run, unless O_DIRECT needs a bounce buffer for an unaligned one.
  if (direct_ && !IsAligned(out.data())) return PagedDiskManager::ReadRawRun(first, out);
  if (int err = InjectedErrno(IoCall::kRead)) {
    return ErrnoStatus(err, fmt::format("{}: read pages {}..{}", path_, first,
                                        first + out.size() / kPageSize - 1));
  }
  return PreadFully(fd_.get(), out.data(), out.size(), static_cast<off_t>(first * kPageSize),
                    path_);
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
  std::vector<PageRequest> batch(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    batch[i].id = ids[i];
    batch[i].data = out.data() + i * kPageSize;
  }
  return ReadBatch(batch);
}

absl::Status PreadDiskManager::ReadBatch(std::span<PageRequest> batch) {
  return Batch(batch, /*write=*/false);
}

absl::Status PreadDiskManager::WriteBatch(std::span<PageRequest> batch) {
  return Batch(batch, /*write=*/true);
}

namespace {

// A run of consecutive pages is at most this long (1 MiB): one request of a batch.
constexpr std::size_t kMaxRunPages = 256;

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

}  // namespace

absl::Status PreadDiskManager::Batch(std::span<PageRequest> batch, bool write) {
  using storage_internal::IoRun;
  const std::string_view op = write ? "write" : "read";
  batches_.fetch_add(1, std::memory_order_relaxed);
  // The requests that pass the checks, in page order (so consecutive pages make one run).
  std::vector<std::size_t> order;
  order.reserve(batch.size());
  const absl::Status writable = write ? CheckWritable() : absl::OkStatus();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    PageRequest& r = batch[i];
    r.status = writable;
    if (r.status.ok() && write && r.id < kFirstDataPage) {
      r.status = absl::InvalidArgumentError(
          fmt::format("{}: page {} is a superblock copy and is written only by Sync", path_, r.id));
    }
    if (r.status.ok()) r.status = CheckRange(r.id, op);
    if (r.status.ok()) {
      if (const int err = InjectedErrno(write ? IoCall::kWrite : IoCall::kRead)) {
        r.status = ErrnoStatus(err, fmt::format("{}: {} page {}", path_, op, r.id));
      }
    }
    if (!r.status.ok()) continue;
    if (write) SealPage(r.id, PageSpan(r.data, kPageSize));
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return batch[a].id < batch[b].id; });
  // O_DIRECT needs aligned memory: unaligned pages go through one aligned bounce block.
  std::size_t unaligned = 0;
  if (direct_) {
    for (std::size_t i : order) unaligned += IsAligned(batch[i].data) ? 0 : 1;
  }
  std::unique_ptr<std::byte, FreeDeleter> bounce;
  if (unaligned > 0) {
    bounce.reset(static_cast<std::byte*>(std::aligned_alloc(kPageSize, unaligned * kPageSize)));
    if (bounce == nullptr) {
      const absl::Status s = absl::ResourceExhaustedError(
          fmt::format("{}: no memory for a batch's {} bounce pages", path_, unaligned));
      for (std::size_t i : order) batch[i].status = s;  // nothing was read or written
      return s;
    }
  }
  std::vector<std::byte*> io_data(order.size());
  for (std::size_t k = 0, b = 0; k < order.size(); ++k) {
    std::byte* data = batch[order[k]].data;
    if (direct_ && !IsAligned(data)) {
      std::byte* slot = bounce.get() + b++ * kPageSize;
      if (write) std::memcpy(slot, data, kPageSize);
      data = slot;
    }
    io_data[k] = data;
  }
  // Runs of consecutive pages: one readv / writev each.
  std::vector<iovec> iov(order.size());
  std::vector<IoRun> runs;
  std::vector<std::size_t> run_start;  // index into `order` of each run's first page
  for (std::size_t k = 0; k < order.size(); ++k) {
    iov[k] = {io_data[k], kPageSize};
    const bool extends = !runs.empty() && batch[order[k]].id == batch[order[k - 1]].id + 1 &&
                         k - run_start.back() < kMaxRunPages;
    if (extends) {
      runs.back().iov_end = k + 1;
      runs.back().remaining += kPageSize;
    } else {
      runs.push_back({.offset = static_cast<off_t>(batch[order[k]].id * kPageSize),
                      .iov_begin = k,
                      .iov_end = k + 1,
                      .remaining = kPageSize});
      run_start.push_back(k);
    }
  }
  batch_requests_.fetch_add(runs.size(), std::memory_order_relaxed);
  if (!runs.empty()) {
    if (rings_ != nullptr) {
      std::size_t submits = 0;
      rings_->Run(fd_.get(), write, runs, iov, &submits);
      batch_submits_.fetch_add(submits, std::memory_order_relaxed);
    } else {
      storage_internal::RunSequentially(fd_.get(), write, runs, iov);
    }
  }
  // Each page's outcome: moved if its bytes lie before where its run stopped.
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const std::size_t end = r + 1 < runs.size() ? run_start[r + 1] : order.size();
    for (std::size_t k = run_start[r]; k < end; ++k) {
      PageRequest& req = batch[order[k]];
      const off_t page_end = static_cast<off_t>((req.id + 1) * kPageSize);
      if (page_end > runs[r].offset) {
        const std::string what =
            fmt::format("{}: {} page {} (in a batch of {} pages, {})", path_, op, req.id,
                        batch.size(), rings_ != nullptr ? "io_uring" : "preadv/pwritev");
        req.status =
            runs[r].err != 0
                ? ErrnoStatus(runs[r].err, what)
                : absl::DataLossError(fmt::format("{}: the file ends inside the page", what));
        continue;
      }
      if (write) {
        writes_.Add(1);
        continue;
      }
      if (io_data[k] != req.data) std::memcpy(req.data, io_data[k], kPageSize);
      reads_.Add(1);
      req.status = VerifyRead(req.id, PageSpan(req.data, kPageSize));
    }
  }
  return FirstFailure(batch);
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

absl::Status PreadDiskManager::CutFile(PageId pages) {
  const std::uint64_t bytes = pages * kPageSize;
  if (bytes >= capacity_bytes_) return absl::OkStatus();
  if (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) != 0) {
    return ErrnoStatus(errno, fmt::format("{}: cut to {} pages", path_, pages));
  }
  capacity_bytes_ = bytes;  // the next growth reserves again
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
