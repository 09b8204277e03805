// Helpers shared by the multiprocessing tests (kept here, not in tests/support.hpp, because only
// this folder forks).
#pragma once

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>

#include <sys/wait.h>

namespace mp_test {

// True when this process has no child at all, running or zombie: waitpid(-1) fails with ECHILD.
// Every test ends with this check, so a test that forgets to reap a child fails (and the zombie it
// left is reaped here, so it cannot spoil the next test).
inline bool no_children_left() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  return pid == -1 && errno == ECHILD;
}

// Timing claims need free cores: say why we skip, in the form ctest recognises (SKIP_REGULAR_EXPRESSION).
inline bool skip_without_two_cores(unsigned cores) {
  if (cores >= 2) return false;
  std::printf("SKIPPED: a speedup needs at least 2 cores, this machine has %u\n", cores);
  return true;
}

}  // namespace mp_test
