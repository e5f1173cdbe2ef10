#include "storage/logging.h"

#include <cstdio>
#include <mutex>
#include <string>

namespace pagestore {
namespace {

std::mutex& SinkMutex() {
  static std::mutex mu;
  return mu;
}
LogSink& Sink() {
  static LogSink sink;
  return sink;
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
  std::lock_guard lock(SinkMutex());
  return std::exchange(Sink(), std::move(sink));
}

void Log(LogLevel level, std::string_view message) {
  // One message at a time: a sink need not be thread-safe, and default lines never interleave.
  std::lock_guard lock(SinkMutex());
  if (Sink()) {
    Sink()(level, message);
    return;
  }
  fmt::print(stderr, "pagestore: {}: {}\n", LogLevelName(level), message);
}

}  // namespace pagestore
