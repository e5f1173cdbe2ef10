// What the tool's subcommands share: reading a file's superblocks and free list and catalog raw
// (without recovering), and opening it as an engine would (recovering first).
//
// Ownership: a RawFile owns its read-only disk manager. Thread safety: none (one command).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "index/btree_node.h"
#include "index/catalog.h"
#include "storage/disk_manager.h"
#include "storage/superblock.h"
#include "wal/store.h"

namespace pagestore::tools {

struct RawFile {
  std::string path;
  std::uint64_t bytes = 0;
  // Both superblock copies as decoded (an error says what is wrong with a copy).
  std::array<absl::StatusOr<Superblock>, 2> copies{absl::UnknownError(""), absl::UnknownError("")};
  int current = 0;  // the copy in force
  Superblock superblock;
  std::unique_ptr<DiskManager> disk;  // read-only, pread
};

// Opens `path` for inspection. A missing, empty or truncated file, or one that is not a
// pagestore file, is an error whose message says which, in one line.
[[nodiscard]] absl::StatusOr<RawFile> OpenRaw(const std::string& path);

// The free list as the superblock names it: trunk pages and the free page ids they list.
struct FreeList {
  std::vector<PageId> trunks;
  std::vector<PageId> pages;
};
[[nodiscard]] absl::StatusOr<FreeList> ReadFreeList(DiskManager& disk, PageId head);

// The catalog's entries read straight from its B+tree pages (as of the last checkpoint).
[[nodiscard]] absl::StatusOr<std::vector<IndexInfo>> ReadCatalog(DiskManager& disk, PageId root);

// B+tree nodes read from a page that nothing has verified (a page failing its checksum, or one
// resealed over bad contents): Node (index/btree_node.h) reads wherever a slot points, which is
// right for the tree's own latched, verified pages but not here. Every offset and length is
// checked against the page before Node reads it.
inline constexpr std::size_t kMaxNodeSlots = (kPageSize - kNodeHeaderEnd) / kSlotSize;
struct NodeEntry {
  std::string_view key;
  std::string_view value;         // leaves: as stored (a reference when out of line)
  bool out_of_line = false;       // leaves: the value is stored out of line
  PageId child = kInvalidPageId;  // internal nodes
};
// Entry `i` of the B+tree node `page` (a leaf or an internal node by its level), viewing the
// page's bytes; DataLossError saying what does not fit in the page (the slot, the cell offset, a
// key or value length) otherwise.
[[nodiscard]] absl::StatusOr<NodeEntry> ReadNodeEntry(ConstPageSpan page, std::size_t i);

// Options for opening a store from the tool: both index kinds' undo handlers, no background
// checkpoints.
StoreOptions ToolStoreOptions();
// Opens an existing store (never creates one) and recovers, as an engine would.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& path);

}  // namespace pagestore::tools
