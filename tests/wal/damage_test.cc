// Damage that recovery must never pass over silently: log records naming pages the log never
// allocated, a damaged superblock copy, an unfinished transaction whose rollback meets a damaged
// page, a missing log directory, a segment from another store, an older copy of the page file.
// Each is an error naming the file, page or LSN, or a recovery that loses nothing and says what
// it did.
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "index/btree.h"
#include "storage/logging.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

StoreOptions Options() {
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 256;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  return o;
}

std::string Key(int i) { return fmt::format("key{:06d}", i); }
std::string Value(int i) { return std::string(150, static_cast<char>('a' + i % 26)); }

// Collects what the library logs while it lives.
class CapturedLog {
 public:
  CapturedLog() {
    previous_ = SetLogSink([this](LogLevel level, std::string_view message) {
      lines_.push_back(fmt::format("{}: {}", LogLevelName(level), message));
    });
  }
  ~CapturedLog() { SetLogSink(std::move(previous_)); }
  std::string All() const { return fmt::format("{}", fmt::join(lines_, "\n")); }

 private:
  LogSink previous_;
  std::vector<std::string> lines_;
};

// A system mini-transaction record, sealed by the log itself (so its checksum is right), whose
// entries are `payload`; the log is made durable and the store dropped as by a crash.
Lsn AppendCraftedRecord(SimulatedStore& sim, Store& store, const std::vector<std::byte>& payload) {
  absl::StatusOr<Lsn> lsn = store.log().Append({RecordType::kMtr, 0, kInvalidLsn, payload});
  EXPECT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_TRUE(store.log().FlushAll().ok());
  sim.PowerLoss();
  return lsn.ok() ? *lsn : kInvalidLsn;
}

std::vector<std::byte> Entry(MtrEntry kind, PageId id, std::size_t extra = 0) {
  std::vector<std::byte> out(1 + sizeof id + extra);
  out[0] = static_cast<std::byte>(kind);
  std::memcpy(out.data() + 1, &id, sizeof id);
  return out;
}

// Defect: recovery grew the page file to any page id a log record named (to 205 MB from a 1 MiB
// store, and to 24 GiB from a fuzzed input). Now such a record is refused, naming its LSN, before
// the file grows.
TEST(DamageTest, ARecordNamingAPageTheLogNeverAllocatedIsRefusedBeforeTheFileGrows) {
  struct Case {
    const char* name;
    std::vector<std::byte> payload;
  };
  std::vector<Case> cases;
  {
    std::vector<std::byte> bytes = Entry(MtrEntry::kPageBytes, 50'000, 2 + 2 + 4);
    const std::uint16_t off = 100, len = 4;
    std::memcpy(bytes.data() + 9, &off, 2);
    std::memcpy(bytes.data() + 11, &len, 2);
    cases.push_back({"page bytes", bytes});
  }
  cases.push_back({"extension far past the end", Entry(MtrEntry::kExtend, 1ull << 40)});
  cases.push_back({"allocation past the end", Entry(MtrEntry::kAlloc, 7'000'000)});
  cases.push_back({"free past the end", Entry(MtrEntry::kFree, 123'456)});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SimulatedStore sim(Options());
    Lsn lsn;
    PageId pages;
    {
      PS_ASSIGN_OR_FAIL(store, sim.Open());
      PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
      for (int i = 0; i < 200; ++i) PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
      PS_ASSERT_OK(store->Checkpoint());
      pages = sim.file().page_count();
      lsn = AppendCraftedRecord(sim, *store, c.payload);
    }
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(absl::IsDataLoss(again.status())) << again.status();
    EXPECT_THAT(std::string(again.status().message()), HasSubstr(fmt::format("LSN {}", lsn)));
    EXPECT_EQ(sim.file().page_count(), pages) << "the page file grew";
  }
}

// The log's own extensions are followed: a store that grew by many pages after its last
// checkpoint, then crashed before its superblock said so, recovers every page.
TEST(DamageTest, PagesTheLogExtendedTheFileByAreRecovered) {
  StoreOptions options = Options();
  options.checkpoint_interval_bytes = 1ull << 40;  // no checkpoint moves the superblock on
  SimulatedStore sim(options);
  std::map<std::string, std::string> model;
  PageId anchor;
  PageId synced_pages;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    anchor = tree->anchor();
    PS_ASSERT_OK(store->Checkpoint());
    synced_pages = store->pool().page_count();
    for (int i = 0; i < 3000; ++i) {
      PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
      model[Key(i)] = Value(i);
    }
    ASSERT_GT(store->pool().page_count(), synced_pages + 50) << "premise: the file grew";
    PS_ASSERT_OK(store->log().FlushAll());
    sim.PowerLoss();
  }
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
  PS_ASSERT_OK(tree->Verify());
  for (const auto& [k, v] : model) {
    PS_ASSIGN_OR_FAIL(got, tree->Get(k));
    EXPECT_EQ(got, v);
  }
}

// Defects: zeroing the current superblock copy rolled the store back to the older copy with no
// warning, and damage to the newer copy made open fail when the older copy's log had been
// recycled. Now the older copy's checkpoint keeps its log and free-list trunks until both copies
// point past it: open falls back, says so, and loses no commit.
TEST(DamageTest, ADamagedNewerSuperblockCopyFallsBackWithAWarningAndLosesNothing) {
  for (const bool crash : {false, true}) {
    SCOPED_TRACE(crash ? "after a crash" : "after a clean close");
    SimulatedStore sim(Options());
    std::map<std::string, std::string> model;
    PageId anchor;
    {
      PS_ASSIGN_OR_FAIL(store, sim.Open());
      PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
      anchor = tree->anchor();
      for (int i = 0; i < 4000; ++i) {
        PS_ASSIGN_OR_FAIL(txn, store->Begin());
        PS_ASSERT_OK(tree->Put(txn.get(), Key(i % 1500), Value(i)));
        if (i % 7 == 3) {
          PS_ASSERT_OK(tree->Delete(txn.get(), Key(i % 1500)));
        }
        PS_ASSERT_OK(txn->Commit());
        if (i % 7 == 3) {
          model.erase(Key(i % 1500));
        } else {
          model[Key(i % 1500)] = Value(i);
        }
      }
      EXPECT_GT(store->stats().checkpoints, 10u);
      EXPECT_GT(store->log().stats().segments_removed, 2u) << "premise: old segments recycled";
      if (crash) {
        sim.PowerLoss();
      } else {
        PS_ASSERT_OK(store->Close());
        sim.Reboot();
      }
    }
    // The copy in force: the valid one with the greater sequence.
    absl::StatusOr<SuperblockChoice> choice =
        ChooseSuperblock(ConstPageSpan(sim.file().MutablePage(0), kPageSize),
                         ConstPageSpan(sim.file().MutablePage(1), kPageSize), "sim.pages");
    ASSERT_TRUE(choice.ok()) << choice.status();
    const PageId current = choice->current.sequence % 2;
    std::memset(sim.file().MutablePage(current), 0, kPageSize);
    CapturedLog log;
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    EXPECT_THAT(log.All(), HasSubstr(fmt::format("superblock copy {} is damaged", current)));
    PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
    PS_ASSERT_OK(tree->Verify());
    std::size_t n = 0;
    for (auto it = tree->Begin(); it.Valid(); it.Next(), ++n) {
      auto m = model.find(std::string(it.key()));
      ASSERT_NE(m, model.end()) << it.key();
      EXPECT_EQ(it.value(), m->second);
    }
    EXPECT_EQ(n, model.size());
  }
}

// Defect: an unfinished transaction whose rollback meets a damaged page made every open fail.
// The open still fails by default (with an error naming the way out); with skip_damaged it
// opens, rolls back what it can, and says exactly what it left.
TEST(DamageTest, AFailedRollbackOfADamagedPageHasAWayOutThatSaysWhatItSkipped) {
  StoreOptions options = Options();
  SimulatedStore sim(options);
  PageId anchor, leaf;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    anchor = tree->anchor();
    for (int i = 0; i < 2000; ++i) PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
    // An unfinished transaction: one change in the first leaf, one in the last.
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(tree->Put(txn.get(), Key(0), "changed"));
    PS_ASSERT_OK(tree->Put(txn.get(), Key(1999), "changed too"));
    // Its pages reach the disk, and the checkpoint lists it: redo will not touch them.
    PS_ASSERT_OK(store->Checkpoint());
    {
      PS_ASSIGN_OR_FAIL(a, store->pool().ReadPage(anchor));
      PageId id = ReadBTreeAnchor(a.data()).root;
      a.Release();
      for (;;) {
        PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(id));
        const Node n(const_cast<std::byte*>(g.data().data()));
        if (n.is_leaf()) break;
        id = n.leftmost_child();
      }
      leaf = id;
    }
    sim.Cut();
    (void)txn->Abort();  // after the cut: nothing reaches the disk
    txn.reset();
    tree.reset();
    sim.Reboot();
  }
  // The first leaf, malformed with a right checksum.
  {
    std::byte* p = sim.file().MutablePage(leaf);
    const std::uint16_t count = 0xffff;
    std::memcpy(p + 32, &count, 2);
    SealPage(leaf, PageSpan(p, kPageSize));
  }
  absl::StatusOr<Store*> refused = sim.Open();
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("skip_damaged"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(std::to_string(leaf)));
  sim.Reboot();

  options.skip_damaged = true;
  sim.SetOptions(options);
  CapturedLog log;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  const RecoveryReport& report = store->recovery_report();
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_THAT(report.skipped[0], HasSubstr(std::to_string(leaf)));
  EXPECT_EQ(report.transactions_undone, 1u);
  EXPECT_THAT(log.All(), HasSubstr("NOT recovered"));
  // The rest of the transaction was rolled back; the rest of the tree is intact.
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
  PS_ASSIGN_OR_FAIL(last, tree->Get(Key(1999)));
  EXPECT_EQ(last, Value(1999));
  EXPECT_TRUE(absl::IsDataLoss(tree->Get(Key(0)).status()));
  PS_ASSERT_OK(store->Close());
  sim.Reboot();
  options.skip_damaged = false;
  sim.SetOptions(options);
  // The transaction is finished: no more undo, and the store opens in the default mode.
  PS_ASSIGN_OR_FAIL(reopened, sim.Open());
  EXPECT_EQ(reopened->recovery_report().transactions_undone, 0u);
}

// Defect: the message named the disk manager ("pread") where the file belongs. A store whose log
// directory is gone is refused, naming both.
TEST(DamageTest, AMissingLogDirectoryIsRefusedNamingTheFileAndTheDirectory) {
  TempDir dir;
  const auto path = dir.file("db.pages");
  StoreOptions options = Options();
  options.disk = *ParseDiskManagerSpec("pread");
  {
    PS_ASSIGN_OR_FAIL(store, Store::Open(path, options));
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    PS_ASSERT_OK(tree->Put(nullptr, "k", "v"));
    PS_ASSERT_OK(store->Close());
  }
  std::filesystem::remove_all(path.string() + "-wal");
  absl::StatusOr<std::unique_ptr<Store>> again = Store::Open(path, options);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsDataLoss(again.status())) << again.status();
  EXPECT_THAT(std::string(again.status().message()), HasSubstr(path.string()));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("-wal"));
  EXPECT_THAT(std::string(again.status().message()), ::testing::Not(HasSubstr("pread:")));
}

// A log directory that cannot be read: the open fails with the error, naming the directory; it
// never proceeds as if the log were empty.
TEST(DamageTest, AnUnreadableLogDirectoryIsRefusedNamingIt) {
  SimulatedStore sim(Options());
  PageId anchor;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    anchor = tree->anchor();
    PS_ASSERT_OK(tree->Put(nullptr, "k", "v"));
    PS_ASSERT_OK(store->Close());
  }
  sim.Reboot();
  sim.env().FailCall(1, EACCES, /*persistent=*/true);
  absl::StatusOr<Store*> opened = sim.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("sim.pages-wal"));
  sim.env().ClearFaults();
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
  PS_ASSIGN_OR_FAIL(v, tree->Get("k"));
  EXPECT_EQ(v, "v");
}

// A segment of another store dropped into the directory in place of this store's newest one:
// its salt and LSNs do not match, and its predecessor's end mark or the checkpoint says it is
// not the segment that belongs there.
TEST(DamageTest, ASegmentFromAnotherStoreIsRefused) {
  SimulatedStore a(Options()), b(Options());
  for (SimulatedStore* sim : {&a, &b}) {
    PS_ASSIGN_OR_FAIL(store, sim->Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    for (int i = 0; i < 1500; ++i) {
      // Other sizes in B: its records fall at other LSNs.
      PS_ASSERT_OK(tree->Put(nullptr, Key(i), sim == &a ? Value(i) : Value(i) + "b"));
    }
    PS_ASSERT_OK(store->log().FlushAll());
    sim->PowerLoss();
  }
  // B's newest segment in place of A's.
  absl::StatusOr<std::vector<std::string>> names = a.env().ListFiles();
  ASSERT_TRUE(names.ok());
  std::string newest;
  for (const std::string& n : *names) {
    std::uint64_t number;
    if (ParseSegmentFileName(n, &number)) newest = n;
  }
  ASSERT_FALSE(newest.empty());
  std::vector<std::byte>* theirs = b.env().MutableContents(newest);
  if (theirs == nullptr) GTEST_SKIP() << "premise: B has a segment " << newest;
  *a.env().MutableContents(newest) = *theirs;
  absl::StatusOr<Store*> opened = a.Open();
  ASSERT_FALSE(opened.ok()) << "a foreign segment was accepted";
  EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
}

// The page file swapped with an older copy of itself while its log stays: recovery redoes from
// the older checkpoint (whose log the store kept) and loses nothing, or refuses naming the LSN
// it needs; it never opens with commits missing.
TEST(DamageTest, AnOlderCopyOfThePageFileRecoversFromTheLogOrIsRefused) {
  SimulatedStore sim(Options());
  std::map<std::string, std::string> model;
  PageId anchor;
  std::vector<std::vector<std::byte>> older;
  int copies_taken = 0;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    anchor = tree->anchor();
    for (int i = 0; i < 3000; ++i) {
      PS_ASSERT_OK(tree->Put(nullptr, Key(i % 1000), Value(i)));
      model[Key(i % 1000)] = Value(i);
      if (i == 2500) {
        PS_ASSERT_OK(store->Checkpoint());
        for (PageId p = 0; p < sim.file().page_count(); ++p) {
          older.emplace_back(sim.file().MutablePage(p), sim.file().MutablePage(p) + kPageSize);
        }
        ++copies_taken;
      }
    }
    PS_ASSERT_OK(store->Close());
    sim.Reboot();
  }
  ASSERT_EQ(copies_taken, 1);
  sim.file().Truncate(older.size());
  for (PageId p = 0; p < older.size(); ++p) {
    std::memcpy(sim.file().MutablePage(p), older[p].data(), kPageSize);
  }
  absl::StatusOr<Store*> opened = sim.Open();
  if (!opened.ok()) {
    EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr("LSN"));
    return;
  }
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(**opened, anchor));
  PS_ASSERT_OK(tree->Verify());
  for (const auto& [k, v] : model) {
    PS_ASSIGN_OR_FAIL(got, tree->Get(k));
    EXPECT_EQ(got, v) << k;
  }
}

}  // namespace
}  // namespace pagestore::testing
