// pagestore info FILE: the superblocks (both copies, which is current), the format, page
// counts, the free list and the catalog, read from the file as it is (no recovery, nothing
// written): what the last checkpoint recorded.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "index/catalog.h"
#include "tools/command.h"
#include "tools/inspect.h"
#include "tools/json.h"

namespace pagestore::tools {
namespace {

struct InfoArgs {
  std::string file;
  bool json = false;
};

int RunInfo(const InfoArgs& args) {
  absl::StatusOr<RawFile> f = OpenRaw(args.file);
  if (!f.ok()) return CannotRun("info", f.status());
  const Superblock& sb = f->superblock;
  absl::StatusOr<FreeList> free = ReadFreeList(*f->disk, sb.roots.free_list_head);
  absl::StatusOr<std::vector<IndexInfo>> indexes = ReadCatalog(*f->disk, sb.roots.catalog_root);
  if (args.json) {
    Json j;
    j.BeginObject().Field("file", f->path).Field("bytes", f->bytes);
    j.Key("superblocks").BeginArray();
    for (int c = 0; c < 2; ++c) {
      j.BeginObject().Field("copy", c).Field("current", c == f->current);
      if (f->copies[c].ok()) {
        j.Field("valid", true)
            .Field("sequence", f->copies[c]->sequence)
            .Field("page_count", f->copies[c]->page_count)
            .Field("checkpoint_lsn", f->copies[c]->roots.checkpoint_lsn);
      } else {
        j.Field("valid", false).Field("error", Msg(f->copies[c].status()));
      }
      j.EndObject();
    }
    j.EndArray();
    j.Field("format_version", sb.format_version)
        .Field("page_size", sb.page_size)
        .Field("page_count", sb.page_count)
        .Field("checkpoint_lsn", sb.roots.checkpoint_lsn)
        .Field("free_list_head", sb.roots.free_list_head)
        .Field("catalog_root", sb.roots.catalog_root);
    if (free.ok()) {
      j.Field("free_pages", static_cast<std::uint64_t>(free->pages.size()))
          .Field("free_list_trunk_pages", static_cast<std::uint64_t>(free->trunks.size()));
    } else {
      j.Field("free_list_error", Msg(free.status()));
    }
    if (indexes.ok()) {
      j.Key("indexes").BeginArray();
      for (const IndexInfo& i : *indexes) {
        j.BeginObject()
            .Field("name", i.name)
            .Field("kind", IndexKindName(i.kind))
            .Field("anchor", i.anchor)
            .EndObject();
      }
      j.EndArray();
    } else {
      j.Field("catalog_error", Msg(indexes.status()));
    }
    j.EndObject();
    fmt::print("{}", j.str());
    return kExitOk;
  }
  fmt::print("file: {} ({} bytes)\n", f->path, f->bytes);
  for (int c = 0; c < 2; ++c) {
    if (f->copies[c].ok()) {
      fmt::print("superblock copy {}: sequence {}, {} pages, checkpoint LSN {}{}\n", c,
                 f->copies[c]->sequence, f->copies[c]->page_count,
                 f->copies[c]->roots.checkpoint_lsn, c == f->current ? " (current)" : "");
    } else {
      fmt::print("superblock copy {}: invalid: {}\n", c, Msg(f->copies[c].status()));
    }
  }
  fmt::print("format version: {}\npage size: {}\npages: {}\ncheckpoint LSN: {}\n",
             sb.format_version, sb.page_size, sb.page_count, sb.roots.checkpoint_lsn);
  if (free.ok()) {
    fmt::print("free pages: {} (listed in {} trunk pages from page {})\n", free->pages.size(),
               free->trunks.size(), sb.roots.free_list_head);
  } else {
    fmt::print("free pages: unreadable: {}\n", Msg(free.status()));
  }
  if (!indexes.ok()) {
    fmt::print("catalog (root {}): unreadable: {}\n", sb.roots.catalog_root, Msg(indexes.status()));
  } else if (sb.roots.catalog_root == kInvalidPageId) {
    fmt::print("catalog: none\n");
  } else {
    fmt::print("catalog (root {}): {} indexes\n", sb.roots.catalog_root, indexes->size());
    for (const IndexInfo& i : *indexes) {
      fmt::print("  {:<6} {:<24} anchor {}\n", IndexKindName(i.kind), Escape(i.name), i.anchor);
    }
  }
  return kExitOk;
}

}  // namespace

void AddInfoCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "The superblocks (both copies, which is current), format, page counts, free list and "
      "catalog, as the last checkpoint left them (nothing is recovered or written)");
  cmd->add_option("FILE", args->file, "The store's page file")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunInfo(*args); }; });
}

}  // namespace pagestore::tools
