// The README's example, compiled and run, so the README cannot drift from the API.
#include <gtest/gtest.h>

#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

absl::Status ReadmeExample(const std::filesystem::path& path) {
  // --- README example begins ---
  // Open (creating) with the pread manager.
  absl::StatusOr<DiskManagerOptions> options = ParseDiskManagerSpec("pread");
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<DiskManager>> dm = OpenDiskManager(path, *options);
  if (!dm.ok()) return dm.status();

  // Allocate a page, fill its payload, write it (sealed with a checksum), make it durable.
  absl::StatusOr<PageId> id = (*dm)->AllocatePage();
  if (!id.ok()) return id.status();
  alignas(kPageSize) std::array<std::byte, kPageSize> page;
  InitPage(page, PageType::kRaw);
  std::memcpy(page.data() + kPageHeaderSize, "hello, pages", 12);
  if (absl::Status s = (*dm)->WritePage(*id, page); !s.ok()) return s;
  if (absl::Status s = (*dm)->Sync(); !s.ok()) return s;
  dm->reset();  // close: releases the file lock

  // Switch managers: the same file opens with mmap, and reads back verified.
  options = ParseDiskManagerSpec("mmap:initial=64M,growth=16M");
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<MmapDiskManager>> mm = MmapDiskManager::Open(path, *options);
  if (!mm.ok()) return mm.status();
  if (absl::Status s = (*mm)->ReadPage(*id, page); !s.ok()) return s;  // a copy, verified
  absl::StatusOr<PageView> view = (*mm)->View(*id);                    // zero copy
  if (!view.ok()) return view.status();
  if (std::memcmp(view->data() + kPageHeaderSize, "hello, pages", 12) != 0) {
    return absl::InternalError("unexpected contents");
  }
  // --- README example ends ---
  return absl::OkStatus();
}

TEST(ReadmeExampleTest, Runs) {
  TempDir dir;
  PS_EXPECT_OK(ReadmeExample(dir.file("example.pages")));
}

}  // namespace
}  // namespace pagestore::testing
