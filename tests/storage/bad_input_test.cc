// Bad bytes on disk and bad files, for every manager: each gets its exact status, never a crash,
// a SIGBUS or garbage returned as data.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "storage/superblock.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override { PS_SKIP_IF_NO_DIRECT_IO(GetParam()); }

  // Creates the file with `n` data pages holding FillPage(id, 0), synced and closed.
  void CreateWithPages(int n) {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kCreate));
    for (int i = 0; i < n; ++i) {
      PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
      alignas(kPageSize) Page page;
      FillPage(page, id, 0);
      PS_ASSERT_OK(dm->WritePage(id, page));
    }
    PS_ASSERT_OK(dm->Sync());
  }

  void Truncate(std::uint64_t bytes) {
    if (GetParam().in_memory) {
      factory_.memory().Truncate(bytes / kPageSize);
    } else {
      std::filesystem::resize_file(factory_.path(), bytes);
    }
  }

  std::string name() const { return GetParam().in_memory ? "mem" : factory_.path().string(); }

  ManagerFactory factory_{GetParam()};
};

TEST_P(BadInputTest, EverySingleBitFlipOnDiskIsDataLossNamingFileAndPage) {
  CreateWithPages(3);
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kReadOnly));
  const PageId target = kFirstDataPage + 1;
  std::byte* mem = GetParam().in_memory ? factory_.memory().MutablePage(target) : nullptr;
  int fd = GetParam().in_memory ? -1 : ::open(factory_.path().c_str(), O_RDWR);
  auto flip = [&](std::size_t bit) {
    const std::size_t off = bit / 8;
    const std::byte mask{static_cast<unsigned char>(1u << (bit % 8))};
    if (mem != nullptr) {
      mem[off] ^= mask;
      return;
    }
    std::byte b;
    ASSERT_EQ(::pread(fd, &b, 1, target * kPageSize + off), 1);
    b ^= mask;
    ASSERT_EQ(::pwrite(fd, &b, 1, target * kPageSize + off), 1);
  };
  std::size_t walked = 0;
  for (std::size_t bit = 0; bit < kPageSize * 8; ++bit, ++walked) {
    flip(bit);
    alignas(kPageSize) Page page;
    absl::Status s = dm->ReadPage(target, page);
    ASSERT_TRUE(absl::IsDataLoss(s)) << "bit " << bit << ": " << s;
    ASSERT_THAT(std::string(s.message()), HasSubstr(fmt::format("page {}", target)));
    ASSERT_THAT(std::string(s.message()), HasSubstr(name()));
    flip(bit);
  }
  if (fd >= 0) ::close(fd);
  EXPECT_EQ(walked, kPageSize * 8);
  EXPECT_EQ(dm->stats().checksum_failures, walked);
  alignas(kPageSize) Page page;
  PS_ASSERT_OK(dm->ReadPage(target, page));
  EXPECT_TRUE(PageHolds(page, target, 0));
}

TEST_P(BadInputTest, PageCopiedOverAnotherIsDetected) {
  CreateWithPages(4);
  Page copy;
  factory_.CorruptPage(kFirstDataPage,
                       [&](std::byte* p) { std::memcpy(copy.data(), p, kPageSize); });
  factory_.CorruptPage(kFirstDataPage + 2,
                       [&](std::byte* p) { std::memcpy(p, copy.data(), kPageSize); });
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  alignas(kPageSize) Page page;
  absl::Status s = dm->ReadPage(kFirstDataPage + 2, page);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(fmt::format("page {} holds a valid copy of page {}", kFirstDataPage + 2,
                                    kFirstDataPage)));
}

TEST_P(BadInputTest, PageBeyondTheFileIsOutOfRange) {
  CreateWithPages(2);
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  alignas(kPageSize) Page page;
  for (PageId id : {dm->page_count(), dm->page_count() + 1, PageId{1} << 40, ~PageId{0}}) {
    absl::Status s = dm->ReadPage(id, page);
    EXPECT_TRUE(absl::IsOutOfRange(s)) << id << ": " << s;
  }
}

TEST_P(BadInputTest, AllocatedButNeverWrittenPageIsDataLoss) {
  PS_ASSIGN_OR_FAIL(dm, factory_.Open());
  PS_ASSIGN_OR_FAIL(id, dm->AllocatePage());
  alignas(kPageSize) Page page;
  absl::Status s = dm->ReadPage(id, page);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("never written"));
}

TEST_P(BadInputTest, WrongMagicIsNotAPagestoreFile) {
  CreateWithPages(1);
  for (PageId copy : {0, 1}) {
    factory_.CorruptPage(copy,
                         [](std::byte* p) { std::memcpy(p + kPageHeaderSize, "SQLite f", 8); });
  }
  absl::Status s = factory_.Open(OpenMode::kOpenExisting).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a pagestore file"));
}

TEST_P(BadInputTest, NewerFormatVersionIsRefused) {
  CreateWithPages(1);
  PageId current;
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
    current = static_cast<PagedDiskManager*>(dm.get())->durable_superblock().sequence % 2;
  }
  // Only the current copy is from the future: open must refuse, not fall back to the older one.
  factory_.CorruptPage(current, [](std::byte* p) {
    PageSpan page(p, kPageSize);
    const PageId copy = ReadPageHeader(page).page_id;
    Superblock sb = *DecodeSuperblock(copy, page, "x");
    sb.format_version = kFormatVersion + 1;
    EncodeSuperblock(sb, page);
    // A newer build seals its pages with its own version too.
    PageHeader h = ReadPageHeader(page);
    h.version = kFormatVersion + 1;
    WritePageHeader(page, h);
    h.checksum = ComputePageChecksum(page);
    WritePageHeader(page, h);
  });
  absl::Status s = factory_.Open(OpenMode::kOpenExisting).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("newer than this build"));
}

TEST_P(BadInputTest, TruncatedBelowThePageCountIsDataLossAtOpen) {
  CreateWithPages(50);
  Truncate(20 * kPageSize);
  absl::Status s = factory_.Open(OpenMode::kOpenExisting).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("52 pages"));
  // Read-only open says the same, and never maps past the end.
  EXPECT_TRUE(absl::IsDataLoss(factory_.Open(OpenMode::kReadOnly).status()));
}

TEST_P(BadInputTest, TruncatedMidPageIsDataLoss) {
  if (GetParam().in_memory) GTEST_SKIP() << "a memory file holds whole pages";
  CreateWithPages(10);
  Truncate(11 * kPageSize + 100);
  EXPECT_TRUE(absl::IsDataLoss(factory_.Open(OpenMode::kOpenExisting).status()));
}

TEST_P(BadInputTest, FileTooShortForASuperblock) {
  CreateWithPages(1);
  Truncate(kPageSize);
  absl::Status s = factory_.Open(OpenMode::kOpenExisting).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("too short"));
  if (!GetParam().in_memory) {  // an empty memory file is simply absent
    Truncate(0);
    EXPECT_TRUE(absl::IsDataLoss(factory_.Open(OpenMode::kReadOnly).status()));
  }
}

TEST_P(BadInputTest, TornSuperblockCopyFallsBackToTheOlderOne) {
  PageId newest;
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kCreate));
    for (int i = 0; i < 10; ++i) PS_ASSERT_OK(dm->AllocatePage().status());
    PS_ASSERT_OK(dm->Sync());  // 12 pages
    for (int i = 0; i < 10; ++i) PS_ASSERT_OK(dm->AllocatePage().status());
    PS_ASSERT_OK(dm->Sync());  // 22 pages, in the other copy
    newest = static_cast<PagedDiskManager*>(dm.get())->durable_superblock().sequence % 2;
  }
  // Every field of a superblock lies in its first 512-byte sector, so a sector-atomic tear leaves
  // either the new copy or the old one whole. Model a write that never completed instead: the
  // newest copy's fields are garbage.
  factory_.CorruptPage(newest, [](std::byte* p) { std::memset(p + 40, 0xa5, 100); });
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
    EXPECT_EQ(dm->page_count(), 12u);
    // The next sync rewrites the torn slot.
    PS_ASSERT_OK(dm->AllocatePage().status());
    PS_ASSERT_OK(dm->Sync());
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  EXPECT_EQ(dm->page_count(), 13u);
}

TEST_P(BadInputTest, BothSuperblockCopiesCorruptIsDataLoss) {
  CreateWithPages(1);
  for (PageId copy : {0, 1})
    factory_.CorruptPage(copy, [](std::byte* p) { p[300] ^= std::byte{4}; });
  absl::Status s = factory_.Open(OpenMode::kOpenExisting).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("both superblock copies are bad"));
}

INSTANTIATE_TEST_SUITE_P(AllManagers, BadInputTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

class BadFileTest : public ::testing::TestWithParam<ManagerKind> {};

TEST_P(BadFileTest, ForeignFilesAreRefusedWithOneClearError) {
  TempDir dir;
  DiskManagerOptions o = GetParam().options;
  o.mode = OpenMode::kOpenExisting;
  struct Case {
    std::string name;
    std::string bytes;
  };
  std::vector<Case> cases = {
      {"empty", ""},
      {"text", std::string(100000, 'x')},
      {"sqlite", std::string("SQLite format 3\0", 16) + std::string(3 * kPageSize, '\1')},
  };
  for (const Case& c : cases) {
    auto path = dir.file(c.name);
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(c.bytes.data(), 1, c.bytes.size(), f);
    std::fclose(f);
    absl::Status s = OpenDiskManager(path, o).status();
    EXPECT_TRUE(absl::IsDataLoss(s)) << c.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(path.string()));
    // Refusing it did not change it.
    EXPECT_EQ(std::filesystem::file_size(path), c.bytes.size()) << c.name;
  }
  EXPECT_TRUE(absl::IsNotFound(OpenDiskManager(dir.file("missing"), o).status()));
}

TEST_P(BadFileTest, EmptyFileIsInitializedByOpenOrCreateOnly) {
  TempDir dir;
  auto path = dir.file("empty");
  std::fclose(std::fopen(path.c_str(), "wb"));  // as mkstemp leaves it
  DiskManagerOptions o = GetParam().options;
  o.mode = OpenMode::kOpenExisting;
  EXPECT_TRUE(absl::IsDataLoss(OpenDiskManager(path, o).status()));
  o.mode = OpenMode::kOpenOrCreate;
  {
    PS_ASSIGN_OR_FAIL(dm, OpenDiskManager(path, o));
    EXPECT_EQ(dm->page_count(), kSuperblockPageCount);
  }
  o.mode = OpenMode::kOpenExisting;
  PS_EXPECT_OK(OpenDiskManager(path, o).status());
}

INSTANTIATE_TEST_SUITE_P(FileManagers, BadFileTest, ::testing::ValuesIn(FileManagerKinds()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace pagestore::testing
