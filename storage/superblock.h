// The superblock: the file's root record, kept in two copies (pages 0 and 1) written alternately
// with a sequence number, as LMDB keeps its two meta pages. A write goes to copy `sequence % 2`,
// never over the current one, so a torn superblock write leaves the previous copy intact and open
// falls back to it. Byte layout: storage/README.md.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/page.h"

namespace pagestore {

inline constexpr char kSuperblockMagic[8] = {'P', 'A', 'G', 'E', 'S', 'T', 'O', 'R'};

// Roots that upper layers keep in the superblock; storage stores them and never interprets them.
struct SuperblockRoots {
  PageId free_list_head = kInvalidPageId;
  PageId catalog_root = kInvalidPageId;
  Lsn checkpoint_lsn = kInvalidLsn;
  friend bool operator==(const SuperblockRoots&, const SuperblockRoots&) = default;
};

struct Superblock {
  std::uint32_t format_version = kFormatVersion;
  std::uint32_t page_size = kPageSize;
  std::uint64_t sequence = 0;  // the copy it lives in is sequence % 2
  PageId page_count = kSuperblockPageCount;
  SuperblockRoots roots;
};

// Fills `out` with the sealed superblock page for copy `sequence % 2`.
void EncodeSuperblock(const Superblock& sb, PageSpan out);

// Decodes one copy read from page `copy` (0 or 1). DataLossError if the copy is not a valid
// superblock; the message says whether the magic, checksum, version or page size is wrong.
[[nodiscard]] absl::StatusOr<Superblock> DecodeSuperblock(PageId copy, ConstPageSpan page,
                                                          std::string_view file);

struct SuperblockChoice {
  Superblock current;
  absl::Status other;  // why the other copy was not chosen, if it was bad (OK if just older)
};

// Picks the copy to trust: the valid one with the greater sequence. Both bad is DataLossError
// ("not a pagestore file" when neither carries the magic). A copy that is intact but written by
// a newer format version, or with another page size, is a hard error, never skipped in favour of
// an older copy: that would silently roll the file back.
[[nodiscard]] absl::StatusOr<SuperblockChoice> ChooseSuperblock(ConstPageSpan copy0,
                                                                ConstPageSpan copy1,
                                                                std::string_view file);

}  // namespace pagestore
