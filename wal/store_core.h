// StoreCore: the parts a Store wires together, in one place that its MiniTransaction and
// Transaction handles can reach without being its friends. Internal to the store; not
// installed.
//
// Ownership: the Store owns its core; the core owns the pool (and through it the disk manager),
// the log, the allocator, the checkpointer and the transaction table, and shares the LogEnv.
// Construction order is dependency order: pool, allocator, transaction table, checkpointer; the
// log is opened by recovery (Recovery::Run) and handed to the parts that append.
// Thread safety: the parts are each safe for concurrent use; the pointers are set during open
// and not changed afterwards.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "buffer/buffer_pool.h"
#include "wal/checkpointer.h"
#include "wal/log_env.h"
#include "wal/log_manager.h"
#include "wal/page_allocator.h"
#include "wal/store.h"
#include "wal/transaction_table.h"

namespace pagestore {

// The pool's WAL rule, forwarded to the log once it is open. Before that (recovery's redo
// replays records read back from the log files), every record is already on disk.
class ForwardingFlusher final : public LogFlusher {
 public:
  absl::Status FlushUntil(Lsn lsn) override {
    LogManager* log = log_.load(std::memory_order_acquire);
    return log == nullptr ? absl::OkStatus() : log->FlushUntil(lsn);
  }
  void Set(LogManager* log) { log_.store(log, std::memory_order_release); }

 private:
  std::atomic<LogManager*> log_{nullptr};
};

struct StoreCore {
  // `wal_rule`: the flusher `buffer_pool` was created with.
  StoreCore(Store* owner, const StoreOptions& opts, std::string file_path,
            std::shared_ptr<LogEnv> log_env, std::unique_ptr<ForwardingFlusher> wal_rule,
            std::unique_ptr<BufferPool> buffer_pool)
      : store(owner),
        options(opts),
        path(std::move(file_path)),
        env(std::move(log_env)),
        flusher(std::move(wal_rule)),
        pool(std::move(buffer_pool)),
        alloc(pool.get()),
        undo_handlers(opts.undo_handlers),
        checkpointer(pool.get(), &alloc, &txns, opts.checkpoint_interval_bytes,
                     opts.background_checkpoints, opts.truncate_free_tail) {}

  // What the handles' constructors ask for (wal/store.h).
  static StoreKey Key() { return StoreKey(); }

  // The log is open: everything that appends or flushes uses it from now on.
  void ConnectLog(std::unique_ptr<LogManager> opened) {
    log = std::move(opened);
    alloc.SetLog(log.get());
    checkpointer.SetLog(log.get());
  }
  // The pool's WAL rule goes to the log from now on (once redo is done).
  void ConnectWalRule() { flusher->Set(log.get()); }
  absl::Status Usable() const { return LogUsable(log.get()); }

  Store* const store;
  const StoreOptions options;
  const std::string path;  // the page file's (for messages)
  const std::shared_ptr<LogEnv> env;
  const std::unique_ptr<ForwardingFlusher> flusher;
  const std::unique_ptr<BufferPool> pool;
  std::unique_ptr<LogManager> log;
  PageAllocator alloc;
  TransactionTable txns;
  UndoHandlers undo_handlers;
  Checkpointer checkpointer;
  RecoveryReport report;
  Mutex relocator_mu;
  Relocator relocator ABSL_GUARDED_BY(relocator_mu);
  std::atomic<std::uint64_t> mtrs{0}, commits{0}, aborts{0};
};

// Runs the undo of one operation of `txn` in a compensation mini-transaction whose record says
// that undo continues at `undo_next` (transaction.cc).
[[nodiscard]] absl::Status RunUndo(StoreCore& core, TxnState& txn, std::uint16_t rm,
                                   std::span<const std::byte> payload, Lsn undo_next);
// Logs the end of `txn` (kCommit or kAbort), waits as `durability` says, and takes it out of the
// active table (transaction.cc).
[[nodiscard]] absl::Status EndTransaction(StoreCore& core, TxnState& txn, RecordType type,
                                          Durability durability);

}  // namespace pagestore
