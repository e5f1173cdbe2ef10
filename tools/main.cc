// pagestore: inspect, verify and benchmark pagestore files from the shell.
//   pagestore info FILE            the superblocks and the catalog, without recovering
//   pagestore verify FILE          every page, every index, the free list (exit 1: corrupt)
//   pagestore stats FILE           per-index and per-file page statistics
//   pagestore dump-page FILE ID    one page decoded by type (--hex: and its bytes)
//   pagestore dump-wal DIR         the log's records, one per line (--stats: totals by type)
//   pagestore bench ...            a db_bench-like driver over a store
//   pagestore backup SRC DST       a consistent copy (Store::Backup)
//   pagestore compact SRC DST      a dense rewrite into a new store (--fill)
// Every subcommand takes --help and --json. Exit status: 0 ok, 1 corruption found (verify,
// dump-wal), 2 could not run (one line on stderr says why; see tools/command.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string>

#include "tools/command.h"

int main(int argc, char** argv) {
  using namespace pagestore::tools;
  // The library's messages wait for the command's outcome (tools/command.h).
  HoldLibraryLog();
  CLI::App app{"pagestore: inspect, verify and benchmark pagestore files", "pagestore"};
  // Bad arguments are exit status 2 too: one line (CLI11's default adds a second, "Run with
  // --help..."). Set before the subcommands are added: they copy it.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    return fmt::format("pagestore: {} (see --help)\n", what);
  });
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  RunFunction run;
  AddInfoCommand(app, run);
  AddVerifyCommand(app, run);
  AddStatsCommand(app, run);
  AddDumpPageCommand(app, run);
  AddDumpWalCommand(app, run);
  AddBenchCommand(app, run);
  AddBackupCommand(app, run);
  AddCompactCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitCannotRun;  // bad arguments: could not run
  }
  if (!run) return kExitCannotRun;
  const int status = run();
  // Status 2 has folded them into its one line (CannotRun); otherwise they follow the output.
  if (status != kExitCannotRun) PrintLibraryLog();
  return status;
}
