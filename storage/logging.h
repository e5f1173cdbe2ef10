// The logging hook: where pagestore's messages go (recovery summaries, a damaged log tail
// dropped, a background checkpoint failing, a corrupt page met). An engine installs its own sink
// to route them into its log; the default writes one line per message to stderr:
//   pagestore: warning: <message>
//
//   pagestore::SetLogSink([](pagestore::LogLevel level, std::string_view message) {
//     my_engine_log(level, message);
//   });
//
// Messages are complete sentences naming the file, page or LSN concerned; no message is needed
// for correctness (every error also reaches the caller as an absl::Status).
// Thread safety: SetLogSink and Log may be called from any thread; the sink is called from the
// thread that logs (possibly a store's background checkpointer), one message at a time, and must
// not call back into pagestore. Ownership: the sink is copied and kept until replaced.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>
#include <utility>

namespace pagestore {

enum class LogLevel { kInfo, kWarning, kError };
std::string_view LogLevelName(LogLevel level);  // "info", "warning", "error"

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Installs `sink` for the whole process; an empty sink restores the default (stderr). Returns
// the sink it replaces (empty for the default), so a caller can restore it.
LogSink SetLogSink(LogSink sink);

void Log(LogLevel level, std::string_view message);

template <typename... Args>
void Logf(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  Log(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace pagestore
