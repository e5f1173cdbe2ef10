// Damage that recovery must never pass over silently: log records naming pages the log never
// allocated, a damaged superblock copy, an unfinished transaction whose rollback meets a damaged
// page, a missing log directory, a segment from another store, an older copy of the page file.
// Each is an error naming the file, page or LSN, or a recovery that loses nothing and says what
// it did.
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "index/btree.h"
#include "storage/logging.h"
#include "tests/wal/wal_test_util.h"
#include "wal/store_core.h"

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
  absl::StatusOr<Lsn> lsn = store.core().log->Append({RecordType::kMtr, 0, kInvalidLsn, payload});
  EXPECT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_TRUE(store.FlushLog().ok());
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
    PS_ASSERT_OK(store->FlushLog());
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
      EXPECT_GT(store->log_stats().segments_removed, 2u) << "premise: old segments recycled";
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
    EXPECT_THAT(log.All(), HasSubstr(fmt::format("superblock copy {} is unreadable", current)));
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

// Defect: with skip_damaged, redo of a record whose entries for a damaged page came after those
// of another page applied them to that other page (the one still latched). The skipped page's
// changes go nowhere; the other page gets exactly its own.
TEST(DamageTest, SkippingADamagedPageNeverAppliesItsChangesToAnother) {
  StoreOptions options = Options();
  SimulatedStore sim(options);
  PageId a, b;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    MiniTransaction mtr = store->BeginMtr();
    PS_ASSIGN_OR_FAIL(pa, mtr.AllocatePage(PageType::kRaw));
    PS_ASSIGN_OR_FAIL(pb, mtr.AllocatePage(PageType::kRaw));
    a = pa;
    b = pb;
    PS_ASSERT_OK(mtr.Commit().status());
    PS_ASSERT_OK(store->Checkpoint());  // both pages on disk, older than the record below
    const auto bytes = [](char c) { return std::vector<std::byte>(8, static_cast<std::byte>(c)); };
    std::vector<std::byte> payload;
    MtrPayloadWriter enc(&payload);
    enc.PageBytes(a, 100, bytes('a'));
    enc.PageBytes(b, 100, bytes('b'));
    enc.PageBytes(a, 200, bytes('x'));  // a's again, after b's
    AppendCraftedRecord(sim, *store, payload);
  }
  sim.file().MutablePage(a)[kPageSize - 1] ^= std::byte{0x5a};  // checksum no longer matches
  options.skip_damaged = true;
  sim.SetOptions(options);
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  const RecoveryReport& report = store->recovery_report();
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_THAT(report.skipped[0], HasSubstr(fmt::format("page {}:", a)));
  PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(b));
  EXPECT_EQ(g.data()[100], std::byte{'b'});
  EXPECT_EQ(g.data()[200], std::byte{0}) << "page " << a << "'s change was applied to page " << b;
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
    PS_ASSERT_OK(store->FlushLog());
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
  ASSERT_NE(theirs, nullptr) << "premise: B has a segment " << newest;
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

// Found by review: ordinary crashes that the stricter log rules must not take for damage, and
// frees that must not hand out a page the older superblock copy still names.
struct SegState {
  bool marked_then_empty = false;
};

SegState Inspect(MemoryLogEnv& env) {
  SegState st;
  absl::StatusOr<std::vector<std::string>> names = env.ListFiles();
  if (!names.ok()) return st;
  std::vector<std::pair<std::uint64_t, std::string>> segs;
  for (const std::string& n : *names) {
    std::uint64_t num;
    if (ParseSegmentFileName(n, &num)) segs.push_back({num, n});
  }
  std::sort(segs.begin(), segs.end());
  if (segs.size() < 2) return st;
  const std::vector<std::byte>& last = *env.MutableContents(segs.back().second);
  const std::vector<std::byte>& prev = *env.MutableContents(segs[segs.size() - 2].second);
  if (last.size() < kSegmentHeaderSize) return st;
  const bool empty = std::all_of(last.begin() + kSegmentHeaderSize, last.end(),
                                 [](std::byte b) { return b == std::byte{0}; });
  SegmentHeader h;
  if (!DecodeSegmentHeader(prev, &h)) return st;
  SegmentEndMark m;
  const bool marked = DecodeSegmentEndMark(
      std::span(prev).subspan(kSegmentEndMarkOffset, kSegmentEndMarkSize), h.salt, &m);
  st.marked_then_empty = empty && marked;
  return st;
}

// Runs puts until the crash_at-th log call fails, then loses power.
void RunUntilCrash(SimulatedStore& sim, std::uint64_t crash_at) {
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(**store));
  PS_ASSERT_OK((*store)->Checkpoint());
  auto calls = std::make_shared<std::uint64_t>(0);
  sim.env().SetHook([calls, crash_at] { return ++*calls >= crash_at ? EIO : 0; });
  for (int i = 0; i < 3000; ++i) {
    if (!tree->Put(nullptr, Key(i), Value(i)).ok()) break;
  }
  sim.env().SetHook(nullptr);
  tree.reset();
  sim.PowerLoss();
}

TEST(DamageTest, ACrashAnywhereInRecoveryAfterASegmentSwitchIsNotDataLoss) {
  int found_states = 0, false_data_loss = 0;
  for (std::uint64_t crash_at = 1; crash_at <= 400 && found_states < 3; ++crash_at) {
    bool interesting;
    {
      SimulatedStore sim(Options());
      ASSERT_NO_FATAL_FAILURE(RunUntilCrash(sim, crash_at));
      interesting = Inspect(sim.env()).marked_then_empty;
      if (interesting) {
        // Premise: an ordinary open of this state works.
        absl::StatusOr<Store*> ok = sim.Open();
        ASSERT_TRUE(ok.ok()) << ok.status();
      }
    }
    if (!interesting) continue;
    ++found_states;
    for (std::uint64_t r = 1; r <= 40; ++r) {
      SimulatedStore sim(Options());
      ASSERT_NO_FATAL_FAILURE(RunUntilCrash(sim, crash_at));
      auto calls = std::make_shared<std::uint64_t>(0);
      sim.env().SetHook([calls, r] { return ++*calls >= r ? EIO : 0; });
      absl::StatusOr<Store*> failed = sim.Open();  // recovery crashes at its r-th log call
      sim.env().SetHook(nullptr);
      sim.PowerLoss();
      absl::StatusOr<Store*> again = sim.Open();
      if (!again.ok()) {
        ++false_data_loss;
        ADD_FAILURE() << "crash_at " << crash_at << ", recovery crashed at log call " << r
                      << ": the next open fails: " << again.status();
      }
    }
  }
  EXPECT_GT(found_states, 0) << "premise: a crash left a marked segment and an empty successor";
  EXPECT_EQ(false_data_loss, 0);
}

TEST(DamageTest, FreeingATrunkTheOlderSuperblockCopyNamesIsRefused) {
  SimulatedStore sim(Options());
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  for (int i = 0; i < 3000; ++i) PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
  for (int i = 0; i < 2900; ++i) PS_ASSERT_OK(tree->Delete(nullptr, Key(i)));
  PS_ASSERT_OK(store->Checkpoint());
  const PageId head1 = store->pool().roots().free_list_head;
  ASSERT_NE(head1, kInvalidPageId) << "premise: the first checkpoint has trunks";
  PS_ASSERT_OK(store->Checkpoint());
  ASSERT_NE(store->pool().roots().free_list_head, head1) << "premise: new trunks";
  {
    std::vector<PageId> free = store->FreePages();
    ASSERT_TRUE(std::binary_search(free.begin(), free.end(), head1))
        << "premise: the old trunk is counted free (prev_trunks_)";
  }
  MiniTransaction mtr = store->BeginMtr();
  absl::Status s = mtr.FreePage(head1);
  EXPECT_TRUE(absl::IsInvalidArgument(s))
      << "page " << head1 << " (a trunk of the checkpoint the older superblock copy names) "
      << "was accepted by FreePage: " << s;
  if (!s.ok()) return;
  PS_ASSERT_OK(mtr.Commit().status());
  // The harm: the page is handed out, then handed out again after the next checkpoint.
  std::multiset<PageId> live;
  auto allocate_until = [&](PageId want) -> bool {
    for (int n = 0; n < 5000; ++n) {
      MiniTransaction m = store->BeginMtr();
      absl::StatusOr<PageId> id = m.AllocatePage(PageType::kBTreeLeaf);
      if (!id.ok()) return false;
      if (!m.Commit().ok()) return false;
      live.insert(*id);
      if (*id == want) return true;
    }
    return false;
  };
  ASSERT_TRUE(allocate_until(head1));
  PS_ASSERT_OK(store->Checkpoint());
  ASSERT_TRUE(allocate_until(head1));
  EXPECT_EQ(live.count(head1), 1u) << "page " << head1 << " was allocated twice, never freed";
}

TEST(DamageTest, APagePastTheHighWaterMarkStaysUsableAcrossReopens) {
  SimulatedStore sim(Options());
  PageId p;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    for (int i = 0; i < 300; ++i) PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
    PS_ASSERT_OK(store->Checkpoint());
    // Use up the free list so the next allocation grows the file.
    while (!store->FreePages().empty()) {
      MiniTransaction m = store->BeginMtr();
      PS_ASSERT_OK(m.AllocatePage(PageType::kRaw).status());
      PS_ASSERT_OK(m.Commit().status());
    }
    PS_ASSERT_OK(store->Checkpoint());
    PS_ASSERT_OK(store->pool().FlushAll());
    MiniTransaction pending = store->BeginMtr();
    PS_ASSIGN_OR_FAIL(id, pending.AllocatePage(PageType::kRaw));  // extends; record not durable
    p = id;
    // A live disk-manager swap (here refused after its first Sync: the memory manager cannot be
    // swapped) syncs the superblock with the grown page count.
    (void)store->pool().SwapDiskManager(DiskManagerOptions{});
    sim.Cut();
    { MiniTransaction gone = std::move(pending); }
    sim.Reboot();
  }
  {
    absl::StatusOr<Store*> first = sim.Open();
    ASSERT_TRUE(first.ok()) << first.status();
    std::vector<PageId> free = (*first)->FreePages();
    ASSERT_TRUE(std::binary_search(free.begin(), free.end(), p))
        << "premise: page " << p << " is past the high-water mark and free";
    PS_ASSERT_OK((*first)->Close());
  }
  sim.Reboot();
  absl::StatusOr<Store*> second = sim.Open();
  EXPECT_TRUE(second.ok()) << "the open after a successful recovery and a clean close: "
                           << second.status();
}

}  // namespace
}  // namespace pagestore::testing
