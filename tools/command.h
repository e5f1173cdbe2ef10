// The pagestore command-line tool's subcommands: each file under tools/ adds one to the CLI11
// app and says how to run it. Exit statuses are the tool's contract with scripts:
//   0  success (verify: the file is clean)
//   1  verify found corruption
//   2  the command could not run (bad arguments, not a pagestore file, I/O error)
//
// Ownership: the app owns the subcommand; the run function captures the options it parsed into
// (heap state owned by the closure). Thread safety: none needed (one command per process).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

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

// A status's message as a std::string (absl::string_view is not std::string_view here).
inline std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// The one line a failed command prints (to stderr): "pagestore <command>: <message>".
inline int CannotRun(std::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "pagestore %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               std::string(status.message()).c_str());
  return kExitCannotRun;
}

}  // namespace pagestore::tools
