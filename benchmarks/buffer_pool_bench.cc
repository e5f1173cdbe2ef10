// buffer_pool_bench: the buffer pool's benchmarks, each beside its physical-limit baseline in the
// same binary and run, so results read as ratios; scripts/bench_report.py finds them by name and
// compares medians (some against disk_manager_bench's rows of the same run).
//
//   pool_hit/{read_guard,read_optimistic,read_guard_disjoint,write_guard,raw_deref,raw_latch}
//       a resident set that fits the pool, prewarmed: fetch a guard on a random resident page
//       (read_optimistic: no guard, a version validated after the read), touch one 8-byte word,
//       release (at 2 threads, *_disjoint and write_guard split the pages between the
//       threads). The baseline raw_deref touches the same word of the same random pages in a
//       plain std::vector of 4 KiB pages; raw_latch adds what any latched pool pays at least (a
//       per-page latch and pin).
//   pool_miss/{pread,pread_lruk,pread_noverify,pread_direct,mmap,raw_pread,raw_pread_direct}
//       uniform random ReadPage over data 4x the pool (so ~75% misses, each evicting a clean
//       frame; CLOCK, or LRU-K for pread_lruk; pread_noverify skips the checksum as the raw
//       baselines do); the baselines pread the same random pages of the same file into a buffer
//       (through the page cache, or O_DIRECT).
//   pool_zipf/{pread,mmap}   zipf(0.99) over the same data, 80% ReadPage / 20% WritePage (one
//       word written), so evictions write dirty pages back.
//   pool_swap/pause   SwapDiskManager (pread <-> mmap, alternately) under live traffic with 10%
//       of the frames dirty; the benchmark time is the swap itself (manual timing).
//
// Sizes (environment, no rebuild): PAGESTORE_BENCH_POOL_MB (default 32) is the pool of the
// miss, zipf and swap benchmarks; the file holds 4x as many data pages (128 MiB by default). The
// hit benchmarks use a pool twice that size (64 MiB) holding a resident set of POOL_MB (8192
// pages). The file lives under PAGESTORE_BENCH_DIR (default /tmp), is written once per process
// with sealed kRaw pages, fdatasync'd, read once so that it is cached, verified at exit and
// deleted. PAGESTORE_BENCH_SEED seeds the precomputed random page ids; PAGESTORE_BENCH_SWAPS
// (default 64) is the number of swaps per pool_swap/pause repetition; PAGESTORE_BENCH_VERBOSE=1
// logs each pool's opening (and how long its preparation took) to stderr.
//
// Pools: a file has one writer at a time (flock), so at most one pool (with its manager) is open.
// A benchmark's Setup hook opens the pool it needs and prepares it outside the timed region
// (prewarmed full, mmap page tables prefaulted). Google Benchmark calls Setup before every batch
// of iterations it tries, not once per repetition, so a pool stays open while consecutive calls
// want the same one and is closed by the Setup that wants another (and by pool_swap's Teardown,
// whose pool must start fresh for its statistics). Dirty pages are dropped at close, never
// flushed: every page the pool wrote back was sealed, so the file stays valid either way.
//
// First touches: this VM makes the first touch of memory the guest freed earlier a host fault,
// many times a normal one (disk_manager_bench's WarmMemory works around it for load_seq/*). Here
// no timed region touches fresh memory: a pool zeroes its frames when created, the page cache is
// filled when the file is written, and mmap page tables are prefaulted by the Setup hooks.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "buffer/buffer_pool.h"
#include "buffer/page_guard.h"
#include "storage/disk_manager.h"
#include "storage/page.h"

namespace pagestore {

using bench::Check;
using bench::Die;
using bench::EnvUint;
using bench::Fail;
using bench::Register;
using bench::ReportPages;
using bench::Setup;
namespace {

constexpr std::size_t kSequenceLength = std::size_t{1} << 20;  // precomputed ids and choices
constexpr std::uint64_t kDataPerPool = 4;                      // data pages per miss-pool frame
constexpr double kZipfQ = 0.99;
constexpr double kZipfWriteFraction = 0.2;
constexpr double kSwapDirtyFraction = 0.1;
constexpr std::size_t kWordOffset = kPageHeaderSize;  // the word every benchmark touches

static_assert((kSequenceLength & (kSequenceLength - 1)) == 0);

using PageBuffer = std::array<std::byte, kPageSize>;
struct alignas(kPageSize) AlignedPage {
  std::byte bytes[kPageSize];
};

// ---------------------------------------------------------------------------------------------
// Configuration and errors.

struct Config {
  std::uint64_t pool_mb;
  std::size_t pool_frames;     // miss, zipf and swap pools
  std::size_t resident_pages;  // the hit benchmarks' resident set (= pool_frames)
  std::size_t hit_frames;      // the hit pool (= 2 * resident_pages)
  PageId data_pages;           // kDataPerPool * pool_frames
  std::filesystem::path dir;
  std::uint64_t seed;
  std::uint64_t swaps;
  bool verbose;
};

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    c.pool_mb = std::max<std::uint64_t>(1, EnvUint("PAGESTORE_BENCH_POOL_MB", 32));
    c.pool_frames = static_cast<std::size_t>(c.pool_mb * ((1 << 20) / kPageSize));
    c.resident_pages = c.pool_frames;
    c.hit_frames = 2 * c.resident_pages;
    c.data_pages = kDataPerPool * c.pool_frames;
    const char* dir = std::getenv("PAGESTORE_BENCH_DIR");
    c.dir = (dir != nullptr && *dir != '\0') ? dir : "/tmp";
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    c.swaps = std::max<std::uint64_t>(1, EnvUint("PAGESTORE_BENCH_SWAPS", 64));
    c.verbose = EnvUint("PAGESTORE_BENCH_VERBOSE", 0) != 0;
    return c;
  }();
  return config;
}

std::string ErrnoText(int err) { return std::system_category().message(err); }

std::uint64_t ReadWord(const std::byte* page) {
  std::uint64_t word;
  std::memcpy(&word, page + kWordOffset, sizeof(word));
  return word;
}

void WriteWord(std::byte* page, std::uint64_t word) {
  std::memcpy(page + kWordOffset, &word, sizeof(word));
}

// ---------------------------------------------------------------------------------------------
// The prewritten file and the precomputed random sequences. Created once per process, on first
// use (by a Setup hook, before any benchmark thread runs); read-only afterwards except for the
// lazily built O_DIRECT descriptor and zipf sequence, which are also made by Setup hooks.

class BenchFile {
 public:
  static BenchFile& Get() {
    static BenchFile* const file = (instance_ = new BenchFile());  // deleted by Shutdown()
    return *file;
  }
  // Verifies every page (a pool that wrote back a bad page is a bug the run must not hide),
  // closes and deletes the file if it was created. REQUIRES: no pool open. False if a page failed.
  static bool Shutdown() {
    bool ok = true;
    if (instance_ != nullptr) ok = instance_->VerifyAll();
    delete instance_;
    instance_ = nullptr;
    return ok;
  }

  const std::filesystem::path& path() const { return path_; }
  PageId page_count() const { return kFirstDataPage + data_pages_; }  // as the superblock says
  int fd() const { return fd_; }
  // An O_DIRECT descriptor of the file, or the error that opening one gave (e.g. on tmpfs).
  absl::StatusOr<int> direct_fd() {
    if (direct_fd_ < 0 && direct_error_.ok()) {
      direct_fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
      if (direct_fd_ < 0) {
        direct_error_ = absl::FailedPreconditionError(
            fmt::format("{}: O_DIRECT refused: {}", path_.string(), ErrnoText(errno)));
      }
    }
    if (!direct_error_.ok()) return direct_error_;
    return direct_fd_;
  }

  // Uniform over the resident set [kFirstDataPage, kFirstDataPage + resident_pages).
  const PageId* hit_ids() const { return hit_ids_.data(); }
  // Uniform over every data page.
  const PageId* miss_ids() const { return miss_ids_.data(); }
  // Every data page once, shuffled (pool_swap's dirty pages: distinct within a round).
  const std::vector<PageId>& shuffled() const { return shuffled_; }
  // Zipf(0.99) ranks scattered over the data pages, and the 20% write choices.
  const PageId* zipf_ids() const { return zipf_ids_.data(); }
  const std::uint8_t* zipf_writes() const { return zipf_writes_.data(); }
  bool has_zipf() const { return !zipf_ids_.empty(); }
  void MakeZipf();

 private:
  BenchFile() {
    const Config& c = GetConfig();
    path_ = c.dir / fmt::format("pagestore_pool_bench_{}.db", ::getpid());
    bench::SetTempPath(bench::kBenchFileSlot, path_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    data_pages_ = c.data_pages;
    std::fprintf(stderr, "buffer_pool_bench: writing %llu data pages (%llu MiB) to %s\n",
                 static_cast<unsigned long long>(data_pages_),
                 static_cast<unsigned long long>(data_pages_ * kPageSize >> 20), path_.c_str());
    WriteFile();
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) Die(fmt::format("{}: open: {}", path_.string(), ErrnoText(errno)));
    WarmCache();
    MakeSequences(c.seed);
  }

  ~BenchFile() {
    if (fd_ >= 0) ::close(fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    bench::ClearTempPath(bench::kBenchFileSlot);
  }

  void WriteFile() {
    DiskManagerOptions o;
    o.kind = DiskManagerKind::kPread;
    o.mode = OpenMode::kCreate;
    o.pread.growth_size = 64 << 20;
    absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(path_, o);
    Check(dm.status(), "create bench file");
    alignas(kPageSize) PageBuffer page;
    while ((*dm)->page_count() < page_count()) {
      absl::StatusOr<PageId> id = (*dm)->AllocatePage();
      Check(id.status(), "allocate");
      bench::FillCanonicalPayload(page);
      Check((*dm)->WritePage(*id, page), "prewrite");
    }
    Check((*dm)->Sync(), "sync bench file");
  }

  // Reads the file once, so that every benchmark but the O_DIRECT ones reads the page cache.
  void WarmCache() const {
    std::vector<std::byte> chunk(1 << 20);
    const std::uint64_t bytes = page_count() * kPageSize;
    for (std::uint64_t off = 0; off < bytes; off += chunk.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), bytes - off));
      if (::pread(fd_, chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
        Die(fmt::format("{}: warm-up read failed", path_.string()));
      }
    }
  }

  bool VerifyAll() const {
    DiskManagerOptions o;
    o.kind = DiskManagerKind::kPread;
    o.mode = OpenMode::kReadOnly;
    absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(path_, o);
    absl::Status s = dm.status();
    alignas(kPageSize) PageBuffer page;
    for (PageId id = kFirstDataPage; s.ok() && id < page_count(); ++id) {
      s = (*dm)->ReadPage(id, page);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "buffer_pool_bench: the bench file is damaged after the run: %s\n",
                   s.ToString().c_str());
    }
    return s.ok();
  }

  void MakeSequences(std::uint64_t seed) {
    const Config& c = GetConfig();
    std::seed_seq seq{seed};
    absl::BitGen gen(seq);
    hit_ids_.resize(kSequenceLength);
    for (PageId& id : hit_ids_) {
      id = absl::Uniform<PageId>(gen, kFirstDataPage, kFirstDataPage + c.resident_pages);
    }
    miss_ids_.resize(kSequenceLength);
    for (PageId& id : miss_ids_) id = absl::Uniform<PageId>(gen, kFirstDataPage, page_count());
    shuffled_.resize(data_pages_);
    for (PageId i = 0; i < data_pages_; ++i) shuffled_[i] = kFirstDataPage + i;
    std::shuffle(shuffled_.begin(), shuffled_.end(), gen);
    zipf_seed_ = absl::Uniform<std::uint64_t>(gen);
  }

  static inline BenchFile* instance_ = nullptr;

  std::filesystem::path path_;
  PageId data_pages_ = 0;
  int fd_ = -1;
  int direct_fd_ = -1;
  absl::Status direct_error_;
  std::vector<PageId> hit_ids_;
  std::vector<PageId> miss_ids_;
  std::vector<PageId> shuffled_;
  std::uint64_t zipf_seed_ = 0;
  std::vector<PageId> zipf_ids_;
  std::vector<std::uint8_t> zipf_writes_;
};

// absl::Zipf(k, q, v) draws x in [0, k] with P(x) ∝ (v + x)^-q. Its header lists q > 1 as a
// precondition (asserted in builds without NDEBUG), but the Hörmann-Derflinger
// rejection-inversion it implements is exact for any q > 0 on a bounded range: at q = 0.99 over
// 32768 ranks, 2e7 draws match the exact probabilities (rank 0: 0.08672 drawn vs 0.08670; the
// 8192 most likely ranks: 0.8676 vs 0.8676). Builds with assertions skip the zipf benchmarks.
void BenchFile::MakeZipf() {
#ifndef NDEBUG
  return;  // absl's assert(q > 1) would abort; has_zipf() stays false and the benchmarks skip
#endif
  if (has_zipf()) return;
  std::seed_seq seq{zipf_seed_};
  absl::BitGen gen(seq);
  zipf_ids_.resize(kSequenceLength);
  for (PageId& id : zipf_ids_) {
    // Rank r is page shuffled_[r]: the hot pages are scattered, not adjacent.
    id = shuffled_[absl::Zipf<PageId>(gen, data_pages_ - 1, kZipfQ, 1.0)];
  }
  zipf_writes_.resize(kSequenceLength);
  for (std::uint8_t& w : zipf_writes_) w = absl::Bernoulli(gen, kZipfWriteFraction) ? 1 : 0;
}

// Walks a precomputed sequence; each thread starts at its own offset so that threads do not move
// in lockstep over the same pages. Google Benchmark runs a benchmark several times with growing
// iteration counts against the same open pool; each run continues where the previous one stopped
// (thread 0 advances a shared base when its run ends), so that a run never replays the ids the
// previous one just loaded, which would turn pool_miss/*'s misses into hits.
class Cursor {
 public:
  explicit Cursor(const benchmark::State& state)
      : lead_(state.thread_index() == 0),
        start_(base_.load(std::memory_order_relaxed) +
               kSequenceLength / static_cast<std::size_t>(state.threads()) *
                   static_cast<std::size_t>(state.thread_index())),
        pos_(start_) {}
  // Every thread made its cursor before any began iterating (the run's start barrier), and
  // thread 0 ends after all of them stopped iterating (the stop barrier).
  ~Cursor() {
    if (lead_) base_.fetch_add(pos_ - start_, std::memory_order_relaxed);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  std::size_t Next() { return pos_++ & (kSequenceLength - 1); }

 private:
  static inline std::atomic<std::size_t> base_{0};
  const bool lead_;
  const std::size_t start_;
  std::size_t pos_;
};

// ---------------------------------------------------------------------------------------------
// The open pool. Set by Setup hooks, which run on the main thread with no benchmark thread
// alive; read-only while a benchmark runs.

enum class PoolKind {
  kHit,
  kMissPread,
  kMissPreadLruK,
  kMissPreadNoVerify,
  kMissDirect,
  kMissMmap,
  kZipfPread,
  kZipfMmap,
  kSwap,
};

std::optional<PoolKind> g_pool_kind;
std::unique_ptr<BufferPool> g_pool;
std::string g_pool_error;  // why g_pool_kind's pool could not be opened (the benchmark skips)

void ClosePool() {
  g_pool.reset();  // drops dirty frames (see the top); the manager releases the file lock
  g_pool_kind.reset();
  g_pool_error.clear();
}

DiskManagerOptions ManagerOptions(DiskManagerKind kind, bool direct) {
  DiskManagerOptions o;
  o.kind = kind;
  o.mode = OpenMode::kOpenExisting;
  o.pread.direct_io = direct;
  return o;
}

// Reads every data page through a fresh mmap manager (mapping it: page tables populated), and
// for pools that write, writes it back unchanged (mapped writable), so that no timed operation
// measures a first-touch fault.
void PrefaultMmap(DiskManager& dm, bool write) {
  alignas(kPageSize) PageBuffer page;
  for (PageId id = kFirstDataPage; id < dm.page_count(); ++id) {
    Check(dm.ReadPage(id, page), "prefault read");
    if (write) Check(dm.WritePage(id, page), "prefault write");
  }
}

void OpenPool(PoolKind kind) {
  if (g_pool_kind == kind) return;
  ClosePool();  // one writer at a time: the old manager's lock goes first
  const Config& c = GetConfig();
  BenchFile& file = BenchFile::Get();
  const auto start = std::chrono::steady_clock::now();
  const bool mmap = kind == PoolKind::kMissMmap || kind == PoolKind::kZipfMmap;
  const bool direct = kind == PoolKind::kMissDirect;
  DiskManagerOptions manager =
      ManagerOptions(mmap ? DiskManagerKind::kMmap : DiskManagerKind::kPread, direct);
  manager.verify_checksums = kind != PoolKind::kMissPreadNoVerify;
  absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(file.path(), manager);
  if (!dm.ok() && direct) {
    g_pool_kind = kind;  // no pool: the benchmark reports why
    g_pool_error = fmt::format("O_DIRECT manager refused: {}", dm.status().ToString());
    return;
  }
  Check(dm.status(), "open manager");
  if ((*dm)->page_count() != file.page_count()) {
    Die(fmt::format("{}: manager sees {} pages, expected {}", file.path().string(),
                    (*dm)->page_count(), file.page_count()));
  }
  if (mmap) PrefaultMmap(**dm, /*write=*/kind == PoolKind::kZipfMmap);
  const std::size_t frames = kind == PoolKind::kHit ? c.hit_frames : c.pool_frames;
  BufferPoolOptions options;  // LRU-K (K = 2), the default, except where the name says clock
  if (kind == PoolKind::kMissPreadLruK) options.replacer.policy = ReplacerOptions::Policy::kLruK;
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create(frames, std::move(*dm), options);
  Check(pool.status(), "create pool");
  // Prewarm: the hit pool holds its whole resident set (twice read, so LRU-K has full
  // histories); the others are filled, so that every timed miss evicts as in steady state.
  const PageId first = kFirstDataPage;
  const PageId last = kFirstDataPage + (kind == PoolKind::kHit ? c.resident_pages : frames);
  for (int pass = 0; pass < (kind == PoolKind::kHit ? 2 : 1); ++pass) {
    for (PageId id = first; id < last; ++id) {
      absl::StatusOr<ReadPageGuard> g = (*pool)->ReadPage(id);
      Check(g.status(), "prewarm");
    }
  }
  g_pool = std::move(*pool);
  g_pool_kind = kind;
  if (c.verbose) {
    std::fprintf(stderr, "buffer_pool_bench: opened pool %d (%zu frames, %s) in %.0f ms\n",
                 static_cast<int>(kind), frames, g_pool->disk_manager_name().c_str(),
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
}

// O_DIRECT reads of a range with dirty cached pages first write those back: flush what other
// benchmarks left dirty, so that the direct benchmarks measure device reads only.
void FlushDirtyPageCache() {
  if (::fdatasync(BenchFile::Get().fd()) != 0) Die(fmt::format("fdatasync: {}", ErrnoText(errno)));
}

template <PoolKind kKind>
void SetUpPool(const benchmark::State&) {
  if (kKind == PoolKind::kZipfPread || kKind == PoolKind::kZipfMmap) BenchFile::Get().MakeZipf();
  if (kKind == PoolKind::kMissDirect && g_pool_kind != kKind) {
    ClosePool();  // its dirty frames are dropped, not written: nothing new becomes dirty
    FlushDirtyPageCache();
  }
  OpenPool(kKind);
}

// pool_swap's pool must start fresh each repetition (BufferPoolStats are per pool).
void TearDownPool(const benchmark::State&) { ClosePool(); }

// The raw_deref baseline's pages: a plain vector the size of the resident set, every page
// holding the same bytes as the file's. Made once, by the Setup hook.
std::vector<AlignedPage>& RawPages() {
  static std::vector<AlignedPage>* const pages = [] {
    const std::size_t n = GetConfig().resident_pages;
    auto* v = new std::vector<AlignedPage>(n);
    for (AlignedPage& p : *v) bench::FillCanonicalPayload(PageSpan(p.bytes, kPageSize));
    return v;
  }();
  return *pages;
}

// The raw_latch baseline's per-page state, kept apart from the bytes as the pool keeps its
// frames: a reader-writer latch and a pin count, the least a latched pool's hit must touch.
struct RawLatch {
  std::shared_mutex latch;
  std::atomic<std::int32_t> pins{0};
};

std::vector<RawLatch>& RawLatches() {
  static std::vector<RawLatch>* const latches =
      new std::vector<RawLatch>(GetConfig().resident_pages);
  return *latches;
}

void SetUpRaw(const benchmark::State&) {
  BenchFile::Get();
  RawPages();
  RawLatches();
}

void SetUpRawDirect(const benchmark::State&) { FlushDirtyPageCache(); }

// Pool counters over one benchmark run (thread 0 reports them; 1-thread benchmarks only).
struct StatsDelta {
  explicit StatsDelta(const BufferPool& pool) : pool_(pool), before_(pool.stats()) {}
  void Report(benchmark::State& state) const {
    const BufferPoolStats after = pool_.stats();
    const double hits = static_cast<double>(after.hits - before_.hits);
    const double misses = static_cast<double>(after.misses - before_.misses);
    const double ops = static_cast<double>(state.iterations());
    if (hits + misses > 0) state.counters["hit_ratio"] = hits / (hits + misses);
    if (ops > 0) {
      state.counters["evictions_per_op"] =
          static_cast<double>(after.evictions - before_.evictions) / ops;
      state.counters["writebacks_per_op"] =
          static_cast<double>(after.dirty_writebacks - before_.dirty_writebacks) / ops;
    }
  }

 private:
  const BufferPool& pool_;
  const BufferPoolStats before_;
};

// ---------------------------------------------------------------------------------------------
// pool_hit/*: one 8-byte word per page, so items only (page bytes do not apply).

// Thread t of T fetches only resident pages with id % T == t: ids are mapped by replacing
// their low bits with t. The resident set starts at an even id and has an even size, so a mapped
// id stays inside it. T must be a power of two (1 or 2 here). Unsplit, the mapping is identity.
class PageSplit {
 public:
  PageSplit(const benchmark::State& state, bool split)
      : threads_(split ? static_cast<PageId>(state.threads()) : 1),
        mask_(threads_ - 1),
        mine_(split ? static_cast<PageId>(state.thread_index()) : 0) {}
  bool valid() const { return (threads_ & (threads_ - 1)) == 0; }
  PageId operator()(PageId id) const { return (id & ~mask_) | mine_; }

 private:
  const PageId threads_;
  const PageId mask_;
  const PageId mine_;
};

// pool_hit/read_guard, and pool_hit/read_guard_disjoint (kSplit): the same hit path without two
// cores ever touching one page's latch, pin or replacer history (they still share the shard
// locks). Beside read_guard at 2 threads, it tells what those lines moving between cores cost.
template <bool kSplit>
void PoolHitRead(benchmark::State& state) {
  const PageSplit split(state, kSplit);
  if (!split.valid()) {
    state.SkipWithError("a split page set needs a power-of-two thread count");
    return;
  }
  BufferPool* pool = g_pool.get();
  const PageId* ids = BenchFile::Get().hit_ids();
  Cursor cursor(state);
  for (auto _ : state) {
    absl::StatusOr<ReadPageGuard> g = pool->ReadPage(split(ids[cursor.Next()]));
    if (!g.ok()) [[unlikely]] {
      Fail(state, g.status());
      break;
    }
    benchmark::DoNotOptimize(ReadWord(g->data().data()));
  }
  state.SetItemsProcessed(state.iterations());
}

// pool_hit/read_optimistic: the optimistic mode (no latch taken, nothing shared written): look
// the page up, read the word, validate; restart if a writer came in (none does here).
void PoolHitOptimistic(benchmark::State& state) {
  BufferPool* pool = g_pool.get();
  const PageId* ids = BenchFile::Get().hit_ids();
  Cursor cursor(state);
  for (auto _ : state) {
    const PageId id = ids[cursor.Next()];
    for (;;) {
      OptimisticReadScope scope;
      OptimisticPageGuard g;
      if (!pool->TryReadOptimistic(id, &g)) [[unlikely]] {
        absl::StatusOr<OptimisticPageGuard> slow = pool->ReadOptimistic(id);
        if (!slow.ok()) {
          Fail(state, slow.status());
          return;
        }
        g = *slow;
      }
      const std::uint64_t word = ReadWord(g.data().data());
      if (g.Validate()) [[likely]] {
        benchmark::DoNotOptimize(word);
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Two writers of one page serialize on its exclusive latch, which would measure the latch
// handoff instead of the hit path: at 2 threads each writes only its own half of the pages.
void PoolHitWriteGuard(benchmark::State& state) {
  const PageSplit split(state, /*split=*/true);
  if (!split.valid()) {
    state.SkipWithError("pool_hit/write_guard needs a power-of-two thread count");
    return;
  }
  BufferPool* pool = g_pool.get();
  const PageId* ids = BenchFile::Get().hit_ids();
  Cursor cursor(state);
  std::uint64_t n = 0;
  for (auto _ : state) {
    absl::StatusOr<WritePageGuard> g = pool->WritePage(split(ids[cursor.Next()]));
    if (!g.ok()) [[unlikely]] {
      Fail(state, g.status());
      break;
    }
    WriteWord(g->mutable_data().data(), ++n);
  }
  state.SetItemsProcessed(state.iterations());
}

void PoolHitRawDeref(benchmark::State& state) {
  AlignedPage* pages = RawPages().data();
  const PageId* ids = BenchFile::Get().hit_ids();
  Cursor cursor(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ReadWord(pages[ids[cursor.Next()] - kFirstDataPage].bytes));
  }
  state.SetItemsProcessed(state.iterations());
}

// The same random pages, each read under its shared latch with a pin around it: no page table,
// no replacer, no statistics. What any latched pool pays at least (4 atomic read-modify-writes
// on per-page lines that migrate between cores).
void PoolHitRawLatch(benchmark::State& state) {
  AlignedPage* pages = RawPages().data();
  RawLatch* latches = RawLatches().data();
  const PageId* ids = BenchFile::Get().hit_ids();
  Cursor cursor(state);
  for (auto _ : state) {
    const std::size_t i = ids[cursor.Next()] - kFirstDataPage;
    latches[i].pins.fetch_add(1, std::memory_order_acquire);
    latches[i].latch.lock_shared();
    benchmark::DoNotOptimize(ReadWord(pages[i].bytes));
    latches[i].latch.unlock_shared();
    latches[i].pins.fetch_sub(1, std::memory_order_release);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// pool_miss/*

void PoolMissRead(benchmark::State& state) {
  if (g_pool == nullptr) {
    state.SkipWithError(g_pool_error.c_str());
    return;
  }
  BufferPool* pool = g_pool.get();
  const PageId* ids = BenchFile::Get().miss_ids();
  std::optional<StatsDelta> delta;
  if (state.thread_index() == 0) delta.emplace(*pool);
  Cursor cursor(state);
  for (auto _ : state) {
    absl::StatusOr<ReadPageGuard> g = pool->ReadPage(ids[cursor.Next()]);
    if (!g.ok()) [[unlikely]] {
      Fail(state, g.status());
      break;
    }
    benchmark::DoNotOptimize(ReadWord(g->data().data()));
  }
  if (delta && state.threads() == 1) delta->Report(state);
  ReportPages(state);
}

void RawPreadLoop(benchmark::State& state, int fd) {
  const PageId* ids = BenchFile::Get().miss_ids();
  alignas(kPageSize) PageBuffer buf;
  Cursor cursor(state);
  for (auto _ : state) {
    const off_t off = static_cast<off_t>(ids[cursor.Next()] * kPageSize);
    if (::pread(fd, buf.data(), kPageSize, off) != static_cast<ssize_t>(kPageSize)) {
      state.SkipWithError(fmt::format("pread failed: {}", ErrnoText(errno)).c_str());
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

void PoolMissRawPread(benchmark::State& state) { RawPreadLoop(state, BenchFile::Get().fd()); }

void PoolMissRawPreadDirect(benchmark::State& state) {
  absl::StatusOr<int> fd = BenchFile::Get().direct_fd();
  if (!fd.ok()) {
    Fail(state, fd.status());
    return;
  }
  RawPreadLoop(state, *fd);
}

// ---------------------------------------------------------------------------------------------
// pool_zipf/*

void PoolZipf(benchmark::State& state) {
  BufferPool* pool = g_pool.get();
  const BenchFile& file = BenchFile::Get();
  if (!file.has_zipf()) {
    state.SkipWithError("absl::Zipf asserts q > 1 in builds with assertions; build with NDEBUG");
    return;
  }
  const PageId* ids = file.zipf_ids();
  const std::uint8_t* writes = file.zipf_writes();
  StatsDelta delta(*pool);
  Cursor cursor(state);
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::size_t i = cursor.Next();
    if (writes[i]) {
      absl::StatusOr<WritePageGuard> g = pool->WritePage(ids[i]);
      if (!g.ok()) [[unlikely]] {
        Fail(state, g.status());
        break;
      }
      WriteWord(g->mutable_data().data(), ++n);
    } else {
      absl::StatusOr<ReadPageGuard> g = pool->ReadPage(ids[i]);
      if (!g.ok()) [[unlikely]] {
        Fail(state, g.status());
        break;
      }
      benchmark::DoNotOptimize(ReadWord(g->data().data()));
    }
  }
  delta.Report(state);
  ReportPages(state);
}

// ---------------------------------------------------------------------------------------------
// pool_swap/pause: one background thread reads random pages (hits and misses, evicting dirty
// frames) the whole time; before each swap, 10% of the frames are dirtied (WritePage of distinct
// pages, one word each; untimed); the swap alone is timed. Items are swaps.

class Traffic {
 public:
  explicit Traffic(BufferPool* pool) : pool_(pool), thread_([this] { Run(); }) {}
  ~Traffic() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  std::uint64_t reads() const { return reads_; }                   // after Stop()
  std::chrono::nanoseconds max_read() const { return max_read_; }  // after Stop()
  const absl::Status& error() const { return error_; }             // after Stop()

 private:
  void Run() {
    // The second half of the sequence: the benchmark thread's dirty pages come from another one.
    const PageId* ids = BenchFile::Get().miss_ids();
    std::size_t pos = kSequenceLength / 2;
    while (!stop_.load(std::memory_order_relaxed)) {
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<ReadPageGuard> g = pool_->ReadPage(ids[pos++ & (kSequenceLength - 1)]);
      if (!g.ok()) {
        error_ = g.status();
        return;
      }
      benchmark::DoNotOptimize(ReadWord(g->data().data()));
      g->Release();
      max_read_ =
          std::max<std::chrono::nanoseconds>(max_read_, std::chrono::steady_clock::now() - start);
      ++reads_;
    }
  }

  BufferPool* const pool_;
  std::atomic<bool> stop_{false};
  std::uint64_t reads_ = 0;
  std::chrono::nanoseconds max_read_{0};
  absl::Status error_;
  std::thread thread_;  // last: starts after the fields above exist
};

void PoolSwapPause(benchmark::State& state) {
  BufferPool* pool = g_pool.get();
  const BenchFile& file = BenchFile::Get();
  const std::vector<PageId>& dirty_ids = file.shuffled();
  const std::size_t dirty_count =
      std::max<std::size_t>(1, static_cast<std::size_t>(pool->frame_count() * kSwapDirtyFraction));
  const DiskManagerOptions to_pread = ManagerOptions(DiskManagerKind::kPread, false);
  const DiskManagerOptions to_mmap = ManagerOptions(DiskManagerKind::kMmap, false);
  const BufferPoolStats before = pool->stats();
  std::size_t dirty_pos = 0;
  std::uint64_t n = 0;
  const auto run_start = std::chrono::steady_clock::now();
  Traffic traffic(pool);
  for (auto _ : state) {
    for (std::size_t i = 0; i < dirty_count; ++i) {
      absl::StatusOr<WritePageGuard> g = pool->WritePage(dirty_ids[dirty_pos++ % dirty_ids.size()]);
      if (!g.ok()) {
        Fail(state, g.status());
        break;
      }
      WriteWord(g->mutable_data().data(), ++n);
    }
    if (state.error_occurred()) break;
    const bool mmap_now = pool->disk_manager_name() == "mmap";
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = pool->SwapDiskManager(mmap_now ? to_pread : to_mmap);
    const auto stop = std::chrono::steady_clock::now();
    if (!s.ok()) {
      Fail(state, s);
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
  }
  traffic.Stop();
  const double run_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (!traffic.error().ok() && !state.error_occurred()) {
    Fail(state, absl::Status(traffic.error().code(),
                             fmt::format("background reader failed during swaps: {}",
                                         traffic.error().ToString())));
  }
  const BufferPoolStats after = pool->stats();
  state.counters["swaps"] = static_cast<double>(after.swaps - before.swaps);
  state.counters["max_swap_pause_us"] = static_cast<double>(after.max_swap_pause.count()) / 1e3;
  state.counters["dirty_per_swap"] = static_cast<double>(dirty_count);
  state.counters["bg_reads_per_s"] = static_cast<double>(traffic.reads()) / run_seconds;
  state.counters["bg_max_read_us"] = static_cast<double>(traffic.max_read().count()) / 1e3;
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// Registration.

void RegisterAll() {
  const Config& c = GetConfig();
  // Real time throughout: throughput compares across thread counts, and I/O waits count.
  auto hit = [](const char* name, void (*fn)(benchmark::State&), Setup setup) {
    Register(name, fn, setup)->Threads(1)->Threads(2)->UseRealTime();
  };
  auto one = [](const char* name, void (*fn)(benchmark::State&), Setup setup) {
    Register(name, fn, setup)->UseRealTime();
  };
  hit("pool_hit/read_guard", PoolHitRead<false>, SetUpPool<PoolKind::kHit>);
  hit("pool_hit/read_optimistic", PoolHitOptimistic, SetUpPool<PoolKind::kHit>);
  hit("pool_hit/read_guard_disjoint", PoolHitRead<true>, SetUpPool<PoolKind::kHit>);
  hit("pool_hit/write_guard", PoolHitWriteGuard, SetUpPool<PoolKind::kHit>);
  hit("pool_hit/raw_deref", PoolHitRawDeref, SetUpRaw);
  hit("pool_hit/raw_latch", PoolHitRawLatch, SetUpRaw);

  one("pool_miss/raw_pread", PoolMissRawPread, SetUpRaw);
  one("pool_miss/pread", PoolMissRead, SetUpPool<PoolKind::kMissPread>);
  one("pool_miss/pread_lruk", PoolMissRead, SetUpPool<PoolKind::kMissPreadLruK>);
  one("pool_miss/pread_noverify", PoolMissRead, SetUpPool<PoolKind::kMissPreadNoVerify>);
  one("pool_miss/mmap", PoolMissRead, SetUpPool<PoolKind::kMissMmap>);
  one("pool_miss/raw_pread_direct", PoolMissRawPreadDirect, SetUpRawDirect);
  one("pool_miss/pread_direct", PoolMissRead, SetUpPool<PoolKind::kMissDirect>);

  one("pool_zipf/pread", PoolZipf, SetUpPool<PoolKind::kZipfPread>);
  one("pool_zipf/mmap", PoolZipf, SetUpPool<PoolKind::kZipfMmap>);

  Register("pool_swap/pause", PoolSwapPause, SetUpPool<PoolKind::kSwap>)
      ->Teardown(TearDownPool)
      ->Iterations(static_cast<benchmark::IterationCount>(c.swaps))
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace pagestore

namespace pagestore::bench {

Program ThisProgram() {
  return {
      .context =
          [] {
            const Config& c = GetConfig();
            return Context()
                .Add("pagestore_bench_pool_mb", c.pool_mb)
                .Add("pagestore_bench_pool_data_mb", c.data_pages * kPageSize >> 20)
                .Add("pagestore_bench_hit_pool_mb", c.hit_frames * kPageSize >> 20)
                .Add("pagestore_bench_swaps", c.swaps)
                .Add("pagestore_bench_dir", c.dir.string())
                .Add("pagestore_bench_seed", c.seed);
          },
      .register_benchmarks = RegisterAll,
      .finish =
          [] {
            ClosePool();
            return BenchFile::Shutdown();
          },
  };
}

}  // namespace pagestore::bench
