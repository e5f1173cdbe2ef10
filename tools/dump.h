// The decoders behind `pagestore dump-page` and `pagestore dump-wal`, apart from their command
// lines, so that tests and fuzz targets (tests/fuzz/) run exactly what the tool runs on bytes
// they made. Output goes to `out` as the tool prints it to stdout.
//
// Thread safety: none (one command).
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/page.h"
#include "tools/inspect.h"
#include "wal/log_env.h"

namespace pagestore::tools {

// dump-page's output for page `id` of `f` (its superblock copies decoded; `f.disk` is not used),
// whose bytes are `page`; `read` is the outcome of reading it (OK, or the DataLossError of a page
// failing its checksum, which is still decoded and marked invalid). Text, or one JSON object.
void PrintDumpPage(std::FILE* out, const RawFile& f, PageId id, ConstPageSpan page,
                   const absl::Status& read, bool hex, bool json);

struct DumpWalOptions {
  std::string dir;  // for messages and the JSON "dir" field
  std::optional<Lsn> from, to;
  bool stats = false;
  bool json = false;
};
// dump-wal over the log in `env`: the records (or --stats totals), then where and why the log
// stopped. kExitOk when the log was read to its end (a torn tail included), kExitCorrupt at damage
// that valid records or a later segment follow; an error when the command cannot run (no
// segments, a --from off a record boundary or past the end, an I/O error): the tool prints it as
// its one line and exits 2.
[[nodiscard]] absl::StatusOr<int> DumpWal(std::FILE* out, LogEnv& env,
                                          const DumpWalOptions& options);

}  // namespace pagestore::tools
