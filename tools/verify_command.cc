// pagestore verify FILE: opens the store as an engine would (recovering from its log first),
// then checks every page's checksum, both superblock copies, every index's structure
// (BTree::Verify, HashIndex::Verify), that the free list and the indexes share no page and that
// no page is reachable twice. --read-only inspects the file as it is, without recovering:
// superblocks, checksums, the free list and the catalog, but not the indexes' structure.
// One line per problem, then a summary. Exit 0 clean, 1 corruption found, 2 could not run.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "tools/command.h"
#include "tools/inspect.h"
#include "tools/json.h"

namespace pagestore::tools {
namespace {

struct VerifyArgs {
  std::string file;
  bool read_only = false;
  bool json = false;
};

struct Problem {
  std::optional<PageId> page;
  std::string kind;
  std::string message;
};

struct Report {
  std::vector<Problem> problems;
  std::vector<PageId> leaked;  // neither free nor in an index (a crash mid-build leaves some)
  std::uint64_t pages_scanned = 0;
  absl::flat_hash_set<PageId> bad_pages;
  std::uint64_t indexes_verified = 0;
  bool recovered = false;
  void Add(std::optional<PageId> page, std::string kind, std::string message) {
    if (page) bad_pages.insert(*page);
    problems.push_back({page, std::move(kind), std::move(message)});
  }
};

// A progress line on a terminal for files of more than a few thousand pages.
class Progress {
 public:
  explicit Progress(std::uint64_t total)
      : total_(total), on_(total > 4096 && ::isatty(STDERR_FILENO) == 1) {}
  ~Progress() {
    if (on_ && shown_) std::fprintf(stderr, "\r%60s\r", "");
  }
  void Update(std::uint64_t done) {
    if (!on_) return;
    const std::uint64_t percent = done * 100 / total_;
    if (shown_ && percent == last_) return;
    last_ = percent;
    shown_ = true;
    std::fprintf(stderr, "\rverify: %llu / %llu pages (%llu%%)",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 static_cast<unsigned long long>(percent));
    std::fflush(stderr);
  }

 private:
  const std::uint64_t total_;
  const bool on_;
  bool shown_ = false;
  std::uint64_t last_ = 0;
};

// The page number a status names ("... page 17 ..."), if any: problems are keyed by page.
std::optional<PageId> PageNamed(const absl::Status& s) {
  const std::string m = Msg(s);
  const std::size_t at = m.find("page ");
  if (at == std::string_view::npos) return std::nullopt;
  PageId id = 0;
  std::size_t i = at + 5;
  if (i >= m.size() || m[i] < '0' || m[i] > '9') return std::nullopt;
  for (; i < m.size() && m[i] >= '0' && m[i] <= '9'; ++i) id = id * 10 + (m[i] - '0');
  return id;
}

void CheckSuperblocks(const RawFile& f, Report& r) {
  for (int c = 0; c < 2; ++c) {
    if (!f.copies[c].ok()) {
      r.Add(static_cast<PageId>(c), "superblock",
            fmt::format("superblock copy {} is invalid: {}", c, Msg(f.copies[c].status())));
    }
  }
}

// Every page of the file read and checked, but those listed free (a free page's bytes are not
// data: it may never have been written).
template <typename ReadFn>
void ScanPages(PageId page_count, const absl::flat_hash_set<PageId>& free, ReadFn read, Report& r) {
  Progress progress(page_count);
  for (PageId id = kFirstDataPage; id < page_count; ++id) {
    progress.Update(id + 1);
    if (free.contains(id)) continue;
    ++r.pages_scanned;
    if (absl::Status s = read(id); !s.ok()) r.Add(id, "checksum", Msg(s));
  }
}

void VerifyRecovered(Store& store, Report& r) {
  r.recovered = true;
  // What recovery itself saw: a bad stretch at the log's end that it took for a torn write (it
  // cannot tell that from damage to the last records, so it is reported), and anything the
  // engine's skip_damaged mode passed over.
  const RecoveryReport& rec = store.recovery_report();
  if (rec.damaged_tail_lsn != kInvalidLsn) {
    r.Add(std::nullopt, "log",
          fmt::format("recovery dropped the log from LSN {} ({}): a write torn by a crash, or "
                      "damage to the last records (commits there are lost)",
                      rec.damaged_tail_lsn, rec.damage));
  }
  for (const std::string& what : rec.skipped) r.Add(std::nullopt, "recovery", what);
  // Every index's structure, and which pages it owns.
  absl::flat_hash_map<PageId, std::string> owner;
  auto own = [&](const std::vector<PageId>& pages, const std::string& name) {
    for (PageId id : pages) {
      auto [it, fresh] = owner.try_emplace(id, name);
      if (!fresh) {
        r.Add(id, "reachable-twice",
              fmt::format("page {} is reachable twice: from {} and from {}", id, it->second, name));
      }
    }
  };
  const PageId catalog_root = store.catalog_root();
  if (catalog_root != kInvalidPageId) {
    absl::StatusOr<std::unique_ptr<BTree>> catalog_tree = BTree::Open(store, catalog_root);
    std::vector<PageId> pages;
    absl::Status s =
        catalog_tree.ok() ? (*catalog_tree)->Stats(&pages).status() : catalog_tree.status();
    if (!s.ok()) {
      r.Add(PageNamed(s), "catalog", Msg(s));
    } else {
      own(pages, "the catalog");
      absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
      absl::StatusOr<std::vector<IndexInfo>> list =
          catalog.ok() ? (*catalog)->List() : catalog.status();
      if (!list.ok()) {
        r.Add(PageNamed(list.status()), "catalog", Msg(list.status()));
      } else {
        for (const IndexInfo& info : *list) {
          const std::string name = fmt::format("index '{}'", Escape(info.name));
          std::vector<PageId> index_pages;
          absl::Status v;
          if (info.kind == IndexKind::kBTree) {
            absl::StatusOr<std::unique_ptr<BTree>> t = BTree::Open(store, info.anchor);
            v = t.ok() ? (*t)->Stats(&index_pages).status() : t.status();
          } else {
            absl::StatusOr<std::unique_ptr<HashIndex>> h = HashIndex::Open(store, info.anchor);
            v = h.ok() ? (*h)->Stats(&index_pages).status() : h.status();
          }
          if (!v.ok()) {
            r.Add(PageNamed(v), "index", fmt::format("{}: {}", name, Msg(v)));
            continue;
          }
          ++r.indexes_verified;
          own(index_pages, name);
        }
      }
    }
  }
  // The free list shares no page with an index.
  const std::vector<PageId> free_list = store.FreePages();
  const absl::flat_hash_set<PageId> free(free_list.begin(), free_list.end());
  for (PageId id : free_list) {
    if (auto it = owner.find(id); it != owner.end()) {
      r.Add(id, "free-and-used",
            fmt::format("page {} is on the free list and in {}", id, it->second));
    }
  }
  // Every other page's checksum (through the pool: read and verified on a miss).
  const PageId page_count = store.pool().page_count();
  ScanPages(
      page_count, free,
      [&](PageId id) -> absl::Status {
        absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(id);
        if (!g.ok()) return g.status();
        if (!owner.contains(id)) r.leaked.push_back(id);
        return absl::OkStatus();
      },
      r);
}

void VerifyReadOnly(const RawFile& f, Report& r) {
  absl::StatusOr<FreeList> free_list = ReadFreeList(*f.disk, f.superblock.roots.free_list_head);
  absl::flat_hash_set<PageId> free;
  if (!free_list.ok()) {
    r.Add(PageNamed(free_list.status()), "free-list", Msg(free_list.status()));
  } else {
    free.insert(free_list->pages.begin(), free_list->pages.end());
  }
  absl::StatusOr<std::vector<IndexInfo>> catalog =
      ReadCatalog(*f.disk, f.superblock.roots.catalog_root);
  if (!catalog.ok()) {
    r.Add(PageNamed(catalog.status()), "catalog", Msg(catalog.status()));
  } else {
    for (const IndexInfo& info : *catalog) {
      if (free.contains(info.anchor)) {
        r.Add(info.anchor, "free-and-used",
              fmt::format("page {}, the anchor of index '{}', is on the free list", info.anchor,
                          Escape(info.name)));
      }
    }
  }
  std::vector<std::byte> page(kPageSize);
  ScanPages(
      f.superblock.page_count, free,
      [&](PageId id) { return f.disk->ReadPage(id, PageSpan(page.data(), kPageSize)); }, r);
}

int RunVerify(const VerifyArgs& args) {
  Report r;
  if (args.read_only) {
    absl::StatusOr<RawFile> f = OpenRaw(args.file);
    if (!f.ok()) return CannotRun("verify", f.status());
    CheckSuperblocks(*f, r);
    VerifyReadOnly(*f, r);
  } else {
    // Both superblock copies as found, before recovery writes anything (its checkpoint rewrites
    // a damaged copy, so looking only afterwards would report a damaged file clean).
    {
      absl::StatusOr<RawFile> before = OpenRaw(args.file);
      if (before.ok()) CheckSuperblocks(*before, r);
    }
    absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(args.file);
    if (!store.ok()) {
      // A file that is not a store, or cannot be opened, is "could not run"; damage that stops
      // recovery is corruption: say so, then list what a read-only scan finds.
      if (!absl::IsDataLoss(store.status()) || !OpenRaw(args.file).ok()) {
        return CannotRun("verify", store.status());
      }
      r.Add(PageNamed(store.status()), "recovery", Msg(store.status()));
      absl::StatusOr<RawFile> f = OpenRaw(args.file);
      VerifyReadOnly(*f, r);
    } else {
      VerifyRecovered(**store, r);
      if (absl::Status s = (*store)->Close(); !s.ok()) return CannotRun("verify", s);
      store->reset();
      // The superblocks as the store left them (a copy already reported is not repeated).
      absl::StatusOr<RawFile> f = OpenRaw(args.file);
      if (!f.ok()) return CannotRun("verify", f.status());
      Report after;
      CheckSuperblocks(*f, after);
      for (Problem& p : after.problems) {
        if (!r.bad_pages.contains(*p.page)) r.Add(p.page, std::move(p.kind), std::move(p.message));
      }
    }
  }
  const bool clean = r.problems.empty();
  if (args.json) {
    Json j;
    j.BeginObject()
        .Field("file", args.file)
        .Field("mode", r.recovered ? "recovered" : "read-only")
        .Field("pages_scanned", r.pages_scanned)
        .Field("bad_pages", static_cast<std::uint64_t>(r.bad_pages.size()))
        .Field("indexes_verified", r.indexes_verified)
        .Field("leaked_pages", static_cast<std::uint64_t>(r.leaked.size()));
    j.Key("problems").BeginArray();
    for (const Problem& p : r.problems) {
      j.BeginObject();
      if (p.page) {
        j.Field("page", *p.page);
      } else {
        j.Key("page").Null();
      }
      j.Field("kind", p.kind).Field("message", p.message).EndObject();
    }
    j.EndArray().Field("clean", clean).EndObject();
    fmt::print("{}", j.str());
  } else {
    for (const Problem& p : r.problems) {
      if (p.page) {
        fmt::print("page {}: {}: {}\n", *p.page, p.kind, p.message);
      } else {
        fmt::print("{}: {}\n", p.kind, p.message);
      }
    }
    if (!r.leaked.empty()) {
      fmt::print(
          "note: {} pages are neither free nor in an index (left by a crash while an index "
          "was built; harmless), the first: page {}\n",
          r.leaked.size(), r.leaked.front());
    }
    if (!r.recovered) {
      fmt::print(
          "note: read-only: the indexes' structure was not checked (that needs recovery; "
          "run without --read-only)\n");
    }
    fmt::print("verify {}: {} pages scanned, {} bad pages, {} indexes verified, {} problems: {}\n",
               args.file, r.pages_scanned, r.bad_pages.size(), r.indexes_verified,
               r.problems.size(), clean ? "clean" : "CORRUPT");
  }
  return clean ? kExitOk : kExitCorrupt;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, RunFunction& run) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Recover the store as an engine would, then check every page's checksum, both superblock "
      "copies, every index's structure, the free list against the indexes, and that no page is "
      "reachable twice. Exit 0 clean, 1 corruption found, 2 could not run");
  cmd->add_option("FILE", args->file, "The store's page file (its log is FILE-wal/)")->required();
  cmd->add_flag("--read-only", args->read_only,
                "Inspect the file as it is, without recovering or writing: superblocks, "
                "checksums, free list and catalog (not the indexes' structure)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &run] { run = [args] { return RunVerify(*args); }; });
}

}  // namespace pagestore::tools
