// An engine in miniature: everything below uses only pagestore's installed headers and the
// pagestore::pagestore target (or `pkg-config --cflags --libs pagestore`).
//
// It opens a store with the pread disk manager, creates a B+tree and a hash index, writes keys in
// a committed transaction (and rolls another back), swaps to the mmap disk manager under the live
// store, writes more, reads everything back through both indexes and closes. Then a child process
// commits one more transaction, leaves another unfinished and is killed; reopening (with pread,
// then mmap) must keep the one and undo the other, and tell the engine's log sink so.
// Prints each step; exits 1 with a message naming the first mismatch or error.
//
//   consumer [DIR]   (DIR: where to put the store; default: a new temporary directory, removed
//                    on success)
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "storage/disk_manager.h"
#include "storage/logging.h"
#include "wal/store.h"

namespace {

using pagestore::BTree;
using pagestore::Catalog;
using pagestore::HashIndex;
using pagestore::Store;
using pagestore::StoreOptions;
using pagestore::Transaction;

using Model = std::map<std::string, std::string>;

// What the engine believes is in its two indexes: user i is UserKey(i) -> UserValue(i) in the
// B+tree and IdKey(i) -> UserKey(i) in the hash index, or in neither (rolled back).
struct Expected {
  Model users;
  Model ids;
  std::vector<int> absent;
};

constexpr int kFirstBatch = 2000;     // committed under pread
constexpr int kRolledBack = 300;      // inserted, then aborted
constexpr int kSecondBatch = 1000;    // committed under mmap, after the swap
constexpr int kCrashCommitted = 200;  // committed by a child process that is then killed
constexpr int kCrashLost = 100;       // written by that child in a transaction it never ends

// Messages pagestore sent to the engine's log sink.
std::atomic<int> sink_messages{0};

std::string UserKey(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "user:%06d", i);
  return buf;
}
std::string IdKey(int i) { return "id:" + std::to_string(i); }
std::string UserValue(int i) { return "name-" + std::to_string(i) + std::string(i % 50, '.'); }

// Error plumbing an engine would have its own version of: the first failure, with what was
// being done, goes back to main.
absl::Status Context(const absl::Status& status, std::string_view what) {
  return absl::Status(status.code(), std::string(what) + ": " + std::string(status.message()));
}
#define CONSUMER_CONCAT_INNER(a, b) a##b
#define CONSUMER_CONCAT(a, b) CONSUMER_CONCAT_INNER(a, b)
#define RETURN_IF_ERROR(expr, what)                                   \
  do {                                                                \
    if (absl::Status s_ = (expr); !s_.ok()) return Context(s_, what); \
  } while (0)
#define ASSIGN_OR_RETURN(lhs, expr, what) \
  ASSIGN_OR_RETURN_IMPL(CONSUMER_CONCAT(statusor_, __LINE__), lhs, expr, what)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, what)  \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return Context(tmp.status(), what); \
  lhs = *std::move(tmp)
// A mismatch between what the engine wrote and what it reads back.
#define EXPECT_OR_RETURN(condition, what)               \
  do {                                                  \
    if (!(condition)) return absl::InternalError(what); \
  } while (0)

absl::StatusOr<StoreOptions> Options(std::string_view disk_spec) {
  StoreOptions options;
  ASSIGN_OR_RETURN(options.disk, pagestore::ParseDiskManagerSpec(disk_spec),
                   "parse disk spec " + std::string(disk_spec));
  options.pool_frames = 1024;  // 4 MiB of frames
  // Recovery undoes losers through these: register them before Store::Open.
  options.undo_handlers[pagestore::kBTreeResourceManager] = pagestore::BTreeUndoHandler();
  options.undo_handlers[pagestore::kHashResourceManager] = pagestore::HashUndoHandler();
  return options;
}

void Learn(int first, int last, bool present, Expected* expected) {
  for (int i = first; i < last; ++i) {
    if (present) {
      expected->users[UserKey(i)] = UserValue(i);
      expected->ids[IdKey(i)] = UserKey(i);
    } else {
      expected->absent.push_back(i);
    }
  }
}

// Writes users [first, last) to both indexes inside `txn`.
absl::Status Write(Transaction& txn, BTree& users, HashIndex& ids, int first, int last) {
  for (int i = first; i < last; ++i) {
    RETURN_IF_ERROR(users.Insert(&txn, UserKey(i), UserValue(i)), "btree insert " + UserKey(i));
    RETURN_IF_ERROR(ids.Insert(&txn, IdKey(i), UserKey(i)), "hash insert " + IdKey(i));
  }
  return absl::OkStatus();
}

// Writes users [first, last) to both indexes in one transaction and commits it (kSync: durable
// on return) or rolls it back.
absl::Status WriteBatch(Store& store, BTree& users, HashIndex& ids, int first, int last,
                        bool commit) {
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, store.Begin(), "begin");
  RETURN_IF_ERROR(Write(*txn, users, ids, first, last), "write");
  if (commit) {
    RETURN_IF_ERROR(txn->Commit(pagestore::Durability::kSync), "commit");
  } else {
    RETURN_IF_ERROR(txn->Abort(), "abort");
  }
  return absl::OkStatus();
}

// Every key through point lookups, the B+tree in order through a scan, the hash index through
// its iterator, the rolled-back keys absent, and both structures verified.
absl::Status CheckAll(const BTree& users, const HashIndex& ids, const Expected& expected,
                      std::string_view when) {
  const std::string at = " (" + std::string(when) + ")";
  for (const auto& [key, value] : expected.users) {
    ASSIGN_OR_RETURN(std::string got, users.Get(key), "btree get " + key + at);
    EXPECT_OR_RETURN(got == value,
                     "btree " + key + " is '" + got + "', expected '" + value + "'" + at);
  }
  for (const auto& [key, value] : expected.ids) {
    ASSIGN_OR_RETURN(std::string got, ids.Get(key), "hash get " + key + at);
    EXPECT_OR_RETURN(got == value,
                     "hash " + key + " is '" + got + "', expected '" + value + "'" + at);
  }
  auto next = expected.users.begin();
  std::size_t scanned = 0;
  BTree::Iterator it = users.Begin();
  for (; it.Valid(); it.Next(), ++next, ++scanned) {
    EXPECT_OR_RETURN(next != expected.users.end(),
                     "btree scan returned an extra key " + std::string(it.key()) + at);
    EXPECT_OR_RETURN(
        it.key() == next->first && it.value() == next->second,
        "btree scan returned " + std::string(it.key()) + ", expected " + next->first + at);
  }
  RETURN_IF_ERROR(it.status(), "btree scan" + at);
  EXPECT_OR_RETURN(scanned == expected.users.size(),
                   "btree scan saw " + std::to_string(scanned) + " keys of " +
                       std::to_string(expected.users.size()) + at);
  Model seen;
  HashIndex::Iterator hit = ids.Begin();
  for (; hit.Valid(); hit.Next()) seen[std::string(hit.key())] = std::string(hit.value());
  RETURN_IF_ERROR(hit.status(), "hash iteration" + at);
  EXPECT_OR_RETURN(seen == expected.ids, "hash iteration saw " + std::to_string(seen.size()) +
                                             " entries, expected " +
                                             std::to_string(expected.ids.size()) + at);
  for (int i : expected.absent) {
    EXPECT_OR_RETURN(absl::IsNotFound(users.Get(UserKey(i)).status()),
                     "rolled-back btree key " + UserKey(i) + " is present" + at);
    EXPECT_OR_RETURN(absl::IsNotFound(ids.Get(IdKey(i)).status()),
                     "rolled-back hash key " + IdKey(i) + " is present" + at);
  }
  RETURN_IF_ERROR(users.Verify(), "btree verify" + at);
  RETURN_IF_ERROR(ids.Verify(), "hash verify" + at);
  std::printf(
      "  checked %zu B+tree keys (gets and an ordered scan), %zu hash entries (gets and "
      "iteration), %zu rolled-back keys absent, both indexes verified%s\n",
      expected.users.size(), expected.ids.size(), expected.absent.size(), at.c_str());
  return absl::OkStatus();
}

// Opens the store and both indexes (created on the first open).
struct Opened {
  std::unique_ptr<Store> store;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<BTree> users;
  std::unique_ptr<HashIndex> ids;
};
absl::StatusOr<Opened> OpenAll(const std::filesystem::path& path, std::string_view spec,
                               bool create) {
  Opened o;
  ASSIGN_OR_RETURN(StoreOptions options, Options(spec), "options");
  ASSIGN_OR_RETURN(o.store, Store::Open(path, options), "open " + path.string());
  ASSIGN_OR_RETURN(o.catalog, Catalog::Open(*o.store), "open catalog");
  if (create) {
    ASSIGN_OR_RETURN(o.users, o.catalog->CreateBTree("users"), "create btree 'users'");
    ASSIGN_OR_RETURN(o.ids, o.catalog->CreateHash("ids"), "create hash 'ids'");
  } else {
    ASSIGN_OR_RETURN(o.users, o.catalog->OpenBTree("users"), "open btree 'users'");
    ASSIGN_OR_RETURN(o.ids, o.catalog->OpenHash("ids"), "open hash 'ids'");
  }
  return o;
}

// In a child process: commits users [first, first + kCrashCommitted) while a transaction
// holding [that end, + kCrashLost) is still open, then dies by SIGKILL without closing anything.
absl::Status CrashInAChild(const std::filesystem::path& path, int first) {
  std::fflush(stdout);  // or the child would print the parent's buffered lines again
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    absl::Status s = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Opened o, OpenAll(path, "pread", /*create=*/false), "child");
      ASSIGN_OR_RETURN(std::unique_ptr<Transaction> unfinished, o.store->Begin(), "begin");
      RETURN_IF_ERROR(Write(*unfinished, *o.users, *o.ids, first + kCrashCommitted,
                            first + kCrashCommitted + kCrashLost),
                      "unfinished transaction");
      // Its commit record is synced, and with it the unfinished transaction's records before it.
      RETURN_IF_ERROR(WriteBatch(*o.store, *o.users, *o.ids, first, first + kCrashCommitted,
                                 /*commit=*/true),
                      "committed transaction");
      std::printf(
          "child %d: committed %d keys into each index, left a transaction of %d open, "
          "and is killed\n",
          static_cast<int>(getpid()), kCrashCommitted, kCrashLost);
      std::fflush(stdout);
      raise(SIGKILL);
      return absl::InternalError("still alive after SIGKILL");
    }();
    std::fprintf(stderr, "consumer: FAILED in the child: %s\n", s.ToString().c_str());
    _exit(1);
  }
  int wstatus = 0;
  if (waitpid(pid, &wstatus, 0) != pid) return absl::InternalError("waitpid failed");
  EXPECT_OR_RETURN(
      WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
      "the child was not killed as planned (wait status " + std::to_string(wstatus) + ")");
  return absl::OkStatus();
}

absl::Status Run(const std::filesystem::path& path) {
  Expected expected;
  {
    ASSIGN_OR_RETURN(Opened o, OpenAll(path, "pread", /*create=*/true), "first open");
    std::printf("opened %s with the '%s' disk manager (new store: %s)\n", path.c_str(),
                o.store->pool().disk_manager_name().c_str(),
                o.store->recovery_report().new_store ? "yes" : "no");
    std::printf(
        "created B+tree 'users' (anchor page %llu) and hash index 'ids' (anchor page "
        "%llu)\n",
        static_cast<unsigned long long>(o.users->anchor()),
        static_cast<unsigned long long>(o.ids->anchor()));

    RETURN_IF_ERROR(WriteBatch(*o.store, *o.users, *o.ids, 0, kFirstBatch, /*commit=*/true),
                    "first batch");
    Learn(0, kFirstBatch, /*present=*/true, &expected);
    std::printf("committed a transaction of %d keys into each index\n", kFirstBatch);
    RETURN_IF_ERROR(WriteBatch(*o.store, *o.users, *o.ids, kFirstBatch, kFirstBatch + kRolledBack,
                               /*commit=*/false),
                    "rolled-back batch");
    Learn(kFirstBatch, kFirstBatch + kRolledBack, /*present=*/false, &expected);
    std::printf("rolled back a transaction of %d keys into each index\n", kRolledBack);

    // The pool stays live: the indexes, the catalog and the store are used across the swap as
    // they are.
    ASSIGN_OR_RETURN(StoreOptions mmap, Options("mmap:initial=4M,growth=4M"), "options");
    RETURN_IF_ERROR(o.store->pool().SwapDiskManager(mmap.disk), "swap to mmap");
    EXPECT_OR_RETURN(o.store->pool().disk_manager_name().starts_with("mmap"),
                     "after the swap the disk manager is '" + o.store->pool().disk_manager_name() +
                         "', expected mmap");
    std::printf("swapped to the '%s' disk manager under the live store\n",
                o.store->pool().disk_manager_name().c_str());
    RETURN_IF_ERROR(CheckAll(*o.users, *o.ids, expected, "after the swap"), "check");

    const int first = kFirstBatch + kRolledBack;
    RETURN_IF_ERROR(WriteBatch(*o.store, *o.users, *o.ids, first, first + kSecondBatch,
                               /*commit=*/true),
                    "second batch");
    Learn(first, first + kSecondBatch, /*present=*/true, &expected);
    std::printf("committed a transaction of %d more keys into each index under mmap\n",
                kSecondBatch);
    RETURN_IF_ERROR(CheckAll(*o.users, *o.ids, expected, "under mmap"), "check");

    RETURN_IF_ERROR(o.store->Close(), "close");
    std::printf("closed the store (final checkpoint)\n");
  }

  const int first = kFirstBatch + kRolledBack + kSecondBatch;
  RETURN_IF_ERROR(CrashInAChild(path, first), "crash");
  Learn(first, first + kCrashCommitted, /*present=*/true, &expected);
  Learn(first + kCrashCommitted, first + kCrashCommitted + kCrashLost, /*present=*/false,
        &expected);

  // Recovery runs in Store::Open; then the file opens under either manager.
  for (std::string_view spec : {"pread", "mmap"}) {
    const int messages_before = sink_messages.load();
    ASSIGN_OR_RETURN(Opened o, OpenAll(path, spec, /*create=*/false), "reopen");
    const pagestore::RecoveryReport& report = o.store->recovery_report();
    std::printf("reopened with the '%s' disk manager; recovery: %s\n",
                o.store->pool().disk_manager_name().c_str(), report.ToString().c_str());
    EXPECT_OR_RETURN(!report.new_store, "the reopened store is new");
    if (spec == "pread") {  // the first open after the crash
      EXPECT_OR_RETURN(report.transactions_undone == 1,
                       "recovery undid " + std::to_string(report.transactions_undone) +
                           " transactions, expected the killed child's unfinished one");
      EXPECT_OR_RETURN(sink_messages.load() > messages_before,
                       "recovery did work but sent the engine's log sink no message");
    }
    RETURN_IF_ERROR(
        CheckAll(*o.users, *o.ids, expected, "after reopening with " + std::string(spec)), "check");
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [DIR]\n", argv[0]);
    return 2;
  }
  // An engine routes pagestore's messages (recovery summaries, warnings) into its own log.
  pagestore::SetLogSink([](pagestore::LogLevel level, std::string_view message) {
    ++sink_messages;
    std::printf("  [engine log] pagestore %s: %.*s\n",
                std::string(pagestore::LogLevelName(level)).c_str(),
                static_cast<int>(message.size()), message.data());
  });

  std::filesystem::path dir;
  bool temporary = false;
  if (argc == 2) {
    dir = argv[1];
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  } else {
    std::string pattern = std::filesystem::temp_directory_path() / "pagestore-consumer-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("consumer: mkdtemp");
      return 1;
    }
    dir = pattern;
    temporary = true;
  }
  const std::filesystem::path path = dir / "engine.pages";
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "consumer: %s exists; give an empty directory\n", path.c_str());
    return 2;
  }

  if (absl::Status status = Run(path); !status.ok()) {
    std::fprintf(stderr, "consumer: FAILED: %s (the store is left in %s)\n",
                 status.ToString().c_str(), dir.c_str());
    return 1;
  }
  if (temporary) std::filesystem::remove_all(dir);
  std::printf("consumer: OK\n");
  return 0;
}
