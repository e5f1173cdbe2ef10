#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

// One real-process crash: fork `child`, which writes the index (u32) of each acknowledged commit
// to the file descriptor it is given and must _exit; SIGKILL it once it has acknowledged
// `target` commits and a random moment (up to 3 ms) has passed; collect every acknowledgement it
// managed to write.
struct KillRun {
  std::vector<std::uint32_t> acks;
  bool killed = false;  // it died of the signal, not by finishing its workload first
  int exit_code = 0;    // when it exited: non-zero is a failure in the child
};
inline KillRun ForkAndKill(const std::function<void(int fd)>& child, std::uint32_t target,
                           std::mt19937_64& rng) {
  KillRun run;
  int fds[2];
  if (::pipe(fds) != 0) {
    run.exit_code = -1;
    return run;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    _exit(0);
  }
  ::close(fds[1]);
  std::uint32_t v;
  while (run.acks.size() < target && ::read(fds[0], &v, sizeof v) == sizeof v) {
    run.acks.push_back(v);
  }
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
  if (pid > 0) ::kill(pid, SIGKILL);
  int status = 0;
  if (pid > 0) ::waitpid(pid, &status, 0);
  while (::read(fds[0], &v, sizeof v) == sizeof v) run.acks.push_back(v);
  ::close(fds[0]);
  run.killed = pid > 0 && WIFSIGNALED(status);
  run.exit_code = pid < 0 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 0);
  return run;
}

}  // namespace pagestore::testing
