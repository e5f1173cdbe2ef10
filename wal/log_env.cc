#include "wal/log_env.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "storage/file_util.h"

namespace pagestore {
namespace {

class PosixLogFile final : public LogFile {
 public:
  PosixLogFile(ScopedFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  absl::Status Write(std::uint64_t offset, std::span<const std::byte> data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (r >= 0) {
        done += static_cast<std::size_t>(r);
      } else if (errno != EINTR) {
        return ErrnoStatus(errno, fmt::format("{}: pwrite at offset {}", path_, offset + done));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::size_t> Read(std::uint64_t offset, std::span<std::byte> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t r = ::pread(fd_.get(), out.data() + done, out.size() - done,
                          static_cast<off_t>(offset + done));
      if (r > 0) {
        done += static_cast<std::size_t>(r);
      } else if (r == 0) {
        break;
      } else if (errno != EINTR) {
        return ErrnoStatus(errno, fmt::format("{}: pread at offset {}", path_, offset + done));
      }
    }
    return done;
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_.get()) != 0) return ErrnoStatus(errno, fmt::format("{}: fdatasync", path_));
    return absl::OkStatus();
  }

  absl::Status Truncate(std::uint64_t size) override {
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: ftruncate to {}", path_, size));
    }
    return absl::OkStatus();
  }

  absl::Status WriteBehind(std::uint64_t offset, std::uint64_t length, bool wait_before) override {
    if (wait_before && offset > 0 &&
        ::sync_file_range(fd_.get(), 0, static_cast<off_t>(offset), SYNC_FILE_RANGE_WAIT_BEFORE) !=
            0) {
      return ErrnoStatus(errno, fmt::format("{}: sync_file_range", path_));
    }
    if (::sync_file_range(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length),
                          SYNC_FILE_RANGE_WRITE) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: sync_file_range", path_));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::uint64_t> Size() override { return FileSize(fd_.get(), path_); }
  const std::string& path() const override { return path_; }

 private:
  ScopedFd fd_;
  std::string path_;
};

class PosixLogEnv final : public LogEnv {
 public:
  PosixLogEnv(std::filesystem::path dir, ScopedFd dir_fd)
      : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)) {}

  absl::StatusOr<std::unique_ptr<LogFile>> OpenFile(const std::string& name, bool create) override {
    const std::string path = Describe(name);
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return ErrnoStatus(errno, fmt::format("{}: open", path));
    return std::unique_ptr<LogFile>(new PosixLogFile(ScopedFd(fd), path));
  }

  absl::StatusOr<std::vector<std::string>> ListFiles() override {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      names.push_back(e.path().filename().string());
    }
    if (ec) {
      return ErrnoStatus(ec.value(), fmt::format("{}: listing the log directory", dir_.string()));
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::Status RemoveFile(const std::string& name) override {
    if (::unlink(Describe(name).c_str()) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: unlink", Describe(name)));
    }
    return absl::OkStatus();
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(Describe(from).c_str(), Describe(to).c_str()) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: rename to {}", Describe(from), to));
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir() override {
    if (::fsync(dir_fd_.get()) != 0) {
      return ErrnoStatus(errno, fmt::format("{}: fsync of the log directory", dir_.string()));
    }
    return absl::OkStatus();
  }

  std::string Describe(const std::string& name) const override { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
  ScopedFd dir_fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LogEnv>> OpenPosixLogEnv(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    if (absl::Status s = SyncParentDirectory(dir); !s.ok()) return s;
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, fmt::format("{}: creating the log directory", dir.string()));
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("{}: opening the log directory", dir.string()));
  return std::unique_ptr<LogEnv>(new PosixLogEnv(dir, ScopedFd(fd)));
}

// --- MemoryLogEnv ------------------------------------------------------------------------------

class MemoryLogEnv::File final : public LogFile {
 public:
  File(MemoryLogEnv* env, std::string name, std::shared_ptr<Node> node)
      : env_(env), name_(std::move(name)), path_(env->Describe(name_)), node_(std::move(node)) {}

  absl::Status Write(std::uint64_t offset, std::span<const std::byte> data) override {
    MutexLock lock(&env_->mu_);
    if (absl::Status s = env_->Enter("write", name_); !s.ok()) return s;
    if (data.empty()) return absl::OkStatus();
    if (node_->data.size() < offset + data.size()) node_->data.resize(offset + data.size());
    std::memcpy(node_->data.data() + offset, data.data(), data.size());
    return absl::OkStatus();
  }
  absl::StatusOr<std::size_t> Read(std::uint64_t offset, std::span<std::byte> out) override {
    MutexLock lock(&env_->mu_);
    if (env_->power_lost_) return absl::FailedPreconditionError(path_ + ": power lost");
    if (offset >= node_->data.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(out.size(), node_->data.size() - offset);
    std::memcpy(out.data(), node_->data.data() + offset, n);
    return n;
  }
  absl::Status Sync() override {
    MutexLock lock(&env_->mu_);
    if (absl::Status s = env_->Enter("fdatasync", name_); !s.ok()) return s;
    node_->synced = node_->data;
    return absl::OkStatus();
  }
  absl::Status Truncate(std::uint64_t size) override {
    MutexLock lock(&env_->mu_);
    if (absl::Status s = env_->Enter("ftruncate", name_); !s.ok()) return s;
    node_->data.resize(size);
    return absl::OkStatus();
  }
  absl::StatusOr<std::uint64_t> Size() override {
    MutexLock lock(&env_->mu_);
    return node_->data.size();
  }
  const std::string& path() const override { return path_; }

 private:
  MemoryLogEnv* env_;
  std::string name_;
  std::string path_;
  std::shared_ptr<Node> node_;
};

MemoryLogEnv::MemoryLogEnv(std::string dir) : dir_(std::move(dir)) {}
MemoryLogEnv::~MemoryLogEnv() = default;

absl::Status MemoryLogEnv::Enter(std::string_view op, const std::string& name) {
  if (power_lost_)
    return absl::FailedPreconditionError(fmt::format("{}: power lost", Describe(name)));
  ++calls_;
  int err = 0;
  if (fail_at_ != 0 && (calls_ == fail_at_ || (fail_persistent_ && calls_ > fail_at_))) {
    err = fail_errno_;
  }
  if (err == 0 && hook_) err = hook_();
  if (err != 0) return ErrnoStatus(err, fmt::format("{}: {} (injected)", Describe(name), op));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LogFile>> MemoryLogEnv::OpenFile(const std::string& name,
                                                                bool create) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("open", name); !s.ok()) return s;
  auto it = names_.find(name);
  if (it == names_.end()) {
    if (!create) return absl::NotFoundError(fmt::format("{}: no such file", Describe(name)));
    it = names_.emplace(name, std::make_shared<Node>()).first;
  }
  return std::unique_ptr<LogFile>(new File(this, name, it->second));
}

absl::StatusOr<std::vector<std::string>> MemoryLogEnv::ListFiles() {
  MutexLock lock(&mu_);
  if (power_lost_) return absl::FailedPreconditionError(dir_ + ": power lost");
  std::vector<std::string> names;
  for (const auto& [name, node] : names_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status MemoryLogEnv::RemoveFile(const std::string& name) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("unlink", name); !s.ok()) return s;
  if (names_.erase(name) == 0) return absl::NotFoundError(Describe(name) + ": no such file");
  return absl::OkStatus();
}

absl::Status MemoryLogEnv::RenameFile(const std::string& from, const std::string& to) {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("rename", from); !s.ok()) return s;
  auto it = names_.find(from);
  if (it == names_.end()) return absl::NotFoundError(Describe(from) + ": no such file");
  auto node = it->second;
  names_.erase(it);
  names_[to] = std::move(node);
  return absl::OkStatus();
}

absl::Status MemoryLogEnv::SyncDir() {
  MutexLock lock(&mu_);
  if (absl::Status s = Enter("fsync", "."); !s.ok()) return s;
  durable_names_ = names_;
  return absl::OkStatus();
}

void MemoryLogEnv::FailCall(std::uint64_t n, int err, bool persistent) {
  MutexLock lock(&mu_);
  fail_at_ = calls_ + n;
  fail_errno_ = err;
  fail_persistent_ = persistent;
}

void MemoryLogEnv::SetHook(std::function<int()> hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

void MemoryLogEnv::ClearFaults() {
  MutexLock lock(&mu_);
  fail_at_ = 0;
  fail_persistent_ = false;
  hook_ = nullptr;
}

std::uint64_t MemoryLogEnv::calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

void MemoryLogEnv::SimulatePowerLoss(double keep_tail_probability, std::uint64_t seed) {
  MutexLock lock(&mu_);
  if (power_lost_) return;
  power_lost_ = true;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(keep_tail_probability);
  names_ = durable_names_;
  for (auto& [name, node] : names_) {
    std::vector<std::byte> next = node->synced;
    // Bytes the disk happened to write before the cut: a prefix of the unsynced range, from the
    // first byte that differs from the synced contents.
    if (keep(rng) && node->data.size() >= next.size()) {
      std::size_t d = 0;
      while (d < next.size() && next[d] == node->data[d]) ++d;
      std::size_t e = node->data.size();  // one past the last differing byte
      while (e > d && e <= next.size() && next[e - 1] == node->data[e - 1]) --e;
      if (d < e) {
        const std::size_t extra = std::uniform_int_distribution<std::size_t>(0, e - d)(rng);
        if (next.size() < d + extra) next.resize(d + extra);
        std::memcpy(next.data() + d, node->data.data() + d, extra);
      }
    }
    node->data = next;
    node->synced = std::move(next);
  }
}

void MemoryLogEnv::Reboot() {
  MutexLock lock(&mu_);
  power_lost_ = false;
  fail_at_ = 0;
  fail_persistent_ = false;
  hook_ = nullptr;
}

std::vector<std::byte>* MemoryLogEnv::MutableContents(const std::string& name) {
  MutexLock lock(&mu_);
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : &it->second->data;
}

}  // namespace pagestore
