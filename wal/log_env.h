// LogEnv: the files the write-ahead log lives in, behind a small interface so tests can lose
// power. PosixLogEnv is a real directory; MemoryLogEnv keeps files in memory and models what a
// power cut does to them: bytes written since a file's last Sync and names created, renamed or
// removed since the directory's last SyncDir are lost (optionally keeping a prefix of the
// unsynced bytes, as a disk that wrote part of them). It can also fail the Nth call.
//
// Ownership: a LogEnv owns nothing of the caller's; the LogFiles it opens are the caller's and
// must not outlive it. Thread safety: a LogEnv is safe for concurrent use; one LogFile may be
// used by several threads for Read and for Write/Sync of disjoint ranges.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/mutex.h"

namespace pagestore {

class LogFile {
 public:
  virtual ~LogFile() = default;
  [[nodiscard]] virtual absl::Status Write(std::uint64_t offset,
                                           std::span<const std::byte> data) = 0;
  // Bytes read; fewer than out.size() only at the end of the file.
  [[nodiscard]] virtual absl::StatusOr<std::size_t> Read(std::uint64_t offset,
                                                         std::span<std::byte> out) = 0;
  [[nodiscard]] virtual absl::Status Sync() = 0;  // fdatasync: durable on return
  [[nodiscard]] virtual absl::Status Truncate(std::uint64_t size) = 0;
  // Starts writing [offset, offset + length) back to the disk, without syncing metadata or
  // waiting for a journal commit; with `wait_before`, first waits for the write-back already
  // started on the bytes before `offset`. A long sequential writer (a backup) keeps its dirty
  // data small, so that its final Sync, and the fdatasyncs of others meanwhile, do not wait
  // behind all of it. Durability still needs Sync. The default does nothing (files in memory).
  [[nodiscard]] virtual absl::Status WriteBehind(std::uint64_t offset, std::uint64_t length,
                                                 bool wait_before) {
    (void)offset;
    (void)length;
    (void)wait_before;
    return absl::OkStatus();
  }
  [[nodiscard]] virtual absl::StatusOr<std::uint64_t> Size() = 0;
  virtual const std::string& path() const = 0;  // for messages
};

class LogEnv {
 public:
  virtual ~LogEnv() = default;
  // Opens `name` in the log directory; with `create`, creates it if missing (the caller makes
  // the name durable with SyncDir).
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<LogFile>> OpenFile(const std::string& name,
                                                                          bool create) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> ListFiles() = 0;
  [[nodiscard]] virtual absl::Status RemoveFile(const std::string& name) = 0;
  [[nodiscard]] virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual absl::Status SyncDir() = 0;  // names created/renamed/removed are durable
  virtual std::string Describe(const std::string& name) const = 0;  // the path, for messages
};

// A real directory (created, with its parent fsynced, if missing).
[[nodiscard]] absl::StatusOr<std::unique_ptr<LogEnv>> OpenPosixLogEnv(
    const std::filesystem::path& dir);

class MemoryLogEnv final : public LogEnv {
 public:
  explicit MemoryLogEnv(std::string dir = "memory-wal");
  ~MemoryLogEnv() override;

  [[nodiscard]] absl::StatusOr<std::unique_ptr<LogFile>> OpenFile(const std::string& name,
                                                                  bool create) override;
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> ListFiles() override;
  [[nodiscard]] absl::Status RemoveFile(const std::string& name) override;
  [[nodiscard]] absl::Status RenameFile(const std::string& from, const std::string& to) override;
  [[nodiscard]] absl::Status SyncDir() override;
  std::string Describe(const std::string& name) const override { return dir_ + "/" + name; }

  // The n-th counted call from now (1 = the next) fails with `err` (and with `persistent`, every
  // later one). Counted: Write, Sync, Truncate, OpenFile, RemoveFile, RenameFile, SyncDir.
  void FailCall(std::uint64_t n, int err, bool persistent = false);
  // Optional observer of counted calls (a crash test stops the world at its crash point).
  // Returning a non-zero errno fails the call.
  void SetHook(std::function<int()> hook);
  void ClearFaults();
  std::uint64_t calls() const;

  // Power loss: every file falls back to its synced bytes, except that with probability
  // `keep_tail_probability` a file keeps a random prefix of its unsynced bytes (a torn tail);
  // the directory falls back to its last SyncDir. Every call then fails until Reboot().
  void SimulatePowerLoss(double keep_tail_probability = 0.0, std::uint64_t seed = 0);
  void Reboot();

  // Direct access for tests that damage the log: the current bytes of a file.
  std::vector<std::byte>* MutableContents(const std::string& name);

 private:
  struct Node {
    std::vector<std::byte> data;
    std::vector<std::byte> synced;
  };
  class File;
  [[nodiscard]] absl::Status Enter(std::string_view op, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Node>> names_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Node>> durable_names_ ABSL_GUARDED_BY(mu_);
  std::uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t fail_at_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_errno_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_persistent_ ABSL_GUARDED_BY(mu_) = false;
  bool power_lost_ ABSL_GUARDED_BY(mu_) = false;
  std::function<int()> hook_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pagestore
