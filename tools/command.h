// The pagestore command-line tool's subcommands: each file under tools/ adds one to the CLI11
// app and says how to run it. Exit statuses are the tool's contract with scripts:
//   0  success (verify: the file is clean; dump-page: the page was read, even if it fails its
//      checksum or is malformed; dump-wal: the log was read to its end, a torn tail included)
//   1  corruption found (verify; dump-wal: damage with a valid record, or a later segment, after
//      it; backup: the copy was made, but pages of the source fail their checksum)
//   2  the command could not run (bad arguments, not a pagestore file, I/O error): exactly one
//      line on stderr, nothing on stdout
// The library's own messages (storage/logging.h: a recovery summary, a dropped log tail) are
// held while the command runs (LibraryLog below) so that status 2 keeps its one line.
//
// Ownership: the app owns the subcommand; the run function captures the options it parsed into
// (heap state owned by the closure). Thread safety: none needed (one command per process), except
// that the held library messages may be added from any thread (a store's checkpointer).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pagestore::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCorrupt = 1;
inline constexpr int kExitCannotRun = 2;

// Runs the selected subcommand; set by the Add function of the one the command line chose.
using RunFunction = std::function<int()>;

void AddInfoCommand(CLI::App& app, RunFunction& run);
void AddVerifyCommand(CLI::App& app, RunFunction& run);
void AddStatsCommand(CLI::App& app, RunFunction& run);
void AddDumpPageCommand(CLI::App& app, RunFunction& run);
void AddDumpWalCommand(CLI::App& app, RunFunction& run);
void AddBenchCommand(CLI::App& app, RunFunction& run);
void AddBackupCommand(CLI::App& app, RunFunction& run);
void AddCompactCommand(CLI::App& app, RunFunction& run);

// A status's message as a std::string (absl::string_view is not std::string_view here).
inline std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// The library's messages while a command runs: main() calls HoldLibraryLog() before parsing, so
// every message pagestore logs goes to a buffer instead of stderr; after a command that ran
// (exit 0 or 1) main() prints them as the library would have ("pagestore: info: ..."), and
// CannotRun folds them into its one line.
void HoldLibraryLog();
// The held messages ("info: <message>", newlines flattened), oldest first; the buffer is emptied.
std::vector<std::string> TakeLibraryLog();
// Prints the held messages to stderr, one line each, in the library's default format.
void PrintLibraryLog();

// The one line a failed command prints (to stderr): "pagestore <command>: <message>", followed,
// when the library logged anything first (a recovery ran), by " [logged before: info: ...]".
int CannotRun(std::string_view command, const absl::Status& status);

// A non-negative decimal integer given as `text` for `what` (an option or argument name, for the
// message): CLI11 would read "-5" into an unsigned as 2^64 - 5. InvalidArgumentError naming
// `what` and `text` otherwise.
[[nodiscard]] absl::StatusOr<std::uint64_t> ParseUnsigned(std::string_view what,
                                                          std::string_view text);

}  // namespace pagestore::tools
