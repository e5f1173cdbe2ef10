// Helpers shared by the storage tests: a temporary directory, deterministic page contents, and
// one description of every DiskManager implementation so suites run against all of them.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/random/random.h"
#include "storage/disk_manager.h"
#include "storage/memory_disk_manager.h"
#include "storage/mmap_disk_manager.h"
#include "storage/pread_disk_manager.h"

namespace pagestore::testing {

#define PS_ASSERT_OK(expr)                       \
  do {                                           \
    const ::absl::Status _s = (expr);            \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)
#define PS_EXPECT_OK(expr)                       \
  do {                                           \
    const ::absl::Status _s = (expr);            \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)
#define PS_ASSIGN_OR_FAIL(lhs, expr)                                \
  auto lhs##_or = (expr);                                           \
  ASSERT_TRUE(lhs##_or.ok()) << #expr << ": " << lhs##_or.status(); \
  auto lhs = std::move(*lhs##_or)

// A fresh directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pagestore-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(std::string_view name) const { return path_ / std::string(name); }

 private:
  std::filesystem::path path_;
};

using Page = std::array<std::byte, kPageSize>;

// A kRaw page whose payload is a deterministic function of (id, version).
inline void FillPage(Page& page, PageId id, std::uint64_t version) {
  InitPage(page, PageType::kRaw);
  std::uint64_t x = id * 0x9E3779B97F4A7C15ull ^ (version + 1) * 0xC2B2AE3D27D4EB4Full;
  for (std::size_t i = kPageHeaderSize; i + 8 <= kPageSize; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(page.data() + i, &x, 8);
  }
}

// True if `page` holds what FillPage(id, version) wrote (payload compared; header is sealed).
inline bool PageHolds(const Page& page, PageId id, std::uint64_t version) {
  Page expect;
  FillPage(expect, id, version);
  return std::memcmp(page.data() + kPageHeaderSize, expect.data() + kPageHeaderSize,
                     kPagePayloadSize) == 0 &&
         ReadPageHeader(page).page_id == id;
}

// Small mmap sizes so tests grow and remap often and stay light.
inline DiskManagerOptions SmallMmapOptions() {
  DiskManagerOptions o;
  o.kind = DiskManagerKind::kMmap;
  o.mmap.initial_size = 64 << 10;
  o.mmap.growth_size = 64 << 10;
  o.mmap.reserve_size = 1ull << 30;
  return o;
}

// One implementation under test: how to open its "file" (real or in memory) again and again.
struct ManagerKind {
  std::string name;
  DiskManagerOptions options;  // kind/configuration; mode is set per open
  bool in_memory = false;
};

inline void PrintTo(const ManagerKind& k, std::ostream* os) { *os << k.name; }

inline std::vector<ManagerKind> AllManagerKinds() {
  DiskManagerOptions pread;
  pread.pread.growth_size = 64 << 10;
  DiskManagerOptions direct = pread;
  direct.pread.direct_io = true;
  // The pread manager's batches without io_uring (the fallback where the kernel refuses it).
  DiskManagerOptions no_uring = pread;
  no_uring.pread.io_uring = false;
  return {{"pread", pread},
          {"pread_direct", direct},
          {"pread_no_uring", no_uring},
          {"mmap", SmallMmapOptions()},
          {"memory", {}, /*in_memory=*/true}};
}

inline std::vector<ManagerKind> FileManagerKinds() {
  auto all = AllManagerKinds();
  std::erase_if(all, [](const ManagerKind& k) { return k.in_memory; });
  return all;
}

// Opens managers of one kind on one file (a path in a TempDir, or a MemoryFile).
class ManagerFactory {
 public:
  explicit ManagerFactory(ManagerKind kind)
      : kind_(std::move(kind)), memory_(std::make_shared<MemoryFile>("mem")) {}

  absl::StatusOr<std::unique_ptr<DiskManager>> Open(
      OpenMode mode = OpenMode::kOpenOrCreate, std::function<int(IoCall)> fault_hook = nullptr) {
    DiskManagerOptions o = kind_.options;
    o.mode = mode;
    o.fault_hook = std::move(fault_hook);
    if (kind_.in_memory) {
      auto dm = MemoryDiskManager::Open(memory_, o);
      if (!dm.ok()) return dm.status();
      return std::unique_ptr<DiskManager>(std::move(*dm));
    }
    return OpenDiskManager(path(), o);
  }
  std::filesystem::path path() const { return dir_.file("db.pages"); }
  const ManagerKind& kind() const { return kind_; }
  MemoryFile& memory() { return *memory_; }

  // Overwrites raw bytes of page `id` in the underlying file (no manager open for writing).
  void CorruptPage(PageId id, const std::function<void(std::byte*)>& mutate) {
    if (kind_.in_memory) {
      mutate(memory_->MutablePage(id));
      return;
    }
    int fd = ::open(path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    Page buf;
    ASSERT_EQ(::pread(fd, buf.data(), kPageSize, id * kPageSize), ssize_t(kPageSize));
    mutate(buf.data());
    ASSERT_EQ(::pwrite(fd, buf.data(), kPageSize, id * kPageSize), ssize_t(kPageSize));
    ::close(fd);
  }

 private:
  ManagerKind kind_;
  TempDir dir_;
  std::shared_ptr<MemoryFile> memory_;
};

// Skips the running test when `kind` uses O_DIRECT and the temporary filesystem refuses it.
#define PS_SKIP_IF_NO_DIRECT_IO(kind)                                                   \
  if ((kind).options.pread.direct_io &&                                                 \
      !::pagestore::testing::DirectIoSupported(std::filesystem::temp_directory_path())) \
  GTEST_SKIP() << "O_DIRECT is not supported on this filesystem"

inline bool DirectIoSupported(const std::filesystem::path& dir) {
  auto probe = dir / "direct-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  if (fd >= 0) ::close(fd);
  std::filesystem::remove(probe);
  return fd >= 0;
}

// Pages of `path` that are dirty in the page cache (not yet written back), from the cachestat
// system call (Linux 6.5+); nullopt where the kernel lacks it. Lets a test see that Sync really
// wrote back what it should have.
inline std::optional<std::uint64_t> DirtyPagesInCache(const std::filesystem::path& path) {
  struct Range {
    std::uint64_t off, len;
  } range{0, 0};  // len 0: to the end of the file
  struct Stat {
    std::uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  constexpr long kSysCachestat = 451;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return std::nullopt;
  long r = ::syscall(kSysCachestat, fd, &range, &stat, 0);
  ::close(fd);
  if (r != 0) return std::nullopt;
  return stat.nr_dirty;
}

// Prints the seed so a failure can be replayed (PAGESTORE_TEST_SEED overrides it).
inline std::uint64_t TestSeed() {
  std::uint64_t seed = absl::Uniform<std::uint64_t>(absl::BitGen());
  if (const char* env = std::getenv("PAGESTORE_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::cout << "seed: " << seed << " (set PAGESTORE_TEST_SEED to replay)\n";
  return seed;
}

}  // namespace pagestore::testing
