// pagestore compact SRC DST [--fill F]: the offline compaction. Rewrites every index of SRC into
// a new store DST (RewriteIndexes: B+trees rebuilt by bulk load at the fill given, hash indexes
// by inserting their entries), so DST holds the same data in as few pages as the fill allows.
// DST is built as DST.incomplete and renamed once closed (its log first, its page file last), so
// an interrupted run leaves no DST. SRC is opened (and recovered) as an engine would, and is
// not changed otherwise.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "index/rewrite.h"
#include "tools/command.h"
#include "tools/inspect.h"
#include "tools/json.h"

namespace pagestore::tools {
namespace {

namespace fs = std::filesystem;

struct CompactArgs {
  std::string source;
  std::string dest;
  double fill = 0.9;
  bool json = false;
};

absl::Status SyncDir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::InternalError(
        fmt::format("{}: fsync of the directory: {}", dir.string(), std::strerror(err)));
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status RemoveStore(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (!ec) fs::remove_all(path + "-wal", ec);
  if (ec) return absl::InternalError(fmt::format("{}: cannot remove: {}", path, ec.message()));
  return absl::OkStatus();
}

// Renames the store at `from` (page file and log directory) to `to`: the log first, the page
// file last (the name that says the copy is whole), each made durable.
absl::Status RenameStore(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from + "-wal", to + "-wal", ec);
  if (!ec) fs::rename(from, to, ec);
  if (ec) return absl::InternalError(fmt::format("rename {} to {}: {}", from, to, ec.message()));
  return SyncDir(fs::path(to).parent_path());
}

int RunCompact(const CompactArgs& args) {
  if (!(args.fill >= 0.5 && args.fill <= 1.0)) {
    return CannotRun("compact", absl::InvalidArgumentError(
                                    fmt::format("--fill {} is outside 0.5..1.0", args.fill)));
  }
  if (fs::exists(args.dest)) {
    return CannotRun("compact",
                     absl::AlreadyExistsError(fmt::format(
                         "{} exists; give a new name for the compacted store", args.dest)));
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Store>> source = OpenStore(args.source);
  if (!source.ok()) return CannotRun("compact", source.status());
  // What an interrupted run left is not a store anyone named.
  const std::string temp = args.dest + ".incomplete";
  if (absl::Status s = RemoveStore(temp); !s.ok()) return CannotRun("compact", s);
  // A log directory at DST-wal without DST may be another store's: never removed.
  if (std::error_code ec; fs::exists(args.dest + "-wal") && !fs::is_empty(args.dest + "-wal", ec)) {
    return CannotRun("compact", absl::FailedPreconditionError(fmt::format(
                                    "{}-wal exists and is not empty; remove it or give another "
                                    "name",
                                    args.dest)));
  }
  StoreOptions options = ToolStoreOptions();
  options.disk.mode = OpenMode::kCreate;
  absl::StatusOr<std::unique_ptr<Store>> dest = Store::Open(temp, options);
  if (!dest.ok()) return CannotRun("compact", dest.status());
  RewriteOptions rewrite;
  rewrite.fill = args.fill;
  absl::StatusOr<RewriteReport> r = RewriteIndexes(**source, **dest, rewrite);
  absl::Status s = r.status();
  if (s.ok()) s = (*dest)->Close();
  dest->reset();
  if (s.ok()) s = (*source)->Close();
  if (s.ok()) s = RenameStore(temp, args.dest);
  if (!s.ok()) {
    (void)RemoveStore(temp);
    return CannotRun("compact", s);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uintmax_t before = fs::file_size(args.source), after = fs::file_size(args.dest);
  if (args.json) {
    Json j;
    j.BeginObject()
        .Field("source", args.source)
        .Field("dest", args.dest)
        .Field("indexes", r->indexes)
        .Field("entries", r->entries)
        .Field("source_pages", r->source_pages)
        .Field("dest_pages", r->dest_pages)
        .Field("source_bytes", static_cast<std::uint64_t>(before))
        .Field("dest_bytes", static_cast<std::uint64_t>(after))
        .Field("fill", args.fill)
        .Field("seconds", seconds)
        .EndObject();
    fmt::print("{}", j.str());
  } else {
    fmt::print(
        "compacted {} ({} pages, {} bytes) into {} ({} pages, {} bytes): {} indexes, {} "
        "entries, fill {:.2f}, in {:.3f} s\n",
        args.source, r->source_pages, before, args.dest, r->dest_pages, after, r->indexes,
        r->entries, args.fill, seconds);
  }
  return kExitOk;
}

}  // namespace

void AddCompactCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<CompactArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compact",
      "Rewrites a store densely into a new one: every index copied, B+trees rebuilt by bulk load "
      "at --fill, hash indexes by insertion (offline: the tool opens SRC itself; B+trees are "
      "rebuilt in bytewise key order)");
  cmd->add_option("SRC", args->source, "The store's page file")->required();
  cmd->add_option("DST", args->dest, "The compacted store's page file (must not exist)")
      ->required();
  cmd->add_option("--fill", args->fill, "B+tree node fill, 0.5 to 1.0 (default 0.9)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunCompact(*args); }; });
}

}  // namespace pagestore::tools
