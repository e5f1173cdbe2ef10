#include "tools/inspect.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "index/btree.h"
#include "index/btree_node.h"
#include "index/hash_index.h"
#include "tools/command.h"
#include "wal/free_list_format.h"

namespace pagestore::tools {
namespace {

namespace fs = std::filesystem;

absl::Status ReadRawPage(int fd, PageId id, std::array<std::byte, kPageSize>& out,
                         const std::string& path) {
  std::size_t done = 0;
  while (done < kPageSize) {
    const ssize_t n =
        ::pread(fd, out.data() + done, kPageSize - done, static_cast<off_t>(id * kPageSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(fmt::format("{}: cannot read superblock page {}: {}", path, id,
                                             n == 0 ? "end of file" : std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RawFile> OpenRaw(const std::string& path) {
  RawFile f;
  f.path = path;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return absl::NotFoundError(fmt::format("{}: no such file", path));
  }
  if (fs::is_directory(st)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: is a directory, not a pagestore file", path));
  }
  f.bytes = fs::file_size(path, ec);
  if (ec) return absl::UnavailableError(fmt::format("{}: {}", path, ec.message()));
  if (f.bytes == 0) {
    return absl::DataLossError(fmt::format("{}: empty file (0 bytes), not a pagestore file", path));
  }
  if (f.bytes < kSuperblockPageCount * kPageSize) {
    return absl::DataLossError(
        fmt::format("{}: truncated or not a pagestore file: {} bytes, shorter than the two "
                    "{}-byte superblock pages",
                    path, f.bytes, kPageSize));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  std::array<std::byte, kPageSize> p0, p1;
  absl::Status read = ReadRawPage(fd, 0, p0, path);
  if (read.ok()) read = ReadRawPage(fd, 1, p1, path);
  ::close(fd);
  if (!read.ok()) return read;
  f.copies[0] = DecodeSuperblock(0, ConstPageSpan(p0.data(), kPageSize), path);
  f.copies[1] = DecodeSuperblock(1, ConstPageSpan(p1.data(), kPageSize), path);
  absl::StatusOr<SuperblockChoice> choice = ChooseSuperblock(
      ConstPageSpan(p0.data(), kPageSize), ConstPageSpan(p1.data(), kPageSize), path);
  if (!choice.ok()) return choice.status();
  f.superblock = choice->current;
  f.current = static_cast<int>(choice->current.sequence % 2);
  if (f.bytes < f.superblock.page_count * kPageSize) {
    return absl::DataLossError(
        fmt::format("{}: truncated: {} bytes, but the superblock counts {} pages ({} bytes)", path,
                    f.bytes, f.superblock.page_count, f.superblock.page_count * kPageSize));
  }
  DiskManagerOptions options;
  options.kind = DiskManagerKind::kPread;
  options.mode = OpenMode::kReadOnly;
  absl::StatusOr<std::unique_ptr<DiskManager>> disk = OpenDiskManager(path, options);
  if (!disk.ok()) return disk.status();
  f.disk = std::move(*disk);
  return f;
}

absl::StatusOr<FreeList> ReadFreeList(DiskManager& disk, PageId head) {
  FreeList out;
  std::array<std::byte, kPageSize> page;
  for (PageId id = head; id != kInvalidPageId;) {
    if (out.trunks.size() > disk.page_count()) {
      return absl::DataLossError(
          fmt::format("{}: the free list's trunk chain loops at page {}", disk.path(), id));
    }
    if (absl::Status s = disk.ReadPage(id, PageSpan(page.data(), kPageSize)); !s.ok()) return s;
    absl::StatusOr<FreeListTrunk> trunk =
        DecodeFreeListTrunk(id, ConstPageSpan(page.data(), kPageSize), disk.path());
    if (!trunk.ok()) return trunk.status();
    out.trunks.push_back(id);
    out.pages.insert(out.pages.end(), trunk->ids.begin(), trunk->ids.end());
    const PageId next = trunk->next;
    id = next;
  }
  return out;
}

absl::StatusOr<NodeEntry> ReadNodeEntry(ConstPageSpan page, std::size_t i) {
  const Node n(const_cast<std::byte*>(page.data()));  // only read
  auto load16 = [&](std::size_t off) {
    std::uint16_t v;
    std::memcpy(&v, page.data() + off, 2);
    return v;
  };
  const std::size_t slot_at = kNodeHeaderEnd + i * kSlotSize;
  if (i >= n.count() || slot_at + kSlotSize > kPageSize) {
    return absl::DataLossError(
        fmt::format("slot {} at offset {} is past the {}-byte page", i, slot_at, kPageSize));
  }
  const std::size_t off = load16(slot_at);
  const std::size_t header = n.is_leaf() ? kLeafCellHeader : kInternalCellHeader;
  if (off < kNodeHeaderEnd) {
    return absl::DataLossError(fmt::format(
        "slot {}: cell offset {} is inside the node header (cells start at {} or later)", i, off,
        kNodeHeaderEnd));
  }
  if (off + header > kPageSize) {
    return absl::DataLossError(fmt::format(
        "slot {}: cell offset {} is past the {}-byte page (its {}-byte cell header ends at {})", i,
        off, kPageSize, header, off + header));
  }
  const std::size_t key_len = load16(off);
  if (off + header + key_len > kPageSize) {
    return absl::DataLossError(
        fmt::format("slot {}: key length {} at cell offset {} runs past the {}-byte page", i,
                    key_len, off, kPageSize));
  }
  NodeEntry e;
  e.key = n.key(i);
  if (n.is_leaf()) {
    const std::size_t value_len = load16(off + 2) & ~kValueOutOfLine;
    if (off + header + key_len + value_len > kPageSize) {
      return absl::DataLossError(
          fmt::format("slot {}: value length {} after a {}-byte key at cell offset {} runs past "
                      "the {}-byte page",
                      i, value_len, key_len, off, kPageSize));
    }
    e.value = n.value(i);
    e.out_of_line = n.out_of_line(i);
  } else {
    e.child = n.child(i);
  }
  return e;
}

absl::StatusOr<std::vector<IndexInfo>> ReadCatalog(DiskManager& disk, PageId root) {
  std::vector<IndexInfo> out;
  if (root == kInvalidPageId) return out;
  std::array<std::byte, kPageSize> page;
  const PageSpan span(page.data(), kPageSize);
  if (absl::Status s = disk.ReadPage(root, span); !s.ok()) return s;
  if (ReadPageHeader(span).type != static_cast<std::uint16_t>(PageType::kBTreeMeta)) {
    return absl::DataLossError(
        fmt::format("{}: the catalog root, page {}, is not a B+tree anchor", disk.path(), root));
  }
  const BTreeAnchorView anchor = ReadBTreeAnchor(span);
  // Down the leftmost path, then along the leaf chain.
  PageId id = anchor.root;
  for (std::uint32_t level = anchor.height;; --level) {
    if (absl::Status s = disk.ReadPage(id, span); !s.ok()) return s;
    const Node n(page.data());
    const auto type = static_cast<PageType>(ReadPageHeader(span).type);
    if ((type != PageType::kBTreeLeaf && type != PageType::kBTreeInternal) || n.level() != level) {
      return absl::DataLossError(
          fmt::format("{}: catalog page {} is not the B+tree node it should be", disk.path(), id));
    }
    if (level == 0) break;
    id = n.leftmost_child();
  }
  for (std::size_t leaves = 0;; ++leaves) {
    const Node n(page.data());
    for (std::size_t i = 0; i < n.count(); ++i) {
      absl::StatusOr<NodeEntry> e = ReadNodeEntry(span, i);
      if (!e.ok()) {
        return absl::DataLossError(
            fmt::format("{}: catalog page {} is malformed: {}", disk.path(), id, Msg(e.status())));
      }
      absl::StatusOr<IndexInfo> info = DecodeCatalogEntry(e->key, e->value);
      if (!info.ok()) return info.status();
      out.push_back(std::move(*info));
    }
    const PageId next = n.right();
    if (next == kInvalidPageId) break;
    if (leaves > disk.page_count()) {
      return absl::DataLossError(
          fmt::format("{}: the catalog's leaf chain loops at page {}", disk.path(), next));
    }
    id = next;
    if (absl::Status s = disk.ReadPage(next, span); !s.ok()) return s;
    if (ReadPageHeader(span).type != static_cast<std::uint16_t>(PageType::kBTreeLeaf)) {
      return absl::DataLossError(
          fmt::format("{}: catalog page {} is not a B+tree leaf", disk.path(), next));
    }
  }
  return out;
}

StoreOptions ToolStoreOptions() {
  StoreOptions o;
  o.disk.mode = OpenMode::kOpenExisting;
  o.background_checkpoints = false;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& path) {
  // The checks of a raw open first: a clear line for a file that is not a store at all.
  if (absl::StatusOr<RawFile> raw = OpenRaw(path); !raw.ok()) return raw.status();
  if (!fs::is_directory(path + "-wal")) {
    return absl::NotFoundError(
        fmt::format("{}-wal: no log directory beside the store (use --read-only to inspect the "
                    "file without its log)",
                    path));
  }
  return Store::Open(path, ToolStoreOptions());
}

}  // namespace pagestore::tools
