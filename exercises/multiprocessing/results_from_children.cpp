// clang-format off
// EXERCISE results_from_children: bring each child process's result back to the parent.
//
// Follows multiprocessing/sharing_between_processes.cpp (globals are copied, not shared; return
// results over a pipe) and multiprocessing/process_basics.cpp (fork, waitpid).
//
// sum_squares_in_children() splits the numbers 1..n into `children` chunks and forks one child per
// chunk; each child adds up the squares of its chunk. As shipped, each child stores its sum in a
// global vector, and the parent reads that vector: but fork gave each child its own copy of the
// parent's memory, so the parent's vector is still all zeros. (Python's multiprocessing hides this
// by pickling return values back for you.)
//
// Your goal: sum_squares_in_children() returns the right total, with every chunk computed in a child
// process (not in the parent), the children running at the same time, and every child reaped.
//
// Check:  cmake --build build/exercises --target test_results_from_children && build/exercises/exercises/test_results_from_children
// Run:    build/exercises/exercises/results_from_children
//
// Hint 1: after fork, parent and child share nothing they write; the child has to *send* its result.
// Hint 2: a pipe (pipe(fds): fds[1] to write, fds[0] to read) made before the fork is shared by both
//         processes: the child write()s its sum, the parent read()s it. One pipe per child keeps the
//         results apart.
// Hint 3: before the fork: int fds[2]; ::pipe(fds). The child first keeps only what it needs, its
//         write end: int keep[] = {fds[1]}; keep_only_descriptors(keep); (the end is now keep[0]),
//         then ::write(keep[0], &sum, sizeof sum), then _exit. In the parent: close fds[1], and later
//         ::read(fds[0], &sum, sizeof sum) (loop until all sizeof sum bytes are in), close fds[0],
//         then waitpid.
// Hint 4: the test also makes pipe() fail for a later child (too many open files). The children
//         forked before it must not be left running, and their pipes not left open: hold each pipe
//         end in an OwnedFd and each child in an OwnedChild (common/process_owners.hpp, see
//         process_basics), whose destructors close, kill and reap when the exception leaves.
// clang-format on

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"

// The child's work: the sum of i * i for i in [first, last].
long sum_of_squares(long first, long last) {
  long sum = 0;
  for (long i = first; i <= last; ++i) sum += i * i;
  return sum;
}

std::vector<long> chunk_sums;  // one slot per child... in each process's own copy

long sum_squares_in_children(long n, int children) {
  chunk_sums.assign(static_cast<std::size_t>(children), 0);
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    const long first = n * c / children + 1;
    const long last = n * (c + 1) / children;
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      // A forked child inherits every descriptor the parent has open: it keeps stdin, stdout and
      // stderr, plus the descriptors listed here (none yet), and closes the rest.
      keep_only_descriptors({});
      chunk_sums[static_cast<std::size_t>(c)] = sum_of_squares(first, last);  // the child's copy only
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  long total = 0;
  for (long sum : chunk_sums) total += sum;  // the parent's copy: still zeros
  return total;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int n = 1'000'000;
  int children = 4;
  pg::Flags flags("results_from_children", "Exercise: children compute parts of a sum; bring them back.");
  flags.add("--n", n, "add the squares of 1..n", 1, 2'000'000);
  flags.add("--children", children, "child processes", 1, 64);
  if (auto status = flags.parse(argc, argv)) return *status;
  const long total = sum_squares_in_children(n, children);
  const long expected = sum_of_squares(1, n);
  fmt::print("children's total {}, computed here {}: {}\n", total, expected, total == expected ? "equal" : "different");
  return total == expected ? 0 : 1;
}
#endif
