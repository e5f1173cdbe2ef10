#include "storage/superblock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

Superblock Make(std::uint64_t seq, PageId pages) {
  Superblock sb;
  sb.sequence = seq;
  sb.page_count = pages;
  sb.roots = {.free_list_head = 11, .catalog_root = 12, .checkpoint_lsn = 13};
  return sb;
}

TEST(SuperblockTest, EncodeDecodeRoundTrip) {
  Page page;
  EncodeSuperblock(Make(6, 100), page);
  PS_ASSIGN_OR_FAIL(sb, DecodeSuperblock(0, page, "f"));
  EXPECT_EQ(sb.sequence, 6u);
  EXPECT_EQ(sb.page_count, 100u);
  EXPECT_EQ(sb.roots.catalog_root, 12u);
  EXPECT_EQ(sb.page_size, kPageSize);
  // Sequence 6 belongs in copy 0; presented as copy 1 it fails.
  EXPECT_FALSE(DecodeSuperblock(1, page, "f").ok());
}

TEST(SuperblockTest, NewerCopyWins) {
  Page a, b;
  EncodeSuperblock(Make(4, 10), a);
  EncodeSuperblock(Make(5, 20), b);
  PS_ASSIGN_OR_FAIL(c, ChooseSuperblock(a, b, "f"));
  EXPECT_EQ(c.current.sequence, 5u);
  EXPECT_EQ(c.current.page_count, 20u);
}

TEST(SuperblockTest, TornNewerCopyFallsBackToOlder) {
  Page a, b;
  EncodeSuperblock(Make(4, 10), a);
  EncodeSuperblock(Make(5, 20), b);
  // Tear copy 1 after its first sector: new header, old (here: garbage) rest.
  for (std::size_t i = 512; i < kPageSize; ++i) b[i] = std::byte{0x5a};
  PS_ASSIGN_OR_FAIL(c, ChooseSuperblock(a, b, "f"));
  EXPECT_EQ(c.current.sequence, 4u);
  EXPECT_EQ(c.current.page_count, 10u);
  EXPECT_TRUE(absl::IsDataLoss(c.other));
}

TEST(SuperblockTest, BothBadIsDataLoss) {
  Page a, b;
  EncodeSuperblock(Make(4, 10), a);
  EncodeSuperblock(Make(5, 20), b);
  a[100] ^= std::byte{1};
  b[200] ^= std::byte{1};
  absl::Status s = ChooseSuperblock(a, b, "f.pages").status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("both superblock copies are bad"));
}

TEST(SuperblockTest, NoMagicIsNotAPagestoreFile) {
  Page a{}, b{};
  std::memcpy(a.data() + kPageHeaderSize, "SQLite format 3", 15);
  absl::Status s = ChooseSuperblock(a, b, "other.db").status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a pagestore file"));
}

TEST(SuperblockTest, NewerFormatIsRefusedNotSkipped) {
  Page a, b;
  EncodeSuperblock(Make(4, 10), a);
  Superblock newer = Make(5, 20);
  newer.format_version = kFormatVersion + 1;
  EncodeSuperblock(newer, b);
  absl::Status s = ChooseSuperblock(a, b, "f").status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("newer than this build"));
}

TEST(SuperblockTest, CopySealedByANewerBuildIsRefusedNotSkipped) {
  // A newer build stamps its version into the page header as well; the copy is intact.
  Page a, b;
  EncodeSuperblock(Make(4, 10), a);
  EncodeSuperblock(Make(5, 20), b);
  PageHeader h = ReadPageHeader(b);
  h.version = kFormatVersion + 1;
  WritePageHeader(b, h);
  h.checksum = ComputePageChecksum(b);
  WritePageHeader(b, h);
  absl::Status s = ChooseSuperblock(a, b, "f").status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("newer than this build"));
}

TEST(SuperblockTest, OtherPageSizeIsRefused) {
  Page a, b;
  Superblock big = Make(4, 10);
  big.page_size = 8192;
  EncodeSuperblock(big, a);
  EncodeSuperblock(Make(5, 20), b);
  absl::Status s = ChooseSuperblock(a, b, "f").status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("page size 8192"));
}

}  // namespace
}  // namespace pagestore::testing
