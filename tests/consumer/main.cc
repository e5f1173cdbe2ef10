// An engine in miniature: everything below uses only pagestore's installed headers and the
// pagestore::pagestore target (or `pkg-config --cflags --libs pagestore`).
//
// It opens a store with the pread disk manager, creates a B+tree and a hash index, writes keys in
// a committed transaction (and rolls another back), swaps to the mmap disk manager under the live
// store, writes more, reads everything back through both indexes, closes, reopens and checks
// again. Prints each step; exits 1 with a message naming the first mismatch or error.
//
//   consumer [DIR]   (DIR: where to put the store; default: a new temporary directory, removed
//                    on success)
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

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

// What the engine believes is in its two indexes: B+tree key -> value; the hash index maps an id
// to the B+tree key.
using Model = std::map<std::string, std::string>;

constexpr int kFirstBatch = 2000;   // committed under pread
constexpr int kRolledBack = 300;    // inserted, then aborted
constexpr int kSecondBatch = 1000;  // committed under mmap, after the swap

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

// Writes users [first, last) to both indexes in one transaction and commits (kSync: durable on
// return; the models learn the keys), or rolls it back.
absl::Status WriteBatch(Store& store, BTree& users, HashIndex& ids, int first, int last,
                        bool commit, Model* users_model, Model* ids_model) {
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, store.Begin(), "begin");
  for (int i = first; i < last; ++i) {
    RETURN_IF_ERROR(users.Insert(txn.get(), UserKey(i), UserValue(i)),
                    "btree insert " + UserKey(i));
    RETURN_IF_ERROR(ids.Insert(txn.get(), IdKey(i), UserKey(i)), "hash insert " + IdKey(i));
  }
  if (!commit) {
    RETURN_IF_ERROR(txn->Abort(), "abort");
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(txn->Commit(pagestore::Durability::kSync), "commit");
  for (int i = first; i < last; ++i) {
    (*users_model)[UserKey(i)] = UserValue(i);
    (*ids_model)[IdKey(i)] = UserKey(i);
  }
  return absl::OkStatus();
}

// Every key through point lookups, the B+tree in order through a scan, the hash index through
// its iterator, the rolled-back keys absent, and both structures verified.
absl::Status CheckAll(const BTree& users, const HashIndex& ids, const Model& users_model,
                      const Model& ids_model, std::string_view when) {
  const std::string at = " (" + std::string(when) + ")";
  for (const auto& [key, value] : users_model) {
    ASSIGN_OR_RETURN(std::string got, users.Get(key), "btree get " + key + at);
    EXPECT_OR_RETURN(got == value,
                     "btree " + key + " is '" + got + "', expected '" + value + "'" + at);
  }
  for (const auto& [key, value] : ids_model) {
    ASSIGN_OR_RETURN(std::string got, ids.Get(key), "hash get " + key + at);
    EXPECT_OR_RETURN(got == value,
                     "hash " + key + " is '" + got + "', expected '" + value + "'" + at);
  }
  auto expected = users_model.begin();
  std::size_t scanned = 0;
  BTree::Iterator it = users.Begin();
  for (; it.Valid(); it.Next(), ++expected, ++scanned) {
    EXPECT_OR_RETURN(expected != users_model.end(),
                     "btree scan returned an extra key " + std::string(it.key()) + at);
    EXPECT_OR_RETURN(
        it.key() == expected->first && it.value() == expected->second,
        "btree scan returned " + std::string(it.key()) + ", expected " + expected->first + at);
  }
  RETURN_IF_ERROR(it.status(), "btree scan" + at);
  EXPECT_OR_RETURN(scanned == users_model.size(), "btree scan saw " + std::to_string(scanned) +
                                                      " keys of " +
                                                      std::to_string(users_model.size()) + at);
  Model seen;
  HashIndex::Iterator hit = ids.Begin();
  for (; hit.Valid(); hit.Next()) seen[std::string(hit.key())] = std::string(hit.value());
  RETURN_IF_ERROR(hit.status(), "hash iteration" + at);
  EXPECT_OR_RETURN(seen == ids_model, "hash iteration saw " + std::to_string(seen.size()) +
                                          " entries, expected " + std::to_string(ids_model.size()) +
                                          at);
  for (int i = kFirstBatch; i < kFirstBatch + kRolledBack; ++i) {
    EXPECT_OR_RETURN(absl::IsNotFound(users.Get(UserKey(i)).status()),
                     "rolled-back btree key " + UserKey(i) + " is present" + at);
    EXPECT_OR_RETURN(absl::IsNotFound(ids.Get(IdKey(i)).status()),
                     "rolled-back hash key " + IdKey(i) + " is present" + at);
  }
  RETURN_IF_ERROR(users.Verify(), "btree verify" + at);
  RETURN_IF_ERROR(ids.Verify(), "hash verify" + at);
  std::printf(
      "  checked %zu B+tree keys (gets and an ordered scan), %zu hash entries (gets and "
      "iteration), %d rolled-back keys absent, both indexes verified%s\n",
      users_model.size(), ids_model.size(), kRolledBack, at.c_str());
  return absl::OkStatus();
}

absl::Status Run(const std::filesystem::path& path) {
  Model users_model, ids_model;
  {
    ASSIGN_OR_RETURN(StoreOptions options, Options("pread"), "options");
    ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(path, options),
                     "open " + path.string());
    std::printf("opened %s with the '%s' disk manager (new store: %s)\n", path.c_str(),
                store->pool().disk_manager_name().c_str(),
                store->recovery_report().new_store ? "yes" : "no");
    ASSIGN_OR_RETURN(std::unique_ptr<Catalog> catalog, Catalog::Open(*store), "open catalog");
    ASSIGN_OR_RETURN(std::unique_ptr<BTree> users, catalog->CreateBTree("users"),
                     "create btree 'users'");
    ASSIGN_OR_RETURN(std::unique_ptr<HashIndex> ids, catalog->CreateHash("ids"),
                     "create hash 'ids'");
    std::printf(
        "created B+tree 'users' (anchor page %llu) and hash index 'ids' (anchor page "
        "%llu)\n",
        static_cast<unsigned long long>(users->anchor()),
        static_cast<unsigned long long>(ids->anchor()));

    RETURN_IF_ERROR(
        WriteBatch(*store, *users, *ids, 0, kFirstBatch, /*commit=*/true, &users_model, &ids_model),
        "first batch");
    std::printf("committed a transaction of %d keys into each index\n", kFirstBatch);
    RETURN_IF_ERROR(WriteBatch(*store, *users, *ids, kFirstBatch, kFirstBatch + kRolledBack,
                               /*commit=*/false, &users_model, &ids_model),
                    "rolled-back batch");
    std::printf("rolled back a transaction of %d keys into each index\n", kRolledBack);

    // The pool stays live: the indexes, the catalog and the store are used across the swap as
    // they are.
    ASSIGN_OR_RETURN(StoreOptions mmap, Options("mmap:initial=4M,growth=4M"), "options");
    RETURN_IF_ERROR(store->pool().SwapDiskManager(mmap.disk), "swap to mmap");
    EXPECT_OR_RETURN(store->pool().disk_manager_name().starts_with("mmap"),
                     "after the swap the disk manager is '" + store->pool().disk_manager_name() +
                         "', expected mmap");
    std::printf("swapped to the '%s' disk manager under the live store\n",
                store->pool().disk_manager_name().c_str());
    RETURN_IF_ERROR(CheckAll(*users, *ids, users_model, ids_model, "after the swap"), "check");

    const int first = kFirstBatch + kRolledBack;
    RETURN_IF_ERROR(WriteBatch(*store, *users, *ids, first, first + kSecondBatch,
                               /*commit=*/true, &users_model, &ids_model),
                    "second batch");
    std::printf("committed a transaction of %d more keys into each index under mmap\n",
                kSecondBatch);
    RETURN_IF_ERROR(CheckAll(*users, *ids, users_model, ids_model, "under mmap"), "check");

    RETURN_IF_ERROR(store->Close(), "close");
    std::printf("closed the store (final checkpoint)\n");
  }
  // The file written through the mapping opens under either manager.
  for (std::string_view spec : {"pread", "mmap"}) {
    ASSIGN_OR_RETURN(StoreOptions options, Options(spec), "options");
    ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(path, options),
                     "reopen " + path.string());
    std::printf("reopened with the '%s' disk manager; recovery: %s\n",
                store->pool().disk_manager_name().c_str(),
                store->recovery_report().ToString().c_str());
    EXPECT_OR_RETURN(!store->recovery_report().new_store, "the reopened store is new");
    ASSIGN_OR_RETURN(std::unique_ptr<Catalog> catalog, Catalog::Open(*store), "reopen catalog");
    ASSIGN_OR_RETURN(std::unique_ptr<BTree> users, catalog->OpenBTree("users"),
                     "open btree 'users'");
    ASSIGN_OR_RETURN(std::unique_ptr<HashIndex> ids, catalog->OpenHash("ids"), "open hash 'ids'");
    RETURN_IF_ERROR(
        CheckAll(*users, *ids, users_model, ids_model, "after reopening with " + std::string(spec)),
        "check");
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
