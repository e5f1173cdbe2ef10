// ycsb_bench's lmdb engine: an LMDB environment without syncs (MDB_NOSYNC | MDB_NOMETASYNC) until
// a durable instance turns them on after its load, one read transaction and cursor per thread
// renewed around each read (settings and why: the header of benchmarks/ycsb_bench.cc).
#include <fmt/format.h>
#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/engines/engine.h"
#include "tools/ycsb.h"

namespace pagestore::bench {
namespace {

using ycsb::kKeySize;
namespace fs = std::filesystem;

constexpr std::uint64_t kLmdbLoadTxn = 100000;  // MDB_APPEND puts per load transaction

absl::Status MdbError(const fs::path& dir, std::string_view what, int rc) {
  return absl::InternalError(fmt::format("lmdb {}: {}: {}", dir.string(), what, mdb_strerror(rc)));
}

class LmdbEngine final : public Engine {
 public:
  LmdbEngine(std::string name, fs::path dir, bool durable, std::uint64_t records)
      : Engine(std::move(name)), dir_(std::move(dir)), durable_(durable) {
    MakeDirectory(dir_);
    auto check = [&](int rc, std::string_view what) {
      if (rc != MDB_SUCCESS) Die(MdbError(dir_, what, rc).ToString());
    };
    check(mdb_env_create(&env_), "mdb_env_create");
    check(
        mdb_env_set_mapsize(env_, static_cast<std::size_t>(4 * DataBytes(records) + (1ull << 30))),
        "mdb_env_set_mapsize");
    check(mdb_env_set_maxreaders(env_, 64), "mdb_env_set_maxreaders");
    // Loaded without syncs; a durable instance turns them on in FinishLoad. MDB_NOTLS: a read
    // transaction belongs to its MDB_txn, not to the thread that began it.
    check(mdb_env_open(env_, dir_.c_str(), MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, 0644),
          "mdb_env_open");
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  ~LmdbEngine() override { mdb_env_close(env_); }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    std::string value;
    for (std::size_t k = 0; k < ids.size();) {
      MDB_txn* txn;
      if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != MDB_SUCCESS) {
        return MdbError(dir_, "mdb_txn_begin", rc);
      }
      for (std::uint64_t n = 0; n < kLmdbLoadTxn && k < ids.size(); ++n, ++k) {
        const ycsb::Key key = ycsb::MakeKey(ids[k]);
        ycsb::MakeValue(ids[k], 0, kValueSize, &value);
        MDB_val mk{kKeySize, const_cast<char*>(key.bytes)}, mv{value.size(), value.data()};
        if (int rc = mdb_put(txn, dbi_, &mk, &mv, MDB_APPEND); rc != MDB_SUCCESS) {
          mdb_txn_abort(txn);
          return MdbError(dir_, "mdb_put(MDB_APPEND)", rc);
        }
      }
      if (int rc = mdb_txn_commit(txn); rc != MDB_SUCCESS) {
        return MdbError(dir_, "mdb_txn_commit", rc);
      }
    }
    return absl::OkStatus();
  }

  absl::Status FinishLoad() override {
    if (!durable_) return absl::OkStatus();
    // LMDB's default: the data and then the meta page synced at every commit.
    if (int rc = mdb_env_set_flags(env_, MDB_NOSYNC | MDB_NOMETASYNC, 0); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_env_set_flags", rc);
    }
    if (int rc = mdb_env_sync(env_, 1); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_env_sync", rc);
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    MDB_txn* txn;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS) {
      return MdbError(dir_, "mdb_txn_begin", rc);
    }
    MDB_cursor* cur;
    if (int rc = mdb_cursor_open(txn, dbi_, &cur); rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return MdbError(dir_, "mdb_cursor_open", rc);
    }
    absl::Status s;
    MDB_val k, v;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && s.ok();
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      s = visit(std::string_view(static_cast<const char*>(k.mv_data), k.mv_size),
                std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (s.ok() && rc != MDB_NOTFOUND) s = MdbError(dir_, "mdb_cursor_get", rc);
    return s;
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int) override {
    auto session = std::make_unique<LmdbSession>(*this);
    if (absl::Status s = session->Open(); !s.ok()) return s;
    return session;
  }

 private:
  class LmdbSession final : public Session {
   public:
    explicit LmdbSession(LmdbEngine& e) : e_(e) {}
    ~LmdbSession() override {
      if (cursor_ != nullptr) mdb_cursor_close(cursor_);
      if (read_ != nullptr) mdb_txn_abort(read_);
    }
    // The thread's read transaction and cursor, reset until a read renews them.
    absl::Status Open() {
      if (int rc = mdb_txn_begin(e_.env_, nullptr, MDB_RDONLY, &read_); rc != MDB_SUCCESS) {
        read_ = nullptr;
        return MdbError(e_.dir_, "mdb_txn_begin(MDB_RDONLY)", rc);
      }
      if (int rc = mdb_cursor_open(read_, e_.dbi_, &cursor_); rc != MDB_SUCCESS) {
        cursor_ = nullptr;
        return MdbError(e_.dir_, "mdb_cursor_open", rc);
      }
      mdb_txn_reset(read_);
      return absl::OkStatus();
    }

    absl::Status Read(std::string_view key, std::uint64_t id) override {
      if (int rc = mdb_txn_renew(read_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_renew", rc);
      }
      absl::Status s = Get(read_, key, id);
      mdb_txn_reset(read_);
      return s;
    }
    absl::Status Update(std::string_view key, std::string_view value) override {
      return Write(key, value, 0, std::nullopt);
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return Write(key, value, MDB_NOOVERWRITE, std::nullopt);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      if (int rc = mdb_txn_renew(read_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_renew", rc);
      }
      absl::Status s = ScanIn(key, id, n);
      mdb_txn_reset(read_);
      return s;
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      return Write(key, value, 0, id);
    }

   private:
    absl::Status Get(MDB_txn* txn, std::string_view key, std::uint64_t id) {
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      const int rc = mdb_get(txn, e_.dbi_, &k, &v);
      if (rc != MDB_SUCCESS) [[unlikely]] {
        return rc == MDB_NOTFOUND ? NotFound(e_.name(), key) : MdbError(e_.dir_, "mdb_get", rc);
      }
      return CheckRead(e_.name(), id, v.mv_data, v.mv_size);
    }
    absl::Status ScanIn(std::string_view key, std::uint64_t id, std::uint64_t n) {
      if (int rc = mdb_cursor_renew(read_, cursor_); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_cursor_renew", rc);
      }
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      int rc = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
      if (rc != MDB_SUCCESS ||
          std::string_view(static_cast<const char*>(k.mv_data), k.mv_size) != key) [[unlikely]] {
        return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? NotFound(e_.name(), key)
                                                       : MdbError(e_.dir_, "mdb_cursor_get", rc);
      }
      if (absl::Status s = CheckRead(e_.name(), id, v.mv_data, v.mv_size); !s.ok()) return s;
      unsigned sum = 0;
      for (std::uint64_t i = 0; i < n && rc == MDB_SUCCESS; ++i) {
        sum += static_cast<const unsigned char*>(k.mv_data)[kKeySize - 1] +
               static_cast<const unsigned char*>(v.mv_data)[v.mv_size - 1];
        rc = mdb_cursor_get(cursor_, &k, &v, MDB_NEXT);
      }
      benchmark::DoNotOptimize(sum);
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return MdbError(e_.dir_, "MDB_NEXT", rc);
      return absl::OkStatus();
    }
    // One write transaction: (a checked read of record *read_id,) one mdb_put, the commit.
    absl::Status Write(std::string_view key, std::string_view value, unsigned flags,
                       std::optional<std::uint64_t> read_id) {
      MDB_txn* txn;
      if (int rc = mdb_txn_begin(e_.env_, nullptr, 0, &txn); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_begin", rc);
      }
      if (read_id) {
        if (absl::Status s = Get(txn, key, *read_id); !s.ok()) {
          mdb_txn_abort(txn);
          return s;
        }
      }
      MDB_val k{key.size(), const_cast<char*>(key.data())},
          v{value.size(), const_cast<char*>(value.data())};
      if (int rc = mdb_put(txn, e_.dbi_, &k, &v, flags); rc != MDB_SUCCESS) [[unlikely]] {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST
                   ? absl::AlreadyExistsError(fmt::format("{}: key exists", e_.name()))
                   : MdbError(e_.dir_, "mdb_put", rc);
      }
      if (int rc = mdb_txn_commit(txn); rc != MDB_SUCCESS) [[unlikely]] {
        return MdbError(e_.dir_, "mdb_txn_commit", rc);
      }
      return absl::OkStatus();
    }

    LmdbEngine& e_;
    MDB_txn* read_ = nullptr;
    MDB_cursor* cursor_ = nullptr;
  };

  fs::path dir_;
  bool durable_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

}  // namespace

std::unique_ptr<Engine> NewLmdbEngine(std::string name, fs::path dir, bool durable,
                                      std::uint64_t records) {
  return std::make_unique<LmdbEngine>(std::move(name), std::move(dir), durable, records);
}

}  // namespace pagestore::bench
