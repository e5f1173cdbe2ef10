// Fuzz target `store`: the small valid store of fuzz_support.h (BaseStore) patched by the input,
// then opened as an engine would: Store::Open (recovery), Catalog::Open, every index opened and
// Verify()d, a few Gets, a scan of each, optionally a write; then Close. Every failure must be a
// Status: never a crash, a hang, or unbounded growth.
//
// Input (tests/fuzz/README.md "Store input"): u8 flags, then up to 64 operations:
//   flags bit 0: start from the crashed image (recovery redoes and undoes) rather than the clean
//   one; bit 1: reseal what was patched (pages with SealPage, log segments' header checksum and
//   records) so the fuzzer gets past checksums; bits 2-3: RecoveryMode (0/3 kTolerateTail,
//   1 kAbsoluteConsistency, 2 kPointInTime); bit 4: write after verifying (a Put and a Delete in a
//   transaction, in each index).
//   operation: u8 kind, then by kind % 5:
//     0 page bytes:   u32 byte offset in the page file (mod its size) | u8 n | n bytes
//     1 log bytes:    u8 file (mod the log's files) | u32 offset (mod its size) | u8 n | n bytes
//     2 log resize:   u8 file | u32 new size (mod its size + 8 KiB; growth zero-filled)
//     3 page file:    u16 pages to keep (mod the page count + 1)
//     4 log removal:  u8 file
// The harness grows nothing itself beyond 8 KiB per log file and operation. (Recovery growing the
// page file to a page id a log record names is the library's to bound; see tests/fuzz/README.md.)
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "tests/fuzz/fuzz_support.h"

namespace pagestore::fuzz {
namespace {

// A scan or iteration ends within this many steps or it is a hang: the base store has fewer
// than kBaseKeys entries per index, and a patch can only make pages claim what fits in them.
constexpr std::size_t kMaxScan = 1 << 16;

void Exercise(Store& store, bool write) {
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
  if (!catalog.ok()) return;
  absl::StatusOr<std::vector<IndexInfo>> list = (*catalog)->List();
  if (!list.ok()) return;
  for (const IndexInfo& info : *list) {
    if (info.kind == IndexKind::kBTree) {
      absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->OpenBTree(info.name);
      if (!tree.ok()) continue;
      (void)(*tree)->Verify();
      for (int i : {0, 1, 59, 60, 100, 200, kBaseKeys - 1}) (void)(*tree)->Get(BaseKey(i));
      std::size_t n = 0;
      for (BTree::Iterator it = (*tree)->Begin(); it.Valid(); it.Next()) {
        if (++n > kMaxScan) Fail("a B+tree scan did not end");
      }
      n = 0;
      for (BTree::Iterator it = (*tree)->Scan(BaseKey(50), BaseKey(150)); it.Valid(); it.Next()) {
        if (++n > kMaxScan) Fail("a B+tree range scan did not end");
      }
      (void)(*tree)->Stats();
      if (write) {
        absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
        if (txn.ok()) {
          (void)(*tree)->Put(txn->get(), BaseKey(1), "fuzz");
          (void)(*tree)->Delete(txn->get(), BaseKey(2));
          (void)(*tree)->Put(txn->get(), BaseKey(100), std::string(200, 'f'));
          (void)(*txn)->Commit();
        }
        (void)(*tree)->Verify();
      }
    } else if (info.kind == IndexKind::kHash) {
      absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->OpenHash(info.name);
      if (!hash.ok()) continue;
      (void)(*hash)->Verify();
      for (int i : {0, 1, 59, 60, 100, 200, kBaseKeys - 1}) (void)(*hash)->Get(BaseKey(i));
      std::size_t n = 0;
      for (HashIndex::Iterator it = (*hash)->Begin(); it.Valid(); it.Next()) {
        if (++n > kMaxScan) Fail("a hash index iteration did not end");
      }
      (void)(*hash)->Size();
      (void)(*hash)->Stats();
      if (write) {
        absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
        if (txn.ok()) {
          (void)(*hash)->Put(txn->get(), BaseKey(1), "fuzz");
          (void)(*hash)->Delete(txn->get(), BaseKey(2));
          (void)(*hash)->Put(txn->get(), BaseKey(100), std::string(200, 'f'));
          (void)(*txn)->Abort();
        }
        (void)(*hash)->Verify();
      }
    }
  }
}

}  // namespace
}  // namespace pagestore::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pagestore;
  using namespace pagestore::fuzz;
  FuzzReader in(data, size);
  const std::uint8_t flags = in.U8();
  StoreImage image = BaseStore(flags & 1);
  const bool reseal = flags & 2;
  const RecoveryMode modes[4] = {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                                 RecoveryMode::kPointInTime, RecoveryMode::kTolerateTail};
  const RecoveryMode mode = modes[(flags >> 2) & 3];
  std::set<PageId> touched_pages;
  std::set<std::string> touched_logs;
  for (int op = 0; op < 64 && !in.empty(); ++op) {
    const std::uint8_t kind = in.U8();
    auto& logs = image.log_files;
    switch (kind % 5) {
      case 0: {
        const std::uint32_t at = in.U32();
        const std::span<const std::byte> bytes = in.Bytes(in.U8());
        const std::size_t file_bytes = image.pages.size() * kPageSize;
        if (file_bytes == 0) break;
        for (std::size_t i = 0; i < bytes.size(); ++i) {
          const std::size_t off = (at + i) % file_bytes;
          image.pages[off / kPageSize][off % kPageSize] = bytes[i];
          touched_pages.insert(off / kPageSize);
        }
        break;
      }
      case 1: {
        const std::uint8_t file = in.U8();
        const std::uint32_t at = in.U32();
        const std::span<const std::byte> bytes = in.Bytes(in.U8());
        if (logs.empty()) break;
        auto& [name, contents] = logs[file % logs.size()];
        if (contents.empty()) break;
        for (std::size_t i = 0; i < bytes.size(); ++i) {
          contents[(at + i) % contents.size()] = bytes[i];
        }
        touched_logs.insert(name);
        break;
      }
      case 2: {
        const std::uint8_t file = in.U8();
        const std::uint32_t to = in.U32();
        if (logs.empty()) break;
        auto& [name, contents] = logs[file % logs.size()];
        contents.resize(to % (contents.size() + 8192 + 1));
        touched_logs.insert(name);
        break;
      }
      case 3: {
        const std::uint16_t keep = in.U16();
        image.pages.resize(keep % (image.pages.size() + 1));
        break;
      }
      case 4: {
        const std::uint8_t file = in.U8();
        if (logs.empty()) break;
        logs.erase(logs.begin() + static_cast<std::ptrdiff_t>(file % logs.size()));
        break;
      }
    }
  }
  if (reseal) {
    for (PageId id : touched_pages) {
      if (id < image.pages.size()) SealPage(id, PageSpan(image.pages[id].data(), kPageSize));
    }
    for (auto& [name, contents] : image.log_files) {
      if (touched_logs.count(name) > 0) Reseal(contents);
    }
  }

  std::shared_ptr<MemoryFile> file;
  std::shared_ptr<MemoryLogEnv> env;
  if (absl::Status s = Restore(image, &file, &env); !s.ok()) Fail("Restore: " + s.ToString());
  absl::StatusOr<std::unique_ptr<MemoryDiskManager>> disk = MemoryDiskManager::Open(file);
  if (!disk.ok()) return 0;
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(std::move(*disk), env, FuzzStoreOptions(mode));
  if (!store.ok()) return 0;
  Exercise(**store, flags & 16);
  (void)(*store)->Close();
  return 0;
}
