// ycsb_bench's sqlite and sqlite_mmap engines: one WITHOUT ROWID table in WAL mode, prepared
// statements, one connection per benchmark thread (settings and why: the header of
// benchmarks/ycsb_bench.cc).
#include <fmt/format.h>
#include <sched.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
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

constexpr std::uint64_t kSqliteLoadTxn = 10000;  // INSERTs per load transaction

// Retries a busy database at once (after a yield) rather than sleeping for milliseconds as
// sqlite3_busy_timeout does: writers hold the WAL's write lock for microseconds here.
int SqliteBusy(void*, int count) {
  if (count > 100000000) return 0;
  sched_yield();
  return 1;
}

class SqliteEngine final : public Engine {
 public:
  SqliteEngine(std::string name, fs::path dir, bool mmap, bool durable, std::uint64_t records)
      : Engine(std::move(name)),
        dir_(std::move(dir)),
        path_(dir_ / "db.sqlite"),
        mmap_(mmap),
        durable_(durable),
        cache_kib_(2 * DataBytes(records) / 1024 + 1024) {
    MakeDirectory(dir_);
    // Connection 0 creates the table; connection 1 opens for the two-thread benchmarks.
    for (Connection& c : connections_) Check(c.Open(*this), fmt::format("open {}", path_.string()));
  }
  ~SqliteEngine() override {
    for (Connection& c : connections_) c.Close();
  }

  absl::Status Load(const std::vector<std::uint64_t>& ids) override {
    Connection& c = connections_[0];
    std::string value;
    for (std::size_t k = 0; k < ids.size();) {
      if (absl::Status s = c.Exec("BEGIN"); !s.ok()) return s;
      for (std::uint64_t n = 0; n < kSqliteLoadTxn && k < ids.size(); ++n, ++k) {
        const ycsb::Key key = ycsb::MakeKey(ids[k]);
        ycsb::MakeValue(ids[k], 0, kValueSize, &value);
        if (absl::Status s = c.Write(c.insert, key.view(), value, true); !s.ok()) return s;
      }
      if (absl::Status s = c.Exec("COMMIT"); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status FinishLoad() override {
    Connection& c = connections_[0];
    if (durable_) {
      // Full sync from now on: in WAL mode, FULL syncs the WAL at every commit.
      for (Connection& conn : connections_) {
        if (absl::Status s = conn.Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
      }
    }
    // Every page into the database file, the WAL emptied (and synced for the durable one).
    if (absl::Status s = c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); !s.ok()) return s;
    if (mmap_) {
      // Reads through a mapping never look in the page cache (pager.c, getPageMMap), so the
      // pages the load left there would only hold memory: let them go.
      if (absl::Status s = c.Exec("PRAGMA shrink_memory"); !s.ok()) return s;
      const std::uint64_t size = DirectoryBytes(path_);
      if (c.mmap_size < size) {
        std::fprintf(stderr,
                     "ycsb_bench: %s: SQLite maps only %llu of the file's %llu bytes "
                     "(SQLITE_MAX_MMAP_SIZE); reads past that go through its page cache\n",
                     name().c_str(), static_cast<unsigned long long>(c.mmap_size),
                     static_cast<unsigned long long>(size));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ScanAll(
      const std::function<absl::Status(std::string_view, std::string_view)>& visit) override {
    Connection& c = connections_[0];
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c.db, "SELECT k, v FROM kv ORDER BY k", -1, &st, nullptr) != SQLITE_OK) {
      return c.Error("prepare the full scan");
    }
    absl::Status s;
    int rc;
    while (s.ok() && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      s = visit(ColumnView(st, 0), ColumnView(st, 1));
    }
    if (s.ok() && rc != SQLITE_DONE) s = c.Error("the full scan");
    sqlite3_finalize(st);
    return s;
  }

  absl::StatusOr<std::unique_ptr<Session>> NewSession(int thread) override {
    return std::make_unique<SqliteSession>(connections_[thread]);
  }

 private:
  static std::string_view ColumnView(sqlite3_stmt* st, int column) {
    const void* p = sqlite3_column_blob(st, column);
    return std::string_view(static_cast<const char*>(p),
                            static_cast<std::size_t>(sqlite3_column_bytes(st, column)));
  }

  // One connection and its prepared statements. REQUIRES: one thread at a time.
  struct Connection {
    sqlite3* db = nullptr;
    sqlite3_stmt* get = nullptr;
    sqlite3_stmt* update = nullptr;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* scan = nullptr;
    std::uint64_t mmap_size = 0;  // what SQLite granted
    const SqliteEngine* engine = nullptr;

    absl::Status Error(std::string_view what) const {
      return absl::InternalError(fmt::format("sqlite {}: {}: {}", engine->path_.string(), what,
                                             db != nullptr ? sqlite3_errmsg(db) : "no memory"));
    }
    absl::Status Exec(const std::string& sql) {
      char* err = nullptr;
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        absl::Status s = absl::InternalError(fmt::format(
            "sqlite {}: {}: {}", engine->path_.string(), sql, err != nullptr ? err : "?"));
        sqlite3_free(err);
        return s;
      }
      return absl::OkStatus();
    }
    absl::StatusOr<std::int64_t> PragmaValue(const std::string& sql) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return Error(sql);
      std::int64_t v = -1;
      if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
      return v;
    }
    absl::Status Prepare(const char* sql, sqlite3_stmt** st) {
      if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) != SQLITE_OK) {
        return Error(sql);
      }
      return absl::OkStatus();
    }
    absl::Status Open(const SqliteEngine& e) {
      engine = &e;
      if (sqlite3_open_v2(e.path_.c_str(), &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        return Error("sqlite3_open_v2");
      }
      sqlite3_busy_handler(db, SqliteBusy, nullptr);
      for (const std::string& sql : {
               std::string("PRAGMA page_size=4096"),
               std::string("PRAGMA journal_mode=WAL"),
               // Loads run with sync off on every side; FinishLoad turns FULL on for the durable.
               std::string("PRAGMA synchronous=OFF"),
               fmt::format("PRAGMA mmap_size={}", e.mmap_ ? (64ull << 30) : 0),
               fmt::format("PRAGMA cache_size=-{}", e.cache_kib_),
               std::string("PRAGMA secure_delete=OFF"),
               // A checkpoint per GiB of WAL, as our stores (see kCheckpointBytes).
               fmt::format("PRAGMA wal_autocheckpoint={}", kSqliteAutocheckpointPages),
               std::string("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) "
                           "WITHOUT ROWID"),
           }) {
        if (absl::Status s = Exec(sql); !s.ok()) return s;
      }
      absl::StatusOr<std::int64_t> ckpt = PragmaValue("PRAGMA wal_autocheckpoint");
      if (!ckpt.ok()) return ckpt.status();
      if (*ckpt != static_cast<std::int64_t>(kSqliteAutocheckpointPages)) {
        return absl::InternalError(fmt::format("sqlite {}: wal_autocheckpoint is {}, not {}",
                                               e.path_.string(), *ckpt,
                                               kSqliteAutocheckpointPages));
      }
      absl::StatusOr<std::int64_t> mm = PragmaValue("PRAGMA mmap_size");
      if (!mm.ok()) return mm.status();
      mmap_size = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *mm));
      if (absl::Status s = Prepare("SELECT v FROM kv WHERE k = ?1", &get); !s.ok()) return s;
      if (absl::Status s = Prepare("UPDATE kv SET v = ?2 WHERE k = ?1", &update); !s.ok()) {
        return s;
      }
      if (absl::Status s = Prepare("INSERT INTO kv (k, v) VALUES (?1, ?2)", &insert); !s.ok()) {
        return s;
      }
      return Prepare("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2", &scan);
    }
    void Close() {
      for (sqlite3_stmt* st : {get, update, insert, scan}) sqlite3_finalize(st);
      if (db != nullptr && sqlite3_close(db) != SQLITE_OK) {
        std::fprintf(stderr, "ycsb_bench: closing %s: %s\n", engine->path_.c_str(),
                     sqlite3_errmsg(db));
      }
      db = nullptr;
    }

    // sqlite3_step, once more after a busy database (the busy handler covers most of them).
    static int Step(sqlite3_stmt* st) {
      int rc;
      for (int tries = 0; (rc = sqlite3_step(st)) == SQLITE_BUSY && tries < 1000000; ++tries) {
        sqlite3_reset(st);
        sched_yield();
      }
      return rc;
    }
    // The UPDATE (one row must change) or the INSERT of one record.
    absl::Status Write(sqlite3_stmt* st, std::string_view key, std::string_view value,
                       bool is_insert) {
      sqlite3_bind_blob(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_blob(st, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      const int rc = Step(st);
      absl::Status s;
      if (rc != SQLITE_DONE) [[unlikely]] {
        s = (rc & 0xff) == SQLITE_CONSTRAINT
                ? absl::AlreadyExistsError(fmt::format("{}: key exists", engine->name()))
                : Error(is_insert ? "INSERT" : "UPDATE");
      } else if (!is_insert && sqlite3_changes(db) != 1) [[unlikely]] {
        s = NotFound(engine->name(), key);
      }
      sqlite3_reset(st);
      return s;
    }
    absl::Status Read(std::string_view key, std::uint64_t id) {
      sqlite3_bind_blob(get, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      const int rc = Step(get);
      absl::Status s;
      if (rc == SQLITE_ROW) [[likely]] {
        const std::string_view v = ColumnView(get, 0);
        s = CheckRead(engine->name(), id, v.data(), v.size());
      } else {
        s = rc == SQLITE_DONE ? NotFound(engine->name(), key) : Error("SELECT");
      }
      sqlite3_reset(get);
      return s;
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) {
      sqlite3_bind_blob(scan, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(scan, 2, static_cast<sqlite3_int64>(n));
      int rc = Step(scan);
      absl::Status s;
      if (rc != SQLITE_ROW || ColumnView(scan, 0) != key) [[unlikely]] {
        s = rc == SQLITE_ROW || rc == SQLITE_DONE ? NotFound(engine->name(), key) : Error("scan");
      } else {
        const std::string_view v = ColumnView(scan, 1);
        s = CheckRead(engine->name(), id, v.data(), v.size());
        unsigned sum = 0;
        for (; s.ok() && rc == SQLITE_ROW; rc = sqlite3_step(scan)) {
          const std::string_view k = ColumnView(scan, 0), val = ColumnView(scan, 1);
          sum += static_cast<unsigned char>(k[kKeySize - 1]) +
                 static_cast<unsigned char>(val[val.size() - 1]);
        }
        benchmark::DoNotOptimize(sum);
        if (s.ok() && rc != SQLITE_DONE) s = Error("scan");
      }
      sqlite3_reset(scan);
      return s;
    }
  };

  class SqliteSession final : public Session {
   public:
    explicit SqliteSession(Connection& c) : c_(c) {}
    absl::Status Read(std::string_view key, std::uint64_t id) override { return c_.Read(key, id); }
    absl::Status Update(std::string_view key, std::string_view value) override {
      return c_.Write(c_.update, key, value, false);
    }
    absl::Status Insert(std::string_view key, std::string_view value) override {
      return c_.Write(c_.insert, key, value, true);
    }
    absl::Status Scan(std::string_view key, std::uint64_t id, std::uint64_t n) override {
      return c_.Scan(key, id, n);
    }
    absl::Status ReadModifyWrite(std::string_view key, std::uint64_t id,
                                 std::string_view value) override {
      if (absl::Status s = c_.Read(key, id); !s.ok()) return s;
      return c_.Write(c_.update, key, value, false);
    }

   private:
    Connection& c_;
  };

  fs::path dir_;
  fs::path path_;
  bool mmap_;
  bool durable_;
  std::uint64_t cache_kib_;
  std::array<Connection, kMaxThreads> connections_;
};

}  // namespace

std::unique_ptr<Engine> NewSqliteEngine(std::string name, fs::path dir, bool mmap, bool durable,
                                        std::uint64_t records) {
  return std::make_unique<SqliteEngine>(std::move(name), std::move(dir), mmap, durable, records);
}

}  // namespace pagestore::bench
