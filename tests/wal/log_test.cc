// The log layer on its own: LogManager appends and flushes, LogReader reads back and decides
// where the log ends. Most tests run over a MemoryLogEnv so they can damage bytes and lose power;
// a few use a real directory.
#include <errno.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/storage/test_util.h"
#include "wal/log_env.h"
#include "wal/log_format.h"
#include "wal/log_manager.h"
#include "wal/log_reader.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

constexpr std::size_t kCapacity = 64 << 10;  // bytes of records per segment in SmallOptions
// A payload that makes a record of exactly 1024 bytes: 64 of them fill a segment.
constexpr std::size_t kKiBPayload = 1024 - kRecordHeaderSize;

LogOptions SmallOptions() {
  LogOptions o;
  o.segment_size = kSegmentHeaderSize + kCapacity;  // the minimum
  return o;
}

std::vector<std::byte> Payload(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> p(n);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (std::byte& b : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x >> 24);
  }
  return p;
}

// A record as appended (lsn set by Append) or as read back.
struct Rec {
  RecordType type = RecordType::kMtr;
  std::uint64_t txn_id = 0;
  Lsn prev_lsn = kInvalidLsn;
  std::vector<std::byte> payload;
  Lsn lsn = kInvalidLsn;
  Lsn end() const { return lsn + AlignRecord(kRecordHeaderSize + payload.size()); }
};

Rec MakeRec(std::size_t size, std::uint64_t seed, RecordType type = RecordType::kMtr,
            std::uint64_t txn_id = 0, Lsn prev_lsn = kInvalidLsn) {
  Rec r;
  r.type = type;
  r.txn_id = txn_id;
  r.prev_lsn = prev_lsn;
  r.payload = Payload(size, seed);
  return r;
}

[[nodiscard]] absl::Status Append(LogManager& log, Rec& r) {
  absl::StatusOr<Lsn> lsn = log.Append({r.type, r.txn_id, r.prev_lsn, r.payload});
  if (!lsn.ok()) return lsn.status();
  r.lsn = *lsn;
  return absl::OkStatus();
}

// Appends `n` records of `payload_size` bytes (seeds from `seed`) to `out`.
[[nodiscard]] absl::Status AppendMany(LogManager& log, int n, std::size_t payload_size,
                                      std::uint64_t seed, std::vector<Rec>* out) {
  for (int i = 0; i < n; ++i) {
    Rec r = MakeRec(payload_size, seed + i, RecordType::kMtr, seed + i);
    if (absl::Status s = Append(log, r); !s.ok()) return s;
    out->push_back(std::move(r));
  }
  return absl::OkStatus();
}

std::vector<Rec> Slice(const std::vector<Rec>& v, std::size_t from, std::size_t to) {
  return std::vector<Rec>(v.begin() + from, v.begin() + to);
}
std::vector<Rec> Concat(std::vector<Rec> a, const std::vector<Rec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What a reader found, from a start LSN to the end of the log.
struct ReadResult {
  absl::Status status;  // the first error of Open, Seek or Next
  std::vector<Rec> records;
  std::vector<RecordHeader> headers;
  Lsn end_lsn = kInvalidLsn;
  Lsn damaged_lsn = kInvalidLsn;
  std::string damage;
  std::vector<LogManager::SegmentInfo> segments;
};

void Drain(LogReader& reader, Lsn from, ReadResult* out) {
  out->segments = reader.segments();
  if (absl::Status s = reader.Seek(from); !s.ok()) {
    out->status = s;
    return;
  }
  for (;;) {
    LogRecord rec;
    absl::StatusOr<bool> more = reader.Next(&rec);
    if (!more.ok()) {
      out->status = more.status();
      return;
    }
    if (!*more) break;
    Rec r;
    r.type = rec.header.type;
    r.txn_id = rec.header.txn_id;
    r.prev_lsn = rec.header.prev_lsn;
    r.lsn = rec.header.lsn;
    r.payload.assign(rec.payload.begin(), rec.payload.end());
    out->headers.push_back(rec.header);
    out->records.push_back(std::move(r));
    if (out->records.size() > 1'000'000) {
      out->status = absl::InternalError("the reader does not stop");
      return;
    }
  }
  out->end_lsn = reader.end_lsn();
  out->damaged_lsn = reader.damaged_tail_lsn();
  out->damage = reader.damage();
}

// Reads the whole log (from its first segment, or from `from`) in `mode`.
ReadResult ReadLog(LogEnv* env, RecoveryMode mode, Lsn from = kInvalidLsn) {
  ReadResult out;
  absl::StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(env, mode);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  Drain(**reader, from == kInvalidLsn ? (*reader)->first_lsn() : from, &out);
  return out;
}

// Recovery as a store does it: read the log to its end, then open it for appending there.
absl::StatusOr<std::unique_ptr<LogManager>> Recover(LogEnv* env, const LogOptions& options,
                                                    RecoveryMode mode, ReadResult* read) {
  absl::StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(env, mode);
  if (!reader.ok()) return reader.status();
  if ((*reader)->empty()) return LogManager::Open(env, options, {}, kFirstLsn);
  Drain(**reader, (*reader)->first_lsn(), read);
  if (!read->status.ok()) return read->status;
  return LogManager::Open(env, options, (*reader)->segments(), (*reader)->end_lsn());
}

// The first difference between two record lists, headers included.
::testing::AssertionResult SameRecords(const ReadResult& got, const std::vector<Rec>& want) {
  for (std::size_t i = 0; i < std::min(got.records.size(), want.size()); ++i) {
    const Rec& g = got.records[i];
    const Rec& w = want[i];
    const RecordHeader& h = got.headers[i];
    if (g.lsn != w.lsn || g.type != w.type || g.txn_id != w.txn_id || g.prev_lsn != w.prev_lsn ||
        g.payload != w.payload || h.length != kRecordHeaderSize + w.payload.size() ||
        h.flags != 0) {
      return ::testing::AssertionFailure()
             << "record " << i << " differs: got lsn " << g.lsn << " type "
             << RecordTypeName(g.type) << " txn " << g.txn_id << " prev " << g.prev_lsn
             << " length " << h.length << " flags " << h.flags << " payload " << g.payload.size()
             << " bytes; want lsn " << w.lsn << " type " << RecordTypeName(w.type) << " txn "
             << w.txn_id << " prev " << w.prev_lsn << " payload " << w.payload.size() << " bytes"
             << (g.payload == w.payload ? "" : " (payload bytes differ)");
    }
  }
  if (got.records.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "read " << got.records.size() << " records, want " << want.size();
  }
  return ::testing::AssertionSuccess();
}

std::string LsnText(Lsn lsn) { return "LSN " + std::to_string(lsn); }

// Where the byte at `lsn` lives.
struct Where {
  std::string name;
  std::size_t offset = 0;
};
absl::StatusOr<Where> Locate(LogEnv* env, Lsn lsn) {
  absl::StatusOr<std::unique_ptr<LogReader>> reader =
      LogReader::Open(env, RecoveryMode::kPointInTime);
  if (!reader.ok()) return reader.status();
  std::optional<LogManager::SegmentInfo> found;
  for (const LogManager::SegmentInfo& s : (*reader)->segments()) {
    if (s.first_lsn <= lsn) found = s;
  }
  if (!found) return absl::NotFoundError("no segment holds LSN " + std::to_string(lsn));
  return Where{SegmentFileName(found->number), kSegmentHeaderSize + (lsn - found->first_lsn)};
}

std::vector<std::string> FilesEndingWith(LogEnv& env, std::string_view suffix) {
  std::vector<std::string> out;
  absl::StatusOr<std::vector<std::string>> names = env.ListFiles();
  if (!names.ok()) return {"<ListFiles failed: " + names.status().ToString() + ">"};
  for (const std::string& n : *names) {
    if (n.ends_with(suffix)) out.push_back(n);
  }
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<LogManager>> OpenNew(const LogOptions& options = SmallOptions()) {
    return LogManager::Open(&env_, options, {}, kFirstLsn);
  }
  // The current bytes of the segment file holding `lsn`, and the offset of `lsn` in it.
  std::vector<std::byte>* BytesAt(Lsn lsn, std::size_t* offset) {
    absl::StatusOr<Where> w = Locate(&env_, lsn);
    if (!w.ok()) {
      ADD_FAILURE() << w.status();
      return nullptr;
    }
    *offset = w->offset;
    std::vector<std::byte>* bytes = env_.MutableContents(w->name);
    if (bytes == nullptr) ADD_FAILURE() << w->name << " does not exist";
    return bytes;
  }
  // Flips one payload byte of the record: a checksum mismatch.
  void CorruptPayload(const Rec& r, std::size_t at = 3) {
    ASSERT_GT(r.payload.size(), at);
    std::size_t off;
    std::vector<std::byte>* bytes = BytesAt(r.lsn, &off);
    ASSERT_NE(bytes, nullptr);
    ASSERT_LT(off + kRecordHeaderSize + at, bytes->size());
    (*bytes)[off + kRecordHeaderSize + at] ^= std::byte{0x40};
  }

  MemoryLogEnv env_;
};

// --- Round trip ---------------------------------------------------------------------------------

// Segment headers written by the first format version (no pre-sized length; the checksum over
// [0, 40) at 40) still decode, with no length to hold the file to; a damaged one does not.
TEST(SegmentHeaderTest, VersionOneHeadersStillDecode) {
  std::array<std::byte, kSegmentHeaderSize> block{};
  const std::uint32_t version = 1, size = kSegmentHeaderSize;
  const std::uint64_t number = 7, first = 123456, salt = 0xfeedface;
  std::memcpy(block.data(), kSegmentMagic, 8);
  std::memcpy(block.data() + 8, &version, 4);
  std::memcpy(block.data() + 12, &size, 4);
  std::memcpy(block.data() + 16, &number, 8);
  std::memcpy(block.data() + 24, &first, 8);
  std::memcpy(block.data() + 32, &salt, 8);
  const std::uint64_t sum = XXH3_64bits(block.data(), 40);
  std::memcpy(block.data() + 40, &sum, 8);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(block, &h));
  EXPECT_EQ(h.number, number);
  EXPECT_EQ(h.first_lsn, first);
  EXPECT_EQ(h.salt, salt);
  EXPECT_EQ(h.presized, 0u);
  block[20] ^= std::byte{1};
  EXPECT_FALSE(DecodeSegmentHeader(block, &h));
  // Version 2 round trip, and a flip anywhere in its first 56 bytes is refused.
  std::array<std::byte, kSegmentHeaderSize> v2;
  EncodeSegmentHeader({number, first, salt, 1 << 20}, v2);
  ASSERT_TRUE(DecodeSegmentHeader(v2, &h));
  EXPECT_EQ(h.presized, 1u << 20);
  // A pre-sized length no segment can have (a crafted header, sealed right) is not believed:
  // recovery would otherwise zero-fill a file to it.
  EncodeSegmentHeader({number, first, salt, kMaxSegmentSize + 1}, v2);
  EXPECT_FALSE(DecodeSegmentHeader(v2, &h));
  EncodeSegmentHeader({number, first, salt, 100}, v2);
  EXPECT_FALSE(DecodeSegmentHeader(v2, &h));
  EncodeSegmentHeader({number, first, salt, 1 << 20}, v2);
  for (std::size_t i = 0; i < kSegmentHeaderUsed; ++i) {
    std::array<std::byte, kSegmentHeaderSize> bad = v2;
    bad[i] ^= std::byte{0x40};
    EXPECT_FALSE(DecodeSegmentHeader(bad, &h)) << "byte " << i;
  }
}

TEST_F(LogTest, RecordsReadBackExactlyAcrossSegments) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  EXPECT_EQ(log->next_lsn(), kFirstLsn);
  const std::size_t sizes[] = {0, 1, 7, 8, 9, 40, 100, 1000, 4096, 12345, 30000};
  std::map<std::uint64_t, Lsn> last_of_txn;
  std::vector<Rec> recs;
  constexpr int kFull = 70;  // this one fills a whole segment by itself
  for (int i = 0; i < 150; ++i) {
    std::uint64_t txn = i % 5 == 0 ? 0 : 1 + i % 4;
    if (txn == 4) txn = 0xFFFFFFFF00000004ull;
    RecordType type = RecordType::kMtr;
    if (i % 13 == 12) {
      type = RecordType::kCheckpoint;
      txn = 0;
    } else if (i % 7 == 6 && txn != 0) {
      type = RecordType::kCommit;
    } else if (i % 11 == 10 && txn != 0) {
      type = RecordType::kAbort;
    }
    std::size_t size = sizes[i % std::size(sizes)];
    if (type == RecordType::kCommit || type == RecordType::kAbort) size = i % 2 == 0 ? 0 : 16;
    if (i == kFull) size = kCapacity - kRecordHeaderSize;
    Rec r = MakeRec(size, i, type, txn, txn == 0 ? kInvalidLsn : last_of_txn[txn]);
    PS_ASSERT_OK(Append(*log, r));
    // LSNs are byte positions: each record starts where the previous one ended.
    EXPECT_EQ(r.lsn, recs.empty() ? kFirstLsn : recs.back().end()) << "record " << i;
    if (txn != 0) last_of_txn[txn] = r.lsn;
    recs.push_back(std::move(r));
  }
  EXPECT_EQ(log->next_lsn(), recs.back().end());
  PS_ASSERT_OK(log->FlushAll());
  EXPECT_EQ(log->durable_lsn(), log->next_lsn());
  const LogStats stats = log->stats();
  EXPECT_EQ(stats.appends, recs.size());
  EXPECT_EQ(stats.bytes_appended, recs.back().end() - kFirstLsn);

  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                            RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode, kFirstLsn);
    PS_ASSERT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, recs));
    EXPECT_EQ(read.end_lsn, log->next_lsn());
    EXPECT_EQ(read.damaged_lsn, kInvalidLsn) << read.damage;
    EXPECT_GE(read.segments.size(), 5u);
    EXPECT_EQ(read.segments.size(), stats.segments_created);
    // The segment-filling record had to start a segment of its own, and the next one another.
    auto starts_segment = [&](Lsn lsn) {
      return std::any_of(read.segments.begin(), read.segments.end(),
                         [&](const LogManager::SegmentInfo& s) { return s.first_lsn == lsn; });
    };
    EXPECT_TRUE(starts_segment(recs[kFull].lsn));
    EXPECT_TRUE(starts_segment(recs[kFull + 1].lsn));
  }

  // Random access and reading from the middle.
  PS_ASSIGN_OR_FAIL(reader, LogReader::Open(&env_, RecoveryMode::kTolerateTail));
  for (std::size_t i = 0; i < recs.size(); i += 7) {
    PS_ASSIGN_OR_FAIL(rec, reader->ReadAt(recs[i].lsn));
    EXPECT_EQ(rec.header.lsn, recs[i].lsn);
    EXPECT_EQ(rec.header.txn_id, recs[i].txn_id);
    EXPECT_EQ(rec.header.prev_lsn, recs[i].prev_lsn);
    EXPECT_TRUE(std::equal(rec.payload.begin(), rec.payload.end(), recs[i].payload.begin(),
                           recs[i].payload.end()))
        << "record " << i;
  }
  ReadResult tail = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency, recs[100].lsn);
  PS_ASSERT_OK(tail.status);
  EXPECT_TRUE(SameRecords(tail, Slice(recs, 100, recs.size())));
}

TEST(LogPosixTest, RecordsSurviveReopeningTheDirectory) {
  TempDir dir;
  const std::filesystem::path wal = dir.path() / "wal";
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(env, OpenPosixLogEnv(wal));
    PS_ASSIGN_OR_FAIL(log, LogManager::Open(env.get(), SmallOptions(), {}, kFirstLsn));
    for (int i = 0; i < 100; ++i) {
      Rec r = MakeRec(37 * i + (i % 3) * 1500, i,
                      i % 4 == 3 ? RecordType::kCommit : RecordType::kMtr, 1 + i % 3);
      PS_ASSERT_OK(Append(*log, r));
      recs.push_back(std::move(r));
      if (i % 10 == 9) PS_ASSERT_OK(log->Commit(recs.back().lsn, Durability::kSync));
    }
    PS_ASSERT_OK(log->FlushAll());
    EXPECT_GE(log->stats().segments_created, 2u);
  }
  std::size_t wal_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(wal)) {
    if (e.path().extension() == ".wal") ++wal_files;
  }
  {
    PS_ASSIGN_OR_FAIL(env, OpenPosixLogEnv(wal));
    ReadResult read;
    PS_ASSIGN_OR_FAIL(
        log, Recover(env.get(), SmallOptions(), RecoveryMode::kAbsoluteConsistency, &read));
    EXPECT_TRUE(SameRecords(read, recs));
    EXPECT_EQ(read.segments.size(), wal_files);
    EXPECT_EQ(log->next_lsn(), recs.back().end());
    for (int i = 0; i < 50; ++i) {
      Rec r = MakeRec(2000 + i, 1000 + i, RecordType::kMtr, 9);
      PS_ASSERT_OK(Append(*log, r));
      recs.push_back(std::move(r));
    }
    PS_ASSERT_OK(log->FlushAll());
  }
  PS_ASSIGN_OR_FAIL(env, OpenPosixLogEnv(wal));
  ReadResult read = ReadLog(env.get(), RecoveryMode::kAbsoluteConsistency);
  PS_ASSERT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, recs));
  EXPECT_EQ(read.end_lsn, recs.back().end());
}

// --- Damaged tails
// --------------------------------------------------------------------------------

enum class Tail { kTruncatedHeader, kTruncatedPayload, kZeroed, kBadChecksum };

std::string TailName(const ::testing::TestParamInfo<Tail>& info) {
  switch (info.param) {
    case Tail::kTruncatedHeader:
      return "TruncatedHeader";
    case Tail::kTruncatedPayload:
      return "TruncatedPayload";
    case Tail::kZeroed:
      return "Zeroed";
    case Tail::kBadChecksum:
      return "BadChecksum";
  }
  return "Unknown";
}

class LogTailTest : public LogTest, public ::testing::WithParamInterface<Tail> {};

TEST_P(LogTailTest, RecoversToTheLastGoodRecordAndAppendsAfterIt) {
  const Tail tail = GetParam();
  const bool clean = tail == Tail::kZeroed;
  // A file cut short is a torn append only in a log whose segments grow by appends; a pre-sized
  // segment cut short is damage (PreSizedSegmentCutShortIsDataLoss).
  LogOptions options = SmallOptions();
  options.preallocate = tail != Tail::kTruncatedHeader && tail != Tail::kTruncatedPayload;
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew(options));
    for (int i = 0; i < 12; ++i) {
      Rec r = MakeRec(300 + 50 * i, i, RecordType::kMtr, 7, recs.empty() ? 0 : recs.back().lsn);
      PS_ASSERT_OK(Append(*log, r));
      recs.push_back(std::move(r));
    }
    PS_ASSERT_OK(log->FlushAll());
  }
  const Rec& last = recs.back();
  const std::vector<Rec> good = Slice(recs, 0, recs.size() - 1);
  std::size_t off;
  std::vector<std::byte>* bytes = BytesAt(last.lsn, &off);
  ASSERT_NE(bytes, nullptr);
  switch (tail) {
    case Tail::kTruncatedHeader:
      bytes->resize(off + kRecordHeaderSize / 2);
      break;
    case Tail::kTruncatedPayload:
      bytes->resize(off + kRecordHeaderSize + last.payload.size() / 2);
      break;
    case Tail::kZeroed:
      std::fill_n(bytes->begin() + off, AlignRecord(kRecordHeaderSize + last.payload.size()),
                  std::byte{0});
      break;
    case Tail::kBadChecksum:
      CorruptPayload(last);
      break;
  }

  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, good));
    EXPECT_EQ(read.end_lsn, last.lsn);
    EXPECT_EQ(read.damaged_lsn, clean ? kInvalidLsn : last.lsn) << read.damage;
    if (!clean) {
      EXPECT_FALSE(read.damage.empty());
    }
  }
  ReadResult absolute = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  EXPECT_TRUE(SameRecords(absolute, good));
  if (clean) {
    PS_EXPECT_OK(absolute.status);
    EXPECT_EQ(absolute.end_lsn, last.lsn);
  } else {
    EXPECT_EQ(absolute.status.code(), absl::StatusCode::kDataLoss) << absolute.status;
    EXPECT_THAT(absolute.status.message(), HasSubstr(LsnText(last.lsn)));
  }

  // Reopen at the end found and keep appending: the damaged bytes are gone, the log is whole.
  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(log, Recover(&env_, options, RecoveryMode::kTolerateTail, &recovered));
  EXPECT_EQ(log->next_lsn(), last.lsn);
  std::vector<Rec> more;
  PS_ASSERT_OK(AppendMany(*log, 3, 100, 500, &more));
  PS_ASSERT_OK(log->FlushAll());
  ReadResult after = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(after.status);
  EXPECT_TRUE(SameRecords(after, Concat(good, more)));
  EXPECT_EQ(after.end_lsn, log->next_lsn());
  EXPECT_EQ(after.damaged_lsn, kInvalidLsn);
}

// A pre-sized segment is whole from birth (zero-filled under a temporary name, then named), so a
// file shorter than its header says was cut after the fact: wherever the cut falls among the
// records, recovery refuses it (naming the segment and the LSN) unless told to stop there, and
// a cut among the zeros past the last record loses nothing.
TEST_F(LogTest, PreSizedSegmentCutShortIsDataLoss) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 40, 300, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
  }
  const std::vector<std::byte> whole = *env_.MutableContents(SegmentFileName(1));
  std::size_t end_off;
  ASSERT_NE(BytesAt(recs.back().end(), &end_off), nullptr);
  for (std::size_t cut : {kSegmentHeaderSize + 1000, kSegmentHeaderSize + 4096, end_off - 7,
                          end_off - kRecordHeaderSize, std::size_t{100}}) {
    SCOPED_TRACE(cut);
    *env_.MutableContents(SegmentFileName(1)) = whole;
    env_.MutableContents(SegmentFileName(1))->resize(cut);
    ReadResult read = ReadLog(&env_, RecoveryMode::kTolerateTail);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
    EXPECT_THAT(read.status.message(), HasSubstr(SegmentFileName(1)));
    if (cut > kSegmentHeaderSize) {
      EXPECT_THAT(read.status.message(), HasSubstr("cut short"));
      // Salvage: everything before the cut, and the damage said.
      ReadResult pit = ReadLog(&env_, RecoveryMode::kPointInTime);
      PS_EXPECT_OK(pit.status);
      EXPECT_NE(pit.damaged_lsn, kInvalidLsn);
      EXPECT_THAT(pit.damage, HasSubstr("cut short"));
      EXPECT_LT(pit.records.size(), recs.size());
    }
  }
  // Cut among the zeros after the last record: nothing was lost, and the log reopens whole.
  *env_.MutableContents(SegmentFileName(1)) = whole;
  env_.MutableContents(SegmentFileName(1))->resize(end_off + 4096);
  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, recs));
  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(log, Recover(&env_, SmallOptions(), RecoveryMode::kTolerateTail, &recovered));
  EXPECT_EQ(env_.MutableContents(SegmentFileName(1))->size(), whole.size());
}

// A ".wal" file whose header is damaged, or names another segment, held records that may have
// been committed: recovery stops with an error naming it, never skips it as an interrupted
// creation (segments are created under a temporary name).
TEST_F(LogTest, DamagedOrMisnamedSegmentHeaderIsDataLoss) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 100, kKiBPayload, 0, &recs));  // two segments
    PS_ASSERT_OK(log->FlushAll());
  }
  ASSERT_EQ(FilesEndingWith(env_, ".wal").size(), 2u);
  EXPECT_TRUE(FilesEndingWith(env_, kNewSegmentSuffix).empty());
  const std::vector<std::byte> second = *env_.MutableContents(SegmentFileName(2));
  for (std::size_t byte : {std::size_t{0}, std::size_t{17}, std::size_t{33}, std::size_t{47}}) {
    SCOPED_TRACE(byte);
    *env_.MutableContents(SegmentFileName(2)) = second;
    (*env_.MutableContents(SegmentFileName(2)))[byte] ^= std::byte{0x10};
    for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency}) {
      ReadResult read = ReadLog(&env_, mode);
      EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
      EXPECT_THAT(read.status.message(), HasSubstr(SegmentFileName(2)));
    }
    // Salvage ends the log before the damaged segment, and says so.
    ReadResult pit = ReadLog(&env_, RecoveryMode::kPointInTime);
    PS_EXPECT_OK(pit.status);
    EXPECT_EQ(pit.end_lsn, recs[64].lsn);
    EXPECT_THAT(pit.damage, HasSubstr(SegmentFileName(2)));
  }
  // Renamed: segment 2's file under the name of segment 5.
  *env_.MutableContents(SegmentFileName(2)) = second;
  PS_ASSERT_OK(env_.RenameFile(SegmentFileName(2), SegmentFileName(5)));
  ReadResult read = ReadLog(&env_, RecoveryMode::kTolerateTail);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
  EXPECT_THAT(read.status.message(), HasSubstr("names segment 2"));
}

// The newest segment deleted: its predecessor's end mark says it existed.
TEST_F(LogTest, DeletedNewestSegmentIsDataLoss) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 100, kKiBPayload, 0, &recs));  // two segments
    PS_ASSERT_OK(log->FlushAll());
  }
  PS_ASSERT_OK(env_.RemoveFile(SegmentFileName(2)));
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency}) {
    ReadResult read = ReadLog(&env_, mode);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
    EXPECT_THAT(read.status.message(), HasSubstr("end mark names segment 2"));
  }
  ReadResult pit = ReadLog(&env_, RecoveryMode::kPointInTime);
  PS_EXPECT_OK(pit.status);
  EXPECT_EQ(pit.end_lsn, recs[64].lsn);
  EXPECT_NE(pit.damaged_lsn, kInvalidLsn);
}

// A crash between creating the next segment and marking the previous one, and a crash while a
// segment is being created under its temporary name: both are clean ends.
TEST_F(LogTest, InterruptedSegmentCreationIsACleanEnd) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 64, kKiBPayload, 0, &recs));  // exactly one segment
    PS_ASSERT_OK(log->FlushAll());
  }
  // A half-made next segment under its temporary name.
  {
    PS_ASSIGN_OR_FAIL(f, env_.OpenFile(NewSegmentFileName(2), /*create=*/true));
    std::vector<std::byte> junk(5000, std::byte{0x5a});
    PS_ASSERT_OK(f->Write(0, junk));
  }
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency}) {
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, recs));
  }
  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(log, Recover(&env_, SmallOptions(), RecoveryMode::kTolerateTail, &recovered));
  EXPECT_TRUE(FilesEndingWith(env_, kNewSegmentSuffix).empty());
  std::vector<Rec> more;
  PS_ASSERT_OK(AppendMany(*log, 70, kKiBPayload, 900, &more));
  PS_ASSERT_OK(log->FlushAll());
  ReadResult after = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(after.status);
  EXPECT_TRUE(SameRecords(after, Concat(recs, more)));
}

INSTANTIATE_TEST_SUITE_P(Tails, LogTailTest,
                         ::testing::Values(Tail::kTruncatedHeader, Tail::kTruncatedPayload,
                                           Tail::kZeroed, Tail::kBadChecksum),
                         TailName);

// Old records of a recycled segment's previous life follow the last durable record after a power
// cut: they end the log; they are neither returned nor reported as damage.
TEST_F(LogTest, StaleRecordsOfARecycledSegmentEndTheLog) {
  LogOptions options = SmallOptions();
  options.max_spare_segments = 2;
  std::vector<Rec> recs;  // every record is 1024 bytes, so old and new record boundaries align
  PS_ASSIGN_OR_FAIL(log, OpenNew(options));
  PS_ASSERT_OK(AppendMany(*log, 64 * 2 + 2, kKiBPayload, 0, &recs));  // segments 1, 2, 3
  PS_ASSERT_OK(log->FlushAll());
  PS_ASSERT_OK(log->RemoveSegmentsBefore(recs[128].lsn));
  EXPECT_EQ(log->stats().segments_removed, 2u);
  EXPECT_EQ(FilesEndingWith(env_, kSpareSuffix).size(), 2u);
  // Fill segment 3 and go on into a fourth, which reuses a spare.
  PS_ASSERT_OK(AppendMany(*log, 62 + 10, kKiBPayload, 1000, &recs));
  PS_ASSERT_OK(log->FlushUntil(recs.back().lsn));
  EXPECT_GT(log->stats().segments_recycled, 0u);
  const Lsn durable_end = recs.back().end();
  const std::size_t durable_count = recs.size();
  // Written to the file, never synced: lost at the power cut.
  PS_ASSERT_OK(AppendMany(*log, 5, kKiBPayload, 2000, &recs));
  PS_ASSERT_OK(log->Commit(recs.back().lsn, Durability::kNone));
  env_.SimulatePowerLoss(0.0);
  log.reset();
  env_.Reboot();

  // The premise: old records of the file's past life follow the last durable record (the one
  // right at it, or, should the log mark its end, the next).
  std::size_t off;
  std::vector<std::byte>* bytes = BytesAt(durable_end, &off);
  ASSERT_NE(bytes, nullptr);
  int stale_headers = 0;
  for (std::size_t o = off; o < off + 2048 && o + kRecordHeaderSize <= bytes->size(); o += 1024) {
    const RecordHeader h = ReadRecordHeader(bytes->data() + o);
    if (h.lsn != kInvalidLsn && h.lsn < durable_end + (o - off) && h.length == 1024) {
      ++stale_headers;
    }
  }
  ASSERT_GT(stale_headers, 0) << "premise: stale records follow the durable end";

  const std::vector<Rec> want = Slice(recs, 128, durable_count);
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                            RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, want));
    EXPECT_EQ(read.end_lsn, durable_end);
    EXPECT_EQ(read.damaged_lsn, kInvalidLsn) << read.damage;
  }
  // And appending there replaces the stale bytes.
  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(again, Recover(&env_, options, RecoveryMode::kTolerateTail, &recovered));
  std::vector<Rec> more;
  PS_ASSERT_OK(AppendMany(*again, 3, 300, 3000, &more));
  PS_ASSERT_OK(again->FlushAll());
  ReadResult after = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(after.status);
  EXPECT_TRUE(SameRecords(after, Concat(want, more)));
}

// A log closed cleanly must pass absolute-consistency recovery, even when its last segment is a
// recycled one and the end of the log falls in the middle of an old record of the file's
// previous life (record sizes differ between the two lives).
TEST_F(LogTest, CleanlyClosedLogInARecycledSegmentPassesAbsoluteConsistency) {
  LogOptions options = SmallOptions();
  options.max_spare_segments = 2;
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew(options));
    PS_ASSERT_OK(AppendMany(*log, 64 * 2 + 2, kKiBPayload, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
    PS_ASSERT_OK(log->RemoveSegmentsBefore(recs[128].lsn));
    PS_ASSERT_OK(AppendMany(*log, 62 + 5, kKiBPayload, 1000, &recs));
    // Half a kilobyte: the log now ends in the middle of an old 1 KiB record.
    PS_ASSERT_OK(AppendMany(*log, 1, 512 - kRecordHeaderSize, 2000, &recs));
    PS_ASSERT_OK(log->FlushAll());
    EXPECT_GT(log->stats().segments_recycled, 0u);
  }
  std::size_t off;
  std::vector<std::byte>* bytes = BytesAt(recs.back().end(), &off);
  ASSERT_NE(bytes, nullptr);
  ASSERT_LE(off + 1024, bytes->size());
  ASSERT_FALSE(std::all_of(bytes->begin() + off, bytes->begin() + off + 1024, [](std::byte b) {
    return b == std::byte{0};
  })) << "premise: old bytes follow the end of the log";

  const std::vector<Rec> want = Slice(recs, 128, recs.size());
  for (RecoveryMode mode : {RecoveryMode::kAbsoluteConsistency, RecoveryMode::kTolerateTail}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, want));
    EXPECT_EQ(read.end_lsn, recs.back().end());
    EXPECT_EQ(read.damaged_lsn, kInvalidLsn) << read.damage;
  }
}

// A recycled segment that filled up and was followed by another: its unused tail holds old bytes
// (here the middle of an old record), which must not stop the reader on its way to the next one.
TEST_F(LogTest, RecycledSegmentFollowedByAnotherReadsThrough) {
  LogOptions options = SmallOptions();
  options.max_spare_segments = 2;
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew(options));
    PS_ASSERT_OK(AppendMany(*log, 64 * 2 + 2, kKiBPayload, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
    PS_ASSERT_OK(log->RemoveSegmentsBefore(recs[128].lsn));
    PS_ASSERT_OK(AppendMany(*log, 62, kKiBPayload, 1000, &recs));
    // 1000-byte records: 65 fill the recycled segment 4 to 65000 bytes, the rest go to 5.
    PS_ASSERT_OK(AppendMany(*log, 70, 1000 - kRecordHeaderSize, 2000, &recs));
    PS_ASSERT_OK(log->FlushAll());
    EXPECT_GT(log->stats().segments_recycled, 0u);
  }
  const std::vector<Rec> want = Slice(recs, 128, recs.size());
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                            RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_EQ(read.segments.size(), 3u);
    EXPECT_TRUE(SameRecords(read, want));
    EXPECT_EQ(read.end_lsn, recs.back().end());
    EXPECT_EQ(read.damaged_lsn, kInvalidLsn) << read.damage;
  }
}

// A segment whose last record leaves less room than a record header: the next record starts the
// next segment, and the few bytes left over are no torn header.
TEST_F(LogTest, SegmentEndingWithLessThanAHeaderOfRoomReadsThrough) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 63, kKiBPayload, 0, &recs));
    PS_ASSERT_OK(AppendMany(*log, 1, 1024 - 40 - kRecordHeaderSize, 100, &recs));  // 40 left
    PS_ASSERT_OK(AppendMany(*log, 3, kKiBPayload, 200, &recs));
    PS_ASSERT_OK(log->FlushAll());
  }
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                            RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    ASSERT_EQ(read.segments.size(), 2u);
    EXPECT_EQ(read.segments[1].first_lsn, recs[64].lsn);
    EXPECT_EQ(read.segments[1].first_lsn - read.segments[0].first_lsn, kCapacity - 40);
    EXPECT_TRUE(SameRecords(read, recs));
    EXPECT_EQ(read.end_lsn, recs.back().end());
    EXPECT_EQ(read.damaged_lsn, kInvalidLsn) << read.damage;
  }
}

// --- Damage in the middle -----------------------------------------------------------------------

TEST_F(LogTest, BadChecksumBeforeDurableRecordsIsDataLoss) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    for (int i = 0; i < 8; ++i) {
      Rec r = MakeRec(200 + 31 * i, i, RecordType::kMtr, 3);
      PS_ASSERT_OK(Append(*log, r));
      PS_ASSERT_OK(log->FlushUntil(r.lsn));
      EXPECT_GT(log->durable_lsn(), r.lsn);
      recs.push_back(std::move(r));
    }
  }
  constexpr std::size_t kBad = 3;
  {
    // The premise: the record after the bad one was appended once the bad one was durable.
    ReadResult before = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
    PS_ASSERT_OK(before.status);
    ASSERT_EQ(before.headers.size(), recs.size());
    EXPECT_EQ(before.headers[kBad + 1].durable_lsn, recs[kBad].end());
  }
  CorruptPayload(recs[kBad]);
  const Lsn bad = recs[kBad].lsn;

  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
    EXPECT_THAT(read.status.message(), HasSubstr(LsnText(bad)));
    EXPECT_TRUE(SameRecords(read, Slice(recs, 0, kBad)));
  }
  ReadResult pit = ReadLog(&env_, RecoveryMode::kPointInTime);
  PS_EXPECT_OK(pit.status);
  EXPECT_TRUE(SameRecords(pit, Slice(recs, 0, kBad)));
  EXPECT_EQ(pit.end_lsn, bad);
  EXPECT_EQ(pit.damaged_lsn, bad);
  EXPECT_FALSE(pit.damage.empty());
}

TEST_F(LogTest, DamageInASegmentFollowedByAnotherIsDataLoss) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    // One flush for everything: no record's durable LSN proves anything; only segment 2 does.
    PS_ASSERT_OK(AppendMany(*log, 64 + 10, kKiBPayload, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
  }
  constexpr std::size_t kBad = 62;  // in segment 1, with a valid record after it there
  CorruptPayload(recs[kBad]);
  const Lsn bad = recs[kBad].lsn;
  {
    ReadResult read = ReadLog(&env_, RecoveryMode::kTolerateTail);
    ASSERT_EQ(read.segments.size(), 2u);
    EXPECT_EQ(read.segments[1].first_lsn, recs[64].lsn);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kDataLoss) << read.status;
    EXPECT_THAT(read.status.message(), HasSubstr(LsnText(bad)));
    EXPECT_TRUE(SameRecords(read, Slice(recs, 0, kBad)));
  }
  ReadResult absolute = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  EXPECT_EQ(absolute.status.code(), absl::StatusCode::kDataLoss) << absolute.status;
  ReadResult pit = ReadLog(&env_, RecoveryMode::kPointInTime);
  PS_EXPECT_OK(pit.status);
  EXPECT_TRUE(SameRecords(pit, Slice(recs, 0, kBad)));
  EXPECT_EQ(pit.end_lsn, bad);
  EXPECT_EQ(pit.damaged_lsn, bad);

  // Salvage: reopen at the damage. Segment 2 goes; new records follow the last good one.
  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(log, Recover(&env_, SmallOptions(), RecoveryMode::kPointInTime, &recovered));
  EXPECT_EQ(log->next_lsn(), bad);
  EXPECT_EQ(FilesEndingWith(env_, kSegmentSuffix),
            std::vector<std::string>{SegmentFileName(recovered.segments[0].number)});
  std::vector<Rec> more;
  PS_ASSERT_OK(AppendMany(*log, 5, kKiBPayload, 900, &more));  // rolls into a new segment 2
  PS_ASSERT_OK(log->FlushAll());
  ReadResult after = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(after.status);
  EXPECT_TRUE(SameRecords(after, Concat(Slice(recs, 0, kBad), more)));
  EXPECT_EQ(after.segments.size(), 2u);
}

// A torn record whose successor went out in the same unsynced write: nothing proves it was ever
// durable, so tolerate-tail recovery ends the log there.
TEST_F(LogTest, TornRecordNotProvablyDurableEndsTheLog) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    for (int i = 0; i < 5; ++i) {
      Rec r = MakeRec(150, i, RecordType::kMtr, 1);
      PS_ASSERT_OK(Append(*log, r));
      PS_ASSERT_OK(log->FlushUntil(r.lsn));
      recs.push_back(std::move(r));
    }
    PS_ASSERT_OK(AppendMany(*log, 3, 2000, 100, &recs));  // A, B, C: one write
    PS_ASSERT_OK(log->FlushAll());
  }
  const Rec& torn = recs[6];  // B
  {
    ReadResult before = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
    PS_ASSERT_OK(before.status);
    ASSERT_EQ(before.headers.size(), recs.size());
    EXPECT_LE(before.headers[7].durable_lsn, torn.lsn);  // the premise
  }
  // A sector of B's payload never reached the disk.
  std::size_t off;
  std::vector<std::byte>* bytes = BytesAt(torn.lsn, &off);
  ASSERT_NE(bytes, nullptr);
  std::fill_n(bytes->begin() + off + kRecordHeaderSize + 600, 512, std::byte{0});

  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, Slice(recs, 0, 6)));
    EXPECT_EQ(read.end_lsn, torn.lsn);
    EXPECT_EQ(read.damaged_lsn, torn.lsn);
  }
  ReadResult absolute = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  EXPECT_EQ(absolute.status.code(), absl::StatusCode::kDataLoss) << absolute.status;
  EXPECT_THAT(absolute.status.message(), HasSubstr(LsnText(torn.lsn)));
}

// A record's LSN field damaged downwards must not pass for a recycled file's stale record (a
// clean end): that would drop it, and every record after it, without a word. Nor may an
// apparently clean end (a zeroed header) that valid records of the segment's life follow.
TEST_F(LogTest, DamageThatLooksLikeACleanEndIsReportedAsDamage) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 5, 150, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
    PS_ASSERT_OK(AppendMany(*log, 3, 300, 100, &recs));  // one write: none proves the others
    PS_ASSERT_OK(log->FlushAll());
  }
  std::size_t first_off;
  std::vector<std::byte>* segment = BytesAt(recs.front().lsn, &first_off);
  ASSERT_NE(segment, nullptr);
  const std::vector<std::byte> pristine = *segment;
  // One bit of a record's LSN field cleared: the lowest set bit stays in this segment's range,
  // the highest lands below the segment's first LSN, where a stale record's would be.
  auto clear_bit = [](bool highest) {
    return [highest](std::byte* h) {
      Lsn lsn;
      std::memcpy(&lsn, h + offsetof(RecordHeader, lsn), sizeof lsn);
      lsn &= ~(highest ? std::bit_floor(lsn) : lsn & (~lsn + 1));
      std::memcpy(h + offsetof(RecordHeader, lsn), &lsn, sizeof lsn);
    };
  };
  struct Damage {
    const char* name;
    std::size_t record;
    std::function<void(std::byte*)> apply;  // given the record's header
  };
  const std::vector<Damage> damages = {
      {"lowest LSN bit", 6, clear_bit(false)},
      {"highest LSN bit, last record", 7, clear_bit(true)},
      {"zeroed header", 6, [](std::byte* h) { std::fill_n(h, kRecordHeaderSize, std::byte{0}); }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    *segment = pristine;
    const Rec& hit = recs[d.record];
    std::size_t off;
    ASSERT_EQ(BytesAt(hit.lsn, &off), segment);
    d.apply(segment->data() + off);
    for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kPointInTime}) {
      SCOPED_TRACE(RecoveryModeName(mode));
      ReadResult read = ReadLog(&env_, mode);
      PS_EXPECT_OK(read.status);
      EXPECT_TRUE(SameRecords(read, Slice(recs, 0, d.record)));
      EXPECT_EQ(read.end_lsn, hit.lsn);
      EXPECT_EQ(read.damaged_lsn, hit.lsn) << "dropped without a word: " << read.damage;
    }
    ReadResult absolute = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
    EXPECT_EQ(absolute.status.code(), absl::StatusCode::kDataLoss) << absolute.status;
  }
}

// The first record of a segment is appended before the log is synced into it, so its durable
// LSN lies below the segment's first LSN: a damaged LSN field there still passes the stale
// record's other tests. Its checksum, with the LSN put back, tells it apart.
TEST_F(LogTest, ADamagedLsnOnASegmentsFirstRecordIsDamage) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    PS_ASSERT_OK(AppendMany(*log, 63, kKiBPayload, 0, &recs));
    PS_ASSERT_OK(log->FlushAll());
    PS_ASSERT_OK(AppendMany(*log, 2, kKiBPayload, 100, &recs));  // the last opens a segment
    PS_ASSERT_OK(log->FlushAll());
  }
  const Rec& last = recs.back();
  std::size_t off;
  std::vector<std::byte>* bytes = BytesAt(last.lsn, &off);
  ASSERT_NE(bytes, nullptr);
  ASSERT_EQ(off, kSegmentHeaderSize) << "premise: the last record opens its segment";
  ASSERT_LT(ReadRecordHeader(bytes->data() + off).durable_lsn, last.lsn) << "premise";
  Lsn lsn;
  std::memcpy(&lsn, bytes->data() + off + offsetof(RecordHeader, lsn), sizeof lsn);
  lsn &= lsn - 1;  // its lowest set bit cleared
  std::memcpy(bytes->data() + off + offsetof(RecordHeader, lsn), &lsn, sizeof lsn);
  for (RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kPointInTime}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, Slice(recs, 0, recs.size() - 1)));
    EXPECT_EQ(read.damaged_lsn, last.lsn) << "dropped without a word: " << read.damage;
  }
  ReadResult absolute = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  EXPECT_EQ(absolute.status.code(), absl::StatusCode::kDataLoss) << absolute.status;
}

// After recovery ends the log at a torn record, the still-valid record that followed it must not
// come back: a new record exactly as long as the torn one would end right where it starts.
TEST_F(LogTest, ReopeningCutsTheBytesPastTheEnd) {
  std::vector<Rec> recs;
  {
    PS_ASSIGN_OR_FAIL(log, OpenNew());
    for (int i = 0; i < 5; ++i) {
      Rec r = MakeRec(150, i, RecordType::kMtr, 1);
      PS_ASSERT_OK(Append(*log, r));
      PS_ASSERT_OK(log->FlushUntil(r.lsn));
      recs.push_back(std::move(r));
    }
    PS_ASSERT_OK(AppendMany(*log, 2, kKiBPayload, 100, &recs));  // B, C: one write
    PS_ASSERT_OK(log->FlushAll());
  }
  CorruptPayload(recs[5]);
  const std::vector<Rec> good = Slice(recs, 0, 5);

  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(log, Recover(&env_, SmallOptions(), RecoveryMode::kTolerateTail, &recovered));
  EXPECT_TRUE(SameRecords(recovered, good));
  EXPECT_EQ(recovered.damaged_lsn, recs[5].lsn);
  std::vector<Rec> more;
  PS_ASSERT_OK(AppendMany(*log, 1, kKiBPayload, 700, &more));
  ASSERT_EQ(more[0].end(), recs[6].lsn);  // where C was
  PS_ASSERT_OK(log->FlushAll());
  for (RecoveryMode mode : {RecoveryMode::kAbsoluteConsistency, RecoveryMode::kTolerateTail}) {
    SCOPED_TRACE(RecoveryModeName(mode));
    ReadResult read = ReadLog(&env_, mode);
    PS_EXPECT_OK(read.status);
    EXPECT_TRUE(SameRecords(read, Concat(good, more)));
    EXPECT_EQ(read.end_lsn, log->next_lsn());
  }
  PS_ASSERT_OK(AppendMany(*log, 4, 64, 800, &more));
  PS_ASSERT_OK(log->FlushAll());
  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, Concat(good, more)));
}

// --- Group commit and durability ----------------------------------------------------------------

TEST_F(LogTest, ConcurrentCommitsShareFdatasyncs) {
  LogOptions options = SmallOptions();
  options.group_commit_wait = std::chrono::microseconds(50);
  PS_ASSIGN_OR_FAIL(log, OpenNew(options));
  // Slow I/O, so that commits pile up behind a flush in progress.
  env_.SetHook([] {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    return 0;
  });
  constexpr int kThreads = 8;
  constexpr int kCommits = 200;
  std::vector<std::vector<Lsn>> lsns(kThreads);
  std::vector<absl::Status> errors(kThreads);
  std::atomic<int> not_durable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommits; ++i) {
        const std::uint64_t id = std::uint64_t(t) * kCommits + i;
        Rec r = MakeRec(40 + id % 90, id, RecordType::kCommit, id + 1);
        absl::Status s = Append(*log, r);
        if (s.ok()) {
          switch (i % 3) {
            case 0:
              s = log->FlushUntil(r.lsn);
              break;
            case 1:
              s = log->Commit(r.lsn, Durability::kSync);
              break;
            default:
              s = log->Commit(r.lsn, Durability::kGroup);
              break;
          }
        }
        if (!s.ok()) {
          errors[t] = s;
          return;
        }
        if (log->durable_lsn() <= r.lsn) ++not_durable;
        lsns[t].push_back(r.lsn);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  env_.ClearFaults();
  for (int t = 0; t < kThreads; ++t) PS_EXPECT_OK(errors[t]);
  EXPECT_EQ(not_durable.load(), 0);
  const LogStats stats = log->stats();
  constexpr std::uint64_t kTotal = kThreads * kCommits;
  EXPECT_EQ(stats.appends, kTotal);
  EXPECT_LT(stats.syncs, kTotal) << "commits did not share fdatasyncs";
  EXPECT_GE(stats.segments_created, 2u);
  std::cout << "group commit: " << kTotal << " commits, " << stats.flushes << " flushes, "
            << stats.syncs << " syncs\n";

  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_ASSERT_OK(read.status);
  ASSERT_EQ(read.records.size(), kTotal);
  EXPECT_EQ(read.end_lsn, log->next_lsn());
  std::map<Lsn, const Rec*> by_lsn;
  for (const Rec& r : read.records) by_lsn[r.lsn] = &r;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(lsns[t].size(), std::size_t{kCommits});
    for (int i = 0; i < kCommits; ++i) {
      const std::uint64_t id = std::uint64_t(t) * kCommits + i;
      auto it = by_lsn.find(lsns[t][i]);
      ASSERT_NE(it, by_lsn.end()) << "thread " << t << " commit " << i;
      EXPECT_EQ(it->second->txn_id, id + 1);
      EXPECT_EQ(it->second->payload, Payload(40 + id % 90, id));
    }
  }
}

TEST_F(LogTest, DurabilityNoneWritesWithoutSyncing) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  Rec a = MakeRec(300, 1, RecordType::kCommit, 1);
  PS_ASSERT_OK(Append(*log, a));
  PS_ASSERT_OK(log->Commit(a.lsn, Durability::kSync));
  const std::uint64_t syncs = log->stats().syncs;
  Rec b = MakeRec(300, 2, RecordType::kCommit, 2);
  PS_ASSERT_OK(Append(*log, b));
  PS_ASSERT_OK(log->Commit(b.lsn, Durability::kNone));
  EXPECT_EQ(log->stats().syncs, syncs);
  EXPECT_EQ(log->durable_lsn(), b.lsn);
  {
    // In the file already (a killed process would not lose it).
    std::size_t off;
    std::vector<std::byte>* bytes = BytesAt(b.lsn, &off);
    ASSERT_NE(bytes, nullptr);
    ASSERT_LE(off + kRecordHeaderSize + b.payload.size(), bytes->size());
    const RecordHeader h = ReadRecordHeader(bytes->data() + off);
    EXPECT_EQ(h.lsn, b.lsn);
    EXPECT_EQ(h.txn_id, 2u);
    EXPECT_TRUE(
        std::equal(b.payload.begin(), b.payload.end(), bytes->begin() + off + kRecordHeaderSize));
  }
  env_.SimulatePowerLoss(0.0);
  log.reset();
  env_.Reboot();

  ReadResult recovered;
  PS_ASSIGN_OR_FAIL(again, Recover(&env_, SmallOptions(), RecoveryMode::kTolerateTail, &recovered));
  EXPECT_TRUE(SameRecords(recovered, {a}));  // b was never synced
  EXPECT_EQ(recovered.end_lsn, b.lsn);
  Rec c = MakeRec(500, 3, RecordType::kCommit, 3);
  PS_ASSERT_OK(Append(*again, c));
  PS_ASSERT_OK(again->Commit(c.lsn, Durability::kSync));
  env_.SimulatePowerLoss(0.0);
  again.reset();
  env_.Reboot();
  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, {a, c}));
}

TEST_F(LogTest, NewSegmentSurvivesPowerLoss) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  std::vector<Rec> recs;
  PS_ASSERT_OK(AppendMany(*log, 64 + 3, kKiBPayload, 0, &recs));
  PS_ASSERT_OK(log->FlushUntil(recs.back().lsn));
  EXPECT_EQ(log->stats().segments_created, 2u);
  env_.SimulatePowerLoss(0.0);
  log.reset();
  env_.Reboot();
  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(read.status);
  EXPECT_EQ(read.segments.size(), 2u);
  EXPECT_TRUE(SameRecords(read, recs));
  EXPECT_EQ(read.end_lsn, recs.back().end());
}

// --- Failures -----------------------------------------------------------------------------------

// How many counted LogEnv calls the flush of one small record makes on a fresh log. The last of
// them is its fdatasync (a flush writes, then syncs).
std::uint64_t CallsPerFlush() {
  MemoryLogEnv env;
  absl::StatusOr<std::unique_ptr<LogManager>> log =
      LogManager::Open(&env, SmallOptions(), {}, kFirstLsn);
  if (!log.ok()) {
    ADD_FAILURE() << log.status();
    return 0;
  }
  Rec r = MakeRec(100, 1);
  if (absl::Status s = Append(**log, r); !s.ok()) {
    ADD_FAILURE() << s;
    return 0;
  }
  const std::uint64_t before = env.calls();
  if (absl::Status s = (*log)->FlushUntil(r.lsn); !s.ok()) {
    ADD_FAILURE() << s;
    return 0;
  }
  return env.calls() - before;
}

TEST_F(LogTest, FailedFdatasyncIsFinal) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  const std::uint64_t sync_call = CallsPerFlush();
  ASSERT_GT(sync_call, 0u);
  Rec a = MakeRec(100, 1);
  PS_ASSERT_OK(Append(*log, a));
  env_.FailCall(sync_call, EIO);
  const absl::Status first = log->FlushUntil(a.lsn);
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.message(), HasSubstr("fdatasync"));
  EXPECT_NE(first.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(log->failure().ok());
  EXPECT_LE(log->durable_lsn(), a.lsn);
  env_.ClearFaults();  // the disk works again; the log stays failed
  EXPECT_EQ(log->FlushUntil(a.lsn).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->FlushAll().code(), absl::StatusCode::kFailedPrecondition);
  Rec b = MakeRec(100, 2);
  EXPECT_EQ(Append(*log, b).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->Commit(a.lsn, Durability::kNone).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->RemoveSegmentsBefore(a.lsn).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(log->failure().ok());
}

TEST_F(LogTest, CommittersWaitingOnAFailedFdatasyncGetAnError) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  const std::uint64_t sync_call = CallsPerFlush();
  ASSERT_GT(sync_call, 0u);
  Rec a = MakeRec(100, 1);
  PS_ASSERT_OK(Append(*log, a));
  std::atomic<std::uint64_t> calls{0};
  std::atomic<bool> in_sync{false};
  std::atomic<bool> release{false};
  env_.SetHook([&]() -> int {
    if (++calls != sync_call) return 0;  // the leader's fdatasync: held, then failed
    in_sync = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return EIO;
  });
  absl::Status leader_status;
  std::thread leader([&] { leader_status = log->FlushUntil(a.lsn); });
  while (!in_sync) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  constexpr int kWaiters = 4;
  std::vector<absl::Status> append_status(kWaiters), waiter_status(kWaiters + 1);
  std::vector<std::thread> waiters;
  std::atomic<int> appended{0};
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      Rec r = MakeRec(100, 10 + i);
      append_status[i] = Append(*log, r);
      ++appended;
      waiter_status[i] = append_status[i].ok() ? log->FlushUntil(r.lsn) : append_status[i];
    });
  }
  waiters.emplace_back([&] { waiter_status[kWaiters] = log->FlushUntil(a.lsn); });
  // Every append is in before the failure (however slow the machine); whether a waiter's flush
  // then blocks on the leader or comes after its failure, it must not be told it is durable.
  while (appended < kWaiters) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // most of them block meanwhile
  release = true;
  leader.join();
  for (std::thread& w : waiters) w.join();
  env_.ClearFaults();

  EXPECT_FALSE(leader_status.ok());
  EXPECT_THAT(leader_status.message(), HasSubstr("fdatasync"));
  for (int i = 0; i < kWaiters; ++i) PS_EXPECT_OK(append_status[i]);  // appended before the error
  for (std::size_t i = 0; i < waiter_status.size(); ++i) {
    EXPECT_FALSE(waiter_status[i].ok()) << "waiter " << i << " was told its commit is durable";
  }
  EXPECT_FALSE(log->failure().ok());
  EXPECT_LE(log->durable_lsn(), a.lsn);
}

// --- Bad input ----------------------------------------------------------------------------------

TEST_F(LogTest, RejectsBadSegmentSizes) {
  LogOptions o = SmallOptions();
  o.segment_size = kSegmentHeaderSize + kCapacity - kRecordAlignment;
  EXPECT_EQ(OpenNew(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.segment_size = kSegmentHeaderSize + kCapacity + 4;  // not a multiple of the alignment
  EXPECT_EQ(OpenNew(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.segment_size = kSegmentHeaderSize;
  EXPECT_EQ(OpenNew(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(FilesEndingWith(env_, kSegmentSuffix).empty());
  o.segment_size = kSegmentHeaderSize + kCapacity;
  PS_EXPECT_OK(OpenNew(o).status());
}

TEST_F(LogTest, RejectsARecordLargerThanASegment) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  Rec small = MakeRec(10, 1);
  PS_ASSERT_OK(Append(*log, small));
  Rec huge = MakeRec(kCapacity - kRecordHeaderSize + 1, 2);
  EXPECT_EQ(Append(*log, huge).code(), absl::StatusCode::kInvalidArgument);
  PS_EXPECT_OK(log->failure());  // a refused record does not break the log
  EXPECT_EQ(log->next_lsn(), small.end());
  Rec largest = MakeRec(kCapacity - kRecordHeaderSize, 3);
  PS_ASSERT_OK(Append(*log, largest));
  PS_ASSERT_OK(log->FlushAll());
  EXPECT_EQ(log->FlushUntil(log->next_lsn()).code(), absl::StatusCode::kInvalidArgument);
  ReadResult read = ReadLog(&env_, RecoveryMode::kAbsoluteConsistency);
  PS_EXPECT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, {small, largest}));
}

TEST_F(LogTest, SeekAndReadAtRejectPositionsWithoutARecord) {
  PS_ASSIGN_OR_FAIL(log, OpenNew());
  std::vector<Rec> recs;
  PS_ASSERT_OK(AppendMany(*log, 64 + 10, kKiBPayload, 0, &recs));
  PS_ASSERT_OK(log->FlushAll());
  PS_ASSERT_OK(log->RemoveSegmentsBefore(recs[64].lsn));
  PS_ASSIGN_OR_FAIL(reader, LogReader::Open(&env_, RecoveryMode::kTolerateTail));
  EXPECT_EQ(reader->first_lsn(), recs[64].lsn);
  EXPECT_EQ(reader->Seek(kFirstLsn).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(reader->Seek(recs[63].lsn).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(reader->ReadAt(recs[10].lsn).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(reader->ReadAt(recs[70].lsn + kRecordAlignment).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(reader->ReadAt(recs[70].lsn + kRecordHeaderSize).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(reader->ReadAt(recs.back().end()).status().code(), absl::StatusCode::kDataLoss);
  PS_ASSIGN_OR_FAIL(rec, reader->ReadAt(recs[70].lsn));
  EXPECT_EQ(rec.header.lsn, recs[70].lsn);
  ReadResult read;
  Drain(*reader, recs[64].lsn, &read);
  PS_EXPECT_OK(read.status);
  EXPECT_TRUE(SameRecords(read, Slice(recs, 64, recs.size())));

  MemoryLogEnv empty;
  PS_ASSIGN_OR_FAIL(none, LogReader::Open(&empty, RecoveryMode::kTolerateTail));
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(none->Seek(kFirstLsn).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace pagestore::testing
