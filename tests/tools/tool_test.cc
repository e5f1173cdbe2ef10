// The pagestore tool, run as a user runs it: golden text and --json output of every inspection
// subcommand on a small generated store (PAGESTORE_UPDATE_GOLDEN=1 rewrites the golden files),
// verify on files with injected corruption of each kind (exit 1, the fault named), and every
// subcommand on files that are not stores (exit 2, one line on stderr, nothing on stdout).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "index/btree.h"
#include "index/btree_node.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "storage/page.h"
#include "tests/storage/test_util.h"
#include "wal/log_format.h"
#include "wal/store.h"

namespace pagestore::testing {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the tool with `args`, stdout and stderr captured separately.
ToolRun RunTool(const std::string& args) {
  static int n = 0;
  const fs::path err =
      fs::temp_directory_path() / fmt::format("pagestore_tool_err_{}_{}", getpid(), n++);
  const std::string cmd = fmt::format("'{}' {} 2>'{}'", PAGESTORE_TOOL, args, err.string());
  ToolRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, got);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFile(err);
  fs::remove(err);
  return r;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Compares with (or, under PAGESTORE_UPDATE_GOLDEN=1, writes) tests/tools/golden/<name>.
void ExpectGolden(const std::string& name, const std::string& actual) {
  const fs::path golden = fs::path(PAGESTORE_GOLDEN_DIR) / name;
  const char* update = std::getenv("PAGESTORE_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(golden, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " is missing (PAGESTORE_UPDATE_GOLDEN=1 writes it)";
  EXPECT_EQ(ReadFile(golden), actual) << "output differs from " << golden;
}

StoreOptions Options() {
  StoreOptions o;
  o.background_checkpoints = false;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

struct Anchors {
  PageId tree = kInvalidPageId;
  PageId hash = kInvalidPageId;
};

// The one line exit status 2 promises: no stdout, exactly one line on stderr.
void ExpectOneLineFailure(const ToolRun& r, const std::string& expect) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
}

// A small store, the same bytes every time: a B+tree "users" and a hash index "ids" (seed 7),
// 200 keys each (the tree two levels high, the hash index split), written in one committed
// transaction, then a deleted key, then closed.
Anchors MakeStore(const fs::path& file) {
  Anchors a;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(file, Options());
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return a;
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("users");
  HashIndexOptions ho;
  ho.seed = 7;
  absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->CreateHash("ids", ho);
  EXPECT_TRUE(tree.ok() && hash.ok());
  absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
  EXPECT_TRUE(txn.ok());
  for (int i = 0; i < 200; ++i) {
    const std::string key = fmt::format("user{:03}", i);
    const std::string value = fmt::format("value-{}-{}", i, std::string(i % 7 * 9, 'x'));
    EXPECT_TRUE((*tree)->Insert(txn->get(), key, value).ok());
    EXPECT_TRUE((*hash)->Insert(txn->get(), key, value).ok());
  }
  EXPECT_TRUE((*txn)->Commit().ok());
  EXPECT_TRUE((*tree)->Delete(nullptr, "user005").ok());
  a.tree = (*tree)->anchor();
  a.hash = (*hash)->anchor();
  EXPECT_TRUE((*store)->Close().ok());
  return a;
}

class ToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("pagestore_tool_test_{}", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = (dir_ / "db.pages").string();
    anchors_ = MakeStore(file_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The tool's stdout with this run's paths replaced by placeholders.
  std::string Normalized(const std::string& s) const {
    return Replace(Replace(s, file_ + "-wal", "<FILE>-wal"), file_, "<FILE>");
  }
  // A copy of the store (file and log) to damage.
  std::string Copy(const std::string& name) const {
    const std::string copy = (dir_ / name).string();
    fs::copy_file(file_, copy);
    fs::copy(file_ + "-wal", copy + "-wal", fs::copy_options::recursive);
    return copy;
  }

  fs::path dir_;
  std::string file_;
  Anchors anchors_;
};

TEST_F(ToolTest, GoldenOutput) {
  struct Case {
    std::string golden, args;
  };
  const std::vector<Case> cases = {
      {"info.txt", "info " + file_},
      {"info.json", "info --json " + file_},
      {"verify.txt", "verify " + file_},
      {"verify.json", "verify --json " + file_},
      {"verify_read_only.txt", "verify --read-only " + file_},
      {"stats.txt", "stats " + file_},
      {"stats.json", "stats --json " + file_},
      {"dump_page_superblock.txt", "dump-page " + file_ + " 0"},
      {"dump_page_btree_anchor.txt", fmt::format("dump-page {} {}", file_, anchors_.tree)},
      {"dump_page_hash_anchor.json", fmt::format("dump-page --json {} {}", file_, anchors_.hash)},
      {"dump_page_hash_anchor_hex.txt", fmt::format("dump-page --hex {} {}", file_, anchors_.hash)},
      {"dump_wal.txt", "dump-wal --to 4000 " + file_ + "-wal"},
      {"dump_wal_stats.txt", "dump-wal --stats " + file_ + "-wal"},
      {"dump_wal.json", "dump-wal --json --to 2000 " + file_ + "-wal"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const ToolRun r = RunTool(c.args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    ExpectGolden(c.golden, Normalized(r.out));
  }
  // Every page of the store decodes (a leaf, a bucket, a directory page...).
  const ToolRun info = RunTool("info --json " + file_);
  const std::size_t at = info.out.find("\"page_count\":");
  ASSERT_NE(at, std::string::npos);
  const int pages = std::atoi(info.out.c_str() + at + 13);
  ASSERT_GT(pages, 8);
  for (int id = 0; id < pages; ++id) {
    const ToolRun r = RunTool(fmt::format("dump-page --json {} {}", file_, id));
    EXPECT_EQ(r.exit_code, 0) << "page " << id << ": " << r.err;
    EXPECT_EQ(r.out.find("\"problem\""), std::string::npos) << "page " << id << ": " << r.out;
  }
}

TEST_F(ToolTest, HelpOnEverySubcommand) {
  for (const char* cmd : {"info", "verify", "stats", "dump-page", "dump-wal", "bench", "backup"}) {
    const ToolRun r = RunTool(fmt::format("{} --help", cmd));
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << cmd << ": " << r.out;
  }
  EXPECT_EQ(RunTool("no-such-command").exit_code, 2);
  EXPECT_EQ(RunTool("").exit_code, 2);
}

TEST_F(ToolTest, BackupMakesACopyThatVerifiesAndHoldsTheSameIndexes) {
  const std::string copy = (dir_ / "copy.pages").string();
  const ToolRun r = RunTool(fmt::format("backup {} {}", file_, copy));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("recovers from the checkpoint at LSN"), std::string::npos) << r.out;
  const ToolRun verify = RunTool("verify " + copy);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // The same indexes, entries and pages: stats of both, less the file names.
  ToolRun a = RunTool("stats --json " + file_), b = RunTool("stats --json " + copy);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto indexes = [](const std::string& json) {
    return json.substr(json.find("\"indexes\""));
  };
  EXPECT_EQ(indexes(a.out), indexes(b.out));
  // A destination that exists is refused, and stays as it was.
  const ToolRun again = RunTool(fmt::format("backup {} {}", file_, copy));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  EXPECT_EQ(RunTool("verify " + copy).exit_code, 0);
  const ToolRun missing = RunTool(
      fmt::format("backup {} {}", (dir_ / "none.pages").string(), (dir_ / "x.pages").string()));
  EXPECT_EQ(missing.exit_code, 2);
}

// A store filled, then 70% deleted, compacted offline: every entry kept, in fewer pages than a
// fresh store filled with what is left, and the copy verifies.
TEST_F(ToolTest, CompactRewritesDenselyAndKeepsEveryEntry) {
  const std::string file = (dir_ / "sparse.pages").string();
  std::map<std::string, std::string> tree_model, hash_model;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(file, Options()));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("t"));
    PS_ASSIGN_OR_FAIL(hash, catalog->CreateHash("h"));
    std::mt19937_64 rng(3);
    for (int i = 0; i < 6000; ++i) {
      const std::string key = fmt::format("key{:08}", rng() % 1000000);
      const std::string value(i % 500 == 0 ? 9000 : 60 + rng() % 100,
                              static_cast<char>('a' + i % 26));
      PS_ASSERT_OK(tree->Put(nullptr, key, value));
      tree_model[key] = value;
      if (i % 3 == 0) {
        PS_ASSERT_OK(hash->Put(nullptr, key, value));
        hash_model[key] = value;
      }
    }
    for (auto* m : {&tree_model, &hash_model}) {
      for (auto it = m->begin(); it != m->end();) {
        if (rng() % 10 < 7) {
          PS_ASSERT_OK(m == &tree_model ? tree->Delete(nullptr, it->first)
                                        : hash->Delete(nullptr, it->first));
          it = m->erase(it);
        } else {
          ++it;
        }
      }
    }
    PS_ASSERT_OK(store->Close());
  }
  const std::string compact = (dir_ / "dense.pages").string();
  const ToolRun r = RunTool(fmt::format("compact --fill 0.95 {} {}", file, compact));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 indexes"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(compact + ".incomplete"));
  const ToolRun verify = RunTool("verify " + compact);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // A fresh store holding what is left, put in key order.
  const std::string fresh = (dir_ / "fresh.pages").string();
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(fresh, Options()));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("t"));
    PS_ASSIGN_OR_FAIL(hash, catalog->CreateHash("h"));
    for (const auto& [k, v] : tree_model) PS_ASSERT_OK(tree->Put(nullptr, k, v));
    for (const auto& [k, v] : hash_model) PS_ASSERT_OK(hash->Put(nullptr, k, v));
    PS_ASSERT_OK(store->Close());
  }
  PS_ASSIGN_OR_FAIL(store, Store::Open(compact, Options()));
  PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
  PS_ASSIGN_OR_FAIL(tree, catalog->OpenBTree("t"));
  PS_ASSIGN_OR_FAIL(hash, catalog->OpenHash("h"));
  std::map<std::string, std::string> got;
  for (BTree::Iterator it = tree->Begin(); it.Valid(); it.Next()) {
    got.emplace(std::string(it.key()), std::string(it.value()));
  }
  EXPECT_EQ(got, tree_model);
  for (const auto& [k, v] : hash_model) {
    PS_ASSIGN_OR_FAIL(value, hash->Get(k));
    EXPECT_EQ(value, v) << k;
  }
  PS_ASSIGN_OR_FAIL(size, hash->Size());
  EXPECT_EQ(size, hash_model.size());
  auto pages_of = [&](const std::string& path) -> PageId {
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(path, Options());
    return s.ok() ? (*s)->pool().page_count() : 0;
  };
  const PageId dense = store->pool().page_count(), sparse = pages_of(file);
  EXPECT_LT(dense, sparse / 2) << "from " << sparse << " pages";
  EXPECT_LE(dense, pages_of(fresh)) << "denser than a fresh store of the same data";
  // An existing destination and a bad fill are refused.
  EXPECT_EQ(RunTool(fmt::format("compact {} {}", file, compact)).exit_code, 2);
  EXPECT_EQ(
      RunTool(fmt::format("compact --fill 0.2 {} {}", file, (dir_ / "x.pages").string())).exit_code,
      2);
}

// Overwrites page `id` of `file` with `mutate` applied, resealed (valid checksum) or not.
void Damage(const std::string& file, PageId id, bool reseal,
            const std::function<void(std::byte*)>& mutate) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<std::byte> page(kPageSize);
  f.seekg(static_cast<std::streamoff>(id * kPageSize));
  f.read(reinterpret_cast<char*>(page.data()), kPageSize);
  mutate(page.data());
  if (reseal) SealPage(id, PageSpan(page.data(), kPageSize));
  f.seekp(static_cast<std::streamoff>(id * kPageSize));
  f.write(reinterpret_cast<const char*>(page.data()), kPageSize);
}

PageId RootOf(const std::string& file, PageId anchor) {
  std::ifstream f(file, std::ios::binary);
  std::vector<std::byte> page(kPageSize);
  f.seekg(static_cast<std::streamoff>(anchor * kPageSize));
  f.read(reinterpret_cast<char*>(page.data()), kPageSize);
  return ReadBTreeAnchor(ConstPageSpan(page.data(), kPageSize)).root;
}

TEST_F(ToolTest, VerifyReportsEachKindOfCorruption) {
  const PageId root = RootOf(file_, anchors_.tree);  // the users tree's root: a leaf
  struct Case {
    std::string name;
    std::string mode;  // "" or "--read-only"
    std::function<void(const std::string&)> damage;
    std::string expect;  // in the problem line
  };
  const std::vector<Case> cases = {
      {"checksum", "",
       [&](const std::string& f) {
         Damage(f, root, false, [](std::byte* p) { p[2000] ^= std::byte{0x5a}; });
       },
       fmt::format("page {}: ", root)},
      {"checksum_read_only", "--read-only",
       [&](const std::string& f) {
         Damage(f, anchors_.hash, false, [](std::byte* p) { p[100] ^= std::byte{1}; });
       },
       fmt::format("page {}: checksum", anchors_.hash)},
      {"superblock", "--read-only",
       [&](const std::string& f) {
         // The copy not in force (the other one still opens the file).
         const ToolRun info = RunTool("info --json " + f);
         const bool zero_current =
             info.out.find("\"copy\":0,\"current\":true") != std::string::npos;
         Damage(f, zero_current ? 1 : 0, false, [](std::byte* p) { p[40] ^= std::byte{0xff}; });
       },
       "superblock"},
      {"index_structure", "",
       [&](const std::string& f) {
         // Two keys of the leaf swapped, the page resealed: a valid checksum, a broken order.
         Damage(f, root, true, [](std::byte* p) {
           std::uint16_t a, b;
           std::memcpy(&a, p + kNodeHeaderEnd, 2);
           std::memcpy(&b, p + kNodeHeaderEnd + 2, 2);
           std::memcpy(p + kNodeHeaderEnd, &b, 2);
           std::memcpy(p + kNodeHeaderEnd + 2, &a, 2);
         });
       },
       "out of order"},
      {"hash_structure", "",
       [&](const std::string& f) {
         // The hash anchor's depth count no longer matches its buckets.
         Damage(f, anchors_.hash, true, [](std::byte* p) { p[48] ^= std::byte{2}; });
       },
       "index 'ids'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string copy = Copy(c.name + ".pages");
    c.damage(copy);
    const ToolRun r = RunTool(fmt::format("verify {} {}", c.mode, copy));
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CORRUPT"), std::string::npos) << r.out;
    const ToolRun j = RunTool(fmt::format("verify --json {} {}", c.mode, copy));
    EXPECT_EQ(j.exit_code, 1);
    EXPECT_NE(j.out.find("\"clean\":false"), std::string::npos) << j.out;
  }
}

// Large values: the tool counts their pages as the index's (verify finds no leak), stats shows
// them, dump-page decodes a value's pages and the leaf's reference; after a drop, their pages
// are free.
TEST_F(ToolTest, LargeValuesAndDropsAreCountedVerifiedAndShown) {
  const std::string file = (dir_ / "large.pages").string();
  PageId leaf = kInvalidPageId;
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(file, Options()));
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("blobs"));
    PS_ASSIGN_OR_FAIL(doomed, catalog->CreateHash("doomed"));
    PS_ASSERT_OK(tree->Put(nullptr, "big", std::string(20000, 'b')));
    PS_ASSERT_OK(doomed->Put(nullptr, "big", std::string(30000, 'd')));
    PS_ASSERT_OK(catalog->Drop("doomed"));
    PS_ASSIGN_OR_FAIL(info, catalog->Lookup("blobs"));
    PS_ASSIGN_OR_FAIL(a, store->pool().ReadPage(info.anchor));
    leaf = ReadBTreeAnchor(a.data()).root;
    PS_ASSERT_OK(store->Close());
  }
  const ToolRun verify = RunTool("verify " + file);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const ToolRun stats = RunTool("stats " + file);
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("(1 with large values)"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("value "), std::string::npos) << stats.out;
  EXPECT_EQ(stats.out.find("doomed"), std::string::npos) << stats.out;
  // The dropped index's pages are free: a compaction would return them.
  const std::size_t returned = stats.out.find("a compaction would return ");
  ASSERT_NE(returned, std::string::npos) << stats.out;
  EXPECT_GT(std::stoul(stats.out.substr(returned + 26)), 5u) << stats.out;
  EXPECT_EQ(stats.out.find("(0 free)"), std::string::npos) << "the drop freed pages: " << stats.out;
  const ToolRun dump_leaf = RunTool(fmt::format("dump-page {} {}", file, leaf));
  EXPECT_EQ(dump_leaf.exit_code, 0) << dump_leaf.err;
  EXPECT_NE(dump_leaf.out.find("value_page"), std::string::npos) << dump_leaf.out;
  EXPECT_NE(dump_leaf.out.find("value_bytes=20000"), std::string::npos) << dump_leaf.out;
  const std::size_t at = dump_leaf.out.find("value_page=");
  ASSERT_NE(at, std::string::npos);
  const std::string head =
      dump_leaf.out.substr(at + 11, dump_leaf.out.find_first_of(",\n ", at + 11) - at - 11);
  const ToolRun dump_head = RunTool(fmt::format("dump-page {} {}", file, head));
  EXPECT_EQ(dump_head.exit_code, 0) << dump_head.err;
  EXPECT_NE(dump_head.out.find("type value"), std::string::npos) << dump_head.out;
  EXPECT_NE(dump_head.out.find("value_bytes: 20000"), std::string::npos) << dump_head.out;
  EXPECT_NE(dump_head.out.find("attached: 1"), std::string::npos) << dump_head.out;
  EXPECT_EQ(dump_head.out.find("problem"), std::string::npos) << dump_head.out;
}

TEST_F(ToolTest, VerifyReportsAPageBothFreeAndInUse) {
  // A store with a free list: most of a tree's keys deleted, its emptied leaves freed.
  const std::string file = (dir_ / "freed.pages").string();
  PageId anchor;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(file, Options());
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
    ASSERT_TRUE(catalog.ok());
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
    ASSERT_TRUE(tree.ok());
    const std::string value(200, 'v');
    for (int i = 0; i < 400; ++i) {
      ASSERT_TRUE((*tree)->Insert(nullptr, fmt::format("k{:04}", i), value).ok());
    }
    for (int i = 0; i < 390; ++i)
      ASSERT_TRUE((*tree)->Delete(nullptr, fmt::format("k{:04}", i)).ok());
    anchor = (*tree)->anchor();
    ASSERT_TRUE((*store)->Close().ok());
  }
  ASSERT_EQ(RunTool("verify --read-only " + file).exit_code, 0);
  const ToolRun info = RunTool("info --json " + file);
  const std::size_t at = info.out.find("\"free_list_head\":");
  ASSERT_NE(at, std::string::npos) << info.out;
  const auto head = static_cast<PageId>(std::atoll(info.out.c_str() + at + 17));
  ASSERT_NE(head, kInvalidPageId) << info.out;
  // The first page the trunk lists becomes the tree's anchor, resealed.
  Damage(file, head, true,
         [&](std::byte* p) { std::memcpy(p + kPageHeaderSize + 16, &anchor, 8); });
  const ToolRun r = RunTool("verify --read-only " + file);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("page {}: free-and-used", anchor)), std::string::npos) << r.out;
}

TEST_F(ToolTest, BadFilesAreOneLineAndExitTwo) {
  const std::string empty = (dir_ / "empty").string();
  std::ofstream(empty).close();
  const std::string junk = (dir_ / "junk").string();
  {
    std::ofstream out(junk, std::ios::binary);
    for (int i = 0; i < 3 * 4096; ++i) out.put(static_cast<char>(i * 131 % 251));
  }
  const std::string truncated = (dir_ / "truncated").string();
  fs::copy_file(file_, truncated);
  fs::resize_file(truncated, 3 * kPageSize);
  const std::string missing = (dir_ / "missing").string();
  for (const std::string& f : {empty, junk, truncated, missing}) {
    for (const std::string& cmd : {"info " + f, "verify " + f, "verify --read-only " + f,
                                   "stats " + f, "dump-page " + f + " 2", "dump-wal " + f,
                                   "bench --use-existing --workload=read --db=" + f}) {
      SCOPED_TRACE(cmd);
      const ToolRun r = RunTool(cmd);
      EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
      EXPECT_EQ(r.out, "");
      ASSERT_FALSE(r.err.empty());
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
    }
  }
  // A page beyond the file, and a log directory that is not one.
  EXPECT_EQ(RunTool(fmt::format("dump-page {} 99999", file_)).exit_code, 2);
  EXPECT_EQ(RunTool("dump-wal " + dir_.string()).exit_code, 2);
}

// Reads page `id` of `file`.
std::vector<std::byte> ReadPage(const std::string& file, PageId id) {
  std::ifstream f(file, std::ios::binary);
  std::vector<std::byte> page(kPageSize);
  f.seekg(static_cast<std::streamoff>(id * kPageSize));
  f.read(reinterpret_cast<char*>(page.data()), kPageSize);
  return page;
}

std::uint16_t Get16(const std::byte* p, std::size_t off) {
  std::uint16_t v;
  std::memcpy(&v, p + off, 2);
  return v;
}
void Put16(std::byte* p, std::size_t off, std::uint16_t v) { std::memcpy(p + off, &v, 2); }

TEST_F(ToolTest, DumpPageShowsMalformedPagesWithoutReadingPastThem) {
  // The users tree is two levels high: its root is an internal node, the root's leftmost child a
  // leaf. Each is damaged in a copy, with a valid checksum (resealed) and without.
  const PageId internal = RootOf(file_, anchors_.tree);
  const std::vector<std::byte> root = ReadPage(file_, internal);
  ASSERT_EQ(ReadPageHeader(ConstPageSpan(root.data(), kPageSize)).type,
            static_cast<std::uint16_t>(PageType::kBTreeInternal));
  PageId leaf;
  std::memcpy(&leaf, root.data() + 64, 8);
  ASSERT_EQ(ReadPageHeader(ConstPageSpan(ReadPage(file_, leaf).data(), kPageSize)).type,
            static_cast<std::uint16_t>(PageType::kBTreeLeaf));
  auto first_cell = [](std::byte* p) { return Get16(p, kNodeHeaderEnd); };
  struct Case {
    std::string name;
    PageId page;
    std::function<void(std::byte*)> mutate;
    std::string expect;  // in the problem
  };
  const std::vector<Case> cases = {
      {"leaf_slot_past_page", leaf, [](std::byte* p) { Put16(p, kNodeHeaderEnd + 2, 0xfff0); },
       "slot 1: cell offset 65520 is past the 4096-byte page"},
      {"leaf_slot_in_header", leaf, [](std::byte* p) { Put16(p, kNodeHeaderEnd, 8); },
       "slot 0: cell offset 8 is inside the node header"},
      {"leaf_key_length", leaf, [&](std::byte* p) { Put16(p, first_cell(p), 0xffff); },
       "slot 0: key length 65535"},
      {"leaf_value_length", leaf, [&](std::byte* p) { Put16(p, first_cell(p) + 2, 0x7fff); },
       "slot 0: value length 32767"},
      {"leaf_count", leaf, [](std::byte* p) { Put16(p, 32, 0xffff); },
       "slot count 65535 is larger than a page holds"},
      {"internal_slot_past_page", internal, [](std::byte* p) { Put16(p, kNodeHeaderEnd, 4090); },
       "slot 0: cell offset 4090 is past the 4096-byte page"},
      {"internal_key_length", internal, [&](std::byte* p) { Put16(p, first_cell(p), 0xffff); },
       "slot 0: key length 65535"},
      {"internal_count", internal, [](std::byte* p) { Put16(p, 32, 0xffff); },
       "slot count 65535 is larger than a page holds"},
      {"free_list_count", anchors_.hash,
       [](std::byte* p) {
         InitPage(PageSpan(p, kPageSize), PageType::kFreeList);
         const std::uint32_t count = 0xffffffff;
         std::memcpy(p + kPageHeaderSize + 8, &count, 4);
       },
       "count 4294967295 is larger than a trunk page holds"},
  };
  for (const Case& c : cases) {
    for (const bool reseal : {true, false}) {
      SCOPED_TRACE(c.name + (reseal ? " resealed" : " bad checksum"));
      const std::string copy = Copy(c.name + (reseal ? "_sealed" : "_bad") + ".pages");
      Damage(copy, c.page, reseal, c.mutate);
      const ToolRun text = RunTool(fmt::format("dump-page {} {}", copy, c.page));
      EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
      EXPECT_EQ(text.err, "");
      EXPECT_NE(text.out.find("problem: " + std::string()), std::string::npos) << text.out;
      EXPECT_NE(text.out.find(c.expect), std::string::npos) << text.out;
      EXPECT_NE(text.out.find("(malformed: "), std::string::npos) << text.out;
      EXPECT_EQ(text.out.find("INVALID") == std::string::npos, reseal) << text.out;
      const ToolRun json = RunTool(fmt::format("dump-page --json --hex {} {}", copy, c.page));
      EXPECT_EQ(json.exit_code, 0) << json.out << json.err;
      EXPECT_NE(json.out.find("\"problem\":"), std::string::npos) << json.out;
      EXPECT_NE(json.out.find(fmt::format("\"valid\":{}", reseal)), std::string::npos) << json.out;
    }
  }
}

// A node whose every entry reads but whose keys are out of order: dump-page says what the tree's
// own check says.
TEST_F(ToolTest, DumpPageNamesWhatTheNodeCheckRefuses) {
  const PageId root = RootOf(file_, anchors_.tree);
  const std::string copy = Copy("unordered.pages");
  Damage(copy, root, true, [](std::byte* p) {
    std::uint16_t a, b;
    std::memcpy(&a, p + kNodeHeaderEnd, 2);
    std::memcpy(&b, p + kNodeHeaderEnd + 2, 2);
    std::memcpy(p + kNodeHeaderEnd, &b, 2);
    std::memcpy(p + kNodeHeaderEnd + 2, &a, 2);
  });
  const ToolRun r = RunTool(fmt::format("dump-page {} {}", copy, root));
  EXPECT_NE(r.out.find("out of order"), std::string::npos) << r.out << r.err;
  const ToolRun clean = RunTool(fmt::format("dump-page {} {}", file_, root));
  EXPECT_EQ(clean.out.find("out of order"), std::string::npos) << clean.out;
}

TEST_F(ToolTest, InfoReportsAMalformedCatalogPage) {
  const ToolRun info = RunTool("info --json " + file_);
  const std::size_t at = info.out.find("\"catalog_root\":");
  ASSERT_NE(at, std::string::npos) << info.out;
  const auto catalog = static_cast<PageId>(std::atoll(info.out.c_str() + at + 15));
  const PageId leaf = RootOf(file_, catalog);
  const std::string copy = Copy("catalog.pages");
  Damage(copy, leaf, true, [](std::byte* p) { Put16(p, kNodeHeaderEnd, 0xfffe); });
  const ToolRun r = RunTool("info " + copy);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("slot 0: cell offset 65534 is past the 4096-byte page"), std::string::npos)
      << r.out;
  const ToolRun v = RunTool("verify --read-only " + copy);
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
}

// Runs `work` on `file`'s store in a child process that then exits without closing it, as a
// killed engine would: the next open recovers. `work` commits what it writes.
void Crash(const std::string& file, const std::function<bool(Store&)>& work) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(file, Options());
    if (!store.ok()) ::_exit(2);
    ::_exit(work(**store) ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Inserts a few keys into the hash index "ids" in one committed transaction.
bool InsertIntoIds(Store& store) {
  absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
  if (!catalog.ok()) return false;
  absl::StatusOr<std::unique_ptr<HashIndex>> hash = (*catalog)->OpenHash("ids");
  absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
  if (!hash.ok() || !txn.ok()) return false;
  for (int i = 0; i < 20; ++i) {
    if (!(*hash)->Insert(txn->get(), fmt::format("crash{:02}", i), "v").ok()) return false;
  }
  return (*txn)->Commit().ok();
}

TEST_F(ToolTest, RecoveryMessagesKeepExitTwoToOneLine) {
  // A crashed store whose users tree has a leaf that fails its checksum: stats recovers (the
  // library logs what it redid), then cannot read the leaf.
  const PageId internal = RootOf(file_, anchors_.tree);
  PageId leaf;
  std::memcpy(&leaf, ReadPage(file_, internal).data() + 64, 8);
  const std::string damaged = Copy("crashed_damaged.pages");
  Damage(damaged, leaf, false, [](std::byte* p) { p[3000] ^= std::byte{1}; });
  Crash(damaged, InsertIntoIds);
  const ToolRun stats = RunTool("stats " + damaged);
  ExpectOneLineFailure(stats, fmt::format("page {}", leaf));
  EXPECT_NE(stats.err.find("[logged before: info: "), std::string::npos) << stats.err;
  EXPECT_NE(stats.err.find("recovered"), std::string::npos) << stats.err;

  // bench on a crashed store whose "bench" index is a hash index, not the B+tree it needs.
  const std::string bench = Copy("crashed_bench.pages");
  Crash(bench, [](Store& store) {
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(store);
    return catalog.ok() && (*catalog)->CreateHash("bench", HashIndexOptions{}).ok() &&
           InsertIntoIds(store);
  });
  const ToolRun r =
      RunTool(fmt::format("bench --use-existing --workload=read --num=10 --db={}", bench));
  ExpectOneLineFailure(r, "recovered");

  // A command that succeeds still shows the library's messages, after its output.
  const std::string ok = Copy("crashed_ok.pages");
  Crash(ok, InsertIntoIds);
  const ToolRun s = RunTool("stats " + ok);
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("ids"), std::string::npos) << s.out;
  EXPECT_EQ(s.err.find("pagestore: info: "), 0u) << s.err;
  EXPECT_NE(s.err.find("recovered"), std::string::npos) << s.err;
}

// The log segment of `dir` holding `lsn` and the file offset of that LSN in it.
std::pair<fs::path, std::uint64_t> LogPosition(const fs::path& dir, Lsn lsn) {
  std::pair<fs::path, std::uint64_t> best;
  Lsn best_first = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".wal") continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::array<std::byte, kSegmentHeaderUsed> block;
    f.read(reinterpret_cast<char*>(block.data()), block.size());
    SegmentHeader h;
    if (!DecodeSegmentHeader(block, &h) || h.first_lsn > lsn || h.first_lsn < best_first) continue;
    best_first = h.first_lsn;
    best = {e.path(), kSegmentHeaderSize + (lsn - h.first_lsn)};
  }
  return best;
}

// Flips a byte `delta` bytes into the record at `lsn` (its checksum then fails).
void DamageRecord(const fs::path& dir, Lsn lsn, std::uint64_t delta) {
  const auto [segment, offset] = LogPosition(dir, lsn);
  ASSERT_FALSE(segment.empty()) << "no segment holds LSN " << lsn;
  std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset + delta));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  f.seekp(static_cast<std::streamoff>(offset + delta));
  f.write(&c, 1);
}

// The LSNs of the records dump-wal lists (from its JSON).
std::vector<Lsn> RecordLsns(const std::string& dir) {
  const ToolRun r = RunTool("dump-wal --json " + dir);
  std::vector<Lsn> out;
  for (std::size_t at = r.out.find("{\"lsn\":"); at != std::string::npos;
       at = r.out.find("{\"lsn\":", at + 1)) {
    out.push_back(static_cast<Lsn>(std::atoll(r.out.c_str() + at + 7)));
  }
  return out;
}

TEST_F(ToolTest, DumpWalTellsDamageFromATornTail) {
  const std::vector<Lsn> lsns = RecordLsns(file_ + "-wal");
  ASSERT_GT(lsns.size(), 10u);
  {
    // Damage in the middle: valid records follow it.
    const std::string copy = Copy("middle.pages") + "-wal";
    const Lsn bad = lsns[lsns.size() / 2];
    DamageRecord(copy, bad, kRecordHeaderSize + 1);
    const ToolRun r = RunTool("dump-wal " + copy);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find(fmt::format("stopped: invalid record at LSN {}", bad)), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(fmt::format("DAMAGED: a valid record follows at LSN {}",
                                     lsns[lsns.size() / 2 + 1])),
              std::string::npos)
        << r.out;
    const ToolRun j = RunTool("dump-wal --json " + copy);
    EXPECT_EQ(j.exit_code, 1);
    EXPECT_NE(j.out.find("\"damaged\":true"), std::string::npos) << j.out;
    EXPECT_EQ(RunTool("dump-wal --stats " + copy).exit_code, 1);
    // Damage beyond --to is not this dump's business.
    EXPECT_EQ(RunTool(fmt::format("dump-wal --to {} {}", lsns[1], copy)).exit_code, 0);
  }
  {
    // The last record torn: the log ends there.
    const std::string copy = Copy("torn.pages") + "-wal";
    DamageRecord(copy, lsns.back(), kRecordHeaderSize + 1);
    const ToolRun r = RunTool("dump-wal " + copy);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(fmt::format("stopped: invalid record at LSN {}", lsns.back())),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("the log ends there"), std::string::npos) << r.out;
    const ToolRun j = RunTool("dump-wal --json " + copy);
    EXPECT_EQ(j.exit_code, 0);
    EXPECT_NE(j.out.find("\"damaged\":false"), std::string::npos) << j.out;
  }
}

// verify looks at both superblock copies as it found them, before its own recovery rewrites one
// (it reported a damaged store clean), and reports a log tail that recovery had to drop (a torn
// write, or damage to the last records: it cannot tell, so it says so).
TEST_F(ToolTest, VerifyReportsWhatRecoveryRepairsOrDrops) {
  const ToolRun info = RunTool("info --json " + file_);
  const int current = info.out.find("\"copy\":0,\"current\":true") != std::string::npos ? 0 : 1;
  for (const int copy : {current, 1 - current}) {
    SCOPED_TRACE(copy);
    const std::string damaged = Copy(fmt::format("superblock_{}.pages", copy));
    Damage(damaged, static_cast<PageId>(copy), false,
           [](std::byte* p) { std::memset(p, 0, kPageSize); });
    const ToolRun r = RunTool("verify " + damaged);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find(fmt::format("superblock copy {} is invalid", copy)), std::string::npos)
        << r.out;
    // The file itself is repaired by that recovery: a second verify is clean.
    EXPECT_EQ(RunTool("verify " + damaged).exit_code, 0);
  }
  // A crashed store whose last record (a commit) is damaged.
  const std::string tail = Copy("tail.pages");
  Crash(tail, InsertIntoIds);
  const std::vector<Lsn> lsns = RecordLsns(tail + "-wal");
  ASSERT_FALSE(lsns.empty());
  DamageRecord(tail + "-wal", lsns.back(), 20);
  const ToolRun r = RunTool("verify " + tail);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("LSN {}", lsns.back())), std::string::npos) << r.out;
}

TEST_F(ToolTest, NumbersAreCheckedNotWrapped) {
  const std::string wal = file_ + "-wal";
  const std::vector<Lsn> lsns = RecordLsns(wal);
  ASSERT_GT(lsns.size(), 3u);
  // A record boundary, and the log's end, are fine.
  ToolRun r = RunTool(fmt::format("dump-wal --from {} {}", lsns[2], wal));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find(fmt::format("lsn {:>10}", lsns[2])), 0u) << r.out;
  const ToolRun all = RunTool("dump-wal " + wal);
  const std::size_t at = all.out.find("log end at LSN ");
  ASSERT_NE(at, std::string::npos) << all.out;
  const auto end = static_cast<Lsn>(std::atoll(all.out.c_str() + at + 15));
  r = RunTool(fmt::format("dump-wal --from {} {}", end, wal));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("0 records"), 0u) << r.out;
  // Inside a record, past the end, negative.
  ExpectOneLineFailure(RunTool(fmt::format("dump-wal --from {} {}", lsns[2] + 8, wal)),
                       fmt::format("--from {}: not the start of a record", lsns[2] + 8));
  ExpectOneLineFailure(RunTool(fmt::format("dump-wal --from {} {}", end + 4096, wal)),
                       fmt::format("--from {}: past the end of the log (LSN {})", end + 4096, end));
  ExpectOneLineFailure(RunTool("dump-wal --from -5 " + wal), "--from must be a non-negative");
  ExpectOneLineFailure(RunTool("dump-wal --json --to -1 " + wal), "--to must be a non-negative");
  ExpectOneLineFailure(RunTool("dump-wal --from 12abc " + wal), "\"12abc\"");
  r = RunTool(fmt::format("dump-page {} -1", file_));
  ExpectOneLineFailure(r, "page id must be a non-negative decimal integer, not \"-1\"");
  EXPECT_EQ(r.err.find("18446744073709551615"), std::string::npos) << r.err;
  ExpectOneLineFailure(RunTool(fmt::format("dump-page {} 99999", file_)), "page 99999");
  // Bad arguments: one line too.
  ExpectOneLineFailure(RunTool("dump-page " + file_), "ID is required");
  ExpectOneLineFailure(RunTool("no-such-command"), "subcommand");
}

TEST_F(ToolTest, BenchRunsAndReportsLatencies) {
  const std::string db = (dir_ / "bench.pages").string();
  ToolRun r = RunTool(fmt::format("bench --db={} --workload=fill --num=2000 --json", db));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* field : {"\"ops_per_sec\"", "\"p50\"", "\"p99\"", "\"p999\"", "\"max\""}) {
    EXPECT_NE(r.out.find(field), std::string::npos) << field << " in " << r.out;
  }
  r = RunTool(
      fmt::format("bench --db={} --use-existing --workload=ycsb-a --num=2000 --threads=2", db));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Batched reads through a pool smaller than the tree: every value checked, one op a batch.
  r = RunTool(
      fmt::format("bench --db={} --use-existing --workload=multiget --num=2000 --ops=50 --batch=16 "
                  "--pool-frames=16 --json",
                  db));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"multiget\":{\"ops\":50,\"bytes\":92800"), std::string::npos) << r.out;
  EXPECT_EQ(RunTool("verify " + db).exit_code, 0);
  EXPECT_EQ(RunTool("bench --disk=bogus --workload=fill --num=10").exit_code, 2);
  ExpectOneLineFailure(RunTool("bench --workload=multiget --batch=0 --num=10"), "--batch");
}

}  // namespace
}  // namespace pagestore::testing
