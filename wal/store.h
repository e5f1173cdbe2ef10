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
// the caller's), all inside its StoreCore (wal/store_core.h, internal). A MiniTransaction or
// Transaction must not outlive its Store. Thread safety: Store's methods are safe for concurrent
// use. A MiniTransaction or Transaction belongs to one thread at a time. A thread holding pages in
// a mini-transaction must not call Checkpoint (it would wait for its own latches).
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
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/buffer_pool.h"
#include "storage/disk_manager.h"
#include "wal/log_env.h"
#include "wal/log_manager.h"

namespace pagestore {

class Store;
class Transaction;
class MiniTransaction;
struct StoreCore;  // wal/store_core.h (internal)

// What the constructors of MiniTransaction and Transaction ask for: only the store's own parts
// can make one (StoreCore::Key(), wal/store_core.h), so an engine gets its handles from
// Store::Begin, Store::BeginMtr and Transaction::BeginMtr.
class StoreKey {
 private:
  friend struct StoreCore;
  StoreKey() = default;
};
struct TxnState;      // wal/transaction_table.h (internal)
struct AllocationOp;  // wal/page_allocator.h (internal)

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
  // Each checkpoint gives back the free pages at the end of the file (as SQLite's auto-vacuum
  // does for its tail): the file shrinks by them, durably, and a crash at any point recovers
  // with the free list and superblock consistent (wal/README.md, "Giving space back"). Not
  // while a backup runs.
  bool truncate_free_tail = false;
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

// Store::Compact's part above the store, for the structures it knows (indexes); the index layer
// registers one (Catalog::Open does). Every change either makes is logged.
// A page that callers may name by id (an index's anchor) moved by a compaction.
struct PageMove {
  PageId from = kInvalidPageId;
  PageId to = kInvalidPageId;
};

struct Relocator {
  // Gives up the pages the structures can do without (merging under-full nodes, up to a fill).
  std::function<absl::Status(Store& store)> pack;
  // Moves every page at or above `limit` to a free page below it (MiniTransaction::Relocate),
  // pointing whatever named each page at its new place in the same mini-transaction; returns
  // the moves of pages callers may name by id (anchors).
  std::function<absl::StatusOr<std::vector<PageMove>>(Store& store, PageId limit)> move_below;
};

struct CompactResult {
  PageId pages_before = 0;  // the file's pages before
  PageId pages_after = 0;   // and after
  PageId limit = 0;         // the page count the live pages fit in
  // Index anchors moved (the catalog names the new ones): a caller that keeps anchor ids, or
  // maps them to comparators for an undo handler, re-keys them from these.
  std::vector<PageMove> anchors_moved;
  std::chrono::nanoseconds duration{0};
};

struct StoreStats {
  std::uint64_t mtrs = 0;
  std::uint64_t commits = 0;
  std::uint64_t aborts = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t pages_allocated = 0;  // from the free list or by extending the file
  std::uint64_t pages_reused = 0;     // of those, from the free list
  std::uint64_t pages_freed = 0;
  std::uint64_t free_pages = 0;       // on the free list now
  std::uint64_t pages_truncated = 0;  // given back by tail truncation (truncate_free_tail)
};

// Store::Backup (wal/README.md, "Online backup").
enum class BackupStage { kCheckpoint, kPages, kLog, kSync, kDone };
std::string_view BackupStageName(BackupStage stage);

struct BackupProgress {
  BackupStage stage = BackupStage::kCheckpoint;
  std::uint64_t pages_copied = 0;
  std::uint64_t pages_total = 0;  // the file's pages now (it may grow while it is copied)
  std::uint64_t log_bytes_copied = 0;
};

struct BackupOptions {
  // Called after the checkpoint, after each chunk of pages and each log segment, and at each
  // later stage, on the calling thread; returning false cancels the backup (CancelledError, and
  // nothing is left at the destination).
  std::function<bool(const BackupProgress&)> progress;
  std::size_t chunk_pages = 256;  // pages per read and write (1 MiB)
  // At most this many bytes of pages copied per second (0: as fast as the disks go). A copy at
  // full speed competes with commits for the disk (wal_bench's backup/commit_* measure it); a
  // limit trades the backup's time for their latency.
  std::uint64_t max_bytes_per_second = 0;
  // Tests (power loss): the directory that receives the page file, and the copy's log
  // directory. By default the real directories of the destination path and of path + "-wal".
  std::shared_ptr<LogEnv> dest_dir_env;
  std::shared_ptr<LogEnv> dest_log_env;
};

struct BackupResult {
  Lsn checkpoint_lsn = kInvalidLsn;  // the copy recovers from this checkpoint...
  Lsn end_lsn = kInvalidLsn;         // ...to this end of its log: every commit before it is in
  std::uint64_t pages = 0;           // pages copied (the superblock copies included)
  std::uint64_t log_bytes = 0;       // log bytes copied
  // Pages read again because their checksum failed (a write in flight tore the read).
  std::uint64_t pages_reread = 0;
  // Pages whose checksum still failed after the re-reads: damaged in the source as well (each
  // logged as a warning). Recovery on the copy restores those written since its checkpoint from
  // their full images in the log; the others are as damaged in the copy as in the source.
  std::vector<PageId> damaged_pages;
  std::chrono::nanoseconds checkpoint_cut{0};  // how long the backup's checkpoint held appends
  std::chrono::nanoseconds duration{0};
};

// An atomic group of page changes. Pages are latched for writing (GetForWrite) or reading
// (GetForRead) until Commit; Commit logs one record holding every change (a full page image for
// a page's first change since the last checkpoint, byte ranges otherwise), stamps the page LSNs
// and releases the latches. Destroying an uncommitted mini-transaction undoes its page changes
// in memory. Move-only; belongs to one thread. Made by Store::BeginMtr and
// Transaction::BeginMtr.
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
  // Pages that nothing the caller leaves behind refers to any more (the pages of a large value
  // its index no longer names), returned to the free list without being latched:
  //  - FreeUnreferenced: with this mini-transaction's commit.
  //  - FreeAtCommit: inside a transaction, with the transaction's commit (its commit record
  //    lists them, so recovery frees them exactly when it finds the commit, and an abort or a
  //    crash before it frees nothing: the transaction's undo may still name them); in a system
  //    mini-transaction, as FreeUnreferenced. They are added to the transaction when this
  //    mini-transaction commits.
  // The caller guarantees that no other thread can reach the pages through anything but a stale
  // copy it validates (an optimistic read). InvalidArgumentError for a superblock page or one
  // already free.
  [[nodiscard]] absl::Status FreeUnreferenced(std::span<const PageId> ids);
  [[nodiscard]] absl::Status FreeAtCommit(std::span<const PageId> ids);
  // Moves page `from` to the lowest free page (Store::Compact's step): the new page gets `from`'s
  // bytes (its header naming the new id) and `from` is freed, both latched for writing until
  // Commit; returns the new page's id. The caller points whatever named `from` at it in the same
  // mini-transaction.
  [[nodiscard]] absl::StatusOr<PageId> Relocate(PageId from);
  // Releases a page latched by this mini-transaction before Commit (latch crabbing: an ancestor
  // that a change below cannot reach). FailedPreconditionError if the page was changed or
  // allocated here; NotFoundError if it is not held.
  [[nodiscard]] absl::Status ReleasePage(PageId id);
  bool Holds(PageId id) { return Find(id) != nullptr; }
  // How many pages it holds latched.
  std::size_t held_count() const { return held_.size(); }
  // Registers the logical undo of this mini-transaction's operation (inside a transaction only).
  void LogUndo(std::uint16_t resource_manager, std::span<const std::byte> payload);

  // Logs and releases. The record's LSN, or kInvalidLsn when nothing changed. On error (the log
  // failed) the page changes are undone in memory and the pages released.
  [[nodiscard]] absl::StatusOr<Lsn> Commit();

  // Whether its records belong to a transaction (else a system mini-transaction: redo only).
  bool in_transaction() const { return txn_ != nullptr; }
  Store& store() const;

  // Internal: made by the store's parts (wal/store_core.h). `compensation_undo_next`: a
  // compensation (undo's own change) whose record says undo continues there.
  MiniTransaction(StoreKey, StoreCore* core, TxnState* txn,
                  std::optional<Lsn> compensation_undo_next = std::nullopt);

 private:
  using PageCopy = std::array<std::byte, kPageSize>;
  struct Held {
    PageId id;
    bool write;
    bool fresh;  // initialized by this mini-transaction: logged as a full image
    ReadPageGuard read;
    WritePageGuard guard;
    std::unique_ptr<PageCopy> before;  // the page when first latched for writing
  };
  Held* Find(PageId id);
  // The record's payload: changed pages, allocations, undo; `changed`: the pages it covers.
  void EncodePayload(Lsn redo, std::vector<std::byte>& payload, std::vector<Held*>& changed);
  void Rollback();
  void ReleaseAll();

  StoreCore* core_;
  TxnState* txn_;
  std::vector<Held> held_;
  std::vector<AllocationOp> allocs_;
  std::optional<std::pair<std::uint16_t, std::vector<std::byte>>> undo_;
  std::vector<PageId> free_at_commit_;  // added to the transaction's at Commit
  std::optional<Lsn> compensation_undo_next_;
  bool done_ = false;
};

// A transaction: mini-transactions that commit or roll back together. Destroying an active
// transaction aborts it. Made by Store::Begin.
class Transaction {
 public:
  ~Transaction();
  std::uint64_t id() const { return id_; }
  // A mini-transaction whose records belong to this transaction.
  [[nodiscard]] MiniTransaction BeginMtr();
  // Logs the commit and waits as `durability` says (the store's default if unset). The commit
  // record also frees the pages given to MiniTransaction::FreeAtCommit; InvalidArgumentError
  // (the transaction stays active, to abort) when they are more than one log record holds
  // (Store::max_record_bytes() / 9 pages). After an error from the log the outcome is unknown
  // to the caller (the log failed); recovery decides.
  [[nodiscard]] absl::Status Commit(std::optional<Durability> durability = std::nullopt);
  // Undoes every registered operation, newest first, each under a compensation record, then
  // logs the abort. After an Abort that failed partway, Commit is refused
  // (FailedPreconditionError): call Abort again.
  [[nodiscard]] absl::Status Abort();
  bool active() const;

  // Internal: made by Store::Begin (wal/store_core.h).
  Transaction(StoreKey, StoreCore* core, std::unique_ptr<TxnState> state);

 private:
  StoreCore* const core_;
  const std::uint64_t id_;
  std::unique_ptr<TxnState> state_;  // the table's once orphaned (an abort that failed)
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
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Transaction>> Begin();
  // A system mini-transaction: redo only, never undone (structure changes, setup).
  [[nodiscard]] MiniTransaction BeginMtr();
  void RegisterUndoHandler(std::uint16_t resource_manager, UndoHandler handler);
  // The largest log record the store appends: every mini-transaction's changes (about 4 KiB per
  // page changed for the first time since a checkpoint) must fit in one.
  std::size_t max_record_bytes() const;

  // A fuzzy checkpoint: transactions keep running. Afterwards the log before the checkpoint's
  // redo LSN (and before the oldest active transaction) is removed or recycled.
  [[nodiscard]] absl::Status Checkpoint();
  // An online, consistent copy of the store at `dest` (the page file; its log goes to
  // dest + "-wal"), taken while transactions keep committing (wal/README.md, "Online backup").
  // The copy holds the transactions whose commit record lies below result.end_lsn (every one
  // acknowledged before Backup was called, perhaps some that committed while it ran), each
  // whole, and no other: its first open recovers it. Writers wait only for the backup's
  // checkpoint cut (result.checkpoint_cut). The page file is written as dest + ".incomplete"
  // and renamed once it and the log are synced, so a crash never leaves a file at `dest` that
  // is not a whole backup. AlreadyExistsError if `dest` exists; CancelledError if
  // options.progress said stop; AbortedError if the catalog root was set meanwhile (run it
  // again). Errors name the file or page. Backups may run concurrently, each from a thread
  // holding no pages.
  [[nodiscard]] absl::StatusOr<BackupResult> Backup(const std::filesystem::path& dest,
                                                    const BackupOptions& options = {});

  // Compaction, in an exclusive mode: the caller sees to it that no transaction is active and no
  // index handle is used until it returns (FailedPreconditionError if a transaction is active),
  // and opens its index handles again afterwards, by name through the catalog (an index's
  // anchor may have moved, its old page freed and reused; a hash index's directory cache names
  // pages the compaction moved). The registered Relocator packs the structures (under-full nodes
  // merged), then, after checkpoints that settle the free list into its lowest free pages,
  // moves every live page at or above the count the live pages fit in to a free page below
  // it, each change a logged mini-transaction (a crash in between recovers to a consistent
  // store, part of the work done); then checkpoints until the free tail is given back
  // (wal/README.md, "Compaction"). Without a Relocator it only gives back the free tail.
  [[nodiscard]] absl::StatusOr<CompactResult> Compact();
  void SetRelocator(Relocator relocator);

  // The superblock's catalog root (the index layer's catalog of named indexes); setting it
  // takes a checkpoint, so it is durable on return.
  PageId catalog_root() const;
  [[nodiscard]] absl::Status SetCatalogRoot(PageId root);
  // Checkpoints and flushes; the store stays usable.
  [[nodiscard]] absl::Status Close();
  // Makes every record appended so far durable (a commit with Durability::kNone or kGroup
  // becomes durable on return).
  [[nodiscard]] absl::Status FlushLog();

  BufferPool& pool() { return *pool_; }  // inline: the indexes' read path goes through it
  const RecoveryReport& recovery_report() const;
  StoreStats stats() const;
  LogStats log_stats() const;
  absl::Status failure() const;  // OK, or why the store takes no more work
  // The pages on the free list and the trunk pages holding it, sorted (for checks and tools).
  std::vector<PageId> FreePages() const;
  // Whether `id` is free (on the free list or a trunk): a page freed may be reused at once.
  bool IsFree(PageId id) const;

  // Internal: the store's parts (wal/store_core.h), for the layer's own code and its tests.
  StoreCore& core() { return *core_; }

 private:
  Store() = default;
  std::unique_ptr<StoreCore> core_;
  BufferPool* pool_ = nullptr;  // the core's
};

}  // namespace pagestore
