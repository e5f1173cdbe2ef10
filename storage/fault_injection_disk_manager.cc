#include "storage/fault_injection_disk_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "storage/file_util.h"
#include "storage/paged_disk_manager.h"

namespace pagestore {

FaultInjectionDiskManager::FaultInjectionDiskManager(std::unique_ptr<DiskManager> inner)
    : inner_(std::move(inner)), name_(fmt::format("fault({})", inner_->name())) {}

FaultInjectionDiskManager::~FaultInjectionDiskManager() = default;

void FaultInjectionDiskManager::FailCall(std::uint64_t n, int err, bool persistent) {
  MutexLock lock(&mu_);
  fail_at_ = n == 0 ? 0 : calls_ + n;
  fail_errno_ = err;
  fail_persistent_ = persistent;
}

void FaultInjectionDiskManager::ClearFaults() {
  MutexLock lock(&mu_);
  fail_at_ = 0;
  fail_persistent_ = false;
}

void FaultInjectionDiskManager::TearNextWrite(int sectors) {
  MutexLock lock(&mu_);
  tear_next_ = std::clamp(sectors, 1, static_cast<int>(kPageSize / 512) - 1);
}

std::uint64_t FaultInjectionDiskManager::calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

std::size_t FaultInjectionDiskManager::unsynced_pages() const {
  MutexLock lock(&mu_);
  return unsynced_.size();
}

absl::Status FaultInjectionDiskManager::Enter(std::string_view op, PageId id) {
  if (!dead_.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("{}: {} after the disk manager died: {}", path(), op, dead_.ToString()));
  }
  ++calls_;
  if (fail_at_ != 0 && (calls_ == fail_at_ || (fail_persistent_ && calls_ > fail_at_))) {
    return ErrnoStatus(fail_errno_, fmt::format("{}: injected fault on call {} ({} page {})",
                                                path(), calls_, op, id));
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::ReadPage(PageId id, PageSpan out) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("read", id); !s.ok()) return s;
  if (auto it = unsynced_.find(id); it != unsynced_.end()) {
    std::memcpy(out.data(), it->second->data(), kPageSize);
    return absl::OkStatus();
  }
  return inner_->ReadPage(id, out);
}

absl::Status FaultInjectionDiskManager::ReadPages(std::span<const PageId> ids,
                                                  std::span<std::byte> out) {
  {
    MutexLock lock(&mu_);
    if (absl::Status s = Enter("read batch", ids.empty() ? 0 : ids.front()); !s.ok()) return s;
  }
  if (out.size() < ids.size() * kPageSize) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: ReadPages of {} pages into a buffer of {} bytes", path(), ids.size(), out.size()));
  }
  // One counted call for the batch; its pages are read uncounted.
  for (std::size_t i = 0; i < ids.size(); ++i) {
    PageSpan page(out.data() + i * kPageSize, kPageSize);
    MutexLock lock(&mu_);
    if (auto it = unsynced_.find(ids[i]); it != unsynced_.end()) {
      std::memcpy(page.data(), it->second->data(), kPageSize);
    } else if (absl::Status s = inner_->ReadPage(ids[i], page); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::WritePage(PageId id, PageSpan page) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("write", id); !s.ok()) return s;
  if (id < kFirstDataPage) {
    return absl::InvalidArgumentError(
        fmt::format("{}: page {} is a superblock copy and is written only by Sync", path(), id));
  }
  if (id >= inner_->page_count()) {
    return absl::OutOfRangeError(
        fmt::format("{}: write page {} beyond the end of the file ({} pages)", path(), id,
                    inner_->page_count()));
  }
  SealPage(id, page);
  auto& slot = unsynced_[id];
  if (!slot) slot = std::make_unique<Page>();
  std::memcpy(slot->data(), page.data(), kPageSize);
  if (tear_next_ != 0) {
    torn_[id] = tear_next_;
    tear_next_ = 0;
  } else {
    torn_.erase(id);
  }
  return absl::OkStatus();
}

absl::StatusOr<PageId> FaultInjectionDiskManager::AllocatePage() {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("allocate", 0); !s.ok()) return s;
  return inner_->AllocatePage();
}

absl::Status FaultInjectionDiskManager::Sync() {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("sync", 0); !s.ok()) {
    if (dead_.ok() && !absl::IsFailedPrecondition(s)) dead_ = s;  // a failed sync is final
    return s;
  }
  for (auto& [id, page] : unsynced_) {
    if (absl::Status s = inner_->WritePage(id, *page); !s.ok()) {
      dead_ = s;
      return s;
    }
  }
  if (absl::Status s = inner_->Sync(); !s.ok()) {
    dead_ = s;
    return s;
  }
  unsynced_.clear();
  torn_.clear();
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::SimulatePowerLoss() {
  MutexLock lock(&mu_);
  if (!torn_.empty()) {
    auto* raw = dynamic_cast<PagedDiskManager*>(inner_.get());
    if (raw == nullptr) {
      return absl::UnimplementedError(
          fmt::format("{}: torn writes need a PagedDiskManager underneath", path()));
    }
    for (const auto& [id, sectors] : torn_) {
      Page durable{};
      // A page never synced has no durable bytes: it tears over zeros.
      if (!inner_->ReadPage(id, durable).ok()) durable.fill(std::byte{0});
      std::memcpy(durable.data(), unsynced_.at(id)->data(),
                  static_cast<std::size_t>(sectors) * 512);
      if (absl::Status s = raw->WriteRawPage(id, durable); !s.ok()) return s;
    }
  }
  unsynced_.clear();
  torn_.clear();
  dead_ = absl::UnavailableError("power lost (simulated)");
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::Advise(AccessPattern pattern) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("advise", 0); !s.ok()) return s;
  return inner_->Advise(pattern);
}

absl::Status FaultInjectionDiskManager::WillNeed(PageId first, PageId last) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("prefetch", first); !s.ok()) return s;
  return inner_->WillNeed(first, last);
}

}  // namespace pagestore
