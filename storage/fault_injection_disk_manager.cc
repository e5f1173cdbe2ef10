#include "storage/fault_injection_disk_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <random>

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

absl::Status FaultInjectionDiskManager::Enter(std::string_view op, PageId id, bool mutating) {
  if (power_lost_) {
    return absl::FailedPreconditionError(
        fmt::format("{}: {} after a simulated power loss; reopen the file", path(), op));
  }
  if (mutating && !sync_failure_.ok()) {
    return absl::FailedPreconditionError(fmt::format("{}: {} after a failed sync; first error: {}",
                                                     path(), op, sync_failure_.ToString()));
  }
  if (mutating && inner_->read_only()) {
    return absl::FailedPreconditionError(fmt::format("{}: opened read-only", path()));
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
  if (absl::Status s = Enter("read", id, false); !s.ok()) return s;
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
    if (absl::Status s = Enter("read batch", ids.empty() ? 0 : ids.front(), false); !s.ok())
      return s;
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

absl::Status FaultInjectionDiskManager::Shrink(PageId count) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("shrink", count, true); !s.ok()) return s;
  if (absl::Status s = inner_->Shrink(count); !s.ok()) return s;
  for (auto it = unsynced_.begin(); it != unsynced_.end();) {
    if (it->first >= count) {
      torn_.erase(it->first);
      unsynced_.erase(it++);
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::ReadRawPages(PageId first, std::span<std::byte> out) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("raw read", first, false); !s.ok()) return s;
  if (absl::Status s = inner_->ReadRawPages(first, out); !s.ok()) return s;
  for (std::size_t i = 0; i < out.size() / kPageSize; ++i) {
    if (auto it = unsynced_.find(first + i); it != unsynced_.end()) {
      std::memcpy(out.data() + i * kPageSize, it->second->data(), kPageSize);
    }
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::WritePage(PageId id, PageSpan page) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("write", id, true); !s.ok()) return s;
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
  if (absl::Status s = Enter("allocate", 0, true); !s.ok()) return s;
  return inner_->AllocatePage();
}

absl::Status FaultInjectionDiskManager::Sync() {
  MutexLock lock(&mu_);
  absl::Status s = Enter("sync", 0, true);
  if (absl::IsFailedPrecondition(s)) return s;
  for (auto it = unsynced_.begin(); s.ok() && it != unsynced_.end(); ++it) {
    s = inner_->WritePage(it->first, *it->second);
  }
  if (s.ok()) s = inner_->Sync();
  if (!s.ok()) {
    sync_failure_ = s;  // final, as for the real managers
    return s;
  }
  unsynced_.clear();
  torn_.clear();
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::SimulatePowerLoss(double keep_probability,
                                                          std::uint64_t seed) {
  MutexLock lock(&mu_);
  if (power_lost_) return absl::OkStatus();
  power_lost_ = true;
  auto* raw = dynamic_cast<PagedDiskManager*>(inner_.get());
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(keep_probability);
  for (auto& [id, page] : unsynced_) {
    auto torn = torn_.find(id);
    if (torn == torn_.end()) {
      if (keep(rng)) {
        if (absl::Status s = inner_->WritePage(id, *page); !s.ok()) return s;
      }
      continue;
    }
    if (raw == nullptr) {
      return absl::UnimplementedError(
          fmt::format("{}: torn writes need a PagedDiskManager underneath", path()));
    }
    // The tear lands over whatever bytes the disk holds, valid or not.
    Page durable;
    if (absl::Status s = raw->ReadRawPage(id, durable); !s.ok()) return s;
    std::memcpy(durable.data(), page->data(), static_cast<std::size_t>(torn->second) * 512);
    if (absl::Status s = raw->WriteRawPage(id, durable); !s.ok()) return s;
  }
  unsynced_.clear();
  torn_.clear();
  return absl::OkStatus();
}

absl::Status FaultInjectionDiskManager::Advise(AccessPattern pattern) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("advise", 0, false); !s.ok()) return s;
  return inner_->Advise(pattern);
}

absl::Status FaultInjectionDiskManager::WillNeed(PageId first, PageId last) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("prefetch", first, false); !s.ok()) return s;
  return inner_->WillNeed(first, last);
}

}  // namespace pagestore
