// POSIX file helpers shared by the disk managers: an owning fd, full-length pread/pwrite that
// loop over EINTR and short transfers, space reservation, directory fsync, and the writer lock.
//
// Thread safety: the functions are safe to call concurrently on one fd for disjoint ranges.
// ScopedFd is not synchronized.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pagestore {

// The status for a failed system call: ENOSPC, EDQUOT and EFBIG are ResourceExhausted (disk or
// file-size limit full), EROFS/EACCES/EPERM FailedPrecondition, ENOENT NotFound, EEXIST
// AlreadyExists, EINVAL InvalidArgument, anything else (EIO...) Unavailable; the message names
// `what` (file and page). Unavailable invites a retry of a read; a failed sync is final
// regardless, through the disk manager's failed state.
absl::Status ErrnoStatus(int err, std::string_view what);

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

// Reads exactly `n` bytes at `offset`. On EOF before `n` bytes the rest of `buf` is zero-filled
// and the result is DataLossError (the file is shorter than it should be). Errors name `file`
// and the page at `offset`; nothing is formatted unless the call fails.
[[nodiscard]] absl::Status PreadFully(int fd, void* buf, std::size_t n, off_t offset,
                                      std::string_view file);
// Writes exactly `n` bytes at `offset`, looping over EINTR and short writes.
[[nodiscard]] absl::Status PwriteFully(int fd, const void* buf, std::size_t n, off_t offset,
                                       std::string_view file);

// Size of the file behind `fd`, in bytes.
[[nodiscard]] absl::StatusOr<std::uint64_t> FileSize(int fd, std::string_view what);

// Makes [offset, offset+len) of the file allocated on disk so that later writes into it cannot
// fail for space: fallocate, or writing zeros where the filesystem cannot fallocate. Extends the
// file size. A full disk or a file-size limit is ResourceExhaustedError.
[[nodiscard]] absl::Status ReserveSpace(int fd, std::uint64_t offset, std::uint64_t len,
                                        std::string_view what);

// fsync of the directory holding `path`, so a newly created file's name is durable.
[[nodiscard]] absl::Status SyncParentDirectory(const std::filesystem::path& path);

// Takes flock(LOCK_EX) (writer) or flock(LOCK_SH) (read-only) without blocking. Held until `fd`
// closes. A conflict is FailedPreconditionError naming the file.
[[nodiscard]] absl::Status LockFile(int fd, bool exclusive, std::string_view path);

// The file a disk manager opens, locked. A new file is created under a temporary name in the same
// directory and appears at its path only through Publish(), after its superblocks are durable:
// a crash or a failure while creating never leaves a half-made file where a pagestore file is
// expected. An existing empty file (e.g. from mkstemp) opened with kOpenOrCreate is initialized
// in place and truncated back to empty if that fails.
class PageFile {
 public:
  enum class Mode { kOpenOrCreate, kCreate, kOpenExisting, kReadOnly };  // as OpenMode

  // Opens `path` (O_RDWR or O_RDONLY, plus `extra_flags` such as O_DIRECT) and takes the lock.
  [[nodiscard]] static absl::StatusOr<PageFile> Open(const std::filesystem::path& path, Mode mode,
                                                     int extra_flags);
  PageFile(PageFile&& o) noexcept
      : path_(std::move(o.path_)),
        temp_(std::exchange(o.temp_, {})),
        fd_(std::move(o.fd_)),
        is_new_(o.is_new_),
        published_(o.published_) {}
  PageFile& operator=(PageFile&&) = delete;
  ~PageFile();  // removes an unpublished temporary file

  // True if the file has no contents yet and the caller must initialize it, then Publish().
  bool is_new() const { return is_new_; }
  // Makes a new file visible at its path (link, no replace) and durable (directory fsync).
  [[nodiscard]] absl::Status Publish();
  // Undoes a failed initialization through `fd` (the descriptor TakeFd handed out): removes the
  // temporary file, or truncates an in-place file back to empty.
  void Abandon(int fd);
  ScopedFd TakeFd() { return std::move(fd_); }

 private:
  PageFile() = default;
  std::filesystem::path path_;
  std::filesystem::path temp_;  // non-empty while a new file waits for Publish()
  ScopedFd fd_;
  bool is_new_ = false;
  bool published_ = false;
};

}  // namespace pagestore
