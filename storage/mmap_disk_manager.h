// MmapDiskManager: the file is mapped MAP_SHARED into an address range reserved once at open
// (MmapConfig::reserve_size). Growth extends the file with fallocate and maps the new part with
// MAP_FIXED inside the reservation, so a mapped address never moves or goes away while the
// manager lives: readers running during a remap need no lock. Reads copy from the mapping and
// verify; View() hands out the mapped bytes themselves (zero copy); writes are a memcpy into the
// mapping (or pwrite, MmapConfig::write_via_pwrite); Sync msyncs only the pages written since the
// last Sync. The mapping never extends past the end of the file, so no access can SIGBUS, and a
// full disk is an error at growth time.
//
// Ownership: owns the fd, flock, mapping and reservation. PageView guards pin the mapping: if the
// manager is destroyed while views are alive, the mapping is deliberately left in place (and the
// leak reported on stderr) rather than pulled from under them.
//
// Thread safety: as DiskManager. View() is safe concurrently with anything except a write of the
// same page (the same rule as ReadPage).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "storage/atomic_bitmap.h"
#include "storage/file_util.h"
#include "storage/paged_disk_manager.h"

namespace pagestore {

class MmapDiskManager;

// A zero-copy, read-only view of one page inside the mapping. Move-only; releases on destruction.
// Valid only while no thread writes the page; the buffer pool's latches give that guarantee.
class PageView {
 public:
  PageView() = default;
  PageView(PageView&& o) noexcept { *this = std::move(o); }
  PageView& operator=(PageView&& o) noexcept;
  PageView(const PageView&) = delete;
  PageView& operator=(const PageView&) = delete;
  ~PageView() { Release(); }

  ConstPageSpan page() const { return ConstPageSpan(data_, kPageSize); }
  const std::byte* data() const { return data_; }
  PageId page_id() const { return id_; }
  PageHeader header() const { return ReadPageHeader(page()); }
  template <typename T>
  const T* As() const {
    return reinterpret_cast<const T*>(data_);
  }
  bool valid() const { return data_ != nullptr; }
  void Release();  // idempotent

 private:
  friend class MmapDiskManager;
  PageView(const std::byte* data, PageId id, ShardedCounter<>* pins, std::size_t shard)
      : data_(data), id_(id), pins_(pins), shard_(shard) {}

  const std::byte* data_ = nullptr;
  PageId id_ = kInvalidPageId;
  ShardedCounter<>* pins_ = nullptr;
  std::size_t shard_ = 0;
};

class MmapDiskManager final : public PagedDiskManager {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MmapDiskManager>> Open(
      const std::filesystem::path& path, const DiskManagerOptions& options);
  ~MmapDiskManager() override;

  // Zero-copy read. The first view of a page after open (or after the page was written) verifies
  // its checksum; later views trust it, since the bytes cannot change under us except through
  // this manager. ReadPage always verifies.
  [[nodiscard]] absl::StatusOr<PageView> View(PageId id);

  // Hints the kernel (MADV_WILLNEED) over each run of consecutive pages of the batch, so their
  // faults are read ahead together, then copies page by page.
  [[nodiscard]] absl::Status ReadBatch(std::span<PageRequest> batch) override;
  [[nodiscard]] absl::Status Advise(AccessPattern pattern) override;
  [[nodiscard]] absl::Status WillNeed(PageId first, PageId last) override;
  [[nodiscard]] absl::Status MadviseRandom() { return Advise(AccessPattern::kRandom); }
  [[nodiscard]] absl::Status MadviseSequential() { return Advise(AccessPattern::kSequential); }
  [[nodiscard]] absl::Status MadviseWillNeed(PageId first, PageId last) {
    return WillNeed(first, last);
  }
  std::string_view name() const override { return "mmap"; }

  std::uint64_t mapped_bytes() const { return mapped_bytes_.load(std::memory_order_acquire); }

 private:
  MmapDiskManager(std::string path, const DiskManagerOptions& options, bool read_only, ScopedFd fd);

  [[nodiscard]] absl::Status Map(std::uint64_t file_bytes);
  [[nodiscard]] absl::Status ReadRaw(PageId id, PageSpan out) override;
  [[nodiscard]] absl::Status WriteRaw(PageId id, ConstPageSpan page) override;
  [[nodiscard]] absl::Status EnsureCapacity(PageId pages) override;
  [[nodiscard]] absl::Status CutFile(PageId pages) override;
  [[nodiscard]] absl::Status SyncData() override;
  [[nodiscard]] absl::Status MapRange(std::uint64_t offset, std::uint64_t len);
  void MarkDirty(PageId id);

  std::byte* page_address(PageId id) const { return base_ + id * kPageSize; }

  const ScopedFd fd_;
  const MmapConfig config_;
  const int prot_;
  std::byte* base_ = nullptr;                   // start of the reservation; never changes
  std::uint64_t reserve_bytes_ = 0;             // size of the reservation
  std::atomic<std::uint64_t> mapped_bytes_{0};  // file bytes mapped; grows under alloc_mu_
  std::atomic<AccessPattern> advice_{AccessPattern::kNormal};  // re-applied to grown ranges
  std::atomic<bool> size_changed_{false};  // growth since the last sync: fdatasync, not msync

  // One bit per page of the reservation: written since the last Sync.
  AtomicBitmap dirty_bits_;
  // One bit per page: checksum verified since open or since the page was last written.
  AtomicBitmap verified_bits_;
  Mutex dirty_mu_;
  std::vector<PageId> dirty_pages_ ABSL_GUARDED_BY(dirty_mu_);  // pages whose dirty bit we set

  // Live PageViews; heap-allocated so it can outlive the manager with the mapping (see above).
  std::unique_ptr<ShardedCounter<>> pins_;
};

}  // namespace pagestore
