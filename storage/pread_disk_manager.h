// PreadDiskManager: pages move with pread/pwrite (optionally O_DIRECT), hints go to
// posix_fadvise, Sync is fdatasync, and growth reserves space with fallocate so a full disk shows
// up when the file grows, never on a later write. Batches (ReadBatch, WriteBatch, ReadPages) go
// out as one readv/writev per run of consecutive pages, all runs submitted at once through
// io_uring (PreadConfig::io_uring), else one after another.
//
// Ownership: owns the fd and its flock, and its io_uring rings. Thread safety: as DiskManager
// (safe for concurrent use; concurrent batches use rings of their own).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "storage/file_util.h"
#include "storage/paged_disk_manager.h"

namespace pagestore {
namespace storage_internal {
class IoRings;
}

class PreadDiskManager final : public PagedDiskManager {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PreadDiskManager>> Open(
      const std::filesystem::path& path, const DiskManagerOptions& options);

  ~PreadDiskManager() override;

  [[nodiscard]] absl::Status ReadPages(std::span<const PageId> ids,
                                       std::span<std::byte> out) override;
  [[nodiscard]] absl::Status ReadBatch(std::span<PageRequest> batch) override;
  [[nodiscard]] absl::Status WriteBatch(std::span<PageRequest> batch) override;
  [[nodiscard]] absl::Status Advise(AccessPattern pattern) override;
  [[nodiscard]] absl::Status WillNeed(PageId first, PageId last) override;
  std::string_view name() const override { return name_; }
  // Whether batches go through io_uring (false: asked not to, or it could not be set up).
  bool uses_io_uring() const { return rings_ != nullptr; }

 private:
  PreadDiskManager(std::string path, const DiskManagerOptions& options, bool read_only, ScopedFd fd,
                   std::uint64_t capacity_bytes);

  [[nodiscard]] absl::Status ReadRaw(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WriteRaw(PageId id, ConstPageSpan page) override;
  [[nodiscard]] absl::Status ReadRawRun(PageId first, std::span<std::byte> out) override;
  [[nodiscard]] absl::Status EnsureCapacity(PageId pages) override;
  [[nodiscard]] absl::Status CutFile(PageId pages) override;
  [[nodiscard]] absl::Status SyncData() override;
  // ReadBatch (write false) or WriteBatch.
  [[nodiscard]] absl::Status Batch(std::span<PageRequest> batch, bool write);

  const ScopedFd fd_;
  const bool direct_;
  std::unique_ptr<storage_internal::IoRings> rings_;  // null: no io_uring
  std::string name_;
  const std::uint64_t growth_bytes_;
  std::uint64_t capacity_bytes_;  // reserved file size; under alloc_mu_ (EnsureCapacity)
};

}  // namespace pagestore
