#include "tools/command.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <mutex>
#include <utility>

#include "storage/logging.h"

namespace pagestore::tools {
namespace {

// The held library messages. The library calls the sink one message at a time, possibly from a
// store's checkpointer thread; main() reads the buffer after the command.
struct HeldLog {
  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> messages;  // guarded by mu
};
HeldLog& Held() {
  static HeldLog held;
  return held;
}

std::string OneLine(std::string_view message) {
  std::string out(message);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

void HoldLibraryLog() {
  SetLogSink([](LogLevel level, std::string_view message) {
    HeldLog& h = Held();
    std::lock_guard lock(h.mu);
    h.messages.emplace_back(level, OneLine(message));
  });
}

std::vector<std::string> TakeLibraryLog() {
  HeldLog& h = Held();
  std::vector<std::pair<LogLevel, std::string>> taken;
  {
    std::lock_guard lock(h.mu);
    taken.swap(h.messages);
  }
  std::vector<std::string> out;
  for (const auto& [level, message] : taken) {
    out.push_back(fmt::format("{}: {}", LogLevelName(level), message));
  }
  return out;
}

void PrintLibraryLog() {
  for (const std::string& line : TakeLibraryLog()) fmt::print(stderr, "pagestore: {}\n", line);
}

int CannotRun(std::string_view command, const absl::Status& status) {
  const std::vector<std::string> logged = TakeLibraryLog();
  std::string line = fmt::format("pagestore {}: {}", command, OneLine(Msg(status)));
  if (!logged.empty()) line += fmt::format(" [logged before: {}]", fmt::join(logged, "; "));
  fmt::print(stderr, "{}\n", line);
  return kExitCannotRun;
}

absl::StatusOr<std::uint64_t> ParseUnsigned(std::string_view what, std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return absl::InvalidArgumentError(
        fmt::format("{} must be a non-negative decimal integer, not \"{}\"", what, text));
  }
  if (ec == std::errc::result_out_of_range) {
    return absl::OutOfRangeError(fmt::format("{} {}: larger than 2^64 - 1", what, text));
  }
  return v;
}

}  // namespace pagestore::tools
