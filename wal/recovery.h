// Recovery: what Store::Open runs before the store takes work (wal/README.md, "Recovery").
// Internal to the store; not installed.
//
// Recovery reads the checkpoint the superblock names (its redo LSN, the transactions active at
// it, the free list in its trunk pages), scans the log from the redo LSN to find where it ends
// and which transactions never finished (analysis), opens the log for appending at that end,
// repeats history page by page where a page is behind (redo), rebuilds the allocator, rolls back
// the unfinished transactions under compensation records (undo), and takes a checkpoint. What it
// did, dropped or skipped goes into the store's RecoveryReport.
//
// Ownership: works on the StoreCore it is given (which outlives it); opens the core's log.
// Thread safety: runs alone, before the store is handed out.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "wal/log_reader.h"
#include "wal/store_core.h"

namespace pagestore {

class Recovery {
 public:
  explicit Recovery(StoreCore& core) : core_(core), report_(core.report) {}
  [[nodiscard]] absl::Status Run();

 private:
  struct Loser {
    Lsn first = kInvalidLsn, last = kInvalidLsn, undo_next = kInvalidLsn;
  };
  class PageRedo;

  // The superblock's checkpoint: redo start, high-water mark, active transactions, free list.
  [[nodiscard]] absl::Status ReadCheckpoint(LogReader& reader, Lsn checkpoint_lsn,
                                            PageId free_list_head);
  [[nodiscard]] absl::Status ReadFreeList(PageId head);
  // Analysis: where the log ends and which transactions never finished.
  [[nodiscard]] absl::Status Analyze(LogReader& reader);
  // Redo: history repeated from the redo LSN to the end found.
  [[nodiscard]] absl::Status RedoAll(LogReader& reader);
  // `file_end`: the pages the record may name (the file's, then grown by logged extensions);
  // a record naming one past it is refused before anything is written.
  [[nodiscard]] absl::Status Redo(const LogRecord& rec, PageId& file_end);
  [[nodiscard]] absl::Status RedoAllocation(const LogRecord& rec, const MtrEntryView& e,
                                            PageId& file_end);
  // The allocator's state: the checkpoint's free list with the replayed allocations and frees.
  void RebuildAllocator();
  // Undo: every transaction that neither committed nor finished aborting, newest first.
  [[nodiscard]] absl::Status UndoLosers(LogReader& reader);
  [[nodiscard]] absl::Status UndoLoser(TxnState& txn, LogReader& reader);
  // skip_damaged: whether to go on past `s`, the failure to undo the record at `lsn`
  // (reported and logged when so).
  bool SkipDamagedUndo(const TxnState& txn, Lsn lsn, const absl::Status& s);
  void LogOutcome();

  StoreCore& core_;
  RecoveryReport& report_;
  absl::btree_set<PageId> free_set_;
  std::vector<PageId> trunks_;
  PageId high_water_ = kFirstDataPage;
  std::uint64_t next_txn_ = 1;
  absl::flat_hash_map<std::uint64_t, Loser> losers_;
  Lsn end_ = kFirstLsn;
};

}  // namespace pagestore
