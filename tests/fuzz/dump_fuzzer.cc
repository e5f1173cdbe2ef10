// Fuzz target `dump`: the decoders of `pagestore dump-page` and `pagestore dump-wal`
// (tools/dump.h), output to /dev/null.
// Input: u8 mode, then
//   mode bit 0 clear, dump-page: u8 page flags | the page (zero-filled to 4096 bytes). Flags bit 0:
//     reseal the page for its id; bits 1-2: the id (0 and 1: a superblock copy, beside a valid
//     other copy; 2, 3: a data page); bit 3: --hex. Decoded as text and as JSON.
//   mode bit 0 set, dump-wal: mode bit 1: --stats; bit 2: --json; bit 3: --from (u64 after the
//     mode byte); bit 4: --to (u64 next); then a log input (tests/fuzz/README.md "Log input").
#include <cstdint>
#include <cstdio>

#include "storage/superblock.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/dump.h"
#include "tools/inspect.h"

namespace {

std::FILE* DevNull() {
  static std::FILE* f = std::fopen("/dev/null", "w");
  if (f == nullptr) pagestore::fuzz::Fail("cannot open /dev/null");
  return f;
}

void DumpPage(pagestore::fuzz::FuzzReader& in) {
  using namespace pagestore;
  const std::uint8_t flags = in.U8();
  const PageId id = (flags >> 1) & 3;
  alignas(kPageSize) std::array<std::byte, kPageSize> page{}, other{};
  const std::span<const std::byte> bytes = in.Bytes(kPageSize);
  std::copy(bytes.begin(), bytes.end(), page.begin());
  if (flags & 1) SealPage(id, PageSpan(page.data(), kPageSize));
  tools::RawFile f;
  f.path = "fuzz.pages";
  absl::Status read;
  if (id < kFirstDataPage) {
    Superblock sb;
    sb.sequence = 1 - id;  // the other copy's
    sb.page_count = 4;
    EncodeSuperblock(sb, PageSpan(other.data(), kPageSize));
    const std::byte* const copies[2] = {id == 0 ? page.data() : other.data(),
                                        id == 0 ? other.data() : page.data()};
    for (PageId c = 0; c < 2; ++c) {
      f.copies[c] = DecodeSuperblock(c, ConstPageSpan(copies[c], kPageSize), f.path);
    }
    absl::StatusOr<SuperblockChoice> choice = ChooseSuperblock(
        ConstPageSpan(copies[0], kPageSize), ConstPageSpan(copies[1], kPageSize), f.path);
    if (!choice.ok()) return;  // the tool stops at OpenRaw
    f.superblock = choice->current;
    f.current = static_cast<int>(choice->current.sequence % 2);
    read = f.copies[id].status();
  } else {
    f.copies[0] = f.copies[1] = Superblock{};
    read = VerifyPage(id, ConstPageSpan(page.data(), kPageSize), f.path);
  }
  const bool hex = flags & 8;
  tools::PrintDumpPage(DevNull(), f, id, ConstPageSpan(page.data(), kPageSize), read, hex, false);
  tools::PrintDumpPage(DevNull(), f, id, ConstPageSpan(page.data(), kPageSize), read, hex, true);
}

void DumpWal(std::uint8_t mode, pagestore::fuzz::FuzzReader& in) {
  using namespace pagestore;
  tools::DumpWalOptions options;
  options.dir = "fuzz.pages-wal";
  options.stats = mode & 2;
  options.json = mode & 4;
  if (mode & 8) options.from = in.U64();
  if (mode & 16) options.to = in.U64();
  const fuzz::FuzzLog log = fuzz::MakeFuzzLog(in);
  absl::StatusOr<int> status = tools::DumpWal(DevNull(), *log.env, options);
  if (status.ok() && *status != 0 && *status != 1) pagestore::fuzz::Fail("dump-wal exit status");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pagestore::fuzz::FuzzReader in(data, size);
  const std::uint8_t mode = in.U8();
  if (mode & 1) {
    DumpWal(mode, in);
  } else {
    DumpPage(in);
  }
  return 0;
}
