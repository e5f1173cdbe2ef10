// Store::Backup (wal/store.h; wal/README.md, "Online backup"): a fuzzy copy of the page file
// taken after a checkpoint, the log from that checkpoint to a durable end, and a superblock that
// points the copy's recovery at that checkpoint. Recovery on the copy makes it consistent: every
// page written since the checkpoint has a full image in the copied log (the first change after
// a redo LSN is logged whole), so a page the copy caught half-written is restored, and the log
// ends at an LSN no copied page is newer than (the WAL rule: a page reaches the file only after
// the log holding its changes is durable).
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "buffer/buffer_pool_internals.h"
#include "storage/logging.h"
#include "storage/superblock.h"
#include "wal/store_core.h"

namespace pagestore {

std::string_view BackupStageName(BackupStage stage) {
  switch (stage) {
    case BackupStage::kCheckpoint:
      return "checkpoint";
    case BackupStage::kPages:
      return "pages";
    case BackupStage::kLog:
      return "log";
    case BackupStage::kSync:
      return "sync";
    case BackupStage::kDone:
      return "done";
  }
  return "?";
}

namespace {

constexpr std::string_view kIncompleteSuffix = ".incomplete";
// In the copy's log directory while the backup is not whole.
constexpr char kBackupMarker[] = "BACKUP-INCOMPLETE";
// A page whose checksum fails is read again this many times: a write in flight tears a read for
// as long as the write takes, microseconds.
constexpr int kRereads = 5;
// The pieces the copy is written back in (LogFile::WriteBehind).
constexpr std::uint64_t kWriteBehindBytes = 64 << 10;

struct AlignedFree {
  void operator()(std::byte* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte[], AlignedFree>;

AlignedBuffer AllocateAligned(std::size_t bytes) {
  // Page-aligned, so that an O_DIRECT source reads straight into it.
  return AlignedBuffer(static_cast<std::byte*>(std::aligned_alloc(kPageSize, bytes)));
}

// The destination: the directory holding the page file, and the copy's log directory.
struct Destination {
  std::shared_ptr<LogEnv> dir;
  std::shared_ptr<LogEnv> log;
  std::string name;  // the page file's final name in `dir`
  std::string temp;  // its name until the backup is whole
  std::string path;  // for messages
  bool renamed = false;

  // Removes what this backup (or an interrupted one) wrote; best effort.
  void Discard() {
    (void)dir->RemoveFile(renamed ? name : temp);
    if (absl::StatusOr<std::vector<std::string>> files = log->ListFiles(); files.ok()) {
      for (const std::string& f : *files) (void)log->RemoveFile(f);
    }
    (void)dir->SyncDir();
    (void)log->SyncDir();
  }
};

bool IsLogFileName(const std::string& name) {
  std::uint64_t number;
  if (ParseSegmentFileName(name, &number)) return true;
  return name.size() > kNewSegmentSuffix.size() && name.ends_with(kNewSegmentSuffix);
}

absl::StatusOr<Destination> OpenDestination(const std::filesystem::path& dest,
                                            const BackupOptions& options) {
  Destination d;
  d.name = dest.filename().string();
  d.path = dest.string();
  if (d.name.empty() || d.name == "." || d.name == "..") {
    return absl::InvalidArgumentError(
        fmt::format("backup destination '{}' names no file", dest.string()));
  }
  d.temp = d.name + std::string(kIncompleteSuffix);
  d.dir = options.dest_dir_env;
  if (d.dir == nullptr) {
    const std::filesystem::path parent = dest.has_parent_path() ? dest.parent_path() : ".";
    absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(parent);
    if (!env.ok()) return env.status();
    d.dir = std::move(*env);
  }
  absl::StatusOr<std::vector<std::string>> files = d.dir->ListFiles();
  if (!files.ok()) return files.status();
  if (std::find(files->begin(), files->end(), d.name) != files->end()) {
    return absl::AlreadyExistsError(
        fmt::format("backup destination {} exists; give a new name", d.path));
  }
  d.log = options.dest_log_env;
  if (d.log == nullptr) {
    absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(dest.string() + "-wal");
    if (!env.ok()) return env.status();
    d.log = std::move(*env);
  }
  // No page file names this log directory. Only what a backup left (its marker says so) is
  // removed: log segments without the marker may be another store's live log.
  absl::StatusOr<std::vector<std::string>> logs = d.log->ListFiles();
  if (!logs.ok()) return logs.status();
  const bool left_by_backup =
      std::find(logs->begin(), logs->end(), std::string(kBackupMarker)) != logs->end();
  for (const std::string& f : *logs) {
    if (f != kBackupMarker && (!IsLogFileName(f) || !left_by_backup)) {
      return absl::FailedPreconditionError(fmt::format(
          "backup destination's log directory holds {}, which no interrupted backup left; "
          "remove it or choose another destination",
          d.log->Describe(f)));
    }
  }
  d.Discard();
  // The marker first: until the backup is whole, its log directory says whose it is.
  absl::StatusOr<std::unique_ptr<LogFile>> marker = d.log->OpenFile(kBackupMarker, true);
  if (!marker.ok()) return marker.status();
  if (absl::Status s = d.log->SyncDir(); !s.ok()) return s;
  return d;
}

class BackupRun {
 public:
  BackupRun(StoreCore& core, const BackupOptions& options, Destination& dest)
      : core_(core), options_(options), dest_(dest) {}

  absl::StatusOr<BackupResult> Run();

 private:
  [[nodiscard]] absl::Status Report(BackupStage stage) {
    progress_.stage = stage;
    if (options_.progress && !options_.progress(progress_)) {
      return absl::CancelledError(fmt::format("backup to {} cancelled at its {} stage", dest_.path,
                                              BackupStageName(stage)));
    }
    return absl::OkStatus();
  }
  // The checkpoint the copy recovers from, and its free-list trunks as they are now.
  [[nodiscard]] absl::Status Start();
  [[nodiscard]] absl::Status CopyPages();
  // Starts the write-back of the copy's bytes [offset, offset + length).
  [[nodiscard]] absl::Status WriteBehind(std::uint64_t offset, std::uint64_t length);
  // Checks each page of a chunk read at `first`, reading a torn one again.
  [[nodiscard]] absl::Status CheckChunk(PageId first, std::span<std::byte> chunk);
  [[nodiscard]] absl::Status CopyLog();
  [[nodiscard]] absl::Status CopySegment(const LogManager::SegmentInfo& seg, bool last);
  // The trunks as of the checkpoint, then both superblock copies naming it.
  [[nodiscard]] absl::Status WriteRoots();

  StoreCore& core_;
  const BackupOptions& options_;
  Destination& dest_;
  BackupProgress progress_;
  BackupResult result_;
  Checkpointer::Taken taken_;
  std::vector<std::pair<PageId, std::vector<std::byte>>> trunks_;
  std::unique_ptr<LogFile> file_;
  std::uint64_t last_flushes_ = 0;  // the log's flush count at the last piece written back
};

absl::Status BackupRun::Start() {
  return core_.checkpointer.CheckpointAndPin([&](const Checkpointer::Taken& t) -> absl::Status {
    taken_ = t;
    // The trunks hold the free list as of this checkpoint only until two more checkpoints
    // replace it; they are saved now, while the checkpoint lock keeps those out.
    for (PageId id : t.trunks) {
      std::vector<std::byte> bytes(kPageSize);
      if (absl::Status s = BufferPoolInternals::ReadRawPages(*core_.pool, id, bytes); !s.ok())
        return s;
      if (absl::Status s = VerifyPage(id, ConstPageSpan(bytes.data(), kPageSize), core_.path);
          !s.ok()) {
        return s;
      }
      trunks_.emplace_back(id, std::move(bytes));
    }
    return absl::OkStatus();
  });
}

absl::Status BackupRun::CheckChunk(PageId first, std::span<std::byte> chunk) {
  for (std::size_t i = 0; i < chunk.size() / kPageSize; ++i) {
    const PageId id = first + i;
    if (id < kFirstDataPage) continue;  // the superblock copies are written afresh
    PageSpan page(chunk.data() + i * kPageSize, kPageSize);
    // A page never written since the file grew is zeros: its first contents are in the log.
    auto intact = [&] { return VerifyPage(id, page, core_.path).ok() || IsZeroPage(page); };
    if (intact()) continue;
    bool good = false;
    for (int attempt = 0; attempt < kRereads && !good; ++attempt) {
      ++result_.pages_reread;
      std::this_thread::yield();
      if (absl::Status s = BufferPoolInternals::ReadRawPages(*core_.pool, id, page); !s.ok())
        return s;
      good = intact();
    }
    if (!good) {
      Logf(LogLevel::kWarning,
           "backup to {}: page {} of {} fails its checksum in the source: {}; copied as it is "
           "(recovery on the copy restores it if the log since the backup's checkpoint holds "
           "its image)",
           dest_.path, id, core_.path, VerifyPage(id, page, core_.path).ToString());
      result_.damaged_pages.push_back(id);
    }
  }
  return absl::OkStatus();
}

absl::Status BackupRun::WriteBehind(std::uint64_t offset, std::uint64_t length) {
  // The copy yields to commits: while their flushes run, it writes back a small piece at a time,
  // each once the one before is on the disk and no flush is in progress, so that a commit's
  // fdatasync waits behind one piece at most; without commits it writes back at full speed.
  // (wal_bench's backup/commit_* measure the commits' latency beside it.)
  for (std::uint64_t off = 0; off < length; off += kWriteBehindBytes) {
    const std::uint64_t flushes = core_.log->WaitWhileFlushing(std::chrono::milliseconds(1));
    const bool commits_running = flushes != last_flushes_;
    last_flushes_ = flushes;
    if (absl::Status s = file_->WriteBehind(offset + off, std::min(kWriteBehindBytes, length - off),
                                            commits_running);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status BackupRun::CopyPages() {
  absl::StatusOr<std::unique_ptr<LogFile>> file = dest_.dir->OpenFile(dest_.temp, true);
  if (!file.ok()) return file.status();
  file_ = std::move(*file);
  if (absl::Status s = file_->Truncate(0); !s.ok()) return s;
  const std::size_t chunk_pages = std::max<std::size_t>(options_.chunk_pages, 1);
  AlignedBuffer buf = AllocateAligned(chunk_pages * kPageSize);
  if (buf == nullptr) return absl::ResourceExhaustedError("backup: no memory for its buffer");
  // The file may grow meanwhile: pages past the count read at the start are copied too (the
  // log holds their first images anyway).
  PageId next = 0;
  const auto copy_start = std::chrono::steady_clock::now();
  for (PageId count = core_.pool->page_count(); next < count; count = core_.pool->page_count()) {
    const std::size_t n = std::min<PageId>(chunk_pages, count - next);
    std::span<std::byte> chunk(buf.get(), n * kPageSize);
    if (absl::Status s = BufferPoolInternals::ReadRawPages(*core_.pool, next, chunk); !s.ok())
      return s;
    if (absl::Status s = CheckChunk(next, chunk); !s.ok()) return s;
    if (absl::Status s = file_->Write(next * kPageSize, chunk); !s.ok()) return s;
    if (absl::Status s = WriteBehind(next * kPageSize, chunk.size()); !s.ok()) return s;
    next += n;
    if (options_.max_bytes_per_second != 0) {
      // Not ahead of the limit: the bytes copied so far may take no less than this long.
      const auto due =
          copy_start +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(static_cast<double>(next * kPageSize) /
                                            static_cast<double>(options_.max_bytes_per_second)));
      std::this_thread::sleep_until(due);
    }
    progress_.pages_copied = next;
    progress_.pages_total = count;
    if (absl::Status s = Report(BackupStage::kPages); !s.ok()) return s;
  }
  result_.pages = next;
  return absl::OkStatus();
}

absl::Status BackupRun::CopySegment(const LogManager::SegmentInfo& seg, bool last) {
  const std::string name = SegmentFileName(seg.number);
  absl::StatusOr<std::unique_ptr<LogFile>> src = core_.env->OpenFile(name, false);
  if (!src.ok()) return src.status();
  absl::StatusOr<std::uint64_t> size = (*src)->Size();
  if (!size.ok()) return size.status();
  // The last segment is copied to the end found durable; bytes past it may be a write in flight.
  const std::uint64_t length =
      last ? kSegmentHeaderSize + (result_.end_lsn - seg.first_lsn) : *size;
  if (length > *size) {
    return absl::DataLossError(fmt::format(
        "backup: log segment {} holds {} bytes, fewer than the {} its durable records need",
        (*src)->path(), *size, length));
  }
  absl::StatusOr<std::unique_ptr<LogFile>> dst = dest_.log->OpenFile(name, true);
  if (!dst.ok()) return dst.status();
  std::vector<std::byte> buf(1 << 20);
  SegmentHeader header;
  for (std::uint64_t off = 0; off < length;) {
    const std::size_t want = std::min<std::uint64_t>(buf.size(), length - off);
    absl::StatusOr<std::size_t> got = (*src)->Read(off, std::span(buf.data(), want));
    if (!got.ok()) return got.status();
    if (*got != want) {
      return absl::DataLossError(fmt::format("backup: log segment {} ends at {} while it is copied",
                                             (*src)->path(), off + *got));
    }
    if (off == 0) {
      if (want < kSegmentHeaderSize || !DecodeSegmentHeader(buf, &header)) {
        return absl::DataLossError(
            fmt::format("backup: log segment {} has no valid header", (*src)->path()));
      }
      // The copy's log ends here: its last segment names no successor.
      if (last) std::fill_n(buf.begin() + kSegmentEndMarkOffset, kSegmentEndMarkSize, std::byte{0});
    }
    if (absl::Status s = (*dst)->Write(off, std::span(buf.data(), want)); !s.ok()) return s;
    off += want;
    progress_.log_bytes_copied += want;
  }
  // A pre-sized segment keeps its length (zeros past the end): shorter would read as cut.
  if (last && header.presized > length) {
    if (absl::Status s = (*dst)->Truncate(header.presized); !s.ok()) return s;
  }
  return (*dst)->Sync();
}

absl::Status BackupRun::CopyLog() {
  // Every page copied is at most as new as the log durable now (the WAL rule).
  if (absl::Status s = core_.log->FlushAll(); !s.ok()) return s;
  result_.end_lsn = core_.log->durable_lsn();
  const std::vector<LogManager::SegmentInfo> segs = core_.log->Segments();
  std::size_t last = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].first_lsn < result_.end_lsn) last = i;
  }
  for (std::size_t i = 0; i <= last && i < segs.size(); ++i) {
    if (i + 1 < segs.size() && segs[i + 1].first_lsn <= taken_.oldest_needed) continue;
    if (absl::Status s = CopySegment(segs[i], i == last); !s.ok()) return s;
    if (absl::Status s = Report(BackupStage::kLog); !s.ok()) return s;
  }
  result_.log_bytes = progress_.log_bytes_copied;
  return dest_.log->SyncDir();
}

absl::Status BackupRun::WriteRoots() {
  for (const auto& [id, bytes] : trunks_) {
    if (id >= result_.pages) {
      return absl::InternalError(
          fmt::format("backup: trunk page {} past the {} pages copied", id, result_.pages));
    }
    if (absl::Status s = file_->Write(id * kPageSize, bytes); !s.ok()) return s;
  }
  Superblock sb;
  sb.page_count = result_.pages;
  sb.roots = taken_.roots;
  std::vector<std::byte> page(kPageSize);
  // Both copies name the checkpoint, so whichever open picks recovers from it.
  for (std::uint64_t seq : {std::uint64_t{2}, std::uint64_t{3}}) {
    sb.sequence = seq;
    EncodeSuperblock(sb, PageSpan(page.data(), kPageSize));
    if (absl::Status s = file_->Write((seq % 2) * kPageSize, page); !s.ok()) return s;
  }
  return file_->Sync();
}

absl::StatusOr<BackupResult> BackupRun::Run() {
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status s = Start(); !s.ok()) return s;
  result_.checkpoint_lsn = taken_.checkpoint_lsn;
  result_.checkpoint_cut = taken_.cut_time;
  absl::Status s = Report(BackupStage::kCheckpoint);
  if (s.ok()) s = CopyPages();
  if (s.ok()) s = CopyLog();
  if (s.ok() && core_.pool->roots().catalog_root != taken_.roots.catalog_root) {
    s = absl::AbortedError(fmt::format(
        "backup to {}: the catalog root was set while it ran; run it again", dest_.path));
  }
  if (s.ok()) s = Report(BackupStage::kSync);
  if (s.ok()) s = WriteRoots();
  core_.checkpointer.Unpin(taken_.oldest_needed);
  // The page file's name is the backup's commit point: given only once everything is durable.
  if (s.ok()) s = dest_.log->RemoveFile(kBackupMarker);
  if (s.ok()) s = dest_.log->SyncDir();
  if (s.ok()) s = dest_.dir->RenameFile(dest_.temp, dest_.name);
  if (s.ok()) dest_.renamed = true;
  if (s.ok()) s = dest_.dir->SyncDir();
  file_.reset();
  if (!s.ok()) return s;
  result_.duration = std::chrono::steady_clock::now() - start;
  progress_.stage = BackupStage::kDone;
  if (options_.progress) (void)options_.progress(progress_);
  return result_;
}

}  // namespace

absl::StatusOr<BackupResult> Store::Backup(const std::filesystem::path& dest,
                                           const BackupOptions& options) {
  if (absl::Status s = core_->Usable(); !s.ok()) return s;
  absl::StatusOr<Destination> d = OpenDestination(dest, options);
  if (!d.ok()) return d.status();
  absl::StatusOr<BackupResult> r = BackupRun(*core_, options, *d).Run();
  if (!r.ok()) {
    d->Discard();
    if (absl::IsCancelled(r.status())) return r.status();
    return absl::Status(r.status().code(), fmt::format("backup of {} to {}: {}", core_->path,
                                                       d->path, std::string(r.status().message())));
  }
  return r;
}

}  // namespace pagestore
