// Store: the one entry point an engine opens. It wires a disk manager of the chosen kind, a
// buffer pool, the write-ahead log and recovery, and hands out mini-transactions and
// transactions. See wal/README.md for the log format, the recovery algorithm and the rules.
//
//   StoreOptions options;
//   options.disk = *ParseDiskManagerSpec("mmap");
//   absl::StatusOr<std::unique_ptr<Store>> store = Store::Open("/data/db.pages", options);
//   // the log lives in "/data/db.pages-wal/"; recovery has run when Open returns
//   auto txn = (*store)->Begin();
//   MiniTransaction mtr = (*txn)->BeginMtr();
//   absl::StatusOr<PageSpan> page = mtr.GetForWrite(id);   // latched until Commit
//   ... change *page, mtr.LogUndo(kMyUndo, how_to_undo) ...
//   mtr.Commit();                 // one atomic log record; page LSNs stamped
//   (*txn)->Commit();             // durable on return (Durability::kSync)
//
// Mini-transactions are the unit of atomic page change: every page changed in one is redone
// together or not at all. Transactions group mini-transactions into an all-or-nothing unit that
// can be rolled back: each mini-transaction may register a logical undo (a resource manager id
// and a payload), and Abort or recovery runs the registered UndoHandler for each, newest first,
// logging each undo as a compensation record so it is never undone twice.
//
// Isolation between concurrent transactions is the engine's job (its lock manager): the store
// keeps every page physically consistent (latches) and every transaction atomic and durable, but
// two transactions may change the same data; undo is logical precisely so that one
// transaction's rollback does not clobber another's later change to the same page.
//
// Ownership: the Store owns its disk manager (inside the pool), pool, log and LogEnv (or shares
// the caller's). A MiniTransaction or Transaction must not outlive its Store.
// Thread safety: Store's methods are safe for concurrent use. A MiniTransaction or Transaction
// belongs to one thread at a time. A thread holding pages in a mini-transaction must not call
// Checkpoint (it would wait for its own latches). The lock order is in wal/README.md ("Locks").
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/buffer_pool.h"
#include "storage/disk_manager.h"
#include "storage/mutex.h"
#include "wal/log_env.h"
#include "wal/log_manager.h"
#include "wal/log_reader.h"

namespace pagestore {

class Store;
class Transaction;
class MiniTransaction;

// Undoes one logged operation inside `mtr` (which already carries the compensation record).
// Registered per resource manager id (an index kind, a test table...). Must be idempotent at the
// logical level: it may run against a state where the operation's effect is partly or wholly
// present, never absent (recovery undoes only what redo restored).
using UndoHandler =
    std::function<absl::Status(MiniTransaction& mtr, std::span<const std::byte> payload)>;

struct StoreOptions {
  DiskManagerOptions disk;         // kind, open mode, checksums, pread/mmap settings
  std::size_t pool_frames = 4096;  // 16 MiB of 4 KiB frames
  ReplacerOptions replacer;
  LogOptions log;
  Durability durability = Durability::kSync;  // Transaction::Commit's default
  RecoveryMode recovery_mode = RecoveryMode::kTolerateTail;
  // A checkpoint is due when this much log has been written since the last one.
  std::uint64_t checkpoint_interval_bytes = 64ull << 20;
  // Due checkpoints run on the store's background thread. false: inline, in the thread whose
  // transaction end found one due (deterministic, for tests; that thread must hold no pages).
  bool background_checkpoints = true;
  std::map<std::uint16_t, UndoHandler> undo_handlers;  // needed by recovery: give them here
  // Recovery's way past a damaged page (InnoDB's forced recovery, narrowed to what is damaged).
  // Normally recovery stops at a page it cannot read (DataLoss: redo of a byte-range change to a
  // page whose checksum fails), or at an unfinished transaction whose rollback fails on damage
  // (DataLoss, OutOfRange or InvalidArgument from its undo handler, or an undo chain broken by a
  // damaged log record): the open fails, names the page or LSN, and leaves the log as it was.
  // true: that page's changes in that record are not redone (the page stays damaged; its readers
  // get DataLoss), or that one operation is not undone (its change stays) while the rest of the
  // transaction is rolled back; each skip is logged as a warning and listed in
  // recovery_report().skipped.
  bool skip_damaged = false;
};

struct RecoveryReport {
  bool new_store = false;
  Lsn checkpoint_lsn = kInvalidLsn;    // the checkpoint recovery started from (0: none)
  Lsn start_lsn = kInvalidLsn;         // redo start
  Lsn end_lsn = kInvalidLsn;           // end of the log found
  Lsn damaged_tail_lsn = kInvalidLsn;  // a torn/bad tail ignored there (0: clean end)
  std::string damage;
  std::uint64_t records_scanned = 0;
  std::uint64_t bytes_scanned = 0;  // log bytes from the redo start to the end
  std::uint64_t pages_redone = 0;   // page changes applied
  std::uint64_t pages_skipped = 0;  // page changes already on disk (page LSN >= record LSN)
  std::uint64_t page_images = 0;    // full page images restored
  std::uint64_t transactions_undone = 0;
  std::uint64_t operations_undone = 0;
  std::vector<std::string> skipped;  // StoreOptions::skip_damaged: what stayed done
  std::chrono::nanoseconds duration{0};
  std::string ToString() const;
};

struct StoreStats {
  std::uint64_t mtrs = 0;
  std::uint64_t commits = 0;
  std::uint64_t aborts = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t pages_allocated = 0;  // from the free list or by extending the file
  std::uint64_t pages_reused = 0;     // of those, from the free list
  std::uint64_t pages_freed = 0;
  std::uint64_t free_pages = 0;  // on the free list now
};

// An atomic group of page changes. Pages are latched for writing (GetForWrite) or reading
// (GetForRead) until Commit; Commit logs one record holding every change (a full page image for
// a page's first change since the last checkpoint, byte ranges otherwise), stamps the page LSNs
// and releases the latches. Destroying an uncommitted mini-transaction undoes its page changes
// in memory. Move-only; belongs to one thread.
class MiniTransaction {
 public:
  MiniTransaction(MiniTransaction&&) noexcept;
  MiniTransaction& operator=(MiniTransaction&&) = delete;
  ~MiniTransaction();

  // The page, exclusively latched, to change in place. Later calls for the same page return the
  // same span. FailedPreconditionError if this mini-transaction holds it for reading.
  [[nodiscard]] absl::StatusOr<PageSpan> GetForWrite(PageId id);
  // The page, latched for reading (or the span of a page already held for writing).
  [[nodiscard]] absl::StatusOr<ConstPageSpan> GetForRead(PageId id);
  // A page for new use: from the free list, or by extending the file. Initialized as an empty
  // page of `type`, latched for writing.
  [[nodiscard]] absl::StatusOr<PageId> AllocatePage(PageType type);
  // Returns a page to the free list (reusable once this commits). Latches it for writing.
  [[nodiscard]] absl::Status FreePage(PageId id);
  // Releases a page latched by this mini-transaction before Commit (latch crabbing: an ancestor
  // that a change below cannot reach). FailedPreconditionError if the page was changed or
  // allocated here; NotFoundError if it is not held.
  [[nodiscard]] absl::Status ReleasePage(PageId id);
  bool Holds(PageId id) { return Find(id) != nullptr; }
  // Registers the logical undo of this mini-transaction's operation (inside a transaction only).
  void LogUndo(std::uint16_t resource_manager, std::span<const std::byte> payload);

  // Logs and releases. The record's LSN, or kInvalidLsn when nothing changed. On error (the log
  // failed) the page changes are undone in memory and the pages released.
  [[nodiscard]] absl::StatusOr<Lsn> Commit();

  Transaction* transaction() const { return txn_; }
  Store& store() const { return *store_; }

 private:
  friend class Store;
  friend class Transaction;
  using PageCopy = std::array<std::byte, kPageSize>;
  struct Held {
    PageId id;
    bool write;
    bool fresh;  // initialized by this mini-transaction: logged as a full image
    ReadPageGuard read;
    WritePageGuard guard;
    std::unique_ptr<PageCopy> before;  // the page when first latched for writing
  };
  struct AllocOp {
    MtrEntry kind;  // kAlloc, kExtend or kFree
    PageId id;
  };
  MiniTransaction(Store* store, Transaction* txn) : store_(store), txn_(txn) {}
  Held* Find(PageId id);
  void Rollback();
  void ReleaseAll();

  Store* store_;
  Transaction* txn_;
  std::vector<Held> held_;
  std::vector<AllocOp> allocs_;
  std::optional<std::pair<std::uint16_t, std::vector<std::byte>>> undo_;
  Lsn compensation_undo_next_ = kInvalidLsn;
  bool compensation_ = false;
  bool done_ = false;
};

// A transaction: mini-transactions that commit or roll back together. Destroying an active
// transaction aborts it.
class Transaction {
 public:
  ~Transaction();
  std::uint64_t id() const { return id_; }
  // A mini-transaction whose records belong to this transaction.
  [[nodiscard]] MiniTransaction BeginMtr();
  // Logs the commit and waits as `durability` says (the store's default if unset). After an
  // error the outcome is unknown to the caller (the log failed); recovery decides.
  [[nodiscard]] absl::Status Commit(std::optional<Durability> durability = std::nullopt);
  // Undoes every registered operation, newest first, each under a compensation record, then
  // logs the abort.
  [[nodiscard]] absl::Status Abort();
  bool active() const { return !ended_; }

 private:
  friend class Store;
  friend class MiniTransaction;
  struct UndoEntry {
    Lsn lsn;
    Lsn prev_lsn;
    std::uint16_t rm;
    std::vector<std::byte> payload;
  };
  // Where the transaction stands in the log.
  struct LogPosition {
    Lsn first = kInvalidLsn;      // its first record (kInvalidLsn: none yet)
    Lsn last = kInvalidLsn;       // its latest record
    Lsn undo_next = kInvalidLsn;  // the record its rollback undoes next
    bool end_logged = false;      // its commit or abort record is appended: checkpoints skip it
  };
  // `log` is the store's (its lock guards log_position_); `at` is a position read back from the
  // log (recovery) or copied from a transaction that ends unfinished (Store::Orphan).
  Transaction(Store* store, LogManager* log, std::uint64_t id)
      : store_(store), log_(log), id_(id) {}
  Transaction(Store* store, LogManager* log, std::uint64_t id, const LogPosition& at)
      : store_(store), log_(log), id_(id), log_position_(at) {}

  // The owning thread reads its log position without the log's lock: it is the only writer.
  const LogPosition& own_log_position() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return log_position_;
  }

  Store* store_;
  LogManager* const log_;
  const std::uint64_t id_;
  // Written only by the owning thread and only under the log's lock (in the callback of the
  // LogManager::Append that logs the record), so that a checkpoint, which reads it under that
  // lock (in LogManager::BeginCheckpoint's callback), sees it exactly as of its cut.
  LogPosition log_position_ ABSL_GUARDED_BY(log_->mutex());
  std::vector<UndoEntry> undo_;  // the owner's: runtime rollback needs no log reads
  bool ended_ = false;           // the owner's: its end is logged, or it had nothing to log
  bool orphaned_ = false;        // owned by the store (Store::Orphan)
};

class Store {
 public:
  // Opens (or creates) the store at `path` with its log in the directory `path` + "-wal", and
  // recovers. Errors name the file, page or LSN at fault.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Store>> Open(
      const std::filesystem::path& path, const StoreOptions& options);
  // The same over a disk manager and log directory the caller made (tests: fault injection).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Store>> Open(
      std::unique_ptr<DiskManager> disk, std::shared_ptr<LogEnv> log_env,
      const StoreOptions& options);
  // Takes a final checkpoint unless the store has failed.
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // FailedPreconditionError once the log has failed.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Transaction>> Begin() ABSL_LOCKS_EXCLUDED(txn_mu_);
  // A system mini-transaction: redo only, never undone (structure changes, setup).
  [[nodiscard]] MiniTransaction BeginMtr();
  void RegisterUndoHandler(std::uint16_t resource_manager, UndoHandler handler)
      ABSL_LOCKS_EXCLUDED(undo_mu_);

  // A fuzzy checkpoint: transactions keep running. Afterwards the log before the checkpoint's
  // redo LSN (and before the oldest active transaction) is removed or recycled.
  [[nodiscard]] absl::Status Checkpoint() ABSL_LOCKS_EXCLUDED(checkpoint_mu_);
  // The superblock's catalog root (the index layer's catalog of named indexes); setting it
  // takes a checkpoint, so it is durable on return.
  PageId catalog_root() const;
  [[nodiscard]] absl::Status SetCatalogRoot(PageId root) ABSL_LOCKS_EXCLUDED(checkpoint_mu_);
  // Checkpoints and flushes; the store stays usable.
  [[nodiscard]] absl::Status Close() ABSL_LOCKS_EXCLUDED(checkpoint_mu_);

  BufferPool& pool() { return *pool_; }
  LogManager& log() { return *log_; }
  const RecoveryReport& recovery_report() const { return report_; }
  StoreStats stats() const;
  absl::Status failure() const;  // OK, or why the store takes no more work
  // The pages on the free list and the trunk pages holding it, sorted (for checks and tools).
  std::vector<PageId> FreePages() const ABSL_LOCKS_EXCLUDED(alloc_mu_);

 private:
  friend class MiniTransaction;
  friend class Transaction;
  class Flusher;
  struct Allocation {
    PageId id;
    bool extended;
  };

  Store(const StoreOptions& options, std::shared_ptr<LogEnv> env);
  [[nodiscard]] absl::Status Recover();  // recovery.cc
  void ConnectFlusher();                 // the pool's WAL rule goes to log_ from now on
  // `file_end`: the pages the record may name (the file's, then grown by logged extensions);
  // a record naming one past it is refused before anything is written.
  [[nodiscard]] absl::Status Redo(const LogRecord& rec, absl::btree_set<PageId>& free_set,
                                  PageId& high_water, PageId& file_end);
  [[nodiscard]] absl::Status UndoLoser(Transaction& txn, LogReader& reader);
  // skip_damaged: whether to go on past `s`, the failure to undo the record at `lsn`
  // (reported and logged when so).
  bool SkipDamagedUndo(const Transaction& txn, Lsn lsn, const absl::Status& s);
  [[nodiscard]] absl::Status RunUndo(Transaction& txn, std::uint16_t rm,
                                     std::span<const std::byte> payload, Lsn undo_next)
      ABSL_LOCKS_EXCLUDED(undo_mu_);
  [[nodiscard]] absl::Status EndTransaction(Transaction& txn, RecordType type,
                                            std::optional<Durability> durability)
      ABSL_LOCKS_EXCLUDED(txn_mu_);
  [[nodiscard]] absl::StatusOr<Allocation> PopFreePage() ABSL_LOCKS_EXCLUDED(alloc_mu_);
  // The allocator's side of a logged allocation record; runs under the log's lock.
  void ApplyAllocations(const std::vector<MiniTransaction::AllocOp>& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_->mutex()) ABSL_LOCKS_EXCLUDED(alloc_mu_);
  // Grows the file by one page, logged as grown and free before any other growth; `for_mtr`:
  // the page is in flight (a mini-transaction takes it) rather than a checkpoint's trunk.
  [[nodiscard]] absl::StatusOr<WritePageGuard> ExtendFile(PageType type, bool for_mtr)
      ABSL_LOCKS_EXCLUDED(extend_mu_);
  // A transaction destroyed with records but no end (its abort failed): kept active.
  void Orphan(Transaction& txn) ABSL_LOCKS_EXCLUDED(txn_mu_);
  void ReturnFreePage(PageId id) ABSL_LOCKS_EXCLUDED(alloc_mu_);
  [[nodiscard]] absl::Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_);
  void MaybeCheckpoint() ABSL_LOCKS_EXCLUDED(checkpoint_mu_, checkpointer_mu_);
  [[nodiscard]] absl::Status Usable() const;

  StoreOptions options_;
  std::string path_;  // the page file's (for messages)
  std::shared_ptr<LogEnv> env_;
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<LogManager> log_;
  RecoveryReport report_;

  // Locks, outermost first (wal/README.md, "Locks"): checkpoint_mu_, [page latches],
  // extend_mu_, txn_mu_, the log's (log_->mutex()), alloc_mu_. undo_mu_ and checkpointer_mu_
  // are leaves taken alone.

  mutable Mutex undo_mu_;
  std::map<std::uint16_t, UndoHandler> undo_handlers_ ABSL_GUARDED_BY(undo_mu_);

  // Page allocation: taken inside the log's lock by the appends that log allocations.
  mutable Mutex alloc_mu_ ABSL_ACQUIRED_AFTER(log_->mutex(), txn_mu_, extend_mu_);
  absl::btree_set<PageId> free_ ABSL_GUARDED_BY(alloc_mu_);       // allocatable
  absl::btree_set<PageId> in_flight_ ABSL_GUARDED_BY(alloc_mu_);  // taken, not yet committed
  std::vector<PageId> trunks_ ABSL_GUARDED_BY(alloc_mu_);         // hold the durable free list
  // The trunks of the checkpoint before (the older superblock copy names them): kept off the
  // allocatable set until the next checkpoint replaces that copy, so that open can fall back to
  // it when the newer copy is damaged.
  std::vector<PageId> prev_trunks_ ABSL_GUARDED_BY(alloc_mu_);
  // Trunks of the checkpoint in progress: off the free list, not yet named by the superblock.
  std::vector<PageId> pending_trunks_ ABSL_GUARDED_BY(alloc_mu_);
  PageId high_water_ ABSL_GUARDED_BY(alloc_mu_) = kFirstDataPage;  // committed allocations

  // Active transactions: a checkpoint holds txn_mu_ while it takes the log's lock.
  mutable Mutex txn_mu_ ABSL_ACQUIRED_BEFORE(log_->mutex());
  absl::flat_hash_map<std::uint64_t, Transaction*> active_ ABSL_GUARDED_BY(txn_mu_);
  std::vector<std::unique_ptr<Transaction>> orphans_ ABSL_GUARDED_BY(txn_mu_);
  std::atomic<std::uint64_t> next_txn_id_{1};

  void StartCheckpointer() ABSL_LOCKS_EXCLUDED(checkpoint_mu_, checkpointer_mu_);
  void StopCheckpointer() ABSL_LOCKS_EXCLUDED(checkpointer_mu_);

  // One checkpoint at a time; held across the whole checkpoint, which waits for page latches
  // (FlushAll), so it comes before every other lock.
  ExclusiveMutex checkpoint_mu_ ABSL_ACQUIRED_BEFORE(extend_mu_, txn_mu_, log_->mutex());
  std::thread checkpointer_;
  ExclusiveMutex checkpointer_mu_;
  CondVar checkpointer_cv_;
  bool checkpoint_due_ ABSL_GUARDED_BY(checkpointer_mu_) = false;
  bool checkpointer_stop_ ABSL_GUARDED_BY(checkpointer_mu_) = false;
  // One file extension at a time (ExtendFile); no page latch is taken under it.
  ExclusiveMutex extend_mu_ ABSL_ACQUIRED_BEFORE(log_->mutex());
  std::atomic<Lsn> last_checkpoint_redo_{kInvalidLsn};
  // The oldest LSN recovery from the previous checkpoint needs: its log is kept for the same
  // reason as prev_trunks_.
  Lsn prev_oldest_needed_ ABSL_GUARDED_BY(checkpoint_mu_) = kInvalidLsn;
  bool closed_ = false;

  std::atomic<std::uint64_t> mtrs_{0}, commits_{0}, aborts_{0}, checkpoints_{0};
  std::atomic<std::uint64_t> allocated_{0}, reused_{0}, freed_{0};
};

}  // namespace pagestore
