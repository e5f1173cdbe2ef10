#include "wal/log_manager.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

namespace pagestore {

LogManager::LogManager(LogEnv* env, const LogOptions& options)
    : env_(env),
      options_(options),
      salt_state_(
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          reinterpret_cast<std::uintptr_t>(this)) {}

LogManager::~LogManager() = default;

std::uint64_t LogManager::NewSalt() {
  // splitmix64 over a clock-seeded state: distinct salts per segment and per run.
  std::uint64_t z = (salt_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {

// Zeroes whatever is not zero in `file` from `from` on (a torn or damaged tail, stale bytes of
// a recycled file); a clean preallocated tail is left alone.
absl::Status ZeroTail(LogFile& file, std::uint64_t from, std::uint64_t size) {
  std::vector<std::byte> chunk(1 << 20);
  std::uint64_t dirty_end = from;
  for (std::uint64_t off = from; off < size; off += chunk.size()) {
    const std::size_t want = std::min<std::uint64_t>(chunk.size(), size - off);
    absl::StatusOr<std::size_t> n = file.Read(off, std::span(chunk).first(want));
    if (!n.ok()) return n.status();
    for (std::size_t i = *n; i > 0; --i) {
      if (chunk[i - 1] != std::byte{0}) {
        dirty_end = off + i;
        break;
      }
    }
  }
  std::fill(chunk.begin(), chunk.end(), std::byte{0});
  for (std::uint64_t off = from; off < dirty_end; off += chunk.size()) {
    const std::size_t n = std::min<std::uint64_t>(chunk.size(), dirty_end - off);
    if (absl::Status s = file.Write(off, std::span(chunk).first(n)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Makes the last kept segment ready for appends at `end_offset`: nothing past it but zeros, its
// pre-sized length (`presized`) restored if it was cut short, no end mark, and synced.
absl::Status ResumeAt(LogFile& file, std::uint64_t end_offset, std::uint64_t presized,
                      std::uint64_t segment_size) {
  absl::StatusOr<std::uint64_t> size = file.Size();
  if (!size.ok()) return size.status();
  if (*size > end_offset) {
    if (absl::Status s = ZeroTail(file, end_offset, *size); !s.ok()) return s;
  }
  if (*size < presized && presized <= segment_size) {
    // Cut short (recovery accepted the loss): back to its length, so that a torn append at the
    // end of what follows is not taken for another cut. (Never beyond the configured segment
    // size: the length is the header's word, and the header may be crafted.)
    std::vector<std::byte> zeros(1 << 20);
    for (std::uint64_t off = *size; off < presized; off += zeros.size()) {
      const std::size_t n = std::min<std::uint64_t>(zeros.size(), presized - off);
      if (absl::Status s = file.Write(off, std::span(zeros).first(n)); !s.ok()) return s;
    }
  }
  // Appending continues in this segment: an end mark left from before (its successors are
  // removed) must not claim a successor any more.
  std::array<std::byte, kSegmentEndMarkSize> mark{};
  absl::StatusOr<std::size_t> n = file.Read(kSegmentEndMarkOffset, mark);
  if (!n.ok()) return n.status();
  if (std::any_of(mark.begin(), mark.end(), [](std::byte b) { return b != std::byte{0}; })) {
    const std::array<std::byte, kSegmentEndMarkSize> zeros{};
    if (absl::Status s = file.Write(kSegmentEndMarkOffset, zeros); !s.ok()) return s;
  }
  // Sync what the crashed writer left in the OS: redo must not get ahead of the log on disk.
  return file.Sync();
}

// Removes every segment file not in `keep`, and any leftover of an interrupted creation; syncs
// the directory if anything went.
absl::Status RemoveUnkept(LogEnv& env, const std::vector<std::string>& names,
                          const std::vector<LogManager::SegmentInfo>& keep) {
  bool removed = false;
  for (const std::string& name : names) {
    std::uint64_t number;
    const bool segment = ParseSegmentFileName(name, &number);
    if (!segment && !name.ends_with(kNewSegmentSuffix)) continue;
    const bool kept =
        segment && std::any_of(keep.begin(), keep.end(), [&](const LogManager::SegmentInfo& s) {
          return s.number == number;
        });
    if (!kept) {
      if (absl::Status s = env.RemoveFile(name); !s.ok()) return s;
      removed = true;
    }
  }
  return removed ? env.SyncDir() : absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogManager>> LogManager::Open(
    LogEnv* env, const LogOptions& options, const std::vector<SegmentInfo>& segments, Lsn end_lsn) {
  if (options.segment_size < kSegmentHeaderSize + 64 * 1024 ||
      options.segment_size > kMaxSegmentSize || options.segment_size % kRecordAlignment != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "log segment size {} must be a multiple of {} from {} to {}", options.segment_size,
        kRecordAlignment, kSegmentHeaderSize + 64 * 1024, kMaxSegmentSize));
  }
  // Nobody else can reach the log until Open returns: the locks taken below exclude nobody and
  // cost nothing; they are what the annotations of the fields ask for.
  std::unique_ptr<LogManager> log(new LogManager(env, options));
  absl::StatusOr<std::vector<std::string>> names = env->ListFiles();
  if (!names.ok()) return names.status();

  // Keep the segments that hold records below end_lsn, and the one that begins exactly there (a
  // successor created before the crash, still empty: appending resumes in it, and the end mark
  // of the segment before stays true). The last kept one is cut at end_lsn.
  {
    MutexLock lock(&log->mu_);
    for (const std::string& name : *names) {
      if (name.ends_with(kSpareSuffix)) log->spares_.push_back(name);
    }
  }
  std::vector<SegmentInfo> keep;
  for (const SegmentInfo& seg : segments) {
    if (seg.first_lsn < end_lsn) {
      keep.push_back(seg);
    } else if (seg.first_lsn == end_lsn && (keep.empty() || seg.number == keep.back().number + 1)) {
      keep.push_back(seg);
      break;
    }
  }
  if (!keep.empty()) {
    // The last kept segment first (before anything is removed: a crash between the two must not
    // leave an end mark naming a removed successor).
    Segment* last_kept;
    {
      MutexLock lock(&log->mu_);
      for (const SegmentInfo& info : keep) {
        Segment seg;
        seg.number = info.number;
        seg.first_lsn = info.first_lsn;
        seg.salt = info.salt;
        seg.presized = info.presized;
        seg.synced_full = true;
        log->segments_.push_back(std::move(seg));
      }
      last_kept = &log->segments_.back();
    }
    Segment& last = *last_kept;
    absl::StatusOr<std::unique_ptr<LogFile>> file =
        env->OpenFile(SegmentFileName(last.number), /*create=*/false);
    if (!file.ok()) return file.status();
    const std::uint64_t end_offset = kSegmentHeaderSize + (end_lsn - last.first_lsn);
    if (absl::Status s = ResumeAt(**file, end_offset, last.presized, options.segment_size);
        !s.ok()) {
      return s;
    }
    last.file = std::move(*file);
    last.synced_full = false;
  }
  // Then every other segment file goes, and any leftover of an interrupted creation.
  if (absl::Status s = RemoveUnkept(*env, *names, keep); !s.ok()) return s;
  if (keep.empty()) {
    Segment* first;
    {
      MutexLock lock(&log->mu_);
      Segment seg;
      seg.number = 1;
      seg.first_lsn = end_lsn;
      seg.salt = log->NewSalt();
      log->segments_.push_back(std::move(seg));
      first = &log->segments_.back();
    }
    log->leader_.Become();  // Open creates the first segment as a flush would
    absl::Status s = log->CreateSegmentFile(*first);
    log->leader_.Resign();
    if (!s.ok()) return s;
  }
  {
    MutexLock lock(&log->mu_);
    log->buf_start_ = log->next_lsn_ = log->written_lsn_ = log->durable_lsn_ = end_lsn;
    log->redo_lsn_ = kInvalidLsn;
    log->buf_.reserve(options.buffer_size);
  }
  log->leader_.Become();
  log->spare_buf_.reserve(options.buffer_size);
  log->leader_.Resign();
  return log;
}

absl::Status LogManager::CreateSegmentFile(Segment& seg) {
  // Built under a temporary name and renamed once whole (see kNewSegmentSuffix): a crash leaves
  // either no segment or a complete one with an intact header, never a ".wal" file recovery
  // would have to guess about.
  const std::string name = SegmentFileName(seg.number);
  const std::string temp = NewSegmentFileName(seg.number);
  std::string spare;
  {
    MutexLock lock(&mu_);
    if (!spares_.empty()) {
      spare = spares_.back();
      spares_.pop_back();
    }
  }
  absl::StatusOr<std::unique_ptr<LogFile>> file;
  std::uint64_t presized = 0;
  if (!spare.empty()) {
    if (absl::Status s = env_->RenameFile(spare, temp); !s.ok()) return s;
    file = env_->OpenFile(temp, /*create=*/false);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    presized = *size;
    MutexLock lock(&mu_);
    ++stats_.segments_recycled;
  } else {
    file = env_->OpenFile(temp, /*create=*/true);
    if (!file.ok()) return file.status();
    // A leftover of an interrupted creation starts over.
    if (absl::Status s = (*file)->Truncate(0); !s.ok()) return s;
    if (options_.preallocate) {
      std::vector<std::byte> zeros(std::min<std::uint64_t>(options_.segment_size, 1 << 20));
      for (std::uint64_t off = 0; off < options_.segment_size; off += zeros.size()) {
        const std::size_t n = std::min<std::uint64_t>(zeros.size(), options_.segment_size - off);
        if (absl::Status s = (*file)->Write(off, std::span(zeros).first(n)); !s.ok()) return s;
      }
      presized = options_.segment_size;
    }
    MutexLock lock(&mu_);
    ++stats_.segments_created;
  }
  seg.presized = presized;
  alignas(64) std::array<std::byte, kSegmentHeaderSize> header;
  EncodeSegmentHeader({seg.number, seg.first_lsn, seg.salt, presized}, header);
  if (absl::Status s = (*file)->Write(0, header); !s.ok()) return s;
  if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  if (absl::Status s = env_->RenameFile(temp, name); !s.ok()) return s;
  if (absl::Status s = env_->SyncDir(); !s.ok()) return s;
  seg.file = std::move(*file);
  return absl::OkStatus();
}

absl::Status LogManager::MarkSegmentEnd(Segment& seg, const Segment& next) {
  std::array<std::byte, kSegmentEndMarkSize> mark;
  EncodeSegmentEndMark({next.number, next.first_lsn}, seg.salt, mark);
  if (absl::Status s = seg.file->Write(kSegmentEndMarkOffset, mark); !s.ok()) return s;
  if (absl::Status s = seg.file->Sync(); !s.ok()) return s;
  MutexLock lock(&mu_);
  ++stats_.syncs;
  return absl::OkStatus();
}

absl::Status LogManager::FailedLocked() const {
  return absl::FailedPreconditionError(
      fmt::format("the write-ahead log failed earlier and takes no more work until the store is "
                  "reopened: {}",
                  failed_.ToString()));
}

absl::StatusOr<Lsn> LogManager::Append(const Record& rec, Lsn expected_redo_lsn,
                                       absl::FunctionRef<void(Lsn)> under_lock) {
  const std::size_t length = kRecordHeaderSize + rec.payload.size();
  const std::size_t capacity = options_.segment_size - kSegmentHeaderSize;
  if (length > capacity) {
    return absl::InvalidArgumentError(fmt::format(
        "log record of {} bytes exceeds the segment capacity of {} bytes", length, capacity));
  }
  const std::size_t padded = AlignRecord(length);
  MutexLock lock(&mu_);
  for (;;) {
    if (!failed_.ok()) return FailedLocked();
    if (expected_redo_lsn != kInvalidLsn && expected_redo_lsn != redo_lsn_) {
      return absl::AbortedError("a checkpoint moved the redo LSN; rebuild the record");
    }
    // Too much unwritten log: write it out before buffering more (the caller waits).
    if (buf_.size() + padded <= options_.buffer_size || buf_.empty()) break;
    const Lsn target = next_lsn_ - 1;
    lock.Unlock();
    if (absl::Status s = Flush(target, /*sync=*/false, {}); !s.ok()) return s;
    lock.Lock();
  }
  Segment* seg = &segments_.back();
  if (next_lsn_ - seg->first_lsn + padded > capacity && next_lsn_ > seg->first_lsn) {
    Segment next;
    next.number = seg->number + 1;
    next.first_lsn = next_lsn_;
    next.salt = NewSalt();
    segments_.push_back(std::move(next));
    seg = &segments_.back();
  }
  const Lsn lsn = next_lsn_;
  const std::size_t at = buf_.size();
  buf_.resize(at + padded);
  std::byte* p = buf_.data() + at;
  RecordHeader h;
  h.length = static_cast<std::uint32_t>(length);
  h.type = rec.type;
  h.lsn = lsn;
  h.prev_lsn = rec.prev_lsn;
  h.txn_id = rec.txn_id;
  h.durable_lsn = durable_lsn_;
  if (!rec.payload.empty()) {
    std::memcpy(p + kRecordHeaderSize, rec.payload.data(), rec.payload.size());
  }
  if (padded > length) std::memset(p + length, 0, padded - length);
  SealRecord(h, seg->salt, p);
  next_lsn_ += padded;
  ++stats_.appends;
  stats_.bytes_appended += padded;
  under_lock(lsn);
  return lsn;
}

absl::Status LogManager::WriteOut(std::vector<std::byte>& bytes, Lsn start,
                                  std::vector<Segment*>& segs, bool sync) {
  const Lsn end = start + bytes.size();
  // An end marker: zeros after the last record (overwritten by the next write), so the log's
  // end reads as a clean zeroed tail even in a recycled segment full of stale bytes.
  const std::uint64_t room =
      options_.segment_size - kSegmentHeaderSize - (end - segs.back()->first_lsn);
  bytes.resize(bytes.size() + std::min<std::uint64_t>(room, kRecordHeaderSize));
  for (std::size_t i = 0; i < segs.size(); ++i) {
    Segment& seg = *segs[i];
    const bool last = i + 1 == segs.size();
    const Lsn seg_end = last ? start + bytes.size() : segs[i + 1]->first_lsn;
    const Lsn from = std::max(start, seg.first_lsn);
    if (seg.file == nullptr) {
      if (absl::Status s = CreateSegmentFile(seg); !s.ok()) return s;
    }
    if (seg_end > from) {
      std::span<const std::byte> part(bytes.data() + (from - start), seg_end - from);
      if (absl::Status s = seg.file->Write(kSegmentHeaderSize + (from - seg.first_lsn), part);
          !s.ok()) {
        return s;
      }
    }
    // A segment followed by another is synced whole before the next one gets a byte; then the
    // next one is created (durably), then this one gets its end mark (synced), so a missing
    // successor of a marked segment is damage, and a successor holding records always follows a
    // marked segment.
    if ((!last && !seg.synced_full) || (last && sync)) {
      if (absl::Status s = seg.file->Sync(); !s.ok()) return s;
      MutexLock lock(&mu_);
      ++stats_.syncs;
    }
    if (!last) {
      if (!seg.synced_full) {
        Segment& next = *segs[i + 1];
        if (next.file == nullptr) {
          if (absl::Status s = CreateSegmentFile(next); !s.ok()) return s;
        }
        if (absl::Status s = MarkSegmentEnd(seg, next); !s.ok()) return s;
      }
      seg.synced_full = true;
      seg.file.reset();  // no more writes go there
    }
  }
  return absl::OkStatus();
}

absl::Status LogManager::Flush(Lsn lsn, bool sync, std::chrono::microseconds wait,
                               std::size_t siblings) {
  MutexLock lock(&mu_);
  for (;;) {
    if (!failed_.ok()) return FailedLocked();
    if (lsn >= next_lsn_) {
      return absl::InvalidArgumentError(
          fmt::format("LSN {} is beyond the end of the log ({})", lsn, next_lsn_));
    }
    if ((sync ? durable_lsn_ : written_lsn_) > lsn) return absl::OkStatus();
    if (!flushing_) break;
    // Wait for the flush in progress to end. waiting_ counts the waiters of this flush only: the
    // leader resets it when the flush ends, so a gathering leader never counts threads that were
    // released but have not run yet.
    const std::uint64_t generation = flush_generation_;
    ++waiting_;
    gather_cv_.Signal();  // a gathering leader counts us
    while (flush_generation_ == generation) cv_.Wait(&mu_);
  }
  flushing_ = true;
  leader_.Become();
  if (wait.count() > 0) {
    // Group commit: give the other active transactions a moment to add their commits to this
    // write, until they all wait on it or the window closes.
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (waiting_ < siblings && failed_.ok()) {
      if (gather_cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
  }
  std::swap(buf_, spare_buf_);
  buf_.clear();
  const Lsn start = buf_start_;
  const Lsn end = next_lsn_;
  buf_start_ = end;
  // Only the segments that [start, end) touches; the flusher alone uses their files.
  std::vector<Segment*> segs;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const Lsn seg_end = i + 1 < segments_.size() ? segments_[i + 1].first_lsn : ~Lsn{0};
    if (seg_end > start || (seg_end == start && !segments_[i].synced_full)) {
      segs.push_back(&segments_[i]);
    }
  }
  const bool need_sync = sync;
  lock.Unlock();

  absl::Status status = WriteOut(spare_buf_, start, segs, need_sync);

  lock.Lock();
  ++stats_.flushes;
  if (status.ok()) {
    written_lsn_ = end;
    if (need_sync) durable_lsn_ = end;
  } else if (failed_.ok()) {
    failed_ = status;
  }
  flushing_ = false;
  leader_.Resign();
  ++flush_generation_;
  waiting_ = 0;
  cv_.SignalAll();
  if (!status.ok()) return status;
  lock.Unlock();
  // Our LSN may have been appended after the write began (the leader took the buffer first).
  return Flush(lsn, sync, {});
}

absl::Status LogManager::FlushUntil(Lsn lsn) { return Flush(lsn, /*sync=*/true, {}); }

absl::Status LogManager::Commit(Lsn lsn, Durability durability, std::size_t siblings) {
  switch (durability) {
    case Durability::kSync:
      return Flush(lsn, true, {});
    case Durability::kGroup:
      // Waiting only pays when someone else may commit meanwhile (PostgreSQL's commit_siblings).
      return Flush(lsn, true,
                   siblings > 0 ? options_.group_commit_wait : std::chrono::microseconds{0},
                   siblings);
    case Durability::kNone:
      return Flush(lsn, false, {});
  }
  return absl::InvalidArgumentError("unknown durability");
}

absl::Status LogManager::FlushAll() {
  Lsn last;
  {
    MutexLock lock(&mu_);
    if (!failed_.ok()) return FailedLocked();
    if (next_lsn_ == durable_lsn_) return absl::OkStatus();
    last = next_lsn_ - 1;
  }
  return Flush(last, true, {});
}

Lsn LogManager::redo_lsn() const {
  MutexLock lock(&mu_);
  return redo_lsn_;
}

Lsn LogManager::BeginCheckpoint(absl::FunctionRef<void(Lsn)> under_lock) {
  MutexLock lock(&mu_);
  redo_lsn_ = next_lsn_;
  under_lock(redo_lsn_);
  return redo_lsn_;
}

void LogManager::ResumeRedoLsn(Lsn lsn) {
  MutexLock lock(&mu_);
  redo_lsn_ = lsn;
}

absl::Status LogManager::RemoveSegmentsBefore(Lsn lsn) {
  std::vector<std::unique_ptr<LogFile>> closing;
  std::vector<std::uint64_t> drop;
  {
    // Act as the flush leader meanwhile, so no write touches the segments being dropped.
    MutexLock lock(&mu_);
    while (flushing_) cv_.Wait(&mu_);
    if (!failed_.ok()) return FailedLocked();
    // Segment 0 may go when all its records lie below `lsn` and it was synced whole (the next
    // segment has been written to).
    while (segments_.size() > 1 && segments_[1].first_lsn <= lsn &&
           segments_[1].first_lsn <= written_lsn_ && segments_[0].synced_full) {
      drop.push_back(segments_.front().number);
      closing.push_back(std::move(segments_.front().file));
      segments_.pop_front();
    }
  }
  closing.clear();
  if (drop.empty()) return absl::OkStatus();
  for (std::uint64_t number : drop) {
    const std::string name = SegmentFileName(number);
    bool keep;
    {
      MutexLock lock(&mu_);
      keep = spares_.size() < options_.max_spare_segments;
    }
    if (keep) {
      const std::string spare = fmt::format("{:016x}{}", number, kSpareSuffix);
      if (absl::Status s = env_->RenameFile(name, spare); !s.ok()) return s;
      MutexLock lock(&mu_);
      spares_.push_back(spare);
    } else {
      if (absl::Status s = env_->RemoveFile(name); !s.ok()) return s;
    }
    MutexLock lock(&mu_);
    ++stats_.segments_removed;
  }
  return env_->SyncDir();
}

Lsn LogManager::next_lsn() const {
  MutexLock lock(&mu_);
  return next_lsn_;
}

Lsn LogManager::durable_lsn() const {
  MutexLock lock(&mu_);
  return durable_lsn_;
}

absl::Status LogManager::failure() const {
  MutexLock lock(&mu_);
  return failed_;
}

LogStats LogManager::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

std::size_t LogManager::segment_count() const {
  MutexLock lock(&mu_);
  return segments_.size();
}

std::uint64_t LogManager::WaitWhileFlushing(std::chrono::microseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  MutexLock lock(&mu_);
  while (flushing_) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return flush_generation_;
}

std::vector<LogManager::SegmentInfo> LogManager::Segments() const {
  MutexLock lock(&mu_);
  std::vector<SegmentInfo> out;
  out.reserve(segments_.size());
  for (const Segment& seg : segments_) {
    out.push_back({seg.number, seg.first_lsn, seg.salt, seg.presized});
  }
  return out;
}

}  // namespace pagestore
