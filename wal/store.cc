// Store (wal/store.h): opens the parts (wal/store_core.h), runs recovery, and hands out
// transactions and mini-transactions. The parts: PageAllocator (page_allocator.cc),
// TransactionTable (transaction_table.cc), Checkpointer (checkpointer.cc), Recovery
// (recovery.cc), MiniTransaction (mini_transaction.cc) and Transaction (transaction.cc).
#include "wal/store.h"

#include <fmt/format.h>

#include "wal/recovery.h"
#include "wal/store_core.h"

namespace pagestore {

Store::~Store() {
  if (core_ == nullptr) return;
  core_->checkpointer.Stop();
  if (!core_->checkpointer.closed() && core_->Usable().ok()) (void)Close();
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
  std::string path = disk->path();
  auto flusher = std::make_unique<ForwardingFlusher>();
  BufferPoolOptions pool_options;
  pool_options.replacer = options.replacer;
  pool_options.log_flusher = flusher.get();
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create(options.pool_frames, std::move(disk), pool_options);
  if (!pool.ok()) return pool.status();
  std::unique_ptr<Store> store(new Store());
  store->core_ =
      std::make_unique<StoreCore>(store.get(), options, std::move(path), std::move(log_env),
                                  std::move(flusher), std::move(*pool));
  store->pool_ = store->core_->pool.get();
  if (absl::Status s = Recovery(*store->core_).Run(); !s.ok()) {
    store->core_->checkpointer.Stop();
    store->core_.reset();  // no final checkpoint: the store never opened
    return s;
  }
  store->core_->checkpointer.Start();
  return store;
}

absl::Status Store::failure() const { return core_->Usable(); }

absl::StatusOr<std::unique_ptr<Transaction>> Store::Begin() {
  if (absl::Status s = core_->Usable(); !s.ok()) return s;
  auto state = std::make_unique<TxnState>(core_->txns.NextId(), core_->log.get());
  core_->txns.Add(state.get());
  return std::make_unique<Transaction>(StoreCore::Key(), core_.get(), std::move(state));
}

MiniTransaction Store::BeginMtr() {
  return MiniTransaction(StoreCore::Key(), core_.get(), nullptr);
}

bool Store::IsFree(PageId id) const { return !core_->alloc.CheckNotFree(id).ok(); }

std::size_t Store::max_record_bytes() const {
  return core_->log->segment_size() - kSegmentHeaderSize - kRecordHeaderSize - kRecordAlignment;
}

void Store::RegisterUndoHandler(std::uint16_t resource_manager, UndoHandler handler) {
  core_->undo_handlers.Register(resource_manager, std::move(handler));
}

absl::Status Store::Checkpoint() { return core_->checkpointer.Checkpoint(); }

void Store::SetRelocator(Relocator relocator) {
  MutexLock lock(&core_->relocator_mu);
  core_->relocator = std::move(relocator);
}

absl::StatusOr<CompactResult> Store::Compact() {
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status s = core_->Usable(); !s.ok()) return s;
  if (std::size_t active = core_->txns.active_count(); active != 0) {
    return absl::FailedPreconditionError(
        fmt::format("{}: Compact needs the store to itself, and {} transactions are active",
                    core_->path, active));
  }
  CompactResult r;
  r.pages_before = pool_->page_count();
  Relocator relocator;
  {
    MutexLock lock(&core_->relocator_mu);
    relocator = core_->relocator;
  }
  if (relocator.pack) {
    if (absl::Status s = relocator.pack(*this); !s.ok()) return s;
  }
  // The free list settles into the lowest free pages (truncating checkpoints take their trunks
  // there), then the live pages fit below the limit.
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = core_->checkpointer.CheckpointTruncating(); !s.ok()) return s;
  }
  const PageId pages = pool_->page_count();
  // Pages the free list's trunks hold below it are not free for the moves: the limit leaves
  // room for them.
  r.limit = pages - static_cast<PageId>(core_->alloc.allocatable_count());
  if (relocator.move_below) {
    absl::StatusOr<std::vector<PageMove>> moved = relocator.move_below(*this, r.limit);
    if (!moved.ok()) return moved.status();
    r.anchors_moved = std::move(*moved);
  }
  // The pages moved from are free now; the trunks of the checkpoints before are released by the
  // next two, and the tail is cut.
  for (int i = 0; i < 3; ++i) {
    if (absl::Status s = core_->checkpointer.CheckpointTruncating(); !s.ok()) return s;
  }
  r.pages_after = pool_->page_count();
  r.duration = std::chrono::steady_clock::now() - start;
  return r;
}

PageId Store::catalog_root() const { return core_->pool->roots().catalog_root; }

absl::Status Store::SetCatalogRoot(PageId root) { return core_->checkpointer.SetCatalogRoot(root); }

absl::Status Store::Close() { return core_->checkpointer.Close(); }

absl::Status Store::FlushLog() { return core_->log->FlushAll(); }

const RecoveryReport& Store::recovery_report() const { return core_->report; }

LogStats Store::log_stats() const { return core_->log->stats(); }

std::vector<PageId> Store::FreePages() const { return core_->alloc.FreePages(); }

StoreStats Store::stats() const {
  const StoreCore& c = *core_;
  StoreStats s;
  s.mtrs = c.mtrs.load(std::memory_order_relaxed);
  s.commits = c.commits.load(std::memory_order_relaxed);
  s.aborts = c.aborts.load(std::memory_order_relaxed);
  s.checkpoints = c.checkpointer.count();
  s.pages_allocated = c.alloc.allocated();
  s.pages_reused = c.alloc.reused();
  s.pages_freed = c.alloc.freed();
  s.free_pages = c.alloc.free_page_count();
  s.pages_truncated = c.checkpointer.pages_truncated();
  return s;
}

}  // namespace pagestore
