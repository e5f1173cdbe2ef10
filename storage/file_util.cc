#include "storage/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

namespace pagestore {

absl::Status ErrnoStatus(int err, std::string_view what) {
  char buf[128];
  // GNU strerror_r: thread-safe, returns the message (in buf or a static string).
  std::string msg = fmt::format("{}: {} ({})", what, ::strerror_r(err, buf, sizeof(buf)), err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(msg);
    case EROFS:
    case EACCES:
    case EPERM:
      return absl::FailedPreconditionError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

void ScopedFd::Reset() {
  if (fd_ >= 0) {
    ::close(fd_);  // close errors after fdatasync carry no information we can act on
    fd_ = -1;
  }
}

namespace {

std::string Where(std::string_view file, off_t offset) {
  return fmt::format("{}: page {} (offset {})", file, offset / 4096, offset);
}

}  // namespace

absl::Status PreadFully(int fd, void* buf, std::size_t n, off_t offset, std::string_view file) {
  auto* p = static_cast<char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, offset + static_cast<off_t>(done));
    if (r > 0) {
      done += static_cast<std::size_t>(r);
    } else if (r == 0) {
      std::memset(p + done, 0, n - done);
      return absl::DataLossError(fmt::format("{}: short read, the file ends {} bytes into {}",
                                             Where(file, offset), done, n));
    } else if (errno != EINTR) {
      return ErrnoStatus(errno, fmt::format("{}: pread", Where(file, offset)));
    }
  }
  return absl::OkStatus();
}

absl::Status PwriteFully(int fd, const void* buf, std::size_t n, off_t offset,
                         std::string_view file) {
  const auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, p + done, n - done, offset + static_cast<off_t>(done));
    if (r >= 0) {
      done += static_cast<std::size_t>(r);
    } else if (errno != EINTR) {
      return ErrnoStatus(errno, fmt::format("{}: pwrite", Where(file, offset)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> FileSize(int fd, std::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, fmt::format("{}: fstat", what));
  return static_cast<std::uint64_t>(st.st_size);
}

absl::Status ReserveSpace(int fd, std::uint64_t offset, std::uint64_t len, std::string_view what) {
  int r;
  do {
    r = ::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(len));
  } while (r != 0 && errno == EINTR);
  if (r == 0) return absl::OkStatus();
  if (errno != EOPNOTSUPP && errno != ENOSYS) {
    return ErrnoStatus(errno, fmt::format("{}: fallocate {} bytes at {}", what, len, offset));
  }
  // No fallocate here: write zeros, which allocates just as surely. Page-aligned, for O_DIRECT.
  constexpr std::size_t kChunk = 1 << 20;
  std::unique_ptr<char, decltype(&std::free)> zeros(
      static_cast<char*>(std::aligned_alloc(4096, kChunk)), &std::free);
  if (zeros == nullptr) return absl::ResourceExhaustedError("out of memory for zero fill");
  std::memset(zeros.get(), 0, kChunk);
  for (std::uint64_t done = 0; done < len;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, len - done));
    if (absl::Status s = PwriteFully(fd, zeros.get(), n, static_cast<off_t>(offset + done), what);
        !s.ok()) {
      return s;
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status SyncParentDirectory(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, fmt::format("{}: open directory", dir.string()));
  if (::fsync(fd.get()) != 0) {
    return ErrnoStatus(errno, fmt::format("{}: fsync directory", dir.string()));
  }
  return absl::OkStatus();
}

absl::Status LockFile(int fd, bool exclusive, std::string_view path) {
  // A process killed while its io_uring requests were in flight keeps the file (and so its
  // lock) until the kernel has finished them, a moment after the process is gone: those writes
  // are still landing, and the lock keeps a new opener out until they have. So a held lock is
  // tried again for a short while before it is reported.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  int r;
  for (int attempt = 0;; ++attempt) {
    do {
      r = ::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
    } while (r != 0 && errno == EINTR);
    if (r == 0 || errno != EWOULDBLOCK || std::chrono::steady_clock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 20));
  }
  if (r == 0) return absl::OkStatus();
  if (errno == EWOULDBLOCK) {
    return absl::FailedPreconditionError(
        fmt::format("{}: already open by another {} (file lock held)", path,
                    exclusive ? "process or handle" : "writer"));
  }
  return ErrnoStatus(errno, fmt::format("{}: flock", path));
}

absl::StatusOr<PageFile> PageFile::Open(const std::filesystem::path& path, Mode mode,
                                        int extra_flags) {
  const std::string name = path.string();
  const bool read_only = mode == Mode::kReadOnly;
  const int flags = O_CLOEXEC | (read_only ? O_RDONLY : O_RDWR) | extra_flags;
  PageFile f;
  f.path_ = path;
  if (mode != Mode::kCreate) {
    f.fd_ = ScopedFd(::open(path.c_str(), flags));
    if (!f.fd_.valid() && (errno != ENOENT || mode != Mode::kOpenOrCreate)) {
      return ErrnoStatus(errno, fmt::format("{}: open", name));
    }
  } else if (::access(path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(fmt::format("{}: already exists", name));
  }
  if (f.fd_.valid()) {
    if (absl::Status s = LockFile(f.fd_.get(), !read_only, name); !s.ok()) return s;
    absl::StatusOr<std::uint64_t> size = FileSize(f.fd_.get(), name);
    if (!size.ok()) return size.status();
    f.is_new_ = *size == 0 && mode == Mode::kOpenOrCreate;  // empty: nothing to lose
    return f;
  }
  // A new file, under a name nobody else opens until Publish().
  f.temp_ = path;
  static std::atomic<unsigned> serial{0};
  f.temp_ += fmt::format(".creating.{}.{}", ::getpid(), serial.fetch_add(1));
  f.fd_ = ScopedFd(::open(f.temp_.c_str(), flags | O_CREAT | O_EXCL, 0644));
  if (!f.fd_.valid()) {
    absl::Status s = ErrnoStatus(errno, fmt::format("{}: create", f.temp_.string()));
    f.temp_.clear();
    return s;
  }
  if (absl::Status s = LockFile(f.fd_.get(), true, name); !s.ok()) return s;
  f.is_new_ = true;
  return f;
}

absl::Status PageFile::Publish() {
  if (!is_new_ || published_) return absl::OkStatus();
  if (!temp_.empty()) {
    // link() never replaces: if another process created the file meanwhile, we lose cleanly.
    if (::link(temp_.c_str(), path_.c_str()) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: publish new file", path_.string()));
    }
    ::unlink(temp_.c_str());
    temp_.clear();
  }
  published_ = true;
  return SyncParentDirectory(path_);
}

void PageFile::Abandon(int fd) {
  if (!is_new_ || published_) return;
  if (!temp_.empty()) {
    ::unlink(temp_.c_str());
    temp_.clear();
  } else {
    (void)::ftruncate(fd, 0);  // back to the empty file we were given
  }
}

PageFile::~PageFile() {
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

}  // namespace pagestore
