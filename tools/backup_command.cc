// pagestore backup SRC DST: a consistent copy of a store (Store::Backup). The tool opens SRC
// itself, recovering it as an engine would: a store another process has open is locked, so an
// online backup beside a running engine is the engine's own call to Store::Backup. DST must not
// exist; the copy opens as a store (its first open recovers it to the backup's end).
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>

#include "tools/command.h"
#include "tools/inspect.h"
#include "tools/json.h"

namespace pagestore::tools {
namespace {

struct BackupArgs {
  std::string source;
  std::string dest;
  bool json = false;
};

int RunBackup(const BackupArgs& args) {
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenStore(args.source);
  if (!opened.ok()) return CannotRun("backup", opened.status());
  absl::StatusOr<BackupResult> r = (*opened)->Backup(args.dest);
  if (!r.ok()) return CannotRun("backup", r.status());
  if (absl::Status s = (*opened)->Close(); !s.ok()) return CannotRun("backup", s);
  const double seconds = std::chrono::duration<double>(r->duration).count();
  const double mib = static_cast<double>(r->pages * kPageSize + r->log_bytes) / (1 << 20);
  if (args.json) {
    Json j;
    j.BeginObject()
        .Field("source", args.source)
        .Field("dest", args.dest)
        .Field("pages", r->pages)
        .Field("log_bytes", r->log_bytes)
        .Field("checkpoint_lsn", r->checkpoint_lsn)
        .Field("end_lsn", r->end_lsn)
        .Field("pages_reread", r->pages_reread)
        .Field("damaged_pages", static_cast<std::uint64_t>(r->damaged_pages.size()))
        .Field("seconds", seconds)
        .EndObject();
    fmt::print("{}", j.str());
  } else {
    fmt::print(
        "backup of {} to {}: {} pages and {} log bytes ({:.1f} MiB) in {:.3f} s; the copy "
        "recovers from the checkpoint at LSN {} to LSN {}\n",
        args.source, args.dest, r->pages, r->log_bytes, mib, seconds, r->checkpoint_lsn,
        r->end_lsn);
    if (!r->damaged_pages.empty()) {
      fmt::print("{} pages fail their checksum in the source too; the first is page {}\n",
                 r->damaged_pages.size(), r->damaged_pages.front());
    }
  }
  return r->damaged_pages.empty() ? kExitOk : kExitCorrupt;
}

}  // namespace

void AddBackupCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* cmd = app.add_subcommand(
      "backup",
      "A consistent copy of a store to DST (and DST-wal), through Store::Backup. The tool opens "
      "SRC itself, so it cannot run beside an engine that has SRC open (the file is locked); an "
      "engine backs up online with Store::Backup");
  cmd->add_option("SRC", args->source, "The store's page file")->required();
  cmd->add_option("DST", args->dest, "The copy's page file (must not exist)")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunBackup(*args); }; });
}

}  // namespace pagestore::tools
