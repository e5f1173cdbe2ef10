// One suite that every DiskManager implementation passes: pread, pread with O_DIRECT, mmap and
// memory. Whatever an engine relies on through the interface is asserted here once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

class ConformanceTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override { PS_SKIP_IF_NO_DIRECT_IO(GetParam()); }
  ManagerFactory factory_{GetParam()};

  // Allocates `n` pages and writes FillPage(id, version) into each; returns their ids.
  std::vector<PageId> AllocateAndWrite(DiskManager& dm, int n, std::uint64_t version = 0) {
    std::vector<PageId> ids;
    for (int i = 0; i < n; ++i) {
      auto id = dm.AllocatePage();
      EXPECT_TRUE(id.ok()) << id.status();
      if (!id.ok()) break;
      alignas(kPageSize) Page page;
      FillPage(page, *id, version);
      EXPECT_TRUE(dm.WritePage(*id, page).ok());
      ids.push_back(*id);
    }
    return ids;
  }
};

TEST_P(ConformanceTest, NewFileHasOnlyTheSuperblock) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  EXPECT_EQ(dm->page_count(), kSuperblockPageCount);
  EXPECT_EQ(dm->roots(), SuperblockRoots{});
  PS_ASSIGN_OR_FAIL(first, dm->AllocatePage());
  EXPECT_EQ(first, kFirstDataPage);
}

TEST_P(ConformanceTest, RoundTripSealsHeader) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  std::vector<PageId> ids = AllocateAndWrite(*dm, 50);
  ASSERT_EQ(ids.size(), 50u);
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));
    EXPECT_TRUE(PageHolds(page, id, 0)) << "page " << id;
    PageHeader h = ReadPageHeader(page);
    EXPECT_EQ(h.page_id, id);
    EXPECT_EQ(h.version, kFormatVersion);
    EXPECT_EQ(static_cast<PageType>(h.type), PageType::kRaw);
  }
  // Overwrite and read the new version.
  alignas(kPageSize) Page page;
  FillPage(page, ids[7], 1);
  PS_ASSERT_OK(dm->WritePage(ids[7], page));
  PS_ASSERT_OK(dm->ReadPage(ids[7], page));
  EXPECT_TRUE(PageHolds(page, ids[7], 1));
}

TEST_P(ConformanceTest, UnalignedBuffersWork) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  std::vector<std::byte> raw(kPageSize * 2 + 64);
  Page src;
  FillPage(src, id, 3);
  PageSpan unaligned(raw.data() + 8, kPageSize);
  std::memcpy(unaligned.data(), src.data(), kPageSize);
  PS_ASSERT_OK(dm->WritePage(id, unaligned));
  PageSpan out(raw.data() + kPageSize + 24, kPageSize);
  PS_ASSERT_OK(dm->ReadPage(id, out));
  Page copy;
  std::memcpy(copy.data(), out.data(), kPageSize);
  EXPECT_TRUE(PageHolds(copy, id, 3));
}

TEST_P(ConformanceTest, SyncedDataAndRootsSurviveReopen) {
  std::vector<PageId> ids;
  const SuperblockRoots roots{.free_list_head = 9, .catalog_root = 3, .checkpoint_lsn = 12345};
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    ids = AllocateAndWrite(*dm, 40);
    dm->SetRoots(roots);
    PS_ASSERT_OK(dm->Sync());
  }
  if (!factory_.kind().in_memory) {
    // Sync wrote back everything it was asked to: nothing of the file is dirty in the cache.
    if (std::optional<std::uint64_t> dirty = DirtyPagesInCache(factory_.path())) {
      EXPECT_EQ(*dirty, 0u);
    }
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  EXPECT_EQ(dm->page_count(), kSuperblockPageCount + 40);
  EXPECT_EQ(dm->roots(), roots);
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));
    EXPECT_TRUE(PageHolds(page, id, 0)) << "page " << id;
  }
}

TEST_P(ConformanceTest, PagesAllocatedAfterTheLastSyncAreNotClaimedOnReopen) {
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    AllocateAndWrite(*dm, 3);
    PS_ASSERT_OK(dm->Sync());
    AllocateAndWrite(*dm, 2);  // never synced: the destructor does not sync
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  EXPECT_EQ(dm->page_count(), kSuperblockPageCount + 3);
  alignas(kPageSize) Page page;
  EXPECT_TRUE(absl::IsOutOfRange(dm->ReadPage(kSuperblockPageCount + 3, page)));
}

TEST_P(ConformanceTest, ManySyncsAlternateSuperblockCopies) {
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    for (int i = 0; i < 7; ++i) {
      AllocateAndWrite(*dm, 1, i);
      dm->SetRoots({.checkpoint_lsn = static_cast<Lsn>(100 + i)});
      PS_ASSERT_OK(dm->Sync());
    }
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  EXPECT_EQ(dm->page_count(), kSuperblockPageCount + 7);
  EXPECT_EQ(dm->roots().checkpoint_lsn, 106u);
}

TEST_P(ConformanceTest, BatchReads) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  std::vector<PageId> ids = AllocateAndWrite(*dm, 20);
  // Runs of consecutive ids, a repeat and a jump backwards.
  std::vector<PageId> want = {ids[0], ids[1], ids[2], ids[10], ids[3], ids[3], ids[19], ids[18]};
  std::vector<std::byte> out(want.size() * kPageSize);
  PS_ASSERT_OK(dm->ReadPages(want, out));
  for (std::size_t i = 0; i < want.size(); ++i) {
    Page page;
    std::memcpy(page.data(), out.data() + i * kPageSize, kPageSize);
    EXPECT_TRUE(PageHolds(page, want[i], 0)) << "slot " << i;
  }
  const PageId count = dm->page_count();
  for (std::vector<PageId> bad : std::vector<std::vector<PageId>>{
           {ids[0], count + 5}, {count - 1, count}, {~PageId{0}, 0}, {count, count + 1}}) {
    absl::Status s = dm->ReadPages(bad, out);
    EXPECT_TRUE(absl::IsOutOfRange(s)) << bad[0] << "," << bad[1] << ": " << s;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(dm->ReadPages(want, std::span(out).first(kPageSize))));
}

TEST_P(ConformanceTest, HintsAreAccepted) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  std::vector<PageId> ids = AllocateAndWrite(*dm, 30);
  const std::uint64_t before = dm->stats().hint_calls;
  PS_EXPECT_OK(dm->Advise(AccessPattern::kRandom));
  PS_EXPECT_OK(dm->Advise(AccessPattern::kSequential));
  PS_EXPECT_OK(dm->Advise(AccessPattern::kNormal));
  PS_EXPECT_OK(dm->WillNeed(ids.front(), ids.back()));
  PS_EXPECT_OK(dm->WillNeed(ids[4], ids[4]));
  EXPECT_TRUE(absl::IsInvalidArgument(dm->WillNeed(ids[5], ids[4])));
  EXPECT_TRUE(absl::IsOutOfRange(dm->WillNeed(ids[0], dm->page_count())));
  EXPECT_GE(dm->stats().hint_calls, before + 5);
  // Hints change nothing about the contents.
  alignas(kPageSize) Page page;
  PS_ASSERT_OK(dm->ReadPage(ids[9], page));
  EXPECT_TRUE(PageHolds(page, ids[9], 0));
}

TEST_P(ConformanceTest, RangeAndSuperblockChecks) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  AllocateAndWrite(*dm, 2);
  alignas(kPageSize) Page page;
  FillPage(page, 0, 0);
  absl::Status s = dm->WritePage(0, page);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE(absl::IsInvalidArgument(dm->WritePage(1, page)));
  s = dm->ReadPage(dm->page_count(), page);
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(fmt::format("page {}", dm->page_count())));
  EXPECT_TRUE(absl::IsOutOfRange(dm->WritePage(1000, page)));
  // The superblock copies themselves are readable, sealed pages.
  PS_EXPECT_OK(dm->ReadPage(0, page));
  EXPECT_EQ(static_cast<PageType>(ReadPageHeader(page).type), PageType::kSuperblock);
}

TEST_P(ConformanceTest, StatsCountWhatHappened) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  const DiskStats s0 = dm->stats();
  std::vector<PageId> ids = AllocateAndWrite(*dm, 10);
  alignas(kPageSize) Page page;
  for (PageId id : ids) PS_ASSERT_OK(dm->ReadPage(id, page));
  PS_ASSERT_OK(dm->Sync());
  const DiskStats s1 = dm->stats();
  EXPECT_EQ(s1.reads - s0.reads, 10u);
  EXPECT_GE(s1.writes - s0.writes, 11u);  // 10 pages and a superblock copy
  EXPECT_EQ(s1.bytes_read - s0.bytes_read, 10 * kPageSize);
  EXPECT_GE(s1.syncs, s0.syncs + 1);
  EXPECT_THAT(s1.ToString(), HasSubstr("reads="));
}

TEST_P(ConformanceTest, GrowsAcrossManyGrowthSteps) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  std::vector<PageId> ids = AllocateAndWrite(*dm, 300);  // 1.2 MiB: many 64 KiB steps
  ASSERT_EQ(ids.size(), 300u);
  EXPECT_GT(dm->stats().growths, 10u);
  if (factory_.kind().options.kind == DiskManagerKind::kMmap && !factory_.kind().in_memory) {
    EXPECT_GT(dm->stats().remaps, 10u);
  }
  PS_ASSERT_OK(dm->Sync());
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));
    ASSERT_TRUE(PageHolds(page, id, 0)) << "page " << id;
  }
}

TEST_P(ConformanceTest, OpenModes) {
  EXPECT_TRUE(absl::IsNotFound(factory_.Open(OpenMode::kOpenExisting).status()));
  EXPECT_TRUE(absl::IsNotFound(factory_.Open(OpenMode::kReadOnly).status()));
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kCreate));
    AllocateAndWrite(*dm, 3);
    PS_ASSERT_OK(dm->Sync());
  }
  EXPECT_TRUE(absl::IsAlreadyExists(factory_.Open(OpenMode::kCreate).status()));
  PS_ASSIGN_OR_FAIL(ro, factory_.Open(OpenMode::kReadOnly));
  alignas(kPageSize) Page page;
  PS_ASSERT_OK(ro->ReadPage(kFirstDataPage, page));
  EXPECT_TRUE(PageHolds(page, kFirstDataPage, 0));
  absl::Status s = ro->WritePage(kFirstDataPage, page);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("read-only"));
  EXPECT_TRUE(absl::IsFailedPrecondition(ro->AllocatePage().status()));
  PS_EXPECT_OK(ro->Sync());  // nothing to make durable
  ro->SetRoots({.catalog_root = 5});
  EXPECT_TRUE(absl::IsFailedPrecondition(ro->Sync()));
}

TEST_P(ConformanceTest, SecondWriterIsRefused) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  absl::Status s = factory_.Open().status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  if (!factory_.kind().in_memory) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(factory_.path().string()));
  }
  // A reader cannot open it while the writer holds it either.
  EXPECT_TRUE(absl::IsFailedPrecondition(factory_.Open(OpenMode::kReadOnly).status()));
  dm.reset();
  {
    // Readers share; a writer waits for them all to go.
    PS_ASSIGN_OR_FAIL(r1, factory_.Open(OpenMode::kReadOnly));
    PS_ASSIGN_OR_FAIL(r2, factory_.Open(OpenMode::kReadOnly));
    EXPECT_TRUE(absl::IsFailedPrecondition(factory_.Open().status()));
  }
  PS_EXPECT_OK(factory_.Open().status());
}

// Shrink: the pages past the new count are gone at once; the superblock says the new count only
// with new roots; the file is cut once neither copy claims the pages; every reopen in between
// finds what its superblock names; the file grows back over the cut.
TEST_P(ConformanceTest, ShrinkGivesPagesBackOnceNeitherSuperblockCopyClaimsThem) {
  auto file_pages = [&]() -> PageId {
    if (factory_.kind().in_memory) return factory_.memory().page_count();
    return std::filesystem::file_size(factory_.path()) / kPageSize;
  };
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    AllocateAndWrite(*dm, 30);  // pages 2..31
    dm->SetRoots({.free_list_head = 5, .catalog_root = 6, .checkpoint_lsn = 100});
    PS_ASSERT_OK(dm->Sync());
    EXPECT_FALSE(dm->Shrink(kFirstDataPage - 1).ok());
    EXPECT_FALSE(dm->Shrink(33).ok());
    PS_ASSERT_OK(dm->Shrink(12));
    EXPECT_EQ(dm->page_count(), 12u);
    alignas(kPageSize) Page page;
    EXPECT_TRUE(absl::IsOutOfRange(dm->ReadPage(20, page)));
    FillPage(page, 20, 0);
    EXPECT_TRUE(absl::IsOutOfRange(dm->WritePage(20, page)));
    PS_ASSERT_OK(dm->ReadPage(11, page));
    EXPECT_TRUE(PageHolds(page, 11, 0));
    PS_ASSERT_OK(dm->Sync());  // the same roots: the superblock still claims 32 pages
  }
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    EXPECT_EQ(dm->page_count(), 32u) << "roots of before the shrink claim its pages";
    PS_ASSERT_OK(dm->Shrink(12));
    dm->SetRoots({.free_list_head = 5, .catalog_root = 6, .checkpoint_lsn = 200});
    PS_ASSERT_OK(dm->Sync());  // says 12; the older copy still claims 32
    EXPECT_GE(file_pages(), 32u);
  }
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open());
    EXPECT_EQ(dm->page_count(), 12u);
    dm->SetRoots({.free_list_head = 5, .catalog_root = 6, .checkpoint_lsn = 300});
    PS_ASSERT_OK(dm->Sync());  // both copies say 12 now, but no shrink is pending here
    PS_ASSERT_OK(dm->Shrink(12));
    dm->SetRoots({.free_list_head = 5, .catalog_root = 6, .checkpoint_lsn = 400});
    PS_ASSERT_OK(dm->Sync());
    EXPECT_EQ(file_pages(), 12u) << "cut once neither copy claims more";
    // Growth over the cut.
    std::vector<PageId> ids = AllocateAndWrite(*dm, 5);
    EXPECT_EQ(ids.front(), 12u);
    PS_ASSERT_OK(dm->Sync());
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  EXPECT_EQ(dm->page_count(), 17u);
  alignas(kPageSize) Page page;
  for (PageId id : {PageId{2}, PageId{11}, PageId{12}, PageId{16}}) {
    PS_ASSERT_OK(dm->ReadPage(id, page));
    EXPECT_TRUE(PageHolds(page, id, 0)) << "page " << id;
  }
}

INSTANTIATE_TEST_SUITE_P(AllManagers, ConformanceTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

// A file written by any manager opens and reads identically in every other.
class CrossManagerTest : public ::testing::TestWithParam<std::tuple<ManagerKind, ManagerKind>> {};

TEST_P(CrossManagerTest, FileWrittenByOneIsReadByTheOther) {
  const auto& [writer_kind, reader_kind] = GetParam();
  PS_SKIP_IF_NO_DIRECT_IO(writer_kind);
  PS_SKIP_IF_NO_DIRECT_IO(reader_kind);
  TempDir dir;
  const auto path = dir.file("x.pages");
  DiskManagerOptions w = writer_kind.options;
  std::vector<PageId> ids;
  {
    PS_ASSIGN_OR_FAIL(dm, OpenDiskManager(path, w));
    for (int i = 0; i < 100; ++i) {
      PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
      alignas(kPageSize) Page page;
      FillPage(page, id, 5);
      PS_ASSERT_OK(dm->WritePage(id, page));
      ids.push_back(id);
    }
    dm->SetRoots({.catalog_root = 77});
    PS_ASSERT_OK(dm->Sync());
  }
  DiskManagerOptions r = reader_kind.options;
  r.mode = OpenMode::kOpenExisting;
  PS_ASSIGN_OR_FAIL(dm, OpenDiskManager(path, r));
  EXPECT_EQ(dm->page_count(), kSuperblockPageCount + 100);
  EXPECT_EQ(dm->roots().catalog_root, 77u);
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));
    ASSERT_TRUE(PageHolds(page, id, 5));
  }
  // And the reader can keep writing the file.
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 6);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSERT_OK(dm->Sync());
}

INSTANTIATE_TEST_SUITE_P(FilePairs, CrossManagerTest,
                         ::testing::Combine(::testing::ValuesIn(FileManagerKinds()),
                                            ::testing::ValuesIn(FileManagerKinds())),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_to_" +
                                  std::get<1>(info.param).name;
                         });

// mmap-only capabilities: zero-copy views, the madvise names, no empty msync.
class MmapTest : public ::testing::Test {
 protected:
  TempDir dir_;
  absl::StatusOr<std::unique_ptr<MmapDiskManager>> Open(DiskManagerOptions o = SmallMmapOptions()) {
    return MmapDiskManager::Open(dir_.file("m.pages"), o);
  }
};

TEST_F(MmapTest, ViewIsZeroCopyAndSeesWrites) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 1);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSIGN_OR_FAIL(v1, dm->View(id));
  PS_ASSIGN_OR_FAIL(v2, dm->View(id));
  EXPECT_EQ(v1.data(), v2.data());  // the mapping itself, not a copy
  Page copy;
  std::memcpy(copy.data(), v1.data(), kPageSize);
  EXPECT_TRUE(PageHolds(copy, id, 1));
  EXPECT_EQ(v1.header().page_id, id);
  v1.Release();
  v1.Release();  // idempotent
  EXPECT_FALSE(v1.valid());
  v2 = PageView();
  FillPage(page, id, 2);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSIGN_OR_FAIL(v3, dm->View(id));
  std::memcpy(copy.data(), v3.data(), kPageSize);
  EXPECT_TRUE(PageHolds(copy, id, 2));
  EXPECT_TRUE(absl::IsOutOfRange(dm->View(dm->page_count()).status()));
}

TEST_F(MmapTest, ViewsStayValidAcrossGrowth) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 1);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSIGN_OR_FAIL(view, dm->View(id));
  const std::uint64_t remaps = dm->stats().remaps;
  for (int i = 0; i < 200; ++i) PS_ASSERT_OK(dm->AllocatePage().status());
  EXPECT_GT(dm->stats().remaps, remaps);
  Page copy;
  std::memcpy(copy.data(), view.data(), kPageSize);
  EXPECT_TRUE(PageHolds(copy, id, 1));
}

TEST_F(MmapTest, ViewOutlivingTheManagerKeepsTheMappingAlive) {
  PageView view;
  PageId id;
  {
    PS_ASSIGN_OR_FAIL(dm, Open());
    PS_ASSIGN_OR_FAIL(allocated, dm->AllocatePage());
    id = allocated;
    alignas(kPageSize) Page page;
    FillPage(page, id, 4);
    PS_ASSERT_OK(dm->WritePage(id, page));
    PS_ASSIGN_OR_FAIL(v, dm->View(id));
    view = std::move(v);
  }
  Page copy;
  std::memcpy(copy.data(), view.data(), kPageSize);  // would fault if the mapping were gone
  EXPECT_TRUE(PageHolds(copy, id, 4));
}

TEST_F(MmapTest, ViewVerifiesAgainAfterTheBytesChange) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 1);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSERT_OK(dm->View(id).status());  // verified and trusted from now on
  page[100] ^= std::byte{1};            // garbage, as a repair tool might write it
  PS_ASSERT_OK(dm->WriteRawPage(id, page));
  absl::Status s = dm->View(id).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

// The VmFlags of every mapping inside [begin, end), from /proc/self/smaps.
std::vector<std::string> VmFlagsIn(std::uintptr_t begin, std::uintptr_t end) {
  std::ifstream smaps("/proc/self/smaps");
  std::vector<std::string> flags;
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > 8) {
      inside = lo >= begin && hi <= end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      flags.push_back(line);
    }
  }
  return flags;
}

TEST_F(MmapTest, AdviceReachesTheKernelAndCoversGrownRanges) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 1);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSIGN_OR_FAIL(view, dm->View(id));
  const auto base = reinterpret_cast<std::uintptr_t>(view.data()) - id * kPageSize;
  PS_ASSERT_OK(dm->MadviseRandom());
  for (int i = 0; i < 100; ++i) PS_ASSERT_OK(dm->AllocatePage().status());  // several remaps
  std::vector<std::string> flags = VmFlagsIn(base, base + dm->mapped_bytes());
  ASSERT_FALSE(flags.empty());
  for (const std::string& f : flags) EXPECT_THAT(f, HasSubstr(" rr")) << "MADV_RANDOM missing";
  PS_ASSERT_OK(dm->MadviseSequential());
  for (const std::string& f : VmFlagsIn(base, base + dm->mapped_bytes())) {
    EXPECT_THAT(f, HasSubstr(" sr"));
  }
  PS_EXPECT_OK(dm->MadviseWillNeed(kFirstDataPage, dm->page_count() - 1));
  EXPECT_EQ(dm->stats().hint_calls, 3u);
}

TEST_F(MmapTest, LastGrowthStepIsClampedToTheReservation) {
  DiskManagerOptions o = SmallMmapOptions();
  o.mmap.initial_size = 96 << 10;
  o.mmap.growth_size = 96 << 10;
  o.mmap.reserve_size = 128 << 10;  // not initial + whole growth steps
  PS_ASSIGN_OR_FAIL(dm, Open(o));
  absl::Status last;
  while (last.ok()) last = dm->AllocatePage().status();
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_EQ(dm->page_count(), (128u << 10) / kPageSize);  // every page of the reservation
}

TEST_F(MmapTest, SmallExistingFileOpensOnAFullDisk) {
  { PS_ASSERT_OK(Open().status()); }  // 64 KiB file
  DiskManagerOptions o = SmallMmapOptions();
  o.mmap.initial_size = 256 << 20;  // would grow the file at open
  o.mode = OpenMode::kOpenExisting;
  o.fault_hook = [](IoCall c) { return c == IoCall::kGrow ? ENOSPC : 0; };
  PS_ASSIGN_OR_FAIL(dm, Open(o));
  EXPECT_EQ(dm->mapped_bytes(), 64u << 10);
}

TEST_F(MmapTest, MadviseByName) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  for (int i = 0; i < 40; ++i) PS_ASSERT_OK(dm->AllocatePage().status());
  PS_EXPECT_OK(dm->MadviseRandom());
  PS_EXPECT_OK(dm->MadviseSequential());
  PS_EXPECT_OK(dm->MadviseWillNeed(kFirstDataPage, dm->page_count() - 1));
  // Advice persists across growth (applied to the new range too); growth still works.
  for (int i = 0; i < 100; ++i) PS_ASSERT_OK(dm->AllocatePage().status());
  EXPECT_EQ(dm->stats().hint_calls, 3u);
}

TEST_F(MmapTest, SyncWithNothingWrittenDoesNoIo) {
  PS_ASSIGN_OR_FAIL(dm, Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 1);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSERT_OK(dm->Sync());
  const std::uint64_t syncs = dm->stats().syncs;
  PS_ASSERT_OK(dm->Sync());
  EXPECT_EQ(dm->stats().syncs, syncs);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSERT_OK(dm->Sync());
  EXPECT_EQ(dm->stats().syncs, syncs + 1);
}

TEST_F(MmapTest, InitialSizeIsReservedAndReservationLimitsGrowth) {
  DiskManagerOptions o = SmallMmapOptions();
  o.mmap.initial_size = 1 << 20;
  o.mmap.reserve_size = 2 << 20;
  PS_ASSIGN_OR_FAIL(dm, Open(o));
  EXPECT_EQ(dm->mapped_bytes(), 1u << 20);
  EXPECT_EQ(std::filesystem::file_size(dm->path()), 1u << 20);
  absl::Status last;
  for (int i = 0; i < 600 && last.ok(); ++i) last = dm->AllocatePage().status();
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_THAT(std::string(last.message()), HasSubstr("reserve"));
  EXPECT_EQ(dm->page_count(), (2u << 20) / kPageSize);
  // Everything allocated is still usable.
  alignas(kPageSize) Page page;
  FillPage(page, dm->page_count() - 1, 0);
  PS_EXPECT_OK(dm->WritePage(dm->page_count() - 1, page));
  PS_EXPECT_OK(dm->Sync());
}

TEST_F(MmapTest, WriteViaPwriteIsReadThroughTheMap) {
  DiskManagerOptions o = SmallMmapOptions();
  o.mmap.write_via_pwrite = true;
  PS_ASSIGN_OR_FAIL(dm, Open(o));
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  FillPage(page, id, 8);
  PS_ASSERT_OK(dm->WritePage(id, page));
  PS_ASSIGN_OR_FAIL(view, dm->View(id));
  Page copy;
  std::memcpy(copy.data(), view.data(), kPageSize);
  EXPECT_TRUE(PageHolds(copy, id, 8));
}

}  // namespace
}  // namespace pagestore::testing
