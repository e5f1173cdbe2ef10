#include "wal/log_format.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <charconv>

namespace pagestore {

void EncodeSegmentHeader(const SegmentHeader& h, std::span<std::byte, kSegmentHeaderSize> out) {
  std::memset(out.data(), 0, out.size());
  std::byte* p = out.data();
  const std::uint32_t version = kLogFormatVersion;
  const std::uint32_t size = kSegmentHeaderSize;
  std::memcpy(p, kSegmentMagic, 8);
  std::memcpy(p + 8, &version, 4);
  std::memcpy(p + 12, &size, 4);
  std::memcpy(p + 16, &h.number, 8);
  std::memcpy(p + 24, &h.first_lsn, 8);
  std::memcpy(p + 32, &h.salt, 8);
  std::memcpy(p + 40, &h.presized, 8);
  const std::uint64_t sum = XXH3_64bits(p, 48);
  std::memcpy(p + 48, &sum, 8);
}

bool DecodeSegmentHeader(std::span<const std::byte> in, SegmentHeader* out) {
  if (in.size() < kSegmentHeaderUsed) return false;
  const std::byte* p = in.data();
  std::uint32_t version, size;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&size, p + 12, 4);
  if (std::memcmp(p, kSegmentMagic, 8) != 0 || size != kSegmentHeaderSize ||
      (version != 1 && version != 2)) {
    return false;
  }
  const std::size_t summed = version == 1 ? 40 : 48;
  std::uint64_t sum;
  std::memcpy(&sum, p + summed, 8);
  if (sum != XXH3_64bits(p, summed)) return false;
  std::memcpy(&out->number, p + 16, 8);
  std::memcpy(&out->first_lsn, p + 24, 8);
  std::memcpy(&out->salt, p + 32, 8);
  out->presized = 0;
  if (version == 2) std::memcpy(&out->presized, p + 40, 8);
  if (out->presized != 0 &&
      (out->presized < kSegmentHeaderSize || out->presized > kMaxSegmentSize)) {
    return false;
  }
  return true;
}

void EncodeSegmentEndMark(const SegmentEndMark& m, std::uint64_t salt,
                          std::span<std::byte, kSegmentEndMarkSize> out) {
  std::byte* p = out.data();
  std::memcpy(p, kSegmentEndMagic, 8);
  std::memcpy(p + 8, &m.next_number, 8);
  std::memcpy(p + 16, &m.next_first_lsn, 8);
  const std::uint64_t sum = XXH3_64bits_withSeed(p, 24, salt);
  std::memcpy(p + 24, &sum, 8);
}

bool DecodeSegmentEndMark(std::span<const std::byte> in, std::uint64_t salt, SegmentEndMark* out) {
  if (in.size() < kSegmentEndMarkSize) return false;
  const std::byte* p = in.data();
  std::uint64_t sum;
  std::memcpy(&sum, p + 24, 8);
  if (std::memcmp(p, kSegmentEndMagic, 8) != 0 || sum != XXH3_64bits_withSeed(p, 24, salt)) {
    return false;
  }
  std::memcpy(&out->next_number, p + 8, 8);
  std::memcpy(&out->next_first_lsn, p + 16, 8);
  return true;
}

std::string SegmentFileName(std::uint64_t number) {
  return fmt::format("{:016x}{}", number, kSegmentSuffix);
}

std::string NewSegmentFileName(std::uint64_t number) {
  return fmt::format("{:016x}{}", number, kNewSegmentSuffix);
}

bool ParseSegmentFileName(std::string_view name, std::uint64_t* number) {
  if (name.size() != 16 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return false;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + 16, *number, 16);
  return ec == std::errc() && ptr == name.data() + 16;
}

std::string_view RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kMtr:
      return "mtr";
    case RecordType::kCommit:
      return "commit";
    case RecordType::kAbort:
      return "abort";
    case RecordType::kCheckpoint:
      return "checkpoint";
  }
  return "unknown";
}

std::uint64_t RecordChecksum(const std::byte* p, std::uint32_t length, std::uint64_t salt) {
  return XXH3_64bits_withSeed(p + 8, length - 8, salt);
}

void SealRecord(const RecordHeader& h, std::uint64_t salt, std::byte* p) {
  std::memcpy(p, &h, sizeof h);
  const std::uint64_t sum = RecordChecksum(p, h.length, salt);
  std::memcpy(p, &sum, 8);
}

// --- Mini-transaction payload -----------------------------------------------------------------

namespace {

// Reads fixed-size fields and byte runs from a payload, refusing to read past its end.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(std::size_t n, std::span<const std::byte>* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

bool DecodeEntry(Reader& r, MtrEntryView* e) {
  std::uint8_t kind;
  if (!r.Get(&kind)) return false;
  e->kind = static_cast<MtrEntry>(kind);
  switch (e->kind) {
    case MtrEntry::kPageBytes:
      return r.Get(&e->page) && r.Get(&e->offset) && r.Get(&e->length) &&
             std::size_t{e->offset} + e->length <= kPageSize && r.Bytes(e->length, &e->bytes);
    case MtrEntry::kPageImage:
      return r.Get(&e->page) && r.Get(&e->offset) && r.Get(&e->length) &&
             std::size_t{e->offset} + e->length <= kPageSize &&
             r.Bytes(kPageSize - e->length, &e->bytes);
    case MtrEntry::kAlloc:
    case MtrEntry::kExtend:
    case MtrEntry::kFree:
      return r.Get(&e->page);
    case MtrEntry::kUndo: {
      std::uint32_t length;
      return r.Get(&e->resource_manager) && r.Get(&length) && r.Bytes(length, &e->bytes);
    }
    case MtrEntry::kCompensation:
      return r.Get(&e->undo_next);
  }
  return false;
}

}  // namespace

bool DecodeMtrPayload(std::span<const std::byte> payload,
                      absl::FunctionRef<bool(const MtrEntryView&)> on_entry) {
  Reader r(payload);
  while (!r.done()) {
    MtrEntryView e;
    if (!DecodeEntry(r, &e) || !on_entry(e)) return false;
  }
  return true;
}

void MtrPayloadWriter::PageBytes(PageId page, std::uint16_t offset,
                                 std::span<const std::byte> bytes) {
  Put(static_cast<std::uint8_t>(MtrEntry::kPageBytes));
  Put(page);
  Put(offset);
  Put(static_cast<std::uint16_t>(bytes.size()));
  Bytes(bytes);
}

void MtrPayloadWriter::PageImage(PageId page, std::uint16_t hole, std::uint16_t hole_length,
                                 std::span<const std::byte, kPageSize> bytes) {
  Put(static_cast<std::uint8_t>(MtrEntry::kPageImage));
  Put(page);
  Put(hole);
  Put(hole_length);
  Bytes(bytes.first(hole));
  Bytes(bytes.subspan(std::size_t{hole} + hole_length));
}

void MtrPayloadWriter::Allocation(MtrEntry kind, PageId page) {
  Put(static_cast<std::uint8_t>(kind));
  Put(page);
}

void MtrPayloadWriter::Undo(std::uint16_t resource_manager, std::span<const std::byte> payload) {
  Put(static_cast<std::uint8_t>(MtrEntry::kUndo));
  Put(resource_manager);
  Put(static_cast<std::uint32_t>(payload.size()));
  Bytes(payload);
}

void MtrPayloadWriter::Compensation(Lsn undo_next) {
  Put(static_cast<std::uint8_t>(MtrEntry::kCompensation));
  Put(undo_next);
}

// --- Checkpoint payload ------------------------------------------------------------------------

std::vector<std::byte> EncodeCheckpoint(const CheckpointPayload& c) {
  std::vector<std::byte> out;
  auto put = [&](auto v) {
    const std::size_t at = out.size();
    out.resize(at + sizeof v);
    std::memcpy(out.data() + at, &v, sizeof v);
  };
  put(c.redo_lsn);
  put(c.high_water);
  put(c.next_txn_id);
  put(static_cast<std::uint32_t>(c.active.size()));
  for (const CheckpointPayload::Active& a : c.active) {
    put(a.txn_id);
    put(a.first_lsn);
    put(a.last_lsn);
    put(a.undo_next_lsn);
  }
  return out;
}

bool DecodeCheckpoint(std::span<const std::byte> payload, CheckpointPayload* out) {
  Reader r(payload);
  std::uint32_t n;
  if (!r.Get(&out->redo_lsn) || !r.Get(&out->high_water) || !r.Get(&out->next_txn_id) ||
      !r.Get(&n)) {
    return false;
  }
  out->active.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    CheckpointPayload::Active a;
    if (!r.Get(&a.txn_id) || !r.Get(&a.first_lsn) || !r.Get(&a.last_lsn) ||
        !r.Get(&a.undo_next_lsn)) {
      return false;
    }
    out->active.push_back(a);
  }
  return r.done();
}

}  // namespace pagestore
