#include "tests/fuzz/fuzz_support.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"

namespace pagestore::fuzz {

void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

StoreOptions FuzzStoreOptions(RecoveryMode mode) {
  StoreOptions o;
  o.pool_frames = 64;
  o.log.segment_size = kSegmentHeaderSize + (64 << 10);  // the smallest allowed
  o.log.buffer_size = 16 << 10;
  o.log.group_commit_wait = std::chrono::microseconds(0);
  o.checkpoint_interval_bytes = std::uint64_t{1} << 40;  // only the checkpoints asked for
  o.background_checkpoints = false;
  o.recovery_mode = mode;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

StoreImage Capture(MemoryFile& file, MemoryLogEnv& env) {
  StoreImage image;
  image.pages.resize(file.page_count());
  for (PageId id = 0; id < image.pages.size(); ++id) {
    std::memcpy(image.pages[id].data(), file.MutablePage(id), kPageSize);
  }
  absl::StatusOr<std::vector<std::string>> names = env.ListFiles();
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (const std::vector<std::byte>* bytes = env.MutableContents(name)) {
        image.log_files.emplace_back(name, *bytes);
      }
    }
  }
  return image;
}

absl::Status Restore(const StoreImage& image, std::shared_ptr<MemoryFile>* file,
                     std::shared_ptr<MemoryLogEnv>* env) {
  *file = std::make_shared<MemoryFile>("fuzz.pages");
  if (!image.pages.empty()) {
    // A memory file gets pages only through a manager: create one (its two superblock pages),
    // grow it to the image's size, then overwrite every byte.
    absl::StatusOr<std::unique_ptr<MemoryDiskManager>> dm = MemoryDiskManager::Open(*file);
    if (!dm.ok()) return dm.status();
    while ((*dm)->page_count() < image.pages.size()) {
      if (absl::StatusOr<PageId> id = (*dm)->AllocatePage(); !id.ok()) return id.status();
    }
    dm->reset();
    (*file)->Truncate(image.pages.size());
    for (PageId id = 0; id < image.pages.size(); ++id) {
      std::memcpy((*file)->MutablePage(id), image.pages[id].data(), kPageSize);
    }
  }
  *env = std::make_shared<MemoryLogEnv>("fuzz.pages-wal");
  for (const auto& [name, bytes] : image.log_files) {
    absl::StatusOr<std::unique_ptr<LogFile>> f = (*env)->OpenFile(name, /*create=*/true);
    if (!f.ok()) return f.status();
    if (absl::Status s = (*f)->Write(0, bytes); !s.ok()) return s;
    if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
  }
  return (*env)->SyncDir();
}

std::string BaseKey(int i) { return fmt::format("key{:05d}", i); }

namespace {

std::string BaseValue(int i, char tag) { return fmt::format("{}value{:05d}-{:012d}", tag, i, i); }

#define FUZZ_RETURN_IF_ERROR(expr)                     \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

// The clock-seeded salts of every file with a segment header (segments and spares) replaced.
void ResaltImage(StoreImage& image) {
  for (auto& [name, bytes] : image.log_files) {
    SegmentHeader h;
    if (DecodeSegmentHeader(bytes, &h)) Resalt(bytes, SegmentSalt(h.number));
  }
}

}  // namespace

absl::StatusOr<StoreImage> BuildStore(bool crashed) {
  auto file = std::make_shared<MemoryFile>("fuzz.pages");
  auto env = std::make_shared<MemoryLogEnv>("fuzz.pages-wal");
  absl::StatusOr<std::unique_ptr<MemoryDiskManager>> disk = MemoryDiskManager::Open(file);
  if (!disk.ok()) return disk.status();
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(std::move(*disk), env, FuzzStoreOptions());
  if (!store.ok()) return store.status();
  StoreImage image;
  {
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
    if (!catalog.ok()) return catalog.status();
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("tree");
    if (!tree.ok()) return tree.status();
    HashIndexOptions hash_options;
    hash_options.seed = 0x5eed;
    absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->CreateHash("hash", hash_options);
    if (!hash.ok()) return hash.status();

    // Both indexes filled (splits: a B+tree of height 1, a hash index of several buckets), then a
    // run of keys deleted (merges: freed pages), then a checkpoint (the free list's trunks).
    {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
      if (!txn.ok()) return txn.status();
      for (int i = 0; i < kBaseKeys; ++i) {
        FUZZ_RETURN_IF_ERROR((*tree)->Put(txn->get(), BaseKey(i), BaseValue(i, 't')));
        FUZZ_RETURN_IF_ERROR((*hash)->Put(txn->get(), BaseKey(i), BaseValue(i, 'h')));
      }
      FUZZ_RETURN_IF_ERROR((*txn)->Commit());
    }
    {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
      if (!txn.ok()) return txn.status();
      for (int i = 60; i < 180; ++i) {
        FUZZ_RETURN_IF_ERROR((*tree)->Delete(txn->get(), BaseKey(i)));
        FUZZ_RETURN_IF_ERROR((*hash)->Delete(txn->get(), BaseKey(i)));
      }
      FUZZ_RETURN_IF_ERROR((*txn)->Commit());
    }
    FUZZ_RETURN_IF_ERROR((*store)->Checkpoint());
    // Committed work after the checkpoint: recovery redoes it.
    {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
      if (!txn.ok()) return txn.status();
      for (int i = 60; i < 90; ++i) {
        FUZZ_RETURN_IF_ERROR((*tree)->Insert(txn->get(), BaseKey(i), BaseValue(i, 'T')));
        FUZZ_RETURN_IF_ERROR((*hash)->Insert(txn->get(), BaseKey(i), BaseValue(i, 'H')));
      }
      FUZZ_RETURN_IF_ERROR((*tree)->Delete(txn->get(), BaseKey(0)));
      FUZZ_RETURN_IF_ERROR((*hash)->Delete(txn->get(), BaseKey(0)));
      FUZZ_RETURN_IF_ERROR((*txn)->Commit());
    }
    if (crashed) {
      // A transaction in flight when the process dies: its records are durable (a later commit
      // synced them), so recovery undoes it.
      absl::StatusOr<std::unique_ptr<Transaction>> loser = (*store)->Begin();
      if (!loser.ok()) return loser.status();
      for (int i = 1; i < 40; i += 3) {
        FUZZ_RETURN_IF_ERROR((*tree)->Put(loser->get(), BaseKey(i), BaseValue(i, 'L')));
        FUZZ_RETURN_IF_ERROR((*hash)->Delete(loser->get(), BaseKey(i)));
      }
      FUZZ_RETURN_IF_ERROR((*tree)->Put(loser->get(), "loser-only", "x"));
      absl::StatusOr<std::unique_ptr<Transaction>> winner = (*store)->Begin();
      if (!winner.ok()) return winner.status();
      FUZZ_RETURN_IF_ERROR((*tree)->Put(winner->get(), BaseKey(200), BaseValue(200, 'W')));
      FUZZ_RETURN_IF_ERROR((*hash)->Put(winner->get(), BaseKey(200), BaseValue(200, 'W')));
      FUZZ_RETURN_IF_ERROR((*winner)->Commit(Durability::kSync));
      image = Capture(*file, *env);  // the process dies here
    }
  }
  if (!crashed) {
    FUZZ_RETURN_IF_ERROR((*store)->Close());
    store->reset();
    image = Capture(*file, *env);
  }
  ResaltImage(image);
  return image;
}

const StoreImage& BaseStore(bool crashed) {
  static const StoreImage* images[2] = {nullptr, nullptr};
  const StoreImage*& image = images[crashed ? 1 : 0];
  if (image == nullptr) {
    absl::StatusOr<StoreImage> built = BuildStore(crashed);
    if (!built.ok()) Fail("building the base store: " + built.status().ToString());
    image = new StoreImage(std::move(*built));
  }
  return *image;
}

namespace {

std::uint32_t Load32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Calls `f(offset, header)` for every record from the first whose framing holds (and, when
// `salt` is given, whose checksum holds under it), in order; stops at the first that does not.
template <typename F>
void ForEachRecord(std::vector<std::byte>& segment, const SegmentHeader& h,
                   const std::uint64_t* salt, F&& f) {
  std::size_t off = kSegmentHeaderSize;
  Lsn lsn = h.first_lsn;
  while (off <= segment.size() && segment.size() - off >= kRecordHeaderSize) {
    const RecordHeader r = ReadRecordHeader(segment.data() + off);
    if (r.lsn != lsn || r.length < kRecordHeaderSize || r.length > segment.size() - off) break;
    if (salt != nullptr && RecordChecksum(segment.data() + off, r.length, *salt) != r.checksum) {
      break;
    }
    f(off, r);
    off += AlignRecord(r.length);
    lsn += AlignRecord(r.length);
  }
}

}  // namespace

void Resalt(std::vector<std::byte>& segment, std::uint64_t salt) {
  SegmentHeader h;
  if (segment.size() < kSegmentHeaderSize || !DecodeSegmentHeader(segment, &h)) return;
  const std::uint64_t old = h.salt;
  SegmentEndMark mark;
  const bool marked = DecodeSegmentEndMark(
      std::span<const std::byte>(segment.data() + kSegmentEndMarkOffset, kSegmentEndMarkSize), old,
      &mark);
  ForEachRecord(segment, h, &old, [&](std::size_t off, const RecordHeader& r) {
    SealRecord(r, salt, segment.data() + off);
  });
  h.salt = salt;
  EncodeSegmentHeader(h,
                      std::span<std::byte, kSegmentHeaderSize>(segment.data(), kSegmentHeaderSize));
  if (marked) {
    EncodeSegmentEndMark(mark, salt,
                         std::span<std::byte, kSegmentEndMarkSize>(
                             segment.data() + kSegmentEndMarkOffset, kSegmentEndMarkSize));
  }
}

void Reseal(std::vector<std::byte>& segment) {
  if (segment.size() < kSegmentHeaderUsed ||
      std::memcmp(segment.data(), kSegmentMagic, sizeof kSegmentMagic) != 0) {
    return;
  }
  const std::size_t summed = Load32(segment.data() + 8) == 1 ? 40 : 48;
  const std::uint64_t sum = XXH3_64bits(segment.data(), summed);
  std::memcpy(segment.data() + summed, &sum, 8);
  SegmentHeader h;
  if (!DecodeSegmentHeader(segment, &h)) return;
  ForEachRecord(segment, h, nullptr, [&](std::size_t off, const RecordHeader& r) {
    SealRecord(r, h.salt, segment.data() + off);
  });
}

FuzzLog MakeFuzzLog(FuzzReader& in) {
  FuzzLog log;
  log.env = std::make_shared<MemoryLogEnv>("fuzz.pages-wal");
  const std::uint8_t flags = in.U8();
  const int segments = (flags & 1) ? 2 : 1;
  const bool reseal = flags & 8;
  const bool presized = flags & 16;
  bool first = true;
  for (int k = 0; k < segments; ++k) {
    const std::uint16_t number = in.U16();
    const Lsn first_lsn = in.U64();
    const bool header = flags & (2 << k);
    const std::size_t len = k + 1 < segments ? in.U32() : in.remaining();
    const std::span<const std::byte> body = in.Bytes(len);
    std::vector<std::byte> file;
    if (header) {
      file.resize(kSegmentHeaderSize);
      EncodeSegmentHeader(
          {number, first_lsn, SegmentSalt(number), presized ? kSegmentHeaderSize + body.size() : 0},
          std::span<std::byte, kSegmentHeaderSize>(file.data(), kSegmentHeaderSize));
      if (first) log.first_lsn = first_lsn;
      first = false;
    }
    file.insert(file.end(), body.begin(), body.end());
    if (reseal) Reseal(file);
    absl::StatusOr<std::unique_ptr<LogFile>> f =
        log.env->OpenFile(SegmentFileName(number), /*create=*/true);
    if (!f.ok()) Fail("MemoryLogEnv::OpenFile: " + f.status().ToString());
    if ((!file.empty() && !(*f)->Write(0, file).ok()) || !(*f)->Sync().ok()) {
      Fail("MemoryLogEnv write");
    }
  }
  if (!log.env->SyncDir().ok()) Fail("MemoryLogEnv::SyncDir");
  return log;
}

std::vector<std::byte> EncodeFuzzLog(const std::vector<FuzzSegment>& segments, bool reseal) {
  std::vector<std::byte> out;
  auto put = [&](const auto& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof v);
  };
  std::uint8_t flags = segments.size() == 2 ? 1 : 0;
  for (std::size_t k = 0; k < segments.size() && k < 2; ++k) {
    if (segments[k].with_header) flags |= static_cast<std::uint8_t>(2 << k);
    if (segments[k].presized) flags |= 16;
  }
  if (reseal) flags |= 8;
  put(flags);
  for (std::size_t k = 0; k < segments.size() && k < 2; ++k) {
    put(segments[k].number);
    put(segments[k].first_lsn);
    if (k + 1 < segments.size()) put(static_cast<std::uint32_t>(segments[k].body.size()));
    out.insert(out.end(), segments[k].body.begin(), segments[k].body.end());
  }
  return out;
}

}  // namespace pagestore::fuzz
