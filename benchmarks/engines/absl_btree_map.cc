// ycsb_bench's absl_btree_map engine, the in-memory limit: absl::btree_map<std::string,
// std::string> under one absl::Mutex, shared for reads and exclusive for writes.
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "benchmarks/engines/engine.h"
#include "tools/ycsb.h"

namespace pagestore::bench {
namespace {

using ycsb::kKeySize;
namespace fs = std::filesystem;

class AbslEngine final : public Engine {
 public:
  using Map = absl::btree_map<std::string, std::string>;
  explicit AbslEngine(std::string name) : Engine(std::move(name)) {}

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    absl::MutexLock lock(&mu_);
    for (std::uint64_t id : ids) {
      map_.emplace_hint(map_.end(), std::string(ycsb::MakeKey(id).view()), Value(id));
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [k, v] : map_) {
      if (absl::Status s = visit(k, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    return std::make_unique<AbslSession>(*this);
  }

 private:
  class AbslSession final : public Session {
   public:
    explicit AbslSession(AbslEngine& e) : e_(e) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override {
      absl::ReaderMutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      value_.assign(it->second);  // copied out, as the stores copy or pin it
      return CheckRead(e_.name(), id, value_.data(), value_.size());
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      it->second.assign(value.data(), value.size());
      return absl::OkStatus();
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      if (!e_.map_.emplace(std::string(key), std::string(value)).second) [[unlikely]] {
        return absl::AlreadyExistsError(fmt::format("{}: key exists", e_.name()));
      }
      return absl::OkStatus();
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      absl::ReaderMutexLock lock(&e_.mu_);
      auto it = e_.map_.lower_bound(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end() || it->first != key) [[unlikely]]
        return NotFound(e_.name(), key);
      if (absl::Status s = CheckRead(e_.name(), id, it->second.data(), it->second.size());
          !s.ok()) {
        return s;
      }
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && it != e_.map_.end(); ++i, ++it) {
        sum += static_cast<unsigned char>(it->first[kKeySize - 1]) +
               static_cast<unsigned char>(it->second.back());
      }
      benchmark::DoNotOptimize(sum);
      return absl::OkStatus();
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      absl::MutexLock lock(&e_.mu_);
      const auto it = e_.map_.find(absl::string_view(key.data(), key.size()));
      if (it == e_.map_.end()) [[unlikely]]
        return NotFound(e_.name(), key);
      if (absl::Status s = CheckRead(e_.name(), id, it->second.data(), it->second.size());
          !s.ok()) {
        return s;
      }
      it->second.assign(value.data(), value.size());
      return absl::OkStatus();
    }

   private:
    AbslEngine& e_;
    std::string value_;
  };

  absl::Mutex mu_;
  Map map_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Engine> NewAbslEngine(std::string name) {
  return std::make_unique<AbslEngine>(std::move(name));
}

}  // namespace pagestore::bench
