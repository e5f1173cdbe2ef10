// The pieces of engine.h every engine shares: the records' values, file sizes, directories and the
// errors a failed read reports.
#include "benchmarks/engines/engine.h"

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/status/status.h"
#include "benchmarks/bench_util.h"
#include "tools/ycsb.h"

namespace pagestore::bench {

namespace fs = std::filesystem;

std::string Value(std::uint64_t id) {
  std::string v;
  ycsb::MakeValue(id, 0, kValueSize, &v);
  return v;
}

std::uint64_t DirectoryBytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  std::uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) total += it->file_size(e2);
  }
  return total;
}

void MakeDirectory(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) Die(fmt::format("{}: cannot create: {}", p.string(), ec.message()));
}

absl::Status NotFound(std::string_view engine, std::string_view key) {
  const std::optional<std::uint64_t> id = ycsb::RecordOf(key);
  return absl::NotFoundError(fmt::format("{}: record {} not found", engine, id ? *id : ~0ull));
}

absl::Status WrongValue(std::string_view engine, std::uint64_t id, std::size_t size) {
  return absl::DataLossError(
      fmt::format("{}: record {}: the {}-byte value read does not start with the record's number",
                  engine, id, size));
}

}  // namespace pagestore::bench
