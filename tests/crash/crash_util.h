#pragma once

#include <cstdlib>
#include <string>

namespace pagestore::testing {

inline bool CrashFullMode() {
  const char* v = std::getenv("PAGESTORE_CRASH_FULL");
  return v != nullptr && std::string(v) == "1";
}

// `bounded` in CI, `full` with PAGESTORE_CRASH_FULL=1; PAGESTORE_CRASH_RUNS overrides both.
inline std::size_t CrashRuns(std::size_t bounded, std::size_t full) {
  if (const char* v = std::getenv("PAGESTORE_CRASH_RUNS")) return std::stoul(v);
  return CrashFullMode() ? full : bounded;
}

}  // namespace pagestore::testing
