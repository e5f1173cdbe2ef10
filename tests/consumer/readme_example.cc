// The example of README.md's "Using pagestore in your engine", compiled and run as it is shown
// there (between the BEGIN and END lines), so the README cannot drift from the API.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

// BEGIN README EXAMPLE
#include "index/catalog.h"  // Catalog, BTree, HashIndex, and wal/store.h: Store, Transaction

using namespace pagestore;

absl::Status Example(const std::filesystem::path& path) {
  StoreOptions options;
  options.disk = *ParseDiskManagerSpec("pread");  // or "mmap", "pread:direct=1", ...
  // Recovery undoes unfinished transactions through these: give them before Open.
  options.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  options.undo_handlers[kHashResourceManager] = HashUndoHandler();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);  // recovers first
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  if (!catalog.ok()) return catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> users = (*catalog)->CreateBTree("users");  // or Open..
  if (!users.ok()) return users.status();
  absl::StatusOr<std::unique_ptr<HashIndex>> emails = (*catalog)->CreateHash("emails");
  if (!emails.ok()) return emails.status();

  absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
  if (!txn.ok()) return txn.status();
  absl::Status s = (*users)->Insert(txn->get(), "user:1", "alice");  // AlreadyExists if there
  if (s.ok()) s = (*emails)->Put(txn->get(), "alice@example.com", "user:1");  // upsert
  if (s.ok()) s = (*txn)->Commit();  // both or neither; durable on return (kSync)
  if (!s.ok()) return s;             // an uncommitted transaction aborts when destroyed

  s = (*store)->pool().SwapDiskManager(*ParseDiskManagerSpec("mmap"));  // live, same file
  if (!s.ok()) return s;
  absl::StatusOr<std::string> id = (*emails)->Get("alice@example.com");  // "user:1"
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> name = (*users)->Get(*id);  // "alice"; NotFoundError if absent
  if (!name.ok()) return name.status();
  for (BTree::Iterator it = (*users)->Scan("user:", "user;"); it.Valid(); it.Next()) {
    std::printf("%s = %s\n", std::string(it.key()).c_str(), std::string(it.value()).c_str());
  }
  return (*store)->Close();  // a final checkpoint (destroying the store takes one too)
}
// END README EXAMPLE

int main() {
  std::string dir = (std::filesystem::temp_directory_path() / "pagestore-readme-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("readme_example: mkdtemp");
    return 1;
  }
  const absl::Status status = Example(std::filesystem::path(dir) / "db.pages");
  std::filesystem::remove_all(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "readme_example: FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("readme_example: OK\n");
  return 0;
}
