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

}  // namespace pagestore
