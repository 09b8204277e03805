// SOLUTION reap_every_child (the exercise is exercises/multiprocessing/reap_every_child.cpp).
//
// Why it works: waiting for a child and reaping it are one call. waitpid(pid, &status, 0) blocks until
// that child has ended and then reaps it: the kernel hands over its exit status and forgets the
// process, so no zombie remains. Waiting in child order is fine even though the children finish in the
// opposite order: a child that ends early stays a zombie, holding its exit code, until the parent's
// loop reaches it. And the parent returns as soon as the last child has ended, however long the
// children work: a fixed sleep before asking is too short for slow children and wastes time with fast
// ones.
//
// This solution goes two steps further than the plain waitpid(pid, &status, 0) loop, as the lessons do:
// - Owners: each child is held by an OwnedChild (common/process_owners.hpp, taught in process_basics).
//   If fork() fails for child 3 (too many processes), the exception leaves run_children and the
//   owners kill and reap children 0-2; a vector of bare pids would leave them running, then zombies.
// - A bound on every wait: a plain waitpid(pid, &status, 0) waits for ever, and one stuck child would
//   hang the parent. wait_for(left) sleeps until the child ends or the shared deadline passes; a child
//   still running then is killed (SIGKILL), reaped, and its slot keeps -1.
// And each child first keeps only stdin, stdout and stderr (keep_only_descriptors): it inherited
// every descriptor the parent had open, and would otherwise hold them open for as long as it runs.
//
// Tempting wrong fixes the test rejects: waiting for "any child" with wait(&status) and storing the
// codes in the order the children finish (every child is reaped, but the codes come back in
// completion order, {13, 12, 11, 10}); signal(SIGCHLD, SIG_IGN), which makes the kernel reap children
// at once (no zombies, but no exit codes left to collect either); and sleeping a fixed time before
// asking each child once with WNOHANG (the test varies the children's work).

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"

std::vector<int> run_children(const std::vector<std::chrono::milliseconds>& work,
                              std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const int count = static_cast<int>(work.size());
  std::vector<OwnedChild> children;
  for (int i = 0; i < count; ++i) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      keep_only_descriptors({});
      std::this_thread::sleep_for(work[static_cast<std::size_t>(i)]);
      ::_exit(10 + i);
    }
    children.emplace_back(pid);
  }

  std::vector<int> exit_codes(static_cast<std::size_t>(count), -1);  // -1: not collected
  const auto deadline = pg::Clock::now() + limit;
  for (int i = 0; i < count; ++i) {
    OwnedChild& child = children[static_cast<std::size_t>(i)];
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - pg::Clock::now());
    const std::optional<int> status = child.wait_for(std::max(left, std::chrono::milliseconds(0)));
    if (!status) {
      child.kill_and_reap();  // still running at the deadline: its code stays -1
    } else if (WIFEXITED(*status)) {
      exit_codes[static_cast<std::size_t>(i)] = WEXITSTATUS(*status);
    }
  }
  return exit_codes;
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int children = 4;
  pg::Flags flags("reap_every_child", "Solution: collect every child's exit code; leave no zombie.");
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
