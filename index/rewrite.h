// Rewrite: copies every index of one store into another, densely: B+trees rebuilt by bulk load at
// a chosen fill, hash indexes by inserting their entries. The offline compaction (`pagestore
// compact SRC DST`): the copy holds the same named indexes and entries in as few pages as the
// fill allows, whatever holes and half-empty nodes the source had.
//
//   RewriteOptions options;
//   options.fill = 0.9;
//   absl::StatusOr<RewriteReport> r = RewriteIndexes(*source, *fresh, options);
//
// Ownership: borrows both stores. Thread safety: the source must not change while it runs (the
// tool opens it alone); the destination must be a new store that nothing else uses.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "wal/store.h"

namespace pagestore {

struct RewriteOptions {
  double fill = 0.9;  // B+tree nodes filled to this share (0.5-1.0) of their capacity
  // Entries per transaction for what is inserted rather than bulk loaded (hash entries, and the
  // B+tree entries whose values are stored out of line).
  std::size_t batch = 1000;
  // The options a B+tree is opened and rebuilt with, by name (a tree's comparator is code, not
  // stored): empty, bytewise.
  std::function<BTreeOptions(const std::string& name)> btree_options;
  // Called after each index with its name and entries copied; returning false stops the rewrite
  // (CancelledError).
  std::function<bool(const std::string& name, std::uint64_t entries)> progress;
};

struct RewriteReport {
  std::uint64_t indexes = 0;
  std::uint64_t entries = 0;
  std::uint64_t source_pages = 0;  // the source file's pages
  std::uint64_t dest_pages = 0;    // the copy's, after a checkpoint
};

// Copies every index named in `source`'s catalog into `dest`, whose catalog must be empty
// (FailedPreconditionError otherwise). Each B+tree's entries are read in key order, its inline
// ones bulk loaded at options.fill and its large values put after; each hash index's entries are
// put in batches. A B+tree's entries are held in memory while it is loaded. Errors name the
// index and come from either store; `dest` is then partly written (write it under a temporary
// name and discard it on error).
[[nodiscard]] absl::StatusOr<RewriteReport> RewriteIndexes(Store& source, Store& dest,
                                                           const RewriteOptions& options = {});

}  // namespace pagestore
