#include "storage/memory_disk_manager.h"

#include <fmt/format.h>

#include <cstring>

#include "storage/file_util.h"

namespace pagestore {

PageId MemoryFile::page_count() const {
  ReaderMutexLock lock(&mu_);
  return pages_.size();
}

void MemoryFile::Truncate(PageId pages) {
  MutexLock lock(&mu_);
  if (pages < pages_.size()) pages_.resize(pages);
  while (pages_.size() < pages) pages_.push_back(std::make_unique<Page>(Page{}));
}

std::byte* MemoryFile::MutablePage(PageId id) {
  ReaderMutexLock lock(&mu_);
  return pages_.at(id)->data();
}

absl::StatusOr<std::unique_ptr<MemoryDiskManager>> MemoryDiskManager::Open(
    std::shared_ptr<MemoryFile> file, const DiskManagerOptions& options) {
  const bool read_only = options.mode == OpenMode::kReadOnly;
  PageId pages;
  {
    MutexLock lock(&file->mu_);
    pages = file->pages_.size();
    if (pages == 0 && (options.mode == OpenMode::kOpenExisting || read_only)) {
      return absl::NotFoundError(fmt::format("{}: no such memory file", file->name()));
    }
    if (pages > 0 && options.mode == OpenMode::kCreate) {
      return absl::AlreadyExistsError(fmt::format("{}: memory file exists", file->name()));
    }
    if (file->writer_open_ || (!read_only && file->readers_open_ > 0)) {
      return absl::FailedPreconditionError(fmt::format("{}: already open by another {}",
                                                       file->name(),
                                                       file->writer_open_ ? "writer" : "reader"));
    }
    if (read_only) {
      ++file->readers_open_;
    } else {
      file->writer_open_ = true;
    }
  }
  std::unique_ptr<MemoryDiskManager> dm(new MemoryDiskManager(file, options, read_only));
  if (pages == 0) {
    if (absl::Status s = dm->InitializeNewFile(); !s.ok()) {
      dm->file_->Truncate(0);  // as a file that was never created
      return s;
    }
  } else if (absl::Status s = dm->LoadSuperblock(pages); !s.ok()) {
    return s;
  }
  return dm;
}

MemoryDiskManager::MemoryDiskManager(std::shared_ptr<MemoryFile> file,
                                     const DiskManagerOptions& options, bool read_only)
    : PagedDiskManager(file->name(), options, read_only), file_(std::move(file)) {}

MemoryDiskManager::~MemoryDiskManager() {
  MutexLock lock(&file_->mu_);
  if (read_only_) {
    --file_->readers_open_;
  } else {
    file_->writer_open_ = false;
  }
}

absl::Status MemoryDiskManager::ReadRaw(PageId id, PageSpan out) {
  if (int err = InjectedErrno(IoCall::kRead)) {
    return ErrnoStatus(err, fmt::format("{}: read page {}", path_, id));
  }
  ReaderMutexLock lock(&file_->mu_);
  if (id >= file_->pages_.size()) {
    return absl::DataLossError(fmt::format("{}: page {} is past the end of the file", path_, id));
  }
  std::memcpy(out.data(), file_->pages_[id]->data(), kPageSize);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::WriteRaw(PageId id, ConstPageSpan page) {
  if (int err = InjectedErrno(IoCall::kWrite)) {
    return ErrnoStatus(err, fmt::format("{}: write page {}", path_, id));
  }
  ReaderMutexLock lock(&file_->mu_);
  if (id >= file_->pages_.size()) {
    return absl::DataLossError(fmt::format("{}: page {} is past the end of the file", path_, id));
  }
  std::memcpy(file_->pages_[id]->data(), page.data(), kPageSize);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::CutFile(PageId pages) {
  if (pages < file_->page_count()) file_->Truncate(pages);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::EnsureCapacity(PageId pages) {
  MutexLock lock(&file_->mu_);
  if (pages <= file_->pages_.size()) return absl::OkStatus();
  if (int err = InjectedErrno(IoCall::kGrow)) {
    return ErrnoStatus(err, fmt::format("{}: grow to {} pages", path_, pages));
  }
  while (file_->pages_.size() < pages) {
    file_->pages_.push_back(std::make_unique<MemoryFile::Page>());
  }
  growths_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::SyncData() {
  if (int err = InjectedErrno(IoCall::kSync)) {
    return ErrnoStatus(err, fmt::format("{}: sync", path_));
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::Advise(AccessPattern) {
  hint_calls_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status MemoryDiskManager::WillNeed(PageId first, PageId last) {
  return CheckPrefetchRange(first, last);
}

}  // namespace pagestore
