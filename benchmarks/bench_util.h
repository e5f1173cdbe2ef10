// Pieces every pagestore benchmark binary shares: numeric settings from the environment, the
// temporary files and directory deleted at exit or on a fatal signal, dying on a setup failure,
// the canonical page payload, items and bytes of page-sized operations, skipping a benchmark on
// an error status, and registration with the min and max statistics that scripts/bench_report.py
// reads beside the median. The shared main() and the results' context: bench_main.h.
#pragma once

#include <errno.h>  // program_invocation_short_name
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "storage/page.h"

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

// A positive number from the environment, or `fallback` when unset.
inline double EnvDouble(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || d <= 0) {
    std::fprintf(stderr, "%s=%s is not a positive number\n", name, v);
    std::exit(2);
  }
  return d;
}

// Temporary files to delete at exit or on SIGINT/SIGTERM/SIGHUP, in fixed slots so that the
// signal handler only calls unlink (async-signal-safe).
enum TempSlot { kBenchFileSlot = 0, kLoadFileSlot = 1, kTempSlots = 2 };
inline char g_temp_paths[kTempSlots][4096];

inline void SetTempPath(TempSlot slot, const std::filesystem::path& p) {
  std::snprintf(g_temp_paths[slot], sizeof(g_temp_paths[slot]), "%s", p.c_str());
}
inline void ClearTempPath(TempSlot slot) { g_temp_paths[slot][0] = '\0'; }

// A temporary directory deleted with everything in it, for files the code under test names
// itself (a store's page file and log directory). Removed by `rm -rf` in a child process: fork,
// execve and waitpid are async-signal-safe, a directory walk is not.
inline char g_temp_dir[4096];
inline void SetTempDir(const std::filesystem::path& p) {
  std::snprintf(g_temp_dir, sizeof(g_temp_dir), "%s", p.c_str());
}
inline void ClearTempDir() { g_temp_dir[0] = '\0'; }
inline void RemoveTempDir() {
  if (g_temp_dir[0] == '\0') return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    char rm[] = "rm", rf[] = "-rf", end[] = "--";
    char* argv[] = {rm, rf, end, g_temp_dir, nullptr};
    char* envp[] = {nullptr};
    ::execve("/bin/rm", argv, envp);
    ::_exit(127);
  }
  if (pid > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

inline void UnlinkTempPaths() {
  for (char* p : g_temp_paths) {
    if (p[0] != '\0') ::unlink(p);
  }
  RemoveTempDir();
}
inline void OnFatalSignal(int sig) {
  UnlinkTempPaths();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
inline void InstallSignalCleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, OnFatalSignal);
}

// Setup failures leave nothing to measure: say why, remove the temporary files and stop.
[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::fflush(stderr);
  UnlinkTempPaths();
  std::_Exit(1);
}

// A fresh directory for this process's files (a leftover of an earlier process with the same
// pid is removed first), deleted by RemoveTempRoot at exit or by the signal handler.
inline void MakeTempRoot(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  if (!std::filesystem::create_directories(root, ec) || ec) {
    Die(root.string() + ": cannot create: " + ec.message());
  }
  SetTempDir(root);
}
inline void RemoveTempRoot(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  ClearTempDir();
}

inline void Check(const absl::Status& s, std::string_view what) {
  if (!s.ok()) Die(fmt::format("{}: {}", what, s.ToString()));
}

// The payload every bench file page carries: a kRaw page, LSN 0, a fixed byte pattern. Unsealed.
inline void FillCanonicalPayload(PageSpan page) {
  InitPage(page, PageType::kRaw);
  for (std::size_t i = kPageHeaderSize; i < kPageSize; ++i) {
    page[i] = static_cast<std::byte>((i * 2654435761u) >> 24);
  }
}

// Items and bytes processed for a benchmark that reads or writes `pages_per_iteration` whole pages
// per iteration.
inline void ReportPages(benchmark::State& state, std::int64_t pages_per_iteration = 1) {
  state.SetItemsProcessed(state.iterations() * pages_per_iteration);
  state.SetBytesProcessed(state.iterations() * pages_per_iteration *
                          static_cast<std::int64_t>(kPageSize));
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
