#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/disk_manager.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

TEST(SpecTest, PlainKinds) {
  PS_ASSIGN_OR_FAIL(p, ParseDiskManagerSpec("pread"));
  EXPECT_EQ(p.kind, DiskManagerKind::kPread);
  EXPECT_FALSE(p.pread.direct_io);
  PS_ASSIGN_OR_FAIL(m, ParseDiskManagerSpec("mmap"));
  EXPECT_EQ(m.kind, DiskManagerKind::kMmap);
  EXPECT_EQ(m.mmap.initial_size, 256u << 20);
  EXPECT_EQ(m.mmap.growth_size, 64u << 20);
}

TEST(SpecTest, Parameters) {
  PS_ASSIGN_OR_FAIL(m, ParseDiskManagerSpec("mmap:initial=512M,growth=128M,reserve=1T,populate=1"));
  EXPECT_EQ(m.mmap.initial_size, 512u << 20);
  EXPECT_EQ(m.mmap.growth_size, 128u << 20);
  EXPECT_EQ(m.mmap.reserve_size, 1ull << 40);
  EXPECT_TRUE(m.mmap.populate);
  PS_ASSIGN_OR_FAIL(p, ParseDiskManagerSpec("pread:direct=1,growth=8192,verify=0"));
  EXPECT_TRUE(p.pread.direct_io);
  EXPECT_EQ(p.pread.growth_size, 8192u);
  EXPECT_FALSE(p.verify_checksums);
  PS_ASSIGN_OR_FAIL(k, ParseDiskManagerSpec("mmap:growth=64KiB,initial=4kb"));
  EXPECT_EQ(k.mmap.growth_size, 64u << 10);
  EXPECT_EQ(k.mmap.initial_size, 4096u);
}

TEST(SpecTest, FormatRoundTrips) {
  for (const char* spec : {"pread", "pread:direct=1,growth=8M,verify=0",
                           "mmap:initial=512M,growth=128M,reserve=2T,populate=1,pwrite=1"}) {
    PS_ASSIGN_OR_FAIL(o, ParseDiskManagerSpec(spec));
    PS_ASSIGN_OR_FAIL(again, ParseDiskManagerSpec(FormatDiskManagerSpec(o)));
    EXPECT_EQ(FormatDiskManagerSpec(again), FormatDiskManagerSpec(o)) << spec;
  }
}

struct BadSpec {
  const char* spec;
  const char* says;
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, IsInvalidArgumentSayingWhy) {
  absl::Status s = ParseDiskManagerSpec(GetParam().spec).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << GetParam().spec << " -> " << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(GetParam().says)) << s;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, BadSpecTest,
    ::testing::Values(BadSpec{"", "empty"}, BadSpec{"mmmap", "unknown disk manager"},
                      BadSpec{"mmap:", "nothing after"}, BadSpec{"mmap:initial", "not key=value"},
                      BadSpec{"mmap:initial=", "not key=value"},
                      BadSpec{"mmap:=5", "not key=value"},
                      BadSpec{"mmap:initial=abc", "not a size"},
                      BadSpec{"mmap:initial=10X", "unknown unit"},
                      BadSpec{"mmap:initial=1000", "whole number of 4096-byte pages"},
                      BadSpec{"mmap:growth=0", "growth must be positive"},
                      BadSpec{"mmap:initial=2G,reserve=1G", "exceeds reserve"},
                      BadSpec{"mmap:initial=64M,initial=32M", "given twice"},
                      BadSpec{"mmap:initial=64M,", "trailing ','"},
                      BadSpec{"mmap:initial=64M,,growth=1M", "empty parameter"},
                      BadSpec{"mmap:direct=1", "unknown parameter \"direct\" for mmap"},
                      BadSpec{"pread:initial=1M", "unknown parameter \"initial\" for pread"},
                      BadSpec{"pread:direct=maybe", "not a boolean"},
                      BadSpec{"mmap:reserve=99999999999T", "overflows"},
                      BadSpec{"mmap:initial=-4096", "not a size"}));

}  // namespace
}  // namespace pagestore::testing
