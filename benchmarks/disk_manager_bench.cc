// disk_manager_bench: the storage layer's benchmarks. Every PreadDiskManager / MmapDiskManager
// benchmark runs beside its physical-limit baseline (a raw pread, pwrite, fdatasync, memcpy from
// a raw mapping or a raw pointer touch on the same file), so results read as ratios;
// scripts/bench_report.py finds the benchmarks by name and compares medians.
//
// The file: one pagestore file per process, PAGESTORE_BENCH_FILE_MB (default 1024) MiB under
// PAGESTORE_BENCH_DIR (default /tmp), created on first use with PreadDiskManager, every page a
// sealed kRaw page, fdatasync'd and read once so that it is cached. Every page holds the same
// payload, so a page's whole image is fixed by its id: the raw write baselines write valid pages
// (header patched from a precomputed checksum table) and the file stays verifiable throughout.
// Deleted at exit.
//
// Managers: at most one pagestore manager is open at a time (a file has one writer: flock). A
// benchmark's Setup hook opens the kind it needs (keeping it open while consecutive benchmarks
// use the same kind) and prepares it outside the timed region: page tables prefaulted and every
// page viewed once for mmap reads, every page written once for mmap writes (so no write measures
// first-touch faults), dirty data flushed before sync benchmarks.
//
// Other knobs (environment): PAGESTORE_BENCH_LOAD_MB (pages loaded by load_seq/*, default
// max(512, file size)), PAGESTORE_BENCH_SYNC_MIN_TIME (seconds per sync_1dirty run, default 0.5),
// PAGESTORE_BENCH_SEED (random page ids, default 42).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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
#include <string>
#include <system_error>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "storage/disk_manager.h"
#include "storage/mmap_disk_manager.h"
#include "storage/page.h"
#include "storage/pread_disk_manager.h"

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
constexpr double kWriteFraction = 0.3;                         // mixed70: 70% reads
constexpr std::size_t kWordOffset = kPageHeaderSize;  // the word *_touch and mmap_view read
constexpr std::size_t kReadBatch = 32;  // pages per read_batch/* batch (and io_uring depth)

using PageBuffer = std::array<std::byte, kPageSize>;

// ---------------------------------------------------------------------------------------------
// Configuration and errors.

struct Config {
  std::uint64_t file_mb;
  std::filesystem::path dir;
  std::uint64_t load_mb;
  double sync_min_time;
  std::uint64_t seed;
};

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    c.file_mb = EnvUint("PAGESTORE_BENCH_FILE_MB", 1024);
    if (c.file_mb < 1) c.file_mb = 1;
    const char* dir = std::getenv("PAGESTORE_BENCH_DIR");
    c.dir = (dir != nullptr && *dir != '\0') ? dir : "/tmp";
    c.load_mb = EnvUint("PAGESTORE_BENCH_LOAD_MB", std::max<std::uint64_t>(512, c.file_mb));
    if (c.load_mb < 1) c.load_mb = 1;
    c.sync_min_time = bench::EnvDouble("PAGESTORE_BENCH_SYNC_MIN_TIME", 0.5);
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    return c;
  }();
  return config;
}

// Every page of the bench file is this image sealed for its id: a kRaw page, LSN 0, a fixed
// payload. Only the id and checksum differ between pages, so BenchFile::PatchHeader turns this
// image (sealed here for kFirstDataPage, which also stamps the format version) into any page's
// exact bytes, and WritePage reseals it for any id.
void FillCanonicalPage(PageSpan page) {
  bench::FillCanonicalPayload(page);
  SealPage(kFirstDataPage, page);
}

// ---------------------------------------------------------------------------------------------
// The prewritten file and what the raw baselines use on it. Created once per process, on first
// use; read-only after construction (safe for concurrent use).

class BenchFile {
 public:
  // The file, created on the first call (by a Setup hook, before any benchmark thread runs).
  static BenchFile& Get() {
    static BenchFile* const file = (instance_ = new BenchFile());  // deleted by Shutdown()
    return *file;
  }
  // The file if it was created, else null.
  static BenchFile* IfCreated() { return instance_; }
  // Unmaps, closes and deletes the file if it was created. REQUIRES: no manager open on it.
  // First reads every page back with verification: a baseline that wrote a page other than
  // exactly as the managers would have is a bug in this benchmark, and would make the verified
  // read benchmarks that follow it fail or measure something else. Returns false if one did.
  static bool Shutdown() {
    bool ok = true;
    if (instance_ != nullptr) ok = instance_->VerifyAll();
    delete instance_;
    instance_ = nullptr;
    return ok;
  }

  const std::filesystem::path& path() const { return path_; }
  PageId page_count() const { return page_count_; }
  int fd() const { return fd_; }
  std::byte* map() const { return map_; }
  std::byte* page_address(PageId id) const { return map_ + id * kPageSize; }
  const std::vector<PageId>& random_ids() const { return random_ids_; }
  const std::vector<std::uint8_t>& write_choices() const { return write_choices_; }

  // Turns a canonical page image into page `id`'s exact bytes: checksum and id from the table.
  void PatchHeader(PageId id, PageBuffer& page) const {
    std::memcpy(page.data() + offsetof(PageHeader, checksum), &checksums_[id],
                sizeof(std::uint64_t));
    std::memcpy(page.data() + offsetof(PageHeader, page_id), &id, sizeof(id));
  }

  // Touches one word of every data page through the raw mapping (page tables populated).
  void TouchAll(bool write) const {
    std::uint64_t sum = 0;
    for (PageId id = kFirstDataPage; id < page_count_; ++id) {
      auto* word = reinterpret_cast<volatile std::uint64_t*>(page_address(id) + kWordOffset);
      const std::uint64_t v = *word;
      if (write) *word = v;  // same bytes: the file stays valid
      sum += v;
    }
    benchmark::DoNotOptimize(sum);
  }

 private:
  BenchFile() {
    const Config& c = GetConfig();
    path_ = c.dir / fmt::format("pagestore_bench_{}.db", ::getpid());
    bench::SetTempPath(bench::kBenchFileSlot, path_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    page_count_ = c.file_mb * ((1 << 20) / kPageSize);
    std::fprintf(stderr, "disk_manager_bench: writing %llu MiB (%llu pages) to %s\n",
                 static_cast<unsigned long long>(c.file_mb),
                 static_cast<unsigned long long>(page_count_), path_.c_str());
    WriteFile();
    fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0)
      Die(fmt::format("{}: open: {}", path_.string(), std::system_category().message(errno)));
    void* p = ::mmap(nullptr, page_count_ * kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED)
      Die(fmt::format("{}: mmap: {}", path_.string(), std::system_category().message(errno)));
    map_ = static_cast<std::byte*>(p);
    WarmCache();
    MakeSequences(c.seed);
  }

  ~BenchFile() {
    if (map_ != nullptr) ::munmap(map_, page_count_ * kPageSize);
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    bench::ClearTempPath(bench::kBenchFileSlot);
  }

  void WriteFile() {
    DiskManagerOptions o;
    o.kind = DiskManagerKind::kPread;
    o.mode = OpenMode::kCreate;
    o.pread.growth_size = 64 << 20;
    absl::StatusOr<std::unique_ptr<PreadDiskManager>> dm = PreadDiskManager::Open(path_, o);
    Check(dm.status(), "create bench file");
    alignas(kPageSize) PageBuffer page;
    FillCanonicalPage(page);
    checksums_.assign(page_count_, 0);
    while ((*dm)->page_count() < page_count_) {
      absl::StatusOr<PageId> id = (*dm)->AllocatePage();
      Check(id.status(), "allocate");
      Check((*dm)->WritePage(*id, page), "prewrite");
      checksums_[*id] = ReadPageHeader(page).checksum;
    }
    Check((*dm)->Sync(), "sync bench file");
  }

  // Reads the whole file once (page cache) and touches every page of the raw mapping (its page
  // tables), so that no read benchmark measures cold I/O or first-touch faults.
  void WarmCache() const {
    std::vector<std::byte> chunk(1 << 20);
    const std::uint64_t bytes = page_count_ * kPageSize;
    for (std::uint64_t off = 0; off < bytes; off += chunk.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), bytes - off));
      if (::pread(fd_, chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
        Die(fmt::format("{}: warm-up read failed", path_.string()));
      }
    }
    TouchAll(/*write=*/false);
  }

  bool VerifyAll() const {
    DiskManagerOptions o;
    o.kind = DiskManagerKind::kPread;
    o.mode = OpenMode::kReadOnly;
    absl::StatusOr<std::unique_ptr<PreadDiskManager>> dm = PreadDiskManager::Open(path_, o);
    absl::Status s = dm.status();
    alignas(kPageSize) PageBuffer page;
    for (PageId id = kFirstDataPage; s.ok() && id < page_count_; ++id) {
      s = (*dm)->ReadPage(id, page);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "disk_manager_bench: the bench file is damaged after the run: %s\n",
                   s.ToString().c_str());
    }
    return s.ok();
  }

  void MakeSequences(std::uint64_t seed) {
    std::seed_seq seq{seed};
    absl::BitGen gen(seq);
    random_ids_.resize(kSequenceLength);
    for (PageId& id : random_ids_) id = absl::Uniform<PageId>(gen, kFirstDataPage, page_count_);
    write_choices_.resize(kSequenceLength);
    for (std::uint8_t& w : write_choices_) w = absl::Bernoulli(gen, kWriteFraction) ? 1 : 0;
  }

  static inline BenchFile* instance_ = nullptr;

  std::filesystem::path path_;
  PageId page_count_ = 0;
  int fd_ = -1;
  std::byte* map_ = nullptr;
  std::vector<std::uint64_t> checksums_;     // by page id: the checksum of its canonical image
  std::vector<PageId> random_ids_;           // uniform over [kFirstDataPage, page_count)
  std::vector<std::uint8_t> write_choices_;  // mixed70: 1 = write
};

// Walks a precomputed sequence; each thread starts at its own offset so that threads do not move
// in lockstep over the same pages.
class Cursor {
 public:
  explicit Cursor(const benchmark::State& state)
      : pos_(kSequenceLength / static_cast<std::size_t>(state.threads()) *
             static_cast<std::size_t>(state.thread_index())) {}
  std::size_t Next() { return pos_++ & (kSequenceLength - 1); }

 private:
  std::size_t pos_;
};

static_assert((kSequenceLength & (kSequenceLength - 1)) == 0);

// Sequential page ids over the data pages, wrapping around.
class SequentialIds {
 public:
  explicit SequentialIds(PageId page_count) : count_(page_count) {}
  PageId Next() {
    const PageId id = next_;
    if (++next_ == count_) next_ = kFirstDataPage;
    return id;
  }

 private:
  const PageId count_;
  PageId next_ = kFirstDataPage;
};

// ---------------------------------------------------------------------------------------------
// The open pagestore manager. Set by Setup hooks, which run on the main thread with no benchmark
// thread alive; read-only while a benchmark runs.

// kPreadDirect: O_DIRECT with io_uring batches; kPreadDirectLoop: O_DIRECT, batches one preadv
// after another (io_uring off).
enum class Kind {
  kPread,
  kPreadNoVerify,
  kPreadDirect,
  kPreadDirectLoop,
  kMmap,
  kMmapNoVerify,
  kMmapPwrite
};

std::optional<Kind> g_kind;
std::unique_ptr<DiskManager> g_owner;
DiskManager* g_dm = nullptr;
MmapDiskManager* g_mmap = nullptr;  // g_dm when it is an MmapDiskManager

void CloseManager() {
  g_dm = nullptr;
  g_mmap = nullptr;
  g_owner.reset();  // releases the file lock
  g_kind.reset();
}

void OpenManager(Kind kind) {
  if (g_kind == kind) return;
  CloseManager();  // one writer at a time: the old manager's lock goes first
  const BenchFile& file = BenchFile::Get();
  DiskManagerOptions o;
  o.mode = OpenMode::kOpenExisting;
  o.verify_checksums = kind != Kind::kPreadNoVerify && kind != Kind::kMmapNoVerify;
  o.mmap.write_via_pwrite = kind == Kind::kMmapPwrite;
  if (kind == Kind::kPread || kind == Kind::kPreadNoVerify || kind == Kind::kPreadDirect ||
      kind == Kind::kPreadDirectLoop) {
    o.kind = DiskManagerKind::kPread;
    o.pread.direct_io = kind == Kind::kPreadDirect || kind == Kind::kPreadDirectLoop;
    o.pread.io_uring = kind != Kind::kPreadDirectLoop;
    o.pread.uring_depth = kReadBatch;
    absl::StatusOr<std::unique_ptr<PreadDiskManager>> dm = PreadDiskManager::Open(file.path(), o);
    Check(dm.status(), "open pread manager");
    g_owner = std::move(*dm);
  } else {
    o.kind = DiskManagerKind::kMmap;
    absl::StatusOr<std::unique_ptr<MmapDiskManager>> dm = MmapDiskManager::Open(file.path(), o);
    Check(dm.status(), "open mmap manager");
    g_mmap = dm->get();
    g_owner = std::move(*dm);
  }
  if (g_owner->page_count() != file.page_count()) {
    Die(fmt::format("{}: manager sees {} pages, expected {}", file.path().string(),
                    g_owner->page_count(), file.page_count()));
  }
  g_dm = g_owner.get();
  g_kind = kind;
}

// What a benchmark's Setup does besides opening its manager; none of it is timed.
enum class Prep {
  kNone,
  kPrefault,    // mmap: view every page once (verifies it, maps it); pread: nothing
  kTouchWrite,  // mmap: write every page once (mapped writable, so writes never first-touch)
  kSeqHint,     // kPrefault, then Advise(kSequential); the Teardown resets it to kNormal
  kQuiesce,     // flush every dirty page of the file, so a sync benchmark syncs only its own
};

void PrefaultMmap() {
  if (g_mmap == nullptr) return;
  std::uint64_t sum = 0;
  for (PageId id = kFirstDataPage; id < g_mmap->page_count(); ++id) {
    absl::StatusOr<PageView> v = g_mmap->View(id);
    Check(v.status(), "prefault view");
    std::uint64_t word;
    std::memcpy(&word, v->data() + kWordOffset, sizeof(word));
    sum += word;
  }
  benchmark::DoNotOptimize(sum);
}

void TouchWriteMmap() {
  if (g_mmap == nullptr || g_kind == Kind::kMmapPwrite) return;
  alignas(kPageSize) PageBuffer page;
  FillCanonicalPage(page);
  for (PageId id = kFirstDataPage; id < g_mmap->page_count(); ++id) {
    Check(g_mmap->WritePage(id, page), "touch-write");
  }
}

void Quiesce() {
  BenchFile* file = BenchFile::IfCreated();
  if (file != nullptr && ::fdatasync(file->fd()) != 0) Die("fdatasync of the bench file failed");
  if (g_dm != nullptr) Check(g_dm->Sync(), "quiesce sync");
}

void Prepare(Prep prep) {
  switch (prep) {
    case Prep::kNone:
      break;
    case Prep::kPrefault:
      PrefaultMmap();
      break;
    case Prep::kTouchWrite:
      TouchWriteMmap();
      break;
    case Prep::kSeqHint:
      PrefaultMmap();
      Check(g_dm->Advise(AccessPattern::kSequential), "advise sequential");
      break;
    case Prep::kQuiesce:
      Quiesce();
      break;
  }
}

template <Kind kKind, Prep kPrep>
void SetUpManager(const benchmark::State&) {
  OpenManager(kKind);
  Prepare(kPrep);
}

void TearDownHint(const benchmark::State&) {
  if (g_dm != nullptr) Check(g_dm->Advise(AccessPattern::kNormal), "advise normal");
}

template <Prep kPrep>
void SetUpRaw(const benchmark::State&) {
  BenchFile& file = BenchFile::Get();
  if (kPrep == Prep::kTouchWrite) file.TouchAll(/*write=*/true);
  if (kPrep == Prep::kQuiesce && ::fdatasync(file.fd()) != 0) Die("fdatasync failed");
}

// Touches `bytes` of fresh anonymous memory and frees it. A virtual machine may hand memory its
// guest freed back to the host (free page reporting), and the guest's next first touch of it is a
// host page fault, many times a normal one: load_seq/* would measure that instead of the manager
// whenever the page cache it fills lands on such memory. Memory freed just now is reused first.
void WarmMemory(std::uint64_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;         // only a warm-up
  ::madvise(p, bytes, MADV_HUGEPAGE);  // draw the high-order blocks page-cache folios come from
  auto* bytes_p = static_cast<volatile char*>(p);
  for (std::uint64_t off = 0; off < bytes; off += kPageSize) bytes_p[off] = 1;
  ::munmap(p, bytes);
}

// load_seq/* makes its own files; flush the bench file's leftovers first if it exists.
void SetUpLoad(const benchmark::State&) {
  CloseManager();
  Quiesce();
  WarmMemory((GetConfig().load_mb + 64) << 20);
}

// ---------------------------------------------------------------------------------------------
// read_random/*

void ReadRandomRawPread(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  Cursor cursor(state);
  for (auto _ : state) {
    const off_t off = static_cast<off_t>(ids[cursor.Next()] * kPageSize);
    if (::pread(file.fd(), buf.data(), kPageSize, off) != static_cast<ssize_t>(kPageSize)) {
      state.SkipWithError("pread failed");
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

void ReadRandomRawMmapCopy(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  Cursor cursor(state);
  for (auto _ : state) {
    std::memcpy(buf.data(), file.page_address(ids[cursor.Next()]), kPageSize);
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

void ReadRandomRawMmapTouch(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  Cursor cursor(state);
  for (auto _ : state) {
    std::uint64_t word;
    std::memcpy(&word, file.page_address(ids[cursor.Next()]) + kWordOffset, sizeof(word));
    benchmark::DoNotOptimize(word);
  }
  state.SetItemsProcessed(state.iterations());  // one word per page: page bytes do not apply
}

// read_random/{pread,mmap,pread_noverify,mmap_noverify}: the Setup picks the manager.
void ReadRandomPaged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  const PageId* ids = BenchFile::Get().random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  Cursor cursor(state);
  for (auto _ : state) {
    if (absl::Status s = dm->ReadPage(ids[cursor.Next()], buf); !s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

// read_batch/{pread_uring,pread_direct_loop}: kReadBatch random pages per ReadBatch, O_DIRECT
// (every page from the device, whatever the page cache holds); items are pages.
void ReadBatchPaged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  const PageId* ids = BenchFile::Get().random_ids().data();
  auto* buffer = static_cast<std::byte*>(std::aligned_alloc(kPageSize, kReadBatch * kPageSize));
  std::vector<PageRequest> batch(kReadBatch);
  Cursor cursor(state);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kReadBatch; ++i) {
      batch[i] = PageRequest(ids[cursor.Next()], buffer + i * kPageSize);
    }
    if (absl::Status s = dm->ReadBatch(batch); !s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
    benchmark::DoNotOptimize(buffer);
  }
  std::free(buffer);
  state.counters["depth"] = static_cast<double>(kReadBatch);
  ReportPages(state, static_cast<std::int64_t>(kReadBatch));
}

void ReadRandomMmapView(benchmark::State& state) {
  MmapDiskManager* mm = g_mmap;
  const PageId* ids = BenchFile::Get().random_ids().data();
  Cursor cursor(state);
  for (auto _ : state) {
    absl::StatusOr<PageView> v = mm->View(ids[cursor.Next()]);
    if (!v.ok()) [[unlikely]] {
      Fail(state, v.status());
      break;
    }
    std::uint64_t word;
    std::memcpy(&word, v->data() + kWordOffset, sizeof(word));
    benchmark::DoNotOptimize(word);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// read_seq/*

void ReadSeqRawPread(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  SequentialIds ids(file.page_count());
  alignas(kPageSize) PageBuffer buf;
  for (auto _ : state) {
    const off_t off = static_cast<off_t>(ids.Next() * kPageSize);
    if (::pread(file.fd(), buf.data(), kPageSize, off) != static_cast<ssize_t>(kPageSize)) {
      state.SkipWithError("pread failed");
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

void ReadSeqPaged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  SequentialIds ids(dm->page_count());
  alignas(kPageSize) PageBuffer buf;
  for (auto _ : state) {
    if (absl::Status s = dm->ReadPage(ids.Next(), buf); !s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
    benchmark::DoNotOptimize(buf);
  }
  ReportPages(state);
}

// ---------------------------------------------------------------------------------------------
// write_random/*: every write stores the page's canonical image, so the file stays valid.

void WriteRandomRawPwrite(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  Cursor cursor(state);
  for (auto _ : state) {
    const PageId id = ids[cursor.Next()];
    file.PatchHeader(id, buf);
    if (::pwrite(file.fd(), buf.data(), kPageSize, static_cast<off_t>(id * kPageSize)) !=
        static_cast<ssize_t>(kPageSize)) {
      state.SkipWithError("pwrite failed");
      break;
    }
  }
  ReportPages(state);
}

void WriteRandomRawMmap(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  Cursor cursor(state);
  for (auto _ : state) {
    const PageId id = ids[cursor.Next()];
    file.PatchHeader(id, buf);
    std::memcpy(file.page_address(id), buf.data(), kPageSize);
    benchmark::ClobberMemory();
  }
  ReportPages(state);
}

void WriteRandomPaged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  const PageId* ids = BenchFile::Get().random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  Cursor cursor(state);
  for (auto _ : state) {
    if (absl::Status s = dm->WritePage(ids[cursor.Next()], buf); !s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
  }
  ReportPages(state);
}

// ---------------------------------------------------------------------------------------------
// mixed70_random/*

void Mixed70Paged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  const std::uint8_t* writes = file.write_choices().data();
  alignas(kPageSize) PageBuffer read_buf;
  alignas(kPageSize) PageBuffer write_buf;
  FillCanonicalPage(write_buf);
  Cursor cursor(state);
  for (auto _ : state) {
    const std::size_t i = cursor.Next();
    absl::Status s = writes[i] ? dm->WritePage(ids[i], write_buf) : dm->ReadPage(ids[i], read_buf);
    if (!s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
    benchmark::DoNotOptimize(read_buf);
  }
  ReportPages(state);
}

// ---------------------------------------------------------------------------------------------
// sync_1dirty/*: one page written, then made durable; never an empty sync.

void SyncRawFdatasync(benchmark::State& state) {
  const BenchFile& file = BenchFile::Get();
  const PageId* ids = file.random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  Cursor cursor(state);
  for (auto _ : state) {
    const PageId id = ids[cursor.Next()];
    file.PatchHeader(id, buf);
    if (::pwrite(file.fd(), buf.data(), kPageSize, static_cast<off_t>(id * kPageSize)) !=
            static_cast<ssize_t>(kPageSize) ||
        ::fdatasync(file.fd()) != 0) {
      state.SkipWithError("pwrite or fdatasync failed");
      break;
    }
  }
  ReportPages(state);
}

void SyncPaged(benchmark::State& state) {
  DiskManager* dm = g_dm;
  const PageId* ids = BenchFile::Get().random_ids().data();
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  Cursor cursor(state);
  const std::uint64_t syncs_before = dm->stats().syncs;
  for (auto _ : state) {
    absl::Status s = dm->WritePage(ids[cursor.Next()], buf);
    if (s.ok()) s = dm->Sync();
    if (!s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
  }
  // Should equal the iteration count: a sync that found nothing to do would not be counted.
  state.counters["syncs"] = static_cast<double>(dm->stats().syncs - syncs_before);
  ReportPages(state);
}

// ---------------------------------------------------------------------------------------------
// load_seq/*: a fresh file filled by AllocatePage + WritePage, page after page. Manual time: the
// file's creation and deletion are outside the measurement.

enum class LoadKind { kMmapGrowth, kMmapPrealloc, kPread };

template <LoadKind kLoad>
void LoadSeq(benchmark::State& state) {
  const Config& c = GetConfig();
  const std::int64_t pages = static_cast<std::int64_t>(c.load_mb * ((1 << 20) / kPageSize));
  const std::filesystem::path path = c.dir / fmt::format("pagestore_bench_{}_load.db", ::getpid());
  bench::SetTempPath(bench::kLoadFileSlot, path);
  DiskManagerOptions o;
  o.mode = OpenMode::kCreate;
  o.kind = kLoad == LoadKind::kPread ? DiskManagerKind::kPread : DiskManagerKind::kMmap;
  if (kLoad == LoadKind::kMmapPrealloc) {
    // Room for every page from the start, in whole growth steps: no growth while loading.
    const std::uint64_t need = static_cast<std::uint64_t>(pages + kSuperblockPageCount) * kPageSize;
    o.mmap.initial_size = (need + o.mmap.growth_size - 1) / o.mmap.growth_size * o.mmap.growth_size;
  }
  alignas(kPageSize) PageBuffer buf;
  FillCanonicalPage(buf);
  DiskStats during;  // the counters' change over the timed part of the last iteration
  for (auto _ : state) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(path, o);
    if (!dm.ok()) {
      Fail(state, dm.status());
      break;
    }
    const DiskStats before = (*dm)->stats();
    absl::Status s;
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < pages && s.ok(); ++i) {
      absl::StatusOr<PageId> id = (*dm)->AllocatePage();
      s = id.ok() ? (*dm)->WritePage(*id, buf) : id.status();
    }
    const auto stop = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    const DiskStats after = (*dm)->stats();
    during.growths = after.growths - before.growths;
    during.remaps = after.remaps - before.remaps;
    dm->reset();
    std::filesystem::remove(path, ec);
    if (!s.ok()) {
      Fail(state, s);
      break;
    }
  }
  bench::ClearTempPath(bench::kLoadFileSlot);
  state.counters["growths"] = static_cast<double>(during.growths);
  state.counters["remaps"] = static_cast<double>(during.remaps);
  ReportPages(state, pages);
}

// ---------------------------------------------------------------------------------------------
// Registration.

void RegisterAll() {
  const Config& c = GetConfig();
  // read_random/*: 1 and 2 threads; real time so that throughput compares across them.
  auto random_read = [](const char* name, void (*fn)(benchmark::State&), Setup setup) {
    Register(name, fn, setup)->Threads(1)->Threads(2)->UseRealTime();
  };
  random_read("read_random/raw_pread", ReadRandomRawPread, SetUpRaw<Prep::kNone>);
  random_read("read_random/raw_mmap_copy", ReadRandomRawMmapCopy, SetUpRaw<Prep::kNone>);
  random_read("read_random/raw_mmap_touch", ReadRandomRawMmapTouch, SetUpRaw<Prep::kNone>);
  random_read("read_random/pread", ReadRandomPaged, SetUpManager<Kind::kPread, Prep::kNone>);
  random_read("read_random/mmap", ReadRandomPaged, SetUpManager<Kind::kMmap, Prep::kPrefault>);
  random_read("read_random/mmap_view", ReadRandomMmapView,
              SetUpManager<Kind::kMmap, Prep::kPrefault>);
  random_read("read_random/pread_noverify", ReadRandomPaged,
              SetUpManager<Kind::kPreadNoVerify, Prep::kNone>);
  random_read("read_random/mmap_noverify", ReadRandomPaged,
              SetUpManager<Kind::kMmapNoVerify, Prep::kPrefault>);

  // From the device (O_DIRECT): one page at a time, and kReadBatch at once. fio's io_uring job
  // at the same depth (benchmarks/fio/randread_uring.fio) is the limit beside them.
  Register("read_random/pread_direct", ReadRandomPaged,
           SetUpManager<Kind::kPreadDirect, Prep::kNone>)
      ->UseRealTime();
  Register("read_batch/pread_uring", ReadBatchPaged, SetUpManager<Kind::kPreadDirect, Prep::kNone>)
      ->UseRealTime();
  Register("read_batch/pread_direct_loop", ReadBatchPaged,
           SetUpManager<Kind::kPreadDirectLoop, Prep::kNone>)
      ->UseRealTime();

  Register("read_seq/raw_pread", ReadSeqRawPread, SetUpRaw<Prep::kNone>);
  Register("read_seq/pread", ReadSeqPaged, SetUpManager<Kind::kPread, Prep::kNone>);
  Register("read_seq/mmap", ReadSeqPaged, SetUpManager<Kind::kMmap, Prep::kPrefault>);
  Register("read_seq/pread_hint_seq", ReadSeqPaged, SetUpManager<Kind::kPread, Prep::kSeqHint>)
      ->Teardown(TearDownHint);
  Register("read_seq/mmap_hint_seq", ReadSeqPaged, SetUpManager<Kind::kMmap, Prep::kSeqHint>)
      ->Teardown(TearDownHint);

  Register("write_random/raw_pwrite", WriteRandomRawPwrite, SetUpRaw<Prep::kNone>);
  Register("write_random/raw_mmap", WriteRandomRawMmap, SetUpRaw<Prep::kTouchWrite>);
  Register("write_random/pread", WriteRandomPaged, SetUpManager<Kind::kPread, Prep::kNone>);
  Register("write_random/mmap", WriteRandomPaged, SetUpManager<Kind::kMmap, Prep::kTouchWrite>);
  Register("write_random/mmap_pwrite", WriteRandomPaged,
           SetUpManager<Kind::kMmapPwrite, Prep::kNone>);

  Register("mixed70_random/pread", Mixed70Paged, SetUpManager<Kind::kPread, Prep::kNone>);
  Register("mixed70_random/mmap", Mixed70Paged, SetUpManager<Kind::kMmap, Prep::kTouchWrite>);

  // Milliseconds each on real disks: a fixed time budget per run keeps the quick run quick.
  auto sync = [&c](const char* name, void (*fn)(benchmark::State&), Setup setup) {
    Register(name, fn, setup)
        ->MinTime(c.sync_min_time)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  };
  sync("sync_1dirty/raw_fdatasync", SyncRawFdatasync, SetUpRaw<Prep::kQuiesce>);
  sync("sync_1dirty/pread", SyncPaged, SetUpManager<Kind::kPread, Prep::kQuiesce>);
  sync("sync_1dirty/mmap", SyncPaged, SetUpManager<Kind::kMmap, Prep::kQuiesce>);

  auto load = [](const char* name, void (*fn)(benchmark::State&)) {
    Register(name, fn, SetUpLoad)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  load("load_seq/mmap_growth", LoadSeq<LoadKind::kMmapGrowth>);
  load("load_seq/mmap_prealloc", LoadSeq<LoadKind::kMmapPrealloc>);
  load("load_seq/pread", LoadSeq<LoadKind::kPread>);
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
                .Add("pagestore_bench_file_mb", c.file_mb)
                .Add("pagestore_bench_dir", c.dir.string())
                .Add("pagestore_bench_load_mb", c.load_mb)
                .Add("pagestore_bench_sync_min_time", c.sync_min_time)
                .Add("pagestore_bench_seed", c.seed);
          },
      .register_benchmarks = RegisterAll,
      .finish =
          [] {
            CloseManager();
            return BenchFile::Shutdown();
          },
  };
}

}  // namespace pagestore::bench
