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
  const std::uint64_t sum = XXH3_64bits(p, 40);
  std::memcpy(p + 40, &sum, 8);
}

bool DecodeSegmentHeader(std::span<const std::byte> in, SegmentHeader* out) {
  if (in.size() < kSegmentHeaderUsed) return false;
  const std::byte* p = in.data();
  std::uint32_t version, size;
  std::uint64_t sum;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&size, p + 12, 4);
  std::memcpy(&sum, p + 40, 8);
  if (std::memcmp(p, kSegmentMagic, 8) != 0 || version != kLogFormatVersion ||
      size != kSegmentHeaderSize || sum != XXH3_64bits(p, 40)) {
    return false;
  }
  std::memcpy(&out->number, p + 16, 8);
  std::memcpy(&out->first_lsn, p + 24, 8);
  std::memcpy(&out->salt, p + 32, 8);
  return true;
}

std::string SegmentFileName(std::uint64_t number) {
  return fmt::format("{:016x}{}", number, kSegmentSuffix);
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
