// Pieces every pagestore benchmark binary shares: numeric settings from the environment,
// skipping a benchmark on an error status, and registration with the min and max statistics
// that scripts/bench_report.py reads beside the median.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"

namespace pagestore::bench {

// The unsigned integer in environment variable `name`, or `fallback` when unset or empty; exits
// with status 2 naming the variable when it is set to anything else.
inline std::uint64_t EnvUint(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0') {
    std::fprintf(stderr, "%s=%s is not a number\n", name, v);
    std::exit(2);
  }
  return n;
}

inline void Fail(benchmark::State& state, const absl::Status& s) {
  state.SkipWithError(s.ToString().c_str());
}

using Setup = void (*)(const benchmark::State&);

// Registers `fn` under `name`, run after `setup`, with "min" and "max" aggregates.
inline benchmark::internal::Benchmark* Register(const char* name, void (*fn)(benchmark::State&),
                                                Setup setup) {
  auto min = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  auto max = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  return benchmark::RegisterBenchmark(name, fn)
      ->Setup(setup)
      ->ComputeStatistics("min", +min)
      ->ComputeStatistics("max", +max);
}

}  // namespace pagestore::bench
