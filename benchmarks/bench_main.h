// The one main() every benchmark binary links (bench_main.cc, the pagestore_bench_main library)
// and what each binary gives it: its settings for the results' context, its benchmarks, and what
// to do before the runs and after them.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

namespace pagestore::bench {

// Settings a binary records in its results' context (the JSON's "context", which
// scripts/bench_report.py reads beside Google Benchmark's own), in the order added.
class Context {
 public:
  // `value` as fmt's "{}" writes it: integers in decimal, doubles in their shortest round-trip
  // form, strings as they are.
  template <typename T>
  Context& Add(std::string name, const T& value) {
    entries_.emplace_back(std::move(name), fmt::format("{}", value));
    return *this;
  }
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// One benchmark binary, as the shared main runs it: the flags parsed (benchmark::Initialize; an
// unrecognized one exits 1), the signal cleanup installed (bench_util.h), then `start`, the
// `context` recorded, `register_benchmarks`, `before_runs` unless the command line only lists
// the benchmarks, the selected benchmarks run, benchmark::Shutdown, `finish`, and the temporary
// files removed. The process exits 0, or 1 when `finish` returns false. Optional hooks may be
// null.
struct Program {
  void (*start)() = nullptr;  // e.g. this process's temporary directory
  Context (*context)() = nullptr;
  void (*register_benchmarks)() = nullptr;
  void (*before_runs)() = nullptr;  // not called when only listing the benchmarks
  bool (*finish)() = nullptr;       // closes what the runs left open; false fails the process
};

// Defined once by each benchmark binary.
Program ThisProgram();

// Whether the command line (or BENCHMARK_LIST_TESTS) asks only for the benchmarks' names, read
// as Google Benchmark reads a bool flag: bare, or =value, where "0", "f", "n", "false", "no" and
// "off" (any case) are false and anything else true.
bool ListsTests(int argc, char** argv);

}  // namespace pagestore::bench
