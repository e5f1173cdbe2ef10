#include "storage/logging.h"

#include <cstdio>
#include <string>

#include "storage/mutex.h"

namespace pagestore {
namespace {

// One message at a time: a sink need not be thread-safe, and default lines never interleave.
// A leaf lock: nothing is taken under it but what the sink takes.
struct SinkState {
  ExclusiveMutex mu;
  LogSink sink ABSL_GUARDED_BY(mu);
};
SinkState& State() {
  static SinkState state;
  return state;
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

LogSink SetLogSink(LogSink sink) {
  SinkState& state = State();
  MutexLock lock(&state.mu);
  return std::exchange(state.sink, std::move(sink));
}

void Log(LogLevel level, std::string_view message) {
  SinkState& state = State();
  MutexLock lock(&state.mu);
  if (state.sink) {
    state.sink(level, message);
    return;
  }
  fmt::print(stderr, "pagestore: {}: {}\n", LogLevelName(level), message);
}

}  // namespace pagestore
