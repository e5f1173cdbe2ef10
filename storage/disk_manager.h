// DiskManager: the one interface through which pages reach the file. Two real implementations,
// PreadDiskManager (pread/pwrite) and MmapDiskManager (a shared mapping), read and write the
// identical format, so a file written by one opens in the other and an engine can swap them at
// runtime. MemoryDiskManager backs tests; FaultInjectionDiskManager wraps any of them.
//
// Ownership: a DiskManager owns its file descriptor, mapping and lock; destroying it releases
// them WITHOUT syncing (what was not synced may be lost, as after a crash). Call Sync() first.
//
// Thread safety: every method is safe to call concurrently, with one rule the caller keeps (the
// buffer pool keeps it by latching): a page is not read or written while another thread writes
// that same page. Concurrent calls on distinct pages, AllocatePage and Sync never conflict.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/page.h"
#include "storage/superblock.h"

namespace pagestore {

enum class AccessPattern { kNormal, kRandom, kSequential };

enum class DiskManagerKind { kPread, kMmap };
std::string_view DiskManagerKindName(DiskManagerKind kind);

enum class OpenMode {
  kOpenOrCreate,  // open the file, creating it if it does not exist
  kCreate,        // create a new file; AlreadyExistsError if it exists
  kOpenExisting,  // open an existing file; NotFoundError if it does not exist
  kReadOnly,      // open an existing file for reading; writes are FailedPreconditionError
};

// Which system call a fault hook is asked about (tests only; see DiskManagerOptions::fault_hook).
// kRead and kWrite are asked once per page, batched or not; kRingSetup when the pread manager
// sets up io_uring (a non-zero answer makes it fall back to preadv, as on a kernel without it).
enum class IoCall { kRead, kWrite, kSync, kGrow, kMap, kAdvise, kRingSetup };

struct PreadConfig {
  bool direct_io = false;               // O_DIRECT: bypass the page cache (aligned bounce buffer)
  std::uint64_t growth_size = 1 << 20;  // bytes reserved with fallocate each time the file grows
  // Batches (ReadBatch, WriteBatch, ReadPages) go through io_uring, all of a batch's requests
  // submitted at once with up to `uring_depth` in flight. Where io_uring cannot be set up (an
  // old kernel, seccomp) the manager falls back to one preadv/pwritev after another, logs a
  // warning, and says so in its name ("pread", not "pread+uring"). The environment variable
  // PAGESTORE_IO_URING=0 turns it off for the whole process.
  bool io_uring = true;
  unsigned uring_depth = 64;
};

// Defaults from the LauraDB guide: 256 MiB mapped at open, 64 MiB more each time it fills.
struct MmapConfig {
  std::uint64_t initial_size = 256ull << 20;
  std::uint64_t growth_size = 64ull << 20;
  // Address space reserved at open; the mapping grows inside it and never moves, so readers never
  // see an address go away. Growth past it is ResourceExhaustedError (reopen with a larger one).
  std::uint64_t reserve_size = 64ull << 30;
  bool populate = false;  // MAP_POPULATE: prefault the file at open and on growth
  // Write pages with pwrite instead of a memcpy into the mapping (reads still use the mapping).
  // Off by default: disk_manager_bench's write_random/mmap vs write_random/mmap_pwrite measures it.
  bool write_via_pwrite = false;
};

struct DiskManagerOptions {
  DiskManagerKind kind = DiskManagerKind::kPread;
  OpenMode mode = OpenMode::kOpenOrCreate;
  bool verify_checksums = true;  // verify on every read; turning it off is for benchmarks
  PreadConfig pread;
  MmapConfig mmap;
  // Tests only: called before each system call; a non-zero return is used as that call's errno
  // (the call is not made). Lets tests drive real error paths: a failed fdatasync, a full disk.
  std::function<int(IoCall)> fault_hook;
};

// Counters since open. Monotonic; read with relaxed ordering, so a snapshot may be skewed by the
// operations in flight.
struct DiskStats {
  std::uint64_t reads = 0;   // pages read (ReadPage, each page of ReadPages)
  std::uint64_t writes = 0;  // pages written, superblock copies included
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t syncs = 0;       // fdatasync/msync calls that reached the disk
  std::uint64_t growths = 0;     // file extensions
  std::uint64_t remaps = 0;      // mapping extensions (mmap only)
  std::uint64_t hint_calls = 0;  // Advise / WillNeed
  std::uint64_t checksum_failures = 0;
  std::uint64_t batches = 0;         // ReadBatch / WriteBatch / ReadPages calls
  std::uint64_t batch_requests = 0;  // readv / writev requests they made (a run of pages each)
  std::uint64_t batch_submits = 0;   // io_uring submissions they made (0 without io_uring)
  std::string ToString() const;
};

// One page of a batch (DiskManager::ReadBatch, WriteBatch). The caller owns `data`, kPageSize
// bytes, and keeps it valid for the call.
struct PageRequest {
  PageRequest() = default;
  PageRequest(PageId page, std::byte* bytes) : id(page), data(bytes) {}
  PageId id = kInvalidPageId;
  std::byte* data = nullptr;
  absl::Status status;  // set by the call: how this page went
};
// The status of the first request of `batch` that failed, or OK.
[[nodiscard]] absl::Status FirstFailure(std::span<const PageRequest> batch);

class DiskManager {
 public:
  virtual ~DiskManager() = default;

  // Copies page `id` into `out` and verifies its checksum. OutOfRangeError for an id at or beyond
  // page_count(); DataLossError naming file and page when the bytes are not a valid page, in which
  // case `out` holds the bad bytes for inspection but they are not data.
  [[nodiscard]] virtual absl::Status ReadPage(PageId id, PageSpan out) = 0;

  // Seals `page` in place (stamps id, version and checksum into its header) and writes it.
  // InvalidArgumentError for the superblock pages; OutOfRangeError beyond page_count();
  // FailedPreconditionError on a read-only or failed manager.
  [[nodiscard]] virtual absl::Status WritePage(PageId id, PageSpan page) = 0;

  // Reads ids.size() pages into consecutive kPageSize slices of `out`; returns the first error
  // (the default stops there; the pread manager reads the whole set as one batch, ReadBatch).
  [[nodiscard]] virtual absl::Status ReadPages(std::span<const PageId> ids,
                                               std::span<std::byte> out);

  // Batches: every page of `batch` is read (written), each request's status saying how its page
  // went, with ReadPage's (WritePage's) errors naming file and page; one page's failure does not
  // stop the others, and a failed read leaves its bytes unspecified (not data). Returns OK, or
  // the status of the first failed request. Pages may come in any order; a batch names each
  // page at most once. The pread manager submits a batch at once (io_uring), so its latency is
  // about one read's where a loop of ReadPage would pay one per page; the mmap manager hints
  // the kernel (MADV_WILLNEED) over the batch before copying. A write seals each page in place
  // as WritePage does.
  [[nodiscard]] virtual absl::Status ReadBatch(std::span<PageRequest> batch);
  [[nodiscard]] virtual absl::Status WriteBatch(std::span<PageRequest> batch);

  // Copies pages [first, first + out.size() / kPageSize) exactly as the file holds them, without
  // verifying them: for copying a live file (Store::Backup), whose caller checks each page and
  // tolerates one torn by a write in flight. `out` is whole pages; OutOfRangeError past
  // page_count(). Managers that cannot read raw bytes return UnimplementedError (the default).
  [[nodiscard]] virtual absl::Status ReadRawPages(PageId first, std::span<std::byte> out);

  // Extends the file by one page and returns its id. The page's bytes are undefined until it is
  // written: reading it first is usually DataLossError ("never written"), but after a crash the
  // page may still hold a valid page written before the last durable superblock was superseded,
  // so callers must write before they read (the WAL layer logs allocations for this reason).
  // Reusing freed pages is the WAL layer's job.
  [[nodiscard]] virtual absl::StatusOr<PageId> AllocatePage() = 0;

  // Gives back the pages from `count` on (kFirstDataPage <= count <= page_count()): page_count()
  // becomes `count` at once, so the pages past it are OutOfRangeError to read or write, and the
  // next Sync writes the new count into the superblock. The file itself is cut later, by the
  // first Sync after which neither superblock copy claims the pages, so that an open falling
  // back to the older copy still finds every page it names; and the superblock says the smaller
  // count only once its roots change (SetRoots: the checkpoint that gave the pages back), so a
  // copy naming an older checkpoint never claims less than that checkpoint knew. The caller
  // guarantees that no page from `count` on is in use. Managers that cannot shrink return
  // UnimplementedError (the default).
  [[nodiscard]] virtual absl::Status Shrink(PageId count);

  // Durable on return: every write that completed before the call, then the superblock if the
  // page count or roots changed. A failure is final: the manager enters a failed state and every
  // later write, allocation and sync is FailedPreconditionError carrying the first error.
  [[nodiscard]] virtual absl::Status Sync() = 0;

  virtual PageId page_count() const = 0;

  // Roots kept for upper layers in the superblock; persisted by the next Sync().
  virtual SuperblockRoots roots() const = 0;
  virtual void SetRoots(const SuperblockRoots& roots) = 0;

  [[nodiscard]] virtual absl::Status Advise(AccessPattern pattern) = 0;
  [[nodiscard]] virtual absl::Status WillNeed(PageId first, PageId last) = 0;  // inclusive range

  virtual DiskStats stats() const = 0;
  // "pread", "pread-direct", "pread+uring", "pread-direct+uring", "mmap", "memory", "fault(...)"
  virtual std::string_view name() const = 0;
  virtual const std::string& path() const = 0;
  virtual bool read_only() const = 0;  // opened with OpenMode::kReadOnly
};

// Opens (or creates, per options.mode) the file at `path` with the manager options.kind names.
[[nodiscard]] absl::StatusOr<std::unique_ptr<DiskManager>> OpenDiskManager(
    const std::filesystem::path& path, const DiskManagerOptions& options);

// Parses a manager spec: "pread", "pread:direct=1,growth=4M,uring=1,depth=64", "mmap",
// "mmap:initial=256M,growth=64M,reserve=1T,populate=1"; both kinds take "verify=0|1". Sizes are
// bytes with an optional K/M/G/T (binary) suffix and must be whole pages. Anything else is
// InvalidArgumentError saying which part is wrong. Fields the spec does not name keep their
// values from `base`.
[[nodiscard]] absl::StatusOr<DiskManagerOptions> ParseDiskManagerSpec(
    std::string_view spec, const DiskManagerOptions& base = {});

// The spec that ParseDiskManagerSpec turns back into `options`' kind and configuration.
std::string FormatDiskManagerSpec(const DiskManagerOptions& options);

}  // namespace pagestore
