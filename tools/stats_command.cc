// pagestore stats FILE: per index (entries, depth, pages by type, average fill, payload bytes
// against the bytes of its pages) and for the file (pages by type, free pages), after recovering
// the store as an engine would: the mdb_stat / sqlite3_analyzer kind of view.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "tools/command.h"
#include "tools/inspect.h"
#include "tools/json.h"

namespace pagestore::tools {
namespace {

struct StatsArgs {
  std::string file;
  bool json = false;
};

struct IndexReport {
  IndexInfo info;
  std::uint64_t entries = 0;
  std::uint32_t depth = 0;  // B+tree: levels above the leaves; hash: global depth
  double fill = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t large_values = 0;  // values stored out of line (in "value" pages)
  std::uint64_t pages = 0;
  std::map<std::string, std::uint64_t> pages_by_type;
};

absl::StatusOr<std::map<std::string, std::uint64_t>> CountTypes(Store& store,
                                                                const std::vector<PageId>& ids) {
  std::map<std::string, std::uint64_t> out;
  for (PageId id : ids) {
    absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(id);
    if (!g.ok()) return g.status();
    ++out[std::string(PageTypeName(static_cast<PageType>(ReadPageHeader(g->data()).type)))];
  }
  return out;
}

int RunStats(const StatsArgs& args) {
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenStore(args.file);
  if (!opened.ok()) return CannotRun("stats", opened.status());
  Store& store = **opened;
  std::vector<IndexReport> reports;
  if (store.catalog_root() != kInvalidPageId) {
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
    absl::StatusOr<std::vector<IndexInfo>> list =
        catalog.ok() ? (*catalog)->List() : catalog.status();
    if (!list.ok()) return CannotRun("stats", list.status());
    IndexInfo catalog_info{"(catalog)", IndexKind::kBTree, store.catalog_root()};
    list->insert(list->begin(), catalog_info);
    for (const IndexInfo& info : *list) {
      IndexReport r;
      r.info = info;
      std::vector<PageId> pages;
      if (info.kind == IndexKind::kBTree) {
        absl::StatusOr<std::unique_ptr<BTree>> t = BTree::Open(store, info.anchor);
        if (!t.ok()) return CannotRun("stats", t.status());
        absl::StatusOr<BTreeStats> s = (*t)->Stats(&pages);
        if (!s.ok()) return CannotRun("stats", s.status());
        r.entries = s->entries;
        r.depth = s->height;
        r.fill = s->average_fill;
        r.payload_bytes = s->payload_bytes;
        r.large_values = s->large_values;
      } else {
        absl::StatusOr<std::unique_ptr<HashIndex>> h = HashIndex::Open(store, info.anchor);
        if (!h.ok()) return CannotRun("stats", h.status());
        absl::StatusOr<HashIndexStats> s = (*h)->Stats(&pages);
        if (!s.ok()) return CannotRun("stats", s.status());
        r.entries = s->entries;
        r.depth = s->global_depth;
        r.fill = s->average_fill;
        r.payload_bytes = s->payload_bytes;
        r.large_values = s->large_values;
      }
      r.pages = pages.size();
      absl::StatusOr<std::map<std::string, std::uint64_t>> types = CountTypes(store, pages);
      if (!types.ok()) return CannotRun("stats", types.status());
      r.pages_by_type = std::move(*types);
      reports.push_back(std::move(r));
    }
  }
  // The whole file: pages by type; free pages are not read (their bytes are not data).
  const std::vector<PageId> free_list = store.FreePages();
  const absl::flat_hash_set<PageId> free(free_list.begin(), free_list.end());
  const PageId page_count = store.pool().page_count();
  std::vector<PageId> live;
  for (PageId id = kFirstDataPage; id < page_count; ++id) {
    if (!free.contains(id)) live.push_back(id);
  }
  absl::StatusOr<std::map<std::string, std::uint64_t>> file_types = CountTypes(store, live);
  if (!file_types.ok()) return CannotRun("stats", file_types.status());
  (*file_types)["superblock"] = kFirstDataPage;
  std::uint64_t free_pages = 0;
  for (PageId id : free_list) free_pages += id < page_count ? 1 : 0;
  (*file_types)["free"] = free_pages;
  // Free pages at the end of the file: what a checkpoint with StoreOptions::truncate_free_tail
  // gives back. A compaction (Store::Compact) moves the live pages out of the free ones' way and
  // gives back every free page.
  std::uint64_t tail_free = 0;
  for (PageId id = page_count; id > kFirstDataPage && free.contains(id - 1); --id) ++tail_free;
  if (absl::Status s = store.Close(); !s.ok()) return CannotRun("stats", s);

  if (args.json) {
    Json j;
    j.BeginObject().Field("file", args.file).Field("page_count", page_count);
    j.Field("free_pages", free_pages)
        .Field("free_pages_at_tail", tail_free)
        .Field("compaction_would_return_bytes", free_pages * kPageSize);
    j.Key("pages_by_type").BeginObject();
    for (const auto& [type, n] : *file_types) j.Field(type, n);
    j.EndObject();
    j.Key("indexes").BeginArray();
    for (const IndexReport& r : reports) {
      j.BeginObject()
          .Field("name", r.info.name)
          .Field("kind", IndexKindName(r.info.kind))
          .Field("anchor", r.info.anchor)
          .Field("entries", r.entries)
          .Field("depth", r.depth)
          .Field("pages", r.pages)
          .Field("average_fill", r.fill)
          .Field("payload_bytes", r.payload_bytes)
          .Field("large_values", r.large_values)
          .Field("overhead_bytes", r.pages * kPageSize - r.payload_bytes);
      j.Key("pages_by_type").BeginObject();
      for (const auto& [type, n] : r.pages_by_type) j.Field(type, n);
      j.EndObject().EndObject();
    }
    j.EndArray().EndObject();
    fmt::print("{}", j.str());
    return kExitOk;
  }
  fmt::print("file: {}: {} pages ({} free, {} of them at the end of the file)\n", args.file,
             page_count, free_pages, tail_free);
  fmt::print("  a compaction would return {} pages ({} bytes); truncating the tail, {} pages\n",
             free_pages, free_pages * kPageSize, tail_free);
  for (const auto& [type, n] : *file_types) fmt::print("  {:<16} {:>10} pages\n", type, n);
  for (const IndexReport& r : reports) {
    fmt::print("{} {} (anchor {}):\n", IndexKindName(r.info.kind), Escape(r.info.name),
               r.info.anchor);
    fmt::print("  entries {}{}, {} {}, {} pages, average fill {:.1f}%\n", r.entries,
               r.large_values == 0 ? std::string()
                                   : fmt::format(" ({} with large values)", r.large_values),
               r.info.kind == IndexKind::kBTree ? "height" : "global depth", r.depth, r.pages,
               100 * r.fill);
    const std::uint64_t bytes = r.pages * kPageSize;
    fmt::print("  payload {} bytes of {} ({:.1f}%), overhead {} bytes\n", r.payload_bytes, bytes,
               bytes == 0 ? 0.0 : 100.0 * static_cast<double>(r.payload_bytes) / bytes,
               bytes - r.payload_bytes);
    for (const auto& [type, n] : r.pages_by_type) fmt::print("  {:<16} {:>10} pages\n", type, n);
  }
  return kExitOk;
}

}  // namespace

void AddStatsCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "Per index: entries, depth, pages by type, average fill, payload against overhead; for the "
      "file: pages by type, free pages, those at the end of the file and what a compaction would "
      "return (recovers the store first, as an engine would)");
  cmd->add_option("FILE", args->file, "The store's page file (its log is FILE-wal/)")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunStats(*args); }; });
}

}  // namespace pagestore::tools
