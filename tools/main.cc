// pagestore: inspect, verify and benchmark pagestore files from the shell.
//   pagestore info FILE            the superblocks and the catalog, without recovering
//   pagestore verify FILE          every page, every index, the free list (exit 1: corrupt)
//   pagestore stats FILE           per-index and per-file page statistics
//   pagestore dump-page FILE ID    one page decoded by type (--hex: and its bytes)
//   pagestore dump-wal DIR         the log's records, one per line (--stats: totals by type)
//   pagestore bench ...            a db_bench-like driver over a store
// Every subcommand takes --help and --json. Exit status: 0 ok, 1 corruption found (verify),
// 2 could not run (one line on stderr says why).
#include <CLI/CLI.hpp>

#include "tools/command.h"

int main(int argc, char** argv) {
  using namespace pagestore::tools;
  CLI::App app{"pagestore: inspect, verify and benchmark pagestore files", "pagestore"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  RunFunction run;
  AddInfoCommand(app, run);
  AddVerifyCommand(app, run);
  AddStatsCommand(app, run);
  AddDumpPageCommand(app, run);
  AddDumpWalCommand(app, run);
  AddBenchCommand(app, run);
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
  return run();
}
