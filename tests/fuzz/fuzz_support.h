// What the fuzz targets share: a reader over the fuzz input, the small valid store they start
// from (built in memory, made byte-for-byte deterministic), and a log directory built from fuzz
// bytes. tests/fuzz/README.md describes every target's input format.
//
// Thread safety: none needed (libFuzzer runs one input at a time); BaseStore is built once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/memory_disk_manager.h"
#include "storage/page.h"
#include "wal/log_env.h"
#include "wal/log_format.h"
#include "wal/store.h"

namespace pagestore::fuzz {

// Little-endian integers and byte strings off the front of the input; zeros past its end.
class FuzzReader {
 public:
  FuzzReader(const std::uint8_t* data, std::size_t size)
      : p_(reinterpret_cast<const std::byte*>(data)), left_(size) {}
  bool empty() const { return left_ == 0; }
  std::size_t remaining() const { return left_; }
  std::uint8_t U8() { return Int<std::uint8_t>(); }
  std::uint16_t U16() { return Int<std::uint16_t>(); }
  std::uint32_t U32() { return Int<std::uint32_t>(); }
  std::uint64_t U64() { return Int<std::uint64_t>(); }
  // Up to n bytes (fewer at the end of the input).
  std::span<const std::byte> Bytes(std::size_t n) {
    n = n < left_ ? n : left_;
    std::span<const std::byte> out(p_, n);
    p_ += n;
    left_ -= n;
    return out;
  }
  std::span<const std::byte> Rest() { return Bytes(left_); }

 private:
  template <typename T>
  T Int() {
    T v = 0;
    const std::span<const std::byte> b = Bytes(sizeof(T));
    if (!b.empty()) std::memcpy(&v, b.data(), b.size());
    return v;
  }
  const std::byte* p_;
  std::size_t left_;
};

// Aborts (a finding for the fuzzer) when a property the harness checks does not hold.
[[noreturn]] void Fail(const std::string& what);

// The options every fuzzed store opens with: small pool and segments, no background thread,
// both index kinds' undo handlers, `mode` for recovery.
StoreOptions FuzzStoreOptions(RecoveryMode mode = RecoveryMode::kTolerateTail);

// A store's bytes: its page file's pages and its log directory's files.
struct StoreImage {
  std::vector<std::array<std::byte, kPageSize>> pages;
  std::vector<std::pair<std::string, std::vector<std::byte>>> log_files;  // name order
};
StoreImage Capture(MemoryFile& file, MemoryLogEnv& env);
// A new page file and log directory holding the image's bytes (every log byte synced).
[[nodiscard]] absl::Status Restore(const StoreImage& image, std::shared_ptr<MemoryFile>* file,
                                   std::shared_ptr<MemoryLogEnv>* env);

// The small valid store every store input patches: a catalog naming a B+tree ("tree", height
// 1) and a hash index ("hash", several buckets), a free list, committed work after the last
// checkpoint. `crashed`: the image of a process killed with a transaction in flight (recovery
// redoes and undoes); otherwise closed cleanly. Built on first use, deterministic: segment salts
// (clock-seeded in the log manager) are rewritten to SegmentSalt(number) and everything resealed.
const StoreImage& BaseStore(bool crashed);
[[nodiscard]] absl::StatusOr<StoreImage> BuildStore(bool crashed);
// The keys BuildStore wrote (some since deleted), for lookups.
std::string BaseKey(int i);
inline constexpr int kBaseKeys = 240;

// The salt a fuzz segment numbered `number` carries.
inline std::uint64_t SegmentSalt(std::uint64_t number) { return 0x5eed5a17'00000000ull + number; }
// Rewrites a segment file's salt to `salt`: its header, its end mark and every record that was
// valid under the old salt (stopping at the first that was not).
void Resalt(std::vector<std::byte>& segment, std::uint64_t salt);
// Reseals what a patch may have broken: the header's checksum (when its magic is intact) and
// every record, from the first, whose framing holds (its LSN names its position, its length fits
// the file), under the header's salt. Stops at the first record whose framing does not hold.
void Reseal(std::vector<std::byte>& segment);

// A log directory made from fuzz bytes (tests/fuzz/README.md: "Log input"). Returns the first
// LSN of the first segment written with a harness header (kFirstLsn otherwise).
struct FuzzLog {
  std::shared_ptr<MemoryLogEnv> env;
  Lsn first_lsn = kFirstLsn;
};
FuzzLog MakeFuzzLog(FuzzReader& in);
// The bytes of a log input that MakeFuzzLog turns into these segments (for the seed corpora):
// `with_header` says which get a harness-written header (their bytes then start after it).
struct FuzzSegment {
  std::uint16_t number = 1;
  Lsn first_lsn = kFirstLsn;
  bool with_header = true;
  bool presized = false;
  std::vector<std::byte> body;  // the file past the header, or the whole file
};
std::vector<std::byte> EncodeFuzzLog(const std::vector<FuzzSegment>& segments, bool reseal);

}  // namespace pagestore::fuzz
