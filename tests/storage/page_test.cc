#include "storage/page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

TEST(PageTest, SealedPageVerifies) {
  Page page;
  FillPage(page, 42, 0);
  SealPage(42, page);
  PS_EXPECT_OK(VerifyPage(42, page, "f"));
  PageHeader h = ReadPageHeader(page);
  EXPECT_EQ(h.page_id, 42u);
  EXPECT_EQ(h.version, kFormatVersion);
  EXPECT_EQ(h.checksum, ComputePageChecksum(page));
}

TEST(PageTest, SealKeepsTypeAndLsn) {
  Page page;
  InitPage(page, PageType::kBTreeLeaf);
  PageHeader h = ReadPageHeader(page);
  h.lsn = 987654321;
  WritePageHeader(page, h);
  SealPage(7, page);
  h = ReadPageHeader(page);
  EXPECT_EQ(h.lsn, 987654321u);
  EXPECT_EQ(static_cast<PageType>(h.type), PageType::kBTreeLeaf);
}

TEST(PageTest, EverySingleBitFlipIsDetected) {
  Page page;
  FillPage(page, 5, 0);
  SealPage(5, page);
  for (std::size_t bit = 0; bit < kPageSize * 8; ++bit) {
    page[bit / 8] ^= std::byte(1u << (bit % 8));
    absl::Status s = VerifyPage(5, page, "f.pages");
    ASSERT_TRUE(absl::IsDataLoss(s)) << "bit " << bit << " went unnoticed";
    page[bit / 8] ^= std::byte(1u << (bit % 8));
  }
  PS_EXPECT_OK(VerifyPage(5, page, "f.pages"));
}

TEST(PageTest, PageAtTheWrongPlaceIsNamed) {
  Page page;
  FillPage(page, 9, 0);
  SealPage(9, page);
  absl::Status s = VerifyPage(10, page, "f.pages");
  ASSERT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("page 10 holds a valid copy of page 9"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("f.pages"));
}

TEST(PageTest, AllZeroPageIsNamedAsNeverWritten) {
  Page page{};
  absl::Status s = VerifyPage(3, page, "f.pages");
  ASSERT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("all zeros"));
}

TEST(PageTest, NewerPageFormatIsRefused) {
  Page page;
  FillPage(page, 4, 0);
  SealPage(4, page);
  PageHeader h = ReadPageHeader(page);
  h.version = kFormatVersion + 1;
  WritePageHeader(page, h);
  h.checksum = ComputePageChecksum(page);
  WritePageHeader(page, h);
  absl::Status s = VerifyPage(4, page, "f.pages");
  ASSERT_TRUE(absl::IsDataLoss(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("newer"));
}

TEST(PageTest, TypeNames) {
  EXPECT_EQ(PageTypeName(PageType::kSuperblock), "superblock");
  EXPECT_EQ(PageTypeName(static_cast<PageType>(999)), "unknown");
}

}  // namespace
}  // namespace pagestore::testing
