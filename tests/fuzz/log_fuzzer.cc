// Fuzz target `log`: a fuzzed log directory (one or two segment files, tests/fuzz/README.md "Log
// input") read by LogReader in each RecoveryMode: Open, Seek to the first LSN, Next to the end,
// then ReadAt and Seek at LSNs seen, at the end and at LSNs from the input. Must end (every Next
// moves forward), never crash; every failure a Status.
#include <cstdint>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "wal/log_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pagestore;
  using namespace pagestore::fuzz;
  FuzzReader in(data, size);
  const FuzzLog log = MakeFuzzLog(in);
  for (const RecoveryMode mode : {RecoveryMode::kTolerateTail, RecoveryMode::kAbsoluteConsistency,
                                  RecoveryMode::kPointInTime}) {
    absl::StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(log.env.get(), mode);
    if (!reader.ok()) continue;
    LogReader& r = **reader;
    (void)r.segments();
    const Lsn first = r.first_lsn();
    if (!r.Seek(first).ok()) continue;
    std::vector<Lsn> seen;
    LogRecord rec;
    Lsn last = 0;
    // Bounded by the log's bytes: each record takes at least kRecordAlignment of them.
    const std::size_t limit = size / kRecordAlignment + 16;
    for (std::size_t n = 0;; ++n) {
      if (n > limit) Fail("LogReader::Next did not reach the end of the log");
      absl::StatusOr<bool> more = r.Next(&rec);
      if (!more.ok() || !*more) break;
      if (rec.header.lsn < last) Fail("LogReader::Next went backwards");
      last = rec.header.lsn;
      if (rec.payload.size() + kRecordHeaderSize != rec.header.length) {
        Fail("a record's payload does not match its length");
      }
      std::uint64_t sum = 0;
      for (std::byte b : rec.payload) sum += static_cast<std::uint8_t>(b);  // in bounds?
      (void)sum;
      if (seen.size() < 8) seen.push_back(rec.header.lsn);
    }
    (void)r.damage();
    seen.push_back(r.end_lsn());
    seen.push_back(first + kRecordAlignment);
    seen.push_back(log.first_lsn);
    for (Lsn lsn : seen) {
      absl::StatusOr<LogRecord> at = r.ReadAt(lsn);
      if (at.ok() && at->header.lsn != lsn) Fail("ReadAt returned another record");
    }
    // Seeking back and reading again after random access.
    if (r.Seek(seen.front()).ok()) {
      for (std::size_t n = 0; n < 4; ++n) {
        absl::StatusOr<bool> more = r.Next(&rec);
        if (!more.ok() || !*more) break;
      }
    }
  }
  return 0;
}
