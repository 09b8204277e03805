// SOLUTION results_from_children (the exercise is exercises/multiprocessing/results_from_children.cpp).
//
// Why it works: a pipe made before the fork belongs to both processes: what the child writes into
// its end, the parent reads from the other. Each child gets its own pipe, so each sum arrives in its
// own slot. The parent closes each pipe's write end right after forking (only the child writes), and
// reads with a loop, because read() may return fewer bytes than asked. It reads before waitpid: a
// child blocked on a full pipe would otherwise never exit (not with one long, but with big results).
//
// A tempting wrong fix the test rejects: moving chunk_sums into memory shared with mmap but keeping
// it a std::vector. The vector object would be shared, but its elements live on the heap, which each
// process still has a private copy of: the parent reads zeros. (A plain array of long in MAP_SHARED
// memory does work; a pipe is what the lesson recommends, since it also tells you when a child died
// before answering: read() returns 0.)

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"

// The child's work: the sum of i * i for i in [first, last].
long sum_of_squares(long first, long last) {
  long sum = 0;
  for (long i = first; i <= last; ++i) sum += i * i;
  return sum;
}

// Reads exactly `size` bytes; false if the writer closed the pipe first (the child died).
bool read_exactly(int fd, void* into, std::size_t size) {
  auto* bytes = static_cast<char*>(into);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

long sum_squares_in_children(long n, int children) {
  std::vector<pid_t> pids;
  std::vector<int> result_pipes;  // the read end of each child's pipe
  for (int c = 0; c < children; ++c) {
    const long first = n * c / children + 1;
    const long last = n * (c + 1) / children;
    int fds[2];
    if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      const long sum = sum_of_squares(first, last);
      const bool sent = ::write(fds[1], &sum, sizeof sum) == static_cast<ssize_t>(sizeof sum);  // atomic: < PIPE_BUF
      ::_exit(sent ? 0 : 1);
    }
    ::close(fds[1]);  // only the child writes
    pids.push_back(pid);
    result_pipes.push_back(fds[0]);
  }
  long total = 0;
  bool every_child_answered = true;
  for (int fd : result_pipes) {
    long sum = 0;
    every_child_answered = read_exactly(fd, &sum, sizeof sum) && every_child_answered;
    total += sum;
    ::close(fd);
  }
  for (pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (!every_child_answered) throw std::runtime_error("a child ended without sending its result");
  return total;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int n = 1'000'000;
  int children = 4;
  pg::Flags flags("results_from_children", "Solution: children compute parts of a sum and send them back.");
  flags.add("--n", n, "add the squares of 1..n", 1, 2'000'000);
  flags.add("--children", children, "child processes", 1, 64);
  if (auto status = flags.parse(argc, argv)) return *status;
  const long total = sum_squares_in_children(n, children);
  const long expected = sum_of_squares(1, n);
  fmt::print("children's total {}, computed here {}: {}\n", total, expected, total == expected ? "equal" : "different");
  return total == expected ? 0 : 1;
}
#endif
