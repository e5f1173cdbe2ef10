// LogManager: appends records to the write-ahead log and makes them durable, with group commit.
//
// Appending copies a record into an in-memory buffer and gives it its LSN (its byte position in
// the log). FlushUntil(lsn) makes every record up to and including the one at `lsn` durable:
// one thread at a time (the leader) writes everything buffered so far and fdatasyncs it, and
// every committer whose record was in that write returns with it — concurrent commits share one
// fdatasync. Records are never split: a flush writes whole records, so a crash tears at most the
// records of the last unsynced write.
//
// Segments: the log is a sequence of fixed-size segment files (log_format.h). A new segment is
// created (or a spare one recycled), given its header, synced, and its directory fsynced before
// any record is written into it; the previous segment is synced first, so a later segment's
// existence proves every byte before it was durable. RemoveSegmentsBefore(lsn) drops segments the
// store no longer needs (keeping a few as spares to recycle, whose stale records the new salt
// invalidates).
//
// Failure: a failed write or fdatasync is final. Waiting committers get the error, later calls
// get FailedPreconditionError carrying it, and only reopening (recovery) continues.
//
// Ownership: the LogManager owns its segment files; it does not own the LogEnv, which must
// outlive it. Thread safety: every method is safe for concurrent use. Two capabilities (see the
// members): mu_, the log's lock, and the flush leader's role, held by the one thread that writes
// the log outside mu_. The lock order is in wal/README.md ("Locks").
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffer/log_flusher.h"
#include "storage/mutex.h"
#include "wal/log_env.h"
#include "wal/log_format.h"

namespace pagestore {

// How a commit waits for the log (a per-commit choice; LogOptions gives the default).
enum class Durability {
  kSync,   // durable on return: fdatasync, shared with whoever is committing at the same time
  kGroup,  // durable on return, but the flushing thread first waits up to group_commit_wait for
           // more commits to share its fdatasync (more throughput, more latency) — only when
           // other transactions are active
  kNone,   // written to the OS on return, not synced: survives a killed process, not a power cut
};

// What reading the log back does at a damaged tail (wal/README.md, "Reading the log"): tolerate a
// torn tail, stop on any damage, or end the log before the damage and report what was dropped.
enum class RecoveryMode { kTolerateTail, kAbsoluteConsistency, kPointInTime };
std::string_view RecoveryModeName(RecoveryMode mode);

struct LogOptions {
  std::uint64_t segment_size = 16ull << 20;  // bytes per segment file, header included
  std::size_t buffer_size = 4 << 20;         // an append beyond this much unwritten log flushes
  std::chrono::microseconds group_commit_wait{200};
  std::size_t max_spare_segments = 2;  // removed segments kept for recycling
  bool preallocate = true;             // zero-fill new segments so commits overwrite in place
};

struct LogStats {
  std::uint64_t appends = 0;
  std::uint64_t bytes_appended = 0;
  std::uint64_t flushes = 0;  // leader writes
  std::uint64_t syncs = 0;    // fdatasyncs of segment files
  std::uint64_t segments_created = 0;
  std::uint64_t segments_recycled = 0;
  std::uint64_t segments_removed = 0;
};

class LogManager final : public LogFlusher {
 public:
  // What is on disk before appending starts: the segments found, for the LogReader.
  struct SegmentInfo {
    std::uint64_t number = 0;
    Lsn first_lsn = 0;
    std::uint64_t salt = 0;
    std::uint64_t presized = 0;  // the file's length at creation (0: grows by appends)
  };

  // Opens the log in `env` for appending at `end_lsn`, the end found by recovery (kFirstLsn for a
  // new log). Segments wholly past `end_lsn`, and damaged bytes past it in its segment, are
  // removed, so nothing stale follows the records appended from now on.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LogManager>> Open(
      LogEnv* env, const LogOptions& options, const std::vector<SegmentInfo>& segments,
      Lsn end_lsn);
  ~LogManager() override;

  LogManager(const LogManager&) = delete;
  LogManager& operator=(const LogManager&) = delete;

  // A record to append; `payload` is copied.
  struct Record {
    RecordType type = RecordType::kMtr;
    std::uint64_t txn_id = 0;
    Lsn prev_lsn = 0;
    std::span<const std::byte> payload;
  };
  // Appends `rec` and returns its LSN. `under_lock` runs while the log is still locked (holding
  // mutex(): annotate it ABSL_EXCLUSIVE_LOCKS_REQUIRED(log->mutex())), with the new LSN, so
  // whatever it does is ordered exactly as the log is. With `expected_redo_lsn` set, the append
  // is refused with AbortedError when a checkpoint has moved the redo LSN since the caller
  // decided which pages need full images (it rebuilds the record and retries).
  [[nodiscard]] absl::StatusOr<Lsn> Append(
      const Record& rec, Lsn expected_redo_lsn = kInvalidLsn,
      absl::FunctionRef<void(Lsn)> under_lock = [](Lsn) {}) ABSL_LOCKS_EXCLUDED(mu_);

  // Durable on return: every record up to and including the one at `lsn`.
  [[nodiscard]] absl::Status FlushUntil(Lsn lsn) override ABSL_LOCKS_EXCLUDED(mu_);
  // The commit path: waits for `lsn` as `durability` says. `siblings` is how many other
  // transactions are active: kGroup's gathering wait is skipped when there are none.
  [[nodiscard]] absl::Status Commit(Lsn lsn, Durability durability, std::size_t siblings = 1)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Everything appended so far, durable.
  [[nodiscard]] absl::Status FlushAll() ABSL_LOCKS_EXCLUDED(mu_);

  // The redo LSN of the checkpoint in progress or last taken: a page whose LSN is below it gets
  // a full image with its next change.
  Lsn redo_lsn() const ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a checkpoint: the redo LSN becomes the current end of the log, and `under_lock` runs
  // with it while no record can be appended (a consistent cut of whatever it captures), holding
  // mutex() as Append's callback does.
  Lsn BeginCheckpoint(absl::FunctionRef<void(Lsn)> under_lock) ABSL_LOCKS_EXCLUDED(mu_);

  // Recovery: the redo LSN of the checkpoint it started from, until its own checkpoint.
  void ResumeRedoLsn(Lsn lsn) ABSL_LOCKS_EXCLUDED(mu_);

  // Background work yielding to commits (a backup's copy): returns once no flush is in progress,
  // or after `limit`, with the number of flushes ended so far (a caller that sees it move knows
  // commits are running).
  std::uint64_t WaitWhileFlushing(std::chrono::microseconds limit) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes (or keeps as spares) every segment whose records all lie below `lsn`.
  [[nodiscard]] absl::Status RemoveSegmentsBefore(Lsn lsn) ABSL_LOCKS_EXCLUDED(mu_);

  Lsn next_lsn() const ABSL_LOCKS_EXCLUDED(mu_);          // where the next record goes
  Lsn durable_lsn() const ABSL_LOCKS_EXCLUDED(mu_);       // every record below it is durable
  absl::Status failure() const ABSL_LOCKS_EXCLUDED(mu_);  // OK unless the log has failed
  LogStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  std::size_t segment_count() const ABSL_LOCKS_EXCLUDED(mu_);
  std::uint64_t segment_size() const { return options_.segment_size; }
  // The segments now in the log, oldest first (a backup copies those it needs: the last one
  // takes appends; the presized length may still be 0 for one whose file the flusher has not
  // made yet).
  std::vector<SegmentInfo> Segments() const ABSL_LOCKS_EXCLUDED(mu_);

  // The log's lock, as the analysis names it: state written and read only in Append's and
  // BeginCheckpoint's callbacks (a transaction's place in the log, wal/store.h) is
  // ABSL_GUARDED_BY(log->mutex()). Not for locking: the log takes it itself.
  ExclusiveMutex& mutex() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  // Tells the analysis that mutex() is held: for a callback that reaches state guarded by this
  // log through another object's pointer to it (a checkpoint reading each active transaction).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK(mu_) {}

 private:
  // A segment's number, first LSN and salt are fixed when Append adds it (under mu_). Its file,
  // presized length and synced_full belong to the flush leader, which reaches the segment
  // through a pointer taken under mu_; RemoveSegmentsBefore touches them holding mu_ while no
  // flush runs (so no leader can begin).
  struct Segment {
    std::uint64_t number = 0;
    Lsn first_lsn = 0;
    std::uint64_t salt = 0;
    std::uint64_t presized = 0;
    std::unique_ptr<LogFile> file;  // null until the flusher creates it; flusher-owned
    bool synced_full = false;       // synced through its last record, before a later segment
  };

  // The flush leader's role, as a capability: the one thread that set flushing_ (under mu_)
  // writes and syncs the log outside mu_ until it clears flushing_ again. Not a lock (Become and
  // Resign cost nothing and exclude nobody: flushing_ does that); the analysis checks that
  // only the leader touches what the leader owns.
  class ABSL_LOCKABLE FlushLeader {
   public:
    void Become() ABSL_EXCLUSIVE_LOCK_FUNCTION() {}
    void Resign() ABSL_UNLOCK_FUNCTION() {}
  };

  LogManager(LogEnv* env, const LogOptions& options);
  // The leader's write: buffered bytes [start, end) to their segments, then fdatasync if `sync`.
  [[nodiscard]] absl::Status WriteOut(std::vector<std::byte>& bytes, Lsn start,
                                      std::vector<Segment*>& segs, bool sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_) ABSL_LOCKS_EXCLUDED(mu_);
  [[nodiscard]] absl::Status CreateSegmentFile(Segment& seg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Writes and syncs `seg`'s end mark naming `next` (log_format.h).
  [[nodiscard]] absl::Status MarkSegmentEnd(Segment& seg, const Segment& next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until records through `lsn` are written (and synced if `sync`), leading a flush when
  // nobody else is. `wait` is the leader's gathering window, which closes early once `siblings`
  // other committers wait on this flush.
  [[nodiscard]] absl::Status Flush(Lsn lsn, bool sync, std::chrono::microseconds wait,
                                   std::size_t siblings = 0) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status FailedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::uint64_t NewSalt() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LogEnv* const env_;
  const LogOptions options_;

  // Taken after a transaction table's and the extension lock, and under page latches and
  // write-back locks (the WAL rule); before the allocator's lock. wal/README.md, "Locks".
  mutable ExclusiveMutex mu_;
  FlushLeader leader_;
  CondVar cv_;         // flush done: waiting committers recheck
  CondVar gather_cv_;  // a committer started waiting: a gathering leader counts
  std::size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;  // committers waiting for the flush in progress
  std::uint64_t flush_generation_ ABSL_GUARDED_BY(mu_) = 0;  // flushes ended so far
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);        // oldest first; the last takes appends
  std::vector<std::string> spares_ ABSL_GUARDED_BY(mu_);     // spare segment files, to recycle
  // Bytes [buf_start_, next_lsn_): appended, not written.
  std::vector<std::byte> buf_ ABSL_GUARDED_BY(mu_);
  // Swapped with buf_ by the leader (holding mu_ too), then written out without mu_.
  std::vector<std::byte> spare_buf_ ABSL_GUARDED_BY(leader_);
  Lsn buf_start_ ABSL_GUARDED_BY(mu_) = 0;
  Lsn next_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  Lsn written_lsn_ ABSL_GUARDED_BY(mu_) = 0;  // handed to the OS below this
  Lsn durable_lsn_ ABSL_GUARDED_BY(mu_) = 0;  // synced below this
  Lsn redo_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;  // a leader holds leader_
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  std::uint64_t salt_state_ ABSL_GUARDED_BY(mu_);
  LogStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pagestore
