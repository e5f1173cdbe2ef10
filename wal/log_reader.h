// LogReader: reads the write-ahead log's records in LSN order, from any LSN, and decides where
// the log ends.
//
// The end of the log is the first position that holds no valid record: zeros (a preallocated,
// never-written tail), a header whose LSN is older than its position (stale bytes of a recycled
// segment), or a torn or bad record. What happens at a bad record depends on the mode:
//  - kTolerateTail (the default for recovery): a torn or corrupt last stretch is the end — the
//    crash interrupted that write. But if any later record proves those bytes were once durable
//    (a valid record whose durable LSN lies beyond them, or a later segment, which is only begun
//    once the one before is synced), the log was damaged after the fact: DataLossError naming the
//    LSN. Nothing committed is silently skipped.
//  - kAbsoluteConsistency: the log must end cleanly; any bad record is DataLossError (for a log
//    known to have been closed cleanly).
//  - kPointInTime: stop at the first bad record whatever follows, and report it (an operator's
//    salvage mode, like RocksDB's: recovers everything before the damage).
//
// Ownership: does not own the LogEnv. Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/log_env.h"
#include "wal/log_format.h"
#include "wal/log_manager.h"

namespace pagestore {

struct LogRecord {
  RecordHeader header;
  std::span<const std::byte> payload;  // valid until the reader moves
  Lsn end_lsn() const { return header.lsn + AlignRecord(header.length); }
};

class LogReader {
 public:
  // Lists and validates the segment headers in `env`. A ".wal" file whose header is not intact
  // or names another segment is damage (segments get their name only once whole): DataLossError
  // naming the file, except in kPointInTime, where the log ends before it (and damage() says
  // so). A file holding only zeros never held a record and is ignored.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LogReader>> Open(LogEnv* env,
                                                                       RecoveryMode mode);

  bool empty() const { return segments_.empty(); }
  Lsn first_lsn() const;  // of the oldest segment; kFirstLsn for an empty log

  // Positions the reader at `lsn`, which must be in a segment and at a record boundary.
  [[nodiscard]] absl::Status Seek(Lsn lsn);
  // The next record, or false at the end of the log (then end_lsn() says where). DataLossError
  // at a bad record the mode does not accept.
  [[nodiscard]] absl::StatusOr<bool> Next(LogRecord* out);
  // The record at `lsn` (for undo). DataLossError if there is no valid record there.
  [[nodiscard]] absl::StatusOr<LogRecord> ReadAt(Lsn lsn);

  // Next() reports the end of the log at `lsn` (a second pass stops where the first found the
  // end, without touching segments past it, which appending may since have removed).
  void StopAt(Lsn lsn) { stop_ = lsn; }

  Lsn end_lsn() const { return end_lsn_; }
  // Where a bad record stopped the log in kPointInTime or kTolerateTail mode (kInvalidLsn if it
  // ended cleanly), and what was wrong with it.
  Lsn damaged_tail_lsn() const { return damaged_lsn_; }
  const std::string& damage() const { return damage_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

  // The segments, for LogManager::Open.
  std::vector<LogManager::SegmentInfo> segments() const;

 private:
  struct Seg {
    LogManager::SegmentInfo info;
    std::string name;
    bool end_marked = false;  // carries an end mark: a successor existed
    SegmentEndMark end_mark;
  };
  // What is at a position: a valid record, a clean end (zeros, end of file, a stale record),
  // a bad record (torn or damaged: the mode decides), or damage that is never a torn append
  // (a pre-sized segment cut short, an end-marked segment with no segment after it).
  enum class At { kValid, kClean, kBad, kCut };
  LogReader(LogEnv* env, RecoveryMode mode) : env_(env), mode_(mode) {}
  [[nodiscard]] absl::Status Load(std::size_t index);  // reads segment `index` into data_
  // Whether a valid record of the loaded segment starts at `lsn`.
  At ValidAt(Lsn lsn, RecordHeader* h, std::string* why) const;
  // Whether the record at offset `off` of the loaded segment, whose header `h` claims another
  // LSN, is this segment's record for `lsn` with its LSN field damaged: its checksum holds with
  // the LSN put back.
  bool OursWithLsnDamaged(std::uint64_t off, Lsn lsn, const RecordHeader& h) const;
  // Called at a position holding no valid record: decides end-of-log or DataLoss.
  [[nodiscard]] absl::Status AtBadRecord(Lsn lsn, At at, std::string why);
  // The valid records of the loaded segment after `lsn`: the first one, and the first one
  // appended when the log was already durable beyond `lsn` (kInvalidLsn where there is none).
  struct Later {
    Lsn first = kInvalidLsn;
    Lsn proof = kInvalidLsn;
    Lsn proof_durable = 0;
  };
  Later ValidAfter(Lsn lsn) const;

  LogEnv* env_;
  RecoveryMode mode_;
  std::vector<Seg> segments_;
  std::size_t loaded_ = ~std::size_t{0};
  std::vector<std::byte> data_;  // the loaded segment file
  std::size_t cur_ = 0;          // segment index of pos_
  Lsn pos_ = 0;
  bool at_end_ = false;
  Lsn end_lsn_ = 0;
  Lsn stop_ = ~Lsn{0};
  Lsn damaged_lsn_ = kInvalidLsn;
  std::string damage_;
  std::string open_damage_;  // kPointInTime: damaged segments Open dropped
  std::uint64_t bytes_read_ = 0;
};

}  // namespace pagestore
