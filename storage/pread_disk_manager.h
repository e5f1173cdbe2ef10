// PreadDiskManager: pages move with pread/pwrite (optionally O_DIRECT), hints go to
// posix_fadvise, Sync is fdatasync, and growth reserves space with fallocate so a full disk shows
// up when the file grows, never on a later write.
//
// Ownership: owns the fd and its flock. Thread safety: as DiskManager (safe for concurrent use).
#pragma once

#include <filesystem>
#include <memory>

#include "storage/file_util.h"
#include "storage/paged_disk_manager.h"

namespace pagestore {

class PreadDiskManager final : public PagedDiskManager {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PreadDiskManager>> Open(
      const std::filesystem::path& path, const DiskManagerOptions& options);

  [[nodiscard]] absl::Status ReadPages(std::span<const PageId> ids,
                                       std::span<std::byte> out) override;
  [[nodiscard]] absl::Status Advise(AccessPattern pattern) override;
  [[nodiscard]] absl::Status WillNeed(PageId first, PageId last) override;
  std::string_view name() const override { return direct_ ? "pread-direct" : "pread"; }

 private:
  PreadDiskManager(std::string path, const DiskManagerOptions& options, bool read_only, ScopedFd fd,
                   std::uint64_t capacity_bytes);

  [[nodiscard]] absl::Status ReadRaw(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WriteRaw(PageId id, ConstPageSpan page) override;
  [[nodiscard]] absl::Status EnsureCapacity(PageId pages) override;
  [[nodiscard]] absl::Status SyncData() override;
  // One pread of `count` consecutive pages starting at `first` into `out`.
  [[nodiscard]] absl::Status ReadRun(PageId first, std::size_t count, std::byte* out);

  const ScopedFd fd_;
  const bool direct_;
  const std::uint64_t growth_bytes_;
  std::uint64_t capacity_bytes_;  // reserved file size; under alloc_mu_ (EnsureCapacity)
};

}  // namespace pagestore
