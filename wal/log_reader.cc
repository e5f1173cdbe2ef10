#include "wal/log_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

namespace pagestore {
namespace {

bool AllZero(std::span<const std::byte> b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

}  // namespace

std::string_view RecoveryModeName(RecoveryMode mode) {
  switch (mode) {
    case RecoveryMode::kTolerateTail:
      return "tolerate-tail";
    case RecoveryMode::kAbsoluteConsistency:
      return "absolute";
    case RecoveryMode::kPointInTime:
      return "point-in-time";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<LogReader>> LogReader::Open(LogEnv* env, RecoveryMode mode) {
  std::unique_ptr<LogReader> r(new LogReader(env, mode));
  absl::StatusOr<std::vector<std::string>> names = env->ListFiles();
  if (!names.ok()) return names.status();
  struct Bad {
    std::uint64_t number;
    std::string name, why;
  };
  std::vector<Bad> bad;
  for (const std::string& name : *names) {
    std::uint64_t number;
    if (!ParseSegmentFileName(name, &number)) continue;
    absl::StatusOr<std::unique_ptr<LogFile>> file = env->OpenFile(name, /*create=*/false);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    std::array<std::byte, kSegmentHeaderSize> block{};
    absl::StatusOr<std::size_t> n = (*file)->Read(0, block);
    if (!n.ok()) return n.status();
    SegmentHeader h;
    const bool decoded = *n >= kSegmentHeaderUsed && DecodeSegmentHeader(block, &h);
    if (decoded && h.number == number) {
      Seg seg;
      seg.info = {h.number, h.first_lsn, h.salt, h.presized};
      seg.name = name;
      seg.end_marked =
          DecodeSegmentEndMark(std::span(block).subspan(kSegmentEndMarkOffset, kSegmentEndMarkSize),
                               h.salt, &seg.end_mark);
      r->segments_.push_back(std::move(seg));
      continue;
    }
    // Every ".wal" file is complete from birth (kNewSegmentSuffix), so a bad header is damage,
    // unless the file holds nothing at all (an empty file left by an older build's interrupted
    // creation): that one never held a record.
    std::vector<std::byte> all(*size);
    absl::StatusOr<std::size_t> got = (*file)->Read(0, all);
    if (!got.ok()) return got.status();
    if (AllZero(std::span(all).first(*got))) continue;
    bad.push_back({number, name,
                   decoded ? fmt::format("its header names segment {}", h.number)
                           : std::string(*n < kSegmentHeaderUsed ? "its header is cut short"
                                                                 : "its header is damaged")});
  }
  std::sort(r->segments_.begin(), r->segments_.end(),
            [](const Seg& a, const Seg& b) { return a.info.number < b.info.number; });
  if (!bad.empty()) {
    std::sort(bad.begin(), bad.end(),
              [](const Bad& a, const Bad& b) { return a.number < b.number; });
    const Bad& first = bad.front();
    if (mode != RecoveryMode::kPointInTime) {
      return absl::DataLossError(fmt::format(
          "{}: log segment {} is damaged ({}): it may hold committed records, so the log cannot "
          "be read past it; recover with RecoveryMode::kPointInTime to end the log before it "
          "(losing it and every later segment)",
          env->Describe(first.name), first.number, first.why));
    }
    // Point in time: the log ends before the first damaged segment.
    while (!r->segments_.empty() && r->segments_.back().info.number > first.number) {
      r->segments_.pop_back();
    }
    r->open_damage_ = fmt::format(
        "log segment {} is damaged ({}); it and every later segment "
        "are dropped",
        env->Describe(first.name), first.why);
  }
  return r;
}

Lsn LogReader::first_lsn() const {
  return segments_.empty() ? kFirstLsn : segments_.front().info.first_lsn;
}

std::vector<LogManager::SegmentInfo> LogReader::segments() const {
  std::vector<LogManager::SegmentInfo> out;
  for (const Seg& s : segments_) out.push_back(s.info);
  return out;
}

absl::Status LogReader::Load(std::size_t index) {
  if (loaded_ == index) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<LogFile>> file =
      env_->OpenFile(segments_[index].name, /*create=*/false);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::uint64_t> size = (*file)->Size();
  if (!size.ok()) return size.status();
  data_.resize(*size);
  absl::StatusOr<std::size_t> n = (*file)->Read(0, data_);
  if (!n.ok()) return n.status();
  data_.resize(*n);
  bytes_read_ += *n;
  loaded_ = index;
  return absl::OkStatus();
}

bool LogReader::OursWithLsnDamaged(std::uint64_t off, Lsn lsn, const RecordHeader& h) const {
  if (h.length < kRecordHeaderSize || off + h.length > data_.size()) return false;
  std::vector<std::byte> copy(data_.begin() + off, data_.begin() + off + h.length);
  std::memcpy(copy.data() + offsetof(RecordHeader, lsn), &lsn, sizeof lsn);
  return RecordChecksum(copy.data(), h.length, segments_[loaded_].info.salt) == h.checksum;
}

LogReader::At LogReader::ValidAt(Lsn lsn, RecordHeader* h, std::string* why) const {
  const Seg& seg = segments_[loaded_];
  const std::uint64_t off = kSegmentHeaderSize + (lsn - seg.info.first_lsn);
  // A pre-sized segment whose file is shorter was cut: reaching its end is damage.
  const bool cut = seg.info.presized != 0 && data_.size() < seg.info.presized;
  auto at_cut = [&](std::string what) {
    *why = fmt::format("{}; the file is {} bytes but was created with {}: it was cut short", what,
                       data_.size(), seg.info.presized);
    return At::kCut;
  };
  if (off >= data_.size()) {
    if (cut) return at_cut("the segment file ends");
    *why = "end of segment file";
    return At::kClean;
  }
  if (off + kRecordHeaderSize > data_.size()) {
    // Less room than a header: a clean end when it is the zeroed end of a full segment.
    if (AllZero(std::span(data_).subspan(off))) {
      if (cut) return at_cut("the segment file ends");
      *why = "zeroed end of segment";
      return At::kClean;
    }
    if (cut) return at_cut("truncated record header");
    *why = "truncated record header";
    return At::kBad;
  }
  *h = ReadRecordHeader(data_.data() + off);
  static constexpr std::array<std::byte, kRecordHeaderSize> kZero{};
  if (std::memcmp(data_.data() + off, kZero.data(), kRecordHeaderSize) == 0) {
    *why = "zeroed tail";
    return At::kClean;
  }
  // A recycled file's stale record was written by the file's earlier life, so its LSN is below
  // this life's first LSN and, like every record, it names no later LSN than its own; and it
  // is not this life's record with its LSN field damaged, which, with the LSN put back, checks
  // under this life's salt.
  if (h->lsn < seg.info.first_lsn && h->lsn != 0 && h->durable_lsn <= h->lsn &&
      h->prev_lsn < h->lsn && !OursWithLsnDamaged(off, lsn, *h)) {
    *why = fmt::format("stale record of LSN {} from a recycled segment", h->lsn);
    return At::kClean;
  }
  if (h->lsn != lsn) {
    *why = fmt::format("record header claims LSN {}", h->lsn);
  } else if (h->length < kRecordHeaderSize) {
    *why = fmt::format("bad record length {}", h->length);
  } else if (off + h->length > data_.size()) {
    const std::string what =
        fmt::format("truncated record: {} bytes, {} in the file", h->length, data_.size() - off);
    if (cut) return at_cut(what);
    *why = what;
  } else if (RecordChecksum(data_.data() + off, h->length, seg.info.salt) != h->checksum) {
    *why = "record checksum mismatch";
  } else if (h->type < RecordType::kMtr || h->type > RecordType::kCheckpoint) {
    *why = fmt::format("unknown record type {}", static_cast<int>(h->type));
  } else {
    return At::kValid;
  }
  return At::kBad;
}

LogReader::Later LogReader::ValidAfter(Lsn lsn) const {
  Later later;
  const Seg& seg = segments_[loaded_];
  const std::uint64_t off = kSegmentHeaderSize + (lsn - seg.info.first_lsn);
  for (std::uint64_t o = off + kRecordAlignment; o + kRecordHeaderSize <= data_.size();
       o += kRecordAlignment) {
    const Lsn p = seg.info.first_lsn + (o - kSegmentHeaderSize);
    Lsn claimed;
    std::memcpy(&claimed, data_.data() + o + offsetof(RecordHeader, lsn), sizeof claimed);
    if (claimed != p) continue;  // cheap filter before the checksum
    RecordHeader h;
    std::string ignored;
    if (ValidAt(p, &h, &ignored) != At::kValid) continue;
    if (later.first == kInvalidLsn) later.first = p;
    if (h.durable_lsn > lsn) {
      later.proof = p;
      later.proof_durable = h.durable_lsn;
      break;
    }
  }
  return later;
}

absl::Status LogReader::AtBadRecord(Lsn lsn, At at, std::string why) {
  const std::string where = fmt::format("{}: LSN {}", env_->Describe(segments_[cur_].name), lsn);
  // The writer appends in order and marks its end with zeros, so a valid record of this
  // segment's life past an apparently clean end means the bytes there were written and then
  // lost or damaged: not an end, but damage (and maybe the loss of acknowledged commits).
  const Later later = at == At::kCut ? Later{} : ValidAfter(lsn);
  if (at == At::kClean && later.first != kInvalidLsn) {
    at = At::kBad;
    why = fmt::format("{}, but the valid record at LSN {} follows it", why, later.first);
  }
  const bool clean = at == At::kClean;
  auto stop_here = [&] {
    if (!clean) {
      damaged_lsn_ = lsn;
      damage_ = why;
    }
    return absl::OkStatus();
  };
  if (mode_ == RecoveryMode::kPointInTime) return stop_here();
  if (at == At::kCut) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log is damaged ({}); records past it may have been committed; "
        "recover with RecoveryMode::kPointInTime to stop at LSN {}",
        where, why, lsn));
  }
  if (!clean && mode_ == RecoveryMode::kAbsoluteConsistency) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log does not end cleanly ({}); absolute-consistency recovery "
        "refuses it",
        where, why));
  }
  // Proof that the bytes at `lsn` were once durable: a later segment, or a later valid record of
  // this segment appended after the log was durable beyond `lsn`.
  if (cur_ + 1 < segments_.size()) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log is damaged ({}) but segment {} follows, so the damaged part had "
        "been synced; recover with RecoveryMode::kPointInTime to stop at LSN {}",
        where, why, segments_[cur_ + 1].name, lsn));
  }
  if (later.proof != kInvalidLsn) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log is damaged ({}) but the valid record at LSN {} after it was "
        "written when the log was durable up to LSN {}; recover with RecoveryMode::kPointInTime "
        "to stop at LSN {}",
        where, why, later.proof, later.proof_durable, lsn));
  }
  return stop_here();
}

absl::Status LogReader::Seek(Lsn lsn) {
  if (segments_.empty() || lsn < segments_.front().info.first_lsn) {
    return absl::DataLossError(fmt::format(
        "{}: recovery needs the log from LSN {} but it starts at LSN {}", env_->Describe(""), lsn,
        segments_.empty() ? 0 : segments_.front().info.first_lsn));
  }
  std::size_t i = segments_.size() - 1;
  while (segments_[i].info.first_lsn > lsn) --i;
  cur_ = i;
  pos_ = lsn;
  at_end_ = false;
  damaged_lsn_ = kInvalidLsn;
  damage_.clear();
  return absl::OkStatus();
}

absl::StatusOr<bool> LogReader::Next(LogRecord* out) {
  if (at_end_) return false;
  if (pos_ >= stop_) {
    at_end_ = true;
    end_lsn_ = pos_;
    return false;
  }
  auto next_starts_here = [&] {
    return cur_ + 1 < segments_.size() && segments_[cur_ + 1].info.first_lsn == pos_ &&
           segments_[cur_ + 1].info.number == segments_[cur_].info.number + 1;
  };
  for (;;) {
    // The writer starts a segment exactly where the log is; whatever the previous file holds
    // past that point (its segment-end marker, zeros, a recycled file's stale bytes) is not
    // part of the log.
    if (next_starts_here()) ++cur_;
    if (absl::Status s = Load(cur_); !s.ok()) return s;
    RecordHeader h;
    std::string why;
    At at = ValidAt(pos_, &h, &why);
    const Seg& seg = segments_[cur_];
    if (at == At::kClean && seg.end_marked) {
      // The segment after this one existed before this one was marked: it is gone, or not ours.
      at = At::kCut;
      why =
          fmt::format("{}; the segment's end mark names segment {} from LSN {}, but {}", why,
                      seg.end_mark.next_number, seg.end_mark.next_first_lsn,
                      cur_ + 1 < segments_.size() ? fmt::format("the next file is {}, from LSN {}",
                                                                segments_[cur_ + 1].name,
                                                                segments_[cur_ + 1].info.first_lsn)
                                                  : std::string("no such segment exists"));
    }
    if (at == At::kValid) {
      const std::uint64_t off = kSegmentHeaderSize + (pos_ - segments_[cur_].info.first_lsn);
      out->header = h;
      out->payload = std::span<const std::byte>(data_.data() + off + kRecordHeaderSize,
                                                h.length - kRecordHeaderSize);
      pos_ += AlignRecord(h.length);
      return true;
    }
    if (absl::Status s = AtBadRecord(pos_, at, why); !s.ok()) return s;
    at_end_ = true;
    end_lsn_ = pos_;
    if (!open_damage_.empty()) {
      if (damaged_lsn_ == kInvalidLsn) damaged_lsn_ = pos_;
      damage_ = damage_.empty() ? open_damage_ : fmt::format("{}; {}", damage_, open_damage_);
    }
    return false;
  }
}

absl::StatusOr<LogRecord> LogReader::ReadAt(Lsn lsn) {
  std::size_t i = segments_.size();
  while (i > 0 && segments_[i - 1].info.first_lsn > lsn) --i;
  if (i == 0) {
    return absl::DataLossError(
        fmt::format("{}: no log segment holds LSN {}", env_->Describe(""), lsn));
  }
  --i;
  if (absl::Status s = Load(i); !s.ok()) return s;
  RecordHeader h;
  std::string why;
  if (ValidAt(lsn, &h, &why) != At::kValid) {
    return absl::DataLossError(fmt::format("{}: no valid record at LSN {} ({})",
                                           env_->Describe(segments_[i].name), lsn, why));
  }
  const std::uint64_t off = kSegmentHeaderSize + (lsn - segments_[i].info.first_lsn);
  LogRecord r;
  r.header = h;
  r.payload = std::span<const std::byte>(data_.data() + off + kRecordHeaderSize,
                                         h.length - kRecordHeaderSize);
  return r;
}

}  // namespace pagestore
