#include "storage/disk_manager.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <set>

#include "storage/mmap_disk_manager.h"
#include "storage/pread_disk_manager.h"

namespace pagestore {

std::string_view DiskManagerKindName(DiskManagerKind kind) {
  return kind == DiskManagerKind::kMmap ? "mmap" : "pread";
}

std::string DiskStats::ToString() const {
  return fmt::format(
      "reads={} writes={} bytes_read={} bytes_written={} syncs={} growths={} remaps={} "
      "hint_calls={} checksum_failures={} batches={} batch_requests={} batch_submits={}",
      reads, writes, bytes_read, bytes_written, syncs, growths, remaps, hint_calls,
      checksum_failures, batches, batch_requests, batch_submits);
}

absl::Status FirstFailure(std::span<const PageRequest> batch) {
  for (const PageRequest& r : batch) {
    if (!r.status.ok()) return r.status;
  }
  return absl::OkStatus();
}

absl::Status DiskManager::ReadBatch(std::span<PageRequest> batch) {
  for (PageRequest& r : batch) r.status = ReadPage(r.id, PageSpan(r.data, kPageSize));
  return FirstFailure(batch);
}

absl::Status DiskManager::WriteBatch(std::span<PageRequest> batch) {
  for (PageRequest& r : batch) r.status = WritePage(r.id, PageSpan(r.data, kPageSize));
  return FirstFailure(batch);
}

absl::Status DiskManager::Shrink(PageId count) {
  return absl::UnimplementedError(fmt::format(
      "{}: the {} disk manager cannot shrink its file (to {} pages)", path(), name(), count));
}

absl::Status DiskManager::ReadRawPages(PageId first, std::span<std::byte> out) {
  return absl::UnimplementedError(
      fmt::format("{}: the {} disk manager cannot copy pages raw (reading {} pages from page {})",
                  path(), name(), out.size() / kPageSize, first));
}

absl::Status DiskManager::ReadPages(std::span<const PageId> ids, std::span<std::byte> out) {
  if (out.size() < ids.size() * kPageSize) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: ReadPages of {} pages into a buffer of {} bytes", path(), ids.size(), out.size()));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s = ReadPage(ids[i], PageSpan(out.data() + i * kPageSize, kPageSize));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DiskManager>> OpenDiskManager(const std::filesystem::path& path,
                                                             const DiskManagerOptions& options) {
  switch (options.kind) {
    case DiskManagerKind::kPread: {
      auto dm = PreadDiskManager::Open(path, options);
      if (!dm.ok()) return dm.status();
      return std::unique_ptr<DiskManager>(std::move(*dm));
    }
    case DiskManagerKind::kMmap: {
      auto dm = MmapDiskManager::Open(path, options);
      if (!dm.ok()) return dm.status();
      return std::unique_ptr<DiskManager>(std::move(*dm));
    }
  }
  return absl::InvalidArgumentError("unknown disk manager kind");
}

namespace {

absl::Status SpecError(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("disk manager spec \"{}\": {}", spec, why));
}

absl::StatusOr<std::uint64_t> ParseSize(std::string_view spec, std::string_view key,
                                        std::string_view value) {
  std::uint64_t n = 0;
  const char* end = value.data() + value.size();
  auto [p, ec] = std::from_chars(value.data(), end, n);
  if (ec != std::errc() || p == value.data()) {
    return SpecError(spec,
                     fmt::format("{}={} is not a size (e.g. 4096, 64K, 256M, 1G)", key, value));
  }
  std::string_view suffix(p, static_cast<std::size_t>(end - p));
  int shift = 0;
  if (suffix.empty()) {
    shift = 0;
  } else if (suffix.size() == 1 || (suffix.size() == 3 && suffix.substr(1) == "iB") ||
             (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b'))) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        return SpecError(spec, fmt::format("{}={} has an unknown unit \"{}\" (K, M, G or T)", key,
                                           value, suffix));
    }
  } else {
    return SpecError(
        spec, fmt::format("{}={} has an unknown unit \"{}\" (K, M, G or T)", key, value, suffix));
  }
  if (shift > 0 && n > (~std::uint64_t{0} >> shift)) {
    return SpecError(spec, fmt::format("{}={} overflows 64 bits", key, value));
  }
  n <<= shift;
  if (n % kPageSize != 0) {
    return SpecError(
        spec, fmt::format("{}={} is not a whole number of {}-byte pages", key, value, kPageSize));
  }
  return n;
}

absl::StatusOr<bool> ParseBool(std::string_view spec, std::string_view key,
                               std::string_view value) {
  if (value == "1" || value == "true" || value == "on" || value == "yes") return true;
  if (value == "0" || value == "false" || value == "off" || value == "no") return false;
  return SpecError(spec, fmt::format("{}={} is not a boolean (0 or 1)", key, value));
}

std::string FormatSize(std::uint64_t n) {
  for (auto [shift, unit] : {std::pair{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}}) {
    if (n != 0 && n % (std::uint64_t{1} << shift) == 0)
      return fmt::format("{}{}", n >> shift, unit);
  }
  return fmt::format("{}", n);
}

}  // namespace

absl::StatusOr<DiskManagerOptions> ParseDiskManagerSpec(std::string_view spec,
                                                        const DiskManagerOptions& base) {
  DiskManagerOptions options = base;
  const std::size_t colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  if (kind == "pread") {
    options.kind = DiskManagerKind::kPread;
  } else if (kind == "mmap") {
    options.kind = DiskManagerKind::kMmap;
  } else if (kind.empty()) {
    return SpecError(spec,
                     "empty; expected \"pread\" or \"mmap\", optionally with \":key=value,...\"");
  } else {
    return SpecError(spec,
                     fmt::format("unknown disk manager \"{}\" (expected pread or mmap)", kind));
  }
  if (colon == std::string_view::npos) return options;
  const std::string_view params = spec.substr(colon + 1);
  if (params.empty()) return SpecError(spec, "nothing after ':'");
  std::set<std::string_view> seen;
  for (std::string_view rest = params; !rest.empty() || params.back() == ',';) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    if (comma == std::string_view::npos) {
      rest = {};
    } else {
      rest = rest.substr(comma + 1);
      if (rest.empty()) return SpecError(spec, "trailing ','");
    }
    const std::size_t eq = item.find('=');
    if (item.empty()) return SpecError(spec, "empty parameter (stray ',')");
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return SpecError(spec, fmt::format("parameter \"{}\" is not key=value", item));
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (!seen.insert(key).second) {
      return SpecError(spec, fmt::format("parameter \"{}\" given twice", key));
    }
    auto size = [&](std::uint64_t& field) -> absl::Status {
      absl::StatusOr<std::uint64_t> v = ParseSize(spec, key, value);
      if (!v.ok()) return v.status();
      field = *v;
      return absl::OkStatus();
    };
    auto flag = [&](bool& field) -> absl::Status {
      absl::StatusOr<bool> v = ParseBool(spec, key, value);
      if (!v.ok()) return v.status();
      field = *v;
      return absl::OkStatus();
    };
    absl::Status s;
    if (key == "verify") {
      s = flag(options.verify_checksums);
    } else if (options.kind == DiskManagerKind::kPread && key == "direct") {
      s = flag(options.pread.direct_io);
    } else if (options.kind == DiskManagerKind::kPread && key == "growth") {
      s = size(options.pread.growth_size);
    } else if (options.kind == DiskManagerKind::kPread && key == "uring") {
      s = flag(options.pread.io_uring);
    } else if (options.kind == DiskManagerKind::kPread && key == "depth") {
      unsigned depth = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), depth);
      if (ec != std::errc() || p != value.data() + value.size() || depth == 0 || depth > 4096) {
        return SpecError(spec,
                         fmt::format("depth={} is not a queue depth between 1 and 4096", value));
      }
      options.pread.uring_depth = depth;
    } else if (options.kind == DiskManagerKind::kMmap && key == "initial") {
      s = size(options.mmap.initial_size);
    } else if (options.kind == DiskManagerKind::kMmap && key == "growth") {
      s = size(options.mmap.growth_size);
    } else if (options.kind == DiskManagerKind::kMmap && key == "reserve") {
      s = size(options.mmap.reserve_size);
    } else if (options.kind == DiskManagerKind::kMmap && key == "populate") {
      s = flag(options.mmap.populate);
    } else if (options.kind == DiskManagerKind::kMmap && key == "pwrite") {
      s = flag(options.mmap.write_via_pwrite);
    } else {
      return SpecError(spec,
                       fmt::format("unknown parameter \"{}\" for {} (known: {})", key, kind,
                                   options.kind == DiskManagerKind::kPread
                                       ? "direct, growth, uring, depth, verify"
                                       : "initial, growth, reserve, populate, pwrite, verify"));
    }
    if (!s.ok()) return s;
  }
  if (options.kind == DiskManagerKind::kPread && options.pread.growth_size == 0) {
    return SpecError(spec, "growth must be positive");
  }
  if (options.kind == DiskManagerKind::kMmap) {
    if (options.mmap.growth_size == 0) return SpecError(spec, "growth must be positive");
    if (options.mmap.initial_size > options.mmap.reserve_size) {
      return SpecError(
          spec, fmt::format("initial={} exceeds reserve={}", FormatSize(options.mmap.initial_size),
                            FormatSize(options.mmap.reserve_size)));
    }
  }
  return options;
}

std::string FormatDiskManagerSpec(const DiskManagerOptions& o) {
  std::string verify = o.verify_checksums ? "" : ",verify=0";
  if (o.kind == DiskManagerKind::kPread) {
    return fmt::format("pread:direct={},growth={},uring={},depth={}{}", o.pread.direct_io ? 1 : 0,
                       FormatSize(o.pread.growth_size), o.pread.io_uring ? 1 : 0,
                       o.pread.uring_depth, verify);
  }
  return fmt::format("mmap:initial={},growth={},reserve={},populate={},pwrite={}{}",
                     FormatSize(o.mmap.initial_size), FormatSize(o.mmap.growth_size),
                     FormatSize(o.mmap.reserve_size), o.mmap.populate ? 1 : 0,
                     o.mmap.write_via_pwrite ? 1 : 0, verify);
}

}  // namespace pagestore
