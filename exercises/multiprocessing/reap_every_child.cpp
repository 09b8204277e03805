// clang-format off
// EXERCISE reap_every_child: wait for every child process and bring back each one's exit code.
//
// Follows multiprocessing/process_basics.cpp (fork + waitpid, exit codes, zombies and reaping).
//
// run_children(work) forks one child per entry of `work`. Child i works for work[i] and exits with
// code 10 + i; with the default work the last child finishes first, the first child last. The parent
// should return every child's exit code, in child order: {10, 11, 12, ...}, as soon as the last
// child has ended. As shipped it asks each child "are you done?" only once, without waiting
// (WNOHANG), gets "not yet" from every one, and returns -1s. Worse, the children it never collected
// become zombies: finished processes whose exit code the kernel keeps until the parent collects it
// with waitpid (Python's Process.join() does this for you).
//
// Your goal: run_children() returns each child's exit code in child order, soon after the last child
// ends (the test varies how long the children work, so no fixed sleep will do), and when it returns
// no child is left behind (running or zombie).
//
// Check:  cmake --build build/exercises --target test_reap_every_child && build/exercises/exercises/test_reap_every_child
// Run:    build/exercises/exercises/reap_every_child
//
// Hint 1: WNOHANG means "don't wait": a child that is still working is simply not reported.
// Hint 2: waitpid(pid, &status, 0) blocks until that child ends. Waiting for child 0 first is fine:
//         the children that finish earlier wait as zombies until you reach them.
// Hint 3: drop WNOHANG (pass 0), and keep the loop over pids, so each code lands in its child's slot.
// clang-format on

#include <fmt/ranges.h>  // prints a std::vector as [10, 11, 12]

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
#include "process_owners.hpp"

std::vector<int> run_children(const std::vector<std::chrono::milliseconds>& work) {
  const int count = static_cast<int>(work.size());
  std::vector<pid_t> pids;
  for (int i = 0; i < count; ++i) {
    std::fflush(nullptr);  // or output buffered in the parent would be printed again by the child
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {               // the child: work, then exit with its code
      keep_only_descriptors({});  // keep stdin, stdout and stderr; close what else it inherited
      std::this_thread::sleep_for(work[static_cast<std::size_t>(i)]);
      ::_exit(10 + i);  // _exit: a forked child must never return into the parent's code
    }
    pids.push_back(pid);
  }

  std::vector<int> exit_codes(static_cast<std::size_t>(count), -1);  // -1: not collected
  for (int i = 0; i < count; ++i) {
    int status = 0;
    const pid_t done = ::waitpid(pids[static_cast<std::size_t>(i)], &status, WNOHANG);
    if (done == pids[static_cast<std::size_t>(i)] && WIFEXITED(status))
      exit_codes[static_cast<std::size_t>(i)] = WEXITSTATUS(status);
  }
  return exit_codes;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int children = 4;
  pg::Flags flags("reap_every_child", "Exercise: collect every child's exit code; leave no zombie.");
  flags.add("--children", children, "child processes to fork (child i works 30 x (children - i) ms)", 1, 50);
  if (auto status = flags.parse(argc, argv)) return *status;
  std::vector<std::chrono::milliseconds> work;
  for (int i = 0; i < children; ++i) work.emplace_back(30 * (children - i));
  const auto codes = run_children(work);
  fmt::print("exit codes: {}\n", codes);
  int status = 0;
  const bool none_left = ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
  fmt::print("{}\n", none_left ? "no child left behind" : "children were left behind, unreaped");
  return none_left ? 0 : 1;
}
#endif
