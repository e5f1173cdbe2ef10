// Recovery on open (wal/README.md, "Recovery"): analysis, redo, undo of unfinished
// transactions, and the report of what was done, dropped or skipped.
#include "wal/recovery.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

#include "buffer/buffer_pool_internals.h"
#include "storage/logging.h"
#include "wal/free_list_format.h"

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
// Redo

// The page the entries of one record change, latched for writing while they are applied; its
// LSN is stamped when the record moves on to another page or ends.
class Recovery::PageRedo {
 public:
  PageRedo(Recovery& r, const LogRecord& rec) : r_(r), rec_(rec), lsn_(rec.header.lsn) {}
  ~PageRedo() { Close(); }

  // The bytes of page `id` to apply an entry to, nullptr when it is not applied (the page is
  // already past this record, or skip_damaged passes over it). `image`: a full image is
  // restored, so the page is not read. `first`: the entry must be the page's first.
  absl::StatusOr<std::byte*> Open(PageId id, bool image, PageId file_end) {
    if (page_.valid() && page_.page_id() == id) {
      if (image) return Malformed(rec_, "bad entry");  // an image comes first
      return apply_ ? page_.mutable_data().data() : nullptr;
    }
    if (id == skipping_) return nullptr;
    Close();
    if (id < kFirstDataPage)
      return Malformed(rec_, fmt::format("change to superblock page {}", id));
    if (id >= file_end) return BeyondTheLog(rec_, id, file_end);
    BufferPool& pool = *r_.core_.pool;
    if (absl::Status s = BufferPoolInternals::EnsurePageCount(pool, id + 1); !s.ok()) return s;
    absl::StatusOr<WritePageGuard> g =
        image ? BufferPoolInternals::OverwritePage(pool, id) : pool.WritePage(id);
    if (!g.ok()) return Unreadable(id, g.status());
    page_ = std::move(*g);
    apply_ = page_.lsn() < lsn_;
    (apply_ ? r_.report_.pages_redone : r_.report_.pages_skipped)++;
    return apply_ ? page_.mutable_data().data() : nullptr;
  }

  void Close() {
    if (page_.valid() && apply_) page_.set_lsn(lsn_);
    page_.Release();
    apply_ = false;
  }

 private:
  absl::StatusOr<std::byte*> Unreadable(PageId id, const absl::Status& st) {
    const bool damaged = absl::IsDataLoss(st);
    if (damaged && r_.core_.options.skip_damaged) {
      // The page stays as damaged as it is (its readers get DataLoss); the rest is redone.
      std::string what = fmt::format("page {}: its changes logged at LSN {} were not redone: {}",
                                     id, lsn_, std::string(st.message()));
      Logf(LogLevel::kWarning, "{}: recovery (skip_damaged): {}", r_.core_.path, what);
      r_.report_.skipped.push_back(std::move(what));
      skipping_ = id;
      return nullptr;
    }
    return absl::Status(st.code(),
                        fmt::format("redo of LSN {}: {}{}", lsn_, std::string(st.message()),
                                    damaged ? "; StoreOptions::skip_damaged opens the store "
                                              "without redoing this page's changes (and says so)"
                                            : ""));
  }

  Recovery& r_;
  const LogRecord& rec_;
  const Lsn lsn_;
  WritePageGuard page_;
  bool apply_ = false;
  PageId skipping_ = kInvalidPageId;  // a damaged page whose entries skip_damaged passes over
};

absl::Status Recovery::RedoAllocation(const LogRecord& rec, const MtrEntryView& e,
                                      PageId& file_end) {
  const PageId id = e.page;
  if (id < kFirstDataPage) {
    return Malformed(rec, fmt::format("allocation entry for superblock page {}", id));
  }
  // Extensions are logged one at a time, in order: the next one names the page at the end of
  // the file as the log has grown it, and no entry names a page past that.
  if (e.kind == MtrEntry::kExtend && id == file_end) ++file_end;
  if (id >= file_end) return BeyondTheLog(rec, id, file_end);
  high_water_ = std::max(high_water_, id + 1);
  // The page exists even if the page count never reached the superblock.
  if (absl::Status s = BufferPoolInternals::EnsurePageCount(*core_.pool, id + 1); !s.ok()) return s;
  if (e.kind == MtrEntry::kFree) {
    free_set_.insert(id);
  } else {
    free_set_.erase(id);
  }
  return absl::OkStatus();
}

absl::Status Recovery::Redo(const LogRecord& rec, PageId& file_end) {
  PageRedo page(*this, rec);
  absl::Status status;
  auto failed = [&](absl::Status s) {
    status = std::move(s);
    return false;
  };
  const bool ok = DecodeMtrPayload(rec.payload, [&](const MtrEntryView& e) {
    switch (e.kind) {
      case MtrEntry::kPageBytes: {
        absl::StatusOr<std::byte*> p = page.Open(e.page, /*image=*/false, file_end);
        if (!p.ok()) return failed(p.status());
        if (*p != nullptr) std::memcpy(*p + e.offset, e.bytes.data(), e.length);
        return true;
      }
      case MtrEntry::kPageImage: {
        absl::StatusOr<std::byte*> p = page.Open(e.page, /*image=*/true, file_end);
        if (!p.ok()) return failed(p.status());
        if (*p != nullptr) {
          const std::size_t hole = e.offset, hole_len = e.length;
          std::memcpy(*p, e.bytes.data(), hole);
          std::memset(*p + hole, 0, hole_len);
          std::memcpy(*p + hole + hole_len, e.bytes.data() + hole, kPageSize - hole - hole_len);
          ++report_.page_images;
        }
        return true;
      }
      case MtrEntry::kAlloc:
      case MtrEntry::kExtend:
      case MtrEntry::kFree:
        if (absl::Status s = RedoAllocation(rec, e, file_end); !s.ok()) return failed(s);
        return true;
      case MtrEntry::kUndo:
      case MtrEntry::kCompensation:
        return true;
    }
    return false;
  });
  page.Close();
  if (!status.ok()) return status;
  if (!ok) return Malformed(rec, "bad entry");
  return absl::OkStatus();
}

absl::Status Recovery::RedoAll(LogReader& reader) {
  // Repeat history from the redo LSN, page by page where the page is behind.
  if (absl::Status s = reader.Seek(report_.start_lsn); !s.ok()) return s;
  reader.StopAt(end_);
  // The pages redo may name: those of the file as the superblock has it, or of the checkpoint,
  // and those the log itself extends the file by.
  PageId file_end = std::max(core_.pool->page_count(), high_water_);
  LogRecord rec;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&rec);
    if (!more.ok()) return more.status();
    if (!*more || rec.header.lsn >= end_) break;
    // A commit record's payload frees the pages its transaction gave to FreeAtCommit.
    const bool frees = rec.header.type == RecordType::kCommit && !rec.payload.empty();
    if (rec.header.type != RecordType::kMtr && !frees) continue;
    if (absl::Status s = Redo(rec, file_end); !s.ok()) return s;
  }
  report_.bytes_scanned = end_ - report_.start_lsn;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Analysis

absl::Status Recovery::ReadFreeList(PageId head) {
  BufferPool& pool = *core_.pool;
  for (PageId t = head; t != kInvalidPageId;) {
    if (trunks_.size() > pool.page_count()) {
      return absl::DataLossError(
          fmt::format("{}: the free list's trunk chain loops (at page {})", core_.path, t));
    }
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(t);
    if (!g.ok()) return g.status();
    absl::StatusOr<FreeListTrunk> trunk = DecodeFreeListTrunk(t, g->data(), core_.path);
    if (!trunk.ok()) return trunk.status();
    for (PageId id : trunk->ids) {
      if (id < kFirstDataPage || id >= pool.page_count()) {
        return absl::DataLossError(fmt::format(
            "{}: free-list trunk page {} lists page {}, outside the file's data pages [{}, {})",
            core_.path, t, id, kFirstDataPage, pool.page_count()));
      }
      free_set_.insert(id);
    }
    trunks_.push_back(t);
    t = trunk->next;
  }
  return absl::OkStatus();
}

absl::Status Recovery::ReadCheckpoint(LogReader& reader, Lsn checkpoint_lsn,
                                      PageId free_list_head) {
  absl::StatusOr<LogRecord> ck = reader.ReadAt(checkpoint_lsn);
  if (!ck.ok()) return ck.status();
  if (ck->header.type != RecordType::kCheckpoint) {
    return Malformed(*ck, "the superblock's checkpoint LSN names no checkpoint record");
  }
  CheckpointPayload cp;
  if (!DecodeCheckpoint(ck->payload, &cp)) return Malformed(*ck, "truncated checkpoint");
  report_.start_lsn = cp.redo_lsn;
  high_water_ = cp.high_water;
  next_txn_ = cp.next_txn_id;
  const PageId pages = core_.pool->page_count();
  if (high_water_ < kFirstDataPage || high_water_ > pages) {
    return Malformed(*ck, fmt::format("its page high-water mark {} is outside the file's {} "
                                      "pages ({})",
                                      high_water_, pages, core_.path));
  }
  for (const CheckpointPayload::Active& a : cp.active) {
    losers_[a.txn_id] = {a.first_lsn, a.last_lsn, a.undo_next_lsn};
  }
  // The free list as of the checkpoint's redo LSN.
  return ReadFreeList(free_list_head);
}

absl::Status Recovery::Analyze(LogReader& reader) {
  if (absl::Status s = reader.Seek(report_.start_lsn); !s.ok()) return s;
  LogRecord rec;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&rec);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++report_.records_scanned;
    const RecordHeader& h = rec.header;
    if (h.txn_id == 0) continue;
    next_txn_ = std::max(next_txn_, h.txn_id + 1);
    if (h.type == RecordType::kCommit || h.type == RecordType::kAbort) {
      losers_.erase(h.txn_id);
    } else if (h.type == RecordType::kMtr) {
      Loser& l = losers_[h.txn_id];
      if (l.first == kInvalidLsn) l.first = h.lsn;
      l.last = h.lsn;
      MtrUndoInfo info;
      if (!ReadUndoInfo(rec.payload, &info)) return Malformed(rec, "bad entry");
      l.undo_next = info.compensation ? info.undo_next : h.lsn;
    }
  }
  end_ = reader.end_lsn();
  report_.end_lsn = end_;
  report_.damaged_tail_lsn = reader.damaged_tail_lsn();
  report_.damage = reader.damage();
  return absl::OkStatus();
}

void Recovery::RebuildAllocator() {
  // Pages past the high-water mark were allocated by changes that never reached the log: free.
  const PageId pages = core_.pool->page_count();
  for (PageId p = high_water_; p < pages; ++p) free_set_.insert(p);
  // Those pages are named by the free list from now on: below the mark like every other.
  core_.alloc.Reset(std::move(free_set_), std::move(trunks_), std::max<PageId>(high_water_, pages));
  core_.txns.SetNextId(next_txn_);
}

// ---------------------------------------------------------------------------------------------
// Undo

bool Recovery::SkipDamagedUndo(const TxnState& txn, Lsn lsn, const absl::Status& s) {
  // Only damage is skipped: a missing handler or a failed disk is not the page's fault.
  if (!core_.options.skip_damaged ||
      !(absl::IsDataLoss(s) || absl::IsOutOfRange(s) || absl::IsInvalidArgument(s))) {
    return false;
  }
  std::string what = fmt::format(
      "transaction {}: the operation logged at LSN {} was not undone "
      "(its change stays): {}",
      txn.id, lsn, std::string(s.message()));
  Logf(LogLevel::kWarning, "{}: recovery (skip_damaged): {}", core_.path, what);
  report_.skipped.push_back(std::move(what));
  return true;
}

absl::Status Recovery::UndoLoser(TxnState& txn, LogReader& reader) {
  Lsn cur = txn.own_position().undo_next;
  while (cur != kInvalidLsn) {
    absl::StatusOr<LogRecord> rec = reader.ReadAt(cur);
    absl::Status bad = rec.status();
    if (bad.ok() && (rec->header.type != RecordType::kMtr || rec->header.txn_id != txn.id)) {
      bad = Malformed(*rec, fmt::format("undo chain of transaction {} reaches it", txn.id));
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
      if (absl::Status s = RunUndo(core_, txn, info.rm, payload, prev); !s.ok()) {
        if (!SkipDamagedUndo(txn, cur, s)) return s;
      } else {
        ++report_.operations_undone;
      }
    }
    cur = prev;
  }
  return EndTransaction(core_, txn, RecordType::kAbort, Durability::kNone);
}

absl::Status Recovery::UndoLosers(LogReader& reader) {
  std::vector<std::unique_ptr<TxnState>> losers;
  for (const auto& [id, l] : losers_) {
    auto txn = std::make_unique<TxnState>(
        id, core_.log.get(), TxnState::LogPosition{l.first, l.last, l.undo_next, false});
    core_.txns.Add(txn.get());
    losers.push_back(std::move(txn));
  }
  std::sort(losers.begin(), losers.end(), [](const auto& a, const auto& b) {
    return a->own_position().last > b->own_position().last;
  });
  for (auto& txn : losers) {
    if (absl::Status s = UndoLoser(*txn, reader); !s.ok()) {
      // Leave every loser as the log has it (no abort record): the next open undoes them.
      for (auto& l : losers) core_.txns.Remove(l->id);
      if (absl::IsDataLoss(s) || absl::IsOutOfRange(s) || absl::IsInvalidArgument(s)) {
        return absl::Status(
            s.code(), fmt::format("{}: recovery cannot roll back an unfinished transaction: {}; "
                                  "StoreOptions::skip_damaged opens the store leaving that "
                                  "operation's change in place (and says so)",
                                  core_.path, std::string(s.message())));
      }
      return s;
    }
    ++report_.transactions_undone;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The whole

void Recovery::LogOutcome() {
  if (report_.new_store) return;
  const bool lost = report_.damaged_tail_lsn != kInvalidLsn || !report_.skipped.empty();
  if (lost || report_.pages_redone > 0 || report_.transactions_undone > 0) {
    Logf(lost ? LogLevel::kWarning : LogLevel::kInfo, "{}: recovered: {}", core_.path,
         report_.ToString());
  }
}

absl::Status Recovery::Run() {
  const auto t0 = std::chrono::steady_clock::now();
  const SuperblockRoots roots = core_.pool->roots();
  absl::StatusOr<std::unique_ptr<LogReader>> reader_or =
      LogReader::Open(core_.env.get(), core_.options.recovery_mode);
  if (!reader_or.ok()) return reader_or.status();
  LogReader& reader = **reader_or;
  report_.checkpoint_lsn = roots.checkpoint_lsn;

  if (reader.empty()) {
    if (roots.checkpoint_lsn != kInvalidLsn) {
      return absl::DataLossError(fmt::format(
          "{}: the superblock names a checkpoint at LSN {} but the log directory {} holds no "
          "log segments",
          core_.path, roots.checkpoint_lsn, core_.env->Describe("")));
    }
    report_.new_store = true;
    high_water_ = std::max<PageId>(core_.pool->page_count(), kFirstDataPage);
  } else {
    report_.start_lsn = reader.first_lsn();
    if (roots.checkpoint_lsn != kInvalidLsn) {
      if (absl::Status s = ReadCheckpoint(reader, roots.checkpoint_lsn, roots.free_list_head);
          !s.ok()) {
        return s;
      }
    }
    // What recovery from this checkpoint needs stays until its successor is superseded too.
    Lsn oldest_needed = report_.start_lsn;
    for (const auto& [id, l] : losers_) oldest_needed = std::min(oldest_needed, l.first);
    core_.checkpointer.SetPreviousOldestNeeded(oldest_needed);
    if (absl::Status s = Analyze(reader); !s.ok()) return s;
  }

  // Appending resumes at the end found; the tail past it is cut and the log synced, so nothing
  // redo writes to the pages can get ahead of the log.
  absl::StatusOr<std::unique_ptr<LogManager>> log =
      LogManager::Open(core_.env.get(), core_.options.log, reader.segments(), end_);
  if (!log.ok()) return log.status();
  core_.ConnectLog(std::move(*log));

  if (!reader.empty()) {
    if (absl::Status s = RedoAll(reader); !s.ok()) return s;
  }
  core_.ConnectWalRule();
  RebuildAllocator();

  // Undo's own changes must follow the full-page-image rule for the checkpoint recovery started
  // from (a crash before the checkpoint below recovers from it again).
  core_.log->ResumeRedoLsn(report_.start_lsn);
  if (absl::Status s = UndoLosers(reader); !s.ok()) return s;

  // A checkpoint makes this recovery's work durable and starts the next log position.
  if (absl::Status s = core_.checkpointer.Checkpoint(); !s.ok()) return s;
  report_.duration = std::chrono::steady_clock::now() - t0;
  LogOutcome();
  return absl::OkStatus();
}

}  // namespace pagestore
