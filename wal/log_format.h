// The write-ahead log's bytes on disk: every constant of the format, the record and segment
// headers, and their encoding. wal/README.md is the prose spec of the same format.
//
// Thread safety: pure functions and constants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "storage/page.h"

namespace pagestore {

// --- Segments -----------------------------------------------------------------------------------
// The log is a sequence of segment files `<16 hex digits of the segment number>.wal` in one
// directory. A segment starts with a header block; its records follow back to back. Segment k
// holds the LSNs [first_lsn_k, first_lsn_{k+1}); the byte at LSN x is at file offset
// kSegmentHeaderSize + (x - first_lsn).
inline constexpr char kSegmentMagic[8] = {'P', 'S', 'W', 'A', 'L', 'S', 'E', 'G'};
// Version 2 adds the pre-sized length; version 1 headers (no length) are still read.
inline constexpr std::uint32_t kLogFormatVersion = 2;
inline constexpr std::size_t kSegmentHeaderSize = 4096;  // one block, so records never share it
inline constexpr std::size_t kSegmentHeaderUsed = 56;
// The largest segment (LogOptions::segment_size, and a header's pre-sized length) this build
// makes or believes.
inline constexpr std::uint64_t kMaxSegmentSize = std::uint64_t{1} << 32;
inline constexpr std::string_view kSegmentSuffix = ".wal";
inline constexpr std::string_view kSpareSuffix = ".spare";  // a removed segment kept to recycle
// A segment being created or recycled: it gets its ".wal" name only once its header (and, when
// pre-sized, its full length) is durable, so every ".wal" file is whole from birth and a ".wal"
// file without an intact header is damage, never an interrupted creation.
inline constexpr std::string_view kNewSegmentSuffix = ".wal.new";

struct SegmentHeader {
  std::uint64_t number = 0;
  Lsn first_lsn = 0;
  std::uint64_t salt = 0;  // seeds every record checksum in the segment
  // The file's length when it was created (zero-filled or recycled to that length); 0 when it
  // grows by appends (or a version 1 header). A shorter file was cut: truncation, not a torn write.
  std::uint64_t presized = 0;
};
// Layout (version 2): magic[8] | u32 version | u32 header size | u64 number | u64 first_lsn |
// u64 salt | u64 presized | u64 checksum (XXH3-64 of bytes [0, 48)). The rest of the block is
// zero. Version 1: the same without `presized`, the checksum at 40 over [0, 40).
void EncodeSegmentHeader(const SegmentHeader& h, std::span<std::byte, kSegmentHeaderSize> out);
// False when the block is not an intact segment header of a version this build reads (or claims
// a pre-sized length shorter than its header or beyond kMaxSegmentSize).
bool DecodeSegmentHeader(std::span<const std::byte> in, SegmentHeader* out);

// The end mark: written into a segment's header block (at kSegmentEndMarkOffset, a sector of its
// own) once the next segment exists durably, and synced before any record goes there. A log
// whose last segment carries one has lost the segment after it.
// Layout: magic "PSWALEND" | u64 next segment number | u64 next segment's first LSN |
// u64 XXH3-64 of the 24 bytes before it, seeded with this segment's salt.
inline constexpr std::size_t kSegmentEndMarkOffset = 2048;
inline constexpr std::size_t kSegmentEndMarkSize = 32;
inline constexpr char kSegmentEndMagic[8] = {'P', 'S', 'W', 'A', 'L', 'E', 'N', 'D'};
struct SegmentEndMark {
  std::uint64_t next_number = 0;
  Lsn next_first_lsn = 0;
};
void EncodeSegmentEndMark(const SegmentEndMark& m, std::uint64_t salt,
                          std::span<std::byte, kSegmentEndMarkSize> out);
// False when `in` (the mark's bytes) holds no intact mark for a segment of this salt.
bool DecodeSegmentEndMark(std::span<const std::byte> in, std::uint64_t salt, SegmentEndMark* out);

std::string SegmentFileName(std::uint64_t number);
// The segment number of a file name `<hex>.wal`; false for any other name.
bool ParseSegmentFileName(std::string_view name, std::uint64_t* number);
std::string NewSegmentFileName(std::uint64_t number);  // "<hex>.wal.new"

// --- Records ------------------------------------------------------------------------------------
inline constexpr Lsn kFirstLsn = 8;  // LSN 0 is kInvalidLsn: "no record"
inline constexpr std::size_t kRecordAlignment = 8;
inline constexpr std::size_t kRecordHeaderSize = 48;

enum class RecordType : std::uint16_t {
  kMtr = 1,         // a mini-transaction: redo entries (and an undo entry), one atomic unit
  kCommit = 2,      // the transaction committed
  kAbort = 3,       // the transaction's rollback finished: every change undone
  kCheckpoint = 4,  // a fuzzy checkpoint (see CheckpointRecord)
};
std::string_view RecordTypeName(RecordType type);

struct RecordHeader {
  std::uint64_t checksum = 0;  // XXH3-64 seeded with the segment salt over bytes [8, length)
  std::uint32_t length = 0;    // header + payload; the record occupies AlignRecord(length) bytes
  RecordType type = RecordType::kMtr;
  std::uint16_t flags = 0;   // zero in this version
  Lsn lsn = 0;               // the record's own position: a record copied elsewhere fails
  Lsn prev_lsn = 0;          // the transaction's previous record; 0 for its first
  std::uint64_t txn_id = 0;  // 0: a system mini-transaction, never undone
  // The log was durable below this LSN when the record was appended. A valid record whose
  // durable_lsn is beyond a bad record proves the bad bytes were once durable: corruption, not a
  // torn tail.
  Lsn durable_lsn = 0;
};
static_assert(sizeof(RecordHeader) == kRecordHeaderSize);

constexpr std::size_t AlignRecord(std::size_t n) {
  return (n + kRecordAlignment - 1) & ~(kRecordAlignment - 1);
}

inline RecordHeader ReadRecordHeader(const std::byte* p) {
  RecordHeader h;
  std::memcpy(&h, p, sizeof h);
  return h;
}
// Writes `h` (its checksum field ignored) then computes and stores the checksum over the
// header and the payload already at p + kRecordHeaderSize.
void SealRecord(const RecordHeader& h, std::uint64_t salt, std::byte* p);
std::uint64_t RecordChecksum(const std::byte* p, std::uint32_t length, std::uint64_t salt);

// --- Mini-transaction payload (RecordType::kMtr) ---------------------------------------------
// A sequence of entries, each starting with a one-byte kind. Page entries of one page are
// contiguous; redo decides once per (record, page) whether to apply them.
enum class MtrEntry : std::uint8_t {
  kPageBytes = 1,     // u64 page | u16 offset | u16 length | bytes: physiological redo
  kPageImage = 2,     // u64 page | u16 hole offset | u16 hole length | the page's bytes but
                      // the hole (the longest run of zeros): [0, offset) then [offset+length, 4096)
  kAlloc = 3,         // u64 page: taken from the free list
  kExtend = 4,        // u64 page: appended to the file (the allocation high-water mark moves)
  kFree = 5,          // u64 page: returned to the free list
  kUndo = 6,          // u16 resource manager | u32 length | bytes: logical undo of this record
  kCompensation = 7,  // u64 undo_next_lsn: this record undid one; continue undo there
};

// The one codec of a kMtr payload: the store writes it, recovery and undo read it, and the
// `dump-wal` tool shows it.
//
// One decoded entry; which fields mean something depends on `kind`.
struct MtrEntryView {
  MtrEntry kind = MtrEntry::kPageBytes;
  PageId page = kInvalidPageId;  // kPageBytes, kPageImage, kAlloc, kExtend, kFree
  std::uint16_t offset = 0;      // kPageBytes: where the bytes go; kPageImage: the hole's start
  std::uint16_t length = 0;      // kPageBytes: bytes.size(); kPageImage: the hole's length
  // kPageBytes: the new bytes; kPageImage: the page less its hole (4096 - length bytes);
  // kUndo: the undo payload.
  std::span<const std::byte> bytes;
  std::uint16_t resource_manager = 0;  // kUndo
  Lsn undo_next = kInvalidLsn;         // kCompensation
};
// Decodes `payload` entry by entry, calling `on_entry` for each. Every length is checked against
// the payload, and every page range against the page (offset + length <= 4096; a hole within
// the page). False when the payload is malformed (an unknown kind, a short or out-of-page
// entry) or when `on_entry` returns false (it stops the walk).
[[nodiscard]] bool DecodeMtrPayload(std::span<const std::byte> payload,
                                    absl::FunctionRef<bool(const MtrEntryView&)> on_entry);
// Appends entries to a payload being built.
class MtrPayloadWriter {
 public:
  explicit MtrPayloadWriter(std::vector<std::byte>* out) : out_(out) {}
  // REQUIRES: offset + bytes.size() <= kPageSize.
  void PageBytes(PageId page, std::uint16_t offset, std::span<const std::byte> bytes);
  // The page `bytes` (4096 of them) less the hole [hole, hole + hole_length), which is zeros.
  void PageImage(PageId page, std::uint16_t hole, std::uint16_t hole_length,
                 std::span<const std::byte, kPageSize> bytes);
  void Allocation(MtrEntry kind, PageId page);  // kAlloc, kExtend or kFree
  void Undo(std::uint16_t resource_manager, std::span<const std::byte> payload);
  void Compensation(Lsn undo_next);

 private:
  template <typename T>
  void Put(T v) {
    const std::size_t at = out_->size();
    out_->resize(at + sizeof v);
    std::memcpy(out_->data() + at, &v, sizeof v);
  }
  void Bytes(std::span<const std::byte> b) { out_->insert(out_->end(), b.begin(), b.end()); }
  std::vector<std::byte>* out_;
};

// --- Checkpoint payload ------------------------------------------------------------------------
// u64 redo_lsn | u64 page high-water mark | u64 next txn id | u32 active count |
// active count x (u64 txn id | u64 first lsn | u64 last lsn | u64 undo_next lsn)
struct CheckpointPayload {
  Lsn redo_lsn = kInvalidLsn;
  PageId high_water = kFirstDataPage;
  std::uint64_t next_txn_id = 1;
  struct Active {
    std::uint64_t txn_id = 0;
    Lsn first_lsn = kInvalidLsn, last_lsn = kInvalidLsn, undo_next_lsn = kInvalidLsn;
  };
  std::vector<Active> active;
};
std::vector<std::byte> EncodeCheckpoint(const CheckpointPayload& c);
// False when the payload is cut short or has bytes left over.
[[nodiscard]] bool DecodeCheckpoint(std::span<const std::byte> payload, CheckpointPayload* out);

}  // namespace pagestore
