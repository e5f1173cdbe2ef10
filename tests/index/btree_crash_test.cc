// The WAL crash harness on a B+tree: transactions of inserts, puts and deletes (commits and
// aborts) cut by simulated power losses at seeded points; after recovery the tree equals the
// model of acknowledged commits and Verify() passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>

#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "storage/superblock.h"
#include "tests/index/index_crash_util.h"

namespace pagestore::testing {
namespace {

StoreOptions TreeCrashOptions(bool truncate_tail = false) {
  StoreOptions o = SmallStoreOptions();
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.truncate_free_tail = truncate_tail;
  return o;
}

// `large`: one value in four is stored out of line (1 KiB to 40 KiB), over few keys, so that
// large values are overwritten and deleted often.
std::vector<IndexTxn> MakeWorkload(std::uint64_t seed, std::size_t n, bool large) {
  std::mt19937_64 rng(seed);
  std::vector<IndexTxn> out(n);
  for (auto& t : out) {
    t.commit = rng() % 5 != 0;
    const std::size_t ops = 1 + rng() % 6;
    for (std::size_t i = 0; i < ops; ++i) {
      IndexTxn::Op op;
      op.kind = static_cast<int>(rng() % 3);
      op.key = fmt::format("key{:05}", rng() % (large ? 40 : 400));
      const std::size_t size = large && rng() % 4 == 0 ? 1024 + rng() % (40 << 10) : rng() % 200;
      op.value = std::string(size, static_cast<char>('a' + rng() % 26));
      if (size > 8) op.value.replace(0, 8, fmt::format("{:08x}", rng() % 0xffffffff));
      t.ops.push_back(std::move(op));
    }
  }
  return out;
}
std::vector<IndexTxn> MakeTreeWorkload(std::uint64_t seed, std::size_t n) {
  return MakeWorkload(seed, n, /*large=*/false);
}

// The tree's entries, after Verify.
absl::StatusOr<IndexModel> ReadTree(const BTree& tree) {
  if (absl::Status s = tree.Verify(); !s.ok()) return s;
  IndexModel m;
  auto it = tree.Begin();
  for (; it.Valid(); it.Next()) m.emplace(std::string(it.key()), std::string(it.value()));
  if (!it.status().ok()) return it.status();
  return m;
}

// Every data page is the tree's or free after recovery: a crash at any point leaks no page of a
// large value, written or replaced.
void ExpectNoLeak(Store& store, const BTree& tree, const std::string& context,
                  const BTree* also = nullptr, const HashIndex* hash = nullptr) {
  std::vector<PageId> pages;
  absl::StatusOr<BTreeStats> stats = tree.Stats(&pages);
  ASSERT_TRUE(stats.ok()) << context << ": " << stats.status();
  if (also != nullptr) {
    std::vector<PageId> more;
    ASSERT_TRUE(also->Stats(&more).ok()) << context;
    pages.insert(pages.end(), more.begin(), more.end());
  }
  if (hash != nullptr) {
    std::vector<PageId> more;
    absl::StatusOr<HashIndexStats> hs = hash->Stats(&more);
    ASSERT_TRUE(hs.ok()) << context << ": " << hs.status();
    pages.insert(pages.end(), more.begin(), more.end());
  }
  std::vector<PageId> all = store.FreePages();
  all.insert(all.end(), pages.begin(), pages.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(std::adjacent_find(all.begin(), all.end()), all.end())
      << context << ": a page both free and the tree's";
  std::vector<PageId> expect;
  for (PageId id = kFirstDataPage; id < store.pool().page_count(); ++id) expect.push_back(id);
  std::vector<PageId> leaked;
  std::set_difference(expect.begin(), expect.end(), all.begin(), all.end(),
                      std::back_inserter(leaked));
  ASSERT_TRUE(leaked.empty()) << context << ": " << leaked.size() << " pages leaked, the first "
                              << leaked.front();
}

// `truncate_tail`: checkpoints give back the free pages at the end of the file (large values
// freed there make long free tails), before the crash and right after recovery.
void RunPowerLosses(bool large, std::size_t points, bool truncate_tail = false) {
  const std::uint64_t base = TestSeed();
  std::size_t undone = 0;
  std::uint64_t truncated = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const std::uint64_t seed = base * 7919 + point;
    SimulatedStore sim(TreeCrashOptions(truncate_tail));
    absl::StatusOr<Store*> store = sim.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(**store));
    const PageId anchor = tree->anchor();
    IndexOutcome warm = RunIndexTxns(**store, *tree, MakeWorkload(seed ^ 0x5555, 20, large), {});
    ASSERT_FALSE(warm.maybe);
    PS_ASSERT_OK((*store)->Checkpoint());
    std::uint64_t crash_at = 0;
    Store* before = *store;
    const IndexOutcome o =
        RunToPowerLoss(sim, tree, MakeWorkload(seed, large ? 40 : 80, large), warm.acked, point,
                       seed, crash_at, [&] { truncated += before->stats().pages_truncated; });

    absl::StatusOr<Store*> again = sim.Open();
    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {})", point, base, crash_at);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    undone += (*again)->recovery_report().transactions_undone;
    PS_ASSIGN_OR_FAIL(reopened, BTree::Open(**again, anchor));
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(ReadTree(*reopened), o, context));
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, context));
    if (truncate_tail) {
      // A checkpoint right after recovery gives back what the crash left free at the end.
      PS_ASSERT_OK((*again)->Checkpoint());
      ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, context + ", checkpointed"));
      truncated += (*again)->stats().pages_truncated;
      absl::StatusOr<IndexModel> now = ReadTree(*reopened);
      ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    }
  }
  EXPECT_GT(undone, 0u);
  if (truncate_tail) {
    EXPECT_GT(truncated, 0u) << "no checkpoint gave pages back";
  }
}

TEST(BTreeCrashTest, SimulatedPowerLossRecoversAcknowledgedCommits) {
  RunPowerLosses(/*large=*/false, CrashRuns(300, 2000));
}

TEST(BTreeCrashTest, LargeValuesSurvivePowerLossAndLeakNoPage) {
  RunPowerLosses(/*large=*/true, CrashRuns(150, 1000));
}

TEST(BTreeCrashTest, TailTruncationSurvivesPowerLossAndLeaksNoPage) {
  RunPowerLosses(/*large=*/true, CrashRuns(150, 1000), /*truncate_tail=*/true);
}

// After a checkpoint that gave back the file's free tail, the older superblock copy still claims
// the pages given back; if the newer copy is then damaged, open falls back to the older one and
// recovers from its checkpoint: the file must still hold every page it names.
TEST(BTreeCrashTest, TailTruncationKeepsTheOlderSuperblockCopyUsable) {
  SimulatedStore sim(TreeCrashOptions(/*truncate_tail=*/true));
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(**store));
  const PageId anchor = tree->anchor();
  IndexModel model;
  for (int i = 0; i < 30; ++i) {
    const std::string key = fmt::format("k{:02}", i);
    const std::string value(12000 + i, static_cast<char>('a' + i % 26));
    PS_ASSERT_OK(tree->Put(nullptr, key, value));
    model[key] = value;
  }
  PS_ASSERT_OK((*store)->Checkpoint());
  const PageId before = (*store)->pool().page_count();
  const Lsn older_checkpoint = (*store)->pool().roots().checkpoint_lsn;
  for (int i = 10; i < 30; ++i) {  // the last values written: their pages are the file's tail
    PS_ASSERT_OK(tree->Delete(nullptr, fmt::format("k{:02}", i)));
    model.erase(fmt::format("k{:02}", i));
  }
  PS_ASSERT_OK((*store)->Checkpoint());
  const PageId after = (*store)->pool().page_count();
  ASSERT_LT(after, before) << "the checkpoint gave nothing back";
  tree.reset();
  sim.PowerLoss();
  // The newer superblock copy (the checkpoint that shrank the file) is damaged.
  std::array<std::uint64_t, 2> seq{};
  for (PageId c = 0; c < 2; ++c) {
    absl::StatusOr<Superblock> sb =
        DecodeSuperblock(c, ConstPageSpan(sim.file().MutablePage(c), kPageSize), "sim.pages");
    ASSERT_TRUE(sb.ok()) << sb.status();
    seq[c] = sb->sequence;
  }
  sim.file().MutablePage(seq[0] > seq[1] ? 0 : 1)[100] ^= std::byte{0xff};
  absl::StatusOr<Store*> again = sim.Open();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->recovery_report().checkpoint_lsn, older_checkpoint)
      << "recovered from the older copy's checkpoint";
  PS_ASSIGN_OR_FAIL(reopened, BTree::Open(**again, anchor));
  absl::StatusOr<IndexModel> now = ReadTree(*reopened);
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(*now, model);
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, "after the fallback"));
  // Its next checkpoints give the tail back again, and the file is cut to it.
  PS_ASSERT_OK((*again)->Checkpoint());
  PS_ASSERT_OK((*again)->Checkpoint());
  EXPECT_EQ((*again)->pool().page_count(), after);
  EXPECT_EQ(sim.file().page_count(), after);
  ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, "given back again"));
}

// Deletes a random 70% of `model`'s keys from `index` (and from `model`): what compaction gives
// back.
template <typename Index>
void DeleteMost(Index& index, IndexModel& model, std::mt19937_64& rng) {
  for (auto it = model.begin(); it != model.end();) {
    if (rng() % 10 < 7) {
      PS_ASSERT_OK(index.Delete(nullptr, it->first));
      it = model.erase(it);
    } else {
      ++it;
    }
  }
}

// Power loss at seeded points during Store::Compact of a tree with large values, 70% deleted:
// compaction changes no entry, so the store recovers to the model, passes Verify and leaks no
// page (the catalog's tree counted), and a compaction after recovery finishes the job.
TEST(BTreeCrashTest, CompactionSurvivesPowerLoss) {
  const std::uint64_t base = TestSeed();
  std::size_t moved_before_crash = 0;
  std::size_t anchors_moved = 0;
  for (std::size_t point = 0; point < CrashRuns(60, 400); ++point) {
    const std::uint64_t seed = base * 6007 + point;
    StoreOptions options = TreeCrashOptions();
    // Segments large enough that a value's head moves with the renaming of its pages in one
    // record (with 64 KiB segments the heads of the larger values stay where they are).
    options.log.segment_size = kSegmentHeaderSize + (512 << 10);
    // A pool in which every page naming the hash index's anchor fits one move with it (a move
    // latches at most half the pool): the anchor never has to stay behind the limit.
    options.pool_frames = 256;
    options.undo_handlers[kHashResourceManager] = HashUndoHandler();
    SimulatedStore sim(options);
    ASSERT_TRUE(sim.Open().ok());
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*sim.store()));
    PS_ASSIGN_OR_FAIL(tree, catalog->CreateBTree("t"));
    IndexOutcome filled = RunIndexTxns(*sim.store(), *tree, MakeWorkload(seed, 60, true), {});
    ASSERT_FALSE(filled.maybe);
    // Made after the tree's pages: its anchor lies in the part of the file given back, so it
    // moves (renamed in its pages and in the catalog) when its index fits one record.
    PS_ASSIGN_OR_FAIL(hash, catalog->CreateHash("h"));
    const PageId hash_anchor = hash->anchor();
    IndexOutcome hashed = RunIndexTxns(*sim.store(), *hash, MakeWorkload(seed + 1, 30, true), {});
    ASSERT_FALSE(hashed.maybe);
    IndexModel model = filled.acked, hash_model = hashed.acked;
    std::mt19937_64 rng(seed);
    ASSERT_NO_FATAL_FAILURE(DeleteMost(*tree, model, rng));
    ASSERT_NO_FATAL_FAILURE(DeleteMost(*hash, hash_model, rng));
    hash.reset();  // compaction moves the pages its directory cache names
    PS_ASSERT_OK(sim.store()->Checkpoint());
    const PageId before = sim.store()->pool().page_count();
    std::uint64_t crash_at = std::uniform_int_distribution<std::uint64_t>(1, 120)(rng);
    FailLogCallsFrom(sim, crash_at);
    if (point % 3 == 2) {
      sim.fault()->FailCall(std::uniform_int_distribution<std::uint64_t>(1, 40)(rng), EIO, true);
    }
    absl::StatusOr<CompactResult> interrupted = sim.store()->Compact();
    if (sim.store()->pool().page_count() < before) ++moved_before_crash;
    tree.reset();
    catalog.reset();
    sim.PowerLoss(seed, point % 2 == 0 ? 0.5 : 0.0);

    const std::string context =
        fmt::format("crash point {} (PAGESTORE_TEST_SEED={}, log call {})", point, base, crash_at);
    absl::StatusOr<Store*> again = sim.Open();
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    PS_ASSIGN_OR_FAIL(reopened_catalog, Catalog::Open(**again));
    PS_ASSIGN_OR_FAIL(reopened, reopened_catalog->OpenBTree("t"));
    auto check_hash = [&](const std::string& when) -> std::unique_ptr<HashIndex> {
      absl::StatusOr<std::unique_ptr<HashIndex>> h = reopened_catalog->OpenHash("h");
      EXPECT_TRUE(h.ok()) << when << ": " << h.status();
      if (!h.ok()) return nullptr;
      EXPECT_TRUE((*h)->Verify().ok()) << when << ": " << (*h)->Verify();
      absl::StatusOr<std::uint64_t> size = (*h)->Size();
      EXPECT_TRUE(size.ok() && *size == hash_model.size()) << when;
      for (const auto& [k, v] : hash_model) {
        absl::StatusOr<std::string> got = (*h)->Get(k);
        EXPECT_TRUE(got.ok() && *got == v) << when << ": key " << k;
      }
      return std::move(*h);
    };
    absl::StatusOr<IndexModel> now = ReadTree(*reopened);
    ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    ASSERT_EQ(*now, model) << context;
    std::unique_ptr<HashIndex> h = check_hash(context);
    ASSERT_NE(h, nullptr);
    ASSERT_NO_FATAL_FAILURE(
        ExpectNoLeak(**again, *reopened, context, &reopened_catalog->tree(), h.get()));
    h.reset();
    absl::StatusOr<CompactResult> done = (*again)->Compact();
    ASSERT_TRUE(done.ok()) << context << ": " << done.status();
    now = ReadTree(*reopened);
    ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    ASSERT_EQ(*now, model) << context;
    h = check_hash(context + ", compacted");
    ASSERT_NE(h, nullptr);
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**again, *reopened, context + ", compacted",
                                         &reopened_catalog->tree(), h.get()));
    // The slack: free pages below the limit that the free list's trunks hold (three
    // checkpoints' worth), so that the last pages moved land just past it.
    EXPECT_LE(done->pages_after, done->limit + done->limit / 100 + 16) << context;
    if (hash_anchor >= done->pages_after) ++anchors_moved;
  }
  EXPECT_GT(moved_before_crash, 0u) << "no crash came after a compaction had begun to shrink";
  EXPECT_GT(anchors_moved, 0u) << "premise: no hash anchor lay in the part given back";
}

// A process compacting a store is killed (SIGKILL) at a random moment: the store reopens to its
// model, verifies and leaks no page. Each run first writes more (large values among them) and
// deletes 70% of the keys, so that every compaction has work; both disk managers.
void RunCompactionKills(DiskManagerKind kind, std::size_t runs) {
  TempDir dir;
  const std::filesystem::path path = dir.file("compact.pages");
  StoreOptions options = TreeCrashOptions();
  options.disk.kind = kind;
  options.disk.mmap = SmallMmapOptions().mmap;
  options.log.segment_size = kSegmentHeaderSize + (512 << 10);
  const std::uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  IndexModel model;
  std::size_t killed = 0;
  for (std::size_t run = 0; run < runs; ++run) {
    {
      absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
      ASSERT_TRUE(store.ok()) << store.status();
      PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
      absl::StatusOr<std::unique_ptr<BTree>> tree = catalog->OpenBTree("t");
      if (absl::IsNotFound(tree.status())) tree = catalog->CreateBTree("t");
      ASSERT_TRUE(tree.ok()) << tree.status();
      IndexOutcome o = RunIndexTxns(**store, **tree, MakeWorkload(seed + run, 40, true), model);
      ASSERT_FALSE(o.maybe);
      model = o.acked;
      ASSERT_NO_FATAL_FAILURE(DeleteMost(**tree, model, rng));
      PS_ASSERT_OK((*store)->Close());
    }
    const KillRun kill = ForkAndKill(
        [&](int fd) {
          absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
          if (!store.ok()) _exit(2);
          absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
          if (!catalog.ok()) _exit(3);
          const std::uint32_t started = 0;
          if (::write(fd, &started, sizeof started) != sizeof started) _exit(4);
          if (!(*store)->Compact().ok()) _exit(5);
        },
        1, rng);
    ASSERT_EQ(kill.exit_code, 0) << "the child failed";
    if (kill.killed) ++killed;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, options);
    const std::string context = fmt::format("run {} (PAGESTORE_TEST_SEED={})", run, seed);
    ASSERT_TRUE(store.ok()) << context << ": " << store.status();
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(**store));
    PS_ASSIGN_OR_FAIL(tree, catalog->OpenBTree("t"));
    absl::StatusOr<IndexModel> now = ReadTree(*tree);
    ASSERT_TRUE(now.ok()) << context << ": " << now.status();
    ASSERT_EQ(*now, model) << context;
    ASSERT_NO_FATAL_FAILURE(ExpectNoLeak(**store, *tree, context, &catalog->tree()));
  }
  EXPECT_GT(killed, 0u) << "every compaction finished before its kill";
}

TEST(BTreeCrashTest, KilledCompactionPread) {
  RunCompactionKills(DiskManagerKind::kPread, CrashRuns(12, 100));
}
TEST(BTreeCrashTest, KilledCompactionMmap) {
  RunCompactionKills(DiskManagerKind::kMmap, CrashRuns(12, 100));
}

void RunTreeKills(DiskManagerKind kind, std::size_t runs) {
  RunIndexKills<BTree>({.file = "tree.pages",
                        .options = TreeCrashOptions(),
                        .create = [](Catalog& c) { return c.CreateBTree("t").status(); },
                        .open = [](Catalog& c) { return c.OpenBTree("t"); },
                        .workload = MakeTreeWorkload,
                        .read = ReadTree},
                       kind, runs);
}

TEST(BTreeCrashTest, KilledProcessPread) {
  RunTreeKills(DiskManagerKind::kPread, CrashRuns(20, 200));
}
TEST(BTreeCrashTest, KilledProcessMmap) {
  RunTreeKills(DiskManagerKind::kMmap, CrashRuns(20, 200));
}

}  // namespace
}  // namespace pagestore::testing
