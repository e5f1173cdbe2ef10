// Recovery on open (wal/README.md, "Recovery"): analysis, redo, undo of unfinished
// transactions, and the report of what was done, dropped or skipped.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

#include "storage/logging.h"
#include "wal/free_list_format.h"
#include "wal/store.h"

namespace pagestore {
namespace {

absl::Status Malformed(const LogRecord& rec, std::string_view what) {
  return absl::DataLossError(fmt::format("log record at LSN {} ({}) is malformed: {}",
                                         rec.header.lsn, RecordTypeName(rec.header.type), what));
}

// A record naming a page the log never allocated: recovery refuses it before touching the file.
absl::Status BeyondTheLog(const LogRecord& rec, PageId id, PageId file_end) {
  return Malformed(rec, fmt::format("it names page {}, but the file and the log's own extensions "
                                    "end at page {}: a damaged or foreign record",
                                    id, file_end));
}

// A decoded mini-transaction record: what undo needs.
struct MtrUndoInfo {
  bool has_undo = false;
  std::uint16_t rm = 0;
  std::span<const std::byte> undo;
  bool compensation = false;
  Lsn undo_next = kInvalidLsn;
};

// The undo information of a kMtr payload; false if the payload is malformed.
bool ReadUndoInfo(std::span<const std::byte> payload, MtrUndoInfo* info) {
  return DecodeMtrPayload(payload, [&](const MtrEntryView& e) {
    if (e.kind == MtrEntry::kUndo) {
      info->has_undo = true;
      info->rm = e.resource_manager;
      info->undo = e.bytes;
    } else if (e.kind == MtrEntry::kCompensation) {
      info->compensation = true;
      info->undo_next = e.undo_next;
    }
    return true;
  });
}

}  // namespace

std::string RecoveryReport::ToString() const {
  if (new_store) return "new store: nothing to recover";
  return fmt::format(
      "recovered from checkpoint at LSN {}: redo from LSN {} to {}, {} records ({} bytes) "
      "scanned, {} page changes redone ({} full images), {} already on disk, {} transactions "
      "({} operations) undone{}{}, in {:.3f} ms",
      checkpoint_lsn, start_lsn, end_lsn, records_scanned, bytes_scanned, pages_redone, page_images,
      pages_skipped, transactions_undone, operations_undone,
      damaged_tail_lsn == kInvalidLsn
          ? std::string()
          : fmt::format("; the log's damaged tail at LSN {} was dropped ({})", damaged_tail_lsn,
                        damage),
      skipped.empty() ? std::string()
                      : fmt::format("; {} damaged operations NOT recovered: {}", skipped.size(),
                                    fmt::join(skipped, "; ")),
      std::chrono::duration<double, std::milli>(duration).count());
}

// ---------------------------------------------------------------------------------------------
// Recovery

absl::Status Store::Redo(const LogRecord& rec, absl::btree_set<PageId>& free_set,
                         PageId& high_water, PageId& file_end) {
  const Lsn lsn = rec.header.lsn;
  WritePageGuard page;
  bool apply = false;
  absl::Status status;
  PageId skipping = kInvalidPageId;  // a damaged page whose entries skip_damaged passes over
  auto open_page = [&](PageId id, bool image) -> bool {
    if (page.valid() && page.page_id() == id) return true;
    if (id == skipping) return true;
    if (page.valid() && apply) page.set_lsn(lsn);
    page.Release();
    if (id < kFirstDataPage) {
      status = Malformed(rec, fmt::format("change to superblock page {}", id));
      return false;
    }
    if (id >= file_end) {
      status = BeyondTheLog(rec, id, file_end);
      return false;
    }
    if (absl::Status s = pool_->EnsurePageCount(id + 1); !s.ok()) {
      status = s;
      return false;
    }
    absl::StatusOr<WritePageGuard> g = image ? pool_->OverwritePage(id) : pool_->WritePage(id);
    if (!g.ok()) {
      status = absl::Status(
          g.status().code(),
          fmt::format("redo of LSN {}: {}{}", lsn, std::string(g.status().message()),
                      absl::IsDataLoss(g.status())
                          ? "; StoreOptions::skip_damaged opens the store without redoing this "
                            "page's changes (and says so)"
                          : ""));
      if (absl::IsDataLoss(g.status()) && options_.skip_damaged) {
        // The page stays as damaged as it is (its readers get DataLoss); the rest is redone.
        std::string what = fmt::format("page {}: its changes logged at LSN {} were not redone: {}",
                                       id, lsn, std::string(g.status().message()));
        Logf(LogLevel::kWarning, "{}: recovery (skip_damaged): {}", path_, what);
        report_.skipped.push_back(std::move(what));
        status = absl::OkStatus();
        apply = false;
        skipping = id;
        return true;
      }
      return false;
    }
    page = std::move(*g);
    apply = page.lsn() < lsn;
    (apply ? report_.pages_redone : report_.pages_skipped)++;
    return true;
  };
  const bool ok = DecodeMtrPayload(rec.payload, [&](const MtrEntryView& e) {
    const PageId id = e.page;
    switch (e.kind) {
      case MtrEntry::kPageBytes:
        if (!open_page(id, false)) return false;
        if (apply) std::memcpy(page.mutable_data().data() + e.offset, e.bytes.data(), e.length);
        return true;
      case MtrEntry::kPageImage: {
        if (page.valid() && page.page_id() == id) return false;  // an image comes first
        if (!open_page(id, true)) return false;
        if (apply) {
          std::byte* p = page.mutable_data().data();
          const std::size_t hole = e.offset, hole_len = e.length;
          std::memcpy(p, e.bytes.data(), hole);
          std::memset(p + hole, 0, hole_len);
          std::memcpy(p + hole + hole_len, e.bytes.data() + hole, kPageSize - hole - hole_len);
          ++report_.page_images;
        }
        return true;
      }
      case MtrEntry::kAlloc:
      case MtrEntry::kExtend:
      case MtrEntry::kFree: {
        if (id < kFirstDataPage) {
          status = Malformed(rec, fmt::format("allocation entry for superblock page {}", id));
          return false;
        }
        // Extensions are logged one at a time, in order: the next one names the page at the end
        // of the file as the log has grown it, and no entry names a page past that.
        if (e.kind == MtrEntry::kExtend && id == file_end) ++file_end;
        if (id >= file_end) {
          status = BeyondTheLog(rec, id, file_end);
          return false;
        }
        high_water = std::max(high_water, id + 1);
        // The page exists even if the page count never reached the superblock.
        if (absl::Status s = pool_->EnsurePageCount(id + 1); !s.ok()) {
          status = s;
          return false;
        }
        if (e.kind == MtrEntry::kFree) {
          free_set.insert(id);
        } else {
          free_set.erase(id);
        }
        return true;
      }
      case MtrEntry::kUndo:
      case MtrEntry::kCompensation:
        return true;
    }
    return false;
  });
  if (page.valid() && apply) page.set_lsn(lsn);
  page.Release();
  if (!status.ok()) return status;
  if (!ok) return Malformed(rec, "bad entry");
  return absl::OkStatus();
}

bool Store::SkipDamagedUndo(const Transaction& txn, Lsn lsn, const absl::Status& s) {
  // Only damage is skipped: a missing handler or a failed disk is not the page's fault.
  if (!options_.skip_damaged ||
      !(absl::IsDataLoss(s) || absl::IsOutOfRange(s) || absl::IsInvalidArgument(s))) {
    return false;
  }
  std::string what = fmt::format(
      "transaction {}: the operation logged at LSN {} was not undone "
      "(its change stays): {}",
      txn.id_, lsn, std::string(s.message()));
  Logf(LogLevel::kWarning, "{}: recovery (skip_damaged): {}", path_, what);
  report_.skipped.push_back(std::move(what));
  return true;
}

absl::Status Store::UndoLoser(Transaction& txn, LogReader& reader) {
  Lsn cur = txn.own_log_position().undo_next;
  while (cur != kInvalidLsn) {
    absl::StatusOr<LogRecord> rec = reader.ReadAt(cur);
    absl::Status bad = rec.status();
    if (bad.ok() && (rec->header.type != RecordType::kMtr || rec->header.txn_id != txn.id_)) {
      bad = Malformed(*rec, fmt::format("undo chain of transaction {} reaches it", txn.id_));
    }
    MtrUndoInfo info;
    if (bad.ok() && !ReadUndoInfo(rec->payload, &info)) {
      bad = Malformed(*rec, "bad entry");
    }
    if (!bad.ok()) {
      // The chain is broken here: nothing older can be found.
      if (!SkipDamagedUndo(txn, cur, bad)) return bad;
      break;
    }
    const Lsn prev = rec->header.prev_lsn;
    if (info.compensation) {
      cur = info.undo_next;
      continue;
    }
    if (info.has_undo) {
      std::vector<std::byte> payload(info.undo.begin(), info.undo.end());
      if (absl::Status s = RunUndo(txn, info.rm, payload, prev); !s.ok()) {
        if (!SkipDamagedUndo(txn, cur, s)) return s;
      } else {
        ++report_.operations_undone;
      }
    }
    cur = prev;
  }
  return EndTransaction(txn, RecordType::kAbort, Durability::kNone);
}

absl::Status Store::Recover() {
  const auto t0 = std::chrono::steady_clock::now();
  const SuperblockRoots roots = pool_->roots();
  absl::StatusOr<std::unique_ptr<LogReader>> reader_or =
      LogReader::Open(env_.get(), options_.recovery_mode);
  if (!reader_or.ok()) return reader_or.status();
  LogReader& reader = **reader_or;

  absl::btree_set<PageId> free_set;
  std::vector<PageId> trunks;
  PageId high_water = kFirstDataPage;
  std::uint64_t next_txn = 1;
  struct Loser {
    Lsn first = kInvalidLsn, last = kInvalidLsn, undo_next = kInvalidLsn;
  };
  absl::flat_hash_map<std::uint64_t, Loser> att;
  Lsn end = kFirstLsn;
  report_.checkpoint_lsn = roots.checkpoint_lsn;

  if (reader.empty()) {
    if (roots.checkpoint_lsn != kInvalidLsn) {
      return absl::DataLossError(fmt::format(
          "{}: the superblock names a checkpoint at LSN {} but the log directory {} holds no "
          "log segments",
          path_, roots.checkpoint_lsn, env_->Describe("")));
    }
    report_.new_store = true;
    high_water = std::max<PageId>(pool_->page_count(), kFirstDataPage);
  } else {
    Lsn start = reader.first_lsn();
    if (roots.checkpoint_lsn != kInvalidLsn) {
      absl::StatusOr<LogRecord> ck = reader.ReadAt(roots.checkpoint_lsn);
      if (!ck.ok()) return ck.status();
      if (ck->header.type != RecordType::kCheckpoint) {
        return Malformed(*ck, "the superblock's checkpoint LSN names no checkpoint record");
      }
      CheckpointPayload cp;
      if (!DecodeCheckpoint(ck->payload, &cp)) return Malformed(*ck, "truncated checkpoint");
      start = cp.redo_lsn;
      high_water = cp.high_water;
      next_txn = cp.next_txn_id;
      if (high_water < kFirstDataPage || high_water > pool_->page_count()) {
        return Malformed(*ck, fmt::format("its page high-water mark {} is outside the file's {} "
                                          "pages ({})",
                                          high_water, pool_->page_count(), path_));
      }
      for (const CheckpointPayload::Active& a : cp.active) {
        att[a.txn_id] = {a.first_lsn, a.last_lsn, a.undo_next_lsn};
      }
      // The free list as of the checkpoint's redo LSN.
      for (PageId t = roots.free_list_head; t != kInvalidPageId;) {
        if (trunks.size() > pool_->page_count()) {
          return absl::DataLossError(
              fmt::format("{}: the free list's trunk chain loops (at page {})", path_, t));
        }
        absl::StatusOr<ReadPageGuard> g = pool_->ReadPage(t);
        if (!g.ok()) return g.status();
        absl::StatusOr<FreeListTrunk> trunk = DecodeFreeListTrunk(t, g->data(), path_);
        if (!trunk.ok()) return trunk.status();
        const PageId next = trunk->next;
        for (PageId id : trunk->ids) {
          if (id < kFirstDataPage || id >= pool_->page_count()) {
            return absl::DataLossError(fmt::format(
                "{}: free-list trunk page {} lists page {}, outside the file's data pages [{}, {})",
                path_, t, id, kFirstDataPage, pool_->page_count()));
          }
          free_set.insert(id);
        }
        trunks.push_back(t);
        t = next;
      }
    }
    report_.start_lsn = start;
    // What recovery from this checkpoint needs stays until its successor is superseded too.
    Lsn oldest_needed = start;
    for (const auto& [id, l] : att) oldest_needed = std::min(oldest_needed, l.first);
    {
      MutexLock lock(&checkpoint_mu_);  // no checkpoint can run yet; the field is checkpoints'
      prev_oldest_needed_ = oldest_needed;
    }

    // Analysis: where the log ends and which transactions never finished.
    if (absl::Status s = reader.Seek(start); !s.ok()) return s;
    LogRecord rec;
    for (;;) {
      absl::StatusOr<bool> more = reader.Next(&rec);
      if (!more.ok()) return more.status();
      if (!*more) break;
      ++report_.records_scanned;
      const RecordHeader& h = rec.header;
      if (h.txn_id != 0) {
        next_txn = std::max(next_txn, h.txn_id + 1);
        if (h.type == RecordType::kCommit || h.type == RecordType::kAbort) {
          att.erase(h.txn_id);
        } else if (h.type == RecordType::kMtr) {
          Loser& l = att[h.txn_id];
          if (l.first == kInvalidLsn) l.first = h.lsn;
          l.last = h.lsn;
          MtrUndoInfo info;
          if (!ReadUndoInfo(rec.payload, &info)) {
            return Malformed(rec, "bad entry");
          }
          l.undo_next = info.compensation ? info.undo_next : h.lsn;
        }
      }
    }
    end = reader.end_lsn();
    report_.end_lsn = end;
    report_.damaged_tail_lsn = reader.damaged_tail_lsn();
    report_.damage = reader.damage();
  }

  // Appending resumes at the end found; the tail past it is cut and the log synced, so nothing
  // redo writes to the pages can get ahead of the log.
  absl::StatusOr<std::unique_ptr<LogManager>> log =
      LogManager::Open(env_.get(), options_.log, reader.segments(), end);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);

  if (!reader.empty()) {
    // Redo: repeat history from the redo LSN, page by page where the page is behind.
    if (absl::Status s = reader.Seek(report_.start_lsn); !s.ok()) return s;
    reader.StopAt(end);
    // The pages redo may name: those of the file as the superblock has it, or of the checkpoint,
    // and those the log itself extends the file by.
    PageId file_end = std::max(pool_->page_count(), high_water);
    LogRecord rec;
    for (;;) {
      absl::StatusOr<bool> more = reader.Next(&rec);
      if (!more.ok()) return more.status();
      if (!*more || rec.header.lsn >= end) break;
      if (rec.header.type != RecordType::kMtr) continue;
      if (absl::Status s = Redo(rec, free_set, high_water, file_end); !s.ok()) return s;
    }
    report_.bytes_scanned = end - report_.start_lsn;
  }
  ConnectFlusher();

  // The allocation state: the checkpoint's free list with the replayed allocations and frees,
  // plus pages past the high-water mark (allocated by changes that never reached the log).
  {
    MutexLock lock(&alloc_mu_);
    for (PageId p = high_water; p < pool_->page_count(); ++p) free_set.insert(p);
    // Those pages are named by the free list from now on: below the mark like every other.
    high_water = std::max<PageId>(high_water, pool_->page_count());
    for (PageId t : trunks) free_set.erase(t);
    free_ = std::move(free_set);
    trunks_ = std::move(trunks);
    high_water_ = high_water;
  }
  next_txn_id_.store(next_txn, std::memory_order_relaxed);

  // Undo's own changes must follow the full-page-image rule for the checkpoint recovery started
  // from (a crash before the checkpoint below recovers from it again).
  log_->ResumeRedoLsn(report_.start_lsn);

  // Undo: roll back every transaction that neither committed nor finished aborting.
  std::vector<std::unique_ptr<Transaction>> losers;
  for (const auto& [id, l] : att) {
    std::unique_ptr<Transaction> txn(
        new Transaction(this, log_.get(), id, {l.first, l.last, l.undo_next, false}));
    MutexLock lock(&txn_mu_);
    active_.emplace(id, txn.get());
    losers.push_back(std::move(txn));
  }
  std::sort(losers.begin(), losers.end(), [](const auto& a, const auto& b) {
    return a->own_log_position().last > b->own_log_position().last;
  });
  for (auto& txn : losers) {
    if (absl::Status s = UndoLoser(*txn, reader); !s.ok()) {
      // Leave every loser as the log has it (no abort record): the next open undoes them.
      for (auto& l : losers) l->ended_ = true;
      if (absl::IsDataLoss(s) || absl::IsOutOfRange(s) || absl::IsInvalidArgument(s)) {
        return absl::Status(
            s.code(), fmt::format("{}: recovery cannot roll back an unfinished transaction: {}; "
                                  "StoreOptions::skip_damaged opens the store leaving that "
                                  "operation's change in place (and says so)",
                                  path_, std::string(s.message())));
      }
      return s;
    }
    ++report_.transactions_undone;
  }
  losers.clear();

  // A checkpoint makes this recovery's work durable and starts the next log position.
  {
    MutexLock lock(&checkpoint_mu_);
    if (absl::Status s = CheckpointLocked(); !s.ok()) return s;
  }
  report_.duration = std::chrono::steady_clock::now() - t0;
  if (!report_.new_store && (report_.pages_redone > 0 || report_.transactions_undone > 0 ||
                             report_.damaged_tail_lsn != kInvalidLsn || !report_.skipped.empty())) {
    Logf(report_.damaged_tail_lsn != kInvalidLsn || !report_.skipped.empty() ? LogLevel::kWarning
                                                                             : LogLevel::kInfo,
         "{}: recovered: {}", path_, report_.ToString());
  }
  StartCheckpointer();
  return absl::OkStatus();
}

}  // namespace pagestore
