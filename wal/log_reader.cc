#include "wal/log_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace pagestore {
namespace {

enum class At { kValid, kClean, kBad };

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
  for (const std::string& name : *names) {
    std::uint64_t number;
    if (!ParseSegmentFileName(name, &number)) continue;
    absl::StatusOr<std::unique_ptr<LogFile>> file = env->OpenFile(name, /*create=*/false);
    if (!file.ok()) return file.status();
    std::array<std::byte, kSegmentHeaderUsed> block;
    absl::StatusOr<std::size_t> n = (*file)->Read(0, block);
    if (!n.ok()) return n.status();
    SegmentHeader h;
    if (*n < block.size() || !DecodeSegmentHeader(block, &h) || h.number != number) {
      continue;  // created but never given its header: it holds no records
    }
    r->segments_.push_back({{h.number, h.first_lsn, h.salt}, name});
  }
  std::sort(r->segments_.begin(), r->segments_.end(),
            [](const Seg& a, const Seg& b) { return a.info.number < b.info.number; });
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

bool LogReader::ValidAt(Lsn lsn, RecordHeader* h, std::string* why) const {
  const Seg& seg = segments_[loaded_];
  const std::uint64_t off = kSegmentHeaderSize + (lsn - seg.info.first_lsn);
  At at = At::kBad;
  if (off >= data_.size()) {
    at = At::kClean;
    *why = "end of segment file";
  } else if (off + kRecordHeaderSize > data_.size()) {
    // Less room than a header: a clean end when it is the zeroed end of a full segment.
    const bool zeros = std::all_of(data_.begin() + static_cast<std::ptrdiff_t>(off), data_.end(),
                                   [](std::byte b) { return b == std::byte{0}; });
    at = zeros ? At::kClean : At::kBad;
    *why = zeros ? "zeroed end of segment" : "truncated record header";
  } else {
    *h = ReadRecordHeader(data_.data() + off);
    static constexpr std::array<std::byte, kRecordHeaderSize> kZero{};
    if (std::memcmp(data_.data() + off, kZero.data(), kRecordHeaderSize) == 0) {
      at = At::kClean;
      *why = "zeroed tail";
    } else if (h->lsn < lsn && h->lsn != 0) {
      at = At::kClean;
      *why = fmt::format("stale record of LSN {} from a recycled segment", h->lsn);
    } else if (h->lsn != lsn) {
      *why = fmt::format("record header claims LSN {}", h->lsn);
    } else if (h->length < kRecordHeaderSize) {
      *why = fmt::format("bad record length {}", h->length);
    } else if (off + h->length > data_.size()) {
      *why =
          fmt::format("truncated record: {} bytes, {} in the file", h->length, data_.size() - off);
    } else if (RecordChecksum(data_.data() + off, h->length, seg.info.salt) != h->checksum) {
      *why = "record checksum mismatch";
    } else if (h->type < RecordType::kMtr || h->type > RecordType::kCheckpoint) {
      *why = fmt::format("unknown record type {}", static_cast<int>(h->type));
    } else {
      return true;
    }
  }
  // Callers distinguish clean from bad by `why`'s first word via IsClean below.
  if (at == At::kClean) why->insert(0, "clean: ");
  return false;
}

namespace {
bool IsClean(std::string_view why) { return why.starts_with("clean: "); }
std::string_view Reason(std::string_view why) { return IsClean(why) ? why.substr(7) : why; }
}  // namespace

absl::Status LogReader::AtBadRecord(Lsn lsn, const std::string& why) {
  const std::string where = fmt::format("{}: LSN {}", env_->Describe(segments_[cur_].name), lsn);
  const bool clean = IsClean(why);
  if (!clean && mode_ == RecoveryMode::kAbsoluteConsistency) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log does not end cleanly ({}); absolute-consistency recovery "
        "refuses it",
        where, Reason(why)));
  }
  if (mode_ == RecoveryMode::kPointInTime) {
    if (!clean) {
      damaged_lsn_ = lsn;
      damage_ = std::string(Reason(why));
    }
    return absl::OkStatus();
  }
  // Proof that the bytes at `lsn` were once durable: a later segment, or a later valid record of
  // this segment appended after the log was durable beyond `lsn`.
  if (cur_ + 1 < segments_.size()) {
    return absl::DataLossError(fmt::format(
        "{}: the write-ahead log is damaged ({}) but segment {} follows, so the damaged part had "
        "been synced; recover with RecoveryMode::kPointInTime to stop at LSN {}",
        where, Reason(why), segments_[cur_ + 1].name, lsn));
  }
  const Seg& seg = segments_[cur_];
  const std::uint64_t off = kSegmentHeaderSize + (lsn - seg.info.first_lsn);
  for (std::uint64_t o = off + kRecordAlignment; o + kRecordHeaderSize <= data_.size();
       o += kRecordAlignment) {
    const Lsn p = seg.info.first_lsn + (o - kSegmentHeaderSize);
    RecordHeader h = ReadRecordHeader(data_.data() + o);
    if (h.lsn != p) continue;  // cheap filter before the checksum
    std::string ignored;
    if (!ValidAt(p, &h, &ignored)) continue;
    if (h.durable_lsn > lsn || mode_ == RecoveryMode::kAbsoluteConsistency) {
      return absl::DataLossError(fmt::format(
          "{}: the write-ahead log is damaged ({}) but the valid record at LSN {} after it was "
          "written when the log was durable up to LSN {}; recover with RecoveryMode::kPointInTime "
          "to stop at LSN {}",
          where, Reason(why), p, h.durable_lsn, lsn));
    }
  }
  if (!clean) {
    damaged_lsn_ = lsn;
    damage_ = std::string(Reason(why));
  }
  return absl::OkStatus();
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
  for (;;) {
    // The writer starts a segment exactly where the log is; whatever the previous file holds
    // past that point (zeros, a recycled file's stale bytes) is not part of the log.
    if (cur_ + 1 < segments_.size() && segments_[cur_ + 1].info.first_lsn == pos_ &&
        segments_[cur_ + 1].info.number == segments_[cur_].info.number + 1) {
      ++cur_;
    }
    if (absl::Status s = Load(cur_); !s.ok()) return s;
    RecordHeader h;
    std::string why;
    if (ValidAt(pos_, &h, &why)) {
      const std::uint64_t off = kSegmentHeaderSize + (pos_ - segments_[cur_].info.first_lsn);
      out->header = h;
      out->payload = std::span<const std::byte>(data_.data() + off + kRecordHeaderSize,
                                                h.length - kRecordHeaderSize);
      pos_ += AlignRecord(h.length);
      return true;
    }
    // A segment ends where the next one begins (its tail is zeros, stale or EOF).
    if (IsClean(why) && cur_ + 1 < segments_.size() && segments_[cur_ + 1].info.first_lsn == pos_ &&
        segments_[cur_ + 1].info.number == segments_[cur_].info.number + 1) {
      ++cur_;
      continue;
    }
    if (absl::Status s = AtBadRecord(pos_, why); !s.ok()) return s;
    at_end_ = true;
    end_lsn_ = pos_;
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
  if (!ValidAt(lsn, &h, &why)) {
    return absl::DataLossError(fmt::format("{}: no valid record at LSN {} ({})",
                                           env_->Describe(segments_[i].name), lsn, Reason(why)));
  }
  const std::uint64_t off = kSegmentHeaderSize + (lsn - segments_[i].info.first_lsn);
  LogRecord r;
  r.header = h;
  r.payload = std::span<const std::byte>(data_.data() + off + kRecordHeaderSize,
                                         h.length - kRecordHeaderSize);
  return r;
}

}  // namespace pagestore
