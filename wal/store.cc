#include "wal/store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

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

// The pool's WAL rule, forwarded to the log once it is open. Before that (recovery's redo
// replays records read back from the log files), every record is already on disk.
class Store::Flusher final : public LogFlusher {
 public:
  absl::Status FlushUntil(Lsn lsn) override {
    LogManager* log = log_.load(std::memory_order_acquire);
    return log == nullptr ? absl::OkStatus() : log->FlushUntil(lsn);
  }
  void Set(LogManager* log) { log_.store(log, std::memory_order_release); }

 private:
  std::atomic<LogManager*> log_{nullptr};
};

// ---------------------------------------------------------------------------------------------
// MiniTransaction

MiniTransaction::MiniTransaction(MiniTransaction&& o) noexcept
    : store_(o.store_),
      txn_(o.txn_),
      held_(std::move(o.held_)),
      allocs_(std::move(o.allocs_)),
      undo_(std::move(o.undo_)),
      compensation_undo_next_(o.compensation_undo_next_),
      compensation_(o.compensation_),
      done_(std::exchange(o.done_, true)) {}

MiniTransaction::~MiniTransaction() {
  if (!done_) Rollback();
}

MiniTransaction::Held* MiniTransaction::Find(PageId id) {
  for (Held& h : held_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

absl::StatusOr<PageSpan> MiniTransaction::GetForWrite(PageId id) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (Held* h = Find(id)) {
    if (!h->write) {
      return absl::FailedPreconditionError(fmt::format(
          "page {} is latched for reading in this mini-transaction; latch it for writing first",
          id));
    }
    return h->guard.mutable_data();
  }
  absl::StatusOr<WritePageGuard> g = store_->pool_->WritePage(id);
  if (!g.ok()) return g.status();
  Held h{id, true, false, {}, std::move(*g), std::make_unique<PageCopy>()};
  std::memcpy(h.before->data(), h.guard.data().data(), kPageSize);
  held_.push_back(std::move(h));
  return held_.back().guard.mutable_data();
}

absl::StatusOr<ConstPageSpan> MiniTransaction::GetForRead(PageId id) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (Held* h = Find(id)) return h->write ? h->guard.data() : h->read.data();
  absl::StatusOr<ReadPageGuard> g = store_->pool_->ReadPage(id);
  if (!g.ok()) return g.status();
  held_.push_back(Held{id, false, false, std::move(*g), {}, nullptr});
  return held_.back().read.data();
}

absl::StatusOr<PageId> MiniTransaction::AllocatePage(PageType type) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (absl::Status s = store_->Usable(); !s.ok()) return s;
  absl::StatusOr<Store::Allocation> a = store_->PopFreePage();
  if (!a.ok()) return a.status();
  absl::StatusOr<WritePageGuard> g;
  if (a->extended) {
    g = store_->ExtendFile(type, /*for_mtr=*/true);
  } else {
    g = store_->pool_->OverwritePage(a->id);
    if (g.ok()) {
      InitPage(g->mutable_data(), type);
    } else {
      store_->ReturnFreePage(a->id);
    }
  }
  if (!g.ok()) return g.status();
  const PageId id = g->page_id();
  store_->allocated_.fetch_add(1, std::memory_order_relaxed);
  if (!a->extended) store_->reused_.fetch_add(1, std::memory_order_relaxed);
  allocs_.push_back({a->extended ? MtrEntry::kExtend : MtrEntry::kAlloc, id});
  held_.push_back(Held{id, true, true, {}, std::move(*g), nullptr});
  return id;
}

absl::Status MiniTransaction::FreePage(PageId id) {
  if (id < kFirstDataPage) {
    return absl::InvalidArgumentError(fmt::format("page {} is a superblock page", id));
  }
  {
    MutexLock lock(&store_->alloc_mu_);
    auto holds = [id](const std::vector<PageId>& v) {
      return std::find(v.begin(), v.end(), id) != v.end();
    };
    if (store_->free_.contains(id) || holds(store_->trunks_) || holds(store_->prev_trunks_) ||
        holds(store_->pending_trunks_)) {
      return absl::InvalidArgumentError(fmt::format("page {} is already free", id));
    }
  }
  for (const AllocOp& op : allocs_) {
    if (op.kind == MtrEntry::kFree && op.id == id) {
      return absl::InvalidArgumentError(fmt::format("page {} is already freed", id));
    }
  }
  if (absl::StatusOr<PageSpan> p = GetForWrite(id); !p.ok()) return p.status();
  allocs_.push_back({MtrEntry::kFree, id});
  return absl::OkStatus();
}

absl::Status MiniTransaction::ReleasePage(PageId id) {
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->id != id) continue;
    if (it->write &&
        (it->fresh || std::memcmp(it->before->data(), it->guard.data().data(), kPageSize) != 0)) {
      return absl::FailedPreconditionError(fmt::format(
          "page {} was changed in this mini-transaction; it is released at Commit", id));
    }
    for (const AllocOp& op : allocs_) {
      if (op.id == id) {
        return absl::FailedPreconditionError(
            fmt::format("page {} was allocated or freed in this mini-transaction", id));
      }
    }
    held_.erase(it);
    return absl::OkStatus();
  }
  return absl::NotFoundError(fmt::format("page {} is not held by this mini-transaction", id));
}

void MiniTransaction::LogUndo(std::uint16_t resource_manager, std::span<const std::byte> payload) {
  undo_.emplace(resource_manager, std::vector<std::byte>(payload.begin(), payload.end()));
}

namespace {

// Appends kPageBytes entries for the ranges where `now` differs from `before`, merging ranges
// separated by fewer bytes than an entry costs.
void EncodeDiff(PageId id, const std::byte* before, const std::byte* now, MtrPayloadWriter& enc) {
  constexpr std::size_t kMergeGap = 16;
  std::size_t i = 0;
  while (i < kPageSize) {
    // Skip equal words.
    while (i < kPageSize) {
      std::uint64_t a, b;
      std::memcpy(&a, before + i, 8);
      std::memcpy(&b, now + i, 8);
      if (a != b) break;
      i += 8;
    }
    if (i >= kPageSize) break;
    const std::size_t start = i;
    std::size_t end = i + 8;  // exclusive, word aligned
    std::size_t probe = end;
    while (probe < kPageSize && probe < end + kMergeGap) {
      std::uint64_t a, b;
      std::memcpy(&a, before + probe, 8);
      std::memcpy(&b, now + probe, 8);
      probe += 8;
      if (a != b) end = probe;
    }
    enc.PageBytes(id, static_cast<std::uint16_t>(start),
                  std::span<const std::byte>(now + start, end - start));
    i = end;
  }
}

// A full page image without its longest run of zero words (the free gap of a slotted page, or
// the empty tail of a fresh one): offset and length of the hole, then the bytes around it.
void EncodeImage(PageId id, const std::byte* now, MtrPayloadWriter& enc) {
  std::size_t best = 0, best_len = 0, run = 0;
  for (std::size_t off = kPageHeaderSize; off < kPageSize; off += 8) {
    std::uint64_t w;
    std::memcpy(&w, now + off, 8);
    if (w != 0) {
      run = 0;
      continue;
    }
    run += 8;
    if (run > best_len) {
      best_len = run;
      best = off + 8 - run;
    }
  }
  enc.PageImage(id, static_cast<std::uint16_t>(best), static_cast<std::uint16_t>(best_len),
                ConstPageSpan(now, kPageSize));
}

}  // namespace

absl::StatusOr<Lsn> MiniTransaction::Commit() {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  Store& s = *store_;
  std::vector<std::byte> payload;
  std::vector<Held*> changed;
  absl::StatusOr<Lsn> lsn;
  for (;;) {
    payload.clear();
    changed.clear();
    MtrPayloadWriter enc(&payload);
    const Lsn redo = s.log_->redo_lsn();
    for (Held& h : held_) {
      if (!h.write) continue;
      const std::byte* now = h.guard.data().data();
      if (h.fresh || ReadPageHeader(ConstPageSpan(h.before->data(), kPageSize)).lsn < redo) {
        // A torn write of this page is repaired from this image at recovery.
        if (!h.fresh && std::memcmp(h.before->data(), now, kPageSize) == 0) continue;
        EncodeImage(h.id, now, enc);
      } else {
        const std::size_t at = payload.size();
        EncodeDiff(h.id, h.before->data(), now, enc);
        if (payload.size() == at) continue;
      }
      changed.push_back(&h);
    }
    for (const AllocOp& op : allocs_) enc.Allocation(op.kind, op.id);
    if (undo_ && txn_ != nullptr && !compensation_) enc.Undo(undo_->first, undo_->second);
    if (compensation_) enc.Compensation(compensation_undo_next_);
    if (payload.empty()) {
      ReleaseAll();
      return kInvalidLsn;
    }
    LogManager::Record rec{RecordType::kMtr, txn_ ? txn_->id_ : 0,
                           txn_ ? txn_->last_lsn_ : kInvalidLsn, payload};
    lsn = s.log_->Append(rec, redo == kInvalidLsn ? kInvalidLsn : redo, [&](Lsn at) {
      if (txn_ != nullptr) {
        if (txn_->first_lsn_ == kInvalidLsn) txn_->first_lsn_ = at;
        txn_->last_lsn_ = at;
        txn_->undo_next_ = compensation_ ? compensation_undo_next_ : at;
        if (undo_ && !compensation_) {
          txn_->undo_.push_back({at, rec.prev_lsn, undo_->first, std::move(undo_->second)});
        }
      }
      s.ApplyAllocations(allocs_);
    });
    if (lsn.ok() || !absl::IsAborted(lsn.status())) break;
  }
  if (!lsn.ok()) {
    Rollback();
    return lsn.status();
  }
  for (Held* h : changed) h->guard.set_lsn(*lsn);
  for (const AllocOp& op : allocs_) {
    if (op.kind == MtrEntry::kFree) s.freed_.fetch_add(1, std::memory_order_relaxed);
  }
  s.mtrs_.fetch_add(1, std::memory_order_relaxed);
  ReleaseAll();
  return *lsn;
}

void MiniTransaction::ReleaseAll() {
  // Newest first, so a page latched after another is released before it.
  while (!held_.empty()) held_.pop_back();
  allocs_.clear();
  done_ = true;
}

void MiniTransaction::Rollback() {
  for (Held& h : held_) {
    if (h.write && !h.fresh)
      std::memcpy(h.guard.mutable_data().data(), h.before->data(), kPageSize);
  }
  // A page taken from the free list was initialized in its frame: its freeing record may not be
  // durable yet, so the frame must not reach the disk before the log does (were the free lost,
  // the page would be in use again, with these bytes over its contents). Stamping the log's end
  // as its LSN makes the WAL rule see to that. A page the file grew by is already logged free.
  // Its payload is wiped too: what was built in it never happened, and nothing may find it
  // looking like a live page (the hash index validates cached page ids by their contents).
  const Lsn end = store_->log_->next_lsn();
  for (Held& h : held_) {
    if (!h.fresh) continue;
    std::memset(h.guard.mutable_data().data() + kPageHeaderSize, 0, kPageSize - kPageHeaderSize);
    for (const AllocOp& op : allocs_) {
      if (op.id == h.id && op.kind == MtrEntry::kAlloc && end > kFirstLsn) h.guard.set_lsn(end - 1);
    }
  }
  for (const AllocOp& op : allocs_) {
    if (op.kind != MtrEntry::kFree) store_->ReturnFreePage(op.id);
  }
  ReleaseAll();
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::~Transaction() {
  if (orphaned_) return;  // the store's record of an unfinished transaction: recovery's to undo
  if (!ended_ && store_->Usable().ok()) {
    (void)Abort();
  }
  if (!ended_) store_->Orphan(*this);
}

MiniTransaction Transaction::BeginMtr() { return MiniTransaction(store_, this); }

absl::Status Transaction::Commit(std::optional<Durability> durability) {
  if (ended_) return absl::FailedPreconditionError(fmt::format("transaction {} has ended", id_));
  return store_->EndTransaction(*this, RecordType::kCommit, durability);
}

absl::Status Transaction::Abort() {
  if (ended_) return absl::FailedPreconditionError(fmt::format("transaction {} has ended", id_));
  while (!undo_.empty()) {
    const UndoEntry e = undo_.back();
    if (absl::Status s = store_->RunUndo(*this, e.rm, e.payload, e.prev_lsn); !s.ok()) return s;
    undo_.pop_back();
  }
  return store_->EndTransaction(*this, RecordType::kAbort, Durability::kNone);
}

// ---------------------------------------------------------------------------------------------
// Store

Store::Store(const StoreOptions& options, std::shared_ptr<LogEnv> env)
    : options_(options), env_(std::move(env)), flusher_(std::make_unique<Flusher>()) {
  undo_handlers_ = options.undo_handlers;
}

Store::~Store() {
  StopCheckpointer();
  if (!closed_ && log_ != nullptr && Usable().ok()) (void)Close();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                                   const StoreOptions& options) {
  if (options.disk.mode == OpenMode::kReadOnly) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: a store recovers and logs, so it needs a writable file; open the disk manager "
        "read-only to inspect it",
        path.string()));
  }
  absl::StatusOr<std::unique_ptr<DiskManager>> disk = OpenDiskManager(path, options.disk);
  if (!disk.ok()) return disk.status();
  absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(path.string() + "-wal");
  if (!env.ok()) return env.status();
  return Open(std::move(*disk), std::shared_ptr<LogEnv>(std::move(*env)), options);
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(std::unique_ptr<DiskManager> disk,
                                                   std::shared_ptr<LogEnv> log_env,
                                                   const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store(options, std::move(log_env)));
  store->path_ = disk->path();
  BufferPoolOptions pool_options;
  pool_options.replacer = options.replacer;
  pool_options.log_flusher = store->flusher_.get();
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create(options.pool_frames, std::move(disk), pool_options);
  if (!pool.ok()) return pool.status();
  store->pool_ = std::move(*pool);
  if (absl::Status s = store->Recover(); !s.ok()) {
    store->closed_ = true;
    return s;
  }
  return store;
}

absl::Status Store::Usable() const {
  if (log_ == nullptr) return absl::FailedPreconditionError("the store is not open");
  absl::Status f = log_->failure();
  if (f.ok()) return f;
  return absl::FailedPreconditionError(fmt::format(
      "the store's write-ahead log failed and takes no more work; reopen to recover: {}",
      f.ToString()));
}

absl::Status Store::failure() const { return Usable(); }

absl::StatusOr<std::unique_ptr<Transaction>> Store::Begin() {
  if (absl::Status s = Usable(); !s.ok()) return s;
  const std::uint64_t id = next_txn_id_.fetch_add(1, std::memory_order_relaxed);
  std::unique_ptr<Transaction> txn(new Transaction(this, id));
  MutexLock lock(&txn_mu_);
  active_.emplace(id, txn.get());
  return txn;
}

MiniTransaction Store::BeginMtr() { return MiniTransaction(this, nullptr); }

void Store::RegisterUndoHandler(std::uint16_t resource_manager, UndoHandler handler) {
  MutexLock lock(&undo_mu_);
  undo_handlers_[resource_manager] = std::move(handler);
}

absl::Status Store::RunUndo(Transaction& txn, std::uint16_t rm, std::span<const std::byte> payload,
                            Lsn undo_next) {
  UndoHandler handler;
  {
    MutexLock lock(&undo_mu_);
    auto it = undo_handlers_.find(rm);
    if (it == undo_handlers_.end()) {
      return absl::FailedPreconditionError(fmt::format(
          "transaction {}: no undo handler is registered for resource manager {}; register it "
          "(StoreOptions::undo_handlers) before opening",
          txn.id_, rm));
    }
    handler = it->second;
  }
  MiniTransaction mtr(this, &txn);
  mtr.compensation_ = true;
  mtr.compensation_undo_next_ = undo_next;
  if (absl::Status s = handler(mtr, payload); !s.ok()) {
    return absl::Status(s.code(), fmt::format("transaction {}: undo by resource manager {}: {}",
                                              txn.id_, rm, std::string(s.message())));
  }
  absl::StatusOr<Lsn> lsn = mtr.Commit();
  return lsn.status();
}

absl::Status Store::EndTransaction(Transaction& txn, RecordType type,
                                   std::optional<Durability> durability) {
  absl::Status status;
  if (txn.last_lsn_ != kInvalidLsn) {
    if (absl::Status s = Usable(); !s.ok()) return s;
    LogManager::Record rec{type, txn.id_, txn.last_lsn_, {}};
    absl::StatusOr<Lsn> lsn = log_->Append(rec, kInvalidLsn, [&](Lsn at) {
      txn.last_lsn_ = at;
      txn.ended_ = true;  // checkpoints skip it from here on
    });
    if (!lsn.ok()) return lsn.status();
    // It stays in the active table while it waits, so that a kGroup leader counts it among the
    // siblings worth waiting for.
    std::size_t siblings;
    {
      MutexLock lock(&txn_mu_);
      siblings = active_.size() - 1;
    }
    status = log_->Commit(*lsn, durability.value_or(options_.durability), siblings);
  } else {
    // No record: no checkpoint ever looks at this transaction (it skips those without a first
    // LSN), so no lock is needed.
    txn.ended_ = true;
  }
  {
    MutexLock lock(&txn_mu_);
    active_.erase(txn.id_);
  }
  (type == RecordType::kCommit ? commits_ : aborts_).fetch_add(1, std::memory_order_relaxed);
  if (status.ok()) MaybeCheckpoint();
  return status;
}

void Store::ApplyAllocations(const std::vector<MiniTransaction::AllocOp>& ops) {
  MutexLock lock(&alloc_mu_);
  for (const MiniTransaction::AllocOp& op : ops) {
    // Every page named in the log is below the high-water mark: pages past it are free.
    high_water_ = std::max(high_water_, op.id + 1);
    in_flight_.erase(op.id);
    if (op.kind == MtrEntry::kFree) free_.insert(op.id);
  }
}

void Store::Orphan(Transaction& txn) {
  MutexLock lock(&txn_mu_);
  if (txn.first_lsn_ == kInvalidLsn) {
    active_.erase(txn.id_);
    return;
  }
  // Its records are in the log without an end: it stays active (checkpoints list it and keep its
  // log) under the store's ownership, and the next open's recovery undoes it.
  std::unique_ptr<Transaction> orphan(new Transaction(this, txn.id_));
  orphan->first_lsn_ = txn.first_lsn_;
  orphan->last_lsn_ = txn.last_lsn_;
  orphan->undo_next_ = txn.undo_next_;
  orphan->orphaned_ = true;
  active_[txn.id_] = orphan.get();
  orphans_.push_back(std::move(orphan));
}

absl::StatusOr<WritePageGuard> Store::ExtendFile(PageType type, bool for_mtr) {
  PageId id;
  {
    // One extension at a time, each logged (as grown and free) before the next, so the log names
    // every page below its high-water mark: a page the file grew by is never unaccounted for,
    // even if the mini-transaction that wanted it never ends. No page latch is taken under
    // extend_mu_ (mini-transactions holding pages come here).
    std::lock_guard lock(extend_mu_);
    absl::StatusOr<PageId> grown = pool_->AllocatePageId();
    if (!grown.ok()) return grown.status();
    id = *grown;
    std::vector<std::byte> payload;
    MtrPayloadWriter enc(&payload);
    enc.Allocation(MtrEntry::kExtend, id);
    enc.Allocation(MtrEntry::kFree, id);
    absl::StatusOr<Lsn> lsn =
        log_->Append({RecordType::kMtr, 0, kInvalidLsn, payload}, kInvalidLsn, [&](Lsn) {
          MutexLock al(&alloc_mu_);
          high_water_ = std::max(high_water_, id + 1);
          // Free in the log; in memory taken by the mini-transaction, or a checkpoint's trunk.
          if (for_mtr) {
            in_flight_.insert(id);
          } else {
            pending_trunks_.push_back(id);
          }
        });
    if (!lsn.ok()) return lsn.status();
  }
  absl::StatusOr<WritePageGuard> g = pool_->OverwritePage(id);
  if (!g.ok()) {
    if (for_mtr) ReturnFreePage(id);
    return g.status();
  }
  InitPage(g->mutable_data(), type);
  return g;
}

absl::StatusOr<Store::Allocation> Store::PopFreePage() {
  MutexLock lock(&alloc_mu_);
  if (free_.empty()) return Allocation{kInvalidPageId, true};
  const PageId id = *free_.begin();
  free_.erase(free_.begin());
  in_flight_.insert(id);
  return Allocation{id, false};
}

void Store::ReturnFreePage(PageId id) {
  MutexLock lock(&alloc_mu_);
  in_flight_.erase(id);
  free_.insert(id);
}

std::vector<PageId> Store::FreePages() const {
  MutexLock lock(&alloc_mu_);
  std::vector<PageId> out(free_.begin(), free_.end());
  out.insert(out.end(), trunks_.begin(), trunks_.end());
  out.insert(out.end(), prev_trunks_.begin(), prev_trunks_.end());
  out.insert(out.end(), pending_trunks_.begin(), pending_trunks_.end());
  std::sort(out.begin(), out.end());
  return out;
}

StoreStats Store::stats() const {
  StoreStats s;
  s.mtrs = mtrs_.load(std::memory_order_relaxed);
  s.commits = commits_.load(std::memory_order_relaxed);
  s.aborts = aborts_.load(std::memory_order_relaxed);
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.pages_allocated = allocated_.load(std::memory_order_relaxed);
  s.pages_reused = reused_.load(std::memory_order_relaxed);
  s.pages_freed = freed_.load(std::memory_order_relaxed);
  MutexLock lock(&alloc_mu_);
  s.free_pages = free_.size() + trunks_.size() + prev_trunks_.size() + pending_trunks_.size();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

absl::Status Store::Checkpoint() {
  std::lock_guard lock(checkpoint_mu_);
  return CheckpointLocked();
}

PageId Store::catalog_root() const { return pool_->roots().catalog_root; }

absl::Status Store::SetCatalogRoot(PageId root) {
  std::lock_guard lock(checkpoint_mu_);
  SuperblockRoots roots = pool_->roots();
  roots.catalog_root = root;
  pool_->SetRoots(roots);
  return CheckpointLocked();
}

absl::Status Store::Close() {
  std::lock_guard lock(checkpoint_mu_);
  absl::Status s = CheckpointLocked();
  closed_ = true;
  return s;
}

void Store::MaybeCheckpoint() {
  const Lsn since = last_checkpoint_redo_.load(std::memory_order_relaxed);
  if (log_->next_lsn() - since < options_.checkpoint_interval_bytes) return;
  if (options_.background_checkpoints) {
    std::lock_guard lock(checkpointer_mu_);
    checkpoint_due_ = true;
    checkpointer_cv_.notify_one();
    return;
  }
  std::unique_lock lock(checkpoint_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is checkpointing
  (void)CheckpointLocked();       // a failure here fails the log or the disk; callers see it next
}

void Store::StartCheckpointer() {
  if (!options_.background_checkpoints) return;
  checkpointer_ = std::thread([this] {
    for (;;) {
      {
        std::unique_lock lock(checkpointer_mu_);
        checkpointer_cv_.wait(lock, [&] { return checkpoint_due_ || checkpointer_stop_; });
        if (checkpointer_stop_) return;
        checkpoint_due_ = false;
      }
      std::lock_guard lock(checkpoint_mu_);
      // A failure fails the log or the disk: every later call reports it.
      if (absl::Status s = CheckpointLocked(); !s.ok()) {
        Logf(LogLevel::kError, "background checkpoint failed: {}", s.ToString());
        if (!Usable().ok()) return;
      }
    }
  });
}

void Store::StopCheckpointer() {
  if (!checkpointer_.joinable()) return;
  {
    std::lock_guard lock(checkpointer_mu_);
    checkpointer_stop_ = true;
    checkpointer_cv_.notify_one();
  }
  checkpointer_.join();
}

absl::Status Store::CheckpointLocked() {
  if (absl::Status s = Usable(); !s.ok()) return s;
  // 1. A consistent cut at the redo LSN: active transactions and the allocation state, as of the
  //    log's end, captured while nothing can be appended.
  struct Active {
    std::uint64_t id;
    Lsn first, last, undo_next;
  };
  std::vector<Active> att;
  std::vector<PageId> free_snapshot;
  std::vector<PageId> trunks;
  std::size_t trunk_count = 0;
  PageId high_water = kFirstDataPage;
  Lsn oldest_needed = kInvalidLsn;
  Lsn redo;
  {
    MutexLock tl(&txn_mu_);
    const auto* active = &active_;  // the callback runs here, under txn_mu_
    redo = log_->BeginCheckpoint([&](Lsn at) {
      oldest_needed = at;
      for (const auto& [id, txn] : *active) {
        if (txn->first_lsn_ == kInvalidLsn || txn->ended_) continue;
        att.push_back({id, txn->first_lsn_, txn->last_lsn_, txn->undo_next_});
        oldest_needed = std::min(oldest_needed, txn->first_lsn_);
      }
      MutexLock al(&alloc_mu_);
      free_snapshot.assign(free_.begin(), free_.end());
      free_snapshot.insert(free_snapshot.end(), in_flight_.begin(), in_flight_.end());
      free_snapshot.insert(free_snapshot.end(), trunks_.begin(), trunks_.end());
      free_snapshot.insert(free_snapshot.end(), prev_trunks_.begin(), prev_trunks_.end());
      high_water = high_water_;
      // The trunks to hold this list: pages free at the cut, taken off the allocatable set right
      // here so that no record after the redo LSN can touch them.
      trunk_count = (free_snapshot.size() + kIdsPerTrunk - 1) / kIdsPerTrunk;
      while (trunks.size() < trunk_count && !free_.empty()) {
        trunks.push_back(*std::prev(free_.end()));
        free_.erase(std::prev(free_.end()));
      }
      pending_trunks_ = trunks;
    });
  }
  std::sort(free_snapshot.begin(), free_snapshot.end());

  // 2. The free list as of the cut, into trunk pages taken off the allocatable set (they stay
  //    off it until the next checkpoint supersedes this one). Trunks are written without a log
  //    record, so they may only be pages whose freeing is durable: pages free at the cut, once
  //    the log is durable up to it.
  auto give_back = [&] {
    MutexLock al(&alloc_mu_);
    for (PageId t : trunks) free_.insert(t);
    pending_trunks_.clear();
  };
  if (redo > log_->durable_lsn()) {
    if (absl::Status s = log_->FlushUntil(redo - 1); !s.ok()) {
      give_back();
      return s;
    }
  }
  while (trunks.size() < trunk_count) {
    // Too few free pages to hold the list: grow the file (logged as grown and free, and kept as
    // a trunk rather than handed out).
    absl::StatusOr<WritePageGuard> g = ExtendFile(PageType::kFreeList, /*for_mtr=*/false);
    if (!g.ok()) {
      give_back();
      return g.status();
    }
    trunks.push_back(g->page_id());
  }
  for (std::size_t t = 0; t < trunks.size(); ++t) {
    absl::StatusOr<WritePageGuard> g = pool_->OverwritePage(trunks[t]);
    if (!g.ok()) {
      give_back();
      return g.status();
    }
    const PageId next = t + 1 < trunks.size() ? trunks[t + 1] : kInvalidPageId;
    const std::size_t from = t * kIdsPerTrunk;
    EncodeFreeListTrunk(next,
                        std::span(free_snapshot)
                            .subspan(from, std::min(kIdsPerTrunk, free_snapshot.size() - from)),
                        g->mutable_data());
    g->Release();
    if (absl::Status s = pool_->FlushPage(trunks[t]); !s.ok()) {
      give_back();
      return s;
    }
  }

  // 3. The checkpoint record.
  CheckpointPayload cp;
  cp.redo_lsn = redo;
  cp.high_water = high_water;
  cp.next_txn_id = next_txn_id_.load(std::memory_order_relaxed);
  for (const Active& a : att) cp.active.push_back({a.id, a.first, a.last, a.undo_next});
  const std::vector<std::byte> payload = EncodeCheckpoint(cp);
  absl::StatusOr<Lsn> ckpt = log_->Append({RecordType::kCheckpoint, 0, 0, payload});
  absl::Status s = ckpt.status();
  if (s.ok()) s = log_->FlushUntil(*ckpt);
  // 4. Every page changed before the redo LSN reaches the disk, then the superblock points at
  //    this checkpoint and its free list.
  if (s.ok()) s = pool_->FlushAll();
  const SuperblockRoots before = pool_->roots();
  if (s.ok()) {
    SuperblockRoots roots = before;
    roots.free_list_head = trunks.empty() ? kInvalidPageId : trunks.front();
    roots.checkpoint_lsn = *ckpt;
    pool_->SetRoots(roots);
    s = pool_->FlushAll();
    // Not in force: the next sync must not name trunks given back to the free list. (A failed
    // superblock sync fails the disk manager for good; reopening recovers.)
    if (!s.ok()) pool_->SetRoots(before);
  }
  if (!s.ok()) {
    give_back();
    return s;
  }
  {
    // The superblock copies now name this checkpoint and the previous one: the trunks of the one
    // before that are free at last; the previous one's stay reserved (prev_trunks_).
    MutexLock al(&alloc_mu_);
    for (PageId old : prev_trunks_) free_.insert(old);
    prev_trunks_ = std::move(trunks_);
    trunks_ = std::move(trunks);
    pending_trunks_.clear();
  }
  last_checkpoint_redo_.store(redo, std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  // 5. The log below what recovery (from either superblock copy's checkpoint) and rollback can
  //    need.
  const Lsn keep_from = prev_oldest_needed_ == kInvalidLsn
                            ? oldest_needed
                            : std::min(oldest_needed, prev_oldest_needed_);
  prev_oldest_needed_ = oldest_needed;
  return log_->RemoveSegmentsBefore(keep_from);
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
  std::string what = fmt::format("transaction {}: the operation logged at LSN {} was not undone "
                                 "(its change stays): {}",
                                 txn.id_, lsn, std::string(s.message()));
  Logf(LogLevel::kWarning, "{}: recovery (skip_damaged): {}", path_, what);
  report_.skipped.push_back(std::move(what));
  return true;
}

absl::Status Store::UndoLoser(Transaction& txn, LogReader& reader) {
  Lsn cur = txn.undo_next_;
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
    prev_oldest_needed_ = start;
    for (const auto& [id, l] : att) prev_oldest_needed_ = std::min(prev_oldest_needed_, l.first);

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
  flusher_->Set(log_.get());

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
    std::unique_ptr<Transaction> txn(new Transaction(this, id));
    txn->first_lsn_ = l.first;
    txn->last_lsn_ = l.last;
    txn->undo_next_ = l.undo_next;
    MutexLock lock(&txn_mu_);
    active_.emplace(id, txn.get());
    losers.push_back(std::move(txn));
  }
  std::sort(losers.begin(), losers.end(),
            [](const auto& a, const auto& b) { return a->last_lsn_ > b->last_lsn_; });
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
    std::lock_guard lock(checkpoint_mu_);
    if (absl::Status s = CheckpointLocked(); !s.ok()) return s;
  }
  report_.duration = std::chrono::steady_clock::now() - t0;
  if (!report_.new_store && (report_.pages_redone > 0 || report_.transactions_undone > 0 ||
                             report_.damaged_tail_lsn != kInvalidLsn ||
                             !report_.skipped.empty())) {
    Logf(report_.damaged_tail_lsn != kInvalidLsn || !report_.skipped.empty()
             ? LogLevel::kWarning
             : LogLevel::kInfo,
         "{}: recovered: {}", path_, report_.ToString());
  }
  StartCheckpointer();
  return absl::OkStatus();
}

}  // namespace pagestore
