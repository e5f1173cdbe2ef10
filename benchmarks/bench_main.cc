// The main() of every benchmark binary (bench_main.h): one sequence of flag parsing, cleanup,
// context, registration, runs and shutdown, with each binary's part in its bench::Program.
#include "benchmarks/bench_main.h"

#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "benchmarks/bench_util.h"

namespace pagestore::bench {

bool ListsTests(int argc, char** argv) {
  auto truthy = [](std::string_view v) {
    std::string lower(v);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return !(lower == "0" || lower == "f" || lower == "n" || lower == "false" || lower == "no" ||
             lower == "off");
  };
  bool list = false;
  if (const char* env = std::getenv("BENCHMARK_LIST_TESTS"); env != nullptr && *env != '\0') {
    list = truthy(env);
  }
  constexpr std::string_view kFlag = "--benchmark_list_tests";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == kFlag) {
      list = true;
    } else if (arg.starts_with(kFlag) && arg[kFlag.size()] == '=') {
      list = truthy(arg.substr(kFlag.size() + 1));
    }
  }
  return list;
}

}  // namespace pagestore::bench

int main(int argc, char** argv) {
  namespace bench = pagestore::bench;
  const bench::Program program = bench::ThisProgram();
  // Initialize consumes the flags, so look first: listing the benchmarks loads nothing.
  const bool list_only = bench::ListsTests(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::InstallSignalCleanup();
  if (program.start != nullptr) program.start();
  if (program.context != nullptr) {
    const bench::Context context = program.context();
    for (const auto& [name, value] : context.entries()) {
      benchmark::AddCustomContext(name, value);
    }
  }
  if (program.register_benchmarks != nullptr) program.register_benchmarks();
  if (!list_only && program.before_runs != nullptr) program.before_runs();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const bool ok = program.finish == nullptr || program.finish();
  bench::UnlinkTempPaths();
  return ok ? 0 : 1;
}
