// wal_bench: the write-ahead log's benchmarks, each beside its physical-limit baseline in the
// same binary and run, so results read as ratios; scripts/bench_report.py finds them by name and
// compares medians.
//
//   commit/raw_fdatasync   the baseline of every durable commit: pwrite 4 KiB at an advancing
//       offset (wrapping) into a pre-zeroed, fdatasync'd file of one segment's size, then
//       fdatasync.
//   commit/sync   one committer on a real file Store: a transaction with one mini-transaction
//       (GetForWrite of a page, 16 bytes changed, 16 bytes of undo logged), then
//       Transaction::Commit(Durability::kSync).
//   commit_group/threads:N (N = 1, 2, 4, 8, 16)   the same with N threads on one shared Store,
//       each on its own page (no latch contention), committed with Durability::kGroup: concurrent
//       commits share fdatasyncs, the flushing thread waiting up to group_commit_wait for others
//       when other transactions are active (never when it commits alone, so threads:1 is the
//       plain synchronous commit). Items
//       are commits (of all threads) per second of wall time; commits_per_sync says how many
//       shared each fdatasync.
//   append/throughput   LogManager::Append of kMtr records with a PAGESTORE_BENCH_WAL_APPEND_BYTES
//       payload (default 256), never synced: the buffer is written out when full, and segments
//       roll over (the full one synced, a spare recycled) as they fill, which is part of the
//       cost. The baseline append/raw_memcpy copies the same payload bytes into a 4 MiB buffer
//       (the log buffer's size). Bytes are payload bytes on both sides.
//   recovery/replay   Store::Open of a crashed store: PAGESTORE_BENCH_WAL_RECORDS (default
//       200000) mini-transactions, 32 bytes each on one of PAGESTORE_BENCH_WAL_PAGES (default
//       1024) pages, in transactions of 4 committed without sync (the last one left active, so
//       recovery undoes it), no checkpoint after the first change. Built once; the page file and
//       log directory are copied (and fdatasync'd, as a crashed machine leaves them on disk)
//       before the store is closed. Each iteration recovers a fresh copy; manual time covers
//       Store::Open only. Items are records scanned, bytes RecoveryReport::bytes_scanned (the
//       log from the redo start to the end).
//   recovery/raw_read   the baseline: pread of every segment file of the same log, once.
//   recovery/log_scan   LogReader only: open, seek to the redo start, Next to the end (checksums
//       verified). Items on both are the records recovery scans, so item rates compare as times.
//   backup/store   Store::Backup of a store of PAGESTORE_BENCH_BACKUP_MB (default 256) of pages
//       (written once, then checkpointed; nothing else running) to a fresh destination each
//       iteration. Items are the pages copied, bytes their bytes.
//   backup/raw_copy   the baseline: the same page file copied by a 1 MiB pread/pwrite loop,
//       fdatasync'd, its directory fsync'd. Items are its pages.
//   backup/commit_idle, backup/commit_during, backup/commit_during_limited,
//   backup/commit_during_raw_copy   durable commits (commit/sync's transaction) on the backup
//       source, one after another: alone (1000 of them), during one Store::Backup (as many as
//       it lasts, at least 200; _limited: BackupOptions::max_bytes_per_second 256 MiB/s), or
//       during one raw copy of its page file (what any copy costs the commits). Each iteration
//       reports the p99 of its commits' latencies as its manual time, so time ratios between
//       them are ratios of p99s; counters p50_us and p99_us, commits_per_iteration.
//
// Files: everything lives in one directory, PAGESTORE_BENCH_DIR (default /tmp) /
// pagestore_wal_bench_<pid>, created at start and deleted with its contents at exit or on
// SIGINT/SIGTERM/SIGHUP. The stores, the log and the raw file are created on first use by a
// Setup hook (Google Benchmark calls Setup before every batch of iterations, with no benchmark
// thread running, so that the threads of commit_group/* start together on a ready store) and
// stay open until exit: the commit benchmarks measure a store in steady state (its log recycling
// segments at checkpoints), not one being created.
//
// Other knobs (environment): PAGESTORE_BENCH_SYNC_MIN_TIME (seconds per commit/* run, default
// 0.5), PAGESTORE_BENCH_SEED (the recovery workload, default 42).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "storage/page.h"
#include "wal/log_env.h"
#include "wal/log_format.h"
#include "wal/log_manager.h"
#include "wal/log_reader.h"
#include "wal/store.h"

namespace pagestore {

using bench::Check;
using bench::Die;
using bench::EnvUint;
using bench::Fail;
using bench::Register;
namespace {

namespace fs = std::filesystem;

constexpr int kMaxCommitThreads = 16;
constexpr std::uint16_t kCounterRm = 1;                  // undo: u64 page | u64 old counter
constexpr std::uint16_t kBytesRm = 2;                    // undo: u64 page | u16 offset | old bytes
constexpr std::size_t kCounterOffset = kPageHeaderSize;  // commit/*: two u64 copies of a counter
constexpr std::size_t kReplayChange = 32;                // bytes each recovery mtr changes
constexpr std::size_t kReplayMtrsPerTxn = 4;
constexpr std::size_t kRawSyncBlock = 4096;
constexpr std::size_t kMemcpyBuffer = 4 << 20;  // LogOptions::buffer_size's default

// ---------------------------------------------------------------------------------------------
// Configuration and errors.

struct Config {
  fs::path dir;   // PAGESTORE_BENCH_DIR
  fs::path root;  // this process's directory under it
  double sync_min_time;
  std::uint64_t records;       // recovery workload mini-transactions
  std::uint64_t pages;         // pages they change
  std::uint64_t append_bytes;  // append/* payload
  std::uint64_t seed;
  std::uint64_t backup_mb;  // backup/*: the source store's size
};

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    const char* dir = std::getenv("PAGESTORE_BENCH_DIR");
    c.dir = (dir != nullptr && *dir != '\0') ? dir : "/tmp";
    c.root = c.dir / fmt::format("pagestore_wal_bench_{}", ::getpid());
    c.sync_min_time = bench::EnvDouble("PAGESTORE_BENCH_SYNC_MIN_TIME", 0.5);
    c.records =
        std::max<std::uint64_t>(kReplayMtrsPerTxn, EnvUint("PAGESTORE_BENCH_WAL_RECORDS", 200000));
    c.pages = std::clamp<std::uint64_t>(EnvUint("PAGESTORE_BENCH_WAL_PAGES", 1024), 1, 1 << 20);
    c.append_bytes =
        std::clamp<std::uint64_t>(EnvUint("PAGESTORE_BENCH_WAL_APPEND_BYTES", 256), 1, 1 << 20);
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    c.backup_mb = std::clamp<std::uint64_t>(EnvUint("PAGESTORE_BENCH_BACKUP_MB", 256), 1, 1 << 16);
    return c;
  }();
  return config;
}

std::string ErrnoText(int err) { return std::system_category().message(err); }

// The benchmark directory, new and empty, registered for deletion.
void SyncPath(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) Die(fmt::format("{}: open: {}", p.string(), ErrnoText(errno)));
  if (::fsync(fd) != 0) Die(fmt::format("{}: fsync: {}", p.string(), ErrnoText(errno)));
  ::close(fd);
}

// Copies a file and fdatasyncs the copy.
void CopySynced(const fs::path& from, const fs::path& to) {
  static std::vector<std::byte> buf(1 << 20);
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) Die(fmt::format("{}: open: {}", from.string(), ErrnoText(errno)));
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) Die(fmt::format("{}: open: {}", to.string(), ErrnoText(errno)));
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die(fmt::format("{}: read: {}", from.string(), ErrnoText(errno)));
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) Die(fmt::format("{}: write: {}", to.string(), ErrnoText(errno)));
      done += w;
    }
  }
  if (::fdatasync(out) != 0) Die(fmt::format("{}: fdatasync: {}", to.string(), ErrnoText(errno)));
  ::close(in);
  ::close(out);
}

fs::path WalDir(const fs::path& pages) { return pages.string() + "-wal"; }

void RemoveStoreFiles(const fs::path& pages) {
  std::error_code ec;
  fs::remove(pages, ec);
  fs::remove_all(WalDir(pages), ec);
}

// A store's page file and log directory copied to `to`, durable: what a crash leaves on disk.
void CopyStore(const fs::path& from, const fs::path& to) {
  RemoveStoreFiles(to);
  CopySynced(from, to);
  std::error_code ec;
  if (!fs::create_directory(WalDir(to), ec) || ec) {
    Die(fmt::format("{}: cannot create: {}", WalDir(to).string(), ec.message()));
  }
  for (const fs::directory_entry& e : fs::directory_iterator(WalDir(from))) {
    CopySynced(e.path(), WalDir(to) / e.path().filename());
  }
  SyncPath(WalDir(to), true);
  SyncPath(to.parent_path(), true);
}

// ---------------------------------------------------------------------------------------------
// Undo handlers (needed by rollback and by recovery's undo of the workload's last transaction).

absl::Status UndoCounter(MiniTransaction& mtr, std::span<const std::byte> undo) {
  if (undo.size() != 16) return absl::DataLossError("counter undo payload is not 16 bytes");
  PageId id;
  std::memcpy(&id, undo.data(), 8);
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(id);
  if (!p.ok()) return p.status();
  std::memcpy(p->data() + kCounterOffset, undo.data() + 8, 8);
  std::memcpy(p->data() + kCounterOffset + 8, undo.data() + 8, 8);
  return absl::OkStatus();
}

absl::Status UndoBytes(MiniTransaction& mtr, std::span<const std::byte> undo) {
  if (undo.size() < 10) return absl::DataLossError("bytes undo payload is shorter than 10 bytes");
  PageId id;
  std::uint16_t offset;
  std::memcpy(&id, undo.data(), 8);
  std::memcpy(&offset, undo.data() + 8, 2);
  const std::span<const std::byte> old = undo.subspan(10);
  if (offset + old.size() > kPageSize) return absl::DataLossError("bytes undo beyond the page");
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(id);
  if (!p.ok()) return p.status();
  std::memcpy(p->data() + offset, old.data(), old.size());
  return absl::OkStatus();
}

StoreOptions BaseStoreOptions() {
  StoreOptions o;
  o.undo_handlers[kCounterRm] = UndoCounter;
  o.undo_handlers[kBytesRm] = UndoBytes;
  return o;
}

// Allocates `n` pages in system mini-transactions (64 at a time).
std::vector<PageId> AllocatePages(Store& store, std::size_t n) {
  std::vector<PageId> pages;
  while (pages.size() < n) {
    MiniTransaction mtr = store.BeginMtr();
    for (std::size_t i = 0; i < 64 && pages.size() < n; ++i) {
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kRaw);
      Check(id.status(), "allocate a page");
      pages.push_back(*id);
    }
    Check(mtr.Commit().status(), "commit the page allocations");
  }
  return pages;
}

// ---------------------------------------------------------------------------------------------
// commit/raw_fdatasync

struct RawSyncFile {
  int fd = -1;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;  // continues across runs
};
RawSyncFile* g_raw = nullptr;

void SetUpRawSync(const benchmark::State&) {
  if (g_raw != nullptr) return;
  const LogOptions defaults;
  auto raw = std::make_unique<RawSyncFile>();
  raw->size = defaults.segment_size;  // the size of a log segment
  const fs::path path = GetConfig().root / "raw_fdatasync.dat";
  raw->fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (raw->fd < 0) Die(fmt::format("{}: open: {}", path.string(), ErrnoText(errno)));
  std::vector<std::byte> zeros(1 << 20);
  for (std::uint64_t off = 0; off < raw->size; off += zeros.size()) {
    if (::pwrite(raw->fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) !=
        static_cast<ssize_t>(zeros.size())) {
      Die(fmt::format("{}: pre-zeroing failed", path.string()));
    }
  }
  if (::fdatasync(raw->fd) != 0) Die(fmt::format("{}: fdatasync failed", path.string()));
  SyncPath(path.parent_path(), true);
  g_raw = raw.release();
}

void CommitRawFdatasync(benchmark::State& state) {
  RawSyncFile& raw = *g_raw;
  alignas(kRawSyncBlock) std::array<std::byte, kRawSyncBlock> block;
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::byte>(i * 131);
  for (auto _ : state) {
    if (::pwrite(raw.fd, block.data(), block.size(), static_cast<off_t>(raw.offset)) !=
            static_cast<ssize_t>(block.size()) ||
        ::fdatasync(raw.fd) != 0) {
      state.SkipWithError("pwrite or fdatasync failed");
      break;
    }
    raw.offset += block.size();
    if (raw.offset + block.size() > raw.size) raw.offset = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kRawSyncBlock));
}

// ---------------------------------------------------------------------------------------------
// commit/sync and commit_group/threads:N: one store shared by every commit benchmark.

struct CommitStore {
  std::unique_ptr<Store> store;
  std::vector<PageId> pages;  // page i is thread i's
  // The counters when the current run's Setup ran (before its threads started).
  LogStats log_before;
  StoreStats store_before;
};
CommitStore* g_commit = nullptr;

void SetUpCommit(const benchmark::State&) {
  if (g_commit == nullptr) {
    auto c = std::make_unique<CommitStore>();
    StoreOptions o = BaseStoreOptions();
    o.pool_frames = 256;
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(GetConfig().root / "commit.pages", o);
    Check(store.status(), "open the commit store");
    c->store = std::move(*store);
    c->pages = AllocatePages(*c->store, kMaxCommitThreads);
    Check(c->store->Checkpoint(), "checkpoint the commit store");
    g_commit = c.release();
  }
  g_commit->log_before = g_commit->store->log_stats();
  g_commit->store_before = g_commit->store->stats();
}

// One transaction: one mini-transaction adding 1 to the counter on `page` (16 bytes changed,
// 16 bytes of undo), committed with Durability::kSync.
absl::Status CommitOne(Store& store, PageId page, Durability durability) {
  absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
  if (!txn.ok()) return txn.status();
  {
    MiniTransaction mtr = (*txn)->BeginMtr();
    absl::StatusOr<PageSpan> p = mtr.GetForWrite(page);
    if (!p.ok()) return p.status();
    std::byte* slot = p->data() + kCounterOffset;
    std::uint64_t old;
    std::memcpy(&old, slot, 8);
    const std::uint64_t next = old + 1;
    std::memcpy(slot, &next, 8);
    std::memcpy(slot + 8, &next, 8);
    std::array<std::byte, 16> undo;
    std::memcpy(undo.data(), &page, 8);
    std::memcpy(undo.data() + 8, &old, 8);
    mtr.LogUndo(kCounterRm, undo);
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  }
  return (*txn)->Commit(durability);
}

template <Durability kDurability>
void CommitLoop(benchmark::State& state) {
  Store& store = *g_commit->store;
  const PageId page = g_commit->pages[static_cast<std::size_t>(state.thread_index())];
  for (auto _ : state) {
    if (absl::Status s = CommitOne(store, page, kDurability); !s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // Every thread has left its loop (Google Benchmark's stop barrier): the run's totals.
    const LogStats log = store.log_stats();
    const StoreStats st = store.stats();
    const double commits = static_cast<double>(st.commits - g_commit->store_before.commits);
    const double syncs = static_cast<double>(log.syncs - g_commit->log_before.syncs);
    state.counters["commits_per_sync"] = syncs > 0 ? commits / syncs : 0;
    state.counters["log_bytes_per_commit"] =
        commits > 0
            ? static_cast<double>(log.bytes_appended - g_commit->log_before.bytes_appended) /
                  commits
            : 0;
    state.counters["checkpoints"] =
        static_cast<double>(st.checkpoints - g_commit->store_before.checkpoints);
  }
}

// ---------------------------------------------------------------------------------------------
// append/throughput and append/raw_memcpy

struct AppendLog {
  std::unique_ptr<LogEnv> env;
  std::unique_ptr<LogManager> log;
};
AppendLog* g_append = nullptr;

std::vector<std::byte> AppendPayload() {
  std::vector<std::byte> payload(GetConfig().append_bytes);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(i * 7 + 1);
  return payload;
}

void SetUpAppend(const benchmark::State&) {
  if (g_append != nullptr) return;
  auto a = std::make_unique<AppendLog>();
  absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(GetConfig().root / "append-wal");
  Check(env.status(), "open the append log directory");
  a->env = std::move(*env);
  absl::StatusOr<std::unique_ptr<LogManager>> log =
      LogManager::Open(a->env.get(), LogOptions{}, {}, kFirstLsn);
  Check(log.status(), "open the append log");
  a->log = std::move(*log);
  g_append = a.release();
}

void AppendThroughput(benchmark::State& state) {
  LogManager& log = *g_append->log;
  const std::vector<std::byte> payload = AppendPayload();
  const LogManager::Record rec{RecordType::kMtr, 0, kInvalidLsn, payload};
  const std::size_t padded = AlignRecord(kRecordHeaderSize + payload.size());
  // Drop full segments about once per segment, as a store's checkpoints do: they become spares
  // that the next segments recycle, and the directory stays one or two segments big.
  const std::uint64_t recycle_every =
      std::max<std::uint64_t>(1, (log.segment_size() - kSegmentHeaderSize) / padded);
  std::uint64_t until_recycle = recycle_every;
  const LogStats before = log.stats();
  for (auto _ : state) {
    absl::StatusOr<Lsn> lsn = log.Append(rec);
    if (!lsn.ok()) [[unlikely]] {
      Fail(state, lsn.status());
      break;
    }
    if (--until_recycle == 0) [[unlikely]] {
      until_recycle = recycle_every;
      if (absl::Status s = log.RemoveSegmentsBefore(*lsn); !s.ok()) {
        Fail(state, s);
        break;
      }
    }
  }
  const LogStats after = log.stats();
  state.counters["record_bytes"] = static_cast<double>(padded);
  state.counters["flushes"] = static_cast<double>(after.flushes - before.flushes);
  state.counters["syncs"] = static_cast<double>(after.syncs - before.syncs);
  state.counters["segments_created"] =
      static_cast<double>(after.segments_created - before.segments_created);
  state.counters["segments_recycled"] =
      static_cast<double>(after.segments_recycled - before.segments_recycled);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}

std::vector<std::byte>* g_memcpy_buffer = nullptr;

void SetUpMemcpy(const benchmark::State&) {
  if (g_memcpy_buffer != nullptr) return;
  // Written once, so that no timed copy touches a fresh page.
  g_memcpy_buffer = new std::vector<std::byte>(kMemcpyBuffer, std::byte{1});
}

void AppendRawMemcpy(benchmark::State& state) {
  std::vector<std::byte>& buf = *g_memcpy_buffer;
  const std::vector<std::byte> payload = AppendPayload();
  const std::size_t step = AlignRecord(kRecordHeaderSize + payload.size());  // as the log packs
  std::size_t at = 0;
  for (auto _ : state) {
    std::byte* dst = buf.data() + at;
    std::memcpy(dst, payload.data(), payload.size());
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
    at += step;
    if (at + step > buf.size()) at = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}

// ---------------------------------------------------------------------------------------------
// recovery/*: the crashed store, built once.

struct Golden {
  fs::path pages;         // the crashed store's page file (its log beside it)
  fs::path work;          // where each replay iteration copies it
  RecoveryReport report;  // of a first, untimed recovery
  std::vector<fs::path> segments;
  std::uint64_t segment_bytes = 0;  // of every segment file
  std::unique_ptr<LogEnv> env;      // the crashed log directory, for log_scan
};
Golden* g_golden = nullptr;

StoreOptions RecoveryOptions() {
  const Config& c = GetConfig();
  StoreOptions o = BaseStoreOptions();
  o.pool_frames = static_cast<std::size_t>(c.pages) + 64;  // the workload never evicts
  o.checkpoint_interval_bytes = ~std::uint64_t{0};         // no checkpoint moves the redo LSN
  return o;
}

// One mini-transaction of the workload: 32 random bytes at a random word of a random page, with
// their logical undo.
absl::Status ReplayMtr(Transaction& txn, const std::vector<PageId>& pages, std::mt19937_64& rng) {
  constexpr std::size_t kWords = (kPagePayloadSize - kReplayChange) / 8;
  const PageId page = pages[rng() % pages.size()];
  const auto offset = static_cast<std::uint16_t>(kPageHeaderSize + 8 * (rng() % kWords));
  MiniTransaction mtr = txn.BeginMtr();
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(page);
  if (!p.ok()) return p.status();
  std::array<std::byte, 10 + kReplayChange> undo;
  std::memcpy(undo.data(), &page, 8);
  std::memcpy(undo.data() + 8, &offset, 2);
  std::memcpy(undo.data() + 10, p->data() + offset, kReplayChange);
  for (std::size_t i = 0; i < kReplayChange; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(p->data() + offset + i, &v, 8);
  }
  mtr.LogUndo(kBytesRm, undo);
  return mtr.Commit().status();
}

void BuildGolden() {
  const Config& c = GetConfig();
  const auto t0 = std::chrono::steady_clock::now();
  auto g = std::make_unique<Golden>();
  g->pages = c.root / "golden.pages";
  g->work = c.root / "replay.pages";
  const fs::path build = c.root / "build.pages";
  {
    absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(build, RecoveryOptions());
    Check(opened.status(), "open the recovery build store");
    Store& store = **opened;
    const std::vector<PageId> pages = AllocatePages(store, static_cast<std::size_t>(c.pages));
    // The redo start: every workload record is replayed (first changes as full page images).
    Check(store.Checkpoint(), "checkpoint the recovery build store");
    std::mt19937_64 rng(c.seed);
    std::unique_ptr<Transaction> open_txn;
    for (std::uint64_t done = 0; done < c.records;) {
      absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
      Check(txn.status(), "begin");
      const std::uint64_t n = std::min<std::uint64_t>(kReplayMtrsPerTxn, c.records - done);
      for (std::uint64_t i = 0; i < n; ++i) Check(ReplayMtr(**txn, pages, rng), "workload");
      done += n;
      if (done < c.records) {
        Check((*txn)->Commit(Durability::kNone), "commit");
      } else {
        open_txn = std::move(*txn);  // active at the crash: recovery undoes it
      }
    }
    Check(store.FlushLog(), "flush the recovery log");
    // The crash: the files as they are now, before the store checkpoints at close.
    CopyStore(build, g->pages);
    open_txn.reset();
  }
  RemoveStoreFiles(build);

  for (const fs::directory_entry& e : fs::directory_iterator(WalDir(g->pages))) {
    std::uint64_t number;
    if (!ParseSegmentFileName(e.path().filename().string(), &number)) continue;
    g->segments.push_back(e.path());
    g->segment_bytes += e.file_size();
  }
  absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(WalDir(g->pages));
  Check(env.status(), "open the crashed log directory");
  g->env = std::move(*env);

  // A first recovery, untimed: it must work, and its report is what the baselines scan.
  CopyStore(g->pages, g->work);
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(g->work, RecoveryOptions());
    Check(store.status(), "recover the crashed store");
    g->report = (*store)->recovery_report();
  }
  RemoveStoreFiles(g->work);
  if (g->report.transactions_undone != 1) {
    Die(fmt::format("recovery undid {} transactions, expected 1: {}", g->report.transactions_undone,
                    g->report.ToString()));
  }
  std::fprintf(stderr, "wal_bench: recovery log built in %.1f s: %llu segment bytes; %s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               static_cast<unsigned long long>(g->segment_bytes), g->report.ToString().c_str());
  g_golden = g.release();
}

void SetUpRecovery(const benchmark::State&) {
  if (g_golden == nullptr) BuildGolden();
}

void RecoveryReplay(benchmark::State& state) {
  const Golden& g = *g_golden;
  const StoreOptions options = RecoveryOptions();
  RecoveryReport report;
  std::int64_t records = 0;
  std::int64_t bytes = 0;
  double recovery_seconds = 0;  // RecoveryReport::duration: Recover() alone
  for (auto _ : state) {
    CopyStore(g.pages, g.work);
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(g.work, options);
    const auto stop = std::chrono::steady_clock::now();
    if (!store.ok()) {
      Fail(state, store.status());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    report = (*store)->recovery_report();
    records += static_cast<std::int64_t>(report.records_scanned);
    bytes += static_cast<std::int64_t>(report.bytes_scanned);
    recovery_seconds += std::chrono::duration<double>(report.duration).count();
    store->reset();
  }
  RemoveStoreFiles(g.work);
  const double iters =
      static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
  state.counters["log_bytes"] = static_cast<double>(report.end_lsn - report.start_lsn);
  state.counters["pages_redone"] = static_cast<double>(report.pages_redone);
  state.counters["page_images"] = static_cast<double>(report.page_images);
  state.counters["txns_undone"] = static_cast<double>(report.transactions_undone);
  state.counters["recover_ms"] = recovery_seconds / iters * 1e3;
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(bytes);
}

void RecoveryRawRead(benchmark::State& state) {
  const Golden& g = *g_golden;
  static std::vector<std::byte> buf;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    for (const fs::path& seg : g.segments) {
      const int fd = ::open(seg.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        state.SkipWithError(fmt::format("{}: open: {}", seg.string(), ErrnoText(errno)).c_str());
        break;
      }
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        ::close(fd);
        state.SkipWithError("fstat failed");
        break;
      }
      buf.resize(static_cast<std::size_t>(st.st_size));
      std::size_t done = 0;
      while (done < buf.size()) {
        const ssize_t n =
            ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(done));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
      if (done != buf.size()) {
        state.SkipWithError("short read of a segment file");
        break;
      }
      bytes += static_cast<std::int64_t>(done);
      benchmark::DoNotOptimize(buf.data());
    }
    if (state.error_occurred()) break;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.report.records_scanned));
  state.SetBytesProcessed(bytes);
}

void RecoveryLogScan(benchmark::State& state) {
  const Golden& g = *g_golden;
  std::int64_t records = 0;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<LogReader>> reader =
        LogReader::Open(g.env.get(), RecoveryMode::kTolerateTail);
    absl::Status s = reader.status();
    if (s.ok()) s = (*reader)->Seek(g.report.start_lsn);
    std::uint64_t n = 0;
    LogRecord rec;
    while (s.ok()) {
      absl::StatusOr<bool> more = (*reader)->Next(&rec);
      if (!more.ok()) s = more.status();
      if (!s.ok() || !*more) break;
      benchmark::DoNotOptimize(rec.payload.data());
      ++n;
    }
    if (s.ok() && n != g.report.records_scanned) {
      s = absl::InternalError(
          fmt::format("scanned {} records, recovery scanned {}", n, g.report.records_scanned));
    }
    if (!s.ok()) {
      Fail(state, s);
      break;
    }
    records += static_cast<std::int64_t>(n);
    bytes += static_cast<std::int64_t>((*reader)->bytes_read());
  }
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(bytes);
}

// ---------------------------------------------------------------------------------------------
// backup/*: Store::Backup of a store of PAGESTORE_BENCH_BACKUP_MB beside a raw copy of its page
// file, and commit latency with and without a backup running.

struct BackupSource {
  std::unique_ptr<Store> store;
  fs::path path;
  PageId counter_page = kInvalidPageId;
  std::uint64_t file_pages = 0;
};
BackupSource* g_backup = nullptr;

void SetUpBackup(const benchmark::State&) {
  if (g_backup != nullptr) return;
  auto b = std::make_unique<BackupSource>();
  b->path = GetConfig().root / "backup_src.pages";
  StoreOptions o = BaseStoreOptions();
  o.pool_frames = 1024;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(b->path, o);
  Check(store.status(), "open the backup source store");
  b->store = std::move(*store);
  // Pages with contents: each allocated page gets a pattern across its payload.
  const std::size_t pages = std::max<std::size_t>(GetConfig().backup_mb * 256, 64);
  for (std::size_t done = 0; done < pages;) {
    MiniTransaction mtr = b->store->BeginMtr();
    for (std::size_t i = 0; i < 64 && done < pages; ++i, ++done) {
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kRaw);
      Check(id.status(), "allocate a backup source page");
      absl::StatusOr<PageSpan> p = mtr.GetForWrite(*id);
      Check(p.status(), "latch a backup source page");
      for (std::size_t off = kPageHeaderSize; off < kPageSize; off += 8) {
        const std::uint64_t v = *id * 0x9E3779B97F4A7C15ull + off;
        std::memcpy(p->data() + off, &v, 8);
      }
      if (b->counter_page == kInvalidPageId) b->counter_page = *id;
    }
    Check(mtr.Commit().status(), "commit backup source pages");
  }
  Check(b->store->Checkpoint(), "checkpoint the backup source");
  b->file_pages = b->store->pool().page_count();
  g_backup = b.release();
}

fs::path BackupDest() { return GetConfig().root / "backup_copy.pages"; }

void BackupStore(benchmark::State& state) {
  std::int64_t pages = 0;
  for (auto _ : state) {
    state.PauseTiming();
    RemoveStoreFiles(BackupDest());
    state.ResumeTiming();
    BackupOptions options;
    absl::StatusOr<BackupResult> r = g_backup->store->Backup(BackupDest(), options);
    if (!r.ok()) {
      Fail(state, r.status());
      break;
    }
    pages += static_cast<std::int64_t>(r->pages);
  }
  RemoveStoreFiles(BackupDest());
  state.SetItemsProcessed(pages);
  state.SetBytesProcessed(pages * static_cast<std::int64_t>(kPageSize));
}

// The baseline: the page file copied by a 1 MiB pread/pwrite loop, then fdatasync'd, with its
// directory fsync'd (what a backup's durability costs at least).
void RawCopy(const fs::path& from, const fs::path& to) {
  static thread_local std::vector<std::byte> buf(1 << 20);
  {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) Die(fmt::format("raw copy: open: {}", ErrnoText(errno)));
    const std::uint64_t bytes = g_backup->file_pages * kPageSize;
    for (std::uint64_t off = 0; off < bytes;) {
      const std::size_t want = std::min<std::uint64_t>(buf.size(), bytes - off);
      const ssize_t n = ::pread(in, buf.data(), want, static_cast<off_t>(off));
      if (n <= 0 ||
          ::pwrite(out, buf.data(), static_cast<std::size_t>(n), static_cast<off_t>(off)) != n) {
        Die(fmt::format("raw copy at offset {}: {}", off, ErrnoText(errno)));
      }
      off += static_cast<std::uint64_t>(n);
    }
    if (::fdatasync(out) != 0) Die(fmt::format("raw copy: fdatasync: {}", ErrnoText(errno)));
    ::close(in);
    ::close(out);
    SyncPath(to.parent_path(), true);
  }
}

void BackupRawCopy(benchmark::State& state) {
  std::int64_t pages = 0;
  const fs::path to = BackupDest();
  for (auto _ : state) {
    state.PauseTiming();
    RemoveStoreFiles(to);
    state.ResumeTiming();
    RawCopy(g_backup->path, to);
    pages += static_cast<std::int64_t>(g_backup->file_pages);
  }
  RemoveStoreFiles(to);
  state.SetItemsProcessed(pages);
  state.SetBytesProcessed(pages * static_cast<std::int64_t>(kPageSize));
}

// backup/commit_*: the latency of durable commits on the backup source, one after another, with
// nothing else running (_idle), during one Store::Backup (_during; _limited: at
// kBackupLimit bytes/s) or one raw copy of the page file (_raw_copy, the physics: what any copy
// of the file costs the commits). Each iteration commits until the copy is done (at least
// kMinCommits; _idle commits kIdleCommits) and reports the commits' p99 as its (manual) time, so
// the report's time ratio of two of them is the ratio of their p99s.
constexpr std::size_t kMinCommits = 200;
constexpr std::size_t kIdleCommits = 1000;
constexpr std::uint64_t kBackupLimit = 256ull << 20;  // commit_during_limited's rate (bytes/s)

enum class Beside { kNothing, kBackup, kLimitedBackup, kRawCopy };

template <Beside kBeside>
void BackupCommitP99(benchmark::State& state) {
  const fs::path dest = GetConfig().root / "backup_during.pages";
  std::vector<double> lat;
  std::size_t commits = 0;
  for (auto _ : state) {
    RemoveStoreFiles(dest);
    std::atomic<bool> done{kBeside == Beside::kNothing};
    std::thread copier;
    if (kBeside != Beside::kNothing) {
      copier = std::thread([&] {
        if (kBeside == Beside::kRawCopy) {
          RawCopy(g_backup->path, dest);
        } else {
          BackupOptions options;
          if (kBeside == Beside::kLimitedBackup) options.max_bytes_per_second = kBackupLimit;
          absl::StatusOr<BackupResult> r = g_backup->store->Backup(dest, options);
          if (!r.ok()) Die(fmt::format("backup during commits: {}", r.status().ToString()));
        }
        done = true;
      });
    }
    lat.clear();
    while (!done.load() ||
           lat.size() < (kBeside == Beside::kNothing ? kIdleCommits : kMinCommits)) {
      const auto t0 = std::chrono::steady_clock::now();
      if (absl::Status s = CommitOne(*g_backup->store, g_backup->counter_page, Durability::kSync);
          !s.ok()) {
        Die(fmt::format("commit during backup: {}", s.ToString()));
      }
      lat.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (copier.joinable()) copier.join();
    commits += lat.size();
    std::sort(lat.begin(), lat.end());
    const double p99 = lat[static_cast<std::size_t>(0.99 * static_cast<double>(lat.size() - 1))];
    state.SetIterationTime(p99);
    state.counters["p50_us"] = lat[lat.size() / 2] * 1e6;
    state.counters["p99_us"] = p99 * 1e6;
  }
  RemoveStoreFiles(dest);
  state.counters["commits_per_iteration"] =
      static_cast<double>(commits) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// Registration and shutdown.

void RegisterAll() {
  const Config& c = GetConfig();
  // Each commit waits for the disk: a fixed time budget per run keeps the quick run quick.
  auto commit = [&c](const std::string& name, void (*fn)(benchmark::State&), bench::Setup setup,
                     int threads) {
    benchmark::internal::Benchmark* b = Register(name.c_str(), fn, setup)
                                            ->MinTime(c.sync_min_time)
                                            ->UseRealTime()
                                            ->Unit(benchmark::kMicrosecond);
    if (threads > 0) b->Threads(threads);
  };
  commit("commit/raw_fdatasync", CommitRawFdatasync, SetUpRawSync, 0);
  commit("commit/sync", CommitLoop<Durability::kSync>, SetUpCommit, 0);
  for (int n = 1; n <= kMaxCommitThreads; n *= 2) {
    commit(fmt::format("commit_group/threads:{}", n), CommitLoop<Durability::kGroup>, SetUpCommit,
           n);
  }

  Register("append/throughput", AppendThroughput, SetUpAppend)->UseRealTime();
  Register("append/raw_memcpy", AppendRawMemcpy, SetUpMemcpy)->UseRealTime();

  Register("backup/store", BackupStore, SetUpBackup)->UseRealTime()->Unit(benchmark::kMillisecond);
  Register("backup/raw_copy", BackupRawCopy, SetUpBackup)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  Register("backup/commit_idle", BackupCommitP99<Beside::kNothing>, SetUpBackup)
      ->UseManualTime()
      ->Iterations(2)
      ->Unit(benchmark::kMicrosecond);
  Register("backup/commit_during", BackupCommitP99<Beside::kBackup>, SetUpBackup)
      ->UseManualTime()
      ->Iterations(2)
      ->Unit(benchmark::kMicrosecond);
  Register("backup/commit_during_limited", BackupCommitP99<Beside::kLimitedBackup>, SetUpBackup)
      ->UseManualTime()
      ->Iterations(2)
      ->Unit(benchmark::kMicrosecond);
  Register("backup/commit_during_raw_copy", BackupCommitP99<Beside::kRawCopy>, SetUpBackup)
      ->UseManualTime()
      ->Iterations(2)
      ->Unit(benchmark::kMicrosecond);

  Register("recovery/replay", RecoveryReplay, SetUpRecovery)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  Register("recovery/raw_read", RecoveryRawRead, SetUpRecovery)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  Register("recovery/log_scan", RecoveryLogScan, SetUpRecovery)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// Closes everything opened (the stores checkpoint) and deletes the benchmark directory.
void Shutdown() {
  if (g_backup != nullptr) {
    if (absl::Status s = g_backup->store->Close(); !s.ok()) {
      std::fprintf(stderr, "wal_bench: closing the backup store: %s\n", s.ToString().c_str());
    }
    delete g_backup;
    g_backup = nullptr;
  }
  if (g_commit != nullptr) {
    if (absl::Status s = g_commit->store->Close(); !s.ok()) {
      std::fprintf(stderr, "wal_bench: closing the commit store: %s\n", s.ToString().c_str());
    }
    delete g_commit;
    g_commit = nullptr;
  }
  delete g_append;
  g_append = nullptr;
  if (g_raw != nullptr) ::close(g_raw->fd);
  delete g_raw;
  g_raw = nullptr;
  delete g_golden;
  g_golden = nullptr;
  delete g_memcpy_buffer;
  g_memcpy_buffer = nullptr;
  bench::RemoveTempRoot(GetConfig().root);
}

}  // namespace
}  // namespace pagestore

namespace pagestore::bench {

Program ThisProgram() {
  return {
      .start = [] { MakeTempRoot(GetConfig().root); },
      .context =
          [] {
            const Config& c = GetConfig();
            return Context()
                .Add("pagestore_bench_dir", c.dir.string())
                .Add("pagestore_bench_sync_min_time", c.sync_min_time)
                .Add("pagestore_bench_wal_records", c.records)
                .Add("pagestore_bench_wal_pages", c.pages)
                .Add("pagestore_bench_wal_append_bytes", c.append_bytes)
                .Add("pagestore_bench_seed", c.seed)
                .Add("pagestore_bench_backup_mb", c.backup_mb);
          },
      .register_benchmarks = RegisterAll,
      .finish =
          [] {
            Shutdown();
            return true;
          },
  };
}

}  // namespace pagestore::bench
