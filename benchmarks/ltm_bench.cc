// ltm_bench: the larger-than-memory experiment of Crotty, Leis and Pavlo, "Are You Sure You Want
// to Use MMAP in Your Database Management System?" (CIDR 2022), in miniature. Uniform random
// 4 KiB page reads over a file several times larger than the memory the process may use (run it
// inside a memory cgroup: scripts/bench_ltm.sh does), each run starting with a cold page cache,
// and the throughput sampled over time so that the page cache filling up, the point where it is
// full and the steady state that follows are visible, not just one average.
//
//   ltm_read/pool_pread_direct    BufferPool over the pread manager with O_DIRECT: the pool is the
//                                 only cache, every miss one device read (and checksum check).
//   ltm_read/pool_pread_buffered  the same over buffered pread: pool and page cache both cache
//                                 (double caching), charged to the same memory limit.
//   ltm_read/mmap                 the OS as the buffer manager: MmapDiskManager::View (zero copy)
//                                 after MadviseRandom, no pool; a miss is a major page fault.
//   ltm_read/pool_mmap            the pool over the mmap manager (informational).
//   ltm_read/raw_pread_direct     pread(O_DIRECT) of the same random pages into an aligned buffer:
//                                 the device limit as this process sees it.
//   ltm_read/pool_multiget        pool_pread_direct with io_uring, reading kLtmBatch (32) random
//                                 pages per BufferPool::ReadPages: each batch's misses go to the
//                                 device in one submission, so each thread keeps up to 32 reads
//                                 in flight where a page fault or a pread keeps one (counter
//                                 queue_depth).
// Every manager is advised random before the run (DiskManager::Advise(AccessPattern::kRandom):
// posix_fadvise(POSIX_FADV_RANDOM) for the pread managers, which turns the kernel's read-ahead
// off for pool_pread_buffered, so that a page-cache miss reads one 4 KiB page and not a window
// around it, and is a no-op for O_DIRECT; madvise(MADV_RANDOM) for the mmap managers), as fio's
// jobs are (benchmarks/fio/ltm_*.fio).
//
// Every benchmark runs at PAGESTORE_LTM_THREADS threads (default 2), one timed run per
// repetition (Iterations(1)) in which each thread reads for PAGESTORE_LTM_SECONDS (default 30,
// what scripts/bench.sh uses by default; it sets 8 for --quick, 1 for --smoke; fractions
// allowed); items_per_second is the pages of all threads together per second of real time
// (Google Benchmark counts one iteration per thread, so its Time column shows the run's length
// divided by the thread count). A sampler thread counts the pages read by all threads every
// PAGESTORE_LTM_INTERVAL_MS (default 500) and, if PAGESTORE_LTM_SERIES names a file, the series
// of every run that succeeded is written there at exit (replacing it, atomically by rename):
//   {"interval_s": 0.5, "file_mb": 1024, "pool_mb": 128, "threads": 2, "seconds": 8,
//    "series": [{"name": "ltm_read/mmap", "repetition": 0, "threads": 2,
//                "filled_at_s": 1.35, "filled_by": "cgroup", "pool_filled_at_s": null,
//                "ops_per_s": [...], "disk_read_mib_per_s": [...], "cgroup_mb": [...],
//                "rss_mb": [...]}, ...]}
// filled_at_s: seconds from the run's start until its cache was full, checked every 50 ms (or
// every interval, if shorter): for the variants whose page cache grows (pool_pread_buffered,
// mmap, pool_mmap) the first check at which the memory cgroup's usage was at least 95% of its
// limit ("filled_by": "cgroup"); for pool_pread_direct, whose only cache is the pool, the first
// check after the pool's first eviction ("filled_by": "pool"); null when that never happened
// (or there is no cgroup limit) and for raw_pread_direct, which caches nothing. pool_filled_at_s
// is the pool's time for every pool variant (null for the others).
// A run in which any read fails (SkipWithError) stops: the failing thread raises a flag that the
// other threads check every few reads and that wakes the sampler, so every thread stops within a
// few reads instead of at the deadline; the run is reported as an error without its counters
// and its series is dropped (never written), so that nothing computes a steady state from it.
// Testing the failure path: PAGESTORE_LTM_FAIL_AT_S=T makes the last thread of repetition 0 of
// every benchmark fail (an injected error) T seconds into the run.
//
// Counters of each run: steady_ops_per_s (median of the slices in the second half of the run),
// first_ops_per_s (the first slice), hit_ratio (pools: 1 - their misses per page read; mmap:
// 1 - major faults per read; over the whole run), queue_depth (reads each thread keeps in flight),
// steady_hit_ratio (the second half's share of reads that needed no device read: pool or page
// cache; for every variant), majflt_per_op, disk_reads_per_op (pages the process read from the
// device, from /proc/self/io, read-ahead included), misses_per_s (those pages per second of the
// run, all threads: the device reads per second, one per read that missed every cache now that
// read-ahead is off; the figure to set beside fio's IOPS), cgroup_peak_mb (the memory cgroup's
// usage, sampled), rss_peak_mb (sampled), cached_start_mb / cached_end_mb (the file's pages in the
// page cache, by mincore, before and after the run: the first shows the run started cold, the
// second that the cgroup bounded the cache), pool_mb, file_mb.
//
// The data file: PAGESTORE_LTM_FILE_MB (default 4096) MiB of pagestore pages (superblock, then
// sealed kRaw pages) under PAGESTORE_BENCH_DIR (default /tmp), written once per process with
// O_DIRECT (so writing it neither fills nor is charged to the page cache) and deleted at exit or
// on a signal. PAGESTORE_LTM_KEEP_FILE=PATH writes it at PATH instead and leaves it there at a
// normal exit (scripts/bench_ltm.sh points fio at the same file). Reads verify checksums (the
// managers' default): every pool miss; through mmap, the first View of each page by a manager,
// which trusts the page from then on (its header says why), also after the kernel evicted it and
// read it back in a later fault: the mmap variant verifies each page once per run, the pools on
// every miss (an XXH3 of 4 KiB, well under a microsecond; a device read here is ~100 us).
//
// The pool: PAGESTORE_LTM_POOL_MB, by default half of this process's memory cgroup limit (v1
// memory.limit_in_bytes or v2 memory.max), or 256 MiB when there is no limit. Each run opens a
// fresh, empty pool (or manager) in its Setup hook after evicting the file from the page cache
// (fdatasync, then posix_fadvise(POSIX_FADV_DONTNEED) with nothing of the file mapped), and
// closes it in its Teardown hook. PAGESTORE_BENCH_SEED (default 42) seeds the page ids.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "buffer/buffer_pool.h"
#include "buffer/page_guard.h"
#include "storage/disk_manager.h"
#include "storage/mmap_disk_manager.h"
#include "storage/page.h"

namespace pagestore {

using bench::Check;
using bench::Die;
using bench::EnvUint;
namespace {

constexpr std::size_t kWordOffset = kPageHeaderSize;  // the word every read touches
constexpr int kMaxThreads = 64;
constexpr int kOpsPerClockCheck = 16;  // reads between two looks at the clock (and the flag)
constexpr double kFillCheckS = 0.05;   // how often the sampler looks whether the cache is full
constexpr double kFillShare = 0.95;    // the cgroup's usage over its limit that counts as full
constexpr std::size_t kWriteChunk = std::size_t{1} << 20;
constexpr double kMiB = 1024.0 * 1024.0;

std::string ErrnoText(int err) { return std::system_category().message(err); }

std::uint64_t ReadWord(const std::byte* page) {
  std::uint64_t word;
  std::memcpy(&word, page + kWordOffset, sizeof(word));
  return word;
}

// ---------------------------------------------------------------------------------------------
// The memory cgroup this process runs in (v1 memory controller, or the v2 unified hierarchy).

struct MemoryCgroup {
  std::filesystem::path dir;  // empty if none was found
  bool v2 = false;
};

const MemoryCgroup& OwnCgroup() {
  static const MemoryCgroup cgroup = [] {
    MemoryCgroup c;
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    std::string unified;
    while (std::getline(in, line)) {
      // "id:controllers:path"; the path may itself hold ':'.
      const std::size_t a = line.find(':');
      const std::size_t b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string controllers = line.substr(a + 1, b - a - 1);
      const std::string path = line.substr(b + 1);
      std::stringstream list(controllers);
      std::string one;
      while (std::getline(list, one, ',')) {
        if (one == "memory") {
          c.dir = std::filesystem::path("/sys/fs/cgroup/memory") / path.substr(1);
          if (std::filesystem::exists(c.dir / "memory.usage_in_bytes")) return c;
          c.dir.clear();
        }
      }
      if (controllers.empty()) unified = path;
    }
    if (!unified.empty()) {
      c.dir = std::filesystem::path("/sys/fs/cgroup") / unified.substr(1);
      c.v2 = true;
      if (std::filesystem::exists(c.dir / "memory.current")) return c;
    }
    c.dir.clear();
    return c;
  }();
  return cgroup;
}

// The first number in a file, or nullopt (missing file, "max", anything else).
std::optional<std::uint64_t> ReadNumber(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::uint64_t n;
  if (in >> n) return n;
  return std::nullopt;
}

std::optional<std::uint64_t> CgroupUsage() {
  const MemoryCgroup& c = OwnCgroup();
  if (c.dir.empty()) return std::nullopt;
  return ReadNumber(c.dir / (c.v2 ? "memory.current" : "memory.usage_in_bytes"));
}

// The cgroup's limit, or nullopt when there is none (v1 reports "no limit" as a huge number).
std::optional<std::uint64_t> CgroupLimit() {
  const MemoryCgroup& c = OwnCgroup();
  if (c.dir.empty()) return std::nullopt;
  const std::optional<std::uint64_t> limit =
      ReadNumber(c.dir / (c.v2 ? "memory.max" : "memory.limit_in_bytes"));
  const std::uint64_t ram = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                            static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (!limit || *limit >= ram) return std::nullopt;
  return limit;
}

// Bytes this process caused to be read from storage ("read_bytes" of /proc/self/io: every thread,
// read-ahead and O_DIRECT included).
std::uint64_t DeviceReadBytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value;
  while (in >> key >> value) {
    if (key == "read_bytes:") return value;
  }
  return 0;
}

std::uint64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
  }
  return 0;
}

std::uint64_t MajorFaults() {
  rusage u;
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_majflt);
}

// ---------------------------------------------------------------------------------------------
// Configuration.

struct Config {
  std::uint64_t file_mb;
  std::uint64_t pool_mb;
  bool pool_from_cgroup;
  int threads;
  double seconds;
  double interval_s;
  std::filesystem::path dir;
  std::filesystem::path keep_file;  // PAGESTORE_LTM_KEEP_FILE, or empty
  std::filesystem::path series;     // PAGESTORE_LTM_SERIES, or empty
  std::uint64_t seed;
  double fail_at_s;  // PAGESTORE_LTM_FAIL_AT_S (testing the failure path), or 0
};

std::filesystem::path EnvPath(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::filesystem::path(v) : std::filesystem::path();
}

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    c.file_mb = std::max<std::uint64_t>(1, EnvUint("PAGESTORE_LTM_FILE_MB", 4096));
    const std::optional<std::uint64_t> limit = CgroupLimit();
    c.pool_from_cgroup = std::getenv("PAGESTORE_LTM_POOL_MB") == nullptr && limit.has_value();
    c.pool_mb = std::max<std::uint64_t>(
        1, EnvUint("PAGESTORE_LTM_POOL_MB", limit ? *limit / 2 / (1 << 20) : 256));
    const std::uint64_t threads = EnvUint("PAGESTORE_LTM_THREADS", 2);
    if (threads < 1 || threads > kMaxThreads) {
      Die(fmt::format("PAGESTORE_LTM_THREADS={} is outside [1, {}]", threads, kMaxThreads));
    }
    c.threads = static_cast<int>(threads);
    c.seconds = bench::EnvDouble("PAGESTORE_LTM_SECONDS", 30);
    c.interval_s =
        static_cast<double>(std::max<std::uint64_t>(1, EnvUint("PAGESTORE_LTM_INTERVAL_MS", 500))) /
        1e3;
    c.dir = EnvPath("PAGESTORE_BENCH_DIR");
    if (c.dir.empty()) c.dir = "/tmp";
    c.keep_file = EnvPath("PAGESTORE_LTM_KEEP_FILE");
    c.series = EnvPath("PAGESTORE_LTM_SERIES");
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    c.fail_at_s = bench::EnvDouble("PAGESTORE_LTM_FAIL_AT_S", 0);  // 0 (unset): no failure
    return c;
  }();
  return config;
}

// ---------------------------------------------------------------------------------------------
// The data file. Created on first use (by a Setup hook, before any benchmark thread runs);
// read-only afterwards.

class DataFile {
 public:
  static DataFile& Get() {
    static DataFile* const file = (instance_ = new DataFile());  // deleted by Shutdown()
    return *file;
  }
  static void Shutdown() {
    delete instance_;
    instance_ = nullptr;
  }

  const std::filesystem::path& path() const { return path_; }
  PageId page_count() const { return page_count_; }
  int fd() const { return fd_; }

  // Writes back anything dirty and drops the file's pages from the page cache. REQUIRES: nothing
  // of the file is mapped (mapped pages stay cached) and no manager of it is open.
  void Evict() const {
    if (::fdatasync(fd_) != 0)
      Die(fmt::format("{}: fdatasync: {}", path_.string(), ErrnoText(errno)));
    if (int err = ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED); err != 0) {
      Die(fmt::format("{}: posix_fadvise(DONTNEED): {}", path_.string(), ErrnoText(err)));
    }
  }

  // MiB of the file in the page cache (mincore over a fresh mapping, which faults nothing in).
  double CachedMiB() const {
    const std::size_t bytes = page_count_ * kPageSize;
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return -1;
    const std::size_t sys = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> resident((bytes + sys - 1) / sys);
    double mib = -1;
    if (::mincore(p, bytes, resident.data()) == 0) {
      std::size_t n = 0;
      for (unsigned char r : resident) n += r & 1;
      mib = static_cast<double>(n * sys) / kMiB;
    }
    ::munmap(p, bytes);
    return mib;
  }

 private:
  DataFile() {
    const Config& c = GetConfig();
    keep_ = !c.keep_file.empty();
    path_ = keep_ ? c.keep_file : c.dir / fmt::format("pagestore_ltm_bench_{}.db", ::getpid());
    bench::SetTempPath(bench::kBenchFileSlot, path_);  // removed on a signal even when kept
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    page_count_ = c.file_mb * ((1 << 20) / kPageSize);  // superblock copies included
    if (page_count_ <= kFirstDataPage) Die("PAGESTORE_LTM_FILE_MB is too small");
    const auto start = std::chrono::steady_clock::now();
    Create();
    WritePages();
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) Die(fmt::format("{}: open: {}", path_.string(), ErrnoText(errno)));
    Evict();
    std::fprintf(stderr, "ltm_bench: wrote %llu MiB (%llu pages) to %s in %.1f s\n",
                 static_cast<unsigned long long>(c.file_mb),
                 static_cast<unsigned long long>(page_count_), path_.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  ~DataFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!keep_) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
    bench::ClearTempPath(bench::kBenchFileSlot);
  }

  // The superblock and the page count, through the manager: the file is ours in every respect
  // the managers check at open. The data pages' bytes are written by WritePages.
  void Create() {
    DiskManagerOptions o;
    o.kind = DiskManagerKind::kPread;
    o.mode = OpenMode::kCreate;
    o.pread.growth_size = std::min<std::uint64_t>(256 << 20, page_count_ * kPageSize);
    absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(path_, o);
    Check(dm.status(), "create ltm file");
    while ((*dm)->page_count() < page_count_) Check((*dm)->AllocatePage().status(), "allocate");
    Check((*dm)->Sync(), "sync ltm file");
  }

  // Every data page sealed exactly as WritePage would seal it, written 1 MiB at a time with
  // O_DIRECT (buffered, then synced, where the filesystem refuses O_DIRECT).
  void WritePages() const {
    int fd = ::open(path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0 && errno == EINVAL) fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) Die(fmt::format("{}: open for writing: {}", path_.string(), ErrnoText(errno)));
    std::unique_ptr<std::byte, decltype(&std::free)> chunk(
        static_cast<std::byte*>(std::aligned_alloc(kPageSize, kWriteChunk)), &std::free);
    if (chunk == nullptr) Die("out of memory");
    alignas(kPageSize) std::array<std::byte, kPageSize> canonical;
    bench::FillCanonicalPayload(canonical);
    constexpr PageId kChunkPages = kWriteChunk / kPageSize;
    for (PageId first = kFirstDataPage; first < page_count_; first += kChunkPages) {
      const PageId n = std::min<PageId>(kChunkPages, page_count_ - first);
      for (PageId i = 0; i < n; ++i) {
        PageSpan page(chunk.get() + i * kPageSize, kPageSize);
        std::memcpy(page.data(), canonical.data(), kPageSize);
        SealPage(first + i, page);
      }
      const std::size_t len = n * kPageSize;
      std::size_t done = 0;
      while (done < len) {
        const ssize_t w = ::pwrite(fd, chunk.get() + done, len - done,
                                   static_cast<off_t>(first * kPageSize + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) Die(fmt::format("{}: pwrite: {}", path_.string(), ErrnoText(errno)));
        done += static_cast<std::size_t>(w);
      }
    }
    if (::fdatasync(fd) != 0)
      Die(fmt::format("{}: fdatasync: {}", path_.string(), ErrnoText(errno)));
    ::close(fd);
  }

  static inline DataFile* instance_ = nullptr;

  std::filesystem::path path_;
  bool keep_ = false;
  PageId page_count_ = 0;
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// What is open for the current run. Set by Setup hooks and cleared by Teardown hooks, both on
// the main thread with no benchmark thread alive; read-only while a run is in progress.

enum class Variant {
  kPoolDirect,
  kPoolBuffered,
  kMmap,
  kPoolMmap,
  kRawDirect,
  kPoolMultiget,
  kCount
};

// ltm_read/pool_multiget: pages per BufferPool::ReadPages call (the misses of each batch read
// in one io_uring submission): the queue depth each of its threads keeps.
constexpr std::size_t kLtmBatch = 32;

constexpr std::array<const char*, static_cast<int>(Variant::kCount)> kNames = {
    "ltm_read/pool_pread_direct", "ltm_read/pool_pread_buffered", "ltm_read/mmap",
    "ltm_read/pool_mmap",         "ltm_read/raw_pread_direct",    "ltm_read/pool_multiget"};

// How a variant's "cache is full" time (filled_at_s) is found: by the memory cgroup's usage for
// the variants whose page cache grows, by the pool's first eviction where the pool is the only
// cache, not at all where nothing caches.
enum class FillBy { kCgroup, kPool, kNone };

constexpr FillBy FillByOf(Variant v) {
  switch (v) {
    case Variant::kPoolBuffered:
    case Variant::kMmap:
    case Variant::kPoolMmap:
      return FillBy::kCgroup;
    case Variant::kPoolDirect:
    case Variant::kPoolMultiget:
      return FillBy::kPool;
    default:
      return FillBy::kNone;
  }
}

struct alignas(64) PaddedCount {
  std::atomic<std::uint64_t> value{0};
};

// One timed run (one repetition of one benchmark): its counts and its sampled series.
struct Run {
  Variant variant;
  int repetition = 0;
  int threads = 0;
  std::unique_ptr<BufferPool> pool;
  std::unique_ptr<MmapDiskManager> mmap;
  int direct_fd = -1;
  std::string error;  // why the variant could not be opened (the benchmark skips)

  BufferPoolStats pool_before;
  std::uint64_t read_bytes_before = 0;
  std::uint64_t majflt_before = 0;
  double cached_start_mib = 0;

  std::atomic<std::int64_t> start_ns{0};  // steady clock; 0 until thread 0 starts the run
  std::array<PaddedCount, kMaxThreads> ops;
  std::thread sampler;
  // One entry per slice, filled by the sampler; read after it is joined.
  std::vector<double> ops_per_s, disk_read_mib_per_s, cgroup_mb, rss_mb;
  // Seconds from the start until the cgroup's usage reached kFillShare of its limit, and until
  // the pool's first eviction; set by the sampler, read after it is joined.
  std::optional<double> cgroup_filled_at_s, pool_filled_at_s;

  // Set by the first thread whose read fails; every reader checks it every kOpsPerClockCheck
  // reads, and it wakes the sampler, so that the whole run stops at once.
  std::atomic<bool> failed{false};

  void Fail() {
    failed.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
  }

  // Sleeps until `t`; true (at once) if the run failed meanwhile.
  bool StoppedBefore(std::chrono::steady_clock::time_point t) {
    std::unique_lock<std::mutex> lock(stop_mu_);
    return stop_cv_.wait_until(lock, t, [this] { return stop_; });
  }

  std::uint64_t TotalOps() const {
    std::uint64_t n = 0;
    for (const PaddedCount& c : ops) n += c.value.load(std::memory_order_relaxed);
    return n;
  }

 private:
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
};

struct Series {
  std::string name;
  int repetition;
  int threads;
  std::optional<double> filled_at_s;
  const char* filled_by;  // "cgroup", "pool", or nullptr (JSON null)
  std::optional<double> pool_filled_at_s;
  std::vector<double> ops_per_s, disk_read_mib_per_s, cgroup_mb, rss_mb;
};

std::unique_ptr<Run> g_run;
std::array<int, static_cast<int>(Variant::kCount)> g_repetitions{};
std::vector<Series> g_series;

std::chrono::steady_clock::time_point FromNs(std::int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// Samples the run every interval until the run's end (or until it fails): pages read by all
// threads, device reads, the cgroup's memory usage and the resident set; in between, every
// kFillCheckS (a whole fraction of the interval), whether the cache is full yet.
void SampleRun(Run& run) {
  const Config& c = GetConfig();
  const auto start = FromNs(run.start_ns.load(std::memory_order_acquire));
  const double interval = std::min(c.interval_s, c.seconds);
  const auto slices =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(c.seconds / interval + 1e-9));
  // Ticks of interval / per_slice seconds: a slice ends every per_slice ticks.
  const auto per_slice = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::ceil(interval / kFillCheckS - 1e-9)));
  const double tick = interval / static_cast<double>(per_slice);
  const std::optional<std::uint64_t> limit = CgroupLimit();
  const std::uint64_t evictions_before = run.pool_before.evictions;
  bool watch_cgroup = limit.has_value() && FillByOf(run.variant) == FillBy::kCgroup;
  bool watch_pool = run.pool != nullptr;
  auto prev_time = start;
  std::uint64_t prev_ops = 0;
  std::uint64_t prev_read = run.read_bytes_before;
  for (std::int64_t i = 1; i <= slices * per_slice; ++i) {
    if (!watch_cgroup && !watch_pool && i % per_slice != 0) {
      i = (i / per_slice + 1) * per_slice;  // nothing to watch: on to the slice's end
    }
    const auto at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(tick * static_cast<double>(i)));
    if (run.StoppedBefore(at)) return;  // the run failed: its samples are not a measurement
    const auto now = std::chrono::steady_clock::now();
    const double since_start = std::chrono::duration<double>(now - start).count();
    std::optional<std::uint64_t> usage;
    if (watch_cgroup) {
      usage = CgroupUsage();
      if (usage && static_cast<double>(*usage) >= kFillShare * static_cast<double>(*limit)) {
        run.cgroup_filled_at_s = since_start;
        watch_cgroup = false;
      }
    }
    if (watch_pool && run.pool->stats().evictions > evictions_before) {
      run.pool_filled_at_s = since_start;
      watch_pool = false;
    }
    if (i % per_slice != 0) continue;
    const std::uint64_t ops = run.TotalOps();
    const std::uint64_t read = DeviceReadBytes();
    const double dt = std::chrono::duration<double>(now - prev_time).count();
    run.ops_per_s.push_back(static_cast<double>(ops - prev_ops) / dt);
    run.disk_read_mib_per_s.push_back(static_cast<double>(read - prev_read) / kMiB / dt);
    if (!usage) usage = CgroupUsage();
    if (usage) run.cgroup_mb.push_back(static_cast<double>(*usage) / kMiB);
    run.rss_mb.push_back(static_cast<double>(ResidentBytes()) / kMiB);
    prev_time = now;
    prev_ops = ops;
    prev_read = read;
  }
}

void OpenVariant(Run& run) {
  const Config& c = GetConfig();
  const DataFile& file = DataFile::Get();
  DiskManagerOptions o;
  o.mode = OpenMode::kReadOnly;
  o.verify_checksums = true;  // the default; stated because the comparison depends on it
  switch (run.variant) {
    case Variant::kRawDirect:
      run.direct_fd = ::open(file.path().c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
      if (run.direct_fd < 0) {
        run.error = fmt::format("{}: O_DIRECT refused: {}", file.path().string(), ErrnoText(errno));
      }
      return;
    case Variant::kMmap: {
      o.kind = DiskManagerKind::kMmap;
      absl::StatusOr<std::unique_ptr<MmapDiskManager>> dm = MmapDiskManager::Open(file.path(), o);
      Check(dm.status(), "open mmap manager");
      Check((*dm)->MadviseRandom(), "madvise random");
      run.mmap = std::move(*dm);
      if (run.mmap->page_count() != file.page_count()) Die("the mmap manager sees another size");
      return;
    }
    case Variant::kPoolDirect:
    case Variant::kPoolBuffered:
    case Variant::kPoolMmap:
    case Variant::kPoolMultiget:
      break;
    case Variant::kCount:
      Die("bad variant");
  }
  o.kind = run.variant == Variant::kPoolMmap ? DiskManagerKind::kMmap : DiskManagerKind::kPread;
  o.pread.direct_io = run.variant == Variant::kPoolDirect || run.variant == Variant::kPoolMultiget;
  o.pread.uring_depth = kLtmBatch;
  absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(file.path(), o);
  if (!dm.ok() && o.pread.direct_io) {
    run.error = fmt::format("O_DIRECT manager refused: {}", dm.status().ToString());
    return;
  }
  Check(dm.status(), "open manager");
  if ((*dm)->page_count() != file.page_count()) Die("the manager sees another size");
  // Random, like the mmap variant and fio: no read-ahead through the page cache (pread: the fd's
  // posix_fadvise(POSIX_FADV_RANDOM), a no-op under O_DIRECT; mmap: madvise(MADV_RANDOM)).
  Check((*dm)->Advise(AccessPattern::kRandom), "advise random");
  const std::size_t frames = static_cast<std::size_t>(c.pool_mb * ((1 << 20) / kPageSize));
  absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create(frames, std::move(*dm));
  Check(pool.status(), "create pool");
  run.pool = std::move(*pool);
}

template <Variant kVariant>
void SetUpRun(const benchmark::State& state) {
  const DataFile& file = DataFile::Get();
  g_run.reset();  // a Teardown that did not run (a skipped run) leaves nothing open either
  file.Evict();   // nothing of the file is mapped or open through a manager now
  auto run = std::make_unique<Run>();
  run->variant = kVariant;
  run->repetition = g_repetitions[static_cast<int>(kVariant)]++;
  run->threads = state.threads();
  run->cached_start_mib = file.CachedMiB();
  OpenVariant(*run);
  if (run->pool != nullptr) run->pool_before = run->pool->stats();
  run->read_bytes_before = DeviceReadBytes();
  run->majflt_before = MajorFaults();
  g_run = std::move(run);
}

void TearDownRun(const benchmark::State&) {
  if (g_run == nullptr) return;
  Run& run = *g_run;
  if (run.sampler.joinable()) run.sampler.join();
  const char* name = kNames[static_cast<int>(run.variant)];
  if (run.failed.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "ltm_bench: %s repetition %d failed: its series is dropped\n", name,
                 run.repetition);
  } else if (!run.ops_per_s.empty()) {
    Series series{name,
                  run.repetition,
                  run.threads,
                  std::nullopt,
                  nullptr,
                  run.pool_filled_at_s,
                  std::move(run.ops_per_s),
                  std::move(run.disk_read_mib_per_s),
                  std::move(run.cgroup_mb),
                  std::move(run.rss_mb)};
    switch (FillByOf(run.variant)) {
      case FillBy::kCgroup:
        series.filled_at_s = run.cgroup_filled_at_s;
        series.filled_by = "cgroup";
        break;
      case FillBy::kPool:
        series.filled_at_s = run.pool_filled_at_s;
        series.filled_by = "pool";
        break;
      case FillBy::kNone:
        break;
    }
    g_series.push_back(std::move(series));
  }
  if (run.direct_fd >= 0) ::close(run.direct_fd);
  g_run.reset();  // closes the pool or manager: the next Setup can evict the file
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Thread 0, after the stop barrier (every thread has stopped reading): the run's counters; none
// for a failed run (Google Benchmark reports it as an error).
void ReportRun(benchmark::State& state, Run& run) {
  const Config& c = GetConfig();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                    FromNs(run.start_ns.load(std::memory_order_acquire)))
          .count();
  if (run.sampler.joinable()) run.sampler.join();
  if (run.failed.load(std::memory_order_relaxed)) return;
  const double ops = static_cast<double>(run.TotalOps());
  const std::vector<double>& slices = run.ops_per_s;
  if (!slices.empty()) {
    state.counters["first_ops_per_s"] = slices.front();
    state.counters["steady_ops_per_s"] = Median(std::vector<double>(
        slices.begin() + static_cast<std::ptrdiff_t>(slices.size() / 2), slices.end()));
  }
  // Second half: the share of reads that needed no device read (served by the pool or the page
  // cache), from the sampled rates (the slices are of equal length).
  if (slices.size() >= 2) {
    double reads = 0, device = 0;
    for (std::size_t i = slices.size() / 2; i < slices.size(); ++i) {
      reads += slices[i];
      device += run.disk_read_mib_per_s[i] * kMiB / kPageSize;
    }
    if (reads > 0) state.counters["steady_hit_ratio"] = std::max(0.0, 1.0 - device / reads);
  }
  const double majflt = static_cast<double>(MajorFaults() - run.majflt_before);
  const double device_pages =
      static_cast<double>(DeviceReadBytes() - run.read_bytes_before) / kPageSize;
  if (ops > 0) {
    state.counters["majflt_per_op"] = majflt / ops;
    state.counters["disk_reads_per_op"] = device_pages / ops;
  }
  if (elapsed > 0) state.counters["misses_per_s"] = device_pages / elapsed;
  if (run.pool != nullptr) {
    const BufferPoolStats after = run.pool->stats();
    // The share of page reads that found their page in the pool: misses over the pages read
    // (a batch's loaded page is also a hit when visited, so hits would count it twice).
    const double misses = static_cast<double>(after.misses - run.pool_before.misses);
    if (ops > 0) state.counters["hit_ratio"] = std::max(0.0, 1.0 - misses / ops);
    state.counters["pool_mb"] = static_cast<double>(c.pool_mb);
  } else if (run.mmap != nullptr && ops > 0) {
    state.counters["hit_ratio"] = std::max(0.0, 1.0 - majflt / ops);
  }
  if (!run.cgroup_mb.empty()) {
    state.counters["cgroup_peak_mb"] =
        *std::max_element(run.cgroup_mb.begin(), run.cgroup_mb.end());
  }
  if (!run.rss_mb.empty()) {
    state.counters["rss_peak_mb"] = *std::max_element(run.rss_mb.begin(), run.rss_mb.end());
  }
  state.counters["cached_start_mb"] = run.cached_start_mib;
  state.counters["cached_end_mb"] = DataFile::Get().CachedMiB();
  state.counters["file_mb"] = static_cast<double>(c.file_mb);
}

// A small, fast generator per thread (SplitMix64): uniform page ids without a shared sequence
// that would itself take memory under the limit.
class PageIds {
 public:
  PageIds(std::uint64_t seed, PageId page_count)
      : state_(seed), first_(kFirstDataPage), count_(page_count - kFirstDataPage) {}
  PageId Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return first_ + (z ^ (z >> 31)) % count_;
  }

 private:
  std::uint64_t state_;
  const PageId first_;
  const PageId count_;
};

// One read of page `id` through the run's variant; false (with the error recorded) on failure.
struct alignas(kPageSize) AlignedPage {
  std::byte bytes[kPageSize];
};

template <Variant kVariant>
absl::Status ReadOne(Run& run, PageId id, AlignedPage& buf, std::uint64_t& sink) {
  if constexpr (kVariant == Variant::kMmap) {
    absl::StatusOr<PageView> v = run.mmap->View(id);
    if (!v.ok()) return v.status();
    sink += ReadWord(v->data());
  } else if constexpr (kVariant == Variant::kRawDirect) {
    const ssize_t n =
        ::pread(run.direct_fd, buf.bytes, kPageSize, static_cast<off_t>(id * kPageSize));
    if (n != static_cast<ssize_t>(kPageSize)) {
      return absl::DataLossError(
          fmt::format("pread of page {}: {}", id, n < 0 ? ErrnoText(errno) : std::string("short")));
    }
    sink += ReadWord(buf.bytes);
  } else {
    absl::StatusOr<ReadPageGuard> g = run.pool->ReadPage(id);
    if (!g.ok()) return g.status();
    sink += ReadWord(g->data().data());
  }
  return absl::OkStatus();
}

template <Variant kVariant>
void LtmRead(benchmark::State& state) {
  const Config& c = GetConfig();
  Run& run = *g_run;
  const int t = state.thread_index();
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  PageIds ids(c.seed * 1000003 + static_cast<std::uint64_t>(run.repetition) * 1009 +
                  static_cast<std::uint64_t>(t),
              DataFile::Get().page_count());
  AlignedPage buf;
  std::vector<PageId> batch(kLtmBatch);
  std::uint64_t sink = 0;
  std::uint64_t n = 0;
  for (auto _ : state) {
    // Thread 0 fixes the start for all (they left the start barrier together) and starts the
    // sampler; the others wait for it so that every thread reads for the same interval.
    std::int64_t start_ns;
    if (t == 0) {
      start_ns = std::chrono::steady_clock::now().time_since_epoch().count();
      run.start_ns.store(start_ns, std::memory_order_release);
      run.sampler = std::thread([&run] { SampleRun(run); });
    } else {
      while ((start_ns = run.start_ns.load(std::memory_order_acquire)) == 0) {
        std::this_thread::yield();
      }
    }
    const auto deadline =
        FromNs(start_ns) + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(c.seconds));
    // Testing the failure path (PAGESTORE_LTM_FAIL_AT_S): the last thread of repetition 0 fails.
    const bool inject = c.fail_at_s > 0 && run.repetition == 0 && t == state.threads() - 1;
    const auto fail_at =
        FromNs(start_ns) + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(c.fail_at_s));
    std::atomic<std::uint64_t>& published = run.ops[static_cast<std::size_t>(t)].value;
    auto fail = [&](const absl::Status& s) {
      state.SkipWithError(s.ToString().c_str());
      run.Fail();  // the other threads and the sampler stop too
    };
    auto now = std::chrono::steady_clock::now();
    do {
      if constexpr (kVariant == Variant::kPoolMultiget) {
        // A batch of kLtmBatch pages: its misses read together, then each page visited.
        absl::Status failed;
        for (PageId& id : batch) id = ids.Next();
        run.pool->ReadPages(batch, [&](std::size_t, absl::StatusOr<ReadPageGuard>& page) {
          if (!page.ok()) {
            if (failed.ok()) failed = page.status();
            return;
          }
          sink += ReadWord(page->data().data());
        });
        if (!failed.ok()) [[unlikely]] {
          fail(failed);
        } else {
          n += kLtmBatch;
          published.store(n, std::memory_order_relaxed);
        }
      } else {
        for (int i = 0; i < kOpsPerClockCheck; ++i) {
          if (absl::Status s = ReadOne<kVariant>(run, ids.Next(), buf, sink); !s.ok())
              [[unlikely]] {
            fail(s);
            break;
          }
          published.store(++n, std::memory_order_relaxed);
        }
      }
      now = std::chrono::steady_clock::now();
      if (inject && now >= fail_at && !run.failed.load(std::memory_order_relaxed)) {
        fail(absl::InternalError("injected failure (PAGESTORE_LTM_FAIL_AT_S)"));
      }
    } while (!run.failed.load(std::memory_order_relaxed) && now < deadline);
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.SetBytesProcessed(static_cast<std::int64_t>(n * kPageSize));
  // The reads each thread keeps in flight: a page fault or a pread waits for one.
  state.counters["queue_depth"] = benchmark::Counter(
      kVariant == Variant::kPoolMultiget ? kLtmBatch : 1, benchmark::Counter::kAvgThreads);
  if (t == 0) ReportRun(state, run);
}

// ---------------------------------------------------------------------------------------------
// The series file.

std::string JsonArray(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.1f}", i ? ", " : "", v[i]);
  return s + "]";
}

std::string JsonSeconds(const std::optional<double>& s) {
  return s ? fmt::format("{:.3f}", *s) : std::string("null");
}

void WriteSeries() {
  const Config& c = GetConfig();
  if (c.series.empty()) return;
  std::string out = fmt::format(
      "{{\n  \"interval_s\": {},\n  \"file_mb\": {},\n  \"pool_mb\": {},\n  \"threads\": {},\n"
      "  \"seconds\": {},\n  \"series\": [",
      std::min(c.interval_s, c.seconds), c.file_mb, c.pool_mb, c.threads, c.seconds);
  for (std::size_t i = 0; i < g_series.size(); ++i) {
    const Series& s = g_series[i];
    out += fmt::format(
        "{}\n    {{\"name\": \"{}\", \"repetition\": {}, \"threads\": {},\n"
        "     \"filled_at_s\": {}, \"filled_by\": {}, \"pool_filled_at_s\": {},\n"
        "     \"ops_per_s\": {},\n     \"disk_read_mib_per_s\": {},\n     \"cgroup_mb\": {},\n"
        "     \"rss_mb\": {}}}",
        i ? "," : "", s.name, s.repetition, s.threads, JsonSeconds(s.filled_at_s),
        s.filled_by != nullptr ? fmt::format("\"{}\"", s.filled_by) : std::string("null"),
        JsonSeconds(s.pool_filled_at_s), JsonArray(s.ops_per_s), JsonArray(s.disk_read_mib_per_s),
        JsonArray(s.cgroup_mb), JsonArray(s.rss_mb));
  }
  out += "\n  ]\n}\n";
  const std::filesystem::path tmp = c.series.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  bool ok = f != nullptr && std::fwrite(out.data(), 1, out.size(), f) == out.size();
  if (f != nullptr) ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, c.series, ec);
  if (!ok || ec) {
    std::fprintf(stderr, "ltm_bench: cannot write %s\n", c.series.c_str());
    std::filesystem::remove(tmp, ec);
  }
}

// ---------------------------------------------------------------------------------------------
// Registration.

template <Variant kVariant>
void Add() {
  const Config& c = GetConfig();
  // With the "min" and "max" aggregates scripts/bench_report.py reads beside the median.
  bench::Register(kNames[static_cast<int>(kVariant)], LtmRead<kVariant>, SetUpRun<kVariant>)
      ->Teardown(TearDownRun)
      ->Threads(c.threads)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kSecond);
}

void RegisterAll() {
  Add<Variant::kPoolDirect>();
  Add<Variant::kPoolBuffered>();
  Add<Variant::kMmap>();
  Add<Variant::kPoolMmap>();
  Add<Variant::kRawDirect>();
  Add<Variant::kPoolMultiget>();
}

}  // namespace
}  // namespace pagestore

namespace pagestore::bench {

Program ThisProgram() {
  return {
      .context =
          [] {
            const Config& c = GetConfig();
            Context context;
            context.Add("pagestore_ltm_file_mb", c.file_mb)
                .Add("pagestore_ltm_pool_mb", c.pool_mb)
                .Add("pagestore_ltm_pool_from_cgroup", c.pool_from_cgroup ? "1" : "0")
                .Add("pagestore_ltm_threads", c.threads)
                .Add("pagestore_ltm_seconds", c.seconds)
                .Add("pagestore_ltm_interval_s", c.interval_s);
            if (std::optional<std::uint64_t> limit = CgroupLimit()) {
              context.Add("pagestore_ltm_cgroup_limit_mb", *limit >> 20);
            }
            return context.Add("pagestore_bench_dir", c.dir.string());
          },
      .register_benchmarks = RegisterAll,
      .finish =
          [] {
            g_run.reset();
            WriteSeries();
            DataFile::Shutdown();
            return true;
          },
  };
}

}  // namespace pagestore::bench
