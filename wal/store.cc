// The Store's wiring: open, transactions' table, undo handlers, page allocation. Mini-transactions
// are in mini_transaction.cc, checkpoints in checkpoint.cc, recovery in recovery.cc.
#include "wal/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "storage/logging.h"

namespace pagestore {

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
  std::unique_ptr<Transaction> txn(new Transaction(this, log_.get(), id));
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
  if (const Lsn last = txn.own_log_position().last; last != kInvalidLsn) {
    if (absl::Status s = Usable(); !s.ok()) return s;
    LogManager::Record rec{type, txn.id_, last, {}};
    absl::StatusOr<Lsn> lsn = log_->Append(
        rec, kInvalidLsn, [&](Lsn at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(txn.log_->mutex()) {
          txn.log_position_.last = at;
          txn.log_position_.end_logged = true;  // checkpoints skip it from here on
        });
    if (!lsn.ok()) return lsn.status();
    txn.ended_ = true;
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
    // LSN), and there is no end to log.
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
  if (txn.own_log_position().first == kInvalidLsn) {
    active_.erase(txn.id_);
    return;
  }
  // Its records are in the log without an end: it stays active (checkpoints list it and keep its
  // log) under the store's ownership, and the next open's recovery undoes it.
  std::unique_ptr<Transaction> orphan(
      new Transaction(this, log_.get(), txn.id_, txn.own_log_position()));
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
    MutexLock lock(&extend_mu_);
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

void Store::ConnectFlusher() { flusher_->Set(log_.get()); }

}  // namespace pagestore
