// SOLUTION reap_every_child (the exercise is exercises/multiprocessing/reap_every_child.cpp).
//
// Why it works: waitpid(pid, &status, 0) blocks until that child has ended and then reaps it: the
// kernel hands over its exit status and forgets the process, so no zombie remains. Waiting in child
// order is fine even though the children finish in the opposite order: a child that ends early stays
// a zombie, holding its exit code, until the parent's loop reaches it. A signal can interrupt the
// wait (EINTR); then we simply wait again.
//
// A tempting wrong fix the test rejects: waiting for "any child" with wait(&status) and storing the
// codes in the order the children finish. Every child is reaped, but the codes come back in
// completion order, {13, 12, 11, 10}, not child order. Another: signal(SIGCHLD, SIG_IGN), which makes
// the kernel reap children at once: no zombies, but also no exit codes left to collect.

#include <fmt/ranges.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"

std::vector<int> run_children(int count) {
  std::vector<pid_t> pids;
  for (int i = 0; i < count; ++i) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30 * (count - i)));
      ::_exit(10 + i);
    }
    pids.push_back(pid);
  }

  std::vector<int> exit_codes(static_cast<std::size_t>(count), -1);
  for (int i = 0; i < count; ++i) {
    int status = 0;
    pid_t done = 0;
    do {
      done = ::waitpid(pids[static_cast<std::size_t>(i)], &status, 0);  // 0: wait until this child ends
    } while (done < 0 && errno == EINTR);
    if (done == pids[static_cast<std::size_t>(i)] && WIFEXITED(status))
      exit_codes[static_cast<std::size_t>(i)] = WEXITSTATUS(status);
  }
  return exit_codes;
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int children = 4;
  pg::Flags flags("reap_every_child", "Solution: collect every child's exit code; leave no zombie.");
  flags.add("--children", children, "child processes to fork", 1, 50);
  if (auto status = flags.parse(argc, argv)) return *status;
  const auto codes = run_children(children);
  fmt::print("exit codes: {}\n", codes);
  int status = 0;
  const bool none_left = ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
  fmt::print("{}\n", none_left ? "no child left behind" : "children were left behind, unreaped");
  return none_left ? 0 : 1;
}
#endif
