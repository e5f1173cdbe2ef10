// MemoryDiskManager: the page file lives in a MemoryFile on the heap. For tests: a MemoryFile
// outlives the managers opened on it, so "close and reopen" works, and tests can corrupt or
// truncate its bytes directly. Same format, checks and failure semantics as the file managers.
//
// Ownership: managers share the MemoryFile through shared_ptr. Thread safety: MemoryFile is safe
// for concurrent use (distinct pages in parallel, growth exclusive); the manager is as DiskManager.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "storage/mutex.h"
#include "storage/paged_disk_manager.h"

namespace pagestore {

class MemoryFile {
 public:
  explicit MemoryFile(std::string name = "memory") : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  PageId page_count() const;
  void Truncate(PageId pages);  // as ftruncate: cuts, or grows with zeroed pages
  // Direct access for tests that corrupt bytes. REQUIRES: id < page_count(); no concurrent I/O.
  std::byte* MutablePage(PageId id);

 private:
  friend class MemoryDiskManager;
  using Page = std::array<std::byte, kPageSize>;

  const std::string name_;
  mutable Mutex mu_;  // shared for page copies (distinct pages), exclusive for resizing
  std::vector<std::unique_ptr<Page>> pages_ ABSL_GUARDED_BY(mu_);
  bool writer_open_ ABSL_GUARDED_BY(mu_) = false;  // the flock rules: one writer, or readers
  int readers_open_ ABSL_GUARDED_BY(mu_) = 0;
};

class MemoryDiskManager final : public PagedDiskManager {
 public:
  // Opens the (possibly empty) file; options.mode and verify_checksums apply as for files.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemoryDiskManager>> Open(
      std::shared_ptr<MemoryFile> file, const DiskManagerOptions& options = {});
  ~MemoryDiskManager() override;

  [[nodiscard]] absl::Status Advise(AccessPattern) override;
  [[nodiscard]] absl::Status WillNeed(PageId first, PageId last) override;
  std::string_view name() const override { return "memory"; }

 private:
  MemoryDiskManager(std::shared_ptr<MemoryFile> file, const DiskManagerOptions& options,
                    bool read_only);
  [[nodiscard]] absl::Status ReadRaw(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WriteRaw(PageId id, ConstPageSpan page) override;
  [[nodiscard]] absl::Status EnsureCapacity(PageId pages) override;
  [[nodiscard]] absl::Status CutFile(PageId pages) override;
  [[nodiscard]] absl::Status SyncData() override;

  const std::shared_ptr<MemoryFile> file_;
};

}  // namespace pagestore
