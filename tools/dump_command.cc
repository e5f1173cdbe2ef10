// pagestore dump-page FILE ID [--hex]: one page's header and its contents decoded by page type
// (B+tree anchor and nodes, hash index anchor, directory, buckets and overflow pages, free-list
// trunks, superblock copies), read from the file as it is. A page whose checksum fails is still
// decoded, marked as such; so every offset, length and count read from the page is checked
// against the page first, and what does not fit is shown as "(malformed: ...)", never read.
// pagestore dump-wal DIR [--from LSN] [--to LSN] [--stats]: one line per log record (LSN,
// transaction, type, length, the pages it changes) like pg_waldump; --stats gives counts and
// bytes by record type and by mini-transaction entry kind. Stops with a clear message at the
// first invalid record: a torn tail (no valid record after it, at the end of the last segment)
// is where the log ends (exit 0); anything else is damage (exit 1).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tools/command.h"
#include "tools/dump.h"
#include "tools/inspect.h"
#include "wal/log_env.h"

namespace pagestore::tools {
namespace {

// ---------------------------------------------------------------------------------------------
// dump-page

struct DumpPageArgs {
  std::string file;
  std::string id;  // parsed by ParseUnsigned: CLI11 would wrap "-1"
  bool hex = false;
  bool json = false;
};

int RunDumpPage(const DumpPageArgs& args) {
  const absl::StatusOr<std::uint64_t> parsed = ParseUnsigned("the page id", args.id);
  if (!parsed.ok()) return CannotRun("dump-page", parsed.status());
  const PageId id = *parsed;
  absl::StatusOr<RawFile> f = OpenRaw(args.file);
  if (!f.ok()) return CannotRun("dump-page", f.status());
  if (id >= f->superblock.page_count) {
    return CannotRun("dump-page",
                     absl::OutOfRangeError(fmt::format("{}: page {} is beyond the file's {} pages",
                                                       args.file, id, f->superblock.page_count)));
  }
  std::vector<std::byte> page(kPageSize);
  absl::Status read;
  if (id < kFirstDataPage) {
    // Superblock copies are read raw (the disk manager refuses them as pages).
    std::FILE* fp = std::fopen(args.file.c_str(), "rb");
    if (fp == nullptr || std::fseek(fp, static_cast<long>(id * kPageSize), SEEK_SET) != 0 ||
        std::fread(page.data(), 1, kPageSize, fp) != kPageSize) {
      if (fp != nullptr) std::fclose(fp);
      return CannotRun("dump-page", absl::UnavailableError(
                                        fmt::format("{}: cannot read page {}", args.file, id)));
    }
    std::fclose(fp);
    read = f->copies[id].status();
  } else {
    read = f->disk->ReadPage(id, PageSpan(page.data(), kPageSize));
    if (!read.ok() && !absl::IsDataLoss(read)) return CannotRun("dump-page", read);
  }
  PrintDumpPage(stdout, *f, id, ConstPageSpan(page.data(), kPageSize), read, args.hex, args.json);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// dump-wal

struct DumpWalArgs {
  std::string dir;
  std::optional<std::string> from, to;  // parsed by ParseUnsigned: CLI11 would wrap "-5"
  bool stats = false;
  bool json = false;
};

int RunDumpWal(const DumpWalArgs& args) {
  std::optional<Lsn> from, to;
  for (auto [name, text, out] :
       {std::tuple{"--from", &args.from, &from}, std::tuple{"--to", &args.to, &to}}) {
    if (!text->has_value()) continue;
    const absl::StatusOr<std::uint64_t> v = ParseUnsigned(name, **text);
    if (!v.ok()) return CannotRun("dump-wal", v.status());
    *out = *v;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(args.dir, ec)) {
    return CannotRun(
        "dump-wal", absl::NotFoundError(
                        fmt::format("{}: not a directory (a store's log is FILE-wal/)", args.dir)));
  }
  absl::StatusOr<std::unique_ptr<LogEnv>> env = OpenPosixLogEnv(args.dir);
  if (!env.ok()) return CannotRun("dump-wal", env.status());
  DumpWalOptions options;
  options.dir = args.dir;
  options.from = from;
  options.to = to;
  options.stats = args.stats;
  options.json = args.json;
  const absl::StatusOr<int> status = DumpWal(stdout, **env, options);
  if (!status.ok()) return CannotRun("dump-wal", status.status());
  return *status;
}

}  // namespace

void AddDumpPageCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<DumpPageArgs>();
  CLI::App* cmd = app.add_subcommand(
      "dump-page",
      "One page's header and contents decoded by its type, read from the file as "
      "it is (a page failing its checksum is still shown, marked invalid)");
  cmd->add_option("FILE", args->file, "The store's page file")->required();
  cmd->add_option("ID", args->id,
                  "The page number, a non-negative integer (0 and 1 are the superblock copies)")
      ->required();
  cmd->add_flag("--hex", args->hex, "Add a hex dump of the page (runs of zero lines as *)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunDumpPage(*args); }; });
}

void AddDumpWalCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<DumpWalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "dump-wal",
      "The log's records, one per line (LSN, transaction, type, length, previous LSN, pages "
      "changed), stopping with a message at the first invalid record (exit 1 when valid records "
      "follow it: damage, not a torn tail)");
  cmd->add_option("DIR", args->dir, "The log directory (a store's is FILE-wal/)")->required();
  cmd->add_option("--from", args->from,
                  "First LSN to show: where a record starts, or the log's end (an LSN before the "
                  "oldest segment: its first record)");
  cmd->add_option("--to", args->to, "Last LSN to show");
  cmd->add_flag("--stats", args->stats,
                "Counts and bytes by record type and by mini-transaction entry kind instead");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunDumpWal(*args); }; });
}

}  // namespace pagestore::tools
